/*
 * nblog.c - the nblog command: read a ring file, show its writer's
 * consoles, run the seed scenario, or log stdin.
 *
 *     nblog dmesg [--follow] [--level LVL] [--since-seq N]
 *                 [--format plain|kmsg|json] [--time rel|iso] FILE
 *     nblog status FILE
 *     nblog demo [--seconds N] [--ring FILE]          (demo.c)
 *     nblog pipe [--ring FILE] [--ring-records N] [--level LVL] [--block]
 *                [--deadline-ms N] [--format FMT] --console SPEC [--console SPEC ...]
 *
 * Why a command: the ring can live in a file (nblog_options_t.ring_path,
 * NBLOG_RING) that outlives the program, and the kernel's dmesg is the
 * model for reading such a buffer after a crash. Everything here reads the
 * file without writing it and without trusting it (the public ring-file
 * reader, nblog_ringfile_*: this file and demo.c use nblog.h alone, a
 * build check sees to it); a bad file ends with a sentence and an exit
 * code (tool.h), never a crash.
 *
 * OUTPUT FORMATS (dmesg)
 *   plain  "[   12.345678] warning #42 tid 1234: text" - seconds since
 *          boot (CLOCK_MONOTONIC) or, with --time iso, UTC wall time
 *          "2026-11-25T02:23:07.123456Z"; the level coloured on a terminal.
 *   kmsg   the library's /dev/kmsg-like console line:
 *          "facility*8+level,seq,usec,-;text", control bytes as \xNN.
 *   json   one object per line: {"seq":N,"level":"warning",
 *          "ts":"ISO 8601 UTC","tid":N,"text":"..."}; text JSON-escaped
 *          (C0 and C1 controls, DEL, U+2028 and U+2029 as \uXXXX), bytes
 *          that are not UTF-8 as U+FFFD, and then, only for such a text,
 *          "text_bytes":[N,...], its exact bytes (as journalctl -o json
 *          gives a field that is not UTF-8).
 * No output holds a byte of a record or a file as it is if a terminal or a
 * line reader would act on it: plain and kmsg escape as the library's
 * consoles do (\xNN, nblog_ringfile_render_line), status escapes console names.
 * A gap (records overwritten before we read them, or never finished by a
 * writer that died) is one line saying exactly "N records overwritten"
 * (json: {"gap":N,"text":"N records overwritten"}).
 *
 * Following: dmesg --follow opens the file NBLOG_RINGFILE_LIVE (the
 * header a private copy, geometry taken once; each batch brings in only
 * head and the counters) and sleeps in nblog_ringfile_wait, on the ring's
 * follow futex word, between batches (no busy polling); SIGINT or
 * SIGTERM end it with status 0. A record a dead writer left unfinished is
 * skipped after 2 s of waiting on it (at once when not following). When a
 * new writer replaced the file (ringfile.c: other sizes), the follower
 * reopens it and goes on from the same seq.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"
#include "tool.h"

#define TEXT_CAP (NBLOG_RECORD_SIZE_MAX + 1)
#define LINE_CAP_PLAIN (NBLOG_RECORD_SIZE_MAX * 4 + 64) /* text escaped */
#define FOLLOW_WAIT_MS 1000 /* longest sleep on the follow futex */
#define PENDING_NAP_NS 10000000L
#define PENDING_GIVE_UP_NAPS 200 /* 2 s on one unfinished record */

static volatile sig_atomic_t stop_requested;

int tool_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nblog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int tool_parse_u64(const char *text, unsigned long long *out)
{
    char *end;
    if (!text || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    *out = strtoull(text, &end, 10);
    return errno || *end ? -1 : 0;
}

/* ---------------------------------------------------------- opening */

static int exit_for_verdict(int verdict)
{
    switch (verdict) {
    case NBLOG_OK:
        return EXIT_OK;
    case NBLOG_ENOTRING:
        return EXIT_NOTRING;
    case NBLOG_EVERSION:
        return EXIT_VERSION;
    case NBLOG_ESHORT:
        return EXIT_TRUNCATED;
    case NBLOG_ECORRUPT:
        return EXIT_CORRUPT;
    }
    return EXIT_NOFILE;
}

static int open_view(const char *path, int live, nblog_ringfile_t **f)
{
    char why[512];
    int verdict = nblog_ringfile_open(
        path, live ? NBLOG_RINGFILE_LIVE : NBLOG_RINGFILE_COPY, f, why, sizeof why);
    if (verdict == NBLOG_OK)
        return EXIT_OK;
    return tool_fail(exit_for_verdict(verdict), "%s: %s", path, why);
}

/* A file cut under a live mapping raises SIGBUS: say so, do not crash. */
static void on_sigbus(int sig)
{
    static const char msg[] = "nblog: ring file was truncated while being read\n";
    (void)sig;
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(EXIT_TRUNCATED);
}

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_sigbus;
    sigaction(SIGBUS, &sa, NULL);
}

/* dmesg --follow ends cleanly on SIGINT/SIGTERM; the other commands keep
 * the default action (Ctrl-C ends a demo at once). */
static void install_stop_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop; /* no SA_RESTART: the futex wait returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ------------------------------------------------------------ dmesg */

enum { FMT_PLAIN, FMT_KMSG, FMT_JSON };

struct dmesg_opts {
    int follow, format, iso, color, max_level;
    unsigned long long since_seq;
    int has_since;
};

static const char *level_color(int level)
{
    return level <= NBLOG_LEVEL_ERR       ? "\033[1;31m"
           : level == NBLOG_LEVEL_WARNING ? "\033[1;33m"
           : level == NBLOG_LEVEL_NOTICE  ? "\033[1m"
                                          : "";
}

/* UTC wall time of a record as ISO 8601 with microseconds. */
static void iso_time(char *out, size_t cap, int64_t wall)
{
    if (wall == INT64_MIN || wall == INT64_MAX) {
        snprintf(out, cap, "invalid");
        return;
    }
    time_t sec = (time_t)(wall / 1000000000);
    long usec = (long)(wall % 1000000000) / 1000;
    if (usec < 0) {
        sec--;
        usec += 1000000;
    }
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) {
        snprintf(out, cap, "invalid");
        return;
    }
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%06ldZ", usec);
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                               : s[0] >= 0xe0 && s[0] <= 0xef   ? 3
                               : s[0] >= 0xf0 && s[0] <= 0xf4   ? 4
                                                                : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* The second byte's narrower range for some leads: no overlong forms
     * (E0, F0), no surrogates (ED), nothing past U+10FFFF (F4). */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

/* A JSON string of text: valid UTF-8 as it is, but '"', '\\', the C0 and C1
 * controls, DEL and U+2028/U+2029 as JSON escapes (nothing in it acts on a
 * terminal or ends a line); each byte that is not UTF-8 as U+FFFD.
 * Returns how many bytes were replaced (0: the string is the text). */
static size_t json_string(FILE *out, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t replaced = 0;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        unsigned char ch = s[i];
        size_t n = utf8_len(s + i, len - i);
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", out);
        else if (ch == '\t')
            fputs("\\t", out);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\u%04x", ch);
        else if (n == 0)
            fputs("\\ufffd", out), replaced++;
        else if (n == 2 && ch == 0xc2 && s[i + 1] < 0xa0) /* C1 control */
            fprintf(out, "\\u%04x", s[i + 1]);
        else if (n == 3 && ch == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8)
            fprintf(out, "\\u%04x", 0x2000 + s[i + 2] - 0x80); /* U+2028, U+2029 */
        else
            fwrite(s + i, 1, n, out);
        i += n ? n : 1;
    }
    fputc('"', out);
    return replaced;
}

/* The bytes of text as a JSON array of numbers 0..255 (as journalctl -o
 * json gives a field that is not UTF-8): what "text" could not hold. */
static void json_bytes(FILE *out, const char *text, size_t len)
{
    fputc('[', out);
    for (size_t i = 0; i < len; i++)
        fprintf(out, "%s%u", i ? "," : "", (unsigned)(unsigned char)text[i]);
    fputc(']', out);
}

static void print_gap(const struct dmesg_opts *o, uint64_t n)
{
    if (o->format == FMT_JSON)
        printf("{\"gap\":%llu,\"text\":\"%llu records overwritten\"}\n",
               (unsigned long long)n, (unsigned long long)n);
    else
        printf("-- %llu records overwritten --\n", (unsigned long long)n);
}

static void print_plain(const struct dmesg_opts *o, nblog_ringfile_t *f,
                        const nblog_record_t *rec)
{
    char when[64], line[LINE_CAP_PLAIN];
    /* The record as stored: the replay mark belongs to a console's output
     * (a stored record never has it; a forged one is not believed). */
    nblog_record_t shown = *rec;
    shown.flags = 0;
    if (o->iso)
        iso_time(when, sizeof when, rec->wall_ns);
    else
        snprintf(when, sizeof when, "%5llu.%06llu",
                 (unsigned long long)(rec->ts_ns / 1000000000u),
                 (unsigned long long)(rec->ts_ns / 1000u % 1000000u));
    size_t n = nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_PLAIN, &shown);
    printf("[%s] %s%-7s%s #%llu tid %u: %.*s", when,
           o->color ? level_color(rec->level) : "", nblog_level_name(rec->level),
           o->color && *level_color(rec->level) ? "\033[0m" : "",
           (unsigned long long)rec->seq, (unsigned)rec->tid, (int)n, line);
}

static void print_record(const struct dmesg_opts *o, nblog_ringfile_t *f,
                         const nblog_record_t *rec)
{
    if (o->format == FMT_PLAIN) {
        print_plain(o, f, rec);
        return;
    }
    if (o->format == FMT_KMSG) {
        char line[LINE_CAP_PLAIN];
        nblog_record_t shown = *rec;
        shown.flags = 0; /* as stored: see print_plain */
        size_t n = nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_KMSG, &shown);
        fwrite(line, 1, n, stdout);
        return;
    }
    char when[64];
    iso_time(when, sizeof when, rec->wall_ns);
    printf("{\"seq\":%llu,\"level\":\"%s\",\"ts\":\"%s\",\"tid\":%u,\"text\":",
           (unsigned long long)rec->seq, nblog_level_name(rec->level), when,
           (unsigned)rec->tid);
    if (json_string(stdout, rec->text, rec->len)) {
        fputs(",\"text_bytes\":", stdout);
        json_bytes(stdout, rec->text, rec->len);
    }
    fputs("}\n", stdout);
}

/* Prints every record readable now. Returns 1 if it stopped at a record
 * still being written (next_seq < head), 0 if it read up to head. */
static int print_available(const struct dmesg_opts *o, nblog_ringfile_t *f,
                           nblog_reader_t *rd)
{
    static char text[TEXT_CAP];
    nblog_record_t rec;
    for (;;) {
        int rc = nblog_reader_next(rd, &rec, text, sizeof text);
        if (rc == NBLOG_EAGAIN)
            return rd->next_seq < nblog_reader_head(rd);
        if (rec.missed)
            print_gap(o, rec.missed);
        if (rec.level <= o->max_level)
            print_record(o, f, &rec);
    }
}

/* Records their writers never finished: the one at next_seq, and every
 * seq below stale_below that is still unfinished (handed out before we
 * started waiting, so as old as the wait): one gap, and move on. A forged
 * head far past the records then costs one wait, not one per seq. */
static void skip_unfinished(const struct dmesg_opts *o, nblog_reader_t *rd,
                            uint64_t stale_below)
{
    uint64_t n = nblog_reader_skip(rd, stale_below);
    if (n) /* 0: it was finished after all, or lapped: read on */
        print_gap(o, n);
}

#define FOLLOW_REOPEN (-1) /* dmesg_loop: the file was replaced */

/* Prints records until the end (or, following, until SIGINT/SIGTERM or
 * the file being replaced by a new writer: FOLLOW_REOPEN). */
static int dmesg_loop(const struct dmesg_opts *o, nblog_ringfile_t *f,
                      nblog_reader_t *rd)
{
    int naps_on_pending = 0;
    uint64_t wait_head = 0; /* the head when we began waiting on a record */
    while (!stop_requested) {
        nblog_ringfile_wait(f, rd->next_seq, 0); /* the file's head (following) */
        uint64_t before = rd->next_seq;
        int pending = print_available(o, f, rd);
        fflush(stdout);
        if (rd->next_seq != before)
            naps_on_pending = 0;
        if (pending && naps_on_pending == 0)
            wait_head = nblog_reader_head(rd);
        if (pending && (!o->follow || naps_on_pending >= PENDING_GIVE_UP_NAPS)) {
            skip_unfinished(o, rd, o->follow ? wait_head : rd->next_seq + 1);
            naps_on_pending = 0;
            continue;
        }
        if (!o->follow)
            break;
        if (pending) {
            /* Its writer is between reserve and commit, a few ns usually;
             * the futex would not tell us (head already moved). */
            const struct timespec nap = {0, PENDING_NAP_NS};
            nanosleep(&nap, NULL);
            naps_on_pending++;
        } else if (nblog_ringfile_wait(f, rd->next_seq, FOLLOW_WAIT_MS) == NBLOG_ESTALE) {
            return FOLLOW_REOPEN;
        }
    }
    fflush(stdout);
    return ferror(stdout) ? tool_fail(EXIT_FAIL, "writing output failed") : EXIT_OK;
}

static const char dmesg_usage[] =
    "usage: nblog dmesg [OPTIONS] FILE\n"
    "Print the records of an nblog ring file, oldest first (FILE without a '/'\n"
    "is under /dev/shm). The file is only read, and checked before use.\n"
    "\n"
    "  -f, --follow        after the last record, wait for new ones; SIGINT or\n"
    "                      SIGTERM end it (exit 0)\n"
    "  -l, --level LVL     only records at LVL or more severe: emerg, alert, crit,\n"
    "                      err, warning, notice, info, debug, or 0..7\n"
    "  -s, --since-seq N   start at sequence number N\n"
    "  -F, --format FMT    plain (default): \"[seconds.micros] level #seq tid T: text\",\n"
    "                      the level coloured on a terminal unless NO_COLOR is set\n"
    "                      (not empty) or TERM is dumb;\n"
    "                      kmsg: \"prefix,seq,usec,-;text\" as /dev/kmsg;\n"
    "                      json: one object per line (seq, level, ts, tid, text)\n"
    "  -t, --time WHEN     rel (default): seconds since boot; iso: UTC wall clock\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 usage, 3 cannot read FILE, 4 not a ring,\n"
    "5 unknown ring version, 6 truncated ring, 7 corrupt ring. See nblog(1).\n";

static int parse_dmesg(int argc, char **argv, struct dmesg_opts *o, const char **file)
{
    static const struct option longs[] = {
        {"follow", no_argument, NULL, 'f'},   {"level", required_argument, NULL, 'l'},
        {"since-seq", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'F'},
        {"time", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    *o = (struct dmesg_opts){.max_level = NBLOG_LEVEL_DEBUG};
    int c;
    while ((c = getopt_long(argc, argv, "fl:s:F:t:h", longs, NULL)) != -1) {
        switch (c) {
        case 'f': o->follow = 1; break;
        case 'l':
            if ((o->max_level = nblog_level_parse(optarg)) < 0)
                return tool_fail(EXIT_USAGE, "--level %s: not a level", optarg);
            break;
        case 's':
            if (tool_parse_u64(optarg, &o->since_seq) != 0)
                return tool_fail(EXIT_USAGE, "--since-seq %s: not a number", optarg);
            o->has_since = 1;
            break;
        case 'F':
            o->format = !strcmp(optarg, "plain") ? FMT_PLAIN
                        : !strcmp(optarg, "kmsg") ? FMT_KMSG
                        : !strcmp(optarg, "json") ? FMT_JSON
                                                  : -1;
            if (o->format < 0)
                return tool_fail(EXIT_USAGE, "--format %s: plain, kmsg or json", optarg);
            break;
        case 't':
            if (strcmp(optarg, "rel") && strcmp(optarg, "iso"))
                return tool_fail(EXIT_USAGE, "--time %s: rel or iso", optarg);
            o->iso = !strcmp(optarg, "iso");
            break;
        case 'h': return fputs(dmesg_usage, stdout), TOOL_HELP;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return tool_fail(EXIT_USAGE, "dmesg needs exactly one FILE");
    *file = argv[optind];
    /* As the library's consoles decide "auto" (nblog.h, LINE FORMATS):
     * a terminal, NO_COLOR unset or empty, TERM not "dumb". */
    const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");
    o->color = o->format == FMT_PLAIN && isatty(STDOUT_FILENO) &&
               !(no_color && *no_color) && !(term && !strcmp(term, "dumb"));
    return EXIT_OK;
}

/* One pass over the file: from --since-seq (exact: even past the head,
 * which then prints nothing, or waits with --follow), or where the last
 * pass, on a file since replaced, stopped (sequences continue across a
 * replacement; a resume point past the new file's head is not trusted). */
static int dmesg_file(const struct dmesg_opts *o, const char *file,
                      uint64_t *resume_at, int exact)
{
    nblog_ringfile_t *f;
    int rc = open_view(file, o->follow, &f);
    if (rc != EXIT_OK)
        return rc;
    nblog_reader_t rd;
    rc = nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd);
    assert(rc == NBLOG_OK);
    if (*resume_at > rd.next_seq && (exact || *resume_at <= nblog_reader_head(&rd)))
        rd.next_seq = *resume_at;
    rc = dmesg_loop(o, f, &rd);
    *resume_at = rd.next_seq;
    nblog_ringfile_close(f);
    return rc;
}

static int cmd_dmesg(int argc, char **argv)
{
    struct dmesg_opts o;
    const char *file = NULL;
    int rc = parse_dmesg(argc, argv, &o, &file);
    uint64_t resume_at = o.has_since ? o.since_seq : 0;
    for (int pass = 0; rc == EXIT_OK; pass++) {
        rc = dmesg_file(&o, file, &resume_at, pass == 0 && o.has_since);
        if (rc != FOLLOW_REOPEN)
            break;
        fprintf(stderr, "nblog: %s was replaced by a new writer; following it\n", file);
        rc = EXIT_OK;
    }
    return rc;
}

/* ----------------------------------------------------------- status */

static void format_stalled(char *out, size_t cap, uint64_t ns)
{
    if (ns == 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.1fs", (double)ns / 1e9);
}

/* A console name from the file, which anyone who can write it chose: every
 * byte but printable ASCII (and '\\') as \xNN, so no name reaches the
 * terminal as a control (registration accepts only printable ASCII, so a
 * writer's own names show as they are). out holds 4 * 31 + 1 bytes. */
static const char *shown_name(char *out, size_t cap, const char *name)
{
    size_t n = 0;
    for (; *name && n + 5 <= cap; name++) {
        unsigned char ch = (unsigned char)*name;
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", ch);
    }
    out[n] = '\0';
    return out;
}

static void print_status_header(const char *path, const nblog_ringfile_info_t *in)
{
    uint64_t published = in->stats_published_ns;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    printf("ring %s: writer pid %u (%s), head %llu, %llu records of %u bytes, "
           "%llu lost\n",
           path, (unsigned)in->writer_pid, in->writer_running ? "running" : "gone",
           (unsigned long long)in->head, (unsigned long long)in->records,
           (unsigned)in->record_size, (unsigned long long)in->lost);
    if (published && now_ns >= published)
        printf("console stats published %.1f s ago\n",
               (double)(now_ns - published) / 1e9);
}

static const char status_usage[] =
    "usage: nblog status FILE\n"
    "Show who writes an nblog ring file (FILE without a '/' is under /dev/shm):\n"
    "the writer's pid and whether it still runs, the ring's head and size, and\n"
    "one row per console from the stats the writer publishes every 100 ms:\n"
    "next seq, lag (stored, not yet handled), printed, dropped, write errors,\n"
    "stalled for. The file is only read, and checked before use.\n"
    "\n"
    "  -h, --help   print this help and exit\n"
    "\n"
    "Exit status: 0 ok, 2 usage, 3 cannot read FILE, 4 not a ring, 5 unknown ring\n"
    "version, 6 truncated ring, 7 corrupt ring. See nblog(1).\n";

static int cmd_status(int argc, char **argv)
{
    static const struct option longs[] = {{"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1)
        return c == 'h' ? (fputs(status_usage, stdout), TOOL_HELP) : EXIT_USAGE;
    if (optind != argc - 1)
        return tool_fail(EXIT_USAGE, "status needs exactly one FILE");
    argv += optind - 1;
    nblog_ringfile_t *f;
    int rc = open_view(argv[1], 0, &f);
    if (rc != EXIT_OK)
        return rc;
    nblog_ringfile_info_t info;
    nblog_ringfile_info(f, &info);
    print_status_header(argv[1], &info);
    printf("%-20s %10s %8s %10s %10s %12s %11s\n", "CONSOLE", "NEXT SEQ", "LAG",
           "PRINTED", "DROPPED", "WRITE ERRS", "STALLED FOR");
    uint64_t head_now = info.head;
    static nblog_console_stats_t cons[NBLOG_RINGFILE_CONSOLES_MAX];
    int shown = nblog_ringfile_console_stats(f, cons, NBLOG_RINGFILE_CONSOLES_MAX);
    for (int i = 0; i < shown; i++) {
        const nblog_console_stats_t st = cons[i];
        char stalled[32];
        format_stalled(stalled, sizeof stalled, st.stalled_ns);
        uint64_t lag = head_now > st.next_seq ? head_now - st.next_seq : 0;
        char name[sizeof st.name * 4];
        printf("%-20s %10llu %8llu %10llu %10llu %12llu %11s\n",
               shown_name(name, sizeof name, st.name),
               (unsigned long long)st.next_seq, (unsigned long long)lag,
               (unsigned long long)st.printed, (unsigned long long)st.dropped,
               (unsigned long long)st.write_failed, stalled);
    }
    if (shown <= 0)
        printf("(no consoles published)\n");
    nblog_ringfile_close(f);
    return EXIT_OK;
}

/* ------------------------------------------------------------- pipe */

/*
 * PIPE: stdin lines into the ring, out through the consoles.
 *
 * pipe watches each console through nblog_console_stats alone: its next
 * seq, lag, drops and write errors. A console is MOVING while its next seq
 * advances or it has nothing pending, and STUCK once it has made no
 * progress for --deadline-ms with records pending. Progress shows once per
 * write the console finishes (a batch of up to 64 KiB of lines), so the
 * deadline must exceed the time one batch takes to a slow but live output.
 *
 *   reading (default)  stdin is never held back: a console that falls a
 *                      ring behind loses lines, counted as its drops.
 *   reading, --block   before storing a line that would leave a moving
 *                      console more than 3/4 of the ring behind, pipe
 *                      stops reading stdin until it catches up. A stuck
 *                      console is not waited for: it keeps its place,
 *                      what is overwritten before it gets there is counted
 *                      as its drops (it prints "** N messages dropped **"),
 *                      and it is waited for again once it moves.
 *   end of input       pipe waits while any console with lines pending is
 *                      moving, however long that takes; a stuck one is
 *                      given up.
 *   exit status        EXIT_OK if every console got every line (printed,
 *                      or filtered by its level), EXIT_INCOMPLETE if not,
 *                      with a line on stderr naming each console that
 *                      dropped, failed to write or was left behind.
 *   SIGHUP             file consoles reopen their path before their next
 *                      write (logrotate's postrotate); pipe goes on.
 */

#define PIPE_DEADLINE_MS_MAX 3600000ull

struct pipe_opts {
    const char *ring;
    int default_level;
    int block;
    unsigned long long deadline_ms;
    unsigned long long ring_records; /* 0: the library's default */
    int nspecs;
    int from_env;    /* specs[] cut from NBLOG_CONSOLES (env_copy) */
    char **specs;
    char *env_copy;
    const char *format; /* --format: a spec's format= value, for specs without one */
    char *format_copy;  /* the specs with it added */
};

struct pipe_con {
    nblog_console_t *con;
    uint64_t last_seq; /* its next seq when last looked at */
    uint64_t moved_ns; /* when it was last seen moving (or idle) */
    int stuck;         /* no progress for the deadline: not waited for */
};

struct pipe_run {
    const struct pipe_opts *o;
    struct pipe_con *cons;
    int n;
    uint64_t deadline_ns;
    uint64_t lag_limit;          /* --block: most a moving console may lag */
    unsigned long long lines;    /* read from stdin */
    unsigned long long unstored; /* ... that the store refused (counted) */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "<N>text": N sets the level; returns the text after it. */
static const char *line_level(const char *line, int *level)
{
    if (line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>') {
        *level = line[1] - '0';
        return line + 3;
    }
    return line;
}

/* Reads one console's stats into *st and updates its moving/stuck state,
 * saying on stderr when that changes. Returns 0, or -1 if it is gone. */
static int observe(struct pipe_run *pr, struct pipe_con *pc, uint64_t now,
                   nblog_console_stats_t *st)
{
    if (nblog_console_stats(pc->con, st) != NBLOG_OK)
        return -1;
    assert(st->next_seq >= pc->last_seq); /* a console's seq never goes back */
    if (st->next_seq != pc->last_seq || st->lag == 0) {
        if (pc->stuck)
            fprintf(stderr, "nblog pipe: console \"%s\" is moving again\n", st->name);
        pc->last_seq = st->next_seq;
        pc->moved_ns = now;
        pc->stuck = 0;
    } else if (!pc->stuck && now - pc->moved_ns >= pr->deadline_ns) {
        pc->stuck = 1;
        fprintf(stderr,
                "nblog pipe: console \"%s\" made no progress for %llu ms, %llu records "
                "behind: not waiting for it\n",
                st->name, (unsigned long long)((now - pc->moved_ns) / 1000000u),
                (unsigned long long)st->lag);
    }
    return 0;
}

/* Wakes the printers and naps about 1 ms (nblog_flush returns at its
 * timeout while a console lags, at once if none does). */
static void pipe_nap(void)
{
    nblog_flush(1, NULL, 0);
}

/* --block: how many lines may be stored before looking again, so that no
 * moving console falls more than lag_limit records behind. Waits, stdin
 * unread, while a moving console is at that limit. */
static uint64_t room_for_lines(struct pipe_run *pr)
{
    for (;;) {
        uint64_t now = mono_ns(), worst = 0;
        for (int i = 0; i < pr->n; i++) {
            nblog_console_stats_t st;
            if (observe(pr, &pr->cons[i], now, &st) == 0 && !pr->cons[i].stuck &&
                st.lag > worst)
                worst = st.lag;
        }
        if (worst < pr->lag_limit)
            return pr->lag_limit - worst;
        pipe_nap();
    }
}

/* End of input: waits while any console short of target is moving. */
static void pipe_drain(struct pipe_run *pr, uint64_t target)
{
    for (;;) {
        int waiting = 0;
        uint64_t now = mono_ns();
        for (int i = 0; i < pr->n; i++) {
            nblog_console_stats_t st;
            if (observe(pr, &pr->cons[i], now, &st) == 0 && !pr->cons[i].stuck &&
                st.next_seq < target)
                waiting = 1;
        }
        if (!waiting)
            return;
        pipe_nap();
    }
}

/* Whether every console got every line stored before target; a line on
 * stderr for each that did not. Returns EXIT_OK or EXIT_INCOMPLETE. */
static int pipe_verdict(struct pipe_run *pr, uint64_t target)
{
    int rc = EXIT_OK;
    if (pr->unstored) {
        fprintf(stderr, "nblog pipe: %llu of %llu lines could not be stored\n",
                pr->unstored, pr->lines);
        rc = EXIT_INCOMPLETE;
    }
    for (int i = 0; i < pr->n; i++) {
        nblog_console_stats_t st;
        if (nblog_console_stats(pr->cons[i].con, &st) != NBLOG_OK)
            continue;
        uint64_t behind = target > st.next_seq ? target - st.next_seq : 0;
        if (!behind && !st.dropped && !st.write_failed)
            continue;
        char why[64] = "";
        if (behind)
            snprintf(why, sizeof why, " (no progress for %llu ms)", pr->o->deadline_ms);
        fprintf(stderr,
                "nblog pipe: console \"%s\" did not get every line: %llu records not "
                "written%s, %llu dropped%s, %llu write errors%s%s\n",
                st.name, (unsigned long long)behind, why, (unsigned long long)st.dropped,
                st.dropped && !pr->o->block ? " (--block waits for a console that moves)" : "",
                (unsigned long long)st.write_failed, st.last_error ? ", last: " : "",
                st.last_error ? strerror(-st.last_error) : "");
        rc = EXIT_INCOMPLETE;
        /* Let it go now, or nblog_shutdown's flush waits a second for it
         * (it still waits up to a second for a printer thread whose write
         * never returns, e.g. a file console on a FIFO nobody reads). */
        nblog_console_unregister(pr->cons[i].con);
    }
    return rc;
}

/* Stores one stdin line, byte for byte: a line holding NUL bytes is not
 * cut at its first NUL (outputs escape them as \x00), and '%' is an
 * ordinary byte. Returns what the logging call did (negative ELOST or
 * ENOTREADY: not stored, counted). */
static int store_line(int level, const char *text, size_t len)
{
    return nblog_write(level, text, len);
}

/* Reads stdin to its end, one record per line. Returns EXIT_OK, or
 * EXIT_FAIL if reading failed. */
static int pipe_lines(struct pipe_run *pr)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t room = 0; /* --block: lines to store before looking again */
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (pr->o->block && room == 0)
            room = room_for_lines(pr);
        room -= room > 0;
        int level = pr->o->default_level;
        const char *text = line_level(line, &level);
        int rc = store_line(level, text, (size_t)(len - (text - line)));
        pr->lines++;
        if (rc == NBLOG_ELOST || rc == NBLOG_ENOTREADY)
            pr->unstored++;
    }
    int failed = ferror(stdin) ? errno : 0;
    free(line);
    return failed ? tool_fail(EXIT_FAIL, "reading standard input: %s", strerror(failed))
                  : EXIT_OK;
}

/* Without --console: the ';'-separated specs of NBLOG_CONSOLES, each
 * registered here (not by nblog_consoles_from_env) so pipe holds its
 * handle. */
static int env_specs(struct pipe_opts *o)
{
    const char *env = getenv("NBLOG_CONSOLES");
    if (!env || !*env || !(o->env_copy = strdup(env)))
        return tool_fail(env && *env ? EXIT_FAIL : EXIT_USAGE,
                         env && *env ? "out of memory"
                                     : "pipe needs --console SPEC (or NBLOG_CONSOLES)");
    size_t most = 1;
    for (const char *p = env; *p; p++)
        most += *p == ';';
    char **specs = realloc(o->specs, most * sizeof *specs);
    if (!specs)
        return tool_fail(EXIT_FAIL, "out of memory");
    o->specs = specs;
    char *save = NULL;
    for (char *s = strtok_r(o->env_copy, ";", &save); s; s = strtok_r(NULL, ";", &save))
        o->specs[o->nspecs++] = s;
    o->from_env = 1;
    return o->nspecs ? EXIT_OK : tool_fail(EXIT_USAGE, "NBLOG_CONSOLES names no console");
}

static const char pipe_usage[] =
    "usage: nblog pipe [OPTIONS] [--console SPEC ...]\n"
    "Store each line of standard input as a record (a leading \"<N>\", N 0..7,\n"
    "sets its level) and print it through every console. At end of input, wait\n"
    "while every console with lines pending makes progress; SIGHUP reopens file\n"
    "consoles (logrotate), SIGINT and SIGTERM end pipe at once.\n"
    "\n"
    "  -c, --console SPEC    a console to print to (repeatable); without any, the\n"
    "                        ';'-separated specs in NBLOG_CONSOLES\n"
    "  -r, --ring FILE       keep the ring in FILE (without a '/': under /dev/shm),\n"
    "                        for nblog dmesg and nblog status\n"
    "  -n, --ring-records N  ring size in records, 16..16777216 (default 8192)\n"
    "  -l, --level LVL       level of lines without a \"<N>\" prefix (default info)\n"
    "  -b, --block           stop reading stdin while a console that is making\n"
    "                        progress would otherwise lose lines (never for a\n"
    "                        stuck one)\n"
    "  -d, --deadline-ms N   a console that makes no progress this long with lines\n"
    "                        pending is stuck: not waited for (default 2000,\n"
    "                        0..3600000)\n"
    "  -f, --format FMT      the line format of every console whose SPEC has no\n"
    "                        format=: plain, kmsg, human, json, pattern:PATTERN\n"
    "  -h, --help            print this help and exit\n"
    "\n"
    "SPEC: stderr, fd:N, file:PATH, syslog+udp://HOST:PORT, syslog+tcp://HOST:PORT,\n"
    "unix:PATH or journald[:PATH], then options: ,level=LVL ,format=FMT\n"
    ",color=auto|always|never ,time=utc|local ,show=program+pid+tid\n"
    ",mode=threaded|direct ,name=NAME ,stall_ms=N; syslog, unix and journald also\n"
    ",app=NAME ,facility=F ,sd=on|off ,rfc3164=on|off ,msgid=ID ,hostname=HOST.\n"
    "\n"
    "Exit status: 0 every console got every line, 1 failure (stdin unreadable,\n"
    "ring refused), 2 usage or bad SPEC, 8 a console dropped lines, failed to\n"
    "write them or was stuck (each named on stderr). See nblog(1).\n";

/* --format F: every spec that does not choose its format gets
 * ",format=F" (F as a spec's format= value: plain, kmsg, human, json,
 * pattern:PATTERN; checked when the console registers). A spec's options
 * hold no ',' but as separators (a file path may not contain one), so
 * ",format=" in it is the option. */
static int pipe_format(struct pipe_opts *o)
{
    static const char key[] = ",format=";
    size_t total = 0;
    for (int i = 0; i < o->nspecs; i++)
        total += strlen(o->specs[i]) + sizeof key + strlen(o->format);
    char *p = o->format_copy = malloc(total);
    if (!p)
        return tool_fail(EXIT_FAIL, "out of memory");
    for (int i = 0; i < o->nspecs; i++) {
        if (strstr(o->specs[i], key))
            continue;
        int n = sprintf(p, "%s%s%s", o->specs[i], key, o->format);
        o->specs[i] = p;
        p += n + 1;
    }
    return EXIT_OK;
}

static int parse_pipe(int argc, char **argv, struct pipe_opts *o)
{
    static const struct option longs[] = {
        {"ring", required_argument, NULL, 'r'},
        {"ring-records", required_argument, NULL, 'n'},
        {"console", required_argument, NULL, 'c'},
        {"level", required_argument, NULL, 'l'},
        {"block", no_argument, NULL, 'b'},
        {"deadline-ms", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0}};
    *o = (struct pipe_opts){.default_level = NBLOG_LEVEL_INFO, .deadline_ms = 2000};
    o->specs = calloc((size_t)argc, sizeof *o->specs);
    if (!o->specs)
        return tool_fail(EXIT_FAIL, "out of memory");
    int c;
    while ((c = getopt_long(argc, argv, "r:n:c:l:bd:f:h", longs, NULL)) != -1) {
        switch (c) {
        case 'r': o->ring = optarg; break;
        case 'n':
            if (tool_parse_u64(optarg, &o->ring_records) != 0 ||
                o->ring_records < NBLOG_RECORDS_MIN || o->ring_records > NBLOG_RECORDS_MAX)
                return tool_fail(EXIT_USAGE, "--ring-records %s: %u..%u", optarg,
                                 NBLOG_RECORDS_MIN, NBLOG_RECORDS_MAX);
            break;
        case 'c': o->specs[o->nspecs++] = optarg; break;
        case 'l':
            if ((o->default_level = nblog_level_parse(optarg)) < 0)
                return tool_fail(EXIT_USAGE, "--level %s: not a level", optarg);
            break;
        case 'b': o->block = 1; break;
        case 'f': o->format = optarg; break;
        case 'd':
            if (tool_parse_u64(optarg, &o->deadline_ms) != 0 ||
                o->deadline_ms > PIPE_DEADLINE_MS_MAX)
                return tool_fail(EXIT_USAGE, "--deadline-ms %s: 0..%llu", optarg,
                                 PIPE_DEADLINE_MS_MAX);
            break;
        case 'h': return fputs(pipe_usage, stdout), TOOL_HELP;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc)
        return tool_fail(EXIT_USAGE, "pipe: unexpected argument \"%s\"", argv[optind]);
    int rc = o->nspecs ? EXIT_OK : env_specs(o);
    return rc == EXIT_OK && o->format ? pipe_format(o) : rc;
}

static int start_pipe(const struct pipe_opts *o, struct pipe_run *pr)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_path = o->ring;
    opt.ring_records = (size_t)o->ring_records;
    opt.level = NBLOG_LEVEL_DEBUG;
    /* pipe's consoles are its own (--console, or NBLOG_CONSOLES read above). */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    int rc = nblog_init(&opt);
    if (rc != NBLOG_OK)
        return tool_fail(EXIT_FAIL, "%s: %s%s%s", o->ring ? o->ring : "ring",
                         nblog_strerror(rc), rc == NBLOG_EFILE ? ": " : "",
                         rc == NBLOG_EFILE ? strerror(errno) : "");
    /* logrotate's kill -HUP reopens the file consoles and never ends pipe
     * (the handler replaces the default action; SA_RESTART: getline goes
     * on). */
    if (nblog_console_reopen_on_sighup() != NBLOG_OK)
        return tool_fail(EXIT_FAIL, "cannot handle SIGHUP: %s", strerror(errno));
    uint64_t now = mono_ns();
    for (int i = 0; i < o->nspecs; i++) {
        struct pipe_con *pc = &pr->cons[i];
        nblog_console_stats_t st;
        if (nblog_console_from_spec(o->specs[i], &pc->con) != NBLOG_OK)
            return tool_fail(EXIT_USAGE, "%s %s: %s",
                             o->from_env ? "NBLOG_CONSOLES:" : "--console", o->specs[i],
                             nblog_spec_error());
        if (nblog_console_stats(pc->con, &st) == NBLOG_OK)
            pc->last_seq = st.next_seq;
        pc->moved_ns = now;
        pr->n++;
    }
    nblog_stats_t st;
    nblog_stats_get(&st);
    pr->lag_limit = st.ring_records - st.ring_records / 4;
    assert(pr->lag_limit > 0 && pr->lag_limit < st.ring_records); /* >= 16 records */
    pr->deadline_ns = (uint64_t)o->deadline_ms * 1000000u;
    return EXIT_OK;
}

static int cmd_pipe(int argc, char **argv)
{
    struct pipe_opts o;
    struct pipe_run pr = {.o = &o};
    int rc = parse_pipe(argc, argv, &o);
    if (rc == EXIT_OK && !(pr.cons = calloc((size_t)o.nspecs, sizeof *pr.cons)))
        rc = tool_fail(EXIT_FAIL, "out of memory");
    if (rc == EXIT_OK)
        rc = start_pipe(&o, &pr);
    if (rc == EXIT_OK) {
        rc = pipe_lines(&pr);
        nblog_stats_t st;
        nblog_stats_get(&st);
        /* reserved counts refusals past the seq limit too: the last seq
         * a console can reach is the clamped one. */
        uint64_t end = st.reserved < NBLOG_SEQ_LIMIT ? st.reserved : NBLOG_SEQ_LIMIT;
        pipe_drain(&pr, end);
        int verdict = pipe_verdict(&pr, end);
        if (rc == EXIT_OK)
            rc = verdict;
    }
    nblog_shutdown();
    free(pr.cons);
    free(o.specs);
    free(o.env_copy);
    free(o.format_copy);
    return rc;
}

/* ------------------------------------------------------------- main */

static const char usage_text[] =
    "usage: nblog COMMAND [OPTIONS]\n"
    "\n"
    "  dmesg [--follow] [--level LVL] [--since-seq N] [--format plain|kmsg|json]\n"
    "        [--time rel|iso] FILE\n"
    "      print the records of a ring file (a bare name is under /dev/shm)\n"
    "  status FILE\n"
    "      the ring's writer and its consoles: next seq, lag, printed, dropped\n"
    "  demo [--seconds N] [--ring FILE]\n"
    "      the seed scenario live: serial keeps printing while fbcon is stuck\n"
    "  pipe [--ring FILE] [--ring-records N] [--level LVL] [--block]\n"
    "       [--deadline-ms N] [--format FMT] [--console SPEC ...]\n"
    "      store stdin lines and print them to the consoles\n"
    "  run [--ring FILE] [--stdout-level LVL] [--stderr-level LVL]\n"
    "      [--console SPEC ...] -- CMD [ARGS...]\n"
    "      run CMD with its syslog(3), stdout and stderr as records\n"
    "\n"
    "nblog COMMAND --help prints that command's options and exit statuses.\n"
    "nblog --version prints the version. See nblog(1).\n";

/* Runs subcommand cmd; its usage errors end with a pointer to its --help. */
static int run_command(const char *cmd, int argc, char **argv)
{
    int rc;
    if (!strcmp(cmd, "dmesg")) {
        install_stop_handlers();
        rc = cmd_dmesg(argc, argv);
    } else if (!strcmp(cmd, "status"))
        rc = cmd_status(argc, argv);
    else if (!strcmp(cmd, "pipe"))
        rc = cmd_pipe(argc, argv);
    else if (!strcmp(cmd, "demo"))
        rc = nblog_cmd_demo(argc, argv);
    else if (!strcmp(cmd, "run"))
        rc = nblog_cmd_run(argc, argv);
    else {
        fputs(usage_text, stderr);
        return tool_fail(EXIT_USAGE, "unknown command \"%s\"", cmd);
    }
    if (rc == TOOL_HELP)
        return EXIT_OK;
    if (rc == EXIT_USAGE)
        fprintf(stderr, "Try 'nblog %s --help'.\n", cmd);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fputs(usage_text, stderr), EXIT_USAGE;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
        return fputs(usage_text, stdout), EXIT_OK;
    if (!strcmp(cmd, "--version"))
        return printf("nblog %s\n", nblog_version_string()), EXIT_OK;
    install_handlers();
    return run_command(cmd, argc - 1, argv + 1);
}

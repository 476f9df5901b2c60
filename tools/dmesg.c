/*
 * dmesg.c - `nblog dmesg`: print the records of a ring file, or follow it.
 * See nblog.c for the command as a whole and docs/nblog.1 for its manual.
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
#include <getopt.h>
#include <signal.h>
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

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
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
    int rc = tool_open_view(file, o->follow, &f);
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

int nblog_cmd_dmesg(int argc, char **argv)
{
    install_stop_handlers();
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

/*
 * status.c - `nblog status [--json] [--watch[=SECONDS]] FILE`: who writes
 * a ring file and how each of its consoles is doing, from the stats the
 * writer publishes into the file every 100 ms
 * (nblog_ringfile_console_stats). Built on nblog.h alone, as every tool.
 *
 * A SNAPSHOT
 *   The file is opened NBLOG_RINGFILE_LIVE (the header and stats table as
 *   they are now, without copying the slots), or as a copy where a live
 *   view cannot be had (ENOTSUP: large pages); a file cut under a live
 *   view raises SIGBUS, which nblog.c turns into exit 6. One snapshot is
 *   the header (writer pid, running or gone, head, size, lost) and per
 *   console:
 *
 *     state        the first that holds, in this order:
 *                    stopped       the writer is gone (the other fields
 *                                  are its last publish)
 *                    suspended     nblog_console_suspend
 *                    disconnected  a console with a connection to lose
 *                                  (TCP) that has none: never connected,
 *                                  or lost it and not back yet
 *                    stalled       no progress with records pending for
 *                                  its stall_ms (stalled_ns > 0)
 *                    running       records pending, moving
 *                    idle          nothing pending (caught up)
 *     last error   the write's -errno (last_error), else for a network
 *                  console that of its last failed connect or lost
 *                  connection (net_error), by name: ECONNREFUSED (glibc's
 *                  strerrorname_np; "errno N" where it has no name)
 *     lag          against the file's head now (stored, not yet handled)
 *     printed, filtered, dropped, write errors, stalled for; and for a
 *     network console connected, connects, disconnects, connect
 *     failures, resent frames, truncated.
 *
 * --json prints the same as one JSON document (keys in nblog(1)); every
 * string from the file is escaped byte by byte (printable ASCII but '"'
 * and '\\' as it is, every other byte as \u00XX), so neither a name nor a
 * path can break the document or reach a terminal as a control.
 *
 * --watch[=SECONDS] (default 1) takes a snapshot every SECONDS, reopening
 * the file each time (a new writer that replaced it is simply shown). On
 * a terminal each one is drawn over the last (cursor home, each line
 * cleared to its end, the rest of the screen cleared); elsewhere the
 * snapshots follow one another, each after a blank line (with --json, one
 * document per line). A file that cannot be read meanwhile is a snapshot
 * saying why, and the watch goes on. SIGINT and SIGTERM end it with exit
 * status 0: both are blocked and taken with sigtimedwait as the sleep
 * between snapshots, so one that arrives while a snapshot is drawn ends
 * the watch right after it, never in the middle of a line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"
#include "tool.h"

#define WATCH_MIN_S 0.1
#define WATCH_MAX_S 3600.0

/* One look at the file. */
struct snapshot {
    int rc;             /* EXIT_OK, or why the file could not be read */
    char why[512];      /* for rc != EXIT_OK */
    nblog_ringfile_info_t info;
    int n;              /* consoles in cons */
    nblog_console_stats_t cons[NBLOG_RINGFILE_CONSOLES_MAX];
    uint64_t now_ns;    /* CLOCK_MONOTONIC when taken */
    struct timespec wall; /* CLOCK_REALTIME when taken */
};

static void take_snapshot(const char *path, struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    nblog_ringfile_t *f;
    int verdict = nblog_ringfile_open(path, NBLOG_RINGFILE_LIVE, &f, s->why, sizeof s->why);
    if (verdict == NBLOG_EFILE && errno == ENOTSUP) /* pages too large to follow */
        verdict = nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, s->why, sizeof s->why);
    s->rc = tool_exit_for_verdict(verdict);
    if (s->rc != EXIT_OK)
        return;
    nblog_ringfile_info(f, &s->info);
    s->n = nblog_ringfile_console_stats(f, s->cons, NBLOG_RINGFILE_CONSOLES_MAX);
    if (s->n < 0)
        s->n = 0;
    nblog_ringfile_close(f);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    s->now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    clock_gettime(CLOCK_REALTIME, &s->wall);
}

/* ------------------------------------------------------------ fields */

static uint64_t lag_now(const struct snapshot *s, const nblog_console_stats_t *st)
{
    return s->info.head > st->next_seq ? s->info.head - st->next_seq : 0;
}

static int has_connection(const nblog_console_stats_t *st)
{
    return (st->flags & NBLOG_CONSOLE_STATS_STREAM) != 0;
}

/* The console's state (see the top of the file). */
static const char *state_of(const struct snapshot *s, const nblog_console_stats_t *st)
{
    if (!s->info.writer_running)
        return "stopped";
    if (st->suspended)
        return "suspended";
    if (has_connection(st) && !st->connected)
        return "disconnected";
    if (st->stalled_ns)
        return "stalled";
    return lag_now(s, st) ? "running" : "idle";
}

/* The error worth naming: the write's, else the connection's. */
static int error_of(const nblog_console_stats_t *st)
{
    return st->last_error ? st->last_error : st->net_error;
}

/* A -errno from the file by name ("ECONNREFUSED"), or "errno N" for a
 * number without one (a hostile file may hold any int). */
static const char *errno_name(int neg, char *buf, size_t cap)
{
    const char *name = NULL;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    if (neg < 0 && neg != INT_MIN)
        name = strerrorname_np(-neg);
#endif
    if (name)
        return name;
    snprintf(buf, cap, "errno %d", neg == INT_MIN || neg > 0 ? neg : -neg);
    return buf;
}

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

/* -------------------------------------------------------------- text */

static void text_header(FILE *o, const char *path, const struct snapshot *s)
{
    const nblog_ringfile_info_t *in = &s->info;
    char shown[PATH_MAX * 4 + 1];
    fprintf(o, "ring %s: writer pid %u (%s), head %llu, %llu records of %u bytes, "
               "%llu lost\n",
            shown_name(shown, sizeof shown, path), (unsigned)in->writer_pid,
            in->writer_running ? "running" : "gone", (unsigned long long)in->head,
            (unsigned long long)in->records, (unsigned)in->record_size,
            (unsigned long long)in->lost);
    uint64_t published = in->stats_published_ns;
    if (published && s->now_ns >= published)
        fprintf(o, "console stats published %.1f s ago\n",
                (double)(s->now_ns - published) / 1e9);
}

/* A network console's own line, under its row. */
static void text_net(FILE *o, const nblog_console_stats_t *st)
{
    char buf[32];
    fprintf(o, "    net: %s, connects %llu, disconnects %llu, connect failures %llu, "
               "resent frames %llu, truncated %llu, last connection error %s\n",
            !has_connection(st) ? "datagrams"
            : st->connected     ? "connected"
                                : "not connected",
            (unsigned long long)st->connects, (unsigned long long)st->disconnects,
            (unsigned long long)st->connect_failures,
            (unsigned long long)st->resent_frames, (unsigned long long)st->truncated,
            st->net_error ? errno_name(st->net_error, buf, sizeof buf) : "-");
}

static void text_snapshot(FILE *o, const char *path, const struct snapshot *s)
{
    text_header(o, path, s);
    /* The name column as wide as the widest name shown. */
    char names[NBLOG_RINGFILE_CONSOLES_MAX][sizeof s->cons[0].name * 4];
    int width = 20;
    for (int i = 0; i < s->n; i++) {
        int w = (int)strlen(shown_name(names[i], sizeof names[i], s->cons[i].name));
        width = w > width ? w : width;
    }
    /* NEXT SEQ and LAG stay right after the name: scripts read them so. */
    fprintf(o, "%-*s %10s %8s %-12s %10s %10s %10s %10s %-14s %11s\n", width, "CONSOLE",
            "NEXT SEQ", "LAG", "STATE", "PRINTED", "FILTERED", "DROPPED", "WRITE ERRS",
            "LAST ERROR", "STALLED FOR");
    for (int i = 0; i < s->n; i++) {
        const nblog_console_stats_t *st = &s->cons[i];
        char stalled[32], err[32];
        format_stalled(stalled, sizeof stalled, st->stalled_ns);
        int e = error_of(st);
        fprintf(o, "%-*s %10llu %8llu %-12s %10llu %10llu %10llu %10llu %-14s %11s\n",
                width, names[i], (unsigned long long)st->next_seq,
                (unsigned long long)lag_now(s, st), state_of(s, st),
                (unsigned long long)st->printed, (unsigned long long)st->filtered,
                (unsigned long long)st->dropped, (unsigned long long)st->write_failed,
                e ? errno_name(e, err, sizeof err) : "-", stalled);
        if (st->flags & NBLOG_CONSOLE_STATS_NET)
            text_net(o, st);
    }
    if (s->n <= 0)
        fprintf(o, "(no consoles published)\n");
}

/* -------------------------------------------------------------- json */

/* A string from the file or the command line as a JSON string: printable
 * ASCII as it is (but '"' and '\\' escaped), every other byte \u00XX. */
static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(o, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7f)
            fputc(ch, o);
        else
            fprintf(o, "\\u%04x", ch);
    }
    fputc('"', o);
}

/* "key":{"errno":N,"name":"E...","message":"..."} or "key":null. */
static void json_error(FILE *o, const char *key, int neg)
{
    fprintf(o, ",\"%s\":", key);
    if (!neg) {
        fputs("null", o);
        return;
    }
    char buf[32];
    fprintf(o, "{\"errno\":%d,\"name\":", neg == INT_MIN || neg > 0 ? neg : -neg);
    json_str(o, errno_name(neg, buf, sizeof buf));
    fputs(",\"message\":", o);
    json_str(o, neg < 0 && neg != INT_MIN ? strerror(-neg) : "not an errno");
    fputc('}', o);
}

static void json_u64(FILE *o, const char *key, uint64_t v)
{
    fprintf(o, ",\"%s\":%llu", key, (unsigned long long)v);
}

static void json_bool(FILE *o, const char *key, int v)
{
    fprintf(o, ",\"%s\":%s", key, v ? "true" : "false");
}

static void json_console(FILE *o, const struct snapshot *s, const nblog_console_stats_t *st)
{
    fputs("{\"name\":", o);
    json_str(o, st->name);
    fputs(",\"state\":", o);
    json_str(o, state_of(s, st));
    json_u64(o, "start_seq", st->start_seq);
    json_u64(o, "next_seq", st->next_seq);
    json_u64(o, "lag", lag_now(s, st));
    json_u64(o, "printed", st->printed);
    json_u64(o, "filtered", st->filtered);
    json_u64(o, "dropped", st->dropped);
    json_u64(o, "write_failed", st->write_failed);
    json_u64(o, "stalled_ns", st->stalled_ns);
    json_bool(o, "suspended", st->suspended);
    json_error(o, "last_error", st->last_error);
    fputs(",\"net\":", o);
    if (!(st->flags & NBLOG_CONSOLE_STATS_NET)) {
        fputs("null}", o);
        return;
    }
    fprintf(o, "{\"stream\":%s", has_connection(st) ? "true" : "false");
    json_bool(o, "connected", st->connected);
    json_u64(o, "connects", st->connects);
    json_u64(o, "disconnects", st->disconnects);
    json_u64(o, "connect_failures", st->connect_failures);
    json_u64(o, "resent_frames", st->resent_frames);
    json_u64(o, "truncated", st->truncated);
    json_error(o, "last_error", st->net_error);
    fputs("}}", o);
}

static void json_snapshot(FILE *o, const char *path, const struct snapshot *s)
{
    const nblog_ringfile_info_t *in = &s->info;
    fputs("{\"file\":", o);
    json_str(o, path);
    fprintf(o, ",\"time\":%lld.%06ld", (long long)s->wall.tv_sec, s->wall.tv_nsec / 1000);
    fprintf(o, ",\"writer\":{\"pid\":%u", (unsigned)in->writer_pid);
    json_bool(o, "running", in->writer_running);
    fputs("},\"ring\":{", o);
    fprintf(o, "\"head\":%llu", (unsigned long long)in->head);
    json_u64(o, "oldest", in->oldest);
    json_u64(o, "records", in->records);
    json_u64(o, "record_size", in->record_size);
    json_u64(o, "lost", in->lost);
    fputs("},\"stats_age_s\":", o);
    if (in->stats_published_ns && s->now_ns >= in->stats_published_ns)
        fprintf(o, "%.3f", (double)(s->now_ns - in->stats_published_ns) / 1e9);
    else
        fputs("null", o);
    fputs(",\"consoles\":[", o);
    for (int i = 0; i < s->n; i++) {
        if (i)
            fputc(',', o);
        json_console(o, s, &s->cons[i]);
    }
    fputs("]}\n", o);
}

/* ------------------------------------------------------------- watch */

struct status_opts {
    int json;
    int watch;
    double every_s;
    const char *path;
};

/* The snapshot as text or JSON into a buffer (free it), NULL if memory
 * is short; *len its length. A watch's heading comes first (text). */
static char *render(const struct status_opts *o, const struct snapshot *s, size_t *len)
{
    char *buf = NULL;
    FILE *m = open_memstream(&buf, len);
    if (!m)
        return NULL;
    if (o->watch && !o->json) {
        struct tm tm;
        char when[64];
        gmtime_r(&s->wall.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        fprintf(m, "every %gs: nblog status, %s\n", o->every_s, when);
    }
    if (s->rc != EXIT_OK && o->json) {
        fputs("{\"file\":", m);
        json_str(m, o->path);
        fputs(",\"error\":", m);
        json_str(m, s->why);
        fputs("}\n", m);
    } else if (s->rc != EXIT_OK) {
        char shown[PATH_MAX * 4 + 1];
        fprintf(m, "nblog: %s: %s\n", shown_name(shown, sizeof shown, o->path), s->why);
    } else if (o->json) {
        json_snapshot(m, o->path, s);
    } else {
        text_snapshot(m, o->path, s);
    }
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Draws text over the previous frame: home, each line cleared to its end,
 * the rest of the screen cleared. */
static void draw_in_place(FILE *out, const char *text, size_t len, int first)
{
    fputs(first ? "\x1b[H\x1b[2J" : "\x1b[H", out);
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        fwrite(p, 1, n, out);
        fputs("\x1b[K", out);
        if (nl)
            fputc('\n', out);
        p += n + (nl != NULL);
    }
    fputs("\x1b[J", out);
}

/* Sleeps every_s, or until SIGINT/SIGTERM (blocked: see the top). 1 if
 * one came. */
static int stop_came(const sigset_t *stops, double every_s)
{
    struct timespec left = {.tv_sec = (time_t)every_s};
    left.tv_nsec = (long)((every_s - (double)left.tv_sec) * 1e9);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += left.tv_sec;
    until.tv_nsec += left.tv_nsec;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    for (;;) {
        int sig = sigtimedwait(stops, NULL, &left);
        if (sig == SIGINT || sig == SIGTERM)
            return 1;
        if (sig < 0 && errno == EAGAIN)
            return 0;
        /* EINTR (another signal's handler ran): sleep what is left. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long ns = (long long)(until.tv_sec - now.tv_sec) * 1000000000LL +
                       (until.tv_nsec - now.tv_nsec);
        if (ns <= 0)
            return 0;
        left.tv_sec = (time_t)(ns / 1000000000LL);
        left.tv_nsec = (long)(ns % 1000000000LL);
    }
}

static int watch(const struct status_opts *o)
{
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stops, NULL) != 0)
        return tool_fail(EXIT_FAIL, "cannot block SIGINT and SIGTERM: %s", strerror(errno));
    int tty = isatty(STDOUT_FILENO);
    static struct snapshot s;
    for (int frame = 0;; frame++) {
        take_snapshot(o->path, &s);
        if (frame == 0 && s.rc != EXIT_OK) /* never readable: say so and go */
            return tool_fail(s.rc, "%s: %s", o->path, s.why);
        size_t len;
        char *text = render(o, &s, &len);
        if (!text)
            return tool_fail(EXIT_FAIL, "out of memory");
        if (tty)
            draw_in_place(stdout, text, len, frame == 0);
        else {
            if (frame && !o->json)
                fputc('\n', stdout);
            fwrite(text, 1, len, stdout);
        }
        free(text);
        if (fflush(stdout) != 0 || ferror(stdout))
            return tool_fail(EXIT_FAIL, "standard output: %s", strerror(errno));
        if (stop_came(&stops, o->every_s))
            return EXIT_OK;
    }
}

/* ------------------------------------------------------------ command */

static const char status_usage[] =
    "usage: nblog status [--json] [--watch[=SECONDS]] FILE\n"
    "Show who writes an nblog ring file (FILE without a '/' is under /dev/shm):\n"
    "the writer's pid and whether it still runs, the ring's head and size, and\n"
    "one row per console from the stats the writer publishes every 100 ms:\n"
    "next seq, lag (stored, not yet handled), state (stopped, suspended,\n"
    "disconnected, stalled, running, idle), printed, filtered, dropped, write\n"
    "errors, last error by name (ECONNREFUSED, ENOSPC, ...), stalled for; and\n"
    "for a network console connects, disconnects, connect failures, resent\n"
    "frames. The file is only read, and checked before use.\n"
    "\n"
    "  -j, --json              one JSON document (keys: see nblog(1))\n"
    "  -w, --watch[=SECONDS]   a new snapshot every SECONDS (default 1, 0.1 to\n"
    "                          3600), drawn in place on a terminal; SIGINT or\n"
    "                          SIGTERM end it (exit status 0)\n"
    "  -h, --help              print this help and exit\n"
    "\n"
    "Exit status: 0 ok, 1 failure (standard output), 2 usage, 3 cannot read\n"
    "FILE, 4 not a ring, 5 unknown ring version, 6 truncated ring, 7 corrupt\n"
    "ring. See nblog(1).\n";

/* --watch's SECONDS: a decimal number in [WATCH_MIN_S, WATCH_MAX_S]. */
static int parse_every(const char *text, double *out)
{
    char *end;
    if (!text || !*text || (*text != '.' && (*text < '0' || *text > '9')))
        return -1;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || *end || !(v >= WATCH_MIN_S && v <= WATCH_MAX_S))
        return -1;
    *out = v;
    return 0;
}

static int parse_status(int argc, char **argv, struct status_opts *o)
{
    static const struct option longs[] = {{"json", no_argument, NULL, 'j'},
                                          {"watch", optional_argument, NULL, 'w'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    *o = (struct status_opts){.every_s = 1.0};
    int c;
    while ((c = getopt_long(argc, argv, "jw::h", longs, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->json = 1;
            break;
        case 'w':
            o->watch = 1;
            if (optarg && parse_every(optarg, &o->every_s) != 0)
                return tool_fail(EXIT_USAGE,
                                 "--watch: \"%s\" is not a number of seconds from 0.1 to 3600",
                                 optarg);
            break;
        case 'h':
            fputs(status_usage, stdout);
            return TOOL_HELP;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return tool_fail(EXIT_USAGE, "status needs exactly one FILE");
    o->path = argv[optind];
    return EXIT_OK;
}

int nblog_cmd_status(int argc, char **argv)
{
    struct status_opts o;
    int rc = parse_status(argc, argv, &o);
    if (rc != EXIT_OK)
        return rc;
    if (o.watch)
        return watch(&o);
    static struct snapshot s;
    take_snapshot(o.path, &s);
    if (s.rc != EXIT_OK)
        return tool_fail(s.rc, "%s: %s", o.path, s.why);
    if (o.json)
        json_snapshot(stdout, o.path, &s);
    else
        text_snapshot(stdout, o.path, &s);
    if (fflush(stdout) != 0 || ferror(stdout))
        return tool_fail(EXIT_FAIL, "standard output: %s", strerror(errno));
    return EXIT_OK;
}

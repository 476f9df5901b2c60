/*
 * nblog.c - the nblog command: read a ring file, show its writer's
 * consoles, run the seed scenario, or log stdin.
 *
 *     nblog dmesg [--follow] [--level LEVELS] [--since TIME] [--grep RE]
 *                 [-n N] [-o FMT] [...] FILE                     (dmesg.c)
 *     nblog status [--json] [--watch[=SECONDS]] FILE        (status.c)
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
 * Files: nblog.c (dispatch, pipe), dmesg.c, status.c, demo.c, toolutil.c
 * (what they share, tool.h).
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
#include "symbolize.h"
#include "tool.h"

/* A file cut under a live mapping raises SIGBUS: say so, do not crash. */
static void on_sigbus(int sig)
{
    static const char msg[] = "nblog: ring file was truncated while being read\n";
    (void)sig;
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(EXIT_TRUNCATED);
}

static void install_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_sigbus;
    sigaction(SIGBUS, &sa, NULL);
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
    "  dmesg [--follow] [--level LEVELS] [--since TIME] [--until TIME] [--grep RE]\n"
    "        [--lines N] [--reverse] [--output FMT] [...] FILE\n"
    "      print the records of a ring file (a bare name is under /dev/shm),\n"
    "      filtered as journalctl and dmesg do\n"
    "  status [--json] [--watch[=SECONDS]] FILE\n"
    "      the ring's writer and its consoles: state, lag, printed, dropped,\n"
    "      last error, connections\n"
    "  demo [--seconds N] [--ring FILE]\n"
    "      the seed scenario live: serial keeps printing while fbcon is stuck\n"
    "  pipe [--ring FILE] [--ring-records N] [--level LVL] [--block]\n"
    "       [--deadline-ms N] [--format FMT] [--console SPEC ...]\n"
    "      store stdin lines and print them to the consoles\n"
    "  symbolize [-d DIR]... [FILE|-]\n"
    "      crash report frames (nblog dmesg output) to function, file and line\n"
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
    if (!strcmp(cmd, "dmesg"))
        rc = nblog_cmd_dmesg(argc, argv);
    else if (!strcmp(cmd, "status"))
        rc = nblog_cmd_status(argc, argv);
    else if (!strcmp(cmd, "pipe"))
        rc = cmd_pipe(argc, argv);
    else if (!strcmp(cmd, "demo"))
        rc = nblog_cmd_demo(argc, argv);
    else if (!strcmp(cmd, "symbolize"))
        rc = nblog_cmd_symbolize(argc, argv);
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

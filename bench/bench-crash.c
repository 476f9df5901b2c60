/*
 * bench-crash.c - nblog-bench crash: what reaches a log file when the
 * program dies of a fault right after logging.
 *
 *   nblog-bench crash [--count N] [--runs R] [--json-only]
 *
 * METHOD (bench/README.md says more)
 *
 *   For each logger, R times (default 5): fork a child. The parent never
 *   sets up a logger, so the child starts from a clean state without
 *   exec. The child sets RLIMIT_CORE to 0, sets its logger up on a new
 *   file under /tmp, logs N lines (default 10,000) "line <i>", i = 0..N-1,
 *   from its main thread, then at once stores through an invalid pointer
 *   ((int *)64 read from a volatile, so the compiler cannot see it):
 *   SIGSEGV. The parent waits for it, records how it ended (the signal, or
 *   the exit status) and counts the distinct i for which the file holds a
 *   complete line "line <i>\n" (other lines, such as nblog's panic record
 *   and backtrace, are ignored), then deletes the file.
 *
 *   nblog: nblog_init() with the defaults (its fatal-signal handlers flush
 *   every console that has write_atomic, then re-raise the signal) but
 *   ring_records 16384 (or N rounded up to a power of two if larger), so
 *   no record is overwritten; one nblog_console_file() console (defaults:
 *   threaded, plain format, level DEBUG); nblog_printf() at INFO.
 *
 *   spdlog_async: bench_spdlog_async_setup() as in stuck: a thread pool of
 *   its own (queue 8192, one backend thread), async_overflow_policy::
 *   overrun_oldest, a basic_file_sink_mt, pattern "%v".
 *
 *   fprintf: fopen(path, "w") with stdio's default (full) buffering.
 *
 * OUTPUT
 *
 *   A table (unless --json-only), then as the last line one JSON object:
 *   {"bench":"crash","count":N,"runs":R,"results":{"nblog":{"min":..,
 *   "median":..,"max":..,"died":"SIGSEGV"},"spdlog_async":{...},
 *   "fprintf":{...}}}: lines kept over the R runs; "died" is how the
 *   children ended ("SIGSEGV", "exit 1", ...; runs that differ are listed
 *   one by one, comma-separated).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nblog.h>

#include "bench-common.h"
#include "bench-modes.h"

#ifdef NBLOG_BENCH_SPDLOG
#include "bench-spdlog.h"
#endif

#define CRASH_COUNT 10000L
#define CRASH_RUNS 5
#define CRASH_RUNS_MAX 99
#define DIED_MAX 64

/* ----------------------------------------------------------- the loggers */

static int nblog_start(const char *path, long count)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    /* Only the consoles the bench registers (no default, no NBLOG_CONSOLES). */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    opt.ring_records = 16384;
    while (opt.ring_records < (size_t)count)
        opt.ring_records *= 2;
    nblog_console_t *con;
    int rc = nblog_init(&opt);
    if (rc == NBLOG_OK)
        rc = nblog_console_file(path, 0, 0, NULL, &con);
    if (rc != NBLOG_OK)
        fprintf(stderr, "nblog-bench: nblog: %s\n", nblog_strerror(rc));
    return rc == NBLOG_OK ? 0 : -1;
}

static void nblog_line(int i)
{
    nblog_printf(NBLOG_LEVEL_INFO, "line %d", i);
}

#ifdef NBLOG_BENCH_SPDLOG
static int spdlog_start(const char *path, long count)
{
    (void)count;
    struct bench_spdlog_cfg cfg = {.path = path, .overrun_oldest = 1};
    return bench_spdlog_async_setup(&cfg);
}
#endif

static FILE *crash_file;

static int fprintf_start(const char *path, long count)
{
    (void)count;
    crash_file = fopen(path, "w");
    if (!crash_file)
        fprintf(stderr, "nblog-bench: %s: %s\n", path, strerror(errno));
    return crash_file ? 0 : -1;
}

static void fprintf_line(int i)
{
    fprintf(crash_file, "line %d\n", i);
}

static const struct logger {
    const char *name;
    int (*start)(const char *path, long count);
    void (*line)(int i);
} loggers[] = {
    {"nblog", nblog_start, nblog_line},
#ifdef NBLOG_BENCH_SPDLOG
    {"spdlog_async", spdlog_start, bench_spdlog_async_line},
#endif
    {"fprintf", fprintf_start, fprintf_line},
};
#define NLOGGERS (sizeof loggers / sizeof loggers[0])

/* ------------------------------------------------------------- one run */

static _Noreturn void child(const struct logger *lg, const char *path, long count)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    alarm(60); /* a child that hangs dies by SIGALRM, and the table says so */
    if (lg->start(path, count) != 0)
        _exit(1);
    for (long i = 0; i < count; i++)
        lg->line((int)i);
    int *volatile bad = (int *)64;
    *bad = 1;
    _exit(3); /* not reached */
}

/* Distinct i in 0..count-1 with a complete line "line <i>\n" in the file. */
static long count_kept(const char *path, long count)
{
    FILE *f = fopen(path, "r");
    unsigned char *seen = calloc((size_t)count, 1);
    long kept = 0;
    char *l = NULL;
    size_t cap = 0;
    ssize_t len;
    while (f && seen && (len = getline(&l, &cap, f)) > 0) {
        char *end = l;
        long i = strncmp(l, "line ", 5) == 0 && l[5] >= '0' && l[5] <= '9'
                     ? strtol(l + 5, &end, 10)
                     : -1;
        if (i >= 0 && i < count && end == l + len - 1 && *end == '\n' &&
            !seen[i]) {
            seen[i] = 1;
            kept++;
        }
    }
    if (!f || !seen)
        fprintf(stderr, "nblog-bench: cannot read %s\n", path);
    free(l);
    free(seen);
    if (f)
        fclose(f);
    return kept;
}

/* Runs one child; returns the lines kept and writes how it ended. */
static long run_once(const struct logger *lg, long count, int run, char *died,
                     size_t cap)
{
    char path[96];
    snprintf(path, sizeof path, "/tmp/nblog-bench-%ld-crash-%s-%d.log",
             (long)getpid(), lg->name, run);
    unlink(path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "nblog-bench: fork: %s\n", strerror(errno));
        exit(1);
    }
    if (pid == 0)
        child(lg, path, count);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(st))
        snprintf(died, cap, "SIG%s", sigabbrev_np(WTERMSIG(st)));
    else
        snprintf(died, cap, "exit %d", WEXITSTATUS(st));
    long kept = count_kept(path, count);
    unlink(path);
    return kept;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: nblog-bench crash [--count N] [--runs R] [--json-only]\n"
               "  --count N    lines each child logs before it faults (default %ld)\n"
               "  --runs R     children per logger (default %d)\n"
               "  --json-only  print only the JSON line\n",
            CRASH_COUNT, CRASH_RUNS);
}

int bench_crash_main(int argc, char **argv)
{
    long count = CRASH_COUNT, runs = CRASH_RUNS;
    int json_only = 0;
    for (int a = 2; a < argc; a++) {
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(argv[a], "--count") == 0) {
            count = parse_long("--count", val, 1, 10000000L, usage);
            a++;
        } else if (strcmp(argv[a], "--runs") == 0) {
            runs = parse_long("--runs", val, 1, CRASH_RUNS_MAX, usage);
            a++;
        } else {
            common_option(argv[a], &json_only, usage);
        }
    }

    struct summary {
        double min, med, max;
        char died[DIED_MAX * 4];
    } sum[NLOGGERS];
    for (size_t l = 0; l < NLOGGERS; l++) {
        double kept[CRASH_RUNS_MAX];
        char died[CRASH_RUNS_MAX][DIED_MAX];
        int same = 1;
        for (int k = 0; k < runs; k++) {
            kept[k] = (double)run_once(&loggers[l], count, k, died[k], DIED_MAX);
            same &= strcmp(died[k], died[0]) == 0;
        }
        sum[l].med = median_d(kept, (int)runs); /* sorts kept */
        sum[l].min = kept[0];
        sum[l].max = kept[runs - 1];
        snprintf(sum[l].died, sizeof sum[l].died, "%s", died[0]);
        for (int k = 1; !same && k < runs; k++) {
            size_t n = strlen(sum[l].died);
            snprintf(sum[l].died + n, sizeof sum[l].died - n, ",%s", died[k]);
        }
    }

    if (!json_only) {
        printf("nblog-bench crash: each child logs %ld lines, then faults; "
               "%ld run(s) per logger; %ld CPUs online, load %.2f\n\n",
               count, runs, sysconf(_SC_NPROCESSORS_ONLN), load_1min());
        printf("%-13s %-34s %s\n", "logger", "lines kept: min / median / max",
               "child died by");
        for (size_t l = 0; l < NLOGGERS; l++) {
            char kept[64];
            snprintf(kept, sizeof kept, "%.0f / %.0f / %.0f of %ld", sum[l].min,
                     sum[l].med, sum[l].max, count);
            printf("%-13s %-34s %s\n", loggers[l].name, kept, sum[l].died);
        }
        printf("\n");
    }
    printf("{\"bench\":\"crash\",\"count\":%ld,\"runs\":%ld,\"results\":{",
           count, runs);
    for (size_t l = 0; l < NLOGGERS; l++)
        printf("%s\"%s\":{\"min\":%.0f,\"median\":%.1f,\"max\":%.0f,\"died\":\"%s\"}",
               l ? "," : "", loggers[l].name, sum[l].min, sum[l].med, sum[l].max,
               sum[l].died);
    printf("}}\n");
    return 0;
}

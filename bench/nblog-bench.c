/*
 * nblog-bench.c - caller-side latency of one logging call, nblog against a
 * floor and against the usual alternatives, all measured in the same run.
 *
 *   nblog-bench latency --threads N [--count M] [--json-only]
 *
 * main() also dispatches the other modes, each in its own file:
 *
 *   nblog-bench stuck ...        bench-stuck.c: caller latency and a file
 *                                output's progress while another output
 *                                is stuck
 *   nblog-bench throughput ...   bench-throughput.c: records to lines in a
 *                                file, end to end
 *   nblog-bench crash ...        bench-crash.c: lines in a file after the
 *                                logging process dies of SIGSEGV
 *
 * The timer and percentile code they share is in bench-common.c.
 *
 * METHOD (bench/README.md says more)
 *
 *   Each of N threads makes `warm-up` untimed calls, waits at a barrier,
 *   then makes M calls, each between two `lfence; rdtsc` reads, and stores
 *   the tick difference in its slice of one preallocated, prefaulted array.
 *   The threads run concurrently and are not pinned. After all have joined,
 *   the N * M samples are sorted together, the median cost of an empty
 *   timed pair is subtracted (clamped at 0) and ticks become nanoseconds
 *   through a rate calibrated against CLOCK_MONOTONIC over ~80 ms.
 *
 * COLUMNS
 *
 *   One X-macro list, BENCH_COLUMNS, names every column with its setup,
 *   teardown and the call expression to time (which may use the int `i`, the
 *   iteration number). Each entry generates a timing loop with the call
 *   inlined between the two timer reads, so no column pays an indirect call
 *   the others do not. Adding a column is one line in the list.
 *
 * OUTPUT
 *
 *   A table (unless --json-only), then as the last line one JSON object:
 *   {"bench":"latency","threads":N,"results":{"<column>":{"p50":..,"p99":..,
 *   "p999":..,"p9999":..,"max":..},...}} in nanoseconds.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nblog.h>

#include "bench-common.h"
#include "bench-modes.h"

#ifdef NBLOG_BENCH_SPDLOG
#include "bench-spdlog.h"
#endif

#define DEFAULT_COUNT 200000L
#define NOTE_MAX 160

/* ---------------------------------------------------------------- columns */

/* baseline: the floor of any shared-ring design. One relaxed fetch_add on a
 * shared head, then 64 bytes stored (relaxed, 8 words, as nblog's ring
 * stores) into the slot it names, in a static ring prefaulted at setup. */
#define BASELINE_SLOTS 8192u
static _Alignas(64) _Atomic uint64_t baseline_head;
static _Alignas(64) uint64_t baseline_ring[BASELINE_SLOTS][8];
static const char baseline_msg[64] = "iteration 0 value 0 name bench";

static inline int baseline_log(int i)
{
    uint64_t seq =
        atomic_fetch_add_explicit(&baseline_head, 1, memory_order_relaxed);
    uint64_t *slot = baseline_ring[seq & (BASELINE_SLOTS - 1)];
    uint64_t w[8];
    memcpy(w, baseline_msg, sizeof w);
    w[0] = (uint64_t)(unsigned)i;
    for (int k = 0; k < 8; k++)
        __atomic_store_n(&slot[k], w[k], __ATOMIC_RELAXED);
    return 0;
}

static int baseline_setup(void)
{
    memset(baseline_ring, 0, sizeof baseline_ring); /* prefault */
    atomic_store_explicit(&baseline_head, 0, memory_order_relaxed);
    return 0;
}

static void baseline_teardown(char *note, size_t cap)
{
    (void)cap;
    note[0] = '\0';
}

/* nblog: defaults but level DEBUG and no console (neither the default
 * stderr console nor NBLOG_CONSOLES'). No reader: the ring overwrites its
 * oldest records, the writer-alone case. */
static nblog_stats_t nblog_before;

static int nblog_setup(void)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.level = NBLOG_LEVEL_DEBUG;
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    int rc = nblog_init(&opt);
    if (rc != NBLOG_OK) {
        fprintf(stderr, "nblog-bench: nblog_init: %s\n", nblog_strerror(rc));
        return -1;
    }
    nblog_stats_get(&nblog_before);
    return 0;
}

static void nblog_teardown(char *note, size_t cap)
{
    nblog_stats_t st;
    nblog_stats_get(&st);
    snprintf(note, cap, "NBLOG_ELOST: %llu of %llu (warm-up incl.)",
             (unsigned long long)(st.lost - nblog_before.lost),
             (unsigned long long)(st.reserved - nblog_before.reserved));
    nblog_shutdown();
}

/* fprintf to a fully buffered FILE* on a file under /tmp. */
static FILE *bench_file;
static char bench_file_path[64];

static int fprintf_setup(void)
{
    snprintf(bench_file_path, sizeof bench_file_path,
             "/tmp/nblog-bench-%ld-fprintf.log", (long)getpid());
    bench_file = fopen(bench_file_path, "w");
    if (!bench_file) {
        fprintf(stderr, "nblog-bench: %s: %s\n", bench_file_path,
                strerror(errno));
        return -1;
    }
    return 0;
}

static void fprintf_teardown(char *note, size_t cap)
{
    (void)cap;
    note[0] = '\0';
    fclose(bench_file);
    bench_file = NULL;
    unlink(bench_file_path);
}

#ifdef NBLOG_BENCH_SPDLOG
#define BENCH_SPDLOG_COLUMN(X)                                                 \
    X(spdlog_async, bench_spdlog_setup, bench_spdlog_teardown,                 \
      bench_spdlog_log(i))
#else
#define BENCH_SPDLOG_COLUMN(X)
#endif

/*
 * X(name, setup, teardown, call): in output order. `call` is an int
 * expression of `i`; a negative value counts as an error. setup returns 0 or
 * -1 (the column is then left out); teardown writes a note for the table.
 */
#define BENCH_COLUMNS(X)                                                       \
    X(baseline, baseline_setup, baseline_teardown, baseline_log(i))            \
    X(nblog_printf, nblog_setup, nblog_teardown,                               \
      nblog_printf(NBLOG_LEVEL_INFO, "iteration %d value %f name %s", i,       \
                   i * 0.25, "bench"))                                         \
    X(nblog_macro, nblog_setup, nblog_teardown,                                \
      NBLOG_INFO("iteration %d value %f name %s", i, i * 0.25, "bench"))       \
    BENCH_SPDLOG_COLUMN(X)                                                     \
    X(fprintf, fprintf_setup, fprintf_teardown,                                \
      fprintf(bench_file, "iteration %d value %f name %s\n", i, i * 0.25,      \
              "bench"))

/* ---------------------------------------------------------------- harness */

static pthread_barrier_t start_line;

/* Untimed warm-up, the barrier, then n timed calls. Returns the number of
 * timed calls that returned a negative value. */
#define BENCH_RUN_FN(name, setup, teardown, call)                              \
    static long run_##name(uint64_t *samples, long n, long warmup)             \
    {                                                                          \
        for (long k = 0; k < warmup; k++) {                                    \
            int i = (int)k;                                                    \
            (void)(call);                                                      \
        }                                                                      \
        pthread_barrier_wait(&start_line);                                     \
        long errors = 0;                                                       \
        for (long k = 0; k < n; k++) {                                         \
            int i = (int)k;                                                    \
            uint64_t t0 = tsc_read();                                          \
            int rc = (call);                                                   \
            uint64_t t1 = tsc_read();                                          \
            samples[k] = t1 - t0;                                              \
            errors += rc < 0;                                                  \
        }                                                                      \
        return errors;                                                         \
    }
BENCH_COLUMNS(BENCH_RUN_FN)
#undef BENCH_RUN_FN

struct column {
    const char *name;
    int (*setup)(void);
    void (*teardown)(char *note, size_t cap);
    long (*run)(uint64_t *samples, long n, long warmup);
};

static const struct column columns[] = {
#define BENCH_ENTRY(name, setup, teardown, call) {#name, setup, teardown, run_##name},
    BENCH_COLUMNS(BENCH_ENTRY)
#undef BENCH_ENTRY
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

enum { P50, P99, P999, P9999, PMAX, NPCT };
/* Quantiles in parts per million, so ranks are exact integers. */
static const uint64_t pct_ppm[NPCT] = {500000, 990000, 999000, 999900, 1000000};
static const char *const pct_json[NPCT] = {"p50", "p99", "p999", "p9999", "max"};
static const char *const pct_head[NPCT] = {"p50", "p99", "p99.9", "p99.99", "max"};

struct result {
    int ran;
    double ns[NPCT];
    double mean_ns; /* mean minus the empty pair's mean */
    long errors;
    char note[NOTE_MAX];
};

struct worker {
    pthread_t thread;
    const struct column *col;
    uint64_t *samples;
    long n, warmup, errors;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->errors = w->col->run(w->samples, w->n, w->warmup);
    return NULL;
}

/* Runs one column on nthreads threads; fills *res. Returns 0 or -1. */
static int run_column(const struct column *col, int nthreads, long count,
                      long warmup, uint64_t *samples,
                      const struct overhead *ovh, double ticks_per_ns,
                      struct result *res)
{
    memset(res, 0, sizeof *res);
    struct worker *w = calloc((size_t)nthreads, sizeof *w);
    if (!w) {
        fprintf(stderr, "nblog-bench: no memory for %d threads\n", nthreads);
        exit(1);
    }
    if (col->setup() != 0) {
        free(w);
        return -1;
    }
    if (pthread_barrier_init(&start_line, NULL, (unsigned)nthreads) != 0) {
        fprintf(stderr, "nblog-bench: pthread_barrier_init failed\n");
        exit(1);
    }
    for (int t = 0; t < nthreads; t++) {
        w[t] = (struct worker){.col = col, .samples = samples + (size_t)t * count,
                               .n = count, .warmup = warmup};
        int rc = pthread_create(&w[t].thread, NULL, worker_main, &w[t]);
        if (rc != 0) {
            fprintf(stderr, "nblog-bench: pthread_create: %s\n", strerror(rc));
            exit(1);
        }
    }
    for (int t = 0; t < nthreads; t++) {
        pthread_join(w[t].thread, NULL);
        res->errors += w[t].errors;
    }
    pthread_barrier_destroy(&start_line);
    free(w);
    col->teardown(res->note, sizeof res->note);

    size_t total = (size_t)nthreads * (size_t)count;
    double sum = 0;
    for (size_t k = 0; k < total; k++)
        sum += (double)samples[k];
    /* Clamped like the percentiles: below the counter's step the loop's
     * period can alias with it and the difference can come out negative. */
    res->mean_ns = (sum / (double)total - ovh->mean) / ticks_per_ns;
    if (res->mean_ns < 0)
        res->mean_ns = 0;
    qsort(samples, total, sizeof *samples, cmp_u64);
    for (int p = 0; p < NPCT; p++)
        res->ns[p] = pct_ns(samples, total, pct_ppm[p], ovh, ticks_per_ns);
    res->ran = 1;
    return 0;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: nblog-bench latency --threads N [--count M] [--json-only]\n"
               "       nblog-bench stuck [--count M] [--hold-ms T] [--runs R] [--json-only]\n"
               "       nblog-bench throughput [--threads N] [--count M] [--runs R]\n"
               "                              [--stamped] [--json-only]\n"
               "       nblog-bench crash [--count N] [--runs R] [--json-only]\n"
               "latency:\n"
               "  --threads N  concurrent caller threads (default 1)\n"
               "  --count M    timed calls per thread (default %ld)\n"
               "  --json-only  print only the JSON line\n"
               "stuck, throughput, crash: see nblog-bench MODE --help\n",
            DEFAULT_COUNT);
}

static int latency_main(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "latency") == 0)
        return latency_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "stuck") == 0)
        return bench_stuck_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "throughput") == 0)
        return bench_throughput_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "crash") == 0)
        return bench_crash_main(argc, argv);
    int help = argc >= 2 && strcmp(argv[1], "--help") == 0;
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
}

static int latency_main(int argc, char **argv)
{
    long nthreads = 1, count = DEFAULT_COUNT;
    int json_only = 0;
    for (int a = 2; a < argc; a++) {
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(argv[a], "--threads") == 0) {
            nthreads = parse_long("--threads", val, 1, 256, usage);
            a++;
        } else if (strcmp(argv[a], "--count") == 0) {
            count = parse_long("--count", val, 1, 100000000L, usage);
            a++;
        } else {
            common_option(argv[a], &json_only, usage);
        }
    }
    long warmup = count / 10 < 1000 ? 1000 : count / 10;

    /* One array for every column's samples, prefaulted here so no timed
     * call takes a page fault on its own sample. */
    size_t total = (size_t)nthreads * (size_t)count;
    long pairs = count < 200000 ? 200000 : count;
    size_t slots = total > (size_t)pairs ? total : (size_t)pairs;
    uint64_t *samples = malloc(slots * sizeof *samples);
    if (!samples) {
        fprintf(stderr, "nblog-bench: no memory for %zu samples\n", slots);
        return 1;
    }
    memset(samples, 0, slots * sizeof *samples);

    double ticks_per_ns = tsc_calibrate();
    struct overhead ovh;
    tsc_overhead(samples, pairs, &ovh);

    struct result res[NCOLUMNS];
    for (size_t c = 0; c < NCOLUMNS; c++)
        if (run_column(&columns[c], (int)nthreads, count, warmup, samples,
                       &ovh, ticks_per_ns, &res[c]) != 0)
            fprintf(stderr, "nblog-bench: column %s left out\n", columns[c].name);

    if (!json_only) {
        printf("nblog-bench latency: %ld thread(s), %ld timed calls each "
               "(+%ld warm-up), not pinned; %ld CPUs online, load %.2f\n",
               nthreads, count, warmup, sysconf(_SC_NPROCESSORS_ONLN), load_1min());
        printf("timer: lfence;rdtsc, %.4f ticks/ns (vs CLOCK_MONOTONIC), "
               "counter step %llu ticks = %.1f ns\n",
               ticks_per_ns, (unsigned long long)ovh.step,
               (double)ovh.step / ticks_per_ns);
        printf("empty timed pair: min %llu, median %llu, mean %.1f ticks; "
               "the median is subtracted from percentiles, the mean from "
               "means\n",
               (unsigned long long)ovh.min, (unsigned long long)ovh.med,
               ovh.mean);
#ifdef NBLOG_BENCH_LIB_UNOPTIMIZED
        printf("WARNING: libnblog was built without -O (see the cmake "
               "warning): the nblog column is not representative\n");
#endif
        printf("\n%-14s", "ns");
        for (int p = 0; p < NPCT; p++)
            printf(" %9s", pct_head[p]);
        printf(" %7s  notes\n", "mean");
        const struct result *nb = NULL, *sp = NULL;
        for (size_t c = 0; c < NCOLUMNS; c++) {
            if (strcmp(columns[c].name, "nblog_printf") == 0 && res[c].ran)
                nb = &res[c];
            if (strcmp(columns[c].name, "spdlog_async") == 0 && res[c].ran)
                sp = &res[c];
        }
        for (size_t c = 0; c < NCOLUMNS; c++) {
            if (!res[c].ran)
                continue;
            printf("%-14s", columns[c].name);
            for (int p = 0; p < NPCT; p++)
                printf(" %9.1f", res[c].ns[p]);
            printf(" %7.1f  %s", res[c].mean_ns, res[c].note);
            if (res[c].errors)
                printf("%serrors returned: %ld", res[c].note[0] ? "; " : "",
                       res[c].errors);
            if (&res[c] == nb && sp) {
                double r50 = nb->ns[P50] > 0 ? sp->ns[P50] / nb->ns[P50] : 0;
                double r999 = nb->ns[P999] > 0 ? sp->ns[P999] / nb->ns[P999] : 0;
                printf("%sspdlog_async/nblog_printf: p50 x%.2f, p99.9 x%.2f",
                       res[c].note[0] ? "; " : "", r50, r999);
            }
            printf("\n");
        }
        printf("\n");
    }

    printf("{\"bench\":\"latency\",\"threads\":%ld,\"results\":{", nthreads);
    int first = 1;
    for (size_t c = 0; c < NCOLUMNS; c++) {
        if (!res[c].ran)
            continue;
        printf("%s\"%s\":{", first ? "" : ",", columns[c].name);
        for (int p = 0; p < NPCT; p++)
            printf("%s\"%s\":%.1f", p ? "," : "", pct_json[p], res[c].ns[p]);
        printf("}");
        first = 0;
    }
    printf("}}\n");
    free(samples);
    return 0;
}

/*
 * nblog-bench.c - caller-side latency of one logging call, nblog against a
 * floor and against the usual alternatives, all measured in the same run.
 *
 *   nblog-bench latency [--threads N] [--count M] [--runs R] [--json-only]
 *
 * main() also dispatches the other modes, each in its own file:
 *
 *   nblog-bench stuck ...        bench-stuck.c: caller latency and a file
 *                                output's progress while another output
 *                                is stuck
 *   nblog-bench throughput ...   bench-throughput.c: records to lines in a
 *                                file, end to end and the printer alone
 *   nblog-bench burst ...        bench-burst.c: what a burst into the
 *                                default ring loses
 *   nblog-bench crash ...        bench-crash.c: lines in a file after the
 *                                logging process dies of SIGSEGV
 *   nblog-bench reader ...       bench-reader.c: `nblog dmesg` over a ring
 *                                file beside journalctl over a journal
 *
 * The timer and percentile code they share is in bench-common.c, nblog's
 * setup with one file console and the goal lines in bench-pass.c.
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
 *   That is one run of a column. R rounds (default 5) run every column once
 *   each, in list order, so the columns are interleaved; each percentile
 *   reported is the median of its R runs.
 *
 * COLUMNS
 *
 *   One X-macro list, BENCH_COLUMNS, names every column with its setup,
 *   teardown and the call expression to time (which may use the int `i`, the
 *   iteration number). Each entry generates a timing loop with the call
 *   inlined between the two timer reads, so no column pays an indirect call
 *   the others do not. Adding a column is one line in the list.
 *
 *   The first column, `floor`, is the least a logger that keeps records
 *   can do per call (issue 15's floor): each thread its own prefaulted
 *   buffer, no reader, per call a raw rdtsc (as nblog stores one), a copy
 *   of the bytes a deferred record holds, and a release store of the
 *   thread's own write index. Every column is also shown as a ratio to it.
 *
 * OUTPUT
 *
 *   A table (unless --json-only), the goal lines, then as the last line one
 *   JSON object: {"bench":"latency","threads":N,"runs":R,"results":
 *   {"<column>":{"p50":..,"p99":..,"p999":..,"p9999":..,"max":..},...},
 *   "vs_floor":{"<column>":{"p50":..,"p99":..,"p999":..},...},
 *   "goals":[...]}, latencies in nanoseconds.
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
#include <x86intrin.h>

#include <nblog.h>

#include "bench-common.h"
#include "bench-modes.h"
#include "bench-pass.h"

#ifdef NBLOG_BENCH_SPDLOG
#include "bench-spdlog.h"
#endif

#define DEFAULT_COUNT 200000L /* timed calls in all, split over the threads */
#define MIN_COUNT 50000L      /* per thread, by default */
#define DEFAULT_RUNS 5
#define RUNS_MAX 15
#define THREADS_MAX 256
#define NOTE_MAX 200
#define FLUSH_MS 30000u

/* The thread's index among the column's workers (0..N-1), for the floor. */
static _Thread_local int worker_index;
static int latency_threads;

/* ---------------------------------------------------------------- columns */

/*
 * floor: a minimal per-thread SPSC store with no reader. Thread t writes
 * only floor_bufs[t]; the record is what a deferred record carries: the
 * raw TSC, a word of thread id, length and level, the format pointer, then
 * the arguments (int, double, the string's length and bytes): 56 bytes in
 * a 64-byte slot, the buffer used as a ring. The write index is published
 * with a release store [F1], which would pair with a reader's acquire load
 * of it; there is no reader here, so nothing else orders against it.
 */
#define FLOOR_BYTES (128u * 1024u) /* per thread, as quill's default queue */
#define FLOOR_SLOT 64u
#define FLOOR_STR_MAX 16u

struct floor_buf {
    _Alignas(64) _Atomic uint64_t head; /* records written: the writer's index */
    uint64_t tid;
    _Alignas(64) unsigned char data[FLOOR_BYTES];
};

static struct floor_buf *floor_bufs;

/* The record both the floor and shared_ring write: 56 bytes at rec. */
static inline void record_write(unsigned char *rec, uint64_t tid, const char *fmt,
                                int i, double v, const char *s)
{
    /* The string's length as a logger finds it at run time: s is opaque to
     * the compiler here, so strnlen is not folded for the literal. */
    __asm__("" : "+r"(s));
    size_t slen = strnlen(s, FLOOR_STR_MAX);
    /* Word by word, straight into the record: a header built on the stack
     * and copied would cost a failed store-to-load forward per call. */
    uint64_t ts = __rdtsc(), meta = tid << 32 | slen << 16 | NBLOG_LEVEL_INFO;
    uint64_t fp = (uint64_t)(uintptr_t)fmt;
    int64_t iv = i;
    memcpy(rec, &ts, 8);
    memcpy(rec + 8, &meta, 8);
    memcpy(rec + 16, &fp, 8);
    memcpy(rec + 24, &iv, 8);
    memcpy(rec + 32, &v, 8);
    memcpy(rec + 40, &slen, 2);
    memcpy(rec + 42, s, slen);
}

static inline int floor_log(const char *fmt, int i, double v, const char *s)
{
    struct floor_buf *b = &floor_bufs[worker_index];
    /* Relaxed: only this thread writes its own index. */
    uint64_t head = atomic_load_explicit(&b->head, memory_order_relaxed);
    record_write(b->data + ((head * FLOOR_SLOT) & (FLOOR_BYTES - 1)), b->tid, fmt,
                 i, v, s);
    /* F1: publishes the record to a reader (none). */
    atomic_store_explicit(&b->head, head + 1, memory_order_release);
    return 0;
}

static int floor_setup(void)
{
    size_t bytes = (size_t)latency_threads * sizeof *floor_bufs;
    floor_bufs = aligned_alloc(64, bytes);
    if (!floor_bufs) {
        fprintf(stderr, "nblog-bench: no memory for the floor's buffers\n");
        return -1;
    }
    memset(floor_bufs, 0, bytes); /* prefault */
    for (int t = 0; t < latency_threads; t++)
        floor_bufs[t].tid = (uint64_t)getpid() + (uint64_t)t;
    return 0;
}

static void floor_teardown(char *note, size_t cap)
{
    snprintf(note, cap, "per-thread %u KiB buffers, no reader", FLOOR_BYTES / 1024u);
    free(floor_bufs);
    floor_bufs = NULL;
}

/*
 * shared_ring: the floor's record in one ring all threads share, the least
 * a shared-ring design does: a relaxed fetch_add on the shared head claims
 * a slot, the record is written into it, and a release store of the slot's
 * state word (its seq + 1) commits it [S1], which would pair with a
 * reader's acquire load of that word; there is no reader. The ring, 8192
 * slots of 64 bytes plus their state words, is prefaulted at setup.
 */
#define SHARED_SLOTS 8192u
static _Alignas(64) _Atomic uint64_t shared_head;
static _Alignas(64) struct {
    _Atomic uint64_t state;
    unsigned char rec[FLOOR_SLOT - 8];
} shared_ring[SHARED_SLOTS];

static inline int shared_log(const char *fmt, int i, double v, const char *s)
{
    /* Relaxed: the claim orders nothing; S1 publishes the record. */
    uint64_t seq = atomic_fetch_add_explicit(&shared_head, 1, memory_order_relaxed);
    /* The record is 56 bytes: the slot's 64 less its state word. */
    _Static_assert(sizeof shared_ring[0].rec == 56, "a record is 56 bytes");
    unsigned k = (unsigned)seq & (SHARED_SLOTS - 1);
    record_write(shared_ring[k].rec, (uint64_t)worker_index, fmt, i, v, s);
    /* S1: commits the record to a reader (none). */
    atomic_store_explicit(&shared_ring[k].state, seq + 1, memory_order_release);
    return 0;
}

static int shared_setup(void)
{
    memset(shared_ring, 0, sizeof shared_ring); /* prefault */
    /* Relaxed: before the threads exist; pthread_create orders it. */
    atomic_store_explicit(&shared_head, 0, memory_order_relaxed);
    return 0;
}

static void no_note(char *note, size_t cap)
{
    (void)cap;
    note[0] = '\0';
}

/* nblog: the default ring (nblog_options_init), level INFO, and one file
 * console (threaded, plain) draining it while the callers log. */
static nblog_console_t *nblog_con;
static char nblog_path[128];
static int nblog_runs;

static int nblog_file_setup(void)
{
    bench_path(nblog_path, sizeof nblog_path, "latency", "nblog", nblog_runs++);
    return bench_nblog_open(nblog_path, 0, 0, NBLOG_FROM_NEXT, 0, &nblog_con);
}

static void nblog_file_teardown(char *note, size_t cap)
{
    struct bench_books b;
    bench_nblog_close(nblog_con, FLUSH_MS, &b);
    unlink(nblog_path);
    snprintf(note, cap,
             "ring %llux%llu B; console printed %llu, dropped %llu; "
             "ELOST %llu%s",
             (unsigned long long)b.ring_records, (unsigned long long)b.record_size,
             (unsigned long long)b.printed, (unsigned long long)b.dropped,
             (unsigned long long)b.lost, b.lagging ? "; FLUSH TIMED OUT" : "");
}

/* nblog_info_alone: the same store with no console: nothing reads the ring,
 * which overwrites its oldest records (the writer-alone case). */
static int nblog_alone_setup(void)
{
    return bench_nblog_init(0, 0);
}

static void nblog_alone_teardown(char *note, size_t cap)
{
    nblog_stats_t st;
    nblog_stats_get(&st);
    snprintf(note, cap, "no console; %llu stored", (unsigned long long)st.reserved);
    nblog_shutdown();
}

/* fprintf to a fully buffered FILE* on a file under /tmp. */
static FILE *bench_file;
static char bench_file_path[128];

static int fprintf_setup(void)
{
    bench_path(bench_file_path, sizeof bench_file_path, "latency", "fprintf", 0);
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
    no_note(note, cap);
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
 * X(name, setup, teardown, call): in output order, the floor first (every
 * ratio is to it). `call` is an int expression of `i`; a negative value
 * counts as an error. setup returns 0 or -1 (the column's run is then left
 * out); teardown writes a note for the table.
 */
#define BENCH_COLUMNS(X)                                                       \
    X(floor, floor_setup, floor_teardown,                                      \
      floor_log(BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME))                     \
    X(shared_ring, shared_setup, no_note,                                     \
      shared_log(BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME))                     \
    X(nblog_info, nblog_file_setup, nblog_file_teardown,                       \
      NBLOG_INFO(BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME))                    \
    X(nblog_printf, nblog_file_setup, nblog_file_teardown,                     \
      nblog_printf(NBLOG_LEVEL_INFO, BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME)) \
    X(nblog_info_alone, nblog_alone_setup, nblog_alone_teardown,               \
      NBLOG_INFO(BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME))                    \
    BENCH_SPDLOG_COLUMN(X)                                                     \
    X(fprintf, fprintf_setup, fprintf_teardown,                                \
      fprintf(bench_file, BENCH_FMT "\n", i, BENCH_VALUE(i), BENCH_NAME))

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
/* The percentiles shown as ratios to the floor. */
#define NRATIO 3

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
    int index;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    worker_index = w->index;
    w->errors = w->col->run(w->samples, w->n, w->warmup);
    return NULL;
}

/* Runs one column on nthreads threads; fills *res. Returns 0 or -1. */
static int run_column(const struct column *col, int nthreads, long count,
                      long warmup, uint64_t *samples,
                      const struct overhead *ovh, double ticks_per_ns,
                      struct result *res)
{
    static struct worker w[THREADS_MAX];
    memset(res, 0, sizeof *res);
    if (col->setup() != 0)
        return -1;
    if (pthread_barrier_init(&start_line, NULL, (unsigned)nthreads) != 0) {
        fprintf(stderr, "nblog-bench: pthread_barrier_init failed\n");
        exit(1);
    }
    for (int t = 0; t < nthreads; t++) {
        w[t] = (struct worker){.col = col, .samples = samples + (size_t)t * count,
                               .n = count, .warmup = warmup, .index = t};
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

/* The median over the runs that ran, percentile by percentile; the note of
 * the last run, the errors of all. */
static void median_result(const struct result *runs, int nruns, struct result *out)
{
    memset(out, 0, sizeof *out);
    double v[RUNS_MAX];
    int n;
    for (int p = 0; p <= NPCT; p++) {
        n = 0;
        for (int r = 0; r < nruns; r++)
            if (runs[r].ran)
                v[n++] = p < NPCT ? runs[r].ns[p] : runs[r].mean_ns;
        if (!n)
            return;
        if (p < NPCT)
            out->ns[p] = median_d(v, n);
        else
            out->mean_ns = median_d(v, n);
    }
    for (int r = 0; r < nruns; r++) {
        if (!runs[r].ran)
            continue;
        out->errors += runs[r].errors;
        memcpy(out->note, runs[r].note, sizeof out->note);
    }
    out->ran = 1;
}

static int column_index(const char *name)
{
    for (size_t c = 0; c < NCOLUMNS; c++)
        if (strcmp(columns[c].name, name) == 0)
            return (int)c;
    return -1;
}

/* A column's percentile, or -1 when the column did not run. */
static double col_ns(const struct result *res, int c, int p)
{
    return c >= 0 && res[c].ran ? res[c].ns[p] : -1;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: nblog-bench latency [--threads N] [--count M] [--runs R] "
               "[--json-only]\n"
               "       nblog-bench stuck [--count M] [--hold-ms T] [--runs R] [--json-only]\n"
               "       nblog-bench throughput [--threads N] [--count M] [--runs R]\n"
               "                              [--stamped] [--json-only]\n"
               "       nblog-bench burst [--size N] [--threads N] [--runs R] [--json-only]\n"
               "       nblog-bench crash [--count N] [--runs R] [--json-only]\n"
               "       nblog-bench reader [--count N] [--runs R] [--no-journald] [--json-only]\n"
               "latency:\n"
               "  --threads N  concurrent caller threads (default 1)\n"
               "  --count M    timed calls per thread (default %ld / N, at least %ld)\n"
               "  --runs R     rounds, every column once each (default %d; "
               "medians reported)\n"
               "  --json-only  print only the JSON line\n"
               "stuck, throughput, burst, crash, reader: see nblog-bench MODE --help\n",
            DEFAULT_COUNT, MIN_COUNT, DEFAULT_RUNS);
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
    if (argc >= 2 && strcmp(argv[1], "burst") == 0)
        return bench_burst_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "crash") == 0)
        return bench_crash_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "reader") == 0)
        return bench_reader_main(argc, argv);
    int help = argc >= 2 && strcmp(argv[1], "--help") == 0;
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
}

static void print_table(const struct result *res, long nthreads, long count,
                        long warmup, int runs, const struct overhead *ovh,
                        double ticks_per_ns)
{
    printf("nblog-bench latency: %ld thread(s), %ld timed calls each "
           "(+%ld warm-up), %d run(s) per column, interleaved, medians; "
           "not pinned; %ld CPUs online, load %.2f\n",
           nthreads, count, warmup, runs, sysconf(_SC_NPROCESSORS_ONLN),
           load_1min());
    printf("timer: lfence;rdtsc, %.4f ticks/ns (vs CLOCK_MONOTONIC), "
           "counter step %llu ticks = %.1f ns\n",
           ticks_per_ns, (unsigned long long)ovh->step,
           (double)ovh->step / ticks_per_ns);
    printf("empty timed pair: min %llu, median %llu, mean %.1f ticks; "
           "the median is subtracted from percentiles, the mean from means\n",
           (unsigned long long)ovh->min, (unsigned long long)ovh->med, ovh->mean);
#ifdef NBLOG_BENCH_LIB_UNOPTIMIZED
    printf("WARNING: libnblog was built without -O (see the cmake "
           "warning): the nblog column is not representative\n");
#endif
    printf("\n%-16s", "ns");
    for (int p = 0; p < NPCT; p++)
        printf(" %9s", pct_head[p]);
    printf(" %7s  %-22s  notes (last run)\n", "mean", "vs floor p50/p99/p99.9");
    for (size_t c = 0; c < NCOLUMNS; c++) {
        if (!res[c].ran)
            continue;
        printf("%-16s", columns[c].name);
        for (int p = 0; p < NPCT; p++)
            printf(" %9.1f", res[c].ns[p]);
        char r[NRATIO][16], rs[3 * 16 + 3];
        for (int p = 0; p < NRATIO; p++)
            ratio_str(r[p], res[c].ns[p], col_ns(res, 0, p));
        snprintf(rs, sizeof rs, "%s/%s/%s", r[0], r[1], r[2]);
        printf(" %7.1f  %-22s  %s", res[c].mean_ns, rs, res[c].note);
        if (res[c].errors)
            printf("%serrors returned in %d run(s): %ld",
                   res[c].note[0] ? "; " : "", runs, res[c].errors);
        printf("\n");
    }
    printf("\n");
}

static int latency_main(int argc, char **argv)
{
    long nthreads = 1, count = 0, runs = DEFAULT_RUNS;
    int json_only = 0;
    for (int a = 2; a < argc; a++) {
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(argv[a], "--threads") == 0) {
            nthreads = parse_long("--threads", val, 1, THREADS_MAX, usage);
            a++;
        } else if (strcmp(argv[a], "--count") == 0) {
            count = parse_long("--count", val, 1, 100000000L, usage);
            a++;
        } else if (strcmp(argv[a], "--runs") == 0) {
            runs = parse_long("--runs", val, 1, RUNS_MAX, usage);
            a++;
        } else {
            common_option(argv[a], &json_only, usage);
        }
    }
    if (!count)
        count = DEFAULT_COUNT / nthreads < MIN_COUNT ? MIN_COUNT
                                                     : DEFAULT_COUNT / nthreads;
    long warmup = count / 10 < 1000 ? 1000 : count / 10;
    latency_threads = (int)nthreads;

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

    static struct result per_run[NCOLUMNS][RUNS_MAX];
    for (int r = 0; r < runs; r++)
        for (size_t c = 0; c < NCOLUMNS; c++)
            if (run_column(&columns[c], (int)nthreads, count, warmup, samples,
                           &ovh, ticks_per_ns, &per_run[c][r]) != 0)
                fprintf(stderr, "nblog-bench: column %s, run %d left out\n",
                        columns[c].name, r);
    struct result res[NCOLUMNS];
    for (size_t c = 0; c < NCOLUMNS; c++)
        median_result(per_run[c], (int)runs, &res[c]);

    int info = column_index("nblog_info"), npf = column_index("nblog_printf");
    struct goal goals[] = {
        {.text = "NBLOG_INFO p50 <= 1.25x floor", .unit = GOAL_RATIO, .limit = 1.25},
        {.text = "NBLOG_INFO p99.9 <= 2x floor", .unit = GOAL_RATIO, .limit = 2},
        {.text = "nblog_printf p50 <= 2x NBLOG_INFO p50", .unit = GOAL_RATIO,
         .limit = 2},
    };
    goal_ratio(&goals[0], col_ns(res, info, P50), col_ns(res, 0, P50));
    goal_ratio(&goals[1], col_ns(res, info, P999), col_ns(res, 0, P999));
    goal_ratio(&goals[2], col_ns(res, npf, P50), col_ns(res, info, P50));
    int ngoals = (int)(sizeof goals / sizeof goals[0]);

    if (!json_only) {
        print_table(res, nthreads, count, warmup, (int)runs, &ovh, ticks_per_ns);
        goals_print(goals, ngoals);
        printf("\n");
    }

    printf("{\"bench\":\"latency\",\"threads\":%ld,\"runs\":%ld,\"results\":{",
           nthreads, runs);
    const char *sep = "";
    for (size_t c = 0; c < NCOLUMNS; c++) {
        if (!res[c].ran)
            continue;
        printf("%s\"%s\":{", sep, columns[c].name);
        for (int p = 0; p < NPCT; p++)
            printf("%s\"%s\":%.1f", p ? "," : "", pct_json[p], res[c].ns[p]);
        printf("}");
        sep = ",";
    }
    printf("},\"vs_floor\":{");
    sep = "";
    for (size_t c = 0; c < NCOLUMNS && res[0].ran; c++) {
        if (!res[c].ran)
            continue;
        printf("%s\"%s\":{", sep, columns[c].name);
        for (int p = 0; p < NRATIO; p++) {
            double den = res[0].ns[p];
            printf("%s\"%s\":", p ? "," : "", pct_json[p]);
            if (den > 0)
                printf("%.3f", res[c].ns[p] / den);
            else
                printf("null");
        }
        printf("}");
        sep = ",";
    }
    printf("}");
    goals_json(goals, ngoals);
    printf("}\n");
    free(samples);
    return 0;
}

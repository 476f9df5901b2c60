/*
 * bench-throughput.c - nblog-bench throughput: records stored to lines in a
 * file, end to end.
 *
 *   nblog-bench throughput [--threads N] [--count M] [--runs R] [--stamped]
 *                          [--json-only]
 *
 * SCENARIO (bench/README.md says more)
 *
 *   N threads (default: 1, then 2) each log M records (default 500,000) of
 *   the message every mode logs, as fast as they can, after a barrier. The
 *   clock starts at the earliest thread's first call and stops when
 *   everything logged is in the file:
 *
 *   nblog: when nblog_flush() returns 0 (every console has written every
 *   record stored before the call). One store for the whole mode, big
 *   enough for every record of a run (ring_records = N * M rounded up to a
 *   power of two, record_size 128), so nothing is overwritten however far
 *   the printer falls behind; a nblog_console_file() console (threaded,
 *   plain format, from the next record) per run.
 *
 *   spdlog_async (1.10): a thread pool of its own per run (queue 8192, one
 *   backend thread), async_overflow_policy::block (a full queue makes the
 *   caller wait: nothing is dropped), one basic_file_sink_mt, pattern "%v".
 *   The clock stops when flush() and the pool's destructor have returned:
 *   the destructor joins the backend thread after it has handled every
 *   queued entry, the flush included.
 *
 *   --stamped: nblog writes NBLOG_FORMAT_KMSG lines ("level,seq,usec,flags;
 *   text") and spdlog its default pattern ("[date time.ms] [name] [level]
 *   text"), so both format a timestamp per line.
 *
 *   Then the file is read and every line checked (bench-common.h,
 *   check_file): msgs_per_s = distinct expected records found / elapsed.
 *   A record missing from the file counts against its logger even if the
 *   logger did not report it.
 *
 * OUTPUT
 *
 *   A table (unless --json-only), then as the last line one JSON object:
 *   {"bench":"throughput","threads":T,"results":{"nblog":{"msgs_per_s":..,
 *   "dropped":..,"ring_bytes":..},"spdlog_async":{"msgs_per_s":..}},
 *   "by_threads":{"1":{...},"2":{...}}}: "results" holds the first thread
 *   count run (T), "by_threads" every thread count run, in the same form.
 *   msgs_per_s is the median of the R runs (default 3); dropped is the
 *   largest of the runs' (records the console skipped as overwritten plus
 *   NBLOG_ELOST).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nblog.h>

#include "bench-common.h"
#include "bench-modes.h"

#ifdef NBLOG_BENCH_SPDLOG
#include "bench-spdlog.h"
#endif

#define TP_COUNT 500000L
#define TP_RUNS 3
#define TP_RUNS_MAX 9
#define TP_THREADS_MAX 64
#define TP_RECORD_SIZE 128u
#define TP_FLUSH_MS 120000u

enum { NBLOG, SPDLOG, NLOGGERS };
static const char *const logger_name[NLOGGERS] = {"nblog", "spdlog_async"};

struct tp_run {
    int ran;
    double elapsed_ms, msgs_per_s;
    long calls, sent;
    struct file_check fc;
    uint64_t printed, dropped, lost, write_failed; /* nblog */
    int lagging;                                   /* nblog_flush's result */
    size_t overruns;                               /* spdlog */
};

struct worker {
    pthread_t thread;
    int logger;
    long count, sent;
    uint64_t start_ns;
};

static pthread_barrier_t go;

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    long sent = 0;
    pthread_barrier_wait(&go);
    w->start_ns = mono_ns();
    if (w->logger == NBLOG) {
        for (long k = 0; k < w->count; k++) {
            int i = (int)k;
            sent += nblog_printf(NBLOG_LEVEL_INFO, BENCH_FMT, i, BENCH_VALUE(i),
                                 BENCH_NAME) == NBLOG_OK;
        }
    }
#ifdef NBLOG_BENCH_SPDLOG
    else {
        for (long k = 0; k < w->count; k++)
            sent += bench_spdlog_async_info((int)k) == 0;
    }
#endif
    w->sent = sent;
    return NULL;
}

/* Starts nthreads workers, joins them; returns the earliest start time. */
static uint64_t run_workers(int logger, int nthreads, long count, long *sent)
{
    struct worker w[TP_THREADS_MAX];
    if (pthread_barrier_init(&go, NULL, (unsigned)nthreads) != 0) {
        fprintf(stderr, "nblog-bench: pthread_barrier_init failed\n");
        exit(1);
    }
    for (int t = 0; t < nthreads; t++) {
        w[t] = (struct worker){.logger = logger, .count = count};
        int rc = pthread_create(&w[t].thread, NULL, worker_main, &w[t]);
        if (rc != 0) {
            fprintf(stderr, "nblog-bench: pthread_create: %s\n", strerror(rc));
            exit(1);
        }
    }
    uint64_t start = UINT64_MAX;
    *sent = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(w[t].thread, NULL);
        if (w[t].start_ns < start)
            start = w[t].start_ns;
        *sent += w[t].sent;
    }
    pthread_barrier_destroy(&go);
    return start;
}

static void file_path(char *buf, size_t cap, const char *who, int id)
{
    snprintf(buf, cap, "/tmp/nblog-bench-%ld-throughput-%s-%d.log",
             (long)getpid(), who, id);
}

static void finish_run(const char *path, int nthreads, long count,
                       uint64_t start, uint64_t end, struct tp_run *r)
{
    r->elapsed_ms = (double)(end - start) / 1e6;
    r->calls = (long)nthreads * count;
    check_file(path, count, nthreads, &r->fc);
    r->msgs_per_s = (double)r->fc.found / ((double)(end - start) / 1e9);
    unlink(path);
    r->ran = 1;
}

static int run_nblog(int nthreads, long count, int stamped, int id, struct tp_run *r)
{
    memset(r, 0, sizeof *r);
    char path[96];
    file_path(path, sizeof path, "nblog", id);
    unlink(path);
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "file";
    o.format = stamped ? NBLOG_FORMAT_KMSG : NBLOG_FORMAT_PLAIN;
    nblog_console_t *con;
    int rc = nblog_console_file(path, 0, 0, &o, &con);
    if (rc != NBLOG_OK) {
        fprintf(stderr, "nblog-bench: nblog_console_file: %s\n", nblog_strerror(rc));
        return -1;
    }
    nblog_stats_t st0, st1;
    nblog_stats_get(&st0);
    uint64_t start = run_workers(NBLOG, nthreads, count, &r->sent);
    r->lagging = nblog_flush(TP_FLUSH_MS, NULL, 0);
    uint64_t end = mono_ns();
    nblog_stats_get(&st1);
    nblog_console_stats_t cs;
    nblog_console_stats(con, &cs);
    r->printed = cs.printed;
    r->dropped = cs.dropped;
    r->write_failed = cs.write_failed;
    r->lost = st1.lost - st0.lost;
    nblog_console_unregister(con);
    finish_run(path, nthreads, count, start, end, r);
    return 0;
}

#ifdef NBLOG_BENCH_SPDLOG
static int run_spdlog(int nthreads, long count, int stamped, int id, struct tp_run *r)
{
    memset(r, 0, sizeof *r);
    char path[96];
    file_path(path, sizeof path, "spdlog", id);
    unlink(path);
    struct bench_spdlog_cfg cfg = {
        .path = path, .overrun_oldest = 0, .stamped = stamped, .hold = NULL};
    if (bench_spdlog_async_setup(&cfg) != 0)
        return -1;
    uint64_t start = run_workers(SPDLOG, nthreads, count, &r->sent);
    long stuck_lines;
    bench_spdlog_async_finish(&r->overruns, &stuck_lines);
    uint64_t end = mono_ns();
    finish_run(path, nthreads, count, start, end, r);
    return 0;
}
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: nblog-bench throughput [--threads N] [--count M] [--runs R] "
               "[--stamped] [--json-only]\n"
               "  --threads N  logging threads (default: 1, then 2)\n"
               "  --count M    records per thread per run (default %ld)\n"
               "  --runs R     runs per logger and thread count (default %d; "
               "medians reported)\n"
               "  --stamped    nblog kmsg format, spdlog default pattern "
               "(default: the bare message)\n"
               "  --json-only  print only the JSON line\n",
            TP_COUNT, TP_RUNS);
}

struct tp_summary {
    int any[NLOGGERS];
    double msgs_per_s[NLOGGERS];
    uint64_t dropped; /* nblog, largest over the runs */
};

static void json_obj(const struct tp_summary *s, uint64_t ring_bytes)
{
    int first = 1;
    printf("{");
    if (s->any[NBLOG]) {
        printf("\"nblog\":{\"msgs_per_s\":%.0f,\"dropped\":%llu,\"ring_bytes\":%llu}",
               s->msgs_per_s[NBLOG], (unsigned long long)s->dropped,
               (unsigned long long)ring_bytes);
        first = 0;
    }
    if (s->any[SPDLOG])
        printf("%s\"spdlog_async\":{\"msgs_per_s\":%.0f}", first ? "" : ",",
               s->msgs_per_s[SPDLOG]);
    printf("}");
}

int bench_throughput_main(int argc, char **argv)
{
    long count = TP_COUNT, runs = TP_RUNS;
    int threads[2] = {1, 2}, nthreadcounts = 2;
    int json_only = 0, stamped = 0;
    for (int a = 2; a < argc; a++) {
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(argv[a], "--threads") == 0) {
            threads[0] = (int)parse_long("--threads", val, 1, TP_THREADS_MAX, usage);
            nthreadcounts = 1;
            a++;
        } else if (strcmp(argv[a], "--count") == 0) {
            count = parse_long("--count", val, 1000, 10000000L, usage);
            a++;
        } else if (strcmp(argv[a], "--runs") == 0) {
            runs = parse_long("--runs", val, 1, TP_RUNS_MAX, usage);
            a++;
        } else if (strcmp(argv[a], "--stamped") == 0) {
            stamped = 1;
        } else {
            common_option(argv[a], &json_only, usage);
        }
    }
    int max_threads = 0;
    for (int t = 0; t < nthreadcounts; t++)
        if (threads[t] > max_threads)
            max_threads = threads[t];
    uint64_t want = (uint64_t)max_threads * (uint64_t)count;
    if (want > (1u << 24)) {
        fprintf(stderr, "nblog-bench: threads * count = %llu records is more "
                        "than nblog's largest ring (2^24 records)\n",
                (unsigned long long)want);
        return 2;
    }

    /* One store for every run, holding all of a run's records. */
    nblog_options_t opt;
    nblog_options_init(&opt);
    /* Only the consoles the bench registers (no default, no NBLOG_CONSOLES). */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    opt.ring_records = (size_t)want;
    opt.record_size = TP_RECORD_SIZE;
    int rc = nblog_init(&opt);
    if (rc != NBLOG_OK) {
        fprintf(stderr, "nblog-bench: nblog_init: %s\n", nblog_strerror(rc));
        return 1;
    }
    nblog_stats_t nst;
    nblog_stats_get(&nst);
    uint64_t ring_bytes = nst.ring_records * nst.record_size;

    static struct tp_run res[2][NLOGGERS][TP_RUNS_MAX];
    struct tp_summary sum[2];
    memset(sum, 0, sizeof sum);
    int id = 0;
    for (int t = 0; t < nthreadcounts; t++) {
        for (int k = 0; k < runs; k++) {
            run_nblog(threads[t], count, stamped, id++, &res[t][NBLOG][k]);
#ifdef NBLOG_BENCH_SPDLOG
            run_spdlog(threads[t], count, stamped, id++, &res[t][SPDLOG][k]);
#endif
        }
        for (int l = 0; l < NLOGGERS; l++) {
            double v[TP_RUNS_MAX];
            int n = 0;
            for (int k = 0; k < runs; k++) {
                const struct tp_run *r = &res[t][l][k];
                if (!r->ran)
                    continue;
                v[n++] = r->msgs_per_s;
                if (l == NBLOG && r->dropped + r->lost > sum[t].dropped)
                    sum[t].dropped = r->dropped + r->lost;
            }
            if (n) {
                sum[t].any[l] = 1;
                sum[t].msgs_per_s[l] = median_d(v, n);
            }
        }
    }

    if (!json_only) {
        printf("nblog-bench throughput: %ld records per thread per run, %ld "
               "run(s), %s lines; %ld CPUs online, load %.2f\n",
               count, runs, stamped ? "stamped" : "bare-message",
               sysconf(_SC_NPROCESSORS_ONLN), load_1min());
        printf("nblog ring: %llu records of %llu bytes = %llu bytes (text up "
               "to %llu bytes)\n",
               (unsigned long long)nst.ring_records,
               (unsigned long long)nst.record_size,
               (unsigned long long)ring_bytes, (unsigned long long)nst.text_max);
#ifdef NBLOG_BENCH_LIB_UNOPTIMIZED
        printf("WARNING: libnblog was built without -O (see the cmake "
               "warning): the nblog figures are not representative\n");
#endif
        printf("\n%-13s %3s %2s %10s %11s %9s %9s %6s %5s %5s  notes\n", "logger",
               "thr", "#", "elapsed_ms", "msgs_per_s", "sent", "in_file",
               "missing", "dup", "bad");
        for (int t = 0; t < nthreadcounts; t++)
            for (int k = 0; k < runs; k++)
                for (int l = 0; l < NLOGGERS; l++) {
                    const struct tp_run *r = &res[t][l][k];
                    if (!r->ran)
                        continue;
                    printf("%-13s %3d %2d %10.1f %11.0f %9ld %9ld %6ld %5ld %5ld  ",
                           logger_name[l], threads[t], k, r->elapsed_ms,
                           r->msgs_per_s, r->sent, r->fc.found,
                           r->calls - r->fc.found, r->fc.dup, r->fc.bad);
                    if (l == NBLOG) {
                        printf("printed %llu, dropped %llu, ELOST %llu, write "
                               "failed %llu",
                               (unsigned long long)r->printed,
                               (unsigned long long)r->dropped,
                               (unsigned long long)r->lost,
                               (unsigned long long)r->write_failed);
                        if (r->lagging)
                            printf(", FLUSH TIMED OUT");
                    } else {
                        printf("queue overruns %zu", r->overruns);
                    }
                    if (r->fc.other)
                        printf(", %ld other lines", r->fc.other);
                    printf("\n");
                }
        printf("\nmedians:");
        for (int t = 0; t < nthreadcounts; t++)
            for (int l = 0; l < NLOGGERS; l++)
                if (sum[t].any[l])
                    printf(" %s %d thread(s) %.0f msgs/s;", logger_name[l],
                           threads[t], sum[t].msgs_per_s[l]);
        printf("\n\n");
    }

    printf("{\"bench\":\"throughput\",\"threads\":%d,\"results\":", threads[0]);
    json_obj(&sum[0], ring_bytes);
    printf(",\"by_threads\":{");
    for (int t = 0; t < nthreadcounts; t++) {
        printf("%s\"%d\":", t ? "," : "", threads[t]);
        json_obj(&sum[t], ring_bytes);
    }
    printf("}}\n");
    nblog_shutdown();
    return 0;
}

/*
 * bench-pass.c - one pass of the bench message through a logger into a
 * file, nblog's setup with one file console, and goal lines (see
 * bench-pass.h).
 *
 * A pass, step by step:
 *   1. set the logger up on a new file (nblog: nblog_init and, unless
 *      printer only, the file console; spdlog: a thread pool of its own);
 *   2. start `threads` workers; each waits at a barrier, takes its start
 *      time, logs `count` records, takes its end time;
 *   3. join them; nblog printer only: the clock starts now, the file
 *      console is registered from the oldest record;
 *   4. drain: nblog_flush until it returns 0 (polls every 1 ms), or
 *      spdlog's flush and the pool's destructor (joins its backend after
 *      every queued entry), or fclose; the clock stops, and the process's
 *      CPU time since the workers started (printer only: since the
 *      console's registration) is taken;
 *   5. nblog: the console's and nblog's counters; then the file is read
 *      and every line checked, and deleted.
 */
#include "bench-pass.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef NBLOG_BENCH_SPDLOG
#include "bench-spdlog.h"
#endif

#define PASS_THREADS_MAX 256
#define PASS_FLUSH_MS 120000u
/* Printer only: slots the message fits in with room to spare (its text is
 * at most 47 bytes); the smallest record_size nblog takes. */
#define PASS_PRINTER_RECORD_SIZE 128u

const char *const pass_way_name[NWAYS] = {"nblog_info", "nblog_printf",
                                          "spdlog_async", "fprintf"};

/* ------------------------------------------------------------- nblog setup */

static nblog_stats_t opened_stats;

int bench_nblog_init(size_t ring_records, size_t record_size)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    if (ring_records)
        opt.ring_records = ring_records;
    if (record_size)
        opt.record_size = record_size;
    int rc = nblog_init(&opt);
    if (rc != NBLOG_OK) {
        fprintf(stderr, "nblog-bench: nblog_init: %s\n", nblog_strerror(rc));
        return -1;
    }
    nblog_stats_get(&opened_stats);
    return 0;
}

int bench_nblog_console(const char *path, int start, int stamped,
                        nblog_console_t **con)
{
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "bench-file";
    o.level = NBLOG_LEVEL_INFO;
    o.format = stamped ? NBLOG_FORMAT_KMSG : NBLOG_FORMAT_PLAIN;
    o.start = start;
    unlink(path); /* the console appends */
    int rc = nblog_console_file(path, 0, 0, &o, con);
    if (rc != NBLOG_OK) {
        fprintf(stderr, "nblog-bench: nblog_console_file: %s\n", nblog_strerror(rc));
        return -1;
    }
    return 0;
}

int bench_nblog_open(const char *path, size_t ring_records, size_t record_size,
                     int start, int stamped, nblog_console_t **con)
{
    if (bench_nblog_init(ring_records, record_size) != 0)
        return -1;
    if (bench_nblog_console(path, start, stamped, con) != 0) {
        nblog_shutdown();
        return -1;
    }
    return 0;
}

void bench_nblog_close(nblog_console_t *con, unsigned flush_ms,
                       struct bench_books *b)
{
    memset(b, 0, sizeof *b);
    b->lagging = nblog_flush(flush_ms, NULL, 0);
    nblog_console_stats_t cs;
    if (nblog_console_stats(con, &cs) == NBLOG_OK) {
        b->printed = cs.printed;
        b->filtered = cs.filtered;
        b->dropped = cs.dropped;
        b->write_failed = cs.write_failed;
    }
    nblog_stats_t st;
    nblog_stats_get(&st);
    b->lost = st.lost - opened_stats.lost;
    b->ring_records = st.ring_records;
    b->record_size = st.record_size;
    b->text_max = st.text_max;
    nblog_console_unregister(con);
    nblog_shutdown();
}

void bench_path(char *buf, size_t cap, const char *mode, const char *who, int id)
{
    snprintf(buf, cap, "/tmp/nblog-bench-%ld-%s-%s-%d.log", (long)getpid(),
             mode, who, id);
}

/* ------------------------------------------------------------------ passes */

static FILE *pass_file; /* WAY_FPRINTF */

/* CPU time of the whole process (every thread), in ns. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct worker {
    pthread_t thread;
    int way;
    long count, sent;
    uint64_t start_ns, end_ns;
};

static pthread_barrier_t go;

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    long sent = 0;
    pthread_barrier_wait(&go);
    w->start_ns = mono_ns();
    switch (w->way) {
    case WAY_INFO:
        for (long k = 0; k < w->count; k++) {
            int i = (int)k;
            sent += NBLOG_INFO(BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME) == NBLOG_OK;
        }
        break;
    case WAY_PRINTF:
        for (long k = 0; k < w->count; k++) {
            int i = (int)k;
            sent += nblog_printf(NBLOG_LEVEL_INFO, BENCH_FMT, i, BENCH_VALUE(i),
                                 BENCH_NAME) == NBLOG_OK;
        }
        break;
#ifdef NBLOG_BENCH_SPDLOG
    case WAY_SPDLOG:
        for (long k = 0; k < w->count; k++)
            sent += bench_spdlog_async_info((int)k) == 0;
        break;
#endif
    case WAY_FPRINTF:
        for (long k = 0; k < w->count; k++) {
            int i = (int)k;
            sent += fprintf(pass_file, BENCH_FMT "\n", i, BENCH_VALUE(i),
                            BENCH_NAME) > 0;
        }
        break;
    default:
        break;
    }
    w->end_ns = mono_ns();
    w->sent = sent;
    return NULL;
}

/* Starts the workers, joins them; *start gets the earliest start, *end the
 * latest end, and the return value the calls that said they stored. */
static long run_workers(int way, int nthreads, long count, uint64_t *start,
                        uint64_t *end)
{
    static struct worker w[PASS_THREADS_MAX];
    if (pthread_barrier_init(&go, NULL, (unsigned)nthreads) != 0) {
        fprintf(stderr, "nblog-bench: pthread_barrier_init failed\n");
        exit(1);
    }
    for (int t = 0; t < nthreads; t++) {
        w[t] = (struct worker){.way = way, .count = count};
        int rc = pthread_create(&w[t].thread, NULL, worker_main, &w[t]);
        if (rc != 0) {
            fprintf(stderr, "nblog-bench: pthread_create: %s\n", strerror(rc));
            exit(1);
        }
    }
    long sent = 0;
    *start = UINT64_MAX;
    *end = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(w[t].thread, NULL);
        if (w[t].start_ns < *start)
            *start = w[t].start_ns;
        if (w[t].end_ns > *end)
            *end = w[t].end_ns;
        sent += w[t].sent;
    }
    pthread_barrier_destroy(&go);
    return sent;
}

/* Steps 1-4 for nblog; returns 0 or -1. */
static int pass_nblog(const struct pass_cfg *cfg, const char *path,
                      struct pass_result *r, uint64_t *t0, uint64_t *t1,
                      uint64_t *cpu0)
{
    nblog_console_t *con;
    uint64_t calls_end;
    if (cfg->printer_only) {
        if (bench_nblog_init(r->calls, PASS_PRINTER_RECORD_SIZE) != 0)
            return -1;
        r->sent = run_workers(cfg->way, cfg->threads, cfg->count, t0, &calls_end);
        r->caller_ms = (double)(calls_end - *t0) / 1e6;
        *t0 = mono_ns();
        *cpu0 = cpu_ns();
        if (bench_nblog_console(path, NBLOG_FROM_OLDEST, cfg->stamped, &con) != 0) {
            nblog_shutdown();
            return -1;
        }
    } else {
        if (bench_nblog_open(path, 0, 0, NBLOG_FROM_NEXT, cfg->stamped, &con) != 0)
            return -1;
        *cpu0 = cpu_ns();
        r->sent = run_workers(cfg->way, cfg->threads, cfg->count, t0, &calls_end);
        r->caller_ms = (double)(calls_end - *t0) / 1e6;
    }
    /* The clock stops when the flush has returned; the counters and the
     * shutdown come after it. */
    r->books.lagging = nblog_flush(PASS_FLUSH_MS, NULL, 0);
    *t1 = mono_ns();
    r->cpu_ms = (double)(cpu_ns() - *cpu0) / 1e6;
    int lagging = r->books.lagging;
    bench_nblog_close(con, PASS_FLUSH_MS, &r->books);
    r->books.lagging |= lagging;
    return 0;
}

int bench_pass(const struct pass_cfg *cfg, struct pass_result *r)
{
    memset(r, 0, sizeof *r);
    if (cfg->threads < 1 || cfg->threads > PASS_THREADS_MAX)
        return -1;
    char path[128];
    bench_path(path, sizeof path, cfg->mode, pass_way_name[cfg->way], cfg->id);
    r->calls = (long)cfg->threads * cfg->count;
    uint64_t t0 = 0, t1 = 0, cpu0 = 0, calls_end;
    switch (cfg->way) {
    case WAY_INFO:
    case WAY_PRINTF:
        if (pass_nblog(cfg, path, r, &t0, &t1, &cpu0) != 0)
            return -1;
        break;
    case WAY_SPDLOG: {
#ifdef NBLOG_BENCH_SPDLOG
        unlink(path);
        struct bench_spdlog_cfg sc = {.path = path,
                                      .overrun_oldest = cfg->spdlog_overrun,
                                      .stamped = cfg->stamped,
                                      .hold = NULL};
        if (bench_spdlog_async_setup(&sc) != 0)
            return -1;
        cpu0 = cpu_ns();
        r->sent = run_workers(cfg->way, cfg->threads, cfg->count, &t0, &calls_end);
        r->caller_ms = (double)(calls_end - t0) / 1e6;
        long stuck_lines;
        bench_spdlog_async_finish(&r->overruns, &stuck_lines);
        t1 = mono_ns();
        r->cpu_ms = (double)(cpu_ns() - cpu0) / 1e6;
        break;
#else
        return -1;
#endif
    }
    case WAY_FPRINTF:
        pass_file = fopen(path, "w");
        if (!pass_file) {
            fprintf(stderr, "nblog-bench: %s: %s\n", path, strerror(errno));
            return -1;
        }
        cpu0 = cpu_ns();
        r->sent = run_workers(cfg->way, cfg->threads, cfg->count, &t0, &calls_end);
        r->caller_ms = (double)(calls_end - t0) / 1e6;
        fclose(pass_file);
        pass_file = NULL;
        t1 = mono_ns();
        r->cpu_ms = (double)(cpu_ns() - cpu0) / 1e6;
        break;
    default:
        return -1;
    }
    r->elapsed_ms = (double)(t1 - t0) / 1e6;
    int checked = check_file(path, cfg->count, cfg->threads, &r->fc);
    unlink(path);
    if (checked != 0)
        return -1;
    r->lines_per_s = t1 > t0 ? (double)r->fc.found / ((double)(t1 - t0) / 1e9) : 0;
    r->ran = 1;
    return 0;
}

long pass_logger_lost(int way, const struct pass_result *r)
{
    switch (way) {
    case WAY_INFO:
    case WAY_PRINTF:
        /* A writer that got NBLOG_ELOST had been handed a seq it never
         * committed: the console skips that seq and counts it dropped, so
         * ELOST is already in dropped. */
        return (long)(r->books.dropped + r->books.write_failed);
    case WAY_SPDLOG:
        return (long)r->overruns;
    default:
        return 0;
    }
}

long pass_file_lost(const struct pass_result *r)
{
    return r->calls - r->fc.found;
}

/* ------------------------------------------------------------------- goals */

void goal_ratio(struct goal *g, double num, double den)
{
    g->known = num >= 0 && den > 0;
    g->value = g->known ? num / den : 0;
}

void goal_value(struct goal *g, double value)
{
    g->known = 1;
    g->value = value;
}

int goal_met(const struct goal *g)
{
    if (!g->known)
        return 0;
    return g->at_least ? g->value >= g->limit : g->value <= g->limit;
}

static void goal_fmt(char *buf, size_t cap, int unit, double v)
{
    switch (unit) {
    case GOAL_RATIO:
        snprintf(buf, cap, "x%.2f", v);
        break;
    case GOAL_RATE:
        snprintf(buf, cap, "%.2fM lines/s", v / 1e6);
        break;
    default:
        snprintf(buf, cap, "%.0f", v);
        break;
    }
}

void goals_print(const struct goal *g, int n)
{
    for (int k = 0; k < n; k++) {
        char v[32];
        if (!g[k].known) {
            printf("goal: %s: not measured (a figure is missing or 0)\n", g[k].text);
            continue;
        }
        goal_fmt(v, sizeof v, g[k].unit, g[k].value);
        printf("goal: %s: %s %s\n", g[k].text, v, goal_met(&g[k]) ? "met" : "MISSED");
    }
}

void goals_json(const struct goal *g, int n)
{
    printf(",\"goals\":[");
    for (int k = 0; k < n; k++) {
        printf("%s{\"goal\":\"%s\",\"value\":", k ? "," : "", g[k].text);
        if (g[k].known)
            printf("%.6g", g[k].value);
        else
            printf("null");
        printf(",\"limit\":%.6g,\"met\":%s}", g[k].limit,
               goal_met(&g[k]) ? "true" : "false");
    }
    printf("]");
}

const char *ratio_str(char *buf, double num, double den)
{
    if (den > 0 && num >= 0)
        snprintf(buf, 16, "x%.2f", num / den);
    else
        snprintf(buf, 16, "-");
    return buf;
}

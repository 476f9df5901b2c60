/*
 * bench-stuck.c - nblog-bench stuck: what a caller and a healthy output pay
 * while another output is stuck.
 *
 *   nblog-bench stuck [--count M] [--hold-ms T] [--runs R] [--json-only]
 *
 * SCENARIO (bench/README.md says more)
 *
 *   Two outputs: a file under /tmp, and a "stuck" one whose write first
 *   locks, then unlocks, a mutex the harness holds for T ms (default 5000)
 *   from before the outputs are set up. One thread makes 20,000 untimed
 *   warm-up calls at DEBUG (stored, then dropped by both outputs, which
 *   take INFO and above), then M (default 200,000) timed calls at INFO of
 *   the message every mode logs, each between two `lfence; rdtsc` reads
 *   (bench-common.h). Once T ms have passed since the mutex was taken, just
 *   before it is released, the file is read: the records found in it are
 *   `fast_during_stall`. Then the mutex is released, everything is flushed
 *   and the file is read again.
 *
 *   nblog: the defaults (8192 records of 512 bytes; store level DEBUG), a
 *   nblog_console_file() console and a nblog_console_register() console,
 *   both threaded, plain format, level INFO, from the next record. The call
 *   is nblog_printf(), which formats on the caller.
 *
 *   spdlog_async (spdlog 1.10): a thread pool of its own (queue 8192, one
 *   backend thread), an async_logger with overrun_oldest and two sinks, a
 *   basic_file_sink_mt and then the stuck sink, both level INFO, pattern
 *   "%v" (the bare message, as nblog's plain format writes it).
 *
 *   Each is run R times (default 3) with the stuck output stuck and R times
 *   with the mutex never held, interleaved; the JSON holds the medians.
 *
 * SYSTEM CALLS (bench-syscount.h)
 *
 *   The timing loop reads, after every call and outside the timed window,
 *   a thread-local count of syscall(3) calls that libnblog makes through
 *   the bench's syscall() wrapper: the fraction of calls that made one.
 *   One more stuck nblog run, not timed for the results, counts every
 *   system call the thread enters with a perf tracepoint counter, to check
 *   that nothing entered the kernel another way. If the two disagree, the
 *   fraction is reported as null.
 *
 * OUTPUT
 *
 *   A table (unless --json-only), then as the last line one JSON object:
 *   {"bench":"stuck","results":{"nblog":{"p50":..,"p999":..,"p9999":..,
 *   "unstuck_p999":..,"fast_during_stall":..,"sent":..,"syscall_fraction":..},
 *   "spdlog_async":{... the same without syscall_fraction}}}; latencies in
 *   nanoseconds.
 */
#include <errno.h>
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
#include "bench-syscount.h"

#ifdef NBLOG_BENCH_SPDLOG
#include "bench-spdlog.h"
#endif

#define STUCK_COUNT 200000L
#define STUCK_WARMUP 20000L
#define STUCK_HOLD_MS 5000L
#define STUCK_RUNS 3
#define STUCK_RUNS_MAX 9
#define FLUSH_MS 10000u

enum { NBLOG, SPDLOG, NLOGGERS };
static const char *const logger_name[NLOGGERS] = {"nblog", "spdlog_async"};

/* The mutex the stuck output waits for. */
static pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;

struct run {
    int ran, stuck, counting;
    /* The timed calls. */
    double ns[5]; /* p50, p99, p99.9, p99.99, max */
    double loop_ms;
    long calls, sent;
    long with_syscall;            /* calls during which syscall(3) ran */
    uint64_t syscall3, futex;     /* syscall(3) calls in the loop, futex ones */
    uint64_t wake0;               /* futex wakes that woke nobody */
    double sys_p50, nosys_p50, nosys_p999; /* calls with / without one */
    long long kernel;             /* counting run: kernel entries, or -1 */
    /* Just before the release (stuck runs). */
    struct file_check at_release;
    long stuck_lines_at_release;
    uint64_t con_printed_at_release, con_dropped_at_release;
    /* After the flush. */
    struct file_check after;
    int lagging;                  /* nblog_flush's result */
    char lagging_names[64];
    uint64_t con_printed, con_dropped, stuck_printed, stuck_dropped, lost;
    long stuck_lines;
    size_t overruns;              /* spdlog */
};

/* ------------------------------------------------------ the stuck console */

struct stuck_out {
    _Atomic long writes, atomic_writes, lines;
    _Atomic int gone; /* teardown ran */
};

static long count_lines(const char *buf, size_t len)
{
    long n = 0;
    for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf))); p++)
        n++;
    return n;
}

/* May block (printer thread only): waits for the mutex, then "writes". */
static ssize_t stuck_write(void *ctx, const char *buf, size_t len)
{
    struct stuck_out *o = ctx;
    pthread_mutex_lock(&hold);
    pthread_mutex_unlock(&hold);
    atomic_fetch_add(&o->writes, 1);
    atomic_fetch_add(&o->lines, count_lines(buf, len));
    return (ssize_t)len;
}

/* Never blocks: -EAGAIN while the mutex is held. Used by nblog only for
 * emergency records and direct mode, neither of which happens here; the
 * counter says if it ever did. */
static ssize_t stuck_write_atomic(void *ctx, const char *buf, size_t len)
{
    struct stuck_out *o = ctx;
    if (pthread_mutex_trylock(&hold) != 0)
        return -EAGAIN;
    pthread_mutex_unlock(&hold);
    atomic_fetch_add(&o->atomic_writes, 1);
    atomic_fetch_add(&o->lines, count_lines(buf, len));
    return (ssize_t)len;
}

static void stuck_teardown(void *ctx)
{
    struct stuck_out *o = ctx;
    atomic_store(&o->gone, 1);
}

static const nblog_console_ops_t stuck_ops = {
    .write = stuck_write,
    .write_atomic = stuck_write_atomic,
    .teardown = stuck_teardown,
};

/* ------------------------------------------------------------ timing loops */

/* Untimed warm-up, then n timed calls; the syscall(3) count is read after
 * every call, outside the timed window, and a call that made one is marked
 * in its sample's top bit. `ok` says whether the call stored its record. */
#define SYS_BIT 63
#define STUCK_LOOP(name, warm_call, call, ok)                                  \
    static void loop_##name(uint64_t *samples, long n, long warmup, int kfd,   \
                            struct run *res)                                   \
    {                                                                          \
        for (long k = 0; k < warmup; k++) {                                    \
            int i = (int)k;                                                    \
            (void)(warm_call);                                                 \
        }                                                                      \
        long sent = 0, with = 0;                                               \
        if (kfd >= 0)                                                          \
            kcount_start(kfd);                                                 \
        uint64_t sc0 = bench_syscall3_calls, fx0 = bench_syscall3_futex;       \
        uint64_t wk0 = bench_syscall3_wake0, prev = sc0;                       \
        uint64_t start = mono_ns();                                            \
        for (long k = 0; k < n; k++) {                                         \
            int i = (int)k;                                                    \
            uint64_t t0 = tsc_read();                                          \
            int rc = (call);                                                   \
            uint64_t t1 = tsc_read();                                          \
            sent += (ok);                                                      \
            uint64_t sc = bench_syscall3_calls;                                \
            samples[k] = (t1 - t0) | (uint64_t)(sc != prev) << SYS_BIT;         \
            with += sc != prev;                                                \
            prev = sc;                                                         \
        }                                                                      \
        uint64_t end = mono_ns();                                              \
        res->kernel = kfd >= 0 ? kcount_stop(kfd) : -1;                        \
        res->loop_ms = (double)(end - start) / 1e6;                            \
        res->calls = n;                                                        \
        res->sent = sent;                                                      \
        res->with_syscall = with;                                              \
        res->syscall3 = bench_syscall3_calls - sc0;                            \
        res->futex = bench_syscall3_futex - fx0;                               \
        res->wake0 = bench_syscall3_wake0 - wk0;                               \
    }

STUCK_LOOP(nblog,
           nblog_printf(NBLOG_LEVEL_DEBUG, BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME),
           nblog_printf(NBLOG_LEVEL_INFO, BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME),
           rc == NBLOG_OK)
#ifdef NBLOG_BENCH_SPDLOG
STUCK_LOOP(spdlog, bench_spdlog_async_debug(i), bench_spdlog_async_info(i),
           rc == 0)
#endif

/* ------------------------------------------------------------------ runs */

struct params {
    long count, warmup, hold_ms;
    uint64_t *samples;
    const struct overhead *ovh;
    double ticks_per_ns;
    int kfd; /* kernel counter for the counting run, or -1 */
};

static void sleep_until(uint64_t when_ns)
{
    for (;;) {
        uint64_t now = mono_ns();
        if (now >= when_ns)
            return;
        uint64_t d = when_ns - now;
        struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
        nanosleep(&ts, NULL);
    }
}

static void percentiles(const struct params *pp, long n, struct run *res)
{
    static const uint64_t ppm[5] = {500000, 990000, 999000, 999900, 1000000};
    const uint64_t mark = (uint64_t)1 << SYS_BIT;
    /* Marked samples (calls that made a system call) sort last. */
    qsort(pp->samples, (size_t)n, sizeof *pp->samples, cmp_u64);
    size_t plain = (size_t)(n - res->with_syscall);
    res->nosys_p50 = pct_ns(pp->samples, plain, 500000, pp->ovh, pp->ticks_per_ns);
    res->nosys_p999 = pct_ns(pp->samples, plain, 999000, pp->ovh, pp->ticks_per_ns);
    for (long k = 0; k < n; k++)
        pp->samples[k] &= ~mark;
    res->sys_p50 = pct_ns(pp->samples + plain, (size_t)res->with_syscall, 500000,
                          pp->ovh, pp->ticks_per_ns);
    qsort(pp->samples, (size_t)n, sizeof *pp->samples, cmp_u64);
    for (int p = 0; p < 5; p++)
        res->ns[p] = pct_ns(pp->samples, (size_t)n, ppm[p], pp->ovh, pp->ticks_per_ns);
}

static void file_path(char *buf, size_t cap, const char *who, int run)
{
    snprintf(buf, cap, "/tmp/nblog-bench-%ld-stuck-%s-%d.log", (long)getpid(),
             who, run);
}

/*
 * One nblog run. stuck: hold the mutex for hold_ms from before the consoles
 * are registered. counting: hold it only for the timed loop and count the
 * kernel entries (its timings are not part of the results).
 */
static int run_nblog(const struct params *pp, int stuck, int counting, int id,
                     struct run *res)
{
    memset(res, 0, sizeof *res);
    res->stuck = stuck;
    res->counting = counting;
    res->kernel = -1;
    char path[96];
    file_path(path, sizeof path, "nblog", id);
    unlink(path);

    struct stuck_out *so = calloc(1, sizeof *so);
    if (!so) {
        fprintf(stderr, "nblog-bench: no memory\n");
        return -1;
    }
    uint64_t held_at = 0;
    if (stuck) {
        pthread_mutex_lock(&hold);
        held_at = mono_ns();
    }
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.level = NBLOG_LEVEL_INFO;
    o.name = "file";
    nblog_console_t *file = NULL, *sc = NULL;
    int rc = nblog_console_file(path, 0, 0, &o, &file);
    if (rc == NBLOG_OK) {
        o.name = "stuck";
        rc = nblog_console_register(&stuck_ops, so, &o, &sc);
        if (rc != NBLOG_OK) {
            free(so);
            so = NULL;
        }
    } else {
        free(so);
        so = NULL;
    }
    if (rc != NBLOG_OK) {
        fprintf(stderr, "nblog-bench: registering a console: %s\n",
                nblog_strerror(rc));
        if (file)
            nblog_console_unregister(file);
        if (stuck)
            pthread_mutex_unlock(&hold);
        unlink(path);
        return -1;
    }
    nblog_stats_t st0, st1;
    nblog_stats_get(&st0);

    loop_nblog(pp->samples, pp->count, pp->warmup, counting ? pp->kfd : -1, res);

    nblog_console_stats_t cs;
    if (stuck && !counting) {
        sleep_until(held_at + (uint64_t)pp->hold_ms * 1000000u);
        /* The moment just before the release. */
        nblog_console_stats(file, &cs);
        res->con_printed_at_release = cs.printed;
        res->con_dropped_at_release = cs.dropped;
        res->stuck_lines_at_release = atomic_load(&so->lines);
        check_file(path, pp->count, 1, &res->at_release);
    }
    if (stuck)
        pthread_mutex_unlock(&hold);

    res->lagging = nblog_flush(FLUSH_MS, res->lagging_names,
                               sizeof res->lagging_names);
    nblog_stats_get(&st1);
    res->lost = st1.lost - st0.lost;
    nblog_console_stats(file, &cs);
    res->con_printed = cs.printed;
    res->con_dropped = cs.dropped;
    nblog_console_stats(sc, &cs);
    res->stuck_printed = cs.printed;
    res->stuck_dropped = cs.dropped;
    res->stuck_lines = atomic_load(&so->lines);
    check_file(path, pp->count, 1, &res->after);
    nblog_console_unregister(file);
    nblog_console_unregister(sc);
    /* The stuck console's context is ours: free it once its teardown ran
     * (its printer lets go after its current write). */
    for (int k = 0; k < 2000 && !atomic_load(&so->gone); k++)
        sleep_until(mono_ns() + 1000000u);
    if (atomic_load(&so->gone))
        free(so);
    else
        fprintf(stderr, "nblog-bench: the stuck console was not torn down "
                        "2 s after unregistering (its context is leaked)\n");
    unlink(path);
    percentiles(pp, pp->count, res);
    res->ran = 1;
    return 0;
}

#ifdef NBLOG_BENCH_SPDLOG
static int run_spdlog(const struct params *pp, int stuck, int id, struct run *res)
{
    memset(res, 0, sizeof *res);
    res->stuck = stuck;
    res->kernel = -1;
    char path[96];
    file_path(path, sizeof path, "spdlog", id);
    unlink(path);
    uint64_t held_at = 0;
    if (stuck) {
        pthread_mutex_lock(&hold);
        held_at = mono_ns();
    }
    struct bench_spdlog_cfg cfg = {
        .path = path, .overrun_oldest = 1, .stamped = 0, .hold = &hold};
    if (bench_spdlog_async_setup(&cfg) != 0) {
        if (stuck)
            pthread_mutex_unlock(&hold);
        return -1;
    }
    loop_spdlog(pp->samples, pp->count, pp->warmup, -1, res);
    if (stuck) {
        sleep_until(held_at + (uint64_t)pp->hold_ms * 1000000u);
        res->stuck_lines_at_release = bench_spdlog_async_stuck_lines();
        check_file(path, pp->count, 1, &res->at_release);
        pthread_mutex_unlock(&hold);
    }
    bench_spdlog_async_finish(&res->overruns, &res->stuck_lines);
    check_file(path, pp->count, 1, &res->after);
    unlink(path);
    percentiles(pp, pp->count, res);
    res->ran = 1;
    return 0;
}
#endif

/* ---------------------------------------------------------------- output */

static void print_run(int logger, int k, const struct run *r)
{
    printf("%-13s %-7s %d %8.1f %8.1f %8.1f %9.1f %10.1f %7.1f %7ld",
           logger_name[logger], r->counting ? "count" : r->stuck ? "stuck" : "unstuck",
           k, r->ns[0], r->ns[1], r->ns[2], r->ns[3], r->ns[4], r->loop_ms,
           r->sent);
    if (r->stuck && !r->counting)
        printf(" %9ld", r->at_release.found);
    else
        printf(" %9s", "-");
    printf(" %9ld", r->after.found);
    if (logger == NBLOG)
        printf(" %6ld", r->with_syscall);
    else
        printf(" %6s", "-");
    printf("\n");
}

static void print_details(int logger, int k, const struct run *r)
{
    printf("  %s %s %d:", logger_name[logger],
           r->counting ? "count" : r->stuck ? "stuck" : "unstuck", k);
    if (r->stuck && !r->counting) {
        printf(" at release: file %ld records (+%ld other lines, %ld bad, %ld dup)",
               r->at_release.found, r->at_release.other, r->at_release.bad,
               r->at_release.dup);
        if (logger == NBLOG)
            printf(", file console printed %llu dropped %llu",
                   (unsigned long long)r->con_printed_at_release,
                   (unsigned long long)r->con_dropped_at_release);
        printf(", stuck output %ld lines;", r->stuck_lines_at_release);
    }
    printf(" after flush: file %ld records (+%ld other, %ld bad, %ld dup)",
           r->after.found, r->after.other, r->after.bad, r->after.dup);
    if (logger == NBLOG) {
        printf(", file console printed %llu dropped %llu, stuck console "
               "printed %llu dropped %llu (%ld lines), ELOST %llu",
               (unsigned long long)r->con_printed, (unsigned long long)r->con_dropped,
               (unsigned long long)r->stuck_printed,
               (unsigned long long)r->stuck_dropped, r->stuck_lines,
               (unsigned long long)r->lost);
        if (r->lagging)
            printf(", FLUSH TIMED OUT: %d console(s) lagging (%s)", r->lagging,
                   r->lagging_names);
        printf("; syscall(3) in loop: %llu (futex %llu, of which wakes that "
               "woke nobody %llu), calls with one %ld: p50 %.1f ns; calls "
               "without: p50 %.1f p99.9 %.1f ns",
               (unsigned long long)r->syscall3, (unsigned long long)r->futex,
               (unsigned long long)r->wake0, r->with_syscall, r->sys_p50,
               r->nosys_p50, r->nosys_p999);
        if (r->counting)
            printf(", kernel entries %lld", r->kernel);
    } else {
        printf(", stuck sink %ld lines, queue overruns %zu", r->stuck_lines,
               r->overruns);
    }
    printf("\n");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: nblog-bench stuck [--count M] [--hold-ms T] [--runs R] "
               "[--json-only]\n"
               "  --count M    timed calls per run (default %ld)\n"
               "  --hold-ms T  how long the stuck output is stuck (default %ld)\n"
               "  --runs R     runs per logger, stuck and not (default %d; the\n"
               "               JSON has the medians)\n"
               "  --json-only  print only the JSON line\n",
            STUCK_COUNT, STUCK_HOLD_MS, STUCK_RUNS);
}

static void json_num(const char *key, double v, int valid, int comma)
{
    if (valid)
        printf("%s\"%s\":%.1f", comma ? "," : "", key, v);
    else
        printf("%s\"%s\":null", comma ? "," : "", key);
}

int bench_stuck_main(int argc, char **argv)
{
    long count = STUCK_COUNT, hold_ms = STUCK_HOLD_MS, runs = STUCK_RUNS;
    int json_only = 0;
    for (int a = 2; a < argc; a++) {
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(argv[a], "--count") == 0) {
            count = parse_long("--count", val, 1000, 10000000L, usage);
            a++;
        } else if (strcmp(argv[a], "--hold-ms") == 0) {
            hold_ms = parse_long("--hold-ms", val, 0, 600000L, usage);
            a++;
        } else if (strcmp(argv[a], "--runs") == 0) {
            runs = parse_long("--runs", val, 1, STUCK_RUNS_MAX, usage);
            a++;
        } else {
            common_option(argv[a], &json_only, usage);
        }
    }

    long pairs = count < 200000 ? 200000 : count;
    uint64_t *samples = malloc((size_t)pairs * sizeof *samples);
    if (!samples) {
        fprintf(stderr, "nblog-bench: no memory for samples\n");
        return 1;
    }
    memset(samples, 0, (size_t)pairs * sizeof *samples); /* prefault */
    double ticks_per_ns = tsc_calibrate();
    struct overhead ovh;
    tsc_overhead(samples, pairs, &ovh);
    struct params pp = {.count = count, .warmup = STUCK_WARMUP, .hold_ms = hold_ms,
                        .samples = samples, .ovh = &ovh,
                        .ticks_per_ns = ticks_per_ns, .kfd = -1};

    /* One store for every nblog run, sized to hold the whole burst (as a
     * program expecting bursts would size it; the size is printed), with
     * 256-byte records; DEBUG records are stored so the warm-up exercises
     * the consoles' path. */
    nblog_options_t opt;
    nblog_options_init(&opt);
    /* Only the consoles the bench registers (no default, no NBLOG_CONSOLES). */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    opt.level = NBLOG_LEVEL_DEBUG;
    opt.record_size = 256;
    opt.ring_records = 1;
    while (opt.ring_records < (size_t)(count + STUCK_WARMUP))
        opt.ring_records *= 2;
    int rc = nblog_init(&opt);
    if (rc != NBLOG_OK) {
        fprintf(stderr, "nblog-bench: nblog_init: %s\n", nblog_strerror(rc));
        return 1;
    }
    nblog_stats_t nst;
    nblog_stats_get(&nst);

    /* [logger][stuck][run] */
    static struct run res[NLOGGERS][2][STUCK_RUNS_MAX];
    struct run counting_run;
    memset(&counting_run, 0, sizeof counting_run);
    int id = 0;
    for (int k = 0; k < runs; k++) {
        for (int stuck = 1; stuck >= 0; stuck--) {
            run_nblog(&pp, stuck, 0, id++, &res[NBLOG][stuck][k]);
#ifdef NBLOG_BENCH_SPDLOG
            run_spdlog(&pp, stuck, id++, &res[SPDLOG][stuck][k]);
#endif
        }
    }
    char kwhy[160] = "";
    pp.kfd = kcount_open(kwhy, sizeof kwhy);
    if (pp.kfd >= 0) {
        run_nblog(&pp, 1, 1, id++, &counting_run);
        kcount_close(pp.kfd);
    }

    /* Medians over the runs. */
    struct summary {
        int any;
        double p50, p999, p9999, unstuck_p999, fast, sent, frac;
    } sum[NLOGGERS];
    memset(sum, 0, sizeof sum);
    for (int l = 0; l < NLOGGERS; l++) {
        double v[7][STUCK_RUNS_MAX];
        int n = 0, nu = 0;
        for (int k = 0; k < runs; k++) {
            const struct run *s = &res[l][1][k], *u = &res[l][0][k];
            if (s->ran) {
                v[0][n] = s->ns[0];
                v[1][n] = s->ns[2];
                v[2][n] = s->ns[3];
                v[3][n] = (double)s->at_release.found;
                v[4][n] = (double)s->sent;
                v[5][n] = (double)s->with_syscall / (double)s->calls;
                n++;
            }
            if (u->ran)
                v[6][nu++] = u->ns[2];
        }
        if (n == 0 || nu == 0)
            continue;
        sum[l].any = 1;
        sum[l].p50 = median_d(v[0], n);
        sum[l].p999 = median_d(v[1], n);
        sum[l].p9999 = median_d(v[2], n);
        sum[l].fast = median_d(v[3], n);
        sum[l].sent = median_d(v[4], n);
        sum[l].frac = median_d(v[5], n);
        sum[l].unstuck_p999 = median_d(v[6], nu);
    }
    /* The fraction stands only if the kernel saw no other system calls. */
    int frac_valid = 0;
    const char *frac_note;
    if (!counting_run.ran) {
        frac_note = "not cross-checked: no kernel count";
        frac_valid = 1;
    } else if (counting_run.kernel >= 0 &&
               (uint64_t)counting_run.kernel == counting_run.syscall3) {
        frac_note = "cross-checked: kernel entries == syscall(3) calls in the counting run";
        frac_valid = 1;
    } else {
        frac_note = "kernel entries differ from syscall(3) calls: fraction unknown";
    }

    if (!json_only) {
        printf("nblog-bench stuck: %ld timed calls per run (+%ld warm-up) from 1 "
               "thread, stuck output held %ld ms, %ld run(s) each; %ld CPUs "
               "online, load %.2f\n",
               count, STUCK_WARMUP, hold_ms, runs, sysconf(_SC_NPROCESSORS_ONLN),
               load_1min());
        printf("timer: lfence;rdtsc, %.4f ticks/ns, counter step %llu ticks = "
               "%.1f ns; empty pair median %llu ticks (subtracted)\n",
               ticks_per_ns, (unsigned long long)ovh.step,
               (double)ovh.step / ticks_per_ns, (unsigned long long)ovh.med);
        printf("nblog ring: %llu records of %llu bytes\n",
               (unsigned long long)nst.ring_records,
               (unsigned long long)nst.record_size);
#ifdef NBLOG_BENCH_LIB_UNOPTIMIZED
        printf("WARNING: libnblog was built without -O (see the cmake "
               "warning): the nblog figures are not representative\n");
#endif
        printf("\n%-13s %-7s %s %8s %8s %8s %9s %10s %7s %7s %9s %9s %6s\n",
               "ns", "case", "#", "p50", "p99", "p99.9", "p99.99", "max",
               "loop_ms", "sent", "in_file@R", "in_file", "w/sys");
        for (int k = 0; k < runs; k++)
            for (int stuck = 1; stuck >= 0; stuck--)
                for (int l = 0; l < NLOGGERS; l++)
                    if (res[l][stuck][k].ran)
                        print_run(l, k, &res[l][stuck][k]);
        if (counting_run.ran)
            print_run(NBLOG, 0, &counting_run);
        printf("(in_file@R: records in the file just before the release; "
               "in_file: after the flush; w/sys: calls that made a system call)\n\n");
        for (int k = 0; k < runs; k++)
            for (int stuck = 1; stuck >= 0; stuck--)
                for (int l = 0; l < NLOGGERS; l++)
                    if (res[l][stuck][k].ran)
                        print_details(l, k, &res[l][stuck][k]);
        if (counting_run.ran)
            print_details(NBLOG, 0, &counting_run);
        else
            printf("  kernel count: %s\n", kwhy);
        printf("\nmedians: ");
        for (int l = 0; l < NLOGGERS; l++)
            if (sum[l].any)
                printf("%s p50 %.1f p99.9 %.1f p99.99 %.1f unstuck p99.9 %.1f, "
                       "%.0f of %.0f records in the file during the stall%s",
                       logger_name[l], sum[l].p50, sum[l].p999, sum[l].p9999,
                       sum[l].unstuck_p999, sum[l].fast, sum[l].sent,
                       l + 1 < NLOGGERS && sum[l + 1].any ? "; " : "\n");
        if (sum[NBLOG].any)
            printf("nblog syscall fraction: %.6f (%s)\n\n", sum[NBLOG].frac,
                   frac_note);
    }

    printf("{\"bench\":\"stuck\",\"results\":{");
    int first = 1;
    for (int l = 0; l < NLOGGERS; l++) {
        if (!sum[l].any)
            continue;
        printf("%s\"%s\":{", first ? "" : ",", logger_name[l]);
        json_num("p50", sum[l].p50, 1, 0);
        json_num("p999", sum[l].p999, 1, 1);
        json_num("p9999", sum[l].p9999, 1, 1);
        json_num("unstuck_p999", sum[l].unstuck_p999, 1, 1);
        printf(",\"fast_during_stall\":%.0f,\"sent\":%.0f", sum[l].fast, sum[l].sent);
        if (l == NBLOG) {
            if (frac_valid)
                printf(",\"syscall_fraction\":%.6f", sum[l].frac);
            else
                printf(",\"syscall_fraction\":null");
        }
        printf("}");
        first = 0;
    }
    printf("}}\n");
    nblog_shutdown();
    free(samples);
    return 0;
}

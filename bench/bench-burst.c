/*
 * bench-burst.c - nblog-bench burst: what a burst of records at full caller
 * speed loses, nblog's default ring with one file console beside spdlog
 * async with overrun_oldest, in the same run.
 *
 *   nblog-bench burst [--size N]... [--threads N] [--runs R] [--json-only]
 *
 * SCENARIO (bench/README.md says more; each burst is one pass, bench-pass.h)
 *
 *   A burst of S records (default: 40,000, 100,000 and 1,000,000), split
 *   evenly over the threads (default 1), logged as fast as the callers can
 *   after a barrier, the message every mode logs:
 *
 *   nblog_info, nblog_printf   NBLOG_INFO or nblog_printf into the DEFAULT
 *       ring (nblog_options_init: nothing of the store is set by the
 *       bench) with ONE file console (threaded, plain, level INFO, from the
 *       next record), nblog initialised afresh for every burst; then
 *       nblog_flush until the console has caught up.
 *   spdlog_async               spdlog 1.10's async logger, a pool of its own
 *       per burst (queue 8192, one backend thread), overrun_oldest (a full
 *       queue drops its oldest entry rather than make the caller wait), one
 *       basic_file_sink_mt, pattern "%v"; then flush and the pool's
 *       destructor.
 *
 *   Lost is counted twice: from the file (the burst's records not in it,
 *   every line checked) and from what the logger says (nblog: the
 *   console's dropped and write_failed plus NBLOG_ELOST; spdlog: its
 *   queue's overrun count). The two must agree; the table says when not.
 *
 * OUTPUT
 *
 *   A table of every burst (unless --json-only), a summary of the median
 *   and largest loss over R runs (default 3) beside spdlog's, the goal
 *   line, then as the last line one JSON object (see bench/README.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nblog.h>

#include "bench-common.h"
#include "bench-modes.h"
#include "bench-pass.h"

#define BURST_RUNS 3
#define BURST_RUNS_MAX 9
#define BURST_SIZES_MAX 8
#define BURST_THREADS_MAX 64
#define BURST_GOAL_SIZE 40000L

static const long default_sizes[] = {40000, 100000, 1000000};
static const int ways[] = {
    WAY_INFO, WAY_PRINTF,
#ifdef NBLOG_BENCH_SPDLOG
    WAY_SPDLOG,
#endif
};
#define NWAYS_RUN ((int)(sizeof ways / sizeof ways[0]))

struct burst_summary {
    int ran;
    double lost_median, caller_rate; /* medians: records, calls/s */
    long lost_max, logger_lost_max, calls;
    int disagree;                    /* runs where file and logger differ */
    long dup, bad;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: nblog-bench burst [--size N]... [--threads N] [--runs R] "
               "[--json-only]\n"
               "  --size N     records in a burst, split over the threads; may be "
               "given up to %d times\n"
               "               (default: 40000, 100000, 1000000)\n"
               "  --threads N  logging threads (default 1)\n"
               "  --runs R     bursts per size and logger (default %d; medians "
               "and maxima reported)\n"
               "  --json-only  print only the JSON line\n",
            BURST_SIZES_MAX, BURST_RUNS);
}

static void summarise(const struct pass_result *runs, int nruns, int way,
                      struct burst_summary *s)
{
    memset(s, 0, sizeof *s);
    double lost[BURST_RUNS_MAX], rate[BURST_RUNS_MAX];
    int n = 0;
    for (int k = 0; k < nruns; k++) {
        const struct pass_result *r = &runs[k];
        if (!r->ran)
            continue;
        long fl = pass_file_lost(r), ll = pass_logger_lost(way, r);
        lost[n] = (double)fl;
        rate[n++] = r->caller_ms > 0 ? (double)r->calls / (r->caller_ms / 1e3) : 0;
        if (fl > s->lost_max)
            s->lost_max = fl;
        if (ll > s->logger_lost_max)
            s->logger_lost_max = ll;
        s->disagree += fl != ll;
        s->dup += r->fc.dup;
        s->bad += r->fc.bad;
        s->calls = r->calls;
    }
    if (n) {
        s->ran = 1;
        s->lost_median = median_d(lost, n);
        s->caller_rate = median_d(rate, n);
    }
}

int bench_burst_main(int argc, char **argv)
{
    long sizes[BURST_SIZES_MAX], runs = BURST_RUNS;
    int nsizes = 0, nthreads = 1, json_only = 0;
    for (int a = 2; a < argc; a++) {
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(argv[a], "--size") == 0) {
            long v = parse_long("--size", val, 1, 10000000L, usage);
            if (nsizes == BURST_SIZES_MAX) {
                fprintf(stderr, "nblog-bench: at most %d --size\n", BURST_SIZES_MAX);
                return 2;
            }
            sizes[nsizes++] = v;
            a++;
        } else if (strcmp(argv[a], "--threads") == 0) {
            nthreads = (int)parse_long("--threads", val, 1, BURST_THREADS_MAX, usage);
            a++;
        } else if (strcmp(argv[a], "--runs") == 0) {
            runs = parse_long("--runs", val, 1, BURST_RUNS_MAX, usage);
            a++;
        } else {
            common_option(argv[a], &json_only, usage);
        }
    }
    if (!nsizes)
        for (; nsizes < (int)(sizeof default_sizes / sizeof default_sizes[0]); nsizes++)
            sizes[nsizes] = default_sizes[nsizes];

    /* Sizes outermost, then runs, then loggers: each logger's bursts of a
     * size are interleaved with the others'. */
    static struct pass_result res[BURST_SIZES_MAX][NWAYS_RUN][BURST_RUNS_MAX];
    int id = 0;
    for (int s = 0; s < nsizes; s++)
        for (int k = 0; k < runs; k++)
            for (int w = 0; w < NWAYS_RUN; w++) {
                long per = sizes[s] / nthreads > 0 ? sizes[s] / nthreads : 1;
                struct pass_cfg cfg = {.way = ways[w],
                                       .threads = nthreads,
                                       .count = per,
                                       .spdlog_overrun = 1,
                                       .mode = "burst",
                                       .id = id++};
                if (bench_pass(&cfg, &res[s][w][k]) != 0)
                    fprintf(stderr, "nblog-bench: %s, burst %ld, run %d left out\n",
                            pass_way_name[ways[w]], sizes[s], k);
            }
    struct burst_summary sum[BURST_SIZES_MAX][NWAYS_RUN];
    for (int s = 0; s < nsizes; s++)
        for (int w = 0; w < NWAYS_RUN; w++)
            summarise(res[s][w], (int)runs, ways[w], &sum[s][w]);

    /* The ring the nblog bursts had (the default), from any nblog run. */
    uint64_t ring_records = 0, record_size = 0;
    for (int s = 0; s < nsizes && !ring_records; s++)
        for (int k = 0; k < runs && !ring_records; k++)
            if (res[s][0][k].ran) {
                ring_records = res[s][0][k].books.ring_records;
                record_size = res[s][0][k].books.record_size;
            }

    struct goal goals[] = {
        {.text = "40,000 burst loses none (NBLOG_INFO)", .unit = GOAL_COUNT},
        {.text = "40,000 burst loses none (nblog_printf)", .unit = GOAL_COUNT},
    };
    for (int s = 0; s < nsizes; s++)
        if (sizes[s] == BURST_GOAL_SIZE)
            for (int g = 0; g < 2; g++)
                if (sum[s][g].ran)
                    goal_value(&goals[g], (double)sum[s][g].lost_max);
    int ngoals = (int)(sizeof goals / sizeof goals[0]);

    if (!json_only) {
        printf("nblog-bench burst: %d thread(s), %ld run(s) per size and logger; "
               "nblog default ring %llu records of %llu bytes, one file "
               "console; spdlog queue 8192, overrun_oldest; %ld CPUs online, "
               "load %.2f\n",
               nthreads, runs, (unsigned long long)ring_records,
               (unsigned long long)record_size, sysconf(_SC_NPROCESSORS_ONLN),
               load_1min());
#ifdef NBLOG_BENCH_LIB_UNOPTIMIZED
        printf("WARNING: libnblog was built without -O (see the cmake "
               "warning): the nblog figures are not representative\n");
#endif
        printf("\n%8s %-13s %2s %9s %11s %8s %8s %8s  notes\n", "burst", "logger",
               "#", "callers", "calls_per_s", "in_file", "lost", "lgr_lost");
        for (int s = 0; s < nsizes; s++)
            for (int k = 0; k < runs; k++)
                for (int w = 0; w < NWAYS_RUN; w++) {
                    const struct pass_result *r = &res[s][w][k];
                    if (!r->ran)
                        continue;
                    long fl = pass_file_lost(r), ll = pass_logger_lost(ways[w], r);
                    printf("%8ld %-13s %2d %9.1f %11.0f %8ld %8ld %8ld  ", r->calls,
                           pass_way_name[ways[w]], k, r->caller_ms,
                           r->caller_ms > 0 ? (double)r->calls / (r->caller_ms / 1e3) : 0,
                           r->fc.found, fl, ll);
                    if (ways[w] == WAY_SPDLOG)
                        printf("queue overruns %zu", r->overruns);
                    else
                        printf("printed %llu, dropped %llu, ELOST %llu%s",
                               (unsigned long long)r->books.printed,
                               (unsigned long long)r->books.dropped,
                               (unsigned long long)r->books.lost,
                               r->books.lagging ? ", FLUSH TIMED OUT" : "");
                    if (fl != ll)
                        printf(", FILE AND LOGGER DISAGREE");
                    if (r->fc.dup || r->fc.bad)
                        printf(", %ld duplicate, %ld bad lines", r->fc.dup, r->fc.bad);
                    printf("\n");
                }
        printf("(callers: ms from the first call to the last; lost: the burst's "
               "records not in the file; lgr_lost: what the logger says it lost)\n");
        printf("\nlost, median (largest) of %ld run(s), and the median as a ratio to "
               "spdlog_async's:\n", runs);
        for (int s = 0; s < nsizes; s++)
            for (int w = 0; w < NWAYS_RUN; w++) {
                const struct burst_summary *b = &sum[s][w];
                if (!b->ran)
                    continue;
                const struct burst_summary *sp = &sum[s][NWAYS_RUN - 1];
                char r[16];
                if (ways[NWAYS_RUN - 1] != WAY_SPDLOG || !sp->ran)
                    snprintf(r, sizeof r, "-");
                else if (b == sp)
                    snprintf(r, sizeof r, "(baseline)");
                else if (sp->lost_median > 0)
                    ratio_str(r, b->lost_median, sp->lost_median);
                else
                    snprintf(r, sizeof r, b->lost_median > 0 ? "(spdlog 0)" : "(both 0)");
                printf("  %8ld %-13s %9.0f (%7ld) = %5.1f%%  %10s\n",
                       b->calls, pass_way_name[ways[w]], b->lost_median, b->lost_max,
                       b->calls ? 100.0 * b->lost_median / (double)b->calls : 0, r);
            }
        printf("\n");
        goals_print(goals, ngoals);
        printf("\n");
    }

    printf("{\"bench\":\"burst\",\"threads\":%d,\"runs\":%ld,\"ring_records\":%llu,"
           "\"record_size\":%llu,\"results\":{",
           nthreads, runs, (unsigned long long)ring_records,
           (unsigned long long)record_size);
    for (int s = 0; s < nsizes; s++) {
        printf("%s\"%ld\":{", s ? "," : "", sizes[s]);
        const char *sep = "";
        for (int w = 0; w < NWAYS_RUN; w++) {
            const struct burst_summary *b = &sum[s][w];
            if (!b->ran)
                continue;
            printf("%s\"%s\":{\"calls\":%ld,\"lost_median\":%.0f,\"lost_max\":%ld,"
                   "\"logger_lost_max\":%ld,\"books_agree\":%s,\"calls_per_s\":%.0f}",
                   sep, pass_way_name[ways[w]], b->calls, b->lost_median,
                   b->lost_max, b->logger_lost_max, b->disagree ? "false" : "true",
                   b->caller_rate);
            sep = ",";
        }
        printf("}");
    }
    printf("}");
    goals_json(goals, ngoals);
    printf("}\n");
    return 0;
}

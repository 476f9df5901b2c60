/*
 * bench-throughput.c - nblog-bench throughput: records to lines in a file,
 * end to end and through the printer alone, beside spdlog async end to end
 * and glibc's fprintf in the same run.
 *
 *   nblog-bench throughput [--threads N] [--count M] [--runs R] [--stamped]
 *                          [--json-only]
 *
 * CASES (bench/README.md says more; each is one pass, bench-pass.h)
 *
 *   nblog_info, nblog_printf   N threads (default: 1, then 2) each log M
 *       records (default 500,000), NBLOG_INFO or nblog_printf, into the
 *       DEFAULT ring (nblog_options_init) with ONE file console draining it
 *       meanwhile; the clock runs from the first call to nblog_flush
 *       returning 0. What the console could not keep up with is
 *       overwritten: dropped, counted, and missing from the file.
 *   spdlog_async               the same N threads and M records through
 *       spdlog 1.10's async logger (a pool of its own, queue 8192, one
 *       backend thread, async_overflow_policy::block: nothing is dropped,
 *       the callers wait), one basic_file_sink_mt, pattern "%v"; the clock
 *       stops when flush() and the pool's destructor have returned. The
 *       baseline every other case is a ratio to.
 *   printer_info, printer_printf   the printer alone: M records stored by
 *       one thread into a ring that holds them all (record_size 128) with
 *       no console; then one file console registered from the oldest
 *       record drains them, and the clock runs from its registration to
 *       nblog_flush returning 0: lines/s of render + write alone.
 *   fprintf                    one thread, fprintf of the M lines to a
 *       fully buffered FILE *, then fclose: glibc's own render + write.
 *
 *   --stamped: nblog writes NBLOG_FORMAT_KMSG lines, spdlog its default
 *   pattern, so both format a timestamp per line (fprintf stays bare).
 *
 *   Every file is read back and every line checked (check_file):
 *   lines/s = distinct expected records found / elapsed. A record missing
 *   from the file counts against its logger even if the logger did not
 *   report it; the table shows beside it what the logger reported lost.
 *
 * OUTPUT
 *
 *   A table of every run (unless --json-only), the medians of R runs
 *   (default 3) as ratios to spdlog_async, the goal lines, then as the
 *   last line one JSON object (see bench/README.md).
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

#define TP_COUNT 500000L
#define TP_RUNS 3
#define TP_RUNS_MAX 9
#define TP_THREADS_MAX 64
#define TP_CASES_MAX 9

struct tp_case {
    const char *name;
    int way, threads, printer_only;
    int spdlog_base; /* index of the spdlog case at this thread count, or -1 */
};

struct tp_summary {
    int ran;
    double lines_per_s;        /* median */
    double lines_per_cpu_s;    /* median: found / the process's CPU time */
    long file_lost, books_lost; /* largest over the runs */
    long dup, bad;             /* over all runs */
    uint64_t ring_bytes;       /* nblog: the last run's ring */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: nblog-bench throughput [--threads N] [--count M] [--runs R] "
               "[--stamped] [--json-only]\n"
               "  --threads N  logging threads end to end (default: 1, then 2)\n"
               "  --count M    records per thread per run (default %ld)\n"
               "  --runs R     runs per case (default %d; medians reported)\n"
               "  --stamped    nblog kmsg format, spdlog default pattern "
               "(default: the bare message)\n"
               "  --json-only  print only the JSON line\n",
            TP_COUNT, TP_RUNS);
}

static int add_case(struct tp_case *c, int n, const char *name, int way,
                    int threads, int printer_only, int spdlog_base)
{
    c[n] = (struct tp_case){name, way, threads, printer_only, spdlog_base};
    return n + 1;
}

static void summarise(const struct pass_result *runs, int nruns, int way,
                      struct tp_summary *s)
{
    memset(s, 0, sizeof *s);
    double v[TP_RUNS_MAX], cpu[TP_RUNS_MAX];
    int n = 0;
    for (int k = 0; k < nruns; k++) {
        const struct pass_result *r = &runs[k];
        if (!r->ran)
            continue;
        cpu[n] = r->cpu_ms > 0 ? (double)r->fc.found / (r->cpu_ms / 1e3) : 0;
        v[n++] = r->lines_per_s;
        if (pass_file_lost(r) > s->file_lost)
            s->file_lost = pass_file_lost(r);
        if (pass_logger_lost(way, r) > s->books_lost)
            s->books_lost = pass_logger_lost(way, r);
        s->dup += r->fc.dup;
        s->bad += r->fc.bad;
        s->ring_bytes = r->books.ring_records * r->books.record_size;
    }
    if (n) {
        s->ran = 1;
        s->lines_per_s = median_d(v, n);
        s->lines_per_cpu_s = median_d(cpu, n);
    }
}

static void print_run(const struct tp_case *c, int k, const struct pass_result *r)
{
    printf("%-14s %3d %2d %9.1f %9.1f %9.1f %11.0f %9ld %9ld %8ld %8ld %4ld %4ld  ",
           c->name, c->threads, k, r->elapsed_ms, r->caller_ms, r->cpu_ms,
           r->lines_per_s,
           r->calls, r->fc.found, pass_file_lost(r), pass_logger_lost(c->way, r),
           r->fc.dup, r->fc.bad);
    if (c->way == WAY_INFO || c->way == WAY_PRINTF) {
        printf("printed %llu, dropped %llu, ELOST %llu, write failed %llu, "
               "ring %llux%llu B",
               (unsigned long long)r->books.printed,
               (unsigned long long)r->books.dropped,
               (unsigned long long)r->books.lost,
               (unsigned long long)r->books.write_failed,
               (unsigned long long)r->books.ring_records,
               (unsigned long long)r->books.record_size);
        if (r->books.lagging)
            printf(", FLUSH TIMED OUT");
    } else if (c->way == WAY_SPDLOG) {
        printf("queue overruns %zu", r->overruns);
    }
    if (r->fc.other)
        printf(", %ld other lines", r->fc.other);
    printf("\n");
}

static void json_case(const char *name, const struct tp_summary *s, double base,
                      const char *sep)
{
    printf("%s\"%s\":{\"msgs_per_s\":%.0f,\"msgs_per_cpu_s\":%.0f,\"lost\":%ld,"
           "\"logger_lost\":%ld",
           sep, name, s->lines_per_s, s->lines_per_cpu_s, s->file_lost, s->books_lost);
    if (s->ring_bytes)
        printf(",\"ring_bytes\":%llu", (unsigned long long)s->ring_bytes);
    if (base > 0)
        printf(",\"vs_spdlog\":%.3f", s->lines_per_s / base);
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
    if (count > NBLOG_RECORDS_MAX) {
        fprintf(stderr, "nblog-bench: --count %ld is more than nblog's largest "
                        "ring (%u records), which the printer-only case needs\n",
                count, NBLOG_RECORDS_MAX);
        return 2;
    }

    /* The cases, in the order they run within a round: end to end at each
     * thread count (spdlog last, so its index is known), then the printer
     * alone and fprintf. */
    struct tp_case cases[TP_CASES_MAX];
    int ncases = 0;
    for (int t = 0; t < nthreadcounts; t++) {
#ifdef NBLOG_BENCH_SPDLOG
        int sp = ncases + 2;
#else
        int sp = -1;
#endif
        ncases = add_case(cases, ncases, "nblog_info", WAY_INFO, threads[t], 0, sp);
        ncases = add_case(cases, ncases, "nblog_printf", WAY_PRINTF, threads[t], 0, sp);
#ifdef NBLOG_BENCH_SPDLOG
        ncases = add_case(cases, ncases, "spdlog_async", WAY_SPDLOG, threads[t], 0, sp);
#endif
    }
    /* The printer alone and fprintf are compared with spdlog end to end at
     * the first thread count. */
    int sp0 = cases[0].spdlog_base;
    int printer_info = ncases;
    ncases = add_case(cases, ncases, "printer_info", WAY_INFO, 1, 1, sp0);
    int printer_printf = ncases;
    ncases = add_case(cases, ncases, "printer_printf", WAY_PRINTF, 1, 1, sp0);
    int fprintf_case = ncases;
    ncases = add_case(cases, ncases, "fprintf", WAY_FPRINTF, 1, 0, sp0);

    static struct pass_result res[TP_CASES_MAX][TP_RUNS_MAX];
    int id = 0;
    for (int k = 0; k < runs; k++)
        for (int c = 0; c < ncases; c++) {
            struct pass_cfg cfg = {.way = cases[c].way,
                                   .threads = cases[c].threads,
                                   .count = count,
                                   .printer_only = cases[c].printer_only,
                                   .spdlog_overrun = 0,
                                   .stamped = stamped,
                                   .mode = "throughput",
                                   .id = id++};
            if (bench_pass(&cfg, &res[c][k]) != 0)
                fprintf(stderr, "nblog-bench: %s, %d thread(s), run %d left out\n",
                        cases[c].name, cases[c].threads, k);
        }
    struct tp_summary sum[TP_CASES_MAX];
    for (int c = 0; c < ncases; c++)
        summarise(res[c], (int)runs, cases[c].way, &sum[c]);
    /* The baseline's median, or 0 when it did not run. */
#define BASE(c) (cases[c].spdlog_base >= 0 && sum[cases[c].spdlog_base].ran        \
                     ? sum[cases[c].spdlog_base].lines_per_s                       \
                     : 0)

    struct goal goals[] = {
        {.text = "printer (NBLOG_INFO) >= 5M lines/s", .unit = GOAL_RATE,
         .at_least = 1, .limit = 5e6},
        {.text = "printer (nblog_printf) >= 5M lines/s", .unit = GOAL_RATE,
         .at_least = 1, .limit = 5e6},
        {.text = "printer (NBLOG_INFO) >= 10x spdlog async end to end",
         .unit = GOAL_RATIO, .at_least = 1, .limit = 10},
        {.text = "printer (nblog_printf) >= 10x spdlog async end to end",
         .unit = GOAL_RATIO, .at_least = 1, .limit = 10},
    };
    if (sum[printer_info].ran)
        goal_value(&goals[0], sum[printer_info].lines_per_s);
    if (sum[printer_printf].ran)
        goal_value(&goals[1], sum[printer_printf].lines_per_s);
    goal_ratio(&goals[2], sum[printer_info].ran ? sum[printer_info].lines_per_s : -1,
               BASE(printer_info));
    goal_ratio(&goals[3],
               sum[printer_printf].ran ? sum[printer_printf].lines_per_s : -1,
               BASE(printer_printf));
    int ngoals = (int)(sizeof goals / sizeof goals[0]);

    if (!json_only) {
        printf("nblog-bench throughput: %ld records per thread per run, %ld "
               "run(s) of every case, %s lines; %ld CPUs online, load %.2f\n",
               count, runs, stamped ? "stamped" : "bare-message",
               sysconf(_SC_NPROCESSORS_ONLN), load_1min());
#ifdef NBLOG_BENCH_LIB_UNOPTIMIZED
        printf("WARNING: libnblog was built without -O (see the cmake "
               "warning): the nblog figures are not representative\n");
#endif
        printf("\n%-14s %3s %2s %9s %9s %9s %11s %9s %9s %8s %8s %4s %4s  notes\n",
               "case", "thr", "#", "elapsed", "callers", "cpu", "lines_per_s", "calls",
               "in_file", "missing", "lgr_lost", "dup", "bad");
        for (int k = 0; k < runs; k++)
            for (int c = 0; c < ncases; c++)
                if (res[c][k].ran)
                    print_run(&cases[c], k, &res[c][k]);
        printf("(elapsed, callers, cpu: ms; cpu: the process's CPU time over "
               "the elapsed time, all threads; missing: calls not in the file; "
               "lgr_lost: what the logger says it lost)\n");
        printf("\nmedians of %ld run(s):\n", runs);
        for (int c = 0; c < ncases; c++) {
            if (!sum[c].ran)
                continue;
            char r[16];
            printf("  %-14s %2d thread(s) %11.0f lines/s  %6s spdlog_async "
                   "(%d thr)  %10.0f lines/CPU-s  lost up to %ld%s\n",
                   cases[c].name, cases[c].threads, sum[c].lines_per_s,
                   ratio_str(r, sum[c].lines_per_s, BASE(c)),
                   cases[c].spdlog_base >= 0 ? cases[cases[c].spdlog_base].threads : 0,
                   sum[c].lines_per_cpu_s, sum[c].file_lost,
                   sum[c].dup || sum[c].bad ? ", DUPLICATE OR BAD LINES" : "");
        }
        printf("\n");
        goals_print(goals, ngoals);
        printf("\n");
    }

    printf("{\"bench\":\"throughput\",\"threads\":%d,\"runs\":%ld,\"results\":{",
           threads[0], runs);
    const char *sep = "";
    for (int c = 0; c < ncases; c++) {
        if (!sum[c].ran || (cases[c].threads != threads[0] && !cases[c].printer_only &&
                             c != fprintf_case))
            continue;
        json_case(cases[c].name, &sum[c], BASE(c), sep);
        sep = ",";
    }
    printf("},\"by_threads\":{");
    for (int t = 0; t < nthreadcounts; t++) {
        printf("%s\"%d\":{", t ? "," : "", threads[t]);
        sep = "";
        for (int c = 0; c < ncases; c++) {
            if (!sum[c].ran || cases[c].printer_only || c == fprintf_case ||
                cases[c].threads != threads[t])
                continue;
            json_case(cases[c].name, &sum[c], BASE(c), sep);
            sep = ",";
        }
        printf("}");
    }
    printf("}");
    goals_json(goals, ngoals);
    printf("}\n");
#undef BASE
    return 0;
}

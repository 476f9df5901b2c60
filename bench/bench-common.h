/*
 * bench-common.h - what every nblog-bench mode shares: the lfence;rdtsc
 * timer, its calibration and cost, nearest-rank percentiles, option parsing
 * and the check of a log file's lines (bench-common.c).
 *
 * The timer and percentile method are described once, in bench/README.md
 * ("Method"); every mode that reports caller latency uses exactly this code.
 */
#ifndef NBLOG_BENCH_COMMON_H
#define NBLOG_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if !defined(__x86_64__) && !defined(__i386__)
#error "nblog-bench times calls with rdtsc: x86 only"
#endif

/* The message every mode logs: "iteration <i> value <i * 0.25> name bench".
 * BENCH_FMT is printf's (nblog, fprintf); bench-spdlog.cpp spells the same
 * message in fmt's syntax. */
#define BENCH_FMT "iteration %d value %f name %s"
#define BENCH_VALUE(i) ((i) * 0.25)
#define BENCH_NAME "bench"

/* lfence waits for every earlier instruction to finish before rdtsc reads
 * the counter; the "memory" clobber keeps the compiler from moving loads or
 * stores of the timed call across the read. */
static inline uint64_t tsc_read(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return (uint64_t)hi << 32 | lo;
}

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t mono_ns(void);

/* TSC ticks per nanosecond, over ~80 ms of busy waiting against
 * CLOCK_MONOTONIC (each end the tightest of 8 bracketed reads). */
double tsc_calibrate(void);

/* The cost of an empty timed pair, in ticks: min, median and trimmed mean;
 * and the counter's step, the gcd of the differences seen (some VMs show a
 * TSC that moves in steps of tens of ticks, which bounds the resolution of
 * every single sample; means stay unbiased below it). */
struct overhead {
    uint64_t min, med, step;
    double mean;
};

/* Measures n empty timed pairs (samples is scratch space for n). */
void tsc_overhead(uint64_t *samples, long n, struct overhead *o);

int cmp_u64(const void *a, const void *b);

/* Nearest rank on samples already sorted: the smallest sample with at least
 * ppm/1e6 of them at or below it, minus the empty pair's median (clamped at
 * 0), in nanoseconds. */
double pct_ns(const uint64_t *sorted, size_t n, uint64_t ppm,
              const struct overhead *o, double ticks_per_ns);

/* Median of n doubles (sorts them; the mean of the middle two for even n). */
double median_d(double *v, int n);

/* A number for option opt in min..max, or prints why and exits 2. */
long parse_long(const char *opt, const char *s, long min, long max,
                void (*usage)(FILE *));

/* The options every mode takes besides its own: --json-only sets
 * *json_only; --help prints usage to stdout and exits 0; anything else
 * prints that it is unknown, and usage, to stderr and exits 2. */
void common_option(const char *arg, int *json_only, void (*usage)(FILE *));

/* The 1-minute load average (0 if unknown), for the output's header. */
double load_1min(void);

/*
 * What a log file holds: every line that contains "iteration <i> value"
 * is checked against the exact text BENCH_FMT gives for that i (anything
 * before "iteration", such as a pattern's prefix, is ignored). Each i from
 * 0..count-1 is expected `copies` times (one per logging thread).
 */
struct file_check {
    long lines;   /* all lines in the file */
    long found;   /* distinct expected records found: sum of min(seen, copies) */
    long dup;     /* lines beyond `copies` for some i */
    long bad;     /* "iteration" lines whose text is wrong or i out of range */
    long other;   /* lines without "iteration" (nblog notices, warnings) */
};

/* Returns 0, or -1 (and prints why) if the file cannot be read. */
int check_file(const char *path, long count, int copies, struct file_check *fc);

#endif

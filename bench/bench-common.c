/*
 * bench-common.c - the timer, percentiles and file checks every
 * nblog-bench mode shares (see bench-common.h).
 */
#include "bench-common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One (tsc, ns) pair: the TSC read nearest a clock_gettime, taking the
 * tightest of a few brackets. */
static void clock_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int k = 0; k < 8; k++) {
        uint64_t t0 = tsc_read();
        uint64_t n = mono_ns();
        uint64_t t1 = tsc_read();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *tsc = t0 + (t1 - t0) / 2;
            *ns = n;
        }
    }
}

double tsc_calibrate(void)
{
    uint64_t t0, n0, t1, n1;
    clock_pair(&t0, &n0);
    do {
        clock_pair(&t1, &n1);
    } while (n1 - n0 < 80000000u);
    return (double)(t1 - t0) / (double)(n1 - n0);
}

int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void tsc_overhead(uint64_t *samples, long n, struct overhead *o)
{
    for (long k = 0; k < n; k++) {
        uint64_t t0 = tsc_read();
        uint64_t t1 = tsc_read();
        samples[k] = t1 - t0;
    }
    o->step = 0;
    for (long k = 0; k < n; k++)
        o->step = gcd_u64(o->step, samples[k]);
    qsort(samples, (size_t)n, sizeof *samples, cmp_u64);
    o->min = samples[0];
    o->med = samples[n / 2];
    /* The mean of the timer's own cost, not of the interrupts and
     * preemptions that landed in it: samples above 4x the median are left
     * out. */
    double sum = 0;
    long kept = 0;
    for (long k = 0; k < n && samples[k] <= 4 * o->med; k++, kept++)
        sum += (double)samples[k];
    o->mean = sum / (double)kept;
}

double pct_ns(const uint64_t *sorted, size_t n, uint64_t ppm,
              const struct overhead *o, double ticks_per_ns)
{
    if (n == 0)
        return 0;
    /* Nearest rank: rank = ceil(q * n). */
    uint64_t rank = (ppm * (uint64_t)n + 999999u) / 1000000u;
    size_t idx = rank == 0 ? 0 : (size_t)rank - 1;
    uint64_t ticks = sorted[idx] > o->med ? sorted[idx] - o->med : 0;
    return (double)ticks / ticks_per_ns;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median_d(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

long parse_long(const char *opt, const char *s, long min, long max,
                void (*usage)(FILE *))
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end != '\0' || end == s || v < min || v > max) {
        fprintf(stderr, "nblog-bench: %s wants a number in %ld..%ld\n", opt,
                min, max);
        usage(stderr);
        exit(2);
    }
    return v;
}

void common_option(const char *arg, int *json_only, void (*usage)(FILE *))
{
    if (strcmp(arg, "--json-only") == 0) {
        *json_only = 1;
        return;
    }
    int help = strcmp(arg, "--help") == 0;
    if (!help)
        fprintf(stderr, "nblog-bench: unknown option %s\n", arg);
    usage(help ? stdout : stderr);
    exit(help ? 0 : 2);
}

double load_1min(void)
{
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 1)
        return 0;
    return load[0];
}

int check_file(const char *path, long count, int copies, struct file_check *fc)
{
    memset(fc, 0, sizeof *fc);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "nblog-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned char *seen = calloc((size_t)count, 1);
    if (!seen) {
        fprintf(stderr, "nblog-bench: no memory to check %s\n", path);
        fclose(f);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char want[128];
    while ((len = getline(&line, &cap, f)) > 0) {
        fc->lines++;
        char *p = strstr(line, "iteration ");
        if (!p) {
            fc->other++;
            continue;
        }
        /* The line must end with "\n" (a line cut short is bad) and say
         * exactly what BENCH_FMT says for its i. */
        if (line[len - 1] != '\n') {
            fc->bad++;
            continue;
        }
        line[--len] = '\0';
        char *end;
        errno = 0;
        long i = strtol(p + 10, &end, 10);
        if (errno || end == p + 10 || i < 0 || i >= count) {
            fc->bad++;
            continue;
        }
        int n = snprintf(want, sizeof want, BENCH_FMT, (int)i,
                         BENCH_VALUE((int)i), BENCH_NAME);
        if (n <= 0 || (size_t)n != (size_t)(line + len - p) ||
            memcmp(p, want, (size_t)n) != 0) {
            fc->bad++;
            continue;
        }
        if (seen[i] < copies) {
            seen[i]++;
            fc->found++;
        } else {
            fc->dup++;
        }
    }
    free(line);
    free(seen);
    fclose(f);
    return 0;
}

/*
 * test-format-float.c - nblog__fmt_double against glibc's snprintf.
 *
 * Every check builds the printf spec string from the struct, renders the
 * value with snprintf (test-only use) and with nblog__fmt_double, and
 * compares length and bytes. A mismatch prints the value (%a and raw bits),
 * the spec, and both renderings; the first few are shown, all are counted.
 *
 * Seed for the random test: NBLOG_TEST_SEED (decimal or 0x hex) overrides
 * the fixed default, so a failure seen once can be replayed.
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "format_float.h"

#define OUTCAP 8192 /* > longest rendering the tests ask for */
#define SHOW_MAX 20 /* mismatches printed per test */

static const char convs[] = "fFeEgGaA";

static unsigned long n_checks;
static unsigned long n_fail;

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static uint64_t to_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* x * 2^k for -1022 <= k <= 1023, exact (no libm needed) */
static double times_pow2(double x, int k)
{
    return x * from_bits((uint64_t)(k + 1023) << 52);
}

static void spec_str(char *buf, size_t n, const struct nblog__spec *sp)
{
    char fl[8];
    size_t k = 0;
    if (sp->flags & NBLOG__FL_MINUS)
        fl[k++] = '-';
    if (sp->flags & NBLOG__FL_PLUS)
        fl[k++] = '+';
    if (sp->flags & NBLOG__FL_SPACE)
        fl[k++] = ' ';
    if (sp->flags & NBLOG__FL_HASH)
        fl[k++] = '#';
    if (sp->flags & NBLOG__FL_ZERO)
        fl[k++] = '0';
    fl[k] = '\0';
    char w[16] = "", p[16] = "";
    if (sp->width)
        snprintf(w, sizeof w, "%d", sp->width);
    if (sp->prec >= 0)
        snprintf(p, sizeof p, ".%d", sp->prec);
    snprintf(buf, n, "%%%s%s%s%c", fl, w, p, sp->conv);
}

static void report(double v, const char *fmt, const char *want, int wn,
                   const char *got, size_t gn, const char *what)
{
    if (n_fail > SHOW_MAX)
        return;
    if (n_fail == SHOW_MAX) {
        printf("  (further mismatches not shown)\n");
        return;
    }
    printf("MISMATCH (%s): value %a bits 0x%016llx spec \"%s\"\n"
           "  expected (%d): \"%.*s\"\n  actual   (%zu): \"%.*s\"\n",
           what, v, (unsigned long long)to_bits(v), fmt, wn, wn, want, gn,
           (int)(gn < OUTCAP ? gn : OUTCAP), got);
}

/* Compare one rendering; with trunc, also a truncated one (cap < length). */
static void check_spec(double v, const struct nblog__spec *sp, size_t trunc)
{
    static char want[OUTCAP], got[OUTCAP + 16];
    char fmt[64];
    spec_str(fmt, sizeof fmt, sp);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int wn = snprintf(want, sizeof want, fmt, v);
#pragma GCC diagnostic pop
    n_checks++;
    if (wn < 0 || wn >= OUTCAP) {
        fail_msg("test asked for a rendering longer than OUTCAP: %s", fmt);
        return;
    }
    size_t gn = nblog__fmt_double(got, OUTCAP, v, sp);
    if (gn != (size_t)wn || memcmp(want, got, gn) != 0) {
        n_fail++;
        report(v, fmt, want, wn, got, gn, "full");
        return;
    }
    if (trunc == 0)
        return;
    size_t cap = (trunc - 1) % ((size_t)wn + 1); /* 0 .. wn */
    memset(got, 0x5a, cap + 16);
    gn = nblog__fmt_double(got, cap, v, sp);
    int bad = gn != (size_t)wn || memcmp(want, got, cap) != 0;
    for (size_t i = cap; i < cap + 16; i++)
        bad |= got[i] != 0x5a;
    if (bad) {
        n_fail++;
        report(v, fmt, want, wn, got, cap, "truncated");
    }
}

static void check(double v, char conv, unsigned flags, int width, int prec)
{
    struct nblog__spec sp = {flags, width, prec, conv};
    check_spec(v, &sp, 0);
}

/* v through every conversion (convs) with every flag combination, width
 * and precision given. */
static void check_grid(double v, const int *widths, size_t nw, const int *precs, size_t np)
{
    for (const char *c = convs; *c; c++)
        for (unsigned fl = 0; fl < 32; fl++)
            for (size_t w = 0; w < nw; w++)
                for (size_t p = 0; p < np; p++)
                    check(v, *c, fl, widths[w], precs[p]);
}

static void begin(void)
{
    n_checks = 0;
    n_fail = 0;
}

static void end(const char *name)
{
    printf("%s: %lu checks, %lu mismatches\n", name, n_checks, n_fail);
    assert_int_equal(n_fail, 0);
}

/* ---- edge cases ------------------------------------------------------- */

static void test_specials(void **state)
{
    (void)state;
    const uint64_t nans[] = {
        0x7ff8000000000000ull, 0xfff8000000000000ull, /* qNaN, -qNaN */
        0x7ff0000000000001ull, 0xfff0000000000001ull, /* sNaN payloads */
        0x7fffffffffffffffull, 0x7ff0000000000000ull, /* NaN, inf */
        0xfff0000000000000ull,                        /* -inf */
    };
    const int widths[] = {0, 1, 3, 4, 5, 8};
    const int precs[] = {-1, 0, 3, 10};
    begin();
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++)
        check_grid(from_bits(nans[i]), widths, sizeof widths / sizeof widths[0], precs,
                   sizeof precs / sizeof precs[0]);
    end("specials");
}

static const double edge_values[] = {
    0.0, -0.0, DBL_MIN, -DBL_MIN, DBL_TRUE_MIN, -DBL_TRUE_MIN,
    2 * DBL_TRUE_MIN, 3 * DBL_TRUE_MIN, 0x0.8p-1022, 0x0.fffffffffffffp-1022,
    0x0.0000000000018p-1022, 0x1.8p-1022, DBL_MAX, -DBL_MAX, 0x1p1023,
    0.5, 1.5, 2.5, 3.5, -2.5, 0.125, 0.375, 0.625, 1.0, 10.0, 100.0,
    1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24,
    0.1, 0.2, 0.3, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 9.5, 99.95, 99.5,
    999.5, 9.9999995, 999999.5, 9999995.0, 0.000099995, 0.0001, 0.00001,
    1e-5, 9.99999e-5, 123456.5, 1234567.0, 123.456, -123.456, 3.14159265358979,
    1e100, 1e-100, 1e300, 1e-300, 1e308, 1e-308, 4.9e-324, 2.2250738585072009e-308,
    0x1p52, 0x1p53, 0x1p53 + 2, 0x1p63, 0x1p64, 0x1p64 + 0x1p12, 0x1p-60,
    0x1p-61, 0x1.fffffffffffffp-61, 0x1.fffffffffffffp0, 0x1.f8p0, 0x1.08p0,
    0x1.18p0, 0x1.a8p0, 0x1.00000000000008p0, 0x1.fffffffffffff8p-1,
    1.0 / 3, 2.0 / 3, 5e-5, 0.5e-4, 0.00049999, 123456789012345678.0,
    0.99999999, 9.9999999999999995, 999999999999.5, 0.000099999999, 99999.5,
    18446744073709551615.0, 9007199254740993.0, 0.30000000000000004,
};

static void test_edge_table(void **state)
{
    (void)state;
    const unsigned flag_sets[] = {0, NBLOG__FL_HASH, NBLOG__FL_PLUS,
                                  NBLOG__FL_SPACE | NBLOG__FL_HASH};
    begin();
    for (size_t i = 0; i < sizeof edge_values / sizeof edge_values[0]; i++)
        for (const char *c = convs; *c; c++)
            for (int p = -1; p <= 1074; p++) {
                if (p > 40 && p != 60 && p != 100 && p != 1074)
                    continue;
                for (size_t f = 0; f < 4; f++)
                    check(edge_values[i], *c, flag_sets[f], 0, p);
            }
    end("edge table");
}

static void test_flags_widths(void **state)
{
    (void)state;
    const double vals[] = {0.0, -0.0, 1.0, -1.5, 123.456, -1e-10, 1e20,
                           DBL_MIN, DBL_TRUE_MIN, 0x1.f8p0, -DBL_MAX, 0.5};
    const int widths[] = {0, 1, 2, 5, 8, 12, 20, 30, 400};
    const int precs[] = {-1, 0, 1, 3, 10};
    begin();
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        check_grid(vals[i], widths, sizeof widths / sizeof widths[0], precs,
                   sizeof precs / sizeof precs[0]);
    end("flags and widths");
}

/* ---- random ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

static uint64_t seed_from_env(void)
{
    const char *s = getenv("NBLOG_TEST_SEED");
    return s ? strtoull(s, NULL, 0) : 0x6e626c6f67ull; /* "nblog" */
}

/*
 * Exact ties: N / 2^j (N odd) has exactly j fraction digits, the last a 5,
 * so %.(j-1)f sits exactly halfway; %e and %g across precisions 0..60 hit
 * the same kind of tie at the significant-digit count minus one.
 */
static void test_halfway(void **state)
{
    (void)state;
    rng_state = seed_from_env() ^ 0x68616c66ull;
    begin();
    for (int round = 0; round < SCALED(60); round++) {
        for (int j = 1; j <= 70; j++) {
            int nbits = 1 + (int)rnd_below(53);
            uint64_t n = (rnd() >> (64 - nbits)) | 1;
            double v = times_pow2((double)n, -j);
            if (rnd() & 1)
                v = -v;
            for (int p = j - 3; p <= j + 1; p++)
                if (p >= 0)
                    check(v, 'f', 0, 0, p);
            for (int p = 0; p <= 60; p += 1 + (int)rnd_below(3)) {
                check(v, 'e', 0, 0, p);
                check(v, 'g', 0, 0, p);
            }
            for (int p = 0; p <= 13; p++)
                check(v, 'a', 0, 0, p);
        }
        /* integers with a decimal tie inside: d...d5 * 10^k, exact */
        uint64_t base = rnd_below(1000000000000000ull);
        static const double p10[] = {1, 10, 100, 1000, 10000};
        double w = (double)(base * 10 + 5) * p10[rnd_below(5)];
        for (int p = 0; p <= 20; p++) {
            check(w, 'e', 0, 0, p);
            check(w, 'g', 0, 0, p);
        }
    }
    end("halfway");
}

static void test_truncation(void **state)
{
    (void)state;
    const double vals[] = {-123.456, DBL_MAX, DBL_TRUE_MIN, -0.0, 1e-300};
    begin();
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        for (const char *c = convs; *c; c++)
            for (size_t t = 1; t < 400; t += 7) {
                struct nblog__spec sp = {NBLOG__FL_PLUS, 12, (int)(t % 30), *c};
                check_spec(vals[i], &sp, t);
            }
    struct nblog__spec nan_sp = {NBLOG__FL_MINUS, 9, -1, 'G'};
    for (size_t t = 1; t < 12; t++)
        check_spec(from_bits(0xfff8000000000000ull), &nan_sp, t);
    end("truncation");
}

/* Precisions and widths far beyond the exact expansion, compared through a
 * heap buffer; plus INT_MAX, where only the returned length is checked. */
static void test_huge(void **state)
{
    (void)state;
    const double vals[] = {1.0, -0.1, DBL_MAX, DBL_TRUE_MIN, 0.0, 99.95};
    const int precs[] = {2000, 100000};
    size_t cap = 300000;
    char *want = malloc(cap), *got = malloc(cap);
    assert_non_null(want);
    assert_non_null(got);
    begin();
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        for (const char *c = convs; *c; c++)
            for (size_t p = 0; p < 2; p++)
                for (int w = 0; w <= 200000; w += 200000) {
                    struct nblog__spec sp = {NBLOG__FL_HASH, w, precs[p], *c};
                    char fmt[64];
                    spec_str(fmt, sizeof fmt, &sp);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                    int wn = snprintf(want, cap, fmt, vals[i]);
#pragma GCC diagnostic pop
                    assert_true(wn > 0 && (size_t)wn < cap);
                    size_t gn = nblog__fmt_double(got, cap, vals[i], &sp);
                    n_checks++;
                    if (gn != (size_t)wn || memcmp(want, got, gn) != 0) {
                        n_fail++;
                        printf("MISMATCH (huge): value %a spec \"%s\" lengths "
                               "%d / %zu\n", vals[i], fmt, wn, gn);
                    }
                }
    /* INT_MAX precision: 1 + '.' + INT_MAX digits (+ "e+00" for %e) */
    struct nblog__spec fsp = {0, 0, 2147483647, 'f'};
    struct nblog__spec esp = {0, 0, 2147483647, 'e'};
    struct nblog__spec asp = {0, 0, 2147483647, 'a'};
    assert_int_equal(nblog__fmt_double(got, 16, 1.0, &fsp), 2147483649ull);
    assert_int_equal(nblog__fmt_double(got, 16, 1.0, &esp), 2147483653ull);
    assert_int_equal(nblog__fmt_double(got, 16, 1.0, &asp), 2147483654ull);
    assert_memory_equal(got, "0x1.000000000000", 16);
    struct nblog__spec wsp = {NBLOG__FL_MINUS, 2147483647, 1, 'g'};
    assert_int_equal(nblog__fmt_double(got, 4, -2.0, &wsp), 2147483647ull);
    assert_memory_equal(got, "-2  ", 4);
    free(want);
    free(got);
    end("huge precision and width");
}

static double random_value(void)
{
    uint64_t kind = rnd_below(100);
    uint64_t b = rnd();
    double v;
    if (kind < 40) { /* any bit pattern */
        v = from_bits(b);
    } else if (kind < 45) { /* subnormal */
        v = from_bits(b & 0x800fffffffffffffull);
    } else if (kind < 47) { /* inf / nan */
        v = from_bits(b | 0x7ff0000000000000ull);
    } else if (kind < 60) { /* everyday magnitudes, 2^-70 .. 2^70 */
        uint64_t e = 1023 - 70 + rnd_below(141);
        v = from_bits((b & 0x800fffffffffffffull) | e << 52);
    } else if (kind < 85) { /* "nice" decimals: up to 17 digits * 10^k */
        char txt[48];
        unsigned nd = 1 + (unsigned)rnd_below(17);
        uint64_t lim = 1;
        for (unsigned i = 0; i < nd; i++)
            lim *= 10;
        snprintf(txt, sizeof txt, "%llue%d", (unsigned long long)rnd_below(lim),
                 (int)rnd_below(61) - 40);
        v = strtod(txt, NULL);
    } else if (kind < 90) { /* runs of nines: rounding carries a new digit */
        char txt[48];
        int n9 = 1 + (int)rnd_below(17), k = 0;
        for (; k < n9; k++)
            txt[k] = '9';
        if (rnd() & 1)
            txt[k++] = (char)('0' + rnd_below(10));
        snprintf(txt + k, sizeof txt - (size_t)k, "e%d", (int)rnd_below(41) - 30);
        v = strtod(txt, NULL);
    } else if (kind < 95) { /* small integers and binary fractions */
        v = times_pow2((double)rnd_below(2000001) - 1000000.0,
                       -(int)rnd_below(12));
    } else { /* powers of two and ten, and their neighbours */
        if (rnd() & 1) {
            int k = (int)rnd_below(2098) - 1074;
            v = k >= -1022 ? times_pow2(1.0, k)
                           : from_bits(UINT64_C(1) << (k + 1074));
        } else {
            char txt[16];
            snprintf(txt, sizeof txt, "1e%d", (int)rnd_below(617) - 308);
            v = strtod(txt, NULL);
        }
        uint64_t nb = to_bits(v);
        if (rnd() & 1) /* next double up or down (v > 0, finite) */
            v = from_bits(rnd() & 1 ? nb + 1 : nb - 1);
    }
    if (kind >= 60 && (rnd() & 1))
        v = -v;
    return v;
}

static void random_spec(struct nblog__spec *sp)
{
    uint64_t r = rnd();
    sp->conv = convs[r & 7];
    sp->flags = (unsigned)(r >> 3) & 31;
    sp->width = (r >> 8) % 10 < 6 ? 0 : 1 + (int)((r >> 12) % 40);
    unsigned pk = (unsigned)((r >> 20) % 100);
    sp->prec = pk < 15   ? -1
               : pk < 70 ? (int)((r >> 28) % 18)
               : pk < 90 ? 18 + (int)((r >> 28) % 23)
               : pk < 98 ? 41 + (int)((r >> 28) % 80)
                         : 121 + (int)((r >> 28) % 980);
}

static void test_random(void **state)
{
    (void)state;
    uint64_t seed = seed_from_env();
    long count = SCALED(1000000);
    struct timespec t0, t1;
    rng_state = seed;
    begin();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < count; i++) {
        double v = random_value();
        struct nblog__spec sp;
        random_spec(&sp);
        check_spec(v, &sp, (i & 15) == 0 ? 1 + rnd_below(64) : 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("random (seed 0x%llx): %.2f s\n", (unsigned long long)seed,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    end("random");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),
        cmocka_unit_test(test_edge_table),
        cmocka_unit_test(test_flags_widths),
        cmocka_unit_test(test_halfway),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

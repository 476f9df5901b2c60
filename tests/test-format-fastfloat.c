/*
 * test-format-fastfloat.c - the float fast path (format_float.c
 * render_fast) against the exact path and against glibc, and render's
 * word-at-a-time escape against a unit-by-unit reference.
 *
 * Each check renders one value with one spec three ways: nblog__fmt_double
 * (fast path first), nblog__fmt_double_exact (the exact digit generator
 * only; a test hook) and glibc's snprintf; all three must agree byte for
 * byte and in length. Sometimes a cut rendering too (cap below the
 * length): the same prefix, nothing written past cap. Values come from
 * several generators (random bit patterns; "human" values such as k/4,
 * k/1000, short decimals; values at and next to decimal rounding ties;
 * next to powers of ten; huge, tiny and subnormal ones), each with random
 * specs: conversion f F e E g G, precision none or 0..17 (sometimes more),
 * flags "-+ #0" and widths.
 *
 * Counts: about 7 M checks by default (about 10 s). NBLOG_TEST_LONG=N
 * runs N times as many, by hand (NBLOG_TEST_LONG=20: about 150 M).
 * NBLOG_TEST_SEED (decimal or 0x hex) replays a run; the seed is printed.
 * A test that pins behaviour, not speed (speed is bench's).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "format_float.h"
#include "render.h"

#define OUTCAP 2048
#define SHOW_MAX 20

static unsigned long n_checks, n_fail;
static unsigned long scale = 1;
/* n of the default run, times NBLOG_TEST_LONG, less under sanitizers */
#define COUNT(n) ((unsigned long)(n) * scale / TEST_SCALE_DIV)
static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

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

static void spec_str(char *buf, size_t n, const struct nblog__spec *sp)
{
    char fl[8], w[16] = "", p[16] = "";
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
    if (sp->width)
        snprintf(w, sizeof w, "%d", sp->width);
    if (sp->prec >= 0)
        snprintf(p, sizeof p, ".%d", sp->prec);
    snprintf(buf, n, "%%%s%s%s%c", fl, w, p, sp->conv);
}

static void report(double v, const char *fmt, const char *what, const char *want,
                   size_t wn, const char *got, size_t gn)
{
    if (n_fail > SHOW_MAX)
        return;
    if (n_fail == SHOW_MAX) {
        printf("  (further mismatches not shown)\n");
        return;
    }
    printf("MISMATCH (%s): value %a (%.17g) bits 0x%016llx spec \"%s\"\n"
           "  expected (%zu): \"%.*s\"\n  actual   (%zu): \"%.*s\"\n",
           what, v, v, (unsigned long long)to_bits(v), fmt, wn, (int)wn, want, gn,
           (int)(gn < OUTCAP ? gn : OUTCAP), got);
}

static void check_spec(double v, const struct nblog__spec *sp)
{
    static char want[OUTCAP], fast[OUTCAP + 16], exact[OUTCAP];
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
    size_t fn = nblog__fmt_double(fast, OUTCAP, v, sp);
    size_t en = nblog__fmt_double_exact(exact, OUTCAP, v, sp);
    if (fn != en || memcmp(fast, exact, fn) != 0) {
        n_fail++;
        report(v, fmt, "fast vs exact", exact, en, fast, fn);
        return;
    }
    if (fn != (size_t)wn || memcmp(want, fast, fn) != 0) {
        n_fail++;
        report(v, fmt, "vs glibc", want, (size_t)wn, fast, fn);
        return;
    }
    if ((rnd() & 15) == 0) { /* cut: cap 0 .. wn - 1 */
        size_t cap = wn ? (size_t)(rnd() % (uint64_t)wn) : 0;
        memset(fast, 0x5a, cap + 16);
        fn = nblog__fmt_double(fast, cap, v, sp);
        int bad = fn != (size_t)wn || memcmp(want, fast, cap) != 0;
        for (size_t i = cap; i < cap + 16; i++)
            bad |= fast[i] != 0x5a;
        if (bad) {
            n_fail++;
            report(v, fmt, "cut", want, cap, fast, cap);
        }
    }
}

/* A random spec: mostly the fast path's (precision none or 0..17, no
 * width), sometimes flags, widths and larger precisions. */
static void random_spec(struct nblog__spec *sp)
{
    static const char convs[] = "fFeEgG";
    uint64_t r = rnd();
    sp->conv = convs[r % 6];
    r >>= 3;
    unsigned p = (unsigned)(r % 20);
    r >>= 5;
    sp->prec = p == 18 ? -1 : p == 19 ? (int)(18 + r % 12) : (int)p;
    r >>= 4;
    sp->flags = (r & 3) == 0 ? (unsigned)((r >> 2) & 31) : 0;
    r >>= 7;
    sp->width = (r & 7) == 0 ? (int)((r >> 3) % 40) : 0;
}

static void check_value(double v, int specs)
{
    for (int i = 0; i < specs; i++) {
        struct nblog__spec sp;
        random_spec(&sp);
        check_spec(v, &sp);
    }
}

/* Every fast precision and conversion, no flags, for v. */
static void check_all_precs(double v)
{
    static const char convs[] = "fFeEgG";
    for (const char *c = convs; *c; c++)
        for (int p = -1; p <= 17; p++) {
            struct nblog__spec sp = {0, 0, p, *c};
            check_spec(v, &sp);
        }
}

static void done(const char *what)
{
    printf("%s: %lu checks, %lu mismatches\n", what, n_checks, n_fail);
    assert_int_equal(n_fail, 0);
    n_checks = n_fail = 0;
}

/* The bench's values, k * 0.25, and their neighbours k/4 +- small. */
static void test_bench_values(void **state)
{
    (void)state;
    for (unsigned long k = 0; k < COUNT(8000); k++)
        check_all_precs(k * 0.25);
    for (unsigned long i = 0; i < COUNT(300000); i++)
        check_value((double)(rnd() >> (rnd() % 64)) * 0.25, 2);
    done("bench values");
}

/* Values people log: k/10^j, short decimals parsed by strtod, integers,
 * ratios, each with random specs. */
static void test_human_values(void **state)
{
    (void)state;
    char buf[64];
    for (unsigned long i = 0; i < COUNT(500000); i++) {
        uint64_t r = rnd();
        double v;
        switch (r % 6) {
        case 0: v = (double)(rnd() % 100000000) / 1000.0; break;
        case 1: v = (double)(rnd() % 1000000) / 100.0; break;
        case 2: v = (double)(rnd() % 100000) * 0.1; break;
        case 3: v = (double)(int64_t)(rnd() >> (rnd() % 64)); break;
        case 4: v = (double)(rnd() % 1000000) / (double)(rnd() % 1000 + 1); break;
        default:
            snprintf(buf, sizeof buf, "%llu.%llue%d", (unsigned long long)(rnd() % 1000000),
                     (unsigned long long)(rnd() % 100000), (int)(rnd() % 41) - 20);
            v = strtod(buf, NULL);
            break;
        }
        if (r & 0x100)
            v = -v;
        check_value(v, 3);
    }
    done("human values");
}

/* Decimal ties: the double nearest d.ddd5 (at each precision's rounding
 * place) and its neighbours, and exact binary ties (k / 2^j). */
static void test_ties(void **state)
{
    (void)state;
    char buf[80];
    for (unsigned long i = 0; i < COUNT(300000); i++) {
        int p = (int)(rnd() % 18);
        unsigned long long ip = rnd() % 100000, mod = 1;
        for (int k = 0; k < p; k++)
            mod *= 10;
        int e = (rnd() & 1) ? 0 : (int)(rnd() % 7) - 3; /* e 0: the tie is at p + 1 */
        if (p)
            snprintf(buf, sizeof buf, "%llu.%0*llu5e%d", ip, p, rnd() % mod, e);
        else
            snprintf(buf, sizeof buf, "%llu.5e%d", ip, e);
        double v = strtod(buf, NULL);
        struct nblog__spec sp = {0, 0, p, (rnd() & 1) ? 'f' : 'e'};
        check_spec(v, &sp);
        check_spec(nextafter(v, 0), &sp);
        check_spec(nextafter(v, INFINITY), &sp);
        sp.conv = 'g';
        sp.prec = p + 1;
        check_spec(v, &sp);
        /* exact ties in binary */
        double t = (double)(2 * (rnd() % 1000000) + 1) / (double)(1u << (rnd() % 20 + 1));
        check_value(t, 2);
    }
    done("ties");
}

/* Next to powers of ten (where digit counts and exponents change), and
 * the 9.99..95 carries. */
static void test_powers_of_ten(void **state)
{
    (void)state;
    char buf[64];
    for (int n = -25; n <= 25; n++) {
        snprintf(buf, sizeof buf, "1e%d", n);
        double v = strtod(buf, NULL);
        double up = v, down = v;
        for (int k = 0; k < 4; k++) {
            check_all_precs(up);
            check_all_precs(down);
            up = nextafter(up, INFINITY);
            down = nextafter(down, 0);
        }
        for (int nines = 1; nines <= 17; nines++) {
            char d[32];
            memset(d, '9', (size_t)nines);
            d[nines] = '\0';
            snprintf(buf, sizeof buf, "0.%s5e%d", d, n);
            check_all_precs(strtod(buf, NULL));
            check_all_precs(nextafter(strtod(buf, NULL), 0));
        }
    }
    for (unsigned long i = 0; i < COUNT(200000); i++) {
        snprintf(buf, sizeof buf, "1e%d", (int)(rnd() % 45) - 22);
        double v = strtod(buf, NULL);
        for (int k = (int)(rnd() % 8); k > 0; k--)
            v = (rnd() & 1) ? nextafter(v, INFINITY) : nextafter(v, 0);
        check_value(v, 3);
    }
    done("powers of ten");
}

/* Random bit patterns (any exponent: huge, tiny, subnormal, inf, nan) and
 * random exponents near 1 (where the fast path decides). */
static void test_random_bits(void **state)
{
    (void)state;
    for (unsigned long i = 0; i < COUNT(400000); i++) {
        check_value(from_bits(rnd()), 1);
        uint64_t b = rnd();
        /* exponent within 2^-70 .. 2^70 */
        b = (b & 0x800fffffffffffffull) | ((uint64_t)(1023 - 70 + (int)(rnd() % 141)) << 52);
        check_value(from_bits(b), 2);
        /* few significant bits: m * 2^e with a short m */
        double v = ldexp((double)(rnd() % 65536), (int)(rnd() % 160) - 80);
        check_value(v, 2);
    }
    static const double extremes[] = {DBL_MAX, DBL_MIN, DBL_TRUE_MIN, 0.0, -0.0,
                                      1.0, 0.5, 9007199254740992.0, 18446744073709551616.0,
                                      18446744073709549568.0, 1e19, 1e20, 1e-20};
    for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++)
        check_all_precs(extremes[i]);
    done("random bits");
}

/* ---- escape ------------------------------------------------------------ */

/* One unit at a time, as the escaping is specified (render.c). */
static size_t ref_escape(char *out, size_t room, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0, i = 0;
    while (i < len) {
        int keep;
        size_t unit = nblog__text_unit(s + i, len - i, &keep);
        if ((keep ? unit : 4 * unit) > room - n)
            break;
        for (size_t k = 0; k < unit; k++) {
            if (keep) {
                out[n++] = (char)s[i + k];
            } else {
                snprintf(out + n, 5, "\\x%02x", s[i + k]);
                n += 4;
            }
        }
        i += unit;
    }
    return n;
}

static void test_escape(void **state)
{
    (void)state;
    static const char *const pieces[] = {"\\", "\x7f", "\n", "\x1b[", "\xc2\x9b", "\xc2\xa0",
                                         "\xe2\x80\xa8", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         "\xc3", "\xe0\x80\x80", "\xed\xa0\x80", "\xff", " "};
    char text[200], want[1000], got[1000];
    unsigned long fails = 0;
    for (unsigned long i = 0; i < COUNT(300000); i++) {
        size_t len = 0, target = rnd() % 120;
        while (len < target) {
            uint64_t r = rnd();
            if (r % 8) { /* plain ASCII, mostly */
                text[len++] = (char)(0x20 + (r >> 8) % 95);
            } else {
                const char *p = pieces[(r >> 8) % (sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(p);
                if (len + pl > sizeof text)
                    break;
                memcpy(text + len, p, pl);
                len += pl;
            }
        }
        size_t room = rnd() % (4 * len + 16);
        memset(got, 0x5a, sizeof got);
        size_t wn = ref_escape(want, room, text, len);
        size_t gn = nblog__escape(got, room, text, len);
        int bad = gn != wn || memcmp(want, got, wn) != 0;
        for (size_t k = room; k < room + 8 && k < sizeof got; k++)
            bad |= got[k] != 0x5a; /* nothing past room */
        if (bad && fails++ < SHOW_MAX)
            printf("ESCAPE MISMATCH room %zu len %zu: want %zu \"%.*s\" got %zu \"%.*s\"\n", room,
                   len, wn, (int)wn, want, gn, (int)gn, got);
    }
    printf("escape: %lu strings, %lu mismatches\n", COUNT(300000), fails);
    assert_int_equal(fails, 0);
}

int main(void)
{
    const char *seed = getenv("NBLOG_TEST_SEED"), *lng = getenv("NBLOG_TEST_LONG");
    rng_state = seed ? strtoull(seed, NULL, 0) : 0x15f10a7ull;
    if (lng && atol(lng) > 0)
        scale = (unsigned long)atol(lng);
    printf("seed 0x%llx, scale %lu\n", (unsigned long long)rng_state, scale);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_values),  cmocka_unit_test(test_human_values),
        cmocka_unit_test(test_ties),          cmocka_unit_test(test_powers_of_ten),
        cmocka_unit_test(test_random_bits),   cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test-deferred.c - the deferred way in (NBLOG_INFO and friends): what the
 * reader renders equals what nblog_printf stores and what glibc's snprintf
 * prints; records render in a process that never saw the caller's memory;
 * a call site's first use is safe from many threads and a signal handler;
 * damaged payloads render as marked text, never a crash.
 */
#include "testutil.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include "format.h"
#include "log.h"
#include "nblog.h"

static nblog_reader_t rd;

static int setup(void **state)
{
    (void)state;
    if (tu_init_text(1 << 12, 472) != NBLOG_OK) /* records spill past 88 bytes */
        return -1;
    return nblog_reader_open(&rd, NBLOG_FROM_NEXT);
}

static char got_deferred[4096], got_printf[4096];

/* Reads the pair the SAME macro stored and checks it against glibc's. */
static void check_pair(int rc_macro, int rc_printf, const char *expected,
                       const char *what)
{
    nblog_record_t a, b;
    assert_int_equal(rc_macro, rc_printf);
    assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
    assert_int_equal(nblog_reader_next(&rd, &b, got_printf, sizeof got_printf), NBLOG_OK);
    if (strcmp(a.text, b.text) != 0 || strcmp(a.text, expected) != 0) {
        print_error("%s\n  macro:  \"%s\"\n  printf: \"%s\"\n  glibc:  \"%s\"\n",
                    what, a.text, b.text, expected);
        fail();
    }
    assert_int_equal(a.flags, b.flags);
}

static char expected[8192];

/* Logs the same call both ways, and prints it with glibc. */
#define SAME(...)                                                              \
    do {                                                                       \
        snprintf(expected, sizeof expected, __VA_ARGS__);                      \
        int rc_m_ = NBLOG_INFO(__VA_ARGS__);                                   \
        int rc_p_ = nblog_printf(NBLOG_LEVEL_INFO, __VA_ARGS__);               \
        check_pair(rc_m_, rc_p_, expected, #__VA_ARGS__);                      \
    } while (0)

static void test_table(void **state)
{
    (void)state;
    char unterminated[3] = {'a', 'b', 'c'};
    const char *volatile null_str = NULL; /* opaque: GCC warns on a known NULL */
    SAME("plain text, no conversions");
    SAME("iteration %d value %f name %s", 42, 3.25, "bench");
    SAME("%d %i %u %x %X %o %c %%", -7, 8, 9u, 255u, 255u, 8u, 'q');
    SAME("%hhd %hd %ld %lld %jd %zd %td", (signed char)-3, (short)-300,
         LONG_MIN, LLONG_MAX, (intmax_t)-1, (ssize_t)-5, (ptrdiff_t)7);
    SAME("%hhu %hu %lu %llu %ju %zu", (unsigned char)250, (unsigned short)65000,
         ULONG_MAX, ULLONG_MAX, (uintmax_t)1, (size_t)123456789);
    SAME("%d %d", INT_MIN, INT_MAX);
    SAME("[%5d] [%-5d] [%05d] [%+d] [% d] [%.3d] [%#x] [%#o]", 1, 2, 3, 4, 5, 6, 7u, 8u);
    SAME("[%*d] [%-*d] [%.*d] [%*.*d]", 6, 1, 6, 2, 4, 3, 7, 3, 4);
    SAME("%p %p", (void *)0x1234, (void *)NULL);
    SAME("[%s] [%10s] [%-10s] [%.2s]", "str", "right", "left", "cut");
    SAME("[%.3s]", unterminated);
    SAME("[%.*s]", 2, unterminated);
    SAME("[%s] [%.3s] [%.6s]", null_str, null_str, null_str);
    SAME("%f %F %e %E %g %G %a %A", 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5);
    SAME("%f %f %f %f", NAN, -NAN, INFINITY, -INFINITY);
    SAME("%e %g %a", -0.0, -0.0, -0.0);
    SAME("%.17g %.17g %.17g", DBL_MIN, DBL_MAX, DBL_TRUE_MIN);
    SAME("%a %a", DBL_TRUE_MIN, 4.9e-324);
    SAME("%.0f %.0f %.0f %.1f %.2f", 0.5, 1.5, 2.5, 0.25, 1.005);
    SAME("%.60f", 0.1);
    SAME("%Lf %Le", (long double)1.25, (long double)-3e10);
    SAME("%#g %#.0f %#.0e %+.3e % .2f %010.3f %-10.2e|", 1.0, 2.0, 3.0, 4.0, 5.0, -6.0, 7.0);
    SAME("%s=%d %s=%f %s=%p %s=%c", "a", 1, "b", 2.0, "c", (void *)&state, "d", 'x');
    SAME("16 args %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4,
         5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-invalid-specifier"
#pragma GCC diagnostic ignored "-Wformat-insufficient-args"
#pragma GCC diagnostic ignored "-Wformat-pedantic"
#else
#pragma GCC diagnostic ignored "-Wformat-overflow"
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
/* What a deferred call cannot copy is formatted at once, with the result
 * nblog_printf gives; those records are TEXT, the others DEFERRED. */
static void test_fallbacks_match_printf(void **state)
{
    (void)state;
    nblog_record_t a, b;
    int ra = NBLOG_INFO("wide %ls and %lc", L"wïde", (wint_t)L'é');
    int rb = nblog_printf(NBLOG_LEVEL_INFO, "wide %ls and %lc", L"wïde", (wint_t)L'é');
    assert_int_equal(ra, rb);
    assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
    assert_int_equal(nblog_reader_next(&rd, &b, got_printf, sizeof got_printf), NBLOG_OK);
    assert_int_equal(a.kind, NBLOG_KIND_TEXT);
    assert_string_equal(a.text, b.text);

    /* Missing arguments: same %!(MISSING) marks and return value. */
    ra = NBLOG_WARNING("a=%d b=%s", 1);
    assert_int_equal(ra, NBLOG_EARGS);
    assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
    assert_string_equal(a.text, "a=1 b=%!(MISSING)");
    assert_true(a.flags & NBLOG_F_BADINPUT);

    /* Unknown conversion: the rest verbatim, EFORMAT. */
    assert_int_equal(NBLOG_INFO("odd %y %d", 3), NBLOG_EFORMAT);
    assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
    assert_string_equal(a.text, "odd %y %d");

    /* The ordinary case is deferred. */
    assert_int_equal(NBLOG_INFO("n=%d", 5), NBLOG_OK);
    assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
    assert_int_equal(a.kind, NBLOG_KIND_DEFERRED);
}
/* ---- refused and odd specs, both ways in ------------------------------ */

/* Logs the same call both ways; both must render want, with the same
 * return value and flags. For what glibc prints differently (refused
 * specs) or not at all. */
#define BOTH(want, ...)                                                        \
    do {                                                                       \
        int rc_m_ = NBLOG_INFO(__VA_ARGS__);                                   \
        int rc_p_ = nblog_printf(NBLOG_LEVEL_INFO, __VA_ARGS__);               \
        check_pair(rc_m_, rc_p_, want, #__VA_ARGS__);                          \
    } while (0)

/*
 * Issue 11, item 18: a refused spec never shifts the arguments, so no
 * conversion shows another argument's bits; the deferred way in (its call
 * site's descriptor) and nblog_printf agree on every one of these.
 */
static void test_refused_specs_agree(void **state)
{
    (void)state;
    int i = 5;
    long long big = 1LL << 40;
    char pad[257];
    memset(pad, ' ', 255);
    strcpy(pad + 255, "1");
    char want[512];
    snprintf(want, sizeof want, "%s2%%n3", pad);
    /* The issue's cases: the pointer printed as an int, then a byte of
     * the string pointer printed as a %c. */
    BOTH(want, "%256d%d%n%d", 1, 2, &i, 3);
    BOTH("%.2147483648sx", "%.2147483648s%c", "str", 'x');
    assert_int_equal(i, 5);
    /* Certain types: taken, shown verbatim. */
    BOTH("%hhn|%hn|%ln|%lln|%jn|%zn|%tn|%*n 3", "%hhn|%hn|%ln|%lln|%jn|%zn|%tn|%*n %d",
         (signed char *)pad, (short *)(void *)pad, (long *)(void *)pad,
         (long long *)(void *)pad, (intmax_t *)(void *)pad, (size_t *)(void *)pad,
         (ptrdiff_t *)(void *)pad, 4, &i, 3);
    assert_int_equal(i, 5);
    BOTH("%2147483648lld|8", "%2147483648lld|%d", big, 8);
    BOTH("%99999999999d 2", "%99999999999d %d", 1, 2);
    BOTH("%.99999999999f|x", "%.99999999999f|%s", 1.5, "x");
    BOTH("%*.2147483648Lf|x", "%*.2147483648Lf|%s", 4, (long double)1.5, "x");
    BOTH("%2147483648p|y", "%2147483648p|%c", (void *)&i, 'y');
    BOTH("%2147483648ls|y", "%2147483648ls|%c", L"wide", 'y');
    BOTH("%2147483648m|1", "%2147483648m|%d", 1);
    /* Unknown: the rest verbatim, nothing taken or shown after it. */
    BOTH("1 %y %d %s", "%d %y %d %s", 1, 2, "leak");
    BOTH("%1$d %d", "%1$d %d", 1, 2);
    BOTH("%llld %p", "%llld %p", big, (void *)&i);
    BOTH("%hhhd %s", "%hhhd %s", 1, "leak");
    BOTH("%*y %d", "%*y %d", 4, 1);
    BOTH("%5.2ly|%s", "%5.2ly|%s", "leak");
    BOTH("tail %", "tail %");
    BOTH("tail %-5.3l", "tail %-5.3l");
    /* Too few arguments for a refused spec: MISSING, like any other. */
    BOTH("a=%!(MISSING)", "a=%n");
    /* Odd but valid: what glibc prints. */
    SAME("%*%|%d", 7, 9); /* the '*' takes its argument in both ways */
    SAME("%.*%|%-*%|%d", 7, 8, 9);
    SAME("%.*s|%d", INT_MAX, "abc", 4);
    SAME("%.70000s|%d", "abc", 4);
    SAME("[%C|%S]", (wint_t)'c', L"wide");
    SAME("%'d %'.3f", 1234567, 2.5);
    SAME("%hhs %hs %hc %hhc", "a", "b", 'c', 'd');
    SAME("%jd %zu %td %Lf %lf %qd", (intmax_t)-1, (size_t)2, (ptrdiff_t)3,
         (long double)4.5, 5.5, 6LL);
}
#pragma GCC diagnostic pop

/* Too long for a record: the string argument, the rendered text, or the
 * format itself. All three end as nblog_printf's truncated text. */
static void test_truncation_matches_printf(void **state)
{
    (void)state;
    nblog_stats_t st;
    nblog_stats_get(&st);
    char big[3000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 3; i++) {
        int ra, rb;
        if (i == 0) {
            ra = NBLOG_INFO("long arg %s end", big);
            rb = nblog_printf(NBLOG_LEVEL_INFO, "long arg %s end", big);
        } else if (i == 1) {
            ra = NBLOG_INFO("wide field [%900d] [%900.3f]", 1, 2.0);
            rb = nblog_printf(NBLOG_LEVEL_INFO, "wide field [%900d] [%900.3f]", 1, 2.0);
        } else {
            ra = NBLOG_INFO("%.*s", 2000, big);
            rb = nblog_printf(NBLOG_LEVEL_INFO, "%.*s", 2000, big);
        }
        nblog_record_t a, b;
        assert_int_equal(ra, rb);
        assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
        assert_int_equal(nblog_reader_next(&rd, &b, got_printf, sizeof got_printf), NBLOG_OK);
        assert_string_equal(a.text, b.text);
        assert_int_equal(a.len, st.text_max);
        assert_true(a.flags & NBLOG_F_TRUNCATED);
        assert_true(b.flags & NBLOG_F_TRUNCATED);
    }
}

/* ---- random doubles and specs --------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double random_double(void)
{
    uint64_t bits = rnd();
    double d;
    switch (rnd() % 4) {
    case 0: /* any bit pattern: subnormals, NaNs, infinities included */
        memcpy(&d, &bits, 8);
        return d;
    case 1: /* everyday magnitudes */
        return (double)(int64_t)(bits % 2000001) / 1000.0 - 1000.0;
    case 2: /* powers of ten and their neighbours */
        d = pow(10.0, (double)(int)(bits % 60) - 30);
        return (bits >> 40) & 1 ? nextafter(d, INFINITY) : d;
    default: /* small binary fractions: exact halfway cases */
        return (double)(int)(bits % 4096) / 64.0;
    }
}

/* Every flag set worth telling apart, for every floating conversion, with
 * width and precision from the arguments. One literal format per entry, as
 * the macro requires. */
#define FLOAT_SPECS(X, C)                                                      \
    X("%*.*" C) X("%-*.*" C) X("%+*.*" C) X("% *.*" C) X("%#*.*" C)            \
    X("%0*.*" C) X("%+0*.*" C) X("%-#*.*" C) X("% #0*.*" C)
#define ALL_FLOAT_SPECS(X)                                                     \
    FLOAT_SPECS(X, "f") FLOAT_SPECS(X, "F") FLOAT_SPECS(X, "e")                \
    FLOAT_SPECS(X, "E") FLOAT_SPECS(X, "g") FLOAT_SPECS(X, "G")                \
    FLOAT_SPECS(X, "a") FLOAT_SPECS(X, "A")
#define COUNT_ONE(fmt) +1
enum { N_SPECS = 0 ALL_FLOAT_SPECS(COUNT_ONE) };

static int log_spec(int which, int w, int p, double v, int deferred)
{
    int i = 0;
#define CALL_ONE(fmt)                                                          \
    if (i++ == which)                                                          \
        return deferred ? NBLOG_INFO(fmt, w, p, v)                             \
                        : nblog_printf(NBLOG_LEVEL_INFO, fmt, w, p, v);
    ALL_FLOAT_SPECS(CALL_ONE)
#undef CALL_ONE
    return -100;
}

static const char *spec_text(int which)
{
    static const char *const specs[] = {
#define NAME_ONE(fmt) fmt,
        ALL_FLOAT_SPECS(NAME_ONE)
#undef NAME_ONE
    };
    return specs[which];
}

static void test_random_doubles(void **state)
{
    (void)state;
    long n = SCALED(1000000);
    for (long i = 0; i < n; i++) {
        int which = (int)(rnd() % N_SPECS);
        int w = (int)(rnd() % 30);
        int p = (int)(rnd() % 45) - 3; /* negative: no precision */
        double v = random_double();
        char want[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(want, sizeof want, spec_text(which), w, p, v);
#pragma GCC diagnostic pop
        int ra = log_spec(which, w, p, v, 1);
        int rb = log_spec(which, w, p, v, 0);
        char what[128];
        snprintf(what, sizeof what, "spec %s w=%d p=%d v=%a", spec_text(which), w, p, v);
        check_pair(ra, rb, want, what);
    }
}


/* Huge '*' values: the same truncated text both ways. */
static void test_huge_star_agrees(void **state)
{
    (void)state;
    /* Opaque to gcc, which would warn about an output past INT_MAX. */
    volatile int max_v = INT_MAX, min_v = INT_MIN + 1;
    int max = max_v, min = min_v;
    for (int k = 0; k < 4; k++) {
        int ra, rb;
        if (k == 0) {
            ra = NBLOG_INFO("%*d|%s", max, 1, "x");
            rb = nblog_printf(NBLOG_LEVEL_INFO, "%*d|%s", max, 1, "x");
        } else if (k == 1) {
            ra = NBLOG_INFO("%-*d|%s", max, 1, "x");
            rb = nblog_printf(NBLOG_LEVEL_INFO, "%-*d|%s", max, 1, "x");
        } else if (k == 2) {
            ra = NBLOG_INFO("%.*d|%s", max, 1, "x");
            rb = nblog_printf(NBLOG_LEVEL_INFO, "%.*d|%s", max, 1, "x");
        } else {
            ra = NBLOG_INFO("%*.*s|%d", min, max, "s", 2);
            rb = nblog_printf(NBLOG_LEVEL_INFO, "%*.*s|%d", min, max, "s", 2);
        }
        nblog_record_t a, b;
        assert_int_equal(ra, rb);
        assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
        assert_int_equal(nblog_reader_next(&rd, &b, got_printf, sizeof got_printf), NBLOG_OK);
        assert_int_equal(a.kind, NBLOG_KIND_DEFERRED);
        assert_string_equal(a.text, b.text);
        assert_int_equal(a.flags, b.flags);
        assert_true(a.flags & NBLOG_F_TRUNCATED);
    }
}

/* ---- %m ----------------------------------------------------------------- */

/* Issue 11, item 19: %m is glibc's strerror text of errno as it was at the
 * call; the deferred way in copies it then (the reader renders after errno
 * changed); both ways leave errno as they found it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat" /* gcc 12 does not know %#m */
static void test_errno_conversion(void **state)
{
    (void)state;
    nblog_record_t a;
    errno = ENOENT;
    SAME("open: %m");
    assert_int_equal(errno, ENOENT);
    errno = EACCES;
    SAME("[%#m|%-30m|%.4m|%*m]", 20);
    errno = 4242;
    SAME("[%m|%#m|%5.1m]");
    errno = 0;
    SAME("%m");
    errno = EAGAIN;
    SAME("%d %m %s %m", 1, "x"); /* twice, with arguments around */
    /* Copied at call time: read after errno changed. */
    errno = ENOSPC;
    assert_int_equal(NBLOG_INFO("write: %m"), NBLOG_OK);
    assert_int_equal(errno, ENOSPC);
    errno = EPERM;
    assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
    assert_int_equal(a.kind, NBLOG_KIND_DEFERRED);
    assert_string_equal(a.text, "write: No space left on device");
    /* Formatted at once (wide string) still shows the call's errno. */
    errno = EBADF;
    assert_int_equal(NBLOG_INFO("%ls: %m", L"fd"), NBLOG_OK);
    assert_int_equal(errno, EBADF);
    assert_int_equal(nblog_reader_next(&rd, &a, got_deferred, sizeof got_deferred), NBLOG_OK);
    assert_int_equal(a.kind, NBLOG_KIND_TEXT);
    assert_string_equal(a.text, "fd: Bad file descriptor");
    /* 16 arguments and a %m: more entries than a site holds, formatted at
     * once, same text. */
    errno = EINTR;
    SAME("%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %m", 1, 2, 3, 4, 5,
         6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
}
#pragma GCC diagnostic pop

/* ---- random formats ------------------------------------------------------ */

/*
 * Formats built at random from a spec alphabet, run both ways in (the
 * deferred one through nblog__defer with a fresh site, as the macros call
 * it: they take literal formats only) over one fixed list of arguments of
 * known C types. The generator knows which argument each spec takes by the
 * C rules, and a model builds the text that must come out: glibc's
 * snprintf of each valid spec with exactly its arguments, refused specs
 * verbatim, and after an unknown spec the rest verbatim. Both ways in must
 * equal the model, so no conversion shows an argument it did not take.
 */
enum tape_kind { T_INT, T_LL, T_DBL, T_STR, T_PTR };
#define TAPE_N 10
static const enum tape_kind tape_kind[TAPE_N] = {T_INT, T_STR, T_DBL, T_INT, T_LL,
                                                 T_PTR, T_INT, T_INT, T_STR, T_DBL};
static const int tape_int[TAPE_N] = {[0] = 42, [3] = -7, [6] = 3, [7] = 'Q'};
static const long long tape_ll = -1234567890123LL;
static const double tape_dbl[TAPE_N] = {[2] = 1.5, [9] = -2.25e10};
static const char *const tape_str[TAPE_N] = {[1] = "str-one", [8] = "two"};
static void *const tape_ptr = (void *)0x5eed1234;
#define TAPE_ARGS                                                              \
    tape_int[0], tape_str[1], tape_dbl[2], tape_int[3], tape_ll, tape_ptr,     \
        tape_int[6], tape_int[7], tape_str[8], tape_dbl[9]
#define FUZZ_ERRNO ERANGE

struct gen {
    char fmt[400], want[1200];
    size_t flen, wlen;
    int at; /* next tape argument */
};

static void gen_add(char *buf, size_t *len, size_t cap, const char *s, size_t n)
{
    assert_true(*len + n < cap);
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

static const char *pick(const char *const *v, size_t n)
{
    return v[rnd() % n];
}
#define PICK(v) pick(v, sizeof v / sizeof v[0])

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
/* glibc's text for spec (one conversion) with its '*' values and the tape
 * argument at. */
static int model_spec(char *out, size_t cap, const char *spec, int nstar,
                      const int *star, int at, int is_errno)
{
    if (is_errno) {
        errno = FUZZ_ERRNO;
        return nstar == 0   ? snprintf(out, cap, spec)
               : nstar == 1 ? snprintf(out, cap, spec, star[0])
                            : snprintf(out, cap, spec, star[0], star[1]);
    }
#define MODEL_CALL(V)                                                          \
    (nstar == 0   ? snprintf(out, cap, spec, V)                                \
     : nstar == 1 ? snprintf(out, cap, spec, star[0], V)                       \
                  : snprintf(out, cap, spec, star[0], star[1], V))
    switch (tape_kind[at]) {
    case T_INT: return MODEL_CALL(tape_int[at]);
    case T_LL: return MODEL_CALL(tape_ll);
    case T_DBL: return MODEL_CALL(tape_dbl[at]);
    case T_STR: return MODEL_CALL(tape_str[at]);
    default: return MODEL_CALL(tape_ptr);
    }
#undef MODEL_CALL
}
#pragma GCC diagnostic pop

/* One spec taking tape arguments from g->at (1 to 3 with '*'); 0 if the
 * tape has too few left. refused: 0 valid, 1 %n or an overflowing number. */
static int gen_spec(struct gen *g, int refused, int is_errno)
{
    static const char *const flags[] = {"", "", "-", "+", " ", "#", "0", "'", "-0", "+ #", "0#"};
    static const char *const widths[] = {"", "", "1", "5", "12", "*"};
    static const char *const precs[] = {"", "", ".0", ".3", ".9", ".*"};
    static const char *const huge[] = {"2147483648", "99999999999"};
    static const char *const int_conv[] = {"d", "i", "u", "x", "X", "o", "c"};
    static const char *const int_len[] = {"", "", "hh", "h"};
    static const char *const ll_conv[] = {"d", "i", "u", "x", "X", "o"};
    static const char *const ll_len[] = {"ll", "j", "z", "t", "l", "q"};
    static const char *const dbl_conv[] = {"f", "F", "e", "E", "g", "G", "a", "A"};
    static const char *const dbl_len[] = {"", "", "l"};
    static const char *const str_len[] = {"", "", "h", "hh"};
    static const char *const n_len[] = {"", "hh", "h", "l", "ll", "j", "z", "t", "L", "q"};
    char spec[64];
    int star[2], nstar = 0;
    const char *w = PICK(widths), *pr = PICK(precs);
    if (refused && !is_errno && rnd() % 3 == 0) { /* %n: a pointer slot */
        if (g->at + (*w == '*') >= TAPE_N)
            return 0;
        w = *w == '*' && tape_kind[g->at] == T_INT ? "*" : "";
        int at = g->at + (*w == '*');
        if (tape_kind[at] != T_STR && tape_kind[at] != T_PTR)
            return 0;
        snprintf(spec, sizeof spec, "%%%s%s%sn", PICK(flags), w, PICK(n_len));
        g->at = at + 1;
        gen_add(g->fmt, &g->flen, sizeof g->fmt, spec, strlen(spec));
        gen_add(g->want, &g->wlen, sizeof g->want, spec, strlen(spec));
        return 1;
    }
    if (refused) { /* one number past INT_MAX */
        if (rnd() & 1)
            w = PICK(huge);
        else
            pr = rnd() & 1 ? ".2147483648" : ".99999999999";
    }
    /* '*' arguments must be ints on the tape. */
    const char *parts[2] = {w, pr};
    for (int k = 0; k < 2; k++) {
        if (strchr(parts[k], '*')) {
            if (g->at + nstar >= TAPE_N || tape_kind[g->at + nstar] != T_INT)
                return 0;
            star[nstar] = tape_int[g->at + nstar];
            nstar++;
        }
    }
    int at = g->at + nstar;
    if (!is_errno && at >= TAPE_N)
        return 0;
    const char *len = "", *conv = "m";
    if (!is_errno) {
        switch (tape_kind[at]) {
        case T_INT: conv = PICK(int_conv); len = PICK(int_len); break;
        case T_LL: conv = PICK(ll_conv); len = PICK(ll_len); break;
        case T_DBL: conv = PICK(dbl_conv); len = PICK(dbl_len); break;
        case T_STR: conv = rnd() % 4 ? "s" : "p"; len = *conv == 's' ? PICK(str_len) : ""; break;
        default: conv = "p"; break;
        }
    }
    snprintf(spec, sizeof spec, "%%%s%s%s%s%s", PICK(flags), w, pr, len, conv);
    char text[600];
    int n;
    if (refused) {
        n = (int)strlen(spec);
        memcpy(text, spec, (size_t)n + 1);
    } else {
        n = model_spec(text, sizeof text, spec, nstar, star, at, is_errno);
        assert_true(n >= 0 && (size_t)n < sizeof text);
    }
    g->at = at + !is_errno;
    gen_add(g->fmt, &g->flen, sizeof g->fmt, spec, strlen(spec));
    gen_add(g->want, &g->wlen, sizeof g->want, text, (size_t)n);
    return 1;
}

/* A spec whose arguments cannot be known, then anything: all verbatim. */
static void gen_stop(struct gen *g)
{
    static const char *const stops[] = {"%y", "%D", "%1$d", "%*y", "%-5.2lk", "%hhhd",
                                        "%lllx", "%5$s", "%v", "%"};
    static const char *const junk[] = {"%d", "%s", "%n", "%m", "%%", "%*d", " x ",
                                       "%p", "%.*s", "%y", "%lf", "%"};
    const char *s = PICK(stops);
    gen_add(g->fmt, &g->flen, sizeof g->fmt, s, strlen(s));
    gen_add(g->want, &g->wlen, sizeof g->want, s, strlen(s));
    if (!strcmp(s, "%"))
        return; /* a lone '%' ends the format */
    for (int k = (int)(rnd() % 4); k > 0; k--) {
        s = PICK(junk);
        if (!strcmp(s, "%") && k > 1)
            continue;
        gen_add(g->fmt, &g->flen, sizeof g->fmt, s, strlen(s));
        gen_add(g->want, &g->wlen, sizeof g->want, s, strlen(s));
        if (!strcmp(s, "%"))
            break;
    }
}

/* A random format into g; returns whether it holds a refused spec. */
static int gen_format(struct gen *g)
{
    static const char *const lits[] = {"a", " ", "|", "x=", "%%", "-", ":"};
    int bad = 0;
    g->flen = g->wlen = 0;
    g->fmt[0] = g->want[0] = '\0';
    g->at = 0;
    for (int k = (int)(rnd() % 7) + 1; k > 0; k--) {
        unsigned r = (unsigned)(rnd() % 20);
        if (r < 4) {
            const char *l = PICK(lits);
            gen_add(g->fmt, &g->flen, sizeof g->fmt, l, strlen(l));
            gen_add(g->want, &g->wlen, sizeof g->want, l[0] == '%' ? "%" : l,
                    l[0] == '%' ? 1 : strlen(l));
        } else if (r == 4) {
            gen_stop(g);
            return 1;
        } else if (r < 7) {
            bad |= gen_spec(g, 1, rnd() % 8 == 0);
        } else {
            gen_spec(g, 0, rnd() % 8 == 0);
        }
    }
    return bad;
}

static void test_random_formats_agree(void **state)
{
    (void)state;
    nblog_stats_t st;
    nblog_stats_get(&st);
    long n = SCALED(20000), refused = 0;
    struct gen g;
    for (long i = 0; i < n; i++) {
        int bad = gen_format(&g);
        if (g.wlen + 1 > st.text_max) { /* would be truncated: no model */
            i--;
            continue;
        }
        refused += bad;
        static nblog__site_t site;
        memset(&site, 0, sizeof site);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
        errno = FUZZ_ERRNO;
        int ra = nblog__defer(&site, NBLOG_LEVEL_INFO, TAPE_N, g.fmt, TAPE_ARGS);
        errno = FUZZ_ERRNO;
        int rb = nblog__printf_n(NBLOG_LEVEL_INFO, TAPE_N, g.fmt, TAPE_ARGS);
#pragma GCC diagnostic pop
        char what[600];
        snprintf(what, sizeof what, "format #%ld \"%s\"", i, g.fmt);
        if (getenv("NBLOG_TEST_SHOW") && i < 40)
            print_message("%s\n  -> %s\n", g.fmt, g.want);
        check_pair(ra, rb, g.want, what);
        assert_int_equal(ra, bad ? NBLOG_EFORMAT : NBLOG_OK);
    }
    print_message("random formats: %ld, %ld with a refused spec\n", n, refused);
    assert_true(refused > n / 10);
}

/* ---- another process renders ---------------------------------------- */

/* The child logs through the macro path from memory it then scribbles
 * over, and hands over nothing but the ring's bytes. The parent, which
 * never saw that memory, renders them. */
static void test_rendered_by_another_process(void **state)
{
    (void)state;
    char path[64];
    int fd = tu_temp_file(path, sizeof path, "ring");
    assert_true(fd >= 0);
    unlink(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        nblog_shutdown();
        nblog_options_t o;
        nblog_options_init(&o);
        o.ring_records = 64;
        if (nblog_init(&o) != NBLOG_OK)
            _exit(1);
        char name[32];
        strcpy(name, "child-name");
        NBLOG_INFO("iteration %d value %f name %s", 7, 2.75, name);
        NBLOG_WARNING("%.3s|%-6d|%p|%g", name, -12, (void *)0xabc, 1e-5);
        memset(name, 'Z', sizeof name);
        const void *ring = NULL;
        size_t bytes = 0;
        nblog__ring_memory(&ring, &bytes);
        _exit(write(fd, ring, bytes) == (ssize_t)bytes ? 0 : 2);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    off_t size = lseek(fd, 0, SEEK_END);
    void *copy = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(copy != MAP_FAILED);
    close(fd);

    nblog_reader_t r;
    nblog_record_t rec;
    char buf[512];
    assert_int_equal(nblog__reader_open_memory(&r, copy, (size_t)size, NBLOG_FROM_OLDEST), NBLOG_OK);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_OK);
    assert_int_equal(rec.kind, NBLOG_KIND_DEFERRED);
    assert_string_equal(rec.text, "iteration 7 value 2.750000 name child-name");
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_OK);
    assert_string_equal(rec.text, "chi|-12   |0xabc|1e-05");
    assert_int_equal(rec.level, NBLOG_LEVEL_WARNING);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_EAGAIN);
    munmap(copy, (size_t)size);

    static _Alignas(64) char junk[1024];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(nblog__reader_open_memory(&r, junk, sizeof junk, NBLOG_FROM_OLDEST),
                     NBLOG_ECORRUPT);
    assert_int_equal(nblog__reader_open_memory(&r, junk + 8, 512, NBLOG_FROM_OLDEST),
                     NBLOG_EINVAL); /* not aligned as a mapping is */
}

/* ---- first use of a call site from everywhere at once ---------------- */

#define THREADS 8
static nblog__site_t shared_site;
static pthread_barrier_t start_line;
static atomic_int handler_done;

static int log_via_shared_site(int who, int n)
{
    return nblog__defer(&shared_site, NBLOG_LEVEL_INFO, 3,
                        "who %d n %d tag %s", who, n, "site");
}

static void on_usr1(int sig)
{
    (void)sig;
    log_via_shared_site(99, 0);
    atomic_store(&handler_done, 1);
}

static void *first_caller(void *arg)
{
    int who = (int)(long)arg;
    pthread_barrier_wait(&start_line);
    if (who == 0)
        raise(SIGUSR1); /* a handler on this thread uses the site too */
    for (int n = 0; n < 100; n++)
        assert_int_equal(log_via_shared_site(who, n), NBLOG_OK);
    return NULL;
}

static void test_first_use_concurrent(void **state)
{
    (void)state;
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_barrier_init(&start_line, NULL, THREADS);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, first_caller, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
    signal(SIGUSR1, SIG_DFL);
    assert_int_equal(atomic_load(&handler_done), 1);

    /* One descriptor, parsed right. */
    assert_int_equal(shared_site.state, 2);
    assert_int_equal(shared_site.nargs, 3);
    assert_int_equal(shared_site.args[0].kind, NBLOG__K_INT);
    assert_int_equal(shared_site.args[1].kind, NBLOG__K_INT);
    assert_int_equal(shared_site.args[2].kind, NBLOG__K_STR);
    assert_int_equal(shared_site.fmt_len, strlen("who %d n %d tag %s") + 1);

    /* Every record renders, and each thread's are in order. */
    int next[THREADS] = {0}, handler = 0;
    nblog_record_t rec;
    char buf[256];
    while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK) {
        int who, n;
        char tag[8];
        assert_int_equal(sscanf(rec.text, "who %d n %d tag %7s", &who, &n, tag), 3);
        assert_string_equal(tag, "site");
        if (who == 99) {
            handler++;
            continue;
        }
        assert_true(who >= 0 && who < THREADS);
        assert_int_equal(n, next[who]);
        next[who]++;
    }
    assert_int_equal(rd.missed, 0);
    assert_int_equal(handler, 1);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(next[i], 100);
}

/* ---- damaged payloads ----------------------------------------------- */

static void test_damaged_payloads_render_safely(void **state)
{
    (void)state;
    char out[600];
    unsigned st;
    /* Not even a format. */
    assert_int_equal(nblog__render_deferred(out, sizeof out, "", 0, &st), 11);
    assert_string_equal(out, "%!(CORRUPT)");
    assert_true(st & NBLOG__FMT_BAD);
    /* A format whose argument is missing or of the wrong tag. */
    unsigned char p[64] = {5, 0, '%', 'd', '|', 's', '\0'};
    nblog__render_deferred(out, sizeof out, p, 7, &st);
    assert_string_equal(out, "0|s");
    assert_true(st & NBLOG__FMT_BAD);
    p[7] = NBLOG__A_F64;
    nblog__render_deferred(out, sizeof out, p, 16, &st);
    assert_string_equal(out, "0|s");
    assert_true(st & NBLOG__FMT_BAD);
    /* A string whose length runs past the payload. */
    unsigned char q[16] = {3, 0, '%', 's', '\0', NBLOG__A_STR, 200, 0, 'a', 'b'};
    nblog__render_deferred(out, sizeof out, q, 10, &st);
    assert_string_equal(out, "");
    assert_true(st & NBLOG__FMT_BAD);
    /* Random bytes, many times: never a crash, never a read past len
     * (ASan watches the copies, which end exactly at their length). */
    for (int i = 0; i < SCALED(200000); i++) {
        size_t len = rnd() % 48;
        unsigned char *junk = malloc(len ? len : 1);
        for (size_t k = 0; k < len; k++)
            junk[k] = (unsigned char)rnd();
        if (len >= 2 && (rnd() & 1)) { /* often a plausible header */
            junk[0] = (unsigned char)(rnd() % (len - 1));
            junk[1] = 0;
            if (junk[0] > 0)
                junk[1 + junk[0]] = '\0';
        }
        nblog__render_deferred(out, sizeof out, junk, len, &st);
        assert_true(strlen(out) < sizeof out);
        free(junk);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_fallbacks_match_printf),
        cmocka_unit_test(test_truncation_matches_printf),
        cmocka_unit_test(test_random_doubles),
        cmocka_unit_test(test_refused_specs_agree),
        cmocka_unit_test(test_huge_star_agrees),
        cmocka_unit_test(test_errno_conversion),
        cmocka_unit_test(test_random_formats_agree),
        cmocka_unit_test(test_rendered_by_another_process),
        cmocka_unit_test(test_first_use_concurrent),
        cmocka_unit_test(test_damaged_payloads_render_safely),
    };
    return cmocka_run_group_tests(tests, setup, tu_shutdown);
}

/*
 * test-format.c - the signal-safe formatter against glibc's snprintf.
 *
 * The bulk is a generated table: every subset of the flags "-+ #0", widths
 * {none, 1, 5, 20, '*'}, precisions {none, .0, .1, .5, .20, .*}, every
 * length modifier and the conversions d i u x X o c s p %, each with a list
 * of values.  Every case is formatted by snprintf (test-only reference) and
 * by nblog__format into buffers pre-filled with a marker byte; the return
 * values and the whole buffers must be equal, so a stray write past the NUL
 * fails too.  Each case is also run with cap 0, 1 and 5.
 *
 * Then: hand-written glibc comparisons (odd flag combinations, for which
 * -Wformat is silenced), unterminated %.Ns buffers before a guard page,
 * NBLOG__FMT_BAD, NBLOG__FMT_MISSING, the plumbing to nblog__fmt_double,
 * wide characters in a UTF-8 locale, and huge widths.
 */
#include "testutil.h"

#include "format.h"
#include "format_float.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wchar.h>

#define BUFSZ 512
#define FILL 0xa5      /* marker byte pre-filled into both buffers */
#define MAX_REPORTS 40 /* failing comparisons printed in full */

static unsigned long n_compared; /* comparisons run, for the summary */
static unsigned n_reported;

/* ---- printing ----------------------------------------------------------- */

/* s[0..n) made printable into out (C-style escapes). */
static const char *escape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
    }
    out[o] = '\0';
    return out;
}

/* Visible bytes of a result: what fits before the NUL. */
static size_t shown(size_t ret, size_t cap)
{
    if (cap == 0)
        return 0;
    return ret < cap - 1 ? ret : cap - 1;
}

static void report(const char *what, size_t cap, const char *exp, long eret,
                   const char *got, size_t gret)
{
    char e[4 * BUFSZ + 8], g[4 * BUFSZ + 8];
    size_t at = 0;
    if (++n_reported > MAX_REPORTS)
        return;
    while (at < BUFSZ - 1 && exp[at] == got[at])
        at++;
    print_error("MISMATCH %s cap=%zu\n"
                "  expected (ret %ld): \"%s\"\n"
                "  actual   (ret %zu): \"%s\"\n"
                "  buffers first differ at byte %zu (0x%02x vs 0x%02x)\n",
                what, cap, eret,
                escape(exp, eret < 0 ? 0 : shown((size_t)eret, cap), e,
                       sizeof e),
                gret, escape(got, shown(gret, cap), g, sizeof g), at,
                (unsigned char)exp[at], (unsigned char)got[at]);
}

/* cmocka setup: each test prints its own first MAX_REPORTS mismatches. */
static int reset_reports(void **state)
{
    (void)state;
    n_reported = 0;
    return 0;
}

/* Equal returns and equal whole buffers (so equal bytes past the NUL). */
static int same(const char *what, size_t cap, const char *exp, int eret,
                const char *got, size_t gret)
{
    n_compared++;
    if (eret >= 0 && (size_t)eret == gret && memcmp(exp, got, BUFSZ) == 0)
        return 1;
    report(what, cap, exp, eret, got, gret);
    return 0;
}

/* ---- the generated table ------------------------------------------------ */

enum kind {
    K_NONE, K_INT, K_UINT, K_LONG, K_ULONG, K_LLONG, K_ULLONG, K_IMAX,
    K_UMAX, K_PTRDIFF, K_SIZE, K_PTR, K_STR, K_WSTR, K_WINT
};

struct arg {
    enum kind kind;
    union {
        long long i;
        unsigned long long u;
        const void *p;
        const char *s;
        const wchar_t *ws;
        wint_t wc;
    } v;
};

struct call {
    const char *fmt;
    int nstar;   /* '*' arguments before the value */
    int star[2]; /* their values */
    struct arg arg;
};

/* Call F(buf, cap, fmt, [stars,] A) for c's star count. */
#define WITH_STARS(F, buf, cap, A)                                          \
    (c->nstar == 0   ? F(buf, cap, c->fmt, A)                               \
     : c->nstar == 1 ? F(buf, cap, c->fmt, c->star[0], A)                   \
                     : F(buf, cap, c->fmt, c->star[0], c->star[1], A))

/* One case per argument type, so each side reads exactly what was passed. */
#define BY_KIND(F, buf, cap)                                                \
    switch (c->arg.kind) {                                                  \
    case K_NONE: return WITH_STARS(F, buf, cap, 0);                         \
    case K_INT: return WITH_STARS(F, buf, cap, (int)c->arg.v.i);            \
    case K_UINT: return WITH_STARS(F, buf, cap, (unsigned)c->arg.v.u);      \
    case K_LONG: return WITH_STARS(F, buf, cap, (long)c->arg.v.i);          \
    case K_ULONG:                                                           \
        return WITH_STARS(F, buf, cap, (unsigned long)c->arg.v.u);          \
    case K_LLONG: return WITH_STARS(F, buf, cap, c->arg.v.i);               \
    case K_ULLONG: return WITH_STARS(F, buf, cap, c->arg.v.u);              \
    case K_IMAX: return WITH_STARS(F, buf, cap, (intmax_t)c->arg.v.i);      \
    case K_UMAX: return WITH_STARS(F, buf, cap, (uintmax_t)c->arg.v.u);     \
    case K_PTRDIFF:                                                         \
        return WITH_STARS(F, buf, cap, (ptrdiff_t)c->arg.v.i);              \
    case K_SIZE: return WITH_STARS(F, buf, cap, (size_t)c->arg.v.u);        \
    case K_PTR: return WITH_STARS(F, buf, cap, c->arg.v.p);                 \
    case K_STR: return WITH_STARS(F, buf, cap, c->arg.v.s);                 \
    case K_WSTR: return WITH_STARS(F, buf, cap, c->arg.v.ws);               \
    case K_WINT: return WITH_STARS(F, buf, cap, c->arg.v.wc);               \
    }                                                                       \
    return 0

static int libc_call(const struct call *c, char *buf, size_t cap)
{
    BY_KIND(snprintf, buf, cap);
}

static size_t our_call(const struct call *c, char *buf, size_t cap)
{
    BY_KIND(nblog__format, buf, cap);
}

static const char *describe(const struct call *c, char *out, size_t cap)
{
    char v[160];
    const struct arg *a = &c->arg;
    switch (a->kind) {
    case K_NONE: snprintf(v, sizeof v, "(none)"); break;
    case K_STR:
        snprintf(v, sizeof v, a->v.s ? "\"%s\"" : "NULL", a->v.s);
        break;
    case K_WSTR:
        snprintf(v, sizeof v, a->v.ws ? "L\"%ls\"" : "NULL", a->v.ws);
        break;
    case K_PTR: snprintf(v, sizeof v, "(void *)%p", a->v.p); break;
    case K_WINT: snprintf(v, sizeof v, "(wint_t)%u", (unsigned)a->v.wc); break;
    case K_UINT: case K_ULONG: case K_ULLONG: case K_UMAX: case K_SIZE:
        snprintf(v, sizeof v, "%llu", a->v.u);
        break;
    default: snprintf(v, sizeof v, "%lld", a->v.i); break;
    }
    if (c->nstar == 0)
        snprintf(out, cap, "fmt \"%s\" arg %s", c->fmt, v);
    else if (c->nstar == 1)
        snprintf(out, cap, "fmt \"%s\" star %d arg %s", c->fmt, c->star[0], v);
    else
        snprintf(out, cap, "fmt \"%s\" stars %d %d arg %s", c->fmt,
                 c->star[0], c->star[1], v);
    return out;
}

/* One case at cap: 1 if libc and nblog agree. */
static int check_call(const struct call *c, size_t cap)
{
    char e[BUFSZ], g[BUFSZ], what[320];
    memset(e, FILL, sizeof e);
    memset(g, FILL, sizeof g);
    int eret = libc_call(c, e, cap);
    size_t gret = our_call(c, g, cap);
    n_compared++;
    if (eret >= 0 && (size_t)eret == gret && memcmp(e, g, sizeof e) == 0)
        return 1;
    report(describe(c, what, sizeof what), cap, e, eret, g, gret);
    return 0;
}

/* Full buffer, then the small caps. */
static unsigned check_all_caps(const struct call *c)
{
    static const size_t caps[] = {BUFSZ, 0, 1, 5};
    unsigned fails = 0;
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        fails += !check_call(c, caps[i]);
    return fails;
}

static const char *const flag_chars = "-+ #0";

struct part {
    const char *text;
    int star; /* 1: takes a '*' argument */
    int val;  /* its value */
};

static const struct part widths[] = {
    {"", 0, 0},    {"1", 0, 0},    {"5", 0, 0},   {"20", 0, 0},
    {"*", 1, 7},   {"*", 1, -7},   {"*", 1, 0},
};

static const struct part precs[] = {
    {"", 0, 0},     {".0", 0, 0},   {".1", 0, 0},  {".5", 0, 0},
    {".20", 0, 0},  {".*", 1, 3},   {".*", 1, -2}, {".*", 1, 0},
};

static const char *const lens[] = {"", "hh", "h", "l", "ll",
                                   "j", "z", "t", "L", "q"};

static const long long signed_vals[] = {
    0, 1, -1, 42, -42, 127, 128, 200, -129, 255, 32767, 65535, 70000,
    INT_MIN, INT_MAX, (long long)UINT_MAX, LLONG_MIN, LLONG_MAX, SCHAR_MIN,
    SHRT_MIN,
};

static const unsigned long long unsigned_vals[] = {
    0, 1, 7, 8, 9, 15, 16, 255, 256, 0x1234, 65535, 65536, UINT_MAX,
    (unsigned long long)INT_MAX + 1, ULLONG_MAX,
    (unsigned long long)LLONG_MIN, 0x123456789abcdefULL,
};

static const int char_vals[] = {'a', 0, 255, 0x141, -1, ' '};
static const wint_t wchar_vals[] = {L'x', 0, 0x7f, L' '};
static const char *const str_vals[] = {
    "", "a", "hello", "a longer string, well past twenty chars", NULL,
};
static const wchar_t *const wstr_vals[] = {
    L"", L"w", L"wide!", L"a longer wide string, past twenty", NULL,
};
static int some_object;
static const void *const ptr_vals[] = {
    NULL, (void *)1, (void *)0xff, (void *)0x7fffdeadbeefULL,
    (void *)UINTPTR_MAX, &some_object,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* glibc on this ABI: which length modifiers make c and s wide. */
static int wide_len(const char *len)
{
    return strcmp(len, "") && strcmp(len, "h") && strcmp(len, "hh") &&
           ((strcmp(len, "z") && strcmp(len, "t")) ||
            sizeof(size_t) > sizeof(int));
}

/* The argument kind of an integer conversion with length len. */
static enum kind int_kind(const char *len, int is_signed)
{
    if (!strcmp(len, "l"))
        return is_signed ? K_LONG : K_ULONG;
    if (!strcmp(len, "ll") || !strcmp(len, "L") || !strcmp(len, "q"))
        return is_signed ? K_LLONG : K_ULLONG;
    if (!strcmp(len, "j"))
        return is_signed ? K_IMAX : K_UMAX;
    if (!strcmp(len, "z") || !strcmp(len, "t"))
        return is_signed ? K_PTRDIFF : K_SIZE;
    return is_signed ? K_INT : K_UINT;
}

/* Every value that fits conversion conv with length len, for call c. */
static unsigned run_values(struct call *c, char conv, const char *len)
{
    unsigned fails = 0;
    struct arg *a = &c->arg;
/* Each of vals in turn as the argument (of kind k, its member of a->v),
 * checked. */
#define EACH_VALUE(k, member, vals)                                            \
    do {                                                                       \
        a->kind = k;                                                           \
        for (size_t n = 0; n < COUNT(vals); n++) {                             \
            a->v.member = vals[n];                                             \
            fails += check_all_caps(c);                                        \
        }                                                                      \
    } while (0)
    switch (conv) {
    case 'd': case 'i':
        EACH_VALUE(int_kind(len, 1), i, signed_vals);
        break;
    case 'u': case 'o': case 'x': case 'X':
        EACH_VALUE(int_kind(len, 0), u, unsigned_vals);
        break;
    case 'c':
        if (wide_len(len))
            EACH_VALUE(K_WINT, wc, wchar_vals);
        else
            EACH_VALUE(K_INT, i, char_vals);
        break;
    case 's':
        if (wide_len(len))
            EACH_VALUE(K_WSTR, ws, wstr_vals);
        else
            EACH_VALUE(K_STR, s, str_vals);
        break;
    case 'p':
        EACH_VALUE(K_PTR, p, ptr_vals);
        break;
    default: /* '%' */
        a->kind = K_NONE;
        fails += check_all_caps(c);
        break;
    }
#undef EACH_VALUE
    return fails;
}

/* The whole table for the conversions in convs. */
static void run_table(const char *convs)
{
    char fmt[64];
    unsigned fails = 0;
    unsigned long before = n_compared;
    struct call c;
    c.fmt = fmt;
    for (const char *cv = convs; *cv; cv++)
        for (unsigned fl = 0; fl < 32; fl++)
            for (size_t w = 0; w < COUNT(widths); w++)
                for (size_t p = 0; p < COUNT(precs); p++)
                    for (size_t l = 0; l < COUNT(lens); l++) {
                        char flags[8];
                        size_t nf = 0;
                        for (unsigned b = 0; b < 5; b++)
                            if (fl & (1u << b))
                                flags[nf++] = flag_chars[b];
                        flags[nf] = '\0';
                        snprintf(fmt, sizeof fmt, "[%%%s%s%s%s%c]", flags,
                                 widths[w].text, precs[p].text, lens[l], *cv);
                        c.nstar = 0;
                        if (widths[w].star)
                            c.star[c.nstar++] = widths[w].val;
                        if (precs[p].star)
                            c.star[c.nstar++] = precs[p].val;
                        fails += run_values(&c, *cv, lens[l]);
                    }
    print_message("table %s: %lu comparisons, %u failed\n", convs,
                  n_compared - before, fails);
    assert_int_equal(fails, 0);
}

/* A case running the table for the conversions in convs. */
#define TABLE_TEST(name, convs)                                                \
    static void name(void **state)                                             \
    {                                                                          \
        (void)state;                                                           \
        run_table(convs);                                                      \
    }
TABLE_TEST(test_table_signed, "di")
TABLE_TEST(test_table_unsigned, "uoxX")
TABLE_TEST(test_table_char_string, "cs")
TABLE_TEST(test_table_pointer_percent, "p%")

/* ---- hand-written comparisons with glibc --------------------------------- */

/* Format the same literal call with snprintf and nblog__format. */
#define CHK(...)                                                            \
    do {                                                                    \
        char e_[BUFSZ], g_[BUFSZ];                                          \
        memset(e_, FILL, sizeof e_);                                        \
        memset(g_, FILL, sizeof g_);                                        \
        int er_ = snprintf(e_, sizeof e_, __VA_ARGS__);                     \
        size_t gr_ = nblog__format(g_, sizeof g_, __VA_ARGS__);             \
        fails += !same(#__VA_ARGS__, sizeof e_, e_, er_, g_, gr_);          \
    } while (0)

/* Flag combinations gcc rightly warns about still have defined output. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#if !defined(__clang__) /* gcc's checks of NULL %s and output sizes */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wformat-overflow"
#endif

static void test_glibc_quirks(void **state)
{
    unsigned fails = 0;
    (void)state;
    /* '0' pads strings, chars and (nil) with spaces; % ignores its spec. */
    CHK("%05s|%-05s|%05c|%010p|", "ab", "ab", 'a', (void *)0);
    CHK("%5%|%-5%|%.3%|%l%|%hh%|%05%");
    CHK("%*%|%d", 7, 9); /* the '*' still takes its argument */
    /* %p: '+' and ' ' kept, precision and '0' honoured, NULL is (nil). */
    CHK("%+p|% p|%+010p|%.10p|%#p|%-+8p|", (void *)0x1234, (void *)0x1234,
        (void *)0x1234, (void *)0x1234, (void *)0x1234, (void *)1);
    CHK("%10p|%-10p|%.2p|%+p|%5.3p|", (void *)0, (void *)0, (void *)0,
        (void *)0, (void *)0);
    CHK("%hhp|%lp|%Lp|%zp", (void *)1, (void *)1, (void *)1, (void *)1);
    /* NULL strings: "(null)" only when precision is absent or >= 6. */
    CHK("%.5s|%.6s|%s|%10.3s|%010s|%-8s|%.7s", (char *)0, (char *)0,
        (char *)0, (char *)0, (char *)0, (char *)0, (char *)0);
    CHK("%ls|%.3ls|%.6ls|%8ls", (wchar_t *)0, (wchar_t *)0, (wchar_t *)0,
        (wchar_t *)0);
    /* Every modifier but h/hh makes c and s wide. */
    CHK("%ls|%.2ls|%Ls|%qs|%lls|%js|%zs|%ts|%hs|%hhs", L"wide", L"wide",
        L"wide", L"wide", L"wide", L"wide", L"wide", L"wide", "narrow",
        "narrow");
    CHK("[%lc|%jc|%Lc|%5lc|%-3lc|%lc]", (wint_t)L'x', (wint_t)L'y',
        (wint_t)L'z', (wint_t)L'w', (wint_t)L'v', (wint_t)0);
    /* '#', '+' and ' ' where they mean nothing. */
    CHK("%#d|%#u|%#c|%#s|%+u|% x|%+o|% X|%+c|% s", 5, 5u, 'a', "a", 5u, 5u,
        5u, 5u, 'b', "s");
    /* Zero with precision 0, and the alternate forms. */
    CHK("[%#.0o|%#.0x|%#5.0x|%#o|%#.3o|%#5o|%#08x|%#x|%#X|%.0d|%.d]", 0u, 0u,
        0u, 0u, 8u, 8u, 255u, 0u, 0xabcu, 0, 0);
    CHK("[%#08o|%#-8o|%#.0o|%#5.0o|%#o|%#.1o]", 8u, 8u, 1u, 0u, 01234u, 0u);
    CHK("[%+08d|% 08d|%+ d|% +d|%05.0d|%5.0d|%+.0d|% .0d|%-05d|%0-5d]", -5,
        5, 5, 5, 0, 0, 0, 0, 5, 5);
    CHK("[%--5d|%00005d|%-0+ #5d|%+-+-d|%'d|%'10d]", 1, 2, 3, 4, 1234567,
        1234567);
    /* Length modifiers narrowing or widening. */
    CHK("%Ld|%qd|%hhd|%hd|%hhx|%hho|%hu|%hhu|%hhi", 1LL << 40, 1LL << 40, 200,
        70000, -1, 511, 70000, 300, 128);
    CHK("%jd|%ju|%zd|%zu|%td|%tx|%llo|%lld|%ld", INTMAX_MIN, UINTMAX_MAX,
        (ptrdiff_t)-1, SIZE_MAX, PTRDIFF_MIN, (size_t)-1, ULLONG_MAX,
        LLONG_MIN, LONG_MIN);
    CHK("%d|%i|%d|%u|%x|%X|%o", INT_MIN, INT_MIN, INT_MAX, UINT_MAX, UINT_MAX,
        UINT_MAX, UINT_MAX);
    /* Characters: truncated to unsigned char, NUL written as a byte. */
    CHK("[%c|%c|%c|%5c|%-5c|%c]", 0x141, -1, 0, 'x', 'y', 128);
    /* '*' arguments, negative ones included. */
    CHK("%*d|%-*d|%0*d|%.*d|%*.*d|%.*s|%*s|", -3, 5, -3, 5, -3, 5, -3, 5, 6,
        4, 7, 2, "abcdef", -4, "ab");
    CHK("%*.*x|%-*.*X|%.*o|%*c|%*%", 10, 6, 0xabcu, 10, 6, 0xabcu, 0, 0u, 3,
        'c', 4);
    /* Text around conversions. */
    CHK("a%db%sc%%d%ce%5.1sf%-3ug%%", 1, "str", 'C', "xyz", 7u);
    CHK("no conversions at all");
    CHK("%s", "");
    CHK("%s%s%s", "", "", "");
    print_message("quirks: %u failed\n", fails);
    assert_int_equal(fails, 0);
}

/* ---- truncation ---------------------------------------------------------- */

/* Every cap from 0 to past the full length, for one literal call. */
#define CHK_CAPS(...)                                                       \
    do {                                                                    \
        int full_ = snprintf(NULL, 0, __VA_ARGS__);                         \
        assert_true(full_ >= 0 && full_ + 3 < BUFSZ);                       \
        for (size_t cap_ = 0; cap_ <= (size_t)full_ + 2; cap_++) {          \
            char e_[BUFSZ], g_[BUFSZ], what_[200];                          \
            memset(e_, FILL, sizeof e_);                                    \
            memset(g_, FILL, sizeof g_);                                    \
            int er_ = snprintf(e_, cap_, __VA_ARGS__);                      \
            size_t gr_ = nblog__format(g_, cap_, __VA_ARGS__);              \
            snprintf(what_, sizeof what_, "%s", #__VA_ARGS__);              \
            fails += !same(what_, cap_, e_, er_, g_, gr_);                  \
        }                                                                   \
    } while (0)

static void test_truncation(void **state)
{
    unsigned fails = 0;
    (void)state;
    CHK_CAPS("hello %s, %d%%!", "world", -12345);
    CHK_CAPS("%#20.10llx|%-8s|%+.3d", 0xdeadbeefULL, "ab", 7);
    CHK_CAPS("[%c%c%c]", 'a', 0, 'b');
    CHK_CAPS("%p %p", (void *)0, (void *)0x1234);
    CHK_CAPS("%-10ls|%5.3ls", L"wide", L"string");
    CHK_CAPS("%30s", "right");
    /* NULL buffer with cap 0 is a pure length query. */
    assert_int_equal(nblog__format(NULL, 0, "%d-%s", 12345, "abc"), 9);
    char one = 'x';
    assert_int_equal(nblog__format(&one, 1, "%d", 42), 2);
    assert_int_equal(one, '\0');
    print_message("truncation: %u failed\n", fails);
    assert_int_equal(fails, 0);
}

#pragma GCC diagnostic pop

/* ---- expected text, for what glibc cannot be compared on ---------------- */

static int expect_text(const char *what, const char *buf, size_t ret,
                       size_t cap, const char *want, size_t want_len)
{
    char e[BUFSZ];
    memset(e, FILL, sizeof e);
    if (cap) {
        size_t n = shown(want_len, cap);
        memcpy(e, want, n);
        e[n] = '\0';
    }
    return same(what, cap, e, (int)want_len, buf, ret);
}

#define EXPECT(buf, ret, cap, want)                                         \
    assert_true(expect_text(#ret, buf, ret, cap, want, sizeof(want) - 1))

/* nblog__vformat with a known argument count. */
static size_t vf(char *buf, size_t cap, int nargs, unsigned *st,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = nblog__vformat(buf, cap, fmt, ap, nargs, st);
    va_end(ap);
    return n;
}

/* %.Ns of a buffer whose terminator would be on a PROT_NONE page. */
static void test_unterminated(void **state)
{
    char b[BUFSZ];
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    (void)state;
    char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(mprotect(m + pg, pg, PROT_NONE), 0);
    char *s = m + pg - 3;
    memcpy(s, "abc", 3);
    memset(b, FILL, sizeof b);
    EXPECT(b, nblog__format(b, sizeof b, "%.3s", s), sizeof b, "abc");
    memset(b, FILL, sizeof b);
    EXPECT(b, nblog__format(b, sizeof b, "%.2s|%.0s|%.*s", s, s, 3, s),
           sizeof b, "ab||abc");
    memset(b, FILL, sizeof b);
    EXPECT(b, nblog__format(b, sizeof b, "[%-6.3s|%5.3s]", s, s), sizeof b,
           "[abc   |  abc]");
    memset(b, FILL, sizeof b);
    EXPECT(b, vf(b, sizeof b, 2, NULL, "%.*s", 3, s), sizeof b, "abc");
    /* A precision past the terminator: nothing after the NUL is read. */
    memcpy(s, "ab", 3);
    memset(b, FILL, sizeof b);
    EXPECT(b, nblog__format(b, sizeof b, "%.100s|%.3s", s, s), sizeof b,
           "ab|ab");

    wchar_t *w = (wchar_t *)(void *)(m + pg) - 3;
    w[0] = L'x', w[1] = L'y', w[2] = L'z';
    memset(b, FILL, sizeof b);
    EXPECT(b, nblog__format(b, sizeof b, "%.3ls|%.2ls|%4.1ls", w, w, w),
           sizeof b, "xyz|xy|   x");
    assert_int_equal(munmap(m, 2 * pg), 0);

    /* The same on the heap, where AddressSanitizer watches. */
    char *h = malloc(3);
    assert_non_null(h);
    memcpy(h, "xyz", 3);
    memset(b, FILL, sizeof b);
    EXPECT(b, nblog__format(b, sizeof b, "%.3s|%.1s", h, h), sizeof b,
           "xyz|x");
    free(h);
}

/*
 * Refused specs never shift the arguments (issue 11, item 18).  Unknown
 * ones (their arguments cannot be known): the rest of the format verbatim,
 * nothing more taken.  %n and overflowing numbers: their arguments taken by
 * their C types, never shown; the spec verbatim.  BAD either way.
 */
static void test_bad(void **state)
{
    char b[BUFSZ];
    unsigned st;
    int i = 5;
    (void)state;
#define BAD(want, nargs, ...)                                               \
    do {                                                                    \
        memset(b, FILL, sizeof b);                                          \
        st = 0xdead;                                                        \
        EXPECT(b, vf(b, sizeof b, nargs, &st, __VA_ARGS__), sizeof b,       \
               want);                                                       \
        assert_int_equal(st, NBLOG__FMT_BAD);                               \
    } while (0)
    /* The two cases: the pointer was printed as an int, then a
     * byte of the string pointer as a %c. */
    BAD("                                                                "
        "                                                                "
        "                                                                "
        "                                                               1"
        "2%n3", 4, "%256d%d%n%d", 1, 2, &i, 3);
    BAD("%.2147483648sx", 2, "%.2147483648s%c", "str", 'x');
    assert_int_equal(i, 5); /* %n never writes */
    /* Unknown: the rest verbatim, whatever it holds. */
    BAD("%y", -1, "%y");
    BAD("a%yb %d %s", 2, "a%yb %d %s", 5, "x");
    BAD("%5.2ly %d", 1, "%5.2ly %d", 1);
    BAD("%*y %d", 2, "%*y %d", 4, 1);
    BAD("1 %D %d", 2, "%d %D %d", 1, 2);
    BAD("%1$d %d", 2, "%1$d %d", 1, 2); /* positional */
    BAD("%llld %d", 2, "%llld %d", 1L, 1); /* "%lll" is no spec */
    BAD("%hhhd", 1, "%hhhd", 1);
    BAD("abc%", -1, "abc%");
    BAD("abc%-5", -1, "abc%-5");
    BAD("abc%5.3l", -1, "abc%5.3l");
    /* %n with any modifier takes a pointer (never written through). */
    BAD("%n 7", 2, "%n %d", &i, 7);
    BAD("%hhn|%-5lln|%*n 3", 5, "%hhn|%-5lln|%*n %d", (signed char *)&b[0],
        (long long *)(void *)&b[8], 4, &i, 3);
    assert_int_equal(i, 5);
    /* Overflowing numbers: the value (and any '*') taken by its type. */
    BAD("%99999999999d 2", 2, "%99999999999d %d", 1, 2);
    BAD("%.99999999999d 3", 2, "%.99999999999d %d", 9, 3);
    BAD("%2147483648x|8", 2, "%2147483648x|%x", 7u, 8u);
    BAD("%2147483648lld|8", 2, "%2147483648lld|%d", 1LL << 40, 8);
    BAD("%2147483648f|x", 2, "%2147483648f|%s", 1.5, "x");
    BAD("%.2147483648Lf|x", 2, "%.2147483648Lf|%s", (long double)1.5, "x");
    BAD("%*.2147483648f|x", 3, "%*.2147483648f|%s", 4, 1.5, "x");
    BAD("%2147483648p|y", 2, "%2147483648p|%c", (void *)&i, 'y');
    BAD("%2147483648lc|y", 2, "%2147483648lc|%c", (wint_t)L'z', 'y');
    BAD("%2147483648%|1", 1, "%2147483648%|%d", 1);
    BAD("%2147483648m|1", 1, "%2147483648m|%d", 1);
    /* Too few arguments for a refused spec: MISSING, as for any other. */
    memset(b, FILL, sizeof b);
    EXPECT(b, vf(b, sizeof b, 0, &st, "%n|%d"), sizeof b,
           "%!(MISSING)|%!(MISSING)");
    assert_int_equal(st, NBLOG__FMT_MISSING);

    /* Truncated output of a bad spec, and a NULL status pointer. */
    memset(b, FILL, sizeof b);
    EXPECT(b, vf(b, 4, -1, NULL, "ab%yz"), 4, "ab%yz");
    /* A NULL format is bad and writes nothing. */
    memset(b, FILL, sizeof b);
    EXPECT(b, vf(b, sizeof b, -1, &st, NULL), sizeof b, "");
    assert_int_equal(st, NBLOG__FMT_BAD);

    /* Good formats report 0. */
    memset(b, FILL, sizeof b);
    st = 0xdead;
    EXPECT(b, vf(b, sizeof b, 2, &st, "%d %s %%", 1, "x"), sizeof b,
           "1 x %");
    assert_int_equal(st, 0);
#undef BAD
}

/* Fewer arguments than conversions (nargs known). */
static void test_missing(void **state)
{
    char b[BUFSZ];
    unsigned st;
    (void)state;
#define MISS(want, status, nargs, ...)                                      \
    do {                                                                    \
        memset(b, FILL, sizeof b);                                          \
        st = 0xdead;                                                        \
        EXPECT(b, vf(b, sizeof b, nargs, &st, __VA_ARGS__), sizeof b,       \
               want);                                                       \
        assert_int_equal(st, status);                                       \
    } while (0)
    MISS("5 %!(MISSING)", NBLOG__FMT_MISSING, 1, "%d %d", 5);
    MISS("%!(MISSING)", NBLOG__FMT_MISSING, 0, "%d");
    MISS("[%!(MISSING)]", NBLOG__FMT_MISSING, 0, "[%s]");
    MISS("%!(MISSING)", NBLOG__FMT_MISSING, 0, "%p");
    MISS("%!(MISSING)", NBLOG__FMT_MISSING, 0, "%f");
    /* '*' counts; a short conversion takes nothing and ends the list. */
    MISS("%!(MISSING)", NBLOG__FMT_MISSING, 1, "%*d", 7);
    MISS("%!(MISSING)|%!(MISSING)", NBLOG__FMT_MISSING, 1, "%*d|%d", 7);
    MISS("%!(MISSING)", NBLOG__FMT_MISSING, 2, "%*.*d", 7, 2);
    MISS("   ab|%!(MISSING)", NBLOG__FMT_MISSING, 3, "%*.*s|%c", 5, 2, "abc");
    MISS("%!(MISSING)", NBLOG__FMT_MISSING, 0, "%*%");
    /* %% needs nothing. */
    MISS("%|%!(MISSING)", NBLOG__FMT_MISSING, 0, "%%|%d");
    MISS("100%", 0, 1, "%d%%", 100);
    /* Exactly enough. */
    MISS("1 2 3", 0, 3, "%d %d %d", 1, 2, 3);
    MISS("  7|x", 0, 3, "%*d|%c", 3, 7, 'x');
    /* Unknown count: nothing is MISSING. */
    MISS("1 2", 0, -1, "%d %d", 1, 2);
    /* Both bits; an unknown spec ends the conversions. */
    MISS("1 %y %d", NBLOG__FMT_BAD, 2, "%d %y %d", 1, 2);
    MISS("%!(MISSING) %y %d", NBLOG__FMT_BAD | NBLOG__FMT_MISSING, 0,
         "%d %y %d");
    /* Truncated marker: the return value is still the full length. */
    memset(b, FILL, sizeof b);
    EXPECT(b, vf(b, 5, 0, &st, "%d"), 5, "%!(MISSING)");
    assert_int_equal(st, NBLOG__FMT_MISSING);
#undef MISS
}

/* ---- floating point: plumbing to nblog__fmt_double ----------------------- */

/* "<fmt result>" must equal pre + nblog__fmt_double(v, spec) + post. */
static int float_case(const char *what, const char *got, size_t gret,
                      const char *pre, double v, struct nblog__spec sp,
                      const char *post)
{
    char want[BUFSZ];
    size_t n = strlen(pre);
    memcpy(want, pre, n);
    n += nblog__fmt_double(want + n, sizeof want - n, v, &sp);
    assert_true(n + strlen(post) < sizeof want);
    memcpy(want + n, post, strlen(post));
    n += strlen(post);
    return expect_text(what, got, gret, BUFSZ, want, n);
}

#define SPEC(fl, w, p, cv) ((struct nblog__spec){(fl), (w), (p), (cv)})
#define FLT(pre, v, sp, post, ...)                                          \
    do {                                                                    \
        char g_[BUFSZ];                                                     \
        memset(g_, FILL, sizeof g_);                                        \
        size_t gr_ = nblog__format(g_, sizeof g_, __VA_ARGS__);             \
        fails += !float_case(#__VA_ARGS__, g_, gr_, pre, v, sp, post);      \
    } while (0)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#if !defined(__clang__) /* gcc's checks of NULL %s and output sizes */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wformat-overflow"
#endif

static void test_float_plumbing(void **state)
{
    enum {
        M = NBLOG__FL_MINUS, P = NBLOG__FL_PLUS, S = NBLOG__FL_SPACE,
        H = NBLOG__FL_HASH, Z = NBLOG__FL_ZERO
    };
    unsigned fails = 0;
    const char *convs = "fFeEgGaA";
    (void)state;
    for (const char *cv = convs; *cv; cv++) {
        char f1[32], f2[32];
        snprintf(f1, sizeof f1, "[%%%c|%%d]", *cv);
        snprintf(f2, sizeof f2, "<%%-+ #012.3%c>", *cv);
        FLT("[", 1.5, SPEC(0, 0, -1, *cv), "|7]", f1, 1.5, 7);
        FLT("<", -2.25, SPEC(M | P | S | H | Z, 12, 3, *cv), ">", f2, -2.25);
    }
    FLT("", 3.0, SPEC(Z, 9, 2, 'f'), "", "%09.2f", 3.0);
    FLT("", 3.0, SPEC(0, 0, 0, 'e'), "", "%.e", 3.0);
    /* '*': negative width is '-', negative precision is none. */
    FLT("", 4.5, SPEC(M, 8, -1, 'g'), "|x", "%*.*g|%c", -8, -1, 4.5, 'x');
    FLT("", 4.5, SPEC(S, 6, 1, 'E'), "", "% *.*E", 6, 1, 4.5);
    /* long double for L (and, like glibc, ll and q); double otherwise. */
    FLT("", 2.5, SPEC(0, 0, -1, 'f'), "|9", "%Lf|%d", (long double)2.5, 9);
    FLT("", 2.5, SPEC(0, 0, -1, 'f'), "|9", "%llf|%d", (long double)2.5, 9);
    FLT("", 2.5, SPEC(0, 0, -1, 'f'), "|9", "%qf|%d", (long double)2.5, 9);
    FLT("", 2.5, SPEC(0, 0, -1, 'f'), "|9", "%lf|%d", 2.5, 9);
    FLT("", 2.5, SPEC(0, 0, -1, 'a'), "|9", "%ha|%d", 2.5, 9);
    FLT("", 2.5, SPEC(0, 0, -1, 'G'), "|9", "%jG|%d", 2.5, 9);

    /* Truncation inside a float rendering. */
    char b[BUFSZ], want[BUFSZ];
    struct nblog__spec sp = SPEC(0, 10, -1, 'f');
    size_t n = nblog__fmt_double(want + 2, sizeof want - 2, 1.0, &sp);
    want[0] = 'a', want[1] = 'b';
    for (size_t cap = 0; cap < n + 4; cap++) {
        memset(b, FILL, sizeof b);
        size_t r = nblog__format(b, cap, "ab%10f", 1.0);
        fails += !expect_text("ab%10f", b, r, cap, want, n + 2);
    }
    print_message("float plumbing: %u failed\n", fails);
    assert_int_equal(fails, 0);
}

/* ---- wide characters and huge widths -------------------------------------- */

/* In a UTF-8 locale glibc writes UTF-8, as nblog always does. */
static void test_wide_utf8(void **state)
{
    unsigned fails = 0;
    (void)state;
    if (!setlocale(LC_CTYPE, "C.UTF-8")) {
        setlocale(LC_CTYPE, "C");
        skip();
    }
    const wchar_t *s = L"\u00e9t\u20ac\U0001F600!";
    CHK("[%ls|%.1ls|%.2ls|%.3ls|%.5ls|%.6ls]", s, s, s, s, s, s);
    CHK("[%12ls|%-12ls|%.4ls|%.8ls|%.9ls]", s, s, s, s, s);
    CHK("[%lc|%5lc|%-5lc|%lc|%lc]", (wint_t)0xe9, (wint_t)0x20ac,
        (wint_t)0x1f600, (wint_t)0x7ff, (wint_t)0xffff);
    CHK_CAPS("%ls", s);
    /* glibc's %C and %S are %lc and %ls. */
    CHK("[%C|%5C|%S|%.2S|%-8S]", (wint_t)0xe9, (wint_t)0x20ac, s, s, s);
    setlocale(LC_CTYPE, "C");
    /* Where glibc fails the call (returns -1), nblog writes '?'. */
    char b[BUFSZ];
    memset(b, FILL, sizeof b);
    EXPECT(b,
           nblog__format(b, sizeof b, "%lc%lc%lc", (wint_t)0xd800,
                         (wint_t)0x110000, (wint_t)WEOF),
           sizeof b, "???");
    memset(b, FILL, sizeof b);
    EXPECT(b, nblog__format(b, sizeof b, "%ls", L"a\xdc00z"), sizeof b,
           "a?z");
    print_message("wide: %u failed\n", fails);
    assert_int_equal(fails, 0);
}

/* ---- %m --------------------------------------------------------------------- */

/* Formats both ways with errno e set just before each. */
#define ECHK(e, ...)                                                        \
    do {                                                                    \
        char e_[BUFSZ], g_[BUFSZ], what_[200];                              \
        memset(e_, FILL, sizeof e_);                                        \
        memset(g_, FILL, sizeof g_);                                        \
        errno = (e);                                                        \
        int er_ = snprintf(e_, sizeof e_, __VA_ARGS__);                     \
        errno = (e);                                                        \
        size_t gr_ = nblog__format(g_, sizeof g_, __VA_ARGS__);             \
        fails += errno != (e);                                              \
        snprintf(what_, sizeof what_, "errno %d: %s", (e), #__VA_ARGS__);   \
        fails += !same(what_, sizeof e_, e_, er_, g_, gr_);                 \
    } while (0)

/*
 * %m and %#m against glibc (issue 11, item 19): glibc's untranslated text
 * (the test runs in the C locale) for every errno it knows, the gaps in
 * its table, and numbers it has no text for; width, precision and '*' as
 * for %s; errno read when the formatter is entered and left unchanged.
 */
static void test_errno(void **state)
{
    unsigned fails = 0;
    char b[BUFSZ];
    (void)state;
    static const int extra[] = {INT_MIN, INT_MIN + 1, -100000, 1000, 4096,
                                INT_MAX};
    for (int k = -4 - (int)(sizeof extra / sizeof extra[0]); k < 200; k++) {
        int e = k < -4 ? extra[-5 - k] : k;
        ECHK(e, "[%m]");
        ECHK(e, "[%#m]");
        ECHK(e, "[%-30m|%30m|%.5m|%.0m|%8.3m|%-8.20m]");
        ECHK(e, "[%#12m|%#-12m|%#.3m]");
        ECHK(e, "[%*m|%-*.*m|%.*m]", 40, 20, 4, -1);
        ECHK(e, "[%lm|%hhm|%Lm|%zm]"); /* modifiers ignored, as glibc */
        ECHK(e, "%d %m %s", 7, "after");
    }
    print_message("errno: %u failed\n", fails);
    assert_int_equal(fails, 0);

    /* errno as it was at the call, whatever happens after. */
    memset(b, FILL, sizeof b);
    errno = ENOENT;
    EXPECT(b, nblog__format(b, sizeof b, "open: %m (%#m)"), sizeof b,
           "open: No such file or directory (ENOENT)");
    assert_int_equal(errno, ENOENT);
    /* In a refused-but-taken spec it is shown verbatim, no value taken. */
    memset(b, FILL, sizeof b);
    EXPECT(b, vf(b, sizeof b, 1, NULL, "%.2147483648m %d", 3), sizeof b,
           "%.2147483648m 3");
}

static void test_huge_width(void **state)
{
    unsigned fails = 0;
    char b[BUFSZ];
    (void)state;
    /* Still compared with glibc: the padding is only counted. */
    for (size_t cap = 0; cap < 8; cap += 3) {
        char e[BUFSZ];
        memset(e, FILL, sizeof e);
        memset(b, FILL, sizeof b);
        int er = snprintf(e, cap, "%100000d|%-100000s|", 5, "x");
        size_t gr = nblog__format(b, cap, "%100000d|%-100000s|", 5, "x");
        fails += !same("%100000d|%-100000s|", cap, e, er, b, gr);
    }
    memset(b, FILL, sizeof b);
    assert_int_equal(nblog__format(b, 6, "%2147483647d", 5), INT_MAX);
    assert_memory_equal(b, "     ", 6);
    assert_int_equal(nblog__format(b, 6, "%.2147483647d", 5), INT_MAX);
    /* glibc fails a '*' width of INT_MIN; nblog takes INT_MAX with '-'. */
    memset(b, FILL, sizeof b);
    assert_int_equal(nblog__format(b, 4, "%*d", INT_MIN, 5), INT_MAX);
    assert_memory_equal(b, "5  ", 4);
    assert_int_equal(fails, 0);
}

#pragma GCC diagnostic pop

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_table_signed, reset_reports),
        cmocka_unit_test_setup(test_table_unsigned, reset_reports),
        cmocka_unit_test_setup(test_table_char_string, reset_reports),
        cmocka_unit_test_setup(test_table_pointer_percent, reset_reports),
        cmocka_unit_test_setup(test_glibc_quirks, reset_reports),
        cmocka_unit_test_setup(test_truncation, reset_reports),
        cmocka_unit_test_setup(test_unterminated, reset_reports),
        cmocka_unit_test_setup(test_bad, reset_reports),
        cmocka_unit_test_setup(test_missing, reset_reports),
        cmocka_unit_test_setup(test_float_plumbing, reset_reports),
        cmocka_unit_test_setup(test_wide_utf8, reset_reports),
        cmocka_unit_test_setup(test_errno, reset_reports),
        cmocka_unit_test_setup(test_huge_width, reset_reports),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    print_message("format: %lu comparisons in all\n", n_compared);
    return rc;
}

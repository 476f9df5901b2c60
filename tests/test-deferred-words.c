/*
 * test-deferred-words.c - the caller's fast way in (NBLOG_INFO: each
 * argument made a typed word at the call site by _Generic, encoded by
 * nblog__defer_words): no stack byte reaches the shared ring (the 0-7 pad
 * bytes after a record's text in its slot are zero whatever the caller's
 * stack held), and every argument type renders as nblog_printf and glibc's
 * snprintf render it, on the fast path and on every fallback (formatted at
 * once: a format that cannot be deferred, a record too long).
 */
#include "testutil.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "log.h"
#include "nblog.h"
#include "ring.h"

static nblog_reader_t rd;

static int setup(void **state)
{
    (void)state;
    nblog_options_t o;
    nblog_options_init(&o);
    o.level = NBLOG_LEVEL_DEBUG;
    o.ring_records = 1 << 10;
    o.record_size = 2048; /* records longer than the fast path's 512 bytes */
    o.text_max = 2048;    /* and pad3000 is cut at the record limit */
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    if (nblog_init(&o) != NBLOG_OK)
        return -1;
    return nblog_reader_open(&rd, NBLOG_FROM_NEXT);
}

/* ---- pad bytes ---------------------------------------------------------- */

/* Leaves 0xa5 in the stack below the caller's frame, where the logging
 * call's buffers will be. */
static __attribute__((noinline)) void dirty_stack(void)
{
    volatile unsigned char junk[32768];
    memset((void *)junk, 0xa5, sizeof junk);
    __asm__ volatile("" : : "r"(junk) : "memory");
}

/* The slot bytes of record seq after its len bytes of text, up to the next
 * 8-byte boundary (what the store copies as its last word): all zero. */
static void assert_pad_zero(uint64_t seq, const char *what)
{
    const void *mem;
    size_t bytes;
    nblog__ring_memory(&mem, &bytes);
    assert_non_null(mem);
    const struct nblog__ring_hdr *r = mem;
    const unsigned char *slot = (const unsigned char *)r + r->slots_offset +
                                ((seq & (r->records - 1)) << r->record_shift);
    struct nblog__rec_meta m;
    char text[NBLOG__RECORD_SIZE_MAX];
    assert_int_equal(nblog__ring_read(r, seq, &m, text, sizeof text), NBLOG__READ_OK);
    const unsigned char *pad = slot + NBLOG__SLOT_HDR + m.len;
    size_t npad = (8 - m.len % 8) % 8;
    for (size_t i = 0; i < npad; i++) {
        if (pad[i] != 0) {
            print_error("%s: record %llu (len %u): pad byte %zu is 0x%02x\n", what,
                        (unsigned long long)seq, m.len, i, pad[i]);
            fail();
        }
    }
}

/* One call after dirtying the stack; its record's pad checked. */
#define PAD_CHECK(what, call)                                                  \
    do {                                                                       \
        uint64_t seq_ = nblog_reader_head(&rd);                                \
        dirty_stack();                                                         \
        assert_true((call) >= 0);                                              \
        assert_pad_zero(seq_, what);                                           \
    } while (0)

static void test_pad_bytes_zero(void **state)
{
    (void)state;
    static const char *const names[] = {"a", "ab", "abc", "abcd", "abcde",
                                        "abcdef", "abcdefg", "abcdefgh"};
    wchar_t wide[] = L"w";
    for (int i = 0; i < 8; i++) {
        /* Every length modulo 8, each way in. */
        PAD_CHECK("deferred", NBLOG_INFO("n %s", names[i]));
        PAD_CHECK("deferred %d", NBLOG_INFO("%d %s", i, names[i]));
        PAD_CHECK("printf", nblog_printf(NBLOG_LEVEL_INFO, "n %s", names[i]));
        PAD_CHECK("deferred formatted at once", NBLOG_INFO("%ls %s", wide, names[i]));
        PAD_CHECK("nblog_write", nblog_write(NBLOG_LEVEL_INFO, names[i], strlen(names[i])));
    }
    /* A record at the limit, cut: formatted at once and truncated. */
    static char longer[2048];
    memset(longer, 'x', sizeof longer - 1);
    for (int i = 0; i < 8; i++) {
        PAD_CHECK("deferred truncated", NBLOG_INFO("%.*s%s", 600, longer, names[i]));
        PAD_CHECK("printf truncated",
                  nblog_printf(NBLOG_LEVEL_INFO, "%.*s%s", 600, longer, names[i]));
    }
}

/* ---- every argument type, every path ----------------------------------- */

static char expected[8192], padded[8192], got[8192];
static char pad600[601], pad3000[3001];

/* The next record: kind, and text (the first n bytes when n). */
static void expect_next(int kind, const char *text, size_t n, const char *what)
{
    nblog_record_t rec;
    int rc = nblog_reader_next(&rd, &rec, got, sizeof got);
    if (rc != NBLOG_OK || rec.kind != kind ||
        (n ? strncmp(rec.text, text, n) : strcmp(rec.text, text)) != 0) {
        print_error("%s: rc %d kind %d (want %d)\n  got:  \"%.200s\"\n  want: \"%.200s\"\n",
                    what, rc, rc == NBLOG_OK ? rec.kind : -1, kind,
                    rc == NBLOG_OK ? rec.text : "", text);
        fail();
    }
}

/* fmt (a literal) with its arguments, each way: the fast words path, the
 * same record longer than the fast buffer (a deferred record still), one
 * longer than a record (formatted at once from the words, cut as
 * nblog_printf cuts it), a format that cannot be deferred (formatted at
 * once from the words), and nblog_printf; all render as glibc does. */
#define SAME(fmt, ...)                                                         \
    do {                                                                       \
        const char *what_ = #__VA_ARGS__;                                      \
        snprintf(expected, sizeof expected, fmt, __VA_ARGS__);                 \
        assert_true(NBLOG_INFO(fmt, __VA_ARGS__) >= 0);                        \
        expect_next(NBLOG_KIND_DEFERRED, expected, 0, what_);                  \
        snprintf(padded, sizeof padded, "%s" fmt, pad600, __VA_ARGS__);        \
        assert_true(NBLOG_INFO("%s" fmt, pad600, __VA_ARGS__) >= 0);           \
        expect_next(NBLOG_KIND_DEFERRED, padded, 0, what_);                    \
        assert_true(NBLOG_INFO("%ls" fmt, L"", __VA_ARGS__) >= 0);             \
        expect_next(NBLOG_KIND_TEXT, expected, 0, what_);                      \
        assert_true(nblog_printf(NBLOG_LEVEL_INFO, fmt, __VA_ARGS__) >= 0);    \
        expect_next(NBLOG_KIND_TEXT, expected, 0, what_);                      \
        /* cut: both ways the same text, the marker at the end */              \
        assert_true(NBLOG_INFO("%s" fmt, pad3000, __VA_ARGS__) >= 0);          \
        assert_true(nblog_printf(NBLOG_LEVEL_INFO, "%s" fmt, pad3000,          \
                                 __VA_ARGS__) >= 0);                           \
        nblog_record_t cut_;                                                   \
        assert_int_equal(nblog_reader_next(&rd, &cut_, padded, sizeof padded), \
                         NBLOG_OK);                                            \
        assert_int_equal(cut_.kind, NBLOG_KIND_TEXT);                          \
        assert_true(cut_.flags & NBLOG_F_TRUNCATED);                           \
        expect_next(NBLOG_KIND_TEXT, padded, 0, what_);                        \
    } while (0)

enum colour { RED = -2, GREEN = 7 };
struct bits {
    int s : 5;
    unsigned u : 3;
};
static void some_function(void) {}

static void test_every_type(void **state)
{
    (void)state;
    assert_int_equal(nblog_reader_open(&rd, NBLOG_FROM_NEXT), NBLOG_OK);
    memset(pad600, 'p', sizeof pad600 - 1);
    memset(pad3000, 'q', sizeof pad3000 - 1);
    char c = 'x';
    signed char sc = -100;
    unsigned char uc = 200;
    short sh = -30000;
    unsigned short ush = 60000;
    int i = -123456;
    unsigned u = 4000000000u;
    long l = LONG_MIN;
    unsigned long ul = ULONG_MAX;
    long long ll = LLONG_MIN + 1;
    unsigned long long ull = ULLONG_MAX - 1;
    size_t z = (size_t)-1;
    ssize_t sz = -77;
    ptrdiff_t pd = PTRDIFF_MIN;
    intmax_t im = INTMAX_MAX;
    uintmax_t um = UINTMAX_MAX;
    int8_t i8 = -8;
    uint16_t u16 = 65535;
    int32_t i32 = INT32_MIN;
    uint64_t u64 = UINT64_MAX;
    float f = -1.5f;
    double d = 3.0e-300;
    long double ld = 12345.678L;
    char buf[16] = "array";
    char *s = buf;
    const char *cs = "const";
    void *p = &i;
    const volatile int cvi = -9;
    enum colour e = RED;
    bool b = true;
    struct bits bf = {-3, 5};
    void (*fp)(void) = some_function;
    const char *volatile null_str = NULL;

    SAME("c %c %d %x", c, c, c);
    SAME("sc %hhd %d %c", sc, sc, sc);
    SAME("uc %hhu %u %hhx", uc, uc, uc);
    SAME("sh %hd %d %hx", sh, sh, sh);
    SAME("ush %hu %u", ush, ush);
    SAME("i %d %i %x %o %X %c", i, i, (unsigned)i, (unsigned)i, (unsigned)i, 'A' + 1);
    SAME("u %u %x %d", u, u, (int)u);
    SAME("l %ld %lx", l, (unsigned long)l);
    SAME("ul %lu %lx", ul, ul);
    SAME("ll %lld %llx", ll, (unsigned long long)ll);
    SAME("ull %llu %llo", ull, ull);
    SAME("z %zu %zx %zd", z, z, sz);
    SAME("t %td", pd);
    SAME("j %jd %ju %jx", im, um, um);
    SAME("fixed %d %u %d %llu", i8, u16, i32, (unsigned long long)u64);
    SAME("f %f %e %g %a", f, f, f, f);
    SAME("d %f %e %g %.17g", d, d, d, d);
    SAME("ld %Lf %Le %Lg", ld, ld, ld);
    SAME("mixed %.3Lf|%5.1f|%d|%g", ld, f, i, d);
    SAME("s %s %s %.3s %-8s| %8s|", s, cs, buf, "literal", cs);
    SAME("star %*d %-*s| %.*s %*.*f", 6, i, 7, cs, 2, buf, 9, 2, d);
    SAME("null %s %p %p", null_str, (void *)NULL, NULL);
    SAME("p %p %p %p", p, (void *)s, (const void *)cs);
    SAME("cv %d", cvi);
    SAME("enum %d %d", e, GREEN);
    SAME("bool %d %d", b, !b);
    SAME("bits %d %u", bf.s, bf.u);
    SAME("fp %p", (void *)fp);
    SAME("fp raw %lx", (unsigned long)fp);
    SAME("neg %d %ld %lld %hd %hhd", -1, -1L, -1LL, (short)-1, (signed char)-1);
    SAME("%% %c%c", 'o', 'k');
    SAME("errno %d %m", 5);
    /* strings either side of the inline scan's 32 bytes, bounded or not */
    static char str[80];
    for (int n = 0; n < 72; n++) {
        memset(str, 'a' + n % 26, (size_t)n);
        str[n] = '\0';
        SAME("%s|%.31s|%.32s|%.33s|%.*s", str, str, str, str, n / 2, str);
    }
    SAME("sixteen %d %d %d %d %d %d %d %d %d %d %d %d %d %d %s", 1, 2, 3, 4, 5,
         6, 7, 8, 9, 10, 11, 12, 13, 14, "fifteen");
}

/* Each argument is evaluated once, whatever the words path's _Generic
 * does with it, filtered calls included; too few arguments for the format
 * are formatted at once and marked. */
static int bumps;
static const char *bump_name(void)
{
    bumps++;
    return "bumped";
}

static void test_arguments_evaluated_once(void **state)
{
    (void)state;
    assert_int_equal(nblog_reader_open(&rd, NBLOG_FROM_NEXT), NBLOG_OK);
    int n = 0;
    assert_int_equal(NBLOG_INFO("%d %s", n++, bump_name()), NBLOG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(bumps, 1);
    expect_next(NBLOG_KIND_DEFERRED, "0 bumped", 0, "once");
    assert_int_equal(nblog_level_set(NBLOG_LEVEL_WARNING), NBLOG_LEVEL_DEBUG);
    assert_int_equal(NBLOG_INFO("%d", n++), NBLOG_FILTERED);
    assert_int_equal(n, 2); /* a filtered call still evaluated it once */
    assert_int_equal(nblog_level_set(NBLOG_LEVEL_DEBUG), NBLOG_LEVEL_WARNING);
    /* fewer arguments than conversions: formatted at once, marked */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-insufficient-args"
#endif
    assert_int_equal(NBLOG_INFO("%d %s", 1), NBLOG_EARGS);
#pragma GCC diagnostic pop
    expect_next(NBLOG_KIND_TEXT, "1 %!(MISSING)", 0, "missing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad_bytes_zero),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_arguments_evaluated_once),
    };
    return cmocka_run_group_tests(tests, setup, tu_shutdown);
}

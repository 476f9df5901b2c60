/*
 * test-panic-rest.c - the rest of a line a panic cut, left as the
 * console's pending batch, goes out with the next owner's write.
 *
 * The interleaving test-panic-stress met only under load (a panic flush
 * whose write timed out mid-line, then a later one that wrote part of
 * the rest before its own deadline), forced step by step: a direct
 * console whose write_atomic takes a set number of bytes and then says
 * EAGAIN until the panic's deadline passes. Printer threads are paused
 * until the end, so nothing else owns the console in between.
 *
 * Before the fix the console was stuck there: print_pending saw a batch
 * already partly written (so it did not fill it) with no record of its
 * own (so "nothing new to write") and neither the direct caller nor the
 * printer ever printed again; nblog_flush timed out.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nblog.h"
#include "console.h" /* nblog__printers_paused */
#include "testutil.h"
#include "capture.h"

TU_CAPTURE(cap, 1 << 20);

/* Bytes write_atomic may still take before it says EAGAIN; -1: all. */
static _Atomic long allowance = -1;

static ssize_t metered_write_atomic(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    long left = atomic_load(&allowance);
    if (left < 0)
        return tu_capture_append(&cap, buf, len);
    if (left == 0)
        return -EAGAIN;
    size_t n = len < (size_t)left ? len : (size_t)left;
    atomic_fetch_sub(&allowance, (long)n);
    return tu_capture_append(&cap, buf, n);
}

static ssize_t whole_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    return tu_capture_append(&cap, buf, len);
}

/* How many lines are exactly a kmsg line with text `text`, and how many
 * of those are marked replayed; fails on a line that is not kmsg. */
static int lines_with(const char *text, int *replayed)
{
    size_t len = tu_capture_len(&cap), at = 0;
    char line[512];
    int n = 0;
    *replayed = 0;
    while (tu_next_line(cap.buf, len, &at, line, sizeof line)) {
        unsigned long long seq = 0;
        int rep = 0;
        const char *t = "";
        if (!line[0])
            continue; /* a new line begun where a write may have stopped */
        if (!tu_parse_kmsg(line, &seq, &rep, &t))
            fail_msg("not a whole line: \"%s\"", line);
        if (strcmp(t, text) == 0) {
            n++;
            *replayed += rep;
        }
    }
    return n;
}

/* nblog with a 20 ms panic deadline (each flush waits out its EAGAINs),
 * printer threads paused, and one direct kmsg console on the metered
 * write_atomic, capturing afresh. */
static nblog_console_t *start(const char *name)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.panic_timeout_ms = 20;
    opt.crash_handlers = NBLOG_CRASH_NONE;
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    assert_int_equal(nblog_init(&opt), NBLOG_OK);
    tu_capture_reset(&cap);
    cap.must_fit = 1;
    atomic_store(&allowance, -1);
    atomic_store(&nblog__printers_paused, 1);
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = name;
    o.format = NBLOG_FORMAT_KMSG;
    o.mode = NBLOG_MODE_DIRECT;
    static const nblog_console_ops_t ops = {.write = whole_write,
                                            .write_atomic = metered_write_atomic};
    nblog_console_t *c;
    assert_int_equal(nblog_console_register(&ops, NULL, &o, &c), NBLOG_OK);
    return c;
}

static void test_rest_of_cut_line_goes_out(void **state)
{
    (void)state;
    nblog_console_t *c = start("rest");
    nblog_info("before");

    /* 1. Its write stops 5 bytes into "panic: first": the rest of that
     * line becomes the console's pending batch (its second pass, after
     * the backtrace, gets no byte out). */
    atomic_store(&allowance, 5);
    assert_true(nblog_panic_flush("first") > 0);
    /* 2. The next panic writes 3 more bytes of that rest, and no more. */
    atomic_store(&allowance, 3);
    assert_true(nblog_panic_flush("second") > 0);
    /* 3. The output works again: the direct caller writes the rest of
     * the line, then everything pending, its own record last. */
    atomic_store(&allowance, -1);
    nblog_info("after");
    int replayed;
    assert_int_equal(lines_with("after", &replayed), 1);
    atomic_store(&nblog__printers_paused, 0);
    assert_int_equal(nblog_flush(5000, NULL, 0), 0);

    /* "panic: first" is there whole (5 + 3 + the rest of its bytes) and
     * again, marked, from the owner after the panics. */
    size_t len = tu_capture_len(&cap);
    assert_true(len > 0 && cap.buf[len - 1] == '\n');
    assert_int_equal(lines_with("before", &replayed), 1);
    assert_int_equal(replayed, 0);
    int first = lines_with("panic: first", &replayed);
    assert_int_equal(first, 2);
    assert_int_equal(replayed, 1);
    assert_int_equal(lines_with("panic: second", &replayed), 1);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(c, &st), NBLOG_OK);
    tu_assert_stats_books(&st);
    nblog_shutdown();
}

/* The rest of a cut line goes out even when nothing is logged after the
 * panic: the panic's own records are still pending (its write stopped in
 * the first), so the printer thread gets to the rest by itself. */
static void test_rest_goes_out_without_later_records(void **state)
{
    (void)state;
    nblog_console_t *c = start("rest2");
    nblog_info("before");
    atomic_store(&allowance, 5);
    assert_true(nblog_panic_flush("only") > 0);
    atomic_store(&allowance, -1);
    atomic_store(&nblog__printers_paused, 0);
    assert_int_equal(nblog_flush(5000, NULL, 0), 0);
    size_t len = tu_capture_len(&cap);
    assert_true(len > 0 && cap.buf[len - 1] == '\n');
    int replayed;
    assert_int_equal(lines_with("before", &replayed), 1);
    assert_true(lines_with("panic: only", &replayed) >= 1);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(c, &st), NBLOG_OK);
    tu_assert_stats_books(&st);
    nblog_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rest_of_cut_line_goes_out),
        cmocka_unit_test(test_rest_goes_out_without_later_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

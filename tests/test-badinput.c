/*
 * test-badinput.c - bad input gets a clear return value, a marked record
 * where one can be stored, and loses nothing else (docs/design.md, promise 9).
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "nblog.h"

static nblog_reader_t reader;

static int setup(void **state)
{
    (void)state;
    if (tu_init_debug(0) != NBLOG_OK)
        return -1;
    return nblog_reader_open(&reader, NBLOG_FROM_NEXT);
}

/* The next record: must exist, with this text; returns its flags. */
static int expect_record(const char *text, int level)
{
    static char buf[NBLOG_TEXT_MAX_LIMIT + 1];
    nblog_record_t rec;
    assert_int_equal(nblog_reader_next(&reader, &rec, buf, sizeof buf), NBLOG_OK);
    assert_string_equal(rec.text, text);
    assert_int_equal(rec.level, level);
    assert_int_equal(rec.missed, 0);
    return rec.flags;
}

/* After each bad call, an ordinary record still goes through. */
static void expect_normal_after(void)
{
    assert_int_equal(nblog_info("still fine %d", 42), NBLOG_OK);
    assert_int_equal(expect_record("still fine 42", NBLOG_LEVEL_INFO), 0);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wformat-security"
#pragma GCC diagnostic ignored "-Wnonnull"
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-invalid-specifier"
#pragma GCC diagnostic ignored "-Wformat-insufficient-args"
#else
#pragma GCC diagnostic ignored "-Wformat-overflow"
#endif

static void test_null_format(void **state)
{
    (void)state;
    const char *volatile fmt = NULL;
    assert_int_equal(nblog_printf(NBLOG_LEVEL_ERR, fmt), NBLOG_ENOFMT);
    int fl = expect_record("nblog: NULL format string", NBLOG_LEVEL_ERR);
    assert_true(fl & NBLOG_F_BADINPUT);
    va_list *none = NULL;
    (void)none;
    expect_normal_after();
}

static void test_level_out_of_range(void **state)
{
    (void)state;
    assert_int_equal(nblog_printf(8, "too quiet"), NBLOG_ELEVEL);
    assert_true(expect_record("too quiet", NBLOG_LEVEL_DEBUG) & NBLOG_F_BADINPUT);
    assert_int_equal(nblog_printf(-3, "too loud"), NBLOG_ELEVEL);
    assert_true(expect_record("too loud", NBLOG_LEVEL_EMERG) & NBLOG_F_BADINPUT);
    assert_int_equal(nblog_printf(1 << 30, "huge"), NBLOG_ELEVEL);
    assert_true(expect_record("huge", NBLOG_LEVEL_DEBUG) & NBLOG_F_BADINPUT);
    /* Clamped, then filtered like any record of that level. */
    nblog_level_set(NBLOG_LEVEL_INFO);
    assert_int_equal(nblog_printf(99, "filtered"), NBLOG_ELEVEL);
    nblog_level_set(NBLOG_LEVEL_DEBUG);
    expect_normal_after();
}

static void test_one_mib_message(void **state)
{
    (void)state;
    size_t n = 1u << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(nblog_info("%s", big), NBLOG_OK);
    static char buf[NBLOG_TEXT_MAX_LIMIT + 1];
    nblog_record_t rec;
    assert_int_equal(nblog_reader_next(&reader, &rec, buf, sizeof buf), NBLOG_OK);
    assert_true(rec.flags & NBLOG_F_TRUNCATED);
    assert_int_equal(rec.len, st.text_max);
    assert_memory_equal(rec.text + rec.len - 5, NBLOG_TRUNC_MARKER, 5);
    /* As a format string too: 1 MiB of literal text. */
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, big), NBLOG_OK);
    assert_int_equal(nblog_reader_next(&reader, &rec, buf, sizeof buf), NBLOG_OK);
    assert_true(rec.flags & NBLOG_F_TRUNCATED);
    free(big);
    expect_normal_after();
}

static void test_more_conversions_than_arguments(void **state)
{
    (void)state;
    assert_int_equal(nblog_printf(NBLOG_LEVEL_WARNING, "a=%d b=%d c=%s", 1),
                     NBLOG_EARGS);
    int fl = expect_record("a=1 b=%!(MISSING) c=%!(MISSING)", NBLOG_LEVEL_WARNING);
    assert_true(fl & NBLOG_F_BADINPUT);
    assert_int_equal(nblog_printf(NBLOG_LEVEL_WARNING, "%*d", 5), NBLOG_EARGS);
    expect_record("%!(MISSING)", NBLOG_LEVEL_WARNING);
    assert_int_equal(nblog_printf(NBLOG_LEVEL_WARNING, "none %s"), NBLOG_EARGS);
    expect_record("none %!(MISSING)", NBLOG_LEVEL_WARNING);
    expect_normal_after();
}

static void test_bad_conversions(void **state)
{
    (void)state;
    int n = 5;
    /* An unknown spec: what it was meant to take is unknown, so nothing
     * after it is converted (the 3 is not shown as if %d's). */
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "odd %y here %d", 3), NBLOG_EFORMAT);
    assert_true(expect_record("odd %y here %d", NBLOG_LEVEL_INFO) & NBLOG_F_BADINPUT);
    /* %n is never executed: it would write through a pointer. */
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "count%n", &n), NBLOG_EFORMAT);
    assert_int_equal(n, 5);
    expect_record("count%n", NBLOG_LEVEL_INFO);
    /* ... but it takes its pointer, so the next conversion gets its own
     * argument, not the pointer's bits (issue 11, item 18). */
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "%d%n|%d|%s", 1, &n, 3, "s"),
                     NBLOG_EFORMAT);
    assert_int_equal(n, 5);
    assert_true(expect_record("1%n|3|s", NBLOG_LEVEL_INFO) & NBLOG_F_BADINPUT);
    /* A precision past INT_MAX: the string pointer is taken, never shown
     * as the %c's byte. */
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "%.2147483648s%c", "str", 'x'),
                     NBLOG_EFORMAT);
    expect_record("%.2147483648sx", NBLOG_LEVEL_INFO);
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "%99999999999lld|%p", 1LL, (void *)0),
                     NBLOG_EFORMAT);
    expect_record("%99999999999lld|(nil)", NBLOG_LEVEL_INFO);
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "trailing %"), NBLOG_EFORMAT);
    expect_record("trailing %", NBLOG_LEVEL_INFO);
    expect_normal_after();
}

#pragma GCC diagnostic pop

/* Nothing was lost: every call above reserved exactly one record. */
static void test_books_balance(void **state)
{
    (void)state;
    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(st.lost, 0);
    assert_int_equal(reader.missed, 0);
    assert_int_equal(reader.read, st.reserved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_format),
        cmocka_unit_test(test_level_out_of_range),
        cmocka_unit_test(test_one_mib_message),
        cmocka_unit_test(test_more_conversions_than_arguments),
        cmocka_unit_test(test_bad_conversions),
        cmocka_unit_test(test_books_balance),
    };
    return cmocka_run_group_tests(tests, setup, tu_shutdown);
}

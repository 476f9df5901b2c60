/*
 * test-log.c - the logging calls and the lifecycle: lazy init, shutdown,
 * thresholds, compile-time stripping, record fields, truncation, fork.
 */
#define NBLOG_COMPILE_LEVEL NBLOG_LEVEL_INFO /* strips nblog_debug() */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"

/* Reads the next record, which must exist. */
static void next_record(nblog_reader_t *r, nblog_record_t *rec, char *buf,
                        size_t cap)
{
    assert_int_equal(nblog_reader_next(r, rec, buf, cap), NBLOG_OK);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Must run first: the process has not called nblog_init. */
static void test_lazy_init_on_first_call(void **state)
{
    (void)state;
    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(st.reserved, 0);
    assert_int_equal(nblog_info("before init %d", 1), NBLOG_OK);
    nblog_stats_get(&st);
    assert_int_equal(st.reserved, 1);
    assert_int_equal(st.ring_records, 65536);
    assert_int_equal(nblog_init(NULL), NBLOG_EALREADY);

    nblog_reader_t r;
    nblog_record_t rec;
    char buf[512];
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_OLDEST), NBLOG_OK);
    next_record(&r, &rec, buf, sizeof buf);
    assert_string_equal(rec.text, "before init 1");
    nblog_shutdown();
}

static void test_after_shutdown_counted_noop(void **state)
{
    (void)state;
    nblog_stats_t st;
    nblog_stats_get(&st);
    uint64_t before = st.not_ready;
    assert_int_equal(nblog_info("late %d", 1), NBLOG_ENOTREADY);
    assert_int_equal(nblog_err("late %d", 2), NBLOG_ENOTREADY);
    nblog_stats_get(&st);
    assert_int_equal(st.not_ready, before + 2);
    assert_int_equal(st.reserved, 0); /* no ring: nothing reserved */
    nblog_reader_t r;
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_OLDEST), NBLOG_ENOTREADY);
    nblog_shutdown(); /* twice is harmless */
}

static void test_init_options(void **state)
{
    (void)state;
    nblog_options_t o;
    nblog_options_init(&o);
    o.level = 9;
    assert_int_equal(nblog_init(&o), NBLOG_EINVAL);
    nblog_options_init(&o);
    o.facility = 24;
    assert_int_equal(nblog_init(&o), NBLOG_EINVAL);
    nblog_options_init(&o);
    o.ring_records = 100; /* rounded up to 128 */
    o.record_size = 200;  /* rounded up to 256 */
    o.facility = 16;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    assert_int_equal(nblog_init(&o), NBLOG_EALREADY);
    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(st.ring_records, 128);
    assert_int_equal(st.record_size, 256);
    assert_int_equal(st.reserved, 0); /* a fresh ring after re-init */
    nblog_shutdown();
}

static int setup_ring(void **state)
{
    (void)state;
    return tu_init_text(0, 472) == NBLOG_OK ? 0 : -1; /* big[2000] holds past the limit */
}

static void test_record_fields(void **state)
{
    (void)state;
    nblog_reader_t r;
    nblog_record_t rec;
    char buf[512];
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
    uint64_t t0 = mono_ns();
    assert_int_equal(nblog_warning("disk %s at %d%%", "sda", 97), NBLOG_OK);
    uint64_t t1 = mono_ns();
    assert_int_equal(nblog_crit("crit %d", 1), NBLOG_OK);
    next_record(&r, &rec, buf, sizeof buf);
    assert_string_equal(rec.text, "disk sda at 97%");
    assert_int_equal(rec.len, strlen("disk sda at 97%"));
    assert_int_equal(rec.level, NBLOG_LEVEL_WARNING);
    assert_int_equal(rec.facility, 1);
    assert_int_equal(rec.tid, (uint32_t)syscall(SYS_gettid));
    assert_int_equal(rec.kind, NBLOG_KIND_TEXT);
    assert_int_equal(rec.flags, 0);
    assert_int_equal(rec.missed, 0);
    /* The TSC-derived stamp lies between two CLOCK_MONOTONIC readings, give
     * or take calibration error (generous: this checks units, not speed). */
    assert_true(rec.ts_ns + 5000000 >= t0 && rec.ts_ns <= t1 + 5000000);
    next_record(&r, &rec, buf, sizeof buf);
    assert_int_equal(rec.flags, NBLOG_F_EMERGENCY);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_EAGAIN);
}

static void test_threshold(void **state)
{
    (void)state;
    nblog_stats_t st0, st1;
    nblog_stats_get(&st0);
    assert_int_equal(nblog_level_set(NBLOG_LEVEL_WARNING), NBLOG_LEVEL_DEBUG);
    assert_int_equal(nblog_level_get(), NBLOG_LEVEL_WARNING);
    assert_int_equal(nblog_info("filtered"), NBLOG_FILTERED);
    assert_int_equal(nblog_printf(NBLOG_LEVEL_NOTICE, "filtered"), NBLOG_FILTERED);
    assert_int_equal(nblog_warning("kept"), NBLOG_OK);
    assert_int_equal(nblog_emerg("kept"), NBLOG_OK);
    assert_int_equal(nblog_level_set(8), NBLOG_ELEVEL);
    assert_int_equal(nblog_level_set(-1), NBLOG_ELEVEL);
    assert_int_equal(nblog_level_get(), NBLOG_LEVEL_WARNING);
    nblog_stats_get(&st1);
    assert_int_equal(st1.reserved - st0.reserved, 2);
    nblog_level_set(NBLOG_LEVEL_DEBUG);
}

static int evaluated;
static int side_effect(void)
{
    return ++evaluated;
}

static void test_compile_time_strip(void **state)
{
    (void)state;
    nblog_stats_t st0, st1;
    nblog_stats_get(&st0);
    assert_int_equal(nblog_debug("stripped %d", side_effect()), NBLOG_FILTERED);
    /* As a statement, the way most calls are written: no "statement with
     * no effect" from gcc -Wall (this file builds with -Werror). */
    nblog_debug("stripped %d", side_effect());
    NBLOG_DEBUG("stripped %d", side_effect());
    assert_int_equal(evaluated, 0);
    assert_int_equal(nblog_info("kept %d", side_effect()), NBLOG_OK);
    assert_int_equal(evaluated, 1);
    /* nblog_printf itself is never stripped. */
    assert_int_equal(nblog_printf(NBLOG_LEVEL_DEBUG, "runtime %d", 1), NBLOG_OK);
    nblog_stats_get(&st1);
    assert_int_equal(st1.reserved - st0.reserved, 2);
}

static void test_truncation_marker(void **state)
{
    (void)state;
    nblog_stats_t st;
    nblog_stats_get(&st);
    char big[2000], buf[4096];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* A 2-byte UTF-8 character straddling the cut must not be split. */
    big[st.text_max - 6] = (char)0xc3;
    big[st.text_max - 5] = (char)0xa9;
    nblog_reader_t r;
    nblog_record_t rec;
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
    assert_int_equal(nblog_info("%s", big), NBLOG_OK);
    next_record(&r, &rec, buf, sizeof buf);
    assert_true(rec.flags & NBLOG_F_TRUNCATED);
    assert_true(rec.len <= st.text_max);
    size_t ml = strlen(NBLOG_TRUNC_MARKER);
    assert_memory_equal(rec.text + rec.len - ml, NBLOG_TRUNC_MARKER, ml);
    assert_int_equal((unsigned char)rec.text[rec.len - ml - 1], 'a');
    assert_int_equal(rec.len, st.text_max - 1); /* backed off the é */

    /* Exactly text_max fits without a marker. */
    big[st.text_max - 6] = big[st.text_max - 5] = 'a';
    big[st.text_max] = '\0';
    assert_int_equal(nblog_info("%s", big), NBLOG_OK);
    next_record(&r, &rec, buf, sizeof buf);
    assert_int_equal(rec.flags & NBLOG_F_TRUNCATED, 0);
    assert_int_equal(rec.len, st.text_max);
}

static void test_small_reader_buffer(void **state)
{
    (void)state;
    nblog_reader_t r;
    nblog_record_t rec;
    char buf[8];
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
    assert_int_equal(nblog_info("0123456789"), NBLOG_OK);
    assert_int_equal(nblog_info("next"), NBLOG_OK);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_ETRUNCATED);
    assert_string_equal(rec.text, "0123456");
    assert_int_equal(rec.len, 10);
    next_record(&r, &rec, buf, sizeof buf);
    assert_string_equal(rec.text, "next");
    assert_int_equal(nblog_reader_next(&r, &rec, NULL, 8), NBLOG_EINVAL);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, 0), NBLOG_EINVAL);
}

/* A reader that fell many laps behind learns exactly how many it missed,
 * in the first record it gets. */
static void test_stalled_reader_missed_exact(void **state)
{
    (void)state;
    nblog_stats_t st;
    nblog_stats_get(&st);
    nblog_reader_t r;
    nblog_record_t rec;
    char buf[512];
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
    uint64_t total = st.ring_records * 5 + 17;
    for (uint64_t i = 0; i < total; i++)
        assert_int_equal(nblog_info("n=%llu", (unsigned long long)i), NBLOG_OK);
    next_record(&r, &rec, buf, sizeof buf);
    assert_int_equal(rec.missed, total - st.ring_records);
    uint64_t n = total - st.ring_records, read = 1;
    char want[32];
    snprintf(want, sizeof want, "n=%llu", (unsigned long long)n);
    assert_string_equal(rec.text, want);
    while (nblog_reader_next(&r, &rec, buf, sizeof buf) == NBLOG_OK) {
        snprintf(want, sizeof want, "n=%llu", (unsigned long long)++n);
        assert_string_equal(rec.text, want);
        assert_int_equal(rec.missed, 0);
        read++;
    }
    assert_int_equal(read, st.ring_records);
    assert_int_equal(r.read + r.missed, total);
}

static void test_tid_after_fork(void **state)
{
    (void)state;
    nblog_reader_t r;
    nblog_record_t rec;
    char buf[512];
    assert_int_equal(nblog_info("parent"), NBLOG_OK); /* caches the tid */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child's copy of the ring: its record must carry its own tid. */
        nblog_reader_open(&r, NBLOG_FROM_NEXT);
        nblog_info("child");
        int ok = nblog_reader_next(&r, &rec, buf, sizeof buf) == NBLOG_OK &&
                 rec.tid == (uint32_t)getpid() && strcmp(rec.text, "child") == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_names_and_errors(void **state)
{
    (void)state;
    assert_string_equal(nblog_level_name(NBLOG_LEVEL_ERR), "err");
    assert_string_equal(nblog_level_name(8), "invalid");
    assert_string_equal(nblog_level_name(-1), "invalid");
    assert_int_equal(nblog_level_parse("warning"), NBLOG_LEVEL_WARNING);
    assert_int_equal(nblog_level_parse("WARN"), NBLOG_LEVEL_WARNING);
    assert_int_equal(nblog_level_parse("error"), NBLOG_LEVEL_ERR);
    assert_int_equal(nblog_level_parse("7"), NBLOG_LEVEL_DEBUG);
    assert_int_equal(nblog_level_parse("8"), NBLOG_ELEVEL);
    assert_int_equal(nblog_level_parse("loud"), NBLOG_ELEVEL);
    assert_int_equal(nblog_level_parse(NULL), NBLOG_ELEVEL);
    for (int i = 0; i < NBLOG_LEVEL_COUNT; i++)
        assert_int_equal(nblog_level_parse(nblog_level_name(i)), i);
    for (int e = -12; e <= 1; e++)
        assert_string_not_equal(nblog_strerror(e), "unknown nblog error");
    assert_string_equal(nblog_strerror(-100), "unknown nblog error");
    assert_int_equal(nblog_version(), NBLOG_VERSION_HEX);
    assert_string_equal(nblog_version_string(), NBLOG_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_init_on_first_call),
        cmocka_unit_test(test_after_shutdown_counted_noop),
        cmocka_unit_test(test_init_options),
        cmocka_unit_test_setup_teardown(test_record_fields, setup_ring, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_threshold, setup_ring, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_compile_time_strip, setup_ring, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_truncation_marker, setup_ring, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_small_reader_buffer, setup_ring, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_stalled_reader_missed_exact, setup_ring, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_tid_after_fork, setup_ring, tu_shutdown),
        cmocka_unit_test(test_names_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

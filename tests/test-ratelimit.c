/*
 * test-ratelimit.c - per-call-site rate limiting: bursts, the "N messages
 * suppressed" notice, and exact suppression counts under concurrency.
 * Windows are ended by rewinding the window start, never by sleeping.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nblog.h"

static int setup(void **state)
{
    (void)state;
    nblog_options_t o;
    nblog_options_init(&o);
    o.level = NBLOG_LEVEL_DEBUG;
    o.ring_records = 1 << 16;
    return nblog_init(&o) == NBLOG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nblog_shutdown();
    return 0;
}

static void test_burst_then_notice(void **state)
{
    (void)state;
    nblog_ratelimit_t rs = NBLOG_RATELIMIT_INIT(60000, 3);
    nblog_reader_t r;
    nblog_record_t rec;
    char buf[512];
    nblog_reader_open(&r, NBLOG_FROM_NEXT);
    int passed = 0;
    for (int i = 0; i < 10; i++)
        passed += nblog_ratelimit_pass(&rs, NBLOG_LEVEL_WARNING);
    assert_int_equal(passed, 3);
    assert_int_equal(rs.suppressed, 7);
    rs.window_start_ns = 1; /* the window is over */
    assert_int_equal(nblog_ratelimit_pass(&rs, NBLOG_LEVEL_WARNING), 1);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_OK);
    assert_string_equal(rec.text, "7 messages suppressed");
    assert_int_equal(rec.level, NBLOG_LEVEL_WARNING);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_EAGAIN);
    assert_int_equal(rs.suppressed, 0);
}

static void test_macro_per_call_site(void **state)
{
    (void)state;
    nblog_stats_t st0, st1;
    nblog_stats_get(&st0);
    int stored = 0, filtered = 0;
    for (int i = 0; i < 25; i++) {
        int rc = nblog_printf_ratelimited(NBLOG_LEVEL_INFO, "tick %d", i);
        stored += rc == NBLOG_OK;
        filtered += rc == NBLOG_FILTERED;
    }
    assert_int_equal(stored, NBLOG_RATELIMIT_BURST);
    assert_int_equal(filtered, 25 - NBLOG_RATELIMIT_BURST);
    nblog_stats_get(&st1);
    assert_int_equal(st1.reserved - st0.reserved, NBLOG_RATELIMIT_BURST);
}

/* Threads hammer one call site while another thread keeps ending windows:
 * every suppressed call is reported once, in a notice or still pending. */
#define THREADS 4
static nblog_ratelimit_t shared_rs = NBLOG_RATELIMIT_INIT(60000, 5);
static volatile int stop_rewinding;

static void *caller(void *arg)
{
    long *suppressed = arg;
    for (int i = 0; i < SCALED(50000); i++)
        if (!nblog_ratelimit_pass(&shared_rs, NBLOG_LEVEL_NOTICE))
            (*suppressed)++;
    return NULL;
}

static void *rewinder(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_rewinding, __ATOMIC_RELAXED)) {
        __atomic_store_n(&shared_rs.window_start_ns, 1, __ATOMIC_RELAXED);
        sched_yield();
    }
    return NULL;
}

static void test_suppressed_count_exact_under_threads(void **state)
{
    (void)state;
    nblog_reader_t r;
    nblog_reader_open(&r, NBLOG_FROM_NEXT);
    pthread_t t[THREADS], rw;
    long suppressed[THREADS] = {0};
    pthread_create(&rw, NULL, rewinder, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, caller, &suppressed[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    __atomic_store_n(&stop_rewinding, 1, __ATOMIC_RELAXED);
    pthread_join(rw, NULL);

    long total = 0, reported = 0;
    for (int i = 0; i < THREADS; i++)
        total += suppressed[i];
    nblog_record_t rec;
    char buf[512];
    int rc;
    while ((rc = nblog_reader_next(&r, &rec, buf, sizeof buf)) == NBLOG_OK) {
        unsigned n;
        assert_int_equal(sscanf(rec.text, "%u messages suppressed", &n), 1);
        reported += n;
    }
    assert_int_equal(rc, NBLOG_EAGAIN);
    assert_int_equal(r.missed, 0);
    assert_int_equal(reported + (long)shared_rs.suppressed, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_notice),
        cmocka_unit_test(test_macro_per_call_site),
        cmocka_unit_test(test_suppressed_count_exact_under_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test-ratelimit.c - per-call-site rate limiting: bursts, the "N messages
 * suppressed" notice, exact suppression counts under concurrency, and the
 * bound (at most burst passes per window) under concurrency.
 * The limiter's clock is the test's (nblog__ratelimit_clock_hook): windows
 * end when the test moves it, never by sleeping.
 */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nblog.h"

/* The injected clock: starts far from 0 (a limiter's first window starts
 * at its first call, whatever the clock says). */
#define CLOCK_BASE ((uint64_t)1 << 40)
static _Atomic uint64_t fake_ns = CLOCK_BASE;

static uint64_t fake_clock(void)
{
    /* Relaxed: the value is all that matters; the limiter tolerates a
     * clock read that is older than the window it then finds. */
    return atomic_load_explicit(&fake_ns, memory_order_relaxed);
}

static void advance_ms(uint64_t ms)
{
    atomic_fetch_add_explicit(&fake_ns, ms * 1000000u, memory_order_relaxed);
}

static int setup(void **state)
{
    (void)state;
    atomic_store(&nblog__ratelimit_clock_hook, fake_clock);
    return tu_init_debug(1 << 16) == NBLOG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nblog_shutdown();
    atomic_store(&nblog__ratelimit_clock_hook, NULL);
    return 0;
}

/* Sums the "N messages suppressed" notices r has not read yet; every
 * record left must be one. */
static long read_notices(nblog_reader_t *r)
{
    nblog_record_t rec;
    char buf[512];
    long reported = 0;
    int rc;
    while ((rc = nblog_reader_next(r, &rec, buf, sizeof buf)) == NBLOG_OK) {
        unsigned n;
        if (sscanf(rec.text, "%u messages suppressed", &n) != 1)
            fail_msg("not a notice: \"%s\"", rec.text);
        reported += n;
    }
    assert_int_equal(rc, NBLOG_EAGAIN);
    assert_int_equal(r->missed, 0);
    return reported;
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
    advance_ms(59990); /* not yet over */
    assert_int_equal(nblog_ratelimit_pass(&rs, NBLOG_LEVEL_WARNING), 0);
    advance_ms(20); /* over (a window may last ~2 ms past interval_ms) */
    assert_int_equal(nblog_ratelimit_pass(&rs, NBLOG_LEVEL_WARNING), 1);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_OK);
    assert_string_equal(rec.text, "8 messages suppressed");
    assert_int_equal(rec.level, NBLOG_LEVEL_WARNING);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_EAGAIN);
    assert_int_equal(rs.suppressed, 0);
}

/* interval 0: no limit; burst 0: everything suppressed, and counted. */
static void test_zero_interval_and_burst(void **state)
{
    (void)state;
    nblog_ratelimit_t open_rs = NBLOG_RATELIMIT_INIT(0, 0);
    nblog_ratelimit_t shut_rs = NBLOG_RATELIMIT_INIT(1000, 0);
    nblog_reader_t r;
    nblog_reader_open(&r, NBLOG_FROM_NEXT);
    int passed = 0;
    for (int i = 0; i < 100; i++) {
        passed += nblog_ratelimit_pass(&open_rs, NBLOG_LEVEL_INFO);
        passed += nblog_ratelimit_pass(&shut_rs, NBLOG_LEVEL_INFO);
        advance_ms(700);
    }
    assert_int_equal(passed, 100);
    assert_int_equal(open_rs.suppressed, 0);
    assert_int_equal(read_notices(&r) + (long)shut_rs.suppressed, 100);
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

/* Threads hammer one call site while another thread keeps ending windows
 * (moving the clock): every suppressed call is reported once, in a notice
 * or still pending. */
#define THREADS 4
static nblog_ratelimit_t shared_rs = NBLOG_RATELIMIT_INIT(60000, 5);
static atomic_int stop_advancing;

static void *caller(void *arg)
{
    long *suppressed = arg;
    for (int i = 0; i < SCALED(50000); i++)
        if (!nblog_ratelimit_pass(&shared_rs, NBLOG_LEVEL_NOTICE))
            (*suppressed)++;
    return NULL;
}

static void *advancer(void *arg)
{
    (void)arg;
    /* Relaxed: a stop flag; the join orders the rest. */
    while (!atomic_load_explicit(&stop_advancing, memory_order_relaxed)) {
        advance_ms(60000);
        sched_yield();
    }
    return NULL;
}

static void test_suppressed_count_exact_under_threads(void **state)
{
    (void)state;
    nblog_reader_t r;
    nblog_reader_open(&r, NBLOG_FROM_NEXT);
    pthread_t t[THREADS], adv;
    long suppressed[THREADS] = {0};
    pthread_create(&adv, NULL, advancer, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, caller, &suppressed[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store_explicit(&stop_advancing, 1, memory_order_relaxed);
    pthread_join(adv, NULL);

    long total = 0;
    for (int i = 0; i < THREADS; i++)
        total += suppressed[i];
    assert_int_equal(read_notices(&r) + (long)shared_rs.suppressed, total);
}

/*
 * The bound, exactly (label stress: also run under TSan). THREADS callers
 * hammer one limiter (burst BOUND_BURST) without pause while this thread
 * moves the clock one phase on, two intervals at a time, each time the
 * callers have used up the current window. A phase can open one window
 * only (its clock is more than an interval past the last window's start,
 * and never again within the phase), so once phase k has let its burst
 * through, exactly (k + 1) * burst calls have passed: more means a window
 * let too many through, or a second window opened within a phase (the
 * window start once moved backwards when a caller's clock read was older
 * than a start another caller had just set). Callers are mid-call when
 * the clock moves, holding older readings: that is the race.
 */
#define BOUND_BURST 6
#define BOUND_INTERVAL_MS 100
static nblog_ratelimit_t bound_rs = NBLOG_RATELIMIT_INIT(BOUND_INTERVAL_MS, BOUND_BURST);
static _Atomic long bound_passes, bound_calls;
static atomic_int bound_stop;

struct bound_caller {
    pthread_t thread;
    long calls, passes, suppressed;
};

static void *bound_caller_main(void *arg)
{
    struct bound_caller *c = arg;
    /* Relaxed: a stop flag; the join orders the counts. */
    while (!atomic_load_explicit(&bound_stop, memory_order_relaxed)) {
        if (nblog_ratelimit_pass(&bound_rs, NBLOG_LEVEL_NOTICE)) {
            c->passes++;
            /* Relaxed: a counter; the phase loop reads it as a number. */
            atomic_fetch_add_explicit(&bound_passes, 1, memory_order_relaxed);
        } else {
            c->suppressed++;
        }
        c->calls++;
        atomic_fetch_add_explicit(&bound_calls, 1, memory_order_relaxed);
    }
    return NULL;
}

static void test_bound_exact_under_threads(void **state)
{
    (void)state;
    const long phases = SCALED(2000) < 100 ? 100 : SCALED(2000);
    nblog_reader_t r;
    nblog_reader_open(&r, NBLOG_FROM_NEXT);
    struct bound_caller c[THREADS];
    memset(c, 0, sizeof c);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&c[i].thread, NULL, bound_caller_main, &c[i]), 0);
    for (long k = 0; k < phases; k++) {
        long want = (k + 1) * BOUND_BURST;
        long calls0 = atomic_load_explicit(&bound_calls, memory_order_relaxed);
        long passes;
        while ((passes = atomic_load_explicit(&bound_passes, memory_order_relaxed)) < want) {
            /* A hang guard, not a timing check: callers that made 10^8
             * calls in one phase without opening its window never will. */
            if (atomic_load_explicit(&bound_calls, memory_order_relaxed) - calls0 > 100000000L)
                fail_msg("phase %ld: window never opened (%ld passes)", k, passes);
            sched_yield();
        }
        if (passes != want)
            fail_msg("phase %ld: %ld calls passed, at most %ld may (burst %d per window)",
                     k, passes, want, BOUND_BURST);
        advance_ms(2 * BOUND_INTERVAL_MS);
    }
    atomic_store_explicit(&bound_stop, 1, memory_order_relaxed);
    long calls = 0, passes = 0, suppressed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(c[i].thread, NULL);
        calls += c[i].calls;
        passes += c[i].passes;
        suppressed += c[i].suppressed;
    }
    /* The last phase's window may have let more callers through after the
     * clock moved past it: those are the next phase's window, one burst. */
    assert_true(passes >= phases * BOUND_BURST);
    assert_true(passes <= (phases + 1) * BOUND_BURST);
    assert_int_equal(passes + suppressed, calls);
    assert_int_equal(read_notices(&r) + (long)bound_rs.suppressed, suppressed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_notice),
        cmocka_unit_test(test_zero_interval_and_burst),
        cmocka_unit_test(test_macro_per_call_site),
        cmocka_unit_test(test_suppressed_count_exact_under_threads),
        cmocka_unit_test(test_bound_exact_under_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

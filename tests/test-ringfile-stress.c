/*
 * test-ringfile-stress.c - the publisher thread of a file ring racing
 * everything it touches: logging threads, a console printing, and a
 * reader of the published stats and records in the same mapping (so
 * ThreadSanitizer sees both sides of the seqlocks). Checks that every
 * consistent stats copy is sane (printed never goes backwards, next_seq
 * never beyond the head it was taken with) and that a follower-style
 * reader sees each record once, in order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "nblog.h"
#include "proc.h"
#include "ring.h"
#include "ringfile.h"
#include "testutil.h"

#define LOGGERS 2

static _Atomic unsigned long lines_seen;

static void count_lines(void *arg, const char *lines, size_t len)
{
    (void)arg;
    unsigned long n = 0;
    for (size_t i = 0; i < len; i++)
        n += lines[i] == '\n';
    atomic_fetch_add_explicit(&lines_seen, n, memory_order_relaxed);
}

static _Atomic int loggers_done;

static void *logger(void *arg)
{
    long per = (long)arg;
    for (long i = 0; i < per; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "stress %ld", i);
    atomic_fetch_add(&loggers_done, 1);
    return NULL;
}

/* Reads console 0's published stats, racing the publisher thread, until
 * the loggers are done and a copy shows every record handled. */
static void watch_stats(const struct nblog__ring_hdr *r, uint64_t total)
{
    uint64_t last_printed = 0, handled = 0;
    while (atomic_load(&loggers_done) < LOGGERS || handled < total) {
        nblog_console_stats_t st;
        uint64_t head;
        if (nblog__ringview_console(r, 0, &st, &head) == 1) {
            assert_true(st.printed >= last_printed);
            assert_true(st.next_seq <= head);
            assert_string_equal(st.name, "counter");
            last_printed = st.printed;
            handled = st.next_seq;
        }
        usleep(1000);
    }
}

static void test_publisher_races(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "stress");
    nblog_options_t o;
    tu_ring_options(&o, path, 1024, 128);
    /* The file's console 0 is "counter": no default console before it
     * (the publisher's snapshot would show it for a pass). */
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    nblog_console_opts_t co;
    nblog_console_opts_init(&co);
    co.name = "counter";
    nblog_console_t *con;
    assert_int_equal(nblog_console_callback(count_lines, NULL, &co, &con), NBLOG_OK);
    const void *mem;
    size_t bytes;
    nblog__ring_memory(&mem, &bytes);

    pthread_t t[LOGGERS];
    long per = SCALED(100000) / LOGGERS;
    for (long i = 0; i < LOGGERS; i++)
        pthread_create(&t[i], NULL, logger, (void *)per);
    watch_stats(mem, (uint64_t)per * LOGGERS);
    for (int i = 0; i < LOGGERS; i++)
        pthread_join(t[i], NULL);
    nblog_flush(60000, NULL, 0);
    nblog_console_stats_t cs;
    assert_int_equal(nblog_console_stats(con, &cs), NBLOG_OK);
    /* Conservation over what the console handled. */
    tu_assert_stats_books(&cs);
    assert_true(atomic_load(&lines_seen) >= cs.printed);
    nblog_shutdown();
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publisher_races),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

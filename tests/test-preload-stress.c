/*
 * test-preload-stress.c - the syslog drop-in under concurrency: THREADS
 * threads, released together, race for the drop-in's setup with their
 * first syslog(3) calls, each also logging from a SIGUSR1 handler raised
 * on itself, and setlogmask is flipped meanwhile (all bits or all). Then
 * the ring file (NBLOG_RING, set before the first call) is read with the
 * public reader: every record of every thread is there, once. Linked
 * against libnblog-syslog.so directly (the test's own nblog copy is
 * separate: the drop-in keeps its nblog hidden), so it runs under TSan
 * too (label stress).
 *
 * Then, on the same ring: what a record carries as glibc's syslog(3)
 * sends it: the call's facility, openlog's (also a later openlog's) when
 * it gives none, glibc's report of bits outside LOG_PRIMASK|LOG_FACMASK,
 * the mask applied to the level.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "nblog.h"

#define THREADS 4
#define PER_THREAD 800
#define IN_HANDLER 20

static pthread_barrier_t go;

static void on_usr1(int sig)
{
    (void)sig;
    syslog(LOG_NOTICE, "handler %d", 1);
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    pthread_barrier_wait(&go);
    for (int i = 0; i < PER_THREAD; i++) {
        syslog(LOG_INFO, "t%d m%d", id, i);
        if (i % (PER_THREAD / IN_HANDLER) == 0)
            pthread_kill(pthread_self(), SIGUSR1);
        if (id == 0 && i % 100 == 0)
            setlogmask(LOG_UPTO(LOG_DEBUG)); /* the same mask: nothing filtered */
    }
    return NULL;
}

static void test_concurrent_first_calls(void **state)
{
    (void)state;
    char ring[64];
    snprintf(ring, sizeof ring, "nblog-test-preload-stress-%d", (int)getpid());
    setenv("NBLOG_RING", ring, 1);
    setenv("NBLOG_CONSOLES", "none", 1);
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_barrier_init(&go, NULL, THREADS);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);

    char path[96];
    snprintf(path, sizeof path, "/dev/shm/%s", ring);
    nblog_ringfile_t *f;
    char why[128];
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, why, sizeof why), NBLOG_OK);
    nblog_reader_t r;
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &r), NBLOG_OK);
    static unsigned char seen[THREADS][PER_THREAD];
    int handler = 0, other = 0;
    nblog_record_t rec;
    char buf[256];
    while (nblog_reader_next(&r, &rec, buf, sizeof buf) == NBLOG_OK) {
        int id, i;
        if (sscanf(buf, "t%d m%d", &id, &i) == 2 && id >= 0 && id < THREADS && i >= 0 &&
            i < PER_THREAD) {
            assert_int_equal(rec.level, LOG_INFO);
            seen[id][i]++;
        } else if (strcmp(buf, "handler 1") == 0) {
            handler++;
        } else {
            other++;
        }
    }
    assert_int_equal(r.missed, 0);
    for (int id = 0; id < THREADS; id++)
        for (int i = 0; i < PER_THREAD; i++)
            if (seen[id][i] != 1)
                fail_msg("t%d m%d seen %d times", id, i, seen[id][i]);
    /* A handler that interrupted the setup on its own thread may drop its
     * record (documented); all others are there. */
    assert_true(handler <= THREADS * IN_HANDLER && handler >= THREADS * IN_HANDLER - THREADS);
    assert_int_equal(other, 0);
    nblog_ringfile_close(f);
}

static void ring_name(char *path, size_t size)
{
    snprintf(path, size, "/dev/shm/nblog-test-preload-stress-%d", (int)getpid());
}

static void test_facilities(void **state)
{
    (void)state;
    /* Set up by the test above (process facility LOG_USER, no openlog). */
    static const struct {
        int pri;
        const char *text;
        int level, facility; /* what the record must carry; -1: not stored */
    } calls[] = {
        {LOG_INFO, "fac: none given", LOG_INFO, 18},          /* openlog's below: local2 */
        {LOG_LOCAL3 | LOG_ERR, "fac: local3", LOG_ERR, 19},
        {LOG_AUTHPRIV | LOG_NOTICE, "fac: authpriv", LOG_NOTICE, 10},
        {LOG_KERN | LOG_WARNING, "fac: kern is none", LOG_WARNING, 18}, /* 0: as glibc */
        {LOG_LOCAL3 | LOG_DEBUG, "fac: masked", 0, -1},      /* the mask is on the level */
        {0x10000 | LOG_LOCAL4 | LOG_INFO, "fac: bad bits", LOG_INFO, 20},
        {(24 << 3) | LOG_INFO, "fac: past local7", LOG_INFO, 1}, /* the process's */
    };
    openlog("stressid", 0, LOG_LOCAL2); /* after setup: its facility applies */
    int old = setlogmask(LOG_UPTO(LOG_INFO));
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        syslog(calls[i].pri, "%s", calls[i].text);
    openlog("stressid", 0, 0);        /* 0: unchanged */
    openlog("stressid", 0, 0x10000);  /* not a facility: unchanged */
    syslog(LOG_INFO, "fac: still local2");
    openlog("stressid", 0, LOG_DAEMON);
    syslog(LOG_INFO, "fac: daemon now");
    setlogmask(old);
    closelog();

    char path[96];
    ring_name(path, sizeof path);
    nblog_ringfile_t *f;
    char why[128];
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, why, sizeof why), NBLOG_OK);
    nblog_reader_t r;
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &r), NBLOG_OK);
    nblog_record_t rec;
    char buf[256];
    int seen = 0, report = 0;
    while (nblog_reader_next(&r, &rec, buf, sizeof buf) == NBLOG_OK) {
        if (strcmp(buf, "syslog: unknown facility/priority: 100a6") == 0) {
            /* glibc's INTERNALLOG: LOG_ERR|LOG_CONS|LOG_PERROR|LOG_PID, auth.err */
            assert_int_equal(rec.level, LOG_ERR);
            assert_int_equal(rec.facility, 4);
            assert_int_equal(seen, 4); /* before the record it is about */
            report++;
            continue;
        }
        if (strncmp(buf, "fac: ", 5) != 0)
            continue;
        if (strcmp(buf, "fac: still local2") == 0) {
            assert_int_equal(rec.facility, 18);
            seen++;
            continue;
        }
        if (strcmp(buf, "fac: daemon now") == 0) {
            assert_int_equal(rec.facility, 3);
            seen++;
            continue;
        }
        size_t i = 0;
        while (i < sizeof calls / sizeof calls[0] && strcmp(buf, calls[i].text) != 0)
            i++;
        if (i == sizeof calls / sizeof calls[0] || calls[i].facility < 0)
            fail_msg("unexpected record \"%s\"", buf);
        assert_int_equal(rec.level, calls[i].level);
        if (rec.facility != calls[i].facility)
            fail_msg("\"%s\": facility %d, want %d", buf, rec.facility, calls[i].facility);
        seen++;
    }
    assert_int_equal(seen, 8);
    assert_int_equal(report, 1);
    nblog_ringfile_close(f);
    unlink(path);
}

int main(void)
{
    /* In this order: the first makes the drop-in's setup race. */
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_concurrent_first_calls),
                                       cmocka_unit_test(test_facilities)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test-sites-stress.c - call sites' first uses, concurrently (label
 * stress: TSan runs it too).
 *
 * Each round starts a new ring (so every site's cache is stale and every
 * site's entry is made anew), then T threads log from S sites (distinct
 * lines, half nblog_info, half NBLOG_INFO) from their first use on, all
 * starting together, while another thread sends them SIGUSR1, whose
 * handler logs from the same sites (it may interrupt its own thread making
 * the entry: that call is BUSY). The main thread reads every record back
 * as they come and checks:
 *   - a record with a location has exactly its site's (file, line, func);
 *   - one without is BUSY's doing: in its stream (a thread, or the
 *     handlers on a thread), no record of that site without a location
 *     follows one with it (once a caller got the entry, it keeps it);
 *   - nothing is lost or out of order in any stream, and the table ends
 *     with exactly S entries, one per site.
 * The counts of records without a location are printed.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nblog.h"
#include "ring.h"

#ifdef UNDER_TSAN
#define TSAN 1
#else
#define TSAN 0
#endif

#define T 4        /* logging threads */
#define S 16       /* sites */
#define STREAMS (2 * T) /* thread t's calls: stream t; its handlers': T + t */

/* Site k: a function on its own line. */
#define SITE(k, call)                                                          \
    static const unsigned line_##k = __LINE__;                                 \
    static int site_##k(int stream, unsigned i) { return call("s" #k " t%d i%u", stream, i); }
SITE(0, nblog_info)
SITE(1, NBLOG_INFO)
SITE(2, nblog_info)
SITE(3, NBLOG_INFO)
SITE(4, nblog_info)
SITE(5, NBLOG_INFO)
SITE(6, nblog_info)
SITE(7, NBLOG_INFO)
SITE(8, nblog_info)
SITE(9, NBLOG_INFO)
SITE(10, nblog_info)
SITE(11, NBLOG_INFO)
SITE(12, nblog_info)
SITE(13, NBLOG_INFO)
SITE(14, nblog_info)
SITE(15, NBLOG_INFO)
#define E(k) {site_##k, &line_##k, "site_" #k},
static const struct {
    int (*fn)(int, unsigned);
    const unsigned *line;
    const char *func;
} sites[S] = {E(0) E(1) E(2) E(3) E(4) E(5) E(6) E(7) E(8) E(9) E(10) E(11) E(12) E(13)
                  E(14) E(15)};

static _Thread_local int my_stream = -1;  /* this logging thread's t */
static _Thread_local unsigned handler_n;  /* records its handlers logged */
static atomic_uint handler_total;

static void handler(int sig)
{
    (void)sig;
    int saved = errno;
    if (my_stream >= 0) {
        unsigned i = handler_n++;
        sites[(i * 7 + (unsigned)my_stream) % S].fn(T + my_stream, i);
        atomic_fetch_add_explicit(&handler_total, 1, memory_order_relaxed);
    }
    errno = saved;
}

struct round {
    pthread_barrier_t start;
    unsigned n;                  /* records per logging thread */
    atomic_int logging;          /* threads still in their loop */
    atomic_int signals_done;     /* the sender stopped */
    unsigned handled[T];         /* handler_n of each, after signals_done */
    int bad_rc[T];
};

struct logger {
    struct round *rd;
    int t;
    pthread_t th;
};

static void *logger_main(void *arg)
{
    struct logger *l = arg;
    my_stream = l->t;
    handler_n = 0;
    pthread_barrier_wait(&l->rd->start);
    for (unsigned i = 0; i < l->rd->n; i++)
        if (sites[i % S].fn(l->t, i) != NBLOG_OK)
            l->rd->bad_rc[l->t]++;
    atomic_fetch_sub(&l->rd->logging, 1);
    /* Signals may still come (and be handled) until the sender stops;
     * polled, with a pause that is also where a sanitizer delivers them. */
    while (!atomic_load(&l->rd->signals_done)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* none after handler_n is read */
    l->rd->handled[l->t] = handler_n;
    return NULL;
}

struct sender {
    struct round *rd;
    struct logger *lg;
    unsigned max;
    unsigned sent;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    unsigned x = 12345;
    pthread_barrier_wait(&s->rd->start);
    while (atomic_load(&s->rd->logging) > 0 && s->sent < s->max) {
        x = x * 1103515245u + 12345u;
        if (pthread_kill(s->lg[(x >> 16) % T].th, SIGUSR1) == 0)
            s->sent++;
        if (s->sent % 8 == 0)
            sched_yield();
    }
    atomic_store(&s->rd->signals_done, 1);
    return NULL;
}

/* What the reader knows of a stream. */
struct stream {
    unsigned next;        /* its next record's i */
    int located[S];       /* a record of site k with its location came */
    unsigned none[S];     /* records of site k without one */
};

struct verdict {
    uint64_t records, none, located_after_none;
    unsigned bad;
    char first_bad[256];
};

static void bad(struct verdict *v, const nblog_record_t *rec, const char *why)
{
    if (v->bad++ == 0)
        snprintf(v->first_bad, sizeof v->first_bad, "seq %llu \"%s\" (%s:%u %s): %s",
                 (unsigned long long)rec->seq, rec->text, rec->file, rec->line, rec->func,
                 why);
}

static void check(struct verdict *v, struct stream *st, const nblog_record_t *rec)
{
    int k, t;
    unsigned i;
    v->records++;
    if (sscanf(rec->text, "s%d t%d i%u", &k, &t, &i) != 3 || k < 0 || k >= S || t < 0 ||
        t >= STREAMS) {
        bad(v, rec, "not a record of this test");
        return;
    }
    struct stream *s = &st[t];
    if (i != s->next)
        bad(v, rec, "a stream's record lost or out of order");
    s->next = i + 1;
    if (rec->line == 0 && rec->file[0] == '\0' && rec->func[0] == '\0') {
        v->none++;
        s->none[k]++;
        if (s->located[k])
            bad(v, rec, "no location after this stream had it");
        return;
    }
    if (rec->line != *sites[k].line || strcmp(rec->func, sites[k].func) != 0 ||
        strcmp(rec->file, __FILE__) != 0) /* short enough to be kept whole */
        bad(v, rec, "another site's location");
    if (!s->located[k] && s->none[k])
        v->located_after_none++;
    s->located[k] = 1;
}

static void test_first_uses_race(void **state)
{
    (void)state;
    assert_true(strlen(__FILE__) + 8 <= NBLOG_SITE_FILE_MAX);
    const int rounds = TSAN ? 30 : SCALED(300);
    const unsigned n = TSAN ? 300 : SCALED(1000);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);

    struct verdict v = {0};
    uint64_t handled = 0, sent = 0;
    static struct stream st[STREAMS];
    static nblog_record_t rec;
    static char buf[256];
    for (int round = 0; round < rounds; round++) {
        nblog_options_t o;
        nblog_options_init(&o);
        o.ring_records = 1u << 16; /* holds a round: nothing is overwritten */
        o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
        o.crash_handlers = NBLOG_CRASH_NONE;
        assert_int_equal(nblog_init(&o), NBLOG_OK);
        nblog_reader_t r;
        assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_OLDEST), NBLOG_OK);
        memset(st, 0, sizeof st);

        static struct round rd;
        memset(&rd, 0, sizeof rd);
        rd.n = n;
        atomic_store(&rd.logging, T);
        assert_int_equal(pthread_barrier_init(&rd.start, NULL, T + 1), 0);
        struct logger lg[T];
        for (int t = 0; t < T; t++) {
            lg[t] = (struct logger){.rd = &rd, .t = t};
            assert_int_equal(pthread_create(&lg[t].th, NULL, logger_main, &lg[t]), 0);
        }
        struct sender sd = {.rd = &rd, .lg = lg, .max = 4000};
        pthread_t sth;
        /* The sender takes the barrier's last place: all start together. */
        assert_int_equal(pthread_create(&sth, NULL, sender_main, &sd), 0);

        /* Read as they come until every thread is done and nothing is left. */
        for (;;) {
            int finished = atomic_load(&rd.signals_done) && atomic_load(&rd.logging) == 0;
            int rc = nblog_reader_next(&r, &rec, buf, sizeof buf);
            if (rc == NBLOG_OK) {
                check(&v, st, &rec);
                continue;
            }
            assert_int_equal(rc, NBLOG_EAGAIN);
            if (finished)
                break;
            sched_yield();
        }
        assert_int_equal(pthread_join(sth, NULL), 0);
        for (int t = 0; t < T; t++)
            assert_int_equal(pthread_join(lg[t].th, NULL), 0);
        pthread_barrier_destroy(&rd.start);
        /* Late handler records (before the threads blocked the signal). */
        int rc;
        while ((rc = nblog_reader_next(&r, &rec, buf, sizeof buf)) == NBLOG_OK)
            check(&v, st, &rec);
        assert_int_equal(rc, NBLOG_EAGAIN);
        assert_int_equal(r.missed, 0);

        for (int t = 0; t < T; t++) {
            assert_int_equal(rd.bad_rc[t], 0);
            assert_int_equal(st[t].next, n);
            assert_int_equal(st[T + t].next, rd.handled[t]);
            handled += rd.handled[t];
        }
        sent += sd.sent;
        /* One entry per site, each the site's. */
        struct nblog__ring_hdr *ring;
        {
            const void *mem;
            size_t bytes;
            nblog__ring_memory(&mem, &bytes);
            ring = (struct nblog__ring_hdr *)(uintptr_t)mem;
        }
        unsigned entries = 0;
        for (uint32_t i = 1; i <= ring->sites; i++) {
            struct nblog__loc loc;
            if (!nblog__ring_site_get(ring, i, &loc))
                continue;
            entries++;
            int found = 0;
            for (int k = 0; k < S; k++)
                found += loc.line == *sites[k].line && strcmp(loc.func, sites[k].func) == 0;
            assert_int_equal(found, 1);
        }
        assert_int_equal(entries, S);
        /* Afterwards every site gives its location (the table is made). */
        nblog_reader_t r2;
        assert_int_equal(nblog_reader_open(&r2, NBLOG_FROM_NEXT), NBLOG_OK);
        for (int k = 0; k < S; k++) {
            assert_int_equal(sites[k].fn(0, 0), NBLOG_OK);
            assert_int_equal(nblog_reader_next(&r2, &rec, buf, sizeof buf), NBLOG_OK);
            assert_int_equal(rec.line, *sites[k].line);
            assert_string_equal(rec.func, sites[k].func);
        }
        nblog_shutdown();
        if (v.bad)
            break;
    }
    print_message("  %d rounds x %d threads x %u records + %llu from handlers (%llu signals "
                  "sent): %llu records, %llu without a location (BUSY), %llu streams' "
                  "sites got it after going without\n",
                  rounds, T, n, (unsigned long long)handled, (unsigned long long)sent,
                  (unsigned long long)v.records, (unsigned long long)v.none,
                  (unsigned long long)v.located_after_none);
    if (v.bad)
        print_error("%u bad records, first: %s\n", v.bad, v.first_bad);
    assert_int_equal(v.bad, 0);
    assert_int_equal(v.records, (uint64_t)rounds * T * n + handled);
    assert_int_equal(atomic_load(&handler_total), handled);
    signal(SIGUSR1, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_first_uses_race, tu_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * watch.c - the stall watch: a thread that reports consoles stalled and
 * recovered, and reaps (layer: consoles; shared state in console_impl.h).
 * Its reports are records, stored through the report function the
 * lifecycle handed down (console.h nblog__console_report).
 *
 * MEMORY ORDERING (tags: console_impl.h): N2, the acquire load of
 * next_seq; the rest is relaxed: last_progress_ns and the suspended flag
 * nblog__stalled_for reads are statistics, and the lag they give is a
 * report only (a stale one delays it by a pass). watch_started: its
 * exchange (seq_cst) elects the one thread that starts the watch; nothing
 * is published with it. The test hooks' loads of state: a snapshot.
 */

#include <pthread.h>
#include <stdatomic.h>

#include "console_impl.h"
#include "modules.h"
#include "nblog.h"

/* ---------------------------------------------------------- stall watch */

/* The watch thread and tests both run passes; stall_reported is theirs. */
pthread_mutex_t nblog__watch_lock = PTHREAD_MUTEX_INITIALIZER;

static void watch_once(void)
{
    /* The ring is loaded under the lock: nblog__consoles_quiesce() then
     * guarantees no pass still uses a ring that shutdown dropped. */
    pthread_mutex_lock(&nblog__watch_lock);
    const struct nblog__ring_hdr *r = ring_now();
    if (!r) {
        pthread_mutex_unlock(&nblog__watch_lock);
        return;
    }
    uint64_t now = clock_now(), head = nblog__ring_head(r);
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &nblog__console_pool[i];
        if (!get(c))
            continue;
        /* N2, acquire: pairs with N1 (nblog__publish). */
        uint64_t next = atomic_load_explicit(&c->next_seq, memory_order_acquire);
        uint64_t lag = head > next ? head - next : 0;
        if (lag == 0) /* idle is not stalled */
            atomic_store_explicit(&c->last_progress_ns, now, memory_order_relaxed);
        uint64_t stalled = nblog__stalled_for(c, lag, now);
        if (stalled && !c->stall_reported) {
            c->stall_reported = 1;
            nblog__console_report(NBLOG_LEVEL_WARNING,
                                  "console \"%s\" stalled for %llu.%llu s, %llu records behind",
                                  c->name, (unsigned long long)(stalled / 1000000000u),
                                  (unsigned long long)(stalled / 100000000u % 10),
                                  (unsigned long long)lag);
        } else if (!stalled && c->stall_reported) {
            c->stall_reported = 0;
            nblog__console_report(NBLOG_LEVEL_NOTICE, "console \"%s\" recovered", c->name);
        }
        put(c);
    }
    pthread_mutex_unlock(&nblog__watch_lock);
}

static void *watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        nblog__sleep_ns(100000000);
        watch_once();
        nblog__reap(); /* this thread may block: the reaper (see WHO TEARS DOWN) */
        nblog__modules_refresh(); /* modules loaded since: the crash report's table */
    }
    return NULL;
}

#ifdef NBLOG_TEST_HOOKS
void nblog__console_watch_once(void)
{
    watch_once();
    nblog__reap();
}

void nblog__console_slots(int *free_slots, int *active)
{
    *free_slots = *active = 0;
    for (int i = 0; i < MAX_CONSOLES; i++) {
        /* Relaxed: a snapshot for tests. */
        int st = atomic_load_explicit(&nblog__console_pool[i].state, memory_order_relaxed);
        *free_slots += st == FREE;
        *active += st == ACTIVE;
    }
}
#endif

_Atomic int nblog__watch_started;

void nblog__start_watch(void)
{
    if (atomic_exchange_explicit(&nblog__watch_started, 1, memory_order_seq_cst))
        return;
    pthread_t t;
    if (nblog__start_thread(&t, watch_main, NULL) != 0)
        atomic_store_explicit(&nblog__watch_started, 0, memory_order_seq_cst);
}

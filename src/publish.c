/*
 * publish.c - the file ring's stats publisher: console stats into the
 * ring file's table, follower wake-ups. Layer: above the console registry
 * (it reads every console's stats: nblog__consoles_foreach,
 * nblog_console_stats) and beside the lifecycle that starts and stops it
 * (lifecycle.c); below it, the table's layout (stats.h) and the store (ring.h).
 * The store and the ring file (ringfile.c) know nothing of it.
 *
 * WHAT AND WHY
 *
 * A file ring gets one extra thread. Every 100 ms it
 *   - copies each console's stats (nblog_console_stats, and for a network
 *     console nblog__net_stats: its kind, connection and counters) into the table in
 *     the file (stats.h, struct nblog__stats_entry), entry i for the i-th
 *     registered console, as a seqlock: gen odd while writing;
 *   - if head moved since its last pass, increments the header's
 *     follow_word and FUTEX_WAKEs (shared, not PRIVATE: the waiters are
 *     other processes) every follower sleeping on it.
 * Logging calls never touch either, so they stay free of system calls; a
 * follower learns of new records within 100 ms (ringview.c).
 *
 * MEMORY ORDERING
 *   P1 publisher: gen = odd (relaxed), release fence, stores (relaxed),
 *      gen = even (release).
 *   V1 reader (ringview.c): gen (acquire), loads (relaxed), acquire fence,
 *      gen again (relaxed): the seqlock of ring.c's slots, in miniature.
 *   P2 publisher: follow_word += 1 (release), after loading head.
 *   V2 follower: follow_word (acquire), then head: pairs with P2, so a
 *      follower that sees the increment sees at least the head that caused
 *      it; one that does not sees the word unchanged and FUTEX_WAIT returns
 *      at once when the publisher has bumped it meanwhile.
 *   S1 nblog__publisher_stop: stop = 1 (release), then FUTEX_WAKE
 *   S2 publisher_main: stop (acquire), each pass
 *   S1 -> S2: the value only (the join orders the rest); the start's
 *      store of 0 is relaxed: the thread is created after it.
 *   Relaxed, with nothing to pair: the publisher's own loads of gen and of
 *   an entry's IN_USE (it is the only writer of the table), and
 *   stats_published_ns (a timestamp read on its own). The console stats
 *   it copies are read with the consoles' ordering (console_impl.h N2), the
 *   net stats relaxed (consoles/net.c: counts and states read on their own).
 */
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "consoles/net.h"
#include "nblog.h"
#include "platform.h"
#include "publish.h"
#include "ring.h"
#include "stats.h"

#define PUBLISH_EVERY_NS 100000000L

static struct {
    pthread_t thread;
    int running;               /* start/stop (init and shutdown) only */
    _Atomic uint32_t stop;     /* futex word: 1 asks the thread to end */
    struct nblog__ring_hdr *ring;
    uint64_t woken_head;       /* publisher thread only */
} pub;

/* P1: one entry under its seqlock. */
static void put_entry(struct nblog__stats_entry *e, const uint64_t name[],
                      const uint64_t v[])
{
    /* Relaxed: only this thread writes gen; the fence orders it first. */
    uint64_t gen = atomic_load_explicit(&e->gen, memory_order_relaxed);
    /* Odd only if a writer died mid-update before this file was resumed;
     * gen | 1 then + 1 gives an even, newer value either way. */
    atomic_store_explicit(&e->gen, gen | 1, memory_order_relaxed);
    /* Release fence: pairs with the reader's acquire fence (V1); a reader
     * that saw any store below sees gen odd or changed on its re-check. */
    atomic_thread_fence(memory_order_release);
    /* Relaxed: ordered by the fence above and the release store below. */
    for (int i = 0; i < NBLOG__STAT_NAME_WORDS; i++)
        __atomic_store_n(&e->name[i], name[i], __ATOMIC_RELAXED);
    for (int i = 0; i < NBLOG__STAT_COUNT; i++)
        __atomic_store_n(&e->v[i], v[i], __ATOMIC_RELAXED);
    /* Release: pairs with the reader's acquire load of gen (V1). */
    atomic_store_explicit(&e->gen, (gen | 1) + 1, memory_order_release);
}

struct publish_pass {
    struct nblog__ring_hdr *ring;
    uint64_t head;
    unsigned used; /* entries written this pass */
};

static void publish_console(struct nblog_console *con, void *arg)
{
    struct publish_pass *p = arg;
    nblog_console_stats_t st;
    if (p->used >= NBLOG__STATS_SLOTS || nblog_console_stats(con, &st) != NBLOG_OK)
        return;
    /* A network console's own stats; the rest stay 0 (and flags 0) for
     * the others, for which nblog__net_stats says NBLOG_EINVAL. */
    nblog_net_stats_t ns = {0};
    unsigned flags = 0;
    int net_error = 0;
    if (nblog__net_stats(con, &ns, &flags, &net_error) != NBLOG_OK)
        flags = 0, net_error = 0;
    uint64_t name[NBLOG__STAT_NAME_WORDS] = {0};
    memcpy(name, st.name, sizeof name < sizeof st.name ? sizeof name : sizeof st.name);
    ((char *)name)[sizeof name - 1] = '\0';
    uint64_t v[NBLOG__STAT_COUNT] = {
        [NBLOG__STAT_IN_USE] = 1,
        [NBLOG__STAT_START_SEQ] = st.start_seq,
        [NBLOG__STAT_NEXT_SEQ] = st.next_seq,
        [NBLOG__STAT_PRINTED] = st.printed,
        [NBLOG__STAT_FILTERED] = st.filtered,
        [NBLOG__STAT_DROPPED] = st.dropped,
        [NBLOG__STAT_WRITE_FAILED] = st.write_failed,
        [NBLOG__STAT_STALLED_NS] = st.stalled_ns,
        [NBLOG__STAT_LAST_ERROR] = (uint64_t)(int64_t)st.last_error,
        [NBLOG__STAT_SUSPENDED] = (uint64_t)st.suspended,
        [NBLOG__STAT_HEAD] = p->head,
        [NBLOG__STAT_FLAGS] = flags,
        [NBLOG__STAT_CONNECTED] = (uint64_t)(ns.connected != 0),
        [NBLOG__STAT_CONNECTS] = ns.connects,
        [NBLOG__STAT_DISCONNECTS] = ns.disconnects,
        [NBLOG__STAT_CONNECT_FAILURES] = ns.connect_failures,
        [NBLOG__STAT_RESENT_FRAMES] = ns.resent_frames,
        [NBLOG__STAT_TRUNCATED] = ns.truncated,
        [NBLOG__STAT_NET_ERROR] = (uint64_t)(int64_t)net_error,
    };
    put_entry(&nblog__ring_stats(p->ring)[p->used++], name, v);
}

/* Entries past the consoles that exist now: marked unused (once). */
static void clear_unused(struct nblog__ring_hdr *r, unsigned from)
{
    static const uint64_t zero_name[NBLOG__STAT_NAME_WORDS];
    static const uint64_t zero_v[NBLOG__STAT_COUNT];
    for (unsigned i = from; i < NBLOG__STATS_SLOTS; i++) {
        struct nblog__stats_entry *e = &nblog__ring_stats(r)[i];
        /* Relaxed: only this thread writes entries. */
        if (__atomic_load_n(&e->v[NBLOG__STAT_IN_USE], __ATOMIC_RELAXED))
            put_entry(e, zero_name, zero_v);
    }
}

/* P2: wake followers if there is something new for them. */
static void wake_followers(struct nblog__ring_hdr *r, uint64_t head)
{
    if (head == pub.woken_head)
        return;
    pub.woken_head = head;
    /* Release: pairs with the follower's acquire load (V2). */
    atomic_fetch_add_explicit(&r->follow_word, 1, memory_order_release);
    nblog__futex_wake_shared(&r->follow_word, INT_MAX);
}

void nblog__publish_once(struct nblog__ring_hdr *r)
{
    struct publish_pass p = {.ring = r, .head = nblog__ring_head(r)};
    nblog__consoles_foreach(publish_console, &p);
    clear_unused(r, p.used);
    /* Relaxed: a timestamp for `nblog status`, read on its own. */
    atomic_store_explicit(&r->stats_published_ns, nblog__clock_ns(CLOCK_MONOTONIC),
                          memory_order_relaxed);
    wake_followers(r, p.head);
}

static void *publisher_main(void *arg)
{
    struct nblog__ring_hdr *r = arg;
    /* S2, acquire: pairs with S1, the release store in nblog__publisher_stop. */
    while (!atomic_load_explicit(&pub.stop, memory_order_acquire)) {
        nblog__publish_once(r);
        nblog__futex_wait(&pub.stop, 0, PUBLISH_EVERY_NS);
    }
    return NULL;
}

/* In a forked child the thread is gone; the parent still publishes. */
void nblog__publisher_fork_child(void)
{
    pub.running = 0;
}

int nblog__publisher_start(struct nblog__ring_hdr *r)
{
    assert(!pub.running);
    pub.ring = r;
    pub.woken_head = UINT64_MAX;
    /* Relaxed: the thread is created after, which orders it. */
    atomic_store_explicit(&pub.stop, 0, memory_order_relaxed);
    nblog__publish_once(r);
    /* Takes none of the program's signals (platform.h). */
    if (nblog__thread_create(&pub.thread, 0, publisher_main, r) != 0)
        return NBLOG_ENOMEM;
    pub.running = 1;
    return NBLOG_OK;
}

void nblog__publisher_stop(void)
{
    /* Shutdown and the exit handler (lifecycle.c) may both stop it, on two
     * threads at once: one joins, the other finds it stopped. */
    static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&stop_lock);
    if (pub.running) {
        /* S1, release: pairs with S2, publisher_main's acquire load. */
        atomic_store_explicit(&pub.stop, 1, memory_order_release);
        nblog__futex_wake(&pub.stop, 1);
        pthread_join(pub.thread, NULL);
        pub.running = 0;
        nblog__publish_once(pub.ring);
    }
    pthread_mutex_unlock(&stop_lock);
}

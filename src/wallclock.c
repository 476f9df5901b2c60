/*
 * wallclock.c - the wall-clock thread: a record's wall time stays right
 * after the system clock is stepped.
 *
 * DESIGN
 *
 * A record carries ts_ns, CLOCK_MONOTONIC-scale nanoseconds read from the
 * TSC (platform.c: no system call), and the gen of the ring's wall-clock
 * epoch current when it was stored (ring.h struct nblog__wall_epoch). Its
 * wall time is ts_ns + that epoch's offset_ns. The offset CLOCK_REALTIME -
 * ts_ns changes in two ways, and this thread starts a new epoch for each:
 *
 *   1. The clock is set: date -s, settimeofday, an NTP step, a leap second
 *      inserted by the kernel. The kernel tells every timerfd armed with
 *      TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET: its read fails with
 *      ECANCELED. The thread polls one such timer (armed a year ahead, so
 *      it never expires in practice), and on ECANCELED publishes the new
 *      offset at once, whatever its size.
 *   2. Drift: ts_ns comes from a TSC calibrated once over 5 ms (~1e-5
 *      relative error, tens of microseconds a second at worst), and NTP
 *      slews CLOCK_REALTIME without telling anyone. Every
 *      NBLOG__WALL_CHECK_MS (5 s) the thread looks at the offset and starts
 *      an epoch when it moved by more than NBLOG__WALL_DRIFT_NS (200 us):
 *      well below what a person reading times to the millisecond sees,
 *      and rare enough (at 1e-5, one epoch in 20 s; on a machine whose TSC
 *      and NTP agree, none) that the NBLOG__EPOCHS (32) epochs the ring
 *      keeps reach back several minutes at the very least, and usually the
 *      whole run. The 5 s check also catches a setting the timer missed
 *      (one between a read and the next arming), if it was larger.
 *
 * Limits (nblog.h says them to users): a record stored between the step
 * and the thread's notice (normally microseconds: one wake-up) carries the
 * old epoch, so its time is off by the step; drift makes times off by up
 * to NBLOG__WALL_DRIFT_NS between checks; a record whose epoch was
 * recycled (NBLOG__EPOCHS newer ones since) takes the oldest one still
 * kept (ring.c epoch_offset), so across a step that has been recycled
 * too it is off by that step. Without this thread (it could not start,
 * or a forked child, see Fork) the epoch in force stays, as before: right
 * until the clock is set.
 *
 * Threads: one per process, started by nblog_init (lifecycle.c map_ring)
 * for the process's ring and stopped by nblog_shutdown. Publishing is serialised
 * by wc.lock (the thread and tests call nblog__wallclock_notice); loggers
 * never take it: they load the ring's current gen, one relaxed load
 * (ring.h nblog__ring_epoch). The stop request is an eventfd in the same
 * poll, so shutdown does not wait out the 5 s.
 *
 * Fork: the child has no thread, and its copies of the timer and eventfd
 * are the parent's open files (a read of the shared timerfd would take the
 * parent's notice). Its fork hook (nblog__wallclock_fork_child, called by
 * lifecycle.c's one fork registration) closes them, forgets the ring (in a
 * ring-file writer's child it is the parent's file: the child must never
 * publish there) and asks for a restart, which console.c's
 * nblog__consoles_restart_if_forked makes when it restarts printers (the
 * child's first logging call, registration or flush), for the child's
 * ring, with new descriptors; at no cost to logging calls, which load the
 * console's flag anyway. A child of a process that never registered a
 * console (console.c's fork hook acts once one was registered) goes on
 * without the thread until its own nblog_init.
 *
 * Memory ordering (tags as in ring.c):
 *   C1  nblog__wallclock_stop: store wc.stop = 1 (release), then the
 *       eventfd write
 *   C2  wall_main: load wc.stop (acquire), before and after each poll
 *   C1 -> C2: the value only (the join orders the rest); start's store
 *       of 0 is relaxed: the thread is created after it.
 *   wc.restart is relaxed: a flag that guards only itself (an exchange
 *   elects the one restarter; the child's store is made with one
 *   thread). The rest of wc is used under wc.lock or by start/stop
 *   (init and shutdown, one at a time). The epochs themselves: ring.c,
 *   E1/E2.
 */
#include "wallclock.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"
#include "platform.h"

#define ARM_AHEAD_S (365 * 24 * 3600) /* the timer's expiry, a year ahead */

static struct {
    pthread_mutex_t lock;        /* serialises publishing (ring, notice) */
    struct nblog__ring_hdr *ring; /* where epochs go; NULL: not running */
    pthread_t thread;
    int running;                 /* start/stop and the fork handler only */
    int tfd, efd;                /* timer, stop request */
    _Atomic int stop;
    _Atomic int restart;         /* forked: the parent had a thread */
} wc = {.lock = PTHREAD_MUTEX_INITIALIZER, .tfd = -1, .efd = -1};

int nblog__wallclock_notice(int set)
{
    pthread_mutex_lock(&wc.lock);
    struct nblog__ring_hdr *r = wc.ring;
    int rc = -1;
    if (r) {
        uint64_t at;
        int64_t off = nblog__wall_offset_ns(&at);
        int64_t cur = nblog__ring_epoch_offset(r);
        /* Unsigned difference: two int64 offsets may be far apart. */
        uint64_t moved = off > cur ? (uint64_t)off - (uint64_t)cur
                                   : (uint64_t)cur - (uint64_t)off;
        rc = set || moved > NBLOG__WALL_DRIFT_NS;
        if (rc)
            nblog__ring_epoch_publish(r, off, at);
    }
    pthread_mutex_unlock(&wc.lock);
    return rc;
}

/* Arms tfd to be cancelled when the clock is set; 0 or -1 (errno). */
static int arm(int tfd)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec its = {.it_value = {now.tv_sec + ARM_AHEAD_S, 0}};
    return timerfd_settime(tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its,
                           NULL);
}

static void *wall_main(void *arg)
{
    (void)arg;
    struct pollfd p[2] = {{.fd = wc.efd, .events = POLLIN},
                          {.fd = wc.tfd, .events = POLLIN}};
    /* C2, acquire: pairs with C1, nblog__wallclock_stop's release store. */
    while (!atomic_load_explicit(&wc.stop, memory_order_acquire)) {
        /* A timer that cannot be armed (never seen) leaves the 5 s checks. */
        int armed = arm(wc.tfd) == 0;
        int n = poll(p, armed ? 2 : 1, NBLOG__WALL_CHECK_MS);
        if (atomic_load_explicit(&wc.stop, memory_order_acquire)) /* C2 */
            break;
        int set = 0;
        if (n > 0 && armed && (p[1].revents & POLLIN)) {
            uint64_t ticks;
            set = read(wc.tfd, &ticks, sizeof ticks) < 0 && errno == ECANCELED;
        }
        nblog__wallclock_notice(set);
    }
    return NULL;
}

static void close_fds(void)
{
    if (wc.tfd >= 0)
        close(wc.tfd);
    if (wc.efd >= 0)
        close(wc.efd);
    wc.tfd = wc.efd = -1;
}

/* In the child: only the forking thread exists (see DESIGN, Fork). */
void nblog__wallclock_fork_child(void)
{
    pthread_mutex_init(&wc.lock, NULL); /* its holder may have been the thread */
    /* Relaxed: the child has one thread. */
    atomic_store_explicit(&wc.restart, wc.running, memory_order_relaxed);
    wc.running = 0;
    wc.ring = NULL;
    close_fds();
}

int nblog__wallclock_start(struct nblog__ring_hdr *r)
{
    nblog__wallclock_stop();
    /* Relaxed: the flag guards only itself. */
    atomic_store_explicit(&wc.restart, 0, memory_order_relaxed);
    wc.tfd = nblog__fd_mine(timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK));
    wc.efd = nblog__fd_mine(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    /* Relaxed: the thread is created after, which orders it. */
    atomic_store_explicit(&wc.stop, 0, memory_order_relaxed);
    pthread_mutex_lock(&wc.lock);
    wc.ring = r;
    pthread_mutex_unlock(&wc.lock);
    /* The thread takes none of the program's signals, faults excepted
     * (platform.h, nblog__thread_create). */
    int made = wc.tfd >= 0 && wc.efd >= 0 &&
               nblog__thread_create(&wc.thread, 0, wall_main, NULL) == 0;
    if (!made) {
        pthread_mutex_lock(&wc.lock);
        wc.ring = NULL;
        pthread_mutex_unlock(&wc.lock);
        close_fds();
        return NBLOG_ENOMEM;
    }
    wc.running = 1;
    return NBLOG_OK;
}

void nblog__wallclock_stop(void)
{
    if (!wc.running)
        return;
    /* C1, release: pairs with C2, wall_main's acquire loads. */
    atomic_store_explicit(&wc.stop, 1, memory_order_release);
    uint64_t one = 1;
    while (write(wc.efd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    pthread_join(wc.thread, NULL);
    wc.running = 0;
    pthread_mutex_lock(&wc.lock);
    wc.ring = NULL;
    pthread_mutex_unlock(&wc.lock);
    close_fds();
}

void nblog__wallclock_restart_if_forked(struct nblog__ring_hdr *r)
{
    /* Relaxed first look, then an exchange: one caller restarts. The flag
     * guards only itself. */
    if (!r || !atomic_load_explicit(&wc.restart, memory_order_relaxed) ||
        !atomic_exchange_explicit(&wc.restart, 0, memory_order_relaxed))
        return;
    nblog__wallclock_start(r);
}

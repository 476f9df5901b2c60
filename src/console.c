/*
 * console.c - consoles: outputs that read the store, each on its own.
 *
 * A console is an output (ops: write, optional write_atomic, setup,
 * teardown) plus its own state: an ownership word, a read position
 * (next_seq), a level filter, counters, a suspended flag, a last-progress
 * time and a printer thread. Nothing here is shared between consoles but
 * the store they read, so a console whose write blocks stops only itself:
 * that is the whole point (the seed's console_sem -> bo_mutex chain).
 *
 * LIFECYCLE
 *
 *     FREE --register--> SETUP --> ACTIVE --unregister--> DETACHED
 *       ^                           |  ^                     | users == 0, and a
 *       |               suspend     |  | resume              | thread that may block
 *       |                           v  |                     | (printer, reaper,
 *       |                         (suspended)                | unregister) sees it
 *       +------------------ teardown done ---------- DYING <-+
 *
 *   state     what it guarantees                              who moves it
 *   FREE      slot unused; users == 0 but for a get() that    teardown_slot()
 *             saw the slot ACTIVE before it was recycled and
 *             is about to find it not ACTIVE and put back
 *             (register ignores such references: see HANDLES)
 *   SETUP     being filled in; nobody else looks at it        register (list lock)
 *   ACTIVE    printed to; printer thread running; handles     register
 *             of this generation work
 *   DETACHED  no new users; handles of it get NBLOG_ESTALE;   unregister (list lock)
 *             no write starts (the one in progress completes);
 *             nothing more is counted; torn down once users
 *             reaches 0, by a thread that may block
 *   DYING     one thread is running teardown                  put_blocking() / reap()
 *   suspended (a flag on ACTIVE): no write starts (the one in progress
 *             completes); what it did not print stays pending (a
 *             half-written batch too); resume catches up.
 *
 * Consoles live in a static pool and are never returned to the allocator,
 * so a pointer loaded from the pool is always safe to touch. Lifetime is a
 * reference count (users): the registration holds one, the printer thread
 * one, and every direct/emergency/flush/stats/handle user takes one for as
 * long as it looks at the console (get(): check ACTIVE, increment, check
 * ACTIVE again).
 * Unregister therefore never waits for a stuck console: it marks DETACHED,
 * drops the registration's reference and returns; the stuck printer drops
 * its reference whenever its write returns.
 *
 * WHO TEARS DOWN. Teardown (the output's callback, free of the batch) may
 * block and is not async-signal-safe, so it never runs where the last
 * reference may be dropped by a logging caller or a signal handler: put()
 * is a bare decrement, [signal-safe]. Only threads that may block call
 * put_blocking(), which tears down if it dropped the last reference of a
 * DETACHED console: the printer thread, unregister, register. A console
 * left DETACHED with users == 0 by a put() is the reaper's: reap() runs
 * after every stall-watch pass (100 ms), at register (before picking a
 * slot) and at shutdown. put_blocking() and reap() elect the one teardown
 * by the CAS DETACHED -> DYING.
 *
 * HANDLES. nblog_console_t * is not a pointer to the console: it encodes
 * the slot's index and its generation (gen, bumped at every register),
 *
 *     handle = gen << SLOT_BITS | index        gen >= 1, so never NULL
 *
 * and is decoded and checked under a reference (handle_get): the slot must
 * be ACTIVE and carry that generation. A handle of an unregistered console
 * gets NBLOG_ESTALE, even once its slot serves another console; NULL, an
 * index past the pool or a generation the slot never had gets
 * NBLOG_EINVAL. Generations wrap after 2^27 (32-bit) or 2^59
 * registrations of one slot.
 * Ordering: get()'s increment of users and its second load of state,
 * unregister's CAS to DETACHED, and reap's check of users and its CAS to
 * DYING are all seq_cst (the store-buffering pair): either the getter
 * sees the slot leave ACTIVE, or the recycler sees users > 0 and leaves
 * the slot alone. (put_blocking's decrement to 0 is acq_rel: a getter
 * whose increment read from it would be ordered after the CAS to DETACHED
 * and could not see ACTIVE.) So a getter that saw ACTIVE holds the
 * incarnation whose gen it reads next (gen is written in SETUP, before
 * register's release store of ACTIVE).
 * TRANSIENT REFERENCES. A reference taken only to find the slot unusable
 * must not make another operation fail or wait. get() therefore loads
 * state (and handle_get the generation) before it increments, so it
 * never raises users of a slot it sees FREE, SETUP, DETACHED or DYING, or
 * of a later registration than its handle's; and register does not look
 * at users at all: it takes any FREE slot (CAS FREE -> SETUP). What may
 * still be counted there is a get() that loaded ACTIVE of an earlier
 * incarnation and was delayed until after the recycling: it reads nothing
 * but state, finds SETUP (backs off) or ACTIVE (then it holds the new
 * incarnation, validly, by the ordering above), and the count stays exact
 * because every change to users is an atomic add. Such a late get() on a
 * DETACHED slot can still hold it for the few instructions until it puts
 * back: put_blocking() then leaves the teardown to reap(), and a register
 * that reaps in exactly that window, with no other slot free, gets
 * NBLOG_ENOMEM (it needs a thread preempted between two loads for the
 * whole of an unregister).
 *
 * The list lock (list_lock) is taken by register and unregister only, to
 * pick and release slots. No printing path takes it. Init needs it (to
 * register the consoles at init), so a thread holding it never waits for
 * another thread's init (lock_list: nblog__init_wait_off; a setup callback
 * or a signal handler that logs gets NBLOG_ENOTREADY before READY rather
 * than stall the init for its second), and a registration from another
 * thread waits for READY before it takes the lock (nblog__init_wait).
 *
 * OWNERSHIP (the nbcon idea, in user space)
 *
 * Printing to a console means owning its ownership word:
 *
 *     owner = tid << 2 | prio          0 when free
 *     prio  = NORMAL 1 (printer, direct caller)
 *             EMERGENCY 2 (a caller pushing an emergency record)
 *             PANIC 3 (the panic flush)
 *
 *   Acquire (any context, never blocks):
 *     1. load owner; if it is 0, CAS it to (my tid, prio) and own it.
 *     2. if it is not 0 and prio < PANIC: give up (the owner prints what is
 *        pending, in order, including my record).
 *     3. prio == PANIC: CAS it to (my tid, PANIC) whatever it holds: the
 *        hostile takeover. The old owner learns it at its next check.
 *   While owning: before each record, re-load owner (acquire) and stop if it
 *     is no longer my word (a panic took over): write nothing more, advance
 *     nothing more.
 *   Release: CAS my word back to 0 (fails harmlessly after a takeover).
 *
 * Everything below "owner only" in struct nblog_console (next_seq and the
 * batch) is written only by the owner; the counters are atomics so stats
 * can read them from anywhere.
 *
 * PANIC FLUSH (nblog__consoles_panic_flush, driven by panic.c)
 *
 * The panic takes the word with an exchange, whatever holds it, and prints
 * from next_seq with buffers of its own: it never writes to the batch of
 * an owner it displaced, which may still be inside write() with it (it
 * only reads the rest of a line that owner cut, see below). What was
 * in flight is known from inflight_end, stored (seq_cst) by an owner just
 * before it writes a batch: records in [next_seq, inflight_end) may be out,
 * whole or in part, so the panic prints them again flagged
 * NBLOG_F_REPLAYED. (seq_cst on both sides: either the owner's check of
 * the word before writing sees the panic, or the panic sees inflight_end.)
 * A displaced owner finds out at its next check and stops; on release it
 * drops its stale batch, repairs next_seq if it published over the
 * panic's, and takes back its count in `displaced`, which until then
 * keeps every other would-be owner out (the batch is still the displaced
 * owner's). It is a count, not a flag, because the owner may find the
 * word gone before the panic has counted it (the panic exchanges the
 * word, then adds). A panic that returns lets the word go; a dying one
 * keeps it.
 *
 * Whole lines and marked repeats, whoever writes next:
 *   - Every write call says how the output ends (out_cut): at a line's
 *     end; in the middle of one; or in the middle of one whose rest is in
 *     the batch of the owner that wrote it. A writer that starts a batch
 *     while the output ends mid-line starts with a newline.
 *   - An owner marks its calls (in_call, see owner_call). A panic that
 *     takes the console from an owner inside a call waits for that call
 *     to return (boundedly, like wait_for_publisher) so no byte of the old
 *     owner lands after the panic's, then writes the rest of the line that
 *     owner cut (those bytes stay as they are while the panic holds the
 *     word: the owner only resets the batch's lengths when it lets go,
 *     and nobody else may fill it); if the call does not
 *     return (a printer blocked in write) it assumes a cut line.
 *   - A panic that finds the console free with a batch its last owner left
 *     half written (write_atomic stopped at EAGAIN after a short count)
 *     writes the rest of that batch first: the cut line is completed, not
 *     repeated.
 *   - A panic whose own write stops (deadline) leaves replay_end for the
 *     next owner, printer or direct caller alike: records below it may be
 *     out already and are marked replayed. So a record printed twice
 *     always has its later copy marked. If it stopped mid-line, the rest
 *     of that line is left as the console's pending batch (unless a
 *     displaced owner holds the batch: then the next writer starts a new
 *     line).
 *
 * HOW PRINTERS LEARN OF NEW RECORDS (no system call in the common case)
 *
 * A printer with nothing to do sets sleep_flag to 1 (seq_cst), re-checks
 * the store's head (seq_cst) and only then futex-waits on sleep_flag, for a
 * nap that starts at 1 ms and doubles to 50 ms while it stays idle. A
 * logging call never enters the kernel for an ordinary record: only a
 * record whose seq is a watermark (every records/4, 64..65536) or an
 * emergency record loads sleep_flag (seq_cst) and, if it is set, exchanges
 * it to 0 and calls futex_wake. So a printer sees new records within its
 * nap (at most 50 ms after a long idle; nblog_flush and emergency records
 * wake it at once), a burst wakes it before it can lap it, and at most one
 * logging call in wake_every pays a system call.
 * Store-buffering pair: the writer's fetch_add on head (seq_cst) precedes
 * its load of sleep_flag; the printer's store of sleep_flag precedes its
 * load of head; so at a watermark either the printer sees the new head and
 * does not sleep, or the writer sees the flag and wakes it.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "format.h"
#include "log.h"
#include "nblog.h"
#include "platform.h"
#include "ring.h"
#include "wallclock.h"

#define MAX_CONSOLES 32
#define SLOT_BITS 5 /* handles: index in the low bits (see HANDLES) */
#define SLOT_MASK (((uintptr_t)1 << SLOT_BITS) - 1)
#define GEN_MAX (UINTPTR_MAX >> SLOT_BITS)
_Static_assert(MAX_CONSOLES <= (1 << SLOT_BITS), "handles cannot name every slot");
#define BATCH_BYTES 65536   /* one write() of many records */
#define BATCH_RECORDS 1024  /* records a printer handles per ownership */
#define DIRECT_RECORDS 64   /* records one logging caller prints at most */
#define IDLE_SLEEP_MIN_US 1000   /* an idle printer's first nap */
#define IDLE_SLEEP_MAX_US 50000  /* ... doubling up to this */
/* Room for any line of any format (json's worst: nblog.h NBLOG_LINE_MAX,
 * which render.c and render_json.c assert their worst cases against). */
#define LINE_MAX_BYTES NBLOG_LINE_MAX
_Static_assert(LINE_MAX_BYTES <= BATCH_BYTES, "a batch must hold the longest line");
/* After the batch, in the same allocation: fill_batch's record payload and
 * rendered text, owner-only scratch kept off the stack of a logging caller
 * (which may be a signal handler on a small alternate stack). */
#define SCRATCH_BYTES (NBLOG__RECORD_SIZE_MAX + NBLOG__RECORD_SIZE_MAX + 1)

enum { FREE, SETUP, ACTIVE, DETACHED, DYING };
enum { OUT_WHOLE, OUT_CUT, OUT_CUT_AT }; /* out_cut */
enum { PRIO_NONE, PRIO_NORMAL, PRIO_EMERGENCY, PRIO_PANIC };

struct nblog_console {
    _Atomic int state;
    _Atomic int users;
    /* Generation of the registration using the slot (see HANDLES): written
     * in SETUP (list lock), published by the release store of ACTIVE. */
    _Atomic uintptr_t gen;
    char name[32];
    nblog_console_ops_t ops;
    void *ctx;
    int format, mode;
    const struct nblog__syslog_params *params; /* syslog/journal formats */
    struct nblog__line_fmt lf; /* the format, compiled (human, pattern) */
    unsigned stall_ms;
    _Atomic int level;
    _Atomic int suspended;
    _Atomic uint32_t owner;

    /* Counters: atomics, added to by the owner, read by anyone. */
    _Atomic uint64_t printed, filtered, dropped, write_failed;
    _Atomic uint64_t next_seq; /* owner only writes; anyone reads */
    _Atomic uint64_t last_progress_ns;
    _Atomic int last_error;
    uint64_t start_seq;
    /* The end of the batch the owner is writing (see PANIC FLUSH): records
     * in [next_seq, inflight_end) may be out, whole or in part. */
    _Atomic uint64_t inflight_end;
    /* Non-zero while an owner a panic flush displaced may still hold the
     * batch: each hostile takeover adds 1, and the owner it displaced
     * takes 1 off when it lets go (see release()), in either order, so it
     * may be -1 for an instant. */
    _Atomic int displaced;
    _Atomic uint64_t panic_end; /* next_seq when the panic flush let go */
    /* Left by a panic flush for the owners after it (see PANIC FLUSH):
     * records below replay_end may be out already and are marked
     * replayed. Written by the panic, read by the next owner, ordered by
     * the ownership word. */
    _Atomic uint64_t replay_end;
    /* 1 while an owner is inside write/write_atomic (owner_call). */
    _Atomic int in_call;
    /* 1 in a forked child for a console that was ACTIVE at the fork: its
     * printer thread is gone but its reference is still counted, so the
     * restart (nblog__consoles_restart_if_forked) gives it a new printer
     * that takes that reference over. A console registered in the child
     * after the fork has its own printer and is never restarted. */
    _Atomic int orphaned;
    /* How the bytes the console last received end: OUT_WHOLE, OUT_CUT, or
     * OUT_CUT_AT + the offset in batch where the rest of the cut line
     * starts. Written by whoever writes (see PANIC FLUSH). */
    _Atomic size_t out_cut;
    /* 1 while an owner publishes its books (see finish_batch): a panic
     * that takes the console waits for it before reading next_seq. */
    _Atomic int publishing;
    /* The seq it stops before: UINT64_MAX but for a default console being
     * replaced (see DEFAULT CONSOLE), which prints up to the program's
     * first console's start and no further. */
    _Atomic uint64_t end_seq;

    /* Owner only: lines rendered but not yet written. */
    char *batch;
    size_t batch_len, batch_off;
    uint64_t batch_end_seq; /* next_seq once the batch is written */
    uint64_t batch_printed, batch_filtered, batch_dropped;

    int stall_reported; /* stall watch thread only */
    pthread_t thread;
};

static struct nblog_console pool[MAX_CONSOLES];
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;

/* list_lock, marked for log.c's init wait (see The list lock): on before
 * the lock is taken, off after it is let go, so a signal handler between
 * sees it too. */
static void lock_list(void)
{
    nblog__init_wait_off(1);
    pthread_mutex_lock(&list_lock);
}

static void unlock_list(void)
{
    pthread_mutex_unlock(&list_lock);
    nblog__init_wait_off(0);
}
/* list_lock: set by nblog_shutdown before it unregisters every console,
 * cleared by the next nblog_init. A registration racing with shutdown
 * either lands before (and is unregistered by it) or is refused. */
static int closed;
/* See DEFAULT CONSOLE. */
static nblog_console_t *default_con; /* list_lock */
static unsigned program_consoles;    /* list_lock; since the last init */
static __thread int init_thread;     /* this thread registers init's consoles */
static _Atomic int n_atomic_capable; /* consoles with write_atomic */
static _Atomic int n_direct;         /* consoles in direct mode */
static _Atomic uint32_t sleep_flag;  /* printers asleep: wake on commit */
static _Atomic int need_restart;     /* forked: printers are gone */
static _Atomic int printers_alive;   /* printer threads not yet exited */

/* Set by the panic path while it flushes: logging calls stop printing
 * through direct and emergency pushes (the panic prints everything). */
_Atomic int nblog__panicking;

/* Tests: while set, printer threads do not print (the other ways in
 * still do), so a test can see what a logging call printed itself. */
_Atomic int nblog__printers_paused;
_Atomic unsigned nblog__printers_pause_naps; /* naps taken while paused */

/* The clock the stall watch uses; tests replace it. */
uint64_t (*_Atomic nblog__console_clock)(void) = nblog__now_ns;

/* ------------------------------------------------------------ helpers */

static long futex(_Atomic uint32_t *word, int op, uint32_t val,
                  const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

static uint64_t clock_now(void)
{
    return atomic_load_explicit(&nblog__console_clock, memory_order_relaxed)();
}

static struct nblog__ring_hdr *ring_now(void)
{
    const void *mem;
    size_t bytes;
    nblog__ring_memory(&mem, &bytes);
    return (struct nblog__ring_hdr *)mem;
}

/* get/put: see LIFECYCLE. get() returns 1 if the console may be used.
 * [signal-safe] */
static int get(struct nblog_console *c)
{
    /* A filter only (see TRANSIENT REFERENCES): a slot seen not ACTIVE is
     * left untouched. Relaxed: the checked load below decides. */
    if (atomic_load_explicit(&c->state, memory_order_relaxed) != ACTIVE)
        return 0;
    /* Seq_cst both: the getter side of the store-buffering pair with
     * unregister and reap (see HANDLES); acquire too, pairing with
     * register's release store of ACTIVE, so a user sees the console's
     * fields filled in. */
    atomic_fetch_add_explicit(&c->users, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&c->state, memory_order_seq_cst) == ACTIVE)
        return 1;
    /* Release: pairs with the acquire load of users in reap and
     * put_blocking (an RMW: the release sequence carries it). */
    atomic_fetch_sub_explicit(&c->users, 1, memory_order_release);
    return 0;
}

/* Drops a reference and nothing else: a DETACHED console left without
 * users is the reaper's (see WHO TEARS DOWN). [signal-safe] */
static void put(struct nblog_console *c)
{
    /* Release: our uses of the console come before the teardown, which
     * reads users with acquire (put_blocking, reap). */
    int was = atomic_fetch_sub_explicit(&c->users, 1, memory_order_release);
    assert(was > 0);
    (void)was;
}

/* Runs teardown of a console we moved to DYING, then frees the slot. */
static void teardown_slot(struct nblog_console *c)
{
    assert(atomic_load_explicit(&c->state, memory_order_relaxed) == DYING);
    if (c->ops.teardown)
        c->ops.teardown(c->ctx);
    free(c->batch);
    c->batch = NULL;
    /* Release: pairs with register's acquire CAS on FREE. */
    atomic_store_explicit(&c->state, FREE, memory_order_release);
}

/* Elects the one teardown of a DETACHED console without users. */
static int claim_teardown(struct nblog_console *c)
{
    int expected = DETACHED;
    /* Seq_cst: the recycler side of the pair described at HANDLES. */
    return atomic_compare_exchange_strong_explicit(&c->state, &expected, DYING,
                                                   memory_order_seq_cst,
                                                   memory_order_relaxed);
}

/* put() for a thread that may block: if it dropped the last reference of
 * a DETACHED console, it tears it down here. [blocking] */
static void put_blocking(struct nblog_console *c)
{
    /* Acq_rel: the last user sees every other user's writes before it
     * tears down. */
    int was = atomic_fetch_sub_explicit(&c->users, 1, memory_order_acq_rel);
    assert(was > 0);
    /* Two users can each drop the count to zero (a get() that found the
     * console detached puts back); the CAS elects one. */
    if (was == 1 && claim_teardown(c))
        teardown_slot(c);
}

/* Tears down every DETACHED console left without users by put(). Any
 * thread that may block. [blocking] */
static void reap(void)
{
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &pool[i];
        /* Seq_cst loads: the recycler side of the pair at HANDLES; a get()
         * that raises users now finds DETACHED and backs off untouched. */
        if (atomic_load_explicit(&c->state, memory_order_seq_cst) == DETACHED &&
            atomic_load_explicit(&c->users, memory_order_seq_cst) == 0 &&
            claim_teardown(c))
            teardown_slot(c);
    }
}

/* The handle of a console in SETUP or ACTIVE (see HANDLES). */
static nblog_console_t *handle_of(struct nblog_console *c)
{
    uintptr_t gen = atomic_load_explicit(&c->gen, memory_order_relaxed);
    return (nblog_console_t *)(gen << SLOT_BITS | (uintptr_t)(c - pool));
}

/* Decodes a handle and takes a reference on the console it names: the
 * console, or NULL with *err = NBLOG_ESTALE (unregistered) or NBLOG_EINVAL
 * (not a handle). Undo with put(). [signal-safe] */
static struct nblog_console *handle_get(nblog_console_t *h, int *err)
{
    uintptr_t v = (uintptr_t)h, idx = v & SLOT_MASK, gen = v >> SLOT_BITS;
    *err = NBLOG_EINVAL;
    if (gen == 0 || idx >= MAX_CONSOLES)
        return NULL;
    struct nblog_console *c = &pool[idx];
    /* Relaxed: a filter, like get()'s first load (see TRANSIENT
     * REFERENCES): a handle of another generation does not raise users of
     * the slot's current console. Checked again under the reference. */
    uintptr_t now = atomic_load_explicit(&c->gen, memory_order_relaxed);
    if (now == gen && get(c)) {
        /* Relaxed: get() ordered it (see HANDLES). */
        now = atomic_load_explicit(&c->gen, memory_order_relaxed);
        if (now == gen)
            return c;
        put(c); /* the slot serves a later registration */
    } else if (now == gen) {
        now = atomic_load_explicit(&c->gen, memory_order_relaxed);
    }
    /* A generation the slot has had is stale; a later one was never
     * handed out (or wrapped, which takes 2^27 registrations at least). */
    if (gen <= now)
        *err = NBLOG_ESTALE;
    return NULL;
}

/* ---------------------------------------------------------- ownership */

static uint32_t my_word(int prio)
{
    return nblog__tid() << 2 | (uint32_t)prio;
}

static int own(struct nblog_console *c, int prio, uint32_t *word)
{
    uint32_t me = my_word(prio);
    /* Relaxed load; the CAS is acquire: pairs with release() so the new
     * owner sees the batch and next_seq the previous owner left. */
    uint32_t cur = atomic_load_explicit(&c->owner, memory_order_relaxed);
    for (;;) {
        if (cur != 0 && prio < PRIO_PANIC)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&c->owner, &cur, me,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    /* Acquire: pairs with the displaced owner's release decrement in
     * release(); until then its batch is its own, so nobody else may own. */
    if (prio < PRIO_PANIC && atomic_load_explicit(&c->displaced, memory_order_acquire)) {
        if (!atomic_compare_exchange_strong_explicit(&c->owner, &me, 0, memory_order_release,
                                                     memory_order_relaxed))
            /* A panic took it from us meanwhile and counted us displaced;
             * we touched nothing: take the count back. */
            atomic_fetch_sub_explicit(&c->displaced, 1, memory_order_release);
        return 0;
    }
    *word = me;
    return 1;
}

static int still_own(struct nblog_console *c, uint32_t word)
{
    /* Seq_cst (a plain load on x86): with write_batch's seq_cst store of
     * inflight_end and the panic's seq_cst exchange and load, either we
     * see the takeover here and write nothing more, or the panic sees our
     * inflight_end and replays the batch. Also orders like acquire: after
     * losing ownership we must not touch the books. */
    return atomic_load_explicit(&c->owner, memory_order_seq_cst) == word;
}

/* Whether a write may start: unregister and suspend take effect before
 * the next write, even in the middle of a batch (see LIFECYCLE); the
 * write in progress, if any, completes. [signal-safe] */
static int may_print(struct nblog_console *c)
{
    /* Seq_cst both: with unregister's seq_cst CAS to DETACHED and
     * suspend's seq_cst store, all in the one total order. A check that
     * comes after that store or CAS sees it; one that came before it
     * lets that one write start (the write in progress), and the check
     * before the next write sees it. A release store and acquire loads
     * would leave the flag free to become visible later still (on x86, to
     * sit in the suspending thread's store buffer after suspend returned). */
    return atomic_load_explicit(&c->state, memory_order_seq_cst) == ACTIVE &&
           !atomic_load_explicit(&c->suspended, memory_order_seq_cst);
}

static void drop_batch(struct nblog_console *c)
{
    c->batch_len = c->batch_off = 0;
    c->batch_printed = c->batch_filtered = c->batch_dropped = 0;
}

static void release(struct nblog_console *c, uint32_t word)
{
    /* Release: pairs with own()'s acquire CAS. */
    if (atomic_compare_exchange_strong_explicit(&c->owner, &word, 0,
                                                memory_order_release,
                                                memory_order_relaxed))
        return;
    /* A panic flush took the console from us (nothing else takes a word
     * that is not free). Our batch is stale (the panic printed those
     * records again), and a next_seq we published in the instant it took
     * over may be behind what it printed. */
    drop_batch(c);
    /* Acquire: pairs with the panic's release store of panic_end. */
    uint64_t end = atomic_load_explicit(&c->panic_end, memory_order_acquire);
    if (atomic_load_explicit(&c->next_seq, memory_order_relaxed) < end)
        atomic_store_explicit(&c->next_seq, end, memory_order_release);
    /* Release: pairs with own()'s and the panic's acquire loads; the
     * batch is clean. */
    atomic_fetch_sub_explicit(&c->displaced, 1, memory_order_release);
}

/* ------------------------------------------------------------ printing */

/* Appends one record's line, in console c's format, to buf (BATCH_BYTES)
 * at *used; 0 if there is no room for it. */
static int append_line(char *buf, size_t *used, const struct nblog_console *c,
                       const struct nblog__rec_meta *m, const char *text, size_t len)
{
    /* Rendered straight into the buffer: room for this line's worst case
     * (json: ten bytes a text byte) or the buffer goes out first. */
    size_t room = nblog__line_room(&c->lf, len);
    assert(room <= LINE_MAX_BYTES);
    if (*used + room > BATCH_BYTES)
        return 0;
    *used += nblog__render_fmt(buf + *used, room, &c->lf, c->params, m, text, len);
    return 1;
}

/* A line of our own (a notice) about record seq, in the console's format
 * (a kmsg line carries that seq and the current time). */
static int append_notice(char *buf, size_t *used, const struct nblog_console *c, uint64_t seq,
                         const char *text, size_t len)
{
    struct nblog__rec_meta m = {.seq = seq, .ts_ns = nblog__now_ns(),
                                .level = NBLOG_LEVEL_WARNING, .facility = 1};
    struct nblog__ring_hdr *r = ring_now();
    m.wall_ns = r ? nblog__ring_wall_ns(r, m.ts_ns, nblog__ring_epoch(r)) : 0;
    return append_line(buf, used, c, &m, text, len);
}

/* "** N messages dropped **", first being the first seq lost. */
static int append_dropped_notice(char *buf, size_t *used, const struct nblog_console *c,
                                 uint64_t first, uint64_t n)
{
    char text[64];
    size_t len = nblog__format(text, sizeof text, "** %llu messages dropped **",
                               (unsigned long long)n);
    return append_notice(buf, used, c, first, text, len);
}

/*
 * DROP NOTICES. A reader that finds a record gone learns where the ring's
 * oldest record now is (nblog__ring_after_gone) and reads on from there.
 * It must read that record at once: rendering a notice takes long enough
 * (the human format's clock and local time) for a fast writer to lap the
 * oldest records meanwhile, and a notice per failed read then filled whole
 * batches with `** N messages dropped **` and no record between them. So
 * what is lost is gathered in a gap, and its one notice goes into the
 * batch together with the first record printed after it. A fill that
 * stops inside a gap (at upto, a record not yet written, no room,
 * ownership lost) leaves the whole gap, and the records it filtered inside
 * it, to the next fill, which finds it again, grown if the ring lapped
 * further. Only into a batch with no line yet, and when nothing can
 * follow the gap or the fill's budget went on it, does its notice go
 * alone: so a notice follows another only when the ring lapped again
 * between two such batches.
 */
struct gap {
    uint64_t first;    /* seq of the first record lost */
    uint64_t dropped;  /* records lost from first on (0: no gap) */
    uint64_t filtered; /* records filtered inside the gap */
};

/* Records [seq, to) are gone. */
static void gap_grow(struct gap *g, uint64_t seq, uint64_t to)
{
    assert(to > seq);
    if (g->dropped == 0)
        *g = (struct gap){.first = seq};
    g->dropped += to - seq;
}

/* A record below the level, at or after the gap's start. */
static void gap_filter(struct gap *g, uint64_t *filtered)
{
    if (g->dropped)
        g->filtered++;
    else
        (*filtered)++;
}

/* Appends the gap's notice (if any) and then the line, both or neither;
 * 0 if they do not fit. The gap's counts move to the books. */
static int append_after_gap(char *buf, size_t *used, const struct nblog_console *c,
                            struct gap *g, uint64_t *dropped, uint64_t *filtered,
                            const struct nblog__rec_meta *m, const char *text, size_t len)
{
    size_t at = *used;
    if (g->dropped && !append_dropped_notice(buf, used, c, g->first, g->dropped))
        return 0;
    if (!append_line(buf, used, c, m, text, len)) {
        *used = at; /* the notice goes with the record after it */
        return 0;
    }
    *dropped += g->dropped;
    *filtered += g->filtered;
    g->dropped = g->filtered = 0;
    return 1;
}

/* A fill stops with gap g open at *seq: if alone, its notice goes in now;
 * otherwise (or if it does not fit) *seq goes back to the gap's start. */
static void gap_close(char *buf, size_t *used, const struct nblog_console *c,
                      struct gap *g, int alone, uint64_t *dropped, uint64_t *filtered,
                      uint64_t *seq)
{
    if (g->dropped == 0)
        return;
    if (alone && append_dropped_notice(buf, used, c, g->first, g->dropped)) {
        *dropped += g->dropped;
        *filtered += g->filtered;
    } else {
        *seq = g->first;
    }
    g->dropped = g->filtered = 0;
}

/* The text of a record just read: its payload, or rendered into buf (cap
 * bytes) for a deferred one. Sets *len. */
static const char *record_text(const struct nblog__ring_hdr *r,
                               struct nblog__rec_meta *m, const char *payload,
                               char *buf, size_t cap, size_t *len)
{
    if (m->kind == NBLOG_KIND_TEXT) {
        *len = m->len;
        return payload;
    }
    uint8_t flags = m->flags;
    size_t n = nblog__render_record(r, m, payload, buf, cap, &flags);
    m->flags = flags;
    *len = n < cap ? n : cap - 1;
    return buf;
}

/*
 * Fills the batch with records from next_seq (or the end of the current
 * batch) up to `upto` (exclusive), at most max records. Owner only.
 */
static void fill_batch(struct nblog_console *c, const struct nblog__ring_hdr *r,
                       uint64_t upto, int max, uint32_t word)
{
    uint64_t seq = c->batch_end_seq;
    int level = atomic_load_explicit(&c->level, memory_order_relaxed);
    /* Acquire: pairs with retire_default's release store. A batch filled
     * just before that store may run past end: records stored while the
     * program's first console registers can reach both consoles, and
     * none reaches neither (see DEFAULT CONSOLE). */
    uint64_t end = atomic_load_explicit(&c->end_seq, memory_order_acquire);
    if (upto > end)
        upto = end;
    char *payload = c->batch + BATCH_BYTES;          /* NBLOG__RECORD_SIZE_MAX */
    char *text = payload + NBLOG__RECORD_SIZE_MAX;   /* NBLOG__RECORD_SIZE_MAX + 1 */
    /* What a panic flush left (see PANIC FLUSH). Relaxed: written before
     * the ownership word we acquired was released. */
    uint64_t replay_end = atomic_load_explicit(&c->replay_end, memory_order_relaxed);
    if (c->batch_len == 0 && atomic_load_explicit(&c->out_cut, memory_order_relaxed))
        c->batch[c->batch_len++] = '\n'; /* the output stopped mid-line */
    struct gap g = {0};
    int i = 0;
    for (; i < max && seq < upto; i++) {
        if (!still_own(c, word))
            break;
        struct nblog__rec_meta m;
        enum nblog__read_result res =
            nblog__ring_read(r, seq, &m, payload, NBLOG__RECORD_SIZE_MAX);
        if (res == NBLOG__READ_GONE) {
            uint64_t to = nblog__ring_after_gone(r, seq);
            gap_grow(&g, seq, to); /* no notice yet: see DROP NOTICES */
            seq = to;
            continue;
        }
        if (res != NBLOG__READ_OK)
            break; /* not written yet: wait for its writer */
        if (m.level > level) {
            gap_filter(&g, &c->batch_filtered);
            seq++;
            continue;
        }
        if (seq < replay_end)
            m.flags |= NBLOG_F_REPLAYED;
        size_t len;
        const char *t = record_text(r, &m, payload, text, NBLOG__RECORD_SIZE_MAX + 1, &len);
        if (!append_after_gap(c->batch, &c->batch_len, c, &g, &c->batch_dropped,
                              &c->batch_filtered, &m, t, len))
            break;
        c->batch_printed++;
        seq++;
    }
    /* Alone only if the batch holds no line before it and nothing can
     * follow the gap (it runs to the ring's head, or to the console's end)
     * or the fill used its budget on it (a run of lost records longer than
     * max must still move on). A gap that only ran past upto (taken before
     * a long write, or a direct caller's own record) waits for the next
     * fill, which finds the record after it. */
    int no_line = c->batch_printed == 0 && c->batch_dropped == 0;
    int nothing_after = seq >= end || seq >= nblog__ring_head(r);
    gap_close(c->batch, &c->batch_len, c, &g, no_line && (nothing_after || i == max),
              &c->batch_dropped, &c->batch_filtered, &seq);
    c->batch_end_seq = seq;
}

/* What one batch did, to be added to a console's books. */
struct books {
    uint64_t printed, filtered, dropped;
};

/* Publishes a written (or failed) stretch of records: counters, then
 * next_seq = end. */
static void publish(struct nblog_console *c, const struct books *b, int failed,
                    uint64_t end)
{
    /* Relaxed adds: statistics; next_seq's release store orders them for a
     * reader that checks the books against next_seq (pairs with the acquire
     * load in nblog_console_stats). */
    if (failed)
        atomic_fetch_add_explicit(&c->write_failed, b->printed, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&c->printed, b->printed, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->filtered, b->filtered, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->dropped, b->dropped, memory_order_relaxed);
    atomic_store_explicit(&c->next_seq, end, memory_order_release);
    atomic_store_explicit(&c->last_progress_ns, clock_now(), memory_order_relaxed);
}

/*
 * Publishes a written (or failed) batch, if we still own the console;
 * returns 0 if a panic took it. Owner only.
 * Seq_cst store of publishing, then seq_cst load of the owner word; the
 * panic exchanges the word, then loads publishing (seq_cst): either we see
 * the panic and publish nothing, or it sees us publishing and waits, then
 * reads the next_seq we published. So books are never counted twice and
 * next_seq never goes back.
 */
static int finish_batch(struct nblog_console *c, int failed, uint32_t word)
{
    atomic_store_explicit(&c->publishing, 1, memory_order_seq_cst);
    int owned = still_own(c, word);
    if (owned) {
        struct books b = {c->batch_printed, c->batch_filtered, c->batch_dropped};
        publish(c, &b, failed, c->batch_end_seq);
        drop_batch(c);
    }
    /* Release: pairs with the panic's load; our stores above come first. */
    atomic_store_explicit(&c->publishing, 0, memory_order_release);
    return owned;
}

/*
 * One write call by the owner, marked in_call (see PANIC FLUSH). Seq_cst
 * store of in_call, then the seq_cst load of the word in still_own; the
 * panic exchanges the word, then loads in_call (seq_cst): either we see
 * the panic and do not call (-EAGAIN: the caller stops at its next
 * check), or it sees the call and waits for it. The release store of 0
 * publishes out_cut with it.
 */
static ssize_t owner_call(struct nblog_console *c, int atomic_only, const char *p, size_t n,
                          uint32_t word)
{
    atomic_store_explicit(&c->in_call, 1, memory_order_seq_cst);
    ssize_t w = -EAGAIN;
    if (still_own(c, word)) {
        w = atomic_only ? c->ops.write_atomic(c->ctx, p, n) : c->ops.write(c->ctx, p, n);
        if (w > 0) /* relaxed: published by the release store below */
            atomic_store_explicit(&c->out_cut,
                                  p[w - 1] == '\n' ? OUT_WHOLE
                                                   : OUT_CUT_AT + (size_t)(p + w - c->batch),
                                  memory_order_relaxed);
    }
    atomic_store_explicit(&c->in_call, 0, memory_order_release);
    return w;
}

/*
 * Writes the batch. atomic_only: through write_atomic, stopping at
 * -EAGAIN (returns 0, the rest stays for the next owner). Otherwise through
 * write, retrying EINTR/EAGAIN and short counts. Stops before any write
 * once the console is unregistered or suspended (returns 0; the rest stays
 * pending, counted nowhere yet). Returns 1 when the batch is done (written
 * or failed and counted).
 */
static int write_batch(struct nblog_console *c, int atomic_only, uint32_t word)
{
    /* Seq_cst: pairs with the panic flush's exchange and load (see
     * still_own); from here on these records may be out, whole or in part. */
    atomic_store_explicit(&c->inflight_end, c->batch_end_seq, memory_order_seq_cst);
    while (c->batch_off < c->batch_len) {
        if (!still_own(c, word) || !may_print(c))
            return 0;
        const char *p = c->batch + c->batch_off;
        size_t n = c->batch_len - c->batch_off;
        ssize_t w = owner_call(c, atomic_only, p, n, word);
        if (w > 0) {
            c->batch_off += (size_t)w;
            continue;
        }
        if (w == -EINTR || (w == -EAGAIN && !atomic_only))
            continue;
        if (w == -EAGAIN || w == 0)
            return 0;
        if (!still_own(c, word))
            return 0;
        atomic_store_explicit(&c->last_error, (int)w, memory_order_relaxed);
        return finish_batch(c, 1, word);
    }
    /* A panic that took over while we wrote owns the books now. */
    return finish_batch(c, 0, word);
}

/*
 * Prints what is pending up to `upto`, at most max records, as owner.
 * Returns the number of records handled (0: nothing could be done).
 */
static uint64_t print_pending(struct nblog_console *c, const struct nblog__ring_hdr *r,
                              uint64_t upto, int max, int atomic_only, uint32_t word)
{
    uint64_t before = atomic_load_explicit(&c->next_seq, memory_order_relaxed);
    if (c->batch_len == 0)
        c->batch_end_seq = before;
    int budget = max;
    while (still_own(c, word) && may_print(c)) {
        if (c->batch_len == 0 || c->batch_off == 0) {
            uint64_t mark = c->batch_end_seq;
            fill_batch(c, r, upto, budget, word);
            budget -= (int)(c->batch_end_seq - mark);
        }
        if (c->batch_end_seq == atomic_load_explicit(&c->next_seq, memory_order_relaxed))
            break; /* nothing new to write */
        if (c->batch_len == 0) {
            if (!finish_batch(c, 0, word)) /* only filtered or dropped */
                break;
        } else if (!write_batch(c, atomic_only, word)) {
            break;
        }
        if (budget <= 0 || c->batch_end_seq >= upto)
            break;
    }
    return atomic_load_explicit(&c->next_seq, memory_order_relaxed) - before;
}

/* ------------------------------------------------------- printer thread */

/* Sleeps until woken or timeout_us passes, unless records came meanwhile. */
static void wait_for_records(const struct nblog__ring_hdr *r, uint64_t next,
                             long timeout_us)
{
    /* seq_cst store and load: the printer side of the store-buffering pair
     * (see HOW PRINTERS LEARN...), pairs with nblog__consoles_notify. */
    atomic_store(&sleep_flag, 1);
    if (nblog__seq_clamp(atomic_load((_Atomic uint64_t *)&r->head)) > next) {
        /* Not sleeping after all: clear the flag, or the next writer at a
         * watermark pays a wake-up for nobody. Relaxed: a hint only. */
        atomic_store_explicit(&sleep_flag, 0, memory_order_relaxed);
        return;
    }
    struct timespec ts = {timeout_us / 1000000, (timeout_us % 1000000) * 1000};
    futex(&sleep_flag, FUTEX_WAIT_PRIVATE, 1, &ts);
}

static void short_sleep(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

static void *printer_main(void *arg)
{
    struct nblog_console *c = arg;
    const struct nblog__ring_hdr *r = ring_now();
    long idle_us = IDLE_SLEEP_MIN_US;
    while (r && atomic_load_explicit(&c->state, memory_order_acquire) == ACTIVE) {
        if (atomic_load_explicit(&nblog__printers_paused, memory_order_relaxed))
            atomic_fetch_add_explicit(&nblog__printers_pause_naps, 1,
                                      memory_order_relaxed);
        if (atomic_load_explicit(&c->suspended, memory_order_acquire) ||
            atomic_load_explicit(&nblog__printers_paused, memory_order_relaxed)) {
            short_sleep(5000000);
            continue;
        }
        nblog__line_fmt_refresh(&c->lf); /* local time's UTC offset */
        uint64_t next = atomic_load_explicit(&c->next_seq, memory_order_relaxed);
        uint64_t head = nblog__ring_head(r);
        /* Relaxed: a retiring default console is about to be detached. */
        if (next >= atomic_load_explicit(&c->end_seq, memory_order_relaxed)) {
            short_sleep(1000000);
            continue;
        }
        if (next >= head) {
            wait_for_records(r, next, idle_us);
            if (idle_us < IDLE_SLEEP_MAX_US)
                idle_us *= 2;
            continue;
        }
        idle_us = IDLE_SLEEP_MIN_US;
        uint32_t word;
        if (!own(c, PRIO_NORMAL, &word)) {
            short_sleep(200000); /* a direct caller or panic is printing */
            continue;
        }
        uint64_t done = print_pending(c, r, head, BATCH_RECORDS, 0, word);
        release(c, word);
        if (done == 0)
            short_sleep(100000); /* the next record is still being written */
    }
    put_blocking(c); /* a printer may block: it tears down if last */
    /* Release: pairs with nblog__consoles_shutdown's acquire load; our last
     * reads of the ring happen before it. */
    atomic_fetch_sub_explicit(&printers_alive, 1, memory_order_release);
    return NULL;
}

/* ---------------------------------------------------- logging-call side */

/* Records between the writers' wake-up checks: a sleeping printer is
 * woken when a watermark seq is stored (so a burst cannot lap it while it
 * naps), and otherwise wakes by itself within IDLE_SLEEP_MAX_US. */
static uint64_t wake_mask(const struct nblog__ring_hdr *r)
{
    uint64_t every = r->records / 4;
    every = every < 64 ? 64 : every > 65536 ? 65536 : every;
    return every - 1; /* records is a power of two, so is every */
}

void nblog__consoles_notify(const struct nblog__ring_hdr *r, uint64_t seq,
                            uint8_t flags)
{
    /* Relaxed: a hint; the panic owns the consoles it prints to anyway. */
    if (atomic_load_explicit(&nblog__panicking, memory_order_relaxed))
        return;
    nblog__consoles_restart_if_forked();
    int emergency = flags & NBLOG_F_EMERGENCY;
    /* seq_cst: the writer side of the store-buffering pair; the writer's
     * fetch_add on head came before (see ring.c). */
    if (((seq & wake_mask(r)) == 0 || emergency) && atomic_load(&sleep_flag) &&
        atomic_exchange(&sleep_flag, 0))
        futex(&sleep_flag, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
    /* Relaxed: counts of consoles to visit; a stale value only makes this
     * call skip or visit a console that is changing anyway. */
    if (!atomic_load_explicit(&n_direct, memory_order_relaxed) &&
        !(emergency && atomic_load_explicit(&n_atomic_capable, memory_order_relaxed)))
        return;
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &pool[i];
        if (atomic_load_explicit(&c->state, memory_order_relaxed) != ACTIVE)
            continue;
        if (!get(c))
            continue;
        /* ops and mode are read only under our reference: a slot reused
         * meanwhile is not this console. */
        uint32_t word;
        if (c->ops.write_atomic && (c->mode == NBLOG_MODE_DIRECT || emergency) &&
            !atomic_load_explicit(&c->suspended, memory_order_acquire) &&
            own(c, emergency ? PRIO_EMERGENCY : PRIO_NORMAL, &word)) {
            print_pending(c, r, seq + 1, DIRECT_RECORDS, 1, word);
            release(c, word);
        }
        put(c);
    }
}

/* ------------------------------------------------------------ registry */

void nblog_console_opts_init(nblog_console_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->name = NULL; /* the output's kind and target (see NAMES) */
    o->level = NBLOG_LEVEL_DEBUG;
    o->format = NBLOG_FORMAT_PLAIN;
    o->mode = NBLOG_MODE_THREADED;
    o->start = NBLOG_FROM_NEXT;
    o->stall_ms = 5000;
}

static int check_opts(const nblog_console_ops_t *ops, const nblog_console_opts_t *o)
{
    if (!ops || !ops->write || !o)
        return NBLOG_EINVAL;
    if (o->level < 0 || o->level > NBLOG_LEVEL_DEBUG)
        return NBLOG_EINVAL;
    if (o->format < NBLOG_FORMAT_PLAIN || o->format > NBLOG_FORMAT_PATTERN)
        return NBLOG_EINVAL;
    if (o->mode != NBLOG_MODE_THREADED && o->mode != NBLOG_MODE_DIRECT)
        return NBLOG_EINVAL;
    if (o->mode == NBLOG_MODE_DIRECT && !ops->write_atomic)
        return NBLOG_EINVAL;
    if (o->start != NBLOG_FROM_OLDEST && o->start != NBLOG_FROM_NEXT)
        return NBLOG_EINVAL;
    /* The name reaches terminals (nblog status, stall reports) and the
     * ring file: printable ASCII, 1..NBLOG_CONSOLE_NAME_MAX bytes. */
    const unsigned char *name = (const unsigned char *)o->name;
    size_t n = 0;
    for (; name && name[n]; n++)
        if (n == NBLOG_CONSOLE_NAME_MAX || name[n] < 0x20 || name[n] > 0x7e)
            return NBLOG_EINVAL;
    return name && n == 0 ? NBLOG_EINVAL : NBLOG_OK;
}

static void start_watch(void);
static void install_hooks(void);

/* A detached thread of nblog's (a printer, the stall watch): takes none
 * of the program's signals (platform.h, nblog__thread_create). */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    return nblog__thread_create(t, 1, fn, arg);
}

static int start_printer(struct nblog_console *c)
{
    atomic_fetch_add_explicit(&printers_alive, 1, memory_order_relaxed);
    int rc = start_thread(&c->thread, printer_main, c);
    if (rc != 0)
        atomic_fetch_sub_explicit(&printers_alive, 1, memory_order_relaxed);
    return rc;
}

/* ---------------------------------------------------------------- names
 *
 * NAMES. A console's name says what it is: given (nblog_console_opts_t.name)
 * or, when the output is made without one, its kind and target, built by
 * nblog__console_default_name ("stderr", "fd:3", "file:/var/log/app.log",
 * "syslog+udp://host:514", "journald", "callback"; "console" for one
 * registered with ops of its own). Every registered console's name is
 * unique: one already in use (given or not) gets "#2", "#3", ... (the
 * first free), cut to fit. Names are printable ASCII of at most
 * NBLOG_CONSOLE_NAME_MAX bytes; a longer one keeps its end, its "kind:"
 * and "..." for the middle ("file:...deep/dir/app.log").
 */

/* name cut to room bytes (room >= 4) into out, keeping its end. */
static void fit_name(char *out, const char *name, size_t room)
{
    size_t n = strlen(name);
    if (n <= room) {
        memcpy(out, name, n + 1);
        return;
    }
    const char *colon = strchr(name, ':');
    size_t keep = colon ? (size_t)(colon - name) + 1 : 0;
    if (keep + 3 + 4 > room)
        keep = 0; /* no room for the kind: the end matters more */
    size_t tail = room - keep - 3;
    memcpy(out, name, keep);
    memcpy(out + keep, "...", 3);
    memcpy(out + keep + 3, name + n - tail, tail + 1);
    assert(strlen(out) == room);
}

void nblog__console_default_name(char *out, const char *kind, const char *target)
{
    char full[NBLOG_CONSOLE_NAME_MAX * 2 + 8];
    size_t k = strlen(kind), t = target ? strlen(target) : 0;
    /* Only the end of a long target can show: copy that much of it. */
    size_t from = t > NBLOG_CONSOLE_NAME_MAX ? t - NBLOG_CONSOLE_NAME_MAX : 0;
    if (k > NBLOG_CONSOLE_NAME_MAX)
        k = NBLOG_CONSOLE_NAME_MAX;
    size_t n = 0;
    memcpy(full, kind, k);
    n = k;
    if (target) {
        full[n++] = ':';
        if (from) {
            memcpy(full + n, "...", 3); /* fit_name cuts here, at the latest */
            n += 3;
        }
        memcpy(full + n, target + from, t - from);
        n += t - from;
    }
    full[n] = '\0';
    for (size_t i = 0; i < n; i++) /* a path's bytes may be anything */
        if ((unsigned char)full[i] < 0x20 || (unsigned char)full[i] > 0x7e)
            full[i] = '_';
    fit_name(out, full, NBLOG_CONSOLE_NAME_MAX);
}

/* Whether an ACTIVE console other than self and skip is named name. List
 * lock. */
static int name_in_use(const struct nblog_console *self, const struct nblog_console *skip,
                       const char *name)
{
    for (int i = 0; i < MAX_CONSOLES; i++) {
        const struct nblog_console *c = &pool[i];
        /* Relaxed: under the list lock, which every change of a name and
         * every move to and from ACTIVE is made under. */
        if (c != self && c != skip &&
            atomic_load_explicit(&c->state, memory_order_relaxed) == ACTIVE &&
            strcmp(c->name, name) == 0)
            return 1;
    }
    return 0;
}

/* Names the SETUP console c after want, made unique (see NAMES). A
 * console of the program's does not count the default console, which it
 * is about to replace (so the program's own stderr console is "stderr";
 * both have that name until the default is gone). List lock. */
static void unique_name(struct nblog_console *c, const char *want)
{
    const struct nblog_console *skip =
        !init_thread && default_con ? &pool[(uintptr_t)default_con & SLOT_MASK] : NULL;
    memset(c->name, 0, sizeof c->name);
    fit_name(c->name, want, NBLOG_CONSOLE_NAME_MAX);
    for (int n = 2; name_in_use(c, skip, c->name) && n <= MAX_CONSOLES + 1; n++) {
        char suffix[8];
        size_t len = nblog__format(suffix, sizeof suffix, "#%d", n);
        fit_name(c->name, want, NBLOG_CONSOLE_NAME_MAX - len);
        strcat(c->name, suffix);
    }
    assert(!name_in_use(c, skip, c->name));
}

/* Fills a SETUP slot; returns NBLOG_OK or an error (slot left SETUP). */
static int fill_console(struct nblog_console *c, const nblog_console_ops_t *ops,
                        void *ctx, const nblog_console_opts_t *o,
                        const struct nblog__ring_hdr *r)
{
    char why[256];
    if (nblog__line_fmt_init(&c->lf, o, why, sizeof why) != NBLOG_OK) {
        nblog__spec_error_set(why); /* a bad pattern: say what is wrong */
        return NBLOG_EINVAL;
    }
    c->batch = malloc(BATCH_BYTES + SCRATCH_BYTES);
    if (!c->batch)
        return NBLOG_ENOMEM;
    c->ops = *ops;
    c->ctx = ctx;
    unique_name(c, o->name ? o->name : "console");
    c->format = o->format;
    c->mode = o->mode;
    c->stall_ms = o->stall_ms ? o->stall_ms : 5000;
    c->stall_reported = 0;
    drop_batch(c);
    c->start_seq = o->start == NBLOG_FROM_OLDEST ? nblog__ring_oldest(r)
                                                 : nblog__ring_head(r);
    c->batch_end_seq = c->start_seq;
    /* Relaxed stores: the slot is published by the release store of
     * ACTIVE in nblog_console_register. */
    atomic_store_explicit(&c->level, o->level, memory_order_relaxed);
    atomic_store_explicit(&c->suspended, 0, memory_order_relaxed);
    atomic_store_explicit(&c->owner, 0, memory_order_relaxed);
    atomic_store_explicit(&c->printed, 0, memory_order_relaxed);
    atomic_store_explicit(&c->filtered, 0, memory_order_relaxed);
    atomic_store_explicit(&c->dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&c->write_failed, 0, memory_order_relaxed);
    atomic_store_explicit(&c->last_error, 0, memory_order_relaxed);
    atomic_store_explicit(&c->next_seq, c->start_seq, memory_order_relaxed);
    atomic_store_explicit(&c->inflight_end, c->start_seq, memory_order_relaxed);
    atomic_store_explicit(&c->displaced, 0, memory_order_relaxed);
    atomic_store_explicit(&c->panic_end, 0, memory_order_relaxed);
    atomic_store_explicit(&c->replay_end, c->start_seq, memory_order_relaxed);
    atomic_store_explicit(&c->in_call, 0, memory_order_relaxed);
    atomic_store_explicit(&c->out_cut, OUT_WHOLE, memory_order_relaxed);
    atomic_store_explicit(&c->publishing, 0, memory_order_relaxed);
    atomic_store_explicit(&c->end_seq, UINT64_MAX, memory_order_relaxed);
    atomic_store_explicit(&c->last_progress_ns, clock_now(), memory_order_relaxed);
    if (ops->setup && ops->setup(ctx) != 0) {
        free(c->batch);
        c->batch = NULL;
        return NBLOG_EINVAL;
    }
    return NBLOG_OK;
}

/* ------------------------------------------------------ default console
 *
 * DEFAULT CONSOLE. nblog_init (and lazy init) may register a default
 * console (spec.c decides which, see nblog.h "Consoles at init"). It is an
 * ordinary console, but the first console the program registers itself
 * replaces it: that registration, once its console is ACTIVE (start_seq S
 * fixed), takes default_con and retires it (retire_default): the default
 * prints up to S (end_seq = S), for at most RETIRE_WAIT_MS, and is then
 * unregistered. So a record goes to the default if it was stored before
 * the program's console, to the program's console after; records stored
 * by other threads in the instant between can reach both (a batch the
 * default had begun), never neither (unless the default is stuck: then
 * what it had not printed by the deadline stays in the ring, unprinted).
 * A panic flush while a default retires may print past S.
 *
 * Registrations made by init itself (on the initialising thread,
 * init_thread) are not the program's: they neither replace the default
 * nor count. list_lock guards default_con and program_consoles; a
 * program console registered on another thread while init runs (before
 * nblog__console_make_default) retires the default at once.
 */
#define RETIRE_WAIT_MS 1000


void nblog__console_init_mark(int on)
{
    init_thread = on;
}

static void wake_printers(void)
{
    atomic_store(&sleep_flag, 0);
    futex(&sleep_flag, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

static int detach(struct nblog_console *c);

/* Lets the default console print up to end (bounded), then unregisters
 * it. [blocking] */
static void retire_default(nblog_console_t *h, uint64_t end)
{
    int err;
    struct nblog_console *c = handle_get(h, &err);
    if (!c)
        return; /* gone already */
    /* Release: pairs with fill_batch's acquire load. */
    atomic_store_explicit(&c->end_seq, end, memory_order_release);
    uint64_t deadline = nblog__now_ns() + (uint64_t)RETIRE_WAIT_MS * 1000000u;
    /* Acquire: pairs with publish's release store of next_seq. */
    while (atomic_load_explicit(&c->next_seq, memory_order_acquire) < end &&
           !atomic_load_explicit(&c->suspended, memory_order_relaxed) &&
           nblog__now_ns() < deadline) {
        wake_printers();
        short_sleep(1000000);
    }
    detach(c);
    put_blocking(c);
}

int nblog__console_make_default(nblog_console_t *h)
{
    lock_list();
    int replaced = program_consoles > 0;
    if (!replaced)
        default_con = h;
    unlock_list();
    if (replaced) {
        const struct nblog__ring_hdr *r = ring_now();
        retire_default(h, r ? nblog__ring_head(r) : 0);
    }
    return !replaced;
}

int nblog_console_register(const nblog_console_ops_t *ops, void *ctx,
                           const nblog_console_opts_t *opts, nblog_console_t **out)
{
    return nblog__console_register_params(ops, ctx, NULL, opts, out);
}

int nblog__console_register_params(const nblog_console_ops_t *ops, void *ctx,
                                   const struct nblog__syslog_params *params,
                                   const nblog_console_opts_t *opts,
                                   nblog_console_t **out)
{
    nblog_console_opts_t defaults;
    if (!opts) {
        nblog_console_opts_init(&defaults);
        opts = &defaults;
    }
    if (!out || check_opts(ops, opts) != NBLOG_OK)
        return NBLOG_EINVAL;
    if (!ring_now()) {
        /* Consoles need a store: make the default one, unless the program
         * shut nblog down (then only its own nblog_init brings it back).
         * This console is the program's own: no default console first. */
        nblog__init_lazily(1);
        if (!ring_now())
            return NBLOG_ENOTREADY;
    }
    /* Another thread's init in progress (STARTING: the ring is published)
     * needs the list lock for its consoles at init: wait for READY (1 s at
     * most) before taking it, so our setup callback can log. Not on the
     * initialising thread. */
    nblog__init_wait();
    install_hooks();
    /* In a forked child, the consoles the fork orphaned get their printers
     * back before anything else changes the pool. */
    nblog__consoles_restart_if_forked();
    reap(); /* consoles let go by put(): their slots become free */
    nblog_console_t *retiring = NULL;
    uint64_t start = 0;
    lock_list();
    struct nblog_console *c = NULL;
    for (int i = 0; i < MAX_CONSOLES && !c && !closed; i++) {
        int expected = FREE;
        /* Any FREE slot, whatever users says: a reference counted there is
         * a late get() that backs off (see TRANSIENT REFERENCES). Acquire:
         * pairs with teardown_slot's release store of FREE, so we see the
         * teardown's writes (and, through its acquire of users, every
         * user's). */
        if (atomic_compare_exchange_strong_explicit(&pool[i].state, &expected, SETUP,
                                                    memory_order_acquire,
                                                    memory_order_relaxed))
            c = &pool[i];
    }
    if (c) /* a new console: never one a fork orphaned (see orphaned) */
        atomic_store_explicit(&c->orphaned, 0, memory_order_relaxed);
    int rc = closed ? NBLOG_ENOTREADY
             : c    ? fill_console(c, ops, ctx, opts, ring_now())
                    : NBLOG_ENOMEM;
    if (rc == NBLOG_OK) {
        c->params = params; /* published with the rest by the ACTIVE store */
        /* A new generation: handles of the slot's earlier consoles go
         * stale (see HANDLES). Relaxed: SETUP, published by ACTIVE. */
        uintptr_t gen = atomic_load_explicit(&c->gen, memory_order_relaxed);
        atomic_store_explicit(&c->gen, gen >= GEN_MAX ? 1 : gen + 1, memory_order_relaxed);
        /* References: the registration's and the printer thread's. */
        atomic_fetch_add_explicit(&c->users, 2, memory_order_relaxed);
        /* Release: pairs with get()'s acquire load of ACTIVE. */
        atomic_store_explicit(&c->state, ACTIVE, memory_order_release);
        if (start_printer(c) != 0) {
            atomic_fetch_sub_explicit(&c->users, 1, memory_order_relaxed);
            atomic_store_explicit(&c->state, DETACHED, memory_order_release);
            put_blocking(c);
            rc = NBLOG_ENOMEM;
        } else {
            if (ops->write_atomic)
                atomic_fetch_add_explicit(&n_atomic_capable, 1, memory_order_relaxed);
            if (opts->mode == NBLOG_MODE_DIRECT)
                atomic_fetch_add_explicit(&n_direct, 1, memory_order_relaxed);
            *out = handle_of(c);
            if (!init_thread) { /* the program's own (see DEFAULT CONSOLE) */
                program_consoles++;
                retiring = default_con;
                default_con = NULL;
                start = c->start_seq;
            }
        }
    } else if (c) {
        atomic_store_explicit(&c->state, FREE, memory_order_release);
    }
    unlock_list();
    if (retiring)
        retire_default(retiring, start);
    if (rc == NBLOG_OK)
        start_watch();
    return rc;
}

/* ACTIVE -> DETACHED under the list lock; 0 if it was not ACTIVE. The
 * caller holds a reference, so the slot is the one it looked up. */
static int detach(struct nblog_console *c)
{
    lock_list();
    int expected = ACTIVE;
    /* Seq_cst: a get() after it fails (see HANDLES); release for the
     * printer's acquire load (it lets go). */
    int ok = atomic_compare_exchange_strong_explicit(&c->state, &expected, DETACHED,
                                                     memory_order_seq_cst,
                                                     memory_order_relaxed);
    if (ok) {
        if (c->ops.write_atomic)
            atomic_fetch_sub_explicit(&n_atomic_capable, 1, memory_order_relaxed);
        if (c->mode == NBLOG_MODE_DIRECT)
            atomic_fetch_sub_explicit(&n_direct, 1, memory_order_relaxed);
    }
    unlock_list();
    if (!ok)
        return 0;
    /* Wake a sleeping printer so it sees DETACHED and lets go. */
    atomic_store(&sleep_flag, 0);
    futex(&sleep_flag, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
    put_blocking(c); /* the registration's reference */
    return 1;
}

int nblog_console_unregister(nblog_console_t *con)
{
    int err;
    struct nblog_console *c = handle_get(con, &err);
    if (!c)
        return err;
    int ok = detach(c);
    put_blocking(c);
    return ok ? NBLOG_OK : NBLOG_ESTALE; /* another unregister won */
}

int nblog_console_suspend(nblog_console_t *con)
{
    int err;
    struct nblog_console *c = handle_get(con, &err);
    if (!c)
        return err;
    /* Seq_cst: pairs with may_print()'s seq_cst load, as unregister's CAS
     * does: every check before a write that follows this store in the
     * total order sees it, so once suspend returns no new write starts
     * (the one in progress completes). */
    atomic_store_explicit(&c->suspended, 1, memory_order_seq_cst);
    put(c);
    return NBLOG_OK;
}

int nblog_console_resume(nblog_console_t *con)
{
    int err;
    struct nblog_console *c = handle_get(con, &err);
    if (!c)
        return err;
    atomic_store_explicit(&c->suspended, 0, memory_order_release);
    atomic_store_explicit(&c->last_progress_ns, clock_now(), memory_order_relaxed);
    put(c);
    return NBLOG_OK;
}

int nblog_console_set_level(nblog_console_t *con, int level)
{
    if (level < 0 || level > NBLOG_LEVEL_DEBUG)
        return NBLOG_EINVAL;
    int err;
    struct nblog_console *c = handle_get(con, &err);
    if (!c)
        return err;
    atomic_store_explicit(&c->level, level, memory_order_relaxed);
    put(c);
    return NBLOG_OK;
}

static uint64_t stalled_for(struct nblog_console *c, uint64_t lag, uint64_t now)
{
    uint64_t last = atomic_load_explicit(&c->last_progress_ns, memory_order_relaxed);
    if (lag == 0 || atomic_load_explicit(&c->suspended, memory_order_relaxed) ||
        now < last || now - last < (uint64_t)c->stall_ms * 1000000u)
        return 0;
    return now - last;
}

int nblog_console_stats(nblog_console_t *con, nblog_console_stats_t *st)
{
    if (!st)
        return NBLOG_EINVAL;
    int err;
    struct nblog_console *c = handle_get(con, &err);
    if (!c)
        return err;
    const struct nblog__ring_hdr *r = ring_now();
    memset(st, 0, sizeof *st);
    memcpy(st->name, c->name, sizeof st->name);
    /* Acquire: pairs with finish_batch's release store, so the counters
     * read below include everything up to next_seq. */
    st->next_seq = atomic_load_explicit(&c->next_seq, memory_order_acquire);
    st->printed = atomic_load_explicit(&c->printed, memory_order_relaxed);
    st->filtered = atomic_load_explicit(&c->filtered, memory_order_relaxed);
    st->dropped = atomic_load_explicit(&c->dropped, memory_order_relaxed);
    st->write_failed = atomic_load_explicit(&c->write_failed, memory_order_relaxed);
    st->last_error = atomic_load_explicit(&c->last_error, memory_order_relaxed);
    st->suspended = atomic_load_explicit(&c->suspended, memory_order_relaxed);
    st->start_seq = c->start_seq;
    uint64_t head = r ? nblog__ring_head(r) : st->next_seq;
    st->lag = head > st->next_seq ? head - st->next_seq : 0;
    st->stalled_ns = stalled_for(c, st->lag, clock_now());
    put(c);
    return NBLOG_OK;
}

/* --------------------------------------------------------------- flush */

int nblog_flush(unsigned timeout_ms, char *lagging, size_t lagging_size)
{
    const struct nblog__ring_hdr *r = ring_now();
    if (lagging && lagging_size)
        lagging[0] = '\0';
    if (!r)
        return 0;
    nblog__consoles_restart_if_forked();
    uint64_t target = nblog__ring_head(r);
    uint64_t deadline = nblog__now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int behind = 0;
        size_t used = 0;
        if (lagging && lagging_size)
            lagging[0] = '\0'; /* this pass's list only */
        for (int i = 0; i < MAX_CONSOLES; i++) {
            struct nblog_console *c = &pool[i];
            if (!get(c))
                continue;
            if (!atomic_load_explicit(&c->suspended, memory_order_relaxed) &&
                atomic_load_explicit(&c->next_seq, memory_order_acquire) < target) {
                behind++;
                if (lagging && lagging_size > used + 1) {
                    used += nblog__format(lagging + used, lagging_size - used,
                                          "%s%s", used ? "," : "", c->name);
                    if (used >= lagging_size)
                        used = lagging_size - 1;
                }
            }
            put(c);
        }
        if (behind == 0 || nblog__now_ns() >= deadline)
            return behind;
        atomic_store(&sleep_flag, 0);
        futex(&sleep_flag, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
        short_sleep(1000000);
    }
}

/* ---------------------------------------------------------- stall watch */

/* The watch thread and tests both run passes; stall_reported is theirs. */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;

static void watch_once(void)
{
    /* The ring is loaded under the lock: nblog__consoles_quiesce() then
     * guarantees no pass still uses a ring that shutdown dropped. */
    pthread_mutex_lock(&watch_lock);
    const struct nblog__ring_hdr *r = ring_now();
    if (!r) {
        pthread_mutex_unlock(&watch_lock);
        return;
    }
    uint64_t now = clock_now(), head = nblog__ring_head(r);
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &pool[i];
        if (!get(c))
            continue;
        uint64_t next = atomic_load_explicit(&c->next_seq, memory_order_acquire);
        uint64_t lag = head > next ? head - next : 0;
        if (lag == 0) /* idle is not stalled */
            atomic_store_explicit(&c->last_progress_ns, now, memory_order_relaxed);
        uint64_t stalled = stalled_for(c, lag, now);
        if (stalled && !c->stall_reported) {
            c->stall_reported = 1;
            nblog_printf(NBLOG_LEVEL_WARNING,
                         "console \"%s\" stalled for %llu.%llu s, %llu records behind",
                         c->name, (unsigned long long)(stalled / 1000000000u),
                         (unsigned long long)(stalled / 100000000u % 10),
                         (unsigned long long)lag);
        } else if (!stalled && c->stall_reported) {
            c->stall_reported = 0;
            nblog_printf(NBLOG_LEVEL_NOTICE, "console \"%s\" recovered", c->name);
        }
        put(c);
    }
    pthread_mutex_unlock(&watch_lock);
}

static void *watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        short_sleep(100000000);
        watch_once();
        reap(); /* this thread may block: the reaper (see WHO TEARS DOWN) */
    }
    return NULL;
}

void nblog__console_watch_once(void)
{
    watch_once();
    reap();
}

void nblog__console_slots(int *free_slots, int *active)
{
    *free_slots = *active = 0;
    for (int i = 0; i < MAX_CONSOLES; i++) {
        /* Relaxed: a snapshot for tests. */
        int st = atomic_load_explicit(&pool[i].state, memory_order_relaxed);
        *free_slots += st == FREE;
        *active += st == ACTIVE;
    }
}

static _Atomic int watch_started;

static void start_watch(void)
{
    if (atomic_exchange(&watch_started, 1))
        return;
    pthread_t t;
    if (start_thread(&t, watch_main, NULL) != 0)
        atomic_store(&watch_started, 0);
}

/* ---------------------------------------------------------- panic flush */

/* Only the thread that won the panic gate (panic.c) runs this section, so
 * its buffers are static: that keeps ~80 KiB off an alternate signal stack. */
static char panic_batch[BATCH_BYTES];
static char panic_payload[NBLOG__RECORD_SIZE_MAX];
static char panic_text[NBLOG__RECORD_SIZE_MAX + 1];

#define PANIC_PENDING_WAIT_NS 20000000u /* grace for an unfinished record */

/* One console during one panic flush. */
struct panic_pos {
    uint64_t seq;        /* next record to print */
    uint64_t replay_end; /* records before it were in flight: marked replayed */
    uint32_t word;       /* our ownership word */
    int taken;           /* we hold the word (and a reference) */
    int incomplete;      /* the deadline passed before it was done */
    int finish;          /* the last owner left a batch half written: finish it */
    int torn;            /* the output may end mid-line: start a new one */
    size_t rest;         /* 1 + where in the displaced owner's batch the rest
                          * of the line it cut starts; 0: none */
};
static struct panic_pos panic_pos[MAX_CONSOLES];

/* Waits, boundedly (10 ms), while *flag is set; returns 1 if it cleared.
 * Seq_cst: the panic side of the pairs described at finish_batch
 * (publishing) and owner_call (in_call); acquires what the owner did
 * before clearing it. */
static int wait_while_set(_Atomic int *flag)
{
    for (int i = 0; i < 1000; i++) {
        if (!atomic_load_explicit(flag, memory_order_seq_cst))
            return 1;
        short_sleep(10000);
    }
    return !atomic_load_explicit(flag, memory_order_seq_cst);
}

/* An owner caught publishing its books (finish_batch) finishes in a few
 * instructions; wait for it, boundedly: it may be this very thread,
 * interrupted by the fatal signal, or preempted. */
static void wait_for_publisher(struct nblog_console *c)
{
    wait_while_set(&c->publishing);
}

/* Takes the console at panic priority, whatever holds it. */
static void panic_take(struct nblog_console *c, struct panic_pos *p)
{
    uint32_t me = my_word(PRIO_PANIC);
    /* Seq_cst: the panic side of the pair described at still_own(); it
     * also acquires what the previous owner released. */
    uint32_t old = atomic_exchange_explicit(&c->owner, me, memory_order_seq_cst);
    int hostile = old != 0 && (old & 3u) != PRIO_PANIC;
    int call_done = 1;
    if (hostile) {
        /* The old owner keeps its batch; it cleans up when it notices
         * (release()). Acq_rel: pairs with release()'s decrement. */
        atomic_fetch_add_explicit(&c->displaced, 1, memory_order_acq_rel);
        wait_for_publisher(c);
        /* Its write call in progress goes out before ours (a write_atomic
         * returns soon; a blocked write may not). Not when it is this
         * thread, interrupted inside it: that call cannot return first. */
        call_done = (old >> 2) != nblog__tid() && wait_while_set(&c->in_call);
    } else if (atomic_load_explicit(&c->displaced, memory_order_acquire) == 0) {
        /* The batch is ours now: one left half written is finished first,
         * completing its cut line (see PANIC FLUSH). */
        p->finish = c->batch_len > c->batch_off;
        if (!p->finish)
            drop_batch(c);
    }
    p->seq = atomic_load_explicit(&c->next_seq, memory_order_seq_cst);
    uint64_t inflight = atomic_load_explicit(&c->inflight_end, memory_order_seq_cst);
    /* Relaxed: what an earlier panic left, ordered by the word we took. */
    uint64_t left = atomic_load_explicit(&c->replay_end, memory_order_relaxed);
    p->replay_end = inflight > p->seq ? inflight : p->seq;
    if (left > p->replay_end)
        p->replay_end = left;
    /* How the output ends; a call still in progress may end it anywhere.
     * Relaxed: after the acquire of in_call or of the word. */
    size_t cut = call_done ? atomic_load_explicit(&c->out_cut, memory_order_relaxed) : OUT_CUT;
    p->torn = !p->finish && cut != OUT_WHOLE;
    /* The owner we displaced cut a line of its batch: its rest goes first. */
    p->rest = hostile && cut >= OUT_CUT_AT ? cut - OUT_CUT_AT + 1 : 0;
    p->word = me;
    p->taken = 1;
}

/* write_atomic until buf is out; waits out EAGAIN until the deadline.
 * Returns 0, -ETIMEDOUT or the write's error; *out: bytes written. */
static int panic_write(struct nblog_console *c, const char *buf, size_t len,
                       uint64_t deadline, size_t *out)
{
    *out = 0;
    while (len > 0) {
        ssize_t w = c->ops.write_atomic(c->ctx, buf, len);
        if (w > 0) {
            /* Relaxed: ordered for the next owner by the word. */
            atomic_store_explicit(&c->out_cut, buf[w - 1] == '\n' ? OUT_WHOLE : OUT_CUT,
                                  memory_order_relaxed);
            buf += w;
            len -= (size_t)w;
            *out += (size_t)w;
            continue;
        }
        if (w == -EINTR)
            continue;
        if (w != -EAGAIN && w != 0)
            return (int)w;
        if (nblog__now_ns() >= deadline)
            return -ETIMEDOUT;
        short_sleep(1000000);
    }
    return 0;
}

/* A record handed out but never committed: wait a little for its writer
 * (other threads still run), then skip it with a notice. Returns 1 if it
 * was skipped, 0 to try again, -1 if the buffer is full. */
static int panic_unfinished(struct nblog_console *c, struct panic_pos *p,
                            size_t *used, uint64_t *waiting_since, uint64_t deadline)
{
    uint64_t now = nblog__now_ns();
    if (*waiting_since == 0)
        *waiting_since = now;
    if (now - *waiting_since < PANIC_PENDING_WAIT_NS && now < deadline) {
        short_sleep(1000000);
        return 0;
    }
    char note[96];
    size_t len = nblog__format(note, sizeof note,
                               "** record %llu was never finished, skipped **",
                               (unsigned long long)p->seq);
    if (!append_notice(panic_batch, used, c, p->seq, note, len))
        return -1;
    *waiting_since = 0;
    return 1;
}

/* Renders records from p->seq up to upto into the panic batch, until it
 * is full; what they did goes to *b. */
static void panic_fill(struct nblog_console *c, const struct nblog__ring_hdr *r,
                       struct panic_pos *p, uint64_t upto, uint64_t deadline,
                       size_t *used, struct books *b)
{
    int level = atomic_load_explicit(&c->level, memory_order_relaxed);
    uint64_t waiting_since = 0;
    struct gap g = {0};
    for (;; ) {
        if (p->seq >= upto) {
            gap_close(panic_batch, used, c, &g, 1, &b->dropped, &b->filtered, &p->seq);
            return;
        }
        struct nblog__rec_meta m;
        enum nblog__read_result res =
            nblog__ring_read(r, p->seq, &m, panic_payload, sizeof panic_payload);
        if (res == NBLOG__READ_GONE) {
            uint64_t to = nblog__ring_after_gone(r, p->seq);
            gap_grow(&g, p->seq, to); /* no notice yet: see DROP NOTICES */
            p->seq = to;
            continue;
        }
        if (res != NBLOG__READ_OK) {
            /* Waiting for it may take long: the gap before it goes out
             * first (or, with no room, waits with it for the next fill). */
            uint64_t at = p->seq;
            gap_close(panic_batch, used, c, &g, 1, &b->dropped, &b->filtered, &p->seq);
            if (p->seq != at)
                return;
            int skipped = panic_unfinished(c, p, used, &waiting_since, deadline);
            if (skipped < 0)
                return;
            b->dropped += (uint64_t)skipped;
            p->seq += (uint64_t)skipped;
            continue;
        }
        waiting_since = 0;
        if (m.level > level) {
            gap_filter(&g, &b->filtered);
            p->seq++;
            continue;
        }
        if (p->seq < p->replay_end)
            m.flags |= NBLOG_F_REPLAYED;
        size_t len;
        const char *t = record_text(r, &m, panic_payload, panic_text, sizeof panic_text, &len);
        if (!append_after_gap(panic_batch, used, c, &g, &b->dropped, &b->filtered, &m, t,
                              len)) {
            gap_close(panic_batch, used, c, &g, 0, &b->dropped, &b->filtered, &p->seq);
            return;
        }
        b->printed++;
        p->seq++;
    }
}

/* Whether the first n bytes of buf, just written, leave a line unfinished
 * (n == 0: as it was). */
static int stops_mid_line(const char *buf, size_t n, int was)
{
    return n ? buf[n - 1] != '\n' : was;
}

/* Writes the rest of the batch the last owner left half written, and
 * publishes it. At the deadline the rest stays for the next owner (and
 * nothing more can be printed before it, in order). */
static void panic_finish(struct nblog_console *c, struct panic_pos *p, uint64_t deadline)
{
    size_t out;
    int rc = panic_write(c, c->batch + c->batch_off, c->batch_len - c->batch_off, deadline,
                         &out);
    c->batch_off += out;
    if (rc == -ETIMEDOUT) {
        p->incomplete = 1;
        return;
    }
    if (rc < 0) {
        atomic_store_explicit(&c->last_error, rc, memory_order_relaxed);
        p->torn = stops_mid_line(c->batch, c->batch_off, 0);
    }
    struct books b = {c->batch_printed, c->batch_filtered, c->batch_dropped};
    p->seq = c->batch_end_seq;
    publish(c, &b, rc < 0, p->seq);
    drop_batch(c);
}

/* Ends a line the output may have been left in the middle of, by a write
 * of its own: a datagram console (one record per send, never cut) then
 * gets an empty message rather than a record with a newline in front.
 * Returns 0 if it could not (the console is then incomplete). */
static int panic_new_line(struct nblog_console *c, struct panic_pos *p, uint64_t deadline)
{
    size_t out;
    int rc = panic_write(c, "\n", 1, deadline, &out);
    if (out == 1) {
        p->torn = 0;
        return 1;
    }
    if (rc < 0 && rc != -ETIMEDOUT)
        atomic_store_explicit(&c->last_error, rc, memory_order_relaxed);
    p->incomplete = 1;
    return 0;
}

/* Writes the rest of the line a displaced owner cut, from its batch (a
 * line there always ends in '\n' within LINE_MAX_BYTES). Returns 1 if the
 * line is whole now; 0 leaves p->torn for a newline. */
static int panic_finish_line(struct nblog_console *c, struct panic_pos *p, uint64_t deadline)
{
    size_t off = p->rest - 1, cap = BATCH_BYTES - off;
    p->rest = 0;
    if (off >= BATCH_BYTES)
        return 0;
    const char *nl = memchr(c->batch + off, '\n', cap < LINE_MAX_BYTES ? cap : LINE_MAX_BYTES);
    if (!nl)
        return 0;
    size_t out;
    panic_write(c, c->batch + off, (size_t)(nl + 1 - (c->batch + off)), deadline, &out);
    if (out == (size_t)(nl + 1 - (c->batch + off)))
        p->torn = 0;
    return !p->torn;
}

/* Our write stopped in the middle of a line: unless a displaced owner
 * holds the batch, the rest of that line becomes the console's pending
 * batch (no records of its own), which the next owner writes before
 * anything else, as it would its own half-written batch. */
static void panic_leave_rest(struct nblog_console *c, struct panic_pos *p, size_t out,
                             size_t used)
{
    /* Acquire: pairs with release()'s release decrement. */
    if (atomic_load_explicit(&c->displaced, memory_order_acquire) != 0)
        return;
    const char *nl = memchr(panic_batch + out, '\n', used - out);
    if (!nl)
        return;
    size_t n = (size_t)(nl + 1 - (panic_batch + out));
    drop_batch(c);
    memcpy(c->batch, panic_batch + out, n);
    c->batch_len = n;
    c->batch_end_seq = p->seq;
    p->torn = 0;
}

/* Prints everything console c has not printed up to upto, as panic. */
static void panic_console(struct nblog_console *c, const struct nblog__ring_hdr *r,
                          struct panic_pos *p, uint64_t upto, uint64_t deadline)
{
    if (!p->taken)
        panic_take(c, p);
    if (p->finish) {
        p->finish = 0;
        panic_finish(c, p, deadline);
    }
    if (p->rest)
        panic_finish_line(c, p, deadline);
    while (p->seq < upto && !p->incomplete) {
        if (p->torn && !panic_new_line(c, p, deadline))
            break;
        size_t used = 0, out = 0;
        struct books b = {0, 0, 0};
        uint64_t from = p->seq;
        panic_fill(c, r, p, upto, deadline, &used, &b);
        int rc = used ? panic_write(c, panic_batch, used, deadline, &out) : 0;
        if (used)
            p->torn = stops_mid_line(panic_batch, out, p->torn);
        if (rc == -ETIMEDOUT) {
            /* Not out, or only in part: still pending, and whoever prints
             * them next marks them replayed (see PANIC FLUSH). */
            if (out > 0 && p->seq > p->replay_end)
                p->replay_end = p->seq;
            p->seq = from;
            p->incomplete = 1;
            if (p->torn)
                panic_leave_rest(c, p, out, used);
            break;
        }
        if (rc < 0)
            atomic_store_explicit(&c->last_error, rc, memory_order_relaxed);
        publish(c, &b, rc < 0, p->seq);
        if (nblog__now_ns() >= deadline && p->seq < upto)
            p->incomplete = 1;
    }
}

/* What one pass of the panic flush leaves for whoever prints next (the
 * next pass, when dying, or the owners after a flush that returns): the
 * records it may have put out. (How its output ends is in out_cut.) */
static void panic_leave_notes(struct nblog_console *c, const struct panic_pos *p)
{
    /* Relaxed: published by the release CAS in panic_let_go (and to a
     * displaced owner's successor by its release decrement of displaced); a
     * next pass is this thread. */
    atomic_store_explicit(&c->replay_end, p->replay_end > p->seq ? p->replay_end : p->seq,
                          memory_order_relaxed);
    if (p->torn) /* a cut line we could not end, or assumed: the next owner ends it */
        atomic_store_explicit(&c->out_cut, OUT_CUT, memory_order_relaxed);
}

/* Lets go of a console after a panic flush that returns. */
static void panic_let_go(struct nblog_console *c, struct panic_pos *p)
{
    /* Release: pairs with release()'s acquire load in a displaced owner. */
    atomic_store_explicit(&c->panic_end, p->seq, memory_order_release);
    atomic_store_explicit(&c->inflight_end, p->seq, memory_order_relaxed);
    uint32_t word = p->word;
    /* Release: pairs with own()'s acquire CAS. */
    atomic_compare_exchange_strong_explicit(&c->owner, &word, 0, memory_order_release,
                                            memory_order_relaxed);
}

/* Drops a reference the panic took (with get(), which is signal-safe).
 * Dying, it keeps it: the console then stays out of the reaper's hands
 * (no teardown closes its fd) while the backtrace and the last pass still
 * print through it. */
static void panic_put(struct nblog_console *c, int dying)
{
    if (!dying)
        put(c);
}

int nblog__consoles_panic_flush(uint64_t deadline_ns, int keep_ownership)
{
    const struct nblog__ring_hdr *r = ring_now();
    if (!r)
        return 0;
    memset(panic_pos, 0, sizeof panic_pos);
    /* Records other threads store meanwhile (a second crash report) get
     * one more pass; a thread logging without end does not keep us. */
    uint64_t upto = 0;
    for (int pass = 0; pass < 3; pass++) {
        uint64_t head = nblog__ring_head(r);
        if (pass > 0 && head == upto)
            break;
        upto = head;
        for (int i = 0; i < MAX_CONSOLES; i++) {
            struct nblog_console *c = &pool[i];
            struct panic_pos *p = &panic_pos[i];
            if (!p->taken) {
                if (!get(c))
                    continue;
                if (!c->ops.write_atomic ||
                    atomic_load_explicit(&c->suspended, memory_order_acquire)) {
                    panic_put(c, keep_ownership);
                    continue;
                }
            }
            panic_console(c, r, p, upto, deadline_ns);
        }
    }
    int incomplete = 0;
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct panic_pos *p = &panic_pos[i];
        if (!p->taken)
            continue;
        incomplete += p->incomplete || p->seq < upto;
        panic_leave_notes(&pool[i], p);
        if (!keep_ownership)
            panic_let_go(&pool[i], p);
        panic_put(&pool[i], keep_ownership);
    }
    return incomplete;
}

size_t nblog__consoles_unflushable(char *names, size_t cap, int dying)
{
    size_t used = 0, n = 0;
    names[0] = '\0';
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &pool[i];
        if (!get(c))
            continue;
        int flushable = c->ops.write_atomic &&
                        !atomic_load_explicit(&c->suspended, memory_order_relaxed);
        if (flushable) {
            panic_put(c, dying);
            continue;
        }
        n++;
        if (used + 1 < cap) {
            used += nblog__format(names + used, cap - used, "%s%s", used ? ", " : "",
                                  c->name);
            if (used >= cap)
                used = cap - 1;
        }
        panic_put(c, dying);
    }
    return n;
}

/* ---------------------------------------------------------- fork, exit */

/* At exit (log.c's exit handler): a second for the consoles to print what
 * is pending; a console that could not is named on stderr, so nothing is
 * lost silently (the records stay in a ring file, if there is one, for
 * nblog dmesg). */
void nblog__consoles_exit_flush(void)
{
    char lagging[256];
    int n = nblog_flush(1000, lagging, sizeof lagging);
    if (n > 0)
        nblog__complain("at exit, %d console%s had not printed every record after 1 s: %s",
                        n, n == 1 ? "" : "s", lagging);
}

/* In the child: only the forking thread exists. Ownership words name
 * threads that are gone; printers are gone. Records stored before the fork
 * are the parent's to print; the child's consoles start at the head. */
static void after_fork_child(void)
{
    nblog__ring_fork_child(); /* first: the head below is the child's ring's */
    const struct nblog__ring_hdr *r = ring_now();
    uint64_t head = r ? nblog__ring_head(r) : 0;
    /* Their holders may have been other threads: start them unlocked. */
    pthread_mutex_init(&list_lock, NULL);
    pthread_mutex_init(&watch_lock, NULL);
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &pool[i];
        atomic_store_explicit(&c->owner, 0, memory_order_relaxed);
        atomic_store_explicit(&c->orphaned, 0, memory_order_relaxed);
        if (atomic_load_explicit(&c->state, memory_order_relaxed) != ACTIVE)
            continue;
        atomic_store_explicit(&c->orphaned, 1, memory_order_relaxed);
        drop_batch(c);
        c->start_seq = c->batch_end_seq = head;
        atomic_store_explicit(&c->next_seq, head, memory_order_relaxed);
        atomic_store_explicit(&c->inflight_end, head, memory_order_relaxed);
        atomic_store_explicit(&c->replay_end, head, memory_order_relaxed);
        atomic_store_explicit(&c->in_call, 0, memory_order_relaxed);
        atomic_store_explicit(&c->displaced, 0, memory_order_relaxed);
        atomic_store_explicit(&c->publishing, 0, memory_order_relaxed);
        atomic_store_explicit(&c->printed, 0, memory_order_relaxed);
        atomic_store_explicit(&c->filtered, 0, memory_order_relaxed);
        atomic_store_explicit(&c->dropped, 0, memory_order_relaxed);
        atomic_store_explicit(&c->write_failed, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&watch_started, 0, memory_order_relaxed);
    atomic_store_explicit(&printers_alive, 0, memory_order_relaxed);
    atomic_store_explicit(&need_restart, 1, memory_order_relaxed);
}

void nblog__consoles_restart_if_forked(void)
{
    if (!atomic_load_explicit(&need_restart, memory_order_relaxed) ||
        !atomic_exchange(&need_restart, 0))
        return;
    nblog__wallclock_restart_if_forked(ring_now()); /* wallclock.c, Fork */
    int any = 0;
    /* Only the consoles the fork orphaned: one registered in the child
     * since (before this ran) started its own printer, and a second would
     * put a reference that was never counted. Relaxed exchange: the child
     * has one thread until these printers start. */
    for (int i = 0; i < MAX_CONSOLES; i++)
        if (atomic_exchange_explicit(&pool[i].orphaned, 0, memory_order_relaxed) &&
            atomic_load_explicit(&pool[i].state, memory_order_acquire) == ACTIVE) {
            start_printer(&pool[i]);
            any = 1;
        }
    if (any)
        start_watch();
}

static void install_hooks(void)
{
    static _Atomic int done;
    if (atomic_exchange(&done, 1))
        return;
    pthread_atfork(NULL, NULL, after_fork_child);
}

void *nblog__console_ctx_get(nblog_console_t *con, const nblog_console_ops_t **ops,
                             int *err)
{
    struct nblog_console *c = handle_get(con, err);
    if (!c)
        return NULL;
    *ops = &c->ops;
    return c->ctx;
}

void nblog__console_ctx_put(nblog_console_t *con)
{
    uintptr_t idx = (uintptr_t)con & SLOT_MASK;
    assert(idx < MAX_CONSOLES);
    put(&pool[idx]);
}

void nblog__console_note_error(const void *ctx, int err)
{
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &pool[i];
        if (!get(c))
            continue;
        /* Relaxed: statistics, like write_batch's store. */
        if (c->ctx == ctx)
            atomic_store_explicit(&c->last_error, err, memory_order_relaxed);
        put(c);
    }
}

void nblog__consoles_foreach(void (*fn)(struct nblog_console *, void *), void *arg)
{
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &pool[i];
        if (!get(c))
            continue;
        fn(handle_of(c), arg); /* gen read under our reference */
        put(c);
    }
}

void nblog__consoles_open(void)
{
    lock_list();
    closed = 0;
    default_con = NULL; /* shutdown unregistered it */
    program_consoles = 0;
    unlock_list();
}

int nblog__consoles_shutdown(unsigned timeout_ms)
{
    nblog_flush(timeout_ms, NULL, 0);
    /* From here no registration succeeds, so the pass below sees every
     * console there will be (the lock orders it after any that did). */
    lock_list();
    closed = 1;
    unlock_list();
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &pool[i];
        if (!get(c))
            continue;
        detach(c);
        put_blocking(c);
    }
    uint64_t deadline = nblog__now_ns() + (uint64_t)timeout_ms * 1000000u;
    /* Acquire: pairs with printer_main's release decrement. */
    while (atomic_load_explicit(&printers_alive, memory_order_acquire) > 0) {
        if (nblog__now_ns() >= deadline)
            break;
        atomic_store(&sleep_flag, 0);
        futex(&sleep_flag, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
        short_sleep(1000000);
    }
    reap(); /* consoles a logging call let go last */
    return atomic_load_explicit(&printers_alive, memory_order_acquire) == 0;
}

void nblog__consoles_quiesce(void)
{
    pthread_mutex_lock(&watch_lock);
    pthread_mutex_unlock(&watch_lock);
}

/*
 * console_impl.h - what the console files (console.c, printer.c, watch.c,
 * panic_flush.c) share: the console struct, the pool, get/put and the
 * ownership word. Private to them. Layer: consoles.
 *
 * Where the design sections that comments name are: LIFECYCLE, WHO TEARS
 * DOWN, HANDLES, TRANSIENT REFERENCES, the list lock, NAMES and DEFAULT
 * CONSOLE in console.c; OWNERSHIP below; ONE EMIT PATH, DROP NOTICES and
 * HOW PRINTERS LEARN OF NEW RECORDS in printer.c; PANIC FLUSH in
 * panic_flush.c.
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
 */

#ifndef NBLOG_CONSOLE_IMPL_H
#define NBLOG_CONSOLE_IMPL_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "nblog.h"
#include "platform.h"
#include "ring.h"
#include "testhooks.h"

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
/* After the batch, in the same allocation: the emit step's scratch (a
 * record's payload, then its rendered text; struct emit) for fill_batch,
 * owner-only, kept off the stack of a logging caller (which may be a
 * signal handler on a small alternate stack). */
#define SCRATCH_BYTES (NBLOG__RECORD_SIZE_MAX + NBLOG__RECORD_SIZE_MAX + 1)

enum { FREE, SETUP, ACTIVE, DETACHED, DYING };
enum { OUT_WHOLE, OUT_CUT, OUT_CUT_AT }; /* out_cut */
enum { PRIO_NONE, PRIO_NORMAL, PRIO_EMERGENCY, PRIO_PANIC };

/* What a stretch of records did, to be added to a console's books. */
struct books {
    uint64_t printed, filtered, dropped;
};

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
    struct books batch_books; /* what the batch's records did */

    int stall_reported; /* stall watch thread only */
    pthread_t thread;
};

/* ------------------------------------------------------------ helpers */

static inline long futex(_Atomic uint32_t *word, int op, uint32_t val,
                  const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

static inline uint64_t clock_now(void)
{
    return NBLOG__TEST_HOOK_OR(nblog__console_clock, (), nblog__now_ns());
}

/* The ring the lifecycle handed down (console.c nblog__consoles_attach). */
extern _Atomic(struct nblog__ring_hdr *) nblog__consoles_ring;

static inline struct nblog__ring_hdr *ring_now(void)
{
    /* Acquire: pairs with nblog__consoles_attach's release store (made
     * once the ring is formatted), as it paired with map_ring's store of
     * the lifecycle's pointer when ring_now read that. */
    return atomic_load_explicit(&nblog__consoles_ring, memory_order_acquire);
}

/* get/put: see LIFECYCLE. get() returns 1 if the console may be used.
 * [signal-safe] */
static inline int get(struct nblog_console *c)
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
static inline void put(struct nblog_console *c)
{
    /* Release: our uses of the console come before the teardown, which
     * reads users with acquire (put_blocking, reap). */
    int was = atomic_fetch_sub_explicit(&c->users, 1, memory_order_release);
    assert(was > 0);
    (void)was;
}

/* ---------------------------------------------------------- ownership */

static inline uint32_t my_word(int prio)
{
    return nblog__tid() << 2 | (uint32_t)prio;
}

static inline int own(struct nblog_console *c, int prio, uint32_t *word)
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

static inline int still_own(struct nblog_console *c, uint32_t word)
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
static inline int may_print(struct nblog_console *c)
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

static inline void drop_batch(struct nblog_console *c)
{
    c->batch_len = c->batch_off = 0;
    c->batch_books = (struct books){0, 0, 0};
}

static inline void release(struct nblog_console *c, uint32_t word)
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

/* Records lost, for a drop notice (see DROP NOTICES in printer.c). */
struct gap {
    uint64_t first;    /* seq of the first record lost */
    uint64_t dropped;  /* records lost from first on (0: no gap) */
    uint64_t filtered; /* records filtered inside the gap */
};

/*
 * One fill of a buffer with a console's next lines, a step at a time
 * (nblog__emit_next_line; see ONE EMIT PATH in printer.c). Its callers,
 * fill_batch (printer threads, direct and emergency printing) and
 * panic_fill (the panic flush), each set one up with their own position,
 * buffers and books, and keep only their own policy: how many records,
 * when to stop, what to do at a record not yet written, ownership checks.
 */
struct emit {
    const struct nblog_console *c;
    const struct nblog__ring_hdr *r;
    int level;           /* the console's level, as the fill began */
    uint64_t replay_end; /* records below it are marked replayed */
    uint64_t *seq;       /* the next record to read (the caller's) */
    char *buf;           /* lines go here (BATCH_BYTES long), */
    size_t *used;        /* from *used on */
    char *scratch;       /* SCRATCH_BYTES: a record's payload, its text */
    struct books *b;     /* what the lines did (the caller's) */
    struct gap g;        /* records lost whose notice is not out yet */
};

/* What one step did. */
enum emit_step {
    EMIT_LINE,     /* its line (after the gap's notice, if any) is in buf;
                    * *seq moved on */
    EMIT_FILTERED, /* below the level: counted; *seq moved on */
    EMIT_GONE,     /* records lost: in the gap; *seq moved past them */
    EMIT_NOT_YET,  /* not written yet: *seq stays */
    EMIT_FULL,     /* no room for its line: *seq and the gap stay */
};

/* A bounded nap (ns < 1 s). */
static inline void short_sleep(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------- shared between the files */

/* console.c */
extern struct nblog_console nblog__console_pool[MAX_CONSOLES];
extern _Atomic int nblog__n_atomic_capable;
extern _Atomic int nblog__n_direct;
extern _Atomic uint32_t nblog__sleep_flag;
extern _Atomic int nblog__printers_alive;
void nblog__put_blocking(struct nblog_console *c);
void nblog__reap(void);
int nblog__start_thread(pthread_t *t, void *(*fn)(void *), void *arg);
uint64_t nblog__stalled_for(struct nblog_console *c, uint64_t lag, uint64_t now);

/* printer.c */
void *nblog__printer_main(void *arg);
int nblog__append_notice(char *buf, size_t *used, const struct nblog_console *c, uint64_t seq,
                         const char *text, size_t len);
enum emit_step nblog__emit_next_line(struct emit *e);
void nblog__emit_close(struct emit *e, int alone);
void nblog__publish(struct nblog_console *c, const struct books *b, int failed,
                    uint64_t end);

/* watch.c */
extern pthread_mutex_t nblog__watch_lock;
extern _Atomic int nblog__watch_started;
void nblog__start_watch(void);

/* Debug checkers (console.c says what each checks and who may call
 * them): 1 when the console is consistent. Only inside assert(); with
 * NDEBUG they check nothing and return 1. */
int nblog__console_check(const struct nblog_console *c);
int nblog__console_check_positions(const struct nblog_console *c,
                                   const struct nblog__ring_hdr *r);

#endif

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
 * MEMORY ORDERING (tags name each access, as in ring.c; the console
 * files' accesses carry them with "pairs with" at each site)
 *
 *   Lifetime (see HANDLES, TRANSIENT REFERENCES in console.c):
 *   L1  get(): fetch_add users, then load state, both seq_cst
 *   L2  detach(): CAS state ACTIVE -> DETACHED (seq_cst)
 *   L3  reap(): load state, load users, claim_teardown's CAS
 *       DETACHED -> DYING, all seq_cst
 *   L4  register: store state = ACTIVE (release), after SETUP's relaxed
 *       stores (fill_console, gen, users)
 *   L5  put() and get()'s back-off: fetch_sub users (release);
 *       put_blocking: fetch_sub users (acq_rel)
 *   L6  teardown_slot (and a failed register): store state = FREE (release)
 *   L7  register: CAS state FREE -> SETUP (acquire)
 *   L1 <-> L2/L3: the store-buffering pair: either the getter sees the slot
 *       leave ACTIVE, or the recycler sees users > 0 and leaves it alone.
 *   L4 -> L1 (its seq_cst load acquires): a user sees the console filled in.
 *   L5 -> L3/put_blocking: every use comes before the teardown (the RMWs
 *       on users form one release sequence).
 *   L6 -> L7: a new registration sees the teardown's writes done.
 *
 *   Ownership (see OWNERSHIP above, PANIC FLUSH in panic_flush.c):
 *   O1  own(): CAS owner 0 -> my word (acquire)
 *   O2  release() and panic_let_go: CAS my word -> 0 (release)
 *   O3  still_own(): load owner (seq_cst)
 *   O4  write_batch: store inflight_end (seq_cst), then O3
 *   O5  panic_take: exchange owner (seq_cst), then load publishing and
 *       in_call (O8), next_seq and inflight_end (seq_cst)
 *   O6  finish_batch: store publishing = 1 (seq_cst), then O3; store
 *       publishing = 0 (release)
 *   O7  owner_call: store in_call = 1 (seq_cst), then O3; store
 *       in_call = 0 (release), which publishes out_cut
 *   O8  wait_while_set: load publishing / in_call (seq_cst) until 0
 *   O2 -> O1: the new owner sees the batch, next_seq, replay_end and
 *       out_cut the previous one left (all relaxed or plain: ordered by
 *       the word). O5's exchange acquires from O2 when the word was free;
 *       taking it from an owner it learns nothing from that owner's O1
 *       (acquire only): what it needs of that owner comes by O4, O6-O8.
 *   O3 <-> O5 with O4: either the owner sees the takeover before writing,
 *       or the panic sees inflight_end and replays the batch.
 *   O6 <-> O5/O8: either the owner sees the panic and publishes nothing,
 *       or the panic waits for publishing = 0 and reads what was published.
 *   O7 <-> O5/O8: either the owner does not call, or the panic waits for
 *       the call to return and reads its out_cut.
 *   D1  panic_take: fetch_add displaced (acq_rel)
 *   D2  release() of a displaced owner, own()'s back-off: fetch_sub
 *       displaced (release)
 *   D3  own(), panic_take, panic_leave_rest: load displaced (acquire)
 *   D4  panic_let_go: store panic_end (release)
 *   D5  release() of a displaced owner: load panic_end (acquire)
 *   D2 -> D3: a displaced owner's clean-up (drop_batch, next_seq) comes
 *       before anyone takes the batch. D4 -> D5: the displaced owner moves
 *       next_seq up to what the panic printed (D4 is before O2 in panic_let_go).
 *
 *   Progress (N: next_seq and end_seq):
 *   N1  nblog__publish: relaxed adds to the counters, then store
 *       next_seq (release); release(): its repair of next_seq (release)
 *   N2  stats, flush, retire_default, the stall watch: load next_seq
 *       (acquire)
 *   N1 -> N2: counters read after next_seq include all up to it.
 *   N3  retire_default: store end_seq (release)
 *   N4  fill_batch: load end_seq (acquire); printer_main's is relaxed
 *   N3 -> N4: the value only; nothing else is published with it.
 *
 *   Flags:
 *   F1  may_print(): load state and suspended (seq_cst)
 *   F2  suspend: store suspended = 1 (seq_cst); detach's L2
 *   F2 <-> F1: one total order, so once suspend or unregister returns no
 *       new write starts (the one in progress completes).
 *   F3  resume: store suspended = 0 (release); the other loads of
 *       suspended (printer_main, notify, the panic flush: acquire; flush,
 *       stats, retire_default, the stall watch, unflushable: relaxed) only
 *       choose what to skip, and F1
 *       decides before any write: the acquire ones order nothing needed.
 *
 *   The ring and the printers:
 *   K1  nblog__consoles_attach: store nblog__consoles_ring (release)
 *   K2  ring_now(): load it (acquire)
 *   K1 -> K2: a console sees the ring formatted.
 *   Z1  writer: fetch_add head (seq_cst, ring.c H1), then notify's load
 *       and exchange of sleep_flag (seq_cst)
 *   Z2  wait_for_records: store sleep_flag = 1 (seq_cst), then load head
 *       (seq_cst), then futex-wait
 *   Z1 <-> Z2: store-buffering: either the printer sees the new head, or
 *       the writer sees the flag and wakes it (see HOW PRINTERS LEARN...).
 *       The other stores of 0 (wake_printers, flush, detach, shutdown;
 *       seq_cst) only precede a futex_wake; the printer's own clear is
 *       relaxed (a hint).
 *   A1  printer_main: fetch_sub printers_alive (release), its last act
 *   A2  nblog__consoles_shutdown: load printers_alive (acquire)
 *   A1 -> A2: a printer's last reads of the ring come before shutdown
 *       goes on.
 *
 *   Relaxed, with nothing to pair: the counters (printed, filtered,
 *   dropped, write_failed, last_error, last_progress_ns), n_direct,
 *   n_atomic_capable, printers_paused and its naps, level (statistics or
 *   filters: a stale value skips or takes one more record or console);
 *   the fields set in SETUP (published by L4) and in the fork child (one
 *   thread); replay_end and out_cut (ordered by the word, O1/O2, or by
 *   O7/O8); gen (ordered by L1/L4, see HANDLES); the first loads of get()
 *   and handle_get (filters, checked again under L1).
 *
 * The batch (below "Owner only" in struct nblog_console) is written only
 * by the owner. next_seq is the owner's too (nblog__publish) but for two
 * writers that do not own: a displaced owner's release() moves it up to
 * panic_end, and register (SETUP) and the fork child set it. The counters
 * are atomics so stats can read them from anywhere.
 */

#ifndef NBLOG_CONSOLE_IMPL_H
#define NBLOG_CONSOLE_IMPL_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
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
#define BATCH_BYTES 262144  /* one write() of many records; holds NBLOG_LINE_MAX */
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
/* The last call site an emit step looked up, for the formats that show
 * it (nblog__line_fmt.wants_loc); in the scratch, reset by each fill. */
struct emit_loc {
    uint32_t site; /* 0: none yet */
    int ok;
    struct nblog__loc loc;
};
/* A record's payload, its text, then (8-byte aligned) the last call site
 * looked up (struct emit_loc): off the stack, which a signal handler
 * printing directly may have little of. */
#define SCRATCH_LOC_OFF ((NBLOG__PAYLOAD_MAX + NBLOG__PAYLOAD_MAX + 1 + 7) & ~(size_t)7)
#define SCRATCH_BYTES (SCRATCH_LOC_OFF + sizeof(struct emit_loc))
/* The scratch's struct emit_loc, forgotten (a fill's start: the ring may
 * be another). scratch is 8-byte aligned. */
static inline struct emit_loc *emit_loc_of(char *scratch, int reset)
{
    struct emit_loc *el = (struct emit_loc *)(void *)(scratch + SCRATCH_LOC_OFF);
    assert((uintptr_t)el % 8 == 0);
    if (reset)
        el->site = 0;
    return el;
}

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
    struct nblog__line_fmt lf; /* the format, compiled, and whose lines */
    unsigned stall_ms;
    _Atomic int level;
    _Atomic int suspended;
    _Atomic uint32_t owner;

    /* Counters: atomics, added to by the owner, read by anyone. */
    _Atomic uint64_t printed, filtered, dropped, write_failed;
    /* Written by the owner (nblog__publish), by a displaced owner in
     * release() (up to panic_end), in SETUP and in the fork child; anyone
     * reads (acquire, N2). */
    _Atomic uint64_t next_seq;
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

static inline uint64_t clock_now(void)
{
    return NBLOG__TEST_HOOK_OR(nblog__console_clock, (), nblog__now_ns());
}

/* The ring the lifecycle handed down (console.c nblog__consoles_attach). */
extern _Atomic(struct nblog__ring_hdr *) nblog__consoles_ring;

static inline struct nblog__ring_hdr *ring_now(void)
{
    /* K2, acquire: pairs with K1, nblog__consoles_attach's release store (made
     * once the ring is formatted), as it paired with map_ring's store of
     * the lifecycle's pointer when ring_now read that. */
    return atomic_load_explicit(&nblog__consoles_ring, memory_order_acquire);
}

/* What an output's write or write_atomic returned, for n bytes given: a
 * count above n (an output's bug) is taken as n, so the books count what
 * was given and nothing reads or skips past the buffer. [signal-safe] */
static inline ssize_t nblog__written(ssize_t w, size_t n)
{
    return w > 0 && (size_t)w > n ? (ssize_t)n : w;
}

/* get/put: see LIFECYCLE. get() returns 1 if the console may be used.
 * [signal-safe] */
static inline int get(struct nblog_console *c)
{
    /* A filter only (see TRANSIENT REFERENCES): a slot seen not ACTIVE is
     * left untouched. Relaxed: the checked load below (L1) decides. */
    if (atomic_load_explicit(&c->state, memory_order_relaxed) != ACTIVE)
        return 0;
    /* L1, seq_cst both: the getter side of the store-buffering pair with
     * L2 (unregister) and L3 (reap) (see HANDLES); acquire too, pairing
     * with L4, register's release store of ACTIVE, so a user sees the
     * console's fields filled in. */
    atomic_fetch_add_explicit(&c->users, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&c->state, memory_order_seq_cst) == ACTIVE)
        return 1;
    /* L5, release: pairs with the acquire load of users in reap (L3) and
     * put_blocking (an RMW: the release sequence carries it). */
    atomic_fetch_sub_explicit(&c->users, 1, memory_order_release);
    return 0;
}

/* Drops a reference and nothing else: a DETACHED console left without
 * users is the reaper's (see WHO TEARS DOWN). [signal-safe] */
static inline void put(struct nblog_console *c)
{
    /* L5, release: our uses of the console come before the teardown, which
     * reads users with acquire (put_blocking, reap: L3). */
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
    /* Relaxed load; the CAS is O1, acquire: pairs with O2 (release(),
     * panic_let_go) so the new owner sees the batch and next_seq the
     * previous owner left. */
    uint32_t cur = atomic_load_explicit(&c->owner, memory_order_relaxed);
    for (;;) {
        if (cur != 0 && prio < PRIO_PANIC)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&c->owner, &cur, me,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    /* D3, acquire: pairs with D2, the displaced owner's release decrement
     * in release(); until then its batch is its own, so nobody else may
     * own. The CAS back to 0 is O2 (release: we touched nothing). */
    if (prio < PRIO_PANIC && atomic_load_explicit(&c->displaced, memory_order_acquire)) {
        if (!atomic_compare_exchange_strong_explicit(&c->owner, &me, 0, memory_order_release,
                                                     memory_order_relaxed))
            /* A panic took it from us meanwhile and counted us displaced;
             * we touched nothing: take the count back (D2). */
            atomic_fetch_sub_explicit(&c->displaced, 1, memory_order_release);
        return 0;
    }
    *word = me;
    return 1;
}

static inline int still_own(struct nblog_console *c, uint32_t word)
{
    /* O3, seq_cst (a plain load on x86): with O4, write_batch's seq_cst
     * store of inflight_end, and O5, the panic's seq_cst exchange and
     * load, either we
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
    /* F1, seq_cst both: with unregister's seq_cst CAS to DETACHED (L2)
     * and suspend's seq_cst store (F2), all in the one total order. A check that
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
    /* O2, release: pairs with O1, own()'s acquire CAS (and O5's exchange). */
    if (atomic_compare_exchange_strong_explicit(&c->owner, &word, 0,
                                                memory_order_release,
                                                memory_order_relaxed))
        return;
    /* A panic flush took the console from us (nothing else takes a word
     * that is not free). Our batch is stale (the panic printed those
     * records again), and a next_seq we published in the instant it took
     * over may be behind what it printed. */
    drop_batch(c);
    /* D5, acquire: pairs with D4, the panic's release store of panic_end.
     * The repair of next_seq is N1's (release; read by N2). */
    uint64_t end = atomic_load_explicit(&c->panic_end, memory_order_acquire);
    if (atomic_load_explicit(&c->next_seq, memory_order_relaxed) < end)
        atomic_store_explicit(&c->next_seq, end, memory_order_release);
    /* D2, release: pairs with D3, own()'s and the panic's acquire loads
     * (and D1's acq_rel add); the batch is clean. */
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

/*
 * console.c - consoles: outputs that read the store, each on its own;
 * this file holds the pool, the registry and the public console API.
 *
 * Where the rest is (see console_impl.h for what they share):
 *   console_impl.h  the console struct, get/put, the ownership word
 *                   (OWNERSHIP)
 *   printer.c       the print engine, printer threads, wake-ups, direct
 *                   and emergency printing, flush (HOW PRINTERS LEARN...)
 *   watch.c         the stall watch
 *   panic_flush.c   takeover and the panic's pass loop (PANIC FLUSH)
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
 * another thread's init (lock_list: the env's init_wait_off; a setup
 * callback or a signal handler that logs gets NBLOG_ENOTREADY before READY
 * rather than stall the init for its second), and a registration from
 * another thread waits for READY before it takes the lock (init_wait).
 *
 * MEMORY ORDERING: the tags and their pairs are listed in console_impl.h
 * (MEMORY ORDERING). This file's: K1 (attach); L2 (detach), L3 (reap,
 * claim_teardown), L4 (register's ACTIVE), L5 (put_blocking), L6/L7
 * (FREE); F2 (suspend), F3 (resume); N2 (stats, retire_default), N3
 * (retire_default's end_seq); A2 (shutdown). The rest is relaxed: the
 * fields register sets in SETUP (published by L4), the fork child's
 * resets (one thread), gen (under L1/L4), the counters, n_direct and
 * n_atomic_capable (filters), under the list lock name_in_use's loads.
 *
 * WHAT COMES FROM ABOVE. The console layer calls nothing above it: the
 * lifecycle (lifecycle.c) hands down the ring (nblog__consoles_attach,
 * read by ring_now) and provides the table of what the consoles need of
 * the layers above (struct nblog__console_env, console.h: the lazy init,
 * its waits, the report function the consoles' notices go through); its
 * fork handler calls nblog__consoles_fork_child once the child's ring is
 * attached.
 */

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "console_impl.h"
#include "format.h"
#include "nblog.h"
#include "wallclock.h"

struct nblog_console nblog__console_pool[MAX_CONSOLES];
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;

/* The ring, handed down (console.h nblog__consoles_attach). */
_Atomic(struct nblog__ring_hdr *) nblog__consoles_ring;

void nblog__consoles_attach(struct nblog__ring_hdr *r)
{
    /* K1, release: pairs with K2, ring_now's acquire load (console_impl.h). */
    atomic_store_explicit(&nblog__consoles_ring, r, memory_order_release);
}

/* list_lock, marked for the lifecycle's init wait (see The list lock): on
 * before the lock is taken, off after it is let go, so a signal handler
 * between sees it too. */
static void lock_list(void)
{
    nblog__console_env.init_wait_off(1);
    pthread_mutex_lock(&list_lock);
}

static void unlock_list(void)
{
    pthread_mutex_unlock(&list_lock);
    nblog__console_env.init_wait_off(0);
}
/* list_lock: set by nblog_shutdown before it unregisters every console,
 * cleared by the next nblog_init. A registration racing with shutdown
 * either lands before (and is unregistered by it) or is refused. */
static int closed;
/* See DEFAULT CONSOLE. */
static nblog_console_t *default_con; /* list_lock */
static unsigned program_consoles;    /* list_lock; since the last init */
static __thread int init_thread;     /* this thread registers init's consoles */
_Atomic int nblog__n_atomic_capable; /* consoles with write_atomic */
_Atomic int nblog__n_direct;         /* consoles in direct mode */
_Atomic uint32_t nblog__sleep_flag;  /* printers asleep: wake on commit */
_Atomic int nblog__consoles_need_restart; /* forked: printers are gone */
_Atomic int nblog__printers_alive;   /* printer threads not yet exited */

#ifndef NDEBUG
static int registry_check(void); /* debug checkers: the end of the file */
#endif

#ifdef NBLOG_TEST_HOOKS
/* The clock the stall watch uses; tests replace it (testhooks.h). */
uint64_t (*_Atomic nblog__console_clock)(void) = nblog__now_ns;
#endif

/* Runs teardown of a console we moved to DYING, then frees the slot. */
static void teardown_slot(struct nblog_console *c)
{
    assert(atomic_load_explicit(&c->state, memory_order_relaxed) == DYING);
    if (c->ops.teardown)
        c->ops.teardown(c->ctx);
    free(c->batch);
    c->batch = NULL;
    /* L6, release: pairs with L7, register's acquire CAS on FREE. */
    atomic_store_explicit(&c->state, FREE, memory_order_release);
}

/* Elects the one teardown of a DETACHED console without users. */
static int claim_teardown(struct nblog_console *c)
{
    int expected = DETACHED;
    /* L3, seq_cst: the recycler side of the pair described at HANDLES
     * (with L1). */
    return atomic_compare_exchange_strong_explicit(&c->state, &expected, DYING,
                                                   memory_order_seq_cst,
                                                   memory_order_relaxed);
}

/* put() for a thread that may block: if it dropped the last reference of
 * a DETACHED console, it tears it down here. [blocking] */
void nblog__put_blocking(struct nblog_console *c)
{
    /* L5, acq_rel: the last user sees every other user's writes (their
     * L5 releases) before it tears down. */
    int was = atomic_fetch_sub_explicit(&c->users, 1, memory_order_acq_rel);
    assert(was > 0);
    /* Two users can each drop the count to zero (a get() that found the
     * console detached puts back); the CAS elects one. */
    if (was == 1 && claim_teardown(c))
        teardown_slot(c);
}

/* Tears down every DETACHED console left without users by put(). Any
 * thread that may block. [blocking] */
void nblog__reap(void)
{
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &nblog__console_pool[i];
        /* L3, seq_cst loads: the recycler side of the pair at HANDLES (with
         * L1; acquire too, pairing with the users' L5); a get()
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
    return (nblog_console_t *)(gen << SLOT_BITS | (uintptr_t)(c - nblog__console_pool));
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
    struct nblog_console *c = &nblog__console_pool[idx];
    /* Relaxed: a filter, like get()'s first load (see TRANSIENT
     * REFERENCES): a handle of another generation does not raise users of
     * the slot's current console. Checked again under the reference. */
    uintptr_t now = atomic_load_explicit(&c->gen, memory_order_relaxed);
    if (now == gen && get(c)) {
        /* Relaxed: get() ordered it (L1/L4, see HANDLES). */
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

static void install_hooks(void);

/* A detached thread of nblog's (a printer, the stall watch): takes none
 * of the program's signals (platform.h, nblog__thread_create). */
int nblog__start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    return nblog__thread_create(t, 1, fn, arg);
}

static int start_printer(struct nblog_console *c)
{
    atomic_fetch_add_explicit(&nblog__printers_alive, 1, memory_order_relaxed);
    int rc = nblog__start_thread(&c->thread, nblog__printer_main, c);
    if (rc != 0)
        atomic_fetch_sub_explicit(&nblog__printers_alive, 1, memory_order_relaxed);
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
        const struct nblog_console *c = &nblog__console_pool[i];
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
        !init_thread && default_con ? &nblog__console_pool[(uintptr_t)default_con & SLOT_MASK] : NULL;
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
                        void *ctx, const struct nblog__line_id *id,
                        const nblog_console_opts_t *o, const struct nblog__ring_hdr *r)
{
    char why[256];
    if (nblog__line_fmt_init(&c->lf, o, id, why, sizeof why) != NBLOG_OK) {
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
    atomic_store_explicit(&nblog__sleep_flag, 0, memory_order_seq_cst);
    nblog__futex_wake(&nblog__sleep_flag, INT_MAX);
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
    /* N3, release: pairs with N4, fill_batch's acquire load (the value
     * only). */
    atomic_store_explicit(&c->end_seq, end, memory_order_release);
    uint64_t deadline = nblog__now_ns() + (uint64_t)RETIRE_WAIT_MS * 1000000u;
    /* N2, acquire: pairs with N1, nblog__publish's release store of
     * next_seq. Relaxed suspended: a filter (F3). */
    while (atomic_load_explicit(&c->next_seq, memory_order_acquire) < end &&
           !atomic_load_explicit(&c->suspended, memory_order_relaxed) &&
           nblog__now_ns() < deadline) {
        wake_printers();
        nblog__sleep_ns(1000000);
    }
    detach(c);
    nblog__put_blocking(c);
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
    return nblog__console_register_id(ops, ctx, NULL, opts, out);
}

int nblog__console_register_id(const nblog_console_ops_t *ops, void *ctx,
                               const struct nblog__line_id *id,
                               const nblog_console_opts_t *opts, nblog_console_t **out)
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
        nblog__console_env.init_lazily(1);
        if (!ring_now())
            return NBLOG_ENOTREADY;
    }
    /* Another thread's init in progress (STARTING: the ring is published)
     * needs the list lock for its consoles at init: wait for READY (1 s at
     * most) before taking it, so our setup callback can log. Not on the
     * initialising thread. */
    nblog__console_env.init_wait();
    install_hooks();
    /* In a forked child, the consoles the fork orphaned get their printers
     * back before anything else changes the pool. */
    nblog__consoles_restart_if_forked();
    nblog__reap(); /* consoles let go by put(): their slots become free */
    nblog_console_t *retiring = NULL;
    uint64_t start = 0;
    lock_list();
    struct nblog_console *c = NULL;
    for (int i = 0; i < MAX_CONSOLES && !c && !closed; i++) {
        int expected = FREE;
        /* Any FREE slot, whatever users says: a reference counted there is
         * a late get() that backs off (see TRANSIENT REFERENCES). L7,
         * acquire: pairs with L6, teardown_slot's release store of FREE, so
         * we see the teardown's writes (and, through its acquire of users,
         * every user's). */
        if (atomic_compare_exchange_strong_explicit(&nblog__console_pool[i].state, &expected, SETUP,
                                                    memory_order_acquire,
                                                    memory_order_relaxed))
            c = &nblog__console_pool[i];
    }
    if (c) /* a new console: never one a fork orphaned (see orphaned) */
        atomic_store_explicit(&c->orphaned, 0, memory_order_relaxed);
    int rc = closed ? NBLOG_ENOTREADY
             : c    ? fill_console(c, ops, ctx, id, opts, ring_now())
                    : NBLOG_ENOMEM;
    if (rc == NBLOG_OK) {
        /* A new generation: handles of the slot's earlier consoles go
         * stale (see HANDLES). Relaxed: SETUP, published by ACTIVE. */
        uintptr_t gen = atomic_load_explicit(&c->gen, memory_order_relaxed);
        atomic_store_explicit(&c->gen, gen >= GEN_MAX ? 1 : gen + 1, memory_order_relaxed);
        /* References: the registration's and the printer thread's. */
        atomic_fetch_add_explicit(&c->users, 2, memory_order_relaxed);
        /* L4, release: pairs with L1, get()'s acquire load of ACTIVE. */
        atomic_store_explicit(&c->state, ACTIVE, memory_order_release);
        if (start_printer(c) != 0) {
            atomic_fetch_sub_explicit(&c->users, 1, memory_order_relaxed);
            atomic_store_explicit(&c->state, DETACHED, memory_order_release);
            nblog__put_blocking(c);
            rc = NBLOG_ENOMEM;
        } else {
            if (ops->write_atomic)
                atomic_fetch_add_explicit(&nblog__n_atomic_capable, 1, memory_order_relaxed);
            if (opts->mode == NBLOG_MODE_DIRECT)
                atomic_fetch_add_explicit(&nblog__n_direct, 1, memory_order_relaxed);
            *out = handle_of(c);
            if (!init_thread) { /* the program's own (see DEFAULT CONSOLE) */
                program_consoles++;
                retiring = default_con;
                default_con = NULL;
                start = c->start_seq;
            }
            assert(nblog__console_check(c));
        }
    } else if (c) {
        atomic_store_explicit(&c->state, FREE, memory_order_release);
    }
    assert(registry_check());
    unlock_list();
    if (retiring)
        retire_default(retiring, start);
    if (rc == NBLOG_OK)
        nblog__start_watch();
    return rc;
}

/* ACTIVE -> DETACHED under the list lock; 0 if it was not ACTIVE. The
 * caller holds a reference, so the slot is the one it looked up. */
static int detach(struct nblog_console *c)
{
    lock_list();
    int expected = ACTIVE;
    /* L2, seq_cst: a get() after it fails (L1, see HANDLES), and a
     * may_print() after it stops (F1); the printer's acquire load of
     * state reads it and lets go (the value only). */
    int ok = atomic_compare_exchange_strong_explicit(&c->state, &expected, DETACHED,
                                                     memory_order_seq_cst,
                                                     memory_order_relaxed);
    if (ok) {
        if (c->ops.write_atomic)
            atomic_fetch_sub_explicit(&nblog__n_atomic_capable, 1, memory_order_relaxed);
        if (c->mode == NBLOG_MODE_DIRECT)
            atomic_fetch_sub_explicit(&nblog__n_direct, 1, memory_order_relaxed);
    }
    assert(registry_check());
    unlock_list();
    if (!ok)
        return 0;
    /* Wake a sleeping printer so it sees DETACHED and lets go. */
    atomic_store_explicit(&nblog__sleep_flag, 0, memory_order_seq_cst);
    nblog__futex_wake(&nblog__sleep_flag, INT_MAX);
    nblog__put_blocking(c); /* the registration's reference */
    return 1;
}

int nblog_console_unregister(nblog_console_t *con)
{
    int err;
    struct nblog_console *c = handle_get(con, &err);
    if (!c)
        return err;
    int ok = detach(c);
    nblog__put_blocking(c);
    return ok ? NBLOG_OK : NBLOG_ESTALE; /* another unregister won */
}

int nblog_console_suspend(nblog_console_t *con)
{
    int err;
    struct nblog_console *c = handle_get(con, &err);
    if (!c)
        return err;
    /* F2, seq_cst: pairs with F1, may_print()'s seq_cst load, as unregister's CAS
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
    /* F3, release: the acquire loads of suspended outside may_print (F1)
     * read it; nothing they need is published with it. */
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

uint64_t nblog__stalled_for(struct nblog_console *c, uint64_t lag, uint64_t now)
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
    assert(nblog__console_check(c));
    const struct nblog__ring_hdr *r = ring_now();
    memset(st, 0, sizeof *st);
    memcpy(st->name, c->name, sizeof st->name);
    /* N2, acquire: pairs with N1, nblog__publish's release store of
     * next_seq (printer.c), so the counters read below include everything
     * up to next_seq. */
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
    st->stalled_ns = nblog__stalled_for(c, st->lag, clock_now());
    put(c);
    return NBLOG_OK;
}

/* ---------------------------------------------------------------- fork */

/* Set by the first registration (install_hooks): until then the fork hook
 * does nothing, as when it was registered by the first registration (a
 * child of a process that never registered a console restarts nothing:
 * wallclock.c, Fork). Relaxed: read in the child, which has one thread. */
static _Atomic int fork_hook_armed;

/* In the child: only the forking thread exists. Ownership words name
 * threads that are gone; printers are gone. Records stored before the fork
 * are the parent's to print; the child's consoles start at the head (of
 * the child's ring: the lifecycle's fork handler attached it first). */
void nblog__consoles_fork_child(void)
{
    if (!atomic_load_explicit(&fork_hook_armed, memory_order_relaxed))
        return;
    const struct nblog__ring_hdr *r = ring_now();
    uint64_t head = r ? nblog__ring_head(r) : 0;
    /* Their holders may have been other threads: start them unlocked. */
    pthread_mutex_init(&list_lock, NULL);
    pthread_mutex_init(&nblog__watch_lock, NULL);
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &nblog__console_pool[i];
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
    atomic_store_explicit(&nblog__watch_started, 0, memory_order_relaxed);
    atomic_store_explicit(&nblog__printers_alive, 0, memory_order_relaxed);
    atomic_store_explicit(&nblog__consoles_need_restart, 1, memory_order_relaxed);
}

void nblog__consoles_restart_if_forked(void)
{
    if (!atomic_load_explicit(&nblog__consoles_need_restart, memory_order_relaxed) ||
        !atomic_exchange_explicit(&nblog__consoles_need_restart, 0, memory_order_seq_cst))
        return;
    nblog__wallclock_restart_if_forked(ring_now()); /* wallclock.c, Fork */
    int any = 0;
    /* Only the consoles the fork orphaned: one registered in the child
     * since (before this ran) started its own printer, and a second would
     * put a reference that was never counted. Relaxed exchange: the
     * seq_cst exchange of nblog__consoles_need_restart above elects the
     * one thread that runs this loop; the acquire load of state pairs
     * with L4 (a console registered in the child). */
    for (int i = 0; i < MAX_CONSOLES; i++)
        if (atomic_exchange_explicit(&nblog__console_pool[i].orphaned, 0, memory_order_relaxed) &&
            atomic_load_explicit(&nblog__console_pool[i].state, memory_order_acquire) == ACTIVE) {
            start_printer(&nblog__console_pool[i]);
            any = 1;
        }
    if (any)
        nblog__start_watch();
}

static void install_hooks(void)
{
    /* Relaxed: see fork_hook_armed. */
    atomic_store_explicit(&fork_hook_armed, 1, memory_order_relaxed);
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
    put(&nblog__console_pool[idx]);
}

void nblog__console_note_error(const void *ctx, int err)
{
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &nblog__console_pool[i];
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
        struct nblog_console *c = &nblog__console_pool[i];
        if (!get(c))
            continue;
        fn(handle_of(c), arg); /* gen read under our reference */
        put(c);
    }
}

void nblog__consoles_reopen(const nblog_console_ops_t *ops, void (*reopen)(void *ctx))
{
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &nblog__console_pool[i];
        if (!get(c))
            continue;
        if (c->ops.write == ops->write) /* registered with ops (a copy) */
            reopen(c->ctx);
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
        struct nblog_console *c = &nblog__console_pool[i];
        if (!get(c))
            continue;
        detach(c);
        nblog__put_blocking(c);
    }
    uint64_t deadline = nblog__now_ns() + (uint64_t)timeout_ms * 1000000u;
    /* A2, acquire: pairs with A1, printer_main's release decrement. */
    while (atomic_load_explicit(&nblog__printers_alive, memory_order_acquire) > 0) {
        if (nblog__now_ns() >= deadline)
            break;
        atomic_store_explicit(&nblog__sleep_flag, 0, memory_order_seq_cst);
        nblog__futex_wake(&nblog__sleep_flag, INT_MAX);
        nblog__sleep_ns(1000000);
    }
    nblog__reap(); /* consoles a logging call let go last */
    return atomic_load_explicit(&nblog__printers_alive, memory_order_acquire) == 0; /* A2 */
}

void nblog__consoles_quiesce(void)
{
    pthread_mutex_lock(&nblog__watch_lock);
    pthread_mutex_unlock(&nblog__watch_lock);
}

/* ------------------------------------------------------- debug checkers
 *
 * Whole-structure checks, called only inside assert() (SQLite's
 * assert_pager_state); 1 when what they check holds. With NDEBUG nothing
 * calls them and their bodies are left out. Each checks only what holds
 * for its caller whatever the other threads do meanwhile:
 *
 *   nblog__console_check            a holder of a reference (get(),
 *                                   handle_get(), the printer's, the
 *                                   registration's) or of the list lock
 *                                   that found the console ACTIVE
 *   nblog__console_check_positions  the same, reading c's records from r
 *                                   (a printer thread, its ring)
 *   registry_check                  the list lock's holder
 *
 * What the owner alone may look at (the batch) is asserted where the
 * owner uses it (printer.c).
 */

/* The console's own fields, as LIFECYCLE, OWNERSHIP and the books
 * promise them to a reference holder:
 *   - state is ACTIVE or DETACHED (a reference keeps it from teardown);
 *     users counts ours (>= 1), and while ACTIVE the registration's too
 *     (>= 2). users is loaded first: the registration's reference goes
 *     only after the state left ACTIVE, which it never comes back to
 *     while a reference is held, so ACTIVE loaded after users was ACTIVE
 *     when users was loaded;
 *   - what SETUP wrote and nobody changes while it is used: a generation
 *     in [1, GEN_MAX], a printable name of 1..NBLOG_CONSOLE_NAME_MAX
 *     bytes, a write op, a mode and format in range (direct mode has
 *     write_atomic), a stall bound, the batch;
 *   - one-word facts that hold at every instant: the owner word is 0 or
 *     carries a priority; the level is a level; the flags are 0 or 1;
 *     displaced is at least -1 (see its comment); out_cut says whole, cut,
 *     or cut at an offset inside the batch;
 *   - the books: every record in [start_seq, next_seq) was counted once
 *     (printed, filtered, dropped or write_failed) before next_seq moved
 *     past it (release stores of next_seq after the adds; a panic that
 *     could not wait for a displaced owner may count some twice, never
 *     none), so with next_seq loaded (acquire) before the counters, their
 *     sum is at least next_seq - start_seq. Only at least: a publish
 *     between the loads adds to the counters first. */
int nblog__console_check(const struct nblog_console *c)
{
#ifndef NDEBUG
    struct nblog_console *m = (struct nblog_console *)c; /* C11 atomics: non-const */
    int users = atomic_load_explicit(&m->users, memory_order_seq_cst);
    int state = atomic_load_explicit(&m->state, memory_order_seq_cst);
    if (state == ACTIVE ? users < 2 : state != DETACHED || users < 1)
        return 0;
    uintptr_t gen = atomic_load_explicit(&m->gen, memory_order_relaxed);
    const char *nul = memchr(c->name, '\0', sizeof c->name);
    size_t n = nul ? (size_t)(nul - c->name) : sizeof c->name;
    if (gen == 0 || gen > GEN_MAX || n == 0 || n > NBLOG_CONSOLE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c->name[i] < 0x20 || (unsigned char)c->name[i] > 0x7e)
            return 0;
    if (!c->ops.write || !c->batch || c->stall_ms == 0 ||
        (c->mode != NBLOG_MODE_THREADED && c->mode != NBLOG_MODE_DIRECT) ||
        (c->mode == NBLOG_MODE_DIRECT && !c->ops.write_atomic) ||
        c->format < NBLOG_FORMAT_PLAIN || c->format > NBLOG_FORMAT_PATTERN)
        return 0;
    uint32_t owner = atomic_load_explicit(&m->owner, memory_order_relaxed);
    int level = atomic_load_explicit(&m->level, memory_order_relaxed);
    size_t cut = atomic_load_explicit(&m->out_cut, memory_order_relaxed);
    if ((owner != 0 && (owner & 3u) == PRIO_NONE) || level < 0 || level > NBLOG_LEVEL_DEBUG ||
        (cut != OUT_WHOLE && cut != OUT_CUT && (cut < OUT_CUT_AT || cut - OUT_CUT_AT >= BATCH_BYTES)))
        return 0;
    _Atomic int *flags[] = {&m->suspended, &m->in_call, &m->publishing, &m->orphaned};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int f = atomic_load_explicit(flags[i], memory_order_relaxed);
        if (f != 0 && f != 1)
            return 0;
    }
    if (atomic_load_explicit(&m->displaced, memory_order_relaxed) < -1)
        return 0;
    /* Acquire: pairs with nblog__publish's (and release()'s) release store. */
    uint64_t next = atomic_load_explicit(&m->next_seq, memory_order_acquire);
    uint64_t sum = atomic_load_explicit(&m->printed, memory_order_relaxed) +
                   atomic_load_explicit(&m->filtered, memory_order_relaxed) +
                   atomic_load_explicit(&m->dropped, memory_order_relaxed) +
                   atomic_load_explicit(&m->write_failed, memory_order_relaxed);
    if (next < c->start_seq || sum < next - c->start_seq)
        return 0;
#else
    (void)c;
#endif
    return 1;
}

/* c's positions in r, the ring its caller reads c's records from (a
 * printer's ring lives as long as the printer: a shutdown that reuses the
 * memory waits for every printer to exit): start_seq at or past r's
 * first_seq and at most next_seq; next_seq and panic_end at most head.
 * Whoever stores them read head (or a record below it) first, and both
 * are loaded with acquire (pairing with their release stores) before head
 * is, which only grows. Not for a handle's user: a shutdown and an init
 * between its loads could give the consoles a new ring. */
int nblog__console_check_positions(const struct nblog_console *c,
                                   const struct nblog__ring_hdr *r)
{
#ifndef NDEBUG
    struct nblog_console *m = (struct nblog_console *)c; /* C11 atomics: non-const */
    uint64_t next = atomic_load_explicit(&m->next_seq, memory_order_acquire);
    uint64_t pend = atomic_load_explicit(&m->panic_end, memory_order_acquire);
    uint64_t head = nblog__ring_head(r);
    if (c->start_seq < r->first_seq || c->start_seq > next || next > head || pend > head)
        return 0;
#else
    (void)c;
    (void)r;
#endif
    return 1;
}

#ifndef NDEBUG
/* The pool and the registry under the list lock, which every move to and
 * from ACTIVE, every change of a name, of gen and of the two counts of
 * consoles is made under (teardown, DETACHED -> DYING -> FREE, is not:
 * nothing below depends on it):
 *   - a slot that is neither FREE nor SETUP has been registered: gen in
 *     [1, GEN_MAX] (SETUP may still hold 0, before its first gen);
 *   - every ACTIVE console passes nblog__console_check (its registration
 *     holds a reference);
 *   - nblog__n_atomic_capable and nblog__n_direct count the ACTIVE
 *     consoles with write_atomic and in direct mode, exactly;
 *   - NAMES: ACTIVE consoles have unique names, but for the program's
 *     console that takes the name of the default console it replaces
 *     while the default retires (see DEFAULT CONSOLE): a name is shared by
 *     two at most, and only once the program has a console; default_con
 *     is set only while it has none. */
static int registry_check(void)
{
    int atomic_capable = 0, direct = 0, shared = 0;
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &nblog__console_pool[i];
        int state = atomic_load_explicit(&c->state, memory_order_relaxed);
        uintptr_t gen = atomic_load_explicit(&c->gen, memory_order_relaxed);
        if (gen > GEN_MAX || (gen == 0 && state != FREE && state != SETUP))
            return 0;
        if (state != ACTIVE)
            continue;
        if (!nblog__console_check(c))
            return 0;
        atomic_capable += c->ops.write_atomic != NULL;
        direct += c->mode == NBLOG_MODE_DIRECT;
        int same = 0;
        for (int j = 0; j < MAX_CONSOLES; j++)
            same += j != i &&
                    atomic_load_explicit(&nblog__console_pool[j].state, memory_order_relaxed) ==
                        ACTIVE &&
                    strcmp(nblog__console_pool[j].name, c->name) == 0;
        if (same > 1)
            return 0;
        shared += same;
    }
    return atomic_capable == atomic_load_explicit(&nblog__n_atomic_capable, memory_order_relaxed) &&
           direct == atomic_load_explicit(&nblog__n_direct, memory_order_relaxed) &&
           (shared == 0 || program_consoles > 0) && (!default_con || program_consoles == 0);
}
#endif

/*
 * console.h - what the logging calls and the panic path need of consoles.
 * Layer: consoles, above render (render.h, included here: the line
 * renderer consoles share) and store.
 */
#ifndef NBLOG_CONSOLE_H
#define NBLOG_CONSOLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "nblog.h"
#include "panic.h" /* nblog__panicking, the panic's flag consoles read */
#include "render.h"
#include "ring.h"

/* After record seq is committed in r: wake sleeping printers at watermarks
 * and for emergencies (no system call for ordinary records), then print
 * through direct-mode consoles, and push an emergency record through every
 * console with write_atomic, each only if it can be owned at once.
 * [signal-safe] */
void nblog__consoles_notify(const struct nblog__ring_hdr *r, uint64_t seq,
                            uint8_t flags);

/* Records between the writers' wake-up checks (printer.c wake_mask) are
 * a power of two, at least this many. */
#define NBLOG__WAKE_MIN 64u
extern _Atomic int nblog__n_direct;              /* console.c */
extern _Atomic int nblog__consoles_need_restart; /* console.c: forked */

/* Whether a logging call that committed record seq (flags) must call
 * nblog__consoles_notify, inline so that most calls make no call: only at
 * a wake-up watermark (a seq whose low log2(NBLOG__WAKE_MIN) bits are
 * clear: the interval is a multiple of NBLOG__WAKE_MIN, printer.c asserts
 * it), for an emergency, with a direct-mode console, or in a forked child
 * whose printers are not restarted yet; otherwise notify does nothing.
 * Relaxed loads, as notify's own of the same words: a count that is
 * changing only makes one call notify or not, as it would have inside.
 * [signal-safe] */
static inline int nblog__consoles_notify_needed(uint64_t seq, uint8_t flags)
{
    return (seq & (NBLOG__WAKE_MIN - 1)) == 0 || (flags & NBLOG_F_EMERGENCY) ||
           atomic_load_explicit(&nblog__n_direct, memory_order_relaxed) ||
           atomic_load_explicit(&nblog__consoles_need_restart, memory_order_relaxed);
}

/* In a forked child, restarts the printer threads (and stall watch) the
 * fork left behind; cheap no-op otherwise. Not signal-safe the first time
 * after a fork (it creates threads). */
void nblog__consoles_restart_if_forked(void);

extern _Atomic int nblog__printers_paused;
extern _Atomic unsigned nblog__printers_pause_naps;

/* For nblog_shutdown: flush (up to timeout_ms), unregister every console
 * and wait (up to timeout_ms) for their printer threads to exit. Returns 1
 * if all exited, 0 if one is stuck in a write (it still holds the ring). */
int nblog__consoles_shutdown(unsigned timeout_ms);
/* For nblog_init: registration works again (after nblog__consoles_shutdown
 * refused it). [blocking] */
void nblog__consoles_open(void);
/* Waits for a stall-watch pass in progress (which may hold the old ring). */
void nblog__consoles_quiesce(void);

/* The ring the consoles read (ring_now in console_impl.h), handed down by
 * the lifecycle (lifecycle.c): the process's ring once mapped (STARTING),
 * NULL at shutdown, the child's ring after a fork. Release: pairs with
 * ring_now's acquire load, so a console that sees the pointer sees the
 * formatted header. [signal-safe] */
void nblog__consoles_attach(struct nblog__ring_hdr *r);

/* What the consoles need of the layers above them. The console layer
 * declares it; the lifecycle defines it (lifecycle.c, a constant table,
 * so it is there before any code runs and links in with the consoles),
 * and console files call up only through it. */
struct nblog__console_env {
    /* A registration before any init makes the store (lazy init, the
     * caller's console next: no default console); as nblog__init_lazily. */
    int (*init_lazily)(int for_console);
    /* Waits for another thread's init in progress; as nblog__init_wait. */
    void (*init_wait)(void);
    /* The list lock is taken (1) / let go (0); as nblog__init_wait_off. */
    void (*init_wait_off)(int on);
    /* A console's notice (a stall, a rotation failure) stored as a record
     * at level, with nargs arguments: nblog_printf's way in. */
    int (*report)(int level, int nargs, const char *fmt, ...);
};
extern const struct nblog__console_env nblog__console_env;

/* A console's notice as a record, exactly as nblog_printf(level, ...)
 * stores it (same argument count check). Not in a signal handler. */
#define nblog__console_report(level, ...)                                      \
    nblog__console_env.report((level), NBLOG__NARG(__VA_ARGS__) - 1, __VA_ARGS__)

/* In a forked child (lifecycle.c's fork handler, after it attached the
 * child's ring): ownership words, positions at the child ring's head,
 * locks and printers, once a console was ever registered. */
void nblog__consoles_fork_child(void);

/* At init (lifecycle.c, state STARTING, ring published): registers the consoles
 * NBLOG_CONSOLES names, else the default console (unless flags, the
 * options' console_defaults, or for_console say not to); a bad variable
 * gets one line on stderr and the default. See nblog.h "Consoles at init"
 * and spec.c. [blocking] */
void nblog__consoles_at_init(unsigned flags, int for_console);

/* For init's registrations (spec.c): on = 1 while this thread registers
 * the consoles init makes, which are not the program's own (see DEFAULT
 * CONSOLE in console.c). */
void nblog__console_init_mark(int on);
/* Makes h, just registered by init, the default console: the program's
 * first console replaces it. Returns 1; 0 if a program console came
 * first (h is then retired at once). [blocking] */
int nblog__console_make_default(nblog_console_t *h);

/* A console's default name, "kind:target" ("kind" if target is NULL),
 * printable, cut to NBLOG_CONSOLE_NAME_MAX bytes keeping its end (see
 * NAMES in console.c), into out (NBLOG_CONSOLE_NAME_MAX + 1 bytes). */
void nblog__console_default_name(char *out, const char *kind, const char *target);

#ifdef NBLOG_TEST_HOOKS
/* Tests: the stall watch's clock (default nblog__now_ns), and one pass of
 * the stall watch (and of the reaper: consoles let go meanwhile are torn
 * down). */
extern uint64_t (*_Atomic nblog__console_clock)(void);
void nblog__console_watch_once(void);
/* Tests: how many pool slots are FREE and how many ACTIVE (the others
 * are being set up or torn down, or wait for their last user). */
void nblog__console_slots(int *free_slots, int *active);
#endif

/* Sets the calling thread's nblog_spec_error() sentence (spec.c). */
void nblog__spec_error_set(const char *msg);

/* Registers like nblog_console_register, for an output whose lines say
 * whose they are: id (render.h; NULL: the defaults) goes into the
 * console's line format, which keeps it by pointer, so it must outlive
 * the console (e.g. inside its ctx). */
int nblog__console_register_id(const nblog_console_ops_t *ops, void *ctx,
                               const struct nblog__line_id *id,
                               const nblog_console_opts_t *opts, nblog_console_t **out);

/* For outputs that offer extra calls (nblog_console_reopen): the ctx and
 * ops the console named by handle con was registered with, holding a
 * reference on it, so teardown (which frees ctx) waits until
 * nblog__console_ctx_put(con). NULL, with *err = NBLOG_ESTALE (the console
 * was unregistered) or NBLOG_EINVAL (not a handle), if there is no live
 * console: then do not call put. [signal-safe] */
struct nblog_console;
void *nblog__console_ctx_get(struct nblog_console *con, const nblog_console_ops_t **ops,
                             int *err);
void nblog__console_ctx_put(struct nblog_console *con);

/* An output's non-fatal error (e.g. a failed rotation that lost nothing)
 * shown as its console's last_error; the console is found by its ctx.
 * [signal-safe] */
void nblog__console_note_error(const void *ctx, int err);

/* Calls fn with the handle of every registered console, holding a
 * reference meanwhile. [signal-safe] (fn permitting) */
void nblog__consoles_foreach(void (*fn)(struct nblog_console *, void *), void *arg);

/* The registry's reopen walk (nblog_console_reopen_all), so that no
 * output walks the registry: calls the output's reopen(ctx) for every
 * registered console registered with ops (its write), holding a reference
 * meanwhile, so ctx outlives the call. [signal-safe] (reopen permitting) */
void nblog__consoles_reopen(const nblog_console_ops_t *ops, void (*reopen)(void *ctx));

/*
 * The panic flush (called by panic.c, one thread at a time): takes every
 * console with write_atomic that is not suspended at panic priority, even
 * from an owner in the middle of a batch, and prints through write_atomic
 * everything it has not printed, up to the head (one more pass for records
 * stored meanwhile). Records that were in flight are printed again,
 * flagged NBLOG_F_REPLAYED; records never finished by their writer are
 * skipped with a notice after a short grace; EAGAIN is waited out until
 * deadline_ns. dying: keep the consoles owned (and take no teardown
 * risk); otherwise let them go and hand any displaced owner its console
 * back. Returns how many consoles are not complete. [signal-safe]
 */
int nblog__consoles_panic_flush(uint64_t deadline_ns, int dying);

/* Names of live consoles the panic flush cannot print to (no write_atomic,
 * or suspended), ", "-separated into names (cap >= 1); returns how many.
 * [signal-safe] */
size_t nblog__consoles_unflushable(char *names, size_t cap, int dying);

#endif

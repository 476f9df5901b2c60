/*
 * lifecycle.h - the library's top: init, shutdown, options, the ring's
 * mapping, the lazy init and its waits, the exit handler, and the one
 * pthread_atfork registration (lifecycle.c). Layer: lifecycle, above the
 * logging calls (log.c) and the consoles; it hands the consoles their ring
 * and what they need of the layers above (console.h, struct
 * nblog__console_env), so console.c, printer.c, watch.c and panic_flush.c
 * include neither this header nor log.h. log.c (and log.h's inline
 * admission, which loads nblog__life.log_ring) calls up into it for one
 * thing only: a logging call that finds no ring (nblog__life_ring_wait).
 *
 * What the logging calls (log.c) read of it on every call: the state and
 * the two ring pointers (struct nblog__life); lifecycle.c alone writes
 * them. The rest is for init's helpers (spec.c), the outputs' identity and
 * tests.
 */
#ifndef NBLOG_LIFECYCLE_H
#define NBLOG_LIFECYCLE_H

#include <stdatomic.h>

#include "ring.h"

/* Written by lifecycle.c only (its top: Memory ordering). */
struct nblog__life {
    _Atomic(struct nblog__ring_hdr *) ring;     /* from STARTING on: readers, stats */
    _Atomic(struct nblog__ring_hdr *) log_ring; /* the logging calls': READY */
    atomic_int state;                           /* lifecycle.c's states */
};
extern struct nblog__life nblog__life;

/* 1 before any init (state UNINIT, 0): a logging call then initialises
 * before its level is judged (log.c nblog__log_begin). Relaxed: it picks
 * the order only; the ring is ordered by its own pointers. */
static inline int nblog__life_uninit(void)
{
    return atomic_load_explicit(&nblog__life.state, memory_order_relaxed) == 0;
}

/* The logging calls' ring when nblog__life.log_ring is NULL: initialises
 * lazily before any init (UNINIT), waits for another thread's init in
 * progress (1 s at most), gives the initialiser the ring it mapped
 * (STARTING); NULL if not ready. [signal-safe] except the lazy init. */
struct nblog__ring_hdr *nblog__life_ring_wait(void);

/* Initialises with the defaults if nothing did yet (a console registered
 * before nblog_init), never after nblog_shutdown; the threshold is what
 * nblog_level_set left (NBLOG_LEVEL overrides it). for_console: the caller
 * registers the program's own console next, so no default console is
 * made. Returns what nblog_init would, NBLOG_EALREADY if initialised or
 * shut down, or if another thread's init was mapping the ring: then it
 * waited for that ring (1 s at most; not if this thread is the one
 * initialising, interrupted by a signal). [blocking] */
int nblog__init_lazily(int for_console);

/* Waits (as a logging call does, 1 s at most) for another thread's init in
 * progress (MAPPING, STARTING) to be READY; at once otherwise, on the
 * initialising thread, and while nblog__init_wait_off is on. For a
 * registration, before it takes a lock the init needs. [signal-safe] */
void nblog__init_wait(void);

/* on 1/0 (nests): this thread is about to take / has let go of a lock the
 * initialiser needs (console.c's list lock). Meanwhile its logging calls
 * (a console's setup callback, a signal handler) do not wait for another
 * thread's init, which would wait for the lock: NBLOG_ENOTREADY at once
 * before READY. [signal-safe] */
void nblog__init_wait_off(int on);

/* The program's name (nblog_options_t.program, default the executable's
 * short name), printable ASCII without spaces, 1..48 bytes: syslog's
 * APP-NAME, journald's SYSLOG_IDENTIFIER, the line formats' program.
 * Set at init; before it, the executable's short name as it is.
 * [signal-safe] */
const char *nblog__program_name(void);

/* Writes "nblog: " and the formatted text as one line to fd 2, in one
 * write (for what init must tell a person: a bad NBLOG_LEVEL,
 * NBLOG_CONSOLES or NBLOG_RING; at exit, consoles that lag), unless fd 2
 * is no longer what it was at the last init (a program that closed stderr
 * and opened a file of its own): then nothing. [signal-safe] */
void nblog__complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Tests only: called (if set) by the thread initialising, with
 * NBLOG__HOOK_MAPPING, once the ring is mapped but not yet published (the
 * state in which other threads' logging calls wait), and with
 * NBLOG__HOOK_STARTING once the ring is published, before the consoles at
 * init register; by a logging call, lazy init or a registration with
 * NBLOG__HOOK_WAITING as it starts to wait for another thread's init.
 * Loaded relaxed; set it before the init. */
#define NBLOG__HOOK_MAPPING 0
#define NBLOG__HOOK_WAITING 1
#define NBLOG__HOOK_STARTING 2
#ifdef NBLOG_TEST_HOOKS
extern void (*_Atomic nblog__init_hook)(int where);
#endif

#endif

/*
 * panic.h - the panic path: nblog_panic, fatal-signal handlers, alternate
 * signal stacks. Layer: panic, beside consoles (it drives their panic
 * flush) and above the store.
 */
#ifndef NBLOG_PANIC_H
#define NBLOG_PANIC_H

#include "nblog.h"

/* Reserves the alternate-stack pool, gives the calling thread a stack,
 * records the loaded modules for the backtrace (modules.h), warms up the
 * unwinder and installs the fatal-signal handlers o asks for.
 * Called once the ring is ready. Not signal-safe (mmap, sigaction,
 * dlopen inside the first backtrace()). */
void nblog__panic_setup(const nblog_options_t *o);

/* Restores the signal actions that were in place before setup. */
void nblog__panic_teardown(void);

/* Gives the calling thread an alternate signal stack from the pool unless
 * it has one. Called once per thread, from its first logging call.
 * [signal-safe] (sigaltstack, pthread_setspecific on a small key) */
void nblog__panic_thread_enter(void);

/* Fork hook (lifecycle.c's fork handler, in the child): only the forking
 * thread's signal stack stays taken; no panic or watchdog is in progress;
 * the module table's scan lock is made anew. */
void nblog__panic_fork_child(void);

/* Set once the calling thread went through nblog__panic_thread_enter. */
extern __thread int nblog__thread_entered __attribute__((tls_model("initial-exec")));

/* Set while a panic flush runs (panic.c writes it: 1 by the thread that
 * won the panic gate, before it takes any console; 0 when it leaves).
 * Logging calls then leave printing to the panic (printer.c: no direct or
 * emergency pushes), reading it relaxed as a hint; an output's owner
 * reads it relaxed past a seq_cst fence that pairs with one the panic's
 * write_atomic makes once it sees the flag (consoles/fd.c, FENCE-A and
 * FENCE-P). */
extern _Atomic int nblog__panicking;

#endif

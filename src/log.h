/*
 * log.h - what the ways in (printf, deferred) share: admitting a call,
 * committing its record, formatting in the caller, truncating.
 * Layer: logging calls, above the store and render. [signal-safe]
 */
#ifndef NBLOG_LOG_H
#define NBLOG_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "nblog.h"
#include "ring.h"

/*
 * Decides whether a call at *level stores a record: clamps a bad level
 * (flagging it), applies the threshold, finds (or lazily makes) the ring.
 * Returns 1: go on, and finish with exactly one nblog__log_commit() (or
 * nblog__log_formatted()), passing *rc along; 0: stop and return *rc.
 * Sets *flags to the record's initial flags.
 */
int nblog__log_begin(int *level, uint8_t *flags, struct nblog__ring_hdr **ring,
                     int *rc);

/* Stores payload as one record; returns rc, or NBLOG_ELOST if the store
 * could not take it. Ends what nblog__log_begin started. */
int nblog__log_commit(struct nblog__ring_hdr *r, int level, uint8_t flags,
                      uint8_t kind, const char *payload, uint32_t len, int rc);

/* Formats fmt/ap in the caller and commits it (nargs: -1 if unknown). */
int nblog__log_formatted(struct nblog__ring_hdr *r, int level, uint8_t flags,
                         int rc, int nargs, const char *fmt, va_list ap);

/* Cuts text to max bytes ending in NBLOG_TRUNC_MARKER, on a UTF-8
 * boundary; returns the new length. */
uint32_t nblog__truncate_text(char *text, uint32_t max);

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

/* The current ring's memory (NULL, 0 when not ready). For tests and tools
 * that hand the bytes to another process. */
void nblog__ring_memory(const void **mem, size_t *bytes);

/* Opens a reader on a ring in memory that another process may have written
 * (a copy, a mapped file): validates the header first. Returns NBLOG_OK,
 * NBLOG_EINVAL (NULL, or not 64-byte aligned as a mapping is) or
 * NBLOG_ECORRUPT. */
int nblog__reader_open_memory(nblog_reader_t *r, const void *mem, size_t bytes,
                              int from);

/* In a forked child: a process writing a ring file goes on in a private
 * ring continuing the sequence (see log.c). Idempotent; console.c's fork
 * handler calls it before reading the head. */
void nblog__ring_fork_child(void);

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

/* Tests only: the rate limiter's clock (NULL: nblog__now_ns). Loaded
 * relaxed at every nblog_ratelimit_pass; set it before the calls it is
 * meant for start. */
extern uint64_t (*_Atomic nblog__ratelimit_clock_hook)(void);
#endif

#endif

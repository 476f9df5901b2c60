/*
 * log.h - what the ways in (printf, deferred) share: admitting a call,
 * committing its record, formatting in the caller (cut at the record's
 * limit by render's nblog__truncate_text); the settings the lifecycle
 * gives them; readers on a ring in memory.
 * Layer: logging calls, below the lifecycle, above the consoles, the
 * store and render. [signal-safe]
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

/* The facility and emergency level the logging calls stamp (the
 * lifecycle's init sets them, from nblog_options_t, in MAPPING). */
void nblog__log_configure(int facility, int emergency_level);

#ifdef NBLOG_TEST_HOOKS
/* Tests: the current ring's memory (NULL, 0 when not ready), to hand the
 * bytes to another process. */
void nblog__ring_memory(const void **mem, size_t *bytes);
#endif

/* Opens a reader on a ring in memory that another process may have written
 * (a copy, a mapped file): validates the header first. Returns NBLOG_OK,
 * NBLOG_EINVAL (NULL, or not 64-byte aligned as a mapping is) or
 * NBLOG_ECORRUPT. */
int nblog__reader_open_memory(nblog_reader_t *r, const void *mem, size_t bytes,
                              int from);

#ifdef NBLOG_TEST_HOOKS
/* Tests only: the rate limiter's clock (NULL: nblog__now_ns). Loaded
 * relaxed at every nblog_ratelimit_pass; set it before the calls it is
 * meant for start. */
extern uint64_t (*_Atomic nblog__ratelimit_clock_hook)(void);
#endif

#endif

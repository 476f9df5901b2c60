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

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "console.h" /* nblog__consoles_notify */
#include "lifecycle.h" /* nblog__life: the ring pointer nblog__log_enter loads */
#include "nblog.h"
#include "panic.h" /* nblog__thread_entered */
#include "platform.h" /* nblog__now_ns, nblog__tid */
#include "ring.h"

/* What the logging calls read on every call (log.c writes them; its top
 * says how each is ordered). */
struct nblog__log_settings {
    atomic_int level;        /* the threshold; relaxed */
    int facility;            /* set in MAPPING, published by log_ring (M3) */
    int emergency_level;     /* likewise */
    _Atomic uint64_t not_ready; /* calls that found no ring; relaxed */
};
extern struct nblog__log_settings nblog__log;
/* How deep this thread is inside a logging call: above 0 on entry means a
 * signal handler interrupted one (NBLOG_F_SIGNAL). */
extern __thread int nblog__log_depth __attribute__((tls_model("initial-exec")));

/*
 * Decides whether a call at *level stores a record: clamps a bad level
 * (flagging it), applies the threshold, finds (or lazily makes) the ring.
 * Returns 1: go on, and finish with exactly one nblog__log_commit() (or
 * nblog__log_formatted()), passing *rc along; 0: stop and return *rc.
 * Sets *flags to the record's initial flags.
 */
int nblog__log_begin(int *level, uint8_t *flags, struct nblog__ring_hdr **ring,
                     int *rc);

/* nblog__log_begin with the common case inline: a valid level within the
 * threshold, the ring published (READY), this thread seen before. Anything
 * else is nblog__log_begin's, which decides it the same way. */
static inline int nblog__log_enter(int *level, uint8_t *flags,
                                   struct nblog__ring_hdr **ring, int *rc)
{
    /* M4, acquire: pairs with M3 (lifecycle.c), as log.c's current_ring:
     * a call that sees the ring sees it formatted, and the facility and
     * emergency level set before it was published. Non-NULL only in
     * READY, so the UNINIT order of nblog__log_begin does not arise. */
    struct nblog__ring_hdr *r =
        atomic_load_explicit(&nblog__life.log_ring, memory_order_acquire);
    /* Relaxed: a threshold (log.c nblog_level_set). Unsigned: a negative
     * level is out of range too, for nblog__log_begin to clamp. */
    unsigned thr = (unsigned)atomic_load_explicit(&nblog__log.level, memory_order_relaxed);
    if (__builtin_expect(!r || (unsigned)*level > thr || !nblog__thread_entered, 0))
        return nblog__log_begin(level, flags, ring, rc);
    assert(*level >= NBLOG_LEVEL_EMERG && *level <= NBLOG_LEVEL_DEBUG);
    *rc = NBLOG_OK;
    *ring = r;
    *flags = (uint8_t)((nblog__log_depth++ > 0 ? NBLOG_F_SIGNAL : 0) |
                       (*level <= nblog__log.emergency_level ? NBLOG_F_EMERGENCY : 0));
    return 1;
}

/* 1 if the bytes after len up to its next multiple of 8 are zero (the
 * pad nblog__log_commit's store copies with the last word). For assert. */
static inline int nblog__pad_zero(const char *payload, uint32_t len)
{
    if (len % 8 == 0)
        return 1;
    uint64_t w; /* the last word: len % 8 bytes of text, then the pad */
    memcpy(&w, payload + len - len % 8, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    uint64_t text = ~(~(uint64_t)0 >> 8 * (len % 8));
#else
    uint64_t text = ((uint64_t)1 << 8 * (len % 8)) - 1;
#endif
    return (w & ~text) == 0;
}

/* Stores payload as one record (site: its call site, nblog__site_of, or
 * 0; facility: 0..23, or -1 for the process's); returns rc, or NBLOG_ELOST if the store
 * could not take it. Ends what nblog__log_begin started. payload must be
 * readable up to len rounded up to 8 bytes, the bytes past len zero: the
 * store copies whole words, and no stack byte may reach the shared ring.
 * Inline: each way in makes one call (the store's) to commit, and tells
 * the consoles only when they need it (nblog__consoles_notify_needed). */
static inline int nblog__log_commit(struct nblog__ring_hdr *r, int level, uint8_t flags,
                                    uint8_t kind, const char *payload, uint32_t len,
                                    int rc, uint32_t site, int facility)
{
    struct nblog__rec_meta m = {
        .ts_ns = nblog__now_ns(),
        .tid = nblog__tid(),
        .len = len,
        .level = (uint8_t)level,
        .facility = (uint8_t)(facility >= 0 ? facility : nblog__log.facility),
        .site = site,
        .flags = flags,
        .kind = kind,
    };
    assert(nblog__pad_zero(payload, len));
    int wrc = nblog__ring_write(r, &m, payload);
    if (wrc == NBLOG_OK && nblog__consoles_notify_needed(m.seq, flags))
        nblog__consoles_notify(r, m.seq, flags);
    nblog__log_depth--;
    return wrc == NBLOG_OK ? rc : wrc;
}

/* Formats fmt/ap in the caller and commits it (nargs: -1 if unknown). */
int nblog__log_formatted(struct nblog__ring_hdr *r, int level, uint8_t flags,
                         int rc, uint32_t site, int nargs, const char *fmt, va_list ap);
/* Same, with the nargs words of a deferred call site (format.h
 * nblog__wformat); err: errno at the call, for %m. */
int nblog__log_formatted_words(struct nblog__ring_hdr *r, int level, uint8_t flags,
                               int rc, uint32_t site, int nargs, const char *fmt,
                               const uint64_t *words, int err);

/* A call site's site in ring r (ring.h's table): its cached one when the
 * cache is r's (C3), else nblog__site_slow finds or makes the entry.
 * NULL where: none (0). [signal-safe] */
uint32_t nblog__site_slow(struct nblog__ring_hdr *r, nblog__where_t *where);
static inline uint32_t nblog__site_of(struct nblog__ring_hdr *r, nblog__where_t *where)
{
    /* C3, acquire: pairs with C2 in nblog__site_slow, so the entry the
     * cache names is ready before this call's record is stored. */
    uint64_t c = __atomic_load_n(&where->cache, __ATOMIC_ACQUIRE);
    if (__builtin_expect((uint32_t)(c >> 32) == r->site_gen, 1))
        return (uint32_t)c;
    return nblog__site_slow(r, where);
}

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

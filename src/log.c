/*
 * log.c - the logging calls, levels, rate limits and readers.
 * Layer: logging calls, below the lifecycle (lifecycle.c: init, shutdown,
 * options, the ring's mapping, lazy init and its waits, fork) and above
 * the consoles, render and the store.
 *
 * A call (nblog__log_begin) clamps a bad level, judges the threshold and
 * takes the logging calls' ring (nblog__life.log_ring, published by the
 * lifecycle at READY; lifecycle.c says when a call initialises lazily or
 * waits, nblog__life_ring_wait); before any init (UNINIT) the ring first,
 * so that the first call's init sets the threshold that judges it. Then
 * exactly one commit stores the record and tells the consoles
 * (nblog__consoles_notify).
 *
 * Settings the lifecycle sets at init (nblog__log_configure, the level via
 * nblog_level_set): the threshold (relaxed, any recent value will do), the
 * facility and the emergency level (plain, written in MAPPING, published
 * to the logging calls by the release store of nblog__life.log_ring).
 *
 * Memory ordering (tags: lifecycle.c's list): current_ring's load of
 * nblog__life.log_ring is M4 (acquire, pairs with M3); the readers', stats'
 * and nblog__ring_memory's loads of nblog__life.ring are M2 (acquire,
 * pairs with M1). The ring's own accesses are ring.c's (W, R, H). The
 * rest is relaxed, with nothing to pair: the threshold (a filter:
 * a call may see a change a little late), not_ready, head and lost in
 * stats (statistics), and the rate limiter's words (see its comment: the
 * word publishes nothing but itself).
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "console.h"
#include "format.h"
#include "lifecycle.h"
#include "log.h"
#include "nblog.h"
#include "panic.h"
#include "platform.h"
#include "render.h"
#include "ring.h"
#include "testhooks.h"

struct nblog__log_settings nblog__log = {
    .level = NBLOG_LEVEL_INFO, .facility = 1, .emergency_level = NBLOG_LEVEL_CRIT};
__thread int nblog__log_depth __attribute__((tls_model("initial-exec")));

/* ---------------------------------------------------------------- names */

unsigned nblog_version(void)
{
    return NBLOG_VERSION_HEX;
}

const char *nblog_version_string(void)
{
    return NBLOG_VERSION_STRING;
}

const char *nblog_strerror(int err)
{
    switch (err) {
    case NBLOG_OK:
        return "success";
#define NBLOG__ERR_TEXT(name, value, str)                                      \
    case NBLOG_##name:                                                         \
        return str;
        NBLOG_ERRNO_MAP(NBLOG__ERR_TEXT)
#undef NBLOG__ERR_TEXT
    }
    return "unknown nblog error";
}


/* -------------------------------------------------------------- logging */

void nblog__log_configure(int facility, int emergency_level)
{
    nblog__log.facility = facility;
    nblog__log.emergency_level = emergency_level;
}

/* The logging calls' ring, initialising lazily on first use (or waiting
 * for another thread's init: lifecycle.c); NULL if not ready. */
static struct nblog__ring_hdr *current_ring(void)
{
    /* M4, acquire: pairs with M3, init_from's release store of log_ring. */
    struct nblog__ring_hdr *r = atomic_load_explicit(&nblog__life.log_ring, memory_order_acquire);
    if (__builtin_expect(r != NULL, 1))
        return r;
    return nblog__life_ring_wait();
}

int nblog_level_set(int level)
{
    if (level < 0 || level > NBLOG_LEVEL_DEBUG)
        return NBLOG_ELEVEL;
    /* Relaxed: a threshold; callers may see the change a little late. */
    return atomic_exchange_explicit(&nblog__log.level, level, memory_order_relaxed);
}

int nblog_level_get(void)
{
    return atomic_load_explicit(&nblog__log.level, memory_order_relaxed);
}

int nblog__log_begin(int *level, uint8_t *flags, struct nblog__ring_hdr **ring,
                     int *rc)
{
    *rc = NBLOG_OK;
    *flags = 0;
    if (__builtin_expect(*level < 0 || *level > NBLOG_LEVEL_DEBUG, 0)) {
        *level = *level < 0 ? NBLOG_LEVEL_EMERG : NBLOG_LEVEL_DEBUG;
        *flags |= NBLOG_F_BADINPUT;
        *rc = NBLOG_ELEVEL;
    }
    /* Only before any init the ring first: a first call initialises, and
     * so sets the threshold (NBLOG_LEVEL), before its own level is judged.
     * Otherwise the threshold first, so a filtered call does no init work
     * and never waits (after a shutdown, during another thread's init).
     * Relaxed: the state picks the order only; current_ring orders the
     * ring. */
    *ring = NULL;
    int before_init = nblog__life_uninit();
    if (before_init)
        *ring = current_ring();
    /* Relaxed: a threshold (see nblog_level_set). */
    if (*level > atomic_load_explicit(&nblog__log.level, memory_order_relaxed)) {
        if (*rc == NBLOG_OK)
            *rc = NBLOG_FILTERED;
        return 0;
    }
    if (!before_init)
        *ring = current_ring();
    if (!*ring) {
        /* Relaxed: a statistic. */
        atomic_fetch_add_explicit(&nblog__log.not_ready, 1, memory_order_relaxed);
        *rc = NBLOG_ENOTREADY;
        return 0;
    }
    if (NBLOG__UNLIKELY(!nblog__thread_entered))
        nblog__panic_thread_enter(); /* once per thread: its signal stack */
    if (nblog__log_depth++ > 0)
        *flags |= NBLOG_F_SIGNAL;
    if (*level <= nblog__log.emergency_level)
        *flags |= NBLOG_F_EMERGENCY;
    return 1;
}

static const char null_format_text[] = "nblog: NULL format string";

/* Formats in the caller into a record, after nblog__log_begin said go:
 * from *ap, or from words (then err is errno at the call). */
static int formatted(struct nblog__ring_hdr *r, int level, uint8_t flags, int rc,
                     uint32_t site, int facility, int nargs, const char *fmt,
                     va_list *ap, const uint64_t *words, int err)
{
    /* One slot's text plus padding for the 8-byte copy into the slot; as
     * large as this ring's records, not the largest possible, since it
     * stays on the stack while the call prints (nblog.h: the stack a
     * signal handler needs). */
    uint32_t max = nblog__ring_text_max(r);
    char text[max + 8];
    size_t len;
    if (__builtin_expect(fmt == NULL, 0)) {
        len = sizeof null_format_text - 1;
        memcpy(text, null_format_text, len);
        flags |= NBLOG_F_BADINPUT;
        rc = NBLOG_ENOFMT;
    } else {
        unsigned st = 0;
        len = words ? nblog__wformat(text, (size_t)max + 1, fmt, words, nargs, err, &st)
                    : nblog__vformatp(text, (size_t)max + 1, fmt, ap, nargs, &st);
        if (__builtin_expect(st != 0, 0)) {
            flags |= NBLOG_F_BADINPUT;
            rc = (st & NBLOG__FMT_MISSING) ? NBLOG_EARGS : NBLOG_EFORMAT;
        }
    }
    if (len > max) {
        len = nblog__truncate_text(text, max);
        flags |= NBLOG_F_TRUNCATED;
    }
    /* The slack goes into the slot with the last word: zeros, not the
     * stack's old bytes, reach the (shared) ring. */
    memset(text + len, 0, 8);
    return nblog__log_commit(r, level, flags, NBLOG_KIND_TEXT, text,
                             (uint32_t)len, rc, site, facility);
}

int nblog__log_formatted(struct nblog__ring_hdr *r, int level, uint8_t flags,
                         int rc, uint32_t site, int nargs, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    rc = formatted(r, level, flags, rc, site, -1, nargs, fmt, &copy, NULL, 0);
    va_end(copy);
    return rc;
}

int nblog__log_formatted_words(struct nblog__ring_hdr *r, int level, uint8_t flags,
                               int rc, uint32_t site, int nargs, const char *fmt,
                               const uint64_t *words, int err)
{
    return formatted(r, level, flags, rc, site, -1, nargs, fmt, NULL, words, err);
}

uint32_t nblog__site_slow(struct nblog__ring_hdr *r, nblog__where_t *where)
{
    uint32_t gen = r->site_gen, site = 0;
    if (where->file || where->func) {
        site = nblog__ring_site_register(r, where->file, where->line, where->func);
        if (site == NBLOG__SITE_BUSY)
            return 0; /* another writer is making it: ask again next call */
        if (site == NBLOG__SITE_FULL)
            site = 0;
    }
    /* C2, release: pairs with C3 (log.h nblog__site_of); after S1, so a
     * call that takes the site from the cache stores its record after
     * the entry is ready. Racing calls store the same value. */
    __atomic_store_n(&where->cache, (uint64_t)gen << 32 | site, __ATOMIC_RELEASE);
    return site;
}

/* ap: the caller's own list, taken in place (format.h nblog__vformatp).
 * where: the call site, or NULL; facility -1: the process's. */
static int vlog(nblog__where_t *where, int facility, int level, int nargs,
                const char *fmt, va_list *ap)
{
    int err = errno; /* %m shows it as it was at the call; kept for the caller */
    uint8_t flags;
    struct nblog__ring_hdr *r;
    int rc;
    if (nblog__log_enter(&level, &flags, &r, &rc)) {
        uint32_t site = where ? nblog__site_of(r, where) : 0;
        errno = err;
        rc = formatted(r, level, flags, rc, site, facility, nargs, fmt, ap, NULL, 0);
    }
    errno = err;
    return rc;
}

int nblog_vprintf(int level, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int rc = vlog(NULL, -1, level, -1, fmt, &copy);
    va_end(copy);
    return rc;
}

int nblog_vsyslog(int priority, const char *fmt, va_list ap)
{
    /* As glibc: facility bits 0 mean the process's; bits past LOG_LOCAL7
     * (23) are not a facility either. */
    int fac = (int)(((unsigned)priority >> 3) & 0x7f);
    va_list copy;
    va_copy(copy, ap);
    int rc = vlog(NULL, fac >= 1 && fac <= 23 ? fac : -1, priority & 7, -1, fmt, &copy);
    va_end(copy);
    return rc;
}

int(nblog_printf)(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vlog(NULL, -1, level, -1, fmt, &ap);
    va_end(ap);
    return rc;
}

int nblog__printf_n(int level, int nargs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vlog(NULL, -1, level, nargs, fmt, &ap);
    va_end(ap);
    return rc;
}

int nblog__printf_at(nblog__where_t *where, int level, int nargs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vlog(where, -1, level, nargs, fmt, &ap);
    va_end(ap);
    return rc;
}

static const char null_bytes_text[] = "nblog: nblog_write given NULL bytes";

int nblog_write(int level, const void *bytes, size_t len)
{
    int err = errno; /* left as it was, as every logging call */
    uint8_t flags;
    struct nblog__ring_hdr *r;
    int rc;
    if (nblog__log_enter(&level, &flags, &r, &rc)) {
        /* As nblog__log_formatted: one slot's text plus the 8-byte copy's
         * slack, on the stack (nblog.h: the stack a logging call needs). */
        uint32_t max = nblog__ring_text_max(r);
        char text[max + 8];
        size_t n;
        if (__builtin_expect(bytes == NULL && len > 0, 0)) {
            n = sizeof null_bytes_text - 1;
            memcpy(text, null_bytes_text, n);
            flags |= NBLOG_F_BADINPUT;
            rc = NBLOG_ENOFMT;
        } else {
            n = len < max ? len : max;
            if (n)
                memcpy(text, bytes, n);
            if (len > max) {
                n = nblog__truncate_text(text, max);
                flags |= NBLOG_F_TRUNCATED;
            }
        }
        assert(n <= max);
        memset(text + n, 0, 8); /* the pad: zeros (log.h) */
        rc = nblog__log_commit(r, level, flags, NBLOG_KIND_TEXT, text, (uint32_t)n, rc, 0, -1);
    }
    errno = err;
    return rc;
}

/* ----------------------------------------------------------- rate limit */

/*
 * One word, rs->window, holds the whole state of a limiter: the current
 * window's start (bits 63..24, in units of 2^20 ns, modulo 2^40: 36 years)
 * and how many calls it let through (bits 23..0). 0: no window yet. Every
 * change is one CAS on the word, so a pass is counted in the window it was
 * let into and no window ever lets more than burst through: there is no
 * moment where a new start is visible with the old count, or the reverse.
 *
 *   in window   now - start < interval (signed, modulo 2^40): count < burst
 *               -> CAS count + 1, pass; else suppressed (counted, no CAS).
 *   new window  now - start >= interval, or no window: CAS the word to
 *               (now + 1 unit, 1), pass, and report what was suppressed.
 *
 * A clock reading older than the start (a caller read the clock before
 * another one opened the window; TSC skew between CPUs) is negative and
 * so inside the window: it never moves the start backwards (it once did:
 * unsigned now - start wrapped to "interval over" and reopened the window,
 * letting another burst through). A window starts at the next unit
 * boundary after the call that opens it, so it lasts interval_ms to about
 * 2 ms more, never less. A failed CAS reads the clock again: each attempt
 * is decided on a reading taken after the word it acts on was loaded.
 *
 * Memory order: relaxed throughout. The word publishes nothing but itself
 * (the bound rests on the CAS's atomicity alone) and suppressed is an exact
 * counter on its own: each suppressed call adds 1, the caller that opens a
 * window takes everything added so far (exchange) into its notice.
 */
#define RL_COUNT_BITS 24
#define RL_COUNT_MAX ((UINT64_C(1) << RL_COUNT_BITS) - 1)
#define RL_UNIT_SHIFT 20 /* 1,048,576 ns */
#define RL_START_MASK ((UINT64_C(1) << (64 - RL_COUNT_BITS)) - 1)

#ifdef NBLOG_TEST_HOOKS
uint64_t (*_Atomic nblog__ratelimit_clock_hook)(void);
#endif

static uint64_t ratelimit_now_units(void)
{
    /* Relaxed: a test's clock, set before its calls start. */
    uint64_t now = NBLOG__TEST_HOOK_OR(nblog__ratelimit_clock_hook, (), nblog__now_ns());
    return (now >> RL_UNIT_SHIFT) & RL_START_MASK;
}

/* now - start in units, signed: negative if now is before start. */
static int64_t ratelimit_elapsed(uint64_t now, uint64_t start)
{
    uint64_t d = (now - start) & RL_START_MASK;
    /* Sign-extend from 40 bits. */
    return (int64_t)(d << RL_COUNT_BITS) >> RL_COUNT_BITS;
}

int nblog_ratelimit_pass(nblog_ratelimit_t *rs, int level)
{
    if (rs->interval_ms == 0)
        return 1; /* no limit */
    uint64_t burst = rs->burst < RL_COUNT_MAX ? rs->burst : RL_COUNT_MAX;
    uint64_t interval_ns = (uint64_t)rs->interval_ms * 1000000u;
    int64_t interval = (int64_t)((interval_ns + (UINT64_C(1) << RL_UNIT_SHIFT) - 1) >>
                                 RL_UNIT_SHIFT);
    /* Relaxed: see above (the CAS below re-checks it). */
    uint64_t w = __atomic_load_n(&rs->window, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t now = ratelimit_now_units();
        uint64_t start = w >> RL_COUNT_BITS, count = w & RL_COUNT_MAX;
        if (w != 0 && ratelimit_elapsed(now, start) < interval) {
            if (count >= burst)
                break; /* suppressed */
            assert(count < RL_COUNT_MAX);
            /* Relaxed: see above; on failure w is the word now there. */
            if (__atomic_compare_exchange_n(&rs->window, &w, w + 1, 1,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                return 1;
            continue;
        }
        uint64_t opened = ((now + 1) & RL_START_MASK) << RL_COUNT_BITS | (burst ? 1 : 0);
        if (!__atomic_compare_exchange_n(&rs->window, &w, opened, 1,
                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        uint32_t n = __atomic_exchange_n(&rs->suppressed, 0, __ATOMIC_RELAXED);
        if (n) /* the function, not the macro: nblog's notice has no call site */
            (nblog_printf)(level, "%u messages suppressed", n);
        if (burst)
            return 1;
        break; /* burst 0: the window opens for its notice only */
    }
    __atomic_fetch_add(&rs->suppressed, 1, __ATOMIC_RELAXED);
    return 0;
}

/* --------------------------------------------------------------- reader */

static void reader_start(nblog_reader_t *r, const struct nblog__ring_hdr *ring,
                         int from)
{
    memset(r, 0, sizeof *r);
    r->ring = ring;
    r->next_seq = from == NBLOG_FROM_NEXT ? nblog__ring_head(ring)
                                          : nblog__ring_oldest(ring);
}

int nblog__reader_open_memory(nblog_reader_t *r, const void *mem, size_t bytes,
                              int from)
{
    memset(r, 0, sizeof *r);
    if (!mem || (uintptr_t)mem % _Alignof(struct nblog__ring_hdr) != 0)
        return NBLOG_EINVAL;
    if (nblog__ring_validate(mem, bytes) != NBLOG_OK)
        return NBLOG_ECORRUPT;
    reader_start(r, mem, from);
    return NBLOG_OK;
}

#ifdef NBLOG_TEST_HOOKS
void nblog__ring_memory(const void **mem, size_t *bytes)
{
    /* M2, acquire: pairs with M1, map_ring's release store. */
    const struct nblog__ring_hdr *r = atomic_load_explicit(&nblog__life.ring, memory_order_acquire);
    *mem = r;
    *bytes = r ? r->total_size : 0;
}
#endif

int nblog_reader_open(nblog_reader_t *r, int from)
{
    struct nblog__ring_hdr *ring =
        atomic_load_explicit(&nblog__life.ring, memory_order_acquire); /* M2: pairs with M1 */
    memset(r, 0, sizeof *r);
    if (!ring)
        return NBLOG_ENOTREADY;
    assert(nblog__ring_check(ring)); /* the process's own ring */
    reader_start(r, ring, from);
    return NBLOG_OK;
}

_Static_assert(NBLOG__SITE_TEXT == NBLOG_SITE_FILE_MAX &&
                   NBLOG__SITE_FUNC_MAX == NBLOG_SITE_FUNC_MAX,
               "nblog.h's record holds what a site entry holds");

int nblog_reader_next(nblog_reader_t *r, nblog_record_t *rec, char *buf,
                      size_t bufsize)
{
    const struct nblog__ring_hdr *ring = r->ring;
    if (!ring || !rec || !buf || bufsize == 0)
        return NBLOG_EINVAL;
    uint64_t missed = 0;
    for (;;) {
        struct nblog__rec_meta m;
        char payload[NBLOG__PAYLOAD_MAX];
        uint64_t gone;
        enum nblog__read_result res =
            nblog__ring_next(ring, &r->next_seq, &gone, &m, payload, sizeof payload);
        if (res == NBLOG__READ_GONE) {
            missed += gone;
            continue;
        }
        r->missed += missed;
        if (res != NBLOG__READ_OK) {
            r->missed_unreported += missed;
            return NBLOG_EAGAIN;
        }
        uint8_t flags = m.flags;
        size_t len = nblog__render_record(ring, &m, payload, buf, bufsize, &flags);
        struct nblog__loc loc;
        int has_loc = nblog__ring_site_get(ring, m.site, &loc);
        *rec = (nblog_record_t){
            .seq = m.seq,
            .ts_ns = m.ts_ns,
            .wall_ns = m.wall_ns,
            .missed = r->missed_unreported + missed,
            .tid = m.tid,
            .level = m.level,
            .facility = m.facility,
            .flags = flags,
            .kind = m.kind,
            .len = (uint32_t)len,
            .line = has_loc ? loc.line : 0,
            .text = buf,
        };
        if (has_loc) {
            memcpy(rec->file, loc.file, sizeof rec->file);
            memcpy(rec->func, loc.func, sizeof rec->func);
        }
        r->missed_unreported = 0;
        r->next_seq++;
        r->read++;
        return len > bufsize - 1 ? NBLOG_ETRUNCATED : NBLOG_OK;
    }
}

uint64_t nblog_reader_head(const nblog_reader_t *r)
{
    return r && r->ring ? nblog__ring_head(r->ring) : 0;
}

uint64_t nblog_reader_skip(nblog_reader_t *r, uint64_t below)
{
    if (!r || !r->ring)
        return 0;
    struct nblog__rec_meta m;
    char text[8];
    uint64_t n = 0;
    /* The first pending record whatever below says, then each next one
     * below it that is pending too. Bounded by the ring's size: a seq is
     * PENDING only below head and within `records` of it (ring.c
     * pending_or_lapped; further back it is GONE), so a forged head far
     * past the records costs at most one lap. */
    while ((n == 0 || r->next_seq < below) &&
           nblog__ring_read(r->ring, r->next_seq, &m, text, sizeof text) ==
               NBLOG__READ_PENDING) {
        r->next_seq++;
        n++;
    }
    r->missed += n;
    return n;
}

/* ---------------------------------------------------------------- stats */

void nblog_stats_get(nblog_stats_t *st)
{
    /* M2, acquire: pairs with M1 (map_ring). */
    struct nblog__ring_hdr *r = atomic_load_explicit(&nblog__life.ring, memory_order_acquire);
    memset(st, 0, sizeof *st);
    /* Relaxed: statistics. */
    st->not_ready = atomic_load_explicit(&nblog__log.not_ready, memory_order_relaxed);
    if (!r)
        return;
    /* The raw head: every reservation, refusals at the seq limit too, so
     * reserved == committed + lost (docs/design.md, promise 3). Not a seq
     * to read up to: clamp it (nblog__seq_clamp) for that. */
    st->reserved = atomic_load_explicit(&r->head, memory_order_relaxed);
    st->lost = atomic_load_explicit(&r->lost, memory_order_relaxed);
    st->ring_records = r->records;
    st->record_size = r->record_size;
    st->text_max = nblog__ring_text_max(r);
    st->inline_max = nblog__ring_inline_max(r);
    st->data_bytes = r->data_granules * NBLOG__GRANULE;
    st->spill_cut = atomic_load_explicit(&r->spill_cut, memory_order_relaxed);
}

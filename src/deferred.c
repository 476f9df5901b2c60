/*
 * deferred.c - the deferred way in: NBLOG_INFO(fmt, args...) and friends.
 * [signal-safe]
 *
 * The caller copies the format and its arguments into the record; readers
 * render them (format.c, nblog__render_deferred), so the caller pays for
 * copies, not for formatting. To know each argument's type the caller needs
 * the format's conversions: _Generic cannot tell a char * meant for %p from
 * one meant for %s. So each call site keeps a static descriptor
 * (nblog__site_t), parsed from the format on first use:
 *
 *     state NEW --first caller parses, wins the CAS--> BUSY --> READY
 *                                                          \-> FORMAT
 *   NEW     never used.
 *   BUSY    one caller is copying its parse into the site. Others (another
 *           thread, or a signal handler that interrupted the publisher on
 *           its own thread) do not wait: they parse the format themselves
 *           into a local descriptor and use that.
 *   READY   args[]/nargs/fmt_len are final: copy arguments by kind.
 *   FORMAT  this format cannot be deferred (wide %lc/%ls, a refused spec
 *           such as %n, %y or "%.2147483648s", too many arguments): every
 *           call formats at once, as nblog_printf would. The site takes
 *           exactly the arguments format.c's run() takes, spec by spec
 *           (nblog__fmt_arg_kinds shares its parser), and leaves every
 *           refused spec to it, so both ways in agree on what each
 *           conversion shows.
 *
 * %m takes no C argument: its descriptor entry (NBLOG__K_ERRNO) copies the
 * errno the caller had when it called, saved before anything here can
 * change it; the call leaves errno as it found it.
 *
 * Ordering: the publisher writes args[]/nargs/fmt_len with plain stores,
 * then stores the state READY with release (P1); callers load the state
 * with acquire (C1, pairs with P1) before reading the descriptor. Only the
 * CAS winner writes the descriptor, once, so there is no torn parse.
 *
 * A call whose arguments do not fit in a record, or that passes fewer
 * arguments than its format converts, is formatted at once instead (the
 * text is then truncated, or marked %!(MISSING), exactly as nblog_printf
 * does), so both ways in render the same text for the same call.
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "format.h"
#include "log.h"
#include "nblog.h"

enum { SITE_NEW, SITE_BUSY, SITE_READY, SITE_FORMAT };

/* What a site's parse gives (the descriptor's fields past its location),
 * as a caller's local copy holds it: no bigger than it must be, since it
 * is on the stack of a call that may be a signal handler's. */
struct fmtdesc {
    unsigned char nargs, nvargs;
    unsigned short fmt_len;
    struct nblog__argdesc args[NBLOG_MAX_ARGS];
};

/* Parses fmt into s; returns the state the site should end in. */
static unsigned parse_site(const char *fmt, struct fmtdesc *s)
{
    size_t flen = strlen(fmt) + 1;
    int n = nblog__fmt_arg_kinds(fmt, s->args, NBLOG_MAX_ARGS);
    if (n < 0 || flen > 0xffff)
        return SITE_FORMAT;
    s->nargs = (unsigned char)n;
    s->nvargs = 0;
    for (int i = 0; i < n; i++)
        s->nvargs += s->args[i].kind != NBLOG__K_ERRNO;
    s->fmt_len = (unsigned short)flen;
    return SITE_READY;
}

/* First use of a site by this caller: parse, and publish if nobody is. */
static unsigned first_use(nblog__site_t *site, const char *fmt,
                          struct fmtdesc *local)
{
    unsigned st = parse_site(fmt, local);
    unsigned expected = SITE_NEW;
    /* Relaxed CAS: it only elects the publisher; P1 publishes. */
    if (__atomic_compare_exchange_n(&site->state, &expected, SITE_BUSY, 0,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        memcpy(site->args, local->args, sizeof local->args);
        site->nargs = local->nargs;
        site->nvargs = local->nvargs;
        site->fmt_len = local->fmt_len;
        /* P1: pairs with C1 in nblog__defer. */
        __atomic_store_n(&site->state, st, __ATOMIC_RELEASE);
    }
    return st;
}

/* The fast path encodes into a buffer of this size (plus the 8 bytes of
 * pad the store copies with the last word), whatever the ring's records
 * hold: a record longer than this (or than the ring's records) goes to
 * the out-of-line paths, which size their buffer by nblog__ring_text_max. */
#define FAST_MAX 384u

/* The encoder's cursor is a local pointer, passed and returned by value:
 * a char store cannot alias it, so it stays in a register (a struct in
 * memory was reloaded after every byte stored). NULL: did not fit. The
 * encoder is inlined into each way in, with its own argument source. */
#define ENC_INLINE static inline __attribute__((always_inline))

/* memcpy for the short copies a call makes (a format, a name), inline:
 * overlapping pairs of fixed-size moves; the library's memcpy (a call
 * through the PLT) only past 64 bytes. */
ENC_INLINE void copy_short(char *d, const char *s, size_t n)
{
    if (n > 64) {
        memcpy(d, s, n);
    } else if (n >= 32) {
        memcpy(d, s, 32);
        memcpy(d + n - 32, s + n - 32, 32);
    } else if (n >= 16) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* strnlen(s, look), the first 32 bytes inline (a name, a short word). */
ENC_INLINE size_t span(const char *s, size_t look)
{
    size_t n = 0, lim = look < 32 ? look : 32;
    while (n < lim && s[n])
        n++;
    return n < lim || n == look ? n : n + strnlen(s + n, look - n);
}


ENC_INLINE char *put_word(char *p, const char *end, unsigned char tag, uint64_t v)
{
    if (end - p < 9)
        return NULL;
    p[0] = (char)tag;
    memcpy(p + 1, &v, 8);
    return p + 9;
}

/* Copies a %s argument: at most `bound` bytes, stopping at a NUL. */
ENC_INLINE char *put_string(char *p, const char *end, const char *s, size_t bound)
{
    uint16_t len = NBLOG__A_STR_NULL;
    if (end - p < 3)
        return NULL;
    size_t n = 0;
    if (s) {
        size_t room = (size_t)(end - p) - 3;
        /* One byte more than fits tells "too long" from "just fits". */
        size_t look = bound < room + 1 ? bound : room + 1;
        n = span(s, look);
        if (n > room || n >= NBLOG__A_STR_NULL)
            return NULL;
        len = (uint16_t)n;
    }
    p[0] = NBLOG__A_STR;
    memcpy(p + 1, &len, 2);
    copy_short(p + 3, s, n);
    return p + 3 + n;
}

/* Where the arguments come from: a va_list (nblog__defer, C++) or the
 * words a C call site made of them (nblog__defer_words; nblog.h
 * NBLOG__WORD: an integer or pointer as uintptr_t, a floating value as a
 * double's bits). */
struct src {
    va_list ap;
    const uint64_t *w;
};

/* The next argument of the integer or pointer type T. */
#define NEXT(a, T) ((a)->w ? (T)(uintptr_t)(*(a)->w++) : va_arg((a)->ap, T))

static inline uint64_t next_double_bits(struct src *a, int ldouble)
{
    if (a->w)
        return *a->w++; /* made a double at the call site */
    double v = ldouble ? (double)va_arg(a->ap, long double) : va_arg(a->ap, double);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return bits;
}

/* Copies the arguments d[0..n) describes from a (err for %m) to p;
 * returns where they end, NULL if they do not fit before end. */
ENC_INLINE char *encode_args(char *p, const char *end, const struct nblog__argdesc *d,
                             int n, struct src *a, int err)
{
    long long prev = -1; /* the last int argument: a %.*s precision */
    for (int i = 0; i < n && p; i++) {
        switch (d[i].kind) {
        case NBLOG__K_INT: {
            int v = NEXT(a, int);
            prev = v;
            p = put_word(p, end, NBLOG__A_INT, (uint64_t)(int64_t)v);
            break;
        }
        case NBLOG__K_LONG:
            p = put_word(p, end, NBLOG__A_INT, (uint64_t)NEXT(a, long long));
            break;
        case NBLOG__K_DOUBLE:
        case NBLOG__K_LDOUBLE:
            p = put_word(p, end, NBLOG__A_F64,
                         next_double_bits(a, d[i].kind == NBLOG__K_LDOUBLE));
            break;
        case NBLOG__K_PTR:
            p = put_word(p, end, NBLOG__A_PTR, (uintptr_t)NEXT(a, void *));
            break;
        case NBLOG__K_ERRNO: /* no C argument */
            p = put_word(p, end, NBLOG__A_ERRNO, (uint64_t)(int64_t)err);
            break;
        default: { /* NBLOG__K_STR */
            size_t bound = SIZE_MAX;
            if (d[i].prec_from_prev && prev >= 0)
                bound = (size_t)prev;
            else if (!d[i].prec_from_prev && d[i].strmax != NBLOG__STRMAX_NONE)
                bound = d[i].strmax;
            p = put_string(p, end, NEXT(a, const char *), bound);
            break;
        }
        }
    }
    return p;
}

/* Encodes the record (format, then arguments) into buf[0..cap), and
 * zeroes the 8 bytes after it (buf holds cap + 8): the pad the store copies
 * with the last word must not carry the stack's old bytes into the shared
 * ring. Returns its length, or 0 if it does not fit. */
ENC_INLINE uint32_t encode(char *buf, uint32_t cap, unsigned short fmt_len,
                           const struct nblog__argdesc *args, int nargs,
                           const char *fmt, struct src *a, int err)
{
    if (2u + fmt_len > cap)
        return 0;
    memcpy(buf, &fmt_len, 2);
    copy_short(buf + 2, fmt, fmt_len);
    char *p = encode_args(buf + 2 + fmt_len, buf + cap, args, nargs, a, err);
    if (!p)
        return 0;
    assert(p <= buf + cap);
    memset(p, 0, 8);
    return (uint32_t)(p - buf);
}

/* One call, as admitted: what nblog__log_enter gave, errno at the call,
 * the site's state as loaded (C1). */
struct call {
    int level, rc, err;
    uint8_t flags;
    unsigned st;
    uint32_t site; /* its call site in c->r (nblog__site_of) */
    struct nblog__ring_hdr *r;
};

/* Everything but the fast path's common case, out of line: a site's first
 * use (or a signal handler finding it BUSY), a format that cannot be
 * deferred, fewer arguments than conversions, a record longer than the
 * fast buffer (then a buffer as large as this ring's records) or than a
 * record (then formatted at once, as nblog_printf would). tried: the fast
 * path found the record longer than FAST_MAX. */
static __attribute__((noinline)) int defer_slow(nblog__site_t *site, struct call *c,
                                                int nargs, const char *fmt,
                                                struct src *a, int tried)
{
    struct fmtdesc local;
    const struct fmtdesc *d = &local;
    unsigned st = c->st;
    if (st < SITE_READY) {
        st = first_use(site, fmt, &local);
    } else {
        local.nargs = site->nargs; /* READY (C1): final */
        local.nvargs = site->nvargs;
        local.fmt_len = site->fmt_len;
        memcpy(local.args, site->args, sizeof local.args);
    }
    uint32_t max = nblog__ring_text_max(c->r);
    if (st == SITE_READY && d->nvargs <= nargs && !(tried && max <= FAST_MAX)) {
        /* As large as this ring's records (see nblog__log_formatted). */
        char payload[max + 8];
        struct src copy = {.w = a->w};
        if (!a->w)
            va_copy(copy.ap, a->ap);
        uint32_t len = encode(payload, max, d->fmt_len, d->args, d->nargs, fmt, &copy, c->err);
        if (!a->w)
            va_end(copy.ap);
        if (len)
            return nblog__log_commit(c->r, c->level, c->flags, NBLOG_KIND_DEFERRED,
                                     payload, len, c->rc, c->site, -1);
    }
    errno = c->err; /* the formatter reads it for %m */
    if (a->w)
        return nblog__log_formatted_words(c->r, c->level, c->flags, c->rc, c->site, nargs,
                                          fmt, a->w, c->err);
    return nblog__log_formatted(c->r, c->level, c->flags, c->rc, c->site, nargs, fmt,
                                a->ap);
}

/* What both ways in start with: errno saved first (%m shows it, and the
 * call leaves it as it was), the admission, the site's state. 0: stop and
 * return c->rc (errno restored). */
ENC_INLINE int defer_enter(nblog__site_t *site, struct call *c)
{
    c->err = errno;
    if (!nblog__log_enter(&c->level, &c->flags, &c->r, &c->rc)) {
        errno = c->err;
        return 0;
    }
    /* C1: pairs with P1 in first_use. */
    c->st = __atomic_load_n(&site->state, __ATOMIC_ACQUIRE);
    c->site = nblog__site_of(c->r, &site->where);
    return 1;
}

int nblog__defer(nblog__site_t *site, int level, int nargs, const char *fmt, ...)
{
    struct call c = {.level = level};
    if (!defer_enter(site, &c))
        return c.rc;
    struct src a = {.w = NULL};
    va_start(a.ap, fmt);
    int rc = defer_slow(site, &c, nargs, fmt, &a, 0);
    va_end(a.ap);
    errno = c.err;
    return rc;
}

int nblog__defer_words(nblog__site_t *site, int level, int nargs, const char *fmt,
                       const uint64_t *words)
{
    struct call c = {.level = level};
    if (!defer_enter(site, &c))
        return c.rc;
    struct src a = {.w = words};
    int rc;
    if (__builtin_expect(c.st == SITE_READY && site->nvargs <= nargs, 1)) {
        _Alignas(8) char buf[FAST_MAX + 8];
        uint32_t max = nblog__ring_text_max(c.r);
        uint32_t len = encode(buf, max < FAST_MAX ? max : FAST_MAX, site->fmt_len, site->args,
                              site->nargs, fmt, &a, c.err);
        if (__builtin_expect(len != 0, 1)) {
            rc = nblog__log_commit(c.r, c.level, c.flags, NBLOG_KIND_DEFERRED, buf, len,
                                   c.rc, c.site, -1);
            errno = c.err;
            return rc;
        }
        a.w = words; /* encode took some */
        rc = defer_slow(site, &c, nargs, fmt, &a, 1);
    } else {
        rc = defer_slow(site, &c, nargs, fmt, &a, 0);
    }
    errno = c.err;
    return rc;
}

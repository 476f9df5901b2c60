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
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "format.h"
#include "log.h"
#include "nblog.h"

enum { SITE_NEW, SITE_BUSY, SITE_READY, SITE_FORMAT };

/* Parses fmt into d; returns the state the site should end in. */
static unsigned parse_site(const char *fmt, nblog__site_t *s)
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
                          nblog__site_t *local)
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

struct enc {
    char *p, *end;
};

static inline int put_word(struct enc *e, unsigned char tag, uint64_t v)
{
    if (e->end - e->p < 9)
        return 0;
    e->p[0] = (char)tag;
    memcpy(e->p + 1, &v, 8);
    e->p += 9;
    return 1;
}

/* Copies a %s argument: at most `bound` bytes, stopping at a NUL. */
static inline int put_string(struct enc *e, const char *s, size_t bound)
{
    uint16_t len = NBLOG__A_STR_NULL;
    if (e->end - e->p < 3)
        return 0;
    size_t n = 0;
    if (s) {
        size_t room = (size_t)(e->end - e->p) - 3;
        /* One byte more than fits tells "too long" from "just fits". */
        size_t look = bound < room + 1 ? bound : room + 1;
        n = strnlen(s, look);
        if (n > room || n >= NBLOG__A_STR_NULL)
            return 0;
        len = (uint16_t)n;
    }
    e->p[0] = NBLOG__A_STR;
    memcpy(e->p + 1, &len, 2);
    if (n)
        memcpy(e->p + 3, s, n);
    e->p += 3 + n;
    return 1;
}

/* Copies the arguments d[0..n) describes from ap (err for %m). 0 if they
 * do not fit. */
static int encode_args(struct enc *e, const struct nblog__argdesc *d, int n,
                       va_list ap, int err)
{
    long long prev = -1; /* the last int argument: a %.*s precision */
    for (int i = 0; i < n; i++) {
        int ok;
        switch (d[i].kind) {
        case NBLOG__K_INT: {
            int v = va_arg(ap, int);
            prev = v;
            ok = put_word(e, NBLOG__A_INT, (uint64_t)(int64_t)v);
            break;
        }
        case NBLOG__K_LONG:
            ok = put_word(e, NBLOG__A_INT, (uint64_t)va_arg(ap, long long));
            break;
        case NBLOG__K_DOUBLE:
        case NBLOG__K_LDOUBLE: {
            double v = d[i].kind == NBLOG__K_DOUBLE
                           ? va_arg(ap, double)
                           : (double)va_arg(ap, long double);
            uint64_t bits;
            memcpy(&bits, &v, 8);
            ok = put_word(e, NBLOG__A_F64, bits);
            break;
        }
        case NBLOG__K_PTR:
            ok = put_word(e, NBLOG__A_PTR, (uintptr_t)va_arg(ap, void *));
            break;
        case NBLOG__K_ERRNO: /* no C argument */
            ok = put_word(e, NBLOG__A_ERRNO, (uint64_t)(int64_t)err);
            break;
        default: { /* NBLOG__K_STR */
            size_t bound = SIZE_MAX;
            if (d[i].prec_from_prev && prev >= 0)
                bound = (size_t)prev;
            else if (!d[i].prec_from_prev && d[i].strmax != NBLOG__STRMAX_NONE)
                bound = d[i].strmax;
            ok = put_string(e, va_arg(ap, const char *), bound);
            break;
        }
        }
        if (!ok)
            return 0;
    }
    return 1;
}

int nblog__defer(nblog__site_t *site, int level, int nargs, const char *fmt, ...)
{
    int err = errno; /* first: %m shows it, and the call leaves it so */
    uint8_t flags;
    struct nblog__ring_hdr *r;
    int rc;
    if (!nblog__log_begin(&level, &flags, &r, &rc)) {
        errno = err;
        return rc;
    }

    va_list ap;
    va_start(ap, fmt);
    nblog__site_t local;
    const nblog__site_t *d = site;
    /* C1: pairs with P1 in first_use. */
    unsigned st = __atomic_load_n(&site->state, __ATOMIC_ACQUIRE);
    if (__builtin_expect(st < SITE_READY, 0)) {
        st = first_use(site, fmt, &local);
        d = &local;
    }
    if (st == SITE_READY && d->nvargs <= nargs) {
        /* As large as this ring's records (see nblog__log_formatted). */
        uint32_t max = nblog__ring_text_max(r);
        char payload[max + 8];
        if (2u + d->fmt_len <= max) {
            struct enc e = {payload + 2 + d->fmt_len, payload + max};
            va_list copy;
            va_copy(copy, ap);
            int ok = encode_args(&e, d->args, d->nargs, copy, err);
            va_end(copy);
            if (ok) {
                memcpy(payload, &d->fmt_len, 2);
                memcpy(payload + 2, fmt, d->fmt_len);
                va_end(ap);
                rc = nblog__log_commit(r, level, flags, NBLOG_KIND_DEFERRED,
                                       payload, (uint32_t)(e.p - payload), rc);
                errno = err;
                return rc;
            }
        }
    }
    errno = err; /* the formatter reads it for %m */
    rc = nblog__log_formatted(r, level, flags, rc, nargs, fmt, ap);
    va_end(ap);
    errno = err;
    return rc;
}

/*
 * format.h - nblog's own printf-style formatter.
 *
 * Async-signal-safe and allocation-free: it calls nothing from the printf
 * family, no locale function and no malloc, so a signal handler may use it.
 * Layer: render. It knows nothing of the ring or of consoles.
 */
#ifndef NBLOG_FORMAT_H
#define NBLOG_FORMAT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "nblog.h" /* struct nblog__argdesc */

/* Bits of *status set by nblog__vformat. */
#define NBLOG__FMT_BAD 0x1     /* a refused spec: %n or an overflowing width
                                  or precision (its arguments taken by their
                                  C types, the spec written verbatim), or an
                                  unknown spec such as %y or %1$d (the rest
                                  of the format written verbatim, nothing
                                  more taken) */
#define NBLOG__FMT_MISSING 0x2 /* a conversion had no argument left (nargs
                                  known): written as "%!(MISSING)" */

/*
 * nblog__vformat - format like vsnprintf(buf, cap, fmt, ap).
 * Writes at most cap bytes including a terminating NUL (when cap > 0) and
 * returns the length the full output would have had, as vsnprintf does.
 *
 * nargs: how many arguments ap holds, or -1 when unknown. When known, a
 * conversion (or a '*' width/precision) beyond them consumes nothing and
 * writes "%!(MISSING)" instead, setting NBLOG__FMT_MISSING.
 * status: if not NULL, receives NBLOG__FMT_* bits (0 when all was well).
 *
 * Supported: d i u x X o c s p % m C S with flags "-+ #0" (and "'", "I",
 * ignored), width and precision (numbers or '*'), length modifiers hh h l
 * ll j z t L q. Output matches glibc's snprintf in the C locale for these.
 * Floating conversions (f F e E g G a A) consume a double (long double with
 * L) and are rendered by nblog__fmt_double. %m shows errno as it is when
 * nblog__vformat is called. No conversion ever shows an argument the C
 * rules do not give it: see NBLOG__FMT_BAD for refused specs.
 * [signal-safe]
 */
size_t nblog__vformat(char *buf, size_t cap, const char *fmt, va_list ap,
                      int nargs, unsigned *status);
/* Same, taking the arguments from *ap in place (it is left past the ones
 * taken): no copy of the list, whose 16-byte load right after va_start's
 * narrower stores is a failed store forward on x86. [signal-safe] */
size_t nblog__vformatp(char *buf, size_t cap, const char *fmt, va_list *ap,
                       int nargs, unsigned *status);

/*
 * nblog__wformat - nblog__vformat with the arguments a deferred call site
 * made words of (nblog.h NBLOG__WORD: integers and pointers as uintptr_t,
 * floating values as a double's bits), nargs of them, each read as the
 * conversion's C type would be read by va_arg. err: errno at the call, for
 * %m. What a deferred call formats at once when it cannot be deferred
 * (the same text nblog_printf stores). [signal-safe]
 */
size_t nblog__wformat(char *buf, size_t cap, const char *fmt,
                      const uint64_t *words, int nargs, int err, unsigned *status);

/*
 * Deferred records. The payload of an NBLOG_KIND_DEFERRED record is
 *
 *     u16 fmt_len | fmt (fmt_len bytes, the last one NUL) | arguments
 *
 * and each argument is a tag byte then its value, in native byte order:
 *     NBLOG__A_INT  8 bytes: any integer, sign- or zero-extended
 *     NBLOG__A_F64  8 bytes: a double (long doubles are converted)
 *     NBLOG__A_PTR  8 bytes: a pointer's value
 *     NBLOG__A_STR  u16 len, then len bytes (no NUL); len NBLOG__A_STR_NULL
 *                   and no bytes for a NULL pointer
 *     NBLOG__A_ERRNO 8 bytes: the caller's errno, for a %m (an int, sign-
 *                   extended); it has no C argument
 * Everything a reader needs is in the record: another process can render it.
 */
#define NBLOG__A_INT 1
#define NBLOG__A_F64 2
#define NBLOG__A_PTR 3
#define NBLOG__A_STR 4
#define NBLOG__A_ERRNO 5
#define NBLOG__A_STR_NULL 0xffffu

/* Renders a deferred payload as nblog__vformat would have rendered the
 * call. A payload that does not parse renders as "%!(CORRUPT)"; an argument
 * whose tag does not fit its conversion reads as 0; both set
 * NBLOG__FMT_BAD. Never reads outside payload[0..len). [signal-safe] */
size_t nblog__render_deferred(char *buf, size_t cap, const void *payload,
                              size_t len, unsigned *status);

/* Fills d[0..n) with the kinds of the arguments fmt takes ('*' included,
 * and an NBLOG__K_ERRNO entry, which has no C argument, per %m) and
 * returns n; -1 if the format cannot be deferred (a refused spec, a wide
 * %lc/%ls/%C/%S, more than max entries). [signal-safe] */
int nblog__fmt_arg_kinds(const char *fmt, struct nblog__argdesc *d, int max);

/* Same, with variadic arguments (nargs unknown). */
size_t nblog__format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

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

/* Bits of *status set by nblog__vformat. */
#define NBLOG__FMT_BAD 0x1     /* unknown/unsupported conversion (e.g. %n, %y):
                                  written out verbatim, no argument consumed */
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
 * Supported: d i u x X o c s p % with flags "-+ #0", width and precision
 * (numbers or '*'), length modifiers hh h l ll j z t L q. Output matches
 * glibc's snprintf for these. Floating conversions (f F e E g G a A) consume
 * a double (long double with L) and are rendered by nblog__fmt_double.
 * [signal-safe]
 */
size_t nblog__vformat(char *buf, size_t cap, const char *fmt, va_list ap,
                      int nargs, unsigned *status);

/* Same, with variadic arguments (nargs unknown). */
size_t nblog__format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

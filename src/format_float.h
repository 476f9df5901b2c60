/*
 * format_float.h - floating-point conversions for the signal-safe formatter.
 * Layer: render.
 */
#ifndef NBLOG_FORMAT_FLOAT_H
#define NBLOG_FORMAT_FLOAT_H

#include <stddef.h>

/* Conversion flags, as parsed from the format. */
#define NBLOG__FL_MINUS 0x01 /* '-' left-justify */
#define NBLOG__FL_PLUS 0x02  /* '+' always a sign */
#define NBLOG__FL_SPACE 0x04 /* ' ' space for a positive sign */
#define NBLOG__FL_HASH 0x08  /* '#' alternate form */
#define NBLOG__FL_ZERO 0x10  /* '0' pad with zeros */

struct nblog__spec {
    unsigned flags; /* NBLOG__FL_* */
    int width;      /* minimum field width, 0 if none */
    int prec;       /* precision, -1 if none */
    char conv;      /* conversion character: f F e E g G a A for doubles */
};

/*
 * nblog__fmt_double - render v as glibc's snprintf renders it for *spec
 * (flags, width and precision applied). Writes at most cap bytes into out
 * (no NUL) and returns the full length of the rendering.
 * [signal-safe] no allocation, no libc formatting, no locale.
 */
size_t nblog__fmt_double(char *out, size_t cap, double v,
                         const struct nblog__spec *spec);

#ifdef NBLOG_TEST_HOOKS
/* Tests: the same, the exact way only (no fast path). */
size_t nblog__fmt_double_exact(char *out, size_t cap, double v,
                               const struct nblog__spec *spec);
#endif

#endif

/*
 * format_float.h - floating-point conversions for the signal-safe formatter.
 * Layer: render.
 */
#ifndef NBLOG_FORMAT_FLOAT_H
#define NBLOG_FORMAT_FLOAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* Decimal digits, shared by the integer conversions (format.c) and the
 * floating ones: two-digit pairs, and v's digits written backwards
 * ending at end (as many as v has; at least one). */
static const char nblog__dec_pairs[] = "00010203040506070809"
                                "10111213141516171819"
                                "20212223242526272829"
                                "30313233343536373839"
                                "40414243444546474849"
                                "50515253545556575859"
                                "60616263646566676869"
                                "70717273747576777879"
                                "80818283848586878889"
                                "90919293949596979899";

/* 10^k for k >= 1; 0 for k = 0 so that nblog__dec_len(0) is 1. */
static const uint64_t nblog__pow10_tab[20] = {
    0,                    10u,                   100u,
    1000u,                10000u,                100000u,
    1000000u,             10000000u,             100000000u,
    1000000000u,          10000000000u,          100000000000u,
    1000000000000u,       10000000000000u,       100000000000000u,
    1000000000000000u,    10000000000000000u,    100000000000000000u,
    1000000000000000000u, 10000000000000000000u,
};

/* Number of bits of v, at least 1. */
static inline unsigned nblog__bit_len(uint64_t v)
{
    return 64u - (unsigned)__builtin_clzll(v | 1);
}

/* Number of decimal digits of v: t = floor(bits * log10(2)) is the count
 * or one less, and one comparison tells which. */
static inline unsigned nblog__dec_len(uint64_t v)
{
    unsigned t = nblog__bit_len(v) * 1233 >> 12;
    return t + (v >= nblog__pow10_tab[t]);
}

/* Decimal digits of v, two per division, backwards from end.  64-bit
 * division costs more, so a value wider than 32 bits loses eight digits
 * per 64-bit division, those written in 32-bit arithmetic; the rest (all
 * of most values) fits 32 bits. */
static inline void nblog__decimal(char *end, uint64_t v)
{
    while (v > UINT32_MAX) {
        uint32_t low = (uint32_t)(v % 100000000);
        v /= 100000000;
        for (int i = 0; i < 4; i++) {
            uint32_t r = low % 100;
            low /= 100;
            end -= 2;
            memcpy(end, nblog__dec_pairs + 2 * r, 2);
        }
    }
    uint32_t x = (uint32_t)v;
    while (x >= 100) {
        uint32_t r = x % 100;
        x /= 100;
        end -= 2;
        memcpy(end, nblog__dec_pairs + 2 * r, 2);
    }
    if (x >= 10) {
        end -= 2;
        memcpy(end, nblog__dec_pairs + 2 * x, 2);
    } else {
        *--end = (char)('0' + x);
    }
}

#endif

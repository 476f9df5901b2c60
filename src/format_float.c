/*
 * format_float.c - exact rendering of a double for %f %F %e %E %g %G %a %A,
 * byte for byte as glibc 2.36's snprintf renders it (round-to-nearest mode).
 * Layer: render. [signal-safe]: no allocation, no libc formatting, no locale,
 * no libm; the only library call is memcpy. Stack use is about 2 KiB (the
 * digit buffer and two limb arrays), measured with -fstack-usage at -O2.
 *
 * Design
 * ======
 *
 * Every finite nonzero double is exactly m * 2^e with m < 2^53 an integer.
 * We first strip the trailing zero bits of m (m odd), which keeps the numbers
 * as small as possible. Such a value has a FINITE decimal expansion: if e < 0
 * the fraction F / 2^k (k = -e) has exactly k digits after the point, since
 * 10^k / 2^k = 5^k is an integer. So instead of approximating, we produce the
 * true decimal digits, as many as the conversion needs, and round them.
 *
 * struct dec holds the digit string produced so far:
 *
 *     value = 0.d[0] d[1] ... d[len-1] <tail> * 10^dexp
 *
 * d[0] is never '0' (leading zeros of a value below 1 are not stored; each
 * one lowers dexp instead), and <tail> is the not yet expanded rest:
 *
 *   integer part  - e >= 0: m << e. If it fits in 64 bits it is converted
 *                   with u64 arithmetic; otherwise (at most 1024 bits, 32
 *                   limbs of 32 bits) by repeated exact division by 10^9,
 *                   which yields the digits nine at a time from the bottom.
 *                   There is no fraction: the tail is zero at once.
 *                 - e < 0: m >> k (below 2^53, so u64), or 0 when k >= 53.
 *   fraction      F / 2^k with F = m mod 2^k. Each step multiplies it by 10
 *                 (or 10^9) and the part that overflows the binary point is
 *                 the next digit (or nine digits); what stays below the point
 *                 is again an exact fraction of the same form. Two cases:
 *                 - fast path, k <= 60: F lives in one uint64_t, F * 10 still
 *                   fits, one digit per step. This covers every value whose
 *                   53-bit significand ends at or above 2^-60, i.e. nearly
 *                   all "ordinary" numbers (123.456 has k = 46, 0.5 has
 *                   k = 1), and costs a multiply, a shift and a mask a digit.
 *                 - otherwise F is shifted so that the binary point falls on
 *                   a limb boundary (at most 1074 bits: 34 limbs) and each
 *                   step multiplies the nonzero limbs [lo, hi) by 10^9; the
 *                   carry out of the top limb is the next nine digits. Only
 *                   nonzero limbs are touched, so tiny values that start
 *                   with hundreds of zero digits stay cheap.
 *
 * Digits are generated lazily: a conversion asks for "enough digits to know
 * the digit after the last one kept" (or until the tail is zero, after which
 * every further digit is 0). At most 16 + 1074 + 8 digits are ever stored,
 * hence DIGCAP; precision beyond the exact expansion is zero padding that is
 * never stored (so %.100000f needs no more memory than %.1074f).
 *
 * Rounding to n kept digits is then plain decimal arithmetic on exact data:
 * the rounding digit r = d[n], "sticky" = any later stored digit nonzero or
 * the tail nonzero. Round up iff r > 5, or r == 5 and (sticky or d[n-1] is
 * odd): round-half-to-even on the exact binary value, which is what glibc
 * does in round-to-nearest mode. A carry out of d[0] turns the string into
 * "1" with dexp + 1. Because nothing is ever approximated, the result is
 * correct for every double and every precision.
 *
 * %f keeps n = dexp + prec digits; %e keeps prec + 1; %g keeps P significant
 * digits, takes X = dexp - 1 from the ROUNDED string (so 9.9999995 with P = 7
 * gives X = 1), and reprints the same rounded digits in f or e style (C11
 * 7.21.6.1: f style with precision P - 1 - X when P > X >= -4, rounding at
 * the same place), then drops trailing zeros unless '#'. One glibc quirk is
 * reproduced on purpose: glibc picks the style from the unrounded exponent,
 * and when that chose f style with exactly P integer digits and rounding
 * then carries to 10^P, it prints e style with NO fraction digits even under
 * '#': %#.2g of 99.95 is "1.e+02" (C11 would say "1.0e+02"). Without '#'
 * the zeros are dropped anyway, so only '#' shows it.
 *
 * %a needs no decimal work: the 52 fraction bits are 13 hex digits. glibc
 * prints normal numbers as 0x1.<hex>p<exp>, subnormals as 0x0.<hex>p-1022
 * (not renormalized), zero as 0x0p+0, and without a precision drops trailing
 * zero hex digits. With a precision below 13 it rounds half-to-even on the
 * integer lead:frac and does NOT renormalize a carry into the leading digit:
 * 0x1.f8p+0 with %.0a is "0x2p+0", the largest subnormal with %.0a is
 * "0x1p-1022".
 *
 * Fields: sign ('-' whenever the sign bit is set, NaN and -0.0 included, else
 * '+' or ' ' from the flags), then for %a the "0x" prefix, then '0' padding
 * (flag '0' without '-'; never for inf/nan), else space padding on the left
 * (or on the right with '-').
 *
 * The output sink writes at most cap bytes and counts everything, so the
 * return value is the full length whatever cap is. A conversion character
 * other than e E g G a A is rendered as f; a negative precision counts as
 * omitted and a negative width as '-' with its magnitude, as with '*'.
 */
#include "format_float.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

/* Big enough for 2^1024 (integer part) and for 34 limbs of fraction. */
#define LIMBS 36
/*
 * Digits ever stored: e >= 0 gives at most 309 integer digits and no
 * fraction; the fast path at most 16 + 60; the big path (no integer part)
 * at most 1074 fraction digits plus 8 of the last nine-digit chunk.
 */
#define DIGCAP 1104
#define CHUNK 1000000000u /* 10^9 */

/* ---- output sink ------------------------------------------------------ */

struct sink {
    char *out;
    size_t cap;
    size_t len; /* bytes the full rendering has so far */
};

static void put_c(struct sink *s, char c)
{
    if (s->len < s->cap)
        s->out[s->len] = c;
    s->len++;
}

static void put_rep(struct sink *s, char c, size_t n)
{
    size_t room = s->len < s->cap ? s->cap - s->len : 0;
    size_t k = n < room ? n : room;
    for (size_t i = 0; i < k; i++)
        s->out[s->len + i] = c;
    s->len += n;
}

static void put_s(struct sink *s, const char *p, size_t n)
{
    size_t room = s->len < s->cap ? s->cap - s->len : 0;
    size_t k = n < room ? n : room;
    if (k)
        memcpy(s->out + s->len, p, k);
    s->len += n;
}

/*
 * Emit left padding, sign and prefix for a field whose remaining part is
 * body bytes long; returns how many spaces the caller must put after it.
 */
static size_t field_open(struct sink *s, const struct nblog__spec *sp,
                         char sign, const char *pfx, size_t pfxlen,
                         size_t body, int zero_ok)
{
    size_t width = 0;
    int left = (sp->flags & NBLOG__FL_MINUS) != 0;
    if (sp->width > 0) {
        width = (size_t)sp->width;
    } else if (sp->width < 0) { /* as printf does for a negative '*' */
        left = 1;
        width = (size_t)(-(long long)sp->width);
    }
    size_t total = (sign ? 1 : 0) + pfxlen + body;
    size_t pad = width > total ? width - total : 0;
    size_t right = 0;

    if (left)
        right = pad;
    else if (!(zero_ok && (sp->flags & NBLOG__FL_ZERO)))
        put_rep(s, ' ', pad);
    if (sign)
        put_c(s, sign);
    put_s(s, pfx, pfxlen);
    if (!left && zero_ok && (sp->flags & NBLOG__FL_ZERO))
        put_rep(s, '0', pad);
    return right;
}

/* ---- exact decimal digits --------------------------------------------- */

struct dec {
    int len;         /* digits stored in d[] */
    int dexp;        /* value = 0.d[0]d[1]... * 10^dexp */
    int big;         /* 0: tail = f / 2^fk; 1: tail = limb[] / 2^(32*nl) */
    int fk;          /* fast path: fraction bits, fk <= 60 */
    uint64_t f;
    int lo, hi, nl;  /* big path: nonzero limbs are [lo, hi), nl in all */
    uint32_t limb[LIMBS];
    char d[DIGCAP];  /* ASCII digits */
};

static int bitlen64(uint64_t x)
{
    return x ? (int)nblog__bit_len(x) : 0;
}

static int tail_nonzero(const struct dec *x)
{
    return x->big ? x->lo < x->hi : x->f != 0;
}

/* Append one generated digit; leading zeros only move the exponent. */
static void push_digit(struct dec *x, char c)
{
    if (x->len == 0 && c == '0')
        x->dexp--;
    else if (x->len < DIGCAP) /* always true, see DIGCAP */
        x->d[x->len++] = c;
}

/* Store the decimal digits of u > 0 as the integer part. */
static void int_digits_u64(struct dec *x, uint64_t u)
{
    char tmp[20];
    int n = 0;
    while (u) {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    }
    for (int i = 0; i < n; i++)
        x->d[i] = tmp[n - 1 - i];
    x->len = n;
    x->dexp = n;
}

/* Integer part m << e that needs more than 64 bits (e <= 1023). */
static void int_digits_big(struct dec *x, uint64_t m, int e)
{
    uint32_t n[LIMBS] = {0};
    uint32_t ch[40]; /* 2^1024 < 10^309: at most 35 chunks of 9 digits */
    int w = e / 32, sh = e % 32, nl, nc = 0;
    uint64_t low = m << sh;
    uint64_t top = sh ? m >> (64 - sh) : 0;

    n[w] = (uint32_t)low;
    n[w + 1] = (uint32_t)(low >> 32);
    n[w + 2] = (uint32_t)top;
    nl = w + 3;
    while (nl > 0 && n[nl - 1] == 0)
        nl--;
    while (nl > 0) { /* n /= 10^9, exactly; the remainder is 9 digits */
        uint64_t rem = 0;
        for (int i = nl - 1; i >= 0; i--) {
            uint64_t cur = (rem << 32) | n[i];
            n[i] = (uint32_t)(cur / CHUNK);
            rem = cur % CHUNK;
        }
        ch[nc++] = (uint32_t)rem;
        while (nl > 0 && n[nl - 1] == 0)
            nl--;
    }
    /* Most significant chunk without leading zeros, the others in full. */
    int_digits_u64(x, ch[nc - 1]);
    for (int c = nc - 2; c >= 0; c--) {
        uint32_t v = ch[c];
        for (int i = 8; i >= 0; i--) {
            x->d[x->len + i] = (char)('0' + v % 10);
            v /= 10;
        }
        x->len += 9;
    }
    x->dexp = x->len;
}

/* Set up x for the exact value m * 2^e, m != 0. */
static void dec_init(struct dec *x, uint64_t m, int e)
{
    while (!(m & 1)) {
        m >>= 1;
        e++;
    }
    x->len = 0;
    x->dexp = 0;
    x->big = 0;
    x->fk = 0;
    x->f = 0;
    if (e >= 0) {
        if (bitlen64(m) + e <= 64)
            int_digits_u64(x, m << e);
        else
            int_digits_big(x, m, e);
        return;
    }
    int k = -e;
    if (k <= 60) {
        uint64_t ip = m >> k;
        x->fk = k;
        x->f = m & ((UINT64_C(1) << k) - 1);
        if (ip)
            int_digits_u64(x, ip);
        return;
    }
    /*
     * k > 60 > 53: no integer part and F = m. Scale by 2^s so that the
     * point sits above limb nl-1: F * 2^s < 2^(k+s) = 2^(32*nl).
     */
    int nl = (k + 31) / 32, s = 32 * nl - k;
    uint64_t low = m << s;
    uint64_t top = s ? m >> (64 - s) : 0;

    x->big = 1;
    x->nl = nl;
    x->limb[0] = (uint32_t)low;
    x->limb[1] = (uint32_t)(low >> 32);
    x->limb[2] = (uint32_t)top; /* nonzero only if nl >= 3 */
    x->hi = 3;
    while (x->limb[x->hi - 1] == 0)
        x->hi--;
    x->lo = 0;
    while (x->limb[x->lo] == 0)
        x->lo++;
}

/* Generate the next fraction digit(s). Call only while the tail is nonzero. */
static void dec_more(struct dec *x)
{
    if (!x->big) {
        x->f *= 10;
        push_digit(x, (char)('0' + (x->f >> x->fk)));
        x->f &= (UINT64_C(1) << x->fk) - 1;
        return;
    }
    uint64_t carry = 0;
    for (int i = x->lo; i < x->hi; i++) {
        uint64_t t = (uint64_t)x->limb[i] * CHUNK + carry;
        x->limb[i] = (uint32_t)t;
        carry = t >> 32;
    }
    uint32_t chunk = 0;
    if (x->hi < x->nl) {
        if (carry)
            x->limb[x->hi++] = (uint32_t)carry;
    } else {
        chunk = (uint32_t)carry;
    }
    while (x->lo < x->hi && x->limb[x->lo] == 0)
        x->lo++;
    char tmp[9];
    for (int i = 8; i >= 0; i--) {
        tmp[i] = (char)('0' + chunk % 10);
        chunk /= 10;
    }
    for (int i = 0; i < 9; i++)
        push_digit(x, tmp[i]);
}

/*
 * Round to n kept digits (n counted from d[0]; n <= 0 keeps none). The
 * caller generated digits until len > n or the tail was exhausted.
 * Returns 1 when a carry came out of the top digit (dexp grew).
 */
static int dec_round(struct dec *x, long long n)
{
    if (n >= x->len)
        return 0; /* nothing dropped: exact */
    if (n < 0) {
        /* value < 10^dexp <= half a unit of the kept place */
        x->len = 0;
        return 0;
    }
    char r = x->d[n];
    int up = r > '5';
    if (r == '5') {
        int sticky = tail_nonzero(x);
        for (int i = (int)n + 1; !sticky && i < x->len; i++)
            sticky = x->d[i] != '0';
        up = sticky || (n > 0 && ((x->d[n - 1] - '0') & 1));
    }
    x->len = (int)n;
    if (!up)
        return 0;
    int i = (int)n - 1;
    while (i >= 0 && x->d[i] == '9')
        x->d[i--] = '0';
    if (i >= 0) {
        x->d[i]++;
        return 0;
    }
    /* 99..9 -> 100..0 (or nothing kept -> 1) */
    x->d[0] = '1';
    if (x->len == 0)
        x->len = 1;
    x->dexp++;
    return 1;
}

/* Digit at index i of the (rounded) string, '0' outside it. */
static char dig(const struct dec *x, long long i)
{
    return i >= 0 && i < x->len ? x->d[i] : '0';
}

/* Put count digits starting at index from, zero outside [0, len). */
static void put_digits(struct sink *s, const struct dec *x, long long from,
                       size_t count)
{
    long long end = from + (long long)count;
    if (from < 0) {
        long long z = end < 0 ? end : 0;
        put_rep(s, '0', (size_t)(z - from));
        from = z;
    }
    if (from < end && from < x->len) {
        long long stop = end < x->len ? end : x->len;
        put_s(s, x->d + from, (size_t)(stop - from));
        from = stop;
    }
    if (from < end)
        put_rep(s, '0', (size_t)(end - from));
}

/* f style: integer digits, optional point, fd fraction digits. */
static void emit_fixed(struct sink *s, const struct nblog__spec *sp,
                       char sign, const struct dec *x, size_t fd, int dot)
{
    size_t ni = x->dexp > 0 ? (size_t)x->dexp : 1;
    size_t right = field_open(s, sp, sign, NULL, 0, ni + (dot ? 1 : 0) + fd, 1);
    if (x->dexp > 0)
        put_digits(s, x, 0, ni);
    else
        put_c(s, '0');
    if (dot)
        put_c(s, '.');
    put_digits(s, x, x->dexp, fd);
    put_rep(s, ' ', right);
}

/* e style: d.ddd e+XX with at least two exponent digits. */
/* The decimal digits of |e|, least significant first; returns how many. */
static int exp_digits(char *ebuf, int e)
{
    unsigned ax = (unsigned)(e < 0 ? -e : e);
    int en = 0;
    do {
        ebuf[en++] = (char)('0' + ax % 10);
        ax /= 10;
    } while (ax);
    return en;
}

static void emit_exp(struct sink *s, const struct nblog__spec *sp, char sign,
                     const struct dec *x, size_t fd, int dot, char echar)
{
    int xe = x->dexp - 1; /* zero has dexp 1 */
    char ebuf[8];
    int en = exp_digits(ebuf, xe);
    if (en < 2)
        ebuf[en++] = '0';
    size_t body = 1 + (dot ? 1 : 0) + fd + 2 + (size_t)en;
    size_t right = field_open(s, sp, sign, NULL, 0, body, 1);
    put_c(s, dig(x, 0));
    if (dot)
        put_c(s, '.');
    put_digits(s, x, 1, fd);
    put_c(s, echar);
    put_c(s, xe < 0 ? '-' : '+');
    while (en > 0)
        put_c(s, ebuf[--en]);
    put_rep(s, ' ', right);
}

/* Generate until digit index n exists (so d[n], the rounding digit, can be
 * inspected) or the tail is exhausted. */
static void need_sig(struct dec *x, long long n)
{
    while (x->len <= n && tail_nonzero(x))
        dec_more(x);
}

/* Same for %f, whose rounding index dexp + prec moves while leading zeros
 * of a value below 1 are skipped. */
static void need_fixed(struct dec *x, long long prec)
{
    while (x->len <= x->dexp + prec && tail_nonzero(x))
        dec_more(x);
}

/* ---- the fast exact path ----------------------------------------------- */

/*
 * Most values a program logs ("%f" of 0.25 * i, "%.3f" of a time, "%e" of
 * a rate) need few digits of a value that is small in binary. Then the
 * digits come from one 128-bit product, exactly:
 *
 *   %f, precision p <= FAST_PREC: q = round(m * 2^e * 10^p), where
 *       m * 10^p < 2^53 * 10^17 < 2^110 (no overflow in 128 bits) and
 *       dividing by 2^k (k = -e) is a shift; the bits shifted out, r,
 *       against half = 2^(k-1) give round-half-even exactly (r > half, or
 *       r == half and q odd: the same rule as dec_round, on the same exact
 *       value). For e >= 0 the value is the integer m << e (below 2^64).
 *       The text is q's digits with the point p from the right.
 *   %e, P = precision <= FAST_PREC: X = floor(log10 v) from the binary
 *       exponent (right or one too low: checked on the unrounded digits,
 *       10^P <= floor(v * 10^(P-X)) < 10^(P+1), and corrected), then
 *       q = round(v * 10^(P-X)) as for %f when P - X >= 0, or, for an
 *       integer v < 2^64, as v / 10^(X-P) with its remainder against
 *       half the divisor. A carry to 10^(P+1) is 10^P with X + 1.
 *   %g without '#': P significant digits as %e gives them (rounded once,
 *       at the same place as C11 asks), then f or e style by the rounded
 *       X, trailing zeros dropped. ('#' goes the exact way: it keeps the
 *       glibc quirk described above.)
 *
 * Anything else (q or the integer past 64 bits, k > 127, a non-integer
 * value needing fewer digits than it has integer digits, precision past
 * FAST_PREC) returns 0 and goes the exact way above. The test
 * (tests/test-format-fastfloat.c) checks both ways agree byte for byte,
 * and with glibc, over millions of values.
 */
#define FAST_PREC 17

static const uint64_t pow10_u64[20] = {
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
    1000000000u, 10000000000u, 100000000000u, 1000000000000u, 10000000000000u,
    100000000000000u, 1000000000000000u, 10000000000000000u,
    100000000000000000u, 1000000000000000000u, 10000000000000000000u,
};

/* round(m * 10^p / 2^k), half to even, into *q; 0 if it is 2^64 or more.
 * m < 2^53, p <= 19, 0 < k. */
static int scaled_round(uint64_t m, unsigned p, int k, uint64_t *q)
{
    unsigned __int128 prod = (unsigned __int128)m * pow10_u64[p];
    if (k > 127) { /* prod < 2^117 <= half: rounds to 0 */
        *q = 0;
        return 1;
    }
    unsigned __int128 hi = prod >> k, r = prod - (hi << k);
    unsigned __int128 half = (unsigned __int128)1 << (k - 1);
    if (hi >> 64)
        return 0;
    uint64_t v = (uint64_t)hi;
    if (r > half || (r == half && (v & 1)))
        v++;
    if (v == 0 && hi != 0) /* wrapped: v was 2^64 - 1 */
        return 0;
    *q = v;
    return 1;
}

/* q's decimal digits, at least min of them (leading zeros), written
 * backwards ending at end; returns how many. */
static int u64_digits(char *end, uint64_t q, int min)
{
    int n = (int)nblog__dec_len(q);
    nblog__decimal(end, q);
    for (; n < min; n++)
        end[-n - 1] = '0';
    return n;
}

/* P + 1 significant digits of v = m * 2^e (m > 0), rounded: *q in
 * [10^P, 10^(P+1)) and *x the decimal exponent of its first digit.
 * 0 if the fast path does not reach. */
static int sig_digits(uint64_t m, int e, int P, uint64_t *q, int *x)
{
    int b = bitlen64(m) - 1 + e; /* 2^b <= v < 2^(b+1) */
    /* floor(b * log10(2)), exact for |b| < 1700; X is that or one more */
    int X = (int)(((long long)b * 78913) >> 18);
    for (int tries = 0; tries < 2; tries++) {
        int sc = P - X;
        uint64_t v, lo = pow10_u64[P];
        unsigned __int128 floor_v; /* the unrounded digits, to check X */
        if (sc >= 0) {
            if (sc > 19)
                return 0;
            if (e >= 0) {
                unsigned __int128 n = (unsigned __int128)m * pow10_u64[sc];
                if (e >= 64 || (n >> (64 - e)) != 0) /* the integer past 2^64 */
                    return 0;
                floor_v = n << e;
                v = (uint64_t)floor_v;
            } else {
                unsigned __int128 prod = (unsigned __int128)m * pow10_u64[sc];
                floor_v = -e > 127 ? 0 : prod >> -e;
                if (!scaled_round(m, (unsigned)sc, -e, &v))
                    return 0;
            }
        } else {
            if (e < 0 || -sc > 19 || bitlen64(m) + e > 64)
                return 0; /* not an integer below 2^64 */
            uint64_t n = m << e, d = pow10_u64[-sc], r;
            v = n / d;
            r = n - v * d;
            floor_v = v;
            if (r > d - r || (r == d - r && (v & 1)))
                v++;
        }
        if (floor_v < lo) {
            X--;
            continue;
        }
        if (P + 1 <= 19 && floor_v >= pow10_u64[P + 1]) {
            X++;
            continue;
        }
        if (v == pow10_u64[P + 1]) { /* 9.99..95 -> 10.0: one digit up */
            v = lo;
            X++;
        }
        *q = v;
        *x = X;
        return 1;
    }
    return 0;
}

/* The body of an e-style number: the digits dg[0..nd) as d.ddd, fd
 * digits after the point (zeros past nd), then e+XX. Returns its length. */
static size_t exp_body(char *out, const char *dg, int nd, int fd, int dot, int xe,
                       char echar)
{
    size_t n = 0;
    out[n++] = dg[0];
    if (dot)
        out[n++] = '.';
    for (int i = 1; i <= fd; i++)
        out[n++] = i < nd ? dg[i] : '0';
    out[n++] = echar;
    out[n++] = xe < 0 ? '-' : '+';
    char ebuf[8];
    int en = exp_digits(ebuf, xe);
    if (en < 2)
        ebuf[en++] = '0';
    while (en > 0)
        out[n++] = ebuf[--en];
    return n;
}

/* The fast path: 1 and v rendered into s, or 0 (nothing written) when it
 * does not apply (see the comment above). m > 0. */
#define BODY_MAX 64 /* longest fast body: 20 + 1 + 17 digits and a point, or an e form */

static int render_fast(struct sink *s, const struct nblog__spec *sp, char sign,
                       uint64_t m, int e, char conv)
{
    /* The digits, point and exponent: straight into the output when no
     * field pads them and the longest fits (after the sign), else here. */
    char local[BODY_MAX], dg[24];
    int direct = sp->width <= 0 && s->len < s->cap && s->cap - s->len > BODY_MAX;
    char *body = direct ? s->out + s->len + (sign != 0) : local;
    size_t n = 0;
    int hash = (sp->flags & NBLOG__FL_HASH) != 0;
    int prec = sp->prec < 0 ? 6 : sp->prec;
    char *dend = dg + sizeof dg;
    if (prec > FAST_PREC)
        return 0;
    if (conv == 'f' || conv == 'F') {
        uint64_t q;
        if (e >= 0) {
            if (bitlen64(m) + e > 64)
                return 0;
            q = m << e;
        } else if (!scaled_round(m, (unsigned)prec, -e, &q)) {
            return 0;
        }
        int nd = u64_digits(dend, q, e >= 0 ? 1 : prec + 1); /* an integer digit at least */
        const char *d = dend - nd;
        int ni = e >= 0 ? nd : nd - prec;
        memcpy(body, d, (size_t)ni);
        n = (size_t)ni;
        if (prec > 0 || hash)
            body[n++] = '.';
        if (e >= 0) {
            memset(body + n, '0', (size_t)prec);
            n += (size_t)prec;
        } else {
            memcpy(body + n, d + ni, (size_t)prec);
            n += (size_t)prec;
        }
    } else if (conv == 'e' || conv == 'E') {
        uint64_t q;
        int x;
        if (!sig_digits(m, e, prec, &q, &x))
            return 0;
        int nd = u64_digits(dend, q, 0);
        n = exp_body(body, dend - nd, nd, prec, prec > 0 || hash, x, conv == 'E' ? 'E' : 'e');
    } else if ((conv == 'g' || conv == 'G') && !hash) {
        int P = sp->prec < 0 ? 6 : sp->prec == 0 ? 1 : sp->prec;
        uint64_t q;
        int x;
        if (!sig_digits(m, e, P - 1, &q, &x))
            return 0;
        int nd = u64_digits(dend, q, 0); /* == P */
        const char *d = dend - nd;
        while (nd > 1 && d[nd - 1] == '0')
            nd--; /* trailing zeros go */
        if (x < P && x >= -4) { /* f style */
            if (x >= 0) {
                int ni = x + 1;
                for (int i = 0; i < ni; i++)
                    body[n++] = i < nd ? d[i] : '0';
                if (nd > ni) {
                    body[n++] = '.';
                    memcpy(body + n, d + ni, (size_t)(nd - ni));
                    n += (size_t)(nd - ni);
                }
            } else {
                body[n++] = '0';
                body[n++] = '.';
                for (int i = 0; i < -x - 1; i++)
                    body[n++] = '0';
                memcpy(body + n, d, (size_t)nd);
                n += (size_t)nd;
            }
        } else {
            n = exp_body(body, d, nd, nd - 1, nd > 1, x, conv == 'G' ? 'E' : 'e');
        }
    } else {
        return 0;
    }
    assert(n <= BODY_MAX);
    if (direct) {
        if (sign)
            s->out[s->len++] = sign;
        s->len += n;
        return 1;
    }
    size_t right = field_open(s, sp, sign, NULL, 0, n, 1);
    put_s(s, body, n);
    put_rep(s, ' ', right);
    return 1;
}

static void render_exact(struct sink *s, const struct nblog__spec *sp,
                           char sign, uint64_t m, int e, char conv)
{
    struct dec x;
    int hash = (sp->flags & NBLOG__FL_HASH) != 0;
    int upper = conv == 'E' || conv == 'G';
    long long prec = sp->prec < 0 ? 6 : sp->prec;

    if (m == 0) {
        x.len = 0;
        x.dexp = 1;
        x.big = 0;
        x.f = 0;
    } else {
        dec_init(&x, m, e);
    }

    if (conv == 'e' || conv == 'E') {
        if (m) {
            need_sig(&x, prec + 1);
            dec_round(&x, prec + 1);
        }
        emit_exp(s, sp, sign, &x, (size_t)prec, prec > 0 || hash,
                 upper ? 'E' : 'e');
        return;
    }
    if (conv == 'g' || conv == 'G') {
        long long p = sp->prec < 0 ? 6 : sp->prec == 0 ? 1 : sp->prec;
        int carried = 0;
        if (m) {
            need_sig(&x, p);
            carried = dec_round(&x, p);
        }
        long long xe = x.dexp - 1;
        int fstyle = xe < p && xe >= -4;
        long long fd = fstyle ? p - 1 - xe : p - 1;
        int dot = 1;
        /* glibc quirk, see the top of the file: %#.2g of 99.95 is "1.e+02" */
        if (hash && carried && xe == p)
            fd = 0;
        if (!hash) {
            long long t = x.len;
            while (t > 0 && x.d[t - 1] == '0')
                t--;
            long long have = fstyle ? t - x.dexp : t - 1;
            if (have < 0)
                have = 0;
            if (fd > have)
                fd = have;
            dot = fd > 0;
        }
        if (fstyle)
            emit_fixed(s, sp, sign, &x, (size_t)fd, dot);
        else
            emit_exp(s, sp, sign, &x, (size_t)fd, dot, upper ? 'E' : 'e');
        return;
    }
    /* f, F (and anything unexpected) */
    if (m) {
        need_fixed(&x, prec);
        dec_round(&x, x.dexp + prec);
    }
    emit_fixed(s, sp, sign, &x, (size_t)prec, prec > 0 || hash);
}

/* ---- %a ---------------------------------------------------------------- */

static void render_hex(struct sink *s, const struct nblog__spec *sp,
                       char sign, unsigned bexp, uint64_t frac, int upper)
{
    const char *hx = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int hash = (sp->flags & NBLOG__FL_HASH) != 0;
    uint64_t lead;
    int pexp, nd;     /* nd: significant hex digits of frac printed */
    size_t zeros = 0; /* zero digits after them (precision > 13) */

    if (bexp == 0) { /* zero or subnormal: 0x0.<frac>p-1022 */
        lead = 0;
        pexp = frac ? -1022 : 0;
    } else {
        lead = 1;
        pexp = (int)bexp - 1023;
    }
    if (sp->prec < 0) {
        nd = 13;
        while (nd > 0 && !(frac & 0xf)) {
            frac >>= 4;
            nd--;
        }
    } else if (sp->prec < 13) {
        int drop = 4 * (13 - sp->prec);
        uint64_t v = lead << 52 | frac;
        uint64_t r = v & ((UINT64_C(1) << drop) - 1);
        uint64_t half = UINT64_C(1) << (drop - 1);
        v >>= drop;
        if (r > half || (r == half && (v & 1)))
            v++; /* may carry into the lead digit: 0x1.f8 -> 0x2.0 */
        nd = sp->prec;
        lead = v >> (4 * nd);
        frac = v & ((UINT64_C(1) << (4 * nd)) - 1);
    } else {
        nd = 13;
        zeros = (size_t)sp->prec - 13;
    }

    int dot = nd > 0 || zeros > 0 || hash;
    char ebuf[8];
    int en = exp_digits(ebuf, pexp);
    size_t body = 1 + (dot ? 1 : 0) + (size_t)nd + zeros + 2 + (size_t)en;
    size_t right = field_open(s, sp, sign, upper ? "0X" : "0x", 2, body, 1);
    put_c(s, hx[lead]);
    if (dot)
        put_c(s, '.');
    for (int i = nd - 1; i >= 0; i--)
        put_c(s, hx[(frac >> (4 * i)) & 0xf]);
    put_rep(s, '0', zeros);
    put_c(s, upper ? 'P' : 'p');
    put_c(s, pexp < 0 ? '-' : '+');
    while (en > 0)
        put_c(s, ebuf[--en]);
    put_rep(s, ' ', right);
}

/* ---- entry point ------------------------------------------------------- */

/* Both ways in: fast 1 tries render_fast first (nblog__fmt_double), 0
 * goes the exact way only (the test hook). */
static size_t fmt_double(char *out, size_t cap, double v, const struct nblog__spec *spec,
                         int fast)
{
    struct sink s = {out, cap, 0};
    struct nblog__spec sp = *spec;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);

    int neg = (int)(bits >> 63);
    unsigned bexp = (unsigned)(bits >> 52) & 0x7ff;
    uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
    char conv = sp.conv;
    int upper = conv == 'F' || conv == 'E' || conv == 'G' || conv == 'A';
    char sign = neg ? '-'
                : (sp.flags & NBLOG__FL_PLUS)  ? '+'
                : (sp.flags & NBLOG__FL_SPACE) ? ' '
                                               : 0;
    if (sp.prec < -1)
        sp.prec = -1; /* a negative precision is taken as omitted */

    if (bexp == 0x7ff) { /* inf, nan: no padding zeros, no precision */
        const char *t = frac ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
        size_t right = field_open(&s, &sp, sign, NULL, 0, 3, 0);
        put_s(&s, t, 3);
        put_rep(&s, ' ', right);
        return s.len;
    }
    if (conv == 'a' || conv == 'A') {
        render_hex(&s, &sp, sign, bexp, frac, upper);
        return s.len;
    }
    /* value = m * 2^e; subnormals share the exponent of the smallest normal */
    uint64_t m = bexp ? frac | (UINT64_C(1) << 52) : frac;
    int e = (bexp ? (int)bexp : 1) - 1075;
    if (!fast || !m || !render_fast(&s, &sp, sign, m, e, conv))
        render_exact(&s, &sp, sign, m, e, conv);
    return s.len;
}

size_t nblog__fmt_double(char *out, size_t cap, double v, const struct nblog__spec *spec)
{
    return fmt_double(out, cap, v, spec, 1);
}

#ifdef NBLOG_TEST_HOOKS
size_t nblog__fmt_double_exact(char *out, size_t cap, double v,
                               const struct nblog__spec *spec)
{
    return fmt_double(out, cap, v, spec, 0);
}
#endif

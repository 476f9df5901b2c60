/*
 * format.c - nblog's own printf-style formatter.  [signal-safe]
 *
 * Design
 * ------
 * nblog__vformat() runs on every logging call and inside signal handlers, so
 * it calls nothing from the printf family, no locale function and no malloc;
 * the only libc calls are memcpy, memset, memchr, strchr, strlen and strnlen
 * (all async-signal-safe), and for %m glibc's strerrordesc_np and
 * strerrorname_np (table lookups: see errno_text()).  It keeps no state
 * outside its own stack frame.
 *
 * One pass over the format, whose length is taken once up front:
 *
 *   literal run  -> literal() copies it straight into the caller's buffer
 *   '%' spec     -> simple_spec() renders the common, simple specs (see
 *                   "Fast paths"); it declines anything else, and
 *                   full_spec() takes it: parse_spec() fills a struct conv
 *                   without touching the arguments, then it decides:
 *                     a spec whose arguments are unknown (an unknown
 *                     conversion character, "%1$d", an incomplete spec)
 *                         -> REFUSE_STOP: the rest of the format is copied
 *                            verbatim, nothing more is converted or taken,
 *                            NBLOG__FMT_BAD
 *                     not enough arguments left (nargs known)
 *                         -> "%!(MISSING)", nothing taken, and the argument
 *                            list counts as exhausted, NBLOG__FMT_MISSING
 *                     a spec refused whose arguments are certain (%n, or a
 *                     width or precision in digits past INT_MAX)
 *                         -> REFUSE_TAKE: its '*' arguments and its value
 *                            are taken by their C types and never shown;
 *                            the spec is copied verbatim, NBLOG__FMT_BAD
 *                     otherwise
 *                         -> take '*' width, '*' precision, then the value,
 *                            in that order, and render it
 *
 * The invariant both refusals keep: every conversion prints the argument the
 * C rules give it, or nothing.  A refused spec that took nothing would let
 * the next conversions read the arguments meant for it ("%n%d", &i, 3
 * printing the pointer as an int), which can leak addresses into a log.
 * nblog__fmt_arg_kinds (the deferred way in) refuses the same specs, so such
 * a call is formatted at once by this code, and both ways in agree.
 *
 * Parsing a whole spec before taking any argument is what lets a bad spec
 * consume nothing and lets "%*d" with one argument left report MISSING
 * instead of taking the width and then running dry.  simple_spec() keeps
 * that: it takes the argument only once it has seen the whole spec, and it
 * declines when no argument is left, so full_spec() reports MISSING.
 *
 * Output goes through struct out: p walks the writable part of the buffer
 * (cap - 1 bytes, the last byte being kept for the NUL) up to end, and over
 * counts the bytes that did not fit, so (p - buf) + over is the length the
 * full output would have: vsnprintf's return value.  Writes past end are
 * only counted, so a huge width costs nothing.  Every write is exact: no
 * byte past the final NUL is touched, not even for a while.
 *
 * Fast paths.  A typical logging call is a few words of text and a few
 * simple specs: a conversion, maybe a length modifier, a '-' or '0' flag
 * and a width, and for floats a precision ("%d", "%s", "%lu", "%zx", "%p",
 * "%c", "%%", "%5d", "%-10s", "%08x", "%.3f").  Those cost the least:
 *   - literal() moves eight bytes at a time, finding a '%' among them with
 *     one word test (pct_bytes).  Knowing the format's length is what
 *     keeps those loads inside it; the last bytes go one at a time.
 *   - copy() and fill() move short runs (up to 16 bytes: most literal
 *     runs, arguments and paddings) with a few overlapping 8/4/2/1-byte
 *     moves instead of calling memcpy or memset.
 *   - simple_spec() renders simple specs with a table lookup for the
 *     conversion, no struct conv and no general layout: an integer's digit
 *     count comes first (int_len), then the sign, padding and digits go
 *     straight to their place in the buffer; a bare conversion (no field,
 *     no modifier) gets its own, constant-folded copy of the code.  It
 *     needs room for the field and the longest integer; a nearly full
 *     buffer goes the general way, which clips every piece.
 *   - run()'s struct out never has its address taken (full_spec() gets a
 *     copy), so the compiler keeps it in registers: a char store through
 *     the output pointer could alias it otherwise.  The OUT_INLINE helpers
 *     that take it must therefore be inlined.
 * The deferred (blob) mode shares all of these; only where arguments come
 * from differs.
 *
 * Integers are written backwards, two decimal digits per division (64-bit
 * values lose eight digits per 64-bit division, the rest in 32 bits), and
 * laid out as
 *     [spaces] [sign] [0x] [zeros] digits [spaces]
 * with the glibc rules: precision is a minimum digit count and "%.0d" of 0
 * has no digits; '0' pads only without precision and without '-'; '#'
 * gives "0x"/"0X" for a nonzero hex value and a leading 0 for octal; '+' and
 * ' ' count for d, i and p (glibc keeps them for p), never for u, o, x, X.
 * %p is "(nil)" for NULL (padded with spaces, precision ignored), else %#lx.
 * %m is errno's text as glibc's strerror gives it in the C locale ("Unknown
 * error N" for a number it has no text for), %#m its name ("ENOENT", or the
 * number); width and precision as for %s, length modifiers ignored (as
 * glibc does).  errno is read once, when nblog__vformat is entered (a
 * deferred record carries the caller's errno instead).  The text comes from
 * glibc's strerrordesc_np/strerrorname_np (>= 2.32), which index a constant
 * table: no lock, no allocation, no locale, no errno change (see
 * errno_text()), so unlike strerror(3) they are safe here.  %C and %S are
 * %lc and %ls, as in glibc.
 * Strings and characters pad with spaces even with '0'.  A NULL %s is
 * "(null)" when the precision is absent or >= 6, else nothing.  %.Ns reads at
 * most N bytes.
 *
 * Length modifiers follow glibc on this ABI: L, q and ll are the same
 * ("long long" for integers, "long double" for floats); for c and s every
 * modifier but h and hh selects the wide form (j always, z and t when
 * size_t is wider than int).  Wide characters are written as UTF-8 whatever
 * the locale (no locale is consulted), as glibc does in a UTF-8 locale; a
 * value that is not a Unicode scalar value is written as '?' where glibc
 * would fail the whole call (as it does for any non-ASCII character in the
 * "C" locale).  Precision and width of %ls count bytes, whole characters
 * only, like glibc's.
 *
 * Floating conversions read a double (long double when glibc would) and
 * hand it, with the parsed spec, to nblog__fmt_double(), which renders
 * straight into the remaining room of the output buffer.
 *
 * Known differences from glibc, where glibc returns -1 and we cannot: a
 * width or precision written in digits that exceeds INT_MAX refuses the
 * spec (REFUSE_TAKE); a '*' width of INT_MIN is taken as INT_MAX with '-';
 * an incomplete spec at the end of the format ("abc%", "%5l") is copied
 * verbatim (BAD).  Where glibc prints an unknown conversion ("%y") verbatim
 * and goes on, nblog copies the rest of the format verbatim (REFUSE_STOP):
 * it cannot know what arguments such a spec was meant to take.  glibc
 * executes %n; nblog never writes through it (REFUSE_TAKE).  The "'" and
 * "I" flags are accepted and ignored (no grouping, no locale digits in the
 * C locale).  Positional arguments ("%1$d") are not supported
 * (REFUSE_STOP).  A NULL format writes nothing and reports BAD.
 */
#include "format.h"
#include "format_float.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

_Static_assert(sizeof(ptrdiff_t) == sizeof(size_t),
               "%zd and %tu read the other type of the same width");
_Static_assert(sizeof(uintmax_t) == 8 && sizeof(unsigned long long) == 8,
               "int_len and the digit buffers assume 64-bit integers");

/* Length modifiers.  'L' and 'q' are stored as LEN_LL (glibc treats the
 * three alike for every conversion). */
enum lenmod { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_J, LEN_Z, LEN_T };

/* A parsed conversion spec: the part nblog__fmt_double also needs, plus
 * what only this file uses. */
struct conv {
    struct nblog__spec sp; /* flags, width, prec (-1: none), conv (0: none
                              known); 'C' and 'S' are stored as c and s */
    unsigned char len;     /* enum lenmod */
    unsigned char wstar;   /* width is taken from an int argument */
    unsigned char pstar;   /* precision is taken from an int argument */
    unsigned char refuse;  /* enum refuse: why the spec is not rendered */
};

/* Refused specs (see the design comment).  TAKE: the arguments are known
 * (sp.conv and len say their types), taken and not shown.  STOP: they are
 * not; nothing after the spec is converted. */
enum refuse { REFUSE_NONE, REFUSE_TAKE, REFUSE_STOP };

/* The output buffer; see the design comment. */
struct out {
    char *p;     /* where the next byte goes */
    char *end;   /* end of the writable part (where the NUL goes when full) */
    size_t over; /* bytes of the full output that did not fit */
};

/* The argument list, with how many arguments are left (-1: unknown).
 * Arguments come from ap; or, when blob is set, from a deferred record's
 * encoded arguments (see format.h), where an argument whose tag does not
 * fit the conversion reads as 0 and sets bad; or, when words is set, from
 * the words a deferred call site made of its arguments (nblog.h
 * NBLOG__WORD: an integer or pointer as uintptr_t, a floating argument as
 * a double's bits), left always known. */
struct args {
    va_list *ap; /* the caller's list, taken in place (never copied) */
    int left;
    int bad;
    int err; /* errno as it was at the call, for %m (not in blob mode) */
    const unsigned char *blob, *bend;
    const uint64_t *words;
};

/* The next argument as the integer or pointer type T: the caller's next
 * word, converted as va_arg would have read T, or va_arg itself. */
#define VA(a, T) ((a)->words ? (T)(uintptr_t)(*(a)->words++) : va_arg(*(a)->ap, T))

static const char missing_text[] = "%!(MISSING)";
static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* ---- short copies ------------------------------------------------------ */

/*
 * memcpy(d, s, n) for the short n of most literal runs and arguments: a
 * libc call costs more than moving a dozen bytes.  Two overlapping moves of
 * 8 (or 4) bytes cover any n from 8 to 16 (4 to 8) exactly; three byte
 * moves cover 1 to 3.  Every load happens before the stores it pairs with.
 */
static inline void copy(char *d, const char *s, size_t n)
{
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n > 0) {
        char a = s[0], b = s[n / 2], c = s[n - 1];
        d[0] = a;
        d[n / 2] = b;
        d[n - 1] = c;
    }
}

/* memset(d, c, n) likewise (widths are mostly short); returns d + n. */
static inline char *fill(char *d, char c, size_t n)
{
    uint64_t w = 0x0101010101010101ull * (unsigned char)c;
    uint32_t h = (uint32_t)w;
    if (n > 16) {
        memset(d, c, n);
    } else if (n >= 8) {
        memcpy(d, &w, 8);
        memcpy(d + n - 8, &w, 8);
    } else if (n >= 4) {
        memcpy(d, &h, 4);
        memcpy(d + n - 4, &h, 4);
    } else if (n > 0) {
        d[0] = c;
        d[n / 2] = c;
        d[n - 1] = c;
    }
    return d + n;
}

/* ---- output ------------------------------------------------------------ */

/* For the functions that take run()'s struct out on the fast path: they
 * must be inlined, or o's address would escape (see run()). */
#define OUT_INLINE static inline __attribute__((always_inline))

OUT_INLINE size_t room(const struct out *o)
{
    return (size_t)(o->end - o->p);
}

/* Counts n bytes of output, of which the first room(o) were written. */
OUT_INLINE void advance(struct out *o, size_t n)
{
    size_t r = room(o);
    if (n <= r) {
        o->p += n;
    } else {
        o->p = o->end;
        o->over += n - r;
    }
}

OUT_INLINE void put(struct out *o, const char *s, size_t n)
{
    size_t r = room(o);
    copy(o->p, s, n < r ? n : r);
    advance(o, n);
}

OUT_INLINE void pad(struct out *o, char c, size_t n)
{
    if (n == 0) /* the common case: no padding */
        return;
    size_t r = room(o);
    fill(o->p, c, n < r ? n : r);
    advance(o, n);
}

/* Text of n bytes in a field of s->width, padded with spaces. */
static void put_field(struct out *o, const struct nblog__spec *s,
                      const char *text, size_t n)
{
    if (s->width == 0) { /* the common case: no field to pad */
        put(o, text, n);
        return;
    }
    size_t w = (size_t)s->width;
    size_t fill_n = w > n ? w - n : 0;
    if (!(s->flags & NBLOG__FL_MINUS))
        pad(o, ' ', fill_n);
    put(o, text, n);
    if (s->flags & NBLOG__FL_MINUS)
        pad(o, ' ', fill_n);
}

/* ---- literal text ------------------------------------------------------ */

/* 0x80 in each byte of w that is '%', 0 in the others.  Exact (no carry
 * crosses a byte), unlike the shorter has-zero-byte test. */
static inline uint64_t pct_bytes(uint64_t w)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
    uint64_t x = w ^ 0x2525252525252525ull; /* a '%' byte becomes 0 */
    return ~(((x & low7) + low7) | x | low7);
}

/* Index, in memory order, of the first marked byte of m (m != 0). */
static inline size_t first_marked(uint64_t m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (size_t)__builtin_clzll(m) / 8;
#else
    return (size_t)__builtin_ctzll(m) / 8;
#endif
}

/* The end of literal(): the last few bytes of the format, or any length
 * when the buffer is (nearly) full. */
OUT_INLINE const char *literal_tail(struct out *o, const char *p,
                                    const char *end)
{
    const char *q = p;
    if (end - p < 8) {
        while (q < end && *q != '%')
            q++;
    } else {
        q = memchr(p, '%', (size_t)(end - p));
        if (!q)
            q = end;
    }
    if (q != p)
        put(o, p, (size_t)(q - p));
    return q;
}

/*
 * Copies the literal text at p, up to the next '%' or end, and returns
 * where it stopped.  While eight bytes of format and of room remain it
 * moves eight at a time: one load, one test for a '%' among them, one
 * store.  The loads stay inside the format, whose end is known.
 */
OUT_INLINE const char *literal(struct out *o, const char *p,
                               const char *end)
{
    char *d = o->p;
    size_t r = room(o);
    while (end - p >= 8 && r >= 8) {
        uint64_t w, m;
        memcpy(&w, p, 8);
        m = pct_bytes(w);
        if (m) {
            size_t k = first_marked(m);
            copy(d, p, k);
            o->p = d + k;
            return p + k;
        }
        memcpy(d, &w, 8);
        d += 8;
        r -= 8;
        p += 8;
    }
    o->p = d;
    return literal_tail(o, p, end);
}

/* ---- parsing ----------------------------------------------------------- */

/* What a conversion character converts; CV_BAD (0) for the others.
 * CV_COUNT (%n) is known only to be refused (REFUSE_TAKE): it takes a
 * pointer, which is never written through. */
enum { CV_BAD, CV_SIGNED, CV_UNSIGNED, CV_PTR, CV_CHAR, CV_STR, CV_PCT,
       CV_FLOAT, CV_ERRNO, CV_COUNT };

static const unsigned char conv_kind[256] = {
    ['d'] = CV_SIGNED,   ['i'] = CV_SIGNED,   ['u'] = CV_UNSIGNED,
    ['o'] = CV_UNSIGNED, ['x'] = CV_UNSIGNED, ['X'] = CV_UNSIGNED,
    ['p'] = CV_PTR,      ['c'] = CV_CHAR,     ['s'] = CV_STR,
    ['%'] = CV_PCT,      ['f'] = CV_FLOAT,    ['F'] = CV_FLOAT,
    ['e'] = CV_FLOAT,    ['E'] = CV_FLOAT,    ['g'] = CV_FLOAT,
    ['G'] = CV_FLOAT,    ['a'] = CV_FLOAT,    ['A'] = CV_FLOAT,
    ['C'] = CV_CHAR,     ['S'] = CV_STR,      ['m'] = CV_ERRNO,
    ['n'] = CV_COUNT,
};

static inline unsigned kind_of(char c)
{
    return conv_kind[(unsigned char)c];
}

/* The flag bit of each flag character; FL_NOOP for the accepted, ignored
 * "'" and "I" (no grouping, no locale digits in the C locale), 0 for the
 * rest. */
#define FL_NOOP 0x80
static const unsigned char flag_bits[256] = {
    ['-'] = NBLOG__FL_MINUS, ['+'] = NBLOG__FL_PLUS, [' '] = NBLOG__FL_SPACE,
    ['#'] = NBLOG__FL_HASH,  ['0'] = NBLOG__FL_ZERO, ['\''] = FL_NOOP,
    ['I'] = FL_NOOP,
};

/* Decimal digits at p into *v (0 if none); *ovf set past INT_MAX. */
static const char *parse_num(const char *p, int *v, int *ovf)
{
    int n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (n > (INT_MAX - d) / 10)
            *ovf = 1;
        else
            n = n * 10 + d;
    }
    *v = n;
    return p;
}

static const char *parse_len(const char *p, unsigned char *len)
{
    switch (*p) {
    case 'h':
        if (p[1] == 'h') {
            *len = LEN_HH;
            return p + 2;
        }
        *len = LEN_H;
        return p + 1;
    case 'l':
        if (p[1] == 'l') {
            *len = LEN_LL;
            return p + 2;
        }
        *len = LEN_L;
        return p + 1;
    case 'L': case 'q': *len = LEN_LL; return p + 1;
    case 'j': *len = LEN_J; return p + 1;
    case 'z': *len = LEN_Z; return p + 1;
    case 't': *len = LEN_T; return p + 1;
    default: *len = LEN_NONE; return p;
    }
}

/*
 * Parse the spec after a '%' at p into *c, taking no argument.  Returns the
 * end of the spec (past the conversion character, or at the terminating
 * NUL of an incomplete spec).  c->refuse says whether it may be rendered;
 * c->sp.conv is 0 only when it is REFUSE_STOP.
 */
static const char *parse_spec(const char *p, struct conv *c)
{
    unsigned fl = 0, bit;
    int ovf = 0;
    while ((bit = flag_bits[(unsigned char)*p]) != 0) {
        fl |= bit;
        p++;
    }
    c->sp.flags = fl & ~(unsigned)FL_NOOP;
    c->sp.width = 0;
    c->sp.prec = -1;
    c->wstar = c->pstar = 0;
    if (*p == '*') {
        c->wstar = 1;
        p++;
    } else {
        p = parse_num(p, &c->sp.width, &ovf);
    }
    if (*p == '.') {
        if (*++p == '*') {
            c->pstar = 1;
            p++;
        } else {
            p = parse_num(p, &c->sp.prec, &ovf);
        }
    }
    c->len = LEN_NONE;
    if (!kind_of(*p))
        p = parse_len(p, &c->len);
    unsigned k = kind_of(*p);
    c->sp.conv = *p;
    c->refuse = REFUSE_NONE;
    if (!k) {
        c->sp.conv = 0;
        c->refuse = REFUSE_STOP;
    } else if (ovf || k == CV_COUNT) {
        c->refuse = REFUSE_TAKE;
    }
    if (*p == 'C' || *p == 'S') { /* glibc's %lc and %ls */
        c->sp.conv = *p == 'C' ? 'c' : 's';
        c->len = LEN_L;
    }
    return *p ? p + 1 : p;
}

/* How many arguments the spec c takes, '*' included (kind k). */
static inline int args_taken(const struct conv *c, unsigned k)
{
    return c->wstar + c->pstar + (k != CV_PCT && k != CV_ERRNO);
}

/* ---- arguments --------------------------------------------------------- */

/* Reserve n arguments; 0 (and the list counts as exhausted) if too few. */
static inline int take(struct args *a, int n)
{
    if (a->left < 0)
        return 1;
    if (n > a->left) {
        a->left = 0;
        return 0;
    }
    a->left -= n;
    return 1;
}

/* The next encoded argument's value if its tag is tag; else 0, and the
 * rest of the list is dropped. For NBLOG__A_STR, str and n get the bytes. */
static uint64_t blob_take(struct args *a, unsigned tag, const char **str,
                          size_t *n)
{
    const unsigned char *p = a->blob;
    uint64_t v = 0;
    if (p >= a->bend || *p != tag)
        goto bad;
    if (tag == NBLOG__A_STR) {
        uint16_t len;
        if (a->bend - p < 3)
            goto bad;
        memcpy(&len, p + 1, 2);
        *str = (const char *)p + 3;
        *n = len == NBLOG__A_STR_NULL ? 0 : len;
        if ((size_t)(a->bend - p - 3) < *n)
            goto bad;
        if (len == NBLOG__A_STR_NULL)
            *str = NULL;
        a->blob = p + 3 + *n;
        return 0;
    }
    if (a->bend - p < 9)
        goto bad;
    memcpy(&v, p + 1, 8);
    a->blob = p + 9;
    return v;
bad:
    a->bad = 1;
    a->blob = a->bend;
    if (str) {
        *str = "";
        *n = 0;
    }
    return 0;
}

/* An int-promoted argument (for '*' and %c). */
static int get_int(struct args *a)
{
    return a->blob ? (int)blob_take(a, NBLOG__A_INT, NULL, NULL)
                   : VA(a, int);
}

static inline intmax_t get_signed(struct args *a, unsigned len)
{
    if (a->blob) {
        int64_t v = (int64_t)blob_take(a, NBLOG__A_INT, NULL, NULL);
        switch (len) { /* the type's width: no-ops for 64-bit types */
        case LEN_HH: return (signed char)v;
        case LEN_H: return (short)v;
        case LEN_NONE: return (int)v;
        case LEN_L: return (long)v;
        case LEN_Z: case LEN_T: return (ptrdiff_t)v;
        default: return v;
        }
    }
    switch (len) {
    case LEN_HH: return (signed char)VA(a, int);
    case LEN_H: return (short)VA(a, int);
    case LEN_L: return VA(a, long);
    case LEN_LL: return VA(a, long long);
    case LEN_J: return VA(a, intmax_t);
    case LEN_Z: /* the signed type of size_t */
    case LEN_T: return VA(a, ptrdiff_t);
    default: return VA(a, int);
    }
}

static inline uintmax_t get_unsigned(struct args *a, unsigned len)
{
    if (a->blob) {
        uint64_t v = blob_take(a, NBLOG__A_INT, NULL, NULL);
        switch (len) { /* the type's width: no-ops for 64-bit types */
        case LEN_HH: return (unsigned char)v;
        case LEN_H: return (unsigned short)v;
        case LEN_NONE: return (unsigned)v;
        case LEN_L: return (unsigned long)v;
        case LEN_Z: case LEN_T: return (size_t)v;
        default: return v;
        }
    }
    switch (len) {
    case LEN_HH: return (unsigned char)VA(a, unsigned);
    case LEN_H: return (unsigned short)VA(a, unsigned);
    case LEN_L: return VA(a, unsigned long);
    case LEN_LL: return VA(a, unsigned long long);
    case LEN_J: return VA(a, uintmax_t);
    case LEN_Z: /* the unsigned type of ptrdiff_t */
    case LEN_T: return VA(a, size_t);
    default: return VA(a, unsigned);
    }
}

/* glibc: which modifiers make c and s wide, and a float long double. */
static inline int wide_arg(unsigned len)
{
    return len == LEN_L || len == LEN_LL || len == LEN_J ||
           ((len == LEN_Z || len == LEN_T) && sizeof(size_t) > sizeof(int));
}

static inline int long_double_arg(unsigned len)
{
    return len == LEN_LL ||
           (len == LEN_J && sizeof(intmax_t) > sizeof(long)) ||
           ((len == LEN_Z || len == LEN_T) && sizeof(size_t) > sizeof(long));
}

/* ---- integers ---------------------------------------------------------- */

/* Longest integer text: 22 octal digits, or a sign and 20 decimal ones. */
#define INT_TEXT_MAX 24

/* Number of digits of v in conv's base. */
static inline size_t int_len(uintmax_t v, char conv)
{
    switch (conv) {
    case 'o': return (nblog__bit_len(v) + 2) / 3;
    case 'x': case 'X': case 'p': return (nblog__bit_len(v) + 3) / 4;
    default: return nblog__dec_len(v);
    }
}

/* All int_len(v, conv) digits of v, written backwards ending at end. */
static inline void digits(char *end, uintmax_t v, char conv)
{
    if (conv == 'o') {
        do
            *--end = (char)('0' + (v & 7));
        while (v >>= 3);
    } else if (conv == 'x' || conv == 'X' || conv == 'p') {
        const char *hex = conv == 'X' ? hex_upper : hex_lower;
        do
            *--end = hex[v & 15];
        while (v >>= 4);
    } else {
        nblog__decimal(end, v);
    }
}

/* Where an integer's text goes, per the rules in the design comment:
 *     [fill] pre[0..np) [zeros] n digits [fill]    (fill after with '-') */
struct int_layout {
    char pre[3];       /* sign and/or "0x" */
    unsigned char np;
    size_t zeros, n, fill;
};

static void int_layout(struct int_layout *L, const struct nblog__spec *s,
                       uintmax_t v, char sign)
{
    int hex = s->conv == 'x' || s->conv == 'X' || s->conv == 'p';
    L->np = 0;
    if (sign)
        L->pre[L->np++] = sign;
    if ((s->flags & NBLOG__FL_HASH) && v != 0 && hex) {
        L->pre[L->np++] = '0';
        L->pre[L->np++] = s->conv == 'X' ? 'X' : 'x';
    }
    L->n = (s->prec == 0 && v == 0) ? 0 : int_len(v, s->conv);
    L->zeros = 0;
    if (s->prec > 0 && (size_t)s->prec > L->n)
        L->zeros = (size_t)s->prec - L->n;
    /* "%#o" starts with a 0: an extra one unless the digits already do
     * (only the value 0 has a leading 0 digit) */
    if (s->conv == 'o' && (s->flags & NBLOG__FL_HASH) && L->zeros == 0 &&
        (L->n == 0 || v != 0))
        L->zeros = 1;
    size_t body = L->np + L->zeros + L->n, w = (size_t)s->width;
    if ((s->flags & (NBLOG__FL_ZERO | NBLOG__FL_MINUS)) == NBLOG__FL_ZERO &&
        s->prec < 0 && w > body) {
        L->zeros += w - body;
        body = w;
    }
    L->fill = w > body ? w - body : 0;
}

/* v (a magnitude) with an optional sign character, per the rules above.
 * The general path (see simple_spec for the common one): the digits go
 * to a local buffer, and every piece is clipped to the room left. */
static void put_int(struct out *o, const struct nblog__spec *s, uintmax_t v,
                    char sign)
{
    char dig[INT_TEXT_MAX];
    struct int_layout L;
    int left = (s->flags & NBLOG__FL_MINUS) != 0;
    int_layout(&L, s, v, sign);
    if (L.n)
        digits(dig + L.n, v, s->conv);
    if (!left)
        pad(o, ' ', L.fill);
    put(o, L.pre, L.np);
    pad(o, '0', L.zeros);
    put(o, dig, L.n);
    if (left)
        pad(o, ' ', L.fill);
}

static inline char sign_char(unsigned flags, int neg)
{
    if (neg)
        return '-';
    if (flags & NBLOG__FL_PLUS)
        return '+';
    return (flags & NBLOG__FL_SPACE) ? ' ' : 0;
}

static void conv_signed(struct out *o, struct conv *c, struct args *a)
{
    intmax_t v = get_signed(a, c->len);
    uintmax_t mag = v < 0 ? (uintmax_t)0 - (uintmax_t)v : (uintmax_t)v;
    put_int(o, &c->sp, mag, sign_char(c->sp.flags, v < 0));
}

static void conv_unsigned(struct out *o, struct conv *c, struct args *a)
{
    put_int(o, &c->sp, get_unsigned(a, c->len), 0);
}

static inline const void *get_pointer(struct args *a)
{
    return a->blob ? (const void *)(uintptr_t)blob_take(a, NBLOG__A_PTR,
                                                        NULL, NULL)
                   : VA(a, const void *);
}

static void conv_pointer(struct out *o, struct conv *c, struct args *a)
{
    const void *p = get_pointer(a);
    if (!p) {
        put_field(o, &c->sp, "(nil)", 5);
        return;
    }
    c->sp.flags |= NBLOG__FL_HASH;
    put_int(o, &c->sp, (uintptr_t)p, sign_char(c->sp.flags, 0));
}

/* ---- characters and strings -------------------------------------------- */

/* UTF-8 for wc into d (4 bytes of room); '?' if not a scalar value. */
static size_t utf8(char *d, uint32_t wc)
{
    if (wc < 0x80) {
        d[0] = (char)wc;
        return 1;
    }
    if (wc < 0x800) {
        d[0] = (char)(0xc0 | (wc >> 6));
        d[1] = (char)(0x80 | (wc & 0x3f));
        return 2;
    }
    if (wc < 0x10000 && (wc < 0xd800 || wc > 0xdfff)) {
        d[0] = (char)(0xe0 | (wc >> 12));
        d[1] = (char)(0x80 | ((wc >> 6) & 0x3f));
        d[2] = (char)(0x80 | (wc & 0x3f));
        return 3;
    }
    if (wc >= 0x10000 && wc < 0x110000) {
        d[0] = (char)(0xf0 | (wc >> 18));
        d[1] = (char)(0x80 | ((wc >> 12) & 0x3f));
        d[2] = (char)(0x80 | ((wc >> 6) & 0x3f));
        d[3] = (char)(0x80 | (wc & 0x3f));
        return 4;
    }
    d[0] = '?';
    return 1;
}

static void conv_char(struct out *o, struct conv *c, struct args *a)
{
    char ch[4];
    size_t n = 1;
    if (wide_arg(c->len) && !a->blob)
        n = utf8(ch, (uint32_t)VA(a, wint_t));
    else
        ch[0] = (char)(unsigned char)get_int(a);
    put_field(o, &c->sp, ch, n);
}

/* Bytes of UTF-8 for ws: whole characters only, at most max bytes. */
static size_t wide_bytes(const wchar_t *ws, size_t max)
{
    char tmp[4];
    size_t n = 0;
    for (; n < max && *ws; ws++) {
        size_t k = utf8(tmp, (uint32_t)*ws);
        if (k > max - n)
            break;
        n += k;
    }
    return n;
}

/* Write the first n bytes of ws's UTF-8 (n from wide_bytes). */
static void put_wide(struct out *o, const wchar_t *ws, size_t n)
{
    char chunk[64];
    size_t used = 0;
    while (n > 0) {
        size_t k = utf8(chunk + used, (uint32_t)*ws++);
        used += k;
        n -= k;
        if (used > sizeof chunk - 4 || n == 0) {
            put(o, chunk, used);
            used = 0;
        }
    }
}

static void conv_wide_string(struct out *o, const struct conv *c,
                             struct args *a)
{
    const wchar_t *ws = VA(a, const wchar_t *);
    const struct nblog__spec *s = &c->sp;
    if (!ws) {
        put_field(o, s, "(null)", (s->prec < 0 || s->prec >= 6) ? 6 : 0);
        return;
    }
    size_t n = wide_bytes(ws, s->prec < 0 ? SIZE_MAX : (size_t)s->prec);
    size_t w = (size_t)s->width, fill = w > n ? w - n : 0;
    if (!(s->flags & NBLOG__FL_MINUS))
        pad(o, ' ', fill);
    put_wide(o, ws, n);
    if (s->flags & NBLOG__FL_MINUS)
        pad(o, ' ', fill);
}

static void conv_string(struct out *o, const struct conv *c,
                        struct args *a)
{
    int prec = c->sp.prec;
    const char *str;
    size_t n;
    if (a->blob) { /* copied bounded by the writer; bound again by prec */
        blob_take(a, NBLOG__A_STR, &str, &n);
        if (str && prec >= 0 && n > (size_t)prec)
            n = (size_t)prec;
        if (str) {
            put_field(o, &c->sp, str, n);
            return;
        }
    } else if (wide_arg(c->len)) {
        conv_wide_string(o, c, a);
        return;
    } else {
        str = VA(a, const char *);
    }
    if (!str) {
        str = "(null)";
        n = (prec < 0 || prec >= 6) ? 6 : 0;
    } else if (prec < 0) {
        n = strlen(str);
    } else { /* bounded: need not be terminated; POSIX memchr stops at
              * the first match, so nothing past a NUL is read either */
        const char *z = memchr(str, '\0', (size_t)prec);
        n = z ? (size_t)(z - str) : (size_t)prec;
    }
    put_field(o, &c->sp, str, n);
}

/* ---- floating point ---------------------------------------------------- */

static double get_double(struct args *a, unsigned len)
{
    if (a->blob) {
        uint64_t bits = blob_take(a, NBLOG__A_F64, NULL, NULL);
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    if (a->words) { /* the call site made any floating type a double */
        double v;
        memcpy(&v, a->words++, sizeof v);
        return v;
    }
    return long_double_arg(len) ? (double)va_arg(*a->ap, long double)
                                : va_arg(*a->ap, double);
}

/* fmt_double renders into the room left and returns its full length,
 * which advance() counts like any other output. */
OUT_INLINE void put_double(struct out *o, const struct nblog__spec *s,
                           double v)
{
    advance(o, nblog__fmt_double(o->p, room(o), v, s));
}

static void conv_float(struct out *o, struct conv *c, struct args *a)
{
    put_double(o, &c->sp, get_double(a, c->len));
}

/* ---- %m ---------------------------------------------------------------- */

/*
 * glibc's text for errno e (its name with alt), or NULL if it has none.
 * strerrordesc_np and strerrorname_np (glibc 2.32) are, in glibc's
 * string/strerrordesc_np.c and stdio-common/errlist.c, errname.c, one
 * bounds-checked index into a constant table (__get_errlist,
 * __get_errname): no lock, no allocation, no locale, errno untouched.  The
 * manual calls them MT-Safe and gives no AS-Safe attribute, but nothing in
 * them could fail in a signal handler; strerror(3), which may translate
 * and format into a static buffer, is what cannot be used here.  Without
 * them (another libc, older glibc) only the number is known: %m prints
 * "Unknown error N", %#m the number.  [signal-safe]
 */
static const char *errno_text(int e, int alt)
{
#if defined(__GLIBC__) &&                                                      \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    return alt ? strerrorname_np(e) : strerrordesc_np(e);
#else
    (void)e;
    (void)alt;
    return NULL;
#endif
}

/* "%m": errno's text, "Unknown error N" when glibc has none (what
 * strerror_r gives); "%#m": its name, or N as "%d" would print it. */
static void conv_errno(struct out *o, struct conv *c, struct args *a)
{
    int e = a->blob ? (int)blob_take(a, NBLOG__A_ERRNO, NULL, NULL) : a->err;
    uintmax_t mag = e < 0 ? (uintmax_t)0 - (uintmax_t)(intmax_t)e
                          : (uintmax_t)e;
    int alt = (c->sp.flags & NBLOG__FL_HASH) != 0;
    const char *t = errno_text(e, alt);
    size_t n;
    if (!t && alt) {
        c->sp.conv = 'd';
        c->sp.flags &= ~(unsigned)NBLOG__FL_HASH;
        put_int(o, &c->sp, mag, sign_char(c->sp.flags, e < 0));
        return;
    }
    char unknown[sizeof "Unknown error -" + INT_TEXT_MAX];
    if (t) {
        n = c->sp.prec < 0 ? strlen(t) : strnlen(t, (size_t)c->sp.prec);
    } else {
        static const char pre[] = "Unknown error ";
        size_t np = sizeof pre - 1, nd = int_len(mag, 'd');
        memcpy(unknown, pre, np);
        unknown[np] = '-';
        np += e < 0;
        digits(unknown + np + nd, mag, 'd');
        t = unknown;
        n = np + nd;
        if (c->sp.prec >= 0 && n > (size_t)c->sp.prec)
            n = (size_t)c->sp.prec;
    }
    put_field(o, &c->sp, t, n);
}

/* ---- refused specs ----------------------------------------------------- */

/* Takes, and drops unseen, the value a REFUSE_TAKE spec c converts, by
 * the C type glibc would read (a pointer for %n, never written through;
 * a %s pointer is never read).  va mode only: a deferred record never
 * holds such a spec (nblog__fmt_arg_kinds refuses it). */
static void drop_value(struct conv *c, struct args *a)
{
    switch (kind_of(c->sp.conv)) {
    case CV_SIGNED: (void)get_signed(a, c->len); break;
    case CV_UNSIGNED: (void)get_unsigned(a, c->len); break;
    case CV_CHAR:
        if (wide_arg(c->len))
            (void)VA(a, wint_t);
        else
            (void)VA(a, int);
        break;
    case CV_FLOAT: (void)get_double(a, c->len); break;
    case CV_PTR: case CV_STR: case CV_COUNT:
        (void)VA(a, const void *);
        break;
    default: /* '%' and 'm' take no value */
        break;
    }
}

/* ---- the fast path ----------------------------------------------------- */

/*
 * Most logging specs are simple: a conversion, maybe a length modifier (for
 * integers and floats), maybe a '-' or '0' flag and a width, and for
 * floats maybe a precision ("%d", "%s", "%lu", "%zx", "%p", "%c", "%%",
 * "%5d", "%-10s", "%08x", "%.3f").  simple_spec() renders those without
 * parse_spec(), struct conv or the general layout rules; anything else
 * (other flags, another precision, '*', a bad conversion) goes to
 * full_spec().
 */

/* An integer in a padded simple field (width w, flags fl: '-' and/or '0'),
 * written at d; the caller checked there is room for the field and the
 * longest integer.  Returns its end.  The glibc rules reduce to
 *     [spaces] ['-'] [zeros] digits [spaces]
 * Out of line, to keep the unpadded case small enough to inline, and with
 * no struct out, whose address must not escape (see run()). */
static __attribute__((noinline)) char *
padded_int(char *d, unsigned w, unsigned fl, uintmax_t v, int neg, char conv)
{
    size_t n = int_len(v, conv), body = n + (size_t)neg;
    size_t fill_n = w > body ? w - body : 0;
    if (!fl) /* neither '-' nor '0': spaces before */
        d = fill(d, ' ', fill_n);
    *d = '-'; /* overwritten by the first digit when not negative */
    d += neg;
    if (fl == NBLOG__FL_ZERO) /* '0' without '-': zeros after the sign */
        d = fill(d, '0', fill_n);
    digits(d + n, v, conv);
    d += n;
    if (fl & NBLOG__FL_MINUS)
        d = fill(d, ' ', fill_n);
    return d;
}

/* An integer in a simple field; without a width (the common case) just
 * the sign and the digits.  Room as for padded_int(). */
OUT_INLINE void put_simple_int(struct out *o, unsigned w, unsigned fl,
                               uintmax_t v, int neg, char conv)
{
    if (w) {
        o->p = padded_int(o->p, w, fl, v, neg, conv);
        return;
    }
    char *d = o->p;
    size_t n = int_len(v, conv);
    *d = '-'; /* overwritten by the first digit when not negative */
    d += neg;
    digits(d + n, v, conv);
    o->p = d + n;
}

/* Text in a simple field: padded with spaces, whatever the '0' flag. */
OUT_INLINE void put_simple_text(struct out *o, unsigned w, unsigned fl,
                                const char *s, size_t n)
{
    size_t fill_n = w > n ? w - n : 0;
    if (!(fl & NBLOG__FL_MINUS))
        pad(o, ' ', fill_n);
    put(o, s, n);
    if (fl & NBLOG__FL_MINUS)
        pad(o, ' ', fill_n);
}

/* A narrow string argument; "(null)" for NULL. */
static inline void get_string(struct args *a, const char **str, size_t *n)
{
    if (a->blob) {
        blob_take(a, NBLOG__A_STR, str, n);
    } else {
        *str = VA(a, const char *);
        *n = *str ? strlen(*str) : 0;
    }
    if (!*str) {
        *str = "(null)";
        *n = 6;
    }
}

/* "%p" with no flags or width: "0x" and the digits, or "(nil)". */
OUT_INLINE void put_simple_pointer(struct out *o, struct args *a)
{
    uintptr_t v = (uintptr_t)get_pointer(a);
    if (!v) {
        put(o, "(nil)", 5);
        return;
    }
    o->p[0] = '0';
    o->p[1] = 'x';
    o->p += 2;
    put_simple_int(o, 0, 0, v, 0, 'p');
}

/* Digits at p into *v, which must stay under FIELD_MAX; returns where
 * they end, or NULL past FIELD_MAX (left to full_spec, which copes). */
#define FIELD_MAX 4096
static inline const char *field_num(const char *p, unsigned *v)
{
    while (*p >= '0' && *p <= '9') {
        *v = *v * 10 + (unsigned)(*p++ - '0');
        if (*v > FIELD_MAX)
            return NULL;
    }
    return p;
}

/* The '-' and '0' flags (into *fl), the width (*w) and the precision
 * (*prec, unchanged if none) at p; returns where they end, or NULL. */
static inline const char *parse_field(const char *p, unsigned *w,
                                      unsigned *fl, int *prec)
{
    unsigned pr = 0;
    for (;; p++) {
        if (*p == '-')
            *fl |= NBLOG__FL_MINUS;
        else if (*p == '0')
            *fl |= NBLOG__FL_ZERO;
        else
            break;
    }
    p = field_num(p, w);
    if (p && *p == '.') {
        p = field_num(p + 1, &pr);
        *prec = (int)pr;
    }
    return p;
}

/* simple_spec() once the field (width w, flags fl, precision prec) and
 * the length modifier are known, at the conversion character p. */
OUT_INLINE const char *simple_conv(struct out *o, const char *p,
                                   struct args *a, unsigned *st, unsigned w,
                                   unsigned fl, int prec, unsigned len)
{
    if (*p == '%') {
        put(o, "%", 1);
        return p + 1;
    }
    if (a->left == 0 || room(o) < INT_TEXT_MAX + w)
        return NULL;
    if (prec >= 0 && kind_of(*p) != CV_FLOAT) /* "%.5d", "%.20s" */
        return NULL;
    switch (*p) {
    case 'd': case 'i': {
        intmax_t v = get_signed(a, len);
        put_simple_int(o, w, fl, v < 0 ? (uintmax_t)0 - (uintmax_t)v
                                       : (uintmax_t)v, v < 0, 'd');
        break;
    }
    case 'u': case 'o': case 'x': case 'X':
        put_simple_int(o, w, fl, get_unsigned(a, len), 0, *p);
        break;
    case 'p':
        if (w || fl)
            return NULL;
        put_simple_pointer(o, a);
        break;
    case 'c': {
        if (len != LEN_NONE)
            return NULL;
        char ch = (char)get_int(a);
        put_simple_text(o, w, fl, &ch, 1);
        break;
    }
    case 's': {
        const char *str;
        size_t n;
        if (len != LEN_NONE)
            return NULL;
        get_string(a, &str, &n);
        put_simple_text(o, w, fl, str, n);
        break;
    }
    case 'f': case 'F': case 'e': case 'E':
    case 'g': case 'G': case 'a': case 'A': {
        struct nblog__spec s = {fl, (int)w, prec, *p};
        put_double(o, &s, get_double(a, len));
        break;
    }
    default: /* %m, %n, %C, %S or a bad spec: full_spec() */
        return NULL;
    }
    if (a->left > 0)
        a->left--;
    if (a->bad) {
        *st |= NBLOG__FMT_BAD;
        a->left = 0;
    }
    return p + 1;
}

/*
 * The spec after the '%' at p if it is simple (see above): rendered, and
 * returns where the format resumes.  NULL leaves it to full_spec(): a spec
 * that is not simple, and the rare cases of a nearly full buffer or no
 * argument left.
 */
OUT_INLINE const char *simple_spec(struct out *o, const char *p,
                                   struct args *a, unsigned *st)
{
    unsigned w = 0, fl = 0;
    int prec = -1;
    unsigned char len = LEN_NONE;
    /* The commonest, a bare conversion, gets its own copy of simple_conv
     * (always inlined), with the field and modifier known to be none. */
    if (kind_of(*p))
        return simple_conv(o, p, a, st, 0, 0, -1, LEN_NONE);
    p = parse_field(p, &w, &fl, &prec);
    /* other flags, '*' and '.' all sort before 'A': not simple */
    if (!p || (!kind_of(*p) && (unsigned char)*p < 'A'))
        return NULL;
    if (!kind_of(*p))
        p = parse_len(p, &len); /* a length modifier, maybe */
    return simple_conv(o, p, a, st, w, fl, prec, len);
}

/* ---- driver ------------------------------------------------------------ */

static void convert(struct out *o, struct conv *c, struct args *a)
{
    switch (kind_of(c->sp.conv)) {
    case CV_SIGNED:
        conv_signed(o, c, a);
        break;
    case CV_UNSIGNED:
        c->sp.flags &= ~(unsigned)(NBLOG__FL_PLUS | NBLOG__FL_SPACE);
        conv_unsigned(o, c, a);
        break;
    case CV_PTR: conv_pointer(o, c, a); break;
    case CV_CHAR: conv_char(o, c, a); break;
    case CV_STR: conv_string(o, c, a); break;
    case CV_PCT: put(o, "%", 1); break;
    case CV_ERRNO: conv_errno(o, c, a); break;
    default: conv_float(o, c, a); break;
    }
}

/* Any spec starting at the '%' at pct, the slow way; returns where the
 * format resumes (fend, its end, after REFUSE_STOP).  Out of line: run()'s
 * loop stays small. */
static __attribute__((noinline)) const char *
full_spec(struct out *o, const char *pct, const char *fend, struct args *a,
          unsigned *st)
{
    struct conv c;
    const char *end = parse_spec(pct + 1, &c);
    /* A deferred record's format never has a refused spec (see
     * drop_value): one that does is damaged, and stops there. */
    if (c.refuse == REFUSE_STOP || (c.refuse && a->blob)) {
        put(o, pct, (size_t)(fend - pct));
        *st |= NBLOG__FMT_BAD;
        return fend;
    }
    if (!take(a, args_taken(&c, kind_of(c.sp.conv)))) {
        put(o, missing_text, sizeof missing_text - 1);
        *st |= NBLOG__FMT_MISSING;
        return end;
    }
    if (c.wstar) {
        int w = get_int(a);
        if (w < 0) {
            c.sp.flags |= NBLOG__FL_MINUS;
            w = w == INT_MIN ? INT_MAX : -w;
        }
        c.sp.width = w;
    }
    if (c.pstar) {
        int p = get_int(a);
        c.sp.prec = p < 0 ? -1 : p;
    }
    if (c.refuse) { /* REFUSE_TAKE */
        drop_value(&c, a);
        put(o, pct, (size_t)(end - pct));
        *st |= NBLOG__FMT_BAD;
        return end;
    }
    convert(o, &c, a);
    if (a->bad) {
        *st |= NBLOG__FMT_BAD;
        a->left = 0;
    }
    return end;
}

/* The formatting loop, over either kind of argument list.  fmt holds flen
 * bytes before its NUL; a NULL fmt formats nothing and reports BAD. */
static size_t run(char *buf, size_t cap, const char *fmt, size_t flen,
                  struct args *a, unsigned *status)
{
    char spare; /* the NUL-less "buffer" of cap 0: never written */
    char *start = cap ? buf : &spare;
    struct out o = {start, start + (cap ? cap - 1 : 0), 0};
    unsigned st = fmt ? 0 : NBLOG__FMT_BAD;
    const char *p = fmt ? fmt : "", *end = p + (fmt ? flen : 0);
    while ((p = literal(&o, p, end)) != end) {
        const char *next = simple_spec(&o, p + 1, a, &st);
        if (!next) {
            /* Through a copy: o's address never escapes, so the compiler
             * can keep it in registers (a char store could alias it). */
            struct out slow = o;
            next = full_spec(&slow, p, end, a, &st);
            o = slow;
        }
        p = next;
    }
    if (cap)
        *o.p = '\0';
    if (status)
        *status = st;
    return (size_t)(o.p - start) + o.over;
}

size_t nblog__vformat(char *buf, size_t cap, const char *fmt, va_list ap,
                      int nargs, unsigned *status)
{
    va_list copy;
    va_copy(copy, ap);
    size_t n = nblog__vformatp(buf, cap, fmt, &copy, nargs, status);
    va_end(copy);
    return n;
}

size_t nblog__vformatp(char *buf, size_t cap, const char *fmt, va_list *ap,
                       int nargs, unsigned *status)
{
    /* errno first: for %m, as it was at the call. */
    struct args a = {.ap = ap, .left = nargs < 0 ? -1 : nargs, .err = errno};
    return run(buf, cap, fmt, fmt ? strlen(fmt) : 0, &a, status);
}

size_t nblog__wformat(char *buf, size_t cap, const char *fmt,
                      const uint64_t *words, int nargs, int err, unsigned *status)
{
    assert(words && nargs >= 0);
    struct args a = {.left = nargs, .err = err, .words = words};
    return run(buf, cap, fmt, fmt ? strlen(fmt) : 0, &a, status);
}

size_t nblog__render_deferred(char *buf, size_t cap, const void *payload,
                              size_t len, unsigned *status)
{
    static const char corrupt[] = "%%!(CORRUPT)";
    const unsigned char *p = payload;
    uint16_t flen;
    if (len < 2 || (memcpy(&flen, p, 2), flen == 0) || (size_t)flen + 2 > len ||
        p[2 + flen - 1] != '\0' || memchr(p + 2, '\0', flen) != p + 2 + flen - 1) {
        if (status)
            *status = NBLOG__FMT_BAD;
        return run(buf, cap, corrupt, sizeof corrupt - 1,
                   &(struct args){.left = 0}, NULL);
    }
    struct args a = {.left = -1, .blob = p + 2 + flen, .bend = p + len};
    return run(buf, cap, (const char *)p + 2, (size_t)flen - 1, &a, status);
}

size_t nblog__format(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = nblog__vformat(buf, cap, fmt, ap, -1, NULL);
    va_end(ap);
    return n;
}

/* NBLOG__K_LONG for an integer argument wider than int (as get_signed
 * and get_unsigned read it), else NBLOG__K_INT: by width, not by name, so
 * a %ld where long is int-sized is read as the caller passed it. */
static unsigned char int_kind(unsigned len)
{
    size_t w = len == LEN_L               ? sizeof(long)
               : len == LEN_LL            ? sizeof(long long)
               : len == LEN_J             ? sizeof(intmax_t)
               : len == LEN_Z || len == LEN_T ? sizeof(size_t)
                                          : sizeof(int); /* hh, h promote */
    return w > sizeof(int) ? NBLOG__K_LONG : NBLOG__K_INT;
}

/* The argument kind a conversion takes, or 0 if a deferred call cannot
 * copy it (wide characters and strings: the caller formats those). */
static unsigned char value_kind(const struct conv *c)
{
    switch (c->sp.conv) {
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X':
        return int_kind(c->len);
    case 'c': case 's':
        if (wide_arg(c->len))
            return 0;
        return c->sp.conv == 'c' ? NBLOG__K_INT : NBLOG__K_STR;
    case 'p': return NBLOG__K_PTR;
    case 'm': return NBLOG__K_ERRNO; /* no argument: the caller's errno */
    default:
        return long_double_arg(c->len) ? NBLOG__K_LDOUBLE : NBLOG__K_DOUBLE;
    }
}

/* Takes what run() takes, spec by spec, in the same order: '*' arguments
 * first (for "%*%" too), a value for every conversion but '%', an errno
 * entry for %m.  A refused spec of either kind makes the call format at
 * once, where full_spec() deals with it. */
int nblog__fmt_arg_kinds(const char *fmt, struct nblog__argdesc *d, int max)
{
    int n = 0;
    for (const char *p = fmt; (p = strchr(p, '%')) != NULL;) {
        struct conv c;
        p = parse_spec(p + 1, &c);
        if (c.refuse)
            return -1;
        unsigned char kind = c.sp.conv == '%' ? 0 : value_kind(&c);
        if ((c.sp.conv != '%' && !kind) ||
            n + c.wstar + c.pstar + (c.sp.conv != '%') > max)
            return -1;
        if (c.wstar)
            d[n++] = (struct nblog__argdesc){NBLOG__K_INT, 0, 0};
        if (c.pstar)
            d[n++] = (struct nblog__argdesc){NBLOG__K_INT, 0, 0};
        if (c.sp.conv == '%')
            continue;
        d[n] = (struct nblog__argdesc){kind, 0, NBLOG__STRMAX_NONE};
        if (kind == NBLOG__K_STR && c.pstar)
            d[n].prec_from_prev = 1;
        else if (kind == NBLOG__K_STR && c.sp.prec >= 0)
            d[n].strmax = (unsigned)c.sp.prec < NBLOG__STRMAX_NONE ? (uint16_t)c.sp.prec
                                                         : NBLOG__STRMAX_NONE;
        n++;
    }
    return n;
}

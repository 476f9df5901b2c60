/*
 * format.c - nblog's own printf-style formatter.  [signal-safe]
 *
 * Design
 * ------
 * nblog__vformat() runs on every logging call and inside signal handlers, so
 * it calls nothing from the printf family, no locale function and no malloc;
 * the only libc calls are memcpy, memset, memchr and strlen (all
 * async-signal-safe).  It keeps no state outside its own stack frame.
 *
 * One pass over the format:
 *
 *   literal run  -> put() straight into the caller's buffer
 *   '%' spec     -> parse_spec() fills a struct conv without touching the
 *                   arguments, then one_spec() decides:
 *                     unknown conversion, %n, overflowing number
 *                         -> spec text copied verbatim, no argument taken,
 *                            NBLOG__FMT_BAD
 *                     not enough arguments left (nargs known)
 *                         -> "%!(MISSING)", nothing taken, and the argument
 *                            list counts as exhausted, NBLOG__FMT_MISSING
 *                     otherwise
 *                         -> take '*' width, '*' precision, then the value,
 *                            in that order, and render it
 *
 * Parsing a whole spec before taking any argument is what lets a bad spec
 * consume nothing and lets "%*d" with one argument left report MISSING
 * instead of taking the width and then running dry.
 *
 * Output goes through struct out: buf/lim is the writable part (cap - 1
 * bytes, the last byte being kept for the NUL) and len counts every byte the
 * full output would have, so the return value is vsnprintf's.  Writes past
 * lim are only counted, so a huge width costs nothing.
 *
 * Integers are written in reverse into a small local buffer (two decimal
 * digits per division), then emitted as
 *     [spaces] [sign] [0x] [zeros] digits [spaces]
 * with the glibc rules: precision is a minimum digit count and "%.0d" of 0
 * has no digits; '0' pads only without precision and without '-'; '#'
 * gives "0x"/"0X" for a nonzero hex value and a leading 0 for octal; '+' and
 * ' ' count for d, i and p (glibc keeps them for p), never for u, o, x, X.
 * %p is "(nil)" for NULL (padded with spaces, precision ignored), else %#lx.
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
 * width or precision written in digits that exceeds INT_MAX makes the spec
 * BAD; a '*' width of INT_MIN is taken as INT_MAX with '-'; an incomplete
 * spec at the end of the format ("abc%", "%5l") is copied verbatim (BAD).
 * The "'" flag is accepted and ignored (no grouping in the C locale).
 * Positional arguments ("%1$d") and glibc's %m, %C, %S are not supported
 * (BAD).  A NULL format writes nothing and reports BAD.
 */
#include "format.h"
#include "format_float.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

_Static_assert(sizeof(ptrdiff_t) == sizeof(size_t),
               "%zd and %tu read the other type of the same width");

/* Length modifiers.  'L' and 'q' are stored as LEN_LL (glibc treats the
 * three alike for every conversion). */
enum lenmod { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_J, LEN_Z, LEN_T };

/* A parsed conversion spec: the part nblog__fmt_double also needs, plus
 * what only this file uses. */
struct conv {
    struct nblog__spec sp; /* flags, width, prec (-1: none), conv (0: bad) */
    unsigned char len;     /* enum lenmod */
    unsigned char wstar;   /* width is taken from an int argument */
    unsigned char pstar;   /* precision is taken from an int argument */
};

/* The output buffer; see the design comment. */
struct out {
    char *buf;
    size_t lim; /* bytes of buf that may hold text (cap - 1, or 0) */
    size_t len; /* bytes the full output has so far */
};

/* The argument list, with how many arguments are left (-1: unknown).
 * Arguments come from ap, or, when blob is set, from a deferred record's
 * encoded arguments (see format.h); a blob argument whose tag does not fit
 * the conversion reads as 0 and sets bad. */
struct args {
    va_list ap;
    int left;
    int bad;
    const unsigned char *blob, *bend;
};

static const char missing_text[] = "%!(MISSING)";
static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";
static const char dec_pairs[] = "00010203040506070809"
                                "10111213141516171819"
                                "20212223242526272829"
                                "30313233343536373839"
                                "40414243444546474849"
                                "50515253545556575859"
                                "60616263646566676869"
                                "70717273747576777879"
                                "80818283848586878889"
                                "90919293949596979899";

/* ---- output ------------------------------------------------------------ */

static inline void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->lim) {
        size_t room = o->lim - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static inline void pad(struct out *o, char c, size_t n)
{
    if (n == 0) /* the common case: no padding, no call */
        return;
    if (o->len < o->lim) {
        size_t room = o->lim - o->len;
        memset(o->buf + o->len, c, n < room ? n : room);
    }
    o->len += n;
}

/* Text of n bytes in a field of s->width, padded with spaces. */
static void put_field(struct out *o, const struct nblog__spec *s,
                      const char *text, size_t n)
{
    size_t w = (size_t)s->width;
    size_t fill = w > n ? w - n : 0;
    if (!(s->flags & NBLOG__FL_MINUS))
        pad(o, ' ', fill);
    put(o, text, n);
    if (s->flags & NBLOG__FL_MINUS)
        pad(o, ' ', fill);
}

/* ---- parsing ----------------------------------------------------------- */

/* Flag bit for c; 0x100 for an accepted no-op flag; 0 if not a flag. */
static inline unsigned flag_bit(char c)
{
    switch (c) {
    case '-': return NBLOG__FL_MINUS;
    case '+': return NBLOG__FL_PLUS;
    case ' ': return NBLOG__FL_SPACE;
    case '#': return NBLOG__FL_HASH;
    case '0': return NBLOG__FL_ZERO;
    case '\'': return 0x100;
    default: return 0;
    }
}

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

static inline int known_conv(char c)
{
    switch (c) {
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X':
    case 'c': case 's': case 'p': case '%':
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
    case 'a': case 'A':
        return 1;
    default:
        return 0;
    }
}

/*
 * Parse the spec after a '%' at p into *c, taking no argument.  Returns the
 * end of the spec (past the conversion character, or at the terminating
 * NUL of an incomplete spec).  c->sp.conv is 0 when the spec is bad.
 */
static const char *parse_spec(const char *p, struct conv *c)
{
    unsigned fl = 0, bit;
    int ovf = 0;
    while ((bit = flag_bit(*p)) != 0) {
        fl |= bit;
        p++;
    }
    c->sp.flags = fl & 0xff;
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
    p = parse_len(p, &c->len);
    c->sp.conv = (!ovf && known_conv(*p)) ? *p : 0;
    return *p ? p + 1 : p;
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
                   : va_arg(a->ap, int);
}

static intmax_t get_signed(struct args *a, unsigned len)
{
    if (a->blob) {
        int64_t v = (int64_t)blob_take(a, NBLOG__A_INT, NULL, NULL);
        switch (len) {
        case LEN_HH: return (signed char)v;
        case LEN_H: return (short)v;
        case LEN_NONE: return (int)v;
        default: return v;
        }
    }
    switch (len) {
    case LEN_HH: return (signed char)va_arg(a->ap, int);
    case LEN_H: return (short)va_arg(a->ap, int);
    case LEN_L: return va_arg(a->ap, long);
    case LEN_LL: return va_arg(a->ap, long long);
    case LEN_J: return va_arg(a->ap, intmax_t);
    case LEN_Z: /* the signed type of size_t */
    case LEN_T: return va_arg(a->ap, ptrdiff_t);
    default: return va_arg(a->ap, int);
    }
}

static uintmax_t get_unsigned(struct args *a, unsigned len)
{
    if (a->blob) {
        uint64_t v = blob_take(a, NBLOG__A_INT, NULL, NULL);
        switch (len) {
        case LEN_HH: return (unsigned char)v;
        case LEN_H: return (unsigned short)v;
        case LEN_NONE: return (unsigned)v;
        default: return v;
        }
    }
    switch (len) {
    case LEN_HH: return (unsigned char)va_arg(a->ap, unsigned);
    case LEN_H: return (unsigned short)va_arg(a->ap, unsigned);
    case LEN_L: return va_arg(a->ap, unsigned long);
    case LEN_LL: return va_arg(a->ap, unsigned long long);
    case LEN_J: return va_arg(a->ap, uintmax_t);
    case LEN_Z: /* the unsigned type of ptrdiff_t */
    case LEN_T: return va_arg(a->ap, size_t);
    default: return va_arg(a->ap, unsigned);
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

/* Decimal digits of v, two per division, backwards from end.  Values that
 * fit 32 bits (most of them) finish in cheaper 32-bit arithmetic. */
static char *decimal(char *end, uintmax_t v)
{
    while (v > UINT32_MAX) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        end -= 2;
        memcpy(end, dec_pairs + 2 * r, 2);
    }
    uint32_t x = (uint32_t)v;
    while (x >= 100) {
        uint32_t r = x % 100;
        x /= 100;
        end -= 2;
        memcpy(end, dec_pairs + 2 * r, 2);
    }
    if (x >= 10) {
        end -= 2;
        memcpy(end, dec_pairs + 2 * x, 2);
    } else {
        *--end = (char)('0' + x);
    }
    return end;
}

/* Digits of v written backwards ending at end; returns the first digit. */
static char *digits(char *end, uintmax_t v, char conv)
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
        return decimal(end, v);
    }
    return end;
}

/* v (a magnitude) with an optional sign character, per the rules above. */
static void put_int(struct out *o, const struct nblog__spec *s, uintmax_t v,
                    char sign)
{
    char dig[sizeof(uintmax_t) * 3], pre[3];
    char *end = dig + sizeof dig;
    char *d = (s->prec == 0 && v == 0) ? end : digits(end, v, s->conv);
    size_t n = (size_t)(end - d), np = 0, zeros = 0;
    if (sign)
        pre[np++] = sign;
    if ((s->flags & NBLOG__FL_HASH) && v != 0 &&
        (s->conv == 'x' || s->conv == 'X' || s->conv == 'p')) {
        pre[np++] = '0';
        pre[np++] = s->conv == 'X' ? 'X' : 'x';
    }
    if (s->prec > 0 && (size_t)s->prec > n)
        zeros = (size_t)s->prec - n;
    if (s->conv == 'o' && (s->flags & NBLOG__FL_HASH) && zeros == 0 &&
        (n == 0 || *d != '0'))
        zeros = 1;
    size_t body = np + zeros + n, w = (size_t)s->width;
    if ((s->flags & (NBLOG__FL_ZERO | NBLOG__FL_MINUS)) == NBLOG__FL_ZERO &&
        s->prec < 0 && w > body) {
        zeros += w - body;
        body = w;
    }
    size_t fill = w > body ? w - body : 0;
    if (!(s->flags & NBLOG__FL_MINUS))
        pad(o, ' ', fill);
    put(o, pre, np);
    pad(o, '0', zeros);
    put(o, d, n);
    if (s->flags & NBLOG__FL_MINUS)
        pad(o, ' ', fill);
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

static void conv_pointer(struct out *o, struct conv *c, struct args *a)
{
    const void *p = a->blob ? (const void *)(uintptr_t)blob_take(
                                  a, NBLOG__A_PTR, NULL, NULL)
                            : va_arg(a->ap, const void *);
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
        n = utf8(ch, (uint32_t)va_arg(a->ap, wint_t));
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

static void conv_wide_string(struct out *o, struct conv *c, struct args *a)
{
    const wchar_t *ws = va_arg(a->ap, const wchar_t *);
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

static void conv_string(struct out *o, struct conv *c, struct args *a)
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
        str = va_arg(a->ap, const char *);
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

static void conv_float(struct out *o, struct conv *c, struct args *a)
{
    double v;
    if (a->blob) {
        uint64_t bits = blob_take(a, NBLOG__A_F64, NULL, NULL);
        memcpy(&v, &bits, sizeof v);
    } else {
        v = long_double_arg(c->len) ? (double)va_arg(a->ap, long double)
                                    : va_arg(a->ap, double);
    }
    char scratch;
    char *dst = &scratch;
    size_t room = 0;
    if (o->len < o->lim) {
        dst = o->buf + o->len;
        room = o->lim - o->len;
    }
    o->len += nblog__fmt_double(dst, room, v, &c->sp);
}

/* ---- driver ------------------------------------------------------------ */

static void convert(struct out *o, struct conv *c, struct args *a)
{
    switch (c->sp.conv) {
    case 'd': case 'i':
        conv_signed(o, c, a);
        break;
    case 'u': case 'o': case 'x': case 'X':
        c->sp.flags &= ~(unsigned)(NBLOG__FL_PLUS | NBLOG__FL_SPACE);
        conv_unsigned(o, c, a);
        break;
    case 'p': conv_pointer(o, c, a); break;
    case 'c': conv_char(o, c, a); break;
    case 's': conv_string(o, c, a); break;
    case '%': put(o, "%", 1); break;
    default: conv_float(o, c, a); break;
    }
}

/* One spec starting at the '%' at pct; returns where the format resumes. */
static const char *one_spec(struct out *o, const char *pct, struct args *a,
                            unsigned *st)
{
    struct conv c;
    const char *end = parse_spec(pct + 1, &c);
    if (!c.sp.conv) {
        put(o, pct, (size_t)(end - pct));
        *st |= NBLOG__FMT_BAD;
        return end;
    }
    if (!take(a, c.wstar + c.pstar + (c.sp.conv != '%'))) {
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
    convert(o, &c, a);
    if (a->bad) {
        *st |= NBLOG__FMT_BAD;
        a->left = 0;
    }
    return end;
}

/* The formatting loop, over either kind of argument list. */
static size_t run(char *buf, size_t cap, const char *fmt, struct args *a,
                  unsigned *status)
{
    struct out o = {buf, cap ? cap - 1 : 0, 0};
    unsigned st = fmt ? 0 : NBLOG__FMT_BAD;
    const char *p = fmt ? fmt : "";
    for (;;) {
        const char *q = p;
        while (*q && *q != '%')
            q++;
        if (q != p)
            put(&o, p, (size_t)(q - p));
        if (!*q)
            break;
        p = one_spec(&o, q, a, &st);
    }
    if (cap)
        buf[o.len < o.lim ? o.len : o.lim] = '\0';
    if (status)
        *status = st;
    return o.len;
}

size_t nblog__vformat(char *buf, size_t cap, const char *fmt, va_list ap,
                      int nargs, unsigned *status)
{
    struct args a = {.left = nargs < 0 ? -1 : nargs};
    va_copy(a.ap, ap);
    size_t n = run(buf, cap, fmt, &a, status);
    va_end(a.ap);
    return n;
}

size_t nblog__render_deferred(char *buf, size_t cap, const void *payload,
                              size_t len, unsigned *status)
{
    const unsigned char *p = payload;
    uint16_t flen;
    if (len < 2 || (memcpy(&flen, p, 2), flen == 0) || (size_t)flen + 2 > len ||
        p[2 + flen - 1] != '\0' || memchr(p + 2, '\0', flen) != p + 2 + flen - 1) {
        if (status)
            *status = NBLOG__FMT_BAD;
        return run(buf, cap, "%%!(CORRUPT)", &(struct args){.left = 0}, NULL);
    }
    struct args a = {.left = -1, .blob = p + 2 + flen, .bend = p + len};
    return run(buf, cap, (const char *)p + 2, &a, status);
}

size_t nblog__format(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = nblog__vformat(buf, cap, fmt, ap, -1, NULL);
    va_end(ap);
    return n;
}

/* The argument kind a conversion takes, or 0 if a deferred call cannot
 * copy it (wide characters and strings: the caller formats those). */
static unsigned char value_kind(const struct conv *c)
{
    switch (c->sp.conv) {
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X':
        return c->len == LEN_NONE || c->len == LEN_HH || c->len == LEN_H
                   ? NBLOG__K_INT : NBLOG__K_LONG;
    case 'c': case 's':
        if (wide_arg(c->len))
            return 0;
        return c->sp.conv == 'c' ? NBLOG__K_INT : NBLOG__K_STR;
    case 'p': return NBLOG__K_PTR;
    default:
        return long_double_arg(c->len) ? NBLOG__K_LDOUBLE : NBLOG__K_DOUBLE;
    }
}

int nblog__fmt_arg_kinds(const char *fmt, struct nblog__argdesc *d, int max)
{
    int n = 0;
    for (const char *p = fmt; (p = strchr(p, '%')) != NULL;) {
        struct conv c;
        p = parse_spec(p + 1, &c);
        if (!c.sp.conv)
            return -1;
        if (c.sp.conv == '%')
            continue;
        unsigned char kind = value_kind(&c);
        if (!kind || n + c.wstar + c.pstar + 1 > max)
            return -1;
        if (c.wstar)
            d[n++] = (struct nblog__argdesc){NBLOG__K_INT, 0, 0};
        if (c.pstar)
            d[n++] = (struct nblog__argdesc){NBLOG__K_INT, 0, 0};
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

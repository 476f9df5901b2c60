/*
 * render.c - records into text: a record's payload into its message, and a
 * message into an output line (plain, /dev/kmsg-like, RFC 5424 or RFC 3164
 * syslog, or a journal entry). [signal-safe]
 * Layer: render (render.h). Uses the formatter; knows the record layout, not
 * consoles. Also the cut a record's text gets at its limit (truncate_text),
 * the same for the logging calls and for deferred records rendered here.
 * The human and pattern formats are in pattern.c, json in render_json.c;
 * they use this file's escaping, text units and calendar.
 *
 * SYSLOG LINES
 *
 *   RFC 5424:  <PRI>1 2026-11-25T02:23:07.123456Z HOST APP PROCID MSGID SD MSG
 *              SD = [nblog@32473 seq="N" tid="T"] or "-" when turned off;
 *              a record with a call site adds file="F" line="L" func="FN"
 *              after tid (and truncated, replayed; each when it has it)
 *   RFC 3164:  <PRI>Nov 25 02:23:07 HOST APP[PROCID]: MSG   (local time;
 *              HOST left out for a local socket, as syslog(3) does)
 *
 * PRI = facility * 8 + level. The time is the record's wall_ns (its reader
 * got it from the ring: nblog__ring_wall_ns), converted by hand (gmtime_r takes a lock
 * in glibc, and this runs in signal handlers). A time that cannot be told
 * (INT64_MIN, INT64_MAX: nblog__wall_valid) is RFC 5424's NILVALUE "-";
 * RFC 3164 has none, so its line leaves TIMESTAMP and HOSTNAME out
 * ("<PRI>APP[PROCID]: MSG"), and a receiver puts its own time (RFC 3164
 * 4.3.2). The human and pattern formats show dashes in each time field
 * (pattern.c), json "time":null. 32473 is the private
 * enterprise number RFC 5612 reserves for examples: the SD-ID says "ours",
 * not anyone's registration. SD-PARAM values escape '"', '\\' and ']' as
 * RFC 5424 6.3.3 asks, and what a line may not hold (see text_unit) as
 * \xNN; MSG keeps the \xNN escaping of every line, so no text can end a
 * record, open a field, close the SD element or act on a terminal.
 *
 * JOURNAL ENTRIES
 *
 *   PRIORITY=6 / SYSLOG_FACILITY=1 / SYSLOG_IDENTIFIER=app /
 *   SYSLOG_TIMESTAMP=Dec  2 13:43:54 / NBLOG_REALTIME_USEC=N (the record's
 *   own time, when it has one) / NBLOG_SEQ=N / TID=T / CODE_FILE=src/a.c /
 *   CODE_LINE=42 / CODE_FUNC=main (its call site, each when it has it) /
 *   MESSAGE=text, each a "KEY=value\n" line, then an empty line
 *
 * which is systemd's native protocol (one datagram per entry, the empty
 * line stripped) and its export format. For journald itself (the line's
 * identity says journal_native) MESSAGE carries the text's exact bytes:
 * as they are, or in the binary field form (KEY\n, 64-bit little-endian
 * length, the bytes, \n) when they hold a newline or another control;
 * every other field is a number, an identifier or a call site's file or
 * function (as they are when they hold no control, which the ring's site
 * table never keeps; escaped otherwise), so the entry's end is found by
 * walking its fields (consoles/journald.c) and no record can end it or
 * add a field. For anyone else (a reader printing entries to a
 * terminal) MESSAGE is escaped as above and the simple form is always
 * the right one.
 */
#include <assert.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "format.h"
#include "nblog.h"
#include "render.h"
#include "ring.h"

/* ---------------------------------------------------------- level names */

/* What each level is called, in every line format and for the specs and
 * the command (nblog.h: nblog_level_name, nblog_level_parse). */
static const char *const level_names[NBLOG_LEVEL_COUNT] = {
#define NBLOG__LEVEL_NAME(name, value, str) [value] = str,
    NBLOG_LEVEL_MAP(NBLOG__LEVEL_NAME)
#undef NBLOG__LEVEL_NAME
};

const char *nblog_level_name(int level)
{
    return level >= 0 && level < NBLOG_LEVEL_COUNT ? level_names[level]
                                                   : "invalid";
}

int nblog_level_parse(const char *text)
{
    static const struct {
        const char *name;
        int level;
    } aliases[] = {{"panic", 0}, {"error", 3}, {"warn", 4}};
    if (!text)
        return NBLOG_ELEVEL;
    if (text[0] >= '0' && text[0] <= '7' && text[1] == '\0')
        return text[0] - '0';
    for (int i = 0; i < NBLOG_LEVEL_COUNT; i++)
        if (strcasecmp(text, level_names[i]) == 0)
            return i;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(text, aliases[i].name) == 0)
            return aliases[i].level;
    return NBLOG_ELEVEL;
}

/* Cuts text to fit max bytes and ends it with the marker, on a UTF-8
 * character boundary. Returns the new length. */
uint32_t nblog__truncate_text(char *text, uint32_t max)
{
    const uint32_t mlen = sizeof NBLOG_TRUNC_MARKER - 1;
    uint32_t keep = max - mlen;
    while (keep > 0 && ((unsigned char)text[keep] & 0xc0) == 0x80)
        keep--;
    memcpy(text + keep, NBLOG_TRUNC_MARKER, mlen);
    return keep + mlen;
}

/* The text of a record that is not plain text, into text (cap > the
 * ring's text limit); returns its length, at most that limit. */
static size_t render_into(const struct nblog__ring_hdr *ring, const struct nblog__rec_meta *m,
                          const char *payload, char *text, size_t cap, uint8_t *flags)
{
    /* Rendered text obeys the record limit as formatted text does, so
     * both ways in give the same bytes for the same call. */
    uint32_t max = nblog__ring_text_max(ring);
    unsigned st = 0;
    size_t len = m->kind == NBLOG_KIND_DEFERRED
                     ? nblog__render_deferred(text, (size_t)max + 1, payload, m->len, &st)
                     : nblog__format(text, cap, "%%!(KIND %u)", m->kind);
    if (len > max) {
        len = nblog__truncate_text(text, max);
        *flags |= NBLOG_F_TRUNCATED;
    }
    if (st)
        *flags |= NBLOG_F_BADINPUT;
    return len;
}

/* For a buffer too small to render into (a reader's): render on the stack,
 * then copy what fits. Out of line, so the common path does not carry
 * this frame (consoles render while a logging caller, perhaps a signal
 * handler on a small stack, prints). */
__attribute__((noinline)) static size_t render_copy(const struct nblog__ring_hdr *ring,
                                                    const struct nblog__rec_meta *m,
                                                    const char *payload, char *buf,
                                                    size_t cap, uint8_t *flags)
{
    char text[NBLOG__PAYLOAD_MAX + 1];
    size_t len = render_into(ring, m, payload, text, sizeof text, flags);
    memcpy(buf, text, len < cap - 1 ? len : cap - 1);
    return len;
}

size_t nblog__render_record(const struct nblog__ring_hdr *ring,
                            const struct nblog__rec_meta *m, const char *payload,
                            char *buf, size_t cap, uint8_t *flags)
{
    size_t len = m->len;
    if (m->kind == NBLOG_KIND_TEXT)
        memcpy(buf, payload, len < cap - 1 ? len : cap - 1);
    else if (cap > nblog__ring_text_max(ring))
        len = render_into(ring, m, payload, buf, cap, flags); /* in place */
    else
        len = render_copy(ring, m, payload, buf, cap, flags);
    buf[len < cap - 1 ? len : cap - 1] = '\0';
    return len;
}

/* Every format but json (render_json.c) writes at most four bytes a text
 * byte (\xNN) and its fields around them. */
_Static_assert(4 * NBLOG__PAYLOAD_MAX + 2048 <= NBLOG_LINE_MAX,
               "NBLOG_LINE_MAX must hold an escaped line");

/* Writes ch as the four bytes \xNN; returns 4. */
static size_t hex_escape(char *out, unsigned char ch)
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    out[2] = hex[ch >> 4];
    out[3] = hex[ch & 15];
    return 4;
}

/*
 * What a line may hold as it is: printable ASCII but '\\', and well-formed
 * UTF-8 but the characters a terminal or a line reader acts on: the C1
 * controls U+0080..U+009F (CSI, NEL, OSC, ... as C2 80..C2 9F) and the line
 * and paragraph separators U+2028 and U+2029 (E2 80 A8, E2 80 A9). The rest
 * (C0 controls, DEL, '\\', those characters, and every byte that is not
 * part of well-formed UTF-8, which an 8-bit terminal such as the Linux VT
 * would take as a C1 control) is written as \xNN, each byte: the line is
 * then valid UTF-8 that nothing in a record can end, move the cursor in or
 * retitle a terminal with, and the bytes are recovered exactly by undoing
 * \xNN (a '\\' in the text is \x5c).
 *
 * Returns how many bytes at s (len > 0 left) form one unit, and sets *keep
 * to whether it goes out as it is.
 */
static size_t text_unit(const unsigned char *s, size_t len, int *keep)
{
    unsigned char c = s[0];
    *keep = 0;
    if (c < 0x80) {
        *keep = c >= 0x20 && c != 0x7f && c != '\\';
        return 1;
    }
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || n > len)
        return 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 1;
    /* No overlong forms (E0, F0), surrogates (ED) or code points past
     * U+10FFFF (F4): the second byte's narrower range. */
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return 1;
    *keep = !(c == 0xc2 && s[1] < 0xa0) &&                          /* C1 */
            !(c == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)); /* LS, PS */
    return n;
}

/* 0x80 in each byte of w that is not plain printable ASCII (a byte
 * text_unit may not keep as one unit of one byte: below 0x20, DEL, '\\'
 * or 0x80 and up), 0 in the others. Exact per byte: x is below 0x80 in
 * every byte, so x + 0x60 carries into no other byte, and the equality
 * tests are the carry-free form (as format.c's pct_bytes). */
static inline uint64_t unplain_bytes(uint64_t w)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full, high = 0x8080808080808080ull;
    uint64_t x = w & low7;
    uint64_t ctl = ~(x + 0x6060606060606060ull) & high; /* x < 0x20 */
    uint64_t del = w ^ 0x7f7f7f7f7f7f7f7full, bsl = w ^ 0x5c5c5c5c5c5c5c5cull;
    del = ~(((del & low7) + low7) | del | low7);
    bsl = ~(((bsl & low7) + low7) | bsl | low7);
    return (w & high) | ctl | del | bsl;
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

/* Copies the plain ASCII bytes at the start of s[0..len) to out (room
 * bytes), as many as fit; returns how many. Eight at a time while eight
 * fit (every store has room for all eight; the bytes past the run are
 * overwritten later or past what the caller keeps); a last short piece
 * through one load of the eight bytes ending at len, when there are
 * eight (little-endian: shifted so that the piece is its low bytes). */
static inline size_t plain_run(char *out, size_t room, const unsigned char *s, size_t len)
{
    size_t i = 0;
    uint64_t w, bad;
    while (len - i >= 8 && room - i >= 8) {
        memcpy(&w, s + i, 8);
        memcpy(out + i, &w, 8);
        bad = unplain_bytes(w);
        if (bad)
            return i + first_marked(bad);
        i += 8;
    }
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
    size_t left = len - i;
    if (left > 0 && left < 8 && len >= 8 && room - i >= 8) {
        memcpy(&w, s + len - 8, 8);
        w >>= 8 * (8 - left);                     /* the piece, in the low bytes */
        bad = unplain_bytes(w) & ((UINT64_C(1) << (8 * left)) - 1);
        memcpy(out + i, &w, 8);
        return bad ? i + first_marked(bad) : len;
    }
#endif
    return i;
}

/*
 * Copies text escaping what text_unit says, as \xNN. Plain ASCII (most
 * text is nothing else) goes eight bytes at a time (plain_run): one load,
 * one test (unplain_bytes), one store; only a unit at a byte that is not
 * plain goes through text_unit (an ASCII one is told inline). A line too short
 * for the whole ends at a unit's boundary (never inside a character or an
 * escape). [signal-safe]
 */
static size_t escape(char *out, size_t room, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0, i = 0;
    while (i < len) {
        size_t k = plain_run(out + n, room - n, s + i, len - i);
        n += k;
        i += k;
        if (i >= len)
            break;
        int keep;
        size_t unit;
        if (s[i] < 0x80) { /* a control, DEL or '\\' (plain_run stopped there), or no room */
            unit = 1;
            keep = s[i] >= 0x20 && s[i] != 0x7f && s[i] != '\\';
        } else {
            unit = text_unit(s + i, len - i, &keep);
        }
        if ((keep ? unit : 4 * unit) > room - n)
            break; /* no room for the next unit */
        if (keep) {
            memcpy(out + n, s + i, unit);
            n += unit;
        } else {
            for (size_t j = 0; j < unit; j++)
                n += hex_escape(out + n, s[i + j]);
        }
        i += unit;
    }
    assert(n <= room && i <= len);
    return n;
}

size_t nblog__text_unit(const unsigned char *s, size_t len, int *keep)
{
    return text_unit(s, len, keep);
}

size_t nblog__escape(char *out, size_t room, const char *text, size_t len)
{
    return escape(out, room, text, len);
}

const char *nblog__level_color(int level)
{
    return level <= NBLOG_LEVEL_ERR       ? "\033[1;31m"
           : level == NBLOG_LEVEL_WARNING ? "\033[1;33m"
           : level == NBLOG_LEVEL_NOTICE  ? "\033[1m"
                                          : "";
}

const struct nblog__line_id nblog__line_id_defaults = {
    .hostname = "-", .app = "-", .procid = "-", .msgid = "-",
    .facility = -1, .sd = 1, .hostname_3164 = 1,
};

size_t nblog__sd_escape(char *out, size_t room, const char *val, size_t len)
{
    const unsigned char *s = (const unsigned char *)val;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned char ch = s[i];
        int keep;
        size_t unit = text_unit(s + i, len - i, &keep);
        if (ch == '"' || ch == '\\' || ch == ']') {
            if (n + 2 > room)
                break;
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (keep) {
            if (n + unit > room)
                break;
            memcpy(out + n, s + i, unit);
            n += unit;
        } else {
            if (n + 4 * unit > room)
                break;
            for (size_t k = 0; k < unit; k++)
                n += hex_escape(out + n, s[i + k]);
        }
        i += unit;
    }
    return n;
}

/* Broken-down UTC (or local, given the offset) time of a record (struct
 * nblog__civil, render.h). Days since 1970-01-01 to a proleptic
 * Gregorian date: the usual era arithmetic (400-year eras of 146097 days,
 * years starting in March). */
void nblog__civil_from_ns(int64_t unix_ns, long offset_s, struct nblog__civil *c)
{
    int64_t s = unix_ns / 1000000000 + offset_s;
    int64_t sub = unix_ns % 1000000000;
    if (sub < 0) {
        sub += 1000000000;
        s--;
    }
    int64_t days = s / 86400, rem = s % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    c->hour = (unsigned)(rem / 3600);
    c->min = (unsigned)(rem / 60 % 60);
    c->sec = (unsigned)(rem % 60);
    c->nsec = (unsigned)sub;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                    /* 0..146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);              /* 0..365 */
    int64_t mp = (5 * doy + 2) / 153;                                   /* 0..11 */
    c->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    c->mon = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    c->year = (long)(yoe + era * 400 + (c->mon <= 2));
}

/* One SD-PARAM ' name="value"' (value escaped: nblog__sd_escape) at
 * out, room bytes; 0 for an empty value, or if it may not fit whole (its
 * worst case: four bytes a value byte). */
static size_t sd_param(char *out, size_t room, const char *name, const char *val, size_t len)
{
    size_t nl = strlen(name);
    if (len == 0 || 4 * len + nl + 4 > room)
        return 0;
    size_t n = 0;
    out[n++] = ' ';
    memcpy(out + n, name, nl);
    n += nl;
    out[n++] = '=';
    out[n++] = '"';
    n += nblog__sd_escape(out + n, room - n - 1, val, len);
    out[n++] = '"';
    assert(n <= room);
    return n;
}

/* The call site's SD-PARAMs (file, line, func: each when the record has
 * it) at out, room bytes. */
static size_t sd_loc(char *out, size_t room, const struct nblog__loc *l)
{
    char num[12];
    size_t n = sd_param(out, room, "file", l->file, strnlen(l->file, sizeof l->file));
    if (l->line) {
        size_t k = nblog__format(num, sizeof num, "%u", (unsigned)l->line);
        n += sd_param(out + n, room - n, "line", num, k);
    }
    return n + sd_param(out + n, room - n, "func", l->func, strnlen(l->func, sizeof l->func));
}

/* The longest RFC 5424 header (all but MSG): the identity's fields at
 * their longest, the SD element with every param ours and the
 * console's. Within the 2048 bytes every format but json has for its
 * fields (the _Static_assert above). */
#define SD_LOC_MAX (4 * (NBLOG__SITE_TEXT + 10 + NBLOG__SITE_FUNC_MAX) + 3 * 8)
#define RFC5424_HEAD_MAX                                                                 \
    (sizeof "<191>1 " + sizeof "2026-12-02T03:04:39.123456Z " + 20 +                     \
     sizeof((struct nblog__line_id *)0)->hostname + sizeof((struct nblog__line_id *)0)->app + \
     sizeof((struct nblog__line_id *)0)->procid + sizeof((struct nblog__line_id *)0)->msgid + \
     sizeof "[nblog@32473 seq=\"\" tid=\"\" truncated=\"1\" replayed=\"1\"] " + 20 + 10 + \
     SD_LOC_MAX + sizeof((struct nblog__line_id *)0)->sd_extra)
_Static_assert(RFC5424_HEAD_MAX <= 2048, "an RFC 5424 header must fit its 2048 bytes");

static size_t syslog_header(char *line, size_t cap, int format,
                            const struct nblog__line_id *p,
                            const struct nblog__rec_meta *m)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    unsigned pri = (unsigned)(p->facility >= 0 ? p->facility : m->facility) * 8u +
                   (m->level & 7u);
    struct nblog__civil t;
    size_t n;
    int valid = nblog__wall_valid(m->wall_ns);
    char own[16]; /* PROCID "": this process's pid now (render.h) */
    const char *procid = p->procid;
    if (!procid[0]) {
        nblog__format(own, sizeof own, "%d", nblog__pid());
        procid = own;
    }
    if (format == NBLOG_FORMAT_RFC3164) {
        /* No time to tell: no TIMESTAMP, and then no HOSTNAME either (a
         * receiver could not tell it from the TAG); RFC 3164 4.3.2: the
         * receiver puts its own time. */
        if (!valid) {
            n = nblog__format(line, cap, "<%u>%s[%s]: ", pri, p->app, procid);
            return n < cap ? n : cap - 1;
        }
        nblog__civil_from_ns(m->wall_ns, p->utc_offset_s, &t);
        n = nblog__format(line, cap, "<%u>%s %2u %02u:%02u:%02u %s%s%s[%s]: ", pri,
                          months[(t.mon - 1) % 12], t.day, t.hour, t.min, t.sec,
                          p->hostname_3164 ? p->hostname : "",
                          p->hostname_3164 ? " " : "", p->app, procid);
        return n < cap ? n : cap - 1;
    }
    char when[40] = "-"; /* RFC 5424's NILVALUE when there is no time */
    if (valid) {
        nblog__civil_from_ns(m->wall_ns, 0, &t);
        nblog__format(when, sizeof when, "%04ld-%02u-%02uT%02u:%02u:%02u.%06uZ", t.year,
                      t.mon, t.day, t.hour, t.min, t.sec, t.nsec / 1000);
    }
    n = nblog__format(line, cap, "<%u>1 %s %s %s %s %s ", pri, when, p->hostname, p->app,
                      procid, p->msgid);
    if (n >= cap)
        return cap - 1;
    if (!p->sd) {
        n += nblog__format(line + n, cap - n, "- ");
        return n < cap ? n : cap - 1;
    }
    n += nblog__format(line + n, cap - n, "[nblog@32473 seq=\"%llu\" tid=\"%u\"%s%s",
                       (unsigned long long)m->seq, (unsigned)m->tid,
                       (m->flags & NBLOG_F_TRUNCATED) ? " truncated=\"1\"" : "",
                       (m->flags & NBLOG_F_REPLAYED) ? " replayed=\"1\"" : "");
    if (m->loc && n < cap)
        n += sd_loc(line + n, cap - n, m->loc);
    if (n < cap)
        n += nblog__format(line + n, cap - n, "%s] ", p->sd_extra);
    return n < cap ? n : cap - 1;
}

/* Whether a journal value needs the binary field form: it holds a byte
 * the simple KEY=value form cannot carry ('\n') or that nblog leaves to
 * no line reader (the other C0 controls, DEL). */
static int journal_binary(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch < 0x20 || ch == 0x7f)
            return 1;
    }
    return 0;
}

/* MESSAGE as journald takes it (p->journal_native): the text's bytes as
 * they are, "MESSAGE=text\n", or when it holds a control the binary form
 * "MESSAGE\n" + 64-bit little-endian length + bytes + "\n", so a record
 * can neither end the entry nor add a field. Cut (at a UTF-8 boundary)
 * only if room is short of the text, which a console's line room never
 * is. Then the entry's empty line. */
static size_t journal_message_native(char *out, size_t room, const char *text, size_t len)
{
    const size_t fixed = 8 + 8 + 2; /* "MESSAGE\n" or "MESSAGE=", length, "\n\n" */
    if (room < fixed)
        return 0;
    size_t v = len <= room - fixed ? len : room - fixed;
    while (v < len && v > 0 && ((unsigned char)text[v] & 0xc0) == 0x80)
        v--;
    size_t n = 0;
    if (journal_binary(text, v)) {
        memcpy(out, "MESSAGE\n", 8);
        n = 8;
        for (int b = 0; b < 8; b++)
            out[n++] = (char)(((uint64_t)v >> (8 * b)) & 0xffu);
    } else {
        memcpy(out, "MESSAGE=", 8);
        n = 8;
    }
    memcpy(out + n, text, v);
    n += v;
    out[n++] = '\n';
    out[n++] = '\n';
    assert(n <= room);
    return n;
}

/* One "KEY=value\n" of a call site's file or function at out (room
 * bytes), whole or not at all (0): for journald itself (native) the bytes
 * as they are unless they hold a control (never from the ring's site
 * table, which keeps none), escaped as every line otherwise. */
static size_t journal_text_field(char *out, size_t room, const char *key, const char *val,
                                 size_t len, int native)
{
    size_t kl = strlen(key);
    int raw = native && !journal_binary(val, len);
    if (len == 0 || kl + 2 + (raw ? len : 4 * len) > room)
        return 0;
    memcpy(out, key, kl);
    out[kl] = '=';
    size_t n = kl + 1;
    if (raw) {
        memcpy(out + n, val, len);
        n += len;
    } else {
        n += escape(out + n, room - n - 1, val, len);
    }
    out[n++] = '\n';
    assert(n <= room);
    return n;
}

/* CODE_FILE, CODE_LINE, CODE_FUNC (journald's names for where an entry
 * was logged from), each when the record has it. */
static size_t journal_loc(char *out, size_t room, const struct nblog__loc *l, int native)
{
    size_t n = journal_text_field(out, room, "CODE_FILE", l->file,
                                  strnlen(l->file, sizeof l->file), native);
    if (l->line && room - n > sizeof "CODE_LINE=4294967295\n") /* room for the digits */
        n += nblog__format(out + n, room - n, "CODE_LINE=%u\n", (unsigned)l->line);
    return n + journal_text_field(out + n, room - n, "CODE_FUNC", l->func,
                                  strnlen(l->func, sizeof l->func), native);
}

static size_t journal_entry(char *line, size_t cap, const struct nblog__line_id *p,
                            const struct nblog__rec_meta *m, const char *text,
                            size_t len)
{
    size_t n = nblog__format(line, cap, "PRIORITY=%u\nSYSLOG_FACILITY=%u\nSYSLOG_IDENTIFIER=%s\n",
                             (unsigned)(m->level & 7u),
                             (unsigned)(p->facility >= 0 ? p->facility : m->facility),
                             p->app);
    /* The record's own time: journald stamps arrival (__REALTIME_TIMESTAMP),
     * which for a console that was suspended or behind is later than the
     * call. SYSLOG_TIMESTAMP as a syslog line would give it (RFC 3164,
     * local time by the offset taken at setup; journald's own syslog
     * transport keeps it so), NBLOG_REALTIME_USEC exactly: microseconds
     * since the epoch (CLOCK_REALTIME of the call, the ring's wall-clock
     * conversion, as every line format shows it). */
    if (nblog__wall_valid(m->wall_ns) && n < cap) {
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct nblog__civil t;
        nblog__civil_from_ns(m->wall_ns, p->utc_offset_s, &t);
        int64_t us = m->wall_ns / 1000 - (m->wall_ns % 1000 < 0); /* floor */
        n += nblog__format(line + n, cap - n,
                           "SYSLOG_TIMESTAMP=%s %2u %02u:%02u:%02u\nNBLOG_REALTIME_USEC=%lld\n",
                           months[(t.mon - 1) % 12], t.day, t.hour, t.min, t.sec,
                           (long long)us);
    }
    if (n < cap)
        n += nblog__format(line + n, cap - n, "NBLOG_SEQ=%llu\nTID=%u\n%s",
                           (unsigned long long)m->seq, (unsigned)m->tid,
                           (m->flags & NBLOG_F_REPLAYED) ? "NBLOG_REPLAYED=1\n" : "");
    /* The location only in what MESSAGE leaves (18 bytes native, 10
     * escaped: below, a line that is short of them backs n up over what
     * came before, which must then be ASCII, never a cut character). */
    size_t keep = p->journal_native ? 18 : 10;
    if (m->loc && n + keep < cap)
        n += journal_loc(line + n, cap - n - keep, m->loc, p->journal_native);
    if (p->journal_native) {
        if (n + 18 > cap)
            n = cap > 18 ? cap - 18 : 0;
        return n + journal_message_native(line + n, cap - n, text, len);
    }
    if (n + 10 >= cap)
        n = cap > 10 ? cap - 10 : 0;
    if (cap > 10) {
        memcpy(line + n, "MESSAGE=", 8);
        n += 8;
    }
    n += escape(line + n, cap - 2 - n, text, len);
    line[n++] = '\n';
    line[n++] = '\n';
    return n;
}

size_t nblog__render_line(char *line, size_t cap, int format,
                          const struct nblog__line_id *p,
                          const struct nblog__rec_meta *m, const char *text,
                          size_t len)
{
    size_t n = 0;
    int replayed = (m->flags & NBLOG_F_REPLAYED) != 0;
    if (!p)
        p = &nblog__line_id_defaults;
    if (format == NBLOG_FORMAT_JOURNAL)
        return journal_entry(line, cap, p, m, text, len);
    if (format == NBLOG_FORMAT_JSON)
    {
        struct nblog__who who;
        nblog__who(p == &nblog__line_id_defaults ? NULL : p, &who);
        return nblog__json_line(line, cap, m, 0, 0, &who, text, len);
    }
    if (format == NBLOG_FORMAT_HUMAN)
        return nblog__human_line(line, cap, p == &nblog__line_id_defaults ? NULL : p, m, text,
                                 len);
    if (format == NBLOG_FORMAT_KMSG) {
        /* /dev/kmsg: "prefix,seq,usec,flags;" with prefix facility*8+level;
         * a replayed line adds a field, as /dev/kmsg allows. */
        n = nblog__format(line, cap, "%u,%llu,%llu,-%s;",
                          (unsigned)m->facility * 8u + m->level,
                          (unsigned long long)m->seq,
                          (unsigned long long)(m->ts_ns / 1000u),
                          replayed ? "," NBLOG_REPLAYED_MARK : "");
    } else {
        if (format == NBLOG_FORMAT_RFC5424 || format == NBLOG_FORMAT_RFC3164)
            n = syslog_header(line, cap, format, p, m);
        /* RFC 5424 with structured data says replayed="1" there, where
         * text cannot forge it; the other line formats say it in the
         * message itself. */
        int in_sd = format == NBLOG_FORMAT_RFC5424 && p->sd;
        if (replayed && !in_sd && n < cap)
            n += nblog__format(line + n, cap - n, "[" NBLOG_REPLAYED_MARK "] ");
    }
    if (n >= cap)
        n = cap - 1;
    n += escape(line + n, cap - 1 - n, text, len);
    line[n++] = '\n';
    return n;
}

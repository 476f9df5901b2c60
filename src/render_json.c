/*
 * render_json.c - JSON: the json line format (one object per record, what
 * log shippers such as Vector, Fluent Bit and Promtail ingest) and the
 * JSON string escaping it shares with the tools. [signal-safe]
 * Layer: render (render.h). Uses render.c's text units and calendar, the
 * formatter.
 *
 *   {"time":"2026-12-02T03:04:39.123456Z","level":"info","seq":7,"tid":43,
 *    "pid":42,"program":"app","message":"text"}
 *
 * "time" is null when the record's time cannot be told (INT64_MIN or
 * INT64_MAX wall_ns: ring.h nblog__wall_valid).
 *
 * A record with a call site (m->loc) has, between "program" and
 * "message", ,"file":"src/main.c","line":42,"func":"main": each key only
 * when it has a value (a file, a line other than 0, a function), the file
 * as recorded (its last NBLOG_SITE_FILE_MAX bytes). A line too short for
 * them (a reader's small buffer) leaves all three out and says
 * "truncated":true.
 *
 * then, only when so: "message_bytes":[N,...] (the text held bytes that
 * are not UTF-8: message has U+FFFD for each, the array the exact bytes,
 * as journalctl -o json does), "truncated":true (the record was cut at its
 * limit, or the line at the line buffer's), "replayed":true.
 *
 * Valid whatever the bytes: a JSON string holds UTF-8 only, so a byte
 * that is not part of well-formed UTF-8 is \ufffd; '"' and '\\' are
 * escaped, C0 controls (\n \t \r \b \f short, the rest \u00XX), DEL, the
 * C1 controls and U+2028/U+2029 are \uXXXX, so nothing ends the line or
 * acts on a terminal that shows it. Lossless: message, or message_bytes
 * when it is there, gives back the text exactly.
 *
 * Room: everything is written into the caller's buffer, never past cap.
 * NBLOG_LINE_MAX (a console's line room) holds any record's line whole
 * (JSON_LINE_WORST: up to ten bytes a text byte). When the whole object
 * does not fit a smaller cap, the message is cut at a character boundary,
 * message_bytes (if any) holds the bytes that went in, and the object
 * says "truncated":true: still one valid object per line.
 */
#include <assert.h>
#include <string.h>

#include "format.h"
#include "nblog.h"
#include "render.h"
#include "ring.h"

/* What one unit of text (n bytes at s, from nblog__text_unit) becomes in
 * a JSON string, into esc (>= 6 bytes) unless it goes as it is (returns
 * 0 then, *bad set when the unit is a byte that is not UTF-8). */
static size_t json_unit(const unsigned char *s, size_t n, int keep, char *esc, int *bad)
{
    static const char hex[] = "0123456789abcdef";
    unsigned cp;
    *bad = 0;
    if (n == 1 && s[0] < 0x80) {
        unsigned char ch = s[0];
        const char *short_esc = ch == '"' ? "\\\"" : ch == '\\' ? "\\\\" : ch == '\n' ? "\\n"
                                : ch == '\t' ? "\\t" : ch == '\r' ? "\\r" : ch == '\b' ? "\\b"
                                : ch == '\f' ? "\\f" : NULL;
        if (short_esc) {
            memcpy(esc, short_esc, 2);
            return 2;
        }
        if (keep)
            return 0;
        cp = ch; /* other C0 controls, DEL */
    } else if (n == 1) {
        *bad = 1;
        cp = 0xfffd;
    } else if (keep) {
        return 0;
    } else if (n == 2) {
        cp = s[1]; /* C1: C2 80..C2 9F */
    } else {
        cp = 0x2000u + s[2] - 0x80u; /* E2 80 A8/A9: U+2028, U+2029 */
    }
    esc[0] = '\\';
    esc[1] = 'u';
    esc[2] = hex[cp >> 12 & 15];
    esc[3] = hex[cp >> 8 & 15];
    esc[4] = hex[cp >> 4 & 15];
    esc[5] = hex[cp & 15];
    return 6;
}

size_t nblog__json_string(char *out, size_t room, const char *text, size_t len,
                          size_t *used, size_t *replaced)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0, i = 0;
    *replaced = 0;
    if (room < 2) {
        *used = 0;
        return 0;
    }
    out[n++] = '"';
    while (i < len) {
        int keep, bad;
        char esc[6];
        size_t unit = nblog__text_unit(s + i, len - i, &keep);
        size_t e = json_unit(s + i, unit, keep, esc, &bad);
        size_t w = e ? e : unit;
        if (n + w + 1 > room) /* and the closing quote */
            break;
        memcpy(out + n, e ? esc : text + i, w);
        n += w;
        i += unit;
        *replaced += (size_t)bad;
    }
    out[n++] = '"';
    *used = i;
    return n;
}

size_t nblog__json_bytes(char *out, size_t room, const char *text, size_t len)
{
    size_t n = 0;
    if (room < 2)
        return 0;
    out[n++] = '[';
    for (size_t i = 0; i < len; i++) {
        char num[8];
        size_t w = nblog__format(num, sizeof num, "%s%u", i ? "," : "",
                                 (unsigned)(unsigned char)text[i]);
        if (n + w + 1 > room)
            return 0;
        memcpy(out + n, num, w);
        n += w;
    }
    out[n++] = ']';
    return n;
}

/* Appends s (n bytes) at *at if it fits below cap; 0 if not. */
static int put(char *line, size_t cap, size_t *at, const char *s, size_t n)
{
    if (*at + n > cap)
        return 0;
    memcpy(line + *at, s, n);
    *at += n;
    return 1;
}

#define BYTES_KEY ",\"message_bytes\":"
#define TRUNC_FIELD ",\"truncated\":true"
#define REPL_FIELD ",\"replayed\":true"
#define HEAD_MAX 160   /* {"time":...,"program": */
#define PROGRAM_MAX 64 /* the program's JSON string, quotes included */
#define FILE_KEY ",\"file\":"
#define LINE_KEY ",\"line\":"
#define FUNC_KEY ",\"func\":"
/* The call site's keys at most: six bytes a byte of file and function
 * (\ufffd, \u00XX), their quotes, ten digits of line. */
#define LOC_MAX                                                                        \
    (sizeof FILE_KEY - 1 + 2 + 6 * (size_t)NBLOG__SITE_TEXT + sizeof LINE_KEY - 1 + 10 + \
     sizeof FUNC_KEY - 1 + 2 + 6 * (size_t)NBLOG__SITE_FUNC_MAX)

/* The longest line: each text byte at most ten (a byte that is not UTF-8
 * is \ufffd, six, and up to "255," in message_bytes; a control is six
 * and not in message_bytes), and the fields around the message. A console
 * and a reader's NBLOG_LINE_MAX buffer hold it, so no record of a ring is
 * cut. */
#define JSON_LINE_WORST(text_bytes)                                                      \
    (10 * (size_t)(text_bytes) + HEAD_MAX + PROGRAM_MAX + LOC_MAX +                     \
     sizeof ",\"message\":" - 1 + 2 + sizeof BYTES_KEY - 1 + 2 + sizeof TRUNC_FIELD - 1 + \
     sizeof REPL_FIELD - 1 + 2)
_Static_assert(JSON_LINE_WORST(NBLOG__PAYLOAD_MAX) <= NBLOG_LINE_MAX,
               "NBLOG_LINE_MAX must hold json's longest line");

size_t nblog__json_line_worst(size_t len)
{
    return JSON_LINE_WORST(len);
}

/* A JSON string value of s (n bytes) after key, whole, at *at below cap;
 * 0 if it does not fit. */
static int put_string(char *line, size_t cap, size_t *at, const char *key, size_t klen,
                      const char *s, size_t n)
{
    size_t used, replaced, a = *at;
    if (!put(line, cap, &a, key, klen))
        return 0;
    a += nblog__json_string(line + a, cap - a, s, n, &used, &replaced);
    if (used < n || a - *at < klen + 2)
        return 0; /* cut, or no room for its quotes */
    *at = a;
    return 1;
}

/* The call site's keys (see the top) at *at, below cap; 0 (*at as it
 * was) if they do not all fit. [signal-safe] */
static int put_loc(char *line, size_t cap, size_t *at, const struct nblog__loc *l)
{
    size_t a = *at;
    size_t fl = strnlen(l->file, sizeof l->file), fnl = strnlen(l->func, sizeof l->func);
    if (fl && !put_string(line, cap, &a, FILE_KEY, sizeof FILE_KEY - 1, l->file, fl))
        return 0;
    if (l->line) {
        char num[sizeof LINE_KEY + 10];
        size_t k = nblog__format(num, sizeof num, LINE_KEY "%u", (unsigned)l->line);
        if (!put(line, cap, &a, num, k))
            return 0;
    }
    if (fnl && !put_string(line, cap, &a, FUNC_KEY, sizeof FUNC_KEY - 1, l->func, fnl))
        return 0;
    assert(a - *at <= LOC_MAX);
    *at = a;
    return 1;
}

/* The longest prefix of text (whole units) whose JSON string, and its
 * message_bytes if it holds a byte that is not UTF-8 (*bad), fit in room
 * bytes. */
static size_t fit_prefix(const char *text, size_t len, size_t room, int *bad)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t json = 2, bytes = sizeof BYTES_KEY - 1 + 2, best = 0;
    int any_bad = 0;
    *bad = 0;
    for (size_t i = 0; i < len;) {
        int keep, b;
        char esc[6];
        size_t unit = nblog__text_unit(s + i, len - i, &keep);
        size_t e = json_unit(s + i, unit, keep, esc, &b);
        json += e ? e : unit;
        for (size_t k = 0; k < unit; k++)
            bytes += (i + k > 0) + (s[i + k] >= 100 ? 3 : s[i + k] >= 10 ? 2 : 1);
        any_bad |= b;
        if (json + (any_bad ? bytes : 0) > room)
            break;
        i += unit;
        best = i;
        *bad = any_bad;
    }
    return best;
}

size_t nblog__json_line(char *line, size_t cap, const struct nblog__rec_meta *m,
                        long offset_s, int local, const struct nblog__who *who,
                        const char *text, size_t len)
{
    /* What must fit after the message: the flags and the end. */
    static const char trunc_field[] = TRUNC_FIELD, repl_field[] = REPL_FIELD;
    const size_t tail = sizeof trunc_field - 1 + sizeof repl_field - 1 + 2;
    struct nblog__civil t;
    char zone[16] = "Z";
    if (local) {
        long a = offset_s < 0 ? -offset_s : offset_s;
        nblog__format(zone, sizeof zone, "%c%02ld:%02ld", offset_s < 0 ? '-' : '+',
                      a / 3600 % 100, a / 60 % 60);
    }
    char when[48] = "null"; /* a time that cannot be told */
    if (nblog__wall_valid(m->wall_ns)) {
        nblog__civil_from_ns(m->wall_ns, offset_s, &t);
        nblog__format(when, sizeof when, "\"%04ld-%02u-%02uT%02u:%02u:%02u.%06u%s\"", t.year,
                      t.mon, t.day, t.hour, t.min, t.sec, t.nsec / 1000u, zone);
    }
    char head[HEAD_MAX];
    size_t n = nblog__format(head, sizeof head,
                             "{\"time\":%s,\"level\":\"%s\",\"seq\":%llu,\"tid\":%u,"
                             "\"pid\":%d,\"program\":",
                             when, nblog_level_name(m->level), (unsigned long long)m->seq,
                             (unsigned)m->tid, who->pid);
    /* The program name: at most PROGRAM_MAX bytes of JSON; then ,"message": */
    const size_t fixed = sizeof head + PROGRAM_MAX + 11 + 2 + tail;
    assert(n < sizeof head);
    if (cap < fixed) { /* not a console's buffer: an empty, valid object,
                          or (cap 2) an empty line: still one line */
        if (cap >= 3) {
            memcpy(line, "{}\n", 3);
            return 3;
        }
        if (cap == 2)
            line[0] = '\n';
        return cap == 2 ? 1 : 0;
    }
    size_t at = 0, used, replaced;
    put(line, cap, &at, head, n);
    const char *prog = who->program;
    at += nblog__json_string(line + at, PROGRAM_MAX, prog, strlen(prog), &used, &replaced);
    /* The call site, with room kept for ,"message":"" and the tail. */
    int loc_cut = m->loc && !put_loc(line, cap - tail - 11 - 2, &at, m->loc);
    put(line, cap, &at, ",\"message\":", 11);
    int bad;
    size_t keep_len = fit_prefix(text, len, cap - tail - at, &bad);
    at += nblog__json_string(line + at, cap - tail - at, text, keep_len, &used, &replaced);
    assert(used == keep_len && (replaced != 0) == bad);
    if (bad) {
        put(line, cap, &at, BYTES_KEY, sizeof BYTES_KEY - 1);
        size_t b = nblog__json_bytes(line + at, cap - tail - at, text, keep_len);
        assert(b > 0);
        at += b;
    }
    if (keep_len < len || loc_cut || (m->flags & NBLOG_F_TRUNCATED))
        put(line, cap, &at, trunc_field, sizeof trunc_field - 1);
    if (m->flags & NBLOG_F_REPLAYED)
        put(line, cap, &at, repl_field, sizeof repl_field - 1);
    put(line, cap, &at, "}\n", 2);
    assert(at <= cap);
    return at;
}

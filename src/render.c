/*
 * render.c - records into text: a record's payload into its message, and a
 * message into an output line (plain, or /dev/kmsg-like). [signal-safe]
 * Layer: render. Uses the formatter; knows the record layout, not consoles.
 */
#include <string.h>

#include "console.h"
#include "format.h"
#include "log.h"
#include "nblog.h"

size_t nblog__render_record(const struct nblog__ring_hdr *ring,
                            const struct nblog__rec_meta *m, const char *payload,
                            char *buf, size_t cap, uint8_t *flags)
{
    size_t len = m->len;
    if (m->kind == NBLOG_KIND_TEXT) {
        memcpy(buf, payload, len < cap - 1 ? len : cap - 1);
    } else {
        /* Rendered text obeys the record limit as formatted text does, so
         * both ways in give the same bytes for the same call. */
        uint32_t max = nblog__ring_text_max(ring);
        char text[NBLOG__RECORD_SIZE_MAX + 1];
        unsigned st = 0;
        len = m->kind == NBLOG_KIND_DEFERRED
                  ? nblog__render_deferred(text, (size_t)max + 1, payload, m->len, &st)
                  : nblog__format(text, sizeof text, "%%!(KIND %u)", m->kind);
        if (len > max) {
            len = nblog__truncate_text(text, max);
            *flags |= NBLOG_F_TRUNCATED;
        }
        if (st)
            *flags |= NBLOG_F_BADINPUT;
        memcpy(buf, text, len < cap - 1 ? len : cap - 1);
    }
    buf[len < cap - 1 ? len : cap - 1] = '\0';
    return len;
}

static inline int needs_escape(unsigned char ch)
{
    return ch < 0x20 || ch == 0x7f || ch == '\\';
}

/* Copies text escaping control bytes, DEL and backslash as \xNN. Runs of
 * plain bytes (most text is one run) go out with one memcpy. */
static size_t escape(char *out, size_t room, const char *text, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        size_t run = 0;
        while (i + run < len && !needs_escape((unsigned char)text[i + run]))
            run++;
        if (run) {
            if (run > room - n)
                run = room - n;
            memcpy(out + n, text + i, run);
            n += run;
            i += run;
            if (i >= len || n >= room)
                break;
        }
        unsigned char ch = (unsigned char)text[i];
        if (n + 4 > room)
            break;
        out[n++] = '\\';
        out[n++] = 'x';
        out[n++] = hex[ch >> 4];
        out[n++] = hex[ch & 15];
    }
    return n;
}

size_t nblog__render_line(char *line, size_t cap, int format,
                          const struct nblog__rec_meta *m, const char *text,
                          size_t len)
{
    size_t n = 0;
    int replayed = (m->flags & NBLOG_F_REPLAYED) != 0;
    if (format == NBLOG_FORMAT_KMSG) {
        /* /dev/kmsg: "prefix,seq,usec,flags;" with prefix facility*8+level;
         * a replayed line adds a field, as /dev/kmsg allows. */
        n = nblog__format(line, cap, "%u,%llu,%llu,-%s;",
                          (unsigned)m->facility * 8u + m->level,
                          (unsigned long long)m->seq,
                          (unsigned long long)(m->ts_ns / 1000u),
                          replayed ? "," NBLOG_REPLAYED_MARK : "");
    } else if (replayed) {
        n = nblog__format(line, cap, "[" NBLOG_REPLAYED_MARK "] ");
    }
    if (n >= cap)
        n = cap - 1;
    n += escape(line + n, cap - 1 - n, text, len);
    line[n++] = '\n';
    return n;
}

/*
 * render.h - render's interface: a record into text, and text into an
 * output line in any NBLOG_FORMAT_* (render.c: payloads, plain, kmsg,
 * syslog, journal, escaping, the calendar; pattern.c: human and pattern
 * lines, the UTC offset, colour, the cached pid; render_json.c: json).
 * Layer: render, below consoles and outputs, above the store.
 *
 * Render includes only what is below it: nblog.h, ring.h (the record's
 * metadata), format.h and format_float.h (the formatter), platform.h;
 * never console.h, console_impl.h, consoles/, log.h, panic.h or
 * ringfile.h (the consoles, the logging calls, the panic, the lifecycle
 * and the ring file's writer and views). It takes what it renders from its
 * parameters: the ring a record lives in (its text limit; the record's
 * wall time comes in the meta, as its reader got it from that ring:
 * nblog__ring_wall_ns) and whose record it is (the line's identity,
 * struct nblog__line_id, which a console's line format carries; struct
 * nblog__who). The one identity of its own is this process's, for callers
 * that name none: a cached pid and the program name the lifecycle hands
 * down (nblog__who_set_program).
 *
 * [signal-safe] marks what a signal handler (a logging call that prints
 * directly, the panic flush) may call: no malloc, no lock, no localtime_r.
 */
#ifndef NBLOG_RENDER_H
#define NBLOG_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "nblog.h"
#include "ring.h"

/* Renders a record's payload (text, or deferred arguments) into buf (cap >=
 * 1), NUL-terminated; returns the text's full length and adds
 * NBLOG_F_TRUNCATED/BADINPUT to *flags as it finds them. [signal-safe] */
size_t nblog__render_record(const struct nblog__ring_hdr *ring,
                            const struct nblog__rec_meta *m, const char *payload,
                            char *buf, size_t cap, uint8_t *flags);

/* Cuts text to max bytes ending in NBLOG_TRUNC_MARKER, on a UTF-8
 * boundary; returns the new length. The logging calls (formatting in the
 * caller) and nblog__render_record (deferred records) cut alike.
 * [signal-safe] */
uint32_t nblog__truncate_text(char *text, uint32_t max);

/*
 * A line's identity: whose line it is and how it names itself, what the
 * syslog and journal formats put around a message besides the record's
 * own metadata (json, human and pattern take the program and pid from it,
 * see nblog__who). Filled once at setup by whoever knows it (an output,
 * e.g. consoles/syslog.c and journald.c; a ring file's reader) and
 * read-only after; every string is already valid for its field
 * (printable ASCII without spaces, or "-").
 */
struct nblog__line_id {
    char hostname[256]; /* RFC 5424 HOSTNAME; "-" if unknown */
    char app[49];       /* APP-NAME / RFC 3164 TAG / SYSLOG_IDENTIFIER */
    char procid[129];   /* PROCID; "": this process's pid when the line is
                           rendered (nblog__pid: a forked child's own) */
    char msgid[33];     /* MSGID; "-" by default */
    char sd_extra[512]; /* ' name="value"' pairs, escaped, added to the SD element */
    int facility;       /* 0..23, or -1: the record's own */
    int sd;             /* 1: structured data [nblog@32473 seq= tid=]; 0: "-" */
    int hostname_3164;  /* RFC 3164: write HOSTNAME (off for /dev/log) */
    long utc_offset_s;  /* RFC 3164 local time = UTC + this (taken at setup) */
    int journal_native; /* journal entries for journald itself (journald.c):
                           MESSAGE's bytes as they are, in the binary field
                           form when they hold a control; 0 (readers, which
                           may print to a terminal): escaped as every line */
};

/* The identity of a line whose console names none (e.g. a file in RFC
 * 5424): no hostname, this process's program and pid. */
extern const struct nblog__line_id nblog__line_id_defaults;

/* One output line for a record in format NBLOG_FORMAT_*, with C0 and C1
 * controls (also UTF-8 encoded), DEL, U+2028/U+2029, bytes that are not
 * UTF-8 and backslashes in the text escaped as \xNN, one per byte, so a
 * message can neither forge a line nor reach a terminal as a control.
 * p is used by the syslog and journal formats (NULL: the defaults).
 * JSON and human are rendered with the defaults (UTC, no colour, no
 * fields; program and pid from p, see nblog__who); a pattern needs a
 * compiled format (nblog__render_fmt): here it is plain.
 * Returns the line's length (at most cap; always ends in '\n'; a journal
 * entry is several "KEY=value\n" lines and ends in an empty line).
 * [signal-safe] */
size_t nblog__render_line(char *line, size_t cap, int format,
                          const struct nblog__line_id *p,
                          const struct nblog__rec_meta *m, const char *text,
                          size_t len);

/*
 * A console's line format, compiled once at registration (human and
 * pattern formats into items; pattern.c) and read-only after, but for the
 * UTC offset, which the console's printer thread refreshes (tz[], a
 * two-slot generation: see pattern.c), and the second cache (sc), which
 * renderers fill. Lives in the console's slot, and
 * with it the lines' identity (id), all a console needs to render.
 */
#define NBLOG__PATTERN_MAX 255  /* bytes of a pattern */
#define NBLOG__PATTERN_ITEMS 64 /* items (literal runs included) */
struct nblog__pat_item {
    uint8_t op;    /* pattern.c's enum */
    int8_t width;  /* pad to |width| columns; < 0: on the right */
    uint16_t off;  /* literal: its bytes in lit[] */
    uint16_t len;
};
struct nblog__tz {
    _Atomic long before, after; /* UTC offsets (s) before/after switch_s */
    _Atomic int64_t switch_s;   /* Unix time of a change, or INT64_MAX */
};
/* The text of a line's leading items that show only the second (date,
 * time to the second, zone, literals), rendered once per second and
 * reused by the lines of that second: a seqlock any renderer may fill
 * (pattern.c SECOND CACHE). len 0: empty. */
#define NBLOG__SEC_TEXT 32
struct nblog__sec_cache {
    _Atomic unsigned seq;    /* odd while a renderer writes it */
    _Atomic int64_t sec;     /* the Unix second it shows */
    _Atomic long offset;     /* with this UTC offset */
    _Atomic unsigned len;    /* bytes of text */
    _Atomic uint64_t text[NBLOG__SEC_TEXT / 8];
};
struct nblog__line_fmt {
    int format; /* NBLOG_FORMAT_* */
    /* Whose lines (nblog__line_fmt_init's id, by pointer; NULL: the
     * defaults, this process's program and pid). */
    const struct nblog__line_id *id;
    int color;  /* 1: colour codes at %^ and %$ */
    int local;  /* 1: local time */
    /* 1: its lines show the call site (m->loc), so readers look it up:
     * json, journal, RFC 5424 with structured data, and a human or pattern
     * format with a location item (loc_items > 0); 0: m->loc is never
     * read, and readers pay nothing for it. */
    int wants_loc;
    unsigned loc_items; /* items showing the call site (pattern.c) */
    unsigned n_items;
    struct nblog__pat_item item[NBLOG__PATTERN_ITEMS];
    char lit[NBLOG__PATTERN_MAX + 1];
    struct nblog__tz tz[2];
    _Atomic unsigned tz_gen; /* tz[tz_gen & 1] is current */
    int64_t tz_next_s;       /* refresher only: when to look again */
    unsigned n_sec_items;    /* item[0, n_sec_items) show only the second */
    struct nblog__sec_cache sc; /* their text, the one part renderers write */
};

/* Compiles o's format (human from o->show, pattern from o->pattern) into
 * *f for lines of identity id (NULL: the defaults; kept by pointer, so it
 * must outlive every rendering with f), resolving NBLOG_COLOR_AUTO as
 * "off" (outputs that know their fd resolve it first: nblog__color_auto)
 * and taking the UTC offset when local. Returns NBLOG_OK, or NBLOG_EINVAL
 * with a sentence in err (errcap bytes). [blocking] (tzset) */
int nblog__line_fmt_init(struct nblog__line_fmt *f, const nblog_console_opts_t *o,
                         const struct nblog__line_id *id, char *err, size_t errcap);
/* The console's printer thread, between batches: retakes the UTC offset
 * once a minute (local time only; cheap otherwise). [blocking] (tzset) */
void nblog__line_fmt_refresh(struct nblog__line_fmt *f);
#ifdef NBLOG_TEST_HOOKS
/* Tests: takes the UTC offset as the refresh would at Unix time now_s. */
void nblog__line_fmt_tz_at(struct nblog__line_fmt *f, int64_t now_s);
/* Test hooks (testhooks.h) for a renderer overtaken by refreshes: run by
 * the refresh between the slot's stores and tz_gen's, and by the renderer
 * between its first and second load of the slot (pattern.c). */
extern void (*_Atomic nblog__tz_publish_hook)(void);
extern void (*_Atomic nblog__tz_read_hook)(void);
#endif
/* NBLOG_COLOR_ALWAYS or NBLOG_COLOR_NEVER for a console writing to fd
 * with opts color AUTO: a terminal, NO_COLOR unset or empty, TERM not
 * "dumb". [blocking] */
int nblog__color_auto(int fd);

/* One output line for a record in f's format, as f's identity (f->id)
 * says (any NBLOG_FORMAT_*: the syslog, journal, plain and kmsg ones go to
 * nblog__render_line), with what a record holds escaped as there. Returns
 * the line's length (at most cap, cap >= 512; always ends in '\n').
 * [signal-safe] */
size_t nblog__render_fmt(char *line, size_t cap, const struct nblog__line_fmt *f,
                         const struct nblog__rec_meta *m, const char *text, size_t len);

/* Room enough for the line of a len-byte text in f's format, never more
 * than NBLOG_LINE_MAX: json's worst case for json, four bytes a text byte
 * and the fields around them for the others (a pattern: every item may
 * hold the text; each location item its escaped worst,
 * NBLOG__LOC_ITEM_MAX). A console reserves this, not NBLOG_LINE_MAX, per
 * line, so a batch of short lines fills its buffer. [signal-safe] */
#define NBLOG__LOC_ITEM_MAX (4 * (NBLOG__SITE_TEXT + NBLOG__SITE_FUNC_MAX) + 16)
size_t nblog__line_room(const struct nblog__line_fmt *f, size_t len);
/* JSON_LINE_WORST (render_json.c): json's longest line for len bytes. */
size_t nblog__json_line_worst(size_t len);

/* The pieces the formats share (render.c): how many bytes at s (len > 0)
 * form one unit and whether a line keeps it as it is (see text_unit);
 * the \xNN escaping of a text into room bytes, never splitting a unit;
 * the calendar; the level colour codes ("" for info and debug). */
size_t nblog__text_unit(const unsigned char *s, size_t len, int *keep);
size_t nblog__escape(char *out, size_t room, const char *text, size_t len);
struct nblog__civil {
    long year;
    unsigned mon, day, hour, min, sec, nsec; /* mon 1..12 */
};
void nblog__civil_from_ns(int64_t unix_ns, long offset_s, struct nblog__civil *c);
const char *nblog__level_color(int level);

/* Appends one SD-PARAM value to out (room bytes), escaping '"', '\' and
 * ']' with a backslash as RFC 5424 6.3.3 asks and what render_line
 * escapes as \xNN.
 * Returns bytes written (stops short rather than split an escape). */
size_t nblog__sd_escape(char *out, size_t room, const char *val, size_t len);

/* JSON (render_json.c), what the json format and tools share. A JSON
 * string of text[0..len) into out (room >= 2), quotes included: UTF-8 as
 * it is but '"', '\\', controls, DEL, C1 and U+2028/2029 as escapes, a byte
 * that is not UTF-8 as \ufffd (counted in *replaced). Stops before a unit
 * that would not fit with the closing quote; *used says how many bytes of
 * text went in. Returns bytes written. [signal-safe] */
size_t nblog__json_string(char *out, size_t room, const char *text, size_t len,
                          size_t *used, size_t *replaced);
/* text's bytes as a JSON array of numbers 0..255 ("[1,2]"), or 0 if it
 * does not fit in room. [signal-safe] */
size_t nblog__json_bytes(char *out, size_t room, const char *text, size_t len);
/* The json format's line (offset_s: the UTC offset to show; local: show
 * it, else Z; who: the program and pid to show). [signal-safe] */
struct nblog__who {
    const char *program;
    int pid;
};
size_t nblog__json_line(char *line, size_t cap, const struct nblog__rec_meta *m,
                        long offset_s, int local, const struct nblog__who *who,
                        const char *text, size_t len);
/* Whose records these are: p's app and procid when p names them (not
 * "-": a reader rendering another process's ring says whose), else this
 * process's: the name handed down by nblog__who_set_program and the
 * cached pid. [signal-safe] */
void nblog__who(const struct nblog__line_id *p, struct nblog__who *who);
/* The lifecycle (lifecycle.c), whenever it sets the program's name (at init,
 * before the ring is published): name, which must stay valid (it is
 * rewritten only by a later init), is this process's program from then
 * on. Before the first call: the executable's short name as it is. */
void nblog__who_set_program(const char *name);
/* The human format with the defaults (UTC, no colour, no fields), for
 * nblog__render_line. [signal-safe] */
size_t nblog__human_line(char *line, size_t cap, const struct nblog__line_id *p,
                         const struct nblog__rec_meta *m, const char *text, size_t len);

/* The process id, cached (refreshed in a forked child). [signal-safe] */
int nblog__pid(void);
/* Fork hook (lifecycle.c's fork handler, in the child): the cached pid is
 * the child's. */
void nblog__pid_fork_child(void);

#endif

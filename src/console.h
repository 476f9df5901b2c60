/*
 * console.h - what the logging calls and the panic path need of consoles,
 * and the line renderer consoles share. Layer: consoles, above render and
 * store.
 */
#ifndef NBLOG_CONSOLE_H
#define NBLOG_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "nblog.h"
#include "ring.h"

/* After record seq is committed in r: wake sleeping printers at watermarks
 * and for emergencies (no system call for ordinary records), then print
 * through direct-mode consoles, and push an emergency record through every
 * console with write_atomic, each only if it can be owned at once.
 * [signal-safe] */
void nblog__consoles_notify(const struct nblog__ring_hdr *r, uint64_t seq,
                            uint8_t flags);

/* In a forked child, restarts the printer threads (and stall watch) the
 * fork left behind; cheap no-op otherwise. Not signal-safe the first time
 * after a fork (it creates threads). */
void nblog__consoles_restart_if_forked(void);

extern _Atomic int nblog__printers_paused;
extern _Atomic unsigned nblog__printers_pause_naps;

/* For nblog_shutdown: flush (up to timeout_ms), unregister every console
 * and wait (up to timeout_ms) for their printer threads to exit. Returns 1
 * if all exited, 0 if one is stuck in a write (it still holds the ring). */
int nblog__consoles_shutdown(unsigned timeout_ms);
/* For nblog_init: registration works again (after nblog__consoles_shutdown
 * refused it). [blocking] */
void nblog__consoles_open(void);
/* The exit handler's part (log.c): flush 1 s, name on stderr what lags. */
void nblog__consoles_exit_flush(void);
/* Waits for a stall-watch pass in progress (which may hold the old ring). */
void nblog__consoles_quiesce(void);

/* At init (log.c, state INITING, ring published): registers the consoles
 * NBLOG_CONSOLES names, else the default console (unless flags, the
 * options' console_defaults, or for_console say not to); a bad variable
 * gets one line on stderr and the default. See nblog.h "Consoles at init"
 * and spec.c. [blocking] */
void nblog__consoles_at_init(unsigned flags, int for_console);

/* For init's registrations (spec.c): on = 1 while this thread registers
 * the consoles init makes, which are not the program's own (see DEFAULT
 * CONSOLE in console.c). */
void nblog__console_init_mark(int on);
/* Makes h, just registered by init, the default console: the program's
 * first console replaces it. Returns 1; 0 if a program console came
 * first (h is then retired at once). [blocking] */
int nblog__console_make_default(nblog_console_t *h);

/* A console's default name, "kind:target" ("kind" if target is NULL),
 * printable, cut to NBLOG_CONSOLE_NAME_MAX bytes keeping its end (see
 * NAMES in console.c), into out (NBLOG_CONSOLE_NAME_MAX + 1 bytes). */
void nblog__console_default_name(char *out, const char *kind, const char *target);

#ifdef NBLOG_TEST_HOOKS
/* Tests: the stall watch's clock (default nblog__now_ns), and one pass of
 * the stall watch (and of the reaper: consoles let go meanwhile are torn
 * down). */
extern uint64_t (*_Atomic nblog__console_clock)(void);
void nblog__console_watch_once(void);
/* Tests: how many pool slots are FREE and how many ACTIVE (the others
 * are being set up or torn down, or wait for their last user). */
void nblog__console_slots(int *free_slots, int *active);
#endif

/* Renders a record's payload (text, or deferred arguments) into buf (cap >=
 * 1), NUL-terminated; returns the text's full length and adds
 * NBLOG_F_TRUNCATED/BADINPUT to *flags as it finds them. [signal-safe] */
size_t nblog__render_record(const struct nblog__ring_hdr *ring,
                            const struct nblog__rec_meta *m, const char *payload,
                            char *buf, size_t cap, uint8_t *flags);

/*
 * What the syslog and journal formats put around a message besides the
 * record's own metadata. Filled once at setup by the output (consoles/
 * syslog.c, journald.c) and read-only after; every string is already
 * valid for its field (printable ASCII without spaces, or "-").
 */
struct nblog__syslog_params {
    char hostname[256]; /* RFC 5424 HOSTNAME; "-" if unknown */
    char app[49];       /* APP-NAME / RFC 3164 TAG / SYSLOG_IDENTIFIER */
    char procid[129];   /* PROCID; the pid at setup */
    char msgid[33];     /* MSGID; "-" by default */
    char sd_extra[512]; /* ' name="value"' pairs, escaped, added to the SD element */
    int facility;       /* 0..23, or -1: the record's own */
    int sd;             /* 1: structured data [nblog@32473 seq= tid=]; 0: "-" */
    int hostname_3164;  /* RFC 3164: write HOSTNAME (off for /dev/log) */
    long utc_offset_s;  /* RFC 3164 local time = UTC + this (taken at setup) */
};

/* Default parameters for a console that chose a syslog format without an
 * output that supplies them (e.g. a file in RFC 5424). */
extern const struct nblog__syslog_params nblog__syslog_defaults;

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
                          const struct nblog__syslog_params *p,
                          const struct nblog__rec_meta *m, const char *text,
                          size_t len);

/*
 * A console's line format, compiled once at registration (human and
 * pattern formats into items; pattern.c) and read-only after, but for the
 * UTC offset, which the console's printer thread refreshes (tz[], a
 * two-slot generation: see pattern.c). Lives in the console's slot.
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
struct nblog__line_fmt {
    int format; /* NBLOG_FORMAT_* */
    int color;  /* 1: colour codes at %^ and %$ */
    int local;  /* 1: local time */
    unsigned n_items;
    struct nblog__pat_item item[NBLOG__PATTERN_ITEMS];
    char lit[NBLOG__PATTERN_MAX + 1];
    struct nblog__tz tz[2];
    _Atomic unsigned tz_gen; /* tz[tz_gen & 1] is current */
    int64_t tz_next_s;       /* refresher only: when to look again */
};

/* Compiles o's format (human from o->show, pattern from o->pattern) into
 * *f, resolving NBLOG_COLOR_AUTO as "off" (outputs that know their fd
 * resolve it first: nblog__color_auto) and taking the UTC offset when
 * local. Returns NBLOG_OK, or NBLOG_EINVAL with a sentence in err (errcap
 * bytes). [blocking] (tzset) */
int nblog__line_fmt_init(struct nblog__line_fmt *f, const nblog_console_opts_t *o,
                         char *err, size_t errcap);
/* The console's printer thread, between batches: retakes the UTC offset
 * once a minute (local time only; cheap otherwise). [blocking] (tzset) */
void nblog__line_fmt_refresh(struct nblog__line_fmt *f);
#ifdef NBLOG_TEST_HOOKS
/* Tests: takes the UTC offset as the refresh would at Unix time now_s. */
void nblog__line_fmt_tz_at(struct nblog__line_fmt *f, int64_t now_s);
#endif
/* NBLOG_COLOR_ALWAYS or NBLOG_COLOR_NEVER for a console writing to fd
 * with opts color AUTO: a terminal, NO_COLOR unset or empty, TERM not
 * "dumb". [blocking] */
int nblog__color_auto(int fd);

/* One output line for a record in f's format (any NBLOG_FORMAT_*: the
 * syslog, journal, plain and kmsg ones go to nblog__render_line), with
 * what a record holds escaped as there. Returns the line's length (at
 * most cap, cap >= 512; always ends in '\n'). [signal-safe] */
size_t nblog__render_fmt(char *line, size_t cap, const struct nblog__line_fmt *f,
                         const struct nblog__syslog_params *p,
                         const struct nblog__rec_meta *m, const char *text, size_t len);

/* Room enough for the line of a len-byte text in f's format, never more
 * than NBLOG_LINE_MAX: json's worst case for json, four bytes a text byte
 * and the fields around them for the others (a pattern: every item may
 * hold the text). A console reserves this, not NBLOG_LINE_MAX, per line, so
 * a batch of short lines fills its buffer. [signal-safe] */
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
 * process's name and cached pid. [signal-safe] */
void nblog__who(const struct nblog__syslog_params *p, struct nblog__who *who);
/* The human format with the defaults (UTC, no colour, no fields), for
 * nblog__render_line. [signal-safe] */
size_t nblog__human_line(char *line, size_t cap, const struct nblog__syslog_params *p,
                         const struct nblog__rec_meta *m, const char *text, size_t len);

/* The process id, cached (refreshed in a forked child). [signal-safe] */
int nblog__pid(void);

/* Sets the calling thread's nblog_spec_error() sentence (spec.c). */
void nblog__spec_error_set(const char *msg);

/* Appends one SD-PARAM value to out (room bytes), escaping '"', '\' and
 * ']' with a backslash as RFC 5424 6.3.3 asks and what render_line
 * escapes as \xNN.
 * Returns bytes written (stops short rather than split an escape). */
size_t nblog__sd_escape(char *out, size_t room, const char *val, size_t len);

/* Registers like nblog_console_register, with parameters for the syslog
 * and journal formats (kept by pointer: they must outlive the console,
 * e.g. inside its ctx). */
int nblog__console_register_params(const nblog_console_ops_t *ops, void *ctx,
                                   const struct nblog__syslog_params *params,
                                   const nblog_console_opts_t *opts,
                                   nblog_console_t **out);

/* For outputs that offer extra calls (nblog_console_reopen): the ctx and
 * ops the console named by handle con was registered with, holding a
 * reference on it, so teardown (which frees ctx) waits until
 * nblog__console_ctx_put(con). NULL, with *err = NBLOG_ESTALE (the console
 * was unregistered) or NBLOG_EINVAL (not a handle), if there is no live
 * console: then do not call put. [signal-safe] */
struct nblog_console;
void *nblog__console_ctx_get(struct nblog_console *con, const nblog_console_ops_t **ops,
                             int *err);
void nblog__console_ctx_put(struct nblog_console *con);

/* An output's non-fatal error (e.g. a failed rotation that lost nothing)
 * shown as its console's last_error; the console is found by its ctx.
 * [signal-safe] */
void nblog__console_note_error(const void *ctx, int err);

/* Calls fn with the handle of every registered console, holding a
 * reference meanwhile. [signal-safe] (fn permitting) */
void nblog__consoles_foreach(void (*fn)(struct nblog_console *, void *), void *arg);

/*
 * The panic flush (called by panic.c, one thread at a time): takes every
 * console with write_atomic that is not suspended at panic priority, even
 * from an owner in the middle of a batch, and prints through write_atomic
 * everything it has not printed, up to the head (one more pass for records
 * stored meanwhile). Records that were in flight are printed again,
 * flagged NBLOG_F_REPLAYED; records never finished by their writer are
 * skipped with a notice after a short grace; EAGAIN is waited out until
 * deadline_ns. dying: keep the consoles owned (and take no teardown
 * risk); otherwise let them go and hand any displaced owner its console
 * back. Returns how many consoles are not complete. [signal-safe]
 */
int nblog__consoles_panic_flush(uint64_t deadline_ns, int dying);

/* Names of live consoles the panic flush cannot print to (no write_atomic,
 * or suspended), ", "-separated into names (cap >= 1); returns how many.
 * [signal-safe] */
size_t nblog__consoles_unflushable(char *names, size_t cap, int dying);

/* Set while a panic flush runs: logging calls then leave printing to it. */
extern _Atomic int nblog__panicking;

#endif

/*
 * dmesg.c - `nblog dmesg`: print the records of a ring file, or follow it,
 * filtered and formatted as journalctl(1) and dmesg(1) users expect. See
 * nblog.c for the command as a whole and docs/nblog.1 for its manual.
 *
 * OUTPUT FORMATS (-o/--output, or the older --format)
 *   plain  "[   12.345678] warning #42 tid 1234: text" - seconds since
 *          boot (CLOCK_MONOTONIC) or, with --time iso, UTC wall time
 *          "2026-11-25T02:23:07.123456Z"; the level coloured (--color).
 *          The default.
 *   short  the library's human line with program, pid and tid shown:
 *          "2026-12-02 03:04:39.123456 [warning] app[42] tid 43: text"
 *          (UTC, nblog_ringfile_render_line's NBLOG_FORMAT_HUMAN with the
 *          writer's name and pid spliced in); "[level]" coloured (--color).
 *   cat    the text alone.
 *   raw    (also -o kmsg) what util-linux `dmesg -F FILE` reads, the
 *          kernel's syslog buffer lines: "<PRI>[    12.345678] text",
 *          PRI = facility * 8 + level, seconds since boot.
 *   json   -o json: one object per line shaped like `journalctl -o json`:
 *          __REALTIME_TIMESTAMP and __MONOTONIC_TIMESTAMP (microseconds),
 *          PRIORITY, SYSLOG_FACILITY, SYSLOG_IDENTIFIER and _COMM (the
 *          writer's program name), _PID (its pid), TID, NBLOG_SEQ, the
 *          flags as NBLOG_SIGNAL, NBLOG_EMERGENCY, NBLOG_TRUNCATED,
 *          NBLOG_BADINPUT ("1" when set), the call site as journald's
 *          CODE_FILE, CODE_LINE, CODE_FUNC (when the record has one),
 *          MESSAGE; every value a string,
 *          as journald gives them, but MESSAGE when its bytes are not
 *          UTF-8: then an array of its byte values (journald's way; the
 *          bytes come back exactly; CODE_FILE and CODE_FUNC too). -o
 *          json-pretty: the same, one field a line, tab-indented, as
 *          journalctl's json-pretty.
 *   --format json (kept as it was): {"seq":N,"level":"warning",
 *          "ts":"ISO 8601 UTC","tid":N,"text":"..."}; bytes that are not
 *          UTF-8 as U+FFFD, and then "text_bytes":[N,...]; a record with
 *          a call site has "file", "line", "func" after "tid".
 *   --location: the text formats (plain, short, cat, raw, --format kmsg)
 *          put the call site before the text: "src/main.c:42 main(): "
 *          (the file as the record keeps it, NBLOG_SITE_FILE_MAX bytes at
 *          most; nothing for a record without one), escaped as the text
 *          is (the library's plain line of it).
 *   --format kmsg (kept as it was): the library's /dev/kmsg-like console
 *          line "facility*8+level,seq,usec,-;text".
 * No output holds a byte of a record or a file as it is if a terminal or a
 * line reader would act on it: the text formats escape as the library's
 * consoles do (\xNN, nblog_ringfile_render_line), JSON as \uXXXX (C0, C1,
 * DEL, U+2028, U+2029), colour codes come only from us.
 * A gap (records overwritten before we read them, or never finished by a
 * writer that died) is one line saying exactly "N records overwritten"
 * ("-- N records overwritten --"; json {"MESSAGE":"N records
 * overwritten","NBLOG_GAP":"N"}; --format json {"gap":N,...}).
 *
 * FILTERS, all combinable, all working with --follow: levels (a list, a
 * range or a threshold: a bit mask), seqs [since_seq, until_seq], wall
 * times [since, until] (a record whose time cannot be told matches no time
 * filter), thread ids, the writer's pid (the ring header holds one writer
 * process: the file's last writer), the call site (--code-file GLOB[:LINE],
 * --code-func GLOB: fnmatch(3) in the C locale, on bytes; a GLOB without
 * '/' is matched against the file's base name; a record without a call
 * site matches neither), and --grep: POSIX ERE over the raw
 * text (REG_STARTEND, so NUL bytes are text), a literal pattern by memmem
 * or an ASCII case-folding scan instead of regexec. -n N keeps the last N
 * matches: a walk down from the newest finds where they start, then the
 * usual forward pass prints them. --reverse walks down printing. Neither
 * needs memory per record: a reader can be put at any seq and read it.
 *
 * SPEED: stdout gets a 1 MiB buffer, written with fwrite_unlocked; one
 * system call per megabyte, none and no allocation per record (the line
 * and text buffers are static).
 *
 * PAGER: on a terminal, unless --no-pager or following, the output goes
 * through $SYSTEMD_PAGER, else $PAGER, else "less" (LESS=FRSXMK unless set,
 * as journalctl); empty or "cat" means none; a pager that will not start
 * falls back to copying. Quitting the pager early ends us quietly (EPIPE,
 * SIGPIPE ignored): exit 0.
 *
 * Following: dmesg --follow opens the file NBLOG_RINGFILE_LIVE (the
 * header a private copy, geometry taken once; each batch brings in only
 * head and the counters) and sleeps in nblog_ringfile_wait, on the ring's
 * follow futex word, between batches (no busy polling); SIGINT or
 * SIGTERM end it with status 0, and so does the first record past
 * --until or --until-seq. A record a dead writer left unfinished is
 * skipped after 2 s of waiting on it (at once when not following). When a
 * new writer replaced the file (ringfile.c: other sizes), the follower
 * reopens it and goes on from the same seq.
 */
#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include "nblog.h"
#include "symbolize.h"
#include "tool.h"

#define TEXT_CAP (NBLOG_TEXT_MAX_LIMIT + 1)
#define LINE_CAP_PLAIN (NBLOG_TEXT_MAX_LIMIT * 4 + 64) /* text escaped */
/* json: a text byte is at most 6 ("\u00XX") or 4 ("255,") bytes, then
 * the other fields (a program name of 63 bytes and the call site's file
 * and function, 112 bytes together, escaped at most 6 each). */
#define LINE_CAP_JSON (TEXT_CAP * 6 + 4096)
/* --location's prefix: file and function escaped (at most 4 bytes a byte:
 * "\xNN"), the line, the punctuation. */
#define LOC_CAP ((NBLOG_SITE_FILE_MAX + NBLOG_SITE_FUNC_MAX) * 4 + 32)
#define FOLLOW_WAIT_MS 1000 /* longest sleep on the follow futex */
#define PENDING_NAP_NS 10000000L
#define PENDING_GIVE_UP_NAPS 200 /* 2 s on one unfinished record */
#define STDOUT_BUFFER (1u << 20)
#define ID_LIST_MAX 32
#define DEBUG_DIRS_MAX 16 /* --debug-dir */
#define PROGRAM_CAP 64
#define CODE_MATCH_MAX 16 /* --code-file, --code-func: each */
#define CODE_GLOB_MAX 256

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* dmesg --follow ends cleanly on SIGINT/SIGTERM; the other commands keep
 * the default action (Ctrl-C ends a demo at once). */
static void install_stop_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop; /* no SA_RESTART: the futex wait returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ------------------------------------------------------------ options */

enum {
    FMT_PLAIN,   /* default */
    FMT_KMSG,    /* --format kmsg: the /dev/kmsg-like line */
    FMT_JSON,    /* --format json: nblog's own object */
    FMT_SHORT,   /* -o short */
    FMT_CAT,     /* -o cat */
    FMT_RAW,     /* -o raw, -o kmsg: dmesg -F reads it */
    FMT_JOURNAL, /* -o json */
    FMT_PRETTY,  /* -o json-pretty */
};

enum { COLOR_AUTO, COLOR_NEVER, COLOR_ALWAYS };

/* A --code-file or --code-func match: a glob, and for a file a line
 * (0: any) from a ":LINE" suffix. */
struct code_match {
    char glob[CODE_GLOB_MAX];
    uint32_t line;
    int base; /* file: no '/' in glob, matched against the base name */
};

struct dmesg_opts {
    int follow, format, iso, color, reverse, no_pager, pager;
    unsigned level_mask; /* bit L: show level L */
    unsigned long long since_seq, until_seq;
    int has_since, has_until_seq;
    int64_t since_ns, until_ns;
    int has_since_time, has_until_time;
    unsigned long long lines;
    int has_lines;
    const char *grep;
    int case_sensitive; /* -1: journalctl's rule (a capital in it: yes) */
    int literal;        /* grep has no ERE operator: memmem / ASCII fold */
    size_t grep_len;
    regex_t re, re_mb; /* C locale (bytes); the user's UTF-8 (characters) */
    int has_re, has_re_mb;
    locale_t loc; /* the user's LC_CTYPE if it is UTF-8, else 0 */
    uint32_t tids[ID_LIST_MAX], pids[ID_LIST_MAX];
    int ntids, npids;
    int symbolize;                         /* --symbolize */
    const char *debug_dirs[DEBUG_DIRS_MAX]; /* --debug-dir, in order */
    size_t ndebug_dirs;
    int location; /* --location */
    struct code_match files[CODE_MATCH_MAX], funcs[CODE_MATCH_MAX];
    int nfiles, nfuncs;
};

/* What the file says of its writer, brought in once per batch. */
struct view {
    nblog_ringfile_t *f;
    uint32_t pid;
    char program[PROGRAM_CAP]; /* printable ASCII, "-" for none */
    size_t program_len;
    uint64_t last_ts_ns; /* of the last record read (raw's gap lines) */
};

/* ------------------------------------------------------------- output */

/* --symbolize: every crash report frame gets its function, file and line
 * (symbolize.c, libdw), the rest passes through as it is. */
static struct tool_symbolizer *symbolizer;

static void out(const void *p, size_t n)
{
    if (!symbolizer) {
        fwrite_unlocked(p, 1, n, stdout);
        return;
    }
    const char *s = p, *end = s + n;
    while (s < end) { /* line by line: a frame is found within its line */
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
        if (nl)
            tool_symbolize_line(symbolizer, s, len, stdout);
        else
            fwrite_unlocked(s, 1, len, stdout); /* a line's start: rest follows */
        s += len;
    }
}

/* A growing line in a static buffer (its cap covers any record). */
struct sb {
    char *p;
    size_t n;
};

static void sb_put(struct sb *b, const void *s, size_t n)
{
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(struct sb *b, uint64_t v)
{
    char d[20];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        b->p[b->n++] = d[--n];
}

static const char *level_color(int level)
{
    return level <= NBLOG_LEVEL_ERR       ? "\033[1;31m"
           : level == NBLOG_LEVEL_WARNING ? "\033[1;33m"
           : level == NBLOG_LEVEL_NOTICE  ? "\033[1m"
                                          : "";
}

/* UTC wall time of a record as ISO 8601 with microseconds. */
static void iso_time(char *out, size_t cap, int64_t wall)
{
    if (wall == INT64_MIN || wall == INT64_MAX) {
        snprintf(out, cap, "invalid");
        return;
    }
    time_t sec = (time_t)(wall / 1000000000);
    long usec = (long)(wall % 1000000000) / 1000;
    if (usec < 0) {
        sec--;
        usec += 1000000;
    }
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) {
        snprintf(out, cap, "invalid");
        return;
    }
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%06ldZ", usec);
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                               : s[0] >= 0xe0 && s[0] <= 0xef   ? 3
                               : s[0] >= 0xf0 && s[0] <= 0xf4   ? 4
                                                                : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* The second byte's narrower range for some leads: no overlong forms
     * (E0, F0), no surrogates (ED), nothing past U+10FFFF (F4). */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

/* A JSON string of text: valid UTF-8 as it is, but '"', '\\', the C0 and C1
 * controls, DEL and U+2028/U+2029 as JSON escapes (nothing in it acts on a
 * terminal or ends a line); each byte that is not UTF-8 as U+FFFD.
 * Returns how many bytes were replaced (0: the string is the text). */
static size_t json_string(FILE *out, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t replaced = 0;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        unsigned char ch = s[i];
        size_t n = utf8_len(s + i, len - i);
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", out);
        else if (ch == '\t')
            fputs("\\t", out);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\u%04x", ch);
        else if (n == 0)
            fputs("\\ufffd", out), replaced++;
        else if (n == 2 && ch == 0xc2 && s[i + 1] < 0xa0) /* C1 control */
            fprintf(out, "\\u%04x", s[i + 1]);
        else if (n == 3 && ch == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8)
            fprintf(out, "\\u%04x", 0x2000 + s[i + 2] - 0x80); /* U+2028, U+2029 */
        else
            fwrite(s + i, 1, n, out);
        i += n ? n : 1;
    }
    fputc('"', out);
    return replaced;
}

/* The bytes of text as a JSON array of numbers 0..255 (as journalctl -o
 * json gives a field that is not UTF-8): what "text" could not hold. */
static void json_bytes(FILE *out, const char *text, size_t len)
{
    fputc('[', out);
    for (size_t i = 0; i < len; i++)
        fprintf(out, "%s%u", i ? "," : "", (unsigned)(unsigned char)text[i]);
    fputc(']', out);
}

/* The record as stored: the replay mark belongs to a console's output (a
 * stored record never has it; a forged one is not believed). */
static size_t render(const struct view *v, char *line, size_t cap, int format,
                     const nblog_record_t *rec)
{
    nblog_record_t shown = *rec;
    shown.flags = 0;
    return nblog_ringfile_render_line(v->f, line, cap, format, &shown);
}

/* Whether rec has a call site (nblog_record_t: "" and 0 when none). */
static int has_site(const nblog_record_t *rec)
{
    return rec->line || rec->file[0] || rec->func[0];
}

/* --location: "FILE:LINE FUNC(): " of rec into out (LOC_CAP bytes) as the
 * text formats escape text (the library's plain line of it, without its
 * '\n'); nothing without --location or for a record without a call site.
 * The last one is kept: a site's records come in runs. */
static size_t location_prefix(const struct dmesg_opts *o, const nblog_record_t *rec, char *out)
{
    static char last_file[NBLOG_SITE_FILE_MAX + 1], last_func[NBLOG_SITE_FUNC_MAX + 1];
    static char last[LOC_CAP];
    static uint32_t last_line;
    static size_t last_n;
    if (!o->location || !has_site(rec))
        return 0;
    size_t fl = strnlen(rec->file, sizeof rec->file), fnl = strnlen(rec->func, sizeof rec->func);
    if (fl == sizeof rec->file || fnl == sizeof rec->func)
        return 0; /* not a record the reader made */
    if (last_n == 0 || last_line != rec->line || strcmp(last_file, rec->file) ||
        strcmp(last_func, rec->func)) {
        char raw[sizeof rec->file + sizeof rec->func + 32];
        struct sb b = {raw, 0};
        sb_put(&b, fl ? rec->file : "?", fl ? fl : 1);
        if (rec->line) {
            sb_put(&b, ":", 1);
            sb_u64(&b, rec->line);
        }
        if (fnl) {
            sb_put(&b, " ", 1);
            sb_put(&b, rec->func, fnl);
            sb_put(&b, "()", 2);
        }
        sb_put(&b, ": ", 2);
        nblog_record_t shown = {.text = raw, .len = (uint32_t)b.n, .wall_ns = INT64_MIN};
        size_t n = nblog_render_line(last, sizeof last, NBLOG_FORMAT_PLAIN, &shown);
        last_n = n && last[n - 1] == '\n' ? n - 1 : n;
        memcpy(last_file, rec->file, fl + 1);
        memcpy(last_func, rec->func, fnl + 1);
        last_line = rec->line;
    }
    memcpy(out, last, last_n);
    return last_n;
}

/* -o short: the human line, "TIME [level] " then "prog[pid] tid T: "
 * (the human format's show=program+pid+tid), then the text (after
 * --location's prefix). */
static void print_short(const struct dmesg_opts *o, const struct view *v,
                        const nblog_record_t *rec)
{
    static char line[LINE_CAP_PLAIN], full[LINE_CAP_PLAIN + 256 + LOC_CAP];
    size_t n = render(v, line, sizeof line, NBLOG_FORMAT_HUMAN, rec);
    /* "TIME [level] text\n": the time holds no '[', a level name no ']'. */
    const char *open = memchr(line, '[', n);
    const char *close = open ? memchr(open, ']', n - (size_t)(open - line)) : NULL;
    if (!close || (size_t)(close - line) + 2 > n) {
        out(line, n); /* not the shape we know: as the library made it */
        return;
    }
    struct sb b = {full, 0};
    const char *color = o->color ? level_color(rec->level) : "";
    sb_put(&b, line, (size_t)(open - line));
    sb_puts(&b, color);
    sb_put(&b, open, (size_t)(close - open) + 1);
    if (*color)
        sb_puts(&b, "\033[0m");
    sb_put(&b, " ", 1);
    sb_put(&b, v->program, v->program_len);
    sb_put(&b, "[", 1);
    sb_u64(&b, v->pid);
    sb_put(&b, "] tid ", 6);
    sb_u64(&b, rec->tid);
    sb_put(&b, ": ", 2);
    b.n += location_prefix(o, rec, b.p + b.n);
    size_t rest = (size_t)(close - line) + 2;
    sb_put(&b, line + rest, n - rest);
    out(full, b.n);
}

/* v in at least width digits, padded with pad. */
static void sb_pad_u64(struct sb *b, uint64_t v, int width, char pad)
{
    char d[20];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while (v /= 10);
    for (; width > n; width--)
        b->p[b->n++] = pad;
    while (n)
        b->p[b->n++] = d[--n];
}

/* "[%5llu.%06llu]" of a monotonic time, as the kernel prints it. */
static void sb_uptime(struct sb *b, uint64_t ts_ns)
{
    sb_put(b, "[", 1);
    sb_pad_u64(b, ts_ns / 1000000000u, 5, ' ');
    sb_put(b, ".", 1);
    sb_pad_u64(b, ts_ns / 1000u % 1000000u, 6, '0');
    sb_put(b, "]", 1);
}

static void print_plain(const struct dmesg_opts *o, const struct view *v,
                        const nblog_record_t *rec)
{
    static char line[LINE_CAP_PLAIN], full[LINE_CAP_PLAIN + 192 + LOC_CAP];
    struct sb b = {full, 0};
    if (o->iso) {
        char when[64];
        iso_time(when, sizeof when, rec->wall_ns);
        sb_put(&b, "[", 1);
        sb_puts(&b, when);
        sb_put(&b, "]", 1);
    } else {
        sb_uptime(&b, rec->ts_ns);
    }
    /* "%s%-7s%s": the level padded inside its colour. */
    const char *color = o->color ? level_color(rec->level) : "";
    const char *name = nblog_level_name(rec->level);
    sb_put(&b, " ", 1);
    sb_puts(&b, color);
    sb_puts(&b, name);
    for (size_t w = strlen(name); w < 7; w++)
        sb_put(&b, " ", 1);
    if (*color)
        sb_puts(&b, "\033[0m");
    sb_put(&b, " #", 2);
    sb_u64(&b, rec->seq);
    sb_put(&b, " tid ", 5);
    sb_u64(&b, rec->tid);
    sb_put(&b, ": ", 2);
    b.n += location_prefix(o, rec, b.p + b.n);
    sb_put(&b, line, render(v, line, sizeof line, NBLOG_FORMAT_PLAIN, rec));
    out(full, b.n);
}

/* -o raw: "<PRI>[    1.234567] text", the kernel's syslog buffer line. */
static void print_raw(const struct dmesg_opts *o, const struct view *v,
                      const nblog_record_t *rec)
{
    static char line[LINE_CAP_PLAIN], full[LINE_CAP_PLAIN + 64 + LOC_CAP];
    size_t n = render(v, line, sizeof line, NBLOG_FORMAT_PLAIN, rec);
    struct sb b = {full, 0};
    sb_put(&b, "<", 1);
    sb_u64(&b, (uint64_t)rec->facility * 8 + rec->level);
    sb_put(&b, ">", 1);
    sb_uptime(&b, rec->ts_ns);
    sb_put(&b, " ", 1);
    b.n += location_prefix(o, rec, b.p + b.n);
    sb_put(&b, line, n);
    out(full, b.n);
}

/* -o cat, --format kmsg: the library's line of rec in format, with
 * --location's prefix where the text starts (kmsg: after the first ';'). */
static void print_text(const struct dmesg_opts *o, const struct view *v,
                       const nblog_record_t *rec, int format)
{
    static char line[LINE_CAP_PLAIN], full[LINE_CAP_PLAIN + LOC_CAP];
    size_t n = render(v, line, sizeof line, format, rec);
    const char *text = format == NBLOG_FORMAT_KMSG ? memchr(line, ';', n) : line;
    struct sb b = {full, 0};
    text = text && text != line ? text + 1 : line;
    sb_put(&b, line, (size_t)(text - line));
    b.n += location_prefix(o, rec, b.p + b.n);
    sb_put(&b, text, n - (size_t)(text - line));
    out(full, b.n);
}

/* A JSON string's contents for s (valid UTF-8 kept, '"', '\\', C0 and C1
 * controls, DEL and U+2028/U+2029 as escapes). Returns -1, b unchanged in
 * meaning (the caller rewinds), at the first byte that is not UTF-8. */
static int sb_json_text(struct sb *b, const char *text, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    char *p = b->p + b->n;
    for (size_t i = 0; i < len;) {
        unsigned ch = s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            *p++ = (char)ch;
            i++;
            continue;
        }
        unsigned esc = 0x10000; /* none */
        size_t n = 1;
        if (ch < 0x80) {
            if (ch == '"' || ch == '\\') {
                *p++ = '\\';
                *p++ = (char)ch;
            } else if (ch == '\n') {
                *p++ = '\\';
                *p++ = 'n';
            } else if (ch == '\t') {
                *p++ = '\\';
                *p++ = 't';
            } else {
                esc = ch;
            }
        } else {
            n = utf8_len(s + i, len - i);
            if (n == 0)
                return -1;
            if (n == 2 && ch == 0xc2 && s[i + 1] < 0xa0)
                esc = s[i + 1]; /* C1 control */
            else if (n == 3 && ch == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8)
                esc = 0x2000u + s[i + 2] - 0x80; /* U+2028, U+2029 */
            else
                memcpy(p, s + i, n), p += n;
        }
        if (esc != 0x10000) {
            memcpy(p, "\\u", 2);
            p[2] = hex[esc >> 12];
            p[3] = hex[(esc >> 8) & 15];
            p[4] = hex[(esc >> 4) & 15];
            p[5] = hex[esc & 15];
            p += 6;
        }
        i += n;
    }
    b->n = (size_t)(p - b->p);
    return 0;
}

/* A journal field's key (with the separator before it): compact
 * "KEY":  or, pretty, a line "\t"KEY" : ". */
static void sb_key(struct sb *b, int pretty, int *first, const char *key)
{
    if (pretty)
        sb_puts(b, *first ? "{\n\t\"" : ",\n\t\"");
    else
        sb_puts(b, *first ? "{\"" : ",\"");
    *first = 0;
    sb_puts(b, key);
    sb_puts(b, pretty ? "\" : " : "\":");
}

static void sb_field_u64(struct sb *b, int pretty, int *first, const char *key, uint64_t v)
{
    sb_key(b, pretty, first, key);
    sb_put(b, "\"", 1);
    sb_u64(b, v);
    sb_put(b, "\"", 1);
}

static void sb_end(struct sb *b, int pretty)
{
    sb_puts(b, pretty ? "\n}\n" : "}\n");
}

/* A field of text (MESSAGE, CODE_FILE, CODE_FUNC): a string, or its bytes
 * as numbers when they are not UTF-8. */
static void sb_text_field(struct sb *b, int pretty, int *first, const char *key,
                          const char *text, size_t len)
{
    sb_key(b, pretty, first, key);
    size_t at = b->n;
    sb_put(b, "\"", 1);
    if (sb_json_text(b, text, len) == 0) {
        sb_put(b, "\"", 1);
        return;
    }
    b->n = at;
    sb_put(b, "[", 1);
    for (size_t i = 0; i < len; i++) {
        if (i)
            sb_put(b, pretty ? ", " : ",", pretty ? 2 : 1);
        sb_u64(b, (unsigned char)text[i]);
    }
    sb_put(b, "]", 1);
}

/* -o json, -o json-pretty: as journalctl; see the top of the file. */
static void print_journal(const struct dmesg_opts *o, const struct view *v,
                          const nblog_record_t *rec)
{
    static char line[LINE_CAP_JSON];
    static const struct {
        uint8_t flag;
        const char *key;
    } flags[] = {{NBLOG_F_SIGNAL, "NBLOG_SIGNAL"},
                 {NBLOG_F_EMERGENCY, "NBLOG_EMERGENCY"},
                 {NBLOG_F_TRUNCATED, "NBLOG_TRUNCATED"},
                 {NBLOG_F_BADINPUT, "NBLOG_BADINPUT"}};
    int pretty = o->format == FMT_PRETTY, first = 1;
    struct sb b = {line, 0};
    if (rec->wall_ns != INT64_MIN && rec->wall_ns != INT64_MAX && rec->wall_ns >= 0)
        sb_field_u64(&b, pretty, &first, "__REALTIME_TIMESTAMP", (uint64_t)rec->wall_ns / 1000u);
    sb_field_u64(&b, pretty, &first, "__MONOTONIC_TIMESTAMP", rec->ts_ns / 1000u);
    sb_field_u64(&b, pretty, &first, "PRIORITY", rec->level);
    sb_field_u64(&b, pretty, &first, "SYSLOG_FACILITY", rec->facility);
    if (strcmp(v->program, "-")) {
        /* Printable ASCII but '"' and '\\' need no more than this. */
        sb_key(&b, pretty, &first, "SYSLOG_IDENTIFIER");
        sb_put(&b, "\"", 1);
        sb_json_text(&b, v->program, v->program_len);
        sb_put(&b, "\"", 1);
        sb_key(&b, pretty, &first, "_COMM");
        sb_put(&b, "\"", 1);
        sb_json_text(&b, v->program, v->program_len);
        sb_put(&b, "\"", 1);
    }
    if (v->pid)
        sb_field_u64(&b, pretty, &first, "_PID", v->pid);
    sb_field_u64(&b, pretty, &first, "TID", rec->tid);
    sb_field_u64(&b, pretty, &first, "NBLOG_SEQ", rec->seq);
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (rec->flags & flags[i].flag)
            sb_field_u64(&b, pretty, &first, flags[i].key, 1);
    /* The call site, as sd_journal_print(3) sends it: before MESSAGE. */
    if (rec->file[0])
        sb_text_field(&b, pretty, &first, "CODE_FILE", rec->file,
                      strnlen(rec->file, sizeof rec->file));
    if (rec->line)
        sb_field_u64(&b, pretty, &first, "CODE_LINE", rec->line);
    if (rec->func[0])
        sb_text_field(&b, pretty, &first, "CODE_FUNC", rec->func,
                      strnlen(rec->func, sizeof rec->func));
    sb_text_field(&b, pretty, &first, "MESSAGE", rec->text, rec->len);
    sb_end(&b, pretty);
    out(line, b.n);
}

static void print_gap(const struct dmesg_opts *o, struct view *v, uint64_t n)
{
    char line[256];
    struct sb b = {line, 0};
    switch (o->format) {
    case FMT_JSON:
        printf("{\"gap\":%llu,\"text\":\"%llu records overwritten\"}\n",
               (unsigned long long)n, (unsigned long long)n);
        return;
    case FMT_JOURNAL:
    case FMT_PRETTY: {
        int first = 1, pretty = o->format == FMT_PRETTY;
        sb_key(&b, pretty, &first, "MESSAGE");
        sb_put(&b, "\"", 1);
        sb_u64(&b, n);
        sb_puts(&b, " records overwritten\"");
        sb_field_u64(&b, pretty, &first, "NBLOG_GAP", n);
        sb_end(&b, pretty);
        break;
    }
    case FMT_RAW: /* user.notice, at the time of the record before it */
        sb_puts(&b, "<13>");
        sb_uptime(&b, v->last_ts_ns);
        sb_puts(&b, " -- ");
        sb_u64(&b, n);
        sb_puts(&b, " records overwritten --\n");
        break;
    default:
        sb_puts(&b, "-- ");
        sb_u64(&b, n);
        sb_puts(&b, " records overwritten --\n");
        break;
    }
    out(line, b.n);
}

static void print_record(const struct dmesg_opts *o, struct view *v,
                         const nblog_record_t *rec)
{
    switch (o->format) {
    case FMT_PLAIN: print_plain(o, v, rec); break;
    case FMT_SHORT: print_short(o, v, rec); break;
    case FMT_RAW: print_raw(o, v, rec); break;
    case FMT_JOURNAL:
    case FMT_PRETTY: print_journal(o, v, rec); break;
    case FMT_KMSG: print_text(o, v, rec, NBLOG_FORMAT_KMSG); break;
    case FMT_CAT: print_text(o, v, rec, NBLOG_FORMAT_PLAIN); break;
    default: { /* FMT_JSON */
        char when[64];
        iso_time(when, sizeof when, rec->wall_ns);
        printf("{\"seq\":%llu,\"level\":\"%s\",\"ts\":\"%s\",\"tid\":%u,",
               (unsigned long long)rec->seq, nblog_level_name(rec->level), when,
               (unsigned)rec->tid);
        if (has_site(rec)) {
            fputs("\"file\":", stdout);
            json_string(stdout, rec->file, strnlen(rec->file, sizeof rec->file));
            printf(",\"line\":%u,\"func\":", (unsigned)rec->line);
            json_string(stdout, rec->func, strnlen(rec->func, sizeof rec->func));
            fputs(",\"text\":", stdout);
        } else {
            fputs("\"text\":", stdout);
        }
        if (json_string(stdout, rec->text, rec->len)) {
            fputs(",\"text_bytes\":", stdout);
            json_bytes(stdout, rec->text, rec->len);
        }
        fputs("}\n", stdout);
        break;
    }
    }
    v->last_ts_ns = rec->ts_ns;
}

/* The writer's pid and program name as the file says them now (a live
 * view's as of its last sync): the name through the one public way to it,
 * the json line's "program" (printable ASCII, '"' and '\\' escaped). */
static void view_refresh(struct view *v)
{
    nblog_ringfile_info_t info;
    nblog_ringfile_info(v->f, &info);
    v->pid = info.writer_pid <= 0x7fffffffu ? info.writer_pid : 0;
    static char line[1024];
    nblog_record_t probe = {.text = "", .wall_ns = INT64_MIN};
    size_t n = nblog_ringfile_render_line(v->f, line, sizeof line - 1, NBLOG_FORMAT_JSON, &probe);
    line[n] = '\0';
    const char *p = strstr(line, "\"program\":\"");
    size_t len = 0;
    if (p) {
        for (p += sizeof "\"program\":\"" - 1; *p && *p != '"' && len < PROGRAM_CAP - 1; p++) {
            if (*p == '\\' && p[1])
                p++;
            v->program[len++] = *p;
        }
    }
    if (len == 0)
        v->program[len++] = '-';
    v->program[len] = '\0';
    v->program_len = len;
}

/* ------------------------------------------------------------ filters */

static int id_in(const uint32_t *ids, int n, uint32_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* needle (ASCII, lower case) in hay, ASCII letters folded. */
static int contains_folded(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0)
        return 1;
    for (size_t i = 0; i + m <= n; i++) {
        if (fold((unsigned char)hay[i]) != (unsigned char)needle[0])
            continue;
        size_t j = 1;
        while (j < m && fold((unsigned char)hay[i + j]) == (unsigned char)needle[j])
            j++;
        if (j == m)
            return 1;
    }
    return 0;
}

static int utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_len(s + i, len - i);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

static int grep_matches(const struct dmesg_opts *o, const nblog_record_t *rec)
{
    if (o->literal)
        return o->case_sensitive ? memmem(rec->text, rec->len, o->grep, o->grep_len) != NULL
                                 : contains_folded(rec->text, rec->len, o->grep, o->grep_len);
    regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)rec->len}};
    if (o->has_re_mb && utf8_valid(rec->text, rec->len)) {
        locale_t was = uselocale(o->loc);
        int hit = regexec(&o->re_mb, rec->text, 1, m, REG_STARTEND) == 0;
        uselocale(was);
        return hit;
    }
    return regexec(&o->re, rec->text, 1, m, REG_STARTEND) == 0;
}

/* Whether s (a record's file or function, "" for none: no match) passes
 * one of the n --code-file / --code-func matches; line: the record's. */
static int code_matches(const struct code_match *m, int n, const char *s, uint32_t line)
{
    if (!*s)
        return 0;
    const char *slash = strrchr(s, '/');
    for (int i = 0; i < n; i++)
        if ((!m[i].line || m[i].line == line) &&
            fnmatch(m[i].glob, m[i].base && slash ? slash + 1 : s, 0) == 0)
            return 1;
    return 0;
}

static int matches(const struct dmesg_opts *o, const struct view *v, const nblog_record_t *rec)
{
    if (!(o->level_mask >> rec->level & 1u))
        return 0;
    if (o->has_since_time || o->has_until_time) {
        if (rec->wall_ns == INT64_MIN || rec->wall_ns == INT64_MAX)
            return 0;
        if ((o->has_since_time && rec->wall_ns < o->since_ns) ||
            (o->has_until_time && rec->wall_ns > o->until_ns))
            return 0;
    }
    if (o->ntids && !id_in(o->tids, o->ntids, rec->tid))
        return 0;
    if (o->npids && !id_in(o->pids, o->npids, v->pid))
        return 0;
    if (o->nfiles && !code_matches(o->files, o->nfiles, rec->file, rec->line))
        return 0;
    if (o->nfuncs && !code_matches(o->funcs, o->nfuncs, rec->func, 0))
        return 0;
    return !o->grep || grep_matches(o, rec);
}

/* ------------------------------------------------------------ reading */

enum { AVAIL_ALL, AVAIL_PENDING, AVAIL_END };

/* Prints every record readable now. Returns AVAIL_PENDING if it stopped at
 * a record still being written (next_seq < head), AVAIL_ALL if it read up
 * to head, AVAIL_END past --until-seq (or, following, --until) or once
 * output failed (a pager that quit). */
static int print_available(const struct dmesg_opts *o, struct view *v, nblog_reader_t *rd)
{
    static char text[TEXT_CAP];
    nblog_record_t rec;
    for (;;) {
        if (ferror_unlocked(stdout))
            return AVAIL_END;
        int rc = nblog_reader_next(rd, &rec, text, sizeof text);
        if (rc == NBLOG_EAGAIN)
            return rd->next_seq < nblog_reader_head(rd) ? AVAIL_PENDING : AVAIL_ALL;
        if (rec.missed)
            print_gap(o, v, rec.missed);
        if ((o->has_until_seq && rec.seq > o->until_seq) ||
            (o->follow && o->has_until_time && rec.wall_ns > o->until_ns &&
             rec.wall_ns != INT64_MAX))
            return AVAIL_END;
        if (matches(o, v, &rec))
            print_record(o, v, &rec);
        if (o->has_until_seq && rec.seq == o->until_seq)
            return AVAIL_END; /* no need to wait for the next one */
    }
}

/* Reads the record at seq through a copy of base (base itself never
 * moves): 1 if it is there, 0 if it is still being written (or its writer
 * died first), -1 if it is gone (overwritten, and so is everything
 * older). */
static int read_at(const nblog_reader_t *base, uint64_t seq, nblog_record_t *rec, char *text)
{
    nblog_reader_t r = *base;
    r.next_seq = seq;
    if (nblog_reader_next(&r, rec, text, TEXT_CAP) == NBLOG_EAGAIN)
        return 0;
    return rec->seq == seq ? 1 : -1;
}

/* The seqs a walk down covers: [*lo, *hi), from where base starts (the
 * oldest, or --since-seq) to the head (or past --until-seq). */
static void walk_range(const struct dmesg_opts *o, const nblog_reader_t *base, uint64_t *lo,
                       uint64_t *hi)
{
    *lo = base->next_seq;
    *hi = nblog_reader_head(base);
    if (o->has_until_seq && o->until_seq < *hi)
        *hi = o->until_seq + 1;
}

/* -n N: the seq the forward pass starts at so it prints the last N
 * matches (where base starts if there are fewer; the head for 0). */
static uint64_t start_of_last(const struct dmesg_opts *o, struct view *v,
                              const nblog_reader_t *base)
{
    static char text[TEXT_CAP];
    nblog_record_t rec;
    uint64_t lo, hi, found = 0;
    walk_range(o, base, &lo, &hi);
    if (o->lines == 0)
        return hi > lo ? hi : lo;
    for (uint64_t s = hi; s > lo; s--) {
        int got = read_at(base, s - 1, &rec, text);
        if (got < 0)
            break;
        if (got && matches(o, v, &rec) && ++found == o->lines)
            return s - 1;
    }
    return base->next_seq;
}

/* --reverse: newest first, down from the head (the last N with -n). */
static void print_reverse(const struct dmesg_opts *o, struct view *v, const nblog_reader_t *base)
{
    static char text[TEXT_CAP];
    nblog_record_t rec;
    uint64_t lo, hi, shown = 0, unfinished = 0;
    walk_range(o, base, &lo, &hi);
    for (uint64_t s = hi; s > lo && !ferror_unlocked(stdout); s--) {
        int got = read_at(base, s - 1, &rec, text);
        if (got < 0)
            break;
        if (!got) {
            unfinished++;
            continue;
        }
        if (unfinished)
            print_gap(o, v, unfinished);
        unfinished = 0;
        if (!matches(o, v, &rec))
            continue;
        if (o->has_lines && shown++ == o->lines)
            break;
        print_record(o, v, &rec);
    }
    if (unfinished)
        print_gap(o, v, unfinished);
}

/* Records their writers never finished: the one at next_seq, and every
 * seq below stale_below that is still unfinished (handed out before we
 * started waiting, so as old as the wait): one gap, and move on. A forged
 * head far past the records then costs one wait, not one per seq. */
static void skip_unfinished(const struct dmesg_opts *o, struct view *v, nblog_reader_t *rd,
                            uint64_t stale_below)
{
    uint64_t n = nblog_reader_skip(rd, stale_below);
    if (n) /* 0: it was finished after all, or lapped: read on */
        print_gap(o, v, n);
}

#define FOLLOW_REOPEN (-1) /* dmesg_loop: the file was replaced */

/* How the output went: a pager that quit (EPIPE) is no failure. */
static int output_verdict(const struct dmesg_opts *o)
{
    int failed = fflush(stdout) != 0 || ferror(stdout);
    if (failed && o->pager && errno == EPIPE)
        return EXIT_OK;
    return failed ? tool_fail(EXIT_FAIL, "writing output failed") : EXIT_OK;
}

/* Prints records until the end (or, following, until SIGINT/SIGTERM, the
 * end of the range asked for, or the file being replaced by a new writer:
 * FOLLOW_REOPEN). */
static int dmesg_loop(const struct dmesg_opts *o, struct view *v, nblog_reader_t *rd)
{
    int naps_on_pending = 0;
    uint64_t wait_head = 0; /* the head when we began waiting on a record */
    while (!stop_requested) {
        nblog_ringfile_wait(v->f, rd->next_seq, 0); /* the file's head (following) */
        if (o->follow)
            view_refresh(v);
        uint64_t before = rd->next_seq;
        int got = print_available(o, v, rd);
        fflush(stdout);
        if (got == AVAIL_END)
            break;
        int pending = got == AVAIL_PENDING;
        if (rd->next_seq != before)
            naps_on_pending = 0;
        if (pending && naps_on_pending == 0)
            wait_head = nblog_reader_head(rd);
        if (pending && (!o->follow || naps_on_pending >= PENDING_GIVE_UP_NAPS)) {
            skip_unfinished(o, v, rd, o->follow ? wait_head : rd->next_seq + 1);
            naps_on_pending = 0;
            continue;
        }
        if (!o->follow)
            break;
        if (pending) {
            /* Its writer is between reserve and commit, a few ns usually;
             * the futex would not tell us (head already moved). */
            const struct timespec nap = {0, PENDING_NAP_NS};
            nanosleep(&nap, NULL);
            naps_on_pending++;
        } else if (nblog_ringfile_wait(v->f, rd->next_seq, FOLLOW_WAIT_MS) == NBLOG_ESTALE) {
            return FOLLOW_REOPEN;
        }
    }
    return output_verdict(o);
}

/* -------------------------------------------------------------- pager */

static pid_t pager_pid = -1;

/* As journalctl: $SYSTEMD_PAGER, else $PAGER, else less (LESS=FRSXMK if
 * unset); "" or "cat" is no pager. The pager is our child reading a pipe
 * that becomes our stdout; one that cannot start copies instead. */
static int pager_start(void)
{
    const char *cmd = getenv("SYSTEMD_PAGER");
    if (!cmd)
        cmd = getenv("PAGER");
    if (cmd && (!*cmd || !strcmp(cmd, "cat")))
        return 0;
    int p[2];
    if (pipe(p) != 0)
        return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return 0;
    }
    if (pid == 0) {
        dup2(p[0], STDIN_FILENO);
        close(p[0]);
        close(p[1]);
        setenv("LESS", "FRSXMK", 0);
        if (cmd)
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        else
            execlp("less", "less", "-FRSXMK", (char *)NULL);
        execlp("more", "more", (char *)NULL);
        char buf[65536];
        ssize_t n;
        while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
            if (write(STDOUT_FILENO, buf, (size_t)n) != n)
                break;
        _exit(0);
    }
    dup2(p[1], STDOUT_FILENO);
    close(p[0]);
    close(p[1]);
    signal(SIGPIPE, SIG_IGN); /* a pager that quit: EPIPE, a quiet end */
    pager_pid = pid;
    return 1;
}

/* Our end of the pipe closed: the pager sees EOF; waits for it to quit. */
static void pager_end(void)
{
    if (pager_pid < 0)
        return;
    fflush(stdout);
    close(STDOUT_FILENO);
    while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pager_pid = -1;
}

/* ------------------------------------------------------- command line */

static const char dmesg_usage[] =
    "usage: nblog dmesg [OPTIONS] FILE\n"
    "Print the records of an nblog ring file, oldest first (FILE without a '/'\n"
    "is under /dev/shm). The file is only read, and checked before use.\n"
    "Filters combine (a record is shown if it passes all) and work with --follow.\n"
    "\n"
    "  -f, --follow         after the last record, wait for new ones; SIGINT or\n"
    "                       SIGTERM end it (exit 0), so does a record past --until\n"
    "  -l, --level LEVELS   one level: it and the more severe (emerg, alert, crit,\n"
    "  -p, --priority LEVELS err, warning, notice, info, debug, or 0..7); a list\n"
    "                       \"err,warning\": those; a range \"err..warning\", \"3..4\";\n"
    "                       \"err+\" err and more severe, \"-notice\" notice and less\n"
    "  -S, --since TIME     records at TIME or later; -U, --until TIME: or earlier.\n"
    "  -U, --until TIME     TIME: \"2026-12-02 10:00:00\", \"10:00\", ISO 8601\n"
    "                       (\"2026-12-02T10:00:00Z\", \"+01:00\"), \"@EPOCH\", \"now\",\n"
    "                       \"today\", \"yesterday\", \"10 min ago\", \"-1h\", \"+30s\"\n"
    "                       (local time unless a zone is given)\n"
    "  -s, --since-seq N    start at sequence number N\n"
    "      --until-seq N    stop after sequence number N\n"
    "  -n, --lines N        only the last N records that pass the filters\n"
    "  -r, --reverse        newest first (not with --follow)\n"
    "  -g, --grep REGEX     records whose text matches REGEX (POSIX extended);\n"
    "                       case-insensitive if REGEX has no capital letter\n"
    "  -i                   case-insensitive --grep\n"
    "      --case-sensitive[=yes|no]  as it says (default yes when given)\n"
    "      --thread TID[,TID...]  records of these thread ids\n"
    "      --pid PID[,PID...]     records of these writer pids (a ring has one\n"
    "                       writer process: the file header's)\n"
    "      --code-file GLOB[:LINE]  records logged from a file matching GLOB\n"
    "                       (shell wildcards; without a '/', the file's base name)\n"
    "                       and at LINE if given; repeatable (any of them)\n"
    "      --code-func GLOB records logged from a function matching GLOB\n"
    "      --location       text formats: the call site before the text,\n"
    "                       \"src/main.c:42 main(): text\" (json always has it:\n"
    "                       CODE_FILE, CODE_LINE, CODE_FUNC)\n"
    "  -o, --output FMT     plain (default): \"[seconds.micros] level #seq tid T: text\";\n"
    "                       short: \"2026-12-02 03:04:39.123456 [info] app[42] tid 43:\n"
    "                       text\" (UTC); cat: the text; raw (or kmsg): \"<PRI>[secs]\n"
    "                       text\", which dmesg -F reads; json: one journalctl-style\n"
    "                       object per line (MESSAGE, PRIORITY, __REALTIME_TIMESTAMP,\n"
    "                       _PID, SYSLOG_IDENTIFIER, TID, NBLOG_SEQ, ...); json-pretty\n"
    "  -F, --format FMT     plain; kmsg: \"prefix,seq,usec,-;text\" as /dev/kmsg;\n"
    "                       json: one object per line (seq, level, ts, tid, text)\n"
    "  -t, --time WHEN      plain's time: rel (default) seconds since boot, iso UTC\n"
    "      --color[=WHEN]   colour the level (plain, short): auto (default: on a\n"
    "                       terminal, unless NO_COLOR is set or TERM is dumb),\n"
    "                       always, never\n"
    "      --no-pager       do not pipe into a pager (on a terminal, without\n"
    "                       --follow: $SYSTEMD_PAGER, $PAGER or less -FRSXMK)\n"
    "      --symbolize      crash report frames get function, file and line, as\n"
    "                       nblog symbolize gives them (text formats only)\n"
    "      --debug-dir DIR  look there for a module's file by name and build-id\n"
    "                       (repeatable; implies --symbolize)\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 usage, 3 cannot read FILE, 4 not a ring,\n"
    "5 unknown ring version, 6 truncated ring, 7 corrupt ring. See nblog(1).\n";

enum {
    OPT_UNTIL_SEQ = 256,
    OPT_CASE,
    OPT_THREAD,
    OPT_PID,
    OPT_COLOR,
    OPT_NO_PAGER,
    OPT_SYMBOLIZE,
    OPT_DEBUG_DIR,
    OPT_LOCATION,
    OPT_CODE_FILE,
    OPT_CODE_FUNC,
};

/* --code-file GLOB[:LINE] (file: 1), --code-func GLOB into m; NULL, or
 * what is wrong with it. */
static const char *parse_code_match(const char *text, int file, struct code_match *m)
{
    size_t n = strlen(text);
    if (n == 0)
        return "an empty pattern";
    if (n >= sizeof m->glob)
        return "a pattern longer than 255 bytes";
    memcpy(m->glob, text, n + 1);
    m->line = 0;
    m->base = 0;
    if (!file)
        return NULL;
    char *colon = strrchr(m->glob, ':');
    unsigned long long line;
    if (colon && tool_parse_u64(colon + 1, &line) == 0) {
        if (line == 0 || line > UINT32_MAX)
            return "LINE (after the last ':') is not 1..4294967295";
        m->line = (uint32_t)line;
        *colon = '\0';
        if (colon == m->glob) /* ":LINE": that line of any file */
            memcpy(m->glob, "*", 2);
    }
    m->base = strchr(m->glob, '/') == NULL;
    return NULL;
}

/* "N[,N...]" of ids 1..UINT32_MAX. */
static int parse_ids(const char *text, uint32_t *ids, int *n)
{
    *n = 0;
    for (const char *p = text;;) {
        char num[16];
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        unsigned long long v;
        if (len == 0 || len >= sizeof num || *n == ID_LIST_MAX)
            return -1;
        memcpy(num, p, len);
        num[len] = '\0';
        if (tool_parse_u64(num, &v) != 0 || v == 0 || v > UINT32_MAX)
            return -1;
        ids[(*n)++] = (uint32_t)v;
        if (!end)
            return 0;
        p = end + 1;
    }
}

static int parse_bool(const char *text)
{
    static const char *const yes[] = {"yes", "y", "true", "t", "on", "1"};
    static const char *const no[] = {"no", "n", "false", "f", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!strcmp(text, yes[i]))
            return 1;
        if (!strcmp(text, no[i]))
            return 0;
    }
    return -1;
}

static int parse_output(const char *name)
{
    static const struct {
        const char *name;
        int format;
    } names[] = {{"plain", FMT_PLAIN}, {"short", FMT_SHORT},   {"cat", FMT_CAT},
                 {"raw", FMT_RAW},     {"kmsg", FMT_RAW},      {"json", FMT_JOURNAL},
                 {"json-pretty", FMT_PRETTY}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name))
            return names[i].format;
    return -1;
}

/* Whether the pattern has a capital letter (journalctl's rule for case),
 * in the user's character set. */
static int has_capital(const char *s, locale_t loc)
{
    locale_t was = uselocale(loc ? loc : LC_GLOBAL_LOCALE);
    mbstate_t st;
    memset(&st, 0, sizeof st);
    int capital = 0;
    for (size_t n = strlen(s); n && !capital;) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, s, n, &st);
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
            memset(&st, 0, sizeof st);
            k = 1;
            wc = (unsigned char)*s;
        }
        capital = iswupper((wint_t)wc) != 0;
        s += k;
        n -= k;
    }
    uselocale(was);
    return capital;
}

static int compile_one(regex_t *re, const struct dmesg_opts *o, locale_t loc)
{
    locale_t was = uselocale(loc ? loc : LC_GLOBAL_LOCALE);
    int rc = regcomp(re, o->grep, REG_EXTENDED | REG_NOSUB | (o->case_sensitive ? 0 : REG_ICASE));
    uselocale(was);
    if (rc != 0) {
        char why[256];
        regerror(rc, re, why, sizeof why);
        return tool_fail(EXIT_USAGE, "--grep %s: %s", o->grep, why);
    }
    return EXIT_OK;
}

/* --grep: a literal is searched directly (memmem, or folded ASCII), the
 * rest compiled once as an ERE: twice in a UTF-8 locale, for the texts
 * that are UTF-8 (characters, case beyond ASCII) and, in the C locale,
 * for those that are not (byte by byte: glibc's '.' matches no invalid
 * byte in UTF-8), so every record can match. */
static int compile_grep(struct dmesg_opts *o)
{
    static char folded[256];
    o->loc = newlocale(LC_CTYPE_MASK, "", (locale_t)0);
    if (o->loc && strcmp(nl_langinfo_l(CODESET, o->loc), "UTF-8")) {
        freelocale(o->loc); /* not UTF-8: bytes it is */
        o->loc = (locale_t)0;
    }
    if (o->case_sensitive < 0)
        o->case_sensitive = has_capital(o->grep, o->loc);
    o->grep_len = strlen(o->grep);
    int ascii = 1;
    for (const char *p = o->grep; *p; p++)
        ascii &= (unsigned char)*p < 0x80;
    o->literal = !strpbrk(o->grep, ".[]()*+?{}|^$\\") &&
                 (o->case_sensitive || (ascii && o->grep_len < sizeof folded));
    if (o->literal && !o->case_sensitive) {
        for (size_t i = 0; i <= o->grep_len; i++)
            folded[i] = (char)fold((unsigned char)o->grep[i]);
        o->grep = folded;
    }
    if (o->literal)
        return EXIT_OK;
    if (compile_one(&o->re, o, (locale_t)0) != EXIT_OK)
        return EXIT_USAGE;
    o->has_re = 1;
    if (o->loc) {
        if (compile_one(&o->re_mb, o, o->loc) != EXIT_OK)
            return EXIT_USAGE;
        o->has_re_mb = 1;
    }
    return EXIT_OK;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* After the options: what they say together. */
static int check_dmesg(struct dmesg_opts *o, int color)
{
    if (o->reverse && o->follow)
        return tool_fail(EXIT_USAGE, "--reverse and --follow do not go together");
    if (o->has_since_time && o->has_until_time && o->since_ns > o->until_ns)
        return tool_fail(EXIT_USAGE, "--since is after --until: nothing would match");
    if (o->has_since && o->has_until_seq && o->since_seq > o->until_seq)
        return tool_fail(EXIT_USAGE, "--since-seq %llu is after --until-seq %llu",
                         (unsigned long long)o->since_seq, (unsigned long long)o->until_seq);
    if (o->grep && compile_grep(o) != EXIT_OK)
        return EXIT_USAGE;
    if (o->symbolize && (o->format == FMT_JSON || o->format == FMT_JOURNAL ||
                         o->format == FMT_PRETTY))
        return tool_fail(EXIT_USAGE, "--symbolize adds text to each frame's line: it goes "
                                     "with plain, short, cat, raw and kmsg, not JSON");
    /* As the library's consoles decide "auto" (nblog.h, LINE FORMATS):
     * a terminal, NO_COLOR unset or empty, TERM not "dumb". */
    const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");
    int tty = isatty(STDOUT_FILENO);
    o->color = color == COLOR_ALWAYS ||
               (color == COLOR_AUTO && tty && !(no_color && *no_color) &&
                !(term && !strcmp(term, "dumb")));
    if (o->format != FMT_PLAIN && o->format != FMT_SHORT)
        o->color = 0;
    o->pager = tty && !o->follow && !o->no_pager;
    return EXIT_OK;
}

static int parse_dmesg(int argc, char **argv, struct dmesg_opts *o, const char **file)
{
    static const struct option longs[] = {
        {"follow", no_argument, NULL, 'f'},
        {"level", required_argument, NULL, 'l'},
        {"priority", required_argument, NULL, 'p'},
        {"since-seq", required_argument, NULL, 's'},
        {"until-seq", required_argument, NULL, OPT_UNTIL_SEQ},
        {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},
        {"lines", required_argument, NULL, 'n'},
        {"reverse", no_argument, NULL, 'r'},
        {"grep", required_argument, NULL, 'g'},
        {"case-sensitive", optional_argument, NULL, OPT_CASE},
        {"thread", required_argument, NULL, OPT_THREAD},
        {"pid", required_argument, NULL, OPT_PID},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'F'},
        {"time", required_argument, NULL, 't'},
        {"color", optional_argument, NULL, OPT_COLOR},
        {"no-pager", no_argument, NULL, OPT_NO_PAGER},
        {"symbolize", no_argument, NULL, OPT_SYMBOLIZE},
        {"debug-dir", required_argument, NULL, OPT_DEBUG_DIR},
        {"location", no_argument, NULL, OPT_LOCATION},
        {"code-file", required_argument, NULL, OPT_CODE_FILE},
        {"code-func", required_argument, NULL, OPT_CODE_FUNC},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    *o = (struct dmesg_opts){.level_mask = 0xff, .case_sensitive = -1};
    int c, color = COLOR_AUTO, b;
    int64_t now = now_ns();
    while ((c = getopt_long(argc, argv, "fl:p:s:S:U:n:rg:io:F:t:h", longs, NULL)) != -1) {
        switch (c) {
        case 'f': o->follow = 1; break;
        case 'l':
        case 'p':
            if (tool_parse_levels(optarg, &o->level_mask) != 0)
                return tool_fail(EXIT_USAGE,
                                 "%s %s: not a level, list or range (emerg, alert, crit, "
                                 "err, warning, notice, info, debug or 0..7; \"err,warning\", "
                                 "\"err..warning\")",
                                 c == 'l' ? "--level" : "--priority", optarg);
            break;
        case 's':
        case OPT_UNTIL_SEQ:
            if (tool_parse_u64(optarg, c == 's' ? &o->since_seq : &o->until_seq) != 0)
                return tool_fail(EXIT_USAGE, "%s %s: not a number",
                                 c == 's' ? "--since-seq" : "--until-seq", optarg);
            *(c == 's' ? &o->has_since : &o->has_until_seq) = 1;
            break;
        case 'S':
        case 'U':
            if (tool_parse_time(optarg, now, c == 'S' ? &o->since_ns : &o->until_ns) != 0)
                return tool_fail(EXIT_USAGE,
                                 "%s %s: not a time (\"2026-12-02 10:00:00\", \"10:00\", "
                                 "\"2026-12-02T10:00:00Z\", \"@1796205600\", \"10 min ago\", "
                                 "\"-1h\", \"today\", \"yesterday\", \"now\")",
                                 c == 'S' ? "--since" : "--until", optarg);
            *(c == 'S' ? &o->has_since_time : &o->has_until_time) = 1;
            break;
        case 'n':
            if (tool_parse_u64(optarg, &o->lines) != 0)
                return tool_fail(EXIT_USAGE, "--lines %s: not a number", optarg);
            o->has_lines = 1;
            break;
        case 'r': o->reverse = 1; break;
        case 'g': o->grep = optarg; break;
        case 'i': o->case_sensitive = 0; break;
        case OPT_CASE:
            if ((b = optarg ? parse_bool(optarg) : 1) < 0)
                return tool_fail(EXIT_USAGE, "--case-sensitive=%s: yes or no", optarg);
            o->case_sensitive = b;
            break;
        case OPT_THREAD:
        case OPT_PID:
            if (parse_ids(optarg, c == OPT_THREAD ? o->tids : o->pids,
                          c == OPT_THREAD ? &o->ntids : &o->npids) != 0)
                return tool_fail(EXIT_USAGE, "%s %s: not a list of ids (1..4294967295, at "
                                 "most %d, comma-separated)",
                                 c == OPT_THREAD ? "--thread" : "--pid", optarg, ID_LIST_MAX);
            break;
        case 'o':
            if ((o->format = parse_output(optarg)) < 0)
                return tool_fail(EXIT_USAGE, "--output %s: plain, short, cat, raw, kmsg, "
                                 "json or json-pretty", optarg);
            break;
        case 'F':
            o->format = !strcmp(optarg, "plain") ? FMT_PLAIN
                        : !strcmp(optarg, "kmsg") ? FMT_KMSG
                        : !strcmp(optarg, "json") ? FMT_JSON
                                                  : -1;
            if (o->format < 0)
                return tool_fail(EXIT_USAGE, "--format %s: plain, kmsg or json", optarg);
            break;
        case 't':
            if (strcmp(optarg, "rel") && strcmp(optarg, "iso"))
                return tool_fail(EXIT_USAGE, "--time %s: rel or iso", optarg);
            o->iso = !strcmp(optarg, "iso");
            break;
        case OPT_COLOR:
            color = !optarg || !strcmp(optarg, "auto") ? COLOR_AUTO
                    : !strcmp(optarg, "always")         ? COLOR_ALWAYS
                    : !strcmp(optarg, "never")          ? COLOR_NEVER
                                                        : -1;
            if (color < 0)
                return tool_fail(EXIT_USAGE, "--color=%s: auto, always or never", optarg);
            break;
        case OPT_NO_PAGER: o->no_pager = 1; break;
        case OPT_SYMBOLIZE: o->symbolize = 1; break;
        case OPT_DEBUG_DIR:
            if (o->ndebug_dirs == DEBUG_DIRS_MAX)
                return tool_fail(EXIT_USAGE, "--debug-dir %s: at most %d directories", optarg,
                                 DEBUG_DIRS_MAX);
            o->debug_dirs[o->ndebug_dirs++] = optarg;
            o->symbolize = 1;
            break;
        case OPT_LOCATION: o->location = 1; break;
        case OPT_CODE_FILE:
        case OPT_CODE_FUNC: {
            int is_file = c == OPT_CODE_FILE;
            int *n = is_file ? &o->nfiles : &o->nfuncs;
            const char *opt = is_file ? "--code-file" : "--code-func";
            if (*n == CODE_MATCH_MAX)
                return tool_fail(EXIT_USAGE, "%s given more than %d times", opt,
                                 CODE_MATCH_MAX);
            const char *bad =
                parse_code_match(optarg, is_file, (is_file ? o->files : o->funcs) + *n);
            if (bad)
                return tool_fail(EXIT_USAGE, "%s %s: %s", opt, optarg, bad);
            (*n)++;
            break;
        }
        case 'h': return fputs(dmesg_usage, stdout), TOOL_HELP;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return tool_fail(EXIT_USAGE, "dmesg needs exactly one FILE");
    *file = argv[optind];
    return check_dmesg(o, color);
}

/* One pass over the file: from --since-seq (exact: even past the head,
 * which then prints nothing, or waits with --follow), or where the last
 * pass, on a file since replaced, stopped (sequences continue across a
 * replacement; a resume point past the new file's head is not trusted). */
static int dmesg_file(const struct dmesg_opts *o, const char *file, uint64_t *resume_at,
                      int first_pass)
{
    struct view v = {0};
    /* Mapped, not copied, following or not: a 512 MiB ring is not read
     * into memory first (what a running writer overwrites meanwhile is a
     * gap, as in a live kernel's dmesg). Where mapping is refused (pages
     * over 4352 bytes), a copy, which also says why a file is no ring. */
    int rc = nblog_ringfile_open(file, NBLOG_RINGFILE_LIVE, &v.f, NULL, 0) == NBLOG_OK
                 ? EXIT_OK
                 : tool_open_view(file, o->follow, &v.f);
    if (rc != EXIT_OK)
        return rc;
    view_refresh(&v);
    nblog_reader_t rd;
    rc = nblog_ringfile_reader(v.f, NBLOG_FROM_OLDEST, &rd);
    assert(rc == NBLOG_OK);
    int exact = first_pass && o->has_since;
    if (*resume_at > rd.next_seq && (exact || *resume_at <= nblog_reader_head(&rd)))
        rd.next_seq = *resume_at;
    if (o->reverse) {
        print_reverse(o, &v, &rd);
        rc = output_verdict(o);
    } else {
        if (first_pass && o->has_lines)
            rd.next_seq = start_of_last(o, &v, &rd);
        rc = dmesg_loop(o, &v, &rd);
    }
    *resume_at = rd.next_seq;
    nblog_ringfile_close(v.f);
    return rc;
}

int nblog_cmd_dmesg(int argc, char **argv)
{
    static struct dmesg_opts o;
    const char *file = NULL;
    install_stop_handlers();
    int rc = parse_dmesg(argc, argv, &o, &file);
    if (rc != EXIT_OK)
        return rc;
    if (o.symbolize) {
        struct tool_symbolize_opts so = {.dirs = o.debug_dirs, .ndirs = o.ndebug_dirs};
        if (tool_symbolizer_new(&so, &symbolizer) != 0)
            return EXIT_FAIL;
    }
    /* One write per MiB, none per record; stdio's buffer, made here once. */
    setvbuf(stdout, NULL, _IOFBF, STDOUT_BUFFER);
    if (o.pager)
        o.pager = pager_start();
    uint64_t resume_at = o.has_since ? o.since_seq : 0;
    for (int pass = 0;; pass++) {
        rc = dmesg_file(&o, file, &resume_at, pass == 0);
        if (rc != FOLLOW_REOPEN)
            break;
        fprintf(stderr, "nblog: %s was replaced by a new writer; following it\n", file);
    }
    if (o.has_re)
        regfree(&o.re);
    if (o.has_re_mb)
        regfree(&o.re_mb);
    if (o.loc)
        freelocale(o.loc);
    pager_end();
    if (symbolizer)
        tool_symbolizer_free(symbolizer);
    return rc;
}

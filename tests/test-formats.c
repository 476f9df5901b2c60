/*
 * test-formats.c - the human, pattern and json line formats, byte for
 * byte: every pattern item, widths, colour on and off (and NO_COLOR and
 * TERM=dumb for "auto", on a pty), UTC and local time (TZ set here before
 * the format is compiled) and the offset across a DST change (and for a
 * renderer overtaken by refreshes), JSON that parses back to the exact
 * bytes whatever a record holds, long messages
 * that never overflow a line, bad patterns refused with a sentence, the
 * spec's format= options, nblog pipe --format, and the pid in a forked
 * child. The renderer takes the record's wall time from its meta.
 */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "lifecycle.h" /* nblog__program_name */
#include "log.h"
#include "nblog.h"

#define T_2026_12_02 1796180679ll /* 2026-12-02 03:04:39 UTC */
#define LINE_CAP NBLOG_LINE_MAX   /* a console's line buffer (console.c) */

static struct nblog__line_fmt fmt;
static char line[LINE_CAP + 1];

static struct nblog__rec_meta meta(int64_t unix_s, uint32_t nsec, int level)
{
    struct nblog__rec_meta m = {.seq = 42, .wall_ns = unix_s * 1000000000ll + nsec,
                                .tid = 7, .level = (uint8_t)level, .facility = 1};
    return m;
}

/* Compiles opts o into fmt; returns what nblog__line_fmt_init did. */
static int compile(int format, const char *pattern, int color, int local, unsigned show,
                   char *err, size_t cap)
{
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.format = format;
    o.pattern = pattern;
    o.color = color;
    o.local_time = local;
    o.show = show;
    return nblog__line_fmt_init(&fmt, &o, NULL, err, cap);
}

static const char *render_m(const struct nblog__rec_meta *m, const char *text, size_t len,
                            size_t cap)
{
    size_t n = nblog__render_fmt(line, cap, &fmt, m, text, len);
    assert_true(n <= cap);
    assert_true(n > 0 && line[n - 1] == '\n');
    line[n] = '\0';
    return line;
}

static const char *render(int level, const char *text)
{
    struct nblog__rec_meta m = meta(T_2026_12_02, 123456789, level);
    return render_m(&m, text, strlen(text), LINE_CAP);
}

static void compile_ok(int format, const char *pattern, int color, int local, unsigned show)
{
    char err[256];
    int rc = compile(format, pattern, color, local, show, err, sizeof err);
    if (rc != NBLOG_OK)
        fail_msg("compile: %s", err);
}

static void test_human_default(void **state)
{
    (void)state;
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_WARNING, "disk 93% full"),
                        "2026-12-02 03:04:39.123456 [warning] disk 93% full\n");
    /* What a record holds is escaped as on every line. */
    assert_string_equal(render(NBLOG_LEVEL_INFO, "a\nb\033]0;x\a\\"),
                        "2026-12-02 03:04:39.123456 [info] a\\x0ab\\x1b]0;x\\x07\\x5c\n");
}

/* nblog__render_line (what readers of a ring use, with no registration)
 * renders human with the defaults, as a compiled human format does, and
 * json; both say whose records they are from the params given. */
static void test_render_line_formats(void **state)
{
    (void)state;
    static char other[LINE_CAP];
    static const char *const texts[] = {"x", "", "a\nb\xff", "\xe2\x80\xa8 \\"};
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0, 0);
    for (int level = 0; level < 8; level++)
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            struct nblog__rec_meta m = meta(T_2026_12_02 + level * 86399, 1000u * level, level);
            m.flags = i == 3 ? NBLOG_F_REPLAYED : 0;
            size_t n = nblog__render_line(other, 600, NBLOG_FORMAT_HUMAN, NULL, &m, texts[i],
                                          strlen(texts[i]));
            other[n] = '\0';
            assert_string_equal(other, render_m(&m, texts[i], strlen(texts[i]), 600));
        }
    struct nblog__line_id p;
    memset(&p, 0, sizeof p);
    strcpy(p.app, "ingest");
    strcpy(p.procid, "999");
    strcpy(p.hostname, "-");
    strcpy(p.msgid, "-");
    struct nblog__rec_meta m = meta(T_2026_12_02, 5000, NBLOG_LEVEL_DEBUG);
    size_t n = nblog__render_line(other, sizeof other, NBLOG_FORMAT_JSON, &p, &m, "hi", 2);
    other[n] = '\0';
    assert_string_equal(other, "{\"time\":\"2026-12-02T03:04:39.000005Z\",\"level\":\"debug\","
                               "\"seq\":42,\"tid\":7,\"pid\":999,\"program\":\"ingest\","
                               "\"message\":\"hi\"}\n");
    n = nblog__render_line(other, sizeof other, NBLOG_FORMAT_HUMAN, &p, &m, "hi", 2);
    other[n] = '\0';
    assert_string_equal(other, "2026-12-02 03:04:39.000005 [debug] hi\n");
}

static void test_human_fields(void **state)
{
    (void)state;
    char want[256];
    const char *prog = nblog__program_name();
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0,
               NBLOG_SHOW_PROGRAM | NBLOG_SHOW_PID | NBLOG_SHOW_TID);
    snprintf(want, sizeof want, "2026-12-02 03:04:39.123456 [err] %s[%d] tid 7: x\n", prog,
             (int)getpid());
    assert_string_equal(render(NBLOG_LEVEL_ERR, "x"), want);
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0, NBLOG_SHOW_PROGRAM);
    snprintf(want, sizeof want, "2026-12-02 03:04:39.123456 [err] %s: x\n", prog);
    assert_string_equal(render(NBLOG_LEVEL_ERR, "x"), want);
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0, NBLOG_SHOW_PID);
    snprintf(want, sizeof want, "2026-12-02 03:04:39.123456 [err] [%d]: x\n", (int)getpid());
    assert_string_equal(render(NBLOG_LEVEL_ERR, "x"), want);
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0, NBLOG_SHOW_TID);
    assert_string_equal(render(NBLOG_LEVEL_ERR, "x"),
                        "2026-12-02 03:04:39.123456 [err] tid 7: x\n");
    /* A replayed record says so before its message. */
    struct nblog__rec_meta m = meta(T_2026_12_02, 0, NBLOG_LEVEL_INFO);
    m.flags = NBLOG_F_REPLAYED;
    assert_string_equal(render_m(&m, "y", 1, LINE_CAP),
                        "2026-12-02 03:04:39.000000 [info] tid 7: [replayed] y\n");
}

static void test_human_color(void **state)
{
    (void)state;
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_ALWAYS, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_ERR, "x"),
                        "2026-12-02 03:04:39.123456 \033[1;31m[err]\033[0m x\n");
    assert_string_equal(render(NBLOG_LEVEL_WARNING, "x"),
                        "2026-12-02 03:04:39.123456 \033[1;33m[warning]\033[0m x\n");
    assert_string_equal(render(NBLOG_LEVEL_NOTICE, "x"),
                        "2026-12-02 03:04:39.123456 \033[1m[notice]\033[0m x\n");
    assert_string_equal(render(NBLOG_LEVEL_INFO, "x"),
                        "2026-12-02 03:04:39.123456 [info] x\n");
    /* Colour codes come only from us: the message's are escaped. */
    assert_string_equal(render(NBLOG_LEVEL_INFO, "\033[31mred"),
                        "2026-12-02 03:04:39.123456 [info] \\x1b[31mred\n");
    /* "auto" without an fd (a callback console) is off. */
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_AUTO, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_ERR, "x"), "2026-12-02 03:04:39.123456 [err] x\n");
}

static void test_pattern_items(void **state)
{
    (void)state;
    char want[512];
    compile_ok(NBLOG_FORMAT_PATTERN,
               "%Y|%m|%d|%H|%M|%S|%e|%f|%F|%z|%l|%L|%q|%t|%P|%n|%v|%%|%T|100%%", 0, 0, 0);
    snprintf(want, sizeof want,
             "2026|12|02|03|04|39|123|123456|123456789|+00:00|notice|NOTICE|42|7|%d|%s|m|%%|"
             "03:04:39|100%%\n",
             (int)getpid(), nblog__program_name());
    assert_string_equal(render(NBLOG_LEVEL_NOTICE, "m"), want);
    /* Widths: right-aligned, '-' left-aligned; longer items are not cut. */
    compile_ok(NBLOG_FORMAT_PATTERN, "[%7l][%-7l][%3q][%-1L] %v", 0, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_INFO, "m"), "[   info][info   ][ 42][INFO] m\n");
    /* %^ %$ colour only when colour is on; without %$ the line still ends
     * reset. */
    compile_ok(NBLOG_FORMAT_PATTERN, "%^%L%$ %v", NBLOG_COLOR_ALWAYS, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_CRIT, "m"), "\033[1;31mCRIT\033[0m m\n");
    compile_ok(NBLOG_FORMAT_PATTERN, "%^%L %v", NBLOG_COLOR_ALWAYS, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_CRIT, "m"), "\033[1;31mCRIT m\033[0m\n");
    compile_ok(NBLOG_FORMAT_PATTERN, "%^%L%$ %v", NBLOG_COLOR_NEVER, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_CRIT, "m"), "CRIT m\n");
    /* UTF-8 and '\\' in a pattern are kept; the message twice. */
    compile_ok(NBLOG_FORMAT_PATTERN, "\xc3\xa9\\ %v/%v", 0, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_INFO, "m"), "\xc3\xa9\\ m/m\n");
}

static void bad_pattern(const char *pattern, const char *why)
{
    char err[256];
    assert_int_equal(compile(NBLOG_FORMAT_PATTERN, pattern, 0, 0, 0, err, sizeof err),
                     NBLOG_EINVAL);
    if (!strstr(err, why))
        fail_msg("pattern \"%s\": error \"%s\" does not say \"%s\"", pattern ? pattern : "NULL",
                 err, why);
}

static void test_pattern_refused(void **state)
{
    (void)state;
    char big[300], many[200];
    memset(big, 'a', sizeof big - 3);
    memcpy(big + sizeof big - 3, "%v", 3);
    many[0] = '\0';
    for (int i = 0; i < 33; i++)
        strcat(many, "%l-");
    strcat(many, "%v");
    bad_pattern(NULL, "without a pattern");
    bad_pattern("", "empty pattern");
    bad_pattern("%l only", "no %v");
    bad_pattern("%v %Q", "at byte 3: unknown item %Q");
    bad_pattern("%v %", "'%' at the end");
    bad_pattern("%65v", "a width is 1 to 64");
    bad_pattern("%-v", "a width is 1 to 64");
    bad_pattern("%0v", "a width is 1 to 64");
    bad_pattern("%3^%v", "take no width");
    bad_pattern("%2T %v", "%T takes no width");
    bad_pattern("\033[31m%v", "control byte");
    bad_pattern("\xff%v", "not UTF-8");
    bad_pattern("a\nb %v", "control byte");
    bad_pattern("%v \x01", "control byte");
    bad_pattern("%v %\x01", "unknown item %\\x01");
    bad_pattern(big, "longer than 255 bytes");
    bad_pattern(many, "more than 64 items");
    /* The registration refuses it, and nblog_spec_error says why. */
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.format = NBLOG_FORMAT_PATTERN;
    o.pattern = "%v %y";
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_stderr(&o, &con), NBLOG_EINVAL);
    assert_non_null(strstr(nblog_spec_error(), "unknown item %y"));
    o.format = NBLOG_FORMAT_PATTERN + 1;
    assert_int_equal(nblog_console_stderr(&o, &con), NBLOG_EINVAL);
    o.format = NBLOG_FORMAT_HUMAN;
    o.color = 3;
    assert_int_equal(nblog_console_stderr(&o, &con), NBLOG_EINVAL);
}

static void test_local_time(void **state)
{
    (void)state;
    setenv("TZ", "XYZ-5:30", 1); /* five and a half hours east of UTC */
    compile_ok(NBLOG_FORMAT_PATTERN, "%Y-%m-%d %H:%M:%S %z %v", 0, 1, 0);
    assert_string_equal(render(NBLOG_LEVEL_INFO, "m"), "2026-12-02 08:34:39 +05:30 m\n");
    compile_ok(NBLOG_FORMAT_PATTERN, "%Y-%m-%d %H:%M:%S %z %v", 0, 0, 0);
    assert_string_equal(render(NBLOG_LEVEL_INFO, "m"), "2026-12-02 03:04:39 +00:00 m\n");
    setenv("TZ", "ABC+3", 1); /* west */
    compile_ok(NBLOG_FORMAT_PATTERN, "%d %H:%M %z %v", 0, 1, 0);
    assert_string_equal(render(NBLOG_LEVEL_INFO, "m"), "02 00:04 -03:00 m\n");
    compile_ok(NBLOG_FORMAT_JSON, NULL, 0, 1, 0);
    assert_non_null(strstr(render(NBLOG_LEVEL_INFO, "m"),
                           "\"time\":\"2026-12-02T00:04:39.123456-03:00\""));
    compile_ok(NBLOG_FORMAT_JSON, NULL, 0, 0, 0);
    assert_non_null(strstr(render(NBLOG_LEVEL_INFO, "m"),
                           "\"time\":\"2026-12-02T03:04:39.123456Z\""));

    /* Across a DST change: US Eastern springs forward at 2026-03-08
     * 07:00:00 UTC (02:00 EST -> 03:00 EDT). Taken 30 s before it, each
     * record gets the offset in force at its own time. */
    setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
    compile_ok(NBLOG_FORMAT_PATTERN, "%H:%M:%S%z %v", 0, 1, 0);
    const int64_t change = 1772953200;
    nblog__line_fmt_tz_at(&fmt, change - 30);
    struct nblog__rec_meta m = meta(change - 1, 0, NBLOG_LEVEL_INFO);
    assert_string_equal(render_m(&m, "m", 1, LINE_CAP), "01:59:59-05:00 m\n");
    m = meta(change, 0, NBLOG_LEVEL_INFO);
    assert_string_equal(render_m(&m, "m", 1, LINE_CAP), "03:00:00-04:00 m\n");
    nblog__line_fmt_tz_at(&fmt, change + 90); /* the next refresh, still in the window */
    m = meta(change - 1, 0, NBLOG_LEVEL_INFO);
    assert_string_equal(render_m(&m, "m", 1, LINE_CAP), "01:59:59-05:00 m\n");
    nblog__line_fmt_tz_at(&fmt, change + 3600); /* later: the offset of now */
    assert_string_equal(render_m(&m, "m", 1, LINE_CAP), "02:59:59-04:00 m\n");
    unsetenv("TZ");
    tzset();
}

/* A renderer overtaken by two refreshes (pattern.c UTC OFFSET): it has
 * read the first value of its slot when the refresher publishes the other
 * slot and starts rewriting its slot for the next one. Run in lockstep by
 * the two test hooks and semaphores, not by timing: the refresher (a
 * thread) stops between its slot's stores and its tz_gen store, the
 * renderer then reads the rest of its slot and reloads tz_gen. A renderer
 * that took that slot would mix two refreshes' values. */
static sem_t tz_go, tz_written, tz_finish;
static atomic_int tz_hooks_ran;

static void tz_wait(sem_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30; /* a guard against a hang, not part of the check */
    if (sem_timedwait(s, &ts) != 0)
        abort();
}

static void tz_read_hook(void) /* the renderer, after its slot's first load */
{
    atomic_store(&nblog__tz_read_hook, NULL); /* its first try only */
    atomic_fetch_add(&tz_hooks_ran, 1);
    sem_post(&tz_go);
    tz_wait(&tz_written);
}

static void tz_publish_hook(void) /* the refresher, before its tz_gen store */
{
    atomic_store(&nblog__tz_publish_hook, NULL);
    atomic_fetch_add(&tz_hooks_ran, 1);
    sem_post(&tz_written);
    tz_wait(&tz_finish);
}

#define BERLIN_AUTUMN_2025 1761440400ll /* 2025-10-26 01:00 UTC: +02:00 -> +01:00 */
#define BERLIN_SPRING_2026 1774746000ll /* 2026-03-29 01:00 UTC: +01:00 -> +02:00 */
#define JAN_15_2026_NOON 1768478400ll   /* 2026-01-15 12:00 UTC, +01:00 in Berlin */

static void *tz_refresher(void *arg)
{
    (void)arg;
    tz_wait(&tz_go);
    nblog__line_fmt_tz_at(&fmt, JAN_15_2026_NOON); /* the other slot: +01:00 */
    atomic_store(&nblog__tz_publish_hook, tz_publish_hook);
    nblog__line_fmt_tz_at(&fmt, BERLIN_SPRING_2026 - 30); /* the renderer's slot */
    return NULL;
}

static void test_local_time_overtaken(void **state)
{
    (void)state;
    setenv("TZ", "Europe/Berlin", 1);
    compile_ok(NBLOG_FORMAT_PATTERN, "%Y-%m-%d %H:%M:%S%z %v", 0, 1, 0);
    /* The renderer's slot: taken at the autumn change, +02:00 before it. */
    nblog__line_fmt_tz_at(&fmt, BERLIN_AUTUMN_2025 - 30);
    struct nblog__rec_meta m = meta(JAN_15_2026_NOON, 0, NBLOG_LEVEL_INFO);
    assert_string_equal(render_m(&m, "m", 1, LINE_CAP), "2026-01-15 13:00:00+01:00 m\n");

    assert_int_equal(sem_init(&tz_go, 0, 0), 0);
    assert_int_equal(sem_init(&tz_written, 0, 0), 0);
    assert_int_equal(sem_init(&tz_finish, 0, 0), 0);
    atomic_store(&tz_hooks_ran, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tz_refresher, NULL), 0);
    atomic_store(&nblog__tz_read_hook, tz_read_hook);
    /* Every refresh's slot says +01:00 on January 15th; the autumn slot's
     * "before" with the spring slot's change would say +02:00. */
    const char *got = render_m(&m, "m", 1, LINE_CAP);
    sem_post(&tz_finish);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(atomic_load(&tz_hooks_ran), 2);
    assert_string_equal(got, "2026-01-15 13:00:00+01:00 m\n");
    /* The spring refresh, published: still +01:00 before its change. */
    assert_string_equal(render_m(&m, "m", 1, LINE_CAP), "2026-01-15 13:00:00+01:00 m\n");
    m = meta(BERLIN_SPRING_2026, 0, NBLOG_LEVEL_INFO);
    assert_string_equal(render_m(&m, "m", 1, LINE_CAP), "2026-03-29 03:00:00+02:00 m\n");
    sem_destroy(&tz_go);
    sem_destroy(&tz_written);
    sem_destroy(&tz_finish);
    unsetenv("TZ");
    tzset();
}

/* ---------------------------------------------------------- JSON parser */

/* A strict little JSON reader for one object of strings, numbers, true
 * and arrays of numbers: what the json format writes. */
struct jp {
    const char *s;
    size_t at, len;
};

static int jp_peek(struct jp *p)
{
    return p->at < p->len ? (unsigned char)p->s[p->at] : -1;
}

static void jp_expect(struct jp *p, char ch)
{
    if (jp_peek(p) != (unsigned char)ch)
        fail_msg("json: expected '%c' at %zu in %s", ch, p->at, p->s);
    p->at++;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 63));
    out[2] = (char)(0x80 | (cp & 63));
    return 3;
}

/* A string into out (decoded); returns its length. Raw bytes must be
 * printable UTF-8 (no control, no C1, no U+2028/9). */
static size_t jp_string(struct jp *p, char *out, size_t cap)
{
    size_t n = 0;
    jp_expect(p, '"');
    for (;;) {
        int ch = jp_peek(p);
        assert_true(ch >= 0x20 && ch != 0x7f);
        assert_true(n + 4 < cap);
        if (ch == '"') {
            p->at++;
            return n;
        }
        if (ch == '\\') {
            p->at++;
            int e = jp_peek(p);
            p->at++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e != 'u') {
                assert_non_null(simple);
                out[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
                continue;
            }
            unsigned cp = 0;
            for (int k = 0; k < 4; k++) {
                int h = jp_peek(p);
                p->at++;
                assert_true((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f'));
                cp = cp * 16 + (unsigned)(h <= '9' ? h - '0' : h - 'a' + 10);
            }
            assert_false(cp >= 0xd800 && cp <= 0xdfff); /* we never write surrogates */
            n += put_utf8(out + n, cp);
            continue;
        }
        int keep;
        size_t u = nblog__text_unit((const unsigned char *)p->s + p->at, p->len - p->at, &keep);
        assert_true(keep || ch == '\\'); /* valid UTF-8 a terminal does not act on */
        memcpy(out + n, p->s + p->at, u);
        n += u;
        p->at += u;
    }
}

struct jrec {
    char time[64], level[16], program[64];
    char file[512], func[256]; /* the call site, when the line has it */
    long long line;
    int has_file, has_line, has_func;
    char keys[256]; /* the keys in their order, ',' after each */
    char message[LINE_CAP];
    size_t message_len;
    unsigned char bytes[8192];
    size_t n_bytes;
    int has_bytes, truncated, replayed;
    long long seq, tid, pid;
};

static long long jp_number(struct jp *p)
{
    long long v = 0;
    assert_true(jp_peek(p) >= '0' && jp_peek(p) <= '9');
    while (jp_peek(p) >= '0' && jp_peek(p) <= '9')
        v = v * 10 + (p->s[p->at++] - '0');
    return v;
}

/* Parses one line (ending in "}\n", nothing after) into *r. */
static void parse_json(const char *s, size_t len, struct jrec *r)
{
    struct jp p = {s, 0, len};
    char key[32];
    memset(r, 0, sizeof *r);
    assert_true(len >= 2 && s[len - 1] == '\n');
    p.len = len - 1;
    jp_expect(&p, '{');
    for (int first = 1; jp_peek(&p) != '}'; first = 0) {
        if (!first)
            jp_expect(&p, ',');
        size_t kn = jp_string(&p, key, sizeof key);
        key[kn] = '\0';
        jp_expect(&p, ':');
        assert_true(strlen(r->keys) + kn + 2 <= sizeof r->keys);
        strcat(strcat(r->keys, key), ",");
        if (!strcmp(key, "time") && !strncmp(s + p.at, "null", 4)) {
            p.at += 4; /* no time to tell: r->time stays "" */
        } else if (!strcmp(key, "time") || !strcmp(key, "level") || !strcmp(key, "program")) {
            char *dst = !strcmp(key, "time") ? r->time : key[0] == 'l' ? r->level : r->program;
            dst[jp_string(&p, dst, 64)] = '\0';
        } else if (!strcmp(key, "message")) {
            r->message_len = jp_string(&p, r->message, sizeof r->message);
        } else if (!strcmp(key, "file") || !strcmp(key, "func")) {
            int f = key[1] == 'i';
            char *dst = f ? r->file : r->func;
            size_t cap = f ? sizeof r->file : sizeof r->func;
            dst[jp_string(&p, dst, cap - 1)] = '\0';
            *(f ? &r->has_file : &r->has_func) = 1;
        } else if (!strcmp(key, "line")) {
            r->line = jp_number(&p);
            r->has_line = 1;
        } else if (!strcmp(key, "seq") || !strcmp(key, "tid") || !strcmp(key, "pid")) {
            long long v = jp_number(&p);
            *(key[0] == 's' ? &r->seq : key[0] == 't' ? &r->tid : &r->pid) = v;
        } else if (!strcmp(key, "truncated") || !strcmp(key, "replayed")) {
            assert_int_equal(strncmp(s + p.at, "true", 4), 0);
            p.at += 4;
            *(key[0] == 't' ? &r->truncated : &r->replayed) = 1;
        } else if (!strcmp(key, "message_bytes")) {
            r->has_bytes = 1;
            jp_expect(&p, '[');
            while (jp_peek(&p) != ']') {
                if (r->n_bytes)
                    jp_expect(&p, ',');
                long long b = jp_number(&p);
                assert_true(b <= 255 && r->n_bytes < sizeof r->bytes);
                r->bytes[r->n_bytes++] = (unsigned char)b;
            }
            p.at++;
        } else {
            fail_msg("json: unknown key %s", key);
        }
    }
    p.at++;
    assert_int_equal(p.at, p.len); /* one object, nothing after it */
}

static void test_json_fields(void **state)
{
    (void)state;
    struct jrec *r = malloc(sizeof *r);
    compile_ok(NBLOG_FORMAT_JSON, NULL, 0, 0, 0);
    const char *l = render(NBLOG_LEVEL_WARNING, "disk \"full\"");
    char want[512];
    snprintf(want, sizeof want,
             "{\"time\":\"2026-12-02T03:04:39.123456Z\",\"level\":\"warning\",\"seq\":42,"
             "\"tid\":7,\"pid\":%d,\"program\":\"%s\",\"message\":\"disk \\\"full\\\"\"}\n",
             (int)getpid(), nblog__program_name());
    assert_string_equal(l, want);
    parse_json(l, strlen(l), r);
    assert_int_equal(r->seq, 42);
    assert_string_equal(r->level, "warning");
    struct nblog__rec_meta m = meta(T_2026_12_02, 0, NBLOG_LEVEL_INFO);
    m.flags = NBLOG_F_REPLAYED | NBLOG_F_TRUNCATED;
    l = render_m(&m, "x", 1, LINE_CAP);
    assert_non_null(strstr(l, "\"message\":\"x\",\"truncated\":true,\"replayed\":true}\n"));
    free(r);
}

/* Every byte value, valid and broken UTF-8, C1, U+2028/9: the line is
 * valid JSON in valid UTF-8 with no control byte, and gives back the
 * bytes exactly (message when it is UTF-8, message_bytes otherwise). */
static void test_json_hostile_bytes(void **state)
{
    (void)state;
    struct jrec *r = malloc(sizeof *r);
    char text[600];
    size_t n = 0;
    for (int b = 1; b < 256; b++)
        text[n++] = (char)b;
    static const char more[] = "\xc3\xa9\xc2\x85\xe2\x80\xa8\xe2\x80\xa9\xf0\x9f\x98\x80"
                               "\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xe2\x82";
    memcpy(text + n, more, sizeof more - 1);
    n += sizeof more - 1;
    text[n++] = '\0'; /* a NUL inside the text, too */
    text[n++] = 'z';
    compile_ok(NBLOG_FORMAT_JSON, NULL, 0, 0, 0);
    struct nblog__rec_meta m = meta(T_2026_12_02, 0, NBLOG_LEVEL_INFO);
    size_t len = nblog__render_fmt(line, LINE_CAP, &fmt, &m, text, n);
    for (size_t i = 0; i + 1 < len; i++)
        assert_true((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
    parse_json(line, len, r);
    assert_true(r->has_bytes);
    assert_false(r->truncated);
    assert_int_equal(r->n_bytes, n);
    assert_memory_equal(r->bytes, text, n);
    /* The message holds U+FFFD for the broken bytes, the rest as it was. */
    assert_non_null(memmem(r->message, r->message_len, "\xef\xbf\xbd", 3));
    assert_non_null(memmem(r->message, r->message_len, "\xe2\x80\xa8\xe2\x80\xa9", 6));
    /* Valid UTF-8 with controls: no bytes array, the message is exact. */
    static const char ok[] = "tab\there\nnl \xc2\x9b csi \xe2\x80\xa8 \\ \" \x7f \xf0\x9f\x98\x80";
    len = nblog__render_fmt(line, LINE_CAP, &fmt, &m, ok, sizeof ok - 1);
    parse_json(line, len, r);
    assert_false(r->has_bytes);
    assert_int_equal(r->message_len, sizeof ok - 1);
    assert_memory_equal(r->message, ok, sizeof ok - 1);
    free(r);
}

/* The longest text a record holds, of the bytes that grow most: every
 * line stays within its buffer, whole, and JSON stays valid. */
static void test_long_messages(void **state)
{
    (void)state;
    struct jrec *r = malloc(sizeof *r);
    static char text[NBLOG__RECORD_SIZE_MAX];
    const size_t n = sizeof text - 1;
    const unsigned char fills[] = {0x01, 0xff, 'a', '"'};
    for (size_t f = 0; f < sizeof fills; f++) {
        memset(text, fills[f], n);
        struct nblog__rec_meta m = meta(T_2026_12_02, 0, NBLOG_LEVEL_ERR);
        compile_ok(NBLOG_FORMAT_JSON, NULL, 0, 0, 0);
        for (size_t cap = 512; cap <= LINE_CAP; cap = cap * 3 + 1) {
            memset(line, 0x55, sizeof line);
            size_t len = nblog__render_fmt(line, cap, &fmt, &m, text, n);
            assert_true(len <= cap);
            assert_true((unsigned char)line[cap] == 0x55);
            parse_json(line, len, r);
            size_t got = r->has_bytes ? r->n_bytes : r->message_len;
            assert_int_equal(r->truncated, got < n);
            if (r->has_bytes)
                assert_memory_equal(r->bytes, text, got);
            else
                assert_memory_equal(r->message, text, got);
        }
        /* A console's room holds the whole line, whatever the bytes. */
        size_t whole = nblog__render_fmt(line, LINE_CAP, &fmt, &m, text, n);
        parse_json(line, whole, r);
        assert_false(r->truncated);
        assert_int_equal(r->has_bytes ? r->n_bytes : r->message_len, n);
        /* With %$ and without: cut anywhere, a line ends reset. */
        for (size_t i = 0; i < 2 * 4; i++) {
            size_t cap = i % 4 == 0 ? 512 : i % 4 == 1 ? 1537 : i % 4 == 2 ? 4612 : LINE_CAP;
            compile_ok(NBLOG_FORMAT_PATTERN, i < 4 ? "%^[%l] %v %n %q" : "%^[%l]%$ %v %n %q",
                       NBLOG_COLOR_ALWAYS, 0, 0);
            memset(line, 0x55, sizeof line);
            size_t len = nblog__render_fmt(line, cap, &fmt, &m, text, n);
            assert_true(len <= cap && line[len - 1] == '\n');
            assert_true((unsigned char)line[cap] == 0x55);
            assert_true(memchr(line, '\n', len) == line + len - 1);
            const char *esc = memrchr(line, '\033', len); /* the last: the reset */
            assert_non_null(esc);
            assert_int_equal(memcmp(esc, "\033[0m", 4), 0);
        }
    }
    free(r);
}

/* A time that cannot be told (INT64_MIN, INT64_MAX wall_ns) is a
 * placeholder, never a date in 1677 or 2262: dashes in the human and
 * pattern formats' time fields, null in json. */
static void test_sentinel_times(void **state)
{
    (void)state;
    const int64_t sentinels[] = {INT64_MIN, INT64_MAX};
    char want[256];
    for (size_t i = 0; i < 2; i++) {
        struct nblog__rec_meta m = meta(0, 0, NBLOG_LEVEL_INFO);
        m.wall_ns = sentinels[i];
        compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0, 0);
        assert_string_equal(render_m(&m, "hi", 2, LINE_CAP),
                            "---------- --:--:--.------ [info] hi\n");
        compile_ok(NBLOG_FORMAT_PATTERN, "%Y-%m-%d %H:%M:%S.%e|%f|%F %z %l %v", 0, 1, 0);
        assert_string_equal(render_m(&m, "hi", 2, LINE_CAP),
                            "---------- --:--:--.---|------|--------- ------ info hi\n");
        compile_ok(NBLOG_FORMAT_JSON, NULL, 0, 0, 0);
        snprintf(want, sizeof want,
                 "{\"time\":null,\"level\":\"info\",\"seq\":42,\"tid\":7,\"pid\":%d,"
                 "\"program\":\"%s\",\"message\":\"hi\"}\n",
                 (int)getpid(), nblog__program_name());
        assert_string_equal(render_m(&m, "hi", 2, LINE_CAP), want);
        /* nblog_render_line's human line too. */
        size_t n = nblog__render_line(line, LINE_CAP, NBLOG_FORMAT_HUMAN, NULL, &m, "hi", 2);
        line[n] = '\0';
        assert_string_equal(line, "---------- --:--:--.------ [info] hi\n");
    }
}


/* ---------------------------------------------------------- call sites */

/* A call site as a reader hands it to renderers. */
#define LOC(f, l, fn) ((struct nblog__loc){.line = (l), .file = f, .func = fn})

/* A record's line in fmt with call site l (NULL: none). */
static const char *render_at(const struct nblog__loc *l, int level, const char *text)
{
    struct nblog__rec_meta m = meta(T_2026_12_02, 123456789, level);
    m.loc = l;
    return render_m(&m, text, strlen(text), LINE_CAP);
}

/* %s %g %# %! %@: the call site, spdlog's letters; nothing without one;
 * widths as every item; escaped as every text item. */
static void test_pattern_location(void **state)
{
    (void)state;
    struct nblog__loc l = LOC("src/dir/main.c", 42, "main");
    compile_ok(NBLOG_FORMAT_PATTERN, "%s|%g|%#|%!|%@|%v", 0, 0, 0);
    assert_true(fmt.wants_loc);
    assert_string_equal(render_at(&l, NBLOG_LEVEL_INFO, "m"),
                        "main.c|src/dir/main.c|42|main|main.c:42|m\n");
    assert_string_equal(render_at(NULL, NBLOG_LEVEL_INFO, "m"), "|||||m\n");
    /* Each part only when the record has it. */
    struct nblog__loc part = LOC("main.c", 0, "");
    assert_string_equal(render_at(&part, NBLOG_LEVEL_INFO, "m"), "main.c|main.c|||main.c|m\n");
    part = LOC("", 7, "f");
    assert_string_equal(render_at(&part, NBLOG_LEVEL_INFO, "m"), "||7|f|7|m\n");
    /* Widths, on either side; padded when there is none too. */
    compile_ok(NBLOG_FORMAT_PATTERN, "[%10s][%-5#][%3!][%-12@][%2s] %v", 0, 0, 0);
    assert_string_equal(render_at(&l, NBLOG_LEVEL_INFO, "m"),
                        "[    main.c][42   ][main][main.c:42   ][main.c] m\n");
    assert_string_equal(render_at(NULL, NBLOG_LEVEL_INFO, "m"),
                        "[          ][     ][   ][            ][  ] m\n");
    /* Escaped as the message is (a caller's record may hold any bytes). */
    struct nblog__loc bad = LOC("d\\x/a\033[2J\xff.c", 3, "f\xc2\x9bg");
    compile_ok(NBLOG_FORMAT_PATTERN, "%g %s %! %@ %v", 0, 0, 0);
    assert_string_equal(render_at(&bad, NBLOG_LEVEL_INFO, "m"),
                        "d\\x5cx/a\\x1b[2J\\xff.c a\\x1b[2J\\xff.c f\\xc2\\x9bg "
                        "a\\x1b[2J\\xff.c:3 m\n");
    /* No '/' : the base name is the file. */
    struct nblog__loc flat = LOC("x.c", 1, "g");
    compile_ok(NBLOG_FORMAT_PATTERN, "%s %@ %v", 0, 0, 0);
    assert_string_equal(render_at(&flat, NBLOG_LEVEL_INFO, "m"), "x.c x.c:1 m\n");
    /* Without a location item, the console never looks sites up. */
    compile_ok(NBLOG_FORMAT_PATTERN, "%l %v", 0, 0, 0);
    assert_false(fmt.wants_loc);
    assert_string_equal(render_at(&l, NBLOG_LEVEL_INFO, "m"), "info m\n");
    /* "%~" is the human format's own item, not a pattern's. */
    char err[256];
    assert_int_equal(compile(NBLOG_FORMAT_PATTERN, "%~ %v", 0, 0, 0, err, sizeof err),
                     NBLOG_EINVAL);
    assert_non_null(strstr(err, "unknown item %~"));
}

/* show=location: "[base:line func] " after the level, left out for a
 * record without a call site. */
static void test_human_location(void **state)
{
    (void)state;
    char want[256];
    struct nblog__loc l = LOC("/abs/src/main.c", 42, "main");
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0, NBLOG_SHOW_LOCATION);
    assert_true(fmt.wants_loc);
    assert_string_equal(render_at(&l, NBLOG_LEVEL_WARNING, "x"),
                        "2026-12-02 03:04:39.123456 [warning] [main.c:42 main] x\n");
    assert_string_equal(render_at(NULL, NBLOG_LEVEL_WARNING, "x"),
                        "2026-12-02 03:04:39.123456 [warning] x\n");
    struct nblog__loc nofunc = LOC("a.c", 9, "");
    assert_string_equal(render_at(&nofunc, NBLOG_LEVEL_INFO, "x"),
                        "2026-12-02 03:04:39.123456 [info] [a.c:9] x\n");
    struct nblog__loc bad = LOC("]\n.c", 1, "f ]");
    assert_string_equal(render_at(&bad, NBLOG_LEVEL_INFO, "x"),
                        "2026-12-02 03:04:39.123456 [info] []\\x0a.c:1 f ]] x\n");
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_ALWAYS, 0,
               NBLOG_SHOW_LOCATION | NBLOG_SHOW_PROGRAM | NBLOG_SHOW_PID | NBLOG_SHOW_TID);
    snprintf(want, sizeof want,
             "2026-12-02 03:04:39.123456 \033[1;31m[err]\033[0m [main.c:42 main] %s[%d] tid 7: x\n",
             nblog__program_name(), (int)getpid());
    assert_string_equal(render_at(&l, NBLOG_LEVEL_ERR, "x"), want);
    /* Without show=location, never looked up and never shown. */
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_NEVER, 0, NBLOG_SHOW_TID);
    assert_false(fmt.wants_loc);
    assert_string_equal(render_at(&l, NBLOG_LEVEL_INFO, "x"),
                        "2026-12-02 03:04:39.123456 [info] tid 7: x\n");
    /* Out of range show bits are still refused. */
    char err[256];
    assert_int_equal(compile(NBLOG_FORMAT_HUMAN, NULL, 0, 0, 16u, err, sizeof err),
                     NBLOG_EINVAL);
}

/* json: "file", "line", "func" between "program" and "message", each
 * when the record has it, JSON-escaped; a line too short for them leaves
 * them out and says truncated, still one valid object. */
static void test_json_location(void **state)
{
    (void)state;
    struct jrec *r = malloc(sizeof *r);
    compile_ok(NBLOG_FORMAT_JSON, NULL, 0, 0, 0);
    assert_true(fmt.wants_loc);
    struct nblog__loc l = LOC("src/\"q\"\\main.c", 42, "main");
    const char *s = render_at(&l, NBLOG_LEVEL_INFO, "hi");
    char want[512];
    snprintf(want, sizeof want,
             "{\"time\":\"2026-12-02T03:04:39.123456Z\",\"level\":\"info\",\"seq\":42,"
             "\"tid\":7,\"pid\":%d,\"program\":\"%s\",\"file\":\"src/\\\"q\\\"\\\\main.c\","
             "\"line\":42,\"func\":\"main\",\"message\":\"hi\"}\n",
             (int)getpid(), nblog__program_name());
    assert_string_equal(s, want);
    parse_json(s, strlen(s), r);
    assert_string_equal(r->keys, "time,level,seq,tid,pid,program,file,line,func,message,");
    assert_string_equal(r->file, l.file);
    assert_int_equal(r->line, 42);
    assert_string_equal(r->func, "main");
    /* Only what it has. */
    struct nblog__loc part = LOC("", 5, "");
    s = render_at(&part, NBLOG_LEVEL_INFO, "hi");
    parse_json(s, strlen(s), r);
    assert_string_equal(r->keys, "time,level,seq,tid,pid,program,line,message,");
    s = render_at(NULL, NBLOG_LEVEL_INFO, "hi");
    parse_json(s, strlen(s), r);
    assert_string_equal(r->keys, "time,level,seq,tid,pid,program,message,");
    /* Hostile bytes stay valid JSON: controls escaped, not UTF-8 U+FFFD. */
    struct nblog__loc bad = LOC("a\n\xff\xc2\x9b", 1, "\x01");
    s = render_at(&bad, NBLOG_LEVEL_INFO, "hi");
    parse_json(s, strlen(s), r);
    assert_string_equal(r->file, "a\n\xef\xbf\xbd\xc2\x9b");
    assert_string_equal(r->func, "\x01");
    assert_false(r->truncated);
    /* The longest location: a small buffer leaves it out, truncated. */
    struct nblog__loc big;
    memset(&big, 0, sizeof big);
    memset(big.file, 0xff, sizeof big.file - 1);
    memset(big.func, 0x01, sizeof big.func - 1);
    big.line = 4294967295u;
    struct nblog__rec_meta m = meta(T_2026_12_02, 0, NBLOG_LEVEL_INFO);
    m.loc = &big;
    size_t n = nblog__render_fmt(line, 512, &fmt, &m, "hi", 2);
    line[n] = '\0';
    parse_json(line, n, r);
    assert_true(r->truncated);
    assert_false(r->has_file || r->has_line || r->has_func);
    assert_int_equal(r->message_len, 2);
    /* A console's room for the longest text holds it all, untruncated. */
    static char text[NBLOG__RECORD_SIZE_MAX];
    memset(text, 0xff, sizeof text - 1);
    size_t room = nblog__line_room(&fmt, sizeof text - 1);
    n = nblog__render_fmt(line, room, &fmt, &m, text, sizeof text - 1);
    parse_json(line, n, r);
    assert_false(r->truncated);
    assert_true(r->has_file && r->has_line && r->has_func);
    assert_int_equal(r->n_bytes, sizeof text - 1);
    free(r);
}

/* The line room a console reserves holds location items at their
 * longest (every byte escaped) and the message whole. */
static void test_location_room(void **state)
{
    (void)state;
    struct nblog__loc big;
    memset(&big, 0, sizeof big);
    memset(big.file, 0xff, sizeof big.file - 1);
    memset(big.func, 0x01, sizeof big.func - 1);
    big.line = 4294967295u;
    const size_t efile = 4 * (sizeof big.file - 1); /* every byte \xNN */
    static const char text[] = "the message, whole";
    struct nblog__rec_meta m = meta(T_2026_12_02, 0, NBLOG_LEVEL_INFO);
    m.loc = &big;
    char pat[128] = "";
    for (int i = 0; i < 30; i++)
        strcat(pat, "%g");
    strcat(pat, "%@%!%v");
    compile_ok(NBLOG_FORMAT_PATTERN, pat, 0, 0, 0);
    size_t n = nblog__render_fmt(line, nblog__line_room(&fmt, sizeof text - 1), &fmt, &m, text,
                                 sizeof text - 1);
    assert_int_equal(n, 31 * efile + sizeof ":4294967295" - 1 + 4 * (sizeof big.func - 1) +
                            sizeof text - 1 + 1);
    assert_memory_equal(line + n - sizeof text, text, sizeof text - 1);
    compile_ok(NBLOG_FORMAT_HUMAN, NULL, NBLOG_COLOR_ALWAYS, 0,
               NBLOG_SHOW_LOCATION | NBLOG_SHOW_PROGRAM | NBLOG_SHOW_PID | NBLOG_SHOW_TID);
    n = nblog__render_fmt(line, nblog__line_room(&fmt, sizeof text - 1), &fmt, &m, text,
                          sizeof text - 1);
    assert_memory_equal(line + n - sizeof text, text, sizeof text - 1);
    /* A location item that does not fit whole ends the line there. */
    compile_ok(NBLOG_FORMAT_PATTERN, "%l %g%g %v", 0, 0, 0);
    n = nblog__render_fmt(line, 512, &fmt, &m, text, sizeof text - 1);
    assert_int_equal(n, 5 + efile + 1);
    assert_memory_equal(line, "info \\xff", 9);
    assert_int_equal(line[n - 1], '\n');
}

/* wants_loc, exactly: the formats that show a call site, and no other. */
static void test_wants_loc(void **state)
{
    (void)state;
    static const struct {
        int format;
        const char *pattern;
        unsigned show;
        int sd, want;
    } cases[] = {
        {NBLOG_FORMAT_PLAIN, NULL, 0, 1, 0},
        {NBLOG_FORMAT_KMSG, NULL, 0, 1, 0},
        {NBLOG_FORMAT_RFC3164, NULL, 0, 1, 0},
        {NBLOG_FORMAT_RFC5424, NULL, 0, 1, 1},
        {NBLOG_FORMAT_RFC5424, NULL, 0, 0, 0},
        {NBLOG_FORMAT_JOURNAL, NULL, 0, 1, 1},
        {NBLOG_FORMAT_JSON, NULL, 0, 1, 1},
        {NBLOG_FORMAT_HUMAN, NULL, 0, 1, 0},
        {NBLOG_FORMAT_HUMAN, NULL, NBLOG_SHOW_PROGRAM | NBLOG_SHOW_PID | NBLOG_SHOW_TID, 1, 0},
        {NBLOG_FORMAT_HUMAN, NULL, NBLOG_SHOW_LOCATION, 1, 1},
        {NBLOG_FORMAT_PATTERN, "%Y %l %n %P %t %q %v", 0, 1, 0},
        {NBLOG_FORMAT_PATTERN, "%v %s", 0, 1, 1},
        {NBLOG_FORMAT_PATTERN, "%v %g", 0, 1, 1},
        {NBLOG_FORMAT_PATTERN, "%v %#", 0, 1, 1},
        {NBLOG_FORMAT_PATTERN, "%v %!", 0, 1, 1},
        {NBLOG_FORMAT_PATTERN, "%v %@", 0, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nblog_console_opts_t o;
        nblog_console_opts_init(&o);
        o.format = cases[i].format;
        o.pattern = cases[i].pattern;
        o.show = cases[i].show;
        struct nblog__line_id id = nblog__line_id_defaults;
        id.sd = cases[i].sd;
        char err[256];
        assert_int_equal(nblog__line_fmt_init(&fmt, &o, &id, err, sizeof err), NBLOG_OK);
        if (fmt.wants_loc != cases[i].want)
            fail_msg("case %zu (format %d, pattern %s, show %u, sd %d): wants_loc %d", i,
                     cases[i].format, cases[i].pattern ? cases[i].pattern : "-",
                     cases[i].show, cases[i].sd, fmt.wants_loc);
    }
    /* No identity: the defaults' structured data, which is on. */
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.format = NBLOG_FORMAT_RFC5424;
    char err[256];
    assert_int_equal(nblog__line_fmt_init(&fmt, &o, NULL, err, sizeof err), NBLOG_OK);
    assert_true(fmt.wants_loc);
}

/* ---------------------------------------------------------- consoles */

/* Reads what fd holds now (non-blocking) into buf. */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    return n;
}

static void test_colour_auto_on_pty(void **state)
{
    (void)state;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    int pty = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(pty >= 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    setenv("TERM", "xterm", 1);
    unsetenv("NO_COLOR");
    assert_int_equal(nblog__color_auto(pty), NBLOG_COLOR_ALWAYS);
    assert_int_equal(nblog__color_auto(p[1]), NBLOG_COLOR_NEVER);
    setenv("NO_COLOR", "", 1); /* empty: as if unset (no-color.org) */
    assert_int_equal(nblog__color_auto(pty), NBLOG_COLOR_ALWAYS);
    setenv("NO_COLOR", "1", 1);
    assert_int_equal(nblog__color_auto(pty), NBLOG_COLOR_NEVER);
    unsetenv("NO_COLOR");
    setenv("TERM", "dumb", 1);
    assert_int_equal(nblog__color_auto(pty), NBLOG_COLOR_NEVER);
    setenv("TERM", "xterm", 1);

    /* End to end: a human console on the pty, colour "auto". */
    fcntl(master, F_SETFL, O_NONBLOCK);
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.format = NBLOG_FORMAT_HUMAN;
    o.name = "pty";
    nblog_console_t *con;
    assert_int_equal(nblog_console_fd(pty, &o, &con), NBLOG_OK);
    nblog_printf(NBLOG_LEVEL_ERR, "on a terminal");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    static char out[4096];
    drain(master, out, sizeof out);
    assert_non_null(strstr(out, "\033[1;31m[err]\033[0m on a terminal"));
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    setenv("NO_COLOR", "1", 1);
    assert_int_equal(nblog_console_fd(pty, &o, &con), NBLOG_OK);
    nblog_printf(NBLOG_LEVEL_ERR, "no colour");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    drain(master, out, sizeof out);
    assert_non_null(strstr(out, " [err] no colour"));
    assert_null(strchr(out, '\033'));
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    unsetenv("NO_COLOR");
    close(pty);
    close(master);
    close(p[0]);
    close(p[1]);
}

/* A console made from spec on a pipe: what it printed for one record. */
static const char *spec_line(const char *opts, const char *text)
{
    static char out[8192];
    char spec[512];
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    snprintf(spec, sizeof spec, "fd:%d,name=spec%s", p[1], opts);
    nblog_console_t *con;
    int rc = nblog_console_from_spec(spec, &con);
    if (rc != NBLOG_OK)
        fail_msg("%s: %s", spec, nblog_spec_error());
    nblog_printf(NBLOG_LEVEL_NOTICE, "%s", text);
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    drain(p[0], out, sizeof out);
    close(p[0]);
    close(p[1]);
    return out;
}

static void test_spec_formats(void **state)
{
    (void)state;
    char want[256];
    const char *l = spec_line(",format=pattern:%l, %v; %L", "hi");
    assert_string_equal(l, "notice, hi; NOTICE\n");
    l = spec_line(",format=human,show=pid+tid,color=always", "hi");
    snprintf(want, sizeof want, "\033[1m[notice]\033[0m [%d] tid ", (int)getpid());
    assert_non_null(strstr(l, want));
    l = spec_line(",format=human,color=never,time=utc", "hi");
    assert_int_equal(strlen(l), strlen("2026-12-02 03:04:39.123456 [notice] hi\n"));
    assert_non_null(strstr(l, " [notice] hi\n"));
    l = spec_line(",format=json", "hi");
    struct jrec *r = malloc(sizeof *r);
    parse_json(l, strlen(l), r);
    assert_string_equal(r->level, "notice");
    assert_int_equal(r->pid, getpid());
    assert_string_equal(r->program, nblog__program_name());
    assert_int_equal(r->message_len, 2);
    free(r);
    setenv("TZ", "XYZ-5:30", 1); /* before registering: the offset is taken then */
    l = spec_line(",time=local,format=pattern:%z %v", "hi");
    assert_string_equal(l, "+05:30 hi\n");
    l = spec_line(",time=utc,format=pattern:%z %v", "hi");
    assert_string_equal(l, "+00:00 hi\n");
    unsetenv("TZ");
    l = spec_line(",format=kmsg", "hi");
    assert_non_null(strstr(l, ";hi\n"));
    l = spec_line(",format=plain", "hi");
    assert_string_equal(l, "hi\n");

    static const struct {
        const char *spec, *why;
    } bad[] = {
        {"stderr,format=xml", "format=xml: expected plain, kmsg, human, json or pattern"},
        {"stderr,format=pattern:%v %Q", "unknown item %Q"},
        {"stderr,format=pattern:", "empty pattern"},
        {"stderr,color=blue", "color=blue: expected auto, always or never"},
        {"stderr,time=mars", "time=mars: expected utc or local"},
        {"stderr,show=pid+uid", "show=pid+uid: expected program, pid, tid and location"},
        {"stderr,show=locations", "expected program, pid, tid and location"},
        {"stderr,show=", "show=: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nblog_console_t *con = NULL;
        assert_int_equal(nblog_console_from_spec(bad[i].spec, &con), NBLOG_EINVAL);
        if (!strstr(nblog_spec_error(), bad[i].why))
            fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].spec, nblog_spec_error(),
                     bad[i].why);
    }
}

/* End to end: consoles made from specs show the call sites of the
 * logging macros (NBLOG_INFO, deferred; nblog_info, formatted), looked up
 * in the ring by the printer; a plain console's line is as it was. */
static void test_spec_location(void **state)
{
    (void)state;
    char dir[64], spec[512], path[4][256];
    assert_non_null(tu_temp_dir(dir, sizeof dir, "formats-loc"));
    static const char *const opts[4] = {"format=json", "format=human,show=location,color=never",
                                        "format=pattern:%s:%# %! %g|%@|%v", "format=plain"};
    nblog_console_t *con[4];
    for (int i = 0; i < 4; i++) {
        snprintf(path[i], sizeof path[i], "%s/%d.log", dir, i);
        snprintf(spec, sizeof spec, "file:%s,name=loc%d,%s", path[i], i, opts[i]);
        if (nblog_console_from_spec(spec, &con[i]) != NBLOG_OK)
            fail_msg("%s: %s", spec, nblog_spec_error());
    }
    const unsigned line1 = __LINE__ + 1;
    NBLOG_INFO("deferred %d", 1);
    const unsigned line2 = __LINE__ + 1;
    nblog_info("formatted %s", "two");
    nblog_write(NBLOG_LEVEL_INFO, "written", 7); /* no call site */
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(nblog_console_unregister(con[i]), NBLOG_OK);
    const char *base = strrchr(__FILE__, '/') ? strrchr(__FILE__, '/') + 1 : __FILE__;
    static char out[8192];
    char want[1024];

    /* json */
    assert_true(tu_read_file(path[0], out, sizeof out) > 0);
    struct jrec *r = malloc(sizeof *r);
    static const char *const msgs[3] = {"deferred 1", "formatted two", "written"};
    const unsigned lines[2] = {line1, line2};
    char *l = out;
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(l, '\n');
        assert_non_null(nl);
        parse_json(l, (size_t)(nl - l + 1), r);
        l = nl + 1;
        assert_int_equal(r->message_len, strlen(msgs[i]));
        assert_memory_equal(r->message, msgs[i], r->message_len);
        if (i == 2) { /* nblog_write: no call site */
            assert_false(r->has_file || r->has_line || r->has_func);
            break;
        }
        assert_string_equal(r->file, __FILE__);
        assert_int_equal(r->line, lines[i]);
        assert_string_equal(r->func, __func__);
    }
    free(r);

    /* human, show=location */
    assert_true(tu_read_file(path[1], out, sizeof out) > 0);
    snprintf(want, sizeof want, " [info] [%s:%u %s] deferred 1\n", base, line1, __func__);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, " [info] [%s:%u %s] formatted two\n", base, line2, __func__);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, " [info] written\n"));

    /* pattern */
    assert_true(tu_read_file(path[2], out, sizeof out) > 0);
    snprintf(want, sizeof want,
             "%s:%u %s %s|%s:%u|deferred 1\n%s:%u %s %s|%s:%u|formatted two\n:  ||written\n", base,
             line1, __func__, __FILE__, base, line1, base, line2, __func__, __FILE__, base, line2);
    assert_string_equal(out, want);

    /* plain: as it was */
    assert_true(tu_read_file(path[3], out, sizeof out) > 0);
    assert_string_equal(out, "deferred 1\nformatted two\nwritten\n");
    assert_int_equal(tu_remove_dir(dir), 0);
}

/* Without format=, a "stderr" spec prints as the default console does
 * (human), an "fd" spec plain. */
static void test_spec_default_formats(void **state)
{
    (void)state;
    assert_string_equal(spec_line("", "hi"), "hi\n");
    static char out[8192];
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    nblog_console_t *con;
    int rc = nblog_console_from_spec("stderr,name=err-default", &con);
    if (rc == NBLOG_OK) {
        nblog_printf(NBLOG_LEVEL_NOTICE, "%s", "hi");
        nblog_flush(10000, NULL, 0);
        nblog_console_unregister(con);
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(rc, NBLOG_OK);
    drain(p[0], out, sizeof out);
    close(p[0]);
    close(p[1]);
    assert_int_equal(strlen(out), strlen("2026-12-02 03:04:39.123456 [notice] hi\n"));
    assert_non_null(strstr(out, " [notice] hi\n"));
}

static void test_pipe_format(void **state)
{
    (void)state;
    char dir[64], cmd[1024], path[256];
    assert_non_null(tu_temp_dir(dir, sizeof dir, "formats"));
    snprintf(cmd, sizeof cmd,
             "printf 'one\\n<4>two\\n' | %s pipe --format json --console file:%s/a.log "
             "--console 'file:%s/b.log,format=pattern:%%L %%v' 2>%s/err",
             NBLOG_TOOL, dir, dir, dir);
    int rc = system(cmd);
    snprintf(path, sizeof path, "%s/err", dir);
    static char out[8192];
    assert_true(tu_read_file(path, out, sizeof out) >= 0);
    if (rc != 0)
        fail_msg("%s: status %d: %s", cmd, rc, out);
    snprintf(path, sizeof path, "%s/a.log", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    struct jrec *r = malloc(sizeof *r);
    char l[4096];
    assert_non_null(fgets(l, sizeof l, f));
    parse_json(l, strlen(l), r);
    assert_string_equal(r->level, "info");
    assert_memory_equal(r->message, "one", 3);
    assert_string_equal(r->program, "nblog");
    assert_non_null(fgets(l, sizeof l, f));
    parse_json(l, strlen(l), r);
    assert_string_equal(r->level, "warning");
    fclose(f);
    free(r);
    snprintf(path, sizeof path, "%s/b.log", dir);
    assert_true(tu_read_file(path, out, sizeof out) >= 0);
    assert_string_equal(out, "INFO one\nWARNING two\n"); /* its own format= wins */
    /* A bad --format is the spec's error. */
    snprintf(cmd, sizeof cmd, "echo x | %s pipe --format xml --console stderr 2>%s/err",
             NBLOG_TOOL, dir);
    rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    assert_int_equal(tu_remove_dir(dir), 0);
}

static void test_pid_after_fork(void **state)
{
    (void)state;
    compile_ok(NBLOG_FORMAT_PATTERN, "%P %v", 0, 0, 0);
    assert_int_equal(nblog__pid(), getpid());
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char want[32];
        snprintf(want, sizeof want, "%d m\n", (int)getpid());
        _exit(nblog__pid() == getpid() && strcmp(render(NBLOG_LEVEL_INFO, "m"), want) == 0
                  ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.crash_handlers = 0;
    if (nblog_init(&opt) != NBLOG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_default),
        cmocka_unit_test(test_human_fields),
        cmocka_unit_test(test_render_line_formats),
        cmocka_unit_test(test_human_color),
        cmocka_unit_test(test_pattern_items),
        cmocka_unit_test(test_pattern_refused),
        cmocka_unit_test(test_local_time),
        cmocka_unit_test(test_local_time_overtaken),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_hostile_bytes),
        cmocka_unit_test(test_long_messages),
        cmocka_unit_test(test_sentinel_times),
        cmocka_unit_test(test_pattern_location),
        cmocka_unit_test(test_human_location),
        cmocka_unit_test(test_json_location),
        cmocka_unit_test(test_location_room),
        cmocka_unit_test(test_wants_loc),
        cmocka_unit_test(test_colour_auto_on_pty),
        cmocka_unit_test(test_spec_formats),
        cmocka_unit_test(test_spec_default_formats),
        cmocka_unit_test(test_spec_location),
        cmocka_unit_test(test_pipe_format),
        cmocka_unit_test(test_pid_after_fork),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nblog_shutdown();
    return rc;
}

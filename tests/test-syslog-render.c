/*
 * test-syslog-render.c - the syslog and journal line formats, byte for
 * byte: PRI, the hand-made calendar (leap days, centuries), structured
 * data on and off and its escaping, RFC 3164, journal entries, and the
 * escaping of what a terminal acts on (C1 controls, U+2028/U+2029). The
 * renderer takes a record's wall time from its meta (wall_ns), as a
 * reader of the ring fills it.
 */
#include "testutil.h"

#include <string.h>

#include "console.h"
#include "nblog.h"

static struct nblog__line_id params(void)
{
    struct nblog__line_id p;
    memset(&p, 0, sizeof p);
    strcpy(p.hostname, "host");
    strcpy(p.app, "app");
    strcpy(p.procid, "123");
    strcpy(p.msgid, "-");
    p.facility = -1;
    p.sd = 1;
    p.hostname_3164 = 1;
    return p;
}

static uint8_t render_flags; /* flags of the record render() makes */
static const struct nblog__loc *render_loc; /* and its call site */

static const char *render(int format, const struct nblog__line_id *p,
                          uint64_t unix_s, uint32_t usec, const char *text)
{
    static char line[8192];
    uint64_t ns = unix_s * 1000000000ull + usec * 1000ull;
    struct nblog__rec_meta m = {.seq = 42, .ts_ns = ns, .wall_ns = (int64_t)ns,
                                .tid = 7, .level = NBLOG_LEVEL_INFO, .facility = 1,
                                .flags = render_flags, .loc = render_loc};
    size_t n = nblog__render_line(line, sizeof line, format, p, &m, text, strlen(text));
    line[n] = '\0';
    return line;
}

static void test_rfc5424_line(void **state)
{
    (void)state;
    struct nblog__line_id p = params();
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 0, 0, "hi"),
                        "<14>1 1970-01-01T00:00:00.000000Z host app 123 - "
                        "[nblog@32473 seq=\"42\" tid=\"7\"] hi\n");
    p.facility = 16; /* local0 */
    p.sd = 0;
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 951782400, 5, "a\nb\\"),
                        "<134>1 2000-02-29T00:00:00.000005Z host app 123 - - "
                        "a\\x0ab\\x5c\n");
}

/* A time that cannot be told: RFC 5424's NILVALUE; RFC 3164 has none,
 * so no TIMESTAMP (nor HOSTNAME): the receiver takes its own time. */
static void test_sentinel_time(void **state)
{
    (void)state;
    struct nblog__line_id p = params();
    static char out[512];
    const int64_t sentinels[] = {INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 2; i++) {
        struct nblog__rec_meta m = {.seq = 42, .wall_ns = sentinels[i], .tid = 7,
                                    .level = NBLOG_LEVEL_INFO, .facility = 1};
        size_t n = nblog__render_line(out, sizeof out, NBLOG_FORMAT_RFC5424, &p, &m, "hi", 2);
        out[n] = '\0';
        assert_string_equal(out, "<14>1 - host app 123 - [nblog@32473 seq=\"42\" tid=\"7\"] hi\n");
        n = nblog__render_line(out, sizeof out, NBLOG_FORMAT_RFC3164, &p, &m, "hi", 2);
        out[n] = '\0';
        assert_string_equal(out, "<14>app[123]: hi\n");
        p.hostname_3164 = 0;
        n = nblog__render_line(out, sizeof out, NBLOG_FORMAT_RFC3164, &p, &m, "hi", 2);
        out[n] = '\0';
        assert_string_equal(out, "<14>app[123]: hi\n");
        p.hostname_3164 = 1;
    }
}

static void test_calendar(void **state)
{
    (void)state;
    struct nblog__line_id p = params();
    p.sd = 0;
    static const struct {
        uint64_t s;
        const char *iso;
    } cases[] = {
        {951868799, "2000-02-29T23:59:59"}, {951868800, "2000-03-01T00:00:00"},
        {1709164800, "2024-02-29T00:00:00"}, {1735689599, "2024-12-31T23:59:59"},
        {4107542400ull, "2100-03-01T00:00:00"}, {4102444800ull, "2100-01-01T00:00:00"},
        {7263216000ull, "2200-03-01T00:00:00"}, /* signed 64-bit ns end in 2262 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *l = render(NBLOG_FORMAT_RFC5424, &p, cases[i].s, 999999, "x");
        assert_memory_equal(l + 6, cases[i].iso, 19);
        assert_memory_equal(l + 25, ".999999Z ", 9);
    }
}

static void test_sd_escape(void **state)
{
    (void)state;
    char out[64];
    size_t n = nblog__sd_escape(out, sizeof out, "a\"b\\c]d\ne", 9);
    assert_int_equal(n, 15);
    assert_memory_equal(out, "a\\\"b\\\\c\\]d\\x0ae", 15);
    /* Never splits an escape: 3 bytes of room for "\"x" gives just "a". */
    assert_int_equal(nblog__sd_escape(out, 2, "a\"", 2), 1);
}

static void test_rfc3164_and_journal(void **state)
{
    (void)state;
    struct nblog__line_id p = params();
    p.utc_offset_s = 3600;
    assert_string_equal(render(NBLOG_FORMAT_RFC3164, &p, 1709164800, 0, "x]\"y"),
                        "<14>Feb 29 01:00:00 host app[123]: x]\"y\n");
    p.hostname_3164 = 0;
    assert_string_equal(render(NBLOG_FORMAT_RFC3164, &p, 1709164800 + 86400 * 10, 0, "z"),
                        "<14>Mar 10 01:00:00 app[123]: z\n");
    /* The record's own time (local by the offset for SYSLOG_TIMESTAMP). */
    assert_string_equal(render(NBLOG_FORMAT_JOURNAL, &p, 0, 0, "m\nFORGED=1"),
                        "PRIORITY=6\nSYSLOG_FACILITY=1\nSYSLOG_IDENTIFIER=app\n"
                        "SYSLOG_TIMESTAMP=Jan  1 01:00:00\nNBLOG_REALTIME_USEC=0\n"
                        "NBLOG_SEQ=42\nTID=7\nMESSAGE=m\\x0aFORGED=1\n\n");
    /* For journald itself: the exact bytes, in the binary field form
     * when they hold a control; as they are otherwise. */
    p.journal_native = 1;
    static const char native[] = "PRIORITY=6\nSYSLOG_FACILITY=1\nSYSLOG_IDENTIFIER=app\n"
                                 "SYSLOG_TIMESTAMP=Feb 29 01:00:00\n"
                                 "NBLOG_REALTIME_USEC=1709164800000001\n"
                                 "NBLOG_SEQ=42\nTID=7\nMESSAGE\n\x0a\0\0\0\0\0\0\0"
                                 "m\nFORGED=1\n\n";
    struct nblog__rec_meta m = {.seq = 42, .wall_ns = 1709164800000001000, .tid = 7,
                                .level = NBLOG_LEVEL_INFO, .facility = 1};
    char line[512];
    size_t n = nblog__render_line(line, sizeof line, NBLOG_FORMAT_JOURNAL, &p, &m,
                                  "m\nFORGED=1", 10);
    assert_int_equal(n, sizeof native - 1);
    assert_memory_equal(line, native, n);
    assert_string_equal(render(NBLOG_FORMAT_JOURNAL, &p, 0, 0, "a\\b \xc2\x9b"),
                        "PRIORITY=6\nSYSLOG_FACILITY=1\nSYSLOG_IDENTIFIER=app\n"
                        "SYSLOG_TIMESTAMP=Jan  1 01:00:00\nNBLOG_REALTIME_USEC=0\n"
                        "NBLOG_SEQ=42\nTID=7\nMESSAGE=a\\b \xc2\x9b\n\n");
    p.journal_native = 0;
    /* Without parameters: the defaults, fields "-". */
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, NULL, 0, 0, "d"),
                        "<14>1 1970-01-01T00:00:00.000000Z - - - - "
                        "[nblog@32473 seq=\"42\" tid=\"7\"] d\n");
}

/* A line the panic flush printed again says so where a message cannot
 * forge it: structured data (RFC 5424), a field (journal), the kmsg
 * prefix; plain and RFC 3164 lines, which have no such place, start the
 * message with "[replayed] ". */
static void test_replayed_mark(void **state)
{
    (void)state;
    struct nblog__line_id p = params();
    render_flags = NBLOG_F_REPLAYED;
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 0, 0, "hi"),
                        "<14>1 1970-01-01T00:00:00.000000Z host app 123 - "
                        "[nblog@32473 seq=\"42\" tid=\"7\" replayed=\"1\"] hi\n");
    assert_string_equal(render(NBLOG_FORMAT_JOURNAL, &p, 0, 0, "j"),
                        "PRIORITY=6\nSYSLOG_FACILITY=1\nSYSLOG_IDENTIFIER=app\n"
                        "SYSLOG_TIMESTAMP=Jan  1 00:00:00\nNBLOG_REALTIME_USEC=0\n"
                        "NBLOG_SEQ=42\nTID=7\nNBLOG_REPLAYED=1\nMESSAGE=j\n\n");
    assert_string_equal(render(NBLOG_FORMAT_KMSG, &p, 0, 0, "k"), "14,42,0,-,replayed;k\n");
    assert_string_equal(render(NBLOG_FORMAT_PLAIN, &p, 0, 0, "t"), "[replayed] t\n");
    p.sd = 0;
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 0, 0, "s"),
                        "<14>1 1970-01-01T00:00:00.000000Z host app 123 - - [replayed] s\n");
    render_flags = 0;
}

/* Issue 12 item 7: what a terminal or a line reader acts on is escaped in
 * every line format, each byte as \xNN: C0 controls and DEL as before,
 * and now the UTF-8 of the C1 controls (U+009B CSI, U+0085 NEL), of the
 * line and paragraph separators (U+2028, U+2029), and bytes that are not
 * UTF-8 (a lone 0x9b is CSI to an 8-bit terminal). Other characters stay
 * as they are; a line too short for the text ends between characters. */
static void test_terminal_controls(void **state)
{
    (void)state;
    static const char text[] = "a\xc2\x9b" "2Jb\xc2\x85[    1.000000] emerg x"
                               "\xe2\x80\xa8" "c\xe2\x80\xa9" "d \xc3\xa9 \x9b \xff"
                               " \xe2\x82\xac \xc2\xa0 \xed\xa0\x80.";
    static const char escaped[] = "a\\xc2\\x9b2Jb\\xc2\\x85[    1.000000] emerg x"
                                  "\\xe2\\x80\\xa8" "c\\xe2\\x80\\xa9" "d \xc3\xa9 "
                                  "\\x9b \\xff \xe2\x82\xac \xc2\xa0 \\xed\\xa0\\x80.\n";
    struct nblog__line_id p = params();
    p.sd = 0;
    assert_string_equal(render(NBLOG_FORMAT_PLAIN, &p, 0, 0, text), escaped);
    const char *k = render(NBLOG_FORMAT_KMSG, &p, 0, 0, text);
    assert_string_equal(strchr(k, ';') + 1, escaped);
    const char *s = render(NBLOG_FORMAT_RFC5424, &p, 0, 0, text);
    assert_string_equal(s + strlen(s) - strlen(escaped), escaped);
    const char *j = render(NBLOG_FORMAT_JOURNAL, &p, 0, 0, text);
    assert_non_null(strstr(j, "\nMESSAGE=a\\xc2\\x9b2Jb"));
    assert_null(strstr(j, "\xc2\x9b"));
    char sd[64];
    size_t n = nblog__sd_escape(sd, sizeof sd, "v\xc2\x9b]\xe2\x80\xa8\xc3\xa9", 9);
    assert_int_equal(n, 1 + 8 + 2 + 12 + 2);
    assert_memory_equal(sd, "v\\xc2\\x9b\\]\\xe2\\x80\\xa8\xc3\xa9", n);
    /* Short lines end at a character's boundary, never inside one. */
    struct nblog__rec_meta m = {.seq = 1};
    char line[8];
    assert_int_equal(nblog__render_line(line, 4, NBLOG_FORMAT_PLAIN, &p, &m, "ab\xc3\xa9", 4),
                     3);
    assert_memory_equal(line, "ab\n", 3);
    assert_int_equal(nblog__render_line(line, 6, NBLOG_FORMAT_PLAIN, &p, &m, "a\xc2\x85", 3),
                     2);
    assert_memory_equal(line, "a\n", 2);
}

/* A call site as a reader hands it to renderers. */
#define LOC(f, l, fn) ((struct nblog__loc){.line = (l), .file = f, .func = fn})

/* A record's call site: RFC 5424 SD-PARAMs file, line, func after seq and
 * tid (and the flags' params), before the console's own, escaped as
 * SD-PARAM values are (RFC 5424 6.3.3); none with structured data off.
 * Each only when the record has it. */
static void test_rfc5424_location(void **state)
{
    (void)state;
    struct nblog__line_id p = params();
    struct nblog__loc l = LOC("src/main.c", 42, "main");
    render_loc = &l;
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 0, 0, "hi"),
                        "<14>1 1970-01-01T00:00:00.000000Z host app 123 - "
                        "[nblog@32473 seq=\"42\" tid=\"7\" file=\"src/main.c\" line=\"42\" "
                        "func=\"main\"] hi\n");
    strcpy(p.sd_extra, " env=\"prod\"");
    render_flags = NBLOG_F_REPLAYED | NBLOG_F_TRUNCATED;
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 0, 0, "hi"),
                        "<14>1 1970-01-01T00:00:00.000000Z host app 123 - "
                        "[nblog@32473 seq=\"42\" tid=\"7\" truncated=\"1\" replayed=\"1\" "
                        "file=\"src/main.c\" line=\"42\" func=\"main\" env=\"prod\"] hi\n");
    render_flags = 0;
    p.sd_extra[0] = '\0';
    /* '"', '\\' and ']' escaped with a backslash, controls as \xNN: the
     * element cannot be closed nor a param forged from a file name. */
    struct nblog__loc bad = LOC("a\"] x=\"1\\\n.c", 3, "f]");
    render_loc = &bad;
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 0, 0, "hi"),
                        "<14>1 1970-01-01T00:00:00.000000Z host app 123 - "
                        "[nblog@32473 seq=\"42\" tid=\"7\" file=\"a\\\"\\] x=\\\"1\\\\\\x0a.c\" "
                        "line=\"3\" func=\"f\\]\"] hi\n");
    struct nblog__loc part = LOC("", 9, "");
    render_loc = &part;
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 0, 0, "hi"),
                        "<14>1 1970-01-01T00:00:00.000000Z host app 123 - "
                        "[nblog@32473 seq=\"42\" tid=\"7\" line=\"9\"] hi\n");
    render_loc = &l;
    p.sd = 0;
    assert_string_equal(render(NBLOG_FORMAT_RFC5424, &p, 0, 0, "hi"),
                        "<14>1 1970-01-01T00:00:00.000000Z host app 123 - - hi\n");
    /* RFC 3164, plain and kmsg have no place for it. */
    assert_string_equal(render(NBLOG_FORMAT_RFC3164, &p, 0, 0, "hi"),
                        "<14>Jan  1 00:00:00 host app[123]: hi\n");
    assert_string_equal(render(NBLOG_FORMAT_PLAIN, &p, 0, 0, "hi"), "hi\n");
    assert_string_equal(render(NBLOG_FORMAT_KMSG, &p, 0, 0, "hi"), "14,42,0,-;hi\n");
    render_loc = NULL;
}

/* Journal entries: CODE_FILE, CODE_LINE, CODE_FUNC before MESSAGE, each
 * when the record has it; for journald (native) the bytes as they are,
 * for readers escaped as MESSAGE is; a control never reaches an entry
 * as it is, so no file name can end a field or add one. */
static void test_journal_location(void **state)
{
    (void)state;
    struct nblog__line_id p = params();
    struct nblog__loc l = LOC("src/a\\b.c", 42, "main");
    render_loc = &l;
    static const char head[] = "PRIORITY=6\nSYSLOG_FACILITY=1\nSYSLOG_IDENTIFIER=app\n"
                               "SYSLOG_TIMESTAMP=Jan  1 00:00:00\nNBLOG_REALTIME_USEC=0\n"
                               "NBLOG_SEQ=42\nTID=7\n";
    char want[512];
    snprintf(want, sizeof want, "%sCODE_FILE=src/a\\x5cb.c\nCODE_LINE=42\nCODE_FUNC=main\n"
                                "MESSAGE=m\n\n", head);
    assert_string_equal(render(NBLOG_FORMAT_JOURNAL, &p, 0, 0, "m"), want);
    p.journal_native = 1;
    snprintf(want, sizeof want, "%sCODE_FILE=src/a\\b.c\nCODE_LINE=42\nCODE_FUNC=main\n"
                                "MESSAGE=m\n\n", head);
    assert_string_equal(render(NBLOG_FORMAT_JOURNAL, &p, 0, 0, "m"), want);
    struct nblog__loc bad = LOC("x\nMESSAGE=forged", 0, "f\x7f");
    render_loc = &bad;
    snprintf(want, sizeof want, "%sCODE_FILE=x\\x0aMESSAGE=forged\nCODE_FUNC=f\\x7f\n"
                                "MESSAGE=m\n\n", head);
    assert_string_equal(render(NBLOG_FORMAT_JOURNAL, &p, 0, 0, "m"), want);
    p.journal_native = 0;
    render_loc = NULL;
    snprintf(want, sizeof want, "%sMESSAGE=m\n\n", head);
    assert_string_equal(render(NBLOG_FORMAT_JOURNAL, &p, 0, 0, "m"), want);
}

/* A caller's record of seq 5 at INFO with text, from line 12 (file and
 * function left empty). */
static void loc_record(nblog_record_t *rec, const char *text)
{
    memset(rec, 0, sizeof *rec);
    rec->seq = 5;
    rec->level = NBLOG_LEVEL_INFO;
    rec->text = text;
    rec->len = (uint32_t)strlen(text);
    rec->line = 12;
}

/* The public renderers take the location from the record
 * (nblog_record_t file, line, func): json, journal and RFC 5424 show it,
 * bounded and escaped whatever a caller's record holds. */
static void test_render_line_location(void **state)
{
    (void)state;
    nblog_record_t rec;
    loc_record(&rec, "t");
    rec.facility = 1;
    strcpy(rec.file, "dir/f.c");
    strcpy(rec.func, "fn");
    static char line[NBLOG_LINE_MAX];
    size_t n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_JSON, &rec);
    line[n] = '\0';
    assert_non_null(strstr(line, ",\"file\":\"dir/f.c\",\"line\":12,\"func\":\"fn\","
                                 "\"message\":\"t\"}\n"));
    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_JOURNAL, &rec);
    line[n] = '\0';
    assert_non_null(strstr(line, "\nCODE_FILE=dir/f.c\nCODE_LINE=12\nCODE_FUNC=fn\nMESSAGE=t\n\n"));
    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_RFC5424, &rec);
    line[n] = '\0';
    assert_non_null(strstr(line, " file=\"dir/f.c\" line=\"12\" func=\"fn\"] t\n"));
    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_HUMAN, &rec);
    line[n] = '\0';
    assert_null(strstr(line, "f.c")); /* the default human shows none */
    /* Not NUL-terminated, controls: bounded, escaped. */
    memset(rec.file, '\n', sizeof rec.file);
    memset(rec.func, 'z', sizeof rec.func);
    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_JOURNAL, &rec);
    line[n] = '\0';
    char want[1024] = "\nCODE_FILE=";
    for (size_t i = 0; i < NBLOG_SITE_FILE_MAX; i++)
        strcat(want, "\\x0a");
    strcat(want, "\nCODE_LINE=12\nCODE_FUNC=");
    memset(want + strlen(want), 'z', NBLOG_SITE_FUNC_MAX);
    want[sizeof "\nCODE_FILE=" - 1 + 4 * NBLOG_SITE_FILE_MAX + sizeof "\nCODE_LINE=12\nCODE_FUNC=" - 1 +
         NBLOG_SITE_FUNC_MAX] = '\0';
    strcat(want, "\nMESSAGE=t\n\n");
    assert_non_null(strstr(line, want));
    /* No location: no keys. */
    memset(rec.file, 0, sizeof rec.file);
    memset(rec.func, 0, sizeof rec.func);
    rec.line = 0;
    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_JSON, &rec);
    line[n] = '\0';
    assert_null(strstr(line, "\"file\""));
    assert_null(strstr(line, "\"line\""));
    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_JOURNAL, &rec);
    line[n] = '\0';
    assert_null(strstr(line, "CODE_"));
}

/* 1 if s[0..n) is well-formed UTF-8. */
static int utf8_ok(const char *line, size_t n)
{
    const unsigned char *s = (const unsigned char *)line;
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80 ? 1 : s[i] >= 0xc2 && s[i] <= 0xdf ? 2
                     : s[i] >= 0xe0 && s[i] <= 0xef ? 3 : s[i] >= 0xf0 && s[i] <= 0xf4 ? 4 : 0;
        if (len == 0 || i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

/* A location of multi-byte characters, rendered at every small cap in
 * every format: a line cut short is never cut inside a character (the
 * journal format once backed its MESSAGE= over the end of CODE_FUNC). */
static void test_location_cut_on_characters(void **state)
{
    (void)state;
    nblog_record_t rec;
    loc_record(&rec, "\xd0\x80\xd0\x80 text");
    rec.wall_ns = 1709164800000001000;
    static char line[NBLOG_LINE_MAX];
    /* Files of characters, or of bytes escaped whole (so a field takes all
     * the room it asked for); functions of one character, or many. */
    for (int v = 0; v < 4; v++) {
        memset(rec.file, 0, sizeof rec.file);
        memset(rec.func, 0, sizeof rec.func);
        for (size_t i = 0; i + 2 <= (v & 1 ? 20 : NBLOG_SITE_FILE_MAX - 4); i += 2)
            memcpy(rec.file + i, v & 2 ? "\xff\xff" : "\xd0\x80", 2);
        for (size_t i = 0; i + 2 <= (v & 1 ? 2 : NBLOG_SITE_FUNC_MAX); i += 2)
            memcpy(rec.func + i, "\xd0\x80", 2);
        for (int format = NBLOG_FORMAT_PLAIN; format <= NBLOG_FORMAT_JSON; format++) {
            for (size_t cap = 2; cap < 900; cap++) {
                size_t n = nblog_render_line(line, cap, format, &rec);
                assert_true(n >= 1 && n <= cap && line[n - 1] == '\n');
                if (!utf8_ok(line, n))
                    fail_msg("variant %d, format %d, cap %zu: a character cut: %.*s", v,
                             format, cap, (int)n, line);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5424_line),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_sentinel_time),
        cmocka_unit_test(test_sd_escape),
        cmocka_unit_test(test_rfc3164_and_journal),
        cmocka_unit_test(test_replayed_mark),
        cmocka_unit_test(test_terminal_controls),
        cmocka_unit_test(test_rfc5424_location),
        cmocka_unit_test(test_journal_location),
        cmocka_unit_test(test_render_line_location),
        cmocka_unit_test(test_location_cut_on_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

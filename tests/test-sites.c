/*
 * test-sites.c - the call-site table (src/sites.c) and the locations
 * records carry (nblog_record_t file, line, func).
 *
 *   - which calls carry a location (nblog_printf, nblog_info, NBLOG_INFO,
 *     NBLOG_LOG) and which none (nblog_write, nblog_vprintf, nblog_vsyslog,
 *     the "N messages suppressed" notice, a console's dropped notice,
 *     NBLOG_NO_LOCATION: the second unit, test-sites-noloc.c); entries
 *     shared by one file+line+func,
 *     distinct for another function on the same line;
 *   - the stored form: a long __FILE__ keeps its last bytes, a long
 *     function its first NBLOG_SITE_FUNC_MAX;
 *   - a full table (16 records: 64 entries): later sites go without a
 *     location, nothing else changes;
 *   - BUSY: an entry being made (forged WRITING) gives no location, the
 *     next call gets it;
 *   - hostile entries: nblog__ring_site_get refuses each kind of damage
 *     (and, under ASan, reads nothing out of bounds);
 *   - resume: WRITING entries forgotten, READY ones kept, one entry per
 *     location across runs of a ring file;
 *   - a new ring (nblog_shutdown + nblog_init): the sites' caches are the
 *     old ring's (site_gen) and are not used;
 *   - nblog_vsyslog's facility and level.
 * The concurrent first uses (threads and a signal handler) are in
 * test-sites-stress.c.
 */
#include "testutil.h"
#include "capture.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "nblog.h"
#include "ring.h"

/* test-sites-noloc.c (compiled with NBLOG_NO_LOCATION): each logs text
 * through one way in and returns what it returned. */
int noloc_printf(const char *text);
int noloc_info(const char *text);
int noloc_deferred(const char *text);
int noloc_ratelimited(const char *text);

/* At the end of this file, after #line: a forged long __FILE__. */
int long_file_call(void);
int a_function_with_a_name_much_longer_than_forty_seven_bytes_kept(void);
extern const char long_file_name[];
extern const unsigned long_file_line;

/* ------------------------------------------------------------ helpers */

static int init_ring(size_t records)
{
    nblog_options_t o;
    nblog_options_init(&o);
    o.level = NBLOG_LEVEL_DEBUG;
    o.ring_records = records;
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    o.crash_handlers = NBLOG_CRASH_NONE;
    return nblog_init(&o);
}

static struct nblog__ring_hdr *live_ring(void)
{
    const void *mem;
    size_t bytes;
    nblog__ring_memory(&mem, &bytes);
    assert_non_null(mem);
    return (struct nblog__ring_hdr *)(uintptr_t)mem;
}

/* A new ring of records slots and a reader at its head: the ring. */
static struct nblog__ring_hdr *start(size_t records, nblog_reader_t *r)
{
    assert_int_equal(init_ring(records), NBLOG_OK);
    assert_int_equal(nblog_reader_open(r, NBLOG_FROM_NEXT), NBLOG_OK);
    return live_ring();
}

static struct nblog__site_entry *entry(struct nblog__ring_hdr *r, uint32_t site)
{
    assert_true(site >= 1 && site <= r->sites);
    return (struct nblog__site_entry *)((char *)r + nblog__ring_sites_offset(r) +
                                        (size_t)(site - 1) * NBLOG__SITE_ENTRY);
}

static unsigned ready_entries(struct nblog__ring_hdr *r)
{
    unsigned n = 0;
    for (uint32_t i = 1; i <= r->sites; i++)
        n += (atomic_load(&entry(r, i)->state) & 3u) == NBLOG__SITE_READY;
    return n;
}

/* What a record keeps of a location: the file's last bytes (all the
 * entry's room the function leaves), the function's first ones. */
static void stored_file(const char *file, const char *func, char *out)
{
    size_t fn = strlen(func);
    if (fn > NBLOG_SITE_FUNC_MAX)
        fn = NBLOG_SITE_FUNC_MAX;
    size_t room = NBLOG_SITE_FILE_MAX - fn, fl = strlen(file);
    strcpy(out, fl > room ? file + (fl - room) : file);
}

static nblog_record_t rec;
static char buf[1024];

static void next(nblog_reader_t *r, const char *text)
{
    assert_int_equal(nblog_reader_next(r, &rec, buf, sizeof buf), NBLOG_OK);
    assert_string_equal(rec.text, text);
}

/* The next record is text, from (file, line, func). */
static void next_at(nblog_reader_t *r, const char *text, const char *file, unsigned line,
                    const char *func)
{
    next(r, text);
    char want[NBLOG_SITE_FILE_MAX + 1];
    stored_file(file, func, want);
    assert_int_equal(rec.line, line);
    assert_string_equal(rec.file, want);
    assert_memory_equal(rec.func, func, strnlen(func, NBLOG_SITE_FUNC_MAX));
    assert_int_equal(strlen(rec.func), strnlen(func, NBLOG_SITE_FUNC_MAX));
}

/* The next record is text, with no location. */
static void next_none(nblog_reader_t *r, const char *text)
{
    next(r, text);
    assert_int_equal(rec.line, 0);
    assert_string_equal(rec.file, "");
    assert_string_equal(rec.func, "");
}

/* The line a call is on: AT(call) on one line records it in here_line. */
static unsigned here_line;
#define AT(call) (here_line = __LINE__, (call))

static int my_vprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = nblog_vprintf(NBLOG_LEVEL_INFO, fmt, ap);
    va_end(ap);
    return rc;
}

static int my_syslog(int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = nblog_vsyslog(priority, fmt, ap);
    va_end(ap);
    return rc;
}

/* sites.c's hash of a stored form (FNV-1a over line, file length, text;
 * 30 bits, never 0): to forge entries whose hash is right, so that what
 * refuses them is the check under test. Checked against sites.c below. */
static uint32_t hash_of(uint32_t line, const char *text, unsigned flen, unsigned fnlen)
{
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i < 4; i++)
        h = (h ^ ((line >> (8 * i)) & 0xff)) * 16777619u;
    h = (h ^ flen) * 16777619u;
    for (unsigned i = 0; i < flen + fnlen; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    h &= 0x3fffffffu;
    return h ? h : 1;
}

static struct nblog__ring_hdr *mem_ring(uint64_t records, size_t *bytes)
{
    *bytes = nblog__ring_bytes(records, 128);
    void *mem = aligned_alloc(64, *bytes);
    assert_non_null(mem);
    memset(mem, 0, *bytes);
    nblog__ring_format(mem, records, 128, 0);
    return mem;
}

/* ------------------------------------------ which calls carry a location */

static int two_a(void) { return nblog_info("two a"); } static int two_b(void) { return nblog_info("two b"); } enum { TWO_LINE = __LINE__ };

#define TWICE(text) (nblog_info(text " 1"), nblog_info(text " 2"))

static void test_which_calls_carry_one(void **state)
{
    (void)state;
    nblog_reader_t r;
    start(1024, &r);

    assert_int_equal(AT(NBLOG_INFO("deferred %d", 1)), NBLOG_OK);
    next_at(&r, "deferred 1", __FILE__, here_line, __func__);
    assert_int_equal(AT(nblog_info("info %s", "x")), NBLOG_OK);
    next_at(&r, "info x", __FILE__, here_line, __func__);
    assert_int_equal(AT(nblog_printf(NBLOG_LEVEL_ERR, "printf %d", 2)), NBLOG_OK);
    next_at(&r, "printf 2", __FILE__, here_line, __func__);
    assert_int_equal(rec.level, NBLOG_LEVEL_ERR);
    assert_int_equal(AT(NBLOG_LOG(NBLOG_LEVEL_NOTICE, "log %u", 3u)), NBLOG_OK);
    next_at(&r, "log 3", __FILE__, here_line, __func__);
    assert_int_equal(rec.level, NBLOG_LEVEL_NOTICE);
    /* A deferred record that does not fit the fast path (formatted at
     * once): the same location. */
    static char big[600];
    memset(big, 'b', sizeof big - 1);
    assert_int_equal(AT(NBLOG_INFO("%s", big)), NBLOG_OK);
    next_at(&r, big, __FILE__, here_line, __func__);
    /* The second call of a site: from its cache, the same. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(AT(nblog_info("again")), NBLOG_OK);
        next_at(&r, "again", __FILE__, here_line, __func__);
    }

    /* None. */
    assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, "write", 5), NBLOG_OK);
    next_none(&r, "write");
    assert_int_equal(my_vprintf("vprintf %d", 4), NBLOG_OK);
    next_none(&r, "vprintf 4");
    assert_int_equal(my_syslog(LOG_INFO, "vsyslog %d", 5), NBLOG_OK);
    next_none(&r, "vsyslog 5");
    assert_int_equal((nblog_printf)(NBLOG_LEVEL_INFO, "function %d", 6), NBLOG_OK);
    next_none(&r, "function 6");
    assert_int_equal(noloc_printf("noloc printf"), NBLOG_OK);
    next_none(&r, "noloc printf");
    assert_int_equal(noloc_info("noloc info"), NBLOG_OK);
    next_none(&r, "noloc info");
    assert_int_equal(noloc_deferred("noloc deferred"), NBLOG_OK);
    next_none(&r, "noloc deferred");
    nblog_shutdown();
}

/* Two functions on one line: two entries; one macro expanding to two
 * calls on one line (same file, line, function): one entry, by design. */
static void test_shared_and_distinct_entries(void **state)
{
    (void)state;
    nblog_reader_t r;
    struct nblog__ring_hdr *ring = start(1024, &r);
    assert_int_equal(ready_entries(ring), 0);

    assert_int_equal(two_a(), NBLOG_OK);
    next_at(&r, "two a", __FILE__, TWO_LINE, "two_a");
    assert_int_equal(two_b(), NBLOG_OK);
    next_at(&r, "two b", __FILE__, TWO_LINE, "two_b");
    assert_int_equal(ready_entries(ring), 2);

    for (int i = 0; i < 2; i++) { /* the second time from their caches */
        AT(TWICE("twice"));
        next_at(&r, "twice 1", __FILE__, here_line, __func__);
        next_at(&r, "twice 2", __FILE__, here_line, __func__);
        assert_int_equal(ready_entries(ring), 3); /* one more, not two */
        assert_int_equal(two_a(), NBLOG_OK);
        next_at(&r, "two a", __FILE__, TWO_LINE, "two_a");
    }
    nblog_shutdown();
}

/* The "N messages suppressed" notice is nblog's, not its caller's site's
 * (nor log.c's): no location. The records it lets through have theirs. */
static uint64_t fake_now;
static uint64_t fake_clock(void)
{
    return fake_now;
}

static int limited(int i) { return nblog_printf_ratelimited(NBLOG_LEVEL_INFO, "macro %d", i); } enum { LIMITED_LINE = __LINE__ };

static void test_suppressed_notice_has_none(void **state)
{
    (void)state;
    nblog_reader_t r;
    start(1024, &r);
    fake_now = (uint64_t)1 << 40;
    atomic_store(&nblog__ratelimit_clock_hook, fake_clock);
    static nblog_ratelimit_t rs = NBLOG_RATELIMIT_INIT(1000, 1);
    unsigned line = 0;
    for (int i = 0; i < 3; i++) {
        int rc = nblog_ratelimit_pass(&rs, NBLOG_LEVEL_WARNING)
                     ? AT(nblog_info("limited %d", i))
                     : NBLOG_FILTERED;
        line = here_line;
        assert_int_equal(rc, i == 0 ? NBLOG_OK : NBLOG_FILTERED);
    }
    next_at(&r, "limited 0", __FILE__, line, __func__);
    fake_now += (uint64_t)2000 * 1000000; /* the next window */
    assert_int_equal(nblog_ratelimit_pass(&rs, NBLOG_LEVEL_WARNING), 1);
    next_none(&r, "2 messages suppressed");
    /* The macro's own (nblog_printf_ratelimited), and through
     * NBLOG_NO_LOCATION's. */
    for (int i = 0; i < NBLOG_RATELIMIT_BURST + 2; i++)
        limited(i);
    for (int i = 0; i < NBLOG_RATELIMIT_BURST; i++) {
        char want[32];
        snprintf(want, sizeof want, "macro %d", i);
        next_at(&r, want, __FILE__, LIMITED_LINE, "limited");
    }
    for (int i = 0; i < NBLOG_RATELIMIT_BURST + 2; i++)
        noloc_ratelimited("noloc limited");
    for (int i = 0; i < NBLOG_RATELIMIT_BURST; i++)
        next_none(&r, "noloc limited");
    fake_now += (uint64_t)6000 * 1000000;
    assert_int_equal(limited(99), NBLOG_OK);
    next_none(&r, "2 messages suppressed");
    next_at(&r, "macro 99", __FILE__, LIMITED_LINE, "limited");
    atomic_store(&nblog__ratelimit_clock_hook, NULL);
    nblog_shutdown();
}

/* A console's "** N messages dropped **" is nblog's line, not a record:
 * in a format that shows locations (json: wants_loc), it has none,
 * although the records around it have theirs. */
static int dropping(int i) { return nblog_info("r%d", i); }

static void test_dropped_notice_has_none(void **state)
{
    (void)state;
    assert_int_equal(init_ring(16), NBLOG_OK);
    TU_CAPTURE(cap, 1 << 16);
    nblog_console_opts_t co;
    nblog_console_opts_init(&co);
    co.format = NBLOG_FORMAT_JSON;
    nblog_console_t *con;
    assert_int_equal(nblog_console_callback(tu_capture_lines, &cap, &co, &con), NBLOG_OK);
    assert_int_equal(nblog_console_suspend(con), NBLOG_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(dropping(i), NBLOG_OK);
    assert_int_equal(nblog_console_resume(con), NBLOG_OK);
    assert_int_equal(nblog_flush(10000, NULL, 0), NBLOG_OK);
    const char *out = tu_captured(&cap);
    const char *nl = strchr(out, '\n');
    assert_non_null(nl);
    char first[512];
    assert_true((size_t)(nl - out) < sizeof first);
    memcpy(first, out, (size_t)(nl - out));
    first[nl - out] = '\0';
    assert_non_null(strstr(first, "84 messages dropped"));
    assert_null(strstr(first, "\"file\""));
    assert_null(strstr(first, "\"line\""));
    assert_null(strstr(first, "\"func\""));
    assert_null(strstr(first, "dropping"));
    assert_int_equal(tu_capture_count(&cap, "\"message\":\"r", NULL), 16);
    nblog_console_unregister(con);
    nblog_shutdown();
}

/* ------------------------------------------------------ the stored form */

static void test_long_file_and_function(void **state)
{
    (void)state;
    assert_true(strlen(long_file_name) > NBLOG_SITE_FILE_MAX + 10);
    nblog_reader_t r;
    start(1024, &r);

    assert_int_equal(long_file_call(), NBLOG_OK);
    next(&r, "long file");
    /* The file's last bytes, all the room the function leaves. */
    size_t room = NBLOG_SITE_FILE_MAX - strlen("long_file_call");
    assert_int_equal(strlen(rec.file), room);
    assert_string_equal(rec.file, long_file_name + strlen(long_file_name) - room);
    assert_string_equal(rec.func, "long_file_call");
    assert_int_equal(rec.line, long_file_line);

    static const char fn[] = "a_function_with_a_name_much_longer_than_forty_seven_bytes_kept";
    assert_true(sizeof fn - 1 > NBLOG_SITE_FUNC_MAX);
    assert_int_equal(a_function_with_a_name_much_longer_than_forty_seven_bytes_kept(), NBLOG_OK);
    next(&r, "long function");
    assert_int_equal(strlen(rec.func), NBLOG_SITE_FUNC_MAX);
    assert_memory_equal(rec.func, fn, NBLOG_SITE_FUNC_MAX);
    room = NBLOG_SITE_FILE_MAX - NBLOG_SITE_FUNC_MAX;
    assert_string_equal(rec.file, long_file_name + strlen(long_file_name) - room);
    assert_int_equal(rec.line, long_file_line + 1);
    nblog_shutdown();

    /* Without a function the file has the whole room: NBLOG_SITE_FILE_MAX. */
    size_t bytes;
    struct nblog__ring_hdr *m = mem_ring(16, &bytes);
    uint32_t s = nblog__ring_site_register(m, long_file_name, 7, NULL);
    assert_true(s >= 1 && s <= m->sites);
    struct nblog__loc loc;
    assert_int_equal(nblog__ring_site_get(m, s, &loc), 1);
    assert_int_equal(strlen(loc.file), NBLOG_SITE_FILE_MAX);
    assert_string_equal(loc.file, long_file_name + strlen(long_file_name) - NBLOG_SITE_FILE_MAX);
    assert_string_equal(loc.func, "");
    assert_int_equal(loc.line, 7);
    /* Files alike in their last bytes, same line and function: one entry
     * (by design); another line: another. */
    char other[200];
    snprintf(other, sizeof other, "X%s", long_file_name);
    assert_int_equal(nblog__ring_site_register(m, other, 7, NULL), s);
    assert_true(nblog__ring_site_register(m, other, 8, NULL) != s);
    free(m);
}

/* ------------------------------------------------------ a full table */

#define FN(n) static int site_fn_##n(void) { return nblog_info("fn %d", n); }
#define FN8(a) FN(a##0) FN(a##1) FN(a##2) FN(a##3) FN(a##4) FN(a##5) FN(a##6) FN(a##7)
FN8(1) FN8(2) FN8(3) FN8(4) FN8(5) FN8(6) FN8(7) FN8(8) FN8(9) enum { FN_LINE = __LINE__ };
#define FP(n) site_fn_##n,
#define FP8(a) FP(a##0) FP(a##1) FP(a##2) FP(a##3) FP(a##4) FP(a##5) FP(a##6) FP(a##7)
static int (*const site_fns[])(void) = {FP8(1) FP8(2) FP8(3) FP8(4) FP8(5) FP8(6) FP8(7)
                                            FP8(8) FP8(9)};
#define N_FNS (int)(sizeof site_fns / sizeof site_fns[0])
/* site_fns[i] is site_fn_<number>: 10..17, 20..27, ... */
static int fn_number(int i)
{
    return (i / 8 + 1) * 10 + i % 8;
}

static void call_fn(nblog_reader_t *r, int i, int located)
{
    char text[16], func[24];
    snprintf(text, sizeof text, "fn %d", fn_number(i));
    snprintf(func, sizeof func, "site_fn_%d", fn_number(i));
    assert_int_equal(site_fns[i](), NBLOG_OK);
    if (located)
        next_at(r, text, __FILE__, FN_LINE, func);
    else
        next_none(r, text);
}

static void test_full_table(void **state)
{
    (void)state;
    assert_true(N_FNS > 64);
    assert_int_equal(init_ring(16), NBLOG_OK);
    struct nblog__ring_hdr *ring = live_ring();
    assert_int_equal(ring->records, 16);
    assert_int_equal(ring->sites, 64); /* NBLOG__SITES_MIN */
    nblog_reader_t r;
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
    for (int i = 0; i < N_FNS; i++)
        call_fn(&r, i, i < 64);
    assert_int_equal(ready_entries(ring), 64);
    /* And again: the first 64 from their caches, the others cached FULL. */
    for (int i = N_FNS - 1; i >= 0; i--)
        call_fn(&r, i, i < 64);
    /* Nothing else broke: a site the table has still works, plain calls
     * too, the ring lapped several times with nothing missed. */
    assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, "plain", 5), NBLOG_OK);
    next_none(&r, "plain");
    assert_int_equal(r.missed, 0);
    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.reserved, 2 * N_FNS + 1);
    nblog_shutdown();
}

/* The same, on the table alone: every distinct location up to the size,
 * then FULL, and known ones are still found. */
static void test_full_table_register(void **state)
{
    (void)state;
    size_t bytes;
    struct nblog__ring_hdr *m = mem_ring(16, &bytes);
    uint32_t got[64];
    for (unsigned i = 0; i < 64; i++) {
        got[i] = nblog__ring_site_register(m, "full.c", 100 + i, "f");
        assert_true(got[i] >= 1 && got[i] <= 64);
        for (unsigned j = 0; j < i; j++)
            assert_true(got[j] != got[i]);
    }
    assert_int_equal(nblog__ring_site_register(m, "full.c", 99, "f"), NBLOG__SITE_FULL);
    assert_int_equal(nblog__ring_site_register(m, "other.c", 100, "f"), NBLOG__SITE_FULL);
    for (unsigned i = 0; i < 64; i++) {
        assert_int_equal(nblog__ring_site_register(m, "full.c", 100 + i, "f"), got[i]);
        struct nblog__loc loc;
        assert_int_equal(nblog__ring_site_get(m, got[i], &loc), 1);
        assert_int_equal(loc.line, 100 + i);
        assert_string_equal(loc.file, "full.c");
        assert_string_equal(loc.func, "f");
    }
    free(m);
}

/* ------------------------------------------------------------- BUSY */

static int busy_call(int i) { return nblog_info("busy %d", i); } enum { BUSY_LINE = __LINE__ };

static void test_busy_entry(void **state)
{
    (void)state;
    nblog_reader_t r;
    struct nblog__ring_hdr *ring = start(1024, &r);
    /* The entry busy_call's first call would make, made here and then
     * forged back to WRITING: as if another thread (or the code this
     * call's signal handler interrupted) were making it. */
    uint32_t s = nblog__ring_site_register(ring, __FILE__, BUSY_LINE, "busy_call");
    assert_true(s >= 1 && s <= ring->sites);
    struct nblog__site_entry *e = entry(ring, s);
    uint64_t ready = atomic_load(&e->state);
    assert_int_equal(ready & 3u, NBLOG__SITE_READY);
    atomic_store(&e->state, (ready & ~(uint64_t)3) | NBLOG__SITE_WRITING);

    assert_int_equal(busy_call(1), NBLOG_OK); /* BUSY: no location, and not cached */
    next_none(&r, "busy 1");
    assert_int_equal(busy_call(2), NBLOG_OK);
    next_none(&r, "busy 2");
    atomic_store(&e->state, ready); /* its maker is done */
    assert_int_equal(busy_call(3), NBLOG_OK);
    next_at(&r, "busy 3", __FILE__, BUSY_LINE, "busy_call");
    assert_int_equal(ready_entries(ring), 1);
    nblog_shutdown();

    /* Reset instead (resume forgot it): the next call makes it again. */
    assert_int_equal(init_ring(1024), NBLOG_OK);
    ring = live_ring();
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
    s = nblog__ring_site_register(ring, __FILE__, BUSY_LINE, "busy_call");
    e = entry(ring, s);
    ready = atomic_load(&e->state);
    atomic_store(&e->state, (ready & ~(uint64_t)3) | NBLOG__SITE_WRITING);
    assert_int_equal(busy_call(4), NBLOG_OK);
    next_none(&r, "busy 4");
    atomic_store(&e->state, NBLOG__SITE_EMPTY);
    assert_int_equal(busy_call(5), NBLOG_OK);
    next_at(&r, "busy 5", __FILE__, BUSY_LINE, "busy_call");
    assert_int_equal(atomic_load(&e->state), ready); /* the same entry, made again */
    nblog_shutdown();
}

/* On the table alone: BUSY only for the hash the WRITING entry has;
 * another location probes past it. */
static void test_busy_register(void **state)
{
    (void)state;
    size_t bytes;
    struct nblog__ring_hdr *m = mem_ring(16, &bytes);
    uint32_t a = nblog__ring_site_register(m, "a.c", 1, "fa");
    assert_true(a >= 1 && a <= 64);
    struct nblog__site_entry *e = entry(m, a);
    uint64_t ready = atomic_load(&e->state);
    atomic_store(&e->state, (ready & ~(uint64_t)3) | NBLOG__SITE_WRITING);
    assert_int_equal(nblog__ring_site_register(m, "a.c", 1, "fa"), NBLOG__SITE_BUSY);
    struct nblog__loc loc;
    assert_int_equal(nblog__ring_site_get(m, a, &loc), 0); /* not ready */
    /* Another location whose home is a's entry: probes on. */
    uint32_t home = (ready >> 2) & 63;
    unsigned line = 2;
    char text[NBLOG__SITE_TEXT];
    for (;; line++) {
        memcpy(text, "b.c" "fb", 5);
        if ((hash_of(line, text, 3, 2) & 63) == home)
            break;
    }
    uint32_t b = nblog__ring_site_register(m, "b.c", line, "fb");
    assert_true(b >= 1 && b <= 64 && b != a);
    assert_int_equal(nblog__ring_site_get(m, b, &loc), 1);
    assert_int_equal(loc.line, line);
    atomic_store(&e->state, ready);
    assert_int_equal(nblog__ring_site_register(m, "a.c", 1, "fa"), a);
    free(m);
}

/* ------------------------------------------------------ hostile entries */

static void test_hostile_entries(void **state)
{
    (void)state;
    size_t bytes;
    struct nblog__ring_hdr *m = mem_ring(16, &bytes);
    struct nblog__ring_hdr *t = aligned_alloc(64, bytes);
    assert_non_null(t);
    /* Entries at the table's first and last places (the last is right at
     * the end of the allocation: ASan sees any read past it). */
    uint32_t s = nblog__ring_site_register(m, "src/good.c", 42, "good_fn");
    assert_true(s >= 1 && s <= 64);
    struct nblog__loc loc;
    assert_int_equal(nblog__ring_site_get(m, s, &loc), 1);
    assert_string_equal(loc.file, "src/good.c");
    assert_string_equal(loc.func, "good_fn");
    assert_int_equal(loc.line, 42);
    struct nblog__site_entry *e = entry(m, s);
    uint64_t st = atomic_load(&e->state);
    /* This file's copy of the hash is sites.c's. */
    assert_int_equal(st >> 2, hash_of(42, e->text, 10, 7));
    assert_ptr_equal((char *)m + bytes, (char *)entry(m, 64) + NBLOG__SITE_ENTRY);

    /* No such index. */
    assert_int_equal(nblog__ring_site_get(m, 0, &loc), 0);
    assert_int_equal(nblog__ring_site_get(m, 65, &loc), 0);
    assert_int_equal(nblog__ring_site_get(m, 0xffff, &loc), 0);
    assert_int_equal(nblog__ring_site_get(m, NBLOG__SITE_FULL, &loc), 0);
    for (uint32_t i = 1; i <= 64; i++)
        if (i != s)
            assert_int_equal(nblog__ring_site_get(m, i, &loc), 0); /* EMPTY */

    memcpy(t, m, bytes);
    struct nblog__site_entry *c = entry(t, s);
#define RESTORE() memcpy(c, e, NBLOG__SITE_ENTRY)
#define REFUSED() assert_int_equal(nblog__ring_site_get(t, s, &loc), 0)
    /* States: WRITING, no state, EMPTY with the rest intact. */
    atomic_store(&c->state, (st & ~(uint64_t)3) | NBLOG__SITE_WRITING);
    REFUSED();
    atomic_store(&c->state, st | 3u);
    REFUSED();
    atomic_store(&c->state, 0);
    REFUSED();
    /* A forged hash; a line, a length or a byte changed under the hash. */
    atomic_store(&c->state, st ^ 4u);
    REFUSED();
    RESTORE();
    c->line = 43;
    REFUSED();
    RESTORE();
    c->file_len = 9;
    c->func_len = 8;
    REFUSED();
    RESTORE();
    c->text[0] = 'S';
    REFUSED();
    RESTORE();
    assert_int_equal(nblog__ring_site_get(t, s, &loc), 1);
    /* Lengths past the text (with any hash: neither the byte check nor
     * site_hash may run past the copy; ASan would say so). The bytes are
     * printable, so nothing else stops a read at the first of them. */
    memset(c->text, 'x', NBLOG__SITE_TEXT);
    c->file_len = 100;
    c->func_len = 13;
    REFUSED();
    c->file_len = 255;
    c->func_len = 255;
    REFUSED();
    c->file_len = 0;
    c->func_len = 113;
    REFUSED();
    /* The function past NBLOG__SITE_FUNC_MAX, its hash right: refused for
     * its length alone. */
    RESTORE();
    memset(c->text, 'f', NBLOG__SITE_TEXT);
    c->file_len = 10;
    c->func_len = NBLOG__SITE_FUNC_MAX + 1;
    atomic_store(&c->state, (uint64_t)hash_of(42, c->text, 10, NBLOG__SITE_FUNC_MAX + 1) << 2 |
                                NBLOG__SITE_READY);
    REFUSED();
    c->func_len = NBLOG__SITE_FUNC_MAX; /* the control: at the limit it is fine */
    atomic_store(&c->state, (uint64_t)hash_of(42, c->text, 10, NBLOG__SITE_FUNC_MAX) << 2 |
                                NBLOG__SITE_READY);
    assert_int_equal(nblog__ring_site_get(t, s, &loc), 1);
    assert_int_equal(strlen(loc.func), NBLOG__SITE_FUNC_MAX);
    /* All the text, no function: fine. */
    c->file_len = NBLOG__SITE_TEXT;
    c->func_len = 0;
    atomic_store(&c->state, (uint64_t)hash_of(42, c->text, NBLOG__SITE_TEXT, 0) << 2 |
                                NBLOG__SITE_READY);
    assert_int_equal(nblog__ring_site_get(t, s, &loc), 1);
    assert_int_equal(strlen(loc.file), NBLOG__SITE_TEXT);
    /* Control bytes and DEL in an entry, with the right hash (a hostile
     * file's): refused. */
    memcpy(c->text, "a\nb.c", 5);
    c->file_len = 5;
    c->func_len = 0;
    atomic_store(&c->state,
                 (uint64_t)hash_of(42, c->text, 5, 0) << 2 | NBLOG__SITE_READY);
    assert_int_equal(nblog__ring_site_get(t, s, &loc), 0);
    memcpy(c->text, "del\x7f.c", 6);
    c->file_len = 6;
    atomic_store(&c->state,
                 (uint64_t)hash_of(42, c->text, 6, 0) << 2 | NBLOG__SITE_READY);
    assert_int_equal(nblog__ring_site_get(t, s, &loc), 0);
    /* The same bytes given by a program (a #line name) are stored as '?',
     * the location kept. */
    static const char *const bad_files[] = {"a\nb.c", "tab\t.c", "\x1b[31m.c", "del\x7f.c"};
    static const char *const shown[] = {"a?b.c", "tab?.c", "?[31m.c", "del?.c"};
    static const char *const bad_funcs[] = {"f\rn", "\x01", "ok"};
    for (unsigned i = 0; i < 4; i++) {
        uint32_t b = nblog__ring_site_register(m, bad_files[i], 5, "fn");
        assert_true(b >= 1 && b <= 64);
        assert_int_equal(nblog__ring_site_get(m, b, &loc), 1);
        assert_string_equal(loc.file, shown[i]);
    }
    for (unsigned i = 0; i < 2; i++) {
        uint32_t b = nblog__ring_site_register(m, "x.c", 6, bad_funcs[i]);
        assert_int_equal(nblog__ring_site_get(m, b, &loc), 1);
        assert_string_equal(loc.func, i == 0 ? "f?n" : "?");
    }
    uint32_t ok = nblog__ring_site_register(m, "x.c", 6, bad_funcs[2]);
    assert_int_equal(nblog__ring_site_get(m, ok, &loc), 1);
    /* UTF-8 is not a control byte. */
    uint32_t u = nblog__ring_site_register(m, "caf\xc3\xa9.c", 7, "f");
    assert_int_equal(nblog__ring_site_get(m, u, &loc), 1);
    assert_string_equal(loc.file, "caf\xc3\xa9.c");
#undef RESTORE
#undef REFUSED

    /* Random damage to every entry, the last one included: whatever get
     * says yes to is a location a writer could have made. */
    srandom(17);
    for (int round = 0; round < 2000; round++) {
        memcpy(t, m, bytes);
        for (uint32_t i = 1; i <= 64; i++) {
            struct nblog__site_entry *d = entry(t, i);
            unsigned char *p = (unsigned char *)d;
            int k = (int)(random() % 4);
            for (int j = 0; j < k; j++)
                p[random() % NBLOG__SITE_ENTRY] = (unsigned char)random();
            if (random() % 4 == 0)
                atomic_store(&d->state, (uint64_t)random() << 2 | (uint64_t)(random() % 4));
        }
        for (uint32_t i = 0; i <= 66; i++) {
            memset(&loc, 0x55, sizeof loc);
            if (!nblog__ring_site_get(t, i, &loc))
                continue;
            assert_true(i >= 1 && i <= 64);
            size_t fl = strnlen(loc.file, sizeof loc.file), fnl = strnlen(loc.func, sizeof loc.func);
            assert_true(fl < sizeof loc.file && fnl < sizeof loc.func);
            assert_true(fl + fnl <= NBLOG__SITE_TEXT && fnl <= NBLOG__SITE_FUNC_MAX);
            for (size_t j = 0; j < fl; j++)
                assert_true((unsigned char)loc.file[j] >= 0x20 && loc.file[j] != 0x7f);
            for (size_t j = 0; j < fnl; j++)
                assert_true((unsigned char)loc.func[j] >= 0x20 && loc.func[j] != 0x7f);
            char text[NBLOG__SITE_TEXT];
            memcpy(text, loc.file, fl);
            memcpy(text + fl, loc.func, fnl);
            /* (The state's bits past the hash's 30 are not looked at.) */
            uint64_t st2 = atomic_load(&entry(t, i)->state);
            assert_int_equal(st2 & 3u, NBLOG__SITE_READY);
            assert_int_equal((uint32_t)(st2 >> 2),
                             hash_of(loc.line, text, (unsigned)fl, (unsigned)fnl));
        }
    }
    free(t);
    free(m);
}

/* ------------------------------------------------------------- resume */

static void test_resume_table(void **state)
{
    (void)state;
    size_t bytes;
    struct nblog__ring_hdr *m = mem_ring(16, &bytes);
    uint32_t a = nblog__ring_site_register(m, "keep.c", 1, "kept");
    uint32_t b = nblog__ring_site_register(m, "lost.c", 2, "dying");
    assert_true(a >= 1 && a <= 64 && b >= 1 && b <= 64 && a != b);
    uint64_t ast = atomic_load(&entry(m, a)->state);
    uint64_t bst = atomic_load(&entry(m, b)->state);
    /* b's maker died before S1; a third entry holds a state no writer
     * leaves (3): forgotten as well. */
    atomic_store(&entry(m, b)->state, (bst & ~(uint64_t)3) | NBLOG__SITE_WRITING);
    uint32_t c = 0;
    for (uint32_t i = 1; i <= 64 && !c; i++)
        if (i != a && i != b)
            c = i;
    atomic_store(&entry(m, c)->state, (uint64_t)12345 << 2 | 3u);
    nblog__ring_sites_resume(m);
    assert_int_equal(atomic_load(&entry(m, a)->state), ast);
    assert_int_equal(atomic_load(&entry(m, b)->state), NBLOG__SITE_EMPTY);
    assert_int_equal(atomic_load(&entry(m, c)->state), NBLOG__SITE_EMPTY);
    struct nblog__loc loc;
    assert_int_equal(nblog__ring_site_get(m, a, &loc), 1);
    assert_string_equal(loc.func, "kept");
    /* b is made again where it was (its hash's place is free again). */
    assert_int_equal(nblog__ring_site_register(m, "lost.c", 2, "dying"), b);
    assert_int_equal(atomic_load(&entry(m, b)->state), bst);

    /* The whole resume (a writer reopening the ring): a new site_gen, the
     * entries kept, the same location found at the same index. */
    atomic_store(&entry(m, b)->state, (bst & ~(uint64_t)3) | NBLOG__SITE_WRITING);
    uint32_t gen = m->site_gen;
    assert_int_equal(nblog__ring_resume(m), NBLOG_OK);
    assert_true(m->site_gen != gen && m->site_gen != 0);
    assert_int_equal(atomic_load(&entry(m, b)->state), NBLOG__SITE_EMPTY);
    assert_int_equal(nblog__ring_site_register(m, "keep.c", 1, "kept"), a);
    assert_int_equal(nblog__ring_site_register(m, "lost.c", 2, "dying"), b);
    free(m);
}

static int run_call(int run) { return nblog_info("run %d", run); } enum { RUN_LINE = __LINE__ };

/* A ring file written by two runs (nblog_init, shutdown, init again: the
 * second resumes it): one entry for the location both logged from, and
 * the first run's records keep theirs. */
static void test_resume_ring_file(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "sites");
    for (int run = 0; run < 2; run++) {
        nblog_options_t o;
        tu_ring_options(&o, path, 256, 0);
        o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
        o.crash_handlers = NBLOG_CRASH_NONE;
        assert_int_equal(nblog_init(&o), NBLOG_OK);
        assert_int_equal(run_call(run), NBLOG_OK);
        assert_int_equal(ready_entries(live_ring()), 1);
        nblog_reader_t r;
        assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_OLDEST), NBLOG_OK);
        for (int i = 0; i <= run; i++) {
            char want[16];
            snprintf(want, sizeof want, "run %d", i);
            next_at(&r, want, __FILE__, RUN_LINE, "run_call");
        }
        nblog_shutdown();
    }
    unlink(path);
}

/* ------------------------------------------------------------ a new ring */

static int gen_x(void) { return nblog_info("x"); } static int gen_y(void) { return nblog_info("y"); } enum { GEN_LINE = __LINE__ };

/* Fills r's table with forged locations until its place home (1-based)
 * is taken, and all of it if full. */
static void fill_table(struct nblog__ring_hdr *r, uint32_t home, int full)
{
    for (unsigned line = 1; line < 100000; line++) {
        uint32_t s = nblog__ring_site_register(r, "filler.c", line, "filler");
        assert_true(s != NBLOG__SITE_BUSY);
        if (s == NBLOG__SITE_FULL || (!full && s == home))
            return;
    }
    fail();
}

static void test_new_ring_new_caches(void **state)
{
    (void)state;
    /* Where x's entry goes in an empty table of 64 (and of 128). */
    size_t bytes;
    struct nblog__ring_hdr *scratch = mem_ring(16, &bytes);
    uint32_t home = nblog__ring_site_register(scratch, __FILE__, GEN_LINE, "gen_x");
    free(scratch);

    /* Ring 1: x's home taken, so x's entry is elsewhere; then full, so y
     * gets none (and caches that). */
    assert_int_equal(init_ring(16), NBLOG_OK);
    struct nblog__ring_hdr *ring = live_ring();
    uint32_t gen1 = ring->site_gen;
    nblog_reader_t r;
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
    fill_table(ring, home, 0);
    assert_int_equal(gen_x(), NBLOG_OK);
    next_at(&r, "x", __FILE__, GEN_LINE, "gen_x");
    fill_table(ring, 0, 1);
    assert_int_equal(gen_y(), NBLOG_OK);
    next_none(&r, "y");
    assert_int_equal(gen_x(), NBLOG_OK);
    next_at(&r, "x", __FILE__, GEN_LINE, "gen_x");
    nblog_shutdown();

    /* Rings 2 (the same size) and 3 (another): x's cached index would
     * name an empty entry, y's cached "none" would lose its location. */
    size_t sizes[] = {16, 1024};
    for (unsigned k = 0; k < 2; k++) {
        assert_int_equal(init_ring(sizes[k]), NBLOG_OK);
        ring = live_ring();
        assert_true(ring->site_gen != gen1);
        gen1 = ring->site_gen;
        assert_int_equal(ready_entries(ring), 0);
        assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(gen_x(), NBLOG_OK);
            next_at(&r, "x", __FILE__, GEN_LINE, "gen_x");
            assert_int_equal(gen_y(), NBLOG_OK);
            next_at(&r, "y", __FILE__, GEN_LINE, "gen_y");
        }
        assert_int_equal(ready_entries(ring), 2);
        nblog_shutdown();
    }
}

/* ------------------------------------------------------------ vsyslog */

static void test_vsyslog_facility_and_level(void **state)
{
    (void)state;
    nblog_options_t o;
    nblog_options_init(&o);
    o.level = NBLOG_LEVEL_DEBUG;
    o.facility = 3; /* LOG_DAEMON */
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    o.crash_handlers = NBLOG_CRASH_NONE;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    nblog_reader_t r;
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
    static const struct {
        int priority, facility, level;
    } cases[] = {
        {LOG_LOCAL3 | LOG_ERR, 19, 3},
        {LOG_KERN | LOG_WARNING, 3, 4}, /* facility bits 0: the process's */
        {LOG_MAIL | LOG_DEBUG, 2, 7},
        {LOG_LOCAL7 | LOG_EMERG, 23, 0},
        {LOG_USER | LOG_NOTICE, 1, 5},
        {(24 << 3) | LOG_INFO, 3, 6},  /* past LOG_LOCAL7: the process's */
        {(127 << 3) | LOG_ALERT, 3, 1},
        {LOG_AUTHPRIV | LOG_CRIT, 10, 2},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(my_syslog(cases[i].priority, "sys %u", i), NBLOG_OK);
        char want[16];
        snprintf(want, sizeof want, "sys %u", i);
        next_none(&r, want);
        assert_int_equal(rec.facility, cases[i].facility);
        assert_int_equal(rec.level, cases[i].level);
    }
    /* Others keep the process's facility. */
    assert_int_equal(AT(nblog_info("after")), NBLOG_OK);
    next_at(&r, "after", __FILE__, here_line, __func__);
    assert_int_equal(rec.facility, 3);
    /* The level threshold applies to the priority's level. */
    nblog_level_set(NBLOG_LEVEL_INFO);
    assert_int_equal(my_syslog(LOG_LOCAL0 | LOG_DEBUG, "filtered"), NBLOG_FILTERED);
    assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_EAGAIN);
    nblog_shutdown();
}

static void test_control_bytes_in_file(void **state);

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_control_bytes_in_file, tu_shutdown),
        cmocka_unit_test_teardown(test_which_calls_carry_one, tu_shutdown),
        cmocka_unit_test_teardown(test_shared_and_distinct_entries, tu_shutdown),
        cmocka_unit_test_teardown(test_suppressed_notice_has_none, tu_shutdown),
        cmocka_unit_test_teardown(test_dropped_notice_has_none, tu_shutdown),
        cmocka_unit_test_teardown(test_long_file_and_function, tu_shutdown),
        cmocka_unit_test_teardown(test_full_table, tu_shutdown),
        cmocka_unit_test(test_full_table_register),
        cmocka_unit_test_teardown(test_busy_entry, tu_shutdown),
        cmocka_unit_test(test_busy_register),
        cmocka_unit_test(test_hostile_entries),
        cmocka_unit_test(test_resume_table),
        cmocka_unit_test_teardown(test_resume_ring_file, tu_shutdown),
        cmocka_unit_test_teardown(test_new_ring_new_caches, tu_shutdown),
        cmocka_unit_test_teardown(test_vsyslog_facility_and_level, tu_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Last in the file: from here on __FILE__ is a long forged path. */
const char long_file_name[] =
    "very/long/path/to/a/source/tree/with/many/directories/in/it/src/"
    "subsystem/component/module/implementation/of/something/name.c";
const unsigned long_file_line = 9000;
#line 9000 "very/long/path/to/a/source/tree/with/many/directories/in/it/src/subsystem/component/module/implementation/of/something/name.c"
int long_file_call(void) { return nblog_info("long file"); }
int a_function_with_a_name_much_longer_than_forty_seven_bytes_kept(void) { return nblog_info("long function"); }

/* Last in the file: the #line below renames the rest of it. A control
 * byte in __FILE__ is stored as '?', the location kept (readers refuse an
 * entry holding a control, as a hostile file's). */
static void test_control_bytes_in_file(void **state)
{
    (void)state;
    nblog_reader_t r;
    start(1024, &r);
#line 7 "tab\there\x1b.c"
    assert_int_equal(NBLOG_INFO("odd %d", 1), NBLOG_OK);
    assert_int_equal(nblog_info("odd %d", 2), NBLOG_OK);
    next_at(&r, "odd 1", "tab?here?.c", 7, __func__);
    next_at(&r, "odd 2", "tab?here?.c", 8, __func__);
}

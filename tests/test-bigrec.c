/*
 * test-bigrec.c - variable-size records: text past a slot's inline room
 * spilled into the data area (ring.c, SPILLED TEXT). Boundaries (inline
 * room -1/0/+1, granule edges, the data area's wrap), 16 KiB round trips
 * through the ring, a file console and a ring file (resumed, and after
 * SIGKILL), the default ring holding 40,000 bench records, records cut
 * when their granules are pinned or newer (test hooks), and writers of
 * random lengths racing readers that check every record or count it
 * missed (label stress: runs under TSan too).
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "console.h"
#include "nblog.h"
#include "proc.h"
#include "ring.h"

#define MARK NBLOG_TRUNC_MARKER
#define MLEN (sizeof MARK - 1)

/* The byte at i of text number n: a letter or digit (nothing a line
 * format escapes), different per record and position, so a byte of
 * another record or another place shows. */
static char gen_byte(uint64_t n, uint32_t i)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    return set[(n * 131 + i * 7 + i / 56) % (sizeof set - 1)];
}

static void gen_text(char *out, uint64_t n, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        out[i] = gen_byte(n, i);
}

/* A ring of its own (no data area when granules is 0). */
static struct nblog__ring_hdr *new_ring(uint64_t records, uint32_t size, uint32_t text_max,
                                        uint64_t data_bytes)
{
    struct nblog__ring_geom g;
    assert_int_equal(nblog__ring_geom_make(&g, records, size, text_max, data_bytes), NBLOG_OK);
    size_t bytes = nblog__ring_bytes_geom(&g);
    void *mem = aligned_alloc(64, (bytes + 63) / 64 * 64);
    assert_non_null(mem);
    memset(mem, 0, bytes);
    nblog__ring_format_geom(mem, &g, 0);
    return mem;
}

static char wbuf[NBLOG_TEXT_MAX_LIMIT + 8], rbuf[NBLOG_TEXT_MAX_LIMIT + 8];
static char nested_buf[NBLOG_TEXT_MAX_LIMIT + 8]; /* a nested writer's own */

/* Writes text n of len bytes from buf; returns the write's result, *m as
 * stored. */
static int put_from(char *buf, struct nblog__ring_hdr *r, uint64_t n, uint32_t len,
                    struct nblog__rec_meta *m)
{
    gen_text(buf, n, len);
    *m = (struct nblog__rec_meta){.ts_ns = n, .tid = 9, .level = 6, .len = len};
    return nblog__ring_write(r, m, buf);
}

static int put(struct nblog__ring_hdr *r, uint64_t n, uint32_t len, struct nblog__rec_meta *m)
{
    return put_from(wbuf, r, n, len, m);
}

/* Record seq is text n of len bytes, whole, or GONE; never anything else.
 * Returns the read result. */
static enum nblog__read_result check(struct nblog__ring_hdr *r, uint64_t seq, uint64_t n,
                                     uint32_t len)
{
    struct nblog__rec_meta m;
    enum nblog__read_result res = nblog__ring_read(r, seq, &m, rbuf, sizeof rbuf);
    if (res != NBLOG__READ_OK)
        return res;
    assert_int_equal(m.len, len);
    assert_int_equal(m.ts_ns, n);
    assert_int_equal(m.flags & NBLOG_F_TRUNCATED, 0);
    gen_text(wbuf, n, len);
    assert_memory_equal(rbuf, wbuf, len);
    return res;
}

static void test_geometry_and_options(void **state)
{
    (void)state;
    struct nblog__ring_geom g;
    assert_int_equal(nblog__ring_geom_make(&g, 0, 0, 0, NBLOG__DATA_BYTES_DEFAULT), NBLOG_OK);
    assert_int_equal(g.records, 65536);
    assert_int_equal(g.record_size, 128);
    assert_int_equal(g.text_max, 16384);
    assert_int_equal(g.granules * NBLOG__GRANULE, 4u << 20);
    print_message("default ring: %zu bytes (slots %u, data %u, header and stats %zu)\n",
                  nblog__ring_bytes_geom(&g), 65536u * 128u, 4u << 20,
                  nblog__ring_slots_offset());
    /* No data area: the slot is the limit. */
    assert_int_equal(nblog__ring_geom_make(&g, 0, 512, 0, 0), NBLOG_OK);
    assert_int_equal(g.text_max, 512 - NBLOG__SLOT_HDR);
    assert_int_equal(g.granules, 0);
    /* A small data area is raised to hold two runs of text_max. */
    assert_int_equal(nblog__ring_geom_make(&g, 16, 128, 16384, 1), NBLOG_OK);
    assert_true(g.granules * NBLOG__GRANULE_DATA >= 2 * (16384 - 80));
    assert_int_equal(g.granules & (g.granules - 1), 0);
    /* Limits. */
    assert_int_equal(nblog__ring_geom_make(&g, 0, 0, NBLOG_TEXT_MAX_LIMIT + 1, 1 << 20),
                     NBLOG_EINVAL);
    assert_int_equal(nblog__ring_geom_make(&g, 0, 0, 0, NBLOG_DATA_BYTES_MAX + 1), NBLOG_EINVAL);
    nblog_options_t o;
    nblog_options_init(&o);
    assert_int_equal(o.text_max, 16384);
    assert_int_equal(o.data_bytes, 4u << 20);
    o.text_max = NBLOG_TEXT_MAX_LIMIT + 1;
    assert_int_equal(nblog_init(&o), NBLOG_EINVAL);
    nblog_options_init(&o);
    o.data_bytes = NBLOG_DATA_BYTES_MAX + 1;
    assert_int_equal(nblog_init(&o), NBLOG_EINVAL);
    nblog_options_init(&o);
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(st.text_max, 16384);
    assert_int_equal(st.inline_max, 88);
    assert_int_equal(st.data_bytes, 4u << 20);
    assert_int_equal(st.spill_cut, 0);
    nblog_shutdown();
}

/* Every length around the inline room and the granule edges, byte exact,
 * and a hostile length or position never reads outside the ring. */
static void test_boundaries(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring(64, 128, 16384, 1 << 16);
    const uint32_t inl = nblog__ring_inline_max(r), skip = inl - 8;
    assert_int_equal(inl, 88);
    uint32_t lens[64];
    unsigned k = 0;
    lens[k++] = 0;
    lens[k++] = 1;
    for (int d = -1; d <= 1; d++)
        lens[k++] = (uint32_t)((int)inl + d);
    for (uint32_t g = 1; g <= 4; g++)
        for (int d = -1; d <= 1; d++)
            lens[k++] = (uint32_t)((int)(skip + g * NBLOG__GRANULE_DATA) + d);
    lens[k++] = 16384 - 1;
    lens[k++] = 16384;
    for (unsigned i = 0; i < k; i++) {
        struct nblog__rec_meta m;
        assert_int_equal(put(r, 1000 + i, lens[i], &m), NBLOG_OK);
        assert_int_equal(check(r, m.seq, 1000 + i, lens[i]), NBLOG__READ_OK);
    }
    for (unsigned i = 0; i < k; i++) /* all still there */
        assert_int_equal(check(r, i, 1000 + i, lens[i]), NBLOG__READ_OK);
    assert_true(nblog__ring_check_data(r));
    assert_int_equal(atomic_load(&r->spill_cut), 0);
    free(r);
}

/* The data area wraps many times: each record reads whole while its
 * granules are its own, and GONE (never another's bytes) once they are
 * not; the books stay exact. */
static void test_data_wrap(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring(256, 128, 2048, 1 << 14); /* 256 granules */
    assert_int_equal(r->data_granules, 256);
    uint64_t ok = 0, gone = 0;
    for (uint64_t n = 0; n < 3000; n++) {
        uint32_t len = (uint32_t)((n * 977) % 2049);
        struct nblog__rec_meta m;
        assert_int_equal(put(r, n, len, &m), NBLOG_OK);
        assert_int_equal(m.seq, n);
        assert_int_equal(check(r, n, n, len), NBLOG__READ_OK); /* the newest is whole */
    }
    for (uint64_t n = 3000 - 256; n < 3000; n++) {
        enum nblog__read_result res = check(r, n, n, (uint32_t)((n * 977) % 2049));
        assert_true(res == NBLOG__READ_OK || res == NBLOG__READ_GONE);
        ok += res == NBLOG__READ_OK;
        gone += res == NBLOG__READ_GONE;
    }
    print_message("last lap after 3000 records: %llu whole, %llu lost with their text\n",
                  (unsigned long long)ok, (unsigned long long)gone);
    assert_true(ok > 0 && gone > 0);
    assert_true(nblog__ring_check_data(r));
    /* A reader walking the whole ring counts each seq once. */
    uint64_t seq = 0, got = 0, missed = 0, g;
    struct nblog__rec_meta m;
    for (;;) {
        enum nblog__read_result res = nblog__ring_next(r, &seq, &g, &m, rbuf, sizeof rbuf);
        missed += g;
        if (res == NBLOG__READ_OK) {
            got++;
            seq++;
        } else if (res != NBLOG__READ_GONE) {
            break;
        }
    }
    assert_int_equal(got + missed, 3000);
    free(r);
}

/* ------------------------------------------------ pinned and newer */

static struct nblog__ring_hdr *hook_ring;
static int hook_depth;
static uint64_t hook_cut_seq[8];
static unsigned hook_cuts;

/* Nested writers (as a signal handler would be) until the data area has
 * lapped the parked writer's granules. */
static void lap_data_area(void)
{
    struct nblog__ring_hdr *r = hook_ring;
    uint64_t per = (500 - (nblog__ring_inline_max(r) - 8) + NBLOG__GRANULE_DATA - 1) /
                   NBLOG__GRANULE_DATA;
    uint64_t laps = r->data_granules / per + 2;
    hook_depth++;
    for (uint64_t i = 0; i < laps; i++) {
        struct nblog__rec_meta m;
        assert_int_equal(put_from(nested_buf, r, 5000 + i, 500, &m), NBLOG_OK);
        if (m.flags & NBLOG_F_TRUNCATED) {
            if (hook_cuts < 8)
                hook_cut_seq[hook_cuts] = m.seq;
            hook_cuts++;
        }
    }
    hook_depth--;
}

static void on_spilled(uint64_t seq)
{
    (void)seq;
    if (hook_depth == 0)
        lap_data_area();
}

static void on_reserved(uint64_t seq)
{
    (void)seq;
    if (hook_depth == 0)
        lap_data_area();
}

/* A record that is cut reads as its inline room with the marker, flagged. */
static void check_cut(struct nblog__ring_hdr *r, uint64_t seq, uint64_t n)
{
    struct nblog__rec_meta m;
    assert_int_equal(nblog__ring_read(r, seq, &m, rbuf, sizeof rbuf), NBLOG__READ_OK);
    assert_true(m.flags & NBLOG_F_TRUNCATED);
    assert_true(m.len <= nblog__ring_inline_max(r));
    gen_text(wbuf, n, m.len);
    assert_memory_equal(rbuf, wbuf, m.len - MLEN);
    assert_memory_equal(rbuf + m.len - MLEN, MARK, MLEN);
}

static void test_cut_when_pinned(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = hook_ring = new_ring(1024, 128, 1024, 1 << 13); /* 128 granules */
    hook_cuts = 0;
    /* Parked holding its granules WRITING: the nested writers that come
     * round to them are cut (they wait for nothing), the parked one ends
     * whole. */
    atomic_store(&nblog__test_hook_spilled, on_spilled);
    struct nblog__rec_meta m;
    assert_int_equal(put(r, 1, 1000, &m), NBLOG_OK);
    atomic_store(&nblog__test_hook_spilled, NULL);
    uint64_t parked = m.seq;
    assert_int_equal(m.flags & NBLOG_F_TRUNCATED, 0);
    print_message("pinned: %u nested records cut\n", hook_cuts);
    assert_true(hook_cuts >= 1);
    assert_int_equal(atomic_load(&r->spill_cut), hook_cuts);
    check_cut(r, hook_cut_seq[0], 5000 + (hook_cut_seq[0] - parked - 1));
    assert_int_equal(check(r, parked, 1, 1000), NBLOG__READ_OK);
    assert_true(nblog__ring_check_data(r));

    /* Parked before it takes granules while newer records lap the data
     * area: what it would take is theirs, so it is cut, never theirs
     * overwritten. */
    uint64_t cuts0 = atomic_load(&r->spill_cut);
    hook_cuts = 0;
    atomic_store(&nblog__test_hook_reserved, on_reserved);
    assert_int_equal(put(r, 2, 1000, &m), NBLOG_OK);
    atomic_store(&nblog__test_hook_reserved, NULL);
    assert_true(m.flags & NBLOG_F_TRUNCATED);
    assert_int_equal(hook_cuts, 0); /* the nested ones found nothing pinned */
    assert_int_equal(atomic_load(&r->spill_cut), cuts0 + 1);
    check_cut(r, m.seq, 2);
    /* The newest nested record is whole. */
    uint64_t head = nblog__ring_head(r);
    uint64_t last_n = 5000 + (head - 1 - m.seq - 1);
    assert_int_equal(check(r, head - 1, last_n, 500), NBLOG__READ_OK);
    assert_true(nblog__ring_check_data(r));
    free(r);
}

/* ----------------------------------------------- through the library */

static void test_default_ring_holds_40000(void **state)
{
    (void)state;
    nblog_options_t o;
    nblog_options_init(&o);
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    nblog_reader_t rd;
    assert_int_equal(nblog_reader_open(&rd, NBLOG_FROM_NEXT), NBLOG_OK);
    char name[] = "bench";
    for (int i = 0; i < 40000; i++)
        assert_int_equal(NBLOG_INFO("iteration %d value %f name %s", i, i * 0.5, name),
                         NBLOG_OK);
    nblog_record_t rec;
    char buf[256], want[256];
    int n = 0;
    while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK) {
        snprintf(want, sizeof want, "iteration %d value %f name %s", n, n * 0.5, name);
        assert_string_equal(rec.text, want);
        n++;
    }
    assert_int_equal(n, 40000);
    assert_int_equal(rd.missed, 0);
    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(st.lost + st.spill_cut, 0);
    nblog_shutdown();
}

static char big[NBLOG_TEXT_MAX_LIMIT + 1];

/* The default ring in the file at path, no console of init's. */
static void file_ring_options(nblog_options_t *o, const char *path)
{
    tu_ring_options(o, path, 0, 0);
    o->console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    o->crash_handlers = NBLOG_CRASH_NONE;
}

/* Checks the ring file at path holds records [from, from + n) of
 * make_big, each whole. */
static void check_file_ring(const char *path, int n)
{
    nblog_ringfile_t *f;
    char why[160];
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, why, sizeof why),
                     NBLOG_OK);
    nblog_reader_t rd;
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
    static char buf[NBLOG_TEXT_MAX_LIMIT + 1];
    nblog_record_t rec;
    int got = 0;
    while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK) {
        uint32_t len = 16384 - (uint32_t)(got % 3) * 4000;
        gen_text(big, (uint64_t)got, len);
        assert_int_equal(rec.len, len);
        assert_memory_equal(rec.text, big, len);
        assert_int_equal(rec.flags & NBLOG_F_TRUNCATED, 0);
        got++;
    }
    assert_int_equal(got, n);
    assert_int_equal(rd.missed, 0);
    nblog_ringfile_info_t in;
    assert_int_equal(nblog_ringfile_info(f, &in), NBLOG_OK);
    assert_int_equal(in.text_max, 16384);
    assert_int_equal(in.data_bytes, 4u << 20);
    assert_int_equal(in.spill_cut, 0);
    nblog_ringfile_close(f);
}

static void log_bigs(int from, int to)
{
    for (int i = from; i < to; i++) {
        uint32_t len = 16384 - (uint32_t)(i % 3) * 4000;
        gen_text(big, (uint64_t)i, len);
        assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, big, len), NBLOG_OK);
    }
}

/* 16 KiB texts: whole through the ring, a file console and the ring file,
 * and again after the file is resumed by a new writer. */
static void test_16k_round_trip(void **state)
{
    (void)state;
    char path[128], out[160];
    tu_ring_name(path, sizeof path, "bigrec");
    snprintf(out, sizeof out, "%s.log", path);
    unlink(out);
    nblog_options_t o;
    file_ring_options(&o, path);
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    nblog_console_t *file;
    nblog_console_opts_t co;
    nblog_console_opts_init(&co);
    co.format = NBLOG_FORMAT_PLAIN;
    assert_int_equal(nblog_console_file(out, 0, 0, &co, &file), NBLOG_OK);
    nblog_reader_t rd;
    assert_int_equal(nblog_reader_open(&rd, NBLOG_FROM_NEXT), NBLOG_OK);
    log_bigs(0, 6);
    static char buf[NBLOG_TEXT_MAX_LIMIT + 1];
    nblog_record_t rec;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(nblog_reader_next(&rd, &rec, buf, sizeof buf), NBLOG_OK);
        uint32_t len = 16384 - (uint32_t)(i % 3) * 4000;
        gen_text(big, (uint64_t)i, len);
        assert_int_equal(rec.len, len);
        assert_memory_equal(rec.text, big, len);
    }
    assert_int_equal(nblog_flush(5000, NULL, 0), 0);
    char *text = slurp(out);
    assert_non_null(text);
    const char *p = text;
    for (int i = 0; i < 6; i++) { /* plain lines: the text, '\n' */
        uint32_t len = 16384 - (uint32_t)(i % 3) * 4000;
        gen_text(big, (uint64_t)i, len);
        assert_memory_equal(p, big, len);
        assert_int_equal(p[len], '\n');
        p += len + 1;
    }
    assert_int_equal(*p, '\0');
    free(text);
    check_file_ring(path, 6);
    nblog_shutdown();
    check_file_ring(path, 6);
    /* Resumed: the old records stay whole, new ones follow. */
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    log_bigs(6, 9);
    check_file_ring(path, 9);
    nblog_shutdown();
    unlink(path);
    unlink(out);
}

TU_CAPTURE(panic_cap, 1 << 20);

/* The panic flush prints spilled records whole: the printers are paused,
 * so what reaches the console is the flush's own printing. */
static void test_panic_flush_prints_spilled(void **state)
{
    (void)state;
    nblog_options_t o;
    nblog_options_init(&o);
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    o.crash_handlers = NBLOG_CRASH_NONE;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    tu_capture_reset(&panic_cap);
    nblog_console_opts_t co;
    nblog_console_opts_init(&co);
    co.format = NBLOG_FORMAT_PLAIN;
    nblog_console_ops_t ops = {.write = tu_capture_write, .write_atomic = tu_capture_write};
    nblog_console_t *c;
    atomic_store(&nblog__printers_paused, 1);
    assert_int_equal(nblog_console_register(&ops, &panic_cap, &co, &c), NBLOG_OK);
    log_bigs(0, 6);
    assert_int_equal(nblog_panic_flush("bigrec panic"), 0);
    atomic_store(&nblog__printers_paused, 0);
    const char *out = tu_captured(&panic_cap);
    for (int i = 0; i < 6; i++) {
        uint32_t len = 16384 - (uint32_t)(i % 3) * 4000;
        gen_text(big, (uint64_t)i, len);
        big[len] = '\n';
        assert_non_null(memmem(out, tu_capture_len(&panic_cap), big, len + 1));
    }
    nblog_shutdown();
}

/* The killed writer (this program run as "test-bigrec kill-child PATH
 * FD"): stores 40 records of up to 16 KiB in a file ring, says so on FD,
 * and waits to be killed. A program of its own, not a fork: the test
 * process has threads (TSan refuses threads started after such a fork). */
static int kill_child(const char *path, int ready)
{
    nblog_options_t o;
    file_ring_options(&o, path);
    if (nblog_init(&o) != NBLOG_OK)
        return 1;
    for (int i = 0; i < 40; i++) {
        uint32_t len = 16384 - (uint32_t)(i % 3) * 4000;
        gen_text(big, (uint64_t)i, len);
        if (nblog_write(NBLOG_LEVEL_INFO, big, len) != NBLOG_OK)
            return 2;
    }
    if (write(ready, "k", 1) != 1)
        return 3;
    for (;;)
        pause();
}

/* A writer SIGKILLed after storing: every committed record, spilled text
 * included, is in the file. */
static void test_sigkill_then_read(void **state)
{
    (void)state;
    char path[128], fdarg[16];
    tu_ring_name(path, sizeof path, "bigrec-kill");
    int ready[2];
    assert_int_equal(pipe(ready), 0); /* not close-on-exec: the child writes it */
    snprintf(fdarg, sizeof fdarg, "%d", ready[1]);
    char self[] = "/proc/self/exe", mode[] = "kill-child";
    char *argv[] = {self, mode, path, fdarg, NULL};
    pid_t pid = spawn_child(argv, -1, -1);
    assert_true(pid > 0);
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    check_file_ring(path, 40);
    unlink(path);
}

/* ----------------------------------------------------------- stress */

#define WRITERS 3
#define READERS 2
#define STRESS_RECORDS 6000u /* a writer's */

static struct nblog__ring_hdr *sr;
static _Atomic int writers_done;
static _Atomic uint64_t s_ok, s_cut_seen, s_gone, s_written;

/* A stress record's text: "wWnNNNNNNNN|" then gen_byte(id, i). */
static uint32_t stress_text(char *out, unsigned w, uint32_t n, uint32_t len)
{
    uint64_t id = (uint64_t)w << 32 | n;
    gen_text(out, id, len);
    if (len >= 12)
        snprintf(out, 13, "w%1un%08x", w, n), out[11] = '|';
    return len;
}

static void *stress_writer(void *arg)
{
    unsigned w = (unsigned)(uintptr_t)arg;
    static _Thread_local char text[NBLOG_TEXT_MAX_LIMIT + 8];
    uint32_t x = 12345 + w * 777;
    for (uint32_t n = 0; n < STRESS_RECORDS; n++) {
        x = x * 1103515245u + 12345u;
        uint32_t len = 12 + (x >> 8) % (x & 1 ? 200 : nblog__ring_text_max(sr) - 11);
        stress_text(text, w, n, len);
        struct nblog__rec_meta m = {.tid = w, .level = 6, .len = len};
        if (nblog__ring_write(sr, &m, text) == NBLOG_OK)
            atomic_fetch_add(&s_written, 1);
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

/* Every record read is one a writer wrote, whole, or cut to its inline
 * room with the marker and flagged; every other seq is counted gone. */
static void *stress_reader(void *arg)
{
    (void)arg;
    static _Thread_local char text[NBLOG_TEXT_MAX_LIMIT + 8], want[NBLOG_TEXT_MAX_LIMIT + 8];
    uint64_t seq = 0, ok = 0, cut = 0, gone_n = 0;
    for (;;) {
        int done = atomic_load(&writers_done) == WRITERS;
        struct nblog__rec_meta m;
        uint64_t g;
        enum nblog__read_result res = nblog__ring_next(sr, &seq, &g, &m, text, sizeof text);
        gone_n += g;
        if (res == NBLOG__READ_OK) {
            unsigned w;
            uint32_t n;
            assert_true(m.len >= 12);
            assert_int_equal(sscanf(text, "w%1un%8x|", &w, &n), 2);
            if (m.flags & NBLOG_F_TRUNCATED) {
                assert_true(m.len <= nblog__ring_inline_max(sr));
                stress_text(want, w, n, m.len);
                assert_memory_equal(text, want, m.len - MLEN);
                assert_memory_equal(text + m.len - MLEN, MARK, MLEN);
                cut++;
            } else {
                stress_text(want, w, n, m.len);
                assert_memory_equal(text, want, m.len);
            }
            ok++;
            seq++;
        } else if (res != NBLOG__READ_GONE) {
            if (done && seq >= nblog__ring_head(sr))
                break;
            sched_yield();
        }
    }
    assert_int_equal(ok + gone_n, nblog__ring_head(sr)); /* each seq once */
    atomic_fetch_add(&s_ok, ok);
    atomic_fetch_add(&s_cut_seen, cut);
    atomic_fetch_add(&s_gone, gone_n);
    return NULL;
}

static void test_stress_random_lengths(void **state)
{
    (void)state;
    sr = new_ring(1024, 128, 16384, 1 << 18);
    pthread_t w[WRITERS], rd[READERS];
    for (unsigned i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&rd[i], NULL, stress_reader, NULL), 0);
    for (unsigned i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&w[i], NULL, stress_writer, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    for (unsigned i = 0; i < READERS; i++)
        pthread_join(rd[i], NULL);
    uint64_t head = nblog__ring_head(sr), lost = atomic_load(&sr->lost);
    print_message("stress: %llu records, %llu lost, %llu cut; readers: %llu read "
                  "(%llu cut), %llu gone\n",
                  (unsigned long long)head, (unsigned long long)lost,
                  (unsigned long long)atomic_load(&sr->spill_cut),
                  (unsigned long long)atomic_load(&s_ok),
                  (unsigned long long)atomic_load(&s_cut_seen),
                  (unsigned long long)atomic_load(&s_gone));
    assert_int_equal(head, (uint64_t)WRITERS * STRESS_RECORDS);
    assert_int_equal(atomic_load(&s_written) + lost, head); /* the store's books */
    assert_int_equal(atomic_load(&s_ok) + atomic_load(&s_gone), READERS * head);
    assert_true(nblog__ring_check_data(sr));
    for (uint64_t i = 0; i < sr->records; i++)
        assert_true(nblog__ring_check_slot(sr, i));
    free(sr);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "kill-child") == 0)
        return kill_child(argv[2], atoi(argv[3]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_geometry_and_options, tu_shutdown),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_data_wrap),
        cmocka_unit_test(test_cut_when_pinned),
        cmocka_unit_test_teardown(test_default_ring_holds_40000, tu_shutdown),
        cmocka_unit_test_teardown(test_16k_round_trip, tu_shutdown),
        cmocka_unit_test_teardown(test_panic_flush_prints_spilled, tu_shutdown),
        cmocka_unit_test(test_sigkill_then_read),
        cmocka_unit_test(test_stress_random_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

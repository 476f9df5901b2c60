/*
 * test-stress.c - many writers, one validating reader, exact books.
 *
 * Every writer logs records whose text carries its id, its own counter, a
 * checksum of both and a padding whose length and letters depend on them, so
 * a torn copy (bytes of two records) cannot parse. A concurrent reader checks
 * each record it gets and keeps its own account of the sequence numbers; at
 * the end the reader's, the writers' and the store's books must agree
 * exactly:
 *
 *   reader.read + reader.missed == reserved - first seq read
 *   reserved == sum(writer NBLOG_OK) + stats.lost,  stats.lost == sum(ELOST)
 *
 * Cases: a small ring (1024 slots: laps, losses to pinned slots, plus a
 * second reader that keeps reopening at the oldest record so it copies
 * slots while they are overwritten), a big one, and one that never wraps
 * (nothing may be lost or missed, every writer's records come back
 * complete). The stalled-reader cases check that `missed` is exact when a
 * reader stops for many laps of the ring and then resumes.
 *
 * No timing is asserted anywhere: only what must hold on any schedule.
 * So the ring holds the writers' records and nothing else: no default
 * stderr console (which printed every record, hundreds of MB, and whose
 * stall watch, when the stderr pipe was not read for 5 s on a loaded
 * machine, stored a "console stalled" record the books did not expect).
 * A console still reads the ring beside the readers: one that discards
 * its lines and reports no stall within a case.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"
#include "testutil.h"

#define MAX_WRITERS 8
#define LEVEL NBLOG_LEVEL_INFO
#define FACILITY 1 /* nblog_options_init's default */

/* ------------------------------------------------------------ the text */

/* Letters the padding is cut from: any 40 consecutive ones start anywhere
 * in the first 26. */
static const char pad_src[] = "abcdefghijklmnopqrstuvwxyz"
                              "abcdefghijklmnopqrstuvwxyz"
                              "abcdefghijklmnopqrstuvwxyz";
#define PAD_MAX 40 /* keeps the text within a 128-byte slot (88 bytes) */

static uint64_t mix(uint64_t x)
{
    /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t checksum(int w, uint64_t n)
{
    return mix(n ^ ((uint64_t)w << 56));
}

static int pad_len(int w, uint64_t n)
{
    return (int)((n * 7 + (uint64_t)w * 13) % (PAD_MAX + 1));
}

static int pad_off(uint64_t n)
{
    return (int)(n % 26);
}

static int log_one(int w, uint64_t n)
{
    return nblog_printf(LEVEL, "w=%d n=%llu chk=%016llx pad=%.*s", w,
                        (unsigned long long)n,
                        (unsigned long long)checksum(w, n), pad_len(w, n),
                        pad_src + pad_off(n));
}

static const char *expect(const char *p, const char *lit)
{
    size_t l = strlen(lit);
    return strncmp(p, lit, l) == 0 ? p + l : NULL;
}

static const char *parse_dec(const char *p, uint64_t *v)
{
    if (!p || *p < '0' || *p > '9')
        return NULL;
    uint64_t x = 0;
    while (*p >= '0' && *p <= '9')
        x = x * 10 + (uint64_t)(*p++ - '0');
    *v = x;
    return p;
}

static const char *parse_hex16(const char *p, uint64_t *v)
{
    if (!p)
        return NULL;
    uint64_t x = 0;
    for (int i = 0; i < 16; i++, p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else
            return NULL;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return p;
}

/* Parses and checks one text completely: 0 if it is a record writer *w
 * logged as its record *n, -1 (with why) otherwise. */
static int parse_text(const char *text, size_t len, int *w, uint64_t *n,
                      const char **why)
{
    uint64_t wv = 0, nv = 0, chk = 0;
    const char *p = expect(text, "w=");
    p = parse_dec(p, &wv);
    p = p ? expect(p, " n=") : NULL;
    p = parse_dec(p, &nv);
    p = p ? expect(p, " chk=") : NULL;
    p = parse_hex16(p, &chk);
    p = p ? expect(p, " pad=") : NULL;
    if (!p) {
        *why = "text does not parse";
        return -1;
    }
    if (wv >= MAX_WRITERS) {
        *why = "writer id out of range";
        return -1;
    }
    if (chk != checksum((int)wv, nv)) {
        *why = "checksum does not match w and n";
        return -1;
    }
    int pl = pad_len((int)wv, nv);
    if ((size_t)(p - text) + (size_t)pl != len || strlen(p) != (size_t)pl ||
        memcmp(p, pad_src + pad_off(nv), (size_t)pl) != 0) {
        *why = "padding does not match w and n";
        return -1;
    }
    *w = (int)wv;
    *n = nv;
    return 0;
}

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------- writers */

struct writer {
    pthread_t thread;
    int id;
    uint64_t count;
    pthread_barrier_t *start;
    uint32_t tid; /* published before the start barrier */
    uint64_t ok, lost, other;
    int other_rc;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    w->tid = (uint32_t)gettid_();
    pthread_barrier_wait(w->start);
    for (uint64_t n = 0; n < w->count; n++) {
        int rc = log_one(w->id, n);
        if (rc == NBLOG_OK) {
            w->ok++;
        } else if (rc == NBLOG_ELOST) {
            w->lost++;
        } else {
            w->other++;
            w->other_rc = rc;
        }
    }
    return NULL;
}

/* -------------------------------------------------------------- reader */

struct reader {
    pthread_t thread;
    nblog_reader_t r;
    int nw;
    struct writer *w;
    pthread_barrier_t *start;
    atomic_int done; /* set by the main thread once every writer joined */
    int no_wrap;     /* the ring holds every record: nothing may be missed */

    uint64_t start_seq;
    struct tu_read_check k; /* seqs, gaps, errors (testutil.h) */
    uint64_t per_writer[MAX_WRITERS];
    uint64_t last_n[MAX_WRITERS];
    int seen[MAX_WRITERS];
    uint64_t eagain;
};

/* Checks that a record is intact and is one a writer of this case logged;
 * 0 with its writer and counter, or -1 (counted in rd->k.errors). */
static int check_content(struct reader *rd, const nblog_record_t *rec, int *w,
                         uint64_t *n)
{
    const char *why = NULL;
    if (rec->len != strlen(rec->text))
        tu_check_fail(&rd->k, rec, "len differs from the text's length");
    if (rec->flags != 0)
        tu_check_fail(&rd->k, rec, "unexpected flags");
    if (rec->level != LEVEL || rec->facility != FACILITY ||
        rec->kind != NBLOG_KIND_TEXT)
        tu_check_fail(&rd->k, rec, "level/facility/kind differ from what was logged");
    if (parse_text(rec->text, rec->len, w, n, &why) != 0) {
        tu_check_fail(&rd->k, rec, why);
        return -1;
    }
    if (*w >= rd->nw || *n >= rd->w[*w].count) {
        tu_check_fail(&rd->k, rec, "record from no writer of this case");
        return -1;
    }
    if (rec->tid != rd->w[*w].tid)
        tu_check_fail(&rd->k, rec, "tid is not the writer's");
    return 0;
}

static void check_record(void *arg, const nblog_record_t *rec)
{
    struct reader *rd = arg;
    int w;
    uint64_t n;

    if (tu_check_seq(&rd->k, rec) != 0)
        return;
    if (rd->no_wrap && rec->missed != 0)
        tu_check_fail(&rd->k, rec, "missed a record in a ring that never wrapped");

    if (check_content(rd, rec, &w, &n) != 0)
        return;
    /* Each writer's records come in its own order. */
    if (rd->seen[w] && n <= rd->last_n[w])
        tu_check_fail(&rd->k, rec, "writer's counter not increasing");
    if (rd->no_wrap && n != (rd->seen[w] ? rd->last_n[w] + 1 : 0))
        tu_check_fail(&rd->k, rec, "writer's counter skipped in a ring that never wrapped");
    rd->seen[w] = 1;
    rd->last_n[w] = n;
    rd->per_writer[w]++;
}

/*
 * The tail chaser: reopens at the oldest record again and again and reads
 * a few, so it copies exactly the slots writers are about to overwrite.
 * Every record it gets must still be intact (the copy is validated after
 * the fact and a torn one discarded, never returned).
 */
static void *chaser_main(void *arg)
{
    struct reader *rd = arg;
    nblog_record_t rec;
    char buf[512];

    pthread_barrier_wait(rd->start);
    while (!atomic_load_explicit(&rd->done, memory_order_acquire)) {
        nblog_reader_t r;
        if (nblog_reader_open(&r, NBLOG_FROM_OLDEST) != NBLOG_OK) {
            tu_check_fail(&rd->k, NULL, "reader_open failed");
            break;
        }
        uint64_t prev = 0;
        for (int k = 0; k < 4; k++) {
            int w;
            uint64_t n;
            int rc = nblog_reader_next(&r, &rec, buf, sizeof buf);
            if (rc != NBLOG_OK)
                break;
            if (k > 0 && rec.seq <= prev)
                tu_check_fail(&rd->k, &rec, "chaser: seq not increasing");
            prev = rec.seq;
            rd->k.records++;
            check_content(rd, &rec, &w, &n);
        }
    }
    return NULL;
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    pthread_barrier_wait(rd->start); /* the writers' tids are set */
    tu_check_drain(&rd->r, &rd->k, &rd->done, check_record, rd, &rd->eagain);
    return NULL;
}

/* ----------------------------------------------------------- the cases */

static void discard_lines(void *arg, const char *lines, size_t len)
{
    (void)arg;
    (void)lines;
    (void)len;
}

/* Inits a ring of `records` 128-byte slots that only the test writes to:
 * no default console, none from NBLOG_CONSOLES; a discarding console
 * whose stall report (a record) would need a case longer than the test's
 * ctest timeout. */
static void init_ring(size_t records)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = records;
    opt.record_size = 128;
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    assert_int_equal(nblog_init(&opt), NBLOG_OK);
    nblog_console_opts_t co;
    nblog_console_opts_init(&co);
    co.name = "discard";
    co.stall_ms = 3600000;
    nblog_console_t *con;
    assert_int_equal(nblog_console_callback(discard_lines, NULL, &co, &con), NBLOG_OK);
}

struct stress_case {
    int writers;
    uint64_t per_writer;
    size_t ring_records;
    int no_wrap;
    int chaser; /* also run a reader chasing the ring's tail */
};

static void run_stress(const struct stress_case *c)
{
    init_ring(c->ring_records);

    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(st.ring_records, c->ring_records);
    if (c->no_wrap)
        assert_true(st.ring_records >= (uint64_t)c->writers * c->per_writer);

    static struct writer w[MAX_WRITERS];
    static struct reader rd, chaser;
    pthread_barrier_t start;
    assert_true(c->writers <= MAX_WRITERS);
    pthread_barrier_init(&start, NULL, (unsigned)c->writers + 1 + !!c->chaser);

    memset(&rd, 0, sizeof rd);
    assert_int_equal(nblog_reader_open(&rd.r, NBLOG_FROM_OLDEST), NBLOG_OK);
    rd.start_seq = rd.r.next_seq;
    rd.k.prev_end = rd.start_seq;
    rd.nw = c->writers;
    rd.w = w;
    rd.start = &start;
    rd.no_wrap = c->no_wrap;
    atomic_init(&rd.done, 0);
    memset(&chaser, 0, sizeof chaser);
    chaser.nw = c->writers;
    chaser.w = w;
    chaser.start = &start;
    atomic_init(&chaser.done, 0);

    double t0 = now_s();
    for (int i = 0; i < c->writers; i++) {
        w[i] = (struct writer){.id = i, .count = c->per_writer, .start = &start};
        assert_int_equal(pthread_create(&w[i].thread, NULL, writer_main, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&rd.thread, NULL, reader_main, &rd), 0);
    if (c->chaser)
        assert_int_equal(
            pthread_create(&chaser.thread, NULL, chaser_main, &chaser), 0);
    for (int i = 0; i < c->writers; i++)
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
    /* Release: pairs with the readers' acquire loads. */
    atomic_store_explicit(&rd.done, 1, memory_order_release);
    atomic_store_explicit(&chaser.done, 1, memory_order_release);
    assert_int_equal(pthread_join(rd.thread, NULL), 0);
    if (c->chaser)
        assert_int_equal(pthread_join(chaser.thread, NULL), 0);
    double t1 = now_s();
    pthread_barrier_destroy(&start);

    nblog_stats_get(&st);
    uint64_t ok = 0, lost = 0, other = 0;
    for (int i = 0; i < c->writers; i++) {
        ok += w[i].ok;
        lost += w[i].lost;
        other += w[i].other;
        if (w[i].other)
            print_error("writer %d got %s\n", i, nblog_strerror(w[i].other_rc));
        /* The reader cannot get more of a writer's records than it stored. */
        assert_true(rd.per_writer[i] <= w[i].ok);
    }
    print_message("  %d writers x %" PRIu64 ", ring %zu: %.2f s; ok %" PRIu64
                  " lost %" PRIu64 "; reader read %" PRIu64 " missed %" PRIu64
                  " (EAGAIN %" PRIu64 ")\n",
                  c->writers, c->per_writer, c->ring_records, t1 - t0, ok, lost,
                  rd.r.read, rd.r.missed, rd.eagain);

    if (c->chaser)
        print_message("  tail chaser checked %" PRIu64 " records\n",
                      chaser.k.records);
    tu_check_report(&rd.k, "reader");
    tu_check_report(&chaser.k, "tail chaser");
    assert_int_equal(rd.k.errors, 0);
    assert_int_equal(chaser.k.errors, 0);
    assert_int_equal(other, 0);

    /* The store's books. */
    assert_int_equal(st.reserved, (uint64_t)c->writers * c->per_writer);
    assert_int_equal(st.lost, lost);
    assert_int_equal(st.reserved, ok + st.lost);

    /* The reader's books: each seq of the range is read or missed, once. */
    assert_int_equal(rd.r.next_seq, st.reserved);
    assert_int_equal(rd.r.read, rd.k.records);
    assert_int_equal(rd.r.read + rd.r.missed, st.reserved - rd.start_seq);
    /* Missed records reported in records, plus those skipped after the
     * last one returned, are the reader's total. */
    assert_int_equal(rd.k.rec_missed + (rd.r.next_seq - rd.k.prev_end), rd.r.missed);

    if (c->no_wrap) {
        assert_int_equal(st.lost, 0);
        assert_int_equal(rd.r.missed, 0);
        for (int i = 0; i < c->writers; i++)
            assert_int_equal(rd.per_writer[i], c->per_writer);
    }
    nblog_shutdown();
}

static void run_writer_counts(size_t ring_records, int chaser)
{
    static const int counts[] = {2, 4, 8};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        struct stress_case c = {
            .writers = counts[i],
            .per_writer = SCALED(1000000),
            .ring_records = ring_records,
            .chaser = chaser,
        };
        run_stress(&c);
    }
}

/* 1024 slots: the reader falls behind, writers lap it and each other,
 * preempted writers pin slots (ELOST), and a second reader chasing the tail
 * copies slots while they are overwritten. */
static void test_stress_small_ring(void **state)
{
    (void)state;
    run_writer_counts(1024, 1);
}

/* 256 Ki slots: wraps are rarer, the reader mostly keeps up. */
static void test_stress_big_ring(void **state)
{
    (void)state;
    run_writer_counts(1u << 18, 0);
}

/* A ring that holds every record: nothing may be lost or missed, and every
 * writer's records are read back complete and in order. */
static void test_stress_no_wrap(void **state)
{
    (void)state;
    /* Fewer writers leave the reader at the head more often, where it
     * meets reserved, uncommitted slots that it must wait for, not skip. */
    static const int counts[] = {1, 2, 4};
    const uint64_t total = SCALED(1000000);
    uint64_t records = 16;
    while (records < total)
        records *= 2;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        struct stress_case c = {
            .writers = counts[i],
            .per_writer = total / (uint64_t)counts[i],
            .ring_records = (size_t)records,
            .no_wrap = 1,
        };
        run_stress(&c);
    }
}

/* ------------------------------------------------------ stalled reader */

#define STALL_RING 256

static void log_seq_records(uint64_t from, uint64_t count)
{
    for (uint64_t n = from; n < from + count; n++)
        assert_int_equal(log_one(0, n), NBLOG_OK);
}

/* Reads until EAGAIN; checks that the records are writer 0's n = first ..
 * in order, that the first one reports `missed` and the others 0. Returns
 * how many were read. */
static uint64_t read_expect(nblog_reader_t *r, uint64_t first, uint64_t missed)
{
    nblog_record_t rec;
    char buf[256];
    uint64_t got = 0;
    int rc;
    while ((rc = nblog_reader_next(r, &rec, buf, sizeof buf)) == NBLOG_OK) {
        const char *why = "";
        int w = -1;
        uint64_t n = 0;
        if (parse_text(rec.text, rec.len, &w, &n, &why) != 0)
            fail_msg("record %" PRIu64 ": %s: \"%s\"", rec.seq, why, rec.text);
        assert_int_equal(w, 0);
        assert_int_equal(n, first + got);
        /* One writer, one thread, no loss: seq n holds counter n. */
        assert_int_equal(rec.seq, n);
        assert_int_equal(rec.missed, got == 0 ? missed : 0);
        got++;
    }
    assert_int_equal(rc, NBLOG_EAGAIN);
    return got;
}

static void init_stall_ring(void)
{
    init_ring(STALL_RING);
}

/*
 * A reader reads what it can of `before` records, stops while `stall` more
 * are logged, then resumes. With one writer and no loss the ring holds exactly the last
 * min(total, R) records, so the reader must get the last min(stall, R) of
 * those it had not read, in order, and count the rest as missed.
 */
static void stall_case(uint64_t before, uint64_t stall)
{
    const uint64_t R = STALL_RING;
    init_stall_ring();
    nblog_reader_t r;
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_OLDEST), NBLOG_OK);
    assert_int_equal(r.next_seq, 0);

    /* The first part may itself be more than a lap. */
    log_seq_records(0, before);
    uint64_t read0 = before < R ? before : R;
    uint64_t missed0 = before - read0;
    assert_int_equal(read_expect(&r, missed0, missed0), read0);
    assert_int_equal(r.missed, missed0);

    log_seq_records(before, stall);
    uint64_t total = before + stall;
    uint64_t readable = stall < R ? stall : R;
    uint64_t missed = stall - readable;
    assert_int_equal(read_expect(&r, total - readable, missed), readable);

    assert_int_equal(r.read, read0 + readable);
    assert_int_equal(r.missed, missed0 + missed);
    assert_int_equal(r.read + r.missed, total);
    assert_int_equal(r.next_seq, total);

    nblog_stats_t st;
    nblog_stats_get(&st);
    assert_int_equal(st.reserved, total);
    assert_int_equal(st.lost, 0);

    /* It keeps going normally afterwards. */
    log_seq_records(total, 3);
    assert_int_equal(read_expect(&r, total, 0), 3);
    assert_int_equal(r.missed, missed0 + missed);
    nblog_shutdown();
}

static void test_stalled_reader(void **state)
{
    (void)state;
    const uint64_t R = STALL_RING;
    /* Many laps: K * R + r records while the reader reads nothing. */
    stall_case(0, 7 * R + 37);
    stall_case(0, 50 * R + 1);
    /* The boundaries: exactly a lap (nothing missed), one more (one). */
    stall_case(10, R - 1);
    stall_case(10, R);
    stall_case(10, R + 1);
    stall_case(R - 1, 3 * R);
    stall_case(R + 5, 9 * R + R - 1);
}

/* A reader opened after many laps starts at the oldest record stored. */
static void test_open_after_laps(void **state)
{
    (void)state;
    const uint64_t R = STALL_RING;
    init_stall_ring();
    log_seq_records(0, 4 * R + 9);
    nblog_reader_t r;
    assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_OLDEST), NBLOG_OK);
    assert_int_equal(r.next_seq, 3 * R + 9);
    assert_int_equal(read_expect(&r, 3 * R + 9, 0), R);
    assert_int_equal(r.missed, 0);
    /* From the next record: nothing until something is logged. */
    nblog_reader_t n;
    nblog_record_t rec;
    char buf[256];
    assert_int_equal(nblog_reader_open(&n, NBLOG_FROM_NEXT), NBLOG_OK);
    assert_int_equal(nblog_reader_next(&n, &rec, buf, sizeof buf), NBLOG_EAGAIN);
    log_seq_records(4 * R + 9, 1);
    assert_int_equal(read_expect(&n, 4 * R + 9, 0), 1);
    nblog_shutdown();
}

/* Runs after each case, passed or failed, so the next starts from a
 * shut-down library (nblog_init works again after nblog_shutdown). */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stalled_reader, tu_shutdown),
        cmocka_unit_test_teardown(test_open_after_laps, tu_shutdown),
        cmocka_unit_test_teardown(test_stress_no_wrap, tu_shutdown),
        cmocka_unit_test_teardown(test_stress_small_ring, tu_shutdown),
        cmocka_unit_test_teardown(test_stress_big_ring, tu_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test-ring.c - the store on its own: states, overwrite, pinned slots,
 * header validation, wall-clock epochs. Single-threaded and deterministic;
 * the concurrent claims are in test-stress.c and test-signal.c.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nblog.h"
#include "ring.h"
#include "ringfile.h"

#define RECORDS 16u
#define RSIZE 128u

static struct nblog__ring_hdr *new_ring(void)
{
    size_t bytes = nblog__ring_bytes(RECORDS, RSIZE);
    void *mem = aligned_alloc(64, bytes);
    assert_non_null(mem);
    memset(mem, 0, bytes);
    nblog__ring_format(mem, RECORDS, RSIZE, 0);
    return mem;
}

static int put(struct nblog__ring_hdr *r, const char *text, uint64_t *seq)
{
    char buf[RSIZE] = {0};
    struct nblog__rec_meta m = {.ts_ns = 42, .tid = 7, .level = 3,
                                .facility = 1, .len = (uint32_t)strlen(text)};
    memcpy(buf, text, m.len);
    int rc = nblog__ring_write(r, &m, buf);
    if (seq)
        *seq = m.seq;
    return rc;
}

static enum nblog__read_result get(struct nblog__ring_hdr *r, uint64_t seq,
                                   char *text)
{
    struct nblog__rec_meta m;
    enum nblog__read_result res = nblog__ring_read(r, seq, &m, text, RSIZE);
    if (res == NBLOG__READ_OK) {
        text[m.len] = '\0';
        assert_int_equal(m.seq, seq);
        assert_int_equal(m.tid, 7);
        assert_int_equal(m.level, 3);
        assert_int_equal(m.ts_ns, 42);
    }
    return res;
}

static void test_write_then_read(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring();
    char text[RSIZE];
    uint64_t seq;
    assert_int_equal(get(r, 0, text), NBLOG__READ_EMPTY);
    assert_int_equal(put(r, "first", &seq), NBLOG_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(put(r, "second record", &seq), NBLOG_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(get(r, 0, text), NBLOG__READ_OK);
    assert_string_equal(text, "first");
    assert_int_equal(get(r, 1, text), NBLOG__READ_OK);
    assert_string_equal(text, "second record");
    assert_int_equal(get(r, 2, text), NBLOG__READ_EMPTY);
    free(r);
}

static void test_overwrite_oldest(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring();
    char text[RSIZE], want[32];
    for (int i = 0; i < 40; i++) {
        snprintf(want, sizeof want, "record %d", i);
        assert_int_equal(put(r, want, NULL), NBLOG_OK);
    }
    assert_int_equal(nblog__ring_head(r), 40);
    assert_int_equal(nblog__ring_oldest(r), 40 - RECORDS);
    for (uint64_t s = 0; s < 40 - RECORDS; s++)
        assert_int_equal(get(r, s, text), NBLOG__READ_GONE);
    for (uint64_t s = 40 - RECORDS; s < 40; s++) {
        assert_int_equal(get(r, s, text), NBLOG__READ_OK);
        snprintf(want, sizeof want, "record %d", (int)s);
        assert_string_equal(text, want);
    }
    free(r);
}

/* A writer pinned mid-record (here: the hook for seq 0 writes a whole lap
 * more, as a signal handler could) costs exactly one record per lap. */
static struct nblog__ring_hdr *hook_ring;
static int hook_lost;
static void write_a_lap(uint64_t seq)
{
    if (seq != 0)
        return;
    for (unsigned i = 0; i < RECORDS + 2; i++)
        if (put(hook_ring, "from hook", NULL) == NBLOG_ELOST)
            hook_lost++;
}

static void test_pinned_slot_loses_one_per_lap(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = hook_ring = new_ring();
    char text[RSIZE];
    atomic_store(&nblog__test_hook_reserved, write_a_lap);
    assert_int_equal(put(r, "pinned", NULL), NBLOG_OK);
    atomic_store(&nblog__test_hook_reserved, NULL);
    /* seq 16 mapped onto slot 0 while seq 0 was reserved there. */
    assert_int_equal(hook_lost, 1);
    assert_int_equal(atomic_load(&r->lost), 1);
    assert_int_equal(nblog__ring_head(r), RECORDS + 3);
    /* Books: reserved == committed + lost. 1 + 17 committed, 1 lost. */
    assert_int_equal(get(r, RECORDS, text), NBLOG__READ_GONE);
    assert_int_equal(get(r, 0, text), NBLOG__READ_OK);
    assert_string_equal(text, "pinned");
    assert_int_equal(get(r, RECORDS + 1, text), NBLOG__READ_OK);
    assert_string_equal(text, "from hook");
    free(r);
}

/* While its writer holds it, a record is PENDING, not EMPTY or GONE. */
static struct nblog__ring_hdr *pending_ring;
static enum nblog__read_result seen_in_hook;
static void read_own_record(uint64_t seq)
{
    char text[RSIZE];
    seen_in_hook = get(pending_ring, seq, text);
}

static void test_reserved_record_is_pending(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = pending_ring = new_ring();
    char text[RSIZE];
    atomic_store(&nblog__test_hook_reserved, read_own_record);
    assert_int_equal(put(r, "x", NULL), NBLOG_OK);
    atomic_store(&nblog__test_hook_reserved, NULL);
    assert_int_equal(seen_in_hook, NBLOG__READ_PENDING);
    assert_int_equal(get(r, 0, text), NBLOG__READ_OK);
    free(r);
}

/* A writer stopped mid-record does not hold readers back once the ring has
 * lapped its record: the record reads GONE (counted missed), the rest of
 * the ring stays readable. */
static enum nblog__read_result seen_after_lap;
static void stop_midway_while_lapped(uint64_t seq)
{
    char text[RSIZE];
    if (seq != 0)
        return;
    for (unsigned i = 0; i < RECORDS - 1; i++)
        put(pending_ring, "newer", NULL);
    seen_in_hook = get(pending_ring, 0, text); /* 15 newer: not lapped */
    put(pending_ring, "lapping", NULL);
    seen_after_lap = get(pending_ring, 0, text);
}

static void test_stopped_writer_does_not_block_readers(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = pending_ring = new_ring();
    char text[RSIZE];
    atomic_store(&nblog__test_hook_reserved, stop_midway_while_lapped);
    assert_int_equal(put(r, "stopped", NULL), NBLOG_OK);
    atomic_store(&nblog__test_hook_reserved, NULL);
    assert_int_equal(seen_in_hook, NBLOG__READ_PENDING);
    assert_int_equal(seen_after_lap, NBLOG__READ_GONE);
    assert_int_equal(get(r, 1, text), NBLOG__READ_OK);
    free(r);
}

static void test_continues_sequence(void **state)
{
    (void)state;
    size_t bytes = nblog__ring_bytes(RECORDS, RSIZE);
    struct nblog__ring_hdr *r = aligned_alloc(64, bytes);
    memset(r, 0, bytes);
    nblog__ring_format(r, RECORDS, RSIZE, 1000);
    char text[RSIZE];
    uint64_t seq;
    assert_int_equal(nblog__ring_oldest(r), 1000);
    assert_int_equal(put(r, "a", &seq), NBLOG_OK);
    assert_int_equal(seq, 1000);
    assert_int_equal(get(r, 1000, text), NBLOG__READ_OK);
    assert_int_equal(get(r, 1001, text), NBLOG__READ_EMPTY);
    free(r);
}

static void test_validate_rejects_damage(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring();
    size_t bytes = nblog__ring_bytes(RECORDS, RSIZE);
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_OK);
    assert_int_equal(nblog__ring_validate(r, bytes - 1), NBLOG_ECORRUPT);
    assert_int_equal(nblog__ring_validate(r, 10), NBLOG_ECORRUPT);
    struct nblog__ring_hdr saved = *r;
    r->magic[0] = 'X';
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->magic[0] = saved.magic[0];
    r->version = 99;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->version = saved.version;
    r->record_size = 100;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->record_size = saved.record_size;
    r->records = 1u << 30;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->records = saved.records;
    r->slots_offset = 8;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->slots_offset = saved.slots_offset;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_OK);
    free(r);
}

/* A record whose stored length is corrupted (a damaged ring file) is
 * reported GONE, never read out of its slot. */
static void test_corrupt_length_not_trusted(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring();
    char text[RSIZE];
    assert_int_equal(put(r, "hello", NULL), NBLOG_OK);
    struct nblog__slot *s = (struct nblog__slot *)((char *)r + r->slots_offset);
    s->meta |= (uint64_t)0xffff << 16;
    assert_int_equal(get(r, 0, text), NBLOG__READ_GONE);
    free(r);
}

/* The state word keeps seq << 2: no seq at or past 2^62 is handed out.
 * Writes there are refused (NBLOG_ELOST) and counted; readers see head
 * clamped to the limit and find nothing beyond it. */
static void test_seq_limit(void **state)
{
    (void)state;
    size_t bytes = nblog__ring_bytes(RECORDS, RSIZE);
    struct nblog__ring_hdr *r = aligned_alloc(64, bytes);
    memset(r, 0, bytes);
    nblog__ring_format(r, RECORDS, RSIZE, NBLOG__SEQ_LIMIT - 2);
    char text[RSIZE];
    uint64_t seq = 0;
    assert_int_equal(put(r, "last but one", &seq), NBLOG_OK);
    assert_int_equal(seq, NBLOG__SEQ_LIMIT - 2);
    assert_int_equal(put(r, "last", &seq), NBLOG_OK);
    assert_int_equal(seq, NBLOG__SEQ_LIMIT - 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(put(r, "one too many", NULL), NBLOG_ELOST);
    assert_int_equal(atomic_load(&r->lost), 3);
    assert_int_equal(nblog__ring_head(r), NBLOG__SEQ_LIMIT);
    assert_int_equal(get(r, NBLOG__SEQ_LIMIT - 2, text), NBLOG__READ_OK);
    assert_string_equal(text, "last but one");
    assert_int_equal(get(r, NBLOG__SEQ_LIMIT - 1, text), NBLOG__READ_OK);
    assert_string_equal(text, "last");
    assert_int_equal(get(r, NBLOG__SEQ_LIMIT, text), NBLOG__READ_EMPTY);
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_OK); /* still readable */
    assert_int_equal(nblog__ring_resume(r), NBLOG_ECORRUPT);   /* not writable */
    free(r);
}

/* head and first_seq are checked like every other field. */
static void test_validate_checks_seqs(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring();
    size_t bytes = nblog__ring_bytes(RECORDS, RSIZE);
    r->first_seq = 10;
    atomic_store(&r->head, 9);
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    atomic_store(&r->head, 10);
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_OK);
    r->first_seq = NBLOG__SEQ_LIMIT + 1;
    atomic_store(&r->head, UINT64_MAX);
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->first_seq = 0;
    atomic_store(&r->head, NBLOG__SEQ_LIMIT - 1);
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_OK);
    free(r);
}

/* A resumed ring whose head runs ahead of its slots (writers that died
 * before reserving, or a forged head) has every missing seq of the last
 * lap marked gone: a reader walks to the new records instead of waiting.
 * A skip that does not belong to its slot is forgotten. */
static void test_resume_marks_gaps(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring();
    char text[RSIZE];
    for (int i = 0; i < 3; i++)
        assert_int_equal(put(r, "old", NULL), NBLOG_OK);
    atomic_store(&r->head, 1000);
    struct nblog__slot *s5 = (struct nblog__slot *)((char *)r + r->slots_offset +
                                                    5 * r->record_size);
    atomic_store(&s5->skip, (uint64_t)1 << 63); /* forged, not slot 5's */
    assert_int_equal(nblog__ring_resume(r), NBLOG_OK);
    assert_int_equal(nblog__ring_head(r), 1000);
    for (uint64_t seq = 1000 - RECORDS; seq < 1000; seq++)
        assert_int_equal(get(r, seq, text), NBLOG__READ_GONE);
    uint64_t seq = 0;
    assert_int_equal(put(r, "new", &seq), NBLOG_OK);
    assert_int_equal(seq, 1000);
    assert_int_equal(get(r, 1000, text), NBLOG__READ_OK);
    free(r);
}

/* ---- wall-clock epochs (ring.h struct nblog__wall_epoch) ----------------
 *
 * test_epoch_recycled_takes_closest: a record whose epoch was recycled
 *   takes the oldest one kept; one whose epoch is there takes its own.
 * test_hostile_epoch_table: fuzz-style, random tables, gens and offsets in
 *   a ring image: no undefined behaviour (UBSan), every wall_ns is ts +
 *   some offset of the table or saturated; a table of unused entries gives
 *   INT64_MIN; a wrong count or entry size is corrupt; resume forgets
 *   misplaced entries. (A step end to end: test-wallclock.c.)
 */

static uint64_t put_at(struct nblog__ring_hdr *r, uint64_t ts)
{
    struct nblog__rec_meta m = {.ts_ns = ts, .len = 3, .level = 6};
    assert_int_equal(nblog__ring_write(r, &m, "abc\0\0\0\0\0"), NBLOG_OK);
    return m.seq;
}

static int64_t wall_of(const struct nblog__ring_hdr *r, uint64_t seq)
{
    struct nblog__rec_meta m;
    char text[RSIZE];
    assert_int_equal(nblog__ring_read(r, seq, &m, text, sizeof text), NBLOG__READ_OK);
    return m.wall_ns;
}

static void test_epoch_recycled_takes_closest(void **state)
{
    (void)state;
    struct nblog__ring_hdr *r = new_ring();
    const int64_t s = 1000000000, off1 = nblog__ring_epoch_offset(r);
    uint64_t first = put_at(r, 1000);         /* epoch 1 */
    nblog__ring_epoch_publish(r, off1 + s, 0);
    uint64_t second = put_at(r, 2000);        /* epoch 2 */
    assert_int_equal(wall_of(r, first), 1000 + off1);
    assert_int_equal(wall_of(r, second), 2000 + off1 + s);
    /* Epoch g has offset off1 + (g - 1) s; 32 more recycle 1 and 2. */
    for (unsigned g = 3; g <= NBLOG__EPOCHS + 2; g++)
        assert_int_equal(nblog__ring_epoch_publish(r, off1 + (int64_t)(g - 1) * s, 0), g);
    uint64_t third = put_at(r, 3000);         /* epoch 34 */
    /* Kept: 3..34. Epochs 1 and 2 are gone: both take 3, the closest. */
    assert_int_equal(wall_of(r, first), 1000 + off1 + 2 * s);
    assert_int_equal(wall_of(r, second), 2000 + off1 + 2 * s);
    assert_int_equal(wall_of(r, third), 3000 + off1 + (int64_t)(NBLOG__EPOCHS + 1) * s);
    free(r);
}

/* 64 random bits (random(3), seeded by the test: the same every run). */
static uint64_t rnd(void)
{
    return (uint64_t)random() << 42 ^ (uint64_t)random() << 21 ^ (uint64_t)random();
}

/* A value a forger would try for a gen or an offset. */
static uint64_t nasty(unsigned i)
{
    static const uint64_t pick[] = {0, 1, UINT64_MAX, (uint64_t)INT64_MAX,
                                    (uint64_t)INT64_MIN, NBLOG__EPOCH_MASK,
                                    NBLOG__EPOCH_MASK + 1, NBLOG__EPOCHS};
    uint64_t r = rnd();
    switch (r % 4) {
    case 0: return pick[(r >> 8) % (sizeof pick / sizeof pick[0])];
    case 1: return i + NBLOG__EPOCHS * (rnd() % 4); /* belongs in entry i */
    case 2: return rnd() & NBLOG__EPOCH_MASK;
    default: return rnd();
    }
}

static void poke_meta2_epoch(struct nblog__ring_hdr *r, uint64_t seq, uint64_t gen)
{
    struct nblog__slot *s =
        (struct nblog__slot *)((char *)r + r->slots_offset + (seq % RECORDS) * RSIZE);
    s->meta2 = (s->meta2 & ~NBLOG__EPOCH_MASK) | (gen & NBLOG__EPOCH_MASK);
}

/* wall is saturated, or ts + the offset of one of the table's entries. */
static void assert_plausible(const struct nblog__ring_hdr *r, uint64_t ts, int64_t wall)
{
    if (wall == INT64_MIN || wall == INT64_MAX)
        return;
    for (unsigned i = 0; i < NBLOG__EPOCHS; i++) {
        int64_t w;
        if (ts <= (uint64_t)INT64_MAX &&
            !__builtin_add_overflow((int64_t)ts, r->epochs[i].offset_ns, &w) && w == wall)
            return;
    }
    fail_msg("wall %lld of ts %llu is no entry's", (long long)wall, (unsigned long long)ts);
}

static void test_hostile_epoch_table(void **state)
{
    (void)state;
    srandom(13);
    struct nblog__ring_hdr *t = new_ring();
    for (unsigned i = 0; i < RECORDS + 3; i++)
        put_at(t, (uint64_t)i * 1000);
    size_t bytes = t->total_size;
    struct nblog__ring_hdr *r = aligned_alloc(64, bytes);
    assert_non_null(r);
    for (int round = 0; round < 3000; round++) {
        memcpy(r, t, bytes);
        atomic_store(&r->wall_epoch, nasty(0));
        for (unsigned i = 0; i < NBLOG__EPOCHS; i++) {
            atomic_store(&r->epochs[i].gen, round % 7 == 0 ? 0 : nasty(i));
            r->epochs[i].offset_ns = (int64_t)nasty(i);
        }
        uint64_t oldest = nblog__ring_oldest(r), head = nblog__ring_head(r);
        for (uint64_t seq = oldest; seq < head; seq++)
            if (rnd() % 2)
                poke_meta2_epoch(r, seq, nasty((unsigned)seq));
        for (uint64_t seq = oldest; seq < head; seq++) {
            struct nblog__rec_meta m;
            char text[RSIZE];
            if (nblog__ring_read(r, seq, &m, text, sizeof text) != NBLOG__READ_OK)
                continue;
            if (round % 7 == 0)
                assert_int_equal(m.wall_ns, INT64_MIN); /* no usable epoch */
            assert_plausible(r, m.ts_ns, m.wall_ns);
            /* Whatever ts, any gen, any table: never undefined behaviour. */
            (void)nblog__ring_wall_ns(r, nasty(0), nasty(1));
        }
        /* The public reader over the same image. */
        nblog_reader_t rd;
        assert_int_equal(nblog__reader_open_memory(&rd, r, bytes, NBLOG_FROM_OLDEST),
                         NBLOG_OK);
        nblog_record_t rec;
        char buf[RSIZE];
        int n = 0;
        while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK)
            assert_true(++n <= (int)RECORDS);
        /* A writer resuming it forgets misplaced entries, starts its own. */
        if (round % 50 == 0) {
            assert_int_equal(nblog__ring_resume(r), NBLOG_OK);
            for (unsigned i = 0; i < NBLOG__EPOCHS; i++) {
                uint64_t gen = atomic_load(&r->epochs[i].gen);
                assert_true(gen == 0 || (gen % NBLOG__EPOCHS == i && gen <= NBLOG__EPOCH_MASK));
            }
            uint64_t seq = put_at(r, 5);
            assert_int_equal(wall_of(r, seq), 5 + nblog__ring_epoch_offset(r));
        }
    }
    /* Strict geometry: the table's count and entry size are checked. */
    memcpy(r, t, bytes);
    r->epochs_count = NBLOG__EPOCHS + 1;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    assert_int_equal(nblog__ring_diagnose(r, bytes, NULL, 0), NBLOG__RING_CORRUPT);
    memcpy(r, t, bytes);
    r->epoch_entry_size = 16;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    free(r);
    free(t);
}

/* The debug checkers (ring.c, called inside assert()) can fail: a copy of
 * a good ring with one thing wrong at a time fails the checker that owns
 * it, and the good copy passes them all. With NDEBUG they check nothing. */
static struct nblog__slot *slot_of(struct nblog__ring_hdr *r, uint64_t i)
{
    return (struct nblog__slot *)((char *)r + r->slots_offset + i * r->record_size);
}

static void test_checkers_see_damage(void **state)
{
    (void)state;
#ifdef NDEBUG
    skip();
#endif
    struct nblog__ring_hdr *r = new_ring();
    for (int i = 0; i < 3; i++)
        assert_int_equal(put(r, "rec", NULL), NBLOG_OK); /* head 3 */
    size_t bytes = r->total_size;
    struct nblog__ring_hdr *c = aligned_alloc(64, bytes);
    assert_non_null(c);
    memcpy(c, r, bytes);
    assert_true(nblog__ring_check(c));
    assert_true(nblog__ring_check_epochs(c));
    for (uint64_t i = 0; i < RECORDS; i++)
        assert_true(nblog__ring_check_slot(c, i));
    assert_false(nblog__ring_check_slot(c, RECORDS)); /* no such slot */

    /* The header, a field at a time. */
    c->record_shift++;
    assert_false(nblog__ring_check(c));
    memcpy(c, r, sizeof *c);
    c->records = RECORDS * 2; /* the sizes no longer add up */
    assert_false(nblog__ring_check(c));
    memcpy(c, r, sizeof *c);
    c->total_size += 64;
    assert_false(nblog__ring_check(c));
    memcpy(c, r, sizeof *c);
    c->stats_offset += 128;
    assert_false(nblog__ring_check(c));
    memcpy(c, r, sizeof *c);
    c->first_seq = 4; /* past head */
    assert_false(nblog__ring_check(c));
    memcpy(c, r, sizeof *c);
    c->first_seq = NBLOG__SEQ_LIMIT + 1;
    atomic_store(&c->head, UINT64_MAX);
    assert_false(nblog__ring_check(c));
    memcpy(c, r, sizeof *c);
    assert_true(nblog__ring_check(c));

    /* The epoch table. */
    atomic_store(&c->epochs[3].gen, 4); /* gen 4 belongs in entry 4 */
    assert_false(nblog__ring_check_epochs(c));
    memcpy(c, r, sizeof *c);
    atomic_store(&c->wall_epoch, 2); /* entry 2 is unused */
    assert_false(nblog__ring_check_epochs(c));
    memcpy(c, r, sizeof *c);
    atomic_store(&c->wall_epoch, 0);
    assert_false(nblog__ring_check_epochs(c));
    memcpy(c, r, sizeof *c);
    assert_true(nblog__ring_check_epochs(c));

    /* Slots: the state's seq, its place and kind; the skip's. */
    struct nblog__slot *s1 = slot_of(c, 1);
    uint64_t good = atomic_load(&s1->state);
    atomic_store(&s1->state, (uint64_t)2 << 2 | NBLOG__SLOT_COMMITTED); /* slot 2's seq */
    assert_false(nblog__ring_check_slot(c, 1));
    atomic_store(&s1->state, (uint64_t)(1 + RECORDS) << 2 | NBLOG__SLOT_COMMITTED);
    assert_false(nblog__ring_check_slot(c, 1)); /* not handed out yet */
    atomic_store(&s1->state, (uint64_t)1 << 2 | 3u); /* no such state */
    assert_false(nblog__ring_check_slot(c, 1));
    atomic_store(&s1->state, good);
    atomic_store(&s1->skip, 3); /* 1 + seq 2: slot 2's */
    assert_false(nblog__ring_check_slot(c, 1));
    atomic_store(&s1->skip, 2 + RECORDS); /* slot 1's, but past head */
    assert_false(nblog__ring_check_slot(c, 1));
    atomic_store(&s1->skip, 2); /* 1 + seq 1: as a pinned writer leaves it */
    assert_true(nblog__ring_check_slot(c, 1));
    free(c);
    free(r);
}

/* ------------------------------------------------- the data area */

static struct nblog__ring_hdr *new_data_ring(size_t *bytes)
{
    struct nblog__ring_geom g;
    assert_int_equal(nblog__ring_geom_make(&g, RECORDS, RSIZE, 1024, 4096), NBLOG_OK);
    *bytes = nblog__ring_bytes_geom(&g);
    void *mem = aligned_alloc(64, *bytes);
    assert_non_null(mem);
    memset(mem, 0, *bytes);
    nblog__ring_format_geom(mem, &g, 0);
    return mem;
}

static char spill_text[1024 + 8];

static int put_long(struct nblog__ring_hdr *r, uint32_t len, char c, uint64_t *seq)
{
    memset(spill_text, c, len);
    struct nblog__rec_meta m = {.ts_ns = 42, .tid = 7, .level = 3, .len = len};
    int rc = nblog__ring_write(r, &m, spill_text);
    *seq = m.seq;
    return rc;
}

/* The data area's header fields are checked before any is used. */
static void test_validate_data_area(void **state)
{
    (void)state;
    size_t bytes;
    struct nblog__ring_hdr *r = new_data_ring(&bytes);
    assert_int_equal(r->data_granules, 64);
    assert_int_equal(nblog__ring_text_max(r), 1024);
    assert_int_equal(nblog__ring_inline_max(r), RSIZE - NBLOG__SLOT_HDR);
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_OK);
    assert_int_equal(nblog__ring_validate(r, bytes - 1), NBLOG_ECORRUPT); /* data cut */
    r->text_max = NBLOG__TEXT_MAX_LIMIT + 1;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->text_max = 1024;
    r->granule_size = 32;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->granule_size = NBLOG__GRANULE;
    r->data_granules = 63; /* not a power of two */
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->data_granules = 16; /* less than two runs of text_max */
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->data_granules = 0; /* none, with a text_max past the slot */
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->data_granules = (uint64_t)1 << 40;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    r->data_granules = 64;
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_OK);
    r->version = 3; /* the layout before the data area */
    assert_int_equal(nblog__ring_validate(r, bytes), NBLOG_ECORRUPT);
    free(r);
}

/* Resume gives back granules a dead writer left WRITING, forgets owners no
 * writer could have left, and keeps committed spilled records whole; a
 * reader of a forged owner sees the record gone, never its bytes. */
static void test_resume_data_area(void **state)
{
    (void)state;
    size_t bytes;
    struct nblog__ring_hdr *r = new_data_ring(&bytes);
    uint64_t a, b, c;
    assert_int_equal(put_long(r, 500, 'a', &a), NBLOG_OK);
    assert_int_equal(put_long(r, 300, 'b', &b), NBLOG_OK);
    assert_int_equal(put_long(r, 300, 'c', &c), NBLOG_OK);
    struct nblog__granule *g = (struct nblog__granule *)(void *)((char *)r + r->slots_offset +
                                                                 RECORDS * RSIZE);
    /* b's run, found from its slot's position word. */
    const struct nblog__slot *sb = (const struct nblog__slot *)(const void *)
        ((const char *)r + r->slots_offset + (b % RECORDS) * RSIZE);
    uint64_t bpos;
    memcpy(&bpos, sb->text, 8);
    /* Damage: a granule a dead writer left WRITING (a newer seq's: its
     * slot never committed), one forged past head, one with no state. */
    atomic_store(&g[(bpos + 1) % 64].owner, (c + 1) << 2 | NBLOG__GRAN_WRITING);
    atomic_store(&g[60].owner, (uint64_t)1000 << 2 | NBLOG__GRAN_DONE);
    atomic_store(&g[61].owner, (uint64_t)1 << 2);
    atomic_store(&r->head, c + 2); /* the dead writer had seq c + 1 */
    assert_int_equal(nblog__ring_resume(r), NBLOG_OK);
    assert_int_equal(atomic_load(&g[(bpos + 1) % 64].owner), (c + 1) << 2 | NBLOG__GRAN_DONE);
    assert_int_equal(atomic_load(&g[60].owner), 0);
    assert_int_equal(atomic_load(&g[61].owner), 0);
    assert_true(nblog__ring_check_data(r));
    static char text[1024 + 8];
    struct nblog__rec_meta m;
    assert_int_equal(nblog__ring_read(r, a, &m, text, sizeof text), NBLOG__READ_OK);
    assert_int_equal(m.len, 500);
    assert_int_equal(text[499], 'a');
    assert_int_equal(nblog__ring_read(r, c, &m, text, sizeof text), NBLOG__READ_OK);
    /* b's second granule now names another record: b is gone. */
    assert_int_equal(nblog__ring_read(r, b, &m, text, sizeof text), NBLOG__READ_GONE);
    /* Writers go on after resume, taking granules as ever. */
    uint64_t d;
    assert_int_equal(put_long(r, 1024, 'd', &d), NBLOG_OK);
    assert_int_equal(nblog__ring_read(r, d, &m, text, sizeof text), NBLOG__READ_OK);
    assert_int_equal(m.len, 1024);
    assert_int_equal(m.flags & NBLOG_F_TRUNCATED, 0);
    for (int i = 0; i < 1024; i++)
        assert_int_equal(text[i], 'd');
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_then_read),
        cmocka_unit_test(test_overwrite_oldest),
        cmocka_unit_test(test_pinned_slot_loses_one_per_lap),
        cmocka_unit_test(test_reserved_record_is_pending),
        cmocka_unit_test(test_stopped_writer_does_not_block_readers),
        cmocka_unit_test(test_continues_sequence),
        cmocka_unit_test(test_validate_rejects_damage),
        cmocka_unit_test(test_corrupt_length_not_trusted),
        cmocka_unit_test(test_seq_limit),
        cmocka_unit_test(test_validate_checks_seqs),
        cmocka_unit_test(test_resume_marks_gaps),
        cmocka_unit_test(test_epoch_recycled_takes_closest),
        cmocka_unit_test(test_hostile_epoch_table),
        cmocka_unit_test(test_checkers_see_damage),
        cmocka_unit_test(test_validate_data_area),
        cmocka_unit_test(test_resume_data_area),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

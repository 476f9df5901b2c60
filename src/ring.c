/*
 * ring.c - the log store.
 *
 * DESIGN
 *
 * The store is one block of memory: a header, then `records` slots of
 * `record_size` bytes each (both powers of two), then the data area of
 * `data_granules` granules of 64 bytes (a power of two, or none). Sequence
 * numbers are handed out by one atomic counter, head; record `seq` lives in
 * slot `seq & (records - 1)`. A slot starts with two atomic words, then the
 * record (timestamp, metadata, text):
 *
 *     header | console stats table | slot 0 | ... | slot N-1 | granule 0 | ... | granule G-1 | site table
 *              state: seq << 2 | EMPTY / RESERVED / COMMITTED
 *              skip:  1 + highest seq that found the slot pinned (0: none)
 *              ts_ns, meta, meta2, text[inline room]
 *                                                 owner: seq << 2 | FREE / WRITING / DONE
 *                                                 data[56]
 *
 * The site table (sites.c: where records were logged from, N / 8 entries
 * of 128 bytes, 64 to 8192) ends the block; a slot's meta2 names its
 * record's entry.
 *
 * Slots are fixed-size, as the kernel's descriptor ring is: one fetch_add
 * and one CAS per record, no tail chasing, and a slot is found from a seq
 * by a mask. Variable size comes from the data area, as the kernel's data
 * ring: a record whose text (or deferred payload) fits the slot's inline
 * room (record_size - 40: 88 bytes in the default 128-byte slots) is all
 * in the slot; a longer one (up to text_max, default 16 KiB) keeps a data
 * position word and its first inline room - 8 bytes in the slot and the
 * rest in a run of granules from that position. So the default ring
 * (65,536 slots of 128 bytes, 8 MiB, plus a 4 MiB data area: 12 MiB and
 * the 5.4 KiB header and stats table) holds 65,536 small records, where
 * the layout before it (8,192 slots of 512 bytes, 4 MiB) held 8,192 and
 * cut text at 472 bytes. Whether a record spilled is its length alone:
 * len > inline room.
 *
 * SPILLED TEXT. Granules are taken round-robin: a writer adds the run's
 * length to data_head (a raw counter, masked; D1) and owns granules
 * [pos, pos + n) by moving each one's owner word, by CAS, from FREE or
 * (older seq, DONE) to (seq, WRITING); it fills them and, before its slot
 * commits, stores (seq, DONE) in each. The owner word is each granule's
 * seqlock, as the slot state is the slot's: a reader of a committed
 * spilled record copies the granules and then checks, after an acquire
 * fence, that every one still says (seq, DONE); if one does not, newer
 * records took the text (the data area lapped it) and the record is GONE
 * for that reader: counted missed exactly as a lapped slot is, never
 * returned torn or with another record's bytes. Owners only grow: a
 * writer never takes a granule that is WRITING (pinned: its writer, maybe
 * a preempted thread or the code a signal handler interrupted, has not
 * committed) or owned by a newer seq (we were preempted while the data
 * area lapped). Then it does not wait and does not lose the record: it
 * gives back what it took (DONE under its own seq: no slot names them),
 * stores the record cut to its inline room (text ending in
 * NBLOG_TRUNC_MARKER on a UTF-8 boundary; a deferred payload cut, which
 * its renderer marks), sets NBLOG_F_TRUNCATED and counts header.spill_cut.
 * A signal handler interrupting a writer mid-record takes its own seq,
 * slot and granules (after the interrupted writer's, data_head having
 * moved past them), so it logs whole unless the data area has lapped.
 * The data area holds at least two runs of text_max (nblog__ring_geom_make
 * raises a smaller one; validation refuses a file without), so a writer
 * never meets its own run.
 *
 * ORDER. The seq is the one total order of records: every console,
 * reader and the panic flush walk seqs upwards (nblog__ring_next), so all
 * print in it, each record once or counted missed. Time is not monotone
 * in seq across threads: callers take the timestamp before step 1, so a
 * writer preempted between its clock read and its fetch_add gets a later
 * seq than records stamped after it. Within a thread seq and time grow
 * together.
 *
 * Slot states, for the record whose seq is in `state`:
 *
 *   EMPTY      never written; only before the ring's first lap.
 *   RESERVED   writer `seq` owns the slot and is filling it. Nobody else
 *              writes the record bytes; a writer of a later lap that maps
 *              here finds the slot "pinned" and gives up (see below).
 *   COMMITTED  the record is complete. Readers may copy it. A writer of a
 *              later lap may take the slot at any time (overwrite-oldest),
 *              so readers validate their copy afterwards.
 *
 * "Not the record you asked for": a reader that wants seq s from slot
 * s & mask may find
 *   - state.seq == s, COMMITTED: copy it, then re-read state; if it changed
 *     during the copy the copy is discarded (s was overwritten: GONE);
 *   - state.seq == s, RESERVED: being written (PENDING), unless the ring
 *     has lapped s (seq s + records handed out): then GONE, so a writer stopped
 *     mid-record (preempted, or a signal handler that never returns) cannot
 *     hold readers at s;
 *   - state.seq > s: s was overwritten (GONE);
 *   - state.seq < s (or EMPTY): s is not in the slot yet. If skip > s, the
 *     writer of s (or of a later lap) found the slot pinned: s is GONE. If
 *     s >= head it was never handed out (EMPTY); otherwise its writer has
 *     its number but has not reserved the slot yet (PENDING, or GONE once
 *     lapped, as above). A GONE record may still be committed later by its
 *     late writer; readers have counted it missed, so nobody reads it twice
 *     and the books stay exact.
 * A reader that finds s GONE jumps to max(s + 1, head - records) and counts
 * every seq it jumped over as missed: each seq is either returned or counted
 * once, so read + missed == the range walked, exactly. That step is
 * nblog__ring_next, the only one: every reader walks the ring with it.
 *
 * Writers (nblog__ring_write):
 *   1. seq = fetch_add(head, 1).                         Never fails;
 *      a seq at or past NBLOG__SEQ_LIMIT (2^62: state keeps seq << 2) is
 *      refused, counted in header.lost (ring.h says what that means).
 *   2. Load the slot's state and, in a CAS loop, move it to (seq, RESERVED)
 *      if it is EMPTY or holds an older seq that is COMMITTED. If it holds
 *      an older seq that is RESERVED, a preempted (or dead) writer pins it:
 *      raise skip to seq + 1 so readers learn seq is gone, count the loss in
 *      header.lost and return NBLOG_ELOST, without waiting. If it holds a
 *      newer seq (we were preempted for a whole lap), seq is lost the same
 *      way. So a stuck writer costs one record per lap, never a stall.
 *   3. Store the record with relaxed atomic stores (spilling its text
 *      past the inline room as SPILLED TEXT says), then the state
 *      (seq, COMMITTED) with release.
 * Reserving a seq and then failing keeps the store's books exact:
 *   head (reserved; the raw counter) - first_seq == records committed +
 *   header.lost
 * once no write is in flight. The ring never waits: a signal handler that
 * interrupts a writer between steps 1 and 3 on the same thread takes the
 * next seq and another slot (or, a whole lap later, loses one record).
 *
 * The console stats table (32 entries of 128 bytes) and the header's
 * follower fields belong to the writer process's publisher (publish.c),
 * which keeps them up to date for tools reading the ring from a file; the
 * logging path never touches them.
 *
 * A file left by a dead writer is made writable again by
 * nblog__ring_resume(): its slots and granules still hold every committed
 * record (a granule the dead writer left WRITING is given back as DONE, an
 * owner no writer could have left is forgotten: FREE), and
 * head (in the file) is where the dead writer stopped. A slot it left
 * RESERVED is the only damage: it is turned into an EMPTY slot whose skip
 * says its record is gone, so readers count it missed and writers reuse it.
 * The file is trusted no more than a reader trusts it: a state or skip
 * that does not belong in its slot is forgotten, head moves past every
 * seq the slots show, and every seq of the last lap below head that is not
 * committed in its slot is marked gone there (a writer that died between
 * steps 1 and 2, or a forged head), so no reader waits for it. A head at
 * NBLOG__SEQ_LIMIT cannot go on: the caller formats the ring afresh.
 *
 * Wall-clock epochs (struct nblog__wall_epoch, ring.h): a record's slot
 * keeps ts_ns and, in meta2, the gen of the epoch current when it was
 * stored; its wall time is ts_ns + that epoch's offset_ns. The header
 * keeps the last NBLOG__EPOCHS epochs, entry gen % NBLOG__EPOCHS; format
 * starts epoch 1, resume starts a new one (a new writer process, maybe
 * after a reboot: CLOCK_MONOTONIC started again, the file's old records
 * keep their own epochs), the writer process's wall-clock thread
 * (wallclock.c) the others. A record whose epoch was recycled takes the
 * closest one still there (by gen: the oldest), so its time may be off by
 * what the clock was set by since; nblog__ring_wall_ns.
 *
 * Who writes what: head, lost, data_head and spill_cut - any writer,
 * atomically. state - the
 * writer that reserves (CAS) and commits (store) it. skip - writers that
 * find the slot pinned (CAS, only upwards). ts_ns/meta/meta2/text - only the
 * writer holding the slot RESERVED. A granule's owner - the writer that
 * takes it (CAS) and marks it DONE (store); its data - only that writer
 * while it is WRITING. wall_epoch and epochs[] -
 * nblog__ring_epoch_publish, one caller at a time. The rest of the header
 * - format only.
 *
 * MEMORY ORDERING (tags name each access; "pairs with" at each site)
 *
 *   W1  writer: CAS state -> RESERVED (relaxed), then a release fence
 *   W2  writer: relaxed stores of the record
 *   W3  writer: store state = COMMITTED (release)
 *   R1  reader: load state (acquire)
 *   R2  reader: relaxed loads of the record
 *   R3  reader: acquire fence, then load state again (relaxed)
 *
 *   R1 pairs with W3: a reader that sees COMMITTED for seq sees all of W2.
 *   E1  publisher: entry gen = 0 (relaxed), release fence, offset_ns and
 *       since_* (relaxed), entry gen = g (release); then wall_epoch = g
 *       (release)
 *   E2  reader: entry gen (acquire), offset_ns (relaxed), acquire fence,
 *       entry gen again (relaxed); writers load wall_epoch relaxed
 *
 *   E2 pairs with E1 as R1/R3 with W3/W1: an offset read while the entry
 *   was being rewritten comes with a gen that changed, and is not used.
 *   A writer's relaxed load of wall_epoch orders nothing: a reader that
 *   does not (yet) see the entry its record names takes the closest one.
 *
 *   R3 pairs with W1: if any R2 load returned a byte a later writer stored
 *   (its W2, after its W1 fence), R3's load sees that writer's RESERVED (or
 *   later) state, so the torn copy is detected and discarded. This is the
 *   seqlock argument (Boehm, "Can seqlocks get along with programming
 *   language memory models?", 2012) with the slot state as the sequence.
 *   Every shared byte is accessed atomically, so the copies are data-race
 *   free in C11 terms and ThreadSanitizer agrees.
 *
 *   H1  writer: fetch_add head (seq_cst)
 *   H2  reader: load head (relaxed), nblog__ring_head
 *   head needs no ordering for the store itself: the slot CAS, not head,
 *   orders writers of the same slot, and seqs only need to be unique (H1
 *   is seq_cst for the printers' wake-up protocol, printer.c; its tags
 *   Z1/Z2 are in console_impl.h).
 *   Readers use head (H2, relaxed) only to bound their jumps; a stale
 *   value makes them wait or jump less far, never return a wrong record.
 *
 *   G1  writer: CAS each granule owner -> (seq, WRITING) (relaxed), then
 *       a release fence (spill)
 *   G2  writer: relaxed stores of the granules' data; then owner =
 *       (seq, DONE) (relaxed), all before W3
 *   G3  reader: after R1, relaxed copy of the granules (R2), the R3
 *       acquire fence, then each owner (relaxed) == (seq, DONE)
 *
 *   W3/R1 publish G2 as they publish W2: a reader that sees COMMITTED for
 *   seq sees the granules' bytes and DONE owners (or later values). G3's
 *   fence pairs with G1's: if the copy read any byte a later owner stored
 *   (after its G1 fence), the owner check sees that owner's word (or a
 *   later one), so the copy is discarded as GONE. Owner stores of DONE
 *   are relaxed: only writers look at WRITING, to not take a pinned
 *   granule, and a stale WRITING costs them a cut, never a wrong record.
 *   D1  writer: fetch_add data_head (relaxed): positions need only be
 *       unique; the owner CAS, not data_head, orders writers of a granule.
 *       spill_cut is a statistic (relaxed), as lost.
 *
 *   S1  writer: CAS skip upwards (release), mark_skipped
 *   S2  reader: load skip (acquire), absent()
 *   S2 pairs with S1 for the value only: nothing else is published with
 *   it. lost is a statistic (relaxed), read once writers stop.
 *   Format and resume store head, lost, data_head, spill_cut, states,
 *   skips, owners and gens relaxed:
 *   no other thread of the process has the ring yet; the lifecycle
 *   publishes it with a release store (lifecycle.c map_ring).
 */
#include "ring.h"

#include <assert.h>
#include <string.h>
#include <unistd.h>

#include "nblog.h"
#include "platform.h"
#include "testhooks.h"

#define STATE(seq, st) (((uint64_t)(seq) << 2) | (st))
#define STATE_SEQ(w) ((w) >> 2)
#define STATE_ST(w) ((w)&3u)

#ifdef NBLOG_TEST_HOOKS
void (*_Atomic nblog__test_hook_reserved)(uint64_t seq);
void (*_Atomic nblog__test_hook_spilled)(uint64_t seq);
#endif

static inline struct nblog__slot *slot_at(const struct nblog__ring_hdr *r,
                                          uint64_t seq)
{
    uintptr_t base = (uintptr_t)r + (uintptr_t)r->slots_offset;
    uint64_t idx = seq & (r->records - 1);
    return (struct nblog__slot *)(base + ((uintptr_t)idx << r->record_shift));
}

#ifndef NDEBUG /* debug checkers, at the end of the file */
static int formatted_check(const struct nblog__ring_hdr *r);
static int resumed_check(const struct nblog__ring_hdr *r);
static int owners_check(const struct nblog__ring_hdr *r);
#endif

size_t nblog__ring_slots_offset(void)
{
    return sizeof(struct nblog__ring_hdr) +
           NBLOG__STATS_SLOTS * NBLOG__STATS_ENTRY_SIZE;
}

static uint32_t log2u(uint64_t v)
{
    return (uint32_t)(63 - __builtin_clzll(v));
}

static int is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static uint64_t round_pow2(uint64_t v)
{
    return v <= 1 ? 1 : (uint64_t)1 << (64 - __builtin_clzll(v - 1));
}

/* Granules a spilled text of len bytes takes in a ring whose slots have
 * inline room inl: the slot keeps the position word and inl - 8 bytes. */
static uint64_t spill_granules(uint32_t inl, uint64_t len)
{
    return len > inl ? (len - (inl - 8) + NBLOG__GRANULE_DATA - 1) / NBLOG__GRANULE_DATA : 0;
}

int nblog__ring_geom_make(struct nblog__ring_geom *g, uint64_t records,
                          uint64_t record_size, uint64_t text_max,
                          uint64_t data_bytes)
{
    if (records > NBLOG__RECORDS_MAX || record_size > NBLOG__RECORD_SIZE_MAX ||
        text_max > NBLOG__TEXT_MAX_LIMIT || data_bytes > NBLOG__DATA_BYTES_MAX)
        return NBLOG_EINVAL;
    struct nblog__ring_geom n;
    n.records = round_pow2(records ? records : NBLOG__RECORDS_DEFAULT);
    if (n.records < NBLOG__RECORDS_MIN)
        n.records = NBLOG__RECORDS_MIN;
    uint64_t size = round_pow2(record_size ? record_size : NBLOG__RECORD_SIZE_DEFAULT);
    n.record_size = (uint32_t)(size < NBLOG__RECORD_SIZE_MIN ? NBLOG__RECORD_SIZE_MIN : size);
    uint32_t inl = n.record_size - NBLOG__SLOT_HDR;
    n.text_max = (uint32_t)(text_max ? text_max : NBLOG__TEXT_MAX_DEFAULT);
    n.granules = 0;
    if (data_bytes == 0) {
        if (n.text_max > inl)
            n.text_max = inl; /* no data area: the slot is the limit */
        *g = n;
        return NBLOG_OK;
    }
    /* Room for two records of text_max at least, so one writer never
     * finds its own run in its way. At most 2 * 293 granules: far below
     * the maximum. */
    uint64_t need = 2 * spill_granules(inl, n.text_max) * NBLOG__GRANULE;
    uint64_t bytes = round_pow2(data_bytes > need ? data_bytes : need);
    if (bytes < NBLOG__GRANULE * 16)
        bytes = NBLOG__GRANULE * 16;
    assert(bytes <= NBLOG__DATA_BYTES_MAX);
    n.granules = bytes / NBLOG__GRANULE;
    *g = n;
    return NBLOG_OK;
}

void nblog__ring_geom_of(const struct nblog__ring_hdr *r, struct nblog__ring_geom *g)
{
    g->records = r->records;
    g->record_size = r->record_size;
    g->text_max = r->text_max;
    g->granules = r->data_granules;
}

size_t nblog__ring_bytes_geom(const struct nblog__ring_geom *g)
{
    return nblog__ring_slots_offset() + (size_t)g->records * g->record_size +
           (size_t)g->granules * NBLOG__GRANULE +
           (size_t)nblog__ring_sites_for(g->records) * NBLOG__SITE_ENTRY;
}

size_t nblog__ring_bytes(uint64_t records, uint32_t record_size)
{
    struct nblog__ring_geom g = {records, record_size, 0, 0};
    return nblog__ring_bytes_geom(&g);
}

/* Where the data area starts: after the slots. */
static inline uint64_t data_offset(const struct nblog__ring_hdr *r)
{
    return r->slots_offset + r->records * r->record_size;
}

/* The granule at position pos (a raw data_head value: masked). */
static inline struct nblog__granule *gran_at(const struct nblog__ring_hdr *r, uint64_t pos)
{
    uintptr_t base = (uintptr_t)r + (uintptr_t)data_offset(r);
    return (struct nblog__granule *)(base + (uintptr_t)(pos & (r->data_granules - 1)) *
                                                NBLOG__GRANULE);
}

void nblog__ring_format(void *mem, uint64_t records, uint32_t record_size,
                        uint64_t first_seq)
{
    struct nblog__ring_geom g = {records, record_size, record_size - NBLOG__SLOT_HDR, 0};
    nblog__ring_format_geom(mem, &g, first_seq);
}

void nblog__ring_format_geom(void *mem, const struct nblog__ring_geom *g,
                             uint64_t first_seq)
{
    struct nblog__ring_hdr *r = mem;
    uint64_t records = g->records;
    uint32_t record_size = g->record_size;
    assert(is_pow2(records) && is_pow2(record_size));
    assert(first_seq <= NBLOG__SEQ_LIMIT);
    assert(record_size >= NBLOG__RECORD_SIZE_MIN &&
           record_size <= NBLOG__RECORD_SIZE_MAX);
    assert(g->text_max <= NBLOG__TEXT_MAX_LIMIT && (g->granules == 0 || is_pow2(g->granules)));
    memcpy(r->magic, NBLOG__RING_MAGIC, sizeof r->magic);
    r->version = NBLOG__RING_VERSION;
    r->hdr_size = sizeof *r;
    r->record_size = record_size;
    r->record_shift = log2u(record_size);
    r->records = records;
    r->slots_offset = nblog__ring_slots_offset();
    r->stats_offset = sizeof *r;
    r->stats_slots = NBLOG__STATS_SLOTS;
    r->stats_entry_size = NBLOG__STATS_ENTRY_SIZE;
    r->text_max = g->text_max;
    r->granule_size = NBLOG__GRANULE;
    r->data_granules = g->granules;
    r->sites = nblog__ring_sites_for(records);
    r->site_gen = nblog__ring_site_gen_next();
    r->total_size = nblog__ring_bytes_geom(g);
    r->epochs_count = NBLOG__EPOCHS;
    r->epoch_entry_size = sizeof(struct nblog__wall_epoch);
    r->writer_pid = (uint32_t)getpid();
    r->first_seq = first_seq;
    /* Relaxed: the ring is published to other threads afterwards by the
     * caller's release store (lifecycle.c map_ring, pairs with the acquire
     * loads of nblog__life.ring and ring_now's, console_impl.h K2). */
    atomic_store_explicit(&r->head, first_seq, memory_order_relaxed);
    atomic_store_explicit(&r->lost, 0, memory_order_relaxed);
    atomic_store_explicit(&r->data_head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->spill_cut, 0, memory_order_relaxed);
    uint64_t at;
    int64_t off = nblog__wall_offset_ns(&at);
    nblog__ring_epoch_publish(r, off, at); /* epoch 1: the table is zero */
    /* Slots are zero: state EMPTY, skip 0; granules FREE. */
    assert(nblog__ring_validate(mem, r->total_size) == NBLOG_OK);
    assert(nblog__ring_check(r) && nblog__ring_check_epochs(r) && formatted_check(r));
}

int nblog__ring_validate(const void *mem, size_t bytes)
{
    const struct nblog__ring_hdr *r = mem;
    if (bytes < sizeof *r || memcmp(r->magic, NBLOG__RING_MAGIC, 8) != 0)
        return NBLOG_ECORRUPT;
    if (r->version != NBLOG__RING_VERSION || r->hdr_size != sizeof *r)
        return NBLOG_ECORRUPT;
    if (!is_pow2(r->record_size) || r->record_size < NBLOG__RECORD_SIZE_MIN ||
        r->record_size > NBLOG__RECORD_SIZE_MAX ||
        r->record_shift != log2u(r->record_size))
        return NBLOG_ECORRUPT;
    if (!is_pow2(r->records) || r->records < NBLOG__RECORDS_MIN ||
        r->records > NBLOG__RECORDS_MAX)
        return NBLOG_ECORRUPT;
    if (r->stats_offset != sizeof *r || r->stats_slots != NBLOG__STATS_SLOTS ||
        r->stats_entry_size != NBLOG__STATS_ENTRY_SIZE)
        return NBLOG_ECORRUPT;
    if (r->epochs_count != NBLOG__EPOCHS ||
        r->epoch_entry_size != sizeof(struct nblog__wall_epoch))
        return NBLOG_ECORRUPT;
    /* The data area: bounds before anything is computed from them. A
     * text_max past the inline room needs room for two runs of it. */
    uint32_t inl = r->record_size - NBLOG__SLOT_HDR;
    if (r->granule_size != NBLOG__GRANULE || r->text_max > NBLOG__TEXT_MAX_LIMIT ||
        r->data_granules > NBLOG__DATA_BYTES_MAX / NBLOG__GRANULE ||
        (r->data_granules != 0 && !is_pow2(r->data_granules)) ||
        (r->text_max > inl &&
         2 * spill_granules(inl, r->text_max) > r->data_granules))
        return NBLOG_ECORRUPT;
    struct nblog__ring_geom g;
    nblog__ring_geom_of(r, &g);
    if (r->sites != nblog__ring_sites_for(r->records))
        return NBLOG_ECORRUPT;
    if (r->slots_offset != nblog__ring_slots_offset() ||
        r->total_size != nblog__ring_bytes_geom(&g) || r->total_size > bytes)
        return NBLOG_ECORRUPT;
    /* Relaxed: a value to check; another process may be moving it, only
     * upwards (see NBLOG__SEQ_LIMIT for why it may pass the limit). */
    uint64_t head = atomic_load_explicit((_Atomic uint64_t *)&r->head,
                                         memory_order_relaxed);
    if (r->first_seq > NBLOG__SEQ_LIMIT || head < r->first_seq)
        return NBLOG_ECORRUPT;
    return NBLOG_OK;
}

static void mark_skipped_relaxed(struct nblog__slot *s, uint64_t seq)
{
    /* Relaxed: single-threaded use in nblog__ring_resume (see there). */
    if (atomic_load_explicit(&s->skip, memory_order_relaxed) < seq + 1)
        atomic_store_explicit(&s->skip, seq + 1, memory_order_relaxed);
}

/* Resume, first pass over slot i: forgets a state or skip no writer could
 * have left there, turns a dead writer's RESERVED slot into EMPTY with
 * skip set, and returns the head this slot implies (what it holds or says
 * is gone, + 1), at least head. */
static uint64_t resume_slot(struct nblog__ring_hdr *r, uint64_t i, uint64_t head)
{
    /* Relaxed: see nblog__ring_resume. */
    struct nblog__slot *s = slot_at(r, i);
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    uint64_t skip = atomic_load_explicit(&s->skip, memory_order_relaxed);
    /* skip is 1 + a seq of this slot, so at most the limit. */
    if (skip && (skip > NBLOG__SEQ_LIMIT || ((skip - 1) & (r->records - 1)) != i)) {
        atomic_store_explicit(&s->skip, 0, memory_order_relaxed);
        skip = 0;
    }
    if (skip > head)
        head = skip;
    if (STATE_ST(st) == NBLOG__SLOT_EMPTY)
        return head;
    if ((STATE_SEQ(st) & (r->records - 1)) != i || STATE_ST(st) > 2 ||
        STATE_SEQ(st) < r->first_seq) {
        /* Not a state a writer could have left: forget it. */
        atomic_store_explicit(&s->state, 0, memory_order_relaxed);
        return head;
    }
    if (STATE_SEQ(st) >= head)
        head = STATE_SEQ(st) + 1; /* a stale head cannot hand it out again */
    if (STATE_ST(st) != NBLOG__SLOT_COMMITTED) {
        mark_skipped_relaxed(s, STATE_SEQ(st));
        atomic_store_explicit(&s->state, 0, memory_order_relaxed);
    }
    return head;
}

/* Resume, the data area: a granule left WRITING by the dead writer is
 * given back (DONE, its seq kept: its record's slot was made EMPTY above,
 * so nobody reads it); an owner no writer could have left (a state that
 * is none, a seq below first_seq or at or past head) is forgotten (FREE:
 * any writer may take it, and no reader's record can name it as its own).
 * data_head may be anything: writers mask it. */
static void resume_data(struct nblog__ring_hdr *r, uint64_t head)
{
    /* Relaxed: see nblog__ring_resume. */
    for (uint64_t i = 0; i < r->data_granules; i++) {
        struct nblog__granule *g = gran_at(r, i);
        uint64_t o = atomic_load_explicit(&g->owner, memory_order_relaxed);
        if (o == 0)
            continue;
        if (STATE_ST(o) == 0 || STATE_ST(o) > NBLOG__GRAN_DONE ||
            STATE_SEQ(o) < r->first_seq || STATE_SEQ(o) >= head)
            atomic_store_explicit(&g->owner, 0, memory_order_relaxed);
        else if (STATE_ST(o) == NBLOG__GRAN_WRITING)
            atomic_store_explicit(&g->owner, STATE(STATE_SEQ(o), NBLOG__GRAN_DONE),
                                  memory_order_relaxed);
    }
}

int nblog__ring_resume(struct nblog__ring_hdr *r)
{
    assert(nblog__ring_validate(r, r->total_size) == NBLOG_OK);
    /* Relaxed throughout: no other thread of this process uses the ring
     * yet; the caller publishes it with a release store (lifecycle.c
     * map_ring). Readers in
     * other processes may look on: they see each slot either as it was or
     * EMPTY-with-skip, both of which say "not readable" for a RESERVED one. */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head >= NBLOG__SEQ_LIMIT)
        return NBLOG_ECORRUPT; /* ran out, or forged: nothing to hand out */
    for (uint64_t i = 0; i < r->records; i++)
        head = resume_slot(r, i, head);
    if (head >= NBLOG__SEQ_LIMIT)
        return NBLOG_ECORRUPT; /* a slot claims the last seq there is */
    /* Second pass: each seq of the last lap below head is in its slot,
     * committed, or marked gone there, so no reader waits for a record no
     * writer will ever store. */
    uint64_t mask = r->records - 1;
    for (uint64_t i = 0; i < r->records && i < head; i++) {
        uint64_t seq = head - 1 - ((head - 1 - i) & mask); /* newest of slot i */
        if (seq < r->first_seq)
            continue; /* never handed out */
        struct nblog__slot *s = slot_at(r, i);
        if (atomic_load_explicit(&s->state, memory_order_relaxed) !=
            STATE(seq, NBLOG__SLOT_COMMITTED))
            mark_skipped_relaxed(s, seq);
    }
    atomic_store_explicit(&r->head, head, memory_order_relaxed);
    resume_data(r, head);
    nblog__ring_sites_resume(r);
    r->writer_pid = (uint32_t)getpid();
    r->site_gen = nblog__ring_site_gen_next();
    /* An epoch entry no publisher could have left (its gen does not
     * belong in its place) is forgotten; then this writer's epoch starts:
     * CLOCK_MONOTONIC may have started again (a reboot), so the old
     * records keep theirs. */
    for (unsigned i = 0; i < NBLOG__EPOCHS; i++) {
        uint64_t gen = atomic_load_explicit(&r->epochs[i].gen, memory_order_relaxed);
        if (gen % NBLOG__EPOCHS != i || gen > NBLOG__EPOCH_MASK)
            atomic_store_explicit(&r->epochs[i].gen, 0, memory_order_relaxed);
    }
    uint64_t at;
    int64_t off = nblog__wall_offset_ns(&at);
    nblog__ring_epoch_publish(r, off, at);
    assert(nblog__ring_check(r) && nblog__ring_check_epochs(r) && resumed_check(r));
    return NBLOG_OK;
}

/* Raises skip to seq + 1 unless it is already higher. */
static void mark_skipped(struct nblog__slot *s, uint64_t seq)
{
    /* Relaxed load; the CAS below is S1, release: pairs with S2, the
     * reader's acquire load of skip, which needs nothing else from us. */
    uint64_t cur = atomic_load_explicit(&s->skip, memory_order_relaxed);
    while (cur < seq + 1 &&
           !atomic_compare_exchange_weak_explicit(&s->skip, &cur, seq + 1,
                                                  memory_order_release,
                                                  memory_order_relaxed))
        ;
}

/* Step 2 of the writer: move the slot to (seq, RESERVED), or say why not. */
static int reserve_slot(struct nblog__slot *s, uint64_t seq)
{
    /* Relaxed: we only need the value for the CAS; the CAS is the ordering
     * point against other writers of this slot. */
    uint64_t cur = atomic_load_explicit(&s->state, memory_order_relaxed);
    for (;;) {
        int empty = STATE_ST(cur) == NBLOG__SLOT_EMPTY;
        if (!empty && STATE_SEQ(cur) >= seq)
            return 0; /* a later lap already took it: we are too late */
        if (STATE_ST(cur) == NBLOG__SLOT_RESERVED) {
            mark_skipped(s, seq); /* pinned by an older, unfinished writer */
            return 0;
        }
        /* W1: relaxed CAS + release fence below. The fence pairs with R3:
         * our record stores come after it, so a reader that saw any of
         * them sees this RESERVED state (or later) on its re-check. */
        if (atomic_compare_exchange_weak_explicit(
                &s->state, &cur, STATE(seq, NBLOG__SLOT_RESERVED),
                memory_order_relaxed, memory_order_relaxed))
            break;
    }
    atomic_thread_fence(memory_order_release);
    return 1;
}

/* W2: relaxed 8-byte stores; text is padded to 8 bytes in the slot. The
 * source must be readable up to len rounded up to 8. */
static void store_words(void *dst, const void *src, size_t len)
{
    uint64_t *d = dst;
    const char *sp = src;
    for (size_t i = 0; i < (len + 7) / 8; i++) {
        uint64_t w;
        memcpy(&w, sp + 8 * i, 8);
        __atomic_store_n(&d[i], w, __ATOMIC_RELAXED);
    }
}

/* R2: the mirror of store_words. */
static void load_words(void *dst, const void *src, size_t len)
{
    const uint64_t *s = src;
    char *dp = dst;
    for (size_t i = 0; i < len / 8; i++) {
        uint64_t w = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
        memcpy(dp + 8 * i, &w, 8);
    }
    if (len % 8) {
        uint64_t w = __atomic_load_n(&s[len / 8], __ATOMIC_RELAXED);
        memcpy(dp + len - len % 8, &w, len % 8);
    }
}

/* Spill, step 1: takes granules [pos, pos + n) for seq, each from FREE,
 * or DONE by an older record, to (seq, WRITING). Stops at the first one
 * that is pinned (WRITING: its writer has not committed) or a newer
 * record's (we were preempted while the data area lapped): returns how
 * many it took, n if all. Never waits. */
static uint64_t spill_take(struct nblog__ring_hdr *r, uint64_t seq, uint64_t pos,
                           uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        _Atomic uint64_t *o = &gran_at(r, pos + i)->owner;
        /* Relaxed: the value for the CAS; the CAS orders us against the
         * granule's other writers, G1's fence (the caller's) against readers. */
        uint64_t cur = atomic_load_explicit(o, memory_order_relaxed);
        for (;;) {
            if (STATE_ST(cur) == NBLOG__GRAN_WRITING || (cur != 0 && STATE_SEQ(cur) >= seq))
                return i;
            /* G1 (with the fence in spill): relaxed CAS. */
            if (atomic_compare_exchange_weak_explicit(o, &cur,
                                                      STATE(seq, NBLOG__GRAN_WRITING),
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        }
    }
    return n;
}

/* Spill, the end: granules [pos, pos + n) WRITING for seq become DONE
 * (written, or given back unwritten after a cut: nobody's slot names them
 * then). Relaxed (G2b): only writers look at WRITING (to not take a pinned
 * granule); readers learn of the granules' bytes from the slot's W3 and
 * check the owner for seq whatever its state bits (G3). */
static void spill_done(struct nblog__ring_hdr *r, uint64_t seq, uint64_t pos, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        _Atomic uint64_t *o = &gran_at(r, pos + i)->owner;
        assert(atomic_load_explicit(o, memory_order_relaxed) ==
               STATE(seq, NBLOG__GRAN_WRITING)); /* ours, and no one else's since */
        atomic_store_explicit(o, STATE(seq, NBLOG__GRAN_DONE), memory_order_relaxed);
    }
}

/* Spills text[skip, len) of record seq into the data area: returns 1 and
 * *pos (where its run starts), or 0 with nothing taken (the record is to
 * be cut). */
static int spill(struct nblog__ring_hdr *r, uint64_t seq, const char *text,
                 uint32_t skip, uint32_t len, uint64_t *pos)
{
    uint64_t n = (len - skip + NBLOG__GRANULE_DATA - 1) / NBLOG__GRANULE_DATA;
    if (r->data_granules == 0)
        return 0;
    assert(n <= r->data_granules / 2); /* nblog__ring_geom_make, validate */
    /* D1, relaxed: positions need only be unique; the owner words, not
     * data_head, order writers of the same granule. */
    uint64_t p = atomic_fetch_add_explicit(&r->data_head, n, memory_order_relaxed);
    uint64_t took = spill_take(r, seq, p, n);
    if (took < n) {
        spill_done(r, seq, p, took); /* given back: no slot names them */
        return 0;
    }
    /* G1: release fence after the owner CASes, pairs with the reader's G3
     * acquire fence: a reader that copied any byte stored below sees our
     * owner word (or a later one) on its re-check, so a granule taken
     * from under its record is never read as that record's. */
    atomic_thread_fence(memory_order_release);
    NBLOG__TEST_HOOK(nblog__test_hook_spilled, (seq));
    for (uint64_t i = 0; i < n; i++) {
        uint32_t at = skip + (uint32_t)i * NBLOG__GRANULE_DATA;
        uint32_t k = len - at < NBLOG__GRANULE_DATA ? len - at : NBLOG__GRANULE_DATA;
        store_words(gran_at(r, p + i)->data, text + at, k); /* G2: as W2 */
    }
    spill_done(r, seq, p, n);
    *pos = p;
    return 1;
}

/* W2 for a record cut to the inline room inl: for text, the longest
 * prefix on a UTF-8 boundary that leaves room for NBLOG_TRUNC_MARKER,
 * then the marker; a payload (deferred arguments) is cut at inl, and its
 * renderer marks what is missing. Returns the stored length. */
static uint32_t store_cut(char *dst, const char *src, uint32_t inl, uint8_t kind)
{
    const uint32_t mlen = sizeof NBLOG_TRUNC_MARKER - 1;
    if (kind != NBLOG_KIND_TEXT) {
        store_words(dst, src, inl);
        return inl;
    }
    uint32_t keep = inl - mlen;
    while (keep > 0 && ((unsigned char)src[keep] & 0xc0) == 0x80)
        keep--;
    uint32_t whole = keep / 8 * 8;
    store_words(dst, src, whole);
    uint32_t len = keep + mlen;
    for (uint32_t w = whole; w < len; w += 8) { /* the words with the marker */
        char b[8];
        for (uint32_t i = 0; i < 8; i++) {
            uint32_t at = w + i;
            b[i] = at < keep ? src[at] : at < len ? NBLOG_TRUNC_MARKER[at - keep] : 0;
        }
        store_words(dst + w, b, 8);
    }
    return len;
}

int nblog__ring_write(struct nblog__ring_hdr *r, struct nblog__rec_meta *m,
                      const char *text)
{
    assert(m->len <= nblog__ring_text_max(r));
    /* H1, seq_cst, though seqs only need to be unique: this is the
     * writer's half of the printers' sleep/wake store-buffering pair
     * (printer.c, "HOW PRINTERS LEARN OF NEW RECORDS"; console_impl.h
     * Z1/Z2). On x86 it is the same lock xadd as relaxed. */
    uint64_t seq = atomic_fetch_add_explicit(&r->head, 1, memory_order_seq_cst);
    struct nblog__slot *s = slot_at(r, seq);
    /* At the limit (ring.h), seq << 2 would lose its top bits: refused.
     * head stays past the limit; readers clamp it. */
    if (__builtin_expect(seq >= NBLOG__SEQ_LIMIT, 0) || !reserve_slot(s, seq)) {
        /* Relaxed: a statistic; read with the books once writers stop. */
        atomic_fetch_add_explicit(&r->lost, 1, memory_order_relaxed);
        return NBLOG_ELOST;
    }
    m->seq = seq;
    NBLOG__TEST_HOOK(nblog__test_hook_reserved, (seq));
    uint32_t inl = nblog__ring_inline_max(r);
    assert((uintptr_t)s + NBLOG__SLOT_HDR + inl <= (uintptr_t)r + r->total_size);
    if (__builtin_expect(m->len > inl, 0)) {
        uint64_t pos;
        if (spill(r, seq, text, inl - 8, m->len, &pos)) {
            /* W2: the position word, then the text's first inl - 8 bytes. */
            __atomic_store_n((uint64_t *)(void *)s->text, pos, __ATOMIC_RELAXED);
            store_words(s->text + 8, text, inl - 8);
        } else {
            m->len = store_cut(s->text, text, inl, m->kind);
            m->flags |= NBLOG_F_TRUNCATED;
            /* Relaxed: a statistic, as lost. */
            atomic_fetch_add_explicit(&r->spill_cut, 1, memory_order_relaxed);
        }
    } else {
        store_words(s->text, text, m->len); /* W2 */
    }
    /* W2 */
    __atomic_store_n(&s->ts_ns, m->ts_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&s->meta,
                     (uint64_t)m->tid << 32 | (uint64_t)m->len << 16 |
                         (uint64_t)m->level << 8 | m->facility,
                     __ATOMIC_RELAXED);
    assert(m->site <= r->sites);
    __atomic_store_n(&s->meta2,
                     (uint64_t)m->flags << 56 | (uint64_t)m->kind << 48 |
                         (uint64_t)(m->site & 0xffff) << 32 | nblog__ring_epoch(r),
                     __ATOMIC_RELAXED);
    /* W3: pairs with R1; publishes W2 and the spilled text's G2. */
    atomic_store_explicit(&s->state, STATE(seq, NBLOG__SLOT_COMMITTED),
                          memory_order_release);
    return NBLOG_OK;
}

/* A record still being written is PENDING until the ring has lapped it:
 * then its slot is wanted by a newer record (whose writer found it pinned
 * and lost), and a reader waiting for it would stall behind a writer that
 * may never come back. It is GONE for the reader, who counts it missed. */
static enum nblog__read_result pending_or_lapped(const struct nblog__ring_hdr *r,
                                                 uint64_t seq, uint64_t head)
{
    if (seq >= head) /* only a corrupted ring file shows a future seq */
        return NBLOG__READ_EMPTY;
    return head - seq > r->records ? NBLOG__READ_GONE : NBLOG__READ_PENDING;
}

static enum nblog__read_result gone_unless_future(const struct nblog__ring_hdr *r,
                                                  uint64_t seq);

/* Where a record that is not in its slot stands. */
static enum nblog__read_result absent(const struct nblog__ring_hdr *r,
                                      const struct nblog__slot *s,
                                      uint64_t seq)
{
    /* S2, acquire: pairs with S1, mark_skipped's release CAS (nothing
     * else needed, the value alone decides). */
    if (atomic_load_explicit(&s->skip, memory_order_acquire) > seq)
        return gone_unless_future(r, seq); /* a forged skip cannot lead on */
    uint64_t head = nblog__ring_head(r);
    if (seq >= head)
        return NBLOG__READ_EMPTY;
    return pending_or_lapped(r, seq, head);
}

/* GONE, unless seq has not been handed out yet: then only a corrupted ring
 * file can have shown us a slot claiming it (a writer bumps head before it
 * reserves), and a reader must stop there rather than walk on forever. */
static enum nblog__read_result gone_unless_future(const struct nblog__ring_hdr *r,
                                                  uint64_t seq)
{
    return seq >= nblog__ring_head(r) ? NBLOG__READ_EMPTY : NBLOG__READ_GONE;
}

/* R2 for a spilled record: its first inline room - 8 bytes from the slot
 * (after the position word), the rest from the granules at pos; n bytes
 * in all (the caller's cap or the length). */
static void spill_copy(const struct nblog__ring_hdr *r, const struct nblog__slot *s,
                       uint64_t pos, char *text, uint32_t n)
{
    uint32_t skip = nblog__ring_inline_max(r) - 8;
    load_words(text, s->text + 8, n < skip ? n : skip);
    for (uint32_t at = skip, i = 0; at < n; at += NBLOG__GRANULE_DATA, i++) {
        uint32_t k = n - at < NBLOG__GRANULE_DATA ? n - at : NBLOG__GRANULE_DATA;
        load_words(text + at, gran_at(r, pos + i)->data, k);
    }
}

/* G3, after the acquire fence: whether every granule of record seq's run
 * (len bytes spilled from pos) still names seq as its owner. The fence
 * pairs with G1: a byte copied from a later owner comes with that owner's
 * word here. Relaxed loads: the fence orders them after the copy. */
static int spill_owned(const struct nblog__ring_hdr *r, uint64_t seq, uint64_t pos,
                       uint32_t len)
{
    uint64_t n = spill_granules(nblog__ring_inline_max(r), len);
    for (uint64_t i = 0; i < n; i++) {
        _Atomic uint64_t *o = (_Atomic uint64_t *)&gran_at(r, pos + i)->owner;
        if (atomic_load_explicit(o, memory_order_relaxed) != STATE(seq, NBLOG__GRAN_DONE))
            return 0;
    }
    return 1;
}

enum nblog__read_result nblog__ring_read(const struct nblog__ring_hdr *r,
                                         uint64_t seq,
                                         struct nblog__rec_meta *m,
                                         char *text, size_t cap)
{
    const struct nblog__slot *s = slot_at(r, seq);
    /* R1: pairs with W3. */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_acquire);
    if (STATE_ST(st) == NBLOG__SLOT_EMPTY || STATE_SEQ(st) < seq)
        return absent(r, s, seq);
    if (STATE_SEQ(st) > seq)
        return gone_unless_future(r, seq);
    if (STATE_ST(st) != NBLOG__SLOT_COMMITTED)
        return pending_or_lapped(r, seq, nblog__ring_head(r));

    /* R2 */
    uint64_t meta = __atomic_load_n(&s->meta, __ATOMIC_RELAXED);
    uint64_t meta2 = __atomic_load_n(&s->meta2, __ATOMIC_RELAXED);
    m->ts_ns = __atomic_load_n(&s->ts_ns, __ATOMIC_RELAXED);
    m->epoch = meta2 & NBLOG__EPOCH_MASK;
    m->seq = seq;
    m->tid = (uint32_t)(meta >> 32);
    m->len = (uint32_t)(meta >> 16) & 0xffff;
    m->level = (uint8_t)(meta >> 8);
    m->facility = (uint8_t)meta;
    m->flags = (uint8_t)(meta2 >> 56);
    m->kind = (uint8_t)(meta2 >> 48);
    m->site = (uint32_t)(meta2 >> 32) & 0xffff; /* checked by nblog__ring_site_get */
    m->loc = NULL;
    /* A torn or corrupted length is clamped here and caught below (torn) or
     * is harmless (a corrupted file cannot make us read out of the slot or
     * the data area: positions are masked, lengths at most text_max). */
    uint32_t inl = nblog__ring_inline_max(r);
    uint32_t len = m->len <= nblog__ring_text_max(r) ? m->len
                                                     : nblog__ring_text_max(r);
    uint64_t pos = 0;
    if (len <= inl) {
        load_words(text, s->text, len < cap ? len : cap);
    } else {
        pos = __atomic_load_n((const uint64_t *)(const void *)s->text, __ATOMIC_RELAXED);
        spill_copy(r, s, pos, text, len < cap ? len : cap);
    }

    /* R3: pairs with W1. Also G3's fence: pairs with G1 (spill). */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != st)
        return NBLOG__READ_GONE;
    if (m->len > nblog__ring_text_max(r) || m->level > 7)
        return gone_unless_future(r, seq); /* only a corrupted ring file */
    if (len > inl && !spill_owned(r, seq, pos, len))
        return NBLOG__READ_GONE; /* its text was taken by newer records: lost */
    m->wall_ns = nblog__ring_wall_ns(r, m->ts_ns, m->epoch);
    return NBLOG__READ_OK;
}

uint64_t nblog__ring_head(const struct nblog__ring_hdr *r)
{
    /* H2, relaxed: readers use head only as a bound (see MEMORY ORDERING),
     * so nothing needs to pair with the writers' seq_cst increment (H1,
     * seq_cst only for the printers' wake-up protocol). The cast
     * drops const: C11 atomic loads take a non-const pointer. */
    return nblog__seq_clamp(atomic_load_explicit((_Atomic uint64_t *)&r->head,
                                                 memory_order_relaxed));
}

/* E2: entry i as one consistent (gen, offset) pair; 0 if unused, or being
 * rewritten (a hostile file's entries are consistent, just anyone's). */
static int epoch_entry(const struct nblog__ring_hdr *r, unsigned i, uint64_t *gen,
                       int64_t *off)
{
    assert(i < NBLOG__EPOCHS);
    _Atomic uint64_t *g = (_Atomic uint64_t *)&r->epochs[i].gen;
    /* Acquire: pairs with E1's release store of the entry's gen. */
    uint64_t g1 = atomic_load_explicit(g, memory_order_acquire);
    *off = __atomic_load_n(&r->epochs[i].offset_ns, __ATOMIC_RELAXED);
    /* Acquire fence: pairs with E1's release fence (a reader that saw the
     * publisher's offset sees its gen 0, or later, below). */
    atomic_thread_fence(memory_order_acquire);
    if (g1 == 0 || atomic_load_explicit(g, memory_order_relaxed) != g1)
        return 0;
    *gen = g1 & NBLOG__EPOCH_MASK;
    return 1;
}

/* How far apart two gens are, modulo 2^NBLOG__EPOCH_BITS. */
static uint64_t gen_distance(uint64_t a, uint64_t b)
{
    uint64_t d = (a - b) & NBLOG__EPOCH_MASK, e = (b - a) & NBLOG__EPOCH_MASK;
    return d < e ? d : e;
}

/* The offset of epoch gen, or of the closest one the table holds; 0 if
 * none is usable. */
static int epoch_offset(const struct nblog__ring_hdr *r, uint64_t gen, int64_t *off)
{
    uint64_t g;
    gen &= NBLOG__EPOCH_MASK;
    if (epoch_entry(r, (unsigned)(gen % NBLOG__EPOCHS), &g, off) && g == gen)
        return 1;
    uint64_t best = UINT64_MAX;
    for (unsigned i = 0; i < NBLOG__EPOCHS; i++) {
        int64_t o;
        if (epoch_entry(r, i, &g, &o) && gen_distance(g, gen) < best) {
            best = gen_distance(g, gen);
            *off = o;
        }
    }
    return best != UINT64_MAX;
}

int64_t nblog__ring_wall_ns(const struct nblog__ring_hdr *r, uint64_t ts_ns,
                            uint64_t epoch)
{
    /* A resumed or foreign file's stamps and offsets are anyone's:
     * saturate, no signed overflow (issue 12 item 6). */
    int64_t off, wall;
    if (!epoch_offset(r, epoch, &off))
        return INT64_MIN;
    if (ts_ns > (uint64_t)INT64_MAX)
        return INT64_MAX;
    if (__builtin_add_overflow((int64_t)ts_ns, off, &wall))
        return off < 0 ? INT64_MIN : INT64_MAX;
    return wall;
}

uint64_t nblog__ring_epoch_publish(struct nblog__ring_hdr *r, int64_t offset_ns,
                                   uint64_t since_ns)
{
    /* Relaxed: only the (single) publisher stores wall_epoch. */
    uint64_t gen = (atomic_load_explicit(&r->wall_epoch, memory_order_relaxed) + 1) &
                   NBLOG__EPOCH_MASK;
    if (gen == 0)
        gen = 1; /* 0 means "unused" in an entry */
    struct nblog__wall_epoch *e = &r->epochs[gen % NBLOG__EPOCHS];
    /* E1: the entry's own seqlock (gen 0 while written), as W1-W3. */
    atomic_store_explicit(&e->gen, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* pairs with E2's fence */
    __atomic_store_n(&e->offset_ns, offset_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&e->since_ns, since_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&e->since_seq, nblog__ring_head(r), __ATOMIC_RELAXED);
    atomic_store_explicit(&e->gen, gen, memory_order_release); /* pairs with E2 */
    /* Release: writers load it relaxed (ring.h nblog__ring_epoch); a
     * reader that finds the entry not yet there takes the closest one. */
    atomic_store_explicit(&r->wall_epoch, gen, memory_order_release);
    assert(nblog__ring_check_epochs(r));
    return gen;
}

int64_t nblog__ring_epoch_offset(const struct nblog__ring_hdr *r)
{
    int64_t off = 0;
    epoch_offset(r, nblog__ring_epoch(r), &off);
    return off;
}

uint64_t nblog__ring_oldest(const struct nblog__ring_hdr *r)
{
    uint64_t head = nblog__ring_head(r);
    uint64_t lap = head > r->records ? head - r->records : 0;
    return lap > r->first_seq ? lap : r->first_seq;
}

/* Where a reader goes when seq read GONE: the oldest record that may still
 * be stored, and at least seq + 1. Every seq skipped counts as missed. */
static uint64_t after_gone(const struct nblog__ring_hdr *r, uint64_t seq)
{
    uint64_t to = nblog__ring_oldest(r);
    return to > seq ? to : seq + 1;
}

enum nblog__read_result nblog__ring_next(const struct nblog__ring_hdr *r, uint64_t *seq,
                                         uint64_t *gone, struct nblog__rec_meta *m,
                                         char *text, size_t cap)
{
    /* Orders as nblog__ring_read (R1-R3); the jump reads head relaxed, as a
     * bound only (see MEMORY ORDERING). */
    enum nblog__read_result res = nblog__ring_read(r, *seq, m, text, cap);
    *gone = 0;
    if (res == NBLOG__READ_GONE) {
        uint64_t to = after_gone(r, *seq);
        assert(to > *seq); /* a reader never stays on, or goes back to, a gone seq */
        *gone = to - *seq;
        *seq = to;
    }
    return res;
}

/* -------------------------------------------------------- debug checkers
 *
 * Whole-structure checks, called only inside assert() (SQLite's
 * assert_pager_state): each returns 1 when what it checks holds. In a
 * build with NDEBUG nothing calls them and their bodies are left out (they
 * return 1). Each says which observer may call it: one that can see
 * fields move under it checks only what holds whatever the interleaving.
 * Plain fields are read as readers read them (written once, before the
 * ring is published); atomics with relaxed loads, each word once.
 */

#ifndef NDEBUG
/* Each slot passes nblog__ring_check_slot. */
static int slots_check(const struct nblog__ring_hdr *r)
{
    for (uint64_t i = 0; i < r->records; i++)
        if (!nblog__ring_check_slot(r, i))
            return 0;
    return 1;
}

/* As nblog__ring_format leaves a ring: no record, no loss, epoch 1 the
 * only one, every slot EMPTY without skip (the memory was zero). */
static int formatted_check(const struct nblog__ring_hdr *r)
{
    _Atomic uint64_t *head = (_Atomic uint64_t *)&r->head;
    _Atomic uint64_t *lost = (_Atomic uint64_t *)&r->lost;
    _Atomic uint64_t *epoch = (_Atomic uint64_t *)&r->wall_epoch;
    if (atomic_load_explicit(head, memory_order_relaxed) != r->first_seq ||
        atomic_load_explicit(lost, memory_order_relaxed) != 0 ||
        atomic_load_explicit(epoch, memory_order_relaxed) != 1)
        return 0;
    for (uint64_t i = 0; i < r->records; i++) {
        const struct nblog__slot *s = slot_at(r, i);
        if (atomic_load_explicit((_Atomic uint64_t *)&s->state, memory_order_relaxed) != 0 ||
            atomic_load_explicit((_Atomic uint64_t *)&s->skip, memory_order_relaxed) != 0)
            return 0;
    }
    if (atomic_load_explicit((_Atomic uint64_t *)&r->data_head, memory_order_relaxed) != 0 ||
        atomic_load_explicit((_Atomic uint64_t *)&r->spill_cut, memory_order_relaxed) != 0)
        return 0;
    for (uint64_t i = 0; i < r->data_granules; i++)
        if (atomic_load_explicit((_Atomic uint64_t *)&gran_at(r, i)->owner,
                                 memory_order_relaxed) != 0)
            return 0;
    return 1;
}

/* As nblog__ring_resume leaves a ring (no writer yet): every slot passes
 * the slot check and none is RESERVED (the dead writer's are EMPTY with
 * skip set), and head is below the limit. */
static int resumed_check(const struct nblog__ring_hdr *r)
{
    _Atomic uint64_t *head = (_Atomic uint64_t *)&r->head;
    if (atomic_load_explicit(head, memory_order_relaxed) >= NBLOG__SEQ_LIMIT)
        return 0;
    for (uint64_t i = 0; i < r->records; i++) {
        const struct nblog__slot *s = slot_at(r, i);
        uint64_t st = atomic_load_explicit((_Atomic uint64_t *)&s->state, memory_order_relaxed);
        if (STATE_ST(st) == NBLOG__SLOT_RESERVED)
            return 0;
    }
    for (uint64_t i = 0; i < r->data_granules; i++) {
        uint64_t o = atomic_load_explicit((_Atomic uint64_t *)&gran_at(r, i)->owner,
                                          memory_order_relaxed);
        if (STATE_ST(o) == NBLOG__GRAN_WRITING)
            return 0; /* the dead writer's were given back */
    }
    return slots_check(r) && owners_check(r);
}
#endif

/* Any observer, any time, with writers running (head only grows): the
 * process's own ring, or one that passed nblog__ring_validate and is not
 * being forged under the caller (nothing here goes past what validation
 * implies; it is the same promise, checked again from the fields as the
 * rest of the code relies on them): geometry (powers of two within the limits, the shift, room
 * for a slot's header and whole text words), layout (header, stats table,
 * slots back to back, as nblog__ring_bytes), and the sequence rules
 * (first_seq <= NBLOG__SEQ_LIMIT, first_seq <= head, first_seq <= oldest
 * <= head). head only grows, so it is loaded once before and once after
 * oldest, which loads it too. */
int nblog__ring_check(const struct nblog__ring_hdr *r)
{
#ifndef NDEBUG
    if (!r || memcmp(r->magic, NBLOG__RING_MAGIC, sizeof r->magic) != 0 ||
        r->version != NBLOG__RING_VERSION || r->hdr_size != sizeof *r)
        return 0;
    if (!is_pow2(r->record_size) || r->record_size < NBLOG__RECORD_SIZE_MIN ||
        r->record_size > NBLOG__RECORD_SIZE_MAX || r->record_shift != log2u(r->record_size) ||
        r->record_size <= NBLOG__SLOT_HDR || nblog__ring_text_max(r) % 8 != 0)
        return 0;
    if (!is_pow2(r->records) || r->records < NBLOG__RECORDS_MIN ||
        r->records > NBLOG__RECORDS_MAX)
        return 0;
    if (r->stats_offset != sizeof *r || r->stats_slots != NBLOG__STATS_SLOTS ||
        r->stats_entry_size != NBLOG__STATS_ENTRY_SIZE ||
        r->slots_offset != r->stats_offset + (uint64_t)r->stats_slots * r->stats_entry_size ||
        r->slots_offset != nblog__ring_slots_offset() || r->slots_offset % 64 != 0)
        return 0;
    if (r->epochs_count != NBLOG__EPOCHS ||
        r->epoch_entry_size != sizeof(struct nblog__wall_epoch))
        return 0;
    /* The data area after the slots, whole granules, able to hold two
     * runs of text_max (or none, and text_max within the slot). */
    uint32_t inl = nblog__ring_inline_max(r);
    if (r->granule_size != NBLOG__GRANULE || r->text_max > NBLOG__TEXT_MAX_LIMIT ||
        (r->data_granules != 0 && !is_pow2(r->data_granules)) ||
        (r->data_granules == 0 && r->text_max > inl) ||
        2 * spill_granules(inl, r->text_max) > r->data_granules ||
        r->sites != nblog__ring_sites_for(r->records) ||
        r->total_size != nblog__ring_sites_offset(r) + (uint64_t)r->sites * NBLOG__SITE_ENTRY)
        return 0;
    _Atomic uint64_t *hp = (_Atomic uint64_t *)&r->head;
    uint64_t before = atomic_load_explicit(hp, memory_order_relaxed);
    uint64_t oldest = nblog__ring_oldest(r);
    uint64_t after = nblog__seq_clamp(atomic_load_explicit(hp, memory_order_relaxed));
    if (r->first_seq > NBLOG__SEQ_LIMIT || before < r->first_seq ||
        oldest < r->first_seq || oldest > after)
        return 0;
#else
    (void)r;
#endif
    return 1;
}

/* The epoch table as nblog__ring_epoch_publish leaves it, in the writer
 * process with no publish in progress (after format, after resume, at the
 * end of a publish: one publisher at a time): the current gen is in
 * [1, NBLOG__EPOCH_MASK] and its entry holds it, with since_seq <= head;
 * every entry is unused or holds a gen that belongs in its place (resume
 * forgot the others). Not for a reader of another process's ring: its
 * table is the file's (nblog__ring_wall_ns copes with any), and a live one
 * may be rewritten under the reader. */
int nblog__ring_check_epochs(const struct nblog__ring_hdr *r)
{
#ifndef NDEBUG
    uint64_t cur = atomic_load_explicit((_Atomic uint64_t *)&r->wall_epoch,
                                        memory_order_relaxed);
    if (cur == 0 || cur > NBLOG__EPOCH_MASK)
        return 0;
    for (unsigned i = 0; i < NBLOG__EPOCHS; i++) {
        uint64_t gen = atomic_load_explicit((_Atomic uint64_t *)&r->epochs[i].gen,
                                            memory_order_relaxed);
        if (gen != 0 && (gen % NBLOG__EPOCHS != i || gen > NBLOG__EPOCH_MASK))
            return 0;
    }
    const struct nblog__wall_epoch *e = &r->epochs[cur % NBLOG__EPOCHS];
    if (atomic_load_explicit((_Atomic uint64_t *)&e->gen, memory_order_relaxed) != cur ||
        __atomic_load_n(&e->since_seq, __ATOMIC_RELAXED) > nblog__ring_head(r))
        return 0;
#else
    (void)r;
#endif
    return 1;
}

/* Slot i (< records) as writers and nblog__ring_resume leave it, for a
 * quiescent observer (no write in flight; a writer that died or hangs
 * between reserve and commit leaves RESERVED, which passes): a skip is 0
 * or 1 + a seq of this slot, at most head; a state that is not EMPTY
 * holds a seq of this slot, at or past first_seq and below head, and a
 * state a writer sets (RESERVED or COMMITTED). Only the protocol words:
 * the record's own bytes in a resumed file are the file's (readers treat
 * a damaged one as gone), and so are an EMPTY state's seq bits. */
int nblog__ring_check_slot(const struct nblog__ring_hdr *r, uint64_t i)
{
#ifndef NDEBUG
    if (i >= r->records)
        return 0;
    const struct nblog__slot *s = slot_at(r, i);
    uint64_t mask = r->records - 1, head = nblog__ring_head(r);
    uint64_t st = atomic_load_explicit((_Atomic uint64_t *)&s->state, memory_order_relaxed);
    uint64_t skip = atomic_load_explicit((_Atomic uint64_t *)&s->skip, memory_order_relaxed);
    if (skip != 0 && (((skip - 1) & mask) != i || skip > head))
        return 0;
    if (STATE_ST(st) == NBLOG__SLOT_EMPTY)
        return 1;
    if (STATE_ST(st) != NBLOG__SLOT_RESERVED && STATE_ST(st) != NBLOG__SLOT_COMMITTED)
        return 0;
    uint64_t seq = STATE_SEQ(st);
    if ((seq & mask) != i || seq < r->first_seq || seq >= head)
        return 0;
#else
    (void)r;
    (void)i;
#endif
    return 1;
}

/* The data area, for a quiescent observer of the process's own ring (or a
 * resumed one): every owner word is FREE or names a seq handed out, at or
 * past first_seq, with WRITING or DONE (a writer that hangs between
 * reserve and commit leaves WRITING, which passes); and every committed
 * spilled record's granules name it or a newer record (owners only grow:
 * a writer never takes a newer record's granule), so a reader gets the
 * record whole or finds it lost, never another record's bytes as its own. */
#ifndef NDEBUG
/* Every owner word FREE, or WRITING or DONE for a seq handed out at or
 * past first_seq (what resume leaves, and writers keep). */
static int owners_check(const struct nblog__ring_hdr *r)
{
    uint64_t head = nblog__ring_head(r);
    for (uint64_t i = 0; i < r->data_granules; i++) {
        uint64_t o = atomic_load_explicit((_Atomic uint64_t *)&gran_at(r, i)->owner,
                                          memory_order_relaxed);
        if (o != 0 && (STATE_ST(o) == 0 || STATE_ST(o) > NBLOG__GRAN_DONE ||
                       STATE_SEQ(o) < r->first_seq || STATE_SEQ(o) >= head))
            return 0;
    }
    return 1;
}
#endif

int nblog__ring_check_data(const struct nblog__ring_hdr *r)
{
#ifndef NDEBUG
    if (!owners_check(r))
        return 0;
    uint32_t inl = nblog__ring_inline_max(r);
    for (uint64_t i = 0; i < r->records; i++) {
        const struct nblog__slot *s = slot_at(r, i);
        uint64_t st = atomic_load_explicit((_Atomic uint64_t *)&s->state, memory_order_relaxed);
        uint64_t meta = __atomic_load_n(&s->meta, __ATOMIC_RELAXED);
        uint32_t len = (uint32_t)(meta >> 16) & 0xffff;
        if (STATE_ST(st) != NBLOG__SLOT_COMMITTED || len <= inl)
            continue;
        if (len > r->text_max)
            return 0;
        uint64_t pos = __atomic_load_n((const uint64_t *)(const void *)s->text, __ATOMIC_RELAXED);
        for (uint64_t k = 0; k < spill_granules(inl, len); k++) {
            uint64_t o = atomic_load_explicit((_Atomic uint64_t *)&gran_at(r, pos + k)->owner,
                                              memory_order_relaxed);
            if (o != STATE(STATE_SEQ(st), NBLOG__GRAN_DONE) && STATE_SEQ(o) <= STATE_SEQ(st))
                return 0;
        }
    }
#else
    (void)r;
#endif
    return 1;
}

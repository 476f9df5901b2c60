/*
 * ring.h - the log store: a lockless ring of fixed-size record slots, and
 * a data area for the text that does not fit in one.
 * Layer: store. Knows nothing of consoles, formats or files; the design and
 * its memory-ordering argument open ring.c.
 */
#ifndef NBLOG_RING_H
#define NBLOG_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define NBLOG__RING_MAGIC "NBLOGRNG"
/* 2: console stats table between the header and the slots; follower
 * futex word and stats fields in what was reserved space.
 * Not bumped for the deferred argument tag NBLOG__A_ERRNO (format.h: a
 * deferred record with %m carries the caller's errno), added in version 2:
 * an nblog built before it reads such a ring but does not know the tag:
 * its %m shows the reader's own errno, and a conversion after the %m
 * finds the tag where its argument should be, so the rest of the record
 * is taken as damaged and it renders marked BAD (NBLOG_F_BADINPUT). The
 * bytes are intact; a current reader renders the record whole. */
/* 3: wall-clock epochs (struct nblog__wall_epoch) after the lost line,
 * the current one in what was wall_offset_ns, each record's epoch in its
 * slot's meta2. A version 2 ring is refused ("not this tool's"): its
 * records carry no epoch. */
/* 4: variable-size records: slots of 128 bytes by default, text longer
 * than a slot's inline room spilled into a data area of 64-byte granules
 * after the slots (text_max, data_granules, data_head, spill_cut). A
 * version 3 ring is refused by readers with NBLOG_EVERSION ("older than
 * this tool's"); a writer replaces it with a new file. */
/* 5: call sites: a table of call-site locations (file, line, function)
 * after the data area (sites, site_gen), each record's site
 * in meta2 bits 32..47; the epoch gen a slot keeps is 32 bits (was 48).
 * A version 4 ring is refused as version 3 was. */
#define NBLOG__RING_VERSION 5u

#define NBLOG__RECORD_SIZE_MIN 128u
#define NBLOG__RECORD_SIZE_MAX 4096u
#define NBLOG__RECORDS_MIN 16u
#define NBLOG__RECORDS_MAX (1u << 24)
#define NBLOG__STATS_SLOTS 32u /* console stats entries in the table */
#define NBLOG__STATS_ENTRY_SIZE 192u /* bytes of one (what it holds: stats.h) */
#define NBLOG__EPOCHS 32u      /* wall-clock epochs the header keeps */
#define NBLOG__EPOCH_BITS 32   /* of an epoch's gen kept in a slot's meta2 */
#define NBLOG__EPOCH_MASK (((uint64_t)1 << NBLOG__EPOCH_BITS) - 1)
#define NBLOG__RING_PROGRAM_BYTES 64 /* writer_program, its NUL included */

/* The call-site table (sites.c): entries of NBLOG__SITE_ENTRY bytes, one
 * per distinct (file, line, function) the ring's writers logged from;
 * records / 8 of them, within [NBLOG__SITES_MIN, NBLOG__SITES_MAX]. A
 * record names its entry by index + 1 (0: no site), in 16 bits. */
#define NBLOG__SITE_ENTRY 128u
#define NBLOG__SITES_MIN 64u
#define NBLOG__SITES_MAX 8192u
#define NBLOG__SITE_TEXT 112u    /* an entry's bytes of file and function */
#define NBLOG__SITE_FUNC_MAX 47u /* of them, at most this many the function's */

/* The data area (ring.c, SPILLED TEXT): granules of NBLOG__GRANULE bytes,
 * an owner word and NBLOG__GRANULE_DATA bytes of text each. */
#define NBLOG__GRANULE 64u
#define NBLOG__GRANULE_DATA 56u
#define NBLOG__TEXT_MAX_LIMIT 16384u   /* longest text_max (nblog.h NBLOG_TEXT_MAX_LIMIT) */
#define NBLOG__TEXT_MAX_DEFAULT 16384u
#define NBLOG__DATA_BYTES_MAX ((uint64_t)1 << 30)
#define NBLOG__DATA_BYTES_DEFAULT ((uint64_t)4 << 20)
#define NBLOG__RECORDS_DEFAULT 65536u
#define NBLOG__RECORD_SIZE_DEFAULT 128u
/* The longest payload any ring's record has (text_max is at most this,
 * and so is a slot's inline room): what a reader's buffer must hold. */
#define NBLOG__PAYLOAD_MAX NBLOG__TEXT_MAX_LIMIT

/* A ring's sizes, as the options ask for them (nblog__ring_geom_make
 * rounds and checks them) and as its header keeps them. */
struct nblog__ring_geom {
    uint64_t records;     /* slots, a power of two */
    uint32_t record_size; /* bytes per slot, a power of two */
    uint32_t text_max;    /* longest text a record holds */
    uint64_t granules;    /* of the data area, a power of two, or 0 */
};

/* Sequence numbers a ring can hold: a slot's state word keeps seq << 2,
 * so seq must stay below 2^62. The writer never hands out a seq at or
 * past the limit: such a write is refused (NBLOG_ELOST, counted in lost)
 * and head, the raw counter, may run past the limit by the refusals (it
 * cannot wrap: that takes 3 * 2^62 of them). Readers see head clamped to
 * the limit (nblog__ring_head). A header whose first_seq is past the limit
 * or whose head is below first_seq is corrupt; a ring whose head reached
 * the limit is not resumed (nblog__ring_resume): the file ring replaces it
 * with a new file from seq 0 (ringfile.c). 2^62 records
 * at a billion a second last 146 years: in practice only a damaged or
 * forged file gets here. */
#define NBLOG__SEQ_LIMIT ((uint64_t)1 << 62)

/* head (a raw counter) as readers see it: at most NBLOG__SEQ_LIMIT. */
static inline uint64_t nblog__seq_clamp(uint64_t head)
{
    return head < NBLOG__SEQ_LIMIT ? head : NBLOG__SEQ_LIMIT;
}

/*
 * A wall-clock epoch: while it is current, a record's CLOCK_REALTIME ns is
 * its ts_ns + offset_ns. The offset changes only when the clock is set
 * (date -s, an NTP step, a leap second) or when the TSC-derived ts_ns has
 * drifted from CLOCK_REALTIME by more than a bound (wallclock.c says how
 * both are noticed, and the bound). A record keeps the gen of the
 * epoch current when it was stored (low NBLOG__EPOCH_BITS bits, in meta2),
 * so a later step changes no earlier record's time.
 *
 * One entry is a seqlock of its own: gen is 0 while the publisher writes
 * it (E1 in ring.c), so a reader takes offset_ns only from an entry whose
 * gen it saw the same before and after.
 */
struct nblog__wall_epoch {
    _Atomic uint64_t gen;   /* 1, 2, ...: which epoch; 0: unused or being written */
    int64_t offset_ns;      /* CLOCK_REALTIME - ts_ns scale, ns */
    uint64_t since_ns;      /* ts_ns (CLOCK_MONOTONIC scale) when it began */
    uint64_t since_seq;     /* head when it began: it covers records from here */
};

/*
 * The header at offset 0 of the ring's memory. The sizes and offsets are
 * written once by nblog__ring_format() before the ring is published, and
 * never again; writer_pid also by nblog__ring_resume() (a writer reopening
 * a file, before publishing it), writer_program by the file ring after
 * either (ringfile.c). wall_epoch and epochs[] belong to
 * nblog__ring_epoch_publish (format, resume, and the writer process's
 * wall-clock thread, wallclock.c). head and lost are the writers'
 * counters; follow_word and stats_published_ns belong to the
 * file ring's publisher thread (publish.c). All positions are offsets from the header, so
 * the same bytes can live in a file mapped at any address by another process.
 */
struct nblog__ring_hdr {
    char magic[8];          /* NBLOG__RING_MAGIC, no NUL */
    uint32_t version;       /* NBLOG__RING_VERSION */
    uint32_t hdr_size;      /* sizeof(struct nblog__ring_hdr) */
    uint32_t record_size;   /* bytes per slot, power of two */
    uint32_t record_shift;  /* log2(record_size) */
    uint64_t records;       /* slots, power of two */
    uint64_t slots_offset;  /* from the header to slot 0 */
    uint64_t total_size;    /* header + slots, bytes */
    /* gen of the current wall-clock epoch (epochs[gen % NBLOG__EPOCHS]):
     * every writer loads it (relaxed) into its record's meta2. */
    _Atomic uint64_t wall_epoch;
    uint64_t first_seq;     /* seq of the first record this ring held */
    uint32_t writer_pid;    /* rewritten when a writer reopens the file */
    /* Which of this process's rings it is, as the call sites' caches
     * (nblog.h nblog__where_t) name it: a process-wide counter's next
     * value, written with writer_pid, never 0 (sites.c). */
    uint32_t site_gen;
    uint64_t stats_offset;  /* from the header to the console stats table */
    uint32_t stats_slots;   /* NBLOG__STATS_SLOTS */
    uint32_t stats_entry_size; /* NBLOG__STATS_ENTRY_SIZE (stats.h) */
    /* Followers (readers in other processes, which map the file read-only)
     * sleep on this futex word; the writer's publisher thread bumps it and
     * wakes them (at most every 100 ms) when head moved. Logging calls never
     * touch it, so they make no system call for followers. */
    _Atomic uint32_t follow_word;
    /* Entries of the call-site table (nblog__ring_sites_for(records), of
     * NBLOG__SITE_ENTRY bytes), right after the data area. */
    uint32_t sites;
    _Atomic uint64_t stats_published_ns; /* CLOCK_MONOTONIC of the last publish */
    uint32_t epochs_count;  /* NBLOG__EPOCHS */
    uint32_t epoch_entry_size; /* sizeof(struct nblog__wall_epoch) */
    uint32_t text_max;      /* longest text a record holds (<= NBLOG__TEXT_MAX_LIMIT) */
    uint32_t granule_size;  /* NBLOG__GRANULE */
    uint64_t data_granules; /* of the data area, a power of two, or 0: none */
    /* The writer's program name (as nblog__program_name gives it), NUL
     * padded; written with writer_pid (nblog__ring_set_program, at format
     * and resume, before the ring is published). A reader renders another
     * process's records with it; from a file it is hostile text (ringview.c
     * nblog__ringview_program: bounded, printable-checked before use). */
    char writer_program[NBLOG__RING_PROGRAM_BYTES];

    /* Own cache line: every writer increments it. */
    _Alignas(64) _Atomic uint64_t head; /* next sequence number to hand out */
    _Alignas(64) _Atomic uint64_t lost; /* writers that could not store */
    /* Writers of spilled text: the next granule to hand out (a raw counter,
     * masked by data_granules - 1), and the records cut to their inline
     * room because a granule they would take was pinned or newer. */
    _Alignas(64) _Atomic uint64_t data_head;
    _Atomic uint64_t spill_cut;
    /* (The header stays a multiple of a stats entry, 128 bytes:
     * ringview.c needs none to straddle a page; asserted there.) */
    /* The wall-clock epochs, newest at wall_epoch % NBLOG__EPOCHS. Within
     * the header's first page, so a live follower's private copy of that
     * page can take them again (ringview.c nblog__ringview_sync). */
    _Alignas(64) struct nblog__wall_epoch epochs[NBLOG__EPOCHS];
    _Alignas(64) uint8_t end[];
};
/* A live follower's private copy of the first page holds the epochs (and
 * takes them again on sync); pages are at least 4096 bytes. */
_Static_assert(offsetof(struct nblog__ring_hdr, end) <= 4096,
               "the header must fit in the first page");

/*
 * A slot. state and skip are the only words writers race on; the rest is
 * the record, written with relaxed atomic stores between the RESERVED and
 * COMMITTED transitions and read the same way (a seqlock-style copy).
 */
struct nblog__slot {
    _Atomic uint64_t state; /* seq << 2 | NBLOG__SLOT_* */
    _Atomic uint64_t skip;  /* 1 + highest seq that found this slot pinned */
    uint64_t ts_ns;         /* CLOCK_MONOTONIC ns */
    uint64_t meta;          /* tid:32 | len:16 | level:8 | facility:8 */
    uint64_t meta2;         /* flags:8 | kind:8 | site:16 | epoch gen:32 */
    char text[];            /* len bytes, not NUL-terminated; spilled
                               (len > inline room): a data position word,
                               then the text's first inline room - 8 bytes,
                               the rest in granules from that position */
};

/* A granule of the data area: owner is seq << 2 | NBLOG__GRAN_*, the
 * record whose text it holds (ring.c, SPILLED TEXT). */
struct nblog__granule {
    _Atomic uint64_t owner;
    char data[NBLOG__GRANULE_DATA];
};
_Static_assert(sizeof(struct nblog__granule) == NBLOG__GRANULE, "granule size");
#define NBLOG__GRAN_FREE 0u    /* never written */
#define NBLOG__GRAN_WRITING 1u /* its owner is filling it: pinned */
#define NBLOG__GRAN_DONE 2u    /* written (or given back) by its owner */

#define NBLOG__SLOT_EMPTY 0u     /* never written (only before the first lap) */
#define NBLOG__SLOT_RESERVED 1u  /* a writer is filling it */
#define NBLOG__SLOT_COMMITTED 2u /* complete; readable until reused */

#define NBLOG__SLOT_HDR ((uint32_t)offsetof(struct nblog__slot, text))

/* What a record says about itself, besides its text. */
struct nblog__rec_meta {
    uint64_t seq;
    uint64_t ts_ns;   /* CLOCK_MONOTONIC ns when stored */
    int64_t wall_ns;  /* CLOCK_REALTIME ns of the record (nblog__ring_wall_ns);
                         filled by readers, ignored by writers */
    uint64_t epoch;   /* gen of its wall-clock epoch (low 48 bits): filled
                         by nblog__ring_read; writers store the ring's
                         current one whatever this says */
    uint32_t tid;
    uint32_t len;
    uint8_t level;
    uint8_t facility;
    uint8_t flags;
    uint8_t kind;
    uint32_t site;    /* its call site: index + 1 in the ring's site table,
                         0: none (sites.c) */
    /* Where it was logged from, for renderers: set by a reader that
     * looked the site up (nblog__ring_site_get); NULL (as nblog__ring_read
     * leaves it): not shown. */
    const struct nblog__loc *loc;
};

/* Results of nblog__ring_read. */
enum nblog__read_result {
    NBLOG__READ_OK = 0,
    NBLOG__READ_EMPTY,   /* seq has not been handed out yet */
    NBLOG__READ_PENDING, /* seq handed out, its writer has not committed */
    NBLOG__READ_GONE,    /* seq was overwritten or never stored */
};

/* Rounds and checks the sizes a program asks for into *g: records and
 * record_size as nblog_options_t says (0: the defaults, rounded up to a
 * power of two, records raised to the minimum), text_max (0: the default;
 * at most NBLOG__TEXT_MAX_LIMIT) and data_bytes (0: no data area, text_max
 * is then the inline room; else rounded up to a power of two, and raised
 * to hold at least two records of text_max; at most NBLOG__DATA_BYTES_MAX).
 * Returns NBLOG_OK or NBLOG_EINVAL (*g unchanged). */
int nblog__ring_geom_make(struct nblog__ring_geom *g, uint64_t records,
                          uint64_t record_size, uint64_t text_max,
                          uint64_t data_bytes);
/* The sizes of ring r (a validated header). */
void nblog__ring_geom_of(const struct nblog__ring_hdr *r, struct nblog__ring_geom *g);
/* Bytes needed for a ring of geometry g. */
size_t nblog__ring_bytes_geom(const struct nblog__ring_geom *g);
/* Bytes needed for a ring of `records` slots of `record_size` bytes
 * without a data area (text_max is the inline room). */
size_t nblog__ring_bytes(uint64_t records, uint32_t record_size);
/* Where slot 0 starts: after the header and the console stats table. */
size_t nblog__ring_slots_offset(void);
/* Where the call-site table starts: after the data area. */
static inline uint64_t nblog__ring_sites_offset(const struct nblog__ring_hdr *r)
{
    return r->slots_offset + r->records * r->record_size + r->data_granules * NBLOG__GRANULE;
}
/* Entries of the call-site table of a ring of `records` slots. */
static inline uint32_t nblog__ring_sites_for(uint64_t records)
{
    uint64_t n = records / 8;
    return (uint32_t)(n < NBLOG__SITES_MIN ? NBLOG__SITES_MIN
                      : n > NBLOG__SITES_MAX ? NBLOG__SITES_MAX : n);
}

/* Longest text one record holds (the limit callers cut to): inline or
 * spilled. */
static inline uint32_t nblog__ring_text_max(const struct nblog__ring_hdr *r)
{
    return r->text_max;
}

/* Longest text a record holds in its slot alone (more is spilled). */
static inline uint32_t nblog__ring_inline_max(const struct nblog__ring_hdr *r)
{
    return r->record_size - NBLOG__SLOT_HDR;
}

/* Lays out an empty ring in mem (zeroed, nblog__ring_bytes_geom(g) long);
 * g as nblog__ring_geom_make made it. */
void nblog__ring_format_geom(void *mem, const struct nblog__ring_geom *g,
                             uint64_t first_seq);
/* The same without a data area: records and record_size powers of two
 * within the limits above, text_max the inline room. */
void nblog__ring_format(void *mem, uint64_t records, uint32_t record_size,
                        uint64_t first_seq);

/* Makes a ring left by a dead writer (same file, reopened) writable again:
 * slot states no writer could have left are forgotten, head moves past
 * every seq a slot holds (or says is gone), slots left RESERVED by the dead
 * writer become EMPTY with skip set, and so does every slot whose record of
 * the last lap below head is not there (a writer that died before it
 * reserved, or a forged head): readers count those missed instead of
 * waiting for them, and writers may take the slots. The ring must be
 * validated and have no writers. Returns NBLOG_OK, or NBLOG_ECORRUPT if
 * head is at NBLOG__SEQ_LIMIT (no seq left to hand out): the caller must
 * format the ring afresh, it is not usable as it is. */
int nblog__ring_resume(struct nblog__ring_hdr *r);

/* Checks a header found in memory of `bytes` bytes (e.g. a file another
 * process wrote): NBLOG_OK or NBLOG_ECORRUPT. Trusts nothing: sizes,
 * offsets, and first_seq <= NBLOG__SEQ_LIMIT, first_seq <= head. */
int nblog__ring_validate(const void *mem, size_t bytes);

/*
 * Writer side. nblog__ring_write() = reserve, fill, commit. [signal-safe]
 * [non-blocking] Returns NBLOG_OK (m->seq set) or NBLOG_ELOST (counted in
 * lost): the slot was pinned, or the ring ran out of sequence numbers
 * (NBLOG__SEQ_LIMIT; every later write is refused the same way). m->len is
 * at most nblog__ring_text_max; text must be readable up to m->len rounded
 * up to 8. Text longer than the inline room is spilled into the data area;
 * when a granule it would take is pinned or a newer record's, the record
 * is stored cut to its inline room, NBLOG_F_TRUNCATED set in m->flags and
 * m->len, and counted in spill_cut.
 */
int nblog__ring_write(struct nblog__ring_hdr *r, struct nblog__rec_meta *m,
                      const char *text);

#ifdef NBLOG_TEST_HOOKS
/* Test hook run between reserve and commit (testhooks.h). */
extern void (*_Atomic nblog__test_hook_reserved)(uint64_t seq);
/* Test hook run once a spilling writer holds its granules WRITING, before
 * it fills them (testhooks.h). */
extern void (*_Atomic nblog__test_hook_spilled)(uint64_t seq);
#endif

/*
 * Reader side. Copies record seq into *m and text (up to cap bytes; m->len
 * is the stored length). [signal-safe] [non-blocking]
 */
enum nblog__read_result nblog__ring_read(const struct nblog__ring_hdr *r,
                                         uint64_t seq,
                                         struct nblog__rec_meta *m,
                                         char *text, size_t cap);

/* The next sequence number to be handed out: at most NBLOG__SEQ_LIMIT. */
uint64_t nblog__ring_head(const struct nblog__ring_hdr *r);

/* A record's CLOCK_REALTIME ns: ts_ns + the offset of its wall-clock epoch
 * (gen, as nblog__ring_read gives it in m->epoch). An epoch no longer in
 * the table (recycled after NBLOG__EPOCHS newer ones) or not found as
 * written (a hostile file, or an entry being rewritten) gives way to the
 * closest one there, by gen; with none usable the time is INT64_MIN. The
 * ring may be a hostile file: bounds first (the index is masked), never
 * undefined behaviour; a time that does not fit in int64 saturates
 * (INT64_MIN or INT64_MAX, which renderers show as a placeholder:
 * nblog__wall_valid). [signal-safe] */
int64_t nblog__ring_wall_ns(const struct nblog__ring_hdr *r, uint64_t ts_ns,
                            uint64_t epoch);
/* Whether a time from nblog__ring_wall_ns is one: INT64_MIN and INT64_MAX
 * say it cannot be told (renderers show a placeholder: render.c). */
static inline int nblog__wall_valid(int64_t wall_ns)
{
    return wall_ns != INT64_MIN && wall_ns != INT64_MAX;
}

/* Writes name (cut to NBLOG__RING_PROGRAM_BYTES - 1 bytes) into the
 * header's writer_program, NUL padded. Writer process, before the ring is
 * published (format, resume). Relaxed byte stores: a live follower in
 * another process copies the field with relaxed loads at sync
 * (ringview.c), and validates what it got before use; nothing pairs. */
static inline void nblog__ring_set_program(struct nblog__ring_hdr *r, const char *name)
{
    size_t n = 0;
    for (; name && name[n] && n < NBLOG__RING_PROGRAM_BYTES - 1; n++)
        __atomic_store_n(&r->writer_program[n], name[n], __ATOMIC_RELAXED);
    for (; n < NBLOG__RING_PROGRAM_BYTES; n++)
        __atomic_store_n(&r->writer_program[n], '\0', __ATOMIC_RELAXED);
}

/* The current epoch's gen, as a writer stores it. [signal-safe] */
static inline uint64_t nblog__ring_epoch(const struct nblog__ring_hdr *r)
{
    /* Relaxed: the caller's one load. Readers validate the entry by gen
     * and fall back to the closest one (nblog__ring_wall_ns), so nothing
     * else needs ordering here. The cast drops const (C11 atomics). */
    return atomic_load_explicit((_Atomic uint64_t *)&r->wall_epoch,
                                memory_order_relaxed) & NBLOG__EPOCH_MASK;
}
/* Starts a new wall-clock epoch: offset_ns from since_ns (ts_ns scale) on.
 * Writer process only, one caller at a time (wallclock.c serialises; format
 * and resume run before the ring is published). Returns its gen.
 * [signal-safe] */
uint64_t nblog__ring_epoch_publish(struct nblog__ring_hdr *r, int64_t offset_ns,
                                   uint64_t since_ns);
/* The current epoch's offset (for a publisher deciding whether it moved). */
int64_t nblog__ring_epoch_offset(const struct nblog__ring_hdr *r);
/* The oldest sequence number that may still be stored. */
uint64_t nblog__ring_oldest(const struct nblog__ring_hdr *r);

/*
 * One step of a reader at *seq, the one way every reader walks the ring
 * (printers, the panic flush, nblog_reader_next). NBLOG__READ_OK: the
 * record at *seq, copied as nblog__ring_read copies it; *seq stays, the
 * caller moves on once it has used it. NBLOG__READ_GONE: it is gone, and
 * so may be more after it; *seq moves to where reading resumes (the oldest
 * record that may still be stored, at least *seq + 1) and *gone says how
 * many records that skipped. NBLOG__READ_EMPTY, NBLOG__READ_PENDING:
 * nothing to read at *seq yet; *seq stays. *gone is 0 but after GONE. A
 * reader that only ever moves by this and by one past each record it got
 * sees every seq either returned or counted gone, once: read + gone == the
 * range walked, exactly. [signal-safe] [non-blocking]
 */
enum nblog__read_result nblog__ring_next(const struct nblog__ring_hdr *r, uint64_t *seq,
                                         uint64_t *gone, struct nblog__rec_meta *m,
                                         char *text, size_t cap);

/*
 * The call-site table (sites.c has its design and ordering).
 *
 * An entry: state is hash << 2 | NBLOG__SITE_*, the hash of its location
 * (never 0 with READY). text holds the file's last file_len bytes, then
 * the function's first func_len bytes; no NULs.
 */
struct nblog__site_entry {
    _Atomic uint64_t state;
    uint32_t line;
    uint8_t file_len;
    uint8_t func_len;
    uint16_t pad;
    char text[NBLOG__SITE_TEXT];
};
_Static_assert(sizeof(struct nblog__site_entry) == NBLOG__SITE_ENTRY, "site entry size");
#define NBLOG__SITE_EMPTY 0u
#define NBLOG__SITE_WRITING 1u
#define NBLOG__SITE_READY 2u

/* A location as readers get it: copied out of the table, checked,
 * NUL-terminated. file is its last bytes when it was longer. */
struct nblog__loc {
    uint32_t line;
    char file[NBLOG__SITE_TEXT + 1];
    char func[NBLOG__SITE_FUNC_MAX + 1];
};

/* What nblog__ring_site_register returns besides an entry (index + 1). */
#define NBLOG__SITE_BUSY 0u          /* not now: another writer is making it */
#define NBLOG__SITE_FULL 0xffffffffu /* no room: the table is full */

/* Finds or makes the entry of (file, line, func) in r's table. Writers of
 * the ring's own process; the first call of a site (nblog.h's macros
 * cache what it returns). [signal-safe] [non-blocking] */
uint32_t nblog__ring_site_register(struct nblog__ring_hdr *r, const char *file,
                                   unsigned line, const char *func);
/* Copies site (index + 1) of r's table into *out, checked: 1, or 0 if r
 * has no such entry ready or it is not one a writer could have made (a
 * hostile file). [signal-safe] */
int nblog__ring_site_get(const struct nblog__ring_hdr *r, uint32_t site,
                         struct nblog__loc *out);
/* A new site_gen for a ring this process formats or resumes: never 0. */
uint32_t nblog__ring_site_gen_next(void);
/* Resume: entries left WRITING by a dead writer become EMPTY. */
void nblog__ring_sites_resume(struct nblog__ring_hdr *r);

/*
 * Debug checkers (ring.c says what each checks and who may call it): 1
 * when the structure is consistent. Called only inside assert(); with
 * NDEBUG they check nothing and return 1.
 *   nblog__ring_check        the header: any observer, any time
 *   nblog__ring_check_epochs the epoch table: the writer process, no
 *                            publish in progress
 *   nblog__ring_check_slot   slot i's state and skip: a quiescent observer
 *   nblog__ring_check_data   the data area's owner words and every
 *                            committed spilled record's granules: a
 *                            quiescent observer of the process's own ring
 */
int nblog__ring_check(const struct nblog__ring_hdr *r);
int nblog__ring_check_data(const struct nblog__ring_hdr *r);
int nblog__ring_check_epochs(const struct nblog__ring_hdr *r);
int nblog__ring_check_slot(const struct nblog__ring_hdr *r, uint64_t i);

#endif

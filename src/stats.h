/*
 * stats.h - the console stats table of a file ring: what one entry holds.
 * Layer: the file format, beside the store. The store (ring.h) knows only
 * the table's place and size (stats_offset, NBLOG__STATS_SLOTS entries of
 * NBLOG__STATS_ENTRY_SIZE bytes); the writer process's publisher
 * (publish.c) fills the entries and the readers (ringview.c, and through
 * it ringreader.c and the nblog command) read them. Part of the bytes on
 * disk: a change here is a ring version change (ring.h).
 *
 * Only the writer process's publisher thread writes an entry, as a
 * seqlock: gen odd while it writes (P1 in publish.c). Every word is
 * accessed atomically (relaxed) and checked against gen before and after
 * (V1 in ringview.c), so a reader in another process gets a consistent
 * copy or retries.
 */
#ifndef NBLOG_STATS_H
#define NBLOG_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "ring.h"

/* One console's published stats, entry i for the i-th registered console. */
enum nblog__stat {
    NBLOG__STAT_IN_USE,    /* 1: a console is registered here */
    NBLOG__STAT_START_SEQ,
    NBLOG__STAT_NEXT_SEQ,
    NBLOG__STAT_PRINTED,
    NBLOG__STAT_FILTERED,
    NBLOG__STAT_DROPPED,
    NBLOG__STAT_WRITE_FAILED,
    NBLOG__STAT_STALLED_NS,
    NBLOG__STAT_LAST_ERROR, /* -errno as a two's complement word */
    NBLOG__STAT_SUSPENDED,
    NBLOG__STAT_HEAD,       /* the ring's head when these were taken */
    /* What kind of console (NBLOG_CONSOLE_STATS_* flags of nblog.h) and,
     * for a network console, its nblog_net_stats_t (0 for the others). */
    NBLOG__STAT_FLAGS,
    NBLOG__STAT_CONNECTED,
    NBLOG__STAT_CONNECTS,
    NBLOG__STAT_DISCONNECTS,
    NBLOG__STAT_CONNECT_FAILURES,
    NBLOG__STAT_RESENT_FRAMES,
    NBLOG__STAT_TRUNCATED,
    NBLOG__STAT_NET_ERROR,  /* -errno of the last failed connect or lost
                               connection, two's complement */
    NBLOG__STAT_COUNT
};
#define NBLOG__STAT_NAME_WORDS 4 /* 31 bytes of name + NUL */
struct nblog__stats_entry {
    _Atomic uint64_t gen;
    uint64_t name[NBLOG__STAT_NAME_WORDS];
    uint64_t v[NBLOG__STAT_COUNT];
};
_Static_assert(sizeof(struct nblog__stats_entry) == NBLOG__STATS_ENTRY_SIZE,
               "the table's size in the ring header (ring.h) is the entries'");

/* A live reader finds entry i in the first page of the file or in the
 * mapping after it (ringview.c nblog__ringview_console_now): no entry may
 * straddle a multiple of 4096 bytes (pages are 4096 or a multiple). The
 * table starts right after the header (ring.c's formatter; the validator
 * checks it), so this holds for every entry iff it holds for the one that
 * would cross the first 4096-byte boundary: the entries up to it end on
 * it exactly, or the table ends before it. */
#define NBLOG__STATS_TABLE_END                                                 \
    (sizeof(struct nblog__ring_hdr) +                                          \
     (size_t)NBLOG__STATS_SLOTS * NBLOG__STATS_ENTRY_SIZE)
_Static_assert(NBLOG__STATS_TABLE_END <= 4096 ||
                   (4096 - sizeof(struct nblog__ring_hdr)) % NBLOG__STATS_ENTRY_SIZE == 0,
               "a stats entry would straddle the first 4096-byte boundary");
_Static_assert(NBLOG__STATS_TABLE_END <= 8192,
               "past 8192 bytes, check the later boundaries too");

/* The console stats table (NBLOG__STATS_SLOTS entries). Only call on a
 * validated ring. */
static inline struct nblog__stats_entry *
nblog__ring_stats(const struct nblog__ring_hdr *r)
{
    return (struct nblog__stats_entry *)((uintptr_t)r + (uintptr_t)r->stats_offset);
}

#endif

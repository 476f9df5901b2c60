/*
 * ringfile.h - the ring in a file: the writer's side (open, lock, map,
 * resume, unlock, close) and the reader's side (open a file another
 * process wrote, diagnose it, read its published stats, wait for new
 * records). Layer: store (writer side: it knows no console; the stats
 * publisher is publish.h's) and tools (reader side, on the store). See
 * ringfile.c and ringview.c for the design.
 */
#ifndef NBLOG_RINGFILE_H
#define NBLOG_RINGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "nblog.h"
#include "ring.h"

/* ------------------------------------------------------- writer side */

struct nblog__ringfile {
    void *mem;    /* the mapping, MAP_SHARED */
    size_t bytes; /* its length, the ring's total_size */
    int fd;       /* the file, the description the mapping was made by */
    int lock_fd;  /* another description, write-locked (ringfile.c: only
                     this one holds the lock; a forked child closes its copy) */
    int resumed;  /* 1: an existing ring was reopened, records kept */
};

/* Where a ring name lives: a name without '/' goes under /dev/shm.
 * Returns 0, or -1 if it does not fit in cap. */
int nblog__ringfile_path(const char *name, char *out, size_t cap);

/* Opens (never through a symlink; creating exclusively, 0600), checks
 * (a private regular file of ours), locks, sizes, allocates, maps and
 * prefaults the ring file, then resumes or formats the ring in it, and
 * writes program (the writer's name) into its header.
 * [blocking] Returns NBLOG_OK and *f; NBLOG_EBUSY, NBLOG_EFILE (errno set:
 * ELOOP for a symlink, EPERM for a file that is not private),
 * NBLOG_ENOTRING (not a ring, or not a regular file) or NBLOG_EVERSION
 * (see nblog_init); NBLOG_EINVAL for an empty or too long path. */
int nblog__ringfile_open(const char *path, const struct nblog__ring_geom *g,
                         const char *program, struct nblog__ringfile *f);
/* Drops the writer's lock and closes both descriptors, keeping the
 * mapping (a logging call that raced with shutdown may still store into
 * it). */
void nblog__ringfile_unlock(struct nblog__ringfile *f);
/* Unmaps, unlocks and closes. */
void nblog__ringfile_close(struct nblog__ringfile *f);
/* Fork hooks (lifecycle.c's one fork registration): prepare takes the
 * lock-list mutex, parent lets it go, child closes the child's copies of
 * the lock descriptions and lets it go (ringfile.c, THE LOCK BELONGS TO THE WRITER ALONE). */
void nblog__ringfile_fork_prepare(void);
void nblog__ringfile_fork_parent(void);
void nblog__ringfile_fork_child(void);

/* ------------------------------------------------------- reader side */

/* What is wrong with a would-be ring, most specific first. */
enum nblog__ring_verdict {
    NBLOG__RING_OK = 0,
    NBLOG__RING_NOT_RING,  /* no magic: some other file */
    NBLOG__RING_NEWER,     /* a layout version this build does not know */
    NBLOG__RING_TRUNCATED, /* shorter than its header says */
    NBLOG__RING_CORRUPT,   /* magic and version right, fields impossible */
};

/* Looks at bytes (bytes long, 64-byte aligned) and says what they are;
 * why gets a sentence for a person. Trusts nothing. [signal-safe] */
enum nblog__ring_verdict nblog__ring_diagnose(const void *mem, size_t bytes,
                                              char *why, size_t why_cap);

struct nblog__ringview {
    const struct nblog__ring_hdr *ring; /* valid once opened: a validated
                                           copy of the header, geometry fixed */
    void *mem;
    size_t bytes; /* the ring's total_size (what the copy/mapping holds) */
    int mapped; /* 1: live (ringview.c map_live); 0: a private copy */
    uint64_t dev, ino; /* the file opened, to notice it being replaced */
    /* live only: */
    const struct nblog__ring_hdr *live; /* the file's first page, shared */
    void *base;        /* the view's reservation, guard pages included */
    size_t base_bytes, page;
};

/* Opens a ring file for reading: when live is set (to follow a running
 * writer) the slots are a read-only shared mapping and the header a
 * private copy taken once (call nblog__ringview_sync for new counters),
 * else a private copy of the ring. Refuses, without blocking, anything
 * but a regular file; diagnoses the header before copying or mapping
 * total_size bytes (never more than the file holds). Returns
 * NBLOG__RING_OK, a verdict, or -1 (open/read/map failed: errno, and why
 * says so). The file is never written. [blocking] */
int nblog__ringview_open(const char *path, int live, struct nblog__ringview *v,
                         char *why, size_t why_cap);
void nblog__ringview_close(struct nblog__ringview *v);

/* Live views: copies head, lost, writer_pid, writer_program and the wall-clock epochs
 * (wall_epoch, epochs[]) from the file into v->ring (never the geometry). No-op for a private copy.
 * Raises SIGBUS if the file was cut below its first page. */
void nblog__ringview_sync(struct nblog__ringview *v);

/* The writer's program name of a validated ring (a file's: hostile), fit
 * to show: bounded, each byte that is not printable ASCII as '_', "-" if
 * none. [signal-safe] */
void nblog__ringview_program(const struct nblog__ring_hdr *r,
                             char out[NBLOG__RING_PROGRAM_BYTES]);

/* 1 if path names another file than the one v opened (a writer replaced
 * it: ringfile.c, PLAN_REPLACE), 0 if not or if it cannot tell. */
int nblog__ringview_replaced(const struct nblog__ringview *v, const char *path);

/* 1 if a writer holds the file's lock now, 0 if not (or unknown). Looks
 * without taking the lock (F_OFD_GETLK). */
int nblog__ringview_writer_running(const char *path);

/* Copies console entry i (0..NBLOG__STATS_SLOTS-1) of a validated ring
 * (of a live view, the table's part in the first page is as copied at
 * open: read stats from a view opened with live = 0).
 * Returns 1 (in use, *st and *head filled), 0 (unused) or NBLOG_EAGAIN (the
 * writer kept changing it; try again later). [non-blocking] */
int nblog__ringview_console(const struct nblog__ring_hdr *r, unsigned i,
                            nblog_console_stats_t *st, uint64_t *head);

/* The same for view v as the file holds it now: a live view reads the
 * shared mapping (not the first page's copy taken at open), a copy its
 * copy. */
int nblog__ringview_console_now(const struct nblog__ringview *v, unsigned i,
                                nblog_console_stats_t *st, uint64_t *head);

/* Sleeps until the writer's publisher announces new records (head beyond
 * seen_head), or timeout_ms passes, or a signal arrives. Returns 1 at once,
 * without sleeping, if head (clamped to the seq limit) is already beyond
 * seen_head, else 0 after the sleep. [blocking] */
int nblog__ringview_wait(const struct nblog__ringview *v, uint64_t seen_head,
                         unsigned timeout_ms);

#endif

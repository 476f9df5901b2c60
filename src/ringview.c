/*
 * ringview.c - the ring in a file, reader's side: for `nblog` and anyone
 * reading a ring another process wrote (maybe one that died, maybe a file
 * that is not a ring at all).
 *
 * Rules: the file is never written (opened O_RDONLY, mapped PROT_READ), and
 * nothing in it is trusted. nblog__ring_diagnose checks the header field by
 * field before anything uses an offset or a length from it, and says in a
 * sentence what is wrong: not a ring (no magic), a newer layout, shorter
 * than its header says (truncated), or impossible fields (corrupt). Once the
 * header passes, every later access is bounded by it: slots are found by
 * masking a seq (ring.c), record lengths are clamped to the slot, and stats
 * entries sit at a fixed, checked offset.
 *
 * Opening: a FIFO, a device or a directory is refused without blocking
 * (O_NONBLOCK, then fstat: regular files only). The header is read and
 * diagnosed first, against the file's size; only then is the ring itself,
 * total_size bytes and no more, copied or mapped: a huge file that is not
 * a ring costs one header read.
 *
 * A ring read once (`nblog dmesg`) is copied into private memory, so a
 * writer that truncates the file meanwhile cannot make us fault. A ring
 * followed live is mapped read-only, except its first page, which is a
 * private copy taken once and diagnosed: the reader's geometry (sizes,
 * offsets) can no longer change under it, whatever another process writes
 * into the file (map_live). nblog__ringview_sync copies the counters it
 * needs (head, lost) and the wall-clock epochs from the file. The tool turns SIGBUS from a file cut
 * under the mapping into a clear error.
 *
 * Record times: nblog__ring_read gives each record its wall_ns, ts_ns
 * plus the offset of the record's own wall-clock epoch (ring.h), so a
 * ring written across a clock step renders both sides right
 * (nblog__ring_wall_ns: the epoch index masked, overflow-checked; a
 * hostile file's values saturate, never wrap). A live follower's copy of
 * the epochs is as fresh as its last sync: a record stored with an epoch
 * started after it takes the closest one, the previous, until the next.
 *
 * Following (nblog__ringview_wait): readers cannot write the file, so they
 * cannot say they are waiting. The writer's publisher (publish.c) bumps
 * follow_word whenever head moved and FUTEX_WAKEs; a follower loads the
 * word, checks head, and sleeps on the word's value (V2 in publish.c).
 * No busy polling; a writer that died leaves followers sleeping in
 * timeout-long naps.
 *
 * MEMORY ORDERING: the reader's halves of pairs listed elsewhere. Records:
 * ring.c R1-R3 (nblog__ring_read, on the copy's slots, which are the
 * file's). Epochs copied by sync: ring.c E2 (gen acquire, relaxed copy,
 * acquire fence, gen again), pairing with E1. Stats entries: V1
 * (copy_entry), pairing with publish.c P1. Following: V2
 * (nblog__ringview_wait), pairing with publish.c P2. Relaxed, with
 * nothing to pair: head (a bound, ring.c H2), lost, writer_pid,
 * writer_program and wall_epoch (information; a torn name is bounded
 * text), and every store into the private copy (this thread's own).
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"
#include "ringfile.h"
#include "stats.h"

#define VIEW_MAX_BYTES ((size_t)1 << 40) /* more than any valid ring */
#define STATS_TRIES 64

/* Writes a sentence into why (if given) and returns v. */
static int say(char *why, size_t cap, int v, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t cap, int v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && cap)
        vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return v;
}

enum nblog__ring_verdict nblog__ring_diagnose(const void *mem, size_t bytes,
                                              char *why, size_t why_cap)
{
    const struct nblog__ring_hdr *r = mem;
    if (bytes < sizeof r->magic || memcmp(r->magic, NBLOG__RING_MAGIC, 8) != 0)
        return say(why, why_cap, NBLOG__RING_NOT_RING,
                   "not an nblog ring (no NBLOGRNG magic at offset 0)");
    if (bytes < offsetof(struct nblog__ring_hdr, hdr_size))
        return say(why, why_cap, NBLOG__RING_TRUNCATED,
                   "truncated: %zu bytes, not even a header", bytes);
    if (r->version > NBLOG__RING_VERSION)
        return say(why, why_cap, NBLOG__RING_NEWER,
                   "ring layout version %u is newer than this tool's (%u)",
                   (unsigned)r->version, NBLOG__RING_VERSION);
    if (r->version != NBLOG__RING_VERSION)
        return say(why, why_cap, NBLOG__RING_NEWER,
                   "ring layout version %u is older than this tool's (%u): "
                   "written by an older nblog, read it with that nblog's tools",
                   (unsigned)r->version, NBLOG__RING_VERSION);
    if (bytes < sizeof *r)
        return say(why, why_cap, NBLOG__RING_TRUNCATED,
                   "truncated: %zu bytes, the header alone needs %zu", bytes,
                   sizeof *r);
    if (nblog__ring_validate(mem, r->total_size) != NBLOG_OK)
        return say(why, why_cap, NBLOG__RING_CORRUPT,
                   "corrupt header (impossible sizes or offsets: %llu records of %u bytes)",
                   (unsigned long long)r->records, (unsigned)r->record_size);
    if (bytes < r->total_size)
        return say(why, why_cap, NBLOG__RING_TRUNCATED,
                   "truncated: %zu bytes, the header says %llu", bytes,
                   (unsigned long long)r->total_size);
    return say(why, why_cap, NBLOG__RING_OK, "ok");
}

/* Reads up to size bytes at offset 0 into buf; returns how many it got
 * (fewer if the file is shorter than fstat said: diagnose what we have). */
static size_t read_prefix(int fd, void *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, (char *)buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* Step 1 of opening: the header alone, read into private memory and
 * diagnosed against the file's size, before anything is allocated or
 * mapped for the rest. On NBLOG__RING_OK *need is the header's total_size
 * (at most file_size). */
static int check_header(int fd, size_t file_size, size_t *need, char *why,
                        size_t why_cap)
{
    union {
        struct nblog__ring_hdr h;
        unsigned char b[sizeof(struct nblog__ring_hdr)];
    } u;
    memset(&u, 0, sizeof u);
    size_t got = read_prefix(fd, u.b, sizeof u.b);
    /* Short: diagnose what there is (not a ring, or truncated). Whole:
     * nblog__ring_diagnose reads only header fields, so file_size may
     * exceed the buffer; it checks total_size <= file_size. */
    enum nblog__ring_verdict verdict =
        nblog__ring_diagnose(&u.h, got < sizeof u.b ? got : file_size, why, why_cap);
    if (verdict == NBLOG__RING_OK)
        *need = (size_t)u.h.total_size;
    return verdict;
}

/* A private, 64-byte aligned copy of the file's first size bytes. */
static int copy_file(int fd, size_t size, struct nblog__ringview *v)
{
    v->mem = aligned_alloc(64, (size + 63) & ~(size_t)63);
    if (!v->mem)
        return -1;
    v->bytes = read_prefix(fd, v->mem, size);
    return 0;
}

/*
 * A live view of size bytes (size = the validated total_size):
 *
 *   base: guard page (PROT_NONE)
 *   mem:  page 0, private anonymous memory holding a COPY of the file's
 *         first page: the header the reader uses, geometry fixed at open
 *   mem + page ..: the file from offset page, MAP_SHARED, PROT_READ (the
 *         slots, live)
 *   then a guard page (PROT_NONE)
 *   live: the file's first page again, MAP_SHARED, PROT_READ, for head,
 *         lost and the follow word (nblog__ringview_sync, _wait).
 *
 * Every address ring.c computes from the copy's slots_offset, records and
 * record_shift lies inside [mem, mem + total_size): what another process
 * writes into the file's header later changes nothing but the counters
 * sync copies. A file cut under the shared part raises SIGBUS (the tool
 * exits 6); an address outside the view, if ever computed, would fault on
 * a guard page instead of reading some other mapping.
 */
static int map_live(int fd, size_t size, struct nblog__ringview *v)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* The private page must hold no slot: with pages larger than the
     * header and stats table (4352 bytes), slots would be a stale copy.
     * Refuse clearly rather than follow nothing or trust the file: a
     * known limit, `dmesg --follow` does not work with pages over 4352
     * bytes (documented in nblog.1); plain dmesg (a copy) does. */
    if (nblog__ring_slots_offset() < page) {
        errno = ENOTSUP;
        return -1;
    }
    size_t span = (size + page - 1) / page * page;
    if (span < page)
        span = page;
    v->live = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
    if (v->live == MAP_FAILED) {
        v->live = NULL;
        return -1;
    }
    void *base = mmap(NULL, span + 2 * page, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return -1;
    v->base = base;
    v->base_bytes = span + 2 * page;
    v->page = page;
    char *mem = (char *)base + page;
    if (mmap(mem, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
             -1, 0) == MAP_FAILED)
        return -1;
    if (size > page && mmap(mem + page, size - page, PROT_READ, MAP_SHARED | MAP_FIXED,
                            fd, (off_t)page) == MAP_FAILED)
        return -1;
    /* The copy: from here on the header is ours. Plain loads: another
     * process may be storing into it, and the copy is diagnosed below
     * before anything uses it. (SIGBUS if the file was cut meanwhile.) */
    memcpy(mem, v->live, size < page ? size : page);
    v->mem = mem;
    v->bytes = size;
    return 0;
}

int nblog__ringview_open(const char *path, int live, struct nblog__ringview *v,
                         char *why, size_t why_cap)
{
    char full[4096];
    memset(v, 0, sizeof *v);
    if (nblog__ringfile_path(path, full, sizeof full) != 0) {
        errno = ENAMETOOLONG;
        return say(why, why_cap, -1, "path too long");
    }
    /* O_NONBLOCK: open() of a FIFO (or a device) must not wait for a
     * writer; O_NOCTTY: a terminal never becomes ours. Anything but a
     * regular file is refused right after. */
    int fd = nblog__fd_mine(open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (fd < 0)
        return say(why, why_cap, -1, "%s: %s", full, strerror(errno));
    struct stat st;
    int err = fstat(fd, &st) != 0       ? errno
              : !S_ISREG(st.st_mode)    ? EINVAL
              : (size_t)st.st_size > VIEW_MAX_BYTES ? EFBIG
                                                    : 0;
    if (err) {
        close(fd);
        errno = err;
        return say(why, why_cap, -1, "%s: %s", full,
                   err == EINVAL ? "not a regular file" : strerror(err));
    }
    v->dev = (uint64_t)st.st_dev;
    v->ino = (uint64_t)st.st_ino;
    size_t size = 0;
    int verdict = check_header(fd, (size_t)st.st_size, &size, why, why_cap);
    if (verdict != NBLOG__RING_OK) {
        close(fd);
        memset(v, 0, sizeof *v);
        return verdict;
    }
    /* Only what the header says (<= the file's size) is copied or mapped. */
    v->mapped = live;
    int rc = live ? map_live(fd, size, v) : copy_file(fd, size, v);
    err = errno;
    close(fd);
    if (rc != 0) {
        nblog__ringview_close(v);
        say(why, why_cap, 0, "%s: %s", full, strerror(err));
        errno = err;
        return -1;
    }
    /* Again, on the bytes we will use: the file may have changed since
     * check_header read it. */
    verdict = nblog__ring_diagnose(v->mem, v->bytes, why, why_cap);
    if (verdict != NBLOG__RING_OK) {
        nblog__ringview_close(v);
        return verdict;
    }
    v->ring = v->mem;
    return NBLOG__RING_OK;
}

void nblog__ringview_close(struct nblog__ringview *v)
{
    if (v->mapped) {
        if (v->base)
            munmap(v->base, v->base_bytes);
        if (v->live)
            munmap((void *)v->live, v->page ? v->page : (size_t)sysconf(_SC_PAGESIZE));
    } else {
        free(v->mem);
    }
    memset(v, 0, sizeof *v);
}

void nblog__ringview_program(const struct nblog__ring_hdr *r,
                             char out[NBLOG__RING_PROGRAM_BYTES])
{
    /* Hostile text: at most the field, up to its first NUL; a byte that is
     * not printable ASCII (nor a space) as '_', as nblog_init makes a
     * name; nothing as "-". */
    size_t n = 0;
    for (; n < NBLOG__RING_PROGRAM_BYTES - 1 && r->writer_program[n]; n++) {
        unsigned char ch = (unsigned char)r->writer_program[n];
        out[n] = ch > ' ' && ch <= '~' ? (char)ch : '_';
    }
    if (n == 0)
        out[n++] = '-';
    out[n] = '\0';
}

void nblog__ringview_sync(struct nblog__ringview *v)
{
    if (!v->mapped || !v->ring)
        return;
    struct nblog__ring_hdr *copy = (struct nblog__ring_hdr *)v->mem;
    const struct nblog__ring_hdr *live = v->live;
    /* Relaxed loads from the file: readers use head only as a bound (the
     * slot's state word, loaded acquire in ring.c, is what pairs with the
     * writer's commit; ring.c MEMORY ORDERING R1/W3); lost and writer_pid
     * are information. Relaxed stores: the copy is this
     * thread's own. Geometry is never copied again. */
    atomic_store_explicit(&copy->head,
                          atomic_load_explicit((_Atomic uint64_t *)&live->head,
                                               memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&copy->lost,
                          atomic_load_explicit((_Atomic uint64_t *)&live->lost,
                                               memory_order_relaxed),
                          memory_order_relaxed);
    copy->writer_pid = __atomic_load_n(&live->writer_pid, __ATOMIC_RELAXED);
    /* The name as it is now (a writer that resumed the file rewrote it):
     * relaxed byte loads (ring.h nblog__ring_set_program); a copy torn by
     * a writer rewriting it is still bounded text, checked at use
     * (nblog__ringview_program). */
    for (unsigned i = 0; i < NBLOG__RING_PROGRAM_BYTES; i++)
        copy->writer_program[i] = __atomic_load_n(&live->writer_program[i], __ATOMIC_RELAXED);
    /* The wall-clock epochs, entry by entry, as they are: nothing in them
     * is trusted (ring.c nblog__ring_wall_ns masks the index, checks every
     * add, and falls back to the closest epoch). An entry the writer is
     * rewriting is copied as it is; its gen (0 while written, ring.c E1)
     * is copied last, after an acquire fence, and its first load made
     * again after: a copy torn between two states gets gen 0, "unused",
     * until the next sync. */
    for (unsigned i = 0; i < NBLOG__EPOCHS; i++) {
        const struct nblog__wall_epoch *le = &live->epochs[i];
        struct nblog__wall_epoch *ce = &copy->epochs[i];
        /* Acquire: pairs with E1's release store of the entry's gen. */
        uint64_t gen = atomic_load_explicit((_Atomic uint64_t *)&le->gen,
                                            memory_order_acquire);
        __atomic_store_n(&ce->offset_ns, __atomic_load_n(&le->offset_ns, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&ce->since_ns, __atomic_load_n(&le->since_ns, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&ce->since_seq, __atomic_load_n(&le->since_seq, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        /* Acquire fence: pairs with E1's release fence. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit((_Atomic uint64_t *)&le->gen, memory_order_relaxed) != gen)
            gen = 0;
        atomic_store_explicit(&ce->gen, gen, memory_order_relaxed);
    }
    /* Relaxed: information (writers of this copy: none). */
    atomic_store_explicit(&copy->wall_epoch,
                          atomic_load_explicit((_Atomic uint64_t *)&live->wall_epoch,
                                               memory_order_relaxed),
                          memory_order_relaxed);
}

int nblog__ringview_replaced(const struct nblog__ringview *v, const char *path)
{
    char full[4096];
    struct stat st;
    if (nblog__ringfile_path(path, full, sizeof full) != 0 || stat(full, &st) != 0)
        return 0;
    return (uint64_t)st.st_dev != v->dev || (uint64_t)st.st_ino != v->ino;
}

int nblog__ringview_writer_running(const char *path)
{
    char full[4096];
    if (nblog__ringfile_path(path, full, sizeof full) != 0)
        return 0;
    int fd = nblog__fd_mine(open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (fd < 0)
        return 0;
    struct flock lock = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
    int running = fcntl(fd, F_OFD_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
    close(fd);
    return running;
}

/* V1: one consistent copy of entry e, or 0 if the writer was mid-update. */
static int copy_entry(const struct nblog__stats_entry *e, uint64_t name[],
                      uint64_t val[])
{
    /* Acquire: pairs with put_entry's release store of gen (P1). */
    uint64_t gen = atomic_load_explicit((_Atomic uint64_t *)&e->gen,
                                        memory_order_acquire);
    if (gen & 1)
        return 0;
    /* Relaxed: checked against gen below (the seqlock's read side). */
    for (int i = 0; i < NBLOG__STAT_NAME_WORDS; i++)
        name[i] = __atomic_load_n(&e->name[i], __ATOMIC_RELAXED);
    for (int i = 0; i < NBLOG__STAT_COUNT; i++)
        val[i] = __atomic_load_n(&e->v[i], __ATOMIC_RELAXED);
    /* Acquire fence: pairs with put_entry's release fence (P1). */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit((_Atomic uint64_t *)&e->gen,
                                memory_order_relaxed) == gen;
}

/* Entry e as a console's stats (nblog__ringview_console's results). */
static int console_from(const struct nblog__stats_entry *e, nblog_console_stats_t *st,
                        uint64_t *head)
{
    uint64_t name[NBLOG__STAT_NAME_WORDS], v[NBLOG__STAT_COUNT];
    int tries = 0;
    while (!copy_entry(e, name, v))
        if (++tries == STATS_TRIES)
            return NBLOG_EAGAIN;
    if (!v[NBLOG__STAT_IN_USE])
        return 0;
    memset(st, 0, sizeof *st);
    memcpy(st->name, name, sizeof st->name - 1);
    st->name[sizeof st->name - 1] = '\0';
    st->start_seq = v[NBLOG__STAT_START_SEQ];
    st->next_seq = v[NBLOG__STAT_NEXT_SEQ];
    st->printed = v[NBLOG__STAT_PRINTED];
    st->filtered = v[NBLOG__STAT_FILTERED];
    st->dropped = v[NBLOG__STAT_DROPPED];
    st->write_failed = v[NBLOG__STAT_WRITE_FAILED];
    st->stalled_ns = v[NBLOG__STAT_STALLED_NS];
    st->last_error = (int)(int64_t)v[NBLOG__STAT_LAST_ERROR];
    st->suspended = v[NBLOG__STAT_SUSPENDED] != 0;
    /* Flags the writer did not define are not passed on. */
    st->flags = (unsigned)(v[NBLOG__STAT_FLAGS] &
                           (NBLOG_CONSOLE_STATS_NET | NBLOG_CONSOLE_STATS_STREAM));
    st->connected = v[NBLOG__STAT_CONNECTED] != 0;
    st->connects = v[NBLOG__STAT_CONNECTS];
    st->disconnects = v[NBLOG__STAT_DISCONNECTS];
    st->connect_failures = v[NBLOG__STAT_CONNECT_FAILURES];
    st->resent_frames = v[NBLOG__STAT_RESENT_FRAMES];
    st->truncated = v[NBLOG__STAT_TRUNCATED];
    st->net_error = (int)(int64_t)v[NBLOG__STAT_NET_ERROR];
    *head = v[NBLOG__STAT_HEAD];
    st->lag = *head > st->next_seq ? *head - st->next_seq : 0;
    return 1;
}

int nblog__ringview_console(const struct nblog__ring_hdr *r, unsigned i,
                            nblog_console_stats_t *st, uint64_t *head)
{
    if (i >= NBLOG__STATS_SLOTS)
        return 0;
    return console_from(&nblog__ring_stats(r)[i], st, head);
}

int nblog__ringview_console_now(const struct nblog__ringview *v, unsigned i,
                                nblog_console_stats_t *st, uint64_t *head)
{
    if (!v->mapped || i >= NBLOG__STATS_SLOTS)
        return nblog__ringview_console(v->ring, i, st, head);
    /* Live: the entry where the file is mapped shared, the first page
     * (v->live) or the slots' mapping after it. The offset comes from the
     * validated copy (sizeof the header); no entry straddles the
     * boundary (stats.h, NBLOG__STATS_TABLE_END). */
    size_t off = (size_t)v->ring->stats_offset + i * sizeof(struct nblog__stats_entry);
    /* stats.h asserts that no entry straddles a 4096-byte boundary. */
    assert(off / v->page == (off + sizeof(struct nblog__stats_entry) - 1) / v->page);
    const char *at = off < v->page ? (const char *)v->live + off
                                   : (const char *)v->mem + off;
    return console_from((const struct nblog__stats_entry *)at, st, head);
}

int nblog__ringview_wait(const struct nblog__ringview *v, uint64_t seen_head,
                         unsigned timeout_ms)
{
    /* The file's own words (a private copy would never change). */
    const struct nblog__ring_hdr *r = v->mapped ? v->live : v->ring;
    /* V2 - acquire: pairs with the publisher's release increment. */
    uint32_t word = atomic_load_explicit((_Atomic uint32_t *)&r->follow_word,
                                         memory_order_acquire);
    /* head clamped, as every reader sees it (nblog__ring_head), and only
     * beyond seen_head counts: a raw head past the limit (refused writes)
     * or a hostile head below the follower's position is no news, or
     * every wait would return at once and the follower spin. */
    if (nblog__seq_clamp(atomic_load_explicit((_Atomic uint64_t *)&r->head,
                                              memory_order_relaxed)) > seen_head)
        return 1;
    /* Shared futex (no PRIVATE): the waker is another process. Returns on
     * a wake, a changed word, the timeout or a signal: all mean "look". */
    nblog__futex_wait_shared(&r->follow_word, word, (uint64_t)timeout_ms * 1000000u);
    return 0;
}

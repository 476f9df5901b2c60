/*
 * ringfile.c - the ring in a file, writer's side.
 *
 * WHAT AND WHY
 *
 * With nblog_options_t.ring_path (or NBLOG_RING) the ring lives in a file
 * mapped MAP_SHARED instead of anonymous memory, so `nblog dmesg` can read
 * it while the program runs and after it was SIGKILLed (the kernel keeps
 * the page cache; the next reader finds every committed record). A bare
 * name goes under /dev/shm (gone at reboot); a path on disk survives one.
 *
 * OPENING (nblog__ringfile_open), in order:
 *   1. open(O_RDWR | O_NOFOLLOW): a symlink at the name is never followed
 *      (ELOOP: someone could point it at a file of ours). An existing file
 *      is used only if it is a regular file, the effective uid's, with no
 *      read or write bit for group or others and one link (check_private);
 *      anything else is refused before anything is written. If there is
 *      none, O_CREAT | O_EXCL, then fchmod 0600 whatever the umask: records
 *      are private. (/dev/shm is world-writable: with the kernel's
 *      protected_regular and protected_symlinks off, these checks are what
 *      keeps another user's planted file or link out.)
 *   2. An open-file-description write lock on the whole file (fcntl
 *      F_OFD_SETLK, F_WRLCK): one writer process per file. A second one
 *      gets NBLOG_EBUSY and touches nothing, so the first is undisturbed.
 *      Readers can see it without taking it (F_OFD_GETLK, `nblog status`).
 *      See THE LOCK BELONGS TO THE WRITER ALONE below.
 *   3. Look at what is there: empty -> format; a ring of our version with
 *      the same sizes -> resume (nblog__ring_resume: records kept, sequence
 *      continued), unless once mapped it fails validation or its head is
 *      at the sequence limit: then replaced as below, from seq 0; a ring of our version with other sizes, or an older
 *      version, or one cut short -> replace: unlink it and create a new
 *      file under the name (a reader may have the old one mapped: resizing
 *      it under them would fault them), continuing the sequence where we
 *      can read it; a newer version -> NBLOG_EVERSION; anything else ->
 *      NBLOG_ENOTRING. The last two leave the file as it was.
 *   4. ftruncate to the size, posix_fallocate every block (so no store can
 *      hit a hole on a full disk: SIGBUS would kill the program), mmap
 *      MAP_SHARED | MAP_POPULATE through a second open file description
 *      (below) and write-touch every page (a first touch must never land on
 *      a logging call).
 *
 * THE LOCK BELONGS TO THE WRITER ALONE
 *
 * Linux releases an OFD lock when the open file description that holds it
 * is released, i.e. when its last reference goes: every descriptor that
 * names it, in any process, and every mapping made through it (a vma keeps
 * a reference to the file, not to a descriptor). fork() copies both, so a
 * forked child (a daemon's pre-forked worker, which never execs) would keep
 * the lock for as long as it lives, and a restarted writer would get
 * NBLOG_EBUSY. Hence:
 *   - the lock is taken on a description used for nothing else (lock_fd);
 *   - the mapping is made through another one, opened by name and checked
 *     to be the same inode (fd): it carries no lock, so the child's copy of
 *     the mapping keeps nothing alive;
 *   - every lock_fd this process holds is listed (locks[]), and a fork
 *     child handler closes the child's copies (close only: F_UNLCK would
 *     drop the parent's lock, the description being shared). The prepare
 *     handler takes locks_mutex, which open and close hold from open(2) to
 *     listing, so no fork can copy a lock_fd that is not listed yet (the
 *     three are fork hooks, nblog__ringfile_fork_*, which lifecycle.c's
 *     one fork registration calls);
 *   - lock_fd is O_CLOEXEC for children that exec, and shutdown unlocks
 *     explicitly (F_UNLCK) for children made without fork handlers (a raw
 *     clone): closing our descriptor would not drop a lock they share.
 * lifecycle.c's fork handler moves the child to a private ring and closes
 * the child's fd; the parent's mapping stays mapped in the child (a
 * pointer into it may survive there), harmlessly.
 *
 * PUBLISHER
 *
 * A file ring gets one extra thread. Every 100 ms it
 *   - copies each console's stats (nblog_console_stats) into the table in
 *     the file (ring.h, struct nblog__stats_entry), entry i for the i-th
 *     registered console, as a seqlock: gen odd while writing;
 *   - if head moved since its last pass, increments the header's
 *     follow_word and FUTEX_WAKEs (shared, not PRIVATE: the waiters are
 *     other processes) every follower sleeping on it.
 * Logging calls never touch either, so they stay free of system calls; a
 * follower learns of new records within 100 ms (ringview.c).
 *
 * MEMORY ORDERING
 *   P1 publisher: gen = odd (relaxed), release fence, stores (relaxed),
 *      gen = even (release).
 *   V1 reader (ringview.c): gen (acquire), loads (relaxed), acquire fence,
 *      gen again (relaxed): the seqlock of ring.c's slots, in miniature.
 *   P2 publisher: follow_word += 1 (release), after loading head.
 *   V2 follower: follow_word (acquire), then head: pairs with P2, so a
 *      follower that sees the increment sees at least the head that caused
 *      it; one that does not sees the word unchanged and FUTEX_WAIT returns
 *      at once when the publisher has bumped it meanwhile.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "platform.h"
#include "ringfile.h"

#define PUBLISH_EVERY_NS 100000000L

/* ------------------------------------------------------------ opening */

int nblog__ringfile_path(const char *name, char *out, size_t cap)
{
    int n = strchr(name, '/') ? snprintf(out, cap, "%s", name)
                              : snprintf(out, cap, "/dev/shm/%s", name);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

enum plan {
    PLAN_FORMAT,  /* an empty file: format it */
    PLAN_RESUME,  /* our ring, same sizes: keep its records */
    PLAN_REPLACE, /* a ring we may not keep as it is: a new file in its place */
};

/* Step 3: what to do with what the file holds. */
static int plan_for(int fd, uint64_t records, uint32_t record_size,
                    enum plan *plan, uint64_t *first_seq)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return NBLOG_EFILE;
    *plan = PLAN_FORMAT;
    *first_seq = 0;
    if (st.st_size == 0)
        return NBLOG_OK;
    struct nblog__ring_hdr h;
    ssize_t n = pread(fd, &h, sizeof h, 0);
    if (n < (ssize_t)sizeof h.magic || memcmp(h.magic, NBLOG__RING_MAGIC, 8) != 0)
        return NBLOG_ENOTRING;
    if (n >= (ssize_t)offsetof(struct nblog__ring_hdr, hdr_size) &&
        h.version > NBLOG__RING_VERSION)
        return NBLOG_EVERSION;
    *plan = PLAN_REPLACE;
    if ((size_t)n < sizeof h || h.version < NBLOG__RING_VERSION)
        return NBLOG_OK; /* cut short, or an older layout: start afresh */
    /* Relaxed: the header copy is ours; no writer can run (we hold the lock). */
    uint64_t head = atomic_load_explicit(&h.head, memory_order_relaxed);
    if (h.records == records && h.record_size == record_size &&
        (uint64_t)st.st_size == nblog__ring_bytes(records, record_size)) {
        *plan = PLAN_RESUME; /* validated again once mapped */
        return NBLOG_OK;
    }
    /* Continue the sequence if the old head leaves the new ring room to
     * go on (ring.h, NBLOG__SEQ_LIMIT; a margin of two laps, so a forged
     * head just below the limit gives no ring used up after one record):
     * else start again at 0. records <= NBLOG__RECORDS_MAX (lifecycle.c),
     * so the margin is far below the limit. */
    *first_seq = head <= NBLOG__SEQ_LIMIT - 2 * records ? head : 0;
    return NBLOG_OK;
}

/* Whether fd is still the file named full: a writer replacing the file
 * (replace_file) unlinks the inode we may have opened just before. lstat:
 * a symlink put there since is not our file, even if it points to it. */
static int still_named(int fd, const char *full)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(full, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* ------------------------------------------------- locks held (fork) */

#define LOCKS_MAX 8

static pthread_mutex_t locks_mutex = PTHREAD_MUTEX_INITIALIZER;
static int locks[LOCKS_MAX]; /* lock_fds held, the first nlocks; locks_mutex */
static int nlocks;

void nblog__ringfile_fork_prepare(void)
{
    pthread_mutex_lock(&locks_mutex);
}

void nblog__ringfile_fork_parent(void)
{
    pthread_mutex_unlock(&locks_mutex);
}

/* In a forked child (one thread, locks_mutex held by it since prepare):
 * lets go of the child's copies of the parent's lock descriptions. */
void nblog__ringfile_fork_child(void)
{
    for (int i = 0; i < nlocks; i++)
        close(locks[i]);
    nlocks = 0;
    pthread_mutex_unlock(&locks_mutex);
}

/* Adds fd to the list (locks_mutex held); -1 if the list is full. */
static int locks_add(int fd)
{
    if (nlocks == LOCKS_MAX)
        return -1;
    locks[nlocks++] = fd;
    return 0;
}

/* Removes fd from the list and closes it, unlocking it first if asked.
 * Does nothing if fd is not listed: in a forked child the fork hook
 * (nblog__ringfile_fork_child) closed it already, and the number may name
 * another file since. */
static void locks_close(int fd, int unlock)
{
    pthread_mutex_lock(&locks_mutex);
    for (int i = 0; i < nlocks; i++) {
        if (locks[i] != fd)
            continue;
        locks[i] = locks[--nlocks];
        if (unlock) {
            struct flock un = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
            fcntl(fd, F_OFD_SETLK, &un);
        }
        close(fd);
        break;
    }
    pthread_mutex_unlock(&locks_mutex);
}

/* ------------------------------------------------------------ opening */

static int open_locked_once(const char *full, int extra_flags, int *out);
static int open_private(const char *full, int extra_flags, int *out);

/* Opens the file and takes the writer's lock (step 2). A lock won on an
 * inode another writer unlinked meanwhile (it replaced the file and locks
 * the new one) is no lock at all: open again, by name. */
static int open_locked(const char *full, int extra_flags, int *out)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = open_locked_once(full, extra_flags, out);
        if (rc != NBLOG_OK || still_named(*out, full))
            return rc;
        locks_close(*out, 0);
        *out = -1;
    }
    return NBLOG_EBUSY;
}

/* Step 1: whether an existing file may hold our records: a regular file
 * (not a FIFO or device; a socket never gets here: open() fails with
 * ENXIO, NBLOG_EFILE), ours (the effective uid's: another
 * user could read what we log, or change it under us), private (no read
 * or write bit for group or others, or they read it too) and with no other
 * name (a hard link someone made to a file of ours elsewhere). Returns
 * NBLOG_OK, NBLOG_ENOTRING (not a regular file) or NBLOG_EFILE with errno
 * EPERM (someone else's, or not private). Looks only: changes nothing. */
static int check_private(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return NBLOG_EFILE;
    if (!S_ISREG(st.st_mode))
        return NBLOG_ENOTRING;
    if (st.st_uid != geteuid() || st.st_nlink != 1 ||
        (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
        errno = EPERM;
        return NBLOG_EFILE;
    }
    return NBLOG_OK;
}

/* Step 1: opens the file by name, never through a symlink (O_NOFOLLOW:
 * ELOOP), creating it if absent, exclusively and 0600 whatever the umask
 * (fchmod: a umask may clear our own bits, never add others'). An existing
 * file must pass check_private. O_NONBLOCK and O_NOCTTY: a FIFO or device
 * at the name is refused without blocking in open or taking a terminal.
 * With O_EXCL in extra_flags only a new file will do (EEXIST -> EBUSY: a
 * writer that replaced the file raced us). Returns NBLOG_OK and *out, or
 * an error with nothing written and nothing left open. */
static int open_private(const char *full, int extra_flags, int *out)
{
    const int base = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = -1;
        if (!(extra_flags & O_EXCL))
            fd = nblog__fd_mine(open(full, base)); /* the usual case: it exists */
        if (fd >= 0) {
            int rc = check_private(fd);
            if (rc != NBLOG_OK) {
                int saved = errno;
                close(fd);
                errno = saved;
                return rc;
            }
            *out = fd;
            return NBLOG_OK;
        }
        if ((extra_flags & O_EXCL) == 0 && errno != ENOENT)
            return NBLOG_EFILE; /* ELOOP for a symlink, EACCES, EISDIR... */
        fd = nblog__fd_mine(open(full, base | O_CREAT | O_EXCL, 0600));
        if (fd >= 0) {
            if (fchmod(fd, 0600) != 0) {
                int saved = errno;
                close(fd);
                errno = saved;
                return NBLOG_EFILE;
            }
            *out = fd;
            return NBLOG_OK;
        }
        if (errno != EEXIST)
            return NBLOG_EFILE;
        if (extra_flags & O_EXCL)
            return NBLOG_EBUSY; /* raced with another writer's replace */
        /* Created between our two opens: look at it again. */
    }
    return NBLOG_EBUSY;
}

/* Opens and locks one description, listed in locks[] before a fork can
 * copy it (locks_mutex from open(2) on). */
static int open_locked_once(const char *full, int extra_flags, int *out)
{
    pthread_mutex_lock(&locks_mutex);
    int fd = -1;
    int rc = open_private(full, extra_flags, &fd);
    if (rc == NBLOG_OK) {
        struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_OFD_SETLK, &lock) != 0)
            rc = errno == EAGAIN || errno == EACCES ? NBLOG_EBUSY : NBLOG_EFILE;
        else if (locks_add(fd) != 0) {
            errno = EMFILE; /* more ring files than a process may write */
            rc = NBLOG_EFILE;
        }
        if (rc != NBLOG_OK) {
            int saved = errno;
            close(fd); /* never listed: unlisted, a lock dies with its fd */
            errno = saved;
        }
    }
    pthread_mutex_unlock(&locks_mutex);
    if (rc == NBLOG_OK)
        *out = fd;
    return rc;
}

/* PLAN_REPLACE: readers may have the old file mapped at its old size, so
 * it is never resized under them; a new file takes its name instead. */
static int replace_file(const char *full, int *fd)
{
    if (unlink(full) != 0)
        return NBLOG_EFILE;
    locks_close(*fd, 0);
    *fd = -1;
    return open_locked(full, O_EXCL, fd);
}

/* Step 4's write-touch of a resumed ring: adds 0 to one word per page, a
 * store that changes nothing for readers in other processes. */
static void touch_pages(void *mem, size_t bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < bytes; off += (size_t)page)
        /* Relaxed: changes no value; only makes the page writable now. */
        __atomic_fetch_or((uint64_t *)((char *)mem + off), 0, __ATOMIC_RELAXED);
}

/* Sizes the file locked as lock_fd and maps it through a description of
 * its own (*map_fd, opened by name: the same inode, checked), so that the
 * mapping keeps no reference to the lock's description. */
static int map_file(const char *full, int lock_fd, size_t bytes, int *map_fd,
                    void **mem)
{
    struct stat st, mst;
    if (fstat(lock_fd, &st) != 0)
        return NBLOG_EFILE;
    if ((size_t)st.st_size != bytes && ftruncate(lock_fd, (off_t)bytes) != 0)
        return NBLOG_EFILE;
    int err = posix_fallocate(lock_fd, 0, (off_t)bytes);
    if (err) {
        errno = err;
        return NBLOG_EFILE;
    }
    *map_fd = nblog__fd_mine(open(full, O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (*map_fd < 0)
        return NBLOG_EFILE;
    if (fstat(*map_fd, &mst) != 0 || mst.st_dev != st.st_dev ||
        mst.st_ino != st.st_ino) {
        errno = ESTALE; /* someone else removed or replaced the locked file */
        return NBLOG_EFILE;
    }
    *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                *map_fd, 0);
    return *mem == MAP_FAILED ? NBLOG_EFILE : NBLOG_OK;
}

/* Resumes the mapped ring if it passes validation (its head and first_seq
 * too) and can go on (its head below the sequence limit). Returns 1 if
 * resumed; 0 means the file must be replaced (PLAN_REPLACE, from seq 0):
 * never formatted in place, or followers holding it open would never learn
 * that its records are gone and new ones go elsewhere. */
static int try_resume(void *mem, size_t bytes)
{
    if (nblog__ring_validate(mem, bytes) != NBLOG_OK)
        return 0;
    touch_pages(mem, bytes);
    return nblog__ring_resume(mem) == NBLOG_OK;
}

int nblog__ringfile_open(const char *path, uint64_t records, uint32_t record_size,
                         const char *program, struct nblog__ringfile *f)
{
    char full[PATH_MAX];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->lock_fd = -1;
    if (!path || !*path || nblog__ringfile_path(path, full, sizeof full) != 0)
        return NBLOG_EINVAL;
    int lock_fd = -1, fd = -1;
    int rc = open_locked(full, 0, &lock_fd);
    if (rc != NBLOG_OK)
        return rc;
    enum plan plan = PLAN_FORMAT;
    uint64_t first_seq = 0;
    rc = plan_for(lock_fd, records, record_size, &plan, &first_seq);
    size_t bytes = nblog__ring_bytes(records, record_size);
    void *mem = NULL;
    int resumed = 0;
    if (rc == NBLOG_OK && plan == PLAN_RESUME) {
        rc = map_file(full, lock_fd, bytes, &fd, &mem);
        if (rc == NBLOG_OK && !(resumed = try_resume(mem, bytes))) {
            munmap(mem, bytes);
            mem = NULL;
            close(fd);
            fd = -1;
            plan = PLAN_REPLACE;
            first_seq = 0;
        }
    }
    if (rc == NBLOG_OK && plan == PLAN_REPLACE)
        rc = replace_file(full, &lock_fd);
    if (rc == NBLOG_OK && !resumed)
        rc = map_file(full, lock_fd, bytes, &fd, &mem);
    if (rc != NBLOG_OK) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        locks_close(lock_fd, 0);
        errno = saved;
        return rc;
    }
    if (!resumed) {
        memset(mem, 0, bytes);
        nblog__ring_format(mem, records, record_size, first_seq);
    }
    /* Whose records these are, for readers in other processes; a resumed
     * ring gets this writer's name as it got its pid. */
    nblog__ring_set_program(mem, program);
    f->resumed = resumed;
    f->mem = mem;
    f->bytes = bytes;
    f->fd = fd;
    f->lock_fd = lock_fd;
    return NBLOG_OK;
}

void nblog__ringfile_unlock(struct nblog__ringfile *f)
{
    if (f->fd < 0)
        return; /* never opened (lock_fd may be 0 then), or closed */
    /* Explicitly: a child made without fork handlers may share lock_fd's
     * description, and closing our descriptor would not drop its lock. */
    locks_close(f->lock_fd, 1);
    f->lock_fd = -1;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

void nblog__ringfile_close(struct nblog__ringfile *f)
{
    if (f->mem)
        munmap(f->mem, f->bytes);
    f->mem = NULL;
    nblog__ringfile_unlock(f);
}

/* ---------------------------------------------------------- publisher */

static struct {
    pthread_t thread;
    int running;               /* start/stop (init and shutdown) only */
    _Atomic uint32_t stop;     /* futex word: 1 asks the thread to end */
    struct nblog__ring_hdr *ring;
    uint64_t woken_head;       /* publisher thread only */
} pub;

/* P1: one entry under its seqlock. */
static void put_entry(struct nblog__stats_entry *e, const uint64_t name[],
                      const uint64_t v[])
{
    /* Relaxed: only this thread writes gen; the fence orders it first. */
    uint64_t gen = atomic_load_explicit(&e->gen, memory_order_relaxed);
    /* Odd only if a writer died mid-update before this file was resumed;
     * gen | 1 then + 1 gives an even, newer value either way. */
    atomic_store_explicit(&e->gen, gen | 1, memory_order_relaxed);
    /* Release fence: pairs with the reader's acquire fence (V1); a reader
     * that saw any store below sees gen odd or changed on its re-check. */
    atomic_thread_fence(memory_order_release);
    /* Relaxed: ordered by the fence above and the release store below. */
    for (int i = 0; i < NBLOG__STAT_NAME_WORDS; i++)
        __atomic_store_n(&e->name[i], name[i], __ATOMIC_RELAXED);
    for (int i = 0; i < NBLOG__STAT_COUNT; i++)
        __atomic_store_n(&e->v[i], v[i], __ATOMIC_RELAXED);
    /* Release: pairs with the reader's acquire load of gen (V1). */
    atomic_store_explicit(&e->gen, (gen | 1) + 1, memory_order_release);
}

struct publish_pass {
    struct nblog__ring_hdr *ring;
    uint64_t head;
    unsigned used; /* entries written this pass */
};

static void publish_console(struct nblog_console *con, void *arg)
{
    struct publish_pass *p = arg;
    nblog_console_stats_t st;
    if (p->used >= NBLOG__STATS_SLOTS || nblog_console_stats(con, &st) != NBLOG_OK)
        return;
    uint64_t name[NBLOG__STAT_NAME_WORDS] = {0};
    memcpy(name, st.name, sizeof name < sizeof st.name ? sizeof name : sizeof st.name);
    ((char *)name)[sizeof name - 1] = '\0';
    uint64_t v[NBLOG__STAT_COUNT] = {
        [NBLOG__STAT_IN_USE] = 1,
        [NBLOG__STAT_START_SEQ] = st.start_seq,
        [NBLOG__STAT_NEXT_SEQ] = st.next_seq,
        [NBLOG__STAT_PRINTED] = st.printed,
        [NBLOG__STAT_FILTERED] = st.filtered,
        [NBLOG__STAT_DROPPED] = st.dropped,
        [NBLOG__STAT_WRITE_FAILED] = st.write_failed,
        [NBLOG__STAT_STALLED_NS] = st.stalled_ns,
        [NBLOG__STAT_LAST_ERROR] = (uint64_t)(int64_t)st.last_error,
        [NBLOG__STAT_SUSPENDED] = (uint64_t)st.suspended,
        [NBLOG__STAT_HEAD] = p->head,
    };
    put_entry(&nblog__ring_stats(p->ring)[p->used++], name, v);
}

/* Entries past the consoles that exist now: marked unused (once). */
static void clear_unused(struct nblog__ring_hdr *r, unsigned from)
{
    static const uint64_t zero_name[NBLOG__STAT_NAME_WORDS];
    static const uint64_t zero_v[NBLOG__STAT_COUNT];
    for (unsigned i = from; i < NBLOG__STATS_SLOTS; i++) {
        struct nblog__stats_entry *e = &nblog__ring_stats(r)[i];
        /* Relaxed: only this thread writes entries. */
        if (__atomic_load_n(&e->v[NBLOG__STAT_IN_USE], __ATOMIC_RELAXED))
            put_entry(e, zero_name, zero_v);
    }
}

/* P2: wake followers if there is something new for them. */
static void wake_followers(struct nblog__ring_hdr *r, uint64_t head)
{
    if (head == pub.woken_head)
        return;
    pub.woken_head = head;
    /* Release: pairs with the follower's acquire load (V2). */
    atomic_fetch_add_explicit(&r->follow_word, 1, memory_order_release);
    syscall(SYS_futex, (uint32_t *)&r->follow_word, FUTEX_WAKE, INT_MAX, NULL,
            NULL, 0);
}

void nblog__publish_once(struct nblog__ring_hdr *r)
{
    struct publish_pass p = {.ring = r, .head = nblog__ring_head(r)};
    nblog__consoles_foreach(publish_console, &p);
    clear_unused(r, p.used);
    /* Relaxed: a timestamp for `nblog status`, read on its own. */
    atomic_store_explicit(&r->stats_published_ns, nblog__clock_ns(CLOCK_MONOTONIC),
                          memory_order_relaxed);
    wake_followers(r, p.head);
}

static void *publisher_main(void *arg)
{
    struct nblog__ring_hdr *r = arg;
    const struct timespec every = {0, PUBLISH_EVERY_NS};
    /* Acquire: pairs with the release store in nblog__publisher_stop. */
    while (!atomic_load_explicit(&pub.stop, memory_order_acquire)) {
        nblog__publish_once(r);
        syscall(SYS_futex, (uint32_t *)&pub.stop, FUTEX_WAIT_PRIVATE, 0, &every,
                NULL, 0);
    }
    return NULL;
}

/* In a forked child the thread is gone; the parent still publishes. */
void nblog__publisher_fork_child(void)
{
    pub.running = 0;
}

int nblog__publisher_start(struct nblog__ring_hdr *r)
{
    assert(!pub.running);
    pub.ring = r;
    pub.woken_head = UINT64_MAX;
    /* Relaxed: the thread is created after, which orders it. */
    atomic_store_explicit(&pub.stop, 0, memory_order_relaxed);
    nblog__publish_once(r);
    /* Takes none of the program's signals (platform.h). */
    if (nblog__thread_create(&pub.thread, 0, publisher_main, r) != 0)
        return NBLOG_ENOMEM;
    pub.running = 1;
    return NBLOG_OK;
}

void nblog__publisher_stop(void)
{
    /* Shutdown and the exit handler (log.c) may both stop it, on two
     * threads at once: one joins, the other finds it stopped. */
    static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&stop_lock);
    if (pub.running) {
        /* Release: pairs with publisher_main's acquire load. */
        atomic_store_explicit(&pub.stop, 1, memory_order_release);
        syscall(SYS_futex, (uint32_t *)&pub.stop, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        pthread_join(pub.thread, NULL);
        pub.running = 0;
        nblog__publish_once(pub.ring);
    }
    pthread_mutex_unlock(&stop_lock);
}

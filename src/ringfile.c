/*
 * ringfile.c - the ring in a file, writer's side: open, lock, map, resume,
 * unlock, close. Layer: store (beside ring.c, which it formats or resumes
 * in the file); it knows no console. The file ring's stats publisher and
 * follower wake-ups sit above the consoles, in publish.c.
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
 *      anything else is refused before anything is written. (/dev/shm is
 *      world-writable: with the kernel's protected_regular and
 *      protected_symlinks off, these checks are what keeps another user's
 *      planted file or link out.) If there is none, a new ring (step 4).
 *   2. An open-file-description write lock on the whole file (fcntl
 *      F_OFD_SETLK, F_WRLCK): one writer process per file. A second one
 *      gets NBLOG_EBUSY and touches nothing, so the first is undisturbed.
 *      Readers can see it without taking it (F_OFD_GETLK, `nblog status`).
 *      See THE LOCK BELONGS TO THE WRITER ALONE below.
 *   3. Look at what is there: a ring of our version with the same sizes ->
 *      resume (nblog__ring_resume: records kept, sequence continued; the
 *      file is mapped as in step 4), unless once mapped it fails
 *      validation or its head is at the sequence limit: then replaced, from
 *      seq 0; an empty file, a ring of our version with other sizes, an
 *      older version, or one cut short -> replace by a new ring (step 4:
 *      a reader may have the old one mapped, and resizing it under them
 *      would fault them), continuing the sequence where we can read it; a
 *      newer version -> NBLOG_EVERSION; anything else -> NBLOG_ENOTRING.
 *      The last two leave the file as it was.
 *   4. A new ring is made whole before it has the name, so that a reader
 *      opening the name finds a whole ring or none (never an empty or
 *      short file, and never no file while one is replaced: a follower
 *      that sees the name's inode change reopens at once): a file with no
 *      name (O_TMPFILE in the name's directory; on a filesystem without
 *      it, NAME.new.PID, O_EXCL), 0600 whatever the umask, locked as in
 *      step 2; then ftruncate to the size, posix_fallocate every block (so
 *      no store can hit a hole on a full disk: SIGBUS would kill the
 *      program), mmap MAP_SHARED | MAP_POPULATE through a second open file
 *      description (below), write-touch every page (a first touch must
 *      never land on a logging call), format, name the program; last, the
 *      name: rename over the old file when replacing it (we hold its lock:
 *      no other writer can be doing the same), a link for a first file
 *      (EEXIST: another writer's first file got there first; we look at
 *      it, locked: NBLOG_EBUSY). A resumed ring is write-touched likewise.
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
 * MEMORY ORDERING
 * Nothing here pairs with another thread: the atomics are relaxed accesses
 * to a ring no writer uses yet (the header copy plan_for reads, the
 * prefault of touch_pages), under the file's lock. The publisher's pairs
 * (P1, P2) are publish.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform.h"
#include "ringfile.h"

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
static int plan_for(int fd, const struct nblog__ring_geom *g,
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
    if (h.records == g->records && h.record_size == g->record_size &&
        h.text_max == g->text_max && h.data_granules == g->granules &&
        (uint64_t)st.st_size == nblog__ring_bytes_geom(g)) {
        *plan = PLAN_RESUME; /* validated again once mapped */
        return NBLOG_OK;
    }
    /* Continue the sequence if the old head leaves the new ring room to
     * go on (ring.h, NBLOG__SEQ_LIMIT; a margin of two laps, so a forged
     * head just below the limit gives no ring used up after one record):
     * else start again at 0. records <= NBLOG__RECORDS_MAX (lifecycle.c),
     * so the margin is far below the limit. */
    *first_seq = head <= NBLOG__SEQ_LIMIT - 2 * g->records ? head : 0;
    return NBLOG_OK;
}

/* Whether fd is still the file named full: a writer replacing the file
 * (create_ring) renames a new file over the inode we may have opened just
 * before. lstat: a symlink put there since is not our file, even if it
 * points to it. */
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

/* open_private and open_locked: no file has the name (not an NBLOG_ code). */
#define ABSENT 1
/* name_new: another writer gave a first file the name before us. */
#define RACED 2

static int open_locked_once(const char *full, int *out);

/* Opens the file and takes the writer's lock (step 2). A lock won on an
 * inode another writer renamed over meanwhile (it replaced the file and
 * locks the new one) is no lock at all: open again, by name. */
static int open_locked(const char *full, int *out)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = open_locked_once(full, out);
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

/* Step 1: opens the file at the name, never through a symlink (O_NOFOLLOW:
 * ELOOP), if it passes check_private. O_NONBLOCK and O_NOCTTY: a FIFO or
 * device at the name is refused without blocking in open or taking a
 * terminal. Returns NBLOG_OK and *out, ABSENT, or an error with nothing
 * written and nothing left open. */
static int open_private(const char *full, int *out)
{
    int fd = nblog__fd_mine(
        open(full, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
    if (fd < 0)
        return errno == ENOENT ? ABSENT : NBLOG_EFILE; /* ELOOP, EACCES... */
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

/* Step 2 on fd: the writer's lock, and fd listed (locks_mutex held). */
static int lock_and_list(int fd)
{
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &lock) != 0)
        return errno == EAGAIN || errno == EACCES ? NBLOG_EBUSY : NBLOG_EFILE;
    if (locks_add(fd) != 0) {
        errno = EMFILE; /* more ring files than a process may write */
        return NBLOG_EFILE;
    }
    return NBLOG_OK;
}

/* Undoes an open whose lock failed (never listed: unlisted, a lock dies
 * with its fd), keeping errno. */
static void close_keeping_errno(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

/* Opens and locks one description, listed in locks[] before a fork can
 * copy it (locks_mutex from open(2) on). */
static int open_locked_once(const char *full, int *out)
{
    pthread_mutex_lock(&locks_mutex);
    int fd = -1;
    int rc = open_private(full, &fd);
    if (rc == NBLOG_OK && (rc = lock_and_list(fd)) != NBLOG_OK)
        close_keeping_errno(fd);
    pthread_mutex_unlock(&locks_mutex);
    if (rc == NBLOG_OK)
        *out = fd;
    return rc;
}

/* Step 4, a new file: one with no name yet, O_TMPFILE in the name's
 * directory, or on a filesystem without O_TMPFILE one named tmp (O_EXCL;
 * a file of that name is a dead writer's: tmp has our pid in it). 0600
 * whatever the umask (fchmod: a umask may clear our own bits, never add
 * others'). Locked and listed like any lock_fd. *named: 1 for tmp. */
static int open_new(const char *full, const char *tmp, int *out, int *named)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(full, '/'); /* nblog__ringfile_path: one is there */
    size_t n = slash == full ? 1 : (size_t)(slash - full);
    memcpy(dir, full, n);
    dir[n] = '\0';
    pthread_mutex_lock(&locks_mutex);
    *named = 0;
    int fd = nblog__fd_mine(open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        *named = 1;
        unlink(tmp);
        fd = nblog__fd_mine(
            open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_CREAT | O_EXCL, 0600));
    }
    int rc = fd < 0 || fchmod(fd, 0600) != 0 ? NBLOG_EFILE : lock_and_list(fd);
    if (rc != NBLOG_OK && fd >= 0) {
        close_keeping_errno(fd);
        if (*named)
            unlink(tmp);
    }
    pthread_mutex_unlock(&locks_mutex);
    if (rc == NBLOG_OK)
        *out = fd;
    return rc;
}

/* Step 4, last: gives the new file, whole, the name. Atomically: a reader
 * opening the name finds the old file or the new one, never an empty or
 * short one, and never no file while one is replaced (a follower learns
 * of the replacement by the name's inode changing: ringview.c). Replacing
 * (we hold the old file's lock, so no other writer does the same): rename
 * over it. A first file: a link, which fails if another writer's first
 * file got the name before ours (RACED: look at theirs). fd is the new
 * file's lock_fd; an unnamed file gets a name through /proc/self/fd. */
static int name_new(const char *full, const char *tmp, int fd, int named, int replacing)
{
    if (!named) {
        char proc[32];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (replacing)
            unlink(tmp); /* a dead writer's */
        if (linkat(AT_FDCWD, proc, AT_FDCWD, replacing ? tmp : full, AT_SYMLINK_FOLLOW) != 0)
            return errno == EEXIST && !replacing ? RACED : NBLOG_EFILE;
        if (!replacing)
            return NBLOG_OK;
    }
    int rc;
    if (replacing)
        rc = rename(tmp, full) == 0 ? NBLOG_OK : NBLOG_EFILE;
    else
        rc = link(tmp, full) == 0 ? NBLOG_OK : errno == EEXIST ? RACED : NBLOG_EFILE;
    if (rc != NBLOG_OK || !replacing) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
    }
    return rc;
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
 * its own (*map_fd, opened by the path by with open_flags: the same inode,
 * checked), so that the mapping keeps no reference to the lock's
 * description. */
static int map_file(const char *by, int open_flags, int lock_fd, size_t bytes,
                    int *map_fd, void **mem)
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
    *map_fd = nblog__fd_mine(open(by, O_RDWR | O_CLOEXEC | open_flags));
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

static void ringfile_set(struct nblog__ringfile *f, void *mem, size_t bytes, int fd,
                         int lock_fd, int resumed)
{
    f->mem = mem;
    f->bytes = bytes;
    f->fd = fd;
    f->lock_fd = lock_fd;
    f->resumed = resumed;
}

/* Step 4 for a new ring: a new file made whole under no name (sized,
 * allocated, mapped, every page touched, formatted from first_seq, the
 * program named), then given the name (name_new). replacing: the name's
 * file is ours, locked, and may be mapped by readers: it is never resized
 * or formatted under them. */
static int create_ring(const char *full, int replacing, const struct nblog__ring_geom *g,
                       uint64_t first_seq, const char *program,
                       struct nblog__ringfile *f)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.new.%d", full, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return NBLOG_EFILE;
    }
    size_t bytes = nblog__ring_bytes_geom(g);
    int lock_fd = -1, fd = -1, named = 0;
    void *mem = NULL;
    int rc = open_new(full, tmp, &lock_fd, &named);
    if (rc == NBLOG_OK) {
        char proc[32]; /* O_NOFOLLOW would refuse /proc's link to the file */
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", lock_fd);
        rc = map_file(named ? tmp : proc, named ? O_NOFOLLOW : 0, lock_fd, bytes, &fd,
                      &mem);
    }
    if (rc == NBLOG_OK) {
        memset(mem, 0, bytes); /* touches every page now, not on a logging call */
        nblog__ring_format_geom(mem, g, first_seq);
        nblog__ring_set_program(mem, program);
        rc = name_new(full, tmp, lock_fd, named, replacing);
    }
    if (rc != NBLOG_OK) {
        int saved = errno;
        if (mem && mem != MAP_FAILED)
            munmap(mem, bytes);
        if (fd >= 0)
            close(fd);
        if (lock_fd >= 0)
            locks_close(lock_fd, 0);
        if (named)
            unlink(tmp);
        errno = saved;
        return rc;
    }
    ringfile_set(f, mem, bytes, fd, lock_fd, 0);
    return NBLOG_OK;
}

/* Step 3 for the file at the name, locked as lock_fd: resumed if it can
 * be, else replaced by a new ring (create_ring), or refused as it is. */
static int resume_or_replace(const char *full, int lock_fd,
                             const struct nblog__ring_geom *g, const char *program,
                             struct nblog__ringfile *f)
{
    enum plan plan = PLAN_FORMAT;
    uint64_t first_seq = 0;
    int rc = plan_for(lock_fd, g, &plan, &first_seq);
    if (rc == NBLOG_OK && plan == PLAN_RESUME) {
        size_t bytes = nblog__ring_bytes_geom(g);
        int fd = -1;
        void *mem = NULL;
        rc = map_file(full, O_NOFOLLOW, lock_fd, bytes, &fd, &mem);
        if (rc == NBLOG_OK && try_resume(mem, bytes)) {
            /* Whose records these are, for readers in other processes: a
             * resumed ring gets this writer's name as it got its pid. */
            nblog__ring_set_program(mem, program);
            ringfile_set(f, mem, bytes, fd, lock_fd, 1);
            return NBLOG_OK;
        }
        int saved = errno;
        if (mem && mem != MAP_FAILED)
            munmap(mem, bytes);
        if (fd >= 0)
            close(fd);
        errno = saved;
        first_seq = 0;
    }
    if (rc == NBLOG_OK) /* PLAN_FORMAT and PLAN_REPLACE alike: never in place */
        rc = create_ring(full, 1, g, first_seq, program, f);
    int saved = errno;
    locks_close(lock_fd, 0); /* the old file's: replaced, or left as it was */
    errno = saved;
    return rc;
}

int nblog__ringfile_open(const char *path, const struct nblog__ring_geom *g,
                         const char *program, struct nblog__ringfile *f)
{
    char full[PATH_MAX];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->lock_fd = -1;
    if (!path || !*path || nblog__ringfile_path(path, full, sizeof full) != 0)
        return NBLOG_EINVAL;
    for (int attempt = 0; attempt < 3; attempt++) {
        int lock_fd = -1;
        int rc = open_locked(full, &lock_fd);
        if (rc == NBLOG_OK)
            return resume_or_replace(full, lock_fd, g, program, f);
        if (rc != ABSENT)
            return rc;
        rc = create_ring(full, 0, g, 0, program, f);
        if (rc != RACED)
            return rc;
        /* Another writer's first file got the name: look at it (locked:
         * NBLOG_EBUSY). */
    }
    return NBLOG_EBUSY;
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

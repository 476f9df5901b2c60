/*
 * consoles/fd.c - an output to a file descriptor, or to a file by path.
 *
 * KINDS. The fd is classified once (fstat) when the console is made and
 * whenever a path is (re)opened, so a write costs only its own system call
 * on a regular file or a terminal:
 *
 *   kind    write (printer thread; may block)   write_atomic (never blocks)
 *   file    write(2)                            pwritev2(RWF_NOWAIT): a kernel
 *                                               that cannot promise it (most
 *                                               buffered writes: EOPNOTSUPP)
 *                                               gets -EAGAIN, the printer
 *                                               writes; during a panic flush
 *                                               write(2) (see PANIC)
 *   pipe    write(2), SIGPIPE guarded           write(2) on a private
 *   tty     write(2)                            O_NONBLOCK description (pipes
 *                                               SIGPIPE guarded)
 *   socket  send(MSG_NOSIGNAL)                  send(MSG_NOSIGNAL|MSG_DONTWAIT)
 *   other   write(2)                            write(2) if the description is
 *                                               O_NONBLOCK, else poll(0) first
 *                                               and at most PIPE_BUF bytes
 *
 * PRIVATE DESCRIPTION. O_NONBLOCK belongs to the open file description,
 * which an inherited fd (stderr) shares with the shell and every other
 * process on it; flipping it would break them. So for a pipe, FIFO or
 * terminal whose description is blocking, registration opens
 * /proc/self/fd/N again (O_WRONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC): a new
 * description of the same pipe or terminal, ours alone, used only by
 * write_atomic. While the console lives it is one more writer of the pipe
 * (its reader sees end of file when that is closed too). If that open
 * fails (no /proc, a pipe without a reader: ENXIO), write_atomic falls back
 * to poll(0) and at most PIPE_BUF bytes, which a pipe with room takes
 * without blocking (best effort: another process may fill it in between).
 * If the program points the fd elsewhere (dup2 over stderr, a daemon's
 * /dev/null), refresh() notices (one fstat before each printer batch and
 * each write_atomic that writes: the price of following the fd) and
 * classifies it again, closing our old description.
 *
 * SIGPIPE. A write to a pipe without a reader raises SIGPIPE at the writing
 * thread, whose default action kills the process. The program's disposition
 * is never changed: around each pipe write the calling thread blocks
 * SIGPIPE (pthread_sigmask), notes whether one was already pending
 * (sigpending), and after EPIPE takes back the one this write raised
 * (sigtimedwait, zero timeout) only if none was pending before; then it
 * unblocks SIGPIPE again if it was not blocked. EPIPE is then an ordinary
 * write error (counted, last_error -EPIPE). Sockets use MSG_NOSIGNAL.
 *
 * PANIC. The panic flush (nblog__panicking set) calls write_atomic, and a
 * regular file must still get the crash report, so during it write_atomic
 * on a regular file is a plain write(2): it may wait for the disk, as
 * write(2) does; when the process is dying (a fatal signal, nblog_panic)
 * the panic watchdog bounds it (panic_timeout_ms); nblog_panic_flush, which
 * returns, has no watchdog and waits for the disk. Pipes, terminals and
 * sockets stay non-blocking; the panic flush waits out their EAGAIN itself
 * until its deadline.
 *
 * BY PATH. The file is opened O_APPEND|O_CREAT (our own description, so
 * O_NONBLOCK is set on it), reopened on request (after logrotate renamed
 * it) and rotated by size, keeping N old files (path.1 .. path.N), both by
 * the printer between batches, so no line is split across the switch.
 * Rotation destroys nothing when it cannot finish (ROTATION below).
 *
 * All of write, write_atomic and their helpers are async-signal-safe
 * (write, send, pwritev2, poll, pthread_sigmask, sigpending; sigtimedwait
 * is glibc's thin wrapper of the rt_sigtimedwait system call) except the
 * rotation and reopen, which only the printer thread does.
 *
 * Every write, open and rename goes through the fault layer of fd.h
 * (STYLE.md 7).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "consoles/fd.h"
#include "nblog.h"
#include "platform.h"

ssize_t (*_Atomic nblog__fd_write_hook)(int fd, const void *buf, size_t len);
int (*_Atomic nblog__fd_open_hook)(const char *path, int flags, mode_t mode);
int (*_Atomic nblog__fd_rename_hook)(const char *from, const char *to);
_Atomic unsigned nblog__fd_retry_ms = 1000;

#define RETRY_MAX_MS 60000u

enum fd_kind { K_FILE, K_PIPE, K_TTY, K_SOCK, K_OTHER };

struct fd_out {
    int fd;                 /* the printer's writes */
    int afd;                /* write_atomic's: fd, or our private description */
    int owns_fd;            /* opened by path: ours to close */
    int owns_afd;           /* afd is a private description: ours to close */
    int kind;               /* enum fd_kind of fd */
    dev_t dev;              /* what fd was when classified (see refresh) */
    ino_t ino;
    mode_t type;            /* st_mode & S_IFMT */
    int afd_may_block;      /* afd is blocking: poll(0) first, <= PIPE_BUF */
    int nowait_unsupported; /* file: the kernel refused RWF_NOWAIT (owner only) */
    char path[PATH_MAX];    /* "" for a plain fd */
    unsigned long long max_bytes; /* rotate past this size; 0: never */
    int keep;               /* old files kept by rotation */
    /* Written by the owner; relaxed loads by nblog_console_file_stats. */
    _Atomic unsigned long long size; /* bytes in the current file */
    _Atomic uint64_t rotations, rotate_failed, reopen_failed;
    _Atomic unsigned failing;   /* failed rotations/reopens in a row */
    _Atomic int file_error;     /* -errno of the last failed one */
    uint64_t retry_at_ns;       /* printer only: no new attempt before */
    _Atomic int reopen;         /* set by nblog_console_reopen */
};

/* ------------------------------------------------------------ writing */

static ssize_t sys_write(const struct fd_out *o, int fd, const void *buf, size_t len,
                         int atomic, int panicking)
{
    ssize_t (*hook)(int, const void *, size_t) =
        atomic_load_explicit(&nblog__fd_write_hook, memory_order_relaxed);
    ssize_t n;
    if (hook) {
        n = hook(fd, buf, len);
    } else if (o->kind == K_SOCK) {
        n = send(fd, buf, len, MSG_NOSIGNAL | (atomic ? MSG_DONTWAIT : 0));
    } else if (o->kind == K_FILE && atomic && !panicking) {
        struct iovec iov = {(void *)buf, len};
        n = pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
    } else {
        n = write(fd, buf, len);
    }
    return n < 0 ? -errno : n;
}

/* One write; on a pipe with SIGPIPE kept from the process (see SIGPIPE at
 * the top). Returns bytes written or -errno; errno is preserved.
 * [signal-safe] */
static ssize_t write_once(const struct fd_out *o, int fd, const void *buf, size_t len,
                          int atomic, int panicking)
{
    if (o->kind != K_PIPE)
        return sys_write(o, fd, buf, len, atomic, panicking);
    int saved = errno;
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    int was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    ssize_t n = sys_write(o, fd, buf, len, atomic, panicking);
    if (n == -EPIPE && !was_pending) {
        /* Ours, raised at this thread: take it back. A SIGPIPE that was
         * pending before is the program's, and stays (signals of one
         * number do not queue, so ours merged into it). */
        static const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    if (sigismember(&old, SIGPIPE) != 1)
        pthread_sigmask(SIG_UNBLOCK, &pipe_only, NULL);
    errno = saved;
    return n;
}

/* -------------------------------------------------------- classifying */

/* Classifies o->fd and picks write_atomic's descriptor. shared: the
 * description may be others' (nblog_console_fd), never change its flags.
 * [signal-safe]: fstat, fcntl, open, isatty (tcgetattr) only. */
static void classify(struct fd_out *o, int shared)
{
    struct stat st;
    o->kind = K_OTHER;
    o->dev = 0;
    o->ino = 0;
    o->type = 0;
    if (fstat(o->fd, &st) == 0) {
        o->dev = st.st_dev;
        o->ino = st.st_ino;
        o->type = st.st_mode & S_IFMT;
        if (S_ISREG(st.st_mode))
            o->kind = K_FILE;
        else if (S_ISFIFO(st.st_mode))
            o->kind = K_PIPE;
        else if (S_ISSOCK(st.st_mode))
            o->kind = K_SOCK;
        else if (S_ISCHR(st.st_mode) && isatty(o->fd))
            o->kind = K_TTY;
    }
    o->afd = o->fd;
    o->owns_afd = 0;
    o->afd_may_block = 0;
    o->nowait_unsupported = 0;
    if (o->kind == K_FILE || o->kind == K_SOCK)
        return;
    int fl = fcntl(o->fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        return;
    if (shared && (o->kind == K_PIPE || o->kind == K_TTY)) {
        char proc[40] = "/proc/self/fd/", digits[12];
        size_t n = 0, at = strlen(proc);
        for (unsigned v = (unsigned)o->fd; n == 0 || v; v /= 10)
            digits[n++] = (char)('0' + v % 10);
        while (n)
            proc[at++] = digits[--n];
        proc[at] = '\0';
        int fd = open(proc, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
            o->afd = fd;
            o->owns_afd = 1;
            return;
        }
    }
    o->afd_may_block = 1;
}

/* A plain fd the program may have pointed elsewhere (dup2 over stderr,
 * a daemon's /dev/null) or closed: if it no longer is what was classified,
 * classify again (a closed fd: writes get EBADF, as write(2) would, and our
 * private description of what it was is closed). One fstat; called by the
 * printer before each batch and by write_atomic before it writes. Owner
 * only. [signal-safe] */
static void refresh(struct fd_out *o)
{
    if (o->owns_fd)
        return;
    struct stat st;
    if (fstat(o->fd, &st) != 0)
        memset(&st, 0, sizeof st); /* closed: classified as nothing (type 0) */
    if (st.st_dev == o->dev && st.st_ino == o->ino && (st.st_mode & S_IFMT) == o->type)
        return;
    int old_afd = o->owns_afd ? o->afd : -1;
    classify(o, 1);
    if (old_afd >= 0)
        close(old_afd);
}

static void close_fds(struct fd_out *o)
{
    if (o->owns_afd && o->afd >= 0)
        close(o->afd);
    if (o->owns_fd && o->fd >= 0)
        close(o->fd);
    o->owns_afd = o->owns_fd = 0;
    o->fd = o->afd = -1;
}

/* ------------------------------------------------------ opening, rotation */

static int open_hooked(const char *path, int flags, mode_t mode)
{
    int (*hook)(const char *, int, mode_t) =
        atomic_load_explicit(&nblog__fd_open_hook, memory_order_relaxed);
    return hook ? hook(path, flags, mode) : open(path, flags, mode);
}

static int rename_hooked(const char *from, const char *to)
{
    int (*hook)(const char *, const char *) =
        atomic_load_explicit(&nblog__fd_rename_hook, memory_order_relaxed);
    return hook ? hook(from, to) : rename(from, to);
}

#define OPEN_FLAGS (O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

/* Opens without ever blocking: O_NONBLOCK (also so write_atomic never
 * blocks on a FIFO or terminal; write polls). A FIFO nobody has open for
 * reading refuses that (ENXIO); it is opened read-write instead, which
 * Linux allows without waiting for a reader, and the console is then
 * simply stuck once the FIFO is full, as with a reader that never reads.
 * Returns the fd or -errno. */
static int open_nonblocking(const char *path)
{
    int fd = open_hooked(path, OPEN_FLAGS | O_CREAT, 0644);
    if (fd < 0 && errno == ENXIO)
        fd = open_hooked(path, (OPEN_FLAGS & ~O_WRONLY) | O_RDWR, 0);
    return fd < 0 ? -errno : fd;
}

/* Makes fd (just opened, ours) the console's file, closing the old one
 * after the switch. */
static void use_fd(struct fd_out *o, int fd)
{
    struct stat st;
    unsigned long long size = fstat(fd, &st) == 0 ? (unsigned long long)st.st_size : 0;
    int old_fd = o->owns_fd ? o->fd : -1, old_afd = o->owns_afd ? o->afd : -1;
    o->fd = fd;
    o->owns_fd = 1;
    classify(o, 0);
    atomic_store_explicit(&o->size, size, memory_order_relaxed);
    if (old_afd >= 0)
        close(old_afd);
    if (old_fd >= 0)
        close(old_fd);
}

/* Opens the path anew; on failure the old file stays in use. */
static int open_path(struct fd_out *o)
{
    int fd = open_nonblocking(o->path);
    if (fd < 0)
        return fd;
    use_fd(o, fd);
    return 0;
}

static void old_name(char *buf, size_t cap, const char *path, int i)
{
    if (i == 0)
        snprintf(buf, cap, "%s", path);
    else
        snprintf(buf, cap, "%s.%d", path, i);
}

/*
 * ROTATION. Never destroys a file it did not mean to, whatever fails:
 *   1. open the new file first, under a temporary name in the same
 *      directory (O_EXCL): if the directory is read-only or no fd is left,
 *      nothing has been touched;
 *   2. shift the chain from the first gap down (path.(g-1) -> path.g, ...,
 *      path.1 -> path.2; g is the first missing of 1..keep, or keep: the
 *      oldest is replaced, as asked), so a retry after a failure half-way
 *      never pushes an old file out twice;
 *   3. path -> path.1 (keep 0: the new file replaces path, as asked);
 *   4. temporary name -> path (if that fails, path.1 goes back to path).
 * A failure leaves the current file in use (it grows past max_bytes), is
 * counted and reported, and is retried with backoff (before_write).
 * Returns 0 or -errno.
 */
static int rotate(struct fd_out *o)
{
    char tmp[PATH_MAX + 48], from[PATH_MAX + 16], to[PATH_MAX + 16];
    int fd = -1;
    for (unsigned i = 0; fd < 0 && i < 16; i++) {
        snprintf(tmp, sizeof tmp, "%s.rotating-%ld-%u", o->path, (long)getpid(), i);
        fd = open_hooked(tmp, OPEN_FLAGS | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
        if (fd < 0 && errno != EEXIST)
            return -errno;
    }
    if (fd < 0)
        return -EEXIST;
    int gap = o->keep;
    for (int i = 1; i < o->keep; i++) {
        struct stat st;
        old_name(from, sizeof from, o->path, i);
        if (lstat(from, &st) != 0 && errno == ENOENT) {
            gap = i;
            break;
        }
    }
    int err = 0;
    for (int i = gap - 1; i >= 1 && !err; i--) {
        old_name(from, sizeof from, o->path, i);
        old_name(to, sizeof to, o->path, i + 1);
        if (rename_hooked(from, to) != 0 && errno != ENOENT)
            err = -errno;
    }
    old_name(to, sizeof to, o->path, 1);
    if (!err && o->keep > 0 && rename_hooked(o->path, to) != 0)
        err = -errno;
    if (!err && rename_hooked(tmp, o->path) != 0) {
        err = -errno;
        if (o->keep > 0)
            rename_hooked(to, o->path); /* put the current file back */
    }
    if (err) {
        close(fd);
        unlink(tmp);
        return err;
    }
    use_fd(o, fd);
    return 0;
}

/* Says once per run of failures (and when it works again) what happened,
 * as a WARNING record that every console prints: the file goes on growing
 * past max_bytes, nothing is lost. Printer thread only. */
static void report(struct fd_out *o, const char *what, int err)
{
    char why[64];
    if (err) {
        /* strerrordesc_np: glibc's text, untranslated, static, no allocation
         * (strerror may load a message catalog). */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
        const char *desc = strerrordesc_np(-err);
        snprintf(why, sizeof why, "%s", desc ? desc : "unknown error");
#else
        snprintf(why, sizeof why, "errno %d", -err);
#endif
        nblog_printf(NBLOG_LEVEL_WARNING,
                     "nblog: file console %s: %s failed: %s; writing on to the "
                     "file already open (%llu bytes, max_bytes %llu); retrying with backoff",
                     o->path, what, why,
                     atomic_load_explicit(&o->size, memory_order_relaxed), o->max_bytes);
    } else {
        nblog_printf(NBLOG_LEVEL_NOTICE, "nblog: file console %s: %s works again after %u failures",
                     o->path, what, atomic_load_explicit(&o->failing, memory_order_relaxed));
    }
}

static void failed(struct fd_out *o, const char *what, int err, _Atomic uint64_t *counter)
{
    /* Relaxed: statistics, read by nblog_console_file_stats. */
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    atomic_store_explicit(&o->file_error, err, memory_order_relaxed);
    unsigned n = atomic_fetch_add_explicit(&o->failing, 1, memory_order_relaxed);
    /* Relaxed: a setting. Doubles per failure in a row, up to 60 s (or the
     * first delay, if that is longer). */
    uint64_t base = atomic_load_explicit(&nblog__fd_retry_ms, memory_order_relaxed);
    uint64_t ms = base << (n < 16 ? n : 16);
    if (ms > RETRY_MAX_MS)
        ms = base > RETRY_MAX_MS ? base : RETRY_MAX_MS;
    o->retry_at_ns = nblog__now_ns() + ms * 1000000u;
    nblog__console_note_error(o, err);
    if (n == 0)
        report(o, what, err);
}

static void worked(struct fd_out *o, const char *what)
{
    if (atomic_load_explicit(&o->failing, memory_order_relaxed) == 0)
        return;
    report(o, what, 0);
    atomic_store_explicit(&o->failing, 0, memory_order_relaxed);
    o->retry_at_ns = 0;
}

/* Printer thread only: reopen or rotate between whole batches. A failure
 * never fails the batch: it goes to the file already open. */
static void before_write(struct fd_out *o, size_t len)
{
    if (!o->path[0] || nblog__now_ns() < o->retry_at_ns)
        return;
    /* Acquire: pairs with nblog_console_reopen's release store. */
    if (atomic_exchange_explicit(&o->reopen, 0, memory_order_acquire)) {
        int rc = open_path(o);
        if (rc < 0) {
            atomic_store_explicit(&o->reopen, 1, memory_order_relaxed); /* again later */
            failed(o, "reopen", rc, &o->reopen_failed);
            return;
        }
        worked(o, "reopen");
    }
    unsigned long long size = atomic_load_explicit(&o->size, memory_order_relaxed);
    if (o->max_bytes && size > 0 && size + len > o->max_bytes) {
        int rc = rotate(o);
        if (rc < 0) {
            failed(o, "rotation", rc, &o->rotate_failed);
            return;
        }
        atomic_fetch_add_explicit(&o->rotations, 1, memory_order_relaxed);
        worked(o, "rotation");
    }
}

static void add_size(struct fd_out *o, ssize_t n)
{
    if (n > 0)
        atomic_store_explicit(&o->size,
                              atomic_load_explicit(&o->size, memory_order_relaxed) +
                                  (unsigned long long)n,
                              memory_order_relaxed);
}

/* The printer's write: may block. EAGAIN (a non-blocking fd that is full)
 * waits up to 100 ms for room and is returned, so the console can check
 * it still owns itself before it retries. */
static ssize_t fd_write(void *ctx, const char *buf, size_t len)
{
    struct fd_out *o = ctx;
    refresh(o);
    before_write(o, len);
    ssize_t n = write_once(o, o->fd, buf, len, 0, 0);
    if (n == -EAGAIN) {
        struct pollfd p = {.fd = o->fd, .events = POLLOUT};
        poll(&p, 1, 100);
    }
    add_size(o, n);
    return n;
}

/* Never blocks (see KINDS). [signal-safe] */
static ssize_t fd_write_atomic(void *ctx, const char *buf, size_t len)
{
    struct fd_out *o = ctx;
    /* Relaxed: set by the panic flush on this thread, or a hint. */
    int panicking = atomic_load_explicit(&nblog__panicking, memory_order_relaxed);
    if (o->kind == K_FILE && o->nowait_unsupported && !panicking)
        return -EAGAIN;
    refresh(o); /* after the check above: a stale "file" only means -EAGAIN */
    if (o->afd_may_block) {
        struct pollfd p = {.fd = o->afd, .events = POLLOUT};
        if (poll(&p, 1, 0) <= 0)
            return -EAGAIN;
        if (len > PIPE_BUF)
            len = PIPE_BUF;
    }
    ssize_t n = write_once(o, o->afd, buf, len, 1, panicking);
    if (n == -EOPNOTSUPP && o->kind == K_FILE && !panicking) {
        o->nowait_unsupported = 1; /* the printer writes this file */
        return -EAGAIN;
    }
    add_size(o, n);
    return n;
}

static void fd_teardown(void *ctx)
{
    struct fd_out *o = ctx;
    close_fds(o);
    free(o);
}

static const nblog_console_ops_t fd_ops = {
    .write = fd_write,
    .write_atomic = fd_write_atomic,
    .teardown = fd_teardown,
};

static int register_out(struct fd_out *o, const nblog_console_opts_t *opts,
                        nblog_console_t **out)
{
    int rc = nblog_console_register(&fd_ops, o, opts, out);
    if (rc != NBLOG_OK) {
        close_fds(o);
        free(o);
    }
    return rc;
}

int nblog_console_fd(int fd, const nblog_console_opts_t *opts, nblog_console_t **out)
{
    if (fd < 0)
        return NBLOG_EINVAL;
    struct fd_out *o = calloc(1, sizeof *o);
    if (!o)
        return NBLOG_ENOMEM;
    o->fd = fd;
    classify(o, 1);
    return register_out(o, opts, out);
}

int nblog_console_file(const char *path, unsigned long long max_bytes, int keep,
                       const nblog_console_opts_t *opts, nblog_console_t **out)
{
    if (!path || !path[0] || strlen(path) >= PATH_MAX || keep < 0 || keep > 100)
        return NBLOG_EINVAL;
    struct fd_out *o = calloc(1, sizeof *o);
    if (!o)
        return NBLOG_ENOMEM;
    o->fd = o->afd = -1;
    strcpy(o->path, path);
    o->max_bytes = max_bytes;
    o->keep = keep;
    int rc = open_path(o);
    if (rc < 0) {
        free(o);
        errno = -rc; /* kept for the caller: why it would not open */
        return NBLOG_EFILE;
    }
    return register_out(o, opts, out);
}

/* The file output behind con, holding a reference on the console (put it
 * with nblog__console_ctx_put); NULL with *rc set if con is not a live
 * file console. */
static struct fd_out *file_get(nblog_console_t *con, int *rc)
{
    const nblog_console_ops_t *ops;
    struct fd_out *o = nblog__console_ctx_get(con, &ops, rc);
    if (!o)
        return NULL;
    if (ops->write != fd_write || !o->path[0]) {
        nblog__console_ctx_put(con);
        *rc = NBLOG_EINVAL;
        return NULL;
    }
    return o;
}

int nblog_console_reopen(nblog_console_t *con)
{
    int rc;
    struct fd_out *o = file_get(con, &rc);
    if (!o)
        return rc;
    /* Release: pairs with before_write's acquire exchange. */
    atomic_store_explicit(&o->reopen, 1, memory_order_release);
    nblog__console_ctx_put(con); /* o may be freed from here on */
    return NBLOG_OK;
}

int nblog_console_file_stats(nblog_console_t *con, nblog_file_stats_t *st)
{
    int rc;
    if (!st)
        return NBLOG_EINVAL;
    struct fd_out *o = file_get(con, &rc);
    if (!o)
        return rc;
    memset(st, 0, sizeof *st);
    /* Relaxed loads: statistics (see struct fd_out). */
    st->size = atomic_load_explicit(&o->size, memory_order_relaxed);
    st->max_bytes = o->max_bytes;
    st->rotations = atomic_load_explicit(&o->rotations, memory_order_relaxed);
    st->rotate_failed = atomic_load_explicit(&o->rotate_failed, memory_order_relaxed);
    st->reopen_failed = atomic_load_explicit(&o->reopen_failed, memory_order_relaxed);
    st->failing = atomic_load_explicit(&o->failing, memory_order_relaxed);
    st->last_error = atomic_load_explicit(&o->file_error, memory_order_relaxed);
    st->over_limit = o->max_bytes && st->size > o->max_bytes;
    nblog__console_ctx_put(con);
    return NBLOG_OK;
}

static void reopen_one(struct nblog_console *con, void *arg)
{
    (void)arg;
    nblog_console_reopen(con); /* EINVAL for consoles that are not files */
}

int nblog_console_reopen_all(void)
{
    nblog__consoles_foreach(reopen_one, NULL);
    return NBLOG_OK;
}

static struct sigaction previous_hup;

static void on_sighup(int sig, siginfo_t *info, void *uctx)
{
    nblog_console_reopen_all();
    /* Chain to what was there before (a handler, or nothing for SIG_DFL
     * and SIG_IGN: we replaced the default of terminating on purpose). */
    if ((previous_hup.sa_flags & SA_SIGINFO) && previous_hup.sa_sigaction)
        previous_hup.sa_sigaction(sig, info, uctx);
    else if (!(previous_hup.sa_flags & SA_SIGINFO) &&
             previous_hup.sa_handler != SIG_DFL && previous_hup.sa_handler != SIG_IGN)
        previous_hup.sa_handler(sig);
}

int nblog_console_reopen_on_sighup(void)
{
    static _Atomic int installed;
    if (atomic_exchange(&installed, 1))
        return NBLOG_OK;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sighup;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGHUP, &sa, &previous_hup) == 0 ? NBLOG_OK : NBLOG_EINVAL;
}

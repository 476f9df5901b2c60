/*
 * consoles/fd.c - an output to a file descriptor, or to a file by path.
 *
 * KINDS. The fd is classified (fstat) when the console is made, whenever a
 * path is (re)opened, and whenever the program has pointed a plain fd
 * elsewhere (see VIEWS), so a write costs only its own system call:
 *
 *   kind    write (printer thread; may block)   write_atomic (never blocks)
 *   file    write(2)                            pwritev2(RWF_NOWAIT): a kernel
 *                                               that cannot promise it (most
 *                                               buffered writes: EOPNOTSUPP)
 *                                               gets -EAGAIN, the printer
 *                                               writes; during a panic flush
 *                                               write(2) (see PANIC)
 *   pipe    write(2), SIGPIPE guarded           pwritev2(RWF_NOWAIT) on the
 *                                               fd itself (SIGPIPE guarded);
 *                                               else as a tty
 *   tty     write(2)                            pwritev2(RWF_NOWAIT); else
 *                                               write(2) if the description
 *                                               is O_NONBLOCK; else REOPENED
 *   socket  send(MSG_NOSIGNAL)                  send(MSG_NOSIGNAL|MSG_DONTWAIT)
 *   other   write(2)                            pwritev2(RWF_NOWAIT); else
 *                                               write(2) if the description
 *                                               is O_NONBLOCK; else -EAGAIN
 *                                               (the printer writes)
 *
 * NO SHARED FLAG, NOTHING HELD. O_NONBLOCK belongs to the open file
 * description, which an inherited fd (stderr) shares with the shell and
 * every other process on it; flipping it would break them. RWF_NOWAIT is
 * per call: on a pipe (Linux accepts it on anonymous pipes; it returns
 * EAGAIN instead of waiting for room, or writes what fits of a write
 * longer than PIPE_BUF) it needs nothing else. A kernel that refuses it
 * (EOPNOTSUPP: named FIFOs, terminals, pipes on older kernels) is
 * remembered until the fd is classified again, and then:
 *
 * REOPENED. For each write_atomic call, /proc/self/fd/N is opened
 * (O_WRONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC): a new description of the same
 * pipe or terminal, ours alone; fstat checks it is still what was
 * classified; one write; close. Nothing is held between calls, so the
 * console never keeps a pipe's writer end or a terminal open after the
 * program lets go of its fd (a daemon that points 1 and 2 at /dev/null
 * lets its launcher's `$(...)`, ssh or communicate() see end of file at
 * once). A FIFO without a reader refuses the open (ENXIO): -EPIPE, as the
 * write would be. Any other failure of the open (no /proc, EMFILE):
 * -EAGAIN, the printer writes.
 *
 * VIEWS. What write_atomic needs of the fd (fd, kind, what it was) is a
 * struct fd_view; o->view[o->cur] is the current one. Only an owner that
 * is not a panic changes it (refresh, use_fd: the printer thread, or a
 * direct-mode caller inside write_atomic), and only by filling the other
 * slot and publishing it (publish()). The panic flush may take the console
 * from such an owner in the middle of that, so:
 *   1. while a panic runs (nblog__panicking) write_atomic changes nothing:
 *      it reads the current view; if the program pointed a plain fd
 *      elsewhere, it classifies into a view of its own on the stack;
 *   2. an owner publishes only when no panic runs (FENCE-A, then
 *      nblog__panicking), so the slot it fills is one no panic reads;
 *   3. after publishing, the owner closes the old view's descriptor (a file
 *      console's) only if, past FENCE-A again, no panic runs; else it
 *      leaks it: a panic may have read the old view and be writing to it.
 * FENCE-A (seq_cst, here) pairs with FENCE-P (seq_cst, in write_atomic
 * when it sees nblog__panicking, which panic.c stores before it takes any
 * console): either the panic's load of cur sees the new view, or the
 * owner's load of nblog__panicking sees the panic.
 *
 * If the program points a plain fd elsewhere (dup2 over stderr, a daemon's
 * /dev/null) or closes it, refresh() notices (one fstat before each printer
 * batch and each write_atomic that writes: the price of following the fd)
 * and classifies it again (a closed fd: EBADF, as write(2) would).
 *
 * PINNED. A console nblog makes on fd 2 by itself (the default console)
 * or from a "stderr" spec (NBLOG_CONSOLES, nblog_console_from_spec; not
 * "fd:2"): nblog__console_fd_pinned. It does not follow the fd: the
 * program did not ask for fd 2 whatever it becomes, and a program that closed its
 * stderr may open its own file next and get 2 (a daemon's database). It
 * keeps what fd 2 was at registration (dev, ino, type: view[0], never
 * classified again) and before each write checks, one fstat, that fd 2
 * still is that; else nothing is written: -ESTALE, counted as a failed
 * write. A console the program made on fd 2 itself (nblog_console_stderr,
 * nblog_console_fd) follows it, as above. The check and the write are two
 * calls: a program that closes 2 and opens a file in the window between
 * them, on another thread, is not caught (only holding a copy of the fd
 * would close that window, and a copy keeps the program's pipe or
 * terminal open after it let go: see REOPENED).
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
 * Rotation and reopen each have their own backoff after failures, and a
 * reopen asked for is tried at the next batch whatever rotation's backoff.
 *
 * All of write, write_atomic and their helpers are async-signal-safe
 * (write, send, pwritev2, open, close, fstat, fcntl, isatty, poll,
 * pthread_sigmask, sigpending; sigtimedwait is glibc's thin wrapper of the
 * rt_sigtimedwait system call) except the rotation and reopen, which only
 * the printer thread does.
 *
 * Every write, open and rename goes through the fault layer of fd.h
 * (STYLE.md 7).
 *
 * MEMORY ORDERING (tags as in ring.c)
 *   FD-VIEW   publish(): fill the other view, store cur (release) <->
 *             view_of(): load cur (acquire): a reader of cur sees the
 *             view it names filled in.
 *   FENCE-A / FENCE-P  see VIEWS: seq_cst fences, with nblog__panicking
 *             (stored by panic.c's gate, relaxed) between them.
 *   FD-REOPEN reopen_file (a signal handler or nblog_console_reopen):
 *             store reopen = 1 (release) <-> before_write: exchange it
 *             to 0 (acquire): the value only.
 *   Relaxed, with nothing to pair: publish()'s load of cur (only owners
 *   store it); size, rotations, the failure counts, file_error,
 *   nowait_refused and the backoffs' failing (statistics and hints of the
 *   printer, which owns the console; stats read them on their own); the
 *   SIGHUP hook's installed (an exchange elects one installer).
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
#include "testhooks.h"

#define RETRY_MS 1000u /* first retry delay (fd.h: nblog__fd_retry_ms) */
#define RETRY_MAX_MS 60000u

#ifdef NBLOG_TEST_HOOKS
ssize_t (*_Atomic nblog__fd_write_hook)(int fd, const void *buf, size_t len);
ssize_t (*_Atomic nblog__fd_nowait_hook)(int fd, const void *buf, size_t len);
int (*_Atomic nblog__fd_open_hook)(const char *path, int flags, mode_t mode);
int (*_Atomic nblog__fd_rename_hook)(const char *from, const char *to);
_Atomic unsigned nblog__fd_retry_ms = RETRY_MS;
#endif

enum fd_kind { K_FILE, K_PIPE, K_TTY, K_SOCK, K_OTHER };

/* One classification of a descriptor (see VIEWS). Immutable once
 * published. */
struct fd_view {
    int fd;      /* the program's fd, or (by path) ours */
    int kind;    /* enum fd_kind */
    dev_t dev;   /* what fd was when classified (see refresh) */
    ino_t ino;
    mode_t type; /* st_mode & S_IFMT; 0: not open */
};

/* Failures in a row of one operation (rotation, reopen) and when it may
 * be tried again. failing: written by the printer, relaxed loads by
 * nblog_console_file_stats; retry_at_ns: printer only. */
struct backoff {
    _Atomic unsigned failing;
    uint64_t retry_at_ns; /* no new attempt before */
};

struct fd_out {
    struct fd_view view[2];
    /* Index of the current view. Release store by publish(), acquire
     * loads by every reader (pairs with it: the slot's fields are seen
     * whole). */
    _Atomic int cur;
    /* The current view's fd refused RWF_NOWAIT (EOPNOTSUPP). Relaxed: a
     * hint, stored by non-panic owners only (a stale value only costs one
     * EOPNOTSUPP or takes the REOPENED way, both non-blocking). */
    _Atomic int nowait_refused;
    int by_path;            /* view fds are ours to close */
    /* Pinned (see PINNED): view[0] is what the fd was at registration,
     * never classified again; set before registration, then read-only. */
    int pinned;
    char path[PATH_MAX];    /* "" for a plain fd */
    unsigned long long max_bytes; /* rotate past this size; 0: never */
    int keep;               /* old files kept by rotation */
    /* Written by the owner; relaxed loads by nblog_console_file_stats. */
    _Atomic unsigned long long size; /* bytes in the current file */
    _Atomic uint64_t rotations, rotate_failed, reopen_failed;
    _Atomic int file_error;     /* -errno of the last failed one */
    struct backoff rot, reo;
    _Atomic int reopen;         /* set by nblog_console_reopen */
    int reopen_pending;         /* printer only: a reopen failed, retry */
};

static const struct fd_view *view_of(struct fd_out *o)
{
    /* FD-VIEW, acquire: pairs with publish()'s release store. */
    return &o->view[atomic_load_explicit(&o->cur, memory_order_acquire)];
}

/* FENCE-A (see VIEWS): 1 if a panic runs. [signal-safe] */
static int panic_running(void)
{
    atomic_thread_fence(memory_order_seq_cst); /* FENCE-A: pairs with FENCE-P */
    /* Relaxed: ordered by the fences (VIEWS). */
    return atomic_load_explicit(&nblog__panicking, memory_order_relaxed);
}

/* ------------------------------------------------------------ writing */

/* One system call of the kind's sort; nowait: write_atomic's
 * pwritev2(RWF_NOWAIT) (or a socket's MSG_DONTWAIT). [signal-safe] */
static ssize_t sys_write(int kind, int fd, const void *buf, size_t len, int nowait)
{
    ssize_t n;
    if (kind == K_SOCK) {
        n = NBLOG__TEST_HOOK_OR(nblog__fd_write_hook, (fd, buf, len),
                send(fd, buf, len, MSG_NOSIGNAL | (nowait ? MSG_DONTWAIT : 0)));
    } else if (nowait) {
        struct iovec iov = {(void *)buf, len};
        n = NBLOG__TEST_HOOK_OR(nblog__fd_nowait_hook, (fd, buf, len),
                                pwritev2(fd, &iov, 1, -1, RWF_NOWAIT));
    } else {
        n = NBLOG__TEST_HOOK_OR(nblog__fd_write_hook, (fd, buf, len), write(fd, buf, len));
    }
    return n < 0 ? -errno : n;
}

/* One write; on a pipe with SIGPIPE kept from the process (see SIGPIPE at
 * the top). Returns bytes written or -errno; errno is preserved.
 * [signal-safe] */
static ssize_t write_once(int kind, int fd, const void *buf, size_t len, int nowait)
{
    if (kind != K_PIPE)
        return sys_write(kind, fd, buf, len, nowait);
    int saved = errno;
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    int was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    ssize_t n = sys_write(kind, fd, buf, len, nowait);
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

/* What fd is now, into v. Changes nothing. [signal-safe]: fstat, isatty
 * (tcgetattr) only. */
static void classify(int fd, struct fd_view *v)
{
    struct stat st;
    v->fd = fd;
    v->kind = K_OTHER;
    v->dev = 0;
    v->ino = 0;
    v->type = 0;
    if (fstat(fd, &st) != 0)
        return; /* closed: classified as nothing (type 0); writes get EBADF */
    v->dev = st.st_dev;
    v->ino = st.st_ino;
    v->type = st.st_mode & S_IFMT;
    if (S_ISREG(st.st_mode))
        v->kind = K_FILE;
    else if (S_ISFIFO(st.st_mode))
        v->kind = K_PIPE;
    else if (S_ISSOCK(st.st_mode))
        v->kind = K_SOCK;
    else if (S_ISCHR(st.st_mode) && isatty(fd))
        v->kind = K_TTY;
}

/* 1 if v still describes what v->fd is (one fstat). [signal-safe] */
static int still(const struct fd_view *v)
{
    struct stat st;
    if (fstat(v->fd, &st) != 0)
        memset(&st, 0, sizeof st);
    return st.st_dev == v->dev && st.st_ino == v->ino && (st.st_mode & S_IFMT) == v->type;
}

/* 1 if o is pinned and its fd is no longer what it was (PINNED): write
 * nothing. [signal-safe] */
static int moved(const struct fd_out *o, const struct fd_view *v)
{
    return o->pinned && !still(v);
}

/* Makes *nv the current view (VIEWS steps 2 and 3), closing the old one's
 * fd if it was ours and no panic may be using it. Returns 0, or -EBUSY
 * (nothing changed) if a panic runs. Owner only, not a panic.
 * [signal-safe] */
static int publish(struct fd_out *o, const struct fd_view *nv)
{
    if (panic_running())
        return -EBUSY;
    /* Relaxed: only owners store cur, and we own the console. */
    int c = atomic_load_explicit(&o->cur, memory_order_relaxed);
    int old_fd = o->by_path ? o->view[c].fd : -1;
    o->view[1 - c] = *nv; /* no panic reads this slot (VIEWS 2) */
    atomic_store_explicit(&o->nowait_refused, 0, memory_order_relaxed);
    /* FD-VIEW, release: pairs with view_of()'s acquire. */
    atomic_store_explicit(&o->cur, 1 - c, memory_order_release);
    if (old_fd >= 0 && old_fd != nv->fd && !panic_running())
        close(old_fd);
    /* else leaked: a panic that took over may be writing to it (VIEWS 3) */
    return 0;
}

/* A plain fd the program may have pointed elsewhere or closed: if it no
 * longer is what was classified, classify again. One fstat; called by the
 * printer before each batch and by write_atomic (not in a panic) before it
 * writes. Owner only. [signal-safe] */
static void refresh(struct fd_out *o)
{
    if (o->by_path || o->pinned)
        return;
    const struct fd_view *v = view_of(o);
    if (still(v))
        return;
    struct fd_view nv;
    classify(v->fd, &nv);
    publish(o, &nv); /* a panic runs: it follows the fd by itself */
}

/* ------------------------------------------------------ opening, rotation */

static int open_hooked(const char *path, int flags, mode_t mode)
{
    return nblog__fd_mine(NBLOG__TEST_HOOK_OR(nblog__fd_open_hook, (path, flags, mode),
                                              open(path, flags, mode)));
}

static int rename_hooked(const char *from, const char *to)
{
    return NBLOG__TEST_HOOK_OR(nblog__fd_rename_hook, (from, to), rename(from, to));
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
 * after the switch (publish). Returns 0, or -EBUSY if a panic runs: then
 * fd is closed and the old file stays in use. */
static int use_fd(struct fd_out *o, int fd)
{
    struct stat st;
    unsigned long long size = fstat(fd, &st) == 0 ? (unsigned long long)st.st_size : 0;
    struct fd_view nv;
    classify(fd, &nv);
    if (publish(o, &nv) < 0) {
        close(fd);
        return -EBUSY;
    }
    atomic_store_explicit(&o->size, size, memory_order_relaxed);
    return 0;
}

/* Opens the path anew; on failure the old file stays in use. */
static int open_path(struct fd_out *o)
{
    int fd = open_nonblocking(o->path);
    if (fd < 0)
        return fd;
    return use_fd(o, fd);
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
 *   1. open the new file first, under a temporary name T in the same
 *      directory (O_EXCL): if the directory is read-only or no fd is left,
 *      nothing has been touched;
 *   2. plan the renames so that none replaces an existing file (step()):
 *      g is the first missing of 1..keep-1, else keep; if path.g exists (a
 *      full chain), path.g -> T.old first (the oldest, set aside, not yet
 *      gone); then path.(g-1) -> path.g, ..., path.1 -> path.2 (so a retry
 *      after a failure never pushes an old file out twice), path -> path.1
 *      (keep 0: none of these) and T -> path (keep 0: replaces path, as
 *      asked);
 *   3. do them in order; if one fails, undo those done, newest first, so
 *      every old file is back under its name (or, if undoing fails too,
 *      still whole under the name it was moved to);
 *   4. only then remove T.old and switch to the new file.
 * A failure leaves the current file in use (it grows past max_bytes), is
 * counted and reported, and is retried with backoff (before_write).
 */
struct plan {
    const char *path, *tmp;
    int aside; /* 1: path.gap -> T.old first */
    int gap;   /* shifts path.(gap-1) .. path (keep 0: no shift at all) */
    int steps;
};

/* The names of rename i of the plan (0 <= i < p->steps). */
static void step(const struct plan *p, int i, char *from, char *to, size_t cap)
{
    if (p->aside && i-- == 0) {
        old_name(from, cap, p->path, p->gap);
        snprintf(to, cap, "%s.old", p->tmp);
    } else if (i < p->gap) {
        old_name(from, cap, p->path, p->gap - 1 - i);
        old_name(to, cap, p->path, p->gap - i);
    } else {
        snprintf(from, cap, "%s", p->tmp);
        snprintf(to, cap, "%s", p->path);
    }
}

/* Returns 0, -EBUSY (done, but a panic runs: the new file is switched to
 * at the next batch, by a reopen) or -errno (nothing lost). */
static int rotate(struct fd_out *o)
{
    char tmp[PATH_MAX + 48], from[PATH_MAX + 64], to[PATH_MAX + 64];
    int fd = -1;
    for (unsigned i = 0; fd < 0 && i < 16; i++) {
        snprintf(tmp, sizeof tmp, "%s.rotating-%ld-%u", o->path, (long)getpid(), i);
        fd = open_hooked(tmp, OPEN_FLAGS | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
        if (fd < 0 && errno != EEXIST)
            return -errno;
    }
    if (fd < 0)
        return -EEXIST;
    struct stat st;
    struct plan p = {o->path, tmp, 0, 0, 1};
    if (o->keep > 0) {
        p.gap = o->keep;
        for (int i = 1; i < o->keep; i++) {
            old_name(from, sizeof from, o->path, i);
            if (lstat(from, &st) != 0 && errno == ENOENT) {
                p.gap = i;
                break;
            }
        }
        old_name(from, sizeof from, o->path, p.gap);
        p.aside = lstat(from, &st) == 0;
        p.steps += p.aside + p.gap;
    }
    int err = 0, done = 0;
    for (; done < p.steps; done++) {
        step(&p, done, from, to, sizeof from);
        /* ENOENT of an old file (someone removed it): nothing to move. The
         * current file and the new one must move. */
        if (rename_hooked(from, to) != 0 && (errno != ENOENT || done >= p.steps - 2)) {
            err = -errno;
            break;
        }
    }
    if (err) {
        while (done-- > 0) { /* undo, newest first (best effort) */
            step(&p, done, from, to, sizeof from);
            rename_hooked(to, from);
        }
        close(fd);
        unlink(tmp);
        return err;
    }
    if (p.aside) {
        step(&p, 0, from, to, sizeof from);
        unlink(to); /* the oldest, as keep asks */
    }
    if (use_fd(o, fd) < 0) {
        o->reopen_pending = 1; /* the new file is at path: open it then */
        return -EBUSY;
    }
    return 0;
}

/* Says once per run of failures (and when it works again) what happened,
 * as a WARNING record that every console prints: the file goes on growing
 * past max_bytes, nothing is lost. Printer thread only. */
static void report(struct fd_out *o, const char *what, int err, unsigned failures)
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
        nblog__console_report(NBLOG_LEVEL_WARNING,
                              "nblog: file console %s: %s failed: %s; writing on to the "
                              "file already open (%llu bytes, max_bytes %llu); retrying with backoff",
                              o->path, what, why,
                              atomic_load_explicit(&o->size, memory_order_relaxed), o->max_bytes);
    } else {
        nblog__console_report(NBLOG_LEVEL_NOTICE,
                              "nblog: file console %s: %s works again after %u failures",
                              o->path, what, failures);
    }
}

static void failed(struct fd_out *o, struct backoff *b, const char *what, int err,
                   _Atomic uint64_t *counter)
{
    /* Relaxed: statistics, read by nblog_console_file_stats. */
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    atomic_store_explicit(&o->file_error, err, memory_order_relaxed);
    unsigned n = atomic_fetch_add_explicit(&b->failing, 1, memory_order_relaxed);
    /* Relaxed: a setting. Doubles per failure in a row, up to 60 s (or the
     * first delay, if that is longer). */
    uint64_t base = NBLOG__TEST_VALUE(nblog__fd_retry_ms, RETRY_MS);
    uint64_t ms = base << (n < 16 ? n : 16);
    if (ms > RETRY_MAX_MS)
        ms = base > RETRY_MAX_MS ? base : RETRY_MAX_MS;
    b->retry_at_ns = nblog__now_ns() + ms * 1000000u;
    nblog__console_note_error(o, err);
    if (n == 0)
        report(o, what, err, 0);
}

static void worked(struct fd_out *o, struct backoff *b, const char *what)
{
    unsigned n = atomic_load_explicit(&b->failing, memory_order_relaxed);
    if (n == 0)
        return;
    report(o, what, 0, n);
    atomic_store_explicit(&b->failing, 0, memory_order_relaxed);
    b->retry_at_ns = 0;
}

/* Printer thread only: reopen or rotate between whole batches, each with
 * its own backoff; a reopen just asked for is tried now. A failure never
 * fails the batch: it goes to the file already open. Nothing while a
 * panic runs (VIEWS 1: it would only be undone or leaked). */
static void before_write(struct fd_out *o, size_t len)
{
    if (!o->path[0] || panic_running())
        return;
    uint64_t now = nblog__now_ns();
    /* FD-REOPEN, acquire: pairs with reopen_file's release store. */
    int asked = atomic_exchange_explicit(&o->reopen, 0, memory_order_acquire);
    if (asked || (o->reopen_pending && now >= o->reo.retry_at_ns)) {
        int rc = open_path(o);
        o->reopen_pending = rc < 0;
        if (rc == -EBUSY)
            return; /* a panic began: again at the next batch, no failure */
        if (rc < 0) {
            failed(o, &o->reo, "reopen", rc, &o->reopen_failed);
            return;
        }
        worked(o, &o->reo, "reopen");
    }
    unsigned long long size = atomic_load_explicit(&o->size, memory_order_relaxed);
    if (o->max_bytes && size > 0 && size + len > o->max_bytes && now >= o->rot.retry_at_ns) {
        int rc = rotate(o);
        if (rc < 0 && rc != -EBUSY) {
            failed(o, &o->rot, "rotation", rc, &o->rotate_failed);
            return;
        }
        atomic_fetch_add_explicit(&o->rotations, 1, memory_order_relaxed);
        worked(o, &o->rot, "rotation");
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
    const struct fd_view *v = view_of(o);
    if (moved(o, v))
        return -ESTALE;
    ssize_t n = write_once(v->kind, v->fd, buf, len, 0);
    if (n == -EAGAIN) {
        struct pollfd p = {.fd = v->fd, .events = POLLOUT};
        poll(&p, 1, 100);
    }
    add_size(o, n);
    return n;
}

/* REOPENED (see the top): one write through a description of our own,
 * opened and closed here. [signal-safe] */
static ssize_t write_reopened(const struct fd_view *v, const char *buf, size_t len)
{
    char proc[40] = "/proc/self/fd/", digits[12];
    size_t n = 0, at = strlen(proc);
    for (unsigned u = (unsigned)v->fd; n == 0 || u; u /= 10)
        digits[n++] = (char)('0' + u % 10);
    while (n)
        proc[at++] = digits[--n];
    proc[at] = '\0';
    int saved = errno;
    int fd = nblog__fd_mine(open(proc, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (fd < 0) {
        int e = errno;
        errno = saved;
        return e == ENXIO && v->kind == K_PIPE ? -EPIPE : -EAGAIN;
    }
    struct fd_view mine;
    classify(fd, &mine);
    ssize_t w = -EAGAIN; /* not what was classified: the printer writes */
    if (mine.dev == v->dev && mine.ino == v->ino && mine.type == v->type)
        w = write_once(v->kind, fd, buf, len, 0);
    close(fd);
    errno = saved;
    return w;
}

/* Never blocks (see KINDS). [signal-safe] */
static ssize_t fd_write_atomic(void *ctx, const char *buf, size_t len)
{
    struct fd_out *o = ctx;
    int saved = errno; /* a signal handler's caller keeps its errno */
    /* Relaxed: set by the panic flush on this thread, or a hint. */
    int panicking = atomic_load_explicit(&nblog__panicking, memory_order_relaxed);
    struct fd_view local;
    const struct fd_view *v;
    if (panicking) {
        atomic_thread_fence(memory_order_seq_cst); /* FENCE-P: pairs with FENCE-A */
        v = view_of(o);
        if (moved(o, v)) {
            errno = saved;
            return -ESTALE;
        }
        if (!o->by_path && !still(v)) {
            classify(v->fd, &local); /* VIEWS 1: ours alone, nothing published */
            v = &local;
        }
    } else {
        refresh(o);
        v = view_of(o);
        if (moved(o, v)) {
            errno = saved;
            return -ESTALE;
        }
    }
    int refused = v != &local &&
                  atomic_load_explicit(&o->nowait_refused, memory_order_relaxed);
    ssize_t n;
    if (v->kind == K_SOCK) {
        n = write_once(v->kind, v->fd, buf, len, 1);
    } else if (v->kind == K_FILE && panicking) {
        n = write_once(v->kind, v->fd, buf, len, 0); /* see PANIC */
    } else {
        n = refused ? -EOPNOTSUPP : write_once(v->kind, v->fd, buf, len, 1);
        if (n == -EOPNOTSUPP) {
            if (!panicking && !refused)
                atomic_store_explicit(&o->nowait_refused, 1, memory_order_relaxed);
            int fl = v->kind == K_FILE ? -1 : fcntl(v->fd, F_GETFL);
            if (fl >= 0 && (fl & O_NONBLOCK))
                n = write_once(v->kind, v->fd, buf, len, 0);
            else if (v->kind == K_PIPE || v->kind == K_TTY)
                n = write_reopened(v, buf, len);
            else
                n = -EAGAIN; /* a file, or another device: the printer writes */
        }
    }
    add_size(o, n);
    errno = saved;
    return n;
}

/* Closes the current file of a file console (no panic runs: teardown and
 * failed registration are never in one). */
static void close_fds(struct fd_out *o)
{
    const struct fd_view *v = view_of(o);
    if (o->by_path && v->fd >= 0)
        close(v->fd);
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

/* Registers o, named kind:target unless opts names it (see NAMES in
 * console.c). */
static int register_out(struct fd_out *o, const char *kind, const char *target,
                        const nblog_console_opts_t *opts, nblog_console_t **out)
{
    nblog_console_opts_t with_name;
    char name[NBLOG_CONSOLE_NAME_MAX + 1];
    if (!opts || !opts->name) {
        if (opts)
            with_name = *opts;
        else
            nblog_console_opts_init(&with_name);
        nblog__console_default_name(name, kind, target);
        with_name.name = name;
        opts = &with_name;
    }
    int rc = nblog_console_register(&fd_ops, o, opts, out);
    if (rc != NBLOG_OK) {
        close_fds(o);
        free(o);
    }
    return rc;
}

static int register_fd(int fd, int pinned, const nblog_console_opts_t *opts,
                       nblog_console_t **out)
{
    if (fd < 0)
        return NBLOG_EINVAL;
    struct fd_out *o = calloc(1, sizeof *o);
    if (!o)
        return NBLOG_ENOMEM;
    classify(fd, &o->view[0]); /* cur 0 */
    o->pinned = pinned;
    nblog_console_opts_t resolved; /* colour "auto": is fd a terminal */
    if (opts)
        resolved = *opts;
    else
        nblog_console_opts_init(&resolved);
    if (resolved.color == NBLOG_COLOR_AUTO)
        resolved.color = nblog__color_auto(fd);
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    return register_out(o, "fd", num, &resolved, out);
}

int nblog_console_fd(int fd, const nblog_console_opts_t *opts, nblog_console_t **out)
{
    return register_fd(fd, 0, opts, out);
}

int nblog__console_fd_pinned(int fd, const nblog_console_opts_t *opts, nblog_console_t **out)
{
    return register_fd(fd, 1, opts, out);
}

int nblog_console_file(const char *path, unsigned long long max_bytes, int keep,
                       const nblog_console_opts_t *opts, nblog_console_t **out)
{
    if (!path || !path[0] || strlen(path) >= PATH_MAX || keep < 0 || keep > 100)
        return NBLOG_EINVAL;
    struct fd_out *o = calloc(1, sizeof *o);
    if (!o)
        return NBLOG_ENOMEM;
    o->view[0].fd = o->view[1].fd = -1; /* nothing open yet */
    o->by_path = 1;
    strcpy(o->path, path);
    o->max_bytes = max_bytes;
    o->keep = keep;
    int rc = open_path(o);
    if (rc < 0) {
        free(o);
        errno = -rc; /* kept for the caller: why it would not open */
        return NBLOG_EFILE;
    }
    return register_out(o, "file", path, opts, out);
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

/* One console's reopen (ctx an fd_out): a file console's printer opens
 * its path again before its next write; an fd console has no path and
 * nothing to reopen. [signal-safe] */
static void reopen_file(void *ctx)
{
    struct fd_out *o = ctx;
    if (!o->path[0])
        return;
    /* FD-REOPEN, release: pairs with before_write's acquire exchange. */
    atomic_store_explicit(&o->reopen, 1, memory_order_release);
}

int nblog_console_reopen(nblog_console_t *con)
{
    int rc;
    struct fd_out *o = file_get(con, &rc);
    if (!o)
        return rc;
    reopen_file(o);
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
    st->failing = atomic_load_explicit(&o->rot.failing, memory_order_relaxed) +
                  atomic_load_explicit(&o->reo.failing, memory_order_relaxed);
    st->last_error = atomic_load_explicit(&o->file_error, memory_order_relaxed);
    st->over_limit = o->max_bytes && st->size > o->max_bytes;
    nblog__console_ctx_put(con);
    return NBLOG_OK;
}

int nblog_console_reopen_all(void)
{
    nblog__consoles_reopen(&fd_ops, reopen_file); /* the registry's walk */
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

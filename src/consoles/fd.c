/*
 * consoles/fd.c - an output to a file descriptor, or to a file by path.
 *
 * write: loops over short counts and EINTR; on EAGAIN (a non-blocking fd
 * that is full) waits for POLLOUT, so it may block: it runs on the
 * console's printer thread. write_atomic: one write(2), never waits; it is
 * async-signal-safe. By path: the file is opened O_APPEND|O_CREAT; it can be
 * reopened on request (after logrotate renamed it) and rotated by size,
 * keeping N old files (path.1 .. path.N), both done by the printer between
 * batches, so no line is split or lost across the switch.
 *
 * Every write goes through nblog__fd_write, the fault layer tests use to
 * inject EINTR, EAGAIN, short writes, ENOSPC and EBADF (STYLE.md 7).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "nblog.h"

/* Fault layer: when set, called instead of write(2). */
ssize_t (*_Atomic nblog__fd_write_hook)(int fd, const void *buf, size_t len);

static ssize_t fd_write_once(int fd, const void *buf, size_t len)
{
    ssize_t (*hook)(int, const void *, size_t) =
        atomic_load_explicit(&nblog__fd_write_hook, memory_order_relaxed);
    ssize_t n = hook ? hook(fd, buf, len) : write(fd, buf, len);
    return n < 0 ? -errno : n;
}

struct fd_out {
    int fd;
    int owns_fd;               /* opened by path: ours to close */
    char path[PATH_MAX];       /* "" for a plain fd */
    unsigned long long max_bytes; /* rotate past this size; 0: never */
    int keep;                  /* old files kept by rotation */
    unsigned long long size;   /* bytes in the current file */
    _Atomic int reopen;        /* set by nblog_console_file_reopen */
};

/* Opens without ever blocking: O_NONBLOCK (also so write_atomic never
 * blocks on a FIFO or terminal; write polls). A FIFO nobody has open for
 * reading refuses that (ENXIO); it is opened read-write instead, which
 * Linux allows without waiting for a reader, and the console is then
 * simply stuck once the FIFO is full, as with a reader that never reads. */
static int open_nonblocking(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0 && errno == ENXIO)
        fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    return fd;
}

static int open_path(struct fd_out *o)
{
    int fd = open_nonblocking(o->path);
    if (fd < 0)
        return -errno;
    struct stat st;
    o->size = fstat(fd, &st) == 0 ? (unsigned long long)st.st_size : 0;
    if (o->owns_fd && o->fd >= 0)
        close(o->fd);
    o->fd = fd;
    o->owns_fd = 1;
    return 0;
}

/* path.(keep-1) -> path.keep, ..., path -> path.1, then a fresh path. */
static int rotate(struct fd_out *o)
{
    char from[PATH_MAX + 16], to[PATH_MAX + 16];
    for (int i = o->keep - 1; i >= 1; i--) {
        snprintf(from, sizeof from, "%s.%d", o->path, i);
        snprintf(to, sizeof to, "%s.%d", o->path, i + 1);
        rename(from, to); /* a missing file is fine */
    }
    snprintf(to, sizeof to, "%s.1", o->path);
    if (o->keep > 0)
        rename(o->path, to);
    else
        unlink(o->path);
    return open_path(o);
}

/* Printer thread only: reopen or rotate between whole batches. */
static int before_write(struct fd_out *o, size_t len)
{
    if (!o->path[0])
        return 0;
    if (atomic_exchange_explicit(&o->reopen, 0, memory_order_acquire))
        if (open_path(o) < 0)
            return -errno;
    if (o->max_bytes && o->size > 0 && o->size + len > o->max_bytes)
        return rotate(o);
    return 0;
}

static ssize_t fd_write(void *ctx, const char *buf, size_t len)
{
    struct fd_out *o = ctx;
    int rc = before_write(o, len);
    if (rc < 0)
        return rc;
    for (;;) {
        ssize_t n = fd_write_once(o->fd, buf, len);
        if (n == -EINTR)
            continue;
        if (n == -EAGAIN) {
            struct pollfd p = {.fd = o->fd, .events = POLLOUT};
            poll(&p, 1, 100);
            continue;
        }
        if (n > 0)
            o->size += (unsigned long long)n;
        return n;
    }
}

static ssize_t fd_write_atomic(void *ctx, const char *buf, size_t len)
{
    struct fd_out *o = ctx;
    ssize_t n = fd_write_once(o->fd, buf, len);
    if (n > 0)
        o->size += (unsigned long long)n;
    return n;
}

static void fd_teardown(void *ctx)
{
    struct fd_out *o = ctx;
    if (o->owns_fd && o->fd >= 0)
        close(o->fd);
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
        if (o->owns_fd && o->fd >= 0)
            close(o->fd);
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
    o->fd = -1;
    strcpy(o->path, path);
    o->max_bytes = max_bytes;
    o->keep = keep;
    if (open_path(o) < 0) {
        free(o);
        return NBLOG_EINVAL;
    }
    return register_out(o, opts, out);
}

int nblog_console_reopen(nblog_console_t *con)
{
    const nblog_console_ops_t *ops;
    int rc;
    struct fd_out *o = nblog__console_ctx_get(con, &ops, &rc);
    if (!o)
        return rc;
    rc = ops->write != fd_write || !o->path[0] ? NBLOG_EINVAL : NBLOG_OK;
    /* Release: pairs with before_write's acquire exchange. */
    if (rc == NBLOG_OK)
        atomic_store_explicit(&o->reopen, 1, memory_order_release);
    nblog__console_ctx_put(con); /* o may be freed from here on */
    return rc;
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

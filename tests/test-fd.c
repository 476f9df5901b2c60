/*
 * test-fd.c - the fd, stderr and file outputs under real faults: a pipe
 * whose reader is gone (EPIPE, never a SIGPIPE, also inside a crash
 * report), a pipe, socket or terminal that is full (an emergency record
 * never waits for it, and no flag of the shared description changes), a
 * file that cannot be opened (NBLOG_EFILE with errno) and a rotation that
 * cannot finish (nothing destroyed, counted, reported, retried).
 *
 * Built with -DNBLOG_TEST_OLD_API it uses only what the library had before
 * these fixes (no fault hooks, no nblog_console_file_stats), so it can be
 * run against an older build to show each test failing there.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"
#ifndef NBLOG_TEST_OLD_API
#include "consoles/fd.h"
#endif

extern char **environ;

#define HANG_GUARD_S 20 /* a broken build fails instead of hanging */

static int setup(void **state)
{
    (void)state;
    return tu_init_debug(1024) == NBLOG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
#ifndef NBLOG_TEST_OLD_API
    atomic_store(&nblog__fd_open_hook, NULL);
    atomic_store(&nblog__fd_rename_hook, NULL);
    atomic_store(&nblog__fd_retry_ms, 1000);
#endif
    nblog_shutdown();
    return 0;
}

static void assert_flushed(void)
{
    tu_assert_flushed_within(60000);
}

static int sigpipe_pending(void)
{
    sigset_t set;
    assert_int_equal(sigpending(&set), 0);
    return sigismember(&set, SIGPIPE);
}

static int sigpipe_blocked(void)
{
    sigset_t set;
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &set), 0);
    return sigismember(&set, SIGPIPE);
}

static void assert_sigpipe_default(void)
{
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
}

/* ---- item 1: a pipe whose reader is gone ------------------------------ */

/* In each mode the write gets EPIPE, counted, last_error -EPIPE; the
 * process lives (on a library that lets SIGPIPE through, this test
 * program dies by it), SIGPIPE's action and this thread's mask are as
 * they were and no SIGPIPE is left pending. */
static void epipe_in_mode(int mode, int level)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    nblog_console_t *con = tu_fd_console(p[1], "gone", mode);
    for (int i = 0; i < 5; i++) {
        nblog_printf(level, "into a pipe nobody reads %d", i);
        assert_flushed();
    }
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_int_equal(st.write_failed, 5);
    assert_int_equal(st.printed, 0);
    assert_int_equal(st.last_error, -EPIPE);
    tu_assert_books(con);
    assert_false(sigpipe_pending());
    assert_false(sigpipe_blocked());
    assert_sigpipe_default();
    nblog_console_unregister(con);
    close(p[1]);
}

static void test_epipe_threaded(void **state)
{
    (void)state;
    epipe_in_mode(NBLOG_MODE_THREADED, NBLOG_LEVEL_INFO);
}

static void test_epipe_direct(void **state)
{
    (void)state;
    epipe_in_mode(NBLOG_MODE_DIRECT, NBLOG_LEVEL_INFO);
}

static void test_epipe_emergency(void **state)
{
    (void)state;
    epipe_in_mode(NBLOG_MODE_THREADED, NBLOG_LEVEL_CRIT);
}

/* A program that blocks SIGPIPE itself: a SIGPIPE it already had pending
 * stays pending (it is the program's), and none is added by our EPIPE. */
static void test_epipe_keeps_program_sigpipe(void **state)
{
    (void)state;
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &pipe_only, &old), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    nblog_console_t *con = tu_fd_console(p[1], "gone", NBLOG_MODE_DIRECT);

    nblog_info("nobody reads this");
    assert_flushed();
    assert_false(sigpipe_pending()); /* ours was taken back */

    assert_int_equal(raise(SIGPIPE), 0); /* the program's own */
    nblog_info("nor this");
    assert_flushed();
    assert_true(sigpipe_pending());
    assert_true(sigpipe_blocked());
    struct timespec zero = {0, 0};
    assert_int_equal(sigtimedwait(&pipe_only, NULL, &zero), SIGPIPE);
    assert_false(sigpipe_pending());

    nblog_console_stats_t st;
    nblog_console_stats(con, &st);
    assert_int_equal(st.write_failed, 2);
    assert_int_equal(st.last_error, -EPIPE);
    nblog_console_unregister(con);
    close(p[1]);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A crash report to stderr that is a pipe nobody reads: the panic flush's
 * write gets EPIPE and the process still dies by SIGSEGV, not SIGPIPE. */
static void test_crash_report_to_closed_pipe(void **state)
{
    (void)state;
#ifdef UNDER_TSAN
    skip(); /* TSan takes SIGSEGV itself (as for test-crash, not run there) */
#endif
    char out[128];
    snprintf(out, sizeof out, "/tmp/nblog-test-fd-%d.out", (int)getpid());
    int p[2];
    assert_int_equal(pipe(p), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    char *argv[] = {CRASH_CHILD, "pipesegv", out, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, CRASH_CHILD, &fa, NULL, argv, crash_child_env()), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]); /* the child's only reader is gone... */
    close(p[1]); /* ...and only it writes */
    int status = 0;
    for (int waited_ms = 0;; waited_ms += 10) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        assert_true(got >= 0);
        if (got == pid)
            break;
        if (waited_ms > HANG_GUARD_S * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("crash-child pipesegv hung");
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    unlink(out);
    if (!WIFSIGNALED(status))
        fail_msg("crash-child pipesegv exited with %d", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
}

/* ---- item 2: an emergency record on a full fd never waits ------------- */

struct logger {
    int level;
    _Atomic int done;
};

static void *log_one(void *arg)
{
    struct logger *l = arg;
    nblog_printf(l->level, "must not wait for the reader");
    atomic_store(&l->done, 1);
    return NULL;
}

/* Fills fd (blocking for the console) without leaving it non-blocking. */
static void fill(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
    static char junk[4096];
    memset(junk, 'j', sizeof junk);
    junk[sizeof junk - 1] = '\n';
    size_t chunk = sizeof junk;
    for (;;) {
        ssize_t n = write(fd, junk, chunk);
        if (n < 0 && errno == EAGAIN && chunk > 1) {
            chunk /= 2; /* top it up to the last byte */
            continue;
        }
        if (n < 0)
            break;
    }
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(fcntl(fd, F_SETFL, fl), 0);
}

/* Reads rfd until a line containing want arrives (hang guard). */
static void drain_until(int rfd, const char *want)
{
    static char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = rfd, .events = POLLIN};
        assert_true(poll(&p, 1, HANG_GUARD_S * 1000) == 1);
        char tmp[4096];
        ssize_t n = read(rfd, tmp, sizeof tmp);
        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++) {
            if (len < sizeof buf - 1)
                buf[len++] = tmp[i];
            if (tmp[i] == '\n') {
                buf[len] = '\0';
                if (strstr(buf, want))
                    return;
                len = 0;
            }
        }
    }
}

/* The console is on wfd, which is blocking and full; rfd is its reader.
 * The logging call returns while nobody reads; the description's flags
 * are untouched; once the reader drains it, the printer delivers. */
static void emergency_on_full(int wfd, int rfd, int mode, int level)
{
    int flags_before = fcntl(wfd, F_GETFL);
    nblog_console_t *con = tu_fd_console(wfd, "full", mode);
    /* One record first, so ours is not at a wake-up watermark: the logging
     * call, not a woken printer, is then the one that tries the fd. */
    nblog_info("warm-up");
    assert_flushed();
    fill(wfd);
    struct logger l = {level, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, log_one, &l), 0);
    for (int ms = 0; !atomic_load(&l.done); ms++) {
        if (ms > HANG_GUARD_S * 1000) {
            /* Unblock it, or the test process hangs too. */
            drain_until(rfd, "must not wait");
            pthread_join(t, NULL);
            fail_msg("the logging call waited for the reader");
        }
        usleep(1000);
    }
    pthread_join(t, NULL);
    assert_int_equal(fcntl(wfd, F_GETFL), flags_before);
    drain_until(rfd, "must not wait for the reader");
    assert_flushed();
    nblog_console_stats_t st;
    nblog_console_stats(con, &st);
    assert_int_equal(st.printed, 2);
    tu_assert_books(con);
    nblog_console_unregister(con);
}

/* emergency_on_full on a new pipe (socket: a stream socket pair). */
static void on_new_pair(int socket, int mode, int level)
{
    int p[2];
    assert_int_equal(socket ? socketpair(AF_UNIX, SOCK_STREAM, 0, p) : pipe(p), 0);
    emergency_on_full(p[1], p[0], mode, level);
    close(p[0]);
    close(p[1]);
}

static void test_emergency_full_pipe(void **state)
{
    (void)state;
    on_new_pair(0, NBLOG_MODE_THREADED, NBLOG_LEVEL_CRIT);
}

static void test_direct_full_pipe(void **state)
{
    (void)state;
    on_new_pair(0, NBLOG_MODE_DIRECT, NBLOG_LEVEL_INFO);
}

static void test_emergency_full_socket(void **state)
{
    (void)state;
    on_new_pair(1, NBLOG_MODE_DIRECT, NBLOG_LEVEL_CRIT);
}

static void test_emergency_full_tty(void **state)
{
    (void)state;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
        skip();
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    emergency_on_full(slave, master, NBLOG_MODE_THREADED, NBLOG_LEVEL_CRIT);
    close(slave);
    close(master);
}

/* A direct console on a regular file: whatever the kernel lets
 * write_atomic do (RWF_NOWAIT), every record arrives, once, in order. */
static void test_direct_file_delivers(void **state)
{
    (void)state;
    char path[64];
    int fd = tu_temp_file(path, sizeof path, "fd-direct");
    assert_true(fd >= 0);
    nblog_console_t *con = tu_fd_console(fd, "file", NBLOG_MODE_DIRECT);
    for (int i = 0; i < 20; i++)
        nblog_printf(i % 5 ? NBLOG_LEVEL_INFO : NBLOG_LEVEL_CRIT, "line %d", i);
    assert_flushed();
    char buf[4096] = {0};
    assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
    char want[4096] = {0};
    size_t used = 0;
    for (int i = 0; i < 20; i++)
        used += (size_t)snprintf(want + used, sizeof want - used, "line %d\n", i);
    assert_string_equal(buf, want);
    tu_assert_books(con);
    nblog_console_unregister(con);
    close(fd);
    unlink(path);
}

/* The panic flush still gets its records into a regular file (it may
 * wait for the disk there): nothing is left incomplete. */
static void test_panic_flush_reaches_file(void **state)
{
    (void)state;
    char path[64];
    int fd = tu_temp_file(path, sizeof path, "fd-panic");
    assert_true(fd >= 0);
    nblog_console_t *con = tu_fd_console(fd, "file", NBLOG_MODE_DIRECT);
    assert_int_equal(nblog_console_suspend(con), NBLOG_OK);
    nblog_info("pending when the panic came");
    assert_int_equal(nblog_console_resume(con), NBLOG_OK);
    assert_int_equal(nblog_panic_flush("flush %d", 1), 0);
    char buf[4096] = {0};
    assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
    assert_non_null(strstr(buf, "pending when the panic came\n"));
    assert_non_null(strstr(buf, "flush 1"));
    nblog_console_unregister(con);
    close(fd);
    unlink(path);
}

/* A direct console follows its fd when the program points it elsewhere
 * (dup2), as write(2) on that fd would. */
static void test_direct_follows_dup2(void **state)
{
    (void)state;
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    int fd = dup(a[1]);
    assert_true(fd >= 0);
    nblog_console_t *con = tu_fd_console(fd, "moving", NBLOG_MODE_DIRECT);
    nblog_info("to a");
    assert_flushed();
    drain_until(a[0], "to a");
    assert_true(dup2(b[1], fd) == fd);
    for (int i = 0; i < 3; i++) {
        nblog_printf(i == 1 ? NBLOG_LEVEL_CRIT : NBLOG_LEVEL_INFO, "to b %d", i);
        assert_flushed();
        char want[16];
        snprintf(want, sizeof want, "to b %d", i);
        drain_until(b[0], want);
    }
    struct pollfd p = {.fd = a[0], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0); /* nothing more went to a */
    nblog_console_unregister(con);
    close(fd);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

/* Real EMFILE: the soft limit lowered and every descriptor below it
 * taken, until give_back_fds(). */
static struct rlimit saved_lim;
static int spare_fds[256], n_spare;

static void use_up_fds(void)
{
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved_lim), 0);
    struct rlimit low = saved_lim;
    low.rlim_cur = 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    n_spare = 0;
    while (n_spare < 256 && (spare_fds[n_spare] = dup(0)) >= 0)
        n_spare++;
}

static void give_back_fds(void)
{
    while (n_spare > 0)
        close(spare_fds[--n_spare]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved_lim), 0);
}

/* ---- review: nothing holds the program's pipe after it lets go -------- */

/* A stderr console on a pipe (as under `out=$(daemon)`), in each mode,
 * with an emergency record too; then the program points fd 2 at /dev/null
 * and logs nothing more: the pipe's reader sees end of file at once, while
 * the console is still registered (no description of the pipe is held). */
static void test_stderr_pipe_let_go(void **state)
{
    (void)state;
    int modes[] = {NBLOG_MODE_THREADED, NBLOG_MODE_DIRECT};
    for (int m = 0; m < 2; m++) {
        int saved = dup(2), p[2];
        assert_true(saved >= 0);
        assert_int_equal(pipe(p), 0);
        assert_true(dup2(p[1], 2) == 2);
        close(p[1]);
        nblog_console_opts_t o;
        nblog_console_opts_init(&o);
        o.mode = modes[m];
        nblog_console_t *con;
        assert_int_equal(nblog_console_stderr(&o, &con), NBLOG_OK);
        nblog_info("to the launcher");
        nblog_printf(NBLOG_LEVEL_CRIT, "urgent to the launcher");
        assert_flushed();
        drain_until(p[0], "urgent to the launcher");
        int null = open("/dev/null", O_WRONLY);
        assert_true(null >= 0);
        assert_true(dup2(null, 2) == 2); /* a daemon lets go; logs nothing */
        close(null);
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int ready = poll(&pf, 1, HANG_GUARD_S * 1000);
        char c;
        ssize_t n = ready == 1 ? read(p[0], &c, 1) : -1;
        assert_true(dup2(saved, 2) == 2);
        close(saved);
        assert_int_equal(ready, 1);
        assert_int_equal(n, 0); /* end of file: no writer left */
        nblog_console_unregister(con);
        close(p[0]);
    }
}

/* The same on a terminal (stderr on an ssh session's pty): once the
 * program points fd 2 elsewhere, no descriptor of the terminal is left,
 * and its master sees the hangup at once. */
static void test_stderr_tty_let_go(void **state)
{
    (void)state;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
        skip();
    int saved = dup(2), slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(saved >= 0 && slave >= 0);
    assert_true(dup2(slave, 2) == 2);
    close(slave);
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.mode = NBLOG_MODE_DIRECT;
    nblog_console_t *con;
    assert_int_equal(nblog_console_stderr(&o, &con), NBLOG_OK);
    nblog_printf(NBLOG_LEVEL_CRIT, "urgent to the terminal");
    assert_flushed();
    drain_until(master, "urgent to the terminal");
    int null = open("/dev/null", O_WRONLY);
    assert_true(null >= 0);
    assert_true(dup2(null, 2) == 2);
    close(null);
    struct pollfd pf = {.fd = master, .events = POLLIN};
    int ready = poll(&pf, 1, HANG_GUARD_S * 1000);
    assert_true(dup2(saved, 2) == 2);
    close(saved);
    assert_int_equal(ready, 1);
    assert_true(pf.revents & POLLHUP); /* no slave descriptor left */
    nblog_console_unregister(con);
    close(master);
}

#ifndef NBLOG_TEST_OLD_API
/* ---- review: write_atomic never makes a blocking write ----------------- */

/* Calls on the logging thread of a write that could block (a blocking
 * description): as if another writer had filled the pipe between a poll
 * and the write, the call is refused and counted instead of waiting. */
static pthread_t logging_thread;
static _Atomic int blocking_writes;

static ssize_t spy_write(int fd, const void *buf, size_t len)
{
    int fl = fcntl(fd, F_GETFL);
    if (pthread_equal(pthread_self(), logging_thread) && fl >= 0 && !(fl & O_NONBLOCK)) {
        atomic_fetch_add(&blocking_writes, 1);
        errno = EAGAIN;
        return -1;
    }
    return write(fd, buf, len);
}

/* A pipe registered while no descriptor is left (so no other way in could
 * be opened for it) and another character device (/dev/null), both on
 * blocking descriptions, in direct mode and by emergency records: the
 * logging caller never issues a write that could block. */
static void test_write_atomic_never_blocking_write(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int null = open("/dev/null", O_WRONLY);
    assert_true(null >= 0);
    use_up_fds();
    nblog_console_t *a = tu_fd_console(p[1], "pipe-no-fds", NBLOG_MODE_DIRECT);
    nblog_console_t *b = tu_fd_console(null, "null", NBLOG_MODE_DIRECT);
    give_back_fds();
    logging_thread = pthread_self();
    atomic_store(&blocking_writes, 0);
    atomic_store(&nblog__fd_write_hook, spy_write);
    for (int i = 0; i < 4; i++)
        nblog_printf(i % 2 ? NBLOG_LEVEL_CRIT : NBLOG_LEVEL_INFO, "direct %d", i);
    atomic_store(&nblog__fd_write_hook, NULL);
    assert_flushed();
    assert_int_equal(atomic_load(&blocking_writes), 0);
    drain_until(p[0], "direct 3");
    nblog_console_unregister(a);
    nblog_console_unregister(b);
    close(null);
    close(p[0]);
    close(p[1]);
}
#endif


/* A fd the program closes: writes get EBADF (counted), and the console's
 * private description goes too, so the pipe's reader sees end of file. */
static void test_closed_fd_lets_pipe_go(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int fd = dup(p[1]);
    close(p[1]);
    nblog_console_t *con = tu_fd_console(fd, "closing", NBLOG_MODE_DIRECT);
    nblog_info("while open");
    assert_flushed();
    drain_until(p[0], "while open");
    close(fd);
    nblog_info("after close");
    assert_flushed();
    nblog_console_stats_t st;
    nblog_console_stats(con, &st);
    assert_int_equal(st.write_failed, 1);
    assert_int_equal(st.last_error, -EBADF);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, HANG_GUARD_S * 1000), 1);
    char c;
    assert_int_equal(read(p[0], &c, 1), 0); /* end of file: no writer left */
    nblog_console_unregister(con);
    close(p[0]);
}

/* ---- item 5: a file that cannot be opened ----------------------------- */

#ifndef NBLOG_TEST_OLD_API
static int eacces_open(const char *path, int flags, mode_t mode)
{
    (void)path;
    (void)flags;
    (void)mode;
    errno = EACCES;
    return -1;
}
#endif

static void test_file_open_error_says_why(void **state)
{
    (void)state;
    nblog_console_t *con;
    errno = 0;
    assert_int_equal(nblog_console_file("/nonexistent-nblog-dir/app.log", 0, 0, NULL, &con),
                     NBLOG_EFILE);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(nblog_strerror(NBLOG_EFILE), "errno"));

    /* EMFILE for real: no descriptor left. */
    use_up_fds();
    errno = 0;
    int rc = nblog_console_file("/tmp/nblog-test-fd-emfile.log", 0, 0, NULL, &con);
    int err = errno;
    give_back_fds();
    assert_int_equal(rc, NBLOG_EFILE);
    assert_int_equal(err, EMFILE);

    /* EACCES: a directory we may not write (root may: then a fault). */
    char dir[64], path[128];
    assert_non_null(tu_temp_dir(dir, sizeof dir, "fd-ro"));
    assert_int_equal(chmod(dir, 0500), 0);
    snprintf(path, sizeof path, "%s/app.log", dir);
#ifndef NBLOG_TEST_OLD_API
    if (geteuid() == 0)
        atomic_store(&nblog__fd_open_hook, eacces_open);
#endif
    errno = 0;
    assert_int_equal(nblog_console_file(path, 0, 0, NULL, &con), NBLOG_EFILE);
    assert_int_equal(errno, EACCES);
    rmdir(dir);
}

/* ---- item 4: rotation that cannot finish ------------------------------ */

static char rot_dir[64], rot_path[128];

static void rot_name(char *buf, size_t cap, int i)
{
    if (i == 0)
        snprintf(buf, cap, "%s", rot_path);
    else
        snprintf(buf, cap, "%s.%d", rot_path, i);
}

/* The whole of file i (0: the current one) into buf; -1 if missing. */
static long slurp(int i, char *buf, size_t cap)
{
    char name[160];
    rot_name(name, sizeof name, i);
    return tu_read_file(name, buf, cap);
}

static nblog_console_t *rot_console(unsigned long long max, int keep)
{
    assert_non_null(tu_temp_dir(rot_dir, sizeof rot_dir, "fd-rot"));
    snprintf(rot_path, sizeof rot_path, "%s/app.log", rot_dir);
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "rot";
    o.level = NBLOG_LEVEL_INFO; /* with the console's own notices */
    nblog_console_t *con;
    assert_int_equal(nblog_console_file(rot_path, max, keep, &o, &con), NBLOG_OK);
    return con;
}

static void rot_cleanup(void)
{
    char name[200];
    for (int i = 0; i <= 70; i++) {
        rot_name(name, sizeof name, i);
        unlink(name);
    }
    rmdir(rot_dir);
}

/* One record, flushed, and then whatever the console logged meanwhile
 * (its notices) flushed too, until nothing new is stored. */
static int next_rec;
static void batch(void)
{
    nblog_info("rec %04d .........................................", next_rec++);
    nblog_stats_t st;
    uint64_t before;
    do {
        nblog_stats_get(&st);
        before = st.reserved;
        assert_flushed();
        nblog_stats_get(&st);
    } while (st.reserved != before);
}

/* Every "rec N" line across the files, oldest file first: each once, in
 * order, none missing from first (-1: the oldest file's first) to
 * next_rec - 1. */
static __attribute__((unused)) void assert_all_records(int keep, int first)
{
    static char buf[1 << 16];
    int expect = first;
    for (int i = keep; i >= 0; i--) {
        if (slurp(i, buf, sizeof buf) < 0)
            continue;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            int k;
            if (sscanf(line, "rec %d", &k) == 1) {
                if (expect < 0)
                    expect = k;
                assert_int_equal(k, expect);
                expect++;
            }
        }
    }
    assert_int_equal(expect, next_rec);
}

#define KEEP 3
#define MAX_BYTES 200

/* Builds app.log.1 .. .3 and returns their contents in old[1..3]. */
static nblog_console_t *rot_with_chain(char old[KEEP + 1][4096])
{
    next_rec = 0;
    nblog_console_t *con = rot_console(MAX_BYTES, KEEP);
    for (int i = 0; i < 12; i++)
        batch(); /* ~3 records a file: .3 .2 .1 and the current */
    for (int i = 1; i <= KEEP; i++)
        assert_true(slurp(i, old[i], sizeof old[i]) > 0);
    return con;
}

static void assert_chain_kept(char old[KEEP + 1][4096])
{
    char now[4096];
    for (int i = 1; i <= KEEP; i++) {
        assert_true(slurp(i, now, sizeof now) > 0);
        assert_string_equal(now, old[i]);
    }
}

/* EMFILE for real while rotation is due, for several batches: nothing of
 * the chain is lost, every record is in some file, in order. */
static void test_rotation_emfile_keeps_chain(void **state)
{
    (void)state;
    char old[KEEP + 1][4096];
#ifndef NBLOG_TEST_OLD_API
    atomic_store(&nblog__fd_retry_ms, 0); /* retry at every batch */
#endif
    nblog_console_t *con = rot_with_chain(old);
    use_up_fds();
    for (int i = 0; i < 3; i++)
        batch();
    give_back_fds();

    assert_chain_kept(old);
    struct stat st;
    assert_int_equal(stat(rot_path, &st), 0);
    assert_true(st.st_size > MAX_BYTES); /* grew past it, as it said */
    nblog_console_stats_t cs;
    nblog_console_stats(con, &cs);
    assert_int_equal(cs.write_failed, 0);
    assert_int_equal(cs.last_error, -EMFILE);
#ifndef NBLOG_TEST_OLD_API
    nblog_file_stats_t fs;
    assert_int_equal(nblog_console_file_stats(con, &fs), NBLOG_OK);
    assert_true(fs.rotate_failed >= 3); /* and the batch of its notice */
    assert_int_equal(fs.failing, fs.rotate_failed);
    assert_int_equal(fs.last_error, -EMFILE);
    assert_true(fs.over_limit);
    uint64_t rotations = fs.rotations;
#endif
    /* Descriptors again: the next batch rotates once; the chain moves one
     * step (the oldest goes, as keep=3 asks), every record once. */
    batch();
    char now[4096];
    assert_true(slurp(2, now, sizeof now) > 0);
    assert_string_equal(now, old[1]);
    assert_true(slurp(3, now, sizeof now) > 0);
    assert_string_equal(now, old[2]);
    assert_true(slurp(1, now, sizeof now) > 0);
    assert_non_null(strstr(now, "rotation failed: Too many open files"));
#ifndef NBLOG_TEST_OLD_API
    nblog_console_file_stats(con, &fs);
    assert_int_equal(fs.rotations, rotations + 1);
    assert_int_equal(fs.failing, 0);
    assert_false(fs.over_limit);
#endif
    nblog_console_unregister(con);
    rot_cleanup();
}

#ifndef NBLOG_TEST_OLD_API
/* Faults: open (as in a read-only directory: EACCES) and rename. */
static _Atomic int fail_open_err, fail_rename_err, fail_rename_at, renames, opens;

static int faulty_open(const char *path, int flags, mode_t mode)
{
    if (strstr(path, ".rotating-")) {
        atomic_fetch_add(&opens, 1);
        int e = atomic_load(&fail_open_err);
        if (e) {
            errno = e;
            return -1;
        }
    }
    return open(path, flags, mode);
}

static int faulty_rename(const char *from, const char *to)
{
    int n = atomic_fetch_add(&renames, 1);
    int e = atomic_load(&fail_rename_err);
    int at = atomic_load(&fail_rename_at);
    if (e && (at < 0 || n == at)) {
        errno = e;
        return -1;
    }
    return rename(from, to);
}

static void reset_faults(void)
{
    atomic_store(&fail_open_err, 0);
    atomic_store(&fail_rename_err, 0);
    atomic_store(&fail_rename_at, -1);
    atomic_store(&renames, 0);
    atomic_store(&opens, 0);
    atomic_store(&nblog__fd_open_hook, faulty_open);
    atomic_store(&nblog__fd_rename_hook, faulty_rename);
}

/* A directory the process may not write (as root, which ignores
 * directory permissions, the EACCES its open would get is injected):
 * nothing renamed, counted, reported once, the file grows on. */
static void test_rotation_readonly_dir(void **state)
{
    (void)state;
    char old[KEEP + 1][4096];
    atomic_store(&nblog__fd_retry_ms, 0);
    nblog_console_t *con = rot_with_chain(old);
    reset_faults();
    int real = geteuid() != 0;
    if (real)
        assert_int_equal(chmod(rot_dir, 0500), 0);
    else
        atomic_store(&fail_open_err, EACCES);
    for (int i = 0; i < 4; i++)
        batch();
    if (real)
        chmod(rot_dir, 0700);
    atomic_store(&fail_open_err, 0);
    assert_int_equal(atomic_load(&renames), 0);
    assert_chain_kept(old);
    nblog_console_stats_t cs;
    nblog_console_stats(con, &cs);
    assert_int_equal(cs.last_error, -EACCES);
    nblog_file_stats_t fs;
    nblog_console_file_stats(con, &fs);
    assert_true(fs.rotate_failed >= 4);
    assert_int_equal(fs.last_error, -EACCES);
    assert_true(fs.over_limit);
    batch();
    nblog_console_file_stats(con, &fs);
    assert_int_equal(fs.failing, 0);
    assert_all_records(KEEP, -1);
    nblog_console_unregister(con);
    rot_cleanup();
}

/* A rename failing half-way through the chain: retried later, no file is
 * pushed out twice; every record still stored is in the files, in order. */
static void test_rotation_rename_fails_midway(void **state)
{
    (void)state;
    atomic_store(&nblog__fd_retry_ms, 0);
    next_rec = 0;
    /* Every batch rotates (a record alone is past 40 bytes); 60 files
     * keep them all. */
    nblog_console_t *con = rot_console(40, 60);
    for (int i = 0; i < 4; i++)
        batch();
    reset_faults();
    for (int at = 0; at < 4; at++) {
        /* The at-th rename of the next rotation fails (the chain's first
         * and second, path -> path.1, the new file -> path). */
        atomic_store(&fail_rename_at, atomic_load(&renames) + at);
        atomic_store(&fail_rename_err, EIO);
        batch();
        atomic_store(&fail_rename_err, 0);
        batch();
        batch();
        assert_all_records(60, 0);
    }
    nblog_file_stats_t fs;
    nblog_console_file_stats(con, &fs);
    assert_int_equal(fs.rotate_failed, 4);
    assert_int_equal(fs.failing, 0);
    nblog_console_unregister(con);
    rot_cleanup();
}

/* A file console whose rotations fail (EMFILE for the new file) with an
 * hour's backoff, after 10 batches. */
static nblog_console_t *rotation_backing_off(void)
{
    atomic_store(&nblog__fd_retry_ms, 3600u * 1000u);
    next_rec = 0;
    nblog_console_t *con = rot_console(MAX_BYTES, KEEP);
    reset_faults();
    atomic_store(&fail_open_err, EMFILE);
    for (int i = 0; i < 10; i++)
        batch();
    return con;
}

/* After a failure the next try waits (backoff): batches meanwhile make no
 * new attempt. */
static void test_rotation_backs_off(void **state)
{
    (void)state;
    nblog_console_t *con = rotation_backing_off();
    assert_int_equal(atomic_load(&opens), 1);
    nblog_file_stats_t fs;
    nblog_console_file_stats(con, &fs);
    assert_int_equal(fs.rotate_failed, 1);
    assert_true(fs.size > 2 * MAX_BYTES && fs.over_limit);
    assert_all_records(0, 0);
    nblog_console_unregister(con);
    rot_cleanup();
}

/* A reopen that cannot open: records go on to the old file, counted;
 * the reopen is retried and then happens. */
static void test_reopen_failure_retried(void **state)
{
    (void)state;
    atomic_store(&nblog__fd_retry_ms, 0);
    next_rec = 0;
    nblog_console_t *con = rot_console(0, 0);
    batch();
    char moved[200];
    snprintf(moved, sizeof moved, "%s.1", rot_path);
    assert_int_equal(rename(rot_path, moved), 0);
    atomic_store(&nblog__fd_open_hook, NULL);
    use_up_fds();
    assert_int_equal(nblog_console_reopen(con), NBLOG_OK);
    batch();
    batch();
    give_back_fds();
    nblog_file_stats_t fs;
    nblog_console_file_stats(con, &fs);
    assert_true(fs.reopen_failed >= 2);
    assert_int_equal(fs.last_error, -EMFILE);
    batch(); /* reopens now */
    nblog_console_file_stats(con, &fs);
    assert_int_equal(fs.failing, 0);
    assert_all_records(1, 0);
    char now[4096];
    assert_true(slurp(0, now, sizeof now) > 0);
    assert_non_null(strstr(now, "rec 0003"));
    nblog_console_unregister(con);
    rot_cleanup();
}

/* ---- review: a failed rotation of a full chain destroys nothing ------- */

/* Fails every rename whose names end as the step's (persistently, also
 * for the retry of the notice's batch); none during the undo. */
static const char *fail_from, *fail_to;
static int fail_from_rotating; /* from is the new file's temporary name */
static _Atomic int step_failures;

static int ends(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static int step_rename(const char *from, const char *to)
{
    if (fail_from && ends(from, fail_from) && ends(to, fail_to) &&
        (strstr(from, "rotating") != NULL) == fail_from_rotating) {
        atomic_fetch_add(&step_failures, 1);
        errno = EIO;
        return -1;
    }
    return rename(from, to);
}

/* Batches until the next record's batch is due a rotation (batch()'s
 * lines are all as long, and go to the file as they are). */
static void pad_until_due(nblog_console_t *con, unsigned long long max)
{
    size_t line = strlen("rec 0000 .........................................\n");
    for (;;) {
        nblog_file_stats_t fs;
        nblog_console_file_stats(con, &fs);
        if (fs.size + line > max)
            return;
        batch();
    }
}

static int files_in_rot_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", rot_dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int n = -1;
    assert_int_equal(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

/* keep=2 with app.log.1 and .2 present; each rename of a rotation fails
 * in turn (setting the oldest aside, .1 -> .2, app.log -> .1 as a chattr
 * +a file refuses it, the new file -> app.log): every old file keeps its
 * content under its own name, nothing is left over, it is counted; with
 * the fault gone the next batch rotates once. */
static void test_rotation_full_chain_step_fails(void **state)
{
    (void)state;
    static const char *steps[][2] = {
        {"app.log.2", ".old"},
        {"app.log.1", "app.log.2"},
        {"app.log", "app.log.1"},
        {"", "app.log"}, /* from the new file's temporary name */
    };
    atomic_store(&nblog__fd_retry_ms, 0);
    next_rec = 0;
    nblog_console_t *con = rot_console(MAX_BYTES, 2);
    for (int i = 0; i < 12; i++)
        batch(); /* .2 .1 and the current */
    atomic_store(&nblog__fd_rename_hook, step_rename);
    for (int k = 0; k < 4; k++) {
        static char old[3][4096], now[4096];
        pad_until_due(con, MAX_BYTES);
        for (int i = 0; i < 3; i++)
            assert_true(slurp(i, old[i], sizeof old[i]) > 0);
        fail_from_rotating = k == 3;
        fail_to = steps[k][1];
        fail_from = steps[k][0];
        atomic_store(&step_failures, 0);
        nblog_file_stats_t fs;
        nblog_console_file_stats(con, &fs);
        uint64_t failed_before = fs.rotate_failed;
        batch(); /* rotation due: it fails */
        fail_from = NULL;
        nblog_console_file_stats(con, &fs);
        assert_true(atomic_load(&step_failures) > 0);
        assert_true(fs.rotate_failed > failed_before);
        assert_int_equal(fs.last_error, -EIO);
        for (int i = 1; i < 3; i++) {
            assert_true(slurp(i, now, sizeof now) > 0);
            assert_string_equal(now, old[i]);
        }
        assert_true(slurp(0, now, sizeof now) > 0);
        assert_memory_equal(now, old[0], strlen(old[0])); /* grew on */
        assert_int_equal(files_in_rot_dir(), 3);
        batch(); /* rotates */
        assert_true(slurp(2, now, sizeof now) > 0);
        assert_string_equal(now, old[1]);
        assert_true(slurp(1, now, sizeof now) > 0);
        assert_memory_equal(now, old[0], strlen(old[0]));
        assert_int_equal(files_in_rot_dir(), 3);
    }
    nblog_console_unregister(con);
    rot_cleanup();
}

/* ---- review: a reopen is not held back by rotation's backoff ---------- */

/* Rotation failing (EMFILE for its new file) with an hour's backoff;
 * logrotate renames the file and asks for a reopen: the next batch goes
 * to a new file at the path. */
static void test_reopen_despite_rotation_backoff(void **state)
{
    (void)state;
    nblog_console_t *con = rotation_backing_off();
    nblog_file_stats_t fs;
    nblog_console_file_stats(con, &fs);
    assert_int_equal(fs.rotate_failed, 1);
    char moved[200];
    snprintf(moved, sizeof moved, "%s.1", rot_path);
    assert_int_equal(rename(rot_path, moved), 0);
    assert_int_equal(nblog_console_reopen(con), NBLOG_OK);
    batch();
    char now[4096];
    assert_true(slurp(0, now, sizeof now) > 0);
    char want[16];
    snprintf(want, sizeof want, "rec %04d", next_rec - 1);
    assert_non_null(strstr(now, want));
    nblog_console_unregister(con);
    rot_cleanup();
}

/* ---- review: a panic that takes over a rotation ---------------------- */

/* The printer is held in its rotation's first rename; a panic flush takes
 * the console and, inside its first write (the write hook, on this
 * thread), lets the rotation finish and waits until the printer writes
 * again (so it has switched files, or found it may not). Then the panic's
 * write to the descriptor it read must still work: the printer may not
 * close what a panic is writing to. */
static _Atomic int rename_held, rename_go, printer_wrote, panic_write_armed;
static _Atomic long panic_write_result;
static pthread_t panic_thread;

static void wait_for(_Atomic int *flag)
{
    for (int i = 0; i < HANG_GUARD_S * 1000 && !atomic_load(flag); i++)
        usleep(1000);
}

static int held_rename(const char *from, const char *to)
{
    if (!atomic_exchange(&rename_held, 1))
        wait_for(&rename_go);
    return rename(from, to);
}

static ssize_t panic_race_write(int fd, const void *buf, size_t len)
{
    if (!pthread_equal(pthread_self(), panic_thread)) {
        ssize_t n = write(fd, buf, len);
        atomic_store(&printer_wrote, 1);
        return n;
    }
    if (atomic_exchange(&panic_write_armed, 0)) {
        atomic_store(&rename_go, 1);
        wait_for(&printer_wrote);
        ssize_t n = write(fd, buf, len);
        atomic_store(&panic_write_result, n < 0 ? -errno : n);
        return n;
    }
    return write(fd, buf, len);
}

static void *flush_a_while(void *arg)
{
    (void)arg;
    nblog_flush(HANG_GUARD_S * 1000, NULL, 0);
    return NULL;
}

static void test_panic_takes_over_rotation(void **state)
{
    (void)state;
    next_rec = 0;
    nblog_console_t *con = rot_console(100, 1);
    batch();
    atomic_store(&rename_held, 0);
    atomic_store(&rename_go, 0);
    atomic_store(&printer_wrote, 0);
    atomic_store(&panic_write_result, 0);
    atomic_store(&nblog__fd_rename_hook, held_rename);
    panic_thread = pthread_self();
    atomic_store(&panic_write_armed, 1);
    atomic_store(&nblog__fd_write_hook, panic_race_write);
    nblog_info("rec %04d is due a rotation .............................", next_rec++);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, flush_a_while, NULL), 0);
    wait_for(&rename_held); /* the printer is in rotate() */
    assert_true(atomic_load(&rename_held));
    nblog_panic_flush("panic during a rotation");
    atomic_store(&rename_go, 1);
    pthread_join(t, NULL);
    atomic_store(&nblog__fd_write_hook, NULL);
    atomic_store(&nblog__fd_rename_hook, NULL);
    long r = atomic_load(&panic_write_result);
    if (r <= 0)
        print_error("the panic's write got %ld\n", r);
    assert_true(r > 0); /* not -EBADF: its descriptor was not closed */
    batch();
    assert_flushed();
    nblog_console_unregister(con);
    rot_cleanup();
}
#endif

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one test, e.g. against an old build */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_epipe_threaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epipe_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epipe_emergency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epipe_keeps_program_sigpipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_report_to_closed_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emergency_full_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_full_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emergency_full_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emergency_full_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_file_delivers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_panic_flush_reaches_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_follows_dup2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_fd_lets_pipe_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stderr_pipe_let_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stderr_tty_let_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_open_error_says_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_emfile_keeps_chain, setup, teardown),
#ifndef NBLOG_TEST_OLD_API
        cmocka_unit_test_setup_teardown(test_rotation_readonly_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_rename_fails_midway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_failure_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_never_blocking_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_full_chain_step_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_despite_rotation_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_panic_takes_over_rotation, setup, teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

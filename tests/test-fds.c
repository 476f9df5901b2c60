/*
 * test-fds.c - nblog leaves the program's descriptors and signals alone
 * (DESIGN.md promise 11): it never writes into a file that took fd 2
 * after the program closed its stderr, holds none of fds 0-2, opens
 * everything close-on-exec, and its threads take no process-directed
 * signal but keep the faults (so a crash on one reaches the handlers).
 *
 * Every case runs in a child of its own (children.h): init happens once
 * per process and the cases close their standard descriptors. A child
 * reports through a copy of its stdout at fd REPORT_FD, so it may close
 * 0, 1 and 2.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "children.h"
#include "console.h"

#define REPORT_FD 40


/* ---------------------------------------------------------- child side */

static const char *child_dir(void)
{
    const char *d = getenv("FDS_DIR");
    CHILD_CHECK(d && *d, "FDS_DIR not set");
    return d;
}

/* The whole of path, NUL-terminated, into buf; its length. */
static size_t read_file(const char *path, char *buf, size_t cap)
{
    long n = tu_read_file(path, buf, cap);
    CHILD_CHECK(n >= 0, "open %s: %s", path, strerror(errno));
    return (size_t)n;
}

/* Opens "DIR/name" for the program as a daemon would after closing fd 2:
 * it must get 2 (nblog holds none of 0-2). Writes "DATA\n" into it. */
static int open_data(const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", child_dir(), name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHILD_CHECK(fd == STDERR_FILENO, "%s got fd %d, not 2", name, fd);
    CHILD_CHECK(write(fd, "DATA\n", 5) == 5, "write DATA");
    return fd;
}

static void begin(void);

/* The default console's state: how many consoles are active. */
static int active_consoles(void)
{
    int free_slots = 0, active = 0;
    nblog__console_slots(&free_slots, &active);
    return active;
}

static void stats_of_one(struct nblog_console *con, void *arg)
{
    CHILD_CHECK(nblog_console_stats(con, arg) == NBLOG_OK, "stats");
}

/* The stats of the one console registered. */
static nblog_console_stats_t only_console(void)
{
    nblog_console_stats_t st;
    memset(&st, 0, sizeof st);
    CHILD_CHECK(active_consoles() == 1, "%d consoles active, want 1", active_consoles());
    nblog__consoles_foreach(stats_of_one, &st);
    return st;
}

/* A daemon closes its stderr after the first log (the default console is
 * on it) and opens its database, which gets fd 2: the default console
 * must not write into it. */
static int child_stderr_reused(void)
{
    begin();
    nblog_info("before close %d", 1);
    CHILD_CHECK(nblog_flush(5000, NULL, 0) == 0, "flush");
    CHILD_CHECK(active_consoles() == 1, "default console: %d active", active_consoles());
    close(STDERR_FILENO);
    char path[128], got[4096];
    int fd = open_data("data.db", path, sizeof path);
    nblog_info("secret token %d", 1234);
    nblog_flush(5000, NULL, 0); /* the record is counted as failed */
    nblog_emerg("emergency %d", 5); /* write_atomic, on this thread */
    nblog_flush(5000, NULL, 0);
    read_file(path, got, sizeof got);
    CHILD_CHECK(strcmp(got, "DATA\n") == 0, "data.db holds nblog's output: \"%s\"", got);
    nblog_console_stats_t st = only_console();
    CHILD_CHECK(st.write_failed >= 1 && st.last_error == -ESTALE,
                "console %s: write_failed %llu, last_error %d", st.name,
                (unsigned long long)st.write_failed, st.last_error);
    close(fd);
    return 0;
}

/* fd 2 closed before the first log: init makes no default console, and
 * the file the program opens next gets 2 and stays its own. */
static int child_stderr_closed_first(void)
{
    begin();
    close(STDERR_FILENO);
    nblog_info("first log, lazy init %d", 1);
    nblog_flush(5000, NULL, 0);
    CHILD_CHECK(active_consoles() == 0, "a console on a closed stderr: %d active",
                active_consoles());
    char path[128], got[4096];
    int fd = open_data("data2.db", path, sizeof path);
    nblog_info("secret token %d", 1234);
    nblog_emerg("emergency %d", 5);
    nblog_flush(5000, NULL, 0);
    read_file(path, got, sizeof got);
    CHILD_CHECK(strcmp(got, "DATA\n") == 0, "data2.db holds nblog's output: \"%s\"", got);
    close(fd);
    return 0;
}

/* Descriptors the child was started with (a test runner's log, say):
 * not nblog's. Noted by run_child_case before the case runs. */
static unsigned char inherited[1024];

/* Every case's first call: reports go to REPORT_FD from here on, and the
 * descriptors open now are noted as inherited. */
static void begin(void)
{
    CHILD_CHECK(dup2(STDOUT_FILENO, REPORT_FD) == REPORT_FD, "dup2 report fd");
    CHILD_CHECK(fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) == 0, "cloexec report fd");
    children_report_fd = REPORT_FD;
    for (int fd = 0; fd < (int)sizeof inherited; fd++)
        inherited[fd] = fcntl(fd, F_GETFD) >= 0;
}

/* Every descriptor open now but REPORT_FD, the listing's own and those
 * the child was started with above 2 is close-on-exec and 3 or above;
 * *count gets how many there are. */
static void all_mine_cloexec(int *count)
{
    DIR *d = opendir("/proc/self/fd");
    CHILD_CHECK(d != NULL, "opendir /proc/self/fd: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == dirfd(d) || fd == REPORT_FD ||
            (fd > STDERR_FILENO && fd < (int)sizeof inherited && inherited[fd]))
            continue;
        char link[256] = "";
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t l = readlink(proc, link, sizeof link - 1);
        link[l > 0 ? l : 0] = '\0';
        CHILD_CHECK(fd > STDERR_FILENO, "nblog holds fd %d (%s)", fd, link);
        int fl = fcntl(fd, F_GETFD);
        CHILD_CHECK(fl >= 0 && (fl & FD_CLOEXEC), "fd %d (%s) not close-on-exec", fd, link);
        n++;
    }
    closedir(d);
    *count = n;
}

/* 0, 1 and 2 all closed before init, a ring file, a file console and a
 * journald socket: nblog takes none of 0-2, every descriptor of its own
 * is close-on-exec, and the program's next three opens get 0, 1, 2. */
static int child_std_fds_untouched(void)
{
    begin();
    const char *d = child_dir();
    char log_path[128], sock_path[128];
    snprintf(log_path, sizeof log_path, "%s/file.log", d);
    snprintf(sock_path, sizeof sock_path, "%s/journal.sock", d);
    close(STDIN_FILENO);
    close(STDOUT_FILENO);
    close(STDERR_FILENO);
    nblog_info("first log, lazy init %d", 1); /* NBLOG_RING is set */
    nblog_console_t *file = NULL, *journal = NULL;
    CHILD_CHECK(nblog_console_file(log_path, 0, 0, NULL, &file) == NBLOG_OK, "file console");
    CHILD_CHECK(nblog_console_journald(sock_path, NULL, NULL, &journal) == NBLOG_OK,
                "journald console");
    nblog_info("to the file %d", 2);
    CHILD_CHECK(nblog_flush(5000, NULL, 0) >= 0, "flush");
    for (int fd = 0; fd <= STDERR_FILENO; fd++)
        CHILD_CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "fd %d is open", fd);
    CHILD_CHECK(active_consoles() == 2, "%d consoles active, want 2 (no default)",
                active_consoles());
    int count = 0;
    all_mine_cloexec(&count);
    /* ring file (lock and map), timerfd, eventfd, file, socket */
    CHILD_CHECK(count >= 5, "only %d descriptors of nblog's seen", count);
    char got[4096];
    read_file(log_path, got, sizeof got);
    CHILD_CHECK(strstr(got, "to the file 2") != NULL, "file console: \"%s\"", got);
    for (int want = 0; want <= STDERR_FILENO; want++) {
        int fd = open("/dev/null", O_RDWR);
        CHILD_CHECK(fd == want, "the program's open got %d, not %d", fd, want);
    }
    return 0;
}

/* ---- signals: nblog's threads block the program's, not the faults */

/* The SigBlk mask of thread tid, from /proc/self/task/TID/status, into
 * *m; 0 if the thread is gone. */
static int blocked_of(pid_t tid, unsigned long long *m)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    const char *p = strstr(buf, "\nSigBlk:");
    if (!p)
        return 0; /* exited between open and read */
    *m = strtoull(p + 8, NULL, 16);
    return 1;
}

#define BIT(sig) (1ull << ((sig) - 1))

/* What is wrong with mask m of an nblog thread, into why; 0 if nothing. */
static int mask_wrong(unsigned long long m, char *why, size_t cap)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT};
    if (!(m & BIT(SIGUSR1)) || !(m & BIT(SIGTERM)))
        return snprintf(why, cap, "takes SIGUSR1 or SIGTERM (SigBlk %llx)", m);
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        if (m & BIT(faults[i]))
            return snprintf(why, cap, "blocks fault %d (SigBlk %llx)", faults[i], m);
    return 0;
}

/* Every thread but main blocks SIGUSR1 (and so every program signal) and
 * leaves the faults and SIGABRT unblocked; returns how many there are.
 * A thread pthread_create is still starting has every signal blocked
 * (glibc) until it sets the mask it was created with: a wrong mask is
 * read again until it is right, for 2 s at most (a hang guard: a thread
 * with the wrong mask keeps it). */
static int check_thread_masks(void)
{
    DIR *d = opendir("/proc/self/task");
    CHILD_CHECK(d != NULL, "opendir /proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || tid == getpid())
            continue;
        char why[128];
        int tries = 0;
        unsigned long long m = 0;
        while (blocked_of(tid, &m) && mask_wrong(m, why, sizeof why) && tries++ < 400) {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
        CHILD_CHECK(tries <= 400, "thread %d %s", (int)tid, why);
        n += blocked_of(tid, &m);
    }
    closedir(d);
    return n;
}

/* With NBLOG_RING set (publisher and wall-clock threads, besides the
 * default console's printer): no nblog thread takes a process-directed
 * SIGUSR1, during a storm of them, and none blocks the faults. */
static int child_signals_with_ring(void)
{
    begin();
    nblog_info("threads running %d", 1);
    CHILD_CHECK(nblog_flush(5000, NULL, 0) == 0, "flush");
    int threads = check_thread_masks();
    /* printer, ring publisher, wall clock (and the stall watch, if up) */
    CHILD_CHECK(threads >= 3, "only %d nblog threads", threads);
    children_usr1_block();
    for (int i = 0; i < 200; i++) {
        CHILD_CHECK(kill(getpid(), SIGUSR1) == 0, "kill");
        nblog_info("storm %d", i);
        if (i % 20 == 0) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    nblog_flush(5000, NULL, 0);
    children_usr1_check();
    return 0;
}

/* A console that never finishes a write. */
static ssize_t never_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx, (void)buf;
    while (pause() != 0 || len) /* pause() only returns -1 (EINTR) */
        ;
    return (ssize_t)len;
}

/* nblog's own lines on stderr (here the exit flush's report of a console
 * that lags) never go into a file of the program's that took fd 2. */
static int child_complain_reused(void)
{
    begin();
    nblog_info("before close %d", 1);
    CHILD_CHECK(nblog_flush(5000, NULL, 0) == 0, "flush");
    close(STDERR_FILENO);
    char path[128];
    open_data("data3.db", path, sizeof path);
    static const nblog_console_ops_t ops = {.write = never_write};
    nblog_console_t *stuck;
    CHILD_CHECK(nblog_console_register(&ops, NULL, NULL, &stuck) == NBLOG_OK, "register");
    nblog_info("pending at exit %d", 2);
    exit(0); /* the exit flush lags 1 s on "stuck" and would say so */
}

static const struct child_case child_cases[] = {
    {"stderr_reused", child_stderr_reused},
    {"stderr_closed_first", child_stderr_closed_first},
    {"std_fds_untouched", child_std_fds_untouched},
    {"signals_with_ring", child_signals_with_ring},
    {"complain_reused", child_complain_reused},
};

/* --------------------------------------------------------- parent side */

/* Runs case `name` with FDS_DIR, NBLOG_RING in the run's directory if
 * ring, and extra_env ("NAME=value") if given. */
static void run(const char *name, int ring, const char *extra_env)
{
    static int serial;
    char ring_var[128];
    snprintf(ring_var, sizeof ring_var, "NBLOG_RING=%s/ring-%d", children_dir, serial++);
    const char *env[3] = {NULL, NULL, NULL};
    int n = 0;
    if (ring)
        env[n++] = ring_var;
    if (extra_env)
        env[n++] = extra_env;
    struct child_result r = children_run(name, "FDS_DIR", env);
    children_done(&r);
}

static void test_stderr_reused_gets_nothing(void **state)
{
    (void)state;
    run("stderr_reused", 0, NULL);
}

/* The same with the console NBLOG_CONSOLES=stderr asked for. */
static void test_env_stderr_reused_gets_nothing(void **state)
{
    (void)state;
    run("stderr_reused", 0, "NBLOG_CONSOLES=stderr");
}

static void test_stderr_closed_first_no_default(void **state)
{
    (void)state;
    run("stderr_closed_first", 0, NULL);
}

static void test_std_fds_untouched(void **state)
{
    (void)state;
    run("std_fds_untouched", 1, NULL);
}

static void test_complain_not_into_reused(void **state)
{
    (void)state;
    run("complain_reused", 0, NULL);
    char path[128], got[4096] = {0};
    snprintf(path, sizeof path, "%s/data3.db", children_dir);
    assert_true(tu_read_file(path, got, sizeof got) >= 0);
    assert_string_equal(got, "DATA\n");
}

static void test_signals_with_ring(void **state)
{
    (void)state;
    run("signals_with_ring", 1, NULL);
}

int main(int argc, char **argv)
{
    children_dispatch(argc, argv, child_cases, sizeof child_cases / sizeof child_cases[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stderr_reused_gets_nothing),
        cmocka_unit_test(test_env_stderr_reused_gets_nothing),
        cmocka_unit_test(test_stderr_closed_first_no_default),
        cmocka_unit_test(test_std_fds_untouched),
        cmocka_unit_test(test_signals_with_ring),
        cmocka_unit_test(test_complain_not_into_reused),
    };
    return cmocka_run_group_tests(tests, children_make_dir, children_remove_dir);
}

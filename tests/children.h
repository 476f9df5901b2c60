/*
 * children.h - tests whose every case runs in a child process of its own:
 * this executable again, started with posix_spawn and "--child CASE", so
 * its environment and nblog's init state are fresh. Its stdout and stderr
 * go to files the parent reads. A child checks what it can see itself
 * (CHILD_CHECK: one "FAIL ..." line on children_report_fd, stdout unless
 * the case moved it, and exit 1); the parent fails the test when a child
 * exits other than 0, showing what it printed.
 *
 * main: children_dispatch first; the group's setup and teardown:
 * children_make_dir / children_remove_dir (a private directory, whose path
 * a child finds in the variable children_run is given).
 *
 * Signals: children_usr1_block, kills, children_usr1_check - a
 * process-directed SIGUSR1 runs on the main thread, never on nblog's.
 */
#ifndef NBLOG_TEST_CHILDREN_H
#define NBLOG_TEST_CHILDREN_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "proc.h"

struct child_case {
    const char *name;
    int (*fn)(void);
};

/* What a child left: exit status, stdout and stderr (children_done). */
struct child_result {
    int status;
    char *out, *err;
};

static int children_report_fd = STDOUT_FILENO;
static char children_exe[4096];
static char children_dir[64]; /* this run's private directory */

#define CHILD_CHECK(cond, ...)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fflush(stdout);                                                    \
            dprintf(children_report_fd, "FAIL %s:%d: ", __FILE__, __LINE__);   \
            dprintf(children_report_fd, __VA_ARGS__);                          \
            dprintf(children_report_fd, "\n");                                 \
            _exit(1);                                                          \
        }                                                                      \
    } while (0)

/* In a child ("--child CASE"): runs the case and exits with its status.
 * In the parent: notes this executable's path and returns. */
static inline void children_dispatch(int argc, char **argv, const struct child_case *cases,
                                     size_t n)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(cases[i].name, argv[2]) == 0)
                exit(cases[i].fn());
        CHILD_CHECK(0, "no case %s", argv[2]);
    }
    ssize_t len = readlink("/proc/self/exe", children_exe, sizeof children_exe - 1);
    if (len <= 0) {
        fprintf(stderr, "readlink /proc/self/exe: %s\n", strerror(errno));
        exit(1);
    }
    children_exe[len] = '\0';
}

static inline int children_make_dir(void **state)
{
    (void)state;
    return tu_temp_dir(children_dir, sizeof children_dir, "children") ? 0 : -1;
}

static inline int children_remove_dir(void **state)
{
    (void)state;
    return tu_remove_dir(children_dir);
}

/* Runs case `name` with the environment ours minus every NBLOG_*, plus
 * dir_var=children_dir and env ("NAME=value" strings, NULL-terminated).
 * Fails the test if the child exits other than 0. */
static inline struct child_result children_run(const char *name, const char *dir_var,
                                               const char *const *env)
{
    static int serial;
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/out-%d", children_dir, serial);
    snprintf(err_path, sizeof err_path, "%s/err-%d", children_dir, serial++);
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(out >= 0 && err >= 0);

    char *envp[600], dir_env[160];
    int n = 0;
    for (char **e = environ; *e && n < 500; e++)
        if (strncmp(*e, "NBLOG_", 6) != 0)
            envp[n++] = *e;
    snprintf(dir_env, sizeof dir_env, "%s=%s", dir_var, children_dir);
    envp[n++] = dir_env;
    for (; env && *env && n < 598; env++)
        envp[n++] = (char *)*env;
    envp[n] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
    char *argv[] = {children_exe, "--child", (char *)name, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, children_exe, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(out);
    close(err);
    struct child_result r = {wait_child(pid), slurp(out_path), slurp(err_path)};
    if (r.status != 0)
        fail_msg("case %s exited %d\nstdout:\n%s\nstderr:\n%s", name, r.status, r.out, r.err);
    return r;
}

static inline void children_done(struct child_result *r)
{
    free(r->out);
    free(r->err);
}

/* ---- a process-directed SIGUSR1 never runs on nblog's threads */

/* Set by the handler, read by children_usr1_check on the main thread
 * (seq_cst both sides: a handler's store and main's later load). */
static _Atomic pid_t children_usr1_elsewhere; /* a thread not main's took one */
static atomic_int children_usr1_handled;
static sigset_t children_usr1_old;

static inline void children_note_usr1(int sig)
{
    (void)sig;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (tid != getpid())
        atomic_store_explicit(&children_usr1_elsewhere, tid, memory_order_seq_cst);
    atomic_fetch_add_explicit(&children_usr1_handled, 1, memory_order_seq_cst);
}

/* Catches SIGUSR1 and blocks it on the calling (main) thread: the kills
 * that follow stay pending for main, unless another thread takes one. */
static inline void children_usr1_block(void)
{
    struct sigaction sa = {.sa_handler = children_note_usr1};
    sigemptyset(&sa.sa_mask);
    CHILD_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    CHILD_CHECK(pthread_sigmask(SIG_BLOCK, &usr1, &children_usr1_old) == 0, "block");
}

/* After the kills: no other thread took one; unblocked, main does. */
static inline void children_usr1_check(void)
{
    pid_t early = atomic_load_explicit(&children_usr1_elsewhere, memory_order_seq_cst);
    CHILD_CHECK(early == 0, "SIGUSR1 ran on thread %d, not main's %d", (int)early,
                (int)getpid());
    CHILD_CHECK(pthread_sigmask(SIG_SETMASK, &children_usr1_old, NULL) == 0, "unblock");
    CHILD_CHECK(atomic_load_explicit(&children_usr1_handled, memory_order_seq_cst) >= 1,
                "SIGUSR1 never handled on main");
    CHILD_CHECK(atomic_load_explicit(&children_usr1_elsewhere, memory_order_seq_cst) == 0,
                "SIGUSR1 ran on an nblog thread");
}

#endif

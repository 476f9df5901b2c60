/*
 * proc.h - starting helper processes for tests: posix_spawn (never a fork
 * of the test process), with stdin/stdout wired to descriptors or files,
 * and reading a child's output line by line with a hang guard.
 * NBLOG_TOOL (the nblog command) and RING_WRITER (tests/ring-writer.c) are
 * the executables' paths, given by tests/CMakeLists.txt.
 */
#ifndef NBLOG_TEST_PROC_H
#define NBLOG_TEST_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Starts argv[0] with stdin from in_fd and stdout to out_fd (-1: inherit).
 * Returns the pid (the test fails if it cannot start). */
static inline pid_t spawn_child(char *const argv[], int in_fd, int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "posix_spawn %s: %s\n", argv[0], strerror(rc));
        abort();
    }
    return pid;
}

/* Waits for pid; returns its exit status, or 128 + signal if killed. */
static inline int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs argv with stdout into the file out_path; returns wait_child's code. */
static inline int run_to_file(char *const argv[], const char *out_path)
{
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    pid_t pid = spawn_child(argv, -1, fd);
    close(fd);
    return wait_child(pid);
}

/* A line reader over a pipe from a child. */
struct line_reader {
    int fd;
    char buf[65536];
    size_t len;
};

/* Next complete line into out (without '\n'); 1 if got one, 0 on EOF.
 * Gives up (returns -1) after hang_guard_ms without data: a hang guard so
 * a broken child fails the test instead of hanging it, not a timing check. */
static inline int read_line(struct line_reader *lr, char *out, size_t cap,
                            int hang_guard_ms)
{
    for (;;) {
        char *nl = memchr(lr->buf, '\n', lr->len);
        if (nl) {
            size_t n = (size_t)(nl - lr->buf);
            size_t copy = n < cap - 1 ? n : cap - 1;
            memcpy(out, lr->buf, copy);
            out[copy] = '\0';
            memmove(lr->buf, nl + 1, lr->len - n - 1);
            lr->len -= n + 1;
            return 1;
        }
        struct pollfd p = {.fd = lr->fd, .events = POLLIN};
        int pr = poll(&p, 1, hang_guard_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        if (lr->len == sizeof lr->buf)
            lr->len = 0; /* a line longer than the buffer: drop it */
        ssize_t got = read(lr->fd, lr->buf + lr->len, sizeof lr->buf - lr->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 0;
        lr->len += (size_t)got;
    }
}

/* Starts argv[0] with stdin from a new pipe; *in_w is its write end (the
 * child holds none, so closing it is the child's EOF). Returns the pid. */
static inline pid_t spawn_with_input(char *const argv[], int *in_w)
{
    int in[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    pid_t pid = spawn_child(argv, in[0], -1);
    close(in[0]);
    *in_w = in[1];
    return pid;
}

/* The whole file at path, NUL-terminated (free it); the test fails if
 * it does not open. */
static inline char *slurp(const char *path)
{
    char *s = tu_slurp(path, NULL);
    assert_non_null(s);
    return s;
}

#endif

/*
 * ring-writer.c - a child process for the ring-file tests (started with
 * posix_spawn by test-cli.c and test-ringfile.c, never forked from a test):
 *
 *   ring-writer burst FILE N   log "burst record I" for I in 0..N-1 into a
 *                              file ring; after each committed record write
 *                              "I\n" to stdout (the test's pipe), so the
 *                              test knows what was committed when it
 *                              SIGKILLs us.
 *   ring-writer ticks FILE [stuck]
 *                              log "tick I" every 20 ms, reporting "I\n"
 *                              each; with "stuck", a console named "stuck"
 *                              blocks forever in its first write. Ends
 *                              after 60 s in case the test died.
 *   ring-writer try FILE       nblog_init on FILE: exit 0 if it worked
 *                              (logging "second writer was here"), 3 for
 *                              NBLOG_EBUSY, 4 for anything else.
 *   ring-writer resize FILE N  N writers one after another (forked, each
 *                              waited for), the sizes changing each time,
 *                              so each replaces the file; each logs
 *                              "life I" and exits. Exit 0, or 9 if one
 *                              failed.
 *   ring-writer fork FILE      a daemon with a pre-forked worker: writes
 *                              FILE, forks a child (no exec) and exits 0.
 *                              The child writes "worker PID\n" to stdout,
 *                              then lives until its stdin reaches EOF (or
 *                              60 s pass, in case the test died).
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <nblog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int init_ring(const char *file, size_t records, size_t record_size)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_path = file;
    opt.ring_records = records;
    opt.record_size = record_size;
    return nblog_init(&opt);
}

static void report(long i)
{
    char line[32];
    int n = snprintf(line, sizeof line, "%ld\n", i);
    if (write(STDOUT_FILENO, line, (size_t)n) != n)
        _exit(5);
}

static int burst(const char *file, long n)
{
    if (init_ring(file, 131072, 128) != NBLOG_OK)
        return 4;
    for (long i = 0; i < n; i++) {
        if (nblog_printf(NBLOG_LEVEL_INFO, "burst record %ld", i) != NBLOG_OK)
            return 6;
        report(i);
    }
    return 0;
}

static void block_forever(void *arg, const char *lines, size_t len)
{
    (void)arg;
    (void)lines;
    (void)len;
    for (;;)
        pause();
}

static int ticks(const char *file, int stuck)
{
    if (init_ring(file, 4096, 256) != NBLOG_OK)
        return 4;
    if (stuck) {
        nblog_console_opts_t o;
        nblog_console_opts_init(&o);
        o.name = "stuck";
        o.stall_ms = 200;
        nblog_console_t *con;
        if (nblog_console_callback(block_forever, NULL, &o, &con) != NBLOG_OK)
            return 7;
    }
    for (long i = 0; i < 3000; i++) {
        nblog_printf(NBLOG_LEVEL_INFO, "tick %ld", i);
        report(i);
        usleep(20000);
    }
    return 0;
}

static int fork_worker(const char *file)
{
    if (init_ring(file, 4096, 256) != NBLOG_OK)
        return 4;
    nblog_printf(NBLOG_LEVEL_INFO, "parent before fork");
    pid_t pid = fork();
    if (pid < 0)
        return 8;
    if (pid > 0)
        return 0; /* exit() without nblog_shutdown, as a daemon's parent does */
    alarm(60);
    nblog_printf(NBLOG_LEVEL_INFO, "worker %ld", (long)getpid());
    char line[32];
    int n = snprintf(line, sizeof line, "worker %ld\n", (long)getpid());
    if (write(STDOUT_FILENO, line, (size_t)n) != n)
        _exit(5);
    char c;
    while (read(STDIN_FILENO, &c, 1) > 0)
        ;
    _exit(0);
}

/* Forks before any nblog call in this process: each child is a fresh
 * writer. */
static int resize(const char *file, long n)
{
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 8;
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            if (null < 0 || dup2(null, STDERR_FILENO) < 0) /* the default console */
                _exit(5);
            if (init_ring(file, i % 2 ? 2048 : 4096, 256) != NBLOG_OK)
                _exit(4);
            nblog_printf(NBLOG_LEVEL_INFO, "life %ld", i);
            exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 9;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "burst") == 0)
        return burst(argv[2], atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "ticks") == 0)
        return ticks(argv[2], argc > 3 && strcmp(argv[3], "stuck") == 0);
    if (argc == 4 && strcmp(argv[1], "resize") == 0)
        return resize(argv[2], atol(argv[3]));
    if (argc == 3 && strcmp(argv[1], "fork") == 0)
        return fork_worker(argv[2]);
    if (argc == 3 && strcmp(argv[1], "try") == 0) {
        int rc = init_ring(argv[2], 4096, 256);
        if (rc == NBLOG_EBUSY)
            return 3;
        if (rc != NBLOG_OK)
            return 4;
        nblog_printf(NBLOG_LEVEL_INFO, "second writer was here");
        return 0;
    }
    fprintf(stderr, "usage: ring-writer burst FILE N | ticks FILE [stuck] | try FILE | resize FILE N | fork FILE\n");
    return 2;
}

/*
 * status-writer.c - the writer process test-status.c looks at with `nblog
 * status` (started with posix_spawn, never forked from the test):
 *
 *   status-writer FILE CLOSED_PORT OPEN_PORT
 *
 * A file ring at FILE with six consoles, each in a state of its own:
 *   file        a file console, FILE.log: prints everything
 *   paused      suspended at once (nblog_console_suspend)
 *   stuck       its write blocks until the test closes our stdin: stalled
 *               (stall_ms 100)
 *   failing     its write fails with -ENOSPC: write errors, ENOSPC
 *   tcp-closed  syslog+tcp to 127.0.0.1:CLOSED_PORT, where nothing listens:
 *               disconnected, connect failures (ECONNREFUSED)
 *   tcp-open    syslog+tcp to 127.0.0.1:OPEN_PORT, the test's listener:
 *               connected once
 * Writes "ready\n" on stdout once they are registered, then logs "tick I"
 * every 20 ms until stdin reaches EOF (or 60 s pass, in case the test
 * died), lets the stuck console go and exits 0 without waiting for the
 * consoles that cannot finish.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <nblog.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int let_go;

static ssize_t sink_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    return (ssize_t)len;
}

static ssize_t stuck_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    /* Relaxed: a flag polled on its own. */
    while (!atomic_load_explicit(&let_go, memory_order_relaxed))
        usleep(10000);
    return (ssize_t)len;
}

static ssize_t failing_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return -ENOSPC;
}

static nblog_console_t *custom(const char *name, ssize_t (*write)(void *, const char *, size_t))
{
    static nblog_console_ops_t ops[3];
    static int used;
    nblog_console_ops_t *o = &ops[used++];
    memset(o, 0, sizeof *o);
    o->write = write;
    nblog_console_opts_t opts;
    nblog_console_opts_init(&opts);
    opts.name = name;
    opts.stall_ms = 100;
    nblog_console_t *con;
    if (nblog_console_register(o, NULL, &opts, &con) != NBLOG_OK)
        exit(4);
    return con;
}

static void tcp(const char *name, const char *port)
{
    char url[64];
    snprintf(url, sizeof url, "syslog+tcp://127.0.0.1:%s", port);
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.backoff_min_ms = 10;
    so.backoff_max_ms = 50;
    nblog_console_opts_t opts;
    nblog_console_opts_init(&opts);
    opts.name = name;
    opts.stall_ms = 100;
    nblog_console_t *con;
    if (nblog_console_syslog(url, &so, &opts, &con) != NBLOG_OK)
        exit(5);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_path = argv[1];
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    if (nblog_init(&opt) != NBLOG_OK)
        return 3;
    char log[512];
    snprintf(log, sizeof log, "%s.log", argv[1]);
    nblog_console_opts_t fo;
    nblog_console_opts_init(&fo);
    fo.name = "file";
    nblog_console_t *file;
    if (nblog_console_file(log, 0, 0, &fo, &file) != NBLOG_OK)
        return 4;
    nblog_console_suspend(custom("paused", sink_write));
    custom("stuck", stuck_write);
    custom("failing", failing_write);
    tcp("tcp-closed", argv[2]);
    tcp("tcp-open", argv[3]);
    if (write(STDOUT_FILENO, "ready\n", 6) != 6)
        return 6;
    for (long i = 0; i < 3000; i++) {
        nblog_info("tick %ld", i);
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        char b[64];
        if (poll(&p, 1, 20) == 1 && read(STDIN_FILENO, b, sizeof b) <= 0)
            break;
    }
    /* Relaxed: see stuck_write. */
    atomic_store_explicit(&let_go, 1, memory_order_relaxed);
    _exit(0); /* tcp-closed would hold a flush at exit until its deadline */
}

/*
 * crash-child.c - a program that logs and then dies, for test-crash.
 *
 *     crash-child MODE OUT
 *
 * Logs RECORDS records "record N" to two consoles: "slow", a threaded
 * callback console far behind (no write_atomic: the panic cannot flush it)
 * and "fast", a kmsg-format console on the file OUT with write_atomic.
 * Then it dies as MODE says; test-crash reads OUT and checks how.
 *
 *   segv abort bus stack fpe   die by that cause on the main thread
 *   owned   "fast"'s printer is blocked inside its write, mid-batch, when
 *           the main thread segfaults (the panic takes the console over)
 *   logcrash  a faulting %s pointer inside nblog_printf
 *   writecrash  a console's write callback segfaults on its printer thread
 *   two     two threads segfault at once
 *   chain   a SIGSEGV handler installed before nblog runs after it
 *   flushcrash  a third console's write_atomic segfaults inside the panic
 *           flush (a second fault: the process must still die, at once)
 *   flushhang   a third console's write_atomic blocks for good inside the
 *           panic flush (the watchdog must end it with the original signal);
 *           it dies once "fast" has caught up, so fast's part of the flush
 *           fits the 1 s bound the watchdog test needs, under any load
 *   pipesegv  a stderr console is registered after the records (so the
 *           panic flush is the first to write to it) and the main thread
 *           segfaults; test-fd runs it with stderr a pipe nobody reads
 *   panic   nblog_panic("out of %s", "cheese")
 *   survive SIGTERM (handled with NBLOG_CRASH_TERM) reaches a program
 *           handler that returns: the process lives on, logs and exits 0
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"

#define RECORDS 10000

static const char *mode;
static const char *out_path;
static _Atomic int fast_blocked;
/* Read through volatile so the compiler cannot see the faults coming. */
static int *volatile bad_ptr = (int *)64; /* unmapped; not NULL, which UBSan would stop at */
static volatile int recurse_limit = 1 << 30;

/* ---------------------------------------------------------- consoles */

static ssize_t slow_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    usleep(20000); /* far behind: ~50 batches a second */
    return (ssize_t)len;
}

static ssize_t crashy_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    if (memmem(buf, len, "boom", 4))
        bad_ptr[2] = 1; /* SIGSEGV on the printer thread */
    return (ssize_t)len;
}

static int out_fd = -1;

/* Third consoles, registered after "fast": their write_atomic misbehaves
 * once the crash record reaches them. */
static ssize_t bomb_write_atomic(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    if (memmem(buf, len, "fatal signal", 12))
        bad_ptr[6] = 1;
    return (ssize_t)len;
}

static ssize_t hang_write_atomic(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    if (memmem(buf, len, "fatal signal", 12))
        for (;;)
            pause();
    return (ssize_t)len;
}

static ssize_t fast_write_atomic(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    ssize_t n = write(out_fd, buf, len);
    return n < 0 ? -1 : n;
}

/* "owned": writes the first half of the batch's lines, then blocks for
 * good, owning the console at normal priority. */
static ssize_t fast_blocking_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    const char *half = buf + len / 2;
    const char *cut = memchr(half, '\n', len - (size_t)(half - buf));
    size_t first = cut ? (size_t)(cut + 1 - buf) : len;
    if (write(out_fd, buf, first) < 0)
        return -1;
    atomic_store(&fast_blocked, 1);
    for (;;)
        pause();
}

static nblog_console_t *add_console(const char *name, int format,
                                    ssize_t (*w)(void *, const char *, size_t),
                                    ssize_t (*wa)(void *, const char *, size_t))
{
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = name;
    o.format = format;
    o.stall_ms = 600000; /* no stall reports in the output */
    nblog_console_ops_t ops = {.write = w, .write_atomic = wa};
    nblog_console_t *c;
    if (nblog_console_register(&ops, NULL, &o, &c) != NBLOG_OK) {
        fprintf(stderr, "crash-child: cannot register %s\n", name);
        exit(2);
    }
    return c;
}

/* Waits until con has handled every record stored so far (its printer
 * caught up), bounded by a deadline only a hang reaches. */
static void wait_caught_up(nblog_console_t *con)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        nblog_console_stats_t st;
        if (nblog_console_stats(con, &st) != NBLOG_OK)
            break;
        if (st.lag == 0)
            return;
        usleep(1000);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < 60);
    fprintf(stderr, "crash-child: console never caught up\n");
    exit(8);
}

/* ------------------------------------------------------------- deaths */

static void *segv_thread(void *arg)
{
    pthread_barrier_t *b = arg;
    pthread_barrier_wait(b);
    bad_ptr[4] = 1;
    return NULL;
}

static void die_two_threads(void)
{
    static pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, 3);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, segv_thread, &b);
    pthread_create(&t2, NULL, segv_thread, &b);
    pthread_barrier_wait(&b);
    for (;;)
        pause();
}

static void die_bus(void)
{
    char path[] = "/tmp/nblog-crash-bus-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 4096) != 0)
        exit(3);
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || ftruncate(fd, 0) != 0)
        exit(3);
    unlink(path);
    p[100] = 1; /* beyond the file's end: SIGBUS */
}

__attribute__((noinline)) static int recurse(int depth)
{
    volatile char pad[1024];
    pad[0] = (char)depth;
    if (depth >= recurse_limit)
        return 0;
    return recurse(depth + 1) + pad[0]; /* not a tail call */
}

static void user_segv(int sig)
{
    static const char msg[] = "user handler ran\n";
    char path[512];
    snprintf(path, sizeof path, "%s.user", out_path); /* fine for this test */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        ssize_t n = write(fd, msg, sizeof msg - 1);
        (void)n;
        close(fd);
    }
    signal(sig, SIG_DFL); /* the fault comes back and ends the process */
}

static volatile sig_atomic_t term_seen;

static void note_term(int sig)
{
    (void)sig;
    term_seen = 1; /* a "graceful shutdown" flag; the handler returns */
}

/* After the flush the program goes on: logging and flushing still work,
 * and nothing kills it later (no watchdog left armed). */
static void survive(void)
{
    raise(SIGTERM);
    if (!term_seen)
        exit(6);
    nblog_printf(NBLOG_LEVEL_INFO, "still alive after SIGTERM");
    char lagging[64];
    if (nblog_flush(60000, lagging, sizeof lagging) != 0) { /* returns when done */
        fprintf(stderr, "crash-child: flush after survival lagged: %s\n", lagging);
        exit(5);
    }
    if (nblog_panic_flush("second panic after survival") != 0)
        exit(7);
    sleep(6); /* longer than the watchdog would wait */
    exit(0);
}

/* Out of line in every build type: test-crash resolves backtrace frame #0
 * (the faulting store below) with addr2line and expects "die", which an
 * -O3 build would otherwise inline into main (or split into die.part.0). */
#if defined(__clang__)
#define NOT_INLINED __attribute__((noinline))
#else
#define NOT_INLINED __attribute__((noinline, noclone, noipa))
#endif

NOT_INLINED static void die(void)
{
    if (!strcmp(mode, "segv") || !strcmp(mode, "owned") || !strcmp(mode, "chain") ||
        !strcmp(mode, "flushcrash") || !strcmp(mode, "flushhang") ||
        !strcmp(mode, "pipesegv"))
        bad_ptr[0] = 1;
    else if (!strcmp(mode, "abort"))
        abort();
    else if (!strcmp(mode, "bus"))
        die_bus();
    else if (!strcmp(mode, "stack"))
        recurse(0);
    else if (!strcmp(mode, "fpe"))
        raise(SIGFPE);
    else if (!strcmp(mode, "logcrash")) {
        const char *volatile bad = (const char *)(uintptr_t)24;
        nblog_printf(NBLOG_LEVEL_INFO, "bad pointer %s", bad);
    } else if (!strcmp(mode, "writecrash")) {
        nblog_printf(NBLOG_LEVEL_INFO, "boom");
        for (;;)
            pause();
    } else if (!strcmp(mode, "two"))
        die_two_threads();
    else if (!strcmp(mode, "panic"))
        nblog_panic("out of %s", "cheese");
    else if (!strcmp(mode, "survive"))
        survive();
    fprintf(stderr, "crash-child: survived mode %s\n", mode);
    exit(4);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: crash-child MODE OUT\n");
        return 2;
    }
    mode = argv[1];
    out_path = argv[2];
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* no core files in the build tree */
    if (!strcmp(mode, "chain"))
        signal(SIGSEGV, user_segv);
    if (!strcmp(mode, "survive"))
        signal(SIGTERM, note_term);

    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = 16384;
    /* The flush's bound is one only a hang reaches, so a loaded machine
     * still flushes every record; except where a test waits the bound out
     * (flushhang: the watchdog ends it after this plus a second; survive:
     * it outlives the watchdog's time) or may (pipesegv: test-fd's 20 s
     * hang guard, records unchecked), which keep 1 s. */
    int short_bound = !strcmp(mode, "flushhang") || !strcmp(mode, "survive") ||
                      !strcmp(mode, "pipesegv");
    opt.panic_timeout_ms = short_bound ? 1000 : 30000;
    /* The consoles below take the pool's slots in order (the panic flush
     * visits them so): no default console to make room for. */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    if (!strcmp(mode, "survive"))
        opt.crash_handlers = NBLOG_CRASH_TERM;
    if (nblog_init(&opt) != NBLOG_OK)
        return 2;
    out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (out_fd < 0)
        return 2;
    add_console("slow", NBLOG_FORMAT_PLAIN, slow_write, NULL);
    if (!strcmp(mode, "writecrash"))
        add_console("crashy", NBLOG_FORMAT_PLAIN, crashy_write, NULL);
    nblog_console_t *fast =
        add_console("fast", NBLOG_FORMAT_KMSG,
                    !strcmp(mode, "owned") ? fast_blocking_write : fast_write_atomic,
                    fast_write_atomic);
    if (!strcmp(mode, "flushcrash"))
        add_console("bomb", NBLOG_FORMAT_PLAIN, bomb_write_atomic, bomb_write_atomic);
    if (!strcmp(mode, "flushhang"))
        add_console("hang", NBLOG_FORMAT_PLAIN, hang_write_atomic, hang_write_atomic);

    for (int i = 0; i < RECORDS; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "record %d", i);
    nblog_console_t *err_con;
    if (!strcmp(mode, "pipesegv") && nblog_console_stderr(NULL, &err_con) != NBLOG_OK)
        return 2;
    if (!strcmp(mode, "owned"))
        while (!atomic_load(&fast_blocked))
            usleep(1000);
    /* flushhang's flush has 1 s: "fast" gets there with only the crash
     * report left for it, so the flush has little to do before the hang. */
    if (!strcmp(mode, "flushhang"))
        wait_caught_up(fast);
    die();
    return 4;
}

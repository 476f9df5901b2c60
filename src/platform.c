/*
 * platform.c - time source, thread ids, nblog's own descriptors and
 * threads, the futex and sleep shim. [signal-safe] except
 * nblog__platform_init (once, from init) and nblog__thread_create.
 */
#include "platform.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testhooks.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

struct nblog__clock nblog__clock;

static void time_init(void);

uint64_t nblog__clock_ns(int clock_id)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef NBLOG_TEST_HOOKS
int64_t (*_Atomic nblog__realtime_hook)(void);
#endif

int64_t nblog__realtime_ns(void)
{
    /* Relaxed: a test's clock, set before the reads it is for. */
    return NBLOG__TEST_HOOK_OR(nblog__realtime_hook, (),
                               (int64_t)nblog__clock_ns(CLOCK_REALTIME));
}

int64_t nblog__wall_offset_ns(uint64_t *at_ns)
{
    /* The realtime read bracketed by two of ours: its moment is their
     * middle (the bracket is ~50 ns wide). Unsigned until the end: the
     * difference of two clocks, modulo 2^64, is what an int64 holds. */
    uint64_t t0 = nblog__now_ns();
    int64_t wall = nblog__realtime_ns();
    uint64_t t1 = nblog__now_ns();
    uint64_t mid = t0 + (t1 - t0) / 2;
    if (at_ns)
        *at_ns = mid;
    return (int64_t)((uint64_t)wall - mid);
}

#if defined(__x86_64__)
/* CPUID 0x80000007 EDX bit 8: the TSC runs at a constant rate in every
 * P/C-state (what Linux reports as constant_tsc + nonstop_tsc). */
static int tsc_is_invariant(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return 0;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return (d >> 8) & 1;
}

/* One (tsc, ns) pair with the TSC read bracketed as tightly as we can. */
static void sample(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = __rdtsc();
        uint64_t n = nblog__clock_ns(CLOCK_MONOTONIC);
        uint64_t t1 = __rdtsc();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *tsc = t0 + (t1 - t0) / 2;
            *ns = n;
        }
    }
}
#endif

void nblog__platform_init(void)
{
    time_init();
}

static void time_init(void)
{
#if defined(__x86_64__)
    if (nblog__clock.use_tsc || !tsc_is_invariant())
        return;
    uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
    sample(&t0, &n0);
    do {
        sample(&t1, &n1);
    } while (n1 - n0 < 5000000); /* 5 ms: ~1e-5 relative error at worst */
    nblog__clock.mult = (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0));
    nblog__clock.tsc0 = t1;
    nblog__clock.ns0 = n1;
    nblog__clock.use_tsc = 1;
#endif
}

uint64_t nblog__now_ns(void)
{
#if defined(__x86_64__)
    if (__builtin_expect(nblog__clock.use_tsc, 1)) {
        uint64_t d = __rdtsc() - nblog__clock.tsc0;
        return nblog__clock.ns0 + (uint64_t)(((unsigned __int128)d * nblog__clock.mult) >> 32);
    }
#endif
    return nblog__clock_ns(CLOCK_MONOTONIC);
}

/* ---- thread ids ---- */

static __thread uint32_t cached_tid __attribute__((tls_model("initial-exec")));

void nblog__platform_fork_child(void)
{
    /* Runs in the child, on the thread that called fork(): the only thread
     * there, whose cached id is its parent's. */
    cached_tid = 0;
}

uint32_t nblog__tid(void)
{
    uint32_t tid = cached_tid;
    if (__builtin_expect(tid == 0, 0)) {
        tid = (uint32_t)syscall(SYS_gettid);
        cached_tid = tid;
    }
    return tid;
}

/* ---- nblog's own descriptors and threads (see platform.h) ---- */

int nblog__fd_mine(int fd)
{
    if (fd < 0 || fd > STDERR_FILENO)
        return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int err = errno;
    close(fd);
    if (high < 0)
        errno = err;
    assert(high < 0 || high > STDERR_FILENO);
    return high;
}

int nblog__thread_create(pthread_t *t, int detached, void *(*fn)(void *), void *arg)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT};
    sigset_t blocked, old;
    sigfillset(&blocked);
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&blocked, faults[i]);
    pthread_sigmask(SIG_BLOCK, &blocked, &old); /* the new thread inherits it */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (detached)
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- the futex and sleep shim (see platform.h) ---- */

static struct timespec timespec_of(uint64_t ns)
{
    return (struct timespec){(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
}

static void futex_wait(const _Atomic uint32_t *word, int op, uint32_t val,
                       uint64_t timeout_ns)
{
    struct timespec ts = timespec_of(timeout_ns);
    syscall(SYS_futex, (const uint32_t *)word, op, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int op, int n)
{
    syscall(SYS_futex, (uint32_t *)word, op, n, NULL, NULL, 0);
}

void nblog__futex_wait(_Atomic uint32_t *word, uint32_t val, uint64_t timeout_ns)
{
    futex_wait(word, FUTEX_WAIT_PRIVATE, val, timeout_ns);
}

void nblog__futex_wake(_Atomic uint32_t *word, int n)
{
    futex_wake(word, FUTEX_WAKE_PRIVATE, n);
}

void nblog__futex_wait_shared(const _Atomic uint32_t *word, uint32_t val,
                              uint64_t timeout_ns)
{
    futex_wait(word, FUTEX_WAIT, val, timeout_ns);
}

void nblog__futex_wake_shared(_Atomic uint32_t *word, int n)
{
    futex_wake(word, FUTEX_WAKE, n);
}

void nblog__sleep_ns(uint64_t ns)
{
    struct timespec ts = timespec_of(ns);
    nanosleep(&ts, NULL);
}

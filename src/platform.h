/*
 * platform.h - the bottom layer: time source, thread ids, CPU hints, and
 * the one syscall shim for futexes and sleeps.
 *
 * Everything here is [signal-safe] unless said otherwise.
 */
#ifndef NBLOG_PLATFORM_H
#define NBLOG_PLATFORM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/*
 * Time. Records carry CLOCK_MONOTONIC nanoseconds. clock_gettime through the
 * vDSO costs ~55 cycles on these VMs, the TSC ~23, so when the CPU says its
 * TSC is invariant (constant_tsc + nonstop_tsc) nblog__time_init() calibrates
 * it against CLOCK_MONOTONIC and nblog__now_ns() is a read, a multiply and a
 * shift. Otherwise nblog__now_ns() calls clock_gettime.
 */
struct nblog__clock {
    uint64_t tsc0;     /* TSC at the calibration anchor */
    uint64_t ns0;      /* CLOCK_MONOTONIC ns at tsc0 */
    uint64_t mult;     /* ns per tick, 32.32 fixed point */
    int use_tsc;       /* 0: clock_gettime */
};
extern struct nblog__clock nblog__clock;

/* Calibrates the clock (busy-waits ~5 ms). Idempotent. Call from init,
 * not a signal handler. */
void nblog__platform_init(void);
/* Fork hook (lifecycle.c's fork handler, in the child): forgets the
 * forking thread's cached id (the parent's). */
void nblog__platform_fork_child(void);
/* CLOCK_MONOTONIC nanoseconds. */
uint64_t nblog__now_ns(void);
/* Nanoseconds from clock_gettime, whatever the TSC says. */
uint64_t nblog__clock_ns(int clock_id);

/* CLOCK_REALTIME nanoseconds (through nblog__realtime_hook if set). */
int64_t nblog__realtime_ns(void);
/* CLOCK_REALTIME - nblog__now_ns() now, ns: what a record's ts_ns needs
 * added to be wall time. *at_ns (if given) gets the nblog__now_ns()
 * reading it belongs to. */
int64_t nblog__wall_offset_ns(uint64_t *at_ns);
#ifdef NBLOG_TEST_HOOKS
/* Tests only: CLOCK_REALTIME as nblog sees it (NULL: clock_gettime), so a
 * test can step the wall clock without stepping the machine's. Loaded
 * relaxed at every read; set it before the reads it is meant for. */
extern int64_t (*_Atomic nblog__realtime_hook)(void);
#endif

/* Kernel thread id of the caller, cached in initial-exec TLS; the cache is
 * reset in a forked child. */
uint32_t nblog__tid(void);

/*
 * Descriptors. Every descriptor nblog opens for itself passes through
 * nblog__fd_mine right after the call that made it: nblog never holds
 * 0, 1 or 2 (a program that closed its stderr and opens a file next must
 * get 2, not find nblog there), and every one is close-on-exec (callers
 * open with O_CLOEXEC / SOCK_CLOEXEC / TFD_CLOEXEC; a moved one gets it
 * from F_DUPFD_CLOEXEC). Returns fd itself if it is 3 or above (or
 * negative: passed through, errno kept); else a copy at 3 or above with
 * fd closed, or -1 (errno set, fd closed) if no copy could be made.
 * [signal-safe]: fcntl and close only.
 */
int nblog__fd_mine(int fd);

/*
 * Threads. Every thread of nblog's (printers, the stall watch, the ring
 * file's publisher, the wall clock) is started by nblog__thread_create:
 * it takes none of the program's signals. Every signal but the faults
 * (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) and SIGABRT is
 * blocked in it, so a process-directed one (SIGALRM, SIGINT, SIGCHLD, a
 * kill) goes to a thread of the program's as it would without nblog, and
 * a program that counts on its one thread being interrupted (EINTR) still
 * is. A fault on one of ours (a write callback that crashes, a SIGBUS on
 * a truncated ring file) still reaches the fatal-signal handlers and the
 * panic flush, not the default action. detached: 1 for a thread nobody
 * joins. Returns pthread_create's result; the caller's mask is unchanged.
 */
int nblog__thread_create(pthread_t *t, int detached, void *(*fn)(void *), void *arg);

/*
 * The syscall shim (after liburing's src/syscall.h): every futex call and
 * every sleep of nblog's goes through these, so there is one place that
 * knows the raw calls. Each makes exactly one system call and retries
 * nothing: a signal (EINTR), a spurious wake-up or a changed word ends it
 * early, and every caller looks at its condition again and waits again if
 * it must. Results are not reported: no caller acts on them. errno may
 * change, as the call itself changes it. [signal-safe]: raw futex and
 * nanosleep, nothing else.
 */
/* Sleeps until *word != val, a wake-up, a signal or timeout_ns (relative,
 * CLOCK_MONOTONIC) - whichever comes first. Private: the wakers are this
 * process's threads (FUTEX_WAIT_PRIVATE). */
void nblog__futex_wait(_Atomic uint32_t *word, uint32_t val, uint64_t timeout_ns);
/* Wakes up to n threads waiting on word (FUTEX_WAKE_PRIVATE). */
void nblog__futex_wake(_Atomic uint32_t *word, int n);
/* The same across processes (FUTEX_WAIT / FUTEX_WAKE, not PRIVATE): for
 * a word in a shared mapping (the ring file's follow_word), waited on by
 * another process. A waiter only reads the word: it may be mapped
 * read-only. */
void nblog__futex_wait_shared(const _Atomic uint32_t *word, uint32_t val,
                              uint64_t timeout_ns);
void nblog__futex_wake_shared(_Atomic uint32_t *word, int n);
/* Sleeps ns nanoseconds (one nanosleep: less if a signal arrives). */
void nblog__sleep_ns(uint64_t ns);

static inline void nblog__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif

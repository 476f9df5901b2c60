/*
 * panic.c - when the program dies: nblog_panic, the fatal-signal handlers,
 * and the alternate signal stacks they run on.
 *
 * WHAT HAPPENS ON A CRASH
 *
 *   1. A fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT; SIGTERM and
 *      SIGINT when asked) arrives on the faulting thread, on its alternate
 *      stack, so a stack overflow is handled too.
 *   2. The panic gate (panic_tid, a CAS from 0 to our tid) elects the one
 *      thread that flushes. A thread that faults while another flushes
 *      stores its own crash record, waits (bounded) for that flush and
 *      then dies the same way. A fault on the flushing thread itself (a
 *      console that crashes in write_atomic) finds the gate holding its own
 *      tid and goes straight to step 6: never a hang, never a loop.
 *   3. A watchdog bounds the whole thing: if a write_atomic blocks, the
 *      process still dies with the original signal once the panic timeout
 *      (plus a second) has passed. It is a timer of nblog's own that sends
 *      that signal to this thread (see arm_watchdog); the program's
 *      SIGALRM, alarm(2) and itimers are never touched.
 *   4. The crash record (EMERG: signal, code, fault address, thread, and
 *      the consoles that cannot be flushed) is stored, and every console
 *      with write_atomic is flushed at panic priority
 *      (nblog__consoles_panic_flush: hostile takeover, in-flight records
 *      replayed and marked, unfinished records skipped with a notice).
 *   5. A backtrace of the faulting thread is stored and flushed, one
 *      record per frame: module, address in its ELF file, build-id and the
 *      function, from the module table recorded before the crash
 *      (modules.c), or module and file offset from /proc/self/maps for a
 *      frame the table does not know. It comes after the first
 *      flush because unwinding may take the dynamic loader's lock; if that
 *      hangs, the records are already out and the watchdog ends it.
 *   6. The action that was in place before nblog is restored and the
 *      signal re-raised: a fault re-executes the faulting instruction, a
 *      signal sent by kill/raise/abort is raised again (pending until the
 *      handler returns). The process dies by the original signal, with its
 *      core dump, or the program's own handler runs (chaining). When that
 *      action is a handler (which may return) rather than the default,
 *      step 4 hands the consoles back, the watchdog is disarmed and the
 *      gate reopened, so a program that survives keeps logging. A signal
 *      the program ignores (SIG_IGN, e.g. SIGINT under nohup) is never
 *      taken over.
 *
 * nblog_panic() is steps 2-5 for an explicit call, then abort();
 * nblog_panic_flush() does the same and returns.
 *
 * ASYNC-SIGNAL SAFETY. Everything from the handlers down calls only:
 * sigaction, sigprocmask, sigaltstack, raise, timer_create/settime/
 * delete (raw system calls), nanosleep and futex (platform.h's shim),
 * clock_gettime, open/read/close (/proc/self/maps), reads of the module
 * table and of loaded images (nblog__modules_describe), prctl(PR_GET_NAME),
 * gettid, write(2) and friends inside the consoles' write_atomic, C11
 * atomics, and nblog's own formatter and store (no locks, no malloc). The
 * one exception is backtrace(): glibc's unwinder is safe once libgcc_s is
 * loaded, which setup forces by calling it once; on the crash path it can
 * still take the loader's lock (see step 5).
 *
 * ALTERNATE STACKS. Setup reserves a pool of stacks (64 KiB each, or the
 * system's SIGSTKSZ if larger, each above a PROT_NONE guard page) with
 * MAP_NORESERVE; the initialising thread takes one at once and every other
 * thread at its first logging call. A pthread key's destructor gives the
 * stack back when the thread exits. A thread that already has an
 * alternate stack (the program's, a sanitizer's) keeps it.
 *
 * MEMORY ORDERING (tags name each access, as in ring.c)
 *
 *   G1  enter_gate: CAS panic_tid 0 -> tid (acquire)
 *   G2  leave_gate: store panic_tid = 0 (release)
 *   G3  wait_for_other_panic: load panic_tid (acquire)
 *   G2 -> G1/G3: the next panic (or a thread that waited for this one)
 *       sees the consoles and the records as this one left them.
 *   I1  install: store installed[i] = 1 (release), after sigaction saved
 *       the previous action in cfg.prev[i]; its first load (acquire)
 *   I2  restore_action, nblog__panic_teardown: exchange installed[i] -> 0
 *       (acq_rel)
 *   I1 -> I2: whoever exchanges 1 out sees cfg.prev[i], and restores once.
 *   T1  take_stack: CAS a bit of stacks.used on (acq_rel)
 *   T2  give_stack: fetch_and it off (release)
 *   T2 -> T1: the next taker of a slot comes after the last one's use.
 *   Relaxed: nblog__panicking (a hint for notify; fd.c reads it past its
 *   FENCE-A/FENCE-P pair, panic.h); the watchdog's fields (wd: written and
 *   read by the panicking thread and its own signal handlers only, the
 *   timer signal being sent to that thread); the fork child's resets (one
 *   thread).
 */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "console.h"
#include "format.h"
#include "modules.h"
#include "nblog.h"
#include "panic.h"
#include "platform.h"

#define PANIC_TIMEOUT_MS_DEFAULT 3000u
#define STACKS_DEFAULT 64u
#define STACKS_MAX 4096u
#define STACK_MIN (64u * 1024u)
#define FRAMES_MAX 48

__thread int nblog__thread_entered __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------- configuration */

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
                                    SIGTERM, SIGINT};
#define N_FATAL ((int)(sizeof fatal_signals / sizeof fatal_signals[0]))

static struct {
    struct sigaction prev[N_FATAL]; /* what was there before us */
    _Atomic int installed[N_FATAL]; /* 1 while our handler is in place */
    unsigned timeout_ms;
} cfg = {.timeout_ms = PANIC_TIMEOUT_MS_DEFAULT};

/* The panic gate: tid of the thread flushing, 0 when none. */
static _Atomic uint32_t panic_tid;

/* 1 from entering the gate to leaving it (panic.h). */
_Atomic int nblog__panicking;

/* ------------------------------------------------------------- helpers */

static uint64_t deadline_after(unsigned ms)
{
    return nblog__now_ns() + (uint64_t)ms * 1000000u;
}

static int signal_index(int sig)
{
    for (int i = 0; i < N_FATAL; i++)
        if (fatal_signals[i] == sig)
            return i;
    return -1;
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    default: return "signal";
    }
}

/* The si_code names a reader most often needs; others print as numbers. */
static const char *code_name(int sig, int code)
{
    if (code == SI_USER) return "SI_USER";
    if (code == SI_TKILL) return "SI_TKILL";
    if (code == SI_QUEUE) return "SI_QUEUE";
    if (code == SI_KERNEL) return "SI_KERNEL";
    if (sig == SIGSEGV && code == SEGV_MAPERR) return "SEGV_MAPERR";
    if (sig == SIGSEGV && code == SEGV_ACCERR) return "SEGV_ACCERR";
    if (sig == SIGBUS && code == BUS_ADRALN) return "BUS_ADRALN";
    if (sig == SIGBUS && code == BUS_ADRERR) return "BUS_ADRERR";
    if (sig == SIGBUS && code == BUS_OBJERR) return "BUS_OBJERR";
    if (sig == SIGFPE && code == FPE_INTDIV) return "FPE_INTDIV";
    if (sig == SIGFPE && code == FPE_FLTDIV) return "FPE_FLTDIV";
    if (sig == SIGILL && code == ILL_ILLOPC) return "ILL_ILLOPC";
    return NULL;
}

/* Whether passing sig on ends the process: the action before ours was the
 * default (which terminates, for every signal we handle). A program's
 * handler may return, and SIG_IGN ignores: then the flush must leave nblog
 * working (consoles handed back, the gate open, no watchdog). */
static int passing_on_kills(int sig)
{
    int i = signal_index(sig);
    return i < 0 || cfg.prev[i].sa_handler == SIG_DFL;
}

/* Raised by the hardware for an instruction: returning re-executes it. */
static int is_fault(int sig, const siginfo_t *si)
{
    return si->si_code > 0 &&
           (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE);
}

/* ------------------------------------------------------ dying properly */

/* Puts back the action that was there before us. */
static void restore_action(int sig)
{
    int i = signal_index(sig);
    if (i < 0)
        return;
    /* I2, acq_rel: pairs with I1, install(); whoever sees 1 restores, once. If it
     * is 0, the action in place is already the program's (or default). */
    if (atomic_exchange_explicit(&cfg.installed[i], 0, memory_order_acq_rel))
        sigaction(sig, &cfg.prev[i], NULL);
}

/* Step 6: hand the signal to what was there before us. A fault comes back
 * by itself when the handler returns; a sent signal is raised again. */
static void pass_on(int sig, const siginfo_t *si)
{
    restore_action(sig);
    if (!si || !is_fault(sig, si))
        raise(sig); /* delivered when this handler returns, or at once if
                     * a dying flush's watchdog unblocked it */
}

/*
 * The watchdog (step 3). It must not touch anything of the program's: not
 * SIGALRM, not alarm(2), not the itimers, which the program may be using
 * (a flush that returns must leave them as they were). So it is a POSIX
 * timer of our own, created when a flush starts and deleted when it ends,
 * that sends the flush's own signal to the flushing thread
 * (SIGEV_THREAD_ID), tagged with WATCHDOG_COOKIE. That signal is blocked
 * while its handler runs, so arm_watchdog unblocks it in this thread (and
 * disarm_watchdog puts the mask back); when the timer fires, on_fatal runs
 * nested on the stuck thread, sees the cookie and ends the process with
 * the signal's default action. The timer calls are raw system calls: no
 * allocation, no lock, async-signal-safe (glibc's timer_create may
 * allocate). If the timer cannot be created, the flush is unbounded.
 *
 * State of the one armed watchdog: written and read only by the thread
 * that holds the panic gate, and by on_fatal nested on that thread, hence
 * atomics with relaxed order (same-thread signal safety, no pairing).
 */
#define WATCHDOG_COOKIE 0x6e626c77 /* "nblw" */

static struct {
    _Atomic int armed;     /* 1 while the timer below exists */
    _Atomic int sig;       /* what it dies with */
    _Atomic int timer;     /* kernel timer id */
    _Atomic int unblocked; /* sig was blocked here and we unblocked it */
} wd;

static int is_watchdog(int sig, const siginfo_t *si)
{
    return si && si->si_code == SI_TIMER && si->si_value.sival_int == WATCHDOG_COOKIE &&
           atomic_load_explicit(&wd.armed, memory_order_relaxed) &&
           atomic_load_explicit(&wd.sig, memory_order_relaxed) == sig;
}

/* The flush outlasted its bound: die by sig's default action, now. */
static void watchdog_fire(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

/* Step 3: die with sig if the flush is not done within the timeout (plus
 * a second for the backtrace). */
static void arm_watchdog(int sig)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = sig;
    ev.sigev_value.sival_int = WATCHDOG_COOKIE;
#ifdef sigev_notify_thread_id
    ev.sigev_notify_thread_id = (pid_t)nblog__tid();
#else
    ev._sigev_un._tid = (pid_t)nblog__tid();
#endif
    int id;
    if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &id) != 0)
        return;
    atomic_store_explicit(&wd.sig, sig, memory_order_relaxed);
    atomic_store_explicit(&wd.timer, id, memory_order_relaxed);
    atomic_store_explicit(&wd.armed, 1, memory_order_relaxed);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, &old); /* blocked in its own handler */
    atomic_store_explicit(&wd.unblocked, sigismember(&old, sig) == 1, memory_order_relaxed);
    unsigned ms = cfg.timeout_ms + 1000u;
    struct itimerspec its = {.it_value = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L}};
    syscall(SYS_timer_settime, id, 0, &its, NULL);
}

/* The flush is over: delete the timer (a signal it sent before would have
 * been delivered at once: sig is unblocked here) and put the mask back. */
static void disarm_watchdog(void)
{
    if (!atomic_load_explicit(&wd.armed, memory_order_relaxed))
        return;
    syscall(SYS_timer_delete, atomic_load_explicit(&wd.timer, memory_order_relaxed));
    atomic_store_explicit(&wd.armed, 0, memory_order_relaxed);
    if (atomic_exchange_explicit(&wd.unblocked, 0, memory_order_relaxed)) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, atomic_load_explicit(&wd.sig, memory_order_relaxed));
        sigprocmask(SIG_BLOCK, &set, NULL);
    }
}

/* A signal the watchdog unblocked, sent again (not a fault) while we flush
 * for it: it would have waited, blocked, until this handler ended, and
 * merged with what we pass on; let it. */
static int is_repeat_of_flushed(int sig, const siginfo_t *si)
{
    return si && !is_fault(sig, si) &&
           atomic_load_explicit(&wd.armed, memory_order_relaxed) &&
           atomic_load_explicit(&wd.unblocked, memory_order_relaxed) &&
           atomic_load_explicit(&wd.sig, memory_order_relaxed) == sig;
}

/* ------------------------------------------------------------- reports */

static void thread_name(char *name, size_t cap)
{
    char buf[17] = {0};
    if (prctl(PR_GET_NAME, buf) != 0)
        buf[0] = '\0';
    nblog__format(name, cap, "%s", buf);
}

/* "; not flushed: a, b" for the consoles the flush cannot reach, or "":
 * the tail of every panic record. */
static void not_flushed_note(char *note, size_t cap, int dying)
{
    char names[256];
    if (nblog__consoles_unflushable(names, sizeof names, dying))
        nblog__format(note, cap, "; not flushed: %s", names);
    else
        note[0] = '\0';
}

/* The crash record, naming the consoles the flush cannot reach. */
static void report_signal(int sig, const siginfo_t *si, int dying)
{
    char note[280], tname[32], code[24], where[48];
    not_flushed_note(note, sizeof note, dying);
    thread_name(tname, sizeof tname);
    const char *cn = code_name(sig, si->si_code);
    if (cn)
        nblog__format(code, sizeof code, "%s", cn);
    else
        nblog__format(code, sizeof code, "code %d", si->si_code);
    if (is_fault(sig, si))
        nblog__format(where, sizeof where, "at address %p", si->si_addr);
    else
        nblog__format(where, sizeof where, "sent by pid %d", (int)si->si_pid);
    nblog_printf(NBLOG_LEVEL_EMERG,
                 "fatal signal %d (%s, %s) %s in thread %u \"%s\"%s", sig,
                 signal_name(sig), code, where, (unsigned)nblog__tid(), tname, note);
}

/* One frame of a backtrace, and the mapping it falls in. */
struct frame {
    uintptr_t addr;
    uintptr_t offset;  /* from the start of the module's file */
    char module[128];  /* path of the mapped file, "" if unknown */
};

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* Parses hex at *p, advancing it. */
static uintptr_t parse_hex(const char **p)
{
    uintptr_t v = 0;
    for (int d; (d = hex_digit(**p)) >= 0; (*p)++)
        v = v << 4 | (uintptr_t)d;
    return v;
}

/* Skips spaces, then one field. */
static const char *skip_field(const char *p)
{
    while (*p == ' ')
        p++;
    while (*p && *p != ' ')
        p++;
    return p;
}

/* One /proc/self/maps line: "start-end perms offset dev inode  path". */
static void match_mapping(const char *line, struct frame *f, int n)
{
    const char *p = line;
    uintptr_t start = parse_hex(&p);
    if (*p++ != '-')
        return;
    uintptr_t end = parse_hex(&p);
    p = skip_field(p); /* perms */
    while (*p == ' ')
        p++;
    uintptr_t file_off = parse_hex(&p);
    p = skip_field(skip_field(p)); /* dev, inode */
    while (*p == ' ')
        p++;
    for (int i = 0; i < n; i++)
        if (!f[i].module[0] && f[i].addr >= start && f[i].addr < end && *p) {
            f[i].offset = f[i].addr - start + file_off;
            nblog__format(f[i].module, sizeof f[i].module, "%s", p);
        }
}

/* Finds each frame's module by reading /proc/self/maps with read(2). */
static void find_modules(struct frame *f, int n)
{
    int fd = nblog__fd_mine(open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return;
    static char chunk[4096];
    static char line[512];
    size_t used = 0;
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0 ||
           (got < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] != '\n') {
                if (used < sizeof line - 1)
                    line[used++] = chunk[i];
                continue;
            }
            line[used] = '\0';
            match_mapping(line, f, n);
            used = 0;
        }
    }
    close(fd);
}

static uintptr_t fault_pc(const void *ucv)
{
    const ucontext_t *uc = ucv;
    if (!uc)
        return 0;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
    return 0;
#endif
}

/* Step 5: the backtrace, one record per frame, from the faulting
 * instruction (or from our caller for nblog_panic). */
static void report_backtrace(const void *ucv)
{
    static void *raw[FRAMES_MAX];
    static struct frame frames[FRAMES_MAX];
    int n = backtrace(raw, FRAMES_MAX);
    uintptr_t pc = fault_pc(ucv);
    int first = 1; /* skip report_backtrace itself */
    for (int i = 0; i < n && pc; i++)
        if ((uintptr_t)raw[i] == pc) {
            first = i;
            break;
        }
    int count = 0;
    if (pc && (first >= n || (uintptr_t)raw[first] != pc))
        frames[count++].addr = pc; /* the unwinder lost the signal frame */
    for (int i = first; i < n && count < FRAMES_MAX; i++)
        frames[count++].addr = (uintptr_t)raw[i];
    /* Each frame from the module table (modules.c); the frames it does
     * not know from /proc/self/maps. Every frame but a faulting PC is a
     * return address. */
    static char described[FRAMES_MAX][400];
    int unknown = 0;
    for (int i = 0; i < count; i++) {
        frames[i].module[0] = '\0';
        int ret = !(i == 0 && pc && frames[0].addr == pc);
        if (!nblog__modules_describe(frames[i].addr, ret, described[i], sizeof described[i])) {
            described[i][0] = '\0';
            unknown++;
        }
    }
    if (unknown)
        find_modules(frames, count);
    for (int i = 0; i < count; i++) {
        if (described[i][0])
            nblog_printf(NBLOG_LEVEL_EMERG, "backtrace #%d %s", i, described[i]);
        else if (frames[i].module[0])
            nblog_printf(NBLOG_LEVEL_EMERG, "backtrace #%d %s+0x%lx [%p]", i,
                         frames[i].module, (unsigned long)frames[i].offset,
                         (void *)frames[i].addr);
        else
            nblog_printf(NBLOG_LEVEL_EMERG, "backtrace #%d [%p]", i,
                         (void *)frames[i].addr);
    }
}

/* --------------------------------------------------------------- gate */

/* Waits (bounded) until no other thread is flushing. */
static void wait_for_other_panic(void)
{
    uint64_t until = deadline_after(cfg.timeout_ms + 1000u);
    /* G3, acquire: pairs with G2, the release store of 0 when a flush ends. */
    while (atomic_load_explicit(&panic_tid, memory_order_acquire) != 0 &&
           nblog__now_ns() < until)
        nblog__sleep_ns(1000000);
}

/* Tries to become the one thread that flushes. Returns 1 if we are, 0 if
 * another thread is (or was), -1 if we already were (a fault inside our
 * own flush). */
static int enter_gate(void)
{
    uint32_t me = nblog__tid(), cur = 0;
    /* G1, acquire: pairs with G2, the release store of 0 by the previous panic. */
    if (atomic_compare_exchange_strong_explicit(&panic_tid, &cur, me,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
        /* Relaxed: read as a hint, or past fences (panic.h). */
        atomic_store_explicit(&nblog__panicking, 1, memory_order_relaxed);
        return 1;
    }
    return cur == me ? -1 : 0;
}

static void leave_gate(void)
{
    atomic_store_explicit(&nblog__panicking, 0, memory_order_relaxed);
    /* G2, release: pairs with G1 and G3, enter_gate()'s and
     * wait_for_other_panic()'s acquire: the next panic sees the consoles
     * as we left them. */
    atomic_store_explicit(&panic_tid, 0, memory_order_release);
}

/* Steps 4 and 5 for the thread that won the gate. */
static int flush_all(const void *ucv, int dying)
{
    uint64_t deadline = deadline_after(cfg.timeout_ms);
    nblog__consoles_panic_flush(deadline, dying);
    report_backtrace(ucv);
    return nblog__consoles_panic_flush(deadline, dying); /* the last word */
}

/* ------------------------------------------------------------- handler */

/* Steps 3-5 once we hold the gate. If the signal, passed on, may not end
 * the process (a program handler that returns), the flush hands the
 * consoles back and opens the gate again. */
static void flush_for_signal(int sig, const void *ucv, int dying)
{
    arm_watchdog(sig);
    flush_all(ucv, dying);
    if (!dying) {
        disarm_watchdog();
        leave_gate();
    }
}

static void on_fatal(int sig, siginfo_t *si, void *ucv)
{
    int saved_errno = errno;
    if (is_watchdog(sig, si)) {
        watchdog_fire(sig); /* the flush on this thread is stuck: die */
        errno = saved_errno;
        return;
    }
    int dying = passing_on_kills(sig);
    int gate = enter_gate();
    if (gate == 0) {
        /* Another thread flushes: store ours so it may go out with its
         * flush, wait for that, and flush ourselves if we still live. */
        report_signal(sig, si, dying);
        wait_for_other_panic();
        if (enter_gate() > 0)
            flush_for_signal(sig, ucv, dying);
    } else if (gate > 0) {
        report_signal(sig, si, dying);
        flush_for_signal(sig, ucv, dying);
    }
    /* gate < 0: we faulted inside our own flush (or, the same signal
     * again, sent: it merges with what the flush passes on); gate 0: it
     * timed out. */
    if (gate < 0 && is_repeat_of_flushed(sig, si)) {
        errno = saved_errno;
        return;
    }
    pass_on(sig, si);
    errno = saved_errno;
}

/* ------------------------------------------------------ explicit panic */

static int vpanic(int dying, const char *fmt, va_list ap)
{
    char reason[512];
    nblog__vformat(reason, sizeof reason, fmt ? fmt : "(null)", ap, -1, NULL);
    int gate = enter_gate();
    if (gate == 0) { /* another thread flushes: wait for it, once */
        wait_for_other_panic();
        if (!dying) /* a dying one goes on: the other is ending the process */
            gate = enter_gate();
    }
    if (gate < 0)
        return -1; /* nblog_panic from inside a panic flush */
    if (gate > 0 && dying)
        arm_watchdog(SIGABRT);
    char note[280];
    not_flushed_note(note, sizeof note, dying);
    nblog_printf(NBLOG_LEVEL_EMERG, "panic: %s%s", reason, note);
    if (gate == 0)
        return -1;
    int incomplete = flush_all(NULL, dying);
    if (!dying)
        leave_gate();
    return incomplete;
}

void nblog_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpanic(1, fmt, ap);
    va_end(ap);
    disarm_watchdog(); /* the flush is over; abort() is the program's now */
    restore_action(SIGABRT); /* the program's own SIGABRT handler, if any */
    abort();
}

int nblog_panic_flush(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vpanic(0, fmt, ap);
    va_end(ap);
    return rc;
}

/* -------------------------------------------------- alternate stacks */

static struct {
    char *base;           /* pool: [guard page][stack] per slot */
    size_t stack_size, stride;
    unsigned count;
    _Atomic uint64_t used[STACKS_MAX / 64];
    pthread_key_t key;
    int key_ok;
} stacks;

static __thread int my_stack = -1;

static char *stack_at(int slot)
{
    return stacks.base + (size_t)slot * stacks.stride + (stacks.stride - stacks.stack_size);
}

static int take_stack(void)
{
    for (unsigned w = 0; w * 64 < stacks.count; w++) {
        /* Relaxed load, T1 acq_rel CAS (pairs with T2): the bit is the
         * slot's only state. */
        uint64_t cur = atomic_load_explicit(&stacks.used[w], memory_order_relaxed);
        while (~cur) {
            int bit = __builtin_ctzll(~cur);
            if (w * 64 + (unsigned)bit >= stacks.count)
                break;
            if (atomic_compare_exchange_weak_explicit(&stacks.used[w], &cur,
                                                      cur | 1ull << bit,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed))
                return (int)(w * 64 + (unsigned)bit);
        }
    }
    return -1;
}

static void give_stack(int slot)
{
    /* T2, release: pairs with T1, take_stack()'s CAS; we are done with it. */
    atomic_fetch_and_explicit(&stacks.used[slot / 64], ~(1ull << (slot % 64)),
                              memory_order_release);
}

static void on_thread_exit(void *value)
{
    int slot = (int)(uintptr_t)value - 1;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == stack_at(slot) &&
        !(cur.ss_flags & SS_ONSTACK)) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
    }
    my_stack = -1;
    give_stack(slot);
}

void nblog__panic_thread_enter(void)
{
    nblog__thread_entered = 1;
    if (!stacks.base)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
        return; /* it has one already (the program's, a sanitizer's) */
    int slot = take_stack();
    if (slot < 0)
        return; /* pool used up: this thread's stack overflows go unreported */
    stack_t ss = {.ss_sp = stack_at(slot), .ss_size = stacks.stack_size};
    if (sigaltstack(&ss, NULL) != 0) {
        give_stack(slot);
        return;
    }
    my_stack = slot;
    /* glibc keeps keys below 32 in the thread itself: setting one neither
     * allocates nor locks. A later key would, so then the stack is simply
     * not given back when the thread exits. */
    if (stacks.key_ok && stacks.key < 32)
        pthread_setspecific(stacks.key, (void *)(uintptr_t)(slot + 1));
}

void nblog__panic_fork_child(void)
{
    nblog__modules_fork_child();
    if (!stacks.base)
        return; /* no pool reserved: nothing to reset (as when this hook
                 * was registered by reserve_stacks) */
    /* Only this thread exists in the child: the other slots are free. */
    for (unsigned w = 0; w < STACKS_MAX / 64; w++)
        atomic_store_explicit(&stacks.used[w], 0, memory_order_relaxed);
    if (my_stack >= 0)
        atomic_fetch_or_explicit(&stacks.used[my_stack / 64], 1ull << (my_stack % 64),
                                 memory_order_relaxed);
    atomic_store_explicit(&panic_tid, 0, memory_order_relaxed);
    atomic_store_explicit(&wd.armed, 0, memory_order_relaxed); /* timers are not inherited */
}

static void reserve_stacks(unsigned count)
{
    long page = sysconf(_SC_PAGESIZE);
    long sys = sysconf(_SC_SIGSTKSZ);
    size_t size = STACK_MIN;
    if (sys > 0 && (size_t)sys > size)
        size = (size_t)sys;
    size = (size + (size_t)page - 1) & ~((size_t)page - 1);
    size_t stride = size + (size_t)page;
    char *base = mmap(NULL, stride * count, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return;
    for (unsigned i = 0; i < count; i++)
        if (mprotect(base + (size_t)i * stride + (size_t)page, size,
                     PROT_READ | PROT_WRITE) != 0) {
            munmap(base, stride * count);
            return;
        }
    stacks.stack_size = size;
    stacks.stride = stride;
    stacks.count = count;
    stacks.key_ok = pthread_key_create(&stacks.key, on_thread_exit) == 0;
    stacks.base = base; /* from here the fork hook resets the pool */
}

/* --------------------------------------------------------------- setup */

static void install(int i)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    /* I1's load, acquire: pairs with I1's store (an earlier install). */
    if (atomic_load_explicit(&cfg.installed[i], memory_order_acquire))
        return; /* ours already: keep the saved previous action */
    struct sigaction cur;
    if (sigaction(fatal_signals[i], NULL, &cur) == 0 &&
        !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN)
        return; /* ignored (nohup, a shell's background job): keep it so */
    if (sigaction(fatal_signals[i], &sa, &cfg.prev[i]) == 0)
        /* I1, release: pairs with I2, restore_action()'s exchange. */
        atomic_store_explicit(&cfg.installed[i], 1, memory_order_release);
}

void nblog__panic_setup(const nblog_options_t *o)
{
    cfg.timeout_ms = o->panic_timeout_ms ? o->panic_timeout_ms : PANIC_TIMEOUT_MS_DEFAULT;
    if (!stacks.base) {
        unsigned n = o->signal_stacks ? o->signal_stacks : STACKS_DEFAULT;
        reserve_stacks(n > STACKS_MAX ? STACKS_MAX : n);
    }
    nblog__thread_entered = 0;
    nblog__panic_thread_enter();
    nblog__modules_scan(); /* what the backtrace names frames with */
    if (o->crash_handlers & NBLOG_CRASH_NONE)
        return;
    void *warm[2];
    backtrace(warm, 2); /* loads libgcc_s now, not in a signal handler */
    for (int i = 0; i < N_FATAL; i++) {
        int sig = fatal_signals[i];
        if ((sig == SIGTERM || sig == SIGINT) && !(o->crash_handlers & NBLOG_CRASH_TERM))
            continue;
        install(i);
    }
}

void nblog__panic_teardown(void)
{
    for (int i = 0; i < N_FATAL; i++)
        /* I2, acq_rel: pairs with I1, install()'s release store. */
        if (atomic_exchange_explicit(&cfg.installed[i], 0, memory_order_acq_rel))
            sigaction(fatal_signals[i], &cfg.prev[i], NULL);
}

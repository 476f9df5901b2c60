/*
 * preload/syslog.c - libnblog-syslog.so, a syslog(3) drop-in:
 *
 *     LD_PRELOAD=libnblog-syslog.so daemon
 *
 * replaces openlog, syslog, vsyslog, closelog, setlogmask and the
 * fortified __syslog_chk/__vsyslog_chk, so every syslog(3) call is a
 * nblog_vsyslog: formatted in the caller (%m is strerror of errno as it
 * was at entry, nblog's formatter does it), stored into the ring with the
 * call's level and facility, and printed by nblog's consoles on their own
 * threads. A stalled /dev/log reader stops only its console: the caller
 * never blocks on it.
 *
 * Built on the public API alone (nblog.h), with nblog's objects linked in
 * and hidden (the version script exports the syslog names only), so a
 * program that links libnblog.so itself keeps its own, separate copy.
 *
 * SETUP (once, at the first openlog or syslog call, whichever comes first)
 *
 *   nblog_init with program = openlog's ident (else the executable's short
 *   name), facility = openlog's (else LOG_USER, also for one past
 *   LOG_LOCAL7, which glibc's openlog takes), level debug (the mask
 *   filters, as syslog(3) does; NBLOG_LEVEL still overrides), no crash
 *   handlers (a drop-in leaves the program's signal dispositions alone),
 *   no default stderr console. The ring is NBLOG_RING's if set.
 *   Consoles: NBLOG_CONSOLES's if set and not empty; else what syslog(3)
 *   itself does: "unix:/dev/log" in RFC 3164, mode=direct: each record
 *   is sent by the call itself, as glibc's is, so it is out before a fork
 *   child's _exit or a crash; the send never blocks (a full socket
 *   buffer leaves the record to the console's thread, lag, or drops it),
 *   plus (mode=direct too)
 *     LOG_PERROR  a stderr console, "IDENT[PID]: MSG" lines;
 *     LOG_CONS    when /dev/log cannot be used at setup, /dev/console.
 *
 * WHAT A RECORD CARRIES, as glibc's syslog(3) sends it
 *
 *   priority   bits outside LOG_PRIMASK | LOG_FACMASK: reported first, as
 *              glibc does ("syslog: unknown facility/priority: %x" at
 *              glibc's INTERNALLOG, LOG_ERR|LOG_CONS|LOG_PERROR|LOG_PID,
 *              which as a priority is auth.err), then masked off.
 *   level      LOG_PRI(priority); setlogmask's mask applies to it alone.
 *   facility   the call's (syslog(LOG_LOCAL3 | LOG_ERR, ...), PAM's
 *              LOG_AUTHPRIV); facility bits 0: the last openlog's (else
 *              LOG_USER), also an openlog after setup: records stored
 *              after it have its facility, earlier ones keep theirs (each
 *              record stores its facility, nblog_record_t). Consoles
 *              show the record's own facility unless their spec names one
 *              (facility=): the default unix:/dev/log console, NBLOG_CONSOLES'
 *              syslog and journald consoles (PRI, SYSLOG_FACILITY).
 *              A facility past LOG_LOCAL7 (LOG_FACMASK holds up to 127,
 *              glibc sends it as is) is the process's: nblog keeps 0..23.
 *   ident      fixed at setup: an openlog after setup changes neither the
 *              ident the consoles show nor the ring's program name. nblog
 *              keeps one identity per process, handed to each console when
 *              it is made and put in a line when the console prints it,
 *              which may be long after the record was stored: a record
 *              does not carry it, so no change could take effect at a
 *              record exactly (see docs/nblog.3). A later openlog's
 *              LOG_PERROR adds the stderr console; closelog removes it.
 *   pid        always sent (RFC 3164 TAG[PID]; journald takes it from the
 *              socket anyway), LOG_PID or not.
 *
 * CONTEXT
 *
 *   syslog/vsyslog after setup: async-signal-safe, non-blocking, no
 *   allocation (nblog_vprintf's contract), thread-safe. The setup itself
 *   (first call) allocates, starts threads and is not async-signal-safe:
 *   a signal handler interrupting the setup on its own thread drops its
 *   record rather than deadlock; other threads wait for it (up to 2 s).
 *   setlogmask: one atomic exchange, async-signal-safe.
 *
 * ORDERING TAGS
 *
 *   PRE-SETUP  state: release store of READY after setup <-> acquire load
 *              in every call, so a caller that sees READY sees nblog
 *              initialised and the options below written.
 *   PRE-MASK   mask: relaxed; it is one word on its own, read and written
 *              whole, ordered with nothing else (as glibc's LogMask).
 *   PRE-FAC    facility: relaxed, as PRE-MASK (glibc's LogFacility): a
 *              call ordered after an openlog (same thread, or synchronised
 *              with it) reads its value or a later one by coherence.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"

#define EXPORT __attribute__((visibility("default")))

enum { STATE_NONE, STATE_SETUP, STATE_READY, STATE_FAILED };

static _Atomic int state = STATE_NONE;
static _Atomic long setup_tid;  /* the thread doing the setup */
static _Atomic int mask = 0xff; /* LOG_UPTO(LOG_DEBUG): all */
static _Atomic int facility = LOG_USER; /* openlog's (LOG_FACMASK bits, not 0) */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER; /* openlog/closelog */
static nblog_console_t *perror_console; /* under open_lock */

/* What openlog said before setup (under open_lock). */
static char want_ident[49];
static int want_option;

/* glibc's INTERNALLOG: the priority of its own report of a bad priority.
 * Its option bits make it LOG_AUTH | LOG_ERR (35) as a priority. */
#define INTERNALLOG (LOG_ERR | LOG_CONS | LOG_PERROR | LOG_PID)

static long this_tid(void)
{
    return (long)syscall(SYS_gettid);
}

/* ident as an APP-NAME: printable ASCII without spaces, 1..48 bytes. */
static void set_ident(const char *ident)
{
    size_t n = 0;
    for (; ident && ident[n] && n < sizeof want_ident - 1; n++) {
        unsigned char ch = (unsigned char)ident[n];
        want_ident[n] = ch > ' ' && ch <= '~' ? (char)ch : '_';
    }
    want_ident[n] = '\0';
}

/* The stderr console of LOG_PERROR, once (under open_lock). */
static void add_perror_console(void)
{
    if (!perror_console &&
        nblog_console_from_spec("stderr,mode=direct,format=pattern:%n[%P]: %v", &perror_console) != NBLOG_OK)
        perror_console = NULL;
}

/* Under open_lock, state SETUP, by this thread. */
static int setup_locked(void)
{
    nblog_options_t o;
    nblog_options_init(&o);
    o.program = want_ident[0] ? want_ident : NULL;
    /* PRE-FAC, relaxed: see the header. */
    int fac = LOG_FAC(atomic_load_explicit(&facility, memory_order_relaxed));
    o.facility = fac >= 1 && fac <= 23 ? fac : LOG_FAC(LOG_USER); /* nblog's range */
    o.level = NBLOG_LEVEL_DEBUG;
    o.crash_handlers = NBLOG_CRASH_NONE;
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    if (nblog_init(&o) != NBLOG_OK) {
        o.program = NULL; /* e.g. an ident nblog refuses: the executable's name */
        if (nblog_init(&o) != NBLOG_OK)
            return -1;
    }
    const char *env = getenv("NBLOG_CONSOLES");
    if (!env || !*env) {
        nblog_console_t *con;
        if (nblog_console_from_spec("unix:/dev/log,rfc3164=on,mode=direct", &con) != NBLOG_OK &&
            (want_option & LOG_CONS))
            (void)nblog_console_from_spec("file:/dev/console,format=plain,mode=direct", &con);
    }
    if (want_option & LOG_PERROR)
        add_perror_console();
    return 0;
}

/* Makes sure nblog is set up; 1 if records may be stored. */
static int ready(void)
{
    /* PRE-SETUP, acquire: pairs with the release stores below. */
    int s = atomic_load_explicit(&state, memory_order_acquire);
    if (s == STATE_READY)
        return 1;
    if (s == STATE_FAILED)
        return 0;
    int expect = STATE_NONE;
    /* PRE-SETUP, acquire on failure: as the load above. */
    if (atomic_compare_exchange_strong_explicit(&state, &expect, STATE_SETUP,
                                                memory_order_acq_rel, memory_order_acquire)) {
        /* PRE-SETUP, relaxed: read only by this thread's own signal handlers
         * (same thread, program order) and as a hint by others. */
        atomic_store_explicit(&setup_tid, this_tid(), memory_order_relaxed);
        pthread_mutex_lock(&open_lock);
        int rc = setup_locked();
        pthread_mutex_unlock(&open_lock);
        /* PRE-SETUP, release: pairs with the acquire loads in ready(). */
        atomic_store_explicit(&state, rc == 0 ? STATE_READY : STATE_FAILED,
                              memory_order_release);
        return rc == 0;
    }
    if (expect == STATE_READY)
        return 1;
    /* PRE-SETUP, relaxed: see the store above. */
    if (expect == STATE_FAILED ||
        atomic_load_explicit(&setup_tid, memory_order_relaxed) == this_tid())
        return 0; /* a signal handler interrupting the setup: drop, never deadlock */
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 2000; i++) {
        /* PRE-SETUP, acquire: pairs with the release store above. */
        s = atomic_load_explicit(&state, memory_order_acquire);
        if (s == STATE_READY || s == STATE_FAILED)
            return s == STATE_READY;
        nanosleep(&ms, NULL);
    }
    return 0;
}

EXPORT void vsyslog(int pri, const char *fmt, va_list ap)
{
    int saved = errno;
    if (pri & ~(LOG_PRIMASK | LOG_FACMASK)) {
        /* As glibc: reported (itself a call, through the mask), then the
         * bits masked off. INTERNALLOG has none, so this recurses once. */
        syslog(INTERNALLOG, "syslog: unknown facility/priority: %x", (unsigned)pri);
        pri &= LOG_PRIMASK | LOG_FACMASK;
    }
    assert(!(pri & ~(LOG_PRIMASK | LOG_FACMASK)));
    /* PRE-MASK, relaxed: see the header. */
    if (!(LOG_MASK(LOG_PRI(pri)) & atomic_load_explicit(&mask, memory_order_relaxed)) || !fmt)
        goto out;
    if (!ready())
        goto out;
    if ((pri & LOG_FACMASK) == 0) /* PRE-FAC, relaxed: see the header */
        pri |= atomic_load_explicit(&facility, memory_order_relaxed);
    assert((pri & LOG_FACMASK) != 0);
    errno = saved; /* %m: the caller's errno */
    /* syslog levels are nblog's; nblog_vsyslog stores the facility too */
    (void)nblog_vsyslog(pri, fmt, ap);
out:
    errno = saved;
}

EXPORT void syslog(int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsyslog(pri, fmt, ap);
    va_end(ap);
}

/* The fortified forms (-D_FORTIFY_SOURCE): flag asks for %n checks,
 * which nblog's formatter never writes through anyway. */
EXPORT void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
    (void)flag;
    vsyslog(pri, fmt, ap);
}

EXPORT void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
    (void)flag;
    va_list ap;
    va_start(ap, fmt);
    vsyslog(pri, fmt, ap);
    va_end(ap);
}

EXPORT void openlog(const char *ident, int option, int fac)
{
    int saved = errno;
    pthread_mutex_lock(&open_lock);
    /* PRE-SETUP, acquire: pairs with ready()'s release store. */
    int s = atomic_load_explicit(&state, memory_order_acquire);
    /* As glibc's: a facility of 0 or with bits outside LOG_FACMASK leaves
     * it as it was; before or after setup (records carry theirs). PRE-FAC,
     * relaxed: see the header. */
    if (fac != 0 && !(fac & ~LOG_FACMASK))
        atomic_store_explicit(&facility, fac, memory_order_relaxed);
    if (s == STATE_NONE) {
        set_ident(ident);
        want_option = option;
    } else if (s == STATE_READY && (option & LOG_PERROR)) {
        add_perror_console();
    }
    pthread_mutex_unlock(&open_lock);
    /* LOG_NDELAY: connect now; ours is the setup. Without it, the first
     * syslog call sets up, as glibc's opens its socket then. */
    if (option & LOG_NDELAY)
        (void)ready();
    errno = saved;
}

EXPORT void closelog(void)
{
    /* The consoles stay: records still in the ring get printed. Only
     * LOG_PERROR's console goes, as closelog ends glibc's options. */
    int saved = errno;
    pthread_mutex_lock(&open_lock);
    if (perror_console) {
        (void)nblog_console_unregister(perror_console);
        perror_console = NULL;
    }
    pthread_mutex_unlock(&open_lock);
    errno = saved;
}

EXPORT int setlogmask(int newmask)
{
    /* PRE-MASK, relaxed: see the header. */
    if (newmask == 0)
        return atomic_load_explicit(&mask, memory_order_relaxed);
    return atomic_exchange_explicit(&mask, newmask, memory_order_relaxed);
}

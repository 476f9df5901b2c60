/*
 * log.c - the logging calls, levels, rate limits, lifecycle and readers.
 *
 * Lifecycle states (g.state):
 *
 *     UNINIT --nblog_init / first logging call--> MAPPING --> STARTING --> READY
 *       READY --nblog_shutdown--> STOPPING --> DOWN
 *       DOWN --nblog_init--> MAPPING --> STARTING --> READY
 *
 *   UNINIT   nothing mapped. A logging call initialises lazily with the
 *            defaults (it wins the CAS to MAPPING), its threshold the one
 *            nblog_level_set left (NBLOG_LEVEL still overrides it);
 *            nblog_init does the same with its options.
 *   MAPPING  one thread (the initialiser) maps and prefaults the ring and
 *            calibrates the clock.
 *   STARTING g.ring is published (consoles, readers, stats see it); the
 *            initialiser registers the consoles at init (spec.c:
 *            NBLOG_CONSOLES or the default console) and a second
 *            initialiser still gets EALREADY. The threshold comes from
 *            NBLOG_LEVEL if set (level_for), the program's name from the
 *            options (g.program).
 *   READY    g.log_ring is published too: logging stores records.
 *   STOPPING nblog_shutdown flushes and unregisters the consoles.
 *   DOWN     shut down: both pointers NULL, logging calls are counted no-ops,
 *            registering a console is refused (lazy init starts from UNINIT
 *            only; console.c also refuses registration from nblog_shutdown's
 *            unregister pass until the next nblog_init).
 *            The old mapping stays (g.retired) so a call that loaded g.ring
 *            before shutdown finishes safely; the next nblog_init reuses or
 *            unmaps it.
 *
 * Waiting for an init (issue: a call racing another thread's lazy init
 * lost its record). In MAPPING and STARTING a logging call from another
 * thread waits (wait_for_ring: polls with nanosleep, RING_WAIT_NS at most)
 * until READY: then the consoles at init are there, so its record is
 * printed too (a console starts at the head when it registers). The
 * initialiser's own calls never wait (init_here, set before the CAS so a
 * signal handler that interrupts it anywhere in init_from sees it: it
 * would wait for itself): NBLOG_ENOTREADY in MAPPING, the ring from
 * STARTING on. Nor does a call on a thread that holds console.c's list
 * lock (nblog__init_wait_off: a console's setup callback, a signal handler
 * that interrupted a register): the initialiser needs that lock to register
 * the consoles at init, so waiting could only stall the init and lose the
 * record; such a call gets NBLOG_ENOTREADY at once (console.c makes a
 * registration from another thread wait for READY before it takes the lock,
 * so a setup callback there logs normally). A wait that ends without a ring
 * (a failed init, the bound) is NBLOG_ENOTREADY, counted in g.not_ready.
 * Nobody waits for a shutdown.
 *
 * A filtered call does no init work and never waits: the threshold is
 * judged first unless the state is UNINIT (then the call initialises, so
 * that NBLOG_LEVEL judges it). The threshold init sets is stored first
 * thing in MAPPING.
 *
 * Fork during an init (fork_child, registered when the library loads, so
 * no fork can see MAPPING without it): the child has only the
 * forking thread. If another thread was initialising, nothing will end
 * that init: in MAPPING (nothing published) the child forgets it (the
 * half-opened ring file too, never unlocking the parent's lock) and goes
 * back to the state the init started from (UNINIT, or DOWN after a
 * shutdown), so the child can init; in STARTING (the ring published,
 * panic handlers and the console list open) it publishes the ring to its
 * logging calls and is READY, with whichever consoles at init had
 * registered (console.c's own fork handler restarts their printers).
 *
 * A ring file (ring_path / NBLOG_RING): map_ring opens, locks and maps it
 * through ringfile.c instead of anonymous memory and starts its publisher
 * thread; shutdown stops the publisher first (its last pass shows the
 * consoles as they were). The file stays mapped and locked (g.file) like
 * any retired ring, until the next nblog_init closes it.
 *
 * Memory ordering: g.ring and g.log_ring are stored with release after the
 * ring is formatted and loaded with acquire by their readers (pairs with
 * it), so a caller that sees a pointer sees a formatted header. g.state is
 * a CAS-guarded flag for who may initialise (acq_rel/acquire), and tells a
 * waiter whether an init is still going (stored release after the
 * pointers: a waiter that sees READY sees g.log_ring).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "format.h"
#include "log.h"
#include "nblog.h"
#include "panic.h"
#include "platform.h"
#include "ring.h"
#include "ringfile.h"
#include "testhooks.h"
#include "wallclock.h"

enum { UNINIT, MAPPING, STARTING, READY, STOPPING, DOWN };

#define NBLOG__PROGRAM_MAX 48 /* RFC 5424 APP-NAME */

static struct {
    _Atomic(struct nblog__ring_hdr *) ring; /* from STARTING on */
    _Atomic(struct nblog__ring_hdr *) log_ring; /* the logging calls': READY */
    atomic_int state;
    atomic_int level;
    int facility;
    int emergency_level;
    _Atomic uint64_t not_ready;
    /* Some init reached READY: a later init starts from DOWN (READY only
     * goes on to STOPPING, DOWN), a first one from UNINIT. Written before
     * the release store of READY; read by fork_child. */
    atomic_int was_ready;
    void *retired; /* the last ring's mapping, kept after shutdown */
    size_t retired_bytes;
    struct nblog__ringfile file; /* the ring's file, if it has one (fd -1) */
    /* nblog__program_name(): written in MAPPING only, published with
     * g.ring (its release store); "" until the first init. */
    char program[NBLOG__PROGRAM_MAX + 1];
} g = {.level = NBLOG_LEVEL_INFO,
     .facility = 1,
     .emergency_level = NBLOG_LEVEL_CRIT,
     .file = {.fd = -1}};

/* How deep this thread is inside a logging call: above 0 on entry means a
 * signal handler interrupted one (NBLOG_F_SIGNAL). */
static __thread int log_depth __attribute__((tls_model("initial-exec")));

/* This thread is the initialiser (MAPPING or STARTING): a logging call on
 * it (a signal handler, a console's setup) must not wait for itself. */
static __thread int init_here __attribute__((tls_model("initial-exec")));

/* Above 0: this thread holds a lock the initialiser needs (console.c's
 * list lock, nblog__init_wait_off); its logging calls must not wait. */
static __thread int wait_off __attribute__((tls_model("initial-exec")));

/* How long a logging call waits for another thread's init to publish the
 * ring (nblog.h: the exception to [non-blocking]). */
#define RING_WAIT_NS 1000000000LL
#define RING_POLL_NS 50000L

#ifdef NBLOG_TEST_HOOKS
void (*_Atomic nblog__init_hook)(int where);
#endif

/* Relaxed: a test's hook, set before the calls it is meant for. */
static void init_hook(int where)
{
    NBLOG__TEST_HOOK(nblog__init_hook, (where));
    (void)where;
}

/* ---------------------------------------------------------------- names */

unsigned nblog_version(void)
{
    return NBLOG_VERSION_HEX;
}

const char *nblog_version_string(void)
{
    return NBLOG_VERSION_STRING;
}

static const char *const level_names[NBLOG_LEVEL_COUNT] = {
#define NBLOG__LEVEL_NAME(name, value, str) [value] = str,
    NBLOG_LEVEL_MAP(NBLOG__LEVEL_NAME)
#undef NBLOG__LEVEL_NAME
};

const char *nblog_level_name(int level)
{
    return level >= 0 && level < NBLOG_LEVEL_COUNT ? level_names[level]
                                                   : "invalid";
}

int nblog_level_parse(const char *text)
{
    static const struct {
        const char *name;
        int level;
    } aliases[] = {{"panic", 0}, {"error", 3}, {"warn", 4}};
    if (!text)
        return NBLOG_ELEVEL;
    if (text[0] >= '0' && text[0] <= '7' && text[1] == '\0')
        return text[0] - '0';
    for (int i = 0; i < NBLOG_LEVEL_COUNT; i++)
        if (strcasecmp(text, level_names[i]) == 0)
            return i;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(text, aliases[i].name) == 0)
            return aliases[i].level;
    return NBLOG_ELEVEL;
}

const char *nblog_strerror(int err)
{
    switch (err) {
    case NBLOG_OK:
        return "success";
#define NBLOG__ERR_TEXT(name, value, str)                                      \
    case NBLOG_##name:                                                         \
        return str;
        NBLOG_ERRNO_MAP(NBLOG__ERR_TEXT)
#undef NBLOG__ERR_TEXT
    }
    return "unknown nblog error";
}

/* ------------------------------------------------------------ lifecycle */

void nblog_options_init(nblog_options_t *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->ring_records = 8192;
    opt->record_size = 512;
    opt->level = NBLOG_LEVEL_INFO;
    opt->facility = 1;
    opt->emergency_level = NBLOG_LEVEL_CRIT;
    opt->ring_path = NULL;
    opt->console_defaults = 0;
    opt->program = NULL;
}

static uint64_t round_pow2(uint64_t v)
{
    return v <= 1 ? 1 : (uint64_t)1 << (64 - __builtin_clzll(v - 1));
}

static int check_options(const nblog_options_t *o)
{
    if (o->ring_records > NBLOG__RECORDS_MAX ||
        o->record_size > NBLOG__RECORD_SIZE_MAX)
        return NBLOG_EINVAL;
    if (o->level < 0 || o->level > NBLOG_LEVEL_DEBUG || o->facility < 0 ||
        o->facility > 23 || o->emergency_level < 0 ||
        o->emergency_level > NBLOG_LEVEL_DEBUG)
        return NBLOG_EINVAL;
    if (o->crash_handlers & ~(NBLOG_CRASH_NONE | NBLOG_CRASH_TERM))
        return NBLOG_EINVAL;
    if (o->console_defaults & ~(NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES))
        return NBLOG_EINVAL;
    if (o->program) { /* a syslog APP-NAME: printable, no spaces */
        size_t n = strlen(o->program);
        if (n == 0 || n > NBLOG__PROGRAM_MAX)
            return NBLOG_EINVAL;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)o->program[i] <= ' ' || (unsigned char)o->program[i] > '~')
                return NBLOG_EINVAL;
    }
    return NBLOG_OK;
}

/* ------------------------------------------------------------ identity */

const char *nblog__program_name(void)
{
    /* Written in MAPPING before the release store of g.ring; a reader
     * that comes after init (a console's setup, a printer) sees it. */
    return g.program[0] ? g.program : program_invocation_short_name;
}

/* g.program from the option, else the executable's short name, each byte
 * a header may not hold as '_'. MAPPING. */
static void set_program(const char *want)
{
    const char *src = want ? want : program_invocation_short_name;
    size_t n = 0;
    for (; src && src[n] && n < NBLOG__PROGRAM_MAX; n++) {
        unsigned char ch = (unsigned char)src[n];
        g.program[n] = ch > ' ' && ch <= '~' ? (char)ch : '_';
    }
    if (n == 0)
        g.program[n++] = '-';
    g.program[n] = '\0';
}

/* What fd 2 was at the last init, for nblog__complain: a program that
 * closed stderr and opened a file of its own (which got fd 2) must not
 * find nblog's lines in it. Written in MAPPING (note_stderr), read by
 * complain on any thread: relaxed atomics, each field on its own (a torn
 * view only drops a line). */
static struct {
    _Atomic int known; /* 0: not looked yet; 1: open, as below; 2: closed */
    _Atomic uint64_t dev, ino;
    _Atomic unsigned type;
} init_stderr;

static void note_stderr(void)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0) {
        atomic_store_explicit(&init_stderr.known, 2, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&init_stderr.dev, (uint64_t)st.st_dev, memory_order_relaxed);
    atomic_store_explicit(&init_stderr.ino, (uint64_t)st.st_ino, memory_order_relaxed);
    atomic_store_explicit(&init_stderr.type, (unsigned)(st.st_mode & S_IFMT),
                          memory_order_relaxed);
    atomic_store_explicit(&init_stderr.known, 1, memory_order_relaxed);
}

/* 1 if fd 2 is what it was at init (or nothing was noted yet). */
static int stderr_unchanged(void)
{
    int known = atomic_load_explicit(&init_stderr.known, memory_order_relaxed);
    if (known != 1)
        return known == 0;
    struct stat st;
    return fstat(STDERR_FILENO, &st) == 0 &&
           (uint64_t)st.st_dev == atomic_load_explicit(&init_stderr.dev, memory_order_relaxed) &&
           (uint64_t)st.st_ino == atomic_load_explicit(&init_stderr.ino, memory_order_relaxed) &&
           (unsigned)(st.st_mode & S_IFMT) ==
               atomic_load_explicit(&init_stderr.type, memory_order_relaxed);
}

void nblog__complain(const char *fmt, ...)
{
    if (!stderr_unchanged())
        return; /* fd 2 is not the stderr nblog was given: say nothing */
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    size_t n = nblog__format(line, sizeof line - 1, "nblog: ");
    n += nblog__vformat(line + n, sizeof line - 1 - n, fmt, ap, -1, &(unsigned){0});
    va_end(ap);
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n); /* one line or nothing */
    (void)w;
}

/* An environment variable's value quoted for a terminal: bytes but
 * printable ASCII as \xNN, cut to what shown (4 * 40 + 1) holds. */
static const char *shown_env(char (*shown)[4 * 40 + 1], const char *env)
{
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)env; *c && n + 4 < sizeof *shown; c++)
        n += *c >= ' ' && *c <= '~' && *c != '\\'
                 ? ((*shown)[n] = (char)*c, 1)
                 : nblog__format(*shown + n, sizeof *shown - n, "\\x%02x", *c);
    (*shown)[n] = '\0';
    return *shown;
}

/* NBLOG_LEVEL, if set and not empty, overrides the option's threshold (so
 * any program's can be changed without code); a bad one is said on
 * stderr and the option's level stays. */
static int level_for(const nblog_options_t *o)
{
    const char *env = getenv("NBLOG_LEVEL");
    if (!env || !*env)
        return o->level;
    int level = nblog_level_parse(env);
    if (level >= 0)
        return level;
    char shown[4 * 40 + 1];
    nblog__complain("NBLOG_LEVEL=\"%s\" is not a level (emerg, alert, crit, err, "
                    "warning, notice, info, debug or 0..7); using %s",
                    shown_env(&shown, env), nblog_level_name(o->level));
    return o->level;
}

/* Lets go of the previous ring's memory unless it can be reused as the
 * anonymous ring of `bytes`; returns what can be reused (or NULL). */
static void *take_retired(size_t bytes, int want_file)
{
    void *mem = g.retired;
    g.retired = NULL;
    if (g.file.fd >= 0 || g.file.mem) {
        nblog__ringfile_close(&g.file); /* drops the file's writer lock */
        return NULL;
    }
    if (mem && (want_file || g.retired_bytes != bytes)) {
        munmap(mem, g.retired_bytes);
        return NULL;
    }
    return mem;
}

/* Anonymous memory for a ring of `bytes`, zeroed and prefaulted. */
static int map_anonymous(void *reuse, size_t bytes, void **out)
{
    void *mem = reuse;
    if (!mem) {
        mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (mem == MAP_FAILED)
            return NBLOG_ENOMEM;
    }
    /* Touch every page now: a first touch costs ~14 us, never on a caller. */
    memset(mem, 0, bytes);
    *out = mem;
    return NBLOG_OK;
}

/* The ring file asked for: the option, else NBLOG_RING; NULL for none. */
static const char *ring_path_for(const nblog_options_t *o)
{
    const char *path = o->ring_path ? o->ring_path : getenv("NBLOG_RING");
    return path && *path ? path : NULL;
}

/* Opens, locks and maps the ring file at path (recording g.program, set
 * before) and starts its publisher. */
static int map_ring_file(const char *path, uint64_t records, uint32_t size, void **out)
{
    int rc = nblog__ringfile_open(path, records, size, g.program, &g.file);
    if (rc != NBLOG_OK)
        return rc;
    if (nblog__publisher_start(g.file.mem) != NBLOG_OK) {
        nblog__ringfile_close(&g.file);
        return NBLOG_ENOMEM;
    }
    *out = g.file.mem;
    return NBLOG_OK;
}

/* NBLOG_RING named a file that cannot be the ring (rc, errno as
 * map_ring_file left it): one line saying so; the ring is anonymous instead. */
static void ring_env_refused(const char *path, int rc)
{
    int err = errno;
    const char *why = nblog_strerror(rc);
    if (rc == NBLOG_EFILE)
        why = err == EPERM   ? "the file is not private (not the effective uid's, readable "
                               "or writable by group or others, or hard-linked)"
              : err == ELOOP ? "the name is a symlink (never followed)"
                             : strerror(err);
    char shown[4 * 40 + 1];
    nblog__complain("NBLOG_RING=\"%s\" not used: %s; using a ring in memory only",
                    shown_env(&shown, path), why);
}

/* In a forked child of a process writing a ring file: the file (and its
 * lock) stay the parent's. Left shared, both processes would store into
 * one ring and each one's consoles print the other's records. The child
 * goes on in a private ring of its own, formatted to continue the sequence
 * from the head it finds (records before the fork are the parent's to
 * print; copying them would race with the parent's writers), and leaves
 * the file, its mapping and the parent's lock alone. Idempotent in a
 * child: console.c's fork handler calls it first, so that the consoles'
 * positions and the new ring agree; our own handler (fork_child) covers a
 * program with no console. */
void nblog__ring_fork_child(void)
{
    static pid_t done_for;
    if (g.file.fd < 0 || !g.file.mem || done_for == getpid())
        return;
    done_for = getpid();
    const struct nblog__ring_hdr *shared = g.file.mem;
    uint64_t records = shared->records;
    uint32_t record_size = shared->record_size;
    size_t bytes = nblog__ring_bytes(records, record_size);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        /* No memory for a ring: stop storing rather than share the file. */
        atomic_store_explicit(&g.log_ring, NULL, memory_order_relaxed);
        atomic_store_explicit(&g.ring, NULL, memory_order_relaxed);
        atomic_store_explicit(&g.state, DOWN, memory_order_relaxed);
    } else {
        nblog__ring_format(mem, records, record_size, nblog__ring_head(shared));
        g.retired = mem;
        g.retired_bytes = bytes;
        /* Relaxed: the child has one thread. */
        atomic_store_explicit(&g.ring, mem, memory_order_relaxed);
        atomic_store_explicit(&g.log_ring, mem, memory_order_relaxed);
    }
    close(g.file.fd); /* the parent's open file description keeps its lock */
    g.file.fd = -1;
    g.file.mem = NULL; /* the parent's mapping: never unmapped by us */
}

/* At exit, once: the consoles' exit flush (1 s, lagging ones named on
 * stderr), then the ring file's last publish, in that order (the stats as
 * the flush left them). One handler, so the order holds whatever was
 * initialised first; a concurrent nblog_shutdown is safe (both stops are
 * idempotent). */
static void at_exit(void)
{
    nblog__consoles_exit_flush();
    nblog__publisher_stop();
}

static void install_exit_handler(void)
{
    static int done; /* MAPPING: one initialiser at a time */
    if (!done) {
        done = 1;
        atexit(at_exit);
    }
}

/* Maps, prefaults and formats (or, for a ring file, resumes) a ring. Runs
 * in state MAPPING only. */
static int map_ring(const nblog_options_t *o)
{
    uint64_t records = round_pow2(o->ring_records ? o->ring_records : 8192);
    uint64_t size = round_pow2(o->record_size ? o->record_size : 512);
    if (records < NBLOG__RECORDS_MIN)
        records = NBLOG__RECORDS_MIN;
    if (size < NBLOG__RECORD_SIZE_MIN)
        size = NBLOG__RECORD_SIZE_MIN;
    size_t bytes = nblog__ring_bytes(records, (uint32_t)size);
    note_stderr();
    install_exit_handler();
    /* First: from here a filtered call is judged by init's threshold
     * without waiting (see the top). Relaxed: read only as a threshold,
     * any recent value will do. */
    atomic_store_explicit(&g.level, level_for(o), memory_order_relaxed);
    const char *path = ring_path_for(o);
    set_program(o->program); /* before the file ring, which records it */

    void *mem = take_retired(bytes, path != NULL);
    nblog__platform_init();
    int rc = NBLOG_OK;
    if (path) {
        rc = map_ring_file(path, records, (uint32_t)size, &mem);
        if (rc != NBLOG_OK && o->ring_path)
            return rc; /* the program's choice: nblog_init says why */
        if (rc != NBLOG_OK) {
            ring_env_refused(path, rc); /* the user's: said, and go on */
            assert(mem == NULL);
            path = NULL;
        }
    }
    if (!path) {
        rc = map_anonymous(mem, bytes, &mem);
        if (rc != NBLOG_OK)
            return rc;
        nblog__ring_format(mem, records, (uint32_t)size, 0);
    }
    init_hook(NBLOG__HOOK_MAPPING);
    nblog__wallclock_start(mem); /* failing, epochs stay as they are */
    g.retired = mem;
    g.retired_bytes = bytes;
    g.facility = o->facility;
    g.emergency_level = o->emergency_level;
    /* Release: pairs with the acquire loads of g.ring (nblog__ring_memory,
     * readers, stats); a caller that sees the pointer sees the formatted
     * header and the clock. The logging calls' g.log_ring: at READY. */
    atomic_store_explicit(&g.ring, mem, memory_order_release);
    return NBLOG_OK;
}

/* In a forked child (see the top: Fork during an init). Only the forking
 * thread runs here; if it is not the initialiser (init_here), the init it
 * sees in progress has no thread left to end it. */
static void init_fork_child(void)
{
    /* Relaxed: the child has one thread. */
    int st = atomic_load_explicit(&g.state, memory_order_relaxed);
    if (init_here || (st != MAPPING && st != STARTING))
        return;
    if (st == STARTING) {
        atomic_store_explicit(&g.log_ring, atomic_load_explicit(&g.ring, memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&g.was_ready, 1, memory_order_relaxed);
        atomic_store_explicit(&g.state, READY, memory_order_relaxed);
        return;
    }
    if (g.file.fd >= 0 || g.file.mem) {
        /* A ring file (half opened, or the last one's): its lock (on the
         * shared open file description) stays the parent's; close, never
         * unlock, and never reuse (memset) or unmap the shared mapping. */
        if (g.retired == g.file.mem)
            g.retired = NULL;
        if (g.file.fd >= 0)
            close(g.file.fd);
        g.file.fd = -1;
        g.file.mem = NULL;
    }
    atomic_store_explicit(&g.ring, NULL, memory_order_relaxed);
    atomic_store_explicit(&g.log_ring, NULL, memory_order_relaxed);
    int from = atomic_load_explicit(&g.was_ready, memory_order_relaxed) ? DOWN : UNINIT;
    atomic_store_explicit(&g.state, from, memory_order_relaxed);
}

/* log.c's one fork handler: the init first, then the ring file (which
 * then finds the ring the init left). */
static void fork_child(void)
{
    init_fork_child();
    nblog__ring_fork_child();
}

/* Registered when the library is loaded, so it is there before any CAS to
 * MAPPING: no fork can see an init in progress without it (registering at
 * the first init would leave a window between two initialisers). */
static int fork_handled; /* written before main, read-only after */

__attribute__((constructor)) static void register_fork_child(void)
{
    fork_handled = pthread_atfork(NULL, NULL, fork_child) == 0;
}

/* for_console: see nblog__init_lazily. */
static int init_from(int from, const nblog_options_t *o, int for_console)
{
    if (!fork_handled)
        return NBLOG_ENOMEM; /* pthread_atfork failed at load: ENOMEM */
    /* Before the CAS: a signal handler that interrupts this thread once it
     * owns the init must see it (a nested init_from restores it). */
    int was_here = init_here;
    init_here = 1;
    atomic_signal_fence(memory_order_seq_cst); /* the store, before the CAS */
    int expected = from;
    /* Acquire on success pairs with the release store of READY/DOWN by the
     * previous owner, so we see its g.retired. */
    if (!atomic_compare_exchange_strong_explicit(&g.state, &expected, MAPPING,
                                                 memory_order_acquire,
                                                 memory_order_relaxed)) {
        init_here = was_here;
        return NBLOG_EALREADY;
    }
    /* Relaxed: a threshold; put back if the init fails (map_ring sets it). */
    int old_level = atomic_load_explicit(&g.level, memory_order_relaxed);
    int rc = map_ring(o);
    if (rc == NBLOG_OK) {
        nblog__panic_setup(o);
        nblog__consoles_open(); /* after a shutdown: consoles may register again */
        /* Relaxed: a waiter orders by the READY store below; a forked child
         * that sees STARTING finds the panic handlers and the console list
         * ready (fork_child). */
        atomic_store_explicit(&g.state, STARTING, memory_order_relaxed);
        init_hook(NBLOG__HOOK_STARTING);
        /* Still STARTING (a second nblog_init gets NBLOG_EALREADY), but the
         * ring is published: consoles can register; other threads' logging
         * calls wait until the consoles at init are there (a console
         * starts at the head when it registers). */
        nblog__consoles_at_init(o->console_defaults, for_console);
        /* Relaxed: published by the state's release store below. */
        atomic_store_explicit(&g.was_ready, 1, memory_order_relaxed);
        /* Release: pairs with current_ring()'s acquire load. */
        atomic_store_explicit(&g.log_ring, atomic_load_explicit(&g.ring, memory_order_relaxed),
                              memory_order_release);
    } else {
        atomic_store_explicit(&g.level, old_level, memory_order_relaxed); /* as above */
    }
    init_here = was_here;
    /* Release: pairs with the acquire CAS above in the next initialiser,
     * and with wait_for_ring's acquire load (it sees g.log_ring). */
    atomic_store_explicit(&g.state, rc == NBLOG_OK ? READY : from,
                          memory_order_release);
    return rc;
}

int nblog_init(const nblog_options_t *opt)
{
    nblog_options_t defaults;
    if (!opt) {
        nblog_options_init(&defaults);
        opt = &defaults;
    }
    if (check_options(opt) != NBLOG_OK)
        return NBLOG_EINVAL;
    int rc = init_from(UNINIT, opt, 0);
    if (rc == NBLOG_EALREADY)
        rc = init_from(DOWN, opt, 0);
    return rc;
}

void nblog_shutdown(void)
{
    int expected = READY;
    /* Acq_rel: orders with the initialiser's release store (acquire) and
     * publishes our g.ring store to the next initialiser (release below). */
    if (!atomic_compare_exchange_strong_explicit(&g.state, &expected, STOPPING,
                                                 memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    nblog__panic_teardown();
    /* The publisher's last pass shows the consoles as they were. */
    nblog__publisher_stop();
    nblog__wallclock_stop();
    /* Consoles first, while the ring is still there to print from. */
    int clean = nblog__consoles_shutdown(1000);
    /* Release: pairs with the acquire loads (current_ring, readers);
     * NULL means "not ready". */
    atomic_store_explicit(&g.log_ring, NULL, memory_order_release);
    atomic_store_explicit(&g.ring, NULL, memory_order_release);
    nblog__consoles_quiesce();
    if (!clean) {
        g.retired = NULL; /* a stuck printer may still read it: never reuse */
        g.file.mem = NULL; /* nor unmap it; the lock goes at the next init */
    } else {
        nblog__ringfile_unlock(&g.file); /* another writer may take the file now */
    }
    atomic_store_explicit(&g.state, DOWN, memory_order_release);
}

void nblog__init_wait_off(int on)
{
    wait_off += on ? 1 : -1;
    assert(wait_off >= 0);
    /* A signal handler on this thread sees it before the lock is taken
     * and until it is let go (the caller's calls around it). */
    atomic_signal_fence(memory_order_seq_cst);
}

/* An init in progress on another thread: waits (polling, as a signal
 * handler may) until it is READY or failed, RING_WAIT_NS at most. Never
 * on the initialiser itself (init_here), nor while this thread holds a
 * lock the initialiser needs (wait_off). [signal-safe] */
static void wait_for_ring(void)
{
    if (init_here || wait_off)
        return;
    /* Acquire: pairs with init_from's release store of READY (or of a
     * failed init's state): g.log_ring is then as the init left it. */
    int st = atomic_load_explicit(&g.state, memory_order_acquire);
    if (st != MAPPING && st != STARTING)
        return;
    init_hook(NBLOG__HOOK_WAITING);
    struct timespec now, poll = {0, RING_POLL_NS};
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long end = now.tv_sec * 1000000000LL + now.tv_nsec + RING_WAIT_NS;
    for (;;) {
        st = atomic_load_explicit(&g.state, memory_order_acquire); /* as above */
        if (st != MAPPING && st != STARTING)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec * 1000000000LL + now.tv_nsec >= end)
            return;
        nanosleep(&poll, NULL); /* EINTR: a signal; look again */
    }
}

/* Lazy initialisation starts from UNINIT only: after nblog_shutdown (DOWN)
 * only the program's own nblog_init brings nblog back, with its options.
 * Its threshold is the one nblog_level_set left, if it was called (before
 * any init nothing else changes g.level); NBLOG_LEVEL still overrides it.
 * Racing another thread's init, waits for its ring (wait_for_ring). */
int nblog__init_lazily(int for_console)
{
    nblog_options_t o;
    nblog_options_init(&o);
    /* Relaxed: a threshold; nblog_level_set on this thread is seen. */
    o.level = atomic_load_explicit(&g.level, memory_order_relaxed);
    int rc = init_from(UNINIT, &o, for_console);
    if (rc == NBLOG_EALREADY)
        wait_for_ring();
    return rc;
}

void nblog__init_wait(void)
{
    wait_for_ring();
}

/* The logging calls' ring, initialising lazily on first use (or waiting
 * for another thread's init); NULL if not ready. */
static struct nblog__ring_hdr *current_ring(void)
{
    /* Acquire: pairs with init_from's release store of g.log_ring. */
    struct nblog__ring_hdr *r = atomic_load_explicit(&g.log_ring, memory_order_acquire);
    if (__builtin_expect(r != NULL, 1))
        return r;
    /* The initialiser: the ring once mapped (STARTING). Acquire: pairs
     * with map_ring's release store (init_here is set before the CAS, so
     * this may be a thread about to lose it). */
    if (init_here)
        return atomic_load_explicit(&g.ring, memory_order_acquire);
    /* Relaxed: which way only; init_from's CAS and wait_for_ring order.
     * After a shutdown (DOWN) no init work at all. */
    if (atomic_load_explicit(&g.state, memory_order_relaxed) == UNINIT)
        nblog__init_lazily(0);
    else
        wait_for_ring(); /* at once unless MAPPING or STARTING */
    /* Acquire: as above (after our own init, or another thread's). */
    return atomic_load_explicit(&g.log_ring, memory_order_acquire);
}

/* -------------------------------------------------------------- logging */

int nblog_level_set(int level)
{
    if (level < 0 || level > NBLOG_LEVEL_DEBUG)
        return NBLOG_ELEVEL;
    /* Relaxed: a threshold; callers may see the change a little late. */
    return atomic_exchange_explicit(&g.level, level, memory_order_relaxed);
}

int nblog_level_get(void)
{
    return atomic_load_explicit(&g.level, memory_order_relaxed);
}

/* Cuts text to fit max bytes and ends it with the marker, on a UTF-8
 * character boundary. Returns the new length. */
uint32_t nblog__truncate_text(char *text, uint32_t max)
{
    const uint32_t mlen = sizeof NBLOG_TRUNC_MARKER - 1;
    uint32_t keep = max - mlen;
    while (keep > 0 && ((unsigned char)text[keep] & 0xc0) == 0x80)
        keep--;
    memcpy(text + keep, NBLOG_TRUNC_MARKER, mlen);
    return keep + mlen;
}

int nblog__log_begin(int *level, uint8_t *flags, struct nblog__ring_hdr **ring,
                     int *rc)
{
    *rc = NBLOG_OK;
    *flags = 0;
    if (__builtin_expect(*level < 0 || *level > NBLOG_LEVEL_DEBUG, 0)) {
        *level = *level < 0 ? NBLOG_LEVEL_EMERG : NBLOG_LEVEL_DEBUG;
        *flags |= NBLOG_F_BADINPUT;
        *rc = NBLOG_ELEVEL;
    }
    /* Only before any init the ring first: a first call initialises, and
     * so sets the threshold (NBLOG_LEVEL), before its own level is judged.
     * Otherwise the threshold first, so a filtered call does no init work
     * and never waits (after a shutdown, during another thread's init).
     * Relaxed: the state picks the order only; current_ring orders the
     * ring. */
    *ring = NULL;
    int before_init = atomic_load_explicit(&g.state, memory_order_relaxed) == UNINIT;
    if (before_init)
        *ring = current_ring();
    /* Relaxed: a threshold (see nblog_level_set). */
    if (*level > atomic_load_explicit(&g.level, memory_order_relaxed)) {
        if (*rc == NBLOG_OK)
            *rc = NBLOG_FILTERED;
        return 0;
    }
    if (!before_init)
        *ring = current_ring();
    if (!*ring) {
        /* Relaxed: a statistic. */
        atomic_fetch_add_explicit(&g.not_ready, 1, memory_order_relaxed);
        *rc = NBLOG_ENOTREADY;
        return 0;
    }
    if (NBLOG__UNLIKELY(!nblog__thread_entered))
        nblog__panic_thread_enter(); /* once per thread: its signal stack */
    if (log_depth++ > 0)
        *flags |= NBLOG_F_SIGNAL;
    if (*level <= g.emergency_level)
        *flags |= NBLOG_F_EMERGENCY;
    return 1;
}

int nblog__log_commit(struct nblog__ring_hdr *r, int level, uint8_t flags,
                      uint8_t kind, const char *payload, uint32_t len, int rc)
{
    struct nblog__rec_meta m = {
        .ts_ns = nblog__now_ns(),
        .tid = nblog__tid(),
        .len = len,
        .level = (uint8_t)level,
        .facility = (uint8_t)g.facility,
        .flags = flags,
        .kind = kind,
    };
    int wrc = nblog__ring_write(r, &m, payload);
    if (wrc == NBLOG_OK)
        nblog__consoles_notify(r, m.seq, flags);
    log_depth--;
    return wrc == NBLOG_OK ? rc : wrc;
}

static const char null_format_text[] = "nblog: NULL format string";

/* Formats in the caller into a record, after nblog__log_begin said go. */
int nblog__log_formatted(struct nblog__ring_hdr *r, int level, uint8_t flags,
                         int rc, int nargs, const char *fmt, va_list ap)
{
    /* One slot's text plus padding for the 8-byte copy into the slot; as
     * large as this ring's records, not the largest possible, since it
     * stays on the stack while the call prints (nblog.h: the stack a
     * signal handler needs). */
    uint32_t max = nblog__ring_text_max(r);
    char text[max + 8];
    size_t len;
    if (__builtin_expect(fmt == NULL, 0)) {
        len = sizeof null_format_text - 1;
        memcpy(text, null_format_text, len);
        flags |= NBLOG_F_BADINPUT;
        rc = NBLOG_ENOFMT;
    } else {
        unsigned st = 0;
        len = nblog__vformat(text, (size_t)max + 1, fmt, ap, nargs, &st);
        if (__builtin_expect(st != 0, 0)) {
            flags |= NBLOG_F_BADINPUT;
            rc = (st & NBLOG__FMT_MISSING) ? NBLOG_EARGS : NBLOG_EFORMAT;
        }
    }
    if (len > max) {
        len = nblog__truncate_text(text, max);
        flags |= NBLOG_F_TRUNCATED;
    }
    return nblog__log_commit(r, level, flags, NBLOG_KIND_TEXT, text,
                             (uint32_t)len, rc);
}

static int vlog(int level, int nargs, const char *fmt, va_list ap)
{
    int err = errno; /* %m shows it as it was at the call; kept for the caller */
    uint8_t flags;
    struct nblog__ring_hdr *r;
    int rc;
    if (nblog__log_begin(&level, &flags, &r, &rc)) {
        errno = err;
        rc = nblog__log_formatted(r, level, flags, rc, nargs, fmt, ap);
    }
    errno = err;
    return rc;
}

int nblog_vprintf(int level, const char *fmt, va_list ap)
{
    return vlog(level, -1, fmt, ap);
}

int(nblog_printf)(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vlog(level, -1, fmt, ap);
    va_end(ap);
    return rc;
}

int nblog__printf_n(int level, int nargs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vlog(level, nargs, fmt, ap);
    va_end(ap);
    return rc;
}

static const char null_bytes_text[] = "nblog: nblog_write given NULL bytes";

int nblog_write(int level, const void *bytes, size_t len)
{
    int err = errno; /* left as it was, as every logging call */
    uint8_t flags;
    struct nblog__ring_hdr *r;
    int rc;
    if (nblog__log_begin(&level, &flags, &r, &rc)) {
        /* As nblog__log_formatted: one slot's text plus the 8-byte copy's
         * slack, on the stack (nblog.h: the stack a logging call needs). */
        uint32_t max = nblog__ring_text_max(r);
        char text[max + 8];
        size_t n;
        if (__builtin_expect(bytes == NULL && len > 0, 0)) {
            n = sizeof null_bytes_text - 1;
            memcpy(text, null_bytes_text, n);
            flags |= NBLOG_F_BADINPUT;
            rc = NBLOG_ENOFMT;
        } else {
            n = len < max ? len : max;
            if (n)
                memcpy(text, bytes, n);
            if (len > max) {
                n = nblog__truncate_text(text, max);
                flags |= NBLOG_F_TRUNCATED;
            }
        }
        assert(n <= max);
        /* The slack is copied into the slot with the last word: zeros,
         * not the stack's old bytes, reach the (shared) ring. */
        memset(text + n, 0, 8);
        rc = nblog__log_commit(r, level, flags, NBLOG_KIND_TEXT, text, (uint32_t)n, rc);
    }
    errno = err;
    return rc;
}

/* ----------------------------------------------------------- rate limit */

/*
 * One word, rs->window, holds the whole state of a limiter: the current
 * window's start (bits 63..24, in units of 2^20 ns, modulo 2^40: 36 years)
 * and how many calls it let through (bits 23..0). 0: no window yet. Every
 * change is one CAS on the word, so a pass is counted in the window it was
 * let into and no window ever lets more than burst through: there is no
 * moment where a new start is visible with the old count, or the reverse.
 *
 *   in window   now - start < interval (signed, modulo 2^40): count < burst
 *               -> CAS count + 1, pass; else suppressed (counted, no CAS).
 *   new window  now - start >= interval, or no window: CAS the word to
 *               (now + 1 unit, 1), pass, and report what was suppressed.
 *
 * A clock reading older than the start (a caller read the clock before
 * another one opened the window; TSC skew between CPUs) is negative and
 * so inside the window: it never moves the start backwards (it once did:
 * unsigned now - start wrapped to "interval over" and reopened the window,
 * letting another burst through). A window starts at the next unit
 * boundary after the call that opens it, so it lasts interval_ms to about
 * 2 ms more, never less. A failed CAS reads the clock again: each attempt
 * is decided on a reading taken after the word it acts on was loaded.
 *
 * Memory order: relaxed throughout. The word publishes nothing but itself
 * (the bound rests on the CAS's atomicity alone) and suppressed is an exact
 * counter on its own: each suppressed call adds 1, the caller that opens a
 * window takes everything added so far (exchange) into its notice.
 */
#define RL_COUNT_BITS 24
#define RL_COUNT_MAX ((UINT64_C(1) << RL_COUNT_BITS) - 1)
#define RL_UNIT_SHIFT 20 /* 1,048,576 ns */
#define RL_START_MASK ((UINT64_C(1) << (64 - RL_COUNT_BITS)) - 1)

#ifdef NBLOG_TEST_HOOKS
uint64_t (*_Atomic nblog__ratelimit_clock_hook)(void);
#endif

static uint64_t ratelimit_now_units(void)
{
    /* Relaxed: a test's clock, set before its calls start. */
    uint64_t now = NBLOG__TEST_HOOK_OR(nblog__ratelimit_clock_hook, (), nblog__now_ns());
    return (now >> RL_UNIT_SHIFT) & RL_START_MASK;
}

/* now - start in units, signed: negative if now is before start. */
static int64_t ratelimit_elapsed(uint64_t now, uint64_t start)
{
    uint64_t d = (now - start) & RL_START_MASK;
    /* Sign-extend from 40 bits. */
    return (int64_t)(d << RL_COUNT_BITS) >> RL_COUNT_BITS;
}

int nblog_ratelimit_pass(nblog_ratelimit_t *rs, int level)
{
    if (rs->interval_ms == 0)
        return 1; /* no limit */
    uint64_t burst = rs->burst < RL_COUNT_MAX ? rs->burst : RL_COUNT_MAX;
    uint64_t interval_ns = (uint64_t)rs->interval_ms * 1000000u;
    int64_t interval = (int64_t)((interval_ns + (UINT64_C(1) << RL_UNIT_SHIFT) - 1) >>
                                 RL_UNIT_SHIFT);
    /* Relaxed: see above (the CAS below re-checks it). */
    uint64_t w = __atomic_load_n(&rs->window, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t now = ratelimit_now_units();
        uint64_t start = w >> RL_COUNT_BITS, count = w & RL_COUNT_MAX;
        if (w != 0 && ratelimit_elapsed(now, start) < interval) {
            if (count >= burst)
                break; /* suppressed */
            assert(count < RL_COUNT_MAX);
            /* Relaxed: see above; on failure w is the word now there. */
            if (__atomic_compare_exchange_n(&rs->window, &w, w + 1, 1,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                return 1;
            continue;
        }
        uint64_t opened = ((now + 1) & RL_START_MASK) << RL_COUNT_BITS | (burst ? 1 : 0);
        if (!__atomic_compare_exchange_n(&rs->window, &w, opened, 1,
                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        uint32_t n = __atomic_exchange_n(&rs->suppressed, 0, __ATOMIC_RELAXED);
        if (n)
            nblog_printf(level, "%u messages suppressed", n);
        if (burst)
            return 1;
        break; /* burst 0: the window opens for its notice only */
    }
    __atomic_fetch_add(&rs->suppressed, 1, __ATOMIC_RELAXED);
    return 0;
}

/* --------------------------------------------------------------- reader */

static void reader_start(nblog_reader_t *r, const struct nblog__ring_hdr *ring,
                         int from)
{
    memset(r, 0, sizeof *r);
    r->ring = ring;
    r->next_seq = from == NBLOG_FROM_NEXT ? nblog__ring_head(ring)
                                          : nblog__ring_oldest(ring);
}

int nblog__reader_open_memory(nblog_reader_t *r, const void *mem, size_t bytes,
                              int from)
{
    memset(r, 0, sizeof *r);
    if (!mem || (uintptr_t)mem % _Alignof(struct nblog__ring_hdr) != 0)
        return NBLOG_EINVAL;
    if (nblog__ring_validate(mem, bytes) != NBLOG_OK)
        return NBLOG_ECORRUPT;
    reader_start(r, mem, from);
    return NBLOG_OK;
}

void nblog__ring_memory(const void **mem, size_t *bytes)
{
    /* Acquire: pairs with map_ring's release store. */
    const struct nblog__ring_hdr *r = atomic_load_explicit(&g.ring, memory_order_acquire);
    *mem = r;
    *bytes = r ? r->total_size : 0;
}

int nblog_reader_open(nblog_reader_t *r, int from)
{
    struct nblog__ring_hdr *ring =
        atomic_load_explicit(&g.ring, memory_order_acquire); /* pairs with map_ring */
    memset(r, 0, sizeof *r);
    if (!ring)
        return NBLOG_ENOTREADY;
    reader_start(r, ring, from);
    return NBLOG_OK;
}

int nblog_reader_next(nblog_reader_t *r, nblog_record_t *rec, char *buf,
                      size_t bufsize)
{
    const struct nblog__ring_hdr *ring = r->ring;
    if (!ring || !rec || !buf || bufsize == 0)
        return NBLOG_EINVAL;
    uint64_t missed = 0;
    for (;;) {
        struct nblog__rec_meta m;
        char payload[NBLOG__RECORD_SIZE_MAX];
        enum nblog__read_result res =
            nblog__ring_read(ring, r->next_seq, &m, payload, sizeof payload);
        if (res == NBLOG__READ_GONE) {
            uint64_t to = nblog__ring_after_gone(ring, r->next_seq);
            missed += to - r->next_seq;
            r->next_seq = to;
            continue;
        }
        r->missed += missed;
        if (res != NBLOG__READ_OK) {
            r->missed_unreported += missed;
            return NBLOG_EAGAIN;
        }
        uint8_t flags = m.flags;
        size_t len = nblog__render_record(ring, &m, payload, buf, bufsize, &flags);
        *rec = (nblog_record_t){
            .seq = m.seq,
            .ts_ns = m.ts_ns,
            .wall_ns = m.wall_ns,
            .missed = r->missed_unreported + missed,
            .tid = m.tid,
            .level = m.level,
            .facility = m.facility,
            .flags = flags,
            .kind = m.kind,
            .len = (uint32_t)len,
            .text = buf,
        };
        r->missed_unreported = 0;
        r->next_seq++;
        r->read++;
        return len > bufsize - 1 ? NBLOG_ETRUNCATED : NBLOG_OK;
    }
}

uint64_t nblog_reader_head(const nblog_reader_t *r)
{
    return r && r->ring ? nblog__ring_head(r->ring) : 0;
}

uint64_t nblog_reader_skip(nblog_reader_t *r, uint64_t below)
{
    if (!r || !r->ring)
        return 0;
    struct nblog__rec_meta m;
    char text[8];
    uint64_t n = 0;
    /* The first pending record whatever below says, then each next one
     * below it that is pending too. Bounded by the ring's size: a seq is
     * PENDING only below head and within `records` of it (ring.c
     * pending_or_lapped; further back it is GONE), so a forged head far
     * past the records costs at most one lap. */
    while ((n == 0 || r->next_seq < below) &&
           nblog__ring_read(r->ring, r->next_seq, &m, text, sizeof text) ==
               NBLOG__READ_PENDING) {
        r->next_seq++;
        n++;
    }
    r->missed += n;
    return n;
}

/* ---------------------------------------------------------------- stats */

void nblog_stats_get(nblog_stats_t *st)
{
    struct nblog__ring_hdr *r = atomic_load_explicit(&g.ring, memory_order_acquire);
    memset(st, 0, sizeof *st);
    /* Relaxed: statistics. */
    st->not_ready = atomic_load_explicit(&g.not_ready, memory_order_relaxed);
    if (!r)
        return;
    /* The raw head: every reservation, refusals at the seq limit too, so
     * reserved == committed + lost (docs/design.md, promise 3). Not a seq
     * to read up to: clamp it (nblog__seq_clamp) for that. */
    st->reserved = atomic_load_explicit(&r->head, memory_order_relaxed);
    st->lost = atomic_load_explicit(&r->lost, memory_order_relaxed);
    st->ring_records = r->records;
    st->record_size = r->record_size;
    st->text_max = nblog__ring_text_max(r);
}

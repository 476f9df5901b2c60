/*
 * lifecycle.c - the library's top: init (nblog_init, lazy init),
 * shutdown, options, the program's identity, the ring's mapping
 * (anonymous or a file) and retired rings, the lazy-init state machine and
 * its waits, the exit handler, and the one fork registration. The logging
 * calls, levels, rate limits and readers are log.c's.
 *
 * Lifecycle states (nblog__life.state):
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
 *   STARTING the ring is published (nblog__life.ring for readers and stats,
 *            handed to the consoles: nblog__consoles_attach); the
 *            initialiser registers the consoles at init (spec.c:
 *            NBLOG_CONSOLES or the default console) and a second
 *            initialiser still gets EALREADY. The threshold comes from
 *            NBLOG_LEVEL if set (level_for), the program's name from the
 *            options (g.program).
 *   READY    nblog__life.log_ring is published too: logging stores
 *            records.
 *   STOPPING nblog_shutdown flushes and unregisters the consoles.
 *   DOWN     shut down: both pointers NULL (the consoles' too), logging
 *            calls are counted no-ops, registering a console is refused
 *            (lazy init starts from UNINIT only; console.c also refuses
 *            registration from nblog_shutdown's unregister pass until the
 *            next nblog_init). The old mapping stays (g.retired) so a call
 *            that loaded a ring pointer before shutdown finishes safely;
 *            the next nblog_init reuses or unmaps it.
 *
 * Waiting for an init (issue: a call racing another thread's lazy init
 * lost its record). In MAPPING and STARTING a logging call from another
 * thread waits (wait_for_ring: polls with nblog__sleep_ns, RING_WAIT_NS at most)
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
 * (a failed init, the bound) is NBLOG_ENOTREADY, counted in log.c's
 * not_ready.
 * Nobody waits for a shutdown.
 *
 * A filtered call does no init work and never waits: the threshold is
 * judged first unless the state is UNINIT (then the call initialises, so
 * that NBLOG_LEVEL judges it). The threshold init sets is stored first
 * thing in MAPPING.
 *
 * Fork during an init (init_fork_child, in the one fork handler, which is
 * registered when the library loads, so no fork can see MAPPING without
 * it): the child has only the forking thread. If another thread was
 * initialising, nothing will end that init: in MAPPING (nothing
 * published) the child forgets it (the half-opened ring file too, never
 * unlocking the parent's lock) and goes back to the state the init
 * started from (UNINIT, or DOWN after a shutdown), so the child can init; in STARTING (the ring published,
 * panic handlers and the console list open) it publishes the ring to its
 * logging calls and is READY, with whichever consoles at init had
 * registered (the consoles' fork hook, run after, restarts their printers).
 *
 * A ring file (ring_path / NBLOG_RING): map_ring opens, locks and maps it
 * through ringfile.c instead of anonymous memory and starts the stats
 * publisher thread (publish.c); shutdown stops the publisher first (its last pass shows the
 * consoles as they were). The file stays mapped and locked (g.file) like
 * any retired ring, until the next nblog_init closes it.
 *
 * Fork (fork_prepare, fork_parent, fork_child): the library's one
 * pthread_atfork registration, made when the library loads
 * (register_fork), or by the first init if a program's own constructor
 * logs before that. It calls each layer's named fork hook (declared in
 * that layer's header) in layer order, bottom first in the child, so a
 * hook may rely on the layers below it being in order already:
 *
 *   platform   nblog__platform_fork_child   the cached thread id
 *   store      nblog__ringfile_fork_child   the ring file's lock copies
 *                                           (prepare/parent: its mutex)
 *              nblog__wallclock_fork_child  the clock thread's fds, ring
 *   render     nblog__pid_fork_child        the cached pid (pattern.c)
 *   lifecycle  init_fork_child, ring_fork_child: an init in progress, a
 *              ring file replaced by a private ring; then the child's
 *              ring is attached to the consoles
 *   consoles   nblog__consoles_fork_child   owners, positions (at the
 *                                           child ring's head), locks,
 *                                           printers restarted later
 *   panic      nblog__panic_fork_child      signal stacks, watchdog
 *   publisher  nblog__publisher_fork_child  the stats thread stayed behind
 *
 * The lifecycle's ring comes before the consoles (they start at the head
 * of the ring the child goes on with); the hooks above it do not touch
 * the ring. A hook whose layer never started has nothing to reset (the
 * consoles' and the panic's check that, as their registrations, once
 * made by their first use, did).
 *
 * Handed down: the consoles get their ring (nblog__consoles_attach: at
 * STARTING with nblog__life.ring, NULL at shutdown, the child's after a
 * fork) and what they need of the layers above as a table the console
 * layer declares and this file defines (console.h struct
 * nblog__console_env: lazy init, its waits, the report function their
 * notices use); no console file calls the lifecycle or log.c but through
 * it.
 *
 * Memory ordering (tags name each access, as in ring.c):
 *   M1  map_ring: store nblog__life.ring (release), after the format and
 *       the clock; shutdown's store of NULL (release)
 *   M2  loads of nblog__life.ring (acquire): log.c's readers and stats,
 *       nblog__life_ring_wait on the initialiser
 *   M1 -> M2: a caller that sees the pointer sees a formatted header.
 *       The consoles' pointer is stored (K1, release) right after M1 and
 *       loaded by ring_now (K2, acquire): the same pair (console_impl.h).
 *   M3  init_from: store nblog__life.log_ring (release) at the end of
 *       STARTING; shutdown's store of NULL (release)
 *   M4  loads of nblog__life.log_ring (acquire): log.c current_ring,
 *       nblog__life_ring_wait
 *   M3 -> M4: a logging call that sees the pointer sees the ring and the
 *       consoles at init registered.
 *   M5  init_from: CAS state -> MAPPING (acquire); nblog_shutdown: CAS
 *       READY -> STOPPING (acq_rel)
 *   M6  init_from: store state = READY or back (release); shutdown: store
 *       DOWN (release)
 *   M7  wait_for_ring: load state (acquire)
 *   M6 -> M5: the next initialiser (or shutdown) sees what the last one
 *       left (g.retired, the file). M6 -> M7: a waiter that sees READY
 *       sees .log_ring (M3 comes before M6).
 *   Relaxed: the STARTING store and was_ready (published by M6);
 *   init_stderr (each field on its own: a torn view only drops a line,
 *   see there); nblog__life_ring_wait's check for UNINIT (which way only;
 *   M5 and M7 order); the fork child's stores (one thread). The
 *   atomic_signal_fences order init_here and wait_off for a signal
 *   handler on the same thread only.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "format.h"
#include "lifecycle.h"
#include "log.h"
#include "nblog.h"
#include "panic.h"
#include "platform.h"
#include "publish.h"
#include "render.h"
#include "ring.h"
#include "ringfile.h"
#include "testhooks.h"
#include "wallclock.h"

enum { UNINIT, MAPPING, STARTING, READY, STOPPING, DOWN };

#define NBLOG__PROGRAM_MAX 48 /* RFC 5424 APP-NAME */

_Static_assert(UNINIT == 0, "lifecycle.h nblog__life_uninit");

/* The state and the two ring pointers (lifecycle.h: log.c reads them). */
struct nblog__life nblog__life;

static struct {
    /* Some init reached READY: a later init starts from DOWN (READY only
     * goes on to STOPPING, DOWN), a first one from UNINIT. Written before
     * the release store of READY; read by fork_child. */
    atomic_int was_ready;
    void *retired; /* the last ring's mapping, kept after shutdown */
    size_t retired_bytes;
    struct nblog__ringfile file; /* the ring's file, if it has one (fd -1) */
    /* nblog__program_name(): written in MAPPING only, published with
     * nblog__life.ring (its release store); "" until the first init. */
    char program[NBLOG__PROGRAM_MAX + 1];
} g = {.file = {.fd = -1}};

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

/* -------------------------------------------------------------- options */

void nblog_options_init(nblog_options_t *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->ring_records = NBLOG__RECORDS_DEFAULT;
    opt->record_size = NBLOG__RECORD_SIZE_DEFAULT;
    opt->text_max = NBLOG__TEXT_MAX_DEFAULT;
    opt->data_bytes = NBLOG__DATA_BYTES_DEFAULT;
    opt->level = NBLOG_LEVEL_INFO;
    opt->facility = 1;
    opt->emergency_level = NBLOG_LEVEL_CRIT;
    opt->ring_path = NULL;
    opt->console_defaults = 0;
    opt->program = NULL;
}

static int check_options(const nblog_options_t *o)
{
    struct nblog__ring_geom geom;
    if (nblog__ring_geom_make(&geom, o->ring_records, o->record_size, o->text_max,
                              o->data_bytes) != NBLOG_OK)
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
    /* Written in MAPPING before the release store of nblog__life.ring; a reader
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
    nblog__who_set_program(g.program); /* render's "this process" */
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
static int map_ring_file(const char *path, const struct nblog__ring_geom *geom, void **out)
{
    int rc = nblog__ringfile_open(path, geom, g.program, &g.file);
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
 * child. fork_child runs it before the consoles' fork hook, so that the
 * consoles' positions and the new ring agree. */
static void ring_fork_child(void)
{
    static pid_t done_for;
    if (g.file.fd < 0 || !g.file.mem || done_for == getpid())
        return;
    done_for = getpid();
    const struct nblog__ring_hdr *shared = g.file.mem;
    struct nblog__ring_geom geom;
    nblog__ring_geom_of(shared, &geom);
    size_t bytes = nblog__ring_bytes_geom(&geom);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        /* No memory for a ring: stop storing rather than share the file. */
        atomic_store_explicit(&nblog__life.log_ring, NULL, memory_order_relaxed);
        atomic_store_explicit(&nblog__life.ring, NULL, memory_order_relaxed);
        atomic_store_explicit(&nblog__life.state, DOWN, memory_order_relaxed);
    } else {
        nblog__ring_format_geom(mem, &geom, nblog__ring_head(shared));
        g.retired = mem;
        g.retired_bytes = bytes;
        /* Relaxed: the child has one thread. */
        atomic_store_explicit(&nblog__life.ring, mem, memory_order_relaxed);
        atomic_store_explicit(&nblog__life.log_ring, mem, memory_order_relaxed);
    }
    close(g.file.fd); /* the parent's open file description keeps its lock */
    g.file.fd = -1;
    g.file.mem = NULL; /* the parent's mapping: never unmapped by us */
}

/* At exit, once: the consoles' exit flush (1 s for them to print what is
 * pending; a console that could not is named on stderr, so nothing is
 * lost silently: the records stay in a ring file, if there is one, for
 * nblog dmesg), then the ring file's last publish, in that order (the
 * stats as the flush left them). One handler, so the order holds whatever
 * was initialised first; a concurrent nblog_shutdown is safe (both stops
 * are idempotent). */
static void at_exit(void)
{
    char lagging[256];
    int n = nblog_flush(1000, lagging, sizeof lagging);
    if (n > 0)
        nblog__complain("at exit, %d console%s had not printed every record after 1 s: %s",
                        n, n == 1 ? "" : "s", lagging);
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
    struct nblog__ring_geom geom;
    if (nblog__ring_geom_make(&geom, o->ring_records, o->record_size, o->text_max,
                              o->data_bytes) != NBLOG_OK)
        return NBLOG_EINVAL; /* check_options took it */
    size_t bytes = nblog__ring_bytes_geom(&geom);
    note_stderr();
    install_exit_handler();
    /* First: from here a filtered call is judged by init's threshold
     * without waiting (see the top). Relaxed: read only as a threshold,
     * any recent value will do. */
    nblog_level_set(level_for(o));
    const char *path = ring_path_for(o);
    set_program(o->program); /* before the file ring, which records it */

    void *mem = take_retired(bytes, path != NULL);
    nblog__platform_init();
    int rc = NBLOG_OK;
    if (path) {
        rc = map_ring_file(path, &geom, &mem);
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
        nblog__ring_format_geom(mem, &geom, 0);
    }
    init_hook(NBLOG__HOOK_MAPPING);
    nblog__wallclock_start(mem); /* failing, epochs stay as they are */
    g.retired = mem;
    g.retired_bytes = bytes;
    nblog__log_configure(o->facility, o->emergency_level);
    /* M1, release: pairs with M2, the acquire loads of nblog__life.ring
     * (nblog__ring_memory, readers, stats); a caller that sees the pointer
     * sees the formatted header and the clock. The logging calls'
     * nblog__life.log_ring: at READY. */
    atomic_store_explicit(&nblog__life.ring, mem, memory_order_release);
    nblog__consoles_attach(mem); /* the consoles' own pointer, the same way */
    return NBLOG_OK;
}

/* In a forked child (see the top: Fork during an init). Only the forking
 * thread runs here; if it is not the initialiser (init_here), the init it
 * sees in progress has no thread left to end it. */
static void init_fork_child(void)
{
    /* Relaxed: the child has one thread. */
    int st = atomic_load_explicit(&nblog__life.state, memory_order_relaxed);
    if (init_here || (st != MAPPING && st != STARTING))
        return;
    if (st == STARTING) {
        atomic_store_explicit(&nblog__life.log_ring,
                              atomic_load_explicit(&nblog__life.ring, memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&g.was_ready, 1, memory_order_relaxed);
        atomic_store_explicit(&nblog__life.state, READY, memory_order_relaxed);
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
    atomic_store_explicit(&nblog__life.ring, NULL, memory_order_relaxed);
    atomic_store_explicit(&nblog__life.log_ring, NULL, memory_order_relaxed);
    int from = atomic_load_explicit(&g.was_ready, memory_order_relaxed) ? DOWN : UNINIT;
    atomic_store_explicit(&nblog__life.state, from, memory_order_relaxed);
}

/* --------------------------------------------------------------- fork */

/* The library's one pthread_atfork registration (see Fork at the top):
 * each layer's fork hook, in layer order. Prepare and parent: only the
 * store has work (the ring file's lock list). */
static void fork_prepare(void)
{
    nblog__ringfile_fork_prepare();
}

static void fork_parent(void)
{
    nblog__ringfile_fork_parent();
}

/* In the child, bottom first: a layer's hook may rely on the ones below
 * it having run, never on the ones above. */
static void fork_child(void)
{
    nblog__platform_fork_child(); /* platform: the cached thread id */
    nblog__ringfile_fork_child(); /* store: the ring file's lock copies */
    nblog__wallclock_fork_child(); /* store: the clock thread's fds, ring */
    nblog__pid_fork_child(); /* render: the cached pid */
    /* The lifecycle's ring: the init first, then the ring file (which then
     * finds the ring the init left); the consoles get the child's ring
     * before their hook restarts them at its head. */
    init_fork_child();
    ring_fork_child();
    nblog__consoles_attach(atomic_load_explicit(&nblog__life.ring, memory_order_relaxed));
    nblog__consoles_fork_child(); /* consoles: owners, positions, locks */
    nblog__panic_fork_child(); /* panic: signal stacks, watchdog */
    nblog__publisher_fork_child(); /* stats publisher: its thread is gone */
}

/* What the consoles need of the layers above them (console.h): they call
 * nothing above them but through this table. */
const struct nblog__console_env nblog__console_env = {
    .init_lazily = nblog__init_lazily,
    .init_wait = nblog__init_wait,
    .init_wait_off = nblog__init_wait_off,
    .report = nblog__printf_n,
};

/* Registered when the library is loaded, so it is there before any CAS to
 * MAPPING: no fork can see an init in progress without it (registering at
 * the first init would leave a window between two initialisers), and
 * before anything a hook resets exists. */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
/* 0: not yet, 1: registered, -1: pthread_atfork failed. Release/acquire
 * (LF1): the once routine's store, init_from's load. */
static _Atomic int fork_handled;

static void register_fork_once(void)
{
    int ok = pthread_atfork(fork_prepare, fork_parent, fork_child) == 0;
    /* LF1: pairs with the acquire load in init_from. */
    atomic_store_explicit(&fork_handled, ok ? 1 : -1, memory_order_release);
}

__attribute__((constructor)) static void register_fork(void)
{
    pthread_once(&fork_once, register_fork_once);
}

/* for_console: see nblog__init_lazily. */
static int init_from(int from, const nblog_options_t *o, int for_console)
{
    /* LF1: pairs with register_fork_once's release store. A program's own
     * constructors (a C++ file-scope initializer that logs) may run before
     * this library's when it is linked statically: the first init
     * registers then, before main, single-threaded in practice. */
    int fh = atomic_load_explicit(&fork_handled, memory_order_acquire);
    if (fh == 0) {
        pthread_once(&fork_once, register_fork_once);
        fh = atomic_load_explicit(&fork_handled, memory_order_acquire);
    }
    if (fh < 0)
        return NBLOG_ENOMEM; /* pthread_atfork failed: ENOMEM */
    /* Before the CAS: a signal handler that interrupts this thread once it
     * owns the init must see it (a nested init_from restores it). */
    int was_here = init_here;
    init_here = 1;
    atomic_signal_fence(memory_order_seq_cst); /* the store, before the CAS */
    int expected = from;
    /* M5, acquire on success: pairs with M6, the release store of
     * READY/DOWN by the previous owner, so we see its g.retired. */
    if (!atomic_compare_exchange_strong_explicit(&nblog__life.state, &expected, MAPPING,
                                                 memory_order_acquire,
                                                 memory_order_relaxed)) {
        init_here = was_here;
        return NBLOG_EALREADY;
    }
    /* A threshold; put back if the init fails (map_ring sets it). */
    int old_level = nblog_level_get();
    int rc = map_ring(o);
    if (rc == NBLOG_OK) {
        nblog__panic_setup(o);
        nblog__consoles_open(); /* after a shutdown: consoles may register again */
        /* Relaxed: a waiter orders by the READY store below; a forked child
         * that sees STARTING finds the panic handlers and the console list
         * ready (fork_child). */
        atomic_store_explicit(&nblog__life.state, STARTING, memory_order_relaxed);
        init_hook(NBLOG__HOOK_STARTING);
        /* Still STARTING (a second nblog_init gets NBLOG_EALREADY), but the
         * ring is published: consoles can register; other threads' logging
         * calls wait until the consoles at init are there (a console
         * starts at the head when it registers). */
        nblog__consoles_at_init(o->console_defaults, for_console);
        /* Relaxed: published by the state's release store below (M6). */
        atomic_store_explicit(&g.was_ready, 1, memory_order_relaxed);
        /* M3, release: pairs with M4, current_ring()'s acquire load. */
        atomic_store_explicit(&nblog__life.log_ring,
                              atomic_load_explicit(&nblog__life.ring, memory_order_relaxed),
                              memory_order_release);
    } else {
        nblog_level_set(old_level); /* as above */
    }
    init_here = was_here;
    /* M6, release: pairs with M5, the acquire CAS above in the next
     * initialiser, and with M7, wait_for_ring's acquire load (it sees
     * nblog__life.log_ring). */
    atomic_store_explicit(&nblog__life.state, rc == NBLOG_OK ? READY : from,
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
    /* M5, acq_rel: its acquire pairs with M6, the initialiser's release
     * store of READY; what shutdown does goes to the next initialiser by
     * the release store of DOWN below (M6). */
    if (!atomic_compare_exchange_strong_explicit(&nblog__life.state, &expected, STOPPING,
                                                 memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    nblog__panic_teardown();
    /* The publisher's last pass shows the consoles as they were. */
    nblog__publisher_stop();
    nblog__wallclock_stop();
    /* Consoles first, while the ring is still there to print from. */
    int clean = nblog__consoles_shutdown(1000);
    /* M3 and M1, release: pair with M4 and M2, the acquire loads
     * (current_ring, readers); NULL means "not ready". */
    atomic_store_explicit(&nblog__life.log_ring, NULL, memory_order_release);
    atomic_store_explicit(&nblog__life.ring, NULL, memory_order_release);
    nblog__consoles_attach(NULL); /* detached, the same way */
    nblog__consoles_quiesce();
    if (!clean) {
        g.retired = NULL; /* a stuck printer may still read it: never reuse */
        g.file.mem = NULL; /* nor unmap it; the lock goes at the next init */
    } else {
        nblog__ringfile_unlock(&g.file); /* another writer may take the file now */
    }
    atomic_store_explicit(&nblog__life.state, DOWN, memory_order_release); /* M6 */
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
    /* M7, acquire: pairs with M6, init_from's release store of READY (or of a
     * failed init's state): nblog__life.log_ring is then as the init left it. */
    int st = atomic_load_explicit(&nblog__life.state, memory_order_acquire);
    if (st != MAPPING && st != STARTING)
        return;
    init_hook(NBLOG__HOOK_WAITING);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long end = now.tv_sec * 1000000000LL + now.tv_nsec + RING_WAIT_NS;
    for (;;) {
        st = atomic_load_explicit(&nblog__life.state, memory_order_acquire); /* as above */
        if (st != MAPPING && st != STARTING)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec * 1000000000LL + now.tv_nsec >= end)
            return;
        nblog__sleep_ns(RING_POLL_NS); /* EINTR: a signal; look again */
    }
}

/* Lazy initialisation starts from UNINIT only: after nblog_shutdown (DOWN)
 * only the program's own nblog_init brings nblog back, with its options.
 * Its threshold is the one nblog_level_set left, if it was called (before
 * any init nothing else changes the level); NBLOG_LEVEL still overrides it.
 * Racing another thread's init, waits for its ring (wait_for_ring). */
int nblog__init_lazily(int for_console)
{
    nblog_options_t o;
    nblog_options_init(&o);
    /* A threshold (relaxed); nblog_level_set on this thread is seen. */
    o.level = nblog_level_get();
    int rc = init_from(UNINIT, &o, for_console);
    if (rc == NBLOG_EALREADY)
        wait_for_ring();
    return rc;
}

void nblog__init_wait(void)
{
    wait_for_ring();
}

/* The logging calls' ring once their own load of nblog__life.log_ring
 * found none (log.c current_ring): initialising lazily on first use (or
 * waiting for another thread's init); NULL if not ready. */
struct nblog__ring_hdr *nblog__life_ring_wait(void)
{
    /* The initialiser: the ring once mapped (STARTING). M2, acquire: pairs
     * with M1, map_ring's release store (init_here is set before the CAS, so
     * this may be a thread about to lose it). */
    if (init_here)
        return atomic_load_explicit(&nblog__life.ring, memory_order_acquire);
    /* Relaxed: which way only; init_from's CAS and wait_for_ring order.
     * After a shutdown (DOWN) no init work at all. */
    if (atomic_load_explicit(&nblog__life.state, memory_order_relaxed) == UNINIT)
        nblog__init_lazily(0);
    else
        wait_for_ring(); /* at once unless MAPPING or STARTING */
    /* M4, acquire: pairs with M3 (after our own init, or another thread's). */
    return atomic_load_explicit(&nblog__life.log_ring, memory_order_acquire);
}

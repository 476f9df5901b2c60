/*
 * nblog.h - the whole public API of nblog, a non-blocking logging subsystem.
 *
 * A logging call stores a record into a preallocated lockless ring and
 * returns. It never waits for output, never allocates after init, makes no
 * system call in the common case and may be called from a signal handler.
 * Outputs ("consoles") read the ring, each at its own pace.
 *
 * Context notes used below:
 *   [signal-safe]  may be called from a signal handler, including one that
 *                  interrupted another nblog call on the same thread.
 *                  Stack: a logging call, printing included (a direct
 *                  console, an emergency push), uses about 4 KiB plus the
 *                  ring's longest text (nblog_options_t.text_max, 16 KiB
 *                  by default) in an optimised build, on top of the
 *                  kernel's signal frame (about 3.3 KiB on x86-64 with
 *                  AVX-512; at most getauxval(AT_MINSIGSTKSZ)). So give a
 *                  logging handler's alternate stack 8 KiB plus text_max:
 *                  24 KiB with the defaults, 8 KiB with a text_max of 472
 *                  (tests/test-signal.c checks both). The alternate stacks
 *                  nblog gives threads are 64 KiB. -O0 and sanitizer
 *                  builds need up to twice as much.
 *   [non-blocking] never waits for a lock, a console or another thread
 *                  (one exception: a logging call during another thread's
 *                  init waits for it, see "Logging").
 *   [blocking]     may sleep; not for signal handlers.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef NBLOG_H
#define NBLOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NBLOG_VERSION_MAJOR 0
#define NBLOG_VERSION_MINOR 1
#define NBLOG_VERSION_PATCH 0
#define NBLOG_VERSION_HEX                                                      \
    ((NBLOG_VERSION_MAJOR << 16) | (NBLOG_VERSION_MINOR << 8) |                \
     NBLOG_VERSION_PATCH)
#define NBLOG_VERSION_STRING "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define NBLOG_API __attribute__((visibility("default")))
#define NBLOG__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define NBLOG__NORETURN __attribute__((noreturn))
#define NBLOG__LIKELY(x) __builtin_expect(!!(x), 1)
#define NBLOG__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define NBLOG_API
#define NBLOG__PRINTF(f, a)
#define NBLOG__NORETURN
#define NBLOG__LIKELY(x) (x)
#define NBLOG__UNLIKELY(x) (x)
#endif

/* The library's version, for comparing with the header's at run time. */
NBLOG_API unsigned nblog_version(void);
NBLOG_API const char *nblog_version_string(void);

/* ------------------------------------------------------------------------
 * Levels: syslog's order, 0 is the most severe.
 * One list generates the enum, the names (nblog_level_name) and the parser
 * (nblog_level_parse) so they cannot drift apart.
 */
#define NBLOG_LEVEL_MAP(X)                                                     \
    X(EMERG, 0, "emerg")                                                       \
    X(ALERT, 1, "alert")                                                       \
    X(CRIT, 2, "crit")                                                         \
    X(ERR, 3, "err")                                                           \
    X(WARNING, 4, "warning")                                                   \
    X(NOTICE, 5, "notice")                                                     \
    X(INFO, 6, "info")                                                         \
    X(DEBUG, 7, "debug")

typedef enum nblog_level {
#define NBLOG__LEVEL_ENUM(name, value, str) NBLOG_LEVEL_##name = value,
    NBLOG_LEVEL_MAP(NBLOG__LEVEL_ENUM)
#undef NBLOG__LEVEL_ENUM
} nblog_level_t;

#define NBLOG_LEVEL_COUNT 8

/* "err" for 3; "invalid" for anything outside 0..7. [signal-safe] */
NBLOG_API const char *nblog_level_name(int level);
/* Parses a name ("warning", "warn", "err", "error", ...) or a digit 0..7.
 * Returns the level, or NBLOG_ELEVEL if the text names none. */
NBLOG_API int nblog_level_parse(const char *text);

/* ------------------------------------------------------------------------
 * Return values. Zero is success; positive values are "not stored, as you
 * asked"; negative values are errors, each saying what happened to the
 * record (see nblog_strerror for the text).
 */
#define NBLOG_ERRNO_MAP(X)                                                     \
    X(FILTERED, 1, "not stored: below the level threshold or rate limited")   \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOFMT, -2, "NULL format: a record saying so was stored")               \
    X(ELEVEL, -3, "level out of range: stored clamped to 0..7")               \
    X(EFORMAT, -4, "bad conversion in format: stored with it shown verbatim") \
    X(EARGS, -5,                                                               \
      "more conversions than arguments: stored, missing ones marked")          \
    X(ELOST, -6,                                                               \
      "record lost and counted (slot held by an unfinished writer, or no "     \
      "sequence number left)")                                                 \
    X(ENOTREADY, -7,                                                           \
      "nblog is not initialised or was shut down: not stored, counted")        \
    X(EALREADY, -8, "already initialised")                                    \
    X(ENOMEM, -9, "could not reserve memory for the ring")                    \
    X(EAGAIN, -10, "no record available yet")                                 \
    X(ECORRUPT, -11, "ring header or record is not valid")                    \
    X(ETRUNCATED, -12, "buffer too small: text truncated")                   \
    X(EBUSY, -13, "ring file is in use by another writer")                    \
    X(EFILE, -14,                                                              \
      "file could not be opened, allocated or mapped (errno says why)")        \
    X(ENOTRING, -15, "file is not an nblog ring (refused to overwrite it)")   \
    X(EVERSION, -16, "ring file has a newer or unknown layout version")       \
    X(ESTALE, -17,                                                             \
      "handle is stale: that console was unregistered, or that ring file "     \
      "replaced by a new one")                                                 \
    X(ESHORT, -18, "ring file is shorter than its header says (truncated)")

enum {
    NBLOG_OK = 0,
#define NBLOG__ERR_ENUM(name, value, str) NBLOG_##name = value,
    NBLOG_ERRNO_MAP(NBLOG__ERR_ENUM)
#undef NBLOG__ERR_ENUM
};

/* A sentence for any nblog return value. [signal-safe] */
NBLOG_API const char *nblog_strerror(int err);

/* ------------------------------------------------------------------------
 * Lifecycle.
 */
typedef struct nblog_options {
    /* Records the ring holds; rounded up to a power of two, at least 16.
     * 0 means 65536. */
    size_t ring_records;
    /* Bytes per record slot, header included; rounded up to a power of two
     * in 128..4096. 0 means 128: up to 88 bytes of text (or deferred
     * payload) per record inline, longer text spilled into the data area
     * (data_bytes). */
    size_t record_size;
    /* Runtime level threshold: records less severe (numerically greater)
     * are not stored. 0 in a zeroed struct means EMERG, so use
     * nblog_options_init() to get the defaults (INFO). */
    int level;
    /* syslog facility (0..23) recorded with each record, and so used by
     * every syslog and journald console that does not set its own
     * (nblog_syslog_opts_t.facility -1, the default). Default 1 (user). */
    int facility;
    /* Records at this level or more severe are flagged NBLOG_F_EMERGENCY
     * (pushed to consoles at once). Default NBLOG_LEVEL_CRIT. */
    int emergency_level;
    /* Fatal-signal handlers (see nblog_panic): 0 installs them for
     * SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT; NBLOG_CRASH_TERM adds
     * SIGTERM and SIGINT; NBLOG_CRASH_NONE installs none. */
    unsigned crash_handlers;
    /* Bound on a panic flush, in ms; 0 means 3000. */
    unsigned panic_timeout_ms;
    /* Alternate signal stacks reserved for threads that log (64 KiB each
     * plus a guard page, address space only until used); 0 means 64. */
    unsigned signal_stacks;
    /* Place the ring in this file, shared (mmap MAP_SHARED), so that tools
     * (`nblog dmesg`) can read it while the program runs and after it
     * died. A name without '/' goes under /dev/shm (survives the process,
     * not a reboot); give a path on disk to survive a reboot. Created
     * exclusively (O_EXCL) and 0600 whatever the umask, fully allocated and
     * prefaulted; a symlink at the name is never followed, and an existing
     * file must be private (see nblog_init). NULL: the NBLOG_RING environment
     * variable if set (read at init, including lazy init), else anonymous
     * memory; an NBLOG_RING file that cannot be the ring (any error below)
     * gets one line on stderr, "nblog: NBLOG_RING=... not used: why", and
     * the ring is anonymous (init succeeds). The path is not kept after
     * nblog_init returns. */
    const char *ring_path;
    /* The consoles init registers by itself (see "Consoles at init"
     * below): 0 for NBLOG_CONSOLES's, else one on stderr;
     * NBLOG_NO_DEFAULT_CONSOLE: no stderr console (NBLOG_CONSOLES is
     * still read); NBLOG_NO_ENV_CONSOLES: NBLOG_CONSOLES is not read (for
     * a program that reads it itself). Both: init registers none. */
    unsigned console_defaults;
    /* The program's name, for every syslog and journald console that does
     * not name itself (nblog_syslog_opts_t.app_name) and the line formats
     * that show it: 1..48 bytes of printable ASCII without spaces (else
     * NBLOG_EINVAL). NULL: the executable's short name
     * (program_invocation_short_name, other bytes as '_'). Copied. */
    const char *program;
    /* Longest text a record holds, truncation marker included (longer is
     * cut, NBLOG_F_TRUNCATED): at most NBLOG_TEXT_MAX_LIMIT (more:
     * NBLOG_EINVAL); 0 means 16384. Without a data area it is at most a
     * slot's inline room (record_size - 40). */
    size_t text_max;
    /* Bytes of the data area, where text longer than a slot's inline room
     * goes, in 64-byte granules taken round-robin: rounded up to a power
     * of two, raised to hold two records of text_max; at most 1 GiB
     * (more: NBLOG_EINVAL); 0: no data area. nblog_options_init: 4 MiB. A
     * record whose granules are still pinned by an unfinished writer, or
     * already taken by a newer record, is stored cut to its inline room
     * (NBLOG_F_TRUNCATED) and counted in nblog_stats.spill_cut; a reader
     * that finds a record's spilled text overwritten counts the record
     * missed, as if the ring had lapped it (never a torn record). */
    size_t data_bytes;
} nblog_options_t;

#define NBLOG_CRASH_NONE 0x1u /* install no fatal-signal handler */
#define NBLOG_CRASH_TERM 0x2u /* also handle SIGTERM and SIGINT */
#define NBLOG_NO_DEFAULT_CONSOLE 0x1u /* console_defaults: no stderr console */
#define NBLOG_NO_ENV_CONSOLES 0x2u    /* console_defaults: ignore NBLOG_CONSOLES */

/* Limits of nblog_options_t (nblog_init refuses more records or bytes
 * with NBLOG_EINVAL, and raises fewer records to the minimum) and of any
 * ring a reader may meet: records per ring, bytes per record (header
 * included), and the sequence limit (see nblog_init). */
#define NBLOG_RECORDS_MIN 16u
#define NBLOG_RECORDS_MAX (1u << 24)
#define NBLOG_RECORD_SIZE_MAX 4096u
#define NBLOG_SEQ_LIMIT ((uint64_t)1 << 62)
/* The longest text_max (nblog_options_t), and so the longest text any
 * record of any ring holds: a reader's buffer of NBLOG_TEXT_MAX_LIMIT + 1
 * bytes takes any record whole. */
#define NBLOG_TEXT_MAX_LIMIT 16384u
#define NBLOG_DATA_BYTES_MAX ((size_t)1 << 30)

/*
 * Order across threads: every record gets its seq when its writer
 * reserves it (one atomic counter for the whole ring), and the seq is the
 * one total order: every console, reader and the panic flush print in
 * seq order, each record once or counted missed. A record's timestamp is
 * taken before it reserves its seq, so across threads time is not
 * monotone in seq: a writer preempted between its clock read and its
 * reservation gets a later seq than records stamped after it. Within one
 * thread both grow together (a signal handler's record interrupting a
 * writer has its own, later, seq).
 */

/* Fills *opt with the defaults. [signal-safe] */
NBLOG_API void nblog_options_init(nblog_options_t *opt);

/*
 * nblog_init - map and prefault the ring, calibrate the clock.
 * opt may be NULL for the defaults. [blocking] (touches every page once).
 * Returns NBLOG_OK; NBLOG_EINVAL for a bad option (nothing changed);
 * NBLOG_EALREADY if initialised (explicitly or lazily by an earlier logging
 * call): the existing ring stays, call nblog_shutdown() first to change it;
 * NBLOG_ENOMEM if the memory could not be mapped.
 * With a ring file from ring_path (from NBLOG_RING: one stderr line and an
 * anonymous ring instead, see ring_path):
 *   NBLOG_EBUSY     another process has the file open as a writer (it is
 *                   write-locked (fcntl F_OFD_SETLK) while its writer runs);
 *                   that writer is not disturbed. Use another file.
 *   NBLOG_EFILE     open/lock/posix_fallocate/mmap failed; errno says why
 *                   (e.g. ENOSPC, EACCES). Also, with nothing written:
 *                   errno ELOOP: the name is a symlink (never followed);
 *                   errno EPERM: the file is not private: another user's
 *                   (not the effective uid's), readable or writable by group
 *                   or others (e.g. 0666), or with more than one hard link.
 *                   Remove it, or chmod 600 a file of your own.
 *   NBLOG_ENOTRING  the file exists and is not an nblog ring: not empty and
 *                   without the ring's magic, or not a regular file at all
 *                   (a FIFO or device; a directory is NBLOG_EFILE, errno
 *                   EISDIR, and so is a socket, which open() refuses with
 *                   ENXIO): it is left untouched.
 *   NBLOG_EVERSION  the file is a ring of a newer layout: left untouched.
 * An existing ring file with the same sizes is resumed: its records stay
 * readable and the sequence continues. One with other sizes is
 * reformatted, the sequence continuing from its head. A ring whose header
 * is impossible (sizes, offsets, head below first_seq, first_seq or head
 * past the sequence limit below) is replaced by a new file from seq 0, never
 * used half-way; in a resumed one, slot contents no writer could have left
 * are dropped, and seqs below head that no slot holds are counted missed
 * by readers rather than waited for. Sequence numbers stop at 2^62 (a slot keeps seq
 * << 2; 146 years at a billion records a second): at the limit every
 * logging call returns NBLOG_ELOST (counted in nblog_stats.lost and in
 * nblog_stats.reserved, which may pass 2^62 by the refusals; readers see
 * head stay at 2^62), and the next nblog_init on the file replaces it
 * with a new file from seq 0. The file stays
 * locked until nblog_shutdown (the next nblog_init if a printer was stuck)
 * or the process exits. The lock is the writer process's alone: a child
 * made by fork() goes on in a private ring and holds no lock, so a writer
 * that forks long-lived workers and exits can be restarted while they run.
 *
 * Logging before nblog_init initialises lazily with the defaults (the first
 * caller does it, whatever its level: NBLOG_LEVEL applies to that call
 * too), and with the threshold nblog_level_set left if it was called
 * (NBLOG_LEVEL overrides it as it overrides opt->level; nblog_init's
 * opt->level, explicit, replaces it). A logging call on another thread
 * meanwhile (or during another thread's nblog_init) waits for that init
 * to finish, consoles at init included, up to 1 s, so its record is stored
 * and printed; past that second, or if the init fails, it returns
 * NBLOG_ENOTREADY (counted). On the initialising thread itself (a signal
 * handler that interrupted the init) it never waits: NBLOG_ENOTREADY
 * while the ring is being mapped, stored once the consoles are starting.
 * Nor does it wait where the init would have to wait for it: in a
 * console's setup callback, or a signal handler that interrupted a
 * console's registration or unregistration (nblog holds the console
 * list's lock there, which init needs): NBLOG_ENOTREADY at once until the
 * init is over. nblog_console_register on another thread waits for the
 * init (the same second) before it calls setup, so a setup that logs is
 * stored. A call the threshold filters never waits (NBLOG_FILTERED; only
 * the very first call, before any init, initialises before it is judged).
 * A child forked while another thread initialises does not inherit that
 * init: if the ring was not yet published, the child starts afresh (its
 * first call or nblog_init initialises; nblog_init again after a
 * shutdown); else it logs into that ring, with the consoles at init that
 * were registered by then.
 * That first call maps memory, calibrates the clock (~5 ms), registers a
 * fork handler and starts the consoles below (a printer thread each, a
 * malloc'ed batch, and whatever NBLOG_CONSOLES names: a file to open, a
 * host name to resolve), which is not async-signal-safe: a program whose
 * signal handlers may log before anything else does should call nblog_init
 * first. It runs on the calling thread, holding no lock of the program's
 * and calling none of its code; the threads it starts (a printer per
 * console, the stall watch) take none of the program's signals (see
 * nblog_console_register).
 *
 * Consoles at init. Every init (nblog_init, lazy init, the first after a
 * shutdown) registers consoles by itself, so a program that only logs gets
 * readable lines on stderr and any program can be configured without code:
 *   1. NBLOG_CONSOLES set and not empty (and console_defaults without
 *      NBLOG_NO_ENV_CONSOLES): the consoles its ';'-separated specs name
 *      (see "Console specs"); "none": no console at all. They are the
 *      user's: they stay whatever the program registers.
 *   2. Otherwise, unless console_defaults has NBLOG_NO_DEFAULT_CONSOLE, or
 *      the init was made by the program registering a console of its own
 *      before anything else, or fd 2 is not open: the default console,
 *      "stderr" (threaded, every level, the human format where nblog has
 *      one, else plain). It and the consoles of "stderr" specs
 *      (NBLOG_CONSOLES, nblog_console_from_spec) write only while fd 2 is
 *      the file it was when they were registered: once the program closes
 *      it and the number goes to another file (a daemon's database), or
 *      points it elsewhere, their writes fail (write_failed, last_error
 *      -ESTALE) and nothing goes into that file. (nblog_console_stderr,
 *      nblog_console_fd(2) and "fd:2" follow fd 2.) nblog holds none of
 *      fds 0-2 (each descriptor it opens is moved to 3 or above) and opens
 *      them all close-on-exec.
 *   3. The first console the program registers itself (any
 *      nblog_console_* call, nblog_console_from_spec,
 *      nblog_consoles_from_env) replaces the default console: once the new
 *      one is registered, the default prints the records stored before it
 *      (waiting a second at most for it, not at all if it is suspended)
 *      and is unregistered; so a record goes to one of them, never to
 *      neither unless the default was stuck that second (records other
 *      threads store in that instant may go to both).
 *      A program that registers its own consoles gets no duplicate lines.
 * NBLOG_LEVEL set and not empty (a level name or 0..7, see
 * nblog_level_parse) overrides opt->level: the runtime threshold, which
 * nblog_level_set may still change. A bad NBLOG_CONSOLES (a spec that does
 * not parse or cannot be registered) or NBLOG_LEVEL gets one line on
 * stderr, "nblog: NBLOG_... ", saying why and what is used instead, and
 * loses nothing: none of that NBLOG_CONSOLES is used (consoles it
 * registered are unregistered) and rule 2 applies; a bad NBLOG_LEVEL
 * leaves opt->level. NBLOG_RING is read at init too (see ring_path: a
 * file that cannot be the ring gets one line, and an anonymous ring). The
 * variables are read once per init, with getenv (a program that changes
 * its environment from another thread meanwhile races with it).
 */
NBLOG_API int nblog_init(const nblog_options_t *opt);

/*
 * nblog_shutdown - flush the consoles (1 s at most), unregister them all,
 * and stop storing records. Later logging calls return NBLOG_ENOTREADY and
 * are counted (nblog_stats.not_ready); they never crash. Registering a
 * console returns NBLOG_ENOTREADY too: nothing initialises lazily after a
 * shutdown, only the program's next nblog_init. Handles of the consoles it
 * unregistered are stale (NBLOG_ESTALE). The ring's memory
 * stays mapped until the next nblog_init, so a call that raced with
 * shutdown finishes safely (and if a console's printer is stuck in its
 * write, that memory is never reused). [blocking]
 */
NBLOG_API void nblog_shutdown(void);

/* ------------------------------------------------------------------------
 * Logging. All of these are [signal-safe] [non-blocking], allocate nothing
 * and make no system call in the common case (lazy init makes a few), with
 * two exceptions, neither async-signal-safe: the call that initialises
 * lazily, and a forked child's first call, which restarts the child's
 * printer threads (see nblog_init; call nblog_init, or in the child
 * nblog_flush(0, NULL, 0), first where a signal handler may log first).
 * The one exception to [non-blocking]: a call made while another thread
 * initialises (lazily or by nblog_init, until its consoles at init are
 * registered) waits for that init, polling with nanosleep (signal-safe),
 * 1 s at most, instead of returning NBLOG_ENOTREADY (see nblog_init). It
 * never waits for a shutdown, on the initialising thread itself, in a
 * console's setup callback or under a console (un)registration, nor when
 * the threshold filters it.
 *
 * Return: NBLOG_OK; NBLOG_FILTERED; or one of the negative codes above,
 * which say whether the record was stored (ENOFMT, ELEVEL, EFORMAT, EARGS:
 * stored, marked) or not (ELOST, ENOTREADY: counted in nblog_stats).
 *
 * Formats: printf's d i u x X o c s p % and f F e E g G a A, with flags,
 * width, precision ('*' too) and length modifiers, rendered as glibc's
 * snprintf renders them in the C locale; glibc's %m (errno's text as it was
 * at the call; %#m its name), %C and %S. Never executed: %n. A spec nblog
 * refuses never shifts the arguments (NBLOG_EFORMAT, record marked): %n and
 * a width or precision past INT_MAX take their arguments by their C types
 * and are shown verbatim; after a spec whose arguments cannot be known (an
 * unknown conversion like %y, positional %1$d) the rest of the format is
 * shown verbatim and nothing more is converted. A logging call leaves
 * errno as it found it.
 */
NBLOG_API int nblog_printf(int level, const char *fmt, ...) NBLOG__PRINTF(2, 3);
NBLOG_API int nblog_vprintf(int level, const char *fmt, va_list ap) NBLOG__PRINTF(2, 0);

/*
 * nblog_write - store len bytes as one record's text, as they are: no
 * format ('%' is an ordinary byte), and NUL bytes are stored like any other
 * (outputs escape them as \x00, as every control byte; a reader's
 * nblog_record_t.len counts them, and its text stays NUL-terminated after
 * them). What `nblog pipe` stores for each line of its input. Bytes past
 * what a record holds (nblog_stats.text_max) are cut on a UTF-8 boundary,
 * the text ends with NBLOG_TRUNC_MARKER and the record is flagged
 * NBLOG_F_TRUNCATED. bytes may be NULL with len 0 (an empty record); NULL
 * with len > 0 stores a record saying so, flagged NBLOG_F_BADINPUT, and
 * returns NBLOG_ENOFMT. Level, threshold, return values and context as
 * nblog_printf: [signal-safe] [non-blocking], no allocation, no system
 * call in the common case, errno left as it was.
 */
NBLOG_API int nblog_write(int level, const void *bytes, size_t len);

/* Like nblog_printf, told how many arguments follow fmt, so a format with
 * more conversions than arguments is caught at run time (NBLOG_EARGS) rather
 * than reading past the arguments. The nblog_printf macro below passes the
 * count for you; take (nblog_printf) in parentheses for the plain function. */
NBLOG_API int nblog__printf_n(int level, int nargs, const char *fmt, ...)
    NBLOG__PRINTF(3, 4);

/*
 * nblog_vsyslog - syslog(3)'s way in: priority is LOG_MAKEPRI(facility,
 * level) as syslog(3) takes it (<syslog.h>); facility bits 0 (or not a
 * facility, above LOG_LOCAL7) give the process's (nblog_options_t.facility),
 * as glibc's syslog does. The record carries that facility, which syslog
 * and journald consoles show unless they name their own. Otherwise as
 * nblog_vprintf. What libnblog-syslog.so's syslog(3) calls.
 */
NBLOG_API int nblog_vsyslog(int priority, const char *fmt, va_list ap) NBLOG__PRINTF(2, 0);

/*
 * Call sites. The logging macros (nblog_printf, nblog_info and the other
 * per-level ones, NBLOG_INFO and the deferred ones) keep, per call site, a
 * static nblog__where_t with __FILE__, __LINE__ and __func__: constants,
 * so a call passes one pointer. Its first call in a ring writes the
 * location into the ring's call-site table and caches the entry's index;
 * each record then carries that index, which readers (also of a ring file,
 * in another process, after the writer is gone) turn back into file, line
 * and function (nblog_record_t's file, line, func; the formats show them: see
 * nblog_console_opts_t.show, the pattern's %s %# %!, json's "file",
 * "line", "func", journald's CODE_FILE, CODE_LINE, CODE_FUNC, RFC 5424's
 * structured data). Define NBLOG_NO_LOCATION before including this header
 * for calls without one (nblog_printf is then the plain expression it was,
 * usable where a statement expression is not, such as a file-scope
 * initializer in C++).
 */
typedef struct nblog__where {
    const char *file;
    const char *func;
    unsigned line;
    unsigned spare_;  /* 0 */
    uint64_t cache;   /* atomic: the ring's site_gen << 32 | its site, 0: none yet */
} nblog__where_t;

/* nblog__printf_n with the call site's location. */
NBLOG_API int nblog__printf_at(nblog__where_t *where, int level, int nargs,
                               const char *fmt, ...) NBLOG__PRINTF(4, 5);

/* Counts macro arguments (1..64). */
#define NBLOG__NARG(...)                                                       \
    NBLOG__NARG_(__VA_ARGS__, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53,  \
                 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38,   \
                 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23,   \
                 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7,  \
                 6, 5, 4, 3, 2, 1, 0)
#define NBLOG__NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13,   \
                     _14, _15, _16, _17, _18, _19, _20, _21, _22, _23, _24,    \
                     _25, _26, _27, _28, _29, _30, _31, _32, _33, _34, _35,    \
                     _36, _37, _38, _39, _40, _41, _42, _43, _44, _45, _46,    \
                     _47, _48, _49, _50, _51, _52, _53, _54, _55, _56, _57,    \
                     _58, _59, _60, _61, _62, _63, _64, N, ...)                \
    N

/* nblog_printf(level, fmt, args...): the argument count (fmt included) is
 * passed along so missing arguments are detected, and the call site's
 * location (above). */
#ifdef NBLOG_NO_LOCATION
#define NBLOG__SITE_WHERE {0, 0, 0, 0, 0}
#define nblog_printf(level, ...)                                               \
    nblog__printf_n((level), NBLOG__NARG(__VA_ARGS__) - 1, __VA_ARGS__)
#else
#define NBLOG__WHERE_INIT {__FILE__, __func__, __LINE__, 0, 0}
#define NBLOG__SITE_WHERE NBLOG__WHERE_INIT
#define nblog_printf(level, ...)                                               \
    __extension__({                                                            \
        static nblog__where_t nblog__where_ = NBLOG__WHERE_INIT;               \
        nblog__printf_at(&nblog__where_, (level),                              \
                         NBLOG__NARG(__VA_ARGS__) - 1, __VA_ARGS__);           \
    })
#endif

/*
 * Compile-time stripping: calls through the per-level macros below whose
 * level is less severe than NBLOG_COMPILE_LEVEL compile to nothing (their
 * arguments are still type-checked, never evaluated). Define it before
 * including this header; the default keeps everything.
 */
#ifndef NBLOG_COMPILE_LEVEL
#define NBLOG_COMPILE_LEVEL NBLOG_LEVEL_DEBUG
#endif

#ifdef NBLOG_NO_LOCATION
#define NBLOG__AT(level, ...)                                                  \
    ((level) <= NBLOG_COMPILE_LEVEL ? nblog_printf((level), __VA_ARGS__)       \
                                    : NBLOG_FILTERED)
#else
/* A statement expression (as nblog_printf is here): a stripped call used as
 * a statement is then no "statement with no effect" for gcc -Wall. */
#define NBLOG__AT(level, ...)                                                  \
    __extension__({                                                            \
        (level) <= NBLOG_COMPILE_LEVEL ? nblog_printf((level), __VA_ARGS__)    \
                                       : NBLOG_FILTERED;                       \
    })
#endif

#define nblog_emerg(...) NBLOG__AT(NBLOG_LEVEL_EMERG, __VA_ARGS__)
#define nblog_alert(...) NBLOG__AT(NBLOG_LEVEL_ALERT, __VA_ARGS__)
#define nblog_crit(...) NBLOG__AT(NBLOG_LEVEL_CRIT, __VA_ARGS__)
#define nblog_err(...) NBLOG__AT(NBLOG_LEVEL_ERR, __VA_ARGS__)
#define nblog_warning(...) NBLOG__AT(NBLOG_LEVEL_WARNING, __VA_ARGS__)
#define nblog_notice(...) NBLOG__AT(NBLOG_LEVEL_NOTICE, __VA_ARGS__)
#define nblog_info(...) NBLOG__AT(NBLOG_LEVEL_INFO, __VA_ARGS__)
#define nblog_debug(...) NBLOG__AT(NBLOG_LEVEL_DEBUG, __VA_ARGS__)

/* Runtime threshold: records with level > threshold are not stored.
 * Returns the previous threshold, or NBLOG_ELEVEL (nothing changed) for a
 * value outside 0..7. Set before any init, it is the threshold lazy init
 * starts with (unless NBLOG_LEVEL is set); nblog_init sets opt->level.
 * [signal-safe] */
NBLOG_API int nblog_level_set(int level);
NBLOG_API int nblog_level_get(void);

/* ------------------------------------------------------------------------
 * Deferred logging: NBLOG_INFO("iteration %d value %f name %s", i, d, s).
 *
 * The format must be a string literal. The caller copies the format and its
 * arguments into the record (%s strings are copied at call time, bounded by
 * any precision); a reader renders the text later, exactly as nblog_printf
 * would have. Each call site parses its format once, on first use, into a
 * static descriptor (lock-free, allocation-free, safe from signal
 * handlers). %m copies errno at call time. Formats a deferred call cannot
 * copy (wide %lc/%ls, refused specs such as %n) and records too long to
 * hold their arguments are formatted at once instead, with the same
 * result. At most NBLOG_MAX_ARGS arguments (a '*' counts, and so does a
 * %m: a format with more is formatted at once): more arguments is a
 * compile-time error.
 * Same context and return values as nblog_printf. [signal-safe]
 */
#define NBLOG_MAX_ARGS 16

/* Internal: the per-call-site descriptor the macros keep. */
#define NBLOG__K_INT 1     /* int, or promoted to it */
#define NBLOG__K_LONG 2    /* an integer wider than int (long long, ...) */
#define NBLOG__K_DOUBLE 3
#define NBLOG__K_LDOUBLE 4
#define NBLOG__K_PTR 5
#define NBLOG__K_STR 6
#define NBLOG__K_ERRNO 7   /* %m: no argument; the caller's errno is copied */
#define NBLOG__STRMAX_NONE 0xffffu
struct nblog__argdesc {
    unsigned char kind;           /* NBLOG__K_* */
    unsigned char prec_from_prev; /* %.*s: the previous argument bounds it */
    unsigned short strmax;        /* %.Ns: N; else NBLOG__STRMAX_NONE */
};
typedef struct nblog__site {
    nblog__where_t where; /* the call site's location (NBLOG__WHERE_INIT) */
    unsigned state; /* atomic: 0 new, 1 being published, 2 ready, 3 format */
    unsigned char nargs;  /* entries in args[] */
    unsigned char nvargs; /* of them, C arguments (all but NBLOG__K_ERRNO) */
    unsigned short fmt_len; /* strlen(fmt) + 1 */
    struct nblog__argdesc args[NBLOG_MAX_ARGS];
} nblog__site_t;

NBLOG_API int nblog__defer(nblog__site_t *site, int level, int nargs,
                           const char *fmt, ...) NBLOG__PRINTF(4, 5);

/* A compile-time check usable inside an expression statement, in C11 and
 * in C++11 and later (C++ spells it static_assert, and has no _Static_assert
 * until compilers chose to accept it). */
#ifdef __cplusplus
#define NBLOG__STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define NBLOG__STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#if !defined(__cplusplus) && defined(__STDC_VERSION__) &&                      \
    __STDC_VERSION__ >= 201112L
/*
 * From C the macros make each argument one 64-bit word at the call site
 * (C11 _Generic: an integer or pointer, of any type, as its uintptr_t
 * value, sign-extended from a signed type; float, double and long double
 * as a double's bits, as a variadic call's promotion and the deferred
 * record's copy make them) and call nblog__defer_words, which has no
 * va_list to walk: the site descriptor still says what each word is for
 * (%s copies the string it points to, %p only the pointer). nargs words,
 * words[nargs] is a 0 there to keep the array non-empty. The format is
 * checked against the arguments at compile time through
 * nblog__format_check, in sizeof (never called, never defined). C++
 * calls nblog__defer.
 */
NBLOG_API int nblog__defer_words(nblog__site_t *site, int level, int nargs,
                                 const char *fmt, const uint64_t *words);
int nblog__format_check(const char *fmt, ...) NBLOG__PRINTF(1, 2);

static inline uint64_t nblog__word_f64(double v)
{
    uint64_t w;
    __builtin_memcpy(&w, &v, sizeof w);
    return w;
}
/* x when floating, else 0.0 / x when not floating, else 0: every branch of
 * NBLOG__WORD is then valid for x of any scalar type. */
#define NBLOG__FP(x)                                                           \
    _Generic((x), float: (x), double: (x), long double: (x), default: 0.0)
#define NBLOG__NOFP(x)                                                         \
    _Generic((x), float: 0, double: 0, long double: 0, default: (x))
#define NBLOG__WORD(x)                                                         \
    _Generic((x),                                                              \
        float: nblog__word_f64(NBLOG__FP(x)),                                  \
        double: nblog__word_f64(NBLOG__FP(x)),                                 \
        long double: nblog__word_f64((double)NBLOG__FP(x)),                    \
        default: (uint64_t)(uintptr_t)(NBLOG__NOFP(x)))

/* NBLOG__WORDS(fmt, args...): "NBLOG__WORD(arg), " per argument; up to
 * NBLOG_MAX_ARGS (more is the static assertion's error, NBLOG__W_X). */
#define NBLOG__W1(f)
#define NBLOG__W2(f, a) NBLOG__WORD(a),
#define NBLOG__W3(f, a, ...) NBLOG__WORD(a), NBLOG__W2(f, __VA_ARGS__)
#define NBLOG__W4(f, a, ...) NBLOG__WORD(a), NBLOG__W3(f, __VA_ARGS__)
#define NBLOG__W5(f, a, ...) NBLOG__WORD(a), NBLOG__W4(f, __VA_ARGS__)
#define NBLOG__W6(f, a, ...) NBLOG__WORD(a), NBLOG__W5(f, __VA_ARGS__)
#define NBLOG__W7(f, a, ...) NBLOG__WORD(a), NBLOG__W6(f, __VA_ARGS__)
#define NBLOG__W8(f, a, ...) NBLOG__WORD(a), NBLOG__W7(f, __VA_ARGS__)
#define NBLOG__W9(f, a, ...) NBLOG__WORD(a), NBLOG__W8(f, __VA_ARGS__)
#define NBLOG__W10(f, a, ...) NBLOG__WORD(a), NBLOG__W9(f, __VA_ARGS__)
#define NBLOG__W11(f, a, ...) NBLOG__WORD(a), NBLOG__W10(f, __VA_ARGS__)
#define NBLOG__W12(f, a, ...) NBLOG__WORD(a), NBLOG__W11(f, __VA_ARGS__)
#define NBLOG__W13(f, a, ...) NBLOG__WORD(a), NBLOG__W12(f, __VA_ARGS__)
#define NBLOG__W14(f, a, ...) NBLOG__WORD(a), NBLOG__W13(f, __VA_ARGS__)
#define NBLOG__W15(f, a, ...) NBLOG__WORD(a), NBLOG__W14(f, __VA_ARGS__)
#define NBLOG__W16(f, a, ...) NBLOG__WORD(a), NBLOG__W15(f, __VA_ARGS__)
#define NBLOG__W17(f, a, ...) NBLOG__WORD(a), NBLOG__W16(f, __VA_ARGS__)
#define NBLOG__W_X(...)
#define NBLOG__WCOUNT(...)                                                     \
    NBLOG__NARG_(__VA_ARGS__, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X,  \
                 _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X,   \
                 _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X, _X,   \
                 _X, _X, _X, _X, _X, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7,  \
                 6, 5, 4, 3, 2, 1, 0)
#define NBLOG__CAT(a, b) NBLOG__CAT_(a, b)
#define NBLOG__CAT_(a, b) a##b
#define NBLOG__WORDS(...)                                                      \
    NBLOG__CAT(NBLOG__W, NBLOG__WCOUNT(__VA_ARGS__))(__VA_ARGS__)
#define NBLOG__FIRST(f, ...) f

#define NBLOG__DEFER_CALL(site, level, ...)                                    \
    ((void)sizeof(nblog__format_check(__VA_ARGS__)),                           \
     nblog__defer_words((site), (level), NBLOG__NARG(__VA_ARGS__) - 1,         \
                        "" NBLOG__FIRST(__VA_ARGS__, ~),                       \
                        (const uint64_t[]){NBLOG__WORDS(__VA_ARGS__) 0}))
#else
#define NBLOG__DEFER_CALL(site, level, ...)                                    \
    nblog__defer((site), (level), NBLOG__NARG(__VA_ARGS__) - 1, "" __VA_ARGS__)
#endif

#define NBLOG__DEFER(level, ...)                                               \
    __extension__({                                                            \
        NBLOG__STATIC_ASSERT(NBLOG__NARG(__VA_ARGS__) - 1 <= NBLOG_MAX_ARGS,   \
                             "nblog: too many arguments for a deferred log "   \
                             "call (NBLOG_MAX_ARGS is 16); use nblog_printf"); \
        static nblog__site_t nblog__site_ = {                                  \
            NBLOG__SITE_WHERE, 0, 0, 0, 0, {{0, 0, 0}}};                       \
        (level) <= NBLOG_COMPILE_LEVEL                                         \
            ? NBLOG__DEFER_CALL(&nblog__site_, (level), __VA_ARGS__)           \
            : NBLOG_FILTERED;                                                  \
    })

#define NBLOG_EMERG(...) NBLOG__DEFER(NBLOG_LEVEL_EMERG, __VA_ARGS__)
#define NBLOG_ALERT(...) NBLOG__DEFER(NBLOG_LEVEL_ALERT, __VA_ARGS__)
#define NBLOG_CRIT(...) NBLOG__DEFER(NBLOG_LEVEL_CRIT, __VA_ARGS__)
#define NBLOG_ERR(...) NBLOG__DEFER(NBLOG_LEVEL_ERR, __VA_ARGS__)
#define NBLOG_WARNING(...) NBLOG__DEFER(NBLOG_LEVEL_WARNING, __VA_ARGS__)
#define NBLOG_NOTICE(...) NBLOG__DEFER(NBLOG_LEVEL_NOTICE, __VA_ARGS__)
#define NBLOG_INFO(...) NBLOG__DEFER(NBLOG_LEVEL_INFO, __VA_ARGS__)
#define NBLOG_DEBUG(...) NBLOG__DEFER(NBLOG_LEVEL_DEBUG, __VA_ARGS__)
#define NBLOG_LOG(level, ...) NBLOG__DEFER((level), __VA_ARGS__)

/* ------------------------------------------------------------------------
 * Rate limiting, like the kernel's printk_ratelimited: at most `burst`
 * records per window from one call site, however many threads call it. A
 * window opens at the first call after the last one ended and lasts
 * `interval_ms` (up to ~2 ms more, never less). The first record let
 * through after suppressions is preceded by "N messages suppressed".
 * interval_ms 0: no limit; burst 0: every call is suppressed (a notice
 * still comes at the first call of each window); a burst above 16777215
 * counts as that. Lock-free and [signal-safe]; the bound and the count of
 * suppressed calls are exact.
 */
typedef struct nblog_ratelimit {
    uint32_t interval_ms;
    uint32_t burst;
    uint64_t window;     /* atomic: the current window's start and passes */
    uint32_t spare;      /* unused (0) */
    uint32_t suppressed; /* atomic: suppressed, not yet reported */
} nblog_ratelimit_t;

#define NBLOG_RATELIMIT_INIT(interval_ms, burst) {(interval_ms), (burst), 0, 0, 0}
#define NBLOG_RATELIMIT_INTERVAL_MS 5000
#define NBLOG_RATELIMIT_BURST 10

/* Returns 1 if a call may go through now (storing the "suppressed" notice
 * at `level` first if any were), 0 if it must be suppressed (counted). */
NBLOG_API int nblog_ratelimit_pass(nblog_ratelimit_t *rs, int level);

#define nblog_printf_ratelimited(level, ...)                                   \
    __extension__({                                                            \
        static nblog_ratelimit_t nblog__rs_ = NBLOG_RATELIMIT_INIT(            \
            NBLOG_RATELIMIT_INTERVAL_MS, NBLOG_RATELIMIT_BURST);               \
        nblog_ratelimit_pass(&nblog__rs_, (level))                             \
            ? nblog_printf((level), __VA_ARGS__)                               \
            : NBLOG_FILTERED;                                                  \
    })

/* ------------------------------------------------------------------------
 * Reading the store. A reader keeps its own position; it is never blocked by
 * writers and never blocks them. Records overwritten before it got to them
 * are counted, exactly, in `missed`.
 */

/* Record flags. */
#define NBLOG_F_SIGNAL 0x01    /* logged while this thread was inside nblog
                                  (a signal handler interrupted a call) */
#define NBLOG_F_EMERGENCY 0x02 /* level at or above the emergency threshold */
#define NBLOG_F_TRUNCATED 0x04 /* text was cut; it ends with the marker */
#define NBLOG_F_BADINPUT 0x08  /* the call had bad input (see the text) */
#define NBLOG_F_REPLAYED 0x10  /* never stored: an output line the panic flush
                                  printed again because it was in flight when
                                  the panic took the console (it may have been
                                  printed before, whole or in part) */

/* What a truncated text ends with. */
#define NBLOG_TRUNC_MARKER "[...]"

/* How an output line flagged NBLOG_F_REPLAYED says so: kmsg lines carry
 * ",replayed" after the flags field, RFC 5424 lines replayed="1" in their
 * structured data, journal entries NBLOG_REPLAYED=1; plain and RFC 3164
 * lines (no metadata) start the message with "[replayed] ". */
#define NBLOG_REPLAYED_MARK "replayed"

/* Payload kinds: how the record's bytes are to be rendered. */
#define NBLOG_KIND_TEXT 0     /* formatted by the caller */
#define NBLOG_KIND_DEFERRED 1 /* format and arguments, rendered by readers */

/*
 * Record times. A logging call reads one clock: ts_ns, CLOCK_MONOTONIC
 * nanoseconds taken from the CPU's time-stamp counter (no system call).
 * Wall-clock time (wall_ns, and every format that prints a date) is ts_ns
 * plus the offset of the record's own wall-clock epoch: the call also
 * stores which epoch was current (one load), and the ring keeps the last
 * 32 epochs with their offsets (CLOCK_REALTIME - ts_ns). A thread of
 * nblog's starts a new epoch when the system clock is set (date -s, an
 * NTP step, a leap second: the kernel tells it through a timerfd armed
 * with TFD_TIMER_CANCEL_ON_SET) and when the two clocks drifted apart by
 * more than 200 us (looked at every 5 s). So a step changes the time of
 * no record stored before it, and records after it show the new time; a
 * ring file keeps its epochs, so `nblog dmesg` in another process, after
 * a restart or a reboot, shows each record's time as it was.
 * Limits: a record stored in the moment between the step and the thread's
 * notice (one wake-up, normally microseconds) shows the old time, off by
 * the step; between checks times may be off by up to 200 us of drift; a
 * record whose epoch was recycled (32 newer ones since) takes the oldest
 * one kept, and is off by the steps and the drift in between (drift
 * epochs come at most every 5 s, typically far rarer: a long-lived ring
 * file's oldest records may be off by the drift since); a forked child learns of
 * steps again from its first logging call on (if its parent had
 * registered a console; else from its own nblog_init).
 */
/* What a record keeps of its call site: the function's first bytes, at
 * most NBLOG_SITE_FUNC_MAX, and the file's last ones (the end of a long
 * path) in the rest of NBLOG_SITE_FILE_MAX: all of it when the function
 * is empty, 112 - strlen(func) bytes otherwise. */
#define NBLOG_SITE_FILE_MAX 112
#define NBLOG_SITE_FUNC_MAX 47

typedef struct nblog_record {
    uint64_t seq;    /* sequence number, from 0 */
    uint64_t ts_ns;  /* CLOCK_MONOTONIC nanoseconds when stored */
    int64_t wall_ns; /* CLOCK_REALTIME nanoseconds of the record (Unix
                        time): ts_ns + its epoch's offset (see Record
                        times above); INT64_MIN or INT64_MAX if it cannot
                        be told (a corrupt ring file) */
    uint64_t missed; /* records lost just before this one for this reader */
    uint32_t tid;    /* kernel thread id of the writer */
    uint8_t level;
    uint8_t facility;
    uint8_t flags; /* NBLOG_F_* */
    uint8_t kind;  /* NBLOG_KIND_* */
    uint32_t len;  /* bytes of text, without the terminating NUL */
    uint32_t line; /* its call site's line (see Call sites); 0: none */
    const char *text; /* NUL-terminated, in the buffer given to read */
    /* Its call site's file and function; "" when the call had none
     * (nblog_write, nblog_vprintf, nblog_vsyslog, nblog's own notices,
     * NBLOG_NO_LOCATION) or the ring's site table had no room for it. */
    char file[NBLOG_SITE_FILE_MAX + 1];
    char func[NBLOG_SITE_FUNC_MAX + 1];
} nblog_record_t;

typedef struct nblog_reader {
    uint64_t next_seq; /* next sequence number to read */
    uint64_t missed;   /* total records this reader could not read */
    uint64_t read;     /* total records this reader returned */
    uint64_t missed_unreported; /* private: missed, not yet in a record */
    const void *ring;  /* the ring read from */
} nblog_reader_t;

#define NBLOG_FROM_OLDEST 0 /* start at the oldest record still stored */
#define NBLOG_FROM_NEXT 1   /* start at the next record to be stored */

/* Attaches to the process's ring. Returns NBLOG_OK or NBLOG_ENOTREADY.
 * [signal-safe] */
NBLOG_API int nblog_reader_open(nblog_reader_t *r, int from);

/*
 * nblog_reader_next - copy the next record into buf (its text, rendered,
 * NUL-terminated) and describe it in *rec. [signal-safe] [non-blocking]
 * Returns NBLOG_OK; NBLOG_EAGAIN if no record is ready yet (nothing newer
 * stored, or the next one is still being written); NBLOG_ETRUNCATED when buf
 * was too small (*rec filled, text cut, the record counts as read).
 * Records overwritten before they could be read are skipped and counted in
 * rec->missed and r->missed.
 */
NBLOG_API int nblog_reader_next(nblog_reader_t *r, nblog_record_t *rec, char *buf,
                      size_t bufsize);

/* The next sequence number the ring's writers hand out (at most
 * NBLOG_SEQ_LIMIT), as r's ring knows it: a reader of a live ring file
 * (nblog_ringfile_reader) sees the file's head as of the last
 * nblog_ringfile_wait or nblog_ringfile_info. A reader at NBLOG_EAGAIN
 * with next_seq below it stopped at a record still being written (or
 * never finished by a writer that died). 0 for a reader never opened.
 * [signal-safe] [non-blocking] */
NBLOG_API uint64_t nblog_reader_head(const nblog_reader_t *r);

/* Gives up on records their writers never finished: skips r->next_seq if
 * it is still being written (handed out, not committed), and each next seq
 * below `below` that is too, stopping at the first that is not. Returns
 * how many were skipped (0 if r->next_seq is readable, gone or not handed
 * out yet); they are added to r->missed, not to a later record's missed:
 * report them yourself. For a reader that waited long enough on one
 * record (`nblog dmesg --follow` gives a dead writer's record 2 s). A
 * record finished after all is never returned. [signal-safe]
 * [non-blocking] */
NBLOG_API uint64_t nblog_reader_skip(nblog_reader_t *r, uint64_t below);

/* ------------------------------------------------------------------------
 * Statistics. [signal-safe]
 */
typedef struct nblog_stats {
    uint64_t reserved;  /* reservations by writers: sequence numbers
                           handed out plus refusals at the sequence limit,
                           so reserved == committed + lost */
    uint64_t lost;      /* writers that could not store (NBLOG_ELOST),
                           sequence limit included (see nblog_init) */
    uint64_t not_ready; /* calls after shutdown, or that found no ring (see nblog_init) */
    uint64_t ring_records;
    uint64_t record_size;
    uint64_t text_max; /* longest text a record holds, marker included */
    uint64_t inline_max; /* longest text a record keeps in its slot alone */
    uint64_t data_bytes; /* of the data area (0: none) */
    uint64_t spill_cut;  /* records cut to their inline room: the granules
                            they would spill into were pinned or newer */
} nblog_stats_t;

NBLOG_API void nblog_stats_get(nblog_stats_t *st);

/* ------------------------------------------------------------------------
 * Consoles: outputs that read the store, each at its own pace.
 *
 * Each console has its own ownership word, read position (next seq), level
 * filter, counters and printer thread; a stuck console stops only itself.
 * See src/console.c for the ownership rules and the lifecycle.
 *
 * Handles: a nblog_console_t * is an opaque token, never NULL and not a
 * pointer to anything (do not dereference or free it). It names one
 * registration: once that console is unregistered (or nblog_shutdown
 * unregistered it), every call given the handle returns NBLOG_ESTALE and
 * touches nothing, even after a later registration reuses the console's
 * slot. NULL gets NBLOG_EINVAL, and so does a value no registration could
 * have returned (one that merely looks like a handle is not detected as
 * forged). Each call holds a reference on the console while it looks at
 * it, so it is safe against a concurrent unregister, whose teardown waits
 * for it.
 */
#include <sys/types.h> /* ssize_t */

typedef struct nblog_console nblog_console_t;

typedef struct nblog_console_ops {
    /* Writes len bytes (one or more whole lines). May block; runs on the
     * console's printer thread. Returns bytes written (a short count is
     * retried with the rest; a count above len is taken as len) or -errno:
     * -EINTR/-EAGAIN are retried, any other error counts the lines as
     * write_failed. Required. */
    ssize_t (*write)(void *ctx, const char *buf, size_t len);
    /* Optional: never blocks, async-signal-safe (e.g. write(2) on an
     * O_NONBLOCK fd). Used by direct mode, emergency records and panic.
     * Returns bytes written (as write) or -errno (-EAGAIN: would block, try
     * later). */
    ssize_t (*write_atomic)(void *ctx, const char *buf, size_t len);
    /* Optional: called once at registration (non-zero refuses it) and once
     * after unregistration, when the last user has let go, on a thread
     * that may block (the console's printer thread, the caller of
     * unregister, register or nblog_shutdown, or nblog's stall-watch
     * thread); never in a signal handler or a logging call. */
    int (*setup)(void *ctx);
    void (*teardown)(void *ctx);
} nblog_console_ops_t;

#define NBLOG_FORMAT_PLAIN 0 /* "text\n" */
#define NBLOG_FORMAT_KMSG 1  /* "level,seq,usec,flags;text\n", like /dev/kmsg */
#define NBLOG_FORMAT_RFC5424 2 /* "<PRI>1 TIME HOST APP PROCID MSGID [SD] text\n" */
#define NBLOG_FORMAT_RFC3164 3 /* "<PRI>Mmm dd hh:mm:ss HOST APP[PID]: text\n" */
#define NBLOG_FORMAT_JOURNAL 4 /* "KEY=value\n" lines (PRIORITY, MESSAGE, ...)
                                  and an empty line, per record */
#define NBLOG_FORMAT_HUMAN 5   /* "2026-12-02 03:04:39.123456 [info] text\n" */
#define NBLOG_FORMAT_JSON 6    /* {"time":...,"message":"text"}\n, one per record */
#define NBLOG_FORMAT_PATTERN 7 /* the console's pattern (opts.pattern) */

/*
 * LINE FORMATS PEOPLE READ AND TOOLS PARSE
 *
 * Every format escapes what a record holds as the plain one does (C0/C1
 * controls, DEL, U+2028/2029, bytes that are not UTF-8 and '\\' as \xNN;
 * JSON its own way, below), so no record can end a line, move the cursor
 * or retitle a terminal; colour codes come only from nblog. A line never
 * outgrows the console's line buffer: what does not fit is cut at a
 * character boundary (JSON stays valid and says "truncated":true).
 *
 * human   "%Y-%m-%d %H:%M:%S.%f %^[%l]%$ " then, as opts.show asks,
 *         "[BASE:LINE FUNC] " (NBLOG_SHOW_LOCATION: the call site, its
 *         file's base name; left out for a record without one), then
 *         "PROGRAM[PID] tid TID: " (each part only if shown), then the
 *         message: "2026-12-02 03:04:39.123456 [warning] app[42] tid 43: text",
 *         "2026-12-02 03:04:39.123456 [info] [main.c:42 main] app: text".
 * json    {"time":"2026-12-02T03:04:39.123456Z","level":"info","seq":7,
 *         "tid":43,"pid":42,"program":"app","message":"text"} per line;
 *         a record with a call site has ,"file":"src/main.c","line":42,
 *         "func":"main" after "program" (the file as recorded; each key
 *         only when the record has it: a file, a line other than 0, a
 *         function; JSON strings, a byte that is not UTF-8 as U+FFFD),
 *         then ,"message_bytes":[N,...] when the text is not UTF-8 (the
 *         message then holds U+FFFD for each such byte; the array is its
 *         exact bytes, as journalctl -o json gives them), ,"truncated":true
 *         and ,"replayed":true when so. Controls, DEL, '"', '\\' and
 *         U+2028/2029 are JSON escapes; the rest of the UTF-8 as it is.
 *         The time has the UTC offset ("+01:00") with local_time, else Z.
 * pattern opts.pattern, compiled once at registration (a bad one is
 *         NBLOG_EINVAL, nblog_spec_error() saying why), rendered
 *         signal-safely. Items (%[-]N pads to N columns, '-' on the right,
 *         N 1..64):
 *           %Y year   %m month  %d day   %H hour  %M minute  %S second
 *           %e milliseconds (3 digits)  %f microseconds (6)  %F nanoseconds (9)
 *           %T %H:%M:%S   %z UTC offset "+hh:mm"   %l level name ("info")
 *           %L level name in capitals   %q the record's seq   %t thread id
 *           %P process id   %n program name (the executable's short name)
 *           %v the message (required: once or more)   %% a '%'
 *           %^ ... %$ coloured by level (when colour is on; else nothing)
 *           the call site (spdlog's letters): %s its file's base name
 *           ("main.c")   %g the file as recorded (__FILE__'s last
 *           NBLOG_SITE_FILE_MAX bytes)   %# the line   %! the function
 *           %@ "main.c:42" (base name); each shows nothing for a record
 *           without one (nblog_write, nblog_vprintf, ...; %# for line 0)
 *         Other bytes are copied; a control byte, an unknown item, a
 *         pattern over 255 bytes or 64 items is refused.
 * syslog  RFC 5424 with structured data on: a record's call site as
 *         file="src/main.c" line="42" func="main" in [nblog@32473 ...],
 *         after seq and tid (SD-PARAM escaping: '"', '\\', ']').
 * journal CODE_FILE, CODE_LINE, CODE_FUNC (journald's names) before
 *         MESSAGE, each when the record has it.
 * A console looks a record's call site up only when its format shows it
 * (json, journal, RFC 5424 with structured data, human with
 * NBLOG_SHOW_LOCATION, a pattern with a location item).
 *
 * Time: the record's own wall time (nblog_record_t.wall_ns), UTC unless
 * opts.local_time. Local time never calls localtime_r while rendering
 * (it takes glibc's time-zone lock): the UTC offset is taken at
 * registration and refreshed by the console's printer thread once a
 * minute, looking two minutes either side, so across a DST change each
 * record within two minutes of a refresh gets the offset in force at its
 * own time; a console more than two minutes behind at a change shows
 * older records with the offset around the latest refresh. TZ is read at
 * registration and at each refresh.
 * Colour (human, pattern): opts.color NBLOG_COLOR_AUTO colours a stderr or
 * fd console that is a terminal, unless NO_COLOR is set to a non-empty
 * value (no-color.org) or TERM is "dumb"; ALWAYS and NEVER are what they
 * say. err and worse bold red, warning bold yellow, notice bold.
 * pid: cached, refreshed in a forked child (no system call per line).
 */
#define NBLOG_COLOR_AUTO 0
#define NBLOG_COLOR_NEVER 1
#define NBLOG_COLOR_ALWAYS 2

/* What the human format shows besides time, level and message. */
#define NBLOG_SHOW_PROGRAM 1u
#define NBLOG_SHOW_PID 2u
#define NBLOG_SHOW_TID 4u
#define NBLOG_SHOW_LOCATION 8u /* the call site: "[main.c:42 main] " */

#define NBLOG_MODE_THREADED 0 /* its own printer thread prints */
#define NBLOG_MODE_DIRECT 1   /* the logging caller prints through write_atomic
                                 when it can; the printer thread otherwise */

/* Longest console name, in bytes (names are printable ASCII). */
#define NBLOG_CONSOLE_NAME_MAX 31

typedef struct nblog_console_opts {
    const char *name;   /* for stats, flush and stall reports; copied.
                           1..NBLOG_CONSOLE_NAME_MAX bytes of printable
                           ASCII (' '..'~'): anything else is NBLOG_EINVAL.
                           NULL (the default): what the console is, its
                           kind and target: "stderr", "fd:3",
                           "file:/var/log/app.log", "syslog+udp://host:514",
                           "syslog+tcp://...", "unix:/dev/log", "journald"
                           ("journald:PATH" for another socket),
                           "callback", and "console" for ops of the
                           program's own; a longer one keeps its end
                           ("file:...ep/dir/app.log"), other bytes as '_'.
                           Names are unique among registered consoles: a
                           name in use, given or not, gets "#2", "#3", ...
                           (the first free; cut to fit, keeping the end),
                           so "stderr", "stderr#2"; registration never
                           fails for a name. nblog_console_stats says
                           the name a console got. */
    int level;          /* prints records at this level or more severe */
    int format;         /* NBLOG_FORMAT_* */
    int mode;           /* NBLOG_MODE_* */
    int start;          /* NBLOG_FROM_OLDEST or NBLOG_FROM_NEXT */
    unsigned stall_ms;  /* no progress this long with records pending:
                           reported stalled. 0 means 5000 */
    const char *pattern; /* NBLOG_FORMAT_PATTERN: see LINE FORMATS; read
                            only during registration */
    int color;           /* NBLOG_COLOR_*: human and pattern formats */
    int local_time;      /* 1: human, pattern and json in local time */
    unsigned show;       /* human: NBLOG_SHOW_* bits (see LINE FORMATS) */
} nblog_console_opts_t;

/* Defaults: no name (the output's own, see name), level DEBUG, plain,
 * threaded, from the next record; colour auto, UTC, human shows no
 * program, pid, tid or location. */
NBLOG_API void nblog_console_opts_init(nblog_console_opts_t *o);

/*
 * nblog_console_register - add an output. [blocking] (takes the list lock,
 * starts the printer thread; may run the teardown of consoles unregistered
 * earlier). ops is copied; ctx is passed to every call.
 * Before any nblog_init, it initialises nblog with the defaults, as a
 * logging call would (but with no default console: this one is the
 * program's). The program's first console replaces the default console
 * (see "Consoles at init" at nblog_init), which may take up to a second.
 * The printer thread blocks every signal but SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE, SIGTRAP, SIGSYS and SIGABRT, so the program's signals go to its
 * own threads.
 * Returns NBLOG_OK and *out; NBLOG_EINVAL (no write, bad option, a name
 * that is empty, longer than NBLOG_CONSOLE_NAME_MAX or not printable ASCII,
 * a bad pattern: nblog_spec_error() then says what is wrong and where);
 * NBLOG_ENOMEM (no free console slot or thread); NBLOG_ENOTREADY (after
 * nblog_shutdown, until the program's next nblog_init; or the store could
 * not be initialised); the setup callback's refusal as NBLOG_EINVAL.
 */
NBLOG_API int nblog_console_register(const nblog_console_ops_t *ops, void *ctx,
                                     const nblog_console_opts_t *opts,
                                     nblog_console_t **out);

/* Detaches the console at once, never waiting for it: once it returns, no
 * write to the console starts (a write in progress, even a stuck one,
 * completes; the rest of its batch is never written) and nothing more is
 * counted. Teardown runs when the last user lets go (see ops.teardown).
 * Returns NBLOG_OK; NBLOG_ESTALE (already unregistered); NBLOG_EINVAL.
 * [blocking: list lock only; may run teardown if it is the last user] */
NBLOG_API int nblog_console_unregister(nblog_console_t *con);

/* Stops output to this console only: once suspend returns, no write to it
 * starts (a write in progress completes); what it has not printed stays
 * pending, counted nowhere. Resume lets it catch up from where it was (or
 * report exactly what was overwritten meanwhile). Both return NBLOG_OK,
 * NBLOG_ESTALE or NBLOG_EINVAL. [non-blocking] [signal-safe] */
NBLOG_API int nblog_console_suspend(nblog_console_t *con);
NBLOG_API int nblog_console_resume(nblog_console_t *con);
/* Changes the console's level filter. NBLOG_EINVAL for a bad level.
 * [non-blocking] [signal-safe] */
NBLOG_API int nblog_console_set_level(nblog_console_t *con, int level);

typedef struct nblog_console_stats {
    char name[32];
    uint64_t start_seq;   /* first seq this console was responsible for */
    uint64_t next_seq;    /* next record it will print */
    uint64_t lag;         /* records stored but not yet handled */
    uint64_t printed;     /* records written */
    uint64_t filtered;    /* records below its level */
    uint64_t dropped;     /* records overwritten before it got to them,
                             whatever their level (it went with them) */
    uint64_t write_failed; /* records whose write failed */
    uint64_t stalled_ns;  /* how long it has made no progress with records
                             pending; 0 when not stalled */
    int last_error;       /* last -errno from write, 0 if none */
    int suspended;
    /* Appended (0.2): what a ring file's writer published besides the
     * above. nblog_ringfile_console_stats fills them; nblog_console_stats
     * leaves them 0 (in the process, nblog_console_net_stats has them). */
    unsigned flags;       /* NBLOG_CONSOLE_STATS_* below */
    int connected;        /* network: as nblog_net_stats_t.connected */
    int net_error;        /* network: -errno of the last failed connect or
                             lost connection (ECONNREFUSED, ETIMEDOUT,
                             ECONNRESET, ...), 0 if none */
    uint64_t connects, disconnects, connect_failures, resent_frames,
        truncated;        /* network: as in nblog_net_stats_t */
} nblog_console_stats_t;

/* nblog_console_stats_t.flags: a network console (syslog, journald: its
 * net fields are set), and one with a connection to lose (TCP: it is
 * disconnected while connected is 0). */
#define NBLOG_CONSOLE_STATS_NET 0x1u
#define NBLOG_CONSOLE_STATS_STREAM 0x2u

/* Returns NBLOG_OK; NBLOG_ESTALE (unregistered); NBLOG_EINVAL (st NULL, or
 * not a handle). [signal-safe] */
NBLOG_API int nblog_console_stats(nblog_console_t *con, nblog_console_stats_t *st);

/*
 * nblog_flush - wait until every enabled console has handled every record
 * stored before the call, or timeout_ms passes. [blocking]
 * Returns the number of consoles that lagged (0: all flushed); lagging (if
 * not NULL) then holds exactly their names, comma-separated ("" when 0).
 * At exit (atexit, from the first nblog_init or lazy init on) nblog flushes
 * for 1 s and names on stderr, in one "nblog: at exit, ..." line, every
 * console that had not printed everything (their records stay in a ring file, if the
 * ring is one). _exit(2) and a fatal signal skip this (the panic flush
 * handles the latter).
 */
NBLOG_API int nblog_flush(unsigned timeout_ms, char *lagging, size_t lagging_size);

/* ------------------------------------------------------------------------
 * Reading a ring file: another process's ring (nblog_options_t.ring_path),
 * its writer running or gone, read without writing it and without trusting
 * it. The nblog command (dmesg, status) is built on these calls alone.
 *
 * Hardening, for every program that reads rings through them: the file is
 * opened read-only and without blocking (a FIFO or a device never holds
 * the open) and refused unless it is a regular file; its header is read
 * and checked field by field first, and only then is the ring copied or
 * mapped, as many bytes as the checked header says and never more than
 * the file holds (a huge file that is not a ring costs one header read).
 * The reader's geometry (sizes, offsets) is taken once, from that
 * validated private copy: whatever another process writes into the file
 * later, every address a reader computes stays inside the view. Record
 * lengths and levels from the file are bounded, record times saturate
 * (nblog_record_t.wall_ns), a forged head costs no unbounded loop.
 *
 * Two ways to open:
 *   NBLOG_RINGFILE_COPY  a private copy of the ring as it was at open:
 *                        nothing done to the file later (even truncating
 *                        it) reaches the reader.
 *   NBLOG_RINGFILE_LIVE  to follow a running writer: the slots mapped
 *                        shared and read-only, the header a private copy
 *                        taken at open; nblog_ringfile_wait and
 *                        nblog_ringfile_info bring in new counters (head,
 *                        lost, writer pid, wall clock), never new geometry.
 *                        A file cut below the mapping raises SIGBUS in the
 *                        reading thread (catch it to report it: `nblog
 *                        dmesg` exits 6). Needs pages of at most 4352 bytes
 *                        (elsewhere NBLOG_EFILE, errno ENOTSUP; a copy
 *                        works everywhere).
 *
 * A handle (nblog_ringfile_t) is allocated at open (readers of files are
 * not on the logging path) and freed by nblog_ringfile_close. Use a handle
 * and the readers opened on it from one thread at a time. These calls may
 * block (open, stat, futex); nblog_reader_next, nblog_reader_head and
 * nblog_reader_skip on such a reader are [signal-safe] [non-blocking].
 */
typedef struct nblog_ringfile nblog_ringfile_t;

#define NBLOG_RINGFILE_COPY 0 /* a private copy taken at open */
#define NBLOG_RINGFILE_LIVE 1 /* to follow: slots mapped shared, read-only */

/*
 * nblog_ringfile_open - open the ring file at path (a name without '/' is
 * under /dev/shm, as for ring_path), read-only, in mode NBLOG_RINGFILE_COPY
 * or NBLOG_RINGFILE_LIVE. why (if not NULL) gets a sentence for a person
 * saying what is wrong ("ok" on success). The file is never written.
 * [blocking] Returns NBLOG_OK and *out, or, with *out NULL:
 *   NBLOG_EFILE     it cannot be opened or read, is not a regular file (a
 *                   FIFO, device or directory: errno EINVAL; a socket:
 *                   ENXIO), or memory for the handle, the copy or the
 *                   mapping is short: errno says why (ENOENT, EACCES,
 *                   EFBIG, ENOMEM, ENOTSUP, ENAMETOOLONG, ...).
 *   NBLOG_ENOTRING  not an nblog ring (no magic).
 *   NBLOG_EVERSION  a ring layout version this library does not read.
 *   NBLOG_ESHORT    shorter than its header says (truncated).
 *   NBLOG_ECORRUPT  magic and version right, header fields impossible.
 *   NBLOG_EINVAL    path or out NULL, or an unknown mode.
 * Each verdict is final for that file as it is: reopen once it changed.
 */
NBLOG_API int nblog_ringfile_open(const char *path, int mode, nblog_ringfile_t **out,
                                  char *why, size_t why_cap);

/* Unmaps or frees the view and the handle; readers opened on it must not
 * be used after. NULL is a no-op. [blocking] */
NBLOG_API void nblog_ringfile_close(nblog_ringfile_t *f);

/*
 * nblog_ringfile_reader - open *r on f's ring, at the oldest record still
 * stored (NBLOG_FROM_OLDEST) or at its head (NBLOG_FROM_NEXT), then read
 * with nblog_reader_next: records overwritten before r reached them are
 * skipped and counted exactly in rec->missed and r->missed. r->next_seq
 * may be set to start elsewhere (where a pass over a file since replaced
 * stopped: sequences continue across a replacement); a seq no longer
 * stored then counts as missed, one past head waits for its record.
 * Returns NBLOG_OK; NBLOG_EINVAL (f or r NULL, or from unknown).
 */
NBLOG_API int nblog_ringfile_reader(nblog_ringfile_t *f, int from, nblog_reader_t *r);

/*
 * nblog_ringfile_wait - for a live handle: bring in the file's counters
 * (readers on f see its new head), and unless head is beyond seen_seq
 * (pass a reader's next_seq), sleep until the writer's publisher announces
 * new records (it looks every 100 ms and wakes followers only when head
 * moved), timeout_ms passes or a signal arrives, then bring the counters
 * in again. No busy polling; timeout_ms 0 only looks (no system call).
 * [blocking] Returns NBLOG_OK: head is beyond seen_seq (records to read,
 * or being written: nblog_reader_next may say NBLOG_EAGAIN a moment
 * longer); NBLOG_EAGAIN: nothing new (the writer is idle, or gone:
 * nblog_ringfile_info says which); NBLOG_ESTALE (only after a sleep):
 * nothing new, and path now names another file: a new writer replaced
 * this one (other sizes, or a used-up or damaged ring): close, open the
 * path again and go on from the same seq; NBLOG_EINVAL: f NULL. A copy
 * never changes: NBLOG_OK or NBLOG_EAGAIN at once, never a sleep.
 */
NBLOG_API int nblog_ringfile_wait(nblog_ringfile_t *f, uint64_t seen_seq,
                                  unsigned timeout_ms);

typedef struct nblog_ringfile_info {
    uint64_t head;        /* next seq its writer hands out (at most
                             NBLOG_SEQ_LIMIT) */
    uint64_t oldest;      /* oldest seq that may still be stored */
    uint64_t first_seq;   /* seq of the first record this ring held */
    uint64_t records;     /* slots */
    uint64_t lost;        /* records its writers could not store */
    uint64_t stats_published_ns; /* CLOCK_MONOTONIC of the writer's last
                             publish of its console stats; 0: never */
    uint32_t record_size; /* bytes per slot, header included */
    uint32_t text_max;    /* longest text one record holds */
    uint32_t writer_pid;  /* its last writer (maybe gone) */
    uint64_t data_bytes;  /* of its data area (spilled text; 0: none) */
    uint64_t spill_cut;   /* records cut to their inline room (nblog_stats) */
    int writer_running;   /* 1: a writer holds the file's lock now; 0: none
                             (or it cannot be told) */
    int live;             /* opened NBLOG_RINGFILE_LIVE */
} nblog_ringfile_info_t;

/* What f's header says, for a live handle as the file says it now (the
 * counters are brought in, as by nblog_ringfile_wait), for a copy as it
 * was at open; writer_running looks at the file now (without taking its
 * lock). Returns NBLOG_OK; NBLOG_EINVAL (f or info NULL). [blocking] */
NBLOG_API int nblog_ringfile_info(nblog_ringfile_t *f, nblog_ringfile_info_t *info);

/* Most consoles a writer publishes. */
#define NBLOG_RINGFILE_CONSOLES_MAX 32

/*
 * nblog_ringfile_console_stats - the console stats f's writer last
 * published into the file (what nblog_console_stats said in that process,
 * and for a network console what nblog_console_net_stats said, with
 * flags saying which kind it is; every 100 ms while it runs; `nblog
 * status` shows them), for up to max
 * consoles in the writer's order. lag is as of that publish. A live handle
 * reads the file as it is now; a copy as it was at open. Anyone who can
 * write the file chose the names: they are NUL-terminated, but may hold
 * any byte: escape them before showing them (registration admits only
 * printable ASCII, so a writer's own names show unchanged). An entry the
 * writer kept rewriting while it was copied is left out. Returns how many
 * were copied (0: none published); NBLOG_EINVAL (f NULL, max < 0, or st
 * NULL with max > 0). [non-blocking]
 */
NBLOG_API int nblog_ringfile_console_stats(nblog_ringfile_t *f, nblog_console_stats_t *st,
                                           int max);

/* Bytes that hold any line nblog_render_line or nblog_ringfile_render_line
 * renders of a record whole (a console's buffer holds as much): json's
 * worst case, ten bytes for each text byte (a byte that is not UTF-8 is
 * "\ufffd" in message and up to "255," in message_bytes), plus the
 * format's metadata; the other formats write at most four per byte
 * (\xNN). 162 KiB: a signal handler on a small alternate stack should
 * render into static memory, not a stack buffer of this size. */
#define NBLOG_LINE_MAX (10 * NBLOG_TEXT_MAX_LIMIT + 2048)

/*
 * nblog_render_line - rec (as nblog_reader_next filled it) as a console in
 * format NBLOG_FORMAT_* would print it: one line ending in '\n' (a journal
 * entry: its "KEY=value" lines and an empty one), with everything in the
 * text that a terminal or a line reader would act on escaped (C0 and C1
 * controls, DEL, U+2028/U+2029, bytes that are not UTF-8, '\': as \xNN;
 * json as JSON escapes, see LINE FORMATS in nblog(3)).
 * The syslog and journal formats use their default parameters (hostname,
 * app and procid "-", the record's facility, structured data on) and the
 * record's wall_ns; json shows this process's pid and program: for a
 * record of a ring file, nblog_ringfile_render_line says whose it is.
 * A wall_ns of INT64_MIN or INT64_MAX (the time cannot be told) shows as
 * a placeholder: dashes in the human format's time, "time":null in json,
 * RFC 5424's NILVALUE "-", no TIMESTAMP (nor HOSTNAME) in RFC 3164, so a
 * receiver takes its own. NBLOG_F_REPLAYED marks the line as consoles
 * mark it. rec->text must hold rec->len bytes (after NBLOG_ETRUNCATED it
 * holds bufsize - 1: set len to that first). Writes at most cap bytes (a
 * line cut short still ends in '\n'; NBLOG_LINE_MAX holds any) and
 * returns how many, without a NUL; 0 if line or rec is NULL, cap < 2, or
 * format is NBLOG_FORMAT_PATTERN (there is no compiled pattern to follow)
 * or no NBLOG_FORMAT_* at all. [signal-safe] [non-blocking]
 */
NBLOG_API size_t nblog_render_line(char *line, size_t cap, int format,
                                   const nblog_record_t *rec);

/*
 * nblog_ringfile_render_line - as nblog_render_line, for a record read
 * from f, as its writer would have printed it: json's "pid" and
 * "program", RFC 5424's APP-NAME and PROCID, RFC 3164's TAG[PID] and the
 * journal's SYSLOG_IDENTIFIER are f's writer's (the name its nblog_init
 * chose, and writer_pid, as the header says them; of a live handle, as of
 * its last nblog_ringfile_wait or nblog_ringfile_info). The file is
 * hostile: a name byte that is not printable ASCII shows as '_', no name
 * as "-", a pid no process has (0, above INT_MAX) as 0 in json and "-" in
 * syslog. Returns as nblog_render_line; 0 also if f is NULL. [non-blocking]
 */
NBLOG_API size_t nblog_ringfile_render_line(nblog_ringfile_t *f, char *line, size_t cap,
                                            int format, const nblog_record_t *rec);

/* ------------------------------------------------------------------------
 * When the program dies.
 *
 * nblog_panic - store "panic: <message>" as an EMERG record (naming the
 * consoles that cannot be flushed: no write_atomic, or suspended), then
 * take every other console at panic priority, even from an owner in the
 * middle of a record (that owner stops at its next check), and print
 * through write_atomic every record it has not printed, in order, then a
 * backtrace of the caller; then abort() (the program's SIGABRT handler, if
 * it had one, runs). A record that was in flight when its console was
 * taken is printed again, marked (NBLOG_F_REPLAYED), and so is any record
 * a later owner prints again after a panic's write stopped (deadline): a
 * record printed twice always has its later copy marked. Output never runs
 * on from a cut line: a batch its owner left half written (EAGAIN) is
 * finished first; a takeover waits (briefly) for the owner's write call in
 * progress and completes the line it cut; a panic write that stops
 * mid-line leaves the rest of that line to be written next. Where a line
 * cannot be completed (an owner's write still blocked), the next output
 * starts a new line and the cut line's record follows in full, marked (a
 * line is empty if that blocked write had ended its line). A record whose writer
 * never finished it is skipped with a notice, never printed torn. Bounded
 * by nblog_options_t.panic_timeout_ms (plus a second for the backtrace), by
 * a timer of nblog's own that ends a stuck flush with the signal's default
 * action; the program's SIGALRM, alarm(2) and interval timers are never
 * touched. Exactly one thread flushes at a time; others wait for it.
 * [signal-safe]
 *
 * The fatal-signal handlers (nblog_options_t.crash_handlers) do the same
 * for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT on an alternate stack
 * (so a stack overflow is reported), with a record naming the signal, its
 * code, the fault address and the thread, and a backtrace of the faulting
 * thread ("backtrace #N MODULE+0xOFFSET [ADDRESS]"; `addr2line -f -e
 * MODULE OFFSET` names the function). Then they restore the action that
 * was there before nblog and re-raise: the process dies by the original
 * signal, with its core dump, or the program's own handler runs.
 */
NBLOG_API void nblog_panic(const char *fmt, ...) NBLOG__PRINTF(1, 2) NBLOG__NORETURN;
/* The same, but returns instead of aborting: the number of consoles that
 * could not be flushed completely (the deadline passed), or -1 if called
 * inside a panic flush. Consoles are handed back to their printers. */
NBLOG_API int nblog_panic_flush(const char *fmt, ...) NBLOG__PRINTF(1, 2);

/* Built-in outputs (src/consoles/).
 *
 * nblog_console_fd - a console writing to fd (not closed, not changed: no
 * flag of its open file description is touched, and the program's SIGPIPE
 * disposition is left alone). The printer thread's write may block;
 * write_atomic (direct mode, emergency records, the panic flush) never
 * does, and nothing of fd is held open between writes: on a pipe it
 * writes to fd itself with pwritev2(RWF_NOWAIT) (EAGAIN when full, never
 * a wait); where the kernel refuses that (terminals, named FIFOs, pipes
 * on older kernels) through a non-blocking description of its own,
 * opened from /proc/self/fd/N for that one write and closed again (if that
 * cannot be opened, the line is left to the printer); so once the program
 * closes fd or points it elsewhere (a daemon's dup2 of /dev/null), the
 * console holds no writer end of the pipe and no terminal, and the
 * reader sees end of file at once. On a socket with MSG_DONTWAIT; on any
 * other device pwritev2(RWF_NOWAIT), else write(2) if its description is
 * O_NONBLOCK, else the line is left to the printer; on a regular file
 * with pwritev2(RWF_NOWAIT), which most kernels refuse for buffered
 * writes, so a direct console on a file is in effect printed by its
 * printer thread (woken at once for emergency records), except during a
 * panic flush, which writes files with write(2) (a dying process's flush
 * is bounded by the panic watchdog; nblog_panic_flush may wait for the
 * disk). A write that could block is skipped and left to the printer. A
 * pipe whose reader is gone gives -EPIPE (counted in write_failed,
 * last_error -EPIPE), never a SIGPIPE. If the program points fd elsewhere
 * (dup2), the console follows it. Returns NBLOG_OK and *out; NBLOG_EINVAL
 * (fd < 0, bad option); NBLOG_ENOMEM. [blocking] */
NBLOG_API int nblog_console_fd(int fd, const nblog_console_opts_t *opts,
                               nblog_console_t **out);
/* A file console: opened O_APPEND|O_CREAT (0644). max_bytes > 0 rotates it
 * when a batch would take it past that size, keeping `keep` old files as
 * path.1 .. path.keep (0: none). A rotation opens the new file first,
 * renames no file onto another (the oldest is set aside and removed only
 * once every rename worked) and undoes its renames if one fails: one that
 * fails (EMFILE, EACCES, EPERM, EIO, ...) destroys no file; the console
 * writes on to the current file, past max_bytes, says so once in a
 * WARNING record, shows the error in its last_error and
 * nblog_console_file_stats, and retries before a later batch with backoff
 * (1 s, doubling up to 60 s). A failed reopen is handled the same way,
 * with a backoff of its own: a reopen asked for (nblog_console_reopen) is
 * tried at the next batch, whatever rotation's backoff. Returns NBLOG_OK
 * and *out; NBLOG_EINVAL (bad argument); NBLOG_EFILE (the path could not
 * be opened: errno says why, e.g. ENOENT, EACCES, EMFILE); NBLOG_ENOMEM.
 * [blocking] */
NBLOG_API int nblog_console_file(const char *path, unsigned long long max_bytes,
                                 int keep, const nblog_console_opts_t *opts,
                                 nblog_console_t **out);
/* Standard error (fd 2) as nblog_console_fd, named "stderr" (not "fd:2")
 * unless opts names it: it holds nothing of fd 2 open, so a program that lets go of
 * its stderr (dup2 of /dev/null over it) lets its launcher's pipe or
 * terminal go at once. It follows fd 2 as nblog_console_fd does (the
 * default console does not: see "Consoles at init"). [blocking] */
NBLOG_API int nblog_console_stderr(const nblog_console_opts_t *opts,
                                   nblog_console_t **out);

typedef struct nblog_file_stats {
    uint64_t size;          /* bytes in the current file (as counted by it) */
    uint64_t max_bytes;     /* as given; 0: no rotation */
    uint64_t rotations;     /* rotations done */
    uint64_t rotate_failed; /* rotations that failed (nothing was lost) */
    uint64_t reopen_failed; /* reopens that failed (the old file kept) */
    unsigned failing;       /* failures in a row (rotation's plus reopen's,
                             * each 0 once it works) */
    int last_error;         /* -errno of the last failure, 0 if none */
    int over_limit;         /* size > max_bytes (rotation failing) */
} nblog_file_stats_t;

/* A file console's rotation and reopen counters. NBLOG_EINVAL if con is not
 * a file console (or st is NULL); NBLOG_ESTALE if it was unregistered.
 * [signal-safe] */
NBLOG_API int nblog_console_file_stats(nblog_console_t *con, nblog_file_stats_t *st);

/* A user callback, given one or more whole lines per call on the
 * console's printer thread (it may block; it stops only this console). */
typedef void nblog_line_fn(void *arg, const char *lines, size_t len);
NBLOG_API int nblog_console_callback(nblog_line_fn *fn, void *arg,
                                     const nblog_console_opts_t *opts,
                                     nblog_console_t **out);

/* Asks a file console to reopen its path before its next write (after
 * logrotate renamed the file). NBLOG_EINVAL if con is not a file console;
 * NBLOG_ESTALE if it was unregistered. [signal-safe] */
NBLOG_API int nblog_console_reopen(nblog_console_t *con);
/* Every file console, the same. [signal-safe] */
NBLOG_API int nblog_console_reopen_all(void);
/* Opt-in: SIGHUP reopens every file console (logrotate's postrotate
 * `kill -HUP`), then chains to the handler installed before. */
NBLOG_API int nblog_console_reopen_on_sighup(void);

/* ------------------------------------------------------------------------
 * Console specs: one text grammar for programs, the nblog command and the
 * NBLOG_CONSOLES environment variable.
 *
 *     spec    = kind [":" argument] *("," option)
 *     kind    = "stderr" | "fd" (argument: a descriptor number)
 *             | "file" (argument: a path; it may not contain ',')
 *             | "syslog+udp" | "syslog+tcp" (argument: //HOST:PORT)
 *             | "syslog+tls" (argument: //HOST[:PORT], port 6514 if none)
 *             | "unix" (argument: a datagram socket's path, e.g. /dev/log)
 *             | "journald" (argument, optional: the socket's path)
 *     option  = "level=" LEVEL        (a name or 0..7, see nblog_level_parse)
 *             | "format=" ("plain" | "kmsg" | "human" | "json"
 *                         | "pattern:" PATTERN)  (see LINE FORMATS; the
 *                 pattern runs to the end of the spec, commas included,
 *                 so it comes last; in NBLOG_CONSOLES it cannot hold ';').
 *                 Default: human for "stderr" (as the default console),
 *                 plain for "fd" and "file", RFC 5424 (or 3164) for the
 *                 syslog kinds, the journal's own for journald
 *             | "color=" ("auto" | "always" | "never")
 *             | "time=" ("utc" | "local")
 *             | "show=" FIELD *("+" FIELD)  FIELD: program, pid, tid,
 *                                      location (human: NBLOG_SHOW_*)
 *             | "mode=" ("threaded" | "direct")
 *             | "name=" NAME          (1 to 31 bytes of printable ASCII;
 *                                      default: the console's kind and
 *                                      target, see nblog_console_opts_t)
 *             | "stall_ms=" N
 *             | syslog, unix and journald only: "app=" NAME, "facility="
 *               (0..23 or user, daemon, local0..local7, ...), "sd=" on|off,
 *               "rfc3164=" on|off, "msgid=" ID, "hostname=" HOST
 *                 (see nblog_syslog_opts_t)
 *             | syslog+tls only: "ca=" FILE, "cert=" FILE, "key=" FILE,
 *               "peer=" NAME (tls_ca_file, tls_cert_file, tls_key_file,
 *               tls_peer_name; the paths may not contain ',')
 *
 * e.g. "file:/var/log/app.log,level=warning,format=kmsg", "fd:3,mode=direct",
 * "syslog+tcp://127.0.0.1:514,app=ingest,facility=local3,level=notice",
 * "syslog+tls://logs.example.org,ca=/etc/ssl/logs-ca.pem".
 */

/*
 * nblog_console_from_spec - parse spec and register the console it names.
 * [blocking] Returns NBLOG_OK and *out (out may be NULL); NBLOG_EINVAL for an
 * unknown kind or a malformed part (nothing registered; nblog_spec_error()
 * names the part); otherwise what registering the console returned.
 */
NBLOG_API int nblog_console_from_spec(const char *spec, nblog_console_t **out);

/* Registers one console per ';'-separated spec in NBLOG_CONSOLES, all or
 * none. Init does this by itself ("Consoles at init"): if init registered
 * consoles from the variable as it is now, this registers nothing more and
 * returns how many that was (so a program written to call it gets them
 * once). Returns how many were registered (0 if the variable is unset,
 * empty or "none"), or the first error (nblog_spec_error() explains;
 * consoles registered before it are unregistered). Initialises nblog
 * lazily if nothing did. [blocking] */
NBLOG_API int nblog_consoles_from_env(void);

/* The last spec error of the calling thread, a sentence naming the bad
 * part ("" if none). Valid until the thread's next spec call. */
NBLOG_API const char *nblog_spec_error(void);

/* ------------------------------------------------------------------------
 * Network consoles: syslog (RFC 5424 or 3164) over UDP, TCP (RFC 6587
 * octet counting) or a local datagram socket, and journald's native
 * protocol. Each is an ordinary console with its own printer thread: a
 * collector that is down, slow or never reads stops only that console,
 * whose records wait in the ring (counted as dropped if overwritten).
 *
 * TCP is at-least-once: it connects on its printer thread (non-blocking,
 * with a timeout), reconnects with capped exponential backoff, and after a
 * reconnect resends every frame the peer may not have received, so a
 * collector may see a record twice (the seq in the structured data tells)
 * but none is lost silently (a collector that resets its connection with
 * more than resend_bytes / 4 unread could lose the excess). A record counts
 * as printed only when the collector's TCP acknowledged it on a connection
 * that has stayed up 500 ms (or four round trips) with no reset: a peer
 * that accepts and resets gets none counted, they wait. One exception: a
 * connection that ends with a clean FIN (the peer closed it, having read
 * what it acknowledged) before it proved itself counts what was
 * acknowledged as printed too. Bytes a collector
 * sends are read and ignored; only end of stream or an error ends a
 * connection. UDP and local sockets send one datagram per record and offer
 * write_atomic (direct mode, emergencies); a record longer than the
 * datagram limit is cut and ends with NBLOG_TRUNC_MARKER (journald: see
 * nblog_console_journald). A UDP refusal
 * (ICMP port unreachable: nobody listens) fails the batch it falls in
 * (write_failed, last_error -ECONNREFUSED) rather than counting it printed.
 *
 * TLS (syslog+tls://, RFC 5425: the same octet-counted frames inside TLS,
 * through GnuTLS) is TCP with a handshake: everything above holds, resend
 * and proving included (what the peer's TCP acknowledged is mapped back
 * from TLS records to frames). The handshake runs on the console's printer
 * thread, non-blocking, within connect_timeout_ms, and verifies the
 * collector's certificate chain (tls_ca_file, else the system's trust
 * store) and name (tls_peer_name, else the url's HOST; an IP address is
 * matched against the certificate's IP addresses); there is no way to turn
 * that off. A handshake that fails is a failed connect (connect_failures,
 * retried with backoff; its records wait) and sets last_error: -EACCES a
 * certificate was refused (the collector's by us: untrusted, expired,
 * another name; or ours by the collector), -ETIMEDOUT no handshake in
 * time (a peer that accepts and says nothing), -EPROTO any other TLS
 * failure. A TLS console has no write_atomic (GnuTLS is not
 * async-signal-safe): direct mode, emergencies and the panic flush skip it
 * like any console without one. Allocation: the credentials are loaded
 * when the console is made (a file that does not load is NBLOG_EINVAL
 * then), but GnuTLS allocates a session per connection and a buffer per
 * TLS record on that console's printer thread; the logging calls and the
 * other consoles allocate nothing.
 */
typedef struct nblog_syslog_opts {
    const char *app_name; /* APP-NAME / TAG / SYSLOG_IDENTIFIER (first 48
                             printable bytes); NULL: the program's name,
                             nblog_options_t.program */
    const char *hostname; /* NULL: gethostname() */
    const char *msgid;    /* RFC 5424 MSGID; NULL: "-" */
    int facility;         /* 0..23, or -1: each record's own (nblog_options) */
    int structured_data;  /* 1: [nblog@32473 seq="N" tid="T" ...]; 0: "-" */
    int rfc3164;          /* 1: the old BSD format, for old receivers */
    /* NULL, or {"name", "value", ..., NULL}: extra SD-PARAMs in every
     * record's SD element (values escaped; names must be SD-NAMEs and
     * none nblog writes there: seq, tid, truncated, replayed, file, line,
     * func; others are refused with NBLOG_EINVAL).
     * journald: custom fields of every entry, values' bytes as they are
     * (up to 1 MiB in all); names as journald takes them (1..64 of A-Z,
     * 0-9, '_', not starting with '_' or a digit) and none the console
     * writes itself (NBLOG_*, MESSAGE, PRIORITY, SYSLOG_FACILITY,
     * SYSLOG_IDENTIFIER, SYSLOG_TIMESTAMP, TID, CODE_FILE, CODE_LINE,
     * CODE_FUNC): others are refused with NBLOG_EINVAL, nblog_spec_error()
     * naming the field and why. */
    const char *const *sd_params;
    unsigned max_datagram;   /* UDP/unix/journald: longest datagram in bytes;
                                0: 2048 (UDP), 8192 (unix), 65536 (journald;
                                a longer entry goes through a memfd, see
                                nblog_console_journald) */
    unsigned resend_bytes;   /* TCP, TLS: bytes of frames kept to resend; 0: 1 MiB.
                                A quarter stays kept after the peer acknowledged
                                it, resent if the peer resets (it may have
                                dropped them unread); at least 65536 */
    unsigned connect_timeout_ms; /* TCP, TLS: 0 means 1000 */
    unsigned backoff_min_ms;     /* TCP, TLS: first retry delay; 0 means 50 */
    unsigned backoff_max_ms;     /* TCP, TLS: retry delay cap; 0 means 5000 */
    /* syslog+tls only (RFC 5425). The collector's certificate is always
     * verified (chain and name); there is no option to skip that. Files
     * are PEM, read when the console is made. */
    const char *tls_ca_file;   /* CAs to trust; NULL: the system's store */
    const char *tls_cert_file; /* client certificate to present, or NULL;
                                  given with tls_key_file */
    const char *tls_key_file;  /* its private key */
    const char *tls_peer_name; /* the name (or IP address) the collector's
                                  certificate must carry; NULL: url's HOST */
} nblog_syslog_opts_t;

/* Defaults: program name, gethostname(), facility -1, structured data on,
 * RFC 5424, the limits above. [signal-safe] */
NBLOG_API void nblog_syslog_opts_init(nblog_syslog_opts_t *o);

/*
 * nblog_console_syslog - a syslog console to url:
 *     syslog+udp://HOST:PORT   syslog+tcp://HOST:PORT   (HOST may be [v6])
 *     syslog+tls://HOST[:PORT] RFC 5425, port 6514 by default
 *     unix:PATH                a local datagram socket, e.g. unix:/dev/log
 * sopts and opts may be NULL (defaults; the console is named after the
 * url). opts->format is set from sopts (RFC 5424, or RFC 3164). The address
 * is resolved now; a TCP collector need not be up yet. [blocking]
 * Returns NBLOG_OK and *out; NBLOG_EINVAL for a bad url or option (TLS:
 * a CA, certificate or key file that does not load, a certificate without
 * its key; tls_* options on another kind), or a UDP/unix socket that
 * cannot be made; NBLOG_ENOMEM; the errors of
 * nblog_console_register.
 */
NBLOG_API int nblog_console_syslog(const char *url, const nblog_syslog_opts_t *sopts,
                                   const nblog_console_opts_t *opts,
                                   nblog_console_t **out);

/*
 * nblog_console_journald - systemd-journald's native protocol, one datagram
 * per record, to socket_path (NULL: /run/systemd/journal/socket; a
 * namespace instance listens on /run/systemd/journal.NAME/socket). Each
 * entry holds PRIORITY, SYSLOG_FACILITY, SYSLOG_IDENTIFIER, the record's
 * own time (SYSLOG_TIMESTAMP, "Dec  2 13:43:54" in local time, and
 * NBLOG_REALTIME_USEC, microseconds since the epoch), NBLOG_SEQ, TID,
 * NBLOG_REPLAYED=1 when the panic printed it again, MESSAGE, then the
 * custom fields (sopts->sd_params). sopts gives app_name, facility,
 * sd_params and max_datagram; the rest is ignored. [blocking]
 *
 * Time: journald's __REALTIME_TIMESTAMP (what journalctl shows and
 * --since selects by) is when the entry arrived, later than the call for a
 * console that was suspended or behind; the call's time is
 * NBLOG_REALTIME_USEC (journalctl -o verbose or -o json show it).
 * MESSAGE: the text's exact bytes, newlines included, in the protocol's
 * binary field form when they hold a control, so a record can neither end
 * its entry nor add a field (journalctl escapes what it shows).
 * Large entries: one longer than max_datagram (65536 by default) or
 * refused by the kernel (EMSGSIZE) goes through a sealed memfd passed to
 * journald, as its protocol provides, made on the console's printer
 * thread; direct mode, emergency records and the panic flush
 * (write_atomic, perhaps in a signal handler) never make one: they cut
 * MESSAGE, ending it in NBLOG_TRUNC_MARKER (counted in
 * nblog_net_stats_t.truncated).
 * A journald that went away: its records meanwhile fail (write_failed,
 * last_error -ECONNREFUSED: its socket is left, nobody reads it; -ENOENT:
 * no socket); every send call reconnects to the path, so the next
 * instance is found by itself (net stats: disconnects, connects,
 * connect_failures, connected 0 meanwhile). Entries journald had queued
 * unread when it stopped are lost uncounted (the kernel took them).
 * Returns as nblog_console_syslog; NBLOG_EINVAL also for a refused custom
 * field (nblog_spec_error() says which and why).
 */
NBLOG_API int nblog_console_journald(const char *socket_path,
                                     const nblog_syslog_opts_t *sopts,
                                     const nblog_console_opts_t *opts,
                                     nblog_console_t **out);

/* What a network console did besides printing. */
typedef struct nblog_net_stats {
    uint64_t connects;    /* TCP, TLS: connections made (the first included);
                             local datagram sockets: reconnects to a
                             receiver that had gone away */
    uint64_t disconnects; /* TCP, TLS: connections lost; local datagram
                             sockets: the receiver found gone (journald
                             stopped) */
    uint64_t connect_failures; /* TCP, TLS (a failed handshake included),
                                  local datagram sockets: attempts that
                                  failed */
    uint64_t resent_frames; /* TCP: frames sent again after a reconnect */
    uint64_t truncated;   /* datagrams cut to max_datagram */
    int connected;        /* TCP: 1 while connected; UDP: 1; local datagram
                             sockets: 0 while the receiver is gone */
} nblog_net_stats_t;

/* NBLOG_EINVAL if con is not a network console; NBLOG_ESTALE if it was
 * unregistered. [signal-safe] */
NBLOG_API int nblog_console_net_stats(nblog_console_t *con, nblog_net_stats_t *st);

#ifdef __cplusplus
}
#endif
#endif /* NBLOG_H */

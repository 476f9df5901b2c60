/*
 * testutil.h - helpers shared by nblog's tests (libuv's test/task.h is
 * the model: one place for what every test file would otherwise write
 * again). Everything is static inline; names start with tu_.
 *
 *   lines          tu_next_line, tu_parse_kmsg (kmsg output lines)
 *   init           tu_init_debug, tu_shutdown (a cmocka teardown)
 *   consoles       tu_fd_console, tu_discard_write / tu_discard_lines;
 *                  the in-memory capture console is capture.h
 *   books          tu_assert_books, tu_assert_stats_books,
 *                  tu_assert_flushed_within
 *   files          tu_read_file (into a buffer), tu_slurp (malloc)
 *   checking reader  struct tu_read_check, tu_check_seq, tu_check_fail,
 *                  tu_check_drain, tu_check_report (a reader thread's
 *                  seq, gap and first-error bookkeeping)
 *   temporaries    tu_ring_name, tu_ring_options, tu_temp_dir,
 *                  tu_temp_file, tu_remove_dir
 * Child processes are proc.h (spawned) and children.h (a case per child).
 */
#ifndef NBLOG_TESTUTIL_H
#define NBLOG_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "nblog.h"

extern char **environ;

/* The environment for a child that crashes on purpose: ours, with ASan's
 * own signal handling off so nblog's handlers run. */
static inline char **crash_child_env(void)
{
    static char *env[512];
    static char asan[] = "ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0:"
                         "handle_sigfpe=0:handle_sigill=0:detect_leaks=0:"
                         "allow_user_segv_handler=1";
    int n = 0;
    for (char **e = environ; *e && n < 510; e++)
        if (strncmp(*e, "ASAN_OPTIONS=", 13) != 0)
            env[n++] = *e;
    env[n++] = asan;
    env[n] = NULL;
    return env;
}

/* Record counts are divided by this under sanitizers, which run 5-20x
 * slower; the property checked is the same. */
#if defined(NBLOG_TEST_SANITIZER)
#define TEST_SCALE_DIV 20
#else
#define TEST_SCALE_DIV 1
#endif
/* UNDER_TSAN: defined in ThreadSanitizer builds. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#define SCALED(n) ((n) / TEST_SCALE_DIV > 0 ? (n) / TEST_SCALE_DIV : 1)

/* Copies the line of buf[0..len) that starts at *at into line (cut to
 * cap - 1 bytes, NUL-terminated, without its '\n') and moves *at past it.
 * Returns 0 when there is no line left. */
static inline int tu_next_line(const char *buf, size_t len, size_t *at, char *line,
                               size_t cap)
{
    if (*at >= len)
        return 0;
    const char *nl = memchr(buf + *at, '\n', len - *at);
    size_t end = nl ? (size_t)(nl - buf) : len;
    size_t n = end - *at < cap - 1 ? end - *at : cap - 1;
    memcpy(line, buf + *at, n);
    line[n] = '\0';
    *at = end + 1;
    return 1;
}

/* Parses a kmsg-format output line "prefix,seq,usec,-[,replayed];text".
 * Returns 1 with *seq, *replayed (the panic flush's mark) and *text (after
 * the ';'), or 0 if line is not one. */
static inline int tu_parse_kmsg(const char *line, unsigned long long *seq, int *replayed,
                                const char **text)
{
    unsigned prefix;
    unsigned long long usec;
    int used = 0;
    const char *semi = strchr(line, ';');
    if (!semi || sscanf(line, "%u,%llu,%llu,-%n", &prefix, seq, &usec, &used) < 3)
        return 0;
    *replayed = strncmp(line + used, "," NBLOG_REPLAYED_MARK ";",
                        sizeof NBLOG_REPLAYED_MARK + 1) == 0;
    *text = semi + 1;
    return 1;
}

/* ---- init ---- */

/* tu_init_debug with records of at most text_max bytes of text (0: the
 * default, 16 KiB): tests of truncation and of readers' buffers that
 * predate spilled records use 472, the limit of the old 512-byte slots. */
static inline int tu_init_text(size_t records, size_t text_max)
{
    nblog_options_t o;
    nblog_options_init(&o);
    o.level = NBLOG_LEVEL_DEBUG;
    if (records)
        o.ring_records = records;
    o.text_max = text_max;
    return nblog_init(&o);
}

/* nblog_init with the DEBUG threshold and a ring of records slots (0: the
 * default); what nblog_init returned. */
static inline int tu_init_debug(size_t records)
{
    return tu_init_text(records, 0);
}

/* A cmocka setup or teardown that shuts nblog down (a case's own init,
 * or the setup's, is undone). */
static inline int tu_shutdown(void **state)
{
    (void)state;
    nblog_shutdown();
    return 0;
}

/* A console write op (and its callback twin) that takes every byte and
 * keeps none. */
static inline ssize_t tu_discard_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    return (ssize_t)len;
}

static inline void tu_discard_lines(void *arg, const char *lines, size_t len)
{
    (void)arg;
    (void)lines;
    (void)len;
}

/* An fd console on fd named name, in mode (NBLOG_MODE_*). */
static inline nblog_console_t *tu_fd_console(int fd, const char *name, int mode)
{
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = name;
    o.mode = mode;
    nblog_console_t *con;
    assert_int_equal(nblog_console_fd(fd, &o, &con), NBLOG_OK);
    return con;
}

/* ---- a console's books ---- */

/* A console's books balance: every record since it started is printed,
 * filtered, dropped or failed, exactly once. */
static inline void tu_assert_stats_books(const nblog_console_stats_t *st)
{
    assert_int_equal(st->printed + st->filtered + st->dropped + st->write_failed,
                     st->next_seq - st->start_seq);
}

/* ... read from con now. */
static inline void tu_assert_books(nblog_console_t *con)
{
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    tu_assert_stats_books(&st);
}

/* nblog_flush(ms) leaves no console lagging (the test fails naming the
 * ones that are). */
static inline void tu_assert_flushed_within(unsigned ms)
{
    char lag[128];
    int n = nblog_flush(ms, lag, sizeof lag);
    if (n != 0)
        print_error("lagging: %s\n", lag);
    assert_int_equal(n, 0);
}

/* ---- files ---- */

/* The whole file at path into buf, at most cap - 1 bytes, NUL-terminated.
 * Returns its length, or -1 (errno from open) if it does not open. */
static inline long tu_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
    return (long)len;
}

/* The whole file at path, NUL-terminated, in memory from malloc (free
 * it); *len (if not NULL) its length. NULL if it does not open. */
static inline char *tu_slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap + 1);
    assert_non_null(s);
    ssize_t got;
    while ((got = read(fd, s + n, cap - n)) > 0) {
        n += (size_t)got;
        if (n == cap) {
            cap *= 2;
            s = realloc(s, cap + 1);
            assert_non_null(s);
        }
    }
    assert_true(got == 0); /* read to the end, no error */
    close(fd);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

/* ---- a checking reader: one thread reading the ring while others write ---- */

/* What a checking reader saw: records, their seqs and gaps, and the
 * first thing wrong (a reader thread cannot assert; the test asserts
 * errors == 0 once it joined). */
struct tu_read_check {
    uint64_t prev_end;   /* seq after the last record returned */
    uint64_t records;
    uint64_t rec_missed; /* sum of rec.missed */
    uint64_t errors;
    char first_error[512];
};

/* Counts an error; the first one is kept, with the record it is about
 * (rec may be NULL). */
static inline void tu_check_fail(struct tu_read_check *k, const nblog_record_t *rec,
                                 const char *what)
{
    if (k->errors++ == 0)
        snprintf(k->first_error, sizeof k->first_error,
                 "%s (seq %" PRIu64 ", len %u, flags %#x, tid %u, text \"%.200s\")",
                 what, rec ? rec->seq : 0, rec ? rec->len : 0,
                 rec ? rec->flags : 0, rec ? rec->tid : 0,
                 rec ? rec->text : "");
}

/* Sequence numbers: strictly increasing, and the gap from the last
 * record is exactly what the record says was missed. Returns -1 (an
 * error) for a record returned twice or reordered, else 0 (and counts
 * it). */
static inline int tu_check_seq(struct tu_read_check *k, const nblog_record_t *rec)
{
    if (rec->seq < k->prev_end) {
        tu_check_fail(k, rec, "seq not increasing (returned twice or reordered)");
        return -1;
    }
    if (rec->seq - k->prev_end != rec->missed)
        tu_check_fail(k, rec, "rec.missed differs from the gap in seqs");
    k->rec_missed += rec->missed;
    k->prev_end = rec->seq + 1;
    k->records++;
    return 0;
}

/* Reads r, giving each record to check(arg, rec), until an EAGAIN after
 * *done was set (by the main thread, with release, once nothing writes);
 * there r must have reached the head: every seq handed out is committed
 * or gone. Counts the EAGAINs in *eagain (if not NULL). */
static inline void tu_check_drain(nblog_reader_t *r, struct tu_read_check *k, atomic_int *done,
                                  void (*check)(void *arg, const nblog_record_t *rec),
                                  void *arg, uint64_t *eagain)
{
    nblog_record_t rec;
    char buf[512];
    for (;;) {
        /* Acquire: pairs with the main thread's release store of *done;
         * if set, no write is in flight any more. */
        int d = atomic_load_explicit(done, memory_order_acquire);
        int rc = nblog_reader_next(r, &rec, buf, sizeof buf);
        if (rc == NBLOG_OK) {
            check(arg, &rec);
            continue;
        }
        if (rc != NBLOG_EAGAIN) {
            tu_check_fail(k, NULL, nblog_strerror(rc));
            break;
        }
        if (eagain)
            (*eagain)++;
        if (d) {
            nblog_stats_t st;
            nblog_stats_get(&st);
            if (r->next_seq != st.reserved) {
                char m[160];
                snprintf(m, sizeof m,
                         "EAGAIN at seq %" PRIu64 " below head %" PRIu64
                         " with no writer running",
                         r->next_seq, st.reserved);
                tu_check_fail(k, NULL, m);
            }
            break;
        }
        sched_yield();
    }
}

/* Prints what went wrong for k (who: which reader), if anything. */
static inline void tu_check_report(const struct tu_read_check *k, const char *who)
{
    if (k->errors)
        print_error("%s: %" PRIu64 " errors, first: %s\n", who, k->errors, k->first_error);
}

/* ---- temporary rings and directories ---- */

/* A ring file name under /dev/shm for this test process and what, with
 * no file by that name yet (one an earlier run left is removed). */
static inline void tu_ring_name(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "/dev/shm/nblog-test-%s-%ld", what, (long)getpid());
    unlink(out);
}

/* Options for a ring in the file at path: the defaults, with records
 * slots of record_size bytes where those are not 0. */
static inline void tu_ring_options(nblog_options_t *o, const char *path, size_t records,
                                   size_t record_size)
{
    nblog_options_init(o);
    o->ring_path = path;
    if (records)
        o->ring_records = records;
    if (record_size)
        o->record_size = record_size;
}

/* A new private directory /tmp/nblog-test-WHAT-XXXXXX, its name in dir;
 * dir, or NULL (errno set) if it could not be made. */
static inline char *tu_temp_dir(char *dir, size_t cap, const char *what)
{
    snprintf(dir, cap, "/tmp/nblog-test-%s-XXXXXX", what);
    return mkdtemp(dir);
}

/* ... and a new private file /tmp/nblog-test-WHAT-XXXXXX, open for
 * reading and writing: its fd, or -1 (errno set). */
static inline int tu_temp_file(char *path, size_t cap, const char *what)
{
    snprintf(path, cap, "/tmp/nblog-test-%s-XXXXXX", what);
    return mkstemp(path);
}

static inline int tu_remove_one(const char *path, const struct stat *st, int type,
                                struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* Removes dir and everything in it: 0, or -1 if something stayed. */
static inline int tu_remove_dir(const char *dir)
{
    return nftw(dir, tu_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif

/*
 * test-reader.c - the public ring-file reader (nblog.h, "Reading a ring
 * file") and nblog_write, as a program outside nblog uses them: refusal
 * verdicts with a sentence, iterating with exact missed counts, following
 * a writer child (tests/ring-writer.c) while it runs, after it died and
 * when a new writer replaced its file, header info, published console
 * stats (copy and live, both pages of the table), giving up on unfinished
 * records, every line format, and byte strings with NUL in them.
 *
 * Internals (ring.h, ringfile.h) appear only to forge files and to
 * publish stats without waiting for the publisher's 100 ms tick.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "nblog.h"
#include "ring.h"
#include "publish.h"
#include "ringfile.h"
#include "stats.h"
#include "proc.h"
#include "testutil.h"

static char writer[] = RING_WRITER;

#define HANG_GUARD_MS 20000 /* a broken child fails the test, never hangs it */

/* nblog_init with a file ring of 16 records of record_size bytes at path
 * (program: its name, NULL: the default; quiet: no console of init's). */
static int init_ring(const char *path, size_t record_size, const char *program, int quiet)
{
    unlink(path);
    nblog_options_t o;
    tu_ring_options(&o, path, 16, record_size);
    o.data_bytes = 0; /* slots alone, text_max their inline room (test-bigrec spills) */
    o.level = NBLOG_LEVEL_DEBUG;
    o.crash_handlers = NBLOG_CRASH_NONE;
    o.program = program;
    if (quiet)
        o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    return nblog_init(&o);
}

/* A file ring of 16 records of 128 bytes in this process, at path. */
static void init_file_ring(const char *path)
{
    assert_int_equal(init_ring(path, 128, NULL, 0), NBLOG_OK);
}

static void log_n(int from, int to)
{
    for (int i = from; i < to; i++)
        assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "record %d", i), NBLOG_OK);
}

static void next_ok(nblog_reader_t *rd, nblog_record_t *rec, char *buf, size_t cap)
{
    int rc = nblog_reader_next(rd, rec, buf, cap);
    if (rc != NBLOG_OK)
        fail_msg("nblog_reader_next: %d (%s)", rc, nblog_strerror(rc));
}

/* ------------------------------------------------------------- refusals */

/* The bytes of a ring file this process wrote at path (16 x 128, records
 * 0..n-1), in 64-byte aligned memory as a mapping would be (free it). */
static unsigned char *valid_image(const char *path, int n, size_t *bytes)
{
    init_file_ring(path);
    log_n(0, n);
    nblog_shutdown();
    *bytes = nblog__ring_bytes(16, 128);
    unsigned char *mem = aligned_alloc(64, *bytes);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, mem, *bytes, 0), (ssize_t)*bytes);
    close(fd);
    return mem;
}

static void write_file(const char *path, const void *bytes, size_t n)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, n), (ssize_t)n);
    close(fd);
}

/* Both modes must refuse path with rc (and errno err if not 0), with a
 * sentence in why that contains `says`, and leave *out NULL. */
static void refused(const char *path, int rc, int err, const char *says)
{
    for (int mode = NBLOG_RINGFILE_COPY; mode <= NBLOG_RINGFILE_LIVE; mode++) {
        nblog_ringfile_t *f = (nblog_ringfile_t *)1;
        char why[512] = "";
        errno = 0;
        int got = nblog_ringfile_open(path, mode, &f, why, sizeof why);
        if (got != rc)
            fail_msg("%s (mode %d): %d (%s), want %d: %s", path, mode, got,
                     nblog_strerror(got), rc, why);
        if (err && errno != err)
            fail_msg("%s: errno %d (%s), want %d", path, errno, strerror(errno), err);
        assert_null(f);
        if (!strstr(why, says))
            fail_msg("%s: why \"%s\" does not say \"%s\"", path, why, says);
    }
}

static void test_refusal_verdicts(void **state)
{
    (void)state;
    char path[128], dir[160];
    tu_ring_name(path, sizeof path, "reader-refuse");
    snprintf(dir, sizeof dir, "%s.d", path);
    size_t bytes;
    unsigned char *mem = valid_image(path, 20, &bytes);
    struct nblog__ring_hdr *r = (struct nblog__ring_hdr *)mem;

    unlink(path);
    refused(path, NBLOG_EFILE, ENOENT, "No such file");
    assert_int_equal(mkdir(dir, 0700), 0);
    refused(dir, NBLOG_EFILE, EINVAL, "not a regular file");
    rmdir(dir);
    assert_int_equal(mkfifo(dir, 0600), 0); /* no writer: open must not wait */
    refused(dir, NBLOG_EFILE, EINVAL, "not a regular file");
    unlink(dir);

    write_file(path, "", 0);
    refused(path, NBLOG_ENOTRING, 0, "not an nblog ring");
    write_file(path, "#!/bin/sh\necho hi\n", 18);
    refused(path, NBLOG_ENOTRING, 0, "not an nblog ring");
    r->version = 99;
    write_file(path, mem, bytes);
    refused(path, NBLOG_EVERSION, 0, "newer");
    r->version = NBLOG__RING_VERSION;
    write_file(path, mem, 100);
    refused(path, NBLOG_ESHORT, 0, "truncated");
    write_file(path, mem, bytes - 300);
    refused(path, NBLOG_ESHORT, 0, "truncated");
    r->records = 1000;
    write_file(path, mem, bytes);
    refused(path, NBLOG_ECORRUPT, 0, "corrupt");
    r->records = 16;

    /* The codes have sentences; bad arguments are refused. */
    assert_true(strstr(nblog_strerror(NBLOG_ESHORT), "shorter") != NULL);
    assert_true(strstr(nblog_strerror(NBLOG_ESTALE), "replaced") != NULL);
    nblog_ringfile_t *f = (nblog_ringfile_t *)1;
    assert_int_equal(nblog_ringfile_open(NULL, NBLOG_RINGFILE_COPY, &f, NULL, 0), NBLOG_EINVAL);
    assert_null(f);
    assert_int_equal(nblog_ringfile_open(path, 7, &f, NULL, 0), NBLOG_EINVAL);
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, NULL, NULL, 0),
                     NBLOG_EINVAL);

    /* And the valid image opens, why saying so. */
    write_file(path, mem, bytes);
    char why[64];
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, why, sizeof why),
                     NBLOG_OK);
    assert_string_equal(why, "ok");
    nblog_reader_t rd;
    assert_int_equal(nblog_ringfile_reader(f, 5, &rd), NBLOG_EINVAL);
    assert_int_equal(nblog_ringfile_reader(NULL, NBLOG_FROM_OLDEST, &rd), NBLOG_EINVAL);
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
    nblog_record_t rec;
    char buf[256];
    next_ok(&rd, &rec, buf, sizeof buf);
    assert_int_equal(rec.seq, 4); /* 20 written, 16 kept */
    assert_string_equal(rec.text, "record 4");
    nblog_ringfile_close(f);
    nblog_ringfile_close(NULL);
    unlink(path);
    free(mem);
}

/* --------------------------------------------------- iterate and missed */

static void test_iterate_missed_exact(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "reader-iter");
    init_file_ring(path);
    log_n(0, 40);
    nblog_ringfile_t *copy, *live;
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &copy, NULL, 0), NBLOG_OK);
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_LIVE, &live, NULL, 0), NBLOG_OK);
    nblog_reader_t rc_, rl;
    assert_int_equal(nblog_ringfile_reader(copy, NBLOG_FROM_OLDEST, &rc_), NBLOG_OK);
    assert_int_equal(nblog_ringfile_reader(live, NBLOG_FROM_OLDEST, &rl), NBLOG_OK);
    assert_int_equal(rl.next_seq, 24);
    assert_int_equal(nblog_reader_head(&rl), 40);
    nblog_record_t rec;
    char buf[256];
    next_ok(&rl, &rec, buf, sizeof buf);
    assert_int_equal(rec.seq, 24);
    assert_string_equal(rec.text, "record 24");
    assert_int_equal(rec.missed, 0);
    next_ok(&rl, &rec, buf, sizeof buf);
    assert_int_equal(rec.seq, 25);

    /* 20 more: the ring laps the live reader, which learns exactly how
     * many it missed once it brings in the new head. */
    log_n(40, 60);
    assert_int_equal(nblog_ringfile_wait(live, rl.next_seq, 0), NBLOG_OK);
    assert_int_equal(nblog_reader_head(&rl), 60);
    next_ok(&rl, &rec, buf, sizeof buf);
    assert_int_equal(rec.seq, 44);
    assert_int_equal(rec.missed, 44 - 26);
    assert_string_equal(rec.text, "record 44");
    uint64_t n = 1;
    while (nblog_reader_next(&rl, &rec, buf, sizeof buf) == NBLOG_OK)
        assert_int_equal(rec.seq, 44 + n++);
    assert_int_equal(n, 16);
    assert_int_equal(rl.missed, 18);
    assert_int_equal(rl.read, 18);
    assert_int_equal(nblog_ringfile_wait(live, rl.next_seq, 0), NBLOG_EAGAIN);

    /* The copy saw none of it: its ring is as it was at open. */
    assert_int_equal(nblog_ringfile_wait(copy, rc_.next_seq, 1000), NBLOG_OK);
    assert_int_equal(nblog_reader_head(&rc_), 40);
    n = 0;
    while (nblog_reader_next(&rc_, &rec, buf, sizeof buf) == NBLOG_OK)
        assert_int_equal(rec.seq, 24 + n++);
    assert_int_equal(n, 16);
    assert_int_equal(nblog_ringfile_wait(copy, rc_.next_seq, 1000), NBLOG_EAGAIN);

    /* Header info: the live handle now, the copy then. */
    nblog_ringfile_info_t in;
    assert_int_equal(nblog_ringfile_info(live, &in), NBLOG_OK);
    assert_int_equal(in.head, 60);
    assert_int_equal(in.oldest, 44);
    assert_int_equal(in.first_seq, 0);
    assert_int_equal(in.records, 16);
    assert_int_equal(in.record_size, 128);
    assert_int_equal(in.text_max, 128 - NBLOG__SLOT_HDR);
    assert_int_equal(in.lost, 0);
    assert_int_equal(in.writer_pid, (unsigned)getpid());
    assert_int_equal(in.writer_running, 1); /* we hold the lock */
    assert_int_equal(in.live, 1);
    assert_true(in.stats_published_ns > 0); /* published once at init */
    assert_int_equal(nblog_ringfile_info(copy, &in), NBLOG_OK);
    assert_int_equal(in.head, 40);
    assert_int_equal(in.live, 0);
    assert_int_equal(nblog_ringfile_info(NULL, &in), NBLOG_EINVAL);
    assert_int_equal(nblog_ringfile_info(copy, NULL), NBLOG_EINVAL);
    assert_int_equal(nblog_ringfile_wait(NULL, 0, 0), NBLOG_EINVAL);

    /* A reader may start where it likes: a seq no longer stored counts
     * as missed. */
    rl.next_seq = 30;
    next_ok(&rl, &rec, buf, sizeof buf);
    assert_int_equal(rec.seq, 44);
    assert_int_equal(rec.missed, 14);

    nblog_shutdown();
    assert_int_equal(nblog_ringfile_info(live, &in), NBLOG_OK);
    assert_int_equal(in.writer_running, 0);
    nblog_ringfile_close(copy);
    nblog_ringfile_close(live);
    unlink(path);
}

/* ------------------------------------------------- follow a writer child */

/* Reads lines from the writer until it reported record `want`. */
static void await_report(struct line_reader *lr, long want)
{
    char line[64];
    for (;;) {
        if (read_line(lr, line, sizeof line, HANG_GUARD_MS) != 1)
            fail_msg("writer stopped reporting before record %ld", want);
        if (atol(line) >= want)
            return;
    }
}

/* Follows until a record with text `until` was read; checks the seqs
 * are consecutive from *next. */
static void follow_until(nblog_ringfile_t *f, nblog_reader_t *rd, const char *until)
{
    nblog_record_t rec;
    char buf[512];
    for (int sleeps = 0; sleeps < HANG_GUARD_MS / 100;) {
        uint64_t expect = rd->next_seq;
        int rc = nblog_reader_next(rd, &rec, buf, sizeof buf);
        if (rc == NBLOG_EAGAIN) {
            rc = nblog_ringfile_wait(f, rd->next_seq, 100);
            assert_true(rc == NBLOG_OK || rc == NBLOG_EAGAIN);
            sleeps += rc == NBLOG_EAGAIN;
            continue;
        }
        assert_int_equal(rc, NBLOG_OK);
        assert_int_equal(rec.seq, expect);
        assert_int_equal(rec.missed, 0);
        if (strcmp(rec.text, until) == 0)
            return;
    }
    fail_msg("no record \"%s\" while following", until);
}

static void test_follow_writer_child(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "reader-follow");
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char *args[] = {writer, "ticks", path, NULL};
    pid_t pid = spawn_child(args, -1, out[1]);
    close(out[1]);
    struct line_reader lr = {.fd = out[0]};
    await_report(&lr, 2);

    nblog_ringfile_t *f;
    char why[256];
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_LIVE, &f, why, sizeof why),
                     NBLOG_OK);
    nblog_ringfile_info_t in;
    assert_int_equal(nblog_ringfile_info(f, &in), NBLOG_OK);
    assert_int_equal(in.writer_pid, (unsigned)pid);
    assert_int_equal(in.writer_running, 1);
    assert_int_equal(in.records, 4096);
    nblog_reader_t rd;
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
    assert_int_equal(rd.next_seq, 0);
    follow_until(f, &rd, "tick 10"); /* written after we opened */

    /* The writer dies: the records stay, nothing new comes, no lock. */
    kill(pid, SIGKILL);
    assert_int_equal(wait_child(pid), 128 + SIGKILL);
    close(out[0]);
    nblog_record_t rec;
    char buf[512];
    for (;;) {
        if (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK)
            continue;
        if (nblog_ringfile_wait(f, rd.next_seq, 0) != NBLOG_OK)
            break;
        /* Head is past us: read on, or give up on a record the writer
         * was killed in the middle of. */
        if (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_EAGAIN)
            nblog_reader_skip(&rd, rd.next_seq + 1);
    }
    assert_int_equal(nblog_ringfile_wait(f, rd.next_seq, 10), NBLOG_EAGAIN);
    assert_int_equal(nblog_ringfile_info(f, &in), NBLOG_OK);
    assert_int_equal(in.writer_running, 0);
    uint64_t stopped = rd.next_seq;
    assert_int_equal(in.head, stopped);

    /* A new writer with other sizes replaces the file: the old one never
     * changes again, and the wait says so; the new one continues the
     * sequence. */
    char *burst[] = {writer, "burst", path, "5", NULL};
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(devnull >= 0);
    assert_int_equal(wait_child(spawn_child(burst, -1, devnull)), 0);
    close(devnull);
    assert_int_equal(nblog_ringfile_wait(f, rd.next_seq, 10), NBLOG_ESTALE);
    nblog_ringfile_close(f);
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_LIVE, &f, why, sizeof why),
                     NBLOG_OK);
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
    assert_int_equal(rd.next_seq, stopped);
    next_ok(&rd, &rec, buf, sizeof buf);
    assert_int_equal(rec.seq, stopped);
    assert_string_equal(rec.text, "burst record 0");
    nblog_ringfile_close(f);
    unlink(path);
}

/* Writers that replace the file one after another (other sizes each
 * time) never leave the name without a whole ring: every open of the name
 * meanwhile finds one. (Before, the name was missing between the unlink
 * and the new file, then named an empty or short file until the new
 * writer had formatted it: a follower that reopened then gave up.) */
static void test_replaced_file_always_whole(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "reader-replace");
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(devnull >= 0);
    char *first[] = {writer, "resize", path, "1", NULL};
    assert_int_equal(wait_child(spawn_child(first, -1, devnull)), 0);
    char *lives[] = {writer, "resize", path, "200", NULL};
    pid_t pid = spawn_child(lives, -1, devnull);
    unsigned long opened = 0, refused = 0;
    int st = 0;
    pid_t done = 0;
    while (done == 0) {
        done = waitpid(pid, &st, WNOHANG); /* then one open more */
        nblog_ringfile_t *f;
        char why[256];
        int rc = nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, why, sizeof why);
        if (rc == NBLOG_OK) {
            opened++;
            nblog_ringfile_close(f);
        } else if (refused++ == 0) {
            print_message("refused (%d): %s\n", rc, why);
        }
    }
    close(devnull);
    assert_int_equal(done, pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    print_message("%lu opens, %lu refused\n", opened, refused);
    assert_int_equal(refused, 0);
    assert_true(opened > 0);
    unlink(path);
}

/* ------------------------------------------------ unfinished records */

/* A ring whose records 1 and 2 (of 0..3) were reserved and never
 * committed (their writers were SIGKILLed). */
static void test_unfinished_skipped(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "reader-pending");
    size_t bytes;
    unsigned char *mem = valid_image(path, 4, &bytes);
    struct nblog__ring_hdr *r = (struct nblog__ring_hdr *)mem;
    for (uint64_t seq = 1; seq <= 2; seq++) {
        struct nblog__slot *s =
            (struct nblog__slot *)(mem + r->slots_offset + seq * r->record_size);
        atomic_store(&s->state, seq << 2 | NBLOG__SLOT_RESERVED);
    }
    write_file(path, mem, bytes);
    free(mem);

    for (int below_all = 0; below_all < 2; below_all++) {
        nblog_ringfile_t *f;
        assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, NULL, 0),
                         NBLOG_OK);
        nblog_reader_t rd;
        assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
        nblog_record_t rec;
        char buf[64];
        next_ok(&rd, &rec, buf, sizeof buf);
        assert_int_equal(rec.seq, 0);
        assert_int_equal(nblog_reader_next(&rd, &rec, buf, sizeof buf), NBLOG_EAGAIN);
        assert_int_equal(rd.next_seq, 1);
        assert_true(nblog_reader_head(&rd) > rd.next_seq); /* stopped at a pending one */
        uint64_t n = nblog_reader_skip(&rd, below_all ? 4 : rd.next_seq + 1);
        assert_int_equal(n, below_all ? 2 : 1);
        assert_int_equal(rd.missed, n);
        if (!below_all) {
            assert_int_equal(nblog_reader_next(&rd, &rec, buf, sizeof buf), NBLOG_EAGAIN);
            assert_int_equal(nblog_reader_skip(&rd, rd.next_seq + 1), 1);
        }
        next_ok(&rd, &rec, buf, sizeof buf);
        assert_int_equal(rec.seq, 3);
        assert_int_equal(rec.missed, 0); /* skipped ones are the caller's to report */
        assert_int_equal(rd.missed, 2);
        assert_int_equal(nblog_reader_skip(&rd, 100), 0); /* nothing pending at head */
        assert_int_equal(rd.next_seq, 4);
        nblog_ringfile_close(f);
    }
    assert_int_equal(nblog_reader_skip(NULL, 1), 0);
    unlink(path);
}

/* ------------------------------------------------------- console stats */

static nblog_console_t *sink_console(const char *name)
{
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = name;
    o.start = NBLOG_FROM_OLDEST;
    nblog_console_t *con;
    assert_int_equal(nblog_console_callback(tu_discard_lines, NULL, &o, &con), NBLOG_OK);
    return con;
}

static void publish_now(void)
{
    const void *mem;
    size_t bytes;
    nblog__ring_memory(&mem, &bytes);
    assert_non_null(mem);
    nblog__publish_once((struct nblog__ring_hdr *)mem);
}

/* Writes a published stats entry by hand into the file (as a hostile
 * writer could): in use, named name, printed = printed. */
static void forge_entry(const char *path, unsigned i, const char *name, uint64_t printed)
{
    struct nblog__stats_entry e;
    memset(&e, 0, sizeof e);
    memcpy(e.name, name, strlen(name) < 31 ? strlen(name) : 31);
    e.v[NBLOG__STAT_IN_USE] = 1;
    e.v[NBLOG__STAT_PRINTED] = printed;
    e.v[NBLOG__STAT_NEXT_SEQ] = 1;
    e.v[NBLOG__STAT_HEAD] = 3;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    off_t at = (off_t)(sizeof(struct nblog__ring_hdr) + i * sizeof e);
    assert_int_equal(pwrite(fd, &e, sizeof e, at), (ssize_t)sizeof e);
    close(fd);
}

static int find(const nblog_console_stats_t *st, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(st[i].name, name) == 0)
            return i;
    return -1;
}

static void test_published_console_stats(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "reader-stats");
    init_file_ring(path);
    nblog_console_t *a = sink_console("cons-a");
    nblog_console_t *b = sink_console("cons-b");
    log_n(0, 5);
    assert_int_equal(nblog_flush(HANG_GUARD_MS, NULL, 0), 0);
    publish_now();

    nblog_ringfile_t *copy, *live;
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &copy, NULL, 0), NBLOG_OK);
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_LIVE, &live, NULL, 0), NBLOG_OK);
    nblog_console_stats_t st[NBLOG_RINGFILE_CONSOLES_MAX], mine;
    int n = nblog_ringfile_console_stats(copy, st, NBLOG_RINGFILE_CONSOLES_MAX);
    assert_int_equal(n, 2);
    int ia = find(st, n, "cons-a");
    assert_true(ia >= 0 && find(st, n, "cons-b") >= 0);
    assert_int_equal(nblog_console_stats(a, &mine), NBLOG_OK);
    assert_int_equal(st[ia].printed, mine.printed);
    assert_int_equal(st[ia].next_seq, mine.next_seq);
    assert_int_equal(st[ia].printed, 5);
    assert_int_equal(nblog_ringfile_console_stats(copy, st, 1), 1);
    assert_int_equal(nblog_ringfile_console_stats(copy, NULL, 0), 0);
    assert_int_equal(nblog_ringfile_console_stats(copy, st, -1), NBLOG_EINVAL);
    assert_int_equal(nblog_ringfile_console_stats(NULL, st, 1), NBLOG_EINVAL);

    /* Published again: the live handle sees it, the copy does not. */
    log_n(5, 12);
    assert_int_equal(nblog_flush(HANG_GUARD_MS, NULL, 0), 0);
    publish_now();
    n = nblog_ringfile_console_stats(live, st, NBLOG_RINGFILE_CONSOLES_MAX);
    assert_int_equal(n, 2);
    assert_int_equal(st[find(st, n, "cons-b")].printed, 12);
    n = nblog_ringfile_console_stats(copy, st, NBLOG_RINGFILE_CONSOLES_MAX);
    assert_int_equal(st[find(st, n, "cons-b")].printed, 5);

    /* The table's last entries lie on the file's second page (a live
     * view maps it apart from the first): a name with escapes comes back
     * as the file has it, NUL-terminated, for the caller to escape. */
    assert_int_equal(nblog_console_unregister(a), NBLOG_OK);
    assert_int_equal(nblog_console_unregister(b), NBLOG_OK);
    nblog_shutdown(); /* the publisher stops: the file is ours to forge */
    static const char hostile[] = "\033]0;owned\007\033[2J\033[31m and longer than 31";
    char cut[32] = "";
    memcpy(cut, hostile, 31); /* the file holds 31 bytes of it */
    forge_entry(path, NBLOG__STATS_SLOTS - 1, hostile, 77);
    forge_entry(path, 0, "first", 3);
    n = nblog_ringfile_console_stats(live, st, NBLOG_RINGFILE_CONSOLES_MAX);
    int last = find(st, n, cut);
    assert_true(last >= 0);
    assert_int_equal(st[last].printed, 77);
    assert_int_equal(st[last].lag, 2);
    assert_true(find(st, n, "first") >= 0);
    nblog_ringfile_close(copy);
    nblog_ringfile_close(live);
    unlink(path);
}

/* --------------------------------------------- nblog_write and render */

/* The one record a copy of path holds at seq (open, read, close). */
static void read_seq(const char *path, uint64_t seq, nblog_record_t *rec, char *buf,
                     size_t cap)
{
    nblog_ringfile_t *f;
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, NULL, 0), NBLOG_OK);
    nblog_reader_t rd;
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
    rd.next_seq = seq;
    next_ok(&rd, rec, buf, cap);
    assert_int_equal(rec->seq, seq);
    nblog_ringfile_close(f);
}

static void test_write_bytes(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "reader-write");
    init_file_ring(path);
    nblog_stats_t st;
    nblog_stats_get(&st);
    static const char bytes[] = "a\0b%s%n\033[2J\nc";
    errno = EDOM;
    assert_int_equal(nblog_write(NBLOG_LEVEL_NOTICE, bytes, sizeof bytes - 1), NBLOG_OK);
    assert_int_equal(errno, EDOM);
    char longer[300];
    memset(longer, 'x', sizeof longer);
    assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, longer, sizeof longer), NBLOG_OK);
    assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, NULL, 0), NBLOG_OK);
    assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, NULL, 5), NBLOG_ENOFMT);
    assert_int_equal(nblog_write(99, "lvl", 3), NBLOG_ELEVEL);
    assert_int_equal(nblog_level_set(NBLOG_LEVEL_INFO), NBLOG_LEVEL_DEBUG);
    assert_int_equal(nblog_write(NBLOG_LEVEL_DEBUG, "quiet", 5), NBLOG_FILTERED);
    char text_max[200];
    memset(text_max, 'y', st.text_max);
    assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, text_max, st.text_max), NBLOG_OK);

    nblog_record_t rec;
    char buf[512];
    read_seq(path, 0, &rec, buf, sizeof buf);
    assert_int_equal(rec.len, sizeof bytes - 1); /* the NUL counts */
    assert_memory_equal(rec.text, bytes, sizeof bytes - 1);
    assert_int_equal(rec.text[rec.len], '\0');
    assert_int_equal(rec.level, NBLOG_LEVEL_NOTICE);
    assert_int_equal(rec.flags & (NBLOG_F_TRUNCATED | NBLOG_F_BADINPUT), 0);
    read_seq(path, 1, &rec, buf, sizeof buf);
    assert_int_equal(rec.len, st.text_max);
    assert_true(rec.flags & NBLOG_F_TRUNCATED);
    assert_string_equal(rec.text + rec.len - 5, NBLOG_TRUNC_MARKER);
    read_seq(path, 2, &rec, buf, sizeof buf);
    assert_int_equal(rec.len, 0);
    read_seq(path, 3, &rec, buf, sizeof buf);
    assert_true(rec.flags & NBLOG_F_BADINPUT);
    assert_string_equal(rec.text, "nblog: nblog_write given NULL bytes");
    read_seq(path, 4, &rec, buf, sizeof buf);
    assert_int_equal(rec.level, NBLOG_LEVEL_DEBUG);
    assert_true(rec.flags & NBLOG_F_BADINPUT);
    read_seq(path, 5, &rec, buf, sizeof buf); /* "quiet" was not stored */
    assert_int_equal(rec.len, st.text_max);   /* exactly full: not cut */
    assert_int_equal(rec.flags & NBLOG_F_TRUNCATED, 0);
    nblog_shutdown();
    unlink(path);
}

/* No byte of the line acts on a terminal or ends a line early. */
static void assert_inert(const char *line, size_t n, int format)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch == '\n' && (i == n - 1 || format == NBLOG_FORMAT_JOURNAL))
            continue;
        if (ch < 0x20 || ch == 0x7f)
            fail_msg("format %d: raw byte 0x%02x at %zu: %.*s", format, ch, i, (int)n, line);
    }
}

static void test_render_formats(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "reader-render");
    init_file_ring(path);
    static const char bytes[] = "a\0b\033[2J\nc\xc2\x9b";
    assert_int_equal(nblog_write(NBLOG_LEVEL_WARNING, bytes, sizeof bytes - 1), NBLOG_OK);
    nblog_shutdown();
    nblog_record_t rec;
    char buf[512];
    read_seq(path, 0, &rec, buf, sizeof buf);
    static const char esc[] = "a\\x00b\\x1b[2J\\x0ac\\xc2\\x9b";
    char line[NBLOG_LINE_MAX], want[256];

    size_t n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_PLAIN, &rec);
    snprintf(want, sizeof want, "%s\n", esc);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(line, want, n);

    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_KMSG, &rec);
    snprintf(want, sizeof want, "%u,0,%llu,-;%s\n", (unsigned)rec.facility * 8 + 4,
             (unsigned long long)(rec.ts_ns / 1000), esc);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(line, want, n);

    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_RFC5424, &rec);
    line[n] = '\0';
    snprintf(want, sizeof want, "<%u>1 ", (unsigned)rec.facility * 8 + 4);
    assert_true(strncmp(line, want, strlen(want)) == 0);
    snprintf(want, sizeof want, " - - - - [nblog@32473 seq=\"0\" tid=\"%u\"] %s\n",
             (unsigned)rec.tid, esc);
    assert_true(n > strlen(want));
    assert_string_equal(line + n - strlen(want), want);

    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_RFC3164, &rec);
    line[n] = '\0';
    snprintf(want, sizeof want, "<%u>", (unsigned)rec.facility * 8 + 4);
    assert_true(strncmp(line, want, strlen(want)) == 0);
    snprintf(want, sizeof want, " - -[-]: %s\n", esc);
    assert_string_equal(line + n - strlen(want), want);

    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_JOURNAL, &rec);
    line[n] = '\0';
    assert_true(strncmp(line, "PRIORITY=4\n", 11) == 0);
    assert_non_null(strstr(line, "\nNBLOG_SEQ=0\n"));
    snprintf(want, sizeof want, "\nMESSAGE=%s\n\n", esc);
    assert_string_equal(line + n - strlen(want), want);

    /* Every format, and short buffers: never past cap, always '\n'. */
    for (int format = NBLOG_FORMAT_PLAIN; format <= NBLOG_FORMAT_JSON; format++) {
        n = nblog_render_line(line, sizeof line, format, &rec);
        assert_inert(line, n, format);
        for (size_t cap = 2; cap < 40; cap++) {
            memset(line, '#', sizeof line);
            n = nblog_render_line(line, cap, format, &rec);
            assert_true(n >= 1 && n <= cap);
            assert_int_equal(line[n - 1], '\n');
            assert_int_equal(line[cap], '#');
        }
    }
    /* No pattern to follow, or no format at all: refused. */
    assert_int_equal(nblog_render_line(line, sizeof line, NBLOG_FORMAT_PATTERN, &rec), 0);
    assert_int_equal(nblog_render_line(line, sizeof line, -1, &rec), 0);
    assert_int_equal(nblog_render_line(line, sizeof line, 99, &rec), 0);
    assert_int_equal(nblog_render_line(line, 1, NBLOG_FORMAT_PLAIN, &rec), 0);
    assert_int_equal(nblog_render_line(NULL, 10, NBLOG_FORMAT_PLAIN, &rec), 0);
    assert_int_equal(nblog_render_line(line, 10, NBLOG_FORMAT_PLAIN, NULL), 0);
    unlink(path);
}

/* A ring written by another process (a child named "app") renders with
 * its writer's pid and program, not the reader's; a forged name or pid is
 * shown harmlessly. */
static void test_ringfile_identity(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "reader-identity");
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (init_ring(path, 128, "app", 1) != NBLOG_OK ||
            nblog_write(NBLOG_LEVEL_NOTICE, "hi", 2) != NBLOG_OK)
            _exit(1);
        nblog_shutdown();
        _exit(0);
    }
    assert_int_equal(wait_child(child), 0);
    nblog_ringfile_t *f;
    char why[256], line[NBLOG_LINE_MAX], want[128], buf[512];
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, why, sizeof why),
                     NBLOG_OK);
    nblog_reader_t rd;
    nblog_record_t rec;
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
    next_ok(&rd, &rec, buf, sizeof buf);

    size_t n = nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_JSON, &rec);
    line[n] = '\0';
    snprintf(want, sizeof want, ",\"pid\":%d,\"program\":\"app\",\"message\":\"hi\"}\n",
             (int)child);
    assert_non_null(strstr(line, want));
    n = nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_RFC5424, &rec);
    line[n] = '\0';
    snprintf(want, sizeof want, " - app %d - [nblog@32473 seq=\"0\" ", (int)child);
    assert_non_null(strstr(line, want));
    n = nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_RFC3164, &rec);
    line[n] = '\0';
    snprintf(want, sizeof want, " - app[%d]: hi\n", (int)child);
    assert_non_null(strstr(line, want));
    n = nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_JOURNAL, &rec);
    line[n] = '\0';
    assert_non_null(strstr(line, "\nSYSLOG_IDENTIFIER=app\n"));
    /* nblog_render_line stays this process's word. */
    n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_JSON, &rec);
    line[n] = '\0';
    snprintf(want, sizeof want, ",\"pid\":%d,\"program\":", (int)getpid());
    assert_non_null(strstr(line, want));
    assert_int_equal(nblog_ringfile_render_line(NULL, line, sizeof line, 0, &rec), 0);
    assert_int_equal(
        nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_PATTERN, &rec), 0);
    nblog_ringfile_close(f);

    /* Forged: a name with controls and no NUL, pid 0. */
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    char forged[NBLOG__RING_PROGRAM_BYTES];
    memset(forged, 'x', sizeof forged);
    memcpy(forged, "\033[2J\n\xc2\x9b", 7);
    uint32_t zero = 0;
    assert_int_equal(pwrite(fd, forged, sizeof forged,
                            offsetof(struct nblog__ring_hdr, writer_program)),
                     (ssize_t)sizeof forged);
    assert_int_equal(pwrite(fd, &zero, sizeof zero,
                            offsetof(struct nblog__ring_hdr, writer_pid)),
                     (ssize_t)sizeof zero);
    close(fd);
    assert_int_equal(nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, why, sizeof why),
                     NBLOG_OK);
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
    next_ok(&rd, &rec, buf, sizeof buf);
    n = nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_JSON, &rec);
    line[n] = '\0';
    assert_non_null(strstr(line, ",\"pid\":0,\"program\":\"_[2J___xxx"));
    n = nblog_ringfile_render_line(f, line, sizeof line, NBLOG_FORMAT_RFC3164, &rec);
    line[n] = '\0';
    char name[NBLOG__RING_PROGRAM_BYTES];
    memset(name, 'x', sizeof name);
    memcpy(name, "_[2J___", 7); /* 4 bytes replaced, the rest cut at 48 */
    snprintf(want, sizeof want, " - %.48s[-]: hi\n", name);
    assert_non_null(strstr(line, want));
    nblog_ringfile_close(f);
    unlink(path);
}

/* The longest record, of the bytes json grows most (0xff: \ufffd and a
 * message_bytes entry; 0x01: \u0001), renders whole in NBLOG_LINE_MAX,
 * through the public API and from a console. */
static void test_json_worst_fits(void **state)
{
    (void)state;
    static char text[NBLOG_RECORD_SIZE_MAX], line[NBLOG_LINE_MAX], out[NBLOG_LINE_MAX + 1];
    const unsigned char fills[] = {0xff, 0x01};
    for (size_t i = 0; i < sizeof fills; i++) {
        memset(text, fills[i], sizeof text);
        nblog_record_t rec = {.seq = 1, .wall_ns = 0, .level = NBLOG_LEVEL_INFO,
                              .len = sizeof text - 1, .text = text};
        size_t n = nblog_render_line(line, sizeof line, NBLOG_FORMAT_JSON, &rec);
        assert_true(n > 0 && n < sizeof line && line[n - 1] == '\n');
        assert_null(memmem(line, n, "\"truncated\"", 11));
        assert_memory_equal(line + n - 3, fills[i] == 0xff ? "]}\n" : "\"}\n", 3);
    }
    /* A console: the ring's longest record (4096-byte slots). */
    char path[128];
    tu_ring_name(path, sizeof path, "reader-json-worst");
    assert_int_equal(init_ring(path, NBLOG_RECORD_SIZE_MAX, NULL, 1), NBLOG_OK);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    char spec[64];
    snprintf(spec, sizeof spec, "fd:%d,name=json,format=json", p[1]);
    nblog_console_t *con;
    assert_int_equal(nblog_console_from_spec(spec, &con), NBLOG_OK);
    size_t max = NBLOG_RECORD_SIZE_MAX - NBLOG__SLOT_HDR;
    for (size_t i = 0; i < sizeof fills; i++) {
        memset(text, fills[i], max);
        assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, text, max), NBLOG_OK);
    }
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    for (size_t i = 0; i < sizeof fills; i++) {
        size_t n = 0;
        while (n < sizeof out - 1) { /* one line */
            ssize_t got = read(p[0], out + n, 1);
            assert_int_equal(got, 1);
            if (out[n++] == '\n')
                break;
        }
        assert_true(n > 6 * max); /* every byte escaped, none cut */
        assert_int_equal(out[n - 1], '\n');
        assert_null(memmem(out, n, "\"truncated\"", 11));
        assert_memory_equal(out + n - 3, fills[i] == 0xff ? "]}\n" : "\"}\n", 3);
    }
    close(p[0]);
    close(p[1]);
    nblog_shutdown();
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusal_verdicts),
        cmocka_unit_test(test_iterate_missed_exact),
        cmocka_unit_test(test_follow_writer_child),
        cmocka_unit_test(test_replaced_file_always_whole),
        cmocka_unit_test(test_unfinished_skipped),
        cmocka_unit_test(test_published_console_stats),
        cmocka_unit_test(test_write_bytes),
        cmocka_unit_test(test_render_formats),
        cmocka_unit_test(test_ringfile_identity),
        cmocka_unit_test(test_json_worst_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

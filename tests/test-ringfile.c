/*
 * test-ringfile.c - the ring in a file, in one process: resume after a
 * reopen, a dead writer's unfinished slot, and a corpus of
 * corrupted, truncated and foreign files that must each get a clear
 * verdict (in process, under ASan too) and a documented exit code from
 * `nblog dmesg` (a separate process: a crash there shows as a signal).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "nblog.h"
#include "ring.h"
#include "ringfile.h"
#include "proc.h"
#include "testutil.h"

static char tool[] = NBLOG_TOOL;
static char writer[] = RING_WRITER;

/* Reads every record of a ring file; returns how many, checks their seqs
 * are first, first+1, ... and stores the last seq in *last. */
static uint64_t read_all(const char *path, uint64_t first, uint64_t *last)
{
    struct nblog__ringview v;
    char why[256];
    assert_int_equal(nblog__ringview_open(path, 0, &v, why, sizeof why), NBLOG__RING_OK);
    nblog_reader_t rd;
    assert_int_equal(nblog__reader_open_memory(&rd, v.ring, v.bytes, NBLOG_FROM_OLDEST),
                     NBLOG_OK);
    nblog_record_t rec;
    char buf[600];
    uint64_t n = 0;
    while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK) {
        assert_int_equal(rec.seq, first + n);
        *last = rec.seq;
        n++;
    }
    nblog__ringview_close(&v);
    return n;
}

static void log_n(int n, const char *what)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "%s %d", what, i), NBLOG_OK);
}

static void test_resume_continues_sequence(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "resume");
    nblog_options_t o;
    tu_ring_options(&o, path, 64, 128);
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    log_n(10, "first life");
    nblog_shutdown();
    assert_int_equal(nblog_init(&o), NBLOG_OK); /* same file, same sizes */
    log_n(5, "second life");
    uint64_t last = 0;
    assert_int_equal(read_all(path, 0, &last), 15);
    assert_int_equal(last, 14);
    nblog_shutdown();
    /* Other sizes: a new file under the name (a reader's mapping of the old
     * one stays valid), the sequence still continues. */
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    o.ring_records = 32;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    log_n(2, "third life");
    assert_int_equal(read_all(path, 15, &last), 2);
    nblog_shutdown();
    unlink(path);
}

static void test_env_var_names_the_ring(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "env");
    setenv("NBLOG_RING", path, 1);
    assert_int_equal(nblog_init(NULL), NBLOG_OK);
    unsetenv("NBLOG_RING");
    log_n(3, "env");
    uint64_t last = 0;
    assert_int_equal(read_all(path, 0, &last), 3);
    nblog_shutdown();
    unlink(path);
}

/* A program that logs and returns from main at once (no tick of the
 * publisher after its console started): the file still shows its console
 * as the exit flush left it, for `nblog status`. */
static void test_exit_publishes_consoles(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "exit-publish");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO); /* the default console's output */
        nblog_options_t o;
        tu_ring_options(&o, path, 0, 0);
        if (nblog_init(&o) != NBLOG_OK)
            _exit(10);
        nblog_info("one");
        nblog_info("two");
        exit(0); /* atexit: flush, then the last publish */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    struct nblog__ringview v;
    char why[256];
    assert_int_equal(nblog__ringview_open(path, 0, &v, why, sizeof why), NBLOG__RING_OK);
    int found = 0;
    for (unsigned i = 0; i < NBLOG__STATS_SLOTS; i++) {
        nblog_console_stats_t cs;
        uint64_t head;
        if (nblog__ringview_console(v.ring, i, &cs, &head) != 1)
            continue;
        assert_string_equal(cs.name, "stderr");
        assert_int_equal(cs.printed, 2);
        found++;
    }
    nblog__ringview_close(&v);
    unlink(path);
    assert_int_equal(found, 1);
}

static void *shutdown_now(void *arg)
{
    (void)arg;
    nblog_shutdown();
    return NULL;
}

/* exit() while another thread shuts nblog down: both stop the ring file's
 * publisher; one joins it, the other finds it stopped (before, both
 * joined the same thread: about 1 exit in 30 hung forever). 100 children;
 * one that has not ended after 20 s is a hang. */
static void test_exit_races_shutdown(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "exit-race");
    for (int round = 0; round < 100; round++) {
        unlink(path);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, STDERR_FILENO);
            nblog_options_t o;
            tu_ring_options(&o, path, 0, 0);
            o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
            if (nblog_init(&o) != NBLOG_OK)
                _exit(10);
            nblog_info("racing");
            pthread_t t;
            pthread_create(&t, NULL, shutdown_now, NULL);
            exit(0);
        }
        int st = 0, waited_ms = 0;
        pid_t got;
        while ((got = waitpid(pid, &st, WNOHANG)) == 0 && waited_ms < 20000) {
            usleep(1000);
            waited_ms++;
        }
        if (got == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("round %d: exit hung with a concurrent nblog_shutdown", round);
        }
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    unlink(path);
}

static void test_refuses_foreign_file(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "foreign");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("precious data, not a ring\n", f);
    fclose(f);
    nblog_options_t o;
    tu_ring_options(&o, path, 0, 0);
    assert_int_equal(chmod(path, 0644), 0); /* others may read: not private */
    errno = 0;
    assert_int_equal(nblog_init(&o), NBLOG_EFILE);
    assert_int_equal(errno, EPERM);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(nblog_init(&o), NBLOG_ENOTRING);
    char buf[64] = {0};
    f = fopen(path, "r");
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "precious data, not a ring\n");
    unlink(path);
}

/* A writer that died between reserve and commit: resume forgets the slot,
 * readers count it missed, writers reuse it. */
static void test_resume_skips_unfinished(void **state)
{
    (void)state;
    size_t bytes = nblog__ring_bytes(16, 128);
    void *mem = aligned_alloc(64, bytes);
    memset(mem, 0, bytes);
    nblog__ring_format(mem, 16, 128, 0);
    struct nblog__ring_hdr *r = mem;
    struct nblog__rec_meta m = {.len = 3, .level = 6};
    char text[8] = "abc";
    for (int i = 0; i < 3; i++)
        assert_int_equal(nblog__ring_write(r, &m, text), NBLOG_OK);
    /* seq 3 reserved, never committed (its writer was SIGKILLed). */
    struct nblog__slot *s = (struct nblog__slot *)((char *)r + r->slots_offset +
                                                   3 * r->record_size);
    atomic_store(&s->state, (uint64_t)3 << 2 | NBLOG__SLOT_RESERVED);
    atomic_store(&r->head, 4);
    assert_int_equal(nblog__ring_resume(r), NBLOG_OK);
    assert_int_equal(nblog__ring_head(r), 4);
    assert_int_equal(nblog__ring_write(r, &m, text), NBLOG_OK);
    assert_int_equal(m.seq, 4);
    nblog_reader_t rd;
    assert_int_equal(nblog__reader_open_memory(&rd, mem, bytes, NBLOG_FROM_OLDEST), NBLOG_OK);
    nblog_record_t rec;
    char buf[256];
    uint64_t seqs[8], n = 0;
    while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK)
        seqs[n++] = rec.seq;
    assert_int_equal(n, 4);
    assert_int_equal(seqs[3], 4);
    assert_int_equal(rd.missed, 1);
    /* Writers reuse the slot a lap later. */
    for (int i = 0; i < 16; i++)
        assert_int_equal(nblog__ring_write(r, &m, text), NBLOG_OK);
    free(mem);
}

/* -------------------------------------------------------------- corpus */

/* A small valid ring with a few records, as a file would hold it. */
static void *valid_ring(size_t *bytes)
{
    *bytes = nblog__ring_bytes(16, 128);
    void *mem = aligned_alloc(64, *bytes);
    memset(mem, 0, *bytes);
    nblog__ring_format(mem, 16, 128, 0);
    struct nblog__rec_meta m = {.len = 5, .level = 4, .tid = 7};
    for (int i = 0; i < 20; i++)
        nblog__ring_write(mem, &m, "hello\0\0\0");
    return mem;
}

enum mutation { M_EMPTY, M_TEXT, M_SHORT_MAGIC, M_VERSION, M_OLD_VERSION,
                M_HDR_CUT, M_SLOTS_CUT, M_RECORDS, M_TOTAL, M_SLOTS_OFF,
                M_SHIFT, M_GARBAGE_SLOTS, M_BAD_LEN, M_BAD_LEVEL, M_FUTURE_SKIP,
                M_COUNT };

/* Writes the mutated ring to path; returns the expected dmesg exit code. */
static int write_case(const char *path, enum mutation mu)
{
    size_t bytes;
    unsigned char *mem = valid_ring(&bytes);
    struct nblog__ring_hdr *r = (struct nblog__ring_hdr *)mem;
    struct nblog__slot *s0 = (struct nblog__slot *)(mem + r->slots_offset);
    int expect = 0;
    switch (mu) {
    case M_EMPTY: bytes = 0; expect = 4; break;
    case M_TEXT: memcpy(mem, "#!/bin/sh\necho hi\n", 18); bytes = 18; expect = 4; break;
    case M_SHORT_MAGIC: bytes = 5; expect = 4; break;
    case M_VERSION: r->version = 99; expect = 5; break;
    case M_OLD_VERSION: r->version = 1; expect = 5; break;
    case M_HDR_CUT: bytes = 100; expect = 6; break;
    case M_SLOTS_CUT: bytes -= 300; expect = 6; break;
    case M_RECORDS: r->records = 1000; expect = 7; break;
    case M_TOTAL: r->total_size = UINT64_MAX; expect = 7; break;
    case M_SLOTS_OFF: r->slots_offset = 8; expect = 7; break;
    case M_SHIFT: r->record_shift = 40; expect = 7; break;
    case M_GARBAGE_SLOTS:
        for (size_t i = r->slots_offset; i < bytes; i++)
            mem[i] = (unsigned char)(i * 2654435761u >> 13);
        break;
    case M_BAD_LEN: s0->meta |= 0xffffu << 16; break;
    case M_BAD_LEVEL: s0->meta |= 0xc8u << 8; break;
    case M_FUTURE_SKIP: /* every slot claims all later seqs were skipped
                           (found by the fuzzer: the reader walked on past
                           head towards 2^64) */
        for (uint64_t i = 0; i < r->records; i++)
            ((struct nblog__slot *)(mem + r->slots_offset + i * r->record_size))->skip =
                UINT64_MAX;
        break;
    case M_COUNT: break;
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(mem, 1, bytes, f), bytes);
    fclose(f);
    free(mem);
    return expect;
}

static void read_through(const char *path, int live)
{
    struct nblog__ringview v;
    char why[256];
    if (nblog__ringview_open(path, live, &v, why, sizeof why) != NBLOG__RING_OK) {
        assert_true(strlen(why) > 10); /* a sentence, not nothing */
        return;
    }
    nblog_reader_t rd;
    assert_int_equal(nblog__reader_open_memory(&rd, v.ring, v.bytes, NBLOG_FROM_OLDEST),
                     NBLOG_OK);
    nblog_record_t rec;
    char buf[4200];
    for (int i = 0; i < 100 && nblog_reader_next(&rd, &rec, buf, sizeof buf) != NBLOG_EAGAIN; i++)
        assert_true(rec.level <= 7 && rec.len < sizeof buf);
    for (unsigned i = 0; i < NBLOG__STATS_SLOTS; i++) {
        nblog_console_stats_t st;
        uint64_t head;
        nblog__ringview_console(v.ring, i, &st, &head);
    }
    nblog__ringview_close(&v);
}

static void test_corrupt_corpus(void **state)
{
    (void)state;
    char path[128], out[160];
    tu_ring_name(path, sizeof path, "corpus");
    snprintf(out, sizeof out, "%s.out", path);
    for (int mu = 0; mu < M_COUNT; mu++) {
        int expect = write_case(path, (enum mutation)mu);
        read_through(path, 0);
        read_through(path, 1);
        char *args[] = {tool, "dmesg", path, NULL};
        int code = run_to_file(args, out);
        if (code != expect)
            fail_msg("mutation %d: nblog dmesg exited %d, expected %d", mu, code, expect);
        char *sargs[] = {tool, "status", path, NULL};
        code = run_to_file(sargs, out);
        if (code != expect)
            fail_msg("mutation %d: nblog status exited %d, expected %d", mu, code, expect);
    }
    char *missing[] = {tool, "dmesg", "/nonexistent/ring", NULL};
    assert_int_equal(run_to_file(missing, out), 3);
    char *usage[] = {tool, "dmesg", "--format", "xml", path, NULL};
    assert_int_equal(run_to_file(usage, out), 2);
    unlink(path);
    unlink(out);
}

/* After nblog_shutdown the file is free: another writer can take it. */
static void test_shutdown_releases_the_file(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "release");
    nblog_options_t o;
    tu_ring_options(&o, path, 0, 0);
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    log_n(3, "first");
    nblog_shutdown();
    char *args[] = {tool, "pipe", "--ring", path, "--console", "file:/dev/null", NULL};
    int in_w;
    pid_t pid = spawn_with_input(args, &in_w);
    assert_int_equal(write(in_w, "second writer\n", 14), 14);
    close(in_w);
    assert_int_equal(wait_child(pid), 0); /* not "in use by another writer" */
    uint64_t last = 0;
    assert_int_equal(read_all(path, 0, &last), 4); /* resumed: 3 + 1 */
    unlink(path);
}

/* fork() while writing a ring file: the child goes on in a private ring,
 * so neither process's consoles print the other's records (each line of
 * the shared output file appears exactly once). */
static void test_fork_keeps_rings_apart(void **state)
{
    (void)state;
    char path[128], out[160];
    tu_ring_name(path, sizeof path, "fork");
    snprintf(out, sizeof out, "%s.txt", path);
    unlink(out);
    nblog_options_t o;
    tu_ring_options(&o, path, 0, 0);
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    char spec[200];
    snprintf(spec, sizeof spec, "file:%s", out);
    assert_int_equal(nblog_console_from_spec(spec, NULL), NBLOG_OK);
    log_n(2, "before");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    const char *who = pid == 0 ? "child" : "parent";
    log_n(5, who);
    int lagged = nblog_flush(10000, NULL, 0);
    if (pid == 0)
        _exit(lagged ? 1 : 0);
    assert_int_equal(lagged, 0);
    assert_int_equal(wait_child(pid), 0);
    char *text = slurp(out);
    static const char *const expect[] = {"before 0", "before 1", "parent 0", "parent 4",
                                         "child 0", "child 4"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        char line[32];
        snprintf(line, sizeof line, "%s\n", expect[i]);
        const char *first = strstr(text, line);
        if (!first || strstr(first + 1, line))
            fail_msg("\"%s\" appears %s in the output", expect[i], first ? "twice" : "never");
    }
    free(text);
    nblog_shutdown();
    unlink(path);
    unlink(out);
}

/* A writer that forks a long-lived worker (no exec) and exits: the worker
 * inherited the ring's mapping and descriptors, yet the writer's lock went
 * with the writer, so a new writer takes the file while the worker lives.
 * The worker cannot end before the try: it waits for EOF on a pipe whose
 * write end only this test holds. */
static void test_forked_worker_leaves_the_lock(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "forklock");
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char *args[] = {writer, "fork", path, NULL};
    pid_t pid = spawn_child(args, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    struct line_reader *lr = calloc(1, sizeof *lr);
    assert_non_null(lr);
    lr->fd = out[0];
    char line[64];
    assert_int_equal(read_line(lr, line, sizeof line, 30000), 1);
    long worker = 0;
    assert_int_equal(sscanf(line, "worker %ld", &worker), 1);
    assert_int_equal(wait_child(pid), 0); /* the writer is gone */
    assert_int_equal(kill((pid_t)worker, 0), 0); /* its worker is not */
    char *try_args[] = {writer, "try", path, NULL};
    int code = run_to_file(try_args, "/dev/null");
    if (code != 0)
        fail_msg("a new writer got exit %d (3: NBLOG_EBUSY) while the forked "
                 "worker lives", code);
    assert_int_equal(kill((pid_t)worker, 0), 0); /* it was alive throughout */
    close(in[1]); /* the worker's EOF: it ends, closing its stdout */
    assert_int_equal(read_line(lr, line, sizeof line, 30000), 0);
    close(out[0]);
    free(lr);
    uint64_t last = 0;
    /* parent before fork, worker N, second writer was here: the worker's
     * record went to its private ring, not the file. */
    assert_int_equal(read_all(path, 0, &last), 2);
    unlink(path);
}

/* ------------------------------------------------ sequence numbers */

#define SEQ_LIMIT ((uint64_t)1 << 62) /* ring.h: a slot's state keeps seq << 2 */

/* nblog_init on a ring file of records records of 128 bytes. */
static int init_records(const char *path, size_t records)
{
    nblog_options_t o;
    tu_ring_options(&o, path, records, 128);
    return nblog_init(&o);
}

static int init_small(const char *path)
{
    return init_records(path, 16);
}

/* Writes a ring file of 16 records with 3 in it, then forges its header's
 * head and first_seq (the 8-byte words at their offsets). */
static void forged_ring(const char *path, uint64_t head, uint64_t first_seq)
{
    unlink(path);
    assert_int_equal(init_small(path), NBLOG_OK);
    log_n(3, "old");
    nblog_shutdown();
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t at_head = (off_t)offsetof(struct nblog__ring_hdr, head);
    off_t at_first = (off_t)offsetof(struct nblog__ring_hdr, first_seq);
    assert_int_equal(pwrite(fd, &head, 8, at_head), 8);
    assert_int_equal(pwrite(fd, &first_seq, 8, at_first), 8);
    close(fd);
}

/* Resumes the forged file, logs n records and checks that each one
 * nblog_printf said was stored is read back, in order, by an in-process
 * reader from the oldest record (so no forged seq holds it), that the
 * others were refused with NBLOG_ELOST and counted, and no seq handed out
 * is one a slot cannot hold. Returns how many were stored. */
static int log_after_forgery(const char *path, int n)
{
    assert_int_equal(init_small(path), NBLOG_OK);
    nblog_stats_t st0, st;
    nblog_stats_get(&st0);
    int stored = 0, refused = 0;
    for (int i = 0; i < n; i++) {
        int rc = nblog_printf(NBLOG_LEVEL_INFO, "new %d", i);
        if (rc == NBLOG_OK)
            stored++;
        else if (rc == NBLOG_ELOST)
            refused++;
        else
            fail_msg("record %d: %d (%s)", i, rc, nblog_strerror(rc));
        assert_int_equal(stored + refused, i + 1);
    }
    nblog_stats_get(&st);
    assert_int_equal(st.lost - st0.lost, (uint64_t)refused);
    /* docs/design.md, promise 3: reserved == committed + lost, refusals
     * included. */
    assert_int_equal(st.reserved - st0.reserved, (uint64_t)(stored + refused));
    nblog_reader_t rd;
    assert_int_equal(nblog_reader_open(&rd, NBLOG_FROM_OLDEST), NBLOG_OK);
    nblog_record_t rec;
    char buf[200];
    int seen = 0, spins = 0;
    while (seen < stored && spins < 1000) {
        int rc = nblog_reader_next(&rd, &rec, buf, sizeof buf);
        if (rc == NBLOG_EAGAIN) {
            spins++; /* nothing is in flight: EAGAIN here means stuck */
            continue;
        }
        assert_int_equal(rc, NBLOG_OK);
        assert_true(rec.seq < SEQ_LIMIT);
        if (strncmp(rec.text, "new ", 4) != 0)
            continue; /* an old record the resume kept */
        char want[16];
        snprintf(want, sizeof want, "new %d", seen);
        assert_string_equal(rec.text, want);
        seen++;
    }
    if (seen != stored)
        fail_msg("%d records stored, %d read back (reader at seq %llu)", stored, seen,
                 (unsigned long long)rd.next_seq);
    assert_int_equal(nblog_reader_next(&rd, &rec, buf, sizeof buf), NBLOG_EAGAIN);
    nblog_shutdown();
    return stored;
}

static void test_seq_limit_holds(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "seqlimit");
    /* Near the limit: what fits is stored and readable, the rest refused. */
    forged_ring(path, SEQ_LIMIT - 2, 0);
    assert_int_equal(log_after_forgery(path, 5), 2);
    /* Reopened at the limit (nothing left to hand out): formatted afresh. */
    assert_int_equal(log_after_forgery(path, 5), 5);
    uint64_t last = 0;
    assert_int_equal(read_all(path, 0, &last), 5);
    /* Impossible heads and first_seqs: the ring is formatted afresh (its
     * old records gone), never half-used. */
    static const uint64_t forged[][2] = {
        {UINT64_MAX - 1, 0},           /* past the limit: the counter would wrap */
        {SEQ_LIMIT + 5, 0},            /* past the limit */
        {SEQ_LIMIT << 1, SEQ_LIMIT << 1}, /* first_seq past the limit */
        {2, 10},                       /* head below first_seq */
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        forged_ring(path, forged[i][0], forged[i][1]);
        assert_int_equal(log_after_forgery(path, 3), 3);
        if (read_all(path, 0, &last) != 3)
            fail_msg("head %llu first_seq %llu: not formatted afresh",
                     (unsigned long long)forged[i][0], (unsigned long long)forged[i][1]);
    }
    /* A head beyond the records but possible: resumed, and every seq of
     * the last lap that no slot holds is missed, not waited for. */
    forged_ring(path, 1000, 0);
    assert_int_equal(log_after_forgery(path, 3), 3);
    /* Other sizes (replaced) with a head just below the limit: the new
     * ring starts at 0, not a ring used up after one record. */
    forged_ring(path, SEQ_LIMIT - 1, 0);
    assert_int_equal(init_records(path, 32), NBLOG_OK);
    log_n(3, "resized");
    nblog_shutdown();
    assert_int_equal(read_all(path, 0, &last), 3);
    unlink(path);
}

/* nblog__ringview_wait returns at once only when the clamped head is
 * beyond the follower's position: a raw head past the limit (refused
 * writes) or a forged head below it must put it to sleep, or
 * `dmesg --follow` spins. Checked by its return value, not by time. */
static void test_follow_wait_needs_progress(void **state)
{
    (void)state;
    char path[128], why[256];
    tu_ring_name(path, sizeof path, "waitclamp");
    forged_ring(path, 3, 0);
    struct nblog__ringview v;
    assert_int_equal(nblog__ringview_open(path, 1, &v, why, sizeof why), NBLOG__RING_OK);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t at_head = (off_t)offsetof(struct nblog__ring_hdr, head);
    static const struct {
        uint64_t head, seen;
        int moved;
    } cases[] = {
        {3, 2, 1},                         /* a real record beyond */
        {3, 3, 0},                         /* nothing new */
        {3, 100, 0},                       /* a head below the follower */
        {SEQ_LIMIT, SEQ_LIMIT, 0},         /* at the limit */
        {SEQ_LIMIT + 5, SEQ_LIMIT, 0},     /* refusals past the limit */
        {UINT64_MAX, SEQ_LIMIT, 0},        /* forged far past it */
        {SEQ_LIMIT + 5, SEQ_LIMIT - 1, 1}, /* the last seq is news */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(pwrite(fd, &cases[i].head, 8, at_head), 8);
        int got = nblog__ringview_wait(&v, cases[i].seen, 1);
        if (got != cases[i].moved)
            fail_msg("head %llu seen %llu: wait gave %d, want %d",
                     (unsigned long long)cases[i].head,
                     (unsigned long long)cases[i].seen, got, cases[i].moved);
    }
    close(fd);
    nblog__ringview_close(&v);
    unlink(path);
}

/* ------------------------------------------- permissions and links */

/* The kernel's own protections (fs.protected_regular, protected_symlinks)
 * apply only in world-writable sticky directories such as /dev/shm; the
 * writer must refuse what follows by itself, so the test runs in a private
 * directory (0755, not sticky) where the kernel lets it all through to
 * nblog's checks, with no machine-wide setting changed. */
/* nblog_init on path must fail with rc (and errno err if err != 0),
 * leaving the file named check as it was (lstat: a link itself, not its
 * target): same inode, size, mode and owner. */
static void refused(const char *path, int rc, int err, const char *check)
{
    struct stat before, after;
    assert_int_equal(lstat(check, &before), 0);
    errno = 0;
    int got = init_small(path);
    int got_errno = errno;
    if (got == NBLOG_OK)
        nblog_shutdown();
    if (got != rc || (err && got_errno != err))
        fail_msg("%s: nblog_init gave %d (%s), errno %d (%s); want %d, errno %d",
                 path, got, nblog_strerror(got), got_errno, strerror(got_errno), rc, err);
    assert_int_equal(lstat(check, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_mode, before.st_mode);
    assert_int_equal(after.st_uid, before.st_uid);
    assert_int_equal(after.st_ino, before.st_ino);
}

static void make_empty(const char *path, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void test_private_files_only(void **state)
{
    (void)state;
    char dir[64];
    assert_non_null(tu_temp_dir(dir, sizeof dir, "perm"));
    assert_int_equal(chmod(dir, 0755), 0);
    char path[128], target[160];
    snprintf(path, sizeof path, "%s/perm", dir); /* absolute: not under /dev/shm */
    snprintf(target, sizeof target, "%s.target", path);

    /* An empty file others may read and write: refused, stays 0666. */
    make_empty(path, 0666);
    refused(path, NBLOG_EFILE, EPERM, path);
    make_empty(path, 0640); /* group-readable */
    refused(path, NBLOG_EFILE, EPERM, path);

    /* Another user's (private) file: refused, even for root. */
    make_empty(path, 0600);
    if (chown(path, 65534, 65534) == 0)
        refused(path, NBLOG_EFILE, EPERM, path);
    else
        print_message("not root: another user's file not tried\n");

    /* A symlink at the name, to an empty file of ours: not followed, the
     * target stays empty. */
    unlink(path);
    make_empty(target, 0600);
    assert_int_equal(symlink(target, path), 0);
    refused(path, NBLOG_EFILE, ELOOP, target);
    refused(path, NBLOG_EFILE, ELOOP, path);
    /* A dangling one: its target is not created (O_CREAT would follow). */
    unlink(target);
    refused(path, NBLOG_EFILE, ELOOP, path);
    assert_int_equal(access(target, F_OK), -1);
    make_empty(target, 0600);

    /* A hard link to a file of ours elsewhere. */
    unlink(path);
    assert_int_equal(link(target, path), 0);
    refused(path, NBLOG_EFILE, EPERM, target);

    /* A FIFO: refused at once (neither blocking nor "formatted"). */
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    refused(path, NBLOG_ENOTRING, 0, path);

    /* Created new: exactly 0600 whatever the umask. */
    static const mode_t masks[] = {0, 022, 0277};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        unlink(path);
        mode_t old = umask(masks[i]);
        int rc = init_small(path);
        umask(old);
        assert_int_equal(rc, NBLOG_OK);
        log_n(1, "private");
        nblog_shutdown();
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        if ((st.st_mode & 07777) != 0600)
            fail_msg("umask %03o: ring created %04o, want 0600", (unsigned)masks[i],
                     (unsigned)(st.st_mode & 07777));
        /* And reopened (resumed) as it is. */
        assert_int_equal(init_small(path), NBLOG_OK);
        nblog_shutdown();
        uint64_t last = 0;
        assert_int_equal(read_all(path, 0, &last), 1);
    }
    unlink(path);
    unlink(target);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_continues_sequence),
        cmocka_unit_test(test_env_var_names_the_ring),
        cmocka_unit_test(test_exit_publishes_consoles),
        cmocka_unit_test(test_exit_races_shutdown),
        cmocka_unit_test(test_refuses_foreign_file),
        cmocka_unit_test(test_resume_skips_unfinished),
        cmocka_unit_test(test_corrupt_corpus),
        cmocka_unit_test(test_shutdown_releases_the_file),
        cmocka_unit_test(test_fork_keeps_rings_apart),
        cmocka_unit_test(test_forked_worker_leaves_the_lock),
        cmocka_unit_test(test_seq_limit_holds),
        cmocka_unit_test(test_follow_wait_needs_progress),
        cmocka_unit_test(test_private_files_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

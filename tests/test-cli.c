/*
 * test-cli.c - the ring in a file and the nblog command, across processes.
 *
 * Every child is a separate executable started with posix_spawn: the
 * ring-writer helper (tests/ring-writer.c) or the nblog command itself.
 * Nothing here asserts a time: waits are for events (a line from a child,
 * a count reached), each with a generous hang guard that fails the test
 * rather than hanging it.
 *
 * The cases (each function is test_ and the name below):
 *
 *   sigkill_mid_burst   promise 7: every committed record survives SIGKILL,
 *                       contiguous, nothing torn
 *   second_writer       the documented NBLOG_EBUSY; the first is unaffected
 *   follow_and_sigint   dmesg --follow sees another process's records and
 *                       exits 0 on SIGINT
 *   follow_into_replaced_file
 *                       ... and follows a new writer that replaced the file
 *   follow_geometry_rewritten, fifo_refused, huge_file_not_copied,
 *   hostile_wall_offset issue 12 items 3-6: a hostile ring file (geometry
 *                       rewritten under a follower, a FIFO, 2 GiB sparse,
 *                       INT64_MAX wall offset) ends in a clear exit
 *   status_lag_grows    status shows a stuck console's lag growing
 *   pipe_stuck_fifo     one console stuck on a FIFO: the other gets every
 *                       line, stdin is drained (with --block too), exit 8
 *                       naming the stuck one
 *   pipe_block_slow_collector
 *                       --block into a slow syslog+tcp collector: all arrive
 *   pipe_eof_waits_for_moving_console
 *                       at end of input pipe waits for a console that moves,
 *                       past the deadline (which bounds only a stuck one)
 *   pipe_sighup_reopens logrotate's rename + SIGHUP: pipe lives, reopens,
 *                       loses no line
 *   pipe_ring_records_and_env
 *                       --ring-records sizes the ring; NBLOG_CONSOLES specs
 *   json_escapes        JSON output escapes what could forge or break it
 *   dmesg_terminal_controls
 *                       no output format lets a record's C1 controls or
 *                       U+2028/U+2029 reach the reader (issue 12 item 7)
 *   status_hostile_name status shows a hostile file's console name escaped
 *   demo_summary        demo without a terminal: plain lines, serial complete,
 *                       fbcon stuck, then caught up; every summary row adds up
 *                       (stored = printed + filtered + dropped + failed + lag),
 *                       fbcon's dropped = what was overwritten = its notices
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "ring.h"
#include "stats.h"
#include "testutil.h"

#define HANG_GUARD_MS 60000

static char tool[] = NBLOG_TOOL;
static char writer[] = RING_WRITER;

/* Starts ring-writer with args; *lr reads its reports. */
static pid_t start_writer(char *const args[], struct line_reader *lr)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    /* A one-page pipe: a burst writer is held back by its reports after
     * a few hundred, so it is still running when test_sigkill_mid_burst kills
     * it at half its count (with 64 KiB it could finish first: seen under
     * ASan, where the count is 5,000). */
    assert_true(fcntl(p[0], F_SETPIPE_SZ, 4096) >= 4096);
    pid_t pid = spawn_child(args, -1, p[1]);
    close(p[1]);
    lr->fd = p[0];
    lr->len = 0;
    return pid;
}

/* A `dmesg --follow` child (argv), its output read through *fl. */
static pid_t start_follower(char *const argv[], struct line_reader **fl)
{
    *fl = malloc(sizeof **fl);
    assert_non_null(*fl);
    return start_writer(argv, *fl);
}

/* SIGINT ends a follower with status 0. */
static void stop_follower(pid_t pid, struct line_reader *fl)
{
    kill(pid, SIGINT);
    assert_int_equal(wait_child(pid), 0);
    close(fl->fd);
    free(fl);
}

/* Reads reports until one is at least want; returns the last seen. */
static long wait_report(struct line_reader *lr, long want)
{
    char line[64];
    long last = -1;
    while (last < want) {
        int rc = read_line(lr, line, sizeof line, HANG_GUARD_MS);
        assert_int_equal(rc, 1);
        last = atol(line);
    }
    return last;
}

static void stop_writer(pid_t pid, struct line_reader *lr)
{
    kill(pid, SIGKILL);
    wait_child(pid);
    close(lr->fd);
}

/* ------------------------------------------------------------- SIGKILL */

/* Checks dmesg --format json output: records 0..last all there, in order,
 * each "burst record I" with I == seq; anything after last is whole. */
static void check_burst_json(const char *json, long last)
{
    long expect = 0;
    for (const char *line = json; *line;) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        unsigned long long seq;
        long idx;
        if (sscanf(line, "{\"seq\":%llu,", &seq) == 1) {
            const char *text = strstr(line, "\"text\":\"burst record ");
            assert_non_null(text);
            assert_int_equal(sscanf(text, "\"text\":\"burst record %ld\"}", &idx), 1);
            assert_int_equal((long)seq, idx);
            assert_int_equal((long)seq, expect);
            expect++;
        } else {
            /* A gap may only follow the last committed record. */
            assert_non_null(strstr(line, "\"gap\":"));
            assert_true(expect > last);
        }
        line = end + 1;
    }
    assert_true(expect > last);
}

static void test_sigkill_mid_burst(void **state)
{
    (void)state;
    char file[128], out[160], count[32];
    tu_ring_name(file, sizeof file, "burst");
    snprintf(out, sizeof out, "%s.json", file);
    long total = SCALED(100000);
    snprintf(count, sizeof count, "%ld", total);
    char *args[] = {writer, "burst", file, count, NULL};
    struct line_reader *lr = malloc(sizeof *lr);
    assert_non_null(lr);
    pid_t pid = start_writer(args, lr);
    long last = wait_report(lr, total / 2);
    kill(pid, SIGKILL);
    assert_int_equal(wait_child(pid), 128 + SIGKILL);
    char line[64];
    while (read_line(lr, line, sizeof line, HANG_GUARD_MS) == 1)
        last = atol(line);
    close(lr->fd);
    assert_true(last >= total / 2);

    char *dmesg[] = {tool, "dmesg", "--format", "json", file, NULL};
    assert_int_equal(run_to_file(dmesg, out), 0);
    char *json = slurp(out);
    check_burst_json(json, last);
    free(json);
    free(lr);
    unlink(out);
    unlink(file);
}

/* ------------------------------------------------------- second writer */

static void test_second_writer(void **state)
{
    (void)state;
    char file[128], out[160];
    tu_ring_name(file, sizeof file, "second");
    snprintf(out, sizeof out, "%s.txt", file);
    char *first[] = {writer, "ticks", file, NULL};
    struct line_reader lr;
    pid_t pid = start_writer(first, &lr);
    long seen = wait_report(&lr, 0);

    char *second[] = {writer, "try", file, NULL};
    assert_int_equal(run_to_file(second, "/dev/null"), 3); /* NBLOG_EBUSY */

    /* The first goes on: more ticks, stored and readable. */
    long later = wait_report(&lr, seen + 5);
    char *dmesg[] = {tool, "dmesg", file, NULL};
    assert_int_equal(run_to_file(dmesg, out), 0);
    char *text = slurp(out);
    assert_null(strstr(text, "second writer was here"));
    char want[32];
    snprintf(want, sizeof want, ": tick %ld\n", later);
    assert_non_null(strstr(text, want));
    free(text);
    stop_writer(pid, &lr);
    unlink(out);
    unlink(file);
}

/* ------------------------------------------------------------- follow */

static void test_follow_and_sigint(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "follow");
    char *wargs[] = {writer, "ticks", file, NULL};
    struct line_reader wl;
    pid_t wpid = start_writer(wargs, &wl);
    long started = wait_report(&wl, 0);

    char *fargs[] = {tool, "dmesg", "--follow", file, NULL};
    struct line_reader *fl;
    pid_t fpid = start_follower(fargs, &fl);
    /* A record written after the follower started, seen by it. */
    long target = wait_report(&wl, started + 10);
    char want[32], line[1024];
    snprintf(want, sizeof want, ": tick %ld", target);
    int found = 0;
    while (!found) {
        assert_int_equal(read_line(fl, line, sizeof line, HANG_GUARD_MS), 1);
        found = strstr(line, want) != NULL;
    }
    stop_follower(fpid, fl);
    stop_writer(wpid, &wl);
    unlink(file);
}

/* Reads the follower's lines until one contains want. */
static void follower_sees(struct line_reader *fl, const char *want)
{
    char line[1024];
    do
        assert_int_equal(read_line(fl, line, sizeof line, HANG_GUARD_MS), 1);
    while (!strstr(line, want));
}

/* A new writer with other sizes replaces the file: the follower moves to
 * the new file and goes on from the seq where it was. */
static void test_follow_into_replaced_file(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "replace");
    char *wargs[] = {writer, "ticks", file, NULL};
    struct line_reader wl;
    pid_t wpid = start_writer(wargs, &wl);
    wait_report(&wl, 0);
    char *fargs[] = {tool, "dmesg", "--follow", file, NULL};
    struct line_reader *fl;
    pid_t fpid = start_follower(fargs, &fl);
    follower_sees(fl, ": tick 0");
    stop_writer(wpid, &wl);

    char *burst[] = {writer, "burst", file, "20", NULL};
    assert_int_equal(run_to_file(burst, "/dev/null"), 0);
    follower_sees(fl, ": burst record 19");
    stop_follower(fpid, fl);
    unlink(file);
}

/* ------------------------------------------------- hostile ring files */

/* Issue 12, items 3-6: a ring file is anyone's to write. */

#define CHILD_GUARD_MS 20000 /* hang guard for a child that should exit */

/* Runs argv with stdout and stderr into files (NULL: /dev/null); with
 * as_limit_mb, under that address-space limit (sh's ulimit -v, exec'd:
 * posix_spawn cannot set a limit). Kills it after CHILD_GUARD_MS (a hang
 * guard: the test then fails, it does not hang). Returns wait_child's
 * code, or -2 if the guard fired; *maxrss_kb (if given): its peak RSS. */
static int run_capture(char *const argv[], const char *out, const char *err,
                       long as_limit_mb, long *maxrss_kb)
{
    char *wrapped[16];
    char script[64];
    int n = 0;
    if (as_limit_mb) {
        snprintf(script, sizeof script, "ulimit -v %ld && exec \"$0\" \"$@\"",
                 as_limit_mb * 1024);
        wrapped[n++] = "/bin/sh";
        wrapped[n++] = "-c";
        wrapped[n++] = script;
    }
    for (int i = 0; argv[i]; i++)
        wrapped[n++] = argv[i];
    wrapped[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out ? out : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err ? err : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, wrapped[0], &fa, NULL, wrapped, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int st, guard = 0;
    struct rusage ru;
    for (int waited = 0;; waited += 10) {
        pid_t got = wait4(pid, &st, WNOHANG, &ru);
        if (got == pid)
            break;
        if (waited >= CHILD_GUARD_MS && !guard) {
            kill(pid, SIGKILL);
            guard = 1;
        }
        usleep(10000);
    }
    if (maxrss_kb)
        *maxrss_kb = ru.ru_maxrss;
    if (guard)
        return -2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* argv must exit with code, saying words on stderr (into err). Returns
 * its peak RSS in KiB. */
static long expect_refusal(char *const argv[], const char *err, long as_limit_mb,
                           int code, const char *words)
{
    long rss_kb = 0;
    assert_int_equal(run_capture(argv, NULL, err, as_limit_mb, &rss_kb), code);
    char *text = slurp(err);
    assert_non_null(strstr(text, words));
    free(text);
    return rss_kb;
}

/* Writes len bytes at off into the file (as another process would). */
static void poke(const char *file, off_t off, const void *bytes, size_t len)
{
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
    close(fd);
}

static void poke_u64(const char *file, size_t off, uint64_t v)
{
    poke(file, (off_t)off, &v, sizeof v);
}

static uint64_t peek_u64(const char *file, size_t off)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    uint64_t v = 0;
    assert_int_equal(pread(fd, &v, sizeof v, (off_t)off), (ssize_t)sizeof v);
    close(fd);
    return v;
}

static void make_burst_ring(const char *file, const char *count)
{
    unlink(file);
    char *burst[] = {writer, "burst", (char *)file, (char *)count, NULL};
    assert_int_equal(run_to_file(burst, "/dev/null"), 0);
}

/* Item 3: a follower's geometry is its own. Another process rewrites
 * slots_offset, record_shift and records in the file and moves head (so
 * the follower looks up slots): the follower goes on (the new seqs are
 * empty: counted as gaps) and ends 0 on SIGINT. Then the file is cut to
 * one page: the clean exit 6. */
static void test_follow_geometry_rewritten(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "geometry");
    make_burst_ring(file, "5");
    char *fargs[] = {tool, "dmesg", "--follow", file, NULL};
    struct line_reader *fl;
    pid_t fpid = start_follower(fargs, &fl);
    follower_sees(fl, ": burst record 4");

    uint32_t shift = 40;
    poke(file, offsetof(struct nblog__ring_hdr, record_shift), &shift, sizeof shift);
    poke_u64(file, offsetof(struct nblog__ring_hdr, slots_offset), (uint64_t)1 << 44);
    poke_u64(file, offsetof(struct nblog__ring_hdr, records), (uint64_t)1 << 62);
    size_t head_at = offsetof(struct nblog__ring_hdr, head);
    poke_u64(file, head_at, peek_u64(file, head_at) + 2);
    follower_sees(fl, "records overwritten"); /* it looked, and lived */
    kill(fpid, SIGINT);
    assert_int_equal(wait_child(fpid), 0);
    close(fl->fd);

    /* Truncated under the follower: exit 6, as before. */
    make_burst_ring(file, "5");
    fpid = start_writer(fargs, fl);
    follower_sees(fl, ": burst record 4");
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    close(fd);
    poke_u64(file, head_at, peek_u64(file, head_at) + 2);
    assert_int_equal(wait_child(fpid), 6);
    close(fl->fd);
    free(fl);
    unlink(file);
}

/* Whether process pid has file open or mapped (its /proc/PID/maps). */
static int follower_has(pid_t pid, const char *file)
{
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "r"); /* /proc: no size to slurp by */
    if (!f)
        return 0;
    char line[512];
    int has = 0;
    while (!has && fgets(line, sizeof line, f))
        has = strstr(line, file) != NULL;
    fclose(f);
    return has;
}

/* A ring whose head reached the sequence limit cannot be resumed: the
 * next writer replaces the file (from seq 0), never re-formats it in
 * place, so a follower of the old file notices and prints the new
 * records. */
static void test_follow_past_seq_limit(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "seqlimit");
    make_burst_ring(file, "5");
    poke_u64(file, offsetof(struct nblog__ring_hdr, head), NBLOG__SEQ_LIMIT);
    /* From the limit: caught up at once (no forged seq to wait for). */
    char since[32];
    snprintf(since, sizeof since, "%llu", (unsigned long long)NBLOG__SEQ_LIMIT);
    char *fargs[] = {tool, "dmesg", "--follow", "--since-seq", since, file, NULL};
    struct line_reader *fl;
    pid_t fpid = start_follower(fargs, &fl);
    /* Let it open the old file first: a follower started later would
     * pass whatever the writer did. */
    for (int i = 0; i < 1000 && !follower_has(fpid, file); i++)
        usleep(10000);
    char *burst[] = {writer, "burst", file, "20", NULL};
    assert_int_equal(run_to_file(burst, "/dev/null"), 0);
    follower_sees(fl, ": burst record 19");
    stop_follower(fpid, fl);
    unlink(file);
}

/* A forged head 1000 past the last record: the seqs in between look
 * handed out and never finished. The follower waits once (about 2 s) and
 * then counts all of them missed at once, never one wait per seq (1000
 * waits, over half an hour). */
static void test_follow_forged_head_one_wait(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "forgedhead");
    make_burst_ring(file, "5");
    poke_u64(file, offsetof(struct nblog__ring_hdr, head), 5 + 1000);
    char *fargs[] = {tool, "dmesg", "--follow", file, NULL};
    struct line_reader *fl;
    pid_t fpid = start_follower(fargs, &fl);
    /* Gap lines until 1000 seqs are accounted for: with one wait that is
     * one line (two if some were lapped), with one wait per seq 1000. */
    char line[1024];
    unsigned long long missed = 0;
    int gap_lines = 0;
    while (missed < 1000 && gap_lines < 3) {
        assert_int_equal(read_line(fl, line, sizeof line, HANG_GUARD_MS), 1);
        unsigned long long n;
        if (sscanf(line, "-- %llu records overwritten --", &n) == 1) {
            missed += n;
            gap_lines++;
        }
    }
    assert_int_equal(missed, 1000);
    stop_follower(fpid, fl);
    unlink(file);
}

/* Item 4: a FIFO is refused at once, like /dev/zero and directories. */
static void test_fifo_refused(void **state)
{
    (void)state;
    char fifo[128], err[160];
    tu_ring_name(fifo, sizeof fifo, "fifo");
    snprintf(err, sizeof err, "%s.err", fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char *dmesg[] = {tool, "dmesg", fifo, NULL};
    char *status[] = {tool, "status", fifo, NULL};
    char *dmesg_follow[] = {tool, "dmesg", "--follow", fifo, NULL};
    char *zero[] = {tool, "dmesg", "/dev/zero", NULL};
    char *const *cmds[] = {dmesg, status, dmesg_follow, zero};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        expect_refusal(cmds[i], err, 0, 3, "not a regular file");
    unlink(err);
    unlink(fifo);
}

/* Item 5: the header is checked before the file is copied, and only the
 * ring the header describes is copied: a 2 GiB sparse file costs no 2 GiB
 * (run under a 512 MiB address-space limit; under sanitizers, which need
 * terabytes of address space, the peak RSS alone is checked). */
static void test_huge_file_not_copied(void **state)
{
    (void)state;
    char file[128], out[160], err[160];
    tu_ring_name(file, sizeof file, "huge");
    snprintf(out, sizeof out, "%s.out", file);
    snprintf(err, sizeof err, "%s.err", file);
    const off_t huge = (off_t)2 << 30;
#if defined(NBLOG_TEST_SANITIZER)
    long limit_mb = 0, rss_kb;
#else
    long limit_mb = 512, rss_kb;
#endif

    unlink(file); /* not a ring: zeros */
    int fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, huge), 0);
    close(fd);
    char *dmesg[] = {tool, "dmesg", file, NULL};
    char *follow[] = {tool, "dmesg", "--follow", file, NULL};
    char *status[] = {tool, "status", file, NULL};
    char *const *cmds[] = {dmesg, follow, status};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        assert_true(expect_refusal(cmds[i], err, limit_mb, 4, "not an nblog ring") <
                    256 * 1024);

    /* A real ring followed by 2 GiB of nothing: read, not the nothing. */
    make_burst_ring(file, "3");
    fd = open(file, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, huge), 0);
    close(fd);
    assert_int_equal(run_capture(dmesg, out, err, limit_mb, &rss_kb), 0);
    assert_true(rss_kb < 256 * 1024);
    char *text = slurp(out);
    assert_non_null(strstr(text, ": burst record 2"));
    free(text);
    unlink(out);
    unlink(err);
    unlink(file);
}

/* Item 6: hostile time fields print as "invalid", not a wrapped date
 * (and, under UBSan, without a signed overflow). */
static void test_hostile_wall_offset(void **state)
{
    (void)state;
    char file[128], out[160];
    tu_ring_name(file, sizeof file, "walloff");
    snprintf(out, sizeof out, "%s.out", file);
    make_burst_ring(file, "2");
    const uint64_t offsets[] = {(uint64_t)INT64_MAX, (uint64_t)INT64_MIN};
    for (int i = 0; i < 2; i++) {
        for (unsigned e = 0; e < NBLOG__EPOCHS; e++) /* every wall-clock epoch's */
            poke_u64(file, offsetof(struct nblog__ring_hdr, epochs) +
                               e * sizeof(struct nblog__wall_epoch) +
                               offsetof(struct nblog__wall_epoch, offset_ns),
                     offsets[i]);
        char *iso[] = {tool, "dmesg", "--time", "iso", file, NULL};
        char *json[] = {tool, "dmesg", "--format", "json", file, NULL};
        char *const *cmds[] = {iso, json};
        for (int c = 0; c < 2; c++) {
            assert_int_equal(run_capture(cmds[c], out, NULL, 0, NULL), 0);
            char *text = slurp(out);
            assert_non_null(strstr(text, "burst record 1"));
            if (i == 0) { /* past INT64_MAX: not a date (it wrapped to 1677) */
                assert_non_null(strstr(text, "invalid"));
                assert_null(strstr(text, "1677-"));
            } /* INT64_MIN + a small time: 1677, a real int64 time */
            free(text);
        }
    }
    unlink(out);
    unlink(file);
}

/* ------------------------------------------------------------- status */

/* Runs nblog status and returns the lag of the console named "stuck". */
static long stuck_lag(const char *file, const char *out)
{
    char *args[] = {tool, "status", (char *)file, NULL};
    assert_int_equal(run_to_file(args, out), 0);
    char *text = slurp(out);
    const char *row = strstr(text, "\nstuck ");
    long lag = -1;
    unsigned long long next;
    if (row)
        assert_int_equal(sscanf(row + 1, "stuck %llu %ld", &next, &lag), 2);
    free(text);
    return lag;
}

static void test_status_lag_grows(void **state)
{
    (void)state;
    char file[128], out[160];
    tu_ring_name(file, sizeof file, "status");
    snprintf(out, sizeof out, "%s.txt", file);
    char *args[] = {writer, "ticks", file, "stuck", NULL};
    struct line_reader lr;
    pid_t pid = start_writer(args, &lr);
    long seen = wait_report(&lr, 3);
    long first;
    /* The publisher shows the console within a pass or two. */
    while ((first = stuck_lag(file, out)) < 0)
        seen = wait_report(&lr, seen + 1);
    long second = first;
    for (int i = 0; i < 100 && second <= first; i++) {
        seen = wait_report(&lr, seen + 5);
        second = stuck_lag(file, out);
    }
    assert_true(second > first);
    stop_writer(pid, &lr);
    unlink(out);
    unlink(file);
}

/* --------------------------------------------------------------- pipe */

/* Writes lines "<4>line NNNNN ....", each width (16..470) bytes with its
 * '\n' (470: the text fills a default record, 472 bytes). */
static void feed_lines_width(int fd, int lines, int width)
{
    char pad[470];
    assert_true(width >= 16 && width <= (int)sizeof pad);
    memset(pad, '.', sizeof pad);
    pad[width - 15] = '\0';
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    for (int i = 0; i < lines; i++)
        fprintf(f, "<4>line %05d %s\n", i, pad);
    assert_int_equal(fclose(f), 0);
}

static void feed_lines(int fd, int lines)
{
    feed_lines_width(fd, lines, 80);
}

/* text holds "line 00000 ...", "line 00001 ...", ... up to lines, whole,
 * in order, and nothing else. */
static void check_lines(const char *text, int lines)
{
    const char *p = text;
    for (int i = 0; i < lines; i++) {
        char want[32];
        snprintf(want, sizeof want, "line %05d ", i);
        assert_memory_equal(p, want, strlen(want));
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    assert_string_equal(p, "");
}

static void check_pipe_output(const char *path, int lines)
{
    char *text = slurp(path);
    check_lines(text, lines);
    free(text);
}

/* Starts argv with stdin from a new pipe (*in_w: its write end, held by
 * nobody else) and stderr into err_path. */
static pid_t spawn_pipe_cmd(char *const argv[], int *in_w, const char *err_path)
{
    int in[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    *in_w = in[1];
    return pid;
}

/* One console stuck on a FIFO nobody reads, one file console. Stdin is
 * read to the end (with --block too: the stuck one is not waited for once
 * it made no progress for the deadline), the file gets every line, and
 * the exit status (8) and stderr say that "stuck" did not. Its stall
 * notice is kept out of the file (stall_ms): the check is exact. */
static void test_pipe_stuck_fifo(void **state)
{
    (void)state;
    char fifo[128], out[160], err[160], spec_fifo[200], spec_out[200];
    tu_ring_name(fifo, sizeof fifo, "fifo");
    snprintf(out, sizeof out, "%s.out", fifo);
    snprintf(err, sizeof err, "%s.err", fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    /* Nobody opens it for reading, ever: opening it must not block the
     * command, and the console writing to it gets stuck once the FIFO's
     * 64 KiB buffer is full. */
    snprintf(spec_fifo, sizeof spec_fifo, "file:%s,name=stuck,stall_ms=3600000", fifo);
    snprintf(spec_out, sizeof spec_out, "file:%s,name=out", out);
    char *plain[] = {tool, "pipe", "--deadline-ms", "300", "--console", spec_fifo,
                     "--console", spec_out, NULL};
    char *block[] = {tool, "pipe", "--block", "--ring-records", "256", "--deadline-ms",
                     "300", "--console", spec_fifo, "--console", spec_out, NULL};
    char *const *runs[] = {plain, block};
    for (int run = 0; run < 2; run++) {
        unlink(out);
        int in_w;
        pid_t pid = spawn_pipe_cmd(runs[run], &in_w, err);
        const int lines = 5000; /* 400 KiB: far more than the FIFO holds */
        alarm(HANG_GUARD_MS / 1000); /* pipe holding stdin forever: killed */
        feed_lines(in_w, lines);
        alarm(0);
        assert_int_equal(wait_child(pid), 8);
        check_pipe_output(out, lines);
        char *text = slurp(err);
        assert_non_null(strstr(text, "console \"stuck\" did not get every line"));
        assert_null(strstr(text, "console \"out\""));
        free(text);
    }
    unlink(fifo);
    unlink(out);
    unlink(err);
}

/* ------------------------------------------------- pipe: slow consoles */

/* A collector in this process: reads its socket or FIFO in small pieces
 * with a nap between them, so it is slower than stdin but always moving;
 * keeps everything it read. */
struct slow_reader {
    int fd;           /* listening socket (tcp) or FIFO read end */
    int tcp;
    size_t chunk;     /* bytes per read */
    long nap_ns;      /* after each read */
    atomic_int writer_gone; /* FIFO: the command has exited */
    char *data;
    size_t len, cap;
};

static void slow_keep(struct slow_reader *sr, const char *buf, size_t n)
{
    if (sr->len + n > sr->cap) {
        sr->cap = (sr->len + n) * 2;
        sr->data = realloc(sr->data, sr->cap + 1);
        assert_non_null(sr->data);
    }
    memcpy(sr->data + sr->len, buf, n);
    sr->len += n;
    sr->data[sr->len] = '\0';
}

static void *slow_reader_main(void *arg)
{
    struct slow_reader *sr = arg;
    int fd = sr->fd;
    if (sr->tcp) {
        struct pollfd p = {.fd = sr->fd, .events = POLLIN};
        if (poll(&p, 1, HANG_GUARD_MS) != 1 || (fd = accept(sr->fd, NULL, NULL)) < 0)
            return NULL;
    }
    char buf[4096];
    const struct timespec nap = {0, sr->nap_ns};
    for (;;) {
        ssize_t n = read(fd, buf, sr->chunk);
        if (n > 0) {
            slow_keep(sr, buf, (size_t)n);
            nanosleep(&nap, NULL);
        } else if (n == 0 && (sr->tcp || atomic_load(&sr->writer_gone))) {
            break; /* the command closed its end: all there is */
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break;
        } else {
            /* FIFO: empty, or not opened by the command yet. */
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, 1);
        }
    }
    if (sr->tcp)
        close(fd);
    return NULL;
}

/* A loopback listener with a small receive buffer (the kernel's buffers
 * then hide little of the collector's slowness); returns its port. */
static int slow_listener(struct slow_reader *sr)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(ls >= 0);
    int small = 4096;
    assert_int_equal(setsockopt(ls, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 4), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    sr->fd = ls;
    sr->tcp = 1;
    return ntohs(a.sin_port);
}

/* --block into a live collector slower than stdin, with a ring of 64
 * records: every one of the lines arrives (at-least-once: a line may come
 * twice, none may be missing) and pipe exits 0. */
static void test_pipe_block_slow_collector(void **state)
{
    (void)state;
    struct slow_reader *sr = calloc(1, sizeof *sr);
    assert_non_null(sr);
    sr->chunk = 1024;
    sr->nap_ns = 200000;
    int port = slow_listener(sr);
    char spec[128], err[128];
    snprintf(spec, sizeof spec, "syslog+tcp://127.0.0.1:%d,name=net", port);
    tu_ring_name(err, sizeof err, "block.err");
    char *args[] = {tool, "pipe", "--block", "--ring-records", "64", "--console", spec,
                    NULL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_reader_main, sr), 0);
    int in_w;
    pid_t pid = spawn_pipe_cmd(args, &in_w, err);
    const int lines = 3000;
    feed_lines(in_w, lines);
    assert_int_equal(wait_child(pid), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    char *seen = calloc((size_t)lines, 1);
    assert_non_null(seen);
    int distinct = 0;
    for (const char *p = sr->data; p && (p = strstr(p, "line ")); p += 5) {
        int i = atoi(p + 5);
        assert_true(i >= 0 && i < lines);
        distinct += !seen[i];
        seen[i] = 1;
    }
    assert_int_equal(distinct, lines);
    free(seen);
    free(sr->data);
    close(sr->fd);
    free(sr);
    unlink(err);
}

/* At end of input pipe waits for a console that is behind but moving, for
 * as long as it takes: here a FIFO this process reads at most 1 KiB a
 * millisecond, so 3.7 MB take far longer than the 1000 ms deadline, which
 * bounds only a console making no progress (one batch, about 46 KiB,
 * drains in some 50 ms). Every line arrives; exit 0. */
static void test_pipe_eof_waits_for_moving_console(void **state)
{
    (void)state;
    char fifo[128], err[160], spec[200];
    tu_ring_name(fifo, sizeof fifo, "eof");
    snprintf(err, sizeof err, "%s.err", fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct slow_reader *sr = calloc(1, sizeof *sr);
    assert_non_null(sr);
    /* Open for reading first, so the console opens it write-only and its
     * close at exit is our end of file. */
    sr->fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(sr->fd >= 0);
    /* About 1 MB/s, so the 3.7 MB take ~4 s, longer than the 2 s
     * deadline: pipe must wait for a console that keeps moving. The
     * deadline must exceed one batch's time (a console's progress shows
     * per write, up to 256 KiB here, ~0.25 s): few reads with long naps,
     * so a loaded machine's late wake-ups slow the reader less (1 KiB
     * per 1 ms once made a batch outlast a 1 s deadline at load 20). */
    sr->chunk = 4096;
    sr->nap_ns = 4000000;
    snprintf(spec, sizeof spec, "file:%s,name=slow", fifo);
    char *args[] = {tool, "pipe", "--deadline-ms", "2000", "--console", spec, NULL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_reader_main, sr), 0);
    int in_w;
    pid_t pid = spawn_pipe_cmd(args, &in_w, err);
    const int lines = 8000; /* fits the default ring of 8192: nothing dropped */
    feed_lines_width(in_w, lines, 470);
    int status = wait_child(pid);
    atomic_store(&sr->writer_gone, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(status, 0);
    check_lines(sr->data ? sr->data : "", lines);
    free(sr->data);
    close(sr->fd);
    free(sr);
    unlink(fifo);
    unlink(err);
}

/* ------------------------------------------------------ pipe: SIGHUP */

/* Lines in the file at path (0 if it does not exist). */
static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0, ch;
    while ((ch = getc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* Writes line i to pipe's stdin and waits until it is in one of the two
 * files (a hang guard, not a timing check). Returns 0 if pipe is gone. */
static int feed_one(int fd, int i, pid_t pid, const char *a, const char *b)
{
    char line[64];
    int n = snprintf(line, sizeof line, "line %05d x\n", i);
    if (write(fd, line, (size_t)n) != n)
        return 0;
    for (int waited = 0; count_lines(a) + count_lines(b) <= i; waited++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid || waited > HANG_GUARD_MS)
            return 0;
        const struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return 1;
}

/* logrotate: rename the file, kill -HUP. pipe lives on, reopens the path
 * (a new file appears), and no line is lost: the old file then the new
 * one hold every line, in order. */
static void test_pipe_sighup_reopens(void **state)
{
    (void)state;
    char out[128], old[160], err[160], spec[200];
    tu_ring_name(out, sizeof out, "hup");
    snprintf(old, sizeof old, "%s.1", out);
    snprintf(err, sizeof err, "%s.err", out);
    unlink(old);
    snprintf(spec, sizeof spec, "file:%s,name=log", out);
    char *args[] = {tool, "pipe", "--console", spec, NULL};
    int in_w;
    pid_t pid = spawn_pipe_cmd(args, &in_w, err);
    int i = 0;
    for (; i < 20; i++)
        assert_true(feed_one(in_w, i, pid, out, old));
    assert_int_equal(rename(out, old), 0);
    assert_int_equal(kill(pid, SIGHUP), 0);
    /* Until the reopened file shows up (the first write after the signal
     * was handled), then some more. */
    while (count_lines(out) == 0)
        assert_true(feed_one(in_w, i++, pid, out, old));
    for (int more = i + 20; i < more; i++)
        assert_true(feed_one(in_w, i, pid, out, old));
    close(in_w);
    assert_int_equal(wait_child(pid), 0);
    char *a = slurp(old), *b = slurp(out);
    char *both = malloc(strlen(a) + strlen(b) + 1);
    assert_non_null(both);
    strcpy(both, a);
    strcat(both, b);
    check_lines(both, i);
    free(both);
    free(a);
    free(b);
    unlink(out);
    unlink(old);
    unlink(err);
}

/* --ring-records sizes the ring (rounded up to a power of two, as
 * nblog_options_t says); without --console the NBLOG_CONSOLES specs are
 * used, each one waited for and judged. */
static void test_pipe_ring_records_and_env(void **state)
{
    (void)state;
    char file[128], out[160], a[160], b[160], env[400];
    tu_ring_name(file, sizeof file, "records");
    snprintf(out, sizeof out, "%s.txt", file);
    snprintf(a, sizeof a, "%s.a", file);
    snprintf(b, sizeof b, "%s.b", file);
    unlink(file);
    unlink(a);
    unlink(b);
    snprintf(env, sizeof env, "file:%s;file:%s", a, b);
    assert_int_equal(setenv("NBLOG_CONSOLES", env, 1), 0);
    char *args[] = {tool, "pipe", "--block", "--ring", file, "--ring-records", "100", NULL};
    int in_w;
    pid_t pid = spawn_pipe_cmd(args, &in_w, "/dev/null");
    unsetenv("NBLOG_CONSOLES");
    feed_lines(in_w, 300);
    assert_int_equal(wait_child(pid), 0);
    check_pipe_output(a, 300);
    check_pipe_output(b, 300);
    char *status[] = {tool, "status", file, NULL};
    assert_int_equal(run_to_file(status, out), 0);
    char *text = slurp(out);
    assert_non_null(strstr(text, " records of 128 bytes"));
    assert_non_null(strstr(text, ", 128 records of"));
    free(text);
    unlink(out);
    unlink(a);
    unlink(b);
    unlink(file);
}

/* A line with quotes, a backslash, control bytes and bytes that are not
 * UTF-8: JSON escapes, so it stays one valid object (promise 10). */
static void test_json_escapes(void **state)
{
    (void)state;
    char file[128], out[160];
    tu_ring_name(file, sizeof file, "json");
    snprintf(out, sizeof out, "%s.json", file);
    char *args[] = {tool, "pipe", "--ring", file, "--console", "file:/dev/null", NULL};
    int in_w;
    pid_t pid = spawn_with_input(args, &in_w);
    /* Invalid UTF-8 of every kind: stray bytes, a surrogate, an overlong
     * form, past U+10FFFF; then a valid two-byte character. */
    static const char line[] = "<2>q\" b\\ t\t c\a x\xff\xfe \xed\xa0\x80 \xe0\x80\xaf "
                               "\xf4\x90\x80\x80 \xc3\xa9 n\0ul\n"; /* and a NUL */
    assert_int_equal(write(in_w, line, sizeof line - 1), (ssize_t)(sizeof line - 1));
    close(in_w);
    assert_int_equal(wait_child(pid), 0);
    char *dmesg[] = {tool, "dmesg", "--format", "json", file, NULL};
    assert_int_equal(run_to_file(dmesg, out), 0);
    char *json = slurp(out);
    assert_non_null(strstr(json, "\"level\":\"crit\""));
    assert_non_null(strstr(json, "\"text\":\"q\\\" b\\\\ t\\t c\\u0007 "
                                 "x\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd "
                                 "\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\\ufffd "
                                 "\xc3\xa9 n\\u0000ul\",\"text_bytes\":[113,34,"));
    free(json);
    /* --since-seq past the head prints nothing (not everything). */
    char *since[] = {tool, "dmesg", "--since-seq", "5", file, NULL};
    assert_int_equal(run_to_file(since, out), 0);
    json = slurp(out);
    assert_string_equal(json, "");
    free(json);
    unlink(out);
    unlink(file);
}

/* A new ring file (named after tag; out named after it too) holding the
 * lines of input, stored by `nblog pipe`. */
static void ring_of_lines(char *file, size_t cap, char *out, size_t out_cap, const char *tag,
                          const char *input, size_t len)
{
    tu_ring_name(file, cap, tag);
    snprintf(out, out_cap, "%s.out", file);
    unlink(file);
    char *args[] = {tool, "pipe", "--ring", file, "--console", "file:/dev/null", NULL};
    int in_w;
    pid_t pid = spawn_with_input(args, &in_w);
    assert_int_equal(write(in_w, input, len), (ssize_t)len);
    close(in_w);
    assert_int_equal(wait_child(pid), 0);
}

/* Runs nblog with args (NULL-terminated after the tool) into out, asserts
 * it succeeded; returns what it printed (free it). */
static char *tool_output(const char *out, ...)
{
    char *args[8] = {tool};
    va_list ap;
    va_start(ap, out);
    for (int i = 1; i < 7 && (args[i] = va_arg(ap, char *)); i++)
        ;
    va_end(ap);
    assert_int_equal(run_to_file(args, out), 0);
    return slurp(out);
}

/* Nothing of a record reaches the reader as a terminal control or a line
 * break (issue 12 item 7): C1 controls (CSI, NEL) and U+2028/U+2029 in
 * UTF-8, as well as C0 and bytes that are not UTF-8, are escaped in plain
 * and kmsg output (\xNN) and in JSON (\uXXXX), one line per record; JSON
 * keeps the exact bytes of a text that is not UTF-8 in "text_bytes". */
static void test_dmesg_terminal_controls(void **state)
{
    (void)state;
    char file[128], out[160];
    static const char lines[] = "<6>a\xc2\x9b" "2J\xc2\x85[    1.000000] emerg forged\xe2\x80\xa8"
                                "x\xe2\x80\xa9y \x1b]0;t\x07 \xc3\xa9\n"
                                "<6>b\x9b" "31m\xff\n";
    ring_of_lines(file, sizeof file, out, sizeof out, "ctl", lines, sizeof lines - 1);
    static const char *const raw[] = {"\xc2\x9b", "\xc2\x85", "\xe2\x80\xa8", "\xe2\x80\xa9",
                                      "\x1b", "\x07", "\x9b\x33\x31m", "\xff"};
    static const char *const formats[] = {"plain", "kmsg", "json"};
    for (int f = 0; f < 3; f++) {
        char *text = tool_output(out, "dmesg", "--format", formats[f], file, NULL);
        for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
            assert_null(strstr(text, raw[i]));
        assert_non_null(strstr(text, "\xc3\xa9")); /* other characters as they are */
        size_t newlines = 0;
        for (const char *c = text; *c; c++)
            newlines += *c == '\n';
        assert_int_equal(newlines, 2);
        if (f < 2) {
            assert_non_null(strstr(text, "a\\xc2\\x9b2J\\xc2\\x85[    1.000000] emerg forged"
                                         "\\xe2\\x80\\xa8x\\xe2\\x80\\xa9y \\x1b]0;t\\x07 "));
            assert_non_null(strstr(text, "b\\x9b31m\\xff\n"));
        } else {
            assert_non_null(strstr(text, "\"text\":\"a\\u009b2J\\u0085[    1.000000] emerg "
                                         "forged\\u2028x\\u2029y \\u001b]0;t\\u0007 \xc3\xa9\"}\n"));
            assert_non_null(strstr(text, "\"text\":\"b\\ufffd31m\\ufffd\","
                                         "\"text_bytes\":[98,155,51,49,109,255]}\n"));
        }
        free(text);
    }
    unlink(out);
    unlink(file);
}

/* `nblog status` on a file whose stats table names a console with escape
 * sequences (anyone who can write the file can put them there): the name
 * is shown escaped, nothing reaches the terminal (issue 12 item 7). */
static void test_status_hostile_name(void **state)
{
    (void)state;
    char file[128], out[160];
    ring_of_lines(file, sizeof file, out, sizeof out, "hostile", "x\n", 2);
    /* Console 0 of the stats table, as a hostile writer would leave it. */
    int fd = open(file, O_RDWR);
    assert_true(fd >= 0);
    struct nblog__ring_hdr hdr;
    assert_int_equal(pread(fd, &hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
    struct nblog__stats_entry e;
    memset(&e, 0, sizeof e);
    atomic_init(&e.gen, 2); /* even: not being updated */
    static const char name[] = "\x1b]0;owned\x07\x1b[2J\x1b[31m\xc2\x9b\x9b" "2J";
    memcpy(e.name, name, sizeof name);
    e.v[NBLOG__STAT_IN_USE] = 1;
    assert_int_equal(pwrite(fd, &e, sizeof e, (off_t)hdr.stats_offset), (ssize_t)sizeof e);
    close(fd);
    char *text = tool_output(out, "status", file, NULL);
    assert_null(strchr(text, '\x1b'));
    assert_null(strchr(text, '\x07'));
    assert_null(strchr(text, '\x9b'));
    assert_non_null(strstr(text, "\n\\x1b]0;owned\\x07\\x1b[2J\\x1b[31m\\xc2\\x9b\\x9b2J "));
    free(text);
    unlink(out);
    unlink(file);
}

/* --------------------------------------------------------------- demo */

/* The summary row "NAME STORED = PRINTED + FILTERED + DROPPED + FAILED +
 * LAG RESULT" for console name, the first after from: its six numbers into
 * v, its line's end into *eol. Fails the test if there is none. */
static const char *demo_row(const char *from, const char *name, unsigned long long v[6],
                            const char **eol)
{
    char key[16];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *row = strstr(from, key);
    assert_non_null(row);
    row++;
    assert_int_equal(sscanf(row, "%*s %llu = %llu + %llu + %llu + %llu + %llu", &v[0],
                            &v[1], &v[2], &v[3], &v[4], &v[5]),
                     6);
    *eol = strchr(row, '\n');
    assert_non_null(*eol);
    /* stored = printed + filtered + dropped + failed + lag */
    assert_int_equal(v[0], v[1] + v[2] + v[3] + v[4] + v[5]);
    return row;
}

/* Does [from, to) contain needle? */
static int demo_has(const char *from, const char *to, const char *needle)
{
    const char *p = strstr(from, needle);
    return p && p < to;
}

/* The demo without a terminal: plain lines (no control sequence), the
 * opening says what the consoles are, and the numbers agree: each summary
 * row adds up; at the panic serial is complete and fbcon stuck with
 * nothing dropped yet (dropped is counted when it gets there) and its lag
 * split into in its write + in the ring + overwritten; after it caught up,
 * its dropped is what was overwritten and what its own output's notices
 * say, and every record it and serial counted printed is in the output. */
static void test_demo_summary(void **state)
{
    (void)state;
    char out[128];
    tu_ring_name(out, sizeof out, "demo");
    char *args[] = {tool, "demo", "--seconds", "3", NULL};
    assert_int_equal(run_to_file(args, out), 0);
    char *text = slurp(out);
    assert_null(strchr(text, '\033'));
    assert_non_null(strstr(text, "serial: a fast console"));
    assert_non_null(strstr(text, "fbcon: a slow console"));
    const char *summary = strstr(text, "== nblog demo summary: 3 s, ring of ");
    assert_non_null(summary);
    unsigned long long ring = 0;
    assert_int_equal(sscanf(summary, "== nblog demo summary: 3 s, ring of %llu", &ring), 1);

    const char *panic = strstr(summary, "\nAt the panic");
    const char *after = strstr(summary, "\nAfter the allocator let go");
    assert_true(panic && after && panic < after);
    unsigned long long sp[6], fp[6], sa[6], fa[6];
    const char *eol;
    const char *row = demo_row(panic, "serial", sp, &eol);
    assert_true(row < after && demo_has(row, eol, " complete"));
    row = demo_row(panic, "fbcon", fp, &eol);
    assert_true(row < after && demo_has(row, eol, " stuck "));
    assert_true(fp[5] > 0);          /* lag */
    assert_int_equal(fp[3], 0);      /* dropped: not counted while stuck */
    row = demo_row(after, "serial", sa, &eol);
    assert_true(demo_has(row, eol, " complete"));
    row = demo_row(after, "fbcon", fa, &eol);
    assert_int_equal(fa[5], 0);      /* caught up */
    assert_true(fa[1] > 0);          /* printed */

    /* What fbcon's lag was made of, and what became of the overwritten. */
    unsigned long long in_write = 0, in_ring = 0, overwritten = 0, more = 0;
    const char *split = strstr(after, "only the newest: ");
    if (split) {
        assert_int_equal(sscanf(split, "only the newest: %llu in its write + %llu in the "
                                       "ring + %llu overwritten",
                                &in_write, &in_ring, &overwritten),
                         3);
        assert_int_equal(in_write + in_ring + overwritten, fp[5]);
        assert_true(in_ring <= ring && overwritten > 0);
        const char *m = strstr(after, "\n(");
        if (m)
            assert_int_equal(sscanf(m, "\n(%llu more were overwritten", &more), 1);
    } else {
        assert_non_null(strstr(after, "stayed within the ring"));
        assert_true(fp[5] <= ring);
    }
    assert_int_equal(fa[3], overwritten + more);
    if (fp[0] > ring + 1)
        assert_true(fa[3] > 0);

    /* The consoles' own lines: fbcon's notices add up to its dropped, and
     * each console's lines cover what it counted printed. */
    unsigned long long notices = 0, fb_lines = 0, serial_lines = 0;
    for (const char *line = text; line < summary; line = strchr(line, '\n') + 1) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        if (!strncmp(line, "serial| ", 8))
            serial_lines++;
        if (strncmp(line, "fbcon | ", 8))
            continue;
        const char *stars = strstr(line, "** ");
        unsigned long long n;
        if (stars && stars < nl && demo_has(stars, nl, " messages dropped **")) {
            assert_int_equal(sscanf(stars, "** %llu messages dropped **", &n), 1);
            notices += n;
        } else {
            fb_lines++;
        }
    }
    assert_int_equal(notices, fa[3]);
    assert_true(fb_lines >= fa[1]);
    assert_true(serial_lines >= sa[1]);
    assert_non_null(strstr(after, "fbcon missed "));
    free(text);
    unlink(out);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_mid_burst),
        cmocka_unit_test(test_second_writer),
        cmocka_unit_test(test_follow_and_sigint),
        cmocka_unit_test(test_follow_into_replaced_file),
        cmocka_unit_test(test_follow_geometry_rewritten),
        cmocka_unit_test(test_follow_past_seq_limit),
        cmocka_unit_test(test_follow_forged_head_one_wait),
        cmocka_unit_test(test_fifo_refused),
        cmocka_unit_test(test_huge_file_not_copied),
        cmocka_unit_test(test_hostile_wall_offset),
        cmocka_unit_test(test_status_lag_grows),
        cmocka_unit_test(test_pipe_stuck_fifo),
        cmocka_unit_test(test_pipe_block_slow_collector),
        cmocka_unit_test(test_pipe_eof_waits_for_moving_console),
        cmocka_unit_test(test_pipe_sighup_reopens),
        cmocka_unit_test(test_pipe_ring_records_and_env),
        cmocka_unit_test(test_json_escapes),
        cmocka_unit_test(test_dmesg_terminal_controls),
        cmocka_unit_test(test_status_hostile_name),
        cmocka_unit_test(test_demo_summary),
    };
    if (getenv("NBLOG_TEST_FILTER")) /* e.g. "pipe_*", to run some again */
        cmocka_set_test_filter(getenv("NBLOG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}

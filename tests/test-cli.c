/*
 * test-cli.c - the ring in a file and the nblog command, across processes.
 *
 * Every child is a separate executable started with posix_spawn: the
 * ring-writer helper (tests/ring-writer.c) or the nblog command itself.
 * Nothing here asserts a time: waits are for events (a line from a child,
 * a count reached), each with a generous hang guard that fails the test
 * rather than hanging it.
 *
 *   sigkill_mid_burst   promise 7: every committed record survives SIGKILL,
 *                       contiguous, nothing torn
 *   second_writer       the documented NBLOG_EBUSY; the first is unaffected
 *   follow_and_sigint   dmesg --follow sees another process's records and
 *                       exits 0 on SIGINT
 *   follow_into_replaced_file
 *                       ... and follows a new writer that replaced the file
 *   status_lag_grows    status shows a stuck console's lag growing
 *   pipe_stuck_fifo     one console stuck on a FIFO: the other gets every
 *                       line, stdin is drained, exit 0
 *   json_escapes        JSON output escapes what could forge or break it
 *   demo_summary        demo without a terminal: serial complete, fbcon stuck,
 *                       then fbcon catches up with its drops counted exactly
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"
#include "testutil.h"

#define HANG_GUARD_MS 60000

static char tool[] = NBLOG_TOOL;
static char writer[] = RING_WRITER;

/* Starts ring-writer with args; *lr reads its reports. */
static pid_t start_writer(char *const args[], struct line_reader *lr)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = spawn_child(args, -1, p[1]);
    close(p[1]);
    lr->fd = p[0];
    lr->len = 0;
    return pid;
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

static void sigkill_mid_burst(void **state)
{
    (void)state;
    char file[128], out[160], count[32];
    ring_name(file, sizeof file, "burst");
    snprintf(out, sizeof out, "%s.json", file);
    unlink(file);
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

static void second_writer(void **state)
{
    (void)state;
    char file[128], out[160];
    ring_name(file, sizeof file, "second");
    snprintf(out, sizeof out, "%s.txt", file);
    unlink(file);
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

static void follow_and_sigint(void **state)
{
    (void)state;
    char file[128];
    ring_name(file, sizeof file, "follow");
    unlink(file);
    char *wargs[] = {writer, "ticks", file, NULL};
    struct line_reader wl;
    pid_t wpid = start_writer(wargs, &wl);
    long started = wait_report(&wl, 0);

    char *fargs[] = {tool, "dmesg", "--follow", file, NULL};
    struct line_reader *fl = malloc(sizeof *fl);
    assert_non_null(fl);
    pid_t fpid = start_writer(fargs, fl);
    /* A record written after the follower started, seen by it. */
    long target = wait_report(&wl, started + 10);
    char want[32], line[1024];
    snprintf(want, sizeof want, ": tick %ld", target);
    int found = 0;
    while (!found) {
        assert_int_equal(read_line(fl, line, sizeof line, HANG_GUARD_MS), 1);
        found = strstr(line, want) != NULL;
    }
    kill(fpid, SIGINT);
    assert_int_equal(wait_child(fpid), 0);
    close(fl->fd);
    free(fl);
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
static void follow_into_replaced_file(void **state)
{
    (void)state;
    char file[128];
    ring_name(file, sizeof file, "replace");
    unlink(file);
    char *wargs[] = {writer, "ticks", file, NULL};
    struct line_reader wl;
    pid_t wpid = start_writer(wargs, &wl);
    wait_report(&wl, 0);
    char *fargs[] = {tool, "dmesg", "--follow", file, NULL};
    struct line_reader *fl = malloc(sizeof *fl);
    assert_non_null(fl);
    pid_t fpid = start_writer(fargs, fl);
    follower_sees(fl, ": tick 0");
    stop_writer(wpid, &wl);

    char *burst[] = {writer, "burst", file, "20", NULL};
    assert_int_equal(run_to_file(burst, "/dev/null"), 0);
    follower_sees(fl, ": burst record 19");
    kill(fpid, SIGINT);
    assert_int_equal(wait_child(fpid), 0);
    close(fl->fd);
    free(fl);
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

static void status_lag_grows(void **state)
{
    (void)state;
    char file[128], out[160];
    ring_name(file, sizeof file, "status");
    snprintf(out, sizeof out, "%s.txt", file);
    unlink(file);
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

static void feed_lines(int fd, int lines)
{
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    for (int i = 0; i < lines; i++)
        fprintf(f, "<4>line %05d .............................................."
                   "......................\n", i);
    assert_int_equal(fclose(f), 0);
}

static void check_pipe_output(const char *path, int lines)
{
    char *text = slurp(path);
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
    free(text);
}

static void pipe_stuck_fifo(void **state)
{
    (void)state;
    char fifo[128], out[160], spec_fifo[200], spec_out[200];
    ring_name(fifo, sizeof fifo, "fifo");
    snprintf(out, sizeof out, "%s.out", fifo);
    unlink(fifo);
    unlink(out);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    /* Nobody opens it for reading, ever: opening it must not block the
     * command, and the console writing to it gets stuck once the FIFO's
     * 64 KiB buffer is full. */
    snprintf(spec_fifo, sizeof spec_fifo, "file:%s,name=stuck", fifo);
    snprintf(spec_out, sizeof spec_out, "file:%s,name=out", out);
    char *args[] = {tool, "pipe", "--deadline-ms", "500", "--console", spec_fifo,
                    "--console", spec_out, NULL};
    int in_w;
    pid_t pid = spawn_with_input(args, &in_w);
    const int lines = 5000; /* 400 KiB: far more than the FIFO holds */
    feed_lines(in_w, lines);
    assert_int_equal(wait_child(pid), 0);
    check_pipe_output(out, lines);
    unlink(fifo);
    unlink(out);
}

/* A line with quotes, a backslash, control bytes and bytes that are not
 * UTF-8: JSON escapes, so it stays one valid object (promise 10). */
static void json_escapes(void **state)
{
    (void)state;
    char file[128], out[160];
    ring_name(file, sizeof file, "json");
    snprintf(out, sizeof out, "%s.json", file);
    unlink(file);
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
                                 "\xc3\xa9 n\\u0000ul\"}\n"));
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

/* --------------------------------------------------------------- demo */

static void demo_summary(void **state)
{
    (void)state;
    char out[128];
    ring_name(out, sizeof out, "demo");
    char *args[] = {tool, "demo", "--seconds", "3", NULL};
    assert_int_equal(run_to_file(args, out), 0);
    char *text = slurp(out);
    const char *summary = strstr(text, "== nblog demo summary");
    assert_non_null(summary);
    const char *serial = strstr(summary, "\nserial ");
    const char *fbcon = strstr(summary, "\nfbcon ");
    assert_non_null(serial);
    assert_non_null(fbcon);
    const char *serial_end = strchr(serial + 1, '\n');
    const char *fbcon_end = strchr(fbcon + 1, '\n');
    const char *complete = strstr(serial, " complete\n");
    const char *stuck = strstr(fbcon, " stuck (");
    assert_true(complete && complete < serial_end);
    assert_true(stuck && stuck < fbcon_end);
    /* Then the stall ends and fbcon's books balance: what it printed and
     * what it reports dropped cover every record it was due. */
    const char *after = strstr(summary, "after the allocator let go:");
    assert_non_null(after);
    unsigned long long printed, dropped, filtered, sum, due, lag;
    assert_int_equal(sscanf(after, "after the allocator let go: fbcon printed %llu + dropped "
                                   "%llu + filtered %llu = %llu of %llu records, lag %llu",
                            &printed, &dropped, &filtered, &sum, &due, &lag), 6);
    assert_int_equal(printed + dropped + filtered, due);
    assert_true(printed > 0);
    free(text);
    unlink(out);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigkill_mid_burst),
        cmocka_unit_test(second_writer),
        cmocka_unit_test(follow_and_sigint),
        cmocka_unit_test(follow_into_replaced_file),
        cmocka_unit_test(status_lag_grows),
        cmocka_unit_test(pipe_stuck_fifo),
        cmocka_unit_test(json_escapes),
        cmocka_unit_test(demo_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

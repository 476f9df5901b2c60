/*
 * test-wallclock.c - wall-clock time stays right after the system clock
 * is stepped (issue 13 item 2): a record's wall time is its own epoch's
 * (ring.h struct nblog__wall_epoch), not a start-up offset.
 *
 * The machine's clock is never stepped: nblog__realtime_hook (platform.h)
 * gives nblog a clock STEP_NS ahead of the real one once a test says so,
 * and nblog__wallclock_notice(1) is what the wall-clock thread does when
 * its timerfd read fails with ECANCELED. No timing: times are compared
 * with bounds of minutes, steps are years.
 *
 * The cases (each function is test_ and the name below):
 *
 *   step_in_process     records before and after a step: iterated wall_ns
 *                       differ by the step; RFC 5424 lines carry each
 *                       record's own time; a notice without a step or
 *                       drift starts no epoch
 *   (the epoch table itself, recycling and a hostile table: test-ring.c)
 *   ringfile_across_step
 *                       a child writes a ring file across a step; a live
 *                       follower (synced after the step), a copy and
 *                       `nblog dmesg --time iso` all show both sides right
 *   fork_child_restarts a forked child of a ring-file writer gets its own
 *                       thread back (its first logging call) and its steps
 *                       go to its own ring, never the parent's file
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "nblog.h"
#include "platform.h"
#include "ring.h"
#include "ringfile.h"
#include "wallclock.h"
#include "capture.h"

#define STEP_NS ((int64_t)3650 * 86400 * 1000000000) /* ten years ahead */
#define SLACK_NS ((int64_t)600 * 1000000000)          /* ten minutes */

static _Atomic int64_t step_ns;

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t stepped_clock(void)
{
    return real_ns() + atomic_load(&step_ns);
}

static void use_stepped_clock(void)
{
    atomic_store(&step_ns, 0);
    atomic_store(&nblog__realtime_hook, stepped_clock);
}

static int64_t i64_abs(int64_t v)
{
    return v < 0 ? -v : v;
}

/* "YYYY-MM-DDTHH:MM:SS" of a wall time, as renderers print it (UTC). */
static void iso_seconds(int64_t wall, char *out, size_t cap)
{
    time_t sec = (time_t)(wall / 1000000000);
    struct tm tm;
    assert_non_null(gmtime_r(&sec, &tm));
    assert_true(strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm) > 0);
}

/* The line of text holding needle; fails if there is none. */
static const char *line_with(const char *text, const char *needle, char *line, size_t cap)
{
    const char *hit = strstr(text, needle);
    if (!hit)
        fail_msg("no line with \"%s\" in:\n%s", needle, text);
    const char *start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    const char *end = strchr(hit, '\n');
    size_t n = end ? (size_t)(end - start) : strlen(start);
    assert_true(n < cap);
    memcpy(line, start, n);
    line[n] = '\0';
    return line;
}

/* The "before step" and "after step" lines of text show the times before
 * and after (to the second, as iso_seconds prints them). */
static void assert_lines_show(const char *text, int64_t before, int64_t after)
{
    char line[1024], when[32];
    iso_seconds(before, when, sizeof when);
    assert_non_null(strstr(line_with(text, "before step", line, sizeof line), when));
    iso_seconds(after, when, sizeof when);
    assert_non_null(strstr(line_with(text, "after step", line, sizeof line), when));
}

/* The wall times of the records whose text is "before step" and "after
 * step", read from ring r (any reader: memory, a copy, a live view). */
static void read_both(const struct nblog__ring_hdr *r, int64_t *before, int64_t *after)
{
    int seen = 0;
    for (uint64_t seq = nblog__ring_oldest(r); seq < nblog__ring_head(r); seq++) {
        struct nblog__rec_meta m;
        char text[NBLOG__RECORD_SIZE_MAX];
        if (nblog__ring_read(r, seq, &m, text, sizeof text) != NBLOG__READ_OK)
            continue;
        if (m.len == 11 && memcmp(text, "before step", 11) == 0) {
            *before = m.wall_ns;
            seen |= 1;
        } else if (m.len == 10 && memcmp(text, "after step", 10) == 0) {
            *after = m.wall_ns;
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
}

/* The two wall times are right: the first is now (the real clock), the
 * second a step later. */
static void assert_both_sides(int64_t before, int64_t after)
{
    int64_t now = real_ns();
    if (i64_abs(before - now) > SLACK_NS)
        fail_msg("before the step: wall %lld, now %lld", (long long)before, (long long)now);
    if (i64_abs(after - before - STEP_NS) > SLACK_NS)
        fail_msg("after the step: %lld ns after the record before it, the step is %lld",
                 (long long)(after - before), (long long)STEP_NS);
}

/* ---------------------------------------------------------- in process */

/* What the callback console printed (capture.h). */
TU_CAPTURE(cb_lines, 8192);

static void test_step_in_process(void **state)
{
    (void)state;
    use_stepped_clock();
    assert_int_equal(nblog_init(NULL), NBLOG_OK);
    nblog_console_opts_t co;
    nblog_console_opts_init(&co);
    co.format = NBLOG_FORMAT_RFC5424;
    nblog_console_t *con;
    tu_capture_reset(&cb_lines);
    assert_int_equal(nblog_console_callback(tu_capture_lines, &cb_lines, &co, &con),
                     NBLOG_OK);

    assert_int_equal(nblog_info("before step"), NBLOG_OK);
    assert_int_equal(nblog__wallclock_notice(0), 0); /* nothing moved */
    atomic_store(&step_ns, STEP_NS);                  /* date -s */
    assert_int_equal(nblog__wallclock_notice(1), 1);  /* the timerfd's ECANCELED */
    assert_int_equal(nblog_info("after step"), NBLOG_OK);
    assert_int_equal(nblog_flush(10000, NULL, 0), NBLOG_OK);

    /* Iterated: the public reader's wall_ns. */
    nblog_reader_t rd;
    assert_int_equal(nblog_reader_open(&rd, NBLOG_FROM_OLDEST), NBLOG_OK);
    nblog_record_t rec;
    char buf[512];
    int64_t before = 0, after = 0;
    int seen = 0;
    while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK) {
        if (strcmp(rec.text, "before step") == 0) {
            before = rec.wall_ns;
            seen |= 1;
        } else if (strcmp(rec.text, "after step") == 0) {
            after = rec.wall_ns;
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    assert_both_sides(before, after);
    /* The ring's reader says the same. */
    const void *mem;
    size_t bytes;
    nblog__ring_memory(&mem, &bytes);
    int64_t b2 = 0, a2 = 0;
    read_both(mem, &b2, &a2);
    assert_true(b2 == before && a2 == after);

    /* Rendered: each RFC 5424 line carries its record's own time. */
    assert_lines_show(tu_captured(&cb_lines), before, after);

    nblog_console_unregister(con);
    nblog_shutdown();
    assert_int_equal(nblog__wallclock_notice(1), -1); /* the thread stopped */
    atomic_store(&nblog__realtime_hook, NULL);
}

/* ---------------------------------------------------------- ring file */

/* The child: writes "before step", waits for go, steps the clock, has the
 * step noticed, writes "after step", exits. */
static void child_writer(const char *path, int ready_fd, int go_fd)
{
    nblog_shutdown(); /* the parent's, if a failed test left it running */
    use_stepped_clock();
    nblog_options_t o;
    tu_ring_options(&o, path, 64, 0);
    if (nblog_init(&o) != NBLOG_OK)
        _exit(10);
    nblog_info("before step");
    char c = 1;
    if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
        _exit(11);
    atomic_store(&step_ns, STEP_NS);
    if (nblog__wallclock_notice(1) != 1)
        _exit(12);
    nblog_info("after step");
    nblog_shutdown();
    _exit(0);
}

static void test_ringfile_across_step(void **state)
{
    (void)state;
    char path[128], out[160];
    tu_ring_name(path, sizeof path, "wallclock");
    snprintf(out, sizeof out, "%s.out", path);
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        child_writer(path, ready[1], go[0]);
    }
    close(ready[1]); /* a child that dies early ends the read below */
    close(go[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    /* A follower that opened the file before the step. */
    struct nblog__ringview live;
    char why[256];
    assert_int_equal(nblog__ringview_open(path, 1, &live, why, sizeof why), NBLOG__RING_OK);
    assert_int_equal(write(go[1], &c, 1), 1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    int64_t before = 0, after = 0;
    nblog__ringview_sync(&live); /* takes the epoch started after it opened */
    read_both(live.ring, &before, &after);
    assert_both_sides(before, after);
    nblog__ringview_close(&live);

    /* A copy (nblog dmesg) reads the same. */
    struct nblog__ringview copy;
    assert_int_equal(nblog__ringview_open(path, 0, &copy, why, sizeof why), NBLOG__RING_OK);
    int64_t b2 = 0, a2 = 0;
    read_both(copy.ring, &b2, &a2);
    assert_true(b2 == before && a2 == after);
    nblog__ringview_close(&copy);

    /* And the command renders both sides with their own times. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s dmesg --time iso %s > %s", NBLOG_TOOL, path, out);
    assert_int_equal(system(cmd), 0);
    static char text[65536];
    assert_true(tu_read_file(out, text, sizeof text) >= 0);
    assert_lines_show(text, before, after);
    unlink(out);
    unlink(path);
    close(ready[0]);
    close(go[1]);
}

static void test_fork_child_restarts(void **state)
{
    (void)state;
    char path[128];
    tu_ring_name(path, sizeof path, "wallclock-fork");
    use_stepped_clock();
    nblog_options_t o;
    tu_ring_options(&o, path, 64, 0);
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    nblog_console_t *con;
    tu_capture_reset(&cb_lines);
    assert_int_equal(nblog_console_callback(tu_capture_lines, &cb_lines, NULL, &con),
                     NBLOG_OK);
    const void *mem;
    size_t bytes;
    nblog__ring_memory(&mem, &bytes);
    const struct nblog__ring_hdr *file_ring = mem;
    uint64_t gen = nblog__ring_epoch(file_ring);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The thread stayed in the parent; the fork forgot its ring. */
        if (nblog__wallclock_notice(1) != -1)
            _exit(20);
        nblog_info("in the child"); /* restarts printers and the thread */
        atomic_store(&step_ns, STEP_NS);
        if (nblog__wallclock_notice(1) != 1)
            _exit(21);
        nblog__ring_memory(&mem, &bytes);
        if (mem == file_ring || nblog__ring_epoch(mem) == gen)
            _exit(22); /* published, and into the child's own ring */
        nblog_info("after the child's step");
        nblog_reader_t rd;
        nblog_record_t rec;
        char buf[512];
        if (nblog_reader_open(&rd, NBLOG_FROM_OLDEST) != NBLOG_OK)
            _exit(23);
        int seen = 0;
        while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK)
            if (strcmp(rec.text, "after the child's step") == 0 &&
                i64_abs(rec.wall_ns - real_ns() - STEP_NS) < SLACK_NS)
                seen = 1;
        _exit(seen ? 0 : 24);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The parent's file: no epoch of the child's. */
    assert_int_equal(nblog__ring_epoch(file_ring), gen);
    assert_int_equal(nblog__wallclock_notice(0), 0); /* and its thread runs */
    nblog_console_unregister(con);
    nblog_shutdown();
    atomic_store(&nblog__realtime_hook, NULL);
    unlink(path);
}

/* After a test that may fail halfway: nothing of it stays for the next. */
static int reset_all(void **state)
{
    (void)state;
    nblog_shutdown();
    atomic_store(&nblog__realtime_hook, NULL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_step_in_process, reset_all),
        cmocka_unit_test_teardown(test_ringfile_across_step, reset_all),
        cmocka_unit_test_teardown(test_fork_child_restarts, reset_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

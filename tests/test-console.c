/*
 * test-console.c - one console behaviour per test: printing and filters,
 * line formats and escaping, direct mode, dropped notices, flush and its
 * deadline, unregistering a stuck console, write faults, stall reports,
 * fork, file rotation and reopen, names. The many-thread claims are in
 * test-console-stress.c.
 */
#include "testutil.h"
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console.h"
#include "consoles/fd.h"
#include "nblog.h"
#include "platform.h"

/* ---- a gate a write can wait at; any thread may open it -------------- */

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t opened;
    int open; /* under lock */
};
#define GATE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1}

static void gate_set(struct gate *g, int open)
{
    pthread_mutex_lock(&g->lock);
    g->open = open;
    if (open)
        pthread_cond_broadcast(&g->opened);
    pthread_mutex_unlock(&g->lock);
}

static void gate_close(struct gate *g)
{
    gate_set(g, 0);
}

static void gate_open(struct gate *g)
{
    gate_set(g, 1);
}

static void gate_pass(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->opened, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

/* ---- a console that captures its lines in memory ---------------------- */

/* capture.h's capture, with the faults and counters these tests need. */
struct capture {
    struct tu_capture tc;
    int atomic_result; /* 0: write_atomic works; else the -errno it returns */
    struct gate *block; /* write waits until it is open, when set */
    _Atomic int in_write;
    _Atomic int teardowns;
    size_t max_write;       /* write takes at most this much (0: all) */
    _Atomic int writes;     /* calls of write */
    _Atomic int returned;   /* ... that returned */
};

static ssize_t cap_write(void *ctx, const char *buf, size_t len)
{
    struct capture *c = ctx;
    atomic_fetch_add(&c->writes, 1);
    atomic_store(&c->in_write, 1);
    if (c->block)
        gate_pass(c->block);
    atomic_store(&c->in_write, 0);
    if (c->max_write && len > c->max_write)
        len = c->max_write; /* a short write: the rest is retried */
    ssize_t n = tu_capture_append(&c->tc, buf, len);
    atomic_fetch_add(&c->returned, 1);
    return n;
}

static ssize_t cap_write_atomic(void *ctx, const char *buf, size_t len)
{
    struct capture *c = ctx;
    if (c->atomic_result)
        return c->atomic_result;
    return tu_capture_append(&c->tc, buf, len);
}

static void cap_teardown(void *ctx)
{
    struct capture *c = ctx;
    atomic_fetch_add(&c->teardowns, 1);
}

static const nblog_console_ops_t cap_ops = {.write = cap_write,
                                            .write_atomic = cap_write_atomic,
                                            .teardown = cap_teardown};

/* Captures live in static storage: a stuck console's printer may still be
 * inside a capture's write after its test ends. */
static struct capture captures[40];
static char capture_bufs[40][1 << 20];
static int captures_used;

static struct capture *new_capture(void)
{
    assert_true(captures_used < (int)(sizeof captures / sizeof captures[0]));
    int i = captures_used++;
    struct capture *c = &captures[i];
    tu_capture_init(&c->tc, capture_bufs[i], sizeof capture_bufs[i]);
    return c;
}

/* Lines captured so far, as one string (copied under the lock). */
static const char *captured(struct capture *c)
{
    return tu_captured(&c->tc);
}

static nblog_console_t *add(struct capture *c, const char *name, int level,
                            int format, int mode)
{
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = name;
    o.level = level;
    o.format = format;
    o.mode = mode;
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_register(&cap_ops, c, &o, &con), NBLOG_OK);
    return con;
}

static int setup(void **state)
{
    (void)state;
    return tu_init_debug(16) == NBLOG_OK ? 0 : -1;
}

static void assert_flushed(void)
{
    tu_assert_flushed_within(60000);
}

/* ---- tests ------------------------------------------------------------- */

static void test_prints_in_order_with_filter(void **state)
{
    (void)state;
    struct capture *all = new_capture(), *warn = new_capture();
    nblog_console_t *a = add(all, "all", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    nblog_console_t *w = add(warn, "warn", NBLOG_LEVEL_WARNING, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    for (int i = 0; i < 10; i++)
        nblog_printf(i % 2 ? NBLOG_LEVEL_INFO : NBLOG_LEVEL_ERR, "line %d", i);
    assert_flushed();
    assert_string_equal(captured(all), "line 0\nline 1\nline 2\nline 3\nline 4\n"
                                       "line 5\nline 6\nline 7\nline 8\nline 9\n");
    assert_string_equal(captured(warn), "line 0\nline 2\nline 4\nline 6\nline 8\n");
    nblog_console_stats_t st;
    nblog_console_stats(w, &st);
    assert_string_equal(st.name, "warn");
    assert_int_equal(st.printed, 5);
    assert_int_equal(st.filtered, 5);
    assert_int_equal(st.lag, 0);
    tu_assert_books(a);
    tu_assert_books(w);
    /* Level change applies to later records. */
    assert_int_equal(nblog_console_set_level(w, NBLOG_LEVEL_DEBUG), NBLOG_OK);
    nblog_info("now shown");
    assert_flushed();
    assert_non_null(strstr(captured(warn), "now shown\n"));
    assert_int_equal(nblog_console_unregister(a), NBLOG_OK);
    assert_int_equal(nblog_console_unregister(w), NBLOG_OK);
    assert_int_equal(nblog_console_unregister(w), NBLOG_ESTALE);
}

/* No message can forge a line: control bytes and backslashes are escaped,
 * in the kmsg format and the plain one. */
static void test_formats_escape_control_bytes(void **state)
{
    (void)state;
    struct capture *k = new_capture(), *p = new_capture();
    nblog_console_t *kc = add(k, "kmsg", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_KMSG, NBLOG_MODE_THREADED);
    nblog_console_t *pc = add(p, "plain", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    nblog_stats_t st;
    nblog_stats_get(&st);
    nblog_printf(NBLOG_LEVEL_WARNING, "a\nb\x01\\c\x7f" "d\t");
    assert_flushed();
    char want[128];
    /* facility user (1) * 8 + warning (4) = 12 */
    snprintf(want, sizeof want, "12,%llu,", (unsigned long long)st.reserved);
    assert_memory_equal(captured(k), want, strlen(want));
    assert_non_null(strstr(captured(k), ",-;a\\x0ab\\x01\\x5cc\\x7fd\\x09\n"));
    assert_string_equal(captured(p), "a\\x0ab\\x01\\x5cc\\x7fd\\x09\n");
    nblog_console_unregister(kc);
    nblog_console_unregister(pc);
}

/* Direct mode: with the console free, the line is out before the logging
 * call returns; when write_atomic would block, or the console is owned by
 * its printer, the call returns and the printer prints it later. */
/* Pauses the printer threads and waits until each has napped paused twice
 * (so none is still in the middle of printing). */
static void pause_printers(void)
{
    atomic_store(&nblog__printers_paused, 1);
    unsigned naps = atomic_load(&nblog__printers_pause_naps);
    for (int i = 0; i < 120000 && atomic_load(&nblog__printers_pause_naps) < naps + 2; i++)
        usleep(1000);
    assert_true(atomic_load(&nblog__printers_pause_naps) >= naps + 2);
}

static void test_direct_mode(void **state)
{
    (void)state;
    struct capture *c = new_capture();
    nblog_console_t *con = add(c, "direct", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_DIRECT);
    /* The printer must not be the one holding the console when we log, or
     * it prints "first" itself, a moment later. */
    pause_printers();
    nblog_info("first");
    assert_string_equal(captured(c), "first\n"); /* no flush: already written */
    atomic_store(&nblog__printers_paused, 0);

    c->atomic_result = -EAGAIN; /* the fd is full */
    assert_int_equal(nblog_info("second"), NBLOG_OK);
    c->atomic_result = 0;
    assert_flushed(); /* the printer thread printed it */
    assert_string_equal(captured(c), "first\nsecond\n");

    /* Owned elsewhere: the printer is inside write(), blocked. */
    static struct gate block = GATE_INIT;
    gate_close(&block);
    c->block = &block;
    c->atomic_result = -EAGAIN; /* makes the printer take the next record */
    nblog_info("third");
    for (int i = 0; i < 120000 && !atomic_load(&c->in_write); i++)
        usleep(1000);
    assert_true(atomic_load(&c->in_write));
    c->atomic_result = 0;
    assert_int_equal(nblog_info("fourth"), NBLOG_OK); /* returns at once */
    assert_string_equal(captured(c), "first\nsecond\n");
    gate_open(&block);
    assert_flushed();
    assert_string_equal(captured(c), "first\nsecond\nthird\nfourth\n");
    c->block = NULL;
    tu_assert_books(con);
    nblog_console_unregister(con);
}

/* An emergency record goes out at once through write_atomic on a threaded
 * console, after everything pending before it, in order. */
static void test_emergency_pushed_in_order(void **state)
{
    (void)state;
    struct capture *c = new_capture();
    nblog_console_t *con = add(c, "threaded", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN,
                               NBLOG_MODE_THREADED);
    pause_printers();
    nblog_info("one");
    nblog_info("two");
    assert_string_equal(captured(c), "");
    assert_int_equal(nblog_crit("disk on fire"), NBLOG_OK);
    assert_string_equal(captured(c), "one\ntwo\ndisk on fire\n");
    atomic_store(&nblog__printers_paused, 0);
    nblog_info("three");
    assert_flushed();
    assert_string_equal(captured(c), "one\ntwo\ndisk on fire\nthree\n");
    tu_assert_books(con);
    nblog_console_unregister(con);
}

/* A direct console needs write_atomic; bad options are refused. */
static void test_register_rejects_bad_options(void **state)
{
    (void)state;
    nblog_console_opts_t o;
    nblog_console_t *con;
    nblog_console_ops_t no_atomic = {.write = cap_write};
    nblog_console_opts_init(&o);
    o.mode = NBLOG_MODE_DIRECT;
    assert_int_equal(nblog_console_register(&no_atomic, NULL, &o, &con), NBLOG_EINVAL);
    nblog_console_opts_init(&o);
    o.level = 8;
    assert_int_equal(nblog_console_register(&cap_ops, NULL, &o, &con), NBLOG_EINVAL);
    nblog_console_opts_init(&o);
    o.format = 7;
    assert_int_equal(nblog_console_register(&cap_ops, NULL, &o, &con), NBLOG_EINVAL);
    nblog_console_ops_t no_write = {0};
    assert_int_equal(nblog_console_register(&no_write, NULL, NULL, &con), NBLOG_EINVAL);
}

/* Names are text (issue 12 item 8): the API and specs refuse a name with
 * escape sequences, C1 controls, none or too many bytes; a spec's default
 * name (a path) has such bytes as '_'; spec errors quote them as \xNN. */
static void test_names_are_text(void **state)
{
    (void)state;
    static const char *const bad[] = {"\x1b]0;owned\x07\x1b[2J\x1b[31m", "csi\xc2\x9b\x32J",
                                      "nl\n", "", "0123456789012345678901234567890x"};
    nblog_console_opts_t o;
    nblog_console_t *con;
    struct capture *cap = new_capture();
    nblog_console_opts_init(&o);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.name = bad[i];
        assert_int_equal(nblog_console_register(&cap_ops, cap, &o, &con), NBLOG_EINVAL);
        char spec[96];
        snprintf(spec, sizeof spec, "stderr,name=%s", bad[i]);
        assert_int_equal(nblog_console_from_spec(spec, NULL), NBLOG_EINVAL);
        for (const char *e = nblog_spec_error(); *e; e++)
            assert_true(*e >= ' ' && *e <= '~');
    }
    assert_non_null(strstr(nblog_spec_error(), "name="));
    assert_int_equal(nblog_console_from_spec("unix:/nonexistent,app=a\x1b[2J", NULL),
                     NBLOG_EINVAL);
    assert_non_null(strstr(nblog_spec_error(), "app=a\\x1b[2J: byte 2 (0x1b)"));
    con = add(cap, "serial 0123456789012345678901~", NBLOG_LEVEL_DEBUG,
              NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED); /* 31 bytes: fine */
    nblog_console_unregister(con);
    char path[64];
    snprintf(path, sizeof path, "/tmp/nblog-%d-\x1b]0;x\x07", (int)getpid());
    char spec[80];
    snprintf(spec, sizeof spec, "file:%s", path);
    assert_int_equal(nblog_console_from_spec(spec, &con), NBLOG_OK);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_non_null(strstr(st.name, "-_]0;x_"));
    nblog_console_unregister(con);
    unlink(path);
}

/* Suspended while the ring laps: on resume, one notice with the exact
 * count, then the records still stored. */
static void test_suspend_resume_reports_drops(void **state)
{
    (void)state;
    struct capture *c = new_capture();
    nblog_console_t *con = add(c, "sus", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    assert_int_equal(nblog_console_suspend(con), NBLOG_OK);
    for (int i = 0; i < 100; i++)
        nblog_info("r%d", i);
    usleep(20000);
    assert_string_equal(captured(c), "");
    tu_assert_flushed_within(0); /* suspended ones don't lag */
    assert_int_equal(nblog_console_resume(con), NBLOG_OK);
    assert_flushed();
    const char *out = captured(c);
    assert_memory_equal(out, "** 84 messages dropped **\nr84\nr85\n", 30);
    nblog_console_stats_t st;
    nblog_console_stats(con, &st);
    assert_int_equal(st.dropped, 84);
    assert_int_equal(st.printed, 16);
    tu_assert_books(con);
    nblog_console_unregister(con);
}

/* Flush names the console that cannot keep up, at its deadline; unregister
 * does not wait for it; the others are unaffected. */
static void test_flush_deadline_and_unregister_stuck(void **state)
{
    (void)state;
    static struct gate block = GATE_INIT;
    gate_close(&block);
    struct capture *stuck = new_capture(), *fast = new_capture();
    stuck->block = &block;
    nblog_console_t *s = add(stuck, "stuck", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    nblog_console_t *f = add(fast, "fast", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    nblog_info("x");
    /* fast catches up first (no deadline of ours decides that). */
    for (int i = 0; strcmp(captured(fast), "x\n") != 0; i++) {
        assert_true(i < 60000);
        usleep(1000);
    }
    char lag[64];
    assert_int_equal(nblog_flush(200, lag, sizeof lag), 1);
    assert_string_equal(lag, "stuck");
    assert_int_equal(nblog_console_unregister(s), NBLOG_OK); /* while stuck */
    assert_int_equal(nblog_flush(60000, lag, sizeof lag), 0);
    assert_true(atomic_load(&stuck->in_write));
    gate_open(&block); /* its printer lets go; teardown runs */
    nblog_console_unregister(f);
}

/* Write faults: EINTR and EAGAIN are retried, short writes completed;
 * ENOSPC and EBADF fail the batch, counted, with the error in stats. */
static int faults[16], nfaults;
static _Atomic int fault_at;
static ssize_t faulty_write(int fd, const void *buf, size_t len)
{
    int i = atomic_fetch_add(&fault_at, 1);
    if (i < nfaults && faults[i] != 0) {
        if (faults[i] == 1) /* a short write: half */
            return write(fd, buf, len / 2 ? len / 2 : 1);
        errno = faults[i];
        return -1;
    }
    return write(fd, buf, len);
}

static void test_write_faults_counted(void **state)
{
    (void)state;
    char path[64];
    int fd = tu_temp_file(path, sizeof path, "faults");
    assert_true(fd >= 0);
    nblog_console_t *con = tu_fd_console(fd, "faulty", NBLOG_MODE_THREADED);
    int plan[] = {EINTR, EAGAIN, 1, 0, ENOSPC, 0, EBADF, 0};
    memcpy(faults, plan, sizeof plan);
    nfaults = (int)(sizeof plan / sizeof plan[0]);
    atomic_store(&fault_at, 0);
    atomic_store(&nblog__fd_write_hook, faulty_write);
    int logged = 0;
    for (int round = 0; round < 6; round++) {
        nblog_info("record %d is here", logged++);
        assert_flushed(); /* one batch per round */
    }
    atomic_store(&nblog__fd_write_hook, NULL);
    nblog_console_stats_t st;
    nblog_console_stats(con, &st);
    tu_assert_books(con);
    assert_int_equal(st.printed + st.write_failed, logged);
    assert_int_equal(st.write_failed, 2); /* the ENOSPC and EBADF batches */
    assert_int_equal(st.last_error, -EBADF);
    /* What was written is whole lines, each exactly once. */
    char buf[4096] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    int lines = 0;
    for (char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, st.printed);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        int k;
        assert_int_equal(sscanf(line, "record %d is here", &k), 1);
    }
    nblog_console_unregister(con);
    close(fd);
    unlink(path);
}

/* Stall reports go through the other consoles, once, and again on
 * recovery; the clock is the test's. */
static _Atomic uint64_t fake_now = 1000000000000ull;
static uint64_t fake_clock(void)
{
    return atomic_load(&fake_now);
}

static void test_stall_report(void **state)
{
    (void)state;
    atomic_store(&nblog__console_clock, fake_clock);
    static struct gate block = GATE_INIT;
    gate_close(&block);
    struct capture *stuck = new_capture(), *other = new_capture();
    stuck->block = &block;
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "fbcon";
    o.stall_ms = 5000;
    nblog_console_t *s, *f;
    assert_int_equal(nblog_console_register(&cap_ops, stuck, &o, &s), NBLOG_OK);
    f = add(other, "serial", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    nblog_info("pending");
    while (!atomic_load(&stuck->in_write))
        usleep(1000);
    /* serial must have caught up before the clock jumps, or it too has
     * been "stalled" for 6 s when a watch pass looks. */
    for (nblog_console_stats_t fs; nblog_console_stats(f, &fs) == NBLOG_OK && fs.lag;)
        usleep(1000);
    atomic_fetch_add(&fake_now, 6000000000ull); /* 6 s later */
    nblog__console_watch_once();
    nblog__console_watch_once(); /* reported once only */
    nblog_flush(2000, NULL, 0);
    const char *out = captured(other);
    const char *hit = strstr(out, "console \"fbcon\" stalled for 6.0 s, 1 records behind\n");
    assert_non_null(hit);
    assert_null(strstr(strchr(hit, '\n'), "stalled for"));
    nblog_console_stats_t st;
    nblog_console_stats(s, &st);
    assert_true(st.stalled_ns >= 6000000000ull);
    gate_open(&block);
    assert_flushed();
    nblog__console_watch_once();
    assert_flushed();
    assert_non_null(strstr(captured(other), "console \"fbcon\" recovered\n"));
    atomic_store(&nblog__console_clock, nblog__now_ns);
    stuck->block = NULL;
    nblog_console_unregister(s);
    nblog_console_unregister(f);
}

/* fork() while one thread is stuck owning a console and another is halfway
 * through a logging call: the child logs, and its consoles print. */
static pthread_mutex_t hold_writer = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int writer_parked;
static void park_in_reservation(uint64_t seq)
{
    (void)seq;
    atomic_store(&writer_parked, 1);
    pthread_mutex_lock(&hold_writer);
    pthread_mutex_unlock(&hold_writer);
}

static void *mid_log(void *arg)
{
    (void)arg;
    nblog_info("parked writer");
    return NULL;
}

static void test_fork_child_logs(void **state)
{
    (void)state;
    char path[64];
    int fd = tu_temp_file(path, sizeof path, "fork");
    assert_true(fd >= 0);
    nblog_console_t *file = tu_fd_console(fd, "file", NBLOG_MODE_THREADED), *s;
    static struct gate block = GATE_INIT;
    gate_close(&block);
    struct capture *stuck = new_capture();
    stuck->block = &block;
    s = add(stuck, "stuck", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    nblog_info("before fork");
    while (!atomic_load(&stuck->in_write))
        usleep(1000);
    /* The file prints it before the fork (the child must not print it
     * again): wait for that, not for a time ("stuck" lags meanwhile). */
    nblog_console_stats_t fst;
    while (nblog_console_stats(file, &fst) == NBLOG_OK && fst.printed < 1)
        usleep(1000);

    pthread_mutex_lock(&hold_writer);
    atomic_store(&nblog__test_hook_reserved, park_in_reservation);
    pthread_t t;
    pthread_create(&t, NULL, mid_log, NULL);
    while (!atomic_load(&writer_parked))
        usleep(1000);
    atomic_store(&nblog__test_hook_reserved, NULL);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = nblog_info("from the child %d", 42);
        char lag[64];
        nblog_flush(3000, lag, sizeof lag); /* the stuck console lags here too */
        /* A loaded machine may need longer than the flush's deadline: wait
         * for the file's record (ctest's timeout bounds a child that hangs). */
        nblog_console_stats_t st;
        while (nblog_console_stats(file, &st) == NBLOG_OK && st.printed < 1)
            usleep(1000);
        _exit(rc == NBLOG_OK && st.printed == 1 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    pthread_mutex_unlock(&hold_writer);
    pthread_join(t, NULL);
    gate_open(&block);
    assert_flushed();
    char buf[512] = {0};
    assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
    assert_non_null(strstr(buf, "before fork\n"));
    assert_non_null(strstr(buf, "from the child 42\n"));
    assert_non_null(strstr(buf, "parked writer\n"));
    stuck->block = NULL;
    nblog_console_unregister(s);
    nblog_console_unregister(file);
    close(fd);
    unlink(path);
}


/* ---- drop notices: one per gap, never one after another -------------- */

/* Checks captured lines: no drop notice follows another, the notices'
 * counts add up to the console's dropped and the other lines to its
 * printed. Returns the number of notices. */
static int check_drop_notices(const char *out, nblog_console_t *con)
{
    unsigned long long dropped = 0, lines = 0;
    int notices = 0, last_was_notice = 0;
    for (const char *l = out; *l;) {
        const char *end = strchr(l, '\n');
        assert_non_null(end);
        const char *n = strstr(l, "** ");
        if (n && n < end && strstr(n, " messages dropped **") &&
            strstr(n, " messages dropped **") < end) {
            if (last_was_notice)
                print_error("notice after notice: %.*s\n", (int)(end - l), l);
            assert_false(last_was_notice);
            dropped += strtoull(n + 3, NULL, 10);
            notices++;
            last_was_notice = 1;
        } else {
            lines++;
            last_was_notice = 0;
        }
        l = end + 1;
    }
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_int_equal(dropped, st.dropped);
    assert_int_equal(lines, st.printed);
    tu_assert_books(con);
    return notices;
}

static void *log_parked(void *arg)
{
    nblog_info("parked %d", *(int *)arg);
    return NULL;
}

/* Two writers parked in their reservations at seqs p and p+1 pin their
 * slots; 18 more records (ring of 16) lap the ring: p+16 and p+17 find
 * the slots pinned and are lost. So a console reading from p finds p..p+3
 * gone (landing on the oldest, p+4), prints p+4..p+15, finds p+16 gone and
 * then p+17 (each a failed read of its own): one notice of 2, not two of
 * 1 each, then p+18 and p+19. The console waits at a gate (threaded) or
 * with the printers paused (direct) until all that is stored. */
static void drops_in_format(int format, const char *pattern, int mode)
{
    static struct gate block = GATE_INIT;
    gate_close(&block);
    struct capture *c = new_capture();
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "drops";
    o.format = format;
    o.pattern = pattern;
    o.mode = mode;
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_register(&cap_ops, c, &o, &con), NBLOG_OK);
    if (mode == NBLOG_MODE_THREADED) {
        c->block = &block;
        nblog_info("first");
        while (!atomic_load(&c->in_write))
            usleep(1000);
    } else {
        nblog_info("first"); /* printed by this call */
        pause_printers();
    }
    pthread_mutex_lock(&hold_writer);
    atomic_store(&nblog__test_hook_reserved, park_in_reservation);
    pthread_t t[2];
    int ids[2] = {0, 1};
    for (int i = 0; i < 2; i++) {
        atomic_store(&writer_parked, 0);
        pthread_create(&t[i], NULL, log_parked, &ids[i]);
        while (!atomic_load(&writer_parked))
            usleep(1000);
    }
    atomic_store(&nblog__test_hook_reserved, NULL);
    for (int i = 2; i < 20; i++)
        nblog_info("record %d", i);
    gate_open(&block);
    atomic_store(&nblog__printers_paused, 0);
    assert_flushed();
    pthread_mutex_unlock(&hold_writer);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_flushed();
    const char *out = captured(c);
    int notices = check_drop_notices(out, con);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    if (mode == NBLOG_MODE_THREADED) {
        /* first, then p+4..p+15 and p+18, p+19 */
        assert_int_equal(notices, 2);
        assert_int_equal(st.dropped, 6);
        assert_int_equal(st.printed, 15);
    }
    assert_non_null(strstr(out, "record 19"));
    c->block = NULL;
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
}

static void test_drop_notices_one_per_gap(void **state)
{
    (void)state;
    drops_in_format(NBLOG_FORMAT_PLAIN, NULL, NBLOG_MODE_THREADED);
    drops_in_format(NBLOG_FORMAT_HUMAN, NULL, NBLOG_MODE_THREADED);
    drops_in_format(NBLOG_FORMAT_JSON, NULL, NBLOG_MODE_THREADED);
    drops_in_format(NBLOG_FORMAT_KMSG, NULL, NBLOG_MODE_THREADED);
    drops_in_format(NBLOG_FORMAT_PATTERN, "%T [%l] %v", NBLOG_MODE_THREADED);
    drops_in_format(NBLOG_FORMAT_HUMAN, NULL, NBLOG_MODE_DIRECT);
}

/* A forked child that registers a console before any logging call: that
 * console has its own printer; the fork's restart (run by the child's
 * first logging call) must restart only the consoles the fork orphaned,
 * or a second printer puts back a reference never counted (an assert, or
 * a teardown while in use). Also after a shutdown in the parent, and with
 * an orphan unregistered by the child. */
static void test_fork_child_registers_first(void **state)
{
    (void)state;
    struct capture *before = new_capture();
    nblog_console_t *orphan = add(before, "before", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN,
                                  NBLOG_MODE_THREADED);
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct capture *mine = new_capture();
            nblog_console_t *c = add(mine, "mine", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN,
                                     NBLOG_MODE_THREADED);
            if (round == 1 && nblog_console_unregister(orphan) != NBLOG_OK)
                _exit(3);
            if (nblog_info("child %d", round) != NBLOG_OK)
                _exit(4);
            if (nblog_flush(10000, NULL, 0) != 0)
                _exit(5);
            if (nblog_console_unregister(c) != NBLOG_OK)
                _exit(6);
            nblog_shutdown(); /* an uncounted reference would assert here */
            _exit(strstr(mine->tc.buf, "child") ? 0 : 7);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    nblog_console_unregister(orphan);
}

/* Size rotation keeps N files with nothing lost across the switch (when N
 * is large enough); reopen follows a rename. */
static int count_lines(const char *path, int *first, int *last)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    int n = 0, k;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "rotating record %d", &k) == 1) {
            if (n == 0)
                *first = k;
            *last = k;
        }
        n++;
    }
    fclose(f);
    return n;
}

static void test_rotation_and_reopen(void **state)
{
    (void)state;
    char dir[64];
    assert_non_null(tu_temp_dir(dir, sizeof dir, "rot"));
    char path[128], name[160];
    snprintf(path, sizeof path, "%s/app.log", dir);
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    nblog_console_t *con;
    assert_int_equal(nblog_console_file(path, 2000, 50, &o, &con), NBLOG_OK);
    int total = 0;
    for (int i = 0; i < 300; i++) {
        nblog_info("rotating record %d", i);
        if (i % 10 == 9)
            assert_flushed(); /* keep the 16-record ring from lapping */
    }
    assert_flushed();
    /* Walk the files oldest first: every record once, in order. */
    int expect = 0, files = 0;
    for (int i = 50; i >= 0; i--) {
        if (i)
            snprintf(name, sizeof name, "%s.%d", path, i);
        else
            snprintf(name, sizeof name, "%s", path);
        struct stat sb;
        if (stat(name, &sb) != 0)
            continue;
        assert_true(sb.st_size <= 2000);
        int first = -1, last = -1;
        int n = count_lines(name, &first, &last);
        assert_int_equal(first, expect);
        assert_int_equal(last, expect + n - 1);
        expect += n;
        total += n;
        files++;
    }
    assert_int_equal(total, 300);
    assert_true(files > 2);

    /* logrotate's way: rename, then ask for a reopen. */
    snprintf(name, sizeof name, "%s.moved", path);
    assert_int_equal(rename(path, name), 0);
    assert_int_equal(nblog_console_reopen(con), NBLOG_OK);
    nblog_info("after reopen");
    assert_flushed();
    int first, last;
    assert_int_equal(count_lines(path, &first, &last), 1);
    nblog_console_unregister(con);
}

/* SIGHUP (opted in) reopens file consoles after logrotate's rename. */
static void test_sighup_reopens(void **state)
{
    (void)state;
    char dir[64];
    assert_non_null(tu_temp_dir(dir, sizeof dir, "hup"));
    char path[128], moved[160];
    snprintf(path, sizeof path, "%s/app.log", dir);
    snprintf(moved, sizeof moved, "%s/app.log.1", dir);
    nblog_console_t *con;
    assert_int_equal(nblog_console_file(path, 0, 0, NULL, &con), NBLOG_OK);
    assert_int_equal(nblog_console_reopen_on_sighup(), NBLOG_OK);
    nblog_info("old file");
    assert_flushed();
    assert_int_equal(rename(path, moved), 0);
    raise(SIGHUP);
    nblog_info("new file");
    assert_flushed();
    int first, last;
    assert_int_equal(count_lines(moved, &first, &last), 1);
    assert_int_equal(count_lines(path, &first, &last), 1);
    nblog_console_unregister(con);
}

/* The callback output gets whole lines on the printer thread. */
TU_CAPTURE(cb_seen, 256);

static void test_callback_console(void **state)
{
    (void)state;
    nblog_console_t *con;
    assert_int_equal(nblog_console_callback(NULL, NULL, NULL, &con), NBLOG_EINVAL);
    assert_int_equal(nblog_console_callback(tu_capture_lines, &cb_seen, NULL, &con),
                     NBLOG_OK);
    nblog_info("to the callback %d", 1);
    NBLOG_WARNING("deferred %s", "too");
    assert_flushed();
    assert_string_equal(tu_captured(&cb_seen), "to the callback 1\ndeferred too\n");
    nblog_console_unregister(con);
}

/* ---- lifecycle: handles, unregister/suspend, teardown, flush ----------- */

/* Waits (60 s at most) until *v reaches want, running reaper passes. */
static void wait_count(_Atomic int *v, int want, const char *what)
{
    for (int i = 0; atomic_load(v) < want; i++) {
        if (i > 60000)
            fail_msg("gave up waiting for %s", what);
        nblog__console_watch_once(); /* reaps consoles let go meanwhile */
        usleep(1000);
    }
}

/* A stale handle (its console unregistered, its slot reused by another)
 * gets NBLOG_ESTALE from every call and touches nothing of the new one. */
static void test_stale_handle(void **state)
{
    (void)state;
    struct capture *c1 = new_capture(), *c2 = new_capture();
    nblog_console_t *old = add(c1, "old", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN,
                               NBLOG_MODE_THREADED);
    assert_int_equal(nblog_console_unregister(old), NBLOG_OK);
    wait_count(&c1->teardowns, 1, "old's teardown"); /* its slot is free */
    nblog_console_t *cur = add(c2, "new", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN,
                               NBLOG_MODE_THREADED);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_unregister(old), NBLOG_ESTALE);
    assert_int_equal(nblog_console_suspend(old), NBLOG_ESTALE);
    assert_int_equal(nblog_console_resume(old), NBLOG_ESTALE);
    assert_int_equal(nblog_console_set_level(old, NBLOG_LEVEL_EMERG), NBLOG_ESTALE);
    assert_int_equal(nblog_console_stats(old, &st), NBLOG_ESTALE);
    assert_int_equal(nblog_console_reopen(old), NBLOG_ESTALE);
    nblog_net_stats_t ns;
    assert_int_equal(nblog_console_net_stats(old, &ns), NBLOG_ESTALE);
    assert_int_equal(nblog_console_stats(NULL, &st), NBLOG_EINVAL);
    /* The new console is untouched: registered, not suspended, its level
     * still DEBUG, and it prints. */
    nblog_debug("still here");
    assert_flushed();
    assert_string_equal(captured(c2), "still here\n");
    assert_int_equal(nblog_console_stats(cur, &st), NBLOG_OK);
    assert_string_equal(st.name, "new");
    assert_int_equal(st.suspended, 0);
    assert_int_equal(atomic_load(&c1->teardowns), 1);
    assert_int_equal(atomic_load(&c2->teardowns), 0);
    assert_int_equal(nblog_console_unregister(cur), NBLOG_OK);
    assert_int_equal(nblog_console_unregister(cur), NBLOG_ESTALE);
    wait_count(&c2->teardowns, 1, "new's teardown");
}

/* A console blocked in a write with records pending is unregistered, or
 * suspended: once its write returns, it writes nothing more (its writes
 * are short, so the batch alone would need many). */
static void stops_output(int suspend)
{
    static struct gate gate = GATE_INIT;
    gate_close(&gate);
    struct capture *c = new_capture();
    c->block = &gate;
    c->max_write = 4;
    nblog_console_t *con = add(c, "gated", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN,
                               NBLOG_MODE_THREADED);
    for (int i = 0; i < 1000; i++)
        nblog_info("record %d", i);
    wait_count(&c->in_write, 1, "the first write");
    if (suspend)
        assert_int_equal(nblog_console_suspend(con), NBLOG_OK);
    else
        assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    gate_open(&gate);
    if (!suspend) {
        /* Its printer lets go after that write and tears it down. */
        wait_count(&c->teardowns, 1, "teardown");
        assert_int_equal(atomic_load(&c->writes), 1);
        return;
    }
    wait_count(&c->returned, 1, "the write to return");
    usleep(200000); /* room for writes that must not come */
    assert_int_equal(atomic_load(&c->writes), 1);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_true(st.lag > 0); /* the rest stays pending */
    assert_int_equal(st.suspended, 1);
    tu_assert_books(con);
    /* Resumed, it finishes what it had begun, in whole lines, and the
     * books balance. */
    assert_int_equal(nblog_console_resume(con), NBLOG_OK);
    assert_flushed();
    tu_assert_books(con);
    const char *out = captured(c);
    size_t len = strlen(out);
    assert_true(len > 0 && out[len - 1] == '\n');
    assert_non_null(strstr(out, "record 999\n"));
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
}

static void test_unregister_stops_output(void **state)
{
    (void)state;
    stops_output(0);
}

static void test_suspend_stops_output(void **state)
{
    (void)state;
    stops_output(1);
}

static void *open_gate_later(void *arg)
{
    usleep(300000); /* flush has looked at least once meanwhile */
    gate_open(arg); /* a gate, not a mutex: this thread did not lock it */
    return NULL;
}

/* A console that lags at flush's first look and catches up before its
 * deadline: flush returns 0 and lagging names nobody. */
static void test_flush_lagging_is_exact(void **state)
{
    (void)state;
    static struct gate gate = GATE_INIT;
    gate_close(&gate);
    struct capture *c = new_capture();
    c->block = &gate;
    nblog_console_t *con = add(c, "slow", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN,
                               NBLOG_MODE_THREADED);
    nblog_info("x");
    wait_count(&c->in_write, 1, "the write");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, open_gate_later, &gate), 0);
    char lag[64];
    memset(lag, 'z', sizeof lag);
    assert_int_equal(nblog_flush(60000, lag, sizeof lag), 0);
    assert_string_equal(lag, "");
    pthread_join(t, NULL);
    assert_string_equal(captured(c), "x\n");
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
}

/* A console that has not printed everything when the program exits is
 * named on stderr (nothing is lost silently): a child whose console is
 * stuck returns from main. */
static void test_exit_names_lagging_console(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* stderr redirected before init: nblog's own lines go to the
         * stderr it found at init (see test-fds complain_not_into_reused) */
        nblog_shutdown();
        dup2(p[1], STDERR_FILENO);
        if (setup(NULL) != 0)
            _exit(3);
        static struct gate never = GATE_INIT;
        gate_close(&never);
        struct capture *c = new_capture();
        c->block = &never;
        add(c, "stuck-at-exit", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
        nblog_info("pending at exit");
        exit(0); /* atexit: the flush, then the report */
    }
    close(p[1]);
    char buf[512] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (!strstr(buf, "nblog: at exit, 1 console had not printed every record after 1 s: "
                     "stuck-at-exit\n"))
        fail_msg("stderr: \"%s\"", buf);
}

/* A batch is filled by what its lines need, not by the longest line of
 * any format: 600 short lines (about 30 KiB) stored while the console is
 * suspended go out in one write (a reservation of NBLOG_LINE_MAX per line,
 * the JSON worst case, cut batches at 22 KiB: two writes). */
static void test_batch_fills_with_short_lines(void **state)
{
    (void)state;
    nblog_shutdown();
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = 1024;
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    assert_int_equal(nblog_init(&opt), NBLOG_OK);
    struct capture *c = new_capture();
    nblog_console_t *con = add(c, "batch", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN,
                               NBLOG_MODE_THREADED);
    assert_int_equal(nblog_console_suspend(con), NBLOG_OK);
    for (int i = 0; i < 600; i++)
        assert_int_equal(nblog_info("a short line of fifty bytes or so, number %4d", i),
                         NBLOG_OK);
    int before = atomic_load(&c->writes);
    assert_int_equal(nblog_console_resume(con), NBLOG_OK);
    assert_flushed();
    assert_int_equal(atomic_load(&c->writes) - before, 1);
    nblog_console_unregister(con);
}

/* After nblog_shutdown, registering is refused (no silent re-init with
 * the defaults); the program's own nblog_init then applies its options. */
static void test_register_after_shutdown(void **state)
{
    (void)state;
    nblog_shutdown();
    struct capture *c = new_capture();
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_register(&cap_ops, c, NULL, &con), NBLOG_ENOTREADY);
    assert_int_equal(nblog_console_stderr(NULL, &con), NBLOG_ENOTREADY);
    assert_int_equal(tu_init_debug(64), NBLOG_OK);
    nblog_stats_t gs;
    nblog_stats_get(&gs);
    assert_int_equal(gs.ring_records, 64);
    con = add(c, "after", NBLOG_LEVEL_DEBUG, NBLOG_FORMAT_PLAIN, NBLOG_MODE_THREADED);
    nblog_info("back");
    assert_flushed();
    assert_string_equal(captured(c), "back\n");
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prints_in_order_with_filter, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_formats_escape_control_bytes, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_direct_mode, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_emergency_pushed_in_order, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_register_rejects_bad_options, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_names_are_text, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_suspend_resume_reports_drops, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_flush_deadline_and_unregister_stuck, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_write_faults_counted, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_stall_report, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_fork_child_logs, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_fork_child_registers_first, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_rotation_and_reopen, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_sighup_reopens, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_callback_console, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_drop_notices_one_per_gap, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_stale_handle, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_unregister_stops_output, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_suspend_stops_output, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_flush_lagging_is_exact, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_register_after_shutdown, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_exit_names_lagging_console, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_batch_fills_with_short_lines, setup, tu_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

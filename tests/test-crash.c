/*
 * test-crash.c - the panic path seen from outside: crash-child (a separate
 * program, started with posix_spawn) logs 10,000 records and dies; this
 * test checks how it died and what its "fast" console's file holds.
 *
 * Every output line is kmsg "prefix,seq,usec,-[,replayed];text". The
 * checks: the child died by the expected signal within a bound (else it is
 * killed and the test fails: a hang); "record 0" .. "record 9999" are all
 * there, in seq order; a seq printed more than once has a copy marked
 * replayed (the only duplicates allowed); the crash record and a backtrace
 * follow.
 *
 * Under ASan the children run with ASan's own SEGV/BUS/ABRT/FPE/ILL
 * handling off, so nblog's handlers are the ones tested.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nblog.h"
#include "testutil.h"

#define RECORDS 10000
#define MAX_LINES 40000
#define CHILD_BOUND_S 60

extern char **environ;

static char child_path[4096];

struct line {
    unsigned long long seq;
    int replayed;
    const char *text;
};

struct output {
    char *buf;
    struct line lines[MAX_LINES];
    int n;
};

/* ------------------------------------------------------------ running */

/* Runs crash-child MODE OUT; returns its wait status (fails the test if
 * it has not ended within the bound). */
static int run_child(const char *mode, const char *out)
{
    char *argv[] = {child_path, (char *)mode, (char *)out, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, child_path, NULL, NULL, argv, crash_child_env());
    assert_int_equal(rc, 0);
    for (int waited_ms = 0;; waited_ms += 10) {
        int status;
        pid_t got = waitpid(pid, &status, WNOHANG);
        assert_true(got >= 0);
        if (got == pid)
            return status;
        if (waited_ms > CHILD_BOUND_S * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("crash-child %s hung: killed after %d s", mode, CHILD_BOUND_S);
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
}

static void tmp_out(char *path, size_t cap, const char *mode)
{
    snprintf(path, cap, "/tmp/nblog-crash-%d-%s.out", (int)getpid(), mode);
}

/* ------------------------------------------------------------ parsing */

static struct output *read_output(const char *path)
{
    struct output *o = calloc(1, sizeof *o);
    assert_non_null(o);
    o->buf = tu_slurp(path, NULL);
    assert_non_null(o->buf);
    for (char *p = o->buf; *p && o->n < MAX_LINES;) {
        char *nl = strchr(p, '\n');
        if (!nl)
            break; /* a partial last line is not a line */
        *nl = '\0';
        struct line *l = &o->lines[o->n];
        if (tu_parse_kmsg(p, &l->seq, &l->replayed, &l->text))
            o->n++;
        p = nl + 1;
    }
    return o;
}

static void free_output(struct output *o)
{
    free(o->buf);
    free(o);
}

static int find_text(const struct output *o, const char *needle)
{
    int count = 0;
    for (int i = 0; i < o->n; i++)
        count += strstr(o->lines[i].text, needle) != NULL;
    return count;
}

/* Lines containing needle not marked replayed: a record's own copies (a
 * replay of a record in flight when the panic took its console is the one
 * duplicate allowed, and it is marked). */
static int find_unmarked(const struct output *o, const char *needle)
{
    int count = 0;
    for (int i = 0; i < o->n; i++)
        count += !o->lines[i].replayed && strstr(o->lines[i].text, needle) != NULL;
    return count;
}

static int seq_replayed(const struct output *o, unsigned long long seq)
{
    for (int i = 0; i < o->n; i++)
        if (o->lines[i].seq == seq && o->lines[i].replayed)
            return 1;
    return 0;
}

/* Every record 0..RECORDS-1 is there in order; the only lines that repeat
 * a seq are replays, marked. */
static void check_records(const struct output *o)
{
    static unsigned char seen[MAX_LINES];
    memset(seen, 0, sizeof seen);
    long next = 0;
    unsigned long long last_seq = 0;
    int have_last = 0;
    for (int i = 0; i < o->n; i++) {
        const struct line *l = &o->lines[i];
        int rec;
        int replay_of_seen = l->seq < MAX_LINES && seen[l->seq];
        if (l->seq < MAX_LINES) {
            if (seen[l->seq] && !seq_replayed(o, l->seq))
                fail_msg("seq %llu printed twice, no copy marked replayed", l->seq);
            seen[l->seq] = 1;
        }
        if (replay_of_seen)
            continue; /* the marked copy of a line already counted */
        if (have_last && l->seq <= last_seq && !seq_replayed(o, l->seq))
            fail_msg("seq %llu after %llu: out of order", l->seq, last_seq);
        last_seq = l->seq;
        have_last = 1;
        if (sscanf(l->text, "record %d", &rec) == 1) {
            if (rec != next)
                fail_msg("expected record %ld, found record %d (seq %llu)", next, rec, l->seq);
            next++;
        }
    }
    if (next != RECORDS)
        fail_msg("only %ld of %d records reached the fast console", next, RECORDS);
}

/* The crash record; and the backtrace, unless the flush was cut short
 * before it (the flushcrash and flushhang modes). */
static void check_crash_report(const struct output *o, const char *mode, const char *what)
{
    if (!find_text(o, what))
        fail_msg("no crash record containing \"%s\"", what);
    assert_true(find_text(o, "not flushed: slow") >= 1);
    if (strncmp(mode, "flush", 5) != 0)
        assert_true(find_text(o, "backtrace #0 ") >= 1);
}

/* The common case: died by sig, all records, the crash record. */
static struct output *crash_and_check(const char *mode, int sig, const char *what)
{
    char out[256];
    tmp_out(out, sizeof out, mode);
    int status = run_child(mode, out);
    if (!WIFSIGNALED(status))
        fail_msg("crash-child %s: exited with status %d, not by a signal",
                 mode, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    assert_int_equal(WTERMSIG(status), sig);
    struct output *o = read_output(out);
    check_records(o);
    check_crash_report(o, mode, what);
    unlink(out);
    return o;
}

/* ------------------------------------------------------------- tests */

static void test_segv(void **state)
{
    (void)state;
    struct output *o = crash_and_check("segv", SIGSEGV, "fatal signal 11 (SIGSEGV, SEGV_MAPERR) at address");
    /* Frame #0 is the faulting instruction, in crash-child's die(): its
     * module+offset resolves there (addr2line comes with binutils). */
    unsigned long off = 0;
    for (int i = 0; i < o->n && !off; i++) {
        const char *m = strstr(o->lines[i].text, "backtrace #0 ");
        const char *plus = m ? strstr(m, "crash-child+0x") : NULL;
        if (plus)
            off = strtoul(plus + strlen("crash-child+"), NULL, 16);
    }
    assert_true(off != 0);
    char cmd[4400], fn[256] = {0};
    snprintf(cmd, sizeof cmd, "addr2line -f -e '%s' 0x%lx", child_path, off);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(fn, sizeof fn, p));
    pclose(p);
    assert_string_equal(fn, "die\n");
    free_output(o);
}

static void test_abort(void **state)
{
    (void)state;
    free_output(crash_and_check("abort", SIGABRT, "fatal signal 6 (SIGABRT"));
}

static void test_bus(void **state)
{
    (void)state;
    free_output(crash_and_check("bus", SIGBUS, "fatal signal 7 (SIGBUS, BUS_ADRERR)"));
}

static void test_stack_overflow(void **state)
{
    (void)state;
    free_output(crash_and_check("stack", SIGSEGV, "fatal signal 11 (SIGSEGV"));
}

static void test_fpe(void **state)
{
    (void)state;
    free_output(crash_and_check("fpe", SIGFPE, "fatal signal 8 (SIGFPE, SI_TKILL)"));
}

/* The fast console's printer is blocked inside its write, owning the
 * console, when the program crashes: the panic takes it over and prints
 * everything; the batch in flight is printed again, marked. */
static void test_owned_console_taken_over(void **state)
{
    (void)state;
    struct output *o = crash_and_check("owned", SIGSEGV, "fatal signal 11 (SIGSEGV");
    int replayed = 0;
    for (int i = 0; i < o->n; i++)
        replayed += o->lines[i].replayed;
    assert_true(replayed >= 1); /* the in-flight batch, marked */
    free_output(o);
}

static void test_crash_inside_logging_call(void **state)
{
    (void)state;
    free_output(crash_and_check("logcrash", SIGSEGV, "fatal signal 11 (SIGSEGV"));
}

static void test_crash_inside_console_write(void **state)
{
    (void)state;
    struct output *o = crash_and_check("writecrash", SIGSEGV, "fatal signal 11 (SIGSEGV");
    assert_int_equal(find_unmarked(o, "boom"), 1);
    free_output(o);
}

static void test_two_threads_fault(void **state)
{
    (void)state;
    struct output *o = crash_and_check("two", SIGSEGV, "fatal signal 11 (SIGSEGV");
    /* One flush: one backtrace. */
    assert_int_equal(find_unmarked(o, "backtrace #0 "), 1);
    free_output(o);
}

static void test_chains_to_program_handler(void **state)
{
    (void)state;
    char out[256], user[300];
    tmp_out(out, sizeof out, "chain");
    free_output(crash_and_check("chain", SIGSEGV, "fatal signal 11 (SIGSEGV"));
    snprintf(user, sizeof user, "%s.user", out);
    FILE *f = fopen(user, "r");
    assert_non_null(f);
    char buf[64] = {0};
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "user handler ran\n");
    unlink(user);
}

/* A console that faults inside the panic flush (a second fault): the
 * process dies at once by the signal; what was flushed before stays. */
static void test_second_fault_inside_flush(void **state)
{
    (void)state;
    free_output(crash_and_check("flushcrash", SIGSEGV, "fatal signal 11 (SIGSEGV"));
}

/* A console whose write_atomic blocks inside the panic flush: the
 * watchdog ends the process with the original signal, no hang. */
static void test_flush_blocked_watchdog(void **state)
{
    (void)state;
    free_output(crash_and_check("flushhang", SIGSEGV, "fatal signal 11 (SIGSEGV"));
}

/* The program's SIGTERM handler returns: nblog flushed, handed the
 * consoles back and disarmed its watchdog, so the program logs on, a
 * later panic flush works, and it exits normally. */
static void test_chained_handler_returns(void **state)
{
    (void)state;
    char out[256];
    tmp_out(out, sizeof out, "survive");
    int status = run_child("survive", out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("crash-child survive: %s %d", WIFEXITED(status) ? "exit" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    struct output *o = read_output(out);
    check_records(o);
    assert_int_equal(find_unmarked(o, "fatal signal 15 (SIGTERM, SI_TKILL)"), 1);
    assert_int_equal(find_unmarked(o, "still alive after SIGTERM"), 1);
    assert_int_equal(find_unmarked(o, "panic: second panic after survival"), 1);
    free_output(o);
    unlink(out);
}

static void test_explicit_panic(void **state)
{
    (void)state;
    free_output(crash_and_check("panic", SIGABRT, "panic: out of cheese; not flushed: slow"));
}

int main(int argc, char **argv)
{
    (void)argc;
    /* crash-child sits beside this test in the build tree. */
    snprintf(child_path, sizeof child_path, "%s", argv[0]);
    char *slash = strrchr(child_path, '/');
    snprintf(slash ? slash + 1 : child_path,
             sizeof child_path - (size_t)(slash ? slash + 1 - child_path : 0),
             "crash-child");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segv),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_bus),
        cmocka_unit_test(test_stack_overflow),
        cmocka_unit_test(test_fpe),
        cmocka_unit_test(test_owned_console_taken_over),
        cmocka_unit_test(test_crash_inside_logging_call),
        cmocka_unit_test(test_crash_inside_console_write),
        cmocka_unit_test(test_two_threads_fault),
        cmocka_unit_test(test_chains_to_program_handler),
        cmocka_unit_test(test_second_fault_inside_flush),
        cmocka_unit_test(test_flush_blocked_watchdog),
        cmocka_unit_test(test_chained_handler_returns),
        cmocka_unit_test(test_explicit_panic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test-panic.c - the panic path in one process: nblog_panic_flush taking a
 * console from a printer blocked in its write and handing it back, a record
 * whose writer never finished it, the crash-handler options, alternate
 * signal stacks. (Dying is test-crash's business.)
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nblog.h"
#include "ring.h"
#include "testutil.h"
#include "capture.h"

/* ------------------------------------------------------------ capture */

/* Every line the console gets (capture.h); a write that does not fit
 * fails the test. */
TU_CAPTURE(cap, 1 << 20);

static ssize_t capture(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    return tu_capture_append(&cap, buf, len);
}

/* How many captured lines contain needle; *replayed: how many of those
 * are marked replayed. */
static int count_lines(const char *needle, int *replayed)
{
    return tu_capture_count(&cap, needle, replayed);
}

/* A console whose blocking write, while `blocking` is set, stops on a
 * mutex the test holds and then fails without writing anything. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int blocking, in_write;

static ssize_t gated_write(void *ctx, const char *buf, size_t len)
{
    if (!atomic_load(&blocking))
        return capture(ctx, buf, len);
    atomic_store(&in_write, 1);
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    return -EIO;
}

static nblog_console_t *add_console(ssize_t (*w)(void *, const char *, size_t))
{
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "gated";
    o.format = NBLOG_FORMAT_KMSG;
    nblog_console_ops_t ops = {.write = w, .write_atomic = capture};
    nblog_console_t *c;
    assert_int_equal(nblog_console_register(&ops, NULL, &o, &c), NBLOG_OK);
    return c;
}

static void wait_until(_Atomic int *flag)
{
    while (!atomic_load(flag))
        usleep(1000);
}

/* Empty capture, nblog_init(o). */
static int setup_with(const nblog_options_t *o)
{
    tu_capture_reset(&cap);
    cap.must_fit = 1;
    atomic_store(&blocking, 0);
    atomic_store(&in_write, 0);
    return nblog_init(o) == NBLOG_OK ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(NULL);
}

/* An output that claims more than it was given (a bug in it). */
static ssize_t overclaim(void *ctx, const char *buf, size_t len)
{
    ssize_t w = capture(ctx, buf, len);
    return w > 0 ? w + 4096 : w;
}

/* ------------------------------------------------------------- tests */

/* An output whose write and write_atomic return more than they were
 * given: each batch counts as written once, the books balance, every line
 * is there once, and the panic flush ends (before, the panic's write loop
 * took the count off its length, wrapped, and went on writing from past
 * its buffer; the printer read the byte after what it had given). */
static void test_output_claiming_more_than_given(void **state)
{
    (void)state;
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "overclaim";
    o.format = NBLOG_FORMAT_KMSG;
    nblog_console_ops_t ops = {.write = overclaim, .write_atomic = overclaim};
    nblog_console_t *c;
    assert_int_equal(nblog_console_register(&ops, NULL, &o, &c), NBLOG_OK);
    for (int i = 0; i < 20; i++)
        nblog_info("claimed %d", i);
    tu_assert_flushed_within(60000);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(c, &st), NBLOG_OK);
    assert_int_equal(st.printed, 20);
    assert_int_equal(st.write_failed, 0);
    assert_int_equal(count_lines("claimed ", NULL), 20);
    assert_int_equal(nblog_panic_flush("over %d", 1), 0);
    assert_int_equal(count_lines("panic: over 1", NULL), 1);
    assert_int_equal(count_lines("claimed ", NULL), 20);
}

/* The printer is stuck inside write with a batch: the panic takes the
 * console, prints every record once more marked replayed, and after it
 * returns the printer gets the console back and prints later records
 * exactly once. */
static void test_panic_flush_takes_over_and_hands_back(void **state)
{
    (void)state;
    pthread_mutex_lock(&gate);
    atomic_store(&blocking, 1);
    nblog_console_t *c = add_console(gated_write);
    char text[32];
    for (int i = 0; i < 100; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "record %d.", i);
    wait_until(&in_write);

    assert_int_equal(nblog_panic_flush("test %d", 1), 0);
    assert_int_equal(count_lines("panic: test 1", NULL), 1);
    assert_true(count_lines("backtrace #0 ", NULL) >= 1);
    for (int i = 0; i < 100; i++) {
        int replayed;
        snprintf(text, sizeof text, "record %d.", i);
        assert_int_equal(count_lines(text, &replayed), 1);
        (void)replayed;
    }
    assert_true(count_lines("record 0.", NULL) == 1);
    int replayed;
    count_lines("record 0.", &replayed);
    assert_int_equal(replayed, 1); /* it was in the printer's batch */

    /* The printer's write fails and returns: it finds its console taken,
     * drops its stale batch and hands the console back. */
    atomic_store(&blocking, 0);
    pthread_mutex_unlock(&gate);
    for (int i = 0; i < 50; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "after %d.", i);
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    for (int i = 0; i < 50; i++) {
        snprintf(text, sizeof text, "after %d.", i);
        assert_int_equal(count_lines(text, &replayed), 1);
        assert_int_equal(replayed, 0);
    }
    for (int i = 0; i < 100; i++) { /* nothing printed a third time */
        snprintf(text, sizeof text, "record %d.", i);
        assert_int_equal(count_lines(text, NULL), 1);
    }
    tu_assert_books(c);
}

/* A writer stopped between reserving and committing: the panic waits a
 * little, then skips its record with a notice and prints the rest. */
static _Atomic int hold_writer, writer_parked;
static _Atomic uint64_t held_seq = UINT64_MAX;
static __thread int is_stuck_writer;

static void park_in_reservation(uint64_t seq)
{
    if (!is_stuck_writer)
        return;
    atomic_store(&held_seq, seq);
    atomic_store(&writer_parked, 1);
    while (atomic_load(&hold_writer))
        usleep(1000);
}

static void *stuck_writer(void *arg)
{
    (void)arg;
    is_stuck_writer = 1;
    nblog_printf(NBLOG_LEVEL_INFO, "stuck writer record");
    return NULL;
}

static void test_unfinished_record_skipped(void **state)
{
    (void)state;
    nblog_console_t *c = add_console(capture);
    for (int i = 0; i < 10; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "before %d.", i);
    atomic_store(&hold_writer, 1);
    atomic_store(&nblog__test_hook_reserved, park_in_reservation);
    pthread_t t;
    pthread_create(&t, NULL, stuck_writer, NULL);
    wait_until(&writer_parked);
    for (int i = 0; i < 10; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "later %d.", i);

    assert_int_equal(nblog_panic_flush("writer stuck"), 0);
    char note[96];
    snprintf(note, sizeof note, "** record %llu was never finished, skipped **",
             (unsigned long long)atomic_load(&held_seq));
    assert_int_equal(count_lines(note, NULL), 1);
    assert_int_equal(count_lines("later 9.", NULL), 1);
    assert_int_equal(count_lines("stuck writer record", NULL), 0);

    atomic_store(&hold_writer, 0);
    pthread_join(t, NULL);
    atomic_store(&nblog__test_hook_reserved, NULL);
    nblog_printf(NBLOG_LEVEL_INFO, "last");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    assert_int_equal(count_lines("last", NULL), 1);
    assert_int_equal(count_lines("stuck writer record", NULL), 0); /* passed by */
    nblog_console_stats_t st;
    nblog_console_stats(c, &st);
    assert_int_equal(st.dropped, 1);
    tu_assert_books(c);
}

/* Two writers parked at seqs p and p+1 pin their slots in a ring of 16;
 * later records lap it, and each lap loses the two records that find
 * those slots pinned. The panic, reading past them, finds two records
 * gone one after the other: one notice for both (a notice per failed
 * read gave two in a row), and every notice is followed by a record. */
static int setup_small_ring(void **state)
{
    (void)state;
    nblog_options_t o;
    nblog_options_init(&o);
    o.ring_records = 16;
    return setup_with(&o);
}

static void test_panic_one_notice_per_gap(void **state)
{
    (void)state;
    pthread_mutex_lock(&gate);
    atomic_store(&blocking, 1);
    nblog_console_t *c = add_console(gated_write);
    nblog_printf(NBLOG_LEVEL_INFO, "first.");
    wait_until(&in_write);
    atomic_store(&hold_writer, 1);
    atomic_store(&nblog__test_hook_reserved, park_in_reservation);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        atomic_store(&writer_parked, 0);
        pthread_create(&t[i], NULL, stuck_writer, NULL);
        wait_until(&writer_parked);
    }
    for (int i = 2; i < 20; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "record %d.", i);

    assert_int_equal(nblog_panic_flush("two lost in a row"), 0);
    size_t len = tu_capture_len(&cap);
    char line[1024];
    int notices = 0, last_was_notice = 0;
    for (size_t at = 0; tu_next_line(cap.buf, len, &at, line, sizeof line);) {
        int notice = strstr(line, " messages dropped **") != NULL;
        if (notice && last_was_notice)
            print_error("notice after notice: %s\n", line);
        assert_false(notice && last_was_notice);
        notices += notice;
        last_was_notice = notice;
    }
    assert_true(notices >= 2);
    assert_int_equal(count_lines("** 2 messages dropped **", NULL), 1);
    assert_int_equal(count_lines("** 1 messages dropped **", NULL), 0);
    assert_int_equal(count_lines("record 19.", NULL), 1);

    atomic_store(&hold_writer, 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    atomic_store(&nblog__test_hook_reserved, NULL);
    atomic_store(&blocking, 0);
    pthread_mutex_unlock(&gate);
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    tu_assert_books(c);
}

/* ----------------------------------------------------- handler options */

static void program_handler(int sig)
{
    (void)sig;
}

static void *handler_of(int sig)
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
}

static void test_crash_handler_options(void **state)
{
    (void)state;
    nblog_shutdown(); /* back to the program's own actions */
    signal(SIGSEGV, program_handler);
    void *term_before = handler_of(SIGTERM);

    nblog_options_t o;
    nblog_options_init(&o);
    o.crash_handlers = NBLOG_CRASH_NONE;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    assert_ptr_equal(handler_of(SIGSEGV), (void *)program_handler);
    assert_ptr_equal(handler_of(SIGABRT), (void *)SIG_DFL);
    nblog_shutdown();

    nblog_options_init(&o);
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    assert_ptr_not_equal(handler_of(SIGSEGV), (void *)program_handler);
    assert_ptr_not_equal(handler_of(SIGBUS), (void *)SIG_DFL);
    assert_ptr_equal(handler_of(SIGTERM), term_before); /* opt-in only */
    nblog_shutdown();
    assert_ptr_equal(handler_of(SIGSEGV), (void *)program_handler); /* restored */

    o.crash_handlers = NBLOG_CRASH_TERM;
    signal(SIGINT, SIG_IGN); /* as under nohup: must stay ignored */
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    assert_ptr_not_equal(handler_of(SIGTERM), term_before);
    assert_ptr_equal(handler_of(SIGINT), (void *)SIG_IGN);
    nblog_shutdown();
    assert_ptr_equal(handler_of(SIGTERM), term_before);
    signal(SIGINT, SIG_DFL);

    o.crash_handlers = 0x80;
    assert_int_equal(nblog_init(&o), NBLOG_EINVAL);
    signal(SIGSEGV, SIG_DFL);
    assert_int_equal(nblog_init(NULL), NBLOG_OK); /* for teardown */
}

/* The watchdog that bounds a flush must leave nothing behind when the flush
 * returns (issue 11, item 12): a program with its own SIGALRM handler and a
 * pending alarm takes a SIGTERM that nblog handles (NBLOG_CRASH_TERM) and
 * chains to the program's handler, which returns. Afterwards SIGALRM is
 * still the program's, its alarm still pending, the signal mask as it was,
 * and the program's next alarm reaches its own handler. */
static volatile sig_atomic_t term_seen, alarm_seen;

static void note_term(int sig)
{
    (void)sig;
    term_seen = 1;
}

static void note_alarm(int sig)
{
    (void)sig;
    alarm_seen = 1;
}

static void test_watchdog_leaves_program_alarm(void **state)
{
    (void)state;
    nblog_shutdown();
    signal(SIGTERM, note_term);
    signal(SIGALRM, note_alarm);
    sigset_t mask_before, mask_after;
    sigprocmask(SIG_BLOCK, NULL, &mask_before);
    nblog_options_t o;
    nblog_options_init(&o);
    o.crash_handlers = NBLOG_CRASH_TERM;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    add_console(capture);
    nblog_printf(NBLOG_LEVEL_INFO, "before the signal");
    assert_int_equal(alarm(1000), 0); /* the program's own alarm, pending */

    raise(SIGTERM); /* flushed by nblog, then the program's handler returns */
    assert_int_equal(term_seen, 1);
    assert_int_equal(count_lines("fatal signal 15 (SIGTERM", NULL), 1);
    assert_int_equal(count_lines("before the signal", NULL), 1);

    assert_ptr_equal(handler_of(SIGALRM), (void *)note_alarm);
    unsigned left = alarm(0);
    assert_true(left > 0 && left <= 1000); /* still pending, not cancelled */
    sigprocmask(SIG_BLOCK, NULL, &mask_after);
    for (int sig = 1; sig < 32; sig++)
        assert_int_equal(sigismember(&mask_after, sig), sigismember(&mask_before, sig));
    /* The program's next alarm goes to its own handler (with nblog's
     * watchdog left in place it would kill the process). */
    struct itimerval soon = {.it_value = {0, 1000}};
    setitimer(ITIMER_REAL, &soon, NULL);
    while (!alarm_seen)
        usleep(1000);

    nblog_shutdown();
    signal(SIGTERM, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    assert_int_equal(nblog_init(NULL), NBLOG_OK); /* for teardown */
}

struct stacks_seen {
    stack_t before, after;
};

static void *first_log_then_report(void *arg)
{
    struct stacks_seen *seen = arg;
    sigaltstack(NULL, &seen->before);
    nblog_printf(NBLOG_LEVEL_INFO, "hello from a thread");
    sigaltstack(NULL, &seen->after);
    return NULL;
}

/* A thread's first logging call gives it an alternate signal stack of at
 * least 64 KiB, so its stack overflow can still be reported; a thread that
 * has one (ASan gives every thread its own) keeps it. */
static void test_thread_gets_alternate_stack(void **state)
{
    (void)state;
    struct stacks_seen seen;
    pthread_t t;
    pthread_create(&t, NULL, first_log_then_report, &seen);
    pthread_join(t, NULL);
    assert_false(seen.after.ss_flags & SS_DISABLE);
    if (seen.before.ss_flags & SS_DISABLE)
        assert_true(seen.after.ss_size >= 64 * 1024);
    else
        assert_ptr_equal(seen.after.ss_sp, seen.before.ss_sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_panic_flush_takes_over_and_hands_back,
                                        setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_unfinished_record_skipped, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_output_claiming_more_than_given, setup,
                                        tu_shutdown),
        cmocka_unit_test_setup_teardown(test_panic_one_notice_per_gap, setup_small_ring,
                                        tu_shutdown),
        cmocka_unit_test_setup_teardown(test_crash_handler_options, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_thread_gets_alternate_stack, setup, tu_shutdown),
        cmocka_unit_test_setup_teardown(test_watchdog_leaves_program_alarm, setup, tu_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test-panic-stress.c - panic flushes racing with printers, direct callers
 * and writers (also run under ThreadSanitizer).
 *
 * Four writers log; a threaded console (whose write sometimes dawdles, so
 * panics catch it mid-batch) and a direct-mode console print; the main
 * thread calls nblog_panic_flush again and again. Every line is parsed
 * back. What must hold:
 *   - no record is printed unmarked twice on a console (a second copy is
 *     always the panic's replay, marked);
 *   - each console's books balance: printed + filtered + dropped + write
 *     errors == records stored since it was registered;
 *   - every record stored is printed or counted dropped, on each console;
 *   - after the last panic the printers have their consoles back: a final
 *     nblog_flush completes.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nblog.h"
#include "testutil.h"
#include "capture.h"

#define WRITERS 4
#define PER_WRITER SCALED(100000)
#define PANICS SCALED(400)
#define MAX_SEQ (WRITERS * 100000 + 100000) /* records + panic reports */

struct tally {
    const char *name;
    _Atomic uint8_t plain[MAX_SEQ], replayed[MAX_SEQ];
    _Atomic uint64_t bad_lines;
    _Atomic int dawdle;
};

static struct tally threaded = {.name = "threaded", .dawdle = 1};
static struct tally direct = {.name = "direct"};

/* Parses "prefix,seq,usec,-[,replayed];text" lines and counts each seq. */
static ssize_t count_lines(void *ctx, const char *buf, size_t len)
{
    struct tally *t = ctx;
    char line[128];
    for (size_t at = 0; tu_next_line(buf, len, &at, line, sizeof line);) {
        unsigned long long seq;
        int replayed;
        const char *text;
        if (!line[0])
            continue; /* a panic that took over mid-batch began a new line */
        if (!tu_parse_kmsg(line, &seq, &replayed, &text) || seq >= MAX_SEQ) {
            atomic_fetch_add(&t->bad_lines, 1);
        } else if (replayed) {
            atomic_fetch_add(&t->replayed[seq], 1);
        } else if (!strstr(text, "messages dropped") && !strstr(text, "never finished")) {
            atomic_fetch_add(&t->plain[seq], 1);
        }
    }
    return (ssize_t)len;
}

static ssize_t dawdling_write(void *ctx, const char *buf, size_t len)
{
    struct tally *t = ctx;
    if (atomic_load(&t->dawdle) && (rand() & 7) == 0)
        usleep(200); /* a panic may take the console meanwhile */
    return count_lines(ctx, buf, len);
}

static nblog_console_t *add(struct tally *t, int mode)
{
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = t->name;
    o.format = NBLOG_FORMAT_KMSG;
    o.mode = mode;
    o.start = NBLOG_FROM_OLDEST;
    nblog_console_ops_t ops = {.write = mode == NBLOG_MODE_THREADED ? dawdling_write
                                                                   : count_lines,
                               .write_atomic = count_lines};
    nblog_console_t *c;
    assert_int_equal(nblog_console_register(&ops, t, &o, &c), NBLOG_OK);
    return c;
}

static _Atomic int writers_done;

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_WRITER; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "writer %d record %d", id, i);
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void check(struct tally *t, nblog_console_t *c)
{
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(c, &st), NBLOG_OK);
    assert_int_equal(atomic_load(&t->bad_lines), 0);
    tu_assert_stats_books(&st);
    uint64_t printed_seqs = 0, replays = 0;
    for (uint64_t s = st.start_seq; s < st.next_seq; s++) {
        uint8_t p = atomic_load(&t->plain[s]), r = atomic_load(&t->replayed[s]);
        if (p > 1)
            fail_msg("%s: seq %llu printed unmarked %u times", t->name,
                     (unsigned long long)s, p);
        printed_seqs += p || r;
        replays += r;
    }
    /* No silent loss: every record not printed is counted dropped. (A
     * batch a panic took over in flight and then found overwritten is
     * counted dropped though its old owner may have printed it.) */
    uint64_t missing = st.next_seq - st.start_seq - printed_seqs;
    assert_true(missing <= st.dropped);
    print_message("%s: %llu printed, %llu dropped, %llu replayed lines\n", t->name,
                  (unsigned long long)printed_seqs, (unsigned long long)st.dropped,
                  (unsigned long long)replays);
}

/* Starts n threads running fn(i), calls nblog_panic_flush (tag, then the
 * count) until all n have counted themselves in *done and at least
 * min_panics flushes ran, napping up to nap_us between flushes, and joins
 * them. Returns the number of flushes. */
static int panic_while_writing(void *(*fn)(void *), int n, _Atomic int *done, int min_panics,
                               const char *tag, int nap_us)
{
    pthread_t w[8];
    assert_true(n <= 8);
    for (int i = 0; i < n; i++)
        pthread_create(&w[i], NULL, fn, (void *)(intptr_t)i);
    int panics = 0;
    while (atomic_load(done) < n || panics < min_panics) {
        assert_true(nblog_panic_flush("%s %d", tag, panics) >= 0);
        panics++;
        usleep((useconds_t)(rand() % nap_us));
    }
    for (int i = 0; i < n; i++)
        pthread_join(w[i], NULL);
    return panics;
}

static void test_panics_race_printers(void **state)
{
    (void)state;
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = 1u << 18;
    opt.record_size = 128;
    opt.crash_handlers = NBLOG_CRASH_NONE; /* leave TSan's handlers alone */
    assert_int_equal(nblog_init(&opt), NBLOG_OK);
    nblog_console_t *ct = add(&threaded, NBLOG_MODE_THREADED);
    nblog_console_t *cd = add(&direct, NBLOG_MODE_DIRECT);
    int panics = panic_while_writing(writer, WRITERS, &writers_done, PANICS, "stress", 500);
    atomic_store(&threaded.dawdle, 0);
    char lagging[128];
    assert_int_equal(nblog_flush(30000, lagging, sizeof lagging), 0);
    print_message("%d panic flushes\n", panics);
    check(&threaded, ct);
    check(&direct, cd);
    nblog_shutdown();
}

/* ------------------------------------- panics after partial writes */

/*
 * Issue 11, item 11: a direct console whose write_atomic writes short
 * counts and often answers EAGAIN (sometimes for a long stretch, longer
 * than the panic's bound), two writers, and a thread calling
 * nblog_panic_flush again and again. Every line the console receives must
 * be whole (a panic that takes over after a partial write, or whose own
 * write stopped mid-line, starts a new line first), and a record printed
 * twice has every copy after the first marked replayed.
 */
#define SHORT_WRITERS 2
#define SHORT_PER_WRITER SCALED(30000)
#define SHORT_PANICS SCALED(300)

TU_CAPTURE(short_cap, 64 << 20); /* capture.h; must_fit set by the test */
static _Atomic unsigned long short_calls;
static _Atomic int short_misbehave = 1;

static void short_append(const char *buf, size_t len)
{
    tu_capture_append(&short_cap, buf, len);
}

/* The whole buffer, as a blocking write would (the printer thread). */
static ssize_t short_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    short_append(buf, len);
    return (ssize_t)len;
}

/* Never blocks: a third of what it is given (at least a byte), EAGAIN on
 * one call in four, and EAGAIN throughout one stretch of 300 calls in
 * every 2000 (a panic waiting there runs past its deadline). */
static ssize_t short_write_atomic(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    if (!atomic_load(&short_misbehave)) {
        short_append(buf, len);
        return (ssize_t)len;
    }
    unsigned long n = atomic_fetch_add(&short_calls, 1);
    if (n % 4 == 3 || n % 2000 >= 1700)
        return -EAGAIN;
    size_t part = len / 3 ? len / 3 : 1;
    short_append(buf, part);
    return (ssize_t)part;
}

static _Atomic int short_writers_done;

static void *short_writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < SHORT_PER_WRITER; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "w%d n%d", id, i);
    atomic_fetch_add(&short_writers_done, 1);
    return NULL;
}

/* A line is whole if it is one of the lines nblog writes, complete. */
static int whole_text(const char *text)
{
    int a, b, used = -1;
    if (sscanf(text, "w%d n%d%n", &a, &b, &used) == 2 && text[used] == '\0')
        return a >= 0 && a < SHORT_WRITERS && b >= 0 && b < SHORT_PER_WRITER;
    used = -1;
    if (sscanf(text, "** %d messages dropped **%n", &a, &used) == 1 && text[used] == '\0')
        return 1;
    used = -1;
    if (sscanf(text, "** record %d was never finished, skipped **%n", &a, &used) == 1 &&
        text[used] == '\0')
        return 1;
    used = -1;
    if (sscanf(text, "panic: tick %d%n", &a, &used) == 1 && text[used] == '\0')
        return 1;
    return strncmp(text, "backtrace #", 11) == 0 && text[strlen(text) - 1] == ']';
}

/* Whether frag (the line of buf ending at offset end) is a proper
 * beginning of a whole line within 300,000 bytes before or after it, as
 * printed or with its replayed mark taken out. */
static int printed_in_full_near(const char *buf, size_t len, size_t end, const char *frag)
{
    size_t flen = strlen(frag);
    /* About five console batches either side (console_impl.h BATCH_BYTES,
     * 256 KiB since a batch holds a 16 KiB record's longest line). */
    const size_t near = 5 * 262144;
    size_t from = end > near ? end - near : 0, to = end + near < len ? end + near : len;
    while (from > 0 && from < len && buf[from - 1] != '\n')
        from++;
    char line[512], plain[512];
    for (size_t at = from; at < to && tu_next_line(buf, len, &at, line, sizeof line);) {
        unsigned long long seq;
        int replayed;
        const char *text;
        if (!tu_parse_kmsg(line, &seq, &replayed, &text) || !whole_text(text))
            continue;
        const char *mark = strstr(line, "," NBLOG_REPLAYED_MARK ";");
        if (mark)
            snprintf(plain, sizeof plain, "%.*s%s", (int)(mark - line), line,
                     mark + strlen("," NBLOG_REPLAYED_MARK));
        else
            snprintf(plain, sizeof plain, "%s", line);
        if ((strlen(plain) > flen && strncmp(plain, frag, flen) == 0) ||
            (strlen(line) > flen && strncmp(line, frag, flen) == 0))
            return 1;
    }
    return 0;
}

static void test_panic_after_partial_writes(void **state)
{
    (void)state;
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = 1u << 16;
    opt.record_size = 128;
    opt.panic_timeout_ms = 20; /* the EAGAIN stretches outlast it */
    opt.crash_handlers = NBLOG_CRASH_NONE;
    assert_int_equal(nblog_init(&opt), NBLOG_OK);
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "short";
    o.format = NBLOG_FORMAT_KMSG;
    o.mode = NBLOG_MODE_DIRECT;
    short_cap.must_fit = 1;
    nblog_console_ops_t ops = {.write = short_write, .write_atomic = short_write_atomic};
    nblog_console_t *c;
    assert_int_equal(nblog_console_register(&ops, NULL, &o, &c), NBLOG_OK);
    int panics = panic_while_writing(short_writer, SHORT_WRITERS, &short_writers_done,
                                     SHORT_PANICS, "tick", 2000);
    atomic_store(&short_misbehave, 0);
    assert_int_equal(nblog_flush(30000, NULL, 0), 0);

    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(c, &st), NBLOG_OK);
    tu_assert_stats_books(&st);
    static uint8_t copies[MAX_SEQ];
    memset(copies, 0, sizeof copies);
    size_t len = tu_capture_len(&short_cap), at = 0;
    char line[512];
    uint64_t lines = 0, empty = 0, cut = 0, replays = 0;
    while (tu_next_line(short_cap.buf, len, &at, line, sizeof line)) {
        unsigned long long seq = 0;
        int replayed = 0;
        const char *text = "";
        lines++;
        if (!line[0]) {
            empty++; /* a new line begun where a write may have stopped */
            continue;
        }
        if (!tu_parse_kmsg(line, &seq, &replayed, &text) || !whole_text(text)) {
            /* Cut short by a takeover: then it is only the beginning of a
             * record's line, and that record is printed in full nearby. */
            if (!printed_in_full_near(short_cap.buf, len, at, line))
                fail_msg("line %llu is not whole: \"%s\"", (unsigned long long)lines, line);
            cut++;
            continue;
        }
        assert_true(seq < MAX_SEQ);
        if (strncmp(text, "** ", 3) == 0)
            continue; /* notices carry the seq of the record they are about */
        if (copies[seq] && !replayed)
            fail_msg("seq %llu printed again unmarked: \"%s\"", seq, line);
        copies[seq]++;
        replays += replayed;
    }
    assert_true(len > 0 && short_cap.buf[len - 1] == '\n');
    print_message("%d panics, %llu lines, %llu empty, %llu cut short, %llu replayed\n",
                  panics, (unsigned long long)lines, (unsigned long long)empty,
                  (unsigned long long)cut, (unsigned long long)replays);
    nblog_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_panics_race_printers),
        cmocka_unit_test(test_panic_after_partial_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

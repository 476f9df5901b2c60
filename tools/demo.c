/*
 * demo.c - `nblog demo`: the seed scenario, live, and explained on screen.
 *
 * The story (the 2017 printk thread this project starts from): under memory
 * pressure, threads log OOM-killer reports; a slow "fbcon" console needs a
 * mutex (the seed's bo_mutex) that a stalled "allocator" thread holds while
 * it logs its own stall warnings. With one global console lock, as the
 * kernel had then, the fast "serial" console stops too and the warnings
 * never come out. With per-console ownership (nblog), serial keeps printing
 * every record while fbcon is stuck; the stall watch reports fbcon stuck; a
 * panic flush gets everything out through every console that can print
 * atomically (serial; fbcon has no write_atomic); then the allocator lets
 * go, fbcon catches up from where it was and reports what it missed.
 *
 * The words (the same on screen, in the summary and in the README):
 *   stored      records the ring took since the console was registered
 *   printed     records the console wrote
 *   dropped     records overwritten before the console got to them; the
 *               library counts them when the console reaches the gap, so a
 *               stuck console's dropped stays 0 while it is stuck
 *   lag         records stored but not yet printed, filtered or dropped
 *   overwritten the part of fbcon's lag the ring no longer holds (the ring
 *               keeps the last ring_records): future dropped
 * Per console, stored = printed + filtered + dropped + failed + lag, and
 * fbcon's lag = in its write (records it holds, waiting for bo_mutex) + in
 * the ring + overwritten. That is why a stuck console's lag can exceed the
 * ring: lag counts from its position, and the ring only keeps the newest.
 *
 * Screen, on a terminal of at least 80x20: a fixed layout (cursor
 * positioning, scroll regions, line wrap off so a long line is clipped):
 *   rows 1-4   what the two consoles are
 *   pane       serial's output, scrolling (the middle of the screen)
 *   pane       fbcon's own output, 3 rows (a placeholder while it has none)
 *   3 rows     status: per console printed, dropped, lag; fbcon's lag split
 *   last row   "now:" what is happening, and why
 * Between phases the demo pauses so the screen can be read; at the end it
 * leaves the layout and prints the summary below it. Not on a terminal (or
 * a smaller one): plain lines, no control sequences, each console's output
 * tagged ("serial| ", "fbcon | "), the status once a second ("[status] "),
 * the "now:" lines when the phase changes, then the same summary.
 *
 * Locks: bo_mutex (the allocator holds it; fbcon's write takes it first)
 * nests outside screen (serial's and fbcon's writes and the main thread's
 * drawing); nothing takes bo_mutex under screen. Atomics: the stop and
 * release flags, phase, atomic_layout and fbcon_in_write are relaxed: each
 * is a value to show or a flag polled in a loop, and publishes nothing else.
 *
 * Runs --seconds N (default 12), plus a few seconds of pauses on a
 * terminal. --ring FILE puts the ring in a file so `nblog status FILE` and
 * `nblog dmesg --follow FILE` can watch from another terminal.
 */
#define _DEFAULT_SOURCE /* usleep */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nblog.h"
#include "tool.h"

/* The one place that picks the consoles' line format. */
#define DEMO_FORMAT NBLOG_FORMAT_HUMAN

#define DEMO_RING_RECORDS 1024 /* small, so stuck fbcon's lag passes it */
#define TICK_US 250000
#define WORKERS 2
#define READ_PAUSE_US 2500000 /* on a terminal: time to read a phase */
#define FBCON_ROWS 3
#define SERIAL_TAG "serial| "
#define FBCON_TAG "fbcon | "
#define TAG_LEN 8

enum { PHASE_RUN, PHASE_PANIC, PHASE_CATCHUP };

/* One console's counters, from one self-consistent stats snapshot. */
struct books {
    nblog_console_stats_t st;
    uint64_t stored; /* next_seq - start_seq + lag */
};

/* fbcon's lag, split: lag = in_write + in_ring + overwritten. */
struct lag_parts {
    uint64_t in_write, in_ring, overwritten;
};

static struct demo {
    unsigned seconds, elapsed;
    uint64_t ring_records;
    int layout;                        /* panes on a terminal; under screen */
    _Atomic int atomic_layout;         /* the same, for serial_write_atomic */
    int rows, cols;                    /* of the terminal, if layout */
    int serial_top, serial_bottom;     /* serial's pane (rows, 1-based) */
    int fbcon_top, fbcon_bottom;       /* fbcon's pane */
    pthread_mutex_t screen;            /* stdout; nests inside bo_mutex */
    pthread_mutex_t bo_mutex;          /* the seed's fbcon lock */
    _Atomic int workers_stop;
    _Atomic int allocator_release;
    _Atomic int phase;                 /* PHASE_*, set by the main thread */
    _Atomic uint64_t fbcon_in_write;   /* records in fbcon's pending write */
    nblog_console_t *serial, *fbcon;
    /* Under screen: what fbcon's own output held. */
    uint64_t fbcon_records, fbcon_notices, fbcon_notice_sum;
    char first_notice[96];
    int serial_saw_recovered; /* serial printed the "recovered" report */
    int said_overwritten;     /* main thread: "now:" said the ring passed */
    char out[16384];          /* under screen: output being assembled */
    size_t out_len;
} d = {
    .screen = PTHREAD_MUTEX_INITIALIZER,
    .bo_mutex = PTHREAD_MUTEX_INITIALIZER,
};

/* ------------------------------------------------------------- output */

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Under screen. */
static void out_flush(void)
{
    write_all(d.out, d.out_len);
    d.out_len = 0;
}

/* Under screen: appends len bytes (flushing first if they do not fit). */
static void out_add(const char *s, size_t len)
{
    if (d.out_len + len > sizeof d.out)
        out_flush();
    if (len > sizeof d.out) {
        write_all(s, len);
        return;
    }
    memcpy(d.out + d.out_len, s, len);
    d.out_len += len;
}

static void out_str(const char *s)
{
    out_add(s, strlen(s));
}

/* Under screen: printf into the output. */
static void out_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        out_add(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* How many of line's n bytes fit in cols columns (UTF-8: a continuation
 * byte takes no column). Pure, so the panic path may use it. */
static size_t fit_columns(const char *line, size_t n, int cols)
{
    size_t i = 0;
    for (int col = 0; i < n; i++) {
        if (((unsigned char)line[i] & 0xc0) == 0x80)
            continue;
        if (col++ == cols)
            break;
    }
    return i;
}

/* Under screen: a console's lines. In a pane (the cursor on its bottom
 * row) each goes "\n" + text, so the pane always shows its last lines;
 * otherwise each is tagged with the console's name. */
static void out_lines(const char *buf, size_t len, const char *tag)
{
    while (len > 0) {
        const char *nl = memchr(buf, '\n', len);
        size_t n = nl ? (size_t)(nl - buf) : len;
        if (d.layout) { /* clipped: a wrapped line would scroll the pane */
            out_add("\n", 1);
            out_add(buf, fit_columns(buf, n, d.cols));
        } else {
            out_add(tag, TAG_LEN);
            out_add(buf, n);
            out_add("\n", 1);
        }
        n += nl != NULL;
        buf += n;
        len -= n;
    }
}

/* Does line (n bytes, not NUL-terminated) contain needle? */
static int line_has(const char *line, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(line + i, needle, k) == 0)
            return 1;
    return 0;
}

/* If line is the library's "** N messages dropped **" notice, its N. */
static int dropped_notice(const char *line, size_t n, unsigned long long *count)
{
    char copy[256];
    if (n >= sizeof copy)
        return 0;
    memcpy(copy, line, n);
    copy[n] = '\0';
    const char *end = strstr(copy, " messages dropped **");
    const char *start = strstr(copy, "** ");
    if (!end || !start || start + 3 >= end)
        return 0;
    unsigned long long v = 0;
    for (const char *p = start + 3; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (unsigned)(*p - '0');
    }
    *count = v;
    return 1;
}

/* ------------------------------------------------------------- screen */

/* Terminal state to restore, also from the SIGINT handler. */
static char restore_seq[64];
static size_t restore_len;

static void on_interrupt(int sig)
{
    ssize_t n = write(STDOUT_FILENO, restore_seq, restore_len);
    (void)n;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Picks the layout if stdout is a terminal big enough for it. */
static void choose_layout(void)
{
    struct winsize ws;
    const char *term = getenv("TERM");
    if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 ||
        ws.ws_row < 20 || ws.ws_col < 80 || (term && !strcmp(term, "dumb")))
        return;
    d.layout = 1;
    atomic_store_explicit(&d.atomic_layout, 1, memory_order_relaxed); /* as below */
    d.rows = ws.ws_row;
    d.cols = ws.ws_col;
    d.serial_top = 6;
    d.serial_bottom = d.rows - 9;
    d.fbcon_top = d.rows - 7;
    d.fbcon_bottom = d.fbcon_top + FBCON_ROWS - 1;
    assert(d.serial_bottom - d.serial_top >= 4 && d.fbcon_bottom == d.rows - 5);
    int n = snprintf(restore_seq, sizeof restore_seq, "\033[r\033[?7h\033[?25h\033[%d;1H\n",
                     d.rows);
    restore_len = n > 0 && (size_t)n < sizeof restore_seq ? (size_t)n : 0;
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Under screen, layout: a title row "-- text -----". */
static void draw_title(int row, const char *text)
{
    out_printf("\033[%d;1H-- %s ", row, text);
    for (int i = (int)strlen(text) + 4; i < d.cols; i++)
        out_add("-", 1);
}

static void header_lines(const char *line[4])
{
    static char first[96];
    snprintf(first, sizeof first,
             "nblog demo: the 2017 printk OOM scenario, %u s. One ring, two consoles:",
             d.seconds);
    line[0] = first;
    if (d.layout) {
        line[1] = "  serial: a fast console (stdout, upper pane); it prints every record.";
        line[2] = "  fbcon: a slow console (lower pane); its write needs bo_mutex, which";
    } else {
        line[1] = "  serial: a fast console on stdout (\"serial| \"); prints every record.";
        line[2] = "  fbcon: a slow console (\"fbcon | \"); its write needs bo_mutex, which";
    }
    line[3] = "  the allocator holds while it stalls in page allocation: fbcon is stuck.";
}

/* Under screen: the fixed parts of the layout; the cursor ends in serial's
 * pane, with serial's scroll region set. */
static void draw_frame(void)
{
    const char *head[4];
    header_lines(head);
    out_str("\033[?7l\033[?25l\033[r\033[H\033[2J"); /* wrap, cursor off */
    for (int i = 0; i < 4; i++)
        out_printf("\033[%d;1H%s", i + 1, head[i]);
    draw_title(d.serial_top - 1, "serial prints (stdout): every record, as it is stored");
    draw_title(d.fbcon_top - 1, "fbcon prints: its own output");
    draw_title(d.fbcon_bottom + 1, "status: lag = stored, not yet printed or dropped");
    out_printf("\033[%d;%dr\033[%d;1H", d.serial_top, d.serial_bottom, d.serial_bottom);
}

/* Under screen: back to a plain terminal, the cursor below everything. */
static void leave_layout(void)
{
    if (!d.layout)
        return;
    out_add(restore_seq, restore_len);
    out_flush();
    d.layout = 0;
    /* Relaxed: see serial_write_atomic. */
    atomic_store_explicit(&d.atomic_layout, 0, memory_order_relaxed);
}

/* ----------------------------------------------------------- consoles */

static ssize_t serial_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&d.screen);
    if (d.layout)
        out_printf("\033[%d;1H", d.serial_bottom);
    out_lines(buf, len, SERIAL_TAG);
    out_flush();
    if (!d.serial_saw_recovered && line_has(buf, len, "\"fbcon\" recovered"))
        d.serial_saw_recovered = 1;
    pthread_mutex_unlock(&d.screen);
    return (ssize_t)len;
}

/* The panic path's way out: no lock, write(2)s only (async-signal-safe).
 * The main thread left the cursor in serial's pane before the flush. */
static ssize_t serial_write_atomic(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    /* Relaxed: a mode flag, set before the panic flush by its caller. */
    int layout = atomic_load_explicit(&d.atomic_layout, memory_order_relaxed);
    int cols = d.cols; /* set before the consoles were registered */
    for (size_t done = 0; done < len;) {
        const char *line = buf + done;
        const char *nl = memchr(line, '\n', len - done);
        size_t n = nl ? (size_t)(nl - line) + 1 : len - done;
        struct iovec iov[2];
        if (layout) { /* "\n" + text, as out_lines */
            iov[0] = (struct iovec){.iov_base = "\n", .iov_len = 1};
            iov[1] = (struct iovec){.iov_base = (char *)line,
                                    .iov_len = fit_columns(line, n - (nl != NULL), cols)};
        } else {
            iov[0] = (struct iovec){.iov_base = SERIAL_TAG, .iov_len = TAG_LEN};
            iov[1] = (struct iovec){.iov_base = (char *)line, .iov_len = n};
        }
        size_t want = iov[0].iov_len + iov[1].iov_len;
        ssize_t w = writev(STDOUT_FILENO, iov, 2);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return done > 0 ? (ssize_t)done : -errno;
        if ((size_t)w < want) { /* finish the line: never leave it cut */
            size_t skip = (size_t)w;
            for (int i = 0; i < 2; i++) {
                size_t s = skip < iov[i].iov_len ? skip : iov[i].iov_len;
                write_all((const char *)iov[i].iov_base + s, iov[i].iov_len - s);
                skip -= s;
            }
        }
        done += n;
    }
    return (ssize_t)len;
}

/* Counts a batch's record lines and its dropped notices. */
static void scan_batch(const char *buf, size_t len, uint64_t *records, uint64_t *notices,
                       uint64_t *notice_sum, char *first_notice, size_t cap)
{
    *records = *notices = *notice_sum = 0;
    while (len > 0) {
        const char *nl = memchr(buf, '\n', len);
        size_t n = nl ? (size_t)(nl - buf) : len;
        unsigned long long k;
        if (dropped_notice(buf, n, &k)) {
            if (*notices == 0 && cap > 0)
                snprintf(first_notice, cap, "%.*s", (int)n, buf);
            ++*notices;
            *notice_sum += k;
        } else {
            ++*records;
        }
        n += nl != NULL;
        buf += n;
        len -= n;
    }
}

static ssize_t fbcon_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    uint64_t records, notices, notice_sum;
    char notice[sizeof d.first_notice] = "";
    scan_batch(buf, len, &records, &notices, &notice_sum, notice, sizeof notice);
    /* Relaxed: a value to show (see the top of the file). */
    atomic_store_explicit(&d.fbcon_in_write, records, memory_order_relaxed);
    pthread_mutex_lock(&d.bo_mutex); /* stuck while the allocator holds it */
    pthread_mutex_lock(&d.screen);
    if (d.layout) {
        if (d.fbcon_records + d.fbcon_notices == 0) /* the placeholder goes */
            for (int row = d.fbcon_top; row <= d.fbcon_bottom; row++)
                out_printf("\033[%d;1H\033[K", row);
        out_printf("\033[%d;%dr\033[%d;1H", d.fbcon_top, d.fbcon_bottom, d.fbcon_bottom);
        out_lines(buf, len, FBCON_TAG);
        out_printf("\033[%d;%dr", d.serial_top, d.serial_bottom);
    } else {
        out_lines(buf, len, FBCON_TAG);
    }
    if (d.layout && notices > 0) { /* keep what it said in view */
        char title[96];
        snprintf(title, sizeof title, "fbcon prints: its own output; it said "
                 "\"** %llu messages dropped **\"",
                 (unsigned long long)(d.fbcon_notice_sum + notice_sum));
        draw_title(d.fbcon_top - 1, title);
    }
    out_flush();
    if (d.fbcon_notices == 0 && notices > 0)
        memcpy(d.first_notice, notice, sizeof notice);
    d.fbcon_records += records;
    d.fbcon_notices += notices;
    d.fbcon_notice_sum += notice_sum;
    atomic_store_explicit(&d.fbcon_in_write, 0, memory_order_relaxed); /* as above */
    pthread_mutex_unlock(&d.screen);
    pthread_mutex_unlock(&d.bo_mutex);
    return (ssize_t)len;
}

static int register_consoles(void)
{
    static const nblog_console_ops_t serial_ops = {
        .write = serial_write, .write_atomic = serial_write_atomic};
    static const nblog_console_ops_t fbcon_ops = {.write = fbcon_write};
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "serial";
    o.format = DEMO_FORMAT;
    o.stall_ms = 1000;
    int rc = nblog_console_register(&serial_ops, NULL, &o, &d.serial);
    if (rc != NBLOG_OK)
        return rc;
    o.name = "fbcon";
    return nblog_console_register(&fbcon_ops, NULL, &o, &d.fbcon);
}

/* ------------------------------------------------------------- books */

/* Stats whose counters agree with their next_seq: a batch published
 * between the loads could make one snapshot disagree with itself, so take
 * two that match (bounded). Returns 0, or -1 if the console is gone. */
static int get_books(nblog_console_t *con, struct books *b)
{
    nblog_console_stats_t a;
    for (int i = 0; i < 100; i++) {
        if (nblog_console_stats(con, &a) != NBLOG_OK ||
            nblog_console_stats(con, &b->st) != NBLOG_OK)
            return -1;
        if (a.next_seq == b->st.next_seq && a.printed == b->st.printed &&
            a.filtered == b->st.filtered && a.dropped == b->st.dropped &&
            a.write_failed == b->st.write_failed)
            break;
    }
    b->stored = b->st.next_seq - b->st.start_seq + b->st.lag;
    return 0;
}

static int books_add_up(const struct books *b)
{
    return b->stored == b->st.printed + b->st.filtered + b->st.dropped +
                            b->st.write_failed + b->st.lag;
}

static void split_lag(const struct books *b, uint64_t in_write, struct lag_parts *p)
{
    uint64_t head = b->st.next_seq + b->st.lag;
    p->in_write = in_write < b->st.lag ? in_write : b->st.lag;
    uint64_t pos = b->st.next_seq + p->in_write;
    uint64_t oldest = head > d.ring_records ? head - d.ring_records : 0;
    p->overwritten = oldest > pos ? oldest - pos : 0;
    p->in_ring = head - (oldest > pos ? oldest : pos);
    assert(p->in_write + p->in_ring + p->overwritten == b->st.lag);
}

static uint64_t fbcon_in_write(void)
{
    /* Relaxed: see fbcon_write. */
    return atomic_load_explicit(&d.fbcon_in_write, memory_order_relaxed);
}

/* ------------------------------------------------------------ status */

static void console_state(char *out, size_t cap, const struct books *b, int is_fbcon)
{
    /* Relaxed: see the top of the file. */
    int phase = atomic_load_explicit(&d.phase, memory_order_relaxed);
    if (b->st.stalled_ns)
        snprintf(out, cap, "stuck %.1f s%s", (double)b->st.stalled_ns / 1e9,
                 is_fbcon && phase != PHASE_CATCHUP ? " on bo_mutex" : "");
    else if (b->st.lag == 0 || !is_fbcon)
        snprintf(out, cap, "keeping up");
    else
        snprintf(out, cap, phase == PHASE_CATCHUP ? "catching up" : "waiting for bo_mutex");
}

/* The three status lines, the same words in both modes. */
static void status_lines(char line[3][512], struct lag_parts *fb)
{
    struct books b[2];
    memset(b, 0, sizeof b); /* a console without stats shows zeros */
    nblog_console_t *cons[2] = {d.serial, d.fbcon};
    for (int i = 0; i < 2; i++) {
        char state[64];
        if (get_books(cons[i], &b[i]) != 0) {
            snprintf(line[i], sizeof line[i], "(no stats)");
            continue;
        }
        console_state(state, sizeof state, &b[i], i == 1);
        snprintf(line[i], sizeof line[i], "%-6s  printed %6llu  dropped %5llu  lag %5llu  %s",
                 b[i].st.name, (unsigned long long)b[i].st.printed,
                 (unsigned long long)b[i].st.dropped, (unsigned long long)b[i].st.lag, state);
    }
    split_lag(&b[1], fbcon_in_write(), fb);
    snprintf(line[2], sizeof line[2],
             "fbcon lag %llu = %llu in its write + %llu in the ring + %llu overwritten",
             (unsigned long long)b[1].st.lag, (unsigned long long)fb->in_write,
             (unsigned long long)fb->in_ring, (unsigned long long)fb->overwritten);
}

/* What is happening now, and why: one line. */
static void now_line(char *out, size_t cap, const struct lag_parts *fb)
{
    /* Relaxed: see the top of the file. */
    switch (atomic_load_explicit(&d.phase, memory_order_relaxed)) {
    case PHASE_RUN:
        if (fb->overwritten)
            snprintf(out, cap, "now: fbcon's lag passed the ring (%llu records): "
                     "its oldest are overwritten", (unsigned long long)d.ring_records);
        else
            snprintf(out, cap, "now: fbcon waits for bo_mutex; serial, on its own "
                     "thread, prints on (%u of %u s)", d.elapsed, d.seconds);
        break;
    case PHASE_PANIC:
        snprintf(out, cap, "now: panic flush: serial has write_atomic and prints "
                 "all; fbcon has none");
        break;
    default:
        snprintf(out, cap, "now: the allocator let go of bo_mutex: fbcon prints "
                 "from where it was");
        break;
    }
}

/* Shows the status: in place in the layout; otherwise as "[status] "
 * lines if lines is set, and a "now:" line when it says something new. */
static void show_status(int lines)
{
    char line[3][512], now[160];
    struct lag_parts fb;
    status_lines(line, &fb);
    now_line(now, sizeof now, &fb);
    pthread_mutex_lock(&d.screen);
    if (d.layout) {
        for (int i = 0; i < 3; i++)
            out_printf("\033[%d;1H%s\033[K", d.fbcon_bottom + 2 + i, line[i]);
        out_printf("\033[%d;1H%s\033[K", d.rows, now);
        if (d.fbcon_records + d.fbcon_notices == 0)
            out_printf("\033[%d;1H  (nothing yet: fbcon's write is waiting for "
                       "bo_mutex)\033[K", d.fbcon_top + 1);
        out_printf("\033[%d;1H", d.serial_bottom);
    } else if (lines) {
        for (int i = 0; i < 3; i++)
            out_printf("[status] %s\n", line[i]);
    }
    out_flush();
    pthread_mutex_unlock(&d.screen);
}

/* Not in the layout: says the "now:" line (the layout always shows it).
 * Main thread only, the one that changes d.layout. */
static void say_now(void)
{
    if (d.layout)
        return;
    char now[160];
    struct lag_parts fb;
    char line[3][512];
    status_lines(line, &fb);
    now_line(now, sizeof now, &fb);
    pthread_mutex_lock(&d.screen);
    out_printf("%s\n", now);
    out_flush();
    pthread_mutex_unlock(&d.screen);
}

/* ------------------------------------------------------------ threads */

static void *oom_worker(void *arg)
{
    int cpu = (int)(long)arg;
    /* Relaxed: a stop flag; a late look costs one more message. */
    for (int i = 0; !atomic_load_explicit(&d.workers_stop, memory_order_relaxed); i++) {
        NBLOG_INFO("oom-killer invoked: CPU %d PID %d oom_score_adj=%d Comm: "
                   "idle-priority, order=0, gfp_mask=0x14280ca(GFP_HIGHUSER_MOVABLE)",
                   cpu, 2798 + cpu, i % 1000);
        usleep(5000);
    }
    return NULL;
}

/* Holds fbcon's mutex for the whole demo, logging its own stalls. */
static void *allocator(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&d.bo_mutex);
    for (int ms = 500; !atomic_load_explicit(&d.workers_stop, memory_order_relaxed);
         ms += 500) {
        NBLOG_WARNING("allocator holds bo_mutex, page allocation stalls for %dms, "
                      "order:0, mode:0x14200ca(GFP_HIGHUSER_MOVABLE)", ms);
        usleep(500000);
    }
    /* Relaxed: a flag polled in a loop. */
    while (!atomic_load_explicit(&d.allocator_release, memory_order_relaxed))
        usleep(10000);
    pthread_mutex_unlock(&d.bo_mutex);
    return NULL;
}

/* --------------------------------------------------------------- run */

static void set_phase(int phase)
{
    /* Relaxed: see the top of the file. */
    atomic_store_explicit(&d.phase, phase, memory_order_relaxed);
    say_now();
}

static void pause_to_read(void)
{
    if (d.layout) {
        show_status(0);
        usleep(READ_PAUSE_US);
    }
}

/* Waits (bounded) until serial has printed everything stored so far. */
static void wait_serial_idle(void)
{
    struct books b;
    for (int i = 0; i < 200 && get_books(d.serial, &b) == 0 && b.st.lag > 0; i++)
        usleep(10000);
}

/* What the summary needs from the moment of the panic. */
struct at_panic {
    struct books serial, fbcon;
    struct lag_parts fb;
};

/* Runs the scenario up to and through the panic flush; returns the
 * allocator thread, still holding fbcon's mutex. */
static pthread_t run_scenario(struct at_panic *p)
{
    pthread_t alloc, cpu[WORKERS];
    pthread_create(&alloc, NULL, allocator, NULL);
    usleep(10000); /* the allocator holds the mutex first */
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&cpu[i], NULL, oom_worker, (void *)i);
    say_now();
    for (unsigned tick = 1; tick <= d.seconds * 1000000u / TICK_US; tick++) {
        usleep(TICK_US);
        d.elapsed = tick * TICK_US / 1000000u;
        show_status(tick % 4 == 0);
        struct lag_parts fb;
        struct books b;
        if (!d.said_overwritten && get_books(d.fbcon, &b) == 0) {
            split_lag(&b, fbcon_in_write(), &fb);
            if (fb.overwritten) {
                d.said_overwritten = 1;
                say_now();
            }
        }
    }
    /* Relaxed: see oom_worker. */
    atomic_store_explicit(&d.workers_stop, 1, memory_order_relaxed);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(cpu[i], NULL);
    wait_serial_idle();

    set_phase(PHASE_PANIC);
    show_status(0);
    /* The seed's console_flush_on_panic: every console with write_atomic
     * is taken at panic priority and printed out; fbcon, which has none,
     * is named in the record as not flushed. Then we carry on, to show
     * what fbcon does once the allocator lets go, where the kernel would
     * stop. */
    nblog_panic_flush("Out of memory and no killable processes...");
    wait_serial_idle();
    get_books(d.serial, &p->serial);
    get_books(d.fbcon, &p->fbcon);
    split_lag(&p->fbcon, fbcon_in_write(), &p->fb);
    pause_to_read();
    return alloc;
}

/* The stall ends: fbcon catches up from where it was and reports what it
 * missed (those overwritten while it was stuck). */
static void run_catchup(pthread_t alloc, struct books *serial, struct books *fbcon)
{
    set_phase(PHASE_CATCHUP);
    /* Relaxed: see allocator(). */
    atomic_store_explicit(&d.allocator_release, 1, memory_order_relaxed);
    pthread_join(alloc, NULL);
    /* The stall watch reports fbcon recovered (a record both print): wait
     * for it, boundedly, so the books below are final. */
    for (int i = 0; i < 300; i++) {
        pthread_mutex_lock(&d.screen);
        int seen = d.serial_saw_recovered;
        pthread_mutex_unlock(&d.screen);
        if (seen)
            break;
        usleep(10000);
    }
    for (int i = 0; i < 5; i++) {
        nblog_flush(2000, NULL, 0);
        if (get_books(d.serial, serial) == 0 && get_books(d.fbcon, fbcon) == 0 &&
            serial->st.lag == 0 && fbcon->st.lag == 0)
            break;
    }
    pause_to_read();
}

/* ----------------------------------------------------------- summary */

static void table_row(const struct books *b, const char *result)
{
    printf("%-7s %7llu = %7llu + %8llu + %7llu + %6llu + %6llu  %s\n", b->st.name,
           (unsigned long long)b->stored, (unsigned long long)b->st.printed,
           (unsigned long long)b->st.filtered, (unsigned long long)b->st.dropped,
           (unsigned long long)b->st.write_failed, (unsigned long long)b->st.lag,
           books_add_up(b) ? result : "(books do not add up)");
}

static void table_head(const char *when)
{
    printf("%s\n%-7s %7s = %7s + %8s + %7s + %6s + %6s  %s\n", when, "CONSOLE", "STORED",
           "PRINTED", "FILTERED", "DROPPED", "FAILED", "LAG", "RESULT");
}

static const char *result(const struct books *b, char *buf, size_t cap)
{
    if (b->st.lag == 0 && b->st.dropped == 0 && b->st.write_failed == 0)
        return "complete";
    if (b->st.dropped)
        snprintf(buf, cap, "missed %llu", (unsigned long long)b->st.dropped);
    else if (b->st.stalled_ns)
        snprintf(buf, cap, "stuck %.1f s", (double)b->st.stalled_ns / 1e9);
    else
        snprintf(buf, cap, "behind");
    return buf;
}

static void print_summary(const struct at_panic *p, const struct books *serial,
                          const struct books *fbcon)
{
    char r[64];
    unsigned long long lag = p->fbcon.st.lag, ow = p->fb.overwritten,
                       dropped = fbcon->st.dropped;
    printf("\n== nblog demo summary: %u s, ring of %llu records ==\n"
           "Per console: stored = printed + filtered + dropped + failed + lag.\n",
           d.seconds, (unsigned long long)d.ring_records);
    table_head("At the panic, fbcon still stuck:");
    table_row(&p->serial, result(&p->serial, r, sizeof r));
    table_row(&p->fbcon, result(&p->fbcon, r, sizeof r));
    table_head("After the allocator let go of bo_mutex and fbcon caught up:");
    table_row(serial, result(serial, r, sizeof r));
    table_row(fbcon, result(fbcon, r, sizeof r));

    printf("serial printed every record while fbcon's write waited %.1f s for\n"
           "bo_mutex, held by the stalled allocator: each console prints on its own\n"
           "thread, so a stuck write stops only its console. The panic flush printed\n"
           "through serial's write_atomic; fbcon has none, so it was not flushed.\n",
           (double)p->fbcon.st.stalled_ns / 1e9);
    if (ow == 0) {
        printf("fbcon's lag (%llu) stayed within the ring (%llu records): nothing was\n"
               "overwritten, so once the allocator let go it printed everything.\n",
               lag, (unsigned long long)d.ring_records);
    } else {
        printf("fbcon's lag (%llu) grew past the ring (%llu records), because lag\n"
               "counts every record stored after its position, and the ring keeps\n"
               "only the newest: %llu in its write + %llu in the ring + %llu overwritten.\n"
               "Overwritten records count as dropped only when fbcon reaches them:\n"
               "dropped was %llu at the panic, %llu after.\n",
               lag, (unsigned long long)d.ring_records, (unsigned long long)p->fb.in_write,
               (unsigned long long)p->fb.in_ring, ow,
               (unsigned long long)p->fbcon.st.dropped, dropped);
        if (dropped > ow)
            printf("(%llu more were overwritten while fbcon caught up.)\n",
                   dropped - ow);
    }
    pthread_mutex_lock(&d.screen);
    if (d.fbcon_notices == 1)
        printf("fbcon's own output said so: \"%s\"\n", d.first_notice);
    else if (d.fbcon_notices > 1)
        printf("fbcon's own output said so in %llu notices, %llu in all.\n",
               (unsigned long long)d.fbcon_notices,
               (unsigned long long)d.fbcon_notice_sum);
    pthread_mutex_unlock(&d.screen);
    printf("fbcon missed %llu records; serial missed %llu.\n", dropped,
           (unsigned long long)serial->st.dropped);
    fflush(stdout);
}

static const char demo_usage[] =
    "usage: nblog demo [--seconds N] [--ring FILE]\n"
    "The seed scenario, live: threads log OOM-killer reports; a \"serial\" console\n"
    "on stdout keeps printing while an \"fbcon\" console is stuck behind a mutex a\n"
    "stalled allocator holds. A panic flush ends it, a summary shows what each\n"
    "console printed and dropped, then fbcon catches up.\n"
    "\n"
    "  -s, --seconds N   run about N seconds (1..3600, default 12)\n"
    "  -r, --ring FILE   keep the ring in FILE (without a '/': under /dev/shm), so\n"
    "                    that nblog status FILE or nblog dmesg --follow FILE can\n"
    "                    watch it from another terminal\n"
    "  -h, --help        print this help and exit\n"
    "\n"
    "Exit status: 0 ok, 1 failure (ring or console refused), 2 usage. See nblog(1).\n";

static int parse_demo(int argc, char **argv, const char **ring)
{
    static const struct option longs[] = {
        {"seconds", required_argument, NULL, 's'},
        {"ring", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    unsigned long long secs = 12;
    int c;
    while ((c = getopt_long(argc, argv, "s:r:h", longs, NULL)) != -1) {
        if (c == 'h')
            return fputs(demo_usage, stdout), TOOL_HELP;
        if (c == 's' && (tool_parse_u64(optarg, &secs) != 0 || secs < 1 || secs > 3600))
            return tool_fail(EXIT_USAGE, "--seconds %s: 1..3600", optarg);
        else if (c == 'r')
            *ring = optarg;
        else if (c != 's')
            return EXIT_USAGE;
    }
    if (optind != argc)
        return tool_fail(EXIT_USAGE, "demo: unexpected argument \"%s\"", argv[optind]);
    d.seconds = (unsigned)secs;
    return EXIT_OK;
}

/* The opening: what the two consoles are, on screen for the whole run. */
static void show_opening(void)
{
    pthread_mutex_lock(&d.screen);
    if (d.layout) {
        draw_frame();
    } else {
        const char *head[4];
        header_lines(head);
        for (int i = 0; i < 4; i++)
            out_printf("%s\n", head[i]);
        out_printf("Status (\"[status] \") once a second; lag = stored, not yet printed "
                   "or dropped.\n");
    }
    out_flush();
    pthread_mutex_unlock(&d.screen);
}

int nblog_cmd_demo(int argc, char **argv)
{
    const char *ring = NULL;
    int rc = parse_demo(argc, argv, &ring);
    if (rc != EXIT_OK)
        return rc;
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = DEMO_RING_RECORDS;
    opt.ring_path = ring;
    /* Its two consoles alone: a default or NBLOG_CONSOLES console would
     * write over the panes. */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    if ((rc = nblog_init(&opt)) != NBLOG_OK)
        return tool_fail(EXIT_FAIL, "init: %s", nblog_strerror(rc));
    nblog_stats_t ring_stats;
    nblog_stats_get(&ring_stats);
    d.ring_records = ring_stats.ring_records;
    choose_layout();
    show_opening();
    if ((rc = register_consoles()) != NBLOG_OK) {
        pthread_mutex_lock(&d.screen);
        leave_layout();
        pthread_mutex_unlock(&d.screen);
        return tool_fail(EXIT_FAIL, "console: %s", nblog_strerror(rc));
    }
    struct at_panic p;
    pthread_t alloc = run_scenario(&p);
    struct books serial, fbcon;
    run_catchup(alloc, &serial, &fbcon);
    pthread_mutex_lock(&d.screen);
    leave_layout();
    pthread_mutex_unlock(&d.screen);
    print_summary(&p, &serial, &fbcon);
    nblog_shutdown();
    return EXIT_OK;
}

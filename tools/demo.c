/*
 * demo.c - `nblog demo`: the seed scenario, live.
 *
 * The story (the 2017 printk thread this project starts from): under memory
 * pressure, threads log OOM-killer reports; a slow "fbcon" console needs a
 * mutex (the seed's bo_mutex) that a stalled "allocator" thread holds while
 * it logs its own stall warnings. With one global console lock, as the
 * kernel had then, the fast "serial" console stops too and the warnings
 * never come out. With per-console ownership (nblog), serial keeps printing
 * every record while fbcon is stuck; the stall watch reports fbcon stalled;
 * a panic flush at the end gets everything out through every console that
 * can print atomically; a summary table shows serial complete and fbcon
 * stuck, with exactly what it dropped.
 *
 * Screen: serial prints to stdout. On a terminal a two-line status block
 * (next seq, lag, dropped, stalled-for per console) stays at the bottom and
 * updates in place: serial's write erases it, writes its lines and redraws
 * it, all under one screen lock that only the demo's own output takes. Not
 * on a terminal, the status lines are printed once a second instead.
 *
 * Runs --seconds N (default 12) and finishes in well under a minute.
 * --ring FILE puts the ring in a file so `nblog status FILE` and
 * `nblog dmesg --follow FILE` can watch from another terminal.
 */
#define _DEFAULT_SOURCE /* usleep */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nblog.h"
#include "tool.h"

#define DEMO_RING_RECORDS 1024 /* small, so stuck fbcon visibly drops */
#define TICK_US 250000
#define WORKERS 2

static struct demo {
    unsigned seconds;
    int tty;
    pthread_mutex_t screen;   /* serial output and the status block */
    pthread_mutex_t bo_mutex; /* the seed's fbcon lock */
    _Atomic int workers_stop;
    _Atomic int allocator_release;
    _Atomic unsigned long fbcon_lines;
    nblog_console_t *serial, *fbcon;
    uint64_t max_stalled_ns[2];
    int status_drawn; /* under screen */
} d = {
    .screen = PTHREAD_MUTEX_INITIALIZER,
    .bo_mutex = PTHREAD_MUTEX_INITIALIZER,
};

/* ------------------------------------------------------------- screen */

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

static size_t status_line(char *out, size_t cap, nblog_console_t *con)
{
    nblog_console_stats_t st;
    if (nblog_console_stats(con, &st) != NBLOG_OK)
        return 0;
    char stalled[32] = "-";
    if (st.stalled_ns)
        snprintf(stalled, sizeof stalled, "%.1fs", (double)st.stalled_ns / 1e9);
    int n = snprintf(out, cap,
                     "  [status] %-6s next seq %-6llu lag %-5llu dropped %-6llu "
                     "stalled for %s\n",
                     st.name, (unsigned long long)st.next_seq,
                     (unsigned long long)st.lag, (unsigned long long)st.dropped,
                     stalled);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Under screen: the two status lines. */
static void draw_status(void)
{
    char buf[512];
    size_t n = status_line(buf, sizeof buf, d.serial);
    n += status_line(buf + n, sizeof buf - n, d.fbcon);
    write_all(buf, n);
    d.status_drawn = 1;
}

/* Under screen: remove the status block (terminal only). */
static void erase_status(void)
{
    if (d.tty && d.status_drawn)
        write_all("\033[2F\033[J", 7);
    d.status_drawn = 0;
}

/* ----------------------------------------------------------- consoles */

static ssize_t serial_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&d.screen);
    erase_status();
    write_all(buf, len);
    if (d.tty)
        draw_status();
    pthread_mutex_unlock(&d.screen);
    return (ssize_t)len;
}

/* The panic path's way out: one write(2), no lock. */
static ssize_t serial_write_atomic(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    ssize_t n = write(STDOUT_FILENO, buf, len);
    return n < 0 ? -errno : n;
}

static ssize_t fbcon_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&d.bo_mutex); /* stuck while the allocator holds it */
    unsigned long lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    /* Relaxed: a count, read for the summary after the scenario. */
    atomic_fetch_add_explicit(&d.fbcon_lines, lines, memory_order_relaxed);
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
    o.format = NBLOG_FORMAT_KMSG;
    o.stall_ms = 1000;
    int rc = nblog_console_register(&serial_ops, NULL, &o, &d.serial);
    if (rc != NBLOG_OK)
        return rc;
    o.name = "fbcon";
    o.format = NBLOG_FORMAT_PLAIN;
    return nblog_console_register(&fbcon_ops, NULL, &o, &d.fbcon);
}

/* ------------------------------------------------------------ threads */

static void *oom_worker(void *arg)
{
    int cpu = (int)(long)arg;
    /* Relaxed: a stop flag; a late look costs one more message. */
    for (int i = 0; !atomic_load_explicit(&d.workers_stop, memory_order_relaxed); i++) {
        NBLOG_INFO("CPU: %d PID: %d Comm: idle-priority invoked oom-killer: "
                   "gfp_mask=0x14280ca(GFP_HIGHUSER_MOVABLE), order=0, "
                   "oom_score_adj=%d",
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
        NBLOG_WARNING("allocator: page allocation stalls for %dms, order:0, "
                      "mode:0x14200ca(GFP_HIGHUSER_MOVABLE)", ms);
        usleep(500000);
    }
    /* Relaxed: a flag; the summary is printed before it is set. */
    while (!atomic_load_explicit(&d.allocator_release, memory_order_relaxed))
        usleep(10000);
    pthread_mutex_unlock(&d.bo_mutex);
    return NULL;
}

/* --------------------------------------------------------------- run */

static void sample_stalls(void)
{
    nblog_console_t *cons[2] = {d.serial, d.fbcon};
    for (int i = 0; i < 2; i++) {
        nblog_console_stats_t st;
        if (nblog_console_stats(cons[i], &st) == NBLOG_OK &&
            st.stalled_ns > d.max_stalled_ns[i])
            d.max_stalled_ns[i] = st.stalled_ns;
    }
}

static void show_status(unsigned tick)
{
    pthread_mutex_lock(&d.screen);
    if (d.tty) {
        erase_status();
        draw_status();
    } else if (tick % 4 == 0) {
        draw_status();
    }
    pthread_mutex_unlock(&d.screen);
}

/* Runs the scenario; returns the allocator, still holding fbcon's mutex. */
static pthread_t run_scenario(void)
{
    pthread_t alloc, cpu[WORKERS];
    pthread_create(&alloc, NULL, allocator, NULL);
    usleep(10000); /* the allocator holds the mutex first */
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&cpu[i], NULL, oom_worker, (void *)i);
    for (unsigned tick = 1; tick <= d.seconds * 1000000u / TICK_US; tick++) {
        usleep(TICK_US);
        sample_stalls();
        show_status(tick);
    }
    /* Relaxed: see oom_worker. */
    atomic_store_explicit(&d.workers_stop, 1, memory_order_relaxed);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(cpu[i], NULL);
    sample_stalls();

    pthread_mutex_lock(&d.screen);
    erase_status();
    d.tty = 0; /* the panic flush writes without the screen lock */
    pthread_mutex_unlock(&d.screen);
    /* The seed's console_flush_on_panic: every console with write_atomic
     * is taken at panic priority and printed out; fbcon, which has none,
     * is named in the record as not flushed. Then we carry on, to show
     * the summary, where the kernel would stop. */
    nblog_panic_flush("Kernel panic - not syncing: Out of memory and no "
                      "killable processes...");
    sample_stalls();
    return alloc;
}

static void summary_row(const char *role, nblog_console_t *con, uint64_t max_stalled)
{
    nblog_console_stats_t st;
    nblog_stats_t ring;
    nblog_stats_get(&ring);
    if (nblog_console_stats(con, &st) != NBLOG_OK)
        return;
    uint64_t stored = ring.reserved - st.start_seq;
    int complete = st.printed + st.filtered == stored && st.dropped == 0;
    char stalled[32] = "-", result[96];
    if (max_stalled)
        snprintf(stalled, sizeof stalled, "%.1fs", (double)max_stalled / 1e9);
    if (complete)
        snprintf(result, sizeof result, "complete");
    else
        snprintf(result, sizeof result, "%s (%s)",
                 max_stalled ? "stuck" : "behind", role);
    printf("%-7s %8llu %8llu %8llu %6llu %12s  %s\n", st.name,
           (unsigned long long)stored, (unsigned long long)st.printed,
           (unsigned long long)st.dropped, (unsigned long long)st.lag, stalled,
           result);
}

static void print_summary(void)
{
    printf("\n== nblog demo summary: %u s, ring of %u records ==\n", d.seconds,
           DEMO_RING_RECORDS);
    printf("%-7s %8s %8s %8s %6s %12s  %s\n", "CONSOLE", "STORED", "PRINTED",
           "DROPPED", "LAG", "MAX STALLED", "RESULT");
    summary_row("serial", d.serial, d.max_stalled_ns[0]);
    summary_row("behind bo_mutex, held by the stalled allocator", d.fbcon,
                d.max_stalled_ns[1]);
    /* Relaxed: see fbcon_write. */
    printf("fbcon wrote %lu lines; serial kept printing while it was stuck.\n",
           atomic_load_explicit(&d.fbcon_lines, memory_order_relaxed));
    fflush(stdout);
}

/* The stall ends: fbcon catches up from where it was and says exactly how
 * many records it missed (those overwritten while it was stuck). */
static void print_recovery(void)
{
    char lagging[64];
    int behind = nblog_flush(5000, lagging, sizeof lagging);
    nblog_console_stats_t st;
    if (nblog_console_stats(d.fbcon, &st) != NBLOG_OK)
        return;
    unsigned long long handled = st.next_seq - st.start_seq;
    printf("after the allocator let go: fbcon printed %llu + dropped %llu + filtered "
           "%llu = %llu of %llu records, lag %llu%s%s\n",
           (unsigned long long)st.printed, (unsigned long long)st.dropped,
           (unsigned long long)st.filtered,
           (unsigned long long)(st.printed + st.dropped + st.filtered + st.write_failed),
           handled, (unsigned long long)st.lag, behind ? "; still behind: " : "",
           behind ? lagging : "");
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
    if ((rc = nblog_init(&opt)) != NBLOG_OK)
        return tool_fail(EXIT_FAIL, "init: %s", nblog_strerror(rc));
    if ((rc = register_consoles()) != NBLOG_OK)
        return tool_fail(EXIT_FAIL, "console: %s", nblog_strerror(rc));
    d.tty = isatty(STDOUT_FILENO);
    printf("nblog demo: %u s. serial (stdout) must keep printing while fbcon is "
           "stuck behind a mutex a stalled allocator holds.\n", d.seconds);
    fflush(stdout);
    pthread_t alloc = run_scenario();
    print_summary();
    /* Relaxed: see allocator(). */
    atomic_store_explicit(&d.allocator_release, 1, memory_order_relaxed);
    pthread_join(alloc, NULL);
    print_recovery();
    nblog_shutdown();
    return EXIT_OK;
}

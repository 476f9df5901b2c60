/*
 * test-dmesg.c - `nblog dmesg` filters and outputs (issue 16 items 1 and
 * 2), through the real command.
 *
 * The fixture: this executable run again as "--writer FILE SPEC...", a
 * writer process whose records have the wall times the test chose (the
 * realtime hook, nblog__realtime_hook, and a new epoch per record,
 * nblog__wallclock_notice: no clock is stepped), from two threads, at
 * chosen levels, some texts not UTF-8 or holding controls. The test reads
 * the fixture back through the public reader (nblog_ringfile_*) and
 * computes, with its own code, what each filter must select and what each
 * format must print, byte for byte. Times are placed minutes or more from
 * every bound a case uses, or at a bound the record is known to be after
 * (a record stored at wall time W shows W plus the nanoseconds its store
 * took): nothing depends on how fast anything runs.
 *
 * The cases (each function is test_ and the name below):
 *
 *   parse_time          tool_parse_time (tools/dmesg-args.c) on every form,
 *                       with a fixed now and TZ, and on bad ones
 *   parse_levels        tool_parse_levels: thresholds, lists, ranges
 *   each_filter         each filter alone selects what the reference does
 *   filter_pairs        every pair of filters, the same
 *   times               --since/--until in every form (absolute in UTC and
 *                       in another zone, ISO, @epoch, relative, today,
 *                       yesterday, now)
 *   bad_values          each bad value: exit 2, the option and the value named
 *   formats_exact       plain, short, cat, raw (and kmsg), json, json-pretty,
 *                       --format json/kmsg, byte for byte
 *   json_lossless       -o json parsed back: every MESSAGE's bytes exactly
 *   dmesg_reads_raw     util-linux dmesg -F reads -o raw (skipped without it)
 *   follow_filtered     --follow --grep prints only matches as they come;
 *                       --follow --until-seq ends by itself
 *   pager               on a terminal: $SYSTEMD_PAGER / $PAGER runs (LESS
 *                       set), not with --no-pager, not into a file
 *   color               --color always / never / auto (terminal, NO_COLOR)
 *   sites_survive_kill  a child logging with NBLOG_INFO and nblog_info into
 *                       a ring file is SIGKILLed: -o json shows each
 *                       record's CODE_FILE, CODE_LINE, CODE_FUNC (the table
 *                       is in the file); a second run resuming the file
 *                       reuses the same sites' entries (the table, read
 *                       from the file, grows by the new site only);
 *                       --location, --code-file, --code-func, --format json
 *   sites_followed      --follow --location: sites first logged after the
 *                       follower opened the file
 *   sites_hostile       forged call-site entries (hash right): escaped in
 *                       json and the text formats; a control byte refused
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"
#include "platform.h"
#include "proc.h"
#include "ring.h"
#include "testutil.h"
#include "tool.h"
#include "wallclock.h"

#define HANG_GUARD_MS 60000
#define NS 1000000000LL

static char tool[] = NBLOG_TOOL;
static char writer[] = RING_WRITER;
static char self[4096];

/* ------------------------------------------------------ the writer */

/* wall = this + CLOCK_MONOTONIC. Relaxed everywhere: a plain value, read
 * by nblog's clock (here, and on its wall-clock thread, whose drift check
 * may take either value while it changes: both are this record's or the
 * last's, and the notice that follows each store, on this thread, is what
 * dates the next record). The hook pointer is stored before nblog_init
 * starts any thread (no pairing needed; its load is relaxed too). */
static _Atomic int64_t target_offset;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t fixture_clock(void)
{
    return atomic_load_explicit(&target_offset, memory_order_relaxed) + mono_ns();
}

struct job {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int level, pending, quit;
    const char *text;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    pthread_mutex_lock(&j->lock);
    for (;;) {
        while (!j->pending && !j->quit)
            pthread_cond_wait(&j->cond, &j->lock);
        if (j->quit)
            break;
        nblog_write(j->level, j->text, strlen(j->text));
        j->pending = 0;
        pthread_cond_broadcast(&j->cond);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* "--writer FILE WALL_NS,LEVEL,THREAD,TEXT ...": each record at its wall
 * time, from the main thread (0) or the worker (1). */
static int run_writer(int argc, char **argv)
{
    nblog_options_t opt;
    tu_ring_options(&opt, argv[2], 64, 0);
    opt.program = "fixture";
    opt.level = NBLOG_LEVEL_DEBUG;
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    atomic_store_explicit(&target_offset, 0, memory_order_relaxed);
    atomic_store_explicit(&nblog__realtime_hook, fixture_clock, memory_order_relaxed);
    if (nblog_init(&opt) != NBLOG_OK)
        return 4;
    struct job j = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    if (pthread_create(&t, NULL, worker, &j) != 0)
        return 5;
    for (int i = 3; i < argc; i++) {
        long long wall;
        int level, thread, at = 0;
        if (sscanf(argv[i], "%lld,%d,%d,%n", &wall, &level, &thread, &at) != 3 || !at)
            return 6;
        atomic_store_explicit(&target_offset, wall - mono_ns(), memory_order_relaxed);
        if (nblog__wallclock_notice(1) != 1)
            return 7;
        const char *text = argv[i] + at;
        if (thread == 0) {
            nblog_write(level, text, strlen(text));
            continue;
        }
        pthread_mutex_lock(&j.lock);
        j.level = level;
        j.text = text;
        j.pending = 1;
        pthread_cond_broadcast(&j.cond);
        while (j.pending)
            pthread_cond_wait(&j.cond, &j.lock);
        pthread_mutex_unlock(&j.lock);
    }
    pthread_mutex_lock(&j.lock);
    j.quit = 1;
    pthread_cond_broadcast(&j.cond);
    pthread_mutex_unlock(&j.lock);
    pthread_join(t, NULL);
    nblog_shutdown();
    return 0;
}

/* ------------------------------------------------------ the fixture */

struct rec {
    uint64_t seq, ts_ns;
    int64_t wall_ns;
    uint32_t tid;
    int level, facility, flags;
    size_t len;
    char text[256];
};

static char ring[128];
static struct rec recs[16];
static int nrecs;
static uint32_t writer_pid, worker_tid;
static int64_t made_at; /* the test's now when the fixture was made */
static char outfile[160], errfile[160];

static int64_t real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm) * NS;
}

/* UTC midnight today (the tests run the command with TZ=UTC). */
static int64_t utc_midnight(int64_t now)
{
    return now / NS / 86400 * 86400 * NS;
}

static const struct {
    int level, thread;
    const char *text;
} fixture[] = {
    {3, 0, "disk sda failed"},
    {4, 1, "Queue FULL at 93%"},
    {6, 0, "started server"},
    {7, 1, "bad \xff byte and \x1b[31m ctl"},
    {5, 0, "day before yesterday"},
    {2, 1, "yesterday crit"},
    {3, 0, "today error"},
    {4, 0, "two hours ago"},
    {6, 1, "half an hour ago"},
    {6, 0, "a minute ago \xc3\xa9"},
    {1, 0, "in the future \xe2\x80\xa8 sep"},
};
#define NFIX ((int)(sizeof fixture / sizeof fixture[0]))

static int64_t fixture_wall(int i, int64_t now)
{
    int64_t mid = utc_midnight(now);
    switch (i) {
    case 0: return utc(2026, 11, 30, 8, 0, 0);
    case 1: return utc(2026, 12, 1, 9, 30, 0);
    case 2: return utc(2026, 12, 1, 10, 0, 0);
    case 3: return utc(2026, 12, 1, 10, 0, 0) + NS / 2;
    case 4: return mid - 86400 * NS - NS;
    case 5: return mid - 86400 * NS + NS;
    case 6: return mid + NS;
    case 7: return now - 2 * 3600 * NS;
    case 8: return now - 30 * 60 * NS;
    case 9: return now - 60 * NS;
    default: return now + 3600 * NS;
    }
}

static void read_fixture(void)
{
    nblog_ringfile_t *f;
    char why[256];
    assert_int_equal(nblog_ringfile_open(ring, NBLOG_RINGFILE_COPY, &f, why, sizeof why), NBLOG_OK);
    nblog_ringfile_info_t info;
    nblog_ringfile_info(f, &info);
    assert_int_equal(info.writer_pid, writer_pid);
    nblog_reader_t rd;
    assert_int_equal(nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd), NBLOG_OK);
    char text[NBLOG_TEXT_MAX_LIMIT + 1];
    nblog_record_t r;
    nrecs = 0;
    while (nblog_reader_next(&rd, &r, text, sizeof text) == NBLOG_OK) {
        assert_true(nrecs < NFIX);
        struct rec *c = &recs[nrecs];
        *c = (struct rec){.seq = r.seq,
                          .ts_ns = r.ts_ns,
                          .wall_ns = r.wall_ns,
                          .tid = r.tid,
                          .level = r.level,
                          .facility = r.facility,
                          .flags = r.flags,
                          .len = r.len};
        assert_true(r.len < sizeof c->text);
        memcpy(c->text, r.text, r.len);
        assert_int_equal(r.missed, 0);
        nrecs++;
    }
    assert_int_equal(nrecs, NFIX);
    for (int i = 0; i < NFIX; i++) {
        assert_true(recs[i].wall_ns >= fixture_wall(i, made_at)); /* W + its store time */
        assert_true(recs[i].wall_ns < fixture_wall(i, made_at) + 10 * NS);
        assert_memory_equal(recs[i].text, fixture[i].text, strlen(fixture[i].text));
        if (fixture[i].thread)
            worker_tid = recs[i].tid;
    }
    assert_true(worker_tid != 0 && worker_tid != recs[0].tid);
    nblog_ringfile_close(f);
}

static int setup(void **state)
{
    (void)state;
    tu_ring_name(ring, sizeof ring, "dmesg");
    snprintf(outfile, sizeof outfile, "%s.out", ring);
    snprintf(errfile, sizeof errfile, "%s.err", ring);
    made_at = real_now();
    static char specs[NFIX][320];
    char *args[NFIX + 4] = {self, "--writer", ring};
    for (int i = 0; i < NFIX; i++) {
        snprintf(specs[i], sizeof specs[i], "%lld,%d,%d,%s", (long long)fixture_wall(i, made_at),
                 fixture[i].level, fixture[i].thread, fixture[i].text);
        args[3 + i] = specs[i];
    }
    pid_t pid = spawn_child(args, -1, -1);
    writer_pid = (uint32_t)pid;
    assert_int_equal(wait_child(pid), 0);
    read_fixture();
    setenv("TZ", "UTC", 1);
    unsetenv("NO_COLOR");
    unsetenv("PAGER");
    unsetenv("SYSTEMD_PAGER");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(ring);
    unlink(outfile);
    unlink(errfile);
    return 0;
}

/* ------------------------------------------------------ running it */

/* Runs nblog dmesg ARGS... (NULL-terminated) with stdout into outfile and
 * stderr into errfile; returns its exit status and *out (free it). */
static int dmesg_v(char **out, va_list ap)
{
    char *args[40] = {tool, "dmesg"};
    int n = 2;
    while (n < 38 && (args[n] = va_arg(ap, char *)))
        n++;
    args[n] = NULL;
    int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int efd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0 && efd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, efd, STDERR_FILENO);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, tool, &fa, NULL, args, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    close(efd);
    int rc = wait_child(pid);
    if (out)
        *out = slurp(outfile);
    return rc;
}

static int dmesg(char **out, ...)
{
    va_list ap;
    va_start(ap, out);
    int rc = dmesg_v(out, ap);
    va_end(ap);
    return rc;
}

/* The NBLOG_SEQ values of -o json output, in order, into seqs; count. */
static int seqs_of(const char *json, uint64_t *seqs, int cap)
{
    int n = 0;
    for (const char *p = json; (p = strstr(p, "\"NBLOG_SEQ\":\"")); n++) {
        assert_true(n < cap);
        p += sizeof "\"NBLOG_SEQ\":\"" - 1;
        seqs[n] = strtoull(p, NULL, 10);
    }
    return n;
}

/* ------------------------------------------------------ the reference */

struct filter {
    const char *name;
    const char *args[4]; /* the options, NULL-terminated */
    int kind;
};

enum { F_LEVEL, F_TIME, F_SEQ, F_LINES, F_REVERSE, F_GREP, F_THREAD, F_PID };

static char tid_arg[16], pid_arg[16];

static int64_t since_2026_12_01_0900(void)
{
    return utc(2026, 12, 1, 9, 0, 0);
}

/* Whether rec passes a selecting filter (not -n or -r). */
static int passes(int kind, const struct rec *r)
{
    switch (kind) {
    case F_LEVEL: return r->level == 3 || r->level == 4;
    case F_TIME: return r->wall_ns >= since_2026_12_01_0900() && r->wall_ns <= real_now();
    case F_SEQ: return r->seq >= 2 && r->seq <= 8;
    case F_GREP: {
        regex_t re;
        assert_int_equal(regcomp(&re, "ago|sda|queue", REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
        char text[300];
        memcpy(text, r->text, r->len);
        text[r->len] = '\0';
        int m = regexec(&re, text, 0, NULL, 0) == 0;
        regfree(&re);
        return m;
    }
    case F_THREAD: return r->tid == worker_tid;
    default: return 1; /* F_PID: the writer's pid, every record */
    }
}

#define LINES_N 3

/* The seqs `dmesg` with filters a and b (b may be a) must print. */
static int reference(int a, int b, uint64_t *seqs)
{
    int n = 0;
    for (int i = 0; i < nrecs; i++)
        if (passes(a, &recs[i]) && passes(b, &recs[i]))
            seqs[n++] = recs[i].seq;
    int lines = a == F_LINES || b == F_LINES, reverse = a == F_REVERSE || b == F_REVERSE;
    if (lines && n > LINES_N) {
        memmove(seqs, seqs + n - LINES_N, LINES_N * sizeof *seqs);
        n = LINES_N;
    }
    for (int i = 0; reverse && i < n / 2; i++) {
        uint64_t t = seqs[i];
        seqs[i] = seqs[n - 1 - i];
        seqs[n - 1 - i] = t;
    }
    return n;
}

static const struct filter filters[] = {
    {"level", {"-l", "err,warning", NULL}, F_LEVEL},
    {"time", {"--since", "2026-12-01 09:00", "--until", "now"}, F_TIME},
    {"seq", {"--since-seq", "2", "--until-seq", "8"}, F_SEQ},
    {"lines", {"-n", "3", NULL}, F_LINES},
    {"reverse", {"-r", NULL}, F_REVERSE},
    {"grep", {"--grep", "ago|sda|queue", NULL}, F_GREP},
    {"thread", {"--thread", tid_arg, NULL}, F_THREAD},
    {"pid", {"--pid", pid_arg, NULL}, F_PID},
};
#define NFILTERS ((int)(sizeof filters / sizeof filters[0]))

static void expect_output(const char *want, ...)
{
    char *out;
    va_list ap;
    va_start(ap, want);
    int rc = dmesg_v(&out, ap);
    va_end(ap);
    assert_int_equal(rc, 0);
    if (strcmp(out, want)) {
        size_t i = 0;
        while (out[i] && out[i] == want[i])
            i++;
        fprintf(stderr, "output differs at byte %zu:\ngot:\n%s\nwant:\n%s", i, out, want);
        fail();
    }
    free(out);
}

static void check_filters(int a, int b)
{
    char *args[12];
    int n = 0;
    for (int k = 0; k < 4 && filters[a].args[k]; k++)
        args[n++] = (char *)filters[a].args[k];
    for (int k = 0; b != a && k < 4 && filters[b].args[k]; k++)
        args[n++] = (char *)filters[b].args[k];
    args[n++] = "-o";
    args[n++] = "json";
    args[n++] = ring;
    while (n < 12)
        args[n++] = NULL;
    char *out;
    int rc = dmesg(&out, args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7],
                   args[8], args[9], args[10], args[11], NULL);
    uint64_t got[32], want[32];
    int ng = seqs_of(out, got, 32), nw = reference(filters[a].kind, filters[b].kind, want);
    if (rc != 0 || ng != nw || memcmp(got, want, (size_t)nw * sizeof *want)) {
        fprintf(stderr, "filters %s + %s: exit %d, %d records, want %d:\n%s\n", filters[a].name,
                filters[b].name, rc, ng, nw, out);
        for (int i = 0; i < nw; i++)
            fprintf(stderr, " %llu", (unsigned long long)want[i]);
        fail_msg("\n");
    }
    free(out);
}

static void ids_for_args(void)
{
    snprintf(tid_arg, sizeof tid_arg, "%u", (unsigned)worker_tid);
    snprintf(pid_arg, sizeof pid_arg, "%u", (unsigned)writer_pid);
}

static void test_each_filter(void **state)
{
    (void)state;
    ids_for_args();
    for (int a = 0; a < NFILTERS; a++)
        check_filters(a, a);
    /* Each one selects something and leaves something out (or orders). */
    uint64_t s[32];
    for (int a = 0; a < NFILTERS; a++) {
        int n = reference(filters[a].kind, filters[a].kind, s);
        assert_true(n > 0);
        assert_true(n < nrecs || filters[a].kind == F_REVERSE || filters[a].kind == F_PID);
    }
    /* --pid of another process: nothing; a threshold level; -n 0. */
    expect_output("", "--pid", "1", "-o", "cat", ring, NULL);
    expect_output("yesterday crit\nin the future \\xe2\\x80\\xa8 sep\n", "-p", "crit", "-o", "cat",
                  ring, NULL);
    expect_output("", "--level", "3..4", "--lines", "0", "-o", "cat", ring, NULL);
    /* Case: a capital makes --grep case-sensitive, -i and
     * --case-sensitive=no undo it; --case-sensitive makes lower case so. */
    expect_output("Queue FULL at 93%\n", "-g", "FULL", "-o", "cat", ring, NULL);
    expect_output("", "-g", "Full", "-o", "cat", ring, NULL);
    expect_output("Queue FULL at 93%\n", "-g", "Full", "-i", "-o", "cat", ring, NULL);
    expect_output("Queue FULL at 93%\n", "-g", "F.ll", "--case-sensitive=no", "-o", "cat", ring,
                  NULL);
    expect_output("", "-g", "full", "--case-sensitive", "-o", "cat", ring, NULL);
    /* A regex over the raw text: bytes that are not UTF-8 and controls
     * are text too. */
    expect_output("bad \\xff byte and \\x1b[31m ctl\n", "-g", "^bad .* byte", "-o", "cat", ring,
                  NULL);
}

static void test_filter_pairs(void **state)
{
    (void)state;
    ids_for_args();
    for (int a = 0; a < NFILTERS; a++)
        for (int b = a + 1; b < NFILTERS; b++)
            check_filters(a, b);
}

/* The texts (cat) of the records whose wall time is in [since, until]. */
static char *texts_between(int64_t since, int64_t until)
{
    static char buf[4096];
    size_t n = 0;
    for (int i = 0; i < nrecs; i++)
        if (recs[i].wall_ns >= since && recs[i].wall_ns <= until) {
            n +=
                (size_t)snprintf(buf + n, sizeof buf - n, "%.*s\n", (int)recs[i].len, recs[i].text);
        }
    buf[n] = '\0';
    /* The cat format escapes; the fixture's escaped texts are known. */
    static char esc[4096];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        int utf8_2028 = c == 0xe2 && i + 2 < n && (unsigned char)buf[i + 1] == 0x80 &&
                        (unsigned char)buf[i + 2] == 0xa8;
        if (utf8_2028) {
            m += (size_t)snprintf(esc + m, sizeof esc - m, "\\xe2\\x80\\xa8");
            i += 2;
        } else if (c == 0x1b || c == 0xff) {
            m += (size_t)snprintf(esc + m, sizeof esc - m, "\\x%02x", c);
        } else {
            esc[m++] = (char)c;
        }
    }
    esc[m] = '\0';
    return esc;
}

static void expect_times(const char *since, const char *until, int64_t lo, int64_t hi)
{
    char *out;
    int rc = since && until
                 ? dmesg(&out, "--since", since, "--until", until, "-o", "cat", ring, NULL)
             : since ? dmesg(&out, "-S", since, "-o", "cat", ring, NULL)
                     : dmesg(&out, "-U", until, "-o", "cat", ring, NULL);
    if (rc != 0 || strcmp(out, texts_between(lo, hi)))
        fail_msg("--since %s --until %s: exit %d, got:\n%s\nwant:\n%s", since ? since : "-",
                 until ? until : "-", rc, out, texts_between(lo, hi));
    free(out);
}

static void test_times(void **state)
{
    (void)state;
    const int64_t all_lo = INT64_MIN, all_hi = INT64_MAX;
    int64_t ten = utc(2026, 12, 1, 10, 0, 0), mid = utc_midnight(real_now());
    char at[64];
    /* Absolute, local (TZ=UTC here). 10:00:00 itself: records 2 and 3 are
     * after it by their store time, so --until 10:00 leaves them out. */
    expect_times("2026-12-01 10:00:00", NULL, ten, all_hi);
    expect_times("2026-12-01T09:00:00Z", "2026-12-01 10:00", utc(2026, 12, 1, 9, 0, 0), ten);
    expect_times("2026-12-01T11:00:00+01:00", "2026-12-01T10:00:01Z", ten, ten + NS);
    expect_times("2026-12-01 10:00:00.400", "2026-12-01T10:00:00.6Z", ten + NS / 10 * 4,
                 ten + NS / 10 * 6);
    expect_times(NULL, "2026-11-30 09:00", all_lo, utc(2026, 11, 30, 9, 0, 0));
    snprintf(at, sizeof at, "@%lld", (long long)(ten / NS));
    expect_times(at, "@1796119200.5", ten, ten + NS / 2);
    /* In another zone: local times are that zone's (EST: UTC-5). */
    setenv("TZ", "EST5", 1);
    expect_times("2026-12-01 05:00:00", "2026-12-01 05:00:00.999", ten, ten + NS - 1);
    setenv("TZ", "UTC", 1);
    /* Relative to now, which the command reads a moment after ours: each
     * bound is minutes from every record. */
    int64_t now = real_now();
    expect_times("-1h", NULL, now - 3600 * NS, all_hi);
    expect_times("10 min ago", "now", now - 600 * NS, now);
    expect_times("1h 45min ago", "-20min", now - 6300 * NS, now - 1200 * NS);
    expect_times("+30min", NULL, now + 1800 * NS, all_hi);
    expect_times("today", NULL, mid, all_hi);
    expect_times("yesterday", "today", mid - 86400 * NS, mid);
    expect_times(NULL, "yesterday", all_lo, mid - 86400 * NS);
    /* A time alone is today's. */
    expect_times("00:00:00", "00:00:02", mid, mid + 2 * NS);
}

static void test_bad_values(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--level", "bogus"},
        {"--priority", "9"},
        {"-l", "err..nope"},
        {"-l", "err,,warning"},
        {"--since", "10 minutes agoo"},
        {"--until", "25:00"},
        {"--since", "2026-02-30"},
        {"--until", "@x"},
        {"--since", "-1 fortnight"},
        {"--lines", "-1"},
        {"-n", "ten"},
        {"--thread", "abc"},
        {"--pid", "0"},
        {"--grep", "a("},
        {"--output", "xml"},
        {"--color=sometimes", NULL},
        {"--case-sensitive=maybe", NULL},
        {"--since-seq", "x"},
        {"--until-seq", "-2"},
        {"--format", "short"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out;
        int rc = bad[i][1] ? dmesg(&out, bad[i][0], bad[i][1], ring, NULL)
                           : dmesg(&out, bad[i][0], ring, NULL);
        char *err = slurp(errfile);
        char opt[64];
        snprintf(opt, sizeof opt, "%.*s", (int)strcspn(bad[i][0], "="), bad[i][0]);
        const char *value = bad[i][1] ? bad[i][1] : strchr(bad[i][0], '=') + 1;
        if (rc != 2 || *out || !strstr(err, value) || (opt[1] == '-' && !strstr(err, opt)) ||
            !strstr(err, "nblog dmesg --help"))
            fail_msg("%s %s: exit %d, stdout \"%s\", stderr \"%s\"", bad[i][0],
                     bad[i][1] ? bad[i][1] : "", rc, out, err);
        free(out);
        free(err);
    }
    /* Contradictions. */
    char *out;
    assert_int_equal(dmesg(&out, "-r", "-f", ring, NULL), 2);
    free(out);
    assert_int_equal(dmesg(&out, "--since", "now", "--until", "yesterday", ring, NULL), 2);
    free(out);
    assert_int_equal(dmesg(&out, "--since-seq", "5", "--until-seq", "4", ring, NULL), 2);
    free(out);
}

/* ------------------------------------------------------ exact outputs */

/* The text as the library's text formats escape the fixture's bytes. */
static const char *escaped(const struct rec *r)
{
    static char out[1024];
    size_t m = 0;
    for (size_t i = 0; i < r->len; i++) {
        unsigned char c = (unsigned char)r->text[i];
        if (c == 0xe2 && i + 2 < r->len && (unsigned char)r->text[i + 1] == 0x80 &&
            (unsigned char)r->text[i + 2] == 0xa8) {
            m += (size_t)sprintf(out + m, "\\xe2\\x80\\xa8");
            i += 2;
        } else if (c == 0x1b || c == 0xff) {
            m += (size_t)sprintf(out + m, "\\x%02x", c);
        } else {
            out[m++] = (char)c;
        }
    }
    out[m] = '\0';
    return out;
}

/* A JSON string (journald's shape) or byte array for the fixture's text. */
static const char *json_message(const struct rec *r, int pretty)
{
    static char out[2048];
    size_t m = 0;
    int utf8 = !memchr(r->text, '\xff', r->len);
    if (!utf8) {
        m += (size_t)sprintf(out, "[");
        for (size_t i = 0; i < r->len; i++)
            m += (size_t)sprintf(out + m, "%s%u", i ? (pretty ? ", " : ",") : "",
                                 (unsigned char)r->text[i]);
        sprintf(out + m, "]");
        return out;
    }
    out[m++] = '"';
    for (size_t i = 0; i < r->len; i++) {
        unsigned char c = (unsigned char)r->text[i];
        if (c == 0xe2 && (unsigned char)r->text[i + 1] == 0x80 &&
            (unsigned char)r->text[i + 2] == 0xa8) {
            m += (size_t)sprintf(out + m, "\\u2028");
            i += 2;
        } else if (c == 0x1b) {
            m += (size_t)sprintf(out + m, "\\u001b");
        } else {
            out[m++] = (char)c;
        }
    }
    out[m++] = '"';
    out[m] = '\0';
    return out;
}

/* The NBLOG_* flag fields after NBLOG_SEQ, as -o json writes them. */
static const char *flag_fields(const struct rec *r, int pretty)
{
    static char out[256];
    static const struct {
        int flag;
        const char *key;
    } flags[] = {{NBLOG_F_SIGNAL, "NBLOG_SIGNAL"},
                 {NBLOG_F_EMERGENCY, "NBLOG_EMERGENCY"},
                 {NBLOG_F_TRUNCATED, "NBLOG_TRUNCATED"},
                 {NBLOG_F_BADINPUT, "NBLOG_BADINPUT"}};
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (r->flags & flags[i].flag)
            n += (size_t)sprintf(out + n, pretty ? "\t\"%s\" : \"1\",\n" : "\"%s\":\"1\",",
                                 flags[i].key);
    return out;
}

static const char *level_names[] = {"emerg",   "alert",  "crit", "err",
                                    "warning", "notice", "info", "debug"};

static void test_formats_exact(void **state)
{
    (void)state;
    static char want[8][16384];
    size_t n[8] = {0};
    for (int i = 0; i < nrecs; i++) {
        const struct rec *r = &recs[i];
        unsigned long long s = r->ts_ns / 1000000000u, us = r->ts_ns / 1000u % 1000000u;
        const char *e = escaped(r);
        /* plain */
        n[0] +=
            (size_t)sprintf(want[0] + n[0], "[%5llu.%06llu] %-7s #%llu tid %u: %s\n", s, us,
                            level_names[r->level], (unsigned long long)r->seq, (unsigned)r->tid, e);
        /* short: the human line, UTC */
        time_t sec = (time_t)(r->wall_ns / NS);
        struct tm tm;
        gmtime_r(&sec, &tm);
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        n[1] += (size_t)sprintf(want[1] + n[1], "%s.%06lld [%s] fixture[%u] tid %u: %s\n", when,
                                (long long)(r->wall_ns % NS / 1000), level_names[r->level],
                                (unsigned)writer_pid, (unsigned)r->tid, e);
        /* cat, raw */
        n[2] += (size_t)sprintf(want[2] + n[2], "%s\n", e);
        n[3] += (size_t)sprintf(want[3] + n[3], "<%d>[%5llu.%06llu] %s\n",
                                r->facility * 8 + r->level, s, us, e);
        /* json, json-pretty */
        char common[6][64];
        snprintf(common[0], 64, "%lld", (long long)(r->wall_ns / 1000));
        snprintf(common[1], 64, "%llu", (unsigned long long)(r->ts_ns / 1000));
        snprintf(common[2], 64, "%d", r->level);
        snprintf(common[3], 64, "%d", r->facility);
        snprintf(common[4], 64, "%u", (unsigned)r->tid);
        snprintf(common[5], 64, "%llu", (unsigned long long)r->seq);
        n[4] += (size_t)sprintf(want[4] + n[4],
                                "{\"__REALTIME_TIMESTAMP\":\"%s\",\"__MONOTONIC_TIMESTAMP\":\"%s\","
                                "\"PRIORITY\":\"%s\",\"SYSLOG_FACILITY\":\"%s\","
                                "\"SYSLOG_IDENTIFIER\":\"fixture\",\"_COMM\":\"fixture\","
                                "\"_PID\":\"%u\",\"TID\":\"%s\",\"NBLOG_SEQ\":\"%s\",%s"
                                "\"MESSAGE\":%s}\n",
                                common[0], common[1], common[2], common[3], (unsigned)writer_pid,
                                common[4], common[5], flag_fields(r, 0), json_message(r, 0));
        n[5] += (size_t)sprintf(want[5] + n[5],
                                "{\n\t\"__REALTIME_TIMESTAMP\" : \"%s\",\n"
                                "\t\"__MONOTONIC_TIMESTAMP\" : \"%s\",\n\t\"PRIORITY\" : \"%s\",\n"
                                "\t\"SYSLOG_FACILITY\" : \"%s\",\n"
                                "\t\"SYSLOG_IDENTIFIER\" : \"fixture\",\n"
                                "\t\"_COMM\" : \"fixture\",\n\t\"_PID\" : \"%u\",\n"
                                "\t\"TID\" : \"%s\",\n\t\"NBLOG_SEQ\" : \"%s\",\n%s"
                                "\t\"MESSAGE\" : %s\n}\n",
                                common[0], common[1], common[2], common[3], (unsigned)writer_pid,
                                common[4], common[5], flag_fields(r, 1), json_message(r, 1));
        /* --format kmsg: the /dev/kmsg-like line */
        n[6] +=
            (size_t)sprintf(want[6] + n[6], "%d,%llu,%llu,-;%s\n", r->facility * 8 + r->level,
                            (unsigned long long)r->seq, (unsigned long long)(r->ts_ns / 1000), e);
    }
    expect_output(want[0], ring, NULL);
    expect_output(want[0], "-o", "plain", ring, NULL);
    expect_output(want[1], "-o", "short", ring, NULL);
    expect_output(want[2], "-o", "cat", ring, NULL);
    expect_output(want[3], "-o", "raw", ring, NULL);
    expect_output(want[3], "--output", "kmsg", ring, NULL);
    expect_output(want[4], "-o", "json", ring, NULL);
    expect_output(want[5], "-o", "json-pretty", ring, NULL);
    expect_output(want[6], "--format", "kmsg", ring, NULL);
    /* --format json stays nblog's own object. */
    char *out;
    assert_int_equal(
        dmesg(&out, "--format", "json", "--since-seq", "3", "--until-seq", "3", ring, NULL), 0);
    assert_non_null(strstr(out, "{\"seq\":3,\"level\":\"debug\",\"ts\":\"2026-12-01T10:00:00.5"));
    assert_non_null(strstr(out, "\"text_bytes\":[98,97,100,32,255,"));
    free(out);
}

/* ------------------------------------------------------ JSON read back */

/* Decodes the JSON value at *p (a string or an array of numbers) into
 * out; returns its length. Only what -o json writes. */
static size_t json_value(const char **p, char *out)
{
    size_t n = 0;
    const char *s = *p;
    if (*s == '[') {
        for (s++; *s != ']';) {
            char *end;
            unsigned long v = strtoul(s, &end, 10);
            assert_true(end != s && v < 256);
            out[n++] = (char)v;
            s = end;
            if (*s == ',')
                s++;
        }
        *p = s + 1;
        return n;
    }
    assert_int_equal(*s, '"');
    for (s++; *s != '"'; s++) {
        unsigned char c = (unsigned char)*s;
        assert_true(c >= 0x20); /* no raw control in a JSON string */
        if (c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        s++;
        if (*s == 'u') {
            unsigned v;
            assert_int_equal(sscanf(s + 1, "%4x", &v), 1);
            s += 4;
            if (v < 0x80) {
                out[n++] = (char)v;
            } else if (v < 0x800) {
                out[n++] = (char)(0xc0 | v >> 6);
                out[n++] = (char)(0x80 | (v & 0x3f));
            } else {
                out[n++] = (char)(0xe0 | v >> 12);
                out[n++] = (char)(0x80 | (v >> 6 & 0x3f));
                out[n++] = (char)(0x80 | (v & 0x3f));
            }
        } else {
            out[n++] = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
        }
    }
    *p = s + 1;
    return n;
}

static void test_json_lossless(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(dmesg(&out, "-o", "json", ring, NULL), 0);
    int i = 0;
    for (const char *p = out; (p = strstr(p, "\"MESSAGE\":")); i++) {
        p += sizeof "\"MESSAGE\":" - 1;
        char text[1024];
        size_t len = json_value(&p, text);
        assert_true(i < nrecs);
        assert_int_equal(len, recs[i].len);
        assert_memory_equal(text, recs[i].text, len);
    }
    assert_int_equal(i, nrecs);
    free(out);
}

/* ------------------------------------------------------ dmesg -F */

static void test_dmesg_reads_raw(void **state)
{
    (void)state;
    if (access("/usr/bin/dmesg", X_OK) != 0 && access("/bin/dmesg", X_OK) != 0)
        skip();
    char raw[200], back[200];
    snprintf(raw, sizeof raw, "%s.raw", ring);
    snprintf(back, sizeof back, "%s.back", ring);
    char *out;
    assert_int_equal(dmesg(&out, "-o", "raw", ring, NULL), 0);
    FILE *f = fopen(raw, "w");
    assert_non_null(f);
    fputs(out, f);
    fclose(f);
    /* -r prints each record as read, "<PRI>[time] text": what we wrote. */
    char *rargs[] = {"/usr/bin/dmesg", "-F", raw, "-r", NULL};
    if (access(rargs[0], X_OK) != 0)
        rargs[0] = "/bin/dmesg";
    assert_int_equal(run_to_file(rargs, back), 0);
    char *again = slurp(back);
    assert_string_equal(again, out);
    free(again);
    /* -x decodes facility and level; the time and text come through. */
    char *xargs[] = {rargs[0], "-F", raw, "-x", "--color=never", NULL};
    assert_int_equal(run_to_file(xargs, back), 0);
    char *decoded = slurp(back);
    char line[512];
    for (int i = 0; i < nrecs; i++) {
        static const char *const dl[] = {"emerg", "alert",  "crit", "err",
                                         "warn",  "notice", "info", "debug"};
        snprintf(line, sizeof line, "user  :%-6s: [%5llu.%06llu] %s\n", dl[recs[i].level],
                 (unsigned long long)(recs[i].ts_ns / 1000000000u),
                 (unsigned long long)(recs[i].ts_ns / 1000u % 1000000u), escaped(&recs[i]));
        if (!strstr(decoded, line))
            fail_msg("dmesg -F -x has no line \"%s\":\n%s", line, decoded);
    }
    free(decoded);
    free(out);
    unlink(raw);
    unlink(back);
}

/* ------------------------------------------------------ follow */

static void test_follow_filtered(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "dmesg-follow");
    int wp[2];
    assert_int_equal(pipe2(wp, O_CLOEXEC), 0);
    char *wargs[] = {writer, "ticks", file, NULL};
    setenv("NBLOG_CONSOLES", "none", 1); /* its lines only in the ring */
    pid_t w = spawn_child(wargs, -1, wp[1]);
    unsetenv("NBLOG_CONSOLES");
    close(wp[1]);
    struct line_reader wl = {.fd = wp[0]};
    char line[256];
    assert_int_equal(read_line(&wl, line, sizeof line, HANG_GUARD_MS), 1); /* it started */

    /* Only "tick N7" lines, as they come, then SIGINT: exit 0. */
    int fp[2];
    assert_int_equal(pipe2(fp, O_CLOEXEC), 0);
    char *fargs[] = {tool, "dmesg", "--follow", "--grep", "^tick [0-9]*7$", "-o", "cat",
                     "-p", "info",  file,       NULL};
    pid_t f = spawn_child(fargs, -1, fp[1]);
    close(fp[1]);
    struct line_reader fl = {.fd = fp[0]};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(read_line(&fl, line, sizeof line, HANG_GUARD_MS), 1);
        char want[32];
        snprintf(want, sizeof want, "tick %d", i * 10 + 7);
        assert_string_equal(line, want);
    }
    kill(f, SIGINT);
    assert_int_equal(wait_child(f), 0);
    close(fp[0]);

    /* --until-seq ends a follower by itself, once it printed that seq. */
    assert_int_equal(pipe2(fp, O_CLOEXEC), 0);
    char *uargs[] = {tool, "dmesg", "-f",  "--since-seq", "40", "--until-seq",
                     "42", "-o",    "cat", file,          NULL};
    f = spawn_child(uargs, -1, fp[1]);
    close(fp[1]);
    fl = (struct line_reader){.fd = fp[0]};
    for (int i = 40; i <= 42; i++) {
        assert_int_equal(read_line(&fl, line, sizeof line, HANG_GUARD_MS), 1);
        char want[32];
        snprintf(want, sizeof want, "tick %d", i);
        assert_string_equal(line, want);
    }
    assert_int_equal(read_line(&fl, line, sizeof line, HANG_GUARD_MS), 0); /* EOF */
    assert_int_equal(wait_child(f), 0);
    close(fp[0]);

    /* -n 2 then follow: the last two, then new ones. */
    assert_int_equal(pipe2(fp, O_CLOEXEC), 0);
    char *nargs[] = {tool, "dmesg", "-f", "-n", "2", "-o", "cat", file, NULL};
    f = spawn_child(nargs, -1, fp[1]);
    close(fp[1]);
    fl = (struct line_reader){.fd = fp[0]};
    long first = -1, prev = -1;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(read_line(&fl, line, sizeof line, HANG_GUARD_MS), 1);
        long t = strtol(line + 5, NULL, 10);
        if (first < 0)
            first = t;
        else
            assert_int_equal(t, prev + 1);
        prev = t;
    }
    assert_true(first >= 41); /* the last two when it started: 42 was there */
    kill(f, SIGTERM);
    assert_int_equal(wait_child(f), 0);
    close(fp[0]);
    kill(w, SIGKILL);
    wait_child(w);
    close(wp[0]);
    unlink(file);
}

/* ------------------------------------------------------ terminal */

/* Runs nblog dmesg ARGS with stdout on a new pseudo-terminal; returns its
 * exit status and what the terminal got (free it). */
static int on_terminal(char **got, char *const args[])
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(s >= 0);
    pid_t pid = spawn_child(args, -1, s);
    close(s);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        struct pollfd p = {.fd = m, .events = POLLIN};
        int pr = poll(&p, 1, HANG_GUARD_MS);
        assert_true(pr > 0 || (pr < 0 && errno == EINTR));
        if (pr < 0)
            continue;
        ssize_t k = read(m, buf + n, cap - n - 1);
        if (k <= 0) /* EIO: every slave end is closed */
            break;
        n += (size_t)k;
        assert_true(n < cap - 1);
    }
    buf[n] = '\0';
    close(m);
    *got = buf;
    return wait_child(pid);
}

static void test_pager(void **state)
{
    (void)state;
    char script[200], mark[200], copy[200], cmd[700];
    snprintf(script, sizeof script, "%s.pager", ring);
    snprintf(mark, sizeof mark, "%s.mark", ring);
    snprintf(copy, sizeof copy, "%s.copy", ring);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "echo \"ran $1 LESS=$LESS\" > '%s'\ncat > '%s'\n", mark, copy);
    fclose(f);
    char *cat_out;
    assert_int_equal(dmesg(&cat_out, "-o", "cat", ring, NULL), 0);
    char *args[] = {tool, "dmesg", "-o", "cat", ring, NULL};
    char *got;

    /* $PAGER on a terminal: it gets the whole output; LESS set for it. */
    unsetenv("LESS");
    snprintf(cmd, sizeof cmd, "sh '%s' pager", script);
    setenv("PAGER", cmd, 1);
    unlink(mark);
    assert_int_equal(on_terminal(&got, args), 0);
    free(got);
    char *m = slurp(mark);
    assert_string_equal(m, "ran pager LESS=FRSXMK\n");
    free(m);
    char *c = slurp(copy);
    assert_string_equal(c, cat_out);
    free(c);

    /* $SYSTEMD_PAGER comes first. */
    snprintf(cmd, sizeof cmd, "sh '%s' systemd", script);
    setenv("SYSTEMD_PAGER", cmd, 1);
    setenv("PAGER", "false", 1);
    unlink(mark);
    assert_int_equal(on_terminal(&got, args), 0);
    free(got);
    m = slurp(mark);
    assert_string_equal(m, "ran systemd LESS=FRSXMK\n");
    free(m);

    /* --no-pager: straight to the terminal; and "cat" means no pager. */
    unlink(mark);
    char *np[] = {tool, "dmesg", "--no-pager", "-o", "cat", ring, NULL};
    assert_int_equal(on_terminal(&got, np), 0);
    assert_non_null(strstr(got, "started server\r\n"));
    free(got);
    setenv("SYSTEMD_PAGER", "cat", 1);
    assert_int_equal(on_terminal(&got, args), 0);
    assert_non_null(strstr(got, "started server\r\n"));
    free(got);
    assert_int_equal(access(mark, F_OK), -1);

    /* Not a terminal: no pager. */
    snprintf(cmd, sizeof cmd, "sh '%s' file", script);
    setenv("SYSTEMD_PAGER", cmd, 1);
    char *out;
    assert_int_equal(dmesg(&out, "-o", "cat", ring, NULL), 0);
    free(out);
    assert_int_equal(access(mark, F_OK), -1);
    /* Nor when following. */
    char *fargs[] = {tool, "dmesg", "-f", "--until-seq", "1", "-o", "cat", ring, NULL};
    assert_int_equal(on_terminal(&got, fargs), 0);
    assert_non_null(strstr(got, "Queue FULL at 93%\r\n"));
    free(got);
    assert_int_equal(access(mark, F_OK), -1);

    unsetenv("SYSTEMD_PAGER");
    unsetenv("PAGER");
    free(cat_out);
    unlink(script);
    unlink(copy);
}

static void test_color(void **state)
{
    (void)state;
    static const char red[] = "\033[1;31m", reset[] = "\033[0m";
    char *out;
    /* always, into a file: plain colours the padded level, short the
     * bracketed one (as the library's human format does). */
    assert_int_equal(dmesg(&out, "--color=always", "--until-seq", "0", ring, NULL), 0);
    assert_non_null(strstr(out, "] \033[1;31merr    \033[0m #0 tid"));
    free(out);
    assert_int_equal(dmesg(&out, "--color=always", "-o", "short", "--until-seq", "0", ring, NULL),
                     0);
    assert_non_null(strstr(out, " \033[1;31m[err]\033[0m fixture["));
    free(out);
    /* Formats without a level to colour stay plain. */
    assert_int_equal(dmesg(&out, "--color=always", "-o", "json", ring, NULL), 0);
    assert_null(strstr(out, "\033"));
    free(out);
    /* auto into a file: none. */
    assert_int_equal(dmesg(&out, "--color", "-o", "short", ring, NULL), 0);
    assert_null(strstr(out, "\033"));
    free(out);
    /* auto on a terminal: coloured; NO_COLOR or never: not. */
    setenv("SYSTEMD_PAGER", "", 1);
    setenv("TERM", "xterm", 1);
    char *args[] = {tool, "dmesg", "-o", "short", ring, NULL};
    assert_int_equal(on_terminal(&out, args), 0);
    assert_non_null(strstr(out, red));
    assert_non_null(strstr(out, reset));
    free(out);
    setenv("NO_COLOR", "1", 1);
    assert_int_equal(on_terminal(&out, args), 0);
    assert_null(strstr(out, "\033"));
    free(out);
    unsetenv("NO_COLOR");
    char *never[] = {tool, "dmesg", "--color=never", "-o", "short", ring, NULL};
    assert_int_equal(on_terminal(&out, never), 0);
    assert_null(strstr(out, "\033"));
    free(out);
    unsetenv("SYSTEMD_PAGER");
}

/* ------------------------------------------------------ parsers */

static void test_parse_time(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    const int64_t now = utc(2026, 12, 2, 13, 30, 15) + 250000000; /* a Wednesday */
    const int64_t mid = utc(2026, 12, 2, 0, 0, 0);
    static const struct {
        const char *text;
        int64_t want; /* relative to 0 */
    } abs_cases[] = {
        {"2026-12-02 10:00:00", 0},      {"2026-12-02T10:00:00Z", 0},
        {"2026-12-02 10:00", 0},         {"2026-12-02T11:00:00+01:00", 0},
        {"2026-12-02T05:00:00-0500", 0}, {"2026-12-02 10:00:00 UTC", 0},
        {"  2026-12-02 10:00:00  ", 0},
    };
    int64_t ten = utc(2026, 12, 2, 10, 0, 0), out;
    for (size_t i = 0; i < sizeof abs_cases / sizeof abs_cases[0]; i++) {
        if (tool_parse_time(abs_cases[i].text, now, &out) != 0 || out != ten + abs_cases[i].want)
            fail_msg("\"%s\": %lld, want %lld", abs_cases[i].text, (long long)out, (long long)ten);
    }
    struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"now", now},
        {"today", mid},
        {"yesterday", mid - 86400 * NS},
        {"tomorrow", mid + 86400 * NS},
        {"10:00", ten},
        {"10:00:30.5", ten + 30 * NS + NS / 2},
        {"2026-12-02", mid},
        {"2026-12-02T10:00:00.123456Z", ten + 123456000},
        {"@1796205600", utc(2026, 12, 2, 10, 0, 0)},
        {"@1796205600.25", utc(2026, 12, 2, 10, 0, 0) + NS / 4},
        {"-1h", now - 3600 * NS},
        {"+5min", now + 300 * NS},
        {"-30", now - 30 * NS},
        {"10 min ago", now - 600 * NS},
        {"1h 30min ago", now - 5400 * NS},
        {"1h30min ago", now - 5400 * NS},
        {"2 days ago", now - 2 * 86400 * NS},
        {"1.5h ago", now - 5400 * NS},
        {"3 weeks ago", now - 21 * 86400 * NS},
        {"500ms ago", now - NS / 2},
        {"-1M", now - 2629800 * NS},
        {"2024-02-29 00:00", utc(2024, 2, 29, 0, 0, 0)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (tool_parse_time(cases[i].text, now, &out) != 0 || out != cases[i].want)
            fail_msg("\"%s\": %lld, want %lld", cases[i].text, (long long)out,
                     (long long)cases[i].want);
    /* Local time: TZ's. */
    setenv("TZ", "EST5", 1);
    tzset();
    assert_int_equal(tool_parse_time("2026-12-02 05:00:00", now, &out), 0);
    assert_true(out == ten);
    assert_int_equal(tool_parse_time("today", now, &out), 0);
    assert_true(out == mid + 5 * 3600 * NS); /* 08:30 EST: midnight EST is 05:00 UTC */
    setenv("TZ", "UTC", 1);
    tzset();
    static const char *const bad[] = {
        "",
        " ",
        "nowish",
        "2026-13-01",
        "2026-02-29",
        "2026-12-02 24:00",
        "2026-12-02 10:60",
        "10:00:61",
        "10",
        "10:0",
        "@",
        "@-5",
        "@1.",
        "-",
        "-h",
        "1 fortnight ago",
        "ago",
        " ago",
        "10 min agoo",
        "2026-12-02T10:00:00+25:00",
        "2026-12-02T10:00:00Zjunk",
        "@99999999999",
        "99999999999 days ago",
        "+999999999999y",
        "2026-12-02 10:00:00.",
        "1h -30min ago",
        "x2026-12-02",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tool_parse_time(bad[i], now, &out) == 0)
            fail_msg("\"%s\" taken as %lld", bad[i], (long long)out);
    assert_int_equal(tool_parse_time(NULL, now, &out), -1);
    char longer[300];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(tool_parse_time(longer, now, &out), -1);
}

static void test_parse_levels(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned mask;
    } cases[] = {
        {"err", 0x0f},          {"3", 0x0f},
        {"debug", 0xff},        {"err,warning", 0x18},
        {"err,warn", 0x18},     {"3,4", 0x18},
        {"err..warning", 0x18}, {"warning..err", 0x18},
        {"3..4", 0x18},         {"..warning", 0x1f},
        {"notice..", 0xe0},     {"err+", 0x0f},
        {"-notice", 0xe0},      {"emerg,debug", 0x81},
        {"0..0", 0x01},         {"crit,info..debug", 0xc4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned mask = 0;
        if (tool_parse_levels(cases[i].text, &mask) != 0 || mask != cases[i].mask)
            fail_msg("\"%s\": 0x%x, want 0x%x", cases[i].text, mask, cases[i].mask);
    }
    static const char *const bad[] = {
        "",      ",",          "err,", ",err", "8",     "..",  "err...warning",
        "bogus", "err..bogus", "+",    "-",    "err++", "3..9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned mask = 0;
        if (tool_parse_levels(bad[i], &mask) == 0)
            fail_msg("\"%s\" taken as 0x%x", bad[i], mask);
    }
}

/* ------------------------------------------------------ call sites */

/* The call sites of the sites child: each one's line is taken on the
 * call's own line, so the test, calling them dry, knows the lines
 * without logging. */
static unsigned site_line[3];
static const char *const site_func[3] = {"sites_deferred", "sites_formatted", "sites_later"};

static void sites_deferred(int run, int i, int dry)
{
    site_line[0] = __LINE__; if (!dry) NBLOG_INFO("run %d deferred %d", run, i);
}

static void sites_formatted(int run, int i, int dry)
{
    site_line[1] = __LINE__; if (!dry) nblog_info("run %d formatted %d %s", run, i, "text");
}

static void sites_later(int run, int i, int dry)
{
    site_line[2] = __LINE__; if (!dry) nblog_printf(NBLOG_LEVEL_WARNING, "run %d later %d", run, i);
}

/* The sites' lines, called dry. */
static void sites_learn_lines(void)
{
    sites_deferred(0, 0, 1);
    sites_formatted(0, 0, 1);
    sites_later(0, 0, 1);
}

/* "--sites FILE RUN [wait]": logs from the sites above (run 1: the first
 * two; run 2: the other way round, then a third), and a record without one
 * (nblog_write); says "ready" on stdout and waits to be SIGKILLed. With
 * "wait", first logs "waiting" (no site), says "inited" and waits for a
 * byte on stdin. */
static int run_sites(int argc, char **argv)
{
    int run = atoi(argv[3]);
    nblog_options_t opt;
    tu_ring_options(&opt, argv[2], 64, 0);
    opt.program = "sites";
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    if (nblog_init(&opt) != NBLOG_OK)
        return 4;
    if (argc == 5) {
        char c;
        nblog_write(NBLOG_LEVEL_INFO, "waiting", 7);
        if (write(STDOUT_FILENO, "inited\n", 7) != 7 || read(STDIN_FILENO, &c, 1) != 1)
            return 5;
    }
    for (int i = 0; i < 2; i++) {
        if (run == 1) {
            sites_deferred(run, i, 0);
            sites_formatted(run, i, 0);
        } else {
            sites_formatted(run, i, 0);
            sites_deferred(run, i, 0);
            sites_later(run, i, 0);
        }
    }
    nblog_write(NBLOG_LEVEL_INFO, "no site", 7);
    if (write(STDOUT_FILENO, "ready\n", 6) != 6)
        return 5;
    alarm(60); /* in case the test died */
    for (;;)
        pause();
}

/* The file as site k's records keep it: __FILE__'s last bytes, as many as
 * an entry has room for beside the function (sites.c). */
static const char *site_file(int k)
{
    static const char file[] = __FILE__;
    size_t n = strlen(file), room = NBLOG_SITE_FILE_MAX - strlen(site_func[k]);
    return n > room ? &file[n - room] : file;
}

/* Starts the sites child for run on the file, waits for its "ready",
 * SIGKILLs it. */
static void sites_child(const char *file, int run)
{
    char runs[8];
    snprintf(runs, sizeof runs, "%d", run);
    char *args[] = {self, "--sites", (char *)file, runs, NULL};
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = spawn_child(args, -1, p[1]);
    close(p[1]);
    static struct line_reader lr;
    lr.fd = p[0];
    lr.len = 0;
    char line[64];
    assert_int_equal(read_line(&lr, line, sizeof line, HANG_GUARD_MS), 1);
    assert_string_equal(line, "ready");
    close(p[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(wait_child(pid), 128 + SIGKILL);
}

/* Entries of the file's call-site table in use (READY), read from the
 * file itself: what no public interface says. */
static int sites_used(const char *file)
{
    size_t len;
    char *mem = tu_slurp(file, &len);
    assert_non_null(mem);
    const struct nblog__ring_hdr *r = (const void *)mem;
    assert_true(len >= sizeof *r && r->total_size <= len && r->sites > 0);
    uint64_t at = nblog__ring_sites_offset(r);
    assert_true(at + (uint64_t)r->sites * NBLOG__SITE_ENTRY <= len);
    int used = 0;
    for (uint32_t i = 0; i < r->sites; i++) {
        uint64_t st;
        memcpy(&st, mem + at + (size_t)i * NBLOG__SITE_ENTRY, sizeof st);
        used += (st & 3) == NBLOG__SITE_READY;
    }
    free(mem);
    return used;
}

/* The value of "KEY":"..." or "KEY":[...] in a json line (up to its
 * '\n'), decoded into out (NUL-terminated); 0 if the line has no KEY. */
static int json_field(const char *line, const char *key, char *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *nl = strchr(line, '\n');
    const char *p = strstr(line, pat);
    if (!p || (nl && p > nl))
        return 0;
    p += strlen(pat);
    out[json_value(&p, out)] = '\0';
    return 1;
}

/* -o json of the file: each line's MESSAGE and call site against what the
 * child logged ("run R KIND I": the site KIND names). Returns the lines. */
static int check_site_json(const char *file, int runs)
{
    char *out;
    assert_int_equal(dmesg(&out, "-o", "json", file, NULL), 0);
    int lines = 0, with_site = 0;
    for (const char *l = out; *l; lines++) {
        char msg[256], f[256], ln[32], fn[128];
        assert_true(json_field(l, "MESSAGE", msg));
        int has = json_field(l, "CODE_FILE", f);
        assert_int_equal(json_field(l, "CODE_LINE", ln), has);
        assert_int_equal(json_field(l, "CODE_FUNC", fn), has);
        if (!strcmp(msg, "no site")) {
            assert_false(has);
        } else {
            int run, i;
            char kind[16];
            assert_int_equal(sscanf(msg, "run %d %15s %d", &run, kind, &i), 3);
            assert_true(run >= 1 && run <= runs);
            int k = !strcmp(kind, "deferred") ? 0 : !strcmp(kind, "formatted") ? 1 : 2;
            assert_true(has);
            assert_string_equal(f, site_file(k));
            assert_int_equal(strtoul(ln, NULL, 10), site_line[k]);
            assert_string_equal(fn, site_func[k]);
            with_site++;
        }
        const char *nl = strchr(l, '\n');
        assert_non_null(nl);
        l = nl + 1;
    }
    free(out);
    assert_int_equal(with_site, runs == 1 ? 4 : 4 + 6);
    return lines;
}

/* A child logging with NBLOG_INFO and nblog_info into a ring file is
 * SIGKILLed: another process (nblog dmesg) shows each record's file, line
 * and function from the table in the file. A second run on the same file
 * (resumed) reuses the entries of the same sites: both runs' records show
 * the same location, and the table grows by the new site only. */
static void test_sites_survive_kill(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "dmesg-sites");
    sites_learn_lines();
    sites_child(file, 1);
    assert_int_equal(check_site_json(file, 1), 5);
    assert_int_equal(sites_used(file), 2);
    sites_child(file, 2);
    assert_int_equal(check_site_json(file, 2), 5 + 7);
    assert_int_equal(sites_used(file), 3);

    /* --location: "FILE:LINE FUNC(): " before the text, none without a
     * site; --code-file and --code-func select by it. */
    char want[4096];
    size_t n = 0;
    for (int run = 1; run <= 2; run++) {
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < (run == 1 ? 2 : 3); j++) {
                int k = run == 1 ? j : j == 0 ? 1 : j == 1 ? 0 : 2;
                n += (size_t)snprintf(want + n, sizeof want - n, "%s:%u %s(): run %d %s %d%s\n",
                                      site_file(k), site_line[k], site_func[k], run,
                                      k == 0 ? "deferred" : k == 1 ? "formatted" : "later", i,
                                      k == 1 ? " text" : "");
            }
        }
        n += (size_t)snprintf(want + n, sizeof want - n, "no site\n");
    }
    expect_output(want, "-o", "cat", "--location", file, NULL);
    expect_output("run 1 formatted 0 text\nrun 1 formatted 1 text\n"
                  "run 2 formatted 0 text\nrun 2 formatted 1 text\n",
                  "-o", "cat", "--code-func", "sites_form*", file, NULL);
    char at[64];
    snprintf(at, sizeof at, "test-dmesg.c:%u", site_line[2]);
    expect_output("run 2 later 0\nrun 2 later 1\n", "-o", "cat", "--code-file", at, file, NULL);
    snprintf(at, sizeof at, ":%u", site_line[0]);
    expect_output("run 1 deferred 0\nrun 1 deferred 1\nrun 2 deferred 0\nrun 2 deferred 1\n", "-o",
                  "cat", "--code-file", at, "--code-func", "nothing", "--code-func", "*deferred",
                  file, NULL);
    expect_output("", "-o", "cat", "--code-file", "other.c", file, NULL);
    expect_output("", "-o", "cat", "--code-file", "tests/test-dmesg.c", file, NULL);
    snprintf(at, sizeof at, "*/test-dmesg.c:%u", site_line[2]);
    expect_output("run 2 later 0\nrun 2 later 1\n", "-o", "cat", "--code-file", at, file, NULL);
    /* The other text formats put it where the text starts. */
    char *out;
    assert_int_equal(dmesg(&out, "--location", "--until-seq", "0", file, NULL), 0);
    unsigned tid;
    char tail[1024];
    const char *sp = strstr(out, " tid ");
    assert_non_null(sp);
    assert_int_equal(sscanf(sp, " tid %u: %1023[^\n]", &tid, tail), 2);
    snprintf(want, sizeof want, "%s:%u sites_deferred(): run 1 deferred 0", site_file(0),
             site_line[0]);
    assert_string_equal(tail, want);
    free(out);
    assert_int_equal(dmesg(&out, "--location", "--format", "kmsg", "--until-seq", "0", file, NULL),
                     0);
    assert_non_null(strstr(out, ",-;"));
    assert_string_equal(strstr(out, ",-;") + 3, strcat(want, "\n"));
    free(out);
    assert_int_equal(dmesg(&out, "--format", "json", "--until-seq", "0", file, NULL), 0);
    snprintf(want, sizeof want, ",\"file\":\"%s\",\"line\":%u,\"func\":\"sites_deferred\",\"text\":",
             site_file(0), site_line[0]);
    assert_non_null(strstr(out, want));
    free(out);
    /* Bad values. */
    assert_int_equal(dmesg(NULL, "--code-file", "x.c:0", file, NULL), EXIT_USAGE);
    assert_int_equal(dmesg(NULL, "--code-func", "", file, NULL), EXIT_USAGE);
    unlink(file);
}

/* A follower that opened the file before the sites were first logged
 * (their entries made after it mapped the table) shows them. */
static void test_sites_followed(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "dmesg-sites-follow");
    sites_learn_lines();
    int in[2], wp[2], fp[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(wp, O_CLOEXEC), 0);
    assert_int_equal(pipe2(fp, O_CLOEXEC), 0);
    char *wargs[] = {self, "--sites", file, "1", "wait", NULL};
    pid_t w = spawn_child(wargs, in[0], wp[1]);
    close(in[0]);
    close(wp[1]);
    struct line_reader wl = {.fd = wp[0]};
    char line[512], want[512];
    assert_int_equal(read_line(&wl, line, sizeof line, HANG_GUARD_MS), 1);
    assert_string_equal(line, "inited");
    char *fargs[] = {tool, "dmesg", "-f", "--location", "-o", "cat", file, NULL};
    pid_t f = spawn_child(fargs, -1, fp[1]);
    close(fp[1]);
    static struct line_reader fl;
    fl.fd = fp[0];
    fl.len = 0;
    assert_int_equal(read_line(&fl, line, sizeof line, HANG_GUARD_MS), 1);
    assert_string_equal(line, "waiting"); /* the follower has the file */
    assert_int_equal(write(in[1], "x", 1), 1);
    for (int i = 0; i < 4; i++) {
        int k = i % 2;
        assert_int_equal(read_line(&fl, line, sizeof line, HANG_GUARD_MS), 1);
        snprintf(want, sizeof want, "%s:%u %s(): run 1 %s %d%s", site_file(k), site_line[k],
                 site_func[k], k ? "formatted" : "deferred", i / 2, k ? " text" : "");
        assert_string_equal(line, want);
    }
    assert_int_equal(read_line(&fl, line, sizeof line, HANG_GUARD_MS), 1);
    assert_string_equal(line, "no site");
    kill(f, SIGTERM);
    assert_int_equal(wait_child(f), 0);
    kill(w, SIGKILL);
    assert_int_equal(wait_child(w), 128 + SIGKILL);
    close(fp[0]);
    close(wp[0]);
    close(in[1]);
    unlink(file);
}

/* Copies into the file's entry for line (a READY one) an entry of
 * (file, line, func) made by the table's own writer code, in a scratch
 * ring: its hash is right for bytes a reader must not trust. The writer
 * stores a control byte as '?'; poison puts ESC back in its place after
 * the hash was taken (what only a hostile file holds). */
static void forge_site(const char *path, unsigned line, const char *file, const char *func,
                       int poison)
{
    struct nblog__ring_geom g;
    nblog__ring_geom_make(&g, 16, 128, 0, 0);
    size_t bytes = nblog__ring_bytes_geom(&g);
    void *mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    assert_non_null(mem);
    memset(mem, 0, bytes);
    nblog__ring_format_geom(mem, &g, 0);
    uint32_t idx = nblog__ring_site_register(mem, file, line, func);
    assert_true(idx >= 1 && idx <= ((struct nblog__ring_hdr *)mem)->sites);
    char *made = (char *)mem + nblog__ring_sites_offset(mem) +
                 (size_t)(idx - 1) * NBLOG__SITE_ENTRY;
    if (poison) {
        char *q = memchr(made + offsetof(struct nblog__site_entry, text), '?',
                         NBLOG__SITE_TEXT);
        assert_non_null(q);
        *q = '\x1b';
    }
    size_t len;
    char *img = tu_slurp(path, &len);
    assert_non_null(img);
    const struct nblog__ring_hdr *r = (const void *)img;
    uint64_t at = nblog__ring_sites_offset(r);
    int done = 0;
    for (uint32_t i = 0; i < r->sites && !done; i++) {
        const struct nblog__site_entry *e =
            (const void *)(img + at + (size_t)i * NBLOG__SITE_ENTRY);
        uint64_t st;
        memcpy(&st, (const void *)&e->state, sizeof st);
        if ((st & 3) != NBLOG__SITE_READY || e->line != line)
            continue;
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        off_t off = (off_t)(at + (uint64_t)i * NBLOG__SITE_ENTRY);
        assert_int_equal(pwrite(fd, made, NBLOG__SITE_ENTRY, off), NBLOG__SITE_ENTRY);
        close(fd);
        done = 1;
    }
    assert_true(done);
    free(img);
    free(mem);
}

/* A hostile file's call sites: an entry whose bytes a terminal would act
 * on or are not UTF-8 (C1 CSI as UTF-8, '"', '\\', 0xff), its hash right,
 * is shown escaped (json: CODE_FUNC as its bytes, journald's way; the text
 * formats as they escape text); one holding a control byte is refused (its
 * records show none). */
static void test_sites_hostile(void **state)
{
    (void)state;
    char file[128];
    tu_ring_name(file, sizeof file, "dmesg-hostile");
    sites_learn_lines();
    sites_child(file, 1);
    forge_site(file, site_line[0], "dir/\xc2\x9b[31m\"q\\.c", "f\xff", 0);
    forge_site(file, site_line[1], "ctl\x1b.c", "g", 1);
    char *out, want[512];
    assert_int_equal(dmesg(&out, "-o", "json", file, NULL), 0);
    snprintf(want, sizeof want,
             "\"CODE_FILE\":\"dir/\\u009b[31m\\\"q\\\\.c\",\"CODE_LINE\":\"%u\","
             "\"CODE_FUNC\":[102,255],\"MESSAGE\":\"run 1 deferred 0\"}\n",
             site_line[0]);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "\"NBLOG_SEQ\":\"1\",\"MESSAGE\":\"run 1 formatted 0 text\"}\n"));
    assert_null(strstr(out, "ctl"));
    free(out);
    snprintf(want, sizeof want,
             "dir/\\xc2\\x9b[31m\"q\\x5c.c:%u f\\xff(): run 1 deferred 0\n"
             "run 1 formatted 0 text\n"
             "dir/\\xc2\\x9b[31m\"q\\x5c.c:%u f\\xff(): run 1 deferred 1\n"
             "run 1 formatted 1 text\nno site\n",
             site_line[0], site_line[0]);
    expect_output(want, "-o", "cat", "--location", file, NULL);
    unlink(file);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--writer"))
        return run_writer(argc, argv);
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--sites"))
        return run_sites(argc, argv);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),      cmocka_unit_test(test_parse_levels),
        cmocka_unit_test(test_each_filter),     cmocka_unit_test(test_filter_pairs),
        cmocka_unit_test(test_times),           cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_formats_exact),   cmocka_unit_test(test_json_lossless),
        cmocka_unit_test(test_dmesg_reads_raw), cmocka_unit_test(test_follow_filtered),
        cmocka_unit_test(test_pager),           cmocka_unit_test(test_color),
        cmocka_unit_test(test_sites_survive_kill), cmocka_unit_test(test_sites_followed),
        cmocka_unit_test(test_sites_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

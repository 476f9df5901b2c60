/*
 * test-console-stress.c - consoles under stress: the seed scenario, every
 * console stuck at once, and exact per-console books under churn.
 *
 * Every console here is an in-memory "capture" console: its write op parses
 * each line it is given (kmsg prefix, \xNN escapes, the test's own text) and
 * keeps books, so the test knows exactly what reached each console:
 *
 *   - Every test record's text carries its writer id, the writer's own
 *     counter, its level, a padding whose length and letters depend on them
 *     (sometimes with control bytes, to exercise escaping) and an FNV-1a
 *     checksum of all that. A parsed line is regenerated from (id, counter,
 *     level) and compared byte for byte: a torn or garbled line cannot pass.
 *   - Per writer, counters must arrive strictly increasing (a thread's
 *     records are stored in its call order): no duplicate, no reordering.
 *   - On kmsg consoles the line's seq must be strictly increasing, and the
 *     gap between two printed seqs must be covered by the
 *     "** N messages dropped **" notices in between (exactly, on consoles
 *     that filter nothing).
 *   - The write op also checks that no two writes to one console overlap
 *     (the ownership word), that nothing is written after teardown, and
 *     that every buffer is whole lines.
 *
 * At a quiescent point (writers joined, nblog_flush returned 0, the store's
 * head equal to the console's next_seq before and after the capture is
 * read) each console's books must satisfy, exactly:
 *
 *   printed + filtered + dropped + write_failed == next_seq - start_seq
 *   lines captured == printed, sum of notices' N == dropped
 *
 * The tests (docs/design.md, promises 1-4):
 *   1. The seed scenario: "fbcon" blocks on a mutex a "stalled allocator"
 *      thread holds; "serial" must get every stored record meanwhile, every
 *      logging call must return, and after the allocator lets go fbcon's
 *      books must be exact (drops reported, exactly).
 *   2. Every console stuck at once (one of them direct-mode): logging goes
 *      on; afterwards each console's books are exact and it prints again.
 *   3. Conservation under churn: writers, random suspend/resume and level
 *      changes, extra consoles registered and unregistered all along (with
 *      short writes, EINTR, EAGAIN and failed writes), and a monitor thread
 *      reading stats and flushing, as a program would, and using handles
 *      of consoles unregistered meanwhile: every call on them must say
 *      NBLOG_ESTALE and never reach the console that reuses the slot.
 *   4. The last reference dropped in a signal handler: an emergency record
 *      logged from a handler holds the console while another thread
 *      unregisters it and its printer exits; teardown must then run on a
 *      thread that may block, never in the handler or the logging thread.
 *   5. Calls that take a handle (stats, net_stats, reopen, suspend) racing
 *      with unregister and the teardown that frees the output's ctx
 *      (ASan: no use after free), and failing with NBLOG_ESTALE after.
 *   6. Registration racing with nblog_shutdown: every console registered
 *      before shutdown returned is gone after it (stale handle); after it,
 *      registration is refused (NBLOG_ENOTREADY) until nblog_init.
 *   7. The last free slot under transient references: every slot but one
 *      holds a console, threads poll a stale handle of the free slot's
 *      last console (NBLOG_ESTALE, harmlessly) and flush; a console
 *      registered and unregistered there 100 times must get the slot every
 *      time (never NBLOG_ENOMEM because a poller's reference was counted).
 *
 * No timing is asserted anywhere. Every wait gives up after GIVE_UP_S
 * seconds and fails the test.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h" /* nblog__printers_paused */
#include "nblog.h"
#include "testutil.h"

#define RING_RECORDS 4096 /* small: a stuck console really drops */
#define RECORD_SIZE 256
#define NWRITERS 4
/* Writer ids in the text: each test has its own 8 (consoles that start
 * from the oldest record see the previous test's records): base + 0 ..
 * base + NWRITERS-1 for the writer threads, base + 7 for markers the test
 * logs itself. */
#define MAX_T 32
#define MARK_T (g_tbase + 7)
static int g_tbase;
#define FACILITY 1
#define GIVE_UP_S 120
#define LINE_CAP 2048
#define MAX_EXTRAS_LIVE 6
#define CHURN_ACTIONS 2000 /* test 3 spreads the records over these */

/* ------------------------------------------------------------- helpers */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static uint64_t give_up_at(void)
{
    return now_ns() + (uint64_t)GIVE_UP_S * 1000000000u;
}

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            print_error("%s:%d: check failed: %s\n  ", __FILE__, __LINE__,     \
                        #cond);                                                \
            print_error(__VA_ARGS__);                                          \
            print_error("\n");                                                 \
            fail();                                                            \
        }                                                                      \
    } while (0)

/* A failure seen on a thread other than the test's: reported by the test's
 * thread (cmocka's fail() must run there). */
static _Atomic int g_thread_errors;
static char g_thread_error[256];

static void thread_error(const char *msg)
{
    if (atomic_fetch_add(&g_thread_errors, 1) == 0)
        snprintf(g_thread_error, sizeof g_thread_error, "%s", msg);
}

static uint64_t mix(uint64_t x)
{
    /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ------------------------------------------------------------ the text */

static const char pad_src[] = "abcdefghijklmnopqrstuvwxyz"
                              "abcdefghijklmnopqrstuvwxyz"
                              "abcdefghijklmnopqrstuvwxyz";
#define PAD_MAX 40

/* "csx t=T n=N l=L p=PAD[ctl] k=CHECKSUM": at most ~110 bytes. */
static size_t make_text(char *out, size_t cap, int t, uint32_t n, int level)
{
    char body[160];
    uint64_t h = mix((uint64_t)t << 32 | n);
    int plen = (int)(h % (PAD_MAX + 1));
    int off = (int)((h >> 16) % 26);
    int b = snprintf(body, sizeof body, "csx t=%d n=%" PRIu32 " l=%d p=", t, n, level);
    memcpy(body + b, pad_src + off, (size_t)plen);
    b += plen;
    if (n % 13 == 5) { /* bytes that must come out escaped */
        body[b++] = '\n';
        body[b++] = '\t';
        body[b++] = '\\';
        body[b++] = 0x7f;
        body[b++] = 0x1b;
    }
    uint64_t k = fnv1a(body, (size_t)b);
    int m = snprintf(out, cap, "%.*s k=%016" PRIx64, b, body, k);
    return (size_t)m;
}

/* ------------------------------------------------------------ captures */

/* What a capture console has seen. Copied out under the capture's lock. */
struct books {
    uint64_t lines;        /* lines that are records (test or foreign) */
    uint64_t failed_lines; /* record lines in writes we failed on purpose */
    uint64_t test_lines, foreign_lines, markers;
    uint64_t notices, notice_sum;
    uint64_t per_t[MAX_T];
    int64_t last_n[MAX_T];
    /* kmsg only */
    int have_seq;
    uint64_t first_seq, last_seq;
    uint64_t notices_before_first, notices_since_last;
    int max_level_seen;
    uint64_t errors;
    char first_error[200];
    size_t partial_len; /* bytes of an unfinished line (after a short count) */
    uint64_t calls;
};

struct cap {
    const char *name;
    int format;
    int exact_gaps; /* kmsg, filters nothing: gaps == notices exactly */
    int max_level;  /* no printed test line may be less severe */
    /* Behaviour of the write ops (deterministic, by call number). */
    pthread_mutex_t *block; /* write() waits for this mutex */
    _Atomic int atomic_eagain; /* write_atomic says -EAGAIN while set */
    unsigned short_every, eintr_every, fail_every, eagain_every;
    unsigned teardown_delay_us;

    _Atomic int in_write;
    _Atomic int blocked_now;   /* writes waiting on `block` */
    _Atomic int overlaps;      /* two writes at once: ownership broken */
    _Atomic int after_teardown;
    _Atomic int setups, teardowns;
    _Atomic int unregistered;  /* the test called unregister on it */
    _Atomic int bad_teardown;  /* teardown before unregister */

    /* Optional: which counters of each writer were seen (test 1's serial). */
    uint8_t *seen[NWRITERS];
    uint32_t seen_cap;

    pthread_mutex_t lock;
    int prev_short;
    uint64_t call_no;
    char partial[LINE_CAP];
    struct books b;
};

static void cap_init(struct cap *c, const char *name, int format, int exact)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->format = format;
    c->exact_gaps = exact;
    c->max_level = NBLOG_LEVEL_DEBUG;
    pthread_mutex_init(&c->lock, NULL);
    for (int t = 0; t < MAX_T; t++)
        c->b.last_n[t] = -1;
    c->b.max_level_seen = -1;
}

static void cap_error(struct cap *c, const char *fmt, const char *line, size_t len)
{
    if (c->b.errors++ == 0)
        snprintf(c->b.first_error, sizeof c->b.first_error, "%s: \"%.*s\"", fmt,
                 (int)(len > 120 ? 120 : len), line);
}

static int parse_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    if (s >= end || *s < '0' || *s > '9')
        return 0;
    while (s < end && *s >= '0' && *s <= '9') {
        x = x * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *p = s;
    *v = x;
    return 1;
}

static int expect_str(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* "** N messages dropped **" -> N; 0 if the line is not a notice. */
static uint64_t notice_count(const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    uint64_t n;
    if (!expect_str(&p, end, "** ") || !parse_u64(&p, end, &n) ||
        !expect_str(&p, end, " messages dropped **") || p != end || n == 0)
        return 0;
    return n;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Undoes the \xNN escaping; 0 if the line holds a raw control byte or a
 * backslash that is not an escape (the output could forge a line). */
static int unescape(const char *s, size_t len, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return 0;
        if (ch == '\\') {
            if (i + 3 >= len)
                return 0;
            if (s[i + 1] != 'x' || hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0)
                return 0;
            out[o++] = (char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
            i += 3;
            continue;
        }
        out[o++] = (char)ch;
    }
    *outlen = o;
    return 1;
}

/* Checks one test text; returns 1 and (t, n, level), or 0. */
static int parse_test_text(const char *raw, size_t len, int *t, uint32_t *n, int *level)
{
    const char *p = raw, *end = raw + len;
    uint64_t tv, nv, lv;
    if (!expect_str(&p, end, "csx t=") || !parse_u64(&p, end, &tv) ||
        !expect_str(&p, end, " n=") || !parse_u64(&p, end, &nv) ||
        !expect_str(&p, end, " l=") || !parse_u64(&p, end, &lv))
        return 0;
    if (tv >= MAX_T || nv > UINT32_MAX || lv > 7)
        return 0;
    /* The checksum covers everything before " k=". */
    if (len < 19 || memcmp(end - 19, " k=", 3) != 0)
        return 0;
    char want_k[17];
    snprintf(want_k, sizeof want_k, "%016" PRIx64, fnv1a(raw, len - 19));
    if (memcmp(end - 16, want_k, 16) != 0)
        return 0;
    /* And the whole text is exactly what that writer logged. */
    char expect[256];
    size_t el = make_text(expect, sizeof expect, (int)tv, (uint32_t)nv, (int)lv);
    if (el != len || memcmp(expect, raw, len) != 0)
        return 0;
    *t = (int)tv;
    *n = (uint32_t)nv;
    *level = (int)lv;
    return 1;
}

/* One complete line (without its '\n'). failed: the write carrying it was
 * failed on purpose, so it counts as write_failed, not printed. */
static void cap_line(struct cap *c, const char *line, size_t len, int failed)
{
    struct books *b = &c->b;
    uint64_t drop = notice_count(line, len);
    if (!drop && c->format == NBLOG_FORMAT_KMSG) { /* kmsg-prefixed notice */
        const char *semi = memchr(line, ';', len);
        if (semi)
            drop = notice_count(semi + 1, len - (size_t)(semi + 1 - line));
    }
    if (drop) {
        b->notices++;
        b->notice_sum += drop;
        b->notices_since_last += drop;
        if (!b->have_seq)
            b->notices_before_first += drop;
        return;
    }
    const char *text = line;
    size_t tlen = len;
    int pri = -1;
    if (c->format == NBLOG_FORMAT_KMSG) {
        const char *p = line, *end = line + len;
        uint64_t prefix, seq, usec;
        if (!parse_u64(&p, end, &prefix) || !expect_str(&p, end, ",") ||
            !parse_u64(&p, end, &seq) || !expect_str(&p, end, ",") ||
            !parse_u64(&p, end, &usec) || !expect_str(&p, end, ",-;")) {
            cap_error(c, "bad kmsg prefix", line, len);
            return;
        }
        if (prefix < FACILITY * 8u || prefix > FACILITY * 8u + 7) {
            cap_error(c, "kmsg prefix has the wrong facility", line, len);
            return;
        }
        pri = (int)(prefix - FACILITY * 8u);
        if (b->have_seq) {
            uint64_t want = b->last_seq + 1 + b->notices_since_last;
            if (seq <= b->last_seq)
                cap_error(c, "seq not increasing (duplicate or out of order)", line, len);
            else if (seq < want)
                cap_error(c, "dropped notices claim more than the seq gap", line, len);
            else if (c->exact_gaps && seq != want)
                cap_error(c, "seq gap not covered by a dropped notice", line, len);
        } else {
            b->have_seq = 1;
            b->first_seq = seq;
        }
        b->last_seq = seq;
        b->notices_since_last = 0;
        text = p;
        tlen = (size_t)(end - p);
    }
    char raw[LINE_CAP];
    size_t rlen;
    if (!unescape(text, tlen, raw, &rlen)) {
        cap_error(c, "unescaped control byte or stray backslash", line, len);
        return;
    }
    if (failed)
        b->failed_lines++;
    else
        b->lines++;
    if (rlen >= 4 && memcmp(raw, "csx ", 4) == 0) {
        int t, level;
        uint32_t n;
        if (!parse_test_text(raw, rlen, &t, &n, &level)) {
            cap_error(c, "torn or garbled test line", line, len);
            return;
        }
        if (pri >= 0 && pri != level)
            cap_error(c, "kmsg level differs from the record's", line, len);
        if (level > c->max_level)
            cap_error(c, "printed a record below the console's level", line, len);
        if (level > b->max_level_seen)
            b->max_level_seen = level;
        if ((int64_t)n <= b->last_n[t]) {
            char why[96];
            snprintf(why, sizeof why, "writer's counter not increasing (after %" PRId64
                     "): duplicate or out of order", b->last_n[t]);
            cap_error(c, why, line, len);
        }
        b->last_n[t] = n;
        b->per_t[t]++;
        if ((t & 7) < NWRITERS && c->seen[t & 7] && n < c->seen_cap)
            c->seen[t & 7][n] = 1;
        if ((t & 7) == 7)
            b->markers++;
        else
            b->test_lines++;
        return;
    }
    if (rlen >= 9 && memcmp(raw, "console \"", 9) == 0) {
        b->foreign_lines++; /* the stall watch's reports */
        return;
    }
    cap_error(c, "unknown line", line, len);
}

static void cap_feed(struct cap *c, const char *buf, size_t len, int failed)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            cap_line(c, c->partial, c->b.partial_len, failed);
            c->b.partial_len = 0;
            continue;
        }
        if (c->b.partial_len >= LINE_CAP) {
            cap_error(c, "line too long", c->partial, c->b.partial_len);
            c->b.partial_len = 0;
        }
        c->partial[c->b.partial_len++] = buf[i];
    }
}

static ssize_t cap_write_common(struct cap *c, const char *buf, size_t len, int atomic)
{
    if (atomic_fetch_add(&c->in_write, 1) != 0)
        atomic_fetch_add(&c->overlaps, 1);
    if (atomic_load(&c->teardowns))
        atomic_fetch_add(&c->after_teardown, 1);
    if (atomic && atomic_load(&c->atomic_eagain)) {
        atomic_fetch_sub(&c->in_write, 1);
        return -EAGAIN;
    }
    if (!atomic && c->block) {
        atomic_fetch_add(&c->blocked_now, 1);
        pthread_mutex_lock(c->block);
        pthread_mutex_unlock(c->block);
        atomic_fetch_sub(&c->blocked_now, 1);
    }
    ssize_t ret;
    pthread_mutex_lock(&c->lock);
    uint64_t k = ++c->call_no;
    c->b.calls++;
    if (len == 0 || buf[len - 1] != '\n')
        cap_error(c, "write of something other than whole lines", buf, len);
    if (c->eintr_every && k % c->eintr_every == 0) {
        ret = -EINTR; /* nothing taken: must be retried */
    } else if (atomic && c->eagain_every && k % c->eagain_every == 0) {
        ret = -EAGAIN; /* nothing taken: the next owner continues */
    } else if (c->fail_every && !c->prev_short && k % c->fail_every == 0) {
        /* A whole batch fails: its lines count as write_failed. */
        if (c->b.partial_len)
            cap_error(c, "failed write does not start a line", buf, len);
        cap_feed(c, buf, len, 1);
        ret = -EIO;
    } else {
        size_t n = len;
        if (c->short_every && len > 1 && k % c->short_every == 1)
            n = len / 2 + (k % 7); /* usually cuts a line */
        if (n > len)
            n = len;
        cap_feed(c, buf, n, 0);
        c->prev_short = n < len;
        ret = (ssize_t)n;
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_sub(&c->in_write, 1);
    return ret;
}

static ssize_t cap_write(void *ctx, const char *buf, size_t len)
{
    return cap_write_common(ctx, buf, len, 0);
}

static ssize_t cap_write_atomic(void *ctx, const char *buf, size_t len)
{
    return cap_write_common(ctx, buf, len, 1);
}

static int cap_setup(void *ctx)
{
    struct cap *c = ctx;
    atomic_fetch_add(&c->setups, 1);
    return 0;
}

static void cap_teardown(void *ctx)
{
    struct cap *c = ctx;
    if (!atomic_load(&c->unregistered)) {
        atomic_fetch_add(&c->bad_teardown, 1);
        thread_error("teardown ran for a console that was never unregistered");
    }
    if (c->teardown_delay_us) /* an output that takes a while to close */
        sleep_us(c->teardown_delay_us);
    atomic_fetch_add(&c->teardowns, 1);
}

static struct books cap_books(struct cap *c)
{
    pthread_mutex_lock(&c->lock);
    struct books b = c->b;
    pthread_mutex_unlock(&c->lock);
    return b;
}

static nblog_console_t *cap_register(struct cap *c, int level, int mode,
                                     unsigned stall_ms)
{
    nblog_console_ops_t ops = {cap_write, NULL, cap_setup, cap_teardown};
    if (mode == NBLOG_MODE_DIRECT)
        ops.write_atomic = cap_write_atomic;
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = c->name;
    o.level = level;
    o.format = c->format;
    o.mode = mode;
    o.stall_ms = stall_ms;
    nblog_console_t *con = NULL;
    nblog_stats_t g0, g1;
    nblog_stats_get(&g0);
    int rc = nblog_console_register(&ops, c, &o, &con);
    nblog_stats_get(&g1);
    CHECK(rc == NBLOG_OK, "register %s: %s", c->name, nblog_strerror(rc));
    CHECK(atomic_load(&c->setups) == 1, "%s: setup ran %d times", c->name,
          atomic_load(&c->setups));
    /* It starts at the next record: the head when it was registered. */
    nblog_console_stats_t st;
    CHECK(nblog_console_stats(con, &st) == NBLOG_OK, "%s: stats", c->name);
    CHECK(st.start_seq >= g0.reserved && st.start_seq <= g1.reserved,
          "%s: start_seq %" PRIu64 " outside the head at registration [%" PRIu64
          ", %" PRIu64 "]",
          c->name, st.start_seq, g0.reserved, g1.reserved);
    return con;
}

static void wait_teardown(struct cap *c)
{
    uint64_t limit = give_up_at();
    while (atomic_load(&c->teardowns) == 0) {
        CHECK(now_ns() < limit, "gave up after %d s waiting for %s's teardown",
              GIVE_UP_S, c->name);
        sleep_us(1000);
    }
}

static void cap_unregister(nblog_console_t *con, struct cap *c)
{
    atomic_store(&c->unregistered, 1);
    int rc = nblog_console_unregister(con);
    CHECK(rc == NBLOG_OK, "unregister %s: %s", c->name, nblog_strerror(rc));
}

/* Checks that hold for any capture at any time. */
static void check_cap_sane(struct cap *c, const struct books *b)
{
    CHECK(b->errors == 0, "%s: %" PRIu64 " bad lines, first: %s", c->name, b->errors,
          b->first_error);
    CHECK(atomic_load(&c->overlaps) == 0, "%s: %d writes overlapped another",
          c->name, atomic_load(&c->overlaps));
    CHECK(atomic_load(&c->after_teardown) == 0, "%s: %d writes after teardown",
          c->name, atomic_load(&c->after_teardown));
    CHECK(atomic_load(&c->bad_teardown) == 0, "%s: teardown before unregister",
          c->name);
}

/*
 * Reads a console's stats and books at a quiescent point: the store's head
 * equals the console's next_seq, and neither moved while the books were
 * copied (so no batch was in flight). Retries (flushing) until so.
 */
static void quiescent(nblog_console_t *con, struct cap *c, nblog_console_stats_t *st,
                      struct books *b)
{
    uint64_t limit = give_up_at();
    for (;;) {
        nblog_stats_t g1, g2;
        nblog_console_stats_t a;
        nblog_stats_get(&g1);
        CHECK(nblog_console_stats(con, &a) == NBLOG_OK, "%s: stats", c->name);
        *b = cap_books(c);
        CHECK(nblog_console_stats(con, st) == NBLOG_OK, "%s: stats", c->name);
        nblog_stats_get(&g2);
        if (g1.reserved == g2.reserved && a.next_seq == g1.reserved &&
            st->next_seq == a.next_seq && st->printed == a.printed &&
            st->dropped == a.dropped && st->filtered == a.filtered &&
            st->write_failed == a.write_failed)
            return;
        CHECK(now_ns() < limit,
              "gave up after %d s waiting for %s to be quiescent (next_seq %" PRIu64
              ", head %" PRIu64 ")",
              GIVE_UP_S, c->name, st->next_seq, g2.reserved);
        nblog_flush(1000, NULL, 0);
        sleep_us(1000);
    }
}

/* The books of one console at a quiescent point. Returns its stats. */
static nblog_console_stats_t check_books(nblog_console_t *con, struct cap *c)
{
    nblog_console_stats_t st;
    struct books b;
    quiescent(con, c, &st, &b);
    check_cap_sane(c, &b);
    uint64_t range = st.next_seq - st.start_seq;
    uint64_t sum = st.printed + st.filtered + st.dropped + st.write_failed;
    print_message("  %-10s [%" PRIu64 ", %" PRIu64 "): printed %" PRIu64
                  " filtered %" PRIu64 " dropped %" PRIu64 " (%" PRIu64
                  " notices) write_failed %" PRIu64 "\n",
                  c->name, st.start_seq, st.next_seq, st.printed, st.filtered,
                  st.dropped, b.notices, st.write_failed);
    CHECK(st.next_seq >= st.start_seq, "%s: next_seq before start_seq", c->name);
    CHECK(sum == range,
          "%s: conservation: printed %" PRIu64 " + filtered %" PRIu64
          " + dropped %" PRIu64 " + write_failed %" PRIu64 " = %" PRIu64
          " != %" PRIu64 " records stored in [%" PRIu64 ", %" PRIu64 ")",
          c->name, st.printed, st.filtered, st.dropped, st.write_failed, sum, range,
          st.start_seq, st.next_seq);
    CHECK(b.lines == st.printed,
          "%s: %" PRIu64 " record lines captured, stats say %" PRIu64 " printed",
          c->name, b.lines, st.printed);
    CHECK(b.failed_lines == st.write_failed,
          "%s: %" PRIu64 " lines failed on purpose, stats say %" PRIu64 " write_failed",
          c->name, b.failed_lines, st.write_failed);
    if (st.write_failed)
        CHECK(st.last_error == -EIO, "%s: last_error %d, want -EIO", c->name,
              st.last_error);
    CHECK(b.notice_sum == st.dropped,
          "%s: dropped notices sum to %" PRIu64 ", stats say %" PRIu64 " dropped",
          c->name, b.notice_sum, st.dropped);
    CHECK(b.partial_len == 0, "%s: ends in an unfinished line", c->name);
    if (c->format == NBLOG_FORMAT_KMSG) {
        /* Lines printed or failed carry their seq: check they tile the
         * range with the notices and the filtered records. */
        uint64_t seen = b.lines + b.failed_lines;
        if (b.have_seq) {
            CHECK(b.first_seq >= st.start_seq + b.notices_before_first,
                  "%s: first printed seq %" PRIu64 " before start %" PRIu64
                  " + dropped %" PRIu64,
                  c->name, b.first_seq, st.start_seq, b.notices_before_first);
            CHECK(b.last_seq + 1 + b.notices_since_last <= st.next_seq,
                  "%s: printed seq %" PRIu64 " at or past next_seq %" PRIu64, c->name,
                  b.last_seq, st.next_seq);
            if (c->exact_gaps) {
                CHECK(b.first_seq == st.start_seq + b.notices_before_first,
                      "%s: first seq %" PRIu64 ", want start %" PRIu64
                      " + notices %" PRIu64,
                      c->name, b.first_seq, st.start_seq, b.notices_before_first);
                CHECK(b.last_seq + 1 + b.notices_since_last == st.next_seq,
                      "%s: last seq %" PRIu64 " + notices %" PRIu64
                      " does not reach next_seq %" PRIu64,
                      c->name, b.last_seq, b.notices_since_last, st.next_seq);
            }
        } else if (c->exact_gaps) {
            CHECK(st.start_seq + b.notice_sum == st.next_seq,
                  "%s: nothing printed, notices %" PRIu64 " do not cover [%" PRIu64
                  ", %" PRIu64 ")",
                  c->name, b.notice_sum, st.start_seq, st.next_seq);
        }
        CHECK(range - seen == st.filtered + st.dropped,
              "%s: seq gaps hold %" PRIu64 " records, filtered + dropped = %" PRIu64,
              c->name, range - seen, st.filtered + st.dropped);
    }
    if (c->exact_gaps)
        CHECK(st.filtered == 0, "%s filters nothing, yet filtered %" PRIu64, c->name,
              st.filtered);
    return st;
}

/* ------------------------------------------------------------- writers */

typedef int (*level_fn)(int t, uint32_t n);

static _Atomic uint64_t g_logged; /* logging calls returned, by 64s */

struct writer {
    pthread_t th;
    int t;
    uint32_t count;
    level_fn level_of;
    nblog_console_t *pace; /* optional: wait (between calls) for it to keep up */
    _Atomic uint64_t *gate; /* optional: spread the calls over this many actions */
    uint64_t gate_total;
    _Atomic uint64_t returned;
    uint8_t *stored; /* stored[n]: the call for counter n returned NBLOG_OK */
    uint64_t ok, lost, bad;
    int first_bad;
    _Atomic int done;
    _Atomic int pacing; /* waiting between calls for `pace` or `gate` */
    _Atomic int pace_gave_up;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char text[256];
    uint64_t limit = give_up_at();
    for (uint32_t n = 0; n < w->count; n++) {
        if (w->pace && n % 16 == 0) {
            /* Test-side flow control, between calls: the store is small, so
             * let the fast console stay within a quarter of it. The logging
             * call itself never waits. */
            atomic_store(&w->pacing, 1);
            for (;;) {
                nblog_console_stats_t st;
                if (nblog_console_stats(w->pace, &st) != NBLOG_OK ||
                    st.lag <= RING_RECORDS / 4)
                    break;
                if (now_ns() > limit) {
                    atomic_store(&w->pace_gave_up, 1);
                    w->pace = NULL;
                    break;
                }
                sleep_us(50);
            }
            atomic_store(&w->pacing, 0);
        }
        if (w->gate && n % 256 == 0) {
            /* Test-side pacing, between calls: spread the records over the
             * churn's actions so registrations, suspends and level changes
             * land all through the logging. */
            uint64_t want = (uint64_t)n * w->gate_total / w->count;
            atomic_store(&w->pacing, 1);
            while (atomic_load(w->gate) < want) {
                if (now_ns() > limit || atomic_load(&g_thread_errors)) {
                    w->gate = NULL;
                    break;
                }
                sleep_us(100);
            }
            atomic_store(&w->pacing, 0);
        }
        int level = w->level_of(w->t, n);
        make_text(text, sizeof text, w->t, n, level);
        int rc = nblog_printf(level, "%s", text);
        atomic_fetch_add_explicit(&w->returned, 1, memory_order_relaxed);
        if ((n & 63) == 63)
            atomic_fetch_add_explicit(&g_logged, 64, memory_order_relaxed);
        if (rc == NBLOG_OK) {
            w->ok++;
            w->stored[n] = 1;
        } else if (rc == NBLOG_ELOST) {
            /* The store's own, counted loss: a writer preempted for a whole
             * lap of this small ring pinned the slot. Every console counts
             * it as dropped. */
            w->lost++;
        } else if (w->bad++ == 0) {
            w->first_bad = rc;
        }
    }
    atomic_store(&w->done, 1);
    return NULL;
}

static void start_writers(struct writer *ws, uint32_t total, level_fn lf,
                          nblog_console_t *pace, _Atomic uint64_t *gate)
{
    for (int t = 0; t < NWRITERS; t++) {
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].t = g_tbase + t;
        ws[t].count = total / NWRITERS + (t < (int)(total % NWRITERS));
        ws[t].level_of = lf;
        ws[t].pace = pace;
        ws[t].gate = gate;
        ws[t].gate_total = CHURN_ACTIONS;
        ws[t].stored = calloc(ws[t].count ? ws[t].count : 1, 1);
        CHECK(ws[t].stored != NULL, "calloc");
        CHECK(pthread_create(&ws[t].th, NULL, writer_main, &ws[t]) == 0,
              "pthread_create");
    }
}

/* Every logging call returned (counted one by one), all stored. */
static void join_writers(struct writer *ws, uint32_t total)
{
    uint64_t limit = give_up_at();
    for (;;) {
        uint64_t returned = 0;
        int done = 0, pacing = 0;
        for (int t = 0; t < NWRITERS; t++) {
            returned += atomic_load(&ws[t].returned);
            done += atomic_load(&ws[t].done);
            pacing += atomic_load(&ws[t].pacing);
        }
        if (done == NWRITERS)
            break;
        CHECK(now_ns() < limit,
              "gave up after %d s: only %" PRIu64 " of %" PRIu32
              " logging calls returned; %d of %d writers %s",
              GIVE_UP_S, returned, total, pacing, NWRITERS - done,
              pacing ? "wait (between calls) for a console that stopped "
                       "receiving records"
                     : "are stuck inside a logging call");
        sleep_us(1000);
    }
    uint64_t returned = 0, ok = 0, lost = 0;
    for (int t = 0; t < NWRITERS; t++) {
        pthread_join(ws[t].th, NULL);
        returned += atomic_load(&ws[t].returned);
        ok += ws[t].ok;
        lost += ws[t].lost;
        CHECK(ws[t].bad == 0, "writer %d: %" PRIu64 " calls failed, first: %s", t,
              ws[t].bad, nblog_strerror(ws[t].first_bad));
        CHECK(!atomic_load(&ws[t].pace_gave_up),
              "writer %d: the fast console never caught up", t);
    }
    CHECK(returned == total, "%" PRIu64 " logging calls returned, want %" PRIu32,
          returned, total);
    CHECK(ok + lost == total,
          "%" PRIu64 " records stored + %" PRIu64 " lost (ELOST), want %" PRIu32, ok,
          lost, total);
    if (lost)
        print_message("  (%" PRIu64 " of %" PRIu32 " records lost by the store: "
                      "writers preempted for a lap of the ring)\n", lost, total);
}

static void free_writers(struct writer *ws)
{
    for (int t = 0; t < NWRITERS; t++) {
        free(ws[t].stored);
        ws[t].stored = NULL;
    }
}

static void log_marker(uint32_t n, int level)
{
    char text[256];
    make_text(text, sizeof text, MARK_T, n, level);
    CHECK(nblog_printf(level, "%s", text) == NBLOG_OK, "marker not stored");
}

static void flush_all(const char *when)
{
    char lag[256];
    int rc = nblog_flush(GIVE_UP_S * 1000u, lag, sizeof lag);
    CHECK(rc == 0, "%s: nblog_flush gave up after %d s, %d consoles lagging: %s",
          when, GIVE_UP_S, rc, lag);
}

static void check_thread_errors(void)
{
    CHECK(atomic_load(&g_thread_errors) == 0, "%d errors on other threads, first: %s",
          atomic_load(&g_thread_errors), g_thread_error);
}

static int level_info(int t, uint32_t n)
{
    (void)t;
    (void)n;
    return NBLOG_LEVEL_INFO;
}

/* ---------------------------------------------- 1. the seed scenario */

/* The "stalled allocator": holds the mutex fbcon's write needs. */
static pthread_mutex_t alloc_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int alloc_held, alloc_release;

static void *allocator_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&alloc_mutex);
    atomic_store(&alloc_held, 1);
    while (!atomic_load(&alloc_release))
        sleep_us(1000);
    atomic_store(&alloc_held, 0);
    pthread_mutex_unlock(&alloc_mutex);
    return NULL;
}

static struct cap serial_cap, fbcon_cap;
static nblog_console_t *serial_con, *fbcon_con;
static pthread_t allocator;
static int allocator_started;

static int teardown_seed(void **state)
{
    (void)state;
    atomic_store(&alloc_release, 1);
    if (allocator_started)
        pthread_join(allocator, NULL);
    allocator_started = 0;
    if (serial_con && !atomic_load(&serial_cap.unregistered)) {
        atomic_store(&serial_cap.unregistered, 1);
        nblog_console_unregister(serial_con);
    }
    if (fbcon_con && !atomic_load(&fbcon_cap.unregistered)) {
        atomic_store(&fbcon_cap.unregistered, 1);
        nblog_console_unregister(fbcon_con);
    }
    return 0;
}

static void test_seed_scenario(void **state)
{
    (void)state;
    g_tbase = 0;
    const uint32_t total = SCALED(200000);
    cap_init(&serial_cap, "serial", NBLOG_FORMAT_PLAIN, 0);
    cap_init(&fbcon_cap, "fbcon", NBLOG_FORMAT_KMSG, 1);
    fbcon_cap.block = &alloc_mutex;
    atomic_store(&alloc_release, 0);

    CHECK(pthread_create(&allocator, NULL, allocator_main, NULL) == 0, "thread");
    allocator_started = 1;
    uint64_t limit = give_up_at();
    while (!atomic_load(&alloc_held)) {
        CHECK(now_ns() < limit, "allocator never took the mutex");
        sleep_us(1000);
    }
    serial_con = cap_register(&serial_cap, NBLOG_LEVEL_DEBUG, NBLOG_MODE_THREADED, 60000);
    fbcon_con = cap_register(&fbcon_cap, NBLOG_LEVEL_DEBUG, NBLOG_MODE_THREADED, 200);

    /* fbcon gets stuck on its first record, before the load starts. */
    log_marker(0, NBLOG_LEVEL_INFO);
    limit = give_up_at();
    while (atomic_load(&fbcon_cap.blocked_now) != 1) {
        CHECK(now_ns() < limit, "gave up after %d s: fbcon never tried to write",
              GIVE_UP_S);
        sleep_us(1000);
    }

    serial_cap.seen_cap = total;
    for (int t = 0; t < NWRITERS; t++) {
        serial_cap.seen[t] = calloc(total, 1);
        CHECK(serial_cap.seen[t] != NULL, "calloc");
    }
    nblog_stats_t g0, g;
    nblog_stats_get(&g0);
    static struct writer ws[NWRITERS]; /* static: outlives a failed test */
    start_writers(ws, total, level_info, serial_con, NULL);
    join_writers(ws, total);
    nblog_stats_get(&g);
    uint64_t stored = 0;
    for (int t = 0; t < NWRITERS; t++)
        stored += ws[t].ok;

    /* The fast console gets every record while fbcon is stuck. */
    limit = give_up_at();
    for (;;) {
        nblog_console_stats_t st;
        CHECK(nblog_console_stats(serial_con, &st) == NBLOG_OK, "stats");
        struct books b = cap_books(&serial_cap);
        check_cap_sane(&serial_cap, &b);
        if (st.next_seq >= g.reserved && b.test_lines >= stored)
            break;
        CHECK(now_ns() < limit,
              "gave up after %d s: serial has %" PRIu64 " of %" PRIu64
              " records (next_seq %" PRIu64 ", head %" PRIu64 ")",
              GIVE_UP_S, b.test_lines, stored, st.next_seq, g.reserved);
        sleep_us(1000);
    }
    struct books sb = cap_books(&serial_cap);
    CHECK(atomic_load(&alloc_held) && atomic_load(&fbcon_cap.blocked_now) == 1,
          "fbcon was not stuck on the allocator's mutex all along");
    check_cap_sane(&serial_cap, &sb);
    CHECK(sb.test_lines == stored, "serial: %" PRIu64 " lines, want %" PRIu64,
          sb.test_lines, stored);
    /* Exactly the stored records, each once (counters arrive strictly
     * increasing, so equal counts and sets mean no duplicate). */
    for (int t = 0; t < NWRITERS; t++) {
        CHECK(sb.per_t[g_tbase + t] == ws[t].ok, "serial: writer %d: %" PRIu64
              " records, want %" PRIu64, t, sb.per_t[g_tbase + t], ws[t].ok);
        pthread_mutex_lock(&serial_cap.lock);
        uint32_t diff = UINT32_MAX;
        for (uint32_t n = 0; n < ws[t].count && diff == UINT32_MAX; n++)
            if (serial_cap.seen[t][n] != ws[t].stored[n])
                diff = n;
        pthread_mutex_unlock(&serial_cap.lock);
        CHECK(diff == UINT32_MAX, "serial: writer %d record %" PRIu32 " %s", t, diff,
              ws[t].stored[diff] ? "stored but never printed" : "printed but never stored");
    }
    /* It never fell behind the ring: its only drops are the store's own
     * counted losses. */
    nblog_console_stats_t sst;
    CHECK(nblog_console_stats(serial_con, &sst) == NBLOG_OK, "stats");
    CHECK(sst.dropped == g.lost - g0.lost && sb.notice_sum == sst.dropped,
          "serial dropped %" PRIu64 " (notices %" PRIu64 "), the store lost %" PRIu64,
          sst.dropped, sb.notice_sum, g.lost - g0.lost);
    struct books fb = cap_books(&fbcon_cap);
    CHECK(fb.lines == 0 && fb.notices == 0, "fbcon printed while stuck");

    /* fbcon is reported stalled, and the report reaches serial (the one
     * message that explains the stall gets out). */
    limit = give_up_at();
    for (;;) {
        nblog_console_stats_t st;
        CHECK(nblog_console_stats(fbcon_con, &st) == NBLOG_OK, "stats");
        sb = cap_books(&serial_cap);
        if (st.stalled_ns > 0 && sb.foreign_lines > 0)
            break;
        CHECK(now_ns() < limit,
              "gave up after %d s: fbcon stalled_ns %" PRIu64 ", serial saw %" PRIu64
              " stall reports",
              GIVE_UP_S, st.stalled_ns, sb.foreign_lines);
        sleep_us(1000);
    }
    CHECK(atomic_load(&fbcon_cap.blocked_now) == 1, "fbcon should still be stuck");

    /* The allocator recovers: fbcon catches up or reports exact drops. */
    atomic_store(&alloc_release, 1);
    pthread_join(allocator, NULL);
    allocator_started = 0;
    flush_all("after the allocator let go");

    print_message("seed scenario, %" PRIu32 " records:\n", total);
    check_books(serial_con, &serial_cap);
    nblog_console_stats_t fst = check_books(fbcon_con, &fbcon_cap);
    CHECK(fst.dropped > 0, "fbcon dropped nothing: the ring is not small enough "
                           "for this test to mean anything");
    fb = cap_books(&fbcon_cap);
    CHECK(fb.test_lines > 0, "fbcon printed nothing after recovery");

    /* Both resume. */
    log_marker(1, NBLOG_LEVEL_WARNING);
    flush_all("after the marker");
    CHECK(cap_books(&serial_cap).last_n[MARK_T] == 1, "serial missed the marker");
    CHECK(cap_books(&fbcon_cap).last_n[MARK_T] == 1, "fbcon missed the marker");
    check_books(fbcon_con, &fbcon_cap);

    cap_unregister(serial_con, &serial_cap);
    cap_unregister(fbcon_con, &fbcon_cap);
    wait_teardown(&serial_cap);
    wait_teardown(&fbcon_cap);
    check_cap_sane(&serial_cap, &sb);
    free_writers(ws);
    for (int t = 0; t < NWRITERS; t++) {
        free(serial_cap.seen[t]);
        serial_cap.seen[t] = NULL;
    }
    check_thread_errors();
}

/* ------------------------------------------ 2. every console stuck */

#define N_STUCK 4
static pthread_mutex_t stuck_mutex = PTHREAD_MUTEX_INITIALIZER;
static int stuck_held; /* by the test's thread */
static struct cap stuck_cap[N_STUCK];
static nblog_console_t *stuck_con[N_STUCK];

static int level_mostly_info(int t, uint32_t n)
{
    (void)t;
    return n % 97 == 0 ? NBLOG_LEVEL_CRIT : NBLOG_LEVEL_INFO; /* CRIT: emergency */
}

static int teardown_stuck(void **state)
{
    (void)state;
    for (int i = 0; i < N_STUCK; i++)
        atomic_store(&stuck_cap[i].atomic_eagain, 0);
    if (stuck_held)
        pthread_mutex_unlock(&stuck_mutex);
    stuck_held = 0;
    for (int i = 0; i < N_STUCK; i++)
        if (stuck_con[i] && !atomic_load(&stuck_cap[i].unregistered)) {
            atomic_store(&stuck_cap[i].unregistered, 1);
            nblog_console_unregister(stuck_con[i]);
        }
    return 0;
}

static void test_all_consoles_stuck(void **state)
{
    (void)state;
    g_tbase = 8;
    const uint32_t total = SCALED(200000);
    static const char *names[N_STUCK] = {"stuck-kmsg", "stuck-plain", "stuck-warn",
                                         "stuck-direct"};
    cap_init(&stuck_cap[0], names[0], NBLOG_FORMAT_KMSG, 1);
    cap_init(&stuck_cap[1], names[1], NBLOG_FORMAT_PLAIN, 0);
    cap_init(&stuck_cap[2], names[2], NBLOG_FORMAT_KMSG, 0);
    cap_init(&stuck_cap[3], names[3], NBLOG_FORMAT_KMSG, 1);
    stuck_cap[2].max_level = NBLOG_LEVEL_WARNING;
    /* The direct console's non-blocking path says "would block" while its
     * write path is stuck: a full pipe behind a stuck reader. */
    atomic_store(&stuck_cap[3].atomic_eagain, 1);
    for (int i = 0; i < N_STUCK; i++)
        stuck_cap[i].block = &stuck_mutex;

    pthread_mutex_lock(&stuck_mutex);
    stuck_held = 1;
    stuck_con[0] = cap_register(&stuck_cap[0], NBLOG_LEVEL_DEBUG, NBLOG_MODE_THREADED, 200);
    stuck_con[1] = cap_register(&stuck_cap[1], NBLOG_LEVEL_DEBUG, NBLOG_MODE_THREADED, 200);
    stuck_con[2] = cap_register(&stuck_cap[2], NBLOG_LEVEL_WARNING, NBLOG_MODE_THREADED, 200);
    stuck_con[3] = cap_register(&stuck_cap[3], NBLOG_LEVEL_DEBUG, NBLOG_MODE_DIRECT, 200);

    nblog_stats_t g0, g1;
    nblog_stats_get(&g0);
    static struct writer ws[NWRITERS]; /* static: outlives a failed test */
    start_writers(ws, total, level_mostly_info, NULL, NULL);
    join_writers(ws, total); /* every call returned, every record stored */
    free_writers(ws);
    nblog_stats_get(&g1);
    CHECK(g1.reserved - g0.reserved >= total, "the store did not take every record");

    /* Every console is stuck inside its write, and reported stalled. */
    uint64_t limit = give_up_at();
    for (int i = 0; i < N_STUCK; i++) {
        for (;;) {
            nblog_console_stats_t st;
            CHECK(nblog_console_stats(stuck_con[i], &st) == NBLOG_OK, "stats");
            if (atomic_load(&stuck_cap[i].blocked_now) == 1 && st.stalled_ns > 0)
                break;
            CHECK(now_ns() < limit,
                  "gave up after %d s waiting for %s to be stuck and reported "
                  "stalled (blocked %d, stalled_ns %" PRIu64 ")",
                  GIVE_UP_S, names[i], atomic_load(&stuck_cap[i].blocked_now),
                  st.stalled_ns);
            sleep_us(1000);
        }
    }
    /* Still returning now that they are all stuck for sure. */
    for (uint32_t n = 0; n < 1000; n++)
        log_marker(100000 + n, NBLOG_LEVEL_WARNING);

    /* A flush with a short deadline names all of them. */
    char lag[256];
    int rc = nblog_flush(20, lag, sizeof lag);
    CHECK(rc == N_STUCK, "nblog_flush(20 ms) says %d consoles lag (%s), want %d", rc,
          lag, N_STUCK);
    for (int i = 0; i < N_STUCK; i++)
        CHECK(strstr(lag, names[i]) != NULL, "%s missing from lagging \"%s\"",
              names[i], lag);

    /* Release them all: each reports exact drops and resumes. */
    atomic_store(&stuck_cap[3].atomic_eagain, 0);
    stuck_held = 0;
    pthread_mutex_unlock(&stuck_mutex);
    flush_all("after releasing every console");

    print_message("every console stuck, %" PRIu32 " records:\n", total);
    for (int i = 0; i < N_STUCK; i++) {
        nblog_console_stats_t st = check_books(stuck_con[i], &stuck_cap[i]);
        CHECK(st.dropped > 0, "%s dropped nothing: the test means nothing", names[i]);
    }
    CHECK(cap_books(&stuck_cap[2]).max_level_seen <= NBLOG_LEVEL_WARNING,
          "stuck-warn printed below its level");

    log_marker(200000, NBLOG_LEVEL_WARNING);
    flush_all("after the recovery marker");
    for (int i = 0; i < N_STUCK; i++) {
        struct books b = cap_books(&stuck_cap[i]);
        CHECK(b.last_n[MARK_T] == 200000, "%s did not print the record logged after "
                                     "recovery", names[i]);
        check_books(stuck_con[i], &stuck_cap[i]);
    }
    for (int i = 0; i < N_STUCK; i++)
        cap_unregister(stuck_con[i], &stuck_cap[i]);
    for (int i = 0; i < N_STUCK; i++)
        wait_teardown(&stuck_cap[i]);
    check_thread_errors();
}

/* ------------------------------------------ 3. conservation under churn */

enum { P_ALL, P_LEVEL, P_PLAIN, P_DIRECT, P_FIXED, N_PERM };
static struct cap perm_cap[N_PERM];
static nblog_console_t *perm_con[N_PERM];
static int perm_suspended[N_PERM];

struct extra {
    struct cap cap;
    nblog_console_t *con;
    char name[32];
    struct extra *next; /* retired list */
};

static struct extra *live_extra[MAX_EXTRAS_LIVE];
static int n_live;
static struct extra *retired;
static _Atomic int churn_stop;
static _Atomic uint64_t churn_actions;
static uint32_t churn_total; /* records the writers log in test 3 */
static struct {
    uint64_t registered, unregistered, enomem, suspends, resumes, levels;
} churn;
static uint64_t churn_seed;

static uint64_t rnd(void)
{
    /* xorshift64* */
    churn_seed ^= churn_seed >> 12;
    churn_seed ^= churn_seed << 25;
    churn_seed ^= churn_seed >> 27;
    return churn_seed * 0x2545f4914f6cdd1dull;
}

static int level_mixed(int t, uint32_t n)
{
    if (n % 61 == 0)
        return NBLOG_LEVEL_CRIT;
    return 3 + (int)(mix((uint64_t)t << 32 | n) % 5); /* ERR .. DEBUG */
}

/* Registration from the churn thread: errors are reported, not failed. */
static void churn_register(void)
{
    static unsigned serial_no;
    struct extra *e = calloc(1, sizeof *e);
    if (!e) {
        thread_error("calloc");
        return;
    }
    snprintf(e->name, sizeof e->name, "extra-%u", serial_no++);
    int format = rnd() % 2 ? NBLOG_FORMAT_KMSG : NBLOG_FORMAT_PLAIN;
    int level = rnd() % 2 ? NBLOG_LEVEL_DEBUG : 3 + (int)(rnd() % 5);
    int mode = rnd() % 3 == 0 ? NBLOG_MODE_DIRECT : NBLOG_MODE_THREADED;
    cap_init(&e->cap, e->name, format, format == NBLOG_FORMAT_KMSG && level == NBLOG_LEVEL_DEBUG);
    e->cap.max_level = level;
    e->cap.short_every = rnd() % 2 ? 5 : 0;
    e->cap.eintr_every = rnd() % 2 ? 7 : 0;
    e->cap.fail_every = rnd() % 2 ? 13 : 0;
    e->cap.eagain_every = mode == NBLOG_MODE_DIRECT ? 3 : 0;
    e->cap.teardown_delay_us = rnd() % 2 ? 300 : 0;
    nblog_console_ops_t ops = {cap_write, NULL, cap_setup, cap_teardown};
    if (mode == NBLOG_MODE_DIRECT || rnd() % 2)
        ops.write_atomic = cap_write_atomic; /* takes emergency records too */
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = e->name;
    o.level = level;
    o.format = format;
    o.mode = mode;
    o.start = rnd() % 4 == 0 ? NBLOG_FROM_OLDEST : NBLOG_FROM_NEXT;
    o.stall_ms = 3600000; /* the stall watch must not log during this test */
    int rc = nblog_console_register(&ops, &e->cap, &o, &e->con);
    if (rc == NBLOG_ENOMEM) {
        churn.enomem++; /* every slot taken (detached ones not yet let go) */
        free(e);
        return;
    }
    if (rc != NBLOG_OK) {
        thread_error("registering an extra console failed");
        free(e);
        return;
    }
    churn.registered++;
    live_extra[n_live++] = e;
}

/* Handles of consoles being unregistered: the monitor keeps asking about
 * them (stats on a detached console must say NBLOG_ESTALE, harmlessly).
 * Once unregister returned they go to stale[]: every call on them must say
 * NBLOG_ESTALE, and never reach a console registered in their slot since
 * (a suspend or a level of EMERG there would show in its books). */
#define N_RECENT 16
static nblog_console_t *_Atomic recent[N_RECENT];
static _Atomic unsigned recent_i;
static nblog_console_t *_Atomic stale[N_RECENT];
static _Atomic unsigned stale_i;
static _Atomic uint64_t stale_calls;

static void churn_unregister(int i)
{
    struct extra *e = live_extra[i];
    live_extra[i] = live_extra[--n_live];
    atomic_store(&recent[atomic_fetch_add(&recent_i, 1) % N_RECENT], e->con);
    atomic_store(&e->cap.unregistered, 1);
    if (nblog_console_unregister(e->con) != NBLOG_OK)
        thread_error("unregistering an extra console failed");
    atomic_store(&stale[atomic_fetch_add(&stale_i, 1) % N_RECENT], e->con);
    churn.unregistered++;
    e->next = retired;
    retired = e;
}

static void *churn_main(void *arg)
{
    (void)arg;
    static const int suspendable[] = {P_ALL, P_PLAIN, P_DIRECT};
    while (!atomic_load(&churn_stop) && !atomic_load(&g_thread_errors)) {
        /* p-all also stays suspended through the middle half of the
         * records, so it falls past the ring's tail even when the records
         * are few (sanitizer builds) and must report exact drops. */
        uint64_t logged = atomic_load(&g_logged);
        int long_suspend = logged >= churn_total / 8 && logged < churn_total * 7 / 8;
        if (long_suspend && !perm_suspended[P_ALL]) {
            if (nblog_console_suspend(perm_con[P_ALL]) != NBLOG_OK)
                thread_error("suspend failed");
            perm_suspended[P_ALL] = 1;
            churn.suspends++;
        }
        uint64_t r = rnd() % 12;
        if (r <= 3) {
            int p = suspendable[rnd() % 3];
            int rc;
            if (p == P_ALL && long_suspend)
                p = P_PLAIN;
            if (perm_suspended[p]) {
                rc = nblog_console_resume(perm_con[p]);
                churn.resumes++;
            } else {
                rc = nblog_console_suspend(perm_con[p]);
                churn.suspends++;
            }
            if (rc != NBLOG_OK)
                thread_error("suspend/resume failed");
            perm_suspended[p] = !perm_suspended[p];
        } else if (r <= 6) {
            int p = r == 6 ? P_PLAIN : P_LEVEL;
            if (nblog_console_set_level(perm_con[p], (int)(rnd() % 8)) != NBLOG_OK)
                thread_error("set_level failed");
            churn.levels++;
        } else if (r <= 8) {
            if (n_live < MAX_EXTRAS_LIVE)
                churn_register();
        } else if (r <= 10) {
            if (n_live > 0)
                churn_unregister((int)(rnd() % (uint64_t)n_live));
        } else {
            /* An extra console changes its mind too. */
            if (n_live > 0) {
                struct extra *e = live_extra[rnd() % (uint64_t)n_live];
                if (rnd() % 2)
                    nblog_console_suspend(e->con);
                else
                    nblog_console_resume(e->con);
            }
        }
        atomic_fetch_add(&churn_actions, 1);
        sleep_us(20 + (long)(rnd() % 200));
    }
    return NULL;
}

/* A monitoring thread, as a program would have one: stats of every console
 * (live or just unregistered) and zero-deadline flushes, all the time. */
static void *monitor_main(void *arg)
{
    (void)arg;
    uint64_t polls = 0;
    while (!atomic_load(&churn_stop)) {
        nblog_console_stats_t st;
        for (int p = 0; p < N_PERM; p++)
            if (nblog_console_stats(perm_con[p], &st) != NBLOG_OK)
                thread_error("stats of a registered console failed");
        for (int i = 0; i < N_RECENT; i++) {
            nblog_console_t *con = atomic_load(&recent[i]);
            if (con)
                nblog_console_stats(con, &st); /* OK until unregistered, then ESTALE */
            con = atomic_load(&stale[i]);
            if (!con)
                continue;
            atomic_fetch_add(&stale_calls, 1);
            if (nblog_console_stats(con, &st) != NBLOG_ESTALE ||
                nblog_console_suspend(con) != NBLOG_ESTALE ||
                nblog_console_set_level(con, NBLOG_LEVEL_EMERG) != NBLOG_ESTALE ||
                nblog_console_unregister(con) != NBLOG_ESTALE)
                thread_error("a call on a stale handle did not say NBLOG_ESTALE");
        }
        nblog_flush(0, NULL, 0);
        if (++polls % 4 == 0)
            sleep_us(50);
    }
    return NULL;
}

static pthread_t churn_thread, monitor_thread;
static int churn_started;

static void check_retired(struct extra *e)
{
    wait_teardown(&e->cap);
    struct books b = cap_books(&e->cap);
    check_cap_sane(&e->cap, &b);
    CHECK(atomic_load(&e->cap.teardowns) == 1, "%s: teardown ran %d times",
          e->cap.name, atomic_load(&e->cap.teardowns));
}

static int teardown_churn(void **state)
{
    (void)state;
    atomic_store(&churn_stop, 1);
    if (churn_started) {
        pthread_join(churn_thread, NULL);
        pthread_join(monitor_thread, NULL);
    }
    churn_started = 0;
    for (int p = 0; p < N_PERM; p++)
        if (perm_con[p] && !atomic_load(&perm_cap[p].unregistered)) {
            atomic_store(&perm_cap[p].unregistered, 1);
            nblog_console_unregister(perm_con[p]);
        }
    while (n_live > 0)
        churn_unregister(0);
    return 0;
}

static void test_conservation_churn(void **state)
{
    (void)state;
    g_tbase = 16;
    const uint32_t total = SCALED(200000);
    const char *seed_env = getenv("NBLOG_TEST_SEED");
    churn_seed = seed_env ? strtoull(seed_env, NULL, 0) : (now_ns() | 1);
    print_message("churn seed %" PRIu64 " (NBLOG_TEST_SEED to repeat)\n", churn_seed);
    memset(&churn, 0, sizeof churn);
    atomic_store(&churn_stop, 0);
    atomic_store(&churn_actions, 0);
    atomic_store(&g_logged, 0);
    churn_total = total;

    cap_init(&perm_cap[P_ALL], "p-all", NBLOG_FORMAT_KMSG, 1);
    perm_cap[P_ALL].short_every = 7;
    perm_cap[P_ALL].eintr_every = 11;
    perm_cap[P_ALL].fail_every = 50;
    cap_init(&perm_cap[P_LEVEL], "p-level", NBLOG_FORMAT_KMSG, 0);
    perm_cap[P_LEVEL].fail_every = 37;
    cap_init(&perm_cap[P_PLAIN], "p-plain", NBLOG_FORMAT_PLAIN, 0);
    perm_cap[P_PLAIN].short_every = 3;
    cap_init(&perm_cap[P_DIRECT], "p-direct", NBLOG_FORMAT_KMSG, 1);
    perm_cap[P_DIRECT].short_every = 9;
    perm_cap[P_DIRECT].eagain_every = 5;
    cap_init(&perm_cap[P_FIXED], "p-notice", NBLOG_FORMAT_KMSG, 0);
    perm_cap[P_FIXED].max_level = NBLOG_LEVEL_NOTICE;
    perm_cap[P_FIXED].short_every = 4;
    const unsigned quiet = 3600000; /* no stall reports while churning */
    static const int perm_level[N_PERM] = {NBLOG_LEVEL_DEBUG, NBLOG_LEVEL_INFO,
                                           NBLOG_LEVEL_DEBUG, NBLOG_LEVEL_DEBUG,
                                           NBLOG_LEVEL_NOTICE};
    for (int p = 0; p < N_PERM; p++)
        perm_con[p] = cap_register(&perm_cap[p], perm_level[p],
                                   p == P_DIRECT ? NBLOG_MODE_DIRECT : NBLOG_MODE_THREADED,
                                   quiet);
    memset(perm_suspended, 0, sizeof perm_suspended);

    for (int i = 0; i < N_RECENT; i++) {
        atomic_store(&recent[i], NULL);
        atomic_store(&stale[i], NULL);
    }
    atomic_store(&stale_calls, 0);
    CHECK(pthread_create(&churn_thread, NULL, churn_main, NULL) == 0, "thread");
    CHECK(pthread_create(&monitor_thread, NULL, monitor_main, NULL) == 0, "thread");
    churn_started = 1;
    static struct writer ws[NWRITERS]; /* static: outlives a failed test */
    start_writers(ws, total, level_mixed, NULL, &churn_actions);
    join_writers(ws, total);
    free_writers(ws);
    atomic_store(&churn_stop, 1);
    pthread_join(churn_thread, NULL);
    pthread_join(monitor_thread, NULL);
    churn_started = 0;
    check_thread_errors();

    /* Quiescent: everything resumed, flushed, nothing more logged. */
    for (int p = 0; p < N_PERM; p++)
        if (perm_suspended[p]) {
            CHECK(nblog_console_resume(perm_con[p]) == NBLOG_OK, "resume");
            perm_suspended[p] = 0;
        }
    for (int i = 0; i < n_live; i++)
        CHECK(nblog_console_resume(live_extra[i]->con) == NBLOG_OK, "resume extra");
    flush_all("after the churn");

    print_message("churn, %" PRIu32 " records: %" PRIu64 " extra consoles registered, %"
                  PRIu64 " unregistered, %" PRIu64 " refused (no slot), %" PRIu64
                  " suspends, %" PRIu64 " resumes, %" PRIu64 " level changes\n",
                  total, churn.registered, churn.unregistered, churn.enomem,
                  churn.suspends, churn.resumes, churn.levels);
    uint64_t seen = 0;
    for (int p = 0; p < N_PERM; p++) {
        check_books(perm_con[p], &perm_cap[p]);
        seen += cap_books(&perm_cap[p]).test_lines;
    }
    CHECK(seen > 0, "no console printed anything");
    /* Suspended through 3/4 of the records, more than the ring holds. */
    nblog_console_stats_t all;
    CHECK(nblog_console_stats(perm_con[P_ALL], &all) == NBLOG_OK, "stats");
    CHECK(all.dropped > 0, "p-all dropped nothing: the test means less than it should");
    CHECK(cap_books(&perm_cap[P_FIXED]).max_level_seen <= NBLOG_LEVEL_NOTICE,
          "p-notice printed below its level");
    for (int i = 0; i < n_live; i++)
        check_books(live_extra[i]->con, &live_extra[i]->cap);
    CHECK(churn.registered > 0 && churn.unregistered > 0,
          "the churn registered %" PRIu64 " and unregistered %" PRIu64 " consoles",
          churn.registered, churn.unregistered);

    /* Every console, live or not, is still working or let go cleanly. */
    CHECK(nblog_console_set_level(perm_con[P_LEVEL], NBLOG_LEVEL_DEBUG) == NBLOG_OK, "level");
    CHECK(nblog_console_set_level(perm_con[P_PLAIN], NBLOG_LEVEL_DEBUG) == NBLOG_OK, "level");
    log_marker(3, NBLOG_LEVEL_ERR);
    flush_all("after the marker");
    for (int p = 0; p < N_PERM; p++)
        CHECK(cap_books(&perm_cap[p]).last_n[MARK_T] == 3, "%s missed the marker",
              perm_cap[p].name);

    for (int p = 0; p < N_PERM; p++)
        cap_unregister(perm_con[p], &perm_cap[p]);
    while (n_live > 0)
        churn_unregister(0);
    for (int p = 0; p < N_PERM; p++)
        wait_teardown(&perm_cap[p]);
    int n_retired = 0;
    while (retired) {
        struct extra *e = retired;
        check_retired(e);
        retired = e->next;
        free(e);
        n_retired++;
    }
    print_message("  %d unregistered extra consoles: in order, no duplicates, no "
                  "torn lines, torn down once; %" PRIu64 " passes over stale handles\n",
                  n_retired, atomic_load(&stale_calls));
    CHECK(atomic_load(&stale_calls) > 0, "the monitor never used a stale handle");
    check_thread_errors();
}

/* ------------------------------ 4. the last reference in a signal handler */

#define SIG_ROUNDS 10
static __thread int sig_in_handler; /* this thread is inside the handler */
static _Atomic int sig_entered, sig_go, sig_teardowns, sig_bad_context;
static _Atomic pid_t sig_logger_tid;

static void sig_handler(int sig)
{
    (void)sig;
    sig_in_handler = 1;
    nblog_printf(NBLOG_LEVEL_CRIT, "emergency from a signal handler");
    sig_in_handler = 0;
}

/* In the handler (printers are paused, so the emergency push owns the
 * console): holds it until the test has unregistered it and its printer
 * has exited, so the handler's reference is the last. nanosleep is
 * async-signal-safe. */
static ssize_t sig_write_atomic(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    if (!atomic_exchange(&sig_entered, 1)) {
        uint64_t limit = give_up_at();
        while (!atomic_load(&sig_go) && now_ns() < limit) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return (ssize_t)len;
}

static void sig_teardown(void *ctx)
{
    (void)ctx;
    if (sig_in_handler || gettid() == atomic_load(&sig_logger_tid))
        atomic_fetch_add(&sig_bad_context, 1);
    atomic_fetch_add(&sig_teardowns, 1);
}

static void *sig_logger_main(void *arg)
{
    (void)arg;
    atomic_store(&sig_logger_tid, gettid());
    raise(SIGUSR1); /* the handler runs here, on this thread */
    return NULL;
}

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static struct sigaction sig_old;
static int sig_installed;

static int teardown_signal(void **state)
{
    (void)state;
    atomic_store(&sig_go, 1);
    atomic_store(&nblog__printers_paused, 0);
    if (sig_installed)
        sigaction(SIGUSR1, &sig_old, NULL);
    sig_installed = 0;
    return 0;
}

static void test_teardown_not_in_signal_handler(void **state)
{
    (void)state;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sig_handler;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, &sig_old) == 0, "sigaction");
    sig_installed = 1;
    atomic_store(&g_thread_errors, 0);
    for (int round = 0; round < SIG_ROUNDS; round++) {
        atomic_store(&sig_entered, 0);
        atomic_store(&sig_go, 0);
        atomic_store(&sig_teardowns, 0);
        atomic_store(&nblog__printers_paused, 1);
        nblog_console_ops_t ops = {tu_discard_write, sig_write_atomic, NULL, sig_teardown};
        nblog_console_opts_t o;
        nblog_console_opts_init(&o);
        o.name = "sig";
        nblog_console_t *con;
        CHECK(nblog_console_register(&ops, NULL, &o, &con) == NBLOG_OK, "register");
        pthread_t logger;
        CHECK(pthread_create(&logger, NULL, sig_logger_main, NULL) == 0, "thread");
        uint64_t limit = give_up_at();
        while (!atomic_load(&sig_entered)) {
            CHECK(now_ns() < limit, "the handler's emergency push never wrote");
            sleep_us(1000);
        }
        int before = count_threads();
        CHECK(nblog_console_unregister(con) == NBLOG_OK, "unregister");
        /* Its printer (paused) sees DETACHED, drops its reference, exits. */
        while (count_threads() >= before) {
            CHECK(now_ns() < limit, "the printer did not exit");
            sleep_us(1000);
        }
        atomic_store(&sig_go, 1);
        pthread_join(logger, NULL);
        atomic_store(&nblog__printers_paused, 0);
        /* Torn down by a thread that may block: the stall watch's reaper
         * (within 100 ms), or the next registration. */
        while (atomic_load(&sig_teardowns) == 0) {
            CHECK(now_ns() < limit, "the console was never torn down");
            sleep_us(1000);
        }
        CHECK(atomic_load(&sig_teardowns) == 1, "teardown ran %d times",
              atomic_load(&sig_teardowns));
        CHECK(atomic_load(&sig_bad_context) == 0,
              "round %d: teardown ran in the signal handler or on the logging thread",
              round);
    }
    print_message("%d rounds: the handler dropped the last reference; teardown "
                  "ran elsewhere\n", SIG_ROUNDS);
}

/* ------------------------- 5. handle calls racing with teardown */

#define RACE_ROUNDS 4000
static nblog_console_t *_Atomic race_file, *_Atomic race_net;
static _Atomic int race_stop;
static _Atomic uint64_t race_calls;

static int ok_or_stale(int rc)
{
    return rc == NBLOG_OK || rc == NBLOG_ESTALE;
}

static int einval_or_stale(int rc)
{
    return rc == NBLOG_EINVAL || rc == NBLOG_ESTALE;
}

static void *race_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&race_stop)) {
        nblog_console_t *f = atomic_load(&race_file), *n = atomic_load(&race_net);
        nblog_net_stats_t ns;
        nblog_console_stats_t st;
        if (f && (!ok_or_stale(nblog_console_reopen(f)) ||
                  !einval_or_stale(nblog_console_net_stats(f, &ns)) ||
                  !ok_or_stale(nblog_console_stats(f, &st))))
            thread_error("a call on the file console's handle failed");
        if (n && (!ok_or_stale(nblog_console_net_stats(n, &ns)) ||
                  !einval_or_stale(nblog_console_reopen(n)) ||
                  !ok_or_stale(nblog_console_set_level(n, NBLOG_LEVEL_DEBUG))))
            thread_error("a call on the network console's handle failed");
        atomic_fetch_add(&race_calls, 1);
    }
    return NULL;
}

static pthread_t race_thread;
static int race_started;
static char race_dir[64];

static int teardown_race(void **state)
{
    (void)state;
    atomic_store(&race_stop, 1);
    if (race_started)
        pthread_join(race_thread, NULL);
    race_started = 0;
    nblog_console_t *f = atomic_exchange(&race_file, NULL);
    nblog_console_t *n = atomic_exchange(&race_net, NULL);
    if (f)
        nblog_console_unregister(f);
    if (n)
        nblog_console_unregister(n);
    return 0;
}

static void test_handle_calls_race_teardown(void **state)
{
    (void)state;
    CHECK(tu_temp_dir(race_dir, sizeof race_dir, "race") != NULL, "mkdtemp");
    char path[128];
    snprintf(path, sizeof path, "%s/race.log", race_dir);
    atomic_store(&race_stop, 0);
    atomic_store(&race_calls, 0);
    atomic_store(&g_thread_errors, 0);
    CHECK(pthread_create(&race_thread, NULL, race_main, NULL) == 0, "thread");
    race_started = 1;
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.level = NBLOG_LEVEL_EMERG; /* prints (almost) nothing: only lifetimes matter */
    for (int round = 0; round < RACE_ROUNDS && !atomic_load(&g_thread_errors); round++) {
        nblog_console_t *f, *n;
        int rc;
        uint64_t limit = give_up_at();
        /* NBLOG_ENOMEM: every slot is held by printers of earlier rounds
         * that have not exited yet; they will. */
        o.name = "race-file";
        while ((rc = nblog_console_file(path, 0, 0, &o, &f)) == NBLOG_ENOMEM &&
               now_ns() < limit)
            sleep_us(1000);
        CHECK(rc == NBLOG_OK, "file console: %s", nblog_strerror(rc));
        o.name = "race-net";
        while ((rc = nblog_console_syslog("syslog+udp://127.0.0.1:9", NULL, &o, &n)) ==
                   NBLOG_ENOMEM &&
               now_ns() < limit)
            sleep_us(1000);
        CHECK(rc == NBLOG_OK, "udp console: %s", nblog_strerror(rc));
        atomic_store(&race_file, f);
        atomic_store(&race_net, n);
        uint64_t calls = atomic_load(&race_calls);
        while (atomic_load(&race_calls) < calls + 2)
            sched_yield();
        /* Unregistered while the other thread uses the handles: their
         * printers tear down (closing and freeing the output) meanwhile. */
        CHECK(nblog_console_unregister(f) == NBLOG_OK, "unregister file");
        CHECK(nblog_console_unregister(n) == NBLOG_OK, "unregister udp");
        nblog_net_stats_t ns;
        CHECK(nblog_console_reopen(f) == NBLOG_ESTALE, "reopen on a stale handle");
        CHECK(nblog_console_net_stats(n, &ns) == NBLOG_ESTALE, "net_stats on a stale handle");
        calls = atomic_load(&race_calls);
        while (atomic_load(&race_calls) < calls + 2)
            sched_yield();
    }
    atomic_store(&race_stop, 1);
    pthread_join(race_thread, NULL);
    race_started = 0;
    atomic_store(&race_file, NULL);
    atomic_store(&race_net, NULL);
    check_thread_errors();
    print_message("%d rounds, %" PRIu64 " passes of handle calls\n", RACE_ROUNDS,
                  atomic_load(&race_calls));
    unlink(path);
    rmdir(race_dir);
}

/* ------------------- 6. registration racing with nblog_shutdown */

#define SHUT_ROUNDS 40
#define SHUT_KEEP 8 /* consoles the registering thread keeps at once */
static _Atomic int shut_stop;
static _Atomic uint64_t shut_ok, shut_refused;
static nblog_console_t *shut_kept[SHUT_KEEP]; /* registered, never unregistered */
static int shut_n;

static void *shut_main(void *arg)
{
    (void)arg;
    nblog_console_ops_t ops = {.write = tu_discard_write};
    while (!atomic_load(&shut_stop)) {
        if (shut_n == SHUT_KEEP) { /* make room: the oldest goes */
            int rc = nblog_console_unregister(shut_kept[0]);
            if (rc != NBLOG_OK && rc != NBLOG_ESTALE)
                thread_error("unregister while racing shutdown failed");
            memmove(shut_kept, shut_kept + 1, sizeof shut_kept[0] * (SHUT_KEEP - 1));
            shut_n--;
        }
        nblog_console_t *con;
        int rc = nblog_console_register(&ops, NULL, NULL, &con);
        if (rc == NBLOG_OK) {
            shut_kept[shut_n++] = con;
            atomic_fetch_add(&shut_ok, 1);
        } else if (rc == NBLOG_ENOTREADY) {
            atomic_fetch_add(&shut_refused, 1);
            sched_yield();
        } else if (rc != NBLOG_ENOMEM) {
            thread_error("register while racing shutdown failed");
        }
    }
    return NULL;
}

/* nblog as every test here wants it (main's and after each shutdown). */
static int init_nblog(void)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = RING_RECORDS;
    opt.record_size = RECORD_SIZE;
    opt.level = NBLOG_LEVEL_DEBUG;
    /* The tests count slots and consoles: only their own. */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    return nblog_init(&opt);
}

/* Every console registered before nblog_shutdown returned is unregistered
 * by it (its handle is stale after); none slips in during it. */
static void test_register_races_shutdown(void **state)
{
    (void)state;
    atomic_store(&g_thread_errors, 0);
    atomic_store(&shut_ok, 0);
    atomic_store(&shut_refused, 0);
    for (int round = 0; round < SHUT_ROUNDS; round++) {
        shut_n = 0;
        atomic_store(&shut_stop, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, shut_main, NULL) == 0, "thread");
        uint64_t ok0 = atomic_load(&shut_ok);
        while (atomic_load(&shut_ok) < ok0 + 1 + (uint64_t)round % 5)
            sched_yield();
        nblog_shutdown();
        atomic_store(&shut_stop, 1);
        pthread_join(t, NULL);
        check_thread_errors();
        for (int i = 0; i < shut_n; i++) {
            nblog_console_stats_t st;
            int rc = nblog_console_stats(shut_kept[i], &st);
            CHECK(rc == NBLOG_ESTALE, "round %d: a console registered during "
                  "nblog_shutdown outlived it (stats: %s)", round, nblog_strerror(rc));
        }
        CHECK(init_nblog() == NBLOG_OK, "nblog_init after shutdown");
    }
    print_message("%d shutdowns: %" PRIu64 " registrations raced them, %" PRIu64
                  " refused after\n", SHUT_ROUNDS, atomic_load(&shut_ok),
                  atomic_load(&shut_refused));
}

/* ------------------- 7. the last free slot under transient references */

#define LAST_ROUNDS 100
#define POOL_SLOTS 32 /* console.c's MAX_CONSOLES */
static _Atomic int last_stop;
static nblog_console_t *_Atomic last_stale; /* of the free slot's last console */
static _Atomic uint64_t last_polls;

static void *last_poll_main(void *arg)
{
    int flusher = arg != NULL;
    while (!atomic_load(&last_stop)) {
        if (flusher) {
            nblog_flush(0, NULL, 0); /* visits every slot */
        } else {
            nblog_console_stats_t st;
            int rc = nblog_console_stats(atomic_load(&last_stale), &st);
            if (rc != NBLOG_ESTALE)
                thread_error("stats on a stale handle did not say NBLOG_ESTALE");
        }
        atomic_fetch_add(&last_polls, 1);
    }
    return NULL;
}

/* Waits until no slot is in transit (set up, torn down, waiting for its
 * printer); returns the number of FREE slots. */
static int settled_free_slots(void)
{
    uint64_t limit = give_up_at();
    for (;;) {
        int free_slots, active;
        nblog__console_watch_once(); /* reaps what a put() let go */
        nblog__console_slots(&free_slots, &active);
        if (free_slots + active == POOL_SLOTS)
            return free_slots;
        CHECK(now_ns() < limit, "gave up after %d s waiting for consoles to be torn down",
              GIVE_UP_S);
        sleep_us(1000);
    }
}

static nblog_console_t *last_fill[POOL_SLOTS];
static int last_n;
static pthread_t last_threads[2];
static int last_started;

static int teardown_last(void **state)
{
    (void)state;
    atomic_store(&last_stop, 1);
    for (int i = 0; i < last_started; i++)
        pthread_join(last_threads[i], NULL);
    last_started = 0;
    for (int i = 0; i < last_n; i++)
        nblog_console_unregister(last_fill[i]);
    last_n = 0;
    return 0;
}

static void test_last_slot_transient_refs(void **state)
{
    (void)state;
    atomic_store(&g_thread_errors, 0);
    atomic_store(&last_stop, 0);
    nblog_console_ops_t ops = {.write = tu_discard_write};
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.name = "last-slot";
    o.level = NBLOG_LEVEL_EMERG; /* prints nothing: only slots matter */
    /* Every slot but one taken. */
    int free_slots = settled_free_slots();
    CHECK(free_slots >= 1, "no free console slot to start with");
    while (free_slots-- > 1) {
        CHECK(nblog_console_register(&ops, NULL, &o, &last_fill[last_n]) == NBLOG_OK,
              "filling slot %d", last_n);
        last_n++;
    }
    /* The free slot's console, unregistered: its handle is the stale one
     * the poller uses. */
    nblog_console_t *con;
    CHECK(nblog_console_register(&ops, NULL, &o, &con) == NBLOG_OK, "first register");
    CHECK(nblog_console_unregister(con) == NBLOG_OK, "first unregister");
    atomic_store(&last_stale, con);
    CHECK(settled_free_slots() == 1, "not exactly one free slot");
    CHECK(pthread_create(&last_threads[0], NULL, last_poll_main, NULL) == 0, "thread");
    last_started = 1;
    CHECK(pthread_create(&last_threads[1], NULL, last_poll_main, &last_n) == 0, "thread");
    last_started = 2;
    int enomem = 0;
    for (int round = 0; round < LAST_ROUNDS; round++) {
        uint64_t polls = atomic_load(&last_polls);
        while (atomic_load(&last_polls) < polls + 4) /* the pollers are at it */
            sched_yield();
        int rc = nblog_console_register(&ops, NULL, &o, &con);
        if (rc == NBLOG_ENOMEM) {
            enomem++;
        } else {
            CHECK(rc == NBLOG_OK, "round %d: register: %s", round, nblog_strerror(rc));
            CHECK(nblog_console_unregister(con) == NBLOG_OK, "round %d: unregister",
                  round);
        }
        CHECK(settled_free_slots() == 1, "round %d: not exactly one free slot", round);
    }
    atomic_store(&last_stop, 1);
    for (int i = 0; i < last_started; i++)
        pthread_join(last_threads[i], NULL);
    last_started = 0;
    check_thread_errors();
    print_message("%d registrations into the last free slot: %d NBLOG_ENOMEM, %" PRIu64
                  " polls\n", LAST_ROUNDS, enomem, atomic_load(&last_polls));
    CHECK(enomem == 0, "%d of %d registrations into a free slot got NBLOG_ENOMEM", enomem,
          LAST_ROUNDS);
}

int main(void)
{
    if (init_nblog() != NBLOG_OK) {
        fprintf(stderr, "nblog_init failed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_seed_scenario, teardown_seed),
        cmocka_unit_test_teardown(test_all_consoles_stuck, teardown_stuck),
        cmocka_unit_test_teardown(test_conservation_churn, teardown_churn),
        cmocka_unit_test_teardown(test_teardown_not_in_signal_handler, teardown_signal),
        cmocka_unit_test_teardown(test_handle_calls_race_teardown, teardown_race),
        cmocka_unit_test(test_register_races_shutdown),
        cmocka_unit_test_teardown(test_last_slot_transient_refs, teardown_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

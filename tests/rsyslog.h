/*
 * rsyslog.h - the network tests' fixture (test-syslog.c, test-tls.c): a
 * real rsyslogd on loopback that each test starts with a config of its
 * own (struct rsys: plain TCP and UDP inputs, or a TLS input with the
 * certificates the test made), the tally of what it wrote in seq space,
 * and the nblog side's helpers (rings, a syslog console, pacing, a
 * producer that lets the test stop and restart the collector midway).
 * See test-syslog.c's opening comment for what is checked and why.
 * Static inline functions (a test file need not use them all).
 */
#ifndef NBLOG_TEST_RSYSLOG_H
#define NBLOG_TEST_RSYSLOG_H

#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"

/* ---- a collector: rsyslogd on loopback --------------------------------- */

#define RSYSLOGD "/usr/sbin/rsyslogd"

struct rsys {
    char dir[64];
    char conf[128], out[128], pidfile[128];
    int tcp_port, udp_port;
    pid_t pid;
    /* Set (then rsys_write_conf): tcp_port is a TLS input (RFC 5425,
     * rsyslog's gtls driver, Debian rsyslog-gnutls) with these PEM files;
     * tls_client_name: the name our certificate must carry, else any
     * client (anonymous clients are let in). */
    char tls_ca[128], tls_cert[128], tls_key[128];
    const char *tls_client_name;
};

static inline int free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A TCP socket listening on 127.0.0.1 (backlog: connections the kernel
 * accepts with nobody calling accept); its port into *port. */
static inline int tcp_listener(int backlog, int *port)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, backlog), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return ls;
}

/* The collector of the running test, in static storage so teardown can
 * stop it when an assertion ended the test early (the test's own struct
 * was on its stack). */
static struct rsys live;

static inline void rsys_write_conf(struct rsys *r);

static inline void rsys_init(struct rsys *r)
{
    if (access(RSYSLOGD, X_OK) != 0)
        fail_msg("%s not found: install the rsyslog package (scripts/setup-debian.sh "
                 "does); these tests need a real collector", RSYSLOGD);
    memset(r, 0, sizeof *r);
    assert_non_null(tu_temp_dir(r->dir, sizeof r->dir, "rsyslog"));
    snprintf(r->conf, sizeof r->conf, "%s/rsyslog.conf", r->dir);
    snprintf(r->out, sizeof r->out, "%s/out.log", r->dir);
    snprintf(r->pidfile, sizeof r->pidfile, "%s/rsyslogd.pid", r->dir);
    r->tcp_port = free_port(SOCK_STREAM);
    r->udp_port = free_port(SOCK_DGRAM);
    rsys_write_conf(r);
}

/* (Re)writes r->conf, for the next rsys_start. */
static inline void rsys_write_conf(struct rsys *r)
{
    FILE *f = fopen(r->conf, "w");
    assert_non_null(f);
    if (r->tls_ca[0]) {
        fprintf(f,
                "global(defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=\"%s\" "
                "defaultNetstreamDriverCertFile=\"%s\" defaultNetstreamDriverKeyFile=\"%s\")\n"
                "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" "
                "streamDriver.authMode=\"%s\"%s%s%s)\n",
                r->tls_ca, r->tls_cert, r->tls_key, r->tls_client_name ? "x509/name" : "anon",
                r->tls_client_name ? " permittedPeer=[\"" : "",
                r->tls_client_name ? r->tls_client_name : "", r->tls_client_name ? "\"]" : "");
    } else {
        fprintf(f, "module(load=\"imtcp\")\n");
    }
    fprintf(f,
            "global(workDirectory=\"%s\" maxMessageSize=\"64k\")\n"
            "module(load=\"imudp\")\n"
            "input(type=\"imtcp\" port=\"%d\" address=\"127.0.0.1\" ruleset=\"r\")\n"
            "input(type=\"imudp\" port=\"%d\" address=\"127.0.0.1\" ruleset=\"r\")\n"
            "template(name=\"t\" type=\"string\" string=\"%%pri%%|%%timereported:::"
            "date-rfc3339%%|%%hostname%%|%%app-name%%|%%procid%%|%%msgid%%|"
            "%%structured-data%%|%%msg%%\\n\")\n"
            "ruleset(name=\"r\") { action(type=\"omfile\" file=\"%s\" template=\"t\") }\n",
            r->dir, r->tcp_port, r->udp_port, r->out);
    fclose(f);
    live = *r;
}

static inline int tcp_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static inline void msleep(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
    nanosleep(&ts, NULL);
}

static inline void rsys_start(struct rsys *r)
{
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        char log[160];
        snprintf(log, sizeof log, "%s/rsyslogd.stderr", r->dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(RSYSLOGD, "rsyslogd", "-n", "-f", r->conf, "-i", r->pidfile, (char *)NULL);
        _exit(127);
    }
    live = *r;
    for (int i = 0; i < 1000 && !tcp_accepts(r->tcp_port); i++) {
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid)
            fail_msg("rsyslogd exited at start; see %s/rsyslogd.stderr", r->dir);
        msleep(10);
    }
    assert_true(tcp_accepts(r->tcp_port));
}

/* Graceful stop: SIGTERM, and wait for it to exit. */
/* A collector of this test's, running. */
static inline void rsys_up(struct rsys *r)
{
    rsys_init(r);
    rsys_start(r);
}

static inline void rsys_stop(struct rsys *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGTERM);
    int st;
    waitpid(r->pid, &st, 0);
    r->pid = 0;
    live.pid = 0;
}

static inline void rsys_cleanup(struct rsys *r)
{
    rsys_stop(r);
    char dir[sizeof r->dir];
    strcpy(dir, r->dir); /* r may be &live */
    live.dir[0] = '\0';
    if (tu_remove_dir(dir) != 0)
        print_error("could not remove %s\n", dir);
}

/* What the collector wrote to path so far (empty if nothing yet). */
static inline char *slurp(const char *path, size_t *len)
{
    char *b = tu_slurp(path, len);
    if (!b) {
        *len = 0;
        b = calloc(1, 1);
    }
    return b;
}

/* ---- what the collector wrote, in seq space ---------------------------- */

struct tally {
    uint64_t lo, hi;      /* the seqs accounted for: [lo, hi) */
    unsigned char *seen;  /* per seq: times received */
    unsigned char *lost;  /* per seq: covered by a dropped notice */
    uint64_t lines, received, dups, notices_dropped, missing, mine;
    uint64_t out_of_order; /* a seq not above the previous one: shown, not
                              asserted (rsyslog's workers reorder) */
    uint64_t first_out_of_order; /* a seq's first arrival below an earlier
                                    one's (resent copies aside): one stream
                                    into one worker keeps this 0 */
    uint64_t bad;         /* lines that do not parse as ours */
};

static inline const char *field_n(const char *line, int n)
{
    for (int i = 0; i < n && line; i++) {
        line = strchr(line, '|');
        if (line)
            line++;
    }
    return line;
}

/* Parses the collector's file (expected_app: APP-NAME must be ours). */
static inline void tally(const char *path, uint64_t lo, uint64_t hi, int expected_app,
                  struct tally *t)
{
    memset(t, 0, sizeof *t);
    t->lo = lo;
    t->hi = hi;
    t->seen = calloc(hi - lo + 1, 1);
    t->lost = calloc(hi - lo + 1, 1);
    size_t len;
    char *buf = slurp(path, &len);
    uint64_t prev = 0, first_max = 0;
    int have_prev = 0;
    time_t now = time(NULL);
    for (char *line = buf, *end; line < buf + len; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            break;
        *end = '\0';
        t->lines++;
        const char *ts = field_n(line, 1), *app = field_n(line, 3);
        const char *sd = field_n(line, 6), *msg = field_n(line, 7);
        const char *sq = sd ? strstr(sd, "[nblog@32473 seq=\"") : NULL;
        int pri = atoi(line);
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *rest = ts ? strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
        if (!sq || !msg || !rest || rest[0] != '.' || pri < 8 || pri > 15 ||
            (expected_app && strncmp(app, "nblogtest|", 10) != 0)) {
            t->bad++;
            continue;
        }
        /* Microseconds, UTC, and the right day (a clock check, not timing). */
        time_t when = timegm(&tm);
        if (strncmp(rest + 7, "Z|", 2) != 0 || when < now - 86400 || when > now + 86400) {
            t->bad++;
            continue;
        }
        uint64_t seq = strtoull(sq + 18, NULL, 10);
        if (have_prev && seq <= prev)
            t->out_of_order++;
        prev = seq;
        have_prev = 1;
        unsigned long long n;
        if (sscanf(msg, "** %llu messages dropped **", &n) == 1) {
            if (seq >= lo && seq + n <= hi && !t->lost[seq - lo]) {
                for (uint64_t s = seq; s < seq + n; s++)
                    t->lost[s - lo] = 1;
                t->notices_dropped += n;
            }
            continue;
        }
        if (seq < lo || seq >= hi)
            continue; /* not this test's (an earlier test's stray) */
        if (t->seen[seq - lo]++) {
            t->dups++;
        } else {
            t->received++;
            if (seq < first_max)
                t->first_out_of_order++;
            first_max = seq;
        }
        long mine;
        if (sscanf(msg, "r %ld", &mine) == 1 && t->seen[seq - lo] == 1)
            t->mine++;
        /* The level this test logged at: info, facility user (14). */
        if (strncmp(msg, "r ", 2) == 0 && pri != 14)
            t->bad++;
    }
    for (uint64_t s = lo; s < hi; s++)
        if (!t->seen[s - lo] && !t->lost[s - lo])
            t->missing++;
    free(buf);
}

static inline void tally_free(struct tally *t)
{
    free(t->seen);
    free(t->lost);
}

static inline void print_tally(const char *what, const struct tally *t)
{
    print_message("%s: seqs %llu..%llu lines %llu received %llu dups %llu dropped "
                  "(notices) %llu missing %llu bad %llu out-of-order %llu\n",
                  what, (unsigned long long)t->lo, (unsigned long long)t->hi,
                  (unsigned long long)t->lines, (unsigned long long)t->received,
                  (unsigned long long)t->dups, (unsigned long long)t->notices_dropped,
                  (unsigned long long)t->missing, (unsigned long long)t->bad,
                  (unsigned long long)t->out_of_order);
}

/* Waits (bounded) until every seq in [lo, hi) is received or dropped. */
static inline void wait_tally(const struct rsys *r, uint64_t lo, uint64_t hi, struct tally *t)
{
    for (int i = 0;; i++) {
        tally(r->out, lo, hi, 1, t);
        if (t->missing == 0 || i >= 600)
            return;
        tally_free(t);
        msleep(100);
    }
}

/* ---- nblog side -------------------------------------------------------- */

static inline int init_ring(size_t records)
{
    return tu_init_debug(records) == NBLOG_OK ? 0 : -1;
}

static inline int setup_big(void **state)
{
    (void)state;
    return init_ring(65536);
}

static inline int setup_small(void **state)
{
    (void)state;
    return init_ring(1024);
}

static inline int teardown(void **state)
{
    (void)state;
    if (live.dir[0])
        rsys_cleanup(&live);
    nblog_shutdown();
    return 0;
}

static inline nblog_console_t *syslog_console(const char *proto, int port,
                                       nblog_syslog_opts_t *so)
{
    char url[64];
    snprintf(url, sizeof url, "syslog+%s://127.0.0.1:%d", proto, port);
    nblog_syslog_opts_t d;
    if (!so) {
        nblog_syslog_opts_init(&d);
        so = &d;
    }
    so->app_name = "nblogtest";
    so->backoff_max_ms = 500;
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_syslog(url, so, NULL, &con), NBLOG_OK);
    return con;
}

static inline nblog_console_stats_t stats(nblog_console_t *con)
{
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    return st;
}

/* Waits while con is more than max records behind (a producer that does
 * not outrun a console it must not lose records to). */
static inline void pace(nblog_console_t *con, uint64_t max)
{
    while (stats(con).lag > max)
        msleep(1);
}

static inline void log_range(long from, long to, nblog_console_t *pace_on)
{
    for (long i = from; i < to; i++) {
        assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "r %ld", i), NBLOG_OK);
        if (pace_on && i % 1000 == 999)
            pace(pace_on, 16384);
    }
}

/* Logs "r 0" .. "r n-1" steadily; it does not pass n/2 before the test
 * has stopped the collector, nor 2n/3 before it started it again, so
 * records are logged while it stops, while it is down and after. */
struct producer {
    long n;
    nblog_console_t *pace_on;
    _Atomic long done;
    _Atomic int stopped, restarted;
};

static inline void *produce(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < p->n; i++) {
        while ((i >= p->n / 2 && !atomic_load(&p->stopped)) ||
               (i >= p->n * 2 / 3 && !atomic_load(&p->restarted)))
            msleep(1);
        if (nblog_printf(NBLOG_LEVEL_INFO, "r %ld", i) != NBLOG_OK)
            abort();
        atomic_store(&p->done, i + 1);
        if (i % 100 == 99) {
            pace(p->pace_on, 16384);
            msleep(1);
        }
    }
    return NULL;
}

/* File lines "r N": all of 0..n-1, in order, no drop notices. */
static inline void assert_file_complete(const char *path, long n)
{
    size_t len;
    char *buf = slurp(path, &len);
    long next = 0;
    for (char *line = buf, *end; line < buf + len; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            break;
        long k;
        if (sscanf(line, "r %ld", &k) == 1) {
            assert_int_equal(k, next);
            next++;
        } else {
            assert_null(strstr(line, "dropped"));
        }
    }
    assert_int_equal(next, n);
    free(buf);
}

/* A file console named "file" at path. */
static inline nblog_console_t *file_console(const char *path)
{
    nblog_console_opts_t fo;
    nblog_console_opts_init(&fo);
    fo.name = "file";
    nblog_console_t *file = NULL;
    assert_int_equal(nblog_console_file(path, 0, 0, &fo, &file), NBLOG_OK);
    return file;
}

/* Runs producer p (its pace_on set) against r's collector: once a third is
 * logged and con is connected (the session is up when the collector goes;
 * not waiting for it to prove itself, which lets a backlog build up that
 * rsyslog, stopped, may not write out),
 * stops the collector gracefully, starts it again at two thirds, waits
 * for the producer, and flushes everything. */
static inline void restart_midstream(struct rsys *r, nblog_console_t *con, struct producer *p)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, produce, p), 0);
    nblog_net_stats_t ns = {0};
    for (int i = 0; i < 6000; i++) {
        assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
        if (atomic_load(&p->done) >= p->n / 3 && ns.connected)
            break;
        msleep(1);
    }
    assert_int_equal(ns.connected, 1);
    rsys_stop(r);
    atomic_store(&p->stopped, 1);
    while (atomic_load(&p->done) < p->n * 2 / 3)
        msleep(1);
    rsys_start(r);
    atomic_store(&p->restarted, 1);
    pthread_join(th, NULL);
    assert_int_equal(nblog_flush(60000, NULL, 0), 0);
}

/* Logs "r FROM".."r TO-1" (padded, so buffers fill sooner), pacing on the
 * file console file at path; then a short flush must find exactly one
 * console behind, the one named name, and file must be done: every record
 * there, in order. */
static inline void assert_only_stalled(nblog_console_t *file, const char *path, long from,
                                       long to, const char *name)
{
    for (long i = from; i < to; i++) {
        assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "r %ld padding to make the "
                                      "record longer, so buffers fill sooner", i),
                         NBLOG_OK);
        if (i % 1000 == 999)
            pace(file, 16384);
    }
    char lag[256];
    int behind = nblog_flush(300, lag, sizeof lag);
    print_message("%s: flush -> %d lagging \"%s\"\n", name, behind, lag);
    assert_int_equal(behind, 1);
    assert_string_equal(lag, name);
    assert_int_equal(nblog_flush(0, NULL, 0), 1); /* the file console is done */
    assert_int_equal(stats(file).lag, 0);
    assert_int_equal(stats(file).dropped, 0);
    assert_file_complete(path, to);
}

/* Waits until every seq con handled is at r (bounded), shows the tally as
 * what, and checks none is missing and every line is ours. Returns con's
 * stats, read first; *t must be tally_free'd. */
static inline nblog_console_stats_t tally_all(const struct rsys *r, nblog_console_t *con,
                                              const char *what, struct tally *t)
{
    nblog_console_stats_t st = stats(con);
    wait_tally(r, st.start_seq, st.next_seq, t);
    print_tally(what, t);
    assert_int_equal(t->missing, 0);
    assert_int_equal(t->bad, 0);
    return st;
}

#endif

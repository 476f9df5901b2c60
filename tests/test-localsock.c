/*
 * test-localsock.c - the consoles to local datagram sockets: journald's
 * native protocol, and syslog to unix:PATH (what /dev/log is).
 *
 * journald: these tests bind their own datagram socket and parse what
 * arrives as the native protocol is documented
 * (systemd.io/JOURNAL_NATIVE_PROTOCOL): fields "KEY=value\n", or "KEY\n" +
 * 64-bit little-endian length + bytes + "\n"; keys of uppercase letters,
 * digits and '_', not starting with '_'; big entries as a sealed memfd
 * passed on an empty datagram. test-journald.c runs the real
 * systemd-journald (a namespace instance) as root.
 * The same socket stands in for /dev/log for the unix: syslog console.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "nblog.h"

static char dir[64];
static char path[128];

static int bind_dgram(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* One datagram (waits up to 10 s); its length, or -1 if none came. */
static ssize_t recv_one(int fd, char *buf, size_t cap, int wait_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) != 1)
        return -1;
    ssize_t n = recv(fd, buf, cap - 1, 0);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* One datagram or, as journald's native protocol allows, the sealed memfd
 * an empty datagram passes (SCM_RIGHTS): its bytes into buf. Its length,
 * or -1 if none came; *via_memfd says which. */
static ssize_t recv_entry(int fd, char *buf, size_t cap, int wait_ms, int *via_memfd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    *via_memfd = 0;
    if (poll(&p, 1, wait_ms) != 1)
        return -1;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {buf, cap - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                         .msg_controllen = sizeof ctl.b};
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (n == 0 && c && c->cmsg_type == SCM_RIGHTS) {
        int mfd;
        memcpy(&mfd, CMSG_DATA(c), sizeof mfd);
        /* journald maps only a memfd sealed against every change. */
        int seals = fcntl(mfd, F_GET_SEALS);
        assert_int_equal(seals, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
        n = pread(mfd, buf, cap - 1, 0);
        close(mfd);
        *via_memfd = 1;
    }
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* ---- the native protocol ------------------------------------------------ */

struct entry {
    int n;
    char key[16][64];
    size_t len[16];
    char val[16][8192];
};

static int key_ok(const char *k, size_t n)
{
    if (n == 0 || n > 64 || k[0] == '_')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            return 0;
    return 1;
}

/* Parses one datagram; -1 if it is not valid native protocol. */
static int parse_entry(const char *d, size_t len, struct entry *e)
{
    memset(e, 0, sizeof *e);
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(d + i, '\n', len - i);
        if (!nl || e->n == 16)
            return -1;
        const char *eq = memchr(d + i, '=', (size_t)(nl - (d + i)));
        size_t kl = (size_t)((eq ? eq : nl) - (d + i));
        if (!key_ok(d + i, kl))
            return -1;
        memcpy(e->key[e->n], d + i, kl);
        if (eq) {
            size_t vl = (size_t)(nl - eq - 1);
            if (vl >= sizeof e->val[0])
                return -1;
            memcpy(e->val[e->n], eq + 1, vl);
            e->len[e->n] = vl;
            i = (size_t)(nl - d) + 1;
        } else { /* binary form */
            uint64_t vl = 0;
            size_t at = (size_t)(nl - d) + 1;
            if (at + 8 > len)
                return -1;
            for (int b = 7; b >= 0; b--)
                vl = vl << 8 | (unsigned char)d[at + (size_t)b];
            if (vl >= sizeof e->val[0] || at + 8 + vl + 1 > len || d[at + 8 + vl] != '\n')
                return -1;
            memcpy(e->val[e->n], d + at + 8, (size_t)vl);
            e->len[e->n] = (size_t)vl;
            i = at + 8 + (size_t)vl + 1;
        }
        e->n++;
    }
    return 0;
}

/* The next datagram (waits up to 10 s), parsed into e; its length. */
static ssize_t recv_parsed(int fd, char *buf, size_t cap, struct entry *e)
{
    ssize_t n = recv_one(fd, buf, cap, 10000);
    assert_true(n > 0);
    assert_int_equal(parse_entry(buf, (size_t)n, e), 0);
    return n;
}

static const char *get(const struct entry *e, const char *key)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->key[i], key) == 0)
            return e->val[i];
    return NULL;
}

/* ---- fixtures ----------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    assert_non_null(tu_temp_dir(dir, sizeof dir, "localsock"));
    snprintf(path, sizeof path, "%s/sock", dir);
    return tu_init_debug(4096) == NBLOG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nblog_shutdown();
    atomic_store(&nblog__printers_paused, 0);
    unlink(path);
    rmdir(dir);
    return 0;
}

static nblog_console_t *journal_with(unsigned max, int mode, const char *const *fields)
{
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.app_name = "nblog test"; /* the space becomes '_' */
    so.max_datagram = max;
    so.sd_params = fields;
    nblog_console_opts_t o;
    nblog_console_opts_init(&o);
    o.mode = mode;
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_journald(path, &so, &o, &con), NBLOG_OK);
    return con;
}

static nblog_console_t *journal(unsigned max, int mode)
{
    return journal_with(max, mode, NULL);
}

/* ---- tests -------------------------------------------------------------- */

static void test_journal_fields(void **state)
{
    (void)state;
    int fd = bind_dgram();
    journal(0, NBLOG_MODE_THREADED);
    nblog_printf(NBLOG_LEVEL_WARNING, "plain");
    nblog_printf(NBLOG_LEVEL_ERR, "evil\nPRIORITY=0\n\nMESSAGE=forged\\ \x01");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    char buf[65536];
    struct entry e;
    ssize_t n = recv_parsed(fd, buf, sizeof buf, &e);
    assert_int_equal(e.n, 11); /* with the call site's CODE_FILE, CODE_LINE, CODE_FUNC */
    assert_string_equal(get(&e, "MESSAGE"), "plain");
    assert_string_equal(get(&e, "CODE_FILE"), __FILE__);
    assert_string_equal(get(&e, "CODE_FUNC"), __func__);
    /* The record's own time, to the microsecond. */
    assert_non_null(get(&e, "SYSLOG_TIMESTAMP"));
    long long us = strtoll(get(&e, "NBLOG_REALTIME_USEC"), NULL, 10);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    assert_true(us > 0 && us <= (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
    assert_string_equal(get(&e, "PRIORITY"), "4");
    assert_string_equal(get(&e, "SYSLOG_FACILITY"), "1");
    assert_string_equal(get(&e, "SYSLOG_IDENTIFIER"), "nblog_test");
    assert_non_null(get(&e, "TID"));
    uint64_t seq = strtoull(get(&e, "NBLOG_SEQ"), NULL, 10);
    n = recv_parsed(fd, buf, sizeof buf, &e);
    assert_int_equal(e.n, 11); /* no field forged */
    assert_string_equal(get(&e, "PRIORITY"), "3");
    /* The exact bytes, in the binary field form. */
    assert_string_equal(get(&e, "MESSAGE"), "evil\nPRIORITY=0\n\nMESSAGE=forged\\ \x01");
    assert_non_null(memmem(buf, (size_t)n, "\nMESSAGE\n", 9));
    assert_int_equal(strtoull(get(&e, "NBLOG_SEQ"), NULL, 10), seq + 1);
    assert_int_equal(recv_one(fd, buf, sizeof buf, 0), -1);
    close(fd);
}

/* Entries back to back in one batch, each MESSAGE any bytes (NUL, empty
 * lines, what looks like a field or a binary length): every one arrives
 * as its own datagram with its exact bytes, in order, no field added. */
static void test_journal_any_bytes(void **state)
{
    (void)state;
    int fd = bind_dgram();
    journal(0, NBLOG_MODE_THREADED);
    enum { N = 64 };
    static char text[N][200];
    static size_t len[N];
    static const char *const pieces[] = {"\n", "\n\n", "MESSAGE\n", "PRIORITY=0\n", "\0",
                                         "\x08\0\0\0\0\0\0\0", "=", "\\", "\xc2\x9b", "x"};
    unsigned r = 12345;
    atomic_store(&nblog__printers_paused, 1); /* so that they go in one batch */
    for (int i = 0; i < N; i++) {
        while (len[i] < 150) {
            r = r * 1103515245u + 12345u;
            size_t k = (r >> 16) % (sizeof pieces / sizeof pieces[0]);
            size_t pl = k == 4 ? 1 : k == 5 ? 8 : strlen(pieces[k]);
            memcpy(text[i] + len[i], pieces[k], pl);
            len[i] += pl;
        }
        assert_int_equal(nblog_write(NBLOG_LEVEL_INFO, text[i], len[i]), NBLOG_OK);
    }
    atomic_store(&nblog__printers_paused, 0);
    static char buf[65536];
    static struct entry e;
    for (int i = 0; i < N; i++) { /* read as they come: the queue holds ~10 */
        recv_parsed(fd, buf, sizeof buf, &e);
        assert_int_equal(e.n, 8);
        assert_string_equal(e.key[7], "MESSAGE");
        assert_int_equal(e.len[7], len[i]);
        assert_memory_equal(e.val[7], text[i], len[i]);
    }
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    assert_int_equal(recv_one(fd, buf, sizeof buf, 0), -1);
    close(fd);
}

/* Over max_datagram: the printer thread sends the entry whole through a
 * sealed memfd; write_atomic (direct mode) cuts MESSAGE instead, marked,
 * still valid protocol, counted truncated. */
static void test_journal_large_entries(void **state)
{
    (void)state;
    int fd = bind_dgram();
    nblog_console_t *con = journal(256, NBLOG_MODE_THREADED);
    char text[400];
    memset(text, 'y', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    text[300] = '\n';
    nblog_printf(NBLOG_LEVEL_INFO, "%s", text);
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    char buf[65536];
    struct entry e;
    int via_memfd;
    ssize_t n = recv_entry(fd, buf, sizeof buf, 10000, &via_memfd);
    assert_true(n > 256);
    assert_true(via_memfd);
    assert_int_equal(parse_entry(buf, (size_t)n, &e), 0);
    assert_string_equal(get(&e, "MESSAGE"), text); /* whole */
    nblog_net_stats_t ns;
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
    assert_int_equal(ns.truncated, 0);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);

    con = journal(256, NBLOG_MODE_DIRECT);
    atomic_store(&nblog__printers_paused, 1); /* only the logging call prints */
    nblog_printf(NBLOG_LEVEL_INFO, "%s", text);
    n = recv_entry(fd, buf, sizeof buf, 0, &via_memfd);
    assert_true(n > 200 && n <= 256);
    assert_false(via_memfd);
    assert_int_equal(parse_entry(buf, (size_t)n, &e), 0);
    const char *m = get(&e, "MESSAGE");
    size_t ml = strlen(m);
    assert_true(ml > 50); /* the fields before MESSAGE take ~170 bytes */
    assert_memory_equal(m, text, ml - strlen(NBLOG_TRUNC_MARKER));
    assert_string_equal(m + ml - strlen(NBLOG_TRUNC_MARKER), NBLOG_TRUNC_MARKER);
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
    assert_int_equal(ns.truncated, 1);
    close(fd);
}

/* sd_params are journal fields after the entry's own, values in the
 * binary form when they hold a newline; a name journald would refuse, or
 * one of the console's own fields, is refused at creation, and
 * nblog_spec_error() says which and why. */
static void test_journal_custom_fields(void **state)
{
    (void)state;
    int fd = bind_dgram();
    static const char *const kv[] = {"DEPLOYMENT", "blue", "NOTE", "two\nlines", NULL};
    journal_with(0, NBLOG_MODE_THREADED, kv);
    nblog_printf(NBLOG_LEVEL_NOTICE, "with fields");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    static char buf[65536];
    static struct entry e;
    recv_parsed(fd, buf, sizeof buf, &e);
    assert_string_equal(get(&e, "DEPLOYMENT"), "blue");
    assert_string_equal(get(&e, "NOTE"), "two\nlines"); /* binary form */
    assert_string_equal(get(&e, "MESSAGE"), "with fields");
    assert_int_equal(e.n, 13); /* after the entry's own 11 */
    close(fd);
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    nblog_console_t *con = NULL;

    static const struct {
        const char *key, *why;
    } bad[] = {
        {"lower", "uppercase"},  {"_PID", "'_'"},        {"1ST", "digit"},
        {"A-B", "uppercase"},    {"MESSAGE", "itself"},  {"NBLOG_SEQ", "nblog's"},
        {"", "1 to 64"},
        {"K12345678901234567890123456789012345678901234567890123456789012345", "1 to 64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[] = {bad[i].key, "v", NULL};
        so.sd_params = one;
        assert_int_equal(nblog_console_journald(path, &so, NULL, &con), NBLOG_EINVAL);
        const char *err = nblog_spec_error();
        if (!strstr(err, bad[i].why) || !strstr(err, bad[i].key))
            fail_msg("key \"%s\": error \"%s\" does not say \"%s\"", bad[i].key, err,
                     bad[i].why);
    }
    const char *no_value[] = {"KEY", NULL, NULL};
    so.sd_params = no_value;
    assert_int_equal(nblog_console_journald(path, &so, NULL, &con), NBLOG_EINVAL);
    assert_non_null(strstr(nblog_spec_error(), "no value"));
}

/* Direct mode: the logging call sends through write_atomic itself; with a
 * receiver that never reads, calls still return at once (EAGAIN is not
 * waited on) and the records wait or are counted dropped. */
static void test_journal_direct_never_blocks(void **state)
{
    (void)state;
    int fd = bind_dgram();
    nblog_console_t *con = journal(0, NBLOG_MODE_DIRECT);
    atomic_store(&nblog__printers_paused, 1);
    nblog_printf(NBLOG_LEVEL_INFO, "direct");
    char buf[65536];
    struct entry e;
    ssize_t n = recv_one(fd, buf, sizeof buf, 0); /* already there */
    assert_true(n > 0);
    assert_int_equal(parse_entry(buf, (size_t)n, &e), 0);
    assert_string_equal(get(&e, "MESSAGE"), "direct");
    long total = SCALED(20000);
    for (long i = 0; i < total; i++)
        assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "flood %ld", i), NBLOG_OK);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    print_message("direct flood: printed %llu lag %llu dropped %llu\n",
                  (unsigned long long)st.printed, (unsigned long long)st.lag,
                  (unsigned long long)st.dropped);
    assert_true(st.lag > 0 || st.dropped > 0); /* the receiver's queue filled */
    char lag[64];
    assert_int_equal(nblog_flush(100, lag, sizeof lag), 1);
    assert_string_equal(lag, st.name); /* "journald:" and its socket's path */
    close(fd);
}

/* unix:PATH, as /dev/log: RFC 3164 without a hostname (syslogd adds it);
 * the receiver going away and coming back is survived and counted. */
static void test_unix_syslog_3164_and_receiver_restart(void **state)
{
    (void)state;
    int fd = bind_dgram();
    char url[160];
    snprintf(url, sizeof url, "unix:%s", path);
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.app_name = "tagged";
    so.rfc3164 = 1;
    so.facility = 3; /* daemon */
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_syslog(url, &so, NULL, &con), NBLOG_OK);
    nblog_printf(NBLOG_LEVEL_ERR, "one\ntwo");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    char buf[8192], mon[4], tail[64];
    unsigned day, hh, mm, ss;
    int pid;
    assert_true(recv_one(fd, buf, sizeof buf, 10000) > 0);
    assert_int_equal(sscanf(buf, "<27>%3s %2u %2u:%2u:%2u tagged[%d]: %63[^\n]", mon, &day,
                            &hh, &mm, &ss, &pid, tail), 7);
    assert_int_equal(pid, getpid());
    assert_string_equal(tail, "one\\x0atwo");
    assert_null(strchr(buf, '\n'));

    /* The receiver goes away: sends fail and are counted; it comes back
     * (a new socket at the same path, as a restarted syslogd makes) and
     * the console reconnects by itself. */
    close(fd);
    unlink(path);
    nblog_printf(NBLOG_LEVEL_ERR, "while gone");
    nblog_flush(2000, NULL, 0);
    fd = bind_dgram();
    nblog_printf(NBLOG_LEVEL_ERR, "back");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    assert_true(recv_one(fd, buf, sizeof buf, 10000) > 0);
    assert_non_null(strstr(buf, "]: back"));
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_int_equal(st.write_failed, 1);
    assert_int_equal(st.printed, 2);
    tu_assert_stats_books(&st);
    close(fd);
}

/* A forked child's lines carry its own pid (RFC 3164 TAG[PID], RFC 5424
 * PROCID), not the pid the console was made in. */
static void test_forked_child_own_pid(void **state)
{
    (void)state;
    int fd = bind_dgram();
    char url[160];
    snprintf(url, sizeof url, "unix:%s", path);
    for (int rfc3164 = 0; rfc3164 <= 1; rfc3164++) {
        nblog_syslog_opts_t so;
        nblog_syslog_opts_init(&so);
        so.app_name = "forker";
        so.rfc3164 = rfc3164;
        nblog_console_t *con = NULL;
        assert_int_equal(nblog_console_syslog(url, &so, NULL, &con), NBLOG_OK);
        nblog_printf(NBLOG_LEVEL_ERR, "from the parent");
        assert_int_equal(nblog_flush(10000, NULL, 0), 0);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            nblog_printf(NBLOG_LEVEL_ERR, "from the child");
            _exit(nblog_flush(10000, NULL, 0) == 0 ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        char buf[8192];
        int got_parent = 0, got_child = 0;
        for (int i = 0; i < 2; i++) {
            assert_true(recv_one(fd, buf, sizeof buf, 10000) > 0);
            const char *at = rfc3164 ? strstr(buf, "forker[") : strstr(buf, " forker ");
            assert_non_null(at);
            long pid = strtol(at + 7, NULL, 10);
            if (strstr(buf, "from the parent")) {
                assert_int_equal(pid, getpid());
                got_parent++;
            } else {
                assert_non_null(strstr(buf, "from the child"));
                assert_int_equal(pid, child);
                got_child++;
            }
        }
        assert_int_equal(got_parent, 1);
        assert_int_equal(got_child, 1);
        assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    }
    close(fd);
}

/* Direct mode (logging calls send through write_atomic), the receiver
 * goes away and comes back (journald restarted): records logged while it
 * is gone are counted failed, never printed; once it is back they arrive
 * again, with no reconnect left to the printer thread alone. */
static void test_journal_direct_receiver_restart(void **state)
{
    (void)state;
    int fd = bind_dgram();
    nblog_console_t *con = journal(0, NBLOG_MODE_DIRECT);
    atomic_store(&nblog__printers_paused, 1); /* only the logging calls print */
    char buf[65536];
    nblog_printf(NBLOG_LEVEL_INFO, "before");
    assert_true(recv_one(fd, buf, sizeof buf, 0) > 0);
    assert_non_null(strstr(buf, "MESSAGE=before\n"));
    close(fd); /* gone */
    unlink(path);
    for (int i = 0; i < 5; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "while gone %d", i);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    print_message("gone: printed %llu failed %llu lag %llu\n", (unsigned long long)st.printed,
                  (unsigned long long)st.write_failed, (unsigned long long)st.lag);
    assert_int_equal(st.printed, 1);
    fd = bind_dgram(); /* back */
    nblog_printf(NBLOG_LEVEL_INFO, "after");
    ssize_t n = recv_one(fd, buf, sizeof buf, 0);
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    print_message("back: printed %llu failed %llu lag %llu, got %zd\n",
                  (unsigned long long)st.printed, (unsigned long long)st.write_failed,
                  (unsigned long long)st.lag, n);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "MESSAGE=after\n"));
    assert_int_equal(st.printed, 2);
    assert_int_equal(st.write_failed, 5);
    /* Why they failed: the socket was gone (not "not connected"). */
    assert_int_equal(st.last_error, -ENOENT);
    tu_assert_stats_books(&st);
    nblog_net_stats_t ns;
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
    assert_int_equal(ns.disconnects, 1);
    assert_int_equal(ns.connect_failures, 5); /* a try per call while gone */
    assert_int_equal(ns.connects, 1);         /* and the one that found it back */
    assert_int_equal(ns.connected, 1);
    close(fd);
}

static void test_bad_urls_and_options(void **state)
{
    (void)state;
    nblog_console_t *con = NULL;
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    assert_int_equal(nblog_console_syslog("syslog+tcp://127.0.0.1", NULL, NULL, &con), NBLOG_EINVAL);
    assert_int_equal(nblog_console_syslog("syslog+udp://127.0.0.1:x", NULL, NULL, &con), NBLOG_EINVAL);
    assert_int_equal(nblog_console_syslog("syslog+sctp://127.0.0.1:1", NULL, NULL, &con), NBLOG_EINVAL);
    assert_int_equal(nblog_console_syslog("unix:", NULL, NULL, &con), NBLOG_EINVAL);
    assert_int_equal(nblog_console_syslog(NULL, NULL, NULL, &con), NBLOG_EINVAL);
    so.facility = 24;
    assert_int_equal(nblog_console_syslog("syslog+udp://127.0.0.1:9", &so, NULL, &con), NBLOG_EINVAL);
    nblog_syslog_opts_init(&so);
    static const char *const bad_name[] = {"a b", "v", NULL};
    so.sd_params = bad_name;
    assert_int_equal(nblog_console_syslog("syslog+udp://127.0.0.1:9", &so, NULL, &con), NBLOG_EINVAL);
    /* Names nblog writes in its own SD element are not the program's. */
    static const char *const ours[][3] = {{"seq", "1", NULL},  {"tid", "1", NULL},
                                          {"file", "x", NULL}, {"line", "1", NULL},
                                          {"func", "f", NULL}, {"replayed", "1", NULL}};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        so.sd_params = ours[i];
        assert_int_equal(nblog_console_syslog("syslog+udp://127.0.0.1:9", &so, NULL, &con),
                         NBLOG_EINVAL);
    }
    static const char *const fine[] = {"filename", "x", NULL};
    so.sd_params = fine;
    assert_int_equal(nblog_console_syslog("syslog+udp://127.0.0.1:9", &so, NULL, &con), NBLOG_OK);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    nblog_syslog_opts_init(&so);
    so.max_datagram = 10;
    assert_int_equal(nblog_console_syslog("syslog+udp://127.0.0.1:9", &so, NULL, &con), NBLOG_EINVAL);
    /* A TCP collector need not be up to register. */
    assert_int_equal(nblog_console_syslog("syslog+tcp://[::1]:9", NULL, NULL, &con), NBLOG_OK);
    nblog_net_stats_t ns;
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_ESTALE);
}

/* The console-spec grammar reaches the network consoles and their own
 * options, and names what it refuses. */
static void test_specs(void **state)
{
    (void)state;
    int fd = bind_dgram();
    char spec[256], buf[8192];
    snprintf(spec, sizeof spec, "unix:%s,app=spec-app,facility=local3,sd=off,level=notice",
             path);
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_from_spec(spec, &con), NBLOG_OK);
    nblog_printf(NBLOG_LEVEL_INFO, "filtered out");
    nblog_printf(NBLOG_LEVEL_ERR, "through the spec");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    assert_true(recv_one(fd, buf, sizeof buf, 10000) > 0);
    /* PRI local3 (19) * 8 + err (3) = 155; no structured data. */
    assert_int_equal(strncmp(buf, "<155>1 ", 7), 0);
    assert_non_null(strstr(buf, " spec-app "));
    assert_non_null(strstr(buf, " - through the spec"));
    assert_null(strstr(buf, "nblog@"));
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);

    snprintf(spec, sizeof spec, "journald:%s,app=j", path);
    assert_int_equal(nblog_console_from_spec(spec, &con), NBLOG_OK);
    nblog_printf(NBLOG_LEVEL_ERR, "to the journal");
    assert_int_equal(nblog_flush(10000, NULL, 0), 0);
    assert_true(recv_one(fd, buf, sizeof buf, 10000) > 0);
    assert_non_null(strstr(buf, "SYSLOG_IDENTIFIER=j\n"));
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    close(fd);

    static const struct {
        const char *spec, *names;
    } bad[] = {
        {"syslog+udp://127.0.0.1:9,bogus=1", "bogus"},
        {"syslog+udp://127.0.0.1:9,facility=local9", "facility=local9"},
        {"syslog+tcp://127.0.0.1:9,sd=maybe", "sd=maybe"},
        {"syslog+udp://127.0.0.1", "syslog+udp://127.0.0.1"},
        {"syslog+udp", "needs an argument"},
        {"file:/tmp/x,app=y", "app"},
        {"syslog+sctp://127.0.0.1:9", "syslog+sctp"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nblog_console_from_spec(bad[i].spec, &con), NBLOG_EINVAL);
        if (!strstr(nblog_spec_error(), bad[i].names))
            fail_msg("spec \"%s\": error \"%s\" does not name \"%s\"", bad[i].spec,
                     nblog_spec_error(), bad[i].names);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_any_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_large_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_custom_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_direct_never_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_syslog_3164_and_receiver_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forked_child_own_pid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_direct_receiver_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_urls_and_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_specs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

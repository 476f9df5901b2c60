/*
 * test-journald.c - the journald console against the real systemd-journald:
 * each case starts a namespace instance of its own
 * (`/lib/systemd/systemd-journald NAME`, a unique NAME per run, rate limit
 * off in /etc/systemd/journald@NAME.conf, volatile storage), logs to its
 * socket (/run/systemd/journal.NAME/socket) and reads the entries back
 * with `journalctl --namespace=NAME -o export --all` after
 * `journalctl --namespace=NAME --sync`: the export format carries every
 * field's exact bytes (the binary form for any value that holds a control
 * or a newline, which `-o json` would show as a number array or
 * escaped), so MESSAGE and the custom fields are compared byte for byte.
 *
 * Checked: PRIORITY, SYSLOG_IDENTIFIER, SYSLOG_FACILITY, custom fields,
 * the call site (CODE_FILE, CODE_LINE, CODE_FUNC, also as journalctl
 * -o json shows them; a custom field cannot forge them),
 * MESSAGE exact (newlines, controls, nothing forged), the record's own
 * time (NBLOG_REALTIME_USEC is the call's, before a suspended console was
 * resumed; __REALTIME_TIMESTAMP, journald's arrival stamp, after), large
 * entries through the memfd (over max_datagram, and refused by the kernel
 * with EMSGSIZE), and a journald stopped with SIGTERM: the records
 * meanwhile fail, counted (write_failed, last_error -ECONNREFUSED), the
 * console reconnects to the next instance by itself, nothing lost
 * silently. The daemon and its files are removed at the end of each case,
 * also when it fails (teardown, and atexit for an abort).
 *
 * Needs root and systemd (Debian's systemd package); without them it
 * prints why and exits 77, which ctest counts as skipped.
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nblog.h"

#define JOURNALD "/lib/systemd/systemd-journald"
#define JOURNALCTL "/usr/bin/journalctl"

/* Memfds sent (journald.c, test builds). Weak, so this test also builds
 * against a library without it (reads 0 there). */
__attribute__((weak)) _Atomic uint64_t nblog__journald_memfds;

static char name[64];      /* the namespace */
static char sock_path[128];
static char conf_path[128];
static char app[64];       /* SYSLOG_IDENTIFIER of this run's entries */
static pid_t journald_pid = -1;
static unsigned run;       /* cases so far: one namespace each */

/* ---- the daemon ----------------------------------------------------------- */

static void remove_files(void)
{
    char dir[192], mid[64] = "";
    FILE *f = fopen("/etc/machine-id", "r");
    if (f) {
        if (!fgets(mid, sizeof mid, f))
            mid[0] = '\0';
        mid[strcspn(mid, "\n")] = '\0';
        fclose(f);
    }
    snprintf(dir, sizeof dir, "/run/systemd/journal.%s", name);
    tu_remove_dir(dir);
    snprintf(dir, sizeof dir, "/run/log/journal/%s.%s", mid, name);
    tu_remove_dir(dir);
    snprintf(dir, sizeof dir, "/var/log/journal/%s.%s", mid, name);
    tu_remove_dir(dir);
    unlink(conf_path);
    snprintf(dir, sizeof dir, "/tmp/nblog-test-%s.log", name);
    unlink(dir);
}

static void stop_journald(void)
{
    if (journald_pid <= 0)
        return;
    kill(journald_pid, SIGTERM);
    int st;
    while (waitpid(journald_pid, &st, 0) < 0 && errno == EINTR) {
    }
    journald_pid = -1;
}

static void cleanup(void)
{
    stop_journald();
    if (name[0])
        remove_files();
}

/* Whether the socket takes a datagram now (the daemon is up). */
static int socket_ready(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, sock_path, strlen(sock_path) + 1); /* < 108: see setup */
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void start_journald(void)
{
    char log[192];
    snprintf(log, sizeof log, "/tmp/nblog-test-%s.log", name);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fd, STDERR_FILENO);
    char *argv[] = {JOURNALD, name, NULL};
    assert_int_equal(posix_spawn(&journald_pid, JOURNALD, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    /* Up when its socket takes a connect (a bound check, not a timing one). */
    for (int i = 0; i < 2000 && !socket_ready(); i++) {
        int st;
        if (waitpid(journald_pid, &st, WNOHANG) == journald_pid) {
            journald_pid = -1;
            fail_msg("systemd-journald %s exited at start; see %s", name, log);
        }
        usleep(5000);
    }
    if (!socket_ready())
        fail_msg("systemd-journald %s: no socket %s after 10 s", name, sock_path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(name, sizeof name, "nblogtest%d-%u", (int)getpid(), run++);
    snprintf(sock_path, sizeof sock_path, "/run/systemd/journal.%s/socket", name);
    snprintf(conf_path, sizeof conf_path, "/etc/systemd/journald@%s.conf", name);
    snprintf(app, sizeof app, "nblog-jt-%d-%u", (int)getpid(), run);
    FILE *f = fopen(conf_path, "w");
    if (!f)
        return -1;
    fputs("[Journal]\nStorage=volatile\nRateLimitIntervalSec=0\nRateLimitBurst=0\n", f);
    fclose(f);
    start_journald();
    nblog_options_t o;
    nblog_options_init(&o);
    o.level = NBLOG_LEVEL_DEBUG;
    o.record_size = 4096; /* up to ~4000 bytes of text a record */
    o.ring_records = 1024;
    return nblog_init(&o) == NBLOG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nblog_shutdown();
    cleanup();
    return 0;
}

/* ---- reading the journal back ------------------------------------------- */

struct field {
    const char *key;
    size_t klen;
    const char *val;
    size_t len;
};
struct entry {
    int n;
    struct field f[64];
};
struct journal {
    char *text; /* journalctl's output (malloc) */
    size_t len;
    int n;      /* entries of ours (SYSLOG_IDENTIFIER=app) */
    struct entry e[64];
};

static const struct field *get(const struct entry *e, const char *key)
{
    for (int i = 0; i < e->n; i++)
        if (e->f[i].klen == strlen(key) && memcmp(e->f[i].key, key, e->f[i].klen) == 0)
            return &e->f[i];
    return NULL;
}

static int count(const struct entry *e, const char *key)
{
    int n = 0;
    for (int i = 0; i < e->n; i++)
        n += e->f[i].klen == strlen(key) && memcmp(e->f[i].key, key, e->f[i].klen) == 0;
    return n;
}

/* The value of key as a string (a copy; the test fails if it is absent). */
static const char *str(const struct entry *e, const char *key)
{
    static char buf[8][256];
    static int next;
    const struct field *f = get(e, key);
    if (!f)
        fail_msg("entry has no %s", key);
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%.*s", (int)f->len, f->val);
    return b;
}

/* Parses journalctl's export format: entries of "KEY=value\n" or
 * "KEY\n" + 64-bit LE length + bytes + "\n", each ending in an empty line. */
static void parse_export(struct journal *j)
{
    size_t i = 0;
    struct entry cur = {0};
    while (i < j->len) {
        if (j->text[i] == '\n') { /* the end of an entry */
            const struct field *id = get(&cur, "SYSLOG_IDENTIFIER");
            if (id && id->len == strlen(app) && memcmp(id->val, app, id->len) == 0 && j->n < 64)
                j->e[j->n++] = cur;
            cur.n = 0;
            i++;
            continue;
        }
        const char *s = j->text + i;
        const char *nl = memchr(s, '\n', j->len - i);
        assert_non_null(nl);
        const char *eq = memchr(s, '=', (size_t)(nl - s));
        struct field f = {.key = s};
        if (eq) {
            f.klen = (size_t)(eq - s);
            f.val = eq + 1;
            f.len = (size_t)(nl - eq - 1);
            i = (size_t)(nl - j->text) + 1;
        } else {
            f.klen = (size_t)(nl - s);
            size_t at = (size_t)(nl - j->text) + 1;
            assert_true(at + 8 <= j->len);
            uint64_t vl = 0;
            for (int b = 7; b >= 0; b--)
                vl = vl << 8 | (unsigned char)j->text[at + (size_t)b];
            assert_true(at + 8 + vl + 1 <= j->len);
            f.val = j->text + at + 8;
            f.len = (size_t)vl;
            i = at + 8 + (size_t)vl + 1;
        }
        if (cur.n < 64)
            cur.f[cur.n++] = f;
    }
}

static int run_journalctl(char *const argv[], const char *out)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Our entries in the journal, once there are at least want of them
 * (journalctl --sync, then a look, for up to ~20 s). */
static void read_journal(struct journal *j, int want)
{
    char ns[96], out[192];
    snprintf(ns, sizeof ns, "--namespace=%s", name);
    snprintf(out, sizeof out, "/tmp/nblog-test-%s.export", name);
    char *sync_argv[] = {JOURNALCTL, ns, "--sync", NULL};
    char *read_argv[] = {JOURNALCTL, ns, "-o", "export", "--all", "--no-pager", NULL};
    for (int tries = 0;; tries++) {
        if (journald_pid > 0)
            run_journalctl(sync_argv, "/dev/null");
        assert_int_equal(run_journalctl(read_argv, out), 0);
        memset(j, 0, sizeof *j);
        j->text = tu_slurp(out, &j->len);
        assert_non_null(j->text);
        parse_export(j);
        if (j->n >= want || tries == 200)
            break;
        free(j->text);
        usleep(100000);
    }
    unlink(out);
    if (j->n < want)
        fail_msg("journal %s: %d entries of %s, expected %d", name, j->n, app, want);
}

/* The entry whose MESSAGE starts with prefix. */
static const struct entry *find(const struct journal *j, const char *prefix)
{
    for (int i = 0; i < j->n; i++) {
        const struct field *m = get(&j->e[i], "MESSAGE");
        if (m && m->len >= strlen(prefix) && memcmp(m->val, prefix, strlen(prefix)) == 0)
            return &j->e[i];
    }
    fail_msg("no entry \"%s\" in journal %s", prefix, name);
    return NULL;
}

static void assert_message(const struct entry *e, const char *text, size_t len)
{
    const struct field *m = get(e, "MESSAGE");
    assert_non_null(m);
    assert_int_equal(m->len, len);
    assert_memory_equal(m->val, text, len);
    assert_int_equal(count(e, "MESSAGE"), 1);
}

static int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static nblog_console_t *journal_console(const char *const *fields, unsigned max)
{
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.app_name = app;
    so.facility = 3; /* daemon */
    so.sd_params = fields;
    so.max_datagram = max;
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_journald(sock_path, &so, NULL, &con), NBLOG_OK);
    return con;
}

/* ---- tests ---------------------------------------------------------------- */

/* Every field as journald stored it, and the record's own time. */
static void test_fields_and_time(void **state)
{
    (void)state;
    static const char *const fields[] = {"DEPLOYMENT", "blue", "NOTE", "two\nlines", NULL};
    nblog_console_t *con = journal_console(fields, 0);
    static const char multi[] = "line one\nline two\n\tindented\n";
    static const char ctl[] = "a\x01" "b\x1b[2Jc\\d";
    static const char forge[] = "x\nPRIORITY=0\nFORGED=1\n\nMESSAGE=y";
    nblog_printf(NBLOG_LEVEL_WARNING, "plain \xc3\xa9");
    nblog_printf(NBLOG_LEVEL_ERR, "%s", multi);
    nblog_printf(NBLOG_LEVEL_INFO, "%s", ctl);
    nblog_printf(NBLOG_LEVEL_DEBUG, "%s", forge);
    tu_assert_flushed_within(10000);

    /* A record logged while its console is suspended reaches journald
     * only after the resume: journald's stamp is then, ours the call's. */
    assert_int_equal(nblog_console_suspend(con), NBLOG_OK);
    int64_t before = now_us();
    nblog_printf(NBLOG_LEVEL_NOTICE, "while suspended");
    int64_t after = now_us();
    usleep(1100000); /* so the two stamps differ by more than a second */
    int64_t resumed = now_us();
    assert_int_equal(nblog_console_resume(con), NBLOG_OK);
    tu_assert_flushed_within(10000);

    struct journal j;
    read_journal(&j, 5);
    assert_int_equal(j.n, 5);
    const struct entry *e = find(&j, "plain");
    assert_message(e, "plain \xc3\xa9", 8);
    assert_string_equal(str(e, "PRIORITY"), "4");
    assert_string_equal(str(e, "SYSLOG_FACILITY"), "3");
    assert_string_equal(str(e, "DEPLOYMENT"), "blue");
    const struct field *note = get(e, "NOTE");
    assert_non_null(note);
    assert_int_equal(note->len, 9);
    assert_memory_equal(note->val, "two\nlines", 9);
    assert_string_equal(str(e, "_TRANSPORT"), "journal");
    assert_int_equal(strtol(str(e, "_PID"), NULL, 10), getpid());
    uint64_t seq = strtoull(str(e, "NBLOG_SEQ"), NULL, 10);

    e = find(&j, "line one");
    assert_message(e, multi, sizeof multi - 1);
    assert_string_equal(str(e, "PRIORITY"), "3");
    assert_int_equal(strtoull(str(e, "NBLOG_SEQ"), NULL, 10), seq + 1);
    e = find(&j, "a\x01");
    assert_message(e, ctl, sizeof ctl - 1);
    e = find(&j, "x\n");
    assert_message(e, forge, sizeof forge - 1);
    assert_int_equal(count(e, "PRIORITY"), 1);
    assert_string_equal(str(e, "PRIORITY"), "7");
    assert_null(get(e, "FORGED"));

    e = find(&j, "while suspended");
    int64_t ours = strtoll(str(e, "NBLOG_REALTIME_USEC"), NULL, 10);
    int64_t arrival = strtoll(str(e, "__REALTIME_TIMESTAMP"), NULL, 10);
    print_message("suspended record: call %lld, journald's stamp %lld (+%lld us)\n",
                  (long long)ours, (long long)arrival, (long long)(arrival - ours));
    assert_true(ours >= before - 1000 && ours <= after + 1000); /* the call's */
    assert_true(arrival >= resumed);                            /* arrival's */
    /* SYSLOG_TIMESTAMP: the same second, local time, as syslog writes it. */
    time_t s = (time_t)(ours / 1000000);
    struct tm tm;
    char want[32];
    localtime_r(&s, &tm);
    strftime(want, sizeof want, "%b %e %H:%M:%S", &tm);
    assert_string_equal(str(e, "SYSLOG_TIMESTAMP"), want);
    free(j.text);
    tu_assert_books(con);
}

/* Entries too long for a datagram go through a sealed memfd: over
 * max_datagram (a long multi-line message; 200 KiB of custom fields), and
 * refused by the kernel (EMSGSIZE: 250 KiB with max_datagram 1 MiB). A
 * record holds at most ~4 KiB of text (NBLOG_RECORD_SIZE_MAX), so the
 * 200 KiB ones are custom fields. */
static void test_large_entries(void **state)
{
    (void)state;
    uint64_t memfds = atomic_load(&nblog__journald_memfds);
    char text[4000];
    for (size_t i = 0; i < sizeof text - 1; i++)
        text[i] = i % 61 == 60 ? '\n' : (char)('a' + i % 26);
    text[sizeof text - 1] = '\0';
    nblog_console_t *con = journal_console(NULL, 1024);
    nblog_printf(NBLOG_LEVEL_INFO, "%s", text);
    tu_assert_flushed_within(10000);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);

    static char big[200 * 1024 + 1], bigger[250 * 1024 + 1];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = i % 100 == 99 ? '\n' : (char)('A' + i % 26);
    for (size_t i = 0; i < sizeof bigger - 1; i++)
        bigger[i] = (char)('0' + i % 10);
    const char *f1[] = {"BLOB", big, NULL};
    con = journal_console(f1, 0);
    nblog_printf(NBLOG_LEVEL_INFO, "with 200 KiB\nof fields");
    tu_assert_flushed_within(10000);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    const char *f2[] = {"BLOB", bigger, NULL};
    con = journal_console(f2, 1u << 20);
    nblog_printf(NBLOG_LEVEL_INFO, "with 250 KiB");
    tu_assert_flushed_within(10000);
    nblog_net_stats_t ns;
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
    assert_int_equal(ns.truncated, 0);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_int_equal(st.write_failed, 0);
    assert_int_equal(atomic_load(&nblog__journald_memfds) - memfds, 3);

    struct journal j;
    read_journal(&j, 3);
    assert_message(find(&j, "abc"), text, sizeof text - 1);
    const struct entry *e = find(&j, "with 200 KiB");
    assert_message(e, "with 200 KiB\nof fields", 22);
    const struct field *b = get(e, "BLOB");
    assert_non_null(b);
    assert_int_equal(b->len, sizeof big - 1);
    assert_memory_equal(b->val, big, b->len);
    e = find(&j, "with 250 KiB");
    b = get(e, "BLOB");
    assert_non_null(b);
    assert_int_equal(b->len, sizeof bigger - 1);
    assert_memory_equal(b->val, bigger, b->len);
    free(j.text);
}

/* journald stopped (SIGTERM) while the console is idle: what is logged
 * meanwhile fails, counted and named (last_error -ECONNREFUSED: its
 * socket is there, nobody reads it); a new instance is found by itself. */
static void test_journald_restart(void **state)
{
    (void)state;
    nblog_console_t *con = journal_console(NULL, 0);
    nblog_printf(NBLOG_LEVEL_INFO, "before the restart");
    tu_assert_flushed_within(10000);
    struct journal j;
    read_journal(&j, 1);
    free(j.text);

    stop_journald();
    for (int i = 0; i < 3; i++)
        nblog_printf(NBLOG_LEVEL_INFO, "while gone %d", i);
    tu_assert_flushed_within(10000); /* failed records are done with too */
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_int_equal(st.printed, 1);
    assert_int_equal(st.write_failed, 3);
    assert_int_equal(st.last_error, -ECONNREFUSED);
    print_message("gone: last_error %d (%s)\n", st.last_error, strerror(-st.last_error));
    tu_assert_stats_books(&st);
    nblog_net_stats_t ns;
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
    assert_int_equal(ns.disconnects, 1);
    assert_true(ns.connect_failures >= 1);
    assert_int_equal(ns.connected, 0);

    start_journald();
    nblog_printf(NBLOG_LEVEL_INFO, "after the restart");
    tu_assert_flushed_within(10000);
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_int_equal(st.printed, 2);
    assert_int_equal(st.write_failed, 3);
    tu_assert_stats_books(&st);
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
    assert_int_equal(ns.connects, 1);
    assert_int_equal(ns.connected, 1);
    read_journal(&j, 2);
    assert_int_equal(j.n, 2);
    find(&j, "before the restart");
    find(&j, "after the restart");
    free(j.text);
}

/* The call site of the logging macros, in journald's own fields
 * (CODE_FILE, CODE_LINE, CODE_FUNC, as sd_journal_print writes them): as
 * the export format and journalctl -o json give them back; none for a
 * record without one (nblog_write); a custom field cannot forge them. */
static void test_location(void **state)
{
    (void)state;
    static const char *const forged[] = {"CODE_FILE", "forged.c", NULL};
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.sd_params = forged;
    nblog_console_t *bad = NULL;
    assert_int_equal(nblog_console_journald(sock_path, &so, NULL, &bad), NBLOG_EINVAL);
    assert_non_null(strstr(nblog_spec_error(), "CODE_FILE"));
    static const char *const fields[] = {"DEPLOYMENT", "blue", NULL};
    journal_console(fields, 0);
    const unsigned line1 = __LINE__ + 1;
    NBLOG_INFO("deferred %d", 1);
    const unsigned line2 = __LINE__ + 1;
    nblog_info("formatted %s", "two");
    nblog_write(NBLOG_LEVEL_INFO, "written", 7);
    tu_assert_flushed_within(10000);

    struct journal j;
    read_journal(&j, 3);
    assert_int_equal(j.n, 3);
    const unsigned lines[2] = {line1, line2};
    const char *const msgs[2] = {"deferred 1", "formatted two"};
    for (int i = 0; i < 2; i++) {
        const struct entry *e = find(&j, msgs[i]);
        assert_string_equal(str(e, "CODE_FILE"), __FILE__);
        assert_int_equal(strtoul(str(e, "CODE_LINE"), NULL, 10), lines[i]);
        assert_string_equal(str(e, "CODE_FUNC"), __func__);
        assert_int_equal(count(e, "CODE_FILE"), 1);
        assert_int_equal(count(e, "CODE_LINE"), 1);
        assert_int_equal(count(e, "CODE_FUNC"), 1);
        assert_string_equal(str(e, "DEPLOYMENT"), "blue");
        assert_message(e, msgs[i], strlen(msgs[i]));
    }
    const struct entry *e = find(&j, "written");
    assert_null(get(e, "CODE_FILE"));
    assert_null(get(e, "CODE_LINE"));
    assert_null(get(e, "CODE_FUNC"));
    free(j.text);

    /* journalctl -o json: one object a line, our fields as strings. */
    char ns[96], out[192], match[96], want[512];
    snprintf(ns, sizeof ns, "--namespace=%s", name);
    snprintf(out, sizeof out, "/tmp/nblog-test-%s.json", name);
    snprintf(match, sizeof match, "SYSLOG_IDENTIFIER=%s", app);
    char *argv[] = {JOURNALCTL, ns, "-o", "json", "--no-pager", match, NULL};
    assert_int_equal(run_journalctl(argv, out), 0);
    size_t len;
    char *text = tu_slurp(out, &len);
    unlink(out);
    assert_non_null(text);
    int found = 0;
    for (char *l = text, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
        *nl = '\0';
        for (int i = 0; i < 2; i++) {
            snprintf(want, sizeof want, "\"MESSAGE\":\"%s\"", msgs[i]);
            if (!strstr(l, want))
                continue;
            found++;
            snprintf(want, sizeof want, "\"CODE_FILE\":\"%s\"", __FILE__);
            assert_non_null(strstr(l, want));
            snprintf(want, sizeof want, "\"CODE_LINE\":\"%u\"", lines[i]);
            assert_non_null(strstr(l, want));
            snprintf(want, sizeof want, "\"CODE_FUNC\":\"%s\"", __func__);
            assert_non_null(strstr(l, want));
        }
        if (strstr(l, "\"MESSAGE\":\"written\""))
            assert_null(strstr(l, "\"CODE_FILE\""));
    }
    assert_int_equal(found, 2);
    free(text);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("test-journald: skipped: needs root (it starts systemd-journald %s)\n",
               "NAME");
        return 77;
    }
    if (access(JOURNALD, X_OK) != 0 || access(JOURNALCTL, X_OK) != 0) {
        printf("test-journald: skipped: %s or %s missing (Debian package systemd)\n",
               JOURNALD, JOURNALCTL);
        return 77;
    }
    atexit(cleanup);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields_and_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journald_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_location, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

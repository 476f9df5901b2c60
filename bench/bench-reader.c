/*
 * bench-reader.c - nblog-bench reader: how fast `nblog dmesg` prints a
 * ring file of N records beside how fast journalctl prints the same N
 * entries from its own journal (issue 16, item 5).
 *
 *   nblog-bench reader [--count N] [--runs R] [--way printf|info]
 *                      [--nblog PATH] [--no-journald] [--json-only]
 *
 * METHOD (bench/README.md says more)
 *
 *   1. nblog: a child process (the bench itself never initialises nblog)
 *      stores N records of the bench message (bench-common.h) with
 *      nblog_printf (or NBLOG_INFO with --way info: readers then format)
 *      into a ring file on disk under /tmp sized to hold them all
 *      (ring_records N, record_size 128, no console), then exits. The
 *      bench opens the file with nblog_ringfile_open and checks with
 *      nblog_ringfile_info that it holds exactly N records, none lost or
 *      overwritten.
 *   2. journald: as root, with /lib/systemd/systemd-journald present, a
 *      namespace instance of its own is started by hand
 *      (`systemd-journald NAME`, NAME nbrb<pid>), after writing
 *      /etc/systemd/journald@NAME.conf with rate limits off, persistent
 *      storage and room for every entry. The same N messages go to its
 *      socket in journald's native protocol (MESSAGE, PRIORITY,
 *      SYSLOG_IDENTIFIER), batched with sendmmsg on a non-blocking socket
 *      that waits in poll when journald's queue is full, so none is lost;
 *      then `journalctl --sync`, and journalctl counts the entries until
 *      all N are there; then SIGTERM, so the journal files are complete
 *      and offline. The namespace's files, runtime directory and
 *      configuration are removed at the end. Without root or the binary,
 *      the journalctl column says why and only nblog's figures are given.
 *   3. Both files are read once untimed, plain, into a file under /tmp
 *      whose every line is checked (check_file: each record exactly once,
 *      exact text): this also brings both into the page cache. Then R
 *      rounds (default 3), each running every command of the table below
 *      once, journalctl then nblog, so the tools are interleaved. A run is
 *      the wall time (CLOCK_MONOTONIC) from posix_spawn to end of output
 *      and exit; the output goes through a pipe (1 MiB) that the bench
 *      reads and counts: lines, and lines that start with '{' (JSON
 *      objects). Output that is short, or a command that fails, is a bug:
 *      its figure is not shown and the bench exits 1.
 *
 * COMMANDS
 *
 *   One table, reader_formats below: per format the journalctl arguments
 *   and the `nblog dmesg` ones, the latter as variants tried in order,
 *   each used only if `nblog dmesg --help` mentions its option (the
 *   command's options are growing); none: the column says "n/a (needs
 *   OPTION)". `--no-pager` is passed to nblog when its help mentions it.
 *   The nblog command is found next to the bench (../tools/nblog from
 *   /proc/self/exe) unless --nblog names it.
 *
 * OUTPUT
 *
 *   A table (unless --json-only): per format each tool's best and median
 *   seconds, records/s (N / median), and the speed ratio nblog/journalctl
 *   (journalctl's median seconds / nblog's); the command lines; one goal
 *   line per format, "nblog dmesg >= journalctl speed (FORMAT)". Then as
 *   the last line one JSON object: {"bench":"reader","count":N,"runs":R,
 *   "way":"printf","journald":true|false,"results":{"<format>":
 *   {"journalctl":{"best":s,"median":s,"lines":L}|{"na":"why"},
 *   "nblog":{...},"ratio":x|null},...},"goals":[...]}.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
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

#include <nblog.h>

#include "bench-common.h"
#include "bench-modes.h"
#include "bench-pass.h"

extern char **environ;

#define READER_COUNT 1000000L
#define READER_COUNT_MAX 16777216L /* the largest ring nblog makes */
#define READER_RUNS 3
#define READER_RUNS_MAX 15
#define READER_RECORD_SIZE 128u /* the message's text is at most 47 bytes */
#define READER_IDENT "nblog-bench"
#define JOURNALD_BIN "/lib/systemd/systemd-journald"
#define JOURNAL_WAIT_MS 120000 /* after the last send, for every entry to be in the journal */
#define ARGS_MAX 16
#define WHY_MAX 480
#define PATH_CAP 128

/* Matches the records whose i ends in 7 (a tenth of them), in journalctl's
 * PCRE2 and in POSIX regular expressions alike. */
#define READER_GREP "iteration [0-9]*7 value"

/* ---------------------------------------------------------- the commands */

/* A way to ask `nblog dmesg` for a format: used if its help mentions
 * `needs` ("" always); args end at the first NULL. */
struct nblog_variant {
    const char *needs;
    const char *args[4];
};

/*
 * The commands, one row per format: journalctl's arguments (after
 * `journalctl --namespace NAME --no-pager`) and nblog's variants (after
 * `nblog dmesg [--no-pager]`, before the file), the first whose option the
 * help mentions used. Switching a command is one edit here.
 */
static const struct reader_format {
    const char *name;
    const char *journalctl[6];
    struct nblog_variant nblog[3]; /* ends at needs NULL */
    int json;                      /* every line must be one object */
    int grep;                      /* prints only READER_GREP's records */
} reader_formats[] = {
    {"plain", {"-o", "short"}, {{"", {NULL}}}, 0, 0},
    {"json",
     {"-o", "json"},
     {{"--output", {"-o", "json"}}, {"--format", {"-F", "json"}}},
     1,
     0},
    {"grep", {"-o", "short", "-g", READER_GREP}, {{"--grep", {"--grep", READER_GREP}}}, 0, 1},
};
#define NFORMATS (sizeof reader_formats / sizeof reader_formats[0])

enum { TOOL_JOURNALCTL, TOOL_NBLOG, NTOOLS };
static const char *const tool_name[NTOOLS] = {"journalctl", "nblog"};

/* Records of 0..count-1 that READER_GREP matches: i % 10 == 7. */
static long grep_matches(long count)
{
    return count / 10 + (count % 10 > 7);
}

/* ------------------------------------------------------ running a command */

/* What a command printed: lines, and lines that start with '{'. */
struct out_count {
    long lines, objects;
    int mid_line; /* the last byte read was not '\n' */
};

static void count_bytes(struct out_count *c, const char *p, size_t n)
{
    if (n == 0)
        return;
    long lines = 0, objects = !c->mid_line && p[0] == '{';
    for (size_t k = 0; k < n; k++)
        lines += p[k] == '\n';
    /* A line starts after each '\n' but the buffer's last byte. */
    for (const char *q = memchr(p, '\n', n - 1); q;
         q = memchr(q + 1, '\n', (size_t)(p + n - 2 - q)))
        objects += q[1] == '{';
    c->lines += lines;
    c->objects += objects;
    c->mid_line = p[n - 1] != '\n';
}

/*
 * Runs argv (searched in PATH), its stdout to out_fd, or if out_fd is -1
 * to a pipe this reads and counts into *c. *secs: spawn to exit and end of
 * output. Returns 0 if it exited 0, else -1 (why says how it ended).
 */
static int run_cmd(char *const argv[], int out_fd, struct out_count *c, double *secs,
                   char *why, size_t cap)
{
    static char buf[1 << 18];
    int p[2] = {-1, -1};
    memset(c, 0, sizeof *c);
    if (out_fd < 0) {
        if (pipe2(p, O_CLOEXEC) != 0) {
            snprintf(why, cap, "pipe: %s", strerror(errno));
            return -1;
        }
        (void)fcntl(p[0], F_SETPIPE_SZ, 1 << 20); /* fewer switches; as large as allowed */
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd < 0 ? p[1] : out_fd, STDOUT_FILENO);
    pid_t pid;
    uint64_t t0 = mono_ns();
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (out_fd < 0)
        close(p[1]);
    if (rc != 0) {
        snprintf(why, cap, "%s: %s", argv[0], strerror(rc));
        if (out_fd < 0)
            close(p[0]);
        return -1;
    }
    if (out_fd < 0) {
        ssize_t n;
        while ((n = read(p[0], buf, sizeof buf)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;
            count_bytes(c, buf, (size_t)n);
        }
        close(p[0]);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    *secs = (double)(mono_ns() - t0) / 1e9;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        snprintf(why, cap, "%s died of SIG%s", argv[0], sigabbrev_np(WTERMSIG(st)));
    else
        snprintf(why, cap, "%s exited %d", argv[0], WEXITSTATUS(st));
    return -1;
}

/* Runs argv with its output into path (truncated). Returns 0 or -1. */
static int run_to_file(char *const argv[], const char *path, char *why, size_t cap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct out_count c;
    double secs;
    int rc = run_cmd(argv, fd, &c, &secs, why, cap);
    close(fd);
    return rc;
}

/* ------------------------------------------------------ the nblog ring file */

/* Stores count records into a new ring file at path, in a child process;
 * *slots: the ring's. Returns 0, or -1 (why says why). */
static int ring_write(const char *path, long count, int deferred, uint64_t *slots, char *why,
                      size_t cap)
{
    unlink(path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, cap, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        nblog_options_t opt;
        nblog_options_init(&opt);
        opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
        opt.crash_handlers = NBLOG_CRASH_NONE;
        opt.ring_path = path;
        opt.ring_records = (size_t)count;
        opt.record_size = READER_RECORD_SIZE;
        opt.program = READER_IDENT;
        int rc = nblog_init(&opt);
        if (rc != NBLOG_OK) {
            fprintf(stderr, "nblog-bench: nblog_init(%s): %s\n", path, nblog_strerror(rc));
            _exit(1);
        }
        long errors = 0;
        for (long k = 0; k < count; k++) {
            int i = (int)k;
            rc = deferred ? NBLOG_INFO(BENCH_FMT, i, BENCH_VALUE(i), BENCH_NAME)
                          : nblog_printf(NBLOG_LEVEL_INFO, BENCH_FMT, i, BENCH_VALUE(i),
                                         BENCH_NAME);
            errors += rc != NBLOG_OK;
        }
        nblog_shutdown();
        _exit(errors ? 1 : 0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(why, cap, "the writer child failed (status 0x%x)", st);
        return -1;
    }
    nblog_ringfile_t *f;
    char fwhy[WHY_MAX - PATH_CAP - 8];
    int rc = nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, &f, fwhy, sizeof fwhy);
    if (rc != NBLOG_OK) {
        snprintf(why, cap, "%s: %s", path, fwhy);
        return -1;
    }
    nblog_ringfile_info_t info;
    rc = nblog_ringfile_info(f, &info);
    nblog_ringfile_close(f);
    *slots = info.records;
    if (rc != NBLOG_OK || info.head - info.first_seq != (uint64_t)count || info.lost ||
        info.oldest > info.first_seq) {
        snprintf(why, cap,
                 "%s holds seq %llu..%llu (oldest %llu), lost %llu: not the %ld records "
                 "written",
                 path, (unsigned long long)info.first_seq, (unsigned long long)info.head,
                 (unsigned long long)info.oldest, (unsigned long long)info.lost, count);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- journald */

struct journal {
    char name[32];          /* the namespace: nbrb<pid> */
    char conf[PATH_CAP];    /* /etc/systemd/journald@NAME.conf */
    char rundir[PATH_CAP];  /* /run/systemd/journal.NAME */
    char sock[PATH_CAP + 8]; /* its native socket */
    char logdir[PATH_CAP];  /* /var/log/journal/MACHINE-ID.NAME */
    pid_t pid;              /* the running instance, or 0 */
    double ingest_s;        /* first datagram to every entry in the journal */
    long extra;             /* entries of journald's own ("Journal started") */
    long long bytes;        /* the journal files' size on disk */
};

/* Removes the files in dir (no subdirectories are made there), then dir;
 * returns their bytes on disk. Quiet if dir is not there. */
static long long dir_remove(const char *dir, int remove)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    long long bytes = 0;
    struct dirent *e;
    char p[PATH_CAP + 264];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0)
            bytes += (long long)st.st_blocks * 512;
        if (remove)
            unlink(p);
    }
    closedir(d);
    if (remove)
        rmdir(dir);
    return bytes;
}

static void journal_stop(struct journal *j)
{
    if (j->pid <= 0)
        return;
    kill(j->pid, SIGTERM);
    int st;
    for (int k = 0; k < 3000; k++) { /* 30 s, then SIGKILL */
        pid_t r = waitpid(j->pid, &st, WNOHANG);
        if (r == j->pid || (r < 0 && errno != EINTR))
            break;
        if (k == 2999) {
            kill(j->pid, SIGKILL);
            waitpid(j->pid, &st, 0);
        }
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    j->pid = 0;
}

static void journal_remove(struct journal *j)
{
    journal_stop(j);
    j->bytes = dir_remove(j->logdir, 1);
    dir_remove(j->rundir, 1);
    unlink(j->conf);
}

/* Writes the namespace's configuration and starts its journald. Returns 0,
 * or -1 (why says why; nothing left behind). */
static int journal_start(struct journal *j, char *why, size_t cap)
{
    memset(j, 0, sizeof *j);
    if (geteuid() != 0) {
        snprintf(why, cap, "not root: cannot start a journald namespace");
        return -1;
    }
    if (access(JOURNALD_BIN, X_OK) != 0) {
        snprintf(why, cap, "%s: %s", JOURNALD_BIN, strerror(errno));
        return -1;
    }
    char mid[40] = "";
    FILE *m = fopen("/etc/machine-id", "r");
    if (!m || fscanf(m, "%32s", mid) != 1 || strlen(mid) != 32) {
        snprintf(why, cap, "no /etc/machine-id");
        if (m)
            fclose(m);
        return -1;
    }
    fclose(m);
    snprintf(j->name, sizeof j->name, "nbrb%ld", (long)getpid());
    snprintf(j->conf, sizeof j->conf, "/etc/systemd/journald@%s.conf", j->name);
    snprintf(j->rundir, sizeof j->rundir, "/run/systemd/journal.%s", j->name);
    snprintf(j->sock, sizeof j->sock, "%s/socket", j->rundir);
    snprintf(j->logdir, sizeof j->logdir, "/var/log/journal/%s.%s", mid, j->name);
    FILE *c = fopen(j->conf, "w");
    if (!c) {
        snprintf(why, cap, "%s: %s", j->conf, strerror(errno));
        return -1;
    }
    /* Rate limits off, on disk as the default journal, and room for all. */
    fprintf(c, "# nblog-bench reader: removed when the bench ends\n"
               "[Journal]\nStorage=persistent\nRateLimitIntervalSec=0\nRateLimitBurst=0\n"
               "SystemMaxUse=16G\nSystemKeepFree=1G\nSystemMaxFileSize=4G\n");
    if (fclose(c) != 0) {
        snprintf(why, cap, "%s: %s", j->conf, strerror(errno));
        unlink(j->conf);
        return -1;
    }
    char *argv[] = {JOURNALD_BIN, j->name, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&j->pid, JOURNALD_BIN, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        snprintf(why, cap, "%s: %s", JOURNALD_BIN, strerror(rc));
        j->pid = 0;
        unlink(j->conf);
        return -1;
    }
    for (int k = 0; k < 1000; k++) { /* 10 s for its socket */
        struct stat st;
        if (stat(j->sock, &st) == 0 && S_ISSOCK(st.st_mode))
            return 0;
        int ws;
        if (waitpid(j->pid, &ws, WNOHANG) == j->pid) {
            j->pid = 0;
            break;
        }
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    snprintf(why, cap, "%s %s did not make %s", JOURNALD_BIN, j->name, j->sock);
    journal_remove(j);
    return -1;
}

#define SEND_BATCH 64
#define DGRAM_MAX 160

/* Sends count entries of the bench message to j's native socket, none
 * lost: a full queue (EAGAIN) waits in poll, ENOBUFS backs off. */
static int journal_send(struct journal *j, long count, char *why, size_t cap)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(j->sock);
    if (plen >= sizeof sa.sun_path)
        errno = ENAMETOOLONG;
    else
        memcpy(sa.sun_path, j->sock, plen + 1);
    if (fd < 0 || plen >= sizeof sa.sun_path ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(why, cap, "%s: %s", j->sock, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static char bufs[SEND_BATCH][DGRAM_MAX];
    struct iovec iov[SEND_BATCH];
    struct mmsghdr msgs[SEND_BATCH];
    long sent = 0;
    unsigned backoff_us = 100;
    while (sent < count) {
        int n = count - sent < SEND_BATCH ? (int)(count - sent) : SEND_BATCH;
        for (int k = 0; k < n; k++) {
            int i = (int)(sent + k);
            int len = snprintf(bufs[k], DGRAM_MAX,
                               "MESSAGE=" BENCH_FMT "\nPRIORITY=6\nSYSLOG_IDENTIFIER=" READER_IDENT
                               "\n",
                               i, BENCH_VALUE(i), BENCH_NAME);
            iov[k] = (struct iovec){bufs[k], (size_t)len};
            msgs[k] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[k], .msg_iovlen = 1}};
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
            if (r > 0) {
                done += r;
                backoff_us = 100;
            } else if (r < 0 && errno == EAGAIN) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                poll(&pfd, 1, 100);
            } else if (r < 0 && (errno == ENOBUFS || errno == EINTR)) {
                nanosleep(&(struct timespec){0, (long)backoff_us * 1000}, NULL);
                backoff_us = backoff_us < 50000 ? backoff_us * 2 : backoff_us;
            } else {
                snprintf(why, cap, "sendmmsg to %s: %s", j->sock,
                         r < 0 ? strerror(errno) : "sent nothing");
                close(fd);
                return -1;
            }
        }
        sent += n;
    }
    close(fd);
    return 0;
}

/* journalctl --namespace NAME ARGS... (NULL-terminated, ARGS_MAX at most)
 * into argv. */
static void journalctl_argv(const struct journal *j, const char *const *args, char **argv)
{
    int n = 0;
    argv[n++] = "journalctl";
    argv[n++] = "--namespace";
    argv[n++] = (char *)j->name;
    argv[n++] = "--no-pager";
    for (; *args && n < ARGS_MAX - 1; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
}

/* Starts the instance, sends count entries, waits until journalctl counts
 * them all, stops it. Returns 0, or -1 (why; the instance is removed). */
static int journal_fill(struct journal *j, long count, char *why, size_t cap)
{
    if (journal_start(j, why, cap) != 0)
        return -1;
    uint64_t t0 = mono_ns();
    if (journal_send(j, count, why, cap) != 0) {
        journal_remove(j);
        return -1;
    }
    char *sync[ARGS_MAX], *mine[ARGS_MAX];
    journalctl_argv(j, (const char *[]){"--sync", NULL}, sync);
    journalctl_argv(j, (const char *[]){"-o", "cat", "-t", READER_IDENT, NULL}, mine);
    struct out_count c = {0};
    double secs;
    uint64_t sent = mono_ns();
    while (mono_ns() - sent < (uint64_t)JOURNAL_WAIT_MS * 1000000u) {
        if (run_cmd(sync, -1, &c, &secs, why, cap) == 0 &&
            run_cmd(mine, -1, &c, &secs, why, cap) == 0 && c.lines >= count)
            break;
        nanosleep(&(struct timespec){0, 200000000}, NULL);
    }
    j->ingest_s = (double)(mono_ns() - t0) / 1e9;
    journal_stop(j);
    if (c.lines != count) {
        snprintf(why, cap, "the journal holds %ld of the %ld entries sent", c.lines, count);
        journal_remove(j);
        return -1;
    }
    j->bytes = dir_remove(j->logdir, 0);
    return 0;
}

/* ------------------------------------------------------------- the runs */

struct cell {
    int ok;                        /* 1: every run printed what it must */
    char why[WHY_MAX];             /* else why not ("n/a (needs --grep)") */
    char *argv[ARGS_MAX];          /* the command */
    double secs[READER_RUNS_MAX];  /* one per run */
    int runs;
    long lines, want;              /* of the last run; what it must print */
};

/* "needs" mentioned in help as an option (followed by a space, ',', '=' or
 * end of line), so "--format" does not match "--formats". */
static int help_has(const char *help, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = strstr(help, opt); p; p = strstr(p + 1, opt))
        if (p[n] == ' ' || p[n] == ',' || p[n] == '=' || p[n] == '\n' || p[n] == '\0')
            return 1;
    return 0;
}

/* `nblog dmesg --help` into buf (empty if it fails). */
static void nblog_help(const char *nblog, const char *tmp, char *buf, size_t cap)
{
    char why[WHY_MAX];
    char *argv[] = {(char *)nblog, "dmesg", "--help", NULL};
    buf[0] = '\0';
    if (run_to_file(argv, tmp, why, sizeof why) != 0)
        return;
    FILE *f = fopen(tmp, "r");
    if (f) {
        size_t n = fread(buf, 1, cap - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    unlink(tmp);
}

/* nblog's command for format fm, or "n/a (needs ...)" in c->why. */
static void nblog_cell(struct cell *c, const struct reader_format *fm, const char *nblog,
                       const char *help, const char *ring)
{
    const struct nblog_variant *v = fm->nblog;
    while (v->needs && v->needs[0] && !help_has(help, v->needs))
        v++;
    if (!v->needs) {
        snprintf(c->why, sizeof c->why, "n/a (needs %s)", fm->nblog[0].needs);
        return;
    }
    int n = 0;
    c->argv[n++] = (char *)nblog;
    c->argv[n++] = "dmesg";
    if (help_has(help, "--no-pager"))
        c->argv[n++] = "--no-pager";
    for (const char *const *a = v->args; *a; a++)
        c->argv[n++] = (char *)*a;
    c->argv[n++] = (char *)ring;
    c->argv[n] = NULL;
    c->ok = 1;
}

/* One timed run of c; a short output or a failure turns the cell off. */
static void cell_run(struct cell *c, int json)
{
    if (!c->ok)
        return;
    struct out_count oc;
    double secs;
    if (run_cmd(c->argv, -1, &oc, &secs, c->why, sizeof c->why) != 0) {
        c->ok = 0;
        return;
    }
    c->lines = oc.lines;
    if (oc.lines != c->want || (json && oc.objects != c->want) || oc.mid_line) {
        snprintf(c->why, sizeof c->why, "WRONG OUTPUT: %ld lines, %ld objects, want %ld",
                 oc.lines, oc.objects, c->want);
        c->ok = 0;
        return;
    }
    c->secs[c->runs++] = secs;
}

static double cell_best(const struct cell *c)
{
    double b = c->secs[0];
    for (int r = 1; r < c->runs; r++)
        b = c->secs[r] < b ? c->secs[r] : b;
    return b;
}

static double cell_median(const struct cell *c)
{
    double v[READER_RUNS_MAX];
    memcpy(v, c->secs, sizeof v);
    return median_d(v, c->runs);
}

/* The untimed plain run: every record exactly once, in exact text (extra:
 * the other lines). It also brings the file into the page cache. */
static int check_plain(char *const argv[], const char *tmp, long count, long *extra, char *why,
                       size_t cap)
{
    struct file_check fc;
    int rc = run_to_file(argv, tmp, why, cap);
    if (rc == 0 && check_file(tmp, count, 1, &fc) == 0) {
        if (fc.found != count || fc.dup || fc.bad) {
            snprintf(why, cap, "WRONG OUTPUT: %ld of %ld records, %ld twice, %ld wrong",
                     fc.found, count, fc.dup, fc.bad);
            rc = -1;
        }
        *extra = fc.other;
    } else {
        rc = -1;
    }
    unlink(tmp);
    return rc;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nblog-bench reader [--count N] [--runs R] [--way printf|info]\n"
            "                          [--nblog PATH] [--no-journald] [--json-only]\n"
            "  --count N      records in the ring file and entries in the journal\n"
            "                 (default %ld)\n"
            "  --runs R       timed runs of every command, interleaved (default %d)\n"
            "  --way W        printf (default): nblog_printf stores text; info:\n"
            "                 NBLOG_INFO stores arguments and the reader formats\n"
            "  --nblog PATH   the nblog command (default ../tools/nblog from the bench)\n"
            "  --no-journald  nblog alone (journalctl's column says n/a)\n"
            "  --json-only    print only the JSON line\n",
            READER_COUNT, READER_RUNS);
}

static void print_secs(const struct cell *c)
{
    char s[40];
    if (c->ok)
        snprintf(s, sizeof s, "%.3f / %.3f", cell_best(c), cell_median(c));
    printf(" %-22s", c->ok ? s : "-");
}

static void print_rate(const struct cell *c, long count)
{
    if (c->ok)
        printf(" %10.2fM", (double)count / cell_median(c) / 1e6);
    else
        printf(" %11s", "-");
}

static void print_argv(char *const argv[])
{
    for (int k = 0; argv[k]; k++)
        printf("%s%s", k ? " " : "", argv[k]);
}

static void json_cell(const char *tool, const struct cell *c)
{
    printf("\"%s\":", tool);
    if (c->ok) {
        printf("{\"best\":%.4f,\"median\":%.4f,\"lines\":%ld}", cell_best(c), cell_median(c),
               c->lines);
    } else {
        printf("{\"na\":\"");
        for (const char *p = c->why; *p; p++)
            printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
        printf("\"}");
    }
}

static int nblog_path(const char *given, char *buf, size_t cap)
{
    if (given) {
        snprintf(buf, cap, "%s", given);
        return access(buf, X_OK);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    snprintf(buf, cap, "%s/../tools/nblog", exe);
    return access(buf, X_OK);
}

int bench_reader_main(int argc, char **argv)
{
    long count = READER_COUNT, runs = READER_RUNS;
    int json_only = 0, use_journald = 1, deferred = 0;
    const char *nblog_given = NULL;
    for (int a = 2; a < argc; a++) {
        const char *val = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(argv[a], "--count") == 0) {
            count = parse_long("--count", val, 1, READER_COUNT_MAX, usage);
            a++;
        } else if (strcmp(argv[a], "--runs") == 0) {
            runs = parse_long("--runs", val, 1, READER_RUNS_MAX, usage);
            a++;
        } else if (strcmp(argv[a], "--way") == 0 && val &&
                   (strcmp(val, "printf") == 0 || strcmp(val, "info") == 0)) {
            deferred = strcmp(val, "info") == 0;
            a++;
        } else if (strcmp(argv[a], "--nblog") == 0 && val) {
            nblog_given = val;
            a++;
        } else if (strcmp(argv[a], "--no-journald") == 0) {
            use_journald = 0;
        } else {
            common_option(argv[a], &json_only, usage);
        }
    }

    char nblog[PATH_MAX + 32], ring[PATH_CAP], tmp[PATH_CAP], why[WHY_MAX];
    if (nblog_path(nblog_given, nblog, sizeof nblog) != 0) {
        fprintf(stderr, "nblog-bench: no nblog command at %s (--nblog PATH)\n", nblog);
        return 1;
    }
    snprintf(ring, sizeof ring, "/tmp/nblog-bench-%ld-reader.ring", (long)getpid());
    bench_path(tmp, sizeof tmp, "reader", "check", 0);
    uint64_t slots = 0;
    if (ring_write(ring, count, deferred, &slots, why, sizeof why) != 0) {
        fprintf(stderr, "nblog-bench: %s\n", why);
        unlink(ring);
        return 1;
    }

    struct journal j = {0};
    char jwhy[WHY_MAX] = "n/a (--no-journald)";
    int have_journal = use_journald && journal_fill(&j, count, jwhy, sizeof jwhy) == 0;
    if (use_journald && !have_journal)
        fprintf(stderr, "nblog-bench: journald: %s; nblog's figures alone\n", jwhy);

    static char help[16384];
    nblog_help(nblog, tmp, help, sizeof help);
    static struct cell cells[NFORMATS][NTOOLS];
    for (size_t f = 0; f < NFORMATS; f++) {
        const struct reader_format *fm = &reader_formats[f];
        struct cell *jc = &cells[f][TOOL_JOURNALCTL], *nc = &cells[f][TOOL_NBLOG];
        nblog_cell(nc, fm, nblog, help, ring);
        nc->want = fm->grep ? grep_matches(count) : count;
        if (have_journal) {
            journalctl_argv(&j, fm->journalctl, jc->argv);
            jc->ok = 1;
        } else {
            snprintf(jc->why, sizeof jc->why, "%s", jwhy);
        }
    }

    /* Untimed, plain: every record there once, exact; the page cache warm. */
    long extra = 0;
    int failed = 0;
    for (int t = 0; t < NTOOLS; t++) {
        struct cell *c = &cells[0][t];
        if (c->ok && check_plain(c->argv, tmp, count, &extra, c->why, sizeof c->why) != 0) {
            fprintf(stderr, "nblog-bench: %s: %s\n", tool_name[t], c->why);
            for (size_t f = 0; f < NFORMATS; f++)
                cells[f][t].ok = 0;
            failed = 1;
        }
        if (t == TOOL_JOURNALCTL)
            j.extra = extra;
    }
    for (size_t f = 0; f < NFORMATS; f++)
        cells[f][TOOL_JOURNALCTL].want = reader_formats[f].grep ? grep_matches(count)
                                                                : count + j.extra;

    for (int r = 0; r < runs; r++)
        for (size_t f = 0; f < NFORMATS; f++)
            for (int t = 0; t < NTOOLS; t++) {
                struct cell *c = &cells[f][t];
                int was_ok = c->ok;
                cell_run(c, reader_formats[f].json);
                if (was_ok && !c->ok) {
                    fprintf(stderr, "nblog-bench: %s %s: %s\n", tool_name[t],
                            reader_formats[f].name, c->why);
                    failed = 1;
                }
            }
    if (have_journal)
        journal_remove(&j);
    unlink(ring);

    struct goal goals[NFORMATS];
    static char goal_text[NFORMATS][64];
    double ratio[NFORMATS];
    for (size_t f = 0; f < NFORMATS; f++) {
        const struct cell *jc = &cells[f][TOOL_JOURNALCTL], *nc = &cells[f][TOOL_NBLOG];
        snprintf(goal_text[f], sizeof goal_text[f], "nblog dmesg >= journalctl speed (%s)",
                 reader_formats[f].name);
        goals[f] = (struct goal){
            .text = goal_text[f], .unit = GOAL_RATIO, .at_least = 1, .limit = 1};
        goal_ratio(&goals[f], jc->ok ? cell_median(jc) : -1, nc->ok ? cell_median(nc) : 0);
        ratio[f] = goals[f].known ? goals[f].value : -1;
    }

    if (!json_only) {
        printf("nblog-bench reader: %ld records (nblog_%s), %ld timed run(s) per command, "
               "interleaved; wall seconds best / median, output through a pipe the bench "
               "reads; %ld CPUs online, load %.2f\n",
               count, deferred ? "info" : "printf", runs, sysconf(_SC_NPROCESSORS_ONLN),
               load_1min());
        printf("nblog: ring file %s, %ld records in %llu slots of %u B\n", ring, count,
               (unsigned long long)slots, READER_RECORD_SIZE);
        if (have_journal)
            printf("journald: namespace %s, %ld entries (+%ld of journald's own), files %.1f MB "
                   "on disk, ingest %.1f s (%.0f entries/s)\n",
                   j.name, count, j.extra, (double)j.bytes / 1e6, j.ingest_s,
                   (double)count / j.ingest_s);
        else
            printf("journald: %s\n", jwhy);
        printf("\n%-6s %-22s %-22s %11s %11s  %s\n", "format", "journalctl s best/med",
               "nblog s best/med", "jctl rec/s", "nblog rec/s", "nblog/journalctl speed");
        for (size_t f = 0; f < NFORMATS; f++) {
            printf("%-6s", reader_formats[f].name);
            print_secs(&cells[f][TOOL_JOURNALCTL]);
            print_secs(&cells[f][TOOL_NBLOG]);
            print_rate(&cells[f][TOOL_JOURNALCTL], count);
            print_rate(&cells[f][TOOL_NBLOG], count);
            char rs[16];
            printf("  %s", ratio[f] >= 0 ? ratio_str(rs, ratio[f], 1) : "-");
            for (int t = 0; t < NTOOLS; t++)
                if (!cells[f][t].ok)
                    printf("  %s: %s", tool_name[t], cells[f][t].why);
            printf("\n");
        }
        printf("\ncommands (records/s: %ld records over the median; grep prints %ld of them):\n",
               count, grep_matches(count));
        for (size_t f = 0; f < NFORMATS; f++)
            for (int t = 0; t < NTOOLS; t++)
                if (cells[f][t].argv[0]) {
                    printf("  %-6s ", reader_formats[f].name);
                    print_argv(cells[f][t].argv);
                    printf("\n");
                }
        printf("\n");
        goals_print(goals, (int)NFORMATS);
        printf("\n");
    }

    printf("{\"bench\":\"reader\",\"count\":%ld,\"runs\":%ld,\"way\":\"%s\",\"journald\":%s,"
           "\"results\":{",
           count, runs, deferred ? "info" : "printf", have_journal ? "true" : "false");
    for (size_t f = 0; f < NFORMATS; f++) {
        printf("%s\"%s\":{", f ? "," : "", reader_formats[f].name);
        json_cell("journalctl", &cells[f][TOOL_JOURNALCTL]);
        printf(",");
        json_cell("nblog", &cells[f][TOOL_NBLOG]);
        if (ratio[f] >= 0)
            printf(",\"ratio\":%.3f}", ratio[f]);
        else
            printf(",\"ratio\":null}");
    }
    printf("}");
    goals_json(goals, (int)NFORMATS);
    printf("}\n");
    return failed;
}

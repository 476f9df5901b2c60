/*
 * run.c - `nblog run [OPTIONS] -- CMD ARGS`: runs CMD with its syslog(3)
 * calls, its stdout and its stderr as records of this process's ring,
 * printed by this process's consoles (docs/nblog.1, RUN).
 *
 *   CMD's stdout, stderr   pipes; each line a record (--stdout-level,
 *                          --stderr-level; a line longer than a record is
 *                          cut into several).
 *   CMD's syslog(3)        LD_PRELOAD=libnblog-syslog.so (the installed one
 *                          beside this binary, or the build tree's, or
 *                          NBLOG_SYSLOG_PRELOAD) with NBLOG_CONSOLES naming a
 *                          unix datagram socket of ours (RFC 3164, mode=
 *                          direct: sent by each call, so before a
 *                          crash): each
 *                          datagram a record at its own level. The drop-in's
 *                          console never blocks CMD; a datagram we are too
 *                          slow for is counted dropped in CMD's drop-in.
 *                          NBLOG_RING is not passed on: one writer per ring,
 *                          and this process is it.
 *   signals                SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
 *                          SIGUSR2 sent to us by a process are sent on to
 *                          CMD; one the kernel sent (a terminal's ^C,
 *                          a hangup) already reached CMD, which is in our
 *                          process group, and is not sent twice.
 *   exit                   CMD's status, 128 + N if signal N ended it (as
 *                          a shell says), after its last output is stored
 *                          and a notice record says how it ended.
 *
 * What CMD wrote before it crashed is in the ring as far as it reached the
 * pipe: stdio buffers output to a pipe, so a program that does not flush
 * (or stdbuf -oL) loses what its buffer held, as it would under a shell.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nblog.h"
#include "tool.h"

extern char **environ;

#define LINE_MAX_BYTES 4096

static const char run_usage[] =
    "usage: nblog run [OPTIONS] -- CMD [ARGS...]\n"
    "Run CMD with its syslog(3) calls (LD_PRELOAD of libnblog-syslog.so), its\n"
    "stdout and its stderr stored as records and printed through the consoles.\n"
    "Signals sent to nblog run (INT, TERM, HUP, QUIT, USR1, USR2) go on to CMD;\n"
    "the exit status is CMD's (128+N for signal N).\n"
    "\n"
    "  -r, --ring FILE         keep the ring in FILE (without a '/': under\n"
    "                          /dev/shm), for nblog dmesg and nblog status\n"
    "  -o, --stdout-level LVL  level of CMD's stdout lines (default info)\n"
    "  -e, --stderr-level LVL  level of CMD's stderr lines (default warning)\n"
    "  -c, --console SPEC      a console to print to (repeatable); without any,\n"
    "                          the ';'-separated specs in NBLOG_CONSOLES, else stderr\n"
    "  -h, --help              print this help and exit\n"
    "\n"
    "Exit status: CMD's; 1 failure (CMD could not start, ring refused), 2 usage or\n"
    "bad SPEC. See nblog(1).\n";

struct run_opts {
    const char *ring;
    int out_level, err_level;
    const char **specs;
    int nspecs;
    char *env_copy;
    char **cmd;
};

/* One input: a pipe's read end or the syslog socket, with its partial line. */
struct run_in {
    int fd, level, dgram;
    size_t len;
    char buf[LINE_MAX_BYTES];
};

static volatile sig_atomic_t child_pid;

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void on_forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    if (child_pid > 0 && si->si_code != SI_KERNEL)
        kill((pid_t)child_pid, sig);
    errno = saved;
}

static int parse_run(int argc, char **argv, struct run_opts *o)
{
    static const struct option longs[] = {
        {"ring", required_argument, NULL, 'r'},
        {"stdout-level", required_argument, NULL, 'o'},
        {"stderr-level", required_argument, NULL, 'e'},
        {"console", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    *o = (struct run_opts){.out_level = NBLOG_LEVEL_INFO, .err_level = NBLOG_LEVEL_WARNING};
    o->specs = calloc((size_t)argc + 1, sizeof *o->specs);
    if (!o->specs)
        return tool_fail(EXIT_FAIL, "out of memory");
    int c;
    /* '+': options end at the first non-option (CMD), "--" or not. */
    while ((c = getopt_long(argc, argv, "+r:o:e:c:h", longs, NULL)) != -1) {
        switch (c) {
        case 'r': o->ring = optarg; break;
        case 'o':
        case 'e': {
            int lvl = nblog_level_parse(optarg);
            if (lvl < 0)
                return tool_fail(EXIT_USAGE, "--%s-level %s: not a level",
                                 c == 'o' ? "stdout" : "stderr", optarg);
            *(c == 'o' ? &o->out_level : &o->err_level) = lvl;
            break;
        }
        case 'c': o->specs[o->nspecs++] = optarg; break;
        case 'h': return fputs(run_usage, stdout), TOOL_HELP;
        default: return EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return tool_fail(EXIT_USAGE, "run: no command (nblog run [OPTIONS] -- CMD ARGS)");
    o->cmd = argv + optind;
    if (!o->nspecs) {
        const char *env = getenv("NBLOG_CONSOLES");
        if (env && *env && strcmp(env, "none") != 0) {
            if (!(o->env_copy = strdup(env)))
                return tool_fail(EXIT_FAIL, "out of memory");
            char *save = NULL;
            for (char *s = strtok_r(o->env_copy, ";", &save); s; s = strtok_r(NULL, ";", &save))
                o->specs[o->nspecs++] = s;
        } else if (!env || strcmp(env, "none") != 0) {
            o->specs[o->nspecs++] = "stderr";
        }
    }
    return EXIT_OK;
}

/* The drop-in: NBLOG_SYSLOG_PRELOAD, else beside this binary as installed
 * (BINDIR/../LIBDIR), else the build tree's (build/tools/nblog,
 * build/libnblog-syslog.so), else the install path. NULL: none found. */
static const char *find_preload(char *buf, size_t cap)
{
    const char *env = getenv("NBLOG_SYSLOG_PRELOAD");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        static const char *const rel[] = {"/../" NBLOG_RUN_LIBDIR "/libnblog-syslog.so",
                                          "/../libnblog-syslog.so"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            int len = snprintf(buf, cap, "%s%s", exe, rel[i]);
            if (len > 0 && (size_t)len < cap && access(buf, R_OK) == 0)
                return buf;
        }
    }
    snprintf(buf, cap, "%s", NBLOG_RUN_INSTALLED_PRELOAD);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

/* The child's environment: ours, with LD_PRELOAD led by lib, NBLOG_CONSOLES
 * our socket, no NBLOG_RING. Allocated; NULL if out of memory. */
static char **child_env(const char *lib, const char *sock)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    const char *old = getenv("LD_PRELOAD");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "NBLOG_CONSOLES=", 15) &&
            strncmp(environ[i], "NBLOG_RING=", 11))
            env[k++] = environ[i];
    if (asprintf(&env[k++], "LD_PRELOAD=%s%s%s", lib, old && *old ? ":" : "", old ? old : "") < 0 ||
        asprintf(&env[k++], "NBLOG_CONSOLES=unix:%s,rfc3164=on,mode=direct", sock) < 0)
        return NULL;
    return env;
}

/* A datagram "<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG" (RFC 3164 as the drop-in
 * sends it): its PRI (facility * 8 + level; one that is not, 0..191, is
 * left as *pri was), and MSG with the \xNN escapes render made undone
 * (they are made again when printed). Returns the message length. */
static size_t parse_dgram(char *d, size_t len, int *pri)
{
    d[len] = '\0';
    char *p = d;
    if (*p == '<') {
        long v = strtol(p + 1, &p, 10);
        if (v >= 0 && v <= 191)
            *pri = (int)v;
        p = strchr(p, '>') ? strchr(p, '>') + 1 : p;
    }
    char *msg = strstr(p, "]: ");
    msg = msg ? msg + 3 : p;
    size_t out = 0;
    for (char *q = msg; *q; q++) {
        unsigned v;
        if (q[0] == '\\' && q[1] == 'x' && sscanf(q + 2, "%2x", &v) == 1 && q[2] && q[3]) {
            d[out++] = (char)v;
            q += 3;
        } else {
            d[out++] = *q;
        }
    }
    return out;
}

/* Stores one record at syslog priority pri (its facility kept). */
static void store_pri(int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)nblog_vsyslog(pri, fmt, ap);
    va_end(ap);
}

/* Stores in's complete lines (all of it when at_end); a datagram is one. */
static void store_lines(struct run_in *in, int at_end)
{
    if (in->dgram) {
        int pri = NBLOG_LEVEL_INFO; /* facility 0: run's own */
        size_t n = parse_dgram(in->buf, in->len, &pri);
        store_pri(pri, "%.*s", (int)n, in->buf);
        in->len = 0;
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < in->len; i++) {
        if (in->buf[i] == '\n') {
            nblog_printf(in->level, "%.*s", (int)(i - start), in->buf + start);
            start = i + 1;
        }
    }
    if (start == 0 && (at_end || in->len == sizeof in->buf - 1) && in->len > 0) {
        nblog_printf(in->level, "%.*s", (int)in->len, in->buf); /* no '\n' in a full buffer */
        start = in->len;
    }
    memmove(in->buf, in->buf + start, in->len - start);
    in->len -= start;
}

/* Reads what in has; 0 at end of input (pipe closed), else 1. */
static int read_in(struct run_in *in)
{
    ssize_t n = in->dgram ? recv(in->fd, in->buf, sizeof in->buf - 1, MSG_DONTWAIT)
                          : read(in->fd, in->buf + in->len, sizeof in->buf - 1 - in->len);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0 && !in->dgram) {
        store_lines(in, 1);
        return 0;
    }
    in->len += (size_t)n;
    store_lines(in, 0);
    return 1;
}

/* Reads the inputs until both pipes end and the child was reaped; after
 * it exits, a descendant that keeps a pipe open is waited for only while
 * it writes (200 ms of quiet ends it). Returns the wait status. */
static int pump(struct run_in *in, int nin, pid_t pid)
{
    int status = 0, reaped = 0, open = 2;
    while (open > 0 || !reaped) {
        struct pollfd pf[3];
        for (int i = 0; i < nin; i++)
            pf[i] = (struct pollfd){.fd = in[i].fd >= 0 ? in[i].fd : -1, .events = POLLIN};
        int r = poll(pf, (nfds_t)nin, reaped ? 200 : 50);
        if (!reaped && waitpid(pid, &status, WNOHANG) == pid)
            reaped = 1;
        if (r == 0 && reaped)
            break; /* quiet after the exit */
        for (int i = 0; i < nin; i++) {
            if (in[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (!read_in(&in[i]) && !in[i].dgram) {
                close(in[i].fd);
                in[i].fd = -1;
                open--;
            }
        }
    }
    while (!reaped && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < nin; i++) /* the syslog datagrams still queued */
        while (in[i].dgram && recv(in[i].fd, NULL, 0, MSG_PEEK | MSG_DONTWAIT) >= 0)
            (void)read_in(&in[i]);
    return status;
}

static int start(struct run_opts *o, pid_t *pid, struct run_in *in, char *sock)
{
    char libbuf[PATH_MAX];
    const char *lib = find_preload(libbuf, sizeof libbuf);
    if (!lib)
        return tool_fail(EXIT_FAIL, "run: libnblog-syslog.so not found (set NBLOG_SYSLOG_PRELOAD)");
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_path = o->ring;
    opt.level = NBLOG_LEVEL_DEBUG;
    opt.crash_handlers = NBLOG_CRASH_NONE;
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    const char *base = strrchr(o->cmd[0], '/');
    opt.program = base ? base + 1 : o->cmd[0];
    int rc = nblog_init(&opt);
    if (rc == NBLOG_EINVAL) { /* a name nblog refuses as a program: ours */
        opt.program = NULL;
        rc = nblog_init(&opt);
    }
    if (rc != NBLOG_OK)
        return tool_fail(EXIT_FAIL, "%s: %s%s%s", o->ring ? o->ring : "ring", nblog_strerror(rc),
                         rc == NBLOG_EFILE ? ": " : "", rc == NBLOG_EFILE ? strerror(errno) : "");
    for (int i = 0; i < o->nspecs; i++) {
        nblog_console_t *con;
        if (nblog_console_from_spec(o->specs[i], &con) != NBLOG_OK)
            return tool_fail(EXIT_USAGE, "--console %s: %s", o->specs[i], nblog_spec_error());
    }
    /* The syslog socket, in a private directory. */
    const char *tmp = getenv("TMPDIR");
    snprintf(sock, PATH_MAX, "%s/nblog-run.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(sock))
        return tool_fail(EXIT_FAIL, "run: mkdtemp %s: %s", sock, strerror(errno));
    strcat(sock, "/log");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof sa.sun_path)
        return tool_fail(EXIT_FAIL, "run: socket path too long: %s", sock);
    strcpy(sa.sun_path, sock);
    int out[2], err[2];
    in[2].fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (in[2].fd < 0 || bind(in[2].fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
        return tool_fail(EXIT_FAIL, "run: %s", strerror(errno));
    int big = 1 << 20; /* room for bursts: what overflows is the drop-in's drop */
    (void)setsockopt(in[2].fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    in[0].fd = out[0], in[0].level = o->out_level;
    in[1].fd = err[0], in[1].level = o->err_level;
    in[2].dgram = 1;
    char **env = child_env(lib, sock);
    if (!env)
        return tool_fail(EXIT_FAIL, "out of memory");
    struct sigaction fw = {.sa_sigaction = on_forward, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigset_t defaults, none;
    sigemptyset(&defaults);
    sigemptyset(&none);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        sigaction(forwarded[i], &fw, NULL);
        sigaddset(&defaults, forwarded[i]);
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigdefault(&at, &defaults);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    rc = posix_spawnp(pid, o->cmd[0], &fa, &at, o->cmd, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(out[1]);
    close(err[1]);
    for (char **e = env; *e; e++) /* ours: the two child_env made */
        if (!strncmp(*e, "LD_PRELOAD=", 11) || !strncmp(*e, "NBLOG_CONSOLES=", 15))
            free(*e);
    free(env);
    if (rc != 0)
        return tool_fail(EXIT_FAIL, "run: %s: %s", o->cmd[0], strerror(rc));
    child_pid = *pid;
    return EXIT_OK;
}

int nblog_cmd_run(int argc, char **argv)
{
    struct run_opts o;
    int rc = parse_run(argc, argv, &o);
    pid_t pid = 0;
    static struct run_in in[3];
    char sock[PATH_MAX] = "";
    in[0].fd = in[1].fd = in[2].fd = -1;
    if (rc == EXIT_OK)
        rc = start(&o, &pid, in, sock);
    if (rc == EXIT_OK) {
        int status = pump(in, 3, pid);
        if (WIFSIGNALED(status)) {
            rc = 128 + WTERMSIG(status);
            nblog_printf(NBLOG_LEVEL_ERR, "%s (pid %d) killed by signal %d (%s)%s", o.cmd[0],
                         (int)pid, WTERMSIG(status), strsignal(WTERMSIG(status)),
                         WCOREDUMP(status) ? ", core dumped" : "");
        } else {
            rc = WEXITSTATUS(status);
            nblog_printf(rc ? NBLOG_LEVEL_WARNING : NBLOG_LEVEL_NOTICE,
                         "%s (pid %d) exited with status %d", o.cmd[0], (int)pid, rc);
        }
        nblog_flush(2000, NULL, 0);
    }
    child_pid = 0;
    if (sock[0]) {
        unlink(sock);
        *strrchr(sock, '/') = '\0';
        rmdir(sock);
    }
    nblog_shutdown();
    free(o.specs);
    free(o.env_copy);
    return rc;
}

/*
 * test-defaults.c - nblog out of the box: the consoles init starts by
 * itself (a default stderr console, or what NBLOG_CONSOLES names),
 * NBLOG_LEVEL, the default console giving way to the program's own, the
 * program's identity in syslog and journald consoles, and console names.
 *
 * Every case runs in a child process of its own (children.h), so its
 * environment and nblog's init state are fresh; a child checks what it
 * can see itself (CHILD_CHECK), the parent checks its stdout and stderr.
 * Message lines are matched by their text, whatever the console's format
 * puts before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "children.h"
#include "lifecycle.h" /* nblog__init_hook */

/* ---------------------------------------------------------- child side */

/* The two lines most cases log: one below the default threshold. */
static void log_three(void)
{
    nblog_info("started %s, pid %d", "server", 42);
    nblog_printf(NBLOG_LEVEL_ERR, "write failed: %s", "ENOSPC");
    nblog_debug("debug detail %d", 7);
}

static int child_log(void) /* nothing but logging calls */
{
    log_three();
    return 0;
}

static int child_init_then_log(void)
{
    nblog_options_t o;
    nblog_options_init(&o);
    CHILD_CHECK(nblog_init(&o) == NBLOG_OK, "init");
    log_three();
    return 0;
}

static int child_no_default(void)
{
    nblog_options_t o;
    nblog_options_init(&o);
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    CHILD_CHECK(nblog_init(&o) == NBLOG_OK, "init");
    log_three();
    nblog_reader_t r;
    nblog_record_t rec;
    char buf[512];
    int n = 0;
    CHILD_CHECK(nblog_reader_open(&r, NBLOG_FROM_OLDEST) == NBLOG_OK, "reader");
    while (nblog_reader_next(&r, &rec, buf, sizeof buf) == NBLOG_OK)
        n++;
    CHILD_CHECK(n == 2, "%d records stored, want 2 (no console, records kept)", n);
    return 0;
}

static int child_no_env(void)
{
    nblog_options_t o;
    nblog_options_init(&o);
    o.console_defaults = NBLOG_NO_ENV_CONSOLES;
    CHILD_CHECK(nblog_init(&o) == NBLOG_OK, "init");
    log_three();
    return 0;
}

static void never_called(void *arg, const char *lines, size_t len)
{
    (void)arg;
    printf("FAIL: a callback that must not run got \"%.*s\"\n", (int)len, lines);
    fflush(stdout);
    _exit(1);
}

/* The program's first console replaces the default, which prints what
 * came before it. */
static int child_replace(void)
{
    nblog_info("before %d", 1);
    nblog_console_t *out;
    CHILD_CHECK(nblog_console_fd(STDOUT_FILENO, NULL, &out) == NBLOG_OK, "fd console");
    nblog_info("after %d", 2);
    nblog_console_t *second; /* a second console of the program's: nothing changes */
    CHILD_CHECK(nblog_console_callback(never_called, NULL, NULL, &second) == NBLOG_OK,
                "second console");
    CHILD_CHECK(nblog_console_unregister(second) == NBLOG_OK, "unregister");
    nblog_info("last %d", 3);
    char lagging[256];
    CHILD_CHECK(nblog_flush(5000, lagging, sizeof lagging) == 0, "lagging: %s", lagging);
    return 0;
}

static void name_of(nblog_console_t *con, char *out);

/* The program's own stderr console takes the default's place and name. */
static int child_own_stderr(void)
{
    nblog_info("before %d", 1);
    nblog_console_t *err;
    CHILD_CHECK(nblog_console_stderr(NULL, &err) == NBLOG_OK, "stderr console");
    nblog_info("after %d", 2);
    char name[32];
    name_of(err, name);
    CHILD_CHECK(strcmp(name, "stderr") == 0, "name \"%s\", want \"stderr\"", name);
    return 0;
}

/* A program that registers its console before logging gets no default. */
static int child_register_first(void)
{
    nblog_console_t *out;
    CHILD_CHECK(nblog_console_fd(STDOUT_FILENO, NULL, &out) == NBLOG_OK, "fd console");
    log_three();
    return 0;
}

/* A program written for the old rule calls nblog_consoles_from_env itself:
 * the consoles init registered from the same variable are not doubled. */
static int child_legacy_env(void)
{
    nblog_options_t o;
    nblog_options_init(&o);
    CHILD_CHECK(nblog_init(&o) == NBLOG_OK, "init");
    int n = nblog_consoles_from_env();
    CHILD_CHECK(n == 1, "nblog_consoles_from_env: %d, want 1", n);
    log_three();
    return 0;
}

/* The default console prints in a forked child too. */
static int child_fork(void)
{
    nblog_info("parent %d", 1);
    CHILD_CHECK(nblog_flush(5000, NULL, 0) == 0, "flush");
    pid_t pid = fork();
    CHILD_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        nblog_info("forked child %d", 2);
        _exit(nblog_flush(5000, NULL, 0) == 0 ? 0 : 3);
    }
    int st;
    CHILD_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "forked child's flush");
    nblog_info("parent again %d", 3);
    return 0;
}

/* A program's process-directed signals never run on nblog's threads: the
 * default console's printer blocks them, so with the main thread blocking
 * SIGUSR1 a kill leaves it pending for main, as without nblog. */
static int child_signals(void)
{
    nblog_info("printer thread running %d", 1);
    CHILD_CHECK(nblog_flush(5000, NULL, 0) == 0, "flush");
    children_usr1_block();
    CHILD_CHECK(kill(getpid(), SIGUSR1) == 0, "kill");
    /* Time for another thread to take it, if one would (it must not). */
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    children_usr1_check();
    return 0;
}

/* ---- lazy init: racing threads, the threshold, NBLOG_RING */

/* Lazy init racing another thread: the main thread's first call
 * initialises; the hook holds it there (ring mapped, not published) until
 * the other thread's first call either waits for the ring or returns. No
 * record of either thread may be lost. */
#define RACE_LINES 20
static atomic_int race_waiting, race_first_done;
static pthread_t race_main, race_thread;
static int race_rc[RACE_LINES];

static void *race_other(void *arg)
{
    (void)arg;
    for (int i = 0; i < RACE_LINES; i++) {
        race_rc[i] = nblog_info("other thread %d", i);
        atomic_store(&race_first_done, 1);
    }
    return NULL;
}

static void race_hook(int where)
{
    if (where == NBLOG__HOOK_WAITING) {
        atomic_store(&race_waiting, 1);
        return;
    }
    if (where != NBLOG__HOOK_MAPPING || !pthread_equal(pthread_self(), race_main))
        return;
    for (int i = 0; i < RACE_LINES; i++)
        race_rc[i] = 1; /* no call yet */
    CHILD_CHECK(pthread_create(&race_thread, NULL, race_other, NULL) == 0, "thread");
    /* Not a time: a state the other thread reaches either way. */
    while (!atomic_load(&race_waiting) && !atomic_load(&race_first_done))
        sched_yield();
}

static int child_lazy_race(void)
{
    race_main = pthread_self();
    atomic_store(&nblog__init_hook, race_hook);
    for (int i = 0; i < RACE_LINES; i++)
        CHILD_CHECK(nblog_info("main thread %d", i) == NBLOG_OK, "main call %d", i);
    atomic_store(&nblog__init_hook, NULL);
    CHILD_CHECK(pthread_join(race_thread, NULL) == 0, "join"); /* race_hook started it */
    CHILD_CHECK(nblog_flush(5000, NULL, 0) == 0, "flush");
    for (int i = 0; i < RACE_LINES; i++)
        CHILD_CHECK(race_rc[i] == NBLOG_OK, "other thread's call %d: %s", i,
                    nblog_strerror(race_rc[i]));
    nblog_stats_t st;
    nblog_stats_get(&st);
    CHILD_CHECK(st.not_ready == 0, "%llu calls not ready",
                (unsigned long long)st.not_ready);
    CHILD_CHECK(atomic_load(&race_waiting), "the other thread never waited");
    return 0;
}

/* The initialising thread itself (a signal handler that interrupted its
 * init) does not wait for itself: NBLOG_ENOTREADY at once. */
static atomic_int self_waited, self_rc = 1;

static void self_handler(int sig)
{
    (void)sig;
    atomic_store(&self_rc, nblog_info("from the handler %d", 1));
}

static void self_hook(int where)
{
    if (where == NBLOG__HOOK_WAITING)
        atomic_store(&self_waited, 1);
    else if (where == NBLOG__HOOK_MAPPING)
        raise(SIGUSR1);
}

static int child_lazy_self(void)
{
    struct sigaction sa = {.sa_handler = self_handler};
    sigemptyset(&sa.sa_mask);
    CHILD_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    atomic_store(&nblog__init_hook, self_hook);
    CHILD_CHECK(nblog_info("first %d", 1) == NBLOG_OK, "first call");
    atomic_store(&nblog__init_hook, NULL);
    CHILD_CHECK(atomic_load(&self_rc) == NBLOG_ENOTREADY, "handler's call: %d",
                atomic_load(&self_rc));
    CHILD_CHECK(!atomic_load(&self_waited), "the handler waited for its own thread");
    return 0;
}

/* A program that logs only debug lines, with NBLOG_LEVEL=debug: each call
 * stores its record (the first one initialises before it is judged). */
static int child_debug_only(void)
{
    CHILD_CHECK(nblog_debug("only debug %d", 1) == NBLOG_OK, "first debug call");
    CHILD_CHECK(nblog_debug("only debug %d", 2) == NBLOG_OK, "second debug call");
    return 0;
}

/* nblog_level_set before any init: lazy init keeps it. */
static int child_level_set(void)
{
    nblog_level_set(NBLOG_LEVEL_DEBUG);
    log_three();
    return 0;
}

/* ... and nblog_init's opt.level replaces it (explicit). */
static int child_level_set_then_init(void)
{
    nblog_level_set(NBLOG_LEVEL_DEBUG);
    child_init_then_log();
    return 0;
}

/* The program's own ring_path: nblog_init says why, on no stderr line. */
static int child_bad_ring_option(void)
{
    nblog_options_t o;
    nblog_options_init(&o);
    o.ring_path = "/nonexistent/ring";
    CHILD_CHECK(nblog_init(&o) == NBLOG_EFILE, "init with a bad ring_path");
    return 0;
}

/* NBLOG_RING naming a ring another live process writes: a forked process
 * holds it (before anything of nblog runs here), then this one logs. */
static int child_ring_busy(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/busy.ring", getenv("DEFAULTS_DIR"));
    int ready[2], hold[2];
    CHILD_CHECK(pipe(ready) == 0 && pipe(hold) == 0, "pipes");
    pid_t pid = fork();
    CHILD_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        close(hold[1]);
        nblog_options_t o;
        tu_ring_options(&o, path, 0, 0);
        o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
        char c = nblog_init(&o) == NBLOG_OK ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        while (read(hold[0], &c, 1) > 0) /* until our parent closes it */
            ;
        _exit(0);
    }
    close(hold[0]);
    char c = 0;
    CHILD_CHECK(read(ready[0], &c, 1) == 1 && c == 'y', "holder's init");
    CHILD_CHECK(setenv("NBLOG_RING", path, 1) == 0, "setenv");
    log_three();
    close(hold[1]);
    int st;
    CHILD_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "holder");
    return 0;
}

/* ---- identity: a local datagram socket stands in for syslogd/journald */

static int bind_dgram(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    unlink(path);
    CHILD_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind %s", path);
    return fd;
}

/* One datagram (a hang guard, not a timing check); "" if none came. */
static const char *recv_one(int fd, char *buf, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n = poll(&p, 1, 10000) == 1 ? recv(fd, buf, cap - 1, 0) : -1;
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* Logs one record and returns what a console at sock sent for it. */
static const char *sent(int sock, const char *what, char *buf, size_t cap)
{
    nblog_info("identity %s", what);
    return recv_one(sock, buf, cap);
}

static int identity(const char *program, const char *want_app)
{
    nblog_options_t o;
    nblog_options_init(&o);
    o.program = program;
    o.facility = 16; /* local0 */
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    CHILD_CHECK(nblog_init(&o) == NBLOG_OK, "init");
    char path[128], url[160], buf[4096], want[128];
    nblog_console_t *con;

    snprintf(path, sizeof path, "%s/syslog.sock", getenv("DEFAULTS_DIR"));
    int s = bind_dgram(path);
    snprintf(url, sizeof url, "unix:%s", path);
    CHILD_CHECK(nblog_console_syslog(url, NULL, NULL, &con) == NBLOG_OK, "syslog console");
    const char *line = sent(s, "one", buf, sizeof buf);
    snprintf(want, sizeof want, "<134>1 "); /* local0.info */
    CHILD_CHECK(strncmp(line, want, strlen(want)) == 0, "syslog line \"%s\": no %s", line, want);
    snprintf(want, sizeof want, " %s ", want_app);
    CHILD_CHECK(strstr(line, want), "syslog line \"%s\": no APP-NAME \"%s\"", line, want_app);
    CHILD_CHECK(nblog_console_unregister(con) == NBLOG_OK, "unregister");

    /* The console's own app and facility win. */
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.app_name = "own-app";
    so.facility = 3; /* daemon */
    CHILD_CHECK(nblog_console_syslog(url, &so, NULL, &con) == NBLOG_OK, "syslog console");
    line = sent(s, "two", buf, sizeof buf);
    CHILD_CHECK(strncmp(line, "<30>1 ", 6) == 0 && strstr(line, " own-app "),
                "syslog line \"%s\": not daemon.info from own-app", line);
    CHILD_CHECK(nblog_console_unregister(con) == NBLOG_OK, "unregister");

    /* The spec's app= too. */
    char spec[200];
    snprintf(spec, sizeof spec, "%s,app=spec-app", url);
    CHILD_CHECK(nblog_console_from_spec(spec, &con) == NBLOG_OK, "spec: %s", nblog_spec_error());
    line = sent(s, "three", buf, sizeof buf);
    CHILD_CHECK(strstr(line, " spec-app "), "syslog line \"%s\": no spec-app", line);
    CHILD_CHECK(nblog_console_unregister(con) == NBLOG_OK, "unregister");
    close(s);

    snprintf(path, sizeof path, "%s/journal.sock", getenv("DEFAULTS_DIR"));
    int j = bind_dgram(path);
    CHILD_CHECK(nblog_console_journald(path, NULL, NULL, &con) == NBLOG_OK, "journald");
    line = sent(j, "four", buf, sizeof buf);
    snprintf(want, sizeof want, "SYSLOG_IDENTIFIER=%s\n", want_app);
    CHILD_CHECK(strstr(line, want), "journal entry \"%s\": no %s", line, want);
    CHILD_CHECK(strstr(line, "SYSLOG_FACILITY=16\n"), "journal entry \"%s\": not local0",
                line);
    CHILD_CHECK(nblog_console_unregister(con) == NBLOG_OK, "unregister");
    so.app_name = "own-app";
    CHILD_CHECK(nblog_console_journald(path, &so, NULL, &con) == NBLOG_OK, "journald");
    line = sent(j, "five", buf, sizeof buf);
    CHILD_CHECK(strstr(line, "SYSLOG_IDENTIFIER=own-app\n") &&
                    strstr(line, "SYSLOG_FACILITY=3\n"),
                "journal entry \"%s\": not own-app, daemon", line);
    close(j);
    return 0;
}

static int child_identity(void)
{
    return identity("myprog", "myprog");
}

static int child_identity_default(void)
{
    return identity(NULL, program_invocation_short_name);
}

static int child_bad_program(void)
{
    static const char *const bad[] = {"", "two words", "tab\there", "\x7f",
                                      "0123456789012345678901234567890123456789012345678"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nblog_options_t o;
        nblog_options_init(&o);
        o.program = bad[i];
        CHILD_CHECK(nblog_init(&o) == NBLOG_EINVAL, "program \"%s\" accepted", bad[i]);
    }
    return 0;
}

/* ---- names */

static void name_of(nblog_console_t *con, char *out)
{
    nblog_console_stats_t st;
    CHILD_CHECK(nblog_console_stats(con, &st) == NBLOG_OK, "stats");
    memcpy(out, st.name, sizeof st.name);
}

#define CHECK_NAME(con, want)                                                  \
    do {                                                                       \
        char got_[32];                                                         \
        name_of((con), got_);                                                  \
        CHILD_CHECK(strcmp(got_, (want)) == 0, "name \"%s\", want \"%s\"", got_, (want)); \
    } while (0)

static int child_names(void)
{
    nblog_options_t o;
    nblog_options_init(&o);
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    CHILD_CHECK(nblog_init(&o) == NBLOG_OK, "init");
    const char *d = getenv("DEFAULTS_DIR");
    nblog_console_t *c[16];
    char path[256], want[300], spec[300];
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

    CHILD_CHECK(nblog_console_stderr(NULL, &c[0]) == NBLOG_OK, "stderr");
    CHECK_NAME(c[0], "stderr");
    CHILD_CHECK(nblog_console_stderr(NULL, &c[1]) == NBLOG_OK, "stderr");
    CHECK_NAME(c[1], "stderr#2");
    CHILD_CHECK(nblog_console_from_spec("stderr", &c[2]) == NBLOG_OK, "spec stderr");
    CHECK_NAME(c[2], "stderr#3");
    CHILD_CHECK(nblog_console_unregister(c[1]) == NBLOG_OK, "unregister");
    CHILD_CHECK(nblog_console_stderr(NULL, &c[1]) == NBLOG_OK, "stderr");
    CHECK_NAME(c[1], "stderr#2"); /* free again */

    CHILD_CHECK(nblog_console_fd(fd, NULL, &c[3]) == NBLOG_OK, "fd");
    snprintf(want, sizeof want, "fd:%d", fd);
    CHECK_NAME(c[3], want);

    CHILD_CHECK(chdir(d) == 0, "chdir"); /* short paths below */
    CHILD_CHECK(nblog_console_file("a.log", 0, 0, NULL, &c[4]) == NBLOG_OK, "file");
    CHECK_NAME(c[4], "file:a.log");

    /* A long path keeps its end. */
    snprintf(path, sizeof path, "%s/a-rather-long-directory-name", d);
    CHILD_CHECK(mkdir(path, 0700) == 0, "mkdir");
    strcat(path, "/service-name.log");
    CHILD_CHECK(nblog_console_file(path, 0, 0, NULL, &c[5]) == NBLOG_OK, "file");
    size_t keep = NBLOG_CONSOLE_NAME_MAX - strlen("file:...");
    snprintf(want, sizeof want, "file:...%s", path + strlen(path) - keep);
    CHECK_NAME(c[5], want);
    /* The same path again: unique, still ending in the file's name... */
    snprintf(spec, sizeof spec, "file:%s,level=info", path);
    CHILD_CHECK(nblog_console_from_spec(spec, &c[6]) == NBLOG_OK, "spec file: %s",
                nblog_spec_error());
    snprintf(want, sizeof want, "file:...%s#2", path + strlen(path) - (keep - 2));
    CHECK_NAME(c[6], want);

    CHILD_CHECK(nblog_console_callback(tu_discard_lines, NULL, NULL, &c[7]) == NBLOG_OK, "cb");
    CHECK_NAME(c[7], "callback");
    CHILD_CHECK(nblog_console_callback(tu_discard_lines, NULL, NULL, &c[8]) == NBLOG_OK, "cb");
    CHECK_NAME(c[8], "callback#2");

    nblog_console_ops_t ops = {.write = tu_discard_write};
    CHILD_CHECK(nblog_console_register(&ops, NULL, NULL, &c[9]) == NBLOG_OK, "register");
    CHECK_NAME(c[9], "console");

    CHILD_CHECK(nblog_console_syslog("syslog+udp://127.0.0.1:514", NULL, NULL, &c[10]) ==
                    NBLOG_OK,
                "udp");
    CHECK_NAME(c[10], "syslog+udp://127.0.0.1:514");

    CHILD_CHECK(nblog_console_journald(NULL, NULL, NULL, &c[11]) == NBLOG_OK, "journald");
    CHECK_NAME(c[11], "journald");
    CHILD_CHECK(nblog_console_journald("j", NULL, NULL, &c[12]) == NBLOG_OK, "journald");
    CHECK_NAME(c[12], "journald:j");

    /* A given name is kept, made unique like any other. */
    nblog_console_opts_t co;
    nblog_console_opts_init(&co);
    co.name = "serial";
    CHILD_CHECK(nblog_console_fd(fd, &co, &c[13]) == NBLOG_OK, "named");
    CHECK_NAME(c[13], "serial");
    CHILD_CHECK(nblog_console_stderr(&co, &c[14]) == NBLOG_OK, "named");
    CHECK_NAME(c[14], "serial#2");
    co.name = "0123456789012345678901234567890"; /* 31 bytes */
    CHILD_CHECK(nblog_console_fd(fd, &co, &c[15]) == NBLOG_OK, "named");
    CHECK_NAME(c[15], co.name);
    nblog_console_t *extra;
    CHILD_CHECK(nblog_console_fd(fd, &co, &extra) == NBLOG_OK, "named");
    snprintf(want, sizeof want, "...%s#2", co.name + 5); /* its end kept */
    CHECK_NAME(extra, want);
    return 0;
}

/* A console registered on another thread while an init is starting (the
 * ring published, the consoles at init not there yet), whose setup logs:
 * the call is stored, and it never waits for the init while it holds the
 * console list's lock (the init needs that lock: it waited its second and
 * lost the record). */
static pthread_t setup_main, setup_thread;
static atomic_int setup_entered, setup_waiting, setup_waited_inside;
static atomic_int setup_rc = 1, setup_reg_rc = 1;

static ssize_t setup_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    return (ssize_t)len;
}

static int logging_setup(void *ctx)
{
    (void)ctx;
    atomic_store(&setup_entered, 1);
    atomic_store(&setup_rc, nblog_info("from setup %d", 1));
    atomic_store(&setup_entered, 2);
    return 0;
}

static void *setup_other(void *arg)
{
    (void)arg;
    nblog_console_ops_t ops = {.write = setup_write, .setup = logging_setup};
    nblog_console_t *con;
    atomic_store(&setup_reg_rc, nblog_console_register(&ops, NULL, NULL, &con));
    return NULL;
}

static void setup_hook(int where)
{
    if (where == NBLOG__HOOK_WAITING) {
        atomic_store(atomic_load(&setup_entered) == 1 ? &setup_waited_inside : &setup_waiting,
                     1);
        return;
    }
    if (where != NBLOG__HOOK_STARTING || !pthread_equal(pthread_self(), setup_main))
        return;
    CHILD_CHECK(pthread_create(&setup_thread, NULL, setup_other, NULL) == 0, "thread");
    /* Not a time: the other thread either waits for this init before it
     * takes the list lock, or is in its setup, holding it. */
    while (!atomic_load(&setup_waiting) && !atomic_load(&setup_entered))
        sched_yield();
}

/* The ring holds a record whose text is want. */
static int ring_has(const char *want)
{
    nblog_reader_t r;
    nblog_record_t rec;
    char buf[512];
    CHILD_CHECK(nblog_reader_open(&r, NBLOG_FROM_OLDEST) == NBLOG_OK, "reader");
    while (nblog_reader_next(&r, &rec, buf, sizeof buf) == NBLOG_OK)
        if (strstr(rec.text, want))
            return 1;
    return 0;
}

static int child_setup_during_init(void)
{
    setup_main = pthread_self();
    atomic_store(&nblog__init_hook, setup_hook);
    CHILD_CHECK(nblog_info("first %d", 1) == NBLOG_OK, "first call");
    atomic_store(&nblog__init_hook, NULL);
    CHILD_CHECK(pthread_join(setup_thread, NULL) == 0, "join"); /* setup_hook started it */
    CHILD_CHECK(atomic_load(&setup_reg_rc) == NBLOG_OK, "register: %s",
                nblog_strerror(atomic_load(&setup_reg_rc)));
    CHILD_CHECK(atomic_load(&setup_rc) == NBLOG_OK, "setup's call: %s",
                nblog_strerror(atomic_load(&setup_rc)));
    CHILD_CHECK(!atomic_load(&setup_waited_inside),
                "setup's call waited for the init, holding the list lock");
    CHILD_CHECK(ring_has("from setup 1"), "setup's record not stored");
    nblog_stats_t st;
    nblog_stats_get(&st);
    CHILD_CHECK(st.not_ready == 0, "%llu calls not ready", (unsigned long long)st.not_ready);
    return 0;
}

/* fork() while another thread's init is at a hook (MAPPING: nothing
 * published; STARTING: the ring published): the child, whose only thread
 * did not init, logs, registers and logs again; the init it inherited has
 * no thread to end it (it stayed MAPPING forever: every call
 * NBLOG_ENOTREADY, no init, no console). */
static atomic_int fork_where = -1, fork_go, fork_done;
static __thread int fork_initialiser_here;

static void fork_hook(int where)
{
    if (where != atomic_load(&fork_where) || !fork_initialiser_here)
        return;
    atomic_store(&fork_go, 1);
    while (!atomic_load(&fork_done)) /* not a time: the fork is made meanwhile */
        sched_yield();
}

static void *fork_initialiser(void *arg)
{
    (void)arg;
    fork_initialiser_here = 1;
    nblog_info("parent init %d", 1);
    return NULL;
}

static int fork_during_init(int where)
{
    pthread_t t;
    atomic_store(&fork_where, where);
    atomic_store(&nblog__init_hook, fork_hook);
    CHILD_CHECK(pthread_create(&t, NULL, fork_initialiser, NULL) == 0, "thread");
    while (!atomic_load(&fork_go))
        sched_yield();
    pid_t pid = fork();
    if (pid == 0) {
        atomic_store(&nblog__init_hook, NULL);
        for (int i = 0; i < 3; i++) {
            int rc = nblog_info("forked child %d", i);
            CHILD_CHECK(rc == NBLOG_OK, "child's call %d: %s", i, nblog_strerror(rc));
        }
        nblog_console_ops_t ops = {.write = setup_write};
        nblog_console_t *con;
        int rc = nblog_console_register(&ops, NULL, NULL, &con);
        CHILD_CHECK(rc == NBLOG_OK, "child's register: %s", nblog_strerror(rc));
        rc = nblog_info("forked child %d", 3);
        CHILD_CHECK(rc == NBLOG_OK, "child's call after register: %s", nblog_strerror(rc));
        CHILD_CHECK(ring_has("forked child 3"), "child's record not stored");
        _exit(0);
    }
    atomic_store(&fork_done, 1);
    CHILD_CHECK(pid > 0, "fork");
    int st;
    CHILD_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "forked child failed (status %#x)", st);
    CHILD_CHECK(pthread_join(t, NULL) == 0, "join");
    atomic_store(&nblog__init_hook, NULL);
    CHILD_CHECK(nblog_info("parent again %d", 2) == NBLOG_OK, "parent's call");
    return 0;
}

static int child_fork_mapping(void)
{
    return fork_during_init(NBLOG__HOOK_MAPPING);
}

static int child_fork_starting(void)
{
    return fork_during_init(NBLOG__HOOK_STARTING);
}

/* A call the threshold filters does no init work: during another
 * thread's init it never waits for it (it waited its second). */
static atomic_int filtered_waited, filtered_rc = 1;
static __thread int filtered_initialiser;

static void *filtered_call(void *arg)
{
    (void)arg;
    atomic_store(&filtered_rc, nblog_debug("filtered %d", 1));
    return NULL;
}

static void filtered_hook(int where)
{
    if (where == NBLOG__HOOK_WAITING) {
        atomic_store(&filtered_waited, 1);
        return;
    }
    if (where != NBLOG__HOOK_MAPPING || !filtered_initialiser)
        return;
    pthread_t t;
    CHILD_CHECK(pthread_create(&t, NULL, filtered_call, NULL) == 0, "thread");
    CHILD_CHECK(pthread_join(t, NULL) == 0, "join");
}

static int child_filtered_no_wait(void)
{
    filtered_initialiser = 1;
    atomic_store(&nblog__init_hook, filtered_hook);
    CHILD_CHECK(nblog_info("first %d", 1) == NBLOG_OK, "first call");
    atomic_store(&nblog__init_hook, NULL);
    CHILD_CHECK(atomic_load(&filtered_rc) == NBLOG_FILTERED, "filtered call: %d",
                atomic_load(&filtered_rc));
    CHILD_CHECK(!atomic_load(&filtered_waited), "a filtered call waited for the init");
    return 0;
}

static const struct child_case child_cases[] = {
    {"log", child_log},
    {"init-then-log", child_init_then_log},
    {"no-default", child_no_default},
    {"no-env", child_no_env},
    {"replace", child_replace},
    {"register-first", child_register_first},
    {"own-stderr", child_own_stderr},
    {"legacy-env", child_legacy_env},
    {"fork", child_fork},
    {"signals", child_signals},
    {"identity", child_identity},
    {"identity-default", child_identity_default},
    {"bad-program", child_bad_program},
    {"names", child_names},
    {"lazy-race", child_lazy_race},
    {"lazy-self", child_lazy_self},
    {"debug-only", child_debug_only},
    {"level-set", child_level_set},
    {"level-set-then-init", child_level_set_then_init},
    {"bad-ring-option", child_bad_ring_option},
    {"ring-busy", child_ring_busy},
    {"setup-during-init", child_setup_during_init},
    {"fork-mapping", child_fork_mapping},
    {"fork-starting", child_fork_starting},
    {"filtered-no-wait", child_filtered_no_wait},
};

/* --------------------------------------------------------- parent side */

/* Runs case `name` with env (children_run; the directory in DEFAULTS_DIR). */
static struct child_result run(const char *name, const char *const *env)
{
    return children_run(name, "DEFAULTS_DIR", env);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* text holds exactly the given lines, in order, each matched by
 * containing its text (NULL-terminated list). */
static void expect_lines(const char *what, const char *text, const char *const *want)
{
    int n = 0;
    size_t at = 0, len = strlen(text);
    char line[1024];
    for (; want[n]; n++) {
        if (!tu_next_line(text, len, &at, line, sizeof line))
            fail_msg("%s: line %d missing (want \"%s\"); got:\n%s", what, n + 1, want[n], text);
        if (!strstr(line, want[n]))
            fail_msg("%s: line %d is \"%s\", want \"%s\"; got:\n%s", what, n + 1, line,
                     want[n], text);
    }
    if (count_lines(text) != n)
        fail_msg("%s: %d lines, want %d; got:\n%s", what, count_lines(text), n, text);
}

/* Runs case name with env and checks what it wrote on stdout and stderr
 * (NULL: not checked). */
static void expect_run(const char *name, const char *const *env, const char *const *out,
                       const char *const *err)
{
    char what[128];
    struct child_result r = run(name, env);
    snprintf(what, sizeof what, "%s: stdout", name);
    if (out)
        expect_lines(what, r.out, out);
    snprintf(what, sizeof what, "%s: stderr", name);
    if (err)
        expect_lines(what, r.err, err);
    children_done(&r);
}

static const char *const two_lines[] = {"started server, pid 42", "write failed: ENOSPC",
                                        NULL};
static const char *const three_lines[] = {"started server, pid 42", "write failed: ENOSPC",
                                          "debug detail 7", NULL};
static const char *const no_lines[] = {NULL};

/* Nothing but logging calls: readable lines on stderr, INFO and above. */
static void test_only_logging_prints_to_stderr(void **state)
{
    (void)state;
    expect_run("log", NULL, no_lines, two_lines);
    expect_run("init-then-log", NULL, NULL, two_lines);
    static const char *const empty[] = {"NBLOG_CONSOLES=", NULL};
    expect_run("log", empty, NULL, two_lines); /* set but empty: as unset */
}

static void test_level_from_env(void **state)
{
    (void)state;
    static const char *const debug[] = {"NBLOG_LEVEL=debug", NULL};
    expect_run("log", debug, NULL, three_lines);
    static const char *const err[] = {"NBLOG_LEVEL=3", NULL};
    static const char *const one[] = {"write failed: ENOSPC", NULL};
    expect_run("init-then-log", err, NULL, one); /* over the option's INFO */
}

static void test_bad_level_says_so_and_keeps_the_default(void **state)
{
    (void)state;
    static const char *const bad[] = {"NBLOG_LEVEL=loud", NULL};
    static const char *const want[] = {"nblog: NBLOG_LEVEL=\"loud\" is not a level",
                                       "started server, pid 42", "write failed: ENOSPC",
                                       NULL};
    expect_run("log", bad, NULL, want);
    /* What reaches a terminal is text: an escape sequence is shown, not sent. */
    static const char *const esc[] = {"NBLOG_LEVEL=\x1b[2J\x07", NULL};
    static const char *const shown[] = {"nblog: NBLOG_LEVEL=\"\\x1b[2J\\x07\" is not a level",
                                        "started server, pid 42", "write failed: ENOSPC",
                                        NULL};
    expect_run("log", esc, NULL, shown);
}

static void test_consoles_from_env(void **state)
{
    (void)state;
    char var[256], path[200];
    snprintf(path, sizeof path, "%s/env.log", children_dir);
    snprintf(var, sizeof var, "NBLOG_CONSOLES=file:%s,format=kmsg;fd:1,level=err", path);
    const char *const env[] = {var, "NBLOG_LEVEL=debug", NULL};
    struct child_result r = run("log", env);
    expect_lines("stderr (no default beside NBLOG_CONSOLES)", r.err, no_lines);
    static const char *const one[] = {"write failed: ENOSPC", NULL};
    expect_lines("stdout (fd:1,level=err)", r.out, one);
    char *file = slurp(path);
    static const char *const kmsg[] = {"14,0,", "11,1,", "15,2,", NULL}; /* user.* */
    expect_lines("file", file, kmsg);
    expect_lines("file", file, three_lines);
    free(file);
    children_done(&r);
}

static void test_none_means_no_console(void **state)
{
    (void)state;
    static const char *const none[] = {"NBLOG_CONSOLES=none", NULL};
    expect_run("log", none, NULL, no_lines);
}

/* A bad NBLOG_CONSOLES: one line saying so, none of it used (its good
 * specs neither), the default console instead. */
static void test_bad_consoles_fall_back_to_the_default(void **state)
{
    (void)state;
    char var[256], path[200];
    snprintf(path, sizeof path, "%s/half.log", children_dir);
    snprintf(var, sizeof var, "NBLOG_CONSOLES=file:%s;bogus:1", path);
    const char *const env[] = {var, NULL};
    static const char *const want[] = {"nblog: NBLOG_CONSOLES ignored: unknown console kind "
                                       "\"bogus\"",
                                       "started server, pid 42", "write failed: ENOSPC",
                                       NULL};
    struct child_result r = run("log", env);
    expect_lines("stderr", r.err, want);
    char *file = slurp(path);
    expect_lines("the good spec's file", file, no_lines);
    free(file);
    children_done(&r);
    static const char *const level[] = {"NBLOG_CONSOLES=stderr,level=loud", NULL};
    r = run("log", level);
    if (count_lines(r.err) != 3 || !strstr(r.err, "nblog: NBLOG_CONSOLES ignored: option "
                                                  "level=loud"))
        fail_msg("stderr:\n%s", r.err);
    children_done(&r);
}

static void test_opting_out(void **state)
{
    (void)state;
    expect_run("no-default", NULL, NULL, no_lines);
    static const char *const out[] = {"NBLOG_CONSOLES=fd:1", NULL};
    expect_run("no-default", out, two_lines, no_lines); /* NBLOG_CONSOLES still read */
    expect_run("no-env", out, no_lines, two_lines); /* NBLOG_CONSOLES ignored: the default */
}

/* The program's first console replaces the default: each record reaches
 * exactly one of them. */
static void test_own_console_replaces_the_default(void **state)
{
    (void)state;
    static const char *const before[] = {"before 1", NULL};
    static const char *const after[] = {"after 2", "last 3", NULL};
    expect_run("replace", NULL, after, before);
    static const char *const both[] = {"before 1", "after 2", NULL};
    expect_run("own-stderr", NULL, NULL, both); /* the same fd: still each line once */
    expect_run("register-first", NULL, two_lines, no_lines);
    /* NBLOG_CONSOLES's consoles are the user's: they stay. */
    static const char *const env[] = {"NBLOG_CONSOLES=stderr", NULL};
    static const char *const all[] = {"before 1", "after 2", "last 3", NULL};
    expect_run("replace", env, after, all);
}

static void test_consoles_from_env_not_doubled(void **state)
{
    (void)state;
    static const char *const env[] = {"NBLOG_CONSOLES=fd:1", NULL};
    expect_run("legacy-env", env, two_lines, no_lines);
}

static void test_default_console_after_fork(void **state)
{
    (void)state;
    static const char *const want[] = {"parent 1", "forked child 2", "parent again 3", NULL};
    expect_run("fork", NULL, NULL, want);
}

/* A case that checks itself: it only has to exit 0. */
static void run_ok(const char *name)
{
    expect_run(name, NULL, NULL, NULL);
}

static void test_program_signals_not_taken_by_printer(void **state)
{
    (void)state;
    run_ok("signals");
}

static void test_identity_in_syslog_and_journald(void **state)
{
    (void)state;
    run_ok("identity");
    run_ok("identity-default");
    run_ok("bad-program");
}

static void test_default_names(void **state)
{
    (void)state;
    run_ok("names");
}

/* Another thread's lazy init in progress: a call waits for the ring
 * (every line prints), except on the initialising thread itself. */
static void test_lazy_init_loses_nothing(void **state)
{
    (void)state;
    struct child_result r = run("lazy-race", NULL);
    if (count_lines(r.err) != 2 * RACE_LINES || !strstr(r.err, "other thread 19") ||
        !strstr(r.err, "main thread 19"))
        fail_msg("want %d lines; stderr:\n%s", 2 * RACE_LINES, r.err);
    children_done(&r);
    run_ok("lazy-self");
}

/* Waits that cannot help are not made: a console's setup logging during
 * another thread's init, a child forked during one, a filtered call. */
static void test_init_waits_only_when_they_help(void **state)
{
    (void)state;
    run_ok("setup-during-init");
    run_ok("fork-mapping");
    run_ok("fork-starting");
    run_ok("filtered-no-wait");
}

/* The first call is judged by the threshold init sets (NBLOG_LEVEL), and
 * nblog_level_set before any init is kept by lazy init. */
static void test_first_call_sees_the_level(void **state)
{
    (void)state;
    static const char *const err[] = {"NBLOG_LEVEL=err", NULL};
    static const char *const one[] = {"write failed: ENOSPC", NULL};
    expect_run("log", err, NULL, one);
    char ring[256], path[200];
    snprintf(path, sizeof path, "%s/debug.ring", children_dir);
    snprintf(ring, sizeof ring, "NBLOG_RING=%s", path);
    const char *const debug[] = {"NBLOG_LEVEL=debug", ring, NULL};
    static const char *const two[] = {"only debug 1", "only debug 2", NULL};
    expect_run("debug-only", debug, NULL, two);
    struct stat sb;
    if (stat(path, &sb) != 0)
        fail_msg("no ring file %s: %s", path, strerror(errno));
    expect_run("level-set", NULL, NULL, three_lines);
    expect_run("level-set", err, NULL, one); /* NBLOG_LEVEL still wins */
    expect_run("level-set-then-init", NULL, NULL, two_lines); /* opt.level */
}

/* NBLOG_RING that cannot be the ring: one line, and an anonymous ring. */
static void test_bad_ring_env_says_so(void **state)
{
    (void)state;
    static const char *const missing[] = {"NBLOG_RING=/nonexistent/x", NULL};
    static const char *const said[] = {"nblog: NBLOG_RING=\"/nonexistent/x\" not used: "
                                       "No such file or directory; using a ring in memory",
                                       "started server, pid 42", "write failed: ENOSPC",
                                       NULL};
    expect_run("log", missing, NULL, said);
    expect_run("init-then-log", missing, NULL, said); /* nblog_init too */
    char var[256], path[200];
    snprintf(path, sizeof path, "%s/not-a-ring", children_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && write(fd, "hello\n", 6) == 6);
    close(fd);
    snprintf(var, sizeof var, "NBLOG_RING=%s", path);
    const char *const env[] = {var, NULL};
    struct child_result r = run("log", env);
    if (count_lines(r.err) != 3 || !strstr(r.err, "not used: file is not an nblog ring"))
        fail_msg("stderr:\n%s", r.err);
    children_done(&r);
    char *kept = slurp(path);
    assert_string_equal(kept, "hello\n"); /* left untouched */
    free(kept);
    r = run("ring-busy", NULL);
    if (count_lines(r.err) != 3 || !strstr(r.err, "not used: ring file is in use"))
        fail_msg("stderr:\n%s", r.err);
    children_done(&r);
    /* The program's own ring_path: nblog_init's error, no line. */
    expect_run("bad-ring-option", NULL, no_lines, no_lines);
}

int main(int argc, char **argv)
{
    children_dispatch(argc, argv, child_cases, sizeof child_cases / sizeof child_cases[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_logging_prints_to_stderr),
        cmocka_unit_test(test_level_from_env),
        cmocka_unit_test(test_bad_level_says_so_and_keeps_the_default),
        cmocka_unit_test(test_consoles_from_env),
        cmocka_unit_test(test_none_means_no_console),
        cmocka_unit_test(test_bad_consoles_fall_back_to_the_default),
        cmocka_unit_test(test_opting_out),
        cmocka_unit_test(test_own_console_replaces_the_default),
        cmocka_unit_test(test_consoles_from_env_not_doubled),
        cmocka_unit_test(test_default_console_after_fork),
        cmocka_unit_test(test_program_signals_not_taken_by_printer),
        cmocka_unit_test(test_identity_in_syslog_and_journald),
        cmocka_unit_test(test_default_names),
        cmocka_unit_test(test_lazy_init_loses_nothing),
        cmocka_unit_test(test_init_waits_only_when_they_help),
        cmocka_unit_test(test_first_call_sees_the_level),
        cmocka_unit_test(test_bad_ring_env_says_so),
    };
    return cmocka_run_group_tests(tests, children_make_dir, children_remove_dir);
}

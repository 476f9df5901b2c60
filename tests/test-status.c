/*
 * test-status.c - `nblog status` through the real command, against a real
 * writer (status-writer.c: a file ring with a file console, a suspended
 * one, a stalled one, one whose writes fail with ENOSPC, a TCP console to
 * a closed port and one to a listener this test runs).
 *
 *   status_json         --json is one document that parses; each console
 *                       shows its state, its counters and its last error by
 *                       name (ECONNREFUSED, ENOSPC); tcp-open connected once
 *   status_text         the table says the same in words, and the net line
 *   status_watch        --watch on a pipe prints successive snapshots (text
 *                       and --json) and exits 0 on SIGTERM and on SIGINT
 *   status_watch_tty    --watch on a terminal (a pty) draws in place
 *   status_stopped      after the writer was SIGKILLed: writer gone, every
 *                       console "stopped"
 *   status_bad_watch    --watch=0, =x: usage error, exit 2
 *
 * The writer's consoles reach their states on their own time (a connect
 * attempt, a stall of 100 ms): the tests look again until they are there,
 * with a hang guard (not a timing check).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "proc.h"
#include "testutil.h"

static char tool[] = NBLOG_TOOL;
static char writer[] = STATUS_WRITER;

#define GUARD_TRIES 300 /* looks at 50 ms: a 15 s hang guard */

/* ------------------------------------------------------------ JSON */

/* A parsed JSON value: a tree, strict RFC 8259 (what jq would take). */
enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jv {
    enum jt t;
    int b;
    double num;
    char *str;          /* J_STR: decoded, NUL-terminated */
    size_t n;           /* J_ARR, J_OBJ: items */
    struct jv *items;
    char **keys;        /* J_OBJ */
};

struct jp {
    const char *s;
    size_t at, len;
};

static void jp_ws(struct jp *p)
{
    while (p->at < p->len && strchr(" \t\r\n", p->s[p->at]))
        p->at++;
}

static int jp_peek(struct jp *p)
{
    jp_ws(p);
    return p->at < p->len ? (unsigned char)p->s[p->at] : -1;
}

static void jp_expect(struct jp *p, char ch)
{
    if (jp_peek(p) != (unsigned char)ch)
        fail_msg("json: want '%c' at %zu: %.40s", ch, p->at, p->s + p->at);
    p->at++;
}

static void jp_value(struct jp *p, struct jv *v);

static char *jp_string(struct jp *p)
{
    jp_expect(p, '"');
    char *out = malloc(p->len + 1);
    size_t n = 0;
    for (;;) {
        assert_true(p->at < p->len);
        unsigned char ch = (unsigned char)p->s[p->at++];
        assert_true(ch >= 0x20);
        if (ch == '"')
            break;
        if (ch != '\\') {
            out[n++] = (char)ch;
            continue;
        }
        assert_true(p->at < p->len);
        char e = p->s[p->at++];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != 'u') {
            assert_non_null(simple);
            out[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        unsigned cp = 0;
        for (int k = 0; k < 4; k++) {
            assert_true(p->at < p->len);
            char h = p->s[p->at++];
            assert_non_null(strchr("0123456789abcdefABCDEF", h));
            cp = cp * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        assert_false(cp >= 0xd800 && cp <= 0xdfff);
        if (cp < 0x80) {
            out[n++] = (char)cp;
        } else if (cp < 0x800) {
            out[n++] = (char)(0xc0 | cp >> 6);
            out[n++] = (char)(0x80 | (cp & 63));
        } else {
            out[n++] = (char)(0xe0 | cp >> 12);
            out[n++] = (char)(0x80 | (cp >> 6 & 63));
            out[n++] = (char)(0x80 | (cp & 63));
        }
    }
    out[n] = '\0';
    return out;
}

static void jp_number(struct jp *p, struct jv *v)
{
    size_t start = p->at;
    if (p->s[p->at] == '-')
        p->at++;
    assert_true(p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9');
    if (p->s[p->at] == '0')
        p->at++;
    else
        while (p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9')
            p->at++;
    if (p->at < p->len && p->s[p->at] == '.') {
        p->at++;
        assert_true(p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9');
        while (p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9')
            p->at++;
    }
    if (p->at < p->len && (p->s[p->at] == 'e' || p->s[p->at] == 'E')) {
        p->at++;
        if (p->at < p->len && (p->s[p->at] == '+' || p->s[p->at] == '-'))
            p->at++;
        assert_true(p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9');
        while (p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9')
            p->at++;
    }
    char buf[64];
    assert_true(p->at - start < sizeof buf);
    memcpy(buf, p->s + start, p->at - start);
    buf[p->at - start] = '\0';
    v->t = J_NUM;
    v->num = strtod(buf, NULL);
}

static int jp_word(struct jp *p, const char *w)
{
    size_t n = strlen(w);
    if (p->len - p->at < n || memcmp(p->s + p->at, w, n) != 0)
        return 0;
    p->at += n;
    return 1;
}

static void jp_value(struct jp *p, struct jv *v)
{
    memset(v, 0, sizeof *v);
    int ch = jp_peek(p);
    if (ch == '{' || ch == '[') {
        int obj = ch == '{';
        v->t = obj ? J_OBJ : J_ARR;
        p->at++;
        size_t cap = 64;
        v->items = calloc(cap, sizeof *v->items);
        v->keys = calloc(cap, sizeof *v->keys);
        while (jp_peek(p) != (obj ? '}' : ']')) {
            if (v->n)
                jp_expect(p, ',');
            assert_true(v->n < cap);
            if (obj) {
                v->keys[v->n] = jp_string(p);
                jp_expect(p, ':');
            }
            jp_value(p, &v->items[v->n++]);
        }
        p->at++;
    } else if (ch == '"') {
        v->t = J_STR;
        v->str = jp_string(p);
    } else if (jp_word(p, "null")) {
        v->t = J_NULL;
    } else if (jp_word(p, "true") || jp_word(p, "false")) {
        v->t = J_BOOL;
        v->b = p->s[p->at - 1] == 'e' && p->s[p->at - 2] == 'u';
    } else {
        jp_number(p, v);
    }
}

/* Parses text[0, len) as exactly one JSON document (whitespace around). */
static void json_parse(const char *text, size_t len, struct jv *v)
{
    struct jp p = {text, 0, len};
    jp_value(&p, v);
    jp_ws(&p);
    assert_int_equal(p.at, len);
}

static void json_free(struct jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        json_free(&v->items[i]);
        if (v->t == J_OBJ)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

/* Member key of object o, or NULL. */
static const struct jv *jget(const struct jv *o, const char *key)
{
    if (!o || o->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return &o->items[i];
    return NULL;
}

/* Member key as a number (the test fails if it is not one). */
static double jnum(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    if (!v || v->t != J_NUM)
        fail_msg("json: %s is not a number", key);
    return v->num;
}

static const char *jstr(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    if (!v || v->t != J_STR)
        fail_msg("json: %s is not a string", key);
    return v->str;
}

static int jbool(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    if (!v || v->t != J_BOOL)
        fail_msg("json: %s is not a boolean", key);
    return v->b;
}

/* The console named name in a status document, or NULL. */
static const struct jv *jconsole(const struct jv *doc, const char *name)
{
    const struct jv *cons = jget(doc, "consoles");
    assert_non_null(cons);
    assert_int_equal(cons->t, J_ARR);
    for (size_t i = 0; i < cons->n; i++)
        if (!strcmp(jstr(&cons->items[i], "name"), name))
            return &cons->items[i];
    return NULL;
}

/* ------------------------------------------------------- the writer */

struct world {
    char file[128], out[160], log[160];
    int closed_fd, listen_fd;  /* closed: bound, never listening */
    int closed_port, open_port;
    pthread_t acceptor;
    pid_t writer;
    int writer_in;             /* its stdin: closing it ends it */
    struct line_reader lr;
};

/* A TCP socket on 127.0.0.1, any port: *port says which. */
static int loopback_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* The listener: takes connections and reads what comes until they end. */
static void *acceptor_main(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return NULL; /* shut down */
        char buf[4096];
        while (read(c, buf, sizeof buf) > 0)
            ;
        close(c);
    }
}

static int world_setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    tu_ring_name(w->file, sizeof w->file, "status");
    snprintf(w->out, sizeof w->out, "%s.out", w->file);
    snprintf(w->log, sizeof w->log, "%s.log", w->file);
    unlink(w->log);
    w->closed_fd = loopback_socket(&w->closed_port);
    w->listen_fd = loopback_socket(&w->open_port);
    assert_int_equal(listen(w->listen_fd, 8), 0);
    assert_int_equal(pthread_create(&w->acceptor, NULL, acceptor_main, &w->listen_fd), 0);
    char cp[16], op[16];
    snprintf(cp, sizeof cp, "%d", w->closed_port);
    snprintf(op, sizeof op, "%d", w->open_port);
    char *args[] = {writer, w->file, cp, op, NULL};
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    w->writer = spawn_child(args, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    w->writer_in = in[1];
    w->lr.fd = out[0];
    char line[64];
    assert_int_equal(read_line(&w->lr, line, sizeof line, 10000), 1);
    assert_string_equal(line, "ready");
    *state = w;
    return 0;
}

static void world_stop_writer(struct world *w)
{
    if (w->writer <= 0)
        return;
    kill(w->writer, SIGKILL);
    wait_child(w->writer);
    w->writer = 0;
}

static int world_teardown(void **state)
{
    struct world *w = *state;
    world_stop_writer(w);
    close(w->writer_in);
    close(w->lr.fd);
    shutdown(w->listen_fd, SHUT_RDWR);
    pthread_join(w->acceptor, NULL);
    close(w->listen_fd);
    close(w->closed_fd);
    unlink(w->file);
    unlink(w->out);
    unlink(w->log);
    free(w);
    return 0;
}

/* `nblog status ARGS... FILE` into w->out; its text (free it). */
static char *status_of(struct world *w, const char *opt, int want_rc)
{
    char *args[] = {tool, "status", (char *)(opt ? opt : w->file), opt ? w->file : NULL,
                    NULL};
    assert_int_equal(run_to_file(args, w->out), want_rc);
    return slurp(w->out);
}

/* Whether the document shows every console in the state it was made for. */
static int all_there(const struct jv *doc)
{
    const struct jv *file = jconsole(doc, "file"), *paused = jconsole(doc, "paused"),
                    *stuck = jconsole(doc, "stuck"), *failing = jconsole(doc, "failing"),
                    *closed = jconsole(doc, "tcp-closed"), *open = jconsole(doc, "tcp-open");
    if (!file || !paused || !stuck || !failing || !closed || !open)
        return 0;
    const struct jv *cn = jget(closed, "net"), *on = jget(open, "net");
    const struct jv *cerr = jget(cn, "last_error"), *ferr = jget(failing, "last_error");
    return jnum(file, "printed") > 0 && !strcmp(jstr(paused, "state"), "suspended") &&
           !strcmp(jstr(stuck, "state"), "stalled") && jnum(failing, "write_failed") > 0 &&
           ferr && ferr->t == J_OBJ && !strcmp(jstr(closed, "state"), "disconnected") &&
           jnum(cn, "connect_failures") > 0 && cerr && cerr->t == J_OBJ &&
           jbool(on, "connected") && jnum(on, "connects") == 1;
}

/* Looks with --json until every console is there; the last document. */
static char *wait_all_there(struct world *w, struct jv *doc)
{
    for (int i = 0; i < GUARD_TRIES; i++) {
        char *text = status_of(w, "--json", 0);
        json_parse(text, strlen(text), doc);
        if (all_there(doc))
            return text;
        if (i == GUARD_TRIES - 1)
            fail_msg("the consoles never all reached their states: %s", text);
        json_free(doc);
        free(text);
        usleep(50000);
    }
    return NULL;
}

/* ------------------------------------------------------------ tests */

static void test_status_json(void **state)
{
    struct world *w = *state;
    struct jv doc;
    char *text = wait_all_there(w, &doc);
    /* One document: one line, ending in '\n'. */
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
    assert_string_equal(jstr(&doc, "file"), w->file);
    const struct jv *wr = jget(&doc, "writer");
    assert_int_equal((long)jnum(wr, "pid"), (long)w->writer);
    assert_true(jbool(wr, "running"));
    const struct jv *ring = jget(&doc, "ring");
    assert_true(jnum(ring, "head") > 0);
    assert_int_equal((long)jnum(ring, "record_size"), 128); /* the default slot */
    assert_true(jget(&doc, "stats_age_s")->t == J_NUM);

    const struct jv *file = jconsole(&doc, "file");
    assert_true(!strcmp(jstr(file, "state"), "running") || !strcmp(jstr(file, "state"), "idle"));
    assert_int_equal(jget(file, "net")->t, J_NULL);
    assert_int_equal(jget(file, "last_error")->t, J_NULL);
    assert_false(jbool(file, "suspended"));

    /* Every console's books balance, as published. */
    const struct jv *cons = jget(&doc, "consoles");
    assert_int_equal(cons->n, 6);
    for (size_t i = 0; i < cons->n; i++) {
        const struct jv *c = &cons->items[i];
        assert_true(jnum(c, "next_seq") - jnum(c, "start_seq") ==
                    jnum(c, "printed") + jnum(c, "filtered") + jnum(c, "dropped") +
                        jnum(c, "write_failed"));
    }

    const struct jv *paused = jconsole(&doc, "paused");
    assert_true(jbool(paused, "suspended"));
    assert_int_equal((long)jnum(paused, "printed"), 0);
    assert_true(jnum(paused, "lag") > 0);

    const struct jv *stuck = jconsole(&doc, "stuck");
    assert_true(jnum(stuck, "stalled_ns") > 0);
    assert_true(jnum(stuck, "lag") > 0);

    const struct jv *failing = jconsole(&doc, "failing");
    const struct jv *fe = jget(failing, "last_error");
    assert_string_equal(jstr(fe, "name"), "ENOSPC");
    assert_int_equal((long)jnum(fe, "errno"), ENOSPC);
    assert_string_equal(jstr(fe, "message"), strerror(ENOSPC));

    const struct jv *closed = jconsole(&doc, "tcp-closed");
    const struct jv *cn = jget(closed, "net");
    assert_true(jbool(cn, "stream"));
    assert_false(jbool(cn, "connected"));
    assert_int_equal((long)jnum(cn, "connects"), 0);
    assert_string_equal(jstr(jget(cn, "last_error"), "name"), "ECONNREFUSED");
    assert_int_equal((long)jnum(jget(cn, "last_error"), "errno"), ECONNREFUSED);
    assert_int_equal((long)jnum(closed, "printed"), 0);
    assert_true(jnum(closed, "lag") > 0);

    const struct jv *open = jconsole(&doc, "tcp-open");
    const struct jv *on = jget(open, "net");
    assert_true(jbool(on, "stream"));
    assert_int_equal((long)jnum(on, "disconnects"), 0);
    assert_int_equal((long)jnum(on, "connect_failures"), 0);
    assert_int_equal(jget(on, "last_error")->t, J_NULL);
    assert_true(strcmp(jstr(open, "state"), "disconnected") != 0);
    json_free(&doc);
    free(text);
}

/* The row of console name in a status table (its line), or NULL. */
static char *row_of(const char *text, const char *name, char *line, size_t cap)
{
    char want[64];
    snprintf(want, sizeof want, "\n%s ", name);
    const char *at = strstr(text, want);
    if (!at)
        return NULL;
    at++;
    size_t n = strcspn(at, "\n");
    snprintf(line, cap, "%.*s", (int)n, at);
    return line;
}

/* Word i (0: the name) of a row. */
static const char *word(const char *row, int i, char *out, size_t cap)
{
    const char *p = row;
    for (;;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (i-- == 0) {
            snprintf(out, cap, "%.*s", (int)n, p);
            return out;
        }
        p += n;
    }
}

static void test_status_text(void **state)
{
    struct world *w = *state;
    struct jv doc;
    free(wait_all_there(w, &doc));
    json_free(&doc);
    char *text = NULL;
    char row[512], wd[64];
    /* The states hold from here on; tcp-open may still be between tries. */
    text = status_of(w, NULL, 0);
    assert_non_null(strstr(text, "writer pid "));
    assert_non_null(strstr(text, " (running), head "));
    assert_non_null(strstr(text, "\nCONSOLE "));
    /* CONSOLE NEXT-SEQ LAG STATE PRINTED FILTERED DROPPED WRITE-ERRS LAST-ERROR STALLED */
    assert_non_null(row_of(text, "paused", row, sizeof row));
    assert_string_equal(word(row, 3, wd, sizeof wd), "suspended");
    assert_non_null(row_of(text, "stuck", row, sizeof row));
    assert_string_equal(word(row, 3, wd, sizeof wd), "stalled");
    assert_true(strcmp(word(row, 9, wd, sizeof wd), "-") != 0); /* stalled for */
    assert_non_null(row_of(text, "failing", row, sizeof row));
    assert_string_equal(word(row, 8, wd, sizeof wd), "ENOSPC");
    assert_true(atol(word(row, 7, wd, sizeof wd)) > 0);
    assert_non_null(row_of(text, "tcp-closed", row, sizeof row));
    assert_string_equal(word(row, 3, wd, sizeof wd), "disconnected");
    assert_string_equal(word(row, 8, wd, sizeof wd), "ECONNREFUSED");
    const char *net = strstr(strstr(text, "\ntcp-closed "), "\n    net: ");
    assert_non_null(net);
    assert_memory_equal(net, "\n    net: not connected, connects 0, disconnects 0, connect failures ",
                        strlen("\n    net: not connected, connects 0, disconnects 0, connect failures "));
    assert_non_null(row_of(text, "file", row, sizeof row));
    assert_string_equal(word(row, 8, wd, sizeof wd), "-");
    assert_non_null(strstr(text, "    net: connected, connects 1, disconnects 0, connect failures 0,"));
    /* Nothing a terminal would act on. */
    assert_null(strchr(text, '\x1b'));
    free(text);
}

/* Starts `nblog status ARGS... FILE` with stdout into a pipe; *fd reads it. */
static pid_t spawn_status(struct world *w, char *a1, char *a2, int *fd)
{
    char *args[] = {tool, "status", a1, a2 ? a2 : w->file, a2 ? w->file : NULL, NULL};
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = spawn_child(args, -1, p[1]);
    close(p[1]);
    *fd = p[0];
    return pid;
}

/* Reads lines from a watch until it has seen `frames` lines starting with
 * prefix (each a snapshot's first), then stops it with sig: exit 0. */
static void watch_frames(struct world *w, char *a1, char *a2, const char *prefix, int frames,
                         int sig)
{
    struct line_reader *lr = calloc(1, sizeof *lr);
    pid_t pid = spawn_status(w, a1, a2, &lr->fd);
    char line[8192];
    int seen = 0;
    while (seen < frames) {
        assert_int_equal(read_line(lr, line, sizeof line, 10000), 1);
        assert_null(strchr(line, '\x1b')); /* not a terminal: no redraw */
        if (!strncmp(line, prefix, strlen(prefix))) {
            seen++;
            if (prefix[0] == '{') { /* --json: each line one document */
                struct jv doc;
                json_parse(line, strlen(line), &doc);
                assert_non_null(jconsole(&doc, "tcp-closed"));
                json_free(&doc);
            }
        }
    }
    assert_int_equal(kill(pid, sig), 0);
    assert_int_equal(wait_child(pid), 0);
    close(lr->fd);
    free(lr);
}

static void test_status_watch(void **state)
{
    struct world *w = *state;
    watch_frames(w, "--watch=0.1", NULL, "every 0.1s: nblog status, ", 3, SIGTERM);
    watch_frames(w, "-w0.1", NULL, "ring ", 2, SIGINT);
    watch_frames(w, "--json", "--watch=0.1", "{\"file\":", 2, SIGTERM);
}

/* On a terminal, each snapshot is drawn over the last. */
static void test_status_watch_tty(void **state)
{
    struct world *w = *state;
    int master, slave;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    char *args[] = {tool, "status", "--watch=0.1", w->file, NULL};
    pid_t pid = spawn_child(args, -1, slave);
    close(slave);
    char buf[65536];
    size_t got = 0;
    int homes = 0;
    while (homes < 3) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        ssize_t n = read(master, buf + got, sizeof buf - 1 - got);
        assert_true(n > 0);
        got += (size_t)n;
        buf[got] = '\0';
        homes = 0;
        for (const char *s = buf; (s = strstr(s, "\x1b[H")); s++)
            homes++;
        if (got > sizeof buf / 2) { /* keep the tail */
            memmove(buf, buf + got / 2, got - got / 2);
            got -= got / 2;
        }
    }
    assert_non_null(strstr(buf, "\x1b[K"));
    assert_non_null(strstr(buf, "every 0.1s: nblog status, "));
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(wait_child(pid), 0);
    close(master);
}

static void test_status_stopped(void **state)
{
    struct world *w = *state;
    struct jv doc;
    free(wait_all_there(w, &doc));
    json_free(&doc);
    world_stop_writer(w);
    char *text = status_of(w, "--json", 0);
    json_parse(text, strlen(text), &doc);
    assert_false(jbool(jget(&doc, "writer"), "running"));
    const struct jv *cons = jget(&doc, "consoles");
    assert_int_equal(cons->n, 6);
    for (size_t i = 0; i < cons->n; i++)
        assert_string_equal(jstr(&cons->items[i], "state"), "stopped");
    /* What they were doing is kept: the last publish. */
    assert_string_equal(jstr(jget(jget(jconsole(&doc, "tcp-closed"), "net"), "last_error"),
                             "name"),
                        "ECONNREFUSED");
    json_free(&doc);
    free(text);
    text = status_of(w, NULL, 0);
    assert_non_null(strstr(text, " (gone), head "));
    free(text);
}

static void test_status_bad_watch(void **state)
{
    struct world *w = *state;
    free(status_of(w, "--watch=0", 2));
    free(status_of(w, "--watch=x", 2));
    free(status_of(w, "--watch=5000", 2));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_json, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_status_text, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_status_watch, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_status_watch_tty, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_status_stopped, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_status_bad_watch, world_setup, world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

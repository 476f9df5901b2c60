/*
 * consoles/net.c - the parts every network output shares: resolving
 * addresses, the lines' identity from the syslog options, sending
 * records as datagrams, the registration wrapper and
 * nblog_console_net_stats.
 *
 * DATAGRAMS
 *
 * A batch from the console core holds whole records: syslog lines, each
 * ending in '\n' (message text is escaped, so that byte never occurs
 * inside one), or journal entries, framed and sent by journald.c (d->proto:
 * their MESSAGE holds any byte, and an entry's end is found by walking its
 * fields). nblog__dgram_send sends one datagram per record with
 * sendmsg(2): a line up to the limit, and when it is longer, the head,
 * NBLOG_TRUNC_MARKER and the kept tail as three iovecs, so nothing is
 * copied and nothing is allocated (the same code runs in write_atomic,
 * from signal handlers). The cut never splits a \xNN escape or a UTF-8
 * sequence.
 *
 * The socket is connected and non-blocking:
 *   EAGAIN        write waits for POLLOUT (at most ~100 ms a call, so the
 *                 printer comes back to check it is still registered);
 *                 write_atomic returns what it sent, or -EAGAIN.
 *   ECONNREFUSED  UDP: an ICMP port unreachable for an earlier datagram:
 *                 nobody listens there. It is an error like any other
 *                 (below), not retried: records sent to a closed port
 *                 must not count as printed. The kernel reports it once,
 *                 and only for some datagram before this one; so the batch
 *                 it falls in, and only that, counts as failed. Unix: the
 *                 receiver is gone (syslogd restarting, journald stopped);
 *                 write and write_atomic reopen the socket and try once
 *                 more (a call: net stats count disconnects when it is
 *                 found gone, then connects or connect_failures). While it
 *                 stays gone the socket is unconnected and the error
 *                 returned is why its connect failed (d->gone:
 *                 ECONNREFUSED or ENOENT, not ENOTCONN), for last_error.
 *   other         the records sent so far are reported and the error is
 *                 kept (d->pending): the next call returns it, even if the
 *                 kernel reported it once only, and the console counts the
 *                 batch as write_failed (so the count can include records
 *                 of an earlier partial call that did go out).
 * d->pending is taken with an exchange, so one call, of whichever owner,
 * reports it.
 *
 * MEMORY ORDERING: relaxed throughout, with nothing to pair. d->pending
 * carries the error alone (the exchange makes one call take it), d->gone
 * a reason alone (a stale one names an older refusal), and the
 * net stats (connects, disconnects, connect_failures, resent_frames,
 * truncated, connected, last_error) are counts and states for stats to show, each
 * read on its own; what the owners share beyond them is ordered by the
 * console's ownership word (console_impl.h O1/O2), and connected's first
 * store by registration's release of ACTIVE (L4).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "consoles/net.h"
#include "platform.h"
#include "render.h"

#define WAIT_SLICE_MS 100 /* longest wait for room in one write call */

int nblog__net_resolve(const char *hostport, int socktype,
                       struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon;
    size_t hl;
    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');
        if (!end || end[1] != ':')
            return -1;
        hl = (size_t)(end - hostport - 1);
        if (hl >= sizeof host)
            return -1;
        memcpy(host, hostport + 1, hl);
        colon = end + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - hostport);
        if (hl >= sizeof host)
            return -1;
        memcpy(host, hostport, hl);
    }
    host[hl] = '\0';
    const char *port = colon + 1;
    if (!host[0] || !port[0] || strspn(port, "0123456789") != strlen(port))
        return -1;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int nblog__net_unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof un->sun_path)
        return -1;
    memset(ss, 0, sizeof *ss);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* Copies src into a header field: printable ASCII without spaces (33..126,
 * RFC 5424 PRINTUSASCII), others replaced by '_', at most cap - 1 bytes;
 * "-" if nothing is left. */
static void field(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; src && *src && n + 1 < cap; src++) {
        unsigned char ch = (unsigned char)*src;
        dst[n++] = ch > 32 && ch < 127 ? (char)ch : '_';
    }
    if (n == 0)
        dst[n++] = '-';
    dst[n] = '\0';
}

/* An SD-NAME: printable ASCII but '=', ' ', ']', '"'; 1..32 bytes. */
/* The SD-PARAM names render.c writes itself in the [nblog@32473] element:
 * a custom one of these would stand beside ours and could be read for it. */
static const char *const sd_reserved[] = {"seq",  "tid",  "truncated", "replayed",
                                          "file", "line", "func"};

static int sd_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < sizeof sd_reserved / sizeof sd_reserved[0]; i++)
        if (strcmp(s, sd_reserved[i]) == 0)
            return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= 32 || ch >= 127 || ch == '=' || ch == ']' || ch == '"')
            return 0;
    }
    return 1;
}

int nblog__net_line_id(struct nblog__line_id *p, const nblog_syslog_opts_t *sopts)
{
    nblog_syslog_opts_t defaults;
    if (!sopts) {
        nblog_syslog_opts_init(&defaults);
        sopts = &defaults;
    }
    if (sopts->facility < -1 || sopts->facility > 23)
        return -1;
    memset(p, 0, sizeof *p);
    char host[256] = "";
    if (!sopts->hostname && gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    field(p->hostname, sizeof p->hostname, sopts->hostname ? sopts->hostname : host);
    /* The program's identity (nblog_options_t.program, as the lifecycle
     * handed it down to render) unless the console names its own. */
    struct nblog__who self;
    nblog__who(NULL, &self);
    field(p->app, sizeof p->app, sopts->app_name ? sopts->app_name : self.program);
    /* PROCID: the pid when each line is rendered, so a forked child's
     * lines carry its own (render.c; the cached pid is the child's once
     * the fork hooks ran). */
    p->procid[0] = '\0';
    field(p->msgid, sizeof p->msgid, sopts->msgid);
    p->facility = sopts->facility;
    p->sd = sopts->structured_data != 0;
    p->hostname_3164 = 1;
    /* RFC 3164 stamps are local time: take the offset now (localtime_r
     * is not signal-safe; a DST change shows until the next console). */
    time_t now = time(NULL);
    struct tm tm;
    p->utc_offset_s = localtime_r(&now, &tm) ? tm.tm_gmtoff : 0;
    size_t n = 0;
    for (const char *const *kv = sopts->sd_params; kv && kv[0]; kv += 2) {
        if (!kv[1] || !sd_name_ok(kv[0]))
            return -1;
        size_t room = sizeof p->sd_extra - 1 - n;
        size_t need = 1 + strlen(kv[0]) + 2;
        if (need + 1 > room)
            return -1;
        n += (size_t)snprintf(p->sd_extra + n, room + 1, " %s=\"", kv[0]);
        size_t v = nblog__sd_escape(p->sd_extra + n, room - need, kv[1], strlen(kv[1]));
        if (v < strlen(kv[1]))
            return -1; /* values are never cut silently: too long is an error */
        n += v;
        p->sd_extra[n++] = '"';
        p->sd_extra[n] = '\0';
    }
    return 0;
}

void nblog_syslog_opts_init(nblog_syslog_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->facility = -1;
    o->structured_data = 1;
}

/* Puts a new socket in place. A reopen keeps the descriptor number (dup3
 * over the old one): a panic or emergency owner that took the console
 * over may be sending on d->fd meanwhile, and must never find it closed
 * or reused by something else. */
static void install_socket(struct nblog__dgram *d, int fd)
{
    if (d->fd < 0) {
        d->fd = fd;
        return;
    }
    /* If dup3 fails the old socket stays: its sends fail and are counted. */
    (void)dup3(fd, d->fd, O_CLOEXEC);
    close(fd);
}

int nblog__dgram_open(struct nblog__dgram *d)
{
    int fd = nblog__fd_mine(socket(d->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&d->addr, d->addrlen) != 0) {
        int e = errno;
        /* A local socket not there yet (syslogd not started) or nobody
         * behind it (journald exited): sending will try again, and says
         * why meanwhile (gone). A UDP connect only fails for a bad
         * address. Relaxed: gone is a reason alone, as pending. */
        if (d->addr.ss_family == AF_UNIX && (e == ENOENT || e == ECONNREFUSED)) {
            install_socket(d, fd);
            atomic_store_explicit(&d->gone, e, memory_order_relaxed);
            return 0;
        }
        close(fd);
        return -e;
    }
    install_socket(d, fd);
    atomic_store_explicit(&d->gone, 0, memory_order_relaxed); /* relaxed: see above */
    return 0;
}

/* Where to cut a record of len bytes to fit in room, so the cut splits
 * neither a \xNN escape nor a UTF-8 sequence. */
static size_t cut_point(const char *rec, size_t room)
{
    size_t n = room;
    /* A backslash in the last three bytes starts an escape we would split
     * (text backslashes are escaped themselves, so any backslash is one). */
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (rec[n - k] == '\\') {
            n -= k;
            break;
        }
    while (n > 0 && ((unsigned char)rec[n] & 0xc0) == 0x80)
        n--;
    return n;
}

static int wait_writable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, ms);
}

int nblog__dgram_sendv(struct nblog__dgram *d, struct iovec *iov, int n)
{
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)n;
    while (sendmsg(d->fd, &msg, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

/* One line as one datagram. Returns 0 or -errno. */
static int send_record(struct nblog__dgram *d, const char *rec, size_t len,
                       _Atomic uint64_t *truncated)
{
    static const char marker[] = NBLOG_TRUNC_MARKER;
    struct iovec iov[3];
    int n = 0;
    size_t body = len - d->keep; /* the record without its kept tail */
    if (len <= d->max) {
        iov[n++] = (struct iovec){(void *)rec, len};
    } else {
        size_t head = cut_point(rec, d->max - d->keep - (sizeof marker - 1));
        iov[n++] = (struct iovec){(void *)rec, head};
        iov[n++] = (struct iovec){(void *)marker, sizeof marker - 1};
        if (d->keep)
            iov[n++] = (struct iovec){(void *)(rec + body), d->keep};
    }
    int rc = nblog__dgram_sendv(d, iov, n);
    if (rc == 0 && n > 1)
        atomic_fetch_add_explicit(truncated, 1, memory_order_relaxed); /* a count: pairs with nothing */
    return rc;
}

/* The line at rec (rest bytes left): its length with its separator, and
 * what of it is sent. */
static size_t line_frame(const struct nblog__dgram *d, const char *rec, size_t rest,
                         size_t *send_len)
{
    size_t rl = 0;
    for (;;) {
        const char *nl = memchr(rec + rl, '\n', rest - rl);
        if (!nl) {
            rl = rest; /* no separator: send what there is */
            break;
        }
        rl = (size_t)(nl - rec) + 1;
        if (d->sep == 1 || (rl < rest && rec[rl] == '\n')) {
            rl += d->sep - 1;
            break;
        }
    }
    *send_len = rl >= d->sep ? rl - d->sep + d->keep : rl;
    return rl;
}

/* A unix receiver that went away (or never came): the errors saying so. */
static int receiver_gone(int rc)
{
    return rc == -ECONNREFUSED || rc == -ENOTCONN || rc == -ENOENT || rc == -EDESTADDRREQ;
}

ssize_t nblog__dgram_send(struct nblog__dgram_out *o, const char *buf, size_t len,
                          int may_wait)
{
    struct nblog__dgram *d = &o->dg;
    struct nblog__net_common *net = &o->net;
    /* Relaxed: the error alone travels; it orders nothing else. */
    int e = atomic_exchange_explicit(&d->pending, 0, memory_order_relaxed);
    if (e)
        return -e;
    size_t done = 0;
    uint64_t deadline = may_wait ? nblog__now_ns() + WAIT_SLICE_MS * 1000000ull : 0;
    int reopened = 0;
    while (done < len) {
        /* The record: up to and including its separator. */
        const char *rec = buf + done;
        size_t send_len;
        size_t rl = d->proto ? d->proto->frame(rec, len - done, &send_len)
                             : line_frame(d, rec, len - done, &send_len);
        assert(rl > 0 && rl <= len - done && send_len <= rl);
        if (send_len == 0) { /* nothing to send (an empty line) */
            done += rl;
            continue;
        }
        int rc = d->fd < 0 ? -ENOTCONN
                 : d->proto ? d->proto->send(d, rec, send_len, may_wait, &net->truncated)
                            : send_record(d, rec, send_len, &net->truncated);
        if (rc == 0) {
            done += rl;
            continue;
        }
        if (rc == -EAGAIN && may_wait) {
            uint64_t now = nblog__now_ns();
            if (now < deadline) {
                wait_writable(d->fd, (int)((deadline - now) / 1000000u) + 1);
                continue;
            }
        }
        /* Relaxed, here and below: counts and a state for stats (see
         * MEMORY ORDERING), and gone, a reason alone. */
        int why = atomic_load_explicit(&d->gone, memory_order_relaxed);
        if (d->addr.ss_family == AF_UNIX && receiver_gone(rc)) {
            if (!why && atomic_exchange_explicit(&net->connected, 0, memory_order_relaxed))
                atomic_fetch_add_explicit(&net->disconnects, 1, memory_order_relaxed);
            /* Reopen once, in write_atomic too (socket, connect, dup3 and
             * close are plain system calls, async-signal-safe): in direct
             * mode the logging calls print everything, and the printer,
             * were it left to reconnect, would never get a record to do
             * it with. */
            if (!reopened) {
                reopened = 1;
                if (nblog__dgram_open(d) != 0 || /* no socket (EMFILE, ...) */
                    atomic_load_explicit(&d->gone, memory_order_relaxed)) {
                    atomic_fetch_add_explicit(&net->connect_failures, 1, memory_order_relaxed);
                } else {
                    atomic_fetch_add_explicit(&net->connects, 1, memory_order_relaxed);
                    atomic_store_explicit(&net->connected, 1, memory_order_relaxed);
                }
                continue;
            }
            /* Still gone: say why (ECONNREFUSED, ENOENT), not ENOTCONN. */
            if (why && (rc == -ENOTCONN || rc == -EDESTADDRREQ))
                rc = -why;
        }
        if (rc == -EAGAIN)
            return done ? (ssize_t)done : may_wait ? 0 : rc;
        if (done) /* for the next call: the batch fails. Relaxed: see above */
            atomic_store_explicit(&d->pending, -rc, memory_order_relaxed);
        return done ? (ssize_t)done : rc;
    }
    return (ssize_t)done;
}

/* ------------------------------------------------- datagram consoles */

static ssize_t dgram_write(void *ctx, const char *buf, size_t len)
{
    return nblog__dgram_send(ctx, buf, len, 1);
}

static ssize_t dgram_write_atomic(void *ctx, const char *buf, size_t len)
{
    return nblog__dgram_send(ctx, buf, len, 0);
}

static void dgram_teardown(void *ctx)
{
    struct nblog__dgram_out *o = ctx;
    if (o->dg.fd >= 0)
        close(o->dg.fd);
    free((void *)o->dg.extra);
    free(o);
}

static const nblog_console_ops_t dgram_ops = {
    .write = dgram_write,
    .write_atomic = dgram_write_atomic,
    .setup = nblog__net_setup,
    .teardown = dgram_teardown,
};

int nblog__dgram_console(struct nblog__dgram_out *o, const char *default_name,
                         int format, const nblog_console_opts_t *opts,
                         nblog_console_t **out)
{
    o->dg.fd = -1;
    if (nblog__dgram_open(&o->dg) != 0) {
        dgram_teardown(o);
        return NBLOG_EINVAL;
    }
    /* Connected unless a unix receiver is not there (nblog__dgram_send
     * keeps it true). Relaxed: registration's release store of ACTIVE
     * publishes it, and gone is our own store. */
    atomic_store_explicit(&o->net.connected,
                          atomic_load_explicit(&o->dg.gone, memory_order_relaxed) == 0,
                          memory_order_relaxed);
    return nblog__net_register(&dgram_ops, &o->net, default_name, format, opts, out,
                               dgram_teardown);
}

/* ------------------------------------------------------ registration */

/* The setup op of every network console: nothing to do, but it marks the
 * ctx as a struct nblog__net_common for nblog_console_net_stats. */
int nblog__net_setup(void *ctx)
{
    (void)ctx;
    return 0;
}

int nblog__net_register(const nblog_console_ops_t *ops, struct nblog__net_common *ctx,
                        const char *default_name, int format,
                        const nblog_console_opts_t *opts, nblog_console_t **out,
                        void (*fail)(void *ctx))
{
    nblog_console_opts_t o;
    if (opts)
        o = *opts;
    else
        nblog_console_opts_init(&o);
    char name[NBLOG_CONSOLE_NAME_MAX + 1];
    if (!opts || !opts->name) { /* "kind:target" (see NAMES in console.c) */
        char kind[16];
        size_t k = strcspn(default_name, ":");
        snprintf(kind, sizeof kind, "%.*s", (int)k, default_name);
        nblog__console_default_name(name, kind,
                                    default_name[k] ? default_name + k + 1 : NULL);
        o.name = name;
    }
    o.format = format;
    ctx->magic = NBLOG__NET_MAGIC;
    int rc = nblog__console_register_id(ops, ctx, &ctx->id, &o, out);
    if (rc != NBLOG_OK)
        fail(ctx);
    return rc;
}

int nblog__net_stats(nblog_console_t *con, nblog_net_stats_t *st, unsigned *flags,
                     int *net_error)
{
    const nblog_console_ops_t *ops;
    if (!st || !flags || !net_error)
        return NBLOG_EINVAL;
    int rc;
    struct nblog__net_common *n = nblog__console_ctx_get(con, &ops, &rc);
    if (!n)
        return rc;
    if (ops->setup != nblog__net_setup || n->magic != NBLOG__NET_MAGIC) {
        nblog__console_ctx_put(con);
        return NBLOG_EINVAL;
    }
    /* Relaxed loads: counters, see struct nblog__net_common. */
    st->connects = atomic_load_explicit(&n->connects, memory_order_relaxed);
    st->disconnects = atomic_load_explicit(&n->disconnects, memory_order_relaxed);
    st->connect_failures = atomic_load_explicit(&n->connect_failures, memory_order_relaxed);
    st->resent_frames = atomic_load_explicit(&n->resent_frames, memory_order_relaxed);
    st->truncated = atomic_load_explicit(&n->truncated, memory_order_relaxed);
    st->connected = atomic_load_explicit(&n->connected, memory_order_relaxed);
    *net_error = atomic_load_explicit(&n->last_error, memory_order_relaxed);
    *flags = NBLOG_CONSOLE_STATS_NET | (n->stream ? NBLOG_CONSOLE_STATS_STREAM : 0u);
    nblog__console_ctx_put(con); /* n may be freed from here on */
    return NBLOG_OK;
}

int nblog_console_net_stats(nblog_console_t *con, nblog_net_stats_t *st)
{
    unsigned flags;
    int net_error;
    return nblog__net_stats(con, st, &flags, &net_error);
}

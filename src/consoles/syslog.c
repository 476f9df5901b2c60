/*
 * consoles/syslog.c - syslog consoles: RFC 5424 (or RFC 3164) records to a
 * collector over UDP, TCP, TLS (RFC 5425) or a local datagram socket
 * (unix:/dev/log).
 *
 * The console core renders the lines (render.c, NBLOG_FORMAT_RFC5424/3164,
 * with the identity this console registers, struct nblog__line_id); this
 * file only moves them. UDP and unix sockets send one datagram per record
 * through consoles/net.c, which also serves write_atomic. TCP is below.
 *
 * TCP: AT-LEAST-ONCE OVER A STREAM
 *
 * Records go out as RFC 6587 octet-counted frames, "LEN SP MSG", without
 * the line's '\n'. Every frame is first appended to a history ring (hist,
 * resend_bytes long, allocated at setup) and sent from there, so the ring
 * is both the send queue and the resend buffer. Positions are absolute
 * byte counts of the stream since setup:
 *
 *     h_start <= h_done <= h_acked <= h_end,   h_start <= h_sent <= h_end
 *     |- delivered -|- acknowledged, unproven -|- in the kernel -|- unsent -|
 *
 *   h_start  oldest byte kept; always the start of a frame.
 *   h_done   bytes counted delivered: what write reports (below).
 *   h_acked  bytes the peer's TCP acknowledged on this connection, as far
 *            as we know: after each send, h_sent - SIOCOUTQ (bytes the
 *            kernel still holds, unacknowledged), trusted only if a look
 *            right after shows no FIN, RST or error on the socket (a reset
 *            empties the queue and SIOCOUTQ would then claim everything
 *            arrived). Bytes in our kernel are not delivered: a reset
 *            throws them away.
 *   h_sent   bytes handed to the kernel on this connection.
 *   h_end    bytes appended.
 *
 * Acknowledged is not read either: the peer's kernel acknowledges what
 * lands in its receive queue, and a peer that closes with bytes unread
 * there loses them (its kernel answers with a reset instead of a FIN). A
 * peer that accepts and resets at once, every time, acknowledges
 * everything and reads nothing. So a connection must prove itself: it is
 * proven once it has stayed up SETTLE_NS (500 ms, or four round trips if
 * longer) with no reset, FIN or error; from then on h_done follows
 * h_acked. On an unproven connection nothing becomes delivered, except at
 * a clean end: a FIN alone means the peer read all it had acknowledged.
 * (What this cannot tell: a peer that holds a connection past the settle
 * time without reading, then resets; its last acknowledged bytes count
 * delivered, are resent within the margin below, and are lost if it does
 * the same every time.)
 *
 * Frames are evicted from h_start only when they end at or before
 * h_done - margin (margin = resend_bytes / 4); when the ring has no room
 * the write takes no more lines (they stay in the console's batch, and the
 * records behind them in the nblog ring).
 *
 * How the connection ended sets where resending starts:
 *   FIN seen first (the peer read everything, then closed cleanly): from
 *     h_done (= h_acked then). Bytes we sent after its FIN are not
 *     acknowledged.
 *   reset, error, or both at once: from h_done - margin (what its receive
 *     queue may have held; rsyslog stopped under load does this). More
 *     duplicates, no silent loss within the margin.
 *
 * Incoming bytes: a collector has nothing to say in RFC 6587, but some
 * greet or chatter. Each look at the socket reads and drops what came (at
 * most DRAIN_BYTES); only EOF or an error ends the connection.
 *
 * Connecting happens in write, so on the console's own printer thread:
 * a non-blocking connect with a poll timeout; on failure the next attempt
 * waits backoff (backoff_min doubling to backoff_max), sleeping in slices
 * of at most 100 ms so an unregistered console's thread still leaves soon.
 * A proven connection that dies is retried at once (a collector
 * restarting); one that dies before counts as a failed connect (a peer
 * that accepts and resets must not make us spin). On (re)connect, h_sent
 * goes back to the frame holding the resend point: every frame the peer
 * may not have received is sent again (counted in resent_frames). The
 * peer can see a frame twice (its seq tells), never miss one silently, as
 * long as what it dropped unread fits in the margin.
 *
 * What write reports: the console core counts a line printed when write
 * returns past it. A line is reported only once its whole frame is
 * delivered (h_done past its end), so flush returns only for records the
 * collector has, and a peer that never keeps a connection never gets a
 * record counted printed: they wait in the ring (or are counted dropped).
 * The lines taken but not yet reported (carry) come back at the start of
 * the next call, which the core guarantees (it retries the rest of the
 * same batch); in_start says where their frames begin. While down,
 * blocked or unproven, write returns within ~100 ms having reported what
 * it could (0 is "come back later"), so the stall watch sees a console
 * that makes no progress and flush names it. The cost: the core hands
 * over one batch at a time, so at most one batch is in flight, about 64
 * KiB per round trip on a long link.
 *
 * A forked child shares the parent's socket: the child drops it (and the
 * history) and connects on its own.
 *
 * TLS (syslog+tls://) is this same stream with consoles/tls.h's transport
 * under it: try_connect handshakes (within the connect timeout, on the
 * printer thread, the peer verified; a failure is a failed connect, its
 * error noted in last_error), stream_send hands plaintext to the session,
 * peer_gone reads through it (a close_notify is an end of stream), and
 * refresh_acked asks it which plaintext the acknowledged ciphertext
 * covers (positions from conn_base, where the session's plaintext began).
 * Frames, history, proving and resending are unchanged.
 *
 * MEMORY ORDERING: relaxed throughout: the net stats it adds to
 * (connects, disconnects, connect_failures, resent_frames, connected) are
 * counts and a state read on their own (consoles/net.c); the stream and
 * its history are the owner's, ordered by the ownership word
 * (console_impl.h O1/O2).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "consoles/net.h"
#include "consoles/tls.h"
#include "platform.h"

#define SLICE_NS 100000000ull  /* longest a write call waits for anything */
#define SETTLE_NS 500000000ull /* a new connection's proving time, at least */
#define DRAIN_BYTES 65536      /* most bytes read from the peer per look */

struct tcp_out {
    struct nblog__net_common net; /* first: see nblog_console_net_stats */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd;                /* -1 while down */
    pid_t pid;             /* the process that owns fd */
    char *hist;            /* history ring, cap bytes */
    uint64_t cap;
    uint64_t h_start, h_done, h_acked, h_sent, h_end;
    uint64_t in_start;     /* where the frame of the first carried line starts */
    size_t carry;          /* input bytes taken into hist, not yet reported */
    uint64_t next_try_ns;  /* no connect attempt before this */
    uint64_t connected_ns; /* when this connection was made */
    uint64_t margin;       /* acknowledged bytes kept for a reset peer */
    int proven;            /* this connection outlived its settle time */
    int unclean;           /* the last connection ended without a clean FIN */
    struct nblog__tls *tls; /* syslog+tls: the transport over fd; NULL: plain TCP */
    uint64_t conn_base;    /* syslog+tls: the stream position this session's
                              plaintext starts at */
    unsigned backoff_ms, backoff_min, backoff_max, connect_timeout_ms;
};

/* ------------------------------------------------------------ history */

static void hist_put(struct tcp_out *o, const char *p, size_t n)
{
    while (n) {
        uint64_t off = o->h_end % o->cap;
        size_t k = (size_t)(o->cap - off) < n ? (size_t)(o->cap - off) : n;
        memcpy(o->hist + off, p, k);
        o->h_end += k;
        p += k;
        n -= k;
    }
}

/* Length of the whole frame starting at pos ("LEN SP" + LEN bytes). */
static uint64_t frame_len(const struct tcp_out *o, uint64_t pos)
{
    uint64_t len = 0, i = pos;
    for (;; i++) {
        char ch = o->hist[i % o->cap];
        if (ch == ' ')
            break;
        len = len * 10 + (uint64_t)(ch - '0');
    }
    return i + 1 - pos + len;
}

static size_t digits(size_t v)
{
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Makes room for need bytes by evicting acknowledged frames; 0 if it can. */
static int make_room(struct tcp_out *o, uint64_t need)
{
    while (o->h_end - o->h_start + need > o->cap) {
        if (o->h_start >= o->h_end)
            return -1;
        uint64_t fl = frame_len(o, o->h_start);
        if (o->h_start + fl + o->margin > o->h_done)
            return -1; /* the oldest frame may not have been read: keep it */
        o->h_start += fl;
    }
    return 0;
}

/* Appends frames for the lines of buf past carry while they fit. */
static void take_lines(struct tcp_out *o, const char *buf, size_t len)
{
    if (o->carry == 0)
        o->in_start = o->h_end;
    while (o->carry < len) {
        const char *line = buf + o->carry;
        const char *nl = memchr(line, '\n', len - o->carry);
        size_t l = nl ? (size_t)(nl - line) : len - o->carry;
        char hdr[24];
        size_t hl = digits(l);
        if (make_room(o, hl + 1 + l) != 0)
            return;
        for (size_t v = l, i = hl; i-- > 0; v /= 10)
            hdr[i] = (char)('0' + v % 10);
        hdr[hl++] = ' ';
        hist_put(o, hdr, hl);
        hist_put(o, line, l);
        o->carry += l + (nl ? 1 : 0);
    }
}

/* Input bytes of buf whose frames are wholly delivered (before h_done);
 * drops them from carry. */
static size_t confirm_lines(struct tcp_out *o, const char *buf)
{
    size_t done = 0;
    uint64_t pos = o->in_start;
    while (done < o->carry) {
        const char *nl = memchr(buf + done, '\n', o->carry - done);
        size_t l = nl ? (size_t)(nl - (buf + done)) : o->carry - done;
        uint64_t fl = digits(l) + 1 + l;
        if (pos + fl > o->h_done)
            break;
        pos += fl;
        done += l + (nl ? 1 : 0);
    }
    o->carry -= done;
    o->in_start = pos;
    return done;
}

/* ---------------------------------------------------------- connection */

/* The connection is lost because of errno err (0: the socket's pending
 * error, ECONNRESET if it has none): kept for stats. */
static void lost_because(struct tcp_out *o, int err)
{
    socklen_t el = sizeof err;
    if (err == 0 && (getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err == 0))
        err = ECONNRESET;
    /* Relaxed: a statistic, pairs with nothing (struct nblog__net_common). */
    atomic_store_explicit(&o->net.last_error, -err, memory_order_relaxed);
}

/* Reads and drops what the peer sent. RFC 6587 gives a collector nothing
 * to say, but some greet or chatter: their bytes are not the end of the
 * stream, and left unread they would fill our receive buffer. Returns 1
 * when the connection has ended: EOF (the peer's FIN; clean, unless a
 * reset or error shows as well) or an error (unclean). Reads at most
 * DRAIN_BYTES a call, so a peer that floods us cannot keep us here. */
static int drain_raw(int fd)
{
    char sink[4096];
    size_t got = 0;
    while (got < DRAIN_BYTES) {
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return n < 0 ? -errno : 1; /* -ECONNRESET, -ETIMEDOUT, ...; or EOF */
    }
    return 0;
}

static int peer_gone(struct tcp_out *o)
{
    /* TLS: through the session (a close_notify or a fatal alert tells). */
    int r = o->tls ? nblog__tls_drain(o->tls, DRAIN_BYTES) : drain_raw(o->fd);
    if (r < 0) {
        o->unclean = 1;
        lost_because(o, o->tls ? 0 : -r); /* TLS: the socket's error, if any */
        return 1;
    }
    if (r > 0) {
        /* EOF. A FIN alone means the peer read all it acknowledged before
         * it closed (closing with bytes unread sends a reset instead). */
        struct pollfd p = {.fd = o->fd, .events = 0};
        o->unclean = poll(&p, 1, 0) != 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
        if (o->unclean)
            lost_because(o, 0);
        return 1;
    }
    struct pollfd p = {.fd = o->fd, .events = 0}; /* errors are always reported */
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLERR | POLLHUP | POLLNVAL)))
        return 0;
    o->unclean = 1;
    lost_because(o, 0);
    return 1;
}

/* How long a new connection must stay up, data acknowledged and no reset
 * or FIN seen, before what it acknowledged counts as delivered: SETTLE_NS,
 * or four round trips if that is longer. */
static uint64_t settle_ns(int fd)
{
    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    memset(&ti, 0, sizeof ti);
    uint64_t rtt4 = 0;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0)
        rtt4 = (uint64_t)ti.tcpi_rtt * 4000u; /* tcpi_rtt is in microseconds */
    return rtt4 > SETTLE_NS ? rtt4 : SETTLE_NS;
}

/* Learns what the peer acknowledged, and what is delivered. -1 if the
 * connection is going down (then the queue length means nothing). */
static int refresh_acked(struct tcp_out *o)
{
    int outq = 0;
    if (ioctl(o->fd, SIOCOUTQ, &outq) != 0) {
        o->unclean = 1;
        return -1;
    }
    /* Taken before the drain, which may send (a TLS key update) and so
     * make the queue length stale. TLS: the kernel holds ciphertext; the
     * session maps it back to plaintext (consoles/tls.h). */
    uint64_t q = (uint64_t)(outq > 0 ? outq : 0);
    uint64_t acked = o->tls ? o->conn_base + nblog__tls_acked(o->tls, q) : o->h_sent - q;
    if (peer_gone(o))
        return -1;
    if (acked > o->h_acked)
        o->h_acked = acked;
    if (!o->proven && nblog__now_ns() - o->connected_ns >= settle_ns(o->fd))
        o->proven = 1; /* no reset within the settle time: a collector */
    if (o->proven)
        o->h_done = o->h_acked;
    assert(o->h_start <= o->h_done && o->h_done <= o->h_acked && o->h_acked <= o->h_end);
    return 0;
}

static void went_down(struct tcp_out *o)
{
    if (o->tls)
        nblog__tls_end(o->tls, 0);
    close(o->fd);
    o->fd = -1;
    if (!o->unclean) /* proven or not (nblog.h states this exception) */
        o->h_done = o->h_acked; /* a clean FIN: it read what it acknowledged */
    if (o->proven) {
        /* It was a collector: restarting, perhaps. Try again at once. */
        o->backoff_ms = o->backoff_min;
        o->next_try_ns = 0;
    } else {
        /* Lost before it proved anything: back off as for a failed
         * connect, or a peer that resets at once makes us spin. */
        o->next_try_ns = nblog__now_ns() + (uint64_t)o->backoff_ms * 1000000u;
        o->backoff_ms = o->backoff_ms * 2 < o->backoff_max ? o->backoff_ms * 2
                                                           : o->backoff_max;
    }
    /* Relaxed: a count and a hint for stats readers; they pair with
     * nothing, the connection state is this printer's alone. */
    atomic_fetch_add_explicit(&o->net.disconnects, 1, memory_order_relaxed);
    atomic_store_explicit(&o->net.connected, 0, memory_order_relaxed);
}

/* A TCP connection to the collector, and for TLS its handshake, both
 * within the connect timeout. The fd, or -errno: ETIMEDOUT when
 * connect_timeout_ms passed; a TLS failure is also shown in last_error
 * (-EACCES for a refused certificate, see nblog.h). */
static int try_connect(struct tcp_out *o)
{
    uint64_t deadline = nblog__now_ns() + (uint64_t)o->connect_timeout_ms * 1000000u;
    int fd = nblog__fd_mine(socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return -errno;
    /* The kernel doubles it: at most half the history waits unacknowledged
     * in the kernel, the other half is for frames not yet sent. */
    int sndbuf = (int)(o->cap / 4);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (connect(fd, (struct sockaddr *)&o->addr, o->addrlen) != 0) {
        int err = errno;
        if (err != EINPROGRESS) {
            close(fd);
            return -err;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        socklen_t el = sizeof err;
        int ready = poll(&p, 1, (int)o->connect_timeout_ms);
        if (ready != 1)
            err = ready == 0 ? ETIMEDOUT : errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            err = errno;
        if (err != 0) {
            close(fd);
            return -err;
        }
    }
    if (o->tls) {
        int e = nblog__tls_start(o->tls, fd, deadline);
        if (e != 0) {
            nblog__console_note_error(o, e);
            close(fd);
            return e < 0 ? e : -EPROTO;
        }
    }
    return fd;
}

/* Connects if it is time to; else sleeps a slice. 0 when connected. */
static int connect_now(struct tcp_out *o)
{
    uint64_t now = nblog__now_ns();
    if (now < o->next_try_ns) {
        uint64_t left = o->next_try_ns - now;
        nblog__sleep_ns(left < SLICE_NS ? left : SLICE_NS);
        return -1;
    }
    int fd = try_connect(o);
    if (fd < 0) {
        /* Relaxed: statistics, pair with nothing (struct nblog__net_common). */
        atomic_store_explicit(&o->net.last_error, fd, memory_order_relaxed);
        atomic_fetch_add_explicit(&o->net.connect_failures, 1, memory_order_relaxed);
        o->next_try_ns = nblog__now_ns() + (uint64_t)o->backoff_ms * 1000000u;
        o->backoff_ms = o->backoff_ms * 2 < o->backoff_max ? o->backoff_ms * 2
                                                           : o->backoff_max;
        return -1;
    }
    o->fd = fd;
    o->connected_ns = nblog__now_ns();
    o->proven = 0;
    /* Everything not known delivered goes again: what the kernel still
     * held, what an unproven connection acknowledged, and after a reset
     * what the peer may have dropped unread. */
    uint64_t from = o->h_done;
    if (o->unclean)
        from = from > o->margin ? from - o->margin : 0;
    o->h_acked = o->h_done; /* what the last connection acknowledged counts no more */
    o->unclean = 0;
    /* Resend from the frame holding the first byte not known to be
     * acknowledged: h_acked itself, or the frame it falls inside. */
    uint64_t pos = o->h_start, frames = 0;
    while (pos < o->h_end && pos + frame_len(o, pos) <= from)
        pos += frame_len(o, pos);
    for (uint64_t p = pos; p < o->h_sent; p += frame_len(o, p))
        frames++;
    o->h_sent = pos;
    o->conn_base = pos; /* the TLS session's plaintext starts here */
    /* Relaxed: statistics and a hint for nblog_console_net_stats; they
     * publish nothing (the history is this printer's alone). */
    atomic_fetch_add_explicit(&o->net.resent_frames, frames, memory_order_relaxed);
    atomic_fetch_add_explicit(&o->net.connects, 1, memory_order_relaxed);
    atomic_store_explicit(&o->net.connected, 1, memory_order_relaxed);
    return 0;
}

/* Bytes of p the transport took (> 0), or -errno: -EAGAIN the socket
 * is full; -ENOBUFS (TLS) too many records wait to be acknowledged. */
static ssize_t stream_send(struct tcp_out *o, const char *p, size_t n)
{
    if (o->tls)
        return nblog__tls_send(o->tls, p, n);
    ssize_t w = send(o->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    return w < 0 ? -errno : w;
}

/* Sends h_sent..h_end. 0: all sent; 1: no room before deadline; -1: the
 * connection is gone. */
static int push(struct tcp_out *o, uint64_t deadline)
{
    while (o->h_sent < o->h_end) {
        uint64_t off = o->h_sent % o->cap;
        uint64_t n = o->h_end - o->h_sent;
        if (n > o->cap - off)
            n = o->cap - off;
        ssize_t w = stream_send(o, o->hist + off, (size_t)n);
        if (w > 0) {
            o->h_sent += (uint64_t)w;
            continue;
        }
        if (w == -EINTR)
            continue;
        if (w == -EAGAIN || w == -ENOBUFS) {
            if (refresh_acked(o) != 0)
                return -1;
            uint64_t now = nblog__now_ns();
            if (now >= deadline)
                return 1;
            /* Room in the socket wakes poll; an acknowledgement does not
             * (the TLS table waits for those): look again in 1 ms. */
            int full = w == -ENOBUFS;
            struct pollfd p = {.fd = o->fd, .events = full ? POLLIN : POLLOUT};
            poll(&p, 1, full ? 1 : (int)((deadline - now) / 1000000u) + 1);
            continue;
        }
        o->unclean = 1; /* EPIPE, ECONNRESET, ...: no clean FIN seen first */
        lost_because(o, w < 0 ? (int)-w : EPIPE);
        return -1;
    }
    return refresh_acked(o);
}

/* Frames wait for the peer's acknowledgement, for the connection to prove
 * itself, or for room in the history: waits a little (until the settle
 * time is up if only that is missing, else 1 ms: no event tells of an
 * acknowledgement), woken early by bytes, a FIN or a reset. */
static void wait_peer(const struct tcp_out *o, uint64_t deadline)
{
    uint64_t now = nblog__now_ns(), until = now + 1000000u;
    if (!o->proven && o->h_acked >= o->h_sent && o->h_sent == o->h_end &&
        o->connected_ns + SETTLE_NS > until)
        until = o->connected_ns + SETTLE_NS;
    if (until > deadline)
        until = deadline;
    struct pollfd p = {.fd = o->fd, .events = POLLIN | POLLRDHUP};
    poll(&p, 1, until > now ? (int)((until - now + 999999u) / 1000000u) : 0);
}

/* ------------------------------------------------------------- the ops */

static ssize_t tcp_write(void *ctx, const char *buf, size_t len)
{
    struct tcp_out *o = ctx;
    if (o->pid != getpid()) { /* a forked child: the socket is the parent's */
        if (o->tls)
            nblog__tls_end(o->tls, 0); /* the session too: never sent on */
        if (o->fd >= 0)
            close(o->fd);
        o->fd = -1;
        o->pid = getpid();
        o->h_start = o->h_done = o->h_acked = o->h_sent = o->h_end = 0;
        o->carry = 0;
        o->unclean = 0;
    }
    if (o->carry > len)
        o->carry = 0; /* not the batch we took from: start over (never seen) */
    uint64_t deadline = nblog__now_ns() + SLICE_NS;
    for (;;) {
        if (o->fd < 0 && connect_now(o) != 0)
            break;
        take_lines(o, buf, len);
        int rc = push(o, deadline);
        if (rc < 0) {
            went_down(o);
            if (nblog__now_ns() >= deadline)
                break;
            continue;
        }
        if ((o->carry == len && o->h_done >= o->h_end) || rc > 0 ||
            nblog__now_ns() >= deadline)
            break;
        wait_peer(o, deadline);
    }
    return (ssize_t)confirm_lines(o, buf);
}

static void tcp_free(struct tcp_out *o)
{
    nblog__tls_free(o->tls);
    free(o->hist);
    free(o);
}

static void tcp_teardown(void *ctx)
{
    struct tcp_out *o = ctx;
    if (o->tls) /* close_notify once, without waiting, on our own connection */
        nblog__tls_end(o->tls, o->fd >= 0 && o->pid == getpid());
    if (o->fd >= 0)
        close(o->fd);
    tcp_free(o);
}

static const nblog_console_ops_t tcp_ops = {
    .write = tcp_write,
    .setup = nblog__net_setup,
    .teardown = tcp_teardown,
};

/* ------------------------------------------------------- constructors */

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* syslog+tls://HOST[:PORT]: the host (the default peer name) into host,
 * and "HOST:PORT" into hp, port 6514 (RFC 5425) if none is given. 0, or
 * -1 if either does not fit. */
static int tls_target(const char *hostport, char *host, size_t hcap, char *hp, size_t hpcap)
{
    const char *h = hostport, *end;
    if (*h == '[') {
        h++;
        end = strchr(h, ']');
        if (!end)
            return -1;
    } else {
        end = strrchr(h, ':');
        if (!end)
            end = h + strlen(h);
    }
    const char *after = *hostport == '[' ? end + 1 : end;
    size_t hl = (size_t)(end - h);
    if (hl == 0 || hl >= hcap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    int n = snprintf(hp, hpcap, "%s%s", hostport, *after ? "" : ":6514");
    return n < 0 || (size_t)n >= hpcap ? -1 : 0;
}

/* A stream console: plain TCP (tls 0), or TLS over it (hostport may then
 * lack the port). */
static int tcp_console(const char *hostport, int tls, const nblog_syslog_opts_t *s,
                       const struct nblog__line_id *id, int format,
                       const char *url, const nblog_console_opts_t *opts,
                       nblog_console_t **out)
{
    char host[256], hp[300];
    if (tls && tls_target(hostport, host, sizeof host, hp, sizeof hp) != 0)
        return NBLOG_EINVAL;
    if (tls)
        hostport = hp;
    struct tcp_out *o = calloc(1, sizeof *o);
    if (!o)
        return NBLOG_ENOMEM;
    o->net.id = *id;
    o->net.stream = 1;
    o->fd = -1;
    o->pid = getpid();
    o->cap = s->resend_bytes ? s->resend_bytes : 1u << 20;
    o->margin = o->cap / 4;
    o->backoff_min = s->backoff_min_ms ? s->backoff_min_ms : 50;
    o->backoff_max = s->backoff_max_ms ? s->backoff_max_ms : 5000;
    o->connect_timeout_ms = s->connect_timeout_ms ? s->connect_timeout_ms : 1000;
    o->backoff_ms = o->backoff_min;
    if (o->cap < 65536 || o->backoff_max < o->backoff_min ||
        nblog__net_resolve(hostport, SOCK_STREAM, &o->addr, &o->addrlen) != 0) {
        free(o);
        return NBLOG_EINVAL;
    }
    if (!(o->hist = malloc((size_t)o->cap))) {
        free(o);
        return NBLOG_ENOMEM;
    }
    /* TLS: credentials now; the table holds a record per 64 bytes of the
     * kernel's share of the history (cap / 2, see try_connect), at least
     * 1024: records that wait longer wait for room (-ENOBUFS). */
    if (tls) {
        size_t records = (size_t)(o->cap / 2 / 64);
        int rc = nblog__tls_new(s, host, records < 1024 ? 1024 : records, &o->tls);
        if (rc != NBLOG_OK) {
            tcp_free(o);
            return rc;
        }
    }
    return nblog__net_register(&tcp_ops, &o->net, url, format, opts, out, tcp_teardown);
}

int nblog_console_syslog(const char *url, const nblog_syslog_opts_t *sopts,
                         const nblog_console_opts_t *opts, nblog_console_t **out)
{
    nblog_syslog_opts_t defaults;
    if (!sopts) {
        nblog_syslog_opts_init(&defaults);
        sopts = &defaults;
    }
    struct nblog__line_id id;
    if (!url || !out || nblog__net_line_id(&id, sopts) != 0)
        return NBLOG_EINVAL;
    int format = sopts->rfc3164 || (opts && opts->format == NBLOG_FORMAT_RFC3164)
                     ? NBLOG_FORMAT_RFC3164
                     : NBLOG_FORMAT_RFC5424;
    if (starts(url, "syslog+tls://"))
        return tcp_console(url + 13, 1, sopts, &id, format, url, opts, out);
    if (sopts->tls_ca_file || sopts->tls_cert_file || sopts->tls_key_file ||
        sopts->tls_peer_name)
        return NBLOG_EINVAL; /* TLS options without TLS: a mistake, not plain text */
    if (starts(url, "syslog+tcp://"))
        return tcp_console(url + 13, 0, sopts, &id, format, url, opts, out);
    int udp = starts(url, "syslog+udp://"), local = starts(url, "unix:");
    if (!udp && !local)
        return NBLOG_EINVAL;
    unsigned max = sopts->max_datagram ? sopts->max_datagram : udp ? 2048 : 8192;
    if (max < 256 || max > 65507)
        return NBLOG_EINVAL;
    struct nblog__dgram_out *o = calloc(1, sizeof *o);
    if (!o)
        return NBLOG_ENOMEM;
    o->net.id = id;
    o->dg.max = max;
    o->dg.sep = 1; /* a record is a line; the '\n' is not sent */
    o->dg.keep = 0;
    int bad = udp ? nblog__net_resolve(url + 13, SOCK_DGRAM, &o->dg.addr, &o->dg.addrlen)
                  : nblog__net_unix_addr(url + 5, &o->dg.addr, &o->dg.addrlen);
    if (bad) {
        free(o);
        return NBLOG_EINVAL;
    }
    if (local)
        o->net.id.hostname_3164 = 0; /* the local syslogd adds its own */
    return nblog__dgram_console(o, url, format, opts, out);
}

/*
 * consoles/net.h - what the network outputs (syslog.c, journald.c) share:
 * addresses, their parameters, and datagram sending. Layer: consoles.
 */
#ifndef NBLOG_CONSOLES_NET_H
#define NBLOG_CONSOLES_NET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "console.h"
#include "nblog.h"

/* Every network output's ctx starts with this, so nblog_console_net_stats
 * can read any of them (magic tells it is one). */
struct nblog__net_common {
    unsigned magic; /* NBLOG__NET_MAGIC */
    int stream;     /* 1: a connection to lose (TCP); set before registering,
                     * published by registration's release of ACTIVE (L4) */
    struct nblog__line_id id; /* its lines' identity (nblog__net_line_id) */
    /* Counters: written by the owner of the console, read by anyone;
     * relaxed, they are statistics. */
    _Atomic uint64_t connects, disconnects, connect_failures, resent_frames,
        truncated;
    _Atomic int connected;
    /* -errno of the last failed connect or lost connection, 0: none yet
     * (stream outputs; a datagram's errors are the write's, last_error). */
    _Atomic int last_error;
};
#define NBLOG__NET_MAGIC 0x6e65746fu /* "neto" */

struct nblog__dgram;

/*
 * How a datagram console frames and sends its records, when they are not
 * lines (syslog: NULL): journald's native protocol (journald.c), whose
 * entries may hold any byte.
 *   frame: the length of the record at rec (rest > 0 bytes of the batch
 *          left), its separator included; *send_len: how many of its bytes
 *          go out (0: none, skip it). [signal-safe]
 *   send:  one record (len bytes) as one datagram, d->extra after it; one
 *          longer than d->max (or refused with EMSGSIZE) is cut and counted
 *          in *truncated, or when may_wait (the printer thread's write) sent
 *          another way. 0 or -errno. [signal-safe] when !may_wait
 */
struct nblog__dgram_proto {
    size_t (*frame)(const char *rec, size_t rest, size_t *send_len);
    int (*send)(struct nblog__dgram *d, const char *rec, size_t len, int may_wait,
                _Atomic uint64_t *truncated);
};

/* A datagram destination: UDP, or a unix datagram socket. The socket is
 * non-blocking and connected, so send() reports a refused or missing
 * receiver and poll(POLLOUT) waits for room. */
struct nblog__dgram {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    size_t max;  /* longest datagram */
    size_t sep;  /* bytes ending a record in a batch: 1 ("\n") or 2 ("\n\n") */
    size_t keep; /* of those, sent with the record: 0 or 1 */
    const struct nblog__dgram_proto *proto; /* NULL: lines (see above) */
    const char *extra; /* bytes sent after every record (journald's custom
                          fields; malloc'd, freed at teardown), or NULL */
    size_t extra_len;
    /* An error met after records went out (errno), or 0: the next send
     * call returns it (UDP reports a refusal once, and the call that met
     * it had progress to report). Atomic: an emergency or panic owner may
     * send while the owner it displaced is still inside a call. */
    _Atomic int pending;
    /* A unix receiver that is gone: the errno its last connect met
     * (ECONNREFUSED: its socket is there, nobody reads it; ENOENT: no
     * socket), which sending on the unconnected socket (ENOTCONN) reports
     * instead, so last_error names why; 0 while connected. */
    _Atomic int gone;
};

/* A datagram console (UDP, unix, journald): the shared ctx and ops. */
struct nblog__dgram_out {
    struct nblog__net_common net; /* first */
    struct nblog__dgram dg;
};

/* Opens o->dg (addr, max, sep, keep filled in) and registers o, which
 * must come from malloc: freed at teardown, or now if anything fails. */
int nblog__dgram_console(struct nblog__dgram_out *o, const char *default_name,
                         int format, const nblog_console_opts_t *opts,
                         nblog_console_t **out);

/* Parses "HOST:PORT" ("[v6]:PORT") and resolves it (getaddrinfo, blocking)
 * for socktype. Returns 0, or -1 for a bad or unknown address. */
int nblog__net_resolve(const char *hostport, int socktype,
                       struct sockaddr_storage *ss, socklen_t *len);
/* A unix socket address for path; -1 if too long or empty. */
int nblog__net_unix_addr(const char *path, struct sockaddr_storage *ss,
                         socklen_t *len);

/* Fills the lines' identity p from sopts (NULL: defaults): app name,
 * hostname, procid, msgid, facility, structured data, local UTC offset.
 * -1 for a bad option. */
int nblog__net_line_id(struct nblog__line_id *p, const nblog_syslog_opts_t *sopts);

/* Opens (or reopens) d->fd: non-blocking, close-on-exec, connected. 0 or
 * -errno. A unix destination that is not there yet is not an error: the
 * socket stays unconnected and sending reconnects. Async-signal-safe
 * (socket, connect, dup3, close), for write_atomic's reconnect. */
int nblog__dgram_open(struct nblog__dgram *d);

/*
 * Sends the records in buf (each ending in o->dg.sep bytes, or framed by
 * o->dg.proto), one datagram each, a record longer than o->dg.max cut and
 * marked (counted in o->net.truncated). may_wait 0: never blocks
 * (write_atomic; async-signal-safe), stops at the first record that would
 * block. may_wait 1: waits for room up to ~100 ms per call. Both reconnect
 * a unix socket whose receiver went away (once a call; counted in
 * o->net: disconnects when it is found gone, connects or
 * connect_failures per try, connected 0 meanwhile). Returns bytes of buf
 * consumed (whole records), or -errno when the first record could not be
 * sent (-EAGAIN: try later; a receiver gone: why, see gone), or when the
 * call before met an error after sending some (the console then counts
 * the whole batch failed: never printed for records a refusal may
 * concern).
 */
ssize_t nblog__dgram_send(struct nblog__dgram_out *o, const char *buf, size_t len,
                          int may_wait);

/* One datagram of the iovecs on d's socket (EINTR retried). 0 or -errno.
 * [signal-safe] */
int nblog__dgram_sendv(struct nblog__dgram *d, struct iovec *iov, int n);

/* nblog_console_net_stats, and what the file ring's publisher (publish.c)
 * needs besides: *flags (NBLOG_CONSOLE_STATS_NET, _STREAM) and *net_error
 * (last_error above). NBLOG_EINVAL if con is not a network console;
 * NBLOG_ESTALE if it was unregistered. [signal-safe] */
int nblog__net_stats(nblog_console_t *con, nblog_net_stats_t *st, unsigned *flags,
                     int *net_error);

/* The setup op every network console uses: it marks the ctx as starting
 * with a struct nblog__net_common (see nblog_console_net_stats). */
int nblog__net_setup(void *ctx);

/* Registers a network console with ops (whose setup must be
 * nblog__net_setup) and ctx, which starts with a struct nblog__net_common.
 * opts may be NULL; its name defaults to default_name and its format is
 * set to format. If registration fails, fail(ctx) frees ctx. */
int nblog__net_register(const nblog_console_ops_t *ops, struct nblog__net_common *ctx,
                        const char *default_name, int format,
                        const nblog_console_opts_t *opts, nblog_console_t **out,
                        void (*fail)(void *ctx));

#endif

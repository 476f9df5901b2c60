/*
 * consoles/tls.c - syslog over TLS (RFC 5425) through GnuTLS: the
 * transport syslog.c's stream path calls for a syslog+tls:// console (see
 * tls.h for the calls and the acknowledged-plaintext table).
 *
 * RFC 5425 is RFC 6587's octet-counted frames carried in TLS application
 * data: the framing, history, resending and proving are syslog.c's, the
 * same as TCP; this file only turns plaintext into records and back.
 *
 * The peer is always verified: its chain against the CA file (or the
 * system's trust store) and its name against the peer name (the url's
 * host unless tls_peer_name says otherwise; an IP address is matched
 * against IP SANs). There is no option to skip this. A client certificate
 * is presented when one is configured (rsyslog's x509/name mode wants it).
 *
 * Non-blocking throughout: the session is made with GNUTLS_NONBLOCK, our
 * push and pull functions use MSG_DONTWAIT (and MSG_NOSIGNAL: a peer gone
 * is an error, never a SIGPIPE), and the handshake waits in poll up to
 * the caller's deadline (the connect timeout). Everything here runs on
 * the console's printer thread, the only owner a TLS console has (no
 * write_atomic: GnuTLS is not async-signal-safe).
 *
 * ALLOCATION, honestly: the credentials and the table are allocated when
 * the console is made. GnuTLS allocates a session at every handshake
 * (connect time, printer thread) and, inside gnutls_record_send, a buffer
 * per record (its mbuffers; GnuTLS 3.3+ has no way to supply an
 * allocator). So a TLS console's printer thread allocates while it
 * prints; the logging calls and every other console still allocate
 * nothing. If malloc fails there, the send fails, the connection counts
 * as down, and the records wait in the ring for the reconnect.
 *
 * MEMORY ORDERING: no atomics: the state is the owner's, ordered by the
 * console's ownership word (console_impl.h O1/O2).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "consoles/tls.h"
#include "platform.h"

#define RECORD_MAX 16384 /* plaintext of one TLS record */
#define PEER_MAX 256     /* a DNS name's 253 bytes, and the NUL */

struct pair {
    uint64_t plain;  /* plaintext bytes of the session up to a record's end */
    uint64_t cipher; /* ciphertext bytes pushed once that record went out */
};

struct nblog__tls {
    gnutls_certificate_credentials_t cred;
    char peer[PEER_MAX];
    int peer_is_ip;
    /* The session, while up (NULL otherwise), on fd. */
    gnutls_session_t s;
    int fd;
    int sock_err;         /* errno of the socket call that failed last */
    uint64_t deadline_ns; /* the handshake's, for the pull timeout */
    uint64_t plain;       /* plaintext bytes sent (whole records) */
    uint64_t pushed;      /* ciphertext bytes given to the kernel */
    uint64_t acked;       /* plaintext bytes known acknowledged */
    size_t pending;       /* a record GnuTLS holds half pushed: its plaintext */
    struct pair *map;     /* records not known acknowledged: [tail, head) */
    size_t cap, head, tail;
};

/* ------------------------------------------------------ socket glue */

static ssize_t push_fn(gnutls_transport_ptr_t ptr, const void *p, size_t n)
{
    struct nblog__tls *t = ptr;
    for (;;) {
        ssize_t w = send(t->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            t->pushed += (uint64_t)w;
            return w;
        }
        if (errno != EINTR) {
            t->sock_err = errno;
            gnutls_transport_set_errno(t->s, errno);
            return -1;
        }
    }
}

static ssize_t pull_fn(gnutls_transport_ptr_t ptr, void *p, size_t n)
{
    struct nblog__tls *t = ptr;
    for (;;) {
        ssize_t r = recv(t->fd, p, n, MSG_DONTWAIT);
        if (r >= 0)
            return r;
        if (errno != EINTR) {
            if (errno != EAGAIN)
                t->sock_err = errno;
            gnutls_transport_set_errno(t->s, errno);
            return -1;
        }
    }
}

/* GnuTLS asks whether bytes are there within ms: never past the
 * handshake's deadline (0 outside a handshake: never waits). */
static int pull_timeout_fn(gnutls_transport_ptr_t ptr, unsigned ms)
{
    struct nblog__tls *t = ptr;
    uint64_t now = nblog__now_ns();
    uint64_t left = t->deadline_ns > now ? (t->deadline_ns - now) / 1000000u : 0;
    if (ms > left)
        ms = (unsigned)left;
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    return poll(&p, 1, (int)ms);
}

/* --------------------------------------------------------- console */

int nblog__tls_new(const nblog_syslog_opts_t *sopts, const char *peer, size_t records,
                   struct nblog__tls **out)
{
    const char *name = sopts->tls_peer_name ? sopts->tls_peer_name : peer;
    if (!name || !*name || strlen(name) >= PEER_MAX ||
        !sopts->tls_cert_file != !sopts->tls_key_file || records == 0)
        return NBLOG_EINVAL;
    struct nblog__tls *t = calloc(1, sizeof *t);
    if (!t)
        return NBLOG_ENOMEM;
    t->fd = -1;
    strcpy(t->peer, name);
    unsigned char ip[16];
    t->peer_is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    t->cap = records;
    if (!(t->map = calloc(records, sizeof *t->map)) ||
        gnutls_certificate_allocate_credentials(&t->cred) != GNUTLS_E_SUCCESS) {
        free(t->map);
        free(t);
        return NBLOG_ENOMEM;
    }
    errno = 0;
    /* A CA file that holds no certificate trusts nobody: refused too. */
    int n = sopts->tls_ca_file
                ? gnutls_certificate_set_x509_trust_file(t->cred, sopts->tls_ca_file,
                                                         GNUTLS_X509_FMT_PEM)
                : gnutls_certificate_set_x509_system_trust(t->cred);
    int ok = n > 0;
    if (ok && sopts->tls_cert_file)
        ok = gnutls_certificate_set_x509_key_file(t->cred, sopts->tls_cert_file,
                                                  sopts->tls_key_file,
                                                  GNUTLS_X509_FMT_PEM) == GNUTLS_E_SUCCESS;
    if (!ok) {
        int e = errno;
        nblog__tls_free(t);
        errno = e;
        return NBLOG_EINVAL;
    }
    *out = t;
    return NBLOG_OK;
}

void nblog__tls_free(struct nblog__tls *t)
{
    if (!t)
        return;
    nblog__tls_end(t, 0);
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    free(t->map);
    free(t);
}

/* ------------------------------------------------------- a session */

/* A failed handshake as -errno (see tls.h): whose certificate was refused
 * (ours, by the peer's alert, or the peer's, by our check) is -EACCES. */
static int handshake_error(gnutls_session_t s, int rc)
{
    switch (rc) {
    case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
    case GNUTLS_E_CERTIFICATE_ERROR:
    case GNUTLS_E_NO_CERTIFICATE_FOUND:
    case GNUTLS_E_CERTIFICATE_REQUIRED:
        return -EACCES;
    case GNUTLS_E_MEMORY_ERROR:
        return -ENOMEM;
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
        switch (gnutls_alert_get(s)) {
        case GNUTLS_A_BAD_CERTIFICATE:
        case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
        case GNUTLS_A_CERTIFICATE_REVOKED:
        case GNUTLS_A_CERTIFICATE_EXPIRED:
        case GNUTLS_A_CERTIFICATE_UNKNOWN:
        case GNUTLS_A_UNKNOWN_CA:
        case GNUTLS_A_ACCESS_DENIED:
        case GNUTLS_A_CERTIFICATE_REQUIRED:
            return -EACCES;
        default:
            return -EPROTO;
        }
    default:
        return -EPROTO;
    }
}

int nblog__tls_start(struct nblog__tls *t, int fd, uint64_t deadline_ns)
{
    assert(!t->s);
    gnutls_session_t s;
    if (gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) !=
        GNUTLS_E_SUCCESS)
        return -ENOMEM;
    int rc = gnutls_set_default_priority(s);
    if (rc == GNUTLS_E_SUCCESS)
        rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, t->cred);
    if (rc == GNUTLS_E_SUCCESS && !t->peer_is_ip) /* SNI never names an address */
        rc = gnutls_server_name_set(s, GNUTLS_NAME_DNS, t->peer, strlen(t->peer));
    if (rc != GNUTLS_E_SUCCESS) {
        gnutls_deinit(s);
        return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EPROTO;
    }
    gnutls_session_set_verify_cert(s, t->peer, 0); /* chain and name, in the handshake */
    gnutls_transport_set_ptr(s, t);
    gnutls_transport_set_push_function(s, push_fn);
    gnutls_transport_set_pull_function(s, pull_fn);
    gnutls_transport_set_pull_timeout_function(s, pull_timeout_fn);
    t->s = s;
    t->fd = fd;
    t->deadline_ns = deadline_ns;
    t->plain = t->pushed = t->acked = 0;
    t->pending = 0;
    t->sock_err = 0;
    t->head = t->tail = 0;
    for (;;) {
        rc = gnutls_handshake(s);
        if (rc == GNUTLS_E_SUCCESS)
            break;
        if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
            uint64_t now = nblog__now_ns();
            if (now >= deadline_ns) {
                rc = -ETIMEDOUT;
                goto fail;
            }
            struct pollfd p = {.fd = fd,
                               .events = gnutls_record_get_direction(s) ? POLLOUT : POLLIN};
            poll(&p, 1, (int)((deadline_ns - now) / 1000000u) + 1);
            continue;
        }
        if (!gnutls_error_is_fatal(rc))
            continue; /* a warning alert */
        rc = handshake_error(s, rc);
        goto fail;
    }
    t->deadline_ns = 0; /* from now on the pull timeout never waits */
    return 0;
fail:
    nblog__tls_end(t, 0);
    return rc;
}

void nblog__tls_end(struct nblog__tls *t, int notify)
{
    if (!t->s)
        return;
    if (notify)
        (void)gnutls_bye(t->s, GNUTLS_SHUT_WR); /* non-blocking: once, as it goes */
    gnutls_deinit(t->s);
    t->s = NULL;
    t->fd = -1;
}

ssize_t nblog__tls_send(struct nblog__tls *t, const char *p, size_t n)
{
    assert(t->s && t->head - t->tail <= t->cap);
    if (!t->pending && t->head - t->tail == t->cap)
        return -ENOBUFS; /* every slot names a record not yet acknowledged */
    if (n > RECORD_MAX)
        n = RECORD_MAX;
    for (;;) {
        /* The record GnuTLS holds goes first (NULL, 0: "the same data as
         * before"); it returns that record's plaintext length. */
        ssize_t r = t->pending ? gnutls_record_send(t->s, NULL, 0)
                               : gnutls_record_send(t->s, p, n);
        if (r > 0) {
            assert(!t->pending || (size_t)r == t->pending);
            t->pending = 0;
            t->plain += (uint64_t)r;
            t->map[t->head++ % t->cap] = (struct pair){t->plain, t->pushed};
            return r;
        }
        if (r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r == GNUTLS_E_AGAIN) {
            if (!t->pending)
                t->pending = n;
            return -EAGAIN;
        }
        if (r == GNUTLS_E_MEMORY_ERROR)
            return -ENOMEM;
        return t->sock_err && t->sock_err != EAGAIN ? -t->sock_err : -EPIPE;
    }
}

int nblog__tls_drain(struct nblog__tls *t, size_t max)
{
    char sink[4096];
    size_t got = 0;
    /* Non-fatal results (a warning alert, a renegotiation request we do
     * not honour, a session ticket) count as a read, so this ends. */
    while (got < max) {
        ssize_t r = gnutls_record_recv(t->s, sink, sizeof sink);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION)
            return 1; /* close_notify, or a FIN without it */
        if (r == GNUTLS_E_AGAIN)
            return 0;
        if (r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal((int)r)) {
            got += 1;
            continue;
        }
        return -1;
    }
    return 0;
}

uint64_t nblog__tls_acked(struct nblog__tls *t, uint64_t outq)
{
    uint64_t cipher_acked = outq < t->pushed ? t->pushed - outq : 0;
    while (t->tail < t->head && t->map[t->tail % t->cap].cipher <= cipher_acked)
        t->acked = t->map[t->tail++ % t->cap].plain;
    assert(t->acked <= t->plain);
    return t->acked;
}

/*
 * consoles/tls.h - the TLS transport under the syslog stream (RFC 5425,
 * syslog+tls://): what syslog.c's TCP path calls instead of send/recv once
 * a connection is up. Layer: outputs. GnuTLS is hidden behind it: no
 * other file includes gnutls.
 *
 * One struct nblog__tls per console, made at console creation (the
 * credentials: CA file, client certificate and key, loaded then; the
 * mapping table below allocated then), used by the console's owner only
 * (its printer thread), never from a signal handler: a TLS console has no
 * write_atomic. A connection is a session on a connected non-blocking TCP
 * socket the caller made and owns:
 *
 *     nblog__tls_start   handshake and verify the peer (GnuTLS allocates
 *                        the session here: on the printer thread, at a
 *                        connect, never on the logging path)
 *     nblog__tls_send    plaintext out, one record (<= 16 KiB) a call
 *     nblog__tls_drain   read and drop what the peer sent; tells an end
 *     nblog__tls_acked   plaintext bytes the peer's TCP acknowledged
 *     nblog__tls_end     forget the session (the socket is the caller's)
 *     nblog__tls_free    at teardown
 *
 * Acknowledged plaintext: the stream path counts a frame delivered from
 * what the peer's TCP acknowledged (SIOCOUTQ: ciphertext bytes the kernel
 * still holds). Every ciphertext byte goes to the kernel through our push
 * function, which counts them; when a record has gone out whole, the
 * pair (plaintext sent, ciphertext pushed) is queued in a table. A record
 * is acknowledged once the ciphertext acknowledged reaches its pair's
 * ciphertext count (handshake and alert bytes pushed before it are
 * included, so the mapping never claims more than arrived).
 */
#ifndef NBLOG_CONSOLES_TLS_H
#define NBLOG_CONSOLES_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nblog.h"

struct nblog__tls;

/* Loads the credentials sopts names (tls_ca_file, else the system's trust
 * store; tls_cert_file with tls_key_file) for peer name peer (copied; a
 * name, or an IP address matched against the certificate's IP SANs).
 * records: how many records may wait unacknowledged (the table's size).
 * Returns NBLOG_OK and *out; NBLOG_EINVAL for a file that does not load
 * (errno kept when the system gave one), a key without its certificate or
 * the reverse, or a bad peer name; NBLOG_ENOMEM. [blocking] */
int nblog__tls_new(const nblog_syslog_opts_t *sopts, const char *peer, size_t records,
                   struct nblog__tls **out);

/* Handshakes on fd (connected, non-blocking) until deadline_ns
 * (nblog__now_ns), waiting in poll, and verifies the peer's certificate
 * chain and name. Returns 0 (the session is up), or: -EACCES the
 * certificate was refused (untrusted, expired, another name); -ETIMEDOUT
 * no handshake by the deadline; -EPROTO any other TLS failure (not TLS,
 * no common cipher, a fatal alert); -ENOMEM; -errno of the socket. On
 * failure there is no session (call nothing but start again). */
int nblog__tls_start(struct nblog__tls *t, int fd, uint64_t deadline_ns);

/* Sends up to n bytes of p (at most one TLS record, 16 KiB) without
 * blocking. Returns the bytes taken (> 0), or -EAGAIN (the socket is
 * full: wait for POLLOUT and call again; the record started is kept by
 * GnuTLS and finished by the next call, so p must start with the same
 * bytes then), -ENOBUFS (too many records wait unacknowledged: wait for
 * acknowledgements, nblog__tls_acked), or another -errno (the connection
 * is gone). */
ssize_t nblog__tls_send(struct nblog__tls *t, const char *p, size_t n);

/* Reads and drops at most max bytes the peer sent. Returns 0 (still up,
 * nothing more to read now), 1 (the peer ended the stream: close_notify,
 * or a TCP FIN without it), -1 (an error or fatal alert). */
int nblog__tls_drain(struct nblog__tls *t, size_t max);

/* Plaintext bytes of this session the peer's TCP acknowledged, given
 * outq, the ciphertext bytes the kernel still holds (SIOCOUTQ). Never
 * goes back within a session. */
uint64_t nblog__tls_acked(struct nblog__tls *t, uint64_t outq);

/* Drops the session (no close_notify: for a connection that is gone, or
 * a forked child's copy). notify 1: first try, once and without waiting,
 * to send close_notify (a console going away on a live connection). */
void nblog__tls_end(struct nblog__tls *t, int notify);

void nblog__tls_free(struct nblog__tls *t);

#endif

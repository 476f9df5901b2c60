/*
 * consoles/journald.c - systemd-journald's native protocol
 * (systemd.io/JOURNAL_NATIVE_PROTOCOL).
 *
 * The journal listens on a unix datagram socket (/run/systemd/journal/
 * socket; a namespace instance on /run/systemd/journal.NAME/socket) for
 * datagrams of fields, each "KEY=value\n", or "KEY\n" + 64-bit
 * little-endian length + bytes + "\n" (the binary form, for any bytes).
 *
 * ENTRIES. The console core renders each record as an entry (render.c,
 * NBLOG_FORMAT_JOURNAL, with this console's identity saying
 * journal_native): PRIORITY, SYSLOG_FACILITY, SYSLOG_IDENTIFIER, the
 * record's own time (SYSLOG_TIMESTAMP, NBLOG_REALTIME_USEC: journald's
 * __REALTIME_TIMESTAMP is when the entry arrived, later than the call
 * when the console was suspended or behind), NBLOG_SEQ, TID, the call
 * site when the record has one (CODE_FILE, CODE_LINE, CODE_FUNC:
 * journald's names, which journalctl and sd_journal_print use), then
 * MESSAGE with the text's exact bytes (binary form when they hold a
 * newline or another control), then an empty line. consoles/net.c sends
 * each entry as one datagram without that empty line, and after it the
 * console's custom fields (sd_params), made once at creation.
 *
 * FRAMING. A batch is entries back to back. Every field but MESSAGE is a
 * number, an identifier or a call site's file or function (which hold no
 * control: the ring's site table keeps none, and render.c escapes one),
 * and MESSAGE in the simple form holds no newline, so walking the fields (entry_frame: a simple field ends at its
 * newline, a binary one after its length) finds each entry's empty line
 * exactly: no record can end its entry or add a field.
 *
 * LARGE ENTRIES. An entry longer than max_datagram (65536 by default), or
 * one the kernel refuses as a datagram (EMSGSIZE: longer than the
 * socket's send buffer), goes as journald takes big ones: written to a
 * memfd, sealed (shrink, grow, write, seal), and the descriptor sent
 * (SCM_RIGHTS) on an empty datagram. Only from the console's printer
 * thread (write): write_atomic (direct mode, emergencies, the panic, maybe
 * a signal handler) never makes one; it cuts MESSAGE instead (binary
 * form, ending in NBLOG_TRUNC_MARKER, counted in nblog_net_stats_t
 * truncated), as the printer also does if the memfd cannot be made. Custom
 * fields too long for any datagram then fail the record (-EMSGSIZE,
 * counted write_failed). No allocation: the iovecs point into the batch
 * and the custom fields, and the memfd is the kernel's.
 *
 * A JOURNALD THAT WENT AWAY (its socket refuses: ECONNREFUSED, or is
 * gone: ENOENT) is net.c's: every send call reconnects to the path once,
 * counting disconnects, connects and connect_failures in nblog_net_stats_t
 * (connected 0 meanwhile), and the records meanwhile fail, counted
 * write_failed with last_error -ECONNREFUSED or -ENOENT.
 * The journal adds the trusted fields (_PID, _UID, ...) itself.
 */
/* memfd_create and F_ADD_SEALS need _GNU_SOURCE (the build defines it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "consoles/net.h"
#include "platform.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define FIELDS_MAX (1u << 20) /* bytes of custom fields, in their wire form */
#define KEY_MAX 64            /* journald's longest field name */

#ifdef NBLOG_TEST_HOOKS
_Atomic uint64_t nblog__journald_memfds;
#endif

/* ------------------------------------------------------------ framing */

/* The end (index after its last byte) of the field starting at rec[i],
 * or 0 if rec[i..len) holds no whole field. */
static size_t field_end(const char *rec, size_t len, size_t i)
{
    const char *nl = memchr(rec + i, '\n', len - i);
    if (!nl)
        return 0;
    size_t at = (size_t)(nl - rec) + 1;
    if (memchr(rec + i, '=', at - 1 - i))
        return at; /* KEY=value\n */
    if (len - at < 8)
        return 0;
    uint64_t vl = 0; /* KEY\n + 64-bit little-endian length + bytes + \n */
    for (int b = 7; b >= 0; b--)
        vl = vl << 8 | (unsigned char)rec[at + (size_t)b];
    if (vl > len - at - 8 - 1 || rec[at + 8 + vl] != '\n')
        return 0;
    return at + 8 + (size_t)vl + 1;
}

/* The entry at rec: its fields and the empty line after them. */
static size_t entry_frame(const char *rec, size_t rest, size_t *send_len)
{
    size_t i = 0;
    while (i < rest) {
        if (rec[i] == '\n') { /* the empty line */
            *send_len = i;
            return i + 1;
        }
        size_t end = field_end(rec, rest, i);
        if (end == 0)
            break;
        i = end;
    }
    *send_len = rest; /* no whole entry (never rendered so): send it as it is */
    return rest;
}

/* ------------------------------------------------------------ sending */

/* Sends iov as journald's memfd: 0 or -errno of the send; 1 if no memfd
 * could be made (the caller cuts instead). Printer thread only. */
static int send_memfd(struct nblog__dgram *d, const struct iovec *iov, int n)
{
    int fd = nblog__fd_mine(memfd_create("nblog-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (fd < 0)
        return 1;
    for (int k = 0; k < n; k++) {
        const char *p = iov[k].iov_base;
        size_t left = iov[k].iov_len;
        while (left > 0) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                close(fd);
                return 1;
            }
            p += w;
            left -= (size_t)w;
        }
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        close(fd);
        return 1;
    }
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    int rc = 0;
    while (sendmsg(d->fd, &msg, MSG_NOSIGNAL) < 0)
        if (errno != EINTR) {
            rc = -errno;
            break;
        }
    close(fd);
#ifdef NBLOG_TEST_HOOKS
    if (rc == 0) /* a count for tests: pairs with nothing */
        atomic_fetch_add_explicit(&nblog__journald_memfds, 1, memory_order_relaxed);
#endif
    return rc;
}

/* The longest datagram the kernel takes on d's socket: its send buffer
 * less the kernel's own (unix_dgram_sendmsg refuses len > sndbuf - 32),
 * with a margin. [signal-safe] */
static size_t kernel_max(const struct nblog__dgram *d)
{
    int v = 0;
    socklen_t vl = sizeof v;
    if (getsockopt(d->fd, SOL_SOCKET, SO_SNDBUF, &v, &vl) != 0 || v < 1024)
        return 1024;
    return (size_t)v - 64;
}

/* The entry cut to fit limit bytes: its fields before MESSAGE (rendered
 * last), MESSAGE in the binary form with as much of its value as fits
 * (at a UTF-8 boundary) and the marker, then the custom fields. When the
 * fields before MESSAGE do not fit with those, the call site's
 * (CODE_FILE, CODE_LINE, CODE_FUNC, rendered just before MESSAGE) are
 * left out. [signal-safe] */
static int send_cut(struct nblog__dgram *d, const char *rec, size_t len, size_t limit,
                    _Atomic uint64_t *truncated)
{
    static const char marker[] = NBLOG_TRUNC_MARKER;
    const size_t mlen = sizeof marker - 1;
    size_t msg = 0;  /* where the last field, MESSAGE, starts */
    size_t code = 0; /* where the call site's fields start (0: none) */
    for (size_t i = 0, end; i < len && (end = field_end(rec, len, i)) != 0; i = end) {
        msg = i;
        if (!code && end - i > 5 && memcmp(rec + i, "CODE_", 5) == 0)
            code = i;
    }
    const char *val;
    size_t vlen;
    if (len - msg > 8 && memcmp(rec + msg, "MESSAGE=", 8) == 0) {
        val = rec + msg + 8;
        vlen = len - msg - 8 - 1;
    } else if (len - msg > 16 && memcmp(rec + msg, "MESSAGE\n", 8) == 0) {
        val = rec + msg + 16;
        vlen = len - msg - 16 - 1;
    } else {
        return -EMSGSIZE; /* no MESSAGE to cut (never rendered so) */
    }
    size_t keep = msg; /* the fields sent before MESSAGE */
    size_t fixed = keep + 16 + mlen + 1 + d->extra_len;
    if (fixed >= limit && code) {
        keep = code; /* without the call site */
        fixed = keep + 16 + mlen + 1 + d->extra_len;
    }
    if (fixed >= limit)
        return -EMSGSIZE; /* the custom fields alone do not fit */
    size_t head = limit - fixed < vlen ? limit - fixed : vlen;
    while (head > 0 && head < vlen && ((unsigned char)val[head] & 0xc0) == 0x80)
        head--;
    char hdr[16];
    memcpy(hdr, "MESSAGE\n", 8);
    for (int b = 0; b < 8; b++)
        hdr[8 + b] = (char)(((uint64_t)(head + mlen) >> (8 * b)) & 0xffu);
    struct iovec iov[6] = {
        {(void *)rec, keep},        {hdr, sizeof hdr},
        {(void *)val, head},        {(void *)marker, mlen},
        {(void *)(rec + len - 1), 1}, /* the field's '\n' */
        {(void *)d->extra, d->extra_len},
    };
    int rc = nblog__dgram_sendv(d, iov, d->extra_len ? 6 : 5);
    if (rc == 0) /* a count: pairs with nothing */
        atomic_fetch_add_explicit(truncated, 1, memory_order_relaxed);
    return rc;
}

/* One entry (len bytes, its fields each ending in '\n') and the custom
 * fields as one datagram; see LARGE ENTRIES. */
static int entry_send(struct nblog__dgram *d, const char *rec, size_t len, int may_wait,
                      _Atomic uint64_t *truncated)
{
    struct iovec iov[2] = {{(void *)rec, len}, {(void *)d->extra, d->extra_len}};
    int n = d->extra_len ? 2 : 1;
    int over = len + d->extra_len > d->max;
    int rc = over ? -EMSGSIZE : nblog__dgram_sendv(d, iov, n);
    if (rc != -EMSGSIZE)
        return rc;
    if (may_wait) {
        rc = send_memfd(d, iov, n);
        if (rc <= 0)
            return rc;
    }
    size_t limit = kernel_max(d);
    return send_cut(d, rec, len, over && d->max < limit ? d->max : limit, truncated);
}

static const struct nblog__dgram_proto journal_proto = {
    .frame = entry_frame,
    .send = entry_send,
};

/* ------------------------------------------------------ custom fields */

/* Why key cannot be a custom field's name, or NULL if it can: journald's
 * rule (1..64 of A-Z, 0-9, '_', not starting with a digit or '_': those
 * are the journal's trusted fields) and none of the fields nblog writes
 * (CODE_* too: a record's call site cannot be forged by a console's
 * fields, which go after the entry's own). */
static const char *key_refused(const char *key)
{
    static const char *const ours[] = {"MESSAGE",          "PRIORITY",  "SYSLOG_FACILITY",
                                       "SYSLOG_IDENTIFIER", "SYSLOG_TIMESTAMP", "TID",
                                       "CODE_FILE",        "CODE_LINE", "CODE_FUNC"};
    size_t n = strlen(key);
    if (n == 0 || n > KEY_MAX)
        return "must be 1 to 64 bytes long";
    if (key[0] == '_')
        return "may not start with '_' (the journal's trusted fields)";
    if (key[0] >= '0' && key[0] <= '9')
        return "may not start with a digit";
    for (size_t i = 0; i < n; i++)
        if (!((key[i] >= 'A' && key[i] <= 'Z') || (key[i] >= '0' && key[i] <= '9') ||
              key[i] == '_'))
            return "may hold only uppercase letters, digits and '_'";
    if (strncmp(key, "NBLOG_", 6) == 0)
        return "is nblog's (NBLOG_ fields are the console's own)";
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (strcmp(key, ours[i]) == 0)
            return "is a field the console writes itself";
    return NULL;
}

/* Refuses the console with a sentence naming the bad field. */
static int refuse(const char *key, const char *why)
{
    char msg[200];
    snprintf(msg, sizeof msg, "journald: custom field \"%.80s\" %s", key ? key : "(null)", why);
    nblog__spec_error_set(msg);
    return NBLOG_EINVAL;
}

/* The custom fields {"KEY", "value", ..., NULL} in their wire form, into
 * a new buffer (*out, *out_len; NULL and 0 for none). */
static int make_fields(const char *const *kv, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t total = 0;
    for (const char *const *p = kv; p && p[0]; p += 2) {
        const char *why = key_refused(p[0]);
        if (why)
            return refuse(p[0], why);
        if (!p[1])
            return refuse(p[0], "has no value (NULL)");
        total += strlen(p[0]) + 1 + 8 + strlen(p[1]) + 1;
        if (total > FIELDS_MAX)
            return refuse(p[0], "makes the custom fields longer than 1 MiB");
    }
    if (total == 0)
        return NBLOG_OK;
    char *buf = malloc(total);
    if (!buf)
        return NBLOG_ENOMEM;
    size_t n = 0;
    for (const char *const *p = kv; p[0]; p += 2) {
        size_t kl = strlen(p[0]), vl = strlen(p[1]);
        int binary = 0;
        for (size_t i = 0; i < vl; i++)
            if ((unsigned char)p[1][i] < 0x20 || p[1][i] == 0x7f)
                binary = 1;
        memcpy(buf + n, p[0], kl);
        n += kl;
        if (binary) {
            buf[n++] = '\n';
            for (int b = 0; b < 8; b++)
                buf[n++] = (char)(((uint64_t)vl >> (8 * b)) & 0xffu);
        } else {
            buf[n++] = '=';
        }
        memcpy(buf + n, p[1], vl);
        n += vl;
        buf[n++] = '\n';
    }
    *out = buf;
    *out_len = n;
    return NBLOG_OK;
}

/* ------------------------------------------------------------ console */

int nblog_console_journald(const char *socket_path, const nblog_syslog_opts_t *sopts,
                           const nblog_console_opts_t *opts, nblog_console_t **out)
{
    unsigned max = sopts && sopts->max_datagram ? sopts->max_datagram : 65536;
    if (!out || max < 256)
        return NBLOG_EINVAL;
    char *fields;
    size_t fields_len;
    int rc = make_fields(sopts ? sopts->sd_params : NULL, &fields, &fields_len);
    if (rc != NBLOG_OK)
        return rc;
    struct nblog__dgram_out *o = calloc(1, sizeof *o);
    if (!o) {
        free(fields);
        return NBLOG_ENOMEM;
    }
    /* The identity without the SD-PARAMs, which are ours here. */
    nblog_syslog_opts_t id_opts;
    if (sopts)
        id_opts = *sopts;
    else
        nblog_syslog_opts_init(&id_opts);
    id_opts.sd_params = NULL;
    if (nblog__net_line_id(&o->net.id, &id_opts) != 0 ||
        nblog__net_unix_addr(socket_path ? socket_path : JOURNAL_SOCKET, &o->dg.addr,
                             &o->dg.addrlen) != 0) {
        free(fields);
        free(o);
        return NBLOG_EINVAL;
    }
    o->net.id.journal_native = 1;
    o->dg.max = max;
    o->dg.sep = 2;  /* an entry ends in "\n\n" (framed by journal_proto) */
    o->dg.keep = 1; /* its last field keeps its '\n' */
    o->dg.proto = &journal_proto;
    o->dg.extra = fields;
    o->dg.extra_len = fields_len;
    char name[NBLOG_CONSOLE_NAME_MAX + 1]; /* "journald", or with its socket */
    nblog__console_default_name(name, "journald", socket_path);
    return nblog__dgram_console(o, name, NBLOG_FORMAT_JOURNAL, opts, out);
}

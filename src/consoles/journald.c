/*
 * consoles/journald.c - systemd-journald's native protocol.
 *
 * The journal listens on a unix datagram socket (/run/systemd/journal/
 * socket) for datagrams of "KEY=value\n" fields. The console core renders
 * each record as such an entry (render.c, NBLOG_FORMAT_JOURNAL: PRIORITY,
 * SYSLOG_FACILITY, SYSLOG_IDENTIFIER, NBLOG_SEQ, TID, MESSAGE) ending in an
 * empty line; consoles/net.c sends each entry as one datagram without that
 * empty line, non-blocking, and write_atomic the same way.
 *
 * MESSAGE is escaped like every line (control bytes, newlines and
 * backslashes as \xNN), so no value holds a newline and the protocol's
 * binary form (KEY\n, a 64-bit length, the bytes) is never needed; a
 * record cannot add or forge fields. An entry longer than max_datagram
 * (65536 by default; journald itself passes bigger ones through a memfd,
 * which we do not) is cut inside MESSAGE and marked NBLOG_TRUNC_MARKER.
 * The journal adds the trusted fields (_PID, _UID, ...) itself.
 */
#include <stdlib.h>
#include <string.h>

#include "consoles/net.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

int nblog_console_journald(const char *socket_path, const nblog_syslog_opts_t *sopts,
                           const nblog_console_opts_t *opts, nblog_console_t **out)
{
    unsigned max = sopts && sopts->max_datagram ? sopts->max_datagram : 65536;
    if (!out || max < 256)
        return NBLOG_EINVAL;
    struct nblog__dgram_out *o = calloc(1, sizeof *o);
    if (!o)
        return NBLOG_ENOMEM;
    if (nblog__net_line_id(&o->net.id, sopts) != 0 ||
        nblog__net_unix_addr(socket_path ? socket_path : JOURNAL_SOCKET, &o->dg.addr,
                             &o->dg.addrlen) != 0) {
        free(o);
        return NBLOG_EINVAL;
    }
    o->dg.max = max;
    o->dg.sep = 2;  /* an entry ends in "\n\n" */
    o->dg.keep = 1; /* its last field keeps its '\n' */
    char name[NBLOG_CONSOLE_NAME_MAX + 1]; /* "journald", or with its socket */
    nblog__console_default_name(name, "journald", socket_path);
    return nblog__dgram_console(o, name, NBLOG_FORMAT_JOURNAL, opts, out);
}

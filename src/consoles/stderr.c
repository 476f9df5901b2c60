/*
 * consoles/stderr.c - the process's standard error (or any terminal fd).
 *
 * An fd output on fd 2 named "stderr", with write_atomic, so it can be
 * direct and is flushed on panic. A terminal is slow and can be stopped
 * (^S, a full pty): threaded mode keeps that from reaching callers.
 */
#include <unistd.h>

#include "nblog.h"

int nblog_console_stderr(const nblog_console_opts_t *opts, nblog_console_t **out)
{
    nblog_console_opts_t o;
    if (opts) {
        o = *opts;
    } else {
        nblog_console_opts_init(&o);
        o.name = "stderr";
    }
    return nblog_console_fd(STDERR_FILENO, &o, out);
}

/*
 * consoles/stderr.c - the process's standard error (or any terminal fd).
 *
 * An fd output on fd 2 named "stderr" (unless the options name it), with write_atomic, so it can be
 * direct and is flushed on panic. A terminal is slow and can be stopped
 * (^S, a full pty), and stderr is usually a description shared with the
 * shell: fd.c never changes its flags and gives write_atomic a private
 * non-blocking description of the same terminal or pipe, so neither an
 * emergency record nor the panic flush can hang on it, and a pipe whose
 * reader left is an EPIPE, not a SIGPIPE (see fd.c).
 *
 * nblog__console_stderr_pinned is the one nblog makes by itself (the
 * default console, a "stderr" spec): it writes only while fd 2 is
 * what it was at registration (fd.c, PINNED).
 */
#include <unistd.h>

#include "consoles/fd.h"
#include "nblog.h"

static int make(const nblog_console_opts_t *opts, int pinned, nblog_console_t **out)
{
    nblog_console_opts_t o;
    if (opts)
        o = *opts;
    else
        nblog_console_opts_init(&o);
    if (!o.name)
        o.name = "stderr"; /* not "fd:2" */
    return pinned ? nblog__console_fd_pinned(STDERR_FILENO, &o, out)
                  : nblog_console_fd(STDERR_FILENO, &o, out);
}

int nblog_console_stderr(const nblog_console_opts_t *opts, nblog_console_t **out)
{
    return make(opts, 0, out);
}

int nblog__console_stderr_pinned(const nblog_console_opts_t *opts, nblog_console_t **out)
{
    return make(opts, 1, out);
}

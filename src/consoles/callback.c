/*
 * consoles/callback.c - an output that hands lines to a user function.
 *
 * The function gets one or more whole lines per call, on the console's
 * printer thread; it may block (a stuck callback stops only this console).
 * It is never called from a logging call or a signal handler: this output
 * has no write_atomic, so it is never direct, and the panic flush names it
 * "not flushed".
 */
#include <stdlib.h>

#include "nblog.h"

struct callback_out {
    nblog_line_fn *fn;
    void *arg;
};

static ssize_t callback_write(void *ctx, const char *buf, size_t len)
{
    struct callback_out *o = ctx;
    o->fn(o->arg, buf, len);
    return (ssize_t)len;
}

static void callback_teardown(void *ctx)
{
    free(ctx);
}

static const nblog_console_ops_t callback_ops = {
    .write = callback_write,
    .teardown = callback_teardown,
};

int nblog_console_callback(nblog_line_fn *fn, void *arg,
                           const nblog_console_opts_t *opts, nblog_console_t **out)
{
    if (!fn)
        return NBLOG_EINVAL;
    struct callback_out *o = malloc(sizeof *o);
    if (!o)
        return NBLOG_ENOMEM;
    o->fn = fn;
    o->arg = arg;
    nblog_console_opts_t named;
    if (!opts || !opts->name) { /* its kind is its name (see NAMES in console.c) */
        if (opts)
            named = *opts;
        else
            nblog_console_opts_init(&named);
        named.name = "callback";
        opts = &named;
    }
    int rc = nblog_console_register(&callback_ops, o, opts, out);
    if (rc != NBLOG_OK)
        free(o);
    return rc;
}

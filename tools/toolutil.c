/*
 * toolutil.c - what the nblog command's subcommands share (tool.h):
 * messages, numbers, opening a ring file with an exit code for its verdict.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "nblog.h"
#include "tool.h"

int tool_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nblog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int tool_parse_u64(const char *text, unsigned long long *out)
{
    char *end;
    if (!text || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    *out = strtoull(text, &end, 10);
    return errno || *end ? -1 : 0;
}
/* ---------------------------------------------------------- opening */

int tool_exit_for_verdict(int verdict)
{
    switch (verdict) {
    case NBLOG_OK:
        return EXIT_OK;
    case NBLOG_ENOTRING:
        return EXIT_NOTRING;
    case NBLOG_EVERSION:
        return EXIT_VERSION;
    case NBLOG_ESHORT:
        return EXIT_TRUNCATED;
    case NBLOG_ECORRUPT:
        return EXIT_CORRUPT;
    }
    return EXIT_NOFILE;
}

int tool_open_view(const char *path, int live, nblog_ringfile_t **f)
{
    char why[512];
    int verdict = nblog_ringfile_open(
        path, live ? NBLOG_RINGFILE_LIVE : NBLOG_RINGFILE_COPY, f, why, sizeof why);
    if (verdict == NBLOG_OK)
        return EXIT_OK;
    return tool_fail(tool_exit_for_verdict(verdict), "%s: %s", path, why);
}


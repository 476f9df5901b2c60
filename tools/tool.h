/*
 * tool.h - what the nblog command's files share: exit codes and the
 * subcommands' entry points. See nblog.c for the command as a whole and
 * docs/nblog.1 for its manual.
 */
#ifndef NBLOG_TOOL_H
#define NBLOG_TOOL_H

#include <stdint.h>

#include "nblog.h"

/* Exit codes, documented in docs/nblog.1 (EXIT STATUS). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,      /* the library refused (init, console), see message */
    EXIT_USAGE = 2,     /* bad command line or console spec */
    EXIT_NOFILE = 3,    /* the file could not be opened or read */
    EXIT_NOTRING = 4,   /* not an nblog ring */
    EXIT_VERSION = 5,   /* a ring layout this tool does not know */
    EXIT_TRUNCATED = 6, /* shorter than its header says (or cut while read) */
    EXIT_CORRUPT = 7,   /* impossible header fields */
    EXIT_INCOMPLETE = 8, /* pipe: a console did not get every line */
};

/* Not an exit code: a subcommand's option parser saw -h/--help and printed
 * that subcommand's usage on stdout; main() exits EXIT_OK. On EXIT_USAGE,
 * main() adds a line naming "nblog CMD --help". */
#define TOOL_HELP (-1)

int nblog_cmd_demo(int argc, char **argv);   /* demo.c */
int nblog_cmd_dmesg(int argc, char **argv);  /* dmesg.c */
int nblog_cmd_status(int argc, char **argv); /* status.c */
int nblog_cmd_run(int argc, char **argv);    /* run.c */

/* Prints "nblog: " and the message to stderr; returns code. */
int tool_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit code for a verdict of nblog_ringfile_open (NBLOG_OK: EXIT_OK). */
int tool_exit_for_verdict(int verdict);

/* Parses a non-negative decimal number; 0 on success, -1 if it is not one. */
int tool_parse_u64(const char *text, unsigned long long *out);

/* dmesg-args.c: outside input, any byte string (fuzzed: tests/fuzz-args.c).
 * A time as --since/--until take it (dmesg-args.c lists the forms: "now",
 * "today", "@EPOCH", "-1h", "10 min ago", "2026-12-02 10:00:00", ...),
 * relative ones to now_ns: Unix nanoseconds into *out, 0; -1 if it is
 * none. */
int tool_parse_time(const char *text, int64_t now_ns, int64_t *out);
/* A level list as --level takes it: "err" (a threshold: err and more
 * severe), "err,warning" (those), "err..warning", "3..4", "..4", "err+",
 * "-notice": bit L of *mask set for each level L shown, 0; -1 if bad. */
int tool_parse_levels(const char *text, unsigned *mask);

/* Opens the ring file at path (live: NBLOG_RINGFILE_LIVE, else a copy).
 * Returns EXIT_OK and *f, or says why on stderr and returns the exit code
 * for the verdict (EXIT_NOFILE, EXIT_NOTRING, ...). */
int tool_open_view(const char *path, int live, nblog_ringfile_t **f);

#endif

/*
 * tool.h - what the nblog command's files share: exit codes and the
 * subcommands' entry points. See nblog.c for the command as a whole and
 * docs/nblog.1 for its manual.
 */
#ifndef NBLOG_TOOL_H
#define NBLOG_TOOL_H

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

int nblog_cmd_demo(int argc, char **argv);
int nblog_cmd_run(int argc, char **argv); /* run.c */

/* Prints "nblog: " and the message to stderr; returns code. */
int tool_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a non-negative decimal number; 0 on success, -1 if it is not one. */
int tool_parse_u64(const char *text, unsigned long long *out);

#endif

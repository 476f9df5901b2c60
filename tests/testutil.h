/*
 * testutil.h - helpers shared by nblog's tests.
 */
#ifndef NBLOG_TESTUTIL_H
#define NBLOG_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "nblog.h"

extern char **environ;

/* The environment for a child that crashes on purpose: ours, with ASan's
 * own signal handling off so nblog's handlers run. */
static inline char **crash_child_env(void)
{
    static char *env[512];
    static char asan[] = "ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0:"
                         "handle_sigfpe=0:handle_sigill=0:detect_leaks=0:"
                         "allow_user_segv_handler=1";
    int n = 0;
    for (char **e = environ; *e && n < 510; e++)
        if (strncmp(*e, "ASAN_OPTIONS=", 13) != 0)
            env[n++] = *e;
    env[n++] = asan;
    env[n] = NULL;
    return env;
}

/* Record counts are divided by this under sanitizers, which run 5-20x
 * slower; the property checked is the same. */
#if defined(NBLOG_TEST_SANITIZER)
#define TEST_SCALE_DIV 20
#else
#define TEST_SCALE_DIV 1
#endif
/* UNDER_TSAN: defined in ThreadSanitizer builds. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#define SCALED(n) ((n) / TEST_SCALE_DIV > 0 ? (n) / TEST_SCALE_DIV : 1)

/* Copies the line of buf[0..len) that starts at *at into line (cut to
 * cap - 1 bytes, NUL-terminated, without its '\n') and moves *at past it.
 * Returns 0 when there is no line left. */
static inline int tu_next_line(const char *buf, size_t len, size_t *at, char *line,
                               size_t cap)
{
    if (*at >= len)
        return 0;
    const char *nl = memchr(buf + *at, '\n', len - *at);
    size_t end = nl ? (size_t)(nl - buf) : len;
    size_t n = end - *at < cap - 1 ? end - *at : cap - 1;
    memcpy(line, buf + *at, n);
    line[n] = '\0';
    *at = end + 1;
    return 1;
}

/* Parses a kmsg-format output line "prefix,seq,usec,-[,replayed];text".
 * Returns 1 with *seq, *replayed (the panic flush's mark) and *text (after
 * the ';'), or 0 if line is not one. */
static inline int tu_parse_kmsg(const char *line, unsigned long long *seq, int *replayed,
                                const char **text)
{
    unsigned prefix;
    unsigned long long usec;
    int used = 0;
    const char *semi = strchr(line, ';');
    if (!semi || sscanf(line, "%u,%llu,%llu,-%n", &prefix, seq, &usec, &used) < 3)
        return 0;
    *replayed = strncmp(line + used, "," NBLOG_REPLAYED_MARK ";",
                        sizeof NBLOG_REPLAYED_MARK + 1) == 0;
    *text = semi + 1;
    return 1;
}

#endif

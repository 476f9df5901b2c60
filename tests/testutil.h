/*
 * testutil.h - helpers shared by nblog's tests.
 */
#ifndef NBLOG_TESTUTIL_H
#define NBLOG_TESTUTIL_H

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* ---- files ---- */

/* The whole file at path into buf, at most cap - 1 bytes, NUL-terminated.
 * Returns its length, or -1 (errno from open) if it does not open. */
static inline long tu_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
    return (long)len;
}

/* The whole file at path, NUL-terminated, in memory from malloc (free
 * it); *len (if not NULL) its length. NULL if it does not open. */
static inline char *tu_slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap + 1);
    assert_non_null(s);
    ssize_t got;
    while ((got = read(fd, s + n, cap - n)) > 0) {
        n += (size_t)got;
        if (n == cap) {
            cap *= 2;
            s = realloc(s, cap + 1);
            assert_non_null(s);
        }
    }
    assert_true(got == 0); /* read to the end, no error */
    close(fd);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

#endif

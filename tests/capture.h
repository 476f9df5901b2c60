/*
 * capture.h - the in-memory capture console the tests share: a console
 * (or callback) whose every write appends to a buffer in memory, and the
 * accessors a test reads it with, as one string or line by line.
 *
 * A write takes the capture's spin lock (an atomic_flag, never a mutex),
 * so it may come from the printer thread, a direct logging call, the
 * panic flush or a signal handler; what it must not do is interrupt a
 * write to the same capture on its own thread (no test's does: printers
 * never take program signals). Readers copy under the same lock, or read
 * buf directly once nothing writes any more (after a flush).
 *
 * A write that does not fit is cut to what fits (offered still counts it
 * whole); with must_fit set it fails the test instead.
 *
 *   TU_CAPTURE(name, bytes)        a static capture of bytes
 *   tu_capture_init(c, buf, cap)   a capture over a buffer of the test's
 *   tu_capture_write               the ops write / write_atomic (ctx: c)
 *   tu_capture_lines               the nblog_console_callback line fn (arg: c)
 *   tu_captured(c)                 what arrived, as one string (a copy)
 *   tu_capture_count(c, s, &rep)   lines containing s (and marked replayed)
 */
#ifndef NBLOG_TEST_CAPTURE_H
#define NBLOG_TEST_CAPTURE_H

#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/types.h>

#include "testutil.h"

struct tu_capture {
    char *buf;
    size_t cap;      /* bytes of buf, its NUL included */
    int must_fit;    /* a write that does not fit fails the test */
    atomic_flag lock;
    size_t len;      /* bytes kept; buf[len] is NUL (under lock) */
    _Atomic size_t offered; /* bytes written to the capture, kept or not */
};

#define TU_CAPTURE(name, bytes)                                                \
    static char name##_buf[bytes];                                             \
    static struct tu_capture name = {name##_buf, bytes, 0, ATOMIC_FLAG_INIT, 0, 0}

static inline void tu_capture_init(struct tu_capture *c, char *buf, size_t cap)
{
    c->buf = buf;
    c->cap = cap;
    c->must_fit = 0;
    atomic_flag_clear(&c->lock);
    c->len = 0;
    atomic_store(&c->offered, 0);
}

static inline void tu_capture_lock(struct tu_capture *c)
{
    while (atomic_flag_test_and_set_explicit(&c->lock, memory_order_acquire))
        sched_yield();
}

static inline void tu_capture_unlock(struct tu_capture *c)
{
    atomic_flag_clear_explicit(&c->lock, memory_order_release);
}

/* Empties c (no write may be running). */
static inline void tu_capture_reset(struct tu_capture *c)
{
    tu_capture_lock(c);
    c->len = 0;
    c->buf[0] = '\0';
    atomic_store(&c->offered, 0);
    tu_capture_unlock(c);
}

/* Appends buf[0..len) (what fits of it); returns len. */
static inline ssize_t tu_capture_append(struct tu_capture *c, const char *buf, size_t len)
{
    atomic_fetch_add(&c->offered, len);
    tu_capture_lock(c);
    size_t room = c->cap - 1 - c->len;
    size_t n = len < room ? len : room;
    memcpy(c->buf + c->len, buf, n);
    c->len += n;
    c->buf[c->len] = '\0';
    tu_capture_unlock(c);
    if (c->must_fit)
        assert_true(n == len);
    return (ssize_t)len;
}

static inline ssize_t tu_capture_write(void *ctx, const char *buf, size_t len)
{
    return tu_capture_append(ctx, buf, len);
}

static inline void tu_capture_lines(void *arg, const char *lines, size_t len)
{
    tu_capture_append(arg, lines, len);
}

/* Bytes kept so far. */
static inline size_t tu_capture_len(struct tu_capture *c)
{
    tu_capture_lock(c);
    size_t n = c->len;
    tu_capture_unlock(c);
    return n;
}

/* What c kept so far, as one string: a copy made under the lock, valid
 * until the next call. */
static inline const char *tu_captured(struct tu_capture *c)
{
    static char copy[1 << 20];
    tu_capture_lock(c);
    size_t n = c->len + 1 < sizeof copy ? c->len + 1 : sizeof copy;
    memcpy(copy, c->buf, n);
    copy[n - 1] = '\0';
    tu_capture_unlock(c);
    return copy;
}

/* How many lines c kept contain needle; *replayed (if not NULL): how many
 * of those are marked replayed (kmsg's ",replayed;"). Lines are read up
 * to 1023 bytes. Call it when nothing writes to c. */
static inline int tu_capture_count(struct tu_capture *c, const char *needle, int *replayed)
{
    size_t len = tu_capture_len(c);
    int n = 0, r = 0;
    char line[1024];
    for (size_t at = 0; tu_next_line(c->buf, len, &at, line, sizeof line);)
        if (strstr(line, needle)) {
            n++;
            r += strstr(line, "," NBLOG_REPLAYED_MARK ";") != NULL;
        }
    if (replayed)
        *replayed = r;
    return n;
}

#endif

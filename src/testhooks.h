/*
 * testhooks.h - test hooks, compiled only into test builds (as SQLite's
 * SQLITE_TEST). The shipped libraries (CMake targets nblog and
 * nblog_static) are built without NBLOG_TEST_HOOKS: no hook variable, no
 * test-only function, no load on a hot path. The tests link nblog_testlib,
 * the same sources built with -DNBLOG_TEST_HOOKS.
 *
 * A hook is a function-pointer variable, NULL unless a test sets it,
 * loaded relaxed at every use (a test sets it before the calls it is
 * meant for and clears it after). Each is declared, under
 * #ifdef NBLOG_TEST_HOOKS, in the header of the layer that calls it:
 *
 *   ring.h           nblog__test_hook_reserved (between reserve and commit),
 *                    nblog__test_hook_spilled (granules taken, not yet written)
 *   platform.h       nblog__realtime_hook (CLOCK_REALTIME)
 *   log.h            nblog__init_hook (init's steps), nblog__ratelimit_clock_hook
 *   console.h        nblog__console_clock (the stall watch's clock),
 *                    nblog__console_watch_once, nblog__console_slots
 *                    (test-only functions)
 *   render.h         nblog__tz_publish_hook, nblog__tz_read_hook (the UTC
 *                    offset's two slots), nblog__line_fmt_tz_at (a
 *                    test-only function)
 *   consoles/fd.h    nblog__fd_write_hook, nblog__fd_nowait_hook,
 *                    nblog__fd_open_hook, nblog__fd_rename_hook (the fault
 *                    layer), nblog__fd_retry_ms (a setting)
 *
 * At a call site (args in parentheses, as in a call):
 *   NBLOG__TEST_HOOK(hook, (args));              hook(args) if set
 *   NBLOG__TEST_HOOK_OR(hook, (args), expr)      hook(args) if set, else expr
 *   NBLOG__TEST_VALUE(var, expr)                 var (relaxed) in test builds,
 *                                                expr in production
 * In a production build they are nothing, expr and expr.
 */
#ifndef NBLOG_TESTHOOKS_H
#define NBLOG_TESTHOOKS_H

#ifdef NBLOG_TEST_HOOKS

#include <stdatomic.h>
#include <stddef.h>

#define NBLOG__TEST_HOOK(hook, args)                                          \
    do {                                                                      \
        __auto_type nblog__hook_ =                                            \
            atomic_load_explicit(&(hook), memory_order_relaxed);              \
        if (__builtin_expect(nblog__hook_ != NULL, 0))                        \
            nblog__hook_ args;                                                \
    } while (0)

#define NBLOG__TEST_HOOK_OR(hook, args, otherwise)                            \
    __extension__({                                                           \
        __auto_type nblog__hook_ =                                            \
            atomic_load_explicit(&(hook), memory_order_relaxed);              \
        __builtin_expect(nblog__hook_ != NULL, 0) ? nblog__hook_ args         \
                                                  : (otherwise);              \
    })

#define NBLOG__TEST_VALUE(var, otherwise)                                     \
    atomic_load_explicit(&(var), memory_order_relaxed)

#else

#define NBLOG__TEST_HOOK(hook, args) ((void)0)
#define NBLOG__TEST_HOOK_OR(hook, args, otherwise) (otherwise)
#define NBLOG__TEST_VALUE(var, otherwise) (otherwise)

#endif

#endif

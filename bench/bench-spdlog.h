/*
 * bench-spdlog.h - the spdlog_async column of nblog-bench, implemented in
 * C++ (bench-spdlog.cpp) and called from the C harness.
 *
 * Built only when CMake finds spdlog; the harness then defines
 * NBLOG_BENCH_SPDLOG. None of these functions throws.
 */
#ifndef NBLOG_BENCH_SPDLOG_H
#define NBLOG_BENCH_SPDLOG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the thread pool (queue 8192, 1 backend thread) and an async
 * logger (overrun_oldest) with a basic_file_sink_mt on a new file under
 * /tmp. Returns 0, or -1 after printing why to stderr. */
int bench_spdlog_setup(void);

/* One caller-side logging call, the message of every column. Returns 0. */
int bench_spdlog_log(int i);

/* Flushes, shuts spdlog down (joins the backend thread), deletes the file
 * and writes a one-line note (queue overruns) into note. */
void bench_spdlog_teardown(char *note, size_t cap);

/* ------------------------------------------------------------------------
 * The stuck, throughput and crash modes: an async logger on its own thread pool
 * (queue 8192, one backend thread), set up afresh for every run.
 */
#include <pthread.h>

struct bench_spdlog_cfg {
    const char *path;       /* basic_file_sink_mt on this file (truncated) */
    int overrun_oldest;     /* 1: async_overflow_policy::overrun_oldest;
                               0: ::block */
    int stamped;            /* 1: spdlog's default pattern; 0: "%v", the
                               message alone, as nblog's plain format */
    pthread_mutex_t *hold;  /* not NULL: a second sink whose sink_it_ locks
                               and unlocks *hold (stuck while it is held) */
};

/* Returns 0, or -1 after printing why to stderr. Both sinks take INFO and
 * above; the logger takes DEBUG, so bench_spdlog_async_debug() calls go
 * through the queue and the backend and are dropped by the sinks. */
int bench_spdlog_async_setup(const struct bench_spdlog_cfg *cfg);

/* logger->info / logger->debug with the message of every mode. Return 0. */
int bench_spdlog_async_info(int i);
int bench_spdlog_async_debug(int i);
/* The crash mode: logger->info("line {}", i). */
void bench_spdlog_async_line(int i);

/* Records the stuck sink has written so far. */
long bench_spdlog_async_stuck_lines(void);

/* Flushes, then destroys the thread pool, which joins the backend thread
 * after it has handled every queued entry: when this returns, everything
 * is in the file. *overruns gets the queue's overrun (dropped) count and
 * *stuck_lines what the stuck sink (if any) wrote in all. The hold mutex
 * must be free. */
void bench_spdlog_async_finish(size_t *overruns, long *stuck_lines);

#ifdef __cplusplus
}
#endif
#endif

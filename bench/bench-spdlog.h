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

#ifdef __cplusplus
}
#endif
#endif

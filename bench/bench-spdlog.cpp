/*
 * bench-spdlog.cpp - the spdlog_async column of nblog-bench: spdlog's async
 * logger as its users usually set it up for a non-blocking caller.
 *
 *   spdlog::init_thread_pool(8192, 1)   default queue size, one backend thread
 *   async_logger, overrun_oldest        a full queue drops its oldest entry
 *                                       instead of blocking the caller
 *   basic_file_sink_mt                  to /tmp/nblog-bench-<pid>-spdlog.log,
 *                                       deleted at teardown
 *
 * The caller-side cost measured is logger->info(): formatting the message
 * with fmt into the queue entry, the queue's mutex and a notify of the
 * backend thread. The backend thread's pattern formatting and file write
 * run concurrently, competing for the same cores as the callers.
 */
#include "bench-spdlog.h"

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include <unistd.h>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

namespace {

std::shared_ptr<spdlog::async_logger> logger;
std::string path;

} // namespace

extern "C" int bench_spdlog_setup(void)
{
    try {
        path = "/tmp/nblog-bench-" + std::to_string(getpid()) + "-spdlog.log";
        spdlog::init_thread_pool(8192, 1);
        auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, true);
        logger = std::make_shared<spdlog::async_logger>(
            "bench", sink, spdlog::thread_pool(),
            spdlog::async_overflow_policy::overrun_oldest);
        logger->set_level(spdlog::level::info);
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "nblog-bench: spdlog setup failed: %s\n", e.what());
        return -1;
    }
}

extern "C" int bench_spdlog_log(int i)
{
    // async_logger catches and reports its own exceptions (SPDLOG_TRY).
    logger->info("iteration {} value {:f} name {}", i, i * 0.25, "bench");
    return 0;
}

extern "C" void bench_spdlog_teardown(char *note, size_t cap)
{
    size_t overruns = 0;
    try {
        overruns = spdlog::thread_pool()->overrun_counter();
        logger->flush();
        logger.reset();
        spdlog::shutdown(); // drops the registry and joins the backend thread
    } catch (const std::exception &e) {
        std::fprintf(stderr, "nblog-bench: spdlog teardown: %s\n", e.what());
    }
    if (!path.empty())
        unlink(path.c_str());
    std::snprintf(note, cap, "queue overruns (oldest dropped): %zu", overruns);
}

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
 *
 * The stuck, throughput and crash modes use a second set of functions
 * (bench_spdlog_async_*): a thread pool of their own per run, so each run
 * starts from an empty queue and ends by joining its backend thread, and
 * optionally a "stuck" sink that waits on a mutex the harness holds.
 */
#include "bench-spdlog.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/sinks/base_sink.h>
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

/* ------------------------------------------------------------------------
 * The stuck, throughput and crash modes (bench-spdlog.h).
 */
namespace {

// A sink that stands for a device that stops answering: every record waits
// for *hold, then is formatted and counted.
class stuck_sink final : public spdlog::sinks::base_sink<std::mutex>
{
public:
    explicit stuck_sink(pthread_mutex_t *hold)
        : hold_(hold)
    {}
    long lines() const
    {
        return lines_.load(std::memory_order_relaxed);
    }

protected:
    void sink_it_(const spdlog::details::log_msg &msg) override
    {
        pthread_mutex_lock(hold_);
        pthread_mutex_unlock(hold_);
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        lines_.fetch_add(1, std::memory_order_relaxed);
    }
    void flush_() override {}

private:
    pthread_mutex_t *hold_;
    std::atomic<long> lines_{0};
};

std::shared_ptr<spdlog::details::thread_pool> apool;
std::shared_ptr<spdlog::async_logger> alogger;
std::shared_ptr<stuck_sink> astuck;

} // namespace

extern "C" int bench_spdlog_async_setup(const struct bench_spdlog_cfg *cfg)
{
    try {
        apool = std::make_shared<spdlog::details::thread_pool>(8192, 1);
        auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg->path, true);
        file->set_level(spdlog::level::info);
        std::vector<spdlog::sink_ptr> sinks{file};
        if (cfg->hold) {
            astuck = std::make_shared<stuck_sink>(cfg->hold);
            astuck->set_level(spdlog::level::info);
            sinks.push_back(astuck);
        }
        alogger = std::make_shared<spdlog::async_logger>(
            "bench", sinks.begin(), sinks.end(), apool,
            cfg->overrun_oldest ? spdlog::async_overflow_policy::overrun_oldest
                                : spdlog::async_overflow_policy::block);
        alogger->set_level(spdlog::level::debug);
        if (!cfg->stamped)
            alogger->set_pattern("%v");
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "nblog-bench: spdlog setup failed: %s\n", e.what());
        alogger.reset();
        astuck.reset();
        apool.reset();
        return -1;
    }
}

extern "C" int bench_spdlog_async_info(int i)
{
    alogger->info("iteration {} value {:f} name {}", i, i * 0.25, "bench");
    return 0;
}

extern "C" int bench_spdlog_async_debug(int i)
{
    alogger->debug("iteration {} value {:f} name {}", i, i * 0.25, "bench");
    return 0;
}

extern "C" void bench_spdlog_async_line(int i)
{
    alogger->info("line {}", i);
}

extern "C" long bench_spdlog_async_stuck_lines(void)
{
    return astuck ? astuck->lines() : 0;
}

extern "C" void bench_spdlog_async_finish(size_t *overruns, long *stuck_lines)
{
    *overruns = 0;
    *stuck_lines = 0;
    try {
        if (apool)
            *overruns = apool->overrun_counter();
        if (alogger)
            alogger->flush(); // queued behind every record
        apool.reset();        // ~thread_pool: terminate, join the backend
        alogger.reset();
        if (astuck)
            *stuck_lines = astuck->lines();
        astuck.reset();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "nblog-bench: spdlog finish: %s\n", e.what());
    }
}

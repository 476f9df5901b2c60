// The public header from C++: every macro of include/nblog.h, used the way a
// C++ program would. cxx-header.sh compiles it with g++ and clang++ under
// -std=c++11 .. c++20 (-Wall -Wextra -Wpedantic -Werror), and runs it once:
// each call below must store a record that reads back as the text expected.
#include <nblog.h>

#include "expect.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

// The next record's text, or "" when there is none.
std::string next_text(nblog_reader_t &r)
{
    nblog_record_t rec;
    char buf[512];
    int rc = nblog_reader_next(&r, &rec, buf, sizeof buf);
    return rc == NBLOG_OK ? std::string(rec.text) : std::string();
}

// X-macro lists, as a C++ program may expand them.
#define NAME_OF_LEVEL(name, value, str) str,
const char *const level_names[] = {NBLOG_LEVEL_MAP(NAME_OF_LEVEL)};
#undef NAME_OF_LEVEL
#define COUNT_ERR(name, value, str) +1
const int error_codes = 0 NBLOG_ERRNO_MAP(COUNT_ERR);
#undef COUNT_ERR

// A member of a class template logging from a header-only library.
template <typename T> struct logger {
    static int put(T v) { return NBLOG_INFO("template value %d", static_cast<int>(v)); }
};

} // namespace

int main()
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.level = NBLOG_LEVEL_DEBUG;
    opt.crash_handlers = NBLOG_CRASH_NONE | 0u * NBLOG_CRASH_TERM;
    expect(nblog_init(&opt) == NBLOG_OK, "nblog_init");
    expect(nblog_version() == static_cast<unsigned>(NBLOG_VERSION_HEX), "version");
    expect(std::strcmp(nblog_version_string(), NBLOG_VERSION_STRING) == 0, "version string");
    expect(NBLOG_VERSION_MAJOR * 0 + NBLOG_VERSION_MINOR * 0 + NBLOG_VERSION_PATCH * 0 == 0,
           "version parts");
    expect(sizeof level_names / sizeof level_names[0] == NBLOG_LEVEL_COUNT, "level map");
    expect(error_codes > 0, "error map");
    expect(std::strcmp(level_names[NBLOG_LEVEL_ERR], nblog_level_name(NBLOG_LEVEL_ERR)) == 0,
           "level name");

    nblog_reader_t r;
    expect(nblog_reader_open(&r, NBLOG_FROM_NEXT) == NBLOG_OK, "reader");

    // The formatting-in-the-caller family.
    expect(nblog_printf(NBLOG_LEVEL_INFO, "printf %d %s %.2f", 1, "two", 3.0) == NBLOG_OK,
           "nblog_printf");
    expect(next_text(r) == "printf 1 two 3.00", "nblog_printf text");
    // Call sites: the macros' records carry where they were called from.
    {
        const unsigned line = __LINE__ + 1;
        nblog_info("where %d", 1);
        NBLOG_INFO("where %d", 2);
        for (int i = 1; i <= 2; i++) {
            nblog_record_t rec;
            char buf[128];
            expect(nblog_reader_next(&r, &rec, buf, sizeof buf) == NBLOG_OK, "where record");
            std::string file = rec.file;
            expect(rec.text == "where " + std::to_string(i), "where text");
            expect(file.size() >= 10 && file.compare(file.size() - 10, 10, "header.cpp") == 0,
                   "record's file");
            expect(rec.line == line + static_cast<unsigned>(i) - 1, "record's line");
            expect(std::strcmp(rec.func, "main") == 0, "record's func");
        }
    }
    expect((nblog_printf)(NBLOG_LEVEL_INFO, "plain function %u", 5u) == NBLOG_OK,
           "(nblog_printf)");
    expect(next_text(r) == "plain function 5", "(nblog_printf) text");
    nblog_emerg("emerg %d", 0);
    nblog_alert("alert %d", 1);
    nblog_crit("crit %d", 2);
    nblog_err("err %d", 3);
    nblog_warning("warning %d", 4);
    nblog_notice("notice %d", 5);
    nblog_info("info %d", 6);
    nblog_debug("debug %d", 7);
    for (int i = 0; i < NBLOG_LEVEL_COUNT; i++)
        expect(next_text(r) == std::string(level_names[i]) + " " + std::to_string(i),
               "nblog_<level> text");
    nblog_info("no arguments");
    expect(next_text(r) == "no arguments", "no-argument call");

    // The deferred family.
    NBLOG_EMERG("EMERG %d", 0);
    NBLOG_ALERT("ALERT %d", 1);
    NBLOG_CRIT("CRIT %d", 2);
    NBLOG_ERR("ERR %d", 3);
    NBLOG_WARNING("WARNING %d", 4);
    NBLOG_NOTICE("NOTICE %d", 5);
    NBLOG_INFO("INFO %d", 6);
    NBLOG_DEBUG("DEBUG %d", 7);
    for (int i = 0; i < NBLOG_LEVEL_COUNT; i++) {
        std::string want = level_names[i];
        for (char &c : want)
            c = static_cast<char>(c - 'a' + 'A');
        expect(next_text(r) == want + " " + std::to_string(i), "NBLOG_<LEVEL> text");
    }
    NBLOG_LOG(NBLOG_LEVEL_NOTICE, "LOG %s %ld %p", "s", 9L, static_cast<void *>(nullptr));
    expect(next_text(r).compare(0, 10, "LOG s 9 (n") == 0, "NBLOG_LOG text");
    NBLOG_INFO("sixteen %d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2,
               3, 4, 5, 6);
    expect(next_text(r) == "sixteen 1234567890123456", "NBLOG_MAX_ARGS arguments");
    expect(NBLOG_MAX_ARGS == 16, "NBLOG_MAX_ARGS");
    errno = ENOENT;
    NBLOG_ERR("gone: %m");
    expect(next_text(r) == "gone: No such file or directory", "deferred %m");
    expect(logger<short>::put(12) == NBLOG_OK && next_text(r) == "template value 12",
           "deferred call in a template");

    // Rate limited: a burst, then suppressed.
    int passed = 0;
    for (int i = 0; i < NBLOG_RATELIMIT_BURST + 5; i++)
        passed += nblog_printf_ratelimited(NBLOG_LEVEL_WARNING, "limited %d", i) == NBLOG_OK;
    expect(passed == NBLOG_RATELIMIT_BURST, "nblog_printf_ratelimited burst");
    static nblog_ratelimit_t rs = NBLOG_RATELIMIT_INIT(NBLOG_RATELIMIT_INTERVAL_MS, 1);
    expect(nblog_ratelimit_pass(&rs, NBLOG_LEVEL_INFO) == 1, "ratelimit first");
    expect(nblog_ratelimit_pass(&rs, NBLOG_LEVEL_INFO) == 0, "ratelimit second");

    // Constants a C++ program compares against.
    const unsigned flags = NBLOG_F_SIGNAL | NBLOG_F_EMERGENCY | NBLOG_F_TRUNCATED |
                           NBLOG_F_BADINPUT | NBLOG_F_REPLAYED;
    expect(flags == 0x1f, "record flags");
    expect(std::strlen(NBLOG_TRUNC_MARKER) > 0 && std::strlen(NBLOG_REPLAYED_MARK) > 0,
           "markers");
    expect(NBLOG_KIND_TEXT != NBLOG_KIND_DEFERRED, "kinds");
    const int formats[] = {NBLOG_FORMAT_PLAIN, NBLOG_FORMAT_KMSG, NBLOG_FORMAT_RFC5424,
                           NBLOG_FORMAT_RFC3164, NBLOG_FORMAT_JOURNAL};
    expect(sizeof formats / sizeof formats[0] == 5, "formats");
    expect(NBLOG_MODE_THREADED != NBLOG_MODE_DIRECT, "modes");
    expect(NBLOG_CONSOLE_NAME_MAX == 31, "name max");
    expect(NBLOG_COMPILE_LEVEL >= NBLOG_LEVEL_EMERG, "compile level");
    expect(std::strcmp(nblog_strerror(NBLOG_EARGS), "") != 0, "strerror");

    nblog_shutdown();
    if (failures == 0)
        std::puts("C++ consumer: ok");
    return failures != 0;
}

// NBLOG_NO_LOCATION from C++: nblog_printf is a plain expression again, so
// it works where a GNU statement expression cannot be, such as a
// file-scope initializer; no call carries a location. cxx-header.sh
// builds and runs it as header.cpp.
#define NBLOG_NO_LOCATION
#include <nblog.h>

#include "expect.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Initialised in order, before main: no console for the lazy init the
// next one makes.
const int no_console = setenv("NBLOG_CONSOLES", "none", 1);
const int at_file_scope = nblog_printf(NBLOG_LEVEL_INFO, "file scope %d", 1);

// The next record is text, without a location.
void expect_none(nblog_reader_t &r, const char *text)
{
    nblog_record_t rec;
    char buf[512];
    int rc = nblog_reader_next(&r, &rec, buf, sizeof buf);
    expect(rc == NBLOG_OK && std::string(rec.text) == text, text);
    expect(rc == NBLOG_OK && rec.line == 0 && rec.file[0] == '\0' && rec.func[0] == '\0',
           "no location");
}

} // namespace

int main()
{
    expect(no_console == 0, "setenv");
    expect(at_file_scope == NBLOG_OK, "nblog_printf at file scope");
    nblog_reader_t r;
    expect(nblog_reader_open(&r, NBLOG_FROM_OLDEST) == NBLOG_OK, "reader");
    expect_none(r, "file scope 1");
    expect(nblog_printf(NBLOG_LEVEL_INFO, "printf %d", 2) == NBLOG_OK, "nblog_printf");
    expect_none(r, "printf 2");
    nblog_info("info %d", 3);
    expect_none(r, "info 3");
    NBLOG_INFO("deferred %d", 4);
    expect_none(r, "deferred 4");
    nblog_printf_ratelimited(NBLOG_LEVEL_INFO, "limited %d", 5);
    expect_none(r, "limited 5");
    nblog_shutdown();
    if (failures == 0)
        std::puts("C++ NBLOG_NO_LOCATION: ok");
    return failures != 0;
}

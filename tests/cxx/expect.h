// What the C++ consumers (header.cpp, noloc.cpp) check with: expect(ok,
// what) counts and names a failure; main returns failures != 0.
#ifndef NBLOG_CXX_EXPECT_H
#define NBLOG_CXX_EXPECT_H

#include <cstdio>

namespace {

int failures;

void expect(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

} // namespace

#endif

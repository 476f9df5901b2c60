// A C++ program built against an installed nblog, as a user would build it.
#include <nblog.h>

#include <string>

int main()
{
    if (nblog_version() != static_cast<unsigned>(NBLOG_VERSION_HEX))
        return 1;
    nblog_reader_t r;
    if (nblog_reader_open(&r, NBLOG_FROM_NEXT) != NBLOG_OK &&
        nblog_init(nullptr) != NBLOG_OK)
        return 2;
    if (nblog_reader_open(&r, NBLOG_FROM_NEXT) != NBLOG_OK)
        return 2;
    const std::string who = "C++";
    if (NBLOG_INFO("installed nblog works from %s", who.c_str()) != NBLOG_OK)
        return 3;
    nblog_record_t rec;
    char buf[256];
    if (nblog_reader_next(&r, &rec, buf, sizeof buf) != NBLOG_OK)
        return 4;
    return std::string(rec.text) == "installed nblog works from C++" ? 0 : 5;
}

/* A program built against an installed nblog, as a user would build it. */
#include <nblog.h>
#include <string.h>

int main(void)
{
    if (nblog_version() != NBLOG_VERSION_HEX)
        return 1;
    if (nblog_info("installed %s works", "nblog") != NBLOG_OK)
        return 2;
    nblog_reader_t r;
    nblog_record_t rec;
    char buf[256];
    if (nblog_reader_open(&r, NBLOG_FROM_OLDEST) != NBLOG_OK ||
        nblog_reader_next(&r, &rec, buf, sizeof buf) != NBLOG_OK)
        return 3;
    return strcmp(rec.text, "installed nblog works") == 0 ? 0 : 4;
}

// Must not compile (-Werror): nblog_printf's format is checked in C++ too.
#include <nblog.h>
int main() { return nblog_printf(NBLOG_LEVEL_INFO, "%d", "not an int"); }

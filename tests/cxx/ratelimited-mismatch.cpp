// Must not compile (-Werror): the rate-limited macro's format is checked.
#include <nblog.h>
int main() { return nblog_printf_ratelimited(NBLOG_LEVEL_INFO, "%s", 42); }

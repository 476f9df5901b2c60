/* Must not compile: the deferred macros take a string literal format. */
#include <nblog.h>
int main(void)
{
    const char *fmt = "%d";
    return NBLOG_INFO(fmt, 1);
}

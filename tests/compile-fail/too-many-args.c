/* Must not compile: 17 arguments, NBLOG_MAX_ARGS is 16. */
#include <nblog.h>
int main(void)
{
    return NBLOG_INFO("%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d", 1, 2, 3, 4, 5, 6,
                      7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
}

/* Must compile: the control for the compile-fail cases. */
#include <nblog.h>
int main(void) { return NBLOG_INFO("%d %s", 1, "ok") < 0; }

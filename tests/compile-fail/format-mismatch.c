/* Must not compile: -Wformat checks the deferred macro's format. */
#include <nblog.h>
int main(void) { return NBLOG_INFO("%d", "not an int"); }

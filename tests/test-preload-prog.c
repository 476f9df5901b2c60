/*
 * test-preload-prog.c - a program that knows nothing of nblog and logs
 * with syslog(3), built fortified (-O2 -D_FORTIFY_SOURCE=2, so its calls
 * are __syslog_chk). test-preload.sh runs it under LD_PRELOAD.
 *
 *   test-preload-prog N   openlog("cident", LOG_PID, LOG_LOCAL5), then:
 *                         one record from a SIGUSR1 handler, one with %m
 *                         (errno ENOENT), one masked debug record
 *                         (setlogmask LOG_UPTO(LOG_INFO)), one with a
 *                         per-call facility (LOG_LOCAL1), then N warning
 *                         records "msg I of N"; exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

static void on_usr1(int sig)
{
    syslog(LOG_NOTICE, "from the handler of signal %d", sig);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 0;
    openlog("cident", LOG_PID, LOG_LOCAL5);
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    errno = ENOENT;
    syslog(LOG_ERR, "open failed: %m");
    setlogmask(LOG_UPTO(LOG_INFO));
    syslog(LOG_DEBUG, "masked debug");
    syslog(LOG_LOCAL1 | LOG_INFO, "per-call facility");
    for (int i = 0; i < n; i++)
        syslog(LOG_WARNING, "msg %d of %d", i, n);
    closelog();
    return 0;
}

/*
 * test-preload-prog.c - a program that knows nothing of nblog and logs
 * with syslog(3), built fortified (-O2 -D_FORTIFY_SOURCE=2, so its calls
 * are __syslog_chk). test-preload.sh runs it under LD_PRELOAD and knows
 * the records below, in this order (level, facility).
 *
 *   test-preload-prog N [DIR]
 *     openlog("cident", LOG_PID, LOG_LOCAL5), then:
 *       "from the handler of signal 10"      notice  local5 (a SIGUSR1 handler)
 *       "open failed: No such file..."       err     local5 (%m, errno ENOENT)
 *       two masked records (setlogmask LOG_UPTO(LOG_INFO), the mask applies
 *       to the level: LOG_DEBUG and LOG_LOCAL3 | LOG_DEBUG): not stored
 *       "per-call local3"                    err     local3
 *       "per-call authpriv"                  notice  authpriv
 *       "syslog: unknown facility/priority: 10006"  err auth (glibc's report
 *       of bits outside LOG_PRIMASK | LOG_FACMASK), then
 *       "bad bits cleared"                    info    local5
 *       N records "msg I of N"               warning, facility by I % 3:
 *                                            local5 (none given), local3, authpriv
 *     openlog("cident2", LOG_PID, LOG_DAEMON) (facility changes, the ident
 *     does not: the drop-in fixes it at setup), then
 *       "after openlog"                      info    daemon
 *     closelog. With DIR: creates DIR/logged, then waits (polling, 120 s at
 *     most) for DIR/go before it exits, so a test can act while it lives.
 *     Exits 0.
 */
#define _GNU_SOURCE /* nanosleep, access (the build defines none for this one) */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static void on_usr1(int sig)
{
    syslog(LOG_NOTICE, "from the handler of signal %d", sig);
}

int main(int argc, char **argv)
{
    static const int facs[3] = {0, LOG_LOCAL3, LOG_AUTHPRIV};
    int n = argc > 1 ? atoi(argv[1]) : 0;
    const char *dir = argc > 2 ? argv[2] : NULL;
    openlog("cident", LOG_PID, LOG_LOCAL5);
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    errno = ENOENT;
    syslog(LOG_ERR, "open failed: %m");
    setlogmask(LOG_UPTO(LOG_INFO));
    syslog(LOG_DEBUG, "masked debug");
    syslog(LOG_LOCAL3 | LOG_DEBUG, "masked local3 debug");
    syslog(LOG_LOCAL3 | LOG_ERR, "per-call local3");
    syslog(LOG_AUTHPRIV | LOG_NOTICE, "per-call authpriv");
    syslog(0x10000 | LOG_INFO, "bad bits cleared");
    for (int i = 0; i < n; i++)
        syslog(facs[i % 3] | LOG_WARNING, "msg %d of %d", i, n);
    openlog("cident2", LOG_PID, LOG_DAEMON);
    syslog(LOG_INFO, "after openlog");
    closelog();
    if (dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/logged", dir);
        FILE *f = fopen(path, "w");
        if (!f || fclose(f) != 0)
            return 2;
        snprintf(path, sizeof path, "%s/go", dir);
        struct timespec ms10 = {0, 10000000};
        for (int i = 0; i < 12000 && access(path, F_OK) != 0; i++)
            nanosleep(&ms10, NULL);
    }
    return 0;
}

/*
 * bench-syscount.c - per-thread system call counts (see bench-syscount.h).
 */
#include "bench-syscount.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

_Thread_local uint64_t bench_syscall3_calls;
_Thread_local uint64_t bench_syscall3_futex;
_Thread_local uint64_t bench_syscall3_wake0;

typedef long (*syscall_fn)(long, ...);
static _Atomic(syscall_fn) libc_syscall;

/*
 * The bench's syscall(3): counts, then calls libc's. Defined in the
 * executable, it is what libnblog (linked in statically) calls. Like
 * libc's, it passes on six argument words whatever the call needs (the
 * kernel ignores the extra ones).
 */
long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    bench_syscall3_calls++;
    if (number == SYS_futex)
        bench_syscall3_futex++;
    syscall_fn f = atomic_load_explicit(&libc_syscall, memory_order_relaxed);
    if (!f) {
        f = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
        if (!f) {
            static const char msg[] = "nblog-bench: libc's syscall() not found\n";
            ssize_t ignored = write(2, msg, sizeof msg - 1);
            (void)ignored;
            abort();
        }
        atomic_store_explicit(&libc_syscall, f, memory_order_relaxed);
    }
    long ret = f(number, a1, a2, a3, a4, a5, a6);
    if (number == SYS_futex && (a2 & FUTEX_CMD_MASK) == FUTEX_WAKE && ret == 0)
        bench_syscall3_wake0++;
    return ret;
}

/* ------------------------------------------------------ kernel count */

static long long kcount_self; /* entries the stop ioctl itself adds */

static long tracepoint_id(void)
{
    static const char *const paths[] = {
        "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
        "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
    };
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
        FILE *f = fopen(paths[k], "r");
        if (!f)
            continue;
        long id = -1;
        if (fscanf(f, "%ld", &id) != 1)
            id = -1;
        fclose(f);
        if (id >= 0)
            return id;
    }
    return -1;
}

static long long kcount_read(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
        return -1;
    return (long long)v;
}

int kcount_open(char *why, size_t cap)
{
    long id = tracepoint_id();
    if (id < 0) {
        snprintf(why, cap, "raw_syscalls:sys_enter not found (tracefs not "
                           "mounted at /sys/kernel/tracing?)");
        return -1;
    }
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof attr;
    attr.config = (uint64_t)id;
    attr.disabled = 1;
    int fd = (int)syscall(SYS_perf_event_open, &attr, 0 /* this thread */,
                          -1 /* any CPU */, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) {
        snprintf(why, cap, "perf_event_open(raw_syscalls:sys_enter): %s",
                 strerror(errno));
        return -1;
    }
    /* What an empty start/stop pair counts: the disabling ioctl's entry
     * (the enabling one enters before the counter runs). */
    long long least = -1;
    for (int k = 0; k < 5; k++) {
        ioctl(fd, PERF_EVENT_IOC_RESET, 0);
        ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
        ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
        long long v = kcount_read(fd);
        if (v >= 0 && (least < 0 || v < least))
            least = v;
    }
    kcount_self = least < 0 ? 0 : least;
    return fd;
}

void kcount_start(int fd)
{
    ioctl(fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
}

long long kcount_stop(int fd)
{
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    long long v = kcount_read(fd);
    return v < 0 ? -1 : v - kcount_self;
}

void kcount_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

/*
 * bench-syscount.h - counting the system calls a logging call makes,
 * without perf(1) or strace (bench-syscount.c; bench/README.md, "stuck").
 *
 * Two counts, each per thread:
 *
 *   bench_syscall3_calls   calls to syscall(3) made by this thread. The
 *                          bench defines syscall() itself, so libnblog's
 *                          futex and gettid calls, which go through
 *                          syscall(3), reach the bench's wrapper first. It
 *                          bumps this thread-local counter and calls libc's
 *                          syscall(). Reading it costs a TLS load and no
 *                          system call, so a timing loop can read it after
 *                          every call and tell exactly which calls made one.
 *                          It sees nothing made through other libc wrappers.
 *
 *   kernel count           every system call the thread entered, from a
 *                          perf_event_open(2) counter on the
 *                          raw_syscalls:sys_enter tracepoint, read before
 *                          and after a loop. It sees everything, but only
 *                          in total, it needs tracefs and the permission to
 *                          open tracepoint events, and while open it slows
 *                          every system call down a little, so timings
 *                          taken under it are not reported.
 *
 * When the two agree over a loop, the per-call count of the first is the
 * whole truth.
 */
#ifndef NBLOG_BENCH_SYSCOUNT_H
#define NBLOG_BENCH_SYSCOUNT_H

#include <stddef.h>
#include <stdint.h>

/* syscall(3) calls made by this thread, how many were futex(2), and how
 * many of those were FUTEX_WAKEs that woke nobody (returned 0). */
extern _Thread_local uint64_t bench_syscall3_calls;
extern _Thread_local uint64_t bench_syscall3_futex;
extern _Thread_local uint64_t bench_syscall3_wake0;

/* Opens a counter of this thread's system call entries, disabled. Returns
 * an fd, or -1 with a reason in why. */
int kcount_open(char *why, size_t cap);
/* Resets and enables it. */
void kcount_start(int fd);
/* Disables it and returns the system calls counted since kcount_start, less
 * the disabling ioctl's own entry (measured by kcount_open). Returns -1 on
 * a failed read. */
long long kcount_stop(int fd);
void kcount_close(int fd);

#endif

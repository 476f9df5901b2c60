/*
 * consoles/fd.h - the fault layer of the fd/file output (consoles/fd.c),
 * for tests (STYLE.md 7), in test builds only (testhooks.h). Each hook,
 * when set, is called instead of the system call it names and returns what
 * that call would (-1 with errno). Relaxed loads: a test sets a hook
 * before it logs and clears it after.
 */
#ifndef NBLOG_CONSOLES_FD_H
#define NBLOG_CONSOLES_FD_H

#include <sys/types.h>

#ifdef NBLOG_TEST_HOOKS
/* Instead of write(2) and send(2) (every kind of fd; a socket's
 * MSG_DONTWAIT send too). */
extern ssize_t (*_Atomic nblog__fd_write_hook)(int fd, const void *buf, size_t len);
/* Instead of write_atomic's pwritev2(RWF_NOWAIT) (files, pipes, terminals,
 * other devices): a hook here must not block either. */
extern ssize_t (*_Atomic nblog__fd_nowait_hook)(int fd, const void *buf, size_t len);
/* Instead of open(2) of a file console's path or of a rotation's new file
 * (not of /proc/self/fd/N). */
extern int (*_Atomic nblog__fd_open_hook)(const char *path, int flags, mode_t mode);
/* Instead of rename(2) in rotation. */
extern int (*_Atomic nblog__fd_rename_hook)(const char *from, const char *to);
/* First retry delay after a failed rotation or reopen (each its own),
 * doubled per failure in a row up to 60 s or this, whichever is longer
 * (default 1000 ms; tests set 0 to retry at every batch). A reopen asked
 * for by nblog_console_reopen is tried at the next batch regardless. */
extern _Atomic unsigned nblog__fd_retry_ms;
#endif

/* nblog_console_fd for a console nblog makes on its own (the default
 * console, a "stderr" spec): it writes only while fd is what it was at
 * registration, else fails its writes with -ESTALE (fd.c, PINNED). */
struct nblog_console_opts;
struct nblog_console;
int nblog__console_fd_pinned(int fd, const struct nblog_console_opts *opts,
                             struct nblog_console **out);
/* The same on fd 2, named "stderr" (consoles/stderr.c). */
int nblog__console_stderr_pinned(const struct nblog_console_opts *opts,
                                 struct nblog_console **out);

#endif

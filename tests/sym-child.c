/*
 * sym-child.c - a program built -O0 -g that dies of SIGSEGV in
 * crash_here(), for test-symbolize.
 *
 *     sym-child RING
 *
 * Stores its records in the ring file RING (no console), then main ->
 * call_crash -> crash_here writes to an unmapped address. test-symbolize
 * reads the crash report back with nblog dmesg and nblog symbolize and
 * finds the lines marked CRASH-HERE and CALL-HERE below by those markers.
 * Built a second time with SYM_CHILD_OTHER (sym-child-other): the same
 * names, another build-id, for the mismatch case.
 */
#include <stdio.h>

#include "nblog.h"

/* Unmapped: the fault (not NULL, which UBSan would stop at). */
int *volatile sym_child_target = (int *)64;

__attribute__((noinline)) void crash_here(int n)
{
    nblog_info("crash_here(%d)", n);
    *sym_child_target = n; /* CRASH-HERE */
}

__attribute__((noinline)) static void call_crash(int n)
{
#ifdef SYM_CHILD_OTHER
    nblog_info("the other build");
#endif
    crash_here(n + 1); /* CALL-HERE */
    nblog_info("not reached");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sym-child RING\n");
        return 2;
    }
    nblog_options_t o;
    nblog_options_init(&o);
    o.ring_path = argv[1];
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    if (nblog_init(&o) != NBLOG_OK)
        return 3;
    call_crash(argc);
    return 1;
}

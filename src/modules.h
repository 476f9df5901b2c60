/*
 * modules.h - the module table the crash report reads: every loaded
 * module's path, load address, PT_LOAD ranges, GNU build-id and symbol
 * tables, recorded before any crash so the signal handler names each
 * frame without reading a file or allocating. Layer: panic.
 */
#ifndef NBLOG_MODULES_H
#define NBLOG_MODULES_H

#include <stddef.h>
#include <stdint.h>

/* Scans the loaded modules into the table (and, the first time, copies
 * the main executable's .symtab from its file if it is small). Called by
 * init (nblog__panic_setup). Not signal-safe: dl_iterate_phdr takes the
 * loader's lock; the first call allocates (the .symtab copy, kept). */
void nblog__modules_scan(void);

/* Rescans if a module was loaded or unloaded since the last scan (glibc's
 * dlpi_adds/dlpi_subs counters), skipping it while a panic runs, another
 * scan runs or a reader is in the table it would write. Returns 1 if the
 * table is now up to date, 0 if skipped (try again later). Called by the
 * stall watch thread every pass. Not signal-safe (the loader's lock);
 * allocates nothing. */
int nblog__modules_refresh(void);

/* Fork hook (from nblog__panic_fork_child, in the child): the scan lock
 * made anew (the parent's watch thread may have held it). */
void nblog__modules_fork_child(void);

/* Writes "PATH+0xVADDR build-id HEX in FUNCTION+0xOFF [ADDR]" for addr
 * into buf, " in FUNCTION+0xOFF" only when a symbol table of that module
 * covers it.
 * VADDR is addr less the module's load bias (the address in the ELF file,
 * what addr2line -e PATH takes). return_address: addr is a return address
 * (every frame but a faulting PC), so the function is looked up at
 * addr - 1 (a call at a function's very end returns past it). Returns 1,
 * or 0 (buf undefined) if addr is in no module the table knows (or scans
 * published twice while we tried): the caller falls back to
 * /proc/self/maps.
 * [signal-safe] (reads the table and the modules' loaded images only) */
int nblog__modules_describe(uintptr_t addr, int return_address, char *buf, size_t cap);

#endif

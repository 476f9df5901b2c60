/*
 * symbolize.h - `nblog symbolize`: crash report frames to function, file
 * and line (symbolize.c). For the nblog command's files: the subcommand,
 * a per-line entry point other subcommands (dmesg --symbolize) can call,
 * and the frame parser (outside input: tests/fuzz-symbolize.c).
 */
#ifndef NBLOG_TOOL_SYMBOLIZE_H
#define NBLOG_TOOL_SYMBOLIZE_H

#include <stddef.h>
#include <stdio.h>

#define TOOL_BUILD_ID_MAX 64 /* bytes of a build-id the parser keeps */

/* One "backtrace #N ..." frame of a crash report (docs/nblog.3, CRASH
 * REPORTS), as found in a line of any output format of nblog dmesg (it is
 * looked for anywhere in the line). Pointers point into the line. The
 * " in FUNCTION+0xOFF" the report may have is not kept. */
struct tool_frame {
    unsigned long index;           /* N */
    const char *module;            /* the module's path, not terminated */
    size_t module_len;             /* 0: the frame names no module */
    unsigned long long offset;     /* after "+0x": see elf_address */
    int elf_address;               /* 1: the frame has " build-id " (even
                                    * "none"): offset is an ELF address;
                                    * 0: a file offset (maps fallback) */
    unsigned char build_id[TOOL_BUILD_ID_MAX];
    size_t build_id_len;           /* 0: no build-id (or "none") */
    unsigned long long addr;       /* the [0x...] address, 0 if absent */
};

/* Finds the first frame in line[0..len) (no terminator needed). Returns 1
 * and fills *f, or 0 if the line holds none. Never reads outside the
 * line. */
int tool_symbolize_parse(const char *line, size_t len, struct tool_frame *f);

/* Where symbolize looks for a module's file, besides the module's own
 * path (taken only if its build-id matches). */
struct tool_symbolize_opts {
    const char *const *dirs; /* -d DIR: DIR/NAME, DIR/.build-id/xx/rest(.debug) */
    size_t ndirs;
    int no_debuginfod;       /* 1: never ask debuginfod */
};

struct tool_symbolizer;

/* Makes a symbolizer (its modules are opened as frames name them and kept
 * until tool_symbolizer_free). Returns 0, or -1 with a message on stderr
 * (built without libdw, out of memory). */
int tool_symbolizer_new(const struct tool_symbolize_opts *o, struct tool_symbolizer **out);
void tool_symbolizer_free(struct tool_symbolizer *s);

/* Writes line[0..len) to out (a trailing newline in it is dropped) and, if
 * it holds a frame, "; FUNCTION at FILE:LINE" (inlined functions first,
 * "inlined into" the next), or a "; ..." saying why not ("build-id
 * mismatch: FILE has X", "no file for build-id X", "no line information");
 * then a newline. Returns 1 if the line held a frame, 0 if not, -1 if out
 * failed. */
int tool_symbolize_line(struct tool_symbolizer *s, const char *line, size_t len, FILE *out);

/* nblog symbolize [-d DIR]... [--no-debuginfod] [FILE|-] */
int nblog_cmd_symbolize(int argc, char **argv);

#endif

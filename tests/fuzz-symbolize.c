/*
 * fuzz-symbolize.c - libFuzzer target for nblog symbolize's frame parser
 * (tools/symbolize.c, tool_symbolize_parse): its input is outside input,
 * lines of crash reports from anywhere. The input is one line, copied to
 * a buffer of exactly its size (ASan sees any read past it); a frame
 * found must lie inside the line (the module a piece of it, the build-id
 * within its bound). The line is also passed through tool_symbolize_line
 * as the command does without libdw (this build has none: no file is
 * opened for what the fuzzer makes up), to /dev/null.
 *
 * Build and run: scripts/test.sh fuzz (clang, NBLOG_FUZZ=ON).
 */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize.h"
#include "tool.h"

int tool_fail(int code, const char *fmt, ...)
{
    (void)fmt;
    return code;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null_out;
    if (!null_out)
        null_out = fopen("/dev/null", "w");
    char *line = malloc(size ? size : 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    struct tool_frame f;
    int found = tool_symbolize_parse(line, size, &f);
    assert(found == 0 || found == 1);
    if (found) {
        assert(f.module_len <= size);
        if (f.module_len) {
            assert(f.module >= line && f.module + f.module_len <= line + size);
            assert(f.elf_address || f.build_id_len == 0);
        }
        assert(f.build_id_len <= TOOL_BUILD_ID_MAX);
        assert(f.elf_address == 0 || f.elf_address == 1);
    }
    if (null_out)
        assert(tool_symbolize_line(NULL, line, size, null_out) == found || ferror(null_out));
    free(line);
    return 0;
}

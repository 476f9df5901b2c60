/*
 * test-symbolize.c - crash reports that name functions, read back later
 * and elsewhere (issue 16 item 4).
 *
 * sym-child (built -O0 -g) runs from a copy in its own directory, dies of
 * SIGSEGV in crash_here() and leaves its crash report in a ring file; the
 * copy it ran from is then moved elsewhere, so the path the report names
 * names nothing. Through the real commands (nblog dmesg, then nblog
 * symbolize):
 *   - the report itself names the function of each frame (the library's
 *     module table: the executable's .symtab read at init), with the
 *     module's build-id;
 *   - symbolize -d DIR finds the moved copy by name, checks its build-id
 *     and names crash_here, sym-child.c and the line of the fault, and
 *     the caller's line for frame #1; from standard input too;
 *   - a file of that name with another build-id (sym-child-other) is a
 *     "build-id mismatch", never used; no file at all says so.
 * And the frame parser on the report's forms (the fuzz target
 * tests/fuzz-symbolize.c checks it never reads outside a line).
 */
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "proc.h"
#include "symbolize.h"
#include "testutil.h"
#include "tool.h"

/* This test builds symbolize.c without libdw (its parser), which calls
 * it (the stub, never here); the command's is in nblog.c. */
int tool_fail(int code, const char *fmt, ...)
{
    (void)fmt;
    return code;
}

static char dir[128];

/* dir/name, in buf (PATH_CAP bytes). */
#define PATH_CAP 256
static char *in_dir(char *buf, const char *name)
{
    snprintf(buf, PATH_CAP, "%s/%s", dir, name);
    return buf;
}

/* The line of SYM_CHILD_SOURCE holding marker. */
static int marker_line(const char *marker)
{
    size_t len;
    char *src = tu_slurp(SYM_CHILD_SOURCE, &len);
    assert_non_null(src);
    int line = 1, found = 0;
    for (char *p = src; *p; p++) {
        if (*p == '\n')
            line++;
        else if (!strncmp(p, marker, strlen(marker))) {
            found = line;
            break;
        }
    }
    free(src);
    assert_true(found > 0);
    return found;
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *data = tu_slurp(from, &len);
    assert_non_null(data);
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    free(data);
}

/* The line of text holding every needle (NULL-terminated), copied into
 * out; 0 if none. */
static int line_with(const char *text, char *out, size_t cap, ...)
{
    const char *needles[8];
    int n = 0;
    va_list ap;
    va_start(ap, cap);
    for (const char *s; n < 8 && (s = va_arg(ap, const char *)) != NULL;)
        needles[n++] = s;
    va_end(ap);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(out, cap, "%.*s", (int)len, p);
        int all = 1;
        for (int i = 0; i < n && all; i++)
            all = strstr(out, needles[i]) != NULL;
        if (all)
            return 1;
        p += len + (nl != NULL);
    }
    out[0] = '\0';
    return 0;
}

/* Runs argv with stdin from in_path (NULL: inherited), stdout into the
 * file out; returns the output (free it) and the status in *status. */
static char *run(char *const argv[], const char *in_path, const char *out, int *status)
{
    int in = in_path ? open(in_path, O_RDONLY | O_CLOEXEC) : -1;
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0 && (!in_path || in >= 0));
    *status = wait_child(spawn_child(argv, in, fd));
    close(fd);
    if (in >= 0)
        close(in);
    char *text = tu_slurp(out, NULL);
    assert_non_null(text);
    return text;
}

static char *symbolize(const char *debug_dir, const char *in_path, const char *out)
{
    char report[PATH_CAP], *argv[6];
    int n = 0, st;
    in_dir(report, "report.txt");
    argv[n++] = NBLOG_TOOL;
    argv[n++] = "symbolize";
    if (debug_dir) {
        argv[n++] = "-d";
        argv[n++] = (char *)debug_dir;
    }
    if (!in_path)
        argv[n++] = report;
    argv[n] = NULL;
    char *text = run(argv, in_path, out, &st);
    assert_int_equal(st, 0);
    return text;
}

#ifndef TEST_TOOL_HAS_LIBDW
/* Without libdw the command says it cannot work (exit 1). */
static void no_libdw_says_so(void **state)
{
    (void)state;
    char report[PATH_CAP], out[PATH_CAP];
    in_dir(report, "report.txt");
    in_dir(out, "sym.txt");
    char *argv[] = {NBLOG_TOOL, "symbolize", report, NULL};
    int st;
    free(run(argv, NULL, out, &st));
    assert_int_equal(st, EXIT_FAIL);
}
#endif

/* The crash, once, for every case: dir/report.txt is nblog dmesg's. */
static int setup(void **state)
{
    (void)state;
    assert_non_null(tu_temp_dir(dir, sizeof dir, "symbolize"));
    char path[PATH_CAP], ring[PATH_CAP], buf[PATH_CAP], keep[PATH_CAP];
    assert_int_equal(mkdir(in_dir(buf, "run"), 0700), 0);
    copy_file(SYM_CHILD, in_dir(path, "run/sym-child"));
    char *argv[] = {path, in_dir(ring, "ring"), NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, path, &fa, NULL, argv, crash_child_env()), 0);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(wait_child(pid), 128 + SIGSEGV);
    /* Moved away: the path in the report names nothing now. */
    assert_int_equal(mkdir(in_dir(buf, "keep"), 0700), 0);
    assert_int_equal(rename(path, in_dir(keep, "keep/sym-child")), 0);
    assert_int_equal(rmdir(in_dir(buf, "run")), 0);
    assert_int_equal(mkdir(in_dir(buf, "other"), 0700), 0);
    copy_file(SYM_CHILD_OTHER_EXE, in_dir(path, "other/sym-child"));
    char *dmesg[] = {NBLOG_TOOL, "dmesg", ring, NULL};
    int st;
    free(run(dmesg, NULL, in_dir(buf, "report.txt"), &st));
    assert_int_equal(st, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(tu_remove_dir(dir), 0);
    return 0;
}

/* The report as stored: each frame names module, build-id and function. */
static void report_names_functions(void **state)
{
    (void)state;
    char report[PATH_CAP], line[1024];
    in_dir(report, "report.txt");
    char *text = tu_slurp(report, NULL);
    assert_non_null(text);
    assert_true(line_with(text, line, sizeof line, "fatal signal 11 (SIGSEGV", NULL));
    /* Frame #0: the faulting instruction, in crash_here (the .symtab of
     * the executable: crash_here is not exported). */
    assert_true(line_with(text, line, sizeof line, "backtrace #0 ", "/run/sym-child+0x", NULL));
    assert_non_null(strstr(line, " build-id "));
    assert_non_null(strstr(line, " in crash_here+0x"));
    assert_int_equal(line[strlen(line) - 1], ']'); /* a cut line would show */
    /* Frame #1: a return address, in call_crash (a static function). */
    assert_true(line_with(text, line, sizeof line, "backtrace #1 ", NULL));
    assert_non_null(strstr(line, " in call_crash+0x"));
    assert_true(line_with(text, line, sizeof line, "backtrace #2 ", " in main+0x", NULL));
    /* A shared library's frame, named from its .dynsym (glibc's
     * __libc_start_main called main). */
    assert_true(line_with(text, line, sizeof line, "backtrace #", "libc.so", " in __libc_start_main+0x", NULL));
    free(text);
}

static void symbolize_moved_binary(void **state)
{
    (void)state;
    char keep[PATH_CAP], out[PATH_CAP], want[64], line[1024];
    in_dir(keep, "keep");
    in_dir(out, "sym.txt");
    char *text = symbolize(keep, NULL, out);
    snprintf(want, sizeof want, "sym-child.c:%d", marker_line("/* CRASH-HERE */"));
    assert_true(line_with(text, line, sizeof line, "backtrace #0 ", NULL));
    assert_non_null(strstr(line, "; crash_here at "));
    assert_non_null(strstr(line, want));
    snprintf(want, sizeof want, "sym-child.c:%d", marker_line("/* CALL-HERE */"));
    assert_true(line_with(text, line, sizeof line, "backtrace #1 ", NULL));
    assert_non_null(strstr(line, "; call_crash at "));
    assert_non_null(strstr(line, want));
    /* Every other line is copied as it was. */
    assert_true(line_with(text, line, sizeof line, "fatal signal 11", NULL));
    assert_null(strchr(line, ';'));
    free(text);
    /* The same from standard input. */
    char report[PATH_CAP];
    in_dir(report, "report.txt");
    text = symbolize(keep, report, out);
    snprintf(want, sizeof want, "sym-child.c:%d", marker_line("/* CRASH-HERE */"));
    assert_true(line_with(text, line, sizeof line, "backtrace #0 ", "; crash_here at ", want, NULL));
    free(text);
}

/* A file of the module's name but another build: never used. */
static void mismatch_is_reported(void **state)
{
    (void)state;
    char other[PATH_CAP], out[PATH_CAP], line[1024];
    in_dir(other, "other");
    in_dir(out, "sym-other.txt");
    char *text = symbolize(other, NULL, out);
    assert_true(line_with(text, line, sizeof line, "backtrace #0 ", NULL));
    assert_non_null(strstr(line, "; build-id mismatch: "));
    assert_non_null(strstr(line, "/other/sym-child has "));
    assert_null(strstr(line, "; crash_here at"));
    assert_null(strstr(text, "sym-child.c:"));
    free(text);
    /* No directory: the module's path names nothing. */
    text = symbolize(NULL, NULL, out);
    assert_true(line_with(text, line, sizeof line, "backtrace #0 ", NULL));
    assert_non_null(strstr(line, "; no file for build-id "));
    free(text);
}

#ifdef TEST_TOOL_HAS_LIBDW
/* nblog dmesg --symbolize (--debug-dir implies it): the same names, in
 * the formats that stay text; JSON refuses it (usage). */
static void dmesg_symbolizes(void **state)
{
    (void)state;
    char keep[PATH_CAP], ring[PATH_CAP], out[PATH_CAP], want[64], line[1024];
    in_dir(keep, "keep");
    in_dir(ring, "ring");
    in_dir(out, "dmesg-sym.txt");
    snprintf(want, sizeof want, "sym-child.c:%d", marker_line("/* CRASH-HERE */"));
    const char *formats[] = {"plain", "short", "kmsg", "cat"};
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        char *argv[] = {NBLOG_TOOL, "dmesg", "-o", (char *)formats[i], "--debug-dir", keep,
                        ring, NULL};
        int st;
        char *text = run(argv, NULL, out, &st);
        assert_int_equal(st, 0);
        assert_true(line_with(text, line, sizeof line, "backtrace #0 ", "; crash_here at ",
                              want, NULL));
        assert_true(line_with(text, line, sizeof line, "fatal signal 11", NULL));
        assert_null(strstr(line, "; "));
        free(text);
    }
    char *argv[] = {NBLOG_TOOL, "dmesg", "-o", "json", "--symbolize", ring, NULL};
    int st;
    free(run(argv, NULL, out, &st));
    assert_int_equal(st, 2);
}
#endif

static void parse(const char *line, int want, struct tool_frame *f)
{
    assert_int_equal(tool_symbolize_parse(line, strlen(line), f), want);
}

static void parser_forms(void **state)
{
    (void)state;
    struct tool_frame f;
    /* kmsg, with the function; a path holding "+0x" and spaces. */
    parse("0,12,345,-;backtrace #3 /a b/x+0x1+0x9f build-id 0aFF in f+0x2 [0x7f00]", 1, &f);
    assert_int_equal(f.index, 3);
    assert_int_equal(f.module_len, strlen("/a b/x+0x1"));
    assert_memory_equal(f.module, "/a b/x+0x1", f.module_len);
    assert_int_equal(f.offset, 0x9f);
    assert_int_equal(f.elf_address, 1);
    assert_int_equal(f.build_id_len, 2);
    assert_int_equal(f.build_id[0], 0x0a);
    assert_int_equal(f.build_id[1], 0xff);
    assert_int_equal(f.addr, 0x7f00);
    /* The /proc/self/maps fallback: a file offset, no build-id. */
    parse("[  1.000000] emerg #9 tid 1: backtrace #0 /lib/x.so+0x10 [0x20]", 1, &f);
    assert_int_equal(f.elf_address, 0);
    assert_int_equal(f.build_id_len, 0);
    assert_int_equal(f.offset, 0x10);
    /* No module; a module without build-id note ("none"); in JSON. */
    parse("backtrace #4 [0x1234]", 1, &f);
    assert_int_equal(f.module_len, 0);
    assert_int_equal(f.addr, 0x1234);
    parse("{\"text\":\"backtrace #1 /m+0x5 build-id none [0x6]\"}", 1, &f);
    assert_int_equal(f.elf_address, 1);
    assert_int_equal(f.build_id_len, 0);
    /* Not frames. */
    parse("backtrace #", 0, &f);
    parse("backtrace #x /m+0x5 [0x6]", 0, &f);
    parse("backtrace #1 /m+0x [0x6]", 0, &f);
    parse("backtrace #1 /m+0x5zz [0x6]", 0, &f);
    parse("backtrace #1 +0x5 [0x6]", 0, &f);
    parse("backtrace #12345678901 /m+0x5 [0x6]", 0, &f);
    parse("no frame here", 0, &f);
    /* A bad first "backtrace #" does not hide a good one after it. */
    parse("backtrace #z then backtrace #2 /m+0x5 [0x6]", 1, &f);
    assert_int_equal(f.index, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parser_forms),
        cmocka_unit_test(report_names_functions),
#ifdef TEST_TOOL_HAS_LIBDW
        cmocka_unit_test(symbolize_moved_binary),
        cmocka_unit_test(mismatch_is_reported),
        cmocka_unit_test(dmesg_symbolizes),
#else
        cmocka_unit_test(no_libdw_says_so),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * symbolize.c - `nblog symbolize [-d DIR]... [FILE|-]`: the frames of a
 * crash report to function, file and line.
 *
 * A crash report (docs/nblog.3, CRASH REPORTS) has one record per frame:
 *
 *   backtrace #N MODULE+0xADDR build-id HEX in FUNCTION+0xOFF [0xRUNTIME]
 *
 * ADDR is the frame's address in MODULE's ELF file (its load bias taken
 * off) and HEX the module's GNU build-id, both recorded by the library
 * before the crash; a frame the library found only in /proc/self/maps has
 * no build-id and a file offset instead ("MODULE+0xOFF [0xRUNTIME]").
 * This command reads nblog output (any format of nblog dmesg: it looks for
 * "backtrace #" anywhere in a line), copies every line and appends to each
 * frame "; FUNCTION at FILE:LINE" from the module's DWARF, read with
 * elfutils libdwfl. Not signal-safe code: it is a tool, run later and
 * elsewhere, and may allocate.
 *
 * WHICH FILE. The build-id decides: a frame is symbolized only with a
 * file whose build-id is the frame's, looked for in this order:
 *   1. MODULE itself (the path the crashed process had loaded),
 *   2. each -d DIR: DIR/basename(MODULE), DIR/.build-id/xx/rest.debug,
 *      DIR/.build-id/xx/rest,
 *   3. /usr/lib/debug/.build-id/xx/rest.debug (Debian's -dbgsym packages),
 *   4. debuginfod (DEBUGINFOD_URLS set, and built with libdebuginfod):
 *      the debuginfo, then the executable, by build-id.
 * A file found with another build-id is never used: the frame says
 * "build-id mismatch" and names it (a rebuild moved every address). The
 * file found may lack DWARF (stripped): libdwfl's standard debuginfo
 * search (.gnu_debuglink, .build-id under each -d DIR and /usr/lib/debug,
 * and debuginfod) finds it. A frame without build-id (the maps fallback)
 * uses MODULE or DIR/basename unchecked and says so.
 *
 * Built without libdw (CMake found none) the subcommand says so and exits
 * 1; the parser (tool_symbolize_parse) is always built (the fuzz target
 * tests/fuzz-symbolize.c builds this file without libdw).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"
#include "tool.h"

#ifdef TOOL_HAVE_LIBDW
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#ifdef TOOL_HAVE_DEBUGINFOD
#include <elfutils/debuginfod.h>
#endif
#endif

/* ------------------------------------------------------------- parser */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses 1..16 hex digits of p[0..n) (all of them); 0, or -1 if they are
 * not that. */
static int parse_hex_all(const char *p, size_t n, unsigned long long *out)
{
    if (n == 0 || n > 16)
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hex_value(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    return (size_t)(end - p) < n ? NULL : memmem(p, (size_t)(end - p), needle, n);
}

/* " [0xHEX]" at p: the runtime address. */
static void parse_addr(const char *p, const char *end, struct tool_frame *f)
{
    if (end - p < 4 || p[0] != ' ' || p[1] != '[' || p[2] != '0' || p[3] != 'x')
        return;
    p += 4;
    const char *close = memchr(p, ']', (size_t)(end - p));
    unsigned long long v;
    if (close && parse_hex_all(p, (size_t)(close - p), &v) == 0)
        f->addr = v;
}

/* One frame starting right after "backtrace #" at p; 1 if it parses. */
static int parse_at(const char *p, const char *end, struct tool_frame *f)
{
    memset(f, 0, sizeof *f);
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (++digits > 9)
            return 0;
        f->index = f->index * 10 + (unsigned long)(*p++ - '0');
    }
    if (!digits || p >= end || *p != ' ')
        return 0;
    if (end - p >= 2 && p[1] == '[') { /* "backtrace #N [0x...]": no module */
        parse_addr(p, end, f);
        return 1;
    }
    p++;
    const char *bid = find(p, end, " build-id "), *br = find(p, end, " [");
    const char *tok_end = bid && (!br || bid < br) ? bid : br;
    if (!tok_end)
        return 0;
    /* MODULE+0xOFF: the last "+0x" before tok_end (a path may hold one). */
    size_t n = (size_t)(tok_end - p), plus = n;
    for (size_t i = n >= 3 ? n - 3 + 1 : 0; i-- > 0;)
        if (p[i] == '+' && p[i + 1] == '0' && p[i + 2] == 'x') {
            plus = i;
            break;
        }
    if (plus == n || plus == 0 || parse_hex_all(p + plus + 3, n - plus - 3, &f->offset) != 0)
        return 0;
    f->module = p;
    f->module_len = plus;
    p = tok_end;
    if (p == bid) {
        f->elf_address = 1;
        p += strlen(" build-id ");
        const char *id_end = p;
        while (id_end < end && *id_end != ' ')
            id_end++;
        size_t digits_n = (size_t)(id_end - p);
        if (digits_n % 2 == 0 && digits_n / 2 <= TOOL_BUILD_ID_MAX) {
            size_t i;
            for (i = 0; i < digits_n; i += 2) {
                int hi = hex_value(p[i]), lo = hex_value(p[i + 1]);
                if (hi < 0 || lo < 0)
                    break;
                f->build_id[i / 2] = (unsigned char)(hi << 4 | lo);
            }
            f->build_id_len = i == digits_n ? digits_n / 2 : 0;
        }
        p = id_end;
        if (end - p > 4 && !memcmp(p, " in ", 4)) { /* the function's name */
            p += 4;
            while (p < end && *p != ' ')
                p++;
        }
    }
    parse_addr(p, end, f);
    return 1;
}

int tool_symbolize_parse(const char *line, size_t len, struct tool_frame *f)
{
    const char *p = line, *end = line + len, *k;
    while ((k = find(p, end, "backtrace #")) != NULL) {
        p = k + strlen("backtrace #");
        if (parse_at(p, end, f))
            return 1;
    }
    return 0;
}

#ifdef TOOL_HAVE_LIBDW
/* ------------------------------------------------------- the symbolizer */

static void hex_id(char *out, const unsigned char *id, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[2 * n] = '\0';
}

enum { MOD_OK, MOD_NOT_FOUND, MOD_MISMATCH };

/* A module as frames name it (path and build-id), and what was found. */
struct mod_entry {
    char *path;
    unsigned char id[TOOL_BUILD_ID_MAX];
    size_t id_len;
    int state;
    char *file;      /* the file used (MOD_OK) or the mismatching one */
    char file_id[2 * TOOL_BUILD_ID_MAX + 1]; /* the mismatching file's */
    Dwfl *dwfl;
    Dwfl_Module *mod;
};

struct tool_symbolizer {
    struct tool_symbolize_opts o;
    char *debuginfo_path;
    Dwfl_Callbacks cb;
    struct mod_entry *m;
    size_t n, cap;
#ifdef TOOL_HAVE_DEBUGINFOD
    debuginfod_client *dc;
#endif
};

int tool_symbolizer_new(const struct tool_symbolize_opts *o, struct tool_symbolizer **out)
{
    struct tool_symbolizer *s = calloc(1, sizeof *s);
    if (!s)
        return tool_fail(EXIT_FAIL, "symbolize: out of memory"), -1;
    s->o = *o;
    /* libdwfl's search path for separate debuginfo: each -d DIR, then its
     * default (the file's directory, its .debug/, /usr/lib/debug). */
    size_t len = sizeof ":.debug:/usr/lib/debug";
    for (size_t i = 0; i < o->ndirs; i++)
        len += strlen(o->dirs[i]) + 1;
    s->debuginfo_path = malloc(len);
    if (!s->debuginfo_path) {
        free(s);
        return tool_fail(EXIT_FAIL, "symbolize: out of memory"), -1;
    }
    s->debuginfo_path[0] = '\0';
    for (size_t i = 0; i < o->ndirs; i++) {
        strcat(s->debuginfo_path, o->dirs[i]);
        strcat(s->debuginfo_path, ":");
    }
    strcat(s->debuginfo_path, ":.debug:/usr/lib/debug");
    s->cb.find_elf = dwfl_build_id_find_elf;
    s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    s->cb.section_address = dwfl_offline_section_address;
    s->cb.debuginfo_path = &s->debuginfo_path;
    if (o->no_debuginfod)
        unsetenv("DEBUGINFOD_URLS"); /* libdwfl's own debuginfod lookups too */
#ifdef TOOL_HAVE_DEBUGINFOD
    const char *urls = getenv("DEBUGINFOD_URLS");
    if (urls && *urls)
        s->dc = debuginfod_begin();
#endif
    *out = s;
    return 0;
}

void tool_symbolizer_free(struct tool_symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->m[i].dwfl)
            dwfl_end(s->m[i].dwfl);
        free(s->m[i].path);
        free(s->m[i].file);
    }
#ifdef TOOL_HAVE_DEBUGINFOD
    if (s->dc)
        debuginfod_end(s->dc);
#endif
    free(s->m);
    free(s->debuginfo_path);
    free(s);
}

/* Reports file alone into a new Dwfl; NULL if it is not an ELF file. */
static Dwfl *open_file(struct tool_symbolizer *s, const char *file, Dwfl_Module **mod)
{
    if (access(file, R_OK) != 0)
        return NULL;
    Dwfl *d = dwfl_begin(&s->cb);
    if (!d)
        return NULL;
    dwfl_report_begin(d);
    *mod = dwfl_report_offline(d, file, file, -1);
    dwfl_report_end(d, NULL, NULL);
    if (!*mod) {
        dwfl_end(d);
        return NULL;
    }
    return d;
}

/* Tries file for e: takes it (1) if its build-id is e's (or e has none);
 * else remembers the first mismatch. */
static int try_file(struct tool_symbolizer *s, struct mod_entry *e, const char *file)
{
    Dwfl_Module *mod;
    Dwfl *d = open_file(s, file, &mod);
    if (!d)
        return 0;
    const unsigned char *bits = NULL;
    GElf_Addr at;
    int n = dwfl_module_build_id(mod, &bits, &at);
    if (e->id_len == 0 || (n > 0 && (size_t)n == e->id_len && !memcmp(bits, e->id, e->id_len))) {
        free(e->file);
        e->file = strdup(file);
        e->dwfl = d;
        e->mod = mod;
        e->state = MOD_OK;
        return 1;
    }
    if (e->state != MOD_MISMATCH) {
        e->state = MOD_MISMATCH;
        e->file = strdup(file);
        if (n > 0)
            hex_id(e->file_id, bits, (size_t)n < TOOL_BUILD_ID_MAX ? (size_t)n : TOOL_BUILD_ID_MAX);
        else
            strcpy(e->file_id, "none");
    }
    dwfl_end(d);
    return 0;
}

static int try_path(struct tool_symbolizer *s, struct mod_entry *e, const char *fmt, const char *a,
                    const char *b, const char *c)
{
    char *file;
    if (asprintf(&file, fmt, a, b, c) < 0)
        return 0;
    int ok = try_file(s, e, file);
    free(file);
    return ok;
}

/* Finds e's file in the order the head comment gives. */
static void locate(struct tool_symbolizer *s, struct mod_entry *e)
{
    e->state = MOD_NOT_FOUND;
    if (e->path[0] && try_file(s, e, e->path))
        return;
    const char *slash = strrchr(e->path, '/');
    const char *base = slash ? slash + 1 : e->path;
    char id[2 * TOOL_BUILD_ID_MAX + 1];
    hex_id(id, e->id, e->id_len);
    for (size_t i = 0; i < s->o.ndirs; i++) {
        const char *dir = s->o.dirs[i];
        if (*base && try_path(s, e, "%s/%s%s", dir, base, ""))
            return;
        if (e->id_len > 1) {
            char head[3] = {id[0], id[1], 0};
            if (try_path(s, e, "%s/.build-id/%s/%s.debug", dir, head, id + 2) ||
                try_path(s, e, "%s/.build-id/%s/%s", dir, head, id + 2))
                return;
        }
    }
    if (e->id_len > 1) {
        char head[3] = {id[0], id[1], 0};
        if (try_path(s, e, "%s/.build-id/%s/%s.debug", "/usr/lib/debug", head, id + 2))
            return;
    }
#ifdef TOOL_HAVE_DEBUGINFOD
    if (s->dc && e->id_len > 0) {
        char *path = NULL;
        int fd = debuginfod_find_debuginfo(s->dc, e->id, (int)e->id_len, &path);
        if (fd >= 0) {
            close(fd);
            int ok = try_file(s, e, path);
            free(path);
            if (ok)
                return;
        }
        path = NULL;
        fd = debuginfod_find_executable(s->dc, e->id, (int)e->id_len, &path);
        if (fd >= 0) {
            close(fd);
            try_file(s, e, path);
            free(path);
        }
    }
#endif
}

static struct mod_entry *entry_for(struct tool_symbolizer *s, const struct tool_frame *f)
{
    for (size_t i = 0; i < s->n; i++) {
        struct mod_entry *e = &s->m[i];
        if (strlen(e->path) == f->module_len && !memcmp(e->path, f->module, f->module_len) &&
            e->id_len == f->build_id_len && !memcmp(e->id, f->build_id, f->build_id_len))
            return e;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        struct mod_entry *m = realloc(s->m, cap * sizeof *m);
        if (!m)
            return NULL;
        s->m = m;
        s->cap = cap;
    }
    struct mod_entry *e = &s->m[s->n];
    memset(e, 0, sizeof *e);
    e->path = strndup(f->module, f->module_len);
    if (!e->path)
        return NULL;
    memcpy(e->id, f->build_id, f->build_id_len);
    e->id_len = f->build_id_len;
    s->n++;
    locate(s, e);
    return e;
}

/* A file offset (a frame without build-id) to the ELF address there. */
static int offset_to_vaddr(Dwfl_Module *mod, unsigned long long off, unsigned long long *vaddr)
{
    GElf_Addr bias;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    size_t n;
    if (!elf || elf_getphdrnum(elf, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && off >= ph.p_offset &&
            off - ph.p_offset < ph.p_filesz) {
            *vaddr = off - ph.p_offset + ph.p_vaddr;
            return 0;
        }
    }
    return -1;
}

/* The compile unit holding addr, by its ranges: libdw before 0.190 finds
 * one only through .debug_aranges, which clang does not emit. */
static Dwarf_Die *cu_by_ranges(Dwfl_Module *mod, Dwarf_Addr addr, Dwarf_Addr *bias)
{
    Dwarf_Die *cu = NULL;
    while ((cu = dwfl_module_nextcu(mod, cu, bias)) != NULL)
        if (dwarf_haspc(cu, addr - *bias) == 1)
            return cu;
    return NULL;
}

/* "; FUNCTION at FILE:LINE[ inlined into CALLER at FILE:LINE...]" */
static void describe(struct mod_entry *e, const struct tool_frame *f, FILE *out)
{
    unsigned long long vaddr = f->offset;
    if (!f->elf_address && offset_to_vaddr(e->mod, f->offset, &vaddr) != 0) {
        fprintf(out, "; offset 0x%llx is in no segment of %s", f->offset, e->file);
        return;
    }
    GElf_Addr bias;
    dwfl_module_getelf(e->mod, &bias);
    /* Every frame but #0 is a return address: look at the call. */
    Dwarf_Addr pc = vaddr + bias, look = f->index > 0 && pc ? pc - 1 : pc;
    Dwarf_Addr cubias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(e->mod, look, &cubias);
    if (!cu)
        cu = cu_by_ranges(e->mod, look, &cubias);
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *l = dwfl_module_getsrc(e->mod, look);
    Dwarf_Line *dl;
    if (l)
        file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
    else if (cu && (dl = dwarf_getsrc_die(cu, look - cubias)) != NULL &&
             (file = dwarf_linesrc(dl, NULL, NULL)) != NULL)
        dwarf_lineno(dl, &line);
    Dwarf_Die *scopes = NULL;
    int ns = cu ? dwarf_getscopes(cu, look - cubias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (cu && dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
        files = NULL;
    int named = 0;
    for (int i = 0; i < ns; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine)
            continue;
        const char *name = dwarf_diename(&scopes[i]);
        fprintf(out, named ? " inlined into %s" : "; %s", name ? name : "??");
        if (file)
            fprintf(out, " at %s:%d", file, line);
        named = 1;
        if (tag == DW_TAG_subprogram)
            break;
        /* The caller's line: the inlined call's own position. */
        Dwarf_Attribute a;
        Dwarf_Word cf = 0, cl = 0;
        file = NULL;
        line = 0;
        if (files && dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &a), &cf) == 0 &&
            cf < nfiles)
            file = dwarf_filesrc(files, cf, NULL, NULL);
        if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &a), &cl) == 0)
            line = (int)cl;
    }
    free(scopes);
    if (named)
        return;
    const char *sym = dwfl_module_addrname(e->mod, look);
    fprintf(out, "; %s", sym ? sym : "??");
    if (file)
        fprintf(out, " at %s:%d", file, line);
    else
        fputs(" (no line information)", out);
}

int tool_symbolize_line(struct tool_symbolizer *s, const char *line, size_t len, FILE *out)
{
    if (len && line[len - 1] == '\n')
        len--;
    if (fwrite(line, 1, len, out) != len)
        return -1;
    struct tool_frame f;
    int frame = tool_symbolize_parse(line, len, &f);
    if (frame && f.module_len == 0) {
        fputs("; no module", out);
    } else if (frame) {
        struct mod_entry *e = entry_for(s, &f);
        char id[2 * TOOL_BUILD_ID_MAX + 1];
        hex_id(id, f.build_id, f.build_id_len);
        if (!e)
            fputs("; out of memory", out);
        else if (e->state == MOD_OK) {
            describe(e, &f, out);
            if (f.build_id_len == 0)
                fprintf(out, " (no build-id: %s not checked)", e->file);
        } else if (e->state == MOD_MISMATCH)
            fprintf(out, "; build-id mismatch: %s has %s, the frame %s", e->file, e->file_id,
                    f.build_id_len ? id : "none");
        else if (f.build_id_len)
            fprintf(out, "; no file for build-id %s (try -d DIR)", id);
        else
            fprintf(out, "; no file %s (try -d DIR)", e->path);
    }
    if (putc('\n', out) == EOF || ferror(out))
        return -1;
    return frame;
}

#else /* !TOOL_HAVE_LIBDW */

struct tool_symbolizer {
    int unused;
};

int tool_symbolizer_new(const struct tool_symbolize_opts *o, struct tool_symbolizer **out)
{
    (void)o;
    *out = NULL;
    tool_fail(EXIT_FAIL, "symbolize: this nblog was built without elfutils libdw "
                         "(Debian: libdw-dev), so it cannot read debug information");
    return -1;
}

void tool_symbolizer_free(struct tool_symbolizer *s)
{
    (void)s;
}

int tool_symbolize_line(struct tool_symbolizer *s, const char *line, size_t len, FILE *out)
{
    (void)s;
    if (len && line[len - 1] == '\n')
        len--;
    struct tool_frame f;
    int frame = tool_symbolize_parse(line, len, &f);
    if (fwrite(line, 1, len, out) != len || putc('\n', out) == EOF)
        return -1;
    return frame;
}
#endif

/* ------------------------------------------------------- the command */

static const char symbolize_usage[] =
    "usage: nblog symbolize [OPTIONS] [FILE|-]\n"
    "\n"
    "Copies nblog output (any nblog dmesg format; standard input without FILE\n"
    "or with -) and appends to each crash report frame (\"backtrace #N ...\")\n"
    "\"; FUNCTION at FILE:LINE\", from the DWARF of the file whose build-id is\n"
    "the frame's: the module's own path, then each DIR, then\n"
    "/usr/lib/debug/.build-id, then debuginfod (DEBUGINFOD_URLS).\n"
    "\n"
    "  -d, --debug-file-directory DIR  also look in DIR: DIR/NAME and\n"
    "                      DIR/.build-id/xx/rest[.debug] (repeatable)\n"
    "      --no-debuginfod  never ask a debuginfod server\n"
    "  -h, --help          this help\n"
    "\n"
    "A frame whose file has another build-id says \"build-id mismatch\".\n"
    "Exit status: 0 ok, 1 built without libdw or a write failed, 2 usage,\n"
    "3 cannot read FILE.\n";

int nblog_cmd_symbolize(int argc, char **argv)
{
    static const struct option longs[] = {
        {"debug-file-directory", required_argument, NULL, 'd'},
        {"no-debuginfod", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    if (!dirs)
        return tool_fail(EXIT_FAIL, "symbolize: out of memory");
    struct tool_symbolize_opts o = {.dirs = dirs};
    int c, rc = EXIT_OK;
    while ((c = getopt_long(argc, argv, "d:h", longs, NULL)) != -1) {
        switch (c) {
        case 'd': dirs[o.ndirs++] = optarg; break;
        case 'N': o.no_debuginfod = 1; break;
        case 'h': free(dirs); return fputs(symbolize_usage, stdout), TOOL_HELP;
        default: free(dirs); return EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        free(dirs);
        return tool_fail(EXIT_USAGE, "symbolize takes at most one FILE");
    }
    const char *name = optind < argc ? argv[optind] : "-";
    FILE *in = strcmp(name, "-") ? fopen(name, "r") : stdin;
    if (!in) {
        rc = tool_fail(EXIT_NOFILE, "%s: %s", name, strerror(errno));
        free(dirs);
        return rc;
    }
    struct tool_symbolizer *s;
    if (tool_symbolizer_new(&o, &s) != 0) {
        if (in != stdin)
            fclose(in);
        free(dirs);
        return EXIT_FAIL;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, in)) >= 0)
        if (tool_symbolize_line(s, line, (size_t)got, stdout) < 0) {
            rc = tool_fail(EXIT_FAIL, "writing: %s", strerror(errno));
            break;
        }
    if (rc == EXIT_OK && ferror(in))
        rc = tool_fail(EXIT_NOFILE, "%s: %s", name, strerror(errno));
    if (rc == EXIT_OK && fflush(stdout) != 0)
        rc = tool_fail(EXIT_FAIL, "writing: %s", strerror(errno));
    free(line);
    tool_symbolizer_free(s);
    if (in != stdin)
        fclose(in);
    free(dirs);
    return rc;
}

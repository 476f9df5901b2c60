/*
 * modules.c - the module table: what the crash report needs to name a
 * frame, recorded before any crash (layer: panic; interface modules.h).
 *
 * WHAT IS RECORDED, AND WHEN
 *
 *   Per loaded module (dl_iterate_phdr): its path (the main executable's
 *   from /proc/self/exe), its load bias (dlpi_addr), the address ranges of
 *   its PT_LOAD segments, its GNU build-id (the NT_GNU_BUILD_ID note of a
 *   PT_NOTE segment, read from memory) and its dynamic symbol table
 *   (.dynsym and .dynstr found through the PT_DYNAMIC section in memory;
 *   the symbol count from DT_HASH or DT_GNU_HASH). For the main executable
 *   also its .symtab, copied once from the file at the first scan when it
 *   is small (SYMTAB_CAP): an executable exports few symbols, so its own
 *   functions are named only through .symtab.
 *
 *   The table is filled at init (nblog__modules_scan, from
 *   nblog__panic_setup) and refreshed by the stall watch thread when
 *   glibc's load/unload counters moved (nblog__modules_refresh): dlopen
 *   cannot be hooked, so a module loaded less than a watch pass (100 ms)
 *   before a crash, or past MODULES_MAX, is not in it and the report falls
 *   back to /proc/self/maps for that frame (module and file offset, no
 *   build-id). A module unloaded since the last scan is still in the table
 *   until the next one; a frame in its old range would read its unmapped
 *   symbol table and fault inside the handler, which then passes the
 *   signal on (panic.c step 2): the report ends early, nothing hangs.
 *
 * TWO TABLES, AND WHO READS WHICH
 *
 *   Scans are serialised by scan_lock and always write the table that is
 *   not current, then publish it; the signal handler reads the current one
 *   without a lock, counted in readers[] while it does. A scan does not
 *   write a table someone reads: it skips (the watch thread tries again a
 *   pass later; the old table stays current). The count and the current
 *   index are the two sides of a Dekker pair, all seq_cst:
 *
 *     reader: R1 readers[i]++          scan: P1 current = j (publish)
 *             R2 load current == i ?         ...
 *                (no: readers[i]--,          R3 load readers[i] == 0 ?
 *                 try the other)                (no: skip; yes: write i)
 *
 *   A reader that sees i current at R2 came before the P1 that made j
 *   current (current becomes i again only after i is written), so the
 *   scan's R3, after its P1, sees the reader's R1 unless it is done.
 *
 * MEMORY ORDERING
 *
 *   P1  scan: store current (seq_cst; release: publishes the table's
 *       fields): pairs with R2 (acquire: the reader sees them whole) and,
 *       as above, with R1/R3.
 *   R1  describe: fetch_add readers[i] (seq_cst)
 *   R2  describe: load current (seq_cst)
 *   R3  scan: load readers[i] (seq_cst), before writing table i
 *   R4  describe: fetch_sub readers[i] (release): pairs with R3: a scan
 *       that sees the count drop writes after our reads.
 *   The first load of current in describe (relaxed, R2 checks it) and in
 *   a scan (relaxed: written only under scan_lock).
 *   last_adds/last_subs, exe_symtab: written and read under scan_lock
 *   only (a fork child makes the lock anew: nblog__modules_fork_child).
 */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "modules.h"
#include "panic.h"
#include "platform.h"

#define MODULES_MAX 128
#define SEGS_MAX 8
#define BUILD_ID_MAX 32
#define PATH_MAX_REC 256
#define SYMTAB_CAP (4u << 20) /* bytes of .symtab, and of .strtab, at most */

struct module {
    uintptr_t bias;               /* dlpi_addr */
    uintptr_t lo, hi;             /* the span of its PT_LOAD segments */
    uintptr_t seg_lo[SEGS_MAX], seg_hi[SEGS_MAX];
    int nseg;
    const ElfW(Sym) *dynsym;      /* NULL if not found */
    const char *dynstr;
    size_t ndyn, dynstr_size;
    const ElfW(Sym) *symtab;      /* the executable's .symtab copy, or NULL */
    const char *strtab;
    size_t nsym, strtab_size;
    unsigned char build_id[BUILD_ID_MAX];
    unsigned build_id_len;
    char path[PATH_MAX_REC];
};

struct table {
    int n;
    struct module m[MODULES_MAX];
};

static struct table tables[2];
static _Atomic int current = -1;     /* index of the published table, -1: none */
static _Atomic unsigned readers[2];  /* describe calls reading each table */

static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long last_adds, last_subs; /* under scan_lock */

/* The main executable's .symtab, copied at the first scan (kept). */
static struct {
    int tried;
    const ElfW(Sym) *sym;
    const char *str;
    size_t nsym, str_size;
} exe_symtab;

/* ------------------------------------------------------------ scanning */

static int in_segments(const struct module *m, uintptr_t p, size_t len)
{
    for (int i = 0; i < m->nseg; i++)
        if (p >= m->seg_lo[i] && len <= m->seg_hi[i] - m->seg_lo[i] &&
            p - m->seg_lo[i] <= m->seg_hi[i] - m->seg_lo[i] - len)
            return 1;
    return 0;
}

/* A dynamic entry's address: glibc relocates most d_ptr values in place,
 * but not in a read-only dynamic section (the vDSO's). */
static uintptr_t dyn_addr(const struct module *m, ElfW(Addr) v)
{
    return (uintptr_t)v < m->bias ? m->bias + (uintptr_t)v : (uintptr_t)v;
}

/* Number of symbols a DT_GNU_HASH table covers: one past the last chain's
 * end. Reads only inside the module's segments. */
static size_t gnu_hash_count(const struct module *m, uintptr_t h)
{
    if (!in_segments(m, h, 16))
        return 0;
    const uint32_t *w = (const uint32_t *)h;
    uint32_t nbuckets = w[0], symoffset = w[1], bloom = w[2];
    uintptr_t buckets = h + 16 + (uintptr_t)bloom * sizeof(ElfW(Addr));
    if (nbuckets == 0 || nbuckets > (1u << 24) || bloom > (1u << 24) ||
        !in_segments(m, buckets, (size_t)nbuckets * 4))
        return 0;
    const uint32_t *b = (const uint32_t *)buckets;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (b[i] > last)
            last = b[i];
    if (last < symoffset)
        return symoffset;
    const uint32_t *chain = b + nbuckets;
    for (uint32_t i = last;; i++) {
        uintptr_t at = (uintptr_t)&chain[i - symoffset];
        if (!in_segments(m, at, 4))
            return 0;
        if (chain[i - symoffset] & 1u)
            return (size_t)i + 1;
    }
}

static void read_dynamic(struct module *m, const ElfW(Dyn) *dyn)
{
    uintptr_t sym = 0, str = 0, hash = 0, gnu = 0;
    size_t strsz = 0, syment = sizeof(ElfW(Sym));
    for (const ElfW(Dyn) *d = dyn; in_segments(m, (uintptr_t)d, sizeof *d) && d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: sym = dyn_addr(m, d->d_un.d_ptr); break;
        case DT_STRTAB: str = dyn_addr(m, d->d_un.d_ptr); break;
        case DT_STRSZ: strsz = (size_t)d->d_un.d_val; break;
        case DT_SYMENT: syment = (size_t)d->d_un.d_val; break;
        case DT_HASH: hash = dyn_addr(m, d->d_un.d_ptr); break;
        case DT_GNU_HASH: gnu = dyn_addr(m, d->d_un.d_ptr); break;
        default: break;
        }
    }
    if (!sym || !str || syment != sizeof(ElfW(Sym)) || !in_segments(m, str, strsz))
        return;
    size_t n = 0;
    if (hash && in_segments(m, hash, 8))
        n = ((const uint32_t *)hash)[1]; /* nchain: the symbol count */
    else if (gnu)
        n = gnu_hash_count(m, gnu);
    if (n == 0 || !in_segments(m, sym, n * sizeof(ElfW(Sym))))
        return;
    m->dynsym = (const ElfW(Sym) *)sym;
    m->dynstr = (const char *)str;
    m->ndyn = n;
    m->dynstr_size = strsz;
}

static void read_build_id(struct module *m, uintptr_t p, size_t len, size_t align)
{
    align = align == 8 ? 8 : 4;
    uintptr_t end = p + len;
    while (end - p >= sizeof(ElfW(Nhdr))) {
        const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
        size_t name = (nh->n_namesz + align - 1) & ~(align - 1);
        size_t desc = (nh->n_descsz + align - 1) & ~(align - 1);
        uintptr_t d = p + sizeof *nh + name;
        if (name > end - p || desc > end - p || d + desc > end)
            return;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
            !memcmp((const char *)(p + sizeof *nh), "GNU", 4) && nh->n_descsz > 0) {
            unsigned n = nh->n_descsz < BUILD_ID_MAX ? nh->n_descsz : BUILD_ID_MAX;
            memcpy(m->build_id, (const void *)d, n);
            m->build_id_len = n;
            return;
        }
        p = d + desc;
    }
}

/* Copies the main executable's .symtab and its string table from the
 * file, once, if each is at most SYMTAB_CAP bytes. */
static void read_exe_symtab(void)
{
    if (exe_symtab.tried)
        return;
    exe_symtab.tried = 1;
    int fd = nblog__fd_mine(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return;
    ElfW(Ehdr) eh;
    ElfW(Shdr) *sh = NULL;
    void *sym = NULL, *str = NULL;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0 || eh.e_shnum > 4096)
        goto out;
    size_t shsize = (size_t)eh.e_shnum * sizeof *sh;
    sh = malloc(shsize);
    if (!sh || pread(fd, sh, shsize, (off_t)eh.e_shoff) != (ssize_t)shsize)
        goto out;
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh.e_shnum ||
            sh[i].sh_entsize != sizeof(ElfW(Sym)))
            continue;
        const ElfW(Shdr) *s = &sh[i], *t = &sh[s->sh_link];
        if (s->sh_size > SYMTAB_CAP || t->sh_size > SYMTAB_CAP || t->sh_size == 0)
            break;
        sym = malloc(s->sh_size);
        str = malloc(t->sh_size);
        if (!sym || !str || pread(fd, sym, s->sh_size, (off_t)s->sh_offset) != (ssize_t)s->sh_size ||
            pread(fd, str, t->sh_size, (off_t)t->sh_offset) != (ssize_t)t->sh_size)
            break;
        exe_symtab.sym = sym;
        exe_symtab.str = str;
        exe_symtab.nsym = s->sh_size / sizeof(ElfW(Sym));
        exe_symtab.str_size = t->sh_size;
        sym = str = NULL; /* kept */
        break;
    }
out:
    free(sym);
    free(str);
    free(sh);
    close(fd);
}

struct scan {
    struct table *t;
    int first;
};

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct scan *s = arg;
    int first = s->first;
    s->first = 0;
    if (first && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        last_adds = info->dlpi_adds;
        last_subs = info->dlpi_subs;
    }
    if (s->t->n >= MODULES_MAX)
        return 1;
    struct module *m = &s->t->m[s->t->n];
    memset(m, 0, sizeof *m);
    m->bias = (uintptr_t)info->dlpi_addr;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && m->nseg < SEGS_MAX && ph->p_memsz) {
            uintptr_t lo = m->bias + (uintptr_t)ph->p_vaddr, hi = lo + (uintptr_t)ph->p_memsz;
            m->seg_lo[m->nseg] = lo;
            m->seg_hi[m->nseg++] = hi;
            if (m->lo == 0 || lo < m->lo)
                m->lo = lo;
            if (hi > m->hi)
                m->hi = hi;
        } else if (ph->p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(m->bias + (uintptr_t)ph->p_vaddr);
        }
    }
    if (m->nseg == 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && !m->build_id_len; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t p = m->bias + (uintptr_t)ph->p_vaddr;
        if (ph->p_type == PT_NOTE && in_segments(m, p, ph->p_memsz))
            read_build_id(m, p, ph->p_memsz, ph->p_align);
    }
    if (dyn)
        read_dynamic(m, dyn);
    const char *name = info->dlpi_name;
    if (first && (!name || !name[0])) { /* the main executable */
        ssize_t got = readlink("/proc/self/exe", m->path, sizeof m->path - 1);
        m->path[got > 0 ? got : 0] = '\0';
        m->symtab = exe_symtab.sym;
        m->strtab = exe_symtab.str;
        m->nsym = exe_symtab.nsym;
        m->strtab_size = exe_symtab.str_size;
    } else {
        nblog__format(m->path, sizeof m->path, "%s", name ? name : "");
    }
    s->t->n++;
    return 0;
}

/* Scans into the table that is not current and publishes it, unless a
 * reader is in it (then the current table stays): 1 if it did. */
static int scan_locked(void)
{
    /* Relaxed: current is written only under scan_lock. */
    int cur = atomic_load_explicit(&current, memory_order_relaxed);
    int idx = cur == 0 ? 1 : 0;
    /* R3, seq_cst: pairs with R1 (after our last P1), and with R4. */
    if (atomic_load_explicit(&readers[idx], memory_order_seq_cst) != 0)
        return 0;
    struct table *t = &tables[idx];
    t->n = 0;
    struct scan s = {t, 1};
    dl_iterate_phdr(scan_one, &s);
    /* P1, seq_cst: pairs with R2 (publishes the fields) and R3. */
    atomic_store_explicit(&current, idx, memory_order_seq_cst);
    return 1;
}

void nblog__modules_scan(void)
{
    pthread_mutex_lock(&scan_lock);
    read_exe_symtab();
    scan_locked();
    pthread_mutex_unlock(&scan_lock);
}

void nblog__modules_fork_child(void)
{
    /* Only this thread exists: a scan the parent's watch thread was in
     * holds the lock forever here. The tables stay valid (same mappings). */
    pthread_mutex_init(&scan_lock, NULL);
    /* Relaxed: one thread; readers the parent had are not here. */
    atomic_store_explicit(&readers[0], 0, memory_order_relaxed);
    atomic_store_explicit(&readers[1], 0, memory_order_relaxed);
}

static int counters(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1; /* the first module is enough */
}

int nblog__modules_refresh(void)
{
    /* Relaxed: a hint; a panic in progress may be reading the table. */
    if (atomic_load_explicit(&nblog__panicking, memory_order_relaxed))
        return 0;
    if (pthread_mutex_trylock(&scan_lock) != 0)
        return 0; /* a scan is running */
    unsigned long long c[2] = {last_adds, last_subs};
    dl_iterate_phdr(counters, c);
    int fresh = 1;
    if (c[0] != last_adds || c[1] != last_subs)
        fresh = scan_locked();
    pthread_mutex_unlock(&scan_lock);
    return fresh;
}

/* ------------------------------------------------------------- reading */

/* The sized function symbol of syms covering vaddr (relative to the
 * module's bias), and vaddr's offset in it; NULL if none. */
static const char *covering(const ElfW(Sym) *syms, size_t n, const char *str, size_t strsz,
                            uintptr_t vaddr, uintptr_t *off)
{
    const ElfW(Sym) *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const ElfW(Sym) *s = &syms[i];
        int type = ELF64_ST_TYPE(s->st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF ||
            s->st_size == 0 || vaddr < s->st_value || vaddr - s->st_value >= s->st_size)
            continue;
        if (s->st_name == 0 || s->st_name >= strsz || !memchr(str + s->st_name, '\0', strsz - s->st_name))
            continue;
        if (!best || ELF64_ST_BIND(s->st_info) == STB_GLOBAL)
            best = s; /* a global name over a local alias */
    }
    if (!best)
        return NULL;
    *off = vaddr - best->st_value;
    return str + best->st_name;
}

/* Formats addr's frame from table t into buf; 0 if t has no module there. */
static int describe_in(const struct table *t, uintptr_t addr, int return_address, char *buf,
                       size_t cap)
{
    const struct module *m = NULL;
    for (int i = 0; i < t->n && i < MODULES_MAX && !m; i++)
        if (addr >= t->m[i].lo && addr < t->m[i].hi)
            for (int k = 0; k < t->m[i].nseg && k < SEGS_MAX; k++)
                if (addr >= t->m[i].seg_lo[k] && addr < t->m[i].seg_hi[k])
                    m = &t->m[i];
    if (!m)
        return 0;
    char id[2 * BUILD_ID_MAX + 1];
    static const char hex[] = "0123456789abcdef";
    unsigned n = m->build_id_len < BUILD_ID_MAX ? m->build_id_len : BUILD_ID_MAX;
    for (unsigned i = 0; i < n; i++) {
        id[2 * i] = hex[m->build_id[i] >> 4];
        id[2 * i + 1] = hex[m->build_id[i] & 15];
    }
    id[2 * n] = '\0';
    uintptr_t vaddr = addr - m->bias, look = return_address && vaddr ? vaddr - 1 : vaddr, off = 0;
    const char *fn = NULL;
    if (m->symtab)
        fn = covering(m->symtab, m->nsym, m->strtab, m->strtab_size, look, &off);
    if (!fn && m->dynsym)
        fn = covering(m->dynsym, m->ndyn, m->dynstr, m->dynstr_size, look, &off);
    if (fn && return_address && vaddr)
        off++; /* the offset of addr itself */
    /* The function before the address: the line still ends with ']'
     * (a cut line shows), and no path or name can hide the build-id. */
    size_t at = nblog__format(buf, cap, "%s+0x%lx build-id %s", m->path[0] ? m->path : "?",
                              (unsigned long)vaddr, n ? id : "none");
    if (fn && at < cap)
        at += nblog__format(buf + at, cap - at, " in %.96s+0x%lx", fn, (unsigned long)off);
    if (at < cap)
        nblog__format(buf + at, cap - at, " [%p]", (void *)addr);
    return 1;
}

int nblog__modules_describe(uintptr_t addr, int return_address, char *buf, size_t cap)
{
    if (cap < 2)
        return 0;
    for (int tries = 0; tries < 2; tries++) {
        /* Relaxed: R2 below checks it. */
        int idx = atomic_load_explicit(&current, memory_order_relaxed);
        if (idx < 0)
            return 0;
        /* R1, seq_cst: pairs with R3, a scan's check before it writes. */
        atomic_fetch_add_explicit(&readers[idx], 1, memory_order_seq_cst);
        /* R2, seq_cst: pairs with P1 (the fields are whole) and R3. */
        int still = atomic_load_explicit(&current, memory_order_seq_cst) == idx;
        int ok = still && describe_in(&tables[idx], addr, return_address, buf, cap);
        /* R4, release: pairs with R3: our reads come before its writes. */
        atomic_fetch_sub_explicit(&readers[idx], 1, memory_order_release);
        if (still)
            return ok;
    }
    return 0; /* two scans in a row under us: the caller falls back */
}

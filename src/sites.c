/*
 * sites.c - the call-site table: where each record was logged from.
 * Layer: store (ring.h declares it; the table is part of the ring's
 * memory, after the data area). [signal-safe]
 *
 * DESIGN
 *
 * The logging macros keep, per call site, a static nblog__where_t (nblog.h)
 * holding __FILE__, __LINE__ and __func__, which are constants: the call
 * passes one pointer and copies nothing of them. A record names its site by
 * a 16-bit number in its slot's meta2 (ring.h), so what a call pays for its
 * location is a load of the site's cache word, a compare with the ring's
 * site_gen and a shift into a word it stores anyway.
 *
 * The number is an index into a table in the ring itself, not a pointer:
 * a ring file's readers run in other processes (and after the writer is
 * gone: SIGKILL, a crash), where the writer's addresses mean nothing. The
 * first call of a site in a ring finds or makes the entry of its location
 * and caches (site_gen, index + 1) in the site's word (log.c
 * nblog__site_slow); a ring this process made later has another site_gen
 * (nblog__ring_site_gen_next), so no cache outlives its ring.
 *
 * The table is open-addressed by a hash of the location, probed linearly;
 * entries are made once and never changed, never removed. A ring file
 * resumed by a later run of the program finds its entries where the last
 * run made them (the same location hashes the same), so the table holds
 * each distinct location once however many runs wrote the file. An entry
 * holds the file's last bytes and the function's first ones
 * (NBLOG__SITE_TEXT in all, the function at most NBLOG__SITE_FUNC_MAX),
 * compared as stored: two files whose names end alike past the entry's
 * room, at the same line in functions of the same name, share an entry.
 * A C0 control or DEL in a name is stored as '?'.
 *
 *   state EMPTY --CAS by the writer making it--> hash << 2 | WRITING
 *               --S1, after line, lengths, text--> hash << 2 | READY
 *
 * A writer that finds its hash WRITING does not wait (the maker may be a
 * preempted thread, or the code its own signal handler interrupted): the
 * record goes without a site (BUSY) and the site asks again at its next
 * call. A full table (every entry probed) is FULL: cached, so the site's
 * records go without one and nobody probes again. Resume (a dead writer's
 * file) forgets entries left WRITING.
 *
 * Readers trust nothing of an entry (a ring file is hostile, and its
 * writer may be rewriting it): the index is bounded, the state must be
 * READY, the lengths within the entry, the bytes printable, and the hash
 * of what they copied must be the one the state says.
 *
 * ORDERING
 *
 *   S1  release store of READY, after the entry's plain stores; pairs with
 *       S2, the acquire load of the state by a writer probing and by
 *       nblog__ring_site_get.
 *   C2/C3 (log.c): the site's cache word, release after S1 / acquire
 *       before the record's own store (ring.c W3), so a reader that got
 *       the record (R1) also sees the entry ready.
 */
#include <assert.h>
#include <stdatomic.h>
#include <string.h>

#include "ring.h"

#define ST(s) ((unsigned)((s) & 3u))
#define HASH(s) ((s) >> 2) /* 64 bits: a forged state's high bits do not match */
#define STATE(h, st) ((uint64_t)(h) << 2 | (st))

static _Atomic uint32_t gen_counter;

uint32_t nblog__ring_site_gen_next(void)
{
    /* Relaxed: a counter; each ring takes its value before it is published. */
    uint32_t g = atomic_fetch_add_explicit(&gen_counter, 1, memory_order_relaxed) + 1;
    if (g == 0) /* after 2^32 rings: 0 means "no cache" */
        g = atomic_fetch_add_explicit(&gen_counter, 1, memory_order_relaxed) + 1;
    return g;
}

static struct nblog__site_entry *entry_at(const struct nblog__ring_hdr *r, uint32_t i)
{
    assert(i < r->sites);
    return (struct nblog__site_entry *)((uintptr_t)r + (uintptr_t)nblog__ring_sites_offset(r) +
                                        (uintptr_t)i * NBLOG__SITE_ENTRY);
}

/* FNV-1a over the stored form; never 0 (a READY state has a hash). */
static uint32_t site_hash(uint32_t line, const char *text, unsigned flen, unsigned fnlen)
{
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i < 4; i++)
        h = (h ^ ((line >> (8 * i)) & 0xff)) * 16777619u;
    h = (h ^ flen) * 16777619u;
    for (unsigned i = 0; i < flen + fnlen; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    h &= 0x3fffffffu; /* fits beside the state in the low bits' place */
    return h ? h : 1;
}

/* The stored form of a location: the file's last bytes, the function's
 * first, in text[NBLOG__SITE_TEXT]. */
static void stored_form(const char *file, const char *func, char *text, unsigned *flen,
                        unsigned *fnlen)
{
    size_t fn = func ? strnlen(func, NBLOG__SITE_FUNC_MAX) : 0;
    size_t room = NBLOG__SITE_TEXT - fn;
    size_t fl = file ? strlen(file) : 0;
    const char *ftail = fl > room ? file + (fl - room) : file;
    if (fl > room)
        fl = room;
    if (fl)
        memcpy(text, ftail, fl);
    if (fn)
        memcpy(text + fl, func, fn);
    /* A C0 control or DEL (a #line "tab\t.c") becomes '?': readers refuse
     * an entry holding one (a hostile file's), not a program's odd name. */
    for (size_t i = 0; i < fl + fn; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            text[i] = '?';
    *flen = (unsigned)fl;
    *fnlen = (unsigned)fn;
}

uint32_t nblog__ring_site_register(struct nblog__ring_hdr *r, const char *file,
                                   unsigned line, const char *func)
{
    char text[NBLOG__SITE_TEXT];
    unsigned flen, fnlen;
    stored_form(file, func, text, &flen, &fnlen);
    uint32_t h = site_hash(line, text, flen, fnlen);
    uint32_t n = r->sites, mask = n - 1;
    assert(n && !(n & mask));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t idx = (h + i) & mask;
        struct nblog__site_entry *e = entry_at(r, idx);
        /* S2: pairs with S1. */
        uint64_t st = atomic_load_explicit(&e->state, memory_order_acquire);
        if (st == NBLOG__SITE_EMPTY) {
            /* Acquire (S2 again, for the state another writer put there
             * when it fails); the entry itself is published by S1. */
            if (atomic_compare_exchange_strong_explicit(
                    &e->state, &st, STATE(h, NBLOG__SITE_WRITING), memory_order_acquire,
                    memory_order_acquire)) {
                e->line = line;
                e->file_len = (uint8_t)flen;
                e->func_len = (uint8_t)fnlen;
                e->pad = 0;
                memcpy(e->text, text, flen + fnlen);
                memset(e->text + flen + fnlen, 0, NBLOG__SITE_TEXT - flen - fnlen);
                /* S1: pairs with S2. */
                atomic_store_explicit(&e->state, STATE(h, NBLOG__SITE_READY),
                                      memory_order_release);
                return idx + 1;
            }
        }
        if (HASH(st) != h)
            continue;
        if (ST(st) == NBLOG__SITE_WRITING)
            return NBLOG__SITE_BUSY;
        if (ST(st) == NBLOG__SITE_READY && e->line == line && e->file_len == flen &&
            e->func_len == fnlen && memcmp(e->text, text, flen + fnlen) == 0)
            return idx + 1;
    }
    return NBLOG__SITE_FULL;
}

int nblog__ring_site_get(const struct nblog__ring_hdr *r, uint32_t site,
                         struct nblog__loc *out)
{
    if (site == 0 || site > r->sites)
        return 0;
    const struct nblog__site_entry *e = entry_at(r, site - 1);
    /* S2: pairs with S1. */
    uint64_t st = atomic_load_explicit((_Atomic uint64_t *)&e->state, memory_order_acquire);
    if (ST(st) != NBLOG__SITE_READY)
        return 0;
    /* Copied once, then checked: a hostile writer may change it under us. */
    struct nblog__site_entry c;
    memcpy(&c.line, &e->line, NBLOG__SITE_ENTRY - offsetof(struct nblog__site_entry, line));
    unsigned flen = c.file_len, fnlen = c.func_len;
    if (fnlen > NBLOG__SITE_FUNC_MAX || flen + fnlen > NBLOG__SITE_TEXT)
        return 0;
    for (unsigned i = 0; i < flen + fnlen; i++) {
        unsigned char ch = (unsigned char)c.text[i];
        if (ch < 0x20 || ch == 0x7f)
            return 0;
    }
    if (site_hash(c.line, c.text, flen, fnlen) != HASH(st))
        return 0;
    out->line = c.line;
    memcpy(out->file, c.text, flen);
    out->file[flen] = '\0';
    memcpy(out->func, c.text + flen, fnlen);
    out->func[fnlen] = '\0';
    return 1;
}

void nblog__ring_sites_resume(struct nblog__ring_hdr *r)
{
    /* Relaxed: nblog__ring_resume's single-threaded pass (see there). */
    for (uint32_t i = 0; i < r->sites; i++) {
        struct nblog__site_entry *e = entry_at(r, i);
        uint64_t st = atomic_load_explicit(&e->state, memory_order_relaxed);
        if (ST(st) != NBLOG__SITE_READY && st != NBLOG__SITE_EMPTY)
            atomic_store_explicit(&e->state, NBLOG__SITE_EMPTY, memory_order_relaxed);
    }
}

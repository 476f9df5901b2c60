/*
 * fuzz-seedgen.c - writes the fuzz-reader seeds (tests/fuzz-seeds/) for
 * the current ring layout: each names a field by its offset in the
 * template ring (fuzz-template.h), so a layout change is a rebuild and a
 * run away (cmake --build build --target fuzz-seedgen; then
 * build/tests/fuzz-seedgen tests/fuzz-seeds). Two kinds, as fuzz-reader
 * reads them: XOR seeds (mode 2: byte 0, then the offset / 8 in two
 * bytes, two bytes of cut, then bytes XORed over the template there) and
 * follow seeds (mode 4: then mutations of two bytes of offset, a length
 * and that many bytes, written into the followed file one after another).
 * Layout 5 added the call-site table (ring.h, sites.c): seeds for its
 * hostile entries (lengths, state, hash, bytes; some made by the table's
 * own writer code in a scratch ring, so their hash is right and only the
 * reader's other checks or the renderers' escaping stand in the way),
 * records naming entries past the table, and entries rewritten under a
 * follower.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-template.h"

static const char *dir;
static unsigned char *tmpl;

static void write_seed(const char *name, const unsigned char *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static uint64_t u64_at(size_t off)
{
    uint64_t v;
    memcpy(&v, tmpl + off, 8);
    return v;
}

/* Mode 2: the 8-byte word at off (8-aligned) becomes v. */
static void xor_seed(const char *name, size_t off, uint64_t v)
{
    unsigned char b[13] = {2, (unsigned char)(off / 8 >> 8), (unsigned char)(off / 8), 0, 0};
    uint64_t x = u64_at(off) ^ v;
    memcpy(b + 5, &x, 8);
    write_seed(name, b, sizeof b);
}

/* Mode 4: mutations (offset, bytes) in turn; n of them. */
struct mut {
    size_t off;
    size_t len;
    const void *bytes;
};

static void follow_seed(const char *name, const struct mut *m, int n)
{
    unsigned char b[1024];
    size_t at = 0;
    b[at++] = 4;
    for (int i = 0; i < n; i++) {
        b[at++] = (unsigned char)(m[i].off >> 8);
        b[at++] = (unsigned char)m[i].off;
        b[at++] = (unsigned char)m[i].len;
        memcpy(b + at, m[i].bytes, m[i].len);
        at += m[i].len;
    }
    write_seed(name, b, at);
}

/* Mode 2 over n bytes: those at off (8-aligned) become bytes. */
static void xor_bytes_seed(const char *name, size_t off, const void *bytes, size_t n)
{
    unsigned char b[5 + NBLOG__SITE_ENTRY];
    if (n > NBLOG__SITE_ENTRY || off % 8) {
        fprintf(stderr, "%s: bad seed\n", name);
        exit(1);
    }
    b[0] = 2;
    b[1] = (unsigned char)(off / 8 >> 8);
    b[2] = (unsigned char)(off / 8);
    b[3] = b[4] = 0;
    for (size_t i = 0; i < n; i++)
        b[5 + i] = tmpl[off + i] ^ ((const unsigned char *)bytes)[i];
    write_seed(name, b, 5 + n);
}

/* Where the template's entry for template_sites[k] is. */
static size_t site_off(int k)
{
    const struct nblog__ring_hdr *r = (const void *)tmpl;
    size_t at = (size_t)nblog__ring_sites_offset(r);
    for (uint32_t i = 0; i < r->sites; i++) {
        const struct nblog__site_entry *e = (const void *)(tmpl + at + i * NBLOG__SITE_ENTRY);
        if ((u64_at(at + i * NBLOG__SITE_ENTRY) & 3) == NBLOG__SITE_READY &&
            e->line == template_sites[k].line)
            return at + i * NBLOG__SITE_ENTRY;
    }
    fprintf(stderr, "site %d not in the template\n", k);
    exit(1);
}

/* The entry the table's writer makes for (file, line, func), hash and
 * all, made in a scratch ring, into out. */
static void made_entry(const char *file, unsigned line, const char *func,
                       unsigned char out[NBLOG__SITE_ENTRY])
{
    void *m;
    template_ring(&m);
    uint32_t idx = nblog__ring_site_register(m, file, line, func);
    if (idx == 0 || idx > ((struct nblog__ring_hdr *)m)->sites) {
        fprintf(stderr, "cannot make an entry for %s\n", file);
        exit(1);
    }
    memcpy(out, (char *)m + nblog__ring_sites_offset(m) + (size_t)(idx - 1) * NBLOG__SITE_ENTRY,
           NBLOG__SITE_ENTRY);
    free(m);
}

#define HDR(field) offsetof(struct nblog__ring_hdr, field)
#define ENTRY(field) offsetof(struct nblog__site_entry, field)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-seedgen DIR\n");
        return 2;
    }
    dir = argv[1];
    void *mem;
    size_t bytes = template_ring(&mem);
    tmpl = mem;
    const struct nblog__ring_hdr *r = mem;
    size_t slots = r->slots_offset, data = slots + (size_t)r->records * r->record_size;
    uint64_t head = u64_at(HDR(head));
    printf("template: %zu bytes, head %llu, slots at %zu, data at %zu (%llu granules)\n", bytes,
           (unsigned long long)head, slots, data, (unsigned long long)r->data_granules);

    /* The sequence limits and first_seq (as before the data area). */
    xor_seed("head-near-seq-limit", HDR(head), NBLOG__SEQ_LIMIT - 2);
    xor_seed("head-past-seq-limit", HDR(head), NBLOG__SEQ_LIMIT + 5);
    xor_seed("head-wraps-u64", HDR(head), UINT64_MAX);
    xor_seed("first-seq-above-head", HDR(first_seq), head + 1);
    /* Epoch 1's gen flipped: no record's epoch is found (the closest). */
    xor_seed("epoch-gen-flipped", HDR(epochs) + sizeof(struct nblog__wall_epoch), ~(uint64_t)1);

    /* The data area's header fields: each refused by validation. */
    uint64_t tm_word = u64_at(HDR(text_max)); /* text_max | granule_size << 32 */
    xor_seed("data-text-max-over-limit", HDR(text_max),
             (tm_word & ~(uint64_t)0xffffffff) | (NBLOG__TEXT_MAX_LIMIT + 1));
    xor_seed("data-granule-size-wrong", HDR(text_max),
             (tm_word & 0xffffffff) | (uint64_t)32 << 32);
    xor_seed("data-granules-not-pow2", HDR(data_granules), r->data_granules + 1);
    xor_seed("data-granules-too-few", HDR(data_granules), 16); /* < two runs of text_max */
    xor_seed("data-granules-huge", HDR(data_granules), (uint64_t)1 << 40);

    /* The newest spilled record (seq head - 2, 700 bytes) and its run. */
    uint64_t seq = head - 2;
    size_t slot = slots + (size_t)(seq % RECORDS) * RECORD_SIZE;
    size_t posw = slot + NBLOG__SLOT_HDR, meta = slot + offsetof(struct nblog__slot, meta);
    uint64_t pos = u64_at(posw);
    size_t gran = data + (size_t)(pos % r->data_granules) * NBLOG__GRANULE;
    uint64_t owner = u64_at(gran);
    printf("spilled seq %llu: slot at %zu, position %llu, first granule at %zu, owner %#llx\n",
           (unsigned long long)seq, slot, (unsigned long long)pos, gran,
           (unsigned long long)owner);
    xor_seed("spill-owner-older-seq", gran, owner - 4);          /* another record's */
    xor_seed("spill-owner-writing", gran, (owner & ~(uint64_t)3) | 1); /* pinned */
    xor_seed("spill-owner-newer-seq", gran, owner + 4 * 64);    /* a seq past head */
    xor_seed("spill-owner-bad-state", gran, owner | 3);
    xor_seed("spill-position-huge", posw, UINT64_MAX - 3);      /* masked */
    xor_seed("spill-len-over-text-max", meta, (u64_at(meta) & ~((uint64_t)0xffff << 16)) |
                                                  (uint64_t)0xffff << 16);
    xor_seed("spill-len-just-inline", meta, (u64_at(meta) & ~((uint64_t)0xffff << 16)) |
                                                (uint64_t)(RECORD_SIZE - NBLOG__SLOT_HDR) << 16);

    /* Followed files rewritten under the reader. */
    {
        uint32_t shift = 40;
        uint64_t so = (uint64_t)1 << 44, recs = (uint64_t)1 << 62, h1 = 40, h2 = 41;
        struct mut m[] = {{HDR(record_shift), 4, &shift}, {HDR(slots_offset), 8, &so},
                          {HDR(records), 8, &recs},       {HDR(head), 8, &h1},
                          {HDR(head), 8, &h2}};
        follow_seed("follow-geometry-rewritten", m, 5);
    }
    {
        uint64_t ts = (uint64_t)1 << 40, h = (uint64_t)1 << 61;
        uint32_t rs = 4096;
        struct mut m[] = {{HDR(total_size), 8, &ts}, {HDR(record_size), 4, &rs},
                          {HDR(head), 8, &h}};
        follow_seed("follow-total-size-and-head", m, 3);
    }
    {
        int64_t mx = INT64_MAX;
        uint64_t h = head + 1;
        struct mut m[] = {{HDR(epochs) + offsetof(struct nblog__wall_epoch, offset_ns) +
                               sizeof(struct nblog__wall_epoch), 8, &mx},
                          {HDR(head), 8, &h}};
        follow_seed("follow-wall-offset-int64-max", m, 2);
    }
    {
        uint64_t e[8] = {33, (uint64_t)INT64_MAX, 0, 0, 1, 0, (uint64_t)1 << 63, 0};
        uint64_t h = 20;
        struct mut m[] = {{HDR(epochs), 64, e}, {HDR(head), 8, &h}};
        follow_seed("follow-epoch-table-forged", m, 2);
    }
    {
        /* The writer goes on while the reader follows: granules of the
         * spilled record retaken (a newer owner), then its slot reused. */
        uint64_t newer = owner + 4 * 3, h = head + 2;
        uint64_t st = (uint64_t)(seq + RECORDS) << 2 | NBLOG__SLOT_COMMITTED;
        struct mut m[] = {{gran, 8, &newer}, {HDR(head), 8, &h}, {slot, 8, &st}};
        follow_seed("follow-spill-retaken", m, 3);
    }
    {
        /* A forged skip word far past head in the slot of the next seq,
         * head moved on: the reader stops at head, it does not jump. */
        size_t next = slots + (size_t)(head % RECORDS) * RECORD_SIZE;
        uint64_t skip = (uint64_t)1 << 60, h = head + 6;
        struct mut m[] = {{next + offsetof(struct nblog__slot, skip), 8, &skip},
                          {HDR(head), 8, &h}};
        follow_seed("forged-skip-beyond-head", m, 2);
    }

    /* The call-site table: entry 0 of the template's sites (src/main.c:42
     * main), named by records 0, 4, 8, ... */
    size_t e0 = site_off(0), e1 = site_off(1);
    uint64_t st0 = u64_at(e0 + ENTRY(state)), w0 = u64_at(e0 + ENTRY(line));
    printf("sites at %llu (%u entries), main.c's entry at %zu, the long one's at %zu\n",
           (unsigned long long)nblog__ring_sites_offset(r), (unsigned)r->sites, e0, e1);
    /* line:32 | file_len:8 | func_len:8 | pad:16 (little-endian) */
    uint64_t lens = w0 & 0xffffffffu;
    xor_seed("site-file-len-past-text", e0 + ENTRY(line), lens | (uint64_t)200 << 32);
    xor_seed("site-func-len-over-max", e0 + ENTRY(line),
             lens | (uint64_t)10 << 32 | (uint64_t)(NBLOG__SITE_FUNC_MAX + 1) << 40);
    xor_seed("site-lens-sum-over-text", e0 + ENTRY(line),
             lens | (uint64_t)(NBLOG__SITE_TEXT - 40) << 32 | (uint64_t)41 << 40);
    xor_seed("site-lens-sum-at-text", e1 + ENTRY(line),
             (u64_at(e1 + ENTRY(line)) & 0xffffffffu) |
                 (uint64_t)(NBLOG__SITE_TEXT - NBLOG__SITE_FUNC_MAX) << 32 |
                 (uint64_t)NBLOG__SITE_FUNC_MAX << 40);
    xor_seed("site-pad-nonzero", e0 + ENTRY(line), w0 | (uint64_t)0xbeef << 48);
    xor_seed("site-hash-forged", e0 + ENTRY(state), st0 ^ 4);
    xor_seed("site-state-writing", e0 + ENTRY(state), (st0 & ~(uint64_t)3) | NBLOG__SITE_WRITING);
    xor_seed("site-state-bad", e0 + ENTRY(state), st0 | 3);
    xor_seed("site-state-empty", e0 + ENTRY(state), NBLOG__SITE_EMPTY);
    xor_seed("site-state-hash-zero", e0 + ENTRY(state), NBLOG__SITE_READY);
    xor_seed("site-text-flipped", e0 + ENTRY(text), u64_at(e0 + ENTRY(text)) ^ 0x20);
    /* Records naming entries they should not: past the table, its last
     * one (EMPTY), the largest 16-bit index; the newest record's slot. */
    size_t newest = slots + (size_t)((head - 1) % RECORDS) * RECORD_SIZE;
    size_t meta2 = newest + offsetof(struct nblog__slot, meta2);
    uint64_t m2 = u64_at(meta2) & ~((uint64_t)0xffff << 32);
    xor_seed("site-index-past-table", meta2, m2 | (uint64_t)(r->sites + 1) << 32);
    xor_seed("site-index-last", meta2, m2 | (uint64_t)r->sites << 32);
    xor_seed("site-index-max", meta2, m2 | (uint64_t)0xffff << 32);
    /* The header's table size: refused (not records / 8 within bounds). */
    size_t sw = HDR(sites) & ~(size_t)7;
    uint64_t sv = u64_at(sw), shift = (HDR(sites) % 8) * 8;
    xor_seed("site-header-sites-doubled", sw,
             (sv & ~((uint64_t)0xffffffff << shift)) | (uint64_t)(r->sites * 2) << shift);
    xor_seed("site-header-sites-zero", sw, sv & ~((uint64_t)0xffffffff << shift));
    /* Entries the writer's own code makes, hash right: a control byte and
     * DEL (refused), bytes that are not UTF-8, a C1 CSI as UTF-8, quotes,
     * backslashes and brackets (shown, escaped), an empty location, the
     * largest line. (The committed seeds were made when the writer stored
     * a control byte as it was; it now stores '?', so regenerating turns
     * the first two into shown entries: keep the committed ones.) */
    static const struct {
        const char *name, *file;
        unsigned line;
        const char *func;
    } made[] = {
        {"site-made-control-byte", "ctl\x1b[2J.c", 42, "main"},
        {"site-made-del-byte", "del\x7f.c", 42, "main"},
        {"site-made-control-in-func", "src/main.c", 42, "ma\nin"},
        {"site-made-not-utf8", "bad\xff\xfe\xc3.c", 42, "f\xc0\xaf"},
        {"site-made-c1-quotes", "dir/\xc2\x9b[31m\"q\\]}=.c", 42, "f\xe2\x80\xa8\"x"},
        {"site-made-empty", "", 42, ""},
        {"site-made-line-max", "src/main.c", 0xffffffffu, "main"},
        {"site-made-line-zero", "src/main.c", 0, "main"},
    };
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        unsigned char e[NBLOG__SITE_ENTRY];
        made_entry(made[i].file, made[i].line, made[i].func, e);
        xor_bytes_seed(made[i].name, e0, e, sizeof e);
    }
    /* Followed: the entry rewritten under the reader (WRITING, new text,
     * READY with the old hash), records naming it read in between. */
    {
        uint64_t writing = (st0 & ~(uint64_t)3) | NBLOG__SITE_WRITING, h1 = head + 1,
                 h2 = head + 2;
        static const char evil[] = "\x1b]0;title\x07";
        struct mut m[] = {{e0 + ENTRY(state), 8, &writing}, {HDR(head), 8, &h1},
                          {e0 + ENTRY(text), sizeof evil - 1, evil},
                          {e0 + ENTRY(state), 8, &st0}, {HDR(head), 8, &h2}};
        follow_seed("follow-site-rewritten", m, 5);
    }
    {
        /* A made entry (hash right, bytes not UTF-8) written in, then a
         * record's site moved past the table. */
        unsigned char e[NBLOG__SITE_ENTRY];
        made_entry("bad\xff.c", 42, "g\xfe", e);
        uint64_t past = m2 | (uint64_t)(r->sites + 7) << 32, h = head + 1;
        struct mut m[] = {{e0, sizeof e, e}, {HDR(head), 8, &h}, {meta2, 8, &past}};
        follow_seed("follow-site-made-then-past", m, 3);
    }
    free(mem);
    return 0;
}

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

#define HDR(field) offsetof(struct nblog__ring_hdr, field)

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
    free(mem);
    return 0;
}

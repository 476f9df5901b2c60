/*
 * fuzz-template.h - the valid ring fuzz-reader XORs its input over, and
 * fuzz-seedgen writes its seeds against: 16 slots of 128 bytes, text_max
 * 1024, a data area of 64 granules, and 19 records of 11, 200 and 700
 * bytes in turn, so it holds inline records, spilled ones whole, and
 * spilled ones whose granules newer records took (they read as gone).
 */
#ifndef NBLOG_FUZZ_TEMPLATE_H
#define NBLOG_FUZZ_TEMPLATE_H

#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define RECORDS 16
#define RECORD_SIZE 128
#define TEMPLATE_TEXT_MAX 1024
#define TEMPLATE_DATA_BYTES 4096
#define TEMPLATE_WRITES (RECORDS + 3)

static inline uint32_t template_len(int i)
{
    static const uint32_t lens[3] = {11, 200, 700};
    return lens[i % 3];
}

static inline size_t template_ring(void **out)
{
    struct nblog__ring_geom g;
    nblog__ring_geom_make(&g, RECORDS, RECORD_SIZE, TEMPLATE_TEXT_MAX, TEMPLATE_DATA_BYTES);
    size_t bytes = nblog__ring_bytes_geom(&g);
    void *mem = aligned_alloc(64, bytes);
    memset(mem, 0, bytes);
    nblog__ring_format_geom(mem, &g, 0);
    nblog__ring_set_program(mem, "fuzz");
    static char text[TEMPLATE_TEXT_MAX + 8];
    for (int i = 0; i < TEMPLATE_WRITES; i++) {
        for (uint32_t k = 0; k < template_len(i); k++)
            text[k] = (char)('a' + (i + k) % 26);
        memcpy(text, "hello world", 11);
        struct nblog__rec_meta m = {.len = template_len(i), .level = 3, .tid = 9};
        nblog__ring_write(mem, &m, text);
    }
    *out = mem;
    return bytes;
}

#endif

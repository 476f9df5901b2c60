/*
 * fuzz-template.h - the valid ring fuzz-reader XORs its input over, and
 * fuzz-seedgen writes its seeds against: 16 slots of 128 bytes, text_max
 * 1024, a data area of 64 granules, and 19 records of 11, 200 and 700
 * bytes in turn, so it holds inline records, spilled ones whole, and
 * spilled ones whose granules newer records took (they read as gone).
 * Three call sites are in its table (one with a file longer than an entry
 * holds and a function longer than NBLOG__SITE_FUNC_MAX); record i names
 * site i % 4 (the fourth: none). site_gen is fixed, so the template is the
 * same in every process.
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

static const struct {
    const char *file;
    unsigned line;
    const char *func;
} template_sites[3] = {
    {"src/main.c", 42, "main"},
    {"a/rather/long/source/tree/path/that/goes/on/and/on/past/what/one/entry/of/the/"
     "call/site/table/keeps/of/it/module.c",
     7, "a_function_whose_name_is_longer_than_an_entry_keeps"},
    {"lib/net.c", 1234, "net_send"},
};

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
    ((struct nblog__ring_hdr *)mem)->site_gen = 1;
    uint32_t site[4] = {0, 0, 0, 0};
    for (int k = 0; k < 3; k++)
        site[k] = nblog__ring_site_register(mem, template_sites[k].file, template_sites[k].line,
                                            template_sites[k].func);
    static char text[TEMPLATE_TEXT_MAX + 8];
    for (int i = 0; i < TEMPLATE_WRITES; i++) {
        for (uint32_t k = 0; k < template_len(i); k++)
            text[k] = (char)('a' + (i + k) % 26);
        memcpy(text, "hello world", 11);
        struct nblog__rec_meta m = {
            .len = template_len(i), .level = 3, .tid = 9, .site = site[i % 4]};
        nblog__ring_write(mem, &m, text);
    }
    *out = mem;
    return bytes;
}

#endif

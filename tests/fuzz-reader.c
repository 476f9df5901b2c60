/*
 * fuzz-reader.c - libFuzzer target for everything that reads a ring file
 * another process wrote: nblog__ring_diagnose (header checks), the reader
 * (nblog__reader_open_memory + nblog_reader_next, which renders deferred
 * records too), and the published console stats.
 *
 * Input: byte 0 picks a mode. Mode 0: the rest is the whole file. Any
 * other mode: the rest is XORed over a valid 16-record ring at an offset
 * taken from bytes 1..2, and the ring may be cut short (bytes 3..4), so
 * the fuzzer reaches slot and record parsing without first having to
 * guess a valid header. The reader must end (EAGAIN) within head + ring
 * size steps and never touch memory outside the buffer: ASan and UBSan
 * check the second, a bounded loop with an assert the first.
 *
 * Build and run: scripts/test.sh fuzz (clang, -fsanitize=fuzzer,address).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nblog.h"
#include "ring.h"
#include "ringfile.h"

#define RECORDS 16
#define RECORD_SIZE 128

static size_t template_ring(void **out)
{
    size_t bytes = nblog__ring_bytes(RECORDS, RECORD_SIZE);
    void *mem = aligned_alloc(64, bytes);
    memset(mem, 0, bytes);
    nblog__ring_format(mem, RECORDS, RECORD_SIZE, 0);
    struct nblog__rec_meta m = {.len = 11, .level = 3, .tid = 9};
    for (int i = 0; i < RECORDS + 3; i++)
        nblog__ring_write(mem, &m, "hello world\0\0\0\0\0");
    *out = mem;
    return bytes;
}

/* The input as a 64-byte aligned ring image; returns its length. */
static size_t build_image(const uint8_t *data, size_t size, void **image)
{
    if (size == 0)
        return 0;
    if (data[0] == 0) {
        *image = aligned_alloc(64, (size + 64) & ~(size_t)63);
        memcpy(*image, data + 1, size - 1);
        return size - 1;
    }
    size_t bytes = template_ring(image);
    if (size < 5)
        return bytes;
    size_t off = ((size_t)data[1] << 8 | data[2]) * 8 % bytes;
    size_t cut = (size_t)data[3] << 8 | data[4];
    for (size_t i = 5; i < size && off < bytes; i++, off++)
        ((uint8_t *)*image)[off] ^= data[i];
    if (data[0] & 1)
        bytes = cut < bytes ? cut : bytes;
    return bytes;
}

static void read_records(const void *mem, size_t bytes)
{
    nblog_reader_t rd;
    if (nblog__reader_open_memory(&rd, mem, bytes, NBLOG_FROM_OLDEST) != NBLOG_OK)
        return;
    const struct nblog__ring_hdr *r = mem;
    nblog_record_t rec;
    static char buf[NBLOG__RECORD_SIZE_MAX + 1];
    uint64_t steps = 0;
    while (nblog_reader_next(&rd, &rec, buf, sizeof buf) != NBLOG_EAGAIN) {
        assert(rec.level <= 7 && rec.len <= NBLOG__RECORD_SIZE_MAX);
        assert(++steps <= r->records + 1);
    }
}

static void read_stats(const struct nblog__ring_hdr *r)
{
    for (unsigned i = 0; i < NBLOG__STATS_SLOTS; i++) {
        nblog_console_stats_t st;
        uint64_t head;
        if (nblog__ringview_console(r, i, &st, &head) == 1)
            assert(st.name[sizeof st.name - 1] == '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *image = NULL;
    size_t bytes = build_image(data, size, &image);
    if (!image)
        return 0;
    char why[256];
    if (nblog__ring_diagnose(image, bytes, why, sizeof why) == NBLOG__RING_OK) {
        read_records(image, bytes);
        read_stats(image);
    }
    free(image);
    return 0;
}

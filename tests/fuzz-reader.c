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
 * Every image is also written to a memfd and opened the way `nblog`
 * opens a file (nblog__ringview_open, as a copy and live), so the
 * header-first checks run on it too.
 *
 * Mode bit 4 (data[0] & 4) is the follow path with the file changing
 * under the reader: a valid ring is written to a memfd and opened live;
 * the rest of the input is a sequence of mutations, each 2 bytes of
 * offset (modulo the file's size), 1 byte of length, then that many bytes
 * written into the file there (pwrite, as another process would: header
 * geometry, head, slots). After each one the reader syncs, reads what is
 * readable, converts record times and waits (0 ms), as `dmesg --follow`
 * does. The geometry it uses must stay the copy it validated: a slot
 * looked up outside the view faults (guard pages) and fails the run.
 *
 * Build and run: scripts/test.sh fuzz (clang, -fsanitize=fuzzer,address,
 * undefined; UBSan halts on the first report).
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
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

/* Reads every record readable now; the count is bounded by the ring. */
static void read_available(nblog_reader_t *rd, const struct nblog__ring_hdr *r)
{
    nblog_record_t rec;
    static char buf[NBLOG__RECORD_SIZE_MAX + 1];
    uint64_t steps = 0;
    while (nblog_reader_next(rd, &rec, buf, sizeof buf) != NBLOG_EAGAIN) {
        assert(rec.level <= 7 && rec.len <= NBLOG__RECORD_SIZE_MAX);
        assert(++steps <= r->records + 1);
    }
}

static void read_records(const void *mem, size_t bytes)
{
    nblog_reader_t rd;
    if (nblog__reader_open_memory(&rd, mem, bytes, NBLOG_FROM_OLDEST) != NBLOG_OK)
        return;
    read_available(&rd, mem);
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

/* A memfd holding bytes; its path in path. Returns the fd or -1. */
static int memfd_file(const void *bytes, size_t n, char *path, size_t cap)
{
    int fd = memfd_create("fuzz-ring", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (pwrite(fd, bytes, n, 0) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* The image as a file, opened as nblog opens one, copy and live. */
static void read_as_file(const void *image, size_t bytes)
{
    char path[64], why[256];
    int fd = memfd_file(image, bytes, path, sizeof path);
    if (fd < 0)
        return;
    for (int live = 0; live < 2; live++) {
        struct nblog__ringview v;
        if (nblog__ringview_open(path, live, &v, why, sizeof why) != NBLOG__RING_OK)
            continue;
        read_records(v.ring, v.bytes);
        if (!live)
            read_stats(v.ring);
        nblog__ringview_close(&v);
    }
    close(fd);
}

/* Mode bit 4: follow a file that data rewrites between steps. */
static void follow_changing(const uint8_t *data, size_t size)
{
    void *image;
    size_t bytes = template_ring(&image);
    char path[64], why[256];
    int fd = memfd_file(image, bytes, path, sizeof path);
    free(image);
    if (fd < 0)
        return;
    struct nblog__ringview v;
    if (nblog__ringview_open(path, 1, &v, why, sizeof why) != NBLOG__RING_OK) {
        close(fd);
        return;
    }
    nblog_reader_t rd;
    if (nblog__reader_open_memory(&rd, v.ring, v.bytes, NBLOG_FROM_OLDEST) == NBLOG_OK) {
        size_t i = 1;
        do {
            nblog__ringview_sync(&v);
            read_available(&rd, v.ring);
            read_stats(v.ring);
            nblog__ringview_wait(&v, rd.next_seq, 0);
            if (i + 3 > size)
                break;
            size_t off = ((size_t)data[i] << 8 | data[i + 1]) % bytes;
            size_t len = data[i + 2];
            i += 3;
            len = len < size - i ? len : size - i;
            len = len < bytes - off ? len : bytes - off;
            if (pwrite(fd, data + i, len, (off_t)off) != (ssize_t)len)
                break;
            i += len;
        } while (1);
    }
    nblog__ringview_close(&v);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && (data[0] & 4)) {
        follow_changing(data, size);
        return 0;
    }
    void *image = NULL;
    size_t bytes = build_image(data, size, &image);
    if (!image)
        return 0;
    char why[256];
    if (nblog__ring_diagnose(image, bytes, why, sizeof why) == NBLOG__RING_OK) {
        read_records(image, bytes);
        read_stats(image);
    }
    read_as_file(image, bytes);
    free(image);
    return 0;
}

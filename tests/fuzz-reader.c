/*
 * fuzz-reader.c - libFuzzer target for everything that reads a ring file
 * another process wrote: the public ring-file reader (nblog_ringfile_open,
 * _reader, _wait, _info, _console_stats, nblog_reader_next, _head, _skip,
 * nblog_render_line in every format), which is what programs and the
 * nblog command use, and beneath it nblog__ring_diagnose (header checks)
 * and the reader on a ring in memory (nblog__reader_open_memory).
 *
 * Input: byte 0 picks a mode. Mode 0: the rest is the whole file. Any
 * other mode: the rest is XORed over a valid 16-record ring at an offset
 * taken from bytes 1..2, and the ring may be cut short (bytes 3..4), so
 * the fuzzer reaches slot and record parsing without first having to
 * guess a valid header. The reader must end (EAGAIN) within head + ring
 * size steps and never touch memory outside the buffer: ASan and UBSan
 * check the second, a bounded loop with an assert the first.
 *
 * Every image is also written to a memfd and opened through the public
 * API (nblog_ringfile_open, as a copy and live), as `nblog` opens a file,
 * so the header-first checks run on it too; every record read is rendered
 * in every line format, and a reader stopped at an unfinished record
 * gives up on it (nblog_reader_skip), as `nblog dmesg` does.
 *
 * Mode bit 4 (data[0] & 4) is the follow path with the file changing
 * under the reader: a valid ring is written to a memfd and opened live;
 * the rest of the input is a sequence of mutations, each 2 bytes of
 * offset (modulo the file's size), 1 byte of length, then that many bytes
 * written into the file there (pwrite, as another process would: header
 * geometry, head, slots, stats entries). After each one the reader brings
 * in the counters (nblog_ringfile_wait, 0 ms), reads and renders what is
 * readable, reads the header info and the console stats, as `dmesg
 * --follow` and `status` do. The geometry it uses must stay the copy it
 * validated: a slot looked up outside the view faults (guard pages) and
 * fails the run.
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

/* Every line format of rec: within the buffer, one '\n'-ended line. */
static void render_all(const nblog_record_t *rec)
{
    static char line[NBLOG_LINE_MAX];
    for (int format = NBLOG_FORMAT_PLAIN; format <= NBLOG_FORMAT_PATTERN; format++) {
        size_t n = nblog_render_line(line, sizeof line, format, rec);
        assert(n >= 1 && n <= sizeof line && line[n - 1] == '\n');
    }
}

/* Reads every record readable now; the count is bounded by the ring. As
 * a public reader (`nblog dmesg`): renders each record in every format,
 * and gives up on a record still being written (once: a fuzzed ring's
 * writer never finishes it) and on those after it still unfinished. */
static void read_available(nblog_reader_t *rd, uint64_t records, int as_public)
{
    nblog_record_t rec;
    static char buf[NBLOG__RECORD_SIZE_MAX + 1];
    uint64_t steps = 0;
    int skipped = !as_public;
    for (;;) {
        int rc = nblog_reader_next(rd, &rec, buf, sizeof buf);
        if (rc == NBLOG_EAGAIN) {
            if (skipped || nblog_reader_head(rd) <= rd->next_seq)
                return;
            uint64_t n = nblog_reader_skip(rd, nblog_reader_head(rd));
            assert(n <= records); /* PENDING only within a lap of head */
            skipped = 1;
            continue;
        }
        assert(rc == NBLOG_OK);
        assert(rec.level <= 7 && rec.len <= NBLOG__RECORD_SIZE_MAX);
        assert(++steps <= 2 * (records + 1));
        if (as_public)
            render_all(&rec);
    }
}

static void read_records(const void *mem, size_t bytes)
{
    nblog_reader_t rd;
    if (nblog__reader_open_memory(&rd, mem, bytes, NBLOG_FROM_OLDEST) != NBLOG_OK)
        return;
    read_available(&rd, ((const struct nblog__ring_hdr *)mem)->records, 0);
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

/* What `nblog status` reads: the header info and the published stats. */
static uint64_t read_info(nblog_ringfile_t *f)
{
    nblog_ringfile_info_t in;
    int rc = nblog_ringfile_info(f, &in);
    assert(rc == NBLOG_OK);
    assert(in.head <= NBLOG_SEQ_LIMIT && in.record_size <= NBLOG_RECORD_SIZE_MAX);
    assert(in.records >= NBLOG_RECORDS_MIN && in.records <= NBLOG_RECORDS_MAX);
    static nblog_console_stats_t st[NBLOG_RINGFILE_CONSOLES_MAX];
    int n = nblog_ringfile_console_stats(f, st, NBLOG_RINGFILE_CONSOLES_MAX);
    assert(n >= 0 && n <= NBLOG_RINGFILE_CONSOLES_MAX);
    for (int i = 0; i < n; i++)
        assert(memchr(st[i].name, '\0', sizeof st[i].name) != NULL);
    return in.records;
}

/* The image as a file, opened through the public reader, copy and live. */
static void read_as_file(const void *image, size_t bytes)
{
    char path[64], why[256];
    int fd = memfd_file(image, bytes, path, sizeof path);
    if (fd < 0)
        return;
    for (int mode = NBLOG_RINGFILE_COPY; mode <= NBLOG_RINGFILE_LIVE; mode++) {
        nblog_ringfile_t *f;
        int rc = nblog_ringfile_open(path, mode, &f, why, sizeof why);
        if (rc != NBLOG_OK) {
            assert(f == NULL && rc < 0 && why[0] != '\0');
            continue;
        }
        uint64_t records = read_info(f);
        for (int from = NBLOG_FROM_OLDEST; from <= NBLOG_FROM_NEXT; from++) {
            nblog_reader_t rd;
            rc = nblog_ringfile_reader(f, from, &rd);
            assert(rc == NBLOG_OK);
            read_available(&rd, records, 1);
            rc = nblog_ringfile_wait(f, rd.next_seq, 0);
            assert(rc == NBLOG_OK || rc == NBLOG_EAGAIN);
        }
        nblog_ringfile_close(f);
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
    nblog_ringfile_t *f;
    if (nblog_ringfile_open(path, NBLOG_RINGFILE_LIVE, &f, why, sizeof why) != NBLOG_OK) {
        close(fd);
        return;
    }
    nblog_reader_t rd;
    if (nblog_ringfile_reader(f, NBLOG_FROM_OLDEST, &rd) == NBLOG_OK) {
        size_t i = 1;
        do {
            int rc = nblog_ringfile_wait(f, rd.next_seq, 0); /* brings in head */
            assert(rc == NBLOG_OK || rc == NBLOG_EAGAIN);
            read_available(&rd, RECORDS, 1);
            read_info(f);
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
    nblog_ringfile_close(f);
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

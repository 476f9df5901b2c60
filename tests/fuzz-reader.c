/*
 * fuzz-reader.c - libFuzzer target for everything that reads a ring file
 * another process wrote: the public ring-file reader (nblog_ringfile_open,
 * _reader, _wait, _info, _console_stats, nblog_reader_next, _head, _skip,
 * nblog_render_line and nblog_ringfile_render_line in every format),
 * which is what programs and the
 * nblog command use, and beneath it nblog__ring_diagnose (header checks)
 * and the reader on a ring in memory (nblog__reader_open_memory).
 *
 * Input: byte 0 picks a mode. Mode 0: the rest is the whole file. Any
 * other mode: the rest is XORed over a valid 16-record ring with a data
 * area and spilled records (fuzz-template.h) at an offset
 * taken from bytes 1..2, and the ring may be cut short (bytes 3..4), so
 * the fuzzer reaches slot and record parsing without first having to
 * guess a valid header. The reader must end (EAGAIN) within head + ring
 * size steps and never touch memory outside the buffer: ASan and UBSan
 * check the second, a bounded loop with an assert the first.
 *
 * Every image is also written to a memfd and opened through the public
 * API (nblog_ringfile_open, as a copy and live), as `nblog` opens a file,
 * so the header-first checks run on it too; every record read is rendered
 * in every line format, whole and at a small cap, and each line checked:
 * within its cap, '\n'-ended, inert (check_inert: valid UTF-8, no control
 * a terminal or a line reader acts on), json parsing (check_json); a
 * reader stopped at an unfinished record gives up on it
 * (nblog_reader_skip), as `nblog dmesg` does.
 *
 * Call sites (layout 5): the public reader looks each record's site up in
 * the file's table (nblog__ring_site_get, which trusts nothing of an
 * entry); every record read is checked to carry a bounded, NUL-terminated
 * location of printable bytes (check_site), and is rendered a second time
 * with a forged location, bytes of the input not NUL-terminated, so the
 * renderers' own bounds and escaping of file and function (json, journal,
 * rfc5424) meet hostile bytes too. The first input also checks that the
 * template's records read back with its sites (the lookup runs at all).
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

#include "fuzz-template.h" /* template_ring: the valid ring inputs are XORed over */

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

/* What every rendered line must be: valid UTF-8 with no C0 control
 * (but '\n': the line's last byte; a journal entry's field ends), DEL,
 * C1 control (raw bytes are not UTF-8; encoded C2 80..C2 9F) or
 * U+2028/U+2029, so nothing in a hostile file reaches a terminal or a
 * line reader as anything but text. */
static void check_inert(const char *line, size_t n, int format)
{
    const unsigned char *s = (const unsigned char *)line;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            assert((c >= 0x20 && c != 0x7f) ||
                   (c == '\n' && (i == n - 1 || format == NBLOG_FORMAT_JOURNAL)));
            i++;
            continue;
        }
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        assert(len > 0 && i + len <= n);
        for (size_t k = 1; k < len; k++)
            assert((s[i + k] & 0xc0) == 0x80);
        assert(!(c == 0xe0 && s[i + 1] < 0xa0) && !(c == 0xed && s[i + 1] > 0x9f) &&
               !(c == 0xf0 && s[i + 1] < 0x90) && !(c == 0xf4 && s[i + 1] > 0x8f));
        assert(!(c == 0xc2 && s[i + 1] < 0xa0));                                 /* C1 */
        assert(!(c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)));
        i += len;
    }
    if (format == NBLOG_FORMAT_JOURNAL) { /* the message is one field */
        assert(n >= 2 && line[n - 2] == '\n');
        const char *msg = memmem(line, n, "\nMESSAGE=", 9);
        if (msg)
            assert(memchr(msg + 1, '\n', (size_t)(line + n - 2 - (msg + 1))) == NULL);
    }
}

/* A strict JSON checker for what the json format writes: one object of
 * "key":value, values strings, integers, true, null or arrays of
 * integers 0..255; strings with only JSON's escapes and no control. */
struct jcheck {
    const char *s;
    size_t at, n;
};

static char jc_peek(const struct jcheck *j)
{
    return j->at < j->n ? j->s[j->at] : '\0';
}

static void jc_eat(struct jcheck *j, char ch)
{
    assert(jc_peek(j) == ch);
    j->at++;
}

static void jc_string(struct jcheck *j)
{
    jc_eat(j, '"');
    for (;;) {
        assert(j->at < j->n);
        unsigned char c = (unsigned char)j->s[j->at++];
        assert(c >= 0x20);
        if (c == '"')
            return;
        if (c != '\\')
            continue;
        assert(j->at < j->n);
        c = (unsigned char)j->s[j->at++];
        if (c == 'u') {
            for (int k = 0; k < 4; k++, j->at++)
                assert(j->at < j->n && strchr("0123456789abcdef", j->s[j->at]) &&
                       j->s[j->at] != '\0');
        } else {
            assert(c && strchr("\"\\/bfnrt", c));
        }
    }
}

static long jc_number(struct jcheck *j)
{
    long v = 0;
    size_t start = j->at;
    while (jc_peek(j) >= '0' && jc_peek(j) <= '9' && j->at - start < 20)
        v = v * 10 + (j->s[j->at++] - '0');
    assert(j->at > start && (j->s[start] != '0' || j->at == start + 1));
    return v;
}

static void check_json(const char *line, size_t n)
{
    assert(n >= 1 && line[n - 1] == '\n');
    struct jcheck j = {line, 0, n - 1};
    if (n == 1)
        return; /* cap 2: an empty line, still one line */
    jc_eat(&j, '{');
    for (int first = 1; jc_peek(&j) != '}'; first = 0) {
        if (!first)
            jc_eat(&j, ',');
        jc_string(&j);
        jc_eat(&j, ':');
        char c = jc_peek(&j);
        if (c == '"') {
            jc_string(&j);
        } else if (c == 't' || c == 'n') {
            const char *word = c == 't' ? "true" : "null";
            assert(j.n - j.at >= 4 && memcmp(line + j.at, word, 4) == 0);
            j.at += 4;
        } else if (c == '[') {
            j.at++;
            for (int k = 0; jc_peek(&j) != ']'; k++) {
                if (k)
                    jc_eat(&j, ',');
                assert(jc_number(&j) <= 255);
            }
            j.at++;
        } else {
            jc_number(&j);
        }
    }
    jc_eat(&j, '}');
    assert(j.at == j.n); /* one object, nothing after it */
}

/* Caps for this input's short renders (set from the input's bytes, so a
 * run is repeatable). */
static uint32_t cap_seed;
/* The forged location's bytes: the input's last ones (set per input). */
static char forge[NBLOG_SITE_FILE_MAX + 1 + NBLOG_SITE_FUNC_MAX + 1 + 4];

static void render_one(nblog_ringfile_t *f, char *line, size_t cap, int format,
                       const nblog_record_t *rec)
{
    memset(line + cap, 0x55, 1);
    size_t n = f ? nblog_ringfile_render_line(f, line, cap, format, rec)
                 : nblog_render_line(line, cap, format, rec);
    assert(n >= 1 && n <= cap && line[n - 1] == '\n');
    assert((unsigned char)line[cap] == 0x55); /* never past cap */
    check_inert(line, n, format);
    if (format == NBLOG_FORMAT_JSON)
        check_json(line, n);
}

/* Every line format of rec, whole and at a small cap, as this process's
 * (nblog_render_line) and, with f, as the file's writer's: within the
 * buffer, one '\n'-ended line of inert text, json that parses. PATTERN
 * and unknown formats are refused. */
static void render_all(nblog_ringfile_t *f, const nblog_record_t *rec)
{
    static char line[NBLOG_LINE_MAX + 1];
    /* The record again with a location of the input's bytes, neither
     * string NUL-terminated: what a caller may hand nblog_render_line. */
    nblog_record_t forged = *rec;
    memcpy(forged.file, forge, sizeof forged.file);
    memcpy(forged.func, forge + sizeof forged.file, sizeof forged.func);
    memcpy(&forged.line, forge + sizeof forged.file + sizeof forged.func, sizeof forged.line);
    for (int format = NBLOG_FORMAT_PLAIN; format <= NBLOG_FORMAT_JSON; format++) {
        render_one(NULL, line, NBLOG_LINE_MAX, format, &forged);
        render_one(f, line, 2 + (cap_seed >> 8) % 400, format, &forged);
        cap_seed = cap_seed * 1103515245u + 12345u;
        size_t small = 2 + (cap_seed >> 16) % 600;
        for (int who = 0; who < 1 + (f != NULL); who++) {
            nblog_ringfile_t *by = who ? f : NULL;
            render_one(by, line, NBLOG_LINE_MAX, format, rec);
            render_one(by, line, small, format, rec);
        }
    }
    assert(nblog_render_line(line, NBLOG_LINE_MAX, NBLOG_FORMAT_PATTERN, rec) == 0);
    assert(nblog_render_line(line, NBLOG_LINE_MAX, NBLOG_FORMAT_PATTERN + 1, rec) == 0);
}

/* A record's location as the reader gives it: both strings NUL-terminated
 * in their arrays, within what an entry holds, printable bytes only (a
 * control or DEL is refused by the lookup); none is "", "", 0. */
static void check_site(const nblog_record_t *rec)
{
    size_t fl = strnlen(rec->file, sizeof rec->file), fnl = strnlen(rec->func, sizeof rec->func);
    assert(fl < sizeof rec->file && fnl < sizeof rec->func);
    assert(fl <= NBLOG_SITE_FILE_MAX && fnl <= NBLOG_SITE_FUNC_MAX);
    assert(fl + fnl <= NBLOG__SITE_TEXT); /* one entry's room, both together */
    for (size_t i = 0; i < fl + fnl; i++) {
        unsigned char c = (unsigned char)(i < fl ? rec->file[i] : rec->func[i - fl]);
        assert(c >= 0x20 && c != 0x7f);
    }
}

/* Reads every record readable now; the count is bounded by the ring. As
 * a public reader (`nblog dmesg`): renders each record in every format,
 * and gives up on a record still being written (once: a fuzzed ring's
 * writer never finishes it) and on those after it still unfinished. */
static void read_available(nblog_ringfile_t *f, nblog_reader_t *rd, uint64_t records,
                           int as_public)
{
    nblog_record_t rec;
    static char buf[NBLOG_TEXT_MAX_LIMIT + 1];
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
        assert(rec.level <= 7 && rec.len <= NBLOG_TEXT_MAX_LIMIT);
        assert(++steps <= 2 * (records + 1));
        check_site(&rec);
        if (as_public)
            render_all(f, &rec);
    }
}

static void read_records(const void *mem, size_t bytes)
{
    nblog_reader_t rd;
    if (nblog__reader_open_memory(&rd, mem, bytes, NBLOG_FROM_OLDEST) != NBLOG_OK)
        return;
    read_available(NULL, &rd, ((const struct nblog__ring_hdr *)mem)->records, 0);
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
    assert(in.text_max <= NBLOG_TEXT_MAX_LIMIT && in.data_bytes <= NBLOG_DATA_BYTES_MAX);
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
            read_available(f, &rd, records, 1);
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
            read_available(f, &rd, RECORDS, 1);
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

/* Once: the template's records read back through the public reader with
 * the locations of their sites (record i: template_sites[i % 4], the
 * fourth none), a long file as its last NBLOG_SITE_FILE_MAX bytes, a long
 * function as its first NBLOG_SITE_FUNC_MAX. */
static void check_template_sites(void)
{
    void *mem;
    size_t bytes = template_ring(&mem);
    nblog_reader_t rd;
    int rc = nblog__reader_open_memory(&rd, mem, bytes, NBLOG_FROM_OLDEST);
    assert(rc == NBLOG_OK);
    nblog_record_t rec;
    static char buf[NBLOG_TEXT_MAX_LIMIT + 1];
    int located = 0;
    while (nblog_reader_next(&rd, &rec, buf, sizeof buf) == NBLOG_OK) {
        int k = (int)(rec.seq % 4);
        if (rec.missed || k == 3) {
            assert(k != 3 || (!rec.file[0] && !rec.func[0] && !rec.line));
            continue;
        }
        size_t fl = strlen(template_sites[k].file);
        const char *tail = fl > NBLOG_SITE_FILE_MAX ? template_sites[k].file + fl -
                                                          NBLOG_SITE_FILE_MAX
                                                    : template_sites[k].file;
        size_t room = NBLOG_SITE_FILE_MAX - strnlen(template_sites[k].func, NBLOG_SITE_FUNC_MAX);
        if (strlen(tail) > room)
            tail += strlen(tail) - room; /* the function's bytes take the rest */
        assert(rec.line == template_sites[k].line && !strcmp(rec.file, tail));
        assert(!strncmp(rec.func, template_sites[k].func, NBLOG_SITE_FUNC_MAX) &&
               strlen(rec.func) == strnlen(template_sites[k].func, NBLOG_SITE_FUNC_MAX));
        located++;
    }
    assert(located >= 3);
    free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int checked;
    if (!checked) {
        check_template_sites();
        checked = 1;
    }
    cap_seed = 0;
    for (size_t i = 0; i < size; i++)
        cap_seed = cap_seed * 31u + data[i];
    memset(forge, 'a', sizeof forge);
    size_t take = size < sizeof forge ? size : sizeof forge;
    if (take)
        memcpy(forge, data + size - take, take);
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

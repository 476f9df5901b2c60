/*
 * ringreader.c - the public ring-file reader (nblog.h, "Reading a ring
 * file"): a handle over a ringview, readers on it, following, header info,
 * the writer's published console stats, and nblog_render_line for programs
 * that print records as consoles do. Layer: readers of files, above the
 * store (ring.c), the file view (ringview.c) and render (render.c); the
 * nblog command (tools/) is built on this and nothing below it.
 *
 * The hardening is ringview.c's and protects every caller alike: a
 * non-blocking open of regular files only, the header diagnosed before
 * anything is copied or mapped, geometry fixed from a validated private
 * copy. This file adds no trust: every number it hands out comes from that
 * copy (counters brought in by nblog__ringview_sync, which never copies
 * geometry) or from a stats entry copied as a seqlock (ringview.c V1).
 *
 * A handle is one allocation at open, freed at close: readers of files are
 * not on the logging path (nblog.h says so). It is used by one thread at a
 * time, so the sync into its private header needs no ordering beyond
 * ringview.c's own (relaxed copies of counters used only as bounds).
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "log.h"
#include "nblog.h"
#include "render.h"
#include "ring.h"
#include "ringfile.h"

/* The public limits are the store's. */
_Static_assert(NBLOG_RECORDS_MIN == NBLOG__RECORDS_MIN, "records min");
_Static_assert(NBLOG_RECORDS_MAX == NBLOG__RECORDS_MAX, "records max");
_Static_assert(NBLOG_RECORD_SIZE_MAX == NBLOG__RECORD_SIZE_MAX, "record size max");
_Static_assert(NBLOG_TEXT_MAX_LIMIT == NBLOG__TEXT_MAX_LIMIT, "text max limit");
_Static_assert(NBLOG_DATA_BYTES_MAX == NBLOG__DATA_BYTES_MAX, "data bytes max");
_Static_assert(NBLOG_SEQ_LIMIT == NBLOG__SEQ_LIMIT, "seq limit");
_Static_assert(NBLOG_RINGFILE_CONSOLES_MAX == NBLOG__STATS_SLOTS, "stats slots");

struct nblog_ringfile {
    struct nblog__ringview v;
    char *path; /* as given: to notice a replacement and a running writer */
};

/* A ringview verdict (or -1: open/read/map failed, errno set) as a code. */
static int code_for(int verdict)
{
    switch (verdict) {
    case NBLOG__RING_OK:
        return NBLOG_OK;
    case NBLOG__RING_NOT_RING:
        return NBLOG_ENOTRING;
    case NBLOG__RING_NEWER:
        return NBLOG_EVERSION;
    case NBLOG__RING_TRUNCATED:
        return NBLOG_ESHORT;
    case NBLOG__RING_CORRUPT:
        return NBLOG_ECORRUPT;
    }
    return NBLOG_EFILE;
}

static void say(char *why, size_t why_cap, const char *text)
{
    if (why && why_cap)
        snprintf(why, why_cap, "%s", text);
}

int nblog_ringfile_open(const char *path, int mode, nblog_ringfile_t **out, char *why,
                        size_t why_cap)
{
    if (out)
        *out = NULL;
    if (!path || !out || (mode != NBLOG_RINGFILE_COPY && mode != NBLOG_RINGFILE_LIVE)) {
        say(why, why_cap, "invalid argument (NULL path or handle, or unknown mode)");
        return NBLOG_EINVAL;
    }
    struct nblog_ringfile *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    if (!f || !copy) {
        free(f);
        free(copy);
        say(why, why_cap, "out of memory");
        errno = ENOMEM;
        return NBLOG_EFILE;
    }
    int verdict = nblog__ringview_open(path, mode == NBLOG_RINGFILE_LIVE, &f->v, why,
                                       why_cap);
    if (verdict != NBLOG__RING_OK) {
        int err = errno; /* what -1 (cannot open) says; kept across free */
        free(copy);
        free(f);
        errno = err;
        return code_for(verdict);
    }
    assert(f->v.ring && f->v.bytes == f->v.ring->total_size);
    f->path = copy;
    *out = f;
    return NBLOG_OK;
}

void nblog_ringfile_close(nblog_ringfile_t *f)
{
    if (!f)
        return;
    nblog__ringview_close(&f->v);
    free(f->path);
    free(f);
}

int nblog_ringfile_reader(nblog_ringfile_t *f, int from, nblog_reader_t *r)
{
    if (r)
        memset(r, 0, sizeof *r);
    if (!f || !r || (from != NBLOG_FROM_OLDEST && from != NBLOG_FROM_NEXT))
        return NBLOG_EINVAL;
    /* The view's copy was diagnosed at open: this validates it again
     * (cheap) and cannot fail on it. */
    int rc = nblog__reader_open_memory(r, f->v.ring, f->v.bytes, from);
    assert(rc == NBLOG_OK);
    return rc;
}

int nblog_ringfile_wait(nblog_ringfile_t *f, uint64_t seen_seq, unsigned timeout_ms)
{
    if (!f)
        return NBLOG_EINVAL;
    const struct nblog__ring_hdr *r = f->v.ring;
    if (!f->v.mapped) /* a copy never changes */
        return nblog__ring_head(r) > seen_seq ? NBLOG_OK : NBLOG_EAGAIN;
    nblog__ringview_sync(&f->v);
    if (nblog__ring_head(r) > seen_seq)
        return NBLOG_OK;
    if (timeout_ms == 0)
        return NBLOG_EAGAIN;
    nblog__ringview_wait(&f->v, seen_seq, timeout_ms);
    nblog__ringview_sync(&f->v);
    if (nblog__ring_head(r) > seen_seq)
        return NBLOG_OK;
    /* Nothing new after a sleep: is the file at path still ours? A writer
     * replaces a ring it cannot resume (ringfile.c, PLAN_REPLACE). */
    return nblog__ringview_replaced(&f->v, f->path) ? NBLOG_ESTALE : NBLOG_EAGAIN;
}

int nblog_ringfile_info(nblog_ringfile_t *f, nblog_ringfile_info_t *info)
{
    if (!f || !info)
        return NBLOG_EINVAL;
    nblog__ringview_sync(&f->v); /* no-op for a copy */
    const struct nblog__ring_hdr *r = f->v.ring;
    /* The file's own word for a live view (sync copies only what readers
     * need); relaxed, here and for lost: statistics, each read alone. */
    const struct nblog__ring_hdr *counters = f->v.mapped ? f->v.live : r;
    memset(info, 0, sizeof *info);
    info->head = nblog__ring_head(r);
    info->oldest = nblog__ring_oldest(r);
    info->first_seq = r->first_seq;
    info->records = r->records;
    info->lost = atomic_load_explicit((_Atomic uint64_t *)&r->lost, memory_order_relaxed);
    info->stats_published_ns = atomic_load_explicit(
        (_Atomic uint64_t *)&counters->stats_published_ns, memory_order_relaxed);
    info->record_size = r->record_size;
    info->text_max = nblog__ring_text_max(r);
    info->data_bytes = r->data_granules * NBLOG__GRANULE;
    info->spill_cut = atomic_load_explicit((_Atomic uint64_t *)&counters->spill_cut,
                                           memory_order_relaxed);
    info->writer_pid = r->writer_pid;
    info->writer_running = nblog__ringview_writer_running(f->path);
    info->live = f->v.mapped;
    return NBLOG_OK;
}

int nblog_ringfile_console_stats(nblog_ringfile_t *f, nblog_console_stats_t *st, int max)
{
    if (!f || max < 0 || (!st && max > 0))
        return NBLOG_EINVAL;
    int n = 0;
    for (unsigned i = 0; i < NBLOG__STATS_SLOTS && n < max; i++) {
        uint64_t head;
        /* 1: in use and copied; 0: unused; NBLOG_EAGAIN: kept changing. */
        if (nblog__ringview_console_now(&f->v, i, &st[n], &head) == 1)
            n++;
    }
    return n;
}

/* The formats nblog_render_line renders: every NBLOG_FORMAT_* but
 * PATTERN, which needs a console's compiled pattern. */
static int renderable(int format)
{
    return format >= NBLOG_FORMAT_PLAIN && format <= NBLOG_FORMAT_JSON;
}
_Static_assert(NBLOG_FORMAT_JSON == NBLOG_FORMAT_PATTERN - 1,
               "renderable(): PATTERN is the one format after JSON");

/* rec's metadata; its call site into *loc (a caller's record: bounded,
 * NUL-terminated here), named by the meta if it has one. */
static struct nblog__rec_meta meta_of(const nblog_record_t *rec, struct nblog__loc *loc)
{
    struct nblog__rec_meta m = {
        .seq = rec->seq,
        .ts_ns = rec->ts_ns,
        .wall_ns = rec->wall_ns,
        .tid = rec->tid,
        .len = rec->len,
        .level = rec->level,
        .facility = rec->facility,
        .flags = rec->flags,
        .kind = rec->kind,
    };
    memcpy(loc->file, rec->file, sizeof loc->file);
    loc->file[sizeof loc->file - 1] = '\0';
    memcpy(loc->func, rec->func, sizeof loc->func);
    loc->func[sizeof loc->func - 1] = '\0';
    loc->line = rec->line;
    if (loc->line || loc->file[0] || loc->func[0])
        m.loc = loc;
    return m;
}

size_t nblog_render_line(char *line, size_t cap, int format, const nblog_record_t *rec)
{
    if (!line || !rec || cap < 2 || !renderable(format))
        return 0; /* a journal entry needs two bytes of '\n' */
    struct nblog__loc loc;
    struct nblog__rec_meta m = meta_of(rec, &loc);
    return nblog__render_line(line, cap, format, NULL, &m, rec->text ? rec->text : "",
                              rec->text ? rec->len : 0);
}

size_t nblog_ringfile_render_line(nblog_ringfile_t *f, char *line, size_t cap, int format,
                                  const nblog_record_t *rec)
{
    if (!f || !line || !rec || cap < 2 || !renderable(format))
        return 0;
    const struct nblog__ring_hdr *r = f->v.ring;
    struct nblog__loc loc;
    struct nblog__rec_meta m = meta_of(rec, &loc);
    const char *text = rec->text ? rec->text : "";
    size_t len = rec->text ? rec->len : 0;
    /* The file's word for whose records these are (a live view's as of its
     * last sync): the name checked (ringview.c), a pid no process has (0,
     * past INT_MAX) shown as 0 and "-". */
    char program[NBLOG__RING_PROGRAM_BYTES];
    nblog__ringview_program(r, program);
    uint32_t pid = r->writer_pid;
    int pid_ok = pid > 0 && pid <= INT_MAX;
    if (format == NBLOG_FORMAT_JSON) {
        struct nblog__who who = {.program = program, .pid = pid_ok ? (int)pid : 0};
        return nblog__json_line(line, cap, &m, 0, 0, &who, text, len);
    }
    struct nblog__line_id p = nblog__line_id_defaults;
    nblog__format(p.app, sizeof p.app, "%s", program); /* cut at APP-NAME's 48 */
    if (pid_ok)
        nblog__format(p.procid, sizeof p.procid, "%u", (unsigned)pid);
    return nblog__render_line(line, cap, format, &p, &m, text, len);
}

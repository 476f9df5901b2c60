/*
 * printer.c - the print engine, printer threads, wake-ups, direct and
 * emergency printing, flush (layer: consoles; shared state in
 * console_impl.h).
 *
 * HOW PRINTERS LEARN OF NEW RECORDS (no system call in the common case)
 *
 * A printer with nothing to do sets sleep_flag to 1 (seq_cst), re-checks
 * the store's head (seq_cst) and only then futex-waits on sleep_flag, for a
 * nap that starts at 1 ms and doubles to 50 ms while it stays idle. A
 * logging call never enters the kernel for an ordinary record: only a
 * record whose seq is a watermark (every records/4, 64..65536) or an
 * emergency record loads sleep_flag (seq_cst) and, if it is set, exchanges
 * it to 0 and calls futex_wake. So a printer sees new records within its
 * nap (at most 50 ms after a long idle; nblog_flush and emergency records
 * wake it at once), a burst wakes it before it can lap it, and at most one
 * logging call in wake_every pays a system call.
 * Store-buffering pair: the writer's fetch_add on head (seq_cst) precedes
 * its load of sleep_flag; the printer's store of sleep_flag precedes its
 * load of head; so at a watermark either the printer sees the new head and
 * does not sleep, or the writer sees the flag and wakes it (Z1 <-> Z2).
 *
 * MEMORY ORDERING: the tags and their pairs are listed in console_impl.h
 * (MEMORY ORDERING). This file's: N1 (nblog__publish), N2 (flush), N4
 * (fill_batch's end_seq); O4 (write_batch), O6 (finish_batch), O7
 * (owner_call), with O3 (still_own) before each write and publication;
 * Z1 (notify), Z2 (wait_for_records); A1 (printer_main's exit); F3's
 * loads of suspended. Relaxed: the counters and last_progress_ns (N1
 * orders them), replay_end and out_cut (ordered by the word, O1/O2, and
 * O7), the owner's own loads of next_seq, the printer's loads of next_seq
 * and end_seq before it owns (hints: print_pending decides as owner),
 * level, n_direct, n_atomic_capable, panicking and printers_paused
 * (filters: a stale value skips or visits one more console or record).
 */

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>

#include "console_impl.h"
#include "format.h"
#include "nblog.h"

/* Tests: while set, printer threads do not print (the other ways in
 * still do), so a test can see what a logging call printed itself. */
_Atomic int nblog__printers_paused;
_Atomic unsigned nblog__printers_pause_naps; /* naps taken while paused */

/* ------------------------------------------------------------ printing */

/* Appends one record's line, in console c's format, to buf (BATCH_BYTES)
 * at *used; 0 if there is no room for it. */
static int append_line(char *buf, size_t *used, const struct nblog_console *c,
                       const struct nblog__rec_meta *m, const char *text, size_t len)
{
    /* Rendered straight into the buffer: room for this line's worst case
     * (json: ten bytes a text byte) or the buffer goes out first. */
    size_t room = nblog__line_room(&c->lf, len);
    assert(room <= LINE_MAX_BYTES);
    if (*used + room > BATCH_BYTES)
        return 0;
    *used += nblog__render_fmt(buf + *used, room, &c->lf, m, text, len);
    assert(*used <= BATCH_BYTES);
    return 1;
}

/* A line of our own (a notice) about record seq, in the console's format
 * (a kmsg line carries that seq and the current time). */
int nblog__append_notice(char *buf, size_t *used, const struct nblog_console *c, uint64_t seq,
                         const char *text, size_t len)
{
    struct nblog__rec_meta m = {.seq = seq, .ts_ns = nblog__now_ns(),
                                .level = NBLOG_LEVEL_WARNING, .facility = 1};
    struct nblog__ring_hdr *r = ring_now();
    m.wall_ns = r ? nblog__ring_wall_ns(r, m.ts_ns, nblog__ring_epoch(r)) : 0;
    return append_line(buf, used, c, &m, text, len);
}

/* "** N messages dropped **", first being the first seq lost. */
static int append_dropped_notice(char *buf, size_t *used, const struct nblog_console *c,
                                 uint64_t first, uint64_t n)
{
    char text[64];
    size_t len = nblog__format(text, sizeof text, "** %llu messages dropped **",
                               (unsigned long long)n);
    return nblog__append_notice(buf, used, c, first, text, len);
}

/*
 * ONE EMIT PATH. Every way a console prints (its printer thread, a direct
 * or emergency push by a logging caller, the panic flush) fills a buffer
 * with the console's next lines by the same step, nblog__emit_next_line:
 * read the record at the position (nblog__ring_next, which also says how
 * many are gone), gather a loss into the gap, filter by level, mark a
 * replay, render, and append the line after the gap's notice. A struct
 * emit carries the caller's position, buffers and books, so the panic
 * only brings other buffers (as the kernel's nbcon_emit_next_record gives
 * the panic CPU its own). The callers keep only their policy: fill_batch
 * bounds a batch by records and by ownership and waits for a record not
 * yet written; panic_fill waits for it a little, then skips it.
 *
 * DROP NOTICES. A reader that finds a record gone learns where the ring's
 * oldest record now is (nblog__ring_next) and reads on from there.
 * It must read that record at once: rendering a notice takes long enough
 * (the human format's clock and local time) for a fast writer to lap the
 * oldest records meanwhile, and a notice per failed read then filled whole
 * batches with `** N messages dropped **` and no record between them. So
 * what is lost is gathered in a gap, and its one notice goes into the
 * batch together with the first record printed after it. A fill that
 * stops inside a gap (at upto, a record not yet written, no room,
 * ownership lost) leaves the whole gap, and the records it filtered inside
 * it, to the next fill, which finds it again, grown if the ring lapped
 * further (nblog__emit_close). Only into a batch with no line yet, and
 * when nothing can follow the gap or the fill's budget went on it, does
 * its notice go alone: so a notice follows another only when the ring
 * lapped again between two such batches.
 */

/* Records [seq, to) are gone. */
static void gap_grow(struct gap *g, uint64_t seq, uint64_t to)
{
    assert(to > seq);
    if (g->dropped == 0)
        *g = (struct gap){.first = seq};
    g->dropped += to - seq;
}

/* The gap's notice is out: its counts move to the books. */
static void gap_to_books(struct emit *e)
{
    e->b->dropped += e->g.dropped;
    e->b->filtered += e->g.filtered;
    e->g.dropped = e->g.filtered = 0;
}

/* Appends the gap's notice (if any) and then the line, both or neither;
 * 0 if they do not fit. */
static int append_after_gap(struct emit *e, const struct nblog__rec_meta *m,
                            const char *text, size_t len)
{
    size_t at = *e->used;
    if (e->g.dropped &&
        !append_dropped_notice(e->buf, e->used, e->c, e->g.first, e->g.dropped))
        return 0;
    if (!append_line(e->buf, e->used, e->c, m, text, len)) {
        *e->used = at; /* the notice goes with the record after it */
        return 0;
    }
    gap_to_books(e);
    return 1;
}

/* The text of a record just read: its payload, or rendered into buf (cap
 * bytes) for a deferred one. Sets *len. */
static const char *record_text(const struct nblog__ring_hdr *r, struct nblog__rec_meta *m,
                               const char *payload, char *buf, size_t cap, size_t *len)
{
    if (m->kind == NBLOG_KIND_TEXT) {
        *len = m->len;
        return payload;
    }
    uint8_t flags = m->flags;
    size_t n = nblog__render_record(r, m, payload, buf, cap, &flags);
    m->flags = flags;
    *len = n < cap ? n : cap - 1;
    return buf;
}

/* The step (see ONE EMIT PATH): the record at *e->seq, or what is gone
 * there, into e's buffer and books. Whoever calls it owns the console
 * (or, for the panic, its own buffers). [signal-safe] */
enum emit_step nblog__emit_next_line(struct emit *e)
{
    char *payload = e->scratch;                    /* NBLOG__PAYLOAD_MAX */
    char *text = e->scratch + NBLOG__PAYLOAD_MAX;  /* NBLOG__PAYLOAD_MAX + 1 */
    struct nblog__rec_meta m;
    uint64_t gone;
    enum nblog__read_result res =
        nblog__ring_next(e->r, e->seq, &gone, &m, payload, NBLOG__PAYLOAD_MAX);
    if (res == NBLOG__READ_GONE) {
        gap_grow(&e->g, *e->seq - gone, *e->seq); /* no notice yet: see DROP NOTICES */
        return EMIT_GONE;
    }
    if (res != NBLOG__READ_OK)
        return EMIT_NOT_YET;
    if (m.level > e->level) {
        /* Filtered inside the gap: counted with its notice. */
        if (e->g.dropped)
            e->g.filtered++;
        else
            e->b->filtered++;
        (*e->seq)++;
        return EMIT_FILTERED;
    }
    if (*e->seq < e->replay_end)
        m.flags |= NBLOG_F_REPLAYED;
    if (m.site && e->c->lf.wants_loc) {
        /* Records from one site come in runs: one lookup per run. */
        struct emit_loc *el = emit_loc_of(e->scratch, 0);
        if (m.site != el->site) {
            el->ok = nblog__ring_site_get(e->r, m.site, &el->loc);
            el->site = m.site;
        }
        if (el->ok)
            m.loc = &el->loc;
    }
    size_t len;
    const char *t = record_text(e->r, &m, payload, text, NBLOG__PAYLOAD_MAX + 1, &len);
    if (!append_after_gap(e, &m, t, len))
        return EMIT_FULL;
    e->b->printed++;
    (*e->seq)++;
    return EMIT_LINE;
}

/* A fill stops with e's gap open at *e->seq: if alone, its notice goes in
 * now; otherwise (or if it does not fit) *e->seq goes back to the gap's
 * start, for the next fill. */
void nblog__emit_close(struct emit *e, int alone)
{
    if (e->g.dropped == 0)
        return;
    if (alone && append_dropped_notice(e->buf, e->used, e->c, e->g.first, e->g.dropped)) {
        gap_to_books(e);
        return;
    }
    *e->seq = e->g.first;
    e->g.dropped = e->g.filtered = 0;
}

/*
 * Fills the batch with records from next_seq (or the end of the current
 * batch) up to `upto` (exclusive), at most max records. Owner only.
 */
static void fill_batch(struct nblog_console *c, const struct nblog__ring_hdr *r,
                       uint64_t upto, int max, uint32_t word)
{
    uint64_t seq = c->batch_end_seq;
    int level = atomic_load_explicit(&c->level, memory_order_relaxed);
    /* N4, acquire: pairs with N3, retire_default's release store. A batch filled
     * just before that store may run past end: records stored while the
     * program's first console registers can reach both consoles, and
     * none reaches neither (see DEFAULT CONSOLE). */
    uint64_t end = atomic_load_explicit(&c->end_seq, memory_order_acquire);
    if (upto > end)
        upto = end;
    /* What a panic flush left (see PANIC FLUSH). Relaxed: written before
     * the ownership word we acquired (O1) was released (O2). */
    uint64_t replay_end = atomic_load_explicit(&c->replay_end, memory_order_relaxed);
    if (c->batch_len == 0 && atomic_load_explicit(&c->out_cut, memory_order_relaxed))
        c->batch[c->batch_len++] = '\n'; /* the output stopped mid-line */
    struct emit e = {.c = c, .r = r, .level = level, .replay_end = replay_end,
                     .seq = &seq, .buf = c->batch, .used = &c->batch_len,
                     .scratch = c->batch + BATCH_BYTES, .b = &c->batch_books};
    emit_loc_of(e.scratch, 1);
    int i = 0;
    for (; i < max && seq < upto; i++) {
        if (!still_own(c, word))
            break;
        enum emit_step st = nblog__emit_next_line(&e);
        if (st == EMIT_NOT_YET || st == EMIT_FULL)
            break; /* not written yet (wait for its writer), or no room */
    }
    /* Alone only if the batch holds no line before it and nothing can
     * follow the gap (it runs to the ring's head, or to the console's end)
     * or the fill used its budget on it (a run of lost records longer than
     * max must still move on). A gap that only ran past upto (taken before
     * a long write, or a direct caller's own record) waits for the next
     * fill, which finds the record after it. */
    int no_line = c->batch_books.printed == 0 && c->batch_books.dropped == 0;
    int nothing_after = seq >= end || seq >= nblog__ring_head(r);
    nblog__emit_close(&e, no_line && (nothing_after || i == max));
    /* A fill moves on (a gap left open goes back to its start, which this
     * fill reached), and stays in the batch. */
    assert(seq >= c->batch_end_seq && c->batch_len <= BATCH_BYTES);
    c->batch_end_seq = seq;
}

/* Publishes a written (or failed) stretch of records: counters, then
 * next_seq = end. */
void nblog__publish(struct nblog_console *c, const struct books *b, int failed,
                    uint64_t end)
{
    /* Relaxed adds: statistics; N1, next_seq's release store, orders them
     * for a reader that checks the books against next_seq (pairs with N2,
     * the acquire load in nblog_console_stats and the others). */
    if (failed)
        atomic_fetch_add_explicit(&c->write_failed, b->printed, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&c->printed, b->printed, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->filtered, b->filtered, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->dropped, b->dropped, memory_order_relaxed);
    atomic_store_explicit(&c->next_seq, end, memory_order_release);
    atomic_store_explicit(&c->last_progress_ns, clock_now(), memory_order_relaxed);
}

/*
 * Publishes a written (or failed) batch, if we still own the console;
 * returns 0 if a panic took it. Owner only.
 * O6: seq_cst store of publishing, then seq_cst load of the owner word (O3); the
 * panic exchanges the word, then loads publishing (seq_cst): either we see
 * the panic and publish nothing, or it sees us publishing and waits, then
 * reads the next_seq we published. So books are never counted twice and
 * next_seq never goes back.
 */
static int finish_batch(struct nblog_console *c, int failed, uint32_t word)
{
    atomic_store_explicit(&c->publishing, 1, memory_order_seq_cst);
    int owned = still_own(c, word);
    if (owned) {
        nblog__publish(c, &c->batch_books, failed, c->batch_end_seq);
        drop_batch(c);
    }
    /* O6, release: pairs with the panic's load (O8); our stores above come
     * first. */
    atomic_store_explicit(&c->publishing, 0, memory_order_release);
    return owned;
}

/*
 * One write call by the owner, marked in_call (see PANIC FLUSH). O7: seq_cst
 * store of in_call, then the seq_cst load of the word in still_own (O3); the
 * panic exchanges the word, then loads in_call (seq_cst): either we see
 * the panic and do not call (-EAGAIN: the caller stops at its next
 * check), or it sees the call and waits for it (O8). The release store of
 * 0 publishes out_cut with it.
 */
static ssize_t owner_call(struct nblog_console *c, int atomic_only, const char *p, size_t n,
                          uint32_t word)
{
    atomic_store_explicit(&c->in_call, 1, memory_order_seq_cst);
    ssize_t w = -EAGAIN;
    if (still_own(c, word)) {
        w = atomic_only ? c->ops.write_atomic(c->ctx, p, n) : c->ops.write(c->ctx, p, n);
        w = nblog__written(w, n);
        if (w > 0) /* relaxed: published by the release store below */
            atomic_store_explicit(&c->out_cut,
                                  p[w - 1] == '\n' ? OUT_WHOLE
                                                   : OUT_CUT_AT + (size_t)(p + w - c->batch),
                                  memory_order_relaxed);
    }
    atomic_store_explicit(&c->in_call, 0, memory_order_release);
    return w;
}

/*
 * Writes the batch. atomic_only: through write_atomic, stopping at
 * -EAGAIN (returns 0, the rest stays for the next owner). Otherwise through
 * write, retrying EINTR/EAGAIN and short counts. Stops before any write
 * once the console is unregistered or suspended (returns 0; the rest stays
 * pending, counted nowhere yet). Returns 1 when the batch is done (written
 * or failed and counted).
 */
static int write_batch(struct nblog_console *c, int atomic_only, uint32_t word)
{
    /* O4, seq_cst: pairs with O5, the panic flush's exchange and load (see
     * still_own); from here on these records may be out, whole or in part. */
    atomic_store_explicit(&c->inflight_end, c->batch_end_seq, memory_order_seq_cst);
    assert(c->batch_off <= c->batch_len && c->batch_len <= BATCH_BYTES);
    while (c->batch_off < c->batch_len) {
        if (!still_own(c, word) || !may_print(c))
            return 0;
        const char *p = c->batch + c->batch_off;
        size_t n = c->batch_len - c->batch_off;
        ssize_t w = owner_call(c, atomic_only, p, n, word);
        if (w > 0) {
            c->batch_off += (size_t)w;
            continue;
        }
        if (w == -EINTR || (w == -EAGAIN && !atomic_only))
            continue;
        if (w == -EAGAIN || w == 0)
            return 0;
        if (!still_own(c, word))
            return 0;
        atomic_store_explicit(&c->last_error, (int)w, memory_order_relaxed);
        return finish_batch(c, 1, word);
    }
    /* A panic that took over while we wrote owns the books now. */
    return finish_batch(c, 0, word);
}

/*
 * Prints what is pending up to `upto`, at most max records, as owner.
 * Returns the number of records handled (0: nothing could be done).
 */
static uint64_t print_pending(struct nblog_console *c, const struct nblog__ring_hdr *r,
                              uint64_t upto, int max, int atomic_only, uint32_t word)
{
    uint64_t before = atomic_load_explicit(&c->next_seq, memory_order_relaxed);
    if (c->batch_len == 0)
        c->batch_end_seq = before;
    int budget = max;
    while (still_own(c, word) && may_print(c)) {
        /* Bytes not yet out: a half-written batch, or the rest of a line a
         * panic cut (see PANIC FLUSH), which holds no record of its own
         * and must go out all the same, before anything else. */
        int unwritten = c->batch_off < c->batch_len;
        if (c->batch_len == 0 || c->batch_off == 0) {
            uint64_t mark = c->batch_end_seq;
            fill_batch(c, r, upto, budget, word);
            budget -= (int)(c->batch_end_seq - mark);
        }
        if (!unwritten &&
            c->batch_end_seq == atomic_load_explicit(&c->next_seq, memory_order_relaxed))
            break; /* nothing new to write */
        if (c->batch_len == 0) {
            if (!finish_batch(c, 0, word)) /* only filtered or dropped */
                break;
        } else if (!write_batch(c, atomic_only, word)) {
            break;
        }
        if (budget <= 0 || c->batch_end_seq >= upto)
            break;
    }
    return atomic_load_explicit(&c->next_seq, memory_order_relaxed) - before;
}

/* ------------------------------------------------------- printer thread */

/* Sleeps until woken or timeout_us passes, unless records came meanwhile. */
static void wait_for_records(const struct nblog__ring_hdr *r, uint64_t next,
                             long timeout_us)
{
    /* Z2, seq_cst store and load: the printer side of the store-buffering
     * pair (see HOW PRINTERS LEARN...), pairs with Z1 in
     * nblog__consoles_notify and the writer's fetch_add on head. */
    atomic_store_explicit(&nblog__sleep_flag, 1, memory_order_seq_cst);
    uint64_t head =
        atomic_load_explicit((_Atomic uint64_t *)&r->head, memory_order_seq_cst);
    if (nblog__seq_clamp(head) > next) {
        /* Not sleeping after all: clear the flag, or the next writer at a
         * watermark pays a wake-up for nobody. Relaxed: a hint only. */
        atomic_store_explicit(&nblog__sleep_flag, 0, memory_order_relaxed);
        return;
    }
    nblog__futex_wait(&nblog__sleep_flag, 1, (uint64_t)timeout_us * 1000);
}

void *nblog__printer_main(void *arg)
{
    struct nblog_console *c = arg;
    const struct nblog__ring_hdr *r = ring_now();
    long idle_us = IDLE_SLEEP_MIN_US;
    /* Acquire: reads L2 (detach); the value only. Suspended: F3. */
    while (r && atomic_load_explicit(&c->state, memory_order_acquire) == ACTIVE) {
        if (atomic_load_explicit(&nblog__printers_paused, memory_order_relaxed))
            atomic_fetch_add_explicit(&nblog__printers_pause_naps, 1,
                                      memory_order_relaxed);
        if (atomic_load_explicit(&c->suspended, memory_order_acquire) ||
            atomic_load_explicit(&nblog__printers_paused, memory_order_relaxed)) {
            nblog__sleep_ns(5000000);
            continue;
        }
        nblog__line_fmt_refresh(&c->lf); /* local time's UTC offset */
        uint64_t next = atomic_load_explicit(&c->next_seq, memory_order_relaxed);
        uint64_t head = nblog__ring_head(r);
        /* Relaxed: a retiring default console is about to be detached. */
        if (next >= atomic_load_explicit(&c->end_seq, memory_order_relaxed)) {
            nblog__sleep_ns(1000000);
            continue;
        }
        if (next >= head) {
            wait_for_records(r, next, idle_us);
            if (idle_us < IDLE_SLEEP_MAX_US)
                idle_us *= 2;
            continue;
        }
        idle_us = IDLE_SLEEP_MIN_US;
        uint32_t word;
        if (!own(c, PRIO_NORMAL, &word)) {
            nblog__sleep_ns(200000); /* a direct caller or panic is printing */
            continue;
        }
        uint64_t done = print_pending(c, r, head, BATCH_RECORDS, 0, word);
        release(c, word);
        /* Our reference, our ring (see nblog__console_check_positions). */
        assert(nblog__console_check(c) && nblog__console_check_positions(c, r));
        if (done == 0)
            nblog__sleep_ns(100000); /* the next record is still being written */
    }
    nblog__put_blocking(c); /* a printer may block: it tears down if last */
    /* A1, release: pairs with A2, nblog__consoles_shutdown's acquire load; our last
     * reads of the ring happen before it. */
    atomic_fetch_sub_explicit(&nblog__printers_alive, 1, memory_order_release);
    return NULL;
}

/* ---------------------------------------------------- logging-call side */

/* Records between the writers' wake-up checks: a sleeping printer is
 * woken when a watermark seq is stored (so a burst cannot lap it while it
 * naps), and otherwise wakes by itself within IDLE_SLEEP_MAX_US. */
static uint64_t wake_mask(const struct nblog__ring_hdr *r)
{
    uint64_t every = r->records / 4;
    every = every < NBLOG__WAKE_MIN ? NBLOG__WAKE_MIN : every > 65536 ? 65536 : every;
    /* records is a power of two, so is every; at least NBLOG__WAKE_MIN,
     * which nblog__consoles_notify_needed relies on (console.h). */
    assert((every & (every - 1)) == 0 && every % NBLOG__WAKE_MIN == 0);
    return every - 1;
}

void nblog__consoles_notify(const struct nblog__ring_hdr *r, uint64_t seq,
                            uint8_t flags)
{
    /* Relaxed: a hint; the panic owns the consoles it prints to anyway. */
    if (atomic_load_explicit(&nblog__panicking, memory_order_relaxed))
        return;
    nblog__consoles_restart_if_forked();
    int emergency = flags & NBLOG_F_EMERGENCY;
    /* Z1, seq_cst: the writer side of the store-buffering pair with Z2;
     * the writer's fetch_add on head came before (ring.c H1). */
    if (((seq & wake_mask(r)) == 0 || emergency) &&
        atomic_load_explicit(&nblog__sleep_flag, memory_order_seq_cst) &&
        atomic_exchange_explicit(&nblog__sleep_flag, 0, memory_order_seq_cst))
        nblog__futex_wake(&nblog__sleep_flag, INT_MAX);
    /* Relaxed: counts of consoles to visit; a stale value only makes this
     * call skip or visit a console that is changing anyway. */
    if (!atomic_load_explicit(&nblog__n_direct, memory_order_relaxed) &&
        !(emergency && atomic_load_explicit(&nblog__n_atomic_capable, memory_order_relaxed)))
        return;
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &nblog__console_pool[i];
        if (atomic_load_explicit(&c->state, memory_order_relaxed) != ACTIVE)
            continue;
        if (!get(c))
            continue;
        /* ops and mode are read only under our reference: a slot reused
         * meanwhile is not this console. Suspended: F3. */
        uint32_t word;
        if (c->ops.write_atomic && (c->mode == NBLOG_MODE_DIRECT || emergency) &&
            !atomic_load_explicit(&c->suspended, memory_order_acquire) &&
            own(c, emergency ? PRIO_EMERGENCY : PRIO_NORMAL, &word)) {
            print_pending(c, r, seq + 1, DIRECT_RECORDS, 1, word);
            release(c, word);
        }
        put(c);
    }
}

/* --------------------------------------------------------------- flush */

int nblog_flush(unsigned timeout_ms, char *lagging, size_t lagging_size)
{
    const struct nblog__ring_hdr *r = ring_now();
    if (lagging && lagging_size)
        lagging[0] = '\0';
    if (!r)
        return 0;
    nblog__consoles_restart_if_forked();
    uint64_t target = nblog__ring_head(r);
    uint64_t deadline = nblog__now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int behind = 0;
        size_t used = 0;
        if (lagging && lagging_size)
            lagging[0] = '\0'; /* this pass's list only */
        for (int i = 0; i < MAX_CONSOLES; i++) {
            struct nblog_console *c = &nblog__console_pool[i];
            if (!get(c))
                continue;
            /* N2, acquire: pairs with N1 (the value is what counts);
             * suspended: a filter (F3). */
            if (!atomic_load_explicit(&c->suspended, memory_order_relaxed) &&
                atomic_load_explicit(&c->next_seq, memory_order_acquire) < target) {
                behind++;
                if (lagging && lagging_size > used + 1) {
                    used += nblog__format(lagging + used, lagging_size - used,
                                          "%s%s", used ? "," : "", c->name);
                    if (used >= lagging_size)
                        used = lagging_size - 1;
                }
            }
            put(c);
        }
        if (behind == 0 || nblog__now_ns() >= deadline)
            return behind;
        atomic_store_explicit(&nblog__sleep_flag, 0, memory_order_seq_cst);
        nblog__futex_wake(&nblog__sleep_flag, INT_MAX);
        nblog__sleep_ns(1000000);
    }
}

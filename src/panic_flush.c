/*
 * panic_flush.c - the panic's part of the consoles: takeover and the
 * panic's pass loop (layer: consoles; shared state in console_impl.h).
 *
 * PANIC FLUSH (nblog__consoles_panic_flush, driven by panic.c)
 *
 * The panic takes the word with an exchange, whatever holds it, and prints
 * from next_seq with buffers of its own: it never writes to the batch of
 * an owner it displaced, which may still be inside write() with it (it
 * only reads the rest of a line that owner cut, see below). What was
 * in flight is known from inflight_end, stored (seq_cst) by an owner just
 * before it writes a batch: records in [next_seq, inflight_end) may be out,
 * whole or in part, so the panic prints them again flagged
 * NBLOG_F_REPLAYED. (seq_cst on both sides: either the owner's check of
 * the word before writing sees the panic, or the panic sees inflight_end.)
 * A displaced owner finds out at its next check and stops; on release it
 * drops its stale batch, repairs next_seq if it published over the
 * panic's, and takes back its count in `displaced`, which until then
 * keeps every other would-be owner out (the batch is still the displaced
 * owner's). It is a count, not a flag, because the owner may find the
 * word gone before the panic has counted it (the panic exchanges the
 * word, then adds). A panic that returns lets the word go; a dying one
 * keeps it.
 *
 * Whole lines and marked repeats, whoever writes next:
 *   - Every write call says how the output ends (out_cut): at a line's
 *     end; in the middle of one; or in the middle of one whose rest is in
 *     the batch of the owner that wrote it. A writer that starts a batch
 *     while the output ends mid-line starts with a newline.
 *   - An owner marks its calls (in_call, see owner_call). A panic that
 *     takes the console from an owner inside a call waits for that call
 *     to return (boundedly, like wait_for_publisher) so no byte of the old
 *     owner lands after the panic's, then writes the rest of the line that
 *     owner cut (those bytes stay as they are while the panic holds the
 *     word: the owner only resets the batch's lengths when it lets go,
 *     and nobody else may fill it); if the call does not
 *     return (a printer blocked in write) it assumes a cut line.
 *   - A panic that finds the console free with a batch its last owner left
 *     half written (write_atomic stopped at EAGAIN after a short count)
 *     writes the rest of that batch first: the cut line is completed, not
 *     repeated.
 *   - A panic whose own write stops (deadline) leaves replay_end for the
 *     next owner, printer or direct caller alike: records below it may be
 *     out already and are marked replayed. So a record printed twice
 *     always has its later copy marked. If it stopped mid-line, the rest
 *     of that line is left as the console's pending batch, and out_cut
 *     says so (OUT_CUT_AT + where it starts), so a panic that displaces
 *     the next owner before its first write still finishes the line
 *     (unless a displaced owner holds the batch: then the next writer
 *     starts a new line).
 *
 * MEMORY ORDERING: the tags and their pairs are listed in console_impl.h
 * (MEMORY ORDERING). This file's: O5 (panic_take's exchange and loads),
 * O8 (wait_while_set), O2 (panic_let_go's CAS); D1 (panic_take), D3
 * (panic_take, panic_leave_rest), D4 (panic_let_go); F3's loads of
 * suspended. Relaxed: replay_end and out_cut (ordered by the word: our
 * O5 reads after the last O2 or owner, and the next owner's O1 after our
 * O2; and after O8 for a displaced owner's out_cut), inflight_end when
 * we let go (ordered by O2), level and last_error (a filter, a
 * statistic).
 */

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "console_impl.h"
#include "format.h"
#include "nblog.h"

/* ---------------------------------------------------------- panic flush */

/* Only the thread that won the panic gate (panic.c) runs this section, so
 * its buffers are static: that keeps ~80 KiB off an alternate signal stack. */
static char panic_batch[BATCH_BYTES];
static _Alignas(8) char panic_scratch[SCRATCH_BYTES]; /* the emit step's (struct emit) */

#define PANIC_PENDING_WAIT_NS 20000000u /* grace for an unfinished record */

/* One console during one panic flush. */
struct panic_pos {
    uint64_t seq;        /* next record to print */
    uint64_t replay_end; /* records before it were in flight: marked replayed */
    uint32_t word;       /* our ownership word */
    int taken;           /* we hold the word (and a reference) */
    int incomplete;      /* the deadline passed before it was done */
    int finish;          /* the last owner left a batch half written: finish it */
    int torn;            /* the output may end mid-line: start a new one */
    size_t rest;         /* 1 + where in the displaced owner's batch the rest
                          * of the line it cut starts; 0: none */
};
static struct panic_pos panic_pos[MAX_CONSOLES];

#define PANIC_FLAG_WAIT_NS 10000000u /* grace for an owner's call or publishing */

/* Waits, boundedly (10 ms by the clock, not by a count of naps: on a
 * loaded machine each nap may last a time slice, and a thousand of them
 * would eat the whole panic deadline), while *flag is set; returns 1 if
 * it cleared. O8, seq_cst: the panic side of the pairs described at
 * finish_batch (publishing, O6) and owner_call (in_call, O7); acquires
 * what the owner did before its release store of 0. */
static int wait_while_set(_Atomic int *flag)
{
    uint64_t until = nblog__now_ns() + PANIC_FLAG_WAIT_NS;
    while (atomic_load_explicit(flag, memory_order_seq_cst)) {
        if (nblog__now_ns() >= until)
            return 0;
        nblog__sleep_ns(10000);
    }
    return 1;
}

/* An owner caught publishing its books (finish_batch) finishes in a few
 * instructions; wait for it, boundedly: it may be this very thread,
 * interrupted by the fatal signal, or preempted. */
static void wait_for_publisher(struct nblog_console *c)
{
    wait_while_set(&c->publishing);
}

/* Takes the console at panic priority, whatever holds it. */
static void panic_take(struct nblog_console *c, struct panic_pos *p)
{
    uint32_t me = my_word(PRIO_PANIC);
    /* O5, seq_cst: the panic side of the pair described at still_own()
     * (O3/O4); it also acquires what the previous owner released (O2). */
    uint32_t old = atomic_exchange_explicit(&c->owner, me, memory_order_seq_cst);
    int hostile = old != 0 && (old & 3u) != PRIO_PANIC;
    int call_done = 1;
    if (hostile) {
        /* The old owner keeps its batch; it cleans up when it notices
         * (release()). D1, acq_rel: pairs with D2, release()'s decrement. */
        atomic_fetch_add_explicit(&c->displaced, 1, memory_order_acq_rel);
        wait_for_publisher(c);
        /* Its write call in progress goes out before ours (a write_atomic
         * returns soon; a blocked write may not). Not when it is this
         * thread, interrupted inside it: that call cannot return first. */
        call_done = (old >> 2) != nblog__tid() && wait_while_set(&c->in_call);
    } else if (atomic_load_explicit(&c->displaced, memory_order_acquire) == 0) { /* D3 */
        /* The batch is ours now: one left half written is finished first,
         * completing its cut line (see PANIC FLUSH). */
        p->finish = c->batch_len > c->batch_off;
        if (!p->finish)
            drop_batch(c);
    }
    /* O5's seq_cst loads: taken from an owner, after O8 (publishing), so
     * next_seq includes what it published; inflight_end pairs with O4. */
    p->seq = atomic_load_explicit(&c->next_seq, memory_order_seq_cst);
    uint64_t inflight = atomic_load_explicit(&c->inflight_end, memory_order_seq_cst);
    /* Relaxed: what an earlier panic left, ordered by the word we took. */
    uint64_t left = atomic_load_explicit(&c->replay_end, memory_order_relaxed);
    p->replay_end = inflight > p->seq ? inflight : p->seq;
    if (left > p->replay_end)
        p->replay_end = left;
    /* How the output ends; a call still in progress may end it anywhere.
     * Relaxed: after the acquire of in_call or of the word. */
    size_t cut = call_done ? atomic_load_explicit(&c->out_cut, memory_order_relaxed) : OUT_CUT;
    p->torn = !p->finish && cut != OUT_WHOLE;
    /* The owner we displaced cut a line of its batch: its rest goes first. */
    p->rest = hostile && cut >= OUT_CUT_AT ? cut - OUT_CUT_AT + 1 : 0;
    p->word = me;
    p->taken = 1;
}

/* write_atomic until buf is out; waits out EAGAIN until the deadline.
 * Returns 0, -ETIMEDOUT or the write's error; *out: bytes written. */
static int panic_write(struct nblog_console *c, const char *buf, size_t len,
                       uint64_t deadline, size_t *out)
{
    *out = 0;
    while (len > 0) {
        ssize_t w = nblog__written(c->ops.write_atomic(c->ctx, buf, len), len);
        if (w > 0) {
            /* Relaxed: ordered for the next owner by the word. */
            atomic_store_explicit(&c->out_cut, buf[w - 1] == '\n' ? OUT_WHOLE : OUT_CUT,
                                  memory_order_relaxed);
            buf += w;
            len -= (size_t)w;
            *out += (size_t)w;
            continue;
        }
        if (w == -EINTR)
            continue;
        if (w != -EAGAIN && w != 0)
            return (int)w;
        if (nblog__now_ns() >= deadline)
            return -ETIMEDOUT;
        nblog__sleep_ns(1000000);
    }
    return 0;
}

/* A record handed out but never committed: wait a little for its writer
 * (other threads still run), then skip it with a notice. Returns 1 if it
 * was skipped, 0 to try again, -1 if the buffer is full. */
static int panic_unfinished(struct nblog_console *c, struct panic_pos *p,
                            size_t *used, uint64_t *waiting_since, uint64_t deadline)
{
    uint64_t now = nblog__now_ns();
    if (*waiting_since == 0)
        *waiting_since = now;
    if (now - *waiting_since < PANIC_PENDING_WAIT_NS && now < deadline) {
        nblog__sleep_ns(1000000);
        return 0;
    }
    char note[96];
    size_t len = nblog__format(note, sizeof note,
                               "** record %llu was never finished, skipped **",
                               (unsigned long long)p->seq);
    if (!nblog__append_notice(panic_batch, used, c, p->seq, note, len))
        return -1;
    *waiting_since = 0;
    return 1;
}

/* Renders records from p->seq up to upto into the panic batch, until it
 * is full; what they did goes to *b. The emit step's loop with the
 * panic's policy (see ONE EMIT PATH in printer.c): no ownership to check,
 * a record not yet written is waited for a little, then skipped. */
static void panic_fill(struct nblog_console *c, const struct nblog__ring_hdr *r,
                       struct panic_pos *p, uint64_t upto, uint64_t deadline,
                       size_t *used, struct books *b)
{
    struct emit e = {.c = c, .r = r,
                     .level = atomic_load_explicit(&c->level, memory_order_relaxed),
                     .replay_end = p->replay_end, .seq = &p->seq, .buf = panic_batch,
                     .used = used, .scratch = panic_scratch, .b = b};
    emit_loc_of(e.scratch, 1);
    uint64_t waiting_since = 0;
    for (;;) {
        if (p->seq >= upto) {
            nblog__emit_close(&e, 1);
            return;
        }
        enum emit_step st = nblog__emit_next_line(&e);
        if (st == EMIT_FULL) {
            nblog__emit_close(&e, 0);
            return;
        }
        if (st == EMIT_NOT_YET) {
            /* Waiting for it may take long: the gap before it goes out
             * first (or, with no room, waits with it for the next fill). */
            uint64_t at = p->seq;
            nblog__emit_close(&e, 1);
            if (p->seq != at)
                return;
            int skipped = panic_unfinished(c, p, used, &waiting_since, deadline);
            if (skipped < 0)
                return;
            b->dropped += (uint64_t)skipped;
            p->seq += (uint64_t)skipped;
            continue;
        }
        if (st != EMIT_GONE)
            waiting_since = 0; /* the record was there */
    }
}

/* Whether the first n bytes of buf, just written, leave a line unfinished
 * (n == 0: as it was). */
static int stops_mid_line(const char *buf, size_t n, int was)
{
    return n ? buf[n - 1] != '\n' : was;
}

/* The batch now holds the rest of a line the output stopped in, from
 * batch_off (see PANIC FLUSH): say so in out_cut, as owner_call does, so
 * that a panic taking the batch's next owner before its first write
 * finishes that line rather than starting a new one and losing the rest.
 * Relaxed: ordered for the next owner by the word, like our other stores. */
static void rest_in_batch(struct nblog_console *c)
{
    if (c->batch_off > 0 && c->batch[c->batch_off - 1] != '\n')
        atomic_store_explicit(&c->out_cut, OUT_CUT_AT + c->batch_off, memory_order_relaxed);
}

/* Writes the rest of the batch the last owner left half written, and
 * publishes it. At the deadline the rest stays for the next owner (and
 * nothing more can be printed before it, in order). */
static void panic_finish(struct nblog_console *c, struct panic_pos *p, uint64_t deadline)
{
    size_t out;
    int rc = panic_write(c, c->batch + c->batch_off, c->batch_len - c->batch_off, deadline,
                         &out);
    c->batch_off += out;
    if (rc == -ETIMEDOUT) {
        rest_in_batch(c);
        p->incomplete = 1;
        return;
    }
    if (rc < 0) {
        atomic_store_explicit(&c->last_error, rc, memory_order_relaxed);
        p->torn = stops_mid_line(c->batch, c->batch_off, 0);
    }
    p->seq = c->batch_end_seq;
    nblog__publish(c, &c->batch_books, rc < 0, p->seq);
    drop_batch(c);
}

/* Ends a line the output may have been left in the middle of, by a write
 * of its own: a datagram console (one record per send, never cut) then
 * gets an empty message rather than a record with a newline in front.
 * Returns 0 if it could not (the console is then incomplete). */
static int panic_new_line(struct nblog_console *c, struct panic_pos *p, uint64_t deadline)
{
    size_t out;
    int rc = panic_write(c, "\n", 1, deadline, &out);
    if (out == 1) {
        p->torn = 0;
        return 1;
    }
    if (rc < 0 && rc != -ETIMEDOUT)
        atomic_store_explicit(&c->last_error, rc, memory_order_relaxed);
    p->incomplete = 1;
    return 0;
}

/* Writes the rest of the line a displaced owner cut, from its batch (a
 * line there always ends in '\n' within LINE_MAX_BYTES). Returns 1 if the
 * line is whole now; 0 leaves p->torn for a newline. */
static int panic_finish_line(struct nblog_console *c, struct panic_pos *p, uint64_t deadline)
{
    size_t off = p->rest - 1, cap = BATCH_BYTES - off;
    p->rest = 0;
    if (off >= BATCH_BYTES)
        return 0;
    const char *nl = memchr(c->batch + off, '\n', cap < LINE_MAX_BYTES ? cap : LINE_MAX_BYTES);
    if (!nl)
        return 0;
    size_t out;
    panic_write(c, c->batch + off, (size_t)(nl + 1 - (c->batch + off)), deadline, &out);
    if (out == (size_t)(nl + 1 - (c->batch + off)))
        p->torn = 0;
    return !p->torn;
}

/* Our write stopped in the middle of a line: unless a displaced owner
 * holds the batch, the rest of that line becomes the console's pending
 * batch (no records of its own), which the next owner writes before
 * anything else, as it would its own half-written batch. */
static void panic_leave_rest(struct nblog_console *c, struct panic_pos *p, size_t out,
                             size_t used)
{
    /* D3, acquire: pairs with D2, release()'s release decrement. */
    if (atomic_load_explicit(&c->displaced, memory_order_acquire) != 0)
        return;
    const char *nl = memchr(panic_batch + out, '\n', used - out);
    if (!nl)
        return;
    size_t n = (size_t)(nl + 1 - (panic_batch + out));
    drop_batch(c);
    memcpy(c->batch, panic_batch + out, n);
    c->batch_len = n;
    c->batch_end_seq = p->seq;
    atomic_store_explicit(&c->out_cut, OUT_CUT_AT, memory_order_relaxed); /* rest at 0 */
    p->torn = 0;
}

/* Prints everything console c has not printed up to upto, as panic. */
static void panic_console(struct nblog_console *c, const struct nblog__ring_hdr *r,
                          struct panic_pos *p, uint64_t upto, uint64_t deadline)
{
    if (!p->taken)
        panic_take(c, p);
    if (p->finish) {
        p->finish = 0;
        panic_finish(c, p, deadline);
    }
    if (p->rest)
        panic_finish_line(c, p, deadline);
    while (p->seq < upto && !p->incomplete) {
        if (p->torn && !panic_new_line(c, p, deadline))
            break;
        size_t used = 0, out = 0;
        struct books b = {0, 0, 0};
        uint64_t from = p->seq;
        panic_fill(c, r, p, upto, deadline, &used, &b);
        int rc = used ? panic_write(c, panic_batch, used, deadline, &out) : 0;
        if (used)
            p->torn = stops_mid_line(panic_batch, out, p->torn);
        if (rc == -ETIMEDOUT) {
            /* Not out, or only in part: still pending, and whoever prints
             * them next marks them replayed (see PANIC FLUSH). */
            if (out > 0 && p->seq > p->replay_end)
                p->replay_end = p->seq;
            p->seq = from;
            p->incomplete = 1;
            if (p->torn)
                panic_leave_rest(c, p, out, used);
            break;
        }
        if (rc < 0)
            atomic_store_explicit(&c->last_error, rc, memory_order_relaxed);
        nblog__publish(c, &b, rc < 0, p->seq);
        if (nblog__now_ns() >= deadline && p->seq < upto)
            p->incomplete = 1;
    }
}

/* What one pass of the panic flush leaves for whoever prints next (the
 * next pass, when dying, or the owners after a flush that returns): the
 * records it may have put out. (How its output ends is in out_cut.) */
static void panic_leave_notes(struct nblog_console *c, const struct panic_pos *p)
{
    /* Relaxed: published by the release CAS in panic_let_go (and to a
     * displaced owner's successor by its release decrement of displaced); a
     * next pass is this thread. */
    atomic_store_explicit(&c->replay_end, p->replay_end > p->seq ? p->replay_end : p->seq,
                          memory_order_relaxed);
    if (p->torn) /* a cut line we could not end, or assumed: the next owner ends it */
        atomic_store_explicit(&c->out_cut, OUT_CUT, memory_order_relaxed);
}

/* Lets go of a console after a panic flush that returns. */
static void panic_let_go(struct nblog_console *c, struct panic_pos *p)
{
    /* D4, release: pairs with D5, release()'s acquire load in a displaced
     * owner. */
    atomic_store_explicit(&c->panic_end, p->seq, memory_order_release);
    atomic_store_explicit(&c->inflight_end, p->seq, memory_order_relaxed);
    uint32_t word = p->word;
    /* O2, release: pairs with O1, own()'s acquire CAS. */
    atomic_compare_exchange_strong_explicit(&c->owner, &word, 0, memory_order_release,
                                            memory_order_relaxed);
}

/* Drops a reference the panic took (with get(), which is signal-safe).
 * Dying, it keeps it: the console then stays out of the reaper's hands
 * (no teardown closes its fd) while the backtrace and the last pass still
 * print through it. */
static void panic_put(struct nblog_console *c, int dying)
{
    if (!dying)
        put(c);
}

int nblog__consoles_panic_flush(uint64_t deadline_ns, int keep_ownership)
{
    const struct nblog__ring_hdr *r = ring_now();
    if (!r)
        return 0;
    memset(panic_pos, 0, sizeof panic_pos);
    /* Records other threads store meanwhile (a second crash report) get
     * one more pass; a thread logging without end does not keep us. */
    uint64_t upto = 0;
    for (int pass = 0; pass < 3; pass++) {
        uint64_t head = nblog__ring_head(r);
        if (pass > 0 && head == upto)
            break;
        upto = head;
        for (int i = 0; i < MAX_CONSOLES; i++) {
            struct nblog_console *c = &nblog__console_pool[i];
            struct panic_pos *p = &panic_pos[i];
            if (!p->taken) {
                if (!get(c))
                    continue;
                if (!c->ops.write_atomic ||
                    atomic_load_explicit(&c->suspended, memory_order_acquire)) {
                    panic_put(c, keep_ownership);
                    continue;
                }
            }
            panic_console(c, r, p, upto, deadline_ns);
        }
    }
    int incomplete = 0;
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct panic_pos *p = &panic_pos[i];
        if (!p->taken)
            continue;
        incomplete += p->incomplete || p->seq < upto;
        panic_leave_notes(&nblog__console_pool[i], p);
        if (!keep_ownership)
            panic_let_go(&nblog__console_pool[i], p);
        panic_put(&nblog__console_pool[i], keep_ownership);
    }
    return incomplete;
}

size_t nblog__consoles_unflushable(char *names, size_t cap, int dying)
{
    size_t used = 0, n = 0;
    names[0] = '\0';
    for (int i = 0; i < MAX_CONSOLES; i++) {
        struct nblog_console *c = &nblog__console_pool[i];
        if (!get(c))
            continue;
        int flushable = c->ops.write_atomic &&
                        !atomic_load_explicit(&c->suspended, memory_order_relaxed);
        if (flushable) {
            panic_put(c, dying);
            continue;
        }
        n++;
        if (used + 1 < cap) {
            used += nblog__format(names + used, cap - used, "%s%s", used ? ", " : "",
                                  c->name);
            if (used >= cap)
                used = cap - 1;
        }
        panic_put(c, dying);
    }
    return n;
}

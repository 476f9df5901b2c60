/*
 * pattern.c - the human and pattern line formats: a pattern compiled once,
 * at registration, into items, and rendered from them signal-safely; the
 * UTC offset for local time; whose records these are (the cached pid, the
 * program name handed down); colour. Layer: render (render.h).
 * Uses render.c's escaping and calendar and the formatter; knows the
 * record's metadata and the line's identity (struct nblog__line_id, in
 * the line format), not consoles (a console's slot keeps a struct
 * nblog__line_fmt, and its printer calls the refresh).
 *
 * COMPILING (nblog__line_fmt_init, may block)
 *   The pattern's text is split into items: literal runs (bytes kept in
 *   lit[], checked: no control byte, no byte that is not UTF-8, nothing a
 *   terminal acts on) and conversions, each with an optional width. The
 *   human format is a pattern built from opts.show (see nblog.h LINE
 *   FORMATS). Errors are sentences naming the offset and the item.
 *
 * RENDERING (nblog__render_fmt, signal-safe: no malloc, no lock, no
 *   localtime_r)
 *   Items go out one after another into the caller's line. An item that
 *   does not fit whole ends the line there (the message is cut at a
 *   character boundary instead); room for a colour reset and the '\n' is
 *   kept back, so a line is always whole and never leaves a terminal
 *   coloured. The message and program name are escaped as every line is
 *   (render.c escape); a replayed record's message starts "[replayed] ".
 *   The call site's items (%s %g %# %! %@, and the human format's
 *   "[base:line func] ", loc_item) read m->loc, which a reader sets only
 *   for a format that has one (line_fmt.wants_loc); they are escaped as
 *   the message, show nothing without a location, and go in whole or end
 *   the line.
 *
 * UTC OFFSET (local time)
 *   Taken outside rendering: at registration and, once a minute, by the
 *   console's printer thread (nblog__line_fmt_refresh), which looks at
 *   the offset two minutes before and after now and, if they differ,
 *   finds the second of the change by bisection. A record is shown with
 *   the offset before or after that change by its own time. Two slots
 *   and a generation, a seqlock on each read: the refresher writes the
 *   slot not in use, then publishes it; a renderer uses what it read
 *   only if tz_gen did not move while it read:
 *
 *     refresher: g = tz_gen; release fence         (PAT-TZ1)
 *                fill tz[(g + 1) & 1] (relaxed)
 *                release store tz_gen = g + 1      (PAT-TZ2)
 *     renderer:  g = acquire load tz_gen           (PAT-TZ3)
 *                read tz[g & 1] (relaxed)
 *                acquire fence, reload tz_gen      (PAT-TZ4)
 *                unchanged: use it; moved: read again (4 tries at most)
 *
 *   Any move means "read again", not only a move by 2: the refresh that
 *   takes tz_gen from g + 1 to g + 2 rewrites slot g & 1 while tz_gen is
 *   still g + 1, so a renderer that loaded g and stalled into it would
 *   otherwise mix two refreshes' values. A renderer overtaken four times
 *   running (refreshes completing while it reads, each a minute apart
 *   unless the clock is stepped back) uses what it read last. A signal
 *   handler rendering on the refresher's own thread reads the slot in
 *   use, which the interrupted refresh does not write, and tz_gen does
 *   not move under it: it reads once.
 *
 * MEMORY ORDERING (tags as in ring.c)
 *   PAT-TZ1 tz_take: tz_gen (relaxed), release fence, then the slot's
 *           values (relaxed)
 *   PAT-TZ2 tz_take: tz_gen = g + 1 (release)
 *   PAT-TZ3 offset_for: tz_gen (acquire), the slot's values (relaxed)
 *   PAT-TZ4 offset_for: acquire fence, tz_gen again (relaxed): used
 *           only if still g
 *   TZ3 pairs with TZ2: a renderer that loads g + 1 sees the slot it
 *   names filled in. TZ4 pairs with TZ1 as ring.c's R3 with W1: if a slot
 *   load returned a value a later refresh stored (after its TZ1 fence,
 *   which follows the TZ2 store of the refresh before it), the reload
 *   sees that TZ2's value or a later one, tz_gen != g, and the read is
 *   discarded. Every field is atomic: no data race.
 *   PAT-WHO nblog__who_set_program: own_program (release) <-> own_name:
 *           own_program (acquire): the name's bytes come with the pointer.
 *   Relaxed: cached_pid (stored before any console that shows it is
 *   registered, so register's release of ACTIVE and the printer's
 *   creation publish it, console_impl.h L4; in a forked child before any
 *   other thread exists); tz_gen's load by tz_take (PAT-TZ1: its only
 *   writer).
 */
#include <assert.h>
#include <errno.h> /* program_invocation_short_name */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "format_float.h" /* the decimal digit pairs */
#include "nblog.h"
#include "render.h"
#include "testhooks.h"

enum {
    OP_LIT, OP_YEAR, OP_MON, OP_DAY, OP_HOUR, OP_MIN, OP_SEC, OP_MSEC, OP_USEC,
    OP_NSEC, OP_ZONE, OP_LEVEL, OP_LEVEL_UP, OP_SEQ, OP_TID, OP_PID, OP_PROG,
    OP_MSG, OP_COLOR_ON, OP_COLOR_OFF,
    /* The call site (m->loc): OP_FILE_BASE to OP_HUMAN_LOC, none shown
     * when the record has none (loc_item). */
    OP_FILE_BASE, OP_FILE, OP_LINE, OP_FUNC, OP_FILE_LINE,
    OP_HUMAN_LOC, /* the human format's "[base:line func] "; no letter */
};
#define IS_LOC_OP(op) ((op) >= OP_FILE_BASE && (op) <= OP_HUMAN_LOC)

static const struct {
    char ch;
    uint8_t op;
} conversions[] = {
    {'Y', OP_YEAR}, {'m', OP_MON},      {'d', OP_DAY},  {'H', OP_HOUR},
    {'M', OP_MIN},  {'S', OP_SEC},      {'e', OP_MSEC}, {'f', OP_USEC},
    {'F', OP_NSEC}, {'z', OP_ZONE},     {'l', OP_LEVEL}, {'L', OP_LEVEL_UP},
    {'q', OP_SEQ},  {'t', OP_TID},      {'P', OP_PID},  {'n', OP_PROG},
    {'v', OP_MSG},  {'^', OP_COLOR_ON}, {'$', OP_COLOR_OFF},
    {'s', OP_FILE_BASE}, {'g', OP_FILE}, {'#', OP_LINE}, {'!', OP_FUNC},
    {'@', OP_FILE_LINE},
};

#define COLOR_RESET "\033[0m"
#define WIDTH_MAX 64

/* ------------------------------------------------------------- pid */

static _Atomic int cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_refresh(void)
{
    /* Relaxed: a plain value; in a forked child this runs before any
     * thread but the forking one exists. */
    atomic_store_explicit(&cached_pid, (int)getpid(), memory_order_relaxed);
}

static void pid_setup(void)
{
    pid_refresh();
}

void nblog__pid_fork_child(void)
{
    pid_refresh();
}

int nblog__pid(void)
{
    /* Relaxed, with nothing to pair: pid_refresh stores it before any
     * console that shows it is registered (line_fmt_init), and register's
     * release store of ACTIVE publishes it (console_impl.h L4). */
    int pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
    return pid ? pid : (int)getpid(); /* before any registration */
}

/* ------------------------------------------------------------- colour */

int nblog__color_auto(int fd)
{
    const char *no = getenv("NO_COLOR"), *term = getenv("TERM");
    if ((no && *no) || (term && strcmp(term, "dumb") == 0))
        return NBLOG_COLOR_NEVER;
    return isatty(fd) ? NBLOG_COLOR_ALWAYS : NBLOG_COLOR_NEVER;
}

/* ------------------------------------------------------------- UTC offset */

static long offset_at(time_t t)
{
    struct tm tm;
    return localtime_r(&t, &tm) ? tm.tm_gmtoff : 0;
}

#define TZ_WINDOW_S 120 /* looked at either side of now */
#define TZ_REFRESH_S 60

static void tz_take(struct nblog__line_fmt *f, time_t now)
{
    tzset(); /* TZ may have changed */
    long before = offset_at(now - TZ_WINDOW_S), after = offset_at(now + TZ_WINDOW_S);
    int64_t change = INT64_MAX;
    if (before != after) {
        time_t lo = now - TZ_WINDOW_S, hi = now + TZ_WINDOW_S; /* before at lo, not at hi */
        while (hi - lo > 1) {
            time_t mid = lo + (hi - lo) / 2;
            if (offset_at(mid) == before)
                lo = mid;
            else
                hi = mid;
        }
        change = (int64_t)hi;
    }
    /* Relaxed (PAT-TZ1): the refresher is tz_gen's only writer. */
    unsigned g = atomic_load_explicit(&f->tz_gen, memory_order_relaxed);
    struct nblog__tz *z = &f->tz[(g + 1) & 1];
    /* PAT-TZ1: the release fence orders the last refresh's tz_gen store
     * (g) before this slot's stores; pairs with PAT-TZ4's acquire fence. */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&z->before, before, memory_order_relaxed);
    atomic_store_explicit(&z->after, after, memory_order_relaxed);
    atomic_store_explicit(&z->switch_s, change, memory_order_relaxed);
    NBLOG__TEST_HOOK(nblog__tz_publish_hook, ()); /* the slot filled, unpublished */
    /* PAT-TZ2 (release): pairs with PAT-TZ3's acquire load; the slot's
     * values are seen with the generation that names it. */
    atomic_store_explicit(&f->tz_gen, g + 1, memory_order_release);
    f->tz_next_s = (int64_t)now + TZ_REFRESH_S;
}

#ifdef NBLOG_TEST_HOOKS
void (*_Atomic nblog__tz_publish_hook)(void);
void (*_Atomic nblog__tz_read_hook)(void);

void nblog__line_fmt_tz_at(struct nblog__line_fmt *f, int64_t now_s)
{
    tz_take(f, (time_t)now_s);
}
#endif

void nblog__line_fmt_refresh(struct nblog__line_fmt *f)
{
    if (!f->local)
        return;
    time_t now = time(NULL);
    if ((int64_t)now >= f->tz_next_s || (int64_t)now < f->tz_next_s - 2 * TZ_REFRESH_S)
        tz_take(f, now); /* due, or the clock was stepped back */
}

/* The UTC offset in force at wall_ns. [signal-safe] */
static long offset_for(const struct nblog__line_fmt *f, int64_t wall_ns)
{
    if (!f->local)
        return 0;
    long before = 0, after = 0;
    int64_t change = INT64_MAX;
    for (int tries = 0; tries < 4; tries++) {
        /* PAT-TZ3 (acquire): pairs with PAT-TZ2's release store. */
        unsigned g = atomic_load_explicit(&f->tz_gen, memory_order_acquire);
        const struct nblog__tz *z = &f->tz[g & 1];
        before = atomic_load_explicit(&z->before, memory_order_relaxed);
        NBLOG__TEST_HOOK(nblog__tz_read_hook, ()); /* the slot half read */
        after = atomic_load_explicit(&z->after, memory_order_relaxed);
        change = atomic_load_explicit(&z->switch_s, memory_order_relaxed);
        /* PAT-TZ4: the acquire fence pairs with PAT-TZ1's release fence:
         * a slot load that saw a later refresh's value makes the reload
         * see tz_gen past g. Only an unchanged tz_gen proves the slot was
         * not being rewritten while it was read. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&f->tz_gen, memory_order_relaxed) == g)
            break;
    }
    return wall_ns / 1000000000 < change ? before : after;
}

/* ------------------------------------------------------------- compile */

static int fail(char *err, size_t cap, const char *pattern, size_t at, const char *why)
{
    nblog__format(err, cap, "pattern \"%.40s%s\" at byte %zu: %s", pattern,
                  strlen(pattern) > 40 ? "..." : "", at, why);
    return NBLOG_EINVAL;
}

/* Without colour, %^ and %$ write nothing: they go, and literal runs
 * they separated become one where their bytes are adjacent in lit[]
 * (fewer items a line). */
static void drop_color(struct nblog__line_fmt *f)
{
    unsigned k = 0;
    for (unsigned i = 0; i < f->n_items; i++) {
        struct nblog__pat_item it = f->item[i];
        if (it.op == OP_COLOR_ON || it.op == OP_COLOR_OFF)
            continue;
        struct nblog__pat_item *prev = k ? &f->item[k - 1] : NULL;
        if (prev && it.op == OP_LIT && prev->op == OP_LIT && !prev->width && !it.width &&
            prev->off + prev->len == it.off) {
            prev->len = (uint16_t)(prev->len + it.len);
            continue;
        }
        f->item[k++] = it;
    }
    f->n_items = k;
}

/* How many items at the start show only the second (see SECOND CACHE). */
static unsigned sec_items(const struct nblog__pat_item *item, unsigned n)
{
    unsigned k = 0;
    while (k < n && (item[k].op == OP_LIT || (item[k].op >= OP_YEAR && item[k].op <= OP_SEC) ||
                     item[k].op == OP_ZONE))
        k++;
    return k;
}

/* human: the pattern is the human format's (human_pattern), where "%~" is
 * its location item (OP_HUMAN_LOC), which user patterns do not have. */
static int compile(struct nblog__line_fmt *f, const char *pat, int human, char *err,
                   size_t cap)
{
    size_t plen = strlen(pat), lit = 0;
    int has_msg = 0;
    f->n_items = 0;
    f->loc_items = 0;
    if (plen == 0)
        return fail(err, cap, pat, 0, "empty pattern");
    if (plen > NBLOG__PATTERN_MAX)
        return fail(err, cap, pat, NBLOG__PATTERN_MAX, "longer than 255 bytes");
    for (size_t i = 0; i < plen;) {
        struct nblog__pat_item it = {.op = OP_LIT};
        size_t at = i;
        if (pat[i] != '%' || pat[i + 1] == '%') {
            /* A literal run, up to the next conversion ("%%" is one '%'). */
            it.off = (uint16_t)lit;
            if (pat[i] == '%') {
                f->lit[lit++] = '%';
                i += 2;
            }
            while (i < plen && pat[i] != '%') {
                int keep;
                size_t u = nblog__text_unit((const unsigned char *)pat + i, plen - i, &keep);
                if (!keep && pat[i] != '\\')
                    return fail(err, cap, pat, i,
                                "a control byte, or a byte that is not UTF-8 (not allowed)");
                memcpy(f->lit + lit, pat + i, u);
                lit += u;
                i += u;
            }
            it.len = (uint16_t)(lit - it.off);
        } else {
            i++;
            int right = 0, width = 0;
            if (pat[i] == '-') {
                right = 1;
                i++;
            }
            while (pat[i] >= '0' && pat[i] <= '9' && width <= WIDTH_MAX)
                width = width * 10 + (pat[i++] - '0');
            if ((right || pat[i - 1] != '%') && (width < 1 || width > WIDTH_MAX))
                return fail(err, cap, pat, at, "a width is 1 to 64");
            if (pat[i] == '\0')
                return fail(err, cap, pat, at, "'%' at the end (write %% for a '%')");
            it.width = (int8_t)(right ? -width : width);
            if (pat[i] == 'T') { /* %T: %H:%M:%S, the width on the whole is refused */
                if (width)
                    return fail(err, cap, pat, at, "%T takes no width");
                if (f->n_items + 5 > NBLOG__PATTERN_ITEMS)
                    return fail(err, cap, pat, at, "more than 64 items");
                uint16_t colon = (uint16_t)lit;
                f->lit[lit++] = ':';
                const uint8_t ops[5] = {OP_HOUR, OP_LIT, OP_MIN, OP_LIT, OP_SEC};
                for (int k = 0; k < 5; k++)
                    f->item[f->n_items++] = (struct nblog__pat_item){
                        .op = ops[k], .off = colon, .len = ops[k] == OP_LIT};
                i++;
                continue;
            }
            if (human && pat[i] == '~' && !width) {
                if (f->n_items == NBLOG__PATTERN_ITEMS)
                    return fail(err, cap, pat, at, "more than 64 items");
                f->item[f->n_items++] = (struct nblog__pat_item){.op = OP_HUMAN_LOC};
                f->loc_items++;
                i++;
                continue;
            }
            size_t k = 0, nconv = sizeof conversions / sizeof conversions[0];
            while (k < nconv && conversions[k].ch != pat[i])
                k++;
            if (k == nconv) {
                char why[80];
                unsigned char ch = (unsigned char)pat[i];
                if (ch >= 0x20 && ch < 0x7f)
                    nblog__format(why, sizeof why, "unknown item %%%c", ch);
                else
                    nblog__format(why, sizeof why, "unknown item %%\\x%02x", ch);
                return fail(err, cap, pat, at, why);
            }
            it.op = conversions[k].op;
            if (width && (it.op == OP_COLOR_ON || it.op == OP_COLOR_OFF))
                return fail(err, cap, pat, at, "%^ and %$ take no width");
            has_msg |= it.op == OP_MSG;
            f->loc_items += IS_LOC_OP(it.op);
            i++;
        }
        if (f->n_items == NBLOG__PATTERN_ITEMS)
            return fail(err, cap, pat, at, "more than 64 items");
        f->item[f->n_items++] = it;
    }
    assert(lit <= NBLOG__PATTERN_MAX);
    if (!f->color)
        drop_color(f);
    f->n_sec_items = sec_items(f->item, f->n_items);
    if (!has_msg)
        return fail(err, cap, pat, plen, "no %v: the line would not hold the message");
    return NBLOG_OK;
}

/* The human format as a pattern, from opts.show ("%~": the location,
 * "[base:line func] " or nothing, see loc_item). */
static void human_pattern(char *out, size_t cap, unsigned show)
{
    int prog = (show & NBLOG_SHOW_PROGRAM) != 0, pid = (show & NBLOG_SHOW_PID) != 0,
        tid = (show & NBLOG_SHOW_TID) != 0, loc = (show & NBLOG_SHOW_LOCATION) != 0;
    nblog__format(out, cap, "%%Y-%%m-%%d %%H:%%M:%%S.%%f %%^[%%l]%%$ %s%s%s%s%s%s%%v",
                  loc ? "%~" : "", prog ? "%n" : "", pid ? "[%P]" : "",
                  tid && (prog || pid) ? " " : "", tid ? "tid %t" : "",
                  prog || pid || tid ? ": " : "");
}

int nblog__line_fmt_init(struct nblog__line_fmt *f, const nblog_console_opts_t *o,
                         const struct nblog__line_id *id, char *err, size_t errcap)
{
    memset(f, 0, sizeof *f);
    err[0] = '\0';
    f->format = o->format;
    f->id = id;
    if (o->format < NBLOG_FORMAT_PLAIN || o->format > NBLOG_FORMAT_PATTERN) {
        nblog__format(err, errcap, "console options: format %d is not an NBLOG_FORMAT_*",
                      o->format);
        return NBLOG_EINVAL;
    }
    if (o->color < NBLOG_COLOR_AUTO || o->color > NBLOG_COLOR_ALWAYS ||
        (o->local_time != 0 && o->local_time != 1) ||
        (o->show & ~(NBLOG_SHOW_PROGRAM | NBLOG_SHOW_PID | NBLOG_SHOW_TID |
                     NBLOG_SHOW_LOCATION))) {
        nblog__format(err, errcap, "console options: color, local_time or show out of range");
        return NBLOG_EINVAL;
    }
    f->color = o->color == NBLOG_COLOR_ALWAYS;
    f->local = o->local_time;
    /* RFC 5424 shows it in its structured data, when that is on. */
    const struct nblog__line_id *sd_id = id ? id : &nblog__line_id_defaults;
    f->wants_loc = o->format == NBLOG_FORMAT_JSON || o->format == NBLOG_FORMAT_JOURNAL ||
                   (o->format == NBLOG_FORMAT_RFC5424 && sd_id->sd);
    pthread_once(&pid_once, pid_setup);
    if (o->format == NBLOG_FORMAT_PATTERN || o->format == NBLOG_FORMAT_HUMAN) {
        char human[128];
        const char *pat = o->pattern;
        if (o->format == NBLOG_FORMAT_HUMAN) {
            human_pattern(human, sizeof human, o->show);
            pat = human;
        } else if (!pat) {
            nblog__format(err, errcap, "format pattern without a pattern (opts.pattern NULL)");
            return NBLOG_EINVAL;
        }
        int rc = compile(f, pat, o->format == NBLOG_FORMAT_HUMAN, err, errcap);
        if (rc != NBLOG_OK)
            return rc;
        f->wants_loc = f->loc_items > 0;
    }
    if (f->local)
        tz_take(f, time(NULL));
    return NBLOG_OK;
}

/* ------------------------------------------------------------- render */

/* Pads the item just written at line[start..*at) to |width| columns
 * (bytes; what we pad is ASCII but for a message or program name, whose
 * characters may be wider), within cap. */
static void pad(char *line, size_t cap, size_t start, size_t *at, int width)
{
    size_t w = (size_t)(width < 0 ? -width : width), have = *at - start;
    if (have >= w)
        return;
    size_t add = w - have;
    if (*at + add > cap)
        add = cap - *at;
    if (width > 0) {
        memmove(line + start + add, line + start, have);
        memset(line + start, ' ', add);
    } else {
        memset(line + *at, ' ', add);
    }
    *at += add;
}

/* This process's program name, as the lifecycle handed it down (NULL
 * until then). Release/acquire: the name's bytes, written before the
 * store (nblog__who_set_program's caller), are seen with the pointer. */
static _Atomic(const char *) own_program;

void nblog__who_set_program(const char *name)
{
    /* PAT-WHO, release: pairs with own_name's acquire load. */
    atomic_store_explicit(&own_program, name, memory_order_release);
}

static const char *own_name(void)
{
    /* PAT-WHO, acquire: pairs with nblog__who_set_program's release store. */
    const char *name = atomic_load_explicit(&own_program, memory_order_acquire);
    return name && name[0] ? name : program_invocation_short_name;
}

void nblog__who(const struct nblog__line_id *p, struct nblog__who *who)
{
    who->program = p && strcmp(p->app, "-") != 0 ? p->app : own_name();
    who->pid = nblog__pid();
    if (p && p->procid[0] >= '0' && p->procid[0] <= '9') {
        int pid = 0;
        for (size_t i = 0; p->procid[i] >= '0' && p->procid[i] <= '9' && pid < 100000000; i++)
            pid = pid * 10 + (p->procid[i] - '0');
        who->pid = pid;
    }
}

/* Bytes an item but the message and the program name may write (before
 * its padding): its text is at most this long. */
#define ITEM_MAX 48

/* memcpy for the few bytes of most items: two overlapping moves of 8 (or
 * 4) bytes, or three single ones, instead of a call. */
static inline void copy_short(char *d, const char *s, size_t n)
{
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        uint64_t x, y;
        memcpy(&x, s, 8);
        memcpy(&y, s + n - 8, 8);
        memcpy(d, &x, 8);
        memcpy(d + n - 8, &y, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(d, &x, 4);
        memcpy(d + n - 4, &y, 4);
    } else if (n > 0) {
        char x = s[0], y = s[n / 2], z = s[n - 1];
        d[0] = x;
        d[n / 2] = y;
        d[n - 1] = z;
    }
}

/* v (< 10^w) as exactly w decimal digits at d, two per division;
 * returns w. */
static inline size_t digits_w(char *d, unsigned v, unsigned w)
{
    unsigned i = w;
    for (; i >= 2; v /= 100) {
        i -= 2;
        memcpy(d + i, nblog__dec_pairs + 2 * (v % 100), 2);
    }
    if (i)
        d[0] = (char)('0' + v % 10);
    return w;
}

/* v's decimal digits at d (20 at most); returns how many. */
static size_t digits_u64(char *d, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do
        tmp[sizeof tmp - ++n] = (char)('0' + v % 10);
    while (v /= 10);
    memcpy(d, tmp + sizeof tmp - n, n);
    return n;
}

/* A level's name and its length (nblog_level_name's, without strlen). */
static const char *level_text(int level, size_t *n)
{
    static const uint8_t len[NBLOG_LEVEL_COUNT] = {
#define NBLOG__LEVEL_LEN(name, value, str) [value] = sizeof str - 1,
        NBLOG_LEVEL_MAP(NBLOG__LEVEL_LEN)
#undef NBLOG__LEVEL_LEN
    };
    const char *s = nblog_level_name(level);
    *n = level >= 0 && level < NBLOG_LEVEL_COUNT ? len[level] : strlen(s);
    return s;
}

/* ------------------------------------------------------------- call site */

/* Bytes s[0..n) takes escaped (nblog__escape: \xNN for each byte of a
 * unit a line may not keep). */
static size_t escaped_len(const char *s, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        int keep;
        size_t u = nblog__text_unit((const unsigned char *)s + i, n - i, &keep);
        out += keep ? u : 4 * u;
        i += u;
    }
    return out;
}

/* A path's last component ("src/main.c": "main.c"). */
static const char *base_name(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

/* A location item (OP_FILE_BASE .. OP_HUMAN_LOC) of l into out (room
 * bytes), escaped as every text item; returns its bytes, or SIZE_MAX if
 * it does not fit whole. Each part only when the record has it (a file,
 * a line other than 0, a function); no location at all (l NULL, or
 * nothing in it): nothing, as spdlog shows nothing without one.
 *   %s base name  %g file as recorded  %# line  %! function
 *   %@ "base:line"  human: "[base:line func] "
 * [signal-safe] */
static size_t loc_item(char *out, size_t room, unsigned op, const struct nblog__loc *l)
{
    assert(IS_LOC_OP(op));
    if (!l)
        return 0;
    const int human = op == OP_HUMAN_LOC;
    const char *file = op == OP_FILE ? l->file : base_name(l->file);
    size_t fl = op == OP_LINE || op == OP_FUNC ? 0 : strnlen(file, sizeof l->file);
    size_t fnl = op == OP_FUNC || human ? strnlen(l->func, sizeof l->func) : 0;
    char num[12]; /* ':' and 10 digits */
    size_t nn = 0;
    if ((op == OP_LINE || op == OP_FILE_LINE || human) && l->line) {
        if (op != OP_LINE && fl)
            num[nn++] = ':';
        nn += digits_u64(num + nn, l->line);
    }
    if (!fl && !nn && !fnl)
        return 0;
    const size_t sep = human && fnl && (fl || nn); /* the ' ' before the function */
    const size_t efl = escaped_len(file, fl), efnl = escaped_len(l->func, fnl);
    const size_t need = (human ? 3 : 0) + efl + nn + sep + efnl;
    if (need > room)
        return SIZE_MAX;
    size_t n = 0;
    if (human)
        out[n++] = '[';
    n += nblog__escape(out + n, room - n, file, fl);
    memcpy(out + n, num, nn);
    n += nn;
    if (sep)
        out[n++] = ' ';
    n += nblog__escape(out + n, room - n, l->func, fnl);
    if (human) {
        out[n++] = ']';
        out[n++] = ' ';
    }
    assert(n == need && need <= NBLOG__LOC_ITEM_MAX);
    return n;
}

/* ------------------------------------------------------------- second cache */

/* The cached text for second sec at offset into out (NBLOG__SEC_TEXT
 * bytes of room), or 0 if it holds another or is being written.
 * [signal-safe] */
static size_t sec_cache_get(const struct nblog__line_fmt *f, int64_t sec, long offset,
                            char *out)
{
    const struct nblog__sec_cache *c = &f->sc;
    /* PAT-SC3 (acquire): pairs with PAT-SC2's release store. */
    unsigned g = atomic_load_explicit(&c->seq, memory_order_acquire);
    if (g & 1)
        return 0;
    size_t n = atomic_load_explicit(&c->len, memory_order_relaxed);
    if (n == 0 || atomic_load_explicit(&c->sec, memory_order_relaxed) != sec ||
        atomic_load_explicit(&c->offset, memory_order_relaxed) != offset)
        return 0;
    for (size_t k = 0; k < NBLOG__SEC_TEXT / 8; k++) {
        /* straight into out (the caller's line: a torn copy is
         * overwritten by the rendering that follows a miss) */
        uint64_t w = atomic_load_explicit(&c->text[k], memory_order_relaxed);
        memcpy(out + 8 * k, &w, 8);
    }
    /* PAT-SC4: the acquire fence pairs with PAT-SC1's release fence (as
     * PAT-TZ4 with TZ1): a load that saw a later writer's value makes the
     * reload see seq moved. */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&c->seq, memory_order_relaxed) != g)
        return 0;
    return n;
}

/* Offers text[0..n) as second sec's at offset. Taken only by the renderer
 * that turns seq odd; another one meanwhile (a signal handler on the
 * writer's thread, another console owner) skips it. [signal-safe] */
static void sec_cache_put(const struct nblog__line_fmt *f, int64_t sec, long offset,
                          const char *text, size_t n)
{
    /* The one part of a line format that rendering writes: the format is
     * never an object defined const (it lives in a console's slot, or is
     * human_default below). */
    struct nblog__sec_cache *c = (struct nblog__sec_cache *)&f->sc;
    if (n == 0 || n > NBLOG__SEC_TEXT)
        return;
    /* Relaxed: the fence after it orders it before the stores (PAT-SC1). */
    unsigned g = atomic_load_explicit(&c->seq, memory_order_relaxed);
    if ((g & 1) || !atomic_compare_exchange_strong_explicit(&c->seq, &g, g + 1,
                                                            memory_order_relaxed,
                                                            memory_order_relaxed))
        return;
    /* PAT-SC1: the release fence orders seq's odd value before the stores
     * below; pairs with PAT-SC4's acquire fence. */
    atomic_thread_fence(memory_order_release);
    uint64_t w[NBLOG__SEC_TEXT / 8] = {0};
    memcpy(w, text, n);
    for (size_t k = 0; k < NBLOG__SEC_TEXT / 8; k++)
        atomic_store_explicit(&c->text[k], w[k], memory_order_relaxed);
    atomic_store_explicit(&c->sec, sec, memory_order_relaxed);
    atomic_store_explicit(&c->offset, offset, memory_order_relaxed);
    atomic_store_explicit(&c->len, (unsigned)n, memory_order_relaxed);
    /* PAT-SC2 (release): pairs with PAT-SC3's acquire load. */
    atomic_store_explicit(&c->seq, g + 2, memory_order_release);
}

static size_t pattern_line(char *line, size_t cap, const struct nblog__line_fmt *f,
                           const struct nblog__line_id *p, const struct nblog__rec_meta *m,
                           const char *text, size_t len)
{
    /* Kept back for the end: a colour reset and the newline. */
    const size_t reserve = (f->color ? sizeof COLOR_RESET - 1 : 0) + 1;
    assert(cap > reserve);
    const size_t room = cap - reserve;
    long offset = offset_for(f, m->wall_ns);
    int64_t sec = m->wall_ns / 1000000000, sub = m->wall_ns % 1000000000;
    if (sub < 0) {
        sub += 1000000000;
        sec--;
    }
    const unsigned nsec = (unsigned)sub;
    struct nblog__civil t;
    struct nblog__who who; /* taken when an item shows it */
    int have_t = 0, have_who = 0;
    size_t at = 0;
    int colored = 0, full = 0;
    const int time_ok = nblog__wall_valid(m->wall_ns);
    /* The second's items from the cache, when it holds this second. */
    unsigned i = 0;
    int offer = f->n_sec_items && time_ok && room >= NBLOG__SEC_TEXT;
    if (offer && (at = sec_cache_get(f, sec, offset, line)) != 0) {
        i = f->n_sec_items;
        offer = 0;
    }
    for (; i < f->n_items; i++) {
        const struct nblog__pat_item *it = &f->item[i];
        if (offer && i == f->n_sec_items)
            sec_cache_put(f, sec, offset, line, at); /* rendered them: offer them */
        if (!have_t && it->op >= OP_YEAR && it->op <= OP_SEC) {
            nblog__civil_from_ns(m->wall_ns, offset, &t);
            have_t = 1;
        }
        if (!have_who && (it->op == OP_PID || it->op == OP_PROG)) {
            nblog__who(p, &who);
            have_who = 1;
        }
        /* Straight into the line while the item's worst case fits there,
         * else into num, then clipped to the room left. */
        char num[ITEM_MAX];
        char *d = room - at >= ITEM_MAX ? line + at : num;
        const char *s = d;
        size_t n = 0, start = at;
        long a = offset < 0 ? -offset : offset;
        switch (it->op) {
        case OP_LIT: s = f->lit + it->off, n = it->len; break;
        case OP_YEAR:
            if (t.year >= 0 && t.year <= 9999)
                n = digits_w(d, (unsigned)t.year, 4);
            else
                n = nblog__format(d, ITEM_MAX, "%04ld", t.year);
            break;
        case OP_MON: n = digits_w(d, t.mon, 2); break;
        case OP_DAY: n = digits_w(d, t.day, 2); break;
        case OP_HOUR: n = digits_w(d, t.hour, 2); break;
        case OP_MIN: n = digits_w(d, t.min, 2); break;
        case OP_SEC: n = digits_w(d, t.sec, 2); break;
        case OP_MSEC: n = digits_w(d, nsec / 1000000u, 3); break;
        case OP_USEC: n = digits_w(d, nsec / 1000u, 6); break;
        case OP_NSEC: n = digits_w(d, nsec, 9); break;
        case OP_ZONE: /* +hh:mm */
            d[0] = offset < 0 ? '-' : '+';
            digits_w(d + 1, (unsigned)(a / 3600 % 100), 2);
            d[3] = ':';
            n = 4 + digits_w(d + 4, (unsigned)(a / 60 % 60), 2);
            break;
        case OP_LEVEL: s = level_text(m->level, &n); break;
        case OP_LEVEL_UP:
            s = level_text(m->level, &n);
            for (size_t k = 0; k < n; k++)
                d[k] = s[k] >= 'a' && s[k] <= 'z' ? (char)(s[k] - 'a' + 'A') : s[k];
            s = d;
            break;
        case OP_SEQ: n = digits_u64(d, m->seq); break;
        case OP_TID: n = digits_u64(d, m->tid); break;
        case OP_PID:
            n = who.pid >= 0 ? digits_u64(d, (uint64_t)who.pid)
                             : nblog__format(d, ITEM_MAX, "%d", who.pid);
            break;
        case OP_PROG: {
            at += nblog__escape(line + at, room - at, who.program, strlen(who.program));
            s = NULL;
            break;
        }
        case OP_MSG:
            if ((m->flags & NBLOG_F_REPLAYED) &&
                at + sizeof "[" NBLOG_REPLAYED_MARK "] " - 1 <= room) {
                memcpy(line + at, "[" NBLOG_REPLAYED_MARK "] ",
                       sizeof "[" NBLOG_REPLAYED_MARK "] " - 1);
                at += sizeof "[" NBLOG_REPLAYED_MARK "] " - 1;
            }
            at += nblog__escape(line + at, room - at, text, len);
            s = NULL;
            break;
        case OP_COLOR_ON:
            s = f->color ? nblog__level_color(m->level) : "";
            n = strlen(s);
            if (n && at + n <= room)
                colored = 1;
            break;
        case OP_COLOR_OFF:
            s = colored ? COLOR_RESET : "";
            n = strlen(s);
            if (n && at + n <= room)
                colored = 0;
            break;
        case OP_FILE_BASE:
        case OP_FILE:
        case OP_LINE:
        case OP_FUNC:
        case OP_FILE_LINE:
        case OP_HUMAN_LOC: {
            size_t k = loc_item(line + at, room - at, it->op, m->loc);
            if (k == SIZE_MAX)
                full = 1; /* it does not fit: it ends the line */
            else
                at += k;
            s = NULL;
            break;
        }
        default: assert(0 && "unknown pattern op"); break;
        }
        if (full)
            break;
        /* A time that cannot be told (ring.h nblog__wall_valid): each time
         * field as dashes of its width, so columns stay where they were. */
        if (!time_ok && it->op >= OP_YEAR && it->op <= OP_ZONE && s == d)
            memset(d, '-', n < ITEM_MAX ? n : ITEM_MAX);
        if (s) {
            if (n >= ITEM_MAX && s == d)
                n = ITEM_MAX - 1;
            if (at + n > room)
                break; /* an item that does not fit ends the line */
            if (s != line + at)
                copy_short(line + at, s, n);
            at += n;
        }
        if (it->width)
            pad(line, room, start, &at, it->width);
    }
    if (colored) {
        memcpy(line + at, COLOR_RESET, sizeof COLOR_RESET - 1);
        at += sizeof COLOR_RESET - 1;
    }
    line[at++] = '\n';
    assert(at <= cap);
    return at;
}

size_t nblog__line_room(const struct nblog__line_fmt *f, size_t len)
{
    /* 2048: the fields around the text (render.c asserts the same bound
     * for its formats); a pattern's literal bytes and 64 (width) plus a
     * few colour bytes per item besides. */
    size_t room = 4 * len + 2048;
    if (f->format == NBLOG_FORMAT_JSON)
        room = nblog__json_line_worst(len);
    else if (f->format == NBLOG_FORMAT_PATTERN)
        room = sizeof f->lit + f->n_items * (4 * len + 128) + 2048;
    room += (size_t)f->loc_items * NBLOG__LOC_ITEM_MAX; /* human, pattern */
    return room < NBLOG_LINE_MAX ? room : NBLOG_LINE_MAX;
}

size_t nblog__render_fmt(char *line, size_t cap, const struct nblog__line_fmt *f,
                         const struct nblog__rec_meta *m, const char *text, size_t len)
{
    const struct nblog__line_id *p = f->id;
    struct nblog__who who;
    if (f->format == NBLOG_FORMAT_JSON) {
        nblog__who(p, &who);
        return nblog__json_line(line, cap, m, offset_for(f, m->wall_ns), f->local, &who, text,
                                len);
    }
    if (f->format == NBLOG_FORMAT_HUMAN || f->format == NBLOG_FORMAT_PATTERN) {
        return pattern_line(line, cap, f, p, m, text, len);
    }
    return nblog__render_line(line, cap, f->format, p, m, text, len);
}

/* The default human format, compiled by hand (nblog__render_line has no
 * registration to compile it at; test-formats checks it against
 * human_pattern's compiled form):
 * "%Y-%m-%d %H:%M:%S.%f %^[%l]%$ %v". */
#define LIT(at) {.op = OP_LIT, .off = (at), .len = 1}
static struct nblog__line_fmt human_default = {
    .format = NBLOG_FORMAT_HUMAN,
    .n_items = 21,
    .n_sec_items = 12, /* up to "%S." */
    .item = {{.op = OP_YEAR}, LIT(0), {.op = OP_MON}, LIT(0), {.op = OP_DAY}, LIT(1),
             {.op = OP_HOUR}, LIT(2), {.op = OP_MIN}, LIT(2), {.op = OP_SEC}, LIT(3),
             {.op = OP_USEC}, LIT(1), {.op = OP_COLOR_ON}, LIT(4), {.op = OP_LEVEL}, LIT(5),
             {.op = OP_COLOR_OFF}, LIT(1), {.op = OP_MSG}},
    .lit = "- :.[]",
};
#undef LIT

size_t nblog__human_line(char *line, size_t cap, const struct nblog__line_id *p,
                         const struct nblog__rec_meta *m, const char *text, size_t len)
{
    return pattern_line(line, cap, &human_default, p, m, text, len);
}

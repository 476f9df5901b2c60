/*
 * test-alloc.c - no allocation after init; logging works when malloc fails.
 *
 * The test binary counts every allocation the process makes:
 *   - plain builds define malloc, calloc, realloc, free, posix_memalign,
 *     aligned_alloc, memalign, valloc and pvalloc here, forwarding to
 *     glibc's __libc_* entry points, with a counter and a switch that makes
 *     them fail (NULL / ENOMEM);
 *   - sanitizer builds cannot replace malloc (the sanitizer's allocator owns
 *     it), so they count through the sanitizer's allocation hooks and skip
 *     the failure-injection cases.
 *
 * Cases:
 *   - lazy init (in a fresh process: this binary re-run with an argument):
 *     the first logging call before nblog_init stores its record; later
 *     calls allocate nothing; and (plain builds) lazy init still works when
 *     every malloc fails;
 *   - after nblog_init and one warm-up call per thread, 100,000 calls with
 *     assorted formats (%d %s %p %x, widths, texts long enough to be
 *     truncated) on one thread and 10,000 on another, then reading them all
 *     back, allocate nothing; every record is checked against snprintf;
 *   - with malloc failing, logging and reading still work (and shutdown +
 *     init of a new ring too);
 *   - the first call of a call site (its location written into the
 *     ring's site table, or the table found full) allocates nothing, and
 *     works with malloc failing.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nblog.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_WITH_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||     \
    __has_feature(memory_sanitizer)
#define COUNT_WITH_HOOKS 1
#endif
#endif

/* Allocations (attempts, failed ones included) and frees, process-wide,
 * except those made by this file's own checking code (see quiet). */
static _Atomic uint64_t n_alloc, n_free;
static atomic_int fail_alloc;
/* Set around the test's own snprintf & co.: not the library's doing. */
static __thread int quiet;
/* This thread's share of n_alloc. */
static __thread uint64_t my_alloc;

static void note_alloc(void)
{
    if (!quiet) {
        atomic_fetch_add_explicit(&n_alloc, 1, memory_order_relaxed);
        my_alloc++;
    }
}

static void note_free(const volatile void *p)
{
    if (p && !quiet)
        atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed);
}

#ifdef COUNT_WITH_HOOKS
#if defined(__has_include)
#if __has_include(<sanitizer/allocator_interface.h>)
#include <sanitizer/allocator_interface.h>
#define HAVE_ALLOCATOR_INTERFACE_H 1
#endif
#endif
#ifndef HAVE_ALLOCATOR_INTERFACE_H
/* gcc 12 ships no <sanitizer/allocator_interface.h>; its runtime has the
 * function. */
int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *));
#endif

/* ASan's runtime allocates for itself when a thread starts, before the
 * thread's own code runs (AsanThread::Init asks pthread_getattr_np for
 * its stack, which reallocs a cpuset that pthread_attr_destroy frees;
 * nblog calls neither). A thread nblog made at init may
 * get the CPU only after counting began on a loaded machine: those
 * allocations are the sanitizer's, not nblog's, and are not counted. The
 * unwinder may allocate on its first use: it is warmed up at install, and
 * a hook that runs inside it counts as usual. */
static _Thread_local int in_hook;

static int sanitizer_thread_start(void)
{
    if (in_hook)
        return 0;
    in_hook = 1;
    void *pcs[32];
    int n = backtrace(pcs, 32), found = 0;
    for (int i = 0; i < n && !found; i++) {
        Dl_info di;
        found = dladdr(pcs[i], &di) && di.dli_sname &&
                (strstr(di.dli_sname, "pthread_getattr_np") ||
                 strstr(di.dli_sname, "pthread_attr_destroy"));
    }
    in_hook = 0;
    return found;
}

static void malloc_hook(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    if (!sanitizer_thread_start())
        note_alloc();
}

static void free_hook(const volatile void *p)
{
    if (!sanitizer_thread_start())
        note_free(p);
}

static void install_counting(void)
{
    static int done;
    if (!done) {
        done = 1;
        void *warm[2];
        backtrace(warm, 2); /* loads the unwinder now */
        __sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook);
    }
}

static int can_fail_malloc(void)
{
    return 0;
}
#else
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);
extern void *__libc_valloc(size_t n);
extern void *__libc_pvalloc(size_t n);

/* Counts the call; 1 if it must fail. */
static int alloc_fails(void)
{
    note_alloc();
    if (atomic_load_explicit(&fail_alloc, memory_order_relaxed) && !quiet) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    return alloc_fails() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    return alloc_fails() ? NULL : __libc_realloc(p, n);
}

void free(void *p)
{
    note_free(p);
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    return alloc_fails() ? NULL : __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    return alloc_fails() ? NULL : __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    int saved = errno;
    if (alloc_fails()) {
        errno = saved;
        return ENOMEM;
    }
    void *p = __libc_memalign(align, n);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t n)
{
    return alloc_fails() ? NULL : __libc_valloc(n);
}

void *pvalloc(size_t n)
{
    return alloc_fails() ? NULL : __libc_pvalloc(n);
}

static void install_counting(void)
{
}

static int can_fail_malloc(void)
{
    return 1;
}
#endif

static uint64_t allocs(void)
{
    return atomic_load(&n_alloc);
}

static uint64_t frees(void)
{
    return atomic_load(&n_free);
}

/* malloc through a volatile pointer, so the compiler cannot elide it. */
static void *(*volatile malloc_v)(size_t) = malloc;
static void (*volatile free_v)(void *) = free;

static uint32_t gettid_(void)
{
    return (uint32_t)syscall(SYS_gettid);
}

/* ------------------------------------------------------ the records */

#define LONG_LEN 1500
static char long_text[LONG_LEN + 1];
static const char *const words[] = {"alpha", "", "a string with spaces",
                                    "\xc3\xa9t\xc3\xa9"};

static void make_long_text(void)
{
    for (int i = 0; i < LONG_LEN; i++)
        long_text[i] = (char)('A' + i % 26);
    long_text[LONG_LEN] = '\0';
}

/*
 * Record i of the main thread, in one of several shapes. With exp == NULL
 * it is logged and the call's result returned; otherwise the same format
 * and arguments go to snprintf(exp) (quietly: that is the test's
 * allocation, if any, not the library's) and 0 is returned.
 */
#define SHAPE(k, ...)                                                          \
    case k:                                                                    \
        if (!exp) /* both ways in: printf and deferred */                     \
            return (i & 8) ? NBLOG_INFO(__VA_ARGS__)                           \
                           : nblog_printf(NBLOG_LEVEL_INFO, __VA_ARGS__);      \
        quiet++;                                                               \
        snprintf(exp, cap, __VA_ARGS__);                                       \
        quiet--;                                                               \
        return 0;

static int record(uint32_t i, char *exp, size_t cap)
{
    const char *w = words[i % 4];
    void *p = (void *)(uintptr_t)(0x10000u + (uintptr_t)i * 24);
    switch (i % 7) {
        SHAPE(0, "int %d hex %x", (int)i * -7, i * 2654435761u)
        SHAPE(1, "str '%s' ptr %p n=%u", w, p, i)
        SHAPE(2, "%s", long_text) /* truncated */
        SHAPE(3, "mixed %d|%5.3s|%-6d|%08x|%p|%c|%%|%lld", (int)i, w,
              (int)(i % 100), i, p, 'a' + (int)(i % 26), (long long)i << 20)
        SHAPE(4, "%.*s tail %u", (int)(i % 700), long_text, i) /* some cut */
        SHAPE(5, "%#x %+d %ld %lu %zu %hhu", i, (int)i, -(long)i,
              (unsigned long)i * 3, (size_t)i, (unsigned char)i)
        SHAPE(6, "%-30s|%30s|", w, w)
    }
    return -100;
}

#define THREAD_RECORD_FMT "thread n=%u %s"

/* What the library stores for a text: cut to text_max with the marker. */
static size_t cut(char *text, size_t text_max, uint8_t *flags)
{
    size_t len = strlen(text);
    *flags = 0;
    if (len <= text_max)
        return len;
    size_t keep = text_max - (sizeof NBLOG_TRUNC_MARKER - 1);
    memcpy(text + keep, NBLOG_TRUNC_MARKER, sizeof NBLOG_TRUNC_MARKER);
    *flags = NBLOG_F_TRUNCATED;
    return strlen(text);
}

struct verdict {
    uint64_t checked, bad;
    char first_bad[700];
};

static void check_text(struct verdict *v, const nblog_record_t *rec,
                       char *exp, size_t text_max)
{
    uint8_t flags;
    size_t len = cut(exp, text_max, &flags);
    v->checked++;
    if (rec->len != len || rec->flags != flags || strcmp(rec->text, exp) != 0) {
        if (v->bad++ == 0) {
            quiet++;
            snprintf(v->first_bad, sizeof v->first_bad,
                     "seq %" PRIu64 " flags %#x len %u: \"%.300s\" expected "
                     "flags %#x len %zu: \"%.300s\"",
                     rec->seq, rec->flags, rec->len, rec->text, flags, len, exp);
            quiet--;
        }
    }
}

/* ---------------------------------------------- lazy init, own process */

/* Exit codes of the child, one per check, so a failure says which. */
static int lazy_child(int malloc_fails)
{
    char buf[512];
    nblog_record_t rec;
    nblog_reader_t r;
    nblog_stats_t st;
    install_counting();
#ifdef COUNT_WITH_HOOKS
    /* The sanitizer's runtime allocates on every new thread as it starts
     * (AsanThread::Init, pthread_getattr_np), whenever it gets to run: the
     * default console's printer would be counted below. Plain builds keep
     * the default console, so its printing is counted too. */
    setenv("NBLOG_CONSOLES", "none", 1);
#endif

    nblog_stats_get(&st);
    if (st.ring_records != 0 || st.reserved != 0)
        return 10; /* already initialised? */
    if (nblog_reader_open(&r, NBLOG_FROM_OLDEST) != NBLOG_ENOTREADY)
        return 11;

    if (malloc_fails)
        atomic_store(&fail_alloc, 1);
    uint64_t a0 = allocs();
    int rc = nblog_printf(NBLOG_LEVEL_INFO, "lazy %d %s", 42, "first");
    uint64_t lazy_allocs = allocs() - a0;
    if (rc != NBLOG_OK)
        return 12;

    /* Later calls allocate nothing. Under a sanitizer, the caller's own
     * allocations: a thread the lazy init started allocates in the
     * sanitizer's runtime whenever it first gets to run, which may be now
     * (plain builds count the whole process). */
#ifdef COUNT_WITH_HOOKS
    a0 = my_alloc;
#else
    a0 = allocs();
#endif
    for (int i = 0; i < 1000; i++)
        if (nblog_printf(NBLOG_LEVEL_INFO, "after %d", i) != NBLOG_OK)
            return 13;
#ifdef COUNT_WITH_HOOKS
    uint64_t later_allocs = my_alloc - a0;
#else
    uint64_t later_allocs = allocs() - a0;
#endif
    if (malloc_fails) {
        /* Prove the switch was on. */
        void *p = malloc_v(32);
        atomic_store(&fail_alloc, 0);
        if (p)
            return 14;
    }
    if (later_allocs != 0)
        return 15;

    nblog_stats_get(&st);
    if (st.ring_records != 65536 || st.reserved != 1001 || st.lost != 0 ||
        st.not_ready != 0)
        return 16;
    if (nblog_reader_open(&r, NBLOG_FROM_OLDEST) != NBLOG_OK)
        return 17;
    if (nblog_reader_next(&r, &rec, buf, sizeof buf) != NBLOG_OK)
        return 18;
    if (rec.seq != 0 || strcmp(rec.text, "lazy 42 first") != 0 ||
        rec.tid != gettid_() || rec.flags != 0)
        return 19;
    for (int i = 0; i < 1000; i++) {
        char exp[32];
        snprintf(exp, sizeof exp, "after %d", i);
        if (nblog_reader_next(&r, &rec, buf, sizeof buf) != NBLOG_OK ||
            strcmp(rec.text, exp) != 0)
            return 20;
    }
    if (nblog_reader_next(&r, &rec, buf, sizeof buf) != NBLOG_EAGAIN)
        return 21;
    /* Lazily initialised counts as initialised. */
    if (nblog_init(NULL) != NBLOG_EALREADY)
        return 22;
    fprintf(stderr, "  lazy child%s: the first call (lazy init) made %" PRIu64
                    " allocation(s), the next 1000 none\n",
            malloc_fails ? " (malloc failing)" : "", lazy_allocs);
    return 0;
}

static char self_path[4096];

static void run_child(const char *arg)
{
    char *argv[] = {self_path, (char *)arg, NULL};
    pid_t pid;
    fflush(NULL);
    assert_int_equal(posix_spawn(&pid, self_path, NULL, NULL, argv, environ), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        print_error("child %s: %s %d\n", arg,
                    WIFEXITED(status) ? "exit status" : "killed by signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_lazy_init(void **state)
{
    (void)state;
    run_child("--lazy-child");
}

static void test_lazy_init_malloc_fails(void **state)
{
    (void)state;
    if (!can_fail_malloc())
        skip();
    run_child("--lazy-child-nomalloc");
}

/* -------------------------------------------- no allocation after init */

#define MAIN_RECORDS 100000u
#define THREAD_RECORDS 10000u

struct logger {
    pthread_barrier_t *bar;
    uint32_t tid;
    uint64_t not_ok;
};

static void *logger_main(void *arg)
{
    struct logger *l = arg;
    l->tid = gettid_();
    /* Warm-up: the first call caches the thread id. */
    if (nblog_printf(NBLOG_LEVEL_INFO, "warm-up thread") != NBLOG_OK)
        l->not_ok++;
    pthread_barrier_wait(l->bar); /* 1: warmed up */
    pthread_barrier_wait(l->bar); /* 2: counting */
    for (uint32_t n = 0; n < THREAD_RECORDS; n++)
        if (nblog_printf(NBLOG_LEVEL_INFO, THREAD_RECORD_FMT, n,
                         words[n % 4]) != NBLOG_OK)
            l->not_ok++;
    pthread_barrier_wait(l->bar); /* 3: done */
    return NULL;
}

static void test_no_alloc_after_init(void **state)
{
    (void)state;
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = 1u << 17; /* holds every record: nothing is missed */
    opt.data_bytes = (size_t)64 << 20; /* and every spilled text (about 30 MB) */
#ifdef COUNT_WITH_HOOKS
    /* No printer thread whose start the sanitizer would count (see
     * lazy_child); plain builds count the default console's printing. */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
#endif
    assert_int_equal(nblog_init(&opt), NBLOG_OK);
    nblog_stats_t st;
    nblog_stats_get(&st);
    const size_t text_max = st.text_max;
    uint64_t first_seq = st.reserved;

    pthread_barrier_t bar;
    struct logger lg = {.bar = &bar};
    pthread_t th;
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    assert_int_equal(pthread_create(&th, NULL, logger_main, &lg), 0);
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "warm-up main"), NBLOG_OK);
    pthread_barrier_wait(&bar); /* 1 */

    static nblog_record_t rec; /* static: the big buffers stay off the stack */
    static char buf[NBLOG_TEXT_MAX_LIMIT + 1], exp[NBLOG_TEXT_MAX_LIMIT + 1];
    nblog_reader_t r;
    struct verdict v = {0};
    uint64_t not_ok = 0, other_tid = 0, thread_seen = 0, thread_bad = 0;
    uint32_t main_tid = gettid_();

    /* The counter sees allocations (else "0 allocations" proves nothing). */
    uint64_t s0 = allocs(), sf0 = frees();
    free_v(malloc_v(40));
    assert_int_equal(allocs() - s0, 1);
    assert_int_equal(frees() - sf0, 1);

    /* ---- counted from here ---- */
    uint64_t a0 = allocs(), f0 = frees();
    pthread_barrier_wait(&bar); /* 2 */
    for (uint32_t i = 0; i < MAIN_RECORDS; i++)
        if (record(i, NULL, 0) != NBLOG_OK)
            not_ok++;
    pthread_barrier_wait(&bar); /* 3 */

    int rc_open = nblog_reader_open(&r, NBLOG_FROM_OLDEST);
    uint32_t main_n = 0;
    int rc;
    while ((rc = nblog_reader_next(&r, &rec, buf, sizeof buf)) == NBLOG_OK) {
        if (rec.seq < first_seq + 2)
            continue; /* the warm-ups */
        if (rec.tid == main_tid) {
            record(main_n++, exp, sizeof exp);
            check_text(&v, &rec, exp, text_max);
        } else if (rec.tid == lg.tid) {
            /* Checked without formatting: "thread n=<n> <word>". */
            unsigned n;
            int used = -1;
            quiet++;
            if (sscanf(rec.text, "thread n=%u %n", &n, &used) != 1 || used < 0 ||
                n != thread_seen ||
                strcmp(rec.text + used, words[n % 4]) != 0)
                thread_bad++;
            quiet--;
            thread_seen++;
        } else {
            other_tid++;
        }
    }
    uint64_t a1 = allocs(), f1 = frees();
    /* ---- counted until here ---- */

    assert_int_equal(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&bar);
    print_message("  %u + %u records logged and read back: %" PRIu64
                  " allocation(s), %" PRIu64 " free(s)\n",
                  MAIN_RECORDS, THREAD_RECORDS, a1 - a0, f1 - f0);
    if (v.bad)
        print_error("%" PRIu64 " records differ, first: %s\n", v.bad, v.first_bad);

    assert_int_equal(a1 - a0, 0);
    assert_int_equal(f1 - f0, 0);
    assert_int_equal(rc_open, NBLOG_OK);
    assert_int_equal(rc, NBLOG_EAGAIN);
    assert_int_equal(not_ok, 0);
    assert_int_equal(lg.not_ok, 0);
    assert_int_equal(r.missed, 0);
    assert_int_equal(main_n, MAIN_RECORDS);
    assert_int_equal(v.checked, MAIN_RECORDS);
    assert_int_equal(v.bad, 0);
    assert_int_equal(thread_seen, THREAD_RECORDS);
    assert_int_equal(thread_bad, 0);
    assert_int_equal(other_tid, 0);
    nblog_shutdown();
}

/* ------------------------------------------------- malloc failing */

static void test_log_while_malloc_fails(void **state)
{
    (void)state;
    if (!can_fail_malloc())
        skip(); /* the sanitizer owns malloc: nothing to make fail */
    nblog_options_t opt;
    nblog_options_init(&opt);
    /* The re-init below runs while malloc fails: no default console to
     * allocate for, so the probe stays the only allocation attempted. */
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE;
    assert_int_equal(nblog_init(&opt), NBLOG_OK);
    assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "warm-up"), NBLOG_OK);
    nblog_stats_t st;
    nblog_stats_get(&st);
    const size_t text_max0 = st.text_max;

    enum { N = 3000 };
    static nblog_record_t rec;
    static char buf[NBLOG_TEXT_MAX_LIMIT + 1], exp[NBLOG_TEXT_MAX_LIMIT + 1];
    static int rcs[N];
    struct verdict v = {0};
    nblog_reader_t r;

    atomic_store(&fail_alloc, 1);
    uint64_t a0 = allocs();
    void *probe = malloc_v(64); /* must fail: the switch works */
    int probe_errno = errno;
    int rc_open = nblog_reader_open(&r, NBLOG_FROM_NEXT);
    for (uint32_t i = 0; i < N; i++)
        rcs[i] = record(i, NULL, 0);
    uint32_t n = 0;
    int rc;
    while ((rc = nblog_reader_next(&r, &rec, buf, sizeof buf)) == NBLOG_OK) {
        record(n++, exp, sizeof exp);
        check_text(&v, &rec, exp, text_max0);
    }
    int rc_end = rc;

    /* A new ring (another size: unmapped and mapped again), while malloc
     * still fails. */
    nblog_shutdown();
    int rc_down = nblog_printf(NBLOG_LEVEL_INFO, "after shutdown");
    opt.ring_records = 64;
    opt.record_size = 256;
    int rc_init = nblog_init(&opt);
    int rc_new = nblog_printf(NBLOG_LEVEL_INFO, "new ring %s %d", "while failing", 7);
    nblog_reader_t r2;
    int rc_open2 = nblog_reader_open(&r2, NBLOG_FROM_OLDEST);
    int rc_read2 = nblog_reader_next(&r2, &rec, buf, sizeof buf);
    uint64_t attempts = allocs() - a0;
    atomic_store(&fail_alloc, 0);
    /* ---- malloc works again ---- */
    free_v(probe);

    if (v.bad)
        print_error("%" PRIu64 " records differ, first: %s\n", v.bad, v.first_bad);
    assert_null(probe);
    assert_int_equal(probe_errno, ENOMEM);
    /* The probe is the only allocation attempted. */
    assert_int_equal(attempts, 1);
    assert_int_equal(rc_open, NBLOG_OK);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(rcs[i], NBLOG_OK);
    assert_int_equal(rc_end, NBLOG_EAGAIN);
    assert_int_equal(n, N);
    assert_int_equal(v.checked, N);
    assert_int_equal(v.bad, 0);
    assert_int_equal(r.missed, 0);
    assert_int_equal(rc_down, NBLOG_ENOTREADY);
    assert_int_equal(rc_init, NBLOG_OK);
    assert_int_equal(rc_new, NBLOG_OK);
    assert_int_equal(rc_open2, NBLOG_OK);
    assert_int_equal(rc_read2, NBLOG_OK);
    assert_string_equal(rec.text, "new ring while failing 7");
    assert_int_equal(rec.seq, 0);
    nblog_shutdown();
}

/* ------------------------------------------ a call site's first use */

/* Sites, each its own function (all on one line: distinct __func__, so
 * distinct locations), half formatting in the caller, half deferred. */
#define REG_FN(n)                                                              \
    static int reg_fn_##n(int i)                                               \
    {                                                                          \
        return (n) % 2 ? NBLOG_INFO("reg %d %d", n, i) : nblog_info("reg %d %d", n, i); \
    }
#define REG_FN8(a) REG_FN(a##0) REG_FN(a##1) REG_FN(a##2) REG_FN(a##3) REG_FN(a##4) \
    REG_FN(a##5) REG_FN(a##6) REG_FN(a##7)
REG_FN8(1) REG_FN8(2) REG_FN8(3) REG_FN8(4) REG_FN8(5) REG_FN8(6) REG_FN8(7) REG_FN8(8) REG_FN8(9)
#define REG_FP(n) reg_fn_##n,
#define REG_FP8(a) REG_FP(a##0) REG_FP(a##1) REG_FP(a##2) REG_FP(a##3) REG_FP(a##4) \
    REG_FP(a##5) REG_FP(a##6) REG_FP(a##7)
static int (*const reg_fns[])(int) = {REG_FP8(1) REG_FP8(2) REG_FP8(3) REG_FP8(4) REG_FP8(5)
                                          REG_FP8(6) REG_FP8(7) REG_FP8(8) REG_FP8(9)};
#define N_REG (int)(sizeof reg_fns / sizeof reg_fns[0])

/* The first call of each of 72 sites in a new ring writes its location
 * into the ring's call-site table (64 entries for 16 records, one of them
 * the warm-up's: the last 9 find it full and go without one): counted,
 * none allocates, and (plain builds) all work with malloc failing. */
static void test_first_use_of_sites(void **state)
{
    (void)state;
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.ring_records = 16;
#ifdef COUNT_WITH_HOOKS
    opt.console_defaults = NBLOG_NO_DEFAULT_CONSOLE; /* see lazy_child */
#endif
    static nblog_record_t rec;
    static char buf[256];
    for (int failing = 0; failing < 2; failing++) {
        if (failing && !can_fail_malloc())
            break;
        assert_int_equal(nblog_init(&opt), NBLOG_OK);
        nblog_reader_t r;
        assert_int_equal(nblog_reader_open(&r, NBLOG_FROM_NEXT), NBLOG_OK);
        assert_int_equal(nblog_printf(NBLOG_LEVEL_INFO, "warm-up"), NBLOG_OK);
        assert_int_equal(nblog_reader_next(&r, &rec, buf, sizeof buf), NBLOG_OK);
        assert_true(rec.line != 0); /* its site has the table's first entry */
        int rcs[N_REG], read_rc[N_REG], located[N_REG], text_ok[N_REG];

        /* ---- counted from here ---- */
        atomic_store(&fail_alloc, failing);
        uint64_t a0 = allocs(), f0 = frees();
        for (int i = 0; i < N_REG; i++) {
            rcs[i] = reg_fns[i](failing);
            read_rc[i] = nblog_reader_next(&r, &rec, buf, sizeof buf);
            located[i] = rec.line != 0 && strncmp(rec.func, "reg_fn_", 7) == 0;
            int n = (i / 8 + 1) * 10 + i % 8, a = -1, b = -1;
            quiet++;
            text_ok[i] = sscanf(rec.text, "reg %d %d", &a, &b) == 2 && a == n && b == failing;
            quiet--;
        }
        uint64_t a1 = allocs(), f1 = frees();
        atomic_store(&fail_alloc, 0);
        /* ---- counted until here ---- */

        print_message("  %d sites' first calls%s: %" PRIu64 " allocation(s)\n", N_REG,
                      failing ? " (malloc failing)" : "", a1 - a0);
        assert_int_equal(a1 - a0, 0);
        assert_int_equal(f1 - f0, 0);
        for (int i = 0; i < N_REG; i++) {
            assert_int_equal(rcs[i], NBLOG_OK);
            assert_int_equal(read_rc[i], NBLOG_OK);
            assert_true(text_ok[i]);
            assert_int_equal(located[i], i < 63);
        }
        nblog_shutdown();
    }
}

/* Runs after each case, passed or failed, so the next starts from a
 * shut-down library (nblog_init works again after nblog_shutdown). */
static int teardown(void **state)
{
    (void)state;
    atomic_store(&fail_alloc, 0);
    nblog_shutdown();
    return 0;
}

int main(int argc, char **argv)
{
    install_counting();
    make_long_text();
    if (argc > 1 && strcmp(argv[1], "--lazy-child") == 0)
        return lazy_child(0);
    if (argc > 1 && strcmp(argv[1], "--lazy-child-nomalloc") == 0)
        return lazy_child(1);
    ssize_t l = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (l <= 0)
        return 2;
    self_path[l] = '\0';

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_lazy_init, teardown),
        cmocka_unit_test_teardown(test_lazy_init_malloc_fails, teardown),
        cmocka_unit_test_teardown(test_no_alloc_after_init, teardown),
        cmocka_unit_test_teardown(test_log_while_malloc_fails, teardown),
        cmocka_unit_test_teardown(test_first_use_of_sites, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test-modules-stress.c - the crash report's module table (src/modules.c)
 * while modules come and go: one thread dlopens and dlcloses a library
 * and rescans (nblog__modules_refresh, as the watch thread does), others
 * describe addresses as the crash handler does, all at once. Checks:
 *   - a described frame is always whole and right: the executable's
 *     function by its name at the right offset, with the build-id;
 *   - once rescanned with the library loaded, the library's function is
 *     named from its .dynsym, every time, and after dlclose and a rescan
 *     its address is in no module (the table follows dlopen and dlclose);
 *   - under ThreadSanitizer (label stress): no data race between the
 *     scans and the readers (the table a scan writes is never read).
 */
#include <dlfcn.h>
#include <pthread.h>

#include "modules.h"
#include "testutil.h"

#define LOADS (2000 / TEST_SCALE_DIV)
#define READERS 2

static atomic_int loader_done;
static atomic_ulong described, fell_back;

__attribute__((noinline)) int stress_reader_target(int x);
__attribute__((noinline)) int stress_reader_target(int x)
{
    return x + 1;
}

static void *reader(void *arg)
{
    (void)arg;
    char buf[400];
    uintptr_t fn = (uintptr_t)&stress_reader_target;
    while (!atomic_load(&loader_done)) {
        if (!nblog__modules_describe(fn, 0, buf, sizeof buf)) {
            atomic_fetch_add(&fell_back, 1); /* two scans in a row under us */
            continue;
        }
        if (!strstr(buf, " build-id ") || !strstr(buf, " in stress_reader_target+0x0 [") ||
            buf[strlen(buf) - 1] != ']')
            fail_msg("described as \"%s\"", buf);
        atomic_fetch_add(&described, 1);
    }
    return NULL;
}

/* A scan is skipped while a reader is in the table it would write (or
 * the watch thread scans): try again until the table is up to date. */
static void refresh_until_fresh(void)
{
    int fresh = 0;
    for (int k = 0; k < 1000000 && !(fresh = nblog__modules_refresh()); k++)
        sched_yield();
    assert_true(fresh);
}

static void table_follows_dlopen(void **state)
{
    (void)state;
    nblog_options_t o;
    nblog_options_init(&o);
    o.console_defaults = NBLOG_NO_DEFAULT_CONSOLE | NBLOG_NO_ENV_CONSOLES;
    o.crash_handlers = NBLOG_CRASH_NONE;
    assert_int_equal(nblog_init(&o), NBLOG_OK);
    pthread_t t[READERS];
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
    int named = 0, gone = 0;
    char buf[400];
    for (int i = 0; i < LOADS; i++) {
        void *h = dlopen(MODULES_STRESS_LIB, RTLD_NOW | RTLD_LOCAL);
        assert_non_null(h);
        uintptr_t fn = (uintptr_t)dlsym(h, "modules_stress_fn");
        assert_true(fn != 0);
        refresh_until_fresh();
        if (nblog__modules_describe(fn, 0, buf, sizeof buf)) {
            if (!strstr(buf, "modules-stress-lib") || !strstr(buf, " in modules_stress_fn+0x0 ["))
                fail_msg("library function described as \"%s\"", buf);
            named++;
        }
        assert_int_equal(dlclose(h), 0);
        /* Unloaded and rescanned: its address is in no module now (its
         * old entry would read its unmapped .dynsym). */
        refresh_until_fresh();
        if (!nblog__modules_describe(fn, 0, buf, sizeof buf))
            gone++;
    }
    atomic_store(&loader_done, 1);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    print_message("%d loads: library named %d times, gone after dlclose %d times; "
                  "readers described %lu frames, fell back %lu times\n",
                  LOADS, named, gone, atomic_load(&described), atomic_load(&fell_back));
    assert_int_equal(named, LOADS);
    assert_int_equal(gone, LOADS);
    assert_true(atomic_load(&described) > 0);
    nblog_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_follows_dlopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

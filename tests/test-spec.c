/*
 * test-spec.c - console specs (`file:PATH,level=...`, src/spec.c): a spec
 * makes the console it names, a bad one is refused with a sentence that
 * names what is wrong, and NBLOG_CONSOLES registers each of its specs.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nblog.h"
#include "proc.h"
#include "testutil.h"

static void test_specs_parse(void **state)
{
    (void)state;
    char path[128], spec[200];
    tu_ring_name(path, sizeof path, "spec.log");
    assert_int_equal(nblog_init(NULL), NBLOG_OK);
    nblog_console_t *con;
    snprintf(spec, sizeof spec, "file:%s,level=warning,format=kmsg,mode=direct,name=x", path);
    assert_int_equal(nblog_console_from_spec(spec, &con), NBLOG_OK);
    nblog_console_stats_t st;
    assert_int_equal(nblog_console_stats(con, &st), NBLOG_OK);
    assert_string_equal(st.name, "x");
    nblog_console_unregister(con);
    assert_int_equal(nblog_console_from_spec("fd:2,stall_ms=100", &con), NBLOG_OK);
    nblog_console_unregister(con);

    static const struct {
        const char *spec, *names;
    } bad[] = {
        {"tcp:host", "\"tcp\""},        {"fd:x", "\"x\""},
        {"file", "needs an argument"},  {"stderr:3", "takes no argument"},
        {"stderr,level=loud", "level=loud"}, {"stderr,format=xml", "format=xml"},
        {"stderr,colour=red", "\"colour\""}, {"stderr,novalue", "\"novalue\""},
        {"", "empty"},                  {"file:/nonexistent/dir/x", "No such file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nblog_console_from_spec(bad[i].spec, &con), NBLOG_EINVAL);
        if (!strstr(nblog_spec_error(), bad[i].names))
            fail_msg("spec \"%s\": error \"%s\" does not name \"%s\"", bad[i].spec,
                     nblog_spec_error(), bad[i].names);
    }
    setenv("NBLOG_CONSOLES", "stderr,level=emerg;fd:2,level=emerg", 1);
    assert_int_equal(nblog_consoles_from_env(), 2);
    setenv("NBLOG_CONSOLES", "stderr;bogus", 1);
    assert_int_equal(nblog_consoles_from_env(), NBLOG_EINVAL);
    assert_non_null(strstr(nblog_spec_error(), "bogus"));
    unsetenv("NBLOG_CONSOLES");
    nblog_shutdown();
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specs_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

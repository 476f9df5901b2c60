/*
 * fuzz-args.c - libFuzzer target for what `nblog dmesg` parses from its
 * command line beyond plain numbers (tools/dmesg-args.c): the time parser
 * of --since/--until and the level lists of --level. Outside input: any
 * bytes, made a string. Each parser must return 0 or -1, never read past
 * the string's NUL (ASan), never overflow (UBSan: signed overflow is a
 * report, and the run halts on it), and be consistent: a time it takes
 * comes back the same when parsed again; a time given as "@S.F" (what a
 * taken time is) parses to itself; a level mask has only bits 0..7 and is
 * never empty.
 *
 * Each input is parsed with three "now"s (the real one, 0, and a far
 * one) and in two time zones (UTC and one with DST), so relative forms,
 * today/yesterday and local times all run.
 *
 * Build and run: scripts/test.sh fuzz (clang, NBLOG_FUZZ=ON).
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool.h"

static void check_time(const char *text, int64_t now)
{
    int64_t t = 0, again = 0;
    if (tool_parse_time(text, now, &t) != 0)
        return;
    /* Deterministic for a given now. */
    assert(tool_parse_time(text, now, &again) == 0 && again == t);
    if (t < 0)
        return; /* "@" takes no sign */
    char epoch[64];
    snprintf(epoch, sizeof epoch, "@%lld.%09lld", (long long)(t / 1000000000),
             (long long)(t % 1000000000));
    assert(tool_parse_time(epoch, now, &again) == 0 && again == t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int zone;
    char *text = malloc(size + 1); /* exactly: ASan sees any read past it */
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    setenv("TZ", zone++ & 1 ? "Europe/Berlin" : "UTC", 1);
    tzset();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static const int64_t far = (int64_t)4000000000 * 1000000000; /* 2096 */
    check_time(text, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
    check_time(text, 0);
    check_time(text, far);
    unsigned mask = 0;
    if (tool_parse_levels(text, &mask) == 0)
        assert(mask != 0 && mask <= 0xff);
    free(text);
    return 0;
}

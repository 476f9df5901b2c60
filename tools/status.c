/*
 * status.c - `nblog status FILE`: who writes a ring file and how its
 * consoles are doing, from the stats the writer publishes into the file
 * (nblog_ringfile_console_stats). Built on nblog.h alone, as every tool.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "nblog.h"
#include "tool.h"

/* The exit code for nblog_ringfile_open's verdict (tool.h). */
static int exit_for_verdict(int verdict)
{
    switch (verdict) {
    case NBLOG_OK:
        return EXIT_OK;
    case NBLOG_ENOTRING:
        return EXIT_NOTRING;
    case NBLOG_EVERSION:
        return EXIT_VERSION;
    case NBLOG_ESHORT:
        return EXIT_TRUNCATED;
    case NBLOG_ECORRUPT:
        return EXIT_CORRUPT;
    }
    return EXIT_NOFILE;
}

static int open_status_view(const char *path, nblog_ringfile_t **f)
{
    char why[512];
    int verdict = nblog_ringfile_open(path, NBLOG_RINGFILE_COPY, f, why, sizeof why);
    if (verdict == NBLOG_OK)
        return EXIT_OK;
    return tool_fail(exit_for_verdict(verdict), "%s: %s", path, why);
}

static void format_stalled(char *out, size_t cap, uint64_t ns)
{
    if (ns == 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.1fs", (double)ns / 1e9);
}

/* A console name from the file, which anyone who can write it chose: every
 * byte but printable ASCII (and '\\') as \xNN, so no name reaches the
 * terminal as a control (registration accepts only printable ASCII, so a
 * writer's own names show as they are). out holds 4 * 31 + 1 bytes. */
static const char *shown_name(char *out, size_t cap, const char *name)
{
    size_t n = 0;
    for (; *name && n + 5 <= cap; name++) {
        unsigned char ch = (unsigned char)*name;
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", ch);
    }
    out[n] = '\0';
    return out;
}

static void print_status_header(const char *path, const nblog_ringfile_info_t *in)
{
    uint64_t published = in->stats_published_ns;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    printf("ring %s: writer pid %u (%s), head %llu, %llu records of %u bytes, "
           "%llu lost\n",
           path, (unsigned)in->writer_pid, in->writer_running ? "running" : "gone",
           (unsigned long long)in->head, (unsigned long long)in->records,
           (unsigned)in->record_size, (unsigned long long)in->lost);
    if (published && now_ns >= published)
        printf("console stats published %.1f s ago\n",
               (double)(now_ns - published) / 1e9);
}

static const char status_usage[] =
    "usage: nblog status FILE\n"
    "Show who writes an nblog ring file (FILE without a '/' is under /dev/shm):\n"
    "the writer's pid and whether it still runs, the ring's head and size, and\n"
    "one row per console from the stats the writer publishes every 100 ms:\n"
    "next seq, lag (stored, not yet handled), printed, dropped, write errors,\n"
    "stalled for. The file is only read, and checked before use.\n"
    "\n"
    "  -h, --help   print this help and exit\n"
    "\n"
    "Exit status: 0 ok, 2 usage, 3 cannot read FILE, 4 not a ring, 5 unknown ring\n"
    "version, 6 truncated ring, 7 corrupt ring. See nblog(1).\n";

int nblog_cmd_status(int argc, char **argv)
{
    static const struct option longs[] = {{"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1)
        return c == 'h' ? (fputs(status_usage, stdout), TOOL_HELP) : EXIT_USAGE;
    if (optind != argc - 1)
        return tool_fail(EXIT_USAGE, "status needs exactly one FILE");
    argv += optind - 1;
    nblog_ringfile_t *f;
    int rc = open_status_view(argv[1], &f);
    if (rc != EXIT_OK)
        return rc;
    nblog_ringfile_info_t info;
    nblog_ringfile_info(f, &info);
    print_status_header(argv[1], &info);
    printf("%-20s %10s %8s %10s %10s %12s %11s\n", "CONSOLE", "NEXT SEQ", "LAG",
           "PRINTED", "DROPPED", "WRITE ERRS", "STALLED FOR");
    uint64_t head_now = info.head;
    static nblog_console_stats_t cons[NBLOG_RINGFILE_CONSOLES_MAX];
    int shown = nblog_ringfile_console_stats(f, cons, NBLOG_RINGFILE_CONSOLES_MAX);
    for (int i = 0; i < shown; i++) {
        const nblog_console_stats_t st = cons[i];
        char stalled[32];
        format_stalled(stalled, sizeof stalled, st.stalled_ns);
        uint64_t lag = head_now > st.next_seq ? head_now - st.next_seq : 0;
        char name[sizeof st.name * 4];
        printf("%-20s %10llu %8llu %10llu %10llu %12llu %11s\n",
               shown_name(name, sizeof name, st.name),
               (unsigned long long)st.next_seq, (unsigned long long)lag,
               (unsigned long long)st.printed, (unsigned long long)st.dropped,
               (unsigned long long)st.write_failed, stalled);
    }
    if (shown <= 0)
        printf("(no consoles published)\n");
    nblog_ringfile_close(f);
    return EXIT_OK;
}


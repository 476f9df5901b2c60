/*
 * bench-pass.h - one pass of the bench message through a logger into a
 * file, and the goal lines every mode prints (bench-pass.c).
 *
 * A pass: N threads, after a barrier, each log M records of the message
 * every mode logs (bench-common.h) as fast as they can, one way in (below);
 * then the logger is drained into its file, the file is read back and
 * every line checked (check_file). The pass reports the elapsed time, what
 * reached the file, and what the logger itself says it lost, so a mode can
 * set one beside the other: `throughput` takes the rate, `burst` the loss.
 *
 * nblog is used through include/nblog.h alone, so the bench keeps working
 * whatever the store looks like inside. Every nblog pass initialises nblog
 * afresh (nblog_init ... nblog_shutdown) with one file console and no
 * console of its own (no stderr console, no NBLOG_CONSOLES).
 */
#ifndef NBLOG_BENCH_PASS_H
#define NBLOG_BENCH_PASS_H

#include <stddef.h>
#include <stdint.h>

#include <nblog.h>

#include "bench-common.h"

/* ------------------------------------------------------------- nblog setup */

/*
 * nblog_init with the defaults of nblog_options_init except ring_records
 * and record_size when not 0, no console of its own, then one file console
 * on path (truncated first): threaded, level INFO, plain format (kmsg if
 * stamped), from `start` (NBLOG_FROM_NEXT or NBLOG_FROM_OLDEST). Prints
 * why and returns -1 on failure (nblog is then shut down).
 */
int bench_nblog_open(const char *path, size_t ring_records, size_t record_size,
                     int start, int stamped, nblog_console_t **con);

/* nblog_init as bench_nblog_open, but no console at all. Returns 0 or -1. */
int bench_nblog_init(size_t ring_records, size_t record_size);

/* What nblog says became of the records stored since bench_nblog_open. */
struct bench_books {
    uint64_t printed, filtered, dropped, write_failed; /* the console's */
    uint64_t lost;                 /* NBLOG_ELOST since open (nblog_stats) */
    uint64_t ring_records, record_size, text_max;      /* the ring's */
    int lagging;                   /* nblog_flush's result: 0 caught up */
};

/* Registers the file console alone, on an nblog bench_nblog_init set up.
 * Returns 0 or -1. */
int bench_nblog_console(const char *path, int start, int stamped,
                        nblog_console_t **con);

/* Waits (nblog_flush, flush_ms at most) for the console to catch up, takes
 * its counters and nblog's into *b, unregisters it and shuts nblog down. */
void bench_nblog_close(nblog_console_t *con, unsigned flush_ms,
                       struct bench_books *b);

/* A file name under /tmp for this process: /tmp/nblog-bench-PID-MODE-WHO-ID.log */
void bench_path(char *buf, size_t cap, const char *mode, const char *who, int id);

/* ------------------------------------------------------------------ passes */

/* The ways in a pass can take. */
enum pass_way {
    WAY_INFO,    /* NBLOG_INFO: the deferred way, readers render */
    WAY_PRINTF,  /* nblog_printf: the caller formats */
    WAY_SPDLOG,  /* spdlog async (bench-spdlog.cpp) */
    WAY_FPRINTF, /* fprintf to a fully buffered FILE *, one stream */
    NWAYS
};
extern const char *const pass_way_name[NWAYS];

struct pass_cfg {
    int way;
    int threads;
    long count;          /* records per thread */
    /* nblog: 0 the default ring (nblog_options_init) and a console that
     * drains it while the callers log; 1 "printer only": a ring sized to
     * hold every record (record_size 128), the records stored first with
     * no console, then a console from the oldest drains them, and the
     * clock runs for the draining alone. */
    int printer_only;
    int spdlog_overrun;  /* spdlog: 1 overrun_oldest, 0 block */
    int stamped;         /* timestamped lines (nblog kmsg, spdlog default) */
    const char *mode;    /* for the file name */
    int id;              /* for the file name: unique within the mode */
};

struct pass_result {
    int ran;
    double elapsed_ms;   /* first call to everything in the file (printer
                            only: console registered to everything in it) */
    double caller_ms;    /* first call to the last thread's last call */
    double lines_per_s;  /* records found in the file / elapsed */
    double cpu_ms;       /* the process's CPU time (all threads) over the
                            elapsed time: printer only, that is the printer
                            thread's, so found / cpu_ms holds under load */
    long calls, sent;    /* calls made; calls that said they stored */
    struct file_check fc;
    struct bench_books books; /* nblog */
    size_t overruns;          /* spdlog */
};

/* Runs one pass. Returns 0, or -1 (printed why; r->ran is 0). */
int bench_pass(const struct pass_cfg *cfg, struct pass_result *r);

/* Records the logger says it lost: nblog the console's dropped and
 * write_failed (NBLOG_ELOST is within dropped: the lost writer's seq is
 * skipped by the console), spdlog its queue's overruns, fprintf 0. */
long pass_logger_lost(int way, const struct pass_result *r);

/* Records missing from the file: calls - found. */
long pass_file_lost(const struct pass_result *r);

/* ------------------------------------------------------------------- goals */

/* How a goal's value is shown. */
enum goal_unit {
    GOAL_RATIO, /* "x1.83" */
    GOAL_RATE,  /* "1.23M lines/s" */
    GOAL_COUNT, /* "0" */
};

struct goal {
    const char *text;  /* "NBLOG_INFO p50 <= 1.25x floor" */
    int unit;          /* enum goal_unit */
    int at_least;      /* 1: value >= limit; 0: value <= limit */
    double limit;
    int known;         /* 0: could not be measured (says why in the line) */
    double value;
};

/* Sets g's value and whether it was measured (den == 0 or a missing figure
 * leaves it unknown): the ratio num/den. */
void goal_ratio(struct goal *g, double num, double den);
void goal_value(struct goal *g, double value);
int goal_met(const struct goal *g);

/* "goal: <text>: <value> met|MISSED" (or "not measured"), one a line. */
void goals_print(const struct goal *g, int n);
/* ,"goals":[{"goal":"<text>","value":v|null,"limit":l,"met":true|false},...] */
void goals_json(const struct goal *g, int n);

/* A ratio for a table: "x1.83", or "-" when den is 0; buf holds 16. */
const char *ratio_str(char *buf, double num, double den);

#endif

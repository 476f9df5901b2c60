/*
 * bench-modes.h - the modes of nblog-bench besides `latency`, each in its
 * own file; main() in nblog-bench.c dispatches on argv[1].
 */
#ifndef NBLOG_BENCH_MODES_H
#define NBLOG_BENCH_MODES_H

/* nblog-bench stuck ...: bench-stuck.c */
int bench_stuck_main(int argc, char **argv);
/* nblog-bench throughput ...: bench-throughput.c */
int bench_throughput_main(int argc, char **argv);
/* nblog-bench burst ...: bench-burst.c */
int bench_burst_main(int argc, char **argv);
/* nblog-bench crash ...: bench-crash.c */
int bench_crash_main(int argc, char **argv);
/* nblog-bench reader ...: bench-reader.c */
int bench_reader_main(int argc, char **argv);

#endif

/*
 * seed.c - the seed thread's scenario in miniature, until `nblog demo`.
 *
 * Threads log OOM-killer-like messages. "serial" (stdout) keeps printing
 * while "fbcon" is stuck: its write waits on a mutex that a stalled
 * "allocator" thread holds for two seconds. With one global console lock,
 * as in the 2017 kernel, serial would stop too. Here it does not; fbcon
 * catches up (or reports exactly what it missed) once the allocator lets go.
 */
#define _DEFAULT_SOURCE /* usleep */
#include <nblog.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t bo_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned long fbcon_lines;

static ssize_t fbcon_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&bo_mutex); /* the seed's ->bo_mutex */
    for (size_t i = 0; i < len; i++)
        fbcon_lines += buf[i] == '\n';
    pthread_mutex_unlock(&bo_mutex);
    return (ssize_t)len;
}

static void *allocator(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&bo_mutex);
    for (int s = 1; s <= 6; s++) {
        NBLOG_WARNING("allocator: page allocation stalls for %dms, order:0", s * 500);
        usleep(500000);
    }
    pthread_mutex_unlock(&bo_mutex);
    return NULL;
}

static void *oom_worker(void *arg)
{
    int cpu = (int)(long)arg;
    for (int i = 0; i < 40; i++) {
        NBLOG_INFO("CPU: %d PID: %d Comm: idle-priority invoked oom-killer: "
                   "gfp_mask=0x14280ca, order=0, oom_score_adj=%d",
                   cpu, 2798 + cpu, i);
        usleep(25000);
    }
    return NULL;
}

static void print_stats(nblog_console_t *con)
{
    nblog_console_stats_t st;
    nblog_console_stats(con, &st);
    printf("  %-7s next seq %-5llu lag %-4llu printed %-5llu dropped %-4llu "
           "stalled for %.1f s\n",
           st.name, (unsigned long long)st.next_seq, (unsigned long long)st.lag,
           (unsigned long long)st.printed, (unsigned long long)st.dropped,
           (double)st.stalled_ns / 1e9);
}

int main(void)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    nblog_init(&opt);

    nblog_console_opts_t o;
    nblog_console_t *serial, *fbcon;
    nblog_console_opts_init(&o);
    o.name = "serial";
    o.format = NBLOG_FORMAT_KMSG;
    nblog_console_fd(STDOUT_FILENO, &o, &serial);
    nblog_console_ops_t ops = {.write = fbcon_write};
    nblog_console_opts_init(&o);
    o.name = "fbcon";
    o.stall_ms = 1000;
    nblog_console_register(&ops, NULL, &o, &fbcon);

    pthread_t alloc, cpu[2];
    pthread_create(&alloc, NULL, allocator, NULL);
    usleep(10000); /* the allocator holds the mutex first */
    for (long i = 0; i < 2; i++)
        pthread_create(&cpu[i], NULL, oom_worker, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(cpu[i], NULL);

    nblog_flush(200, NULL, 0);
    printf("-- while the allocator holds fbcon's mutex:\n");
    print_stats(serial);
    print_stats(fbcon);

    pthread_join(alloc, NULL);
    char lagging[64];
    int behind = nblog_flush(5000, lagging, sizeof lagging);
    printf("-- after it lets go (flush: %d lagging%s%s):\n", behind,
           behind ? ": " : "", behind ? lagging : "");
    print_stats(serial);
    print_stats(fbcon);
    printf("fbcon received %lu lines\n", fbcon_lines);
    nblog_shutdown();
    return 0;
}

/*
 * basic.c - log from a few threads, then read the store back like dmesg.
 * The main job until `nblog demo` exists.
 */
#include <nblog.h>
#include <pthread.h>
#include <stdio.h>

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    for (int i = 0; i < 5; i++)
        nblog_info("worker %d: step %d of %d", id, i + 1, 5);
    nblog_warning("worker %d: done, %s", id, "no errors");
    return NULL;
}

int main(void)
{
    nblog_options_t opt;
    nblog_options_init(&opt);
    opt.level = NBLOG_LEVEL_DEBUG;
    if (nblog_init(&opt) != NBLOG_OK)
        return 1;

    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    nblog_crit("an emergency record: %d%% of %s", 100, "the disk");

    nblog_reader_t r;
    nblog_record_t rec;
    char text[4096];
    nblog_reader_open(&r, NBLOG_FROM_OLDEST);
    while (nblog_reader_next(&r, &rec, text, sizeof text) >= NBLOG_OK)
        printf("[%5llu.%06llu] <%s> seq=%llu tid=%u %s\n",
               (unsigned long long)(rec.ts_ns / 1000000000u),
               (unsigned long long)(rec.ts_ns / 1000 % 1000000),
               nblog_level_name(rec.level), (unsigned long long)rec.seq,
               rec.tid, rec.text);

    nblog_stats_t st;
    nblog_stats_get(&st);
    printf("stored %llu records (%llu lost), ring %llu x %llu bytes\n",
           (unsigned long long)st.reserved, (unsigned long long)st.lost,
           (unsigned long long)st.ring_records, (unsigned long long)st.record_size);
    nblog_shutdown();
    return 0;
}

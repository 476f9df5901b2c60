/*
 * publish.h - the file ring's stats publisher (publish.c): a thread that
 * copies the consoles' stats into the ring file's table (stats.h) and
 * wakes followers. Layer: above the console registry; started and stopped
 * by the lifecycle (lifecycle.c) for a file ring only.
 */
#ifndef NBLOG_PUBLISH_H
#define NBLOG_PUBLISH_H

#include "ring.h"

/* Starts the publisher thread for ring r (a file ring): every 100 ms it
 * publishes the consoles' stats into the file and wakes followers if head
 * moved. Publishes once before returning. [blocking] */
int nblog__publisher_start(struct nblog__ring_hdr *r);
/* Publishes a last time and stops the thread (no-op if not running; two
 * threads may call it at once). [blocking] */
void nblog__publisher_stop(void);
/* One pass of the publisher (the thread's body; tests call it). */
void nblog__publish_once(struct nblog__ring_hdr *r);
/* Fork hook (lifecycle.c's fork handler, in the child): the publisher
 * thread stayed in the parent. */
void nblog__publisher_fork_child(void);

#endif

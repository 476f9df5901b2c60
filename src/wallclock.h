/*
 * wallclock.h - keeps the ring's wall-clock epochs true: a thread that
 * learns of every setting of CLOCK_REALTIME (timerfd, cancel on set) and
 * of drift between the TSC-derived record stamps and CLOCK_REALTIME, and
 * starts a new epoch (ring.h struct nblog__wall_epoch) for each.
 * Layer: lifecycle (lifecycle.c starts and stops it), on the store and platform.
 */
#ifndef NBLOG_WALLCLOCK_H
#define NBLOG_WALLCLOCK_H

#include "ring.h"

/* How often the offset is looked at without a clock-set notice, and by how
 * much it must have moved for a new epoch (wallclock.c says why these). */
#define NBLOG__WALL_CHECK_MS 5000
#define NBLOG__WALL_DRIFT_NS 200000 /* 200 us */

/* Starts the thread for ring r (the process's ring, already formatted or
 * resumed). [blocking] Returns NBLOG_OK, or NBLOG_ENOMEM if no thread or
 * timer could be had: records then keep the epoch they have (their wall
 * time is right until the clock is set). */
int nblog__wallclock_start(struct nblog__ring_hdr *r);
/* Stops the thread and waits for it (no-op if not running). [blocking] */
void nblog__wallclock_stop(void);
/* In a forked child (the thread stayed in the parent): starts it again,
 * for ring r, if the parent had one. No-op otherwise. console.c calls it
 * when it restarts its printers. [blocking] */
void nblog__wallclock_restart_if_forked(struct nblog__ring_hdr *r);
/* Fork hook (lifecycle.c's fork handler, in the child): closes the
 * parent's timer and eventfd, forgets the ring and asks for a restart if
 * the thread was running (wallclock.c, Fork). */
void nblog__wallclock_fork_child(void);

/* What the thread does when it wakes, and the way in for tests (which
 * step nblog__realtime_hook and call it as a timerfd cancel would):
 * set = 1 (the clock was set) starts a new epoch whatever the offset;
 * set = 0 only if the offset moved by more than NBLOG__WALL_DRIFT_NS.
 * Returns 1 if it started one, 0 if not, -1 if the thread is not running
 * (no ring to publish to). [blocking: takes the publisher's mutex] */
int nblog__wallclock_notice(int set);

#endif

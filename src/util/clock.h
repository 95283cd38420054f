/* clock.h — seconds on a monotonic clock, for durations (step times, tokens per second). */
#ifndef VT_CLOCK_H
#define VT_CLOCK_H

#include <time.h>

static inline double vt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif

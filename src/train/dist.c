/* dist.c — joining the group, watched collectives. */
#include "train/dist.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

struct vt_watchdog {
    pthread_t thread;
    atomic_bool stop;
    _Atomic(double) since;          /* when the current wait began; 0: not waiting */
    _Atomic(const char *) what;     /* what is being waited for (a string literal) */
    int rank, size;
    double timeout_s;
};

static void *watch(void *arg) {
    vt_watchdog *w = arg;
    const struct timespec tick = {0, 100 * 1000 * 1000};
    while (!atomic_load(&w->stop)) {
        nanosleep(&tick, NULL);
        double since = atomic_load(&w->since);
        if (since <= 0 || vt_now() - since <= w->timeout_s) continue;
        fflush(stdout);
        if (w->rank >= 0)
            fprintf(stderr, "error: rank %d of %d: %s has waited %.0f s for the other ranks (distributed_timeout): "
                            "another rank failed or stopped (its own error, if it could print one, names it); "
                            "stopping this rank too\n", w->rank, w->size, atomic_load(&w->what), w->timeout_s);
        else
            fprintf(stderr, "error: %s has waited %.0f s (distributed_timeout): the other processes of the group "
                            "did not all start or cannot reach each other (check the hostfile and the launcher); "
                            "stopping\n", atomic_load(&w->what), w->timeout_s);
        _exit(1); /* the main thread is stuck inside MLX: nothing else can end it */
    }
    return NULL;
}

static void wait_begin(vt_watchdog *w, const char *what) {
    if (!w) return;
    atomic_store(&w->what, what);
    atomic_store(&w->since, vt_now());
}

static void wait_end(vt_watchdog *w) {
    if (w) atomic_store(&w->since, 0.0);
}

static void watchdog_stop(vt_watchdog *w) {
    if (!w) return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    free(w);
}

static int watchdog_start(vt_watchdog **out, double timeout_s) {
    vt_watchdog *w = calloc(1, sizeof *w);
    if (!w) return vt_err("out of memory");
    w->rank = -1, w->timeout_s = timeout_s;
    atomic_init(&w->stop, false);
    atomic_init(&w->since, 0.0);
    atomic_init(&w->what, "joining the group");
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        free(w);
        return vt_err("cannot start the distributed watchdog thread");
    }
    *out = w;
    return 0;
}

/* The environment names a multi-process launch (then joining is watched from the start). */
static bool launched_as_group(void) {
    const char *vars[] = {"MLX_HOSTFILE", "MLX_RANK", "MLX_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                          "MLX_JACCL_COORDINATOR", "MLX_IBV_DEVICES"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]) && *getenv(vars[i])) return true;
    return false;
}

int vt_dist_open(vt_dist *d, double timeout_s) {
    *d = (vt_dist){.rank = 0, .size = 1, .timeout_s = timeout_s};
    const char *always = getenv("VLMTUNE_DIST_ALWAYS");
    d->collective = always && !strcmp(always, "1");
    /* started alone: MLX's distributed layer is not touched at all (its "any" search may probe MPI or NCCL) */
    if (!launched_as_group()) return 0;
    TRY(watchdog_start(&d->watchdog, timeout_s));
    wait_begin(d->watchdog, "joining the group");
    int rc = mx_dist_init(&d->group, false, "any");
    wait_end(d->watchdog);
    if (rc) {
        watchdog_stop(d->watchdog), d->watchdog = NULL;
        return vt_err_context("joining the distributed group");
    }
    d->rank = mx_dist_rank(d->group), d->size = mx_dist_size(d->group);
    d->collective |= d->size > 1;
    if (d->size == 1) watchdog_stop(d->watchdog), d->watchdog = NULL;
    if (d->watchdog) d->watchdog->rank = d->rank, d->watchdog->size = d->size;
    return 0;
}

void vt_dist_close(vt_dist *d) {
    watchdog_stop(d->watchdog);
    mx_group_free(d->group);
    *d = (vt_dist){0};
}

/* Each rank's part of a collective's report block: [failed (0/1) | its message, one byte a float]. */
enum { REPORT_CHARS = 500, REPORT = 1 + REPORT_CHARS };

static int report_block(const vt_dist *d, const char *failure, mx_array *out) {
    int n = d->size * REPORT;
    float *block = calloc((size_t)n, sizeof *block);
    if (!block) return vt_err("out of memory");
    if (failure) {
        float *mine = block + (size_t)d->rank * REPORT;
        size_t len = strlen(failure);
        if (len > REPORT_CHARS) { /* cut at a character's start, not inside a UTF-8 sequence */
            len = REPORT_CHARS;
            while (len > 0 && ((unsigned char)failure[len] & 0xC0) == 0x80) len--;
        }
        mine[0] = 1;
        for (size_t i = 0; i < len; i++) mine[1 + i] = (float)(unsigned char)failure[i];
    }
    int rc = mx_from_data(out, block, &n, 1, MX_FLOAT32);
    free(block);
    return rc;
}

/* The lowest failed rank in a summed report block, and its message; -1 when none failed. */
static int first_failure(const vt_dist *d, const float *block, char *msg, size_t cap) {
    for (int k = 0; k < d->size; k++) {
        const float *part = block + (size_t)k * REPORT;
        if (part[0] < 0.5f) continue;
        size_t i = 0;
        for (; i + 1 < cap && i < REPORT_CHARS && part[1 + i] >= 1.0f; i++) msg[i] = (char)(unsigned char)part[1 + i];
        msg[i] = 0;
        return k;
    }
    return -1;
}

static int sum_with_reports(vt_dist *d, mx_array a, const char *failure, const char *what, mx_array *out) {
    int n = (int)mx_size(a), n_report = d->size * REPORT;
    mx_array parts[2], all, sum, tail;
    TRY(report_block(d, failure, &parts[1]));
    parts[0] = a;
    TRY(mx_concatenate(&all, parts, 2, 0));
    TRY(mx_eval(&all, 1)); /* the collective's wait below then counts only the wait */
    TRY(mx_dist_all_sum(&sum, all, d->group));
    wait_begin(d->watchdog, what);
    int rc = mx_eval(&sum, 1);
    wait_end(d->watchdog);
    if (rc) return vt_err_context("%s failed: another rank failed or stopped (its own error, if it could print one, "
                                  "names it)", what);
    float *block = malloc((size_t)n_report * sizeof *block);
    if (!block) return vt_err("out of memory");
    char msg[REPORT_CHARS + 1];
    rc = mx_slice_axis(&tail, sum, 0, n, n + n_report) || mx_to_f32(tail, block, (size_t)n_report);
    int failed = rc ? -1 : first_failure(d, block, msg, sizeof msg);
    free(block);
    TRY(rc);
    if (failed >= 0 && !failure)
        return vt_err("rank %d of %d failed (during %s): %s; stopping this rank too", failed, d->size, what, msg);
    return mx_slice_axis(out, sum, 0, 0, n);
}

int vt_dist_sum(vt_dist *d, mx_array a, const char *failure, const char *what, mx_array *out) {
    /* `failure` may be vt_errmsg()'s own buffer, which the sum's own errors would overwrite: the failed rank
     * ends with a copy of it, whatever the sum did */
    char *own = NULL;
    if (failure && !(own = strdup(failure))) return -1; /* no copy: the message is still where it was */
    /* MLX's group of one has no collectives: the sum is `a`, left lazy so the step stays one evaluation */
    int rc = d->size == 1 ? (own ? 0 : mx_ref(out, a)) : sum_with_reports(d, a, own, what, out);
    if (own) rc = vt_err("%s", own);
    free(own);
    return rc;
}

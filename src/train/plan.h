/* plan.h — which samples go into which micro-batch, epoch by epoch.
 *
 * An epoch's plan is a pure function of (seed, epoch) and the sample lengths, so a resumed run
 * rebuilds exactly the plan it was in and continues at the saved micro-batch. */
#ifndef VT_PLAN_H
#define VT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t *samples;  /* indices into the rows, in order; owned */
    int *row_of;      /* packed plans: the packed row of each sample; NULL otherwise; owned */
    size_t n;
} vt_micro;

typedef struct {
    vt_micro *micro;  /* owned */
    size_t n;
} vt_epoch_plan;

typedef struct {
    uint64_t seed;
    long epoch;
    int batch_size;    /* samples per micro-batch, or packed rows per micro-batch */
    bool shuffle;
    bool bucket;       /* group samples of similar length (less padding) */
    int pack_length;   /* > 0: pack samples into rows of at most this many tokens */
} vt_plan_options;

/* lengths[i]: the token count of sample i. */
int vt_plan_epoch(vt_epoch_plan *out, const size_t *lengths, size_t n, const vt_plan_options *opt);
void vt_epoch_plan_free(vt_epoch_plan *p);

#endif

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

/* The share of micro-batch `m` that rank `rank` of `world` processes in data-parallel training: the samples
 * at positions rank, rank + world, rank + 2·world, ... of `m`, or, in a packed plan, the whole packed rows
 * rank, rank + world, ... (renumbered from 0).  Shares are disjoint, their union is `m`, their sizes differ
 * by at most one sample (row), and a share may be empty (out->n == 0) when `m` is smaller than the group.
 * Round-robin rather than contiguous blocks because a length-bucketed micro-batch is sorted by length:
 * blocks would give one rank all the long samples. */
int vt_micro_shard(const vt_micro *m, int rank, int world, vt_micro *out);
void vt_micro_free(vt_micro *m);

#endif

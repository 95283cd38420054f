/* micro.h — one micro-batch of a plan (plan.h), assembled as the model and the loss receive it.
 *
 * The rows it names become a padded (or packed) batch on the host; the supervised positions, targets and
 * images become arrays in the current arena: pixel values when the vision tower runs, or the cached
 * features of its rows when the tower is frozen. */
#ifndef VT_MICRO_H
#define VT_MICRO_H

#include "data/batch.h"
#include "data/rowset.h"
#include "model/qwen3vl.h"
#include "train/features.h"
#include "train/plan.h"

typedef struct {
    vt_batch batch;                  /* owned (host) */
    mx_array pixels;                 /* [patches, patch_dim] when the tower runs, else NULL */
    vt_vision_features features;     /* the rows' cached features when it does not */
    mx_array loss_positions, targets; /* [supervised] int32; NULL when the micro-batch supervises nothing */
} vt_micro_batch;

/* vision: the rows' cached features, or NULL to feed pixels to the tower; rows are padded with pad_id to a
 * length that is a multiple of pad_multiple (1: the longest row).  An empty plan gives an empty micro-batch
 * (no targets, no arrays). */
int vt_micro_batch_make(vt_micro_batch *mb, const vt_rows *rows, const vt_vision_cache *vision, const vt_micro *plan,
                        int32_t pad_id, int pad_multiple);
void vt_micro_batch_clear(vt_micro_batch *mb);
/* The forward pass's inputs for the micro-batch (pointers into mb). */
vt_model_inputs vt_micro_batch_inputs(const vt_micro_batch *mb, bool checkpoint, bool compile);

#endif

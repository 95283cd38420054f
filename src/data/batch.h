/* batch.h — padded and packed batches of encoded examples (data/example.h).
 *
 * A batch right-pads B samples to a common
 * length T and lists the supervised positions: the logits at flat position
 * b·T + t predict token t+1 of row b, and are supervised when the loss mask of
 * token t+1 is set.  Only those positions ever get logits (never B×T×V). */
#ifndef VT_BATCH_H
#define VT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "data/example.h"

typedef struct {
    int B, T;
    int32_t *input_ids;       /* [B*T], pad_id after each row's end */
    int32_t *attention_mask;  /* [B*T], 1 for real tokens */
    float *pixel_values;      /* [n_patches, patch_dim], rows' images in order */
    size_t n_patches, patch_dim;
    int32_t *grid_thw;        /* [n_images, 3] */
    size_t n_images;
    int32_t *loss_positions;  /* [n_targets], flat b*T + t */
    int32_t *targets;         /* [n_targets], the token at t+1 */
    size_t n_targets;
    size_t n_real_tokens;     /* sum of row lengths */
    int32_t *segments;        /* [B*T] packed batches only: 1, 2, ... per sample within its row, 0 on padding */
} vt_batch;

/* Right-pads `n` samples to the longest, rounded up to a multiple of
 * pad_multiple (1: no rounding).  All samples must share one patch_dim. */
int vt_batch_make(vt_batch *out, const vt_encoded *const *samples, size_t n, int32_t pad_id, int pad_multiple);
/* Packs samples into rows: sample i goes to row row_of[i] (non-decreasing, from 0), after the
 * samples before it in that row, each sample padded to a multiple of pad_multiple (so that attention over
 * each sample's slice takes the fused kernels on a GPU); rows are right-padded to the longest.  segments
 * tells the samples apart (0 on padding); a target never crosses from one sample to the next. */
int vt_batch_make_packed(vt_batch *out, const vt_encoded *const *samples, const int *row_of, size_t n,
                         int32_t pad_id, int pad_multiple);
void vt_batch_clear(vt_batch *b);

#endif

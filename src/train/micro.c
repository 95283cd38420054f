/* micro.c — assembling a micro-batch. */
#include "train/micro.h"

#include <stdlib.h>

int vt_micro_batch_make(vt_micro_batch *mb, const vt_rows *rows, const vt_vision_cache *vision, const vt_micro *plan,
                        int32_t pad_id, int pad_multiple) {
    *mb = (vt_micro_batch){0};
    if (plan->n == 0) return 0; /* a rank's empty share of a small micro-batch: nothing to compute */
    const vt_encoded **samples = malloc((plan->n + 1) * sizeof *samples);
    if (!samples) return vt_err("out of memory");
    for (size_t i = 0; i < plan->n; i++) samples[i] = &rows->rows[plan->samples[i]];
    int rc = plan->row_of ? vt_batch_make_packed(&mb->batch, samples, plan->row_of, plan->n, pad_id, pad_multiple)
                          : vt_batch_make(&mb->batch, samples, plan->n, pad_id, pad_multiple);
    free(samples);
    TRY(rc);
    const vt_batch *b = &mb->batch;
    int nt = (int)b->n_targets;
    if (nt == 0) return 0;
    TRY(mx_from_data(&mb->loss_positions, b->loss_positions, &nt, 1, MX_INT32));
    TRY(mx_from_data(&mb->targets, b->targets, &nt, 1, MX_INT32));
    if (b->n_images == 0) return 0;
    if (vision) return vt_vision_cache_gather(vision, plan->samples, plan->n, &mb->features);
    int shape[2] = {(int)b->n_patches, (int)b->patch_dim};
    return mx_from_data(&mb->pixels, b->pixel_values, shape, 2, MX_FLOAT32);
}

void vt_micro_batch_clear(vt_micro_batch *mb) {
    vt_batch_clear(&mb->batch);
    *mb = (vt_micro_batch){0};
}

vt_model_inputs vt_micro_batch_inputs(const vt_micro_batch *mb, bool checkpoint, bool compile) {
    const vt_batch *b = &mb->batch;
    return (vt_model_inputs){.B = b->B, .T = b->T, .input_ids = b->input_ids, .attention_mask = b->attention_mask,
                             .pixel_values = mb->pixels, .grid_thw = b->grid_thw, .n_images = (int)b->n_images,
                             .vision = mb->features.merged ? &mb->features : NULL, .segments = b->segments,
                             .checkpoint = checkpoint, .compile = compile};
}

/* loss.h — cross-entropy over the supervised positions only. */
#ifndef VT_LOSS_H
#define VT_LOSS_H

#include "mlx/mx.h"
#include "model/qwen3vl.h"

/* Sum over rows s of logsumexp(logits[s]) − logits[s, targets[s]], in float32.
 * logits [S, V] (any float dtype), targets [S] int32; *sum is a scalar. */
int vt_cross_entropy_sum(mx_array *sum, mx_array logits, mx_array targets);

/* Logits of hidden rows [S, H] -> [S, V]. */
typedef int (*vt_logits_fn)(const void *ctx, mx_array rows, mx_array *logits);

/* vt_cross_entropy_sum(logits(ctx, rows), targets), chunk_rows rows at a time, each chunk under gradient
 * checkpointing: at most one chunk's logits exist at once, in the forward and in the backward pass.  ctx must
 * stay valid until the backward pass has been built. */
int vt_cross_entropy_chunked(vt_logits_fn logits, const void *ctx, mx_array rows, mx_array targets, int chunk_rows,
                             mx_array *sum);

/* The chunk vt_model_loss_sum uses: logits of at most ~64 M float32 entries (256 MB) at once. */
int vt_loss_chunk_rows(int vocab);

/* The model's summed cross-entropy over supervised positions: forward `in`, take the hidden rows at
 * flat positions b·T + t (`positions` [S] int32), their logits, and the cross-entropy against `targets`
 * [S].  Logits exist only for those S rows, and only a chunk of them at a time (vt_cross_entropy_chunked). */
int vt_model_loss_sum(const vt_model *m, const vt_model_inputs *in, mx_array positions, mx_array targets,
                      mx_array *sum);

#endif

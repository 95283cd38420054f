/* loss.h — cross-entropy over the supervised positions only. */
#ifndef VT_LOSS_H
#define VT_LOSS_H

#include "mlx/mx.h"
#include "model/qwen3vl.h"

/* Sum over rows s of logsumexp(logits[s]) − logits[s, targets[s]], in float32.
 * logits [S, V] (any float dtype), targets [S] int32; *sum is a scalar. */
int vt_cross_entropy_sum(mx_array *sum, mx_array logits, mx_array targets);

/* The model's summed cross-entropy over supervised positions: forward `in`, take the hidden rows at
 * flat positions b·T + t (`positions` [S] int32), their logits, and the cross-entropy against `targets`
 * [S].  Logits exist only for those S rows. */
int vt_model_loss_sum(const vt_model *m, const vt_model_inputs *in, mx_array positions, mx_array targets,
                      mx_array *sum);

#endif

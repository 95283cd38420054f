/* loss.h — cross-entropy over the supervised positions only. */
#ifndef VT_LOSS_H
#define VT_LOSS_H

#include "mlx/mx.h"

/* Sum over rows s of logsumexp(logits[s]) − logits[s, targets[s]], in float32.
 * logits [S, V] (any float dtype), targets [S] int32; *sum is a scalar. */
int vt_cross_entropy_sum(mx_array *sum, mx_array logits, mx_array targets);

#endif

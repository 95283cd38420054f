/* memory.h — what a gradient pass through the decoder holds at its peak, from the model's shapes.
 *
 * An estimate, not a measurement: it counts the arrays the backward pass keeps (per token and layer, the
 * layer's inputs, normalised activations, projections, attention outputs and the MLP's wide intermediates),
 * the recomputed layer under gradient checkpointing, and the loss head's chunk of logits.  Calibrated against
 * MLX's allocator peak on Qwen3-VL-4B (bench/README.md says how close it comes). */
#ifndef VT_MODEL_MEMORY_H
#define VT_MODEL_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "io/config.h"

typedef struct {
    long rows, tokens;       /* the micro-batch: rows × padded length */
    long supervised;         /* positions whose logits are computed */
    long head_chunk;         /* supervised rows whose logits exist at once (0: all of them) */
    bool checkpoint;         /* decoder layers recomputed in the backward pass */
} vt_pass_shape;

/* Bytes a forward + backward pass of `shape` holds above the weights. */
double vt_model_pass_bytes(const vt_model_config *c, const vt_pass_shape *shape);

#endif

/* memory.c — the activation footprint of a gradient pass (memory.h). */
#include "model/memory.h"

#include <string.h>

/* Bytes of one activation element: the checkpoint's dtype (float32 checkpoints compute in float32). */
static double activation_bytes(const vt_model_config *c) { return strcmp(c->dtype, "float32") ? 2.0 : 4.0; }

/* Elements one token keeps alive in one decoder layer for the backward pass: the residual stream and its two
 * normalised copies and their float32 statistics (about 10·H), queries and keys before and after rotary
 * embedding and their transposed copies, values and the attention output (about 6·q and 6·kv), the MLP's gate,
 * up, activation, product and their gradients (about 6·I).  Matches MLX's allocator peak on Qwen3-VL-4B
 * within a few per cent (bench/README.md). */
static double layer_elements_per_token(const vt_model_config *c) {
    double q = (double)c->heads * c->head_dim, kv = (double)c->kv_heads * c->head_dim;
    return 10.0 * c->hidden + 6.0 * q + 6.0 * kv + 6.0 * c->intermediate;
}

double vt_model_pass_bytes(const vt_model_config *c, const vt_pass_shape *s) {
    double e = activation_bytes(c), tokens = (double)s->tokens;
    double layer = layer_elements_per_token(c) * e * tokens;
    /* checkpointed: each layer's input stays, one layer is recomputed at a time (its activations and their
     * gradients); otherwise every layer's activations stay */
    double decoder = s->checkpoint ? (double)c->layers * c->hidden * e * tokens + 2.0 * layer : c->layers * layer;
    /* embeddings in, final norm out, the gradient of the residual stream (float32) */
    double stream = tokens * c->hidden * (2.0 * e + 2.0 * 4.0);
    /* the head: a chunk's logits in the model's type and in float32, the softmax and its gradient */
    long rows = s->head_chunk > 0 && s->head_chunk < s->supervised ? s->head_chunk : s->supervised;
    double head = (double)rows * c->vocab * (e + 3.0 * 4.0);
    return decoder + stream + head;
}

/* layers.h — the building blocks shared by the vision tower and the text decoder. */
#ifndef VT_LAYERS_H
#define VT_LAYERS_H

#include "model/qwen3vl.h"

/* Rows of an embedding table (quantized tables are dequantized row by row). ids any int shape. */
int vt_embedding_lookup(const vt_embedding *e, mx_array ids, mx_array *out);
/* x @ tableᵀ for a [rows, dim] table: the tied output head. */
int vt_embedding_as_linear(const vt_embedding *e, mx_array x, mx_array *out);
/* GELU, exact (erf) or with the tanh approximation (gelu_pytorch_tanh). */
int vt_gelu(mx_array x, bool tanh_approx, mx_array *out);
int vt_silu(mx_array x, mx_array *out);
/* [x1, x2] -> [-x2, x1] over the last axis (halves). */
int vt_rotate_half(mx_array x, mx_array *out);
/* x·cos + rotate_half(x)·sin, computed in float32 when in_f32 (the vision tower's rule), else in x's dtype
 * (the text decoder's); the result has x's dtype. */
int vt_apply_rotary(mx_array x, mx_array cos, mx_array sin, bool in_f32, mx_array *out);
/* A block (decoder layer, vision block) as a function of arrays: in[0..n_in) -> *out.  ctx is the block's
 * own host-side context (which weights, which frame boundaries). */
typedef int (*vt_block_fn)(const void *ctx, const mx_array *in, size_t n_in, mx_array *out);
/* fn under gradient checkpointing: MLX keeps only its inputs and recomputes it in the backward pass.  The
 * adapters on linears[0..n_linears) read their arrays as explicit inputs of the recomputed function (through
 * vt_adapter_ops), so they still get gradients.  ctx (ctx_size bytes) is copied; the copy lives until
 * vt_checkpoint_release() (called at the start of every checkpointed forward on this thread, and when a model
 * is freed), by which time the backward pass that recomputes the block has been built. */
int vt_checkpointed(vt_block_fn fn, const void *ctx, size_t ctx_size, vt_linear *const *linears, size_t n_linears,
                    const mx_array *in, size_t n_in, mx_array *out);
void vt_checkpoint_release(void);
/* Reshape with up to 5 dims given inline: vt_reshape(&y, x, 3, B, T, -1). */
int vt_reshape(mx_array *out, mx_array x, int ndim, ...);

#endif

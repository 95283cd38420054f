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
/* A block's compiled form, kept with the block; rebuilt when the block's adapters change. */
typedef struct vt_block_cache vt_block_cache;
void vt_block_cache_free(vt_block_cache *c);  /* NULL is fine */

/* fn(ctx, in) with the adapters on linears[0..n_linears) reading their arrays as explicit inputs (through
 * vt_adapter_ops), so that MLX's transforms see them:
 *   checkpoint  MLX keeps only the block's inputs and recomputes it in the backward pass (blocks are
 *               recomputed last first, one at a time); arrays a recomputed function merely captured would
 *               get no gradient;
 *   compiled    (not NULL) the block is traced once per input shape and its elementwise work fused
 *               (mx.compile); *compiled caches the traced function with the block.  Everything the block
 *               computes must then be a function of its inputs and its constant weights: adapters with
 *               dropout (random keys made per step) must not be compiled.
 * ctx (ctx_size bytes) is copied.  Without `compiled`, the copy lives until vt_checkpoint_release() (called
 * at the start of every checkpointed forward on this thread, and when a model is freed), by which time the
 * backward pass that recomputes the block has been built (so, on one thread, until the next vt_model_forward). */
int vt_block_call(vt_block_fn fn, const void *ctx, size_t ctx_size, vt_linear *const *linears, size_t n_linears,
                  const mx_array *in, size_t n_in, bool checkpoint, vt_block_cache **compiled, mx_array *out);
void vt_checkpoint_release(void);
/* Reshape with up to 5 dims given inline: vt_reshape(&y, x, 3, B, T, -1). */
int vt_reshape(mx_array *out, mx_array x, int ndim, ...);

#endif

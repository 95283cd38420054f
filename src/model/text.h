/* text.h — pieces of the text decoder shared by the forward pass and generation. */
#ifndef VT_TEXT_H
#define VT_TEXT_H

#include "model/qwen3vl.h"

typedef struct {
    mx_array cos, sin;   /* [B, 1, T, head_dim] float32 */
    mx_array mask;       /* [B, 1, T, T] bool, or NULL for plain causal attention */
    vt_kv_cache *cache;  /* generation: keys and values of earlier tokens (NULL: none) */
} vt_text_ctx;

/* Rotary tables for positions [3·B·T] (vt_rope_positions' layout). */
int vt_mrope_tables(const vt_model_config *c, const int32_t *pos, int B, int T, mx_array *cos, mx_array *sin);
/* Causal mask that also hides padding keys (mask[i] == 0) and keys of another segment (packed
 * rows); NULL (plain causal) when there is neither, or when padding is only at the ends of rows (causal
 * attention keeps real queries from it; padding queries' outputs are never read).  mask and segments may
 * be NULL. */
int vt_attention_mask(const int32_t *mask, const int32_t *segments, int B, int T, mx_array *out);
int vt_text_layer_forward(const vt_model_config *c, const vt_text_layer *l, mx_array x, const vt_text_ctx *ctx,
                          mx_array *out);

#endif

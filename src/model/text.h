/* text.h — pieces of the text decoder shared by the forward pass and generation. */
#ifndef VT_TEXT_H
#define VT_TEXT_H

#include "model/qwen3vl.h"

typedef struct {
    mx_array cos, sin;   /* [B, 1, T, head_dim] float32 */
    mx_array mask;       /* [B, 1, T, T] bool, or NULL for plain causal attention */
    vt_kv_cache *cache;  /* generation: keys and values of earlier tokens (NULL: none) */
    /* packed rows: row b holds slice_counts[b] samples starting at slice_starts[b·slice_max + i]; attention
     * runs causally within each sample's slice (which may end in padding), never across (NULL: one slice) */
    const int32_t *slice_starts, *slice_counts;
    int slice_max;
} vt_text_ctx;

/* Rotary tables for positions [3·B·T] (vt_rope_positions' layout). */
int vt_mrope_tables(const vt_model_config *c, const int32_t *pos, int B, int T, mx_array *cos, mx_array *sin);
/* The slices of packed rows (segment ids, 0 on padding): a slice starts where a new sample begins and runs to
 * the next one, padding included.  *starts is [B·*max], *counts [B]; both malloc'd. */
int vt_packed_slices(const int32_t *segments, int B, int T, int32_t **starts, int32_t **counts, int *max);
/* Causal mask that also hides padding keys (mask[i] == 0); NULL (plain causal) when there is none, or when
 * padding is only at the ends of rows (causal attention keeps real queries from it; padding queries' outputs
 * are never read).  mask may be NULL.  Packed rows need no mask: their attention runs slice by slice
 * (vt_packed_slices). */
int vt_attention_mask(const int32_t *mask, int B, int T, mx_array *out);
int vt_text_layer_forward(const vt_model_config *c, const vt_text_layer *l, mx_array x, const vt_text_ctx *ctx,
                          mx_array *out);

#endif

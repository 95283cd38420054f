/* qwen3vl.h — Qwen3-VL in C: weights, and the forward pass of the vision tower and text decoder.
 *
 * The model knows nothing of training.  A linear layer may carry an adapter
 * hook (src/lora sets it); the model only calls it.  Every forward runs in the
 * caller's current arena (mx.h): the caller opens a scope and keeps what it needs.
 *
 * docs/MODEL.md describes the computation in prose, layer by layer. */
#ifndef VT_QWEN3VL_H
#define VT_QWEN3VL_H

#include <stdbool.h>
#include <stdint.h>

#include "io/config.h"
#include "io/model_dir.h"
#include "mlx/mx.h"

/* An adapter on a linear layer, as the model sees it: three functions over an opaque state.  The model
 * calls forward after the base product and never looks inside; the other two let a recomputed
 * (checkpointed) block pass the adapter's arrays as explicit inputs, since MLX's checkpoint gives no
 * gradient to arrays a recomputed function merely captures.  src/lora provides the one implementation. */
enum { VT_MAX_ADAPTER_ARRAYS = 4 };
typedef struct {
    /* *y = the adapted output, from the layer's input x and its base output y_base */
    int (*forward)(void *state, mx_array x, mx_array y_base, mx_array *y);
    /* the arrays the adapter reads now (at most VT_MAX_ADAPTER_ARRAYS), into out; returns their count */
    size_t (*arrays)(const void *state, mx_array *out);
    /* read these instead (borrowed, same order as arrays()) until the next rebind */
    void (*rebind)(void *state, const mx_array *in);
} vt_adapter_ops;

/* Where a linear layer sits, so that adapters are chosen without parsing names. */
typedef enum { VT_IN_DECODER, VT_IN_VISION_BLOCK, VT_IN_MERGER } vt_linear_place;

typedef struct {
    const char *name;        /* module path, mlx-vlm naming ("language_model.model.layers.0.self_attn.q_proj"); owned */
    const char *leaf;        /* the last component of name ("q_proj"); points into name */
    vt_linear_place place;
    int index;               /* decoder layer, vision block, or merger (0 main, 1 + k DeepStack merger k) */
    int in, out;
    mx_array weight;         /* [out, in], or packed uint32 [out, in·bits/32] when quantized; borrowed */
    mx_array bias;           /* [out] or NULL */
    mx_array scales, biases; /* quantized only: [out, in/group_size] */
    int group_size, bits;    /* 0 when dense */
    const vt_adapter_ops *adapter_ops; /* NULL when the layer carries no adapter */
    void *adapter;           /* the adapter's state; not owned by the model */
} vt_linear;

typedef struct {
    const char *name;        /* tensor prefix ("language_model.model.embed_tokens"); static */
    int rows, dim;
    mx_array weight, scales, biases; /* as vt_linear; quantized when scales != NULL */
    int group_size, bits;
} vt_embedding;

typedef struct {
    mx_array weight, bias; /* LayerNorm (bias may be NULL for RMSNorm) */
} vt_norm;

typedef struct {
    vt_norm norm1, norm2;
    vt_linear qkv, proj, fc1, fc2;
} vt_vision_block;

typedef struct {
    vt_norm norm;  /* over hidden (main merger) or 4·hidden (DeepStack mergers, after the 2×2 shuffle) */
    vt_linear fc1, fc2;
    bool postshuffle_norm;
} vt_merger;

typedef struct {
    mx_array patch_weight;   /* [hidden, C·T·P·P], columns in pixel_values order (c, t, y, x) */
    mx_array patch_bias;     /* [hidden] */
    vt_embedding pos_embed;  /* learned grid, side × side */
    int pos_side;
    vt_vision_block *blocks; /* [depth], owned */
    vt_merger merger;
    vt_merger deepstack[VT_MAX_DEEPSTACK];
} vt_vision;

typedef struct vt_block_cache vt_block_cache; /* a block's compiled form (model/layers.h) */

typedef struct {
    vt_norm in_norm, post_norm, q_norm, k_norm;
    vt_linear q, k, v, o, gate, up, down;
    const vt_model_config *config; /* the model's; lets a layer run alone (checkpointed) */
    int index;                     /* its place in the decoder (its slot in a KV cache) */
    vt_block_cache *compiled;      /* the layer traced and fused (inputs.compile); a cache, owned */
} vt_text_layer;

/* Keys and values of the tokens seen so far, per decoder layer, for generation (batch 1).  The
 * next token's text position is length + rope_delta on all three MRoPE axes (Qwen3-VL's rule for
 * text after a prompt with images).  Each layer's buffers are preallocated in steps of VT_KV_STEP
 * tokens and written in place (mlx-lm's KVCache); only [0, length) along the token axis is filled.
 * Owns its arrays (in its arena). */
enum { VT_KV_STEP = 256 };
typedef struct {
    mx_array *k, *v;   /* [layers], each [1, kv_heads, capacity ≥ length, head_dim] or NULL */
    int layers, length;
    int32_t rope_delta;
    mx_arena *arena;
} vt_kv_cache;

int vt_kv_cache_init(vt_kv_cache *c, int layers);
void vt_kv_cache_free(vt_kv_cache *c);

typedef struct {
    vt_embedding embed;
    vt_text_layer *layers;   /* [layers], owned */
    vt_norm norm;
    vt_linear lm_head;       /* weight NULL when tied to the embedding */
    bool tied;
} vt_text;

typedef struct {
    vt_model_config config;
    vt_model_files files;    /* the loaded tensors; weights above borrow from here */
    mx_arena *arena;         /* arrays the model derives at load (patch matrix) */
    vt_vision vision;
    vt_text text;
    char *dir;
    size_t n_params_vision, n_params_text; /* logical parameter counts (quantized weights unpacked) */
    size_t bytes;                          /* bytes of the stored tensors */
    bool vision_released;                  /* vt_model_release_vision: the tower can no longer run */
} vt_model;

/* Loads DIR (config.json + safetensors in either layout).  Every expected tensor
 * must be present with its expected shape and no tensor may be unknown. */
int vt_model_load(vt_model **out, const char *dir);
void vt_model_free(vt_model *m);

/* Frees the vision tower's weights (a frozen tower's features, once computed, are all training needs of it);
 * vt_vision_forward fails afterwards.  Its layers keep their names and places, without weights. */
int vt_model_release_vision(vt_model *m);

/* Bytes of the weights the model holds now (the tower's gone once released).  MLX loads them lazily: until a
 * pass has run, the allocator counts none of them. */
size_t vt_model_weight_bytes(const vt_model *m);

/* Calls fn on every linear layer (vision and text), in a fixed order. */
int vt_model_each_linear(vt_model *m, int (*fn)(void *ctx, vt_linear *lin), void *ctx);

/* ------------------------------------------------------------- forward ---- */

/* The vision tower's output for a set of images: the merger's features, one per image token, and the
 * DeepStack features added to the decoder's first layers.  Arrays in the current arena (or the caller's). */
typedef struct {
    mx_array merged;                      /* [image tokens, hidden] */
    mx_array deepstack[VT_MAX_DEEPSTACK]; /* [image tokens, hidden] each */
    int n_deepstack;
} vt_vision_features;

typedef struct {
    int B, T;
    const int32_t *input_ids;       /* [B·T] */
    const int32_t *attention_mask;  /* [B·T], 1 = token, 0 = padding; NULL: all tokens */
    mx_array pixel_values;          /* [N, C·T·P·P] (any float dtype) or NULL */
    const int32_t *grid_thw;        /* [n_images·3]: images of all rows, in order */
    int n_images;
    /* Optional, all NULL/false by default: */
    const vt_vision_features *vision; /* features computed earlier (a frozen tower gives the same features
                                         every epoch): used instead of pixel_values */
    const int32_t *segments;        /* [B·T] sample number within a packed row (1, 2, ...; 0 on padding, which
                                       belongs to the sample before it): attention runs within each sample,
                                       never across, and each sample's MRoPE positions start from 0 as if it
                                       were alone */
    bool checkpoint;                /* recompute each decoder layer and vision block in the backward pass
                                       instead of keeping its intermediates (gradient checkpointing) */
    bool compile;                   /* trace each decoder layer once per input shape and fuse its elementwise
                                       work (mx.compile); not with adapters that use dropout, nor a cache */
    vt_kv_cache *cache;             /* prefill for generation (B = 1, empty cache): keys and values stay
                                       in it, with the length and the rope delta */
} vt_model_inputs;

typedef struct {
    mx_array hidden;                      /* [B, T, hidden] after the final norm */
    vt_vision_features vision;            /* merged NULL without images */
    int32_t *positions;                   /* [3·B·T] (t, h, w) MRoPE positions; owned by caller (free) */
    int32_t *rope_deltas;                 /* [B]: next position minus sequence length; owned by caller */
} vt_model_outputs;

int vt_model_forward(const vt_model *m, const vt_model_inputs *in, vt_model_outputs *out);
/* One generated token after a prefill: hidden state [1, 1, hidden] after the final norm; the cache
 * grows by one. */
int vt_model_decode(const vt_model *m, vt_kv_cache *cache, int32_t token, mx_array *hidden);
/* Text tokens after a prefill, as an MLX array [1, T] int32 that may still be lazy (a token sampled on the
 * device and not yet read: pipelined decoding), or the rest of a long text prompt (chunked prefill): their
 * positions continue at length + rope_delta, each attends to the cache and causally to the chunk; hidden
 * states [1, T, hidden] after the final norm; the cache grows by T.  Ids are not range-checked here (that
 * would wait for them): the caller passes ids from the tokenizer or from the model's own logits. */
int vt_model_extend(const vt_model *m, vt_kv_cache *cache, mx_array ids, mx_array *hidden);
/* Logits for selected rows of hidden states: rows [S, hidden] -> [S, vocab] (float32). */
int vt_model_logits(const vt_model *m, mx_array rows, mx_array *logits);
void vt_model_outputs_clear(vt_model_outputs *out);

/* ------------------------------------------------ pieces (tested alone) ---- */

int vt_linear_forward(const vt_linear *lin, mx_array x, mx_array *y);
/* checkpoint: recompute each vision block in the backward pass. */
int vt_vision_forward(const vt_model *m, mx_array pixel_values, const int32_t *grid_thw, int n_images,
                      bool checkpoint, vt_vision_features *out);
/* MRoPE positions (get_rope_index): [3·B·T] and per-row deltas; checks every
 * image's <|image_pad|> run against its grid. */
int vt_rope_positions(const vt_model_config *c, const int32_t *ids, const int32_t *mask, int B, int T,
                      const int32_t *grid_thw, int n_images, int32_t *pos, int32_t *deltas);

#endif

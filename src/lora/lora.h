/* lora.h — LoRA and DoRA adapters on a model's linear layers, in mlx-vlm's format.
 *
 * An adapter on a linear layer W (out × in) adds a low-rank update:
 *   LoRA  y = W x + b + scale · (dropout(x) A) B                A [in, r], B [r, out]
 *   DoRA  y = m / ‖W + scale·(AB)ᵀ‖_rows · (W x + scale · (dropout(x) A) B) + b,   m [out]
 * with the row norm treated as a constant in the backward pass (as mlx-vlm and the DoRA paper do).
 * A starts uniform in ±1/√in and B at zero, so a fresh adapter leaves the model unchanged.
 *
 * The adapters plug into the model's vt_linear through vt_adapter_ops (model/qwen3vl.h); the model's
 * own weights are never touched.  On disk an adapter is a directory with adapters.safetensors
 * ("<module path>.lora_a", ".lora_b", DoRA also ".m") and adapter_config.json, exactly what
 * mlx_vlm.load(model, adapter_path=DIR) reads; PEFT's layout is read and written too (lora/peft.h).
 *
 * The files of this folder, bottom up: params.c (named array lists), adapter.c (the hook's math and
 * the vt_lora object), select.c (which layers a configuration adapts), mlx_format.c (mlx-vlm's files),
 * peft.c (PEFT's files), load.c (either format, detected), fuse.c (adapters folded into a model).
 *
 * Ownership: a vt_lora owns its arrays (params) and its hook states; it borrows the model, which must
 * outlive it.  vt_lora_free() removes the hooks again. */
#ifndef VT_LORA_H
#define VT_LORA_H

#include <stdbool.h>
#include <stdint.h>

#include "lora/params.h"
#include "model/qwen3vl.h"

typedef enum { VT_ADAPTER_LORA, VT_ADAPTER_DORA } vt_adapter_kind;

typedef struct {
    vt_adapter_kind kind;
    int rank;
    double scale;        /* alpha / rank */
    double dropout;      /* on the adapter's input, training only */
    int num_layers;      /* the last N decoder layers (<= 0: all), for every key that names decoder layers */
    const char *keys;    /* comma-separated: module names ("q_proj"), dotted paths ("self_attn.q_proj") or full
                            paths; NULL or "": the default set (every decoder projection q, k, v, o, gate, up,
                            down); borrowed */
    bool vision;         /* also every vision block (qkv, proj, fc1, fc2) and the mergers */
} vt_lora_config;

/* What an adapter was trained with beyond its weights: the preprocessing that inference must repeat.
 * Kept in adapter_config.json as "vlmtune": {"image_min_pixels": N, "image_max_pixels": N} (mlx-vlm ignores
 * the block); 0 means the model's own setting. */
typedef struct {
    long image_min_pixels, image_max_pixels;
} vt_adapter_meta;

typedef struct vt_lora vt_lora;

/* Fresh adapters on the layers the configuration selects; `seed` fixes A's initial values.
 * A selection that matches no layer is an error that lists the names available. */
int vt_lora_attach(vt_lora **out, vt_model *m, const vt_lora_config *cfg, uint64_t seed);
/* Adapters read from DIR: mlx-vlm's layout (adapter_config.json + adapters.safetensors) or PEFT's
 * (adapter_model.safetensors), detected.  Every module named must exist in `m`, every tensor must be
 * present with the shape the model and the rank imply, and no tensor may be left unused: an adapter made
 * for another model is an error naming the tensor, never a silent no-op. */
int vt_lora_load(vt_lora **out, vt_model *m, const char *dir);
/* Adapters from their parts: the configuration, the adapted modules' full paths (NULL: mlx-vlm's
 * default set for cfg->num_layers) and their tensors under mlx-vlm names ("<module>.lora_a" [in, r],
 * ".lora_b" [r, out], DoRA ".m" [out]), taken from `weights` (which must hold nothing else).  `label`
 * names the source in messages.  This is how every format loads. */
int vt_lora_assemble(vt_lora **out, vt_model *m, const vt_lora_config *cfg, char *const *modules, size_t n_modules,
                     mx_tensors *weights, const char *label);
/* Starting values for l's parameters from an adapters.safetensors (or a directory holding one), as mlx-lm's
 * resume_adapter_file does: every parameter must be there with its shape, and nothing else. */
int vt_lora_load_values(vt_lora *l, const char *path);
/* Writes DIR/adapters.safetensors and DIR/adapter_config.json (mlx-vlm's layout), each atomically. */
int vt_lora_save(const vt_lora *l, const char *dir);
void vt_lora_free(vt_lora *l);  /* removes the hooks from the model; NULL is fine */

/* The trainable arrays, named as in adapters.safetensors, in a fixed order.  Borrowed. */
vt_params *vt_lora_params(vt_lora *l);
const vt_lora_config *vt_lora_config_of(const vt_lora *l);
const vt_adapter_meta *vt_lora_meta(const vt_lora *l);
void vt_lora_set_meta(vt_lora *l, const vt_adapter_meta *meta);
/* Number of adapted layers, and adapted layer i with its arrays (m NULL for LoRA); all borrowed. */
size_t vt_lora_count(const vt_lora *l);
const vt_linear *vt_lora_layer(const vt_lora *l, size_t i, mx_array *a, mx_array *b, mx_array *m);

/* Point every hook at values[i] instead of params.values[i] (values in vt_lora_params order;
 * borrowed, they must outlive the forward pass).  NULL restores the params' own arrays.
 * This is how a transform (value_and_grad) traces the forward as a function of the adapters. */
void vt_lora_bind(vt_lora *l, const mx_array *values);
/* For inference (the adapter is not trained or saved after this): A and B become arrays of type `dt`, the
 * activations' type, evaluated once, and copies of them are made with the scale in B's, which forward passes
 * then use: no casts from the float32 masters, no scaling (756 operations per token at 4B size).  With
 * `gemv_layout` (for GPUs) the copies are laid out so that a generated token's two low-rank products are
 * matrix-vector kernels, not general products (the rank padded with zeros to a multiple of 32; adapter.c says
 * why).  Training and bound arrays (vt_lora_bind) keep
 * using the params.  LoRA only: DoRA's weight norms are computed from A and B in float32. */
int vt_lora_prepare(vt_lora *l, mx_dtype dt, bool gemv_layout);
/* Dropout on (training) or off.  `seed` selects the masks of the next forward passes: the
 * same seed gives the same masks, so a recomputed (checkpointed) forward matches its first run. */
void vt_lora_set_training(vt_lora *l, bool training, uint64_t seed);

/* The dense weight of adapted layer i with its adapter folded in, in the base weight's float type
 * (a quantized base is dequantized first):  LoRA  W + scale·(AB)ᵀ;  DoRA  m/‖W + scale·(AB)ᵀ‖_rows ·
 * (W + scale·(AB)ᵀ).  The new array goes to the current arena. */
int vt_lora_fused_weight(const vt_lora *l, size_t i, mx_array *weight);

#endif

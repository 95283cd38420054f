/* model_dir.h — the tensors of a model directory under one naming scheme.
 *
 * A directory holds either model.safetensors or model.safetensors.index.json
 * with its shards.  Tensor names come in two layouts: Hugging Face
 * (model.language_model.*, model.visual.*, lm_head.*) and mlx-vlm /
 * mlx-community (language_model.model.*, vision_tower.*,
 * language_model.lm_head.*).  Both are mapped to the mlx-vlm names, which are
 * also the names adapters use.  Tensors are loaded lazily (read on first use). */
#ifndef VT_MODEL_DIR_H
#define VT_MODEL_DIR_H

#include <stdbool.h>

#include "mlx/mx.h"

typedef struct {
    mx_tensors *tensors;  /* canonical name -> array; owned */
    bool hf_layout;       /* names came in the Hugging Face layout */
    int n_files;
} vt_model_files;

int vt_model_files_load(vt_model_files *out, const char *dir);
void vt_model_files_free(vt_model_files *f);
/* Drops the vision tower's tensors (mlx-vlm names "vision_tower.*"); handles borrowed from them die. */
int vt_model_files_drop_vision(vt_model_files *f);
/* The mlx-vlm name for a tensor name in either layout. */
void vt_canonical_name(const char *name, char *buf, size_t cap, bool *was_hf);
/* The Hugging Face name for an mlx-vlm name (the inverse of vt_canonical_name). */
void vt_hf_name(const char *name, char *buf, size_t cap);

/* The vision tower's patch embedding (a Conv3d weight) is the one tensor whose layout differs: mlx-vlm
 * keeps (out, T, H, W, C), Hugging Face (out, C, T, H, W). */
#define VT_PATCH_EMBED_WEIGHT "vision_tower.patch_embed.proj.weight"
/* Rewrites t's patch embedding (when present) from one layout to the other; nothing when they agree. */
int vt_patch_embed_to_layout(mx_tensors *t, bool from_hf, bool to_hf);

#endif

/* fuse.h — a model directory with an adapter folded into its weights.
 *
 * The output is a complete model directory that mlx_vlm.load reads strictly: weights (sharded at
 * 5 GB with an index, like mlx-vlm's own save), config.json, and every other file of the base
 * (tokenizer, chat template, processor and generation settings).  Adapted layers hold
 * W + scale·(AB)ᵀ (DoRA: its magnitude-normalised form).  A quantized base stays quantized with its
 * own group size and bits (the fused layers are re-quantized), or, with `dequantize`, every
 * quantized layer is written as float and the quantization block leaves config.json.  Names and
 * the patch embedding's layout follow mlx-vlm (VT_FUSE_MLX) or Hugging Face (VT_FUSE_HF).
 * The directory is written under a temporary name and renamed into place. */
#ifndef VT_FUSE_H
#define VT_FUSE_H

#include <stdbool.h>

#include "lora/lora.h"

typedef enum { VT_FUSE_MLX, VT_FUSE_HF } vt_fuse_format;

int vt_fuse(const vt_model *m, const vt_lora *l, const char *out_dir, bool dequantize, vt_fuse_format format);

#endif

/* fuse.h — a model directory with an adapter folded into its weights.
 *
 * The output is a complete model directory that mlx_vlm.load reads strictly: weights (sharded at
 * 5 GB with an index, like mlx-vlm's own save), config.json, and every other file of the base
 * (tokenizer, chat template, processor and generation settings).  Adapted layers hold
 * W + scale·(AB)ᵀ (DoRA: its magnitude-normalised form).  A quantized base stays quantized with its
 * own group size and bits (the fused layers are re-quantized), or, with `dequantize`, every
 * quantized layer is written as float and the quantization block leaves config.json.  Names and
 * the patch embedding's layout follow mlx-vlm (VT_FUSE_MLX) or Hugging Face (VT_FUSE_HF).
 *
 * Nothing of the user's is lost: the output directory must be new, empty, or one that fuse wrote before —
 * recognised by its marker file VT_FUSE_MARKER, which lists every entry fuse wrote (a directory holding
 * anything else is refused, so notes added to a fused model are kept); it may not be (or hold) an input,
 * however named (symlinks, "..", trailing slashes: compared by device and inode).  The model is written
 * under a temporary name next to the output and then exchanged with it in one step (vt_replace_dir). */
#ifndef VT_FUSE_H
#define VT_FUSE_H

#include <stdbool.h>

#include "lora/lora.h"

typedef enum { VT_FUSE_MLX, VT_FUSE_HF } vt_fuse_format;

#define VT_FUSE_MARKER ".vlmtune-fused"

/* Whether fuse may write out_dir (the rules above); `inputs` are the base model and adapter paths. */
int vt_fuse_check_out(const char *out_dir, const char *const *inputs, int n_inputs);
/* adapter_dir: where `l` was read from (checked as an input; may be NULL). */
int vt_fuse(const vt_model *m, const vt_lora *l, const char *adapter_dir, const char *out_dir, bool dequantize,
            vt_fuse_format format);

#endif

/* peft.h — Hugging Face PEFT's LoRA adapter directories, read and written.
 *
 * PEFT keeps adapter_model.safetensors with "base_model.model.<module>.lora_A.weight" [r, in] and
 * ".lora_B.weight" [out, r] (DoRA also ".lora_magnitude_vector" [out]) under Hugging Face module
 * names (model.language_model.*, model.visual.*), and adapter_config.json with peft_type "LORA", r,
 * lora_alpha (scale = lora_alpha / r, or / √r with use_rslora), use_dora and target_modules.  The
 * matrices are the transposes of mlx-vlm's lora_a / lora_b. */
#ifndef VT_PEFT_H
#define VT_PEFT_H

#include <stdbool.h>

#include "lora/lora.h"

/* DIR holds adapter_model.safetensors (PEFT's file name). */
bool vt_peft_is_adapter(const char *dir);
int vt_lora_load_peft(vt_lora **out, vt_model *m, const char *dir);
/* Writes DIR/adapter_model.safetensors and DIR/adapter_config.json (atomically); base_model goes to
 * base_model_name_or_path. */
int vt_lora_save_peft(const vt_lora *l, const char *dir, const char *base_model);

#endif

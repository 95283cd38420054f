/* formats.h — the adapter file layouts vt_lora_load detects (used inside src/lora only). */
#ifndef VT_LORA_FORMATS_H
#define VT_LORA_FORMATS_H

#include "lora/lora.h"
#include "lora/peft.h"

/* mlx-vlm's layout: DIR/adapter_config.json (fine_tune_type, num_layers, lora_parameters {rank, scale,
 * dropout, keys}) + DIR/adapters.safetensors. */
int vt_lora_load_mlx(vt_lora **out, vt_model *m, const char *dir);

#endif

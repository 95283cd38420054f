/* load.c — an adapter directory in either layout. */
#include "lora/formats.h"
#include "util/fs.h"

int vt_lora_load(vt_lora **out, vt_model *m, const char *dir) {
    if (!vt_is_dir(dir)) return vt_err("adapter %s: not a directory", dir);
    return vt_peft_is_adapter(dir) ? vt_lora_load_peft(out, m, dir) : vt_lora_load_mlx(out, m, dir);
}

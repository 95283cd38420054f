/* `vlmtune convert-adapter` — an adapter in mlx-vlm's or PEFT's layout, checked against its model and
 * written in the other (or the same) layout.
 *
 *   vlmtune convert-adapter --model DIR --adapter IN --out OUT --format mlx|peft [--base-name NAME] */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "lora/peft.h"
#include "util/error.h"

int cmd_convert(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "the base model the adapter belongs to", true},
                        {"adapter", "DIR", "adapter to read (mlx-vlm or PEFT layout, detected)", true},
                        {"out", "DIR", "where to write it", true},
                        {"format", "mlx|peft", "layout to write", true},
                        {"base-name", "NAME", "PEFT's base_model_name_or_path [Qwen/Qwen3-VL-4B-Instruct]", false},
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune convert-adapter --model DIR --adapter IN --out OUT --format mlx|peft");
    if (rc) return rc > 0 ? 0 : -1;
    const char *format = vt_args_value(opts, "format"), *base = vt_args_value(opts, "base-name");
    bool peft = !strcmp(format, "peft");
    if (!peft && strcmp(format, "mlx")) return vt_err("--format: expected mlx or peft, got '%s'", format);
    vt_model *m = NULL;
    vt_lora *l = NULL;
    rc = vt_model_load(&m, vt_args_value(opts, "model")) || vt_lora_load(&l, m, vt_args_value(opts, "adapter"));
    if (rc == 0)
        rc = peft ? vt_lora_save_peft(l, vt_args_value(opts, "out"), base ? base : "Qwen/Qwen3-VL-4B-Instruct")
                  : vt_lora_save(l, vt_args_value(opts, "out"));
    if (rc == 0) printf("%zu adapted layers written to %s (%s layout)\n", vt_lora_count(l), vt_args_value(opts, "out"),
                        peft ? "PEFT" : "mlx-vlm");
    vt_lora_free(l);
    vt_model_free(m);
    return rc;
}

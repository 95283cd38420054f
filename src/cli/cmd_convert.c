/* `vlmtune convert-adapter` — an adapter in mlx-vlm's or PEFT's layout, checked against its model and
 * written in the other (or the same) layout.
 *
 *   vlmtune convert-adapter --model DIR --adapter IN --out OUT --format mlx|peft [--base-name NAME]
 *
 * OUT must be new, empty, or hold only adapter files (what convert writes, in either layout), and not be
 * (or hold) an input: nothing else of the user's is overwritten. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "lora/peft.h"
#include "util/error.h"
#include "util/fs.h"

/* The files an adapter directory holds in mlx-vlm's or PEFT's layout: what convert may replace. */
static bool adapter_file(const char *name) {
    return !strcmp(name, "adapters.safetensors") || !strcmp(name, "adapter_config.json") ||
           !strcmp(name, "adapter_model.safetensors");
}

static int check_out(const char *out, const char *model, const char *adapter) {
    const char *inputs[] = {model, adapter};
    for (int i = 0; i < 2; i++)
        if (vt_dir_holds(out, inputs[i]))
            return vt_err("--out %s: is (or holds) the input %s; it would be overwritten: choose another directory "
                          "(nothing was written)", out, inputs[i]);
    if (!vt_path_exists(out)) return 0;
    DIR *d = opendir(out);
    if (!d) return vt_err("--out %s: not a directory one can write into", out);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !adapter_file(e->d_name))
            rc = vt_err("--out %s: holds '%s', which is not an adapter file: choose a new or empty directory "
                        "(nothing was written)", out, e->d_name);
    closedir(d);
    return rc;
}

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
    TRY(check_out(vt_args_value(opts, "out"), vt_args_value(opts, "model"), vt_args_value(opts, "adapter")));
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

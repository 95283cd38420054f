/* `vlmtune fuse` — a model directory with an adapter folded into its weights (src/lora/fuse.h).
 *
 *   vlmtune fuse --model DIR --adapter DIR --out DIR [--dequantize] [--format mlx|hf]
 *
 * --out must be new, empty, or a model fuse wrote before (holding nothing else), and not an input. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "lora/fuse.h"

int cmd_fuse(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "base model directory", true},
                        {"adapter", "DIR", "adapter directory (mlx-vlm format, e.g. a training run)", true},
                        {"out", "DIR", "where to write the fused model (new, empty, or written by fuse before)", true},
                        {"dequantize", NULL, "write a quantized base as float (default: keep its quantization)", false},
                        {"format", "mlx|hf", "tensor names and layout: mlx-vlm's or Hugging Face's [mlx]", false},
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune fuse --model DIR --adapter DIR --out DIR");
    if (rc) return rc > 0 ? 0 : -1;
    const char *format = vt_args_value(opts, "format");
    vt_fuse_format fmt = VT_FUSE_MLX;
    if (format && !strcmp(format, "hf")) fmt = VT_FUSE_HF;
    else if (format && strcmp(format, "mlx")) return vt_err("--format: expected mlx or hf, got '%s'", format);
    const char *inputs[] = {vt_args_value(opts, "model"), vt_args_value(opts, "adapter")};
    TRY(vt_fuse_check_out(vt_args_value(opts, "out"), inputs, 2)); /* before the minutes of loading */
    vt_model *m = NULL;
    vt_lora *l = NULL;
    rc = vt_model_load(&m, inputs[0]) || vt_lora_load(&l, m, inputs[1]) ||
         vt_fuse(m, l, inputs[1], vt_args_value(opts, "out"), vt_args_flag(opts, "dequantize"), fmt);
    if (rc == 0)
        printf("fused %zu adapted layers into %s (%s layout%s)\n", vt_lora_count(l), vt_args_value(opts, "out"),
               fmt == VT_FUSE_HF ? "Hugging Face" : "mlx-vlm", vt_args_flag(opts, "dequantize") ? ", dequantized" : "");
    vt_lora_free(l);
    vt_model_free(m);
    return rc;
}

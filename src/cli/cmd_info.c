/* `vlmtune info --model DIR` — what a model directory holds. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/qwen3vl.h"

static const char *first_dtype(const vt_model *m) {
    return mx_dtype_name(mx_dtype_of(m->text.layers[0].in_norm.weight));
}

int cmd_info(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory (Hugging Face or mlx-vlm layout)", true}, {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune info --model DIR");
    if (rc) return rc > 0 ? 0 : -1;
    vt_model *m;
    TRY(vt_model_load(&m, vt_args_value(opts, "model")));
    const vt_model_config *c = &m->config;
    size_t total = m->n_params_vision + m->n_params_text;
    printf("model        %s\n", m->dir);
    printf("architecture Qwen3-VL (qwen3_vl), %s layout, %d file(s)\n", m->files.hf_layout ? "Hugging Face" : "mlx-vlm",
           m->files.n_files);
    printf("text         %d layers, hidden %d, heads %d/%d kv, head_dim %d, MLP %d, vocab %d, %s embeddings\n",
           c->layers, c->hidden, c->heads, c->kv_heads, c->head_dim, c->intermediate, c->vocab,
           m->text.tied ? "tied" : "untied");
    printf("vision       %d blocks, hidden %d, heads %d, MLP %d, patch %d×%d×%d, merge %d, DeepStack taps %d\n",
           c->v_depth, c->v_hidden, c->v_heads, c->v_intermediate, c->temporal_patch, c->patch, c->patch, c->merge,
           c->n_deepstack);
    double unit = total >= 1e9 ? 1e9 : 1e6;
    const char *u = total >= 1e9 ? "B" : "M";
    printf("parameters   %.3f %s total: text %.3f %s, vision %.3f %s (%zu)\n", total / unit, u, m->n_params_text / unit, u,
           m->n_params_vision / unit, u, total);
    printf("dtype        %s\n", first_dtype(m));
    if (c->q_bits) printf("quantization MLX affine, %d bits, group size %d\n", c->q_bits, c->q_group_size);
    else printf("quantization none\n");
    printf("memory       %.2f GB of weights; inference needs about that plus activations\n", m->bytes / 1e9);
    vt_model_free(m);
    return 0;
}

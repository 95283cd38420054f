/* profile_step.c — where a LoRA training step's time and memory go (a bench tool on the library's inside).
 *
 *   profile_step --model DIR --data FILE.jsonl [--batch B] [--image-pixels N] [--repeat K] [--checkpoint]
 *                [--compile] [--step-only]
 *
 * Takes the first B rows of FILE as one micro-batch (as `vlmtune train` builds it: a frozen tower's features
 * cached, LoRA rank 8 / alpha 16 on q, k, v, o, gate, up, down of every decoder layer) and measures, on MLX's
 * default device, each part alone: the whole step (forward, forward + backward, AdamW), one decoder layer
 * and its pieces at the step's shapes (attention, the seven projections, their LoRA adapters, the rest:
 * norms, rotary, SwiGLU, residuals), the loss head, and the host's batch assembly.  Each figure is the median
 * of K runs after one warm-up, evaluated and synchronised; memory is MLX's allocator peak above what was
 * active before the part ran.  --step-only measures the whole step's three rows alone.  Prints one table
 * (bench/README.md keeps them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/rows.h"
#include "eval/loss.h"
#include "lora/lora.h"
#include "model/layers.h"
#include "model/text.h"
#include "session/session.h"
#include "train/features.h"
#include "train/micro.h"
#include "train/optim.h"
#include "util/clock.h"

enum { MAX_REPEAT = 64 };

typedef struct {
    const vt_session *s;
    vt_lora *lora;
    vt_micro_batch *mb;
    bool checkpoint, compile;
    mx_array x, cos, sin;    /* one layer's input [B, T, H] and rotary tables at the batch's shapes */
} probe;

typedef int (*part_fn)(probe *p, mx_array *out, size_t cap, size_t *n);

typedef struct {
    const char *model, *data;
    int batch, repeat;
    long pixels;
    bool checkpoint, compile, step_only;
} options;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs fn repeat + 1 times (the first is a warm-up) and reports the median time and the peak memory. */
static int measure(const char *name, probe *p, part_fn fn, int repeat, double *ms_out) {
    double t[MAX_REPEAT];
    size_t active = 0, peak = 0, worst = 0;
    for (int i = 0; i <= repeat; i++) {
        mx_arena *scope = mx_scope_begin();
        mx_array out[256];
        size_t n = 0;
        mx_synchronize();
        mx_memory_active(&active);
        mx_memory_reset_peak();
        double t0 = vt_now();
        int rc = fn(p, out, 256, &n) || mx_eval(out, n) || mx_synchronize();
        double dt = vt_now() - t0;
        mx_memory_peak(&peak);
        mx_scope_end(scope);
        if (rc) return vt_err_context("%s", name);
        if (i > 0) t[i - 1] = dt * 1e3;
        if (peak > active && peak - active > worst) worst = peak - active;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    *ms_out = t[repeat / 2];
    printf("| %-44s | %10.2f | %10.1f |\n", name, *ms_out, (double)worst / 1e6);
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------------ the step ---- */

static int loss_cb(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    probe *p = ctx;
    vt_model_inputs mi = vt_micro_batch_inputs(p->mb, p->checkpoint, p->compile);
    vt_lora_bind(p->lora, in);
    int rc = vt_model_loss_sum(p->s->model, &mi, p->mb->loss_positions, p->mb->targets, &out[0]);
    vt_lora_bind(p->lora, NULL);
    *n_out = 1;
    return rc;
}

static int step_forward(probe *p, mx_array *out, size_t cap, size_t *n) {
    vt_model_inputs mi = vt_micro_batch_inputs(p->mb, false, p->compile);
    *n = 1;
    return vt_model_loss_sum(p->s->model, &mi, p->mb->loss_positions, p->mb->targets, &out[0]);
}

static int step_backward(probe *p, mx_array *out, size_t cap, size_t *n) {
    vt_params *params = vt_lora_params(p->lora);
    int argnums[4096];
    for (size_t i = 0; i < params->n; i++) argnums[i] = (int)i;
    mx_function *f;
    mx_array value;
    size_t nv;
    TRY(mx_function_new(&f, loss_cb, p));
    int rc = mx_value_and_grad(f, params->values, params->n, argnums, params->n, &value, 1, &nv, out + 1);
    mx_function_free(f);
    out[0] = value;
    *n = 1 + params->n;
    return rc;
}

static int step_update(probe *p, mx_array *out, size_t cap, size_t *n) {
    vt_params *params = vt_lora_params(p->lora);
    vt_adamw opt;
    vt_adamw_config c = vt_adamw_defaults();
    TRY(vt_adamw_init(&opt, &c, params));
    vt_params copy = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < params->n; i++) rc = vt_params_add(&copy, params->names[i], params->values[i]);
    if (rc == 0) rc = vt_adamw_update(&opt, &copy, params->values, 1e-4); /* the params as their own gradients */
    for (size_t i = 0; rc == 0 && i < copy.n; i++) rc = mx_ref(&out[(*n)++], copy.values[i]);
    vt_params_free(&copy);
    vt_adamw_free(&opt);
    return rc;
}

/* ------------------------------------------------------------ one layer ---- */

static const vt_text_layer *layer0(const probe *p) { return &p->s->model->text.layers[0]; }

static int layer_cb(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    probe *p = ctx;
    vt_text_ctx t = {.cos = p->cos, .sin = p->sin};
    mx_array y;
    vt_params *params = vt_lora_params(p->lora);
    vt_lora_bind(p->lora, in + 1);
    int rc = vt_text_layer_forward(&p->s->model->config, layer0(p), in[0], &t, &y) || mx_sum(&out[0], y, NULL, 0, false);
    vt_lora_bind(p->lora, NULL);
    (void)params;
    *n_out = 1;
    return rc;
}

/* Gradient of Σ layer(x) with respect to x and the adapters' arrays (of every layer: the others get zeros). */
static int layer_grad(probe *p, mx_array *out, size_t cap, size_t *n, bool adapters) {
    vt_params *params = vt_lora_params(p->lora);
    size_t np = params->n;
    mx_array in[4097];
    int argnums[4097];
    in[0] = p->x;
    for (size_t i = 0; i < np; i++) in[1 + i] = params->values[i];
    size_t na = adapters ? 1 + 14 : 1; /* x, then layer 0's seven adapters (A and B each) */
    for (size_t i = 0; i < na; i++) argnums[i] = (int)i;
    mx_function *f;
    mx_array value;
    size_t nv;
    TRY(mx_function_new(&f, layer_cb, p));
    int rc = mx_value_and_grad(f, in, 1 + np, argnums, na, &value, 1, &nv, out + 1);
    mx_function_free(f);
    out[0] = value;
    *n = 1 + na;
    return rc;
}

static int layer_forward(probe *p, mx_array *out, size_t cap, size_t *n) {
    vt_text_ctx t = {.cos = p->cos, .sin = p->sin};
    *n = 1;
    return vt_text_layer_forward(&p->s->model->config, layer0(p), p->x, &t, &out[0]);
}

static int layer_backward(probe *p, mx_array *out, size_t cap, size_t *n) { return layer_grad(p, out, cap, n, true); }

/* The same layer with its adapters unhooked: what LoRA costs is the difference. */
static int layer_backward_base(probe *p, mx_array *out, size_t cap, size_t *n) {
    vt_text_layer *l = (vt_text_layer *)layer0(p);
    vt_linear *lin[7] = {&l->q, &l->k, &l->v, &l->o, &l->gate, &l->up, &l->down};
    const vt_adapter_ops *ops[7];
    void *states[7];
    for (int i = 0; i < 7; i++) ops[i] = lin[i]->adapter_ops, states[i] = lin[i]->adapter, lin[i]->adapter_ops = NULL;
    int rc = layer_grad(p, out, cap, n, false);
    for (int i = 0; i < 7; i++) lin[i]->adapter_ops = ops[i], lin[i]->adapter = states[i];
    return rc;
}

/* Attention alone: q, k, v as the layer makes them, SDPA forward and backward. */
static int sdpa_cb(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    const vt_model_config *c = ctx;
    mx_array a;
    TRY(mx_sdpa(&a, in[0], in[1], in[2], 1.0f / sqrtf((float)c->head_dim), MX_MASK_CAUSAL, NULL));
    *n_out = 1;
    return mx_sum(&out[0], a, NULL, 0, false);
}

static int attention(probe *p, mx_array *out, size_t cap, size_t *n) {
    const vt_model_config *c = &p->s->model->config;
    int B = mx_dim(p->x, 0), T = mx_dim(p->x, 1);
    int sq[4] = {B, c->heads, T, c->head_dim}, skv[4] = {B, c->kv_heads, T, c->head_dim};
    mx_array in[3], key, value;
    mx_dtype dt = mx_dtype_of(p->x);
    TRY(mx_random_key(&key, 1));
    TRY(mx_random_normal(&in[0], sq, 4, dt, key));
    TRY(mx_random_normal(&in[1], skv, 4, dt, key));
    TRY(mx_random_normal(&in[2], skv, 4, dt, key));
    TRY(mx_eval(in, 3));
    mx_function *f;
    size_t nv;
    int argnums[3] = {0, 1, 2};
    TRY(mx_function_new(&f, sdpa_cb, (void *)c));
    int rc = mx_value_and_grad(f, in, 3, argnums, 3, &value, 1, &nv, out + 1);
    mx_function_free(f);
    out[0] = value;
    *n = 4;
    return rc;
}

/* The seven base projections: x W forward on inputs of their own widths, and the gradient to those inputs
 * (the frozen weights get none). */
static const vt_linear *const *projections_of(const vt_text_layer *l, const vt_linear *out[7]) {
    const vt_linear *all[7] = {&l->q, &l->k, &l->v, &l->o, &l->gate, &l->up, &l->down};
    memcpy(out, all, sizeof all);
    return out;
}

typedef struct {
    const vt_text_layer *layer;
    bool mlx_gradient; /* quantized: MLX's own gradient of the quantized product instead of vlmtune's */
} proj_ctx;

static int base_product(const vt_linear *lin, mx_array x, bool mlx_gradient, mx_array *y) {
    if (lin->scales && mlx_gradient)
        return mx_quantized_matmul(y, x, lin->weight, lin->scales, lin->biases, true, lin->group_size, lin->bits);
    if (lin->scales) return mx_quantized_linear(y, x, lin->weight, lin->scales, lin->biases, lin->group_size, lin->bits);
    mx_array wt;
    TRY(mx_transpose(&wt, lin->weight, NULL, 0));
    return mx_matmul(y, x, wt);
}

static int proj_cb(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    const proj_ctx *c = ctx;
    const vt_linear *lin[7];
    projections_of(c->layer, lin);
    mx_array total = NULL;
    for (int i = 0; i < 7; i++) {
        mx_array y, s;
        TRY(base_product(lin[i], in[i], c->mlx_gradient, &y));
        TRY(mx_sum(&s, y, NULL, 0, false));
        if (total) TRY(mx_add(&total, total, s));
        else total = s;
    }
    out[0] = total;
    *n_out = 1;
    return 0;
}

static int projections_with(probe *p, mx_array *out, size_t *n, bool mlx_gradient) {
    proj_ctx c = {layer0(p), mlx_gradient};
    const vt_linear *lin[7];
    projections_of(c.layer, lin);
    int B = mx_dim(p->x, 0), T = mx_dim(p->x, 1);
    mx_array in[7], key, value;
    int argnums[7];
    TRY(mx_random_key(&key, 2));
    for (int i = 0; i < 7; i++) {
        int shape[3] = {B, T, lin[i]->in};
        TRY(mx_random_normal(&in[i], shape, 3, mx_dtype_of(p->x), key));
        argnums[i] = i;
    }
    mx_function *f;
    size_t nv;
    TRY(mx_function_new(&f, proj_cb, &c));
    int rc = mx_value_and_grad(f, in, 7, argnums, 7, &value, 1, &nv, out + 1);
    mx_function_free(f);
    out[0] = value;
    *n = 8;
    return rc;
}

static int projections(probe *p, mx_array *out, size_t cap, size_t *n) {
    return projections_with(p, out, n, false);
}

/* A quantized base only: the same products differentiated by MLX itself (g @ dequant(W) as an untransposed
 * quantized product), to show what vlmtune's dequantize-first gradient buys. */
static int projections_mlx_gradient(probe *p, mx_array *out, size_t cap, size_t *n) {
    return projections_with(p, out, n, true);
}

/* The loss head: logits at the supervised rows, cross-entropy, and the gradient to the hidden rows. */
static int head_cb(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    probe *p = ctx;
    mx_array logits;
    TRY(vt_model_logits(p->s->model, in[0], &logits));
    *n_out = 1;
    return vt_cross_entropy_sum(&out[0], logits, p->mb->targets);
}

static int loss_head(probe *p, mx_array *out, size_t cap, size_t *n) {
    int S = mx_dim(p->mb->targets, 0), shape[2] = {S, p->s->model->config.hidden};
    mx_array rows, key, value;
    TRY(mx_random_key(&key, 3));
    TRY(mx_random_normal(&rows, shape, 2, mx_dtype_of(p->x), key));
    mx_function *f;
    size_t nv;
    int argnums[1] = {0};
    TRY(mx_function_new(&f, head_cb, p));
    int rc = mx_value_and_grad(f, &rows, 1, argnums, 1, &value, 1, &nv, out + 1);
    mx_function_free(f);
    out[0] = value;
    *n = 2;
    return rc;
}

/* ----------------------------------------------------------------- set-up ---- */

static int layer_inputs(probe *p) {
    const vt_model_config *c = &p->s->model->config;
    const vt_batch *b = &p->mb->batch;
    int shape[3] = {b->B, b->T, c->hidden};
    mx_array key;
    int32_t *pos = malloc(3 * (size_t)b->B * b->T * sizeof *pos), *deltas = malloc((size_t)b->B * sizeof *deltas);
    int rc = pos && deltas ? 0 : vt_err("out of memory");
    if (rc == 0)
        rc = vt_rope_positions(c, b->input_ids, b->attention_mask, b->B, b->T, b->grid_thw, (int)b->n_images, pos,
                               deltas) ||
             vt_mrope_tables(c, pos, b->B, b->T, &p->cos, &p->sin) || mx_random_key(&key, 0) ||
             mx_random_normal(&p->x, shape, 3, mx_dtype_of(p->s->model->text.norm.weight), key);
    free(pos), free(deltas);
    if (rc == 0) {
        mx_array all[3] = {p->x, p->cos, p->sin};
        rc = mx_eval(all, 3);
    }
    return rc;
}

static int run(const options *opt) {
    const char *model = opt->model, *data = opt->data;
    int batch = opt->batch, repeat = opt->repeat;
    long pixels = opt->pixels;
    bool checkpoint = opt->checkpoint, compile = opt->compile;
    vt_session s;
    vt_session_options so = {.model = model, .weights = true, .tokenizer = true, .image_min_pixels = pixels,
                             .image_max_pixels = pixels};
    TRY(vt_session_open(&s, &so));
    vt_rows rows = {0};
    vt_vision_cache vision = {0};
    vt_lora *lora = NULL;
    vt_micro_batch mb = {0};
    size_t samples[256];
    vt_micro plan = {.samples = samples, .n = (size_t)batch};
    vt_rows_options o = vt_rows_options_init(s.tok, &s.images, 0, false, stderr);
    o.path = data;
    vt_lora_config lc = {.kind = VT_ADAPTER_LORA, .rank = 8, .scale = 2.0};
    mx_arena *keep = mx_scope_begin();
    int rc = vt_rows_load(&rows, &o) || vt_vision_cache_build(&vision, s.model, &rows) ||
             vt_lora_attach(&lora, s.model, &lc, 1);
    if (rc == 0 && (size_t)batch > rows.n) rc = vt_err("%s has %zu rows, fewer than --batch %d", data, rows.n, batch);
    for (int i = 0; i < batch && i < 256; i++) samples[i] = (size_t)i;
    double t0 = vt_now();
    int pad = mx_default_device() == MX_GPU ? 128 : 1; /* as the trainer pads */
    if (rc == 0) rc = vt_micro_batch_make(&mb, &rows, &vision, &plan, s.pad_id, pad);
    double host_ms = (vt_now() - t0) * 1e3;
    probe p = {.s = &s, .lora = lora, .mb = &mb, .checkpoint = checkpoint, .compile = compile};
    if (rc == 0) rc = layer_inputs(&p);
    if (rc == 0) rc = vt_session_make_resident(&s); /* every weight read now: memory below is above them */
    if (rc == 0) {
        size_t weights = 0;
        mx_memory_active(&weights);
        printf("model %s: %d layers, hidden %d; batch %d × %d tokens (%zu supervised); %s; %s; device %s\n", model,
               s.model->config.layers, s.model->config.hidden, mb.batch.B, mb.batch.T, mb.batch.n_targets,
               checkpoint ? "gradient checkpointing" : "no checkpointing", compile ? "layers compiled" : "not compiled",
               mx_default_device() == MX_GPU ? "gpu" : "cpu");
        printf("active memory before the parts (weights, adapters, features, inputs): %.2f GB\n\n", weights / 1e9);
        printf("| part | ms (median of %d) | peak MB above active |\n|---|---|---|\n", repeat);
        printf("| %-44s | %10.2f | %10s |\n", "host: micro-batch assembly (once)", host_ms, "—");
    }
    double ms[16] = {0};
    struct { const char *name; part_fn fn; } parts[] = {
        {"step: forward (loss only)", step_forward},
        {"step: forward + backward", step_backward},
        {"step: AdamW update of every adapter", step_update},
        {"layer 0: forward", layer_forward},
        {"layer 0: forward + backward (x, adapters)", layer_backward},
        {"layer 0 without adapters: forward + backward", layer_backward_base},
        {"attention alone (SDPA causal): fwd + bwd", attention},
        {"7 base projections alone: fwd + bwd to x", projections},
        {"the same, quantized, MLX's own gradient", projections_mlx_gradient},
        {"loss head (logits at supervised rows + CE)", loss_head},
    };
    size_t n_parts = opt->step_only ? 3 : sizeof parts / sizeof *parts;
    for (size_t i = 0; rc == 0 && i < n_parts; i++)
        if (parts[i].fn != projections_mlx_gradient || layer0(&p)->q.scales)
            rc = measure(parts[i].name, &p, parts[i].fn, repeat, &ms[i]);
    if (rc == 0 && !opt->step_only) {
        int L = s.model->config.layers;
        double lora = ms[4] - ms[5], rest = ms[5] - ms[6] - ms[7];
        printf("\nderived, per layer: LoRA adapters %.2f ms (%.0f%% of the layer), the rest (norms, rotary, SwiGLU, "
               "residuals, layout) %.2f ms (%.0f%%); × %d layers = %.0f ms of the %.0f ms step\n",
               lora, 100 * lora / ms[4], rest, 100 * rest / ms[4], L, ms[4] * L, ms[1]);
        fflush(stdout);
    }
    vt_micro_batch_clear(&mb);
    mx_scope_end(keep);
    vt_lora_free(lora);
    vt_vision_cache_free(&vision);
    vt_rows_free(&rows);
    vt_session_close(&s);
    return rc;
}

int main(int argc, char **argv) {
    options o = {.batch = 1, .repeat = 5};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--model") && v) o.model = v, i++;
        else if (!strcmp(argv[i], "--data") && v) o.data = v, i++;
        else if (!strcmp(argv[i], "--batch") && v) o.batch = atoi(v), i++;
        else if (!strcmp(argv[i], "--image-pixels") && v) o.pixels = atol(v), i++;
        else if (!strcmp(argv[i], "--repeat") && v) o.repeat = atoi(v), i++;
        else if (!strcmp(argv[i], "--checkpoint")) o.checkpoint = true;
        else if (!strcmp(argv[i], "--compile")) o.compile = true;
        else if (!strcmp(argv[i], "--step-only")) o.step_only = true;
        else {
            fprintf(stderr, "usage: profile_step --model DIR --data FILE.jsonl [--batch B] [--image-pixels N] "
                            "[--repeat K] [--checkpoint] [--compile] [--step-only]\n");
            return 2;
        }
    }
    if (!o.model || !o.data || o.batch < 1 || o.batch > 256 || o.repeat < 1 || o.repeat > MAX_REPEAT) {
        fprintf(stderr, "profile_step: --model and --data are required; 1 <= batch <= 256, 1 <= repeat <= %d\n",
                MAX_REPEAT);
        return 2;
    }
    if (run(&o)) {
        fprintf(stderr, "profile_step: %s\n", vt_errmsg());
        return 1;
    }
    return 0;
}

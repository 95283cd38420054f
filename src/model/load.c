/* load.c — from a model directory to a vt_model, checking every tensor's name and shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"

typedef struct {
    vt_model *m;
    bool *used;      /* per tensor of m->files.tensors */
    char dir[4096];
} loader;

static long find(const loader *L, const char *name) {
    mx_tensors *t = L->m->files.tensors;
    for (size_t i = 0; i < mx_tensors_count(t); i++)
        if (!strcmp(mx_tensors_name(t, i), name)) return (long)i;
    return -1;
}

static void shape_text(char *buf, size_t cap, const int *shape, int ndim) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++) n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? ", " : "", shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* The tensor `name`, which must have `ndim` dims equal to `shape` (-1: any). */
static int get(loader *L, const char *name, int ndim, const int *shape, mx_array *out) {
    long i = find(L, name);
    if (i < 0) return vt_err("%s: tensor '%s' is missing", L->dir, name);
    mx_array a = mx_tensors_at(L->m->files.tensors, (size_t)i);
    bool ok = mx_ndim(a) == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = shape[d] < 0 || mx_dim(a, d) == shape[d];
    if (!ok) {
        char want[128], got[128];
        shape_text(want, sizeof want, shape, ndim);
        shape_text(got, sizeof got, mx_shape(a), mx_ndim(a));
        return vt_err("%s: tensor '%s' has shape %s, expected %s", L->dir, name, got, want);
    }
    L->used[i] = true;
    *out = a;
    return 0;
}

static int get_vec(loader *L, const char *name, int n, mx_array *out) { return get(L, name, 1, &n, out); }

static bool has(const loader *L, const char *name) { return find(L, name) >= 0; }

/* Packed width of a quantized matrix tells its bits; the scales' width its group size. */
static int quantized_params(loader *L, const char *prefix, int rows, int in, mx_array w, mx_array s, int *gs,
                            int *bits) {
    int packed = mx_dim(w, 1), groups = mx_dim(s, 1);
    if (mx_dtype_of(w) != MX_UINT32 || packed <= 0 || groups <= 0 || (packed * 32) % in || in % groups)
        return vt_err("%s: quantized tensor '%s.weight' [%d, %d] does not fit %d inputs", L->dir, prefix, rows, packed,
                      in);
    *bits = packed * 32 / in;
    *gs = in / groups;
    if (*bits != 2 && *bits != 3 && *bits != 4 && *bits != 5 && *bits != 6 && *bits != 8)
        return vt_err("%s: '%s' is quantized to %d bits, which MLX does not support", L->dir, prefix, *bits);
    return 0;
}

/* A weight matrix [rows, cols], dense or MLX-quantized (then with .scales and .biases). */
static int get_matrix(loader *L, const char *prefix, int rows, int cols, mx_array *w, mx_array *scales,
                      mx_array *biases, int *gs, int *bits) {
    char name[1024];
    snprintf(name, sizeof name, "%s.scales", prefix);
    *scales = *biases = NULL;
    *gs = *bits = 0;
    if (!has(L, name)) {
        snprintf(name, sizeof name, "%s.weight", prefix);
        int shape[2] = {rows, cols};
        return get(L, name, 2, shape, w);
    }
    int any[2] = {rows, -1};
    TRY(get(L, name, 2, any, scales));
    snprintf(name, sizeof name, "%s.biases", prefix);
    TRY(get(L, name, 2, mx_shape(*scales), biases));
    snprintf(name, sizeof name, "%s.weight", prefix);
    TRY(get(L, name, 2, any, w));
    return quantized_params(L, prefix, rows, cols, *w, *scales, gs, bits);
}

static int get_linear(loader *L, vt_linear *lin, const char *prefix, vt_linear_place place, int index, int in, int out,
                      bool bias) {
    *lin = (vt_linear){.place = place, .index = index, .in = in, .out = out};
    if (!(lin->name = strdup(prefix))) return vt_err("out of memory");
    const char *dot = strrchr(lin->name, '.');
    lin->leaf = dot ? dot + 1 : lin->name;
    TRY(get_matrix(L, prefix, out, in, &lin->weight, &lin->scales, &lin->biases, &lin->group_size, &lin->bits));
    char name[1024];
    snprintf(name, sizeof name, "%s.bias", prefix);
    if (bias) TRY(get_vec(L, name, out, &lin->bias));
    return 0;
}

static int get_norm(loader *L, vt_norm *n, const char *prefix, int dim, bool bias) {
    char name[1024];
    snprintf(name, sizeof name, "%s.weight", prefix);
    TRY(get_vec(L, name, dim, &n->weight));
    n->bias = NULL;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return bias ? get_vec(L, name, dim, &n->bias) : 0;
}

static int get_embedding(loader *L, vt_embedding *e, const char *prefix, int rows, int dim) {
    *e = (vt_embedding){.name = prefix, .rows = rows, .dim = dim};
    return get_matrix(L, prefix, rows, dim, &e->weight, &e->scales, &e->biases, &e->group_size, &e->bits);
}

/* ---------------------------------------------------------------- vision ---- */

/* Conv3d weight in either layout -> [hidden, C·T·P·P] with columns (c, t, y, x). */
static int load_patch_embed(loader *L, vt_vision *v, const vt_model_config *c) {
    const char *name = VT_PATCH_EMBED_WEIGHT;
    long i = find(L, name);
    if (i < 0) return vt_err("%s: tensor '%s' is missing", L->dir, name);
    mx_array w = mx_tensors_at(L->m->files.tensors, (size_t)i);
    int mlx_shape[5] = {c->v_hidden, c->temporal_patch, c->patch, c->patch, c->in_channels};
    int hf_shape[5] = {c->v_hidden, c->in_channels, c->temporal_patch, c->patch, c->patch};
    bool is_mlx = mx_ndim(w) == 5 && !memcmp(mx_shape(w), mlx_shape, sizeof mlx_shape);
    mx_array chw = w;
    if (is_mlx) {
        int perm[5] = {0, 4, 1, 2, 3};
        TRY(mx_transpose(&chw, w, perm, 5));
    } else {
        TRY(get(L, name, 5, hf_shape, &w));
    }
    L->used[i] = true;
    int flat[2] = {c->v_hidden, c->in_channels * c->temporal_patch * c->patch * c->patch};
    TRY(mx_reshape(&v->patch_weight, chw, flat, 2));
    return get_vec(L, "vision_tower.patch_embed.proj.bias", c->v_hidden, &v->patch_bias);
}

static int load_merger(loader *L, vt_merger *mg, const char *prefix, int index, const vt_model_config *c,
                       bool postshuffle) {
    int wide = c->v_hidden * c->merge * c->merge;
    char name[1024];
    mg->postshuffle_norm = postshuffle;
    snprintf(name, sizeof name, "%s.norm", prefix);
    TRY(get_norm(L, &mg->norm, name, postshuffle ? wide : c->v_hidden, true));
    snprintf(name, sizeof name, "%s.linear_fc1", prefix);
    TRY(get_linear(L, &mg->fc1, name, VT_IN_MERGER, index, wide, wide, true));
    snprintf(name, sizeof name, "%s.linear_fc2", prefix);
    return get_linear(L, &mg->fc2, name, VT_IN_MERGER, index, wide, c->v_out, true);
}

static int load_vision(loader *L, vt_vision *v, const vt_model_config *c) {
    TRY(load_patch_embed(L, v, c));
    TRY(get_embedding(L, &v->pos_embed, "vision_tower.pos_embed", c->num_pos_embed, c->v_hidden));
    for (v->pos_side = 1; v->pos_side * v->pos_side < c->num_pos_embed; v->pos_side++) {
    }
    if (!(v->blocks = calloc((size_t)c->v_depth, sizeof *v->blocks))) return vt_err("out of memory");
    int D = c->v_hidden;
    for (int i = 0; i < c->v_depth; i++) {
        vt_vision_block *b = &v->blocks[i];
        char p[1024];
        snprintf(p, sizeof p, "vision_tower.blocks.%d.norm1", i);
        TRY(get_norm(L, &b->norm1, p, D, true));
        snprintf(p, sizeof p, "vision_tower.blocks.%d.norm2", i);
        TRY(get_norm(L, &b->norm2, p, D, true));
        snprintf(p, sizeof p, "vision_tower.blocks.%d.attn.qkv", i);
        TRY(get_linear(L, &b->qkv, p, VT_IN_VISION_BLOCK, i, D, 3 * D, true));
        snprintf(p, sizeof p, "vision_tower.blocks.%d.attn.proj", i);
        TRY(get_linear(L, &b->proj, p, VT_IN_VISION_BLOCK, i, D, D, true));
        snprintf(p, sizeof p, "vision_tower.blocks.%d.mlp.linear_fc1", i);
        TRY(get_linear(L, &b->fc1, p, VT_IN_VISION_BLOCK, i, D, c->v_intermediate, true));
        snprintf(p, sizeof p, "vision_tower.blocks.%d.mlp.linear_fc2", i);
        TRY(get_linear(L, &b->fc2, p, VT_IN_VISION_BLOCK, i, c->v_intermediate, D, true));
    }
    TRY(load_merger(L, &v->merger, "vision_tower.merger", 0, c, false));
    for (int k = 0; k < c->n_deepstack; k++) {
        char p[256];
        snprintf(p, sizeof p, "vision_tower.deepstack_merger_list.%d", k);
        TRY(load_merger(L, &v->deepstack[k], p, 1 + k, c, true));
    }
    return 0;
}

/* ------------------------------------------------------------------ text ---- */

static int load_text(loader *L, vt_text *t, const vt_model_config *c) {
    TRY(get_embedding(L, &t->embed, "language_model.model.embed_tokens", c->vocab, c->hidden));
    if (!(t->layers = calloc((size_t)c->layers, sizeof *t->layers))) return vt_err("out of memory");
    int H = c->hidden, hd = c->head_dim;
    for (int i = 0; i < c->layers; i++) {
        vt_text_layer *l = &t->layers[i];
        l->config = c;
        l->index = i;
        char p[1024];
#define PFX(fmt) (snprintf(p, sizeof p, "language_model.model.layers.%d." fmt, i), p)
        TRY(get_norm(L, &l->in_norm, PFX("input_layernorm"), H, false));
        TRY(get_norm(L, &l->post_norm, PFX("post_attention_layernorm"), H, false));
        TRY(get_norm(L, &l->q_norm, PFX("self_attn.q_norm"), hd, false));
        TRY(get_norm(L, &l->k_norm, PFX("self_attn.k_norm"), hd, false));
        TRY(get_linear(L, &l->q, PFX("self_attn.q_proj"), VT_IN_DECODER, i, H, c->heads * hd, false));
        TRY(get_linear(L, &l->k, PFX("self_attn.k_proj"), VT_IN_DECODER, i, H, c->kv_heads * hd, false));
        TRY(get_linear(L, &l->v, PFX("self_attn.v_proj"), VT_IN_DECODER, i, H, c->kv_heads * hd, false));
        TRY(get_linear(L, &l->o, PFX("self_attn.o_proj"), VT_IN_DECODER, i, c->heads * hd, H, false));
        TRY(get_linear(L, &l->gate, PFX("mlp.gate_proj"), VT_IN_DECODER, i, H, c->intermediate, false));
        TRY(get_linear(L, &l->up, PFX("mlp.up_proj"), VT_IN_DECODER, i, H, c->intermediate, false));
        TRY(get_linear(L, &l->down, PFX("mlp.down_proj"), VT_IN_DECODER, i, c->intermediate, H, false));
#undef PFX
    }
    TRY(get_norm(L, &t->norm, "language_model.model.norm", H, false));
    /* transformers 5 may save an lm_head even for a tied model: use it whenever it is there */
    t->tied = !has(L, "language_model.lm_head.weight");
    if (t->tied && !c->tie_embeddings)
        return vt_err("%s: tensor 'language_model.lm_head.weight' is missing (config.json says the embeddings are "
                      "not tied)",
                      L->dir);
    return t->tied ? 0 : get_linear(L, &t->lm_head, "language_model.lm_head", VT_IN_DECODER, c->layers, H, c->vocab, false);
}

/* --------------------------------------------------------------- counting ---- */

static size_t linear_params(const vt_linear *l) { return (size_t)l->in * l->out + (l->bias ? (size_t)l->out : 0); }

static void count_params(vt_model *m) {
    const vt_model_config *c = &m->config;
    size_t v = (size_t)mx_size(m->vision.patch_weight) + (size_t)c->v_hidden +
               (size_t)c->num_pos_embed * c->v_hidden;
    for (int i = 0; i < c->v_depth; i++) {
        const vt_vision_block *b = &m->vision.blocks[i];
        v += 4 * (size_t)c->v_hidden + linear_params(&b->qkv) + linear_params(&b->proj) + linear_params(&b->fc1) +
             linear_params(&b->fc2);
    }
    for (int k = -1; k < c->n_deepstack; k++) {
        const vt_merger *mg = k < 0 ? &m->vision.merger : &m->vision.deepstack[k];
        v += 2 * mx_size(mg->norm.weight) + linear_params(&mg->fc1) + linear_params(&mg->fc2);
    }
    size_t t = (size_t)c->vocab * c->hidden + (size_t)c->hidden;
    for (int i = 0; i < c->layers; i++) {
        const vt_text_layer *l = &m->text.layers[i];
        t += 2 * (size_t)c->hidden + 2 * (size_t)c->head_dim + linear_params(&l->q) + linear_params(&l->k) +
             linear_params(&l->v) + linear_params(&l->o) + linear_params(&l->gate) + linear_params(&l->up) +
             linear_params(&l->down);
    }
    if (!m->text.tied) t += linear_params(&m->text.lm_head);
    m->n_params_vision = v;
    m->n_params_text = t;
    m->bytes = vt_model_weight_bytes(m);
}

/* ------------------------------------------------------------------ model ---- */

static int check_all_used(const loader *L) {
    mx_tensors *t = L->m->files.tensors;
    for (size_t i = 0; i < mx_tensors_count(t); i++)
        if (!L->used[i]) return vt_err("%s: unknown tensor '%s' (not part of a Qwen3-VL model with this config.json)",
                                       L->dir, mx_tensors_name(t, i));
    return 0;
}

int vt_model_load(vt_model **out, const char *dir) {
    vt_model *m = calloc(1, sizeof *m);
    if (!m) return vt_err("out of memory");
    loader L = {.m = m};
    snprintf(L.dir, sizeof L.dir, "%s", dir);
    m->dir = strdup(dir);
    int rc = vt_model_config_load(&m->config, dir);
    if (rc == 0) rc = vt_model_files_load(&m->files, dir);
    if (rc == 0 && !(L.used = calloc(mx_tensors_count(m->files.tensors) + 1, sizeof(bool)))) rc = vt_err("out of memory");
    if (rc == 0 && !(m->arena = mx_arena_new())) rc = vt_err("out of memory");
    if (rc == 0) {
        mx_arena_push(m->arena);
        rc = load_vision(&L, &m->vision, &m->config);
        if (rc == 0) rc = load_text(&L, &m->text, &m->config);
        mx_arena_pop();
    }
    if (rc == 0) rc = check_all_used(&L);
    free(L.used);
    if (rc) {
        vt_model_free(m);
        return -1;
    }
    count_params(m);
    *out = m;
    return 0;
}

static void free_linear(vt_linear *l) { free((char *)l->name); }

void vt_model_free(vt_model *m) {
    if (!m) return;
    vt_checkpoint_release(); /* recomputation contexts may point into this model's blocks */
    const vt_model_config *c = &m->config;
    if (m->vision.blocks)
        for (int i = 0; i < c->v_depth; i++) {
            vt_vision_block *b = &m->vision.blocks[i];
            free_linear(&b->qkv), free_linear(&b->proj), free_linear(&b->fc1), free_linear(&b->fc2);
        }
    for (int k = -1; k < c->n_deepstack; k++) {
        vt_merger *mg = k < 0 ? &m->vision.merger : &m->vision.deepstack[k];
        free_linear(&mg->fc1), free_linear(&mg->fc2);
    }
    if (m->text.layers)
        for (int i = 0; i < c->layers; i++) {
            vt_text_layer *l = &m->text.layers[i];
            vt_linear *all[] = {&l->q, &l->k, &l->v, &l->o, &l->gate, &l->up, &l->down};
            for (size_t k = 0; k < sizeof all / sizeof *all; k++) free_linear(all[k]);
            vt_block_cache_free(l->compiled);
        }
    free_linear(&m->text.lm_head);
    free(m->vision.blocks);
    free(m->text.layers);
    mx_arena_free(m->arena);
    vt_model_files_free(&m->files);
    free(m->dir);
    free(m);
}

int vt_model_each_linear(vt_model *m, int (*fn)(void *ctx, vt_linear *lin), void *ctx) {
    const vt_model_config *c = &m->config;
    for (int i = 0; i < c->v_depth; i++) {
        vt_vision_block *b = &m->vision.blocks[i];
        vt_linear *all[] = {&b->qkv, &b->proj, &b->fc1, &b->fc2};
        for (size_t k = 0; k < 4; k++) TRY(fn(ctx, all[k]));
    }
    for (int k = -1; k < c->n_deepstack; k++) {
        vt_merger *mg = k < 0 ? &m->vision.merger : &m->vision.deepstack[k];
        TRY(fn(ctx, &mg->fc1));
        TRY(fn(ctx, &mg->fc2));
    }
    for (int i = 0; i < c->layers; i++) {
        vt_text_layer *l = &m->text.layers[i];
        vt_linear *all[] = {&l->q, &l->k, &l->v, &l->o, &l->gate, &l->up, &l->down};
        for (size_t k = 0; k < sizeof all / sizeof *all; k++) TRY(fn(ctx, all[k]));
    }
    return 0;
}

int vt_model_release_vision(vt_model *m) {
    if (m->vision_released) return 0;
    const vt_model_config *c = &m->config;
    vt_vision *v = &m->vision;
    mx_free(v->patch_weight); /* derived at load, in the model's arena */
    v->patch_weight = v->patch_bias = NULL;
    v->pos_embed.weight = v->pos_embed.scales = v->pos_embed.biases = NULL;
    for (int i = 0; i < c->v_depth; i++) {
        vt_vision_block *b = &v->blocks[i];
        vt_linear *all[] = {&b->qkv, &b->proj, &b->fc1, &b->fc2};
        b->norm1 = b->norm2 = (vt_norm){0};
        for (int k = 0; k < 4; k++) all[k]->weight = all[k]->bias = all[k]->scales = all[k]->biases = NULL;
    }
    for (int k = -1; k < c->n_deepstack; k++) {
        vt_merger *mg = k < 0 ? &v->merger : &v->deepstack[k];
        mg->norm = (vt_norm){0};
        mg->fc1.weight = mg->fc1.bias = mg->fc1.scales = mg->fc1.biases = NULL;
        mg->fc2.weight = mg->fc2.bias = mg->fc2.scales = mg->fc2.biases = NULL;
    }
    m->vision_released = true;
    return vt_model_files_drop_vision(&m->files);
}

size_t vt_model_weight_bytes(const vt_model *m) {
    size_t bytes = 0;
    for (size_t i = 0; i < mx_tensors_count(m->files.tensors); i++) bytes += mx_nbytes(mx_tensors_at(m->files.tensors, i));
    return bytes;
}

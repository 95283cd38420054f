/* qwen3vl.c — the whole forward pass: token embeddings, image features in place of
 * the <|image_pad|> tokens, the decoder with DeepStack injection, and the output head. */
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"
#include "model/text.h"

void vt_model_outputs_clear(vt_model_outputs *out) {
    free(out->positions);
    free(out->rope_deltas);
    *out = (vt_model_outputs){0};
}

static int check_inputs(const vt_model *m, const vt_model_inputs *in, int *n_image_tokens) {
    const vt_model_config *c = &m->config;
    if (in->B < 1 || in->T < 1) return vt_err("inputs: need at least one token (B %d, T %d)", in->B, in->T);
    int n = 0;
    for (size_t i = 0; i < (size_t)in->B * in->T; i++) {
        int32_t id = in->input_ids[i];
        if (id < 0 || id >= c->vocab)
            return vt_err("inputs: token id %d at row %zu, column %zu is outside the vocabulary [0, %d)", id,
                          i / (size_t)in->T, i % (size_t)in->T, c->vocab);
        n += id == c->image_token_id && (!in->attention_mask || in->attention_mask[i]);
    }
    if (n > 0 && !in->pixel_values && !in->vision)
        return vt_err("inputs: %d <|image_pad|> tokens but no pixel_values", n);
    if (in->vision && in->n_images == 0) return vt_err("inputs: vision features without image_grid_thw");
    if (in->pixel_values && in->n_images == 0) return vt_err("inputs: pixel_values without image_grid_thw");
    *n_image_tokens = n;
    return 0;
}

/* Where each flat position finds its row, built once per forward:
 *   place[i]: in [h rows ; image features]: i itself, or B·T + k at the k-th image token;
 *   add[i]:   in [a zero row ; DeepStack features]: 0, or 1 + k at the k-th image token. */
typedef struct {
    mx_array place, add;
} image_rows;

static int image_row_index(const vt_model *m, const vt_model_inputs *in, image_rows *out) {
    size_t n = (size_t)in->B * in->T;
    int32_t *place = malloc(2 * n * sizeof *place), *add = place + n;
    if (!place) return vt_err("out of memory");
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool image = in->input_ids[i] == m->config.image_token_id && (!in->attention_mask || in->attention_mask[i]);
        place[i] = image ? (int32_t)n + k : (int32_t)i;
        add[i] = image ? 1 + k : 0;
        k += image;
    }
    int shape[1] = {(int)n};
    int rc = mx_from_data(&out->place, place, shape, 1, MX_INT32) || mx_from_data(&out->add, add, shape, 1, MX_INT32);
    free(place);
    return rc;
}

/* h with its image-token rows replaced by `features` [image tokens, hidden]. */
static int place_features(const vt_model *m, const vt_model_inputs *in, const image_rows *rows, mx_array h,
                          mx_array features, mx_array *out) {
    int BT = in->B * in->T, H = m->config.hidden;
    mx_array flat, feats, both[2], all;
    TRY(vt_reshape(&flat, h, 2, BT, H));
    TRY(mx_astype(&feats, features, mx_dtype_of(h)));
    both[0] = flat, both[1] = feats;
    TRY(mx_concatenate(&all, both, 2, 0));
    TRY(mx_take(&all, all, rows->place, 0));
    return vt_reshape(out, all, 3, in->B, in->T, H);
}

/* h plus `features` at the image tokens (DeepStack). */
static int add_features(const vt_model *m, const vt_model_inputs *in, const image_rows *rows, mx_array h,
                        mx_array features, mx_array *out) {
    int H = m->config.hidden, one[2] = {1, H};
    mx_array zero, feats, both[2], all;
    TRY(mx_astype(&feats, features, mx_dtype_of(h)));
    TRY(mx_zeros(&zero, one, 2, mx_dtype_of(h)));
    both[0] = zero, both[1] = feats;
    TRY(mx_concatenate(&all, both, 2, 0));
    TRY(mx_take(&all, all, rows->add, 0));
    TRY(vt_reshape(&all, all, 3, in->B, in->T, H));
    return mx_add(out, h, all);
}

static int embed(const vt_model *m, const vt_model_inputs *in, int n_image_tokens, const image_rows *rows,
                 vt_model_outputs *out, mx_array *h) {
    int shape[2] = {in->B, in->T};
    mx_array ids;
    TRY(mx_from_data(&ids, in->input_ids, shape, 2, MX_INT32));
    TRY(vt_embedding_lookup(&m->text.embed, ids, h));
    vt_vision_features *v = &out->vision;
    if (in->vision) {
        if (in->vision->n_deepstack != m->config.n_deepstack)
            return vt_err("inputs: %d DeepStack features given, the model has %d", in->vision->n_deepstack,
                          m->config.n_deepstack);
        v->n_deepstack = in->vision->n_deepstack;
        TRY(mx_ref(&v->merged, in->vision->merged));
        for (int k = 0; k < v->n_deepstack; k++) TRY(mx_ref(&v->deepstack[k], in->vision->deepstack[k]));
    } else if (in->pixel_values) {
        TRY(vt_vision_forward(m, in->pixel_values, in->grid_thw, in->n_images, in->checkpoint, v));
    } else {
        return 0;
    }
    if (mx_dim(v->merged, 0) != n_image_tokens)
        return vt_err("inputs: the images give %d features but input_ids hold %d <|image_pad|> tokens",
                      mx_dim(v->merged, 0), n_image_tokens);
    return place_features(m, in, rows, *h, v->merged, h);
}

/* ----------------------------------------------------------- positions ---- */

/* Packed rows: every sample's MRoPE positions start from 0, as if it were alone.  A sample's images are
 * the next ones in grid_thw, as many as it has <|image_pad|> runs. */
static int packed_positions(const vt_model *m, const vt_model_inputs *in, int32_t *pos) {
    const vt_model_config *c = &m->config;
    size_t BT = (size_t)in->B * in->T;
    int image = 0;
    for (int b = 0; b < in->B; b++)
        for (int t = 0; t < in->T;) {
            size_t row = (size_t)b * in->T;
            int32_t seg = in->segments[row + t];
            int end = t + 1;
            while (end < in->T && in->segments[row + end] == seg) end++;
            int n = end - t, images = 0;
            const int32_t *ids = in->input_ids + row + t;
            for (int k = 0; k < n; k++) images += ids[k] == c->image_token_id && (k == 0 || ids[k - 1] != c->image_token_id);
            if (seg == 0) images = 0; /* padding: positions of its own, no images */
            if (image + images > in->n_images)
                return vt_err("inputs: packed row %d holds more images than image_grid_thw lists", b);
            int32_t *p = malloc(3 * (size_t)n * sizeof *p), delta;
            if (!p) return vt_err("out of memory");
            int rc = vt_rope_positions(c, ids, NULL, 1, n, in->grid_thw + 3 * image, images, p, &delta);
            for (int axis = 0; rc == 0 && axis < 3; axis++)
                memcpy(pos + axis * BT + row + t, p + (size_t)axis * n, (size_t)n * sizeof *p);
            free(p);
            TRY(rc);
            image += images, t = end;
        }
    return 0;
}

static int positions(const vt_model *m, const vt_model_inputs *in, vt_model_outputs *out) {
    size_t BT = (size_t)in->B * in->T;
    out->positions = malloc(3 * BT * sizeof(int32_t));
    out->rope_deltas = calloc((size_t)in->B, sizeof(int32_t));
    if (!out->positions || !out->rope_deltas) return vt_err("out of memory");
    if (in->segments) return packed_positions(m, in, out->positions);
    bool images = in->pixel_values || in->vision;
    return vt_rope_positions(&m->config, in->input_ids, in->attention_mask, in->B, in->T, in->grid_thw,
                             images ? in->n_images : 0, out->positions, out->rope_deltas);
}

/* The rotary tables in the activations' type once per pass, as every layer would cast them (the same values):
 * four casts fewer per layer, 144 kernels per generated token at 4B size. */
static int rotary_in(mx_dtype dt, vt_text_ctx *ctx) {
    TRY(mx_astype(&ctx->cos, ctx->cos, dt));
    return mx_astype(&ctx->sin, ctx->sin, dt);
}

/* ----------------------------------------------- checkpointed, compiled ---- */

/* What a checkpointed or compiled layer needs besides its arrays: the layer, and packed rows' slices (copied:
 * a recomputation runs after the forward pass has returned). */
typedef struct {
    const vt_text_layer *layer;
    int B, slice_max;          /* slice_max 0: no slices */
    int32_t slices[];          /* counts [B], then starts [B·slice_max] */
} layer_ctx;

/* A decoder layer as a function of [x, cos, sin, mask?]. */
static int layer_fn(const void *ctx, const mx_array *in, size_t n_in, mx_array *out) {
    const layer_ctx *c = ctx;
    const vt_text_layer *l = c->layer;
    /* only x carries a gradient: MLX's fused attention has no VJP to its mask, and the rotary tables need none */
    vt_text_ctx t = {.slice_max = c->slice_max};
    if (c->slice_max) t.slice_counts = c->slices, t.slice_starts = c->slices + c->B;
    TRY(mx_stop_gradient(&t.cos, in[1]));
    TRY(mx_stop_gradient(&t.sin, in[2]));
    if (n_in > 3) TRY(mx_stop_gradient(&t.mask, in[3]));
    return vt_text_layer_forward(l->config, l, in[0], &t, out);
}

/* Layer i, checkpointed and/or compiled as the inputs ask.  Packed rows are not compiled: their slices are
 * host data a trace would keep. */
static int layer_call(const vt_model *m, int i, const vt_model_inputs *in, mx_array x, const vt_text_ctx *ctx,
                      mx_array *out) {
    vt_text_layer *l = &((vt_model *)m)->text.layers[i]; /* only its cache and adapter bindings change */
    bool compile = in->compile && !ctx->cache && !ctx->slice_counts;
    if (!in->checkpoint && !compile) return vt_text_layer_forward(&m->config, l, x, ctx, out);
    vt_linear *linears[7] = {&l->q, &l->k, &l->v, &l->o, &l->gate, &l->up, &l->down};
    mx_array args[4] = {x, ctx->cos, ctx->sin, ctx->mask};
    int B = mx_dim(x, 0), n_slices = ctx->slice_counts ? B + B * ctx->slice_max : 0;
    size_t size = sizeof(layer_ctx) + (size_t)n_slices * sizeof(int32_t);
    layer_ctx *c = malloc(size);
    if (!c) return vt_err("out of memory");
    *c = (layer_ctx){.layer = l, .B = B, .slice_max = ctx->slice_counts ? ctx->slice_max : 0};
    if (n_slices) {
        memcpy(c->slices, ctx->slice_counts, (size_t)B * sizeof(int32_t));
        memcpy(c->slices + B, ctx->slice_starts, (size_t)B * ctx->slice_max * sizeof(int32_t));
    }
    int rc = vt_block_call(layer_fn, c, size, linears, 7, args, ctx->mask ? 4 : 3, in->checkpoint,
                           compile ? &l->compiled : NULL, out);
    free(c);
    return rc;
}

/* ------------------------------------------------------------- forward ---- */

int vt_model_forward(const vt_model *m, const vt_model_inputs *in, vt_model_outputs *out) {
    const vt_model_config *c = &m->config;
    *out = (vt_model_outputs){0};
    int n_image_tokens = 0;
    TRY(check_inputs(m, in, &n_image_tokens));
    /* the contexts recomputed blocks (and the loss head's chunks) called back with: the last step's backward
     * pass, built by now */
    vt_checkpoint_release();
    TRY(positions(m, in, out));
    image_rows rows = {0};
    if (in->pixel_values || in->vision) TRY(image_row_index(m, in, &rows));
    mx_array h;
    TRY(embed(m, in, n_image_tokens, &rows, out, &h));
    vt_text_ctx ctx = {.cache = in->cache};
    if (in->cache && (in->B != 1 || in->cache->length != 0))
        return vt_err("inputs: a prefill takes one row and an empty cache");
    TRY(vt_mrope_tables(c, out->positions, in->B, in->T, &ctx.cos, &ctx.sin));
    TRY(rotary_in(mx_dtype_of(h), &ctx));
    int32_t *starts = NULL, *counts = NULL;
    if (in->segments) TRY(vt_packed_slices(in->segments, in->B, in->T, &starts, &counts, &ctx.slice_max));
    else TRY(vt_attention_mask(in->attention_mask, in->B, in->T, &ctx.mask));
    ctx.slice_starts = starts, ctx.slice_counts = counts;
    const vt_vision_features *v = &out->vision;
    int rc = 0;
    for (int i = 0; rc == 0 && i < c->layers; i++) {
        /* Each layer's intermediate handles go when it is done: the graph alone keeps what the output needs,
         * so a forward pass without gradients frees each layer's activations as it evaluates (every handle
         * kept to the end held all of them: 22 GB for one 1024-token row of the 4B model, uncompiled). */
        mx_arena *outer = mx_arena_current(), *layer = mx_scope_begin();
        mx_array next;
        rc = layer_call(m, i, in, h, &ctx, &next);
        if (rc == 0 && v->merged && i < v->n_deepstack) rc = add_features(m, in, &rows, next, v->deepstack[i], &next);
        if (rc == 0) mx_keep(next, outer);
        mx_scope_end(layer);
        if (rc == 0) h = next;
    }
    free(starts), free(counts);
    TRY(rc);
    if (in->cache) in->cache->length = in->T, in->cache->rope_delta = out->rope_deltas[0];
    return mx_rms_norm(&out->hidden, h, m->text.norm.weight, (float)c->rms_eps);
}

int vt_model_decode(const vt_model *m, vt_kv_cache *cache, int32_t token, mx_array *hidden) {
    if (token < 0 || token >= m->config.vocab)
        return vt_err("decode: token id %d is outside the vocabulary", token);
    mx_array ids;
    TRY(mx_from_data(&ids, &token, (int[]){1, 1}, 2, MX_INT32));
    return vt_model_extend(m, cache, ids, hidden);
}

int vt_model_extend(const vt_model *m, vt_kv_cache *cache, mx_array ids, mx_array *hidden) {
    const vt_model_config *c = &m->config;
    if (cache->length == 0) return vt_err("decode: the cache is empty (prefill the prompt first)");
    if (mx_ndim(ids) != 2 || mx_dim(ids, 0) != 1 || mx_dtype_of(ids) != MX_INT32)
        return vt_err("decode: ids must be [1, T] int32");
    int T = mx_dim(ids, 1);
    int32_t *pos = malloc(3 * (size_t)T * sizeof *pos);
    if (!pos) return vt_err("out of memory");
    for (int t = 0; t < T; t++) pos[t] = pos[T + t] = pos[2 * T + t] = cache->length + cache->rope_delta + t;
    mx_array h;
    vt_text_ctx ctx = {.cache = cache};
    int rc = vt_mrope_tables(c, pos, 1, T, &ctx.cos, &ctx.sin);
    free(pos);
    TRY(rc);
    TRY(vt_embedding_lookup(&m->text.embed, ids, &h));
    TRY(rotary_in(mx_dtype_of(h), &ctx));
    for (int i = 0; i < c->layers; i++) TRY(vt_text_layer_forward(c, &m->text.layers[i], h, &ctx, &h));
    cache->length += T;
    return mx_rms_norm(hidden, h, m->text.norm.weight, (float)c->rms_eps);
}

int vt_model_logits(const vt_model *m, mx_array rows, mx_array *logits) {
    mx_array l;
    if (m->text.tied) TRY(vt_embedding_as_linear(&m->text.embed, rows, &l));
    else TRY(vt_linear_forward(&m->text.lm_head, rows, &l));
    return mx_astype(logits, l, MX_FLOAT32);
}

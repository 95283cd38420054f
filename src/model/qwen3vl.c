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
    if (n > 0 && !in->pixel_values && !in->vision_features)
        return vt_err("inputs: %d <|image_pad|> tokens but no pixel_values", n);
    if (in->vision_features && !in->positions && in->n_images == 0)
        return vt_err("inputs: vision_features without image_grid_thw");
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
    if (in->vision_features) {
        out->n_deepstack = m->config.n_deepstack;
        TRY(mx_ref(&out->vision, in->vision_features));
        for (int k = 0; k < out->n_deepstack; k++) {
            if (!in->deepstack_features[k]) return vt_err("inputs: vision_features without DeepStack feature %d", k);
            TRY(mx_ref(&out->deepstack[k], in->deepstack_features[k]));
        }
    } else if (in->pixel_values) {
        TRY(vt_vision_forward(m, in->pixel_values, in->grid_thw, in->n_images, in->checkpoint, &out->vision, out->deepstack));
        out->n_deepstack = m->config.n_deepstack;
    } else {
        return 0;
    }
    if (mx_dim(out->vision, 0) != n_image_tokens)
        return vt_err("inputs: the images give %d features but input_ids hold %d <|image_pad|> tokens",
                      mx_dim(out->vision, 0), n_image_tokens);
    return place_features(m, in, rows, *h, out->vision, h);
}

/* ------------------------------------------------ gradient checkpointing ---- */

/* A decoder layer as a function of [x, cos, sin, adapter arrays..., mask?].  The adapter arrays
 * must be explicit inputs: MLX's checkpoint recomputes the layer from its inputs only, so
 * arrays the layer merely captured would get no gradient. */
static vt_linear *const *layer_linears(const vt_text_layer *l, vt_linear *all[7]) {
    vt_text_layer *w = (vt_text_layer *)l; /* the hooks' slots are swapped, the weights never touched */
    vt_linear *list[7] = {&w->q, &w->k, &w->v, &w->o, &w->gate, &w->up, &w->down};
    memcpy(all, list, sizeof list);
    return all;
}

static int layer_fn(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    (void)cap;
    const vt_text_layer *l = ctx;
    vt_linear *all[7];
    layer_linears(l, all);
    mx_array saved[7 * VT_MAX_ADAPTER_SLOTS];
    size_t k = 3, s = 0;
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < all[i]->n_adapter_slots; j++) {
            saved[s++] = *all[i]->adapter_slots[j];
            *all[i]->adapter_slots[j] = in[k++];
        }
    vt_text_ctx t = {.cos = in[1], .sin = in[2], .mask = k < n_in ? in[k] : NULL};
    int rc = vt_text_layer_forward(l->config, l, in[0], &t, &out[0]);
    s = 0;
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < all[i]->n_adapter_slots; j++) *all[i]->adapter_slots[j] = saved[s++];
    *n_out = 1;
    return rc;
}

static int checkpointed_layer(const vt_text_layer *l, mx_array x, const vt_text_ctx *ctx, mx_array *out) {
    vt_linear *all[7];
    layer_linears(l, all);
    mx_array in[4 + 7 * VT_MAX_ADAPTER_SLOTS];
    size_t n = 0;
    in[n++] = x, in[n++] = ctx->cos, in[n++] = ctx->sin;
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < all[i]->n_adapter_slots; j++) in[n++] = *all[i]->adapter_slots[j];
    if (ctx->mask) in[n++] = ctx->mask;
    mx_function *fn = NULL, *ck = NULL;
    size_t n_out;
    int rc = mx_function_new(&fn, layer_fn, (void *)l) || mx_function_checkpoint(&ck, fn) ||
             mx_function_call(ck, in, n, out, 1, &n_out);
    mx_function_free(ck);
    mx_function_free(fn);
    return rc;
}

/* ------------------------------------------------------------- forward ---- */

int vt_model_forward(const vt_model *m, const vt_model_inputs *in, vt_model_outputs *out) {
    const vt_model_config *c = &m->config;
    *out = (vt_model_outputs){0};
    int n_image_tokens = 0;
    TRY(check_inputs(m, in, &n_image_tokens));
    out->positions = malloc(3 * (size_t)in->B * in->T * sizeof(int32_t));
    out->rope_deltas = malloc((size_t)in->B * sizeof(int32_t));
    if (!out->positions || !out->rope_deltas) return vt_err("out of memory");
    bool images = in->pixel_values || in->vision_features;
    if (in->positions) {
        memcpy(out->positions, in->positions, 3 * (size_t)in->B * in->T * sizeof(int32_t));
        memset(out->rope_deltas, 0, (size_t)in->B * sizeof(int32_t));
    } else {
        TRY(vt_rope_positions(c, in->input_ids, in->attention_mask, in->B, in->T, in->grid_thw,
                              images ? in->n_images : 0, out->positions, out->rope_deltas));
    }
    image_rows rows = {0};
    if (images) TRY(image_row_index(m, in, &rows));
    mx_array h;
    TRY(embed(m, in, n_image_tokens, &rows, out, &h));
    vt_text_ctx ctx = {.cache = in->cache};
    if (in->cache && (in->B != 1 || in->cache->length != 0))
        return vt_err("inputs: a prefill takes one row and an empty cache");
    TRY(vt_mrope_tables(c, out->positions, in->B, in->T, &ctx.cos, &ctx.sin));
    TRY(vt_attention_mask(in->attention_mask, in->segments, in->B, in->T, &ctx.mask));
    for (int i = 0; i < c->layers; i++) {
        if (in->checkpoint) TRY(checkpointed_layer(&m->text.layers[i], h, &ctx, &h));
        else TRY(vt_text_layer_forward(c, &m->text.layers[i], h, &ctx, &h));
        if (out->vision && i < out->n_deepstack) TRY(add_features(m, in, &rows, h, out->deepstack[i], &h));
    }
    if (in->cache) in->cache->length = in->T, in->cache->rope_delta = out->rope_deltas[0];
    return mx_rms_norm(&out->hidden, h, m->text.norm.weight, (float)c->rms_eps);
}

int vt_model_decode(const vt_model *m, vt_kv_cache *cache, int32_t token, mx_array *hidden) {
    const vt_model_config *c = &m->config;
    if (cache->length == 0) return vt_err("decode: the cache is empty (prefill the prompt first)");
    if (token < 0 || token >= c->vocab) return vt_err("decode: token id %d is outside the vocabulary", token);
    int32_t pos[3];
    pos[0] = pos[1] = pos[2] = cache->length + cache->rope_delta;
    int shape[2] = {1, 1};
    mx_array ids, h;
    vt_text_ctx ctx = {.cache = cache};
    TRY(mx_from_data(&ids, &token, shape, 2, MX_INT32));
    TRY(vt_embedding_lookup(&m->text.embed, ids, &h));
    TRY(vt_mrope_tables(c, pos, 1, 1, &ctx.cos, &ctx.sin));
    for (int i = 0; i < c->layers; i++) TRY(vt_text_layer_forward(c, &m->text.layers[i], h, &ctx, &h));
    cache->length++;
    return mx_rms_norm(hidden, h, m->text.norm.weight, (float)c->rms_eps);
}

int vt_model_logits(const vt_model *m, mx_array rows, mx_array *logits) {
    mx_array l;
    if (m->text.tied) TRY(vt_embedding_as_linear(&m->text.embed, rows, &l));
    else TRY(vt_linear_forward(&m->text.lm_head, rows, &l));
    return mx_astype(logits, l, MX_FLOAT32);
}

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
    if (n > 0 && !in->pixel_values)
        return vt_err("inputs: %d <|image_pad|> tokens but no pixel_values", n);
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
    if (!in->pixel_values) return 0;
    TRY(vt_vision_forward(m, in->pixel_values, in->grid_thw, in->n_images, &out->vision, out->deepstack));
    out->n_deepstack = m->config.n_deepstack;
    if (mx_dim(out->vision, 0) != n_image_tokens)
        return vt_err("inputs: the images give %d features but input_ids hold %d <|image_pad|> tokens",
                      mx_dim(out->vision, 0), n_image_tokens);
    return place_features(m, in, rows, *h, out->vision, h);
}

int vt_model_forward(const vt_model *m, const vt_model_inputs *in, vt_model_outputs *out) {
    const vt_model_config *c = &m->config;
    *out = (vt_model_outputs){0};
    int n_image_tokens = 0;
    TRY(check_inputs(m, in, &n_image_tokens));
    out->positions = malloc(3 * (size_t)in->B * in->T * sizeof(int32_t));
    out->rope_deltas = malloc((size_t)in->B * sizeof(int32_t));
    if (!out->positions || !out->rope_deltas) return vt_err("out of memory");
    TRY(vt_rope_positions(c, in->input_ids, in->attention_mask, in->B, in->T, in->grid_thw, in->pixel_values ? in->n_images : 0,
                          out->positions, out->rope_deltas));
    image_rows rows = {0};
    if (in->pixel_values) TRY(image_row_index(m, in, &rows));
    mx_array h;
    TRY(embed(m, in, n_image_tokens, &rows, out, &h));
    vt_text_ctx ctx;
    TRY(vt_mrope_tables(c, out->positions, in->B, in->T, &ctx.cos, &ctx.sin));
    TRY(vt_attention_mask(in->attention_mask, in->B, in->T, &ctx.mask));
    for (int i = 0; i < c->layers; i++) {
        TRY(vt_text_layer_forward(c, &m->text.layers[i], h, &ctx, &h));
        if (out->vision && i < out->n_deepstack) TRY(add_features(m, in, &rows, h, out->deepstack[i], &h));
    }
    return mx_rms_norm(&out->hidden, h, m->text.norm.weight, (float)c->rms_eps);
}

int vt_model_logits(const vt_model *m, mx_array rows, mx_array *logits) {
    mx_array l;
    if (m->text.tied) TRY(vt_embedding_as_linear(&m->text.embed, rows, &l));
    else TRY(vt_linear_forward(&m->text.lm_head, rows, &l));
    return mx_astype(logits, l, MX_FLOAT32);
}

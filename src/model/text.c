/* text.c — the Qwen3-VL text decoder.
 *
 *   layers × [h = x + o(attn(RMSNorm x)),  out = h + down(silu(gate y) · up y), y = RMSNorm h]
 *   attention: q/k RMSNorm per head (before rotary), GQA, causal (plus padding), scale 1/√head_dim,
 *              interleaved MRoPE (frequency j follows the h position when j%3 == 1, w when j%3 == 2,
 *              within their sections; t otherwise)
 *   after layer k < #DeepStack: the k-th DeepStack feature is added at the image tokens
 *   final RMSNorm.
 * RMSNorm runs in float32 inside MLX's fused kernel; cos/sin tables are float32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"
#include "model/text.h"

int vt_mrope_tables(const vt_model_config *c, const int32_t *pos, int B, int T, mx_array *cos, mx_array *sin) {
    int hd = c->head_dim, half = hd / 2;
    size_t n = (size_t)B * T * hd;
    float *cs = malloc(n * sizeof(float)), *sn = malloc(n * sizeof(float));
    if (!cs || !sn) {
        free(cs), free(sn);
        return vt_err("out of memory for %d × %d rotary tables", B, T);
    }
    float inv[512];
    int axis[512];
    for (int j = 0; j < half; j++) {
        inv[j] = (float)(1.0 / pow(c->rope_theta, (2.0 * j) / hd));
        axis[j] = 0;
        if (c->mrope_interleaved) {
            if (j % 3 == 1 && j < 3 * c->mrope_section[1]) axis[j] = 1;
            else if (j % 3 == 2 && j < 3 * c->mrope_section[2]) axis[j] = 2;
        } else {
            axis[j] = j < c->mrope_section[0] ? 0 : j < c->mrope_section[0] + c->mrope_section[1] ? 1 : 2;
        }
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *crow = cs + ((size_t)b * T + t) * hd, *srow = sn + ((size_t)b * T + t) * hd;
            for (int j = 0; j < half; j++) {
                float angle = (float)pos[((size_t)axis[j] * B + b) * T + t] * inv[j];
                crow[j] = crow[j + half] = cosf(angle);
                srow[j] = srow[j + half] = sinf(angle);
            }
        }
    int shape[4] = {B, 1, T, hd};
    int rc = mx_from_data(cos, cs, shape, 4, MX_FLOAT32) || mx_from_data(sin, sn, shape, 4, MX_FLOAT32);
    free(cs), free(sn);
    return rc;
}

int vt_packed_slices(const int32_t *segments, int B, int T, int32_t **starts, int32_t **counts, int *max) {
    int most = 1;
    *counts = calloc((size_t)B, sizeof **counts);
    if (!*counts) return vt_err("out of memory");
    for (int b = 0; b < B; b++) {
        const int32_t *seg = segments + (size_t)b * T;
        for (int t = 0; t < T; t++) (*counts)[b] += t == 0 || (seg[t] != 0 && seg[t] != seg[t - 1]);
        most = (*counts)[b] > most ? (*counts)[b] : most;
    }
    *starts = malloc((size_t)B * most * sizeof **starts);
    if (!*starts) {
        free(*counts);
        return vt_err("out of memory");
    }
    for (int b = 0; b < B; b++) {
        const int32_t *seg = segments + (size_t)b * T;
        int k = 0;
        for (int t = 0; t < T; t++)
            if (t == 0 || (seg[t] != 0 && seg[t] != seg[t - 1])) (*starts)[(size_t)b * most + k++] = t;
    }
    *max = most;
    return 0;
}

/* Padding only at the ends of rows: a causal mask already keeps every real query away from it. */
static bool right_padded(const int32_t *mask, int B, int T) {
    for (int b = 0; mask && b < B; b++)
        for (int t = 1; t < T; t++)
            if (mask[(size_t)b * T + t] && !mask[(size_t)b * T + t - 1]) return false;
    return true;
}

int vt_attention_mask(const int32_t *mask, int B, int T, mx_array *out) {
    *out = NULL;
    /* plain causal attention takes MLX's fused kernels; what padding queries attend to is never read */
    if (!mask || right_padded(mask, B, T)) return 0;
    /* left padding: causal, keys restricted to real tokens; a padding query still sees itself so no row is
     * empty */
    bool *m = malloc((size_t)B * T * T * sizeof(bool));
    if (!m) return vt_err("out of memory for a %d × %d × %d attention mask", B, T, T);
    for (int b = 0; b < B; b++) {
        const int32_t *row_mask = mask + (size_t)b * T;
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++) m[((size_t)b * T + i) * T + j] = i == j || (j < i && row_mask[j]);
    }
    int shape[4] = {B, 1, T, T};
    int rc = mx_from_data(out, m, shape, 4, MX_BOOL);
    free(m);
    return rc;
}

int vt_kv_cache_init(vt_kv_cache *c, int layers) {
    *c = (vt_kv_cache){.layers = layers};
    c->k = calloc((size_t)layers, sizeof *c->k);
    c->v = calloc((size_t)layers, sizeof *c->v);
    c->arena = mx_arena_new();
    if (!c->k || !c->v || !c->arena) {
        vt_kv_cache_free(c);
        return vt_err("out of memory");
    }
    return 0;
}

void vt_kv_cache_free(vt_kv_cache *c) {
    free(c->k), free(c->v);
    mx_arena_free(c->arena);
    *c = (vt_kv_cache){0};
}

/* Writes the layer's new keys and values at [length, length + T) of its preallocated buffers (mlx-lm's
 * KVCache): a buffer grows in steps of VT_KV_STEP tokens, so a decode step writes one row in place (MLX
 * reuses a slice update's input buffer when nothing else holds it) instead of copying the whole history
 * as concatenation did.  *k and *v become views of the filled prefix [0, length + T), what attention reads.
 * The cache keeps the buffers, not the views: a view would pin the old buffer and force a copy. */
static int cache_write(vt_kv_cache *c, int layer, mx_array *k, mx_array *v) {
    int T = mx_dim(*k, 2), from = c->length, to = from + T;
    mx_array *bufs[2] = {&c->k[layer], &c->v[layer]}, *news[2] = {k, v};
    for (int i = 0; i < 2; i++) {
        mx_array buf = *bufs[i], x = *news[i];
        int H = mx_dim(x, 1), D = mx_dim(x, 3);
        if (!buf || mx_dim(buf, 2) < to) {
            /* grow to the next multiple of the step: [filled prefix ; zeros] */
            int cap = (to + VT_KV_STEP - 1) / VT_KV_STEP * VT_KV_STEP, old = buf ? from : 0;
            mx_array zeros, parts[2];
            TRY(mx_zeros(&zeros, (int[]){1, H, cap - old, D}, 4, mx_dtype_of(x)));
            if (buf) {
                TRY(mx_slice_axis(&parts[0], buf, 2, 0, from));
                parts[1] = zeros;
                TRY(mx_concatenate(&buf, parts, 2, 2));
            } else {
                buf = zeros;
            }
        }
        mx_array kept;
        TRY(mx_slice_update(&buf, buf, x, (int[]){0, 0, from, 0}, (int[]){1, H, to, D}, NULL, 4));
        TRY(mx_ref(&kept, buf));
        mx_keep(kept, c->arena);
        mx_free(*bufs[i]);
        *bufs[i] = kept;
        TRY(mx_slice_axis(news[i], buf, 2, 0, to));
    }
    return 0;
}

static int heads(mx_array x, int B, int T, int n, int hd, const vt_norm *norm, float eps, mx_array *out) {
    int perm[4] = {0, 2, 1, 3};
    mx_array h;
    TRY(vt_reshape(&h, x, 4, B, T, n, hd));
    if (norm) TRY(mx_rms_norm(&h, h, norm->weight, eps));
    return mx_transpose(out, h, perm, 4);
}

/* Packed rows: causal attention within each sample's slice, row by row (no mask: fused kernels). */
static int sliced_attention(const vt_text_ctx *ctx, mx_array q, mx_array k, mx_array v, float scale, mx_array *out) {
    int B = mx_dim(q, 0), T = mx_dim(q, 2);
    mx_array *rows = malloc(((size_t)B + (size_t)ctx->slice_max + 2) * sizeof *rows), *parts = rows + B;
    if (!rows) return vt_err("out of memory");
    int rc = 0;
    for (int b = 0; rc == 0 && b < B; b++) {
        mx_array qb, kb, vb;
        int n = ctx->slice_counts[b];
        const int32_t *starts = ctx->slice_starts + (size_t)b * ctx->slice_max;
        rc = mx_slice_axis(&qb, q, 0, b, b + 1) || mx_slice_axis(&kb, k, 0, b, b + 1) || mx_slice_axis(&vb, v, 0, b, b + 1);
        for (int i = 0; rc == 0 && i < n; i++) {
            int s = starts[i], e = i + 1 < n ? starts[i + 1] : T;
            mx_array qs, ks, vs;
            rc = mx_slice_axis(&qs, qb, 2, s, e) || mx_slice_axis(&ks, kb, 2, s, e) || mx_slice_axis(&vs, vb, 2, s, e) ||
                 mx_sdpa(&parts[i], qs, ks, vs, scale, MX_MASK_CAUSAL, NULL);
        }
        if (rc == 0) rc = n == 1 ? mx_ref(&rows[b], parts[0]) : mx_concatenate(&rows[b], parts, (size_t)n, 2);
    }
    if (rc == 0) rc = B == 1 ? mx_ref(out, rows[0]) : mx_concatenate(out, rows, (size_t)B, 0);
    free(rows);
    return rc;
}

static int attention(const vt_model_config *c, const vt_text_layer *l, mx_array x, const vt_text_ctx *ctx,
                     mx_array *out) {
    int B = mx_dim(x, 0), T = mx_dim(x, 1), hd = c->head_dim;
    float eps = (float)c->rms_eps;
    mx_array q, k, v, a;
    TRY(vt_linear_forward(&l->q, x, &q));
    TRY(vt_linear_forward(&l->k, x, &k));
    TRY(vt_linear_forward(&l->v, x, &v));
    TRY(heads(q, B, T, c->heads, hd, &l->q_norm, eps, &q));
    TRY(heads(k, B, T, c->kv_heads, hd, &l->k_norm, eps, &k));
    TRY(heads(v, B, T, c->kv_heads, hd, NULL, eps, &v));
    TRY(vt_apply_rotary(q, ctx->cos, ctx->sin, false, &q));
    TRY(vt_apply_rotary(k, ctx->cos, ctx->sin, false, &k));
    mx_mask_mode mode = ctx->mask ? MX_MASK_ARRAY : MX_MASK_CAUSAL;
    if (ctx->cache) {
        TRY(cache_write(ctx->cache, l->index, &k, &v));
        /* one new token sees every earlier one; a chunk of T is causal, aligned to the last key (MLX's rule) */
        if (T == 1) mode = MX_MASK_NONE;
    }
    float scale = 1.0f / sqrtf((float)hd);
    if (ctx->slice_counts) TRY(sliced_attention(ctx, q, k, v, scale, &a));
    else TRY(mx_sdpa(&a, q, k, v, scale, mode, ctx->mask));
    int perm[4] = {0, 2, 1, 3};
    TRY(mx_transpose(&a, a, perm, 4));
    TRY(vt_reshape(&a, a, 3, B, T, c->heads * hd));
    return vt_linear_forward(&l->o, a, out);
}

int vt_text_layer_forward(const vt_model_config *c, const vt_text_layer *l, mx_array x, const vt_text_ctx *ctx,
                          mx_array *out) {
    float eps = (float)c->rms_eps;
    mx_array h, a, y, g, u;
    TRY(mx_rms_norm(&h, x, l->in_norm.weight, eps));
    TRY(attention(c, l, h, ctx, &a));
    TRY(mx_add(&h, x, a));
    TRY(mx_rms_norm(&y, h, l->post_norm.weight, eps));
    TRY(vt_linear_forward(&l->gate, y, &g));
    TRY(vt_linear_forward(&l->up, y, &u));
    TRY(vt_silu(g, &g));
    TRY(mx_multiply(&g, g, u));
    TRY(vt_linear_forward(&l->down, g, &g));
    return mx_add(out, h, g);
}

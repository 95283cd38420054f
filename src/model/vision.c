/* vision.c — the Qwen3-VL vision tower.
 *
 *   pixel_values [N, C·T·P·P]  (N patches of all images, each image's rows in 2×2 merge order)
 *   -> patch embedding (a matmul: the Conv3d's stride equals its kernel)
 *   -> + learned position embedding, bilinearly interpolated from a side×side grid
 *   -> depth × [x += proj(attn(LN1 x)), x += fc2(gelu_tanh(fc1(LN2 x)))]
 *        attention with 2-D rotary (row, column) and block-diagonal per frame
 *        after the DeepStack blocks: a merger of the 2×2 groups -> one feature per image token
 *   -> merger: LN, 2×2 groups -> [N/4, 4·hidden], fc1, gelu (erf), fc2 -> [N/4, out]
 *
 * Everything per patch that depends only on the grids (interpolation weights,
 * rotary angles, frame boundaries) is computed here on the host, once per call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"

typedef struct {
    int n;             /* patches */
    int32_t *idx[4];   /* pos-embedding rows of the four bilinear corners, per patch */
    float *wt[4];      /* their weights */
    float *cos, *sin;  /* [n, head_dim] rotary tables */
    int *frame_ends;   /* cumulative patch counts at each frame's end */
    int n_frames;
} patch_plan;

static void plan_free(patch_plan *p) {
    for (int k = 0; k < 4; k++) free(p->idx[k]), free(p->wt[k]);
    free(p->cos), free(p->sin), free(p->frame_ends);
}

/* Sample points linspace(0, side-1, n) as the reference does, in float32. */
static float grid_point(int i, int n, int side) {
    return n > 1 ? (float)i * ((float)(side - 1) / (float)(n - 1)) : 0.0f;
}

static int plan_patches(const vt_model *m, const int32_t *grid, int n_images, int n_rows, patch_plan *p) {
    const vt_model_config *c = &m->config;
    int side = m->vision.pos_side, hd = c->v_hidden / c->v_heads, ms = c->merge;
    *p = (patch_plan){0};
    long n = 0, frames = 0;
    for (int i = 0; i < n_images; i++) {
        int t = grid[3 * i], h = grid[3 * i + 1], w = grid[3 * i + 2];
        if (t < 1 || h < ms || w < ms || h % ms || w % ms)
            return vt_err("image %d: grid (t %d, h %d, w %d) must be positive with h and w multiples of %d", i, t, h, w,
                          ms);
        n += (long)t * h * w;
        frames += t;
    }
    if (n != n_rows)
        return vt_err("pixel_values has %d rows but the image grids add up to %ld patches", n_rows, n);
    p->n = (int)n;
    p->n_frames = (int)frames;
    for (int k = 0; k < 4; k++) {
        p->idx[k] = malloc((size_t)n * sizeof(int32_t));
        p->wt[k] = malloc((size_t)n * sizeof(float));
    }
    p->cos = malloc((size_t)n * hd * sizeof(float));
    p->sin = malloc((size_t)n * hd * sizeof(float));
    p->frame_ends = malloc((size_t)frames * sizeof(int));
    for (int k = 0; k < 4; k++)
        if (!p->idx[k] || !p->wt[k]) return vt_err("out of memory");
    if (!p->cos || !p->sin || !p->frame_ends) return vt_err("out of memory");

    /* rotary: inv_freq[j] = θ^(-2j/(hd/2)), j < hd/4; a patch gets [row·inv, col·inv], twice */
    int quarter = hd / 4;
    float inv[256];
    for (int j = 0; j < quarter; j++) inv[j] = (float)(1.0 / pow(c->v_rope_theta, (2.0 * j) / (hd / 2)));
    long r = 0;
    int f = 0;
    for (int i = 0; i < n_images; i++) {
        int t = grid[3 * i], h = grid[3 * i + 1], w = grid[3 * i + 2];
        for (int ti = 0; ti < t; ti++) {
            for (int br = 0; br < h / ms; br++)
                for (int bc = 0; bc < w / ms; bc++)
                    for (int ir = 0; ir < ms; ir++)
                        for (int ic = 0; ic < ms; ic++, r++) {
                            int row = br * ms + ir, col = bc * ms + ic;
                            float y = grid_point(row, h, side), x = grid_point(col, w, side);
                            int y0 = (int)y, x0 = (int)x;
                            int y1 = y0 + 1 < side ? y0 + 1 : side - 1, x1 = x0 + 1 < side ? x0 + 1 : side - 1;
                            float dy = y - (float)y0, dx = x - (float)x0;
                            p->idx[0][r] = y0 * side + x0, p->wt[0][r] = (1 - dy) * (1 - dx);
                            p->idx[1][r] = y0 * side + x1, p->wt[1][r] = (1 - dy) * dx;
                            p->idx[2][r] = y1 * side + x0, p->wt[2][r] = dy * (1 - dx);
                            p->idx[3][r] = y1 * side + x1, p->wt[3][r] = dy * dx;
                            float *cs = p->cos + r * hd, *sn = p->sin + r * hd;
                            for (int j = 0; j < quarter; j++) {
                                float a = (float)row * inv[j], b = (float)col * inv[j];
                                cs[j] = cs[j + 2 * quarter] = cosf(a);
                                sn[j] = sn[j + 2 * quarter] = sinf(a);
                                cs[j + quarter] = cs[j + 3 * quarter] = cosf(b);
                                sn[j + quarter] = sn[j + 3 * quarter] = sinf(b);
                            }
                        }
            p->frame_ends[f++] = (int)r;
        }
    }
    return 0;
}

/* Σ_k pos_embed[idx_k] · w_k for every patch: [n, hidden]. */
static int position_embedding(const vt_model *m, const patch_plan *p, mx_array *out) {
    mx_array sum = NULL;
    int shape[1] = {p->n}, col[2] = {p->n, 1};
    for (int k = 0; k < 4; k++) {
        mx_array idx, rows, wt, term;
        TRY(mx_from_data(&idx, p->idx[k], shape, 1, MX_INT32));
        TRY(vt_embedding_lookup(&m->vision.pos_embed, idx, &rows));
        TRY(mx_from_data(&wt, p->wt[k], col, 2, MX_FLOAT32));
        TRY(mx_astype(&wt, wt, mx_dtype_of(rows)));
        TRY(mx_multiply(&term, rows, wt));
        if (sum) TRY(mx_add(&sum, sum, term));
        else sum = term;
    }
    *out = sum;
    return 0;
}

static int layer_norm(const vt_norm *n, mx_array x, mx_array *out) { return mx_layer_norm(out, x, n->weight, n->bias, 1e-6f); }

/* Bidirectional attention within each frame; q/k/v [1, heads, n, hd]. */
static int frame_attention(const patch_plan *p, mx_array q, mx_array k, mx_array v, float scale, mx_array *out) {
    if (p->n_frames == 1) return mx_sdpa(out, q, k, v, scale, MX_MASK_NONE, NULL);
    mx_array *qs = malloc(3 * (size_t)p->n_frames * sizeof(mx_array));
    if (!qs) return vt_err("out of memory");
    mx_array *ks = qs + p->n_frames, *vs = ks + p->n_frames;
    int rc = mx_split_at(qs, q, p->frame_ends, p->n_frames - 1, 2) || mx_split_at(ks, k, p->frame_ends, p->n_frames - 1, 2) ||
             mx_split_at(vs, v, p->frame_ends, p->n_frames - 1, 2);
    for (int f = 0; rc == 0 && f < p->n_frames; f++) rc = mx_sdpa(&qs[f], qs[f], ks[f], vs[f], scale, MX_MASK_NONE, NULL);
    if (rc == 0) rc = mx_concatenate(out, qs, (size_t)p->n_frames, 2);
    free(qs);
    return rc;
}

static int attention(const vt_model *m, const vt_vision_block *b, const patch_plan *p, mx_array cos, mx_array sin,
                     mx_array x, mx_array *out) {
    const vt_model_config *c = &m->config;
    int n = p->n, heads = c->v_heads, hd = c->v_hidden / heads;
    mx_array qkv, parts[3], q, k, a;
    int perm[4] = {1, 2, 0, 3}; /* [n, 3, heads, hd] -> [3, heads, n, hd] */
    TRY(vt_linear_forward(&b->qkv, x, &qkv));
    TRY(vt_reshape(&qkv, qkv, 4, n, 3, heads, hd));
    TRY(mx_transpose(&qkv, qkv, perm, 4));
    TRY(mx_split(parts, 3, qkv, 0));
    TRY(vt_apply_rotary(parts[0], cos, sin, true, &q));
    TRY(vt_apply_rotary(parts[1], cos, sin, true, &k));
    TRY(frame_attention(p, q, k, parts[2], 1.0f / sqrtf((float)hd), &a));
    int back[4] = {0, 2, 1, 3};
    TRY(mx_transpose(&a, a, back, 4));
    TRY(vt_reshape(&a, a, 2, n, c->v_hidden));
    return vt_linear_forward(&b->proj, a, out);
}

static int block(const vt_model *m, const vt_vision_block *b, const patch_plan *p, mx_array cos, mx_array sin,
                 mx_array x, mx_array *out) {
    mx_array h, a, f;
    TRY(layer_norm(&b->norm1, x, &h));
    TRY(attention(m, b, p, cos, sin, h, &a));
    TRY(mx_add(&x, x, a));
    TRY(layer_norm(&b->norm2, x, &h));
    TRY(vt_linear_forward(&b->fc1, h, &f));
    TRY(vt_gelu(f, m->config.v_gelu_tanh, &f));
    TRY(vt_linear_forward(&b->fc2, f, &f));
    return mx_add(out, x, f);
}

/* 2×2 groups of patches -> one vector each, then fc1, exact GELU, fc2. */
static int merge(const vt_model *m, const vt_merger *mg, mx_array x, mx_array *out) {
    const vt_model_config *c = &m->config;
    int wide = c->v_hidden * c->merge * c->merge, rows = mx_dim(x, 0) / (c->merge * c->merge);
    mx_array h;
    if (mg->postshuffle_norm) {
        TRY(vt_reshape(&h, x, 2, rows, wide));
        TRY(layer_norm(&mg->norm, h, &h));
    } else {
        TRY(layer_norm(&mg->norm, x, &h));
        TRY(vt_reshape(&h, h, 2, rows, wide));
    }
    TRY(vt_linear_forward(&mg->fc1, h, &h));
    TRY(vt_gelu(h, false, &h));
    return vt_linear_forward(&mg->fc2, h, out);
}

/* ------------------------------------------------ gradient checkpointing ---- */

/* What a recomputed block needs besides its array inputs: the block and the frame boundaries. */
typedef struct {
    const vt_model *m;
    const vt_vision_block *b;
    int n, n_frames;
    int frame_ends[];
} block_ctx;

/* A vision block as a function of [x, cos, sin]. */
static int block_fn(const void *ctx, const mx_array *in, size_t n_in, mx_array *out) {
    (void)n_in;
    const block_ctx *c = ctx;
    patch_plan p = {.n = c->n, .n_frames = c->n_frames, .frame_ends = (int *)c->frame_ends};
    mx_array cos, sin; /* constants of the block: no gradient */
    TRY(mx_stop_gradient(&cos, in[1]));
    TRY(mx_stop_gradient(&sin, in[2]));
    return block(c->m, c->b, &p, cos, sin, in[0], out);
}

static int checkpointed_block(const vt_model *m, const vt_vision_block *b, const patch_plan *p, mx_array cos,
                              mx_array sin, mx_array x, mx_array *out) {
    size_t size = sizeof(block_ctx) + (size_t)p->n_frames * sizeof(int);
    block_ctx *c = malloc(size);
    if (!c) return vt_err("out of memory");
    *c = (block_ctx){.m = m, .b = b, .n = p->n, .n_frames = p->n_frames};
    memcpy(c->frame_ends, p->frame_ends, (size_t)p->n_frames * sizeof(int));
    vt_vision_block *w = (vt_vision_block *)b; /* only the adapters' bindings change, never the weights */
    vt_linear *linears[4] = {&w->qkv, &w->proj, &w->fc1, &w->fc2};
    mx_array in[3] = {x, cos, sin};
    int rc = vt_block_call(block_fn, c, size, linears, 4, in, 3, true, NULL, out);
    free(c);
    return rc;
}

static int run_tower(const vt_model *m, const patch_plan *p, mx_array pixel_values, bool checkpoint,
                     vt_vision_features *out) {
    const vt_model_config *c = &m->config;
    const vt_vision *v = &m->vision;
    int hd = c->v_hidden / c->v_heads, tshape[2] = {p->n, hd};
    mx_array x, wt, pos, cos, sin;
    TRY(mx_astype(&x, pixel_values, mx_dtype_of(v->patch_weight)));
    TRY(mx_transpose(&wt, v->patch_weight, NULL, 0));
    TRY(mx_matmul(&x, x, wt));
    TRY(mx_add(&x, x, v->patch_bias));
    TRY(position_embedding(m, p, &pos));
    TRY(mx_add(&x, x, pos));
    TRY(mx_from_data(&cos, p->cos, tshape, 2, MX_FLOAT32));
    TRY(mx_from_data(&sin, p->sin, tshape, 2, MX_FLOAT32));
    for (int i = 0; i < c->v_depth; i++) {
        /* a block's intermediate handles go when it is done (the graph keeps what its output needs) */
        mx_arena *outer = mx_arena_current(), *scope = mx_scope_begin();
        mx_array y;
        int rc = checkpoint ? checkpointed_block(m, &v->blocks[i], p, cos, sin, x, &y)
                            : block(m, &v->blocks[i], p, cos, sin, x, &y);
        for (int k = 0; rc == 0 && k < c->n_deepstack; k++)
            if (c->deepstack[k] == i && (rc = merge(m, &v->deepstack[k], y, &out->deepstack[k])) == 0)
                mx_keep(out->deepstack[k], outer);
        if (rc == 0) mx_keep(y, outer);
        mx_scope_end(scope);
        TRY(rc);
        x = y;
    }
    out->n_deepstack = c->n_deepstack;
    return merge(m, &v->merger, x, &out->merged);
}

int vt_vision_forward(const vt_model *m, mx_array pixel_values, const int32_t *grid_thw, int n_images,
                      bool checkpoint, vt_vision_features *out) {
    *out = (vt_vision_features){0};
    if (m->vision_released) return vt_err("the vision tower's weights were released (their features were cached)");
    const vt_model_config *c = &m->config;
    int cols = c->in_channels * c->temporal_patch * c->patch * c->patch;
    if (mx_ndim(pixel_values) != 2 || mx_dim(pixel_values, 1) != cols) {
        char d[64];
        return vt_err("pixel_values is %s, expected [patches, %d]", mx_describe(pixel_values, d, sizeof d), cols);
    }
    patch_plan p;
    int rc = plan_patches(m, grid_thw, n_images, mx_dim(pixel_values, 0), &p);
    if (rc == 0) rc = run_tower(m, &p, pixel_values, checkpoint, out);
    plan_free(&p);
    return rc;
}

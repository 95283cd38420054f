/* generate.c — prefill, decode steps and sampling. */
#include "generate/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/text.h"
#include "util/clock.h"
#include "util/mix.h"

/* Logits of the last position of ids[0..n). */
static int last_logits(const vt_model *m, const int32_t *ids, size_t n, const vt_encoded *p,
                       const vt_vision_features *vision, vt_kv_cache *cache, mx_array *logits) {
    vt_model_inputs in = {.B = 1, .T = (int)n, .input_ids = ids, .grid_thw = p->grid_thw, .n_images = (int)p->n_images,
                          .vision = vision->merged ? vision : NULL, .cache = cache};
    vt_model_outputs o;
    mx_array last;
    int H = m->config.hidden, rc = vt_model_forward(m, &in, &o);
    if (rc == 0) rc = mx_slice_axis(&last, o.hidden, 1, (int)n - 1, (int)n) || mx_reshape(&last, last, (int[]){1, H}, 2) ||
                      vt_model_logits(m, last, logits);
    vt_model_outputs_clear(&o);
    return rc;
}

/* mlx-lm's repetition penalty over the last 20 tokens: logit / p when positive, logit · p otherwise. */
static int penalize(mx_array *logits, const int32_t *ids, size_t n, double p) {
    size_t from = n > 20 ? n - 20 : 0;
    int V = mx_dim(*logits, -1);
    float *l = malloc((size_t)V * sizeof *l);
    if (!l) return vt_err("out of memory");
    int rc = mx_to_f32(*logits, l, (size_t)V);
    for (size_t i = from; rc == 0 && i < n; i++) {
        int32_t t = ids[i];
        bool seen = false;
        for (size_t j = from; j < i; j++) seen |= ids[j] == t;
        if (seen || t < 0 || t >= V) continue;
        l[t] = l[t] > 0 ? (float)(l[t] / p) : (float)(l[t] * p);
    }
    if (rc == 0) rc = mx_from_data(logits, l, (int[]){1, V}, 2, MX_FLOAT32);
    free(l);
    return rc;
}

static int pick(mx_array logits, const vt_generate_options *o, size_t step, int32_t *id) {
    mx_array choice;
    if (o->temperature <= 0) {
        TRY(mx_argmax(&choice, logits, -1, false));
        return mx_item_i32(choice, id);
    }
    mx_array scaled, key;
    TRY(mx_mul_scalar(&scaled, logits, 1.0 / o->temperature));
    int V = mx_dim(scaled, -1);
    if ((o->top_k > 0 && o->top_k < V) || (o->top_p > 0 && o->top_p < 1)) {
        /* keep the smallest set of most likely tokens holding top_p of the mass, at most top_k */
        float *l = malloc((size_t)V * sizeof *l);
        int *order = malloc((size_t)V * sizeof *order);
        if (!l || !order) {
            free(l), free(order);
            return vt_err("out of memory");
        }
        int rc = mx_to_f32(scaled, l, (size_t)V);
        float mx_l = -INFINITY;
        for (int i = 0; i < V; i++) mx_l = l[i] > mx_l ? l[i] : mx_l;
        double total = 0;
        for (int i = 0; i < V; i++) total += exp(l[i] - mx_l), order[i] = i;
        /* partial selection by repeated maxima is fine for the small k and p used in practice */
        int keep = 0;
        double mass = 0;
        int limit = o->top_k > 0 ? o->top_k : V;
        while (rc == 0 && keep < limit && (keep == 0 || mass < (o->top_p > 0 ? o->top_p : 1.0) * total)) {
            int best = keep;
            for (int i = keep + 1; i < V; i++)
                if (l[order[i]] > l[order[best]]) best = i;
            int t = order[keep];
            order[keep] = order[best], order[best] = t;
            mass += exp(l[order[keep]] - mx_l);
            keep++;
        }
        for (int i = keep; i < V; i++) l[order[i]] = -INFINITY;
        if (rc == 0) rc = mx_from_data(&scaled, l, (int[]){1, V}, 2, MX_FLOAT32);
        free(l), free(order);
        TRY(rc);
    }
    TRY(mx_random_key(&key, vt_mix64(o->seed ^ vt_mix64(step))));
    TRY(mx_random_categorical(&choice, scaled, key));
    return mx_item_i32(choice, id);
}

static bool is_eos(const vt_generate_options *o, int32_t id) {
    for (size_t i = 0; i < o->n_eos; i++)
        if (o->eos[i] == id) return true;
    return false;
}

/* Logits of the next token: prefill (step 0) or one decode step, or a full forward without cache. */
static int next_logits(const vt_model *m, const vt_encoded *p, const int32_t *ids, size_t n, int step,
                       const vt_vision_features *vision, bool no_cache, vt_kv_cache *cache, mx_array *logits) {
    if (no_cache) return last_logits(m, ids, n, p, vision, NULL, logits);
    if (step > 0) {
        mx_array h, row;
        TRY(vt_model_decode(m, cache, ids[n - 1], &h));
        TRY(mx_reshape(&row, h, (int[]){1, m->config.hidden}, 2));
        return vt_model_logits(m, row, logits);
    }
    return last_logits(m, ids, n, p, vision, cache, logits);
}

int vt_generate(const vt_model *m, const vt_encoded *p, const vt_generate_options *o,
                int (*on_token)(void *ctx, int32_t id), void *ctx, vt_generation *out) {
    *out = (vt_generation){0};
    size_t cap = p->n_tokens + (size_t)o->max_tokens + 1;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return vt_err("out of memory");
    memcpy(ids, p->ids, p->n_tokens * sizeof *ids);
    size_t n = p->n_tokens;
    vt_kv_cache cache = {0};
    mx_arena *scope = mx_scope_begin();
    vt_vision_features vision = {0};
    double t0 = vt_now();
    int rc = o->no_cache ? 0 : vt_kv_cache_init(&cache, m->config.layers);
    if (rc == 0 && p->n_images) {
        mx_array pixels;
        rc = mx_from_data(&pixels, p->pixel_values, (int[]){(int)p->n_patches, (int)p->patch_dim}, 2, MX_FLOAT32) ||
             vt_vision_forward(m, pixels, p->grid_thw, (int)p->n_images, false, &vision);
    }
    for (int step = 0; rc == 0 && step < o->max_tokens; step++) {
        mx_arena *inner = mx_scope_begin();
        mx_array logits;
        int32_t id = 0;
        rc = next_logits(m, p, ids, n, step, &vision, o->no_cache, &cache, &logits);
        if (rc == 0 && o->repetition_penalty > 0 && o->repetition_penalty != 1)
            rc = penalize(&logits, ids, n, o->repetition_penalty);
        if (rc == 0) rc = pick(logits, o, (size_t)step, &id);
        mx_scope_end(inner);
        if (step == 0) out->prompt_seconds = vt_now() - t0, t0 = vt_now();
        if (rc || is_eos(o, id)) break;
        ids[n++] = id;
        if (on_token) rc = on_token(ctx, id);
    }
    out->generate_seconds = vt_now() - t0;
    mx_scope_end(scope);
    vt_kv_cache_free(&cache);
    if (rc) {
        free(ids);
        return -1;
    }
    out->n = n - p->n_tokens;
    memmove(ids, ids + p->n_tokens, out->n * sizeof *ids);
    out->ids = ids;
    return 0;
}

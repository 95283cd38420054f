/* generate.c — prefill (in chunks after the last image), decode steps (pipelined when sampling runs on the
 * device) and sampling.  docs/GENERATE.md describes the loop. */
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

/* ---------------------------------------------------------- prefill ---- */

/* Where chunking may start: after the last image token.  The prompt's head (everything up to it, and at
 * least one chunk) runs through the model's forward pass, which places image features, adds DeepStack and
 * computes MRoPE positions; the text after the last image has positions length + rope_delta + i on all three
 * axes (the rope delta of the head equals the whole prompt's), so it can follow in chunks through
 * vt_model_extend with exactly the positions the whole prompt would give it.  Chunking across image tokens
 * would need the forward pass to take part of an image's features and positions: not done. */
static size_t prefill_head(const vt_model *m, const vt_encoded *p, size_t chunk) {
    size_t head = p->n_tokens < chunk ? p->n_tokens : chunk;
    for (size_t i = p->n_tokens; i > head; i--)
        if (p->ids[i - 1] == m->config.image_token_id) return i;
    return head;
}

/* The next-token logits [1, vocab] of hidden states [1, T, hidden]. */
static int last_row_logits(const vt_model *m, mx_array hidden, mx_array *logits) {
    int T = mx_dim(hidden, 1);
    mx_array last;
    TRY(mx_slice_axis(&last, hidden, 1, T - 1, T));
    TRY(mx_reshape(&last, last, (int[]){1, m->config.hidden}, 2));
    return vt_model_logits(m, last, logits);
}

/* The prompt into the cache in chunks of at most `chunk` tokens after its head (mlx-lm's prefill_step_size),
 * so a long prompt's attention scores and activations are never all alive at once: each piece's keys and
 * values are evaluated, and its graph freed, before the next is built.  *logits (in the caller's arena): the
 * next token's. */
static int prefill(const vt_model *m, const vt_encoded *p, const vt_vision_features *vision, vt_kv_cache *cache,
                   size_t chunk, mx_array *logits) {
    size_t head = prefill_head(m, p, chunk);
    mx_arena *outer = mx_arena_current();
    for (size_t from = 0; from < p->n_tokens;) {
        size_t n = from == 0 ? head : (p->n_tokens - from < chunk ? p->n_tokens - from : chunk);
        bool last = from + n == p->n_tokens;
        mx_arena *piece = mx_scope_begin();
        mx_array ids, h;
        int rc = 0;
        if (from == 0) rc = last_logits(m, p->ids, n, p, vision, cache, logits);
        else rc = mx_from_data(&ids, p->ids + from, (int[]){1, (int)n}, 2, MX_INT32) ||
                  vt_model_extend(m, cache, ids, &h) || last_row_logits(m, h, logits);
        if (rc == 0 && last) mx_keep(*logits, outer);
        if (rc == 0 && !last) rc = mx_eval(cache->k, (size_t)cache->layers) || mx_eval(cache->v, (size_t)cache->layers);
        mx_scope_end(piece);
        TRY(rc);
        from += n;
    }
    return 0;
}

/* ---------------------------------------------------------- decoding ---- */

/* Sampling that runs on the device (greedy, or a plain temperature draw): the token can stay a lazy MLX
 * array, so decoding pipelines.  Repetition penalty, top-k and top-p are host code (they read the logits)
 * and keep the synchronous loop. */
static bool samples_on_device(const vt_generate_options *o, int vocab) {
    bool penalty = o->repetition_penalty > 0 && o->repetition_penalty != 1;
    bool top_k = o->top_k > 0 && o->top_k < vocab, top_p = o->top_p > 0 && o->top_p < 1;
    return !o->no_cache && (o->temperature <= 0 || (!top_k && !top_p)) && !penalty;
}

/* The token drawn from logits [1, vocab] at `step`, as a lazy [1, 1] int32 array: what pick() draws, same
 * key, same result. */
static int draw(mx_array logits, const vt_generate_options *o, size_t step, mx_array *token) {
    mx_array choice, scaled, key;
    if (o->temperature <= 0) {
        TRY(mx_argmax(&choice, logits, -1, false));
    } else {
        TRY(mx_mul_scalar(&scaled, logits, 1.0 / o->temperature));
        TRY(mx_random_key(&key, vt_mix64(o->seed ^ vt_mix64(step))));
        TRY(mx_random_categorical(&choice, scaled, key));
    }
    TRY(mx_astype(&choice, choice, MX_INT32));
    return mx_reshape(token, choice, (int[]){1, 1}, 2);
}

/* Step `step`'s token, lazy and free-standing (the caller frees it): drawn from the prefill's logits at step
 * 0, else from one decode step that takes the previous token still as an array. */
static int next_token(const vt_model *m, const vt_encoded *p, const vt_vision_features *vision, vt_kv_cache *cache,
                      const vt_generate_options *o, size_t chunk, int step, mx_array prev, mx_array *token) {
    mx_arena *inner = mx_scope_begin();
    mx_array logits, h;
    int rc = step == 0 ? prefill(m, p, vision, cache, chunk, &logits)
                       : vt_model_extend(m, cache, prev, &h) || last_row_logits(m, h, &logits);
    if (rc == 0) rc = draw(logits, o, (size_t)step, token);
    if (rc == 0) mx_keep(*token, NULL), rc = mx_async_eval(token, 1);
    mx_scope_end(inner);
    return rc;
}

/* mlx-lm's generate_step: step n+1's graph is built from step n's lazy token and queued (async_eval) before
 * step n's token is read on the host, so building a step overlaps computing the previous one.  One step past
 * the end (an end-of-turn token) is computed and thrown away. */
static int decode_pipelined(const vt_model *m, const vt_encoded *p, const vt_vision_features *vision,
                            vt_kv_cache *cache, const vt_generate_options *o, size_t chunk, int32_t *ids, size_t *n,
                            int (*on_token)(void *ctx, int32_t id), void *ctx, vt_generation *out, double *t0) {
    mx_array y = NULL, next = NULL;
    int rc = next_token(m, p, vision, cache, o, chunk, 0, NULL, &y);
    for (int step = 0; rc == 0 && step < o->max_tokens; step++) {
        int32_t id = 0;
        /* the first token is read before step 1 is queued, so the prompt's time is the prefill's alone (on a CPU
         * step 1 would share the cores with it); from then on step n+1 runs while step n is read */
        if (step == 0) rc = mx_item_i32(y, &id), out->prompt_seconds = vt_now() - *t0, *t0 = vt_now();
        if (rc == 0 && step + 1 < o->max_tokens) rc = next_token(m, p, vision, cache, o, chunk, step + 1, y, &next);
        if (rc == 0 && step > 0) rc = mx_item_i32(y, &id);
        mx_free(y);
        y = next, next = NULL;
        if (rc || is_eos(o, id)) break;
        ids[(*n)++] = id;
        if (on_token) rc = on_token(ctx, id);
    }
    mx_free(y);
    return rc;
}

/* The synchronous loop: each token is read on the host before the next step is built (host-side sampling,
 * and the no-cache reference decoder). */
static int decode_synchronous(const vt_model *m, const vt_encoded *p, const vt_vision_features *vision,
                              vt_kv_cache *cache, const vt_generate_options *o, size_t chunk, int32_t *ids, size_t *n,
                              int (*on_token)(void *ctx, int32_t id), void *ctx, vt_generation *out, double *t0) {
    int rc = 0;
    for (int step = 0; rc == 0 && step < o->max_tokens; step++) {
        mx_arena *inner = mx_scope_begin();
        mx_array logits, h, row;
        int32_t id = 0;
        if (o->no_cache) rc = last_logits(m, ids, *n, p, vision, NULL, &logits);
        else if (step == 0) rc = prefill(m, p, vision, cache, chunk, &logits);
        else rc = vt_model_decode(m, cache, ids[*n - 1], &h) || mx_reshape(&row, h, (int[]){1, m->config.hidden}, 2) ||
                  vt_model_logits(m, row, &logits);
        if (rc == 0 && o->repetition_penalty > 0 && o->repetition_penalty != 1)
            rc = penalize(&logits, ids, *n, o->repetition_penalty);
        if (rc == 0) rc = pick(logits, o, (size_t)step, &id);
        mx_scope_end(inner);
        if (step == 0) out->prompt_seconds = vt_now() - *t0, *t0 = vt_now();
        if (rc || is_eos(o, id)) break;
        ids[(*n)++] = id;
        if (on_token) rc = on_token(ctx, id);
    }
    return rc;
}

int vt_generate(const vt_model *m, const vt_encoded *p, const vt_generate_options *o,
                int (*on_token)(void *ctx, int32_t id), void *ctx, vt_generation *out) {
    *out = (vt_generation){0};
    if (p->n_tokens == 0) return vt_err("generate: the prompt is empty");
    size_t cap = p->n_tokens + (size_t)o->max_tokens + 1;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return vt_err("out of memory");
    memcpy(ids, p->ids, p->n_tokens * sizeof *ids);
    size_t n = p->n_tokens, chunk = o->prefill_step > 0 ? (size_t)o->prefill_step : VT_PREFILL_STEP;
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
    if (rc == 0 && samples_on_device(o, m->config.vocab))
        rc = decode_pipelined(m, p, &vision, &cache, o, chunk, ids, &n, on_token, ctx, out, &t0);
    else if (rc == 0)
        rc = decode_synchronous(m, p, &vision, &cache, o, chunk, ids, &n, on_token, ctx, out, &t0);
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

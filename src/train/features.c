/* features.c — computing and gathering cached vision features. */
#include "train/features.h"

#include <stdlib.h>

static int sample_features(const vt_model *m, const vt_encoded *s, mx_array *merged, mx_array *deepstack) {
    int shape[2] = {(int)s->n_patches, (int)s->patch_dim};
    mx_array pixels;
    TRY(mx_from_data(&pixels, s->pixel_values, shape, 2, MX_FLOAT32));
    TRY(vt_vision_forward(m, pixels, s->grid_thw, (int)s->n_images, false, merged, deepstack));
    mx_array all[1 + VT_MAX_DEEPSTACK];
    all[0] = *merged;
    for (int k = 0; k < m->config.n_deepstack; k++) all[1 + k] = deepstack[k];
    return mx_eval(all, 1 + (size_t)m->config.n_deepstack);
}

int vt_vision_cache_build(vt_vision_cache *c, const vt_model *m, const vt_rows *const *splits, size_t n_splits) {
    *c = (vt_vision_cache){.n_splits = n_splits, .n_deepstack = m->config.n_deepstack};
    if (!(c->arena = mx_arena_new())) return vt_err("out of memory");
    for (size_t s = 0; s < n_splits; s++) {
        const vt_rows *rows = splits[s];
        c->n[s] = rows->n;
        c->merged[s] = calloc(rows->n + 1, sizeof(mx_array));
        c->deepstack[s] = calloc((rows->n + 1) * VT_MAX_DEEPSTACK, sizeof(mx_array));
        if (!c->merged[s] || !c->deepstack[s]) return vt_err("out of memory");
        for (size_t i = 0; i < rows->n; i++) {
            if (!rows->rows[i].n_images) continue;
            mx_arena *scope = mx_scope_begin();
            mx_array *ds = c->deepstack[s] + i * VT_MAX_DEEPSTACK;
            int rc = sample_features(m, &rows->rows[i], &c->merged[s][i], ds);
            if (rc == 0) {
                mx_keep(c->merged[s][i], c->arena);
                for (int k = 0; k < c->n_deepstack; k++) mx_keep(ds[k], c->arena);
            }
            mx_scope_end(scope);
            if (rc) return vt_err_context("vision features of row %zu", rows->lines[i]);
        }
    }
    return 0;
}

int vt_vision_cache_gather(const vt_vision_cache *c, int split, const size_t *samples, size_t n, mx_array *merged,
                           mx_array *deepstack) {
    mx_array parts[1024];
    size_t k = 0;
    if (n > 1024) return vt_err("too many samples to gather");
    for (size_t i = 0; i < n; i++)
        if (c->merged[split][samples[i]]) parts[k++] = c->merged[split][samples[i]];
    *merged = NULL;
    if (k == 0) return 0;
    TRY(mx_concatenate(merged, parts, k, 0));
    for (int d = 0; d < c->n_deepstack; d++) {
        k = 0;
        for (size_t i = 0; i < n; i++)
            if (c->merged[split][samples[i]]) parts[k++] = c->deepstack[split][samples[i] * VT_MAX_DEEPSTACK + d];
        TRY(mx_concatenate(&deepstack[d], parts, k, 0));
    }
    return 0;
}

void vt_vision_cache_free(vt_vision_cache *c) {
    for (size_t s = 0; s < 2; s++) free(c->merged[s]), free(c->deepstack[s]);
    mx_arena_free(c->arena);
    *c = (vt_vision_cache){0};
}

/* features.c — computing and gathering cached vision features. */
#include "train/features.h"

#include <stdlib.h>

static int row_features(const vt_model *m, const vt_encoded *e, vt_vision_features *out) {
    int shape[2] = {(int)e->n_patches, (int)e->patch_dim};
    mx_array pixels, all[1 + VT_MAX_DEEPSTACK];
    TRY(mx_from_data(&pixels, e->pixel_values, shape, 2, MX_FLOAT32));
    TRY(vt_vision_forward(m, pixels, e->grid_thw, (int)e->n_images, false, out));
    all[0] = out->merged;
    for (int k = 0; k < out->n_deepstack; k++) all[1 + k] = out->deepstack[k];
    return mx_eval(all, 1 + (size_t)out->n_deepstack);
}

int vt_vision_cache_build(vt_vision_cache *c, const vt_model *m, const vt_rows *rows) {
    return vt_vision_cache_build_some(c, m, rows, NULL);
}

int vt_vision_cache_build_some(vt_vision_cache *c, const vt_model *m, const vt_rows *rows, const bool *needed) {
    *c = (vt_vision_cache){.n = rows->n};
    c->arena = mx_arena_new();
    c->rows = calloc(rows->n + 1, sizeof *c->rows);
    c->built = calloc(rows->n + 1, sizeof *c->built);
    if (!c->arena || !c->rows || !c->built) return vt_err("out of memory");
    for (size_t i = 0; i < rows->n; i++) {
        if (needed && !needed[i]) continue;
        c->built[i] = true;
        if (!rows->rows[i].n_images) continue;
        mx_arena *scope = mx_scope_begin();
        vt_vision_features *f = &c->rows[i];
        int rc = row_features(m, &rows->rows[i], f);
        if (rc == 0) {
            mx_keep(f->merged, c->arena);
            for (int k = 0; k < f->n_deepstack; k++) mx_keep(f->deepstack[k], c->arena);
        }
        mx_scope_end(scope);
        if (rc) {
            *f = (vt_vision_features){0};
            return vt_err_context("vision features of row %zu", rows->lines[i]);
        }
    }
    return 0;
}

int vt_vision_cache_gather(const vt_vision_cache *c, const size_t *samples, size_t n, vt_vision_features *out) {
    *out = (vt_vision_features){0};
    mx_array *parts = malloc((n + 1) * sizeof *parts);
    if (!parts) return vt_err("out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (samples[i] >= c->n || !c->built[samples[i]])
            rc = vt_err("vision features of row %zu were not cached by this process", samples[i]);
    for (int d = -1; rc == 0 && d < VT_MAX_DEEPSTACK; d++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const vt_vision_features *f = &c->rows[samples[i]];
            if (!f->merged) continue;
            out->n_deepstack = f->n_deepstack;
            parts[k++] = d < 0 ? f->merged : f->deepstack[d];
        }
        if (k == 0 || d >= out->n_deepstack) break;
        rc = mx_concatenate(d < 0 ? &out->merged : &out->deepstack[d], parts, k, 0);
    }
    free(parts);
    return rc;
}

void vt_vision_cache_free(vt_vision_cache *c) {
    free(c->rows);
    free(c->built);
    mx_arena_free(c->arena);
    *c = (vt_vision_cache){0};
}

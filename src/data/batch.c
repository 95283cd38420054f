#include "data/batch.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void vt_batch_clear(vt_batch *b) {
    if (!b) return;
    free(b->input_ids);
    free(b->attention_mask);
    free(b->pixel_values);
    free(b->grid_thw);
    free(b->loss_positions);
    free(b->targets);
    free(b->segments);
    *b = (vt_batch){0};
}

/* Sizes of the batch: T, total patches, images and supervised targets. */
static int measure(vt_batch *b, const vt_encoded *const *samples, size_t n, int pad_multiple) {
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        const vt_encoded *s = samples[i];
        if (s->n_tokens == 0) return vt_err("sample %zu of the batch is empty", i);
        if (s->n_patches && b->patch_dim && s->patch_dim != b->patch_dim)
            return vt_err("sample %zu has patches of %zu values, others %zu", i, s->patch_dim, b->patch_dim);
        if (s->n_patches) b->patch_dim = s->patch_dim;
        if (s->n_tokens > longest) longest = s->n_tokens;
        b->n_patches += s->n_patches;
        b->n_images += s->n_images;
        b->n_real_tokens += s->n_tokens;
        b->n_targets += vt_example_targets(s, 0, NULL, NULL);
    }
    if (pad_multiple < 1) pad_multiple = 1;
    size_t T = (longest + (size_t)pad_multiple - 1) / (size_t)pad_multiple * (size_t)pad_multiple;
    if (T > INT32_MAX / (n ? n : 1)) return vt_err("batch of %zu × %zu tokens is too large", n, T);
    b->B = (int)n;
    b->T = (int)T;
    return 0;
}

int vt_batch_make(vt_batch *out, const vt_encoded *const *samples, size_t n, int32_t pad_id, int pad_multiple) {
    vt_batch b = {0};
    if (n == 0) return vt_err("a batch needs at least one sample");
    TRY(measure(&b, samples, n, pad_multiple));
    size_t bt = (size_t)b.B * (size_t)b.T;
    b.input_ids = malloc(bt * sizeof *b.input_ids);
    b.attention_mask = calloc(bt, sizeof *b.attention_mask);
    b.pixel_values = b.n_patches ? malloc(b.n_patches * b.patch_dim * sizeof(float)) : NULL;
    b.grid_thw = b.n_images ? malloc(b.n_images * 3 * sizeof(int32_t)) : NULL;
    b.loss_positions = malloc((b.n_targets ? b.n_targets : 1) * sizeof(int32_t));
    b.targets = malloc((b.n_targets ? b.n_targets : 1) * sizeof(int32_t));
    if (!b.input_ids || !b.attention_mask || (b.n_patches && !b.pixel_values) || (b.n_images && !b.grid_thw) ||
        !b.loss_positions || !b.targets) {
        vt_batch_clear(&b);
        return vt_err("out of memory for a batch of %d × %d tokens", b.B, b.T);
    }
    size_t patch = 0, image = 0, target = 0;
    for (size_t i = 0; i < n; i++) {
        const vt_encoded *s = samples[i];
        int32_t *row = b.input_ids + i * (size_t)b.T;
        memcpy(row, s->ids, s->n_tokens * sizeof *row);
        for (size_t t = s->n_tokens; t < (size_t)b.T; t++) row[t] = pad_id;
        for (size_t t = 0; t < s->n_tokens; t++) b.attention_mask[i * (size_t)b.T + t] = 1;
        target += vt_example_targets(s, i * (size_t)b.T, b.loss_positions + target, b.targets + target);
        if (s->n_patches) memcpy(b.pixel_values + patch * b.patch_dim, s->pixel_values,
                                 s->n_patches * b.patch_dim * sizeof(float));
        if (s->n_images) memcpy(b.grid_thw + image * 3, s->grid_thw, s->n_images * 3 * sizeof(int32_t));
        patch += s->n_patches;
        image += s->n_images;
    }
    *out = b;
    return 0;
}

int vt_batch_make_packed(vt_batch *out, const vt_encoded *const *samples, const int *row_of, size_t n,
                         int32_t pad_id, int pad_multiple) {
    if (n == 0) return vt_err("a batch needs at least one sample");
    size_t m = pad_multiple > 1 ? (size_t)pad_multiple : 1;
#define PADDED(len) (((len) + m - 1) / m * m) /* each sample's slice of its row: whole multiples of m */
    int rows = row_of[n - 1] + 1;
    size_t *len = calloc((size_t)rows, sizeof *len), longest = 0;
    if (!len) return vt_err("out of memory");
    for (size_t i = 0; i < n; i++) {
        if (row_of[i] < 0 || row_of[i] >= rows || (i && row_of[i] < row_of[i - 1])) {
            free(len);
            return vt_err("packed batch: row numbers must rise from 0");
        }
        len[row_of[i]] += PADDED(samples[i]->n_tokens);
    }
    for (int r = 0; r < rows; r++) longest = len[r] > longest ? len[r] : longest;
    /* One sample per row of a scratch batch of the longest row, then moved into place. */
    vt_batch flat = {0}, b = {0};
    int rc = measure(&flat, samples, n, 1);
    b.B = rows, b.T = (int)longest, b.patch_dim = flat.patch_dim, b.n_patches = flat.n_patches;
    b.n_images = flat.n_images, b.n_real_tokens = flat.n_real_tokens, b.n_targets = flat.n_targets;
    size_t bt = (size_t)b.B * b.T;
    if (rc == 0) {
        b.input_ids = malloc(bt * sizeof *b.input_ids);
        b.attention_mask = calloc(bt, sizeof *b.attention_mask);
        b.segments = calloc(bt, sizeof *b.segments);
        b.pixel_values = b.n_patches ? malloc(b.n_patches * b.patch_dim * sizeof(float)) : NULL;
        b.grid_thw = b.n_images ? malloc(b.n_images * 3 * sizeof(int32_t)) : NULL;
        b.loss_positions = malloc((b.n_targets ? b.n_targets : 1) * sizeof(int32_t));
        b.targets = malloc((b.n_targets ? b.n_targets : 1) * sizeof(int32_t));
        if (!b.input_ids || !b.attention_mask || !b.segments || (b.n_patches && !b.pixel_values) ||
            (b.n_images && !b.grid_thw) || !b.loss_positions || !b.targets)
            rc = vt_err("out of memory for a packed batch of %d × %d tokens", b.B, b.T);
    }
    if (rc) {
        free(len);
        vt_batch_clear(&b);
        return -1;
    }
    for (size_t i = 0; i < bt; i++) b.input_ids[i] = pad_id;
    size_t patch = 0, image = 0, target = 0, at = 0;
    int segment = 0;
    for (size_t i = 0; i < n; i++) {
        const vt_encoded *s = samples[i];
        if (i == 0 || row_of[i] != row_of[i - 1]) at = 0, segment = 0;
        segment++;
        size_t base = (size_t)row_of[i] * b.T + at;
        memcpy(b.input_ids + base, s->ids, s->n_tokens * sizeof(int32_t));
        for (size_t t = 0; t < s->n_tokens; t++) b.attention_mask[base + t] = 1, b.segments[base + t] = segment;
        target += vt_example_targets(s, base, b.loss_positions + target, b.targets + target);
        if (s->n_patches) memcpy(b.pixel_values + patch * b.patch_dim, s->pixel_values,
                                 s->n_patches * b.patch_dim * sizeof(float));
        if (s->n_images) memcpy(b.grid_thw + image * 3, s->grid_thw, s->n_images * 3 * sizeof(int32_t));
        patch += s->n_patches, image += s->n_images, at += PADDED(s->n_tokens);
    }
#undef PADDED
    free(len);
    *out = b;
    return 0;
}

/* rowset.c — row sets in memory and on disk (see rowset.h for the format). */
#include "data/rowset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx/mx.h"
#include "util/error.h"

static const char FORMAT[] = "vlmtune-rows/1";

int vt_rows_append(vt_rows *r, vt_encoded *e, size_t line) {
    vt_encoded *rows = realloc(r->rows, (r->n + 1) * sizeof *rows);
    if (rows) r->rows = rows;
    size_t *lengths = realloc(r->lengths, (r->n + 1) * sizeof *lengths);
    if (lengths) r->lengths = lengths;
    size_t *lines = realloc(r->lines, (r->n + 1) * sizeof *lines);
    if (lines) r->lines = lines;
    if (!rows || !lengths || !lines) return vt_err("out of memory");
    r->rows[r->n] = *e, r->lengths[r->n] = e->n_tokens, r->lines[r->n] = line;
    *e = (vt_encoded){0};
    r->n++;
    return 0;
}

void vt_rows_free(vt_rows *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) vt_encoded_clear(&r->rows[i]);
    free(r->rows), free(r->lengths), free(r->lines);
    *r = (vt_rows){0};
}

/* ------------------------------------------------------------- writing ---- */

typedef enum { F_IDS, F_MASK, F_PIXELS, F_GRID } row_field;

/* One row's array for `f`, its element count and element size. */
static const void *field_of(const vt_encoded *e, row_field f, size_t *count, size_t *elem) {
    switch (f) {
    case F_IDS: *count = e->n_tokens, *elem = sizeof(int32_t); return e->ids;
    case F_MASK: *count = e->n_tokens, *elem = 1; return e->loss_mask;
    case F_PIXELS: *count = e->n_patches * e->patch_dim, *elem = sizeof(float); return e->pixel_values;
    default: *count = e->n_images * 3, *elem = sizeof(int32_t); return e->grid_thw;
    }
}

/* Every row's `f` concatenated into one new buffer (*total elements). */
static void *concat(const vt_rows *rows, row_field f, size_t *total) {
    size_t n = 0, count, elem = 1;
    for (size_t r = 0; r < rows->n; r++) field_of(&rows->rows[r], f, &count, &elem), n += count;
    char *all = malloc(n ? n * elem : 1);
    if (!all) return NULL;
    size_t at = 0;
    for (size_t r = 0; r < rows->n; r++) {
        const void *src = field_of(&rows->rows[r], f, &count, &elem);
        if (count) memcpy(all + at * elem, src, count * elem);
        at += count;
    }
    *total = n;
    return all;
}

/* Adds tensor `name` holding `count` elements of `data`, `width` to a row, to t. */
static int put(mx_tensors *t, const char *name, const void *data, size_t count, size_t width, mx_dtype dt) {
    int shape[2] = {(int)(count / width), (int)width};
    mx_array a;
    TRY(mx_from_data(&a, data, shape, width > 1 ? 2 : 1, dt));
    return mx_tensors_set(t, name, a);
}

static size_t patch_dim_of(const vt_rows *rows) {
    for (size_t r = 0; r < rows->n; r++)
        if (rows->rows[r].n_patches) return rows->rows[r].patch_dim;
    return 1;
}

static int put_rows(mx_tensors *t, const vt_rows *rows) {
    static const struct {
        const char *name;
        row_field field;
        mx_dtype dtype;
    } parts[] = {{"input_ids", F_IDS, MX_INT32}, {"loss_mask", F_MASK, MX_UINT8},
                 {"pixel_values", F_PIXELS, MX_FLOAT32}, {"image_grid_thw", F_GRID, MX_INT32}};
    size_t widths[] = {1, 1, patch_dim_of(rows), 3};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        size_t total;
        void *all = concat(rows, parts[i].field, &total);
        if (!all) return vt_err("out of memory");
        int rc = total ? put(t, parts[i].name, all, total, widths[i], parts[i].dtype) : 0;
        free(all);
        TRY(rc);
    }
    return 0;
}

static int put_offsets(mx_tensors *t, const vt_rows *rows) {
    size_t n = rows->n;
    int32_t *off = malloc(3 * (n + 1) * sizeof *off), *lines = malloc((n + 1) * sizeof *lines);
    if (!off || !lines) {
        free(off), free(lines);
        return vt_err("out of memory");
    }
    int32_t *tok = off, *pat = off + n + 1, *img = off + 2 * (n + 1);
    tok[0] = pat[0] = img[0] = 0;
    for (size_t r = 0; r < n; r++) {
        tok[r + 1] = tok[r] + (int32_t)rows->rows[r].n_tokens;
        pat[r + 1] = pat[r] + (int32_t)rows->rows[r].n_patches;
        img[r + 1] = img[r] + (int32_t)rows->rows[r].n_images;
        lines[r] = (int32_t)rows->lines[r];
    }
    int rc = put(t, "token_offsets", tok, n + 1, 1, MX_INT32) || put(t, "patch_offsets", pat, n + 1, 1, MX_INT32) ||
             put(t, "image_offsets", img, n + 1, 1, MX_INT32) || (n && put(t, "lines", lines, n, 1, MX_INT32));
    free(off), free(lines);
    return rc;
}

int vt_rows_save(const vt_rows *rows, const char *path, const char *source) {
    mx_arena *scope = mx_scope_begin();
    mx_tensors *t = NULL;
    char count[32], skipped[32];
    snprintf(count, sizeof count, "%zu", rows->n);
    snprintf(skipped, sizeof skipped, "%zu", rows->skipped);
    int rc = mx_tensors_new(&t) || put_rows(t, rows) || put_offsets(t, rows) ||
             mx_tensors_meta_set(t, "format", FORMAT) || mx_tensors_meta_set(t, "rows", count) ||
             mx_tensors_meta_set(t, "skipped", skipped) || (source && mx_tensors_meta_set(t, "source", source)) ||
             mx_save_safetensors(path, t);
    mx_tensors_free(t);
    mx_scope_end(scope);
    return rc;
}

/* ------------------------------------------------------------- reading ---- */

/* Copies `n` elements of tensor `name` from element `from` into a new buffer. */
static int take(const mx_tensors *t, const char *name, size_t from, size_t n, size_t elem, void **out) {
    mx_array a = mx_tensors_get(t, name);
    *out = NULL;
    if (n == 0) return 0;
    if (!a || mx_size(a) < from + n || mx_dtype_size(mx_dtype_of(a)) != elem)
        return vt_err("tensor '%s' is missing, short or of the wrong type", name);
    mx_array flat, s;
    int start = (int)from, stop = (int)(from + n);
    TRY(mx_reshape(&flat, a, (int[]){-1}, 1));
    TRY(mx_slice(&s, flat, &start, &stop, NULL, 1));
    if (!(*out = malloc(n * elem))) return vt_err("out of memory");
    return mx_to_host(s, *out, n * elem);
}

static int check_offsets(const int32_t *off, size_t n, size_t total, const char *name) {
    if (off[0] != 0) return vt_err("%s must start at 0", name);
    for (size_t r = 0; r < n; r++)
        if (off[r + 1] < off[r]) return vt_err("%s falls at row %zu", name, r);
    if ((size_t)off[n] != total) return vt_err("%s ends at %d, the data holds %zu", name, off[n], total);
    return 0;
}

static size_t size_of(const mx_tensors *t, const char *name, size_t per_row) {
    mx_array a = mx_tensors_get(t, name);
    return a ? mx_size(a) / per_row : 0;
}

static int read_rows(vt_rows *rows, const mx_tensors *t) {
    const char *fmt = mx_tensors_meta_get(t, "format"), *skipped = mx_tensors_meta_get(t, "skipped");
    mx_array offs = mx_tensors_get(t, "token_offsets"), px = mx_tensors_get(t, "pixel_values");
    if (!fmt || strcmp(fmt, FORMAT) || !offs || mx_size(offs) < 1)
        return vt_err("not a row set (metadata format \"%s\" with token_offsets expected)", FORMAT);
    size_t n = mx_size(offs) - 1, patch_dim = px && mx_ndim(px) == 2 ? (size_t)mx_dim(px, 1) : 0;
    int32_t *tok = NULL, *pat = NULL, *img = NULL, *lines = NULL;
    int rc = take(t, "token_offsets", 0, n + 1, 4, (void **)&tok) || take(t, "patch_offsets", 0, n + 1, 4, (void **)&pat) ||
             take(t, "image_offsets", 0, n + 1, 4, (void **)&img) ||
             (mx_tensors_get(t, "lines") && take(t, "lines", 0, n, 4, (void **)&lines));
    if (rc == 0)
        rc = check_offsets(tok, n, size_of(t, "input_ids", 1), "token_offsets") ||
             check_offsets(pat, n, patch_dim ? size_of(t, "pixel_values", patch_dim) : 0, "patch_offsets") ||
             check_offsets(img, n, size_of(t, "image_grid_thw", 3), "image_offsets");
    for (size_t r = 0; rc == 0 && r < n; r++) {
        vt_encoded e = {.n_tokens = (size_t)(tok[r + 1] - tok[r]), .n_patches = (size_t)(pat[r + 1] - pat[r]),
                        .n_images = (size_t)(img[r + 1] - img[r]), .patch_dim = patch_dim};
        rc = take(t, "input_ids", (size_t)tok[r], e.n_tokens, 4, (void **)&e.ids) ||
             take(t, "loss_mask", (size_t)tok[r], e.n_tokens, 1, (void **)&e.loss_mask) ||
             take(t, "pixel_values", (size_t)pat[r] * patch_dim, e.n_patches * patch_dim, 4, (void **)&e.pixel_values) ||
             take(t, "image_grid_thw", (size_t)img[r] * 3, e.n_images * 3, 4, (void **)&e.grid_thw) ||
             vt_rows_append(rows, &e, lines ? (size_t)lines[r] : r + 1);
        vt_encoded_clear(&e);
    }
    if (rc == 0 && skipped) rows->skipped = (size_t)atol(skipped);
    free(tok), free(pat), free(img), free(lines);
    return rc;
}

int vt_rows_read(vt_rows *out, const char *path) {
    *out = (vt_rows){0};
    mx_tensors *t;
    TRY(mx_load_safetensors(&t, path));
    mx_arena *scope = mx_scope_begin();
    int rc = read_rows(out, t);
    mx_scope_end(scope);
    mx_tensors_free(t);
    if (rc) {
        vt_rows_free(out);
        return vt_err_context("%s", path);
    }
    return 0;
}

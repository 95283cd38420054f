/* rows.c — dataset file → encoded rows (validated, length-checked). */
#include "train/rows.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "mlx/mx.h"
#include "text/chat.h"
#include "train/dataset.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mix.h"

void vt_rows_free(vt_rows *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) vt_encoded_clear(&r->rows[i]);
    free(r->rows), free(r->lengths), free(r->lines);
    *r = (vt_rows){0};
}

int vt_encode_sample(const vt_sample *s, const vt_tokenizer *tok, const vt_image_config *ic, bool generation_prompt,
                     vt_encoded *e) {
    int counts[256];
    size_t n = 0;
    *e = (vt_encoded){0};
    for (size_t m = 0; m < s->n_messages; m++)
        for (size_t k = 0; k < s->messages[m].n_parts; k++) {
            const vt_part *part = &s->messages[m].parts[k];
            if (part->kind != VT_PART_IMAGE) continue;
            if (n == 256) return vt_err("more than 256 images in one row");
            vt_image img;
            vt_image_patches p;
            TRY(vt_image_load(&img, part->text, ic));
            int rc = vt_image_preprocess(&img, ic, &p);
            vt_image_free(&img);
            if (rc) return vt_err_context("%s", part->text);
            counts[n++] = p.n_tokens;
            size_t add = (size_t)p.n_patches * p.patch_dim;
            float *px = realloc(e->pixel_values, (e->n_patches * p.patch_dim + add) * sizeof(float));
            int32_t *g = realloc(e->grid_thw, (e->n_images + 1) * 3 * sizeof(int32_t));
            if (px) e->pixel_values = px;
            if (g) e->grid_thw = g;
            if (!px || !g) {
                vt_image_patches_free(&p);
                return vt_err("out of memory");
            }
            memcpy(e->pixel_values + e->n_patches * p.patch_dim, p.pixel_values, add * sizeof(float));
            g[3 * e->n_images] = p.grid_t, g[3 * e->n_images + 1] = p.grid_h, g[3 * e->n_images + 2] = p.grid_w;
            e->n_patches += (size_t)p.n_patches, e->n_images++, e->patch_dim = (size_t)p.patch_dim;
            vt_image_patches_free(&p);
        }
    vt_token_seq seq;
    TRY(vt_chat_render(tok, s, counts, n, generation_prompt, &seq));
    e->ids = seq.ids, e->loss_mask = seq.mask, e->n_tokens = seq.n;
    return 0;
}

static int append(vt_rows *r, const vt_encoded *e, size_t line) {
    vt_encoded *rows = realloc(r->rows, (r->n + 1) * sizeof *rows);
    if (rows) r->rows = rows;
    size_t *lengths = realloc(r->lengths, (r->n + 1) * sizeof *lengths);
    if (lengths) r->lengths = lengths;
    size_t *lines = realloc(r->lines, (r->n + 1) * sizeof *lines);
    if (lines) r->lines = lines;
    if (!rows || !lengths || !lines) return vt_err("out of memory");
    r->rows[r->n] = *e, r->lengths[r->n] = e->n_tokens, r->lines[r->n] = line;
    r->n++;
    return 0;
}

static size_t supervised(const vt_encoded *e) {
    size_t n = 0;
    for (size_t t = 1; t < e->n_tokens; t++) n += e->loss_mask[t] != 0;
    return n;
}

/* ---------------------------------------------------------------- cache ---- */

enum { ROWS_FORMAT = 1 };

static int cache_key(const vt_rows_options *o, const vt_dataset *ds, char key[17]) {
    char *bytes;
    size_t len;
    TRY(vt_read_file(o->path, &bytes, &len));
    uint64_t h = vt_fnv1a(VT_FNV_START, bytes, len);
    free(bytes);
    TRY(vt_read_file(o->tokenizer_file, &bytes, &len));
    h = vt_fnv1a(h, bytes, len);
    free(bytes);
    const vt_image_config *ic = o->images;
    long settings[] = {ROWS_FORMAT, ic->min_pixels, ic->max_pixels, ic->patch, ic->merge, ic->temporal,
                       o->max_seq_length, o->strict};
    h = vt_fnv1a(h, settings, sizeof settings);
    h = vt_fnv1a(h, ic->mean, sizeof ic->mean);
    h = vt_fnv1a(h, ic->std, sizeof ic->std);
    for (size_t i = 0; i < ds->n_samples; i++)
        for (size_t m = 0; m < ds->samples[i].n_messages; m++)
            for (size_t k = 0; k < ds->samples[i].messages[m].n_parts; k++) {
                const vt_part *p = &ds->samples[i].messages[m].parts[k];
                struct stat st;
                if (p->kind != VT_PART_IMAGE) continue;
                h = vt_fnv1a(h, p->text, strlen(p->text) + 1);
                if (stat(p->text, &st) == 0) {
                    long meta[] = {(long)st.st_size, (long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec};
                    h = vt_fnv1a(h, meta, sizeof meta);
                }
            }
    snprintf(key, 17, "%016llx", (unsigned long long)h);
    return 0;
}

typedef enum { F_IDS, F_MASK, F_PIXELS, F_GRID } row_field;

/* One row's array for `f`, its element count and element size. */
static const void *field_of(const vt_encoded *e, row_field f, size_t patch_dim, size_t *count, size_t *elem) {
    switch (f) {
    case F_IDS: *count = e->n_tokens, *elem = sizeof(int32_t); return e->ids;
    case F_MASK: *count = e->n_tokens, *elem = 1; return e->loss_mask;
    case F_PIXELS: *count = e->n_patches * patch_dim, *elem = sizeof(float); return e->pixel_values;
    default: *count = e->n_images * 3, *elem = sizeof(int32_t); return e->grid_thw;
    }
}

/* Every row's `f` concatenated into one new buffer (*total elements). */
static void *concat(const vt_rows *rows, row_field f, size_t patch_dim, size_t *total) {
    size_t n = 0, count, elem = 1;
    for (size_t r = 0; r < rows->n; r++) field_of(&rows->rows[r], f, patch_dim, &count, &elem), n += count;
    char *all = malloc(n ? n * elem : 1);
    if (!all) return NULL;
    size_t at = 0;
    for (size_t r = 0; r < rows->n; r++) {
        const void *src = field_of(&rows->rows[r], f, patch_dim, &count, &elem);
        if (count) memcpy(all + at * elem, src, count * elem);
        at += count;
    }
    *total = n;
    return all;
}

/* Adds tensor `name` holding `count` elements of `data` to t. */
static int put(mx_tensors *t, const char *name, const void *data, size_t count, int width, mx_dtype dt) {
    int shape[2] = {(int)(count / (size_t)width), width};
    mx_array a;
    TRY(mx_from_data(&a, data, shape, width > 1 ? 2 : 1, dt));
    return mx_tensors_set(t, name, a);
}

static int cache_save(const vt_rows *rows, const char *path, size_t patch_dim) {
    mx_arena *scope = mx_scope_begin();
    mx_tensors *t = NULL;
    void *all = NULL;
    size_t total;
    int rc = mx_tensors_new(&t);
    int32_t *off = malloc(3 * (rows->n + 1) * sizeof *off), *lines = malloc((rows->n + 1) * sizeof *lines);
    if (rc || !off || !lines) goto oom;
    int32_t *tok = off, *pat = off + rows->n + 1, *img = off + 2 * (rows->n + 1);
    tok[0] = pat[0] = img[0] = 0;
    for (size_t r = 0; r < rows->n; r++) {
        tok[r + 1] = tok[r] + (int32_t)rows->rows[r].n_tokens;
        pat[r + 1] = pat[r] + (int32_t)rows->rows[r].n_patches;
        img[r + 1] = img[r] + (int32_t)rows->rows[r].n_images;
        lines[r] = (int32_t)rows->lines[r];
    }
    static const struct {
        const char *name;
        row_field field;
        int width;
        mx_dtype dtype;
    } parts[] = {{"input_ids", F_IDS, 1, MX_INT32}, {"loss_mask", F_MASK, 1, MX_UINT8},
                 {"pixel_values", F_PIXELS, 0, MX_FLOAT32}, {"image_grid_thw", F_GRID, 3, MX_INT32}};
    for (size_t i = 0; rc == 0 && i < sizeof parts / sizeof *parts; i++) {
        if (!(all = concat(rows, parts[i].field, patch_dim, &total))) goto oom;
        int width = parts[i].width ? parts[i].width : (int)patch_dim;
        if (total) rc = put(t, parts[i].name, all, total, width, parts[i].dtype);
        free(all), all = NULL;
    }
    char skipped[32];
    snprintf(skipped, sizeof skipped, "%zu", rows->skipped);
    if (rc == 0)
        rc = put(t, "token_offsets", tok, rows->n + 1, 1, MX_INT32) || put(t, "patch_offsets", pat, rows->n + 1, 1, MX_INT32) ||
             put(t, "image_offsets", img, rows->n + 1, 1, MX_INT32) || put(t, "lines", lines, rows->n ? rows->n : 1, 1, MX_INT32) ||
             mx_tensors_meta_set(t, "format", "vlmtune-rows/1") || mx_tensors_meta_set(t, "skipped", skipped) ||
             mx_save_safetensors(path, t);
    goto done;
oom:
    rc = vt_err("out of memory");
done:
    free(all), free(off), free(lines);
    mx_tensors_free(t);
    mx_scope_end(scope);
    return rc;
}

/* Copies `n` elements of tensor `name` from element `from` into a new buffer. */
static int take(const mx_tensors *t, const char *name, size_t from, size_t n, size_t elem, void **out) {
    mx_array a = mx_tensors_get(t, name);
    *out = NULL;
    if (n == 0) return 0;
    if (!a || mx_size(a) < from + n) return vt_err("cache: tensor '%s' is missing or short", name);
    mx_array s;
    int start = (int)from, stop = (int)(from + n);
    mx_array flat;
    TRY(mx_reshape(&flat, a, (int[]){-1}, 1));
    TRY(mx_slice(&s, flat, &start, &stop, NULL, 1));
    if (!(*out = malloc(n * elem))) return vt_err("out of memory");
    return mx_to_host(s, *out, n * elem);
}

static int cache_load(vt_rows *rows, const char *path, const vt_image_config *ic) {
    mx_tensors *t;
    TRY(mx_load_safetensors(&t, path));
    mx_arena *scope = mx_scope_begin();
    int rc = 0;
    const char *fmt = mx_tensors_meta_get(t, "format"), *skipped = mx_tensors_meta_get(t, "skipped");
    mx_array offs = mx_tensors_get(t, "token_offsets");
    if (!fmt || strcmp(fmt, "vlmtune-rows/1") || !offs || !skipped) rc = vt_err("cache %s: not a rows file", path);
    size_t n = rc ? 0 : mx_size(offs) - 1, patch_dim = (size_t)3 * ic->temporal * ic->patch * ic->patch;
    int32_t *tok = NULL, *pat = NULL, *img = NULL, *lines = NULL;
    if (rc == 0)
        rc = take(t, "token_offsets", 0, n + 1, 4, (void **)&tok) || take(t, "patch_offsets", 0, n + 1, 4, (void **)&pat) ||
             take(t, "image_offsets", 0, n + 1, 4, (void **)&img) || take(t, "lines", 0, n, 4, (void **)&lines);
    for (size_t r = 0; rc == 0 && r < n; r++) {
        vt_encoded e = {.n_tokens = (size_t)(tok[r + 1] - tok[r]), .n_patches = (size_t)(pat[r + 1] - pat[r]),
                        .n_images = (size_t)(img[r + 1] - img[r]), .patch_dim = patch_dim};
        rc = take(t, "input_ids", (size_t)tok[r], e.n_tokens, 4, (void **)&e.ids) ||
             take(t, "loss_mask", (size_t)tok[r], e.n_tokens, 1, (void **)&e.loss_mask) ||
             take(t, "pixel_values", (size_t)pat[r] * patch_dim, e.n_patches * patch_dim, 4, (void **)&e.pixel_values) ||
             take(t, "image_grid_thw", (size_t)img[r] * 3, e.n_images * 3, 4, (void **)&e.grid_thw);
        if (rc == 0) rc = append(rows, &e, (size_t)lines[r]);
        if (rc) vt_encoded_clear(&e);
    }
    if (rc == 0) rows->skipped = (size_t)atol(skipped);
    free(tok), free(pat), free(img), free(lines);
    mx_scope_end(scope);
    mx_tensors_free(t);
    if (rc) vt_rows_free(rows);
    return rc;
}

/* ------------------------------------------------------------ encoding ---- */

/* Encodes every row; bad rows are reported to the log and counted, too-long ones skipped. */
static int encode_all(vt_rows *out, const vt_dataset *ds, const vt_rows_options *o, size_t *bad) {
    for (size_t i = 0; i < ds->n_samples; i++) {
        const vt_sample *s = &ds->samples[i];
        vt_encoded e;
        int rc = vt_encode_sample(s, o->tokenizer, o->images, false, &e);
        if (rc == 0 && supervised(&e) == 0) rc = vt_err("the row has no assistant tokens to learn from");
        if (rc == 0 && o->max_seq_length > 0 && e.n_tokens > (size_t)o->max_seq_length) {
            if (o->strict) {
                rc = vt_err("%zu tokens (images included) exceed max_seq_length %d", e.n_tokens, o->max_seq_length);
            } else {
                if (o->log)
                    fprintf(o->log, "warning: %s:%zu: skipped: %zu tokens (images included) exceed max_seq_length %d\n",
                            o->path, s->line, e.n_tokens, o->max_seq_length);
                out->skipped++;
                vt_encoded_clear(&e);
                continue;
            }
        }
        if (rc == 0 && append(out, &e, s->line)) return -1;
        if (rc) {
            vt_encoded_clear(&e);
            vt_err_context("%s:%zu", o->path, s->line);
            if (!o->log) return -1;
            fprintf(o->log, "error: %s\n", vt_errmsg());
            ++*bad;
        }
    }
    return 0;
}

int vt_rows_load(vt_rows *out, const vt_rows_options *o) {
    *out = (vt_rows){0};
    vt_dataset *ds;
    size_t bad = 0;
    TRY(vt_dataset_load_checked(&ds, o->path, o->log, o->log ? &bad : NULL));
    char key[17] = "", cache[4200] = "";
    int rc = 0;
    if (o->cache_dir && o->tokenizer_file && bad == 0) {
        rc = cache_key(o, ds, key) || vt_mkdir_p(o->cache_dir);
        snprintf(cache, sizeof cache, "%s/rows-%s.safetensors", o->cache_dir, key);
        if (rc == 0 && vt_path_exists(cache)) {
            if (cache_load(out, cache, o->images) == 0) {
                out->from_cache = true;
                if (o->log) fprintf(o->log, "%s: %zu rows from the cache %s\n", o->path, out->n, cache);
                vt_dataset_free(ds);
                return 0;
            }
            if (o->log) fprintf(o->log, "%s: the cache %s is unreadable (%s): rebuilding it\n", o->path, cache, vt_errmsg());
        }
    }
    size_t total = ds->n_samples + bad; /* rows parsed + rows that did not parse */
    if (rc == 0) rc = encode_all(out, ds, o, &bad);
    vt_dataset_free(ds);
    if (rc == 0 && bad) rc = vt_err("%s: %zu of %zu rows are invalid (each is listed above)", o->path, bad, total);
    if (rc == 0 && out->skipped && o->log)
        fprintf(o->log, "%s: %zu of %zu rows skipped for their length\n", o->path, out->skipped, total);
    if (rc == 0 && *cache && out->n) {
        size_t patch_dim = (size_t)3 * o->images->temporal * o->images->patch * o->images->patch;
        if (cache_save(out, cache, patch_dim)) rc = vt_err_context("writing the cache %s", cache);
    }
    if (rc) vt_rows_free(out);
    return rc;
}

const char *vt_rows_cache_dir(const char *setting, const char *data_path, char *buf, size_t cap) {
    if (setting && !strcmp(setting, "none")) return NULL;
    if (setting && *setting) {
        snprintf(buf, cap, "%s", setting);
        return buf;
    }
    const char *slash = strrchr(data_path, '/');
    if (!slash) snprintf(buf, cap, ".vlmtune-cache");
    else snprintf(buf, cap, "%.*s/.vlmtune-cache", (int)(slash - data_path), data_path);
    return buf;
}

/* `vlmtune encode` — every row of a dataset as exactly what the model and the loss receive.
 *
 *   vlmtune encode --model DIR --data FILE.jsonl --out OUT.safetensors [--tokenizer PATH]
 *                  [--min-pixels N] [--max-pixels N]
 *
 * OUT.safetensors (metadata format = "vlmtune-encoded/1", rows = R); rows are concatenated and
 * *_offsets[r] .. *_offsets[r+1] select row r:
 *   input_ids      [tokens] int32     the chat template's ids, image pads expanded
 *   loss_mask      [tokens] uint8     1 on assistant content, its <|im_end|> and the "\n" after
 *   token_offsets  [R+1] int32
 *   pixel_values   [patches, 1536] float32   (when any row has images)
 *   patch_offsets  [R+1] int32
 *   image_grid_thw [images, 3] int32
 *   image_offsets  [R+1] int32 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "mlx/mx.h"
#include "train/rows.h"
#include "util/error.h"
#include "vision/image.h"

typedef struct {
    int32_t *ids, *tok_off, *grid, *patch_off, *img_off;
    uint8_t *mask;
    float *pixels;
    size_t n_tok, n_patch, n_img, rows;
} encoded_set;

static int grow(void **p, size_t bytes) {
    void *g = realloc(*p, bytes ? bytes : 1);
    if (!g) return vt_err("out of memory");
    *p = g;
    return 0;
}

/* One row, encoded as training sees it (vt_encode_sample), appended to the set. */
static int encode_row(const vt_sample *s, const vt_tokenizer *tok, const vt_image_config *ic, encoded_set *e) {
    vt_encoded r;
    TRY(vt_encode_sample(s, tok, ic, false, &r));
    int rc = grow((void **)&e->pixels, (e->n_patch + r.n_patches) * r.patch_dim * sizeof(float)) ||
             grow((void **)&e->grid, (e->n_img + r.n_images) * 3 * sizeof(int32_t)) ||
             grow((void **)&e->ids, (e->n_tok + r.n_tokens) * sizeof(int32_t)) ||
             grow((void **)&e->mask, e->n_tok + r.n_tokens);
    if (rc == 0) {
        if (r.n_patches) memcpy(e->pixels + e->n_patch * r.patch_dim, r.pixel_values, r.n_patches * r.patch_dim * sizeof(float));
        if (r.n_images) memcpy(e->grid + 3 * e->n_img, r.grid_thw, r.n_images * 3 * sizeof(int32_t));
        memcpy(e->ids + e->n_tok, r.ids, r.n_tokens * sizeof(int32_t));
        memcpy(e->mask + e->n_tok, r.loss_mask, r.n_tokens);
        e->n_patch += r.n_patches, e->n_img += r.n_images, e->n_tok += r.n_tokens;
    }
    vt_encoded_clear(&r);
    return rc;
}

static int save_set(const encoded_set *e, const char *path, const char *source) {
    mx_arena *scope = mx_scope_begin();
    mx_tensors *t;
    int rc = mx_tensors_new(&t);
    int R1 = (int)e->rows + 1, ntok = (int)e->n_tok, np[2] = {(int)e->n_patch, 1536}, ng[2] = {(int)e->n_img, 3};
    mx_array a;
    char rows[32];
    snprintf(rows, sizeof rows, "%zu", e->rows);
#define PUT(name, data, shape, nd, dt) (mx_from_data(&a, data, shape, nd, dt) || mx_tensors_set(t, name, a))
    if (rc == 0)
        rc = PUT("input_ids", e->ids, &ntok, 1, MX_INT32) || PUT("loss_mask", e->mask, &ntok, 1, MX_UINT8) ||
             PUT("token_offsets", e->tok_off, &R1, 1, MX_INT32) || PUT("patch_offsets", e->patch_off, &R1, 1, MX_INT32) ||
             PUT("image_offsets", e->img_off, &R1, 1, MX_INT32);
    if (rc == 0 && e->n_img)
        rc = PUT("pixel_values", e->pixels, np, 2, MX_FLOAT32) || PUT("image_grid_thw", e->grid, ng, 2, MX_INT32);
#undef PUT
    if (rc == 0)
        rc = mx_tensors_meta_set(t, "format", "vlmtune-encoded/1") || mx_tensors_meta_set(t, "rows", rows) ||
             mx_tensors_meta_set(t, "source", source) || mx_save_safetensors(path, t);
    mx_tensors_free(t);
    mx_scope_end(scope);
    return rc;
}

int cmd_encode(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory (tokenizer.json, preprocessor_config.json)", true},
                        {"data", "FILE.jsonl", "dataset rows (see docs/DATA.md)", true},
                        {"out", "OUT.safetensors", "where to write the encoded rows", true},
                        {"tokenizer", "PATH", "tokenizer.json or its directory (default: the model's)", false},
                        {"min-pixels", "N", "smallest resized image area", false},
                        {"max-pixels", "N", "largest resized image area", false},
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune encode --model DIR --data FILE.jsonl --out OUT.safetensors");
    if (rc) return rc > 0 ? 0 : -1;
    vt_image_config ic;
    vt_image_config_default(&ic);
    const char *model = vt_args_value(opts, "model"), *tpath = vt_args_value(opts, "tokenizer");
    TRY(vt_image_config_load(&ic, model));
    TRY(vt_args_int(opts, "min-pixels", ic.min_pixels, 1, 1L << 40, &ic.min_pixels));
    TRY(vt_args_int(opts, "max-pixels", ic.max_pixels, 1, 1L << 40, &ic.max_pixels));
    vt_tokenizer *tok;
    TRY(vt_tokenizer_load(&tok, tpath ? tpath : model));
    vt_dataset *ds = NULL;
    encoded_set e = {0};
    rc = vt_dataset_load(&ds, vt_args_value(opts, "data"));
    if (rc == 0)
        rc = grow((void **)&e.tok_off, (ds->n_samples + 1) * sizeof(int32_t)) ||
             grow((void **)&e.patch_off, (ds->n_samples + 1) * sizeof(int32_t)) ||
             grow((void **)&e.img_off, (ds->n_samples + 1) * sizeof(int32_t));
    for (size_t r = 0; rc == 0 && r < ds->n_samples; r++) {
        e.tok_off[r] = (int32_t)e.n_tok, e.patch_off[r] = (int32_t)e.n_patch, e.img_off[r] = (int32_t)e.n_img;
        if (encode_row(&ds->samples[r], tok, &ic, &e)) rc = vt_err_context("%s:%zu", ds->path, ds->samples[r].line);
        e.rows = r + 1;
    }
    if (rc == 0) {
        e.tok_off[e.rows] = (int32_t)e.n_tok, e.patch_off[e.rows] = (int32_t)e.n_patch, e.img_off[e.rows] = (int32_t)e.n_img;
        rc = save_set(&e, vt_args_value(opts, "out"), vt_args_value(opts, "data"));
        if (rc == 0)
            printf("encoded %zu rows: %zu tokens, %zu images (%zu patches) -> %s\n", e.rows, e.n_tok, e.n_img,
                   e.n_patch, vt_args_value(opts, "out"));
    }
    free(e.ids), free(e.mask), free(e.tok_off), free(e.patch_off), free(e.img_off), free(e.grid), free(e.pixels);
    vt_dataset_free(ds);
    vt_tokenizer_free(tok);
    return rc;
}

/* `vlmtune forward` — runs the model on explicit inputs and writes the logits.
 *
 * IN.safetensors:  input_ids [B, T] int32; attention_mask [B, T] (any integer or bool
 *                  type, optional); pixel_values [N, C·T·P·P] float (optional);
 *                  image_grid_thw [I, 3] int32 (with pixel_values).
 *                  Or the output of `vlmtune encode` (input_ids [tokens] with token_offsets):
 *                  its rows become one right-padded batch.
 * OUT.safetensors: logits [B, T, vocab] float32; with --dump-vision also
 *                  vision [image tokens, hidden], deepstack.K [image tokens, hidden],
 *                  hidden [B, T, hidden] and positions [3, B, T] int32.
 * --adapter DIR applies an adapter (mlx-vlm or PEFT layout) on the fly, with the image settings it was
 * trained with (they matter only to inputs made elsewhere, e.g. by `vlmtune encode`). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/batch.h"
#include "data/rowset.h"
#include "util/fs.h"

typedef struct {
    int32_t *ids, *mask, *grid;
    int B, T, n_images;
    mx_array pixels;
} forward_inputs;

static int read_int_tensor(mx_tensors *t, const char *name, const char *path, int ndim, int32_t **out, int *d0,
                           int *d1) {
    mx_array a = mx_tensors_get(t, name);
    if (!a) return vt_err("%s: tensor '%s' is missing", path, name);
    if (mx_ndim(a) != ndim) return vt_err("%s: tensor '%s' must have %d dimensions", path, name, ndim);
    *d0 = mx_dim(a, 0), *d1 = ndim > 1 ? mx_dim(a, 1) : 1;
    *out = malloc(mx_size(a) * sizeof(int32_t) + 1);
    if (!*out) return vt_err("out of memory");
    if (mx_to_i32(a, *out, mx_size(a))) return vt_err_context("%s: %s", path, name);
    return 0;
}

/* A row set (vlmtune encode's output) as one right-padded batch. */
static int read_encoded(const char *path, forward_inputs *in) {
    vt_rows rows;
    TRY(vt_rows_read(&rows, path));
    const vt_encoded **samples = calloc(rows.n + 1, sizeof *samples);
    vt_batch b = {0};
    int rc = samples ? 0 : vt_err("out of memory");
    for (size_t i = 0; rc == 0 && i < rows.n; i++) samples[i] = &rows.rows[i];
    if (rc == 0) rc = vt_batch_make(&b, samples, rows.n, 0, 1);
    if (rc == 0 && b.n_images) {
        int shape[2] = {(int)b.n_patches, (int)b.patch_dim};
        rc = mx_from_data(&in->pixels, b.pixel_values, shape, 2, MX_FLOAT32);
    }
    if (rc == 0) {
        in->B = b.B, in->T = b.T, in->n_images = (int)b.n_images;
        in->ids = b.input_ids, in->mask = b.attention_mask, in->grid = b.grid_thw;
        b.input_ids = b.attention_mask = b.grid_thw = NULL;
    }
    vt_batch_clear(&b);
    free(samples);
    vt_rows_free(&rows);
    return rc;
}

static int read_inputs(mx_tensors *t, const char *path, forward_inputs *in) {
    if (mx_tensors_get(t, "token_offsets")) return read_encoded(path, in);
    TRY(read_int_tensor(t, "input_ids", path, 2, &in->ids, &in->B, &in->T));
    if (!in->mask && mx_tensors_get(t, "attention_mask")) {
        int b, tt;
        TRY(read_int_tensor(t, "attention_mask", path, 2, &in->mask, &b, &tt));
        if (b != in->B || tt != in->T)
            return vt_err("%s: attention_mask is [%d, %d], input_ids [%d, %d]", path, b, tt, in->B, in->T);
    }
    in->pixels = mx_tensors_get(t, "pixel_values");
    if (in->pixels) {
        int three;
        TRY(read_int_tensor(t, "image_grid_thw", path, 2, &in->grid, &in->n_images, &three));
        if (three != 3) return vt_err("%s: image_grid_thw must be [images, 3]", path);
    }
    return 0;
}

static int write_outputs(const vt_model *m, const forward_inputs *in, const vt_model_outputs *o, bool dump,
                         const char *path) {
    int H = m->config.hidden, rows[2] = {in->B * in->T, H}, pshape[3] = {3, in->B, in->T};
    mx_array flat, logits, pos;
    mx_tensors *t;
    TRY(mx_reshape(&flat, o->hidden, rows, 2));
    TRY(vt_model_logits(m, flat, &logits));
    int lshape[3] = {in->B, in->T, m->config.vocab};
    TRY(mx_reshape(&logits, logits, lshape, 3));
    TRY(mx_tensors_new(&t));
    int rc = mx_tensors_set(t, "logits", logits);
    if (rc == 0 && dump) {
        rc = mx_tensors_set(t, "hidden", o->hidden) || mx_from_data(&pos, o->positions, pshape, 3, MX_INT32) ||
             mx_tensors_set(t, "positions", pos);
        if (rc == 0 && o->vision.merged) rc = mx_tensors_set(t, "vision", o->vision.merged);
        for (int k = 0; rc == 0 && o->vision.merged && k < o->vision.n_deepstack; k++) {
            char name[32];
            snprintf(name, sizeof name, "deepstack.%d", k);
            rc = mx_tensors_set(t, name, o->vision.deepstack[k]);
        }
    }
    if (rc == 0) rc = mx_tensors_meta_set(t, "producer", "vlmtune forward") || mx_save_safetensors(path, t);
    mx_tensors_free(t);
    return rc;
}

int cmd_forward(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory", true},
                        {"inputs", "IN.safetensors", "input_ids, attention_mask, pixel_values, image_grid_thw", true},
                        {"out", "OUT.safetensors", "where to write logits [B, T, vocab] float32", true},
                        {"adapter", "DIR", "adapter directory (mlx-vlm or PEFT layout)", false},
                        {"dump-vision", NULL, "also write vision, deepstack.K, hidden and positions", false},
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune forward --model DIR --inputs IN.safetensors --out OUT.safetensors");
    if (rc) return rc > 0 ? 0 : -1;
    const char *inputs[] = {vt_args_value(opts, "inputs"), vt_args_value(opts, "model"), vt_args_value(opts, "adapter")};
    TRY(vt_check_out_file(vt_args_value(opts, "out"), "--out", inputs, 3));
    vt_session s;
    TRY(vt_args_session(opts, true, false, &s));
    mx_tensors *t = NULL;
    forward_inputs in = {0};
    vt_model_outputs o = {0};
    mx_arena *scope = mx_scope_begin();
    const char *path = vt_args_value(opts, "inputs");
    rc = mx_load_safetensors(&t, path) || read_inputs(t, path, &in);
    if (rc == 0) {
        vt_model_inputs mi = {in.B, in.T, in.ids, in.mask, in.pixels, in.grid, in.n_images};
        rc = vt_model_forward(s.model, &mi, &o) ||
             write_outputs(s.model, &in, &o, vt_args_flag(opts, "dump-vision"), vt_args_value(opts, "out"));
    }
    vt_model_outputs_clear(&o);
    free(in.ids), free(in.mask), free(in.grid);
    mx_tensors_free(t);
    mx_scope_end(scope);
    vt_session_close(&s);
    return rc;
}

/* `vlmtune encode` — every row of a dataset as exactly what the model and the loss receive.
 *
 *   vlmtune encode --model DIR --data FILE.jsonl --out OUT.safetensors [--tokenizer PATH]
 *                  [--image-min-pixels N] [--image-max-pixels N]
 *
 * OUT.safetensors is a row set (src/data/rowset.h, docs/DATA.md): the rows' token ids, loss masks,
 * pixel values and image grids, concatenated, with offsets per row.  `vlmtune forward` reads it. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "data/rowset.h"
#include "util/error.h"
#include "util/fs.h"

static int encode_all(const vt_dataset *ds, const vt_tokenizer *tok, const vt_image_config *ic, vt_rows *rows) {
    for (size_t r = 0; r < ds->n_samples; r++) {
        vt_encoded e;
        if (vt_encode_sample(&ds->samples[r], tok, ic, false, &e) || vt_rows_append(rows, &e, ds->samples[r].line)) {
            vt_encoded_clear(&e);
            return vt_err_context("%s:%zu", ds->path, ds->samples[r].line);
        }
    }
    return 0;
}

int cmd_encode(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory (tokenizer.json, preprocessor_config.json)", true},
                        {"data", "FILE.jsonl", "dataset rows (see docs/DATA.md)", true},
                        {"out", "OUT.safetensors", "where to write the encoded rows", true},
                        {"tokenizer", "PATH", "tokenizer.json or its directory (default: the model's)", false},
                        VT_IMAGE_OPTIONS,
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune encode --model DIR --data FILE.jsonl --out OUT.safetensors");
    if (rc) return rc > 0 ? 0 : -1;
    const char *model = vt_args_value(opts, "model"), *tpath = vt_args_value(opts, "tokenizer");
    const char *data = vt_args_value(opts, "data"), *out = vt_args_value(opts, "out");
    const char *inputs[] = {data, model, tpath};
    TRY(vt_check_out_file(out, "--out", inputs, 3));
    vt_image_config ic;
    TRY(vt_args_image_config(opts, model, &ic));
    vt_tokenizer *tok;
    TRY(vt_tokenizer_load(&tok, tpath ? tpath : model));
    vt_dataset *ds = NULL;
    vt_rows rows = {0};
    rc = vt_dataset_load(&ds, data) || encode_all(ds, tok, &ic, &rows) || vt_rows_save(&rows, out, data);
    if (rc == 0) {
        size_t tokens = 0, images = 0, patches = 0;
        for (size_t r = 0; r < rows.n; r++)
            tokens += rows.rows[r].n_tokens, images += rows.rows[r].n_images, patches += rows.rows[r].n_patches;
        printf("encoded %zu rows: %zu tokens, %zu images (%zu patches) -> %s\n", rows.n, tokens, images, patches, out);
    }
    vt_rows_free(&rows);
    vt_dataset_free(ds);
    vt_tokenizer_free(tok);
    return rc;
}

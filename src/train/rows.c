/* rows.c — dataset file → encoded rows (validated, length-checked). */
#include "train/rows.h"

#include <stdlib.h>
#include <string.h>

#include "text/chat.h"
#include "train/dataset.h"
#include "util/error.h"

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

int vt_rows_load(vt_rows *out, const vt_rows_options *o) {
    *out = (vt_rows){0};
    vt_dataset *ds;
    TRY(vt_dataset_load(&ds, o->path));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ds->n_samples; i++) {
        const vt_sample *s = &ds->samples[i];
        vt_encoded e;
        rc = vt_encode_sample(s, o->tokenizer, o->images, false, &e);
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
        if (rc == 0) rc = append(out, &e, s->line);
        if (rc) {
            vt_encoded_clear(&e);
            vt_err_context("%s:%zu", o->path, s->line);
        }
    }
    vt_dataset_free(ds);
    if (rc == 0 && out->skipped && o->log)
        fprintf(o->log, "%s: %zu of %zu rows skipped for their length\n", o->path, out->skipped, out->skipped + out->n);
    if (rc) vt_rows_free(out);
    return rc;
}

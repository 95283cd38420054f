/* example.c — a conversation to token ids, loss mask and image patches. */
#include "data/example.h"

#include <stdlib.h>
#include <string.h>

#include "text/chat.h"
#include "util/error.h"

void vt_encoded_clear(vt_encoded *e) {
    if (!e) return;
    free(e->ids);
    free(e->loss_mask);
    free(e->pixel_values);
    free(e->grid_thw);
    *e = (vt_encoded){0};
}

size_t vt_example_targets(const vt_encoded *e, size_t offset, int32_t *positions, int32_t *targets) {
    size_t n = 0;
    for (size_t t = 0; t + 1 < e->n_tokens; t++) {
        if (!e->loss_mask[t + 1]) continue;
        if (positions) positions[n] = (int32_t)(offset + t);
        if (targets) targets[n] = e->ids[t + 1];
        n++;
    }
    return n;
}

/* Appends one preprocessed image to e. */
static int append_image(vt_encoded *e, const vt_image_patches *p) {
    size_t add = (size_t)p->n_patches * p->patch_dim;
    float *px = realloc(e->pixel_values, (e->n_patches * p->patch_dim + add) * sizeof(float));
    if (px) e->pixel_values = px;
    int32_t *g = realloc(e->grid_thw, (e->n_images + 1) * 3 * sizeof(int32_t));
    if (g) e->grid_thw = g;
    if (!px || !g) return vt_err("out of memory");
    memcpy(e->pixel_values + e->n_patches * p->patch_dim, p->pixel_values, add * sizeof(float));
    g[3 * e->n_images] = p->grid_t, g[3 * e->n_images + 1] = p->grid_h, g[3 * e->n_images + 2] = p->grid_w;
    e->n_patches += (size_t)p->n_patches, e->n_images++, e->patch_dim = (size_t)p->patch_dim;
    return 0;
}

int vt_encode_sample(const vt_sample *s, const vt_tokenizer *tok, const vt_image_config *ic, bool generation_prompt,
                     vt_encoded *e) {
    enum { MAX_IMAGES = 256 };
    int counts[MAX_IMAGES];
    size_t n = 0;
    int rc = 0;
    *e = (vt_encoded){0};
    for (size_t m = 0; rc == 0 && m < s->n_messages; m++)
        for (size_t k = 0; rc == 0 && k < s->messages[m].n_parts; k++) {
            const vt_part *part = &s->messages[m].parts[k];
            if (part->kind != VT_PART_IMAGE) continue;
            if (n == MAX_IMAGES) {
                rc = vt_err("more than %d images in one row", MAX_IMAGES);
                break;
            }
            vt_image img;
            vt_image_patches p;
            if (vt_image_load(&img, part->text, ic)) {
                rc = -1;
                break;
            }
            rc = vt_image_preprocess(&img, ic, &p);
            vt_image_free(&img);
            if (rc) {
                rc = vt_err_context("%s", part->text);
                break;
            }
            counts[n++] = p.n_tokens;
            rc = append_image(e, &p);
            vt_image_patches_free(&p);
        }
    vt_token_seq seq;
    if (rc == 0) rc = vt_chat_render(tok, s, counts, n, generation_prompt, &seq);
    if (rc) {
        vt_encoded_clear(e);
        return -1;
    }
    e->ids = seq.ids, e->loss_mask = seq.mask, e->n_tokens = seq.n;
    return 0;
}

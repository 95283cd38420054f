/* rope_index.c — MRoPE positions for sequences holding any number of images.
 *
 * Text tokens count 0, 1, 2, ... on all three axes (t, h, w).  An image whose
 * first <|image_pad|> would get position S has llm grid (t, h/merge, w/merge);
 * its token (f, r, c) gets (S + f, S + r, S + c), and the text after it continues
 * at one more than the largest position used so far.  Padding (mask 0) is
 * skipped and gets position 1, as in the reference; it is masked out anyway. */
#include <stdlib.h>
#include <string.h>

#include "model/qwen3vl.h"

typedef struct {
    int32_t *t, *h, *w; /* this row's [T] positions */
    int next;           /* the next free position */
} row_positions;

static void put(row_positions *r, int col, int t, int h, int w) {
    r->t[col] = t, r->h[col] = h, r->w[col] = w;
    int top = t > h ? t : h;
    top = top > w ? top : w;
    if (top + 1 > r->next) r->next = top + 1;
}

/* One row.  `image` is the index of the next unused grid, advanced past this row's images. */
static int row(const vt_model_config *c, int b, const int32_t *ids, const int32_t *mask, int T, const int32_t *grid,
               int n_images, int *image, row_positions *r, int *n_valid) {
    int col = 0, valid = 0;
    for (int i = 0; i < T; i++) r->t[i] = r->h[i] = r->w[i] = 1;
    r->next = 0;
    while (col < T) {
        if (mask && !mask[col]) {
            col++;
            continue;
        }
        if (ids[col] != c->image_token_id) {
            int p = r->next;
            put(r, col++, p, p, p);
            valid++;
            continue;
        }
        if (*image >= n_images)
            return vt_err("row %d: more images in input_ids than the %d grids given in image_grid_thw", b, n_images);
        const int32_t *g = grid + 3 * *image;
        int gt = g[0], gh = g[1] / c->merge, gw = g[2] / c->merge, need = gt * gh * gw, have = 0;
        for (int j = col; j < T && ids[j] == c->image_token_id && (!mask || mask[j]); j++) have++;
        if (have != need)
            return vt_err("row %d: image %d has %d <|image_pad|> tokens but its grid (%d, %d, %d) needs %d", b, *image,
                          have, g[0], g[1], g[2], need);
        int s = r->next;
        for (int f = 0; f < gt; f++)
            for (int y = 0; y < gh; y++)
                for (int x = 0; x < gw; x++) put(r, col++, s + f, s + y, s + x);
        valid += need;
        (*image)++;
    }
    *n_valid = valid;
    return 0;
}

int vt_rope_positions(const vt_model_config *c, const int32_t *ids, const int32_t *mask, int B, int T,
                      const int32_t *grid_thw, int n_images, int32_t *pos, int32_t *deltas) {
    int image = 0;
    for (int b = 0; b < B; b++) {
        row_positions r = {pos + (size_t)b * T, pos + (size_t)(B + b) * T, pos + (size_t)(2 * B + b) * T, 0};
        int n_valid = 0;
        TRY(row(c, b, ids + (size_t)b * T, mask ? mask + (size_t)b * T : NULL, T, grid_thw, n_images, &image, &r,
                &n_valid));
        if (deltas) deltas[b] = r.next - n_valid;
    }
    if (image != n_images)
        return vt_err("image_grid_thw lists %d images but input_ids hold %d runs of <|image_pad|>", n_images, image);
    return 0;
}

/* decode_gif.c — GIF through giflib. */
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vision/decode.h"

typedef struct {
    const uint8_t *data;
    size_t len, pos;
} gif_source;

static int gif_read(GifFileType *g, GifByteType *out, int n) {
    gif_source *s = g->UserData;
    size_t k = (size_t)n < s->len - s->pos ? (size_t)n : s->len - s->pos;
    memcpy(out, s->data + s->pos, k);
    s->pos += k;
    return (int)k;
}

int vt_decode_gif(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    gif_source src = {data, len, 0};
    int error = 0;
    GifFileType *g = DGifOpen(&src, gif_read, &error);
    if (!g) return vt_err("%s: corrupt GIF: %s", name, GifErrorString(error));
    int rc = vt_decode_check_size(name, g->SWidth, g->SHeight, c);
    if (rc == 0 && DGifSlurp(g) != GIF_OK && g->ImageCount < 1)
        rc = vt_err("%s: corrupt or truncated GIF: %s", name, GifErrorString(g->Error));
    if (rc == 0 && g->ImageCount < 1) rc = vt_err("%s: GIF without a frame", name);
    if (rc == 0) {
        const SavedImage *f = &g->SavedImages[0];
        const ColorMapObject *map = f->ImageDesc.ColorMap ? f->ImageDesc.ColorMap : g->SColorMap;
        if (!map) rc = vt_err("%s: GIF without a colour table", name);
        else rc = vt_decode_alloc(img, g->SWidth, g->SHeight, name);
        if (rc == 0) {
            const GifColorType *bg = g->SBackGroundColor < map->ColorCount ? &map->Colors[g->SBackGroundColor] : NULL;
            for (size_t i = 0; i < (size_t)g->SWidth * g->SHeight; i++) {
                img->rgb[3 * i] = bg ? bg->Red : 0;
                img->rgb[3 * i + 1] = bg ? bg->Green : 0;
                img->rgb[3 * i + 2] = bg ? bg->Blue : 0;
            }
            const GifImageDesc *d = &f->ImageDesc;
            for (int y = 0; y < d->Height; y++)
                for (int x = 0; x < d->Width; x++) {
                    int X = d->Left + x, Y = d->Top + y;
                    if (X < 0 || Y < 0 || X >= g->SWidth || Y >= g->SHeight || !f->RasterBits) continue;
                    int k = f->RasterBits[(size_t)y * d->Width + x];
                    if (k >= map->ColorCount) continue;
                    uint8_t *o = img->rgb + ((size_t)Y * g->SWidth + X) * 3;
                    o[0] = map->Colors[k].Red, o[1] = map->Colors[k].Green, o[2] = map->Colors[k].Blue;
                }
        }
    }
    DGifCloseFile(g, &error);
    return rc;
}

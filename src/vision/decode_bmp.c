/* decode_bmp.c — uncompressed BMP. */
#include <stdbool.h>
#include <stdlib.h>

#include "util/error.h"
#include "vision/decode.h"

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Uncompressed BMP: 24/32-bit, and 8-bit (or fewer) with a palette; bottom-up or top-down. */
int vt_decode_bmp(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    if (len < 54) return vt_err("%s: truncated BMP header", name);
    uint32_t offset = le32(data + 10), hsize = le32(data + 14);
    if (hsize < 40 || 14 + (size_t)hsize > len) return vt_err("%s: unsupported BMP header (size %u)", name, hsize);
    int32_t w = (int32_t)le32(data + 18), h = (int32_t)le32(data + 22);
    uint16_t bpp = le16(data + 28);
    uint32_t compression = le32(data + 30), colors = le32(data + 46);
    bool top_down = h < 0;
    long H = top_down ? -(long)h : h;
    TRY(vt_decode_check_size(name, w, H, c));
    if (compression != 0 && !(compression == 3 && bpp == 32))
        return vt_err("%s: compressed BMP (method %u) is not supported", name, compression);
    if (bpp != 24 && bpp != 32 && bpp != 8 && bpp != 4 && bpp != 1)
        return vt_err("%s: %u-bit BMP is not supported", name, bpp);
    size_t stride = (((size_t)w * bpp + 31) / 32) * 4;
    if (offset > len || stride * (size_t)H > len - offset) return vt_err("%s: truncated BMP pixel data", name);
    const uint8_t *palette = data + 14 + hsize;
    if (bpp <= 8) {
        if (colors == 0) colors = 1u << bpp;
        if (colors > 256 || palette + 4 * (size_t)colors > data + len) return vt_err("%s: bad BMP palette", name);
    }
    TRY(vt_decode_alloc(img, w, (int)H, name));
    for (long y = 0; y < H; y++) {
        const uint8_t *row = data + offset + stride * (size_t)(top_down ? y : H - 1 - y);
        for (long x = 0; x < w; x++) {
            uint8_t *o = img->rgb + ((size_t)y * w + x) * 3;
            if (bpp >= 24) {
                const uint8_t *p = row + x * (bpp / 8);
                o[0] = p[2], o[1] = p[1], o[2] = p[0];
            } else {
                int per = 8 / bpp, shift = (per - 1 - (int)(x % per)) * bpp;
                unsigned k = (row[x / per] >> shift) & ((1u << bpp) - 1);
                if (k >= colors) k = 0;
                o[0] = palette[4 * k + 2], o[1] = palette[4 * k + 1], o[2] = palette[4 * k];
            }
        }
    }
    return 0;
}

/* decode_png.c — PNG through libpng. */
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vision/decode.h"

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    char message[256];
} png_source;

static void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
    png_source *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "truncated PNG data");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void png_fail(png_structp png, png_const_charp msg) {
    png_source *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

int vt_decode_png(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    /* the IHDR chunk comes first: check the size before libpng reads any further */
    if (len >= 24 && !memcmp(data + 12, "IHDR", 4)) TRY(vt_decode_check_size(name, (long)be32(data + 16), (long)be32(data + 20), c));
    png_source src = {data, len, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile raw = NULL;
    png_bytep *volatile rows = NULL;
    img->rgb = NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        return vt_err("out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(raw), free(rows), free(img->rgb);
        img->rgb = NULL;
        return vt_err("%s: corrupt or truncated PNG: %s", name, src.message);
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if (vt_decode_check_size(name, (long)w, (long)h, c)) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    bool gray16 = depth == 16 && (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png); /* transparency ignored, as convert("RGB") */
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png); /* PIL keeps the high byte of 16-bit colour */
    if (gray16) png_set_swap(png);                     /* host order for the clamp below */
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    int passes = png_set_interlace_handling(png);
    (void)passes;
    png_read_update_info(png, info);
    size_t stride = png_get_rowbytes(png, info);
    raw = malloc(stride * h);
    rows = malloc(h * sizeof *rows);
    if (!raw || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + y * stride;
    png_read_image(png, rows);
    int channels = png_get_channels(png, info);
    uint8_t *orientation_data = NULL;
    png_uint_32 exif_len = 0;
#ifdef PNG_eXIf_SUPPORTED
    png_get_eXIf_1(png, info, &exif_len, &orientation_data);
#endif
    int orientation = 1;
    bool present;
    if (vt_exif_orientation(orientation_data, exif_len, &present, &orientation)) orientation = 1;
    if (vt_decode_alloc(img, (int)w, (int)h, name)) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        for (png_uint_32 x = 0; x < w; x++) {
            uint8_t *o = img->rgb + ((size_t)y * w + x) * 3;
            if (gray16) { /* PIL opens 16-bit gray as I;16 and convert("RGB") clamps it to 255 */
                uint16_t v = ((uint16_t *)rows[y])[x];
                o[0] = o[1] = o[2] = v > 255 ? 255 : (uint8_t)v;
            } else if (channels == 1) {
                o[0] = o[1] = o[2] = rows[y][x];
            } else {
                memcpy(o, rows[y] + (size_t)x * channels, 3);
            }
        }
    png_destroy_read_struct(&png, &info, NULL);
    free(raw), free(rows);
    return vt_image_orient(img, orientation, name);
}

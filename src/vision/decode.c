/* decode.c — image files to 8-bit RGB, as PIL's open + exif_transpose + convert("RGB") does. */
#include <errno.h>
#include <stdio.h> /* before jpeglib.h */
#include <gif_lib.h>
#include <jpeglib.h>
#include <jerror.h>
#include <libexif/exif-data.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "util/error.h"
#include "util/fs.h"
#include "vision/image.h"

/* Checks the size from the header, before any pixel buffer is allocated. */
static int check_size(const char *name, long w, long h, const vt_image_config *c) {
    if (w <= 0 || h <= 0) return vt_err("%s: image has no pixels (%ld×%ld)", name, w, h);
    double pixels = (double)w * (double)h; /* headers can claim 2^32 × 2^32: no integer product */
    if (pixels > (double)c->max_decode_pixels)
        return vt_err("%s: image is %ld×%ld = %.0f pixels, above the limit of %ld (refused before decoding)", name, w, h,
                      pixels, c->max_decode_pixels);
    return 0;
}

static int alloc_rgb(vt_image *img, int w, int h, const char *name) {
    img->width = w, img->height = h;
    img->rgb = malloc((size_t)w * h * 3);
    return img->rgb ? 0 : vt_err("%s: out of memory for %d×%d pixels", name, w, h);
}

/* ------------------------------------------------------------- EXIF ---- */

/* Orientation tag (1..8) of an EXIF block ("Exif\0\0" header optional), 1 when absent. */
static int exif_orientation(const uint8_t *data, size_t len) {
    if (!data || len < 8) return 1;
    ExifData *ed = exif_data_new_from_data(data, (unsigned int)len);
    if (!ed) return 1;
    int o = 1;
    ExifEntry *e = exif_data_get_entry(ed, EXIF_TAG_ORIENTATION);
    if (e && e->format == EXIF_FORMAT_SHORT && e->components >= 1)
        o = exif_get_short(e->data, exif_data_get_byte_order(ed));
    exif_data_unref(ed);
    return o >= 1 && o <= 8 ? o : 1;
}

/* PIL's ImageOps.exif_transpose for orientation o. */
static int apply_orientation(vt_image *img, int o, const char *name) {
    if (o == 1) return 0;
    int W = img->width, H = img->height;
    bool swap = o >= 5;
    vt_image out;
    TRY(alloc_rgb(&out, swap ? H : W, swap ? W : H, name));
    for (int y = 0; y < out.height; y++)
        for (int x = 0; x < out.width; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x, sy = y; break;          /* mirror left-right */
            case 3: sx = W - 1 - x, sy = H - 1 - y; break;  /* rotate 180 */
            case 4: sx = x, sy = H - 1 - y; break;          /* mirror top-bottom */
            case 5: sx = y, sy = x; break;                  /* transpose */
            case 6: sx = y, sy = H - 1 - x; break;          /* rotate 270 (clockwise 90) */
            case 7: sx = W - 1 - y, sy = H - 1 - x; break;  /* transverse */
            default: sx = W - 1 - y, sy = x; break;         /* 8: rotate 90 (anticlockwise) */
            }
            memcpy(out.rgb + ((size_t)y * out.width + x) * 3, img->rgb + ((size_t)sy * W + sx) * 3, 3);
        }
    free(img->rgb);
    *img = out;
    return 0;
}

/* ------------------------------------------------------------- JPEG ---- */

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    bool hit_eof; /* libjpeg pads a truncated file with grey and warns; PIL refuses it */
} jpeg_errors;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) ((jpeg_errors *)cinfo->err)->hit_eof = true;
}

static int decode_jpeg(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err;
    volatile int rc = -1;
    img->rgb = NULL;
    err.hit_eof = false;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_fail;
    err.base.emit_message = jpeg_quiet;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(img->rgb);
        img->rgb = NULL;
        return vt_err("%s: corrupt or truncated JPEG: %s", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return vt_err("%s: CMYK JPEG is not supported (convert it to RGB first)", name);
    }
    if (check_size(name, cinfo.image_width, cinfo.image_height, c)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    int orientation = 1;
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && !memcmp(m->data, "Exif\0\0", 6))
            orientation = exif_orientation(m->data, m->data_length);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (alloc_rgb(img, (int)cinfo.output_width, (int)cinfo.output_height, name) == 0) {
        while (cinfo.output_scanline < cinfo.output_height) {
            JSAMPROW row = img->rgb + (size_t)cinfo.output_scanline * cinfo.output_width * 3;
            jpeg_read_scanlines(&cinfo, &row, 1);
        }
        jpeg_finish_decompress(&cinfo);
        rc = 0;
    }
    jpeg_destroy_decompress(&cinfo);
    if (rc == 0 && err.hit_eof) {
        free(img->rgb);
        img->rgb = NULL;
        rc = vt_err("%s: truncated JPEG (the data ends before the image does)", name);
    }
    if (rc == 0) rc = apply_orientation(img, orientation, name);
    return rc;
}

/* -------------------------------------------------------------- PNG ---- */

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

static int decode_png(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    /* the IHDR chunk comes first: check the size before libpng reads any further */
    if (len >= 24 && !memcmp(data + 12, "IHDR", 4)) TRY(check_size(name, (long)be32(data + 16), (long)be32(data + 20), c));
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
    if (check_size(name, (long)w, (long)h, c)) {
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
    int orientation = exif_orientation(orientation_data, exif_len);
    if (alloc_rgb(img, (int)w, (int)h, name)) png_error(png, "out of memory");
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
    return apply_orientation(img, orientation, name);
}

/* ------------------------------------------------------------- WebP ---- */

static int decode_webp(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(data, len, &f) != VP8_STATUS_OK) return vt_err("%s: corrupt or truncated WebP", name);
    TRY(check_size(name, f.width, f.height, c));
    WebPData whole = {data, len};
    WebPDemuxer *demux = WebPDemux(&whole);
    if (!demux) return vt_err("%s: corrupt or truncated WebP", name);
    WebPIterator frame;
    int rc = 0, orientation = 1;
    if (!WebPDemuxGetFrame(demux, 1, &frame)) rc = vt_err("%s: WebP without a frame", name);
    WebPChunkIterator exif;
    if (rc == 0 && WebPDemuxGetChunk(demux, "EXIF", 1, &exif)) {
        orientation = exif_orientation(exif.chunk.bytes, exif.chunk.size);
        WebPDemuxReleaseChunkIterator(&exif);
    }
    int fw = 0, fh = 0;
    uint8_t *rgb = rc == 0 ? WebPDecodeRGB(frame.fragment.bytes, frame.fragment.size, &fw, &fh) : NULL;
    if (rc == 0 && !rgb) rc = vt_err("%s: corrupt or truncated WebP", name);
    if (rc == 0 && alloc_rgb(img, fw, fh, name) == 0) memcpy(img->rgb, rgb, (size_t)fw * fh * 3);
    else if (rc == 0) rc = -1;
    WebPFree(rgb);
    if (rc == 0) WebPDemuxReleaseIterator(&frame);
    WebPDemuxDelete(demux);
    return rc ? rc : apply_orientation(img, orientation, name);
}

/* -------------------------------------------------------------- GIF ---- */

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

static int decode_gif(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    gif_source src = {data, len, 0};
    int error = 0;
    GifFileType *g = DGifOpen(&src, gif_read, &error);
    if (!g) return vt_err("%s: corrupt GIF: %s", name, GifErrorString(error));
    int rc = check_size(name, g->SWidth, g->SHeight, c);
    if (rc == 0 && DGifSlurp(g) != GIF_OK && g->ImageCount < 1)
        rc = vt_err("%s: corrupt or truncated GIF: %s", name, GifErrorString(g->Error));
    if (rc == 0 && g->ImageCount < 1) rc = vt_err("%s: GIF without a frame", name);
    if (rc == 0) {
        const SavedImage *f = &g->SavedImages[0];
        const ColorMapObject *map = f->ImageDesc.ColorMap ? f->ImageDesc.ColorMap : g->SColorMap;
        if (!map) rc = vt_err("%s: GIF without a colour table", name);
        else rc = alloc_rgb(img, g->SWidth, g->SHeight, name);
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

/* -------------------------------------------------------------- BMP ---- */

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Uncompressed BMP: 24/32-bit, and 8-bit (or fewer) with a palette; bottom-up or top-down. */
static int decode_bmp(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    if (len < 54) return vt_err("%s: truncated BMP header", name);
    uint32_t offset = le32(data + 10), hsize = le32(data + 14);
    if (hsize < 40 || 14 + (size_t)hsize > len) return vt_err("%s: unsupported BMP header (size %u)", name, hsize);
    int32_t w = (int32_t)le32(data + 18), h = (int32_t)le32(data + 22);
    uint16_t bpp = le16(data + 28);
    uint32_t compression = le32(data + 30), colors = le32(data + 46);
    bool top_down = h < 0;
    long H = top_down ? -(long)h : h;
    TRY(check_size(name, w, H, c));
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
    TRY(alloc_rgb(img, w, (int)H, name));
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

/* ---------------------------------------------------------------- API ---- */

int vt_image_decode(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    *img = (vt_image){0};
    if (len == 0) return vt_err("%s: empty file (0 bytes)", name);
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return decode_jpeg(img, data, len, name, c);
    if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) return decode_png(img, data, len, name, c);
    if (len >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4)) return decode_webp(img, data, len, name, c);
    if (len >= 6 && (!memcmp(data, "GIF87a", 6) || !memcmp(data, "GIF89a", 6))) return decode_gif(img, data, len, name, c);
    if (len >= 2 && data[0] == 'B' && data[1] == 'M') return decode_bmp(img, data, len, name, c);
    return vt_err("%s: unsupported image format (expected JPEG, PNG, WebP, GIF or BMP)", name);
}

int vt_image_load(vt_image *img, const char *path, const vt_image_config *c) {
    char *data;
    size_t len;
    *img = (vt_image){0};
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? vt_err("%s: image file not found (%s)", path, strerror(errno))
                               : vt_err("%s: cannot open the image: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return vt_err("%s: is a directory, not an image file", path);
    TRY(vt_read_file(path, &data, &len));
    int rc = vt_image_decode(img, (const uint8_t *)data, len, path, c);
    free(data);
    return rc;
}

void vt_image_free(vt_image *img) {
    if (!img) return;
    free(img->rgb);
    *img = (vt_image){0};
}

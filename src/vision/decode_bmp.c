/* decode_bmp.c — BMP as PIL 12 reads it (BmpImagePlugin, its raw and RLE decoders, convert("RGB")).
 *
 * Headers of 12 (OS/2), 40, 52, 56, 64, 108 and 124 bytes; 1, 4, 8 (palette), 16 (5-5-5, or 5-6-5 by
 * bit fields), 24 and 32 bits (the bit-field layouts PIL knows); uncompressed, bit fields, RLE8 and RLE4.
 * PIL's rules, kept here as it has them:
 * - The palette is read right after the header (and any bit-field masks), its entry count from the header
 *   (0: 2^bits); if the pixel offset points right after the header, the palette is skipped over.  A
 *   palette of black and white (2 colours) or of grey i at every index i makes PIL read the rows as 1-bit
 *   or 8-bit grey, whatever the file's bit depth says.  An index past the palette is black; more than 256
 *   palette entries (read) is an error.
 * - Rows are bottom-up unless the height's top byte is 0xFF; each row takes its own bytes, the padding
 *   to 4 bytes comes between rows (the last row's may be missing).  Data that ends before the last row is
 *   a truncated file.
 * - RLE: PIL's run decoder (runs clipped to the row, end of line padded, delta as PIL counts it); runs
 *   that end before the image is covered are an error. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vision/decode.h"

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* How PIL unpacks a row: the raw mode's bits per pixel and how a pixel becomes RGB. */
typedef enum { PX_P1, PX_P4, PX_P8, PX_BIT, PX_GREY, PX_555, PX_565, PX_BYTES } pixel_kind;

typedef struct {
    pixel_kind kind;
    int bits;
    int r, g, b; /* PX_BYTES: byte positions within the pixel */
    const uint8_t *palette; /* PX_P*: entries of `stride` bytes, B G R order */
    int colors, entry;
} unpacker;

static void unpack_pixel(const unpacker *u, const uint8_t *row, size_t x, uint8_t *o) {
    unsigned k;
    switch (u->kind) {
    case PX_BIT: o[0] = o[1] = o[2] = (row[x / 8] >> (7 - x % 8) & 1) * 255; return;
    case PX_GREY: o[0] = o[1] = o[2] = row[x]; return;
    case PX_555:
    case PX_565: {
        unsigned p = le16(row + 2 * x);
        o[2] = (uint8_t)((p & 31) * 255 / 31);
        if (u->kind == PX_555)
            o[1] = (uint8_t)((p >> 5 & 31) * 255 / 31), o[0] = (uint8_t)((p >> 10 & 31) * 255 / 31);
        else
            o[1] = (uint8_t)((p >> 5 & 63) * 255 / 63), o[0] = (uint8_t)((p >> 11 & 31) * 255 / 31);
        return;
    }
    case PX_BYTES: {
        const uint8_t *p = row + x * (size_t)(u->bits / 8);
        o[0] = p[u->r], o[1] = p[u->g], o[2] = p[u->b];
        return;
    }
    case PX_P1: k = row[x / 8] >> (7 - x % 8) & 1; break;
    case PX_P4: k = row[x / 2] >> (4 - 4 * (x % 2)) & 15; break;
    default: k = row[x]; break;
    }
    if ((int)k < u->colors) {
        const uint8_t *e = u->palette + (size_t)k * u->entry;
        o[0] = e[2], o[1] = e[1], o[2] = e[0];
    } else {
        o[0] = o[1] = o[2] = 0;
    }
}

typedef struct {
    uint32_t header_size, width, height, bits, compression, colors, offset;
    bool top_down;
    int entry; /* palette entry bytes: 3 (OS/2) or 4 */
    uint32_t masks[4];
    size_t after_header; /* file position after the header (and masks) */
} bmp_header;

/* BmpImageFile._open and _bitmap up to the decoder choice. */
static int read_header(bmp_header *h, const uint8_t *data, size_t len, const char *name) {
    if (len < 18) return vt_err("%s: truncated BMP header", name);
    h->offset = le32(data + 10);
    h->header_size = le32(data + 14);
    if (h->header_size < 4 || h->header_size - 4 > len - 18) return vt_err("%s: truncated BMP header", name);
    const uint8_t *hd = data + 18;
    size_t pos = 14 + (size_t)h->header_size;
    memset(h->masks, 0, sizeof h->masks);
    if (h->header_size == 12) {
        h->width = le16(hd), h->height = le16(hd + 2), h->bits = le16(hd + 6), h->compression = 0,
        h->colors = 0;
        h->top_down = false, h->entry = 3;
    } else if (h->header_size == 40 || h->header_size == 52 || h->header_size == 56 || h->header_size == 64 ||
               h->header_size == 108 || h->header_size == 124) {
        h->top_down = hd[7] == 0xFF;
        h->width = le32(hd);
        h->height = h->top_down ? (uint32_t)(0x100000000ull - le32(hd + 4)) : le32(hd + 4);
        h->bits = le16(hd + 10), h->compression = le32(hd + 12), h->colors = le32(hd + 28), h->entry = 4;
        if (h->compression == 3) {
            if (h->header_size - 4 >= 48) {
                for (int i = 0; i < 3; i++) h->masks[i] = le32(hd + 36 + 4 * i);
                if (h->header_size - 4 >= 52) h->masks[3] = le32(hd + 48);
            } else {
                if (len - pos < 12) return vt_err("%s: truncated BMP bit-field masks", name);
                for (int i = 0; i < 3; i++) h->masks[i] = le32(data + pos + 4 * i);
                pos += 12;
            }
        }
    } else {
        return vt_err("%s: unsupported BMP header type (%u bytes)", name, h->header_size);
    }
    h->after_header = pos;
    return 0;
}

/* The raw mode PIL picks for 16, 24 and 32 bits. */
static int direct_unpacker(unpacker *u, const bmp_header *h, const char *name) {
    u->bits = (int)h->bits;
    if (h->bits == 16 && h->compression == 0) return u->kind = PX_555, 0;
    if (h->bits == 24 || (h->bits == 32 && h->compression == 0))
        return u->kind = PX_BYTES, u->r = 2, u->g = 1, u->b = 0, 0;
    const uint32_t *m = h->masks;
    if (h->bits == 16) {
        if (m[0] == 0xF800 && m[1] == 0x7E0 && m[2] == 0x1F) return u->kind = PX_565, 0;
        if (m[0] == 0x7C00 && m[1] == 0x3E0 && m[2] == 0x1F) return u->kind = PX_555, 0;
    } else if (h->bits == 24) {
        if (m[0] == 0xFF0000 && m[1] == 0xFF00 && m[2] == 0xFF)
            return u->kind = PX_BYTES, u->r = 2, u->g = 1, u->b = 0, 0;
    } else if (h->bits == 32) {
        static const uint32_t known[8][4] = {
            {0xFF0000, 0xFF00, 0xFF, 0},          {0xFF000000, 0xFF0000, 0xFF00, 0},
            {0xFF000000, 0xFF00, 0xFF, 0},        {0xFF000000, 0xFF0000, 0xFF00, 0xFF},
            {0xFF, 0xFF00, 0xFF0000, 0xFF000000}, {0xFF0000, 0xFF00, 0xFF, 0xFF000000},
            {0xFF000000, 0xFF00, 0xFF, 0xFF0000}, {0, 0, 0, 0}};
        for (int i = 0; i < 8; i++) {
            if (memcmp(known[i], m, sizeof known[i])) continue;
            if (i == 7) return u->kind = PX_BYTES, u->r = 2, u->g = 1, u->b = 0, 0; /* read as BGRA */
            int at[3];
            for (int c = 0; c < 3; c++)
                at[c] = m[c] == 0xFF ? 0 : m[c] == 0xFF00 ? 1 : m[c] == 0xFF0000 ? 2 : 3;
            return u->kind = PX_BYTES, u->r = at[0], u->g = at[1], u->b = at[2], 0;
        }
    }
    return vt_err("%s: unsupported BMP bit-field layout", name);
}

/* The raw decoder: rows of the unpacker's bytes, `pitch` bytes apart, bottom-up unless top_down. */
static int decode_rows(vt_image *img, const uint8_t *src, size_t avail, size_t pitch, const unpacker *u,
                       bool top_down, const char *name) {
    size_t row_bytes = ((size_t)u->bits * img->width + 7) / 8;
    for (long r = 0; r < img->height; r++) {
        size_t at = (size_t)r * pitch;
        if (avail < at + row_bytes)
            return vt_err("%s: truncated BMP (the pixel data ends at row %ld of %d)", name, r, img->height);
        long y = top_down ? r : img->height - 1 - r;
        uint8_t *o = img->rgb + (size_t)y * img->width * 3;
        for (int x = 0; x < img->width; x++) unpack_pixel(u, src + at, (size_t)x, o + 3 * x);
    }
    return 0;
}

/* BmpRleDecoder: the runs expanded to one byte per pixel, as PIL expands them.  *out is owned. */
static int expand_rle(const uint8_t *data, size_t len, size_t pos, bool rle4, size_t w, size_t h,
                      uint8_t **out, size_t *out_len, const char *name) {
    size_t need = w * h, cap = need + 1, n = 0, x = 0;
    uint8_t *d = calloc(cap, 1);
    if (!d) return vt_err("%s: out of memory", name);
#define PUT(v)                                                                                               \
    do {                                                                                                     \
        if (n == cap) {                                                                                      \
            uint8_t *g = realloc(d, cap *= 2);                                                               \
            if (!g) return free(d), vt_err("%s: out of memory", name);                                       \
            d = g;                                                                                           \
        }                                                                                                    \
        d[n++] = (v);                                                                                        \
    } while (0)
    while (n < need) {
        if (len - pos < 2) break;
        unsigned count = data[pos], byte = data[pos + 1];
        pos += 2;
        if (count) { /* a run, clipped to the row */
            size_t k = x + count > w ? (w > x ? w - x : 0) : count;
            for (size_t i = 0; i < k; i++) PUT(rle4 ? (i % 2 ? byte & 15 : byte >> 4) : byte);
            x += k;
        } else if (byte == 0) { /* end of line */
            while (n % w) PUT(0);
            x = 0;
        } else if (byte == 1) { /* end of bitmap */
            break;
        } else if (byte == 2) { /* delta, as PIL counts it: right + up·width zeros */
            if (len - pos < 2) break;
            size_t zeros = data[pos] + (size_t)data[pos + 1] * w;
            pos += 2;
            if (zeros > need - n) zeros = need - n + 1; /* past the image: the rest is never read */
            for (size_t i = 0; i < zeros; i++) PUT(0);
            x = n % w;
        } else { /* absolute: `byte` pixels (RLE4: byte/2 bytes of two pixels) */
            size_t want = rle4 ? byte / 2 : byte, got = want < len - pos ? want : len - pos;
            for (size_t i = 0; i < got; i++) {
                if (rle4) {
                    PUT(data[pos + i] >> 4);
                    PUT(data[pos + i] & 15);
                } else {
                    PUT(data[pos + i]);
                }
            }
            pos += got;
            if (got < want) break;
            x += byte;
            if (pos % 2) pos++; /* word alignment, of the file position */
            if (pos > len) pos = len;
        }
    }
#undef PUT
    *out = d, *out_len = n;
    return 0;
}

int vt_decode_bmp(vt_image *img, const uint8_t *data, size_t len, const char *name,
                  const vt_image_config *c) {
    bmp_header h;
    TRY(read_header(&h, data, len, name));
    uint64_t colors = h.colors ? h.colors : h.bits < 64 ? (uint64_t)1 << h.bits : UINT64_MAX;
    uint64_t offset = h.offset;
    if (offset == 14 + (uint64_t)h.header_size && h.bits <= 8) offset += (uint64_t)h.entry * colors;
    if (h.bits != 1 && h.bits != 4 && h.bits != 8 && h.bits != 16 && h.bits != 24 && h.bits != 32)
        return vt_err("%s: unsupported BMP pixel depth (%u bits)", name, h.bits);
    bool rle = h.compression == 1 || h.compression == 2;
    if (h.compression == 3 && h.bits <= 8) return vt_err("%s: unsupported BMP bit-field layout", name);
    if (h.compression > 3) return vt_err("%s: unsupported BMP compression (method %u)", name, h.compression);
    unpacker u = {0};
    size_t pos = h.after_header;
    enum { MODE_P, MODE_BIT, MODE_GREY, MODE_DIRECT } mode = MODE_DIRECT;
    if (h.bits <= 8) {
        if (colors == 0 || colors > 65536)
            return vt_err("%s: unsupported BMP palette size (%llu)", name, (unsigned long long)colors);
        size_t want = (size_t)colors * h.entry, got = want < len - pos ? want : len - pos;
        const uint8_t *pal = data + pos;
        pos += got;
        bool grey = true; /* PIL reads a palette of greys at their own index as greyscale */
        for (size_t i = 0; i < colors && grey; i++) {
            uint8_t v = (uint8_t)(colors == 2 ? (i ? 255 : 0) : i);
            grey = (i + 1) * h.entry <= got + (size_t)h.entry - 3 && pal[i * h.entry] == v &&
                pal[i * h.entry + 1] == v && pal[i * h.entry + 2] == v;
        }
        if (grey) {
            mode = colors == 2 ? MODE_BIT : MODE_GREY;
            u.kind = colors == 2 ? PX_BIT : PX_GREY, u.bits = colors == 2 ? 1 : 8;
        } else {
            mode = MODE_P;
            u.kind = h.bits == 1 ? PX_P1 : h.bits == 4 ? PX_P4 : PX_P8, u.bits = (int)h.bits;
            u.palette = pal, u.entry = h.entry, u.colors = (int)(got / (size_t)h.entry);
            if (got / h.entry > 256)
                return vt_err("%s: BMP palette of %zu entries (PIL refuses more than 256)", name,
                              got / h.entry);
        }
    } else if (!rle) {
        TRY(direct_unpacker(&u, &h, name));
    }
    TRY(vt_decode_check_size(name, h.width, h.height, c));
    if (rle && mode != MODE_P && mode != MODE_GREY)
        return vt_err("%s: run-length BMP of %u bits (PIL refuses it)", name, h.bits);
    if (h.offset == 0) offset = pos; /* PIL: `offset or fp.tell()` */
    TRY(vt_decode_alloc(img, (int)h.width, (int)h.height, name));
    int rc;
    size_t avail = offset < len ? len - (size_t)offset : 0;
    const uint8_t *src = data + (offset < len ? offset : len);
    if (rle) {
        uint8_t *bytes = NULL;
        size_t n = 0;
        rc = expand_rle(data, len, offset < len ? (size_t)offset : len, h.compression == 2, h.width, h.height,
                        &bytes, &n, name);
        if (rc == 0) {
            unpacker b = u;
            if (mode == MODE_P) b.kind = PX_P8, b.bits = 8;
            rc = decode_rows(img, bytes, n, h.width, &b, h.top_down, name);
            if (rc) rc = vt_err("%s: truncated run-length BMP (the runs end before the image)", name);
            free(bytes);
        }
    } else {
        size_t row_bytes = ((size_t)u.bits * h.width + 7) / 8,
               stride = (((size_t)h.width * h.bits + 31) >> 3) & ~(size_t)3;
        /* Rows wider than the file's stride (a grey palette read as 8-bit rows from a 1- or 4-bit file):
         * PIL's decoder refuses them, but it maps a greyscale file from disk, rows one after another */
        if (stride >= row_bytes)
            rc = decode_rows(img, src, avail, stride, &u, h.top_down, name);
        else if (mode == MODE_GREY)
            rc = decode_rows(img, src, avail, row_bytes, &u, h.top_down, name);
        else
            rc = vt_err("%s: BMP rows shorter than their pixels (PIL refuses it)", name);
    }
    if (rc) vt_image_free(img);
    return rc;
}

/* orientation.c — the EXIF (or XMP) orientation as PIL 12's Image.getexif reads it, and exif_transpose.
 *
 * PIL parses the EXIF block as a TIFF header and the first IFD (Exif.load, TiffImagePlugin): the block
 * may start with any number of "Exif\0\0"; a header other than II*\0, MM\0*, MM*\0, II\0* raises, and so
 * does a BigTIFF header or one shorter than 8 bytes.  Within the IFD a short read ends the parsing
 * quietly (tags read so far are kept), a tag of unknown type or with no data is skipped, and the last
 * Orientation entry wins.  Its value counts when it equals 2..8 as a number: the first value of a SHORT,
 * LONG, signed or 64-bit integer, FLOAT, DOUBLE or (signed) RATIONAL (6/1 and 12/2 alike); BYTE,
 * UNDEFINED and ASCII values are kept as bytes or text and never match.  Only without an Orientation tag
 * does PIL look in the XMP packet for the first tiff:Orientation="N" or tiff:Orientation>N. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vision/decode.h"

typedef struct {
    const uint8_t *p;
    size_t len;
    bool big;
} tiff;

static uint16_t t16(const tiff *t, size_t at) {
    const uint8_t *q = t->p + at;
    return t->big ? (uint16_t)(q[0] << 8 | q[1]) : (uint16_t)(q[1] << 8 | q[0]);
}

static uint32_t t32(const tiff *t, size_t at) {
    const uint8_t *q = t->p + at;
    return t->big ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]
                  : (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0];
}

static uint64_t t64(const tiff *t, size_t at) {
    uint64_t hi = t32(t, at), lo = t32(t, at + 4);
    return t->big ? hi << 32 | lo : lo << 32 | hi;
}

/* Bytes per value of each TIFF type PIL loads (0: a type it skips). */
static size_t unit_size(unsigned type) {
    static const size_t sizes[17] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 0, 0, 8};
    return type < 17 ? sizes[type] : 0;
}

/* What exif_transpose does with the first value of an Orientation entry: 2..8, or 1 (nothing). */
static int orientation_value(const tiff *t, unsigned type, size_t at) {
    double v = NAN;
    switch (type) {
    case 3: v = t16(t, at); break;
    case 4:
    case 13: v = t32(t, at); break;
    case 16: v = (double)t64(t, at); break;
    case 6: v = (int8_t)t->p[at]; break;
    case 8: v = (int16_t)t16(t, at); break;
    case 9: v = (int32_t)t32(t, at); break;
    case 11: {
        uint32_t bits = t32(t, at);
        float f;
        memcpy(&f, &bits, 4);
        v = f;
        break;
    }
    case 12: {
        uint64_t bits = t64(t, at);
        memcpy(&v, &bits, 8);
        break;
    }
    case 5:
    case 10: { /* a Fraction equals k when num == k·den; den 0 is NaN */
        int64_t num = type == 5 ? (int64_t)t32(t, at) : (int32_t)t32(t, at);
        int64_t den = type == 5 ? (int64_t)t32(t, at + 4) : (int32_t)t32(t, at + 4);
        for (int k = 2; k <= 8; k++)
            if (den != 0 && num == k * den) return k;
        return 1;
    }
    default: return 1; /* BYTE, UNDEFINED: bytes; ASCII: text */
    }
    for (int k = 2; k <= 8; k++)
        if (v == k) return k;
    return 1;
}

int vt_exif_orientation(const uint8_t *data, size_t len, bool *tag_present, int *orientation) {
    *tag_present = false, *orientation = 1;
    while (len >= 6 && !memcmp(data, "Exif\0\0", 6)) data += 6, len -= 6;
    if (len == 0) return 0;
    if (len < 4) return -1;
    static const char *const prefixes[] = {"MM\0*", "II*\0", "MM*\0", "II\0*", "MM\0+", "II+\0"};
    bool known = false;
    for (int i = 0; i < 6; i++) known = known || !memcmp(data, prefixes[i], 4);
    /* PIL takes a third byte of '+' as BigTIFF and then unpacks 8 bytes beyond its 8-byte header */
    if (!known || data[2] == '+' || len < 8) return -1;
    tiff t = {data, len, data[0] == 'M'};
    size_t at = t32(&t, 4);
    if (at > len || len - at < 2) return 0;
    unsigned count = t16(&t, at);
    at += 2;
    for (unsigned i = 0; i < count; i++, at += 12) {
        if (len - at < 12) break;
        unsigned tag = t16(&t, at), type = t16(&t, at + 2);
        uint64_t size = (uint64_t)t32(&t, at + 4) * unit_size(type);
        if (size == 0) continue; /* unknown type, or no values */
        size_t value_at = at + 8;
        if (size > 4) {
            value_at = t32(&t, at + 8);
            if (value_at > len || len - value_at < size) break; /* a short read ends the IFD */
        }
        if (tag == 0x0112) *tag_present = true, *orientation = orientation_value(&t, type, value_at);
    }
    return 0;
}

/* The digit after the first tiff:Orientation=" or tiff:Orientation>, or -1. */
static int xmp_orientation(const uint8_t *x, size_t len) {
    static const char key[] = "tiff:Orientation";
    size_t k = sizeof key - 1;
    for (size_t i = 0; i + k + 2 <= len; i++) {
        if (memcmp(x + i, key, k)) continue;
        const uint8_t *q = x + i + k;
        if (q[0] == '>' && q[1] >= '0' && q[1] <= '9') return q[1] - '0';
        if (q[0] == '=' && i + k + 3 <= len && q[1] == '"' && q[2] >= '0' && q[2] <= '9') return q[2] - '0';
    }
    return -1;
}

int vt_pil_orientation(const vt_orientation_source *s, int *orientation, const char *name) {
    bool present = false;
    *orientation = 1;
    if (s->has_exif) {
        if (s->exif_text && s->exif_len > 0)
            return vt_err("%s: EXIF stored as text, which PIL cannot read (it refuses the file)", name);
        if (!s->exif_text && vt_exif_orientation(s->exif, s->exif_len, &present, orientation))
            return vt_err("%s: EXIF block without a valid TIFF header (PIL refuses the file)", name);
    }
    if (present) return 0;
    int digit = -1;
    if (s->xmp_str_len > 0) {
        digit = xmp_orientation(s->xmp_str, s->xmp_str_len);
    } else if (s->has_xmp && s->xmp_len > 0) {
        if (s->xmp_text)
            return vt_err("%s: XMP stored as text, which PIL cannot search (it refuses the file)", name);
        digit = xmp_orientation(s->xmp, s->xmp_len);
    }
    *orientation = digit >= 2 && digit <= 8 ? digit : 1;
    return 0;
}

int vt_image_orient(vt_image *img, int o, const char *name) {
    if (o < 2 || o > 8) return 0;
    int W = img->width, H = img->height;
    bool swap = o >= 5;
    vt_image out;
    TRY(vt_decode_alloc(&out, swap ? H : W, swap ? W : H, name));
    for (int y = 0; y < out.height; y++)
        for (int x = 0; x < out.width; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x, sy = y; break; /* mirror left-right */
            case 3: sx = W - 1 - x, sy = H - 1 - y; break; /* rotate 180 */
            case 4: sx = x, sy = H - 1 - y; break; /* mirror top-bottom */
            case 5: sx = y, sy = x; break; /* transpose */
            case 6: sx = y, sy = H - 1 - x; break; /* rotate 270 (clockwise 90) */
            case 7: sx = W - 1 - y, sy = H - 1 - x; break; /* transverse */
            default: sx = W - 1 - y, sy = x; break; /* 8: rotate 90 (anticlockwise) */
            }
            memcpy(out.rgb + ((size_t)y * out.width + x) * 3, img->rgb + ((size_t)sy * W + sx) * 3, 3);
        }
    free(img->rgb);
    *img = out;
    return 0;
}

/* decode_png.c — PNG as PIL 12 reads it (PngImagePlugin, then its zlib decoder), with zlib.
 *
 * PIL's rules, which this follows step by step:
 * - Opening walks the chunks up to the first IDAT (or fdAT).  A chunk header cut short, a chunk type
 *   that is not four letters, digits or '_', a chunk running past the end of the file, or a bad or
 *   missing CRC raises.  Known chunks are checked as PIL's handlers check them (IHDR of 13 bytes and
 *   filter method 0; tRNS, gAMA, cHRM, sRGB, pHYs, acTL, fcTL, fdAT long enough; compression method 0
 *   in zTXt and iCCP; text within 1 MiB once inflated); other chunks are skipped.
 * - The image data is the IDAT (DDAT, fdAT) payloads in a row, their CRCs unchecked, inflated in the
 *   pieces PIL reads (64 KiB, or the rest of a chunk): the image is complete when its last row is, or
 *   when the zlib stream ends on a row boundary (the rows left stay 0).  Data that ends before that, a
 *   zlib error met on the way, or a filter type above 4, is an error.
 * - After the image, the chunks that follow are read without CRC checks, as far as they go: a header cut
 *   short ends them quietly, a chunk running past the end of the file raises.  They can carry the EXIF
 *   (eXIf, or text "exif" / "Raw profile type exif") and XMP that give the orientation.
 * - convert("RGB"): grey and grey+alpha replicate grey (1-, 2-, 4-bit grey scaled to 0..255), 16-bit
 *   colour and grey+alpha keep their high byte, 16-bit grey (PIL's I;16) is clamped to 255, alpha is
 *   dropped; a palette index past the PLTE entries (or with no PLTE) is black; a PLTE of more than 256
 *   entries raises. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/error.h"
#include "vision/decode.h"

enum { READ_BLOCK = 65536, MAX_TEXT_CHUNK = 1 << 20, MAX_TEXT_MEMORY = 64 << 20 };

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* PIL's raw modes for (bit depth, colour type). */
typedef enum {
    RAW_NONE,
    RAW_1,
    RAW_L2,
    RAW_L4,
    RAW_L,
    RAW_I16,
    RAW_RGB,
    RAW_RGB16,
    RAW_P1,
    RAW_P2,
    RAW_P4,
    RAW_P,
    RAW_LA,
    RAW_LA16,
    RAW_RGBA,
    RAW_RGBA16
} raw_mode;

static raw_mode mode_of(int depth, int type) {
    switch (type << 8 | depth) {
    case 0 << 8 | 1: return RAW_1;
    case 0 << 8 | 2: return RAW_L2;
    case 0 << 8 | 4: return RAW_L4;
    case 0 << 8 | 8: return RAW_L;
    case 0 << 8 | 16: return RAW_I16;
    case 2 << 8 | 8: return RAW_RGB;
    case 2 << 8 | 16: return RAW_RGB16;
    case 3 << 8 | 1: return RAW_P1;
    case 3 << 8 | 2: return RAW_P2;
    case 3 << 8 | 4: return RAW_P4;
    case 3 << 8 | 8: return RAW_P;
    case 4 << 8 | 8: return RAW_LA;
    case 4 << 8 | 16: return RAW_LA16;
    case 6 << 8 | 8: return RAW_RGBA;
    case 6 << 8 | 16: return RAW_RGBA16;
    default: return RAW_NONE;
    }
}

static int bits_of(raw_mode m) {
    static const int bits[] = {0, 1, 2, 4, 8, 16, 24, 48, 1, 2, 4, 8, 16, 32, 32, 64};
    return bits[m];
}

/* One entry of PIL's info dict: bytes, or text (a str in PIL). */
typedef struct {
    uint8_t *owned;
    const uint8_t *p;
    size_t len;
    bool present, text;
} info_value;

static void info_set(info_value *v, const uint8_t *p, size_t len, uint8_t *owned, bool text) {
    free(v->owned);
    *v = (info_value){owned, p, len, true, text};
}

typedef struct {
    const uint8_t *data;
    size_t len, pos; /* the file, and PIL's file position */
    const char *name;
    /* PngStream */
    uint32_t w, h;
    raw_mode mode;
    bool interlaced;
    const uint8_t *plte;
    size_t plte_len;
    bool has_plte;
    uint64_t text_memory;
    bool has_n_frames, has_seq, has_bbox, default_image;
    uint32_t n_frames, seq;
    uint64_t bbox[4];
    /* the first image data chunk */
    bool has_tile;
    uint64_t tile[4];
    size_t idat_at;
    uint32_t idat_len;
    /* what the orientation is read from */
    info_value exif, raw_exif, xmp_str, xmp;
    bool after_image;
} png_file;

static void png_file_clear(png_file *f) {
    free(f->exif.owned), free(f->raw_exif.owned), free(f->xmp_str.owned), free(f->xmp.owned);
}

/* ImageFile._safe_read: exactly n bytes, or an error. */
static int safe_read(png_file *f, uint64_t n, const uint8_t **out) {
    if (n > f->len - f->pos)
        return vt_err("%s: truncated PNG (a chunk runs past the end of the file)", f->name);
    *out = f->data + f->pos;
    f->pos += (size_t)n;
    return 0;
}

/* fp.read(n): as many as there are. */
static void skip_up_to(png_file *f, size_t n) { f->pos += n < f->len - f->pos ? n : f->len - f->pos; }

static bool is_chunk_type(const uint8_t *t) {
    for (int i = 0; i < 4; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9') ||
              t[i] == '_'))
            return false;
    return true;
}

/* ChunkStream.read: 1 header read, 0 none (the file ends: struct.error), -1 a broken type (SyntaxError). */
static int chunk_header(png_file *f, uint8_t type[4], uint32_t *length) {
    if (f->len - f->pos < 4) return f->pos = f->len, 0;
    if (f->len - f->pos < 8) return f->pos = f->len, -1;
    *length = be32(f->data + f->pos);
    memcpy(type, f->data + f->pos + 4, 4);
    f->pos += 8;
    return is_chunk_type(type) ? 1 : -1;
}

/* _safe_zlib_decompress: at most 1 MiB out; more than that raises, broken data is *broken. */
static int inflate_text(png_file *f, const uint8_t *in, size_t n, uint8_t **out, size_t *out_len,
                        bool *broken) {
    *out = NULL, *out_len = 0, *broken = false;
    z_stream z = {0};
    if (inflateInit(&z) != Z_OK) return vt_err("%s: out of memory", f->name);
    size_t cap = 4096;
    uint8_t *buf = malloc(cap);
    int err = Z_OK;
    z.next_in = (Bytef *)in, z.avail_in = (uInt)n;
    while (buf && err == Z_OK && z.avail_in > 0 && *out_len < MAX_TEXT_CHUNK) {
        if (*out_len == cap) {
            cap = cap * 2 < MAX_TEXT_CHUNK ? cap * 2 : MAX_TEXT_CHUNK;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) break;
            buf = grown;
        }
        z.next_out = buf + *out_len, z.avail_out = (uInt)(cap - *out_len);
        err = inflate(&z, Z_SYNC_FLUSH);
        *out_len = cap - z.avail_out;
        if (err == Z_BUF_ERROR) err = Z_OK; /* no progress: the input ends inside the stream */
        if (err == Z_OK && z.avail_out > 0) break;
    }
    bool too_large = *out_len >= MAX_TEXT_CHUNK && err == Z_OK && z.avail_in > 0;
    inflateEnd(&z);
    if (!buf) return vt_err("%s: out of memory", f->name);
    if (too_large) {
        free(buf);
        return vt_err("%s: PNG text or ICC profile inflates past 1 MiB (PIL refuses it)", f->name);
    }
    if (err != Z_OK && err != Z_STREAM_END) {
        free(buf);
        *broken = true, *out_len = 0;
        return 0;
    }
    *out = buf;
    return 0;
}

static int text_memory(png_file *f, size_t chars) {
    f->text_memory += chars;
    return f->text_memory > MAX_TEXT_MEMORY
        ? vt_err("%s: PNG text chunks hold more than 64 MiB (PIL refuses it)", f->name)
        : 0;
}

/* Characters of valid UTF-8 (false if it is not valid, as Python's strict decoding would say). */
static bool utf8_chars(const uint8_t *s, size_t n, size_t *chars) {
    *chars = 0;
    for (size_t i = 0; i < n; (*chars)++) {
        uint8_t c = s[i];
        size_t k = c < 0x80          ? 0
            : c >= 0xC2 && c <= 0xDF ? 1
            : c >= 0xE0 && c <= 0xEF ? 2
            : c >= 0xF0 && c <= 0xF4 ? 3
                                     : 9;
        if (k == 9 || n - i - 1 < k) return false;
        uint32_t cp = k == 0 ? c : c & (0x3F >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += k + 1;
    }
    return true;
}

/* A text entry: info[key] = value, for the keys the orientation is read from. */
static void text_entry(png_file *f, const uint8_t *key, size_t key_len, const uint8_t *v, size_t n,
                       uint8_t *owned, bool text) {
#define KEY(s) (key_len == sizeof s - 1 && !memcmp(key, s, sizeof s - 1))
    info_value *slot = KEY("exif")     ? &f->exif
        : KEY("Raw profile type exif") ? &f->raw_exif
        : KEY("XML:com.adobe.xmp")     ? &f->xmp_str
        : KEY("xmp")                   ? &f->xmp
                                       : NULL;
#undef KEY
    if (slot)
        info_set(slot, v, n, owned, text);
    else
        free(owned);
}

static const uint8_t *find_nul(const uint8_t *s, size_t n) { return memchr(s, 0, n); }

static int chunk_text(png_file *f, const uint8_t *s,
                      size_t n) { /* tEXt: latin-1 text, "exif" kept as bytes */
    const uint8_t *nul = find_nul(s, n);
    size_t key_len = nul ? (size_t)(nul - s) : n;
    const uint8_t *v = nul ? nul + 1 : s + n;
    size_t vn = nul ? n - key_len - 1 : 0;
    if (key_len == 0) return 0;
    bool exif = key_len == 4 && !memcmp(s, "exif", 4);
    text_entry(f, s, key_len, v, vn, NULL, !exif);
    return text_memory(f, vn);
}

static int chunk_ztxt(png_file *f, const uint8_t *s, size_t n) {
    const uint8_t *nul = find_nul(s, n);
    size_t key_len = nul ? (size_t)(nul - s) : n;
    const uint8_t *v = nul ? nul + 1 : s + n;
    size_t vn = nul ? n - key_len - 1 : 0;
    if (vn > 0 && v[0] != 0)
        return vt_err("%s: zTXt chunk with compression method %d (PIL refuses it)", f->name, v[0]);
    uint8_t *text = NULL;
    size_t text_len = 0;
    bool broken;
    TRY(inflate_text(f, vn > 0 ? v + 1 : v, vn > 0 ? vn - 1 : 0, &text, &text_len, &broken));
    if (key_len == 0) {
        free(text);
        return 0;
    }
    text_entry(f, s, key_len, text, text_len, text, true);
    return text_memory(f, text_len);
}

static int chunk_itxt(png_file *f, const uint8_t *s, size_t n) {
    const uint8_t *nul = find_nul(s, n);
    if (!nul) return 0;
    size_t key_len = (size_t)(nul - s), rest = n - key_len - 1;
    const uint8_t *r = nul + 1;
    if (rest < 2) return 0;
    uint8_t compressed = r[0], method = r[1];
    r += 2, rest -= 2;
    const uint8_t *lang_end = find_nul(r, rest);
    if (!lang_end) return 0;
    const uint8_t *tk = lang_end + 1;
    const uint8_t *tk_end = find_nul(tk, rest - (size_t)(tk - r));
    if (!tk_end) return 0;
    const uint8_t *v = tk_end + 1;
    size_t vn = rest - (size_t)(v - r);
    uint8_t *text = NULL;
    if (compressed) {
        if (method != 0) return 0;
        bool broken;
        TRY(inflate_text(f, v, vn, &text, &vn, &broken));
        if (broken) return 0;
        v = text;
    }
    bool is_xmp = key_len == 17 && !memcmp(s, "XML:com.adobe.xmp", 17);
    size_t chars, ignored;
    bool valid = utf8_chars(r, (size_t)(lang_end - r), &ignored) &&
        utf8_chars(tk, (size_t)(tk_end - tk), &ignored) && utf8_chars(v, vn, &chars);
    if (is_xmp) { /* info["xmp"] = the bytes, before the text is decoded */
        uint8_t *copy = vn ? malloc(vn) : NULL;
        if (vn && !copy) {
            free(text);
            return vt_err("%s: out of memory", f->name);
        }
        if (copy) memcpy(copy, v, vn);
        info_set(&f->xmp, copy, vn, copy, false);
    }
    if (!valid) {
        free(text);
        return 0;
    }
    text_entry(f, s, key_len, v, vn, text, true);
    return text_memory(f, chars);
}

static int chunk_iccp(png_file *f, const uint8_t *s, size_t n) {
    const uint8_t *nul = find_nul(s, n);
    size_t at = nul ? (size_t)(nul - s) + 1 : 0; /* s.find(b"\0") + 1, so 0 without a NUL */
    if (at >= n) return vt_err("%s: iCCP chunk without a compression method (PIL refuses it)", f->name);
    if (s[at] != 0)
        return vt_err("%s: iCCP chunk with compression method %d (PIL refuses it)", f->name, s[at]);
    uint8_t *profile;
    size_t len;
    bool broken;
    TRY(inflate_text(f, s + at + 1, n - at - 1, &profile, &len, &broken));
    free(profile);
    return 0;
}

enum { CHUNK_OK, CHUNK_IMAGE, CHUNK_END };

/* chunk_IDAT: the frame of an fcTL before it, else the whole image (then, in an APNG, a default image). */
static void set_tile(png_file *f) {
    if (f->has_bbox) {
        memcpy(f->tile, f->bbox, sizeof f->tile);
    } else {
        f->tile[0] = f->tile[1] = 0, f->tile[2] = f->w, f->tile[3] = f->h;
        if (f->has_n_frames) f->default_image = true;
    }
}

/* ChunkStream.call: PIL's handler for one chunk (data not yet read); CHUNK_IMAGE and CHUNK_END are the
 * EOFErrors of IDAT/fdAT and IEND.  *s and *n get what the handler read, for the CRC. */
static int call_handler(png_file *f, const uint8_t type[4], uint32_t length, const uint8_t **s, size_t *n,
                        int *what) {
    *what = CHUNK_OK, *s = f->data + f->pos, *n = 0;
    const char *t = (const char *)type;
    /* chunk_IDAT reads the raw mode, which only a valid IHDR sets: before one, PIL's AttributeError
     * makes an IDAT (or fdAT, after its sequence number) an unknown chunk, skipped */
    bool no_mode = f->mode == RAW_NONE;
    if (!memcmp(t, "IEND", 4) || (!memcmp(t, "IDAT", 4) && !no_mode)) {
        *what = t[1] == 'D' ? CHUNK_IMAGE : CHUNK_END;
        if (*what == CHUNK_IMAGE && !f->has_tile && !f->after_image) {
            f->has_tile = true, f->idat_at = f->pos, f->idat_len = length;
            set_tile(f);
        }
        return 0;
    }
    if (!memcmp(t, "fdAT", 4)) {
        if (length < 4) return vt_err("%s: APNG fdAT chunk of %u bytes (PIL refuses it)", f->name, length);
        const uint8_t *seq = NULL;
        TRY(safe_read(f, 4, &seq));
        if (!f->has_seq || (int64_t)f->seq != (int64_t)be32(seq) - 1)
            return vt_err("%s: APNG frame sequence error (PIL refuses it)", f->name);
        f->seq = be32(seq);
        if (no_mode) {
            TRY(safe_read(f, length, s));
            *n = length;
            return 0;
        }
        *what = CHUNK_IMAGE;
        if (!f->has_tile && !f->after_image) {
            f->has_tile = true, f->idat_at = f->pos, f->idat_len = length - 4;
            set_tile(f);
        }
        return 0;
    }
    TRY(safe_read(f, length, s));
    *n = length;
    const uint8_t *d = *s;
    if (!memcmp(t, "IHDR", 4)) {
        if (length < 13) return vt_err("%s: PNG IHDR chunk of %u bytes", f->name, length);
        f->w = be32(d), f->h = be32(d + 4);
        raw_mode m = mode_of(d[8], d[9]);
        if (m != RAW_NONE) f->mode = m;
        if (d[12]) f->interlaced = true;
        if (d[11]) return vt_err("%s: PNG filter method %d (PIL refuses it)", f->name, d[11]);
    } else if (!memcmp(t, "PLTE", 4)) {
        if (f->mode >= RAW_P1 && f->mode <= RAW_P) f->plte = d, f->plte_len = length, f->has_plte = true;
    } else if (!memcmp(t, "tRNS", 4)) {
        raw_mode m = f->mode;
        size_t need = m == RAW_1 || m == RAW_L2 || m == RAW_L4 || m == RAW_L || m == RAW_I16 ? 2
            : m == RAW_RGB || m == RAW_RGB16                                                 ? 6
                                                                                             : 0;
        if (length < need) return vt_err("%s: PNG tRNS chunk of %u bytes (PIL refuses it)", f->name, length);
    } else if (!memcmp(t, "gAMA", 4)) {
        if (length < 4) return vt_err("%s: PNG gAMA chunk of %u bytes (PIL refuses it)", f->name, length);
    } else if (!memcmp(t, "cHRM", 4)) {
        if (length % 4) return vt_err("%s: PNG cHRM chunk of %u bytes (PIL refuses it)", f->name, length);
    } else if (!memcmp(t, "sRGB", 4)) {
        if (length < 1) return vt_err("%s: empty PNG sRGB chunk (PIL refuses it)", f->name);
    } else if (!memcmp(t, "pHYs", 4)) {
        if (length < 9) return vt_err("%s: PNG pHYs chunk of %u bytes (PIL refuses it)", f->name, length);
    } else if (!memcmp(t, "tEXt", 4)) {
        return chunk_text(f, d, length);
    } else if (!memcmp(t, "zTXt", 4)) {
        return chunk_ztxt(f, d, length);
    } else if (!memcmp(t, "iTXt", 4)) {
        return chunk_itxt(f, d, length);
    } else if (!memcmp(t, "iCCP", 4)) {
        return chunk_iccp(f, d, length);
    } else if (!memcmp(t, "eXIf", 4)) {
        uint8_t *exif = malloc((size_t)length + 6);
        if (!exif) return vt_err("%s: out of memory", f->name);
        memcpy(exif, "Exif\0\0", 6);
        memcpy(exif + 6, d, length);
        info_set(&f->exif, exif, (size_t)length + 6, exif, false);
    } else if (!memcmp(t, "acTL", 4)) {
        if (length < 8) return vt_err("%s: APNG acTL chunk of %u bytes (PIL refuses it)", f->name, length);
        uint32_t frames = be32(d);
        if (f->has_n_frames)
            f->has_n_frames = false; /* a second acTL: PIL ignores the animation */
        else if (frames != 0 && frames <= 0x80000000u)
            f->has_n_frames = true, f->n_frames = frames;
    } else if (!memcmp(t, "fcTL", 4)) {
        if (length < 26) return vt_err("%s: APNG fcTL chunk of %u bytes (PIL refuses it)", f->name, length);
        uint32_t seq = be32(d);
        if ((!f->has_seq && seq != 0) || (f->has_seq && (int64_t)f->seq != (int64_t)seq - 1))
            return vt_err("%s: APNG frame sequence error (PIL refuses it)", f->name);
        f->has_seq = true, f->seq = seq;
        uint64_t fw = be32(d + 4), fh = be32(d + 8), px = be32(d + 12), py = be32(d + 16);
        if (px + fw > f->w || py + fh > f->h)
            return vt_err("%s: APNG frame outside the image (PIL refuses it)", f->name);
        f->has_bbox = true, f->bbox[0] = px, f->bbox[1] = py, f->bbox[2] = px + fw, f->bbox[3] = py + fh;
    }
    return 0;
}

/* PngImageFile._open: the chunks up to the image data, CRCs checked. */
static int open_chunks(png_file *f) {
    f->pos = 8;
    for (;;) {
        uint8_t type[4];
        uint32_t length;
        int h = chunk_header(f, type, &length);
        if (h <= 0)
            return vt_err("%s: %s before the image data", f->name,
                          h == 0 ? "truncated PNG" : "broken PNG chunk");
        const uint8_t *s;
        size_t n;
        int what;
        TRY(call_handler(f, type, length, &s, &n, &what));
        if (what == CHUNK_IMAGE || what == CHUNK_END) return 0;
        if (f->len - f->pos < 4) return vt_err("%s: truncated PNG (a chunk's CRC is missing)", f->name);
        uint32_t crc = (uint32_t)crc32(crc32(0, type, 4), s, (uInt)n);
        if (crc != be32(f->data + f->pos))
            return vt_err("%s: broken PNG (bad CRC in the %.4s chunk)", f->name, (const char *)type);
        f->pos += 4;
    }
}

/* ZipDecode: rows inflated into `row` (filter byte first), unfiltered against `prev`. */
typedef struct {
    z_stream z;
    bool z_open;
    uint8_t *row, *prev;
    size_t bytes, got; /* full row bytes (without the filter byte), bytes of the current row so far */
    int bits, pass, x0, y0, xsize, ysize, y;
} zip_state;

static const int START_ROW[7] = {0, 0, 4, 0, 2, 0, 1}, START_COL[7] = {0, 4, 0, 2, 0, 1, 0};
static const int ROW_STEP[7] = {8, 8, 8, 4, 4, 2, 2}, COL_STEP[7] = {8, 8, 4, 4, 2, 2, 1},
                 COL_OFFSET[7] = {7, 3, 3, 1, 1, 0, 0};

static size_t pass_row_bytes(const zip_state *s, bool interlaced) {
    if (!interlaced) return s->bytes;
    size_t pixels = (size_t)(s->xsize + COL_OFFSET[s->pass]) / COL_STEP[s->pass];
    return (pixels * s->bits + 7) / 8;
}

static void unfilter(uint8_t *row, const uint8_t *prev, size_t n, int bpp) {
    switch (row[0]) {
    case 1:
        for (size_t i = bpp + 1; i <= n; i++) row[i] += row[i - bpp];
        break;
    case 2:
        for (size_t i = 1; i <= n; i++) row[i] += prev[i];
        break;
    case 3:
        for (size_t i = 1; i <= n; i++) row[i] += ((i > (size_t)bpp ? row[i - bpp] : 0) + prev[i]) / 2;
        break;
    case 4:
        for (size_t i = 1; i <= n; i++) {
            int a = i > (size_t)bpp ? row[i - bpp] : 0, b = prev[i], c = i > (size_t)bpp ? prev[i - bpp] : 0;
            int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
            row[i] += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
        break;
    }
}

/* Pixel i of a row of raw mode m, as RGB (the palette is PIL's: black past its end). */
static void pixel(const uint8_t *p, size_t i, raw_mode m, const uint8_t *pal, size_t colors, uint8_t *o) {
    unsigned v;
    switch (m) {
    case RAW_1: v = (p[i / 8] >> (7 - i % 8) & 1) * 255; break;
    case RAW_L2: v = (p[i / 4] >> (6 - 2 * (i % 4)) & 3) * 85; break;
    case RAW_L4: v = (p[i / 2] >> (4 - 4 * (i % 2)) & 15) * 17; break;
    case RAW_L: v = p[i]; break;
    case RAW_I16: v = be16(p + 2 * i) > 255 ? 255 : be16(p + 2 * i); break;
    case RAW_LA: v = p[2 * i]; break;
    case RAW_LA16: v = p[4 * i]; break;
    case RAW_RGB: memcpy(o, p + 3 * i, 3); return;
    case RAW_RGB16: o[0] = p[6 * i], o[1] = p[6 * i + 2], o[2] = p[6 * i + 4]; return;
    case RAW_RGBA: memcpy(o, p + 4 * i, 3); return;
    case RAW_RGBA16: o[0] = p[8 * i], o[1] = p[8 * i + 2], o[2] = p[8 * i + 4]; return;
    default: { /* palette */
        unsigned k = m == RAW_P1 ? p[i / 8] >> (7 - i % 8) & 1
            : m == RAW_P2        ? p[i / 4] >> (6 - 2 * (i % 4)) & 3
            : m == RAW_P4        ? p[i / 2] >> (4 - 4 * (i % 2)) & 15
                                 : p[i];
        if (k < colors)
            memcpy(o, pal + 3 * k, 3);
        else
            o[0] = o[1] = o[2] = 0;
        return;
    }
    }
    o[0] = o[1] = o[2] = (uint8_t)v;
}

enum { ZIP_MORE, ZIP_DONE, ZIP_BROKEN };

typedef struct {
    raw_mode mode;
    bool interlaced;
    const uint8_t *pal;
    size_t colors;
    vt_image *img;
} zip_target;

/* ImagingZipDecode on one piece of data. */
static int zip_decode(zip_state *s, const zip_target *t, const uint8_t *in, size_t n) {
    s->z.next_in = (Bytef *)in, s->z.avail_in = (uInt)n;
    size_t row_bytes = pass_row_bytes(s, t->interlaced);
    while (s->z.avail_in > 0) {
        s->z.next_out = s->row + s->got, s->z.avail_out = (uInt)(row_bytes + 1 - s->got);
        int err = inflate(&s->z, Z_NO_FLUSH);
        if (err < 0) return ZIP_BROKEN;
        s->got = row_bytes + 1 - s->z.avail_out;
        if (s->got < row_bytes + 1) break; /* needs more data */
        if (s->row[0] > 4) return ZIP_BROKEN;
        unfilter(s->row, s->prev, row_bytes, (s->bits + 7) / 8);
        vt_image *img = t->img;
        if (t->interlaced) { /* PIL puts interlaced rows at (col, y), not offset by the tile */
            int col = START_COL[s->pass];
            size_t pixels = (size_t)(s->xsize + COL_OFFSET[s->pass]) / COL_STEP[s->pass];
            for (size_t i = 0; i < pixels; i++, col += COL_STEP[s->pass])
                pixel(s->row + 1, i, t->mode, t->pal, t->colors,
                      img->rgb + ((size_t)s->y * img->width + col) * 3);
            s->y += ROW_STEP[s->pass];
            while (s->y >= s->ysize || row_bytes == 0) {
                if (++s->pass == 7) {
                    s->y = s->ysize;
                    break;
                }
                s->y = START_ROW[s->pass];
                row_bytes = pass_row_bytes(s, true);
                memset(s->row, 0, s->bytes + 1); /* becomes the previous row: a pass starts from zeros */
            }
        } else {
            uint8_t *o = img->rgb + ((size_t)(s->y + s->y0) * img->width + s->x0) * 3;
            for (int i = 0; i < s->xsize; i++)
                pixel(s->row + 1, (size_t)i, t->mode, t->pal, t->colors, o + 3 * i);
            s->y++;
        }
        s->got = 0;
        if (s->y >= s->ysize || err == Z_STREAM_END) return ZIP_DONE;
        uint8_t *swap = s->row;
        s->row = s->prev, s->prev = swap;
    }
    return ZIP_MORE;
}

/* PngImageFile.load_read feeding the decoder: the image data chunks, 64 KiB at a time. */
static int read_image_data(png_file *f, zip_state *s, const zip_target *t, uint32_t *left) {
    f->pos = f->idat_at;
    *left = f->idat_len;
    for (;;) {
        while (*left == 0) {
            skip_up_to(f, 4); /* CRC, unchecked */
            uint8_t type[4];
            uint32_t length;
            int h = chunk_header(f, type, &length);
            if (h == 0) return vt_err("%s: truncated PNG (the image data ends before the image)", f->name);
            if (h < 0) return vt_err("%s: broken PNG chunk in the image data", f->name);
            bool fdat = !memcmp(type, "fdAT", 4);
            if (memcmp(type, "IDAT", 4) && memcmp(type, "DDAT", 4) && !fdat)
                return vt_err("%s: truncated PNG (the image data ends before the image)", f->name);
            if (fdat) {
                const uint8_t *ignored;
                size_t n;
                int what;
                TRY(call_handler(f, type, length, &ignored, &n, &what));
            }
            *left = fdat ? length - 4 : length;
        }
        size_t want = *left < READ_BLOCK ? *left : READ_BLOCK,
               got = want < f->len - f->pos ? want : f->len - f->pos;
        *left -= (uint32_t)want;
        if (got == 0) return vt_err("%s: truncated PNG (the image data ends before the image)", f->name);
        const uint8_t *piece = f->data + f->pos;
        f->pos += got;
        int status = zip_decode(s, t, piece, got);
        if (status == ZIP_DONE) return 0;
        if (status == ZIP_BROKEN) return vt_err("%s: corrupt PNG (broken image data stream)", f->name);
    }
}

/* PngImageFile.load_end: the chunks after the image, CRCs unchecked, until the end or IEND. */
static int read_trailing_chunks(png_file *f, uint32_t idat_left, bool animated) {
    f->after_image = true;
    skip_up_to(f, idat_left);
    for (;;) {
        skip_up_to(f, 4);
        uint8_t type[4];
        uint32_t length;
        if (chunk_header(f, type, &length) <= 0) return 0;
        if (!memcmp(type, "IEND", 4) || (!memcmp(type, "fcTL", 4) && animated)) return 0;
        const uint8_t *s;
        size_t n;
        int what;
        TRY(call_handler(f, type, length, &s, &n, &what));
        if (what == CHUNK_IMAGE) {
            const uint8_t *skipped;
            TRY(safe_read(f, !memcmp(type, "fdAT", 4) ? length - 4 : length, &skipped));
        }
    }
}

/* "Raw profile type exif": hex after the third line (bytes.fromhex, whitespace between bytes). */
static int raw_profile(png_file *f, uint8_t **out, size_t *n) {
    const uint8_t *p = f->raw_exif.p, *end = p + f->raw_exif.len;
    for (int lines = 0; lines < 3 && p < end; p++)
        if (*p == '\n') lines++;
    uint8_t *buf = malloc((size_t)(end - p) / 2 + 1);
    if (!buf) return vt_err("%s: out of memory", f->name);
    size_t k = 0;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f'))
            p++;
        if (p == end) break;
        int hi = -1, lo = -1;
        for (int j = 0; j < 2; j++) {
            uint8_t c = p < end ? *p++ : 0;
            int v = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f'   ? c - 'a' + 10
                : c >= 'A' && c <= 'F'   ? c - 'A' + 10
                                         : -1;
            if (j == 0)
                hi = v;
            else
                lo = v;
        }
        if (hi < 0 || lo < 0) {
            free(buf);
            return vt_err("%s: PNG \"Raw profile type exif\" is not hexadecimal (PIL refuses it)", f->name);
        }
        buf[k++] = (uint8_t)(hi << 4 | lo);
    }
    *out = buf, *n = k;
    return 0;
}

static int orientation(png_file *f, int *o) {
    vt_orientation_source src = {0};
    uint8_t *hex = NULL;
    size_t hex_len = 0;
    if (f->exif.present) {
        src.has_exif = true, src.exif = f->exif.p, src.exif_len = f->exif.len, src.exif_text = f->exif.text;
    } else if (f->raw_exif.present) {
        TRY(raw_profile(f, &hex, &hex_len));
        src.has_exif = true, src.exif = hex, src.exif_len = hex_len;
    }
    if (f->xmp_str.present) src.xmp_str = f->xmp_str.p, src.xmp_str_len = f->xmp_str.len;
    if (f->xmp.present)
        src.has_xmp = true, src.xmp = f->xmp.p, src.xmp_len = f->xmp.len, src.xmp_text = f->xmp.text;
    int rc = vt_pil_orientation(&src, o, f->name);
    free(hex);
    return rc;
}

static int decode(png_file *f, vt_image *img, const vt_image_config *c) {
    TRY(open_chunks(f));
    if (f->mode == RAW_NONE || f->w == 0 || f->h == 0)
        return vt_err("%s: PNG without a supported IHDR (size %u×%u)", f->name, f->w, f->h);
    TRY(vt_decode_check_size(f->name, f->w, f->h, c));
    if (!f->has_tile) return vt_err("%s: PNG without image data", f->name);
    size_t colors = f->has_plte ? f->plte_len / 3 : 0;
    if (colors > 256)
        return vt_err("%s: PNG palette of %zu entries (PIL refuses more than 256)", f->name, colors);
    uint64_t *t = f->tile;
    if (t[2] <= t[0] || t[3] <= t[1] || t[2] > f->w || t[3] > f->h)
        return vt_err("%s: APNG frame of no pixels (PIL refuses it)", f->name);
    bool palette = f->mode >= RAW_P1 && f->mode <= RAW_P;
    TRY(vt_decode_alloc(img, (int)f->w, (int)f->h, f->name));
    /* PIL's new image is all zeros: black, or palette entry 0 */
    uint8_t zero[3] = {0, 0, 0};
    if (palette && colors > 0) memcpy(zero, f->plte, 3);
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) memcpy(img->rgb + 3 * i, zero, 3);
    zip_state s = {.bits = bits_of(f->mode),
                   .x0 = (int)t[0],
                   .y0 = (int)t[1],
                   .xsize = (int)(t[2] - t[0]),
                   .ysize = (int)(t[3] - t[1])};
    s.bytes = ((size_t)s.bits * s.xsize + 7) / 8;
    s.row = calloc(1, s.bytes + 1), s.prev = calloc(1, s.bytes + 1);
    int rc = s.row && s.prev && inflateInit(&s.z) == Z_OK ? 0 : vt_err("%s: out of memory", f->name);
    s.z_open = rc == 0;
    zip_target target = {f->mode, f->interlaced, f->plte, colors, img};
    uint32_t left = 0;
    if (rc == 0) rc = read_image_data(f, &s, &target, &left);
    if (s.z_open) inflateEnd(&s.z);
    free(s.row), free(s.prev);
    bool animated = f->has_n_frames && (f->n_frames + (f->default_image ? 1u : 0u)) > 1;
    int o = 1;
    if (rc == 0) rc = read_trailing_chunks(f, left, animated);
    if (rc == 0) rc = orientation(f, &o);
    if (rc == 0) rc = vt_image_orient(img, o, f->name);
    if (rc) vt_image_free(img);
    return rc;
}

int vt_decode_png(vt_image *img, const uint8_t *data, size_t len, const char *name,
                  const vt_image_config *c) {
    png_file f = {.data = data, .len = len, .name = name};
    int rc = decode(&f, img, c);
    png_file_clear(&f);
    return rc;
}

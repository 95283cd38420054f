/* decode_jpeg.c — JPEG as PIL 12 reads it: JpegImagePlugin's marker walk, then libjpeg-turbo.
 *
 * PIL first walks the markers up to the start of scan in Python, and refuses what that walk cannot
 * parse: a marker segment running past the end of the file, a marker code it does not know (FF01..FFBF),
 * a frame of other than 8 bits or of 2 or more than 4 components, a JFIF or Adobe segment too short for
 * its fields, a DQT segment cut inside a table, ...  Then libjpeg decodes the file through a suspending
 * source: data that ends before the last scanline is a truncated file, data missing after it (the EOI)
 * is not.  libjpeg-turbo does the decoding here too, with the same source rules.
 * CMYK and YCCK files (4 components): PIL reads them as Adobe-inverted CMYK ("CMYK;I", whatever the
 * markers say) and converts with R = 255 - k - round(c·(255 - k)/255) on the inverted values, which is
 * what this computes from libjpeg's CMYK output.
 * The orientation comes from the EXIF APP1 segments (joined as PIL joins them) or the XMP packet; where
 * PIL's EXIF parsing fails it either ignores the EXIF (it parsed it first for the resolution, when the
 * JFIF segment gave none) or refuses the file.
 * Work: libjpeg's; a progressive file is refused past VT_JPEG_MAX_SCANS scans. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h> /* before jpeglib.h */
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

#include "util/error.h"
#include "vision/decode.h"

/* Scans a progressive JPEG may have (PIL has no limit; real files have about 10). */
#define VT_JPEG_MAX_SCANS 1000

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* What PIL's marker walk keeps. */
typedef struct {
    const uint8_t *exif; /* first Exif APP1 (from "Exif\0\0"); more are appended to `joined` */
    uint8_t *joined;
    size_t exif_len;
    const uint8_t *xmp;
    size_t xmp_len;
    bool has_exif, has_xmp, has_dpi, has_frame;
    const uint8_t *icc_min; /* the ICC_PROFILE segment that sorts first, since the last frame header */
    size_t icc_min_len, n_icc;
} jpeg_meta;

static int append_exif(jpeg_meta *m, const uint8_t *s, size_t n, const char *name) {
    if (!m->has_exif) {
        m->has_exif = true, m->exif = s, m->exif_len = n;
        return 0;
    }
    size_t add = n - 6; /* info["exif"] += s[6:] */
    uint8_t *j = malloc(m->exif_len + add);
    if (!j) return vt_err("%s: out of memory", name);
    memcpy(j, m->exif, m->exif_len);
    memcpy(j + m->exif_len, s + 6, add);
    free(m->joined);
    m->joined = j, m->exif = j, m->exif_len += add;
    return 0;
}

/* APP13 "Photoshop 3.0": PIL stops quietly at a short field, except at a resource name length past the
 * end, which raises; a resolution resource (0x03ED) shorter than its 14 bytes also ends the walk. */
static int photoshop(const uint8_t *s, size_t n, const char *name) {
    size_t at = 14;
    while (at + 4 <= n && !memcmp(s + at, "8BIM", 4)) {
        at += 4;
        if (n - at < 2) return 0;
        unsigned code = be16(s + at);
        at += 2;
        if (at >= n) return vt_err("%s: Photoshop segment cut inside a resource (PIL refuses it)", name);
        at += 1 + (size_t)s[at];
        at += at & 1;
        if (at > n || n - at < 4) return 0;
        uint32_t size =
            (uint32_t)s[at] << 24 | (uint32_t)s[at + 1] << 16 | (uint32_t)s[at + 2] << 8 | s[at + 3];
        at += 4;
        size_t data = size < n - at ? size : n - at;
        if (code == 0x03ED && data < 14) return 0;
        at += (size_t)size;
        at += at & 1;
    }
    return 0;
}

static int app_segment(jpeg_meta *m, int marker, const uint8_t *s, size_t n, const char *name) {
    if (marker == 0xE0 && n >= 4 && !memcmp(s, "JFIF", 4)) {
        if (n < 7) return vt_err("%s: JFIF segment of %zu bytes (PIL refuses it)", name, n);
        if (n >= 12 && (s[7] == 1 || s[7] == 2)) m->has_dpi = true;
    } else if (marker == 0xE1 && n >= 6 && !memcmp(s, "Exif\0\0", 6)) {
        return append_exif(m, s, n, name);
    } else if (marker == 0xE1 && n >= 29 && !memcmp(s, "http://ns.adobe.com/xap/1.0/\0", 29)) {
        m->has_xmp = true, m->xmp = s + 29, m->xmp_len = n - 29;
    } else if (marker == 0xE2 && n >= 12 && !memcmp(s, "ICC_PROFILE\0", 12)) {
        /* PIL sorts these at the frame header and reads byte 13 of the first */
        size_t k = n < m->icc_min_len ? n : m->icc_min_len;
        int order = m->n_icc ? memcmp(s, m->icc_min, k) : -1;
        if (order < 0 || (order == 0 && n < m->icc_min_len)) m->icc_min = s, m->icc_min_len = n;
        m->n_icc++;
    } else if (marker == 0xED && n >= 14 && !memcmp(s, "Photoshop 3.0\0", 14)) {
        return photoshop(s, n, name);
    } else if (marker == 0xEE && n >= 5 && !memcmp(s, "Adobe", 5)) {
        if (n < 7) return vt_err("%s: Adobe segment of %zu bytes (PIL refuses it)", name, n);
    }
    return 0;
}

/* A frame header (SOFn, DHP) as PIL's SOF handler checks it. */
static int frame_segment(jpeg_meta *m, const uint8_t *s, size_t n, const char *name) {
    if (n < 5) return vt_err("%s: JPEG frame header of %zu bytes (PIL refuses it)", name, n);
    if (s[0] != 8) return vt_err("%s: %d-bit JPEG (PIL reads 8-bit JPEG only)", name, s[0]);
    if (n < 6) return vt_err("%s: JPEG frame header of %zu bytes (PIL refuses it)", name, n);
    if (s[5] != 1 && s[5] != 3 && s[5] != 4)
        return vt_err("%s: JPEG of %d components (PIL refuses it)", name, s[5]);
    if (m->n_icc && m->icc_min_len < 14)
        return vt_err("%s: ICC profile segment of %zu bytes (PIL refuses it)", name, m->icc_min_len);
    m->n_icc = 0;
    if ((n - 6) % 3) return vt_err("%s: JPEG frame header cut inside a component (PIL refuses it)", name);
    m->has_frame = true;
    return 0;
}

static int quant_segment(const uint8_t *s, size_t n, const char *name) {
    while (n > 0) {
        size_t table = s[0] / 16 == 0 ? 65 : 129;
        if (n < table) return vt_err("%s: bad JPEG quantization table (PIL refuses it)", name);
        s += table, n -= table;
    }
    return 0;
}

/* JpegImageFile._open: the markers from the start of image to the start of scan. */
static int walk_markers(jpeg_meta *m, const uint8_t *data, size_t len, const char *name) {
    size_t pos = 3;
    int pending = 0xFF; /* the byte read and not yet used; -1 at the end of the file */
    for (;;) {
        if (pending < 0) return vt_err("%s: truncated JPEG (no start of scan)", name);
        if (pending != 0xFF) { /* junk between markers is skipped a byte at a time */
            pending = pos < len ? data[pos++] : -1;
            continue;
        }
        if (pos >= len) return vt_err("%s: truncated JPEG (no start of scan)", name);
        int marker = data[pos++];
        if (marker == 0xFF) continue; /* fill byte: the second 0xFF starts the marker */
        if (marker == 0x00) {
            pending = pos < len ? data[pos++] : -1;
            continue;
        }
        if (marker < 0xC0) return vt_err("%s: JPEG marker 0xFF%02X (PIL finds no marker)", name, marker);
        bool has_length =
            !(marker == 0xC8 || (marker >= 0xD0 && marker <= 0xD9) || (marker >= 0xF0 && marker <= 0xFD));
        if (has_length) {
            if (len - pos < 2) return vt_err("%s: truncated JPEG (marker segment)", name);
            long n = (long)be16(data + pos) - 2;
            pos += 2;
            if (n < 0) n = 0;
            if ((size_t)n > len - pos)
                return vt_err("%s: truncated JPEG (a marker segment runs past the end)", name);
            const uint8_t *s = data + pos;
            pos += (size_t)n;
            bool frame =
                (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) ||
                marker == 0xDE;
            if (frame)
                TRY(frame_segment(m, s, (size_t)n, name));
            else if (marker == 0xDB)
                TRY(quant_segment(s, (size_t)n, name));
            else if ((marker >= 0xE0 && marker <= 0xEF) || marker == 0xFE) {
                if (marker != 0xFE) TRY(app_segment(m, marker, s, (size_t)n, name));
            }
            if (marker == 0xDA)
                return m->has_frame ? 0 : vt_err("%s: JPEG scan without a frame header", name);
        }
        pending = pos < len ? data[pos++] : -1;
    }
}

/* ------------------------------------------------------------- libjpeg ---- */

typedef struct {
    struct jpeg_error_mgr base;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    bool too_many_scans;
} jpeg_errors;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) { (void)cinfo, (void)level; } /* PIL ignores warnings */

static void jpeg_scans(j_common_ptr cinfo) {
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    if (((j_decompress_ptr)cinfo)->input_scan_number > VT_JPEG_MAX_SCANS) {
        e->too_many_scans = true;
        longjmp(e->jump, 1);
    }
}

/* PIL's source: all the data at once, and suspension (not libjpeg's padding with a fake EOI) when a read
 * goes past its end, so that libjpeg stops exactly where PIL's decoder asks for more and gets nothing. */
static void source_nothing(j_decompress_ptr cinfo) { (void)cinfo; }
static boolean source_suspend(j_decompress_ptr cinfo) {
    (void)cinfo;
    return FALSE;
}
static void source_skip(j_decompress_ptr cinfo, long n) {
    struct jpeg_source_mgr *s = cinfo->src;
    size_t k = n <= 0 ? 0 : (size_t)n < s->bytes_in_buffer ? (size_t)n : s->bytes_in_buffer;
    s->next_input_byte += k, s->bytes_in_buffer -= k;
}

/* PIL's cmyk2rgb on the inverted ("CMYK;I") values: 255 - k - c·(255 - k)/255, rounded as PIL rounds. */
static uint8_t cmyk_channel(uint8_t stored_c, uint8_t stored_k) {
    int c = 255 - stored_c, nk = stored_k, t = c * nk + 128;
    return (uint8_t)(nk - (((t >> 8) + t) >> 8));
}

static int decode_pixels(vt_image *img, const uint8_t *data, size_t len, const char *name,
                         const vt_image_config *c) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_source_mgr source = {
        data, len, source_nothing, source_suspend, source_skip, jpeg_resync_to_restart, source_nothing};
    jpeg_errors err;
    uint8_t *volatile cmyk_row = NULL;
    img->rgb = NULL;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_fail;
    err.base.emit_message = jpeg_quiet;
    err.progress.progress_monitor = jpeg_scans;
    err.too_many_scans = false;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(img->rgb), free(cmyk_row);
        img->rgb = NULL;
        if (err.too_many_scans)
            return vt_err(
                "%s: progressive JPEG of more than %d scans, above the limit (refused: too much work)", name,
                VT_JPEG_MAX_SCANS);
        return vt_err("%s: corrupt JPEG: %s", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &err.progress;
    cinfo.src = &source;
    int header;
    do header = jpeg_read_header(&cinfo, FALSE);
    while (header == JPEG_HEADER_TABLES_ONLY);
    if (header != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&cinfo);
        return vt_err("%s: truncated JPEG (the data ends in its header)", name);
    }
    if (vt_decode_check_size(name, cinfo.image_width, cinfo.image_height, c)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    bool cmyk = cinfo.num_components == 4;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    bool complete = jpeg_start_decompress(&cinfo);
    int rc = vt_decode_alloc(img, (int)cinfo.output_width, (int)cinfo.output_height, name);
    if (rc == 0 && cmyk && !(cmyk_row = malloc((size_t)cinfo.output_width * 4)))
        rc = vt_err("%s: out of memory", name);
    while (rc == 0 && complete && cinfo.output_scanline < cinfo.output_height) {
        uint8_t *out = img->rgb + (size_t)cinfo.output_scanline * cinfo.output_width * 3;
        JSAMPROW row = cmyk ? cmyk_row : out;
        complete = jpeg_read_scanlines(&cinfo, &row, 1) == 1;
        for (size_t x = 0; complete && cmyk && x < cinfo.output_width; x++) {
            const uint8_t *p = cmyk_row + 4 * x;
            for (int k = 0; k < 3; k++) out[3 * x + k] = cmyk_channel(p[k], p[3]);
        }
    }
    if (rc == 0 && !complete) rc = vt_err("%s: truncated JPEG (the data ends before the image does)", name);
    if (rc == 0)
        jpeg_finish_decompress(&cinfo); /* PIL reads on to the EOI: errors count, the end of data not */
    jpeg_destroy_decompress(&cinfo);
    free(cmyk_row);
    if (rc) {
        free(img->rgb);
        img->rgb = NULL;
    }
    return rc;
}

/* The orientation as exif_transpose finds it, with PIL's quirk: without a resolution in the JFIF segment,
 * PIL parses the EXIF at open for one, and a parse that fails there leaves the EXIF empty (and the XMP
 * unread) instead of raising. */
static int orientation(const jpeg_meta *m, int *o, const char *name) {
    vt_orientation_source src = {.has_exif = m->has_exif,
                                 .exif = m->exif,
                                 .exif_len = m->exif_len,
                                 .has_xmp = m->has_xmp,
                                 .xmp = m->xmp,
                                 .xmp_len = m->xmp_len};
    if (m->has_exif && !m->has_dpi) {
        bool present;
        if (vt_exif_orientation(m->exif, m->exif_len, &present, o)) return *o = 1, 0;
    }
    return vt_pil_orientation(&src, o, name);
}

int vt_decode_jpeg(vt_image *img, const uint8_t *data, size_t len, const char *name,
                   const vt_image_config *c) {
    jpeg_meta m = {0};
    int o = 1;
    int rc = walk_markers(&m, data, len, name);
    if (rc == 0) rc = decode_pixels(img, data, len, name, c);
    if (rc == 0) rc = orientation(&m, &o, name);
    if (rc == 0) rc = vt_image_orient(img, o, name);
    if (rc) vt_image_free(img);
    free(m.joined);
    return rc;
}

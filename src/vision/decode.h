/* decode.h — what the format decoders (decode_*.c) share; internal to src/vision.
 *
 * The reference is PIL 12: Image.open, ImageOps.exif_transpose, convert("RGB").  Each decoder reads its
 * format the way PIL's plugin does: what PIL refuses (a truncated or broken file, a header it cannot
 * parse) is refused, and what PIL accepts comes out with PIL's pixels.  Work is bounded before any
 * pixel is decoded: the canvas size (max_decode_pixels) is checked from the header, and a decoder looks
 * at one frame. */
#ifndef VT_DECODE_H
#define VT_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vision/image.h"

/* Refuses a canvas with no pixels or more than c->max_decode_pixels, before anything is allocated. */
int vt_decode_check_size(const char *name, long w, long h, const vt_image_config *c);
/* img->rgb = w·h·3 bytes (uninitialised), img->width/height set. */
int vt_decode_alloc(vt_image *img, int w, int h, const char *name);

/* The metadata PIL's Image.getexif reads an orientation from.  Pointers are borrowed (into the file's
 * bytes or a decoder's buffers).  `exif_text` marks an EXIF value PIL holds as a str (a PNG zTXt/iTXt
 * "exif" entry), on which Exif.load raises; likewise `xmp_text` for an "xmp" entry it searches with a
 * bytes pattern. */
typedef struct {
    const uint8_t *exif;
    size_t exif_len;
    bool has_exif, exif_text;
    const uint8_t *xmp_str; /* PNG: info["XML:com.adobe.xmp"], searched first when not empty */
    size_t xmp_str_len;
    const uint8_t *xmp; /* info["xmp"] */
    size_t xmp_len;
    bool has_xmp, xmp_text;
} vt_orientation_source;

/* The orientation (1..8; 1 also for values PIL does not act on) that PIL's exif_transpose applies.
 * Fails where PIL's getexif raises (an EXIF block whose TIFF header is not valid), naming the file. */
int vt_pil_orientation(const vt_orientation_source *src, int *orientation, const char *name);
/* Parses an EXIF block as PIL's Exif.load does.  *tag_present says whether IFD0 has an Orientation tag;
 * *orientation is what exif_transpose does with its value (1 = nothing).  -1 where PIL raises; no message. */
int vt_exif_orientation(const uint8_t *data, size_t len, bool *tag_present, int *orientation);
/* ImageOps.exif_transpose's transposition for orientation 2..8 (1: nothing). */
int vt_image_orient(vt_image *img, int orientation, const char *name);

int vt_decode_jpeg(vt_image *img, const uint8_t *data, size_t len, const char *name,
                   const vt_image_config *c);
int vt_decode_png(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c);
int vt_decode_webp(vt_image *img, const uint8_t *data, size_t len, const char *name,
                   const vt_image_config *c);
int vt_decode_gif(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c);
int vt_decode_bmp(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c);

#endif

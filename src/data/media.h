/* media.h — images that rows give inline or by URL, made into local files.
 *
 * The pipeline after the dataset loader reads images from files (an image part's text is a path), so an image
 * given as a `data:` URI (base64), as Hugging Face `{"bytes": <base64>}`, or as an http(s) URL is written once
 * into a folder of the cache (CACHE/images, see docs/DATA.md) and its part then names that file:
 *
 *   - the file is content-addressed: HASH.EXT, HASH the FNV-1a 64 of the bytes, EXT from the bytes' format.
 *     An existing file is reused only when its bytes are the same (compared), so a hash collision or a file
 *     cut short by a crash is never taken for the image: the next free name HASH-K.EXT is used instead.
 *   - a URL is downloaded once (libcurl: http and https only, redirects followed within them, a connect and a
 *     total timeout, a size limit).  A record url-UHASH (UHASH the URL's hash) holds the URL and the name of its
 *     file; a later fetch of the same URL with the record and an intact file uses the file without the network.
 *     Delete the record (or the folder) to download again.
 *   - the bytes must start as an image the decoder reads (JPEG, PNG, WebP, GIF, BMP); anything else (an HTML
 *     error page, a truncated base64) is an error here, naming the source.
 *
 * Because the file's name changes with its bytes, the rows cache (rows.h), which hashes each image path with
 * its size and time, sees a changed image as a changed key.
 *
 * Messages name a source the way vt_media_describe shows it: a data URI is never printed whole. */
#ifndef VT_MEDIA_H
#define VT_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    VT_MEDIA_CONNECT_TIMEOUT_S = 15,         /* to reach the server */
    VT_MEDIA_TIMEOUT_S = 60,                 /* for a whole download */
};
#define VT_MEDIA_MAX_BYTES ((size_t)64 << 20) /* largest image accepted, inline or downloaded */
enum { VT_MEDIA_SHOWN = 272 };               /* room for vt_media_describe's text */

typedef struct {
    const char *dir;           /* where the files go (created when first needed) */
    long connect_timeout_s;    /* 0: VT_MEDIA_CONNECT_TIMEOUT_S */
    long timeout_s;            /* 0: VT_MEDIA_TIMEOUT_S */
    size_t max_bytes;          /* 0: VT_MEDIA_MAX_BYTES */
} vt_media_options;

/* Sources that vt_media_fetch turns into files: "data:...", "http://...", "https://..." (scheme in any case). */
bool vt_media_is_inline(const char *source);
bool vt_media_is_url(const char *source);

/* The file holding the image of `source` (a data: URI or an http(s) URL), written or downloaded as described
 * above.  *path is malloc'd (caller frees).  Errors say what went wrong with the source (shortened), e.g.
 * "https://host/x.jpg: HTTP 404" or "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA…(91 bytes): invalid base64
 * character '!' at offset 40". */
int vt_media_fetch(const char *source, const vt_media_options *o, char **path);

/* Decodes base64 (RFC 4648, standard or URL-safe alphabet; padding optional; spaces and line breaks skipped).
 * *out is malloc'd.  Errors give the offset of the first bad character. */
int vt_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len);

/* `source` for a message: as it is when short, else cut: a data: URI longer than 63 bytes to its first 32
 * characters, anything else longer than 255 to its first 200 (never inside a UTF-8 sequence), followed by
 * "…(N bytes)".  Writes into buf (VT_MEDIA_SHOWN bytes suffice) and returns it. */
const char *vt_media_describe(const char *source, char *buf, size_t cap);

/* The file extension of an image from its first bytes ("jpg", "png", "webp", "gif", "bmp"), or NULL. */
const char *vt_media_image_type(const uint8_t *data, size_t len);

#endif

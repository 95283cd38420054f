/* decode.c — image files to 8-bit RGB, as PIL's open + exif_transpose + convert("RGB") does: the format
 * is found from the first bytes (never the name), then decode_<format>.c reads it (see decode.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"
#include "util/fs.h"
#include "vision/decode.h"

int vt_decode_check_size(const char *name, long w, long h, const vt_image_config *c) {
    if (w <= 0 || h <= 0) return vt_err("%s: image has no pixels (%ld×%ld)", name, w, h);
    double pixels = (double)w * (double)h; /* headers can claim 2^32 × 2^32: no integer product */
    if (pixels > (double)c->max_decode_pixels)
        return vt_err("%s: image is %ld×%ld = %.0f pixels, above the limit of %ld (refused before decoding)",
                      name, w, h, pixels, c->max_decode_pixels);
    return 0;
}

int vt_decode_alloc(vt_image *img, int w, int h, const char *name) {
    img->width = w, img->height = h;
    img->rgb = malloc((size_t)w * h * 3);
    return img->rgb ? 0 : vt_err("%s: out of memory for %d×%d pixels", name, w, h);
}

int vt_image_decode(vt_image *img, const uint8_t *data, size_t len, const char *name,
                    const vt_image_config *c) {
    *img = (vt_image){0};
    if (len == 0) return vt_err("%s: empty file (0 bytes)", name);
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return vt_decode_jpeg(img, data, len, name, c);
    if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) return vt_decode_png(img, data, len, name, c);
    if (len >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4))
        return vt_decode_webp(img, data, len, name, c);
    if (len >= 6 && (!memcmp(data, "GIF87a", 6) || !memcmp(data, "GIF89a", 6)))
        return vt_decode_gif(img, data, len, name, c);
    if (len >= 2 && data[0] == 'B' && data[1] == 'M') return vt_decode_bmp(img, data, len, name, c);
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
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return vt_err("%s: is a device, not an image file", path);
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

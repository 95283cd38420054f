/* image.h — decoding images to 8-bit RGB, and Qwen3-VL's preprocessing.
 *
 * Decoding does what the reference loader does (mlx-vlm's load_image, and transformers'
 * load_image alike): PIL's Image.open, ImageOps.exif_transpose, convert("RGB").  So the
 * EXIF orientation is applied, and alpha is dropped, not composited (convert("RGB") keeps the
 * colour channels as they are).  The format is found from the file's first bytes, not its
 * name: JPEG, PNG (8/16-bit, palette, gray, alpha), WebP, GIF (first frame), BMP.
 *
 * Preprocessing is Qwen2VLImageProcessor's as configured for Qwen3-VL: smart_resize to
 * multiples of patch·merge within [min_pixels, max_pixels], PIL-compatible bicubic resampling
 * with antialiasing, x/255, (x − mean)/std, two identical frames, and patches in merge order. */
#ifndef VT_IMAGE_H
#define VT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width, height;
    uint8_t *rgb; /* [height, width, 3], owned */
} vt_image;

/* PIL's limit: Image.open raises DecompressionBombError above 2 × Image.MAX_IMAGE_PIXELS (89478485). */
#define VT_IMAGE_MAX_PIXELS (2L * 89478485L)

typedef struct {
    long min_pixels, max_pixels;   /* Qwen3-VL: 65536 and 16777216 */
    int patch, merge, temporal;    /* 16, 2, 2 */
    float mean[3], std[3];         /* 0.5 each */
    long max_decode_pixels;        /* refuse larger images before allocating (default VT_IMAGE_MAX_PIXELS) */
} vt_image_config;

typedef struct {
    float *pixel_values;  /* [patches, 3·temporal·patch·patch], owned */
    int n_patches, patch_dim;
    int grid_t, grid_h, grid_w;
    int n_tokens;         /* grid_t·grid_h·grid_w / merge² <|image_pad|> tokens */
    int resized_w, resized_h;
} vt_image_patches;

void vt_image_config_default(vt_image_config *c);
/* Values per patch row of pixel_values: channels (3) × temporal × patch × patch (Qwen3-VL: 1536). */
int vt_image_patch_dim(const vt_image_config *c);
/* Overlays DIR/preprocessor_config.json when it exists (size.{shortest,longest}_edge or
 * min_pixels/max_pixels, patch_size, merge_size, temporal_patch_size, image_mean, image_std). */
int vt_image_config_load(vt_image_config *c, const char *dir);

/* Decodes a file as PIL reads it (docs/IMAGES.md); errors name it (missing, with the system's reason, a
 * directory or device, empty, truncated, corrupt, unsupported, too large). */
int vt_image_load(vt_image *img, const char *path, const vt_image_config *c);
/* The same from memory; `name` is used in messages. */
int vt_image_decode(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c);
void vt_image_free(vt_image *img);

/* Target size: multiples of factor = patch·merge, pixels within [min, max], aspect kept.
 * Aspect ratio above 200 is an error. */
int vt_smart_resize(int height, int width, int factor, long min_pixels, long max_pixels, int *out_h, int *out_w);
/* PIL's Image.resize(BICUBIC) on 8-bit RGB, antialiased when shrinking, bit for bit. */
int vt_image_resize(const vt_image *in, int width, int height, vt_image *out);
int vt_image_preprocess(const vt_image *img, const vt_image_config *c, vt_image_patches *out);
void vt_image_patches_free(vt_image_patches *p);

#endif

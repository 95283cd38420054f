/* preprocess.c — smart_resize, PIL's bicubic resampling, normalisation and patches. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "util/error.h"
#include "util/fs.h"
#include "vision/image.h"

int vt_image_patch_dim(const vt_image_config *c) { return 3 * c->temporal * c->patch * c->patch; }

void vt_image_config_default(vt_image_config *c) {
    *c = (vt_image_config){.min_pixels = 65536, .max_pixels = 16777216, .patch = 16, .merge = 2, .temporal = 2,
                           .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .max_decode_pixels = VT_IMAGE_MAX_PIXELS};
}

static int read_triple(const cJSON *root, const char *key, float out[3], const char *what) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!a) return 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) return vt_err("%s: \"%s\" must list 3 numbers", what, key);
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v)) return vt_err("%s: \"%s\" must list 3 numbers", what, key);
        out[i] = (float)v->valuedouble;
    }
    return 0;
}

static int pixels_opt(const cJSON *obj, const char *key, long *out, const char *what) {
    double v = (double)*out;
    TRY(vt_json_double_opt(obj, key, &v, what));
    *out = (long)v;
    return 0;
}

int vt_image_config_load(vt_image_config *c, const char *dir) {
    char path[4096];
    TRY(vt_path_join(path, sizeof path, dir, "preprocessor_config.json"));
    if (!vt_path_exists(path)) return 0;
    cJSON *root;
    TRY(vt_json_load(&root, path));
    /* both spellings: size.{shortest,longest}_edge (transformers 5) and min/max_pixels (older files) */
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
    int rc = (cJSON_IsObject(size) && (pixels_opt(size, "shortest_edge", &c->min_pixels, path) ||
                                      pixels_opt(size, "longest_edge", &c->max_pixels, path))) ||
             pixels_opt(root, "min_pixels", &c->min_pixels, path) || pixels_opt(root, "max_pixels", &c->max_pixels, path);
    rc = rc || vt_json_int_opt(root, "patch_size", &c->patch, path) || vt_json_int_opt(root, "merge_size", &c->merge, path) ||
         vt_json_int_opt(root, "temporal_patch_size", &c->temporal, path) || read_triple(root, "image_mean", c->mean, path) ||
         read_triple(root, "image_std", c->std, path);
    cJSON_Delete(root);
    if (rc == 0 && (c->patch < 1 || c->merge < 1 || c->temporal < 1 || c->min_pixels < 1 || c->max_pixels < c->min_pixels))
        rc = vt_err("%s: patch, merge and temporal sizes must be positive and min_pixels <= max_pixels", path);
    return rc;
}

/* ------------------------------------------------------------ resizing ---- */

int vt_smart_resize(int height, int width, int factor, long min_pixels, long max_pixels, int *out_h, int *out_w) {
    if (height < 1 || width < 1) return vt_err("image has no pixels (%d×%d)", width, height);
    double ratio = (double)(height > width ? height : width) / (height < width ? height : width);
    if (ratio > 200) return vt_err("aspect ratio %.1f of a %d×%d image is above 200", ratio, width, height);
    /* Python's round() rounds halves to even, as rint does */
    long h = (long)rint((double)height / factor) * factor, w = (long)rint((double)width / factor) * factor;
    if (h * w > max_pixels) {
        double beta = sqrt((double)height * width / (double)max_pixels);
        h = (long)floor(height / beta / factor) * factor;
        w = (long)floor(width / beta / factor) * factor;
        if (h < factor) h = factor;
        if (w < factor) w = factor;
    } else if (h * w < min_pixels) {
        double beta = sqrt((double)min_pixels / ((double)height * width));
        h = (long)ceil(height * beta / factor) * factor;
        w = (long)ceil(width * beta / factor) * factor;
    }
    if (h < 1 || w < 1 || h > 1 << 20 || w > 1 << 20) return vt_err("image %d×%d resizes to nothing usable", width, height);
    *out_h = (int)h, *out_w = (int)w;
    return 0;
}

/* PIL's bicubic kernel (a = -0.5) and its fixed-point resampling (Resample.c): coefficients
 * normalised to sum 1, scaled to 22 fractional bits and rounded away from zero; each output
 * value is the rounded, clipped sum.  Horizontal pass first, then vertical, through uint8. */
enum { PRECISION_BITS = 32 - 8 - 2 };

static double bicubic(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct {
    int ksize;
    int *bounds; /* [out] pairs: first input index, count */
    int *k;      /* [out][ksize] fixed-point weights */
} coeffs;

static int precompute(int in_size, int out_size, coeffs *c) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    c->k = malloc((size_t)out_size * c->ksize * sizeof(int));
    double *w = malloc((size_t)c->ksize * sizeof(double));
    if (!c->bounds || !c->k || !w) {
        free(w);
        return vt_err("out of memory for resampling coefficients");
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) ww += w[x] = bicubic((x + xmin - center + 0.5) * ss);
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax && ww != 0.0 ? w[x] / ww : 0.0;
            c->k[xx * c->ksize + x] = (int)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin, c->bounds[2 * xx + 1] = xmax;
    }
    free(w);
    return 0;
}

static uint8_t clip8(int v) {
    v >>= PRECISION_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* One pass along x (horizontal) or y (vertical), RGB uint8 in and out.  The vertical pass
 * accumulates whole rows at a time, so it reads memory in order. */
static int pass(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w, int out_h, const coeffs *c,
                int horizontal) {
    (void)in_h;
    if (horizontal) {
        for (int y = 0; y < out_h; y++) {
            const uint8_t *row = in + (size_t)y * in_w * 3;
            uint8_t *dst = out + (size_t)y * out_w * 3;
            for (int x = 0; x < out_w; x++) {
                int lo = c->bounds[2 * x], n = c->bounds[2 * x + 1];
                const int *k = c->k + (size_t)x * c->ksize;
                const uint8_t *p = row + (size_t)lo * 3;
                int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int i = 0; i < n; i++, p += 3) s0 += p[0] * k[i], s1 += p[1] * k[i], s2 += p[2] * k[i];
                dst[3 * x] = clip8(s0), dst[3 * x + 1] = clip8(s1), dst[3 * x + 2] = clip8(s2);
            }
        }
        return 0;
    }
    size_t width = (size_t)out_w * 3;
    int *acc = malloc(width * sizeof *acc);
    if (!acc) return vt_err("out of memory");
    for (int y = 0; y < out_h; y++) {
        int lo = c->bounds[2 * y], n = c->bounds[2 * y + 1];
        const int *k = c->k + (size_t)y * c->ksize;
        for (size_t j = 0; j < width; j++) acc[j] = 1 << (PRECISION_BITS - 1);
        for (int i = 0; i < n; i++) {
            const uint8_t *row = in + (size_t)(lo + i) * width;
            int w = k[i];
            for (size_t j = 0; j < width; j++) acc[j] += row[j] * w;
        }
        uint8_t *dst = out + (size_t)y * width;
        for (size_t j = 0; j < width; j++) dst[j] = clip8(acc[j]);
    }
    free(acc);
    return 0;
}

/* Horizontal pass first, then vertical, rounding to uint8 in between, as Pillow ≤ 12 always does.
 * (Pillow 13 runs the vertical pass first for some shapes, by a rule it does not document; the
 * reference here is pinned to Pillow 12.3 — see docs/IMAGES.md.) */
int vt_image_resize(const vt_image *in, int width, int height, vt_image *out) {
    *out = (vt_image){0};
    if (width < 1 || height < 1) return vt_err("resize to %d×%d", width, height);
    bool need_h = width != in->width, need_v = height != in->height;
    bool vertical_first = false;
    coeffs ch = {0}, cv = {0};
    uint8_t *mid = NULL;
    int rc = 0;
    if (need_h) rc = precompute(in->width, width, &ch);
    if (rc == 0 && need_v) rc = precompute(in->height, height, &cv);
    if (rc == 0 && !(out->rgb = malloc((size_t)width * height * 3))) rc = vt_err("out of memory");
    if (rc == 0 && need_h && need_v) {
        int mw = vertical_first ? in->width : width, mh = vertical_first ? height : in->height;
        if (!(mid = malloc((size_t)mw * mh * 3))) {
            rc = vt_err("out of memory");
        } else if (vertical_first) {
            rc = pass(in->rgb, in->width, in->height, mid, mw, mh, &cv, 0) ||
                 pass(mid, mw, mh, out->rgb, width, height, &ch, 1);
        } else {
            rc = pass(in->rgb, in->width, in->height, mid, mw, mh, &ch, 1) ||
                 pass(mid, mw, mh, out->rgb, width, height, &cv, 0);
        }
    } else if (rc == 0 && need_h) {
        rc = pass(in->rgb, in->width, in->height, out->rgb, width, height, &ch, 1);
    } else if (rc == 0 && need_v) {
        rc = pass(in->rgb, in->width, in->height, out->rgb, width, height, &cv, 0);
    } else if (rc == 0) {
        memcpy(out->rgb, in->rgb, (size_t)width * height * 3);
    }
    free(ch.bounds), free(ch.k), free(cv.bounds), free(cv.k), free(mid);
    if (rc) {
        free(out->rgb);
        out->rgb = NULL;
        return -1;
    }
    out->width = width, out->height = height;
    return 0;
}

/* -------------------------------------------------------------- patches ---- */

int vt_image_preprocess(const vt_image *img, const vt_image_config *c, vt_image_patches *out) {
    *out = (vt_image_patches){0};
    int factor = c->patch * c->merge, h, w;
    if (vt_smart_resize(img->height, img->width, factor, c->min_pixels, c->max_pixels, &h, &w)) return -1;
    vt_image resized;
    const vt_image *src = img;
    if (h != img->height || w != img->width) {
        TRY(vt_image_resize(img, w, h, &resized));
        src = &resized;
    }
    int gh = h / c->patch, gw = w / c->patch, P = c->patch, M = c->merge, T = c->temporal;
    out->grid_t = 1, out->grid_h = gh, out->grid_w = gw;
    out->n_patches = gh * gw;
    out->patch_dim = vt_image_patch_dim(c);
    out->n_tokens = gh * gw / (M * M);
    out->resized_w = w, out->resized_h = h;
    out->pixel_values = malloc((size_t)out->n_patches * out->patch_dim * sizeof(float));
    int rc = out->pixel_values ? 0 : vt_err("out of memory for %d patches", out->n_patches);
    /* rows (block_row, block_col, in_row, in_col); columns (channel, frame, y, x); both frames identical */
    float *row = out->pixel_values;
    for (int br = 0; rc == 0 && br < gh / M; br++)
        for (int bc = 0; bc < gw / M; bc++)
            for (int ir = 0; ir < M; ir++)
                for (int ic = 0; ic < M; ic++, row += out->patch_dim) {
                    int py = (br * M + ir) * P, px = (bc * M + ic) * P;
                    float *col = row;
                    for (int ch = 0; ch < 3; ch++)
                        for (int t = 0; t < T; t++)
                            for (int y = 0; y < P; y++)
                                for (int x = 0; x < P; x++) {
                                    float v = src->rgb[((size_t)(py + y) * w + (px + x)) * 3 + ch] * (1.0f / 255.0f);
                                    *col++ = (v - c->mean[ch]) / c->std[ch];
                                }
                }
    if (src == &resized) vt_image_free(&resized);
    if (rc) vt_image_patches_free(out);
    return rc;
}

void vt_image_patches_free(vt_image_patches *p) {
    if (!p) return;
    free(p->pixel_values);
    *p = (vt_image_patches){0};
}

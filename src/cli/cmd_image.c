/* `vlmtune image` — decode and preprocess one image as the model will see it.
 *
 *   vlmtune image --image photo.jpg [--model DIR] [--image-max-pixels N] [--image-min-pixels N] [--out OUT.safetensors]
 * prints the decoded and resized sizes, the patch grid and the number of <|image_pad|> tokens; with --out
 * writes pixel_values [patches, patch_dim] float32 and image_grid_thw [1, 3] int32 (the format vlmtune forward reads),
 * and with --rgb-out the decoded RGB [H, W, 3] uint8.  With --decode-only it stops after decoding (no resize,
 * so no aspect-ratio limit): the tests compare the decoded pixels of any file with PIL's. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "mlx/mx.h"
#include "vision/image.h"
#include "util/fs.h"

static int write_outputs(const vt_image *img, const vt_image_patches *p, const char *out, const char *rgb_out) {
    mx_arena *scope = mx_scope_begin();
    mx_tensors *t = NULL;
    int rc = mx_tensors_new(&t);
    if (rc == 0 && out) {
        int shape[2] = {p->n_patches, p->patch_dim}, gshape[2] = {1, 3};
        int32_t grid[3] = {p->grid_t, p->grid_h, p->grid_w};
        mx_array pv, g;
        rc = mx_from_data(&pv, p->pixel_values, shape, 2, MX_FLOAT32) || mx_from_data(&g, grid, gshape, 2, MX_INT32) ||
             mx_tensors_set(t, "pixel_values", pv) || mx_tensors_set(t, "image_grid_thw", g) || mx_save_safetensors(out, t);
    }
    if (rc == 0 && rgb_out) {
        mx_tensors_free(t);
        int shape[3] = {img->height, img->width, 3};
        mx_array rgb;
        rc = mx_tensors_new(&t) || mx_from_data(&rgb, img->rgb, shape, 3, MX_UINT8) || mx_tensors_set(t, "rgb", rgb) ||
             mx_save_safetensors(rgb_out, t);
    }
    mx_tensors_free(t);
    mx_scope_end(scope);
    return rc;
}

int cmd_image(int argc, char **argv) {
    vt_option opts[] = {{"image", "PATH", "image file (JPEG, PNG, WebP, GIF, BMP)", true},
                        {"model", "DIR", "take the settings from DIR/preprocessor_config.json", false},
                        VT_IMAGE_OPTIONS,
                        {"out", "OUT.safetensors", "write pixel_values and image_grid_thw", false},
                        {"rgb-out", "RGB.safetensors", "write the decoded RGB pixels", false},
                        {"decode-only", NULL, "decode (and orient) only: no resizing, no patches", false},
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune image --image PATH [--model DIR] [--image-max-pixels N] [--out F]");
    if (rc) return rc > 0 ? 0 : -1;
    const char *inputs[] = {vt_args_value(opts, "image"), vt_args_value(opts, "model")};
    if (vt_args_value(opts, "out")) TRY(vt_check_out_file(vt_args_value(opts, "out"), "--out", inputs, 2));
    if (vt_args_value(opts, "rgb-out")) TRY(vt_check_out_file(vt_args_value(opts, "rgb-out"), "--rgb-out", inputs, 2));
    vt_image_config cfg;
    TRY(vt_args_image_config(opts, vt_args_value(opts, "model"), &cfg));
    vt_image img;
    vt_image_patches p;
    TRY(vt_image_load(&img, vt_args_value(opts, "image"), &cfg));
    if (vt_args_flag(opts, "decode-only")) {
        printf("image   %s\ndecoded %d×%d\n", vt_args_value(opts, "image"), img.width, img.height);
        rc = write_outputs(&img, NULL, NULL, vt_args_value(opts, "rgb-out"));
        vt_image_free(&img);
        return rc;
    }
    rc = vt_image_preprocess(&img, &cfg, &p);
    if (rc) vt_err_context("%s", vt_args_value(opts, "image"));
    if (rc == 0) {
        printf("image   %s\ndecoded %d×%d\nresized %d×%d\ngrid    (%d, %d, %d), %d patches of %d values\ntokens  %d\n",
               vt_args_value(opts, "image"), img.width, img.height, p.resized_w, p.resized_h, p.grid_t, p.grid_h,
               p.grid_w, p.n_patches, p.patch_dim, p.n_tokens);
        rc = write_outputs(&img, &p, vt_args_value(opts, "out"), vt_args_value(opts, "rgb-out"));
        vt_image_patches_free(&p);
    }
    vt_image_free(&img);
    return rc;
}

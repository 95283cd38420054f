/* Fuzz target: any bytes through every image decoder (chosen by the first bytes) and the preprocessing. */
#include <stddef.h>
#include <stdint.h>

#include "vision/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vt_image_config c;
    vt_image_config_default(&c);
    c.max_decode_pixels = 1 << 16; /* 256×256: keeps a run short (each decoder bounds its work by this) */
    c.min_pixels = 32 * 32, c.max_pixels = 128 * 128;
    vt_image img;
    if (vt_image_decode(&img, data, size, "fuzz", &c) == 0) {
        vt_image_patches p;
        if (vt_image_preprocess(&img, &c, &p) == 0) vt_image_patches_free(&p);
        vt_image_free(&img);
    }
    return 0;
}

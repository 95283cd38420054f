/* Image preprocessing by its definition: smart_resize against the worked examples of the Qwen3-VL
 * facts and the formula, patch order on an image whose pixels encode their coordinates, bad input. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vision/image.h"

static void expect_size(int h, int w, long mn, long mx, int want_h, int want_w) {
    int gh = 0, gw = 0;
    CHECK_OK(vt_smart_resize(h, w, 32, mn, mx, &gh, &gw));
    CHECK(gh == want_h && gw == want_w);
    if (gh != want_h || gw != want_w) fprintf(stderr, "  %d×%d -> %d×%d, want %d×%d\n", w, h, gw, gh, want_w, want_h);
}

int main(void) {
    TEST_BEGIN();
    /* shared/spec/qwen3-vl.md §6 and §10 */
    expect_size(200, 300, 65536, 16777216, 224, 320);   /* 300×200 -> 320×224 (70 tokens) */
    expect_size(448, 448, 65536, 16777216, 448, 448);   /* grid (1, 28, 28), 196 tokens */
    expect_size(768, 1024, 65536, 16777216, 768, 1024); /* grid (1, 48, 64), 768 tokens */
    long mn = 64 * 64, mx = 448 * 448;
    expect_size(480, 640, mn, mx, 384, 512);   /* (1, 24, 32) */
    expect_size(30, 20, mn, mx, 96, 64);       /* 20×30 -> (1, 6, 4), upscaled to min_pixels */
    expect_size(40, 2000, mn, mx, 32, 1984);   /* 2000×40 -> (1, 2, 124) */
    expect_size(1600, 2400, mn, mx, 352, 544); /* 2400×1600 -> (1, 22, 34) */
    /* round half to even, as Python's round(): 48/32 = 1.5 -> 2, 80/32 = 2.5 -> 2 */
    expect_size(48, 80, 1, 1 << 30, 64, 64);
    int h, w;
    CHECK_FAILS(vt_smart_resize(10, 2010, 32, mn, mx, &h, &w), "aspect ratio 201.0 of a 2010×10 image is above 200");
    CHECK_FAILS(vt_smart_resize(0, 10, 32, mn, mx, &h, &w), "no pixels");

    /* patch order: an image of 64×32 pixels whose red channel is x and green is y */
    vt_image img = {64, 32, malloc(64 * 32 * 3)};
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = img.rgb + (y * 64 + x) * 3;
            p[0] = (uint8_t)x, p[1] = (uint8_t)y, p[2] = 255;
        }
    vt_image_config c;
    vt_image_config_default(&c);
    c.min_pixels = 1, c.max_pixels = 1 << 20;
    vt_image_patches pt;
    CHECK_OK(vt_image_preprocess(&img, &c, &pt));
    CHECK(pt.grid_t == 1 && pt.grid_h == 2 && pt.grid_w == 4 && pt.n_patches == 8 && pt.n_tokens == 2);
    CHECK(pt.patch_dim == 1536);
    /* rows go (block row, block column, row in block, column in block): row 2 is patch (y 1, x 0),
       row 4 is the second 2×2 block's first patch (y 0, x 2) */
    int want_y[8] = {0, 0, 1, 1, 0, 0, 1, 1}, want_x[8] = {0, 1, 0, 1, 2, 3, 2, 3};
    for (int r = 0; r < 8; r++) {
        const float *row = pt.pixel_values + (size_t)r * 1536;
        /* column (c, t, y, x): red of pixel (y 5, x 7) of the patch, frame 0, then frame 1 */
        float red0 = row[0 * 512 + 0 * 256 + 5 * 16 + 7], red1 = row[0 * 512 + 1 * 256 + 5 * 16 + 7];
        float green = row[1 * 512 + 0 * 256 + 5 * 16 + 7], blue = row[2 * 512 + 3];
        CHECK_NEAR(red0, ((want_x[r] * 16 + 7) / 255.0 - 0.5) / 0.5, 1e-6);
        CHECK(red0 == red1); /* two identical frames */
        CHECK_NEAR(green, ((want_y[r] * 16 + 5) / 255.0 - 0.5) / 0.5, 1e-6);
        CHECK_NEAR(blue, 1.0, 1e-6);
    }
    vt_image_patches_free(&pt);
    free(img.rgb);

    vt_image bad;
    CHECK_FAILS(vt_image_decode(&bad, (const uint8_t *)"", 0, "empty.png", &c), "empty.png: empty file");
    CHECK_FAILS(vt_image_decode(&bad, (const uint8_t *)"GIF89a", 6, "x.gif", &c), "x.gif: truncated GIF header");
    CHECK_FAILS(vt_image_load(&bad, "/nonexistent.jpg", &c), "/nonexistent.jpg: image file not found (No such file");
    CHECK_FAILS(vt_image_load(&bad, "/tmp", &c), "/tmp: is a directory, not an image file");
    CHECK_FAILS(vt_image_load(&bad, "/dev/zero", &c), "/dev/zero: is a device, not an image file"); /* endless */
#ifdef __linux__ /* a file that opens but cannot be read */
    CHECK_FAILS(vt_image_load(&bad, "/proc/self/mem", &c), "/proc/self/mem: read error: Input/output error");
#endif
    CHECK_FAILS(vt_image_load(&bad, "/dev/null/x.jpg", &c), "/dev/null/x.jpg: cannot open the image: Not a directory");
    return TEST_END();
}

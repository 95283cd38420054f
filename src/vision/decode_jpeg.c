/* decode_jpeg.c — JPEG through libjpeg-turbo. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h> /* before jpeglib.h */
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

#include "util/error.h"
#include "vision/decode.h"

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    bool hit_eof; /* libjpeg pads a truncated file with grey and warns; PIL refuses it */
} jpeg_errors;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) ((jpeg_errors *)cinfo->err)->hit_eof = true;
}

int vt_decode_jpeg(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err;
    volatile int rc = -1;
    img->rgb = NULL;
    err.hit_eof = false;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_fail;
    err.base.emit_message = jpeg_quiet;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(img->rgb);
        img->rgb = NULL;
        return vt_err("%s: corrupt or truncated JPEG: %s", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return vt_err("%s: CMYK JPEG is not supported (convert it to RGB first)", name);
    }
    if (vt_decode_check_size(name, cinfo.image_width, cinfo.image_height, c)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    int orientation = 1;
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && !memcmp(m->data, "Exif\0\0", 6))
            {
                bool present;
                if (vt_exif_orientation(m->data, m->data_length, &present, &orientation)) orientation = 1;
            }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (vt_decode_alloc(img, (int)cinfo.output_width, (int)cinfo.output_height, name) == 0) {
        while (cinfo.output_scanline < cinfo.output_height) {
            JSAMPROW row = img->rgb + (size_t)cinfo.output_scanline * cinfo.output_width * 3;
            jpeg_read_scanlines(&cinfo, &row, 1);
        }
        jpeg_finish_decompress(&cinfo);
        rc = 0;
    }
    jpeg_destroy_decompress(&cinfo);
    if (rc == 0 && err.hit_eof) {
        free(img->rgb);
        img->rgb = NULL;
        rc = vt_err("%s: truncated JPEG (the data ends before the image does)", name);
    }
    if (rc == 0) rc = vt_image_orient(img, orientation, name);
    return rc;
}

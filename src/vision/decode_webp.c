/* decode_webp.c — WebP as PIL 12 reads it: libwebp's animation decoder, first frame, on its canvas.
 *
 * PIL opens every WebP with WebPAnimDecoder: the demuxer must accept the whole file (a truncated file is
 * refused there), the image is the canvas, and the first frame is decoded into it where the frame says;
 * the rest of the canvas is transparent black, which convert("RGB") makes black.  Colours are not
 * premultiplied, so a transparent pixel keeps the colour it was stored with.  The EXIF and XMP chunks
 * (the first of each) give the orientation. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "util/error.h"
#include "vision/decode.h"

int vt_decode_webp(vt_image *img, const uint8_t *data, size_t len, const char *name,
                   const vt_image_config *c) {
    WebPData whole = {data, len};
    WebPDemuxer *demux = WebPDemux(&whole);
    if (!demux) return vt_err("%s: corrupt or truncated WebP", name);
    uint32_t cw = WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH),
             ch = WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT);
    int rc = vt_decode_check_size(name, cw, ch, c);
    WebPIterator frame;
    bool have_frame = rc == 0 && WebPDemuxGetFrame(demux, 1, &frame);
    if (rc == 0 && !have_frame) rc = vt_err("%s: WebP without a frame", name);
    if (rc == 0) rc = vt_decode_alloc(img, (int)cw, (int)ch, name);
    if (rc == 0) {
        memset(img->rgb, 0, (size_t)cw * ch * 3);
        int fw = 0, fh = 0;
        uint8_t *rgb = WebPDecodeRGB(frame.fragment.bytes, frame.fragment.size, &fw, &fh);
        if (!rgb || frame.x_offset < 0 || frame.y_offset < 0 || (uint32_t)(frame.x_offset + fw) > cw ||
            (uint32_t)(frame.y_offset + fh) > ch)
            rc = vt_err("%s: corrupt WebP (its first frame does not decode)", name);
        for (int y = 0; rc == 0 && y < fh; y++)
            memcpy(img->rgb + ((size_t)(frame.y_offset + y) * cw + frame.x_offset) * 3,
                   rgb + (size_t)y * fw * 3, (size_t)fw * 3);
        WebPFree(rgb);
    }
    if (have_frame) WebPDemuxReleaseIterator(&frame);
    vt_orientation_source src = {0};
    WebPChunkIterator exif = {0}, xmp = {0};
    bool has_exif = rc == 0 && WebPDemuxGetChunk(demux, "EXIF", 1, &exif);
    bool has_xmp = rc == 0 && WebPDemuxGetChunk(demux, "XMP ", 1, &xmp);
    if (has_exif && exif.chunk.size > 0)
        src.has_exif = true, src.exif = exif.chunk.bytes, src.exif_len = exif.chunk.size;
    if (has_xmp && xmp.chunk.size > 0)
        src.has_xmp = true, src.xmp = xmp.chunk.bytes, src.xmp_len = xmp.chunk.size;
    int o = 1;
    if (rc == 0) rc = vt_pil_orientation(&src, &o, name);
    if (has_exif) WebPDemuxReleaseChunkIterator(&exif);
    if (has_xmp) WebPDemuxReleaseChunkIterator(&xmp);
    WebPDemuxDelete(demux);
    if (rc == 0) rc = vt_image_orient(img, o, name);
    if (rc) vt_image_free(img);
    return rc;
}

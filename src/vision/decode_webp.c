/* decode_webp.c — WebP through libwebp (demux for the first frame and the EXIF chunk). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "util/error.h"
#include "vision/decode.h"

int vt_decode_webp(vt_image *img, const uint8_t *data, size_t len, const char *name, const vt_image_config *c) {
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(data, len, &f) != VP8_STATUS_OK) return vt_err("%s: corrupt or truncated WebP", name);
    TRY(vt_decode_check_size(name, f.width, f.height, c));
    WebPData whole = {data, len};
    WebPDemuxer *demux = WebPDemux(&whole);
    if (!demux) return vt_err("%s: corrupt or truncated WebP", name);
    WebPIterator frame;
    int rc = 0, orientation = 1;
    if (!WebPDemuxGetFrame(demux, 1, &frame)) rc = vt_err("%s: WebP without a frame", name);
    WebPChunkIterator exif;
    if (rc == 0 && WebPDemuxGetChunk(demux, "EXIF", 1, &exif)) {
        bool present;
        if (vt_exif_orientation(exif.chunk.bytes, exif.chunk.size, &present, &orientation)) orientation = 1;
        WebPDemuxReleaseChunkIterator(&exif);
    }
    int fw = 0, fh = 0;
    uint8_t *rgb = rc == 0 ? WebPDecodeRGB(frame.fragment.bytes, frame.fragment.size, &fw, &fh) : NULL;
    if (rc == 0 && !rgb) rc = vt_err("%s: corrupt or truncated WebP", name);
    if (rc == 0 && vt_decode_alloc(img, fw, fh, name) == 0) memcpy(img->rgb, rgb, (size_t)fw * fh * 3);
    else if (rc == 0) rc = -1;
    WebPFree(rgb);
    if (rc == 0) WebPDemuxReleaseIterator(&frame);
    WebPDemuxDelete(demux);
    return rc ? rc : vt_image_orient(img, orientation, name);
}

#include "generate/stream.h"

#include <stdlib.h>

#include "util/error.h"
#include "util/utf8.h"

/* Length of the longest prefix of s[0..len) that ends on a character boundary. */
static size_t complete_prefix(const char *s, size_t len) {
    size_t i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
    if (i == 0) return len;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return len - (i - 1) >= need ? len : i - 1;
}

int vt_text_stream_push(vt_text_stream *s, int32_t id, const char **piece, size_t *len) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        int32_t *g = realloc(s->ids, cap * sizeof *g);
        if (!g) return vt_err("out of memory");
        s->ids = g, s->cap = cap;
    }
    s->ids[s->n++] = id;
    free(s->bytes), free(s->piece);
    s->bytes = s->piece = NULL;
    TRY(vt_tokenizer_decode_bytes(s->tok, s->ids, s->n, &s->bytes, &s->len));
    size_t upto = complete_prefix(s->bytes, s->len);
    *len = 0, *piece = "";
    if (upto <= s->given) return 0;
    TRY(vt_utf8_lossy(s->bytes + s->given, upto - s->given, &s->piece, len));
    s->given = upto;
    *piece = s->piece;
    return 0;
}

void vt_text_stream_free(vt_text_stream *s) {
    free(s->ids);
    free(s->bytes), free(s->piece);
    *s = (vt_text_stream){0};
}

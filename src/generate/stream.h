/* stream.h — generated ids to text as they come, whole UTF-8 characters at a time.
 *
 * A token may end inside a multi-byte character; the stream decodes the bytes of all ids so far and hands out
 * only the new ones up to the last complete character, as text (bytes that form no character become U+FFFD,
 * as in the whole answer's decode).  A character still cut when generation stops is never handed out. */
#ifndef VT_STREAM_H
#define VT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

typedef struct {
    const vt_tokenizer *tok;  /* borrowed */
    int32_t *ids;             /* owned */
    size_t n, cap;
    char *bytes;              /* the bytes of all ids so far; owned */
    size_t len, given;        /* their count, and how many were handed out */
    char *piece;              /* the last piece handed out, as text; owned */
} vt_text_stream;

/* Adds one id; *piece / *len: the new complete text (len 0 when none yet).  The piece lives until the
 * next push. */
int vt_text_stream_push(vt_text_stream *s, int32_t id, const char **piece, size_t *len);
void vt_text_stream_free(vt_text_stream *s);

#endif

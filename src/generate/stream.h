/* stream.h — generated ids to text as they come, whole UTF-8 characters at a time.
 *
 * A token may end inside a multi-byte character; the stream decodes all ids so far and hands out only
 * the new bytes up to the last complete character. */
#ifndef VT_STREAM_H
#define VT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

typedef struct {
    const vt_tokenizer *tok;  /* borrowed */
    int32_t *ids;             /* owned */
    size_t n, cap;
    char *text;               /* all text so far; owned */
    size_t len, given;        /* decoded bytes, bytes handed out */
} vt_text_stream;

/* Adds one id; *piece / *len: the new complete text (len 0 when none yet).  The piece lives until the
 * next push. */
int vt_text_stream_push(vt_text_stream *s, int32_t id, const char **piece, size_t *len);
void vt_text_stream_free(vt_text_stream *s);

#endif

/* rowset.h — a set of encoded examples in memory, and its one file format.
 *
 * On disk a row set is one safetensors file (metadata format = "vlmtune-rows/1"); the rows are
 * concatenated and *_offsets[r] .. *_offsets[r+1] select row r:
 *   input_ids      [tokens] int32     the chat template's ids, image pads expanded
 *   loss_mask      [tokens] uint8     1 on assistant content, its <|im_end|> and the "\n" after
 *   token_offsets  [R+1] int32
 *   pixel_values   [patches, patch_dim] float32   (when any row has images)
 *   patch_offsets  [R+1] int32
 *   image_grid_thw [images, 3] int32  (when any row has images)
 *   image_offsets  [R+1] int32
 *   lines          [R] int32          the rows' lines in their source file
 * and metadata "rows" (R), "skipped" (rows left out for their length) and "source" (the data file).
 * `vlmtune encode` writes it, the prepare cache keeps it, `vlmtune forward` reads it. */
#ifndef VT_ROWSET_H
#define VT_ROWSET_H

#include <stdbool.h>
#include <stddef.h>

#include "data/example.h"

typedef struct {
    vt_encoded *rows;  /* owned */
    size_t *lengths;   /* [n] token counts; owned */
    size_t *lines;     /* [n] 1-based source lines; owned */
    size_t n;
    size_t skipped;    /* rows left out for their length */
    bool from_cache;
} vt_rows;

/* Appends e (taking what it owns) with its source line. */
int vt_rows_append(vt_rows *r, vt_encoded *e, size_t line);
void vt_rows_free(vt_rows *r);

/* Writes the row set to path atomically; `source` (may be NULL) is recorded as metadata. */
int vt_rows_save(const vt_rows *r, const char *path, const char *source);
/* Reads a row set written by vt_rows_save; every offset is checked against the tensors it indexes. */
int vt_rows_read(vt_rows *out, const char *path);

#endif

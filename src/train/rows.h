/* rows.h — a dataset file as encoded rows, ready for batching.
 *
 * Every row is validated and encoded once (tokens with image pads, loss mask, preprocessed
 * images).  Every bad row is reported ("error: FILE:LINE: reason", to the log) and the load fails
 * at the end with their count, so one pass shows all problems.  Rows longer than max_seq_length
 * are never cut: they are skipped with a warning that names FILE:LINE, or are errors with `strict`.
 *
 * With a cache directory the encoded rows are kept in CACHE/rows-KEY.safetensors, KEY being a
 * hash of everything they depend on: the data file's bytes, each image file's path, size and
 * modification time, the tokenizer file's bytes, the image settings, max_seq_length, strict and
 * the format version.  A later load with the same key reads that file instead of decoding and
 * resizing; any change gives a new key (a rebuild).  An unreadable cache file is rebuilt. */
#ifndef VT_ROWS_H
#define VT_ROWS_H

#include <stdbool.h>
#include <stdio.h>

#include "text/tokenizer.h"
#include "train/dataset.h"
#include "train/batch.h"
#include "vision/image.h"

typedef struct {
    vt_encoded *rows;  /* owned */
    size_t *lengths;   /* [n] token counts; owned */
    size_t *lines;     /* [n] 1-based source lines; owned */
    size_t n;
    size_t skipped;    /* rows left out for their length */
    bool from_cache;
} vt_rows;

typedef struct {
    const char *path;
    const vt_tokenizer *tokenizer;  /* borrowed */
    const char *tokenizer_file;     /* its file, hashed into the cache key (NULL: no cache) */
    const vt_image_config *images;  /* borrowed */
    int max_seq_length;             /* 0: no limit */
    bool strict;
    const char *cache_dir;          /* NULL: no cache */
    FILE *log;                      /* warnings and bad rows; may be NULL */
} vt_rows_options;

int vt_rows_load(vt_rows *out, const vt_rows_options *opt);
/* One conversation: its images decoded and preprocessed, its chat rendered with a loss mask
 * (and the assistant generation prompt at the end when asked). */
int vt_encode_sample(const vt_sample *s, const vt_tokenizer *tok, const vt_image_config *ic, bool generation_prompt,
                     vt_encoded *out);
void vt_rows_free(vt_rows *r);
/* The cache directory to use: `setting` when given ("none": no cache, NULL returned), else
 * .vlmtune-cache next to the data file.  Written into buf. */
const char *vt_rows_cache_dir(const char *setting, const char *data_path, char *buf, size_t cap);

#endif

/* rows.h — a dataset file as encoded rows, ready for batching.
 *
 * Every row is validated and encoded once (tokens with image pads, loss mask, preprocessed
 * images).  Every bad row is reported ("error: FILE:LINE: reason", to the log) and the load fails
 * at the end with their count, so one pass shows all problems.  Rows longer than max_seq_length
 * are never cut: they are skipped with a warning that names FILE:LINE, or are errors with `strict`.
 *
 * With a cache directory the encoded rows are kept in CACHE/rows-KEY.safetensors (a row set,
 * rowset.h), KEY being a hash of everything they depend on: the data file's bytes, each image
 * file's path, size and modification time, the tokenizer's fingerprint, the image settings,
 * max_seq_length, strict and the format version.  A later load with the same key reads that file
 * instead of decoding and resizing; any change gives a new key (a rebuild).  An unreadable cache
 * file is rebuilt.  `vlmtune prepare` and `vlmtune train` build their options with
 * vt_rows_options_init, so what prepare caches is what train reads. */
#ifndef VT_ROWS_H
#define VT_ROWS_H

#include <stdbool.h>
#include <stdio.h>

#include "data/rowset.h"
#include "text/tokenizer.h"
#include "vision/image.h"

enum { VT_DEFAULT_MAX_SEQ_LENGTH = 2048 };

typedef struct {
    const char *path;
    const vt_tokenizer *tokenizer;  /* borrowed */
    const vt_image_config *images;  /* borrowed */
    int max_seq_length;             /* 0: no limit */
    bool strict;
    const char *cache_dir;          /* NULL: no cache */
    FILE *log;                      /* warnings and bad rows; may be NULL */
} vt_rows_options;

/* The options every reader of training rows uses; path and cache_dir are set per file. */
vt_rows_options vt_rows_options_init(const vt_tokenizer *tok, const vt_image_config *ic, int max_seq_length,
                                     bool strict, FILE *log);
int vt_rows_load(vt_rows *out, const vt_rows_options *opt);
/* The cache directory to use: `setting` when given ("none": no cache, NULL returned), else
 * .vlmtune-cache next to the data file.  Written into buf. */
const char *vt_rows_cache_dir(const char *setting, const char *data_path, char *buf, size_t cap);

#endif

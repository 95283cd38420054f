/* rows.h — a dataset file as encoded rows, ready for batching.
 *
 * Every row is validated and encoded once (tokens with image pads, loss mask, preprocessed
 * images).  Rows longer than max_seq_length are never cut: they are skipped with a warning that
 * names FILE:LINE, or are an error with `strict`. */
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
} vt_rows;

typedef struct {
    const char *path;
    const vt_tokenizer *tokenizer;  /* borrowed */
    const vt_image_config *images;  /* borrowed */
    int max_seq_length;             /* 0: no limit */
    bool strict;
    FILE *log;                      /* warnings; may be NULL */
} vt_rows_options;

int vt_rows_load(vt_rows *out, const vt_rows_options *opt);
/* One conversation: its images decoded and preprocessed, its chat rendered with a loss mask
 * (and the assistant generation prompt at the end when asked). */
int vt_encode_sample(const vt_sample *s, const vt_tokenizer *tok, const vt_image_config *ic, bool generation_prompt,
                     vt_encoded *out);
void vt_rows_free(vt_rows *r);

#endif

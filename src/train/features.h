/* features.h — a frozen vision tower's output per row, computed once for the whole run.
 *
 * While the vision tower is not trained its features for an image never change, so they are computed
 * at the start (one row at a time, kept in the model's float type) and every epoch gathers them instead
 * of running the tower again.  One cache serves one row set (the training rows, or the validation rows). */
#ifndef VT_FEATURES_H
#define VT_FEATURES_H

#include <stdbool.h>

#include "data/rowset.h"
#include "model/qwen3vl.h"

typedef struct {
    size_t n;
    vt_vision_features *rows;  /* [n]; merged is NULL for a row without images; owned */
    bool *built;               /* [n]: the row's features were computed (false: not needed here); owned */
    mx_arena *arena;           /* the features' arrays */
} vt_vision_cache;

/* Features of every row (rows without images cost nothing). */
int vt_vision_cache_build(vt_vision_cache *c, const vt_model *m, const vt_rows *rows);
/* Features of the rows with needed[i] only (NULL: every row): a data-parallel rank caches the rows it will
 * process, not the whole set. */
int vt_vision_cache_build_some(vt_vision_cache *c, const vt_model *m, const vt_rows *rows, const bool *needed);
/* The features of rows samples[0..n), concatenated in order, into the current arena (out->merged NULL when
 * none has images).  A row whose features were not built is an error. */
int vt_vision_cache_gather(const vt_vision_cache *c, const size_t *samples, size_t n, vt_vision_features *out);
void vt_vision_cache_free(vt_vision_cache *c);

#endif

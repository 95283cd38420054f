/* features.h — the frozen vision tower's output per sample, computed once for the whole run.
 *
 * While the vision tower is not trained its features for an image never change, so they are
 * computed at the start (one sample at a time, kept in the model's float type) and every epoch
 * gathers them instead of running the tower again. */
#ifndef VT_FEATURES_H
#define VT_FEATURES_H

#include "model/qwen3vl.h"
#include "data/rows.h"

typedef struct {
    size_t n_splits;
    size_t n[2];                          /* samples per split */
    mx_array *merged[2];                  /* [n] per split: [image tokens, hidden] or NULL; owned */
    mx_array *deepstack[2];               /* [n × VT_MAX_DEEPSTACK] */
    int n_deepstack;
    mx_arena *arena;
} vt_vision_cache;

/* Features of every sample of up to two splits (train, valid); splits without images cost nothing. */
int vt_vision_cache_build(vt_vision_cache *c, const vt_model *m, const vt_rows *const *splits, size_t n_splits);
/* The features of samples[0..n) of one split, concatenated in order (NULL when none has images). */
int vt_vision_cache_gather(const vt_vision_cache *c, int split, const size_t *samples, size_t n, mx_array *merged,
                           mx_array *deepstack);
void vt_vision_cache_free(vt_vision_cache *c);

#endif

/* generate.h — text generation from a prompt (with images) by repeated forward passes.
 *
 * This first decoder recomputes the whole sequence for every new token (no KV cache): simple and
 * exactly the model's forward, which makes it the reference a cached decoder must match.  The
 * frozen vision features are computed once.  Sampling: greedy at temperature 0, otherwise
 * softmax(logits / T) restricted to the top-k / top-p set, with an explicit seed. */
#ifndef VT_GENERATE_H
#define VT_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "model/qwen3vl.h"
#include "train/batch.h"

typedef struct {
    int max_tokens;
    double temperature;   /* 0: greedy */
    int top_k;            /* 0: off */
    double top_p;         /* 1: off */
    uint64_t seed;
    const int32_t *eos;   /* stop ids; borrowed */
    size_t n_eos;
} vt_generate_options;

typedef struct {
    int32_t *ids;         /* generated ids (eos excluded); owned, free() */
    size_t n;
    double prompt_seconds, generate_seconds;
} vt_generation;

/* on_token (may be NULL) sees each new id as it is chosen; a non-zero return stops with that error. */
int vt_generate(const vt_model *m, const vt_encoded *prompt, const vt_generate_options *o,
                int (*on_token)(void *ctx, int32_t id), void *ctx, vt_generation *out);

#endif

/* generate.h — text generation from a prompt (with images).
 *
 * The prompt is prefilled once into a KV cache (images, DeepStack and MRoPE positions as in the
 * forward pass); every new token is one decode step whose text position continues at
 * length + rope_delta.  With no_cache every token recomputes the whole sequence instead: slow, but
 * exactly the model's forward, the reference the cached decoder is tested against.  Sampling:
 * greedy at temperature 0, otherwise softmax(logits / T) restricted to the top-k / top-p set, with an
 * explicit seed; a repetition penalty divides positive and multiplies negative logits of the tokens
 * among the last 20 (mlx-lm's rule). */
#ifndef VT_GENERATE_H
#define VT_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/qwen3vl.h"
#include "data/example.h"

enum { VT_PREFILL_STEP = 2048 }; /* mlx-lm's prefill_step_size */

typedef struct {
    int max_tokens;
    double temperature;   /* 0: greedy */
    int top_k;            /* 0: off */
    double top_p;         /* 1: off */
    double repetition_penalty; /* 1 or 0: off */
    uint64_t seed;
    const int32_t *eos;   /* stop ids; borrowed */
    size_t n_eos;
    bool no_cache;        /* the reference decoder: a full forward per token */
    int prefill_step;     /* the prompt's text after its last image goes in chunks of this many tokens;
                             0: VT_PREFILL_STEP */
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

/* eval.h — how well a model (with its adapter) does on a dataset.
 *
 * Loss: the cross-entropy of every row's supervised tokens (data/example.h decides which), averaged over
 * those tokens, and its perplexity.  With `generate`, each row's last assistant turn is also answered
 * greedily from the conversation before it and scored against it: exact match and token F1 (lower-cased,
 * punctuation dropped, whitespace tokens, as SQuAD scores).  `vlmtune eval` and vlmtune_eval (the C API)
 * both call vt_eval_dataset. */
#ifndef VT_EVAL_H
#define VT_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "data/dataset.h"
#include "session/session.h"

typedef struct {
    bool generate;   /* also answer each row and score the answer */
    int max_tokens;  /* longest answer with generate (<= 0: 64) */
} vt_eval_options;

typedef struct {
    size_t index, line;           /* the row's number (0-based) and its line in the file */
    const vt_sample *sample;      /* the row itself (borrowed for the callback): its prompt and images */
    double loss;                  /* mean cross-entropy over its supervised tokens (0 when it has none) */
    size_t tokens;                /* its supervised tokens */
    const char *generated;        /* with generate: the answer (borrowed for the callback), else NULL */
    const char *reference;        /* with generate: the reference answer */
    bool exact;
    double f1;
} vt_eval_row;

typedef struct {
    size_t rows, tokens;
    double loss, perplexity;      /* over all supervised tokens */
    double exact_match, f1;       /* means over the rows, with generate */
} vt_eval_result;

/* Evaluates every row of ds with the session's model, adapter and settings; on_row (may be NULL) sees each
 * row as it is done and may stop the evaluation with a non-zero return (an error). */
int vt_eval_dataset(const vt_session *s, const vt_dataset *ds, const vt_eval_options *o,
                    int (*on_row)(void *ctx, const vt_eval_row *row), void *ctx, vt_eval_result *out);

/* SQuAD's token F1 of `got` against `want`, and whether they are equal as token lists. */
double vt_token_f1(const char *got, const char *want, bool *exact);

#endif

/* vlmtune.h — the public C API of libvlmtune.
 *
 * Load a Qwen3-VL model (Hugging Face or mlx-vlm layout, quantized or not), optionally with an adapter
 * (mlx-vlm or PEFT layout) applied on the fly; tokenize; generate answers to prompts with images; evaluate
 * on a dataset; train adapters from a configuration.  The C API and the `vlmtune` command line are two
 * doors to one library: the same settings give the same results (the same defaults, resume rules and
 * errors).
 *
 * Conventions.  Every fallible call returns 0 on success and -1 on failure, with the reason in
 * vlmtune_last_error() (valid until the next call on the same thread).  Strings and arrays a call returns
 * are malloc'd: the caller frees them with free().  A model handle is used by one thread at a time.
 * examples/critique.c shows the whole flow. */
#ifndef VLMTUNE_H
#define VLMTUNE_H

#include <stddef.h>
#include <stdint.h>

/* VLMTUNE_API marks what libvlmtune exports; the library is built with every other symbol hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define VLMTUNE_API __attribute__((visibility("default")))
#else
#define VLMTUNE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vlmtune_model vlmtune_model;

VLMTUNE_API const char *vlmtune_version(void);
VLMTUNE_API const char *vlmtune_last_error(void);

/* ------------------------------------------------------------------- models ---- */

/* adapter_dir may be NULL.  An adapter trained by vlmtune brings the image settings it was trained with;
 * generation defaults come from the model's generation_config.json. */
VLMTUNE_API int vlmtune_load(vlmtune_model **out, const char *model_dir, const char *adapter_dir);
VLMTUNE_API void vlmtune_free(vlmtune_model *m);   /* NULL is fine */

/* The smallest and largest resized image area in pixels that images are brought to: the model's
 * preprocessor_config.json, or those of the run when the adapter was trained by vlmtune (as `vlmtune
 * generate` and `vlmtune eval` use them).  Either pointer may be NULL. */
VLMTUNE_API void vlmtune_image_pixels(const vlmtune_model *m, long *min_pixels, long *max_pixels);

/* Overrides the smallest and largest resized image area in pixels (0 keeps the current value). */
VLMTUNE_API int vlmtune_set_image_pixels(vlmtune_model *m, long min_pixels, long max_pixels);

/* Token ids of plain text (no chat template). */
VLMTUNE_API int vlmtune_tokenize(const vlmtune_model *m, const char *text, int32_t **ids, size_t *n);

/* --------------------------------------------------------------- generation ---- */

typedef struct {
    int max_tokens;             /* default 256 */
    double temperature;         /* 0: greedy */
    double top_p;               /* 1: off */
    int top_k;                  /* 0: off */
    double repetition_penalty;  /* 1: off */
    uint64_t seed;
} vlmtune_generate_options;

/* The model's defaults (generation_config.json, as `vlmtune generate` uses them); with m NULL, greedy
 * decoding of at most 256 tokens. */
VLMTUNE_API vlmtune_generate_options vlmtune_generate_defaults(const vlmtune_model *m);

/* Called with each new piece of the answer (whole UTF-8 characters); a non-zero return stops. */
typedef int (*vlmtune_text_fn)(void *ctx, const char *piece, size_t len);

/* Answers `prompt` (after the images, in order; system may be NULL) until the end of the turn or
 * max_tokens; options NULL means vlmtune_generate_defaults(m); *answer (may be NULL) receives the whole
 * text. */
VLMTUNE_API
int vlmtune_generate(vlmtune_model *m, const char *system, const char *const *images, size_t n_images,
                     const char *prompt, const vlmtune_generate_options *options, vlmtune_text_fn on_text,
                     void *ctx, char **answer);

/* The last vlmtune_generate's sizes and times (all zero before the first): the prompt's tokens, images
 * included, and the seconds until the first new token; the new tokens and the seconds they took. */
typedef struct {
    size_t prompt_tokens, generated_tokens;
    double prompt_seconds, generate_seconds;
} vlmtune_generation_stats;
VLMTUNE_API vlmtune_generation_stats vlmtune_last_generation(const vlmtune_model *m);

/* --------------------------------------------------------------- evaluation ---- */

typedef struct {
    int generate;    /* also answer each row greedily and score the answer */
    int max_tokens;  /* longest answer (0: 64) */
} vlmtune_eval_options;

typedef struct {
    size_t index, line;     /* the row's number and its line in the file */
    double loss;            /* mean cross-entropy over its supervised tokens */
    size_t tokens;          /* its supervised tokens */
    const char *generated;  /* with generate (valid during the callback), else NULL */
    const char *reference;
    int exact;
    double f1;
} vlmtune_eval_row;

typedef struct {
    size_t rows, tokens;
    double loss, perplexity;
    double exact_match, f1;  /* with generate: means over the rows */
} vlmtune_eval_result;

/* Evaluates a dataset file (see docs/DATA.md) as `vlmtune eval` does; on_row (may be NULL) sees each row,
 * and a non-zero return stops. */
VLMTUNE_API
int vlmtune_eval(vlmtune_model *m, const char *data_path, const vlmtune_eval_options *options,
                 int (*on_row)(void *ctx, const vlmtune_eval_row *row), void *ctx, vlmtune_eval_result *result);

/* ----------------------------------------------------------------- training ---- */

typedef struct {
    long step, total_steps;
    double epoch, loss, learning_rate, grad_norm;
    double tokens_per_second;   /* all tokens of the steps since the last report, validation excluded */
    double trained_tokens;      /* supervised tokens trained on so far */
    double peak_memory_gb, ms_per_step;
    int reported;               /* a steps_per_report step (also written to metrics.jsonl) */
    int skipped;                /* non-finite loss or gradient: no update */
} vlmtune_progress;

/* A cancellation flag for a training run: any thread (or a signal handler) may request cancellation while
 * vlmtune_train runs on another; the trainer checks it after every optimizer step, then writes a
 * checkpoint and returns with result->interrupted set.  A request made before the run starts stops it
 * after its first step.  One flag may serve several runs one after the other (vlmtune_cancel_reset). */
typedef struct vlmtune_cancel vlmtune_cancel;

VLMTUNE_API vlmtune_cancel *vlmtune_cancel_new(void);              /* NULL when out of memory */
VLMTUNE_API void vlmtune_cancel_request(vlmtune_cancel *c);        /* atomic, lock-free, signal-safe */
VLMTUNE_API int vlmtune_cancel_requested(const vlmtune_cancel *c);
VLMTUNE_API void vlmtune_cancel_reset(vlmtune_cancel *c);
VLMTUNE_API void vlmtune_cancel_free(vlmtune_cancel *c);           /* NULL is fine; not while a run uses it */

typedef struct {
    void *ctx;
    void (*on_progress)(void *ctx, const vlmtune_progress *p);           /* every optimizer step */
    void (*on_validation)(void *ctx, long step, double loss, int best);
    vlmtune_cancel *cancel;     /* may be NULL: the run cannot be cancelled */
} vlmtune_train_callbacks;

typedef struct {
    long steps_done;
    double last_loss;
    double best_valid_loss;     /* NaN without validation */
    long best_step;             /* -1 without validation */
    int interrupted;            /* cancelled (callbacks->cancel) after writing a checkpoint */
} vlmtune_train_result;

/* Trains as `vlmtune train` does: a YAML configuration file (may be NULL) and "--flag value" overrides
 * (argv style, argv[0] ignored; --resume RUN continues a run from its newest checkpoint; the flags are
 * those of `vlmtune train --help`, booleans take true/false).  The callbacks run on the calling thread;
 * callbacks and result may be NULL.  Returns 0 when the run finished or was cancelled. */
VLMTUNE_API
int vlmtune_train(const char *config_yaml, int argc, char **argv, const vlmtune_train_callbacks *callbacks,
                  vlmtune_train_result *result);

/* Memory a training run would need, in bytes, from its settings as vlmtune_train takes them: the model,
 * adapters and optimizer held from the start, the estimated peak of a step (its largest micro-batch's
 * activations, the loss head's chunk, the update), and the memory the run may use (--memory-limit-gb, else
 * the device's: a Mac's recommended working set, a GPU's memory, the machine's for the CPU).  Loads the model
 * and the data (as `vlmtune train --dry-run` does); trains nothing and writes nothing. */
typedef struct {
    double setup_bytes, peak_bytes, available_bytes;
    long total_steps;
    size_t train_rows, trainable_params;
} vlmtune_memory_estimate;

VLMTUNE_API
int vlmtune_estimate_memory(const char *config_yaml, int argc, char **argv, vlmtune_memory_estimate *out);

#ifdef __cplusplus
}
#endif

#endif

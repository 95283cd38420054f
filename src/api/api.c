/* api.c — include/vlmtune.h on top of the library's session, generation, evaluation and trainer. */
#include "vlmtune.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "generate/stream.h"
#include "session/session.h"
#include "train/trainer.h"

struct vlmtune_model {
    vt_session s;
    vlmtune_generation_stats last; /* of the last vlmtune_generate */
};

const char *vlmtune_version(void) { return "vlmtune 0.1.0"; }
const char *vlmtune_last_error(void) { return vt_errmsg(); }

void vlmtune_free(vlmtune_model *m) {
    if (!m) return;
    vt_session_close(&m->s);
    free(m);
}

int vlmtune_load(vlmtune_model **out, const char *model_dir, const char *adapter_dir) {
    vlmtune_model *m = calloc(1, sizeof *m);
    if (!m) return vt_err("out of memory");
    vt_session_options o = {.model = model_dir, .adapter = adapter_dir, .weights = true, .tokenizer = true};
    if (vt_session_open(&m->s, &o)) {
        free(m);
        return -1;
    }
    if (vt_session_make_resident(&m->s)) { /* the first answer is not charged with reading the files */
        vlmtune_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void vlmtune_image_pixels(const vlmtune_model *m, long *min_pixels, long *max_pixels) {
    if (min_pixels) *min_pixels = m->s.images.min_pixels;
    if (max_pixels) *max_pixels = m->s.images.max_pixels;
}

int vlmtune_set_image_pixels(vlmtune_model *m, long min_pixels, long max_pixels) {
    long lo = min_pixels > 0 ? min_pixels : m->s.images.min_pixels, hi = max_pixels > 0 ? max_pixels : m->s.images.max_pixels;
    if (min_pixels < 0 || max_pixels < 0 || hi < lo)
        return vt_err("image pixels: need 0 <= min_pixels <= max_pixels (0 keeps the current value; got %ld, %ld)",
                      min_pixels, max_pixels);
    m->s.images.min_pixels = lo, m->s.images.max_pixels = hi;
    return 0;
}

int vlmtune_tokenize(const vlmtune_model *m, const char *text, int32_t **ids, size_t *n) {
    return vt_tokenizer_encode(m->s.tok, text, strlen(text), ids, n);
}

/* ---------------------------------------------------------------- generation ---- */

vlmtune_generate_options vlmtune_generate_defaults(const vlmtune_model *m) {
    vlmtune_generate_options d = {.max_tokens = 256, .top_p = 1.0, .repetition_penalty = 1.0};
    if (!m) return d;
    const vt_generate_options *g = &m->s.generation;
    d.temperature = g->temperature, d.top_p = g->top_p, d.top_k = g->top_k, d.repetition_penalty = g->repetition_penalty;
    return d;
}

typedef struct {
    vt_text_stream stream;
    vlmtune_text_fn on_text;
    void *ctx;
} relay;

static int relay_token(void *ctx, int32_t id) {
    relay *r = ctx;
    const char *piece;
    size_t len;
    TRY(vt_text_stream_push(&r->stream, id, &piece, &len));
    if (len && r->on_text && r->on_text(r->ctx, piece, len)) return vt_err("stopped by the text callback");
    return 0;
}

int vlmtune_generate(vlmtune_model *m, const char *system, const char *const *images, size_t n_images,
                     const char *prompt, const vlmtune_generate_options *options, vlmtune_text_fn on_text,
                     void *ctx, char **answer) {
    enum { MAX_IMAGES = 64 };
    if (n_images > MAX_IMAGES) return vt_err("more than %d images", MAX_IMAGES);
    vlmtune_generate_options d = options ? *options : vlmtune_generate_defaults(m);
    vt_part parts[MAX_IMAGES + 2];
    vt_message msgs[2];
    vt_sample s;
    vt_conversation_prompt(&s, parts, msgs, system, images, n_images, prompt);
    vt_encoded e = {0};
    vt_generation g = {0};
    relay r = {.stream = {.tok = m->s.tok}, .on_text = on_text, .ctx = ctx};
    vt_generate_options o = m->s.generation;
    o.max_tokens = d.max_tokens, o.temperature = d.temperature, o.top_k = d.top_k, o.top_p = d.top_p;
    o.repetition_penalty = d.repetition_penalty, o.seed = d.seed;
    int rc = vt_encode_sample(&s, m->s.tok, &m->s.images, true, &e) || vt_generate(m->s.model, &e, &o, relay_token, &r, &g);
    if (rc == 0) m->last = (vlmtune_generation_stats){e.n_tokens, g.n, g.prompt_seconds, g.generate_seconds};
    if (rc == 0 && answer) {
        size_t len;
        rc = vt_tokenizer_decode(m->s.tok, g.ids, g.n, answer, &len);
    }
    free(g.ids);
    vt_text_stream_free(&r.stream);
    vt_encoded_clear(&e);
    return rc;
}

vlmtune_generation_stats vlmtune_last_generation(const vlmtune_model *m) { return m->last; }

/* ---------------------------------------------------------------- evaluation ---- */

typedef struct {
    int (*on_row)(void *ctx, const vlmtune_eval_row *row);
    void *ctx;
} eval_relay;

static int relay_row(void *ctx, const vt_eval_row *r) {
    const eval_relay *e = ctx;
    vlmtune_eval_row row = {r->index, r->line, r->loss, r->tokens, r->generated, r->reference, r->exact, r->f1};
    return e->on_row(e->ctx, &row) ? vt_err("stopped by the row callback") : 0;
}

int vlmtune_eval(vlmtune_model *m, const char *data_path, const vlmtune_eval_options *options,
                 int (*on_row)(void *ctx, const vlmtune_eval_row *row), void *ctx, vlmtune_eval_result *result) {
    vt_eval_options o = {.generate = options && options->generate, .max_tokens = options ? options->max_tokens : 0};
    eval_relay relay = {on_row, ctx};
    vt_dataset *ds;
    vt_eval_result r;
    TRY(vt_dataset_load(&ds, data_path));
    int rc = vt_eval_dataset(&m->s, ds, &o, on_row ? relay_row : NULL, &relay, &r);
    vt_dataset_free(ds);
    if (rc == 0 && result)
        *result = (vlmtune_eval_result){r.rows, r.tokens, r.loss, r.perplexity, r.exact_match, r.f1};
    return rc;
}

/* ------------------------------------------------------------------ training ---- */

/* A lock-free atomic flag: set from any thread or a signal handler, read by the trainer between steps. */
struct vlmtune_cancel {
    atomic_int requested;
};

vlmtune_cancel *vlmtune_cancel_new(void) {
    vlmtune_cancel *c = malloc(sizeof *c);
    if (c) atomic_init(&c->requested, 0);
    return c;
}

void vlmtune_cancel_request(vlmtune_cancel *c) { atomic_store(&c->requested, 1); }
int vlmtune_cancel_requested(const vlmtune_cancel *c) { return atomic_load((atomic_int *)&c->requested); }
void vlmtune_cancel_reset(vlmtune_cancel *c) { atomic_store(&c->requested, 0); }
void vlmtune_cancel_free(vlmtune_cancel *c) { free(c); }

static void relay_step(void *ctx, const vt_train_report *r, bool report) {
    const vlmtune_train_callbacks *cb = ctx;
    if (!cb->on_progress) return;
    vlmtune_progress p = {r->step, r->total_steps, r->epoch, r->loss, r->lr, r->grad_norm, r->tokens_per_s,
                          r->trained_tokens, r->peak_mem_gb, r->ms_per_step, report, r->skipped};
    cb->on_progress(cb->ctx, &p);
}

static void relay_valid(void *ctx, long step, double loss, bool best) {
    const vlmtune_train_callbacks *cb = ctx;
    if (cb->on_validation) cb->on_validation(cb->ctx, step, loss, best);
}

static bool relay_stop(void *ctx) {
    const vlmtune_train_callbacks *cb = ctx;
    return cb->cancel && vlmtune_cancel_requested(cb->cancel);
}

int vlmtune_train(const char *config_yaml, int argc, char **argv, const vlmtune_train_callbacks *callbacks,
                  vlmtune_train_result *result) {
    vt_train_callbacks cb = {0};
    if (callbacks)
        cb = (vt_train_callbacks){.ctx = (void *)callbacks, .on_step = relay_step, .on_valid = relay_valid,
                                  .should_stop = relay_stop};
    vt_train_config cfg;
    vt_train_config_defaults(&cfg);
    vt_train_result r;
    int rc = vt_train_config_from_args(&cfg, config_yaml, argc, argv) || vt_train(&cfg, &cb, &r);
    vt_train_config_free(&cfg);
    if (rc == 0 && result)
        *result = (vlmtune_train_result){r.steps_done, r.last_loss, r.best_valid_loss, r.best_step, r.interrupted};
    return rc ? -1 : 0;
}

static void keep_start(void *ctx, const vt_train_start *s) {
    *(vlmtune_memory_estimate *)ctx =
        (vlmtune_memory_estimate){.setup_bytes = s->setup_bytes, .peak_bytes = s->estimated_peak_bytes,
                                  .available_bytes = s->device_bytes, .total_steps = s->total_steps,
                                  .train_rows = s->train_rows, .trainable_params = s->trainable_params};
}

int vlmtune_estimate_memory(const char *config_yaml, int argc, char **argv, vlmtune_memory_estimate *out) {
    *out = (vlmtune_memory_estimate){0};
    vt_train_config cfg;
    vt_train_config_defaults(&cfg);
    vt_train_callbacks cb = {.ctx = out, .on_start = keep_start};
    vt_train_result r;
    int rc = vt_train_config_from_args(&cfg, config_yaml, argc, argv);
    if (rc == 0) cfg.dry_run = true;
    if (rc == 0) rc = vt_train(&cfg, &cb, &r);
    vt_train_config_free(&cfg);
    return rc ? -1 : 0;
}

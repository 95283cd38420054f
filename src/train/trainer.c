/* trainer.c — the training loop: setup, one step, validation, checkpoints, progress.
 *
 * Read vt_train() from the bottom up: it sets a run up (model, adapters, rows, optimizer,
 * schedule, resume), then repeats train_step() until the planned number of optimizer steps,
 * validating and saving on the configured cadence. */
#include "train/trainer.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lora/lora.h"
#include "model/qwen3vl.h"
#include "text/tokenizer.h"
#include "data/batch.h"
#include "train/checkpoint.h"
#include "train/features.h"
#include "train/loss.h"
#include "train/metrics.h"
#include "train/optim.h"
#include "train/plan.h"
#include "data/rows.h"
#include "train/schedule.h"
#include "util/fs.h"
#include "util/mix.h"

/* ------------------------------------------------------------- signals ---- */

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static void catch_signals(struct sigaction *old_int, struct sigaction *old_term) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, old_int);
    sigaction(SIGTERM, &sa, old_term);
}

/* ------------------------------------------------------------- the run ---- */

typedef struct {
    const vt_train_config *cfg;   /* borrowed */
    vt_model *model;
    vt_lora *lora;
    vt_tokenizer *tok;
    vt_rows train, valid;
    vt_vision_cache vision;       /* frozen tower: features per sample, computed once */
    int32_t pad_id;
    vt_adamw opt;
    vt_schedule sched;
    long total_steps;
    vt_epoch_plan plan;
    long plan_epoch;              /* epoch `plan` belongs to (-1: none) */
    vt_run_state st;
    vt_metrics metrics;
    mx_function *loss_fn;
    FILE *out;
    bool tty;
    double started;               /* wall clock of this process's first step */
} run;

/* What the loss function sees for one micro-batch. */
typedef struct {
    run *r;
    const vt_rows *rows;
    const vt_micro *micro;
    vt_batch batch;
    int32_t *positions;           /* packed batches: [3·B·T] */
    mx_array pixels, features, deepstack[VT_MAX_DEEPSTACK], loss_positions, targets;
    double scale;                 /* 1 / supervised tokens of the whole step */
} micro_ctx;

static micro_ctx *current;        /* the loss callback's context (one trainer per thread at a time) */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------ one micro-batch ---- */

/* Packed rows: every sample's MRoPE positions start from 0, as if it were alone. */
static int packed_positions(const run *r, const vt_rows *rows, const vt_micro *mb, const vt_batch *b, int32_t **out) {
    size_t BT = (size_t)b->B * b->T;
    int32_t *pos = calloc(3 * BT, sizeof *pos);
    if (!pos) return vt_err("out of memory");
    size_t at = 0;
    for (size_t i = 0; i < mb->n; i++) {
        const vt_encoded *s = &rows->rows[mb->samples[i]];
        if (i == 0 || mb->row_of[i] != mb->row_of[i - 1]) at = 0;
        int32_t *p = malloc(3 * s->n_tokens * sizeof *p), delta;
        if (!p || vt_rope_positions(&r->model->config, s->ids, NULL, 1, (int)s->n_tokens, s->grid_thw,
                                    (int)s->n_images, p, &delta)) {
            free(p), free(pos);
            return p ? -1 : vt_err("out of memory");
        }
        for (int axis = 0; axis < 3; axis++)
            memcpy(pos + axis * BT + (size_t)mb->row_of[i] * b->T + at, p + axis * s->n_tokens,
                   s->n_tokens * sizeof *p);
        at += s->n_tokens;
        free(p);
    }
    *out = pos;
    return 0;
}

static int micro_prepare(micro_ctx *c) {
    const run *r = c->r;
    const vt_micro *mb = c->micro;
    const vt_encoded *samples[1024];
    if (mb->n > 1024) return vt_err("micro-batch of %zu samples is too large", mb->n);
    for (size_t i = 0; i < mb->n; i++) samples[i] = &c->rows->rows[mb->samples[i]];
    if (mb->row_of) {
        TRY(vt_batch_make_packed(&c->batch, samples, mb->row_of, mb->n, r->pad_id));
        TRY(packed_positions(r, c->rows, mb, &c->batch, &c->positions));
    } else {
        TRY(vt_batch_make(&c->batch, samples, mb->n, r->pad_id, 1));
    }
    const vt_batch *b = &c->batch;
    int nt = (int)b->n_targets;
    if (nt == 0) return 0;
    TRY(mx_from_data(&c->loss_positions, b->loss_positions, &nt, 1, MX_INT32));
    TRY(mx_from_data(&c->targets, b->targets, &nt, 1, MX_INT32));
    if (b->n_images == 0) return 0;
    if (r->cfg->train_vision) {
        int shape[2] = {(int)b->n_patches, (int)b->patch_dim};
        return mx_from_data(&c->pixels, b->pixel_values, shape, 2, MX_FLOAT32);
    }
    return vt_vision_cache_gather(&r->vision, c->rows == &r->train ? 0 : 1, mb->samples, mb->n, &c->features,
                                  c->deepstack);
}

static void micro_clear(micro_ctx *c) {
    vt_batch_clear(&c->batch);
    free(c->positions);
    c->positions = NULL;
}

/* loss(adapters) = Σ cross-entropy at the supervised positions × scale; also returns the plain sum. */
static int loss_callback(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    (void)ctx, (void)n_in, (void)cap;
    micro_ctx *c = current;
    const run *r = c->r;
    const vt_batch *b = &c->batch;
    vt_model_inputs mi = {
        .B = b->B, .T = b->T, .input_ids = b->input_ids, .attention_mask = b->attention_mask,
        .pixel_values = c->pixels, .grid_thw = b->grid_thw, .n_images = (int)b->n_images,
        .vision_features = c->features, .positions = c->positions, .segments = b->segments,
        .checkpoint = r->cfg->grad_checkpoint,
    };
    memcpy(mi.deepstack_features, c->deepstack, sizeof c->deepstack);
    vt_lora_bind(r->lora, in);
    mx_array sum;
    int rc = vt_model_loss_sum(r->model, &mi, c->loss_positions, c->targets, &sum) ||
             mx_mul_scalar(&out[0], sum, c->scale);
    vt_lora_bind(r->lora, NULL);
    if (rc) return -1;
    out[1] = sum;
    *n_out = 2;
    return 0;
}

/* ------------------------------------------------------------ one step ---- */

static int plan_for(run *r, long epoch) {
    if (r->plan_epoch == epoch) return 0;
    vt_epoch_plan_free(&r->plan);
    r->plan_epoch = -1;
    vt_plan_options o = {.seed = (uint64_t)r->cfg->seed, .epoch = epoch, .batch_size = r->cfg->batch_size,
                         .shuffle = true, .bucket = r->cfg->length_bucketing,
                         .pack_length = r->cfg->pack ? r->cfg->max_seq_length : 0};
    TRY(vt_plan_epoch(&r->plan, r->train.lengths, r->train.n, &o));
    r->plan_epoch = epoch;
    return 0;
}

/* The next micro-batch of the data stream (advancing epoch and position). */
static int next_micro(run *r, const vt_micro **out) {
    TRY(plan_for(r, r->st.epoch));
    if ((size_t)r->st.micro >= r->plan.n) {
        r->st.epoch++, r->st.micro = 0;
        TRY(plan_for(r, r->st.epoch));
    }
    *out = &r->plan.micro[r->st.micro++];
    return 0;
}

typedef struct {
    double loss, grad_norm, tokens, real_tokens;
    bool skipped;
} step_result;

static int accumulate(mx_array *sum, const mx_array *add, size_t n, bool first) {
    for (size_t i = 0; i < n; i++) {
        if (first) sum[i] = add[i];
        else TRY(mx_add(&sum[i], sum[i], add[i]));
    }
    return 0;
}

static int train_step(run *r, step_result *res) {
    const vt_train_config *cfg = r->cfg;
    vt_params *params = vt_lora_params(r->lora);
    size_t np = params->n;
    int accum = cfg->grad_accumulation_steps;
    micro_ctx ctx[64];
    if (accum > 64) return vt_err("grad_accumulation_steps above 64 is not supported");
    *res = (step_result){0};
    int rc = 0, made = 0;
    size_t supervised = 0;
    for (int k = 0; rc == 0 && k < accum; k++) {
        ctx[k] = (micro_ctx){.r = r, .rows = &r->train};
        made++;
        rc = next_micro(r, &ctx[k].micro) || micro_prepare(&ctx[k]);
        if (rc == 0) supervised += ctx[k].batch.n_targets, res->real_tokens += (double)ctx[k].batch.n_real_tokens;
    }
    mx_array *grads = calloc(np, sizeof *grads), *g = calloc(np, sizeof *g);
    int *argnums = malloc(np * sizeof *argnums);
    if (rc == 0 && (!grads || !g || !argnums)) rc = vt_err("out of memory");
    if (rc == 0 && supervised == 0) rc = vt_err("a training step has no supervised tokens");
    for (size_t i = 0; rc == 0 && i < np; i++) argnums[i] = (int)i;
    double loss_sum = 0;
    bool first = true;
    for (int k = 0; rc == 0 && k < accum; k++) {
        if (ctx[k].batch.n_targets == 0) continue;
        ctx[k].scale = 1.0 / (double)supervised;
        current = &ctx[k];
        vt_lora_set_training(r->lora, true, vt_mix64((uint64_t)cfg->seed ^ vt_mix64((uint64_t)r->st.step * 64 + k)));
        mx_array values[2];
        size_t nv;
        float part;
        rc = mx_value_and_grad(r->loss_fn, params->values, np, argnums, np, values, 2, &nv, g) ||
             accumulate(grads, g, np, first) || mx_item_f32(values[1], &part);
        first = false;
        loss_sum += part;
        /* evaluate the accumulated gradients now so the micro-batch's graph can be freed */
        if (rc == 0 && k + 1 < accum) rc = mx_eval(grads, np);
    }
    current = NULL;
    mx_array norm = NULL;
    float norm_value = 0;
    if (rc == 0) rc = vt_clip_grad_norm(grads, np, cfg->max_grad_norm, &norm) || mx_item_f32(norm, &norm_value);
    if (rc == 0) {
        res->loss = loss_sum / (double)supervised;
        res->grad_norm = norm_value;
        res->tokens = (double)supervised;
        res->skipped = !isfinite(res->loss) || !isfinite(norm_value);
    }
    if (rc == 0 && !res->skipped) {
        double lr = vt_schedule_lr(&r->sched, r->st.step);
        rc = vt_adamw_update(&r->opt, params, grads, lr);
        mx_array all[3 * 4096];
        size_t n = 0;
        for (size_t i = 0; i < np && n + 3 <= sizeof all / sizeof *all; i++)
            all[n++] = params->values[i], all[n++] = r->opt.m.values[i], all[n++] = r->opt.v.values[i];
        if (rc == 0) rc = mx_eval(all, n);
    }
    for (int k = 0; k < made; k++) micro_clear(&ctx[k]);
    free(grads), free(g), free(argnums);
    return rc;
}

/* ---------------------------------------------------------- validation ---- */

static int validate(run *r, double *loss_out) {
    const vt_train_config *cfg = r->cfg;
    vt_epoch_plan plan;
    vt_plan_options o = {.batch_size = cfg->batch_size, .pack_length = cfg->pack ? cfg->max_seq_length : 0};
    TRY(vt_plan_epoch(&plan, r->valid.lengths, r->valid.n, &o));
    double sum = 0, tokens = 0;
    int rc = 0;
    vt_lora_set_training(r->lora, false, 0);
    size_t limit = cfg->val_batches < 0 ? plan.n : (size_t)cfg->val_batches;
    vt_params *params = vt_lora_params(r->lora);
    for (size_t i = 0; rc == 0 && i < plan.n && i < limit; i++) {
        mx_arena *scope = mx_scope_begin();
        micro_ctx c = {.r = r, .rows = &r->valid, .micro = &plan.micro[i], .scale = 1.0};
        rc = micro_prepare(&c);
        if (rc == 0 && c.batch.n_targets) {
            current = &c;
            mx_array out[2];
            size_t n;
            float part;
            rc = mx_function_call(r->loss_fn, params->values, params->n, out, 2, &n) || mx_item_f32(out[1], &part);
            sum += part, tokens += (double)c.batch.n_targets;
            current = NULL;
        }
        micro_clear(&c);
        mx_scope_end(scope);
    }
    vt_epoch_plan_free(&plan);
    if (rc) return -1;
    *loss_out = tokens > 0 ? sum / tokens : NAN;
    return 0;
}

static int save_best(run *r) {
    char tmp[4200], final[4200];
    snprintf(tmp, sizeof tmp, "%s/.tmp-best", r->cfg->out);
    snprintf(final, sizeof final, "%s/best", r->cfg->out);
    TRY(vt_remove_tree(tmp));
    TRY(vt_lora_save(r->lora, tmp));
    return vt_commit_dir(tmp, final);
}

static int run_validation(run *r) {
    double loss;
    TRY(validate(r, &loss));
    TRY(vt_metrics_valid(&r->metrics, r->st.step, loss));
    bool better = isnan(r->st.best_valid) || loss < r->st.best_valid;
    fprintf(r->out, "%svalid step %ld: loss %.4f, perplexity %.3f%s\n", r->tty ? "\r\033[K" : "", r->st.step, loss,
            exp(loss), better ? " (best so far)" : "");
    fflush(r->out);
    if (!better) return 0;
    r->st.best_valid = loss, r->st.best_step = r->st.step;
    return save_best(r);
}

/* ---------------------------------------------------------- progress ---- */

static void format_duration(double s, char *buf, size_t cap) {
    if (!isfinite(s) || s < 0) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static int report(run *r, const step_result *s, double step_seconds, double window_tokens, double window_seconds,
                  long steps_this_process) {
    size_t peak = 0;
    mx_memory_peak(&peak);
    vt_train_report rep = {
        .step = r->st.step, .total_steps = r->total_steps,
        .epoch = (double)r->st.epoch + (r->plan.n ? (double)r->st.micro / (double)r->plan.n : 0),
        .loss = s->loss, .lr = vt_schedule_lr(&r->sched, r->st.step - 1),
        .tokens_per_s = window_seconds > 0 ? window_tokens / window_seconds : 0,
        .trained_tokens = r->st.trained_tokens, .peak_mem_gb = peak / 1e9, .ms_per_step = step_seconds * 1e3,
        .grad_norm = s->grad_norm,
    };
    TRY(vt_metrics_train(&r->metrics, &rep));
    double elapsed = now() - r->started;
    char eta[32];
    format_duration(elapsed / (double)steps_this_process * (double)(r->total_steps - r->st.step), eta, sizeof eta);
    fprintf(r->out, "%sstep %ld/%ld | epoch %.2f | loss %.4f | lr %.2e | %.0f tok/s | trained %.0f tok | peak %.2f GB"
                    " | %.0f ms/step | ETA %s%s",
            r->tty ? "\r\033[K" : "", rep.step, rep.total_steps, rep.epoch, rep.loss, rep.lr, rep.tokens_per_s,
            rep.trained_tokens, rep.peak_mem_gb, rep.ms_per_step, eta, r->tty ? "" : "\n");
    fflush(r->out);
    return 0;
}

/* ---------------------------------------------------------- checkpoints ---- */

static int save_checkpoint(run *r) {
    char plot[4200];
    TRY(vt_checkpoint_save(r->cfg->out, r->lora, &r->opt, &r->st, r->cfg, r->cfg->keep_last));
    TRY(vt_lora_save(r->lora, r->cfg->out));
    snprintf(plot, sizeof plot, "%s/loss.svg", r->cfg->out);
    return vt_metrics_plot(&r->metrics, plot);
}

/* ---------------------------------------------------------------- setup ---- */

static int load_rows(run *r) {
    const vt_train_config *cfg = r->cfg;
    vt_image_config ic;
    vt_image_config_default(&ic);
    TRY(vt_image_config_load(&ic, cfg->model));
    if (cfg->image_min_pixels > 0) ic.min_pixels = cfg->image_min_pixels;
    if (cfg->image_max_pixels > 0) ic.max_pixels = cfg->image_max_pixels;
    char cache[4200];
    vt_rows_options o = vt_rows_options_init(r->tok, &ic, cfg->max_seq_length, cfg->strict, r->out);
    const char *splits[2] = {cfg->data, cfg->valid};
    vt_rows *dest[2] = {&r->train, &r->valid};
    for (int i = 0; i < 2 && splits[i]; i++) {
        o.path = splits[i];
        o.cache_dir = vt_rows_cache_dir(cfg->cache_dir, splits[i], cache, sizeof cache);
        TRY(vt_rows_load(dest[i], &o));
    }
    if (r->train.n == 0) return vt_err("%s: no usable training rows", cfg->data);
    if (cfg->train_vision) return 0;
    const vt_rows *both[2] = {&r->train, &r->valid};
    return vt_vision_cache_build(&r->vision, r->model, both, 2);
}

static int attach_adapters(run *r, char *resume_from, size_t cap) {
    const vt_train_config *cfg = r->cfg;
    if (cfg->resume) {
        TRY(vt_checkpoint_latest(cfg->resume, resume_from, cap));
        return vt_lora_load(&r->lora, r->model, resume_from);
    }
    TRY(vt_train_config_check_model(cfg, r->model->config.layers));
    vt_lora_config lc = {.kind = strcmp(cfg->fine_tune_type, "dora") ? VT_ADAPTER_LORA : VT_ADAPTER_DORA,
                         .rank = cfg->rank, .scale = cfg->alpha / cfg->rank, .dropout = cfg->dropout,
                         .num_layers = cfg->num_layers, .keys = cfg->keys, .vision = cfg->train_vision};
    return vt_lora_attach(&r->lora, r->model, &lc, vt_mix64((uint64_t)cfg->seed));
}

static long planned_steps(run *r) {
    const vt_train_config *cfg = r->cfg;
    if (cfg->iters > 0) return cfg->iters;
    if (plan_for(r, 0)) return -1;
    double micro = cfg->epochs * (double)r->plan.n;
    long steps = (long)ceil(micro / cfg->grad_accumulation_steps);
    return steps < 1 ? 1 : steps;
}

static int setup_schedule(run *r) {
    const vt_train_config *cfg = r->cfg;
    return vt_train_config_schedule(cfg, r->total_steps, &r->sched);
}

static int setup(run *r) {
    const vt_train_config *cfg = r->cfg;
    char resume_from[4200] = "", path[4200];
    snprintf(path, sizeof path, "%s/checkpoints", cfg->out);
    if (!cfg->resume && vt_path_exists(path))
        return vt_err("%s already holds a training run: continue it with --resume %s, or choose another --out",
                      cfg->out, cfg->out);
    TRY(vt_mkdir_p(cfg->out));
    TRY(vt_model_load(&r->model, cfg->model));
    TRY(vt_tokenizer_load(&r->tok, cfg->model));
    r->pad_id = vt_tokenizer_token_id(r->tok, "<|endoftext|>");
    if (r->pad_id < 0) r->pad_id = 0;
    TRY(load_rows(r));
    TRY(attach_adapters(r, resume_from, sizeof resume_from));
    vt_adamw_config ac = vt_train_config_adamw(cfg);
    TRY(vt_adamw_init(&r->opt, &ac, vt_lora_params(r->lora)));
    r->st = (vt_run_state){.best_valid = NAN, .best_step = -1};
    if (cfg->resume) TRY(vt_checkpoint_load_state(resume_from, &r->st, &r->opt));
    if ((r->total_steps = planned_steps(r)) < 0) return -1;
    TRY(setup_schedule(r));
    snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->out);
    TRY(vt_metrics_open(&r->metrics, path, r->st.step));
    snprintf(path, sizeof path, "%s/config.yaml", cfg->out);
    TRY(vt_train_config_save(cfg, path));
    TRY(mx_function_new(&r->loss_fn, loss_callback, NULL));
    vt_params *p = vt_lora_params(r->lora);
    size_t trainable = 0;
    for (size_t i = 0; i < p->n; i++) trainable += mx_size(p->values[i]);
    fprintf(r->out, "%s %zu layers (%zu trainable parameters, %.2f%% of %.3f B); %zu training rows%s; %ld steps%s%s\n",
            cfg->fine_tune_type, vt_lora_count(r->lora), trainable,
            100.0 * trainable / (double)(r->model->n_params_text + r->model->n_params_vision),
            (r->model->n_params_text + r->model->n_params_vision) / 1e9, r->train.n, cfg->valid ? "" : ", no validation",
            r->total_steps, cfg->resume ? ", resuming from " : "", resume_from);
    return 0;
}

static void teardown(run *r) {
    vt_epoch_plan_free(&r->plan);
    mx_function_free(r->loss_fn);
    vt_metrics_close(&r->metrics);
    vt_adamw_free(&r->opt);
    vt_lora_free(r->lora);
    vt_vision_cache_free(&r->vision);
    vt_rows_free(&r->train);
    vt_rows_free(&r->valid);
    vt_tokenizer_free(r->tok);
    vt_model_free(r->model);
}

/* ----------------------------------------------------------------- loop ---- */

static int loop(run *r, vt_train_result *res) {
    const vt_train_config *cfg = r->cfg;
    double window_tokens = 0, window_start = now();
    long steps_here = 0;
    r->started = now();
    while (r->st.step < r->total_steps) {
        mx_arena *scope = mx_scope_begin();
        double t0 = now();
        step_result s;
        int rc = train_step(r, &s);
        mx_scope_end(scope);
        TRY(rc);
        r->st.step++, steps_here++;
        if (s.skipped) {
            fprintf(r->out, "%sstep %ld: non-finite loss (%g) or gradient norm (%g): update skipped\n",
                    r->tty ? "\r\033[K" : "", r->st.step, s.loss, s.grad_norm);
            fflush(r->out);
            if (++r->st.bad_in_row >= cfg->max_bad_steps)
                return vt_err("%d non-finite steps in a row (at step %ld): stopping; lower the learning rate",
                              r->st.bad_in_row, r->st.step);
        } else {
            r->st.bad_in_row = 0;
            r->st.trained_tokens += s.tokens;
            res->last_loss = s.loss;
        }
        window_tokens += s.real_tokens;
        bool last = r->st.step == r->total_steps;
        if (r->st.step % cfg->steps_per_report == 0 || last || r->tty) {
            double t = now();
            TRY(report(r, &s, t - t0, window_tokens, t - window_start, steps_here));
            if (r->st.step % cfg->steps_per_report == 0) window_tokens = 0, window_start = t;
        }
        if (r->valid.n && cfg->steps_per_eval > 0 && (r->st.step % cfg->steps_per_eval == 0 || last))
            TRY(run_validation(r));
        if (stop_signal) {
            TRY(save_checkpoint(r));
            res->interrupted = true, res->signal = stop_signal;
            fprintf(r->out, "%sinterrupted at step %ld: checkpoint written; continue with --resume %s\n",
                    r->tty ? "\r\033[K" : "\n", r->st.step, cfg->out);
            return 0;
        }
        if (r->st.step % cfg->save_every == 0 || last) TRY(save_checkpoint(r));
    }
    if (r->tty) fputc('\n', r->out);
    return 0;
}

int vt_train(const vt_train_config *cfg, FILE *progress, vt_train_result *result) {
    TRY(vt_train_config_validate(cfg));
    run r = {.cfg = cfg, .out = progress, .tty = isatty(fileno(progress)), .plan_epoch = -1};
    vt_train_result res = {.best_valid_loss = NAN, .best_step = -1};
    struct sigaction old_int, old_term;
    catch_signals(&old_int, &old_term);
    int rc = setup(&r);
    if (rc == 0) rc = loop(&r, &res);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    res.steps_done = r.st.step;
    res.best_valid_loss = r.st.best_valid, res.best_step = r.st.best_step;
    teardown(&r);
    if (rc == 0 && result) *result = res;
    return rc;
}

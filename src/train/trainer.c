/* trainer.c — the training loop.
 *
 * Read it top to bottom: the run's state; setup (session, rows, adapters, optimizer, schedule, resume);
 * one optimizer step; validation and checkpoints; the loop.  What a micro-batch is lives in micro.c,
 * what the model computes in src/model, how the loss is taken in src/eval/loss.c. */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/rows.h"
#include "eval/loss.h"
#include "lora/lora.h"
#include "model/memory.h"
#include "session/session.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/features.h"
#include "train/micro.h"
#include "train/optim.h"
#include "train/plan.h"
#include "train/schedule.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/mix.h"
#include "util/system.h"

enum { MAX_ACCUMULATION = 64 };

typedef struct {
    const vt_train_config *cfg;            /* borrowed */
    vt_train_callbacks cb;
    vt_session session;                    /* model, tokenizer, image settings, pad id */
    vt_lora *lora;
    vt_rows train, valid;
    vt_vision_cache train_vision, valid_vision; /* a frozen tower's features, computed once */
    vt_adamw opt;
    vt_schedule sched;
    long total_steps;
    vt_epoch_plan plan;
    long plan_epoch;                       /* the epoch `plan` belongs to (-1: none) */
    vt_run_state st;
    vt_metrics metrics;
    mx_function *loss_fn;                  /* loss(adapters) on `current`, scaled by `scale` */
    const vt_micro_batch *current;
    double scale;
    int pad_multiple;                      /* batch lengths are rounded up to a multiple of this */
    bool compile;                          /* decoder layers traced and fused */
    char out[4096];                        /* cfg->out without trailing slashes */
    bool in_place;                         /* resuming into the run directory itself */
    char checkpoint[4200];                 /* the checkpoint resumed from ("": none) */
    vt_train_start start;                  /* what on_start reports (resumed_from points into `checkpoint`) */
    int lock_fd;                           /* the run directory's lock (-1: none yet) */
    vt_dist dist;                          /* the data-parallel group (a group of one: this process alone) */
    double step_started, first_wait;       /* this step's start, and when it first waited for the device (0: not yet) */
} run;

/* Rank 0 alone writes the run's files and reports; the other ranks are quiet unless they fail. */
static bool writes(const run *r) { return r->dist.rank == 0; }

/* The vision features a split's micro-batches use: NULL when the tower runs (it is being trained). */
static const vt_vision_cache *vision_of(const run *r, const vt_rows *rows) {
    if (r->cfg->train_vision) return NULL;
    return rows == &r->train ? &r->train_vision : &r->valid_vision;
}

/* ---------------------------------------------------------------- the loss ---- */

/* loss(adapters) = Σ cross-entropy at the supervised positions × scale; also returns the plain sum.
 * `ctx` is the run: value_and_grad calls this with the adapters' arrays as traced inputs. */
static int loss_callback(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t cap, size_t *n_out) {
    (void)n_in, (void)cap;
    run *r = ctx;
    const vt_micro_batch *mb = r->current;
    vt_model_inputs mi = vt_micro_batch_inputs(mb, r->cfg->grad_checkpoint, r->compile);
    vt_lora_bind(r->lora, in);
    mx_array sum;
    int rc = vt_model_loss_sum(r->session.model, &mi, mb->loss_positions, mb->targets, &sum) ||
             mx_mul_scalar(&out[0], sum, r->scale);
    vt_lora_bind(r->lora, NULL);
    if (rc) return -1;
    out[1] = sum;
    *n_out = 2;
    return 0;
}

/* ------------------------------------------------------------------ setup ---- */

static int load_rows(run *r) {
    const vt_train_config *cfg = r->cfg;
    vt_rows_options o = vt_rows_options_init(r->session.tok, &r->session.images, cfg->max_seq_length, cfg->strict,
                                             r->cb.log);
    /* --data is a file or a folder of splits (mlx-lm's layout): its valid split unless --valid names one */
    char *files[2] = {NULL, NULL};
    int rc = vt_dataset_split(cfg->data, "train", true, &files[0]);
    if (rc == 0) rc = cfg->valid ? ((files[1] = strdup(cfg->valid)) ? 0 : vt_err("out of memory"))
                                 : vt_dataset_split(cfg->data, "valid", false, &files[1]);
    vt_rows *dest[2] = {&r->train, &r->valid};
    char cache[4200];
    for (int i = 0; rc == 0 && i < 2 && files[i]; i++) {
        o.path = files[i];
        o.cache_dir = vt_rows_cache_dir(cfg->cache_dir, files[i], cache, sizeof cache);
        rc = vt_rows_load(dest[i], &o);
    }
    free(files[0]), free(files[1]);
    TRY(rc);
    if (r->train.n == 0) return vt_err("%s: no usable training rows", cfg->data);
    return 0;
}

static int attach_adapters(run *r, const char *checkpoint) {
    const vt_train_config *cfg = r->cfg;
    vt_model *m = r->session.model;
    if (checkpoint) TRY(vt_lora_load(&r->lora, m, checkpoint));
    else {
        TRY(vt_train_config_check_model(cfg, m->config.layers));
        vt_lora_config lc = {.kind = strcmp(cfg->fine_tune_type, "dora") ? VT_ADAPTER_LORA : VT_ADAPTER_DORA,
                             .rank = cfg->rank, .scale = cfg->alpha / cfg->rank, .dropout = cfg->dropout,
                             .num_layers = cfg->num_layers, .keys = cfg->keys, .vision = cfg->train_vision};
        TRY(vt_lora_attach(&r->lora, m, &lc, vt_mix64((uint64_t)cfg->seed)));
        if (cfg->resume_adapter_file) TRY(vt_lora_load_values(r->lora, cfg->resume_adapter_file));
    }
    /* inference must see images as training did: the bounds travel in adapter_config.json */
    vt_adapter_meta meta = {r->session.images.min_pixels, r->session.images.max_pixels};
    vt_lora_set_meta(r->lora, &meta);
    return 0;
}

static int plan_for(run *r, long epoch) {
    if (r->plan_epoch == epoch) return 0;
    vt_epoch_plan_free(&r->plan);
    r->plan_epoch = -1;
    const vt_train_config *cfg = r->cfg;
    vt_plan_options o = {.seed = (uint64_t)cfg->seed, .epoch = epoch, .batch_size = cfg->batch_size, .shuffle = true,
                         .bucket = cfg->length_bucketing, .pack_length = cfg->pack ? cfg->max_seq_length : 0};
    TRY(vt_plan_epoch(&r->plan, r->train.lengths, r->train.n, &o));
    r->plan_epoch = epoch;
    return 0;
}

static int setup_schedule(run *r) {
    const vt_train_config *cfg = r->cfg;
    if (cfg->iters > 0) r->total_steps = cfg->iters;
    else {
        TRY(plan_for(r, 0));
        long steps = (long)ceil(cfg->epochs * (double)r->plan.n / cfg->grad_accumulation_steps);
        r->total_steps = steps < 1 ? 1 : steps;
    }
    return vt_train_config_schedule(cfg, r->total_steps, &r->sched);
}

/* Marks the samples of this rank's share of micro-batch m; *marked counts the rows marked so far. */
static int mark_share(const run *r, const vt_micro *m, bool *needed, size_t *marked) {
    vt_micro share;
    TRY(vt_micro_shard(m, r->dist.rank, r->dist.size, &share));
    for (size_t i = 0; i < share.n; i++) {
        *marked += !needed[share.samples[i]];
        needed[share.samples[i]] = true;
    }
    vt_micro_free(&share);
    return 0;
}

/* The training rows this rank will process from the run's position to its last step (every epoch's plan is
 * a function of the seed, so the rest of the run is known). */
static int train_rows_needed(run *r, bool *needed) {
    long epoch = r->st.epoch, micro = r->st.micro;
    long left = (r->total_steps - r->st.step) * r->cfg->grad_accumulation_steps;
    size_t marked = 0;
    while (left > 0 && marked < r->train.n) {
        TRY(plan_for(r, epoch));
        if ((size_t)micro >= r->plan.n) {
            epoch++, micro = 0;
            continue;
        }
        TRY(mark_share(r, &r->plan.micro[micro++], needed, &marked));
        left--;
    }
    return 0;
}

/* The validation plan: every row in file order, batched like training (the first val_batches micro-batches
 * are used). */
static int valid_plan(const run *r, vt_epoch_plan *plan, size_t *used) {
    const vt_train_config *cfg = r->cfg;
    vt_plan_options o = {.batch_size = cfg->batch_size, .pack_length = cfg->pack ? cfg->max_seq_length : 0};
    TRY(vt_plan_epoch(plan, r->valid.lengths, r->valid.n, &o));
    *used = cfg->val_batches < 0 || (size_t)cfg->val_batches > plan->n ? plan->n : (size_t)cfg->val_batches;
    return 0;
}

static int valid_rows_needed(run *r, bool *needed) {
    vt_epoch_plan plan;
    size_t used, marked = 0;
    TRY(valid_plan(r, &plan, &used));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < used; i++) rc = mark_share(r, &plan.micro[i], needed, &marked);
    vt_epoch_plan_free(&plan);
    return rc;
}

/* A frozen tower's features, computed once.  A data-parallel rank computes them for its own rows only: its
 * share of every micro-batch it will process (of the rest of the run for training rows, of the validation plan
 * for validation rows); one process alone computes them for every row, as it always did. */
static int cache_vision(run *r) {
    if (r->cfg->train_vision) return 0;
    bool *train = NULL, *valid = NULL;
    int rc = 0;
    if (r->dist.collective) {
        train = calloc(r->train.n + 1, 1), valid = calloc(r->valid.n + 1, 1);
        rc = train && valid ? 0 : vt_err("out of memory");
        if (rc == 0) rc = train_rows_needed(r, train);
        if (rc == 0 && r->valid.n) rc = valid_rows_needed(r, valid);
    }
    if (rc == 0) rc = vt_vision_cache_build_some(&r->train_vision, r->session.model, &r->train, train);
    if (rc == 0) rc = vt_vision_cache_build_some(&r->valid_vision, r->session.model, &r->valid, valid);
    free(train), free(valid);
    TRY(rc);
    /* every feature the run needs is cached: the tower's weights (0.8 GB at 4B size) can go */
    return vt_model_release_vision(r->session.model);
}

static int open_session(run *r) {
    const vt_train_config *cfg = r->cfg;
    vt_session_options so = {.model = cfg->model, .weights = true, .tokenizer = true, .image_min_pixels = cfg->image_min_pixels,
                             .image_max_pixels = cfg->image_max_pixels};
    return vt_session_open(&r->session, &so);
}

/* ---------------------------------------------------------------- memory ---- */

/* Supervised and real (not padding) tokens of a whole micro-batch, from its rows: every rank knows the
 * step's totals without asking the others, so each scales its gradient by the same 1 / supervised. */
static void micro_counts(const vt_rows *rows, const vt_micro *m, size_t *supervised, double *real) {
    for (size_t i = 0; i < m->n; i++) {
        *supervised += vt_example_targets(&rows->rows[m->samples[i]], 0, NULL, NULL);
        *real += (double)rows->lengths[m->samples[i]];
    }
}

/* The largest micro-batch of the current epoch's plan, as the model's memory estimate takes it. */
static int largest_pass(run *r, vt_pass_shape *out) {
    TRY(plan_for(r, r->st.epoch));
    size_t m = (size_t)(r->pad_multiple > 1 ? r->pad_multiple : 1);
    *out = (vt_pass_shape){.checkpoint = r->cfg->grad_checkpoint, .head_chunk = vt_loss_chunk_rows(r->session.model->config.vocab)};
    for (size_t i = 0; i < r->plan.n; i++) {
        const vt_micro *mi = &r->plan.micro[i];
        long rows = mi->row_of ? mi->row_of[mi->n - 1] + 1 : (long)mi->n, longest = 0, row_len = 0;
        for (size_t k = 0; k < mi->n; k++) {
            long len = (long)((r->train.rows[mi->samples[k]].n_tokens + m - 1) / m * m);
            row_len = mi->row_of && k > 0 && mi->row_of[k] == mi->row_of[k - 1] ? row_len + len : len;
            longest = row_len > longest ? row_len : longest;
        }
        size_t sup = 0;
        double real = 0;
        micro_counts(&r->train, mi, &sup, &real);
        long tokens = rows * longest;
        if (tokens > out->tokens) out->rows = rows, out->tokens = tokens;
        if ((long)sup > out->supervised) out->supervised = (long)sup;
    }
    return 0;
}

/* What setup holds, the estimated peak of a step and the device's memory; refuses (with the numbers) a run
 * that cannot fit, unless memory_check is off. */
static int check_memory(run *r, vt_train_start *s) {
    vt_pass_shape shape;
    size_t active = 0, total = 0, working_set = 0;
    TRY(largest_pass(r, &shape));
    TRY(mx_memory_active(&active));
    TRY(mx_device_memory(&total, &working_set));
    /* as mlx-lm does on a Mac: keep up to the recommended working set resident (a no-op elsewhere) */
    if (working_set && mx_default_device() == MX_GPU && mx_set_wired_limit(working_set, NULL) != 0 && r->cb.log)
        fprintf(r->cb.log, "note: the wired memory limit was not set: %s\n", vt_errmsg());
    if (!working_set) working_set = vt_physical_memory();
    if (r->cfg->memory_limit_gb > 0) working_set = (size_t)(r->cfg->memory_limit_gb * 1e9);
    double update = (double)s->trainable_params * 20.0; /* float32 gradients, flattened, and the new p, m, v */
    /* weights load lazily and the optimizer's vectors are not made yet: count them, and what is made (the
     * cached image features) */
    s->setup_bytes = (double)vt_model_weight_bytes(r->session.model) + (double)s->trainable_params * 14.0 + (double)active;
    s->estimated_peak_bytes = s->setup_bytes + vt_model_pass_bytes(&r->session.model->config, &shape) + update;
    s->device_bytes = (double)working_set;
    if (!working_set || s->estimated_peak_bytes <= s->device_bytes) return 0;
    const double gb = 1e9;
    char why[512];
    snprintf(why, sizeof why,
             "estimated peak memory %.1f GB (model and adapters %.1f GB, the largest micro-batch of %ld × %ld tokens "
             "%.1f GB) exceeds the %.1f GB the run may use: lower batch_size or max_seq_length%s, or use a 4-bit model",
             s->estimated_peak_bytes / gb, s->setup_bytes / gb, shape.rows, shape.tokens / (shape.rows ? shape.rows : 1),
             (s->estimated_peak_bytes - s->setup_bytes) / gb, s->device_bytes / gb,
             r->cfg->grad_checkpoint ? "" : ", turn on grad_checkpoint");
    if (r->cfg->memory_check && !r->cfg->dry_run) return vt_err("%s (memory_check false tries anyway)", why);
    if (r->cb.log) fprintf(r->cb.log, "warning: %s\n", why);
    return 0;
}

static vt_train_start start_of(run *r, const char *checkpoint) {
    vt_params *p = vt_lora_params(r->lora);
    size_t trainable = 0;
    for (size_t i = 0; i < p->n; i++) trainable += mx_size(p->values[i]);
    const vt_model *m = r->session.model;
    return (vt_train_start){.fine_tune_type = r->cfg->fine_tune_type, .adapted_layers = vt_lora_count(r->lora),
                            .trainable_params = trainable, .model_params = (double)(m->n_params_text + m->n_params_vision),
                            .train_rows = r->train.n, .valid_rows = r->valid.n, .total_steps = r->total_steps,
                            .first_step = r->st.step, .resumed_from = checkpoint, .world_size = r->dist.size};
}

/* --out may start a run when it is missing or empty: a run already there is continued with --resume, and
 * anything else would be mixed with the run's files. */
static int check_new_out(const char *out) {
    char path[4200];
    TRY(vt_path_join(path, sizeof path, out, "checkpoints"));
    if (vt_is_dir(path))
        return vt_err("%s already holds a training run: continue it with --resume %s, or choose another --out", out,
                      out);
    return vt_check_out_dir(out, NULL, "--out");
}

/* A new run directory appears whole, holding config.yaml and checkpoints/: it is filled under a temporary
 * name next to --out and renamed into place (over an empty directory, never over anything else), so that a
 * kill leaves no directory, or one that --resume continues (from step 0 until the first checkpoint). */
static int create_run_dir(run *r) {
    char tmp[4200], path[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", r->out, (int)getpid());
    TRY(vt_remove_tree(tmp));
    int rc = vt_path_join(path, sizeof path, tmp, "checkpoints") || vt_mkdir_p(path) ||
             vt_path_join(path, sizeof path, tmp, "config.yaml") || vt_train_config_save(r->cfg, path) ||
             vt_place_dir(tmp, r->out);
    if (rc) {
        vt_remove_tree(tmp);
        return vt_err_context("creating the run directory %s", r->out);
    }
    return vt_lock_dir(r->out, "training of this run", &r->lock_fd);
}

/* What a kill in the middle of a write left in the run directory: temporary checkpoint directories and
 * files, and best/ of an interrupted replacement (vt_recover_dir). */
static int clean_run_dir(const char *out) {
    char path[4200];
    TRY(vt_checkpoint_clean(out));
    TRY(vt_remove_temp_files(out));
    TRY(vt_path_join(path, sizeof path, out, ".tmp-best"));
    TRY(vt_remove_tree(path));
    TRY(vt_path_join(path, sizeof path, out, "best"));
    return vt_recover_dir(path);
}

/* --resume: the newest intact checkpoint (checkpoint[0] == 0: none yet, the run starts from step 0).  A run
 * continued in its own directory is locked first, then cleaned of what a kill left. */
static int find_checkpoint(run *r, bool in_place, char *checkpoint, size_t cap) {
    const char *resume = r->cfg->resume;
    if (in_place) TRY(vt_lock_dir(r->out, "training of this run", &r->lock_fd));
    TRY(vt_checkpoint_latest(resume, checkpoint, cap, r->cb.log));
    if (in_place) TRY(clean_run_dir(r->out));
    if (!checkpoint[0] && r->cb.log)
        fprintf(r->cb.log, "note: %s has no complete checkpoint (the run stopped before its first): starting from "
                           "step 0\n", resume);
    return 0;
}

/* metrics.jsonl (continued after a resume) and config.yaml, both recording the group's size. */
static int open_outputs(run *r) {
    char path[4200];
    TRY(vt_path_join(path, sizeof path, r->out, "metrics.jsonl"));
    TRY(vt_metrics_open(&r->metrics, path, r->st.step));
    r->metrics.world_size = r->dist.size;
    vt_train_config recorded = *r->cfg; /* borrows the strings: only read */
    recorded.world_size = r->dist.size;
    TRY(vt_path_join(path, sizeof path, r->out, "config.yaml"));
    return vt_train_config_save(&recorded, path);
}

/* Everything that can refuse the run (settings, model, data, checkpoint, memory), checked before the run
 * directory is made (start): a refused run leaves nothing behind. */
static int prepare(run *r) {
    const vt_train_config *cfg = r->cfg;
    TRY(vt_path_trim(r->out, sizeof r->out, cfg->out));
    bool in_place = cfg->resume && vt_same_file(cfg->resume, r->out);
    /* rank 0 alone checks, locks and cleans the run directory; every rank reads the checkpoint */
    if (writes(r) && !in_place) TRY(check_new_out(r->out));
    if (cfg->resume) TRY(find_checkpoint(r, in_place && writes(r), r->checkpoint, sizeof r->checkpoint));
    const char *from = r->checkpoint[0] ? r->checkpoint : NULL;
    TRY(open_session(r));
    /* the fused attention backward (cuDNN) needs lengths in multiples of 128 on a GPU */
    r->pad_multiple = cfg->pad_to_multiple ? cfg->pad_to_multiple : mx_default_device() == MX_GPU ? 128 : 1;
    r->compile = cfg->compile && cfg->dropout == 0; /* dropout's random keys are made per step: not traceable */
    TRY(load_rows(r));
    TRY(attach_adapters(r, from));
    vt_adamw_config ac = vt_train_config_adamw(cfg);
    TRY(vt_adamw_init(&r->opt, &ac, vt_lora_params(r->lora)));
    r->st = (vt_run_state){.best_valid = NAN, .best_step = -1};
    if (from) TRY(vt_checkpoint_load_state(from, &r->st, &r->opt, vt_lora_params(r->lora)));
    TRY(setup_schedule(r));
    TRY(cache_vision(r));
    r->start = start_of(r, from);
    r->in_place = in_place;
    return check_memory(r, &r->start);
}

/* The run directory (rank 0 alone owns it) and the loss function; a dry run only reports. */
static int start(run *r) {
    if (!r->cfg->dry_run) {
        if (writes(r) && !r->in_place) TRY(create_run_dir(r));
        if (writes(r)) TRY(open_outputs(r));
        TRY(mx_function_new(&r->loss_fn, loss_callback, r));
    }
    if (r->cb.on_start) r->cb.on_start(r->cb.ctx, &r->start);
    return 0;
}

static void teardown(run *r) {
    vt_epoch_plan_free(&r->plan);
    mx_function_free(r->loss_fn);
    vt_metrics_close(&r->metrics);
    vt_adamw_free(&r->opt);
    vt_lora_free(r->lora);
    vt_vision_cache_free(&r->train_vision);
    vt_vision_cache_free(&r->valid_vision);
    vt_rows_free(&r->train);
    vt_rows_free(&r->valid);
    vt_session_close(&r->session);
    vt_unlock_dir(r->lock_fd);
}

/* ---------------------------------------------------------------- one step ---- */

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
    double host_seconds; /* from the step's start to its first wait for the device: batch assembly, graph building */
    bool skipped;
    bool stop;        /* data-parallel: some rank was asked to stop (all ranks stop after this step) */
} step_result;

static bool stop_requested(const run *r) { return r->cb.should_stop && r->cb.should_stop(r->cb.ctx); }

/* Notes when the step first waits for the device (host_ms ends there). */
static void note_wait(run *r) {
    if (r->first_wait == 0) r->first_wait = vt_now();
}

/* Evaluates arrays of the step, noting its first wait. */
static int eval_step(run *r, const mx_array *a, size_t n) {
    note_wait(r);
    return mx_eval(a, n);
}

static int accumulate(mx_array *sum, const mx_array *add, size_t n, bool first) {
    for (size_t i = 0; i < n; i++) {
        if (first) sum[i] = add[i];
        else TRY(mx_add(&sum[i], sum[i], add[i]));
    }
    return 0;
}

/* Σ over the micro-batches of the gradients of loss × (1 / the step's supervised tokens), and the loss sum,
 * both lazy.  With accumulation, each micro-batch's sum is evaluated before the next is built, so that its
 * graph can be freed. */
static int gradients(run *r, vt_micro_batch *mb, int n_mb, size_t supervised, mx_array *grads, mx_array *loss_sum) {
    vt_params *params = vt_lora_params(r->lora);
    size_t np = params->n;
    mx_array *g = calloc(np + 2, sizeof *g);
    int *argnums = malloc((np + 1) * sizeof *argnums);
    int rc = g && argnums ? 0 : vt_err("out of memory");
    for (size_t i = 0; rc == 0 && i < np; i++) argnums[i] = (int)i;
    bool first = true;
    for (int k = 0; rc == 0 && k < n_mb; k++) {
        if (mb[k].batch.n_targets == 0) continue;
        r->current = &mb[k], r->scale = 1.0 / (double)supervised;
        /* dropout masks: a function of (seed, step, micro-batch), and of the rank, whose rows differ */
        uint64_t rank_mix = r->dist.rank ? vt_mix64(0x5eed0000u + (uint64_t)r->dist.rank) : 0;
        vt_lora_set_training(r->lora, true,
                             vt_mix64((uint64_t)r->cfg->seed ^ vt_mix64((uint64_t)r->st.step * 64 + k) ^ rank_mix));
        mx_array values[2];
        size_t nv;
        rc = mx_value_and_grad(r->loss_fn, params->values, np, argnums, np, values, 2, &nv, g) ||
             accumulate(grads, g, np, first) || accumulate(loss_sum, &values[1], 1, first);
        first = false;
        if (rc == 0 && k + 1 < n_mb) {
            grads[np] = *loss_sum;
            rc = eval_step(r, grads, np + 1);
        }
    }
    r->current = NULL;
    free(g), free(argnums);
    return rc;
}

/* Clips and applies AdamW at this step's learning rate, unless the loss or the gradient is not finite
 * (decided on the device, so that the step needs one evaluation: parameters, moments, loss and norm). */
static int update(run *r, mx_array *grads, mx_array flat, mx_array loss_sum, size_t supervised, step_result *res) {
    vt_params *params = vt_lora_params(r->lora);
    size_t np = params->n;
    mx_array loss, norm, ok;
    double lr = vt_schedule_lr(&r->sched, r->st.step);
    TRY(mx_mul_scalar(&loss, loss_sum, 1.0 / (double)supervised));
    if (flat) TRY(vt_adamw_step_flat(&r->opt, params, flat, lr, r->cfg->max_grad_norm, loss, &norm, &ok));
    else TRY(vt_adamw_step(&r->opt, params, grads, lr, r->cfg->max_grad_norm, loss, &norm, &ok));
    mx_array *all = malloc((np + 6) * sizeof *all);
    if (!all) return vt_err("out of memory");
    memcpy(all, params->values, np * sizeof *all);
    all[np] = r->opt.p, all[np + 1] = r->opt.m, all[np + 2] = r->opt.v, all[np + 3] = loss, all[np + 4] = norm;
    all[np + 5] = ok;
    float loss_value = 0, norm_value = 0;
    int32_t applied = 0;
    int rc = eval_step(r, all, np + 6) || mx_item_f32(loss, &loss_value) || mx_item_f32(norm, &norm_value) ||
             mx_astype(&ok, ok, MX_INT32) || mx_item_i32(ok, &applied);
    free(all);
    TRY(rc);
    res->loss = loss_value, res->grad_norm = norm_value, res->skipped = !applied;
    if (res->skipped) r->opt.step--; /* nothing changed: the bias correction counts updates made */
    return 0;
}

/* Data-parallel: [this rank's gradient sum (flat) | loss sum | supervised tokens | stop request], summed over
 * the ranks in one all-reduce.  *flat and *loss_sum become the group's sums.  A rank with no supervised
 * tokens in the step (grads unset) contributes zeros; so does a rank whose step failed (`failure`: its
 * message), which the all-reduce then carries to the others. */
static int all_reduce(run *r, const mx_array *grads, mx_array *loss_sum, size_t local_tokens, size_t step_tokens,
                      const char *failure, mx_array *flat, step_result *res) {
    int total = (int)r->opt.offsets[r->opt.n], one = 1, two = 2;
    mx_array parts[3], sum, tail;
    if (grads && grads[0] && !failure) {
        TRY(vt_adamw_flatten(&r->opt, grads, &parts[0]));
        TRY(mx_astype(&parts[1], *loss_sum, MX_FLOAT32));
        TRY(mx_reshape(&parts[1], parts[1], &one, 1));
    } else {
        TRY(mx_zeros(&parts[0], &total, 1, MX_FLOAT32));
        TRY(mx_zeros(&parts[1], &one, 1, MX_FLOAT32));
    }
    float mine[2] = {(float)local_tokens, stop_requested(r) ? 1.0f : 0.0f}, all[2];
    TRY(mx_from_data(&parts[2], mine, &two, 1, MX_FLOAT32));
    TRY(mx_concatenate(&sum, parts, 3, 0));
    note_wait(r);
    TRY(vt_dist_sum(&r->dist, sum, failure, "the gradient all-reduce", &sum));
    TRY(mx_slice_axis(&tail, sum, 0, total + 1, total + 3));
    TRY(mx_to_f32(tail, all, 2));
    if (fabs((double)all[0] - (double)step_tokens) > 1e-6 * (double)step_tokens)
        return vt_err("the ranks trained on %.0f supervised tokens but the step has %zu: were all ranks given the "
                      "same data and settings?", (double)all[0], step_tokens);
    res->stop = all[1] > 0;
    TRY(mx_slice_axis(flat, sum, 0, 0, total));
    TRY(mx_slice_axis(loss_sum, sum, 0, total, total + 1));
    return mx_sum(loss_sum, *loss_sum, NULL, 0, false);
}

/* The next micro-batch, or this rank's share of it, assembled; the whole micro-batch's token counts added. */
static int next_batch(run *r, vt_micro_batch *mb, size_t *supervised, double *real) {
    const vt_micro *plan;
    *mb = (vt_micro_batch){0};
    TRY(next_micro(r, &plan));
    if (!r->dist.collective) {
        TRY(vt_micro_batch_make(mb, &r->train, vision_of(r, &r->train), plan, r->session.pad_id, r->pad_multiple));
        *supervised += mb->batch.n_targets, *real += (double)mb->batch.n_real_tokens;
        return 0;
    }
    vt_micro share;
    micro_counts(&r->train, plan, supervised, real);
    TRY(vt_micro_shard(plan, r->dist.rank, r->dist.size, &share));
    int rc = vt_micro_batch_make(mb, &r->train, vision_of(r, &r->train), &share, r->session.pad_id, r->pad_multiple);
    vt_micro_free(&share);
    return rc;
}

static int train_step(run *r, step_result *res) {
    int accum = r->cfg->grad_accumulation_steps;
    vt_micro_batch mb[MAX_ACCUMULATION];
    if (accum > MAX_ACCUMULATION) return vt_err("grad_accumulation_steps above %d is not supported", MAX_ACCUMULATION);
    *res = (step_result){0};
    r->step_started = vt_now(), r->first_wait = 0;
    size_t supervised = 0, mine = 0; /* the step's supervised tokens, and those of this rank's share */
    int made = 0, rc = 0;
    for (; rc == 0 && made < accum; made++) {
        rc = next_batch(r, &mb[made], &supervised, &res->real_tokens);
        mine += mb[made].batch.n_targets;
    }
    mx_array *grads = calloc(vt_lora_params(r->lora)->n + 1, sizeof *grads), loss_sum = NULL, flat = NULL;
    if (rc == 0 && !grads) rc = vt_err("out of memory");
    if (rc == 0 && supervised == 0) rc = vt_err("a training step has no supervised tokens");
    if (rc == 0) rc = gradients(r, mb, made, supervised, grads, &loss_sum);
    if (r->dist.collective) /* a failure so far travels in the all-reduce the other ranks are waiting in */
        rc = all_reduce(r, grads, &loss_sum, mine, supervised, rc ? vt_errmsg() : NULL, &flat, res);
    if (rc == 0) rc = update(r, grads, flat, loss_sum, supervised, res);
    res->tokens = (double)supervised;
    res->host_seconds = (r->first_wait ? r->first_wait : vt_now()) - r->step_started;
    for (int k = 0; k < made; k++) vt_micro_batch_clear(&mb[k]);
    free(grads);
    return rc;
}

/* ------------------------------------------------ validation, checkpoints ---- */

/* Data-parallel: the loss sum and token count of every rank's shares, summed over the ranks (or this rank's
 * validation `failure` carried to the others). */
static int reduce_valid(run *r, double *sum, double *tokens, const char *failure) {
    float pair[2] = {(float)*sum, (float)*tokens};
    int two = 2;
    mx_array a;
    mx_arena *scope = mx_scope_begin(); /* validation's own scopes have ended: these handles need one */
    int rc = mx_from_data(&a, pair, &two, 1, MX_FLOAT32) ||
             vt_dist_sum(&r->dist, a, failure, "the validation all-reduce", &a) || mx_to_f32(a, pair, 2);
    mx_scope_end(scope);
    TRY(rc);
    *sum = pair[0], *tokens = pair[1];
    return 0;
}

/* Validation micro-batch i (this rank's share of it when data-parallel). */
static int valid_batch(run *r, const vt_micro *whole, vt_micro_batch *mb) {
    *mb = (vt_micro_batch){0};
    if (!r->dist.collective)
        return vt_micro_batch_make(mb, &r->valid, vision_of(r, &r->valid), whole, r->session.pad_id, r->pad_multiple);
    vt_micro share;
    TRY(vt_micro_shard(whole, r->dist.rank, r->dist.size, &share));
    int rc = vt_micro_batch_make(mb, &r->valid, vision_of(r, &r->valid), &share, r->session.pad_id, r->pad_multiple);
    vt_micro_free(&share);
    return rc;
}

static int validate(run *r, double *loss_out) {
    vt_epoch_plan plan;
    size_t limit;
    TRY(valid_plan(r, &plan, &limit));
    double sum = 0, tokens = 0;
    int rc = 0;
    vt_lora_set_training(r->lora, false, 0);
    vt_params *params = vt_lora_params(r->lora);
    for (size_t i = 0; rc == 0 && i < limit; i++) {
        mx_arena *scope = mx_scope_begin();
        vt_micro_batch mb;
        rc = valid_batch(r, &plan.micro[i], &mb);
        if (rc == 0 && mb.batch.n_targets) {
            r->current = &mb, r->scale = 1.0;
            mx_array out[2];
            size_t n;
            float part;
            rc = mx_function_call(r->loss_fn, params->values, params->n, out, 2, &n) || mx_item_f32(out[1], &part);
            sum += part, tokens += (double)mb.batch.n_targets;
            r->current = NULL;
        }
        vt_micro_batch_clear(&mb);
        mx_scope_end(scope);
    }
    vt_epoch_plan_free(&plan);
    if (r->dist.collective) rc = reduce_valid(r, &sum, &tokens, rc ? vt_errmsg() : NULL);
    if (rc) return -1;
    *loss_out = tokens > 0 ? sum / tokens : NAN;
    return 0;
}

static int save_best(run *r) {
    char tmp[4200], final[4200];
    TRY(vt_path_join(tmp, sizeof tmp, r->out, ".tmp-best"));
    TRY(vt_path_join(final, sizeof final, r->out, "best"));
    TRY(vt_remove_tree(tmp));
    TRY(vt_lora_save(r->lora, tmp));
    return vt_replace_dir(tmp, final);
}

static int run_validation(run *r) {
    double loss;
    TRY(validate(r, &loss));
    if (writes(r)) TRY(vt_metrics_valid(&r->metrics, r->st.step, loss));
    bool better = isnan(r->st.best_valid) || loss < r->st.best_valid;
    if (r->cb.on_valid) r->cb.on_valid(r->cb.ctx, r->st.step, loss, better);
    if (!better) return 0;
    r->st.best_valid = loss, r->st.best_step = r->st.step;
    return writes(r) ? save_best(r) : 0;
}

static int save_checkpoint(run *r) {
    if (!writes(r)) return 0;
    char plot[4200];
    vt_train_config recorded = *r->cfg; /* borrows the strings: only read */
    recorded.world_size = r->dist.size;
    TRY(vt_checkpoint_save(r->out, r->lora, &r->opt, &r->st, &recorded, r->cfg->keep_last));
    TRY(vt_lora_save(r->lora, r->out));
    TRY(vt_path_join(plot, sizeof plot, r->out, "loss.svg"));
    return vt_metrics_plot(&r->metrics, plot);
}

/* -------------------------------------------------------------------- loop ---- */

/* Throughput over the steps since the last report, validation time excluded. */
typedef struct {
    double tokens, seconds;
} window;

static int after_step(run *r, const step_result *s, double step_seconds, window *w) {
    bool last = r->st.step == r->total_steps, report = r->st.step % r->cfg->steps_per_report == 0 || last;
    size_t peak = 0;
    mx_memory_peak(&peak);
    w->tokens += s->real_tokens, w->seconds += step_seconds;
    vt_train_report rep = {
        .step = r->st.step, .total_steps = r->total_steps,
        .epoch = (double)r->st.epoch + (r->plan.n ? (double)r->st.micro / (double)r->plan.n : 0),
        .loss = s->loss, .lr = vt_schedule_lr(&r->sched, r->st.step - 1), .grad_norm = s->grad_norm,
        .tokens_per_s = w->seconds > 0 ? w->tokens / w->seconds : 0, .trained_tokens = r->st.trained_tokens,
        .peak_mem_gb = (double)peak / 1e9, .ms_per_step = step_seconds * 1e3, .host_ms = s->host_seconds * 1e3,
        .skipped = s->skipped,
    };
    if (report && writes(r)) TRY(vt_metrics_train(&r->metrics, &rep));
    if (r->cb.on_step) r->cb.on_step(r->cb.ctx, &rep, report);
    if (report) *w = (window){0};
    return 0;
}

static int loop(run *r, vt_train_result *res) {
    const vt_train_config *cfg = r->cfg;
    window w = {0};
    while (r->st.step < r->total_steps) {
        mx_arena *scope = mx_scope_begin();
        double t0 = vt_now();
        step_result s = {0};
        int rc = train_step(r, &s);
        mx_scope_end(scope);
        TRY(rc);
        r->st.step++;
        if (s.skipped && ++r->st.bad_in_row >= cfg->max_bad_steps)
            return vt_err("%d non-finite steps in a row (at step %ld): stopping; lower the learning rate",
                          r->st.bad_in_row, r->st.step);
        if (!s.skipped) r->st.bad_in_row = 0, r->st.trained_tokens += s.tokens, res->last_loss = s.loss;
        TRY(after_step(r, &s, vt_now() - t0, &w));
        bool last = r->st.step == r->total_steps;
        if (r->valid.n && cfg->steps_per_eval > 0 && (r->st.step % cfg->steps_per_eval == 0 || last))
            TRY(run_validation(r));
        /* data-parallel ranks stop together: a request anywhere travelled in the step's all-reduce */
        if (r->dist.collective ? s.stop : stop_requested(r)) {
            res->interrupted = true;
            return save_checkpoint(r);
        }
        if (r->st.step % cfg->save_every == 0 || last) TRY(save_checkpoint(r));
    }
    return 0;
}

/* Data-parallel: every rank's preparation (data, features, memory check, checkpoint) succeeded, or every rank
 * stops now, before anything is written, the others naming the rank that failed instead of waiting in the
 * first step's all-reduce. */
static int setup_agreed(run *r, int rc) {
    int one = 1;
    mx_array zero, sum;
    const char *failure = rc ? vt_errmsg() : NULL; /* vt_dist_sum keeps a copy */
    mx_arena *scope = mx_scope_begin();
    rc = mx_zeros(&zero, &one, 1, MX_FLOAT32) || vt_dist_sum(&r->dist, zero, failure, "the start-up check", &sum);
    mx_scope_end(scope);
    return rc;
}

int vt_train(const vt_train_config *cfg, const vt_train_callbacks *cb, vt_train_result *result) {
    TRY(vt_train_config_validate(cfg));
    run r = {.cfg = cfg, .plan_epoch = -1, .lock_fd = -1};
    TRY(vt_dist_open(&r.dist, cfg->distributed_timeout));
    if (cb) r.cb = *cb;
    if (!writes(&r)) /* quiet, but still asked whether to stop */
        r.cb = (vt_train_callbacks){.ctx = r.cb.ctx, .should_stop = r.cb.should_stop};
    vt_train_result res = {.best_valid_loss = NAN, .best_step = -1};
    int rc = prepare(&r);
    if (r.dist.collective) rc = setup_agreed(&r, rc);
    if (rc == 0) rc = start(&r);
    if (rc == 0 && !cfg->dry_run) rc = loop(&r, &res);
    res.steps_done = r.st.step;
    res.best_valid_loss = r.st.best_valid, res.best_step = r.st.best_step;
    teardown(&r);
    int rank = r.dist.rank, size = r.dist.size;
    res.rank = rank, res.world_size = size;
    vt_dist_close(&r.dist);
    if (rc && size > 1) vt_err_context("rank %d of %d", rank, size);
    if (rc == 0 && result) *result = res;
    return rc;
}

/* config_peers.c — the other tools' names for vlmtune's settings, read with their meaning.
 *
 * A configuration written for mlx-lm (`mlx_lm.lora -c`), for mlx-vlm (`mlx_vlm.train -c`,
 * 0.7.x) or for LLaMA-Factory (`llamafactory-cli train`) runs unchanged: each key below is
 * either translated into vlmtune's settings, accepted with no effect (quietly when its value is
 * what vlmtune does anyway, with a warning otherwise), or refused when honouring it is impossible
 * and ignoring it would change the run.  The table is printed by `vlmtune train --help-keys`
 * and copied into docs/TRAIN.md (a test keeps the two equal). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/config_peers.h"
#include "util/error.h"

typedef enum {
    P_SAME,   /* the same setting, the same value */
    P_NOT,    /* a switch that means the opposite of `target` */
    P_QUIET,  /* understood; nothing to do */
    P_WARN,   /* understood; no effect here: a warning, unless the value is one of `ok` */
    P_FAIL,   /* understood; cannot be honoured: an error, unless the value is one of `ok` */
    P_FUNC,   /* translated by `fn` */
} peer_kind;

typedef struct peer_key {
    const char *key;    /* as the tools write it; "a.*" matches every key under a */
    const char *tools;
    peer_kind kind;
    const char *target; /* P_SAME, P_NOT: vlmtune's key */
    int (*fn)(vt_cfg_layer *L, const vt_cfg_entry *e);
    const char *ok;     /* P_WARN, P_FAIL: values that need no word ("a|b"), matched without case */
    const char *note;   /* the meaning here: the text of the warning or error, and of the docs */
    bool whole;         /* a mapping read as one value */
} peer_key;

/* ------------------------------------------------------------ helpers ---- */

static bool one_of(const char *list, const char *value) {
    if (!list || !value) return false;
    size_t n = strlen(value);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncasecmp(p, value, n)) return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

static int number(const vt_cfg_layer *L, const vt_cfg_entry *e, const char *text, double *v) {
    char *end;
    *v = strtod(text, &end);
    if (!*text || *end || !isfinite(*v)) return vt_cfg_fail(L, e, "expected a number, got '%s'", text);
    return 0;
}

static int boolean(const vt_cfg_layer *L, const vt_cfg_entry *e, bool *v) {
    if (one_of("true|yes|on|1", e->text)) return *v = true, 0;
    if (one_of("false|no|off|0", e->text)) return *v = false, 0;
    return vt_cfg_fail(L, e, "expected true or false, got '%s'", e->text);
}

/* Splits a list's text ("a,b,c") into at most `max` numbers. */
static int numbers(const vt_cfg_layer *L, const vt_cfg_entry *e, double *out, int max, int *n) {
    *n = 0;
    const char *p = e->text;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        if (*n == max || len >= sizeof item) return vt_cfg_fail(L, e, "too many values in '%s'", e->text);
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        TRY(number(L, e, item, &out[(*n)++]));
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

static int set_number(vt_cfg_layer *L, const char *target, double v, const vt_cfg_entry *e) {
    char text[40];
    vt_cfg_format_number(v, text, sizeof text);
    return vt_cfg_set(L, target, text, e, false);
}

/* ----------------------------------------------------------- handlers ---- */

/* mlx-lm: the LoRA update is scale · (x A) B.  vlmtune's is (alpha / rank) · (x A) B. */
static int lora_scale(vt_cfg_layer *L, const vt_cfg_entry *e) {
    double scale, rank;
    char buf[64];
    TRY(number(L, e, e->text, &scale));
    TRY(number(L, e, vt_cfg_value(L, "lora_parameters.rank", buf, sizeof buf), &rank));
    return set_number(L, "lora_parameters.alpha", scale * rank, e);
}

/* mlx-lm's build_schedule: arguments go to mlx.optimizers.<name>(*arguments); arguments[0] is
 * the peak rate, reached by the optional linear warm-up (warmup steps from warmup_init). */
static int lr_arguments(vt_cfg_layer *L, const vt_cfg_entry *e) {
    if (!vt_cfg_has(L, "lr_schedule.name"))
        return vt_cfg_fail(L, e, "needs lr_schedule.name in the same file (cosine_decay or linear_schedule)");
    char name[64];
    vt_cfg_value(L, "lr_schedule.name", name, sizeof name);
    double a[4];
    int n;
    TRY(numbers(L, e, a, 4, &n));
    if (!strcmp(name, "cosine_decay")) { /* cosine_decay(init, decay_steps, end = 0) */
        if (n < 2 || n > 3) return vt_cfg_fail(L, e, "cosine_decay takes [init, decay_steps] or [init, decay_steps, end]");
        if (a[1] < 1 || a[1] != floor(a[1])) return vt_cfg_fail(L, e, "decay_steps must be a positive integer");
        TRY(set_number(L, "learning_rate", a[0], e));
        TRY(set_number(L, "lr_schedule.decay_steps", a[1], e));
        TRY(set_number(L, "lr_schedule.min_lr", n == 3 ? a[2] : 0.0, e));
    } else if (!strcmp(name, "linear_schedule")) { /* linear_schedule(init, end, steps) */
        if (n != 3) return vt_cfg_fail(L, e, "linear_schedule takes [init, end, steps]");
        if (a[2] < 1 || a[2] != floor(a[2])) return vt_cfg_fail(L, e, "steps must be a positive integer");
        TRY(set_number(L, "learning_rate", a[0], e));
        TRY(set_number(L, "lr_schedule.min_lr", a[1], e));
        TRY(set_number(L, "lr_schedule.decay_steps", a[2], e));
    } else {
        return vt_cfg_fail(L, e, "arguments go with mlx-lm's schedule names (cosine_decay, linear_schedule), not '%s'", name);
    }
    /* the block describes the whole schedule: no warm-up unless it says so, from 0 */
    if (!vt_cfg_has(L, "lr_schedule.warmup") && !vt_cfg_has(L, "lr_schedule.warmup_ratio"))
        TRY(vt_cfg_set(L, "lr_schedule.warmup", "0", e, false));
    if (!vt_cfg_has(L, "lr_schedule.warmup_init")) TRY(vt_cfg_set(L, "lr_schedule.warmup_init", "0", e, false));
    return 0;
}

/* mlx-lm passes optimizer_config[optimizer] to mlx.optimizers.Adam/AdamW; the other sections are unused. */
static int optimizer_config(vt_cfg_layer *L, const vt_cfg_entry *e) {
    const char *sec = e->key + strlen("optimizer_config.");
    const char *dot = strchr(sec, '.');
    char name[32], used[32];
    snprintf(name, sizeof name, "%.*s", dot ? (int)(dot - sec) : (int)strlen(sec), sec);
    vt_cfg_value(L, "optimizer", used, sizeof used);
    if (strcmp(name, used)) {
        vt_cfg_warn(L, e, "ignored: the optimizer is %s, so only optimizer_config.%s is read (as in mlx-lm)", used, used);
        return 0;
    }
    if (!dot) return vt_cfg_fail(L, e, "expected a mapping of %s's arguments", name);
    const char *param = dot + 1;
    if (!strcmp(param, "betas")) {
        if (!e->list) return vt_cfg_fail(L, e, "expected a list of two numbers, e.g. [0.9, 0.999]");
        return vt_cfg_set(L, "optimizer_config.adamw.betas", e->text, e, false);
    }
    if (!strcmp(param, "eps")) return vt_cfg_set(L, "optimizer_config.adamw.eps", e->text, e, false);
    if (!strcmp(param, "bias_correction")) return vt_cfg_set(L, "optimizer_config.adamw.bias_correction", e->text, e, false);
    if (!strcmp(param, "weight_decay")) {
        if (!strcmp(name, "adam")) return vt_cfg_fail(L, e, "Adam takes no weight_decay (use optimizer: adamw)");
        return vt_cfg_set(L, "weight_decay", e->text, e, false);
    }
    return vt_cfg_fail(L, e, "not an argument of %s that vlmtune reads (betas, eps, bias_correction%s)", name,
                       strcmp(name, "adamw") ? "" : ", weight_decay");
}

static int optim_name(vt_cfg_layer *L, const vt_cfg_entry *e) {
    if (one_of("adamw_torch|adamw_torch_fused|adamw_hf", e->text)) return vt_cfg_set(L, "optimizer", "adamw", e, false);
    return vt_cfg_fail(L, e, "'%s' is not supported: vlmtune trains with AdamW (adamw_torch)", e->text);
}

/* LLaMA-Factory: "all" is every linear layer of the language model, vlmtune's default set. */
static int lora_target(vt_cfg_layer *L, const vt_cfg_entry *e) {
    return vt_cfg_set(L, "lora_parameters.keys", one_of("all", e->text) ? "" : e->text, e, false);
}

static int train_type(vt_cfg_layer *L, const vt_cfg_entry *e) {
    if (one_of("lora|dora", e->text)) return vt_cfg_set(L, "fine_tune_type", e->text, e, false);
    return vt_cfg_fail(L, e, "'%s' is not supported: vlmtune trains lora or dora adapters", e->text);
}

static int use_dora(vt_cfg_layer *L, const vt_cfg_entry *e) {
    bool v;
    TRY(boolean(L, e, &v));
    return v ? vt_cfg_set(L, "fine_tune_type", "dora", e, false) : 0;
}

/* mlx-vlm: adapter_file is the adapters' file; output_path a file or a folder. */
static int adapter_file(vt_cfg_layer *L, const vt_cfg_entry *e) {
    size_t n = strlen(e->text);
    const char *ext = ".safetensors";
    if (n < strlen(ext) || strcmp(e->text + n - strlen(ext), ext)) {
        if (!strcmp(e->key, "output_path")) return vt_cfg_set(L, "adapter_path", e->text, e, false);
        return vt_cfg_fail(L, e, "expected a path ending in .safetensors, got '%s'", e->text);
    }
    const char *slash = strrchr(e->text, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == e->text ? 1 : (int)(slash - e->text), e->text);
    vt_cfg_warn(L, e, "vlmtune writes a run directory: adapters go to %s/adapters.safetensors", dir);
    return vt_cfg_set(L, "adapter_path", dir, e, false);
}

/* Hugging Face: max_steps -1 (its default) means "from the epochs". */
static int max_steps(vt_cfg_layer *L, const vt_cfg_entry *e) {
    double v;
    TRY(number(L, e, e->text, &v));
    return vt_cfg_set(L, "iters", v <= 0 ? "0" : e->text, e, false);
}

/* Hugging Face: warmup_steps 0 (its default) means "not given: from warmup_ratio". */
static int warmup_steps(vt_cfg_layer *L, const vt_cfg_entry *e) {
    double v;
    TRY(number(L, e, e->text, &v));
    return v == 0 ? 0 : vt_cfg_set(L, "lr_schedule.warmup", e->text, e, false);
}

/* Hugging Face's scheduler names (transformers.get_scheduler). */
static int lr_scheduler_type(vt_cfg_layer *L, const vt_cfg_entry *e) {
    if (one_of("linear|cosine|constant_with_warmup", e->text))
        return vt_cfg_set(L, "lr_schedule.name", strcmp(e->text, "constant_with_warmup") ? e->text : "constant", e, false);
    if (one_of("constant", e->text)) { /* Hugging Face's "constant" never warms up */
        TRY(vt_cfg_set(L, "lr_schedule.name", "constant", e, false));
        return vt_cfg_set(L, "lr_schedule.warmup", "0", e, true);
    }
    return vt_cfg_fail(L, e, "'%s' is not supported (linear, cosine, constant, constant_with_warmup)", e->text);
}

static int packing(vt_cfg_layer *L, const vt_cfg_entry *e) {
    bool v;
    TRY(boolean(L, e, &v));
    if (v) vt_cfg_warn(L, e, "vlmtune packs with block-diagonal attention (what LLaMA-Factory calls neat_packing)");
    return vt_cfg_set(L, "pack", e->text, e, false);
}

/* -------------------------------------------------------------- table ---- */

#define SAME(k, tools, target) {k, tools, P_SAME, target, NULL, NULL, NULL, false}
#define NOT(k, tools, target) {k, tools, P_NOT, target, NULL, NULL, NULL, false}
#define FUNC(k, tools, fn, note) {k, tools, P_FUNC, NULL, fn, NULL, note, false}
#define QUIET(k, tools, note) {k, tools, P_QUIET, NULL, NULL, NULL, note, false}
#define WARN(k, tools, ok, note) {k, tools, P_WARN, NULL, NULL, ok, note, false}
#define FAIL(k, tools, ok, note) {k, tools, P_FAIL, NULL, NULL, ok, note, false}

static const char LM[] = "mlx-lm", VLM[] = "mlx-vlm", LF[] = "LLaMA-Factory", LM_VLM[] = "mlx-lm, mlx-vlm",
                  VLM_LF[] = "mlx-vlm, LLaMA-Factory", ALL[] = "mlx-lm, mlx-vlm, LLaMA-Factory";

static const peer_key peers[] = {
    /* mlx-lm (mlx_lm.lora) */
    FUNC("lora_parameters.scale", LM, lora_scale, "alpha = scale x rank (the rank of the same file, else the current one)"),
    FUNC("lr_schedule.arguments", LM, lr_arguments,
         "cosine_decay [init, decay_steps, end]: learning_rate, decay_steps, min_lr; linear_schedule [init, end, "
         "steps]: learning_rate, min_lr, decay_steps; no warm-up unless lr_schedule.warmup is given"),
    FUNC("optimizer_config.*", LM, optimizer_config,
         "the section of the optimizer used: betas, eps, bias_correction, weight_decay (adamw); "
         "the other sections are ignored with a warning, as mlx-lm ignores them"),
    FAIL("train", LM, "true", "vlmtune train always trains"),
    WARN("test", LM, "false",
         "not run after training: evaluate with vlmtune eval --adapter RUN --data DATA/test.jsonl"),
    QUIET("test_batches", LM, "only used with test"),
    WARN("mask_prompt", LM, "true",
         "the loss is always on the assistant turns only (every assistant turn, see docs/DATA.md); prompts are never trained"),
    WARN("report_to", ALL, "none", "no reporting service: metrics.jsonl and loss.svg are in the run directory"),
    WARN("wandb", LM_VLM, NULL, "no reporting service: metrics.jsonl and loss.svg are in the run directory"),
    WARN("project_name", LM, NULL, "no reporting service"),
    WARN("clear_cache_threshold", LM_VLM, "0", "ignored"),
    WARN("trust_remote_code", "mlx-lm, LLaMA-Factory", "false", "ignored: vlmtune runs no code from the model"),
    FAIL("hf_dataset", LM, NULL, "Hugging Face datasets are not read: give data: a JSONL file or a folder"),
    /* mlx-vlm (mlx_vlm.train, 0.7) */
    FAIL("task", VLM, "vlm", "only vlm"),
    FAIL("algorithm", VLM, "sft", "only supervised fine-tuning (sft)"),
    FAIL("train_mode", VLM, "sft", "only supervised fine-tuning (sft)"),
    SAME("lora_rank", VLM_LF, "lora_parameters.rank"),
    SAME("lora_alpha", VLM_LF, "lora_parameters.alpha"),
    SAME("lora_dropout", VLM_LF, "lora_parameters.dropout"),
    SAME("target_modules", VLM, "lora_parameters.keys"),
    FUNC("train_type", VLM, train_type, "fine_tune_type (lora, dora; full is an error)"),
    FAIL("full_finetune", VLM, "false", "vlmtune trains adapters only"),
    SAME("gradient_accumulation_steps", VLM_LF, "grad_accumulation_steps"),
    SAME("steps_per_save", VLM, "save_every"),
    FUNC("adapter_file", VLM, adapter_file, "adapter_path = its folder (a warning says so)"),
    FUNC("output_path", VLM, adapter_file, "adapter_path (a .safetensors file: its folder, with a warning)"),
    WARN("dataset", VLM_LF, NULL,
         "dataset names (a Hugging Face dataset, LLaMA-Factory's dataset_info.json) are not read: give data: or --data"),
    WARN("hf_dataset_config", VLM, NULL, "Hugging Face datasets are not read"),
    WARN("train_split", VLM, "train", "vlmtune reads DATA/train.jsonl"),
    WARN("validation_split", VLM, "validation|valid", "vlmtune reads DATA/valid.jsonl, or valid:"),
    {"dataset_config", VLM, P_WARN, NULL, NULL, NULL, "ignored: rows are read as docs/DATA.md describes", true},
    FAIL("quantization_bits", VLM, NULL,
         "quantize the model first (mlx_vlm.convert -q) and give that directory: a quantized base trains as QLoRA"),
    QUIET("quantization_group_size", VLM, "only used with quantization_bits"),
    FAIL("reference_model", VLM, NULL, "only supervised fine-tuning"),
    WARN("cache_size", VLM, NULL, "ignored"),
    WARN("pad_token_id", VLM, NULL, "ignored: the tokenizer's end-of-text token pads"),
    WARN("assistant_id", VLM, NULL, "ignored: the assistant turns are supervised (docs/DATA.md)"),
    WARN("train_on_completions", VLM, "true",
         "the loss is always on the assistant turns only (every assistant turn, see docs/DATA.md)"),
    /* LLaMA-Factory (llamafactory-cli train) and Hugging Face TrainingArguments */
    SAME("model_name_or_path", LF, "model"),
    SAME("output_dir", LF, "adapter_path"),
    SAME("per_device_train_batch_size", LF, "batch_size"),
    SAME("num_train_epochs", LF, "epochs"),
    FUNC("max_steps", LF, max_steps, "iters (-1 or 0: from the epochs)"),
    SAME("cutoff_len", LF, "max_seq_length"),
    SAME("warmup_ratio", LF, "lr_schedule.warmup_ratio"),
    FUNC("warmup_steps", LF, warmup_steps, "lr_schedule.warmup (0, Hugging Face's default, means not given: from warmup_ratio)"),
    FUNC("lr_scheduler_type", LF, lr_scheduler_type,
         "lr_schedule.name: linear, cosine, constant_with_warmup (constant); constant also sets warmup 0"),
    FUNC("lora_target", LF, lora_target, "lora_parameters.keys (all: every decoder projection, the default)"),
    FUNC("use_dora", LF, use_dora, "true: fine_tune_type dora"),
    FAIL("finetuning_type", LF, "lora", "only lora (use_dora for DoRA)"),
    FAIL("stage", LF, "sft", "only supervised fine-tuning (sft)"),
    FAIL("do_train", LF, "true", "vlmtune train always trains"),
    SAME("logging_steps", LF, "steps_per_report"),
    SAME("save_steps", LF, "save_every"),
    SAME("eval_steps", LF, "steps_per_eval"),
    SAME("save_total_limit", LF, "keep_last"),
    NOT("freeze_vision_tower", LF, "train_vision"),
    WARN("freeze_multi_modal_projector", LF, NULL, "ignored: train_vision adapts the mergers with the tower"),
    SAME("gradient_checkpointing", LF, "grad_checkpoint"),
    NOT("disable_gradient_checkpointing", LF, "grad_checkpoint"),
    FUNC("packing", LF, packing, "pack (attention stays block-diagonal, with a warning)"),
    SAME("neat_packing", LF, "pack"),
    FUNC("optim", LF, optim_name, "adamw_torch, adamw_torch_fused, adamw_hf: optimizer adamw; others are errors"),
    SAME("adam_epsilon", LF, "optimizer_config.adamw.eps"),
    FAIL("resume_from_checkpoint", LF, NULL, "resume a vlmtune run with --resume RUN"),
    WARN("template", LF, NULL, "ignored: the model's own chat template is used"),
    WARN("dataset_dir", LF, NULL, "dataset names are not read: give data:"),
    WARN("eval_dataset", LF, NULL, "dataset names are not read: give valid:"),
    WARN("val_size", LF, NULL, "no split is made: give valid: a JSONL file"),
    WARN("max_samples", LF, NULL, "ignored: every row of the data is used"),
    WARN("video_max_pixels", LF, NULL, "ignored: no video"),
    WARN("video_min_pixels", LF, NULL, "ignored: no video"),
    WARN("video_fps", LF, NULL, "ignored: no video"),
    WARN("video_maxlen", LF, NULL, "ignored: no video"),
    WARN("overwrite_cache", LF, "false", "ignored (cache_dir none turns the row cache off)"),
    WARN("preprocessing_num_workers", LF, NULL, "ignored"),
    WARN("dataloader_num_workers", LF, NULL, "ignored"),
    QUIET("plot_loss", LF, "loss.svg is always drawn"),
    WARN("overwrite_output_dir", LF, "false", "a run directory is never overwritten: resume it or choose another"),
    WARN("save_only_model", LF, "false", "checkpoints always hold the optimizer state"),
    WARN("bf16", LF, "false", "ignored: the base computes in its own dtype, the adapters in float32"),
    WARN("fp16", LF, "false", "ignored: the base computes in its own dtype, the adapters in float32"),
    WARN("pure_bf16", LF, "false", "ignored: the base computes in its own dtype, the adapters in float32"),
    WARN("ddp_timeout", LF, NULL, "ignored: one process"),
    WARN("deepspeed", LF, NULL, "ignored: one process"),
    WARN("flash_attn", LF, NULL, "ignored"),
    WARN("enable_thinking", LF, NULL, "ignored: the model's own chat template is used"),
    WARN("per_device_eval_batch_size", LF, NULL, "ignored: validation uses batch_size"),
    WARN("eval_strategy", LF, NULL, "ignored: validation runs every steps_per_eval steps when valid: is given"),
};
enum { N_PEERS = sizeof peers / sizeof *peers };

static const peer_key *lookup(const char *key) {
    for (size_t i = 0; i < N_PEERS; i++) {
        size_t n = strlen(peers[i].key);
        if (n > 2 && !strcmp(peers[i].key + n - 2, ".*")) {
            if (!strncmp(key, peers[i].key, n - 1)) return &peers[i];
        } else if (!strcmp(key, peers[i].key)) {
            return &peers[i];
        }
    }
    return NULL;
}

bool vt_cfg_peer_deferred(const char *key) {
    return !strcmp(key, "lora_parameters.scale") || !strcmp(key, "lr_schedule.arguments") ||
           !strncmp(key, "optimizer_config.", strlen("optimizer_config."));
}

bool vt_cfg_peer_whole(const char *key) {
    const peer_key *p = lookup(key);
    return p && p->whole;
}

int vt_cfg_peer_entry(vt_cfg_layer *L, const vt_cfg_entry *e, bool *known) {
    const peer_key *p = lookup(e->key);
    *known = p != NULL;
    if (!p || e->null) return 0; /* null: not given */
    if (!e->text && !p->whole) return vt_cfg_fail(L, e, "a single value was expected, not a mapping");
    switch (p->kind) {
    case P_SAME: return vt_cfg_set(L, p->target, e->text, e, false);
    case P_NOT: {
        bool v;
        TRY(boolean(L, e, &v));
        return vt_cfg_set(L, p->target, v ? "false" : "true", e, false);
    }
    case P_QUIET: return 0;
    case P_WARN:
        if (!one_of(p->ok, e->text)) vt_cfg_warn(L, e, "%s", p->note);
        return 0;
    case P_FAIL:
        if (one_of(p->ok, e->text)) return 0;
        return vt_cfg_fail(L, e, "'%s' is not supported: %s", e->text ? e->text : "...", p->note);
    case P_FUNC: return p->fn(L, e);
    }
    return 0;
}

void vt_cfg_peer_finish(const vt_cfg_layer *L, const vt_cfg_entry *entries, size_t n) {
    const vt_cfg_entry *rank = NULL;
    bool alpha = false;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(entries[i].key, "lora_rank") && !entries[i].null) rank = &entries[i];
        alpha |= !strcmp(entries[i].key, "lora_alpha") || !strcmp(entries[i].key, "lora_parameters.alpha") ||
                 !strcmp(entries[i].key, "lora_parameters.scale");
    }
    if (!rank || alpha) return;
    char r[64], a[64];
    vt_cfg_value(L, "lora_parameters.rank", r, sizeof r);
    vt_cfg_value(L, "lora_parameters.alpha", a, sizeof a);
    if (atof(a) == 2 * atof(r)) return;
    vt_cfg_warn(L, rank,
                "no lora_alpha: alpha stays %s (mlx-vlm's default), scale %g; LLaMA-Factory would use 2 x lora_rank = "
                "%g: give lora_alpha to choose",
                a, atof(a) / atof(r), 2 * atof(r));
}

/* ---------------------------------------------------------------- docs ---- */

void vt_cfg_peer_markdown(FILE *f) {
    fprintf(f, "| key | written by | read by vlmtune as |\n|---|---|---|\n");
    for (size_t i = 0; i < N_PEERS; i++) {
        const peer_key *p = &peers[i];
        char ok[96] = "";
        for (size_t j = 0, k = 0; p->ok && p->ok[k] && j + 3 < sizeof ok; k++) {
            if (p->ok[k] == '|') ok[j++] = ',', ok[j++] = ' ';
            else ok[j++] = p->ok[k];
            ok[j] = 0;
        }
        fprintf(f, "| `%s` | %s | ", p->key, p->tools);
        switch (p->kind) {
        case P_SAME: fprintf(f, "`%s`", p->target); break;
        case P_NOT: fprintf(f, "`%s` = the opposite", p->target); break;
        case P_QUIET: fprintf(f, "accepted, no effect: %s", p->note); break;
        case P_WARN:
            if (p->ok) fprintf(f, "accepted when %s; otherwise a warning: %s", ok, p->note);
            else fprintf(f, "a warning: %s", p->note);
            break;
        case P_FAIL:
            if (p->ok) fprintf(f, "accepted when %s; otherwise an error: %s", ok, p->note);
            else fprintf(f, "an error: %s", p->note);
            break;
        case P_FUNC: fprintf(f, "%s", p->note); break;
        }
        fprintf(f, " |\n");
    }
}

/* config.c — every training setting named once, read from YAML and flags. */
#include "train/config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "data/rows.h"
#include "train/config_peers.h"
#include "util/error.h"
#include "util/fs.h"

typedef enum { T_STR, T_INT, T_LONG, T_DOUBLE, T_BOOL, T_PAIR } field_type;

typedef struct {
    const char *yaml;    /* key in the YAML file (dots for nesting) */
    const char *flag;    /* command-line flag without the leading "--" */
    const char *value;   /* the value's name in --help ("DIR"); NULL for a switch */
    field_type type;
    size_t offset;
    const char *choices; /* T_STR: the allowed values, "a|b|c" (NULL: any text) */
    const char *help;
} field;

#define F(yaml, flag, value, type, member, help) {yaml, flag, value, type, offsetof(vt_train_config, member), NULL, help}
#define FC(yaml, flag, member, choices, help) {yaml, flag, "NAME", T_STR, offsetof(vt_train_config, member), choices, help}

/* The order is the order of --help and of the written config.yaml. */
static const field fields[] = {
    F("model", "model", "DIR", T_STR, model, "model directory (Hugging Face or mlx-vlm layout)"),
    F("data", "data", "PATH", T_STR, data,
      "training data: a JSONL file, or a folder with train.jsonl (and valid.jsonl) as mlx-lm lays it out"),
    F("valid", "valid", "FILE", T_STR, valid, "validation JSONL file"),
    F("adapter_path", "out", "RUN", T_STR, out, "run directory: adapters, checkpoints, metrics"),
    F("resume", "resume", "RUN", T_STR, resume,
      "run directory to resume from; the run continues in it (unless --out says otherwise)"),
    F("resume_adapter_file", "resume-adapter-file", "FILE", T_STR, resume_adapter_file,
      "start from these adapter weights (adapters.safetensors or its folder), with fresh optimizer state"),
    F("cache_dir", "cache-dir", "DIR", T_STR, cache_dir, "cache of encoded rows (default: next to the data; none: off)"),
    FC("fine_tune_type", "fine-tune-type", fine_tune_type, "lora|dora", "lora or dora"),
    F("lora_parameters.rank", "rank", "N", T_INT, rank, "LoRA rank r"),
    F("lora_parameters.alpha", "alpha", "X", T_DOUBLE, alpha,
      "LoRA alpha: scale = alpha / rank (mlx-lm's lora_parameters.scale S reads as alpha = S x rank)"),
    F("lora_parameters.dropout", "dropout", "X", T_DOUBLE, dropout, "dropout on the adapter input, in [0, 1)"),
    F("lora_parameters.keys", "keys", "LIST", T_STR, keys,
      "comma-separated layer names to adapt (empty: every decoder projection)"),
    F("num_layers", "num-layers", "N", T_INT, num_layers, "adapt the last N decoder layers (-1: all)"),
    F("train_vision", "train-vision", NULL, T_BOOL, train_vision, "also adapt the vision tower and mergers"),
    FC("optimizer", "optimizer", optimizer, "adamw|adam", "adamw, or adam (AdamW with weight decay 0)"),
    F("optimizer_config.adamw.betas", "adam-betas", "B1,B2", T_PAIR, adam_betas, "AdamW moment decay rates"),
    F("optimizer_config.adamw.eps", "adam-eps", "X", T_DOUBLE, adam_eps, "AdamW epsilon"),
    F("optimizer_config.adamw.bias_correction", "bias-correction", NULL, T_BOOL, bias_correction,
      "AdamW bias correction (MLX's optimizers default to off)"),
    F("weight_decay", "weight-decay", "X", T_DOUBLE, weight_decay, "AdamW decoupled weight decay"),
    F("max_grad_norm", "max-grad-norm", "X", T_DOUBLE, max_grad_norm, "clip gradients to this global norm (0: off)"),
    F("learning_rate", "learning-rate", "X", T_DOUBLE, learning_rate, "peak learning rate"),
    FC("lr_schedule.name", "lr-schedule", lr_schedule, "constant|linear|cosine|cosine_decay|linear_schedule",
       "constant, linear or cosine (Hugging Face's shapes), cosine_decay or linear_schedule (mlx-lm's)"),
    F("lr_schedule.warmup_ratio", "warmup-ratio", "X", T_DOUBLE, warmup_ratio,
      "share of the steps spent warming up (when warmup is -1)"),
    F("lr_schedule.warmup", "warmup-steps", "N", T_LONG, warmup_steps, "warm-up steps (-1: from the ratio)"),
    F("lr_schedule.warmup_init", "warmup-init", "X", T_DOUBLE, warmup_init, "learning rate at the first warm-up step"),
    F("lr_schedule.min_lr", "min-lr", "X", T_DOUBLE, min_lr, "learning rate at the end of the decay"),
    F("lr_schedule.decay_steps", "decay-steps", "N", T_LONG, decay_steps,
      "steps of the decay after warm-up (0: until the last step)"),
    F("batch_size", "batch-size", "N", T_INT, batch_size,
      "samples per micro-batch (per optimizer step when accumulation is 1)"),
    F("grad_accumulation_steps", "grad-accumulation-steps", "N", T_INT, grad_accumulation_steps,
      "micro-batches per optimizer step (1 to 64)"),
    F("iters", "iters", "N", T_LONG, iters, "optimizer steps (0: from epochs)"),
    F("epochs", "epochs", "X", T_DOUBLE, epochs, "passes over the training data (when iters is 0)"),
    F("max_seq_length", "max-seq-length", "N", T_INT, max_seq_length,
      "longest sample in tokens, image tokens included"),
    F("strict", "strict", NULL, T_BOOL, strict, "a row longer than max_seq_length is an error (default: skip it)"),
    F("pack", "pack", NULL, T_BOOL, pack, "pack samples into rows of max_seq_length (block-diagonal attention)"),
    F("length_bucketing", "length-bucketing", NULL, T_BOOL, length_bucketing, "batch samples of similar length"),
    F("grad_checkpoint", "grad-checkpoint", NULL, T_BOOL, grad_checkpoint, "recompute block activations in backward"),
    F("compile", "compile", NULL, T_BOOL, compile,
      "fuse each decoder layer's elementwise work (mx.compile; off with adapter dropout)"),
    F("dry_run", "dry-run", NULL, T_BOOL, dry_run,
      "check the settings, model, data and memory, print the plan and the memory estimate, and stop"),
    F("memory_check", "memory-check", NULL, T_BOOL, memory_check,
      "refuse to start when the estimated peak memory exceeds the device's (false: warn only)"),
    F("memory_limit_gb", "memory-limit-gb", "GB", T_DOUBLE, memory_limit_gb,
      "memory the run may use (0: the device's; a Mac's recommended working set)"),
    F("pad_to_multiple", "pad-to-multiple", "N", T_INT, pad_to_multiple,
      "pad batch lengths to a multiple of N (0: 128 on a GPU, where fused attention needs it; else 1)"),
    F("seed", "seed", "N", T_LONG, seed, "seed for initialisation, dropout and shuffling"),
    F("image_max_pixels", "image-max-pixels", "N", T_LONG, image_max_pixels,
      "resize images above this many pixels (0: the model's setting)"),
    F("image_min_pixels", "image-min-pixels", "N", T_LONG, image_min_pixels,
      "resize images below this many pixels (0: the model's setting)"),
    F("steps_per_report", "steps-per-report", "N", T_INT, steps_per_report, "optimizer steps between progress lines"),
    F("steps_per_eval", "steps-per-eval", "N", T_INT, steps_per_eval, "optimizer steps between validations (0: off)"),
    F("val_batches", "val-batches", "N", T_INT, val_batches, "validation batches per evaluation (-1: all)"),
    F("save_every", "save-every", "N", T_INT, save_every, "optimizer steps between checkpoints"),
    F("keep_last", "keep-last", "N", T_INT, keep_last, "checkpoints to keep"),
    F("max_bad_steps", "max-bad-steps", "N", T_INT, max_bad_steps, "stop after this many non-finite steps in a row"),
    F("distributed_timeout", "distributed-timeout", "S", T_DOUBLE, distributed_timeout,
      "data-parallel runs: seconds a rank waits for the others in a collective before the run stops with an error"),
    F("world_size", "world-size", "N", T_INT, world_size,
      "recorded in the run's config.yaml: the processes that trained it (the launcher sets it; a value given here "
      "is ignored)"),
};
enum { N_FIELDS = sizeof fields / sizeof *fields };

/* Flags that are not settings: read by vt_train_config_from_args or left to the CLI. */
static const char *const meta_flags[] = {"config", "print-config"};

/* ------------------------------------------------------------ defaults ---- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void vt_train_config_defaults(vt_train_config *c) {
    *c = (vt_train_config){
        .fine_tune_type = dup_or_null("lora"),
        .rank = 8,
        .alpha = 16.0,
        .dropout = 0.0,
        .num_layers = -1,
        .keys = dup_or_null(""),
        .optimizer = dup_or_null("adamw"),
        .adam_betas = {0.9, 0.999},
        .adam_eps = 1e-8,
        .bias_correction = true,
        .learning_rate = 1e-4,
        .lr_schedule = dup_or_null("cosine"),
        .warmup_ratio = 0.1,
        .warmup_steps = -1,
        .warmup_init = 0.0,
        .min_lr = 0.0,
        .decay_steps = 0,
        .weight_decay = 0.01,
        .max_grad_norm = 1.0,
        .batch_size = 1,
        .grad_accumulation_steps = 1,
        .iters = 0,
        .epochs = 1.0,
        .max_seq_length = VT_DEFAULT_MAX_SEQ_LENGTH,
        .seed = 0,
        .image_max_pixels = 0,
        .image_min_pixels = 0,
        .steps_per_report = 10,
        .steps_per_eval = 50,
        .val_batches = -1,
        .save_every = 100,
        .keep_last = 3,
        .distributed_timeout = 300,
        .world_size = 1,
        .max_bad_steps = 5,
        .compile = true,
        .memory_check = true,
    };
}

void vt_train_config_free(vt_train_config *c) {
    if (!c) return;
    for (size_t i = 0; i < N_FIELDS; i++)
        if (fields[i].type == T_STR) {
            char **p = (char **)((char *)c + fields[i].offset);
            free(*p);
            *p = NULL;
        }
}

static FILE *warn_stream;
static bool warn_stream_set;

void vt_train_config_set_warnings(FILE *f) {
    warn_stream = f;
    warn_stream_set = true;
}

static FILE *warnings(void) { return warn_stream_set ? warn_stream : stderr; }

/* ------------------------------------------------------- one setting ---- */

static const field *by_yaml(const char *key) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if (!strcmp(fields[i].yaml, key)) return &fields[i];
    return NULL;
}

static const field *by_flag(const char *flag) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if (!strcmp(fields[i].flag, flag)) return &fields[i];
    return NULL;
}

static int parse_bool(const char *s, bool *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) return *out = true, 0;
        if (!strcasecmp(s, no[i])) return *out = false, 0;
    }
    return vt_err("expected true or false, got '%s'", s);
}

static bool is_bool_word(const char *s) {
    static const char *words[] = {"true", "yes", "on", "false", "no", "off"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (!strcasecmp(s, words[i])) return true;
    return false;
}

static int parse_number(const char *text, double *v) {
    char *end = NULL;
    errno = 0;
    *v = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(*v)) return vt_err("expected a number, got '%s'", text);
    return 0;
}

static bool choice_ok(const char *choices, const char *s) {
    size_t n = strlen(s);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, s, n)) return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

static void choices_text(const char *choices, char *buf, size_t cap) {
    size_t j = 0;
    for (const char *p = choices; *p && j + 3 < cap; p++) {
        if (*p == '|') buf[j++] = ',', buf[j++] = ' ';
        else buf[j++] = *p;
    }
    buf[j] = 0;
}

/* Sets one field from its text form. */
static int set_field(vt_train_config *c, const field *f, const char *text) {
    void *p = (char *)c + f->offset;
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case T_STR: {
        if (f->choices && !choice_ok(f->choices, text)) {
            char allowed[160];
            choices_text(f->choices, allowed, sizeof allowed);
            return vt_err("'%s' is not one of: %s", text, allowed);
        }
        char *copy = strdup(text);
        if (!copy) return vt_err("out of memory");
        free(*(char **)p);
        *(char **)p = copy;
        return 0;
    }
    case T_INT:
    case T_LONG: {
        long v = strtol(text, &end, 10);
        if (!*text || *end || errno || (f->type == T_INT && (v < -2147483647L || v > 2147483647L)))
            return vt_err("expected an integer, got '%s'", text);
        if (f->type == T_INT) *(int *)p = (int)v;
        else *(long *)p = v;
        return 0;
    }
    case T_DOUBLE: return parse_number(text, (double *)p);
    case T_BOOL: return parse_bool(text, (bool *)p);
    case T_PAIR: {
        const char *comma = strchr(text, ',');
        char first[64];
        if (!comma || (size_t)(comma - text) >= sizeof first || strchr(comma + 1, ','))
            return vt_err("expected two numbers, e.g. 0.9,0.999, got '%s'", text);
        snprintf(first, sizeof first, "%.*s", (int)(comma - text), text);
        double a, b;
        const char *second = comma + 1;
        while (*second == ' ') second++;
        if (parse_number(first, &a) || parse_number(second, &b))
            return vt_err("expected two numbers, e.g. 0.9,0.999, got '%s'", text);
        ((double *)p)[0] = a, ((double *)p)[1] = b;
        return 0;
    }
    }
    return vt_err("internal: unknown field type");
}

/* %.15g, %.16g or %.17g: the first that reads back as the same double. */
void vt_cfg_format_number(double v, char *buf, size_t cap) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, cap, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* The value's canonical text: what set_field reads back to the same value. */
static void format_value(const vt_train_config *c, const field *f, char *buf, size_t cap) {
    const void *p = (const char *)c + f->offset;
    switch (f->type) {
    case T_STR: snprintf(buf, cap, "%s", *(char *const *)p ? *(char *const *)p : ""); break;
    case T_INT: snprintf(buf, cap, "%d", *(const int *)p); break;
    case T_LONG: snprintf(buf, cap, "%ld", *(const long *)p); break;
    case T_DOUBLE: vt_cfg_format_number(*(const double *)p, buf, cap); break;
    case T_BOOL: snprintf(buf, cap, "%s", *(const bool *)p ? "true" : "false"); break;
    case T_PAIR: {
        char a[32], b[32];
        vt_cfg_format_number(((const double *)p)[0], a, sizeof a);
        vt_cfg_format_number(((const double *)p)[1], b, sizeof b);
        snprintf(buf, cap, "%s,%s", a, b);
        break;
    }
    }
}

/* `text` as the field's canonical text, or an error saying what the field takes. */
static int canonical(const field *f, const char *text, char **out) {
    vt_train_config scratch = {0};
    if (set_field(&scratch, f, text)) return -1;
    char buf[4096];
    format_value(&scratch, f, buf, sizeof buf);
    if (f->type == T_STR) free(*(char **)((char *)&scratch + f->offset));
    *out = strdup(buf);
    return *out ? 0 : vt_err("out of memory");
}

/* --------------------------------------------------------------- layers ---- */

static void layer_free(vt_cfg_layer *L) {
    for (size_t i = 0; i < L->n; i++) free(L->ops[i].value);
    free(L->ops);
    L->ops = NULL;
    L->n = L->cap = 0;
}

static void where(const vt_cfg_layer *L, const vt_cfg_entry *e, char *buf, size_t cap) {
    if (L->path) snprintf(buf, cap, "%s:%zu: %s", L->path, e->line, e->key);
    else snprintf(buf, cap, "option %s", e->key);
}

int vt_cfg_fail(const vt_cfg_layer *L, const vt_cfg_entry *e, const char *fmt, ...) {
    char msg[1024], at[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    where(L, e, at, sizeof at);
    return vt_err("%s: %s", at, msg);
}

void vt_cfg_warn(const vt_cfg_layer *L, const vt_cfg_entry *e, const char *fmt, ...) {
    FILE *f = warnings();
    if (!f) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->path) fprintf(f, "%s:%zu: warning: %s: %s\n", L->path, e->line, e->key, msg);
    else fprintf(f, "warning: option %s: %s\n", e->key, msg);
}

static int add_op(vt_cfg_layer *L, const field *f, char *value, const char *key, size_t line, bool implied) {
    if (L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 16;
        vt_cfg_op *ops = realloc(L->ops, cap * sizeof *ops);
        if (!ops) return free(value), vt_err("out of memory");
        L->ops = ops, L->cap = cap;
    }
    vt_cfg_op *op = &L->ops[L->n++];
    *op = (vt_cfg_op){.setting = f, .value = value, .line = line, .implied = implied};
    snprintf(op->key, sizeof op->key, "%s", key);
    return 0;
}

int vt_cfg_set(vt_cfg_layer *L, const char *target, const char *text, const vt_cfg_entry *e, bool implied) {
    const field *f = by_yaml(target);
    if (!f) return vt_err("internal: no setting '%s'", target);
    char *value;
    if (canonical(f, text, &value)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", vt_errmsg());
        return vt_cfg_fail(L, e, "%s", msg);
    }
    TRY(add_op(L, f, value, e->key, e->line, implied));
    /* Adam is AdamW without weight decay: the optimizer's name says the decay too. */
    if (!strcmp(f->yaml, "optimizer") && !strcmp(value, "adam")) {
        char key[200];
        snprintf(key, sizeof key, "%s%s adam", e->key, L->path ? ":" : "");
        char *zero = strdup("0");
        if (!zero) return vt_err("out of memory");
        TRY(add_op(L, by_yaml("weight_decay"), zero, key, e->line, true));
    }
    return 0;
}

const char *vt_cfg_value(const vt_cfg_layer *L, const char *target, char *buf, size_t cap) {
    const field *f = by_yaml(target);
    for (size_t i = L->n; i-- > 0;)
        if (L->ops[i].setting == f) {
            snprintf(buf, cap, "%s", L->ops[i].value);
            return buf;
        }
    format_value(L->base, f, buf, cap);
    return buf;
}

bool vt_cfg_has(const vt_cfg_layer *L, const char *target) {
    const field *f = by_yaml(target);
    for (size_t i = 0; i < L->n; i++)
        if (L->ops[i].setting == f) return true;
    return false;
}

/* Two keys of one file that set one setting to different values: an error naming both lines. */
static int check_agreement(const vt_cfg_layer *L) {
    for (size_t i = 0; i < L->n; i++)
        for (size_t j = i + 1; j < L->n; j++) {
            const vt_cfg_op *a = &L->ops[i], *b = &L->ops[j];
            if (a->setting != b->setting || !strcmp(a->value, b->value)) continue;
            if (a->line > b->line) {
                const vt_cfg_op *t = a;
                a = b, b = t;
            }
            return vt_err("%s:%zu: '%s' (%s) and %s:%zu: '%s' (%s) both set %s: keep one", L->path, a->line, a->key,
                          a->value, L->path, b->line, b->key, b->value, ((const field *)a->setting)->yaml);
        }
    return 0;
}

/* Applies the layer.  Among flags an explicit flag wins over one implied by another flag, and the
 * last of repeated flags wins. */
static int apply_layer(vt_train_config *c, const vt_cfg_layer *L) {
    for (size_t i = 0; i < L->n; i++) {
        const vt_cfg_op *op = &L->ops[i];
        if (op->implied && !L->path) {
            bool explicit = false;
            for (size_t j = 0; j < L->n; j++) explicit |= L->ops[j].setting == op->setting && !L->ops[j].implied;
            if (explicit) continue;
        }
        if (set_field(c, op->setting, op->value)) return vt_err_context("%s", op->key);
    }
    return 0;
}

/* ---------------------------------------------------------------- YAML ---- */

typedef struct {
    vt_cfg_entry *items;
    size_t n, cap;
} entry_list;

static void entries_free(entry_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i].text);
    free(l->items);
}

static vt_cfg_entry *entry_add(entry_list *l, const char *key, size_t line) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        vt_cfg_entry *items = realloc(l->items, cap * sizeof *items);
        if (!items) return NULL;
        l->items = items, l->cap = cap;
    }
    vt_cfg_entry *e = &l->items[l->n++];
    *e = (vt_cfg_entry){.line = line};
    snprintf(e->key, sizeof e->key, "%s", key);
    return e;
}

static bool is_null(const yaml_node_t *v) {
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = (const char *)v->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Flattens a mapping into "a.b.c" entries; sequences of scalars become comma-separated text. */
static int flatten(yaml_document_t *doc, yaml_node_t *map, const char *prefix, const char *path, entry_list *out) {
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(doc, pair->key), *v = yaml_document_get_node(doc, pair->value);
        size_t line = k->start_mark.line + 1;
        if (k->type != YAML_SCALAR_NODE) return vt_err("%s:%zu: keys must be plain names", path, line);
        char key[160];
        if ((size_t)snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", (const char *)k->data.scalar.value) >=
            sizeof key)
            return vt_err("%s:%zu: key too long", path, line);
        if (v->type == YAML_MAPPING_NODE && !vt_cfg_peer_whole(key)) {
            TRY(flatten(doc, v, key, path, out));
            continue;
        }
        vt_cfg_entry *e = entry_add(out, key, line);
        if (!e) return vt_err("out of memory");
        if (v->type == YAML_MAPPING_NODE) continue; /* read as a whole: text stays NULL */
        if (v->type == YAML_SCALAR_NODE) {
            e->null = is_null(v);
            if (!(e->text = strdup((const char *)v->data.scalar.value))) return vt_err("out of memory");
            continue;
        }
        size_t cap = 64, n = 0;
        if (!(e->text = calloc(cap, 1))) return vt_err("out of memory");
        e->list = true;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            if (item->type != YAML_SCALAR_NODE) return vt_err("%s:%zu: %s: a list of plain values was expected", path, line, key);
            const char *s = (const char *)item->data.scalar.value;
            size_t need = n + strlen(s) + 2;
            if (need > cap) {
                while (cap < need) cap *= 2;
                char *t = realloc(e->text, cap);
                if (!t) return vt_err("out of memory");
                e->text = t;
            }
            n += (size_t)sprintf(e->text + n, "%s%s", n ? "," : "", s);
        }
    }
    return 0;
}

/* One entry through the settings table, or the peers' table. */
static int resolve_entry(vt_cfg_layer *L, const vt_cfg_entry *e) {
    const field *f = vt_cfg_peer_deferred(e->key) ? NULL : by_yaml(e->key);
    if (!f && !strcmp(e->key, "lr_schedule") && e->text) f = by_yaml("lr_schedule.name"); /* "lr_schedule: cosine" */
    if (f) {
        if (e->null) return 0; /* null: the setting keeps its value, as the peers read a null */
        if (!e->text) return vt_cfg_fail(L, e, "a single value was expected, not a mapping");
        if (e->list && f->type != T_STR && f->type != T_PAIR) return vt_cfg_fail(L, e, "a single value was expected, not a list");
        return vt_cfg_set(L, f->yaml, e->text, e, false);
    }
    bool known = false;
    TRY(vt_cfg_peer_entry(L, e, &known));
    if (!known)
        return vt_cfg_fail(L, e, "unknown setting (vlmtune train --help lists the settings, --help-keys the other "
                                 "tools' names it reads)");
    return 0;
}

static int read_yaml_layer(vt_cfg_layer *L, const char *path, entry_list *entries) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return vt_err("%s: cannot open the configuration file", path);
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    int rc = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = vt_err("%s:%zu: %s", path, parser.problem_mark.line + 1, parser.problem ? parser.problem : "bad YAML");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root && root->type != YAML_MAPPING_NODE) rc = vt_err("%s: the top level must be a mapping of settings", path);
        else if (root) rc = flatten(&doc, root, "", path, entries);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(fp);
    /* keys that depend on others of the file are read after them */
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (size_t i = 0; i < entries->n && rc == 0; i++)
            if (vt_cfg_peer_deferred(entries->items[i].key) == (pass == 1)) rc = resolve_entry(L, &entries->items[i]);
    if (rc == 0) rc = check_agreement(L);
    if (rc == 0) vt_cfg_peer_finish(L, entries->items, entries->n);
    return rc;
}

int vt_train_config_load_yaml(vt_train_config *c, const char *path) {
    vt_cfg_layer L = {.path = path, .base = c};
    entry_list entries = {0};
    int rc = read_yaml_layer(&L, path, &entries);
    if (rc == 0) rc = apply_layer(c, &L);
    entries_free(&entries);
    layer_free(&L);
    return rc;
}

/* --------------------------------------------------------------- flags ---- */

static bool is_meta_flag(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof meta_flags / sizeof *meta_flags; i++)
        if (strlen(meta_flags[i]) == len && !strncmp(meta_flags[i], name, len)) return true;
    return false;
}

/* The value of "--name V" or "--name=V" (the last one given), or NULL. */
static const char *flag_value(int argc, char **argv, const char *name) {
    const char *found = NULL;
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) || strncmp(argv[i] + 2, name, n)) continue;
        if (argv[i][2 + n] == '=') found = argv[i] + 3 + n;
        else if (!argv[i][2 + n] && i + 1 < argc) found = argv[++i];
    }
    return found;
}

static bool flag_given(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, name, n) && (!argv[i][2 + n] || argv[i][2 + n] == '='))
            return true;
    return false;
}

static int read_flag_layer(vt_cfg_layer *L, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) return vt_err("unexpected argument '%s' (see --help)", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (is_meta_flag(name, len)) {
            if (!eq && !strncmp(name, "config", len)) { /* its file was read before the flags */
                if (i + 1 >= argc) return vt_err("--config needs a file");
                i++;
            }
            continue;
        }
        char flag[128];
        snprintf(flag, sizeof flag, "%.*s", (int)len, name);
        const field *f = by_flag(flag);
        if (!f) return vt_err("unknown option '--%s' (see --help)", flag);
        const char *value;
        if (eq) value = eq + 1;
        else if (f->type == T_BOOL) value = i + 1 < argc && is_bool_word(argv[i + 1]) ? argv[++i] : "true";
        else if (i + 1 < argc) value = argv[++i];
        else return vt_err("option '--%s' needs a value (%s)", flag, f->value);
        vt_cfg_entry e = {.line = 0};
        snprintf(e.key, sizeof e.key, "--%s", flag);
        TRY(vt_cfg_set(L, f->yaml, value, &e, false));
    }
    return 0;
}

static int apply_flags(vt_train_config *c, int argc, char **argv) {
    vt_cfg_layer L = {.path = NULL, .base = c};
    int rc = read_flag_layer(&L, argc, argv);
    if (rc == 0) rc = apply_layer(c, &L);
    layer_free(&L);
    return rc;
}

int vt_train_config_parse_args(vt_train_config *c, int argc, char **argv) {
    if (flag_given(argc, argv, "config")) {
        const char *file = flag_value(argc, argv, "config");
        if (!file || !*file) return vt_err("--config needs a file");
        TRY(vt_train_config_load_yaml(c, file));
    }
    return apply_flags(c, argc, argv);
}

int vt_train_config_from_args(vt_train_config *c, const char *config_yaml, int argc, char **argv) {
    const char *resume = flag_value(argc, argv, "resume"), *file = flag_value(argc, argv, "config");
    if (flag_given(argc, argv, "config") && (!file || !*file)) return vt_err("--config needs a file");
    if (resume && !config_yaml && !file) { /* the run's own settings are the base: only the flags given change */
        char path[4200];
        TRY(vt_path_join(path, sizeof path, resume, "config.yaml"));
        if (!vt_path_exists(path)) return vt_err("--resume %s: config.yaml is missing (is it a run directory?)", resume);
        TRY(vt_train_config_load_yaml(c, path));
    }
    if (config_yaml) TRY(vt_train_config_load_yaml(c, config_yaml));
    if (file) TRY(vt_train_config_load_yaml(c, file));
    TRY(apply_flags(c, argc, argv));
    /* A resumed run goes on where it is now, not where a copied or moved config.yaml says it was. */
    if (c->resume && !flag_given(argc, argv, "out")) {
        char *out = strdup(c->resume);
        if (!out) return vt_err("out of memory");
        free(c->out);
        c->out = out;
    }
    return 0;
}

/* ---------------------------------------------------------- validation ---- */

int vt_train_config_validate(const vt_train_config *c) {
    if (!c->model || !*c->model) return vt_err("no model: give --model DIR");
    if (!c->data || !*c->data) return vt_err("no training data: give --data FILE (or a folder with train.jsonl)");
    if (!c->out || !*c->out) return vt_err("no run directory: give --out DIR");
    if (c->valid && !*c->valid) return vt_err("valid: empty path");
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (fields[i].type != T_STR || !fields[i].choices) continue;
        const char *s = *(char *const *)((const char *)c + fields[i].offset);
        if (!s || !choice_ok(fields[i].choices, s)) {
            char allowed[160];
            choices_text(fields[i].choices, allowed, sizeof allowed);
            return vt_err("%s must be one of: %s (got '%s')", fields[i].yaml, allowed, s ? s : "");
        }
    }
    if (c->rank < 1) return vt_err("rank must be at least 1 (got %d)", c->rank);
    if (!(c->alpha > 0)) return vt_err("alpha must be positive (got %g)", c->alpha);
    if (c->dropout < 0 || c->dropout >= 1) return vt_err("dropout must be in [0, 1) (got %g)", c->dropout);
    if (c->num_layers == 0 || c->num_layers < -1)
        return vt_err("num_layers must be -1 (all layers) or a positive count (got %d)", c->num_layers);
    if (!(c->learning_rate > 0)) return vt_err("learning_rate must be positive (got %g)", c->learning_rate);
    for (int i = 0; i < 2; i++)
        if (!(c->adam_betas[i] >= 0 && c->adam_betas[i] < 1))
            return vt_err("adam betas must be in [0, 1) (got %g, %g)", c->adam_betas[0], c->adam_betas[1]);
    if (!(c->adam_eps > 0)) return vt_err("adam eps must be positive (got %g)", c->adam_eps);
    if (c->weight_decay < 0) return vt_err("weight_decay must be 0 or more (got %g)", c->weight_decay);
    if (!strcmp(c->optimizer, "adam") && c->weight_decay != 0)
        return vt_err("optimizer adam has no weight decay (weight_decay is %g): use optimizer adamw, or weight_decay 0",
                      c->weight_decay);
    if (c->max_grad_norm < 0) return vt_err("max_grad_norm must be 0 (off) or positive (got %g)", c->max_grad_norm);
    if (c->warmup_ratio < 0 || c->warmup_ratio >= 1) return vt_err("warmup_ratio must be in [0, 1) (got %g)", c->warmup_ratio);
    if (c->warmup_steps < -1) return vt_err("warmup steps must be -1 (from the ratio) or 0 or more (got %ld)", c->warmup_steps);
    if (c->warmup_init < 0) return vt_err("warmup_init must be 0 or more (got %g)", c->warmup_init);
    if (c->min_lr < 0) return vt_err("min_lr must be 0 or more (got %g)", c->min_lr);
    if (c->decay_steps < 0) return vt_err("decay_steps must be 0 (until the last step) or more (got %ld)", c->decay_steps);
    if (c->batch_size < 1) return vt_err("batch_size must be at least 1 (got %d)", c->batch_size);
    if (c->grad_accumulation_steps < 1 || c->grad_accumulation_steps > 64)
        return vt_err("grad_accumulation_steps must be 1 to 64 (got %d)", c->grad_accumulation_steps);
    if (c->iters < 0) return vt_err("iters must be 0 (from epochs) or a positive number of steps (got %ld)", c->iters);
    if (c->epochs < 0) return vt_err("epochs must be 0 or more (got %g)", c->epochs);
    if (c->iters == 0 && c->epochs == 0) return vt_err("give iters or epochs (both are 0)");
    if (c->max_seq_length < 16) return vt_err("max_seq_length must be at least 16 (got %d)", c->max_seq_length);
    if (c->image_min_pixels < 0 || c->image_max_pixels < 0 ||
        (c->image_min_pixels && c->image_max_pixels && c->image_max_pixels < c->image_min_pixels))
        return vt_err("image pixels: need 0 <= image_min_pixels <= image_max_pixels (0: the model's processor setting)");
    if (!(c->memory_limit_gb >= 0)) return vt_err("memory_limit_gb must be 0 (the device's) or more (got %g)", c->memory_limit_gb);
    if (c->steps_per_report < 1) return vt_err("steps_per_report must be at least 1 (got %d)", c->steps_per_report);
    if (c->steps_per_eval < 0) return vt_err("steps_per_eval must be 0 (off) or more (got %d)", c->steps_per_eval);
    if (c->val_batches < -1 || c->val_batches == 0)
        return vt_err("val_batches must be -1 (all) or a positive count (got %d)", c->val_batches);
    if (c->save_every < 1) return vt_err("save_every must be at least 1 (got %d)", c->save_every);
    if (c->keep_last < 1) return vt_err("keep_last must be at least 1 (got %d)", c->keep_last);
    if (c->max_bad_steps < 1) return vt_err("max_bad_steps must be at least 1 (got %d)", c->max_bad_steps);
    if (!(c->distributed_timeout >= 1))
        return vt_err("distributed_timeout must be at least 1 second (got %g)", c->distributed_timeout);
    if (c->pad_to_multiple < 0 || c->pad_to_multiple > 4096)
        return vt_err("pad_to_multiple must be in [0, 4096] (0: automatic; got %d)", c->pad_to_multiple);
    return 0;
}

int vt_train_config_check_model(const vt_train_config *c, int n_decoder_layers) {
    if (c->num_layers > n_decoder_layers)
        return vt_err("num_layers %d: the model has %d decoder layers (-1 adapts all of them)", c->num_layers,
                      n_decoder_layers);
    return 0;
}

vt_adamw_config vt_train_config_adamw(const vt_train_config *c) {
    return (vt_adamw_config){.beta1 = c->adam_betas[0], .beta2 = c->adam_betas[1], .eps = c->adam_eps,
                             .weight_decay = strcmp(c->optimizer, "adam") ? c->weight_decay : 0.0,
                             .bias_correction = c->bias_correction};
}

int vt_train_config_schedule(const vt_train_config *c, long total, vt_schedule *out) {
    vt_sched_kind kind;
    TRY(vt_schedule_kind_parse(c->lr_schedule, &kind));
    long warmup = c->warmup_steps >= 0 ? c->warmup_steps : (long)ceil(c->warmup_ratio * (double)total);
    /* mlx-lm joins its warm-up and its schedule at warmup + 1: the peak is held one more step */
    bool mlx = !strcmp(c->lr_schedule, "cosine_decay") || !strcmp(c->lr_schedule, "linear_schedule");
    *out = (vt_schedule){.kind = kind, .lr = c->learning_rate, .min_lr = c->min_lr, .warmup = warmup,
                         .warmup_init = c->warmup_init, .total = total, .decay_steps = c->decay_steps,
                         .hold = mlx && warmup > 0 ? 1 : 0};
    return 0;
}

/* ------------------------------------------------------------- output ---- */

/* Double-quoted YAML scalar. */
static void write_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch < 0x20 || ch == 0x7f) fprintf(f, "\\x%02x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

/* A float as YAML 1.1 readers (PyYAML) take it: with a point before any exponent ("1.0e-05", "16.0"). */
static void write_float(FILE *f, double v) {
    char buf[40];
    vt_cfg_format_number(v, buf, sizeof buf);
    char *e = strchr(buf, 'e');
    if (strchr(buf, '.')) fputs(buf, f);
    else if (e) fprintf(f, "%.*s.0%s", (int)(e - buf), buf, e);
    else fprintf(f, "%s.0", buf);
}

static void write_value(FILE *f, const vt_train_config *c, const field *fd) {
    const void *p = (const char *)c + fd->offset;
    char buf[4096];
    switch (fd->type) {
    case T_STR: write_quoted(f, *(char *const *)p); break;
    case T_DOUBLE: write_float(f, *(const double *)p); break;
    case T_PAIR:
        fputc('[', f);
        write_float(f, ((const double *)p)[0]);
        fputs(", ", f);
        write_float(f, ((const double *)p)[1]);
        fputc(']', f);
        break;
    default: format_value(c, fd, buf, sizeof buf), fputs(buf, f); break;
    }
}

/* The key a field is written under: the optimizer's settings go in the section of the optimizer
 * used, as mlx-lm reads them (optimizer_config.adam.* for adam). */
static void written_key(const vt_train_config *c, const field *fd, char *buf, size_t cap) {
    const char *sec = "optimizer_config.adamw.";
    if (!strncmp(fd->yaml, sec, strlen(sec)) && c->optimizer && !strcmp(c->optimizer, "adam"))
        snprintf(buf, cap, "optimizer_config.adam.%s", fd->yaml + strlen(sec));
    else snprintf(buf, cap, "%s", fd->yaml);
}

static bool written(const vt_train_config *c, const field *fd) {
    /* unset paths stay unset, and a saved configuration never resumes by itself */
    if (fd->type != T_STR) return true;
    return *(char *const *)((const char *)c + fd->offset) && strcmp(fd->yaml, "resume");
}

/* Writes the fields under `prefix` ("" or "a.b."), each section once, where its first field is. */
static void write_section(const vt_train_config *c, FILE *f, const char *prefix, int indent) {
    size_t plen = strlen(prefix), n_done = 0;
    char done[N_FIELDS][64];
    for (size_t i = 0; i < N_FIELDS; i++) {
        char key[200];
        written_key(c, &fields[i], key, sizeof key);
        if (!written(c, &fields[i]) || strncmp(key, prefix, plen)) continue;
        const char *rest = key + plen, *dot = strchr(rest, '.');
        if (!dot) {
            fprintf(f, "%*s%s: ", indent, "", rest);
            write_value(f, c, &fields[i]);
            fputc('\n', f);
            continue;
        }
        char section[64];
        snprintf(section, sizeof section, "%.*s", (int)(dot - rest), rest);
        bool seen = false;
        for (size_t j = 0; j < n_done; j++) seen |= !strcmp(done[j], section);
        if (seen) continue;
        snprintf(done[n_done++], sizeof done[0], "%s", section);
        char sub[200];
        snprintf(sub, sizeof sub, "%s%s.", prefix, section);
        fprintf(f, "%*s%s:\n", indent, "", section);
        write_section(c, f, sub, indent + 2);
    }
}

int vt_train_config_write_yaml(const vt_train_config *c, FILE *f) {
    write_section(c, f, "", 0);
    return ferror(f) ? vt_err("writing the configuration failed") : 0;
}

int vt_train_config_save(const vt_train_config *c, const char *path) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return vt_err("out of memory");
    int rc = vt_train_config_write_yaml(c, f);
    if (fclose(f) != 0 && rc == 0) rc = vt_err("out of memory");
    if (rc == 0) rc = vt_write_file_atomic(path, text, len);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- help ---- */

enum { HELP_LEFT = 30, HELP_WIDTH = 80 };

/* Writes `text` word-wrapped into the right-hand column, from column `col`; returns the column reached. */
static int wrap(FILE *f, const char *text, int col) {
    for (const char *p = text; *p;) {
        size_t word = strcspn(p, " ");
        if (col > HELP_LEFT && col + 1 + (int)word > HELP_WIDTH) col = fprintf(f, "\n%*s", HELP_LEFT, "") - 1;
        else if (col > HELP_LEFT) col += fprintf(f, " ");
        col += fprintf(f, "%.*s", (int)word, p);
        p += word;
        while (*p == ' ') p++;
    }
    return col;
}

/* One option: its flag and value on the left, the help wrapped on the right, then the YAML key and
 * default, kept whole on one line. */
static void help_entry(FILE *f, const char *left, const char *help, const char *tag) {
    int col = fprintf(f, "  %s", left);
    if (col < HELP_LEFT) col += fprintf(f, "%*s", HELP_LEFT - col, "");
    else col = fprintf(f, "\n%*s", HELP_LEFT, "") - 1;
    col = wrap(f, help, col);
    if (tag && col + 1 + (int)strlen(tag) > HELP_WIDTH) {
        fprintf(f, "\n%*s", HELP_LEFT, "");
        wrap(f, tag, HELP_LEFT); /* a tag longer than the column breaks after its key */
    } else if (tag) {
        fprintf(f, " %s", tag);
    }
    fputc('\n', f);
}

void vt_train_config_print_help(FILE *f) {
    fprintf(f, "usage: vlmtune train --model DIR --data PATH --out RUN [--config FILE] [options]\n"
               "       vlmtune train --resume RUN [options]\n\n"
               "Settings: defaults < RUN/config.yaml (with --resume) < --config FILE < flags.\n"
               "Flags take --flag VALUE or --flag=VALUE; a switch alone means true (--pack=false\n"
               "turns one off).  Each option shows [its YAML key; its default].\n\n");
    help_entry(f, "--config FILE",
               "settings as YAML; mlx-lm's, mlx-vlm's and LLaMA-Factory's key names are read too "
               "(--help-keys lists them)", NULL);
    help_entry(f, "--print-config", "print the resolved settings as YAML and stop", NULL);
    help_entry(f, "--help-keys", "the other tools' keys that --config reads, and their meaning here", NULL);
    vt_train_config d;
    vt_train_config_defaults(&d);
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field *fd = &fields[i];
        char left[96], value[128], tag[256];
        snprintf(left, sizeof left, "--%s%s%s", fd->flag, fd->value ? " " : "", fd->value ? fd->value : "");
        format_value(&d, fd, value, sizeof value);
        bool unset = fd->type == T_STR && !*(char *const *)((const char *)&d + fd->offset);
        if (unset) snprintf(tag, sizeof tag, "[%s]", fd->yaml);
        else snprintf(tag, sizeof tag, "[%s; default %s]", fd->yaml, *value ? value : "\"\"");
        help_entry(f, left, fd->help, tag);
    }
    vt_train_config_free(&d);
}

void vt_train_config_print_peer_keys(FILE *f) { vt_cfg_peer_markdown(f); }

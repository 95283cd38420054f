/* config.c — every training setting named once, read from YAML and flags. */
#include "train/config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "data/rows.h"
#include "util/error.h"
#include "util/fs.h"

typedef enum { T_STR, T_INT, T_LONG, T_DOUBLE, T_BOOL } field_type;

typedef struct {
    const char *yaml;   /* key in the YAML file (dots for nesting) */
    const char *flag;   /* command-line flag without the leading "--" */
    field_type type;
    size_t offset;
    const char *help;
} field;

#define F(yaml, flag, type, member, help) {yaml, flag, type, offsetof(vt_train_config, member), help}

static const field fields[] = {
    F("model", "model", T_STR, model, "model directory (Hugging Face or mlx-vlm layout)"),
    F("data", "data", T_STR, data, "training JSONL file"),
    F("valid", "valid", T_STR, valid, "validation JSONL file"),
    F("adapter_path", "out", T_STR, out, "run directory: adapters, checkpoints, metrics"),
    F("resume", "resume", T_STR, resume, "run directory to resume from"),
    F("cache_dir", "cache-dir", T_STR, cache_dir, "cache of encoded rows (default: next to the data; none: off)"),
    F("fine_tune_type", "fine-tune-type", T_STR, fine_tune_type, "lora or dora"),
    F("lora_parameters.rank", "rank", T_INT, rank, "LoRA rank r"),
    F("lora_parameters.alpha", "alpha", T_DOUBLE, alpha, "LoRA alpha (scale = alpha / rank)"),
    F("lora_parameters.dropout", "dropout", T_DOUBLE, dropout, "dropout on the adapter input"),
    F("lora_parameters.keys", "keys", T_STR, keys, "comma-separated layer names to adapt (default: all projections)"),
    F("num_layers", "num-layers", T_INT, num_layers, "adapt the last N decoder layers (-1: all)"),
    F("train_vision", "train-vision", T_BOOL, train_vision, "also adapt the vision tower and mergers"),
    F("learning_rate", "learning-rate", T_DOUBLE, learning_rate, "peak learning rate"),
    F("lr_schedule.name", "lr-schedule", T_STR, lr_schedule, "constant, linear or cosine"),
    F("lr_schedule.warmup_ratio", "warmup-ratio", T_DOUBLE, warmup_ratio, "share of steps spent warming up"),
    F("lr_schedule.warmup", "warmup-steps", T_LONG, warmup_steps, "warm-up steps (overrides the ratio)"),
    F("lr_schedule.min_lr", "min-lr", T_DOUBLE, min_lr, "learning rate at the end of the decay"),
    F("weight_decay", "weight-decay", T_DOUBLE, weight_decay, "AdamW decoupled weight decay"),
    F("max_grad_norm", "max-grad-norm", T_DOUBLE, max_grad_norm, "clip gradients to this global norm (0: off)"),
    F("batch_size", "batch-size", T_INT, batch_size, "samples per micro-batch"),
    F("grad_accumulation_steps", "grad-accumulation-steps", T_INT, grad_accumulation_steps,
      "micro-batches per optimizer step"),
    F("iters", "iters", T_LONG, iters, "optimizer steps (0: derived from epochs)"),
    F("epochs", "epochs", T_DOUBLE, epochs, "passes over the training data (when iters is 0)"),
    F("max_seq_length", "max-seq-length", T_INT, max_seq_length, "longest sample in tokens, image tokens included"),
    F("strict", "strict", T_BOOL, strict, "a row longer than max_seq_length is an error (default: skip it)"),
    F("pack", "pack", T_BOOL, pack, "pack samples into rows of max_seq_length (block-diagonal attention)"),
    F("length_bucketing", "length-bucketing", T_BOOL, length_bucketing, "batch samples of similar length"),
    F("grad_checkpoint", "grad-checkpoint", T_BOOL, grad_checkpoint, "recompute block activations in backward"),
    F("seed", "seed", T_LONG, seed, "seed for initialisation, dropout and shuffling"),
    F("image_max_pixels", "image-max-pixels", T_LONG, image_max_pixels, "resize images above this many pixels (0: the model's setting)"),
    F("image_min_pixels", "image-min-pixels", T_LONG, image_min_pixels, "resize images below this many pixels (0: the model's setting)"),
    F("steps_per_report", "steps-per-report", T_INT, steps_per_report, "optimizer steps between progress lines"),
    F("steps_per_eval", "steps-per-eval", T_INT, steps_per_eval, "optimizer steps between validations (0: off)"),
    F("val_batches", "val-batches", T_INT, val_batches, "validation batches per evaluation (-1: all)"),
    F("save_every", "save-every", T_INT, save_every, "optimizer steps between checkpoints"),
    F("keep_last", "keep-last", T_INT, keep_last, "checkpoints to keep"),
    F("max_bad_steps", "max-bad-steps", T_INT, max_bad_steps, "stop after this many non-finite steps in a row"),
};
enum { N_FIELDS = sizeof fields / sizeof *fields };

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
        .learning_rate = 1e-4,
        .lr_schedule = dup_or_null("cosine"),
        .warmup_ratio = 0.1,
        .warmup_steps = -1,
        .min_lr = 0.0,
        .weight_decay = 0.01,
        .max_grad_norm = 1.0,
        .batch_size = 1,
        .grad_accumulation_steps = 8,
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
        .max_bad_steps = 5,
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

/* Sets one field from its text form. */
static int set_field(vt_train_config *c, const field *f, const char *text) {
    void *p = (char *)c + f->offset;
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case T_STR: {
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
    case T_DOUBLE: {
        double v = strtod(text, &end);
        if (!*text || *end || errno || !isfinite(v)) return vt_err("expected a number, got '%s'", text);
        *(double *)p = v;
        return 0;
    }
    case T_BOOL: return parse_bool(text, (bool *)p);
    }
    return vt_err("internal: unknown field type");
}

/* ---------------------------------------------------------------- YAML ---- */

/* Walks a mapping, setting "prefix.key" for scalars and recursing into nested mappings.
 * Sequences of scalars become comma-separated strings (lora_parameters.keys). */
static int load_mapping(vt_train_config *c, yaml_document_t *doc, yaml_node_t *map, const char *prefix,
                        const char *path) {
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(doc, pair->key), *v = yaml_document_get_node(doc, pair->value);
        size_t line = k->start_mark.line + 1;
        if (k->type != YAML_SCALAR_NODE) return vt_err("%s:%zu: keys must be plain names", path, line);
        char key[256];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", (const char *)k->data.scalar.value);
        if (v->type == YAML_MAPPING_NODE) {
            TRY(load_mapping(c, doc, v, key, path));
            continue;
        }
        const field *f = by_yaml(key);
        if (!f && !strcmp(key, "lr_schedule") && v->type == YAML_SCALAR_NODE) f = by_yaml("lr_schedule.name");
        if (!f) return vt_err("%s:%zu: unknown setting '%s'", path, line, key);
        char text[4096] = "";
        if (v->type == YAML_SCALAR_NODE) {
            snprintf(text, sizeof text, "%s", (const char *)v->data.scalar.value);
        } else if (v->type == YAML_SEQUENCE_NODE && f->type == T_STR) {
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(doc, *it);
                if (item->type != YAML_SCALAR_NODE) return vt_err("%s:%zu: '%s' must list plain names", path, line, key);
                size_t n = strlen(text);
                snprintf(text + n, sizeof text - n, "%s%s", n ? "," : "", (const char *)item->data.scalar.value);
            }
        } else {
            return vt_err("%s:%zu: '%s' must be a single value", path, line, key);
        }
        if (set_field(c, f, text)) return vt_err_context("%s:%zu: %s", path, line, key);
    }
    return 0;
}

int vt_train_config_load_yaml(vt_train_config *c, const char *path) {
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
        else if (root) rc = load_mapping(c, &doc, root, "", path);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(fp);
    return rc;
}

/* --------------------------------------------------------------- flags ---- */

int vt_train_config_parse_args(vt_train_config *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) return vt_err("--config needs a file");
            TRY(vt_train_config_load_yaml(c, argv[i + 1]));
        }
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) return vt_err("unexpected argument '%s'", argv[i]);
        if (!strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        const char *flag = argv[i];
        const field *f = by_flag(flag + 2);
        if (!f) return vt_err("unknown option '%s' (see --help)", flag);
        const char *value;
        if (f->type == T_BOOL && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))) value = "true";
        else if (i + 1 < argc) value = argv[++i];
        else return vt_err("option '%s' needs a value", flag);
        if (set_field(c, f, value)) return vt_err_context("option %s", flag);
    }
    return 0;
}

int vt_train_config_validate(const vt_train_config *c) {
    if (!c->model || !*c->model) return vt_err("no model: give --model DIR");
    if (!c->data || !*c->data) return vt_err("no training data: give --data FILE");
    if (!c->out || !*c->out) return vt_err("no run directory: give --out DIR");
    if (strcmp(c->fine_tune_type, "lora") && strcmp(c->fine_tune_type, "dora"))
        return vt_err("fine_tune_type must be lora or dora, not '%s'", c->fine_tune_type);
    if (c->rank < 1) return vt_err("rank must be at least 1 (got %d)", c->rank);
    if (c->alpha <= 0) return vt_err("alpha must be positive (got %g)", c->alpha);
    if (c->dropout < 0 || c->dropout >= 1) return vt_err("dropout must be in [0, 1) (got %g)", c->dropout);
    if (c->learning_rate <= 0) return vt_err("learning_rate must be positive (got %g)", c->learning_rate);
    if (c->batch_size < 1) return vt_err("batch_size must be at least 1 (got %d)", c->batch_size);
    if (c->grad_accumulation_steps < 1)
        return vt_err("grad_accumulation_steps must be at least 1 (got %d)", c->grad_accumulation_steps);
    if (c->iters <= 0 && c->epochs <= 0) return vt_err("give iters or epochs");
    if (c->warmup_ratio < 0 || c->warmup_ratio >= 1) return vt_err("warmup_ratio must be in [0, 1)");
    if (c->max_seq_length < 16) return vt_err("max_seq_length must be at least 16 (got %d)", c->max_seq_length);
    if (c->image_min_pixels < 0 || c->image_max_pixels < 0 ||
        (c->image_min_pixels && c->image_max_pixels && c->image_max_pixels < c->image_min_pixels))
        return vt_err("image pixels: need 0 <= image_min_pixels <= image_max_pixels (0: the model's processor setting)");
    if (c->keep_last < 1) return vt_err("keep_last must be at least 1");
    if (c->grad_accumulation_steps > 64) return vt_err("grad_accumulation_steps above 64 is not supported");
    if (c->steps_per_report < 1) return vt_err("steps_per_report must be at least 1");
    if (c->save_every < 1) return vt_err("save_every must be at least 1");
    if (c->max_bad_steps < 1) return vt_err("max_bad_steps must be at least 1");
    if (c->valid && !*c->valid) return vt_err("valid: empty path");
    return 0;
}

/* ------------------------------------------------------------- output ---- */

static void format_value(const vt_train_config *c, const field *f, char *buf, size_t cap) {
    const void *p = (const char *)c + f->offset;
    switch (f->type) {
    case T_STR: snprintf(buf, cap, "%s", *(char *const *)p ? *(char *const *)p : ""); break;
    case T_INT: snprintf(buf, cap, "%d", *(const int *)p); break;
    case T_LONG: snprintf(buf, cap, "%ld", *(const long *)p); break;
    case T_DOUBLE: snprintf(buf, cap, "%.17g", *(const double *)p); break;
    case T_BOOL: snprintf(buf, cap, "%s", *(const bool *)p ? "true" : "false"); break;
    }
}

/* Double-quoted YAML scalar. */
static void write_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n') fputs("\\n", f);
        else fputc(*s, f);
    }
    fputc('"', f);
}

int vt_train_config_write_yaml(const vt_train_config *c, FILE *f) {
    const char *section = "";
    for (size_t i = 0; i < N_FIELDS; i++) {
        const char *dot = strchr(fields[i].yaml, '.');
        size_t plen = dot ? (size_t)(dot - fields[i].yaml) : 0;
        if (dot && (strlen(section) != plen || strncmp(section, fields[i].yaml, plen))) {
            fprintf(f, "%.*s:\n", (int)plen, fields[i].yaml);
            section = fields[i].yaml;
        }
        if (!dot) section = "";
        const char *const *str = (const char *const *)((const char *)c + fields[i].offset);
        /* unset paths stay unset, and a saved configuration never resumes by itself */
        if (fields[i].type == T_STR && !dot && (!*str || !strcmp(fields[i].yaml, "resume"))) continue;
        char value[4096];
        format_value(c, &fields[i], value, sizeof value);
        fprintf(f, "%s%s: ", dot ? "  " : "", dot ? dot + 1 : fields[i].yaml);
        if (fields[i].type == T_STR) write_quoted(f, value);
        else fputs(value, f);
        fputc('\n', f);
    }
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

void vt_train_config_print_help(FILE *f) {
    vt_train_config d;
    vt_train_config_defaults(&d);
    for (size_t i = 0; i < N_FIELDS; i++) {
        char value[256];
        format_value(&d, &fields[i], value, sizeof value);
        fprintf(f, "  --%-26s %s%s%s%s\n", fields[i].flag, fields[i].help, *value ? " [" : "", value, *value ? "]" : "");
    }
    vt_train_config_free(&d);
}

/* ---------------------------------------------------------- resolution ---- */

static const char *flag_value(int argc, char **argv, const char *flag) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag)) return argv[i + 1];
    return NULL;
}

int vt_train_config_from_args(vt_train_config *c, const char *config_yaml, int argc, char **argv) {
    const char *resume = flag_value(argc, argv, "--resume");
    if (resume && !config_yaml && !flag_value(argc, argv, "--config")) {
        char path[4200];
        TRY(vt_path_join(path, sizeof path, resume, "config.yaml"));
        if (!vt_path_exists(path)) return vt_err("--resume %s: config.yaml is missing (is it a run directory?)", resume);
        TRY(vt_train_config_load_yaml(c, path));
        free(c->out); /* the directory it was written in: a moved or copied run continues where it is now */
        c->out = NULL;
    }
    if (config_yaml) TRY(vt_train_config_load_yaml(c, config_yaml));
    TRY(vt_train_config_parse_args(c, argc, argv));
    if (c->resume && !c->out && !(c->out = strdup(c->resume))) return vt_err("out of memory");
    return 0;
}

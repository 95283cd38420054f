/* `vlmtune eval` — supervised loss of a model (with an adapter) on a dataset, and optionally its answers.
 *
 *   vlmtune eval --model DIR [--adapter DIR] --data FILE|DIR [--per-sample] [--generate] [--max-tokens N]
 *
 * --data DIR is a folder of splits: its test split is evaluated, else its valid split.
 * Loss: cross-entropy over the assistant tokens of every row, averaged over those tokens, and its
 * perplexity.  --generate answers each row's last user turn greedily (the conversation up to the last
 * assistant turn is the prompt) and scores the answer against that turn: exact match and token F1
 * (lower-cased, punctuation dropped, whitespace tokens, as SQuAD scores).  --per-sample prints one
 * JSON line per row: {"row", "line", "loss", "tokens"[, "generated", "reference", "exact", "f1"]}. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "generate/generate.h"
#include "lora/lora.h"
#include "train/loss.h"
#include "data/dataset.h"
#include "data/rows.h"

/* Σ cross-entropy over the supervised tokens of one encoded row. */
static int row_loss(const vt_model *m, const vt_encoded *e, double *sum, size_t *count) {
    int32_t *pos = malloc(e->n_tokens * sizeof *pos), *tgt = malloc(e->n_tokens * sizeof *tgt);
    int n = 0;
    if (!pos || !tgt) {
        free(pos), free(tgt);
        return vt_err("out of memory");
    }
    for (size_t t = 0; t + 1 < e->n_tokens; t++)
        if (e->loss_mask[t + 1]) pos[n] = (int32_t)t, tgt[n++] = e->ids[t + 1];
    mx_arena *scope = mx_scope_begin();
    mx_array pixels = NULL, p, tg, ce;
    float value = 0;
    int rc = 0;
    if (e->n_images)
        rc = mx_from_data(&pixels, e->pixel_values, (int[]){(int)e->n_patches, (int)e->patch_dim}, 2, MX_FLOAT32);
    vt_model_inputs in = {.B = 1, .T = (int)e->n_tokens, .input_ids = e->ids, .pixel_values = pixels,
                          .grid_thw = e->grid_thw, .n_images = (int)e->n_images};
    if (rc == 0 && n > 0)
        rc = mx_from_data(&p, pos, &n, 1, MX_INT32) || mx_from_data(&tg, tgt, &n, 1, MX_INT32) ||
             vt_model_loss_sum(m, &in, p, tg, &ce) || mx_item_f32(ce, &value);
    mx_scope_end(scope);
    free(pos), free(tgt);
    *sum = value, *count = (size_t)n;
    return rc;
}

/* ------------------------------------------------------------- scoring ---- */

/* Lower-cased words without punctuation, into a NULL-terminated list (one malloc'd buffer). */
static char **words(const char *text, char *buf) {
    size_t n = 0, j = 0;
    char **list = malloc((strlen(text) / 2 + 2) * sizeof *list);
    if (!list) return NULL;
    bool in_word = false;
    for (const char *c = text;; c++) {
        if (*c && !isspace((unsigned char)*c)) {
            if (ispunct((unsigned char)*c)) continue;
            if (!in_word) list[n++] = buf + j, in_word = true;
            buf[j++] = (char)tolower((unsigned char)*c);
        } else {
            if (in_word) buf[j++] = 0, in_word = false;
            if (!*c) break;
        }
    }
    list[n] = NULL;
    return list;
}

static double token_f1(const char *got, const char *want, bool *exact) {
    char *b1 = malloc(strlen(got) + 1), *b2 = malloc(strlen(want) + 1);
    char **g = b1 ? words(got, b1) : NULL, **w = b2 ? words(want, b2) : NULL;
    double f1 = 0;
    *exact = false;
    if (g && w) {
        size_t ng = 0, nw = 0, common = 0;
        while (g[ng]) ng++;
        while (w[nw]) nw++;
        bool *used = calloc(nw + 1, 1);
        for (size_t i = 0; used && i < ng; i++)
            for (size_t k = 0; k < nw; k++)
                if (!used[k] && !strcmp(g[i], w[k])) {
                    used[k] = true, common++;
                    break;
                }
        free(used);
        *exact = ng == nw && common == nw;
        if (ng == 0 && nw == 0) f1 = 1;
        else if (common) f1 = 2.0 * common / (double)(ng + nw);
    }
    free(g), free(w), free(b1), free(b2);
    return f1;
}

/* ------------------------------------------------------------ one row ---- */

typedef struct {
    const vt_model *model;
    const vt_tokenizer *tok;
    const vt_image_config *ic;
    bool generate, per_sample;
    int max_tokens;
    int32_t eos[2];
    double loss_sum, exact, f1;
    size_t tokens, rows;
} eval_state;

/* The row's last assistant message is the reference; everything before it is the prompt. */
static int answer(eval_state *s, const vt_sample *row, cJSON *line) {
    size_t last = row->n_messages;
    while (last > 0 && row->messages[last - 1].role != VT_ROLE_ASSISTANT) last--;
    if (last == 0) return vt_err("no assistant turn to compare with");
    const vt_message *ref = &row->messages[last - 1];
    vt_sample prompt = *row;
    prompt.n_messages = last - 1;
    vt_encoded e;
    vt_generate_options o = {.max_tokens = s->max_tokens, .eos = s->eos, .n_eos = 2};
    vt_generation g = {0};
    char *text = NULL;
    size_t len;
    int rc = vt_encode_sample(&prompt, s->tok, s->ic, true, &e);
    if (rc == 0) rc = vt_generate(s->model, &e, &o, NULL, NULL, &g) || vt_tokenizer_decode(s->tok, g.ids, g.n, &text, &len);
    vt_encoded_clear(&e);
    free(g.ids);
    if (rc) return -1;
    const char *want = ref->n_parts && ref->parts[0].kind == VT_PART_TEXT ? ref->parts[0].text : "";
    bool exact;
    double f1 = token_f1(text, want, &exact);
    s->exact += exact, s->f1 += f1;
    cJSON_AddStringToObject(line, "generated", text);
    cJSON_AddStringToObject(line, "reference", want);
    cJSON_AddBoolToObject(line, "exact", exact);
    cJSON_AddNumberToObject(line, "f1", f1);
    free(text);
    return 0;
}

static int eval_row(eval_state *s, const vt_sample *row, size_t index) {
    vt_encoded e;
    double sum = 0;
    size_t count = 0;
    TRY(vt_encode_sample(row, s->tok, s->ic, false, &e));
    int rc = row_loss(s->model, &e, &sum, &count);
    vt_encoded_clear(&e);
    TRY(rc);
    s->loss_sum += sum, s->tokens += count, s->rows++;
    cJSON *line = cJSON_CreateObject();
    if (!line) return vt_err("out of memory");
    cJSON_AddNumberToObject(line, "row", (double)index);
    cJSON_AddNumberToObject(line, "line", (double)row->line);
    cJSON_AddNumberToObject(line, "loss", count ? sum / (double)count : 0);
    cJSON_AddNumberToObject(line, "tokens", (double)count);
    if (s->generate) rc = answer(s, row, line);
    if (rc == 0 && s->per_sample) {
        char *text = cJSON_PrintUnformatted(line);
        if (text) printf("%s\n", text), fflush(stdout);
        free(text);
    }
    cJSON_Delete(line);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory", true},
                        {"adapter", "DIR", "adapter directory (mlx-vlm format)", false},
                        {"data", "FILE|DIR", "rows to evaluate, or a folder (its test split, else valid; docs/DATA.md)", true},
                        {"per-sample", NULL, "one JSON line per row", false},
                        {"generate", NULL, "also answer each row and score the answer", false},
                        {"max-tokens", "N", "longest answer with --generate [64]", false},
                        {"image-min-pixels", "N", "smallest resized image area (default: the model's)", false},
                        {"image-max-pixels", "N", "largest resized image area (default: the model's)", false},
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune eval --model DIR [--adapter DIR] --data FILE.jsonl|DIR");
    if (rc) return rc > 0 ? 0 : -1;
    const char *model_dir = vt_args_value(opts, "model"), *adapter = vt_args_value(opts, "adapter");
    vt_image_config ic;
    long max_tokens;
    TRY(vt_args_image_config(opts, model_dir, &ic));
    TRY(vt_args_int(opts, "max-tokens", 64, 1, 1 << 20, &max_tokens));
    vt_model *m = NULL;
    vt_lora *lora = NULL;
    vt_tokenizer *tok = NULL;
    vt_dataset *ds = NULL;
    char *data = NULL;
    const char *split;
    rc = vt_dataset_eval_split(vt_args_value(opts, "data"), &data, &split) || vt_model_load(&m, model_dir) ||
         (adapter && vt_lora_load(&lora, m, adapter)) || vt_tokenizer_load(&tok, model_dir) || vt_dataset_load(&ds, data);
    eval_state s = {.model = m, .tok = tok, .ic = &ic, .generate = vt_args_flag(opts, "generate"),
                    .per_sample = vt_args_flag(opts, "per-sample"), .max_tokens = (int)max_tokens};
    if (rc == 0) {
        s.eos[0] = vt_tokenizer_token_id(tok, "<|im_end|>"), s.eos[1] = vt_tokenizer_token_id(tok, "<|endoftext|>");
        if (s.eos[0] < 0) rc = vt_err("%s: the tokenizer has no <|im_end|> token", model_dir);
    }
    for (size_t i = 0; rc == 0 && i < ds->n_samples; i++)
        if (eval_row(&s, &ds->samples[i], i)) rc = vt_err_context("%s:%zu", ds->path, ds->samples[i].line);
    if (rc == 0) {
        double loss = s.tokens ? s.loss_sum / (double)s.tokens : NAN;
        fprintf(s.per_sample ? stderr : stdout, "%s%s: %zu rows, %zu supervised tokens, loss %.4f, perplexity %.3f",
                adapter ? "with adapter: " : "", data, s.rows, s.tokens, loss, exp(loss));
        if (s.generate)
            fprintf(s.per_sample ? stderr : stdout, ", exact match %.1f%%, token F1 %.3f", 100.0 * s.exact / (double)s.rows,
                    s.f1 / (double)s.rows);
        fprintf(s.per_sample ? stderr : stdout, "\n");
    }
    vt_dataset_free(ds);
    free(data);
    vt_tokenizer_free(tok);
    vt_lora_free(lora);
    vt_model_free(m);
    return rc;
}

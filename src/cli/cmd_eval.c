/* `vlmtune eval` — supervised loss of a model (with an adapter) on a dataset, and optionally its answers.
 *
 *   vlmtune eval --model DIR [--adapter DIR] --data FILE|DIR [--per-sample] [--generate] [--max-tokens N]
 *
 * What is measured is src/eval/eval.h's (the C API's vlmtune_eval computes the same).  --per-sample
 * prints one JSON line per row: {"row", "line", "loss", "tokens", "prompt", "images"[, "generated", "reference",
 * "exact", "f1"]}: the prompt is the text of the last user turn before the reference (the row's last assistant
 * turn), the images every image before it, as absolute paths (for `vlmtune compare`'s report).
 * --data DIR is a folder of splits: its test split is evaluated, else its valid split. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "eval/eval.h"

/* The messages before the row's last assistant turn (all of them when it has none). */
static size_t prompt_messages(const vt_sample *s) {
    size_t last = s->n_messages;
    while (last > 0 && s->messages[last - 1].role != VT_ROLE_ASSISTANT) last--;
    return last > 0 ? last - 1 : s->n_messages;
}

/* "prompt": the last user turn's text parts, joined by line breaks; "images": every image of the prompt. */
static int add_prompt(cJSON *line, const vt_sample *s) {
    size_t n = prompt_messages(s), user = n;
    while (user > 0 && s->messages[user - 1].role != VT_ROLE_USER) user--;
    size_t len = 0;
    for (size_t k = 0; user > 0 && k < s->messages[user - 1].n_parts; k++)
        if (s->messages[user - 1].parts[k].kind == VT_PART_TEXT) len += strlen(s->messages[user - 1].parts[k].text) + 1;
    char *text = calloc(len + 1, 1);
    if (!text) return vt_err("out of memory");
    for (size_t k = 0; user > 0 && k < s->messages[user - 1].n_parts; k++) {
        const vt_part *part = &s->messages[user - 1].parts[k];
        if (part->kind != VT_PART_TEXT) continue;
        if (*text) strcat(text, "\n");
        strcat(text, part->text);
    }
    cJSON_AddStringToObject(line, "prompt", text);
    free(text);
    cJSON *images = cJSON_AddArrayToObject(line, "images");
    if (!images) return vt_err("out of memory");
    for (size_t m = 0; m < n; m++)
        for (size_t k = 0; k < s->messages[m].n_parts; k++) {
            const vt_part *part = &s->messages[m].parts[k];
            if (part->kind != VT_PART_IMAGE) continue;
            char abs[PATH_MAX];
            cJSON_AddItemToArray(images, cJSON_CreateString(realpath(part->text, abs) ? abs : part->text));
        }
    return 0;
}

static int print_row(void *ctx, const vt_eval_row *r) {
    cJSON *line = cJSON_CreateObject();
    if (!line) return vt_err("out of memory");
    cJSON_AddNumberToObject(line, "row", (double)r->index);
    cJSON_AddNumberToObject(line, "line", (double)r->line);
    cJSON_AddNumberToObject(line, "loss", r->loss);
    cJSON_AddNumberToObject(line, "tokens", (double)r->tokens);
    if (r->sample && add_prompt(line, r->sample)) {
        cJSON_Delete(line);
        return -1;
    }
    if (r->generated) {
        cJSON_AddStringToObject(line, "generated", r->generated);
        cJSON_AddStringToObject(line, "reference", r->reference);
        cJSON_AddBoolToObject(line, "exact", r->exact);
        cJSON_AddNumberToObject(line, "f1", r->f1);
    }
    char *text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (!text) return vt_err("out of memory");
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory", true},
                        {"adapter", "DIR", "adapter directory (mlx-vlm or PEFT layout)", false},
                        {"data", "FILE|DIR", "rows to evaluate, or a folder (its test split, else valid; docs/DATA.md)", true},
                        {"per-sample", NULL, "one JSON line per row", false},
                        {"generate", NULL, "also answer each row and score the answer", false},
                        {"max-tokens", "N", "longest answer with --generate [64]", false},
                        VT_IMAGE_OPTIONS,
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune eval --model DIR [--adapter DIR] --data FILE.jsonl|DIR");
    if (rc) return rc > 0 ? 0 : -1;
    long max_tokens;
    TRY(vt_args_int(opts, "max-tokens", 64, 1, 1 << 20, &max_tokens));
    char *data = NULL;
    const char *split;
    bool per_sample = vt_args_flag(opts, "per-sample");
    vt_eval_options o = {.generate = vt_args_flag(opts, "generate"), .max_tokens = (int)max_tokens};
    vt_session s;
    vt_dataset *ds = NULL;
    vt_eval_result res;
    TRY(vt_dataset_eval_split(vt_args_value(opts, "data"), &data, &split));
    if (vt_args_session(opts, true, true, &s)) {
        free(data);
        return -1;
    }
    rc = vt_dataset_load(&ds, data) || vt_eval_dataset(&s, ds, &o, per_sample ? print_row : NULL, NULL, &res);
    if (rc == 0) {
        FILE *f = per_sample ? stderr : stdout;
        fprintf(f, "%s%s: %zu rows, %zu supervised tokens, loss %.4f, perplexity %.3f", s.adapter ? "with adapter: " : "",
                data, res.rows, res.tokens, res.loss, res.perplexity);
        if (o.generate) fprintf(f, ", exact match %.1f%%, token F1 %.3f", 100.0 * res.exact_match, res.f1);
        fprintf(f, "\n");
    }
    vt_dataset_free(ds);
    vt_session_close(&s);
    free(data);
    return rc;
}

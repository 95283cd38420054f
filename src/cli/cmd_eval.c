/* `vlmtune eval` — supervised loss of a model (with an adapter) on a dataset, and optionally its answers.
 *
 *   vlmtune eval --model DIR [--adapter DIR] --data FILE|DIR [--per-sample] [--generate] [--max-tokens N]
 *
 * What is measured is src/eval/eval.h's (the C API's vlmtune_eval computes the same).  --per-sample
 * prints one JSON line per row: {"row", "line", "loss", "tokens"[, "generated", "reference", "exact", "f1"]}.
 * --data DIR is a folder of splits: its test split is evaluated, else its valid split. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "eval/eval.h"

static int print_row(void *ctx, const vt_eval_row *r) {
    cJSON *line = cJSON_CreateObject();
    if (!line) return vt_err("out of memory");
    cJSON_AddNumberToObject(line, "row", (double)r->index);
    cJSON_AddNumberToObject(line, "line", (double)r->line);
    cJSON_AddNumberToObject(line, "loss", r->loss);
    cJSON_AddNumberToObject(line, "tokens", (double)r->tokens);
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

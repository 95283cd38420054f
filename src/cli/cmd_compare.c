/* `vlmtune compare` — two evaluations side by side, as a Markdown report.
 *
 *   vlmtune eval --model M --data test.jsonl --generate --per-sample > base.jsonl
 *   vlmtune eval --model M --adapter RUN --data test.jsonl --generate --per-sample > tuned.jsonl
 *   vlmtune compare base.jsonl tuned.jsonl [--out report.md] [--examples N] [--names base,tuned]
 *
 * The report has the aggregate table (rows, supervised tokens, loss and perplexity weighted by tokens,
 * and with answers exact match and mean token F1) for both and their difference, then N example rows
 * (rows whose answers differ first): the reference and both answers. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "util/error.h"
#include "util/fs.h"

typedef struct {
    cJSON **rows;   /* owned */
    size_t n;
    double loss_sum, tokens, exact, f1;
    bool answers;
} evaluation;

static void evaluation_free(evaluation *e) {
    for (size_t i = 0; i < e->n; i++) cJSON_Delete(e->rows[i]);
    free(e->rows);
}

static int read_evaluation(const char *path, evaluation *e) {
    char *text;
    size_t len, line = 0;
    TRY(vt_read_file(path, &text, &len));
    int rc = 0;
    e->answers = true;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save)) {
        line++;
        cJSON *o = cJSON_Parse(l);
        const cJSON *loss = cJSON_GetObjectItem(o, "loss"), *tok = cJSON_GetObjectItem(o, "tokens");
        if (!cJSON_IsNumber(loss) || !cJSON_IsNumber(tok)) {
            cJSON_Delete(o);
            rc = vt_err("%s:%zu: expected a line of `vlmtune eval --per-sample` (with \"loss\" and \"tokens\")", path, line);
            break;
        }
        cJSON **grown = realloc(e->rows, (e->n + 1) * sizeof *grown);
        if (!grown) {
            cJSON_Delete(o);
            rc = vt_err("out of memory");
            break;
        }
        e->rows = grown, e->rows[e->n++] = o;
        e->loss_sum += loss->valuedouble * tok->valuedouble, e->tokens += tok->valuedouble;
        const cJSON *ex = cJSON_GetObjectItem(o, "exact"), *f1 = cJSON_GetObjectItem(o, "f1");
        e->answers &= cJSON_IsBool(ex) && cJSON_IsNumber(f1);
        if (e->answers) e->exact += cJSON_IsTrue(ex), e->f1 += f1->valuedouble;
    }
    free(text);
    if (rc == 0 && e->n == 0) rc = vt_err("%s: no rows", path);
    return rc;
}

static const char *text_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Markdown table cell: pipes escaped, line breaks as spaces. */
static void cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else fputc(*s, f);
    }
}

static void summary(FILE *f, const char *name, const evaluation *e) {
    double loss = e->loss_sum / e->tokens;
    fprintf(f, "| %s | %zu | %.0f | %.4f | %.3f |", name, e->n, e->tokens, loss, exp(loss));
    if (e->answers) fprintf(f, " %.1f%% | %.3f |", 100.0 * e->exact / e->n, e->f1 / e->n);
    fputc('\n', f);
}

static void report(FILE *f, const evaluation *a, const evaluation *b, const char *na, const char *nb, long examples) {
    bool answers = a->answers && b->answers;
    fprintf(f, "# %s against %s\n\n| | rows | supervised tokens | loss | perplexity |%s\n|---|---|---|---|---|%s\n", nb, na,
            answers ? " exact match | token F1 |" : "", answers ? "---|---|" : "");
    summary(f, na, a);
    summary(f, nb, b);
    double la = a->loss_sum / a->tokens, lb = b->loss_sum / b->tokens;
    fprintf(f, "| difference | | | %+.4f | %+.3f |", lb - la, exp(lb) - exp(la));
    if (answers) fprintf(f, " %+.1f points | %+.3f |", 100.0 * (b->exact - a->exact) / a->n, (b->f1 - a->f1) / a->n);
    fprintf(f, "\n\n");
    if (!answers || examples <= 0) return;
    fprintf(f, "## Examples\n\n| row | reference | %s | %s |\n|---|---|---|---|\n", na, nb);
    long shown = 0;
    for (int pass = 0; pass < 2 && shown < examples; pass++)
        for (size_t i = 0; i < a->n && shown < examples; i++) {
            bool differ = strcmp(text_of(a->rows[i], "generated"), text_of(b->rows[i], "generated")) != 0;
            if (differ != (pass == 0)) continue;
            fprintf(f, "| %zu | ", i);
            cell(f, text_of(b->rows[i], "reference"));
            fputs(" | ", f);
            cell(f, text_of(a->rows[i], "generated"));
            fputs(" | ", f);
            cell(f, text_of(b->rows[i], "generated"));
            fputs(" |\n", f);
            shown++;
        }
}

int cmd_compare(int argc, char **argv) {
    if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
        if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("usage: vlmtune compare BASE.jsonl OTHER.jsonl [--out report.md] [--examples N] [--names a,b]\n");
            return 0;
        }
        return vt_err("usage: vlmtune compare BASE.jsonl OTHER.jsonl [--out report.md] [--examples N] [--names a,b]");
    }
    vt_option opts[] = {{"out", "FILE", "write the report here (default: stdout)", false},
                        {"examples", "N", "example rows in the report [10]", false},
                        {"names", "A,B", "column names [base,fine-tuned]", false},
                        {0}};
    int rc = vt_args_parse(opts, argc - 2, argv + 2, "vlmtune compare BASE.jsonl OTHER.jsonl [options]");
    if (rc) return rc > 0 ? 0 : -1;
    long examples;
    TRY(vt_args_int(opts, "examples", 10, 0, 1 << 20, &examples));
    char na[128] = "base", nb[128] = "fine-tuned";
    const char *names = vt_args_value(opts, "names");
    if (names) {
        const char *comma = strchr(names, ',');
        if (!comma) return vt_err("--names: expected two names separated by a comma");
        snprintf(na, sizeof na, "%.*s", (int)(comma - names), names);
        snprintf(nb, sizeof nb, "%s", comma + 1);
    }
    const char *out = vt_args_value(opts, "out"), *inputs[] = {argv[1], argv[2]};
    if (out) TRY(vt_check_out_file(out, "--out", inputs, 2));
    evaluation a = {0}, b = {0};
    rc = read_evaluation(argv[1], &a) || read_evaluation(argv[2], &b);
    if (rc == 0 && a.n != b.n) rc = vt_err("%s has %zu rows, %s %zu: not the same data", argv[1], a.n, argv[2], b.n);
    if (rc == 0 && !out) report(stdout, &a, &b, na, nb, examples);
    if (rc == 0 && out) { /* built in memory, then written whole: a reader never sees half a report */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f) rc = vt_err("out of memory");
        else {
            report(f, &a, &b, na, nb, examples);
            rc = fclose(f) ? vt_err("out of memory writing the report") : vt_write_file_atomic(out, text, len);
        }
        free(text);
    }
    evaluation_free(&a);
    evaluation_free(&b);
    return rc;
}

/* `vlmtune compare` — two evaluations side by side, as a Markdown or an HTML report.
 *
 *   vlmtune eval --model M --data test.jsonl --generate --per-sample > base.jsonl
 *   vlmtune eval --model M --adapter RUN --data test.jsonl --generate --per-sample > tuned.jsonl
 *   vlmtune compare base.jsonl tuned.jsonl [--out report.html|report.md] [--examples N] [--names base,tuned]
 *
 * The report has the aggregate table (rows, supervised tokens, loss and perplexity weighted by tokens,
 * and with answers exact match and mean token F1) for both and their difference, then N example rows
 * (rows whose answers differ first): the photo, the prompt, the reference and both answers.  HTML (for
 * --out *.html, or --format html) shows each photo as a thumbnail linked to the file, by a path relative
 * to the report so the folder can be moved with its images; long answers wrap.  Markdown links the photo. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

/* The rows to show: those whose answers differ first, then the others, `examples` at most. */
static size_t pick_examples(const evaluation *a, const evaluation *b, long examples, size_t *picked) {
    size_t shown = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < a->n && (long)shown < examples; i++) {
            bool differ = strcmp(text_of(a->rows[i], "generated"), text_of(b->rows[i], "generated")) != 0;
            if (differ == (pass == 0)) picked[shown++] = i;
        }
    return shown;
}

/* The row's first image (eval writes absolute paths), or NULL. */
static const char *image_of(const cJSON *row) {
    const cJSON *images = cJSON_GetObjectItem(row, "images"), *first = cJSON_GetArrayItem(images, 0);
    return cJSON_IsString(first) ? first->valuestring : NULL;
}

/* `target` as a path relative to the directory `from` (both absolute; "a/b" and "a/c/d" give "../c/d"). */
static void relative_path(char *out, size_t cap, const char *from, const char *target) {
    size_t common = 0;
    for (size_t i = 0;; i++) { /* the longest shared prefix that ends at a component boundary */
        bool end_from = from[i] == 0 || from[i] == '/', end_target = target[i] == 0 || target[i] == '/';
        if (end_from && end_target) common = i;
        if (from[i] != target[i] || !from[i]) break;
    }
    size_t k = 0;
    out[0] = 0;
    for (const char *c = from + common; *c; c++)
        if (*c == '/' && c[1] && k + 3 < cap) k += (size_t)snprintf(out + k, cap - k, "../");
    const char *rest = target + common + (target[common] == '/');
    snprintf(out + k, cap - k, "%s", rest);
}

/* How the report's reader reaches the image: relative to the report's folder when both resolve, else as
 * written.  report_dir is absolute. */
static void image_link(char *out, size_t cap, const char *report_dir, const char *image) {
    char abs[PATH_MAX];
    if (report_dir && realpath(image, abs)) relative_path(out, cap, report_dir, abs);
    else snprintf(out, cap, "%s", image);
}

/* A path as a URL: bytes other than unreserved ones and '/' percent-encoded ("#", "?", "%", spaces). */
static void url_path(FILE *f, const char *s) {
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                     strchr("-._~/", *c);
        if (plain) fputc(*c, f);
        else fprintf(f, "%%%02X", *c);
    }
}

static void md_examples(FILE *f, const evaluation *a, const evaluation *b, const char *na, const char *nb,
                        const size_t *picked, size_t n, const char *report_dir) {
    bool prompts = cJSON_GetObjectItem(b->rows[0], "prompt") != NULL;
    fprintf(f, "## Examples\n\n| row |%s reference | %s | %s |\n|---|%s---|---|---|\n", prompts ? " photo | prompt |" : "",
            na, nb, prompts ? "---|---|" : "");
    for (size_t k = 0; k < n; k++) {
        size_t i = picked[k];
        fprintf(f, "| %zu | ", i);
        if (prompts) {
            const char *image = image_of(b->rows[i]);
            char link[PATH_MAX * 3];
            if (image) {
                image_link(link, sizeof link, report_dir, image);
                fputs("[photo](", f);
                url_path(f, link);
                fputs(")", f);
            }
            fputs(" | ", f);
            cell(f, text_of(b->rows[i], "prompt"));
            fputs(" | ", f);
        }
        cell(f, text_of(b->rows[i], "reference"));
        fputs(" | ", f);
        cell(f, text_of(a->rows[i], "generated"));
        fputs(" | ", f);
        cell(f, text_of(b->rows[i], "generated"));
        fputs(" |\n", f);
    }
}

static void report(FILE *f, const evaluation *a, const evaluation *b, const char *na, const char *nb, long examples,
                   const char *report_dir) {
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
    size_t *picked = malloc(a->n * sizeof *picked);
    if (!picked) return;
    md_examples(f, a, b, na, nb, picked, pick_examples(a, b, examples, picked), report_dir);
    free(picked);
}

/* --------------------------------------------------------------------------------------------- HTML ---- */

static void html_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char HTML_STYLE[] =
    "body { font-family: sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }\n"
    "table { border-collapse: collapse; margin-bottom: 2em; }\n"
    "th, td { border: 1px solid #ccc; padding: 6px 8px; vertical-align: top; text-align: left; }\n"
    "th { background: #f2f2f2; }\n"
    "td.num { text-align: right; font-variant-numeric: tabular-nums; }\n"
    "table.examples { table-layout: fixed; width: 100%; }\n"
    "table.examples td.text { white-space: pre-wrap; overflow-wrap: anywhere; }\n"
    "img.photo { max-width: 100%; max-height: 180px; display: block; }\n"
    ".score { color: #555; font-size: 0.85em; margin-top: 0.4em; }\n";

static void html_summary_row(FILE *f, const char *name, const evaluation *e, bool answers) {
    double loss = e->loss_sum / e->tokens;
    fputs("<tr><th>", f);
    html_text(f, name);
    fprintf(f, "</th><td class=\"num\">%zu</td><td class=\"num\">%.0f</td><td class=\"num\">%.4f</td>"
               "<td class=\"num\">%.3f</td>", e->n, e->tokens, loss, exp(loss));
    if (answers) fprintf(f, "<td class=\"num\">%.1f%%</td><td class=\"num\">%.3f</td>", 100.0 * e->exact / e->n, e->f1 / e->n);
    fputs("</tr>\n", f);
}

static void html_answer(FILE *f, const cJSON *row) {
    fputs("<td class=\"text\">", f);
    html_text(f, text_of(row, "generated"));
    const cJSON *f1 = cJSON_GetObjectItem(row, "f1");
    fprintf(f, "<div class=\"score\">%stoken F1 %.2f</div></td>",
            cJSON_IsTrue(cJSON_GetObjectItem(row, "exact")) ? "exact match, " : "", cJSON_IsNumber(f1) ? f1->valuedouble : 0);
}

static void html_examples(FILE *f, const evaluation *a, const evaluation *b, const char *na, const char *nb,
                          const size_t *picked, size_t n, const char *report_dir) {
    fputs("<h2>Examples</h2>\n<table class=\"examples\">\n<colgroup><col style=\"width: 4em\"><col style=\"width: 12%\">"
          "<col style=\"width: 18%\"><col><col><col></colgroup>\n<thead><tr><th>row</th><th>photo</th><th>prompt</th>"
          "<th>reference</th><th>", f);
    html_text(f, na);
    fputs("</th><th>", f);
    html_text(f, nb);
    fputs("</th></tr></thead>\n<tbody>\n", f);
    for (size_t k = 0; k < n; k++) {
        size_t i = picked[k];
        const char *image = image_of(b->rows[i]);
        fprintf(f, "<tr id=\"row-%zu\"><td class=\"num\">%zu</td><td>", i, i);
        if (image) {
            char link[PATH_MAX * 3];
            image_link(link, sizeof link, report_dir, image);
            fputs("<a href=\"", f);
            url_path(f, link);
            fputs("\"><img class=\"photo\" loading=\"lazy\" src=\"", f);
            url_path(f, link);
            fprintf(f, "\" alt=\"the photo of row %zu\"></a>", i);
        }
        fputs("</td><td class=\"text\">", f);
        html_text(f, text_of(b->rows[i], "prompt"));
        fputs("</td><td class=\"text\">", f);
        html_text(f, text_of(b->rows[i], "reference"));
        fputs("</td>", f);
        html_answer(f, a->rows[i]);
        html_answer(f, b->rows[i]);
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n", f);
}

static void report_html(FILE *f, const evaluation *a, const evaluation *b, const char *na, const char *nb,
                        long examples, const char *report_dir) {
    bool answers = a->answers && b->answers;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    html_text(f, nb);
    fputs(" against ", f);
    html_text(f, na);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", HTML_STYLE);
    html_text(f, nb);
    fputs(" against ", f);
    html_text(f, na);
    fputs("</h1>\n<table class=\"summary\">\n<thead><tr><th></th><th>rows</th><th>supervised tokens</th><th>loss</th>"
          "<th>perplexity</th>", f);
    if (answers) fputs("<th>exact match</th><th>token F1</th>", f);
    fputs("</tr></thead>\n<tbody>\n", f);
    html_summary_row(f, na, a, answers);
    html_summary_row(f, nb, b, answers);
    double la = a->loss_sum / a->tokens, lb = b->loss_sum / b->tokens;
    fprintf(f, "<tr><th>difference</th><td></td><td></td><td class=\"num\">%+.4f</td><td class=\"num\">%+.3f</td>",
            lb - la, exp(lb) - exp(la));
    if (answers)
        fprintf(f, "<td class=\"num\">%+.1f points</td><td class=\"num\">%+.3f</td>", 100.0 * (b->exact - a->exact) / a->n,
                (b->f1 - a->f1) / a->n);
    fputs("</tr>\n</tbody>\n</table>\n", f);
    if (answers && examples > 0) {
        size_t *picked = malloc(a->n * sizeof *picked);
        if (picked) html_examples(f, a, b, na, nb, picked, pick_examples(a, b, examples, picked), report_dir);
        free(picked);
    }
    fputs("</body>\n</html>\n", f);
}

static bool ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcasecmp(s + n - k, tail) == 0;
}

/* The folder the report's links start from: the --out file's (resolved), or the working directory. */
static bool report_folder(const char *out, char *dir, size_t cap) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", out ? out : "x");
    char *slash = strrchr(buf, '/');
    if (!out || !slash) return getcwd(dir, cap) != NULL;
    if (slash == buf) return snprintf(dir, cap, "/"), true;
    *slash = 0;
    char abs[PATH_MAX];
    if (!realpath(buf, abs)) return false;
    snprintf(dir, cap, "%s", abs);
    return true;
}

/* Writes the whole report to memory, then to `out` in one atomic write (stdout when NULL). */
static int write_report(const char *out, bool html, const evaluation *a, const evaluation *b, const char *na,
                        const char *nb, long examples) {
    char dir[PATH_MAX];
    const char *report_dir = report_folder(out, dir, sizeof dir) ? dir : NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return vt_err("out of memory");
    if (html) report_html(f, a, b, na, nb, examples, report_dir);
    else report(f, a, b, na, nb, examples, report_dir);
    int rc = fclose(f) ? vt_err("out of memory") : 0;
    if (rc == 0 && out) rc = vt_write_file_atomic(out, text, len);
    else if (rc == 0 && (fwrite(text, 1, len, stdout) != len || fflush(stdout))) rc = vt_err("writing the report failed");
    free(text);
    return rc;
}

int cmd_compare(int argc, char **argv) {
    if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
        if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("usage: vlmtune compare BASE.jsonl OTHER.jsonl [--out report.html|report.md] [--format html|md] "
                   "[--examples N] [--names a,b]\n");
            return 0;
        }
        return vt_err("usage: vlmtune compare BASE.jsonl OTHER.jsonl [--out report.html|report.md] [--format html|md] "
                      "[--examples N] [--names a,b]");
    }
    vt_option opts[] = {{"out", "FILE", "write the report here (default: stdout)", false},
                        {"format", "html|md", "the report's form [html for --out *.html or *.htm, else md]", false},
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
    const char *format = vt_args_value(opts, "format");
    if (rc == 0 && format && strcmp(format, "html") && strcmp(format, "md"))
        rc = vt_err("--format: expected html or md, not \"%s\"", format);
    bool html = format ? !strcmp(format, "html") : out && (ends_with(out, ".html") || ends_with(out, ".htm"));
    if (rc == 0) rc = write_report(out, html, &a, &b, na, nb, examples);
    evaluation_free(&a);
    evaluation_free(&b);
    return rc;
}

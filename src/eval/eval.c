/* eval.c — loss, perplexity and scored answers over a dataset. */
#include "eval/eval.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/example.h"
#include "eval/loss.h"

/* Σ cross-entropy over the supervised tokens of one encoded row. */
static int row_loss(const vt_model *m, const vt_encoded *e, double *sum, size_t *count) {
    *sum = 0, *count = 0;
    int n = (int)vt_example_targets(e, 0, NULL, NULL);
    if (n == 0) return 0;
    int32_t *pos = malloc((size_t)n * sizeof *pos), *tgt = malloc((size_t)n * sizeof *tgt);
    if (!pos || !tgt) {
        free(pos), free(tgt);
        return vt_err("out of memory");
    }
    vt_example_targets(e, 0, pos, tgt);
    mx_arena *scope = mx_scope_begin();
    mx_array pixels = NULL, p, tg, ce;
    float value = 0;
    int rc = 0;
    if (e->n_images)
        rc = mx_from_data(&pixels, e->pixel_values, (int[]){(int)e->n_patches, (int)e->patch_dim}, 2, MX_FLOAT32);
    vt_model_inputs in = {.B = 1, .T = (int)e->n_tokens, .input_ids = e->ids, .pixel_values = pixels,
                          .grid_thw = e->grid_thw, .n_images = (int)e->n_images};
    if (rc == 0)
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

double vt_token_f1(const char *got, const char *want, bool *exact) {
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

/* ------------------------------------------------------------ answers ---- */

/* The row's last assistant message is the reference; everything before it is the prompt.  *text is malloc'd. */
static int answer(const vt_session *s, const vt_sample *row, int max_tokens, char **text, const char **reference) {
    size_t last = row->n_messages;
    while (last > 0 && row->messages[last - 1].role != VT_ROLE_ASSISTANT) last--;
    if (last == 0) return vt_err("no assistant turn to compare with");
    const vt_message *ref = &row->messages[last - 1];
    *reference = ref->n_parts && ref->parts[0].kind == VT_PART_TEXT ? ref->parts[0].text : "";
    vt_sample prompt = *row;
    prompt.n_messages = last - 1;
    vt_generate_options o = {.max_tokens = max_tokens, .eos = s->generation.eos, .n_eos = s->generation.n_eos};
    vt_encoded e;
    vt_generation g = {0};
    size_t len;
    int rc = vt_encode_sample(&prompt, s->tok, &s->images, true, &e);
    if (rc == 0) rc = vt_generate(s->model, &e, &o, NULL, NULL, &g) || vt_tokenizer_decode(s->tok, g.ids, g.n, text, &len);
    vt_encoded_clear(&e);
    free(g.ids);
    return rc;
}

static int eval_row(const vt_session *s, const vt_sample *row, const vt_eval_options *o, vt_eval_row *r,
                    char **generated, double *loss_sum) {
    vt_encoded e;
    TRY(vt_encode_sample(row, s->tok, &s->images, false, &e));
    int rc = row_loss(s->model, &e, loss_sum, &r->tokens);
    vt_encoded_clear(&e);
    TRY(rc);
    r->loss = r->tokens ? *loss_sum / (double)r->tokens : 0;
    if (!o->generate) return 0;
    TRY(answer(s, row, o->max_tokens > 0 ? o->max_tokens : 64, generated, &r->reference));
    r->generated = *generated;
    r->f1 = vt_token_f1(*generated, r->reference, &r->exact);
    return 0;
}

int vt_eval_dataset(const vt_session *s, const vt_dataset *ds, const vt_eval_options *o,
                    int (*on_row)(void *ctx, const vt_eval_row *row), void *ctx, vt_eval_result *out) {
    if (!s->model) return vt_err("evaluation needs the model's weights");
    vt_eval_result res = {0};
    double loss_sum = 0;
    for (size_t i = 0; i < ds->n_samples; i++) {
        const vt_sample *row = &ds->samples[i];
        vt_eval_row r = {.index = i, .line = row->line, .sample = row};
        char *generated = NULL;
        double sum = 0;
        int rc = eval_row(s, row, o, &r, &generated, &sum);
        if (rc == 0 && on_row) rc = on_row(ctx, &r);
        free(generated);
        if (rc) return vt_err_context("%s:%zu", ds->path, row->line);
        loss_sum += sum, res.tokens += r.tokens, res.rows++;
        res.exact_match += r.exact, res.f1 += r.f1;
    }
    res.loss = res.tokens ? loss_sum / (double)res.tokens : NAN;
    res.perplexity = exp(res.loss);
    if (res.rows) res.exact_match /= (double)res.rows, res.f1 /= (double)res.rows;
    *out = res;
    return 0;
}

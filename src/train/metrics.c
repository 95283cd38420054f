#include "train/metrics.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fs.h"

static int push(vt_point **pts, size_t *n, size_t *cap, long step, double value) {
    if (*n == *cap) {
        size_t grown = *cap ? *cap * 2 : 64;
        vt_point *p = realloc(*pts, grown * sizeof *p);
        if (!p) return vt_err("out of memory");
        *pts = p;
        *cap = grown;
    }
    (*pts)[(*n)++] = (vt_point){step, value};
    return 0;
}

/* Reads back earlier lines of metrics.jsonl ({"step", "loss"} and {"step", "val_loss"}) up to
 * step `keep`; when later lines exist (written after the checkpoint a run resumes from), the
 * file is rewritten without them, atomically. */
static int replay(vt_metrics *m, const char *path, long keep) {
    char *text, *kept;
    size_t len, n_kept = 0;
    if (!vt_path_exists(path)) return 0;
    TRY(vt_read_file(path, &text, &len));
    if (!(kept = malloc(len + 1))) {
        free(text);
        return vt_err("out of memory");
    }
    int rc = 0;
    bool dropped = false;
    for (char *line = strtok(text, "\n"); line && rc == 0; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *step = cJSON_GetObjectItem(o, "step"), *loss = cJSON_GetObjectItem(o, "loss"),
                    *val = cJSON_GetObjectItem(o, "val_loss");
        bool later = cJSON_IsNumber(step) && (long)step->valuedouble > keep;
        dropped |= later || !o;
        if (o && !later) {
            size_t l = strlen(line);
            memcpy(kept + n_kept, line, l);
            kept[n_kept + l] = '\n';
            n_kept += l + 1;
        }
        if (later) {
        } else if (cJSON_IsNumber(step) && cJSON_IsNumber(loss)) {
            rc = push(&m->train, &m->n_train, &m->cap_train, (long)step->valuedouble, loss->valuedouble);
        } else if (cJSON_IsNumber(step) && cJSON_IsNumber(val)) {
            rc = push(&m->valid, &m->n_valid, &m->cap_valid, (long)step->valuedouble, val->valuedouble);
        }
        cJSON_Delete(o); /* lines torn by a crash are dropped */
    }
    if (rc == 0 && dropped) rc = vt_write_file_atomic(path, kept, n_kept);
    free(kept);
    free(text);
    return rc;
}

int vt_metrics_open(vt_metrics *m, const char *path, long keep_through_step) {
    *m = (vt_metrics){0};
    TRY(replay(m, path, keep_through_step));
    m->file = fopen(path, "a");
    if (!m->file) {
        vt_metrics_close(m);
        return vt_err("%s: cannot open for appending", path);
    }
    return 0;
}

static int write_line(vt_metrics *m, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return vt_err("out of memory");
    int bad = fprintf(m->file, "%s\n", s) < 0 || fflush(m->file) != 0;
    free(s);
    return bad ? vt_err("writing metrics failed") : 0;
}

int vt_metrics_train(vt_metrics *m, const vt_train_report *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)r->step);
    cJSON_AddNumberToObject(o, "epoch", r->epoch);
    cJSON_AddNumberToObject(o, "loss", r->loss);
    cJSON_AddNumberToObject(o, "lr", r->lr);
    cJSON_AddNumberToObject(o, "grad_norm", r->grad_norm);
    cJSON_AddNumberToObject(o, "tokens_per_s", r->tokens_per_s);
    cJSON_AddNumberToObject(o, "trained_tokens", r->trained_tokens);
    cJSON_AddNumberToObject(o, "ms_per_step", r->ms_per_step);
    cJSON_AddNumberToObject(o, "peak_mem_gb", r->peak_mem_gb);
    if (m->world_size > 0) cJSON_AddNumberToObject(o, "world_size", m->world_size);
    TRY(write_line(m, o));
    return push(&m->train, &m->n_train, &m->cap_train, r->step, r->loss);
}

int vt_metrics_valid(vt_metrics *m, long step, double loss) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)step);
    cJSON_AddNumberToObject(o, "val_loss", loss);
    cJSON_AddNumberToObject(o, "val_ppl", exp(loss));
    if (m->world_size > 0) cJSON_AddNumberToObject(o, "world_size", m->world_size);
    TRY(write_line(m, o));
    return push(&m->valid, &m->n_valid, &m->cap_valid, step, loss);
}

void vt_metrics_close(vt_metrics *m) {
    if (m->file) fclose(m->file);
    free(m->train);
    free(m->valid);
    *m = (vt_metrics){0};
}

/* ---------------------------------------------------------------- plot ---- */

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} strbuf;

static void put(strbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(strbuf *s, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (n < 0) { s->failed = 1; return; }
        if (s->len + (size_t)n < s->cap) { s->len += (size_t)n; return; }
        size_t cap = (s->cap + (size_t)n + 1) * 2;
        char *grown = realloc(s->buf, cap);
        if (!grown) { s->failed = 1; return; }
        s->buf = grown;
        s->cap = cap;
    }
}

enum { W = 720, H = 420, L = 70, R = 20, T = 30, B = 50 };

static void polyline(strbuf *s, const vt_point *p, size_t n, double x0, double x1, double y0, double y1,
                     const char *color) {
    if (!n) return;
    put(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (size_t i = 0; i < n; i++) {
        double x = L + (x1 > x0 ? (p[i].step - x0) / (x1 - x0) : 0.5) * (W - L - R);
        double y = T + (y1 > y0 ? (y1 - p[i].value) / (y1 - y0) : 0.5) * (H - T - B);
        put(s, "%.1f,%.1f ", x, y);
    }
    put(s, "\"/>\n");
}

int vt_metrics_plot(const vt_metrics *m, const char *svg_path) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    const vt_point *series[2] = {m->train, m->valid};
    size_t counts[2] = {m->n_train, m->n_valid};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < counts[k]; i++) {
            if (!isfinite(series[k][i].value)) continue;
            x0 = fmin(x0, (double)series[k][i].step), x1 = fmax(x1, (double)series[k][i].step);
            y0 = fmin(y0, series[k][i].value), y1 = fmax(y1, series[k][i].value);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    strbuf s = {0};
    put(&s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    put(&s, "<text x=\"%d\" y=\"18\" font-size=\"14\">vlmtune: loss by optimizer step</text>\n", L);
    put(&s, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
    put(&s, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T, L, H - B);
    for (int i = 0; i <= 4; i++) {
        double v = y0 + (y1 - y0) * i / 4.0, st = x0 + (x1 - x0) * i / 4.0;
        put(&s, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6,
            H - B - (H - T - B) * i / 4.0 + 4, v);
        put(&s, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", L + (W - L - R) * i / 4.0,
            H - B + 18, st);
    }
    put(&s, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", (L + W - R) / 2, H - 8);
    polyline(&s, m->train, m->n_train, x0, x1, y0, y1, "#1f77b4");
    polyline(&s, m->valid, m->n_valid, x0, x1, y0, y1, "#d62728");
    put(&s, "<text x=\"%d\" y=\"%d\" fill=\"#1f77b4\">training</text>\n", W - R - 140, T + 12);
    put(&s, "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">validation</text>\n", W - R - 70, T + 12);
    put(&s, "</svg>\n");
    int rc = s.failed ? vt_err("out of memory drawing the plot") : vt_write_file_atomic(svg_path, s.buf, s.len);
    free(s.buf);
    return rc;
}

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
    cJSON_AddNumberToObject(o, "host_ms", r->host_ms);
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

/* The canvas and the plot box inside it (pixels). */
enum { W = 720, H = 440, L = 80, R = 20, T = 40, B = 60 };

/* Round ticks over [lo, hi]: a step of 1, 2 or 5 times a power of ten giving about five intervals (at
 * least 1 for an integer axis), and the axis widened to whole steps so the ticks start and end it. */
typedef struct {
    double lo, hi, step;
    int decimals; /* what the labels need to show the step exactly */
} axis;

static axis nice_axis(double lo, double hi, bool integer) {
    if (!(hi > lo)) {
        double pad = integer ? 1 : (fabs(lo) > 0 ? fabs(lo) * 0.1 : 1);
        lo -= pad, hi += pad;
    }
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), step = 10 * mag;
    const double mult[] = {1, 2, 5};
    for (int i = 2; i >= 0; i--)
        if (mult[i] * mag >= raw * (1 - 1e-9)) step = mult[i] * mag;
    if (integer && step < 1) step = 1;
    axis a = {.step = step};
    a.lo = floor(lo / step + 1e-9) * step;
    a.hi = ceil(hi / step - 1e-9) * step;
    a.decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (a.decimals > 9) a.decimals = 9;
    return a;
}

static double x_of(const axis *a, double step) { return L + (step - a->lo) / (a->hi - a->lo) * (W - L - R); }
static double y_of(const axis *a, double v) { return (H - B) - (v - a->lo) / (a->hi - a->lo) * (H - T - B); }

/* A series: a polyline through its finite points (a non-finite one breaks the line), and, for validation,
 * an open circle on each point; the dashes and circles tell it from training without colour. */
static void series(strbuf *s, const vt_point *p, size_t n, const axis *ax, const axis *ay, const char *cls,
                   const char *color, const char *dashes, bool markers) {
    bool open = false;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(p[i].value)) {
            if (open) put(s, "\"/>\n");
            open = false;
            continue;
        }
        if (!open)
            put(s, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s points=\"", cls, color,
                dashes ? " stroke-dasharray=\"" : "", dashes ? dashes : "", dashes ? "\"" : "");
        open = true;
        put(s, "%.1f,%.1f ", x_of(ax, (double)p[i].step), y_of(ay, p[i].value));
    }
    if (open) put(s, "\"/>\n");
    for (size_t i = 0; markers && i < n; i++)
        if (isfinite(p[i].value))
            put(s, "<circle class=\"%s-point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"white\" stroke=\"%s\" "
                   "stroke-width=\"1.5\"/>\n", cls, x_of(ax, (double)p[i].step), y_of(ay, p[i].value), color);
}

static void ticks(strbuf *s, const axis *ax, const axis *ay) {
    int nx = (int)llround((ax->hi - ax->lo) / ax->step), ny = (int)llround((ay->hi - ay->lo) / ay->step);
    for (int i = 0; i <= nx; i++) {
        double v = ax->lo + i * ax->step, x = x_of(ax, v);
        put(s, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e4e4e4\"/>\n", x, T, x, H - B);
        put(s, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", x, H - B, x, H - B + 5);
        put(s, "<text class=\"tick x\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f</text>\n", x, H - B + 19,
            ax->decimals, v);
    }
    for (int i = 0; i <= ny; i++) {
        double v = ay->lo + i * ay->step, y = y_of(ay, v);
        put(s, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", L, y, W - R, y);
        put(s, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n", L - 5, y, L, y);
        put(s, "<text class=\"tick y\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%.*f</text>\n",
            L - 8, y, ay->decimals, v);
    }
}

/* Top right, inside the plot box: a sample of each series' line (and marker) with its name. */
static void legend(strbuf *s, const vt_metrics *m) {
    int rows = (m->n_train > 0) + (m->n_valid > 0), x = W - R - 170, y = T + 8;
    if (!rows) return;
    put(s, "<g class=\"legend\">\n<rect x=\"%d\" y=\"%d\" width=\"160\" height=\"%d\" fill=\"white\" stroke=\"#999\"/>\n", x,
        y, 10 + 20 * rows);
    int row_y = y + 15;
    if (m->n_train) {
        put(s, "<line class=\"train\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n",
            x + 10, row_y, x + 40, row_y);
        put(s, "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">training loss</text>\n", x + 48, row_y);
        row_y += 20;
    }
    if (m->n_valid) {
        put(s, "<line class=\"valid\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#d62728\" stroke-width=\"2\" "
               "stroke-dasharray=\"6 4\"/>\n", x + 10, row_y, x + 40, row_y);
        put(s, "<circle cx=\"%d\" cy=\"%d\" r=\"3.5\" fill=\"white\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n",
            x + 25, row_y);
        put(s, "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">validation loss</text>\n", x + 48, row_y);
    }
    put(s, "</g>\n");
}

int vt_metrics_plot(const vt_metrics *m, const char *svg_path) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    const vt_point *all[2] = {m->train, m->valid};
    size_t counts[2] = {m->n_train, m->n_valid};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < counts[k]; i++) {
            if (!isfinite(all[k][i].value)) continue;
            x0 = fmin(x0, (double)all[k][i].step), x1 = fmax(x1, (double)all[k][i].step);
            y0 = fmin(y0, all[k][i].value), y1 = fmax(y1, all[k][i].value);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    axis ax = nice_axis(x0, x1, true), ay = nice_axis(y0, y1, false);
    strbuf s = {0};
    put(&s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
        W, H, W, H);
    put(&s, "<text x=\"%d\" y=\"22\" font-size=\"15\">vlmtune: loss by optimizer step</text>\n", L);
    ticks(&s, &ax, &ay);
    put(&s, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", L, T, W - L - R,
        H - T - B);
    put(&s, "<text class=\"axis-title x\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">optimizer step</text>\n",
        (L + W - R) / 2, H - 14);
    put(&s, "<text class=\"axis-title y\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\" "
            "transform=\"rotate(-90 %d %d)\">loss (cross-entropy per supervised token)</text>\n",
        18, (T + H - B) / 2, 18, (T + H - B) / 2);
    series(&s, m->train, m->n_train, &ax, &ay, "train", "#1f77b4", NULL, m->n_train == 1);
    series(&s, m->valid, m->n_valid, &ax, &ay, "valid", "#d62728", "6 4", true);
    legend(&s, m);
    put(&s, "</svg>\n");
    int rc = s.failed ? vt_err("out of memory drawing the plot") : vt_write_file_atomic(svg_path, s.buf, s.len);
    free(s.buf);
    return rc;
}

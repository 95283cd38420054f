/* progress.c — the training run as a person watches it.
 *
 * On a terminal, the live bar's fields go as the width shrinks, in this order (the bar itself first
 * narrows from 40 to 10 cells):
 *   memory, tokens/s, the bar, ETA, loss — percentage and step/total stay; past that the text is cut.
 * Nothing drawn reaches the last column, where some terminals wrap and leave a stale row per redraw.
 * Lines kept in the scrollback (the start line, report lines, validation) are broken between their
 * fields to fit the width on a terminal; piped, every line is one line, as before. */
#include "cli/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/clock.h"

void vt_format_duration(double s, char *buf, size_t cap) {
    if (!isfinite(s) || s < 0) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

/* The terminal's columns: the window size of `f`, else $COLUMNS, else 80. Asked at every redraw, so a
 * resized window is followed. */
static int terminal_width(FILE *f) {
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *columns = getenv("COLUMNS");
    long n = columns ? strtol(columns, NULL, 10) : 0;
    return n > 0 && n < 10000 ? (int)n : 80;
}

/* Columns usable without touching the last one. */
static int usable_width(const vt_progress *p) {
    int w = terminal_width(p->out) - 1;
    return w > 1 ? w : 1;
}

static void clear_bar(vt_progress *p) {
    if (!p->bar_shown) return;
    fputs("\r\033[K", p->out);
    p->bar_shown = false;
}

/* A line for the scrollback made of fields joined by `sep`: one line when piped; on a terminal, as many
 * rows as the width needs, broken between fields (continuation rows indented by two spaces; a field
 * longer than a row is broken where the row ends). */
static void fields_line(vt_progress *p, const char *const *fields, size_t n, const char *sep) {
    clear_bar(p);
    int width = p->tty ? usable_width(p) : 1 << 30, indent = width > 8 ? 2 : 0, col = 0;
    int seplen = (int)strlen(sep);
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i];
        int len = (int)strlen(f);
        if (i > 0 && col + seplen + len <= width) {
            fputs(sep, p->out);
            col += seplen;
        } else if (i > 0) {
            fprintf(p->out, "\n%*s", indent, "");
            col = indent;
        }
        while (len > 0) {
            int room = width - col, take = len < room ? len : room;
            while (take > 0 && take < len && ((unsigned char)f[take] & 0xC0) == 0x80) take--; /* whole UTF-8 */
            if (take == 0) /* a row narrower than one character: the character anyway */
                for (take = 1; take < len && ((unsigned char)f[take] & 0xC0) == 0x80; take++) {}
            fwrite(f, 1, (size_t)take, p->out);
            f += take, len -= take, col += take;
            if (len > 0) {
                fprintf(p->out, "\n%*s", indent, "");
                col = indent;
            }
        }
    }
    fputc('\n', p->out);
    fflush(p->out);
}

static double eta(const vt_progress *p, const vt_train_report *r) {
    long done = r->step - p->first_step;
    return done > 0 ? (vt_now() - p->started) / (double)done * (double)(r->total_steps - r->step) : NAN;
}

static void report_line(vt_progress *p, const vt_train_report *r) {
    char f[10][64], left[32];
    vt_format_duration(eta(p, r), left, sizeof left);
    snprintf(f[0], sizeof f[0], "step %ld/%ld", r->step, r->total_steps);
    snprintf(f[1], sizeof f[1], "epoch %.2f", r->epoch);
    snprintf(f[2], sizeof f[2], "loss %.4f", r->loss);
    snprintf(f[3], sizeof f[3], "lr %.2e", r->lr);
    snprintf(f[4], sizeof f[4], "%.0f tok/s", r->tokens_per_s);
    snprintf(f[5], sizeof f[5], "trained %.0f tok", r->trained_tokens);
    snprintf(f[6], sizeof f[6], "peak %.2f GB", r->peak_mem_gb);
    snprintf(f[7], sizeof f[7], "%.0f ms/step", r->ms_per_step);
    snprintf(f[8], sizeof f[8], "ETA %s", left);
    const char *fields[9];
    for (int i = 0; i < 9; i++) fields[i] = f[i];
    fields_line(p, fields, 9, " | ");
}

/* The live bar's optional fields, in the order they are dropped. */
enum { FIELD_MEMORY, FIELD_SPEED, FIELD_BAR, FIELD_ETA, FIELD_LOSS, N_OPTIONAL };

/* "[#####.....]  42% 42/100 | ETA 1m20s | loss 1.2345 | 1234 tok/s | peak 3.21 GB" with `bar` cells
 * (0: no bar) and the fields `keep` allows; returns its length. */
static int compose_bar(char *out, size_t cap, const vt_train_report *r, const char *left, int bar,
                       const bool keep[N_OPTIONAL]) {
    double done = r->total_steps ? (double)r->step / (double)r->total_steps : 1;
    int k = 0, fill = (int)(done * bar + 0.5);
    if (keep[FIELD_BAR] && bar > 0) {
        out[k++] = '[';
        for (int i = 0; i < bar; i++) out[k++] = i < fill ? '#' : '.';
        out[k++] = ']';
        out[k++] = ' ';
    }
    k += snprintf(out + k, cap - (size_t)k, "%3.0f%% %ld/%ld", 100 * done, r->step, r->total_steps);
    if (keep[FIELD_ETA]) k += snprintf(out + k, cap - (size_t)k, " | ETA %s", left);
    if (keep[FIELD_LOSS]) k += snprintf(out + k, cap - (size_t)k, " | loss %.4f", r->loss);
    if (keep[FIELD_SPEED]) k += snprintf(out + k, cap - (size_t)k, " | %.0f tok/s", r->tokens_per_s);
    if (keep[FIELD_MEMORY]) k += snprintf(out + k, cap - (size_t)k, " | peak %.2f GB", r->peak_mem_gb);
    return k;
}

void vt_progress_bar_text(const vt_train_report *r, double eta_seconds, int width, char *out, size_t cap) {
    char left[32];
    vt_format_duration(eta_seconds, left, sizeof left);
    bool keep[N_OPTIONAL] = {true, true, true, true, true};
    for (int dropped = 0; dropped <= N_OPTIONAL; dropped++) {
        if (dropped > 0) keep[dropped - 1] = false;
        if (keep[FIELD_BAR]) { /* the bar takes what the figures leave: 40 cells at most, 10 at least */
            bool figures[N_OPTIONAL];
            memcpy(figures, keep, sizeof figures);
            figures[FIELD_BAR] = false;
            int bar = width - compose_bar(out, cap, r, left, 0, figures) - 3; /* brackets and a space */
            if (bar >= 10) {
                compose_bar(out, cap, r, left, bar > 40 ? 40 : bar, keep);
                return;
            }
        } else if (compose_bar(out, cap, r, left, 0, keep) <= width) {
            return;
        }
    }
    if (width >= 0 && (size_t)width < cap) out[width] = 0; /* narrower than "100% 1000/1000": cut */
}

static void draw_bar(vt_progress *p, const vt_train_report *r) {
    char text[512];
    p->last = *r;
    vt_progress_bar_text(r, eta(p, r), usable_width(p), text, sizeof text);
    fprintf(p->out, "\r\033[K%s", text);
    fflush(p->out);
    p->bar_shown = true;
}

/* A line of its own: the bar (if any) makes room first and comes back under it, so a terminal shows the
 * bar through validation and checkpoints too.  On a terminal the line is broken between words. */
static void line(vt_progress *p, const char *text) {
    bool bar = p->bar_shown;
    if (!p->tty) {
        fields_line(p, &text, 1, "");
    } else {
        char copy[1024], *save = NULL;
        const char *words[256];
        size_t n = 0;
        snprintf(copy, sizeof copy, "%s", text);
        for (char *w = strtok_r(copy, " ", &save); w && n < 256; w = strtok_r(NULL, " ", &save)) words[n++] = w;
        fields_line(p, words, n, " ");
    }
    if (bar) draw_bar(p, &p->last);
}

static void on_start(void *ctx, const vt_train_start *s) {
    vt_progress *p = ctx;
    char text[1024];
    snprintf(text, sizeof text, "%s %zu layers (%zu trainable parameters, %.2f%% of %.3f B); %zu training rows%s; "
                                "%ld steps; world size %d%s%s",
             s->fine_tune_type, s->adapted_layers, s->trainable_params, 100.0 * (double)s->trainable_params / s->model_params,
             s->model_params / 1e9, s->train_rows, s->valid_rows ? "" : ", no validation", s->total_steps,
             s->world_size, s->resumed_from ? ", resuming from " : "", s->resumed_from ? s->resumed_from : "");
    line(p, text);
    if (s->estimated_peak_bytes > 0) {
        snprintf(text, sizeof text, "memory: %.2f GB after setup, about %.2f GB at a step's peak (estimated)%s",
                 s->setup_bytes / 1e9, s->estimated_peak_bytes / 1e9, "");
        if (s->device_bytes > 0)
            snprintf(text + strlen(text), sizeof text - strlen(text), ", of %.1f GB", s->device_bytes / 1e9);
        line(p, text);
    }
    p->first_step = s->first_step;
    p->started = vt_now();
}

static void on_step(void *ctx, const vt_train_report *r, bool report) {
    vt_progress *p = ctx;
    if (r->skipped) {
        char text[256];
        snprintf(text, sizeof text, "step %ld: non-finite loss (%g) or gradient norm (%g): update skipped", r->step,
                 r->loss, r->grad_norm);
        line(p, text);
    }
    if (report) report_line(p, r);
    if (p->tty && r->step < r->total_steps) draw_bar(p, r);
    else clear_bar(p); /* the run's last lines come without a bar */
}

static void on_valid(void *ctx, long step, double loss, bool best) {
    vt_progress *p = ctx;
    char text[256];
    snprintf(text, sizeof text, "valid step %ld: loss %.4f, perplexity %.3f%s", step, loss, exp(loss),
             best ? " (best so far)" : "");
    line(p, text);
}

vt_train_callbacks vt_progress_callbacks(vt_progress *p, FILE *out) {
    *p = (vt_progress){.out = out, .tty = isatty(fileno(out)), .started = vt_now()};
    return (vt_train_callbacks){.ctx = p, .log = stderr, .on_start = on_start, .on_step = on_step, .on_valid = on_valid};
}

void vt_progress_end(vt_progress *p) {
    clear_bar(p);
    fflush(p->out);
}

/* progress.c — the training run as a person watches it. */
#include "cli/progress.h"

#include <math.h>
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

static int terminal_width(FILE *f) {
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

static void clear_bar(vt_progress *p) {
    if (!p->bar_shown) return;
    fputs("\r\033[K", p->out);
    p->bar_shown = false;
}

/* A line of its own: the bar (if any) makes room first. */
static void line(vt_progress *p, const char *text) {
    clear_bar(p);
    fputs(text, p->out);
    fputc('\n', p->out);
    fflush(p->out);
}

static double eta(const vt_progress *p, const vt_train_report *r) {
    long done = r->step - p->first_step;
    return done > 0 ? (vt_now() - p->started) / (double)done * (double)(r->total_steps - r->step) : NAN;
}

static void report_line(vt_progress *p, const vt_train_report *r) {
    char text[512], left[32];
    vt_format_duration(eta(p, r), left, sizeof left);
    snprintf(text, sizeof text,
             "step %ld/%ld | epoch %.2f | loss %.4f | lr %.2e | %.0f tok/s | trained %.0f tok | peak %.2f GB | "
             "%.0f ms/step | ETA %s",
             r->step, r->total_steps, r->epoch, r->loss, r->lr, r->tokens_per_s, r->trained_tokens, r->peak_mem_gb,
             r->ms_per_step, left);
    line(p, text);
}

/* [#######.........]  42% 42/100 ETA 1m20s | loss 1.2345 | 1234 tok/s | 3.21 GB — cut to the width. */
static void draw_bar(vt_progress *p, const vt_train_report *r) {
    int width = terminal_width(p->out) - 1; /* the last column would wrap on some terminals */
    char left[32], tail[160], text[512];
    vt_format_duration(eta(p, r), left, sizeof left);
    double done = r->total_steps ? (double)r->step / (double)r->total_steps : 1;
    int n = snprintf(tail, sizeof tail, " %3.0f%% %ld/%ld ETA %s | loss %.4f | %.0f tok/s | %.2f GB", 100 * done,
                     r->step, r->total_steps, left, r->loss, r->tokens_per_s, r->peak_mem_gb);
    int bar = width - n - 2;
    if (bar > 40) bar = 40;
    if (bar < 10) bar = 0; /* a narrow terminal keeps the figures and drops the bar */
    int fill = (int)(done * bar + 0.5), k = 0;
    if (bar) {
        text[k++] = '[';
        for (int i = 0; i < bar; i++) text[k++] = i < fill ? '#' : '.';
        text[k++] = ']';
    }
    snprintf(text + k, sizeof text - (size_t)k, "%s", tail);
    if ((int)strlen(text) > width) text[width] = 0;
    fprintf(p->out, "\r\033[K%s", text);
    fflush(p->out);
    p->bar_shown = true;
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

/* The live progress bar as the width shrinks: never longer than the width, and fields leave in the stated
 * order (memory, tokens/s, the bar, ETA, loss), the percentage and step/total staying while they fit.
 * progress.c belongs to the CLI, not the library, so it is compiled into this test. */
#include "../src/cli/progress.c"

#include "test.h"

/* Each row of text: at most `width` bytes (so at most that many columns) and whole UTF-8 characters. */
static bool rows_fit(const char *text, int width) {
    for (const char *row = text; *row;) {
        const char *end = strchr(row, '\n');
        if (!end || end - row > width) return false;
        for (const char *c = row; c < end; c++) { /* a lead byte must have all its continuation bytes before end */
            unsigned char b = (unsigned char)*c;
            int more = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
            if ((b & 0xC0) == 0x80) return false; /* a continuation byte without its lead */
            for (int k = 1; k <= more; k++)
                if (c + k >= end || ((unsigned char)c[k] & 0xC0) != 0x80) return false;
            c += more;
        }
        row = end + 1;
    }
    return true;
}

static bool has(const char *s, const char *what) { return strstr(s, what) != NULL; }

static int bar_cells(const char *s) {
    if (s[0] != '[') return 0;
    const char *end = strchr(s, ']');
    return end ? (int)(end - s - 1) : -1;
}

int main(void) {
    TEST_BEGIN();
    vt_train_report r = {.step = 42, .total_steps = 100, .loss = 1.2345, .tokens_per_s = 1234, .peak_mem_gb = 3.21};
    char out[512];
    const char *figures = " 42% 42/100 | ETA 1m20s | loss 1.2345 | 1234 tok/s | peak 3.21 GB";
    for (int width = 1; width <= 200; width++) {
        vt_progress_bar_text(&r, 80, width, out, sizeof out);
        CHECK((int)strlen(out) <= width);
        bool mem = has(out, "peak 3.21 GB"), speed = has(out, "1234 tok/s"), bar = out[0] == '[',
             eta = has(out, "ETA 1m20s"), loss = has(out, "loss 1.2345");
        CHECK(!mem || speed);      /* memory goes first */
        CHECK(!speed || bar);      /* then tokens/s */
        CHECK(!bar || eta);        /* then the bar */
        CHECK(!eta || loss);       /* then ETA, then loss */
        if (width >= 11) CHECK(has(out, " 42% 42/100")); /* percentage and step/total stay while they fit */
        if (bar) {
            int cells = bar_cells(out);
            CHECK(cells >= 10 && cells <= 40);
            /* 42% of the cells filled, rounded */
            int filled = 0;
            for (int i = 1; i <= cells; i++) filled += out[i] == '#';
            CHECK(filled == (int)(0.42 * cells + 0.5));
        }
        if (width >= 3 + 40 + (int)strlen(figures)) CHECK(bar_cells(out) == 40 && mem);
        if (width == 79) CHECK(mem && bar_cells(out) == 79 - 3 - (int)strlen(figures)); /* 80 columns: all of it */
    }
    vt_progress_bar_text(&r, 80, 40, out, sizeof out); /* 40 columns: memory, tokens/s and the bar are gone */
    CHECK(!strcmp(out, " 42% 42/100 | ETA 1m20s | loss 1.2345"));

    /* scrollback lines on a 20-column terminal ($COLUMNS: a memory stream has no window size) */
    setenv("COLUMNS", "20", 1);
    char *text = NULL;
    size_t len = 0;
    vt_progress p = {.out = open_memstream(&text, &len), .tty = true};
    line(&p, "resuming from /données/exécution/été-2026/checkpoints/step-0000100");
    line(&p, "from /éééééééééééééééééééééééééééééé");
    report_line(&p, &r);
    fclose(p.out);
    CHECK(rows_fit(text, 19));
    CHECK(strstr(text, "\n  loss 1.2345\n") != NULL); /* fields that fit a row are never split */
    free(text);
    return TEST_END();
}

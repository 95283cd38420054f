/* Metrics: JSON lines survive a reopen, truncation for resume, and the SVG plot's coordinates. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "train/metrics.h"
#include "util/fs.h"

int main(void) {
    TEST_BEGIN();
    char dir[] = "/tmp/vt_metrics_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], svg[256];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    snprintf(svg, sizeof svg, "%s/loss.svg", dir);
    vt_metrics m;
    CHECK_OK(vt_metrics_open(&m, path, LONG_MAX));
    double losses[] = {2.0, 1.0, 0.5};
    for (int i = 0; i < 3; i++) {
        vt_train_report r = {.step = i * 10, .total_steps = 20, .loss = losses[i], .lr = 1e-4};
        CHECK_OK(vt_metrics_train(&m, &r));
    }
    CHECK_OK(vt_metrics_valid(&m, 20, 1.5));
    vt_metrics_close(&m);

    CHECK_OK(vt_metrics_open(&m, path, LONG_MAX)); /* replays the history */
    CHECK(m.n_train == 3 && m.n_valid == 1);
    CHECK(m.train[2].step == 20 && m.train[2].value == 0.5 && m.valid[0].value == 1.5);
    CHECK_OK(vt_metrics_plot(&m, svg));
    char *text;
    size_t len;
    CHECK_OK(vt_read_file(svg, &text, &len));
    /* steps 0..20 are already whole ticks (step 5), losses 0.5..2.0 too (step 0.5): they span the plot box
     * of the 720x440 canvas, x 80..700 and y 380..40; 1.0 is a third of the way up: 380 - 340/3 */
    CHECK(strncmp(text, "<svg", 4) == 0);
    CHECK(strstr(text, "80.0,40.0 390.0,266.7 700.0,380.0") != NULL);
    CHECK(strstr(text, "cx=\"700.0\" cy=\"153.3\"") != NULL); /* validation 1.5 at step 20, marked */
    CHECK(strstr(text, "x=\"390.0\" y=\"399\" text-anchor=\"middle\">10</text>") != NULL);  /* tick 10 */
    CHECK(strstr(text, "y=\"266.7\" text-anchor=\"end\" dominant-baseline=\"middle\">1.0</text>") != NULL);
    CHECK(strstr(text, "stroke-dasharray") != NULL && strstr(text, "class=\"legend\"") != NULL);
    free(text);

    /* a skipped step's loss (NaN) breaks the line and never reaches the drawing */
    vt_metrics nan_run = {0};
    nan_run.train = (vt_point[]){{1, 3.0}, {2, NAN}, {3, 2.0}, {4, 1.5}};
    nan_run.n_train = 4;
    CHECK_OK(vt_metrics_plot(&nan_run, svg));
    CHECK_OK(vt_read_file(svg, &text, &len));
    CHECK(!strstr(text, "nan,") && !strstr(text, ",nan") && !strstr(text, "\"nan") && !strstr(text, "inf"));
    const char *first = strstr(text, "<polyline"), *second = first ? strstr(first + 1, "<polyline") : NULL;
    CHECK(first && second && !strstr(second + 1, "<polyline")); /* two pieces */
    free(text);

    vt_metrics_close(&m);
    /* resuming from step 10: later lines leave the series and the file */
    CHECK_OK(vt_metrics_open(&m, path, 10));
    CHECK(m.n_train == 2 && m.n_valid == 0);
    vt_metrics_close(&m);
    CHECK_OK(vt_metrics_open(&m, path, LONG_MAX));
    CHECK(m.n_train == 2 && m.n_valid == 0);
    vt_metrics_close(&m);
    CHECK_FAILS(vt_metrics_open(&m, "/nonexistent/dir/metrics.jsonl", LONG_MAX), "cannot open for appending");
    vt_remove_tree(dir);
    return TEST_END();
}

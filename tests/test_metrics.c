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
    /* steps 0..20 map to x 70..700, losses 2.0..0.5 to y 30..370 (plot box of the 720×420 canvas) */
    CHECK(strncmp(text, "<svg", 4) == 0);
    CHECK(strstr(text, "70.0,30.0 385.0,256.7 700.0,370.0") != NULL);
    CHECK(strstr(text, "700.0,143.3") != NULL); /* validation 1.5 at step 20 */
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

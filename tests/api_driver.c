/* api_driver.c — the public C API (include/vlmtune.h) as a small command line, so that tests can set its
 * results beside the CLI's (tests/py/test_api.py).  Built by tests/CMakeLists.txt; not a ctest itself.
 *
 *   api_driver train [--stop-at N] [--yaml F] X ARGS...  vlmtune_train(argv = X ARGS); prints "step N loss L"
 *   api_driver eval MODEL ADAPTER|- DATA [generate]     vlmtune_eval; prints the totals
 *   api_driver generate MODEL ADAPTER|- PROMPT [IMAGE]  vlmtune_generate with the model's defaults */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vlmtune.h"

static vlmtune_cancel *cancel;
static long stop_at = -1;

static void on_progress(void *ctx, const vlmtune_progress *p) {
    (void)ctx;
    if (p->reported) printf("step %ld loss %.17g\n", p->step, p->loss);
    if (p->step == stop_at) vlmtune_cancel_request(cancel);
}

static void on_validation(void *ctx, long step, double loss, int best) {
    (void)ctx;
    printf("valid %ld loss %.9g%s\n", step, loss, best ? " best" : "");
}

static int train(int argc, char **argv) {
    const char *yaml = NULL;
    int i = 2;
    for (; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--stop-at")) stop_at = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--yaml")) yaml = argv[i + 1];
        else break;
    }
    cancel = vlmtune_cancel_new();
    if (!cancel) return fprintf(stderr, "api_driver: out of memory\n"), 2;
    vlmtune_train_callbacks cb = {.on_progress = on_progress, .on_validation = on_validation, .cancel = cancel};
    vlmtune_train_result r;
    /* argv[i] is the argv[0] vlmtune_train ignores (the tests pass a placeholder) */
    int rc = vlmtune_train(yaml, argc - i, argv + i, &cb, &r);
    vlmtune_cancel_free(cancel);
    if (rc) return -1;
    printf("done %ld steps, last loss %.9g, interrupted %d\n", r.steps_done, r.last_loss, r.interrupted);
    return 0;
}

static int eval(int argc, char **argv) {
    if (argc < 5) return fprintf(stderr, "usage: api_driver eval MODEL ADAPTER|- DATA [generate]\n"), 2;
    vlmtune_model *m;
    if (vlmtune_load(&m, argv[2], strcmp(argv[3], "-") ? argv[3] : NULL)) return -1;
    vlmtune_eval_options o = {.generate = argc > 5 && !strcmp(argv[5], "generate")};
    vlmtune_eval_result r;
    int rc = vlmtune_eval(m, argv[4], &o, NULL, NULL, &r);
    if (rc == 0) {
        printf("%zu rows, %zu supervised tokens, loss %.4f, perplexity %.3f", r.rows, r.tokens, r.loss, r.perplexity);
        if (o.generate) printf(", exact match %.1f%%, token F1 %.3f", 100.0 * r.exact_match, r.f1);
        printf("\n");
    }
    vlmtune_free(m);
    return rc;
}

static int generate(int argc, char **argv) {
    if (argc < 5) return fprintf(stderr, "usage: api_driver generate MODEL ADAPTER|- PROMPT [IMAGE]\n"), 2;
    vlmtune_model *m;
    if (vlmtune_load(&m, argv[2], strcmp(argv[3], "-") ? argv[3] : NULL)) return -1;
    const char *image = argc > 5 ? argv[5] : NULL;
    char *answer = NULL;
    int rc = vlmtune_generate(m, NULL, &image, image ? 1 : 0, argv[4], NULL, NULL, NULL, &answer);
    if (rc == 0) printf("%s\n", answer);
    free(answer);
    vlmtune_free(m);
    return rc;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    int rc = !strcmp(cmd, "train") ? train(argc, argv)
             : !strcmp(cmd, "eval") ? eval(argc, argv)
             : !strcmp(cmd, "generate") ? generate(argc, argv)
                                        : (fprintf(stderr, "usage: api_driver train|eval|generate ...\n"), 2);
    if (rc < 0) fprintf(stderr, "api_driver: %s\n", vlmtune_last_error());
    return rc < 0 ? 1 : rc;
}

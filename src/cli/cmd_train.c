/* `vlmtune train` — LoRA fine-tuning (see src/train/trainer.h for what a run writes).
 *
 *   vlmtune train --model DIR --data FILE [--valid FILE] --out RUN [--config run.yaml] [options]
 *   vlmtune train --resume RUN [options]
 *
 * Settings: defaults < --config FILE < flags (`vlmtune train --help` lists them).  With
 * --resume and no --config, the run's own config.yaml is the base, so only the flags given
 * change.  SIGINT and SIGTERM stop the run after its next step with a checkpoint written; the
 * exit status is then 130/143 (resumable). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "train/trainer.h"
#include "util/error.h"

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }
static bool should_stop(void *ctx) { return stop_signal != 0; }

/* Runs with SIGINT/SIGTERM turned into a stop request, restoring the handlers after. */
static int train_with_signals(const vt_train_config *cfg, vt_train_result *res) {
    vt_progress progress;
    vt_train_callbacks cb = vt_progress_callbacks(&progress, stdout);
    cb.should_stop = should_stop;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = vt_train(cfg, &cb, res);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    vt_progress_end(&progress);
    return rc;
}

int cmd_train(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: vlmtune train --model DIR --data FILE [--valid FILE] --out RUN [--config run.yaml] [options]\n"
                   "       vlmtune train --resume RUN [options]\n\noptions (YAML key in brackets):\n");
            vt_train_config_print_help(stdout);
            return 0;
        }
    vt_train_config cfg;
    vt_train_config_defaults(&cfg);
    vt_train_result res;
    int rc = vt_train_config_from_args(&cfg, NULL, argc, argv) || train_with_signals(&cfg, &res);
    if (rc == 0 && res.interrupted) {
        printf("interrupted at step %ld: checkpoint written; continue with --resume %s\n", res.steps_done, cfg.out);
        vt_cli_exit_status = 128 + (int)stop_signal;
    } else if (rc == 0) {
        printf("done: %ld steps, last loss %.4f", res.steps_done, res.last_loss);
        if (res.best_step >= 0) printf(", best validation loss %.4f at step %ld", res.best_valid_loss, res.best_step);
        printf("; adapters in %s\n", cfg.out);
    }
    vt_train_config_free(&cfg);
    return rc;
}

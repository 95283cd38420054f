/* `vlmtune train` — LoRA fine-tuning (see src/train/trainer.h for what a run writes).
 *
 *   vlmtune train --model DIR --data FILE [--valid FILE] --out RUN [--config run.yaml] [options]
 *   vlmtune train --resume RUN [options]
 *
 * Settings: defaults < RUN/config.yaml (with --resume and no --config) < --config FILE < flags,
 * resolved by vt_train_config_from_args (`vlmtune train --help` lists them, --help-keys the other
 * tools' key names a --config file may use).  --print-config prints the result instead of training.
 * SIGINT and SIGTERM stop the run after its next step with a checkpoint written; the exit status is
 * then 130/143 (resumable). */
#include <signal.h>
#include <stdbool.h>
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

static bool has_flag(int argc, char **argv, const char *flag) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], flag)) return true;
    return false;
}

int cmd_train(int argc, char **argv) {
    if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
        vt_train_config_print_help(stdout);
        return 0;
    }
    if (has_flag(argc, argv, "--help-keys")) {
        vt_train_config_print_peer_keys(stdout);
        return 0;
    }
    vt_train_config cfg;
    vt_train_config_defaults(&cfg);
    if (has_flag(argc, argv, "--print-config")) {
        int rc = vt_train_config_from_args(&cfg, NULL, argc, argv) || vt_train_config_write_yaml(&cfg, stdout);
        vt_train_config_free(&cfg);
        return rc;
    }
    vt_train_result res = {0};
    int rc = vt_train_config_from_args(&cfg, NULL, argc, argv) || train_with_signals(&cfg, &res);
    bool speaks = res.rank == 0; /* data-parallel: rank 0 reports for the group */
    if (rc == 0 && res.interrupted) {
        if (speaks)
            printf("interrupted at step %ld: checkpoint written; continue with --resume %s\n", res.steps_done, cfg.out);
        /* a rank stopped because another was asked to: the same status as if asked itself */
        vt_cli_exit_status = 128 + (stop_signal ? (int)stop_signal : SIGTERM);
    } else if (rc == 0 && speaks && cfg.dry_run) {
        printf("dry run: the settings, model, data and memory check out; nothing was written\n");
    } else if (rc == 0 && speaks) {
        printf("done: %ld steps, last loss %.4f", res.steps_done, res.last_loss);
        if (res.best_step >= 0) printf(", best validation loss %.4f at step %ld", res.best_valid_loss, res.best_step);
        printf("; adapters in %s\n", cfg.out);
    }
    vt_train_config_free(&cfg);
    return rc;
}

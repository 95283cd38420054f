/* `vlmtune train` — LoRA fine-tuning (see src/train/trainer.h for what a run writes).
 *
 *   vlmtune train --model DIR --data FILE [--valid FILE] --out RUN [--config run.yaml] [options]
 *   vlmtune train --resume RUN [options]
 *
 * Settings: defaults < RUN/config.yaml (with --resume and no --config) < --config FILE < flags,
 * resolved by vt_train_config_from_args (`vlmtune train --help` lists them, --help-keys the other
 * tools' key names a --config file may use).  --print-config prints the result instead of training.
 * Exit status: 0 when finished, 130/143 when stopped by SIGINT/SIGTERM after writing a checkpoint
 * (resumable). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "train/trainer.h"
#include "util/error.h"

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
    int rc = vt_train_config_from_args(&cfg, NULL, argc, argv);
    if (rc == 0 && has_flag(argc, argv, "--print-config")) {
        rc = vt_train_config_write_yaml(&cfg, stdout);
        vt_train_config_free(&cfg);
        return rc;
    }
    vt_train_result res;
    if (rc == 0) rc = vt_train(&cfg, stdout, &res);
    if (rc == 0) {
        if (res.interrupted) vt_cli_exit_status = 128 + res.signal;
        else {
            printf("done: %ld steps, last loss %.4f", res.steps_done, res.last_loss);
            if (res.best_step >= 0) printf(", best validation loss %.4f at step %ld", res.best_valid_loss, res.best_step);
            printf("; adapters in %s\n", cfg.out);
        }
    }
    vt_train_config_free(&cfg);
    return rc;
}

/* `vlmtune train` — LoRA fine-tuning (see src/train/trainer.h for what a run writes).
 *
 *   vlmtune train --model DIR --data FILE [--valid FILE] --out RUN [--config run.yaml] [options]
 *   vlmtune train --resume RUN [options]
 *
 * Settings: defaults < --config FILE < flags (`vlmtune train --help` lists them).  With
 * --resume and no --config, the run's own config.yaml is the base, so only the flags given
 * change.  Exit status: 0 when finished, 130/143 when stopped by SIGINT/SIGTERM after
 * writing a checkpoint (resumable). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/fs.h"

static const char *flag_value(int argc, char **argv, const char *flag) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag)) return argv[i + 1];
    return NULL;
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
    const char *resume = flag_value(argc, argv, "--resume");
    int rc = 0;
    if (resume && !flag_value(argc, argv, "--config")) {
        char path[4200];
        snprintf(path, sizeof path, "%s/config.yaml", resume);
        if (!vt_path_exists(path)) rc = vt_err("--resume %s: config.yaml is missing (is it a run directory?)", resume);
        else rc = vt_train_config_load_yaml(&cfg, path);
    }
    if (rc == 0) rc = vt_train_config_parse_args(&cfg, argc, argv);
    if (rc == 0 && cfg.resume && !cfg.out) { /* resuming continues in the same directory unless told otherwise */
        cfg.out = strdup(cfg.resume);
        if (!cfg.out) rc = vt_err("out of memory");
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

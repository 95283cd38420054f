/* Training configuration: defaults, YAML (mlx-lm key names), flag overrides, errors with file:line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "train/config.h"

static const char *write_file(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/vt_config_%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

int main(void) {
    TEST_BEGIN();
    vt_train_config c;
    vt_train_config_defaults(&c);
    CHECK(c.rank == 8 && c.alpha == 16.0 && c.learning_rate == 1e-4 && !strcmp(c.lr_schedule, "cosine"));

    const char *path = write_file("model: /m\n"
                                  "batch_size: 2\n"
                                  "lora_parameters:\n"
                                  "  rank: 16\n"
                                  "  dropout: 0.05\n"
                                  "  keys: [q_proj, v_proj]\n"
                                  "lr_schedule: linear\n"
                                  "grad_checkpoint: true\n");
    char *argv[] = {"train", "--config", (char *)path, "--rank", "4", "--data", "d.jsonl", "--out", "run",
                    "--train-vision", "--learning-rate", "2e-4"};
    CHECK_OK(vt_train_config_parse_args(&c, 12, argv));
    CHECK(!strcmp(c.model, "/m") && c.batch_size == 2 && c.dropout == 0.05);
    CHECK(c.rank == 4); /* the flag wins over the file */
    CHECK(!strcmp(c.keys, "q_proj,v_proj") && !strcmp(c.lr_schedule, "linear"));
    CHECK(c.grad_checkpoint && c.train_vision && c.learning_rate == 2e-4);
    CHECK_OK(vt_train_config_validate(&c));

    /* the resolved YAML reads back to the same settings */
    FILE *f = fopen(path, "w");
    CHECK_OK(vt_train_config_write_yaml(&c, f));
    fclose(f);
    vt_train_config d;
    vt_train_config_defaults(&d);
    CHECK_OK(vt_train_config_load_yaml(&d, path));
    CHECK(d.rank == 4 && d.dropout == 0.05 && !strcmp(d.keys, "q_proj,v_proj") && d.train_vision &&
          !strcmp(d.out, "run") && d.learning_rate == 2e-4);
    vt_train_config_free(&d);

    vt_train_config_defaults(&d);
    path = write_file("model: /m\nbatch_sise: 2\n");
    char want[128];
    snprintf(want, sizeof want, "%s:2: unknown setting 'batch_sise'", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("lora_parameters:\n  rank: many\n");
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), "lora_parameters.rank: expected an integer, got 'many'");
    path = write_file("model: [unclosed\n");
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, "/nonexistent.yaml"), "/nonexistent.yaml: cannot open");
    char *bad1[] = {"train", "--rnak", "4"};
    CHECK_FAILS(vt_train_config_parse_args(&d, 3, bad1), "unknown option '--rnak'");
    char *bad2[] = {"train", "--rank"};
    CHECK_FAILS(vt_train_config_parse_args(&d, 2, bad2), "needs a value");
    char *bad3[] = {"train", "--dropout", "lots"};
    CHECK_FAILS(vt_train_config_parse_args(&d, 3, bad3), "option --dropout: expected a number");
    free(d.model);
    d.model = strdup("m");
    d.data = strdup("d");
    d.out = strdup("o");
    d.rank = 0;
    CHECK_FAILS(vt_train_config_validate(&d), "rank must be at least 1");
    vt_train_config_free(&d);
    vt_train_config_free(&c);
    unlink(path);
    return TEST_END();
}

/* Training configuration: defaults, YAML (vlmtune's keys and the peers'), flags, errors with
 * FILE:LINE, the written config.yaml, the resolution of a resumed run, and mlx-lm's schedules
 * against MLX's own values (tests/data/peers/mlx_lm_schedules.txt, made and checked by
 * tests/py/test_train_config.py from mlx.optimizers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "train/config.h"

static char tmp_dir[64];

static const char *write_file(const char *name, const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *peer_file(const char *name) {
    static char path[1024];
    const char *root = getenv("VT_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/data/peers/%s", root ? root : "..", name);
    return path;
}

/* The configuration as YAML text (caller frees). */
static char *yaml_text(const vt_train_config *c) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (vt_train_config_write_yaml(c, f)) fputs("<failed>", f);
    fclose(f);
    return text;
}

static int count(const char *text, const char *what) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* Warnings of the configuration reader go to a buffer while `body` runs. */
static char warn_buf[8192];
static FILE *warn_file;
static void capture_warnings(void) {
    memset(warn_buf, 0, sizeof warn_buf);
    warn_file = fmemopen(warn_buf, sizeof warn_buf - 1, "w");
    setvbuf(warn_file, NULL, _IONBF, 0);
    vt_train_config_set_warnings(warn_file);
}
static void release_warnings(void) {
    fclose(warn_file);
    vt_train_config_set_warnings(stderr);
}

static void test_flags_and_yaml(void) {
    vt_train_config c;
    vt_train_config_defaults(&c);
    CHECK(c.rank == 8 && c.alpha == 16.0 && c.learning_rate == 1e-4 && !strcmp(c.lr_schedule, "cosine"));
    CHECK(c.grad_accumulation_steps == 1); /* batch_size is the samples of a step, as in mlx-lm */

    const char *path = write_file("a.yaml", "model: /m\n"
                                            "batch_size: 2\n"
                                            "lora_parameters:\n"
                                            "  rank: 16\n"
                                            "  dropout: 0.05\n"
                                            "  keys: [q_proj, v_proj]\n"
                                            "lr_schedule: linear\n"
                                            "grad_checkpoint: true\n");
    char *argv[] = {"train", "--config", (char *)path, "--rank", "4", "--data", "d.jsonl", "--out=run",
                    "--train-vision", "--learning-rate=2e-4", "--pack", "false", "--strict=yes"};
    CHECK_OK(vt_train_config_parse_args(&c, 13, argv));
    CHECK(!strcmp(c.model, "/m") && c.batch_size == 2 && c.dropout == 0.05);
    CHECK(c.rank == 4); /* the flag wins over the file */
    CHECK(!strcmp(c.keys, "q_proj,v_proj") && !strcmp(c.lr_schedule, "linear"));
    CHECK(c.grad_checkpoint && c.train_vision && c.learning_rate == 2e-4 && !strcmp(c.out, "run"));
    CHECK(!c.pack && c.strict);
    CHECK_OK(vt_train_config_validate(&c));
    vt_train_config_free(&c);

    vt_train_config_defaults(&c);
    char *bad1[] = {"train", "--rnak", "4"};
    CHECK_FAILS(vt_train_config_parse_args(&c, 3, bad1), "unknown option '--rnak'");
    char *bad2[] = {"train", "--rank"};
    CHECK_FAILS(vt_train_config_parse_args(&c, 2, bad2), "needs a value");
    char *bad3[] = {"train", "--dropout", "lots"};
    CHECK_FAILS(vt_train_config_parse_args(&c, 3, bad3), "option --dropout: expected a number");
    char *bad4[] = {"train", "--rank=x"};
    CHECK_FAILS(vt_train_config_parse_args(&c, 2, bad4), "option --rank: expected an integer, got 'x'");
    char *bad5[] = {"train", "--pack", "data.jsonl"}; /* a switch does not swallow what follows */
    CHECK_FAILS(vt_train_config_parse_args(&c, 3, bad5), "unexpected argument 'data.jsonl'");
    vt_train_config_free(&c);
}

static void test_errors_name_file_and_line(void) {
    vt_train_config d;
    vt_train_config_defaults(&d);
    char want[512];
    const char *path = write_file("b.yaml", "model: /m\nbatch_sise: 2\n");
    snprintf(want, sizeof want, "%s:2: batch_sise: unknown setting", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("b.yaml", "lora_parameters:\n  rank: many\n");
    snprintf(want, sizeof want, "%s:2: lora_parameters.rank: expected an integer, got 'many'", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("b.yaml", "model: [unclosed\n");
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, "/nonexistent.yaml"), "/nonexistent.yaml: cannot open");
    path = write_file("b.yaml", "fine_tune_type: full\n"); /* mlx-lm's, not ours */
    snprintf(want, sizeof want, "%s:1: fine_tune_type: 'full' is not one of: lora, dora", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("b.yaml", "optimizer: muon\n");
    snprintf(want, sizeof want, "%s:1: optimizer: 'muon' is not one of: adamw, adam", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("b.yaml", "lr_schedule:\n  name: exponential_decay\n  arguments: [1e-4, 0.99]\n");
    snprintf(want, sizeof want, "%s:2: lr_schedule.name: 'exponential_decay' is not one of:", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("b.yaml", "stage: dpo\n");
    snprintf(want, sizeof want, "%s:1: stage: 'dpo' is not supported: only supervised fine-tuning", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("b.yaml", "lr_scheduler_type: polynomial\n");
    snprintf(want, sizeof want, "%s:1: lr_scheduler_type: 'polynomial' is not supported", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("b.yaml", "train: false\n");
    snprintf(want, sizeof want, "%s:1: train: 'false' is not supported: vlmtune train always trains", path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    vt_train_config_free(&d);
}

/* Two keys for one setting in one file: an error naming both lines, unless they agree. */
static void test_synonyms_do_not_fight(void) {
    vt_train_config d;
    vt_train_config_defaults(&d);
    char want[512];
    const char *path = write_file("c.yaml", "lora_rank: 16\nlora_parameters:\n  rank: 8\n");
    snprintf(want, sizeof want, "%s:1: 'lora_rank' (16) and %s:3: 'lora_parameters.rank' (8) both set lora_parameters.rank",
             path, path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    path = write_file("c.yaml", "gradient_accumulation_steps: 4\ngrad_accumulation_steps: 2\n");
    snprintf(want, sizeof want, "%s:1: 'gradient_accumulation_steps' (4) and %s:2: 'grad_accumulation_steps' (2)", path,
             path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    /* mlx-lm's learning_rate is unused when lr_schedule.arguments gives the rate: they must agree */
    path = write_file("c.yaml", "learning_rate: 1e-5\nlr_schedule:\n  name: cosine_decay\n  arguments: [2e-5, 100]\n");
    snprintf(want, sizeof want, "%s:1: 'learning_rate' (1e-05) and %s:4: 'lr_schedule.arguments' (2e-05)", path, path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    /* adam is AdamW without weight decay: a weight decay in the same file contradicts it */
    path = write_file("c.yaml", "optimizer: adam\nweight_decay: 0.1\n");
    snprintf(want, sizeof want, "%s:1: 'optimizer: adam' (0) and %s:2: 'weight_decay' (0.1)", path, path);
    CHECK_FAILS(vt_train_config_load_yaml(&d, path), want);
    /* equal values do not fight */
    path = write_file("c.yaml", "learning_rate: 1.0e-5\nlr_schedule:\n  name: cosine_decay\n  arguments: [1e-5, 100]\n"
                                "lora_rank: 8\nlora_parameters:\n  rank: 8\n");
    CHECK_OK(vt_train_config_load_yaml(&d, path));
    CHECK(d.learning_rate == 1e-5 && d.decay_steps == 100 && d.rank == 8);
    /* among flags, the explicit one wins over one a flag implies, and the last repeated flag wins */
    vt_train_config_free(&d);
    vt_train_config_defaults(&d);
    char *flags[] = {"train", "--optimizer", "adam", "--rank", "2", "--rank", "3"};
    CHECK_OK(vt_train_config_parse_args(&d, 7, flags));
    CHECK(!strcmp(d.optimizer, "adam") && d.weight_decay == 0 && d.rank == 3);
    char *flags2[] = {"train", "--optimizer", "adam", "--weight-decay", "0.1"};
    CHECK_OK(vt_train_config_parse_args(&d, 5, flags2));
    free(d.model), free(d.data), free(d.out);
    d.model = strdup("m"), d.data = strdup("d"), d.out = strdup("o");
    CHECK_FAILS(vt_train_config_validate(&d), "optimizer adam has no weight decay (weight_decay is 0.1)");
    vt_train_config_free(&d);
}

/* mlx-lm's documented example: every key with mlx-lm's meaning, and not one warning. */
static void test_mlx_lm_example(void) {
    vt_train_config c;
    vt_train_config_defaults(&c);
    capture_warnings();
    CHECK_OK(vt_train_config_load_yaml(&c, peer_file("mlx_lm_lora_config.yaml")));
    release_warnings();
    CHECK(!strcmp(warn_buf, ""));
    CHECK(!strcmp(c.model, "models/Qwen3-VL-2B-Instruct") && !strcmp(c.data, "data/") && !strcmp(c.out, "adapters"));
    CHECK(!strcmp(c.fine_tune_type, "lora") && c.num_layers == 16 && c.batch_size == 4 && c.iters == 1000);
    CHECK(c.val_batches == 25 && c.steps_per_report == 10 && c.steps_per_eval == 200 && c.save_every == 100);
    CHECK(c.grad_accumulation_steps == 1 && c.max_seq_length == 2048 && !c.grad_checkpoint && c.seed == 0);
    CHECK(c.resume_adapter_file == NULL); /* null: not given */
    /* LoRA: y = Wx + scale·(xA)B with scale 20 and rank 8; vlmtune's scale is alpha / rank */
    CHECK(c.rank == 8 && c.alpha == 160.0 && c.dropout == 0.0);
    CHECK(!strcmp(c.keys, "self_attn.q_proj,self_attn.v_proj"));
    /* optimizer_config.adamw goes to mlx.optimizers.AdamW */
    vt_adamw_config a = vt_train_config_adamw(&c);
    CHECK(a.beta1 == 0.9 && a.beta2 == 0.98 && a.eps == 1e-6 && a.weight_decay == 0.05 && a.bias_correction);
    /* lr_schedule: cosine_decay(1e-5, 1000, 1e-7) after 100 warm-up steps from 1e-7 */
    CHECK(!strcmp(c.lr_schedule, "cosine_decay") && c.learning_rate == 1e-5 && c.decay_steps == 1000);
    CHECK(c.min_lr == 1e-7 && c.warmup_steps == 100 && c.warmup_init == 1e-7);
    vt_train_config_free(&c);

    /* optimizer: adam reads optimizer_config.adam, and the adamw section is ignored (with a warning) */
    vt_train_config_defaults(&c);
    const char *path = write_file("d.yaml", "optimizer: adam\noptimizer_config:\n  adam:\n    betas: [0.8, 0.9]\n"
                                            "  adamw:\n    weight_decay: 0.1\n");
    capture_warnings();
    CHECK_OK(vt_train_config_load_yaml(&c, path));
    release_warnings();
    a = vt_train_config_adamw(&c);
    CHECK(a.beta1 == 0.8 && a.beta2 == 0.9 && a.weight_decay == 0.0);
    char want[512];
    snprintf(want, sizeof want, "%s:6: warning: optimizer_config.adamw.weight_decay: ignored: the optimizer is adam", path);
    CHECK(strstr(warn_buf, want) != NULL);
    /* ... and is written back under the section mlx-lm reads for adam */
    char *text = yaml_text(&c);
    CHECK(strstr(text, "optimizer_config:\n  adam:\n    betas: [0.8, 0.9]\n") != NULL);
    free(text);
    vt_train_config_free(&c);

    /* lora_parameters.scale uses the rank of the same file, wherever it is written */
    vt_train_config_defaults(&c);
    path = write_file("d.yaml", "lora_parameters:\n  scale: 2.5\n  rank: 32\n");
    CHECK_OK(vt_train_config_load_yaml(&c, path));
    CHECK(c.rank == 32 && c.alpha == 80.0);
    vt_train_config_free(&c);
}

static void test_mlx_vlm_and_llama_factory_examples(void) {
    vt_train_config c;
    vt_train_config_defaults(&c);
    capture_warnings();
    CHECK_OK(vt_train_config_load_yaml(&c, peer_file("mlx_vlm_lora.yaml")));
    release_warnings();
    CHECK(!strcmp(warn_buf, ""));
    /* mlx-vlm: scale = lora_alpha / lora_rank; output_path is the adapters' folder; steps_per_save */
    CHECK(c.rank == 16 && c.alpha == 32.0 && c.dropout == 0.05 && !strcmp(c.keys, "q_proj,k_proj,v_proj,o_proj"));
    CHECK(!strcmp(c.out, "runs/vlm-lora") && c.save_every == 100 && c.grad_accumulation_steps == 4);
    CHECK(c.batch_size == 2 && c.iters == 300 && c.weight_decay == 0.0 && c.learning_rate == 2e-5 && c.seed == 7);
    CHECK(c.grad_checkpoint && c.max_seq_length == 1024 && c.val_batches == 10 && c.steps_per_eval == 50);
    vt_train_config_free(&c);

    vt_train_config_defaults(&c);
    capture_warnings();
    const char *lf = peer_file("llamafactory_qwen3vl_lora_sft.yaml");
    CHECK_OK(vt_train_config_load_yaml(&c, lf));
    release_warnings();
    /* LLaMA-Factory: per-device batch × accumulation, epochs, cutoff_len, lora_target all */
    CHECK(c.batch_size == 1 && c.grad_accumulation_steps == 8 && c.epochs == 3.0 && c.iters == 0);
    CHECK(c.max_seq_length == 2048 && c.image_max_pixels == 262144 && !strcmp(c.keys, "") && c.rank == 8);
    CHECK(!strcmp(c.model, "Qwen/Qwen3-VL-4B-Instruct") && !strcmp(c.out, "saves/qwen3-vl-4b/lora/sft"));
    CHECK(!strcmp(c.lr_schedule, "cosine") && c.warmup_ratio == 0.1 && c.learning_rate == 1e-4);
    CHECK(c.steps_per_report == 10 && c.save_every == 500);
    char want[512];
    snprintf(want, sizeof want, "%s:18: warning: template: ignored", lf);
    CHECK(strstr(warn_buf, want) != NULL);
    snprintf(want, sizeof want, "%s:40: warning: bf16: ignored", lf);
    CHECK(strstr(warn_buf, want) != NULL);
    CHECK(strstr(warn_buf, "report_to") == NULL && strstr(warn_buf, "stage") == NULL); /* "none", "sft": quiet */
    vt_train_config_free(&c);

    /* Hugging Face's names where their default differs from ours in form */
    vt_train_config_defaults(&c);
    const char *path = write_file("e.yaml", "max_steps: -1\nwarmup_steps: 0\nfreeze_vision_tower: false\n"
                                            "lr_scheduler_type: constant\nuse_dora: true\n");
    CHECK_OK(vt_train_config_load_yaml(&c, path));
    CHECK(c.iters == 0 && c.train_vision && !strcmp(c.lr_schedule, "constant") && !strcmp(c.fine_tune_type, "dora"));
    CHECK(c.warmup_steps == 0); /* Hugging Face's constant never warms up; its warmup_steps 0 means "not given" */
    vt_train_config_free(&c);
    vt_train_config_defaults(&c);
    path = write_file("e.yaml", "warmup_steps: 12\nlr_scheduler_type: cosine\n");
    CHECK_OK(vt_train_config_load_yaml(&c, path));
    CHECK(c.warmup_steps == 12 && !strcmp(c.lr_schedule, "cosine"));
    vt_train_config_free(&c);

    /* lora_rank without lora_alpha: LLaMA-Factory would use 2 × rank; we keep alpha, and say so */
    vt_train_config_defaults(&c);
    path = write_file("e.yaml", "lora_rank: 32\n");
    capture_warnings();
    CHECK_OK(vt_train_config_load_yaml(&c, path));
    release_warnings();
    snprintf(want, sizeof want, "%s:1: warning: lora_rank: no lora_alpha: alpha stays 16", path);
    CHECK(strstr(warn_buf, want) != NULL && c.alpha == 16.0);
    vt_train_config_free(&c);
}

/* config.yaml: each key once, short numbers, and read back to the same text. */
static void test_written_yaml(void) {
    vt_train_config c;
    vt_train_config_defaults(&c);
    char *argv[] = {"train", "--model", "/m", "--data", "d", "--out", "o", "--learning-rate", "1e-5", "--keys",
                    "q_proj,v_proj", "--min-lr", "0.1", "--adam-betas", "0.9,0.95", "--cache-dir", "a \"quoted\"\tdir"};
    CHECK_OK(vt_train_config_parse_args(&c, 17, argv));
    char *text = yaml_text(&c);
    CHECK(count(text, "lora_parameters:") == 1 && count(text, "lr_schedule:") == 1);
    CHECK(count(text, "optimizer_config:") == 1 && count(text, "  adamw:") == 1);
    CHECK(strstr(text, "learning_rate: 1.0e-05\n") && strstr(text, "  min_lr: 0.1\n"));
    CHECK(strstr(text, "    betas: [0.9, 0.95]\n") && strstr(text, "  alpha: 16.0\n"));
    CHECK(strstr(text, "cache_dir: \"a \\\"quoted\\\"\\tdir\"\n"));
    CHECK(!strstr(text, "0000000") && !strstr(text, "resume:"));
    const char *path = write_file("config.yaml", text);
    vt_train_config d;
    vt_train_config_defaults(&d);
    CHECK_OK(vt_train_config_load_yaml(&d, path));
    char *again = yaml_text(&d);
    CHECK(!strcmp(text, again));
    CHECK(d.learning_rate == 1e-5 && d.min_lr == 0.1 && d.adam_betas[1] == 0.95 && !strcmp(d.cache_dir, c.cache_dir));
    free(text), free(again);
    vt_train_config_free(&d);
    vt_train_config_free(&c);
}

/* --resume RUN: defaults < RUN/config.yaml < --config < flags, and the run goes on where it is now. */
static void test_resume_resolution(void) {
    char moved[128], other[128], path[256];
    snprintf(moved, sizeof moved, "%s/moved-run", tmp_dir);
    snprintf(other, sizeof other, "%s/elsewhere", tmp_dir);
    mkdir(moved, 0755);
    snprintf(path, sizeof path, "%s/config.yaml", moved);
    FILE *f = fopen(path, "w"); /* written when the run lived in /original/run */
    fputs("model: /m\ndata: /d.jsonl\nadapter_path: /original/run\nlora_parameters:\n  rank: 4\n"
          "learning_rate: 0.002\niters: 30\n", f);
    fclose(f);

    vt_train_config c;
    char *a1[] = {"train", "--resume", moved};
    vt_train_config_defaults(&c);
    CHECK_OK(vt_train_config_from_args(&c, NULL, 3, a1));
    CHECK(!strcmp(c.out, moved) && !strcmp(c.resume, moved));
    CHECK(c.rank == 4 && c.learning_rate == 0.002 && c.iters == 30 && !strcmp(c.model, "/m"));
    vt_train_config_free(&c);

    char *a2[] = {"train", "--resume=" /* joined form */, "--iters", "40"};
    char joined[200];
    snprintf(joined, sizeof joined, "--resume=%s", moved);
    a2[1] = joined;
    vt_train_config_defaults(&c);
    CHECK_OK(vt_train_config_from_args(&c, NULL, 4, a2));
    CHECK(!strcmp(c.out, moved) && c.iters == 40 && c.rank == 4); /* flags over the run's settings */
    vt_train_config_free(&c);

    char *a3[] = {"train", "--resume", moved, "--out", other};
    vt_train_config_defaults(&c);
    CHECK_OK(vt_train_config_from_args(&c, NULL, 5, a3));
    CHECK(!strcmp(c.out, other));
    vt_train_config_free(&c);

    /* with a configuration file, that file is the base instead of the run's */
    const char *cfg = write_file("f.yaml", "model: /m2\nadapter_path: /somewhere\nlora_rank: 2\nlora_alpha: 4\n");
    char *a4[] = {"train", "--resume", moved, "--config", (char *)cfg, "--rank", "6"};
    vt_train_config_defaults(&c);
    CHECK_OK(vt_train_config_from_args(&c, NULL, 7, a4));
    CHECK(!strcmp(c.model, "/m2") && c.rank == 6 && c.iters == 0 && !strcmp(c.out, moved));
    vt_train_config_free(&c);
    char *a5[] = {"train", "--rank", "6"};
    vt_train_config_defaults(&c);
    CHECK_OK(vt_train_config_from_args(&c, cfg, 3, a5)); /* the C API's configuration file */
    CHECK(!strcmp(c.model, "/m2") && c.rank == 6 && !strcmp(c.out, "/somewhere"));
    vt_train_config_free(&c);

    char *a6[] = {"train", "--resume", other};
    vt_train_config_defaults(&c);
    CHECK_FAILS(vt_train_config_from_args(&c, NULL, 3, a6), "config.yaml is missing");
    vt_train_config_free(&c);
    unlink(path);
    rmdir(moved);
}

/* Each bad value is refused with a message saying what is allowed. */
static void check_invalid(const char *flag, const char *value, const char *message) {
    vt_train_config d;
    vt_train_config_defaults(&d);
    char *argv[] = {"train", "--model", "m", "--data", "d", "--out", "o", (char *)flag, (char *)value};
    CHECK_OK(vt_train_config_parse_args(&d, 9, argv));
    CHECK_FAILS(vt_train_config_validate(&d), message);
    vt_train_config_free(&d);
}

static void test_validation(void) {
    check_invalid("--iters", "-5", "iters must be 0 (from epochs) or a positive number of steps (got -5)");
    check_invalid("--epochs", "-1", "epochs must be 0 or more (got -1)");
    check_invalid("--num-layers", "0", "num_layers must be -1 (all layers) or a positive count (got 0)");
    check_invalid("--num-layers", "-2", "num_layers must be -1 (all layers) or a positive count (got -2)");
    check_invalid("--rank", "0", "rank must be at least 1 (got 0)");
    check_invalid("--save-every", "-1", "save_every must be at least 1 (got -1)");
    check_invalid("--steps-per-eval", "-1", "steps_per_eval must be 0 (off) or more (got -1)");
    check_invalid("--val-batches", "0", "val_batches must be -1 (all) or a positive count (got 0)");
    check_invalid("--warmup-steps", "-4", "warmup steps must be -1 (from the ratio) or 0 or more (got -4)");
    check_invalid("--decay-steps", "-1", "decay_steps must be 0 (until the last step) or more (got -1)");
    check_invalid("--grad-accumulation-steps", "65", "grad_accumulation_steps must be 1 to 64 (got 65)");
    check_invalid("--adam-betas", "0.9,1", "adam betas must be in [0, 1)");
    check_invalid("--max-grad-norm", "-1", "max_grad_norm must be 0 (off) or positive");
    check_invalid("--keep-last", "0", "keep_last must be at least 1 (got 0)");

    /* num_layers against the model: the trainer calls this once the model is loaded */
    vt_train_config d;
    vt_train_config_defaults(&d);
    d.num_layers = 1000;
    CHECK_FAILS(vt_train_config_check_model(&d, 3), "num_layers 1000: the model has 3 decoder layers");
    d.num_layers = 3;
    CHECK_OK(vt_train_config_check_model(&d, 3));
    d.num_layers = -1;
    CHECK_OK(vt_train_config_check_model(&d, 3));
    vt_train_config_free(&d);
}

/* mlx-lm's lr_schedule blocks give MLX's learning rates (to 1e-6 of the peak: MLX computes in float32). */
static void test_mlx_lm_schedules(void) {
    FILE *f = fopen(peer_file("mlx_lm_schedules.txt"), "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[256], loaded[64] = "", file[96];
    vt_train_config c;
    vt_schedule s = {0};
    int rows = 0;
    vt_train_config_defaults(&c);
    while (fgets(line, sizeof line, f)) {
        char name[64];
        long step;
        double want;
        if (line[0] == '#' || sscanf(line, "%63s %ld %lf", name, &step, &want) != 3) continue;
        if (strcmp(name, loaded)) {
            vt_train_config_free(&c);
            vt_train_config_defaults(&c);
            snprintf(file, sizeof file, "%s.yaml", name);
            CHECK_OK(vt_train_config_load_yaml(&c, peer_file(file)));
            CHECK_OK(vt_train_config_schedule(&c, c.iters, &s));
            snprintf(loaded, sizeof loaded, "%s", name);
        }
        /* MLX rounds to float32 at the scale of the rates it combines: 1e-6 of the largest */
        double got = vt_schedule_lr(&s, step), tol = 1e-6 * fmax(c.learning_rate, c.min_lr);
        CHECK_NEAR(got, want, tol);
        if (fabs(got - want) > tol) fprintf(stderr, "  %s step %ld\n", name, step);
        rows++;
    }
    fclose(f);
    CHECK(rows >= 90);
    vt_train_config_free(&c);
}

int main(void) {
    TEST_BEGIN();
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/vt_config_%d", (int)getpid());
    mkdir(tmp_dir, 0755);
    test_flags_and_yaml();
    test_errors_name_file_and_line();
    test_synonyms_do_not_fight();
    test_mlx_lm_example();
    test_mlx_vlm_and_llama_factory_examples();
    test_written_yaml();
    test_resume_resolution();
    test_validation();
    test_mlx_lm_schedules();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return TEST_END();
}

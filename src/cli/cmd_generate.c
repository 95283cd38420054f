/* `vlmtune generate` — answer a prompt (with images), streaming the text as it comes.
 *
 *   vlmtune generate --model DIR [--adapter DIR] [--image PATH ...] --prompt TEXT [--system TEXT]
 *                    [--max-tokens N] [--temp T] [--top-p P] [--top-k K] [--repetition-penalty R] [--seed S]
 *
 * Defaults for sampling and the stop ids come from the model's generation_config.json (else
 * config.json's eos_token_id, and greedy decoding); flags override.  Prompt and generation speed
 * and the peak memory go to stderr at the end. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "generate/generate.h"
#include "generate/stream.h"
#include "io/json.h"
#include "lora/lora.h"
#include "data/rows.h"
#include "util/fs.h"

enum { MAX_IMAGES = 16, MAX_EOS = 8 };

typedef struct {
    double temp, top_p, penalty;
    int top_k;
    int32_t eos[MAX_EOS];
    int n_eos;
} gen_defaults;

static void read_eos(const cJSON *v, gen_defaults *d) {
    if (cJSON_IsNumber(v) && d->n_eos < MAX_EOS) d->eos[d->n_eos++] = (int32_t)v->valuedouble;
    const cJSON *e;
    if (cJSON_IsArray(v)) cJSON_ArrayForEach(e, v) read_eos(e, d);
}

/* generation_config.json's settings (or config.json's eos ids). */
static int load_defaults(const char *dir, gen_defaults *d) {
    *d = (gen_defaults){.top_p = 1.0, .penalty = 1.0};
    char path[4200];
    cJSON *root;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (vt_path_exists(path)) {
        TRY(vt_json_load(&root, path));
        int rc = vt_json_double_opt(root, "temperature", &d->temp, path) || vt_json_double_opt(root, "top_p", &d->top_p, path) ||
                 vt_json_int_opt(root, "top_k", &d->top_k, path) ||
                 vt_json_double_opt(root, "repetition_penalty", &d->penalty, path);
        const cJSON *sample = cJSON_GetObjectItemCaseSensitive(root, "do_sample");
        if (cJSON_IsFalse(sample)) d->temp = 0;
        read_eos(cJSON_GetObjectItemCaseSensitive(root, "eos_token_id"), d);
        cJSON_Delete(root);
        TRY(rc);
    }
    if (d->n_eos) return 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    TRY(vt_json_load(&root, path));
    read_eos(cJSON_GetObjectItemCaseSensitive(root, "eos_token_id"), d);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (!d->n_eos && text) read_eos(cJSON_GetObjectItemCaseSensitive(text, "eos_token_id"), d);
    cJSON_Delete(root);
    return 0;
}

static int on_token(void *ctx, int32_t id) {
    const char *piece;
    size_t len;
    TRY(vt_text_stream_push(ctx, id, &piece, &len));
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    vt_option opts[] = {{"model", "DIR", "model directory", true},
                        {"adapter", "DIR", "adapter to apply on the fly (mlx-vlm or PEFT layout)", false},
                        {"image", "PATH", "an image (repeat for several; they come before the prompt)", false},
                        {"prompt", "TEXT", "the user's message", true},
                        {"system", "TEXT", "a system message", false},
                        {"max-tokens", "N", "longest answer [256]", false},
                        {"temp", "T", "temperature (0: greedy) [generation_config.json, else 0]", false},
                        {"top-p", "P", "nucleus sampling mass [generation_config.json, else 1]", false},
                        {"top-k", "K", "sample among the K most likely (0: all) [generation_config.json]", false},
                        {"repetition-penalty", "R", "penalty for tokens among the last 20 [generation_config.json, else 1]", false},
                        {"seed", "S", "sampling seed [0]", false},
                        {"no-cache", NULL, "recompute the whole sequence per token (reference decoder)", false},
                        {"ignore-eos", NULL, "do not stop at the end-of-turn tokens", false},
                        {"print-ids", NULL, "also print the generated token ids to stderr", false},
                        {"image-min-pixels", "N", "smallest resized image area (default: the model's)", false},
                        {"image-max-pixels", "N", "largest resized image area (default: the model's)", false},
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune generate --model DIR [--image PATH ...] --prompt TEXT");
    if (rc) return rc > 0 ? 0 : -1;
    const char *dir = vt_args_value(opts, "model"), *adapter = vt_args_value(opts, "adapter");
    gen_defaults d;
    TRY(load_defaults(dir, &d));
    long max_tokens, top_k, seed;
    TRY(vt_args_int(opts, "max-tokens", 256, 1, 1 << 20, &max_tokens));
    TRY(vt_args_int(opts, "top-k", d.top_k, 0, 1 << 30, &top_k));
    TRY(vt_args_int(opts, "seed", 0, 0, 1L << 62, &seed));
    const char *v;
    char *end;
    struct { const char *flag; double *dst; double lo, hi; } reals[] = {
        {"temp", &d.temp, 0, 100}, {"top-p", &d.top_p, 0, 1}, {"repetition-penalty", &d.penalty, 0, 100}};
    for (size_t i = 0; i < 3; i++)
        if ((v = vt_args_value(opts, reals[i].flag))) {
            double x = strtod(v, &end);
            if (*end || end == v || x < reals[i].lo || x > reals[i].hi)
                return vt_err("--%s: expected a number in [%g, %g], got '%s'", reals[i].flag, reals[i].lo, reals[i].hi, v);
            *reals[i].dst = x;
        }
    vt_image_config ic;
    TRY(vt_args_image_config(opts, dir, &ic));
    const char *images[MAX_IMAGES];
    size_t n_images = 0;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--image")) {
            if (n_images == MAX_IMAGES) return vt_err("more than %d images", MAX_IMAGES);
            images[n_images++] = argv[i + 1];
        }
    vt_part parts[MAX_IMAGES + 2];
    vt_message msgs[2];
    vt_sample prompt;
    vt_conversation_prompt(&prompt, parts, msgs, vt_args_value(opts, "system"), images, n_images,
                           vt_args_value(opts, "prompt"));
    vt_model *m = NULL;
    vt_lora *l = NULL;
    vt_tokenizer *tok = NULL;
    vt_encoded e = {0};
    vt_generation g = {0};
    vt_text_stream st = {0};
    rc = vt_model_load(&m, dir) || (adapter && vt_lora_load(&l, m, adapter)) || vt_tokenizer_load(&tok, dir) ||
         vt_encode_sample(&prompt, tok, &ic, true, &e);
    if (rc == 0) {
        int32_t im_end = vt_tokenizer_token_id(tok, "<|im_end|>");
        if (im_end >= 0 && d.n_eos < MAX_EOS) d.eos[d.n_eos++] = im_end;
        vt_generate_options o = {.max_tokens = (int)max_tokens, .temperature = d.temp, .top_k = (int)top_k,
                                 .top_p = d.top_p, .repetition_penalty = d.penalty, .seed = (uint64_t)seed,
                                 .eos = d.eos, .n_eos = vt_args_flag(opts, "ignore-eos") ? 0 : (size_t)d.n_eos,
                                 .no_cache = vt_args_flag(opts, "no-cache")};
        st.tok = tok;
        rc = vt_generate(m, &e, &o, on_token, &st, &g);
    }
    if (rc == 0) {
        size_t peak = 0;
        mx_memory_peak(&peak);
        printf("\n");
        fprintf(stderr, "prompt: %zu tokens, %.1f tokens/s; generation: %zu tokens, %.1f tokens/s; peak memory %.3f GB\n",
                e.n_tokens, g.prompt_seconds > 0 ? e.n_tokens / g.prompt_seconds : 0, g.n,
                g.generate_seconds > 0 ? g.n / g.generate_seconds : 0, peak / 1e9);
        if (vt_args_flag(opts, "print-ids")) {
            for (size_t i = 0; i < g.n; i++) fprintf(stderr, "%s%d", i ? " " : "ids: ", g.ids[i]);
            fprintf(stderr, "\n");
        }
    }
    free(g.ids);
    vt_text_stream_free(&st);
    vt_encoded_clear(&e);
    vt_tokenizer_free(tok);
    vt_lora_free(l);
    vt_model_free(m);
    return rc;
}

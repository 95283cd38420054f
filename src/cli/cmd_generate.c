/* `vlmtune generate` — answer a prompt (with images), streaming the text as it comes.
 *
 *   vlmtune generate --model DIR [--adapter DIR] [--image PATH ...] --prompt TEXT [--system TEXT]
 *                    [--max-tokens N] [--temp T] [--top-p P] [--top-k K] [--repetition-penalty R] [--seed S]
 *                    [--prefill-step-size N] [--no-cache] [--ignore-eos] [--print-ids]
 *
 * Defaults for sampling and the stop ids come from the model's generation_config.json (else
 * config.json's eos_token_id, and greedy decoding); flags override.  Prompt and generation speed
 * and the peak memory go to stderr at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "generate/stream.h"

enum { MAX_IMAGES = 16 };

static int on_token(void *ctx, int32_t id) {
    const char *piece;
    size_t len;
    TRY(vt_text_stream_push(ctx, id, &piece, &len));
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* The session's defaults (generation_config.json), then the flags. */
static int sampling(const vt_option *opts, const vt_session *s, vt_generate_options *o) {
    *o = s->generation;
    long max_tokens, top_k, seed, prefill_step;
    TRY(vt_args_int(opts, "max-tokens", 256, 1, 1 << 20, &max_tokens));
    TRY(vt_args_int(opts, "prefill-step-size", VT_PREFILL_STEP, 1, 1 << 20, &prefill_step));
    o->prefill_step = (int)prefill_step;
    TRY(vt_args_int(opts, "top-k", o->top_k, 0, 1 << 30, &top_k));
    TRY(vt_args_int(opts, "seed", 0, 0, 1L << 62, &seed));
    o->max_tokens = (int)max_tokens, o->top_k = (int)top_k, o->seed = (uint64_t)seed;
    struct { const char *flag; double *dst; double lo, hi; } reals[] = {
        {"temp", &o->temperature, 0, 100}, {"top-p", &o->top_p, 0, 1}, {"repetition-penalty", &o->repetition_penalty, 0, 100}};
    for (size_t i = 0; i < 3; i++) {
        const char *v = vt_args_value(opts, reals[i].flag);
        char *end;
        if (!v) continue;
        double x = strtod(v, &end);
        if (*end || end == v || x < reals[i].lo || x > reals[i].hi)
            return vt_err("--%s: expected a number in [%g, %g], got '%s'", reals[i].flag, reals[i].lo, reals[i].hi, v);
        *reals[i].dst = x;
    }
    if (vt_args_flag(opts, "ignore-eos")) o->n_eos = 0;
    o->no_cache = vt_args_flag(opts, "no-cache");
    return 0;
}

static void print_stats(const vt_encoded *e, const vt_generation *g, bool ids) {
    size_t peak = 0;
    mx_memory_peak(&peak);
    printf("\n");
    fprintf(stderr, "prompt: %zu tokens, %.1f tokens/s; generation: %zu tokens, %.1f tokens/s; peak memory %.3f GB\n",
            e->n_tokens, g->prompt_seconds > 0 ? e->n_tokens / g->prompt_seconds : 0, g->n,
            g->generate_seconds > 0 ? g->n / g->generate_seconds : 0, peak / 1e9);
    if (!ids) return;
    for (size_t i = 0; i < g->n; i++) fprintf(stderr, "%s%d", i ? " " : "ids: ", g->ids[i]);
    fprintf(stderr, "\n");
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
                        {"prefill-step-size", "N", "the prompt's text after its last image goes in chunks of N tokens [2048]", false},
                        {"no-cache", NULL, "recompute the whole sequence per token (reference decoder)", false},
                        {"ignore-eos", NULL, "do not stop at the end-of-turn tokens", false},
                        {"print-ids", NULL, "also print the generated token ids to stderr", false},
                        VT_IMAGE_OPTIONS,
                        {0}};
    int rc = vt_args_parse(opts, argc, argv, "vlmtune generate --model DIR [--image PATH ...] --prompt TEXT");
    if (rc) return rc > 0 ? 0 : -1;
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
    vt_session s;
    TRY(vt_args_session(opts, true, true, &s));
    if (vt_session_make_resident(&s)) {
        vt_session_close(&s);
        return -1;
    }
    vt_generate_options o;
    vt_encoded e = {0};
    vt_generation g = {0};
    vt_text_stream st = {.tok = s.tok};
    rc = sampling(opts, &s, &o) || vt_encode_sample(&prompt, s.tok, &s.images, true, &e) ||
         vt_generate(s.model, &e, &o, on_token, &st, &g);
    if (rc == 0) print_stats(&e, &g, vt_args_flag(opts, "print-ids"));
    free(g.ids);
    vt_text_stream_free(&st);
    vt_encoded_clear(&e);
    vt_session_close(&s);
    return rc;
}

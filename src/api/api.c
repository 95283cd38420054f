/* api.c — include/vlmtune.h on top of the library's modules. */
#include "vlmtune.h"

#include <stdlib.h>
#include <string.h>

#include "generate/generate.h"
#include "generate/stream.h"
#include "lora/lora.h"
#include "train/config.h"
#include "data/rows.h"
#include "train/trainer.h"

struct vlmtune_model {
    vt_model *model;
    vt_lora *lora;       /* NULL without an adapter */
    vt_tokenizer *tok;
    vt_image_config images;
    int32_t eos[2];
};

const char *vlmtune_version(void) { return "vlmtune 0.1.0"; }
const char *vlmtune_last_error(void) { return vt_errmsg(); }

void vlmtune_free(vlmtune_model *m) {
    if (!m) return;
    vt_lora_free(m->lora);
    vt_tokenizer_free(m->tok);
    vt_model_free(m->model);
    free(m);
}

int vlmtune_load(vlmtune_model **out, const char *model_dir, const char *adapter_dir) {
    vlmtune_model *m = calloc(1, sizeof *m);
    if (!m) return vt_err("out of memory");
    vt_image_config_default(&m->images);
    int rc = vt_model_load(&m->model, model_dir) || (adapter_dir && vt_lora_load(&m->lora, m->model, adapter_dir)) ||
             vt_tokenizer_load(&m->tok, model_dir) || vt_image_config_load(&m->images, model_dir);
    if (rc) {
        vlmtune_free(m);
        return -1;
    }
    m->eos[0] = vt_tokenizer_token_id(m->tok, "<|im_end|>");
    m->eos[1] = vt_tokenizer_token_id(m->tok, "<|endoftext|>");
    *out = m;
    return 0;
}

int vlmtune_tokenize(const vlmtune_model *m, const char *text, int32_t **ids, size_t *n) {
    return vt_tokenizer_encode(m->tok, text, strlen(text), ids, n);
}

vlmtune_generate_options vlmtune_generate_defaults(void) {
    return (vlmtune_generate_options){.max_tokens = 256, .top_p = 1.0, .repetition_penalty = 1.0};
}

typedef struct {
    vt_text_stream stream;
    vlmtune_text_fn on_text;
    void *ctx;
} relay;

static int relay_token(void *ctx, int32_t id) {
    relay *r = ctx;
    const char *piece;
    size_t len;
    TRY(vt_text_stream_push(&r->stream, id, &piece, &len));
    if (len && r->on_text && r->on_text(r->ctx, piece, len)) return vt_err("stopped by the text callback");
    return 0;
}

int vlmtune_generate(vlmtune_model *m, const char *system, const char *const *images, size_t n_images,
                     const char *prompt, const vlmtune_generate_options *options, vlmtune_text_fn on_text,
                     void *ctx, char **answer) {
    enum { MAX_IMAGES = 64 };
    if (n_images > MAX_IMAGES) return vt_err("more than %d images", MAX_IMAGES);
    vlmtune_generate_options d = options ? *options : vlmtune_generate_defaults();
    vt_part parts[MAX_IMAGES + 2];
    vt_message msgs[2];
    vt_sample s;
    vt_conversation_prompt(&s, parts, msgs, system, images, n_images, prompt);
    vt_encoded e = {0};
    vt_generation g = {0};
    relay r = {.stream = {.tok = m->tok}, .on_text = on_text, .ctx = ctx};
    vt_generate_options o = {.max_tokens = d.max_tokens, .temperature = d.temperature, .top_k = d.top_k,
                             .top_p = d.top_p, .repetition_penalty = d.repetition_penalty, .seed = d.seed,
                             .eos = m->eos, .n_eos = m->eos[1] >= 0 ? 2 : 1};
    int rc = vt_encode_sample(&s, m->tok, &m->images, true, &e) || vt_generate(m->model, &e, &o, relay_token, &r, &g);
    if (rc == 0 && answer) {
        size_t len;
        rc = vt_tokenizer_decode(m->tok, g.ids, g.n, answer, &len);
    }
    free(g.ids);
    vt_text_stream_free(&r.stream);
    vt_encoded_clear(&e);
    return rc;
}

int vlmtune_train(const char *config_yaml, int argc, char **argv) {
    vt_train_config cfg;
    vt_train_config_defaults(&cfg);
    vt_train_result res;
    int rc = (config_yaml && vt_train_config_load_yaml(&cfg, config_yaml)) ||
             vt_train_config_parse_args(&cfg, argc, argv) || vt_train(&cfg, stdout, &res);
    vt_train_config_free(&cfg);
    return rc ? -1 : 0;
}

/* session.c — a model, its adapter, tokenizer and settings, opened together. */
#include "session/session.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "util/fs.h"

/* ---------------------------------------------------- generation defaults ---- */

static void add_eos(vt_session *s, const cJSON *v) {
    const cJSON *e;
    if (cJSON_IsNumber(v) && s->generation.n_eos < VT_MAX_EOS) {
        int32_t id = (int32_t)v->valuedouble;
        for (size_t i = 0; i < s->generation.n_eos; i++)
            if (s->eos[i] == id) return;
        s->eos[s->generation.n_eos++] = id;
    }
    if (cJSON_IsArray(v)) cJSON_ArrayForEach(e, v) add_eos(s, e);
}

/* generation_config.json's sampling settings and stop ids, else config.json's stop ids. */
static int load_generation(vt_session *s, const char *dir) {
    vt_generate_options *g = &s->generation;
    *g = (vt_generate_options){.max_tokens = 256, .top_p = 1.0, .repetition_penalty = 1.0, .eos = s->eos};
    char path[4200];
    cJSON *root;
    TRY(vt_path_join(path, sizeof path, dir, "generation_config.json"));
    if (vt_path_exists(path)) {
        TRY(vt_json_load(&root, path));
        int rc = vt_json_double_opt(root, "temperature", &g->temperature, path) ||
                 vt_json_double_opt(root, "top_p", &g->top_p, path) || vt_json_int_opt(root, "top_k", &g->top_k, path) ||
                 vt_json_double_opt(root, "repetition_penalty", &g->repetition_penalty, path);
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "do_sample"))) g->temperature = 0;
        add_eos(s, cJSON_GetObjectItemCaseSensitive(root, "eos_token_id"));
        cJSON_Delete(root);
        TRY(rc);
    }
    if (g->n_eos == 0) {
        TRY(vt_path_join(path, sizeof path, dir, "config.json"));
        TRY(vt_json_load(&root, path));
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text_config");
        add_eos(s, cJSON_GetObjectItemCaseSensitive(root, "eos_token_id"));
        if (g->n_eos == 0 && text) add_eos(s, cJSON_GetObjectItemCaseSensitive(text, "eos_token_id"));
        cJSON_Delete(root);
    }
    int32_t turn_ends[2] = {s->ids.im_end, s->ids.endoftext}; /* a chat turn ends at either, whatever the files say */
    for (int i = 0; i < 2; i++) {
        cJSON *id = turn_ends[i] >= 0 ? cJSON_CreateNumber(turn_ends[i]) : NULL;
        add_eos(s, id);
        cJSON_Delete(id);
    }
    return 0;
}

/* ------------------------------------------------------------ settings ---- */

static void special_ids(vt_session *s) {
    s->ids = (vt_special_ids){-1, -1, -1, -1, -1, -1};
    const vt_tokenizer *t = s->tok;
    if (!t) return;
    s->ids = (vt_special_ids){vt_tokenizer_token_id(t, "<|im_start|>"), vt_tokenizer_token_id(t, "<|im_end|>"),
                              vt_tokenizer_token_id(t, "<|endoftext|>"), vt_tokenizer_token_id(t, "<|image_pad|>"),
                              vt_tokenizer_token_id(t, "<|vision_start|>"), vt_tokenizer_token_id(t, "<|vision_end|>")};
    s->pad_id = s->ids.endoftext >= 0 ? s->ids.endoftext : 0;
}

static void override(FILE *notes, const char *what, long *setting, long given, long trained) {
    if (given <= 0) return;
    if (notes && trained > 0 && given != trained)
        fprintf(notes, "note: %s %ld overrides the %ld the adapter was trained with\n", what, given, trained);
    *setting = given;
}

/* The model's image settings, then the adapter's training settings, then the caller's. */
static int image_settings(vt_session *s, const vt_session_options *o) {
    vt_image_config_default(&s->images);
    TRY(vt_image_config_load(&s->images, o->model));
    const vt_adapter_meta *meta = s->adapter ? vt_lora_meta(s->adapter) : NULL;
    long trained_min = meta ? meta->image_min_pixels : 0, trained_max = meta ? meta->image_max_pixels : 0;
    if (trained_min > 0) s->images.min_pixels = trained_min;
    if (trained_max > 0) s->images.max_pixels = trained_max;
    override(o->notes, "--image-min-pixels", &s->images.min_pixels, o->image_min_pixels, trained_min);
    override(o->notes, "--image-max-pixels", &s->images.max_pixels, o->image_max_pixels, trained_max);
    if (s->images.max_pixels < s->images.min_pixels)
        return vt_err("image pixels: the largest resized area (%ld) is below the smallest (%ld)", s->images.max_pixels,
                      s->images.min_pixels);
    return 0;
}

/* MB of inputs per CUDA graph (mx_gpu_limit_in_flight): bounds the memory MLX's queue ahead of the GPU holds;
 * chosen from the H200 measurements in bench/README.md ("Work in flight"). */
#define GPU_GRAPH_MB 100

int vt_session_open(vt_session *s, const vt_session_options *o) {
    *s = (vt_session){0};
    if (!o->model || !*o->model) return vt_err("no model directory given");
    if (o->weights) TRY(mx_gpu_limit_in_flight(GPU_GRAPH_MB));
    int rc = o->tokenizer ? vt_tokenizer_load(&s->tok, o->tokenizer_path ? o->tokenizer_path : o->model) : 0;
    if (rc == 0 && o->weights) rc = vt_model_load(&s->model, o->model);
    if (rc == 0 && o->adapter) {
        if (!s->model) rc = vt_err("an adapter needs the model's weights");
        else rc = vt_lora_load(&s->adapter, s->model, o->adapter);
    }
    if (rc == 0) special_ids(s), rc = image_settings(s, o);
    if (rc == 0 && o->weights) rc = load_generation(s, o->model);
    if (rc) vt_session_close(s);
    return rc;
}

int vt_session_make_resident(vt_session *s) {
    if (!s->model) return 0;
    enum { AT_ONCE = 64 }; /* arrays per evaluation: a short list, the reads still overlap */
    mx_array batch[AT_ONCE];
    size_t n = 0, total = mx_tensors_count(s->model->files.tensors);
    for (size_t i = 0; i < total; i++) {
        batch[n++] = mx_tensors_at(s->model->files.tensors, i);
        if (n < AT_ONCE && i + 1 < total) continue;
        TRY(mx_eval(batch, n));
        n = 0;
    }
    /* the session's adapter is only ever applied: prepared for inference in the activations' type, laid out for
     * matrix-vector kernels on a GPU (VLMTUNE_ADAPTER_LAYOUT=gemv or plain chooses: docs/GENERATE.md) */
    if (!s->adapter) return 0;
    const char *layout = getenv("VLMTUNE_ADAPTER_LAYOUT");
    bool gemv = mx_default_device() == MX_GPU;
    if (layout && *layout) {
        if (strcmp(layout, "gemv") != 0 && strcmp(layout, "plain") != 0)
            return vt_err("VLMTUNE_ADAPTER_LAYOUT is '%s': expected gemv or plain", layout);
        gemv = strcmp(layout, "gemv") == 0;
    }
    return vt_lora_prepare(s->adapter, mx_dtype_of(s->model->text.norm.weight), gemv);
}

void vt_session_close(vt_session *s) {
    if (!s) return;
    vt_lora_free(s->adapter);
    vt_model_free(s->model);
    vt_tokenizer_free(s->tok);
    *s = (vt_session){0};
}

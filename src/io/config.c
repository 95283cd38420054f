#include "io/config.h"

#include <stdio.h>
#include <string.h>

#include "io/json.h"
#include "util/error.h"

static int parse_rope(vt_model_config *c, const cJSON *text, const char *what) {
    const cJSON *rope = cJSON_GetObjectItemCaseSensitive(text, "rope_parameters");
    if (!cJSON_IsObject(rope)) rope = cJSON_GetObjectItemCaseSensitive(text, "rope_scaling");
    if (!cJSON_IsObject(rope))
        return vt_err("%s: missing \"rope_scaling\" or \"rope_parameters\" (with mrope_section)", what);
    char rwhat[4400];
    snprintf(rwhat, sizeof rwhat, "%s: rope", what);
    int n = 0;
    TRY(vt_json_int_array(rope, "mrope_section", c->mrope_section, 3, &n, rwhat));
    if (n != 3) return vt_err("%s: mrope_section must have 3 entries (t, h, w), got %d", rwhat, n);
    c->mrope_interleaved = true;
    TRY(vt_json_bool_opt(rope, "mrope_interleaved", &c->mrope_interleaved, rwhat));
    c->rope_theta = 0;
    TRY(vt_json_double_opt(rope, "rope_theta", &c->rope_theta, rwhat));
    TRY(vt_json_double_opt(text, "rope_theta", &c->rope_theta, what));
    if (c->rope_theta <= 0) return vt_err("%s: missing \"rope_theta\" (in text_config or its rope parameters)", what);
    if (c->mrope_section[0] + c->mrope_section[1] + c->mrope_section[2] != c->head_dim / 2)
        return vt_err("%s: mrope_section [%d, %d, %d] must add up to head_dim / 2 = %d", rwhat, c->mrope_section[0],
                      c->mrope_section[1], c->mrope_section[2], c->head_dim / 2);
    return 0;
}

static int parse_text(vt_model_config *c, const cJSON *text, const char *what) {
    TRY(vt_json_int(text, "hidden_size", &c->hidden, what));
    TRY(vt_json_int(text, "num_hidden_layers", &c->layers, what));
    TRY(vt_json_int(text, "intermediate_size", &c->intermediate, what));
    TRY(vt_json_int(text, "num_attention_heads", &c->heads, what));
    TRY(vt_json_int(text, "vocab_size", &c->vocab, what));
    c->kv_heads = c->heads;
    TRY(vt_json_int_opt(text, "num_key_value_heads", &c->kv_heads, what));
    c->head_dim = c->heads > 0 ? c->hidden / c->heads : 0;
    TRY(vt_json_int_opt(text, "head_dim", &c->head_dim, what));
    c->rms_eps = 1e-6;
    TRY(vt_json_double_opt(text, "rms_norm_eps", &c->rms_eps, what));
    bool bias = false;
    TRY(vt_json_bool_opt(text, "attention_bias", &bias, what));
    if (bias) return vt_err("%s: attention_bias true is not a Qwen3-VL setting vlmtune supports", what);
    if (c->hidden <= 0 || c->layers <= 0 || c->heads <= 0 || c->kv_heads <= 0 || c->head_dim <= 0 ||
        c->vocab <= 0 || c->intermediate <= 0)
        return vt_err("%s: sizes must be positive", what);
    if (c->heads % c->kv_heads) return vt_err("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                                              what, c->heads, c->kv_heads);
    if (c->head_dim % 2) return vt_err("%s: head_dim must be even, got %d", what, c->head_dim);
    return parse_rope(c, text, what);
}

static int parse_vision(vt_model_config *c, const cJSON *vision, const char *what) {
    TRY(vt_json_int(vision, "depth", &c->v_depth, what));
    TRY(vt_json_int(vision, "hidden_size", &c->v_hidden, what));
    TRY(vt_json_int(vision, "intermediate_size", &c->v_intermediate, what));
    TRY(vt_json_int(vision, "num_heads", &c->v_heads, what));
    TRY(vt_json_int(vision, "out_hidden_size", &c->v_out, what));
    TRY(vt_json_int(vision, "patch_size", &c->patch, what));
    c->temporal_patch = 2, c->merge = 2, c->in_channels = 3, c->num_pos_embed = 2304;
    TRY(vt_json_int_opt(vision, "temporal_patch_size", &c->temporal_patch, what));
    TRY(vt_json_int_opt(vision, "spatial_merge_size", &c->merge, what));
    TRY(vt_json_int_opt(vision, "in_channels", &c->in_channels, what));
    TRY(vt_json_int_opt(vision, "num_position_embeddings", &c->num_pos_embed, what));
    c->n_deepstack = 0;
    if (cJSON_GetObjectItemCaseSensitive(vision, "deepstack_visual_indexes"))
        TRY(vt_json_int_array(vision, "deepstack_visual_indexes", c->deepstack, VT_MAX_DEEPSTACK, &c->n_deepstack, what));
    for (int i = 0; i < c->n_deepstack; i++)
        if (c->deepstack[i] < 0 || c->deepstack[i] >= c->v_depth)
            return vt_err("%s: deepstack_visual_indexes[%d] = %d is outside the %d blocks", what, i, c->deepstack[i],
                          c->v_depth);
    const char *act = "gelu_pytorch_tanh";
    if (cJSON_GetObjectItemCaseSensitive(vision, "hidden_act")) TRY(vt_json_string(vision, "hidden_act", &act, what));
    if (strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu"))
        return vt_err("%s: hidden_act '%s' is not supported (gelu_pytorch_tanh or gelu)", what, act);
    c->v_gelu_tanh = !strcmp(act, "gelu_pytorch_tanh");
    c->v_rope_theta = 10000.0;
    const cJSON *rope = cJSON_GetObjectItemCaseSensitive(vision, "rope_parameters");
    if (cJSON_IsObject(rope)) TRY(vt_json_double_opt(rope, "rope_theta", &c->v_rope_theta, what));
    int grid = 1;
    while (grid * grid < c->num_pos_embed) grid++;
    if (grid * grid != c->num_pos_embed)
        return vt_err("%s: num_position_embeddings %d is not a square grid", what, c->num_pos_embed);
    if (c->v_heads <= 0 || c->v_hidden % c->v_heads || (c->v_hidden / c->v_heads) % 4)
        return vt_err("%s: hidden_size %d / num_heads %d must give a head size divisible by 4", what, c->v_hidden,
                      c->v_heads);
    if (c->v_out != c->hidden)
        return vt_err("%s: out_hidden_size %d differs from the text hidden_size %d", what, c->v_out, c->hidden);
    return 0;
}

static int parse_quantization(vt_model_config *c, const cJSON *root, const char *what) {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization");
    if (!q) q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    if (!q || cJSON_IsFalse(q) || cJSON_IsNull(q)) return 0;
    char qwhat[4400];
    snprintf(qwhat, sizeof qwhat, "%s: quantization", what);
    if (!cJSON_IsObject(q)) return vt_err("%s must be an object", qwhat);
    const char *mode = "affine";
    if (cJSON_GetObjectItemCaseSensitive(q, "mode")) TRY(vt_json_string(q, "mode", &mode, qwhat));
    if (strcmp(mode, "affine")) return vt_err("%s: mode '%s' is not supported (affine only)", qwhat, mode);
    TRY(vt_json_int(q, "group_size", &c->q_group_size, qwhat));
    TRY(vt_json_int(q, "bits", &c->q_bits, qwhat));
    return 0;
}

static int token_id(const cJSON *root, const char *key, int fallback, int *out, const char *what) {
    *out = fallback;
    return vt_json_int_opt(root, key, out, what);
}

int vt_model_config_load(vt_model_config *c, const char *dir) {
    char path[4096], what[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(what, sizeof what, "%s", path);
    *c = (vt_model_config){0};
    cJSON *root;
    TRY(vt_json_load(&root, path));
    int rc = -1;
    const char *model_type = NULL;
    const cJSON *text, *vision;
    char twhat[4300], vwhat[4300];
    snprintf(twhat, sizeof twhat, "%s: text_config", what);
    snprintf(vwhat, sizeof vwhat, "%s: vision_config", what);
    if (vt_json_string(root, "model_type", &model_type, what)) goto done;
    if (strcmp(model_type, "qwen3_vl")) {
        vt_err("%s: model_type '%s' is not supported (vlmtune supports qwen3_vl)", what, model_type);
        goto done;
    }
    if (vt_json_object(root, "text_config", &text, what) || vt_json_object(root, "vision_config", &vision, what) ||
        parse_text(c, text, twhat) || parse_vision(c, vision, vwhat) || parse_quantization(c, root, what))
        goto done;
    /* transformers 5 reads the top-level flag; older files may only have the text_config one */
    c->tie_embeddings = false;
    if (vt_json_bool_opt(text, "tie_word_embeddings", &c->tie_embeddings, twhat) ||
        vt_json_bool_opt(root, "tie_word_embeddings", &c->tie_embeddings, what))
        goto done;
    if (token_id(root, "image_token_id", 151655, &c->image_token_id, what) ||
        token_id(root, "video_token_id", 151656, &c->video_token_id, what) ||
        token_id(root, "vision_start_token_id", 151652, &c->vision_start_id, what) ||
        token_id(root, "vision_end_token_id", 151653, &c->vision_end_id, what))
        goto done;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    if (!cJSON_IsString(dt)) dt = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if (cJSON_IsString(dt)) snprintf(c->dtype, sizeof c->dtype, "%s", dt->valuestring);
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

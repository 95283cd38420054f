/* mlx_format.c — mlx-vlm's adapter directories: adapter_config.json + adapters.safetensors. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "lora/formats.h"
#include "util/fs.h"

/* ---------------------------------------------------------------- saving ---- */

/* adapter_config.json as mlx-vlm writes it, into a malloc'd string. */
static int config_json(const vt_lora *l, char **out) {
    cJSON *root = cJSON_CreateObject(), *lp = cJSON_CreateObject(), *keys = cJSON_CreateArray();
    if (!root || !lp || !keys) goto oom;
    const vt_lora_config *c = vt_lora_config_of(l);
    cJSON_AddItemToObject(root, "fine_tune_type", cJSON_CreateString(c->kind == VT_ADAPTER_DORA ? "dora" : "lora"));
    cJSON_AddItemToObject(root, "num_layers", cJSON_CreateNumber(c->num_layers <= 0 ? -1 : c->num_layers));
    cJSON_AddItemToObject(lp, "rank", cJSON_CreateNumber(c->rank));
    cJSON_AddItemToObject(lp, "dropout", cJSON_CreateNumber(c->dropout));
    cJSON_AddItemToObject(lp, "scale", cJSON_CreateNumber(c->scale));
    for (size_t i = 0; i < vt_lora_count(l); i++)
        cJSON_AddItemToArray(keys, cJSON_CreateString(vt_lora_layer(l, i, NULL, NULL, NULL)->name));
    cJSON_AddItemToObject(lp, "keys", keys);
    keys = NULL;
    cJSON_AddItemToObject(root, "lora_parameters", lp);
    lp = NULL;
    const vt_adapter_meta *meta = vt_lora_meta(l);
    if (meta->image_min_pixels > 0 || meta->image_max_pixels > 0) {
        cJSON *ours = cJSON_AddObjectToObject(root, "vlmtune");
        if (meta->image_min_pixels > 0) cJSON_AddNumberToObject(ours, "image_min_pixels", (double)meta->image_min_pixels);
        if (meta->image_max_pixels > 0) cJSON_AddNumberToObject(ours, "image_max_pixels", (double)meta->image_max_pixels);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return vt_err("out of memory");
    *out = text;
    return 0;
oom:
    cJSON_Delete(keys);
    cJSON_Delete(lp);
    cJSON_Delete(root);
    return vt_err("out of memory");
}

int vt_lora_save(const vt_lora *l, const char *dir) {
    char path[4096];
    TRY(vt_mkdir_p(dir));
    mx_tensors *t;
    TRY(mx_tensors_new(&t));
    int rc = mx_tensors_meta_set(t, "format", "mlx");
    const vt_params *p = vt_lora_params((vt_lora *)l);
    for (size_t i = 0; rc == 0 && i < p->n; i++) rc = mx_tensors_set(t, p->names[i], p->values[i]);
    if (rc == 0) rc = vt_path_join(path, sizeof path, dir, "adapters.safetensors") || mx_save_safetensors(path, t);
    mx_tensors_free(t);
    if (rc) return vt_err_context("saving adapters to %s", dir);
    char *json = NULL;
    TRY(config_json(l, &json));
    rc = vt_path_join(path, sizeof path, dir, "adapter_config.json") || vt_write_file_atomic(path, json, strlen(json));
    free(json);
    return rc;
}

/* --------------------------------------------------------------- loading ---- */

/* The "vlmtune" block: the preprocessing the adapter was trained with. */
static int read_meta(const cJSON *r, const char *path, vt_adapter_meta *meta) {
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "vlmtune");
    if (!ours) return 0;
    if (!cJSON_IsObject(ours)) return vt_err("%s: \"vlmtune\" must be an object", path);
    double lo = 0, hi = 0;
    TRY(vt_json_double_opt(ours, "image_min_pixels", &lo, path));
    TRY(vt_json_double_opt(ours, "image_max_pixels", &hi, path));
    if (lo < 0 || hi < 0 || (lo > 0 && hi > 0 && hi < lo))
        return vt_err("%s: vlmtune.image_min_pixels / image_max_pixels must be positive with min <= max", path);
    meta->image_min_pixels = (long)lo, meta->image_max_pixels = (long)hi;
    return 0;
}

static int read_config(const char *path, vt_lora_config *cfg, vt_adapter_meta *meta, const cJSON **keys,
                       cJSON **root) {
    TRY(vt_json_load(root, path));
    const cJSON *r = *root, *lp;
    const char *type = "lora";
    if (!cJSON_IsObject(r)) return vt_err("%s: expected a JSON object", path);
    if (cJSON_GetObjectItemCaseSensitive(r, "fine_tune_type")) TRY(vt_json_string(r, "fine_tune_type", &type, path));
    if (!strcmp(type, "lora")) cfg->kind = VT_ADAPTER_LORA;
    else if (!strcmp(type, "dora")) cfg->kind = VT_ADAPTER_DORA;
    else return vt_err("%s: fine_tune_type \"%s\" is not an adapter (expected \"lora\" or \"dora\")", path, type);
    if (!cJSON_GetObjectItemCaseSensitive(r, "lora_parameters")) {
        if (cJSON_GetObjectItemCaseSensitive(r, "rank"))
            return vt_err("%s: this is mlx-vlm's legacy adapter format (rank/alpha at the top level); load it "
                          "with mlx-vlm and save it again, or convert it to {\"lora_parameters\": {...}}", path);
        return vt_err("%s: missing field \"lora_parameters\" (an object with rank, scale, dropout, keys)", path);
    }
    char what[4200];
    snprintf(what, sizeof what, "%s: lora_parameters", path);
    TRY(vt_json_object(r, "lora_parameters", &lp, path));
    cfg->num_layers = -1;
    TRY(vt_json_int_opt(r, "num_layers", &cfg->num_layers, path));
    TRY(vt_json_int(lp, "rank", &cfg->rank, what));
    TRY(vt_json_double(lp, "scale", &cfg->scale, what));
    cfg->dropout = 0;
    TRY(vt_json_double_opt(lp, "dropout", &cfg->dropout, what));
    *keys = cJSON_GetObjectItemCaseSensitive(lp, "keys");
    if (*keys && !cJSON_IsArray(*keys)) return vt_err("%s: field \"keys\" must be an array of module paths", what);
    return read_meta(r, path, meta);
}

int vt_lora_load_mlx(vt_lora **out, vt_model *m, const char *dir) {
    char cfg_path[4096], weights[4096];
    TRY(vt_path_join(cfg_path, sizeof cfg_path, dir, "adapter_config.json"));
    TRY(vt_path_join(weights, sizeof weights, dir, "adapters.safetensors"));
    if (!vt_path_exists(cfg_path)) return vt_err("adapter %s: adapter_config.json is missing", dir);
    if (!vt_path_exists(weights)) return vt_err("adapter %s: adapters.safetensors is missing", dir);
    vt_lora_config cfg = {0};
    vt_adapter_meta meta = {0};
    const cJSON *keys = NULL, *k;
    cJSON *root = NULL;
    mx_tensors *t = NULL;
    char **names = NULL;
    size_t n = 0;
    int rc = read_config(cfg_path, &cfg, &meta, &keys, &root);
    if (rc == 0 && keys) {
        names = calloc((size_t)cJSON_GetArraySize(keys) + 1, sizeof *names);
        if (!names) rc = vt_err("out of memory");
        cJSON_ArrayForEach(k, keys) {
            if (rc) break;
            if (!cJSON_IsString(k)) rc = vt_err("%s: lora_parameters.keys holds a non-string", cfg_path);
            else names[n++] = k->valuestring;
        }
    }
    if (rc == 0) rc = mx_load_safetensors(&t, weights);
    if (rc == 0) rc = vt_lora_assemble(out, m, &cfg, keys ? names : NULL, n, t, weights);
    if (rc == 0) vt_lora_set_meta(*out, &meta);
    mx_tensors_free(t);
    free(names);
    cJSON_Delete(root);
    return rc ? vt_err_context("adapter %s", dir) : 0;
}

/* ------------------------------------------------------ starting values ---- */

/* Each tensor of `t` must be one of l's parameters with its shape; every parameter must be there. */
static int take_values(vt_lora *l, mx_tensors *t, const char *file) {
    vt_params *p = vt_lora_params(l);
    for (size_t i = 0; i < mx_tensors_count(t); i++)
        if (vt_params_find(p, mx_tensors_name(t, i)) < 0)
            return vt_err("%s: tensor '%s' is not a parameter of the adapters this configuration makes", file,
                          mx_tensors_name(t, i));
    for (size_t i = 0; i < p->n; i++) {
        mx_array a = mx_tensors_get(t, p->names[i]), copy;
        char got[96], want[96];
        if (!a) return vt_err("%s: tensor '%s' is missing (the adapters were made with other settings?)", file, p->names[i]);
        if (mx_ndim(a) != mx_ndim(p->values[i]) || mx_size(a) != mx_size(p->values[i]))
            return vt_err("%s: tensor '%s' is %s, the configuration makes %s", file, p->names[i],
                          mx_describe(a, got, sizeof got), mx_describe(p->values[i], want, sizeof want));
        TRY(mx_astype(&copy, a, mx_dtype_of(p->values[i])));
        TRY(mx_eval(&copy, 1));
        mx_keep(copy, NULL);
        vt_params_replace(p, i, copy);
    }
    return 0;
}

int vt_lora_load_values(vt_lora *l, const char *path) {
    char file[4200];
    if (vt_is_dir(path)) TRY(vt_path_join(file, sizeof file, path, "adapters.safetensors"));
    else snprintf(file, sizeof file, "%s", path);
    mx_tensors *t;
    TRY(mx_load_safetensors(&t, file));
    mx_arena *scope = mx_scope_begin();
    int rc = take_values(l, t, file);
    mx_scope_end(scope);
    mx_tensors_free(t);
    if (rc == 0) vt_lora_bind(l, NULL);
    return rc;
}

/* peft.c — PEFT adapter directories to and from vt_lora. */
#include "lora/peft.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "io/model_dir.h"
#include "util/fs.h"

static const char *PREFIX = "base_model.model.";

static const struct {
    const char *peft, *mlx;
    bool transpose;
} parts[] = {
    {".lora_A.weight", "lora_a", true},
    {".lora_B.weight", "lora_b", true},
    {".lora_magnitude_vector.weight", "m", false},
    {".lora_magnitude_vector", "m", false},
};

bool vt_peft_is_adapter(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    return vt_path_exists(path);
}

/* ------------------------------------------------------------- reading ---- */

static int read_peft_config(const char *path, vt_lora_config *cfg) {
    cJSON *root;
    TRY(vt_json_load(&root, path));
    const char *type = NULL;
    double alpha = 0;
    bool dora = false, rslora = false;
    int rc = vt_json_string(root, "peft_type", &type, path);
    if (rc == 0 && strcmp(type, "LORA")) rc = vt_err("%s: peft_type \"%s\" is not LORA", path, type);
    if (rc == 0) rc = vt_json_int(root, "r", &cfg->rank, path) || vt_json_double(root, "lora_alpha", &alpha, path) ||
                      vt_json_bool_opt(root, "use_dora", &dora, path) || vt_json_bool_opt(root, "use_rslora", &rslora, path);
    cfg->dropout = 0;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "lora_dropout");
    if (cJSON_IsNumber(d)) cfg->dropout = d->valuedouble;
    const char *patterns[] = {"rank_pattern", "alpha_pattern"};
    for (int i = 0; rc == 0 && i < 2; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, patterns[i]);
        if (cJSON_IsObject(p) && p->child)
            rc = vt_err("%s: %s (per-layer ranks or alphas) is not supported", path, patterns[i]);
    }
    cJSON_Delete(root);
    if (rc) return -1;
    if (cfg->rank < 1) return vt_err("%s: r must be at least 1", path);
    cfg->kind = dora ? VT_ADAPTER_DORA : VT_ADAPTER_LORA;
    cfg->scale = rslora ? alpha / sqrt((double)cfg->rank) : alpha / cfg->rank;
    cfg->num_layers = -1;
    return 0;
}

static int add_module(char ***modules, size_t *n, const char *name) {
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*modules)[i], name)) return 0;
    char **grown = realloc(*modules, (*n + 1) * sizeof *grown);
    if (!grown) return vt_err("out of memory");
    *modules = grown;
    if (!((*modules)[*n] = strdup(name))) return vt_err("out of memory");
    ++*n;
    return 0;
}

/* One PEFT tensor under its mlx-vlm name, transposed where the layouts differ. */
static int convert_tensor(const char *file, const char *key, mx_array a, mx_tensors *out, char ***modules, size_t *n) {
    size_t plen = strlen(PREFIX), klen = strlen(key);
    if (strncmp(key, PREFIX, plen))
        return vt_err("%s: tensor '%s' does not start with '%s' (not a PEFT LoRA file?)", file, key, PREFIX);
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        size_t slen = strlen(parts[i].peft);
        if (klen < plen + slen || strcmp(key + klen - slen, parts[i].peft)) continue;
        char hf[1100], module[1100], name[1200];
        bool was_hf;
        snprintf(hf, sizeof hf, "%.*s", (int)(klen - plen - slen), key + plen);
        vt_canonical_name(hf, module, sizeof module, &was_hf);
        snprintf(name, sizeof name, "%s.%s", module, parts[i].mlx);
        TRY(add_module(modules, n, module));
        mx_array v = a;
        if (parts[i].transpose) {
            if (mx_ndim(a) != 2) return vt_err("%s: tensor '%s' must be a matrix", file, key);
            TRY(mx_transpose(&v, a, NULL, 0));
            TRY(mx_contiguous(&v, v));
        }
        return mx_tensors_set(out, name, v);
    }
    return vt_err("%s: tensor '%s' is not a LoRA tensor (lora_A, lora_B or lora_magnitude_vector)", file, key);
}

int vt_lora_load_peft(vt_lora **out, vt_model *m, const char *dir) {
    char cfg_path[4200], file[4200];
    snprintf(cfg_path, sizeof cfg_path, "%s/adapter_config.json", dir);
    snprintf(file, sizeof file, "%s/adapter_model.safetensors", dir);
    if (!vt_path_exists(cfg_path)) return vt_err("adapter %s: adapter_config.json is missing", dir);
    vt_lora_config cfg = {0};
    TRY(read_peft_config(cfg_path, &cfg));
    mx_tensors *in = NULL, *t = NULL;
    char **modules = NULL;
    size_t n = 0;
    mx_arena *scope = mx_scope_begin();
    int rc = mx_load_safetensors(&in, file) || mx_tensors_new(&t);
    for (size_t i = 0; rc == 0 && i < mx_tensors_count(in); i++)
        rc = convert_tensor(file, mx_tensors_name(in, i), mx_tensors_at(in, i), t, &modules, &n);
    if (rc == 0) rc = vt_lora_assemble(out, m, &cfg, modules, n, t, file);
    for (size_t i = 0; i < n; i++) free(modules[i]);
    free(modules);
    mx_tensors_free(t);
    mx_tensors_free(in);
    mx_scope_end(scope);
    return rc ? vt_err_context("PEFT adapter %s", dir) : 0;
}

/* ------------------------------------------------------------- writing ---- */

static int write_peft_config(const vt_lora *l, char **modules, size_t n, const char *path, const char *base) {
    const vt_lora_config *c = vt_lora_config_of(l);
    cJSON *root = cJSON_CreateObject(), *targets = cJSON_CreateArray();
    if (!root || !targets) {
        cJSON_Delete(root), cJSON_Delete(targets);
        return vt_err("out of memory");
    }
    cJSON_AddStringToObject(root, "peft_type", "LORA");
    cJSON_AddStringToObject(root, "task_type", "CAUSAL_LM");
    cJSON_AddStringToObject(root, "base_model_name_or_path", base ? base : "");
    cJSON_AddNumberToObject(root, "r", c->rank);
    cJSON_AddNumberToObject(root, "lora_alpha", c->scale * c->rank);
    cJSON_AddNumberToObject(root, "lora_dropout", c->dropout);
    cJSON_AddBoolToObject(root, "use_dora", c->kind == VT_ADAPTER_DORA);
    cJSON_AddBoolToObject(root, "use_rslora", false);
    cJSON_AddStringToObject(root, "bias", "none");
    cJSON_AddBoolToObject(root, "fan_in_fan_out", false);
    cJSON_AddBoolToObject(root, "inference_mode", true);
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(targets, cJSON_CreateString(modules[i]));
    cJSON_AddItemToObject(root, "target_modules", targets);
    return vt_json_write_atomic(path, root);
}

/* One adapted layer's tensors under PEFT's names (A and B transposed). */
static int put_layer(const vt_lora *l, size_t i, mx_tensors *t, char ***modules, size_t *n) {
    mx_array arrays[3];
    const vt_linear *lin = vt_lora_layer(l, i, &arrays[0], &arrays[1], &arrays[2]);
    static const char *const suffix[3] = {".lora_A.weight", ".lora_B.weight", ".lora_magnitude_vector"};
    char hf[1100], key[1300];
    vt_hf_name(lin->name, hf, sizeof hf);
    TRY(add_module(modules, n, hf));
    for (int k = 0; k < 3; k++) {
        mx_array v = arrays[k];
        if (!v) continue;
        if (k < 2) TRY(mx_transpose(&v, v, NULL, 0) || mx_contiguous(&v, v));
        snprintf(key, sizeof key, "%s%s%s", PREFIX, hf, suffix[k]);
        TRY(mx_tensors_set(t, key, v));
    }
    return 0;
}

int vt_lora_save_peft(const vt_lora *l, const char *dir, const char *base_model) {
    char path[4200];
    TRY(vt_mkdir_p(dir));
    mx_arena *scope = mx_scope_begin();
    mx_tensors *t = NULL;
    char **modules = NULL;
    size_t n = 0;
    int rc = mx_tensors_new(&t) || mx_tensors_meta_set(t, "format", "pt");
    for (size_t i = 0; rc == 0 && i < vt_lora_count(l); i++) rc = put_layer(l, i, t, &modules, &n);
    if (rc == 0) rc = vt_path_join(path, sizeof path, dir, "adapter_model.safetensors") || mx_save_safetensors(path, t);
    if (rc == 0) rc = vt_path_join(path, sizeof path, dir, "adapter_config.json") ||
                      write_peft_config(l, modules, n, path, base_model);
    for (size_t i = 0; i < n; i++) free(modules[i]);
    free(modules);
    mx_tensors_free(t);
    mx_scope_end(scope);
    return rc ? vt_err_context("writing the PEFT adapter %s", dir) : 0;
}

/* lora.c — LoRA/DoRA hooks on vt_linear, their selection, and mlx-vlm's adapter format. */
#include "lora/lora.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "util/fs.h"
#include "util/mix.h"
#include "lora/peft.h"

typedef struct {
    vt_lora *owner;
    vt_linear *lin;   /* borrowed from the model */
    size_t first;     /* index of lora_a in owner->params; lora_b follows, then m (DoRA) */
    mx_array a, b, m; /* what the hook reads: the params' arrays, or bound ones */
} adapter;

struct vt_lora {
    vt_model *model;  /* borrowed */
    vt_lora_config cfg;
    char *keys;       /* owned copy of cfg.keys */
    adapter *ad;      /* owned */
    size_t n;
    vt_params params;
    bool training;
    uint64_t seed;
};

static const char *const default_keys[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

vt_params *vt_lora_params(vt_lora *l) { return &l->params; }
const vt_lora_config *vt_lora_config_of(const vt_lora *l) { return &l->cfg; }
size_t vt_lora_count(const vt_lora *l) { return l->n; }

/* ------------------------------------------------------------ the hook ---- */

/* Inverted dropout, as mlx.nn.Dropout: keep with probability 1 − p and scale by 1/(1 − p). */
static int dropout(const adapter *ad, mx_array x, mx_array *out) {
    double p = ad->owner->cfg.dropout;
    mx_array key, keep, zero, scaled;
    TRY(mx_random_key(&key, vt_mix64(ad->owner->seed ^ vt_mix64(ad->first))));
    TRY(mx_random_bernoulli(&keep, 1.0 - p, mx_shape(x), mx_ndim(x), key));
    TRY(mx_mul_scalar(&scaled, x, 1.0 / (1.0 - p)));
    TRY(mx_zeros_like(&zero, x));
    return mx_where(out, keep, scaled, zero);
}

static int dense_weight(const vt_linear *lin, mx_array *w) {
    if (!lin->scales) return mx_ref(w, lin->weight);
    return mx_dequantize(w, lin->weight, lin->scales, lin->biases, lin->group_size, lin->bits);
}

/* ‖W + scale·(AB)ᵀ‖ per output row, a constant for the backward pass. */
static int dora_norm(const adapter *ad, mx_array *norm) {
    mx_array w, ab, abt, adapted, sq;
    int axis = 1;
    TRY(dense_weight(ad->lin, &w));
    TRY(mx_matmul(&ab, ad->a, ad->b));
    TRY(mx_transpose(&abt, ab, NULL, 0));
    TRY(mx_mul_scalar(&abt, abt, ad->owner->cfg.scale));
    TRY(mx_add(&adapted, w, abt));
    TRY(mx_square(&sq, adapted));
    TRY(mx_sum(&sq, sq, &axis, 1, false));
    TRY(mx_sqrt(&sq, sq));
    return mx_stop_gradient(norm, sq);
}

static int adapter_forward(void *state, mx_array x, mx_array y_base, mx_array *y) {
    const adapter *ad = state;
    const vt_lora *l = ad->owner;
    mx_array in = x, z;
    if (l->training && l->cfg.dropout > 0) TRY(dropout(ad, x, &in));
    TRY(mx_matmul(&z, in, ad->a));
    TRY(mx_matmul(&z, z, ad->b));
    TRY(mx_mul_scalar(&z, z, l->cfg.scale));
    TRY(mx_astype(&z, z, mx_dtype_of(x)));
    if (l->cfg.kind == VT_ADAPTER_LORA) return mx_add(y, y_base, z);
    mx_array base = y_base, out, norm, gain;
    if (ad->lin->bias) TRY(mx_subtract(&base, y_base, ad->lin->bias));
    TRY(mx_add(&out, base, z));
    TRY(dora_norm(ad, &norm));
    TRY(mx_divide(&gain, ad->m, norm));
    TRY(mx_astype(&gain, gain, mx_dtype_of(x)));
    TRY(mx_multiply(&out, out, gain));
    if (ad->lin->bias) return mx_add(y, out, ad->lin->bias);
    *y = out;
    return 0;
}

/* Points the hooks at `values` (or the params' own arrays). */
void vt_lora_bind(vt_lora *l, const mx_array *values) {
    const mx_array *v = values ? values : l->params.values;
    for (size_t i = 0; i < l->n; i++) {
        adapter *ad = &l->ad[i];
        ad->a = v[ad->first], ad->b = v[ad->first + 1];
        ad->m = l->cfg.kind == VT_ADAPTER_DORA ? v[ad->first + 2] : NULL;
    }
}

void vt_lora_set_training(vt_lora *l, bool training, uint64_t seed) {
    l->training = training;
    l->seed = seed;
}

/* ----------------------------------------------------------- selection ---- */

static const char *last_component(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

static bool is_vision(const char *name) { return !strncmp(name, "vision_tower.", 13); }

/* Decoder layer index of a text module, or -1. */
static int text_layer(const char *name) {
    const char *p = "language_model.model.layers.";
    return strncmp(name, p, strlen(p)) ? -1 : atoi(name + strlen(p));
}

static bool ends_with_path(const char *name, const char *key) {
    size_t n = strlen(name), k = strlen(key);
    return n >= k && !strcmp(name + n - k, key) && (n == k || name[n - k - 1] == '.');
}

typedef struct {
    vt_lora *l;
    char **tokens;     /* the keys, split */
    size_t n_tokens;
    int *hits;         /* per token */
    vt_linear **chosen;
    size_t n_chosen;
} selection;

static bool in_layer_range(const vt_lora *l, const char *name) {
    int layer = text_layer(name), layers = l->model->config.layers;
    return layer < 0 || l->cfg.num_layers <= 0 || layer >= layers - l->cfg.num_layers;
}

static int consider(void *ctx, vt_linear *lin) {
    selection *s = ctx;
    bool take = false;
    if (is_vision(lin->name)) {
        take = s->l->cfg.vision;
    } else if (in_layer_range(s->l, lin->name)) {
        if (s->n_tokens == 0)
            for (size_t k = 0; k < sizeof default_keys / sizeof *default_keys; k++)
                take |= !strcmp(last_component(lin->name), default_keys[k]);
    }
    for (size_t k = 0; k < s->n_tokens; k++) {
        const char *key = s->tokens[k];
        bool hit = strchr(key, '.') ? ends_with_path(lin->name, key)
                                    : !strcmp(last_component(lin->name), key) && !is_vision(lin->name) &&
                                          in_layer_range(s->l, lin->name);
        s->hits[k] += hit;
        take |= hit;
    }
    if (!take) return 0;
    if (lin->adapter) return vt_err("layer %s already carries an adapter", lin->name);
    vt_linear **grown = realloc(s->chosen, (s->n_chosen + 1) * sizeof *grown);
    if (!grown) return vt_err("out of memory");
    s->chosen = grown;
    s->chosen[s->n_chosen++] = lin;
    return 0;
}

static int split_keys(const char *keys, selection *s) {
    for (const char *p = keys ? keys : ""; *p;) {
        size_t len = strcspn(p, ", ");
        if (len) {
            char **grown = realloc(s->tokens, (s->n_tokens + 1) * sizeof *grown);
            if (!grown) return vt_err("out of memory");
            s->tokens = grown;
            if (!(s->tokens[s->n_tokens] = strndup(p, len))) return vt_err("out of memory");
            s->n_tokens++;
        }
        p += len + (p[len] != 0);
    }
    return (s->hits = calloc(s->n_tokens + 1, sizeof *s->hits)) ? 0 : vt_err("out of memory");
}

static int list_names(void *ctx, vt_linear *lin) {
    char *buf = ctx;
    const char *name = last_component(lin->name);
    char probe[64];
    snprintf(probe, sizeof probe, " %s,", name);
    if (!is_vision(lin->name) && !strstr(buf, probe) && strlen(buf) + strlen(probe) < 1024) strcat(buf, probe);
    return 0;
}

static void selection_free(selection *s) {
    for (size_t k = 0; k < s->n_tokens; k++) free(s->tokens[k]);
    free(s->tokens);
    free(s->hits);
    free(s->chosen);
}

static int select_layers(vt_lora *l, selection *s) {
    TRY(split_keys(l->cfg.keys, s));
    TRY(vt_model_each_linear(l->model, consider, s));
    for (size_t k = 0; k < s->n_tokens; k++)
        if (!s->hits[k]) {
            char names[1100] = "";
            vt_model_each_linear(l->model, list_names, names);
            return vt_err("LoRA keys: '%s' matches no linear layer (decoder layers have:%s or give a full module "
                          "path such as vision_tower.blocks.0.attn.qkv)", s->tokens[k], names);
        }
    if (s->n_chosen == 0) return vt_err("LoRA: the configuration selects no layer");
    return 0;
}

/* --------------------------------------------------------- construction ---- */

static int add_param(vt_lora *l, const char *module, const char *suffix, mx_array value) {
    char name[512];
    snprintf(name, sizeof name, "%s.%s", module, suffix);
    return vt_params_add(&l->params, name, value);
}

static int row_norms(const vt_linear *lin, mx_array *out) {
    mx_array w, sq;
    int axis = 1;
    TRY(dense_weight(lin, &w));
    TRY(mx_astype(&w, w, MX_FLOAT32));
    TRY(mx_square(&sq, w));
    TRY(mx_sum(&sq, sq, &axis, 1, false));
    return mx_sqrt(out, sq);
}

/* Adds the hook state for `lin`, with a, b (and m) appended to params by the caller's `init`. */
static int hook(vt_lora *l, vt_linear *lin, size_t first) {
    adapter *ad = &l->ad[l->n++];
    *ad = (adapter){.owner = l, .lin = lin, .first = first};
    lin->adapter = ad;
    lin->adapter_fn = adapter_forward;
    lin->n_adapter_slots = l->cfg.kind == VT_ADAPTER_DORA ? 3 : 2;
    lin->adapter_slots[0] = &ad->a, lin->adapter_slots[1] = &ad->b, lin->adapter_slots[2] = &ad->m;
    return 0;
}

static int lora_new(vt_lora **out, vt_model *m, const vt_lora_config *cfg) {
    if (cfg->rank < 1) return vt_err("LoRA rank must be at least 1 (got %d)", cfg->rank);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1)) return vt_err("LoRA dropout must be in [0, 1) (got %g)", cfg->dropout);
    if (!isfinite(cfg->scale)) return vt_err("LoRA scale must be finite");
    vt_lora *l = calloc(1, sizeof *l);
    if (!l) return vt_err("out of memory");
    l->model = m;
    l->cfg = *cfg;
    if (cfg->keys && !(l->keys = strdup(cfg->keys))) {
        free(l);
        return vt_err("out of memory");
    }
    l->cfg.keys = l->keys;
    *out = l;
    return 0;
}

static int attach_fresh(vt_lora *l, const selection *s, uint64_t seed) {
    if (!(l->ad = calloc(s->n_chosen, sizeof *l->ad))) return vt_err("out of memory");
    mx_arena *scope = mx_scope_begin();
    int rc = 0;
    mx_array key;
    rc = mx_random_key(&key, seed);
    for (size_t i = 0; rc == 0 && i < s->n_chosen; i++) {
        vt_linear *lin = s->chosen[i];
        int sa[2] = {lin->in, l->cfg.rank}, sb[2] = {l->cfg.rank, lin->out};
        double bound = 1.0 / sqrt((double)lin->in);
        mx_array k1, k2, a, b, norm;
        size_t first = l->params.n;
        rc = mx_random_split(&k1, &k2, key) || mx_random_uniform(&a, -bound, bound, sa, 2, MX_FLOAT32, k2) ||
             mx_zeros(&b, sb, 2, MX_FLOAT32) || add_param(l, lin->name, "lora_a", a) ||
             add_param(l, lin->name, "lora_b", b);
        if (rc == 0 && l->cfg.kind == VT_ADAPTER_DORA) rc = row_norms(lin, &norm) || add_param(l, lin->name, "m", norm);
        if (rc == 0) rc = hook(l, lin, first);
        key = k1;
    }
    if (rc == 0) rc = mx_eval(l->params.values, l->params.n);
    mx_scope_end(scope);
    return rc;
}

/* The end of building adapters: on success hooks read the params and *out takes l; else l is freed. */
static int finish(vt_lora *l, selection *s, int rc, vt_lora **out) {
    selection_free(s);
    if (rc) {
        vt_lora_free(l);
        return -1;
    }
    vt_lora_bind(l, NULL);
    *out = l;
    return 0;
}

int vt_lora_attach(vt_lora **out, vt_model *m, const vt_lora_config *cfg, uint64_t seed) {
    vt_lora *l;
    TRY(lora_new(&l, m, cfg));
    selection s = {.l = l};
    int rc = select_layers(l, &s);
    if (rc == 0) rc = attach_fresh(l, &s, seed);
    return finish(l, &s, rc, out);
}

void vt_lora_free(vt_lora *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        vt_linear *lin = l->ad[i].lin;
        lin->adapter = NULL, lin->adapter_fn = NULL, lin->n_adapter_slots = 0;
    }
    free(l->ad);
    vt_params_free(&l->params);
    free(l->keys);
    free(l);
}

/* ---------------------------------------------------------------- fusing ---- */

int vt_lora_fused_weight(const vt_lora *l, size_t i, const vt_linear **lin_out, mx_array *weight) {
    if (i >= l->n) return vt_err("adapter %zu of %zu", i, l->n);
    const adapter *ad = &l->ad[i];
    mx_array w, ab, delta;
    TRY(dense_weight(ad->lin, &w));
    mx_dtype dt = mx_dtype_of(w);
    TRY(mx_matmul(&ab, ad->a, ad->b));
    TRY(mx_transpose(&delta, ab, NULL, 0));
    TRY(mx_mul_scalar(&delta, delta, l->cfg.scale));
    *lin_out = ad->lin;
    if (l->cfg.kind == VT_ADAPTER_LORA) {
        TRY(mx_astype(&delta, delta, dt));
        return mx_add(weight, w, delta);
    }
    mx_array adapted, norm, gain;
    int shape[2] = {ad->lin->out, 1};
    TRY(mx_add(&adapted, w, delta));
    TRY(dora_norm(ad, &norm));
    TRY(mx_divide(&gain, ad->m, norm));
    TRY(mx_reshape(&gain, gain, shape, 2));
    TRY(mx_multiply(&adapted, adapted, gain));
    return mx_astype(weight, adapted, dt);
}

/* ---------------------------------------------------------------- saving ---- */

int vt_lora_config_json(const vt_lora *l, char **out) {
    cJSON *root = cJSON_CreateObject(), *lp = cJSON_CreateObject(), *keys = cJSON_CreateArray();
    if (!root || !lp || !keys) goto oom;
    cJSON_AddItemToObject(root, "fine_tune_type", cJSON_CreateString(l->cfg.kind == VT_ADAPTER_DORA ? "dora" : "lora"));
    cJSON_AddItemToObject(root, "num_layers", cJSON_CreateNumber(l->cfg.num_layers <= 0 ? -1 : l->cfg.num_layers));
    cJSON_AddItemToObject(lp, "rank", cJSON_CreateNumber(l->cfg.rank));
    cJSON_AddItemToObject(lp, "dropout", cJSON_CreateNumber(l->cfg.dropout));
    cJSON_AddItemToObject(lp, "scale", cJSON_CreateNumber(l->cfg.scale));
    for (size_t i = 0; i < l->n; i++) cJSON_AddItemToArray(keys, cJSON_CreateString(l->ad[i].lin->name));
    cJSON_AddItemToObject(lp, "keys", keys);
    keys = NULL;
    cJSON_AddItemToObject(root, "lora_parameters", lp);
    lp = NULL;
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
    for (size_t i = 0; rc == 0 && i < l->params.n; i++) rc = mx_tensors_set(t, l->params.names[i], l->params.values[i]);
    if (rc == 0) rc = vt_path_join(path, sizeof path, dir, "adapters.safetensors") || mx_save_safetensors(path, t);
    mx_tensors_free(t);
    if (rc) return vt_err_context("saving adapters to %s", dir);
    char *json;
    TRY(vt_lora_config_json(l, &json));
    rc = vt_path_join(path, sizeof path, dir, "adapter_config.json") || vt_write_file_atomic(path, json, strlen(json));
    free(json);
    return rc;
}

/* --------------------------------------------------------------- loading ---- */

typedef struct {
    const char *name;
    vt_linear *found;
} find_ctx;

static int find_linear(void *ctx, vt_linear *lin) {
    find_ctx *f = ctx;
    if (!f->found && !strcmp(lin->name, f->name)) f->found = lin;
    return 0;
}

static int read_config(const char *path, vt_lora_config *cfg, const cJSON **keys, cJSON **root) {
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
    return 0;
}

static int choose(selection *s, vt_linear *lin) {
    vt_linear **grown = realloc(s->chosen, (s->n_chosen + 1) * sizeof *grown);
    if (!grown) return vt_err("out of memory");
    s->chosen = grown;
    s->chosen[s->n_chosen++] = lin;
    return 0;
}

/* The modules an adapter names: `names`, or mlx-vlm's default (every decoder linear of the last
 * num_layers layers) when there are none. */
static int named_modules(vt_lora *l, char *const *names, size_t n, const char *label, selection *s) {
    if (!names) {
        l->cfg.keys = NULL;
        return select_layers(l, s);
    }
    for (size_t i = 0; i < n; i++) {
        find_ctx f = {.name = names[i]};
        vt_model_each_linear(l->model, find_linear, &f);
        if (!f.found)
            return vt_err("%s: module '%s' is not a linear layer of model %s: the adapter was made for another model",
                          label, names[i], l->model->dir);
        TRY(choose(s, f.found));
    }
    if (s->n_chosen == 0) return vt_err("%s: the adapter names no module", label);
    return 0;
}

static int take_tensor(vt_lora *l, mx_tensors *t, const char *file, const char *module, const char *suffix,
                       int d0, int d1, int ndim, const char *why) {
    char name[512];
    snprintf(name, sizeof name, "%s.%s", module, suffix);
    mx_array a = mx_tensors_get(t, name);
    if (!a) return vt_err("%s: tensor '%s' is missing", file, name);
    int want[2] = {d0, d1};
    bool ok = mx_ndim(a) == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = mx_dim(a, i) == want[i];
    if (!ok) {
        char got[96], expected[64];
        if (ndim == 2) snprintf(expected, sizeof expected, "[%d, %d]", d0, d1);
        else snprintf(expected, sizeof expected, "[%d]", d0);
        return vt_err("%s: tensor '%s' is %s, expected %s (%s)", file, name, mx_describe(a, got, sizeof got),
                      expected, why);
    }
    TRY(vt_params_add(&l->params, name, a));
    return mx_tensors_remove(t, name);
}

static int load_weights(vt_lora *l, const selection *s, mx_tensors *t, const char *file) {
    int rc = (l->ad = calloc(s->n_chosen, sizeof *l->ad)) ? 0 : vt_err("out of memory");
    int r = l->cfg.rank;
    char why[128];
    for (size_t i = 0; rc == 0 && i < s->n_chosen; i++) {
        vt_linear *lin = s->chosen[i];
        size_t first = l->params.n;
        snprintf(why, sizeof why, "input %d × rank %d from the adapter's configuration", lin->in, r);
        rc = take_tensor(l, t, file, lin->name, "lora_a", lin->in, r, 2, why);
        snprintf(why, sizeof why, "rank %d from the adapter's configuration × output %d", r, lin->out);
        if (rc == 0) rc = take_tensor(l, t, file, lin->name, "lora_b", r, lin->out, 2, why);
        if (rc == 0 && l->cfg.kind == VT_ADAPTER_DORA) rc = take_tensor(l, t, file, lin->name, "m", lin->out, 0, 1, "output rows");
        if (rc == 0) rc = hook(l, lin, first);
    }
    if (rc == 0 && mx_tensors_count(t) > 0)
        rc = vt_err("%s: tensor '%s' belongs to no adapted layer of adapter_config.json (%zu unused tensors)", file,
                    mx_tensors_name(t, 0), mx_tensors_count(t));
    return rc;
}

int vt_lora_assemble(vt_lora **out, vt_model *m, const vt_lora_config *cfg, char *const *modules, size_t n_modules,
                     mx_tensors *weights, const char *label) {
    vt_lora *l = NULL;
    selection s = {0};
    int rc = lora_new(&l, m, cfg);
    if (rc == 0) {
        s.l = l;
        rc = named_modules(l, modules, n_modules, label, &s);
    }
    if (rc == 0) rc = load_weights(l, &s, weights, label);
    return finish(l, &s, rc, out);
}

int vt_lora_load(vt_lora **out, vt_model *m, const char *dir) {
    char cfg_path[4096], weights[4096];
    if (!vt_is_dir(dir)) return vt_err("adapter %s: not a directory", dir);
    if (vt_peft_is_adapter(dir)) return vt_lora_load_peft(out, m, dir);
    TRY(vt_path_join(cfg_path, sizeof cfg_path, dir, "adapter_config.json"));
    TRY(vt_path_join(weights, sizeof weights, dir, "adapters.safetensors"));
    if (!vt_path_exists(cfg_path)) return vt_err("adapter %s: adapter_config.json is missing", dir);
    if (!vt_path_exists(weights)) return vt_err("adapter %s: adapters.safetensors is missing", dir);
    vt_lora_config cfg = {0};
    const cJSON *keys = NULL, *k;
    cJSON *root = NULL;
    mx_tensors *t = NULL;
    char **names = NULL;
    size_t n = 0;
    int rc = read_config(cfg_path, &cfg, &keys, &root);
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
    mx_tensors_free(t);
    free(names);
    cJSON_Delete(root);
    return rc ? vt_err_context("adapter %s", dir) : 0;
}

/* select.c — choosing the layers to adapt. */
#include "lora/select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_keys[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

typedef struct {
    const vt_lora_config *cfg;
    int layers;          /* decoder layers of the model */
    char **tokens;       /* the keys, split */
    size_t n_tokens;
    int *hits;           /* per token */
    vt_linear **chosen;
    size_t n_chosen;
} selection;

/* A decoder layer among the last num_layers; layers elsewhere are always in range. */
static bool in_range(const selection *s, const vt_linear *lin) {
    int keep = s->cfg->num_layers;
    return lin->place != VT_IN_DECODER || keep <= 0 || lin->index >= s->layers - keep;
}

/* name ends with key at a component boundary ("...self_attn.q_proj" ends with "self_attn.q_proj"). */
static bool ends_with_path(const char *name, const char *key) {
    size_t n = strlen(name), k = strlen(key);
    return n >= k && !strcmp(name + n - k, key) && (n == k || name[n - k - 1] == '.');
}

static bool is_default(const vt_linear *lin) {
    if (lin->place != VT_IN_DECODER) return false;
    for (size_t k = 0; k < sizeof default_keys / sizeof *default_keys; k++)
        if (!strcmp(lin->leaf, default_keys[k])) return true;
    return false;
}

static int choose(vt_linear ***list, size_t *n, vt_linear *lin) {
    vt_linear **grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown) return vt_err("out of memory");
    *list = grown;
    (*list)[(*n)++] = lin;
    return 0;
}

static int consider(void *ctx, vt_linear *lin) {
    selection *s = ctx;
    bool take = s->cfg->vision && lin->place != VT_IN_DECODER;
    if (s->n_tokens == 0) take |= is_default(lin) && in_range(s, lin);
    for (size_t k = 0; k < s->n_tokens; k++) {
        const char *key = s->tokens[k];
        bool hit = strchr(key, '.') ? ends_with_path(lin->name, key)
                                    : lin->place == VT_IN_DECODER && !strcmp(lin->leaf, key);
        hit = hit && in_range(s, lin);
        s->hits[k] += hit;
        take |= hit;
    }
    if (!take) return 0;
    if (lin->adapter_ops) return vt_err("layer %s already carries an adapter", lin->name);
    return choose(&s->chosen, &s->n_chosen, lin);
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

/* " q_proj, k_proj, ..." — the decoder's layer names, for an error message. */
static int list_names(void *ctx, vt_linear *lin) {
    char *buf = ctx, probe[64];
    snprintf(probe, sizeof probe, " %s,", lin->leaf);
    if (lin->place == VT_IN_DECODER && !strstr(buf, probe) && strlen(buf) + strlen(probe) < 1024) strcat(buf, probe);
    return 0;
}

static int unmatched(vt_model *m, const selection *s, const char *key) {
    char names[1100] = "", range[128] = "";
    vt_model_each_linear(m, list_names, names);
    if (s->cfg->num_layers > 0)
        snprintf(range, sizeof range, "; num_layers %d keeps adapters to decoder layers %d-%d", s->cfg->num_layers,
                 s->layers - s->cfg->num_layers, s->layers - 1);
    return vt_err("LoRA keys: '%s' matches no linear layer (decoder layers have:%s or give a full module path such "
                  "as vision_tower.blocks.0.attn.qkv%s)", key, names, range);
}

int vt_lora_select(vt_model *m, const vt_lora_config *cfg, vt_linear ***out, size_t *n) {
    selection s = {.cfg = cfg, .layers = m->config.layers};
    int rc = split_keys(cfg->keys, &s) || vt_model_each_linear(m, consider, &s);
    for (size_t k = 0; rc == 0 && k < s.n_tokens; k++)
        if (!s.hits[k]) rc = unmatched(m, &s, s.tokens[k]);
    if (rc == 0 && s.n_chosen == 0) rc = vt_err("LoRA: the configuration selects no layer");
    for (size_t k = 0; k < s.n_tokens; k++) free(s.tokens[k]);
    free(s.tokens), free(s.hits);
    if (rc) {
        free(s.chosen);
        return -1;
    }
    *out = s.chosen, *n = s.n_chosen;
    return 0;
}

typedef struct {
    const char *name;
    vt_linear *found;
} find_ctx;

static int find_linear(void *ctx, vt_linear *lin) {
    find_ctx *f = ctx;
    if (!f->found && !strcmp(lin->name, f->name)) f->found = lin;
    return 0;
}

int vt_lora_find(vt_model *m, char *const *names, size_t n, const char *label, vt_linear ***out, size_t *n_out) {
    vt_linear **list = NULL;
    size_t count = 0;
    int rc = n ? 0 : vt_err("%s: the adapter names no module", label);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        find_ctx f = {.name = names[i]};
        vt_model_each_linear(m, find_linear, &f);
        if (!f.found)
            rc = vt_err("%s: module '%s' is not a linear layer of model %s: the adapter was made for another model",
                        label, names[i], m->dir);
        else rc = choose(&list, &count, f.found);
    }
    if (rc) {
        free(list);
        return -1;
    }
    *out = list, *n_out = count;
    return 0;
}

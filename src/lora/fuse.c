/* fuse.c — writing a base model with an adapter folded in. */
#include "lora/fuse.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/json.h"
#include "io/model_dir.h"
#include "util/fs.h"

enum { SHARD_BYTES = 5000000000 }; /* mlx-vlm's own shard size */

static int set_named(mx_tensors *t, const char *prefix, const char *suffix, mx_array a) {
    char name[1100];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    return mx_tensors_set(t, name, a);
}

static int drop_named(mx_tensors *t, const char *prefix, const char *suffix) {
    char name[1100];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    return mx_tensors_get(t, name) ? mx_tensors_remove(t, name) : 0;
}

/* The fused layers: re-quantized like the base, or dense. */
static int fold_adapters(const vt_lora *l, mx_tensors *out, bool dequantize) {
    for (size_t i = 0; i < vt_lora_count(l); i++) {
        const vt_linear *lin = vt_lora_layer(l, i, NULL, NULL, NULL);
        mx_array w, q, s, b;
        TRY(vt_lora_fused_weight(l, i, &w));
        if (lin->scales && !dequantize) {
            TRY(mx_quantize(&q, &s, &b, w, lin->group_size, lin->bits));
            TRY(set_named(out, lin->name, "weight", q));
            TRY(set_named(out, lin->name, "scales", s));
            TRY(set_named(out, lin->name, "biases", b));
        } else {
            TRY(set_named(out, lin->name, "weight", w));
            TRY(drop_named(out, lin->name, "scales"));
            TRY(drop_named(out, lin->name, "biases"));
        }
    }
    return 0;
}

typedef struct {
    mx_tensors *out;
} dequant_ctx;

/* A quantized layer (not adapted: adapted ones are dense already) as float. */
static int dequantize_linear(void *ctx, vt_linear *lin) {
    mx_tensors *out = ((dequant_ctx *)ctx)->out;
    char name[1100];
    snprintf(name, sizeof name, "%s.scales", lin->name);
    if (!lin->scales || !mx_tensors_get(out, name)) return 0;
    mx_array w;
    TRY(mx_dequantize(&w, lin->weight, lin->scales, lin->biases, lin->group_size, lin->bits));
    TRY(set_named(out, lin->name, "weight", w));
    TRY(drop_named(out, lin->name, "scales"));
    return drop_named(out, lin->name, "biases");
}

static int dequantize_embedding(const vt_embedding *e, mx_tensors *out) {
    if (!e->scales) return 0;
    mx_array w;
    TRY(mx_dequantize(&w, e->weight, e->scales, e->biases, e->group_size, e->bits));
    TRY(set_named(out, e->name, "weight", w));
    TRY(drop_named(out, e->name, "scales"));
    return drop_named(out, e->name, "biases");
}

static int dequantize_all(const vt_model *m, mx_tensors *out) {
    dequant_ctx c = {out};
    TRY(vt_model_each_linear((vt_model *)m, dequantize_linear, &c));
    if (!m->text.tied) TRY(dequantize_linear(&c, (vt_linear *)&m->text.lm_head));
    TRY(dequantize_embedding(&m->text.embed, out));
    TRY(dequantize_embedding(&m->vision.pos_embed, out));
    for (size_t i = 0; i < mx_tensors_count(out); i++) {
        const char *n = mx_tensors_name(out, i);
        size_t len = strlen(n);
        if (len > 7 && !strcmp(n + len - 7, ".scales"))
            return vt_err("cannot dequantize '%s': no layer of the model owns it", n);
    }
    return 0;
}

/* ------------------------------------------------------------- writing ---- */

static int write_index(const char *dir, char **names, int *shard_of, size_t n, int shards, size_t total) {
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *map = cJSON_CreateObject();
    if (!root || !meta || !map) {
        cJSON_Delete(root), cJSON_Delete(meta), cJSON_Delete(map);
        return vt_err("out of memory");
    }
    cJSON_AddNumberToObject(meta, "total_size", (double)total);
    cJSON_AddItemToObject(root, "metadata", meta);
    for (size_t i = 0; i < n; i++) {
        char file[64];
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", shard_of[i] + 1, shards);
        cJSON_AddStringToObject(map, names[i], file);
    }
    cJSON_AddItemToObject(root, "weight_map", map);
    char path[4400];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    return vt_json_write_atomic(path, root);
}

/* Writes `t` as model.safetensors, or as 5 GB shards with an index; names in the target layout. */
static int write_weights(const mx_tensors *t, const char *dir, vt_fuse_format fmt) {
    size_t n = mx_tensors_count(t), total = 0, at = 0;
    char **names = calloc(n + 1, sizeof *names);
    int *shard_of = calloc(n + 1, sizeof *shard_of), shards = 1;
    if (!names || !shard_of) {
        free(names), free(shard_of);
        return vt_err("out of memory");
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char name[1100];
        if (fmt == VT_FUSE_HF) vt_hf_name(mx_tensors_name(t, i), name, sizeof name);
        else snprintf(name, sizeof name, "%s", mx_tensors_name(t, i));
        size_t bytes = mx_nbytes(mx_tensors_at(t, i));
        if (at > 0 && at + bytes > SHARD_BYTES) shards++, at = 0;
        at += bytes, total += bytes;
        shard_of[i] = shards - 1;
        if (!(names[i] = strdup(name))) rc = vt_err("out of memory");
    }
    for (int s = 0; rc == 0 && s < shards; s++) {
        mx_tensors *part;
        char path[4400];
        rc = mx_tensors_new(&part);
        if (rc == 0 && fmt == VT_FUSE_MLX) rc = mx_tensors_meta_set(part, "format", "mlx");
        if (rc == 0 && fmt == VT_FUSE_HF) rc = mx_tensors_meta_set(part, "format", "pt");
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (shard_of[i] == s) rc = mx_tensors_set(part, names[i], mx_tensors_at(t, i));
        if (shards == 1) snprintf(path, sizeof path, "%s/model.safetensors", dir);
        else snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, shards);
        if (rc == 0) rc = mx_save_safetensors(path, part);
        mx_tensors_free(part);
    }
    if (rc == 0 && shards > 1) rc = write_index(dir, names, shard_of, n, shards, total);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names), free(shard_of);
    return rc;
}

/* config.json of the base; without the quantization block when dequantized; for mlx-vlm's loader
 * the rope settings also under its older names when only transformers-5's rope_parameters are there. */
static int write_config(const char *src_dir, const char *dir, bool dequantize) {
    char path[4400];
    cJSON *root;
    snprintf(path, sizeof path, "%s/config.json", src_dir);
    TRY(vt_json_load(&root, path));
    if (dequantize) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "quantization");
        cJSON_DeleteItemFromObjectCaseSensitive(root, "quantization_config");
    }
    cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    cJSON *rope = text ? cJSON_GetObjectItemCaseSensitive(text, "rope_parameters") : NULL;
    if (cJSON_IsObject(rope)) {
        cJSON *theta = cJSON_GetObjectItemCaseSensitive(rope, "rope_theta");
        if (!cJSON_GetObjectItemCaseSensitive(text, "rope_theta") && cJSON_IsNumber(theta))
            cJSON_AddNumberToObject(text, "rope_theta", theta->valuedouble);
        if (!cJSON_GetObjectItemCaseSensitive(text, "rope_scaling"))
            cJSON_AddItemToObject(text, "rope_scaling", cJSON_Duplicate(rope, true));
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    return vt_json_write_atomic(path, root);
}

/* Every other file of the base directory (tokenizer, templates, processor, generation settings). */
static int copy_side_files(const char *src, const char *dir) {
    DIR *d = opendir(src);
    if (!d) return vt_err("%s: cannot list the directory", src);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (n[0] == '.' || !strcmp(n, "config.json") || !strcmp(n, "model.safetensors.index.json") ||
            (len > 12 && !strcmp(n + len - 12, ".safetensors")))
            continue;
        char from[4400], to[4400], *data;
        size_t size;
        snprintf(from, sizeof from, "%s/%s", src, n);
        snprintf(to, sizeof to, "%s/%s", dir, n);
        if (vt_is_dir(from)) continue;
        rc = vt_read_file(from, &data, &size);
        if (rc == 0) rc = vt_write_file_atomic(to, data, size), free(data);
    }
    closedir(d);
    return rc;
}

/* The image bounds the adapter was trained with, in the fused model's preprocessor_config.json (both the
 * size.{shortest,longest}_edge and the min_pixels/max_pixels spellings, so every reader agrees). */
static int write_image_bounds(const vt_lora *l, const char *dir) {
    const vt_adapter_meta *meta = vt_lora_meta(l);
    if (meta->image_min_pixels <= 0 && meta->image_max_pixels <= 0) return 0;
    char path[4400];
    cJSON *root = NULL;
    TRY(vt_path_join(path, sizeof path, dir, "preprocessor_config.json"));
    if (vt_path_exists(path)) TRY(vt_json_load(&root, path));
    else if (!(root = cJSON_CreateObject())) return vt_err("out of memory");
    cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
    if (!cJSON_IsObject(size)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "size");
        size = cJSON_AddObjectToObject(root, "size");
    }
    const struct { const char *key, *size_key; long value; } bounds[] = {
        {"min_pixels", "shortest_edge", meta->image_min_pixels}, {"max_pixels", "longest_edge", meta->image_max_pixels}};
    for (int i = 0; i < 2; i++) {
        if (bounds[i].value <= 0) continue;
        cJSON_DeleteItemFromObjectCaseSensitive(root, bounds[i].key);
        cJSON_AddNumberToObject(root, bounds[i].key, (double)bounds[i].value);
        cJSON_DeleteItemFromObjectCaseSensitive(size, bounds[i].size_key);
        cJSON_AddNumberToObject(size, bounds[i].size_key, (double)bounds[i].value);
    }
    return vt_json_write_atomic(path, root);
}

int vt_fuse_check_out(const char *out_dir, const char *const *inputs, int n_inputs) {
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] && vt_dir_holds(out_dir, inputs[i]))
            return vt_err("--out %s: is (or holds) the input %s; fuse never writes over its input: choose another "
                          "directory (nothing was written)", out_dir, inputs[i]);
    return vt_check_out_dir(out_dir, VT_FUSE_MARKER, "--out");
}

static int fill(const vt_model *m, const vt_lora *l, const char *tmp, bool dequantize, vt_fuse_format fmt) {
    mx_arena *scope = mx_scope_begin();
    mx_tensors *out = NULL;
    int rc = mx_tensors_new(&out);
    for (size_t i = 0; rc == 0 && i < mx_tensors_count(m->files.tensors); i++)
        rc = mx_tensors_set(out, mx_tensors_name(m->files.tensors, i), mx_tensors_at(m->files.tensors, i));
    if (rc == 0) rc = fold_adapters(l, out, dequantize);
    if (rc == 0 && dequantize) rc = dequantize_all(m, out);
    if (rc == 0) rc = vt_patch_embed_to_layout(out, m->files.hf_layout, fmt == VT_FUSE_HF);
    if (rc == 0) rc = write_weights(out, tmp, fmt);
    mx_tensors_free(out);
    mx_scope_end(scope);
    if (rc == 0) rc = write_config(m->dir, tmp, dequantize) || copy_side_files(m->dir, tmp) || write_image_bounds(l, tmp);
    /* last: the list of what fuse wrote, by which a later fuse knows it may replace the directory */
    if (rc == 0)
        rc = vt_write_dir_marker(tmp, VT_FUSE_MARKER,
                                 "written by `vlmtune fuse`, which may replace this directory as long as it holds "
                                 "only the entries listed below");
    return rc;
}

int vt_fuse(const vt_model *m, const vt_lora *l, const char *adapter_dir, const char *out_dir, bool dequantize,
            vt_fuse_format fmt) {
    char out[4096], tmp[4200];
    const char *inputs[] = {m->dir, adapter_dir};
    TRY(vt_path_trim(out, sizeof out, out_dir));
    TRY(vt_fuse_check_out(out, inputs, 2));
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", out, (int)getpid());
    TRY(vt_remove_tree(tmp));
    TRY(vt_mkdir_p(tmp));
    int rc = fill(m, l, tmp, dequantize, fmt);
    if (rc == 0) rc = vt_fuse_check_out(out, inputs, 2); /* again: it may have changed while we wrote */
    if (rc == 0) rc = vt_replace_dir(tmp, out);
    if (rc) {
        vt_remove_tree(tmp);
        return vt_err_context("fusing into %s", out);
    }
    return 0;
}

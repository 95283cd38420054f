#include "io/model_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "util/fs.h"

static const struct {
    const char *hf, *mlx;
} prefixes[] = {
    {"model.language_model.", "language_model.model."},
    {"model.visual.", "vision_tower."},
    {"lm_head.", "language_model.lm_head."},
};

void vt_canonical_name(const char *name, char *buf, size_t cap, bool *was_hf) {
    *was_hf = false;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i].hf);
        if (!strncmp(name, prefixes[i].hf, n)) {
            snprintf(buf, cap, "%s%s", prefixes[i].mlx, name + n);
            *was_hf = true;
            return;
        }
    }
    snprintf(buf, cap, "%s", name);
}

void vt_hf_name(const char *name, char *buf, size_t cap) {
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i].mlx);
        if (!strncmp(name, prefixes[i].mlx, n)) {
            snprintf(buf, cap, "%s%s", prefixes[i].hf, name + n);
            return;
        }
    }
    snprintf(buf, cap, "%s", name);
}

int vt_patch_embed_to_layout(mx_tensors *t, bool from_hf, bool to_hf) {
    mx_array w = mx_tensors_get(t, VT_PATCH_EMBED_WEIGHT), moved;
    if (!w || from_hf == to_hf) return 0;
    int to_mlx[5] = {0, 2, 3, 4, 1}, to_hf_perm[5] = {0, 4, 1, 2, 3};
    TRY(mx_transpose(&moved, w, to_hf ? to_hf_perm : to_mlx, 5));
    TRY(mx_contiguous(&moved, moved));
    return mx_tensors_set(t, VT_PATCH_EMBED_WEIGHT, moved);
}

/* Adds every tensor of one file under its canonical name. */
static int add_file(vt_model_files *f, const char *path, const char *shown) {
    mx_tensors *t;
    TRY(mx_load_safetensors(&t, path));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < mx_tensors_count(t); i++) {
        char name[1024];
        bool hf;
        vt_canonical_name(mx_tensors_name(t, i), name, sizeof name, &hf);
        f->hf_layout |= hf;
        if (mx_tensors_get(f->tensors, name))
            rc = vt_err("%s: tensor '%s' appears twice in the model's files", shown, mx_tensors_name(t, i));
        else
            rc = mx_tensors_set(f->tensors, name, mx_tensors_at(t, i));
    }
    mx_tensors_free(t);
    f->n_files++;
    return rc;
}

/* The shards named by the index; each must exist and hold the tensors the index puts there. */
static int load_sharded(vt_model_files *f, const char *dir, const char *index_path) {
    cJSON *index;
    TRY(vt_json_load(&index, index_path));
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
    int rc = 0;
    if (!cJSON_IsObject(map)) rc = vt_err("%s: missing \"weight_map\"", index_path);
    char **files = NULL;
    size_t n_files = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        if (rc) break;
        if (!cJSON_IsString(e)) {
            rc = vt_err("%s: weight_map entry '%s' must name a file", index_path, e->string);
            break;
        }
        size_t k = 0;
        while (k < n_files && strcmp(files[k], e->valuestring)) k++;
        if (k == n_files) {
            char **grown = realloc(files, (n_files + 1) * sizeof *files);
            if (!grown) {
                rc = vt_err("out of memory");
                break;
            }
            files = grown;
            files[n_files++] = e->valuestring;
        }
    }
    for (size_t k = 0; rc == 0 && k < n_files; k++) {
        char path[4096];
        rc = vt_path_join(path, sizeof path, dir, files[k]);
        if (rc == 0 && !vt_path_exists(path))
            rc = vt_err("%s: names shard '%s', which is missing from %s", index_path, files[k], dir);
        if (rc == 0) rc = add_file(f, path, path);
    }
    cJSON_ArrayForEach(e, map) {
        if (rc) break;
        char name[1024];
        bool hf;
        vt_canonical_name(e->string, name, sizeof name, &hf);
        if (!mx_tensors_get(f->tensors, name))
            rc = vt_err("%s: tensor '%s' should be in %s but is not there", index_path, e->string, e->valuestring);
    }
    free(files);
    cJSON_Delete(index);
    return rc;
}

int vt_model_files_load(vt_model_files *out, const char *dir) {
    vt_model_files f = {0};
    if (!vt_is_dir(dir)) return vt_err("%s: not a model directory", dir);
    TRY(mx_tensors_new(&f.tensors));
    char index[4096], single[4096];
    int rc = vt_path_join(index, sizeof index, dir, "model.safetensors.index.json") ||
             vt_path_join(single, sizeof single, dir, "model.safetensors");
    if (rc == 0) {
        if (vt_path_exists(index)) rc = load_sharded(&f, dir, index);
        else if (vt_path_exists(single)) rc = add_file(&f, single, single);
        else rc = vt_err("%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    if (rc) {
        vt_model_files_free(&f);
        return -1;
    }
    *out = f;
    return 0;
}

int vt_model_files_drop_vision(vt_model_files *f) {
    static const char prefix[] = "vision_tower.";
    for (size_t i = mx_tensors_count(f->tensors); i-- > 0;)
        if (!strncmp(mx_tensors_name(f->tensors, i), prefix, sizeof prefix - 1))
            TRY(mx_tensors_remove(f->tensors, mx_tensors_name(f->tensors, i)));
    return 0;
}

void vt_model_files_free(vt_model_files *f) {
    if (!f) return;
    mx_tensors_free(f->tensors);
    *f = (vt_model_files){0};
}

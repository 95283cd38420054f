/* checkpoint.c — write and read a run's resumable state, atomically. */
#include "train/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/json.h"
#include "util/fs.h"

static int save_optimizer(const char *path, const vt_adamw *opt, const vt_params *params) {
    mx_tensors *t;
    TRY(mx_tensors_new(&t));
    mx_arena *scope = mx_scope_begin();
    char name[600], step[32];
    snprintf(step, sizeof step, "%ld", opt->step);
    int rc = mx_tensors_meta_set(t, "step", step);
    for (size_t i = 0; rc == 0 && i < opt->n; i++)
        for (int which = 0; rc == 0 && which < 2; which++) {
            mx_array moment;
            snprintf(name, sizeof name, "%c.%s", which ? 'v' : 'm', params->names[i]);
            rc = vt_adamw_moment(opt, i, which, &moment) ||
                 mx_reshape(&moment, moment, mx_shape(params->values[i]), mx_ndim(params->values[i])) ||
                 mx_tensors_set(t, name, moment);
        }
    if (rc == 0) rc = mx_save_safetensors(path, t);
    mx_tensors_free(t);
    mx_scope_end(scope);
    return rc;
}

static int save_state(const char *path, const vt_run_state *st) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return vt_err("out of memory");
    cJSON_AddNumberToObject(root, "step", (double)st->step);
    cJSON_AddNumberToObject(root, "epoch", (double)st->epoch);
    cJSON_AddNumberToObject(root, "micro", (double)st->micro);
    cJSON_AddNumberToObject(root, "trained_tokens", st->trained_tokens);
    if (isnan(st->best_valid)) cJSON_AddNullToObject(root, "best_valid");
    else cJSON_AddNumberToObject(root, "best_valid", st->best_valid);
    cJSON_AddNumberToObject(root, "best_step", (double)st->best_step);
    cJSON_AddNumberToObject(root, "bad_in_row", st->bad_in_row);
    return vt_json_write_atomic(path, root);
}

static int is_step_dir(const char *name, long *step) {
    if (strncmp(name, "step-", 5)) return 0;
    char *end;
    *step = strtol(name + 5, &end, 10);
    return *end == 0 && end != name + 5;
}

/* Removes all but the newest `keep` step directories. */
static int prune(const char *dir, int keep) {
    DIR *d = opendir(dir);
    if (!d) return vt_err("cannot list %s", dir);
    long steps[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        long s;
        if (is_step_dir(e->d_name, &s)) steps[n++] = s;
    }
    closedir(d);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t newer = 0;
        for (size_t j = 0; j < n; j++) newer += steps[j] > steps[i];
        if ((int)newer < keep) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/step-%07ld", dir, steps[i]);
        rc |= vt_remove_tree(path);
    }
    return rc;
}

int vt_checkpoint_save(const char *run, const vt_lora *lora, const vt_adamw *opt, const vt_run_state *st,
                       const vt_train_config *cfg, int keep_last) {
    char dir[4096], tmp[4200], final[4200], path[4400];
    snprintf(dir, sizeof dir, "%s/checkpoints", run);
    snprintf(tmp, sizeof tmp, "%s/.tmp-step-%07ld", dir, st->step);
    snprintf(final, sizeof final, "%s/step-%07ld", dir, st->step);
    TRY(vt_mkdir_p(dir));
    TRY(vt_remove_tree(tmp));
    TRY(vt_lora_save(lora, tmp));
    snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp);
    TRY(save_optimizer(path, opt, vt_lora_params((vt_lora *)lora)));
    snprintf(path, sizeof path, "%s/state.json", tmp);
    TRY(save_state(path, st));
    snprintf(path, sizeof path, "%s/config.yaml", tmp);
    TRY(vt_train_config_save(cfg, path));
    TRY(vt_replace_dir(tmp, final));
    return prune(dir, keep_last < 1 ? 1 : keep_last);
}

int vt_checkpoint_latest(const char *run, char *path, size_t cap) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/checkpoints", run);
    DIR *d = opendir(dir);
    if (!d) return vt_err("%s: no checkpoints directory (is this a vlmtune run directory?)", run);
    long best = -1, s;
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_step_dir(e->d_name, &s) && s > best) best = s;
    closedir(d);
    if (best < 0) return vt_err("%s: no complete checkpoint to resume from", dir);
    if ((size_t)snprintf(path, cap, "%s/step-%07ld", dir, best) >= cap) return vt_err("path too long");
    return 0;
}

static int load_optimizer(const char *path, vt_adamw *opt, const vt_params *params) {
    mx_tensors *t;
    TRY(mx_load_safetensors(&t, path));
    mx_array *moments = calloc(2 * opt->n + 1, sizeof *moments);
    char name[600];
    int rc = moments ? 0 : vt_err("out of memory");
    const char *step = mx_tensors_meta_get(t, "step");
    if (rc == 0 && !step) rc = vt_err("%s: metadata 'step' is missing", path);
    else if (rc == 0) opt->step = atol(step);
    for (size_t i = 0; rc == 0 && i < opt->n; i++)
        for (int which = 0; rc == 0 && which < 2; which++) {
            snprintf(name, sizeof name, "%c.%s", which ? 'v' : 'm', params->names[i]);
            mx_array a = mx_tensors_get(t, name);
            if (!a) rc = vt_err("%s: tensor '%s' is missing", path, name);
            else if (mx_size(a) != mx_size(params->values[i]))
                rc = vt_err("%s: tensor '%s' does not match its parameter's shape", path, name);
            else moments[which * opt->n + i] = a;
        }
    if (rc == 0 && mx_tensors_count(t) != 2 * opt->n)
        rc = vt_err("%s: holds %zu tensors, the adapters need %zu", path, mx_tensors_count(t), 2 * opt->n);
    if (rc == 0) rc = vt_adamw_set_moments(opt, moments, moments + opt->n);
    free(moments);
    mx_tensors_free(t);
    return rc;
}

int vt_checkpoint_load_state(const char *ckpt, vt_run_state *st, vt_adamw *opt, const vt_params *params) {
    char path[4200];
    cJSON *root;
    snprintf(path, sizeof path, "%s/state.json", ckpt);
    TRY(vt_json_load(&root, path));
    const cJSON *bv = cJSON_GetObjectItemCaseSensitive(root, "best_valid");
    double step = 0, epoch = 0, micro = 0, best_step = 0;
    int bad = 0;
    int rc = vt_json_double(root, "step", &step, path) || vt_json_double(root, "epoch", &epoch, path) ||
             vt_json_double(root, "micro", &micro, path) ||
             vt_json_double(root, "trained_tokens", &st->trained_tokens, path) ||
             vt_json_double(root, "best_step", &best_step, path) || vt_json_int(root, "bad_in_row", &bad, path);
    st->step = (long)step, st->epoch = (long)epoch, st->micro = (long)micro, st->best_step = (long)best_step;
    st->bad_in_row = bad;
    st->best_valid = cJSON_IsNumber(bv) ? bv->valuedouble : NAN;
    cJSON_Delete(root);
    if (rc) return -1;
    snprintf(path, sizeof path, "%s/optimizer.safetensors", ckpt);
    return load_optimizer(path, opt, params);
}

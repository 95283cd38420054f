/* checkpoint.c — write and read a run's resumable state, atomically. */
#include "train/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
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

/* The files every checkpoint holds; checksums.json lists them (and any other file) with size and CRC-32. */
static const char *const CHECKPOINT_FILES[] = {"adapters.safetensors", "adapter_config.json", "optimizer.safetensors",
                                                "state.json", "config.yaml"};
enum { N_CHECKPOINT_FILES = sizeof CHECKPOINT_FILES / sizeof *CHECKPOINT_FILES };
#define CHECKSUMS "checksums.json"

/* Why CRC-32: it is zlib's (already linked), fast, and catches every burst of damage up to 32 bits and
 * nearly all others; the threat is accident (disk, copy, kill), not an adversary. */
static int save_checksums(const char *dir) {
    cJSON *root = cJSON_CreateObject(), *files = cJSON_AddObjectToObject(root, "files");
    if (!root || !files) {
        cJSON_Delete(root);
        return vt_err("out of memory");
    }
    cJSON_AddStringToObject(root, "what", "size and CRC-32 (zlib) of every file of this checkpoint");
    int rc = 0;
    for (int i = 0; rc == 0 && i < N_CHECKPOINT_FILES; i++) {
        char path[4400], hex[16];
        unsigned long crc;
        unsigned long long size;
        rc = vt_path_join(path, sizeof path, dir, CHECKPOINT_FILES[i]) || vt_file_crc32(path, &crc, &size);
        if (rc) break;
        snprintf(hex, sizeof hex, "%08lx", crc);
        cJSON *f = cJSON_AddObjectToObject(files, CHECKPOINT_FILES[i]);
        if (!f || !cJSON_AddNumberToObject(f, "bytes", (double)size) || !cJSON_AddStringToObject(f, "crc32", hex))
            rc = vt_err("out of memory");
    }
    char path[4400];
    if (rc == 0) rc = vt_path_join(path, sizeof path, dir, CHECKSUMS);
    if (rc == 0) return vt_json_write_atomic(path, root); /* takes root */
    cJSON_Delete(root);
    return rc;
}

static int verify_file(const char *ckpt, const char *name, const cJSON *entry, const char *sums) {
    char path[4400];
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(entry, "bytes"),
                *want = cJSON_GetObjectItemCaseSensitive(entry, "crc32");
    if (!cJSON_IsNumber(bytes) || !cJSON_IsString(want)) return vt_err("%s: '%s' lacks bytes or crc32", sums, name);
    unsigned long crc;
    unsigned long long size;
    TRY(vt_path_join(path, sizeof path, ckpt, name));
    if (!vt_path_exists(path)) return vt_err("%s: the file is missing", path);
    TRY(vt_file_crc32(path, &crc, &size));
    if (size != (unsigned long long)bytes->valuedouble)
        return vt_err("%s: %llu bytes, the checkpoint recorded %.0f", path, size, bytes->valuedouble);
    char hex[16];
    snprintf(hex, sizeof hex, "%08lx", crc);
    if (strcmp(hex, want->valuestring))
        return vt_err("%s: the bytes changed since the checkpoint was written (CRC-32 %s, recorded %s)", path, hex,
                      want->valuestring);
    return 0;
}

int vt_checkpoint_verify(const char *ckpt, bool *unverified) {
    char sums[4400];
    TRY(vt_path_join(sums, sizeof sums, ckpt, CHECKSUMS));
    *unverified = !vt_path_exists(sums);
    if (*unverified) return 0;
    cJSON *root;
    TRY(vt_json_load(&root, sums));
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    int rc = cJSON_IsObject(files) ? 0 : vt_err("%s: \"files\" must be an object", sums);
    for (int i = 0; rc == 0 && i < N_CHECKPOINT_FILES; i++)
        if (!cJSON_GetObjectItemCaseSensitive(files, CHECKPOINT_FILES[i]))
            rc = vt_err("%s: lists no '%s'", sums, CHECKPOINT_FILES[i]);
    const cJSON *f;
    if (rc == 0) cJSON_ArrayForEach(f, files) {
            if ((rc = verify_file(ckpt, f->string, f, sums))) break;
        }
    cJSON_Delete(root);
    return rc;
}

static int is_step_dir(const char *name, long *step) {
    if (strncmp(name, "step-", 5)) return 0;
    char *end;
    *step = strtol(name + 5, &end, 10);
    return *end == 0 && end != name + 5;
}

/* The step numbers of RUN/checkpoints' step directories, newest first. */
static int list_steps(const char *dir, long **steps, size_t *n) {
    DIR *d = opendir(dir);
    if (!d) return vt_err("%s: cannot list the directory: %s", dir, strerror(errno));
    size_t cap = 16;
    *n = 0;
    *steps = malloc(cap * sizeof **steps);
    struct dirent *e;
    long s;
    int rc = *steps ? 0 : vt_err("out of memory");
    while (rc == 0 && (e = readdir(d))) {
        if (!is_step_dir(e->d_name, &s)) continue;
        if (*n == cap) {
            long *grown = realloc(*steps, (cap *= 2) * sizeof **steps);
            if (!grown) {
                rc = vt_err("out of memory");
                break;
            }
            *steps = grown;
        }
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    if (rc) {
        free(*steps);
        *steps = NULL;
        return rc;
    }
    for (size_t i = 1; i < *n; i++) /* insertion sort, newest first */
        for (size_t j = i; j > 0 && (*steps)[j] > (*steps)[j - 1]; j--) {
            long t = (*steps)[j];
            (*steps)[j] = (*steps)[j - 1], (*steps)[j - 1] = t;
        }
    return 0;
}

/* Removes all but the newest `keep` step directories. */
static int prune(const char *dir, int keep) {
    long *steps;
    size_t n;
    TRY(list_steps(dir, &steps, &n));
    int rc = 0;
    for (size_t i = (size_t)keep; i < n; i++) { /* newest first: the rest are older than the kept ones */
        char path[4200];
        snprintf(path, sizeof path, "%s/step-%07ld", dir, steps[i]);
        rc |= vt_remove_tree(path);
    }
    free(steps);
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
    TRY(save_checksums(tmp));
    TRY(vt_fsync_path(tmp));
    TRY(vt_replace_dir(tmp, final));
    return prune(dir, keep_last < 1 ? 1 : keep_last);
}

int vt_checkpoint_latest(const char *run, char *path, size_t cap, FILE *log) {
    char dir[4096];
    TRY(vt_path_join(dir, sizeof dir, run, "checkpoints"));
    if (!vt_is_dir(dir)) return vt_err("%s: no checkpoints directory (is this a vlmtune run directory?)", run);
    long *steps = NULL;
    size_t n = 0;
    TRY(list_steps(dir, &steps, &n));
    path[0] = '\0';
    int rc = 0;
    size_t damaged = 0;
    for (size_t i = 0; i < n && !path[0]; i++) {
        char ckpt[4200];
        bool unverified;
        snprintf(ckpt, sizeof ckpt, "%s/step-%07ld", dir, steps[i]);
        if (vt_checkpoint_verify(ckpt, &unverified) != 0) {
            if (log) fprintf(log, "note: checkpoint step-%07ld is damaged, not used (left in place): %s\n", steps[i],
                             vt_errmsg());
            damaged++;
            continue;
        }
        if (unverified && log)
            fprintf(log, "note: %s has no checksums.json (written by an older vlmtune): its files are not verified\n",
                    ckpt);
        if ((size_t)snprintf(path, cap, "%s", ckpt) >= cap) rc = vt_err("path too long: %s", ckpt);
    }
    if (rc == 0 && damaged && path[0] && log) fprintf(log, "note: resuming from the newest intact checkpoint, %s\n", path);
    if (rc == 0 && damaged && !path[0])
        rc = vt_err("%s: every checkpoint is damaged (see the notes above); move them away to start the run again "
                    "from step 0", dir);
    free(steps);
    return rc;
}

int vt_checkpoint_clean(const char *run) {
    char dir[4096], path[4400];
    TRY(vt_path_join(dir, sizeof dir, run, "checkpoints"));
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)))
        if (!strncmp(e->d_name, ".tmp-step-", 10))
            rc = vt_path_join(path, sizeof path, dir, e->d_name) || vt_remove_tree(path);
    closedir(d);
    return rc;
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

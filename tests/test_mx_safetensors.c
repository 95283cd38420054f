/* safetensors: every dtype round-trips with metadata and order; bad files fail naming the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static char dir[] = "/tmp/vt_st_XXXXXX";

static const char *path_of(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* A file with a given header text and `data_len` zero bytes of data. */
static const char *write_raw(const char *name, const char *header, uint64_t claimed_len, size_t data_len) {
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(claimed_len >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_len; i++) fputc(0, f);
    fclose(f);
    return p;
}

static void test_round_trip(void) {
    mx_arena *scope = mx_scope_begin();
    mx_tensors *t;
    CHECK_OK(mx_tensors_new(&t));
    const mx_dtype dtypes[] = {MX_BOOL, MX_UINT8, MX_UINT16, MX_UINT32, MX_UINT64, MX_INT8, MX_INT16,
                               MX_INT32, MX_INT64, MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32};
    enum { N = sizeof dtypes / sizeof *dtypes };
    float src[6] = {0, 1, 0, 3, 1, 5};
    int shape[2] = {2, 3};
    mx_array base;
    CHECK_OK(mx_from_data(&base, src, shape, 2, MX_FLOAT32));
    for (int i = 0; i < N; i++) {
        mx_array a;
        char name[32];
        CHECK_OK(mx_astype(&a, base, dtypes[i]));
        snprintf(name, sizeof name, "z.%s", mx_dtype_name(dtypes[i])); /* names unsorted on purpose */
        CHECK_OK(mx_tensors_set(t, name, a));
    }
    int s0[1] = {0};
    mx_array empty;
    CHECK_OK(mx_zeros(&empty, s0, 1, MX_FLOAT32));
    CHECK_OK(mx_tensors_set(t, "a.empty", empty));
    CHECK_OK(mx_tensors_meta_set(t, "format", "mlx"));
    CHECK_OK(mx_tensors_meta_set(t, "note", "ünïcode ✓"));
    CHECK_OK(mx_save_safetensors(path_of("all.safetensors"), t));
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp-%d.safetensors", path_of("all.safetensors"), (int)getpid());
    CHECK(access(tmp, F_OK) != 0); /* renamed into place */

    mx_tensors *back = NULL;
    CHECK_OK(mx_load_safetensors(&back, path_of("all.safetensors")));
    CHECK(mx_tensors_count(back) == N + 1);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "z.%s", mx_dtype_name(dtypes[i]));
        mx_array a = mx_tensors_get(back, name);
        CHECK(a != NULL);
        if (!a) continue;
        CHECK(mx_dtype_of(a) == dtypes[i] && mx_ndim(a) == 2 && mx_dim(a, 1) == 3);
        float got[6];
        CHECK_OK(mx_to_f32(a, got, 6));
        for (int k = 0; k < 6; k++) CHECK(got[k] == (dtypes[i] == MX_BOOL ? (src[k] != 0) : src[k]));
    }
    CHECK(mx_tensors_get(back, "missing") == NULL);
    CHECK(mx_size(mx_tensors_get(back, "a.empty")) == 0);
    CHECK(strcmp(mx_tensors_meta_get(back, "format"), "mlx") == 0);
    CHECK(strcmp(mx_tensors_meta_get(back, "note"), "ünïcode ✓") == 0);
    CHECK_OK(mx_tensors_remove(back, "a.empty"));
    CHECK_FAILS(mx_tensors_remove(back, "a.empty"), "no tensor named 'a.empty'");
    mx_tensors_free(back);
    mx_tensors_free(t);
    mx_scope_end(scope);
}

static void test_file_order(void) {
    /* two tensors whose data lie in the file in the reverse of their JSON order */
    const char *p = write_raw("order.safetensors",
                              "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                              127, 8);
    /* pad the header length field to the JSON length */
    FILE *f = fopen(p, "r+b");
    const char *json = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    unsigned char len[8] = {0};
    size_t n = strlen(json);
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fclose(f);
    mx_tensors *t = NULL;
    CHECK_OK(mx_load_safetensors(&t, p));
    if (t) {
        CHECK(strcmp(mx_tensors_name(t, 0), "a") == 0 && strcmp(mx_tensors_name(t, 1), "b") == 0);
        mx_tensors_free(t);
    }
}

static void test_bad_files(void) {
    mx_tensors *t = NULL;
    CHECK_FAILS(mx_load_safetensors(&t, path_of("nope.safetensors")), "nope.safetensors: no such file");
    const char *p = write_raw("short.safetensors", "", 0, 0);
    FILE *f = fopen(p, "wb");
    fputs("abc", f);
    fclose(f);
    CHECK_FAILS(mx_load_safetensors(&t, p), "short.safetensors: truncated");
    p = write_raw("hlen.safetensors", "{}", 1000, 0);
    CHECK_FAILS(mx_load_safetensors(&t, p), "header length 1000 exceeds the file");
    const char *bad_json = "{\"a\": [1, 2";
    p = write_raw("json.safetensors", bad_json, strlen(bad_json), 0);
    CHECK_FAILS(mx_load_safetensors(&t, p), "json.safetensors: corrupt: the header is not a JSON object");
    const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    p = write_raw("trunc.safetensors", hdr, strlen(hdr), 10); /* 16 bytes promised, 10 present */
    CHECK_FAILS(mx_load_safetensors(&t, p), "truncated: tensor 'w' ends at byte 16 of the data, which has only 10");
    hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}";
    p = write_raw("span.safetensors", hdr, strlen(hdr), 16);
    CHECK_FAILS(mx_load_safetensors(&t, p), "tensor 'w': data_offsets span 12 bytes, dtype and shape need 16");
    hdr = "{\"w\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    p = write_raw("dtype.safetensors", hdr, strlen(hdr), 16);
    CHECK_FAILS(mx_load_safetensors(&t, p), "tensor 'w': unsupported dtype Q4");
    hdr = "{\"w\":{\"shape\":[4]}}";
    p = write_raw("fields.safetensors", hdr, strlen(hdr), 16);
    CHECK_FAILS(mx_load_safetensors(&t, p), "needs dtype, shape and data_offsets");
    CHECK_FAILS(mx_load_safetensors(&t, dir), "not a regular file");
    mx_tensors *empty;
    CHECK_OK(mx_tensors_new(&empty));
    CHECK_FAILS(mx_save_safetensors("/nonexistent/dir/x.safetensors", empty), "mx_save_safetensors");
    mx_tensors_free(empty);
}

/* Loading is lazy and reads each tensor once into its own buffer: never two copies. */
static void test_single_copy(void) {
    mx_arena *scope = mx_scope_begin();
    int shape[1] = {32 << 20}; /* 128 MiB of float32 */
    mx_array big;
    mx_tensors *t = NULL, *back = NULL;
    CHECK_OK(mx_ones(&big, shape, 1, MX_FLOAT32));
    CHECK_OK(mx_tensors_new(&t));
    CHECK_OK(mx_tensors_set(t, "big", big));
    CHECK_OK(mx_save_safetensors(path_of("big.safetensors"), t));
    mx_tensors_free(t);
    mx_scope_end(scope);
    CHECK_OK(mx_memory_clear_cache());
    CHECK_OK(mx_memory_reset_peak());
    size_t before, peak;
    CHECK_OK(mx_memory_active(&before));
    CHECK_OK(mx_load_safetensors(&back, path_of("big.safetensors")));
    mx_array loaded = mx_tensors_get(back, "big");
    CHECK_OK(mx_eval(&loaded, 1));
    CHECK_OK(mx_memory_peak(&peak));
    size_t nbytes = (size_t)shape[0] * 4;
    CHECK(peak - before >= nbytes && peak - before < nbytes + nbytes / 10);
    mx_tensors_free(back);
    unlink(path_of("big.safetensors"));
}

int main(void) {
    TEST_BEGIN();
    CHECK(mkdtemp(dir) != NULL);
    test_round_trip();
    test_single_copy();
    test_file_order();
    test_bad_files();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return TEST_END();
}

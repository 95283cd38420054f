/* The binding's core: creation (copy and no-copy), every dtype read back, arenas, leak counting, errors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static int deleter_calls;
static void count_delete(void *data, void *ctx) {
    (void)data;
    deleter_calls += *(int *)ctx;
}

/* float → bfloat16 by round-to-nearest-even on the top 16 bits (exact for the values used). */
static uint16_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

static void test_create_and_read(void) {
    mx_arena *scope = mx_scope_begin();
    float f[6] = {1, -2, 3.5f, 0, 1e-3f, 65504};
    int shape[2] = {2, 3};
    mx_array a;
    CHECK_OK(mx_from_data(&a, f, shape, 2, MX_FLOAT32));
    f[0] = 99; /* a copy: later changes to the buffer do not show */
    CHECK(mx_ndim(a) == 2 && mx_dim(a, 0) == 2 && mx_dim(a, -1) == 3 && mx_size(a) == 6);
    CHECK(mx_nbytes(a) == 24 && mx_dtype_of(a) == MX_FLOAT32);
    float back[6];
    CHECK_OK(mx_to_f32(a, back, 6));
    CHECK(back[0] == 1 && back[2] == 3.5f && back[5] == 65504);
    char desc[64];
    CHECK(strcmp(mx_describe(a, desc, sizeof desc), "[2,3] float32") == 0);

    /* bf16 and f16 read back on any CPU: bit patterns from their definitions */
    mx_array h, b;
    CHECK_OK(mx_astype(&b, a, MX_BFLOAT16));
    CHECK_OK(mx_astype(&h, a, MX_FLOAT16));
    uint16_t bits[6];
    CHECK_OK(mx_to_host(b, bits, sizeof bits));
    CHECK(bits[0] == bf16_bits(1.0f) && bits[1] == bf16_bits(-2.0f) && bits[2] == bf16_bits(3.5f));
    CHECK(bits[0] == 0x3F80 && bits[1] == 0xC000);
    CHECK_OK(mx_to_host(h, bits, sizeof bits));
    CHECK(bits[0] == 0x3C00 && bits[1] == 0xC000 && bits[2] == 0x4300 && bits[5] == 0x7BFF); /* IEEE half */
    CHECK_OK(mx_to_f32(h, back, 6));
    CHECK_NEAR(back[4], 1e-3, 1e-6); /* half has ~3 decimal digits */

    /* integer and bool dtypes round trip */
    int32_t i32[3] = {-5, 0, 2147483647};
    uint32_t u32[3] = {0, 1, 4294967295u};
    uint8_t u8[3] = {0, 128, 255};
    bool bl[3] = {true, false, true};
    int s3[1] = {3};
    mx_array ai, au, a8, ab;
    CHECK_OK(mx_from_data(&ai, i32, s3, 1, MX_INT32));
    CHECK_OK(mx_from_data(&au, u32, s3, 1, MX_UINT32));
    CHECK_OK(mx_from_data(&a8, u8, s3, 1, MX_UINT8));
    CHECK_OK(mx_from_data(&ab, bl, s3, 1, MX_BOOL));
    int32_t ri[3];
    uint32_t ru[3];
    uint8_t r8[3];
    bool rb[3];
    CHECK_OK(mx_to_host(ai, ri, sizeof ri));
    CHECK_OK(mx_to_host(au, ru, sizeof ru));
    CHECK_OK(mx_to_host(a8, r8, sizeof r8));
    CHECK_OK(mx_to_host(ab, rb, sizeof rb));
    CHECK(memcmp(ri, i32, sizeof ri) == 0 && memcmp(ru, u32, sizeof ru) == 0 && memcmp(r8, u8, 3) == 0);
    CHECK(rb[0] && !rb[1] && rb[2]);
    int32_t item;
    mx_array s;
    CHECK_OK(mx_scalar(&s, 42, MX_INT32));
    CHECK_OK(mx_item_i32(s, &item));
    CHECK(item == 42);

    /* creation helpers */
    mx_array z, r, l;
    CHECK_OK(mx_full(&z, shape, 2, 2.5, MX_FLOAT32));
    CHECK_OK(mx_to_f32(z, back, 6));
    CHECK(back[3] == 2.5f);
    CHECK_OK(mx_arange(&r, 0, 6, 2, MX_INT32));
    CHECK(mx_size(r) == 3);
    CHECK_OK(mx_to_i32(r, ri, 3));
    CHECK(ri[0] == 0 && ri[1] == 2 && ri[2] == 4);
    CHECK_OK(mx_linspace(&l, 0, 1, 5, MX_FLOAT32));
    CHECK_OK(mx_to_f32(l, back, 5));
    CHECK_NEAR(back[3], 0.75, 1e-7);
    mx_scope_end(scope);
}

static void test_nocopy(void) {
    static float data[4] = {1, 2, 3, 4};
    int shape[1] = {4}, weight = 1;
    deleter_calls = 0;
    mx_array a;
    CHECK_OK(mx_from_data_nocopy(&a, data, shape, 1, MX_FLOAT32, count_delete, &weight));
    float sum;
    mx_array s;
    CHECK_OK(mx_sum(&s, a, NULL, 0, false));
    CHECK_OK(mx_item_f32(s, &sum));
    CHECK(sum == 10);
    mx_free(s);
    CHECK(deleter_calls <= 1); /* MLX may have copied already (then the buffer is released at once) */
    mx_free(a);                /* at the latest with the last reference, the deleter runs exactly once */
    CHECK(deleter_calls == 1);
}

static void test_arenas(void) {
    size_t before = mx_live_handles();
    mx_arena *outer = mx_scope_begin();
    mx_array kept, freed_early;
    CHECK_OK(mx_scalar(&kept, 1, MX_FLOAT32));
    mx_arena *inner = mx_scope_begin();
    CHECK(mx_arena_current() == inner);
    mx_array t1, t2;
    CHECK_OK(mx_scalar(&t1, 2, MX_FLOAT32));
    CHECK_OK(mx_add(&t2, t1, kept));
    CHECK_OK(mx_scalar(&freed_early, 3, MX_FLOAT32));
    mx_free(freed_early); /* freeing inside an arena is fine */
    CHECK(mx_arena_count(inner) == 2);
    mx_keep(t2, outer); /* move the result out */
    mx_scope_end(inner);
    CHECK(mx_arena_current() == outer);
    CHECK(mx_arena_count(outer) == 2);
    float v;
    CHECK_OK(mx_item_f32(t2, &v));
    CHECK(v == 3);
    mx_keep(t2, NULL); /* free-standing now */
    mx_scope_end(outer);
    CHECK(mx_live_handles() == before + 1);
    mx_free(t2);
    CHECK(mx_live_handles() == before);
    CHECK(mx_arena_current() == NULL);
}

static void test_errors(void) {
    mx_arena *scope = mx_scope_begin();
    float f[4] = {0};
    int shape[2] = {2, 2}, bad_shape[1] = {-1};
    mx_array a, out = NULL;
    CHECK_OK(mx_from_data(&a, f, shape, 2, MX_FLOAT32));
    CHECK_FAILS(mx_add(&out, a, NULL), "NULL array handle");
    CHECK(out == NULL); /* untouched on failure */
    CHECK_FAILS(mx_to_f32(a, f, 3), "holds 3 elements, array has 4");
    CHECK_FAILS(mx_to_host(a, f, 8), "mx_to_host([2,2] float32)");
    CHECK_FAILS(mx_from_data(&out, f, bad_shape, 1, MX_FLOAT32), "negative dimension");
    CHECK_FAILS(mx_from_data(&out, f, shape, 9, MX_FLOAT32), "ndim out of range");
    CHECK_FAILS(mx_item_f32(a, f), "holds 1 elements, array has 4");
    mx_dtype dt;
    CHECK_OK(mx_dtype_from_name("bfloat16", &dt));
    CHECK(dt == MX_BFLOAT16 && mx_dtype_size(dt) == 2);
    CHECK_FAILS(mx_dtype_from_name("float8", &dt), "unknown dtype 'float8'");
    mx_scope_end(scope);
}

static void test_memory_and_devices(void) {
    size_t active, peak, prev;
    CHECK_OK(mx_memory_reset_peak());
    mx_arena *scope = mx_scope_begin();
    int shape[1] = {1 << 20};
    mx_array big;
    CHECK_OK(mx_ones(&big, shape, 1, MX_FLOAT32));
    CHECK_OK(mx_eval(&big, 1));
    CHECK_OK(mx_memory_active(&active));
    CHECK_OK(mx_memory_peak(&peak));
    CHECK(active >= 4u << 20 && peak >= 4u << 20);
    mx_scope_end(scope);
    CHECK_OK(mx_memory_set_cache_limit(0, &prev));
    CHECK_OK(mx_memory_clear_cache());
    CHECK_OK(mx_memory_set_cache_limit(prev, NULL));
    CHECK(strlen(mx_version()) > 0);
    if (!mx_gpu_available()) CHECK_FAILS(mx_set_default_device(MX_GPU), "no GPU");
    CHECK_OK(mx_set_default_device(mx_gpu_available() ? MX_GPU : MX_CPU));
    CHECK(mx_default_device() == (mx_gpu_available() ? MX_GPU : MX_CPU));
}

/* MLX's graph size bound: set on the CUDA backend only, and never over the user's own value. */
static void test_work_in_flight(void) {
    setenv("MLX_MAX_MB_PER_BUFFER", "7", 1);
    CHECK_OK(mx_gpu_limit_in_flight(100));
    CHECK(!strcmp(getenv("MLX_MAX_MB_PER_BUFFER"), "7"));
    unsetenv("MLX_MAX_MB_PER_BUFFER");
    CHECK_OK(mx_gpu_limit_in_flight(100));
    const char *v = getenv("MLX_MAX_MB_PER_BUFFER");
    if (!mx_gpu_available()) CHECK(v == NULL);       /* the CPU backend: left alone */
    else CHECK(v == NULL || !strcmp(v, "100"));   /* Metal: left alone; CUDA: 100 */
    unsetenv("MLX_MAX_MB_PER_BUFFER");
}

int main(void) {
    TEST_BEGIN();
    test_work_in_flight(); /* first: MLX reads the bound at the GPU's first use */
    test_create_and_read();
    test_nocopy();
    test_arenas();
    test_errors();
    test_memory_and_devices();
    return TEST_END();
}

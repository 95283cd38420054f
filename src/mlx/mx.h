/* mx.h — vlmtune's C binding to MLX.
 *
 * This header is the only door from C into MLX (C++20).  Everything behind it
 * lives in the C++ files of src/mlx; nothing else in the project includes an MLX header.
 *
 * Conventions
 * -----------
 * Status.   Every fallible call returns int: 0 on success, -1 on failure.  The
 *           message (what failed, with shapes) is in vt_errmsg() (util/error.h).
 *           No C++ exception ever crosses this header.
 * Outputs.  Results come back through pointers given first (`mx_add(&c, a, b)`).
 *           On failure *out is left untouched.
 * Handles.  An mx_array is an opaque handle to an MLX array (a reference-counted
 *           lazy graph node).  Arrays are immutable; operations make new handles.
 * Arenas.   Every handle made by this binding is recorded in the arena that is
 *           current on this thread (the top of the arena stack).  Freeing the
 *           arena frees all its handles at once, which is how a forward pass
 *           cleans up its intermediates:
 *
 *               mx_arena *step = mx_scope_begin();
 *               ... ops ...                      // all recorded in `step`
 *               mx_keep(loss, parent);           // move the result out
 *               mx_scope_end(step);              // free the rest
 *
 *           With no arena pushed, a handle is free-standing: the caller owns it
 *           and frees it with mx_free().  mx_free() works on any handle, in an
 *           arena or not.  mx_live_handles() counts handles not yet freed; the
 *           tests check it returns to its starting value (leak check).
 * Borrowed. A handle returned from an mx_tensors map is owned by the map; do not
 *           free it.  Inputs to C callbacks (transforms) are owned by the binding.
 */
#ifndef VT_MX_H
#define VT_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- types ---- */

typedef struct mx_array_s *mx_array;
typedef struct mx_arena mx_arena;
typedef struct mx_function mx_function;
typedef struct mx_tensors mx_tensors;
typedef struct mx_group mx_group;

typedef enum {
    MX_BOOL,
    MX_UINT8,
    MX_UINT16,
    MX_UINT32,
    MX_UINT64,
    MX_INT8,
    MX_INT16,
    MX_INT32,
    MX_INT64,
    MX_FLOAT16,
    MX_BFLOAT16,
    MX_FLOAT32,
    MX_FLOAT64,
} mx_dtype;

typedef enum { MX_CPU, MX_GPU } mx_device;

enum { MX_MAX_NDIM = 8 };

const char *mx_dtype_name(mx_dtype dt);       /* "float32", "bfloat16", ... */
size_t mx_dtype_size(mx_dtype dt);            /* bytes per element */
int mx_dtype_from_name(const char *name, mx_dtype *out); /* inverse of mx_dtype_name */

/* --------------------------------------------------------------- arenas ---- */

mx_arena *mx_arena_new(void);                 /* NULL only if out of memory */
void mx_arena_free(mx_arena *arena);          /* frees every handle it holds, then itself */
void mx_arena_push(mx_arena *arena);          /* make it current on this thread */
void mx_arena_pop(void);                      /* back to the previous current arena */
mx_arena *mx_arena_current(void);             /* NULL when none is pushed */
size_t mx_arena_count(const mx_arena *arena); /* live handles in it */
/* mx_arena_new() + mx_arena_push(); end with mx_scope_end(). */
mx_arena *mx_scope_begin(void);
/* Pops `scope` (which must be current) and frees it with its handles. */
void mx_scope_end(mx_arena *scope);
/* Move a handle into `dst` (NULL: free-standing, owned by the caller). */
void mx_keep(mx_array a, mx_arena *dst);
void mx_free(mx_array a);                     /* NULL is fine */
size_t mx_live_handles(void);                 /* process-wide count, for leak checks */
/* A new handle to the same array (shares data), recorded in the current arena. */
int mx_ref(mx_array *out, mx_array a);

/* ------------------------------------------------- creation and queries ---- */

/* Copies `data` (row-major, dtype `dt`). */
int mx_from_data(mx_array *out, const void *data, const int *shape, int ndim, mx_dtype dt);
/* Wraps `data` without copying where the backend can (otherwise MLX copies it
 * at once); either way deleter(data, ctx) runs exactly once, when MLX no longer
 * needs the buffer.  Until then the caller must not change or free it.  deleter
 * may be NULL when the caller keeps data alive longer than the array. */
int mx_from_data_nocopy(mx_array *out, void *data, const int *shape, int ndim, mx_dtype dt,
                        void (*deleter)(void *data, void *ctx), void *ctx);
int mx_scalar(mx_array *out, double value, mx_dtype dt);
int mx_full(mx_array *out, const int *shape, int ndim, double value, mx_dtype dt);
int mx_zeros(mx_array *out, const int *shape, int ndim, mx_dtype dt);
int mx_ones(mx_array *out, const int *shape, int ndim, mx_dtype dt);
int mx_zeros_like(mx_array *out, mx_array a);
int mx_arange(mx_array *out, double start, double stop, double step, mx_dtype dt);
int mx_linspace(mx_array *out, double start, double stop, int num, mx_dtype dt);

/* These never fail on a valid handle. */
int mx_ndim(mx_array a);
int mx_dim(mx_array a, int axis);             /* negative axis counts from the end */
const int *mx_shape(mx_array a);              /* valid while `a` lives */
size_t mx_size(mx_array a);                   /* number of elements */
size_t mx_nbytes(mx_array a);
mx_dtype mx_dtype_of(mx_array a);
/* "[2,3] float32" into buf; returns buf. */
const char *mx_describe(mx_array a, char *buf, size_t cap);

/* Evaluates `a` and copies its elements, row-major, in its own dtype.
 * dst_bytes must equal mx_nbytes(a). */
int mx_to_host(mx_array a, void *dst, size_t dst_bytes);
/* Evaluates and converts any dtype to float32 (bf16/f16 included, on any CPU). */
int mx_to_f32(mx_array a, float *dst, size_t n);
int mx_to_i32(mx_array a, int32_t *dst, size_t n);
int mx_item_f32(mx_array a, float *out);      /* a must hold exactly one element */
int mx_item_i32(mx_array a, int32_t *out);

int mx_eval(const mx_array *arrays, size_t n);
int mx_async_eval(const mx_array *arrays, size_t n);
int mx_synchronize(void);

/* ------------------------------------------------------------ elementwise -- */

int mx_neg(mx_array *out, mx_array a);
int mx_abs(mx_array *out, mx_array a);
int mx_exp(mx_array *out, mx_array a);
int mx_log(mx_array *out, mx_array a);
int mx_log1p(mx_array *out, mx_array a);
int mx_sqrt(mx_array *out, mx_array a);
int mx_rsqrt(mx_array *out, mx_array a);
int mx_square(mx_array *out, mx_array a);
int mx_reciprocal(mx_array *out, mx_array a);
int mx_sin(mx_array *out, mx_array a);
int mx_cos(mx_array *out, mx_array a);
int mx_tanh(mx_array *out, mx_array a);
int mx_sigmoid(mx_array *out, mx_array a);
int mx_erf(mx_array *out, mx_array a);
int mx_floor(mx_array *out, mx_array a);
int mx_ceil(mx_array *out, mx_array a);
int mx_isnan(mx_array *out, mx_array a);
int mx_isinf(mx_array *out, mx_array a);
int mx_logical_not(mx_array *out, mx_array a);

int mx_add(mx_array *out, mx_array a, mx_array b);
int mx_subtract(mx_array *out, mx_array a, mx_array b);
int mx_multiply(mx_array *out, mx_array a, mx_array b);
int mx_divide(mx_array *out, mx_array a, mx_array b);
int mx_maximum(mx_array *out, mx_array a, mx_array b);
int mx_minimum(mx_array *out, mx_array a, mx_array b);
int mx_power(mx_array *out, mx_array a, mx_array b);
int mx_equal(mx_array *out, mx_array a, mx_array b);
int mx_not_equal(mx_array *out, mx_array a, mx_array b);
int mx_less(mx_array *out, mx_array a, mx_array b);
int mx_less_equal(mx_array *out, mx_array a, mx_array b);
int mx_greater(mx_array *out, mx_array a, mx_array b);
int mx_greater_equal(mx_array *out, mx_array a, mx_array b);
int mx_logical_and(mx_array *out, mx_array a, mx_array b);
int mx_logical_or(mx_array *out, mx_array a, mx_array b);

/* Scalar forms keep a's dtype (a bf16 array times 0.5 stays bf16). */
int mx_add_scalar(mx_array *out, mx_array a, double s);
int mx_mul_scalar(mx_array *out, mx_array a, double s);
int mx_pow_scalar(mx_array *out, mx_array a, double s);
int mx_clip(mx_array *out, mx_array a, double lo, double hi);

int mx_where(mx_array *out, mx_array cond, mx_array x, mx_array y);
int mx_astype(mx_array *out, mx_array a, mx_dtype dt);
int mx_stop_gradient(mx_array *out, mx_array a);

/* ----------------------------------------------------------- linear algebra */

int mx_matmul(mx_array *out, mx_array a, mx_array b);
/* alpha * (a @ b) + beta * c */
int mx_addmm(mx_array *out, mx_array c, mx_array a, mx_array b, float alpha, float beta);

/* ------------------------------------------------------------- reductions -- */
/* axes == NULL with naxes == 0 reduces over every axis. */

int mx_sum(mx_array *out, mx_array a, const int *axes, int naxes, bool keepdims);
int mx_mean(mx_array *out, mx_array a, const int *axes, int naxes, bool keepdims);
int mx_max(mx_array *out, mx_array a, const int *axes, int naxes, bool keepdims);
int mx_min(mx_array *out, mx_array a, const int *axes, int naxes, bool keepdims);
int mx_logsumexp(mx_array *out, mx_array a, const int *axes, int naxes, bool keepdims);
int mx_argmax(mx_array *out, mx_array a, int axis, bool keepdims);
/* precise: accumulate in float32 for half inputs. */
int mx_softmax(mx_array *out, mx_array a, const int *axes, int naxes, bool precise);
int mx_cumsum(mx_array *out, mx_array a, int axis, bool reverse, bool inclusive);
int mx_argsort(mx_array *out, mx_array a, int axis);
int mx_sort(mx_array *out, mx_array a, int axis);

/* ------------------------------------------------------- indexing, shapes -- */

int mx_take(mx_array *out, mx_array a, mx_array indices, int axis);
int mx_take_along_axis(mx_array *out, mx_array a, mx_array indices, int axis);
int mx_put_along_axis(mx_array *out, mx_array a, mx_array indices, mx_array values, int axis);
int mx_concatenate(mx_array *out, const mx_array *arrays, size_t n, int axis);
int mx_stack(mx_array *out, const mx_array *arrays, size_t n, int axis);
/* Split into `nparts` equal parts along axis; outs has nparts slots. */
int mx_split(mx_array *outs, int nparts, mx_array a, int axis);
/* Split at the given indices; outs has nidx + 1 slots. */
int mx_split_at(mx_array *outs, mx_array a, const int *indices, int nidx, int axis);
int mx_reshape(mx_array *out, mx_array a, const int *shape, int ndim); /* one -1 allowed */
/* perm == NULL reverses the axes. */
int mx_transpose(mx_array *out, mx_array a, const int *perm, int nperm);
int mx_swapaxes(mx_array *out, mx_array a, int axis1, int axis2);
int mx_expand_dims(mx_array *out, mx_array a, int axis);
int mx_squeeze(mx_array *out, mx_array a, int axis);
int mx_broadcast_to(mx_array *out, mx_array a, const int *shape, int ndim);
int mx_flatten(mx_array *out, mx_array a, int start_axis, int end_axis);
/* Zero-pad (or `value`-pad) axis i by lo[i] before and hi[i] after; n == ndim. */
int mx_pad(mx_array *out, mx_array a, const int *lo, const int *hi, int n, double value);
/* start/stop/strides have ndim entries (strides NULL: all 1). */
int mx_slice(mx_array *out, mx_array a, const int *start, const int *stop, const int *strides, int ndim);
/* [start, stop) along one axis, everything along the others. */
int mx_slice_axis(mx_array *out, mx_array a, int axis, int start, int stop);
/* A copy of `src` with src[start:stop:strides] replaced by `update`. */
int mx_slice_update(mx_array *out, mx_array src, mx_array update, const int *start, const int *stop,
                    const int *strides, int ndim);
int mx_contiguous(mx_array *out, mx_array a);

/* ---------------------------------------------------------- quantization -- */
/* MLX affine quantization of w [.., out, in] along its last axis. */
int mx_quantize(mx_array *wq, mx_array *scales, mx_array *biases, mx_array w, int group_size, int bits);
int mx_dequantize(mx_array *out, mx_array wq, mx_array scales, mx_array biases, int group_size, int bits);
/* x @ dequant(w)ᵀ when transpose (the Linear layout), else x @ dequant(w). */
int mx_quantized_matmul(mx_array *out, mx_array x, mx_array wq, mx_array scales, mx_array biases,
                        bool transpose, int group_size, int bits);
/* x @ dequant(w)ᵀ, differentiated in x as g @ dequant(w) with the weight dequantized first (one weight's worth
 * of memory for the moment) instead of MLX's untransposed quantized product, which is slow on CUDA. */
int mx_quantized_linear(mx_array *out, mx_array x, mx_array wq, mx_array scales, mx_array biases, int group_size,
                        int bits);

/* ---------------------------------------------------------------- fast ops - */

/* weight may be NULL (no scale). */
int mx_rms_norm(mx_array *out, mx_array x, mx_array weight, float eps);
/* weight, bias may be NULL. */
int mx_layer_norm(mx_array *out, mx_array x, mx_array weight, mx_array bias, float eps);
/* Rotary embedding of the last `dims` features of x [..., T, D], token t at
 * position offset + t.  freqs (may be NULL) overrides base: [dims/2] inverse
 * frequencies.  traditional: rotate adjacent pairs instead of halves. */
int mx_rope(mx_array *out, mx_array x, int dims, bool traditional, float base, float scale, int offset,
            mx_array freqs);

typedef enum { MX_MASK_NONE, MX_MASK_CAUSAL, MX_MASK_ARRAY } mx_mask_mode;
/* q [B, Hq, Tq, D], k/v [B, Hkv, Tk, D] (Hq a multiple of Hkv: GQA).  With
 * MX_MASK_ARRAY, mask is bool (true = attend) or additive float, broadcastable
 * to [B, Hq, Tq, Tk]. */
int mx_sdpa(mx_array *out, mx_array q, mx_array k, mx_array v, float scale, mx_mask_mode mode,
            mx_array mask);

/* --------------------------------------------------------------- random ---- */
/* Every sampler takes an explicit key (NULL: MLX's global key). */

int mx_random_seed(uint64_t seed);
int mx_random_key(mx_array *out, uint64_t seed);
int mx_random_split(mx_array *k1, mx_array *k2, mx_array key);
int mx_random_normal(mx_array *out, const int *shape, int ndim, mx_dtype dt, mx_array key);
int mx_random_uniform(mx_array *out, double lo, double hi, const int *shape, int ndim, mx_dtype dt,
                      mx_array key);
/* true with probability p. */
int mx_random_bernoulli(mx_array *out, double p, const int *shape, int ndim, mx_array key);
/* One sample per row of logits [..., V] along the last axis. */
int mx_random_categorical(mx_array *out, mx_array logits, mx_array key);

/* ----------------------------------------------------------- transforms ---- */

/* A C function over arrays.  It reads in[0..n_in), writes at most out_cap new
 * handles to out and their count to *n_out, and returns 0 (or -1 with
 * vt_err(), which unwinds through MLX and comes back as the caller's status).
 * Handles it makes are freed by the binding after it returns; it must not free
 * its inputs. */
typedef int (*mx_fn)(void *ctx, const mx_array *in, size_t n_in, mx_array *out, size_t out_cap,
                     size_t *n_out);

/* Function objects: a C callback, or a transformation of another function. */
int mx_function_new(mx_function **out, mx_fn fn, void *ctx);
/* Recompute fn's intermediates in the backward pass instead of keeping them. */
int mx_function_checkpoint(mx_function **out, const mx_function *fn);
/* Trace once per input shape set (any shape if shapeless) and fuse.  Arrays
 * the callback captures become constants: pass what changes as inputs. */
int mx_function_compile(mx_function **out, const mx_function *fn, bool shapeless);
int mx_function_call(const mx_function *fn, const mx_array *in, size_t n_in, mx_array *out,
                     size_t out_cap, size_t *n_out);
void mx_function_free(mx_function *fn);       /* NULL is fine */
/* Drop MLX's compilation cache (tests, and between unrelated compiled models). */
int mx_compile_clear_cache(void);

/* Outputs of fn (values, at most values_cap) and the gradient of output 0,
 * which must be a scalar, with respect to inputs argnums[0..n_argnums)
 * (grads has n_argnums slots). */
int mx_value_and_grad(const mx_function *fn, const mx_array *in, size_t n_in, const int *argnums,
                      size_t n_argnums, mx_array *values, size_t values_cap, size_t *n_values,
                      mx_array *grads);
/* Vector-Jacobian product: outputs of fn and, for each primal, the sum over
 * outputs of cotangent · ∂output/∂primal (vjps has n_primals slots). */
int mx_vjp(const mx_function *fn, const mx_array *primals, size_t n_primals, const mx_array *cotangents,
           size_t n_cotangents, mx_array *outputs, size_t out_cap, size_t *n_outputs, mx_array *vjps);

/* ------------------------------------------------- memory and devices ---- */

int mx_memory_active(size_t *bytes);
int mx_memory_peak(size_t *bytes);
int mx_memory_cache(size_t *bytes);
int mx_memory_reset_peak(void);
int mx_memory_set_limit(size_t bytes, size_t *previous);
int mx_memory_set_cache_limit(size_t bytes, size_t *previous);
int mx_memory_clear_cache(void);

/* The default device's memory: *total its size, *working_set what it should use at most (Metal's recommended
 * working set; the total elsewhere).  Both 0 when MLX gives no figure (the CPU backend: ask the OS). */
int mx_device_memory(size_t *total, size_t *working_set);
/* Metal keeps up to `bytes` resident (wired) instead of letting the OS page them (macOS 15+); a no-op on
 * other backends.  *previous (may be NULL) receives the old limit. */
int mx_set_wired_limit(size_t bytes, size_t *previous);
/* On MLX's CUDA backend, commit GPU work in graphs that read at most `mb` MB of inputs (MLX's default there is
 * 1000), bounding the consumed activations held alive by the up to 10 graphs MLX queues ahead of the GPU.
 * Effective only before the first GPU operation; a no-op on other backends or when MLX_MAX_MB_PER_BUFFER is set. */
int mx_gpu_limit_in_flight(int mb);

bool mx_gpu_available(void);
int mx_set_default_device(mx_device dev);    /* fails with a message if there is no GPU */
mx_device mx_default_device(void);
const char *mx_version(void);                 /* MLX's version string */

/* ----------------------------------------------------------- safetensors --- */
/* An ordered map name → array plus string metadata.  It holds references to
 * its arrays; handles it returns are borrowed (owned by the map). */

int mx_tensors_new(mx_tensors **out);
void mx_tensors_free(mx_tensors *t);          /* NULL is fine */
size_t mx_tensors_count(const mx_tensors *t);
const char *mx_tensors_name(const mx_tensors *t, size_t i);
mx_array mx_tensors_at(const mx_tensors *t, size_t i);              /* borrowed */
mx_array mx_tensors_get(const mx_tensors *t, const char *name);     /* borrowed; NULL if absent */
/* Adds or replaces; the map takes its own reference (a stays the caller's). */
int mx_tensors_set(mx_tensors *t, const char *name, mx_array a);
int mx_tensors_remove(mx_tensors *t, const char *name);             /* absent is an error */
size_t mx_tensors_meta_count(const mx_tensors *t);
const char *mx_tensors_meta_key(const mx_tensors *t, size_t i);
const char *mx_tensors_meta_value(const mx_tensors *t, size_t i);
const char *mx_tensors_meta_get(const mx_tensors *t, const char *key); /* NULL if absent */
int mx_tensors_meta_set(mx_tensors *t, const char *key, const char *value);

/* Lazy: tensor data is read from the file when first evaluated, so a large
 * file is never held twice.  The header and the file size are checked up
 * front: a truncated or corrupt file fails here, naming the file. */
int mx_load_safetensors(mx_tensors **out, const char *path);
int mx_save_safetensors(const char *path, const mx_tensors *t);

/* ----------------------------------------------------------- distributed --- */

/* backend: "any", "ring", "mpi", "nccl".  strict: fail if no multi-process
 * backend is available (otherwise a group of size 1). */
int mx_dist_init(mx_group **out, bool strict, const char *backend);
void mx_group_free(mx_group *g);
int mx_dist_rank(const mx_group *g);
int mx_dist_size(const mx_group *g);
int mx_dist_all_sum(mx_array *out, mx_array a, const mx_group *g);
int mx_dist_all_gather(mx_array *out, mx_array a, const mx_group *g);

#ifdef __cplusplus
}
#endif

#endif

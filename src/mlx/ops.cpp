// Array operations: elementwise, linear algebra, reductions, indexing and shapes, quantization.
// Each entry point is one MLX call wrapped by MXB_OP, which turns exceptions into a status
// and a message naming the op and the shapes of its arguments.
#include <cmath>

#include "mlx/internal.hpp"

using namespace mxb;

/* ---------------------------------------------------------- elementwise ---- */

#define UNARY(name, fn) \
    int name(mx_array *out, mx_array a) { return MXB_OP(out, #name, fn(get(a)), a); }
#define BINARY(name, fn) \
    int name(mx_array *out, mx_array a, mx_array b) { return MXB_OP(out, #name, fn(get(a), get(b)), a, b); }

UNARY(mx_neg, mx::negative)
UNARY(mx_abs, mx::abs)
UNARY(mx_exp, mx::exp)
UNARY(mx_log, mx::log)
UNARY(mx_log1p, mx::log1p)
UNARY(mx_sqrt, mx::sqrt)
UNARY(mx_rsqrt, mx::rsqrt)
UNARY(mx_square, mx::square)
UNARY(mx_reciprocal, mx::reciprocal)
UNARY(mx_sin, mx::sin)
UNARY(mx_cos, mx::cos)
UNARY(mx_tanh, mx::tanh)
UNARY(mx_sigmoid, mx::sigmoid)
UNARY(mx_erf, mx::erf)
UNARY(mx_floor, mx::floor)
UNARY(mx_ceil, mx::ceil)
UNARY(mx_isnan, mx::isnan)
UNARY(mx_isinf, mx::isinf)
UNARY(mx_logical_not, mx::logical_not)
UNARY(mx_stop_gradient, mx::stop_gradient)
UNARY(mx_contiguous, mx::contiguous)

BINARY(mx_add, mx::add)
BINARY(mx_subtract, mx::subtract)
BINARY(mx_multiply, mx::multiply)
BINARY(mx_divide, mx::divide)
BINARY(mx_maximum, mx::maximum)
BINARY(mx_minimum, mx::minimum)
BINARY(mx_power, mx::power)
BINARY(mx_equal, mx::equal)
BINARY(mx_not_equal, mx::not_equal)
BINARY(mx_less, mx::less)
BINARY(mx_less_equal, mx::less_equal)
BINARY(mx_greater, mx::greater)
BINARY(mx_greater_equal, mx::greater_equal)
BINARY(mx_logical_and, mx::logical_and)
BINARY(mx_logical_or, mx::logical_or)
BINARY(mx_matmul, mx::matmul)

// A scalar in a's dtype, so that bf16 × 0.5 stays bf16 (MLX would promote to float32).
static mx::array scalar_like(const mx::array &a, double s) {
    mx::Dtype d = mx::issubdtype(a.dtype(), mx::floating) ? a.dtype() : mx::float32;
    return mx::astype(mx::array(s), d);
}

int mx_add_scalar(mx_array *out, mx_array a, double s) {
    return MXB_OP(out, "mx_add_scalar", mx::add(get(a), scalar_like(get(a), s)), a);
}

int mx_mul_scalar(mx_array *out, mx_array a, double s) {
    return MXB_OP(out, "mx_mul_scalar", mx::multiply(get(a), scalar_like(get(a), s)), a);
}

int mx_pow_scalar(mx_array *out, mx_array a, double s) {
    return MXB_OP(out, "mx_pow_scalar", mx::power(get(a), scalar_like(get(a), s)), a);
}

int mx_clip(mx_array *out, mx_array a, double lo, double hi) {
    return MXB_OP(out, "mx_clip", mx::clip(get(a), std::optional<mx::array>(scalar_like(get(a), lo)),
                           std::optional<mx::array>(scalar_like(get(a), hi))), a);
}

int mx_where(mx_array *out, mx_array cond, mx_array x, mx_array y) {
    return MXB_OP(out, "mx_where", mx::where(get(cond), get(x), get(y)), cond, x, y);
}

int mx_astype(mx_array *out, mx_array a, mx_dtype dt) {
    return MXB_OP(out, "mx_astype", mx::astype(get(a), to_mlx(dt)), a);
}

int mx_addmm(mx_array *out, mx_array c, mx_array a, mx_array b, float alpha, float beta) {
    return MXB_OP(out, "mx_addmm", mx::addmm(get(c), get(a), get(b), alpha, beta), c, a, b);
}

/* ----------------------------------------------------------- reductions ---- */

// axes == NULL && naxes == 0 means "every axis".
static std::vector<int> reduce_axes(const mx::array &a, const int *axes, int naxes) {
    if (naxes > 0) return to_axes(axes, naxes);
    std::vector<int> all(a.ndim());
    for (size_t i = 0; i < all.size(); i++) all[i] = (int)i;
    return all;
}

#define REDUCE(name, fn)                                                                              \
    int name(mx_array *out, mx_array a, const int *axes, int naxes, bool keepdims) {                  \
        return MXB_OP(out, #name, fn(get(a), reduce_axes(get(a), axes, naxes), keepdims), a);       \
    }

REDUCE(mx_sum, mx::sum)
REDUCE(mx_mean, mx::mean)
REDUCE(mx_max, mx::max)
REDUCE(mx_min, mx::min)
REDUCE(mx_logsumexp, mx::logsumexp)

int mx_argmax(mx_array *out, mx_array a, int axis, bool keepdims) {
    return MXB_OP(out, "mx_argmax", mx::argmax(get(a), axis, keepdims), a);
}

int mx_softmax(mx_array *out, mx_array a, const int *axes, int naxes, bool precise) {
    return MXB_OP(out, "mx_softmax", mx::softmax(get(a), reduce_axes(get(a), axes, naxes), precise), a);
}

int mx_cumsum(mx_array *out, mx_array a, int axis, bool reverse, bool inclusive) {
    return MXB_OP(out, "mx_cumsum", mx::cumsum(get(a), axis, reverse, inclusive), a);
}

int mx_argsort(mx_array *out, mx_array a, int axis) {
    return MXB_OP(out, "mx_argsort", mx::argsort(get(a), axis), a);
}

int mx_sort(mx_array *out, mx_array a, int axis) { return MXB_OP(out, "mx_sort", mx::sort(get(a), axis), a); }

/* ------------------------------------------------------ indexing, shapes ---- */

int mx_take(mx_array *out, mx_array a, mx_array indices, int axis) {
    return MXB_OP(out, "mx_take", mx::take(get(a), get(indices), axis), a, indices);
}

int mx_take_along_axis(mx_array *out, mx_array a, mx_array indices, int axis) {
    return MXB_OP(out, "mx_take_along_axis", mx::take_along_axis(get(a), get(indices), axis), a, indices);
}

int mx_put_along_axis(mx_array *out, mx_array a, mx_array indices, mx_array values, int axis) {
    return MXB_OP(out, "mx_put_along_axis", mx::put_along_axis(get(a), get(indices), get(values), axis), a, indices, values);
}

int mx_concatenate(mx_array *out, const mx_array *arrays, size_t n, int axis) {
    return MXB_OP(out, "mx_concatenate", mx::concatenate(arrays_of(arrays, n), axis));
}

int mx_stack(mx_array *out, const mx_array *arrays, size_t n, int axis) {
    return MXB_OP(out, "mx_stack", mx::stack(arrays_of(arrays, n), axis));
}

static void wrap_all(mx_array *outs, std::vector<mx::array> parts) {
    for (size_t i = 0; i < parts.size(); i++) outs[i] = wrap(std::move(parts[i]));
}

int mx_split(mx_array *outs, int nparts, mx_array a, int axis) {
    return guard("mx_split", {a}, [&] {
        if (nparts < 1) throw std::invalid_argument("nparts must be at least 1");
        wrap_all(outs, mx::split(get(a), nparts, axis));
    });
}

int mx_split_at(mx_array *outs, mx_array a, const int *indices, int nidx, int axis) {
    return guard("mx_split_at", {a}, [&] { wrap_all(outs, mx::split(get(a), to_shape(indices, nidx), axis)); });
}

int mx_reshape(mx_array *out, mx_array a, const int *shape, int ndim) {
    return MXB_OP(out, "mx_reshape", mx::reshape(get(a), to_shape(shape, ndim)), a);
}

int mx_transpose(mx_array *out, mx_array a, const int *perm, int nperm) {
    return MXB_OP(out, "mx_transpose", perm ? mx::transpose(get(a), to_axes(perm, nperm)) : mx::transpose(get(a)), a);
}

int mx_swapaxes(mx_array *out, mx_array a, int axis1, int axis2) {
    return MXB_OP(out, "mx_swapaxes", mx::swapaxes(get(a), axis1, axis2), a);
}

int mx_expand_dims(mx_array *out, mx_array a, int axis) {
    return MXB_OP(out, "mx_expand_dims", mx::expand_dims(get(a), axis), a);
}

int mx_squeeze(mx_array *out, mx_array a, int axis) {
    return MXB_OP(out, "mx_squeeze", mx::squeeze(get(a), axis), a);
}

int mx_broadcast_to(mx_array *out, mx_array a, const int *shape, int ndim) {
    return MXB_OP(out, "mx_broadcast_to", mx::broadcast_to(get(a), to_shape(shape, ndim)), a);
}

int mx_flatten(mx_array *out, mx_array a, int start_axis, int end_axis) {
    return MXB_OP(out, "mx_flatten", mx::flatten(get(a), start_axis, end_axis), a);
}

int mx_pad(mx_array *out, mx_array a, const int *lo, const int *hi, int n, double value) {
    return guard("mx_pad", {a}, [&] {
        const mx::array &v = get(a);
        if (n != (int)v.ndim()) throw std::invalid_argument("pad widths must be given for every axis");
        std::vector<int> axes(n);
        for (int i = 0; i < n; i++) axes[i] = i;
        *out = wrap(mx::pad(v, axes, to_shape(lo, n), to_shape(hi, n), scalar_like(v, value)));
    });
}

// MLX clamps out-of-range slice bounds silently; a C caller almost always means a bug by them.
static void check_slice(const mx::array &a, const int *start, const int *stop, int ndim) {
    if (ndim != (int)a.ndim()) throw std::invalid_argument("slice bounds must be given for every axis");
    for (int i = 0; i < ndim; i++)
        if (start[i] < 0 || stop[i] > a.shape(i) || start[i] > stop[i])
            throw std::invalid_argument("slice [" + std::to_string(start[i]) + ":" + std::to_string(stop[i]) +
                                        ") out of range for axis " + std::to_string(i) + " of size " +
                                        std::to_string(a.shape(i)));
}

static mx::Shape strides_or_ones(const int *strides, int ndim) {
    return strides ? to_shape(strides, ndim) : mx::Shape(ndim, 1);
}

int mx_slice(mx_array *out, mx_array a, const int *start, const int *stop, const int *strides, int ndim) {
    return guard("mx_slice", {a}, [&] {
        check_slice(get(a), start, stop, ndim);
        *out = wrap(mx::slice(get(a), to_shape(start, ndim), to_shape(stop, ndim), strides_or_ones(strides, ndim)));
    });
}

int mx_slice_axis(mx_array *out, mx_array a, int axis, int start, int stop) {
    return guard("mx_slice_axis", {a}, [&] {
        const mx::array &v = get(a);
        int nd = (int)v.ndim();
        if (axis < 0) axis += nd;
        if (axis < 0 || axis >= nd) throw std::invalid_argument("axis " + std::to_string(axis) + " out of range");
        mx::Shape lo(nd, 0), hi = v.shape();
        lo[axis] = start;
        hi[axis] = stop;
        check_slice(v, lo.data(), hi.data(), nd);
        *out = wrap(mx::slice(v, lo, hi));
    });
}

int mx_slice_update(mx_array *out, mx_array src, mx_array update, const int *start, const int *stop,
                    const int *strides, int ndim) {
    return guard("mx_slice_update", {src, update}, [&] {
        check_slice(get(src), start, stop, ndim);
        *out = wrap(mx::slice_update(get(src), get(update), to_shape(start, ndim), to_shape(stop, ndim),
                                     strides_or_ones(strides, ndim)));
    });
}

/* --------------------------------------------------------- quantization ---- */

int mx_quantize(mx_array *wq, mx_array *scales, mx_array *biases, mx_array w, int group_size, int bits) {
    return guard("mx_quantize", {w}, [&] {
        auto r = mx::quantize(get(w), group_size, bits);
        if (r.size() != 3) throw std::runtime_error("affine quantization returned no biases");
        *wq = wrap(r[0]);
        *scales = wrap(r[1]);
        *biases = wrap(r[2]);
    });
}

int mx_dequantize(mx_array *out, mx_array wq, mx_array scales, mx_array biases, int group_size, int bits) {
    return MXB_OP(out, "mx_dequantize", mx::dequantize(get(wq), get(scales), get(biases), group_size, bits), wq, scales, biases);
}

int mx_quantized_matmul(mx_array *out, mx_array x, mx_array wq, mx_array scales, mx_array biases, bool transpose,
                        int group_size, int bits) {
    return MXB_OP(out, "mx_quantized_matmul", mx::quantized_matmul(get(x), get(wq), get(scales), get(biases), transpose, group_size, bits), x, wq, scales, biases);
}

// MLX differentiates x @ dequant(w)ᵀ into the untransposed product g @ dequant(w), which MLX's CUDA backend runs
// only with its generic kernel (qmm_naive, compiled at run time per shape): a QLoRA step did not get through
// warm-up in 48 s on an H200.  The gradient is the same product with the weight dequantized first: a plain
// matmul on every backend, and one layer's weight in the activations' type alive for the moment.
static mx::array quantized_linear(const mx::array &x, const mx::array &wq, const mx::array &scales,
                                  const mx::array &biases, int group_size, int bits) {
    // Outside a gradient's trace (generation, evaluation, the first layer) no gradient can reach x.
    if (!x.is_tracer()) return mx::quantized_matmul(x, wq, scales, biases, true, group_size, bits);
    auto forward = [group_size, bits](const std::vector<mx::array> &in) {
        return std::vector<mx::array>{mx::quantized_matmul(in[0], in[1], in[2], in[3], true, group_size, bits)};
    };
    auto backward = [group_size, bits](const std::vector<mx::array> &primals, const std::vector<mx::array> &cotangents,
                                       const std::vector<mx::array> &) {
        const mx::array &g = cotangents[0];
        mx::array w = mx::astype(mx::dequantize(primals[1], primals[2], primals[3], group_size, bits), g.dtype());
        // The quantized weight is frozen: its cotangents exist for the signature and are never evaluated.
        return std::vector<mx::array>{mx::astype(mx::matmul(g, w), primals[0].dtype()), mx::zeros_like(primals[1]),
                                      mx::zeros_like(primals[2]), mx::zeros_like(primals[3])};
    };
    return mx::custom_vjp(forward, backward)({x, wq, scales, biases})[0];
}

int mx_quantized_linear(mx_array *out, mx_array x, mx_array wq, mx_array scales, mx_array biases, int group_size,
                        int bits) {
    return MXB_OP(out, "mx_quantized_linear", quantized_linear(get(x), get(wq), get(scales), get(biases), group_size, bits),
                  x, wq, scales, biases);
}

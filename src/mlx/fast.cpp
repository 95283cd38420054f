// Fused kernels (mlx::core::fast) and random sampling.
#include "mlx/internal.hpp"

using namespace mxb;

static std::optional<mx::array> maybe(mx_array h) {
    return h ? std::optional<mx::array>(get(h)) : std::nullopt;
}

/* ---------------------------------------------------------------- fast ---- */

int mx_rms_norm(mx_array *out, mx_array x, mx_array weight, float eps) {
    return MXB_OP(out, "mx_rms_norm", mx::fast::rms_norm(get(x), maybe(weight), eps), x, weight);
}

int mx_layer_norm(mx_array *out, mx_array x, mx_array weight, mx_array bias, float eps) {
    return MXB_OP(out, "mx_layer_norm", mx::fast::layer_norm(get(x), maybe(weight), maybe(bias), eps), x, weight, bias);
}

int mx_rope(mx_array *out, mx_array x, int dims, bool traditional, float base, float scale, int offset,
            mx_array freqs) {
    return guard("mx_rope", {x, freqs}, [&] {
        // MLX takes either a base or explicit frequencies, never both.
        std::optional<float> b = freqs ? std::nullopt : std::optional<float>(base);
        *out = wrap(mx::fast::rope(get(x), dims, traditional, b, scale, offset, maybe(freqs)));
    });
}

int mx_sdpa(mx_array *out, mx_array q, mx_array k, mx_array v, float scale, mx_mask_mode mode, mx_array mask) {
    return guard("mx_sdpa", {q, k, v, mask}, [&] {
        if (mode == MX_MASK_ARRAY && !mask) throw std::invalid_argument("MX_MASK_ARRAY needs a mask");
        if (mode != MX_MASK_ARRAY && mask) throw std::invalid_argument("a mask array needs MX_MASK_ARRAY");
        const char *m = mode == MX_MASK_CAUSAL ? "causal" : mode == MX_MASK_ARRAY ? "array" : "";
        *out = wrap(mx::fast::scaled_dot_product_attention(get(q), get(k), get(v), scale, m, maybe(mask)));
    });
}

/* -------------------------------------------------------------- random ---- */

int mx_random_seed(uint64_t seed) {
    return guard("mx_random_seed", {}, [&] { mx::random::seed(seed); });
}

int mx_random_key(mx_array *out, uint64_t seed) { return MXB_OP(out, "mx_random_key", mx::random::key(seed)); }

int mx_random_split(mx_array *k1, mx_array *k2, mx_array key) {
    return guard("mx_random_split", {key}, [&] {
        auto [a, b] = mx::random::split(get(key));
        *k1 = wrap(a);
        *k2 = wrap(b);
    });
}

int mx_random_normal(mx_array *out, const int *shape, int ndim, mx_dtype dt, mx_array key) {
    return MXB_OP(out, "mx_random_normal", mx::random::normal(to_shape(shape, ndim), to_mlx(dt), std::nullopt, std::nullopt, maybe(key)), key);
}

int mx_random_uniform(mx_array *out, double lo, double hi, const int *shape, int ndim, mx_dtype dt, mx_array key) {
    return MXB_OP(out, "mx_random_uniform", mx::random::uniform(mx::array(lo), mx::array(hi), to_shape(shape, ndim), to_mlx(dt), maybe(key)), key);
}

int mx_random_bernoulli(mx_array *out, double p, const int *shape, int ndim, mx_array key) {
    return guard("mx_random_bernoulli", {key}, [&] {
        if (!(p >= 0 && p <= 1)) throw std::invalid_argument("p must be in [0, 1]");
        *out = wrap(mx::random::bernoulli(mx::array((float)p), to_shape(shape, ndim), maybe(key)));
    });
}

int mx_random_categorical(mx_array *out, mx_array logits, mx_array key) {
    return MXB_OP(out, "mx_random_categorical", mx::random::categorical(get(logits), -1, maybe(key)), logits, key);
}

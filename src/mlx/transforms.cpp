// Function transforms over C callbacks: call, checkpoint, compile, value_and_grad, vjp.
//
// A C callback becomes a std::function that MLX can trace.  Each time MLX calls
// it, the callback's handles live in a fresh arena that is freed when it
// returns, so callbacks never free anything.  A callback that fails throws
// CallbackFailed; the exception unwinds through MLX and the outer entry point
// returns -1 with the callback's own message still in vt_errmsg().
#include <mlx/compile_impl.h>

#include "mlx/internal.hpp"

using namespace mxb;

using Fn = std::function<std::vector<mx::array>(const std::vector<mx::array> &)>;

struct mx_function {
    Fn fn;
    bool compiled = false;  // owns an entry in MLX's compile cache, keyed by this object's address
};

enum { MAX_CALLBACK_OUTPUTS = 256 };

static Fn from_callback(mx_fn fn, void *ctx) {
    return [fn, ctx](const std::vector<mx::array> &in) {
        mx_arena *scope = mx_scope_begin();
        if (!scope) throw std::bad_alloc();
        std::vector<mx_array> hin;
        hin.reserve(in.size());
        for (const mx::array &a : in) hin.push_back(wrap(a));
        mx_array hout[MAX_CALLBACK_OUTPUTS];
        size_t n_out = 0;
        int rc = fn(ctx, hin.data(), hin.size(), hout, MAX_CALLBACK_OUTPUTS, &n_out);
        std::vector<mx::array> out;
        if (rc == 0 && n_out > MAX_CALLBACK_OUTPUTS) rc = vt_err("callback reported %zu outputs", n_out);
        for (size_t i = 0; rc == 0 && i < n_out; i++) {
            if (!hout[i]) rc = vt_err("callback output %zu is NULL", i);
            else out.push_back(hout[i]->value);
        }
        mx_scope_end(scope);
        if (rc != 0) throw CallbackFailed();
        return out;
    };
}

static void put_outputs(const std::vector<mx::array> &v, mx_array *out, size_t cap, size_t *n_out) {
    if (v.size() > cap)
        throw std::invalid_argument("function returned " + std::to_string(v.size()) + " outputs, room for " +
                                    std::to_string(cap));
    for (size_t i = 0; i < v.size(); i++) out[i] = wrap(v[i]);
    if (n_out) *n_out = v.size();
}

static const mx_function &fn_of(const mx_function *f) {
    if (!f) throw std::invalid_argument("NULL function");
    return *f;
}

int mx_function_new(mx_function **out, mx_fn fn, void *ctx) {
    return guard("mx_function_new", {}, [&] {
        if (!fn) throw std::invalid_argument("NULL callback");
        *out = new mx_function{from_callback(fn, ctx)};
    });
}

// MLX's own checkpoint makes the recomputation depend on the forward outputs only, so the scheduler may
// recompute every block before any backward runs and all blocks' intermediates are alive at once
// (checkpointing then saves ~2%).  Here the recomputation waits for the block's cotangents, which exist
// only after the backward of every block after it: blocks are recomputed last first, one at a time.
static Fn checkpoint_last_first(Fn fun) {
    auto vjp_fun = [fun](const std::vector<mx::array> &primals, const std::vector<mx::array> &cotangents,
                         const std::vector<mx::array> &) {
        return mx::vjp(fun, mx::depends(primals, cotangents), cotangents).second;
    };
    return mx::custom_vjp(fun, vjp_fun);
}

int mx_function_checkpoint(mx_function **out, const mx_function *fn) {
    return guard("mx_function_checkpoint", {}, [&] { *out = new mx_function{checkpoint_last_first(fn_of(fn).fn)}; });
}

int mx_function_compile(mx_function **out, const mx_function *fn, bool shapeless) {
    return guard("mx_function_compile", {}, [&] {
        auto *f = new mx_function{};
        // Our own cache key (the new object's address): two compiled functions never share a trace.
        f->fn = mx::detail::compile(fn_of(fn).fn, reinterpret_cast<std::uintptr_t>(f), shapeless);
        f->compiled = true;
        *out = f;
    });
}

void mx_function_free(mx_function *fn) {
    if (!fn) return;
    if (fn->compiled) {
        try {
            mx::detail::compile_erase(mx::detail::compile_cache(), reinterpret_cast<std::uintptr_t>(fn));
        } catch (...) {
        }
    }
    delete fn;
}

int mx_compile_clear_cache(void) {
    return guard("mx_compile_clear_cache", {}, [&] { mx::detail::compile_clear_cache(mx::detail::compile_cache()); });
}

int mx_function_call(const mx_function *fn, const mx_array *in, size_t n_in, mx_array *out, size_t out_cap,
                     size_t *n_out) {
    return guard("mx_function_call", {}, [&] { put_outputs(fn_of(fn).fn(arrays_of(in, n_in)), out, out_cap, n_out); });
}

int mx_value_and_grad(const mx_function *fn, const mx_array *in, size_t n_in, const int *argnums,
                      size_t n_argnums, mx_array *values, size_t values_cap, size_t *n_values, mx_array *grads) {
    return guard("mx_value_and_grad", {}, [&] {
        if (n_argnums == 0 || !argnums) throw std::invalid_argument("no argnums: nothing to differentiate");
        std::vector<int> nums(argnums, argnums + n_argnums);
        for (int a : nums)
            if (a < 0 || (size_t)a >= n_in)
                throw std::invalid_argument("argnum " + std::to_string(a) + " out of range for " +
                                            std::to_string(n_in) + " inputs");
        const Fn &f = fn_of(fn).fn;
        // Differentiate output 0; the others ride along as values without gradient.
        Fn first_scalar = [&f](const std::vector<mx::array> &x) {
            std::vector<mx::array> out = f(x);
            if (out.empty()) throw std::invalid_argument("function returned no outputs");
            if (out[0].size() != 1)
                throw std::invalid_argument("output 0 must be a scalar to take its gradient, got " + describe(out[0]));
            for (size_t i = 1; i < out.size(); i++) out[i] = mx::stop_gradient(out[i]);
            return out;
        };
        auto [vals, grs] = mx::value_and_grad(first_scalar, nums)(arrays_of(in, n_in));
        put_outputs(vals, values, values_cap, n_values);
        for (size_t i = 0; i < grs.size(); i++) grads[i] = wrap(grs[i]);
    });
}

int mx_vjp(const mx_function *fn, const mx_array *primals, size_t n_primals, const mx_array *cotangents,
           size_t n_cotangents, mx_array *outputs, size_t out_cap, size_t *n_outputs, mx_array *vjps) {
    return guard("mx_vjp", {}, [&] {
        auto [outs, vs] = mx::vjp(fn_of(fn).fn, arrays_of(primals, n_primals), arrays_of(cotangents, n_cotangents));
        put_outputs(outs, outputs, out_cap, n_outputs);
        for (size_t i = 0; i < vs.size(); i++) vjps[i] = wrap(vs[i]);
    });
}

// Shared plumbing of the MLX binding: handles, arenas and the guard that turns
// every C++ exception into a status and a message.  Only src/mlx/*.cpp include it.
#pragma once

#include <mlx/mlx.h>

#include <exception>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlx/mx.h"

namespace mx = mlx::core;

struct mx_array_s {
    mx::array value;
    mx_arena *arena;  // owner, or nullptr when free-standing
    size_t slot;      // index in arena->items
};

struct mx_arena {
    std::vector<mx_array_s *> items;  // freed slots are nullptr
    size_t live = 0;
};

// Thrown out of a C callback that returned -1, so that the failure unwinds
// through MLX; the message is already in vt_errmsg().
struct CallbackFailed : std::exception {
    const char *what() const noexcept override { return "callback failed"; }
};

namespace mxb {

// A new handle for `a`, recorded in the current arena.
mx_array wrap(mx::array a);
// The array behind a handle; throws on NULL.
const mx::array &get(mx_array h);
std::string describe(const mx::array &a);  // "[2,3] float32"
mx::Dtype to_mlx(mx_dtype dt);
mx_dtype from_mlx(mx::Dtype dt);
mx::Shape to_shape(const int *shape, int ndim);
std::vector<int> to_axes(const int *axes, int naxes);
// The arrays behind n handles; throws on a NULL list or handle.
std::vector<mx::array> arrays_of(const mx_array *handles, size_t n);

// Runs `body` and converts any exception into vt_err("<op>(<shapes of args>): <reason>").
int fail(const char *op, std::initializer_list<mx_array> args, const char *reason);

template <class F>
int guard(const char *op, std::initializer_list<mx_array> args, F &&body) {
    try {
        body();
        return 0;
    } catch (const CallbackFailed &) {
        return vt_err_context("%s", op);
    } catch (const std::exception &e) {
        return fail(op, args, e.what());
    } catch (...) {
        return fail(op, args, "unknown C++ exception");
    }
}

}  // namespace mxb

// Shorthand for the common "one result" op, arguments listed last for the error message:
//   MXB_OP(out, "mx_exp", mx::exp(get(a)), a)
#define MXB_OP(out, name, expr, ...)                                  \
    mxb::guard(name, {__VA_ARGS__}, [&] {                             \
        mx::array r_ = (expr);                                        \
        *(out) = mxb::wrap(std::move(r_));                            \
    })

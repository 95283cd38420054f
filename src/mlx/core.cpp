// Handles, arenas, errors, array creation and read-back.
#include <atomic>
#include <cstring>
#include <sstream>

#include "mlx/internal.hpp"

static std::atomic<size_t> live_handles{0};
static thread_local std::vector<mx_arena *> arena_stack;

/* ------------------------------------------------------------ plumbing ---- */

namespace mxb {

static void attach(mx_array h, mx_arena *arena) {
    h->arena = arena;
    if (arena) {
        h->slot = arena->items.size();
        arena->items.push_back(h);
        arena->live++;
    }
}

static void detach(mx_array h) {
    if (h->arena) {
        h->arena->items[h->slot] = nullptr;
        h->arena->live--;
        h->arena = nullptr;
    }
}

mx_array wrap(mx::array a) {
    auto *h = new mx_array_s{std::move(a), nullptr, 0};
    attach(h, arena_stack.empty() ? nullptr : arena_stack.back());
    live_handles++;
    return h;
}

const mx::array &get(mx_array h) {
    if (!h) throw std::invalid_argument("NULL array handle");
    return h->value;
}

std::string describe(const mx::array &a) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < a.shape().size(); i++) s << (i ? "," : "") << a.shape()[i];
    s << "] " << mx_dtype_name(from_mlx(a.dtype()));
    return s.str();
}

int fail(const char *op, std::initializer_list<mx_array> args, const char *reason) {
    std::string msg = op;
    msg += "(";
    bool first = true;
    for (mx_array h : args) {
        msg += first ? "" : ", ";
        first = false;
        msg += h ? describe(h->value) : "NULL";
    }
    msg += "): ";
    msg += reason;
    return vt_err("%s", msg.c_str());
}

static const mx::Dtype dtype_table[] = {
    mx::bool_,  mx::uint8, mx::uint16, mx::uint32,  mx::uint64,   mx::int8,    mx::int16,
    mx::int32,  mx::int64, mx::float16, mx::bfloat16, mx::float32, mx::float64,
};

mx::Dtype to_mlx(mx_dtype dt) {
    if ((unsigned)dt > MX_FLOAT64) throw std::invalid_argument("unknown dtype code");
    return dtype_table[dt];
}

mx_dtype from_mlx(mx::Dtype dt) {
    for (int i = 0; i <= MX_FLOAT64; i++)
        if (dtype_table[i] == dt) return (mx_dtype)i;
    throw std::invalid_argument("MLX dtype has no mx_dtype (complex?)");
}

mx::Shape to_shape(const int *shape, int ndim) {
    if (ndim < 0 || ndim > MX_MAX_NDIM) throw std::invalid_argument("ndim out of range");
    if (ndim > 0 && !shape) throw std::invalid_argument("NULL shape");
    return mx::Shape(shape, shape + ndim);
}

std::vector<int> to_axes(const int *axes, int naxes) {
    if (naxes > 0 && !axes) throw std::invalid_argument("NULL axes");
    return std::vector<int>(axes, axes + (naxes > 0 ? naxes : 0));
}

std::vector<mx::array> arrays_of(const mx_array *handles, size_t n) {
    if (n && !handles) throw std::invalid_argument("NULL array list");
    std::vector<mx::array> v;
    v.reserve(n);
    for (size_t i = 0; i < n; i++) v.push_back(get(handles[i]));
    return v;
}

}  // namespace mxb

using namespace mxb;

/* --------------------------------------------------------------- dtypes ---- */

static const char *dtype_names[] = {"bool",  "uint8", "uint16",  "uint32",   "uint64",  "int8",   "int16",
                                    "int32", "int64", "float16", "bfloat16", "float32", "float64"};

const char *mx_dtype_name(mx_dtype dt) {
    return (unsigned)dt <= MX_FLOAT64 ? dtype_names[dt] : "unknown";
}

size_t mx_dtype_size(mx_dtype dt) {
    return (unsigned)dt <= MX_FLOAT64 ? mx::size_of(dtype_table[dt]) : 0;
}

int mx_dtype_from_name(const char *name, mx_dtype *out) {
    for (int i = 0; i <= MX_FLOAT64; i++)
        if (name && strcmp(name, dtype_names[i]) == 0) {
            *out = (mx_dtype)i;
            return 0;
        }
    return vt_err("unknown dtype '%s'", name ? name : "(null)");
}

/* --------------------------------------------------------------- arenas ---- */

mx_arena *mx_arena_new(void) { return new (std::nothrow) mx_arena(); }

void mx_arena_free(mx_arena *arena) {
    if (!arena) return;
    for (mx_array h : arena->items)
        if (h) {
            delete h;
            live_handles--;
        }
    delete arena;
}

void mx_arena_push(mx_arena *arena) { arena_stack.push_back(arena); }

void mx_arena_pop(void) {
    if (!arena_stack.empty()) arena_stack.pop_back();
}

mx_arena *mx_arena_current(void) { return arena_stack.empty() ? nullptr : arena_stack.back(); }

size_t mx_arena_count(const mx_arena *arena) { return arena ? arena->live : 0; }

mx_arena *mx_scope_begin(void) {
    mx_arena *a = mx_arena_new();
    if (a) mx_arena_push(a);
    return a;
}

void mx_scope_end(mx_arena *scope) {
    if (!arena_stack.empty() && arena_stack.back() == scope) arena_stack.pop_back();
    mx_arena_free(scope);
}

void mx_keep(mx_array a, mx_arena *dst) {
    if (!a) return;
    detach(a);
    attach(a, dst);
}

void mx_free(mx_array a) {
    if (!a) return;
    detach(a);
    delete a;
    live_handles--;
}

size_t mx_live_handles(void) { return live_handles.load(); }

int mx_ref(mx_array *out, mx_array a) { return MXB_OP(out, "mx_ref", get(a), a); }

/* ------------------------------------------------------------- creation ---- */

int mx_from_data(mx_array *out, const void *data, const int *shape, int ndim, mx_dtype dt) {
    return guard("mx_from_data", {}, [&] {
        mx::Shape s = to_shape(shape, ndim);
        mx::Dtype d = to_mlx(dt);
        size_t n = 1;
        for (int v : s) {
            if (v < 0) throw std::invalid_argument("negative dimension");
            n *= (size_t)v;
        }
        if (n && !data) throw std::invalid_argument("NULL data");
        // Copy through a buffer MLX owns (the raw-pointer constructor with a deleter does not copy).
        auto *buf = static_cast<char *>(std::malloc(n * mx::size_of(d) + 1));
        if (!buf) throw std::bad_alloc();
        if (n) std::memcpy(buf, data, n * mx::size_of(d));
        *out = wrap(mx::array(buf, std::move(s), d, [](void *p) { std::free(p); }));
    });
}

int mx_from_data_nocopy(mx_array *out, void *data, const int *shape, int ndim, mx_dtype dt,
                        void (*deleter)(void *data, void *ctx), void *ctx) {
    return guard("mx_from_data_nocopy", {}, [&] {
        if (!data) throw std::invalid_argument("NULL data");
        mx::Shape s = to_shape(shape, ndim);
        *out = wrap(mx::array(data, std::move(s), to_mlx(dt), [deleter, ctx](void *p) {
            if (deleter) deleter(p, ctx);
        }));
    });
}

int mx_scalar(mx_array *out, double value, mx_dtype dt) {
    return MXB_OP(out, "mx_scalar", mx::astype(mx::array(value), to_mlx(dt)));
}

int mx_full(mx_array *out, const int *shape, int ndim, double value, mx_dtype dt) {
    return MXB_OP(out, "mx_full", mx::full(to_shape(shape, ndim), mx::array(value), to_mlx(dt)));
}

int mx_zeros(mx_array *out, const int *shape, int ndim, mx_dtype dt) {
    return MXB_OP(out, "mx_zeros", mx::zeros(to_shape(shape, ndim), to_mlx(dt)));
}

int mx_ones(mx_array *out, const int *shape, int ndim, mx_dtype dt) {
    return MXB_OP(out, "mx_ones", mx::ones(to_shape(shape, ndim), to_mlx(dt)));
}

int mx_zeros_like(mx_array *out, mx_array a) { return MXB_OP(out, "mx_zeros_like", mx::zeros_like(get(a)), a); }

int mx_arange(mx_array *out, double start, double stop, double step, mx_dtype dt) {
    return MXB_OP(out, "mx_arange", mx::arange(start, stop, step, to_mlx(dt)));
}

int mx_linspace(mx_array *out, double start, double stop, int num, mx_dtype dt) {
    return MXB_OP(out, "mx_linspace", mx::linspace(start, stop, num, to_mlx(dt)));
}

/* -------------------------------------------------------------- queries ---- */

int mx_ndim(mx_array a) { return a ? (int)a->value.ndim() : 0; }

int mx_dim(mx_array a, int axis) {
    if (!a) return 0;
    int nd = (int)a->value.ndim();
    if (axis < 0) axis += nd;
    return (axis >= 0 && axis < nd) ? a->value.shape(axis) : 0;
}

const int *mx_shape(mx_array a) { return a ? a->value.shape().data() : nullptr; }

size_t mx_size(mx_array a) { return a ? a->value.size() : 0; }

size_t mx_nbytes(mx_array a) { return a ? a->value.nbytes() : 0; }

mx_dtype mx_dtype_of(mx_array a) { return a ? from_mlx(a->value.dtype()) : MX_FLOAT32; }

const char *mx_describe(mx_array a, char *buf, size_t cap) {
    std::string s = a ? describe(a->value) : "NULL";
    snprintf(buf, cap, "%s", s.c_str());
    return buf;
}

/* ------------------------------------------------------------ read-back ---- */

// Evaluate a row-major copy of `a` as dtype `d` and hand its bytes to `sink`.
template <class Sink>
static void read_as(const mx::array &a, mx::Dtype d, Sink sink) {
    mx::array c = mx::contiguous(a.dtype() == d ? a : mx::astype(a, d));
    c.eval();
    sink(c.data<char>(), c.nbytes());
}

int mx_to_host(mx_array a, void *dst, size_t dst_bytes) {
    return guard("mx_to_host", {a}, [&] {
        const mx::array &v = get(a);
        if (dst_bytes != v.nbytes())
            throw std::invalid_argument("destination holds " + std::to_string(dst_bytes) + " bytes, array needs " +
                                        std::to_string(v.nbytes()));
        read_as(v, v.dtype(), [&](const char *p, size_t n) { std::memcpy(dst, p, n); });
    });
}

template <class T>
static int read_converted(const char *op, mx_array a, T *dst, size_t n, mx::Dtype d) {
    return guard(op, {a}, [&] {
        const mx::array &v = get(a);
        if (n != v.size())
            throw std::invalid_argument("destination holds " + std::to_string(n) + " elements, array has " +
                                        std::to_string(v.size()));
        read_as(v, d, [&](const char *p, size_t bytes) { std::memcpy(dst, p, bytes); });
    });
}

int mx_to_f32(mx_array a, float *dst, size_t n) { return read_converted("mx_to_f32", a, dst, n, mx::float32); }

int mx_to_i32(mx_array a, int32_t *dst, size_t n) { return read_converted("mx_to_i32", a, dst, n, mx::int32); }

int mx_item_f32(mx_array a, float *out) { return read_converted("mx_item_f32", a, out, 1, mx::float32); }

int mx_item_i32(mx_array a, int32_t *out) { return read_converted("mx_item_i32", a, out, 1, mx::int32); }

/* ----------------------------------------------------------------- eval ---- */

int mx_eval(const mx_array *arrays, size_t n) {
    return guard("mx_eval", {}, [&] { mx::eval(arrays_of(arrays, n)); });
}

int mx_async_eval(const mx_array *arrays, size_t n) {
    return guard("mx_async_eval", {}, [&] { mx::async_eval(arrays_of(arrays, n)); });
}

int mx_synchronize(void) {
    return guard("mx_synchronize", {}, [&] { mx::synchronize(); });
}

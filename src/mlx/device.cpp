// Memory statistics and limits, devices, version.
#include "mlx/internal.hpp"

using namespace mxb;

int mx_memory_active(size_t *bytes) {
    return guard("mx_memory_active", {}, [&] { *bytes = mx::get_active_memory(); });
}

int mx_memory_peak(size_t *bytes) {
    return guard("mx_memory_peak", {}, [&] { *bytes = mx::get_peak_memory(); });
}

int mx_memory_cache(size_t *bytes) {
    return guard("mx_memory_cache", {}, [&] { *bytes = mx::get_cache_memory(); });
}

int mx_memory_reset_peak(void) {
    return guard("mx_memory_reset_peak", {}, [&] { mx::reset_peak_memory(); });
}

int mx_memory_set_limit(size_t bytes, size_t *previous) {
    return guard("mx_memory_set_limit", {}, [&] {
        size_t old = mx::set_memory_limit(bytes);
        if (previous) *previous = old;
    });
}

int mx_memory_set_cache_limit(size_t bytes, size_t *previous) {
    return guard("mx_memory_set_cache_limit", {}, [&] {
        size_t old = mx::set_cache_limit(bytes);
        if (previous) *previous = old;
    });
}

int mx_memory_clear_cache(void) {
    return guard("mx_memory_clear_cache", {}, [&] { mx::clear_cache(); });
}

bool mx_gpu_available(void) {
    try {
        return mx::is_available(mx::Device::gpu);
    } catch (...) {
        return false;
    }
}

int mx_set_default_device(mx_device dev) {
    return guard("mx_set_default_device", {}, [&] {
        if (dev == MX_GPU && !mx::is_available(mx::Device::gpu))
            throw std::runtime_error("no GPU backend in this MLX build (CPU-only wheel, or no device)");
        mx::set_default_device(dev == MX_GPU ? mx::Device::gpu : mx::Device::cpu);
    });
}

mx_device mx_default_device(void) {
    try {
        return mx::default_device() == mx::Device::gpu ? MX_GPU : MX_CPU;
    } catch (...) {
        return MX_CPU;
    }
}

const char *mx_version(void) {
    static std::string v = mx::version();
    return v.c_str();
}

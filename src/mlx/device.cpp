// Memory statistics and limits, devices, version.
#include <cstdlib>

#include <mlx/backend/cuda/cuda.h>

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

// device_info's keys vary by backend: Metal gives memory_size and max_recommended_working_set_size, CUDA
// total_memory; the CPU backend gives no memory figure at all (0 here: the caller asks the OS).
static size_t info_size(const std::string &key) {
    const auto &info = mx::device_info(mx::default_device());
    auto it = info.find(key);
    if (it == info.end()) return 0;
    const size_t *v = std::get_if<size_t>(&it->second);
    return v ? *v : 0;
}

int mx_device_memory(size_t *total, size_t *working_set) {
    return guard("mx_device_memory", {}, [&] {
        size_t t = info_size("total_memory");
        if (!t) t = info_size("memory_size");
        size_t w = info_size("max_recommended_working_set_size");
        *total = t;
        *working_set = w ? w : t;
    });
}

int mx_set_wired_limit(size_t bytes, size_t *previous) {
    return guard("mx_set_wired_limit", {}, [&] {
        size_t old = mx::set_wired_limit(bytes);
        if (previous) *previous = old;
    });
}

// MLX's CUDA backend gathers a GPU's work into graphs, each committed once it holds max_ops operations or reads
// max_mb MB of inputs (1000 MB on Hopper and Blackwell, against Metal's 40-50), lets 10 committed graphs run
// ahead of the GPU, and keeps every array a graph read alive until that graph has run.  A host ahead of the GPU
// thus holds up to ~10 GB of activations that are already consumed: the forward pass of a batch-4 4B step
// peaked 11.2 GB above the weights on an H200, against 1.35 GB at batch 1.  MLX reads the bound once, from
// MLX_MAX_MB_PER_BUFFER, when the GPU stream is first used; a value the user set is kept.
int mx_gpu_limit_in_flight(int mb) {
    return guard("mx_gpu_limit_in_flight", {}, [&] {
        if (mb <= 0 || !mx::cu::is_available() || std::getenv("MLX_MAX_MB_PER_BUFFER")) return;
        setenv("MLX_MAX_MB_PER_BUFFER", std::to_string(mb).c_str(), 0);
    });
}

// Data-parallel communication through MLX's own distributed layer (ring, MPI, NCCL).
#include "mlx/internal.hpp"

using namespace mxb;
namespace dist = mx::distributed;

struct mx_group {
    dist::Group group;
};

int mx_dist_init(mx_group **out, bool strict, const char *backend) {
    return guard("mx_dist_init", {}, [&] {
        *out = new mx_group{dist::init(strict, backend ? backend : "any")};
    });
}

void mx_group_free(mx_group *g) { delete g; }

int mx_dist_rank(const mx_group *g) { return g ? g->group.rank() : 0; }

int mx_dist_size(const mx_group *g) { return g ? g->group.size() : 1; }

int mx_dist_all_sum(mx_array *out, mx_array a, const mx_group *g) {
    return guard("mx_dist_all_sum", {a}, [&] {
        if (!g) throw std::invalid_argument("NULL group");
        *out = wrap(dist::all_sum(get(a), g->group));
    });
}

int mx_dist_all_gather(mx_array *out, mx_array a, const mx_group *g) {
    return guard("mx_dist_all_gather", {a}, [&] {
        if (!g) throw std::invalid_argument("NULL group");
        *out = wrap(dist::all_gather(get(a), g->group));
    });
}

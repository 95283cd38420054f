/* dist.h — the data-parallel group a training run belongs to: MLX's distributed layer, and a watchdog.
 *
 * A process started by `mlx.launch` or `mpirun` finds its group in the environment (MLX_RANK +
 * MLX_HOSTFILE for the ring backend, the MPI or NCCL variables, JACCL's); a process started alone is a
 * group of one, for which nothing here communicates.
 *
 * MLX's collectives have no timeout: when a peer dies, the ring backend waits on its socket forever.  So
 * every collective this module runs is watched: a thread checks that no collective (nor joining the group)
 * has waited longer than `timeout_s`, and otherwise prints which rank waited for what and ends the process
 * with status 1 (docs/DISTRIBUTED.md).  Time spent computing is not watched: the local part of a step is
 * evaluated before its collective starts.  A rank that fails with an error (not a crash) says so in the next
 * collective, so that the others stop at once, naming it. */
#ifndef VT_DIST_H
#define VT_DIST_H

#include <stdbool.h>

#include "mlx/mx.h"

typedef struct vt_watchdog vt_watchdog;

typedef struct {
    mx_group *group;
    int rank, size;
    bool collective;        /* run the data-parallel path: size > 1, or VLMTUNE_DIST_ALWAYS=1 (to measure its
                             * cost in a group of one) */
    double timeout_s;
    vt_watchdog *watchdog;  /* NULL in a group of one */
} vt_dist;

/* Joins the group the environment describes (a group of one when it describes none). */
int vt_dist_open(vt_dist *d, double timeout_s);
void vt_dist_close(vt_dist *d);
/* The element-wise sum of float32 vector `a` over the ranks, evaluated, in the current arena.  `a` is
 * evaluated first (unwatched: it is this rank's own work); `what` names the collective in a timeout message.
 * In a group of one it is `a` itself.
 *
 * A failure travels with every sum: `failure` is this rank's error message, NULL when it has none (then `a`
 * is still given, of the usual size, its values unused).  When any rank reports one, every rank returns an
 * error: the failed rank its own, the others one naming the lowest failed rank and its message (its first 500
 * bytes), so that a rank failing between two collectives stops the group at the next one instead of leaving
 * it to the watchdog. */
int vt_dist_sum(vt_dist *d, mx_array a, const char *failure, const char *what, mx_array *out);

#endif

/* `vlmtune smoke` — the foundation's smoke program: proves the binding end to
 * end until `vlmtune train` exists.  It is a smoke test, and says so. */
#include <stdio.h>

#include "cli/commands.h"
#include "mlx/mx.h"

int cmd_smoke(int argc, char **argv) {
    printf("vlmtune smoke: this is a smoke program, not training (MLX %s).\n", mx_version());
    return vt_err("smoke: not implemented yet");
}

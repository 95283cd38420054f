#include <stdio.h>

#include "cli/commands.h"
#include "mlx/mx.h"

int cmd_version(int argc, char **argv) {
    printf("vlmtune 0.1.0 (MLX %s, default device %s)\n", mx_version(),
           mx_default_device() == MX_GPU ? "gpu" : "cpu");
    return 0;
}

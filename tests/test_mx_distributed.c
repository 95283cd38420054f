/* MLX's distributed layer: a single process is a group of one; two processes on
 * loopback (ring backend) sum each other's arrays. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* Child: join the ring as MLX_RANK, all_sum [rank+1, 10·(rank+1)], exit 0 if the sum is [3, 30]. */
static int ring_member(void) {
    mx_group *g = NULL;
    if (mx_dist_init(&g, true, "ring") != 0) {
        fprintf(stderr, "rank %s: %s\n", getenv("MLX_RANK"), vt_errmsg());
        return 2;
    }
    int rank = mx_dist_rank(g), size = mx_dist_size(g);
    float v[2] = {(float)(rank + 1), 10.0f * (float)(rank + 1)}, out[2] = {0, 0};
    int s[1] = {2};
    mx_array a, sum;
    int rc = mx_from_data(&a, v, s, 1, MX_FLOAT32) || mx_dist_all_sum(&sum, a, g) || mx_to_f32(sum, out, 2);
    if (rc) fprintf(stderr, "rank %d: %s\n", rank, vt_errmsg());
    mx_free(a);
    mx_free(sum);
    mx_group_free(g);
    return (rc == 0 && size == 2 && out[0] == 3.0f && out[1] == 30.0f) ? 0 : 1;
}

static void test_single_process(void) {
    mx_group *g = NULL;
    CHECK_OK(mx_dist_init(&g, false, "any"));
    CHECK(mx_dist_rank(g) == 0 && mx_dist_size(g) == 1);
    float v[3] = {1, 2, 3}, out[3];
    int s[1] = {3};
    mx_array a, sum, gathered;
    CHECK_OK(mx_from_data(&a, v, s, 1, MX_FLOAT32));
    CHECK_OK(mx_dist_all_sum(&sum, a, g));
    CHECK_OK(mx_to_f32(sum, out, 3));
    CHECK(out[0] == 1 && out[2] == 3);
    CHECK_OK(mx_dist_all_gather(&gathered, a, g));
    CHECK(mx_dim(gathered, 0) == 3);
    CHECK_FAILS(mx_dist_all_sum(&sum, a, NULL), "NULL group");
    mx_free(a);
    mx_free(sum);
    mx_free(gathered);
    mx_group_free(g);
}

static void test_two_processes(const char *self) {
    char hostfile[] = "/tmp/vt_ring_XXXXXX";
    int fd = mkstemp(hostfile);
    CHECK(fd >= 0);
    int port = 20000 + (int)(getpid() % 20000);
    dprintf(fd, "[[\"127.0.0.1:%d\"], [\"127.0.0.1:%d\"]]\n", port, port + 1);
    close(fd);
    pid_t pids[2];
    for (int r = 0; r < 2; r++) {
        pids[r] = fork();
        if (pids[r] == 0) {
            char rank[8];
            snprintf(rank, sizeof rank, "%d", r);
            setenv("MLX_RANK", rank, 1);
            setenv("MLX_HOSTFILE", hostfile, 1);
            alarm(60); /* never hang CI: a stuck member is killed */
            execl(self, self, "--ring-member", (char *)NULL);
            _exit(127);
        }
    }
    for (int r = 0; r < 2; r++) {
        int status = 0;
        waitpid(pids[r], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "ring rank %d ended with status %d\n", r, status);
    }
    unlink(hostfile);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--ring-member")) return ring_member();
    TEST_BEGIN();
    test_single_process();
    test_two_processes(argv[0]);
    return TEST_END();
}

/* test.h — the whole test framework: checks that report file:line and keep going,
 * a summary line, and a leak check of MLX handles.
 *
 *   int main(void) {
 *       TEST_BEGIN();
 *       CHECK(x == 1);
 *       CHECK_NEAR(got, want, 1e-6);
 *       CHECK_OK(mx_add(&c, a, b));           // status 0, else prints vt_errmsg()
 *       CHECK_FAILS(mx_matmul(&c, a, b), "shape"); // status -1 and message contains "shape"
 *       return TEST_END();                     // also fails if MLX handles leaked
 *   }
 */
#ifndef VT_TEST_H
#define VT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx/mx.h"
#include "util/error.h"

static int test_checks, test_failures;
static size_t test_handles_at_start;

#define TEST_BEGIN() (test_handles_at_start = mx_live_handles())

#define CHECK(cond)                                                          \
    do {                                                                     \
        test_checks++;                                                       \
        if (!(cond)) {                                                       \
            test_failures++;                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                    \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                                          \
    do {                                                                                    \
        double g_ = (double)(got), w_ = (double)(want);                                      \
        test_checks++;                                                                      \
        if (!(fabs(g_ - w_) <= (tol))) {                                                    \
            test_failures++;                                                                \
            fprintf(stderr, "%s:%d: %s = %.9g, want %.9g (tol %g)\n", __FILE__, __LINE__, #got, g_, \
                    w_, (double)(tol));                                                     \
        }                                                                                   \
    } while (0)

#define CHECK_OK(expr)                                                                           \
    do {                                                                                         \
        test_checks++;                                                                           \
        if ((expr) != 0) {                                                                       \
            test_failures++;                                                                     \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, vt_errmsg());   \
        }                                                                                        \
    } while (0)

#define CHECK_FAILS(expr, fragment)                                                              \
    do {                                                                                         \
        test_checks++;                                                                           \
        vt_err_clear();                                                                          \
        if ((expr) == 0) {                                                                       \
            test_failures++;                                                                     \
            fprintf(stderr, "%s:%d: %s succeeded, expected an error\n", __FILE__, __LINE__, #expr); \
        } else if (!strstr(vt_errmsg(), (fragment))) {                                           \
            test_failures++;                                                                     \
            fprintf(stderr, "%s:%d: %s: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, #expr,  \
                    vt_errmsg(), (fragment));                                                    \
        }                                                                                        \
    } while (0)

/* Tolerance for results of float32 matrix products.  MLX's CUDA backend runs
 * float32 matmuls on TF32 tensor cores (10-bit mantissa, relative error about
 * 5e-4 per operand), so on a GPU the bound is widened to what TF32 allows; on
 * the CPU the given float32 bound stands. */
static inline double test_matmul_tol(double cpu_tol) {
    return mx_default_device() == MX_GPU && cpu_tol < 4e-3 ? 4e-3 : cpu_tol;
}

/* Path of a file in the source tree (tests run from the build directory). */
static inline const char *test_source_path(const char *rel) {
    static char buf[4096];
    const char *root = getenv("VT_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : "..", rel);
    return buf;
}

static inline int test_end(const char *file) {
    size_t leaked = mx_live_handles() - test_handles_at_start;
    if (leaked) {
        test_failures++;
        fprintf(stderr, "%s: %zu MLX array handle(s) leaked\n", file, leaked);
    }
    printf("%s: %d checks, %d failed\n", file, test_checks, test_failures);
    return test_failures ? 1 : 0;
}
#define TEST_END() test_end(__FILE__)

#endif

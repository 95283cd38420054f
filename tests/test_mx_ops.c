/* Every binding op against the same computation done by plain C loops in double precision. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test.h"

/* a [n] float32 array from doubles */
static mx_array arr(const double *v, const int *shape, int ndim) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float buf[4096];
    for (size_t i = 0; i < n; i++) buf[i] = (float)v[i];
    mx_array a = NULL;
    CHECK_OK(mx_from_data(&a, buf, shape, ndim, MX_FLOAT32));
    return a;
}

static mx_array iarr(const int32_t *v, const int *shape, int ndim) {
    mx_array a = NULL;
    CHECK_OK(mx_from_data(&a, v, shape, ndim, MX_INT32));
    return a;
}

/* max |got - want| over n values must be <= tol */
static void expect(mx_array got, const double *want, size_t n, double tol, const char *what) {
    float buf[4096];
    test_checks++;
    if (!got || mx_size(got) != n || mx_to_f32(got, buf, n) != 0) {
        test_failures++;
        fprintf(stderr, "%s: wrong size or unreadable (%s)\n", what, vt_errmsg());
        return;
    }
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(buf[i] - want[i]) > worst || isnan(buf[i])) worst = isnan(buf[i]) ? INFINITY : fabs(buf[i] - want[i]), at = i;
    if (worst > tol) {
        test_failures++;
        fprintf(stderr, "%s: max |Δ| %.3g at %zu (got %.9g, want %.9g), tol %.3g\n", what, worst, at, buf[at],
                want[at], tol);
    }
}

/* deterministic values in [-1, 1) */
static void fill(double *v, size_t n, unsigned seed) {
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (double)(s >> 8) / (double)(1u << 24) * 2.0 - 1.0;
    }
}

static void test_elementwise(void) {
    double x[6] = {0.5, -1.5, 2.0, 0.1, -0.3, 3.0}, y[6] = {1.0, 2.0, -0.5, 4.0, 0.25, -2.0}, w[6];
    int s[1] = {6};
    mx_array a = arr(x, s, 1), b = arr(y, s, 1), r;
    struct { int (*f)(mx_array *, mx_array); double (*ref)(double); const char *name; } un[] = {
        {mx_neg, NULL, "neg"}, {mx_exp, exp, "exp"}, {mx_sin, sin, "sin"}, {mx_cos, cos, "cos"},
        {mx_tanh, tanh, "tanh"}, {mx_erf, erf, "erf"}, {mx_floor, floor, "floor"}, {mx_ceil, ceil, "ceil"},
        {mx_abs, fabs, "abs"}, {mx_square, NULL, "square"},
    };
    for (size_t k = 0; k < sizeof un / sizeof *un; k++) {
        for (int i = 0; i < 6; i++)
            w[i] = un[k].ref ? un[k].ref(x[i]) : (un[k].f == mx_neg ? -x[i] : x[i] * x[i]);
        CHECK_OK(un[k].f(&r, a));
        expect(r, w, 6, 2e-6 * 20, un[k].name);
    }
    double pos[6] = {0.5, 1.5, 2.0, 0.1, 0.3, 3.0};
    mx_array p = arr(pos, s, 1);
    for (int i = 0; i < 6; i++) w[i] = log(pos[i]);
    CHECK_OK(mx_log(&r, p));
    expect(r, w, 6, 1e-6, "log");
    for (int i = 0; i < 6; i++) w[i] = 1 / sqrt(pos[i]);
    CHECK_OK(mx_rsqrt(&r, p));
    expect(r, w, 6, 1e-5, "rsqrt");
    for (int i = 0; i < 6; i++) w[i] = 1 / (1 + exp(-x[i]));
    CHECK_OK(mx_sigmoid(&r, a));
    expect(r, w, 6, 1e-6, "sigmoid");

    for (int i = 0; i < 6; i++) w[i] = x[i] * y[i];
    CHECK_OK(mx_multiply(&r, a, b));
    expect(r, w, 6, 1e-6, "multiply");
    for (int i = 0; i < 6; i++) w[i] = x[i] / y[i];
    CHECK_OK(mx_divide(&r, a, b));
    expect(r, w, 6, 1e-6, "divide");
    for (int i = 0; i < 6; i++) w[i] = fmax(x[i], y[i]);
    CHECK_OK(mx_maximum(&r, a, b));
    expect(r, w, 6, 0, "maximum");
    for (int i = 0; i < 6; i++) w[i] = x[i] < y[i];
    CHECK_OK(mx_less(&r, a, b));
    expect(r, w, 6, 0, "less");
    for (int i = 0; i < 6; i++) w[i] = x[i] < y[i] ? x[i] : y[i];
    mx_array c;
    CHECK_OK(mx_less(&c, a, b));
    CHECK_OK(mx_where(&r, c, a, b));
    expect(r, w, 6, 1e-7, "where");
    for (int i = 0; i < 6; i++) w[i] = fmin(fmax(x[i], -1.0), 1.0);
    CHECK_OK(mx_clip(&r, a, -1.0, 1.0));
    expect(r, w, 6, 1e-7, "clip");

    /* broadcasting: [2,3] + [3] */
    int s23[2] = {2, 3}, s3[1] = {3};
    mx_array m = arr(x, s23, 2), v = arr(y, s3, 1);
    for (int i = 0; i < 6; i++) w[i] = x[i] + y[i % 3];
    CHECK_OK(mx_add(&r, m, v));
    expect(r, w, 6, 1e-6, "add broadcast");

    /* scalar forms keep the dtype of a */
    mx_array h;
    CHECK_OK(mx_astype(&h, a, MX_BFLOAT16));
    CHECK_OK(mx_mul_scalar(&r, h, 0.5));
    CHECK(mx_dtype_of(r) == MX_BFLOAT16);
    for (int i = 0; i < 6; i++) w[i] = x[i] * 0.5;
    expect(r, w, 6, 0.02, "bf16 mul_scalar");
    CHECK_OK(mx_add_scalar(&r, a, 1.0));
    for (int i = 0; i < 6; i++) w[i] = x[i] + 1.0;
    expect(r, w, 6, 1e-6, "add_scalar");
    CHECK_OK(mx_pow_scalar(&r, p, 2.0));
    for (int i = 0; i < 6; i++) w[i] = pos[i] * pos[i];
    expect(r, w, 6, 1e-5, "pow_scalar");
}

static void test_linalg_and_reductions(void) {
    enum { M = 3, K = 4, N = 5 };
    double x[M * K], y[K * N], c[M * N], w[M * N];
    fill(x, M * K, 1), fill(y, K * N, 2), fill(c, M * N, 3);
    int sx[2] = {M, K}, sy[2] = {K, N}, sc[2] = {M, N};
    mx_array a = arr(x, sx, 2), b = arr(y, sy, 2), cc = arr(c, sc, 2), r;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += x[i * K + k] * y[k * N + j];
            w[i * N + j] = acc;
        }
    CHECK_OK(mx_matmul(&r, a, b));
    expect(r, w, M * N, test_matmul_tol(1e-5), "matmul");
    for (int i = 0; i < M * N; i++) w[i] = 2.0 * w[i] + 0.5 * c[i];
    CHECK_OK(mx_addmm(&r, cc, a, b, 2.0f, 0.5f));
    expect(r, w, M * N, test_matmul_tol(1e-5), "addmm");

    /* reductions over axis 1 of x [3,4] */
    double sum[M], mx[M], lse[M], sm[M * K], mean_all = 0;
    for (int i = 0; i < M; i++) {
        sum[i] = 0, mx[i] = -INFINITY;
        for (int k = 0; k < K; k++) sum[i] += x[i * K + k], mx[i] = fmax(mx[i], x[i * K + k]);
        double z = 0;
        for (int k = 0; k < K; k++) z += exp(x[i * K + k]);
        lse[i] = log(z);
        for (int k = 0; k < K; k++) sm[i * K + k] = exp(x[i * K + k]) / z;
        mean_all += sum[i] / (M * K);
    }
    int ax = 1;
    CHECK_OK(mx_sum(&r, a, &ax, 1, false));
    expect(r, sum, M, 1e-6, "sum axis 1");
    CHECK_OK(mx_max(&r, a, &ax, 1, false));
    expect(r, mx, M, 0, "max axis 1");
    CHECK_OK(mx_logsumexp(&r, a, &ax, 1, false));
    expect(r, lse, M, 1e-6, "logsumexp");
    CHECK_OK(mx_softmax(&r, a, &ax, 1, true));
    expect(r, sm, M * K, 1e-6, "softmax");
    CHECK_OK(mx_mean(&r, a, NULL, 0, false));
    expect(r, &mean_all, 1, 1e-6, "mean of all");
    CHECK_OK(mx_sum(&r, a, &ax, 1, true));
    CHECK(mx_ndim(r) == 2 && mx_dim(r, 1) == 1);
    double am[M];
    for (int i = 0; i < M; i++) {
        int best = 0;
        for (int k = 1; k < K; k++) if (x[i * K + k] > x[i * K + best]) best = k;
        am[i] = best;
    }
    CHECK_OK(mx_argmax(&r, a, 1, false));
    expect(r, am, M, 0, "argmax");

    double v[5] = {3, 1, 4, 1, 5}, cs[5], rcs[5], ex[5], sorted[5] = {1, 1, 3, 4, 5};
    for (int i = 0, acc = 0; i < 5; i++) ex[i] = acc, acc += (int)v[i], cs[i] = acc;
    for (int i = 4, acc = 0; i >= 0; i--) acc += (int)v[i], rcs[i] = acc;
    int s5[1] = {5};
    mx_array vv = arr(v, s5, 1);
    CHECK_OK(mx_cumsum(&r, vv, 0, false, true));
    expect(r, cs, 5, 0, "cumsum");
    CHECK_OK(mx_cumsum(&r, vv, 0, true, true));
    expect(r, rcs, 5, 0, "cumsum reverse");
    CHECK_OK(mx_cumsum(&r, vv, 0, false, false));
    expect(r, ex, 5, 0, "cumsum exclusive");
    CHECK_OK(mx_sort(&r, vv, 0));
    expect(r, sorted, 5, 0, "sort");
    mx_array idx, back;
    CHECK_OK(mx_argsort(&idx, vv, 0));
    CHECK_OK(mx_take(&back, vv, idx, 0));
    expect(back, sorted, 5, 0, "take(argsort)");
}

static void test_indexing_and_shapes(void) {
    double x[24];
    for (int i = 0; i < 24; i++) x[i] = i;
    int s234[3] = {2, 3, 4};
    mx_array a = arr(x, s234, 3), r;
    /* transpose (2,0,1): out[k][i][j] = a[i][j][k] */
    double w[24];
    int perm[3] = {2, 0, 1};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) w[(k * 2 + i) * 3 + j] = x[(i * 3 + j) * 4 + k];
    CHECK_OK(mx_transpose(&r, a, perm, 3));
    expect(r, w, 24, 0, "transpose");
    CHECK_OK(mx_swapaxes(&r, a, 0, 2));
    CHECK(mx_dim(r, 0) == 4 && mx_dim(r, 2) == 2);
    int s64[2] = {6, -1};
    CHECK_OK(mx_reshape(&r, a, s64, 2));
    CHECK(mx_dim(r, 1) == 4);
    expect(r, x, 24, 0, "reshape");
    CHECK_OK(mx_flatten(&r, a, 0, 1));
    CHECK(mx_ndim(r) == 2 && mx_dim(r, 0) == 6);
    CHECK_OK(mx_expand_dims(&r, a, 1));
    CHECK(mx_ndim(r) == 4 && mx_dim(r, 1) == 1);
    CHECK_OK(mx_squeeze(&r, r, 1));
    CHECK(mx_ndim(r) == 3);

    /* slices */
    int st[3] = {1, 0, 1}, sp[3] = {2, 3, 4}, sd[3] = {1, 2, 2};
    double ws[4] = {13, 15, 21, 23};
    CHECK_OK(mx_slice(&r, a, st, sp, sd, 3));
    expect(r, ws, 4, 0, "slice strided");
    double wa[8] = {4, 5, 6, 7, 16, 17, 18, 19};
    CHECK_OK(mx_slice_axis(&r, a, 1, 1, 2));
    expect(r, wa, 8, 0, "slice_axis");
    double upd[2] = {-1, -2};
    int su[3] = {1, 1, 2}, us[3] = {0, 1, 2}, ue[3] = {1, 2, 4};
    mx_array u = arr(upd, su, 3);
    CHECK_OK(mx_slice_update(&r, a, u, us, ue, NULL, 3));
    memcpy(w, x, sizeof w);
    w[6] = -1, w[7] = -2;
    expect(r, w, 24, 0, "slice_update");
    int bad_stop[3] = {2, 4, 4};
    CHECK_FAILS(mx_slice(&r, a, us, bad_stop, NULL, 3), "out of range for axis 1 of size 3");

    /* take, take_along_axis, put_along_axis */
    int32_t rows[2] = {2, 0};
    int s2[1] = {2};
    int s34[2] = {3, 4};
    mx_array m = arr(x, s34, 2);
    double wt[8] = {8, 9, 10, 11, 0, 1, 2, 3};
    CHECK_OK(mx_take(&r, m, iarr(rows, s2, 1), 0));
    expect(r, wt, 8, 0, "take rows");
    int32_t cols[3] = {3, 0, 1};
    int s31[2] = {3, 1};
    double wc[3] = {3, 4, 9};
    mx_array ci = iarr(cols, s31, 2);
    CHECK_OK(mx_take_along_axis(&r, m, ci, 1));
    expect(r, wc, 3, 0, "take_along_axis");
    double vals[3] = {-7, -8, -9};
    CHECK_OK(mx_put_along_axis(&r, m, ci, arr(vals, s31, 2), 1));
    memcpy(w, x, 12 * sizeof *w);
    w[3] = -7, w[4] = -8, w[9] = -9;
    expect(r, w, 12, 0, "put_along_axis");

    /* concatenate, stack, split */
    mx_array parts[3], two[2] = {m, m};
    CHECK_OK(mx_concatenate(&r, two, 2, 0));
    CHECK(mx_dim(r, 0) == 6);
    CHECK_OK(mx_stack(&r, two, 2, 0));
    CHECK(mx_ndim(r) == 3 && mx_dim(r, 0) == 2);
    CHECK_OK(mx_split(parts, 2, m, 1));
    double left[6] = {0, 1, 4, 5, 8, 9};
    expect(parts[0], left, 6, 0, "split");
    int at[2] = {1, 3};
    CHECK_OK(mx_split_at(parts, m, at, 2, 1));
    double mid[6] = {1, 2, 5, 6, 9, 10};
    expect(parts[1], mid, 6, 0, "split_at");
    CHECK(mx_dim(parts[2], 1) == 1);

    /* pad and broadcast */
    int lo[2] = {1, 0}, hi[2] = {0, 1};
    CHECK_OK(mx_pad(&r, m, lo, hi, 2, -1.0));
    CHECK(mx_dim(r, 0) == 4 && mx_dim(r, 1) == 5);
    double wp[5] = {-1, -1, -1, -1, -1};
    mx_array row0;
    CHECK_OK(mx_slice_axis(&row0, r, 0, 0, 1));
    expect(row0, wp, 5, 0, "pad value");
    int b3[2] = {3, 4};
    double one[4] = {1, 2, 3, 4}, wb[12] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4};
    int s4[1] = {4};
    CHECK_OK(mx_broadcast_to(&r, arr(one, s4, 1), b3, 2));
    expect(r, wb, 12, 0, "broadcast_to");
}

static void test_quantization(void) {
    enum { O = 8, I = 64 };
    double wv[O * I], xv[2 * I];
    fill(wv, O * I, 5), fill(xv, 2 * I, 6);
    int sw[2] = {O, I}, sx[2] = {2, I};
    mx_array w = arr(wv, sw, 2), x = arr(xv, sx, 2), q, s, b, dq, r, wt, ref;
    for (int bits = 4; bits <= 8; bits += 4) {
        CHECK_OK(mx_quantize(&q, &s, &b, w, 32, bits));
        CHECK(mx_dtype_of(q) == MX_UINT32 && mx_dim(q, 1) == I * bits / 32 && mx_dim(s, 1) == I / 32);
        CHECK_OK(mx_dequantize(&dq, q, s, b, 32, bits));
        /* The format by definition: element j of a row is bits-wide field j of the packed uint32 words
         * (least significant first), and dequantizes to field · scale + bias of its group of 32. */
        uint32_t packed[O * I / 4];
        float scales[O * I / 32], biases[O * I / 32], got[O * I];
        CHECK_OK(mx_to_host(q, packed, mx_nbytes(q)));
        CHECK_OK(mx_to_f32(s, scales, O * I / 32));
        CHECK_OK(mx_to_f32(b, biases, O * I / 32));
        CHECK_OK(mx_to_f32(dq, got, O * I));
        double worst_format = 0, worst_step = 0;
        int per_word = 32 / bits;
        for (int o = 0; o < O; o++)
            for (int j = 0; j < I; j++) {
                uint32_t word = packed[o * (I / per_word) + j / per_word];
                uint32_t field = (word >> ((j % per_word) * bits)) & ((1u << bits) - 1);
                int g = o * (I / 32) + j / 32;
                double want = field * (double)scales[g] + biases[g];
                worst_format = fmax(worst_format, fabs(got[o * I + j] - want));
                /* rounding to the grid costs at most one step of the group */
                worst_step = fmax(worst_step, fabs(got[o * I + j] - wv[o * I + j]) / fabs(scales[g]));
            }
        CHECK(worst_format <= 1e-6);
        CHECK(worst_step <= 1.0 + 1e-4);
        /* quantized_matmul == x @ dequantized(w)ᵀ */
        CHECK_OK(mx_quantized_matmul(&r, x, q, s, b, true, 32, bits));
        CHECK_OK(mx_transpose(&wt, dq, NULL, 0));
        CHECK_OK(mx_matmul(&ref, x, wt));
        float want[2 * O];
        double wd[2 * O];
        CHECK_OK(mx_to_f32(ref, want, 2 * O));
        for (int i = 0; i < 2 * O; i++) wd[i] = want[i];
        expect(r, wd, 2 * O, test_matmul_tol(1e-4), bits == 4 ? "quantized_matmul 4-bit" : "quantized_matmul 8-bit");
    }
}

static void test_norms(void) {
    enum { R = 3, D = 8 };
    double x[R * D], g[D], bias[D], w[R * D];
    fill(x, R * D, 7), fill(g, D, 8), fill(bias, D, 9);
    int sx[2] = {R, D}, sd[1] = {D};
    mx_array a = arr(x, sx, 2), ga = arr(g, sd, 1), ba = arr(bias, sd, 1), r;
    for (int i = 0; i < R; i++) {
        double ms = 0, mean = 0, var = 0;
        for (int d = 0; d < D; d++) ms += x[i * D + d] * x[i * D + d] / D, mean += x[i * D + d] / D;
        for (int d = 0; d < D; d++) var += (x[i * D + d] - mean) * (x[i * D + d] - mean) / D;
        for (int d = 0; d < D; d++) w[i * D + d] = x[i * D + d] / sqrt(ms + 1e-6) * g[d];
    }
    CHECK_OK(mx_rms_norm(&r, a, ga, 1e-6f));
    expect(r, w, R * D, 1e-5, "rms_norm");
    for (int i = 0; i < R; i++) {
        double mean = 0, var = 0;
        for (int d = 0; d < D; d++) mean += x[i * D + d] / D;
        for (int d = 0; d < D; d++) var += (x[i * D + d] - mean) * (x[i * D + d] - mean) / D;
        for (int d = 0; d < D; d++) w[i * D + d] = (x[i * D + d] - mean) / sqrt(var + 1e-5) * g[d] + bias[d];
    }
    CHECK_OK(mx_layer_norm(&r, a, ga, ba, 1e-5f));
    expect(r, w, R * D, 1e-5, "layer_norm");
    CHECK_OK(mx_layer_norm(&r, a, NULL, NULL, 1e-5f));
    CHECK(mx_size(r) == R * D);
}

/* rope on x [1, 1, T, D] at positions offset + t, rotating halves (not traditional) */
static void rope_ref(const double *x, double *out, int T, int D, int offset, const double *inv_freq) {
    int h = D / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < h; i++) {
            double th = (offset + t) * inv_freq[i], x1 = x[t * D + i], x2 = x[t * D + i + h];
            out[t * D + i] = x1 * cos(th) - x2 * sin(th);
            out[t * D + i + h] = x1 * sin(th) + x2 * cos(th);
        }
}

static void test_rope(void) {
    enum { T = 5, D = 8 };
    double x[T * D], w[T * D], inv[D / 2];
    fill(x, T * D, 10);
    int s[4] = {1, 1, T, D};
    mx_array a = arr(x, s, 4), r;
    for (int i = 0; i < D / 2; i++) inv[i] = pow(10000.0, -2.0 * i / D);
    rope_ref(x, w, T, D, 3, inv);
    CHECK_OK(mx_rope(&r, a, D, false, 10000.0f, 1.0f, 3, NULL));
    expect(r, w, T * D, 1e-5, "rope base 1e4 offset 3");
    double custom[D / 2] = {1.0, 0.5, 0.25, 0.01};
    int sf[1] = {D / 2};
    rope_ref(x, w, T, D, 0, custom);
    /* MLX takes frequencies as periods: inv_freq = 1 / freqs */
    double periods[D / 2];
    for (int i = 0; i < D / 2; i++) periods[i] = 1.0 / custom[i];
    CHECK_OK(mx_rope(&r, a, D, false, 0.0f, 1.0f, 0, arr(periods, sf, 1)));
    expect(r, w, T * D, 1e-5, "rope custom freqs");
}

/* attention reference: q [Hq, Tq, D], k/v [Hkv, Tk, D], mask[Tq][Tk] (1 = attend) */
static void sdpa_ref(const double *q, const double *k, const double *v, double *out, int Hq, int Hkv, int Tq,
                     int Tk, int D, double scale, const int *mask) {
    for (int h = 0; h < Hq; h++) {
        int kh = h / (Hq / Hkv);
        for (int i = 0; i < Tq; i++) {
            double s[16], mx = -INFINITY, z = 0;
            for (int j = 0; j < Tk; j++) {
                double dot = 0;
                for (int d = 0; d < D; d++) dot += q[(h * Tq + i) * D + d] * k[(kh * Tk + j) * D + d];
                s[j] = mask && !mask[i * Tk + j] ? -INFINITY : dot * scale;
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < Tk; j++) z += s[j] == -INFINITY ? 0 : exp(s[j] - mx);
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int j = 0; j < Tk; j++)
                    if (s[j] != -INFINITY) acc += exp(s[j] - mx) / z * v[(kh * Tk + j) * D + d];
                out[(h * Tq + i) * D + d] = acc;
            }
        }
    }
}

static void test_sdpa(void) {
    enum { HQ = 4, HKV = 2, T = 6, D = 8 };
    double q[HQ * T * D], k[HKV * T * D], v[HKV * T * D], w[HQ * T * D];
    fill(q, HQ * T * D, 11), fill(k, HKV * T * D, 12), fill(v, HKV * T * D, 13);
    int sq[4] = {1, HQ, T, D}, sk[4] = {1, HKV, T, D};
    mx_array qa = arr(q, sq, 4), ka = arr(k, sk, 4), va = arr(v, sk, 4), r;
    double scale = 1.0 / sqrt(D);
    sdpa_ref(q, k, v, w, HQ, HKV, T, T, D, scale, NULL);
    CHECK_OK(mx_sdpa(&r, qa, ka, va, (float)scale, MX_MASK_NONE, NULL));
    expect(r, w, HQ * T * D, test_matmul_tol(1e-5), "sdpa GQA no mask");
    int causal[T * T];
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) causal[i * T + j] = j <= i;
    sdpa_ref(q, k, v, w, HQ, HKV, T, T, D, scale, causal);
    CHECK_OK(mx_sdpa(&r, qa, ka, va, (float)scale, MX_MASK_CAUSAL, NULL));
    expect(r, w, HQ * T * D, test_matmul_tol(1e-5), "sdpa causal");
    /* block-diagonal bool mask: two blocks of 3 */
    int block[T * T];
    bool bm[T * T];
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) block[i * T + j] = bm[i * T + j] = (i / 3) == (j / 3);
    int sm[2] = {T, T};
    mx_array mask;
    CHECK_OK(mx_from_data(&mask, bm, sm, 2, MX_BOOL));
    sdpa_ref(q, k, v, w, HQ, HKV, T, T, D, scale, block);
    CHECK_OK(mx_sdpa(&r, qa, ka, va, (float)scale, MX_MASK_ARRAY, mask));
    expect(r, w, HQ * T * D, test_matmul_tol(1e-5), "sdpa array mask");
    CHECK_FAILS(mx_sdpa(&r, qa, ka, va, 1.0f, MX_MASK_ARRAY, NULL), "needs a mask");
}

static void test_random(void) {
    int s[1] = {20000};
    mx_array k1, k2, a, b, r, m;
    CHECK_OK(mx_random_key(&k1, 7));
    CHECK_OK(mx_random_normal(&a, s, 1, MX_FLOAT32, k1));
    CHECK_OK(mx_random_normal(&b, s, 1, MX_FLOAT32, k1));
    CHECK_OK(mx_subtract(&r, a, b));
    CHECK_OK(mx_abs(&r, r));
    CHECK_OK(mx_max(&r, r, NULL, 0, false));
    double zero = 0;
    expect(r, &zero, 1, 0, "same key, same numbers");
    float mean, var;
    CHECK_OK(mx_mean(&m, a, NULL, 0, false));
    CHECK_OK(mx_item_f32(m, &mean));
    CHECK_OK(mx_square(&r, a));
    CHECK_OK(mx_mean(&r, r, NULL, 0, false));
    CHECK_OK(mx_item_f32(r, &var));
    CHECK(fabs(mean) < 0.05 && fabs(var - 1) < 0.05); /* 20000 samples: 5 sigma is ~0.035 */
    CHECK_OK(mx_random_split(&k1, &k2, k1));
    CHECK_OK(mx_random_uniform(&a, -2, 3, s, 1, MX_FLOAT32, k2));
    float lo, hi;
    CHECK_OK(mx_min(&r, a, NULL, 0, false));
    CHECK_OK(mx_item_f32(r, &lo));
    CHECK_OK(mx_max(&r, a, NULL, 0, false));
    CHECK_OK(mx_item_f32(r, &hi));
    CHECK(lo >= -2 && hi < 3 && lo < -1.9 && hi > 2.9);
    CHECK_OK(mx_random_bernoulli(&a, 0.3, s, 1, k1));
    CHECK_OK(mx_astype(&a, a, MX_FLOAT32));
    CHECK_OK(mx_mean(&r, a, NULL, 0, false));
    CHECK_OK(mx_item_f32(r, &mean));
    CHECK(fabs(mean - 0.3) < 0.02);
    CHECK_FAILS(mx_random_bernoulli(&a, 1.5, s, 1, k1), "p must be in [0, 1]");
    double logits[3] = {-1e9, 0, -1e9};
    int s13[2] = {1, 3};
    CHECK_OK(mx_random_categorical(&r, arr(logits, s13, 2), k1));
    double one = 1;
    expect(r, &one, 1, 0, "categorical picks the only likely class");
}

static void test_errors(void) {
    double x[6] = {0};
    int s23[2] = {2, 3}, s22[2] = {2, 2};
    mx_array a = arr(x, s23, 2), b = arr(x, s22, 2), r;
    CHECK_FAILS(mx_matmul(&r, a, b), "mx_matmul([2,3] float32, [2,2] float32)");
    CHECK_FAILS(mx_add(&r, a, b), "mx_add([2,3] float32, [2,2] float32)");
    int bad = 5;
    CHECK_FAILS(mx_sum(&r, a, &bad, 1, false), "mx_sum([2,3] float32)");
    int s7[1] = {7};
    CHECK_FAILS(mx_reshape(&r, a, s7, 1), "mx_reshape");
    CHECK_FAILS(mx_slice_axis(&r, a, 3, 0, 1), "axis 3 out of range");
}

int main(void) {
    TEST_BEGIN();
    mx_arena *scope = mx_scope_begin();
    test_elementwise();
    test_linalg_and_reductions();
    test_indexing_and_shapes();
    test_quantization();
    test_norms();
    test_rope();
    test_sdpa();
    test_random();
    test_errors();
    mx_scope_end(scope);
    return TEST_END();
}

/* Errors are values.
 *
 * Every fallible function in vlmtune returns an int status: 0 on success, -1 on
 * failure.  The human-readable reason lives in one thread-local buffer: the
 * function that detects the problem writes it with vt_err(); callers on the way
 * up may prepend context with vt_err_context() ("loading model.safetensors: ");
 * main() prints vt_errmsg() once.  The MLX binding (src/mlx) reports through the
 * same buffer, so there is exactly one place to read a failure from. */
#ifndef VT_ERROR_H
#define VT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Set the message (printf-style) and return -1, so `return vt_err(...)` reads well. */
int vt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prepend "context: " to the current message and return -1. */
int vt_err_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current message ("" when none); valid until the next vt_err* call on this thread. */
const char *vt_errmsg(void);
void vt_err_clear(void);

#ifdef __cplusplus
}
#endif

/* Propagate a failure: TRY(f(x)); returns -1 from the enclosing function. */
#define TRY(expr)                  \
    do {                           \
        if ((expr) != 0) return -1; \
    } while (0)

#endif

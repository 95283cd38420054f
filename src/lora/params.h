/* params.h — a named list of trainable arrays (adapter weights, optimizer moments).
 *
 * Ownership: the list owns its names and its handles; the handles live in the
 * list's own arena, so a forward pass's scope never frees them. */
#ifndef VT_PARAMS_H
#define VT_PARAMS_H

#include <stddef.h>

#include "mlx/mx.h"

typedef struct {
    size_t n;
    char **names;      /* owned */
    mx_array *values;  /* owned (in `arena`) */
    mx_arena *arena;
} vt_params;

/* Appends a reference to `value` under `name` (the caller keeps its own handle). */
int vt_params_add(vt_params *p, const char *name, mx_array value);
/* Replaces entry i by `value`, taking ownership of that handle. */
void vt_params_replace(vt_params *p, size_t i, mx_array value);
/* Index of `name`, or -1. */
long vt_params_find(const vt_params *p, const char *name);
void vt_params_free(vt_params *p);  /* frees the contents; p itself may be on the stack */

#endif

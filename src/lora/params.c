#include "lora/params.h"

#include <stdlib.h>
#include <string.h>

int vt_params_add(vt_params *p, const char *name, mx_array value) {
    if (!p->arena && !(p->arena = mx_arena_new())) return vt_err("out of memory");
    char **names = realloc(p->names, (p->n + 1) * sizeof *names);
    if (names) p->names = names;
    mx_array *values = realloc(p->values, (p->n + 1) * sizeof *values);
    if (values) p->values = values;
    char *copy = strdup(name);
    if (!names || !values || !copy) {
        free(copy);
        return vt_err("out of memory");
    }
    mx_array ref;
    mx_arena_push(p->arena);
    int rc = mx_ref(&ref, value);
    mx_arena_pop();
    if (rc) {
        free(copy);
        return vt_err_context("parameter %s", name);
    }
    p->names[p->n] = copy;
    p->values[p->n] = ref;
    p->n++;
    return 0;
}

void vt_params_replace(vt_params *p, size_t i, mx_array value) {
    mx_free(p->values[i]);
    mx_keep(value, p->arena);
    p->values[i] = value;
}

long vt_params_find(const vt_params *p, const char *name) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->names[i], name)) return (long)i;
    return -1;
}

void vt_params_free(vt_params *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) free(p->names[i]);
    free(p->names);
    free(p->values);
    mx_arena_free(p->arena);
    *p = (vt_params){0};
}

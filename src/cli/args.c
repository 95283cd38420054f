#include "cli/args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void vt_args_help(const vt_option *opts, const char *usage, FILE *f) {
    fprintf(f, "usage: %s\n\noptions:\n", usage);
    for (const vt_option *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
        fprintf(f, "  %-24s %s%s\n", left, o->help, o->required ? " (required)" : "");
    }
}

int vt_args_parse(vt_option *opts, int argc, char **argv, const char *usage) {
    for (vt_option *o = opts; o->name; o++) o->given = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            vt_args_help(opts, usage, stdout);
            return 1;
        }
        if (strncmp(argv[i], "--", 2)) return vt_err("unexpected argument '%s' (see --help)", argv[i]);
        const char *name = argv[i] + 2, *eq = strchr(name, '='); /* "--flag value" or "--flag=value" */
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        vt_option *o = opts;
        while (o->name && (strlen(o->name) != len || strncmp(o->name, name, len))) o++;
        if (!o->name) return vt_err("unknown option '--%.*s' (see --help)", (int)len, name);
        if (!o->value) {
            if (eq) return vt_err("option '--%s' is a switch: it takes no value", o->name);
            o->given = "1";
        } else if (eq) {
            o->given = eq + 1;
        } else {
            if (i + 1 >= argc) return vt_err("option '%s' needs a value (%s)", argv[i], o->value);
            o->given = argv[++i];
        }
    }
    for (vt_option *o = opts; o->name; o++)
        if (o->required && !o->given) return vt_err("missing --%s %s (see --help)", o->name, o->value ? o->value : "");
    return 0;
}

const char *vt_args_value(const vt_option *opts, const char *name) {
    for (const vt_option *o = opts; o->name; o++)
        if (!strcmp(o->name, name)) return o->given;
    return NULL;
}

bool vt_args_flag(const vt_option *opts, const char *name) { return vt_args_value(opts, name) != NULL; }

int vt_args_int(const vt_option *opts, const char *name, long def, long lo, long hi, long *out) {
    const char *v = vt_args_value(opts, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return vt_err("--%s: expected an integer in [%ld, %ld], got '%s'", name, lo, hi, v);
    *out = x;
    return 0;
}

int vt_args_image_config(const vt_option *opts, const char *model_dir, vt_image_config *ic) {
    vt_image_config_default(ic);
    if (model_dir) TRY(vt_image_config_load(ic, model_dir));
    TRY(vt_args_int(opts, "image-min-pixels", ic->min_pixels, 1, 1L << 40, &ic->min_pixels));
    TRY(vt_args_int(opts, "image-max-pixels", ic->max_pixels, 1, 1L << 40, &ic->max_pixels));
    if (ic->max_pixels < ic->min_pixels)
        return vt_err("--image-max-pixels (%ld) must be at least --image-min-pixels (%ld)", ic->max_pixels, ic->min_pixels);
    return 0;
}

int vt_args_session(const vt_option *opts, bool weights, bool tokenizer, vt_session *s) {
    vt_session_options o = {.model = vt_args_value(opts, "model"), .adapter = vt_args_value(opts, "adapter"),
                            .tokenizer_path = vt_args_value(opts, "tokenizer"), .weights = weights,
                            .tokenizer = tokenizer, .notes = stderr};
    TRY(vt_args_int(opts, "image-min-pixels", 0, 1, 1L << 40, &o.image_min_pixels));
    TRY(vt_args_int(opts, "image-max-pixels", 0, 1, 1L << 40, &o.image_max_pixels));
    return vt_session_open(s, &o);
}

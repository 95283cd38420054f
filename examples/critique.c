/* critique.c — libvlmtune from C: load a model (and an adapter), critique a photo, stream the answer.
 *
 *   critique MODEL_DIR [ADAPTER_DIR|-] PHOTO [PROMPT]
 *
 * Build: part of the CMake build (build/examples/critique); against an installed libvlmtune (make install),
 * `cc critique.c $(pkg-config --cflags --libs vlmtune)` or CMake's find_package(vlmtune) (README: Install). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vlmtune.h"

static int print_piece(void *ctx, const char *piece, size_t len) {
    (void)ctx;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL_DIR ADAPTER_DIR|- PHOTO [PROMPT]\n", argv[0]);
        return 2;
    }
    const char *adapter = strcmp(argv[2], "-") ? argv[2] : NULL;
    const char *photo = argv[3], *prompt = argc > 4 ? argv[4] : "Critique this photo.";
    vlmtune_model *m;
    if (vlmtune_load(&m, argv[1], adapter)) {
        fprintf(stderr, "critique: %s\n", vlmtune_last_error());
        return 1;
    }
    vlmtune_generate_options o = vlmtune_generate_defaults(m);
    o.max_tokens = 64;
    char *answer = NULL;
    int rc = vlmtune_generate(m, NULL, &photo, 1, prompt, &o, print_piece, NULL, &answer);
    if (rc) fprintf(stderr, "critique: %s\n", vlmtune_last_error());
    else printf("\n[%zu bytes]\n", strlen(answer));
    free(answer);
    vlmtune_free(m);
    return rc ? 1 : 0;
}

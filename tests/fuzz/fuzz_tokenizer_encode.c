/* Fuzz target: any bytes encoded (and the ids decoded) with the real Qwen3 tokenizer
 * (VT_TOKENIZER, default .cache/qwen3-tokenizer). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "text/tokenizer.h"
#include "util/error.h"

static vt_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("VT_TOKENIZER") ? getenv("VT_TOKENIZER") : ".cache/qwen3-tokenizer";
    if (vt_tokenizer_load(&tok, path)) {
        fprintf(stderr, "fuzz_tokenizer_encode: %s\n", vt_errmsg());
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int32_t *ids;
    size_t n;
    if (vt_tokenizer_encode(tok, (const char *)data, size, &ids, &n) == 0) {
        char *text;
        size_t len;
        if (vt_tokenizer_decode(tok, ids, n, &text, &len) == 0) free(text);
        free(ids);
    }
    return 0;
}

/* Fuzz target: any bytes as the text of a tokenizer.json. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vt_tokenizer *t;
    if (vt_tokenizer_load_json(&t, (const char *)data, size, "fuzz.json") == 0) {
        int32_t *ids;
        size_t n;
        if (vt_tokenizer_encode(t, "low lower <|x|>", 15, &ids, &n) == 0) free(ids);
        vt_tokenizer_free(t);
    }
    return 0;
}

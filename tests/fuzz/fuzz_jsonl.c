/* Fuzz target: one JSONL row, any bytes, through the dataset row parser. */
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vt_sample s;
    if (vt_sample_parse(&s, (const char *)data, size, "/data") == 0) vt_sample_clear(&s);
    return 0;
}

/* Runs a fuzz target's LLVMFuzzerTestOneInput once on each file named on the command line, without
 * libFuzzer, so that a target can run under Valgrind: tools/fuzz.sh links each target with this driver,
 * without sanitizers, for its memcheck step (reads of uninitialised memory, which ASan does not see). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "%s: cannot open\n", path), 1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *data = malloc(cap);
    for (size_t got; data && (got = fread(data + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) data = realloc(data, cap *= 2);
    }
    fclose(f);
    if (!data) return fprintf(stderr, "%s: out of memory\n", path), 1;
    /* an exact-size copy, so that reading past the input is an error here too */
    uint8_t *exact = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) exact[i] = data[i];
    free(data);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int failed = 0;
    for (int i = 1; i < argc; i++) failed |= run_file(argv[i]);
    return failed;
}

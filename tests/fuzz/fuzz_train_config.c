/* Fuzz target: any bytes as a training configuration file (vlmtune's keys and the peers'); what
 * loads is written, loaded again and written again, and the two texts must be the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/config.h"

static char *written(const vt_train_config *c, size_t *len) {
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f || vt_train_config_write_yaml(c, f)) abort();
    fclose(f);
    return text;
}

static void put(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_train_config_%d.yaml", (int)getpid());
    vt_train_config_set_warnings(NULL);
    put(path, data, size);
    vt_train_config c;
    vt_train_config_defaults(&c);
    if (vt_train_config_load_yaml(&c, path) == 0) {
        size_t n1, n2;
        char *t1 = written(&c, &n1);
        put(path, t1, n1);
        vt_train_config d;
        vt_train_config_defaults(&d);
        if (vt_train_config_load_yaml(&d, path) != 0) abort(); /* what is written must read back */
        char *t2 = written(&d, &n2);
        if (n1 != n2 || memcmp(t1, t2, n1)) abort();
        (void)vt_train_config_validate(&d);
        free(t1), free(t2);
        vt_train_config_free(&d);
    }
    vt_train_config_free(&c);
    return 0;
}

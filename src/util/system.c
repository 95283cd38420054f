/* system.c — facts about the machine (system.h). */
#define _DEFAULT_SOURCE
#define _DARWIN_C_SOURCE
#include "util/system.h"

#include <unistd.h>

size_t vt_physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : 0;
}

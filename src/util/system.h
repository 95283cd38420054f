/* system.h — facts about the machine from the operating system. */
#ifndef VT_SYSTEM_H
#define VT_SYSTEM_H

#include <stddef.h>

/* Installed memory in bytes (0 when the system does not say): a CPU run's device memory. */
size_t vt_physical_memory(void);

#endif

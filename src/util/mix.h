/* mix.h — splitmix64's finaliser: the project's one seeded mixing function (data order,
 * dropout keys, adapter initialisation).  Distinct inputs give unrelated outputs. */
#ifndef VT_MIX_H
#define VT_MIX_H

#include <stdint.h>

static inline uint64_t vt_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#endif

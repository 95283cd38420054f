/* mix.h — splitmix64's finaliser, the project's one seeded mixing function (data order, dropout
 * keys, adapter initialisation), and FNV-1a for cache keys. */
#ifndef VT_MIX_H
#define VT_MIX_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t vt_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* FNV-1a, 64 bits: content keys for caches (not cryptographic; a key also holds sizes). */
enum { VT_FNV_START = 0 };
static inline uint64_t vt_fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    if (h == VT_FNV_START) h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#endif

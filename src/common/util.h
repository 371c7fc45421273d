/* util.h — small idioms every module uses: the container of a member, FNV-1a. */
#ifndef PORTICO_UTIL_H
#define PORTICO_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The struct of type TYPE whose member FIELD is at PTR (a watcher inside a connection). */
#define PC_CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* 32-bit FNV-1a, continued from H (start with PC_FNV_INIT): stable across processes and
 * versions, which the affinity hashes and the MS-WSMAN cookie need. */
#define PC_FNV_INIT  2166136261u
#define PC_FNV_PRIME 16777619u

static inline uint32_t pc_fnv1a(uint32_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * PC_FNV_PRIME;
    return h;
}

#endif

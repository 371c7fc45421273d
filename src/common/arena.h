/* arena.h — memory for per-connection structures that live as long as the process.
 *
 * Sessions and member connections go back to their own free lists and are never freed, so
 * they are carved from large mmap'd blocks instead of malloc: a structure allocated while
 * handshakes churn the heap would otherwise sit between OpenSSL's freed blocks and keep the
 * heap from shrinking back, so that ten thousand pending long polls held their structures plus
 * the holes around them (docs/performance.md). */
#ifndef PORTICO_ARENA_H
#define PORTICO_ARENA_H

#include <stddef.h>

/* SIZE bytes, zeroed, aligned to 64; never given back. NULL when out of memory. */
void *pc_arena_alloc(size_t size);

#endif

/* arena.c — a bump allocator over mmap'd blocks (arena.h). One per process: the workers'
 * event loops are single-threaded. */
#include "common/arena.h"

#include <stdint.h>
#include <sys/mman.h>

#define ARENA_BLOCK (1u << 20)

static char *cur, *end;

void *pc_arena_alloc(size_t size)
{
    size = (size + 63) & ~(size_t)63;
    if (size > ARENA_BLOCK)
        return NULL;
    if (!cur || (size_t)(end - cur) < size) {
        void *b =
            mmap(NULL, ARENA_BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b == MAP_FAILED)
            return NULL;
        cur = b;
        end = cur + ARENA_BLOCK;
    }
    void *p = cur;
    cur += size;
    return p;
}

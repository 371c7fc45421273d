/* exactbuf.c — src/common/buf.c's interface for the fuzz harnesses, without free lists.
 *
 * portico's buffers come in standard sizes (2 KiB, 16 KiB) from free lists, so a write past
 * the room that pc_out_reserve() made would usually land inside the same block and ASan would
 * not see it. Here every buffer is a heap block of exactly the requested capacity and is freed
 * on release: any write beyond what was reserved is a heap-buffer-overflow. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

struct pc_buf *pc_buf_get_cap(size_t need)
{
    struct pc_buf *b = malloc(sizeof(*b) + need);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = need;
    b->start = b->end = 0;
    return b;
}

struct pc_buf *pc_buf_get(void)
{
    return pc_buf_get_cap(PC_BUF_SIZE);
}

void pc_buf_put(struct pc_buf *b)
{
    free(b);
}

void pc_buf_compact(struct pc_buf *b)
{
    if (b->start == 0)
        return;
    memmove(b->data, b->data + b->start, b->end - b->start);
    b->end -= b->start;
    b->start = 0;
}

struct pc_buf *pc_buf_grow(struct pc_buf *b, size_t cap)
{
    struct pc_buf *nb = pc_buf_get_cap(cap);
    if (!nb)
        return NULL;
    nb->end = pc_buf_len(b);
    memcpy(nb->data, b->data + b->start, nb->end);
    free(b);
    return nb;
}

void pc_buf_trim_freelist(size_t keep)
{
    (void)keep;
}

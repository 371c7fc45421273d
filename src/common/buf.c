/* buf.c — buffer free lists (one set per worker process, so no locking). */
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

struct freelist {
    struct pc_buf *head;
    size_t n;
};

static struct freelist small_list, std_list, bulk_list;

static struct freelist *list_for(size_t cap)
{
    if (cap == PC_BUF_SIZE)
        return &std_list;
    if (cap == PC_BUF_SMALL)
        return &small_list;
    if (cap == PC_BUF_BULK)
        return &bulk_list;
    return NULL;
}

struct pc_buf *pc_buf_get_cap(size_t need)
{
    size_t cap = need <= PC_BUF_SMALL ? PC_BUF_SMALL : need <= PC_BUF_SIZE ? PC_BUF_SIZE : need;
    struct freelist *fl = list_for(cap);
    struct pc_buf *b = fl ? fl->head : NULL;
    if (b) {
        fl->head = b->next;
        fl->n--;
    } else {
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->cap = cap;
    }
    b->next = NULL;
    b->start = b->end = 0;
    return b;
}

struct pc_buf *pc_buf_get(void)
{
    return pc_buf_get_cap(PC_BUF_SIZE);
}

void pc_buf_put(struct pc_buf *b)
{
    if (!b)
        return;
    struct freelist *fl = list_for(b->cap);
    if (!fl) {
        free(b);
        return;
    }
    b->next = fl->head;
    fl->head = b;
    fl->n++;
}

struct pc_buf *pc_buf_grow(struct pc_buf *b, size_t cap)
{
    if (cap <= b->cap - b->start) {
        pc_buf_compact(b);
        return b;
    }
    struct pc_buf *nb = pc_buf_get_cap(cap);
    if (!nb)
        return NULL;
    nb->end = pc_buf_len(b);
    memcpy(nb->data, b->data + b->start, nb->end);
    pc_buf_put(b);
    return nb;
}

struct pc_buf *pc_buf_clone_kept(const struct pc_buf *b)
{
    size_t len = pc_buf_len(b);
    struct pc_buf *nb = len <= PC_BUF_SMALL ? pc_buf_get_cap(len) : malloc(sizeof(*nb) + len);
    if (!nb)
        return NULL;
    if (len > PC_BUF_SMALL) {
        nb->next = NULL;
        nb->cap = len;
        nb->start = 0;
    }
    nb->end = len;
    memcpy(nb->data, b->data + b->start, len);
    return nb;
}

void pc_buf_compact(struct pc_buf *b)
{
    if (b->start == 0)
        return;
    memmove(b->data, b->data + b->start, b->end - b->start);
    b->end -= b->start;
    b->start = 0;
}

static void trim(struct freelist *fl, size_t keep)
{
    while (fl->n > keep && fl->head) {
        struct pc_buf *b = fl->head;
        fl->head = b->next;
        fl->n--;
        free(b);
    }
}

/* Gives memory back after a burst: called from a periodic timer, never on the hot path. */
void pc_buf_trim_freelist(size_t keep)
{
    trim(&std_list, keep);
    trim(&small_list, keep * 4);
    trim(&bulk_list, keep / 4);
}

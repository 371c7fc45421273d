/* out.c — the output queue (out.h). */
#include <string.h>

#include "common/out.h"

char *pc_out_reserve(struct pc_out *o, size_t need)
{
    if (!o->ob) {
        o->ob = pc_buf_get_cap(need);
        if (!o->ob)
            return NULL;
    }
    if (pc_buf_room(o->ob) < need) {
        size_t len = pc_buf_len(o->ob);
        size_t cap = len + need;
        if (cap < PC_BUF_SIZE)
            cap = PC_BUF_SIZE;
        struct pc_buf *nb = pc_buf_grow(o->ob, cap);
        if (!nb)
            return NULL;
        o->ob = nb;
    }
    return o->ob->data + o->ob->end;
}

bool pc_out_append(struct pc_out *o, const void *p, size_t len)
{
    char *w = pc_out_reserve(o, len);
    if (!w)
        return false;
    memcpy(w, p, len);
    o->ob->end += len;
    return true;
}

void pc_out_reset(struct pc_out *o)
{
    pc_buf_put(o->ob);
    o->ob = NULL;
    o->raw = NULL;
    o->rawlen = 0;
}

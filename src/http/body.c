/* body.c — a body piece onto an output queue, framed for the other side (see body.h). */
#include "http/body.h"

#include <stdio.h>
#include <string.h>

int pc_body_put(struct pc_out *o, enum pc_body_mode mode, const char *at, size_t len)
{
    char *w;
    switch (mode) {
    case PC_BODY_RAW:
        if (o->rawlen)
            return -1;
        o->raw = at;
        o->rawlen = len;
        return 0;
    case PC_BODY_CHUNK:
        if (len == 0)
            return 0;
        w = pc_out_reserve(o, len + 24);
        if (!w)
            return -1;
        {
            int n = snprintf(w, 24, "%zx\r\n", len);
            memcpy(w + n, at, len);
            memcpy(w + n + len, "\r\n", 2);
            o->ob->end += (size_t)n + len + 2;
        }
        return 0;
    case PC_BODY_DECHUNK:
        return pc_out_append(o, at, len) ? 0 : -1;
    case PC_BODY_NONE:
        break;
    }
    return -1;
}

int pc_body_end(struct pc_out *o, enum pc_body_mode mode)
{
    return pc_body_end_trailers(o, mode, NULL, 0);
}

int pc_body_end_trailers(struct pc_out *o, enum pc_body_mode mode, const char *tr, size_t len)
{
    if (mode != PC_BODY_CHUNK)
        return 0;
    if (!len)
        return pc_out_append(o, "0\r\n\r\n", 5) ? 0 : -1;
    return pc_out_append(o, "0\r\n", 3) && pc_out_append(o, tr, len) ? 0 : -1;
}

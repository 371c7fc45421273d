/* out.h — an output queue: bytes built for one peer (out-t.h), written by core/io.c. */
#ifndef PORTICO_OUT_H
#define PORTICO_OUT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/out-t.h"

static inline bool pc_out_pending(const struct pc_out *o)
{
    return (o->ob && o->ob->end > o->ob->start) || o->rawlen;
}

/* Makes room for NEED more bytes at the end of O's buffer (taking or growing one); returns
 * the write position or NULL when out of memory. */
char *pc_out_reserve(struct pc_out *o, size_t need);
/* Appends LEN bytes; returns false when out of memory. */
bool pc_out_append(struct pc_out *o, const void *p, size_t len);
void pc_out_reset(struct pc_out *o);

#endif

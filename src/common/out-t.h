/* out-t.h — an output queue (functions: common/out.h; written to a socket by core/io.h). */
#ifndef PORTICO_OUT_T_H
#define PORTICO_OUT_T_H

#include <stddef.h>

#include "common/buf.h"

/* Bytes waiting to be written to one peer, in order: ob[start, end) then raw[0, rawlen).
 * RAW points into the other side's input buffer (a Content-Length body forwarded without a
 * copy); that side reads nothing more until the queue is empty, so RAW stays valid. */
struct pc_out {
    struct pc_buf *ob;
    const char *raw;
    size_t rawlen;
};

#endif

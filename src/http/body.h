/* body.h — queueing a body for the other side in the framing it gets there (RFC 9112 §7.1:
 * re-chunked, de-chunked, or as it is). */
#ifndef PORTICO_BODY_H
#define PORTICO_BODY_H

#include <stddef.h>

#include "common/out.h"
#include "http/body-t.h"

/* Queues a piece of body in MODE (see enum pc_body_mode); 0 or -1 (out of memory, or a second
 * raw piece while one is pending, which the callers' flow control rules out). */
int pc_body_put(struct pc_out *o, enum pc_body_mode mode, const char *at, size_t len);
/* Queues the end of a body: the last chunk in PC_BODY_CHUNK mode, nothing otherwise. */
int pc_body_end(struct pc_out *o, enum pc_body_mode mode);
/* The same with the trailer section TR[0, LEN) (its field lines and final CRLF, as
 * pc_chunked keeps it) in the last chunk; LEN 0: none. */
int pc_body_end_trailers(struct pc_out *o, enum pc_body_mode mode, const char *tr, size_t len);

#endif

/* h2-int.h — what h2-stream.c (the streams, their requests) needs of h2-resp.c (their
 * responses: HEADERS, DATA, interim responses, trailers); not for other files. h2-resp.c
 * calls nothing of h2-stream.c: it answers with a code, and the stream resets itself. */
#ifndef PORTICO_H2_INT_H
#define PORTICO_H2_INT_H

#include <stdint.h>

#include "proxy/h2-t.h"

/* Submits the response heads at the start of ST's t->resp: interim ones (1xx, RFC 9113 §8.1)
 * as HEADERS without END_STREAM as they come, then the final one with its DATA provider (and
 * the trailers after the body: HEADERS with END_STREAM). Returns 0 (submitted, or waits for
 * more), or the RST_STREAM error code ST must be reset with. */
uint32_t pc_h2_resp_submit(struct pc_h2_stream *st);

#endif

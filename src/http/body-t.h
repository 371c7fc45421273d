/* body-t.h — how a body goes to the other side (functions: http/body.h). */
#ifndef PORTICO_BODY_T_H
#define PORTICO_BODY_T_H

enum pc_body_mode {
    PC_BODY_NONE,
    PC_BODY_RAW,     /* forward body bytes as they are (Content-Length, or close-delimited) */
    PC_BODY_CHUNK,   /* re-encode each piece as a chunk (chunked or close-delimited source) */
    PC_BODY_DECHUNK, /* copy the payload without framing (chunked source, HTTP/1.0 client) */
};

#endif

/* chunked-t.h — the state of a chunked body being decoded (functions: http/chunked.h). */
#ifndef PORTICO_CHUNKED_T_H
#define PORTICO_CHUNKED_T_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>

struct pc_buf;

/* A chunked body being decoded. LL comes first: llhttp's callbacks find the rest from it. */
struct pc_chunked {
    llhttp_t ll;          /* ll.data: the session or upstream connection (the module's callbacks) */
    uint8_t trailer;      /* 0 while chunks go by; then where in the trailer section */
    uint32_t trailer_len; /* bytes of trailer section so far (bounded like a field) */
    uint32_t ext_len;     /* bytes of the chunk-extension name or value so far */
    bool ext_quoted;      /* that value is a quoted-string */
    const char *ext_end;  /* where the value's last piece ended (its terminator) */
    bool keep;            /* keep a non-empty trailer section in tr (false after begin) */
    struct pc_buf *tr;    /* that section as received, its final CRLF included; the owner
                           * takes it (or pc_chunked_release) after on_message_complete */
};

#endif

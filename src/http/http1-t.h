/* http1-t.h — types of a parsed HTTP/1.x header block.
 *
 * A header block is parsed in place: every name and value is an (offset, length) span into
 * the bytes it came from, so nothing is copied. A struct pc_head is large (it holds up to
 * PC_MAX_FIELDS spans) and short-lived: a worker parses into one scratch instance, rewrites the
 * block for the other side at once, and keeps only the few facts a transaction needs. */
#ifndef PORTICO_HTTP1_T_H
#define PORTICO_HTTP1_T_H

#include <stdbool.h>
#include <stdint.h>

#define PC_MAX_REQUEST_LINE (8 * 1024)
#define PC_MAX_FIELD        (64 * 1024)
#define PC_MAX_HEAD         (128 * 1024)
#define PC_MAX_FIELDS       256
#define PC_MAX_CONN_TOKENS  32

/* Fields the proxy acts on; everything else is PC_HK_OTHER and passes untouched. */
enum pc_hk {
    PC_HK_OTHER,
    PC_HK_HOST,
    PC_HK_CONNECTION,
    PC_HK_CONTENT_LENGTH,
    PC_HK_TRANSFER_ENCODING,
    PC_HK_KEEP_ALIVE,
    PC_HK_PROXY_CONNECTION,
    PC_HK_TE,
    PC_HK_TRAILER,
    PC_HK_UPGRADE,
    PC_HK_EXPECT,
    PC_HK_XFF,
    PC_HK_XFP,
    PC_HK_COOKIE,
    PC_HK_AUTHORIZATION,
    PC_HK_WWW_AUTHENTICATE,
    PC_HK_PERSISTENT_AUTH,
    PC_HK_REFERER,
    PC_HK_USER_AGENT,
};

struct pc_span {
    uint32_t off, len;
};

struct pc_field {
    struct pc_span name, value; /* value without surrounding whitespace */
    uint8_t kind;               /* enum pc_hk */
    bool drop;                  /* hop-by-hop or named in Connection: never forwarded */
};

/* Incremental search for the end of a header block, enforcing the size limits on the way so
 * that a slow or huge header costs O(bytes) in total, not O(bytes^2). */
struct pc_hscan {
    uint32_t pos;        /* bytes examined */
    uint32_t line_start; /* offset of the current line */
    uint32_t lead;       /* bytes of empty lines skipped before a request line */
};

/* Empty lines ignored before a request line (RFC 9112 §2.2: a server SHOULD ignore at least
 * one; old clients send a CRLF after a POST body). More is a bad request. */
#define PC_MAX_LEAD_LINES 4

struct pc_head {
    const char *base; /* the header block; valid only while it is being processed */
    uint32_t len;     /* through the empty line */
    bool request;
    uint8_t version; /* 10 or 11 */

    struct pc_span method, target; /* request line */
    int status;                    /* status line */
    struct pc_span reason;

    unsigned nfields;
    struct pc_field f[PC_MAX_FIELDS];

    /* Derived while parsing. */
    int host;                 /* index of Host or -1 */
    struct pc_span authority; /* absolute-form target: its authority (len 0 otherwise) */
    struct pc_span path;      /* the target in origin-form (absolute-form stripped) */
    bool has_cl, chunked;
    uint64_t content_length;
    bool conn_close, conn_keepalive, conn_upgrade;
    bool expect_continue;
    bool has_xff;
    bool has_auth; /* an Authorization, WWW-Authenticate or Persistent-Auth field:
                    * whether it binds the connection is proxy/auth.c's call */
    int upgrade;   /* index of Upgrade or -1 */
};

#endif

/* txn-t.h — one request and its response (functions: proxy/txn.h).
 *
 * A transaction does not know what carries it to the client: an HTTP/1 connection
 * (session.c) embeds one and runs one at a time, an HTTP/2 connection will run one per stream.
 * It reads request bytes from, and writes response bytes to, the client side it was given
 * (struct pc_txn_client), and owns everything about the member side: which member, retries,
 * the member connection serving it. */
#ifndef PORTICO_TXN_T_H
#define PORTICO_TXN_T_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/list.h"
#include "common/out-t.h"
#include "http/body-t.h"
#include "http/chunked-t.h"

struct pc_txn;
struct pc_upconn;
struct pc_guard_attempt;
struct pc_name;

/* What moved on the member side, for the client side to act on. */
enum pc_txn_event {
    PC_TXN_PROGRESS, /* bytes moved or a state changed: drive the transaction */
    PC_TXN_PIN_LOST, /* an idle pinned member connection of the client closed */
};

/* The client side of a transaction: how it reaches the client. Each function that can end
 * the client side returns -1 when it did (the transaction is gone with it). */
struct pc_txn_client_ops {
    /* Writes the queued response bytes (*t->resp) to the client: 1 all written, 0 some
     * pending, -1 closed. */
    int (*flush)(struct pc_txn *t);
    /* Reads more request bytes into *t->in: > 0 bytes read, 0 none for now, -1 closed (the
     * client went away: it closes). */
    ssize_t (*read)(struct pc_txn *t);
    /* Answers STATUS of the proxy's own (no response has begun) and ends the transaction;
     * the client connection closes after it when CLOSE. 0, or -1 closed. */
    int (*local)(struct pc_txn *t, int status, bool close);
    /* Ends the client side at once: a response cannot be completed. */
    void (*abort)(struct pc_txn *t);
    /* Something happened on the member side. */
    void (*event)(struct pc_txn *t, enum pc_txn_event ev);
};

struct pc_txn {
    /* The client side: set once by what carries the transaction, kept by pc_txn_reset. */
    const struct pc_txn_client_ops *ops;
    struct pc_out *resp;   /* response bytes for the client */
    struct pc_buf **in;    /* request bytes from the client after the head (body, tunnel) */
    struct pc_list *pins;  /* member connections the client connection authenticated
                            * (NULL: it cannot keep any, connection-bound auth is refused) */
    const char *client_ip; /* the client as text (balancing by address, logs) */
    bool up_tls;           /* members are reached over TLS (the HTTPS listener) */
    bool h2;               /* an HTTP/2 stream (proxy/h2.c): bodies go to it without framing,
                            * trailer sections are kept (t->trailers, and a chunked request
                            * body's on to the member) */

    /* Per request: everything from here to lg starts at zero (pc_txn_reset). */
    struct pc_upconn *up; /* the member connection serving it, NULL when none */
    const struct pc_name *name;
    unsigned pool_idx;
    int member_idx;                  /* last member tried, -1 when none */
    uint64_t tried;                  /* members tried for this request (bit per index, modulo 64) */
    enum pc_body_mode body;          /* how the request body goes upstream */
    uint64_t body_left;              /* PC_BODY_RAW: bytes of the body still to come */
    struct pc_chunked chunk;         /* a chunked request body (llhttp) */
    struct pc_buf *reqhead;          /* the rewritten header block until a connection takes it, and
                                      * kept after that while resend_ok */
    struct pc_buf *trailers;         /* an HTTP/2 stream: the trailer section of the member's
                                      * chunked response once complete, NULL when none */
    int status;                      /* status sent to the client */
    int up_status;                   /* status received from the pool, 0 if none */
    uint64_t bytes_out;              /* body and header bytes sent to the client */
    uint64_t bytes_in;               /* bytes received from the client */
    double t_start;                  /* first byte of the request */
    double last_act;                 /* last I/O of the transaction on either side */
    uint32_t cookie_id;              /* the member MS-WSMAN named, when has_cookie */
    struct pc_guard_attempt *signin; /* a password attempt (guard.c), NULL when it is none */
    double hold_until; /* a sign-in failure: nothing goes to the client before (guard.c) */

    /* Progress. */
    bool req_done;   /* the request, body included, went to the member (or nowhere) */
    bool resp_done;  /* the final response is complete (queued for the client) */
    bool resp_begun; /* response bytes went to the client: no clean error any more */
    bool resend_ok;  /* the request can be replayed on another connection */
    bool logged;     /* its access log line is written */
    /* What the request is. */
    bool expect_continue;
    bool head_req;    /* HEAD: the response has no body */
    bool client_10;   /* HTTP/1.0 client */
    bool auth_req;    /* the request carries connection-bound credentials (proxy/auth.c) */
    bool upgrade_req; /* Upgrade: websocket requested */
    bool has_cookie;  /* the request named a member in MS-WSMAN */
    /* What it asks of the client side. */
    bool set_cookie;  /* the response must (re)set MS-WSMAN */
    bool close_after; /* close the client connection after this response */
    bool tunnel;      /* after a 101: bytes flow both ways untouched */
    bool discard_in;  /* the pool stopped taking the request body: drop what still comes */

    /* The request's Host (the name it is routed by) and what the access log needs, copied
     * because the header block is not kept: lengths within lg, in order (pc_txn_host). */
    uint16_t lg_method, lg_host, lg_path, lg_referer, lg_ua;
    char lg[640];
};

#endif

/* proxy-t.h — per-connection state of the data path.
 *
 * A session is one HTTP/1 client connection and the transaction in progress on it (txn-t.h);
 * an upconn is one connection to a pool member, serving at most one transaction at a time and
 * parked in its member's idle list between requests. Both are small and hold no buffer while idle:
 * buffers come from the free list when bytes arrive and go back when drained. */
#ifndef PORTICO_PROXY_T_H
#define PORTICO_PROXY_T_H

#include <ev.h>
#include <llhttp.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "config/config-t.h"
#include "common/out-t.h"
#include "core/listener-t.h"
#include "http/body-t.h"
#include "http/chunked-t.h"
#include "http/http1-t.h"
#include "proxy/txn-t.h"
#include "tls/rec-t.h"

struct pc_h2conn;

struct pc_upconn {
    int fd;
    struct pc_tlsconn tc; /* SSL bridging (tls/rec-t.h); plain for the pool's HTTP port */
    ev_io io;
    ev_timer timer;
    unsigned pool_idx, member_idx;
    struct pc_txn *t;    /* the transaction it serves (or, pinned, last served), NULL idle */
    struct pc_list link; /* member's idle list, a client's pins, or the free list */
    struct pc_buf *in;
    struct pc_out out;
    struct pc_chunked chunk; /* chunked response bodies */
    struct pc_hscan scan;
    enum pc_body_mode body; /* how the response body goes to the client */
    uint64_t body_left;     /* Content-Length framing: bytes of the body still to come */
    bool chunked_in;        /* the body arrives chunked: llhttp decodes it */
    bool until_close;       /* no length, not chunked: the body ends with the connection */
    bool ka_hdr;            /* the response's version and Connection allow reuse */
    bool connecting;
    bool handshaking; /* TLS handshake with the member in progress */
    uint8_t hs_want;  /* events the handshake waits for */
    bool reused;      /* carried an earlier request: a silent close may be a stale keep-alive */
    bool pinned;      /* NTLM/Negotiate: bound to its client connection for life, never shared */
    bool pin_idle;    /* pinned and between requests (still owned by the client) */
    bool in_head;     /* receiving a response header block */
    bool got_bytes;   /* any byte of the response arrived */
    bool msg_done;    /* the final response is complete */
    bool keepalive;   /* reusable once the response is complete */
    bool rd_wait;     /* nothing to read until the socket says otherwise (saves a recv that
                       * would fail with EAGAIN right after each request is sent) */
    unsigned nreq;
    char *sni; /* TLS name (SNI and verification key), "" for plain HTTP: idle connections are
                * reused only for the same name. Allocated to size: a pending long poll holds
                * its upconn for minutes */
};

enum pc_sess_state {
    PC_S_HANDSHAKE, /* TLS handshake with the client */
    PC_S_IDLE,      /* between requests (keep-alive) */
    PC_S_HEAD,      /* receiving a request header block */
    PC_S_ACTIVE,    /* a transaction is in progress */
    PC_S_SIGNIN,    /* reading a sign-in form whole before anything of it is forwarded
                     * (src/proxy/guard.c, docs/signin.md) */
    PC_S_CLOSING,   /* flushing a last response, then close */
    PC_S_LINGER,    /* response sent and our side shut: discarding what the client still
                     * sends, briefly, so that unread bytes do not turn the close into a RST
                     * that could destroy the response before the client reads it */
    PC_S_H2,        /* HTTP/2 after ALPN chose h2: proxy/h2.c owns the connection */
    PC_S_PROXYHDR,  /* before anything else: reading the PROXY protocol header of a trusted
                     * balancer, or looking at the first byte of an untrusted peer for one
                     * (src/proxy/clientaddr.c) */
};

struct pc_session {
    int fd;
    struct pc_tlsconn tc; /* plain on the HTTP listener (tls/rec-t.h) */
    bool tls; /* accepted on the HTTPS listener (an HTTP/2 stream's view has no tc of its own) */
    ev_io io;
    ev_timer timer;
    uint8_t state;      /* enum pc_sess_state */
    uint8_t kind;       /* enum pc_listener_kind */
    uint8_t hs_want;    /* events the TLS handshake waits for */
    uint8_t cert_idx;   /* server context chosen by SNI */
    char hello_sni[64]; /* SNI as the ClientHello offered it (logs of failed handshakes) */
    struct pc_addr peer;
    char peer_ip[46]; /* textual client address (X-Forwarded-For, access log) */

    struct pc_buf *in; /* client bytes: header block, body, pipelined requests */
    struct pc_out out; /* bytes for the client */
    struct pc_hscan scan;

    struct pc_list pins; /* member connections bound to this client by connection-bound
                          * authentication (one per pool and TLS name, at most
                          * max_pinned_per_client) */
    bool served;         /* a request completed on this connection (keep-alive) */
    struct pc_list link; /* every open session of the worker (to drain them), or the free list */
    double last_act;     /* last I/O of the connection (the transaction keeps its own) */
    double timeout;      /* of the current timer state */

    /* Behind a load balancer (src/proxy/clientaddr.c, docs/configuration.md). Cleared with
     * the rest at the start; pc_session_start then sets each. peer and peer_ip above are the
     * real client once a PROXY header named it; peer_ip is this request's client when a
     * trusted X-Forwarded-For named another. */
    char tcp_ip[46];    /* the TCP peer as text (the balancer, when there is one) */
    char conn_ip[46];   /* the connection's client as text (peer_ip between requests) */
    bool counted;       /* peer counts in max_connections_per_client */
    bool pp_expect;     /* a trusted balancer: its PROXY header must come first */
    bool pp_sniff;      /* an untrusted peer on a PROXY listener over TLS: refuse a header */
    bool pp_used;       /* a PROXY header named the client */
    bool pp_ssl;        /* ... and said the balancer terminated the client's TLS */
    bool xff_trust;     /* the peer is a trusted balancer whose X-Forwarded-For is believed */
    bool xff_used;      /* this request's client came from X-Forwarded-For */
    uint16_t xff_field; /* ... from this field of the header block */
    uint32_t xff_cut;   /* ... whose item starting at this offset of the value is the client */

    struct pc_h2conn *h2; /* PC_S_H2: the HTTP/2 connection (proxy/h2-t.h), else NULL */

    struct pc_txn t; /* the transaction in progress: one at a time (pipelined requests wait
                      * in `in`), last in the struct because its lg is not cleared */
};

#endif

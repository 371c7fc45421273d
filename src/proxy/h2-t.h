/* h2-t.h — an HTTP/2 client connection and its streams (functions: proxy/h2.h,
 * docs/http2.md).
 *
 * The connection is a session (proxy-t.h) in state PC_S_H2 whose socket and TLS h2.c drives
 * with an nghttp2 server session; each stream is one transaction (txn-t.h) without pins. */
#ifndef PORTICO_H2_T_H
#define PORTICO_H2_T_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/list.h"
#include "proxy/h2-head.h"
#include "proxy/proxy-t.h"

struct pc_h2conn;

struct pc_h2_stream {
    struct pc_list link; /* the connection's streams, or the free list */
    struct pc_h2conn *c;
    int32_t id;
    /* The request head as it arrives (RFC 9113 §8.3), rebuilt as HTTP/1.1 by h2-head.c. */
    struct pc_h2_head head;
    uint32_t unacked;     /* DATA bytes taken but not yet given back to the windows (§6.9) */
    struct pc_buf *tr;    /* the request's trailers as HTTP/1.1 lines, for its last chunk */
    struct pc_buf *early; /* DATA read with the head, before it went to request.c */
    bool tr_big;          /* its trailers did not fit (a field's limit): 431 */
    bool head_done;       /* END_HEADERS seen: to request.c at the next step (stream_start) */
    bool started;         /* the head went to request.c */
    bool form;            /* a sign-in form read whole first (request.c returned 2) */
    bool body_end;        /* END_STREAM from the client */
    bool chunked;         /* the body goes upstream chunked (no content-length) */
    bool discard;         /* answered: what the client still sends is dropped */
    bool submitted;       /* the response HEADERS are submitted */
    bool deferred;        /* its DATA provider waits for bytes (NGHTTP2_ERR_DEFERRED) */
    bool done;            /* the transaction is over (logged, member connection released) */
    bool closed;          /* nghttp2 closed the stream: freed by the next sweep */
    bool rst;             /* RST_STREAM submitted */
    double opened;        /* its HEADERS began (timeout_header until the block is complete) */
    /* The request as request.c and the access log see it: a session of one request whose
     * transaction is the stream's (r.t; r.out is t->resp, r.in t->in). Last: r.t.lg is not
     * cleared. */
    struct pc_session r;
};

/* A token bucket of one abuse budget (h2-limits.c): what is left, and when it was counted. */
struct pc_h2_bucket {
    double tokens, at;
};

/* What h2-limits.c counts of one connection's frames (RFC 9113 §10.5). */
struct pc_h2_limits {
    struct pc_h2_bucket resets;   /* streams reset by the client before any response */
    struct pc_h2_bucket settings; /* SETTINGS frames */
    struct pc_h2_bucket pings;    /* PING frames */
    struct pc_h2_bucket empty;    /* DATA frames without data nor END_STREAM */
    unsigned continuations;       /* CONTINUATION frames of the header block being read */
    int32_t last_sid;             /* the highest stream the client opened */
    int calm;                     /* a budget ran out: GOAWAY ENHANCE_YOUR_CALM (why, 0 none) */
    bool goaway_err;              /* a GOAWAY with an error code went out: the end */
};

struct pc_h2conn {
    struct pc_session *s; /* the client connection (socket, TLS, timer) */
    nghttp2_session *ng;
    struct pc_list streams; /* open streams */
    struct pc_list link;    /* the free list */
    unsigned nstreams;
    int busy;      /* inside nghttp2 or the drive loop: no nested send */
    bool again;    /* a stream moved while busy: step them all once more */
    bool draining; /* the shutdown notice sent: GOAWAY follows at goaway_at */
    bool goaway;   /* the final GOAWAY sent: finishes the streams in flight */
    bool dying;    /* the connection is being freed: callbacks do nothing */
    bool creating; /* inside nghttp2_session_server_new3: its frame buffer is allocated */
    bool released; /* idle: the frame buffer's pages given back (h2.c, h2_idle_release) */
    void *fbuf;    /* nghttp2's frame buffer, page-aligned (NULL: not known) */
    size_t fbuf_len;
    double last_act;  /* last I/O on the connection */
    double goaway_at; /* when draining: when the final GOAWAY is due */
    struct pc_h2_limits lim;
};

#endif

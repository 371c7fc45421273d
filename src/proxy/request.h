/* request.h — an HTTP/1 request head: parsing, routing, rewriting, starting its transaction
 * (request.c; docs/architecture.md, "Request header blocks"). */
#ifndef PORTICO_REQUEST_H
#define PORTICO_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/proxy-t.h"

/* The status of the answer to a refused sign-in attempt, shaped by guard.c. */
#define PC_ANSWER_SIGNIN (-1)
/* The request carries connection-bound credentials and its client side cannot keep a member
 * connection (an HTTP/2 stream): the client must retry over HTTP/1.1 (proxy/h2.c). */
#define PC_ANSWER_HTTP11 (-2)

/* What a request gets instead of a transaction: an answer of the proxy's own. */
struct pc_answer {
    int status;
    bool close;      /* the connection closes after it */
    bool rejected;   /* refused before routing (malformed, too large): nothing may be logged
                      * of it but what was parsed */
    const char *loc; /* a redirect's Location (valid until the next call), else NULL */
    size_t loclen;
};

/* The header block of HL bytes at the start of s->in is complete (s->scan found it): parses
 * it, routes it (404, 421, the port-80 redirect), rewrites it for the pool and starts the
 * transaction. Returns 0 when it started, 1 with *A to answer, or 2 when it is a sign-in
 * form whose body (s->t.body_left bytes) must be read whole first (pc_request_resume); in
 * every case the head has been consumed from s->in when it parsed. */
int pc_request_begin(struct pc_session *s, size_t hl, struct pc_answer *a);

/* After 2 from pc_request_begin, the whole body is at the start of s->in: the sign-in
 * defence's verdict, then the transaction starts (0) or *A is answered (1; the body was
 * consumed). */
int pc_request_resume(struct pc_session *s, struct pc_answer *a);

#endif

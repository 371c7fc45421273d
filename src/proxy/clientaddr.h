/* clientaddr.h — the real client address behind a load balancer: the PROXY protocol header and
 * trusted X-Forwarded-For (clientaddr.c; docs/configuration.md, "Behind a load balancer"). */
#ifndef PORTICO_CLIENTADDR_H
#define PORTICO_CLIENTADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http1-t.h"
#include "proxy/proxy-t.h"

/* Sets the session's balancer fields for its peer and listener (s->peer and s->peer_ip are
 * set); true when it must start in PC_S_PROXYHDR. */
bool pc_client_start(struct pc_session *s);
/* PC_S_PROXYHDR: reads the PROXY header of a trusted balancer (or looks at an untrusted TLS
 * peer's first byte). 1: done, the state moved on; 0: wait for the socket; -1: close (logged). */
int pc_client_proxy(struct pc_session *s);
/* PC_S_PROXYHDR timed out: logs it (rate-limited); the caller closes. */
void pc_client_timeout(const struct pc_session *s);
/* The first request bytes P[0, N) of a plain HTTP connection on a PROXY listener: 1 when they
 * are a PROXY header from an untrusted peer (logged; the caller closes), else 0. */
int pc_client_sniff_plain(const struct pc_session *s, const char *p, size_t n);
/* With trust_forwarded_for and a trusted peer: this request's client from the header block
 * H's X-Forwarded-For (s->peer_ip, s->xff_used, and where the rewrite cuts the list). */
void pc_client_from_xff(struct pc_session *s, const struct pc_head *h);
/* The end of a request: peer_ip back to the connection's client. */
void pc_client_reset(struct pc_session *s);
/* The balancer's address for the access log, NULL when the client is the TCP peer. */
const char *pc_client_lb(const struct pc_session *s);

#endif

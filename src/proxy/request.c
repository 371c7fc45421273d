/* request.c — an HTTP/1 request head (see request.h): parsing, routing (404, 421, the port-80
 * redirect), rewriting it for the pool, and starting the transaction. The session reads and
 * scans the head and answers what this file decides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config/config.h"
#include "core/io.h"
#include "core/worker.h"
#include "http/http1.h"
#include "proxy/auth.h"
#include "proxy/clientaddr.h"
#include "proxy/cookie.h"
#include "proxy/guard.h"
#include "proxy/policy.h"
#include "proxy/proxy.h"
#include "proxy/request.h"
#include "proxy/txn.h"
#include "tls/acme.h"
#include "tls/tls.h"

static struct pc_head head; /* scratch: one header block is processed at a time */
static char location[PC_MAX_REQUEST_LINE + 300]; /* a redirect's, until it is answered */

/* The request gets STATUS of the proxy's own; the connection closes after it when CLOSE. */
static int answer(struct pc_answer *a, int status, bool close)
{
    *a = (struct pc_answer){.status = status, .close = close};
    return 1;
}

/* Refused before routing: STATUS, then close. */
static int reject(struct pc_answer *a, int status)
{
    *a = (struct pc_answer){.status = status, .close = true, .rejected = true};
    return 1;
}

/* Copies what the access log needs from the header block H (it is not kept). */
static void lg_copy(struct pc_session *s, const struct pc_head *h, const char *host, size_t hl)
{
    struct pc_span ref = {0, 0}, ua = {0, 0};
    for (unsigned i = 0; i < h->nfields; i++) {
        if (h->f[i].kind == PC_HK_REFERER)
            ref = h->f[i].value;
        else if (h->f[i].kind == PC_HK_USER_AGENT)
            ua = h->f[i].value;
    }
    size_t ml = h->method.len < 24 ? h->method.len : 24;
    hl = hl < 255 ? hl : 255;
    size_t rl = ref.len < 96 ? ref.len : 96, ul = ua.len < 96 ? ua.len : 96;
    size_t room = sizeof(s->t.lg) - ml - hl - rl - ul;
    size_t pl = h->path.len < room ? h->path.len : room;
    char *o = s->t.lg;
    memcpy(o, h->base + h->method.off, ml);
    memcpy(o += ml, host, hl);
    memcpy(o += hl, h->base + h->path.off, pl);
    memcpy(o += pl, h->base + ref.off, rl);
    memcpy(o += rl, h->base + ua.off, ul);
    s->t.lg_method = (uint16_t)ml;
    s->t.lg_host = (uint16_t)hl;
    s->t.lg_path = (uint16_t)pl;
    s->t.lg_referer = (uint16_t)rl;
    s->t.lg_ua = (uint16_t)ul;
}

/* 301 to https://HOST[:port]/PATH?QUERY for names that are redirected from port 80. */
static int redirect(struct pc_session *s, const char *host, size_t hostlen, struct pc_answer *a)
{
    char *loc = location;
    size_t hl = pc_h1_authority_host(host, hostlen);
    int port = pc_w.cfg->https_port;
    int n = snprintf(loc, sizeof(location), "https://%.*s", (int)hl, host);
    if (port && port != 443)
        n += snprintf(loc + n, sizeof(location) - (size_t)n, ":%d", port);
    size_t pl = head.path.len;
    const char *path = head.base + head.path.off;
    if (pl == 0 || path[0] != '/')
        loc[n++] = '/';
    if ((size_t)n + pl >= sizeof(location))
        return answer(a, 414, true);
    memcpy(loc + n, path, pl);
    n += (int)pl;
    answer(a, 301, s->t.body != PC_BODY_NONE);
    a->loc = loc;
    a->loclen = (size_t)n;
    return 1;
}

/* RFC 8555 §8.3: GET /.well-known/acme-challenge/TOKEN of a published name on the port-80
 * listener is the CA checking a challenge the ACME helper published (tls/acme.c): answered
 * here, before the name's http mode (redirect, forward) and never forwarded. True with *A. */
static bool acme_challenge(const struct pc_head *h, struct pc_answer *a)
{
    static const char prefix[] = "/.well-known/acme-challenge/";
    static char keyauth[PC_ACME_KEYAUTH_MAX];
    const size_t pl = sizeof(prefix) - 1;
    const char *path = h->base + h->path.off;
    if (h->path.len <= pl || memcmp(path, prefix, pl) != 0)
        return false;
    size_t n = pc_acme_challenge(path + pl, h->path.len - pl, keyauth, sizeof(keyauth));
    answer(a, n ? 200 : 404, false);
    a->loc = n ? keyauth : NULL; /* a local 200's body (pc_rw_local) */
    a->loclen = n;
    return true;
}

/* The sign-in defence stopped the request before a pool saw it (docs/signin.md). */
static int guard_answer(struct pc_session *s, enum pc_guard_step g, struct pc_answer *a)
{
    bool body = s->t.body != PC_BODY_NONE;
    switch (g) {
    case PC_GUARD_REFUSE:
        return answer(a, PC_ANSWER_SIGNIN, body);
    case PC_GUARD_CHUNKED:
        return answer(a, 411, true);
    case PC_GUARD_TOO_LARGE:
        return answer(a, 413, true);
    default:
        return answer(a, 400, body);
    }
}

int pc_request_resume(struct pc_session *s, struct pc_answer *a)
{
    size_t len = (size_t)s->t.body_left;
    enum pc_guard_step g = pc_guard_body(&s->t, s->in->data + s->in->start, len);
    if (g != PC_GUARD_PASS) {
        /* The form was read and goes nowhere: the connection can serve the next request. */
        s->in->start += len;
        s->t.body = PC_BODY_NONE;
        s->t.body_left = 0;
        s->t.req_done = true;
        return guard_answer(s, g, a);
    }
    if (pc_txn_start(&s->t) < 0)
        return answer(a, 502, true);
    return 0;
}

/* Routes the request to a published name by HOST[0, HOSTLEN) (NULL: none; then by SNI for an
 * HTTP/1.0 request on TLS): 404, 421, the port-80 redirect or an ACME challenge are answered
 * in *A (1), else s->t.name is set (0). */
static int route(struct pc_session *s, const char *host, size_t hostlen, struct pc_answer *a)
{
    const struct pc_config *cfg = pc_w.cfg;
    /* An HTTP/1.0 request without Host is routed by SNI; plain HTTP has none. */
    if (!host && s->tls) {
        host = s->tc.ssl ? SSL_get_servername(s->tc.ssl, TLSEXT_NAMETYPE_host_name)
               : s->tc.hello_sni && s->tc.hello_sni[0] ? s->tc.hello_sni
                                                       : NULL;
        hostlen = host ? strlen(host) : 0;
        /* The handshake refused a bad name already (tls.c); this is the same check, kept
         * where the name is used, so that no other path can bring one here. */
        if (host && !pc_h1_valid_hostname(host, hostlen))
            return answer(a, 400, true);
        if (host)
            lg_copy(s, &head, host, hostlen);
    }
    s->t.name = host ? pc_config_route(cfg, host, hostlen) : NULL;
    if (!s->t.name)
        return answer(a, 404, s->t.body != PC_BODY_NONE);
    if (s->kind == PC_LISTEN_HTTP && cfg->acme.line && acme_challenge(&head, a))
        return 1;
    if (s->tls && !pc_tls_covers(pc_w.tls, s->cert_idx, host, pc_h1_authority_host(host, hostlen)))
        return answer(a, 421, s->t.body != PC_BODY_NONE);
    if (s->kind == PC_LISTEN_HTTP) {
        if (s->t.name->http == PC_HTTP_REDIRECT)
            return redirect(s, host, hostlen, a);
        if (s->t.name->http != PC_HTTP_FORWARD)
            return answer(a, 404, s->t.body != PC_BODY_NONE);
    }
    return 0;
}

int pc_request_begin(struct pc_session *s, size_t hl, struct pc_answer *a)
{
    const struct pc_config *cfg = pc_w.cfg;
    const char *p = s->in->data + s->in->start;
    int rc = pc_h1_parse(p, hl, true, &head);
    if (s->xff_trust && rc == 0)
        pc_client_from_xff(s, &head); /* first: every answer below is this client's */
    if (rc)
        return reject(a, -rc);

    s->t.body = head.chunked                             ? PC_BODY_CHUNK
                : head.has_cl && head.content_length > 0 ? PC_BODY_RAW
                                                         : PC_BODY_NONE;
    /* Framing: Content-Length is counted here, chunked goes through llhttp. */
    s->t.req_done = s->t.body == PC_BODY_NONE;
    s->t.body_left = head.content_length;
    if (s->t.body == PC_BODY_CHUNK && pc_txn_chunked_body(&s->t) < 0)
        return reject(a, 400);
    s->in->start += hl;

    size_t hostlen;
    const char *host = pc_h1_request_authority(&head, &hostlen);
    lg_copy(s, &head, host ? host : "-", host ? hostlen : 1);
    s->t.client_10 = head.version == 10;
    s->t.head_req = pc_h1_eq(&head, head.method, "head");
    s->t.auth_req = pc_auth_binds(&head);
    /* No pins: nowhere to keep the authenticated member connection (an HTTP/2 stream). */
    if (s->t.auth_req && !s->t.pins)
        return answer(a, PC_ANSWER_HTTP11, s->t.body != PC_BODY_NONE);
    /* Only WebSocket may upgrade: HTTP/2 (h2c) is not ours to offer. */
    s->t.upgrade_req = head.upgrade >= 0 && head.conn_upgrade && s->t.body == PC_BODY_NONE &&
                       head.f[head.upgrade].value.len >= 9 &&
                       strncasecmp(p + head.f[head.upgrade].value.off, "websocket", 9) == 0;
    s->t.expect_continue = head.expect_continue;
    s->t.close_after = head.conn_close || (s->t.client_10 && !head.conn_keepalive) || pc_w.draining;

    if (route(s, host, hostlen, a))
        return 1;
    int deny =
        pc_policy_check(cfg, s->t.name, head.base + head.path.off, head.path.len, s->peer_ip);
    if (deny)
        return answer(a, deny, s->t.body != PC_BODY_NONE);
    s->t.pool_idx = (unsigned)(s->t.name->pool - cfg->pools);
    s->t.has_cookie =
        s->t.name->pool->affinity == PC_AFFINITY_COOKIE && pc_cookie_wsman(&head, &s->t.cookie_id);

    enum pc_guard_step g =
        pc_guard_request(&s->t, &head, &s->peer, s->xff_used ? s->peer_ip : NULL);
    if (g >= PC_GUARD_REFUSE)
        return guard_answer(s, g, a);

    struct pc_out o = {0};
    if (!pc_rw_request(&o, &head, s)) {
        pc_out_reset(&o);
        return answer(a, 500, true);
    }
    s->t.reqhead = o.ob;
    if (g == PC_GUARD_BODY)
        return 2;
    if (pc_txn_start(&s->t) < 0)
        return answer(a, 502, s->t.body != PC_BODY_NONE);
    return 0;
}

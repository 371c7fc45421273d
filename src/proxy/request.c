/* request.c — a request head: reading and scanning it, parsing, routing (404, 421, the
 * port-80 redirect), rewriting it for the pool, and starting the transaction
 * (docs/architecture.md, "Request header blocks"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config/config.h"
#include "core/io.h"
#include "core/worker.h"
#include "http/chunked.h"
#include "http/http1.h"
#include "proxy/auth.h"
#include "proxy/clientaddr.h"
#include "proxy/cookie.h"
#include "proxy/proxy.h"
#include "proxy/session-int.h"
#include "tls/tls.h"

static struct pc_head head; /* scratch: one header block is processed at a time */

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
static int sess_redirect(struct pc_session *s, const char *host, size_t hostlen)
{
    char loc[PC_MAX_REQUEST_LINE + 300];
    size_t hl = pc_h1_authority_host(host, hostlen);
    int port = pc_w.cfg->https_port;
    int n = snprintf(loc, sizeof(loc), "https://%.*s", (int)hl, host);
    if (port && port != 443)
        n += snprintf(loc + n, sizeof(loc) - (size_t)n, ":%d", port);
    size_t pl = head.path.len;
    const char *path = head.base + head.path.off;
    if (pl == 0 || path[0] != '/')
        loc[n++] = '/';
    if ((size_t)n + pl >= sizeof(loc))
        return pc_sess_local(s, 414, NULL, 0, true);
    memcpy(loc + n, path, pl);
    n += (int)pl;
    return pc_sess_local(s, 301, loc, (size_t)n, s->t.body != PC_BODY_NONE);
}

/* The header block of HL bytes at the start of s->in is complete: check, route, rewrite,
 * and start the transaction. */
static int sess_begin(struct pc_session *s, size_t hl)
{
    const struct pc_config *cfg = pc_w.cfg;
    const char *p = s->in->data + s->in->start;
    int rc = pc_h1_parse(p, hl, true, &head);
    if (s->xff_trust && rc == 0)
        pc_client_from_xff(s, &head); /* first: every answer below is this client's */
    if (rc)
        return pc_sess_reject(s, -rc);

    s->t.body = head.chunked                             ? PC_BODY_CHUNK
                : head.has_cl && head.content_length > 0 ? PC_BODY_RAW
                                                         : PC_BODY_NONE;
    /* Framing: Content-Length is counted here, chunked goes through llhttp. */
    s->t.req_done = s->t.body == PC_BODY_NONE;
    s->t.body_left = head.content_length;
    if (s->t.body == PC_BODY_CHUNK && pc_chunked_begin(&s->chunk, true) < 0)
        return pc_sess_reject(s, 400);
    s->in->start += hl;

    size_t hostlen;
    const char *host = pc_h1_request_authority(&head, &hostlen);
    lg_copy(s, &head, host ? host : "-", host ? hostlen : 1);
    s->t.client_10 = head.version == 10;
    s->t.head_req = pc_h1_eq(&head, head.method, "head");
    s->t.auth_req = pc_auth_binds(&head);
    /* Only WebSocket may upgrade: HTTP/2 (h2c) is not ours to offer. */
    s->t.upgrade_req = head.upgrade >= 0 && head.conn_upgrade && s->t.body == PC_BODY_NONE &&
                       head.f[head.upgrade].value.len >= 9 &&
                       strncasecmp(p + head.f[head.upgrade].value.off, "websocket", 9) == 0;
    s->t.expect_continue = head.expect_continue;
    s->close_after = head.conn_close || (s->t.client_10 && !head.conn_keepalive) || pc_w.draining;
    s->state = PC_S_ACTIVE;
    s->t.member_idx = -1;
    pc_sess_arm(s, pc_w.cfg->timeout_idle);

    /* An HTTP/1.0 request without Host is routed by SNI; plain HTTP has none. */
    if (!host && s->ssl) {
        host = SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);
        hostlen = host ? strlen(host) : 0;
        /* The handshake refused a bad name already (tls.c); this is the same check, kept
         * where the name is used, so that no other path can bring one here. */
        if (host && !pc_h1_valid_hostname(host, hostlen))
            return pc_sess_local(s, 400, NULL, 0, true);
        if (host)
            lg_copy(s, &head, host, hostlen);
    }
    s->t.name = host ? pc_config_route(cfg, host, hostlen) : NULL;
    if (!s->t.name)
        return pc_sess_local(s, 404, NULL, 0, s->t.body != PC_BODY_NONE);
    if (s->ssl && !pc_tls_covers(pc_w.tls, s->cert_idx, host, pc_h1_authority_host(host, hostlen)))
        return pc_sess_local(s, 421, NULL, 0, s->t.body != PC_BODY_NONE);
    if (s->kind == PC_LISTEN_HTTP) {
        if (s->t.name->http == PC_HTTP_REDIRECT)
            return sess_redirect(s, host, hostlen);
        if (s->t.name->http != PC_HTTP_FORWARD)
            return pc_sess_local(s, 404, NULL, 0, s->t.body != PC_BODY_NONE);
    }
    s->t.pool_idx = (unsigned)(s->t.name->pool - cfg->pools);
    s->t.has_cookie =
        s->t.name->pool->affinity == PC_AFFINITY_COOKIE && pc_cookie_wsman(&head, &s->t.cookie_id);

    struct pc_out o = {0};
    if (!pc_rw_request(&o, &head, s)) {
        pc_out_reset(&o);
        return pc_sess_local(s, 500, NULL, 0, true);
    }
    s->t.reqhead = o.ob;
    s->t.tried = 0;
    if (pc_upstream_attach(s) < 0)
        return pc_sess_local(s, 502, NULL, 0, s->t.body != PC_BODY_NONE);
    return 0;
}

/* Reads and scans a request header block. Returns -1 if the session closed. */
int pc_request_read_head(struct pc_session *s)
{
    for (;;) {
        if (s->in && pc_buf_len(s->in)) {
            if (s->state == PC_S_IDLE) {
                s->state = PC_S_HEAD;
                s->t.t_start = ev_now(pc_w.loop);
                /* timeout_header counts from the accept (or the handshake) for a connection's
                 * first request, whose timer already runs: a late first byte must not buy a
                 * slow client a second period. Later requests count from their first byte. */
                if (s->served)
                    pc_sess_arm(s, pc_w.cfg->timeout_header);
            }
            struct pc_buf *b = s->in;
            if (pc_client_sniff_plain(s, b->data + b->start, pc_buf_len(b))) {
                pc_sess_close(s); /* a protocol error, not a request: no answer */
                return -1;
            }
            int r = pc_h1_scan(&s->scan, b->data + b->start, pc_buf_len(b), true);
            if (r < 0)
                return pc_sess_reject(s, -r);
            if (r > 0) {
                b->start += s->scan.lead; /* empty lines before the request line */
                return sess_begin(s, (size_t)r - s->scan.lead);
            }
            if (pc_buf_room(b) == 0) {
                if (b->start > 0) {
                    pc_buf_compact(b);
                } else {
                    struct pc_buf *nb = pc_buf_grow(b, b->cap * 2);
                    if (!nb)
                        return pc_sess_reject(s, 431);
                    s->in = nb;
                }
            }
        }
        ssize_t n = pc_io_read(s->fd, s->ssl, &s->in);
        if (n > 0) {
            s->t.bytes_in += (uint64_t)n;
            continue;
        }
        if (n == PC_IO_AGAIN)
            return 0;
        pc_sess_close(s); /* end of stream or error between requests: nothing to answer */
        return -1;
    }
}

/* rewrite.c — header blocks for the other side: the request as the pool sees it, the response
 * as the client sees it, and the proxy's own short answers.
 *
 * Fields are copied in their original order with hop-by-hop ones (and every field named in
 * Connection) left out; the proxy adds only framing, Connection and X-Forwarded-*. */
#include <stdio.h>
#include <string.h>

#include "core/io.h"
#include "core/worker.h"
#include "http/http1.h"
#include "proxy/proxy.h"
#include "proxy/txn.h"
#include "tls/acme-t.h"

struct wr {
    char *p, *start;
};

static inline void put(struct wr *w, const void *s, size_t n)
{
    memcpy(w->p, s, n);
    w->p += n;
}

#define PUTLIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_fields(struct wr *w, const struct pc_head *h)
{
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct pc_field *f = &h->f[i];
        if (f->drop)
            continue;
        put(w, h->base + f->name.off, f->name.len);
        PUTLIT(w, ": ");
        put(w, h->base + f->value.off, f->value.len);
        PUTLIT(w, "\r\n");
    }
}

/* Room for the header block H rewritten with EXTRA bytes of additions. */
static char *reserve(struct pc_out *o, const struct pc_head *h, size_t extra)
{
    return pc_out_reserve(o, h->len + extra + 4 * h->nfields);
}

bool pc_rw_request(struct pc_out *o, const struct pc_head *h, struct pc_session *s)
{
    size_t xff = 0;
    for (unsigned i = 0; i < h->nfields; i++)
        if (h->f[i].kind == PC_HK_XFF)
            xff += h->f[i].value.len + 2;
    size_t rhl;
    const char *rh = pc_txn_host(&s->t, &rhl); /* the name it was routed by */
    char *base = reserve(o, h, xff + h->authority.len + rhl + 192);
    if (!base)
        return false;
    struct wr w = {base, base};
    put(&w, h->base + h->method.off, h->method.len);
    PUTLIT(&w, " ");
    if (h->path.len == 0 || h->base[h->path.off] != '/')
        PUTLIT(&w, "/");
    put(&w, h->base + h->path.off, h->path.len);
    PUTLIT(&w, " HTTP/1.1\r\n");
    if (h->host < 0 && (h->authority.len || rhl)) {
        /* HTTP/1.0 without Host: the pool still needs one: the absolute-form authority, or
         * the name the request was routed by (SNI). */
        PUTLIT(&w, "Host: ");
        if (h->authority.len)
            put(&w, h->base + h->authority.off, h->authority.len);
        else
            put(&w, rh, rhl);
        PUTLIT(&w, "\r\n");
    }
    put_fields(&w, h);
    PUTLIT(&w, "X-Forwarded-For: ");
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct pc_field *f = &h->f[i];
        if (f->kind != PC_HK_XFF || f->value.len == 0)
            continue;
        if (s->xff_used && i >= s->xff_field) {
            /* A trusted balancer's list: what is left of the client it names, then the client
             * (peer_ip), so that the pool's right-most entry is the real client and not the
             * balancers in between (clientaddr.c). */
            if (i == s->xff_field)
                put(&w, h->base + f->value.off, s->xff_cut);
            break;
        }
        put(&w, h->base + f->value.off, f->value.len);
        PUTLIT(&w, ", ");
    }
    put(&w, s->peer_ip, strlen(s->peer_ip));
    /* The PROXY header's SSL TLV: the balancer terminated the client's TLS. */
    if (s->kind == PC_LISTEN_HTTPS || s->pp_ssl)
        PUTLIT(&w, "\r\nX-Forwarded-Proto: https\r\n");
    else
        PUTLIT(&w, "\r\nX-Forwarded-Proto: http\r\n");
    if (h->chunked)
        PUTLIT(&w, "Transfer-Encoding: chunked\r\n");
    if (s->t.upgrade_req) {
        PUTLIT(&w, "Upgrade: ");
        put(&w, h->base + h->f[h->upgrade].value.off, h->f[h->upgrade].value.len);
        PUTLIT(&w, "\r\nConnection: Upgrade\r\n");
    }
    PUTLIT(&w, "\r\n");
    o->ob->end += (size_t)(w.p - w.start);
    return true;
}

bool pc_rw_response(struct pc_out *o, const struct pc_head *h, const struct pc_txn *t,
                    enum pc_body_mode mode)
{
    char *base = reserve(o, h, 160);
    if (!base)
        return false;
    struct wr w = {base, base};
    /* We speak HTTP/1.1 whatever the pool's version (RFC 9110 §6.2). */
    PUTLIT(&w, "HTTP/1.1 ");
    /* The parser took exactly three digits: no printf on the hot path. */
    *w.p++ = (char)('0' + h->status / 100);
    *w.p++ = (char)('0' + h->status / 10 % 10);
    *w.p++ = (char)('0' + h->status % 10);
    *w.p++ = ' ';
    put(&w, h->base + h->reason.off, h->reason.len);
    PUTLIT(&w, "\r\n");
    put_fields(&w, h);
    if (h->status == 101 && h->upgrade >= 0) {
        PUTLIT(&w, "Upgrade: ");
        put(&w, h->base + h->f[h->upgrade].value.off, h->f[h->upgrade].value.len);
        PUTLIT(&w, "\r\nConnection: Upgrade\r\n");
    }
    if (h->status >= 200 && t->set_cookie && t->member_idx >= 0) {
        /* Cookie affinity: an opaque, stable hash of the member (never its address), no
         * HttpOnly (the Lync web clients read it), no expiry (a session cookie). */
        const struct pc_pool *pool = &pc_w.cfg->pools[t->pool_idx];
        w.p += sprintf(w.p, "Set-Cookie: MS-WSMAN=%08x; Path=/\r\n",
                       (unsigned)pool->members[t->member_idx].id);
    }
    if (h->status >= 200) {
        if (mode == PC_BODY_CHUNK)
            PUTLIT(&w, "Transfer-Encoding: chunked\r\n");
        if (t->close_after)
            PUTLIT(&w, "Connection: close\r\n");
        else if (t->client_10)
            PUTLIT(&w, "Connection: keep-alive\r\n");
    }
    PUTLIT(&w, "\r\n");
    o->ob->end += (size_t)(w.p - w.start);
    return true;
}

const char *pc_rw_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 421:
        return "Misdirected Request";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

bool pc_rw_local(struct pc_out *o, int status, const char *location, size_t loclen, bool close)
{
    char body[PC_ACME_KEYAUTH_MAX];
    int bl = snprintf(body, sizeof(body), "%d %s\n", status, pc_rw_reason(status));
    if (status == 200 && location) { /* an ACME key authorization (request.c), as the body */
        bl = (int)(loclen < sizeof(body) ? loclen : sizeof(body) - 1);
        memcpy(body, location, (size_t)bl);
        body[bl] = '\0';
        location = NULL;
    }
    char *p = pc_out_reserve(o, loclen + 512);
    if (!p)
        return false;
    int n = sprintf(p, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n",
                    status, pc_rw_reason(status), bl);
    if (status == 405)
        n += sprintf(p + n, "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n");
    if (location) {
        memcpy(p + n, "Location: ", 10);
        memcpy(p + n + 10, location, loclen);
        memcpy(p + n + 10 + loclen, "\r\n", 2);
        n += (int)loclen + 12;
    }
    n += sprintf(p + n, "%s\r\n%s", close ? "Connection: close\r\n" : "", body);
    o->ob->end += (size_t)n;
    return true;
}

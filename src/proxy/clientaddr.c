/* clientaddr.c — the real client address behind a load balancer: the PROXY protocol header a
 * trusted balancer sends first (versions 1 and 2, parsed by proxyproto.c), and X-Forwarded-For
 * from a trusted balancer in HTTP mode (docs/configuration.md, "Behind a load balancer").
 *
 * The header is read before the TLS handshake, and read exactly: its bytes are peeked, its
 * length found, and only that many taken from the socket, so that OpenSSL (or the HTTP
 * parser) then sees the client's stream from its first byte. Whatever portico learns here
 * becomes s->peer and s->peer_ip, which the access log, X-Forwarded-For, source affinity,
 * max_connections_per_client and every log line use. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/net.h"
#include "config/config.h"
#include "core/worker.h"
#include "proxy/clientaddr.h"
#include "proxy/proxyproto.h"

static unsigned listener_bit(const struct pc_session *s)
{
    return s->kind == PC_LISTEN_HTTPS ? PC_PP_HTTPS : s->kind == PC_LISTEN_HTTP ? PC_PP_HTTP : 0;
}

bool pc_client_start(struct pc_session *s)
{
    const struct pc_config *cfg = pc_w.cfg;
    bool pp = ((unsigned)cfg->proxy_protocol & listener_bit(s)) != 0;
    bool trusted = cfg->ntrusted && pc_config_trusted(cfg, &s->peer);
    snprintf(s->tcp_ip, sizeof s->tcp_ip, "%s", s->peer_ip);
    snprintf(s->conn_ip, sizeof s->conn_ip, "%s", s->peer_ip);
    s->counted = !pc_worker_lb_peer(&s->peer, (enum pc_listener_kind)s->kind);
    s->pp_expect = pp && trusted;
    /* Over TLS the first byte tells: a record starts with 0x16, a PROXY header with 'P' or CR.
     * On plain HTTP the request head is looked at instead (pc_client_sniff_plain). */
    s->pp_sniff = pp && !trusted && s->kind == PC_LISTEN_HTTPS;
    s->pp_used = s->pp_ssl = s->xff_used = false;
    s->xff_trust = cfg->trust_forwarded_for && trusted;
    s->xff_field = 0;
    s->xff_cut = 0;
    return s->pp_expect || s->pp_sniff;
}

static void refuse_untrusted(const struct pc_session *s)
{
    static struct pc_ratelimit rl;
    pc_log_limited(&rl, PC_LOG_WARN,
                   "client %s: PROXY protocol header from an address not in trusted_proxies, "
                   "refused",
                   s->tcp_ip);
}

int pc_client_sniff_plain(const struct pc_session *s, const char *p, size_t n)
{
    if (s->served || s->pp_expect || !((unsigned)pc_w.cfg->proxy_protocol & PC_PP_HTTP))
        return 0;
    if (pc_pp_sniff((const uint8_t *)p, n) != 1)
        return 0;
    refuse_untrusted(s);
    return 1;
}

/* The first byte of an untrusted TLS peer. */
static int sniff_tls(struct pc_session *s)
{
    char c;
    ssize_t n = recv(s->fd, &c, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1; /* gone before its first byte: nothing to log */
    if (c == 'P' || c == '\r') {
        refuse_untrusted(s);
        return -1;
    }
    s->state = PC_S_HANDSHAKE; /* its timer, timeout_handshake, runs since the accept */
    s->hs_want = EV_READ;
    return 1;
}

static void proxy_error(const struct pc_session *s, const char *why)
{
    static struct pc_ratelimit rl;
    pc_log_limited(&rl, PC_LOG_WARN, "balancer %s: bad PROXY protocol header: %s", s->tcp_ip, why);
}

/* A complete header: the client it names becomes the connection's. */
static int proxy_apply(struct pc_session *s, const struct pc_pp_info *pp)
{
    if (!pp->local) {
        /* Counted under the client now, refused if it is over its share. */
        if (!pc_worker_client_admit(&pp->src))
            return -1;
        s->peer = pp->src;
        s->counted = true;
        pc_net_addr_text(&s->peer, s->peer_ip, sizeof s->peer_ip);
        snprintf(s->conn_ip, sizeof s->conn_ip, "%s", s->peer_ip);
        s->pp_used = true;
        s->pp_ssl = pp->ssl;
        /* A chain of balancers: X-Forwarded-For is believed only from a trusted one. */
        s->xff_trust = pc_w.cfg->trust_forwarded_for && pc_config_trusted(pc_w.cfg, &s->peer);
    }
    /* LOCAL (the balancer's own health check): served as the balancer, counted under no one. */
    pc_buf_put(s->in);
    s->in = NULL;
    if (s->tls) {
        s->state = PC_S_HANDSHAKE;
        s->hs_want = EV_READ; /* the session arms timeout_handshake from now */
    } else {
        s->state = PC_S_IDLE; /* timeout_header still counts from the accept */
    }
    return 1;
}

int pc_client_proxy(struct pc_session *s)
{
    if (s->pp_sniff)
        return sniff_tls(s);
    if (!s->in && !(s->in = pc_buf_get_cap(PC_PP_MAX)))
        return -1;
    struct pc_buf *b = s->in;
    for (int round = 0; round < 4; round++) {
        size_t have = pc_buf_len(b), room = PC_PP_MAX - have;
        char *at = b->data + b->end;
        ssize_t n = recv(s->fd, at, room, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        if (n <= 0) {
            if (n < 0 || have)
                proxy_error(s, n < 0 ? strerror(errno) : "connection closed inside the header");
            return -1;
        }
        struct pc_pp_info pp;
        int r = pc_pp_parse((const uint8_t *)b->data + b->start, have + (size_t)n, &pp);
        if (r < 0) {
            proxy_error(s, pc_pp_strerror(r));
            return -1;
        }
        /* Take exactly the header's bytes; when it is not complete, every byte is its own. */
        size_t want = r > 0 ? (size_t)r - have : (size_t)n;
        ssize_t got = recv(s->fd, at, want, 0);
        if (got != (ssize_t)want) {
            proxy_error(s, got < 0 ? strerror(errno) : "short read");
            return -1;
        }
        b->end += want;
        s->t.bytes_in += want;
        if (r > 0)
            return proxy_apply(s, &pp);
        if (pc_buf_len(b) >= PC_PP_MAX) {
            proxy_error(s, "too long");
            return -1;
        }
    }
    return 0; /* more rounds at the next readiness */
}

void pc_client_timeout(const struct pc_session *s)
{
    if (s->pp_sniff)
        return; /* a silent TLS peer, as without the PROXY protocol */
    static struct pc_ratelimit rl;
    pc_log_limited(&rl, PC_LOG_INFO, "balancer %s: no complete PROXY protocol header within %.0f s",
                   s->tcp_ip, pc_w.cfg->timeout_header);
}

/* ---- X-Forwarded-For from a trusted balancer -------------------------------------------- */

/* The item that ends at VALUE[end) (exclusive), without OWS: its start in *START. */
static size_t item_before(const char *v, size_t end, size_t *start)
{
    while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t'))
        end--;
    size_t b = end;
    while (b > 0 && v[b - 1] != ',')
        b--;
    size_t s0 = b;
    while (s0 < end && (v[s0] == ' ' || v[s0] == '\t'))
        s0++;
    *start = s0;
    return end - s0;
}

/* Walks the list right to left, across the fields from the last: the client is the right-most
 * address that is not a trusted balancer (RFC 7239 §5.2 describes the same chain for
 * Forwarded; nginx's real_ip_recursive and HAProxy read X-Forwarded-For so). An item that is
 * no address stops the walk: the hop that wrote it is as far as trust reaches. */
void pc_client_from_xff(struct pc_session *s, const struct pc_head *h)
{
    const struct pc_config *cfg = pc_w.cfg;
    struct pc_addr a, found = {0};
    bool have = false;
    unsigned hops = 0;
    for (unsigned i = h->nfields; i-- > 0;) {
        const struct pc_field *f = &h->f[i];
        if (f->kind != PC_HK_XFF)
            continue;
        const char *v = h->base + f->value.off;
        size_t end = f->value.len;
        while (end > 0 && hops++ < 64) { /* bounded: 64 hops is more than any real chain */
            size_t st, len = item_before(v, end, &st);
            if (len == 0 || !pc_config_parse_ip(v + st, len, &a))
                goto done;
            found = a;
            have = true;
            s->xff_field = (uint16_t)i;
            s->xff_cut = (uint32_t)st;
            if (!pc_config_trusted(cfg, &a))
                goto done;
            while (st > 0 && v[st - 1] != ',')
                st--;
            end = st > 0 ? st - 1 : 0; /* before the comma */
        }
    }
done:
    if (!have)
        return; /* no usable X-Forwarded-For: the balancer is the client */
    s->peer_ip[0] = '\0';
    pc_net_addr_text(&found, s->peer_ip, sizeof s->peer_ip);
    s->xff_used = true;
}

void pc_client_reset(struct pc_session *s)
{
    if (!s->xff_used)
        return;
    s->xff_used = false;
    snprintf(s->peer_ip, sizeof s->peer_ip, "%s", s->conn_ip);
}

const char *pc_client_lb(const struct pc_session *s)
{
    return s->pp_used || s->xff_used ? s->tcp_ip : NULL;
}

/* health.c — active health checks of pool members (per worker).
 *
 * Every health_interval seconds each member is checked from the internal address: a TLS
 * handshake with certificate verification on its HTTPS port (the name checked is verify_name,
 * else the pool's first published name), then a TCP connection to its HTTP port. health_rise
 * successes in a row mark a down member up, health_fall failures mark an up member down;
 * transitions are logged. Members start up, so that a fresh start serves at once; passive
 * mark-downs (balance.c) act in between checks and a success clears them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/metrics.h"
#include "common/log.h"
#include "common/net.h"
#include "common/util.h"
#include "core/worker.h"
#include "proxy/balance.h"
#include "proxy/proxy.h"
#include "tls/tls.h"

enum hc_stage { HC_IDLE, HC_TLS_CONNECT, HC_TLS_HANDSHAKE, HC_HTTP_CONNECT };

struct hc {
    ev_timer timer; /* interval between checks, then the deadline of a check */
    ev_io io;
    int fd;
    SSL *ssl;
    unsigned pool, member;
    enum hc_stage stage;
    unsigned ok, fail; /* consecutive results */
    bool down;         /* the verdict, reported to balance.c */
};

static struct hc *checks;
static size_t nchecks;

static const struct pc_pool *hc_pool(const struct hc *c)
{
    return &pc_w.cfg->pools[c->pool];
}

static const struct pc_member *hc_member(const struct hc *c)
{
    return &hc_pool(c)->members[c->member];
}

static void hc_cleanup(struct hc *c)
{
    ev_io_stop(pc_w.loop, &c->io);
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static void hc_schedule(struct hc *c)
{
    c->stage = HC_IDLE;
    ev_timer_stop(pc_w.loop, &c->timer);
    ev_timer_set(&c->timer, hc_pool(c)->health_interval, 0.);
    ev_timer_start(pc_w.loop, &c->timer);
}

static void hc_result(struct hc *c, bool ok, const char *why)
{
    const struct pc_pool *pool = hc_pool(c);
    hc_cleanup(c);
    if (ok) {
        c->fail = 0;
        c->ok++;
        if (c->down && c->ok >= (unsigned)pool->health_rise) {
            c->down = false;
            pc_metrics_member_up(c->pool, c->member, true);
            pc_info("pool %s: member %s is up (health check, worker %d)", pool->name,
                    hc_member(c)->host, pc_w.id);
        }
    } else {
        c->ok = 0;
        c->fail++;
        if (!c->down && c->fail >= (unsigned)pool->health_fall) {
            c->down = true;
            pc_metrics_member_up(c->pool, c->member, false);
            pc_warn("pool %s: member %s is down (health check, worker %d): %s", pool->name,
                    hc_member(c)->host, pc_w.id, why);
        }
    }
    /* A passing check ends a passive mark-down too. */
    pc_balance_health(c->pool, c->member, ok, c->down);
    hc_schedule(c);
}

static int hc_connect(struct hc *c, int port)
{
    const struct pc_config *cfg = pc_w.cfg;
    struct pc_addr to = hc_member(c)->addr;
    pc_net_set_port(&to, port);
    c->fd = pc_net_connect(&to, cfg->has_internal ? &cfg->internal : NULL, NULL);
    if (c->fd < 0)
        return -1;
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(pc_w.loop, &c->io);
    return 0;
}

/* The name the member's certificate must carry. */
static const char *hc_name(const struct pc_pool *pool)
{
    if (pool->verify_name)
        return pool->verify_name;
    for (size_t i = 0; i < pool->npublish; i++)
        if (pool->publish[i][0] != '*')
            return pool->publish[i];
    return pool->npublish ? pool->publish[0] + 2 : "";
}

static void hc_next(struct hc *c);

/* Port 80 traffic reaches the pool's HTTP port only when the HTTP listener is on and one of
 * its names is forwarded: otherwise that port is not ours to check (and a firewall made by
 * `portico ports` rightly blocks it). */
static bool forwards_http(const struct pc_pool *pool)
{
    if (!pc_w.cfg->http_port)
        return false;
    for (size_t i = 0; i < pc_w.cfg->nnames; i++)
        if (pc_w.cfg->names[i].pool == pool && pc_w.cfg->names[i].http == PC_HTTP_FORWARD)
            return true;
    return false;
}

static void hc_step_tls(struct hc *c)
{
    uint8_t want;
    int r = pc_tls_step(c->ssl, &want, NULL);
    if (r == 1) {
        hc_cleanup(c);
        c->stage = HC_HTTP_CONNECT;
        hc_next(c);
        return;
    }
    if (r == 0) {
        ev_io_stop(pc_w.loop, &c->io);
        ev_io_set(&c->io, c->fd, want);
        ev_io_start(pc_w.loop, &c->io);
        return;
    }
    char why[256];
    long vr = SSL_get_verify_result(c->ssl);
    if (vr != X509_V_OK)
        snprintf(why, sizeof(why), "certificate: %s", X509_verify_cert_error_string(vr));
    else
        pc_tls_error(why, sizeof(why), "TLS handshake failed");
    hc_result(c, false, why);
}

/* Starts the next stage of a check, or ends it with success. */
static void hc_next(struct hc *c)
{
    const struct pc_member *m = hc_member(c);
    if (c->stage == HC_TLS_CONNECT && !(m->https_port && pc_w.tls->pool_ctx[c->pool]))
        c->stage = HC_HTTP_CONNECT;
    if (c->stage == HC_HTTP_CONNECT && (!m->http_port || !forwards_http(hc_pool(c)))) {
        hc_result(c, true, NULL);
        return;
    }
    int port = c->stage == HC_TLS_CONNECT ? m->https_port : m->http_port;
    if (hc_connect(c, port) < 0)
        hc_result(c, false, strerror(errno));
}

static void hc_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct hc *c = PC_CONTAINER_OF(w, struct hc, io);
    (void)loop;
    (void)revents;
    if (c->stage == HC_TLS_HANDSHAKE) {
        hc_step_tls(c);
        return;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        hc_result(c, false, strerror(err));
        return;
    }
    if (c->stage == HC_HTTP_CONNECT) {
        hc_result(c, true, NULL);
        return;
    }
    /* TCP to the HTTPS port is up: now the handshake, verified. */
    const struct pc_pool *pool = hc_pool(c);
    c->ssl = SSL_new(pc_w.tls->pool_ctx[c->pool]);
    const char *name = hc_name(pool);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
        (name[0] && SSL_set_tlsext_host_name(c->ssl, name) != 1) ||
        (pool->verify && SSL_set1_host(c->ssl, name) != 1)) {
        hc_result(c, false, "TLS setup failed");
        return;
    }
    SSL_set_connect_state(c->ssl);
    c->stage = HC_TLS_HANDSHAKE;
    hc_step_tls(c);
}

static void hc_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct hc *c = PC_CONTAINER_OF(w, struct hc, timer);
    (void)revents;
    if (c->stage != HC_IDLE) {
        hc_result(c, false, "timed out");
        return;
    }
    /* Start a check, bounded by timeout_connect (and by the interval). */
    double limit = pc_w.cfg->timeout_connect;
    if (limit > hc_pool(c)->health_interval)
        limit = hc_pool(c)->health_interval;
    ev_timer_set(w, limit, 0.);
    ev_timer_start(loop, w);
    c->stage = HC_TLS_CONNECT;
    hc_next(c);
}

void pc_health_start(void)
{
    const struct pc_config *cfg = pc_w.cfg;
    nchecks = 0;
    for (size_t p = 0; p < cfg->npools; p++)
        nchecks += cfg->pools[p].nmembers;
    checks = calloc(nchecks ? nchecks : 1, sizeof(*checks));
    if (!checks) {
        pc_err("health checks: out of memory");
        return;
    }
    size_t k = 0;
    for (size_t p = 0; p < cfg->npools; p++) {
        for (size_t m = 0; m < cfg->pools[p].nmembers; m++, k++) {
            struct hc *c = &checks[k];
            c->fd = -1;
            c->pool = (unsigned)p;
            c->member = (unsigned)m;
            ev_init(&c->io, hc_io_cb);
            ev_init(&c->timer, hc_timer_cb);
            hc_schedule(c);
        }
    }
}

void pc_health_stop(void)
{
    for (size_t k = 0; k < nchecks; k++) {
        ev_timer_stop(pc_w.loop, &checks[k].timer);
        hc_cleanup(&checks[k]);
    }
    free(checks);
    checks = NULL;
    nchecks = 0;
}

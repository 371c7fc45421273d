/* worker.c — a worker process: one libev loop, its listeners, its sessions.
 *
 * A worker accepts on its own SO_REUSEPORT sockets (the kernel spreads connections), owns its
 * sessions and upstream connections outright, and shares nothing writable with the others. */
#include "core/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/metrics.h"
#include "admin/stats.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/net.h"
#include "config/config.h"
#include "core/daemon.h"
#include "tls/rec.h"

struct pc_worker pc_w;
const struct pc_worker_app *pc_worker_app;
int pc_worker_accept_fd = -1;

static ev_timer drain_timer, retry_accept_timer, housekeeping_timer;
static ev_signal sig_term, sig_int, sig_quit, sig_usr1, sig_hup;
static ev_prepare before_block;
static bool accept_paused;

/* Connections per client address (only when max_connections_per_client is set): open
 * addressing over the address bytes, backward-shift deletion, sized for every connection. */
struct client_slot {
    unsigned char key[16];
    uint32_t count;
};
static struct client_slot *clients;
static size_t nclient_slots;

static void client_key(const struct pc_addr *a, unsigned char key[16])
{
    memset(key, 0, 16);
    if (a->ss.ss_family == AF_INET)
        memcpy(key + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    else if (a->ss.ss_family == AF_INET6)
        memcpy(key, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
}

static size_t client_hash(const unsigned char key[16])
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)h & (nclient_slots - 1);
}

/* Finds the slot of KEY, or the empty slot where it would go. */
static struct client_slot *client_find(const unsigned char key[16])
{
    size_t i = client_hash(key);
    while (clients[i].count && memcmp(clients[i].key, key, 16) != 0)
        i = (i + 1) & (nclient_slots - 1);
    return &clients[i];
}

static bool client_admit(const struct pc_addr *a)
{
    if (!clients)
        return true;
    unsigned char key[16];
    client_key(a, key);
    struct client_slot *c = client_find(key);
    if (c->count >= (uint32_t)pc_w.cfg->max_connections_per_client)
        return false;
    memcpy(c->key, key, 16);
    c->count++;
    return true;
}

static void client_release(const struct pc_addr *a)
{
    if (!clients)
        return;
    unsigned char key[16];
    client_key(a, key);
    struct client_slot *c = client_find(key);
    if (!c->count || --c->count)
        return;
    /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
    size_t i = (size_t)(c - clients), j = i;
    for (;;) {
        j = (j + 1) & (nclient_slots - 1);
        if (!clients[j].count)
            break;
        size_t home = client_hash(clients[j].key);
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            clients[i] = clients[j];
            clients[j].count = 0;
            i = j;
        }
    }
}

#define LISTENER_FROM(w) ((struct pc_listener *)((char *)(w)-offsetof(struct pc_listener, io)))

/* Pauses or resumes accepting clients. The admin listener stays open while paused: a
 * saturated worker is exactly when /metrics and /status are wanted (its connections are not
 * clients and do not count); draining closes it with the rest. */
static void listeners_set(bool on)
{
    for (size_t i = 0; i < pc_w.nlisteners; i++) {
        if (pc_w.listeners[i].fd < 0)
            continue;
        if (!on && pc_w.listeners[i].kind == PC_LISTEN_ADMIN && !pc_w.draining)
            continue;
        if (on)
            ev_io_start(pc_w.loop, &pc_w.listeners[i].io);
        else
            ev_io_stop(pc_w.loop, &pc_w.listeners[i].io);
    }
    accept_paused = !on;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pc_listener *l = LISTENER_FROM(w);
    (void)revents;
    if (l->kind == PC_LISTEN_ADMIN) {
        pc_admin_accept(l->fd);
        return;
    }
    /* A bounded batch: accepting is cheap, but other work must not starve. */
    for (int i = 0; i < 64; i++) {
        if (pc_w.nconns >= pc_w.max_conns) {
            /* Refuse cleanly: stop accepting; the kernel's queue holds the rest. */
            static struct pc_ratelimit rl;
            pc_log_limited(&rl, PC_LOG_WARN, "max_connections reached (%u in this worker)",
                           pc_w.nconns);
            listeners_set(false);
            return;
        }
        struct pc_addr peer;
        peer.len = sizeof(peer.ss);
        int fd =
            accept4(l->fd, (struct sockaddr *)&peer.ss, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            static struct pc_ratelimit rl;
            pc_log_limited(&rl, PC_LOG_ERR, "accept: %s", strerror(errno));
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                listeners_set(false);
                ev_timer_set(&retry_accept_timer, 0.1, 0.);
                ev_timer_start(loop, &retry_accept_timer);
            }
            return;
        }
        /* A trusted balancer's connections count under the client its header will name
         * (pc_worker_client_admit), not under the balancer, which carries everyone. */
        if (!pc_worker_lb_peer(&peer, l->kind) && !client_admit(&peer)) {
            static struct pc_ratelimit rl;
            char ip[64];
            pc_net_addr_text(&peer, ip, sizeof(ip));
            pc_log_limited(&rl, PC_LOG_WARN, "client %s: over max_connections_per_client (%d)", ip,
                           pc_w.cfg->max_connections_per_client);
            close(fd); /* refused: nothing of it is read */
            continue;
        }
        int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
            /* not fatal: Nagle only delays small writes */
        }
        pc_w.nconns++;
        pc_metrics_client_conns(pc_w.nconns);
        pc_worker_app->accept(fd, &peer, l->kind);
    }
}

bool pc_worker_lb_peer(const struct pc_addr *peer, enum pc_listener_kind kind)
{
    const struct pc_config *cfg = pc_w.cfg;
    unsigned bit = kind == PC_LISTEN_HTTPS ? PC_PP_HTTPS : kind == PC_LISTEN_HTTP ? PC_PP_HTTP : 0;
    if (!bit || !cfg->ntrusted ||
        (!((unsigned)cfg->proxy_protocol & bit) && !cfg->trust_forwarded_for))
        return false;
    return pc_config_trusted(cfg, peer);
}

bool pc_worker_client_admit(const struct pc_addr *a)
{
    if (client_admit(a))
        return true;
    static struct pc_ratelimit rl;
    char ip[64];
    pc_net_addr_text(a, ip, sizeof(ip));
    pc_log_limited(&rl, PC_LOG_WARN, "client %s: over max_connections_per_client (%d)", ip,
                   pc_w.cfg->max_connections_per_client);
    return false;
}

void pc_worker_conn_closed(const struct pc_addr *peer)
{
    if (peer)
        client_release(peer);
    pc_w.nconns--;
    pc_metrics_client_conns(pc_w.nconns);
    if (pc_w.draining) {
        if (pc_w.nconns == 0)
            ev_break(pc_w.loop, EVBREAK_ALL);
        return;
    }
    if (accept_paused && pc_w.nconns < pc_w.max_conns && !ev_is_active(&retry_accept_timer))
        listeners_set(true);
}

static void retry_accept_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    if (!pc_w.draining)
        listeners_set(true);
}

static void drain_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    pc_info("worker %d: drain time is up, %u connection(s) cut", pc_w.id, pc_w.nconns);
    ev_break(loop, EVBREAK_ALL);
}

/* Stops accepting and lets transactions in flight finish within TIMEOUT seconds. */
static void worker_drain(double timeout)
{
    if (pc_w.draining)
        return;
    pc_w.draining = true;
    listeners_set(false);
    for (size_t i = 0; i < pc_w.nlisteners; i++) {
        struct pc_listener *l = &pc_w.listeners[i];
        /* Take what waits in this socket's queue first (SO_REUSEPORT: closing a listener
         * resets the connections queued on it); they are answered with Connection: close. */
        for (int k = 0; k < 16 && l->fd >= 0 && l->kind != PC_LISTEN_ADMIN; k++)
            accept_cb(pc_w.loop, &l->io, EV_READ);
        if (pc_w.listeners[i].fd >= 0)
            close(pc_w.listeners[i].fd);
        pc_w.listeners[i].fd = -1;
    }
    if (pc_worker_accept_fd >= 0) {
        close(pc_worker_accept_fd); /* the master may now confirm the reload */
        pc_worker_accept_fd = -1;
    }
    if (pc_worker_app->drain() == 0) {
        ev_break(pc_w.loop, EVBREAK_ALL);
        return;
    }
    ev_timer_set(&drain_timer, timeout, 0.);
    ev_timer_start(pc_w.loop, &drain_timer);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    switch (w->signum) {
    case SIGTERM:
    case SIGINT:
        worker_drain(pc_w.cfg->drain_timeout);
        break;
    case SIGQUIT:
        /* Replaced by a reload: long polls in flight may take their full time. */
        worker_drain(pc_w.cfg->timeout_idle);
        break;
    case SIGUSR1:
        pc_worker_app->reopen_logs();
        break;
    default:
        break; /* SIGHUP is the master's business */
    }
}

static void before_block_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    pc_worker_app->flush_logs();
}

static void housekeeping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    pc_buf_trim_freelist(64);
}

int pc_worker_run(const struct pc_config *cfg, const struct pc_tls *tls, struct pc_listener *ls,
                  size_t nls, int id)
{
    /* Signals stay blocked (as in the master) until the loop's watchers are set: a reload's
     * SIGQUIT that comes while this worker starts must drain it, not kill it. */
    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
        pc_warn("PR_SET_PDEATHSIG: %s", strerror(errno));
    pc_drop_all_caps(); /* a worker binds nothing */

    memset(&pc_w, 0, sizeof(pc_w));
    pc_w.cfg = cfg;
    pc_w.tls = tls;
    pc_w.id = id;
    pc_rec_counted = pc_metrics_tls_handover;
    pc_w.listeners = ls;
    pc_w.nlisteners = nls;
    int workers = cfg->workers > 0 ? cfg->workers : 1;
    pc_w.max_conns = (unsigned)((cfg->max_connections + workers - 1) / workers);
    if (cfg->max_connections_per_client > 0) {
        for (nclient_slots = 64; nclient_slots < 2 * (size_t)pc_w.max_conns;)
            nclient_slots *= 2;
        clients = calloc(nclient_slots, sizeof(*clients));
        if (!clients)
            return 1;
    }
    pc_w.loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    if (!pc_w.loop) {
        pc_err("worker %d: cannot create the event loop", id);
        return 1;
    }
    if (pc_worker_app->start(cfg, id) < 0)
        return 1;
    pc_admin_start(pc_w.loop, cfg);

    for (size_t i = 0; i < nls; i++) {
        ev_io_init(&ls[i].io, accept_cb, ls[i].fd, EV_READ);
        ev_io_start(pc_w.loop, &ls[i].io);
    }
    ev_init(&drain_timer, drain_timeout_cb);
    ev_init(&retry_accept_timer, retry_accept_cb);
    ev_timer_init(&housekeeping_timer, housekeeping_cb, 10., 10.);
    ev_timer_start(pc_w.loop, &housekeeping_timer);
    ev_unref(pc_w.loop);
    ev_prepare_init(&before_block, before_block_cb);
    ev_prepare_start(pc_w.loop, &before_block);
    ev_signal *sigs[] = {&sig_term, &sig_int, &sig_quit, &sig_usr1, &sig_hup};
    int nums[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP};
    for (int i = 0; i < 5; i++) {
        ev_signal_init(sigs[i], signal_cb, nums[i]);
        ev_signal_start(pc_w.loop, sigs[i]);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    ev_run(pc_w.loop, 0);

    pc_worker_app->flush_logs();
    return 0;
}

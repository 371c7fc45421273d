/* signin-store.c — the Redis link of the sign-in defence (signin-store.h).
 *
 * A message is one line of text: "1 NODE S|F WHEN SOURCE ACCOUNT" (a version, this node's id
 * in hex, success or failure, the time in seconds, the 16-byte source key in hex, the account
 * key or "-" for none). The account is last since it may hold spaces; it never holds a
 * control character (signin.c refuses them). */
#include "proxy/signin-store.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <hiredis/adapters/libev.h>
#pragma GCC diagnostic pop

#include "common/log.h"
#include "common/net.h"
#include "proxy/signin.h"

/* One connection: publishing needs one, a subscription takes a connection for itself. */
struct link {
    redisAsyncContext *ac;
    bool up;
    bool subscriber;
    double backoff; /* seconds before the next attempt, 0.5 doubling to 30 */
    ev_timer retry;
};

static struct link pub, sub;
static struct ev_loop *loop;
static char host[INET6_ADDRSTRLEN];
static int port;
static uint32_t node_id;
static pc_store_apply_fn *apply_fn;
static bool running, warned;

static void link_connect(struct link *l);

static struct link *link_of(const redisAsyncContext *ac)
{
    return ac == pub.ac ? &pub : ac == sub.ac ? &sub : NULL;
}

/* Logs the store's state once per change (both links down is one warning). */
static void report(void)
{
    bool up = pub.up && (!sub.subscriber || sub.up);
    if (!up && !warned) {
        warned = true;
        pc_warn("sign-in store redis://%s:%d unreachable: counting on this node alone until "
                "it is back",
                host, port);
    } else if (up && warned) {
        warned = false;
        pc_info("sign-in store redis://%s:%d reachable again", host, port);
    }
}

static void schedule(struct link *l)
{
    l->ac = NULL;
    l->up = false;
    report();
    if (!running)
        return;
    l->backoff = l->backoff ? (l->backoff * 2 > 30 ? 30 : l->backoff * 2) : 0.5;
    ev_timer_set(&l->retry, l->backoff, 0.);
    ev_timer_start(loop, &l->retry);
}

static void retry_cb(struct ev_loop *lp, ev_timer *w, int revents)
{
    (void)lp, (void)revents;
    link_connect(w == &pub.retry ? &pub : &sub);
}

/* "1 NODE S|F WHEN SOURCEHEX ACCOUNT" of another node: applied. Anything else: ignored. */
static void on_message(const char *m, size_t n)
{
    char line[512];
    if (n >= sizeof line)
        return;
    memcpy(line, m, n);
    line[n] = '\0';
    unsigned ver, nd;
    char op, hex[33];
    int64_t when;
    int off = 0;
    if (sscanf(line, "%u %x %c %" SCNd64 " %32s %n", &ver, &nd, &op, &when, hex, &off) != 5 ||
        ver != 1 || off == 0 || (op != 'S' && op != 'F') || strlen(hex) != 32 || nd == node_id)
        return;
    uint8_t src[16];
    for (int i = 0; i < 16; i++) {
        unsigned b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1)
            return;
        src[i] = (uint8_t)b;
    }
    const char *acct = line + off;
    apply_fn(op == 'S', when, strcmp(acct, "-") == 0 || !*acct ? NULL : acct, src);
}

static void sub_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac, (void)priv;
    const redisReply *rep = r;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
        return;
    const redisReply *kind = rep->element[0], *msg = rep->element[2];
    if (kind->type == REDIS_REPLY_STRING && strcmp(kind->str, "message") == 0 &&
        msg->type == REDIS_REPLY_STRING)
        on_message(msg->str, msg->len);
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct link *l = link_of(ac);
    if (!l)
        return;
    if (status != REDIS_OK) {
        schedule(l); /* hiredis frees the context after this callback */
        return;
    }
    l->up = true;
    l->backoff = 0;
    if (l->subscriber)
        redisAsyncCommand(l->ac, sub_cb, NULL, "SUBSCRIBE %s", PC_STORE_CHANNEL);
    report();
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct link *l = link_of(ac);
    if (l)
        schedule(l);
}

static void link_connect(struct link *l)
{
    redisAsyncContext *ac = redisAsyncConnect(host, port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        schedule(l);
        return;
    }
    l->ac = ac;
    if (redisLibevAttach(loop, ac) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule(l);
        return;
    }
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
}

void pc_store_start(const struct pc_config *cfg, struct ev_loop *l, bool subscribe, uint32_t node,
                    pc_store_apply_fn *apply)
{
    if (!cfg->signin.has_store)
        return;
    loop = l;
    node_id = node;
    apply_fn = apply;
    running = true;
    pc_net_addr_text(&cfg->signin.store, host, sizeof host);
    port = pc_net_port(&cfg->signin.store);
    ev_init(&pub.retry, retry_cb);
    ev_init(&sub.retry, retry_cb);
    sub.subscriber = subscribe;
    link_connect(&pub);
    if (subscribe)
        link_connect(&sub);
}

void pc_store_publish(bool success, int64_t when, const char *account, const uint8_t source[16])
{
    if (!pub.up)
        return;
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", source[i]);
    char msg[512];
    int n = snprintf(msg, sizeof msg, "1 %08x %c %" PRId64 " %s %s", node_id, success ? 'S' : 'F',
                     when, hex, account ? account : "-");
    if (n > 0 && (size_t)n < sizeof msg)
        redisAsyncCommand(pub.ac, NULL, NULL, "PUBLISH %s %b", PC_STORE_CHANNEL, msg, (size_t)n);
}

void pc_store_stop(void)
{
    if (!running)
        return;
    running = false;
    struct link *ls[2] = {&pub, &sub};
    for (int i = 0; i < 2; i++) {
        ev_timer_stop(loop, &ls[i]->retry);
        if (ls[i]->ac)
            redisAsyncDisconnect(ls[i]->ac); /* the disconnect callback clears it */
    }
}

bool pc_store_up(void)
{
    return pub.up && (!sub.subscriber || sub.up);
}

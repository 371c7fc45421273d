/* admin.c — the admin listener: /metrics (Prometheus), /status (HTML), /status.json.
 *
 * Served by worker 0 only, from the shared metrics (stats.c), so every worker's traffic is in
 * every answer. Requests are tiny and answers are built whole: this is not the data path. */
#include "admin/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/history.h"
#include "admin/stats.h"
#include "common/log.h"
#include "common/util.h"
#include "config/config.h"

static struct ev_loop *loop;        /* the worker's */
static const struct pc_config *cfg; /* what the pages show */
static const struct pc_admin_section *sections[4];
static size_t nsections;

void pc_admin_add_section(const struct pc_admin_section *s)
{
    if (nsections < sizeof sections / sizeof sections[0])
        sections[nsections++] = s;
}

struct admin_conn {
    int fd;
    ev_io io;
    ev_timer timer;
    char req[4096];
    size_t len;
    bool local; /* the client is on loopback */
    char *out;
    size_t outlen, sent;
};

static void admin_close(struct admin_conn *c)
{
    ev_io_stop(loop, &c->io);
    ev_timer_stop(loop, &c->timer);
    close(c->fd);
    free(c->out);
    free(c);
}

static const char *member_state(const struct pc_pool *p, const struct pc_member *m, uint64_t *up)
{
    char key[PC_STATS_KEY + 2];
    snprintf(key, sizeof(key), "portico_member_up{pool=\"%s\",member=\"%s\"}", p->name, m->host);
    if (!pc_stats_sum(key, up))
        *up = 1;
    return *up ? "up" : "down";
}

static uint64_t sum_of(const char *fmt, const char *a, const char *b)
{
    char key[PC_STATS_KEY + 2];
    uint64_t v = 0;
    snprintf(key, sizeof(key), fmt, a, b);
    pc_stats_sum(key, &v);
    return v;
}

static void html(FILE *f, const char *s)
{
    pc_admin_html(f, s, false);
}

/* Requests per second of member M of pool P since the previous status page or JSON (the page
 * refreshes itself every 5 s, so that is the window). Worker 0 alone serves the admin port. */
static double member_rate(size_t p, size_t m, uint64_t total)
{
    enum { MAXM = 4096 };
    static uint64_t last[MAXM];
    static double last_t[MAXM], rate[MAXM];
    size_t k = 0;
    for (size_t i = 0; i < p; i++)
        k += cfg->pools[i].nmembers;
    k += m;
    if (k >= MAXM)
        return 0;
    double now = ev_now(loop);
    if (last_t[k] > 0 && now - last_t[k] >= 1 && total >= last[k])
        rate[k] = (double)(total - last[k]) / (now - last_t[k]);
    if (last_t[k] == 0 || now - last_t[k] >= 1) {
        last[k] = total;
        last_t[k] = now;
    }
    return rate[k];
}

static void status_json(FILE *f)
{
    fprintf(f, "{\"pools\":[");
    for (size_t p = 0; p < cfg->npools; p++) {
        const struct pc_pool *pool = &cfg->pools[p];
        fprintf(f, "%s{\"name\":\"%s\",\"role\":\"%s\",\"publish\":[", p ? "," : "", pool->name,
                pc_role_str(pool->role));
        for (size_t i = 0; i < pool->npublish; i++)
            fprintf(f, "%s\"%s\"", i ? "," : "", pool->publish[i]);
        fprintf(f, "],\"members\":[");
        for (size_t m = 0; m < pool->nmembers; m++) {
            const struct pc_member *mb = &pool->members[m];
            uint64_t up;
            const char *st = member_state(pool, mb, &up);
            uint64_t reqs = sum_of("portico_member_requests_total{pool=\"%s\",member=\"%s\"}",
                                   pool->name, mb->host);
            fprintf(f,
                    "%s{\"host\":\"%s\",\"https_port\":%d,\"http_port\":%d,\"state\":\"%s\","
                    "\"connections\":%llu,\"requests\":%llu,\"request_rate\":%.2f}",
                    m ? "," : "", mb->host, mb->https_port, mb->http_port, st,
                    (unsigned long long)sum_of(
                        "portico_upstream_connections{pool=\"%s\",member=\"%s\"}", pool->name,
                        mb->host),
                    (unsigned long long)reqs, member_rate(p, m, reqs));
        }
        fprintf(f, "]}");
    }
    uint64_t conns = 0;
    pc_stats_sum("portico_client_connections", &conns);
    fputs("],", f);
    pc_admin_certs_json(f);
    for (size_t i = 0; i < nsections; i++)
        if (sections[i]->json)
            sections[i]->json(f);
    fprintf(f, "\"client_connections\":%llu,\"reloads\":%llu,\"last_reload_ok\":%s,\"errors\":[",
            (unsigned long long)conns, (unsigned long long)pc_stats->reloads_total,
            pc_stats->last_reload_ok ? "true" : "false");
    bool first = true;
    for (uint32_t k = 0; k < PC_STATS_ERRORS; k++) {
        const char *e = pc_stats->errors[(pc_stats->err_next + k) % PC_STATS_ERRORS];
        if (!e[0])
            continue;
        fputs(first ? "" : ",", f);
        first = false;
        pc_admin_json_str(f, e);
    }
    fputs("],", f);
    pc_history_json(f, cfg);
    fputs("}\n", f);
}

static void status_html(FILE *f)
{
    fputs(
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"
        "<title>portico status</title><style>"
        "body{font:15px system-ui,sans-serif;margin:1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}"
        "td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left}"
        "th{background:#f4f4f4}.up{color:#fff;background:#2a7;padding:.1em .5em;border-radius:3px}"
        ".down{color:#fff;background:#c33;padding:.1em .5em;border-radius:3px}"
        "h1{font-size:1.3em}h2{font-size:1.1em}code{font-size:.95em}"
        "pre{white-space:pre-wrap;overflow-wrap:anywhere}.up,.down{white-space:nowrap}"
        "@media(max-width:600px){td,th{padding:.3em .25em;font-size:13px}"
        "#members td,#members th{overflow-wrap:anywhere;padding:.3em .2em}"
        ".fw,.fw tbody,.fw tr,.fw td{display:block}.fw tr:first-child{display:none}"
        ".fw td{border:0;padding:.15em .25em}.fw tr{border-bottom:1px solid #ddd;padding:.3em 0}}",
        f);
    pc_admin_graphs_css(f);
    fputs("</style></head><body><h1>portico</h1>\n", f);
    uint64_t conns = 0;
    pc_stats_sum("portico_client_connections", &conns);
    fprintf(f, "<p id=\"summary\">%llu client connection(s) now; %llu reload(s), last %s.</p>\n",
            (unsigned long long)conns, (unsigned long long)pc_stats->reloads_total,
            pc_stats->last_reload_ok ? "successful" : "refused");
    pc_admin_graphs_html(f, cfg);
    fputs("<h2>Published names</h2><table id=\"members\"><tr><th>Name</th><th>Pool</th>"
          "<th>Member</th><th>State</th><th>Connections</th><th>Requests</th><th>Req/s</th></tr>\n",
          f);
    for (size_t p = 0; p < cfg->npools; p++) {
        const struct pc_pool *pool = &cfg->pools[p];
        for (size_t m = 0; m < pool->nmembers; m++) {
            const struct pc_member *mb = &pool->members[m];
            uint64_t up;
            const char *st = member_state(pool, mb, &up);
            fputs("<tr><td>", f);
            if (m == 0)
                for (size_t i = 0; i < pool->npublish; i++) {
                    html(f, pool->publish[i]);
                    fputs("<br>", f);
                }
            fputs("</td><td>", f);
            html(f, pool->name);
            fprintf(f, " (%s)</td><td>", pc_role_str(pool->role));
            html(f, mb->host);
            uint64_t reqs = sum_of("portico_member_requests_total{pool=\"%s\",member=\"%s\"}",
                                   pool->name, mb->host);
            fprintf(f,
                    "</td><td><span class=\"%s\" data-member=\"%s\">%s</span></td><td>%llu</td>"
                    "<td>%llu</td><td>%.1f</td></tr>\n",
                    st, mb->host, st,
                    (unsigned long long)sum_of(
                        "portico_upstream_connections{pool=\"%s\",member=\"%s\"}", pool->name,
                        mb->host),
                    (unsigned long long)reqs, member_rate(p, m, reqs));
        }
    }
    fputs("</table>\n", f);
    pc_admin_certs_html(f);
    for (size_t i = 0; i < nsections; i++)
        if (sections[i]->html)
            sections[i]->html(f);
    pc_admin_firewall_html(f, cfg);
    fputs("<h2>Recent warnings and errors</h2><pre id=\"errors\">", f);
    for (uint32_t k = 0; k < PC_STATS_ERRORS; k++) {
        const char *e = pc_stats->errors[(pc_stats->err_next + k) % PC_STATS_ERRORS];
        if (e[0]) {
            html(f, e);
            fputc('\n', f);
        }
    }
    fputs("</pre></body></html>\n", f);
}

static void respond(struct admin_conn *c)
{
    char *body = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&body, &blen);
    if (!f) {
        admin_close(c);
        return;
    }
    int status = 200;
    const char *type = "text/plain; version=0.0.4";
    bool get = strncmp(c->req, "GET ", 4) == 0 && pc_stats;
    bool post = strncmp(c->req, "POST ", 5) == 0 && pc_stats;
    const char *path = c->req + (post ? 5 : 4);
    size_t pl = get || post ? strcspn(path, " ?") : 0;
    const char *query = path[pl] == '?' ? path + pl + 1 : path + pl;
    size_t ql = strcspn(query, " ");
    int own = 0;
    for (size_t i = 0; i < nsections && !own && (get || post); i++)
        if (sections[i]->request)
            own = sections[i]->request(post, path, pl, query, ql, c->local, f, &type);
    if (!pc_stats) {
        status = 503; /* no shared memory for metrics at start (logged then) */
        fputs("503 metrics unavailable\n", f);
    } else if (own) {
        status = own;
    } else if (!get) {
        status = 405;
        fputs("405 Method Not Allowed\n", f);
    } else if (pl == 8 && strncmp(path, "/metrics", 8) == 0) {
        pc_stats_prometheus(f);
        pc_admin_certs_metrics(f);
    } else if (pl == 12 && strncmp(path, "/status.json", 12) == 0) {
        type = "application/json";
        status_json(f);
    } else if ((pl == 7 && strncmp(path, "/status", 7) == 0) || (pl == 1 && path[0] == '/')) {
        type = "text/html; charset=utf-8";
        status_html(f);
    } else {
        status = 404;
        fputs("404 Not Found\n", f);
    }
    fclose(f);
    c->out = malloc(blen + 256);
    if (!c->out) {
        free(body);
        admin_close(c);
        return;
    }
    c->outlen = (size_t)sprintf(c->out,
                                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                                status, status == 200 ? "OK" : "Error", type, blen);
    memcpy(c->out + c->outlen, body, blen);
    c->outlen += blen;
    free(body);
}

static void admin_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = PC_CONTAINER_OF(w, struct admin_conn, io);
    (void)revents;
    if (!c->out) {
        ssize_t n = recv(c->fd, c->req + c->len, sizeof(c->req) - 1 - c->len, 0);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            admin_close(c);
            return;
        }
        c->len += (size_t)n;
        c->req[c->len] = '\0';
        if (!strstr(c->req, "\r\n\r\n") && c->len < sizeof(c->req) - 1)
            return;
        respond(c);
        if (!c->out)
            return;
        ev_io_stop(loop, &c->io);
        ev_io_set(&c->io, c->fd, EV_WRITE);
        ev_io_start(loop, &c->io);
    }
    while (c->sent < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->sent, c->outlen - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            break;
        }
        c->sent += (size_t)n;
    }
    admin_close(c);
}

static void admin_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    admin_close(PC_CONTAINER_OF(w, struct admin_conn, timer));
}

void pc_admin_start(struct ev_loop *l, const struct pc_config *c)
{
    loop = l;
    cfg = c;
}

void pc_admin_accept(int lfd)
{
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct admin_conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            return;
        }
        c->fd = fd;
        struct pc_addr peer = {.ss = ss, .len = sl};
        c->local = pc_cfg_is_loopback(&peer);
        ev_io_init(&c->io, admin_io_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
        ev_timer_init(&c->timer, admin_timer_cb, 10., 0.);
        ev_timer_start(loop, &c->timer);
    }
}

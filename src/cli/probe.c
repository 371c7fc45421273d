/* probe.c — portico probe: checks, from the internal address, every flow that `portico ports`
 * lists inside (flows.c), the way the proxy itself would use it (upstream.c, health.c):
 *
 *   connect  TCP to the member's port, bound to `internal` when the families agree
 *   tls      handshake with the pool's client context (trust anchors, versions, ciphers),
 *            SNI = the name requested; the chain is verified here, the names just below
 *   names    every published name of the pool (or verify_name) against the certificate
 *            (X509_check_host, as SSL_set1_host does; a wildcard name by a sample label)
 *   http     one request over that TLS connection, and over plain TCP on the HTTP port of
 *            pools that forward port 80: GET of the role's discovery path, Host = a
 *            published name (for the HTTP port, one that port 80 forwards)
 *
 * Blocking steps with poll() deadlines: this is a command-line tool, not the event loop.
 * Every step is bounded by timeout_connect, as the health checks are. One row per check;
 * a check that cannot run because an earlier one failed gets no row. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/flows.h"
#include "tls/tls.h"

struct row {
    char *pool, *member;
    int port;
    const char *check;
    bool ok;
    char *reason;
};

struct probe {
    const struct pc_config *cfg;
    const struct pc_tls *tls;
    struct row *rows;
    size_t nrows;
    size_t nfail;
    bool tty; /* stderr is a terminal: the progress line rewrites itself */
};

/* The member being checked: what every row about it repeats. */
struct target {
    size_t pool;
    const struct pc_member *m;
    int port;
};

static double now(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail on Linux; a zero time would only shorten the deadlines. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_row(struct probe *pr, const struct target *t, const char *check, bool ok,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_row(struct probe *pr, const struct target *t, const char *check, bool ok,
                    const char *fmt, ...)
{
    struct row *rows = realloc(pr->rows, (pr->nrows + 1) * sizeof(*rows));
    if (!rows) {
        fputs("portico probe: out of memory\n", stderr);
        exit(1);
    }
    pr->rows = rows;
    char mt[600];
    pc_flows_member_text(t->m, mt, sizeof(mt));
    struct pc_sb pool = {0}, member = {0}, reason = {0};
    pc_sb_printf(&pool, "%s", pr->cfg->pools[t->pool].name);
    pc_sb_printf(&member, "%s", mt);
    pc_sb_printf(&reason, "%s", ""); /* allocated even when FMT adds nothing */
    va_list ap;
    va_start(ap, fmt);
    pc_sb_vprintf(&reason, fmt, ap);
    va_end(ap);
    rows[pr->nrows++] = (struct row){.pool = pool.s,
                                     .member = member.s,
                                     .port = t->port,
                                     .check = check,
                                     .ok = ok,
                                     .reason = reason.s};
    if (!ok)
        pr->nfail++;
}

/* Waits until FD is ready for EVENTS or DEADLINE passes: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* The connect check. Returns a connected non-blocking socket, or -1 after a FAIL row. */
static int check_connect(struct probe *pr, const struct target *t)
{
    const struct pc_config *cfg = pr->cfg;
    struct pc_addr to = t->m->addr;
    pc_net_set_port(&to, t->port);
    char in[INET6_ADDRSTRLEN];
    /* As upstream.c: from the internal address, the port left to connect(). */
    const char *step = NULL;
    int fd = pc_net_connect(&to, cfg->has_internal ? &cfg->internal : NULL, &step);
    int err = fd < 0 ? errno : 0;
    if (fd < 0 && strcmp(step, "socket") == 0) {
        add_row(pr, t, "connect", false, "socket: %s", strerror(err));
        return -1;
    }
    if (fd < 0 && strcmp(step, "bind") == 0) {
        pc_net_addr_text(&cfg->internal, in, sizeof(in));
        add_row(pr, t, "connect", false, "cannot bind to the internal address %s: %s", in,
                strerror(err));
        return -1;
    }
    if (fd >= 0) {
        int w = wait_fd(fd, POLLOUT, now() + cfg->timeout_connect);
        socklen_t len = sizeof(err);
        if (w == 0)
            err = ETIMEDOUT;
        else if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
    }
    if (err) {
        if (err == ECONNREFUSED)
            add_row(pr, t, "connect", false, "refused (nothing listens on port %d)", t->port);
        else if (err == ETIMEDOUT)
            add_row(pr, t, "connect", false, "timeout: no answer in %g s (dropped by a firewall?)",
                    cfg->timeout_connect);
        else
            add_row(pr, t, "connect", false, "%s", strerror(err));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct pc_addr local = {.len = sizeof(local.ss)};
    if (getsockname(fd, (struct sockaddr *)&local.ss, &local.len) < 0)
        snprintf(in, sizeof(in), "?");
    else
        pc_net_addr_text(&local, in, sizeof(in));
    add_row(pr, t, "connect", true, "connected from %s", in);
    return fd;
}

/* A connection being probed: plain, or TLS once ssl is set. */
struct conn {
    int fd;
    SSL *ssl;
    double deadline;
};

/* Waits for what the last SSL call asked for. 1 ready, 0 timed out, -1 fatal (not a retry). */
static int ssl_wait(struct conn *c, int r)
{
    int e = SSL_get_error(c->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        return -1;
    return wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, c->deadline);
}

/* Writes LEN bytes; -1 with *TIMEDOUT telling why it failed. */
static int conn_write(struct conn *c, const char *p, size_t len, bool *timedout)
{
    while (len) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, p, (int)len);
            if (r <= 0) {
                int w = ssl_wait(c, r);
                if (w > 0)
                    continue;
                *timedout = w == 0;
                return -1;
            }
            n = r;
        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                int w = wait_fd(c->fd, POLLOUT, c->deadline);
                if (w > 0)
                    continue;
                *timedout = w == 0;
                return -1;
            }
            if (n < 0)
                return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads once: >0 bytes, 0 end of stream, -1 error or timeout (*TIMEDOUT). */
static ssize_t conn_read(struct conn *c, char *p, size_t len, bool *timedout)
{
    for (;;) {
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, p, (int)len);
            if (r > 0)
                return r;
            if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN)
                return 0;
            int w = ssl_wait(c, r);
            if (w > 0)
                continue;
            *timedout = w == 0;
            return -1;
        }
        ssize_t n = recv(c->fd, p, len, 0);
        if (n >= 0)
            return n;
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        int w = wait_fd(c->fd, POLLIN, c->deadline);
        if (w <= 0) {
            *timedout = w == 0;
            return -1;
        }
    }
}

/* The role's discovery path: what the pool answers cheaply and only when its web services
 * run (Autodiscover for Lync pools, WOPI discovery for Office Web Apps). */
static const char *probe_path(enum pc_role role)
{
    switch (role) {
    case PC_ROLE_FRONTEND:
    case PC_ROLE_DIRECTOR:
        return "/Autodiscover/AutodiscoverService.svc/root";
    case PC_ROLE_OWA:
        return "/hosting/discovery";
    case PC_ROLE_GENERIC:
        break;
    }
    return "/";
}

/* The http check: one request, the status line of the answer. */
static void check_http(struct probe *pr, const struct target *t, struct conn *c, const char *host)
{
    const char *path = probe_path(pr->cfg->pools[t->pool].role);
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: portico-probe\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     path, host);
    bool timedout = false;
    c->deadline = now() + pr->cfg->timeout_connect;
    if (n < 0 || (size_t)n >= sizeof(req) || conn_write(c, req, (size_t)n, &timedout) < 0) {
        add_row(pr, t, "http", false, "GET %s: %s", path,
                timedout ? "timeout while sending" : "connection lost while sending");
        return;
    }
    char buf[2048];
    size_t len = 0;
    char *eol = NULL;
    while (!eol && len < sizeof(buf) - 1) {
        ssize_t r = conn_read(c, buf + len, sizeof(buf) - 1 - len, &timedout);
        if (r <= 0) {
            add_row(pr, t, "http", false, "GET %s: %s", path,
                    r == 0     ? "connection closed without an answer"
                    : timedout ? "timeout: no answer"
                               : "connection lost");
            return;
        }
        len += (size_t)r;
        buf[len] = '\0';
        eol = strstr(buf, "\r\n");
    }
    int status = 0, skip = 0;
    if (!eol || sscanf(buf, "HTTP/1.%*1[01] %3d %n", &status, &skip) < 1 || status < 100 ||
        status > 599) {
        add_row(pr, t, "http", false, "GET %s: not an HTTP/1.x answer", path);
        return;
    }
    *eol = '\0';
    const char *phrase = skip > 0 && buf + skip <= eol ? buf + skip : "";
    for (char *p = (char *)phrase; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
    /* 401/403: a web service that wants the client's credentials, which the proxy passes
     * through untouched; anything else from 400 up is a broken or wrong service. */
    bool ok = status < 400 || status == 401 || status == 403;
    add_row(pr, t, "http", ok, "GET %s (Host %s): HTTP %d %.80s", path, host, status, phrase);
}

static const char *version_text(pc_tls_version v)
{
    switch (v) {
    case TLS1_VERSION:
        return "1.0";
    case TLS1_1_VERSION:
        return "1.1";
    case TLS1_2_VERSION:
        return "1.2";
    case TLS1_3_VERSION:
        return "1.3";
    }
    return "?";
}

static bool issuer_error(long vr)
{
    return vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           vr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           vr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           vr == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE || vr == X509_V_ERR_CERT_UNTRUSTED ||
           vr == X509_V_ERR_CERT_SIGNATURE_FAILURE;
}

static bool version_error(unsigned long e)
{
    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return false;
    int r = ERR_GET_REASON(e);
    /* Not SSL_R_WRONG_VERSION_NUMBER: that one mostly means the port does not speak TLS. */
    return r == SSL_R_UNSUPPORTED_PROTOCOL || r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
           r == SSL_R_NO_PROTOCOLS_AVAILABLE || r == SSL_R_VERSION_TOO_LOW ||
           r == SSL_R_VERSION_TOO_HIGH;
}

/* The tls check: handshake on C->fd. Returns 0 with C->ssl set, or -1 after a FAIL row. */
static int check_tls(struct probe *pr, const struct target *t, struct conn *c, const char *sni)
{
    const struct pc_pool *pool = &pr->cfg->pools[t->pool];
    SSL_CTX *ctx = pr->tls->pool_ctx[t->pool];
    if (!ctx || !(c->ssl = SSL_new(ctx)) || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_set_tlsext_host_name(c->ssl, sni) != 1) {
        char why[256];
        add_row(pr, t, "tls", false, "TLS setup: %s", pc_tls_error(why, sizeof(why), "failed"));
        return -1;
    }
    SSL_set_connect_state(c->ssl);
    c->deadline = now() + pr->cfg->timeout_connect;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_do_handshake(c->ssl);
        if (r == 1)
            break;
        int w = ssl_wait(c, r);
        if (w > 0)
            continue;
        if (w == 0) {
            add_row(pr, t, "tls", false, "handshake timeout: no answer in %g s",
                    pr->cfg->timeout_connect);
            return -1;
        }
        long vr = SSL_get_verify_result(c->ssl);
        unsigned long e = ERR_peek_last_error();
        char why[256];
        if (vr != X509_V_OK && issuer_error(vr))
            add_row(pr, t, "tls", false, "untrusted issuer: %s (ca = %s)",
                    X509_verify_cert_error_string(vr), pool->ca ? pool->ca : "system store");
        else if (vr != X509_V_OK)
            add_row(pr, t, "tls", false, "certificate rejected: %s",
                    X509_verify_cert_error_string(vr));
        else if (version_error(e))
            add_row(pr, t, "tls", false, "TLS version: %s (tls_min = %s)",
                    pc_tls_error(why, sizeof(why), "no common version"),
                    version_text(pool->tls_min));
        else if (e)
            add_row(pr, t, "tls", false, "TLS handshake failure: %s%s",
                    pc_tls_error(why, sizeof(why), "failed"),
                    ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER ? " (does the port speak TLS?)"
                                                                    : "");
        else
            add_row(pr, t, "tls", false, "TLS handshake failure: %s",
                    errno ? strerror(errno) : "connection closed by the member");
        return -1;
    }
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    char issuer[256] = "?";
    if (cert)
        X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
    add_row(pr, t, "tls", true, "%s %s, issuer %s%s", SSL_get_version(c->ssl),
            SSL_get_cipher_name(c->ssl), issuer,
            pool->verify ? " (trusted)" : " (not verified: verify = off)");
    return 0;
}

/* "a, b": the certificate's DNS names (or its subject's CN when it has none), with control
 * bytes shown as '?' (the certificate comes from the network, the table goes to a terminal). */
static void cert_names(X509 *cert, struct pc_sb *sb)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int n = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type != GEN_DNS)
            continue;
        const ASN1_IA5STRING *s = g->d.dNSName;
        pc_sb_printf(sb, "%s", n++ ? ", " : "");
        for (int k = 0; k < s->length; k++)
            pc_sb_printf(sb, "%c", s->data[k] < 0x20 || s->data[k] >= 0x7f ? '?' : s->data[k]);
    }
    GENERAL_NAMES_free(sans);
    if (!n) {
        char cn[256];
        X509_NAME *subject = X509_get_subject_name(cert);
        if (X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof(cn)) <= 0) {
            pc_sb_printf(sb, "no DNS name");
            return;
        }
        for (char *p = cn; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                *p = '?';
        pc_sb_printf(sb, "CN=%s", cn);
    }
}

/* Adds NAME to BAD (a list) when CERT does not cover it. */
static void name_check(X509 *cert, const char *name, struct pc_sb *bad, size_t *nbad)
{
    if (X509_check_host(cert, name, strlen(name), 0, NULL) != 1)
        pc_sb_printf(bad, "%s%s", (*nbad)++ ? ", " : "", name);
}

/* The names check: what SSL_set1_host would require of this certificate for each name the
 * proxy sends this pool (verify_name when set, else the Host, i.e. each published name). */
static void check_names(struct probe *pr, const struct target *t, SSL *ssl)
{
    const struct pc_config *cfg = pr->cfg;
    const struct pc_pool *pool = &cfg->pools[t->pool];
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert) {
        add_row(pr, t, "names", false, "the member sent no certificate");
        return;
    }
    struct pc_sb bad = {0}, have = {0};
    size_t nbad = 0, nchecked = 0;
    if (pool->verify_name) {
        name_check(cert, pool->verify_name, &bad, &nbad);
        nchecked = 1;
    } else {
        for (size_t i = 0; i < cfg->nnames; i++) {
            if (cfg->names[i].pool != pool)
                continue;
            char name[300];
            pc_flows_name_text(&cfg->names[i], true, name, sizeof(name));
            name_check(cert, name, &bad, &nbad);
            nchecked++;
        }
    }
    cert_names(cert, &have);
    const char *what = pool->verify_name ? "verify_name" : "published name";
    if (nbad && pool->verify)
        add_row(pr, t, "names", false, "name mismatch: %s not in the certificate (%s)",
                pc_sb_str(&bad), pc_sb_str(&have));
    else if (nbad)
        add_row(pr, t, "names", true, "verify = off, so not enforced; would fail for %s (%s)",
                pc_sb_str(&bad), pc_sb_str(&have));
    else
        add_row(pr, t, "names", true, "covers the %zu %s%s (%s)", nchecked, what,
                nchecked == 1 ? "" : "s", pc_sb_str(&have));
    pc_sb_free(&bad);
    pc_sb_free(&have);
}

/* The first published name of POOL with http mode MODE (any when MODE < 0), exact names
 * first; a wildcard yields a sample name. "" when none. */
static void pool_host(const struct pc_config *cfg, size_t pool, int mode, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int wild = 0; wild < 2 && !buf[0]; wild++) {
        for (size_t i = 0; i < cfg->nnames; i++) {
            const struct pc_name *n = &cfg->names[i];
            if (n->pool != &cfg->pools[pool] || n->wildcard != (wild == 1) ||
                (mode >= 0 && n->http != (enum pc_http_mode)mode))
                continue;
            pc_flows_name_text(n, true, buf, size);
            break;
        }
    }
}

static void progress(const struct probe *pr, const struct pc_member *m, const struct pc_flow *f,
                     size_t step, size_t steps)
{
    char mt[600];
    pc_flows_member_text(m, mt, sizeof(mt));
    fprintf(stderr, "%sprobe [%zu/%zu]: pool %s, %s port %d (%s)...%s", pr->tty ? "\r\033[K" : "",
            step, steps, pr->cfg->pools[f->pool].name, mt, f->port, f->tls ? "HTTPS" : "HTTP",
            pr->tty ? "" : "\n");
    fflush(stderr);
}

static void probe_flow(struct probe *pr, const struct pc_flow *f, const struct pc_member *m)
{
    const struct pc_config *cfg = pr->cfg;
    struct target t = {.pool = f->pool, .m = m, .port = f->port};
    char host[300];
    pool_host(cfg, f->pool, f->tls ? -1 : PC_HTTP_FORWARD, host, sizeof(host));
    struct conn c = {.fd = check_connect(pr, &t)};
    if (c.fd < 0)
        return;
    if (!f->tls) {
        check_http(pr, &t, &c, host);
    } else if (check_tls(pr, &t, &c, host) == 0) {
        check_names(pr, &t, c.ssl);
        check_http(pr, &t, &c, host);
    }
    if (c.ssl) {
        SSL_free(c.ssl);
        ERR_clear_error();
    }
    if (close(c.fd) < 0)
        fprintf(stderr, "portico probe: close: %s\n", strerror(errno));
}

/* The table, its columns padded to the widest cell (rows are short: plain text reads best). */
static void print_table(const struct probe *pr)
{
    static const char *const head[6] = {"pool", "member", "port", "check", "result", "reason"};
    int w[6];
    for (int c = 0; c < 6; c++)
        w[c] = (int)strlen(head[c]);
    for (size_t i = 0; i < pr->nrows; i++) {
        const struct row *r = &pr->rows[i];
        char port[16];
        snprintf(port, sizeof(port), "%d", r->port);
        const char *cells[5] = {r->pool, r->member, port, r->check, r->ok ? "OK" : "FAIL"};
        for (int c = 0; c < 5; c++)
            if ((int)strlen(cells[c]) > w[c])
                w[c] = (int)strlen(cells[c]);
    }
    printf("| %-*s | %-*s | %-*s | %-*s | %-*s | %s |\n", w[0], head[0], w[1], head[1], w[2],
           head[2], w[3], head[3], w[4], head[4], head[5]);
    printf("|");
    for (int c = 0; c < 6; c++) {
        int n = c < 5 ? w[c] + 2 : 8;
        for (int k = 0; k < n; k++)
            putchar('-');
        putchar('|');
    }
    putchar('\n');
    for (size_t i = 0; i < pr->nrows; i++) {
        const struct row *r = &pr->rows[i];
        printf("| %-*s | %-*s | %*d | %-*s | %-*s | %s |\n", w[0], r->pool, w[1], r->member, w[2],
               r->port, w[3], r->check, w[4], r->ok ? "OK" : "FAIL", r->reason);
    }
    printf("\n%zu checks: %zu OK, %zu FAIL\n", pr->nrows, pr->nrows - pr->nfail, pr->nfail);
}

/* Every flow of member M of pool P: HTTPS first, then HTTP. */
static void probe_member(struct probe *pr, const struct pc_flows *flows, size_t p, size_t m,
                         size_t *step, size_t steps)
{
    const struct pc_member *member = &pr->cfg->pools[p].members[m];
    for (int tls = 1; tls >= 0; tls--) {
        for (size_t i = 0; i < flows->n; i++) {
            const struct pc_flow *f = &flows->v[i];
            if (f->pool != p || f->tls != (tls == 1))
                continue;
            for (size_t k = 0; k < f->nmembers; k++) {
                if (f->members[k] != m)
                    continue;
                progress(pr, member, f, ++*step, steps);
                probe_flow(pr, f, member);
            }
        }
    }
}

int pc_cmd_probe(const struct pc_config *cfg, const struct pc_tls *tls)
{
    /* A member that resets the connection mid-write must fail a check, not end the tool. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        perror("portico probe: ignoring SIGPIPE");
    struct pc_flows flows;
    if (pc_flows_build(cfg, &flows) < 0) {
        fputs("portico probe: out of memory\n", stderr);
        return 1;
    }
    struct probe pr = {.cfg = cfg, .tls = tls, .tty = isatty(STDERR_FILENO) == 1};
    size_t steps = 0, step = 0;
    for (size_t i = 0; i < flows.n; i++)
        steps += flows.v[i].nmembers;
    /* Member by member in the file's order, so the rows of one member stay together. */
    for (size_t p = 0; p < cfg->npools; p++)
        for (size_t m = 0; m < cfg->pools[p].nmembers; m++)
            probe_member(&pr, &flows, p, m, &step, steps);
    if (pr.tty)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "probe: done, %zu checks, %zu failed\n", pr.nrows, pr.nfail);
    print_table(&pr);
    for (size_t i = 0; i < pr.nrows; i++) {
        free(pr.rows[i].pool);
        free(pr.rows[i].member);
        free(pr.rows[i].reason);
    }
    free(pr.rows);
    pc_flows_free(&flows);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("portico probe: writing the table");
        return 1;
    }
    return pr.nfail ? 1 : 0;
}

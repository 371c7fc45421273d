/* bench/holdconns.c — the long-poll client of `make bench`: opens N TLS connections to a proxy,
 * spread over several local source addresses so that ports never run out, sends one request on
 * each (or none: idle mode) and holds them all open. With RESUME = 1, one priming connection
 * gets a session ticket and every connection resumes it (so that the client's own handshake
 * cost does not limit the rate); with 0 every handshake is a full one.
 * Prints one line `opened=N failed=F secs=S first_error=...` on stdout when every connection is
 * up or has failed, then waits for a line (or EOF) on stdin and closes everything abortively
 * (SO_LINGER 0: no TIME_WAIT left behind). One thread, epoll, non-blocking OpenSSL.
 *
 * With H2 = 1 (idle only), each connection offers ALPN h2 alone and, once the proxy chose it,
 * becomes an idle HTTP/2 connection as a browser leaves one: the client preface and SETTINGS,
 * then the ACK of the server's SETTINGS (RFC 9113 §3.4, §6.5.3); no stream is opened.
 *
 * With HOLD_READ=1 in the environment (make bench-scale), the held connections stay watched
 * after that line: the first bytes of a response on each count as one delivered response, and
 * commands on stdin are answered on stdout: "count" -> "responses=R closed=C last=T" (T: the
 * CLOCK_MONOTONIC time of the latest response, seconds), "close" or EOF -> close all and exit.
 * HOLD_DEADLINE=S gives up on connections not up after S seconds (default 120).
 *
 * Build: cc -O2 -o holdconns holdconns.c -lssl -lcrypto   (bench.py does it at run time)
 * Usage: holdconns ADDR PORT N SRC1,SRC2,... CONCURRENCY SNI REQUEST|- [RESUME [H2]]  ("-": no
 * request). The request argument may use \r\n escapes; they are expanded. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { C_CONNECTING, C_HANDSHAKE, C_WRITING, C_H2_SETTINGS, C_H2_ACK, C_HELD, C_DEAD };

struct conn {
    int fd, state;
    SSL *ssl;
    unsigned char *h2in; /* H2: the server's frames until its SETTINGS */
    size_t h2len;
    int got; /* HOLD_READ: a response has begun */
};

static int h2;
/* The client connection preface, then an empty SETTINGS frame (RFC 9113 §3.4). */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
static const char h2_ack[] = "\0\0\0\x04\x01\0\0\0\0"; /* SETTINGS with ACK */

static struct conn *conns;
static int ep, nheld, nfailed, inflight, resumed, hold_read, responses, nclosed;
static double last_response;
static char first_error[200];
static const char *req;
static size_t reqlen;

static SSL_SESSION *ticket; /* the session of the priming connection, once resumable */

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    if (ticket || !SSL_SESSION_is_resumable(sess))
        return 0;
    ticket = sess;
    return 1; /* we keep the reference */
}

/* A full handshake on a blocking socket, then up to 1 s of reading for the TLS 1.3 tickets. */
static SSL_SESSION *prime(SSL_CTX *ctx, const struct sockaddr_in *dst, const char *sni)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)dst, sizeof *dst) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    if (SSL_connect(ssl) == 1) {
        fcntl(fd, F_SETFL, O_NONBLOCK);
        char b[256];
        for (int i = 0; i < 10 && !ticket; i++) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            if (poll(&pf, 1, 100) > 0) {
                int r = SSL_read(ssl, b, sizeof b);
                if (r <= 0 && SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
                    break;
            }
        }
    }
    ERR_clear_error();
    SSL_shutdown(ssl); /* else SSL_free() marks the session not resumable */
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return ticket;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(struct conn *c, const char *why)
{
    if (!first_error[0]) {
        unsigned long e = ERR_peek_error();
        if (e)
            snprintf(first_error, sizeof first_error, "%s: %s", why, ERR_error_string(e, NULL));
        else
            snprintf(first_error, sizeof first_error, "%s: %s", why, strerror(errno));
    }
    ERR_clear_error();
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
    nfailed++;
    inflight--;
}

/* H2: reads the server's frames until its SETTINGS (not an ACK): 1 when seen, 0 for more,
 * -1 on error. */
static int h2_settings(struct conn *c)
{
    if (!c->h2in && !(c->h2in = malloc(16384 + 9)))
        return -1;
    for (;;) {
        int r = SSL_read(c->ssl, c->h2in + c->h2len, (int)(16384 + 9 - c->h2len));
        if (r <= 0)
            return SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ ? 0 : -1;
        c->h2len += (size_t)r;
        size_t at = 0;
        while (c->h2len - at >= 9) {
            const unsigned char *f = c->h2in + at;
            size_t flen = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
            if (f[3] == 4 && !(f[4] & 1)) {
                free(c->h2in);
                c->h2in = NULL;
                return 1;
            }
            if (c->h2len - at < 9 + flen)
                break;
            at += 9 + flen;
        }
        memmove(c->h2in, c->h2in + at, c->h2len - at);
        c->h2len -= at;
        if (c->h2len == 16384 + 9)
            return -1; /* a frame larger than the default maximum before SETTINGS */
    }
}

static void want(struct conn *c, int err)
{
    struct epoll_event ev = {.events = err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* An SSL call on C returned R (not done): waits for the socket, or fails with WHY. */
static void ssl_blocked(struct conn *c, int r, const char *why)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        want(c, e);
    else
        fail(c, why);
}

static void held_read(struct conn *c);

static void step(struct conn *c)
{
    int r;
    if (c->state == C_HELD) { /* HOLD_READ: a response before every connection is up */
        held_read(c);
        return;
    }
    if (c->state == C_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr) {
            errno = soerr;
            fail(c, "connect");
            return;
        }
        c->state = C_HANDSHAKE;
    }
    if (c->state == C_HANDSHAKE) {
        r = SSL_connect(c->ssl);
        if (r != 1) {
            ssl_blocked(c, r, "handshake");
            return;
        }
        c->state = reqlen ? C_WRITING : C_HELD;
        resumed += SSL_session_reused(c->ssl);
        if (h2) {
            const unsigned char *alpn;
            unsigned alen;
            SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
            if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
                errno = EPROTO;
                fail(c, "ALPN h2 not chosen");
                return;
            }
            c->state = C_WRITING;
        }
    }
    if (c->state == C_WRITING) {
        r = h2 ? SSL_write(c->ssl, h2_preface, (int)sizeof h2_preface - 1)
               : SSL_write(c->ssl, req, (int)reqlen);
        if (r <= 0) {
            ssl_blocked(c, r, "write");
            return;
        }
        c->state = h2 ? C_H2_SETTINGS : C_HELD;
    }
    if (c->state == C_H2_SETTINGS) {
        r = h2_settings(c);
        if (r < 0) {
            fail(c, "reading the server's SETTINGS");
            return;
        }
        if (r == 0) {
            want(c, SSL_ERROR_WANT_READ);
            return;
        }
        c->state = C_H2_ACK;
    }
    if (c->state == C_H2_ACK) {
        r = SSL_write(c->ssl, h2_ack, (int)sizeof h2_ack - 1);
        if (r <= 0) {
            ssl_blocked(c, r, "write");
            return;
        }
        c->state = C_HELD;
    }
    if (c->state == C_HELD) { /* no more events (HOLD_READ: its response): it just stays */
        if (hold_read)
            want(c, SSL_ERROR_WANT_READ);
        else
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        nheld++;
        inflight--;
    }
}

/* HOLD_READ: a held connection is readable: its response, or its end. */
static void held_read(struct conn *c)
{
    char b[4096];
    for (;;) {
        int r = SSL_read(c->ssl, b, sizeof b);
        if (r > 0) {
            if (!c->got) {
                c->got = 1;
                responses++;
                last_response = now();
            }
            continue;
        }
        if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)
            return;
        ERR_clear_error();
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        SSL_free(c->ssl);
        c->ssl = NULL;
        close(c->fd);
        c->fd = -1;
        c->state = C_DEAD;
        nclosed++;
        return;
    }
}

/* HOLD_READ: serves the held connections and stdin's commands until "close" or EOF. */
static void hold_loop(void)
{
    struct epoll_event in = {.events = EPOLLIN, .data.ptr = NULL}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
    char line[64];
    size_t len = 0;
    for (;;) {
        int k = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c) {
                if (c->state == C_HELD)
                    held_read(c);
                continue;
            }
            ssize_t r = read(0, line + len, sizeof line - 1 - len);
            if (r <= 0)
                return;
            len += (size_t)r;
            line[len] = 0;
            char *nl;
            while ((nl = strchr(line, '\n'))) {
                *nl = 0;
                if (strcmp(line, "close") == 0)
                    return;
                if (strcmp(line, "count") == 0) {
                    printf("responses=%d closed=%d last=%.6f\n", responses, nclosed, last_response);
                    fflush(stdout);
                }
                len -= (size_t)(nl + 1 - line);
                memmove(line, nl + 1, len + 1);
            }
            if (len == sizeof line - 1)
                len = 0;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 8 || argc > 10) {
        fprintf(stderr, "usage: holdconns ADDR PORT N SRC1,SRC2,... CONCURRENCY SNI REQUEST|- [RESUME [H2]]\n");
        return 2;
    }
    h2 = argc == 10 && atoi(argv[9]);
    const char *env = getenv("HOLD_READ");
    hold_read = env && atoi(env);
    env = getenv("HOLD_DEADLINE");
    double limit = env && atof(env) > 0 ? atof(env) : 120;
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &dst.sin_addr);
    int n = atoi(argv[3]), conc = atoi(argv[5]);
    const char *sni = argv[6];
    struct in_addr srcs[64];
    int nsrc = 0;
    for (char *tok = strtok(argv[4], ","); tok && nsrc < 64; tok = strtok(NULL, ","))
        if (inet_pton(AF_INET, tok, &srcs[nsrc]) == 1)
            nsrc++;
    if (strcmp(argv[7], "-") != 0) { /* expand \r and \n escapes */
        char *out = malloc(strlen(argv[7]) + 1), *o = out;
        for (const char *p = argv[7]; *p; p++) {
            if (p[0] == '\\' && (p[1] == 'r' || p[1] == 'n')) {
                *o++ = p[1] == 'r' ? '\r' : '\n';
                p++;
            } else
                *o++ = *p;
        }
        req = out;
        reqlen = (size_t)(o - out);
    }

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* on CLIENT, OpenSSL makes TLS 1.3
                                                               * sessions single-use */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (h2)
        SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2", 3);
    SSL_SESSION *sess = NULL;
    if (argc >= 9 && atoi(argv[8])) { /* the ticket comes through the new-session callback */
        SSL_CTX *pctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(pctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_session_cache_mode(pctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(pctx, new_session);
        sess = prime(pctx, &dst, sni);
    }

    conns = calloc((size_t)n, sizeof *conns);
    ep = epoll_create1(0);
    struct epoll_event evs[256];
    double t0 = now(), deadline = t0 + limit;
    int next = 0;
    while ((next < n || inflight > 0) && now() < deadline) {
        while (next < n && inflight < conc) {
            struct conn *c = &conns[next];
            struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = srcs[nsrc ? next % nsrc : 0]};
            next++;
            inflight++;
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            int one = 1;
            if (c->fd < 0) {
                fail(c, "socket");
                continue;
            }
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            /* The port is chosen at connect() for the whole 4-tuple: a port taken by bind()
             * would be denied to every connect() of the machine, the proxy's towards its pool
             * included, and 100,000 clients would leave it none. */
            setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (nsrc && bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
                fail(c, "bind");
                continue;
            }
            if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
                fail(c, "connect");
                continue;
            }
            c->ssl = SSL_new(ctx);
            SSL_set_fd(c->ssl, c->fd);
            if (sess)
                SSL_set_session(c->ssl, sess);
            SSL_set_tlsext_host_name(c->ssl, sni);
            c->state = C_CONNECTING;
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        }
        int k = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < k; i++)
            step(evs[i].data.ptr);
    }
    for (int i = 0; i < n; i++) /* whatever is still in progress at the deadline */
        if (conns[i].fd >= 0 && conns[i].ssl && conns[i].state != C_HELD && conns[i].state != C_DEAD)
            fail(&conns[i], "timeout");
    printf("opened=%d failed=%d secs=%.3f resumed=%d first_error=%s\n", nheld, nfailed + (n - next),
           now() - t0, resumed, first_error[0] ? first_error : "-");
    fflush(stdout);

    char line[64];
    if (hold_read)
        hold_loop();
    else if (!fgets(line, sizeof line, stdin)) { /* EOF also means: close */
    }
    struct linger lg = {1, 0};
    for (int i = 0; i < n; i++) {
        if (conns[i].state != C_HELD)
            continue;
        setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(conns[i].fd);
    }
    return 0;
}

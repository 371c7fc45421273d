/* bench/holdconns.c — the long-poll client of `make bench`: opens N TLS connections to a proxy,
 * spread over several local source addresses so that ports never run out, sends one request on
 * each (or none: idle mode) and holds them all open. With RESUME = 1, one priming connection
 * gets a session ticket and every connection resumes it (so that the client's own handshake
 * cost does not limit the rate); with 0 every handshake is a full one.
 * Prints one line `opened=N failed=F secs=S first_error=...` on stdout when every connection is
 * up or has failed, then waits for a line (or EOF) on stdin and closes everything abortively
 * (SO_LINGER 0: no TIME_WAIT left behind). One thread, epoll, non-blocking OpenSSL.
 *
 * Build: cc -O2 -o holdconns holdconns.c -lssl -lcrypto   (bench.py does it at run time)
 * Usage: holdconns ADDR PORT N SRC1,SRC2,... CONCURRENCY SNI REQUEST|- [RESUME]  ("-": no request)
 * The request argument may use \r\n escapes; they are expanded. */
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

enum { C_CONNECTING, C_HANDSHAKE, C_WRITING, C_HELD, C_DEAD };

struct conn {
    int fd, state;
    SSL *ssl;
};

static struct conn *conns;
static int ep, nheld, nfailed, inflight, resumed;
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

static void want(struct conn *c, int err)
{
    struct epoll_event ev = {.events = err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void step(struct conn *c)
{
    int r, e;
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
            e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                want(c, e);
            else
                fail(c, "handshake");
            return;
        }
        c->state = reqlen ? C_WRITING : C_HELD;
        resumed += SSL_session_reused(c->ssl);
    }
    if (c->state == C_WRITING) {
        r = SSL_write(c->ssl, req, (int)reqlen);
        if (r <= 0) {
            e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                want(c, e);
            else
                fail(c, "write");
            return;
        }
        c->state = C_HELD;
    }
    if (c->state == C_HELD) { /* no more events: the connection just stays */
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        nheld++;
        inflight--;
    }
}

int main(int argc, char **argv)
{
    if (argc != 8 && argc != 9) {
        fprintf(stderr, "usage: holdconns ADDR PORT N SRC1,SRC2,... CONCURRENCY SNI REQUEST|- [RESUME]\n");
        return 2;
    }
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
    SSL_SESSION *sess = NULL;
    if (argc == 9 && atoi(argv[8])) { /* the ticket comes through the new-session callback */
        SSL_CTX *pctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(pctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_session_cache_mode(pctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(pctx, new_session);
        sess = prime(pctx, &dst, sni);
    }

    conns = calloc((size_t)n, sizeof *conns);
    ep = epoll_create1(0);
    struct epoll_event evs[256];
    double t0 = now(), deadline = t0 + 120;
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
    if (!fgets(line, sizeof line, stdin)) { /* EOF also means: close */
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

/* bench/pollserver.c — the pool of `make bench-scale`: a TLS HTTP/1.1 server that holds every
 * request for /poll… unanswered (a pending UCWA event channel) and answers any other request at
 * once with 100 bytes, keep-alive. Several of them share one port (SO_REUSEPORT), so that
 * 100,000 held connections fit under a per-process open-files limit of 20,000.
 *
 * Commands on stdin, one per line, each answered by one line on stdout:
 *   count        -> "held=H conns=C answered=A"
 *   answer K     -> answers up to K held polls now (200, 2-byte JSON body, keep-alive), then
 *                   "answered=A" (A: how many this command answered)
 * EOF on stdin ends the process. One thread, epoll, non-blocking OpenSSL; the server prints
 * "ready" once it listens.
 *
 * Build: cc -O2 -o pollserver pollserver.c -lssl -lcrypto   (bench/scale.py does it)
 * Usage: pollserver CERT KEY PORT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { S_HANDSHAKE, S_READING, S_HELD };

struct conn {
    int fd, state;
    SSL *ssl;
    char *in; /* the request head being read; NULL between requests */
    size_t inlen;
    struct conn *prev, *next; /* the held list, while S_HELD */
};

#define HEAD_MAX 8192
static const char resp_poll[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
static char resp_small[256];
static size_t resp_small_len;

static int ep, nconns, nheld;
static struct conn held; /* list head */

static void held_add(struct conn *c)
{
    c->next = held.next;
    c->prev = &held;
    held.next->prev = c;
    held.next = c;
    nheld++;
}

static void held_del(struct conn *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->prev = c->next = NULL;
    nheld--;
}

static void conn_close(struct conn *c)
{
    if (c->state == S_HELD)
        held_del(c);
    ERR_clear_error();
    SSL_free(c->ssl);
    close(c->fd);
    free(c->in);
    free(c);
    nconns--;
}

/* Writes a whole small response; the socket has room for it on any connection that is not
 * misbehaving (a few dozen bytes), so a short write closes the connection. */
static int reply(struct conn *c, const char *r, size_t len)
{
    int w = SSL_write(c->ssl, r, (int)len);
    return w == (int)len ? 0 : -1;
}

static void want(struct conn *c, int err)
{
    struct epoll_event ev = {.events = err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void step(struct conn *c)
{
    if (c->state == S_HANDSHAKE) {
        int r = SSL_accept(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                want(c, e);
            else
                conn_close(c);
            return;
        }
        c->state = S_READING;
        want(c, SSL_ERROR_WANT_READ);
    }
    for (;;) {
        if (!c->in && !(c->in = malloc(HEAD_MAX))) {
            conn_close(c);
            return;
        }
        int r = SSL_read(c->ssl, c->in + c->inlen, (int)(HEAD_MAX - c->inlen));
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                if (c->inlen == 0) { /* nothing buffered while a connection waits */
                    free(c->in);
                    c->in = NULL;
                    SSL_free_buffers(c->ssl);
                }
                return;
            }
            conn_close(c);
            return;
        }
        if (c->state == S_HELD) { /* the proxy sent more while a poll is held: not expected */
            conn_close(c);
            return;
        }
        c->inlen += (size_t)r;
        char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        if (!end) {
            if (c->inlen == HEAD_MAX) {
                conn_close(c);
                return;
            }
            continue;
        }
        int poll = c->inlen > 10 && memcmp(c->in, "GET /poll", 9) == 0;
        size_t used = (size_t)(end + 4 - c->in);
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
        if (poll) {
            c->state = S_HELD;
            held_add(c);
            if (c->inlen == 0) {
                free(c->in);
                c->in = NULL;
                SSL_free_buffers(c->ssl);
            }
            return; /* stays registered for reading: a close by the proxy is seen */
        }
        if (reply(c, resp_small, resp_small_len) < 0) {
            conn_close(c);
            return;
        }
    }
}

static int answer(int k)
{
    int done = 0;
    while (done < k && held.next != &held) {
        struct conn *c = held.next;
        held_del(c);
        c->state = S_READING;
        if (reply(c, resp_poll, sizeof resp_poll - 1) < 0)
            conn_close(c);
        done++;
    }
    return done;
}

static void command(char *line, long *answered)
{
    int k;
    if (strncmp(line, "count", 5) == 0)
        printf("held=%d conns=%d answered=%ld\n", nheld, nconns, *answered);
    else if (sscanf(line, "answer %d", &k) == 1) {
        int n = answer(k);
        *answered += n;
        printf("answered=%d\n", n);
    } else
        printf("error=unknown command\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: pollserver CERT KEY PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    held.next = held.prev = &held;
    resp_small_len = (size_t)snprintf(resp_small, sizeof resp_small,
                                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                      "Content-Length: 100\r\n\r\n%099d\n",
                                      0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* tickets only */
    /* The same ticket keys in every pollserver process (a bench, not a secret): a proxy's
     * resumption works whichever process its connection lands on. */
    unsigned char keys[80];
    for (size_t i = 0; i < sizeof keys; i++)
        keys[i] = (unsigned char)(i * 7 + 1);
    SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof keys);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3]))};
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
        perror("pollserver: listen");
        return 1;
    }
    ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL}, iev = {.events = EPOLLIN, .data.ptr = &held};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 0, &iev) < 0) {
        perror("pollserver: epoll");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    char line[128];
    size_t linelen = 0;
    long answered = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) {
            perror("pollserver: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) { /* new connections */
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0)
                        break;
                    struct conn *c = calloc(1, sizeof *c);
                    if (!c || !(c->ssl = SSL_new(ctx))) {
                        free(c);
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c->fd = fd;
                    SSL_set_fd(c->ssl, fd);
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                    nconns++;
                    step(c);
                }
            } else if (evs[i].data.ptr == &held) { /* a command */
                ssize_t r = read(0, line + linelen, sizeof line - 1 - linelen);
                if (r <= 0)
                    return 0;
                linelen += (size_t)r;
                line[linelen] = 0;
                char *nl;
                while ((nl = strchr(line, '\n'))) {
                    *nl = 0;
                    command(line, &answered);
                    linelen -= (size_t)(nl + 1 - line);
                    memmove(line, nl + 1, linelen + 1);
                }
                if (linelen == sizeof line - 1)
                    linelen = 0;
            } else
                step(evs[i].data.ptr);
        }
    }
}

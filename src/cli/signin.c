/* signin.c — portico signin list | clear NAME|ADDRESS (docs/signin.md, "Operations"): asks the
 * admin listener of the running portico, which holds the table every worker shares. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/net.h"

/* Appends S percent-encoded (RFC 3986 §2.1, everything but unreserved characters). */
static size_t pct_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

/* Sends REQ to the admin listener and writes the body of the answer to stdout. Returns the
 * HTTP status, or -1 (reported) when the listener cannot be reached. */
static int ask(const struct pc_config *cfg, const char *req)
{
    char ep[64];
    pc_net_endpoint_text(&cfg->admin, ep, sizeof ep);
    int fd = socket(cfg->admin.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&cfg->admin.ss, cfg->admin.len) < 0) {
        fprintf(stderr, "portico: cannot reach the admin listener %s: %s (is portico running?)\n",
                ep, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t n = strlen(req);
    if (send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
        fprintf(stderr, "portico: admin listener %s: %s\n", ep, strerror(errno));
        close(fd);
        return -1;
    }
    static char buf[1 << 20];
    size_t len = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (len < sizeof buf - 1 && poll(&p, 1, 10000) == 1) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    const char *body = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 || !body) {
        fprintf(stderr, "portico: admin listener %s: no answer\n", ep);
        return -1;
    }
    fputs(body + 4, stdout);
    return status;
}

int pc_cmd_signin(const struct pc_config *cfg, const char *op, const char *target)
{
    if (!cfg->has_admin) {
        fputs("portico: signin needs the admin listener (admin = 127.0.0.1:9090 in [proxy])\n",
              stderr);
        return 1;
    }
    char req[1024];
    if (strcmp(op, "list") == 0) {
        snprintf(req, sizeof req, "GET /signin.json HTTP/1.1\r\nHost: portico\r\n\r\n");
    } else {
        /* An address is a source; anything else an account (as a sign-in names it). */
        struct in6_addr a6;
        bool addr = inet_pton(AF_INET, target, &a6) == 1 || inet_pton(AF_INET6, target, &a6) == 1;
        char enc[768];
        pct_encode(target, enc, sizeof enc);
        snprintf(req, sizeof req,
                 "POST /signin/clear?%s=%s HTTP/1.1\r\nHost: portico\r\nContent-Length: 0\r\n\r\n",
                 addr ? "source" : "account", enc);
    }
    int st = ask(cfg, req);
    return st == 200 ? 0 : 1;
}

/* net.c — socket helpers (see net.h). */
#include "common/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void pc_net_set_port(struct pc_addr *a, int port)
{
    if (a->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
}

int pc_net_port(const struct pc_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

void pc_net_addr_text(const struct pc_addr *a, char *buf, size_t size)
{
    const char *r = NULL;
    if (a->ss.ss_family == AF_INET) {
        r = inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, buf,
                      (socklen_t)size);
    } else if (a->ss.ss_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(in6))
            r = inet_ntop(AF_INET, &in6->s6_addr[12], buf, (socklen_t)size);
        else
            r = inet_ntop(AF_INET6, in6, buf, (socklen_t)size);
    }
    if (!r)
        snprintf(buf, size, "?");
}

void pc_net_endpoint_text(const struct pc_addr *a, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    pc_net_addr_text(a, ip, sizeof(ip));
    bool v6 = a->ss.ss_family == AF_INET6 && strchr(ip, ':');
    int port = a->ss.ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)&a->ss)->sin_port)
                                          : ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    snprintf(buf, size, v6 ? "[%s]:%d" : "%s:%d", ip, port);
}

static int fail(int fd, const char **step, const char *what)
{
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (step)
        *step = what;
    errno = err;
    return -1;
}

int pc_net_connect(const struct pc_addr *to, const struct pc_addr *from, const char **step)
{
    int fd = socket(to->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(-1, step, "socket");
    int one = 1;
    /* Best effort: a connection without them still works, only slower or costlier. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (from && from->ss.ss_family == to->ss.ss_family) {
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)&from->ss, from->len) < 0)
            return fail(fd, step, "bind");
    }
    if (connect(fd, (const struct sockaddr *)&to->ss, to->len) < 0 && errno != EINPROGRESS)
        return fail(fd, step, "connect");
    return fd;
}

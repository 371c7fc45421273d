/* net.h — socket helpers in the manner of Redis's anet.c: one job each, one error convention
 * (-1 and errno, with the failing step named where a caller reports it). */
#ifndef PORTICO_NET_H
#define PORTICO_NET_H

#include <stddef.h>

#include "common/net-t.h"

/* Sets the port of an IPv4 or IPv6 address. */
void pc_net_set_port(struct pc_addr *a, int port);

/* The port of an IPv4 or IPv6 address (0 for another family). */
int pc_net_port(const struct pc_addr *a);

/* The address of A as text, without port ("?" if it cannot be written). An IPv4-mapped IPv6
 * address is written as IPv4, the way a client on a dual-stack listener is known. */
void pc_net_addr_text(const struct pc_addr *a, char *buf, size_t size);

/* The address and port of A as text: "192.0.2.1:443" or "[2001:db8::1]:443". */
void pc_net_endpoint_text(const struct pc_addr *a, char *buf, size_t size);

/* Opens a non-blocking TCP socket (TCP_NODELAY, close-on-exec) to TO and starts connecting.
 * With FROM non-NULL and of TO's family, the socket is bound to FROM's address first, the
 * port left to connect() (IP_BIND_ADDRESS_NO_PORT), so that binding reserves no port per
 * address. Returns the socket, connected or in progress (poll for writing, then SO_ERROR); or
 * -1 with errno set and *STEP (when STEP is non-NULL) naming what failed: "socket", "bind" or
 * "connect" (a refused or unreachable member, not the proxy's fault). */
int pc_net_connect(const struct pc_addr *to, const struct pc_addr *from, const char **step);

#endif

/* net-t.h — a socket address with its length. */
#ifndef PORTICO_NET_T_H
#define PORTICO_NET_T_H

#include <sys/socket.h>

struct pc_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

#endif

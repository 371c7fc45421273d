/* listener-t.h — the kinds of listening socket a worker accepts on. */
#ifndef PORTICO_LISTENER_T_H
#define PORTICO_LISTENER_T_H

enum pc_listener_kind { PC_LISTEN_HTTP, PC_LISTEN_HTTPS, PC_LISTEN_ADMIN };

#endif

/* guard-int.h — what guard-admin.c needs of guard.c (not for other files). */
#ifndef PORTICO_GUARD_INT_H
#define PORTICO_GUARD_INT_H

#include <ev.h>

#include "config/config-t.h"
#include "proxy/signin.h"

/* The shared table (NULL without the defence), and its lock around every use. */
struct pc_signin_table *pc_guard_table(void);
void pc_guard_lock(void);
void pc_guard_unlock(void);

/* A 16-byte source key as an address: IPv4 (mapped), else the IPv6 /64 it stands for. */
void pc_guard_key_text(const uint8_t k[16], char *buf, size_t size);

/* Worker start: the sign-in part of the admin pages (guard-admin.c). */
void pc_guard_admin_init(const struct pc_config *cfg, struct ev_loop *loop);

#endif

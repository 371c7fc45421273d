/* signin-store.h — several nodes count sign-ins together through Redis (docs/signin.md,
 * "Several nodes"). Each node keeps its own table (guard.c); every result a node counts is
 * published on one Redis channel, and one worker of every other node applies it to its table.
 * The data path never waits for Redis: publishing is fire-and-forget on a hiredis
 * asynchronous connection driven by the worker's libev loop, and while Redis is unreachable
 * each node goes on counting alone (a warning says so, and portico_signin_store_up is 0). */
#ifndef PORTICO_SIGNIN_STORE_H
#define PORTICO_SIGNIN_STORE_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/net-t.h"
#include "config/config-t.h"

/* The Redis channel every node publishes on and listens to. */
#define PC_STORE_CHANNEL "portico:signin"

/* A result another node counted. */
typedef void pc_store_apply_fn(bool success, int64_t when, const char *account,
                               const uint8_t source[16]);

/* Worker start, when CFG names a store: connects (and reconnects, with backoff) to it. With
 * SUBSCRIBE, this worker also applies the other nodes' results through APPLY; NODE tells this
 * node's own messages apart. */
void pc_store_start(const struct pc_config *cfg, struct ev_loop *loop, bool subscribe,
                    uint32_t node, pc_store_apply_fn *apply);

/* Publishes a result this node counted (SOURCE: the table's 16-byte source key). Dropped
 * when the store is unreachable. */
void pc_store_publish(bool success, int64_t when, const char *account, const uint8_t source[16]);

/* The worker drains (a reload or a stop): it stops applying and publishing. */
void pc_store_stop(void);

/* Whether messages can go to the store now. */
bool pc_store_up(void);

#endif

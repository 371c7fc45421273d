/* guard-int.h — what guard-admin.c needs of guard.c (not for other files). */
#ifndef PORTICO_GUARD_INT_H
#define PORTICO_GUARD_INT_H

#include <ev.h>

#include "common/out-t.h"
#include "config/config-t.h"
#include "http/http1-t.h"
#include "proxy/signin.h"

/* The channels, as docs/signin.md and /metrics name them. */
enum pc_guard_channel {
    PC_GUARD_NTLM,
    PC_GUARD_KERBEROS,
    PC_GUARD_BASIC,
    PC_GUARD_OAUTH,
    PC_GUARD_SOAP,
    PC_GUARD_NCHANNELS
};

/* guard-answer.c: the answer to a refused attempt. Worker start; the head H of the pool's
 * failure on POOL and CH; its whole response RESP[0, LEN) as queued for the client (ACCOUNT:
 * a hash of the account it answered); the answer queued on O (Connection: close when CLOSE,
 * Date from NOW), returning its status or 0 when out of memory. */
void pc_guard_answer_init(const struct pc_config *cfg);
void pc_guard_learn_head(unsigned pool, enum pc_guard_channel ch, const struct pc_head *h);
void pc_guard_learn_body(unsigned pool, enum pc_guard_channel ch, const char *resp, size_t len,
                         uint32_t account);
int pc_guard_answer(struct pc_out *o, unsigned pool, enum pc_guard_channel ch, bool close,
                    double now);

/* The shared table (NULL without the defence), and its lock around every use. */
struct pc_signin_table *pc_guard_table(void);
void pc_guard_lock(void);
void pc_guard_unlock(void);

#endif

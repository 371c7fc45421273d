/* session-int.h — shared by session.c and request.c only: the steps of a client connection
 * that both take (not a public interface). */
#ifndef PORTICO_SESSION_INT_H
#define PORTICO_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/proxy-t.h"

/* Sets the session's deadline to TIMEOUT seconds from now (lazily: see session.c). */
void pc_sess_arm(struct pc_session *s, double timeout);
/* Logs the transaction in progress if any, gives everything back and closes the connection. */
void pc_sess_close(struct pc_session *s);
/* Answers STATUS for the request in progress (nothing of it reached, or will reach, a pool;
 * LOC: a Location for a redirect) and ends the transaction, closing after it when CLOSE.
 * Returns -1 if the session had to close at once, else 0. */
int pc_sess_local(struct pc_session *s, int status, const char *loc, size_t loclen, bool close);
/* A request rejected before routing (malformed, too large): STATUS, then close. */
int pc_sess_reject(struct pc_session *s, int status);

/* request.c: reads and scans a request header block and, once it is complete, parses,
 * routes and starts the transaction. Returns -1 if the session closed, else 0. */
int pc_request_read_head(struct pc_session *s);

#endif

/* auth.h — which authentication binds an upstream connection to one client
 * (docs/lync-publishing.md, "NTLM and Negotiate").
 *
 * NTLM, Negotiate and Kerberos authenticate the TCP connection, not the request (RFC 4559 §6;
 * http.sys keeps the identity per connection), so a member connection that carried them must
 * never serve another client. The rule fails closed: a request or response that names any
 * scheme not known to authenticate each request on its own pins its connection. */
#ifndef PORTICO_AUTH_H
#define PORTICO_AUTH_H

#include <stdbool.h>

#include "http/http1-t.h"

/* Whether the parsed header block H (a request or a response) binds its connection: an
 * Authorization field whose scheme is not request-bound, a WWW-Authenticate field offering any
 * scheme that is not, or Persistent-Auth: true. Fields that cannot be read count as binding. */
bool pc_auth_binds(const struct pc_head *h);

/* Whether the response H challenges only with schemes that bind (NTLM, Negotiate: what IIS
 * answers an anonymous request on an authenticated path), so that a client side which cannot
 * keep the connection (an HTTP/2 stream) has nothing it could answer. */
bool pc_auth_only_bound(const struct pc_head *h);

#endif

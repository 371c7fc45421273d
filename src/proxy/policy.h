/* policy.h — requests portico answers itself before any pool sees them, by rules of the
 * published surface (docs/signin.md, "The exposed surface"): a pool's deny_paths, and the
 * virtual patch for CVE-2023-41763 (the meeturl of Lync Web App's LwaClient.aspx). Pure: the
 * configuration and the request target in, a status out. */
#ifndef PORTICO_POLICY_H
#define PORTICO_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config-t.h"
#include "http/http1-t.h"

/* The longest path pc_policy_path reads (a request line's limit), with its NUL. */
#define PC_MAX_POLICY_PATH (PC_MAX_REQUEST_LINE + 1)

/* The path of the origin-form target T[0, N) (its query cut off) as a pool would read it, into
 * OUT[0, CAP): percent-decoded, '\' taken as '/' (IIS does), empty segments dropped, dot
 * segments resolved (RFC 3986 §5.2.4), lower-cased. Returns its length, or -1 when an escape
 * is bad or decodes to a control character, or OUT is too small. */
long pc_policy_path(const char *t, size_t n, char *out, size_t cap);

/* Whether the normalised path P[0, N) is one of POOL's deny_paths or under it. */
bool pc_policy_denied(const struct pc_pool *pool, const char *p, size_t n);

/* The status to answer for target T[0, N) of a request routed to NAME (403 for a denied path
 * or a meeturl that does not name one of CFG's published names, 400 for a path that cannot be
 * read), or 0 to forward it. CLIENT names the client in the log line of a refusal. */
int pc_policy_check(const struct pc_config *cfg, const struct pc_name *name, const char *t,
                    size_t n, const char *client);

#endif

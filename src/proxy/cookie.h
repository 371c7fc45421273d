/* cookie.h — the MS-WSMAN cookie of cookie affinity (docs/configuration.md, "Balancing and
 * affinity"): portico's own opaque member hash, set by rewrite.c, read back here. */
#ifndef PORTICO_COOKIE_H
#define PORTICO_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http1-t.h"

/* Finds "MS-WSMAN=" among the cookie-pairs of the request H's Cookie fields (RFC 6265 §4.2.1)
 * and, when its value is 8 hex digits, stores it in *ID and returns true. */
bool pc_cookie_wsman(const struct pc_head *h, uint32_t *id);

#endif

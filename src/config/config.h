/* config.h — loading, checking and routing by the configuration (docs/configuration.md). */
#ifndef PORTICO_CONFIG_H
#define PORTICO_CONFIG_H

#include "config/config-t.h"

/* Loads and checks FILE. On success returns the configuration (warnings, such as verify = off,
 * may still be in diag). On any error returns NULL; diag then holds one "FILE:LINE: message"
 * per error. Member host names are resolved here (getaddrinfo), never later. */
struct pc_config *pc_config_load(const char *path, struct pc_diag *diag);
void pc_config_free(struct pc_config *cfg);
void pc_diag_free(struct pc_diag *diag);

/* Finds the published name for HOST (HOSTLEN bytes, any case, optional ":port" and trailing
 * dot ignored): an exact name first, else the longest matching wildcard. NULL when unpublished. */
const struct pc_name *pc_config_route(const struct pc_config *cfg, const char *host,
                                      size_t hostlen);

/* Whether A (any port; IPv4-mapped IPv6 as IPv4) is in trusted_proxies. */
bool pc_config_trusted(const struct pc_config *cfg, const struct pc_addr *a);
/* An IP address as written in X-Forwarded-For ("192.0.2.1", "2001:db8::1", "[2001:db8::1]"),
 * without port; false for anything else. */
bool pc_config_parse_ip(const char *text, size_t len, struct pc_addr *out);

/* A DNS host name as the configuration takes one: labels of letters, digits and '-' (not at
 * either end), 1..63 bytes each, 253 at most in all. */
bool pc_cfg_valid_hostname(const char *s, size_t len);
/* Whether A is a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x.y.z). */
bool pc_cfg_is_loopback(const struct pc_addr *a);

const char *pc_role_str(enum pc_role role);
const char *pc_http_mode_str(enum pc_http_mode mode);

#endif

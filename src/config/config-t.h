/* config-t.h — types of a loaded configuration (docs/configuration.md).
 *
 * A struct pc_config is immutable once loaded: workers read it without locks and a reload
 * builds a whole new one. Every string and array it points to is owned by it and freed by
 * pc_config_free(). */
#ifndef PORTICO_CONFIG_T_H
#define PORTICO_CONFIG_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/net-t.h"

/* The default state_dir (docs/certificates.md): the packaged unit's StateDirectory=. */
#define PC_STATE_DIR "/var/lib/portico"

enum pc_role { PC_ROLE_FRONTEND, PC_ROLE_DIRECTOR, PC_ROLE_OWA, PC_ROLE_GENERIC };

/* What the external HTTP listener does for a published name. AUTO never survives loading:
 * it is resolved per name (forward for lyncdiscover.* when the pool has an http_port). */
enum pc_http_mode { PC_HTTP_AUTO, PC_HTTP_FORWARD, PC_HTTP_REDIRECT, PC_HTTP_OFF };

enum pc_affinity { PC_AFFINITY_NONE, PC_AFFINITY_SOURCE, PC_AFFINITY_COOKIE };

enum pc_log_format { PC_LOG_COMBINED, PC_LOG_JSON, PC_LOG_W3C };

/* TLS protocol versions as OpenSSL numbers them (TLS1_VERSION ...). */
typedef int pc_tls_version;

/* An address prefix of trusted_proxies. IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d, its
 * prefix length plus 96), so that one comparison serves both families and an IPv4-mapped peer
 * of a dual-stack socket matches an IPv4 prefix. */
struct pc_cidr {
    uint8_t addr[16]; /* bits past the prefix are zero */
    uint8_t bits;     /* 0..128 */
};

/* Which external listeners expect a PROXY protocol header from trusted_proxies (a bit per
 * listener kind, in the order of the words of proxy_protocol: off, http, https, on). */
enum pc_proxy_protocol { PC_PP_OFF = 0, PC_PP_HTTP = 1, PC_PP_HTTPS = 2, PC_PP_ON = 3 };

struct pc_member {
    char *host;          /* as written in servers= (name or literal), without port */
    struct pc_addr addr; /* one resolved address; port = 0 */
    int https_port;      /* the entry's :port, else the pool's https_port (0 = none) */
    int http_port;       /* the pool's http_port (0 = none) */
    uint32_t id;         /* stable hash of host + address + https port (cookie affinity) */
    int line;            /* line of servers= */
};

struct pc_pool;

struct pc_name {
    char *name;             /* lower case; for a wildcard the suffix with its dot: ".contoso.com" */
    bool wildcard;          /* "*.contoso.com" */
    enum pc_http_mode http; /* never PC_HTTP_AUTO after loading */
    struct pc_pool *pool;
    int line;
};

struct pc_pool {
    char *name;
    int line; /* line of the [pool NAME] header */
    enum pc_role role;
    struct pc_member *members;
    size_t nmembers;
    char **publish; /* as written, lower case */
    size_t npublish;
    int https_port;         /* default by role: frontend/director 4443, owa 443, generic 443 */
    int http_port;          /* default by role: frontend/director 8080, owa/generic 0 = none */
    enum pc_http_mode http; /* as configured (may be AUTO) */
    char *ca;               /* absolute path or NULL (system store) */
    char *verify_name;      /* NULL = the request's Host */
    bool verify;
    pc_tls_version tls_min;
    char *ciphers; /* NULL = modern default */
    enum pc_affinity affinity;
    double health_interval;
    int health_rise;
    int health_fall;
    /* Request policy (docs/signin.md, "The exposed surface"): path prefixes answered 403,
     * lower case, each starting with '/'; and the CVE-2023-41763 check of LwaClient.aspx's
     * meeturl (-1: by role, on for frontend and director). */
    char **deny_paths;
    size_t ndeny_paths;
    int meeturl_check;
};

struct pc_cert {
    char *cert; /* absolute path of the PEM chain */
    char *key;  /* absolute path of the key, or NULL when it is in cert */
    int line;
    int key_line; /* line of key=, 0 when none */
    int acme;     /* certificate = acme (docs/certificates.md#acme): PC_ACME_ECDSA or
                   * PC_ACME_RSA, the files in state_dir/acme/; 0: files given */
};

/* [acme] (docs/certificates.md#acme): RFC 8555 issuance for `certificate = acme`. */
enum { PC_ACME_ECDSA = 1, PC_ACME_RSA = 2, PC_ACME_BOTH = 3 };
/* [acme] challenge: auto is resolved by the loader (http-01 when the port-80 listener exists,
 * else tls-alpn-01), so a loaded configuration holds one of the other two. */
enum pc_acme_challenge { PC_ACME_CH_AUTO = 0, PC_ACME_CH_HTTP01 = 1, PC_ACME_CH_TLSALPN01 = 2 };
struct pc_acme_cfg {
    char *directory;     /* the directory URL; NULL: no [acme] (or no directory) */
    char *contact;       /* mailto:..., or NULL */
    char *ca;            /* absolute: the CA of the directory's TLS; NULL: the system store */
    int key_type;        /* PC_ACME_ECDSA, _RSA or _BOTH */
    double renew_before; /* seconds before notAfter; 0: at two thirds of the lifetime */
    int challenge;       /* enum pc_acme_challenge: HTTP01 or TLSALPN01 once loaded */
    char **names;        /* the order's names: every exact published name (wildcards left out) */
    size_t nnames;
    int line; /* of the first certificate = acme, 0 when none */
};

/* [signin] (docs/signin.md): the sign-in defence against password spraying and lockout. */
enum pc_signin_key { PC_SIGNIN_KEY_USER, PC_SIGNIN_KEY_DOMAIN };
struct pc_signin_cfg {
    bool on;                 /* defence */
    int threshold;           /* lockout_threshold: failures per account and allowance */
    double window, duration; /* lockout_window, lockout_duration */
    double familiar;         /* familiar_sources: how long a success keeps a source familiar */
    int spray_accounts;      /* distinct accounts failed from one source within... */
    double spray_window;     /* ...this many seconds lock the source for... */
    double spray_duration;   /* ...this long */
    double failure_delay;    /* every failure leaves no sooner than this after the request */
    int account_key;         /* enum pc_signin_key */
    int max_accounts, max_sources; /* the shared table's size (taken at start only) */
    bool has_store;                /* store: several nodes share their counts through Redis */
    struct pc_addr store;          /* ... at this address and port */
};

struct pc_config {
    char *path; /* the file as given */

    struct pc_addr *external; /* port 0; listeners bind each with https_port/http_port */
    size_t nexternal;
    bool has_internal;
    struct pc_addr internal; /* port 0 */
    int https_port;          /* 0 = off */
    int http_port;           /* 0 = off */
    struct pc_cert *certs;
    size_t ncerts;
    pc_tls_version tls_min;
    char *ciphers;         /* NULL = modern default */
    char *ticket_key_file; /* absolute path or NULL */
    int workers;           /* resolved: auto = number of online CPUs */
    char *user;            /* NULL = none */
    int max_connections;
    int max_connections_per_client; /* per client address and worker; 0 = no cap (corporate
                                     * NAT puts many Lync users behind one address) */
    int max_pinned_per_client;      /* member connections bound by NTLM/Negotiate to one client
                                     * connection (docs/configuration.md) */
    char *access_log;               /* absolute path, "stdout", or NULL for off */
    enum pc_log_format access_log_format;
    bool has_admin;
    struct pc_addr admin; /* with port */
    double timeout_connect, timeout_handshake, timeout_header, timeout_keepalive, timeout_idle;
    double drain_timeout;
    /* Behind a load balancer (docs/configuration.md): the balancers' addresses, and what is
     * believed from them. */
    struct pc_cidr *trusted;
    size_t ntrusted;
    int proxy_protocol; /* enum pc_proxy_protocol */
    bool trust_forwarded_for;
    bool certificate_watch; /* reload when a listener certificate or key file changes */
    bool http2;             /* docs/http2.md: ALPN offers h2 on the HTTPS listener */
    bool tls_handover;      /* docs/configuration.md: quiet TLS 1.3 connections leave OpenSSL */
    bool ocsp_stapling;     /* docs/certificates.md: staple OCSP responses (RFC 6066 §8) */
    char *state_dir;        /* absolute: the OCSP response cache (default PC_STATE_DIR) */
    struct pc_signin_cfg signin;
    struct pc_acme_cfg acme;

    struct pc_pool *pools;
    size_t npools;
    struct pc_name *names; /* every published name of every pool */
    size_t nnames;

    /* Private to src/config: the hash index pc_config_route() looks names up in. */
    struct pc_route_index *route_index;
};

/* Diagnostics collected while loading: one "FILE:LINE: message" (or "FILE: message") per line. */
struct pc_diag {
    char *text; /* NUL-terminated, '\n' after each line; NULL when empty */
    size_t len;
    int nerrors;
    int nwarnings;
};

#endif

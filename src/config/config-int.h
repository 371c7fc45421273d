/* config-int.h — shared by the files of src/config only (not a public
 * interface).
 *
 * config.c drives loading (sections, keys, checks across keys), config-value.c
 * parses single values (numbers, addresses, names, paths), route.c holds the
 * index of published names. */
#ifndef PORTICO_CONFIG_INT_H
#define PORTICO_CONFIG_INT_H

#include "common/net.h"
#include "common/util.h"
#include "config/config.h"

#include <openssl/ssl.h>
#include <stdarg.h>
#include <sys/types.h>

struct pc_cfg_loader;

/* Diagnostics, collected and sorted by line when loading ends. LINE 0 = the
 * file as a whole. */
struct pc_cfg_msg {
    int line;
    int seq; /* keeps the messages of one line in the order they were found */
    bool warning;
    char *text;
};
struct pc_cfg_msgs {
    struct pc_cfg_msg *v;
    size_t n, cap;
};
void pc_cfg_msgs_add(struct pc_cfg_msgs *ms, int line, bool warning, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* Appends the messages to DIAG (may be NULL) sorted by line, frees them,
 * returns the number of errors among them. */
int pc_cfg_msgs_flush(struct pc_cfg_msgs *ms, const char *path, struct pc_diag *diag);

/* ---- loading state (config.c drives it; config-check.c reads it at the end) ---- */

/* Indices of the keys whose lines are needed after parsing (config.c checks that they are in
 * step with its key tables). */
enum {
    PK_TICKET = 8,
    PK_USER = 10,
    PK_PROXY_PROTOCOL = 24,
    PK_TRUST_XFF = 25,
    PK_STATE_DIR = 28,
    NPROXYKEYS = 31 /* keys of [proxy] */
};
enum {
    QK_SERVERS = 1,
    QK_PUBLISH = 2,
    QK_HTTPS_PORT = 3,
    QK_HTTP_PORT = 4,
    QK_HTTP = 5,
    QK_CA = 6,
    NPOOLKEYS = 17 /* keys of [pool NAME] */
};
enum { NSIGNINKEYS = 13 /* keys of [signin] */ };
enum { AK_CHALLENGE = 5, NACMEKEYS = 6 /* keys of [acme] */ };

/* What a pool needs while loading and not afterwards. */
struct pool_aux {
    int seen[NPOOLKEYS]; /* line of each key, 0 = absent */
    struct pc_cfg_server *servers;
    size_t nservers, cap_servers;
    bool duplicate; /* a second [pool NAME]: checked alone, left out of the checks across pools */
};

enum section { SEC_NONE, SEC_PROXY, SEC_POOL, SEC_SIGNIN, SEC_ACME, SEC_SKIP };

struct pc_cfg_loader {
    struct pc_config *cfg;
    char *dir; /* absolute directory of the file, for relative paths */
    enum section sec;
    int proxy_seen[NPROXYKEYS];
    int signin_seen[NSIGNINKEYS];
    int signin_line; /* of the [signin] header, 0 when there is none */
    int acme_seen[NACMEKEYS];
    int acme_line; /* of the [acme] header, 0 when there is none */
    size_t cap_pools, cap_certs, cap_external;
    struct pool_aux *aux; /* parallel to cfg->pools */
    SSL_CTX *ssl;         /* created on demand to check cipher strings */
    struct pc_cfg_msgs msgs;
};

/* config-check.c: the checks across keys once the file is read (defaults that depend on the
 * machine, the `user` and ticket checks, the balancer keys), then cfg->names and the route
 * index (names published twice are errors). */
void pc_cfg_finish_proxy(struct pc_cfg_loader *ld);
void pc_cfg_build_names(struct pc_cfg_loader *ld);
/* config-check.c: `certificate = acme` resolved to its files, and the order's names. */
void pc_cfg_finish_acme(struct pc_cfg_loader *ld);

/* The loader's own: they add to its messages. */
void pc_cfg_error(struct pc_cfg_loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pc_cfg_warn(struct pc_cfg_loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocation. A configuration is loaded at start and on reload, where running
 * out of memory leaves nothing sensible to do: these abort with a message
 * instead of returning NULL. */
void *pc_cfg_calloc(size_t n, size_t size);
void *pc_cfg_reallocarray(void *p, size_t n, size_t size);
char *pc_cfg_strdup(const char *s);
char *pc_cfg_strndup(const char *s, size_t n);
char *pc_cfg_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grows ARR (of *CAP elements) so that one more element fits after N. */
#define PC_CFG_RESERVE(arr, n, cap)                                                                \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? 2 * (cap) : 4;                                                         \
            (arr) = pc_cfg_reallocarray((arr), (cap), sizeof *(arr));                              \
        }                                                                                          \
    } while (0)

/* Whitespace-separated items of a value: returns the next one (length in *LEN)
 * and advances *P, or NULL when none is left. */
const char *pc_cfg_next_item(const char **p, size_t *len);

/* A decimal number from MIN to MAX (digits only); no error reporting. */
bool pc_cfg_parse_int(const char *val, int min, int max, int *out);

/* Single values. Each reports its own error (naming KEY and the value) and
 * returns false. */
bool pc_cfg_int(struct pc_cfg_loader *ld, int line, const char *key, const char *val, int min,
                int max, int *out);
bool pc_cfg_seconds(struct pc_cfg_loader *ld, int line, const char *key, const char *val,
                    double *out);
bool pc_cfg_onoff(struct pc_cfg_loader *ld, int line, const char *key, const char *val, bool *out);
/* WORDS is NULL-terminated; *OUT gets the index of the match. */
bool pc_cfg_word(struct pc_cfg_loader *ld, int line, const char *key, const char *val,
                 const char *const *words, int *out);
bool pc_cfg_tls_version(struct pc_cfg_loader *ld, int line, const char *key, const char *val,
                        pc_tls_version *out);

/* An IPv4 or IPv6 literal. WANT_PORT: "1.2.3.4:80" or "[::1]:80" (the port is
 * stored in the address). Otherwise: "1.2.3.4", "::1" or "[::1]" with port 0.
 * No error reporting. */
bool pc_cfg_parse_addr(const char *text, size_t len, bool want_port, struct pc_addr *out);
bool pc_cfg_same_addr(const struct pc_addr *a, const struct pc_addr *b);

/* A servers= entry, its addresses resolved. */
struct pc_cfg_server {
    char *host; /* without port and brackets */
    int port;   /* the entry's :port, 0 = the pool's https_port */
    struct pc_addr *addrs;
    size_t naddrs;
};
bool pc_cfg_server(struct pc_cfg_loader *ld, int line, const char *text, size_t len,
                   struct pc_cfg_server *out);
void pc_cfg_server_free(struct pc_cfg_server *s);

/* A publish= item, checked and lower-cased, one trailing dot removed; NULL
 * after an error. */
char *pc_cfg_publish_name(struct pc_cfg_loader *ld, int line, const char *text, size_t len);

/* The absolute directory of the configuration file PATH: relative paths start
 * there. */
char *pc_cfg_config_dir(const char *path);
/* VAL made absolute against DIR (the configuration file's directory). */
char *pc_cfg_abspath(const char *dir, const char *val);
/* Checks that PATH is a readable file; reports "KEY 'PATH': reason" otherwise.
 */
bool pc_cfg_check_file(struct pc_cfg_loader *ld, int line, const char *key, const char *path);

/* The user of `user =` (not root) and its primary group, the only group portico
 * keeps (pc_drop_privileges): the files are checked as they will be read. */
struct pc_cfg_user {
    char name[64];
    uid_t uid;
    gid_t gid;
};
/* Looks the user NAME up; false (an unknown user reported, or root) when there
 * is nothing to check. */
bool pc_cfg_user_lookup(struct pc_cfg_loader *ld, int line, const char *name,
                        struct pc_cfg_user *u);
/* Reports PATH (when it exists; NULL is fine) if U may not read it or reach it.
 */
void pc_cfg_check_user_file(struct pc_cfg_loader *ld, const struct pc_cfg_user *u, int line,
                            const char *key, const char *path);

/* The route index: an open-addressing hash table of cfg->names (exact names and
 * wildcard suffixes such as ".contoso.com" side by side; an exact name never
 * starts with '.'). */
struct pc_route_index;
struct pc_route_index *pc_route_index_new(size_t nnames);
/* Adds NAMES[I]. Returns -1, or the index of an equal name already in (nothing
 * is added). */
long pc_route_index_add(struct pc_route_index *ix, const struct pc_name *names, size_t i);
void pc_route_index_free(struct pc_route_index *ix);

/* trusted_proxies = ADDRESS[/BITS] ... (trust.c): appends to cfg->trusted, reports bad items. */
void pc_cfg_key_trusted(struct pc_cfg_loader *ld, struct pc_config *cfg, int line, const char *val);

/* ---- the key tables (config.c) and what fills them (config-keys.c) ---- */

struct pc_cfg_loader;
struct keydef;
typedef void pc_cfg_key_fn(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                           const char *val);

enum ktype { K_SECONDS, K_INT, K_PORT_OFF, K_WORD, K_ONOFF, K_TLS, K_STR, K_FILE, K_FN };

struct keydef {
    const char *name;
    enum ktype type;
    size_t off;               /* of the field in struct pc_config / struct pc_pool */
    int min, max;             /* K_INT, K_PORT_OFF */
    const char *const *words; /* K_WORD: the values; K_PORT_OFF: the words that mean 0 */
    pc_cfg_key_fn *fn;        /* K_FN */
    bool repeat;              /* may appear more than once in a section */
};

/* The keys that take more than a value of a kind (config-keys.c): one function each, called
 * by the loader with the key (K) and the object its table fills (OBJ). */
pc_cfg_key_fn pc_cfg_key_delay, pc_cfg_key_deny_paths, pc_cfg_key_store, pc_cfg_key_acme_url,
    pc_cfg_key_contact, pc_cfg_key_renew, pc_cfg_key_key_type, pc_cfg_key_external,
    pc_cfg_key_internal, pc_cfg_key_certificate, pc_cfg_key_key, pc_cfg_key_workers,
    pc_cfg_key_access_log, pc_cfg_key_admin, pc_cfg_key_ciphers, pc_cfg_key_servers,
    pc_cfg_key_publish, pc_cfg_key_verify, pc_cfg_key_verify_name, pc_cfg_key_trusted_proxies,
    pc_cfg_key_state_dir;

/* The pool being read, and what the loader keeps of it (the last [pool NAME]). */
static inline struct pc_pool *pc_cfg_cur_pool(struct pc_cfg_loader *ld)
{
    return &ld->cfg->pools[ld->cfg->npools - 1];
}

static inline struct pool_aux *pc_cfg_cur_aux(struct pc_cfg_loader *ld)
{
    return &ld->aux[ld->cfg->npools - 1];
}

#endif

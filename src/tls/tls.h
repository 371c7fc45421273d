/* tls.h — OpenSSL contexts: the public side (certificates chosen by SNI, tickets shared by
 * every worker and, with ticket_key_file, by every instance) and one client context per pool
 * (trust anchors, verification, versions) for SSL bridging.
 *
 * Contexts are built by the master from a configuration (at start and on every reload, so
 * certificates are re-read) and inherited by the workers at fork. */
#ifndef PORTICO_TLS_H
#define PORTICO_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config-t.h"

struct pc_tls_server {
    SSL_CTX *ctx;
    unsigned char sid[32]; /* session id context: a digest of the names */
    unsigned int sidlen;
    char **names; /* DNS names of the certificate(s), lower case; "*.x" for wildcards */
    size_t nnames;
};

struct pc_tls {
    struct pc_tls_server *servers; /* [0] is the default: clients without SNI get it */
    size_t nservers;
    SSL_CTX **pool_ctx; /* parallel to cfg->pools */
    size_t npools;
    struct pc_ocsp_set *ocsp; /* the listener certificates' OCSP stapling (tls/ocsp.h) */
};

/* Builds every context CFG needs. On error returns NULL after adding "FILE:LINE: message"
 * lines to DIAG (or logging them when DIAG is NULL). */
struct pc_tls *pc_tls_load(const struct pc_config *cfg, struct pc_diag *diag);
void pc_tls_free(struct pc_tls *t);

/* The secret behind session-ticket keys: from ticket_key_file, else random. Called once in
 * the master before workers start, so that all of them encrypt and decrypt alike. */
int pc_tls_ticket_secret(const struct pc_config *cfg);

/* Forgets the session-ticket secret (the OCSP helper process, which never needs it). */
void pc_tls_forget_secrets(void);

/* Does the certificate pattern PAT (exact or "*.suffix", one label) cover HOST[0, LEN)? */
bool pc_tls_name_match(const char *pat, const char *host, size_t len);
/* Does server context IDX cover HOST? */
bool pc_tls_covers(const struct pc_tls *t, size_t idx, const char *host, size_t len);
/* The index of the server context whose certificate an established connection was
 * authenticated with (for a resumed session: the one that made the session). */
size_t pc_tls_server_index(const struct pc_tls *t, SSL *ssl);

/* The last OpenSSL error as text (for logs), or FALLBACK. */
const char *pc_tls_error(char *buf, size_t len, const char *fallback);

/* What a non-blocking TLS step waits for: the values of libev's EV_READ and EV_WRITE, so that
 * a caller can hand them to its watcher as they are. */
enum { PC_TLS_WANT_READ = 0x01, PC_TLS_WANT_WRITE = 0x02 };

/* One step of a non-blocking TLS handshake (client or server side, as SSL was set up).
 * Returns 1 when the handshake is done; 0 when it waits, with *WANT set to PC_TLS_WANT_READ or
 * PC_TLS_WANT_WRITE; -1 when it failed, with *ERR (when ERR is not NULL) set to
 * SSL_get_error's code and OpenSSL's error queue holding the reason (pc_tls_error reads it). */
int pc_tls_step(SSL *ssl, uint8_t *want, int *err);

/* Whether ALPN chose h2 for the client connection SSL (http2 = on, docs/http2.md). */
bool pc_tls_alpn_h2(SSL *ssl);

#endif

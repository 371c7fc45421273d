/* acme.h — the ACME client (docs/certificates.md#acme, RFC 8555): the shared challenge table
 * and the state_dir files (acme.c), the helper process that orders and renews (acme-order.c),
 * and the keys, JWS and CSRs (acme-jws.c). Types: acme-t.h. */
#ifndef PORTICO_ACME_H
#define PORTICO_ACME_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config/config-t.h"
#include "tls/acme-t.h"

/* Master, before anything forks: maps the challenge table. -1 (errno set) if it cannot. */
int pc_acme_init(void);

/* Whether CFG has `certificate = acme` (then the master runs the ACME helper). */
bool pc_acme_wanted(const struct pc_config *cfg);

/* Master, before it loads the TLS contexts of CFG: makes state_dir and state_dir/acme (0700,
 * handed to UID:GID when CHOWN_IT) and, for each `certificate = acme` pair that has no files
 * yet, a self-signed placeholder (so that the HTTPS listener starts at once; the helper
 * orders the real one right away). -1 (logged) on failure. */
int pc_acme_prepare(const struct pc_config *cfg, bool chown_it, uid_t uid, gid_t gid);

/* Workers: the key authorization for TOKEN[0, LEN) copied into OUT (at most OSIZE bytes);
 * its length, or 0 when no challenge has that token. */
size_t pc_acme_challenge(const char *token, size_t len, char *out, size_t osize);

/* Helper: publishes (KEYAUTH non-NULL) or withdraws a challenge. -1 when the table is full. */
int pc_acme_token_set(const char *token, const char *keyauth);
void pc_acme_tokens_clear(void);

/* "http-01" or "tls-alpn-01" for [acme] challenge C (enum pc_acme_challenge). */
const char *pc_acme_challenge_str(int c);

/* ---- acme-alpn.c: TLS-ALPN-01 (RFC 8737) ---- */

/* Master, before anything forks (from pc_acme_init): maps the validation certificates. */
int pc_acme_alpn_init(void);
/* The validation certificate of NAME (RFC 8737 §3): self-signed by KEY, subjectAltName NAME
 * alone, the critical id-pe-acmeIdentifier holding DIGEST (SHA-256 of the key authorization). */
X509 *pc_acme_alpn_cert(EVP_PKEY *key, const char *name, const unsigned char digest[32]);
/* Helper: publishes for NAME a validation certificate (a new P-256 key) for KEYAUTH. -1 when
 * it cannot be made or the table is full. */
int pc_acme_alpn_set(const char *name, const char *keyauth);
void pc_acme_alpn_clear(void);
/* Workers, the three hooks of a listener context (tls.c), in the order OpenSSL calls them:
 * from the ClientHello callback, notes whether SSL's ClientHello offers ALPN acme-tls/1 alone
 * (RFC 8737 §3: the CA validating); the certificate callback (SSL_CTX_set_cert_cb), serving the
 * SNI's validation certificate then; from the ALPN select callback: -1 when acme-tls/1 alone
 * was not offered (the caller negotiates as usual), else SSL_TLSEXT_ERR_OK with acme-tls/1 in
 * *OUT, or SSL_TLSEXT_ERR_ALERT_FATAL (no_application_protocol) when no challenge for the SNI
 * is pending. */
void pc_acme_alpn_hello(SSL *ssl);
int pc_acme_alpn_cert_cb(SSL *ssl, void *arg);
int pc_acme_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                        const unsigned char *in, unsigned int inlen);
/* Whether the handshake of SSL chose acme-tls/1: the connection is closed, never routed. */
bool pc_acme_alpn_chosen(SSL *ssl);

/* Master, with no ACME helper running: marks the pairs CFG configures (counters kept). */
void pc_acme_status_reset(const struct pc_config *cfg);
/* Helper: the result of an attempt for key type TYPE (PC_ACME_ECDSA, _RSA) at ATTEMPT (0: no
 * attempt, only NEXT changes), WHY it failed (NULL when OK). */
void pc_acme_status_set(int type, bool ok, const char *why, int64_t attempt, int64_t next);
/* Admin side: the state of pair I (0: ECDSA, 1: RSA); false when not configured. */
bool pc_acme_info(int i, struct pc_acme_info *out);

/* When the certificate in FILE is due for renewal under CFG (RFC 8555 leaves it to the
 * client: renew_before, or two thirds of the lifetime); 0 when it must be ordered now (absent,
 * unreadable, the placeholder, or missing one of the order's names). */
time_t pc_acme_renew_at(const struct pc_config *cfg, const char *file);

/* ---- acme-ari.c: renewal information (RFC 9773) ---- */

#define PC_ACME_ARI_ID_MAX  160   /* 20-byte key id and 21-byte serial: 57 characters */
#define PC_ACME_ARI_DEFAULT 21600 /* seconds to the next check without a Retry-After */
#define PC_ACME_ARI_MIN     60
#define PC_ACME_ARI_MAX     86400

/* The certificate identifier of X (§4.1) into OUT; -1 when X has no authority key identifier
 * (then the CA cannot be asked about it). */
int pc_acme_ari_id(X509 *x, char *out, size_t osize);
/* The suggested window of the renewal information BODY (§4.2) into *START and *END; -1 with
 * WHY when it is not one (not JSON, no window, a date that is not RFC 3339, end before start). */
int pc_acme_ari_window(const char *body, time_t *start, time_t *end, char *why, size_t wsize);
/* A time in [START, END] drawn from RND (uniform: §4.2). */
time_t pc_acme_ari_pick(time_t start, time_t end, uint64_t rnd);
/* When to ask again, at NOW, given the answer's Retry-After (NULL or "": none; §4.3), clamped to
 * [PC_ACME_ARI_MIN, PC_ACME_ARI_MAX] seconds. */
time_t pc_acme_ari_next(const char *retry_after, time_t now);

/* The helper process (acme-order.c): orders and renews every `certificate = acme` pair of
 * CFG, for ever. Never returns. */
_Noreturn void pc_acme_helper_run(const struct pc_config *cfg);

/* ---- acme-jws.c ---- */

/* base64url without padding (RFC 8555 §6.1, RFC 7515 §2) of DATA[0, LEN); malloc'ed. */
char *pc_acme_b64url(const unsigned char *data, size_t len);
/* A new key: PC_ACME_ECDSA (P-256) or PC_ACME_RSA (2048 bits). */
EVP_PKEY *pc_acme_key_new(int type);
/* The key in FILE (PEM), or NULL. */
EVP_PKEY *pc_acme_key_load(const char *file);
/* KEY as PEM (PKCS #8), malloc'ed, *LEN set; NULL on failure. The caller frees it with
 * OPENSSL_clear_free. */
char *pc_acme_key_pem(EVP_PKEY *key, size_t *len);
/* The JWK of the P-256 account key (RFC 7518 §6.2.1), new reference. */
json_t *pc_acme_jwk(EVP_PKEY *key);
/* base64url(SHA-256(JWK)) with the members in RFC 7638's order, into OUT (>= 44 bytes). */
int pc_acme_thumbprint(const json_t *jwk, char *out, size_t osize);
/* The flattened JWS (RFC 8555 §6.2, RFC 7515 §7.2.2) of PAYLOAD (NULL: "" for POST-as-GET,
 * §6.3) to URL with NONCE, signed ES256 by KEY, with KID or else JWK. Malloc'ed JSON text. */
char *pc_acme_jws(EVP_PKEY *key, const json_t *jwk, const char *kid, const char *nonce,
                  const char *url, const json_t *payload);
/* The DER CSR for NAMES (subjectAltName dNSName each, RFC 8555 §7.4), signed by KEY,
 * base64url; malloc'ed. */
char *pc_acme_csr(EVP_PKEY *key, char *const *names, size_t n);
/* A self-signed placeholder for NAMES, valid one day, marked as such (pc_acme_is_placeholder). */
X509 *pc_acme_placeholder(EVP_PKEY *key, char *const *names, size_t n);
bool pc_acme_is_placeholder(X509 *x);

#endif

/* acme-t.h — the types of the ACME client (docs/certificates.md#acme, RFC 8555).
 *
 * The state shared between processes is the table of HTTP-01 challenges (RFC 8555 §8.3):
 * one anonymous shared region mapped by the master before anything forks, written by the ACME
 * helper while an authorization is pending, read by every worker answering
 * /.well-known/acme-challenge/TOKEN on the port-80 listener. Each entry is a seqlock (one
 * writer: the helper; the workers never wait), as the OCSP slots are (ocsp-t.h). */
#ifndef PORTICO_ACME_T_H
#define PORTICO_ACME_T_H

#include <stdbool.h>
#include <stdint.h>

#define PC_ACME_TOKENS      32 /* pending challenges at once: one per name of the order */
#define PC_ACME_TOKEN_MAX   128
#define PC_ACME_KEYAUTH_MAX 256 /* TOKEN "." base64url(SHA-256 thumbprint): 43 more */

struct pc_acme_token {
    uint32_t seq; /* even: stable; odd: being written */
    uint32_t len; /* of token; 0: free */
    char token[PC_ACME_TOKEN_MAX];
    uint32_t klen;
    char keyauth[PC_ACME_KEYAUTH_MAX]; /* the key authorization (RFC 8555 §8.1) */
};

/* TLS-ALPN-01 (RFC 8737): one validation certificate per identifier being validated, a second
 * shared region beside the tokens (acme-alpn.c says why the DER bytes and not files). The
 * helper writes, every worker reads in the handshake when a ClientHello offers acme-tls/1. */
#define PC_ACME_ALPN_SLOTS    32 /* as PC_ACME_TOKENS: one per name of the order */
#define PC_ACME_ALPN_NAME_MAX 256
#define PC_ACME_ALPN_CERT_MAX 1024 /* a P-256 self-signed certificate of one name: ~400-700 */
#define PC_ACME_ALPN_KEY_MAX  256  /* a P-256 private key, DER: ~120 */

struct pc_acme_alpn {
    uint32_t seq;                     /* even: stable; odd: being written */
    uint32_t nlen;                    /* of name; 0: free */
    char name[PC_ACME_ALPN_NAME_MAX]; /* the identifier, lower case: the SNI the CA sends */
    uint32_t clen, klen;
    unsigned char cert[PC_ACME_ALPN_CERT_MAX]; /* DER */
    unsigned char key[PC_ACME_ALPN_KEY_MAX];   /* DER */
};

/* The state of one `certificate = acme` pair (index 0: ECDSA, 1: RSA), written by the helper
 * (a seqlock too), read by the admin pages for /metrics and the status page's ACME column
 * (docs/monitoring.md, docs/certificates.md). */
struct pc_acme_status {
    uint32_t seq;
    uint8_t used;      /* configured: set by the master before it starts the helper */
    uint8_t last_ok;   /* the last attempt succeeded */
    uint8_t challenge; /* enum pc_acme_challenge (config-t.h), set by the master */
    char name[96];     /* the order's first name */
    char detail[160];  /* why the last attempt failed ("" after a success) */
    int64_t last_attempt, next_attempt; /* 0: none yet */
    uint64_t failures_total;
};

/* A copy for the admin pages. */
struct pc_acme_info {
    char name[96];
    const char *key;       /* "ecdsa", "rsa" */
    const char *challenge; /* "http-01", "tls-alpn-01" */
    bool last_ok;
    char detail[160];
    int64_t last_attempt, next_attempt;
    uint64_t failures_total;
};

#endif

/* acme-t.h — the types of the ACME client (docs/certificates.md#acme, RFC 8555).
 *
 * The only state shared between processes is the table of HTTP-01 challenges (RFC 8555 §8.3):
 * one anonymous shared region mapped by the master before anything forks, written by the ACME
 * helper while an authorization is pending, read by every worker answering
 * /.well-known/acme-challenge/TOKEN on the port-80 listener. Each entry is a seqlock (one
 * writer: the helper; the workers never wait), as the OCSP slots are (ocsp-t.h). */
#ifndef PORTICO_ACME_T_H
#define PORTICO_ACME_T_H

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

#endif

/* ocsp-t.h — the types of OCSP stapling (docs/certificates.md; RFC 6960 responses, stapled as
 * RFC 6066 §8 status_request).
 *
 * Two kinds of state. A set (struct pc_ocsp_set, private memory) is built by the master with
 * each TLS configuration: one entry per listener certificate, with its issuer and responder,
 * inherited by the workers at fork like the contexts. The slots (struct pc_ocsp_slot) are one
 * shared anonymous region mapped by the master before anything forks: the OCSP helper process
 * writes the responses there as it fetches them, the workers read them in the handshake, and
 * the admin listener reads the state for /metrics and the status page. A slot is a seqlock:
 * one writer at a time (the master before it starts the helper, then the helper alone), any
 * number of readers, no lock on the handshake path. */
#ifndef PORTICO_OCSP_T_H
#define PORTICO_OCSP_T_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PC_OCSP_SLOTS   32   /* listener certificates with a slot (more are served, not stapled) */
#define PC_OCSP_DER_MAX 8192 /* a larger response is refused (a CA's are 1-3 KiB) */

/* What is known of a certificate's revocation status. */
enum pc_ocsp_state {
    PC_OCSP_PENDING,   /* a responder is named, no answer yet */
    PC_OCSP_OFF,       /* ocsp_stapling = off */
    PC_OCSP_NO_URL,    /* the certificate names no OCSP responder (AIA, RFC 5280 §4.2.2.1) */
    PC_OCSP_NO_ISSUER, /* the issuer is not in the certificate file: nothing to verify with */
    PC_OCSP_GOOD,      /* a verified "good" response (stapled while it is fresh) */
    PC_OCSP_REVOKED,   /* the responder says revoked: never stapled, warned */
    PC_OCSP_UNKNOWN,   /* the responder does not know the certificate */
    PC_OCSP_ERROR, /* the last fetch failed: network, HTTP, or a response that does not verify */
};

struct pc_ocsp_slot {
    uint32_t seq; /* even: stable; odd: being written */
    uint8_t used; /* by the serving configuration (the admin pages show these) */
    uint8_t state;
    uint8_t fetchable;    /* a responder and an issuer, stapling on */
    unsigned char fp[32]; /* SHA-256 of the certificate: a reader checks it is its own */
    char name[96];        /* the first DNS name */
    char key[8];          /* "rsa", "ecdsa", ... */
    char names[480];      /* every DNS name, space-separated */
    char issuer[200];
    char url[200];                    /* the responder */
    char detail[160];                 /* why the last fetch failed */
    int64_t not_after;                /* of the certificate */
    int64_t last_fetch;               /* time of the last attempt (0: none) */
    int64_t this_update, next_update; /* of the response held (0: none) */
    uint64_t failures_total;
    uint32_t len; /* of der: the response stapled while now < next_update; 0: none */
    unsigned char der[PC_OCSP_DER_MAX];
};

/* One listener certificate (a context may hold an RSA and an ECDSA one). */
struct pc_ocsp_cert {
    X509 *leaf;             /* the pointer the context serves (SSL_get_certificate) */
    char name[112];         /* "first DNS name (key type)", for the log */
    X509 *issuer;           /* from the chain of the file; NULL: not there */
    STACK_OF(X509) * chain; /* the file's intermediates: untrusted certificates to verify with */
    char *url;              /* NULL: no responder */
    char *cache;            /* STATE_DIR/NAME-KEY.ocsp */
    unsigned char fp[32];
    int slot; /* -1: none */
};

struct pc_ocsp_set {
    struct pc_ocsp_cert *c;
    size_t n;
    bool on; /* ocsp_stapling */
    char *state_dir;
};

/* A slot's state as the admin pages show it (without the response). */
struct pc_ocsp_info {
    char name[96], key[8], names[480], issuer[200], url[200], detail[160];
    enum pc_ocsp_state state;
    bool stapled; /* a fresh good response is held now */
    int64_t not_after, last_fetch, this_update, next_update;
    uint64_t failures_total;
};

#endif

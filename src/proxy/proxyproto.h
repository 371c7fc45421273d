/* proxyproto.h — the PROXY protocol header (versions 1 and 2), as an L4 balancer or a DDoS
 * scrubber sends it before the client's first byte (HAProxy's "The PROXY protocol", versions
 * 1 and 2, docs/configuration.md "Behind a load balancer").
 *
 * Pure: bytes in, a verdict and the addresses out; no I/O, no allocation. The session reads the
 * header with it (src/proxy/clientaddr.c), the unit test and fuzz/fuzz_proxyproto.c drive it
 * alone. */
#ifndef PORTICO_PROXYPROTO_H
#define PORTICO_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config-t.h"

/* Version 1 is one text line of at most 107 bytes with its CRLF (the specification's bound). */
#define PC_PP_V1_MAX 107
/* Version 2: a 16-byte fixed part and up to 65535 bytes after it. portico takes at most this
 * much in all: addresses (36 bytes for TCP6) and the TLVs a balancer sends (ALPN, authority,
 * SSL with version, cipher and client CN) fit many times over; more is refused, not read. */
#define PC_PP_V2_MAX 1024
#define PC_PP_MAX    PC_PP_V2_MAX

/* Errors, negative so that a result > 0 is a length. */
enum pc_pp_error {
    PC_PP_E_SIGNATURE = -1, /* neither signature: not a PROXY header */
    PC_PP_E_V1_SYNTAX = -2, /* a v1 line that does not follow the grammar */
    PC_PP_E_V1_LONG = -3,   /* no CRLF within 107 bytes */
    PC_PP_E_V2_VERSION = -4,
    PC_PP_E_V2_COMMAND = -5,
    PC_PP_E_V2_FAMILY = -6, /* a family or transport other than TCP over IPv4/IPv6, UNIX, UNSPEC */
    PC_PP_E_V2_LONG = -7,   /* over PC_PP_V2_MAX */
    PC_PP_E_V2_SHORT = -8,  /* the length does not hold the address block */
    PC_PP_E_V2_TLV = -9,    /* a TLV that runs past the header, or a malformed known one */
    PC_PP_E_V2_CRC = -10,   /* a PP2_TYPE_CRC32C that does not match */
};

struct pc_pp_info {
    uint8_t version; /* 1 or 2 */
    /* v2 LOCAL (a balancer's health check), v1 UNKNOWN, v2 UNSPEC or UNIX: the connection's own
     * addresses stand (the specification: the receiver ignores the address information). */
    bool local;
    struct pc_addr src, dst; /* with their ports, when !local */
    bool ssl;                /* PP2_TYPE_SSL with PP2_CLIENT_SSL: the client spoke TLS to the
                              * balancer (it terminated TLS) */
    bool ssl_verified;       /* ... and presented a certificate that verified */
    char alpn[32];           /* PP2_TYPE_ALPN, "" when absent (longer values are cut) */
    char authority[256];     /* PP2_TYPE_AUTHORITY (the SNI the client sent), "" when absent */
    char ssl_version[32];    /* PP2_SUBTYPE_SSL_VERSION, "" when absent */
};

/* Parses the header at BUF[0, LEN). Returns its length when it is complete and valid (the
 * bytes after it belong to the client's stream), 0 when more bytes are needed (then every byte
 * of BUF belongs to the header, so that a reader may consume them all), or a PC_PP_E_* error.
 * OUT is written only on success. */
int pc_pp_parse(const uint8_t *buf, size_t len, struct pc_pp_info *out);

/* Whether the first LEN bytes of a connection begin like a PROXY header: 1 they do (a v1 or v2
 * signature, or enough of one that a request or a TLS record cannot start so), 0 they do not,
 * -1 too few bytes to tell. */
int pc_pp_sniff(const uint8_t *buf, size_t len);

/* A short text for an error code ("bad v1 line", ...). */
const char *pc_pp_strerror(int err);

#endif

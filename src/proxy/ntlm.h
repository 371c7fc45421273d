/* ntlm.h — who an `Authorization: NTLM …` / `Negotiate …` credential signs in as (issue 14,
 * docs/signin.md "NTLM and Negotiate").
 *
 * Pure: the header value in, a kind and (for an NTLM AUTHENTICATE message) the domain and user
 * names out; no I/O, no allocation. Nothing else of the token is kept: an AUTHENTICATE message
 * carries the NT and LM challenge responses (password-derived), so the decoded bytes are wiped
 * before returning and never logged. Used by guard.c. */
#ifndef PORTICO_NTLM_H
#define PORTICO_NTLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of each name, with the terminating NUL: a longer name makes the token MALFORMED. */
#define PC_NTLM_NAME_MAX 256
/* The largest decoded token: a 64 KiB header value (portico's header limit) is 48 KiB of
 * base64-decoded bytes, room for the largest Kerberos tickets. */
#define PC_NTLM_TOKEN_MAX 49152

/* Ordered: every kind below PC_NTLM_MALFORMED is a well-formed credential. */
enum pc_ntlm_kind {
    PC_NTLM_NONE = 0,         /* not NTLM/Negotiate, or a SPNEGO token that carries no mech token */
    PC_NTLM_NEGOTIATE = 1,    /* NTLM NEGOTIATE_MESSAGE (type 1) */
    PC_NTLM_CHALLENGE = 2,    /* NTLM CHALLENGE_MESSAGE (type 2; odd from a client) */
    PC_NTLM_AUTHENTICATE = 3, /* NTLM AUTHENTICATE_MESSAGE (type 3): domain and user are set */
    PC_NTLM_KERBEROS = 4,     /* a Kerberos token (no readable user) */
    PC_NTLM_MALFORMED = 5,    /* the scheme is NTLM or Negotiate, the rest is not understood */
};

struct pc_ntlm_info {
    enum pc_ntlm_kind kind;
    bool spnego;                   /* the NTLM message came inside SPNEGO */
    char domain[PC_NTLM_NAME_MAX]; /* UTF-8, "" unless AUTHENTICATE (may be "" then too) */
    char user[PC_NTLM_NAME_MAX];   /* UTF-8, "" unless AUTHENTICATE; "" there is anonymous */
};

/* Classifies the value of an Authorization field (RFC 9110 §11.6.2: auth-scheme 1*SP token68;
 * leading and trailing SP/HTAB of the value are ignored). SCRATCH[0, CAP) receives the decoded
 * token and is wiped before returning (PC_NTLM_TOKEN_MAX bytes hold any token portico
 * accepts; a longer one is MALFORMED). Fills OUT and returns OUT->kind. */
enum pc_ntlm_kind pc_ntlm_parse_header(const char *value, size_t len, uint8_t *scratch, size_t cap,
                                       struct pc_ntlm_info *out);

/* The same for a decoded token (bare NTLMSSP, SPNEGO or Kerberos). */
enum pc_ntlm_kind pc_ntlm_parse_token(const uint8_t *tok, size_t len, struct pc_ntlm_info *out);

/* Base64 (RFC 4648 §4, the standard alphabet). Padding may be omitted; when present it must be
 * right; the unused bits of the last group must be zero (§3.5); nothing else is allowed
 * (no whitespace, no base64url). Returns the decoded length, or -1 if IN is not valid. */
long pc_ntlm_b64_length(const char *in, size_t n);
/* Decodes IN (checked by pc_ntlm_b64_length) into OUT[0, CAP): the length, or -1 when IN is not
 * valid or does not fit. */
long pc_ntlm_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Byte I of the decoding of IN, which pc_ntlm_b64_length accepted with a length > I: lets a
 * reader stop before a secret (the Basic password) without ever decoding it. */
uint8_t pc_ntlm_b64_byte(const char *in, size_t i);

/* "NONE", "NTLM_NEGOTIATE", … for logs and tests. */
const char *pc_ntlm_kind_name(enum pc_ntlm_kind kind);

#endif

/* ocsp.h — OCSP stapling (docs/certificates.md, RFC 6960, RFC 6066 §8): the shared slots, the
 * set of listener certificates, the handshake callback, verifying and caching responses
 * (ocsp.c) and the helper process that fetches them (ocsp-fetch.c). Types: ocsp-t.h. */
#ifndef PORTICO_OCSP_H
#define PORTICO_OCSP_H

#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <time.h>

#include "config/config-t.h"
#include "tls/ocsp-t.h"

/* Master, before anything forks: maps the shared slots. -1 (errno set) if it cannot; then
 * nothing is stapled and the pages show no certificate. */
int pc_ocsp_init(void);

/* Builds the set of the server contexts CTXS[0, N) for CFG (certificates, issuers, responders)
 * and installs the status callback on each context. NULL only when out of memory. */
struct pc_ocsp_set *pc_ocsp_set_new(const struct pc_config *cfg, SSL_CTX *const *ctxs, size_t n);
void pc_ocsp_set_free(struct pc_ocsp_set *set);

/* Master, before it forks the workers of SET's configuration (no helper running): gives each
 * certificate a slot (its own again if it had one), writes what the pages show, and loads a
 * cached response that still verifies and is fresh, so that a restart staples at once. */
void pc_ocsp_publish(struct pc_ocsp_set *set);

/* Whether SET has a certificate to fetch for (then the master runs the helper). */
bool pc_ocsp_wanted(const struct pc_ocsp_set *set);

/* Creates state_dir (0700) when SET needs it and it is missing; with `user` given while
 * running as root, hands it to UID:GID. Logs and returns -1 on failure (stapling still works
 * from memory; nothing is cached). */
int pc_ocsp_state_dir(const struct pc_ocsp_set *set, bool chown_it, uid_t uid, gid_t gid);

/* Checks the response DER[0, LEN) for certificate C at NOW: successful, signed by the issuer
 * or a responder it delegated to (OCSP_basic_verify, RFC 6960 §4.2.2.2), about C, within its
 * validity. Returns PC_OCSP_GOOD, _REVOKED, _UNKNOWN or _ERROR (with WHY), and the response's
 * thisUpdate and nextUpdate (a response without nextUpdate is taken as valid for an hour). */
enum pc_ocsp_state pc_ocsp_check(const struct pc_ocsp_cert *c, const unsigned char *der, size_t len,
                                 time_t now, int64_t *this_update, int64_t *next_update, char *why,
                                 size_t wlen);

/* Writes into C's slot the result ST of a fetch made at FETCHED (0: a cached response, not a
 * fetch). A new response (LEN > 0) replaces the old one; LEN 0 with CLEAR drops the one held
 * (revoked, unknown); LEN 0 without CLEAR keeps it (a failed fetch: the old response is
 * stapled until its nextUpdate). DETAIL: why it failed, or NULL. */
void pc_ocsp_store(const struct pc_ocsp_cert *c, enum pc_ocsp_state st, const unsigned char *der,
                   size_t len, int64_t this_update, int64_t next_update, bool clear,
                   const char *detail, int64_t fetched);
/* Writes DER to C's cache file atomically (temporary file, fsync, rename), mode 0600;
 * removes the file when LEN is 0. Logs failures. */
void pc_ocsp_cache_write(const struct pc_ocsp_cert *c, const unsigned char *der, size_t len);
/* The thisUpdate and nextUpdate of the good response C's slot holds (false: none). */
bool pc_ocsp_held(const struct pc_ocsp_cert *c, int64_t *this_update, int64_t *next_update);

/* The helper process (ocsp-fetch.c): fetches for every certificate of SET ahead of time, for
 * ever. Never returns. */
_Noreturn void pc_ocsp_helper_run(struct pc_ocsp_set *set);

/* Admin side: the state of used slot I (0 <= I < PC_OCSP_SLOTS); false when unused. */
bool pc_ocsp_info(int i, struct pc_ocsp_info *out);

/* Text for a state ("good", "revoked", ...), as /metrics and the pages show it. */
const char *pc_ocsp_state_str(enum pc_ocsp_state st);

#endif

/* rec.h — portico's own TLS 1.3 records for connections OpenSSL has handed over.
 *
 * OpenSSL does the handshake and carries the first bytes; at the connection's first quiet
 * moment (nothing buffered either way, TLS 1.3, a cipher suite below) portico takes the
 * traffic secrets from OpenSSL's key log and the record counts from its message callback,
 * frees the SSL object (about 14 KiB) and protects the records itself (RFC 8446 §5): a
 * waiting connection then costs a few hundred bytes. docs/configuration.md, "Waiting connections".
 */
#ifndef PORTICO_REC_H
#define PORTICO_REC_H

#include <stdbool.h>
#include <sys/types.h>

#include "tls/rec-t.h"

enum { PC_REC_AES128 = 1, PC_REC_AES256 = 2, PC_REC_CHACHA = 3 };

/* Called for each handover (CLIENT: a client's connection, else a member's), or NULL. */
extern void (*pc_rec_counted)(bool client);

/* Installs the key-log and message callbacks on CTX, which lets its connections be handed
 * over ([proxy] tls_handover: tls.c calls it only when on, so that otherwise no handshake pays
 * for the key log). The app data of CTX's connections must be NULL (never handed over) or
 * their struct pc_tlsconn. */
void pc_rec_ctx_setup(SSL_CTX *ctx);

/* Hands TC over from OpenSSL if it may be (TC quiet: nothing buffered inside OpenSSL either
 * way; callers call it at such moments, and it checks): returns true when portico now owns
 * the records (TC->ssl freed and NULL), false when the connection stays with OpenSSL for now
 * (also when TC is plain or handed over already). */
bool pc_rec_start(struct pc_tlsconn *tc);

/* Reads and decrypts into B's free space (B has room). Returns bytes (> 0), 0 at the end of
 * the stream (close_notify or the peer's close), PC_IO_AGAIN, PC_IO_ERR (errno EPROTO on a
 * protocol error, after a best-effort alert). */
ssize_t pc_rec_read(int fd, struct pc_rec *r, struct pc_buf *b);

/* Encrypts and sends from P; SSL_write's contract: returns the bytes consumed (> 0), or
 * PC_IO_AGAIN with nothing consumed and the same bytes to be offered again, or PC_IO_ERR. */
ssize_t pc_rec_write(int fd, struct pc_rec *r, const char *p, size_t len);

/* Whether bytes wait inside R (a record read but not delivered). */
bool pc_rec_pending(const struct pc_rec *r);

/* Sends close_notify when NOTIFY (never waits), gives R's buffers back and forgets its keys. */
void pc_rec_close(int fd, struct pc_rec *r, bool notify);

static inline bool pc_tlsconn_on(const struct pc_tlsconn *tc)
{
    return tc->ssl != NULL || tc->rec.on;
}

#endif

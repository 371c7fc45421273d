/* rec-track.c — follows a TLS 1.3 connection inside OpenSSL (traffic secrets from the key
 * log, records counted from the message callback) and hands it over to rec.c when it is quiet.
 *
 * OpenSSL 3.0 has no API for a connection's traffic secrets or sequence numbers; the key log
 * (SSL_CTX_set_keylog_callback) and the message callback (SSL_CTX_set_msg_callback) are its
 * documented windows on both. Every protected record fires SSL3_RT_INNER_CONTENT_TYPE once,
 * and the sequence number of a direction starts again at 0 after the Finished or KeyUpdate
 * message that ends its key (RFC 8446 §5.3, §4.6.3). A secret never leaves the process and is
 * wiped with the connection. */
#include <openssl/err.h>
#include <string.h>

#include "common/pct.h"
#include "tls/rec-int.h"
#include "tls/rec.h"

void (*pc_rec_counted)(bool client);

/* "CLIENT_TRAFFIC_SECRET_0 <client random> <secret>" (NSS key log format). */
static void keylog_cb(const SSL *ssl, const char *line)
{
    struct pc_tlsconn *tc = SSL_get_app_data(ssl);
    if (!tc)
        return;
    struct pc_rec *r = &tc->rec;
    bool client = strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0;
    if (!client && strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) != 0)
        return;
    bool read = client == (SSL_is_server(ssl) != 0); /* a server reads what the client writes */
    struct pc_rec_dir *d = read ? &r->rd : &r->wr;
    const char *hex = strrchr(line, ' ') + 1;
    size_t n = strlen(hex) / 2;
    if (n != 32 && n != 48) {
        r->odd = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        long b = pc_pct_hexnum(hex + 2 * i, 2);
        if (b < 0) {
            r->odd = true;
            return;
        }
        d->secret[i] = (uint8_t)b;
    }
    r->have |= read ? 1 : 2;
}

/* Portico's name for the connection's TLS 1.3 suite; 0 for the CCM ones (never handed over). */
static uint8_t suite_of(const SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    switch (c ? SSL_CIPHER_get_protocol_id(c) : 0) {
    case 0x1301:
        return PC_REC_AES128;
    case 0x1302:
        return PC_REC_AES256;
    case 0x1303:
        return PC_REC_CHACHA;
    default:
        return 0; /* the CCM suites: OpenSSL keeps the connection */
    }
}

static void msg_cb(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                   void *arg)
{
    (void)version;
    (void)arg;
    struct pc_tlsconn *tc = SSL_get_app_data(ssl);
    if (!tc || len == 0)
        return;
    struct pc_rec *r = &tc->rec;
    struct pc_rec_dir *d = write_p ? &r->wr : &r->rd;
    uint8_t b = *(const uint8_t *)buf;
    if (type == SSL3_RT_INNER_CONTENT_TYPE) {
        d->seq++;
        if (!write_p && b == SSL3_RT_APPLICATION_DATA)
            r->data_read = true;
        return;
    }
    if (type != SSL3_RT_HANDSHAKE)
        return;
    switch (b) {
    case SSL3_MT_FINISHED:
        d->seq = 0; /* the application traffic key follows (§7.1) */
        break;
    case SSL3_MT_KEY_UPDATE: {
        const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
        uint8_t suite =
            c && SSL_CIPHER_get_protocol_id(c) == 0x1302 ? PC_REC_AES256 : PC_REC_AES128;
        if (!(r->have & (write_p ? 2 : 1)) || pc_rec_next_secret(suite, d) < 0)
            r->odd = true;
        d->seq = 0;
        break;
    }
    case SSL3_MT_NEWSESSION_TICKET:
        if (!write_p)
            r->ticket = true;
        break;
    case SSL3_MT_CERTIFICATE_REQUEST: /* post-handshake authentication is not followed */
        if (SSL_is_init_finished(ssl))
            r->odd = true;
        break;
    default:
        break;
    }
}

void pc_rec_ctx_setup(SSL_CTX *ctx)
{
    SSL_CTX_set_keylog_callback(ctx, keylog_cb);
    SSL_CTX_set_msg_callback(ctx, msg_cb);
}

bool pc_rec_start(struct pc_tlsconn *tc)
{
    SSL *ssl = tc->ssl;
    struct pc_rec *r = &tc->rec;
    /* have != 3: no key log (tls_handover = off installs none), or not TLS 1.3 */
    if (!ssl || r->on || r->odd || r->wblocked || r->have != 3)
        return false;
    /* Nothing may wait inside OpenSSL: bytes read ahead or decrypted, a record a read or a
     * write could not send (SSL_want_write after a read, wblocked after a write), a
     * KeyUpdate it owes the peer. */
    if (SSL_version(ssl) != TLS1_3_VERSION || !SSL_is_init_finished(ssl) || SSL_has_pending(ssl) ||
        SSL_want_write(ssl) || SSL_get_shutdown(ssl) != 0 ||
        SSL_get_key_update_type(ssl) != SSL_KEY_UPDATE_NONE)
        return false;
    bool server = SSL_is_server(ssl) != 0;
    /* A client waits for the pool's ticket (upstream.c keeps it for the next connection), or
     * for a response from a pool that sends none. */
    if (!server && !r->ticket && !r->data_read)
        return false;
    uint8_t suite = suite_of(ssl);
    if (!suite) {
        r->odd = true;
        return false;
    }
    r->suite = suite;
    if (pc_rec_keys(suite, &r->rd) < 0 || pc_rec_keys(suite, &r->wr) < 0) {
        r->odd = true;
        return false;
    }
    r->server = server;
    /* Freeing a connection not shut down would mark its session not resumable (the pool's
     * kept ticket, the listener's cache entry); the socket BIO of SSL_set_fd leaves the
     * descriptor open. */
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
    tc->ssl = NULL;
    ERR_clear_error();
    r->on = true;
    if (pc_rec_counted)
        pc_rec_counted(server);
    return true;
}

/* test_rec.c — portico's TLS 1.3 records (src/tls/rec.c, rec-track.c) against OpenSSL itself:
 * a real handshake over a socketpair, one side handed over, the other left in OpenSSL, for each
 * cipher suite; data both ways (small and 1 MiB), KeyUpdate before and after the handover,
 * tickets, close_notify, a corrupted record. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "core/io.h"
#include "tls/rec.h"
#include "unit.h"

static EVP_PKEY *key;
static X509 *cert;

static void make_cert(void)
{
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *n = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"rec.test", -1, -1, 0);
    X509_set_issuer_name(cert, n);
    X509_sign(cert, key, EVP_sha256());
}

static SSL_CTX *ctx_for(bool server, const char *suite)
{
    SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
    SSL_CTX_set_ciphersuites(c, suite);
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(c, 1);
    if (server) {
        SSL_CTX_use_certificate(c, cert);
        SSL_CTX_use_PrivateKey(c, key);
    }
    pc_rec_ctx_setup(c);
    return c;
}

struct side {
    int fd;
    struct pc_tlsconn tc;
};

static void handshake(struct side *s, struct side *c)
{
    bool sd = false, cd = false;
    for (int i = 0; i < 100 && !(sd && cd); i++) {
        if (!cd)
            cd = SSL_do_handshake(c->tc.ssl) == 1;
        if (!sd)
            sd = SSL_do_handshake(s->tc.ssl) == 1;
    }
    CHECK(sd && cd);
}

/* Moves LEN bytes from A to B, each through OpenSSL or portico's records, whichever owns it. */
static size_t wr(struct side *a, const char *p, size_t len)
{
    if (a->tc.ssl) {
        int n = SSL_write(a->tc.ssl, p, (int)len);
        return n > 0 ? (size_t)n : 0;
    }
    ssize_t n = pc_rec_write(a->fd, &a->tc.rec, p, len);
    return n > 0 ? (size_t)n : 0;
}

static ssize_t rd(struct side *b, struct pc_buf *buf)
{
    if (b->tc.ssl) {
        int n = SSL_read(b->tc.ssl, buf->data + buf->end, (int)pc_buf_room(buf));
        if (n > 0) {
            buf->end += (size_t)n;
            return n;
        }
        int e = SSL_get_error(b->tc.ssl, n);
        ERR_clear_error();
        return e == SSL_ERROR_ZERO_RETURN ? 0 : e == SSL_ERROR_WANT_READ ? PC_IO_AGAIN : PC_IO_ERR;
    }
    return pc_rec_read(b->fd, &b->tc.rec, buf);
}

/* Sends LEN patterned bytes from A and checks that B receives exactly them. */
static bool transfer(struct side *a, struct side *b, size_t len, size_t chunk)
{
    char *src = malloc(len);
    for (size_t i = 0; i < len; i++)
        src[i] = (char)(i * 7 + i / 251);
    struct pc_buf *buf = pc_buf_get_cap(chunk);
    size_t sent = 0, got = 0;
    bool ok = true;
    for (int rounds = 0; got < len && rounds < 100000; rounds++) {
        if (sent < len)
            sent += wr(a, src + sent, len - sent);
        buf->start = buf->end = 0;
        ssize_t n = rd(b, buf);
        if (n == PC_IO_ERR || n == 0) {
            ok = false;
            break;
        }
        if (n > 0) {
            if (got + (size_t)n > len || memcmp(buf->data, src + got, (size_t)n) != 0) {
                ok = false;
                break;
            }
            got += (size_t)n;
        }
    }
    pc_buf_put(buf);
    free(src);
    return ok && got == len;
}

static void pair(struct side *s, struct side *c, SSL_CTX *sctx, SSL_CTX *cctx)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    for (int i = 0; i < 2; i++)
        fcntl(sv[i], F_SETFL, O_NONBLOCK);
    memset(s, 0, sizeof(*s));
    memset(c, 0, sizeof(*c));
    s->fd = sv[0];
    c->fd = sv[1];
    s->tc.ssl = SSL_new(sctx);
    c->tc.ssl = SSL_new(cctx);
    SSL_set_fd(s->tc.ssl, s->fd);
    SSL_set_fd(c->tc.ssl, c->fd);
    SSL_set_app_data(s->tc.ssl, &s->tc);
    SSL_set_app_data(c->tc.ssl, &c->tc);
    SSL_set_accept_state(s->tc.ssl);
    SSL_set_connect_state(c->tc.ssl);
    handshake(s, c);
}

static void done(struct side *x)
{
    if (x->tc.ssl)
        SSL_free(x->tc.ssl);
    pc_rec_close(x->fd, &x->tc.rec, false);
    close(x->fd);
}

/* Ends both sides, then the contexts (NULL: kept for another pair). */
static void finish(struct side *s, struct side *c, SSL_CTX *sctx, SSL_CTX *cctx)
{
    done(s);
    done(c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

/* One side handed over (HAND: 0 server, 1 client), the other in OpenSSL. */
static void scenario(const char *suite, int hand, bool ku_before)
{
    SSL_CTX *sctx = ctx_for(true, suite), *cctx = ctx_for(false, suite);
    struct side s, c;
    pair(&s, &c, sctx, cctx);
    struct side *h = hand ? &c : &s, *o = hand ? &s : &c;
    CHECK(transfer(&c, &s, 100, PC_BUF_SIZE));  /* a request */
    CHECK(transfer(&s, &c, 3000, PC_BUF_SIZE)); /* its response, after the ticket */
    if (ku_before) {                            /* KeyUpdate while OpenSSL has it */
        CHECK_INT(SSL_key_update(o->tc.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
        CHECK(transfer(o, h, 10, PC_BUF_SIZE));
        CHECK(transfer(h, o, 10, PC_BUF_SIZE));
    }
    CHECK(pc_rec_start(&h->tc));
    CHECK(h->tc.ssl == NULL && h->tc.rec.on);
    CHECK(transfer(&c, &s, 100, PC_BUF_SIZE));
    CHECK(transfer(&s, &c, 1 << 20, PC_BUF_BULK)); /* a download */
    CHECK(transfer(&c, &s, 1 << 20, 1000));        /* an upload read in small pieces */
    /* The OpenSSL side asks for a KeyUpdate: the records answer with theirs. */
    CHECK_INT(SSL_key_update(o->tc.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    CHECK(transfer(o, h, 5000, PC_BUF_SIZE));
    CHECK(transfer(h, o, 5000, PC_BUF_SIZE));
    CHECK(transfer(o, h, 5000, PC_BUF_SIZE));
    CHECK_INT(SSL_key_update(o->tc.ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    CHECK(transfer(o, h, 70000, PC_BUF_SIZE));
    CHECK(transfer(h, o, 70000, PC_BUF_SIZE));
    /* close_notify from OpenSSL: the records read the end of the stream. */
    SSL_shutdown(o->tc.ssl);
    struct pc_buf *b = pc_buf_get_cap(PC_BUF_SIZE);
    CHECK_INT(pc_rec_read(h->fd, &h->tc.rec, b), 0);
    /* close_notify from the records: OpenSSL reads it. */
    pc_rec_close(h->fd, &h->tc.rec, true);
    b->start = b->end = 0;
    CHECK_INT(rd(o, b), 0);
    pc_buf_put(b);
    finish(&s, &c, sctx, cctx);
}

/* A record altered on the wire: bad_record_mac, and nothing of it is delivered. */
static void tampered(void)
{
    SSL_CTX *sctx = ctx_for(true, "TLS_AES_256_GCM_SHA384");
    SSL_CTX *cctx = ctx_for(false, "TLS_AES_256_GCM_SHA384");
    struct side s, c;
    pair(&s, &c, sctx, cctx);
    CHECK(transfer(&c, &s, 10, PC_BUF_SIZE));
    CHECK(pc_rec_start(&s.tc));
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv); /* capture the client's record, then alter it */
    int real = c.fd;
    SSL_set_fd(c.tc.ssl, sv[0]);
    CHECK_INT(SSL_write(c.tc.ssl, "secret", 6), 6);
    char rec[256];
    ssize_t n = read(sv[1], rec, sizeof(rec));
    CHECK(n > 20);
    rec[n - 1] ^= 1;
    CHECK_INT(write(real, rec, (size_t)n), n);
    struct pc_buf *b = pc_buf_get_cap(PC_BUF_SIZE);
    CHECK_INT(pc_rec_read(s.fd, &s.tc.rec, b), PC_IO_ERR);
    CHECK_INT(pc_buf_len(b), 0);
    CHECK(s.tc.rec.dead);
    pc_buf_put(b);
    close(sv[0]);
    close(sv[1]);
    c.fd = real;
    finish(&s, &c, sctx, cctx);
}

/* TLS 1.2 and a connection with bytes left inside OpenSSL stay with OpenSSL. */
static void refused(void)
{
    SSL_CTX *sctx = ctx_for(true, "TLS_AES_128_GCM_SHA256");
    SSL_CTX *cctx = ctx_for(false, "TLS_AES_128_GCM_SHA256");
    SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);
    struct side s, c;
    pair(&s, &c, sctx, cctx);
    CHECK(transfer(&c, &s, 10, PC_BUF_SIZE));
    CHECK(!pc_rec_start(&s.tc));
    CHECK(s.tc.ssl != NULL);
    finish(&s, &c, NULL, NULL);
    SSL_CTX_set_max_proto_version(cctx, 0);
    SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
    pair(&s, &c, sctx, cctx);
    CHECK(transfer(&c, &s, 10, PC_BUF_SIZE));
    CHECK(wr(&c, "abcdef", 6) == 6);
    char x[2];
    CHECK_INT(SSL_read(s.tc.ssl, x, 2), 2); /* four bytes stay decrypted inside OpenSSL */
    CHECK(!pc_rec_start(&s.tc));
    finish(&s, &c, sctx, cctx);
}

int main(void)
{
    make_cert();
    const char *suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                            "TLS_CHACHA20_POLY1305_SHA256"};
    for (int i = 0; i < 3; i++)
        for (int hand = 0; hand < 2; hand++)
            for (int ku = 0; ku < 2; ku++)
                scenario(suites[i], hand, ku);
    tampered();
    refused();
    X509_free(cert);
    EVP_PKEY_free(key);
    return UNIT_DONE();
}

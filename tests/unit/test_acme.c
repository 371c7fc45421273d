/* test_acme.c — unit tests of src/tls/acme-jws.c, the challenge table of src/tls/acme.c and
 * TLS-ALPN-01 (src/tls/acme-alpn.c; docs/certificates.md#acme): base64url (RFC 7515 §2), the
 * JWK and its RFC 7638 thumbprint, an ES256 JWS that OpenSSL verifies (RFC 7518 §3.4), a CSR
 * with every name, the placeholder, the RFC 8737 validation certificate and an in-memory
 * handshake offering acme-tls/1 (answered for a pending name, refused for another). */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "tls/acme.h"
#include "unit.h"

static void test_b64url(void)
{
    char *s = pc_acme_b64url((const unsigned char *)"", 0);
    CHECK_STR(s, "");
    free(s);
    s = pc_acme_b64url((const unsigned char *)"\xfb\xff", 2);
    CHECK_STR(s, "-_8");
    free(s);
    s = pc_acme_b64url((const unsigned char *)"hello", 5);
    CHECK_STR(s, "aGVsbG8");
    free(s);
}

/* The bytes of base64url S (decoded with OpenSSL), into OUT; their count. */
static int unb64(const char *s, unsigned char *out)
{
    char buf[4096];
    size_t n = strlen(s);
    if (n + 3 > sizeof buf)
        return -1;
    memcpy(buf, s, n);
    while (n % 4)
        buf[n++] = '=';
    for (size_t i = 0; i < n; i++)
        buf[i] = buf[i] == '-' ? '+' : buf[i] == '_' ? '/' : buf[i];
    int len = EVP_DecodeBlock(out, (unsigned char *)buf, (int)n);
    return len - (int)(strlen(s) % 4 == 2 ? 2 : strlen(s) % 4 == 3 ? 1 : 0);
}

static void test_jwk_jws(void)
{
    EVP_PKEY *k = pc_acme_key_new(PC_ACME_ECDSA);
    json_t *jwk = pc_acme_jwk(k);
    CHECK(jwk != NULL);
    char *text = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT);
    static const char want[] = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"";
    CHECK(strncmp(text, want, sizeof want - 1) == 0);
    free(text);
    char thumb[64];
    CHECK_INT(pc_acme_thumbprint(jwk, thumb, sizeof thumb), 0);
    CHECK_INT((int)strlen(thumb), 43);
    json_t *pay = json_pack("{s:s}", "a", "b");
    char *jws = pc_acme_jws(k, jwk, NULL, "NONCE", "https://ca/new-acct", pay);
    json_t *j = json_loads(jws, 0, NULL);
    const char *p = json_string_value(json_object_get(j, "protected"));
    const char *y = json_string_value(json_object_get(j, "payload"));
    const char *sig = json_string_value(json_object_get(j, "signature"));
    CHECK(p && y && sig);
    unsigned char rs[128], prot[512];
    int plen = unb64(p, prot);
    prot[plen > 0 ? plen : 0] = '\0';
    CHECK_CONTAINS((char *)prot, "\"alg\":\"ES256\"");
    CHECK_CONTAINS((char *)prot, "\"jwk\":");
    CHECK_INT(unb64(sig, rs), 64);
    /* R || S back to DER, verified by OpenSSL over "protected.payload". */
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
    unsigned char *der = NULL;
    int dlen = i2d_ECDSA_SIG(es, &der);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s.%s", p, y);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK_INT(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k), 1);
    CHECK_INT(EVP_DigestVerify(md, der, (size_t)dlen, (unsigned char *)msg, strlen(msg)), 1);
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    free(jws);
    json_decref(j);
    /* POST-as-GET: an empty payload, and kid instead of jwk (RFC 8555 §6.2, §6.3). */
    jws = pc_acme_jws(k, jwk, "https://ca/acct/1", "N2", "https://ca/order/1", NULL);
    j = json_loads(jws, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "payload")), "");
    free(jws);
    json_decref(j);
    json_decref(pay);
    json_decref(jwk);
    EVP_PKEY_free(k);
}

static void test_csr_placeholder(void)
{
    char *names[] = {"webext.contoso.com", "meet.contoso.com"};
    EVP_PKEY *k = pc_acme_key_new(PC_ACME_RSA);
    char *csr = pc_acme_csr(k, names, 2);
    CHECK(csr != NULL);
    unsigned char der[4096];
    int n = unb64(csr, der);
    const unsigned char *q = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &q, n);
    CHECK(req != NULL);
    CHECK_INT(X509_REQ_verify(req, k), 1);
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    CHECK_INT(sk_X509_EXTENSION_num(exts), 1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    free(csr);
    X509 *x = pc_acme_placeholder(k, names, 2);
    CHECK(x && pc_acme_is_placeholder(x));
    CHECK_INT(X509_check_host(x, "meet.contoso.com", 0, 0, NULL), 1);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void test_tokens(void)
{
    char out[PC_ACME_KEYAUTH_MAX];
    CHECK_INT(pc_acme_init(), 0);
    CHECK_INT((int)pc_acme_challenge("tok", 3, out, sizeof out), 0);
    CHECK_INT(pc_acme_token_set("tok", "tok.THUMB"), 0);
    CHECK_INT((int)pc_acme_challenge("tok", 3, out, sizeof out), 9);
    CHECK(memcmp(out, "tok.THUMB", 9) == 0);
    CHECK_INT((int)pc_acme_challenge("to", 2, out, sizeof out), 0);
    CHECK_INT((int)pc_acme_challenge("tok", 3, out, 4), 0); /* does not fit: not answered */
    CHECK_INT(pc_acme_token_set("tok", NULL), 0);
    CHECK_INT((int)pc_acme_challenge("tok", 3, out, sizeof out), 0);
    for (int i = 0; i < PC_ACME_TOKENS; i++) {
        char t[16];
        snprintf(t, sizeof t, "t%d", i);
        CHECK_INT(pc_acme_token_set(t, "ka"), 0);
    }
    CHECK_INT(pc_acme_token_set("one-more", "ka"), -1);
    pc_acme_tokens_clear();
    CHECK_INT((int)pc_acme_challenge("t0", 2, out, sizeof out), 0);
}

/* RFC 8737 §3: SAN the name alone, id-pe-acmeIdentifier critical, extnValue 04 20 DIGEST. */
static void test_alpn_cert(void)
{
    unsigned char digest[32];
    for (int i = 0; i < 32; i++)
        digest[i] = (unsigned char)i;
    EVP_PKEY *k = pc_acme_key_new(PC_ACME_ECDSA);
    X509 *x = pc_acme_alpn_cert(k, "meet.contoso.com", digest);
    CHECK(x != NULL);
    CHECK_INT(X509_check_host(x, "meet.contoso.com", 0, 0, NULL), 1);
    GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    CHECK_INT(sk_GENERAL_NAME_num(san), 1);
    GENERAL_NAMES_free(san);
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    int at = X509_get_ext_by_OBJ(x, oid, -1);
    CHECK(at >= 0);
    X509_EXTENSION *e = X509_get_ext(x, at);
    CHECK_INT(X509_EXTENSION_get_critical(e), 1);
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
    CHECK_INT(ASN1_STRING_length(v), 34);
    const unsigned char *d = ASN1_STRING_get0_data(v);
    CHECK(d[0] == 0x04 && d[1] == 0x20 && memcmp(d + 2, digest, 32) == 0);
    CHECK_INT(X509_verify(x, k), 1); /* self-signed */
    ASN1_OBJECT_free(oid);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    int r = pc_acme_alpn_select(ssl, out, outlen, in, inlen);
    return r >= 0 ? r : SSL_TLSEXT_ERR_NOACK;
}

static int hello_cb(SSL *ssl, int *al, void *arg)
{
    (void)al;
    (void)arg;
    pc_acme_alpn_hello(ssl);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* A handshake over memory BIOs, the client offering ALPN PROTOS with SNI, up to TLS version
 * MAX: 1 when it completed, then *PEER the server's certificate; 0 when it failed. */
static int handshake(SSL_CTX *sctx, const char *sni, const char *protos, int max, X509 **peer)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(cctx, max);
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *b1, *b2;
    BIO_new_bio_pair(&b1, 0, &b2, 0);
    SSL_set_bio(c, b1, b1);
    SSL_set_bio(s, b2, b2);
    SSL_set_tlsext_host_name(c, sni);
    SSL_set_alpn_protos(c, (const unsigned char *)protos, (unsigned)strlen(protos));
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int done = 0, failed = 0;
    for (int i = 0; i < 20 && !done && !failed; i++) {
        int rc = SSL_do_handshake(c), rs = SSL_do_handshake(s);
        done = rc == 1 && rs == 1;
        failed = (rc <= 0 && SSL_get_error(c, rc) == SSL_ERROR_SSL) ||
                 (rs <= 0 && SSL_get_error(s, rs) == SSL_ERROR_SSL);
    }
    if (done) {
        *peer = SSL_get1_peer_certificate(c);
        done += pc_acme_alpn_chosen(s); /* 2: acme-tls/1 */
    }
    if (getenv("UNIT_DEBUG"))
        ERR_print_errors_fp(stderr);
    ERR_clear_error();
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    return done;
}

/* Whether X is a validation certificate (the acmeIdentifier extension). */
static bool is_validation(X509 *x)
{
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    bool yes = x && X509_get_ext_by_OBJ(x, oid, -1) >= 0;
    ASN1_OBJECT_free(oid);
    X509_free(x);
    return yes;
}

/* The listener's context as tls.c builds it: an RSA certificate (key_type = rsa), so that
 * with TLS 1.2 the cipher would be ECDHE-RSA had the certificate been replaced too late. */
static SSL_CTX *listener_ctx(void)
{
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    EVP_PKEY *k = pc_acme_key_new(PC_ACME_RSA);
    char *names[] = {"webext.contoso.com"};
    X509 *x = pc_acme_placeholder(k, names, 1);
    CHECK(x && SSL_CTX_use_cert_and_key(sctx, x, k, NULL, 1) == 1);
    X509_free(x);
    EVP_PKEY_free(k);
    SSL_CTX_set_client_hello_cb(sctx, hello_cb, NULL);
    SSL_CTX_set_cert_cb(sctx, pc_acme_alpn_cert_cb, NULL);
    SSL_CTX_set_alpn_select_cb(sctx, alpn_cb, NULL);
    return sctx;
}

static void test_alpn_handshake(void)
{
    const char *acme = "\x0a"
                       "acme-tls/1";
    CHECK_INT(pc_acme_init(), 0);
    SSL_CTX *sctx = listener_ctx();
    X509 *peer = NULL;
    /* No challenge pending: refused. */
    CHECK_INT(handshake(sctx, "webext.contoso.com", acme, TLS1_3_VERSION, &peer), 0);
    CHECK_INT(pc_acme_alpn_set("WebExt.contoso.com", "tok.THUMB"), 0);
    for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
        CHECK_INT(handshake(sctx, "webext.contoso.com", acme, v, &peer), 2);
        CHECK(peer && X509_check_host(peer, "webext.contoso.com", 0, 0, NULL) == 1);
        CHECK(is_validation(peer));
        peer = NULL;
    }
    CHECK_INT(handshake(sctx, "meet.contoso.com", acme, TLS1_3_VERSION, &peer), 0);
    /* acme-tls/1 among others: an ordinary client, the listener's certificate. */
    CHECK_INT(handshake(sctx, "webext.contoso.com",
                        "\x0a"
                        "acme-tls/1\x08http/1.1",
                        TLS1_3_VERSION, &peer),
              1);
    CHECK(!is_validation(peer));
    peer = NULL;
    pc_acme_alpn_clear();
    CHECK_INT(handshake(sctx, "webext.contoso.com", acme, TLS1_2_VERSION, &peer), 0);
    /* A full table refuses one more name. */
    for (int i = 0; i < PC_ACME_ALPN_SLOTS; i++) {
        char n[32];
        snprintf(n, sizeof n, "n%d.contoso.com", i);
        CHECK_INT(pc_acme_alpn_set(n, "ka"), 0);
    }
    CHECK_INT(pc_acme_alpn_set("one-more.contoso.com", "ka"), -1);
    pc_acme_alpn_clear();
    SSL_CTX_free(sctx);
}

int main(void)
{
    test_b64url();
    test_jwk_jws();
    test_csr_placeholder();
    test_tokens();
    test_alpn_cert();
    test_alpn_handshake();
    return UNIT_DONE();
}

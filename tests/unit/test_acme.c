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

/* A signed certificate of serial SERIAL (hex) with the authority key id KID (NULL: none). */
static X509 *ari_cert(const char *serial, const unsigned char *kid, int klen)
{
    X509 *x = X509_new();
    EVP_PKEY *k = pc_acme_key_new(PC_ACME_ECDSA);
    BIGNUM *bn = NULL;
    BN_hex2bn(&bn, serial);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    if (kid) {
        AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
        ak->keyid = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(ak->keyid, kid, klen);
        CHECK_INT(X509_add1_ext_i2d(x, NID_authority_key_identifier, ak, 0, 0), 1);
        AUTHORITY_KEYID_free(ak);
    }
    CHECK(X509_sign(x, k, EVP_sha256()) > 0);
    EVP_PKEY_free(k);
    return x;
}

/* RFC 9773 §4.1's example: key id 69:88:5B:...:C8:D4 and serial 0x0087654321. */
static void test_ari_id(void)
{
    static const unsigned char kid[20] = {0x69, 0x88, 0x5b, 0x6b, 0x87, 0x46, 0x40,
                                          0x41, 0xe1, 0xb3, 0x7b, 0x84, 0x7b, 0xa0,
                                          0xae, 0x2c, 0xde, 0x01, 0xc8, 0xd4};
    char id[PC_ACME_ARI_ID_MAX];
    X509 *x = ari_cert("87654321", NULL, 0);
    CHECK_INT(pc_acme_ari_id(x, id, sizeof id), -1); /* no authority key id */
    X509_free(x);
    x = ari_cert("87654321", kid, sizeof kid);
    CHECK_INT(pc_acme_ari_id(x, id, sizeof id), 0);
    CHECK_STR(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    CHECK_INT(pc_acme_ari_id(x, id, 10), -1); /* does not fit */
    X509_free(x);
    /* A serial whose top bit is clear has no leading zero. */
    x = ari_cert("12", kid, sizeof kid);
    CHECK_INT(pc_acme_ari_id(x, id, sizeof id), 0);
    CHECK_STR(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.Eg");
    X509_free(x);
}

static void test_ari_window(void)
{
    time_t s = 0, e = 0;
    char why[200];
    const char *ok = "{\"suggestedWindow\": {\"start\": \"2026-01-03T00:00:00Z\", "
                     "\"end\": \"2026-01-04T00:00:00.123Z\"}, \"explanationURL\": \"x\"}";
    CHECK_INT(pc_acme_ari_window(ok, &s, &e, why, sizeof why), 0);
    CHECK_INT((long long)s, 1767398400LL);
    CHECK_INT((long long)e, 1767398400LL + 86400);
    const char *off = "{\"suggestedWindow\": {\"start\": \"2026-01-03T02:00:00+02:00\", "
                      "\"end\": \"2026-01-02t19:30:00-05:00\"}}";
    CHECK_INT(pc_acme_ari_window(off, &s, &e, why, sizeof why), 0);
    CHECK_INT((long long)s, 1767398400LL);
    CHECK_INT((long long)e, 1767398400LL + 1800);
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"not json", "not JSON"},
        {"{}", "no suggestedWindow"},
        {"{\"suggestedWindow\": {\"start\": \"2026-01-03\", \"end\": \"2026-01-04T00:00:00Z\"}}",
         "RFC 3339"},
        {"{\"suggestedWindow\": {\"start\": \"2026-13-03T00:00:00Z\", \"end\": "
         "\"2026-01-04T00:00:00Z\"}}",
         "RFC 3339"},
        {"{\"suggestedWindow\": {\"start\": \"2026-01-03T00:00:00Z \", \"end\": "
         "\"2026-01-04T00:00:00Z\"}}",
         "RFC 3339"},
        {"{\"suggestedWindow\": {\"start\": 1, \"end\": \"2026-01-04T00:00:00Z\"}}", "RFC 3339"},
        {"{\"suggestedWindow\": {\"start\": \"2026-01-04T00:00:01Z\", \"end\": "
         "\"2026-01-04T00:00:00Z\"}}",
         "ends before"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK_INT(pc_acme_ari_window(bad[i].body, &s, &e, why, sizeof why), -1);
        CHECK_CONTAINS(why, bad[i].why);
    }
    /* The pick: uniform in [start, end], both ends included. */
    CHECK_INT((long long)pc_acme_ari_pick(1000, 1010, 0), 1000);
    CHECK_INT((long long)pc_acme_ari_pick(1000, 1010, 10), 1010);
    CHECK_INT((long long)pc_acme_ari_pick(1000, 1010, 11), 1000);
    CHECK_INT((long long)pc_acme_ari_pick(1000, 1000, 12345), 1000);
}

static void test_ari_next(void)
{
    time_t now = 1767398400;
    CHECK_INT((long long)(pc_acme_ari_next("120", now) - now), 120);
    CHECK_INT((long long)(pc_acme_ari_next(NULL, now) - now), PC_ACME_ARI_DEFAULT);
    CHECK_INT((long long)(pc_acme_ari_next("", now) - now), PC_ACME_ARI_DEFAULT);
    CHECK_INT((long long)(pc_acme_ari_next("soon", now) - now), PC_ACME_ARI_DEFAULT);
    CHECK_INT((long long)(pc_acme_ari_next("0", now) - now), PC_ACME_ARI_MIN);
    CHECK_INT((long long)(pc_acme_ari_next("-5", now) - now), PC_ACME_ARI_DEFAULT);
    CHECK_INT((long long)(pc_acme_ari_next("99999999", now) - now), PC_ACME_ARI_MAX);
    /* An HTTP-date (RFC 9110 §10.2.3): an hour after NOW. */
    CHECK_INT((long long)(pc_acme_ari_next("Sat, 03 Jan 2026 01:00:00 GMT", now) - now), 3600);
}

int main(void)
{
    test_b64url();
    test_jwk_jws();
    test_csr_placeholder();
    test_tokens();
    test_alpn_cert();
    test_alpn_handshake();
    test_ari_id();
    test_ari_window();
    test_ari_next();
    return UNIT_DONE();
}

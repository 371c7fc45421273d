/* test_acme.c — unit tests of src/tls/acme-jws.c and the challenge table of src/tls/acme.c
 * (docs/certificates.md#acme): base64url (RFC 7515 §2), the JWK and its RFC 7638 thumbprint,
 * an ES256 JWS that OpenSSL verifies (RFC 7518 §3.4), a CSR with every name, the placeholder. */
#include <openssl/bn.h>
#include <openssl/ec.h>
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

int main(void)
{
    test_b64url();
    test_jwk_jws();
    test_csr_placeholder();
    test_tokens();
    return UNIT_DONE();
}

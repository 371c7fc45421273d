/* acme-jws.c — keys, JWS, CSRs and the placeholder certificate of the ACME client (acme.h):
 * OpenSSL for every piece of cryptography, jansson for every piece of JSON.
 *
 * RFC 8555 §6.2: every POST is a flattened JWS signed by the account key, ES256 here (RFC 7518
 * §3.4: the signature is R || S, 32 bytes each, not OpenSSL's DER ECDSA-Sig-Value); the key
 * authorization of a challenge (§8.1) carries the key's JWK thumbprint (RFC 7638). */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "tls/acme.h"

#define PLACEHOLDER_CN "portico ACME placeholder"

char *pc_acme_b64url(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

EVP_PKEY *pc_acme_key_new(int type)
{
    return type == PC_ACME_RSA ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
}

EVP_PKEY *pc_acme_key_load(const char *file)
{
    BIO *b = BIO_new_file(file, "r");
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

char *pc_acme_key_pem(EVP_PKEY *key, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        out = n > 0 ? OPENSSL_malloc((size_t)n) : NULL;
        if (out) {
            memcpy(out, p, (size_t)n);
            *len = (size_t)n;
        }
    }
    BIO_free(b); /* a memory BIO is not cleared: the key text is short-lived in this process */
    return out;
}

/* base64url of BN, left-padded to LEN bytes (RFC 7518 §6.2.1.2: the full coordinate size). */
static json_t *b64_bn(const BIGNUM *bn, int len)
{
    unsigned char buf[32];
    if (len > (int)sizeof(buf) || BN_bn2binpad(bn, buf, len) != len)
        return NULL;
    char *s = pc_acme_b64url(buf, (size_t)len);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

json_t *pc_acme_jwk(EVP_PKEY *key)
{
    BIGNUM *x = NULL, *y = NULL;
    json_t *jwk = NULL;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1)
        jwk = json_pack("{s:s, s:s, s:o?, s:o?}", "kty", "EC", "crv", "P-256", "x", b64_bn(x, 32),
                        "y", b64_bn(y, 32));
    if (jwk && (!json_object_get(jwk, "x") || !json_object_get(jwk, "y"))) {
        json_decref(jwk);
        jwk = NULL;
    }
    BN_free(x);
    BN_free(y);
    return jwk;
}

int pc_acme_thumbprint(const json_t *jwk, char *out, size_t osize)
{
    /* RFC 7638 §3: the required members only, in lexicographic order, no whitespace:
     * exactly what jansson writes with JSON_SORT_KEYS | JSON_COMPACT. */
    char *s = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT);
    unsigned char md[32];
    int rc = -1;
    if (s && EVP_Digest(s, strlen(s), md, NULL, EVP_sha256(), NULL) == 1) {
        char *b = pc_acme_b64url(md, sizeof(md));
        if (b && strlen(b) < osize) {
            strcpy(out, b);
            rc = 0;
        }
        free(b);
    }
    free(s);
    return rc;
}

/* ES256 over MSG (RFC 7518 §3.4): R || S, base64url. */
static char *sign_es256(EVP_PKEY *key, const char *msg)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80], rs[64];
    size_t dlen = sizeof(der);
    char *out = NULL;
    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(md, der, &dlen, (const unsigned char *)msg, strlen(msg)) == 1) {
        const unsigned char *p = der;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
        if (sig && BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) == 32 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) == 32)
            out = pc_acme_b64url(rs, sizeof(rs));
        ECDSA_SIG_free(sig);
    }
    EVP_MD_CTX_free(md);
    return out;
}

char *pc_acme_jws(EVP_PKEY *key, const json_t *jwk, const char *kid, const char *nonce,
                  const char *url, const json_t *payload)
{
    /* RFC 8555 §6.2: "jwk" only for newAccount (and revocation by certificate key), "kid"
     * (the account URL) for everything else. */
    json_t *prot = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);
    if (!prot)
        return NULL;
    if (kid)
        json_object_set_new(prot, "kid", json_string(kid));
    else
        json_object_set(prot, "jwk", (json_t *)jwk);
    char *ptext = json_dumps(prot, JSON_COMPACT);
    char *pay = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    char *p64 = ptext ? pc_acme_b64url((unsigned char *)ptext, strlen(ptext)) : NULL;
    char *y64 = pay ? pc_acme_b64url((unsigned char *)pay, strlen(pay)) : strdup("");
    char *msg = NULL, *sig = NULL, *out = NULL;
    if (p64 && y64 && (msg = malloc(strlen(p64) + strlen(y64) + 2))) {
        strcpy(msg, p64);
        strcat(msg, ".");
        strcat(msg, y64);
        sig = sign_es256(key, msg);
    }
    if (sig) {
        json_t *jws =
            json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", y64, "signature", sig);
        out = jws ? json_dumps(jws, JSON_COMPACT) : NULL;
        json_decref(jws);
    }
    json_decref(prot);
    free(ptext);
    free(pay);
    free(p64);
    free(y64);
    free(msg);
    free(sig);
    return out;
}

/* The subjectAltName extension "DNS:a,DNS:b,..." for NAMES. */
static X509_EXTENSION *san_ext(X509V3_CTX *ctx, char *const *names, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + 5;
    char *v = malloc(len);
    if (!v)
        return NULL;
    v[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(v, i ? ",DNS:" : "DNS:");
        strcat(v, names[i]);
    }
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, NID_subject_alt_name, v);
    free(v);
    return e;
}

char *pc_acme_csr(EVP_PKEY *key, char *const *names, size_t n)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = san_ext(NULL, names, n);
    X509_NAME *subj = X509_NAME_new();
    char *out = NULL;
    unsigned char *der = NULL;
    int dlen = 0;
    /* The CN is the first name, as CAs expect (RFC 8555 §7.4 only needs the SANs). */
    if (req && exts && san && subj && strlen(names[0]) <= 64 &&
        X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)names[0], -1,
                                   -1, 0) == 1 &&
        X509_REQ_set_subject_name(req, subj) == 1 && X509_REQ_set_pubkey(req, key) == 1 &&
        sk_X509_EXTENSION_push(exts, san) > 0) {
        san = NULL; /* the stack owns it */
        if (X509_REQ_add_extensions(req, exts) == 1 && X509_REQ_sign(req, key, EVP_sha256()) > 0 &&
            (dlen = i2d_X509_REQ(req, &der)) > 0)
            out = pc_acme_b64url(der, (size_t)dlen);
    }
    OPENSSL_free(der);
    X509_NAME_free(subj);
    X509_EXTENSION_free(san);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return out;
}

X509 *pc_acme_placeholder(EVP_PKEY *key, char *const *names, size_t n)
{
    X509 *x = X509_new();
    X509_NAME *nm = X509_get_subject_name(x);
    X509V3_CTX ctx;
    if (!x || X509_set_version(x, 2) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL)) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400) ||
        X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)PLACEHOLDER_CN,
                                   -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, nm) != 1 || X509_set_pubkey(x, key) != 1) {
        X509_free(x);
        return NULL;
    }
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = san_ext(&ctx, names, n);
    if (!san || X509_add_ext(x, san, -1) != 1 || X509_sign(x, key, EVP_sha256()) <= 0) {
        X509_EXTENSION_free(san);
        X509_free(x);
        return NULL;
    }
    X509_EXTENSION_free(san);
    return x;
}

bool pc_acme_is_placeholder(X509 *x)
{
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName, cn, sizeof(cn));
    return strcmp(cn, PLACEHOLDER_CN) == 0;
}

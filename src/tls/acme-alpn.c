/* acme-alpn.c — the TLS-ALPN-01 challenge (RFC 8737; acme.h, docs/certificates.md#acme): the
 * validation certificates the ACME helper makes, the shared table that hands them to every
 * worker, and the worker's answer to a ClientHello that offers ALPN acme-tls/1: three hooks
 * of the listener contexts (tls.c), in the order OpenSSL calls them: the ClientHello callback
 * notes that acme-tls/1 alone was offered, the certificate callback serves the validation
 * certificate of the SNI, the ALPN callback selects acme-tls/1 or fails the handshake.
 *
 * Why the DER bytes in a shared slot rather than files in state_dir: a validation certificate
 * and its key are under 1 KiB together, so a slot of the table holds them whole. A worker then
 * answers the CA from memory in the handshake callback, with no file to open (no disk I/O in
 * the event loop, no stale file to clean up after a crash, no generation number to keep in
 * step with a rename), exactly as the HTTP-01 key authorizations are answered (acme.c). The
 * region is an anonymous shared mapping made by the master before anything forks: only
 * portico's own processes see it. The key proves nothing by itself (the CA checks the
 * acmeIdentifier extension, RFC 8737 §3) and is thrown away when the order ends. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "common/seqlock.h"
#include "tls/acme.h"

/* RFC 8737 §6.2: the ALPN protocol ID, as it is on the wire (length first). */
static const unsigned char acme_tls_1[] = "\x0a"
                                          "acme-tls/1";
#define ACME_TLS_1_LEN (sizeof(acme_tls_1) - 1)

static struct pc_acme_alpn *slots; /* PC_ACME_ALPN_SLOTS, shared */
static int hello_idx = -1;         /* SSL ex_data: the ClientHello offered acme-tls/1 alone */

int pc_acme_alpn_init(void)
{
    if (slots)
        return 0;
    /* Before any fork: the same index in every worker. */
    hello_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (hello_idx < 0)
        return -1;
    void *p = mmap(NULL, sizeof(struct pc_acme_alpn) * PC_ACME_ALPN_SLOTS, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    slots = p; /* zero-filled: every slot free */
    return 0;
}

/* ---- the validation certificate (helper) ---- */

/* RFC 8737 §3: id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31), critical, its extnValue the DER of
 * Authorization ::= OCTET STRING (SIZE (32)), the SHA-256 digest of the key authorization. */
static X509_EXTENSION *acme_identifier(const unsigned char digest[32])
{
    unsigned char der[34] = {0x04, 0x20}; /* OCTET STRING, 32 bytes */
    memcpy(der + 2, digest, 32);
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
    X509_EXTENSION *e = NULL;
    if (oid && val && ASN1_OCTET_STRING_set(val, der, sizeof(der)) == 1)
        e = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, val);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(val);
    return e;
}

X509 *pc_acme_alpn_cert(EVP_PKEY *key, const char *name, const unsigned char digest[32])
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    char san[300];
    X509V3_CTX ctx;
    bool ok = x && RAND_bytes(serial, sizeof(serial)) == 1 &&
              (bn = BN_bin2bn(serial, sizeof(serial), NULL)) && X509_set_version(x, 2) == 1 &&
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
              X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400) &&
              X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                         (const unsigned char *)"portico ACME TLS-ALPN-01", -1, -1,
                                         0) == 1 &&
              X509_set_issuer_name(x, X509_get_subject_name(x)) == 1 &&
              X509_set_pubkey(x, key) == 1 &&
              (size_t)snprintf(san, sizeof(san), "DNS:%s", name) < sizeof(san);
    BN_free(bn);
    /* §3: the subjectAltName holds the name validated and nothing else. */
    X509_EXTENSION *e1 = NULL, *e2 = NULL;
    if (ok) {
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        e1 = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, san);
        e2 = acme_identifier(digest);
        ok = e1 && e2 && X509_add_ext(x, e1, -1) == 1 && X509_add_ext(x, e2, -1) == 1 &&
             X509_sign(x, key, EVP_sha256()) > 0;
    }
    X509_EXTENSION_free(e1);
    X509_EXTENSION_free(e2);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* ---- the table: a seqlock per slot (common/seqlock.h), one writer (the helper) ---- */

#define slot_begin(s) pc_seq_write_begin(&(s)->seq)
#define slot_end(s)   pc_seq_write_end(&(s)->seq)

/* The slot of NAME, else a free one, else NULL. */
static struct pc_acme_alpn *slot_for(const char *name, size_t nl)
{
    struct pc_acme_alpn *free_one = NULL;
    for (int i = 0; i < PC_ACME_ALPN_SLOTS; i++) {
        struct pc_acme_alpn *s = &slots[i];
        if (s->nlen == nl && strncasecmp(s->name, name, nl) == 0)
            return s;
        if (!s->nlen && !free_one)
            free_one = s;
    }
    return free_one;
}

int pc_acme_alpn_set(const char *name, const char *keyauth)
{
    size_t nl = strlen(name);
    unsigned char digest[32];
    if (!slots || nl == 0 || nl >= PC_ACME_ALPN_NAME_MAX ||
        EVP_Digest(keyauth, strlen(keyauth), digest, NULL, EVP_sha256(), NULL) != 1)
        return -1;
    struct pc_acme_alpn *s = slot_for(name, nl);
    EVP_PKEY *key = s ? pc_acme_key_new(PC_ACME_ECDSA) : NULL;
    X509 *x = key ? pc_acme_alpn_cert(key, name, digest) : NULL;
    int clen = x ? i2d_X509(x, NULL) : -1, klen = key ? i2d_PrivateKey(key, NULL) : -1;
    int rc = -1;
    if (clen > 0 && clen <= PC_ACME_ALPN_CERT_MAX && klen > 0 && klen <= PC_ACME_ALPN_KEY_MAX) {
        slot_begin(s);
        unsigned char *c = s->cert, *k = s->key;
        s->clen = (uint32_t)i2d_X509(x, &c);
        s->klen = (uint32_t)i2d_PrivateKey(key, &k);
        for (size_t i = 0; i < nl; i++) /* the SNI is matched without case (RFC 4343) */
            s->name[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
        s->nlen = s->clen == (uint32_t)clen && s->klen == (uint32_t)klen ? (uint32_t)nl : 0;
        slot_end(s);
        rc = s->nlen ? 0 : -1;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

void pc_acme_alpn_clear(void)
{
    for (int i = 0; slots && i < PC_ACME_ALPN_SLOTS; i++) {
        slot_begin(&slots[i]);
        OPENSSL_cleanse(slots[i].key, sizeof(slots[i].key));
        slots[i].nlen = slots[i].clen = slots[i].klen = 0;
        slot_end(&slots[i]);
    }
}

/* ---- the handshake (workers) ---- */

/* A stable copy of the slot for NAME into OUT; false when there is none. */
static bool lookup(const char *name, size_t nl, struct pc_acme_alpn *out)
{
    for (int i = 0; slots && i < PC_ACME_ALPN_SLOTS; i++) {
        /* The name first (a slot's head): the certificate is copied for the slot that has it. */
        const struct pc_acme_alpn *s = &slots[i];
        if (!pc_seq_read(&s->seq, out, s, offsetof(struct pc_acme_alpn, cert)) || out->nlen != nl ||
            strncasecmp(out->name, name, nl) != 0)
            continue;
        if (pc_seq_read(&s->seq, out, s, sizeof(*out)) && out->nlen == nl &&
            out->clen <= PC_ACME_ALPN_CERT_MAX && out->klen <= PC_ACME_ALPN_KEY_MAX &&
            strncasecmp(out->name, name, nl) == 0)
            return true;
    }
    return false;
}

/* Serves the validation certificate of SLOT on SSL instead of the listener's (§3: alone, no
 * chain); no session ticket either, the connection ends with the handshake. */
static bool serve(SSL *ssl, const struct pc_acme_alpn *slot)
{
    const unsigned char *c = slot->cert, *k = slot->key;
    X509 *x = d2i_X509(NULL, &c, (long)slot->clen);
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &k, (long)slot->klen);
    bool ok = x && key;
    if (ok) {
        SSL_certs_clear(ssl);
        ok = SSL_use_cert_and_key(ssl, x, key, NULL, 1) == 1;
        SSL_set_num_tickets(ssl, 0);
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

/* Whether the ClientHello of SSL offered acme-tls/1 alone (pc_acme_alpn_hello). */
static bool offered(SSL *ssl)
{
    return hello_idx >= 0 && SSL_get_ex_data(ssl, hello_idx) != NULL;
}

/* A stable copy of the slot of SSL's SNI into COPY; false when no challenge is pending. */
static bool pending(SSL *ssl, struct pc_acme_alpn *copy)
{
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    return name && *name && lookup(name, strlen(name), copy);
}

void pc_acme_alpn_hello(SSL *ssl)
{
    /* The extension: a 2-byte list length, then the list (RFC 7301 §3.1). §3: the CA offers
     * acme-tls/1 as its only protocol; a list with others is a client that also knows
     * acme-tls/1, negotiated as any other. */
    const unsigned char *p;
    size_t len;
    bool only = hello_idx >= 0 &&
                SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                          &p, &len) == 1 &&
                len == ACME_TLS_1_LEN + 2 && p[0] == 0 && p[1] == ACME_TLS_1_LEN &&
                memcmp(p + 2, acme_tls_1, ACME_TLS_1_LEN) == 0;
    /* Set only for the CA's handshakes: SSL_set_ex_data allocates the SSL's ex_data array,
     * which no other handshake needs (a new SSL object starts without it: NULL). */
    if (only)
        SSL_set_ex_data(ssl, hello_idx, (void *)acme_tls_1);
}

/* The certificate callback runs after the SNI callback (which sets the name's context and so
 * its certificates) and before OpenSSL picks a cipher (TLS 1.2) or a signature algorithm: the
 * one place where the certificate can be replaced for both versions. The ALPN callback is not:
 * with TLS 1.2 it runs after the cipher is chosen for the listener's key. */
int pc_acme_alpn_cert_cb(SSL *ssl, void *arg)
{
    (void)arg;
    static struct pc_acme_alpn copy; /* one handshake at a time in a worker */
    if (offered(ssl) && pending(ssl, &copy) && !serve(ssl, &copy))
        ERR_clear_error(); /* the listener's certificate stays: the CA will not validate it */
    OPENSSL_cleanse(copy.key, sizeof(copy.key));
    return 1;
}

int pc_acme_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                        const unsigned char *in, unsigned int inlen)
{
    (void)in;
    (void)inlen;
    if (!offered(ssl))
        return -1;
    static struct pc_acme_alpn copy;
    /* §3: no pending challenge for the SNI (or none sent): the handshake fails with
     * no_application_protocol, what OpenSSL sends for SSL_TLSEXT_ERR_ALERT_FATAL here. */
    bool ok = pending(ssl, &copy);
    OPENSSL_cleanse(copy.key, sizeof(copy.key));
    if (!ok)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = acme_tls_1 + 1;
    *outlen = (unsigned char)(ACME_TLS_1_LEN - 1);
    return SSL_TLSEXT_ERR_OK;
}

bool pc_acme_alpn_chosen(SSL *ssl)
{
    const unsigned char *p;
    unsigned int n;
    SSL_get0_alpn_selected(ssl, &p, &n);
    return n == ACME_TLS_1_LEN - 1 && memcmp(p, acme_tls_1 + 1, n) == 0;
}

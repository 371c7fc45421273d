/* tls.c — building the OpenSSL contexts (see tls.h). */
#include "tls/tls.h"

#include "tls/rec.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "http/http1.h"
#include "tls/acme.h"
#include "tls/ocsp.h"

/* Forward secrecy and AEAD only, ECDSA and RSA certificates (Mozilla "intermediate"). */
#define CIPHERS_MODERN                                                                             \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* What Lync 2010/2013 clients and Lync Phone Edition speak over TLS 1.0. */
#define CIPHERS_LEGACY                                                                             \
    ":ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"    \
    "AES128-SHA:AES256-SHA"

#define TICKET_PERIOD 3600 /* a ticket key serves one hour and is accepted for one more */

static unsigned char ticket_secret[32];

static void diag_add(struct pc_diag *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void diag_add(struct pc_diag *d, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char full[1400];
    int n = line > 0 ? snprintf(full, sizeof(full), "%s:%d: %s\n", file, line, msg)
                     : snprintf(full, sizeof(full), "%s: %s\n", file, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(full))
        n = sizeof(full) - 1;
    if (!d) {
        full[n - 1] = '\0';
        pc_err("%s", full);
        return;
    }
    char *t = realloc(d->text, d->len + (size_t)n + 1);
    if (!t)
        return;
    memcpy(t + d->len, full, (size_t)n + 1);
    d->text = t;
    d->len += (size_t)n;
    d->nerrors++;
}

const char *pc_tls_error(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (!e) {
        snprintf(buf, len, "%s", fallback);
    } else {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, len, "%s", r ? r : "unknown OpenSSL error");
    }
    ERR_clear_error();
    return buf;
}

/* ---- names ---- */

int pc_tls_step(SSL *ssl, uint8_t *want, int *err)
{
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_READ ? PC_TLS_WANT_READ : PC_TLS_WANT_WRITE;
        return 0;
    }
    if (err)
        *err = e;
    return -1;
}

bool pc_tls_name_match(const char *pat, const char *host, size_t len)
{
    if (len && host[len - 1] == '.')
        len--;
    if (pat[0] == '*' && pat[1] == '.') {
        /* A wildcard covers exactly one label (RFC 6125 §6.4.3). */
        const char *dot = memchr(host, '.', len);
        if (!dot || dot == host)
            return false;
        size_t rest = len - (size_t)(dot - host);
        return strlen(pat + 1) == rest && strncasecmp(pat + 1, dot, rest) == 0;
    }
    return strlen(pat) == len && strncasecmp(pat, host, len) == 0;
}

bool pc_tls_covers(const struct pc_tls *t, size_t idx, const char *host, size_t len)
{
    const struct pc_tls_server *s = &t->servers[idx];
    for (size_t i = 0; i < s->nnames; i++)
        if (pc_tls_name_match(s->names[i], host, len))
            return true;
    return false;
}

size_t pc_tls_server_index(const struct pc_tls *t, SSL *ssl)
{
    if (SSL_session_reused(ssl)) {
        /* A resumed session proves only the certificate it was made with, which the SNI
         * of this connection may not have chosen (tickets are shared by all contexts). */
        unsigned int len = 0;
        const unsigned char *id = SSL_SESSION_get0_id_context(SSL_get_session(ssl), &len);
        for (size_t i = 0; id && i < t->nservers; i++)
            if (t->servers[i].sidlen == len && memcmp(t->servers[i].sid, id, len) == 0)
                return i;
    }
    SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
    for (size_t i = 0; i < t->nservers; i++)
        if (t->servers[i].ctx == ctx)
            return i;
    return 0;
}

static int add_name(struct pc_tls_server *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (strlen(s->names[i]) == len && strncasecmp(s->names[i], name, len) == 0)
            return 0;
    char **n = realloc(s->names, (s->nnames + 1) * sizeof(*n));
    if (!n)
        return -1;
    s->names = n;
    char *c = strndup(name, len);
    if (!c)
        return -1;
    for (char *p = c; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    s->names[s->nnames++] = c;
    return 0;
}

/* The DNS names of X (SAN dNSName entries; the CN only when there is no SAN). */
static int collect_names(struct pc_tls_server *s, X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int found = 0;
    if (gens) {
        for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            if (g->type != GEN_DNS)
                continue;
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            int l = ASN1_STRING_length(g->d.dNSName);
            if (l > 0 && add_name(s, (const char *)d, (size_t)l) == 0)
                found++;
        }
        GENERAL_NAMES_free(gens);
    }
    if (!found) {
        char cn[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0)
            add_name(s, cn, strlen(cn));
    }
    return 0;
}

/* ---- session tickets ----
 * Keys are derived from the secret and the hour, so every worker (and, with a shared
 * ticket_key_file, every instance) computes the same keys without talking to the others, and
 * they rotate by themselves. */

struct ticket_keys {
    long period;
    unsigned char name[16], aes[32], mac[32];
};

static void derive(long period, struct ticket_keys *k)
{
    unsigned char in[16], out[32];
    unsigned int len;
    k->period = period;
    const char labels[3] = {'n', 'a', 'm'};
    unsigned char *dst[3] = {k->name, k->aes, k->mac};
    size_t sizes[3] = {16, 32, 32};
    for (int i = 0; i < 3; i++) {
        memset(in, 0, sizeof(in));
        in[0] = (unsigned char)labels[i];
        memcpy(in + 8, &period, sizeof(period) < 8 ? sizeof(period) : 8);
        HMAC(EVP_sha256(), ticket_secret, sizeof(ticket_secret), in, sizeof(in), out, &len);
        memcpy(dst[i], out, sizes[i]);
    }
}

static const struct ticket_keys *keys_for(long period)
{
    static struct ticket_keys cache[2] = {{.period = -1}, {.period = -1}};
    struct ticket_keys *k = &cache[period & 1];
    if (k->period != period)
        derive(period, k);
    return k;
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    (void)ssl;
    long now = (long)(time(NULL) / TICKET_PERIOD);
    const struct ticket_keys *k = NULL;
    int ret = 1;
    if (enc) {
        k = keys_for(now);
        if (RAND_bytes(iv, 16) != 1)
            return -1;
        memcpy(key_name, k->name, 16);
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
            return -1;
    } else {
        for (long p = now; p >= now - 1 && !k; p--) {
            const struct ticket_keys *c = keys_for(p);
            if (memcmp(key_name, c->name, 16) == 0) {
                k = c;
                ret = p == now ? 1 : 2; /* 2: valid, but issue a fresh ticket */
            }
        }
        if (!k)
            return 0; /* unknown key: full handshake */
        if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
            return -1;
    }
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->mac, 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"sha256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    return ret;
}

void pc_tls_forget_secrets(void)
{
    OPENSSL_cleanse(ticket_secret, sizeof(ticket_secret));
}

int pc_tls_ticket_secret(const struct pc_config *cfg)
{
    static bool have_random;
    if (!cfg->ticket_key_file) {
        /* Random once per start: a reload keeps it, so that tickets survive reloads. */
        if (have_random)
            return 0;
        have_random = RAND_bytes(ticket_secret, sizeof(ticket_secret)) == 1;
        return have_random ? 0 : -1;
    }
    have_random = false;
    FILE *f = fopen(cfg->ticket_key_file, "rb");
    if (!f) {
        pc_err("ticket_key_file %s: cannot open", cfg->ticket_key_file);
        return -1;
    }
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n < 32) {
        pc_err("ticket_key_file %s: needs at least 32 bytes of key material", cfg->ticket_key_file);
        return -1;
    }
    unsigned int len;
    /* Any length of key material works: the secret is its digest. */
    HMAC(EVP_sha256(), "portico ticket keys", 19, buf, n, ticket_secret, &len);
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

/* ---- contexts ---- */

/* ARG non-NULL: http2 = on, h2 is preferred to http/1.1 (RFC 9113 §3.2: h2 over TLS only, no
 * h2c). A client that offers only http/1.1 gets it as before. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    /* RFC 8737 §3: a ClientHello offering acme-tls/1 alone is the CA checking a TLS-ALPN-01
     * challenge: acme-tls/1 if one is pending for the name (tls/acme-alpn.c), never routed. */
    int acme = pc_acme_alpn_select(ssl, out, outlen, in, inlen);
    if (acme >= 0)
        return acme;
    static const unsigned char h11[] = "\x08http/1.1";
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    const unsigned char *ours = arg ? both : h11;
    unsigned ourlen = arg ? sizeof(both) - 1 : sizeof(h11) - 1;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, ourlen, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no common protocol: go on without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Records the offered SNI before anything can fail (version, ciphers), so that a failed
 * handshake is logged with the name the client asked for. The SSL's app data is a 64-byte
 * buffer of the session. */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
    (void)al;
    (void)arg;
    pc_acme_alpn_hello(ssl); /* RFC 8737: acme-tls/1 alone offered (tls/acme-alpn.c) */
    struct pc_tlsconn *tc = SSL_get_app_data(ssl);
    char *out = tc ? tc->hello_sni : NULL;
    const unsigned char *p;
    size_t len;
    if (!out || !SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5)
        return SSL_CLIENT_HELLO_SUCCESS;
    size_t list = ((size_t)p[0] << 8) | p[1];
    size_t nl = ((size_t)p[3] << 8) | p[4];
    if (list + 2 > len || p[2] != TLSEXT_NAMETYPE_host_name || nl + 5 > len)
        return SSL_CLIENT_HELLO_SUCCESS;
    size_t k = 0;
    for (size_t i = 0; i < nl && k < 63; i++) {
        unsigned char c = p[5 + i];
        out[k++] = (char)(c > 0x20 && c < 0x7f ? c : '?'); /* log-safe */
    }
    out[k] = '\0';
    return SSL_CLIENT_HELLO_SUCCESS;
}

static int sni_cb(SSL *ssl, int *al, void *arg)
{
    const struct pc_tls *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_OK; /* the default certificate */
    size_t len = strlen(name);
    /* OpenSSL takes any bytes but NUL as a server name; the name may become the Host line
     * and the SNI of the request to the pool (HTTP/1.0 without Host), so it passes the check
     * a Host value passes, and a host name has no port (RFC 6066 §3). */
    if (!pc_h1_valid_hostname(name, len)) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    /* Exact names first, so that a dedicated certificate wins over a wildcard one. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->nservers; i++) {
            const struct pc_tls_server *s = &t->servers[i];
            for (size_t k = 0; k < s->nnames; k++) {
                bool wild = s->names[k][0] == '*';
                if (wild != (pass == 1) || !pc_tls_name_match(s->names[k], name, len))
                    continue;
                if (SSL_get_SSL_CTX(ssl) != s->ctx)
                    SSL_set_SSL_CTX(ssl, s->ctx);
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_OK; /* unknown name: default certificate, the Host check gives 421 */
}

static int set_versions(SSL_CTX *ctx, int min, const char *ciphers)
{
    if (!SSL_CTX_set_min_proto_version(ctx, min))
        return -1;
    /* OpenSSL 3 refuses TLS < 1.2 (SHA-1 signatures) above security level 0: lower it only
     * when the configuration asks for those versions. */
    if (min < TLS1_2_VERSION)
        SSL_CTX_set_security_level(ctx, 0);
    const char *list = ciphers;
    char buf[1024];
    if (!list) {
        snprintf(buf, sizeof(buf), "%s%s", CIPHERS_MODERN,
                 min < TLS1_2_VERSION ? CIPHERS_LEGACY : "");
        list = buf;
    }
    return SSL_CTX_set_cipher_list(ctx, list) == 1 ? 0 : -1;
}

static SSL_CTX *server_ctx(const struct pc_config *cfg, struct pc_tls *t)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    if (set_versions(ctx, cfg->tls_min, cfg->ciphers) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One read(2) per burst instead of two per record (header, then body); the data path
     * reads until PC_IO_AGAIN and asks SSL_has_pending, so nothing waits in OpenSSL unseen. */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (cfg->tls_handover)
        pc_rec_ctx_setup(ctx); /* quiet connections move to tls/rec.c */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20000);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"portico", 7);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, cfg->http2 ? (void *)ctx : NULL);
    SSL_CTX_set_client_hello_cb(ctx, hello_cb, NULL);
    /* RFC 8737: the validation certificate of a TLS-ALPN-01 challenge (tls/acme-alpn.c). */
    SSL_CTX_set_cert_cb(ctx, pc_acme_alpn_cert_cb, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    return ctx;
}

/* Loads certificate entry C into a context: a new one, or the one already serving the same
 * names with another key type (an RSA and an ECDSA certificate for the same names). */
/* The server context whose certificate has exactly PROBE's names and a key of another type
 * than PKEY_TYPE (the same context may hold one certificate per key type), or NULL. */
static struct pc_tls_server *same_names(struct pc_tls *t, const struct pc_tls_server *probe,
                                        int pkey_type)
{
    for (size_t i = 0; i < t->nservers; i++) {
        struct pc_tls_server *s = &t->servers[i];
        if (s->nnames != probe->nnames)
            continue;
        size_t same = 0;
        for (size_t k = 0; k < probe->nnames; k++)
            same += pc_tls_covers(t, i, probe->names[k], strlen(probe->names[k])) ? 1 : 0;
        EVP_PKEY *existing = SSL_CTX_get0_privatekey(s->ctx);
        if (same == probe->nnames && existing && EVP_PKEY_get_base_id(existing) != pkey_type)
            return s;
    }
    return NULL;
}

/* Sessions resume only under the certificate they were made with: a session of another
 * name's certificate gets a full handshake (RFC 6066 §3). The context id is a digest of the
 * names, the same in every worker and instance. */
static void set_session_id(struct pc_tls_server *dst)
{
    unsigned char sid[32];
    unsigned int sl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        for (size_t k = 0; k < dst->nnames; k++)
            EVP_DigestUpdate(md, dst->names[k], strlen(dst->names[k]) + 1);
        EVP_DigestFinal_ex(md, sid, &sl);
    }
    EVP_MD_CTX_free(md);
    if (sl) {
        SSL_CTX_set_session_id_context(dst->ctx, sid, sl);
        memcpy(dst->sid, sid, sl);
        dst->sidlen = sl;
    }
}

static int load_cert(const struct pc_config *cfg, struct pc_tls *t, const struct pc_cert *c,
                     struct pc_diag *diag)
{
    char err[256];
    const char *keyfile = c->key ? c->key : c->cert;
    struct pc_tls_server probe = {0};
    /* `portico -t` before the first start: the ACME files are made at start (tls/acme.c). */
    if (c->acme && diag && access(c->cert, F_OK) < 0)
        return 0;
    BIO *bio = BIO_new_file(c->cert, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!x) {
        diag_add(diag, cfg->path, c->line, "certificate %s: %s", c->cert,
                 pc_tls_error(err, sizeof(err), "no PEM certificate"));
        return -1;
    }
    collect_names(&probe, x);
    int pkey_type = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
    X509_free(x);

    struct pc_tls_server *dst = same_names(t, &probe, pkey_type);
    int rc = -1;
    if (!dst) {
        struct pc_tls_server *n = realloc(t->servers, (t->nservers + 1) * sizeof(*n));
        if (!n)
            goto out;
        t->servers = n;
        dst = &t->servers[t->nservers];
        *dst = probe;
        probe.names = NULL;
        probe.nnames = 0;
        dst->ctx = server_ctx(cfg, t);
        if (!dst->ctx) {
            diag_add(diag, cfg->path, c->line, "TLS settings: %s",
                     pc_tls_error(err, sizeof(err), "cannot build the context"));
            for (size_t k = 0; k < dst->nnames; k++)
                free(dst->names[k]);
            free(dst->names);
            goto out;
        }
        t->nservers++;
        set_session_id(dst);
    }
    if (SSL_CTX_use_certificate_chain_file(dst->ctx, c->cert) != 1) {
        diag_add(diag, cfg->path, c->line, "certificate %s: %s", c->cert,
                 pc_tls_error(err, sizeof(err), "cannot load"));
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(dst->ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
        diag_add(diag, cfg->path, c->key_line ? c->key_line : c->line, "key %s: %s", keyfile,
                 pc_tls_error(err, sizeof(err), "cannot load"));
        goto out;
    }
    if (SSL_CTX_check_private_key(dst->ctx) != 1) {
        diag_add(diag, cfg->path, c->key_line ? c->key_line : c->line,
                 "key %s does not match certificate %s", keyfile, c->cert);
        goto out;
    }
    rc = 0;
out:
    for (size_t k = 0; k < probe.nnames; k++)
        free(probe.names[k]);
    free(probe.names);
    return rc;
}

static SSL_CTX *pool_ctx(const struct pc_config *cfg, const struct pc_pool *p, struct pc_diag *diag)
{
    char err[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    if (set_versions(ctx, p->tls_min, p->ciphers) < 0) {
        diag_add(diag, cfg->path, p->line, "pool %s: TLS settings: %s", p->name,
                 pc_tls_error(err, sizeof(err), "rejected"));
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1); /* as for the listeners */
    if (cfg->tls_handover)
        pc_rec_ctx_setup(ctx);
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    if (p->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = p->ca ? SSL_CTX_load_verify_locations(ctx, p->ca, NULL)
                       : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            diag_add(diag, cfg->path, p->line, "pool %s: ca %s: %s", p->name,
                     p->ca ? p->ca : "(system store)",
                     pc_tls_error(err, sizeof(err), "cannot load"));
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct pc_tls *pc_tls_load(const struct pc_config *cfg, struct pc_diag *diag)
{
    struct pc_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    bool ok = true;
    for (size_t i = 0; i < cfg->ncerts; i++)
        if (load_cert(cfg, t, &cfg->certs[i], diag) < 0)
            ok = false;
    t->pool_ctx = calloc(cfg->npools + 1, sizeof(*t->pool_ctx));
    t->npools = cfg->npools;
    if (!t->pool_ctx)
        ok = false;
    for (size_t i = 0; ok && i < cfg->npools; i++)
        if (cfg->pools[i].https_port && !(t->pool_ctx[i] = pool_ctx(cfg, &cfg->pools[i], diag)))
            ok = false;
    if (ok && t->nservers) {
        SSL_CTX **ctxs = calloc(t->nservers, sizeof(*ctxs));
        for (size_t i = 0; ctxs && i < t->nservers; i++)
            ctxs[i] = t->servers[i].ctx;
        t->ocsp = ctxs ? pc_ocsp_set_new(cfg, ctxs, t->nservers) : NULL;
        free(ctxs);
        if (!t->ocsp) {
            diag_add(diag, cfg->path, 0, "OCSP stapling: out of memory");
            ok = false;
        }
    }
    if (!ok) {
        pc_tls_free(t);
        return NULL;
    }
    return t;
}

void pc_tls_free(struct pc_tls *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nservers; i++) {
        SSL_CTX_free(t->servers[i].ctx);
        for (size_t k = 0; k < t->servers[i].nnames; k++)
            free(t->servers[i].names[k]);
        free(t->servers[i].names);
    }
    free(t->servers);
    for (size_t i = 0; t->pool_ctx && i < t->npools; i++)
        SSL_CTX_free(t->pool_ctx[i]);
    free(t->pool_ctx);
    pc_ocsp_set_free(t->ocsp);
    free(t);
}

bool pc_tls_alpn_h2(SSL *ssl)
{
    const unsigned char *p;
    unsigned int n;
    SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && p[0] == 'h' && p[1] == '2';
}

/* acme-order.c — the ACME helper process (acme.h; docs/certificates.md#acme): RFC 8555
 * account, order, HTTP-01 or TLS-ALPN-01 (RFC 8737) authorizations, finalization and
 * download, with libcurl and jansson.
 *
 * Its own process, forked by the master after the privilege drop as the OCSP helper is
 * (ocsp-fetch.c; stopping, waiting and jitter shared in fetch.c): a slow or silent CA never
 * delays a handshake, a reload or a signal. It holds the account key and the key of the
 * certificate being ordered, never the listeners' other keys (freed before it runs).
 *
 * When: each `certificate = acme` pair is ordered when its files are due (pc_acme_renew_at);
 * a failure is retried after RETRY_MIN, doubling up to RETRY_MAX, with 10% jitter; the files
 * in place keep serving meanwhile. The new files are picked up by the certificate watch. */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "tls/acme.h"
#include "tls/fetch.h"

#define REQ_TIMEOUT     30L /* seconds for one request */
#define CONNECT_TIMEOUT 10L
#define BODY_MAX        (256 * 1024) /* a certificate chain is a few KiB */
#define POLL_TRIES      60           /* authorization and order polls, POLL_WAIT apart */
#define POLL_WAIT       1
#define RETRY_MIN       30
#define RETRY_MAX       21600

struct resp {
    long status;
    char *body;
    size_t len;
    char location[1024];
    char nonce[256];
    char retry_after[64];
};

struct acme {
    const struct pc_config *cfg;
    EVP_PKEY *account;
    json_t *jwk;
    char thumb[64];
    char *kid; /* the account URL (RFC 8555 §7.3) */
    char nonce[256];
    json_t *dir; /* the directory object (§7.1.1) */
    char why[300];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    if (len > BODY_MAX - r->len)
        return 0;
    char *nb = realloc(r->body, r->len + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, len);
    r->body = nb;
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

/* Copies header NAME's value from the line P[0, LEN) into OUT. */
static void header_value(const char *p, size_t len, const char *name, char *out, size_t osize)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
        return;
    p += nl + 1, len -= nl + 1;
    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
        len--;
    if (len < osize) {
        memcpy(out, p, len);
        out[len] = '\0';
    }
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    header_value(p, size * n, "Location", r->location, sizeof(r->location));
    header_value(p, size * n, "Replay-Nonce", r->nonce, sizeof(r->nonce));
    header_value(p, size * n, "Retry-After", r->retry_after, sizeof(r->retry_after));
    return size * n;
}

static void resp_reset(struct resp *r)
{
    free(r->body);
    *r = (struct resp){0};
}

/* One request: GET (BODY NULL), HEAD (HEAD), or POST of BODY as application/jose+json. The
 * CA's TLS is verified against [acme] ca, or the system's trust store. 0, or -1 with a->why. */
static int http(struct acme *a, const char *url, const char *body, bool head, struct resp *r)
{
    resp_reset(r);
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/jose+json");
    char err[CURL_ERROR_SIZE] = "";
    int rc = -1;
    if (!h || !hdr) {
        snprintf(a->why, sizeof(a->why), "out of memory");
        goto out;
    }
    pc_fetch_setopt(h, url, "https", REQ_TIMEOUT, CONNECT_TIMEOUT, "portico-acme", on_body, r, err);
    if (a->cfg->acme.ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, a->cfg->acme.ca);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    }
    curl_easy_setopt(h, CURLOPT_NOBODY, head ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    CURLcode cc = pc_fetch_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (cc != CURLE_OK)
        snprintf(a->why, sizeof(a->why), "%s: %.200s", url, err[0] ? err : curl_easy_strerror(cc));
    else
        rc = 0;
    if (r->nonce[0]) /* §7.2: every response carries a fresh nonce */
        snprintf(a->nonce, sizeof(a->nonce), "%s", r->nonce);
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc;
}

/* The problem document's type and detail (RFC 8555 §6.7, RFC 7807) into a->why. */
static void problem(struct acme *a, const char *what, const struct resp *r)
{
    json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *detail = json_string_value(json_object_get(j, "detail"));
    snprintf(a->why, sizeof(a->why), "%s: HTTP status %ld%s%.80s%s%.150s", what, r->status,
             type ? ", " : "", type ? type : "", detail ? ": " : "", detail ? detail : "");
    json_decref(j);
}

static bool is_bad_nonce(const struct resp *r)
{
    return r->status == 400 && r->body && strstr(r->body, "urn:ietf:params:acme:error:badNonce");
}

/* A signed POST of PAYLOAD (NULL: POST-as-GET, §6.3) to URL; retried with the fresh nonce when
 * the CA says badNonce (§6.5). 0 with a 2xx in R, or -1 with a->why. */
static int post(struct acme *a, const char *url, const json_t *payload, const char *what,
                struct resp *r)
{
    for (int tries = 0; tries < 4; tries++) {
        if (!a->nonce[0]) {
            const char *nn = json_string_value(json_object_get(a->dir, "newNonce"));
            if (!nn || http(a, nn, NULL, true, r) < 0 || !a->nonce[0]) {
                if (!nn || !a->why[0])
                    snprintf(a->why, sizeof(a->why), "no nonce from the CA");
                return -1;
            }
        }
        char *jws = pc_acme_jws(a->account, a->jwk, a->kid, a->nonce, url, payload);
        a->nonce[0] = '\0'; /* used */
        if (!jws) {
            snprintf(a->why, sizeof(a->why), "%s: cannot sign the request", what);
            return -1;
        }
        int rc = http(a, url, jws, false, r);
        free(jws);
        if (rc < 0)
            return -1;
        if (r->status >= 200 && r->status < 300)
            return 0;
        if (!is_bad_nonce(r))
            break;
    }
    problem(a, what, r);
    return -1;
}

/* The JSON body of R, or NULL with a->why. */
static json_t *body_json(struct acme *a, const char *what, const struct resp *r)
{
    json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
    if (!j)
        snprintf(a->why, sizeof(a->why), "%s: the answer is not JSON", what);
    return j;
}

/* The directory (§7.1.1), fetched once and kept until an attempt fails. 0, or -1 with
 * a->why. */
static int directory(struct acme *a)
{
    struct resp r = {0};
    if (!a->dir && http(a, a->cfg->acme.directory, NULL, false, &r) == 0 &&
        (r.status != 200 || !(a->dir = body_json(a, "directory", &r))))
        problem(a, "directory", &r);
    resp_reset(&r);
    return a->dir ? 0 : -1;
}

/* The directory, then the account: the key in state_dir/acme/account.key (made 0600 on
 * first use), registered or found again with newAccount (§7.3, §7.3.1). */
static int account(struct acme *a)
{
    struct resp r = {0};
    const struct pc_acme_cfg *c = &a->cfg->acme;
    int rc = -1;
    if (directory(a) < 0)
        goto out;
    if (a->kid) {
        rc = 0;
        goto out;
    }
    const char *url = json_string_value(json_object_get(a->dir, "newAccount"));
    json_t *req = json_pack("{s:b}", "termsOfServiceAgreed", 1);
    if (req && c->contact)
        json_object_set_new(req, "contact", json_pack("[s]", c->contact));
    if (!url || !req)
        snprintf(a->why, sizeof(a->why), "the directory has no newAccount");
    else if (post(a, url, req, "newAccount", &r) == 0 && r.location[0])
        a->kid = strdup(r.location);
    json_decref(req);
    rc = a->kid ? 0 : -1;
out:
    resp_reset(&r);
    return rc;
}

/* Loads or makes the account key (never logged), and its JWK and thumbprint. */
static int account_key(struct acme *a)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/acme/account.key", a->cfg->state_dir);
    a->account = pc_acme_key_load(path);
    if (!a->account) {
        size_t len = 0;
        char *pem = NULL;
        a->account = pc_acme_key_new(PC_ACME_ECDSA);
        if (a->account)
            pem = pc_acme_key_pem(a->account, &len);
        if (!pem || pc_fetch_write_atomic(path, pem, len, 0600) < 0) {
            pc_err("acme: cannot write the account key %s: %s", path,
                   pem ? strerror(errno) : "cannot make it");
            OPENSSL_clear_free(pem, len);
            return -1;
        }
        OPENSSL_clear_free(pem, len);
        pc_info("acme: new account key %s (ECDSA P-256, mode 0600)", path);
    }
    a->jwk = EVP_PKEY_get_base_id(a->account) == EVP_PKEY_EC ? pc_acme_jwk(a->account) : NULL;
    if (!a->jwk || pc_acme_thumbprint(a->jwk, a->thumb, sizeof(a->thumb)) < 0) {
        pc_err("acme: the account key %s is not a P-256 key", path);
        return -1;
    }
    return 0;
}

/* POST-as-GET of URL until its status is neither pending nor processing (§7.5.1, §7.4);
 * the last object, new reference, or NULL with a->why. */
static json_t *poll_object(struct acme *a, const char *url, const char *what)
{
    struct resp r = {0};
    json_t *j = NULL;
    for (int i = 0; i < POLL_TRIES && !pc_fetch_stopping(); i++) {
        json_decref(j);
        j = NULL;
        if (post(a, url, NULL, what, &r) < 0 || !(j = body_json(a, what, &r)))
            break;
        const char *st = json_string_value(json_object_get(j, "status"));
        if (!st || (strcmp(st, "pending") != 0 && strcmp(st, "processing") != 0))
            break;
        pc_fetch_sleep(POLL_WAIT);
    }
    resp_reset(&r);
    return j;
}

/* The first challenge of AZ of TYPE, and the first with an error (NULL: none). */
static json_t *challenge_of(const json_t *az, const char *type)
{
    json_t *chs = json_object_get(az, "challenges");
    for (size_t i = 0; i < json_array_size(chs); i++) {
        json_t *ch = json_array_get(chs, i);
        const char *t = json_string_value(json_object_get(ch, "type"));
        if (type ? t && strcmp(t, type) == 0 : json_object_get(ch, "error") != NULL)
            return ch;
    }
    return NULL;
}

static bool b64url_token(const char *t)
{
    return t && *t &&
           strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
               strlen(t);
}

/* Whether IDENT is a name of the order: a validation certificate is made for nothing else. */
static bool ordered_name(const struct acme *a, const char *ident)
{
    for (size_t i = 0; ident && i < a->cfg->acme.nnames; i++)
        if (strcasecmp(ident, a->cfg->acme.names[i]) == 0)
            return true;
    return false;
}

/* Publishes the answer to the challenge of AZ for IDENT that [acme] challenge asks for: the
 * key authorization (TOKEN.THUMBPRINT, §8.1) in the HTTP-01 table (§8.3), or a validation
 * certificate for TLS-ALPN-01 (RFC 8737 §3); both shared with every worker and withdrawn when
 * the order ends. The challenge's URL, or NULL with a->why. */
static const char *publish(struct acme *a, const json_t *az, const char *ident, const char *url)
{
    bool alpn = a->cfg->acme.challenge == PC_ACME_CH_TLSALPN01;
    const char *type = alpn ? "tls-alpn-01" : "http-01";
    json_t *ch = challenge_of(az, type);
    const char *token = json_string_value(json_object_get(ch, "token"));
    const char *chal_url = json_string_value(json_object_get(ch, "url"));
    char keyauth[PC_ACME_KEYAUTH_MAX];
    /* §8.3, RFC 8737 §3: the token is base64url; anything else is not put on the wire. */
    if (!chal_url || !b64url_token(token) ||
        (size_t)snprintf(keyauth, sizeof(keyauth), "%s.%s", token, a->thumb) >= sizeof(keyauth) ||
        (alpn ? !ordered_name(a, ident) || pc_acme_alpn_set(ident, keyauth) < 0
              : pc_acme_token_set(token, keyauth) < 0)) {
        snprintf(a->why, sizeof(a->why), "%s: no usable %s challenge", ident ? ident : url, type);
        return NULL;
    }
    return chal_url;
}

/* One authorization (§7.5): its challenge published (publish), the CA told to check it
 * (§7.5.1), and polled until it is valid. */
static int authorize(struct acme *a, const char *url)
{
    struct resp r = {0};
    json_t *az = NULL, *done = NULL;
    const char *ident = NULL;
    int rc = -1;
    if (post(a, url, NULL, "authorization", &r) < 0 || !(az = body_json(a, "authorization", &r)))
        goto out;
    ident = json_string_value(json_object_get(json_object_get(az, "identifier"), "value"));
    const char *st = json_string_value(json_object_get(az, "status"));
    if (st && strcmp(st, "valid") == 0) { /* validated earlier and reused by the CA */
        rc = 0;
        goto out;
    }
    const char *chal_url = publish(a, az, ident, url);
    if (!chal_url)
        goto out;
    json_t *empty = json_object();
    int pr = post(a, chal_url, empty, "challenge", &r);
    json_decref(empty);
    if (pr < 0 || !(done = poll_object(a, url, "authorization")))
        goto out;
    st = json_string_value(json_object_get(done, "status"));
    if (st && strcmp(st, "valid") == 0) {
        rc = 0;
        goto out;
    }
    /* The challenge's error says what the CA saw (§8.3: the body, the address, ...). */
    const char *detail = json_string_value(
        json_object_get(json_object_get(challenge_of(done, NULL), "error"), "detail"));
    snprintf(a->why, sizeof(a->why), "%s: authorization %s: %.200s", ident ? ident : url,
             st ? st : "?", detail ? detail : "no detail");
out:
    json_decref(az);
    json_decref(done);
    resp_reset(&r);
    return rc;
}

/* The chain in R (application/pem-certificate-chain, §7.4.2) checked against KEY, then the
 * pair written for C: the key first, then the certificate, each atomically and 0600, so that
 * the certificate watch never sees a new certificate beside an old key. */
static int install(struct acme *a, const struct pc_cert *c, EVP_PKEY *key, const struct resp *r)
{
    BIO *b = r->body ? BIO_new_mem_buf(r->body, (int)r->len) : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    size_t klen = 0;
    char *kpem = NULL;
    int rc = -1;
    if (!x || X509_check_private_key(x, key) != 1) {
        snprintf(a->why, sizeof(a->why), "the certificate downloaded %s",
                 x ? "does not match the key" : "is not PEM");
    } else if (!(kpem = pc_acme_key_pem(key, &klen)) ||
               pc_fetch_write_atomic(c->key, kpem, klen, 0600) < 0 ||
               pc_fetch_write_atomic(c->cert, r->body, r->len, 0600) < 0) {
        snprintf(a->why, sizeof(a->why), "cannot write %s: %s", c->cert, strerror(errno));
    } else {
        char issuer[160] = "", serial[80] = "?", until[40] = "?";
        X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof(issuer));
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        if (hex)
            snprintf(serial, sizeof(serial), "%s", hex);
        OPENSSL_free(hex);
        BN_free(bn);
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
            strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
        pc_info("acme: certificate %s (%s) issued for %zu name(s) by %s, serial %s, valid until "
                "%s; written to %s",
                a->cfg->acme.names[0], c->acme == PC_ACME_RSA ? "rsa" : "ecdsa",
                a->cfg->acme.nnames, issuer, serial, until, c->cert);
        rc = 0;
    }
    OPENSSL_clear_free(kpem, klen);
    X509_free(x);
    return rc;
}

/* §7.4: newOrder for every name (naming the certificate it REPLACES, RFC 9773 §5, unless
 * NULL), each authorization, finalize with a CSR of a new key, poll, download. 0 once C's
 * files are written, or -1 with a->why. */
static int order(struct acme *a, const struct pc_cert *c, const char *replaces)
{
    const struct pc_acme_cfg *ac = &a->cfg->acme;
    struct resp r = {0};
    json_t *ids = json_array(), *req = NULL, *ord = NULL, *fin = NULL, *done = NULL;
    EVP_PKEY *key = NULL;
    char *csr = NULL, *order_url = NULL;
    int rc = -1;
    for (size_t i = 0; ids && i < ac->nnames; i++)
        json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value", ac->names[i]));
    const char *url = json_string_value(json_object_get(a->dir, "newOrder"));
    if (!url || !(req = json_pack("{s:O}", "identifiers", ids)))
        goto out;
    if (replaces && replaces[0])
        json_object_set_new(req, "replaces", json_string(replaces));
    int pr = post(a, url, req, "newOrder", &r);
    /* RFC 9773 §5: a CA that says the certificate was replaced already (another node of the
     * pair ordered it, docs/certificates.md#several-nodes) takes the order without it. */
    if (pr < 0 && json_object_get(req, "replaces") && strstr(a->why, ":alreadyReplaced")) {
        json_object_del(req, "replaces");
        pr = post(a, url, req, "newOrder", &r);
    }
    if (pr < 0 || !(ord = body_json(a, "newOrder", &r)))
        goto out;
    order_url = strdup(r.location);
    json_t *azs = json_object_get(ord, "authorizations");
    for (size_t i = 0; i < json_array_size(azs); i++)
        if (authorize(a, json_string_value(json_array_get(azs, i)) ?: "") < 0)
            goto out;
    const char *fin_url = json_string_value(json_object_get(ord, "finalize"));
    if (!order_url || !order_url[0] || !fin_url) {
        snprintf(a->why, sizeof(a->why), "the order has no URL or no finalize");
        goto out;
    }
    /* A new key at every order: a renewal never reuses the old one. */
    if (!(key = pc_acme_key_new(c->acme)) || !(csr = pc_acme_csr(key, ac->names, ac->nnames)) ||
        !(fin = json_pack("{s:s}", "csr", csr))) {
        snprintf(a->why, sizeof(a->why), "cannot make the key or the CSR");
        goto out;
    }
    if (post(a, fin_url, fin, "finalize", &r) < 0 || !(done = poll_object(a, order_url, "order")))
        goto out;
    const char *st = json_string_value(json_object_get(done, "status"));
    const char *cert_url = json_string_value(json_object_get(done, "certificate"));
    if (!st || strcmp(st, "valid") != 0 || !cert_url) {
        snprintf(a->why, sizeof(a->why), "the order is %s after finalize", st ? st : "?");
        goto out;
    }
    if (post(a, cert_url, NULL, "certificate", &r) == 0)
        rc = install(a, c, key, &r);
out:
    pc_acme_tokens_clear();
    pc_acme_alpn_clear();
    json_decref(ids);
    json_decref(req);
    json_decref(ord);
    json_decref(fin);
    json_decref(done);
    free(csr);
    free(order_url);
    EVP_PKEY_free(key);
    resp_reset(&r);
    return rc;
}

/* One `certificate = acme` pair as the helper follows it. */
struct slot {
    const struct pc_cert *c;
    time_t due;                  /* when to order */
    time_t backoff;              /* the current retry delay */
    time_t ari_at;               /* when to ask the CA's renewal information (NEVER: no) */
    time_t win_start, win_end;   /* the window DUE was picked in (0: none) */
    char id[PC_ACME_ARI_ID_MAX]; /* the certificate in place, as the CA knows it ("": none) */
};

#define NEVER     ((time_t)1 << 62)
#define ARI_RETRY 3600 /* after renewal information could not be had */

static const char *key_str(const struct slot *s)
{
    return s->c->acme == PC_ACME_RSA ? "rsa" : "ecdsa";
}

/* The renewal information URL of S's certificate (RFC 9773 §4.1: renewalInfo "/" id) into
 * URL; false when the CA offers none or the certificate in place is not one to ask about
 * (absent, the placeholder, missing a name: it is ordered now; no authority key id). */
static bool ari_url(struct acme *a, struct slot *s, char *url, size_t usize)
{
    BIO *b = BIO_new_file(s->c->cert, "r");
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    const char *base = json_string_value(json_object_get(a->dir, "renewalInfo"));
    size_t bl = base ? strlen(base) : 0;
    bool ok = base && x && pc_acme_renew_at(a->cfg, s->c->cert) != 0 &&
              pc_acme_ari_id(x, s->id, sizeof(s->id)) == 0 &&
              (size_t)snprintf(url, usize, "%.*s/%s",
                               (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base, s->id) < usize;
    if (!ok)
        s->id[0] = '\0';
    X509_free(x);
    return ok;
}

/* RFC 9773 §4.2: asks the CA when to renew S's certificate and, when the window is new, sets
 * S's due time to a random time in it; the lifetime rule (pc_acme_renew_at) stands when the
 * CA offers no renewal information, and while it cannot be had. */
static void ari_check(struct acme *a, struct slot *s, time_t now)
{
    char url[1200], why[sizeof(a->why)] = "";
    struct resp r = {0};
    time_t start, end;
    a->why[0] = '\0';
    s->ari_at = NEVER;
    if (directory(a) < 0) {
        snprintf(why, sizeof(why), "%s", a->why);
    } else if (!ari_url(a, s, url, sizeof(url))) {
        return;
    } else if (http(a, url, NULL, false, &r) < 0) {
        snprintf(why, sizeof(why), "%s", a->why);
    } else if (r.status != 200) {
        problem(a, "renewalInfo", &r);
        snprintf(why, sizeof(why), "%s", a->why);
    } else if (pc_acme_ari_window(r.body, &start, &end, why, sizeof(why)) == 0) {
        why[0] = '\0';
        s->ari_at = pc_acme_ari_next(r.retry_after, now);
    }
    resp_reset(&r);
    if (why[0]) {
        s->ari_at = now + ARI_RETRY;
        pc_warn("acme: renewal information for %s (%s) unavailable: %s; renewal by the "
                "certificate's lifetime meanwhile",
                a->cfg->acme.names[0], key_str(s), why);
        return;
    }
    if (start == s->win_start && end == s->win_end)
        return; /* the time picked in this window stands */
    uint64_t rnd = 0;
    if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
        rnd = (uint64_t)random();
    s->win_start = start, s->win_end = end;
    s->due = pc_acme_ari_pick(start, end, rnd);
    char t[3][32];
    time_t ts[3] = {start, end, s->due};
    for (int i = 0; i < 3; i++)
        strftime(t[i], sizeof(t[i]), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&ts[i], &(struct tm){0}));
    pc_info("acme: renewal information for %s (%s): window %s to %s; renewal at %s%s",
            a->cfg->acme.names[0], key_str(s), t[0], t[1], t[2], s->due <= now ? " (now)" : "");
    pc_acme_status_set(s->c->acme, false, NULL, 0, (int64_t)s->due);
}

/* One attempt for S; sets when to look at it again. */
static void attempt(struct acme *a, struct slot *s)
{
    const char *kt = key_str(s);
    a->why[0] = '\0';
    pc_info("acme: ordering a certificate for %s (%s, %zu name(s), %s) from %s%s%s",
            a->cfg->acme.names[0], kt, a->cfg->acme.nnames,
            pc_acme_challenge_str(a->cfg->acme.challenge), a->cfg->acme.directory,
            s->id[0] ? ", replacing " : "", s->id);
    int rc = account(a);
    if (rc == 0)
        rc = order(a, s->c, s->id);
    time_t now = time(NULL);
    s->due = now;
    if (pc_fetch_stopping())
        return;
    if (rc == 0) {
        s->backoff = RETRY_MIN;
        time_t at = pc_acme_renew_at(a->cfg, s->c->cert);
        s->due = at > now ? at : now + RETRY_MAX;
        s->ari_at = 0; /* the new certificate's window, at once */
        s->win_start = s->win_end = 0;
        s->id[0] = '\0';
        pc_acme_status_set(s->c->acme, true, NULL, (int64_t)now, (int64_t)s->due);
        return;
    }
    time_t wait = pc_fetch_jitter(s->backoff);
    s->due = now + wait;
    pc_acme_status_set(s->c->acme, false, a->why[0] ? a->why : "unknown error", (int64_t)now,
                       (int64_t)s->due);
    pc_warn("acme: order for %s (%s) failed: %s; the current certificate keeps serving; "
            "retrying in %lld s",
            a->cfg->acme.names[0], kt, a->why[0] ? a->why : "unknown error", (long long)wait);
    s->backoff = s->backoff * 2 > RETRY_MAX ? RETRY_MAX : s->backoff * 2;
    /* The directory or the account may be what failed: fetched again next time. */
    json_decref(a->dir);
    a->dir = NULL;
    a->nonce[0] = '\0';
}

_Noreturn void pc_acme_helper_run(const struct pc_config *cfg)
{
    struct acme a = {.cfg = cfg};
    struct slot slots[2];
    int n = 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || pc_fetch_stop_init("acme") < 0) {
        pc_err("acme: cannot start the helper: nothing is ordered");
        _exit(1);
    }
    pc_acme_tokens_clear();
    pc_acme_alpn_clear();
    if (account_key(&a) < 0)
        _exit(1);
    time_t now = time(NULL);
    for (size_t i = 0; i < cfg->ncerts && n < 2; i++) {
        if (!cfg->certs[i].acme)
            continue;
        struct slot *s = &slots[n++];
        *s = (struct slot){.c = &cfg->certs[i], .backoff = RETRY_MIN, .ari_at = 0};
        s->due = pc_acme_renew_at(cfg, s->c->cert);
        pc_acme_status_set(s->c->acme, false, NULL, 0, (int64_t)s->due);
        if (s->due > now)
            pc_info("acme: certificate %s is in place; renewal in %lld s", s->c->cert,
                    (long long)(s->due - now));
    }
    while (!pc_fetch_stopping()) {
        now = time(NULL);
        time_t next = now + RETRY_MAX;
        for (int i = 0; i < n && !pc_fetch_stopping(); i++) {
            struct slot *s = &slots[i];
            if (s->ari_at <= now)
                ari_check(&a, s, now);
            if (s->due <= now)
                attempt(&a, s);
            next = s->due < next ? s->due : next;
            next = s->ari_at < next ? s->ari_at : next;
        }
        now = time(NULL);
        pc_fetch_sleep(next > now ? next - now : 0);
    }
    pc_acme_tokens_clear();
    pc_acme_alpn_clear();
    json_decref(a.dir);
    json_decref(a.jwk);
    free(a.kid);
    EVP_PKEY_free(a.account);
    curl_global_cleanup();
    pc_fetch_stop_close("acme");
    _exit(0);
}

/* ocsp.c — OCSP stapling: the shared slots, the set of listener certificates, the handshake
 * callback, checking and caching responses (ocsp.h; docs/certificates.md).
 *
 * Why shared memory and not a reload: a response lives a few days and is refreshed at half of
 * that; a reload per refresh would start a new generation of workers for every certificate
 * every day or so. With the slots, a new response is seen by the next handshake of every
 * worker, old and new generation alike, and no connection notices. The cache file is only
 * for the next start (a restart staples at once, before the responder is asked again). */
#include "tls/ocsp.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/seqlock.h"
#include "tls/fetch.h"

#define NO_NEXT_UPDATE                                                                             \
    3600           /* validity given to a response without nextUpdate (RFC 6960 §4.2.2.1) */
#define LEEWAY 300 /* clock skew tolerated on thisUpdate and nextUpdate */

static struct pc_ocsp_slot *slots; /* PC_OCSP_SLOTS of them, shared; NULL: none */

int pc_ocsp_init(void)
{
    if (slots)
        return 0;
    void *p = mmap(NULL, PC_OCSP_SLOTS * sizeof(*slots), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    slots = p; /* zero-filled: every slot unused */
    return 0;
}

/* ---- the slots: a seqlock each (common/seqlock.h) ---- */

#define write_begin(s) pc_seq_write_begin(&(s)->seq)
#define write_end(s)   pc_seq_write_end(&(s)->seq)

/* Copies slot I into OUT (only the first HEAD bytes of it, the der array last); false when
 * no stable copy was had (a writer is busy: the caller goes without). */
static bool read_slot(int i, struct pc_ocsp_slot *out, size_t head)
{
    return pc_seq_read(&slots[i].seq, out, &slots[i], head);
}

/* ---- the handshake (workers) ---- */

/* RFC 6066 §8: called when the client asked for the status; staples the response of the
 * certificate chosen for this connection when its slot holds a fresh good one for it. */
static int status_cb(SSL *ssl, void *arg)
{
    const struct pc_ocsp_set *set = arg;
    X509 *x = SSL_get_certificate(ssl);
    const struct pc_ocsp_cert *c = NULL;
    for (size_t i = 0; set && i < set->n && !c; i++)
        if (set->c[i].leaf == x)
            c = &set->c[i];
    if (!c || c->slot < 0 || !slots)
        return SSL_TLSEXT_ERR_NOACK;
    static struct pc_ocsp_slot copy; /* one handshake at a time in a worker */
    if (!read_slot(c->slot, &copy, sizeof(copy)))
        return SSL_TLSEXT_ERR_NOACK;
    time_t now = time(NULL);
    /* Only a verified good response is ever held (a revoked or unknown answer drops it); a
     * failed fetch keeps it, stapled until its nextUpdate and never after. */
    if (memcmp(copy.fp, c->fp, sizeof(c->fp)) != 0 || copy.len == 0 ||
        copy.len > sizeof(copy.der) || now >= copy.next_update)
        return SSL_TLSEXT_ERR_NOACK; /* never a stale, revoked or foreign response */
    unsigned char *der = OPENSSL_malloc(copy.len);
    if (!der)
        return SSL_TLSEXT_ERR_NOACK;
    memcpy(der, copy.der, copy.len);
    if (SSL_set_tlsext_status_ocsp_resp(ssl, der, (long)copy.len) != 1) {
        OPENSSL_free(der);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ---- the set ---- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The first http(s) OCSP responder of X's Authority Information Access, or NULL. */
static char *responder_url(X509 *x)
{
    STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(x);
    char *url = NULL;
    for (int i = 0; urls && i < sk_OPENSSL_STRING_num(urls) && !url; i++) {
        const char *u = sk_OPENSSL_STRING_value(urls, i);
        if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0)
            url = dup_or_null(u);
    }
    X509_email_free(urls);
    return url;
}

static const char *key_type(X509 *x)
{
    switch (EVP_PKEY_get_base_id(X509_get0_pubkey(x))) {
    case EVP_PKEY_RSA:
        return "rsa";
    case EVP_PKEY_EC:
        return "ecdsa";
    case EVP_PKEY_ED25519:
        return "ed25519";
    default:
        return "other";
    }
}

/* The first DNS name of X (SAN, else CN), into BUF. */
static void first_name(X509 *x, char *buf, size_t len)
{
    buf[0] = '\0';
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !buf[0]; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            snprintf(buf, len, "%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    if (!buf[0] &&
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)len) < 0)
        snprintf(buf, len, "?");
}

/* STATE_DIR/NAME-KEY.ocsp, the name made safe for a file name ("*." becomes "_."). */
static char *cache_path(const char *dir, X509 *x)
{
    char name[96], path[512];
    first_name(x, name, sizeof(name));
    for (char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-'))
            *p = '_';
    }
    int n = snprintf(path, sizeof(path), "%s/%s-%s.ocsp", dir, name, key_type(x));
    return n > 0 && (size_t)n < sizeof(path) ? strdup(path) : NULL;
}

/* Adds the current certificate of CTX to SET. */
static int add_cert(struct pc_ocsp_set *set, SSL_CTX *ctx, const char *state_dir)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (!x)
        return 0;
    struct pc_ocsp_cert *n = realloc(set->c, (set->n + 1) * sizeof(*n));
    if (!n)
        return -1;
    set->c = n;
    struct pc_ocsp_cert *c = &set->c[set->n++];
    *c = (struct pc_ocsp_cert){.leaf = x, .slot = -1};
    X509_up_ref(x);
    unsigned int fl = 0;
    if (X509_digest(x, EVP_sha256(), c->fp, &fl) != 1)
        memset(c->fp, 0, sizeof(c->fp));
    STACK_OF(X509) *chain = NULL;
    SSL_CTX_get0_chain_certs(ctx, &chain);
    c->chain = chain ? X509_chain_up_ref(chain) : sk_X509_new_null();
    for (int i = 0; c->chain && i < sk_X509_num(c->chain) && !c->issuer; i++) {
        X509 *cand = sk_X509_value(c->chain, i);
        if (X509_check_issued(cand, x) == X509_V_OK && X509_up_ref(cand))
            c->issuer = cand;
    }
    char first[96];
    first_name(x, first, sizeof(first));
    snprintf(c->name, sizeof(c->name), "%s (%s)", first, key_type(x));
    c->url = responder_url(x);
    c->cache = cache_path(state_dir, x);
    return c->chain ? 0 : -1;
}

struct pc_ocsp_set *pc_ocsp_set_new(const struct pc_config *cfg, SSL_CTX *const *ctxs, size_t n)
{
    struct pc_ocsp_set *set = calloc(1, sizeof(*set));
    if (!set)
        return NULL;
    set->on = cfg->ocsp_stapling;
    set->state_dir = dup_or_null(cfg->state_dir ? cfg->state_dir : PC_STATE_DIR);
    if (!set->state_dir)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        SSL_CTX *ctx = ctxs[i];
        if (SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST) != 1)
            continue;
        do {
            if (add_cert(set, ctx, set->state_dir) < 0)
                goto fail;
        } while (SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT) == 1);
        if (set->on) {
            SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
            SSL_CTX_set_tlsext_status_arg(ctx, set);
        }
    }
    return set;
fail:
    pc_ocsp_set_free(set);
    return NULL;
}

void pc_ocsp_set_free(struct pc_ocsp_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        X509_free(set->c[i].leaf);
        X509_free(set->c[i].issuer);
        sk_X509_pop_free(set->c[i].chain, X509_free);
        free(set->c[i].url);
        free(set->c[i].cache);
    }
    free(set->c);
    free(set->state_dir);
    free(set);
}

static bool fetchable(const struct pc_ocsp_set *set, const struct pc_ocsp_cert *c)
{
    return set->on && c->url && c->issuer && c->slot >= 0;
}

bool pc_ocsp_wanted(const struct pc_ocsp_set *set)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (fetchable(set, &set->c[i]))
            return true;
    return false;
}

/* ---- checking a response ---- */

static int64_t asn1_time(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* The parts of pc_ocsp_check after the signature: the status of C, its times. */
static enum pc_ocsp_state status_of(const struct pc_ocsp_cert *c, OCSP_BASICRESP *bs, time_t now,
                                    int64_t *tu, int64_t *nu, char *why, size_t wlen)
{
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, c->leaf, c->issuer);
    int status = -1, reason = 0;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisu = NULL, *nextu = NULL;
    enum pc_ocsp_state st = PC_OCSP_ERROR;
    if (!id || OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisu, &nextu) != 1) {
        snprintf(why, wlen, "the response has no status for this certificate");
    } else if (OCSP_check_validity(thisu, nextu, LEEWAY, -1) != 1) {
        snprintf(why, wlen, "the response is outside its validity (thisUpdate, nextUpdate)");
    } else {
        *tu = asn1_time(thisu);
        *nu = nextu ? asn1_time(nextu) : *tu + NO_NEXT_UPDATE;
        if (*nu <= (int64_t)now)
            snprintf(why, wlen, "the response is stale");
        else
            st = status == V_OCSP_CERTSTATUS_GOOD      ? PC_OCSP_GOOD
                 : status == V_OCSP_CERTSTATUS_REVOKED ? PC_OCSP_REVOKED
                                                       : PC_OCSP_UNKNOWN;
    }
    OCSP_CERTID_free(id);
    return st;
}

enum pc_ocsp_state pc_ocsp_check(const struct pc_ocsp_cert *c, const unsigned char *der, size_t len,
                                 time_t now, int64_t *this_update, int64_t *next_update, char *why,
                                 size_t wlen)
{
    enum pc_ocsp_state st = PC_OCSP_ERROR;
    const unsigned char *p = der;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = NULL;
    X509_STORE *store = NULL;
    why[0] = '\0';
    if (!c->issuer) {
        snprintf(why, wlen, "no issuer to verify with");
    } else if (!r || p != der + len) {
        snprintf(why, wlen, "not a DER OCSP response");
    } else if (OCSP_response_status(r) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        snprintf(why, wlen, "responder status %s",
                 OCSP_response_status_str(OCSP_response_status(r)));
    } else if (!(bs = OCSP_response_get1_basic(r))) {
        snprintf(why, wlen, "not a basic OCSP response");
    } else if (!(store = X509_STORE_new()) || X509_STORE_add_cert(store, c->issuer) != 1) {
        snprintf(why, wlen, "out of memory");
    } else {
        /* The issuer is the trust anchor even when it is an intermediate: the response must
         * be signed by it or by a responder certificate it issued with id-kp-OCSPSigning
         * (RFC 6960 §4.2.2.2), which OCSP_basic_verify checks. */
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
        if (OCSP_basic_verify(bs, c->chain, store, 0) <= 0) {
            unsigned long e = ERR_peek_last_error();
            const char *rs = e ? ERR_reason_error_string(e) : NULL;
            snprintf(why, wlen, "the signature does not verify against the issuer (%s)",
                     rs ? rs : "unknown reason");
        } else {
            st = status_of(c, bs, now, this_update, next_update, why, wlen);
        }
    }
    ERR_clear_error();
    X509_STORE_free(store);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    return st;
}

/* ---- the slots: publishing a set, storing results ---- */

/* Every DNS name of X, space-separated, into BUF. */
static void all_names(X509 *x, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && k + 1 < len; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        int n = snprintf(buf + k, len - k, "%s%.*s", k ? " " : "", ASN1_STRING_length(g->d.dNSName),
                         (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        if (n < 0)
            break;
        k += (size_t)n < len - k ? (size_t)n : len - k - 1;
    }
    GENERAL_NAMES_free(gens);
    if (!buf[0])
        first_name(x, buf, len);
}

/* What the pages show of C, written into slot S (the writer holds it). */
static void describe(struct pc_ocsp_slot *s, const struct pc_ocsp_set *set,
                     const struct pc_ocsp_cert *c, bool same)
{
    first_name(c->leaf, s->name, sizeof(s->name));
    snprintf(s->key, sizeof(s->key), "%s", key_type(c->leaf));
    all_names(c->leaf, s->names, sizeof(s->names));
    if (X509_NAME_oneline(X509_get_issuer_name(c->leaf), s->issuer, (int)sizeof(s->issuer)) == NULL)
        snprintf(s->issuer, sizeof(s->issuer), "?");
    snprintf(s->url, sizeof(s->url), "%s", c->url ? c->url : "");
    s->not_after = asn1_time(X509_get0_notAfter(c->leaf));
    s->fetchable = fetchable(set, c);
    if (!set->on)
        s->state = PC_OCSP_OFF;
    else if (!c->url)
        s->state = PC_OCSP_NO_URL;
    else if (!c->issuer)
        s->state = PC_OCSP_NO_ISSUER;
    else if (!same || s->state < PC_OCSP_GOOD)
        s->state = PC_OCSP_PENDING;
    if (!s->fetchable) {
        s->len = 0; /* nothing held for a certificate portico does not staple */
        s->this_update = s->next_update = 0;
    }
}

/* Gives every certificate of SET a slot: its own again (same certificate), else an unused
 * one, else one the running set does not use; -1 when there is none. */
static void assign_slots(struct pc_ocsp_set *set, bool claimed[PC_OCSP_SLOTS])
{
    for (size_t i = 0; i < set->n; i++) {
        struct pc_ocsp_cert *c = &set->c[i];
        c->slot = -1;
        for (int k = 0; k < PC_OCSP_SLOTS && c->slot < 0; k++)
            if (!claimed[k] && slots[k].name[0] && memcmp(slots[k].fp, c->fp, 32) == 0)
                c->slot = k;
        if (c->slot >= 0)
            claimed[c->slot] = true;
    }
    for (size_t i = 0; i < set->n; i++) {
        struct pc_ocsp_cert *c = &set->c[i];
        for (int pass = 0; pass < 2 && c->slot < 0; pass++)
            for (int k = 0; k < PC_OCSP_SLOTS && c->slot < 0; k++)
                if (!claimed[k] && (pass == 1 || !slots[k].used))
                    c->slot = k;
        if (c->slot >= 0)
            claimed[c->slot] = true;
        else
            pc_warn("ocsp: more than %d listener certificates: certificate %zu is not stapled",
                    PC_OCSP_SLOTS, i + 1);
    }
}

/* A cached response for C, when it still verifies and is fresh: stapled at once. */
static void load_cache(const struct pc_ocsp_cert *c)
{
    static unsigned char der[PC_OCSP_DER_MAX];
    int fd = c->cache ? open(c->cache, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (fd < 0)
        return; /* none yet (or unreadable: fetched again) */
    ssize_t n = read(fd, der, sizeof(der));
    if (close(fd) < 0 || n <= 0)
        return;
    int64_t tu = 0, nu = 0;
    char why[160];
    enum pc_ocsp_state st =
        pc_ocsp_check(c, der, (size_t)n, time(NULL), &tu, &nu, why, sizeof(why));
    if (st != PC_OCSP_GOOD) {
        pc_info("ocsp: certificate %s: cached response %s not used: %s", c->name, c->cache,
                why[0] ? why : pc_ocsp_state_str(st));
        return;
    }
    pc_ocsp_store(c, st, der, (size_t)n, tu, nu, false, NULL, 0);
    pc_info("ocsp: certificate %s: cached response %s stapled (good, next update in %lld s)",
            c->name, c->cache, (long long)(nu - (int64_t)time(NULL)));
}

void pc_ocsp_publish(struct pc_ocsp_set *set)
{
    if (!slots || !set)
        return;
    bool claimed[PC_OCSP_SLOTS] = {false};
    assign_slots(set, claimed);
    for (int k = 0; k < PC_OCSP_SLOTS; k++) {
        if (claimed[k] || !slots[k].used)
            continue;
        write_begin(&slots[k]);
        slots[k].used = 0; /* kept for its certificate, should it come back */
        write_end(&slots[k]);
    }
    time_t now = time(NULL);
    for (size_t i = 0; i < set->n; i++) {
        const struct pc_ocsp_cert *c = &set->c[i];
        if (c->slot < 0)
            continue;
        struct pc_ocsp_slot *s = &slots[c->slot];
        bool same = s->name[0] && memcmp(s->fp, c->fp, 32) == 0;
        write_begin(s);
        if (!same) {
            size_t head = offsetof(struct pc_ocsp_slot, der) - offsetof(struct pc_ocsp_slot, used);
            memset(&s->used, 0, head);
            memcpy(s->fp, c->fp, sizeof(s->fp));
        }
        s->used = 1;
        describe(s, set, c, same);
        write_end(s);
        if (s->fetchable && (s->len == 0 || now >= s->next_update))
            load_cache(c);
    }
}

void pc_ocsp_store(const struct pc_ocsp_cert *c, enum pc_ocsp_state st, const unsigned char *der,
                   size_t len, int64_t this_update, int64_t next_update, bool clear,
                   const char *detail, int64_t fetched)
{
    if (!slots || c->slot < 0 || len > PC_OCSP_DER_MAX)
        return;
    struct pc_ocsp_slot *s = &slots[c->slot];
    if (memcmp(s->fp, c->fp, sizeof(s->fp)) != 0)
        return; /* the slot went to another certificate */
    write_begin(s);
    s->state = (uint8_t)st;
    if (fetched)
        s->last_fetch = fetched;
    if (len) {
        memcpy(s->der, der, len);
        s->len = (uint32_t)len;
        s->this_update = this_update;
        s->next_update = next_update;
    } else if (clear) {
        s->len = 0;
        s->this_update = s->next_update = 0;
    }
    if (fetched && (st == PC_OCSP_ERROR || st == PC_OCSP_UNKNOWN))
        s->failures_total++;
    snprintf(s->detail, sizeof(s->detail), "%s", detail ? detail : "");
    write_end(s);
}

bool pc_ocsp_held(const struct pc_ocsp_cert *c, int64_t *this_update, int64_t *next_update)
{
    static struct pc_ocsp_slot copy;
    if (!slots || c->slot < 0 || !read_slot(c->slot, &copy, offsetof(struct pc_ocsp_slot, der)))
        return false;
    if (memcmp(copy.fp, c->fp, sizeof(c->fp)) != 0 || copy.len == 0)
        return false;
    *this_update = copy.this_update;
    *next_update = copy.next_update;
    return true;
}

bool pc_ocsp_info(int i, struct pc_ocsp_info *out)
{
    static struct pc_ocsp_slot copy;
    if (!slots || i < 0 || i >= PC_OCSP_SLOTS ||
        !read_slot(i, &copy, offsetof(struct pc_ocsp_slot, der)) || !copy.used)
        return false;
#define COPY(f) snprintf(out->f, sizeof(out->f), "%s", copy.f)
    COPY(name);
    COPY(key);
    COPY(names);
    COPY(issuer);
    COPY(url);
    COPY(detail);
#undef COPY
    out->state = (enum pc_ocsp_state)copy.state;
    out->stapled = copy.len > 0 && (int64_t)time(NULL) < copy.next_update;
    out->not_after = copy.not_after;
    out->last_fetch = copy.last_fetch;
    out->this_update = copy.this_update;
    out->next_update = copy.next_update;
    out->failures_total = copy.failures_total;
    return true;
}

const char *pc_ocsp_state_str(enum pc_ocsp_state st)
{
    static const char *const names[] = {"pending", "off",     "no_responder", "no_issuer",
                                        "good",    "revoked", "unknown",      "error"};
    return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

/* ---- the cache ---- */

void pc_ocsp_cache_write(const struct pc_ocsp_cert *c, const unsigned char *der, size_t len)
{
    if (!c->cache)
        return;
    if (len == 0) {
        if (unlink(c->cache) < 0 && errno != ENOENT)
            pc_warn("ocsp: removing %s: %s", c->cache, strerror(errno));
        return;
    }
    if (pc_fetch_write_atomic(c->cache, der, len, 0600) < 0)
        pc_warn("ocsp: cannot cache the response: %s: %s", c->cache, strerror(errno));
}

int pc_ocsp_state_dir(const struct pc_ocsp_set *set, bool chown_it, uid_t uid, gid_t gid)
{
    if (!pc_ocsp_wanted(set))
        return 0; /* the directory is only made when something will be cached in it */
    const char *d = set->state_dir;
    if (mkdir(d, 0700) == 0) {
        if (chown_it && chown(d, uid, gid) < 0) {
            pc_err("state_dir %s: chown: %s", d, strerror(errno));
            return -1;
        }
        pc_info("state_dir %s: created (mode 0700)", d);
        return 0;
    }
    if (errno != EEXIST) {
        pc_err("state_dir %s: %s; OCSP responses are not cached", d, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) {
        pc_err("state_dir %s: not a directory; OCSP responses are not cached", d);
        return -1;
    }
    if ((st.st_mode & 077) && st.st_uid == geteuid() && chmod(d, 0700) < 0)
        pc_warn("state_dir %s: chmod 0700: %s", d, strerror(errno));
    return 0;
}

/* acme.c — the ACME client's shared parts (acme.h; docs/certificates.md#acme): the table of
 * HTTP-01 challenges the workers answer from, the state_dir/acme files the master prepares,
 * and when a certificate is due for renewal.
 *
 * The listener of `certificate = acme` is loaded from state_dir/acme/NAME.crt and .key like
 * any certificate file, and watched like one (core/certwatch.c): the helper only writes the
 * files (atomically), and the reload the watch triggers gives new workers the new pair while
 * the old ones finish their connections. Nothing is dropped, and a restart serves the files
 * as they are, ordering only when they are due. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/seqlock.h"
#include "tls/acme.h"
#include "tls/fetch.h"

struct shared {
    struct pc_acme_token tokens[PC_ACME_TOKENS];
    struct pc_acme_status status[2]; /* ECDSA, RSA */
};
static struct pc_acme_token *tokens; /* PC_ACME_TOKENS, shared */
static struct pc_acme_status *status;

int pc_acme_init(void)
{
    if (tokens)
        return 0;
    if (pc_acme_alpn_init() < 0)
        return -1;
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return -1;
    tokens = ((struct shared *)p)->tokens; /* zero-filled: every entry free */
    status = ((struct shared *)p)->status;
    return 0;
}

bool pc_acme_wanted(const struct pc_config *cfg)
{
    return cfg->acme.line && cfg->acme.directory && cfg->acme.nnames;
}

const char *pc_acme_challenge_str(int c)
{
    return c == PC_ACME_CH_TLSALPN01 ? "tls-alpn-01" : c == PC_ACME_CH_HTTP01 ? "http-01" : "auto";
}

/* ---- the challenge table: a seqlock per entry (common/seqlock.h) ---- */

#define write_begin(t) pc_seq_write_begin(&(t)->seq)
#define write_end(t)   pc_seq_write_end(&(t)->seq)

int pc_acme_token_set(const char *token, const char *keyauth)
{
    size_t tl = strlen(token), kl = keyauth ? strlen(keyauth) : 0;
    if (!tokens || tl == 0 || tl >= PC_ACME_TOKEN_MAX || kl >= PC_ACME_KEYAUTH_MAX)
        return -1;
    struct pc_acme_token *free_one = NULL;
    for (int i = 0; i < PC_ACME_TOKENS; i++) {
        struct pc_acme_token *t = &tokens[i];
        if (t->len == tl && memcmp(t->token, token, tl) == 0) {
            free_one = t; /* the same token again: replaced */
            break;
        }
        if (!t->len && !free_one)
            free_one = t;
    }
    if (!free_one)
        return keyauth ? -1 : 0;
    if (!keyauth && free_one->len != tl)
        return 0; /* withdrawing a token not there */
    write_begin(free_one);
    free_one->len = keyauth ? (uint32_t)tl : 0;
    memcpy(free_one->token, token, tl);
    free_one->klen = (uint32_t)kl;
    if (keyauth)
        memcpy(free_one->keyauth, keyauth, kl);
    write_end(free_one);
    return 0;
}

void pc_acme_tokens_clear(void)
{
    for (int i = 0; tokens && i < PC_ACME_TOKENS; i++) {
        write_begin(&tokens[i]);
        tokens[i].len = tokens[i].klen = 0;
        write_end(&tokens[i]);
    }
}

size_t pc_acme_challenge(const char *token, size_t len, char *out, size_t osize)
{
    if (!tokens || len == 0 || len >= PC_ACME_TOKEN_MAX)
        return 0;
    for (int i = 0; i < PC_ACME_TOKENS; i++) {
        struct pc_acme_token copy;
        if (!pc_seq_read(&tokens[i].seq, &copy, &tokens[i], sizeof(copy)))
            continue;
        if (copy.len == len && copy.klen < osize && copy.klen < PC_ACME_KEYAUTH_MAX &&
            memcmp(copy.token, token, len) == 0) {
            memcpy(out, copy.keyauth, copy.klen);
            return copy.klen;
        }
    }
    return 0;
}

/* ---- the state of each pair, for /metrics ---- */

void pc_acme_status_reset(const struct pc_config *cfg)
{
    for (int i = 0; status && i < 2; i++) {
        struct pc_acme_status *st = &status[i];
        bool used = false;
        for (size_t c = 0; c < cfg->ncerts; c++)
            used |= cfg->certs[c].acme == (i ? PC_ACME_RSA : PC_ACME_ECDSA);
        write_begin(st);
        st->used = used && pc_acme_wanted(cfg);
        st->challenge = (uint8_t)cfg->acme.challenge;
        snprintf(st->name, sizeof(st->name), "%s", st->used ? cfg->acme.names[0] : "");
        write_end(st);
    }
}

void pc_acme_status_set(int type, bool ok, const char *why, int64_t attempt, int64_t next)
{
    if (!status)
        return;
    struct pc_acme_status *st = &status[type == PC_ACME_RSA];
    write_begin(st);
    if (attempt) {
        st->last_ok = ok;
        st->last_attempt = attempt;
        st->failures_total += !ok;
        snprintf(st->detail, sizeof(st->detail), "%s", ok || !why ? "" : why);
    }
    st->next_attempt = next;
    write_end(st);
}

bool pc_acme_info(int i, struct pc_acme_info *out)
{
    if (!status || i < 0 || i > 1)
        return false;
    struct pc_acme_status copy;
    if (!pc_seq_read(&status[i].seq, &copy, &status[i], sizeof(copy)))
        return false;
    if (!copy.used)
        return false;
    memcpy(out->name, copy.name, sizeof(out->name));
    out->name[sizeof(out->name) - 1] = '\0';
    out->key = i ? "rsa" : "ecdsa";
    out->challenge = pc_acme_challenge_str(copy.challenge);
    memcpy(out->detail, copy.detail, sizeof(out->detail));
    out->detail[sizeof(out->detail) - 1] = '\0';
    out->last_ok = copy.last_ok;
    out->last_attempt = copy.last_attempt;
    out->next_attempt = copy.next_attempt;
    out->failures_total = copy.failures_total;
    return true;
}

/* ---- state_dir/acme ---- */

/* Makes DIR (0700) when missing, handed to UID:GID when CHOWN_IT; one with group or other bits
 * that portico owns is set to 0700. */
static int make_dir(const char *dir, bool chown_it, uid_t uid, gid_t gid)
{
    if (mkdir(dir, 0700) == 0) {
        if (chown_it && chown(dir, uid, gid) < 0) {
            pc_err("acme: %s: chown: %s", dir, strerror(errno));
            return -1;
        }
        pc_info("acme: %s: created (mode 0700)", dir);
        return 0;
    }
    struct stat st;
    if (errno != EEXIST || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        pc_err("acme: %s: %s", dir, errno == EEXIST ? "not a directory" : strerror(errno));
        return -1;
    }
    if ((st.st_mode & 077) && st.st_uid == geteuid() && chmod(dir, 0700) < 0)
        pc_warn("acme: %s: chmod 0700: %s", dir, strerror(errno));
    return 0;
}

/* Writes a self-signed placeholder pair for C (key first: the pair is whole once the
 * certificate is there). */
static int write_placeholder(const struct pc_config *cfg, const struct pc_cert *c, bool chown_it,
                             uid_t uid, gid_t gid)
{
    EVP_PKEY *k = pc_acme_key_new(c->acme);
    X509 *x = k ? pc_acme_placeholder(k, cfg->acme.names, cfg->acme.nnames) : NULL;
    size_t klen = 0;
    char *kpem = x ? pc_acme_key_pem(k, &klen) : NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *cpem = NULL;
    long clen = b && x && PEM_write_bio_X509(b, x) == 1 ? BIO_get_mem_data(b, &cpem) : 0;
    int rc = -1;
    if (kpem && clen > 0 && pc_fetch_write_atomic(c->key, kpem, klen, 0600) == 0 &&
        pc_fetch_write_atomic(c->cert, cpem, (size_t)clen, 0600) == 0)
        rc = 0;
    else
        pc_err("acme: cannot write the placeholder %s: %s", c->cert,
               errno ? strerror(errno) : "cannot make the key");
    if (rc == 0 && chown_it && (chown(c->key, uid, gid) < 0 || chown(c->cert, uid, gid) < 0)) {
        pc_err("acme: %s: chown: %s", c->cert, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        pc_info("acme: %s: no certificate yet: a self-signed placeholder serves until the "
                "first order completes",
                c->cert);
    OPENSSL_clear_free(kpem, klen);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int pc_acme_prepare(const struct pc_config *cfg, bool chown_it, uid_t uid, gid_t gid)
{
    if (!pc_acme_wanted(cfg))
        return 0;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/acme", cfg->state_dir);
    if (make_dir(cfg->state_dir, chown_it, uid, gid) < 0 || make_dir(dir, chown_it, uid, gid) < 0)
        return -1;
    for (size_t i = 0; i < cfg->ncerts; i++) {
        const struct pc_cert *c = &cfg->certs[i];
        if (c->acme && access(c->cert, F_OK) < 0 &&
            write_placeholder(cfg, c, chown_it, uid, gid) < 0)
            return -1;
    }
    return 0;
}

time_t pc_acme_renew_at(const struct pc_config *cfg, const char *file)
{
    BIO *b = BIO_new_file(file, "r");
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    time_t at = 0;
    if (!x || pc_acme_is_placeholder(x))
        goto out;
    for (size_t i = 0; i < cfg->acme.nnames; i++)
        if (X509_check_host(x, cfg->acme.names[i], 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1)
            goto out; /* a name was added to the configuration: a new order */
    struct tm nb, na;
    if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &nb) != 1 ||
        ASN1_TIME_to_tm(X509_get0_notAfter(x), &na) != 1)
        goto out;
    time_t from = timegm(&nb), to = timegm(&na);
    /* docs/certificates.md#acme: renew_before, or at two thirds of the lifetime (what Let's
     * Encrypt advises: 60 days into a 90-day certificate). A renew_before as long as the
     * lifetime would order again at every start: two thirds then too. */
    double rb = cfg->acme.renew_before;
    at = rb > 0 && rb < (double)(to - from) ? to - (time_t)rb : from + (to - from) * 2 / 3;
    if (at <= 0)
        at = 1;
out:
    X509_free(x);
    return at;
}

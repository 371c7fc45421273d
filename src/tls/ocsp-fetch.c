/* ocsp-fetch.c — the OCSP helper process (ocsp.h; docs/certificates.md): asks each listener
 * certificate's responder ahead of time with libcurl, verifies the answer (ocsp.c), caches it
 * and hands it to the workers through the shared slots.
 *
 * Its own process, forked by the master after the privilege drop, so that a slow or silent
 * responder (up to FETCH_TIMEOUT per request, blocking) never delays a handshake, a reload or
 * a signal: the workers only ever read a slot, the master only starts and stops the helper.
 *
 * When (RFC 6960 §4.2.2.1, and RFC 6066 §8: a server staples what it has ahead of time):
 * a good response is fetched again at half of its validity (thisUpdate to nextUpdate), at
 * least REFRESH_MIN later; a failure is retried after RETRY_MIN, doubling up to RETRY_MAX,
 * with 10% jitter so that several nodes do not ask in step; a revoked certificate is asked
 * again after RETRY_MAX (a revocation is not undone, but a mistaken answer may be).
 *
 * Stopping, waiting and jitter are shared with the ACME helper (fetch.c). */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "tls/fetch.h"
#include "tls/ocsp.h"

#define FETCH_TIMEOUT   10L /* seconds for one request, connection included */
#define CONNECT_TIMEOUT 5L
#define REFRESH_MIN     60   /* never ask again sooner after a good answer */
#define RETRY_MIN       30   /* first retry after a failure */
#define RETRY_MAX       3600 /* longest wait between failed attempts */

struct body {
    unsigned char buf[PC_OCSP_DER_MAX];
    size_t len;
    bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t len = size * n;
    if (len > sizeof(b->buf) - b->len) {
        b->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    memcpy(b->buf + b->len, p, len);
    b->len += len;
    return len;
}

/* The DER OCSP request for C (one certificate, no nonce: a stapled response is shared by
 * every client, RFC 6960 §4.4.1 is optional). NULL when it cannot be built. */
static unsigned char *build_request(const struct pc_ocsp_cert *c, int *len)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, c->leaf, c->issuer);
    unsigned char *der = NULL;
    *len = 0;
    if (req && id && OCSP_request_add0_id(req, id)) {
        id = NULL; /* the request owns it */
        *len = i2d_OCSP_REQUEST(req, &der);
    }
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    return *len > 0 ? der : NULL;
}

/* POSTs C's request to its responder (RFC 6960 Appendix A.1). 0 with the body in B, or -1
 * with WHY. */
static int http_post(const struct pc_ocsp_cert *c, struct body *b, char *why, size_t wlen)
{
    int qlen;
    unsigned char *q = build_request(c, &qlen);
    CURL *h = q ? curl_easy_init() : NULL;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/ocsp-request");
    int rc = -1;
    if (!h || !hdr) {
        snprintf(why, wlen, "cannot build the request");
        goto out;
    }
    char err[CURL_ERROR_SIZE] = "";
    pc_fetch_setopt(h, c->url, "http,https", FETCH_TIMEOUT, CONNECT_TIMEOUT, "portico-ocsp",
                    on_data, b, err);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)q);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)qlen);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    CURLcode cc = pc_fetch_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK)
        snprintf(why, wlen, "%.150s",
                 b->too_big ? "the response is too large"
                 : err[0]   ? err
                            : curl_easy_strerror(cc));
    else if (status != 200)
        snprintf(why, wlen, "HTTP status %ld", status);
    else
        rc = 0;
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    OPENSSL_free(q);
    return rc;
}

/* When to ask again after a good answer held from THIS_UPDATE to NEXT_UPDATE. */
static time_t refresh_at(time_t now, int64_t this_update, int64_t next_update)
{
    int64_t half = this_update + (next_update - this_update) / 2;
    time_t at = half > (int64_t)now ? (time_t)half : now;
    return at < now + REFRESH_MIN ? now + REFRESH_MIN : at;
}

/* One fetch for C; returns when to fetch again. *BACKOFF: the current retry delay. */
static time_t fetch_one(const struct pc_ocsp_cert *c, time_t *backoff)
{
    static struct body b;
    char why[200] = "";
    int64_t tu = 0, nu = 0;
    time_t now = time(NULL);
    b.len = 0;
    b.too_big = false;
    enum pc_ocsp_state st = PC_OCSP_ERROR;
    if (http_post(c, &b, why, sizeof(why)) == 0)
        st = pc_ocsp_check(c, b.buf, b.len, now, &tu, &nu, why, sizeof(why));
    if (pc_fetch_stopping())
        return now; /* nothing is written: the next helper asks again */
    if (st == PC_OCSP_GOOD) {
        pc_ocsp_cache_write(c, b.buf, b.len);
        pc_ocsp_store(c, st, b.buf, b.len, tu, nu, false, NULL, (int64_t)now);
        *backoff = RETRY_MIN;
        time_t at = refresh_at(now, tu, nu);
        pc_info("ocsp: certificate %s: good (next update in %lld s), stapled; asking %s again in "
                "%lld s",
                c->name, (long long)(nu - (int64_t)now), c->url, (long long)(at - now));
        return at;
    }
    if (st == PC_OCSP_REVOKED || st == PC_OCSP_UNKNOWN) {
        /* Never stapled, and the cached response goes too: a restart must not staple it. */
        pc_ocsp_cache_write(c, NULL, 0);
        pc_ocsp_store(c, st, NULL, 0, 0, 0, true, st == PC_OCSP_REVOKED ? "revoked" : "unknown",
                      (int64_t)now);
        pc_warn("ocsp: certificate %s: the responder %s says it is %s: not stapled", c->name,
                c->url, st == PC_OCSP_REVOKED ? "REVOKED" : "unknown to it");
        return now + pc_fetch_jitter(RETRY_MAX);
    }
    pc_ocsp_store(c, st, NULL, 0, 0, 0, false, why, (int64_t)now);
    time_t wait = pc_fetch_jitter(*backoff);
    int64_t held_tu, held_nu;
    bool held = pc_ocsp_held(c, &held_tu, &held_nu);
    pc_warn("ocsp: certificate %s: fetch from %s failed: %s; %s; retrying in %lld s", c->name,
            c->url, why,
            held && held_nu > (int64_t)now ? "the previous response is stapled until its "
                                             "nextUpdate"
                                           : "not stapled",
            (long long)wait);
    *backoff = *backoff * 2 > RETRY_MAX ? RETRY_MAX : *backoff * 2;
    return now + wait;
}

_Noreturn void pc_ocsp_helper_run(struct pc_ocsp_set *set)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        pc_err("ocsp: curl_global_init failed: nothing is fetched");
        _exit(1);
    }
    time_t *due = calloc(set->n + 1, sizeof(*due));
    time_t *backoff = calloc(set->n + 1, sizeof(*backoff));
    if (!due || !backoff) {
        pc_err("ocsp: out of memory: nothing is fetched");
        _exit(1);
    }
    time_t now = time(NULL);
    for (size_t i = 0; i < set->n; i++) {
        int64_t tu, nu;
        backoff[i] = RETRY_MIN;
        /* A response held already (the cache, or the helper before a reload) is refreshed
         * on its own schedule, not asked for again at every start. */
        int64_t half = pc_ocsp_held(&set->c[i], &tu, &nu) ? tu + (nu - tu) / 2 : 0;
        due[i] = half > (int64_t)now ? (time_t)half : now;
    }
    if (pc_fetch_stop_init("ocsp") < 0)
        _exit(1);
    while (!pc_fetch_stopping()) {
        now = time(NULL);
        time_t next = now + RETRY_MAX;
        for (size_t i = 0; i < set->n && !pc_fetch_stopping(); i++) {
            const struct pc_ocsp_cert *c = &set->c[i];
            if (!set->on || !c->url || !c->issuer || c->slot < 0)
                continue;
            if (due[i] <= now)
                due[i] = fetch_one(c, &backoff[i]);
            if (due[i] < next)
                next = due[i];
        }
        now = time(NULL);
        pc_fetch_sleep(next > now ? next - now : 0);
    }
    free(due);
    free(backoff);
    pc_ocsp_set_free(set);
    curl_global_cleanup();
    pc_fetch_stop_close("ocsp");
    _exit(0);
}

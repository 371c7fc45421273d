/* acme-ari.c — ACME Renewal Information (RFC 9773; docs/certificates.md#when): the
 * certificate's identifier, the CA's suggested window, the time picked in it and when to ask
 * again. Pure functions: the ACME helper (acme-order.c) does the fetching.
 *
 * Why a CA's window and not only two thirds of the lifetime: the CA knows what the client
 * cannot (a mass revocation ahead, its own load); RFC 9773 §4.2 has the client renew at a
 * uniformly random time inside the window, so that many clients do not come at once. */
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/acme.h"

int pc_acme_ari_id(X509 *x, char *out, size_t osize)
{
    /* §4.1: base64url(keyIdentifier of the AKI) "." base64url(the serial's DER content
     * octets, without tag and length: the leading 0x00 of a positive serial kept). */
    const ASN1_OCTET_STRING *kid = x ? X509_get0_authority_key_id(x) : NULL;
    const ASN1_INTEGER *sn = x ? X509_get0_serialNumber(x) : NULL;
    unsigned char der[64], *p = der;
    int dl = sn ? i2d_ASN1_INTEGER(sn, NULL) : -1;
    if (!kid || kid->length <= 0 || dl < 3 || dl > (int)sizeof(der) ||
        i2d_ASN1_INTEGER(sn, &p) != dl ||
        (der[1] & 0x80)) /* a serial is at most 20 octets: the short length form */
        return -1;
    char *a = pc_acme_b64url(kid->data, (size_t)kid->length);
    char *b = pc_acme_b64url(der + 2, (size_t)dl - 2);
    int rc = a && b && (size_t)snprintf(out, osize, "%s.%s", a, b) < osize ? 0 : -1;
    free(a);
    free(b);
    return rc;
}

/* An RFC 3339 date-time (§5.6: "2026-01-03T00:00:00Z", fractions and offsets allowed) into
 * *OUT. 0, or -1 when S is not one. */
static int rfc3339(const char *s, time_t *out)
{
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
    if (!p || (*p != 'T' && *p != 't') || !(p = strptime(p + 1, "%H:%M:%S", &tm)))
        return -1;
    if (*p == '.' && p[1] >= '0' && p[1] <= '9')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59)
            return -1;
        off = (hh * 60L + mm) * 60L * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *out = timegm(&tm) - off;
    return 0;
}

int pc_acme_ari_window(const char *body, time_t *start, time_t *end, char *why, size_t wsize)
{
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    json_t *w = json_object_get(j, "suggestedWindow");
    int rc = -1;
    if (!j)
        snprintf(why, wsize, "the answer is not JSON");
    else if (!json_is_object(w))
        snprintf(why, wsize, "no suggestedWindow");
    else if (rfc3339(json_string_value(json_object_get(w, "start")), start) < 0 ||
             rfc3339(json_string_value(json_object_get(w, "end")), end) < 0)
        snprintf(why, wsize, "the window's start or end is not an RFC 3339 date");
    else if (*end < *start) /* §4.2: such a window is invalid */
        snprintf(why, wsize, "the window ends before it starts");
    else
        rc = 0;
    json_decref(j);
    return rc;
}

time_t pc_acme_ari_pick(time_t start, time_t end, uint64_t rnd)
{
    return start + (time_t)(rnd % ((uint64_t)(end - start) + 1));
}

time_t pc_acme_ari_next(const char *retry_after, time_t now)
{
    /* §4.3: ask again after Retry-After (seconds or an HTTP-date), 6 hours without one; a CA's
     * value is clamped to a minute .. a day, so that neither a 0 nor a year can be sent. */
    long long secs = PC_ACME_ARI_DEFAULT;
    if (retry_after && retry_after[0]) {
        char *end = NULL;
        long long v = strtoll(retry_after, &end, 10);
        if (retry_after[0] >= '0' && retry_after[0] <= '9' && end && !*end)
            secs = v;
        else {
            time_t t = curl_getdate(retry_after, NULL);
            if (t > 0)
                secs = (long long)(t - now);
        }
    }
    secs = secs < PC_ACME_ARI_MIN   ? PC_ACME_ARI_MIN
           : secs > PC_ACME_ARI_MAX ? PC_ACME_ARI_MAX
                                    : secs;
    return now + (time_t)secs;
}

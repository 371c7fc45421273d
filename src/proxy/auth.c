/* auth.c — the fail-closed pinning rule for connection-bound authentication
 * (docs/lync-publishing.md, "NTLM and Negotiate"). */
#include "proxy/auth.h"

#include <string.h>
#include <strings.h>

#include "http/http1.h"

/* Schemes that carry their credentials in every request (RFC 7617 Basic, RFC 6750 Bearer,
 * RFC 7616 Digest) and MsRtcOAuth, Lync's challenge that only points at its OAuth token
 * service (the token then comes back as Bearer; the token service's own Windows sign-in is
 * a separate request that pins by its own challenge). Anything else binds. */
static bool request_bound(const char *p, size_t n)
{
    static const struct {
        const char *name;
        size_t len;
    } ok[] = {{"basic", 5}, {"bearer", 6}, {"digest", 6}, {"msrtcoauth", 10}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (n == ok[i].len && strncasecmp(p, ok[i].name, n) == 0)
            return true;
    return false;
}

static size_t token_len(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && pc_h1_tchar[(unsigned char)p[i]])
        i++;
    return i;
}

/* Authorization = auth-scheme [ 1*SP ( token68 / #auth-param ) ] (RFC 9110 §11.6.2): one
 * scheme, ended by the end of the value or a space. `NTLM<TAB>…` is not request-bound. */
static bool credentials_bind(const char *v, size_t n)
{
    size_t t = token_len(v, n);
    if (t == 0 || (t < n && v[t] != ' '))
        return true;
    return !request_bound(v, t);
}

/* WWW-Authenticate = #challenge; challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 * (RFC 9110 §11.6.1). Walks the comma-separated elements outside quoted strings: an element
 * that starts with `token =` (not `token==`, a token68's padding) is an auth-param of the
 * challenge before it; otherwise its first token is a scheme. Whether a challenge names a
 * scheme that binds, or with OK one that does not; what cannot be parsed binds. */
static bool challenges_have(const char *v, size_t n, bool ok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        if (i == n)
            break;
        size_t t = token_len(v + i, n - i);
        if (t == 0)
            return !ok;
        size_t j = i + t;
        while (j < n && (v[j] == ' ' || v[j] == '\t'))
            j++;
        bool param = j < n && v[j] == '=' && !(j + 1 < n && v[j + 1] == '=');
        if (!param && request_bound(v + i, t) == ok)
            return true;
        /* Skip to the next comma outside a quoted string. */
        bool quoted = false;
        for (i += t; i < n && (quoted || v[i] != ','); i++) {
            if (quoted && v[i] == '\\' && i + 1 < n)
                i++;
            else if (v[i] == '"')
                quoted = !quoted;
        }
        if (quoted)
            return !ok; /* unterminated quoted string: cannot tell, so bind */
    }
    return false;
}

static bool challenges_bind(const char *v, size_t n)
{
    return challenges_have(v, n, false);
}

bool pc_auth_binds(const struct pc_head *h)
{
    if (!h->has_auth)
        return false;
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct pc_field *f = &h->f[i];
        const char *v = h->base + f->value.off;
        size_t n = f->value.len;
        switch (f->kind) {
        case PC_HK_AUTHORIZATION:
            if (credentials_bind(v, n))
                return true;
            break;
        case PC_HK_WWW_AUTHENTICATE:
            if (challenges_bind(v, n))
                return true;
            break;
        case PC_HK_PERSISTENT_AUTH:
            if (n == 4 && strncasecmp(v, "true", 4) == 0)
                return true;
            break;
        default:
            break;
        }
    }
    return false;
}

bool pc_auth_only_bound(const struct pc_head *h)
{
    bool bound = false;
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct pc_field *f = &h->f[i];
        if (f->kind != PC_HK_WWW_AUTHENTICATE)
            continue;
        const char *v = h->base + f->value.off;
        if (challenges_have(v, f->value.len, true))
            return false;
        bound |= challenges_have(v, f->value.len, false);
    }
    return bound;
}

/* guard-answer.c — the answer to a refused sign-in attempt (docs/signin.md, "Answers that
 * reveal nothing"): what the pool itself answered the last failure on that channel, so that an
 * attacker cannot tell portico's refusal from the pool's; until the pool has failed one, a
 * fixed answer shaped as Lync's.
 *
 * What is learned, per pool and channel, in each worker: the status line and an allowlist of
 * fields that describe the server rather than the request (Server, WWW-Authenticate,
 * X-Ms-diagnostics...); the body only once two failures for different accounts had the same
 * one (at most 2 KiB), so that nothing of one attempt (a user name in an error page) is ever
 * shown to another client. Date is written afresh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/out.h"
#include "common/util.h"
#include "http/http1.h"
#include "proxy/guard-int.h"
#include "proxy/proxy.h"

#define BODY_MAX 2048

struct learned {
    int status; /* 0: nothing learned yet */
    char reason[64];
    char head[1024]; /* allowlisted fields, each "Name: value\r\n" */
    size_t headlen;
    bool date;       /* the pool sends Date */
    char ctype[128]; /* its Content-Type, used with its body only */
    char body[BODY_MAX];
    size_t bodylen;
    uint32_t body_hash, body_acct; /* of the last body seen, and the account it answered */
    bool body_sure;                /* seen the same for two accounts */
};

static struct learned *learned; /* [npools][PC_GUARD_NCHANNELS] */
static size_t npools;

void pc_guard_answer_init(const struct pc_config *cfg)
{
    free(learned);
    npools = cfg->npools;
    learned = calloc(npools * PC_GUARD_NCHANNELS, sizeof *learned);
}

static struct learned *slot(unsigned pool, enum pc_guard_channel ch)
{
    return learned && pool < npools ? &learned[pool * PC_GUARD_NCHANNELS + ch] : NULL;
}

static bool describes_server(const struct pc_head *h, struct pc_span name)
{
    static const char *const keep[] = {"server",
                                       "x-powered-by",
                                       "x-aspnet-version",
                                       "www-authenticate",
                                       "x-ms-diagnostics",
                                       "x-ms-server-fqdn",
                                       "cache-control",
                                       "pragma",
                                       "expires",
                                       "x-content-type-options",
                                       "strict-transport-security",
                                       "x-frame-options",
                                       NULL};
    for (int i = 0; keep[i]; i++)
        if (pc_h1_eq(h, name, keep[i]))
            return true;
    return false;
}

void pc_guard_learn_head(unsigned pool, enum pc_guard_channel ch, const struct pc_head *h)
{
    struct learned *l = slot(pool, ch);
    if (!l)
        return;
    l->status = h->status;
    snprintf(l->reason, sizeof l->reason, "%.*s", (int)h->reason.len, h->base + h->reason.off);
    l->headlen = 0;
    l->date = false;
    l->ctype[0] = '\0';
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct pc_field *f = &h->f[i];
        if (pc_h1_eq(h, f->name, "date")) {
            l->date = true;
        } else if (pc_h1_eq(h, f->name, "content-type")) {
            snprintf(l->ctype, sizeof l->ctype, "%.*s", (int)f->value.len, h->base + f->value.off);
        } else if (describes_server(h, f->name)) {
            size_t n = f->name.len + 2 + f->value.len + 2;
            if (l->headlen + n >= sizeof l->head)
                break;
            l->headlen += (size_t)snprintf(
                l->head + l->headlen, sizeof l->head - l->headlen, "%.*s: %.*s\r\n",
                (int)f->name.len, h->base + f->name.off, (int)f->value.len, h->base + f->value.off);
        }
    }
}

void pc_guard_learn_body(unsigned pool, enum pc_guard_channel ch, const char *resp, size_t len,
                         uint32_t account)
{
    struct learned *l = slot(pool, ch);
    const char *end = l ? memmem(resp, len, "\r\n\r\n", 4) : NULL;
    if (!end)
        return;
    const char *body = end + 4;
    size_t bl = len - (size_t)(body - resp);
    if (bl > BODY_MAX)
        return;
    uint32_t h = pc_fnv1a(PC_FNV_INIT, body, bl);
    if (l->bodylen == bl && l->body_hash == h && memcmp(l->body, body, bl) == 0) {
        l->body_sure |= account != l->body_acct;
        return;
    }
    memcpy(l->body, body, bl);
    l->bodylen = bl;
    l->body_hash = h;
    l->body_acct = account;
    l->body_sure = false;
}

/* The fixed answers, per channel (what Lync and IIS answer, docs/signin.md). */
static const struct {
    int status;
    const char *head, *body;
} fixed[PC_GUARD_NCHANNELS] = {
    [PC_GUARD_NTLM] = {401,
                       "WWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n"
                       "Content-Type: text/plain\r\n",
                       "401 Unauthorized\n"},
    [PC_GUARD_KERBEROS] = {401,
                           "WWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n"
                           "Content-Type: text/plain\r\n",
                           "401 Unauthorized\n"},
    [PC_GUARD_BASIC] = {401,
                        "WWW-Authenticate: Basic realm=\"portico\"\r\nContent-Type: "
                        "text/plain\r\n",
                        "401 Unauthorized\n"},
    [PC_GUARD_OAUTH] = {400,
                        "Content-Type: application/json; charset=utf-8\r\n"
                        "X-Ms-diagnostics: 28020;source=\"portico\";reason=\"The user name "
                        "or password is incorrect.\"\r\n",
                        "{\"error\":\"invalid_grant\"}"},
    [PC_GUARD_SOAP] = {500,
                       "Content-Type: text/xml; charset=utf-8\r\n"
                       "X-Ms-diagnostics: 28020;source=\"portico\";reason=\"The user name "
                       "or password is incorrect.\"\r\n",
                       "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                       "<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>The user "
                       "name or password is incorrect.</faultstring></s:Fault></s:Body>"
                       "</s:Envelope>"},
};

int pc_guard_answer(struct pc_out *o, unsigned pool, enum pc_guard_channel ch, bool close,
                    double now)
{
    const struct learned *l = slot(pool, ch);
    bool learnt = l && l->status;
    bool body = learnt && l->body_sure;
    int status = learnt ? l->status : fixed[ch].status;
    const char *b = body ? l->body : fixed[ch].body;
    size_t bl = body ? l->bodylen : strlen(fixed[ch].body);
    char date[64] = "";
    if (learnt && l->date) {
        time_t t = (time_t)now;
        struct tm tm;
        strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", gmtime_r(&t, &tm));
    }
    char ctype[160] = "";
    if (body && l->ctype[0])
        snprintf(ctype, sizeof ctype, "Content-Type: %s\r\n", l->ctype);
    else if (learnt && !body) /* the fixed body, with its own type */
        snprintf(ctype, sizeof ctype, "Content-Type: %s\r\n",
                 ch == PC_GUARD_OAUTH  ? "application/json; charset=utf-8"
                 : ch == PC_GUARD_SOAP ? "text/xml; charset=utf-8"
                                       : "text/plain");
    const char *head = learnt ? l->head : fixed[ch].head;
    size_t need = 128 + strlen(head) + sizeof date + sizeof ctype + bl;
    char *p = pc_out_reserve(o, need);
    if (!p)
        return 0;
    int n = snprintf(p, need, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%s\r\n", status,
                     learnt && l->reason[0] ? l->reason : pc_rw_reason(status), head, date, ctype,
                     bl, close ? "Connection: close\r\n" : "");
    memcpy(p + n, b, bl);
    o->ob->end += (size_t)n + bl;
    return status;
}

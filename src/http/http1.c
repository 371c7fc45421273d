/* http1.c — strict parsing of HTTP/1.x header blocks. */
#include "http/http1.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* tchar (RFC 9110 §5.6.2). */
const unsigned char pc_h1_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

int pc_h1_scan(struct pc_hscan *s, const char *p, size_t len, bool request)
{
    while (s->pos < len) {
        const char *lf = memchr(p + s->pos, '\n', len - s->pos);
        bool first = s->line_start == s->lead; /* the start line */
        size_t limit = first ? PC_MAX_REQUEST_LINE : PC_MAX_FIELD;
        if (!lf) {
            /* A CR must be followed by LF: a CR that is not the last byte is a bare CR. */
            const char *cr = memchr(p + s->pos, '\r', len - s->pos);
            if (cr && cr != p + len - 1)
                return -400;
            s->pos = (uint32_t)len;
            /* A CR at the very end is the first half of the line's CRLF, not content. */
            if (len - s->line_start - (p[len - 1] == '\r') > limit)
                return first && request ? -414 : -431;
            if (len > PC_MAX_HEAD + PC_MAX_REQUEST_LINE)
                return -431;
            return 0;
        }
        size_t at = (size_t)(lf - p);
        if (at == 0 || p[at - 1] != '\r')
            return -400; /* bare LF */
        if (memchr(p + s->line_start, '\r', at - 1 - s->line_start))
            return -400; /* bare CR inside the line */
        if (at + 1 - s->line_start > limit + 2)
            return first && request ? -414 : -431;
        if (at + 1 > PC_MAX_HEAD + PC_MAX_REQUEST_LINE)
            return -431;
        bool empty = at - 1 == s->line_start;
        s->pos = s->line_start = (uint32_t)(at + 1);
        if (empty && first) {
            /* An empty line where the start line belongs (RFC 9112 §2.2). */
            if (!request || s->lead / 2 >= PC_MAX_LEAD_LINES)
                return -400;
            s->lead = s->line_start;
            continue;
        }
        if (empty)
            return (int)(at + 1);
    }
    return 0;
}

/* LIT is a string literal at every call: inlined, its strlen is a constant. */
static inline bool span_eq(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && strncasecmp(p, lit, n) == 0;
}

struct known {
    const char *name;
    uint8_t len;
    uint8_t kind;
    bool hop; /* hop-by-hop: never forwarded as such (RFC 9110 §7.6.1) */
};

#define KNOWN(name, kind, hop)                                                                     \
    {                                                                                              \
        name, sizeof(name) - 1, kind, hop                                                          \
    }

static const struct known known_fields[] = {
    KNOWN("host", PC_HK_HOST, false),
    KNOWN("connection", PC_HK_CONNECTION, true),
    KNOWN("content-length", PC_HK_CONTENT_LENGTH, false),
    KNOWN("transfer-encoding", PC_HK_TRANSFER_ENCODING, true),
    KNOWN("keep-alive", PC_HK_KEEP_ALIVE, true),
    KNOWN("proxy-connection", PC_HK_PROXY_CONNECTION, true),
    KNOWN("te", PC_HK_TE, true),
    KNOWN("trailer", PC_HK_TRAILER, true),
    KNOWN("upgrade", PC_HK_UPGRADE, true),
    KNOWN("expect", PC_HK_EXPECT, false),
    KNOWN("x-forwarded-for", PC_HK_XFF, true),
    KNOWN("x-forwarded-proto", PC_HK_XFP, true),
    KNOWN("cookie", PC_HK_COOKIE, false),
    KNOWN("authorization", PC_HK_AUTHORIZATION, false),
    KNOWN("www-authenticate", PC_HK_WWW_AUTHENTICATE, false),
    KNOWN("persistent-auth", PC_HK_PERSISTENT_AUTH, false),
    KNOWN("referer", PC_HK_REFERER, false),
    KNOWN("user-agent", PC_HK_USER_AGENT, false),
};
#undef KNOWN

/* A small hash of a lower-cased name, collision-free over known_fields (checked when the
 * table is built): one comparison per field instead of a walk through the table. */
static unsigned name_hash(const char *name, size_t len)
{
    return (unsigned)(len + 5u * (unsigned char)(name[0] | 0x20) +
                      2u * (unsigned char)(name[len - 1] | 0x20)) &
           63;
}

static int8_t known_by_hash[64]; /* index + 1 into known_fields, 0: none */

static void build_known_index(void)
{
    for (size_t i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]); i++) {
        unsigned h = name_hash(known_fields[i].name, known_fields[i].len);
        if (known_by_hash[h]) /* a new known field broke the hash: fail loudly, at once */
            abort();
        known_by_hash[h] = (int8_t)(i + 1);
    }
}

static void classify(const char *name, size_t len, struct pc_field *f)
{
    static bool ready;
    if (!ready) {
        build_known_index();
        ready = true;
    }
    f->kind = PC_HK_OTHER;
    f->drop = false;
    /* Cheap filter: every known name is 2..17 bytes long. */
    if (len < 2 || len > 17)
        return;
    int idx = known_by_hash[name_hash(name, len)];
    if (!idx)
        return;
    const struct known *k = &known_fields[idx - 1];
    if (k->len != len)
        return;
    /* NAME is a token (checked): OR-ing 0x20 lower-cases its letters and changes nothing else
     * that could match a known name's letters and '-'. */
    for (size_t i = 0; i < len; i++)
        if ((name[i] | 0x20) != k->name[i])
            return;
    f->kind = k->kind;
    f->drop = k->hop;
}

/* Parses a decimal Content-Length value: digits only, no sign, no list, no overflow. */
static bool parse_length(const char *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

/* Calls FN for each comma-separated token of a list value; returns false on an empty or
 * malformed element. */
static bool for_each_token(const char *p, size_t len, bool (*fn)(void *, const char *, size_t),
                           void *ctx)
{
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && p[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (p[a] == ' ' || p[a] == '\t'))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
            b--;
        if (a < b && !fn(ctx, p + a, b - a))
            return false;
        i = j + 1;
    }
    return true;
}

struct conn_ctx {
    struct pc_head *h;
    struct pc_span names[PC_MAX_CONN_TOKENS];
    unsigned n;
    bool overflow;
};

static bool conn_token(void *arg, const char *p, size_t len)
{
    struct conn_ctx *c = arg;
    for (size_t i = 0; i < len; i++)
        if (!pc_h1_tchar[(unsigned char)p[i]])
            return false;
    if (span_eq(p, len, "close"))
        c->h->conn_close = true;
    else if (span_eq(p, len, "keep-alive"))
        c->h->conn_keepalive = true;
    else if (span_eq(p, len, "upgrade"))
        c->h->conn_upgrade = true;
    if (c->n == PC_MAX_CONN_TOKENS) {
        c->overflow = true;
        return true;
    }
    c->names[c->n].off = (uint32_t)(p - c->h->base);
    c->names[c->n].len = (uint32_t)len;
    c->n++;
    return true;
}

struct te_ctx {
    unsigned n;
    bool last_chunked;
    bool bad;
};

static bool te_token(void *arg, const char *p, size_t len)
{
    struct te_ctx *t = arg;
    /* Only a single, final "chunked" is accepted (RFC 9112 §6.1; docs/architecture.md): anything
     * else is ambiguous. */
    t->n++;
    t->last_chunked = span_eq(p, len, "chunked");
    if (!t->last_chunked || t->n > 1)
        t->bad = true;
    return true;
}

static int parse_start_line(const char *p, size_t eol, struct pc_head *h)
{
    size_t i = 0;
    if (h->request) {
        while (i < eol && pc_h1_tchar[(unsigned char)p[i]])
            i++;
        if (i == 0 || i >= eol || p[i] != ' ')
            return -400;
        h->method = (struct pc_span){0, (uint32_t)i};
        size_t t = ++i;
        while (i < eol && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
            i++;
        if (i == t || i >= eol || p[i] != ' ')
            return -400;
        h->target = (struct pc_span){(uint32_t)t, (uint32_t)(i - t)};
        i++;
        if (eol - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0)
            return -400;
        if (p[i + 7] == '1')
            h->version = 11;
        else if (p[i + 7] == '0')
            h->version = 10;
        else
            return -400;
        return 0;
    }
    if (eol < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -502;
    h->version = p[7] == '1' ? 11 : 10;
    for (i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9')
            return -502;
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (h->status < 100)
        return -502;
    if (eol > 12 && p[12] != ' ')
        return -502;
    for (i = 13; i < eol; i++)
        if (!pc_h1_vchar((unsigned char)p[i]))
            return -502;
    h->reason = eol > 13 ? (struct pc_span){13, (uint32_t)(eol - 13)} : (struct pc_span){12, 0};
    return 0;
}

/* Splits the target: absolute-form "http(s)://authority/path" gives its authority and path;
 * origin-form is kept. Returns false for forms we never forward. */
static bool split_target(struct pc_head *h)
{
    const char *t = h->base + h->target.off;
    size_t len = h->target.len;
    h->authority = (struct pc_span){0, 0};
    if (t[0] == '/') {
        h->path = h->target;
        return true;
    }
    size_t skip;
    if (len > 7 && strncasecmp(t, "http://", 7) == 0)
        skip = 7;
    else if (len > 8 && strncasecmp(t, "https://", 8) == 0)
        skip = 8;
    else
        return false; /* asterisk-form, authority-form or junk */
    size_t a = skip, e = skip;
    while (e < len && t[e] != '/' && t[e] != '?' && t[e] != '#')
        e++;
    if (e == a || memchr(t + a, '@', e - a))
        return false; /* no authority, or userinfo (never legitimate here) */
    h->authority = (struct pc_span){h->target.off + (uint32_t)a, (uint32_t)(e - a)};
    h->path = (struct pc_span){h->target.off + (uint32_t)e, (uint32_t)(len - e)};
    return true;
}

/* Fields no trailer section carries on (RFC 9110 §6.5.1: framing, routing, authentication,
 * request modifiers, response controls, content format; RFC 9113 §8.2.2: connection-specific),
 * and those portico writes in the head itself: a trailer must not smuggle them past the checks
 * made on the head (an NTLM Authorization, X-Forwarded-For). */
static const char *const not_trailers[] = {
    /* connection-specific, framing, routing */
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "trailer",
    "content-length",
    "host",
    /* authentication and state */
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "persistent-auth",
    "cookie",
    "set-cookie",
    /* request modifiers */
    "expect",
    "max-forwards",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    /* response controls, content format */
    "cache-control",
    "expires",
    "age",
    "vary",
    "location",
    "retry-after",
    "content-type",
    "content-encoding",
    "content-range",
    /* portico's own */
    "x-forwarded-for",
    "x-forwarded-proto",
};

bool pc_h1_trailer_allowed(const char *name, size_t len)
{
    if (len == 0 || name[0] == ':')
        return false; /* a pseudo-header field (RFC 9113 §8.1) */
    for (size_t i = 0; i < sizeof(not_trailers) / sizeof(not_trailers[0]); i++)
        if (len == strlen(not_trailers[i]) && strncasecmp(name, not_trailers[i], len) == 0)
            return false;
    return true;
}

size_t pc_h1_authority_host(const char *a, size_t len)
{
    if (len && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        return close ? (size_t)(close - a) + 1 : len;
    }
    const char *colon = memchr(a, ':', len);
    return colon ? (size_t)(colon - a) : len;
}

bool pc_h1_valid_authority(const char *p, size_t len)
{
    if (len == 0 || len > 261)
        return false;
    size_t hl = pc_h1_authority_host(p, len);
    if (hl == 0)
        return false;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' ||
                  (p[0] == '[' && (c == ':' || c == '[' || c == ']'));
        if (!ok)
            return false;
    }
    if (hl < len) {
        if (p[hl] != ':' || hl + 1 == len || len - hl - 1 > 5)
            return false;
        for (size_t i = hl + 1; i < len; i++)
            if (p[i] < '0' || p[i] > '9')
                return false;
    }
    return true;
}

/* Whether P[0, N) are all field-value bytes (pc_h1_vchar). Eight bytes at a time: a word
 * without a byte below 0x20 or equal to 0x7f needs no closer look (HTAB, the one control
 * allowed, sends its word to the bytewise check). Values are most of a header block. */
static bool value_ok(const char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, p + i, 8);
        y = x ^ (ones * 0x7f);
        if ((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & highs) {
            for (size_t k = i; k < i + 8; k++)
                if (!pc_h1_vchar((unsigned char)p[k]))
                    return false;
        }
    }
    for (; i < n; i++)
        if (!pc_h1_vchar((unsigned char)p[i]))
            return false;
    return true;
}

/* Per-block state of the field loop: the Connection tokens and the Transfer-Encoding seen. */
struct fields_ctx {
    struct conn_ctx conn;
    struct te_ctx te;
    bool te_seen;
};

/* What the proxy derives from one field F whose value is VAL[0, VL): 0, or BAD. */
static int field_facts(struct pc_head *h, struct pc_field *f, const char *val, size_t vl,
                       struct fields_ctx *fc, int bad)
{
    switch (f->kind) {
    case PC_HK_HOST:
        if (h->host >= 0 || !pc_h1_valid_authority(val, vl))
            return bad;
        h->host = (int)h->nfields;
        break;
    case PC_HK_CONTENT_LENGTH: {
        uint64_t cl;
        if (h->has_cl || !parse_length(val, vl, &cl))
            return bad;
        h->has_cl = true;
        h->content_length = cl;
        break;
    }
    case PC_HK_TRANSFER_ENCODING:
        if (fc->te_seen)
            return bad; /* two Transfer-Encoding fields */
        fc->te_seen = true;
        if (!for_each_token(val, vl, te_token, &fc->te) || fc->te.n == 0 || fc->te.bad)
            return bad;
        h->chunked = true;
        break;
    case PC_HK_CONNECTION:
        if (!for_each_token(val, vl, conn_token, &fc->conn) || fc->conn.overflow)
            return bad;
        break;
    case PC_HK_EXPECT:
        if (span_eq(val, vl, "100-continue"))
            h->expect_continue = true;
        break;
    case PC_HK_XFF:
        h->has_xff = true;
        break;
    case PC_HK_AUTHORIZATION:
    case PC_HK_WWW_AUTHENTICATE:
    case PC_HK_PERSISTENT_AUTH:
        h->has_auth = true;
        break;
    case PC_HK_UPGRADE:
        h->upgrade = (int)h->nfields;
        break;
    default:
        break;
    }
    return 0;
}

/* Parses the field lines from offset *AT to the empty line (*AT then points at it). Returns 0 or a
 * negative status. */
static int parse_fields(const char *p, size_t len, size_t *at, struct pc_head *h,
                        struct fields_ctx *fc, int bad)
{
    size_t i = *at;
    while (i + 2 <= len && !(p[i] == '\r' && p[i + 1] == '\n')) {
        const char *line = p + i;
        const char *cr = memchr(line, '\r', len - i);
        size_t ll = (size_t)(cr - line);
        /* obs-fold: a line that begins with whitespace (RFC 9112 §5.2). */
        size_t n = 0;
        while (n < ll && pc_h1_tchar[(unsigned char)line[n]])
            n++;
        if (n == 0 || n >= ll || line[n] != ':')
            return bad; /* empty name, obs-fold, whitespace or junk before the colon */
        size_t v = n + 1, ve = ll;
        while (v < ve && (line[v] == ' ' || line[v] == '\t'))
            v++;
        while (ve > v && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
            ve--;
        if (!value_ok(line + v, ve - v))
            return bad;
        if (h->nfields == PC_MAX_FIELDS)
            return h->request ? -431 : -502;
        struct pc_field *f = &h->f[h->nfields];
        f->name = (struct pc_span){(uint32_t)i, (uint32_t)n};
        f->value = (struct pc_span){(uint32_t)(i + v), (uint32_t)(ve - v)};
        classify(line, n, f);
        if (field_facts(h, f, line + v, ve - v, fc, bad))
            return bad;
        h->nfields++;
        i += ll + 2;
    }
    *at = i;
    return 0;
}

/* Fields named in Connection are hop-by-hop too; never the framing or the routing:
 * `Connection: Content-Length` must not unframe a body we forward. */
static void drop_connection_names(struct pc_head *h, const struct conn_ctx *conn)
{
    const char *p = h->base;
    for (unsigned c = 0; c < conn->n; c++)
        for (unsigned k = 0; k < h->nfields; k++)
            if (h->f[k].name.len == conn->names[c].len &&
                strncasecmp(p + h->f[k].name.off, p + conn->names[c].off, conn->names[c].len) ==
                    0 &&
                h->f[k].kind != PC_HK_HOST && h->f[k].kind != PC_HK_CONTENT_LENGTH)
                h->f[k].drop = true;
}

/* The checks only a request has: methods we never forward, the target's form, Host. */
static int check_request(struct pc_head *h)
{
    const char *p = h->base;
    if (pc_h1_eq(h, h->method, "connect") || pc_h1_eq(h, h->method, "trace"))
        return -405;
    if (h->target.len == 1 && p[h->target.off] == '*')
        return pc_h1_eq(h, h->method, "options") ? -405 : -400;
    if (!split_target(h))
        return -400;
    if (h->version == 11 && h->host < 0)
        return -400;
    if (h->authority.len && h->host >= 0) {
        const char *a = p + h->authority.off, *hv = p + h->f[h->host].value.off;
        size_t al = pc_h1_authority_host(a, h->authority.len);
        size_t hl = pc_h1_authority_host(hv, h->f[h->host].value.len);
        if (al != hl || strncasecmp(a, hv, al) != 0)
            return -400;
    }
    if (h->authority.len && !pc_h1_valid_authority(p + h->authority.off, h->authority.len))
        return -400;
    return 0;
}

int pc_h1_parse(const char *p, size_t len, bool request, struct pc_head *h)
{
    int bad = request ? -400 : -502;
    h->base = p;
    h->len = (uint32_t)len;
    h->request = request;
    h->nfields = 0;
    h->host = -1;
    h->has_cl = h->chunked = false;
    h->content_length = 0;
    h->conn_close = h->conn_keepalive = h->conn_upgrade = false;
    h->expect_continue = h->has_xff = h->has_auth = false;
    h->upgrade = -1;
    h->status = 0;

    const char *eol = memchr(p, '\r', len);
    if (!eol)
        return bad;
    int rc = parse_start_line(p, (size_t)(eol - p), h);
    if (rc)
        return rc;
    size_t i = (size_t)(eol - p) + 2;
    struct fields_ctx fc = {.conn = {.h = h}};
    rc = parse_fields(p, len, &i, h, &fc, bad);
    if (rc)
        return rc;
    if (i + 2 != len)
        return bad;
    /* Framing ambiguities (RFC 9112 §6.1, §6.3). */
    if (fc.te_seen && (h->has_cl || h->version == 10))
        return bad;
    drop_connection_names(h, &fc.conn);
    /* A response framing header on a bodiless status is harmless; the caller decides. */
    return request ? check_request(h) : 0;
}

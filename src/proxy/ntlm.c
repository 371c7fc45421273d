/* ntlm.c — recognising NTLM and Negotiate credentials (docs/signin.md "NTLM and Negotiate").
 *
 * Layers, outermost first: the Authorization value (RFC 9110 §11.6.2), base64 (RFC 4648 §4),
 * then the token: bare NTLMSSP (MS-NLMP §2.2.1), SPNEGO (RFC 4178 §4.2, DER per X.690) around
 * an NTLMSSP or Kerberos mech token, or Kerberos alone (RFC 4121 §4.1, RFC 4120 §5.5.1). Every
 * length is checked against the bytes that remain before it is used, in 64-bit arithmetic; the
 * DER walk follows one fixed path (no recursion), so its depth is bounded by construction. */
#include "proxy/ntlm.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

/* ---- base64 (RFC 4648 §4) ---- */

/* The 6-bit value of C, or -1 for anything outside the standard alphabet (§4 table 1). */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Padding is optional (many HTTP token68 producers keep it, a few drop it: both decode the
 * same), but when present it must complete the last group; the bits a short last group leaves
 * over must be zero (§3.5), so that exactly one text stands for a token. */
long pc_ntlm_b64_length(const char *in, size_t n)
{
    size_t pad = 0;
    while (pad < 2 && n > pad && in[n - 1 - pad] == '=')
        pad++;
    size_t m = n - pad; /* alphabet characters */
    if (pad && n % 4 != 0)
        return -1;
    if (m % 4 == 1)
        return -1;
    for (size_t i = 0; i < m; i++)
        if (b64_value((unsigned char)in[i]) < 0)
            return -1;
    if (pad && (m % 4) + pad != 4)
        return -1;
    /* The last partial group: 2 characters give 1 byte (4 spare bits), 3 give 2 (2 spare). */
    if (m % 4 == 2 && (b64_value((unsigned char)in[m - 1]) & 0x0f) != 0)
        return -1;
    if (m % 4 == 3 && (b64_value((unsigned char)in[m - 1]) & 0x03) != 0)
        return -1;
    if (m / 4 > (size_t)(LONG_MAX / 4))
        return -1;
    return (long)(m / 4 * 3 + (m % 4 == 0 ? 0 : m % 4 - 1));
}

uint8_t pc_ntlm_b64_byte(const char *in, size_t i)
{
    const char *g = in + i / 3 * 4;
    unsigned a = (unsigned)b64_value((unsigned char)g[0]);
    unsigned b = (unsigned)b64_value((unsigned char)g[1]);
    switch (i % 3) {
    case 0:
        return (uint8_t)(a << 2 | b >> 4);
    case 1:
        return (uint8_t)(b << 4 | (unsigned)b64_value((unsigned char)g[2]) >> 2);
    default:
        return (uint8_t)((unsigned)b64_value((unsigned char)g[2]) << 6 |
                         (unsigned)b64_value((unsigned char)g[3]));
    }
}

long pc_ntlm_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    long len = pc_ntlm_b64_length(in, n);
    if (len < 0 || (size_t)len > cap)
        return -1;
    for (size_t i = 0; i < (size_t)len; i++)
        out[i] = pc_ntlm_b64_byte(in, i);
    return len;
}

/* ---- DER (X.690 §8.1, §10.1): definite lengths, at most 4 length octets ---- */

struct der {
    const uint8_t *p;
    size_t n; /* bytes left */
};

/* Takes the element at the front of D: its tag and contents. -1 for the high tag number form,
 * an indefinite length (0x80, BER only), more than 4 length octets or contents longer than what
 * is left. Non-minimal length encodings are accepted: they change no bound. */
static int der_take(struct der *d, uint8_t *tag, struct der *content)
{
    if (d->n < 2 || (d->p[0] & 0x1f) == 0x1f)
        return -1;
    size_t i = 1;
    uint64_t len = d->p[i++];
    if (len & 0x80) {
        size_t k = len & 0x7f;
        if (k == 0 || k > 4 || d->n - i < k)
            return -1;
        len = 0;
        while (k--)
            len = len << 8 | d->p[i++];
    }
    if (len > d->n - i)
        return -1;
    *tag = d->p[0];
    content->p = d->p + i;
    content->n = (size_t)len;
    d->p += i + (size_t)len;
    d->n -= i + (size_t)len;
    return 0;
}

/* D holds exactly one element, of tag TAG: its contents in C. */
static int der_only(struct der d, uint8_t tag, struct der *c)
{
    uint8_t t;
    return der_take(&d, &t, c) == 0 && t == tag && d.n == 0 ? 0 : -1;
}

static const uint8_t oid_spnego[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}; /* 1.3.6.1.5.5.2 */
/* 1.2.840.113554.1.2.2 (RFC 4121 §4.1), the same with .3 (user to user, RFC 4121 §4.1 too),
 * and 1.2.840.48018.1.2.2, the one Windows lists first (MS-SPNG §3.3.5.1.1, its old bug). */
static const uint8_t oid_krb5[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02};
static const uint8_t oid_mskrb5[] = {0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02};

static bool oid_is(struct der oid, const uint8_t *want, size_t n)
{
    return oid.n == n && memcmp(oid.p, want, n) == 0;
}

static bool oid_kerberos(struct der oid)
{
    if (oid.n == sizeof oid_krb5 + 1 && oid.p[oid.n - 1] == 0x03)
        oid.n--; /* user to user */
    return oid_is(oid, oid_krb5, sizeof oid_krb5) || oid_is(oid, oid_mskrb5, sizeof oid_mskrb5);
}

/* RFC 2743 §3.1 InitialContextToken: [APPLICATION 0] { thisMech OID, innerContextToken }. */
static int gss_initial(struct der tok, struct der *mech, struct der *inner)
{
    struct der body;
    uint8_t t;
    if (der_only(tok, 0x60, &body) != 0 || der_take(&body, &t, mech) != 0 || t != 0x06)
        return -1;
    *inner = body;
    return 0;
}

/* A Kerberos token as SPNEGO carries it: the RFC 4121 §4.1 GSS wrapper around an AP-REQ, or an
 * AP-REQ alone ([APPLICATION 14], RFC 4120 §5.5.1), which some clients send. */
static bool kerberos_token(struct der tok)
{
    struct der mech, inner, c;
    if (tok.n && tok.p[0] == 0x6e)
        return der_only(tok, 0x6e, &c) == 0;
    return gss_initial(tok, &mech, &inner) == 0 && oid_kerberos(mech);
}

/* ---- NTLMSSP (MS-NLMP §2.2.1) ---- */

static const uint8_t ntlm_signature[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
    return le16(p) | le16(p + 2) << 16;
}

/* Appends code point CP as UTF-8 to OUT[*o, cap - 1), keeping room for the NUL. */
static int put_utf8(char *out, size_t *o, uint32_t cp)
{
    uint8_t b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp, k = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)), k = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f)), k = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f)), k = 4;
    }
    if (k >= PC_NTLM_NAME_MAX - *o)
        return -1;
    memcpy(out + *o, b, k);
    *o += k;
    return 0;
}

/* UTF-16LE (MS-NLMP §2.2.1.3 with NTLMSSP_NEGOTIATE_UNICODE) to UTF-8: an odd length, an
 * unpaired surrogate or a NUL (which would cut the C string, making two names one) fail. */
static int utf16_name(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        uint32_t u = le16(p + i);
        if (u >= 0xdc00 && u <= 0xdfff)
            return -1;
        if (u >= 0xd800 && u <= 0xdbff) {
            if (n - i < 4)
                return -1;
            uint32_t l = le16(p + i + 2);
            if (l < 0xdc00 || l > 0xdfff)
                return -1;
            u = 0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00);
            i += 2;
        }
        if (u == 0 || put_utf8(out, &o, u) != 0)
            return -1;
    }
    out[o] = 0;
    return 0;
}

/* OEM strings (no NTLMSSP_NEGOTIATE_UNICODE): the client's code page, unknown here; read as
 * Latin-1 so that the result is always UTF-8 and the same bytes always give the same name. */
static int oem_name(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0 || put_utf8(out, &o, p[i]) != 0)
            return -1;
    out[o] = 0;
    return 0;
}

/* The security buffer at AT (MS-NLMP §2.2.1.3: Len u16, MaxLen u16, BufferOffset u32, all
 * little-endian). MaxLen is ignored, as Windows does. A zero length needs no offset. */
static int ntlm_field(const uint8_t *tok, size_t len, size_t at, bool unicode, char *out)
{
    uint64_t n = le16(tok + at), off = le32(tok + at + 4);
    out[0] = 0;
    if (n == 0)
        return 0;
    if (off + n > len)
        return -1;
    return unicode ? utf16_name(tok + off, (size_t)n, out) : oem_name(tok + off, (size_t)n, out);
}

/* MS-NLMP §2.2.1: MessageType at offset 8. NEGOTIATE needs its NegotiateFlags (16 bytes),
 * CHALLENGE its ServerChallenge (32), AUTHENTICATE everything up to NegotiateFlags at 60 (64;
 * Version and MIC are optional). */
static enum pc_ntlm_kind ntlm_message(const uint8_t *tok, size_t len, struct pc_ntlm_info *out)
{
    if (len < 12)
        return PC_NTLM_MALFORMED;
    switch (le32(tok + 8)) {
    case 1:
        return len >= 16 ? PC_NTLM_NEGOTIATE : PC_NTLM_MALFORMED;
    case 2:
        return len >= 32 ? PC_NTLM_CHALLENGE : PC_NTLM_MALFORMED;
    case 3:
        break;
    default:
        return PC_NTLM_MALFORMED;
    }
    if (len < 64)
        return PC_NTLM_MALFORMED;
    /* Every payload field (LmChallengeResponse 12, NtChallengeResponse 20, DomainName 28,
     * UserName 36, Workstation 44, EncryptedRandomSessionKey 52) lies within the message: a
     * truncated one is malformed even where the names survive. */
    for (size_t at = 12; at <= 52; at += 8)
        if (le16(tok + at) && (uint64_t)le32(tok + at + 4) + le16(tok + at) > len)
            return PC_NTLM_MALFORMED;
    /* NTLMSSP_NEGOTIATE_UNICODE (0x1) wins over NTLM_NEGOTIATE_OEM (0x2), §2.2.2.5 flag A. */
    bool unicode = le32(tok + 60) & 0x1;
    if (ntlm_field(tok, len, 28, unicode, out->domain) != 0 ||
        ntlm_field(tok, len, 36, unicode, out->user) != 0) {
        out->domain[0] = out->user[0] = 0;
        return PC_NTLM_MALFORMED;
    }
    return PC_NTLM_AUTHENTICATE;
}

static bool is_ntlmssp(struct der t)
{
    return t.n >= 8 && memcmp(t.p, ntlm_signature, 8) == 0;
}

/* ---- SPNEGO (RFC 4178 §4.2) ---- */

/* A mech token found in SPNEGO: NTLMSSP, Kerberos, or (when KRB, a Kerberos mechanism was
 * named) a token of the Kerberos exchange this module does not look into. */
static enum pc_ntlm_kind mech_token(struct der tok, bool krb, struct pc_ntlm_info *out)
{
    if (is_ntlmssp(tok)) {
        out->spnego = true;
        return ntlm_message(tok.p, tok.n, out);
    }
    return krb || kerberos_token(tok) ? PC_NTLM_KERBEROS : PC_NTLM_MALFORMED;
}

/* MechTypeList ::= SEQUENCE OF MechType (§4.1): whether a Kerberos OID is among them. */
static int mech_types(struct der c, bool *krb)
{
    struct der list, oid;
    uint8_t t;
    if (der_only(c, 0x30, &list) != 0)
        return -1;
    while (list.n) {
        if (der_take(&list, &t, &oid) != 0 || t != 0x06)
            return -1;
        if (oid_kerberos(oid))
            *krb = true;
    }
    return 0;
}

/* The fields of NegTokenInit (§4.2.1) or NegTokenResp (§4.2.2), a SEQUENCE of context tags in
 * increasing order (DER); INIT tells which. Later tags (extensions, negHints, mechListMIC) are
 * skipped unread. */
static enum pc_ntlm_kind spnego_fields(struct der body, bool init, struct pc_ntlm_info *out)
{
    struct der seq, c, tok = {0};
    bool krb = false, have = false;
    uint8_t t, last = 0;
    if (der_only(body, 0x30, &seq) != 0)
        return PC_NTLM_MALFORMED;
    while (seq.n) {
        if (der_take(&seq, &t, &c) != 0 || (t & 0xe0) != 0xa0 || (last && t <= last))
            return PC_NTLM_MALFORMED;
        last = t;
        if (t == 0xa0 && init && mech_types(c, &krb) != 0)
            return PC_NTLM_MALFORMED;
        if (t == 0xa1 && !init) { /* supportedMech */
            struct der oid;
            if (der_only(c, 0x06, &oid) != 0)
                return PC_NTLM_MALFORMED;
            krb = oid_kerberos(oid);
        }
        if (t == 0xa2) { /* mechToken / responseToken */
            if (der_only(c, 0x04, &tok) != 0)
                return PC_NTLM_MALFORMED;
            have = true;
        }
    }
    /* No token: a negotiation step, not yet an attempt to sign in. */
    return have ? mech_token(tok, krb, out) : PC_NTLM_NONE;
}

/* ---- the token and the header ---- */

enum pc_ntlm_kind pc_ntlm_parse_token(const uint8_t *p, size_t len, struct pc_ntlm_info *out)
{
    struct der tok = {p, len}, mech, inner, c;
    memset(out, 0, sizeof *out);
    if (is_ntlmssp(tok))
        out->kind = ntlm_message(p, len, out);
    else if (len && p[0] == 0x60 && gss_initial(tok, &mech, &inner) == 0) {
        if (oid_is(mech, oid_spnego, sizeof oid_spnego))
            out->kind =
                der_only(inner, 0xa0, &c) == 0 ? spnego_fields(c, true, out) : PC_NTLM_MALFORMED;
        else
            out->kind = oid_kerberos(mech) ? PC_NTLM_KERBEROS : PC_NTLM_MALFORMED;
    } else if (len && p[0] == 0xa1)
        out->kind = der_only(tok, 0xa1, &c) == 0 ? spnego_fields(c, false, out) : PC_NTLM_MALFORMED;
    else if (len && p[0] == 0x6e)
        out->kind = kerberos_token(tok) ? PC_NTLM_KERBEROS : PC_NTLM_MALFORMED;
    else
        out->kind = PC_NTLM_MALFORMED;
    if (out->kind != PC_NTLM_AUTHENTICATE)
        out->domain[0] = out->user[0] = 0;
    return out->kind;
}

/* tchar (RFC 9110 §5.6.2). */
static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ] (RFC 9110 §11.6.2). Only the
 * scheme decides whether the value is ours; after an NTLM or Negotiate scheme anything but
 * 1*SP and a valid base64 token68 is MALFORMED (never NONE: the caller must not be able to
 * mistake an odd credential for no credential at all). */
enum pc_ntlm_kind pc_ntlm_parse_header(const char *v, size_t n, uint8_t *scratch, size_t cap,
                                       struct pc_ntlm_info *out)
{
    memset(out, 0, sizeof *out);
    while (n && (v[0] == ' ' || v[0] == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    size_t t = 0;
    while (t < n && tchar((unsigned char)v[t]))
        t++;
    if (!((t == 4 && strncasecmp(v, "ntlm", 4) == 0) ||
          (t == 9 && strncasecmp(v, "negotiate", 9) == 0)))
        return out->kind = PC_NTLM_NONE;
    size_t i = t;
    while (i < n && v[i] == ' ')
        i++;
    long len = pc_ntlm_b64_length(v + i, n - i);
    if (i == t || i == n || len <= 0 || (size_t)len > cap)
        return out->kind = PC_NTLM_MALFORMED;
    pc_ntlm_b64_decode(v + i, n - i, scratch, cap);
    enum pc_ntlm_kind k = pc_ntlm_parse_token(scratch, (size_t)len, out);
    explicit_bzero(scratch, (size_t)len);
    return k;
}

const char *pc_ntlm_kind_name(enum pc_ntlm_kind kind)
{
    static const char *const names[] = {
        "NONE", "NTLM_NEGOTIATE", "NTLM_CHALLENGE", "NTLM_AUTHENTICATE", "KERBEROS", "MALFORMED"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

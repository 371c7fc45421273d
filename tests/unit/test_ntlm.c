/* test_ntlm.c — recognising NTLM and Negotiate credentials (src/proxy/ntlm.c, docs/signin.md):
 * base64 (RFC 4648 §10 vectors and the strictness rules), NTLM AUTHENTICATE messages built
 * byte by byte (MS-NLMP §2.2.1.3), bare and inside SPNEGO (RFC 4178 §4.2), Kerberos, and
 * malformed tokens cut at every length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/ntlm.h"
#include "unit.h"

static uint8_t scratch[PC_NTLM_TOKEN_MAX];
static struct pc_ntlm_info info;

/* ---- building tokens ---- */

struct tok {
    uint8_t b[4096];
    size_t n;
};

static void put(struct tok *t, const void *p, size_t n)
{
    if (n)
        memcpy(t->b + t->n, p, n);
    t->n += n;
}

static void put_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, v), put_le16(p + 2, v >> 16);
}

/* The marker byte of the challenge responses: it must never reach the output. */
#define SECRET 0xee

/* An AUTHENTICATE_MESSAGE: 64-byte header, Version (8) and MIC (16), then the payload:
 * LmChallengeResponse (24), NtChallengeResponse (48), DomainName, UserName, Workstation. */
static struct tok type3(const void *dom, size_t dl, const void *user, size_t ul, uint32_t flags)
{
    struct tok t = {.n = 88};
    memcpy(t.b, "NTLMSSP", 8);
    put_le32(t.b + 8, 3);
    uint8_t secret[48];
    memset(secret, SECRET, sizeof secret);
    const struct {
        size_t at;
        const void *p;
        size_t n;
    } f[] = {{12, secret, 24}, {20, secret, 48}, {28, dom, dl}, {36, user, ul}, {44, "W\0S\0", 4}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        put_le16(t.b + f[i].at, (uint32_t)f[i].n);
        put_le16(t.b + f[i].at + 2, (uint32_t)f[i].n);
        put_le32(t.b + f[i].at + 4, (uint32_t)t.n);
        put(&t, f[i].p, f[i].n);
    }
    put_le32(t.b + 60, flags);
    return t;
}

/* ASCII to UTF-16LE. */
static size_t u16(const char *s, uint8_t *out)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        out[2 * i] = (uint8_t)s[i], out[2 * i + 1] = 0;
    return 2 * n;
}

static struct tok type3u(const char *dom, const char *user)
{
    uint8_t d[600], u[600];
    size_t dl = u16(dom, d), ul = u16(user, u);
    return type3(d, dl, u, ul, 0xe2888215); /* a Windows client's flags, UNICODE among them */
}

/* A DER element TAG around C (length in the shortest form, long form over 127). */
static struct tok der(uint8_t tag, const struct tok *c)
{
    struct tok t = {.n = 0};
    t.b[t.n++] = tag;
    if (c->n < 0x80) {
        t.b[t.n++] = (uint8_t)c->n;
    } else if (c->n < 0x100) {
        t.b[t.n++] = 0x81, t.b[t.n++] = (uint8_t)c->n;
    } else {
        t.b[t.n++] = 0x82, t.b[t.n++] = (uint8_t)(c->n >> 8), t.b[t.n++] = (uint8_t)c->n;
    }
    put(&t, c->b, c->n);
    return t;
}

static struct tok raw(const void *p, size_t n)
{
    struct tok t = {.n = 0};
    put(&t, p, n);
    return t;
}

static struct tok cat(const struct tok *a, const struct tok *b)
{
    struct tok t = *a;
    put(&t, b->b, b->n);
    return t;
}

static const uint8_t OID_SPNEGO[] = {0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02};
static const uint8_t OID_NTLM[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
                                   0x01, 0x82, 0x37, 0x02, 0x02, 0x0a};
static const uint8_t OID_KRB5[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                   0xf7, 0x12, 0x01, 0x02, 0x02};
static const uint8_t OID_MSKRB5[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x82,
                                     0xf7, 0x12, 0x01, 0x02, 0x02};

/* NegTokenInit (RFC 4178 §4.2.1) in its GSS wrapper: mechTypes (the OIDs in MECHS), then a
 * mechToken when MT is not NULL. */
static struct tok neg_init(const struct tok *mechs, const struct tok *mt)
{
    struct tok seq = der(0x30, mechs), types = der(0xa0, &seq), body = types;
    if (mt) {
        struct tok os = der(0x04, mt), f = der(0xa2, &os);
        body = cat(&body, &f);
    }
    struct tok s = der(0x30, &body), a0 = der(0xa0, &s), oid = raw(OID_SPNEGO, sizeof OID_SPNEGO);
    struct tok all = cat(&oid, &a0);
    return der(0x60, &all);
}

/* NegTokenResp (§4.2.2): negState accept-incomplete, then the responseToken when RT. */
static struct tok neg_resp(const struct tok *rt)
{
    struct tok st = raw("\x0a\x01\x01", 3), body = der(0xa0, &st);
    if (rt) {
        struct tok os = der(0x04, rt), f = der(0xa2, &os);
        body = cat(&body, &f);
    }
    struct tok s = der(0x30, &body);
    return der(0xa1, &s);
}

/* A Kerberos InitialContextToken (RFC 4121 §4.1): OID, TOK_ID 01 00, an AP-REQ stand-in. */
static struct tok krb_token(void)
{
    struct tok apreq_body = raw("\x30\x03\x02\x01\x05", 5), apreq = der(0x6e, &apreq_body);
    struct tok body = raw(OID_KRB5, sizeof OID_KRB5), id = raw("\x01\x00", 2);
    body = cat(&body, &id);
    body = cat(&body, &apreq);
    return der(0x60, &body);
}

/* ---- running them ---- */

static char hdr[70000];

static void b64(const uint8_t *p, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v =
            (uint32_t)p[i] << 16 | (i + 1 < n ? p[i + 1] : 0) << 8 | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = a[v >> 18 & 63], out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = 0;
}

/* Parses "SCHEME <base64 of T[0, n)>". */
static enum pc_ntlm_kind parse_n(const char *scheme, const struct tok *t, size_t n)
{
    size_t k = strlen(scheme);
    memcpy(hdr, scheme, k);
    hdr[k] = ' ';
    b64(t->b, n, hdr + k + 1);
    return pc_ntlm_parse_header(hdr, strlen(hdr), scratch, sizeof scratch, &info);
}

static enum pc_ntlm_kind parse(const char *scheme, const struct tok *t)
{
    return parse_n(scheme, t, t->n);
}

static enum pc_ntlm_kind parse_str(const char *v)
{
    return pc_ntlm_parse_header(v, strlen(v), scratch, sizeof scratch, &info);
}

/* Nothing of the challenge responses in the output, and the scratch buffer wiped. */
static void check_clean(size_t n)
{
    CHECK(memchr(&info, SECRET, sizeof info) == NULL);
    size_t nz = 0;
    for (size_t i = 0; i < n; i++)
        nz += scratch[i] != 0;
    CHECK_INT(nz, 0);
}

/* Every proper prefix of T is MALFORMED, and never crashes (ASan checks the reads). */
static void check_truncations(const char *scheme, const struct tok *t)
{
    size_t bad = 0;
    for (size_t k = 0; k < t->n; k++)
        if (parse_n(scheme, t, k) != PC_NTLM_MALFORMED || info.user[0] || info.domain[0])
            bad++;
    CHECK_INT(bad, 0);
    /* The same prefixes handed to pc_ntlm_parse_token in buffers of exactly their size. */
    bad = 0;
    for (size_t k = 0; k < t->n; k++) {
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, t->b, k);
        bad += pc_ntlm_parse_token(p, k, &info) != PC_NTLM_MALFORMED;
        free(p);
    }
    CHECK_INT(bad, 0);
}

static void test_base64(void)
{
    static const char *const vec[][2] = {{"", ""},
                                         {"Zg==", "f"},
                                         {"Zm8=", "fo"},
                                         {"Zm9v", "foo"},
                                         {"Zm9vYg==", "foob"},
                                         {"Zm9vYmE=", "fooba"},
                                         {"Zm9vYmFy", "foobar"}};
    uint8_t out[16];
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        long n = pc_ntlm_b64_decode(vec[i][0], strlen(vec[i][0]), out, sizeof out);
        CHECK_INT(n, strlen(vec[i][1]));
        CHECK(n >= 0 && memcmp(out, vec[i][1], (size_t)n) == 0);
    }
    CHECK_INT(pc_ntlm_b64_decode("Zg", 2, out, sizeof out), 1); /* padding may be left out */
    CHECK_INT(pc_ntlm_b64_decode("Zm8", 3, out, sizeof out), 2);
    CHECK_INT(pc_ntlm_b64_length("Zh==", 4), -1); /* spare bits set (§3.5) */
    CHECK_INT(pc_ntlm_b64_length("Zm9=", 4), -1);
    CHECK_INT(pc_ntlm_b64_length("Z===", 4), -1);
    CHECK_INT(pc_ntlm_b64_length("Zg=", 3), -1); /* half a padding */
    CHECK_INT(pc_ntlm_b64_length("Z", 1), -1);
    CHECK_INT(pc_ntlm_b64_length("Zm9v Zg==", 9), -1);
    CHECK_INT(pc_ntlm_b64_length("Zm-_", 4), -1); /* base64url */
    CHECK_INT(pc_ntlm_b64_length("Zg==Zg==", 8), -1);
    CHECK_INT(pc_ntlm_b64_decode("Zm9vYmFy", 8, out, 5), -1); /* does not fit */
    CHECK_INT(pc_ntlm_b64_byte("Zm9vYmFy", 4), 'a');
}

static void test_bare(void)
{
    struct tok t = type3u("CONTOSO", "alice");
    CHECK_INT(parse("NTLM", &t), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.domain, "CONTOSO");
    CHECK_STR(info.user, "alice");
    CHECK(!info.spnego);
    check_clean(t.n);
    CHECK_INT(parse("ntlm", &t), PC_NTLM_AUTHENTICATE);
    CHECK_INT(parse("NEGOTIATE", &t), PC_NTLM_AUTHENTICATE); /* Negotiate may carry bare NTLM */

    /* Non-ASCII: ü (U+00FC) and a surrogate pair (U+1F600). */
    uint8_t u[] = {'J', 0, 0xfc, 0, 'r', 0, 0x3d, 0xd8, 0x00, 0xde};
    t = type3(NULL, 0, u, sizeof u, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.user, "J\xc3\xbcr\xf0\x9f\x98\x80");
    CHECK_STR(info.domain, "");

    /* OEM (no UNICODE flag): bytes read as Latin-1. */
    t = type3("CORP", 4,
              "b\xe9"
              "a",
              3, 0x2);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.user, "b\xc3\xa9"
                         "a");
    CHECK_STR(info.domain, "CORP");

    /* UNICODE wins over OEM when both are set. */
    t = type3("C\0", 2, "a\0", 2, 0x3);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.user, "a");

    /* Anonymous: empty names. */
    t = type3u("", "");
    CHECK_INT(parse("NTLM", &t), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.user, "");

    /* Types 1 and 2, and others. */
    uint8_t m[40] = "NTLMSSP";
    put_le32(m + 8, 1);
    struct tok t1 = raw(m, 32);
    CHECK_INT(parse("NTLM", &t1), PC_NTLM_NEGOTIATE);
    t1 = raw(m, 12);
    CHECK_INT(parse("NTLM", &t1), PC_NTLM_MALFORMED);
    put_le32(m + 8, 2);
    t1 = raw(m, 40);
    CHECK_INT(parse("NTLM", &t1), PC_NTLM_CHALLENGE);
    put_le32(m + 8, 4);
    t1 = raw(m, 40);
    CHECK_INT(parse("NTLM", &t1), PC_NTLM_MALFORMED);
    memcpy(m, "NTLMSSQ", 8);
    put_le32(m + 8, 1);
    t1 = raw(m, 40);
    CHECK_INT(parse("NTLM", &t1), PC_NTLM_MALFORMED);
}

static void test_names(void)
{
    /* 255 bytes of UTF-8 fit (with the NUL, PC_NTLM_NAME_MAX), 256 do not. */
    char name[300];
    memset(name, 'x', 255);
    name[255] = 0;
    struct tok t = type3u("D", name);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_AUTHENTICATE);
    CHECK_INT(strlen(info.user), 255);
    name[255] = 'x', name[256] = 0;
    t = type3u("D", name);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    CHECK_STR(info.user, "");
    /* ... counted in UTF-8 bytes: 128 × é is 256 bytes. */
    uint8_t u[256];
    for (int i = 0; i < 128; i++)
        u[2 * i] = 0xe9, u[2 * i + 1] = 0;
    t = type3(NULL, 0, u, 256, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    t = type3(NULL, 0, u, 254, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_AUTHENTICATE);

    uint8_t odd[] = {'a', 0, 'b'};
    t = type3(NULL, 0, odd, 3, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    uint8_t hi[] = {'a', 0, 0x3d, 0xd8, 'b', 0}; /* high surrogate, then not a low one */
    t = type3(NULL, 0, hi, sizeof hi, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    uint8_t hi_end[] = {'a', 0, 0x3d, 0xd8}; /* high surrogate at the end */
    t = type3(NULL, 0, hi_end, sizeof hi_end, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    uint8_t lo[] = {0x00, 0xde, 'a', 0}; /* lone low surrogate */
    t = type3(NULL, 0, lo, sizeof lo, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    uint8_t nul[] = {'a', 0, 0, 0, 'b', 0}; /* U+0000 would cut the name */
    t = type3(NULL, 0, nul, sizeof nul, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    t = type3(NULL, 0, "a\0b", 3, 2);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    /* Domain bad, user good: nothing is reported. */
    t = type3(odd, 3, "a\0", 2, 1);
    CHECK_INT(parse("NTLM", &t), PC_NTLM_MALFORMED);
    CHECK_STR(info.user, "");
}

static void test_offsets(void)
{
    struct tok t = type3u("CONTOSO", "alice");
    struct tok bad = t;
    put_le32(bad.b + 40, (uint32_t)t.n); /* UserName starts at the end */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_MALFORMED);
    bad = t;
    put_le32(bad.b + 40, (uint32_t)t.n - 9); /* runs 1 byte past the end */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_MALFORMED);
    bad = t;
    put_le32(bad.b + 40, (uint32_t)t.n - 10); /* ends exactly at the end: fine */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_AUTHENTICATE);
    bad = t;
    put_le32(bad.b + 40, 0xffffffff); /* offset + length overflows 32 bits */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_MALFORMED);
    bad = t;
    put_le32(bad.b + 32, 0xfffffff0); /* DomainName */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_MALFORMED);
    bad = t;
    put_le16(bad.b + 36, 0xffff); /* a huge length */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_MALFORMED);
    bad = t;
    put_le16(bad.b + 20, 0xffff); /* NtChallengeResponse: checked too */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_MALFORMED);
    bad = t;
    put_le32(bad.b + 48, 0xffffffff); /* Workstation */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_MALFORMED);
    bad = t;
    put_le16(bad.b + 28, 0), put_le32(bad.b + 32, 0xffffffff); /* empty: offset ignored */
    CHECK_INT(parse("NTLM", &bad), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.domain, "");
    CHECK_STR(info.user, "alice");
    bad = raw(t.b, 63); /* shorter than the fixed part */
    CHECK_INT(pc_ntlm_parse_token(bad.b, bad.n, &info), PC_NTLM_MALFORMED);
}

static void test_spnego(void)
{
    struct tok nt = type3u("CONTOSO", "bob");
    struct tok resp = neg_resp(&nt);
    CHECK_INT(parse("Negotiate", &resp), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.user, "bob");
    CHECK_STR(info.domain, "CONTOSO");
    CHECK(info.spnego);
    check_clean(resp.n);
    check_truncations("Negotiate", &resp);

    struct tok ntlm_oid = raw(OID_NTLM, sizeof OID_NTLM);
    struct tok init = neg_init(&ntlm_oid, &nt);
    CHECK_INT(parse("Negotiate", &init), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.user, "bob");
    check_truncations("Negotiate", &init);

    /* A long name makes the lengths long-form (0x82). */
    char name[200];
    memset(name, 'q', 199);
    name[199] = 0;
    struct tok big = type3u("D", name), bigresp = neg_resp(&big);
    CHECK_INT(bigresp.b[1], 0x82);
    CHECK_INT(parse("Negotiate", &bigresp), PC_NTLM_AUTHENTICATE);
    CHECK_INT(strlen(info.user), 199);

    /* Kerberos: in a NegTokenInit listing it, as the raw GSS token, as a bare AP-REQ. */
    struct tok m1 = raw(OID_MSKRB5, sizeof OID_MSKRB5), m2 = raw(OID_KRB5, sizeof OID_KRB5);
    struct tok mechs = cat(&m1, &m2);
    mechs = cat(&mechs, &ntlm_oid);
    struct tok krb = krb_token(), kinit = neg_init(&mechs, &krb);
    CHECK_INT(parse("Negotiate", &kinit), PC_NTLM_KERBEROS);
    CHECK_STR(info.user, "");
    check_truncations("Negotiate", &kinit);
    CHECK_INT(parse("Negotiate", &krb), PC_NTLM_KERBEROS);
    struct tok apreq = raw(krb.b + 15, krb.n - 15); /* 60 L OID(11) 01 00 | 6e ... */
    CHECK_INT(apreq.b[0], 0x6e);
    CHECK_INT(parse("Negotiate", &apreq), PC_NTLM_KERBEROS);
    /* Kerberos named in mechTypes, the token something else (NegoEx, say). */
    struct tok other = raw("NEGOEXTS\0\0\0\0", 12), kother = neg_init(&mechs, &other);
    CHECK_INT(parse("Negotiate", &kother), PC_NTLM_KERBEROS);
    /* NTLM only, an unknown token: malformed. */
    struct tok nother = neg_init(&ntlm_oid, &other);
    CHECK_INT(parse("Negotiate", &nother), PC_NTLM_MALFORMED);
    /* NTLMSSP inside, whatever the list says. */
    struct tok kn = neg_init(&mechs, &nt);
    CHECK_INT(parse("Negotiate", &kn), PC_NTLM_AUTHENTICATE);

    /* No mech token: a negotiation step, not an attempt. */
    struct tok empty_init = neg_init(&mechs, NULL), empty_resp = neg_resp(NULL);
    CHECK_INT(parse("Negotiate", &empty_init), PC_NTLM_NONE);
    CHECK_INT(parse("Negotiate", &empty_resp), PC_NTLM_NONE);
    /* A GSS token of another mechanism. */
    struct tok ntlmgss_body = cat(&ntlm_oid, &nt), ntlmgss = der(0x60, &ntlmgss_body);
    CHECK_INT(parse("Negotiate", &ntlmgss), PC_NTLM_MALFORMED);
}

static void test_der_strictness(void)
{
    struct tok nt = type3u("C", "u"), resp = neg_resp(&nt);
    CHECK_INT(parse("Negotiate", &resp), PC_NTLM_AUTHENTICATE);
    /* Indefinite length (BER only). */
    struct tok bad = resp;
    CHECK(bad.b[1] == 0x81);
    bad.b[1] = 0x80;
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
    /* Five length octets. */
    uint8_t five[] = {0xa1, 0x85, 0, 0, 0, 0, 0x02, 0x30, 0x00};
    bad = raw(five, sizeof five);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
    /* Four length octets, non-minimal, are fine. */
    uint8_t four[] = {0xa1, 0x84, 0, 0, 0, 0x02, 0x30, 0x00};
    bad = raw(four, sizeof four);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_NONE);
    /* A length over what is left, by one; a huge length. */
    uint8_t over[] = {0xa1, 0x03, 0x30, 0x00};
    bad = raw(over, sizeof over);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
    uint8_t huge[] = {0xa1, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00};
    bad = raw(huge, sizeof huge);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
    /* Bytes after the outer element. */
    uint8_t trail[] = {0xa1, 0x02, 0x30, 0x00, 0x00};
    bad = raw(trail, sizeof trail);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
    /* Fields out of order ([2] before [0]). */
    uint8_t order[] = {0xa1, 0x0a, 0x30, 0x08, 0xa2, 0x02, 0x04, 0x00, 0xa0, 0x02, 0x0a, 0x00};
    bad = raw(order, sizeof order);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
    /* responseToken not an OCTET STRING. */
    uint8_t notos[] = {0xa1, 0x06, 0x30, 0x04, 0xa2, 0x02, 0x05, 0x00};
    bad = raw(notos, sizeof notos);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
    /* High tag number form. */
    uint8_t high[] = {0xbf, 0x01, 0x00};
    bad = raw(high, sizeof high);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
    /* Nothing recognisable. */
    bad = raw("\x30\x00", 2);
    CHECK_INT(parse("Negotiate", &bad), PC_NTLM_MALFORMED);
}

static void test_header(void)
{
    struct tok t = type3u("CONTOSO", "alice");
    char b[1024];
    b64(t.b, t.n, b);
    char v[1100];
    snprintf(v, sizeof v, "  NTLM   %s \t", b); /* OWS around, 1*SP inside */
    CHECK_INT(parse_str(v), PC_NTLM_AUTHENTICATE);
    CHECK_STR(info.user, "alice");
    snprintf(v, sizeof v, "NTLM\t%s", b); /* RFC 9110 §11.6.2: 1*SP, not HTAB */
    CHECK_INT(parse_str(v), PC_NTLM_MALFORMED);
    snprintf(v, sizeof v, "NTLMX %s", b);
    CHECK_INT(parse_str(v), PC_NTLM_NONE);
    snprintf(v, sizeof v, "Basic %s", b);
    CHECK_INT(parse_str(v), PC_NTLM_NONE);
    CHECK_INT(parse_str(""), PC_NTLM_NONE);
    CHECK_INT(parse_str("NTLM"), PC_NTLM_MALFORMED);
    CHECK_INT(parse_str("Negotiate "), PC_NTLM_MALFORMED);
    CHECK_INT(parse_str("NTLM TlRMTVNTUAABAAAA!"), PC_NTLM_MALFORMED);
    CHECK_INT(parse_str("NTLM TlRMTVNT UAABAAAA"), PC_NTLM_MALFORMED);
    CHECK_INT(parse_str("NTLM TlRMTVNTUAABAAAAB"), PC_NTLM_MALFORMED); /* length 1 mod 4 */
    CHECK_INT(parse_str("NTLM TlRMTVNTUAABAAAAAAAAAA=="), PC_NTLM_NEGOTIATE);
    CHECK_INT(parse_str("NTLM TlRMTVNTUAABAAAAAAAAAA="), PC_NTLM_MALFORMED);
    CHECK_INT(parse_str("NTLM TlRMTVNTUAABAAAAAAAAAA"), PC_NTLM_NEGOTIATE);
    CHECK_INT(parse_str("NTLM TlRMTVNTUAABAAAAAAAAAB"), PC_NTLM_MALFORMED); /* spare bits */
    /* Bad base64 in the middle of a real message. */
    snprintf(v, sizeof v, "NTLM %s", b);
    v[20] = '-';
    CHECK_INT(parse_str(v), PC_NTLM_MALFORMED);
    /* A scratch buffer too small. */
    snprintf(v, sizeof v, "NTLM %s", b);
    CHECK_INT(pc_ntlm_parse_header(v, strlen(v), scratch, t.n - 1, &info), PC_NTLM_MALFORMED);
    CHECK_INT(pc_ntlm_parse_header(v, strlen(v), scratch, t.n, &info), PC_NTLM_AUTHENTICATE);
    CHECK_STR(pc_ntlm_kind_name(PC_NTLM_KERBEROS), "KERBEROS");
    /* Every cut of the bare message, and of the base64 text itself. */
    check_truncations("NTLM", &t);
    /* (cutting only the padding leaves the same token: padding is optional) */
    size_t bad = 0, len = strlen(v);
    while (v[len - 1] == '=')
        len--;
    for (size_t k = 0; k < len; k++)
        bad += pc_ntlm_parse_header(v, k, scratch, sizeof scratch, &info) == PC_NTLM_AUTHENTICATE;
    CHECK_INT(bad, 0);
    CHECK_INT(pc_ntlm_parse_header(v, len, scratch, sizeof scratch, &info), PC_NTLM_AUTHENTICATE);
}

int main(void)
{
    test_base64();
    test_bare();
    test_names();
    test_offsets();
    test_spnego();
    test_der_strictness();
    test_header();
    return UNIT_DONE();
}

/* fuzz_ntlm.c — libFuzzer harness: the sign-in token parsers (src/proxy/ntlm.c: NTLMSSP,
 * SPNEGO, Kerberos, base64; src/proxy/signin.c: the web-ticket form, Basic, account keys;
 * docs/signin.md).
 *
 * Input: a decoded token (the bytes of an NTLM or SPNEGO message), also read as the text of an
 * Authorization value and as a form body. Checks:
 *   - no parser reads outside its input (each gets a heap copy of exactly its bytes);
 *   - the header path ("Negotiate " + the base64 of the input) says what the token path says,
 *     and wipes its scratch buffer;
 *   - names are reported only for NTLM_AUTHENTICATE, NUL-terminated within their arrays, UTF-8,
 *     without control bytes below 0x20 other than what UTF-16 can carry (checked: no NUL);
 *   - the same input twice gives the same answer;
 *   - base64: pc_ntlm_b64_decode of our own encoding gives the input back;
 *   - the form and Basic parsers return NUL-terminated names, and account keys built from any
 *     name are UTF-8, NUL-terminated and never longer than asked;
 *   - the SOAP web ticket parser (src/proxy/signin-soap.c, libxml2) answers -1, 0 or 1, and a
 *     user name only with 1, NUL-terminated within its array. */
#include "common.h"
#include "proxy/ntlm.h"
#include "proxy/signin.h"

static uint8_t scratch[PC_NTLM_TOKEN_MAX];

static bool utf8_ok(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        return false;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
        if (c >= 0x80 && (c < 0xc2 || c > 0xf4))
            return false;
        if (i + k > n)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
        i += k;
    }
    return true;
}

static void b64(const uint8_t *p, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)(i + 1 < n ? p[i + 1] : 0) << 8 |
                     (uint32_t)(i + 2 < n ? p[i + 2] : 0);
        out[o++] = a[v >> 18 & 63], out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = 0;
}

static void check_info(const struct pc_ntlm_info *in)
{
    FZ_CHECK(in->kind >= PC_NTLM_NONE && in->kind <= PC_NTLM_MALFORMED, "kind %d", in->kind);
    FZ_CHECK(utf8_ok(in->domain, sizeof in->domain), "domain not UTF-8 or not terminated");
    FZ_CHECK(utf8_ok(in->user, sizeof in->user), "user not UTF-8 or not terminated");
    if (in->kind != PC_NTLM_AUTHENTICATE)
        FZ_CHECK(!in->domain[0] && !in->user[0], "names for kind %s",
                 pc_ntlm_kind_name(in->kind));
    char key[PC_SIGNIN_NAME_MAX];
    for (int q = 0; q < 2; q++) {
        int n = pc_signin_account(in->domain, in->user, q, key, sizeof key);
        FZ_CHECK(n < (int)sizeof key, "key length %d", n);
        if (n >= 0)
            FZ_CHECK((size_t)n == strlen(key) && n > 0 && utf8_ok(key, sizeof key),
                     "bad key of length %d", n);
    }
}

static void token_paths(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    struct pc_ntlm_info a, b;
    enum pc_ntlm_kind k = pc_ntlm_parse_token(p, size, &a);
    FZ_CHECK(k == a.kind, "returned %d, stored %d", k, a.kind);
    check_info(&a);
    pc_ntlm_parse_token(p, size, &b);
    FZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "two parses differ");
    free(p);

    if (size > PC_NTLM_TOKEN_MAX)
        return;
    size_t tl = 10 + (size + 2) / 3 * 4;
    char *h = malloc(tl + 1);
    memcpy(h, "Negotiate ", 10);
    b64(data, size, h + 10);
    long dl = pc_ntlm_b64_length(h + 10, tl - 10);
    FZ_CHECK(dl == (long)size, "b64 length %ld for %zu bytes", dl, size);
    for (size_t i = 0; i < size; i++)
        FZ_CHECK(pc_ntlm_b64_byte(h + 10, i) == data[i], "b64 byte %zu", i);
    enum pc_ntlm_kind hk = pc_ntlm_parse_header(h, tl, scratch, sizeof scratch, &b);
    if (size == 0)
        FZ_CHECK(hk == PC_NTLM_MALFORMED, "empty token: %d", hk);
    else
        FZ_CHECK(hk == k && memcmp(&a, &b, sizeof a) == 0, "header %d, token %d", hk, k);
    for (size_t i = 0; i < size; i++)
        FZ_CHECK(scratch[i] == 0, "scratch byte %zu not wiped", i);
    free(h);
}

static void text_paths(const uint8_t *data, size_t size)
{
    char *t = malloc(size ? size : 1);
    memcpy(t, data, size);
    struct pc_ntlm_info in;
    enum pc_ntlm_kind k = pc_ntlm_parse_header(t, size, scratch, sizeof scratch, &in);
    FZ_CHECK(k == in.kind, "header returned %d, stored %d", k, in.kind);
    check_info(&in);

    struct pc_signin_form f;
    enum pc_signin_form_kind fk = pc_signin_parse_form(t, size, &f);
    FZ_CHECK(fk == f.kind && fk <= PC_SIGNIN_FORM_MALFORMED, "form kind %d", fk);
    FZ_CHECK(strnlen(f.username, sizeof f.username) < sizeof f.username, "form username");
    if (fk == PC_SIGNIN_FORM_MALFORMED)
        FZ_CHECK(!f.username[0] && !f.has_username, "malformed form keeps a username");
    char key[PC_SIGNIN_NAME_MAX];
    int n = pc_signin_account(NULL, f.username, false, key, sizeof key);
    FZ_CHECK(n < 0 || ((size_t)n == strlen(key) && utf8_ok(key, sizeof key)), "form key");

    char user[PC_SIGNIN_NAME_MAX];
    int r = pc_signin_parse_basic(t, size, user, sizeof user);
    FZ_CHECK(r >= -1 && r <= 1, "basic %d", r);
    if (r == 1)
        FZ_CHECK(utf8_ok(user, sizeof user), "basic user not UTF-8");

    r = pc_signin_parse_soap(t, size, user, sizeof user);
    FZ_CHECK(r >= -1 && r <= 1, "soap %d", r);
    FZ_CHECK(strnlen(user, sizeof user) < sizeof user, "soap user not terminated");
    if (r != 1)
        FZ_CHECK(!user[0], "soap user without a token");
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    token_paths(data, size);
    text_paths(data, size);
    return 0;
}

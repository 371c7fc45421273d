/* test_signin.c — sign-in defence, the pure parts (src/proxy/signin.c, docs/signin.md): account
 * keys, the web-ticket form, Basic (RFC 7617), and the lockout table with an injected clock. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/signin.h"
#include "unit.h"

static char key[PC_SIGNIN_NAME_MAX];

static const char *acct(const char *domain, const char *user, bool qualified)
{
    if (pc_signin_account(domain, user, qualified, key, sizeof key) < 0)
        return NULL;
    return key;
}

static void test_account(void)
{
    /* One account whatever the channel writes. */
    CHECK_STR(acct("CONTOSO", "alice", false), "alice");
    CHECK_STR(acct(NULL, "CONTOSO\\Alice", false), "alice");
    CHECK_STR(acct(NULL, "ALICE@contoso.com", false), "alice");
    CHECK_STR(acct("", "alice", false), "alice");
    CHECK_STR(acct("CONTOSO", "Alice@Contoso.COM", false), "alice");
    /* Domain-qualified: the NetBIOS name as it is, or the UPN suffix's first label. */
    CHECK_STR(acct("CONTOSO", "alice", true), "contoso\\alice");
    CHECK_STR(acct(NULL, "CONTOSO\\alice", true), "contoso\\alice");
    CHECK_STR(acct(NULL, "alice@Contoso.com", true), "contoso\\alice");
    CHECK_STR(acct("FABRIKAM", "alice@contoso.com", true), "contoso\\alice"); /* UPN wins */
    CHECK_STR(acct(NULL, "alice", true), "alice");
    CHECK_STR(acct(NULL, "alice@", true), "alice");
    /* Folding: ASCII and Latin-1; others pass. × (U+00D7) is not a letter. */
    CHECK_STR(acct(NULL, "J\xc3\x9cRGEN", false), "j\xc3\xbcrgen");
    CHECK_STR(acct(NULL, "\xc3\x80\xc3\x9e\xc3\x97\xc3\x9f", false),
              "\xc3\xa0\xc3\xbe\xc3\x97\xc3\x9f");
    CHECK_STR(acct(NULL, "\xd0\x90", false), "\xd0\x90"); /* Cyrillic А passes unfolded */
    /* Spaces. */
    CHECK_STR(acct(NULL, "  alice  ", false), "alice");
    CHECK_STR(acct(NULL, "Mary   Ann", false), "mary ann");
    CHECK_STR(acct(NULL, "CONTOSO\\ alice @contoso.com", false), "alice");
    /* Not names. */
    CHECK(acct(NULL, "", false) == NULL);
    CHECK(acct(NULL, "   ", false) == NULL);
    CHECK(acct(NULL, "CONTOSO\\", false) == NULL);
    CHECK(acct(NULL, "@contoso.com", false) == NULL);
    CHECK(acct(NULL, "al\tice", false) == NULL);
    CHECK(acct(NULL, "al\x7f", false) == NULL);
    CHECK(acct(NULL, "\xc3", false) == NULL);             /* cut sequence */
    CHECK(acct(NULL, "\xc0\xa1", false) == NULL);         /* overlong */
    CHECK(acct(NULL, "\xed\xa0\x80", false) == NULL);     /* surrogate */
    CHECK(acct(NULL, "\xf4\x90\x80\x80", false) == NULL); /* over U+10FFFF */
    CHECK(acct(NULL, NULL, false) == NULL);
    /* Bounds: 255 bytes fit, 256 do not; the qualified key counts the domain too. */
    char name[300];
    memset(name, 'a', 255);
    name[255] = 0;
    CHECK_INT(pc_signin_account(NULL, name, false, key, sizeof key), 255);
    CHECK_INT(pc_signin_account("D", name, true, key, sizeof key), -1);
    name[250] = 0;
    CHECK_INT(pc_signin_account("DOM", name, true, key, sizeof key), 254);
    CHECK_INT(pc_signin_account(NULL, "alice", false, key, 5), -1);
    CHECK_INT(pc_signin_account(NULL, "alice", false, key, 6), 5);
}

/* The bytes of the test password: none may be in what the form parser returns. */
#define PW "Q7%25Zk!"

static bool holds_password(const void *p, size_t n)
{
    static const char pw[] = "Q7%Zk!25";
    for (size_t i = 0; i < sizeof pw - 1; i++)
        if (memchr(p, pw[i], n))
            return true;
    return false;
}

static struct pc_signin_form form;

static enum pc_signin_form_kind parse_form(const char *body)
{
    return pc_signin_parse_form(body, strlen(body), &form);
}

static void test_form(void)
{
    CHECK_INT(parse_form("grant_type=password&username=CONTOSO%5Calice&password=" PW),
              PC_SIGNIN_FORM_PASSWORD);
    CHECK_STR(form.username, "CONTOSO\\alice");
    CHECK(form.has_username && form.has_password);
    CHECK(!holds_password(&form, sizeof form));
    /* Order, case of the names, + as space, %uXXXX. */
    CHECK_INT(parse_form("password=" PW "&UserName=bob+smith%40contoso.com&Grant_Type=Password"),
              PC_SIGNIN_FORM_PASSWORD);
    CHECK_STR(form.username, "bob smith@contoso.com");
    CHECK(!holds_password(&form, sizeof form));
    CHECK_INT(parse_form("grant%5Ftype=password&username=%u0061lice%u00e9"),
              PC_SIGNIN_FORM_PASSWORD);
    CHECK_STR(form.username, "alice\xc3\xa9");
    CHECK(!form.has_password);
    CHECK_INT(parse_form("grant_type=password&username=%E2%82%AC"), PC_SIGNIN_FORM_PASSWORD);
    CHECK_STR(form.username, "\xe2\x82\xac");
    CHECK_INT(parse_form("grant_type=password&username=%u20ac"), PC_SIGNIN_FORM_PASSWORD);
    CHECK_STR(form.username, "\xe2\x82\xac");
    /* Missing fields. */
    CHECK_INT(parse_form("grant_type=password&password=" PW), PC_SIGNIN_FORM_PASSWORD);
    CHECK(!form.has_username);
    CHECK_STR(form.username, "");
    CHECK_INT(parse_form("username=alice&password=" PW), PC_SIGNIN_FORM_NONE);
    CHECK_INT(parse_form(""), PC_SIGNIN_FORM_NONE);
    CHECK_INT(parse_form("&&&"), PC_SIGNIN_FORM_NONE);
    CHECK_INT(parse_form("grant_type"), PC_SIGNIN_FORM_OTHER);
    /* The anonymous meeting join, exactly; other grants. */
    CHECK_INT(parse_form("grant_type=urn%3Amicrosoft.rtc%3Aanonmeeting&username=x&password=y"),
              PC_SIGNIN_FORM_ANONYMOUS);
    CHECK_INT(parse_form("grant_type=urn:microsoft.rtc:anonmeeting"), PC_SIGNIN_FORM_ANONYMOUS);
    CHECK_INT(parse_form("grant_type=URN:microsoft.rtc:anonmeeting"), PC_SIGNIN_FORM_OTHER);
    CHECK_INT(parse_form("grant_type=urn:microsoft.rtc:windows"), PC_SIGNIN_FORM_OTHER);
    CHECK_INT(parse_form("grant_type=passwordx&username=a"), PC_SIGNIN_FORM_OTHER);
    CHECK_INT(parse_form("grant_type="
                         "urn:microsoft.rtc:anonmeeting-and-a-very-long-tail-too"),
              PC_SIGNIN_FORM_OTHER);
    /* Malformed: a bad escape in a field we read, a repeated field, a long username. */
    CHECK_INT(parse_form("grant_type=password&username=al%zzice"), PC_SIGNIN_FORM_MALFORMED);
    CHECK_STR(form.username, "");
    CHECK_INT(parse_form("grant_type=password&username=al%2"), PC_SIGNIN_FORM_MALFORMED);
    CHECK_INT(parse_form("grant_type=password&username=%uD800"), PC_SIGNIN_FORM_MALFORMED);
    CHECK_INT(parse_form("grant_type=pass%word"), PC_SIGNIN_FORM_MALFORMED);
    CHECK_INT(parse_form("grant_type=urn:microsoft.rtc:anonmeeting&grant_type=password"),
              PC_SIGNIN_FORM_MALFORMED);
    CHECK_INT(parse_form("grant_type=password&username=a&username=b"), PC_SIGNIN_FORM_MALFORMED);
    CHECK_INT(parse_form("gr%zzant=1&grant_type=password"), PC_SIGNIN_FORM_MALFORMED);
    /* A bad escape in the password (never decoded) or another field does not matter. */
    CHECK_INT(parse_form("grant_type=password&username=a&password=%zz&x=%"),
              PC_SIGNIN_FORM_PASSWORD);
    static char big[1200];
    strcpy(big, "grant_type=password&username=");
    memset(big + strlen(big), 'u', 256);
    CHECK_INT(parse_form(big), PC_SIGNIN_FORM_MALFORMED);
    big[strlen(big) - 1] = 0; /* 255 */
    CHECK_INT(parse_form(big), PC_SIGNIN_FORM_PASSWORD);
    CHECK_INT(strlen(form.username), 255);
    /* A long password, with escapes, before and after: nothing of it is kept. */
    strcpy(big, "password=");
    for (int i = 0; i < 100; i++)
        strcat(big, PW);
    strcat(big, "&grant_type=password&username=alice");
    CHECK_INT(parse_form(big), PC_SIGNIN_FORM_PASSWORD);
    CHECK_STR(form.username, "alice");
    CHECK(!holds_password(&form, sizeof form));
    /* The body is bounded by its length, not by a NUL. */
    CHECK_INT(pc_signin_parse_form("grant_type=password&username=alice", 18, &form),
              PC_SIGNIN_FORM_OTHER); /* "grant_type=passwor" */
}

static char user[PC_SIGNIN_NAME_MAX];

static int basic(const char *v)
{
    return pc_signin_parse_basic(v, strlen(v), user, sizeof user);
}

static void test_basic(void)
{
    CHECK_INT(basic("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), 1); /* RFC 7617 §2: aladdin:opensesame */
    CHECK_STR(user, "aladdin");
    CHECK(memmem(user, sizeof user, "open", 4) == NULL);
    CHECK_INT(basic("  basic   QzpcYWxpY2U6cDpx  "), 1);   /* C:\alice:p:q */
    CHECK_STR(user, "C");                                  /* the first colon ends the user-id */
    CHECK_INT(basic("BASIC Q09OVE9TT1xhbGljZTpwdw=="), 1); /* CONTOSO\alice:pw */
    CHECK_STR(user, "CONTOSO\\alice");
    CHECK_INT(basic("Basic OnB3"), 1); /* ":pw": an empty user-id */
    CHECK_STR(user, "");
    CHECK_INT(basic("Basic dGVzdDoxMjPCow=="), 1); /* RFC 7617 §2.1: test:123£ */
    CHECK_STR(user, "test");
    CHECK_INT(basic("Basic 4pyTOng="), 1); /* "✓:x", UTF-8 */
    CHECK_STR(user, "\xe2\x9c\x93");
    CHECK_INT(basic("Basic 6Tp4"), 1); /* "é:x" in Latin-1 */
    CHECK_STR(user, "\xc3\xa9");
    CHECK_INT(basic("Bearer abc"), 0);
    CHECK_INT(basic("Basicx YTpi"), 0);
    CHECK_INT(basic("NTLM TlRMTVNTUAABAAAA"), 0);
    CHECK_INT(basic(""), 0);
    CHECK_INT(basic("Basic"), -1);
    CHECK_INT(basic("Basic\tYTpi"), -1);
    CHECK_INT(basic("Basic YWxpY2U="), -1); /* "alice", no colon */
    CHECK_INT(basic("Basic YT!i"), -1);
    CHECK_INT(basic("Basic YQlhOmI="), -1); /* a TAB in the user-id */
    CHECK_STR(user, "");
    /* The password's characters never reach USER, even when base64 groups mix the two. */
    CHECK_INT(basic("Basic YWI6WllYV1ZV"), 1); /* ab:ZYXWVU */
    CHECK(memchr(user, 'Z', sizeof user) == NULL && memchr(user, 'Y', sizeof user) == NULL);
    CHECK_STR(user, "ab");
    /* A user-id too long for USER. */
    char v[600] = "Basic ";
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[300];
    memset(raw, 'u', 299);
    raw[298] = ':';
    size_t o = strlen(v);
    for (size_t i = 0; i < 299; i += 3) {
        unsigned x = raw[i] << 16 | raw[i + 1] << 8 | raw[i + 2];
        v[o++] = a[x >> 18], v[o++] = a[x >> 12 & 63], v[o++] = a[x >> 6 & 63], v[o++] = a[x & 63];
    }
    v[o] = 0;
    CHECK_INT(basic(v), -1);
    CHECK_INT(pc_signin_parse_basic("Basic YWI6Yw==", 14, user, 2), -1);
    CHECK_INT(pc_signin_parse_basic("Basic YWI6Yw==", 14, user, 3), 1);
}

/* ---- the lockout table ---- */

static struct pc_addr ip4(const char *s)
{
    struct pc_addr a = {.len = sizeof(struct sockaddr_in)};
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, s, &sin->sin_addr);
    return a;
}

static struct pc_addr ip6(const char *s)
{
    struct pc_addr a = {.len = sizeof(struct sockaddr_in6)};
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;
    sin6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, s, &sin6->sin6_addr);
    return a;
}

static struct pc_signin_table *table(unsigned accounts, unsigned sources,
                                     const struct pc_signin_policy *p)
{
    size_t n = pc_signin_size(accounts, sources);
    void *mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
    struct pc_signin_table *t = pc_signin_init(mem, n, p, accounts, sources, 12345);
    CHECK(t != NULL);
    return t;
}

static struct pc_signin_policy defaults(void)
{
    struct pc_signin_policy p;
    pc_signin_policy_default(&p);
    return p;
}

#define T0 1000000 /* the test clock's origin */

static void test_init(void)
{
    struct pc_signin_policy p = defaults();
    CHECK_INT(p.threshold, 4);
    CHECK_INT(p.window, 900);
    CHECK_INT(p.duration, 900);
    CHECK_INT(p.familiar_ttl, 14 * 86400);
    CHECK_INT(p.spray_accounts, 10);
    CHECK_INT(p.spray_window, 600);
    size_t n = pc_signin_size(8, 8);
    CHECK(n > 0);
    CHECK_INT(pc_signin_size(0, 8), 0);
    static uint64_t mem[1 << 16];
    CHECK(n <= sizeof mem);
    CHECK(pc_signin_init(mem, n - 1, &p, 8, 8, 1) == NULL);
    CHECK(pc_signin_init((char *)mem + 1, n, &p, 8, 8, 1) == NULL);
    p.threshold = 17;
    CHECK(pc_signin_init(mem, n, &p, 8, 8, 1) == NULL);
    p.threshold = 0;
    CHECK(pc_signin_init(mem, n, &p, 8, 8, 1) == NULL);
    p = defaults(), p.spray_accounts = 33;
    CHECK(pc_signin_init(mem, n, &p, 8, 8, 1) == NULL);
    p = defaults(), p.window = 0;
    CHECK(pc_signin_init(mem, n, &p, 8, 8, 1) == NULL);
    p = defaults();
    CHECK(pc_signin_init(mem, n, &p, 8, 8, 1) != NULL);
    /* IPv6 sources are keyed by /64; IPv4-mapped ones as IPv4. */
    uint8_t k1[16], k2[16], k3[16];
    struct pc_addr a = ip6("2001:db8:1:2::1"), b = ip6("2001:db8:1:2:aaaa::9"),
                   c = ip6("2001:db8:1:3::1");
    pc_signin_source_key(&a, k1), pc_signin_source_key(&b, k2), pc_signin_source_key(&c, k3);
    CHECK(memcmp(k1, k2, 16) == 0);
    CHECK(memcmp(k1, k3, 16) != 0);
    a = ip4("192.0.2.1"), b = ip6("::ffff:192.0.2.1"), c = ip4("192.0.2.2");
    pc_signin_source_key(&a, k1), pc_signin_source_key(&b, k2), pc_signin_source_key(&c, k3);
    CHECK(memcmp(k1, k2, 16) == 0);
    CHECK(memcmp(k1, k3, 16) != 0);
}

/* N failures for ACCOUNT from SRC at NOW, each checked first; how many were allowed. */
static int fail_n(struct pc_signin_table *t, int64_t now, const char *account,
                  const struct pc_addr *src, int n)
{
    int allowed = 0;
    for (int i = 0; i < n; i++) {
        if (pc_signin_check(t, now, account, src) != PC_SIGNIN_ALLOW)
            continue;
        allowed++;
        pc_signin_result(t, now, account, src, false);
    }
    return allowed;
}

static void test_threshold(void)
{
    struct pc_signin_policy p = defaults();
    struct pc_signin_table *t = table(64, 64, &p);
    struct pc_addr x = ip4("198.51.100.7"), y = ip4("198.51.100.8");
    struct pc_signin_stats st;
    CHECK_INT(pc_signin_check(t, T0, "alice", &x), PC_SIGNIN_ALLOW);
    CHECK_INT(fail_n(t, T0, "alice", &x, 3), 3);
    CHECK_INT(pc_signin_check(t, T0, "alice", &x), PC_SIGNIN_ALLOW);
    pc_signin_result(t, T0 + 1, "alice", &x, false); /* the 4th */
    CHECK_INT(pc_signin_check(t, T0 + 1, "alice", &x), PC_SIGNIN_REFUSE_ACCOUNT);
    CHECK_INT(pc_signin_check(t, T0 + 1, "alice", &y), PC_SIGNIN_REFUSE_ACCOUNT);
    CHECK_INT(pc_signin_check(t, T0 + 1, "bob", &x), PC_SIGNIN_ALLOW);
    pc_signin_stats(t, T0 + 1, &st);
    CHECK_INT(st.accounts, 1);
    CHECK_INT(st.accounts_locked, 1);
    CHECK_INT(st.sources, 1);
    CHECK_INT(st.sources_locked, 0);
    /* Duration: refused until T0 + 1 + 900, then allowed. */
    CHECK_INT(pc_signin_check(t, T0 + 900, "alice", &y), PC_SIGNIN_REFUSE_ACCOUNT);
    CHECK_INT(pc_signin_check(t, T0 + 901, "alice", &y), PC_SIGNIN_ALLOW);
    pc_signin_stats(t, T0 + 901, &st);
    CHECK_INT(st.accounts_locked, 0);
    /* The window is (now - 900, now]: at T0 + 901 the four failures are all out of it, so the
     * account has its whole allowance again. */
    pc_signin_result(t, T0 + 901, "alice", &y, false);
    CHECK_INT(pc_signin_check(t, T0 + 901, "alice", &y), PC_SIGNIN_ALLOW);
    CHECK_INT(fail_n(t, T0 + 901, "alice", &y, 5), 3);

    /* Kerberos (no account) names nobody: never REFUSE_ACCOUNT. */
    CHECK_INT(fail_n(t, T0, NULL, &x, 3), 3);
    CHECK_INT(pc_signin_check(t, T0, NULL, &x), PC_SIGNIN_ALLOW);
    CHECK_INT(pc_signin_check(t, T0, "", &x), PC_SIGNIN_ALLOW);
    free(t);
}

static void test_window(void)
{
    struct pc_signin_policy p = defaults();
    struct pc_signin_table *t = table(64, 64, &p);
    struct pc_addr x = ip4("203.0.113.5");
    /* Failures spread wider than the window never lock: one every 301 s, 3 per 900 s. */
    int allowed = 0;
    for (int i = 0; i < 20; i++)
        allowed += fail_n(t, T0 + 301 * i, "carol", &x, 1);
    CHECK_INT(allowed, 20);
    /* One every 299 s: the 4th is within 900 s of the 1st... of the last 4. */
    allowed = 0;
    for (int i = 0; i < 6; i++)
        allowed += fail_n(t, T0 + 10000 + 299 * i, "dave", &x, 1);
    CHECK_INT(allowed, 4);
    CHECK_INT(pc_signin_check(t, T0 + 10000 + 299 * 3, "dave", &x), PC_SIGNIN_REFUSE_ACCOUNT);
    /* A success clears the allowance (AD resets badPwdCount). */
    CHECK_INT(fail_n(t, T0, "erin", &x, 3), 3);
    pc_signin_result(t, T0, "erin", &x, true);
    CHECK_INT(fail_n(t, T0, "erin", &x, 3), 3);
    CHECK_INT(pc_signin_check(t, T0, "erin", &x), PC_SIGNIN_ALLOW);
    /* A lock shorter than the window: when it ends, the failures are still in the window, and
     * the next failure locks again at once. */
    free(t);
    p.duration = 60;
    t = table(8, 8, &p);
    CHECK_INT(fail_n(t, T0, "g", &x, 9), 4);
    CHECK_INT(pc_signin_check(t, T0 + 59, "g", &x), PC_SIGNIN_REFUSE_ACCOUNT);
    CHECK_INT(fail_n(t, T0 + 60, "g", &x, 9), 1);
    CHECK_INT(pc_signin_check(t, T0 + 60, "g", &x), PC_SIGNIN_REFUSE_ACCOUNT);
    CHECK_INT(pc_signin_check(t, T0 + 120, "g", &x), PC_SIGNIN_ALLOW);
    p.duration = 900;
    /* Threshold 1 and 16, the bounds. */
    free(t);
    p.threshold = 16;
    t = table(8, 8, &p);
    CHECK_INT(fail_n(t, T0, "f", &x, 40), 16);
    free(t);
    p.threshold = 1;
    t = table(8, 8, &p);
    CHECK_INT(fail_n(t, T0, "f", &x, 40), 1);
    free(t);
}

static void test_familiar(void)
{
    struct pc_signin_policy p = defaults();
    struct pc_signin_table *t = table(64, 64, &p);
    struct pc_addr home = ip4("192.0.2.10"), evil = ip4("198.51.100.66"),
                   evil2 = ip4("198.51.100.67");
    pc_signin_result(t, T0, "alice", &home, true);
    /* The attacker locks alice everywhere but at home. */
    CHECK_INT(fail_n(t, T0 + 10, "alice", &evil, 10), 4);
    CHECK_INT(pc_signin_check(t, T0 + 10, "alice", &evil), PC_SIGNIN_REFUSE_ACCOUNT);
    CHECK_INT(pc_signin_check(t, T0 + 10, "alice", &evil2), PC_SIGNIN_REFUSE_ACCOUNT);
    CHECK_INT(pc_signin_check(t, T0 + 10, "alice", &home), PC_SIGNIN_ALLOW);
    pc_signin_result(t, T0 + 11, "alice", &home, true);
    CHECK_INT(pc_signin_check(t, T0 + 12, "alice", &evil), PC_SIGNIN_REFUSE_ACCOUNT);
    /* Home has its own allowance: mistyping there locks home only. */
    CHECK_INT(fail_n(t, T0 + 20, "alice", &home, 10), 4);
    CHECK_INT(pc_signin_check(t, T0 + 20, "alice", &home), PC_SIGNIN_REFUSE_ACCOUNT);
    struct pc_signin_stats st;
    pc_signin_stats(t, T0 + 20, &st);
    CHECK_INT(st.accounts_locked, 2);
    /* The same /64 for IPv6: a new privacy address at home is still home. */
    struct pc_addr h6 = ip6("2001:db8:5:6::10"), h6b = ip6("2001:db8:5:6:1:2:3:4");
    pc_signin_result(t, T0, "bob", &h6, true);
    CHECK_INT(fail_n(t, T0, "bob", &evil, 4), 4);
    CHECK_INT(pc_signin_check(t, T0, "bob", &h6b), PC_SIGNIN_ALLOW);
    /* Familiarity ends after familiar_ttl. */
    CHECK_INT(pc_signin_check(t, T0 + 14 * 86400 - 1, "bob", &h6b), PC_SIGNIN_ALLOW);
    CHECK_INT(fail_n(t, T0 + 14 * 86400 - 1, "bob", &evil, 4), 4);
    CHECK_INT(pc_signin_check(t, T0 + 14 * 86400 - 1, "bob", &h6b), PC_SIGNIN_ALLOW);
    CHECK_INT(pc_signin_check(t, T0 + 14 * 86400, "bob", &h6b), PC_SIGNIN_REFUSE_ACCOUNT);
    /* At most PC_SIGNIN_FAMILIAR_MAX per account: a fifth success pushes out the oldest. */
    struct pc_addr s[5] = {ip4("10.0.0.1"), ip4("10.0.0.2"), ip4("10.0.0.3"), ip4("10.0.0.4"),
                           ip4("10.0.0.5")};
    for (int i = 0; i < 5; i++)
        pc_signin_result(t, T0 + i, "carol", &s[i], true);
    CHECK_INT(fail_n(t, T0 + 10, "carol", &evil, 4), 4);
    CHECK_INT(pc_signin_check(t, T0 + 10, "carol", &s[0]), PC_SIGNIN_REFUSE_ACCOUNT);
    int ok = 0;
    for (int i = 1; i < 5; i++)
        ok += pc_signin_check(t, T0 + 10, "carol", &s[i]) == PC_SIGNIN_ALLOW;
    CHECK_INT(ok, 4);
    free(t);
}

static void test_spray(void)
{
    struct pc_signin_policy p = defaults();
    struct pc_signin_table *t = table(256, 64, &p);
    struct pc_addr x = ip4("198.51.100.99"), other = ip4("198.51.100.100");
    char name[32];
    /* One password, many users: the tenth distinct account locks the source. */
    int allowed = 0;
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "user%d", i);
        allowed += fail_n(t, T0 + i, name, &x, 1);
    }
    CHECK_INT(allowed, 10);
    snprintf(name, sizeof name, "user%d", 3);
    CHECK_INT(pc_signin_check(t, T0 + 50, name, &x), PC_SIGNIN_REFUSE_SOURCE);
    CHECK_INT(pc_signin_check(t, T0 + 50, "someone", &x), PC_SIGNIN_REFUSE_SOURCE);
    CHECK_INT(pc_signin_check(t, T0 + 50, "someone", &other), PC_SIGNIN_ALLOW);
    struct pc_signin_stats st;
    pc_signin_stats(t, T0 + 50, &st);
    CHECK_INT(st.sources_locked, 1);
    /* Refused for spray_duration from the tenth failure (T0 + 9). */
    CHECK_INT(pc_signin_check(t, T0 + 9 + 3599, "someone", &x), PC_SIGNIN_REFUSE_SOURCE);
    CHECK_INT(pc_signin_check(t, T0 + 9 + 3600, "someone", &x), PC_SIGNIN_ALLOW);
    /* Repeated failures for one account are one account, not a spray. */
    CHECK_INT(fail_n(t, T0, "same", &other, 3), 3);
    CHECK_INT(pc_signin_check(t, T0, "x", &other), PC_SIGNIN_ALLOW);
    /* Spread over more than spray_window: no spray (9 in any 600 s). */
    struct pc_addr slow = ip4("198.51.100.101");
    allowed = 0;
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof name, "slow%d", i);
        allowed += fail_n(t, T0 + 67 * i, name, &slow, 1);
    }
    CHECK_INT(allowed, 30);
    /* Kerberos failures (no account) count as distinct accounts. */
    struct pc_addr k = ip4("198.51.100.102");
    CHECK_INT(fail_n(t, T0, NULL, &k, 20), 10);
    CHECK_INT(pc_signin_check(t, T0, NULL, &k), PC_SIGNIN_REFUSE_SOURCE);
    /* A familiar source is exempt: the company's NAT where ten users mistyped. */
    struct pc_addr nat = ip4("192.0.2.200");
    pc_signin_result(t, T0, "boss", &nat, true);
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "staff%d", i);
        fail_n(t, T0, name, &nat, 1);
    }
    CHECK_INT(pc_signin_check(t, T0, "staff0", &nat), PC_SIGNIN_REFUSE_SOURCE);
    CHECK_INT(pc_signin_check(t, T0, "boss", &nat), PC_SIGNIN_ALLOW);
    /* ...and its failures there do not count toward a spray. */
    struct pc_addr nat2 = ip4("192.0.2.201");
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "emp%d", i);
        pc_signin_result(t, T0, name, &nat2, true);
        pc_signin_result(t, T0 + 1, name, &nat2, false);
    }
    CHECK_INT(pc_signin_check(t, T0 + 1, "newcomer", &nat2), PC_SIGNIN_ALLOW);
    free(t);
}

static void test_capacity(void)
{
    struct pc_signin_policy p = defaults();
    struct pc_signin_table *t = table(4, 2, &p);
    struct pc_addr x = ip4("203.0.113.1");
    struct pc_signin_stats st;
    char name[32];
    /* alice at 3 failures, then 3 more accounts: alice is the oldest but stays (4 fit). */
    CHECK_INT(fail_n(t, T0, "alice", &x, 3), 3);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "n%d", i);
        fail_n(t, T0, name, &x, 1);
    }
    pc_signin_stats(t, T0, &st);
    CHECK_INT(st.accounts, 4);
    CHECK_INT(fail_n(t, T0, "alice", &x, 1), 1);
    CHECK_INT(pc_signin_check(t, T0, "alice", &x), PC_SIGNIN_REFUSE_ACCOUNT);
    /* Four new accounts push alice (least recently used) out: her lock is forgotten. */
    for (int i = 3; i < 7; i++) {
        snprintf(name, sizeof name, "n%d", i);
        pc_signin_result(t, T0, name, &x, true);
    }
    pc_signin_stats(t, T0, &st);
    CHECK_INT(st.accounts, 4);
    CHECK_INT(pc_signin_check(t, T0, "alice", &x), PC_SIGNIN_ALLOW);
    /* Recently used entries stay: touching n6 keeps it while n7..n9 come in. */
    CHECK_INT(fail_n(t, T0, "n6", &x, 3), 3);
    for (int i = 7; i < 10; i++) {
        snprintf(name, sizeof name, "n%d", i);
        pc_signin_result(t, T0, name, &x, true);
        pc_signin_check(t, T0, "n6", &x);
    }
    CHECK_INT(fail_n(t, T0, "n6", &x, 5), 1);
    /* Sources: 2 entries; a third evicts the oldest, whose spray lock goes with it. */
    free(t);
    t = table(64, 2, &p);
    struct pc_addr a = ip4("10.1.0.1"), b = ip4("10.1.0.2"), c = ip4("10.1.0.3");
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "s%d", i);
        fail_n(t, T0, name, &a, 1);
    }
    CHECK_INT(pc_signin_check(t, T0, "z", &a), PC_SIGNIN_REFUSE_SOURCE);
    fail_n(t, T0, "z", &b, 1);
    fail_n(t, T0, "z", &c, 1);
    pc_signin_stats(t, T0, &st);
    CHECK_INT(st.sources, 2);
    CHECK_INT(pc_signin_check(t, T0, "y", &a), PC_SIGNIN_ALLOW);
    free(t);
    /* Many entries through a small table: the index stays consistent (every live entry found,
     * evicted ones not). */
    p.spray_window = 1; /* one account per second: never a spray */
    t = table(16, 16, &p);
    int wrong = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "m%d", i);
        fail_n(t, T0 + 2 * i, name, &x, 4);
        if (i >= 15)
            for (int j = i - 15; j <= i; j++) {
                snprintf(name, sizeof name, "m%d", j);
                wrong += pc_signin_check(t, T0 + 2 * i, name, &x) != PC_SIGNIN_REFUSE_ACCOUNT;
            }
    }
    CHECK_INT(wrong, 0);
    /* m1983, pushed out last, would still be locked (until T0 + 3966 + 900). */
    CHECK_INT(pc_signin_check(t, T0 + 3998, "m1983", &x), PC_SIGNIN_ALLOW);
    CHECK_INT(pc_signin_check(t, T0 + 3998, "m1984", &x), PC_SIGNIN_REFUSE_ACCOUNT);
    free(t);
}

/* ---- the SOAP web ticket (signin-soap.c) ---- */

#define WSSE "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define ENV_OPEN                                                                                   \
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header><o:Security "     \
    "xmlns:o=\"" WSSE "\">"
#define ENV_CLOSE "</o:Security></s:Header><s:Body/></s:Envelope>"

static int soap(const char *body, char *user, size_t cap)
{
    return pc_signin_parse_soap(body, strlen(body), user, cap);
}

static void test_soap(void)
{
    char user[PC_SIGNIN_NAME_MAX];
    CHECK_INT(soap(ENV_OPEN "<o:UsernameToken><o:Username>CONTOSO\\alice</o:Username>"
                            "<o:Password>" PW "</o:Password></o:UsernameToken>" ENV_CLOSE,
                   user, sizeof user),
              1);
    CHECK_STR(user, "CONTOSO\\alice");
    /* Any prefix, the namespace is what counts; entities in the name are read as text. */
    CHECK_INT(soap("<e xmlns:w=\"" WSSE "\"><w:UsernameToken><w:Username>b&amp;b</w:Username>"
                   "</w:UsernameToken></e>",
                   user, sizeof user),
              1);
    CHECK_STR(user, "b&b");
    /* No UsernameToken: another kind of sign-in. */
    CHECK_INT(soap(ENV_OPEN ENV_CLOSE, user, sizeof user), 0);
    CHECK_STR(user, "");
    /* A Username outside the wsse namespace does not count, nor does one outside a token. */
    CHECK_INT(
        soap("<e><UsernameToken><Username>x</Username></UsernameToken></e>", user, sizeof user), 0);
    /* A token without a readable Username, a DTD, bad XML, too deep, too long: refused. */
    CHECK_INT(soap(ENV_OPEN
                   "<o:UsernameToken><o:Password>p</o:Password></o:UsernameToken>" ENV_CLOSE,
                   user, sizeof user),
              -1);
    CHECK_INT(soap("<!DOCTYPE e [<!ENTITY u \"bob\">]><e>&u;</e>", user, sizeof user), -1);
    CHECK_INT(soap("<e><unclosed></e>", user, sizeof user), -1);
    CHECK_INT(soap("", user, sizeof user), -1);
    char deep[40 * 7 + 1] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 40; i++)
        strcat(deep, "</a>");
    CHECK_INT(soap(deep, user, sizeof user), -1);
    CHECK_INT(soap(ENV_OPEN
                   "<o:UsernameToken><o:Username>toolong</o:Username></o:UsernameToken>" ENV_CLOSE,
                   user, 4),
              -1);
    static char big[PC_SIGNIN_SOAP_MAX + 2];
    memset(big, ' ', sizeof big - 1);
    CHECK_INT(soap(big, user, sizeof user), -1);
}

static void count_lock(const struct pc_signin_lock *l, void *arg)
{
    int *n = arg;
    n[l->source ? 1 : 0]++;
}

/* The operations: listing, expiring (once per lock) and clearing. */
static void test_locks(void)
{
    struct pc_signin_policy p = defaults();
    p.spray_accounts = 2;
    struct pc_signin_table *t = table(64, 64, &p);
    struct pc_addr x = ip4("198.51.100.7"), y = ip4("198.51.100.9");
    CHECK_INT(fail_n(t, T0, "alice", &x, 4), 4); /* alice locked (one account: no spray) */
    pc_signin_result(t, T0, "bob", &y, false);
    pc_signin_result(t, T0, "carol", &y, false); /* y: two accounts, a spray */
    int n[2] = {0, 0};
    pc_signin_each_lock(t, T0 + 1, count_lock, n);
    CHECK_INT(n[0], 1);
    CHECK_INT(n[1], 1);
    /* Nothing has run out yet; at the end of the source's hour both have, once. */
    n[0] = n[1] = 0;
    pc_signin_expire(t, T0 + 1, count_lock, n);
    CHECK_INT(n[0] + n[1], 0);
    pc_signin_expire(t, T0 + 3600, count_lock, n);
    CHECK_INT(n[0], 1);
    CHECK_INT(n[1], 1);
    n[0] = n[1] = 0;
    pc_signin_expire(t, T0 + 3601, count_lock, n);
    CHECK_INT(n[0] + n[1], 0);
    /* Clearing: the account's allowance comes back at once; an unknown one is reported. */
    CHECK_INT(fail_n(t, T0 + 4000, "alice", &x, 4), 4);
    CHECK_INT(pc_signin_check(t, T0 + 4000, "alice", &x), PC_SIGNIN_REFUSE_ACCOUNT);
    CHECK(pc_signin_clear_account(t, "alice"));
    CHECK_INT(pc_signin_check(t, T0 + 4000, "alice", &x), PC_SIGNIN_ALLOW);
    CHECK(!pc_signin_clear_account(t, "nobody"));
    pc_signin_result(t, T0 + 4000, "dave", &y, false);
    pc_signin_result(t, T0 + 4000, "erin", &y, false);
    CHECK_INT(pc_signin_check(t, T0 + 4000, "frank", &y), PC_SIGNIN_REFUSE_SOURCE);
    CHECK(pc_signin_clear_source(t, &y));
    CHECK_INT(pc_signin_check(t, T0 + 4000, "frank", &y), PC_SIGNIN_ALLOW);
    struct pc_addr z = ip4("192.0.2.200");
    CHECK(!pc_signin_clear_source(t, &z));
    free(t);
}

int main(void)
{
    test_account();
    test_form();
    test_basic();
    test_soap();
    test_init();
    test_threshold();
    test_window();
    test_familiar();
    test_spray();
    test_capacity();
    test_locks();
    return UNIT_DONE();
}

/* test_policy.c — unit tests of src/proxy/policy.c: path normalisation, deny_paths and the
 * CVE-2023-41763 meeturl check (docs/signin.md, "The exposed surface"). */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "proxy/policy.h"
#include "unit.h"

static struct pc_config *cfg;

static const char *norm(const char *t)
{
    static char out[PC_MAX_POLICY_PATH];
    long n = pc_policy_path(t, strlen(t), out, sizeof out);
    return n < 0 ? NULL : out;
}

static void test_path(void)
{
    CHECK_STR(norm("/abs/handler"), "/abs/handler");
    CHECK_STR(norm("/ABS/Handler?x=/../y"), "/abs/handler");
    CHECK_STR(norm("/"), "/");
    CHECK_STR(norm(""), "/");
    CHECK_STR(norm("//persistentchat//rm/"), "/persistentchat/rm/");
    CHECK_STR(norm("/persistentchat/./rm/"), "/persistentchat/rm/");
    CHECK_STR(norm("/x/../persistentchat/rm/"), "/persistentchat/rm/");
    CHECK_STR(norm("/../../persistentchat/rm"), "/persistentchat/rm");
    CHECK_STR(norm("/persistentchat%2frm%2F"), "/persistentchat/rm/");
    CHECK_STR(norm("/%50ersistentChat/RM/"), "/persistentchat/rm/");
    CHECK_STR(norm("\\persistentchat\\rm\\"), "/persistentchat/rm/");
    CHECK_STR(norm("/a/%2e%2e/scheduler"), "/scheduler");
    CHECK(norm("/a%zz") == NULL);
    CHECK(norm("/a%2") == NULL);
    CHECK(norm("/a%00b") == NULL);
    CHECK(norm("/a%0ab") == NULL);
    CHECK_STR(norm("/%u0053cheduler"), "/scheduler"); /* http.sys takes %u too */
    CHECK(norm("/a%u00") == NULL);
    CHECK(norm("/a%ud800") == NULL);
    char small[8];
    CHECK_INT((int)pc_policy_path("/abcdefghij", 11, small, sizeof small), -1);
}

static const struct pc_name *name_of(const char *host)
{
    return pc_config_route(cfg, host, strlen(host));
}

static int check(const char *host, const char *target)
{
    return pc_policy_check(cfg, name_of(host), target, strlen(target), "192.0.2.1");
}

static void test_deny(void)
{
    const char *h = "webext.contoso.com";
    CHECK_INT(check(h, "/persistentchat/rm/x"), 403);
    CHECK_INT(check(h, "/PersistentChat/RM"), 403);
    CHECK_INT(check(h, "/persistentchat/rm%2fx"), 403);
    CHECK_INT(check(h, "//PERSISTENTCHAT/./rm/"), 403);
    CHECK_INT(check(h, "/x/..%2fscheduler"), 403);
    CHECK_INT(check(h, "/Scheduler/default.aspx?a=b"), 403);
    CHECK_INT(check(h, "/hybridconfig"), 403);
    CHECK_INT(check(h, "/schedulerX"), 0); /* a prefix ends at a segment */
    CHECK_INT(check(h, "/persistentchat/"), 0);
    CHECK_INT(check(h, "/abs/handler?p=/scheduler"), 0);  /* the query is not the path */
    CHECK_INT(check(h, "/a%zz"), 400);                    /* unreadable: refused */
    CHECK_INT(check("owa.contoso.com", "/scheduler"), 0); /* another pool's rules */
}

/* "?meeturl=" + the base64 of URL. */
static const char *lwa(const char *page, const char *url)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static char t[1024];
    int n = snprintf(t, sizeof t, "%s?lang=en&meeturl=", page);
    size_t l = strlen(url);
    for (size_t i = 0; i < l; i += 3) {
        unsigned v = (unsigned char)url[i] << 16 |
                     (i + 1 < l ? (unsigned char)url[i + 1] << 8 : 0) |
                     (i + 2 < l ? (unsigned char)url[i + 2] : 0);
        t[n++] = a[v >> 18 & 63], t[n++] = a[v >> 12 & 63];
        t[n++] = i + 1 < l ? a[v >> 6 & 63] : '=';
        t[n++] = i + 2 < l ? a[v & 63] : '=';
    }
    t[n] = '\0';
    return t;
}

static void test_meeturl(void)
{
    const char *h = "meet.contoso.com", *page = "/lwa/WebPages/LwaClient.aspx";
    CHECK_INT(check(h, lwa(page, "https://meet.contoso.com/alice/ABC123")), 0);
    CHECK_INT(check(h, lwa(page, "https://WebExt.contoso.com:443/x")), 0);
    CHECK_INT(check(h, lwa(page, "https://other.contoso.com/x")), 0); /* published elsewhere */
    CHECK_INT(check(h, lwa(page, "http://169.254.169.254/latest/meta-data")), 403);
    CHECK_INT(check(h, lwa(page, "https://attacker.example/")), 403);
    CHECK_INT(check(h, lwa(page, "https://meet.contoso.com@attacker.example/")), 403);
    CHECK_INT(check(h, lwa(page, "file:///etc/passwd")), 403);
    CHECK_INT(check(h, lwa("/LWA/webpages/LWACLIENT.ASPX", "https://attacker.example/")), 403);
    CHECK_INT(check(h, lwa("/lwa/WebPages/%4cwaClient.aspx", "https://attacker.example/")), 403);
    CHECK_INT(check(h, lwa("/lwa/x/../WebPages/LwaClient.aspx/", "https://attacker.example/")),
              403);
    CHECK_INT(check(h, "/lwa/WebPages/LwaClient.aspx?meeturl=!!notbase64"), 403);
    /* However the parameter is spelled, as ASP.NET reads a query (%XX, %uXXXX, any case). */
    CHECK_INT(check(h, "/lwa/WebPages/LwaClient.aspx?m%65%65%74%75%72%6c=aGk="), 403);
    CHECK_INT(check(h, "/lwa/WebPages/LwaClient.aspx?me%u0065tUrl=aGk="), 403);
    CHECK_INT(check(h, lwa("/lwa/WebPages/%u004cwaClient.aspx", "https://attacker.example/")), 403);
    CHECK_INT(check(h, "/lwa/WebPages/LwaClient.aspx?MeetUrl="), 403);
    char two[2048];
    snprintf(two, sizeof two, "%s&meeturl=aGk=", lwa(page, "https://meet.contoso.com/a/B"));
    CHECK_INT(check(h, two), 403); /* twice: ASP.NET would join them */
    CHECK_INT(check(h, "/lwa/WebPages/LwaClient.aspx?lang=en"), 0);  /* no meeturl */
    CHECK_INT(check(h, "/lwa/WebPages/Other.aspx?meeturl=aGk="), 0); /* another page */
    /* Off where the role has no Lync Web App, or where the pool says so. */
    CHECK_INT(check("owa.contoso.com", lwa(page, "https://attacker.example/")), 0);
    CHECK_INT(check("other.contoso.com", lwa(page, "https://attacker.example/")), 0);
}

int main(void)
{
    struct pc_diag d = {0};
    cfg = pc_config_load("tests/unit/conf/policy.conf", &d);
    if (!cfg) {
        fprintf(stderr, "%s", d.text ? d.text : "policy.conf did not load\n");
        pc_diag_free(&d);
        return 1;
    }
    pc_diag_free(&d);
    test_path();
    test_deny();
    test_meeturl();
    pc_config_free(cfg);
    return UNIT_DONE();
}

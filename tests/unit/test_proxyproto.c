/* test_proxyproto.c — the PROXY protocol header parser (src/proxy/proxyproto.c, HAProxy's "The
 * PROXY protocol" versions 1 and 2) and trusted_proxies matching (src/config/trust.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "proxy/proxyproto.h"
#include "unit.h"

static struct pc_pp_info info;

static int parse(const void *p, size_t n)
{
    memset(&info, 0, sizeof info);
    return pc_pp_parse(p, n, &info);
}

static int parse_str(const char *s)
{
    return parse(s, strlen(s));
}

static const char *src_text(void)
{
    static char buf[64];
    const struct sockaddr_storage *ss = &info.src.ss;
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, sizeof buf);
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, sizeof buf);
    else
        strcpy(buf, "-");
    return buf;
}

static unsigned src_port(void)
{
    const struct sockaddr_storage *ss = &info.src.ss;
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Every prefix of a valid header of LEN bytes asks for more, and never fails. */
static void check_prefixes(const uint8_t *p, size_t len)
{
    int bad = 0;
    for (size_t k = 0; k < len; k++)
        if (parse(p, k) != 0)
            bad++;
    CHECK_INT(bad, 0);
}

static void test_v1(void)
{
    const char *h = "PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\r\nGET / HTTP/1.1\r\n";
    size_t hl = strlen("PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\r\n");
    CHECK_INT(parse_str(h), hl);
    CHECK_INT(info.version, 1);
    CHECK(!info.local);
    CHECK_STR(src_text(), "203.0.113.7");
    CHECK_INT(src_port(), 40001);
    check_prefixes((const uint8_t *)h, hl);

    CHECK_INT(parse_str("PROXY TCP6 2001:db8::7 2001:db8::1 0 65535\r\n"), 44);
    CHECK_STR(src_text(), "2001:db8::7");
    CHECK_INT(parse_str("PROXY UNKNOWN\r\n"), 15);
    CHECK(info.local);
    const char *unk = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
    CHECK_INT(parse_str(unk), strlen(unk));
    CHECK(info.local);

    /* The longest line the specification allows is 107 bytes with its CRLF. */
    char longest[128] = "PROXY UNKNOWN ";
    size_t n = strlen(longest);
    memset(longest + n, 'x', 105 - n);
    memcpy(longest + 105, "\r\n", 3);
    CHECK_INT(parse_str(longest), 107);
    memset(longest + n, 'x', 106 - n);
    memcpy(longest + 106, "\r\n", 3);
    CHECK_INT(parse_str(longest), PC_PP_E_V1_LONG);
    char nocrlf[200];
    memcpy(nocrlf, "PROXY TCP4 ", 11);
    memset(nocrlf + 11, '1', sizeof nocrlf - 11);
    CHECK_INT(parse(nocrlf, 106), 0);
    CHECK_INT(parse(nocrlf, 107), PC_PP_E_V1_LONG);
    CHECK_INT(parse(nocrlf, 200), PC_PP_E_V1_LONG);

    static const char *const bad[] = {
        "PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\n",
        "PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\rX",
        "PROXY TCP4 203.0.113.7  198.51.100.1 40001 443\r\n",
        "PROXY TCP4 203.0.113.7 198.51.100.1 40001 443 \r\n",
        "PROXY TCP4 203.0.113.7 198.51.100.1 40001\r\n",
        "PROXY TCP4 203.0.113.7 198.51.100.1 40001 443 5\r\n",
        "PROXY TCP4 203.0.113.7 198.51.100.1 65536 443\r\n",
        "PROXY TCP4 203.0.113.7 198.51.100.1 040001 443\r\n",
        "PROXY TCP4 203.0.113.7 198.51.100.1 01 443\r\n",
        "PROXY TCP4 203.0.113.07 198.51.100.1 1 443\r\n",
        "PROXY TCP4 2001:db8::7 198.51.100.1 1 443\r\n",
        "PROXY TCP6 203.0.113.7 2001:db8::1 1 443\r\n",
        "PROXY UDP4 203.0.113.7 198.51.100.1 1 443\r\n",
        "PROXY tcp4 203.0.113.7 198.51.100.1 1 443\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY TCP4 203.0.113.7 198.51.100.1 1 4\x01\r\n",
        "PROXY \r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(parse_str(bad[i]) < 0);
    CHECK_INT(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x01"), PC_PP_E_V1_SYNTAX);
    CHECK_INT(parse_str("GET / HTTP/1.1\r\n"), PC_PP_E_SIGNATURE);
    CHECK_INT(parse_str("PROXZ"), PC_PP_E_SIGNATURE);
    CHECK_INT(parse_str("PROX"), 0);
    CHECK_INT(parse("", 0), 0);
}

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Builds a v2 header in OUT: command, family, address block, then EXTRA (TLVs). */
static size_t v2(uint8_t *out, int cmd, int fam, const uint8_t *addr, size_t alen,
                 const uint8_t *extra, size_t elen)
{
    memcpy(out, sig, 12);
    out[12] = (uint8_t)(0x20 | cmd);
    out[13] = (uint8_t)fam;
    size_t len = alen + elen;
    out[14] = (uint8_t)(len >> 8);
    out[15] = (uint8_t)len;
    if (alen)
        memcpy(out + 16, addr, alen);
    if (elen)
        memcpy(out + 16 + alen, extra, elen);
    return 16 + len;
}

static const uint8_t a4[12] = {203, 0, 113, 8, 198, 51, 100, 1, 0x9c, 0x41, 0x01, 0xbb};

static void test_v2(void)
{
    uint8_t h[1200];
    size_t n = v2(h, 1, 0x11, a4, sizeof a4, NULL, 0);
    CHECK_INT(parse(h, n), 28);
    CHECK_INT(info.version, 2);
    CHECK(!info.local);
    CHECK_STR(src_text(), "203.0.113.8");
    CHECK_INT(src_port(), 40001);
    check_prefixes(h, n);

    uint8_t a6[36] = {0x20,        0x01,     0x0d,        0xb8,        [15] = 8,    [16] = 0x20,
                      [17] = 0x01, [31] = 1, [32] = 0x9c, [33] = 0x42, [34] = 0x01, [35] = 0xbb};
    n = v2(h, 1, 0x21, a6, sizeof a6, NULL, 0);
    CHECK_INT(parse(h, n), 52);
    CHECK_STR(src_text(), "2001:db8::8");
    CHECK_INT(src_port(), 40002);

    /* TLVs: ALPN, authority, SSL (with a version sub-TLV), NOOP, an unknown one. */
    static const uint8_t tlvs[] = {0x01, 0, 8, 'h',  't',  't', 'p',  '/', '1', '.',  '1',
                                   0x02, 0, 3, 'a',  '.',  'b', 0x20, 0,   12,  0x01, 0,
                                   0,    0, 0, 0x21, 0,    4,   'T',  'L', 'S', '3',  0x04,
                                   0,    2, 0, 0,    0xE7, 0,   1,    'z'};
    n = v2(h, 1, 0x11, a4, sizeof a4, tlvs, sizeof tlvs);
    CHECK_INT(parse(h, n), (int)n);
    CHECK_STR(info.alpn, "http/1.1");
    CHECK_STR(info.authority, "a.b");
    CHECK(info.ssl && info.ssl_verified);
    CHECK_STR(info.ssl_version, "TLS3");
    check_prefixes(h, n);
    /* Every TLV cut short: refused, never read past the header. */
    int bad = 0;
    for (size_t cut = 1; cut < sizeof tlvs; cut++) {
        size_t m = v2(h, 1, 0x11, a4, sizeof a4, tlvs, cut);
        int r = parse(h, m);
        bool boundary = cut == 11 || cut == 17 || cut == 32 || cut == 37;
        if (boundary ? r != (int)m : r != PC_PP_E_V2_TLV)
            bad++;
    }
    CHECK_INT(bad, 0);

    /* LOCAL ignores the addresses; UNSPEC and UNIX name none portico can use. */
    n = v2(h, 0, 0x11, a4, sizeof a4, NULL, 0);
    CHECK_INT(parse(h, n), 28);
    CHECK(info.local);
    n = v2(h, 0, 0x00, NULL, 0, NULL, 0);
    CHECK_INT(parse(h, n), 16);
    CHECK(info.local);
    uint8_t unix_addr[216] = {0};
    n = v2(h, 1, 0x31, unix_addr, sizeof unix_addr, NULL, 0);
    CHECK_INT(parse(h, n), 232);
    CHECK(info.local);

    /* Refused: version, command, datagram families, short address block, too long. */
    n = v2(h, 1, 0x11, a4, sizeof a4, NULL, 0);
    h[12] = 0x11;
    CHECK_INT(parse(h, n), PC_PP_E_V2_VERSION);
    h[12] = 0x22;
    CHECK_INT(parse(h, n), PC_PP_E_V2_COMMAND);
    h[12] = 0x21;
    h[13] = 0x12;
    CHECK_INT(parse(h, n), PC_PP_E_V2_FAMILY);
    h[13] = 0x41;
    CHECK_INT(parse(h, n), PC_PP_E_V2_FAMILY);
    n = v2(h, 1, 0x11, a4, 8, NULL, 0);
    CHECK_INT(parse(h, n), PC_PP_E_V2_SHORT);
    CHECK_INT(parse(h, 16), PC_PP_E_V2_SHORT); /* known from the fixed part alone */
    uint8_t big[PC_PP_V2_MAX + 1] = {0};
    n = v2(h, 1, 0x11, a4, sizeof a4, big, PC_PP_V2_MAX - 28);
    CHECK_INT(parse(h, n), PC_PP_V2_MAX);
    n = v2(h, 1, 0x11, a4, sizeof a4, big, PC_PP_V2_MAX - 27);
    CHECK_INT(parse(h, 16), PC_PP_E_V2_LONG); /* refused before its bytes are read */
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

static void test_crc(void)
{
    uint8_t h[64];
    static const uint8_t t[] = {0x03, 0, 4, 0, 0, 0, 0};
    size_t n = v2(h, 1, 0x11, a4, sizeof a4, t, sizeof t);
    uint32_t c = crc32c(h, n);
    h[n - 4] = (uint8_t)(c >> 24);
    h[n - 3] = (uint8_t)(c >> 16);
    h[n - 2] = (uint8_t)(c >> 8);
    h[n - 1] = (uint8_t)c;
    CHECK_INT(parse(h, n), (int)n);
    h[19] ^= 1; /* the source address changed on the way */
    CHECK_INT(parse(h, n), PC_PP_E_V2_CRC);
    /* The check value of RFC 3720 appendix B.4 (32 bytes of zeros). */
    uint8_t z[32] = {0};
    CHECK_INT(crc32c(z, 32), 0x8A9136AAu);
}

static void test_sniff(void)
{
    CHECK_INT(pc_pp_sniff((const uint8_t *)"PROXY TCP4", 10), 1);
    CHECK_INT(pc_pp_sniff((const uint8_t *)"PROX", 4), -1);
    CHECK_INT(pc_pp_sniff((const uint8_t *)"PROPFIND /", 10), 0);
    CHECK_INT(pc_pp_sniff((const uint8_t *)"POST / HTTP/1.1", 15), 0);
    CHECK_INT(pc_pp_sniff(sig, 12), 1);
    CHECK_INT(pc_pp_sniff(sig, 4), -1);                           /* empty lines so far */
    CHECK_INT(pc_pp_sniff((const uint8_t *)"\r\n\r\nGET", 7), 0); /* empty lines, a request */
    CHECK_INT(pc_pp_sniff((const uint8_t *)"", 0), -1);
}

static struct pc_addr ip(const char *s)
{
    struct pc_addr a;
    memset(&a, 0, sizeof a);
    CHECK(pc_config_parse_ip(s, strlen(s), &a));
    return a;
}

static void test_trusted(void)
{
    struct pc_cidr c[3] = {
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10}, 96 + 8},        /* 10.0.0.0/8 */
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7}, 128}, /* 192.0.2.7 */
        {{0x20, 0x01, 0x0d, 0xb8}, 32},                                  /* 2001:db8::/32 */
    };
    struct pc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    CHECK(!pc_config_trusted(&cfg, &(struct pc_addr){0})); /* none configured */
    struct pc_addr a = ip("10.1.2.3");
    CHECK(!pc_config_trusted(&cfg, &a));
    cfg.trusted = c;
    cfg.ntrusted = 3;
    CHECK(pc_config_trusted(&cfg, &a));
    a = ip("11.1.2.3");
    CHECK(!pc_config_trusted(&cfg, &a));
    a = ip("192.0.2.7");
    CHECK(pc_config_trusted(&cfg, &a));
    a = ip("192.0.2.8");
    CHECK(!pc_config_trusted(&cfg, &a));
    a = ip("2001:db8:1::5");
    CHECK(pc_config_trusted(&cfg, &a));
    a = ip("[2001:db9::5]");
    CHECK(!pc_config_trusted(&cfg, &a));
    /* A dual-stack socket's IPv4-mapped peer matches the IPv4 prefix. */
    a = ip("::ffff:10.9.8.7");
    CHECK(pc_config_trusted(&cfg, &a));
    a = ip("::ffff:11.9.8.7");
    CHECK(!pc_config_trusted(&cfg, &a));
    CHECK(!pc_config_parse_ip("10.0.0.1:80", 10, &a));
    CHECK(!pc_config_parse_ip("unknown", 7, &a));
    struct pc_cidr all = {{0}, 0};
    cfg.trusted = &all;
    cfg.ntrusted = 1;
    a = ip("198.51.100.1");
    CHECK(pc_config_trusted(&cfg, &a));
}

int main(void)
{
    test_v1();
    test_v2();
    test_crc();
    test_sniff();
    test_trusted();
    UNIT_DONE();
}

/* proxyproto.c — parsing the PROXY protocol header, versions 1 and 2 (HAProxy's "The PROXY
 * protocol" specification; section numbers below are that document's).
 *
 * Strict: a header that is not exactly what the specification describes is refused, never
 * guessed at, because what it carries decides which address every limit and log sees. Every
 * length read from the wire is checked against the bytes that are there before it is used. */
#include "proxy/proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";

#define V1_SIG_LEN (sizeof v1_sig - 1)

/* §2.2 TLV types and the PP2_TYPE_SSL sub-types and client bits. */
enum {
    PP2_TYPE_ALPN = 0x01,
    PP2_TYPE_AUTHORITY = 0x02,
    PP2_TYPE_CRC32C = 0x03,
    PP2_TYPE_SSL = 0x20,
    PP2_SUBTYPE_SSL_VERSION = 0x21,
    PP2_CLIENT_SSL = 0x01,
};

int pc_pp_sniff(const uint8_t *buf, size_t len)
{
    /* v2: "\r\n\r\n\0" can start no HTTP request (empty lines, then a NUL). */
    size_t n2 = len < 5 ? len : 5;
    if (n2 && memcmp(buf, v2_sig, n2) == 0)
        return len >= 5 ? 1 : -1;
    size_t n1 = len < V1_SIG_LEN ? len : V1_SIG_LEN;
    if (n1 && memcmp(buf, v1_sig, n1) == 0)
        return len >= V1_SIG_LEN ? 1 : -1;
    return len ? 0 : -1;
}

/* ---- version 1 (§2.1) ---------------------------------------------------------------------- */

/* A port: 1 to 5 digits, no leading zero (but "0" itself), at most 65535. */
static bool v1_port(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool v1_addr(int fam, const char *s, size_t n, uint16_t port, struct pc_addr *a)
{
    char tmp[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    memset(a, 0, sizeof *a);
    if (fam == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
        if (inet_pton(AF_INET, tmp, &in->sin_addr) != 1)
            return false;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        a->len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
        if (inet_pton(AF_INET6, tmp, &in6->sin6_addr) != 1)
            return false;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        a->len = sizeof *in6;
    }
    return true;
}

/* The fields of "PROXY TCP4 SRC DST SPORT DPORT" at LINE[0, N) (after the signature, CRLF
 * excluded), separated by exactly one space each. */
static int v1_fields(const char *line, size_t n, struct pc_pp_info *out)
{
    const char *f[4];
    size_t fl[4];
    int nf = 0;
    size_t i = 0;
    if (n >= 7 && memcmp(line, "UNKNOWN", 7) == 0) {
        /* §2.1: anything may follow UNKNOWN up to the CRLF, and is ignored. */
        if (n > 7 && line[7] != ' ')
            return PC_PP_E_V1_SYNTAX;
        out->local = true;
        return 0;
    }
    if (n < 5 || (memcmp(line, "TCP4 ", 5) != 0 && memcmp(line, "TCP6 ", 5) != 0))
        return PC_PP_E_V1_SYNTAX;
    int fam = line[3] == '4' ? AF_INET : AF_INET6;
    for (i = 5; nf < 4; nf++) {
        size_t start = i;
        while (i < n && line[i] != ' ')
            i++;
        f[nf] = line + start;
        fl[nf] = i - start;
        if (fl[nf] == 0 || (nf < 3 && i == n))
            return PC_PP_E_V1_SYNTAX;
        if (nf < 3)
            i++; /* the one space */
    }
    if (i != n)
        return PC_PP_E_V1_SYNTAX;
    uint16_t sp, dp;
    if (!v1_port(f[2], fl[2], &sp) || !v1_port(f[3], fl[3], &dp) ||
        !v1_addr(fam, f[0], fl[0], sp, &out->src) || !v1_addr(fam, f[1], fl[1], dp, &out->dst))
        return PC_PP_E_V1_SYNTAX;
    out->local = false;
    return 0;
}

static bool printable(const uint8_t *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return true;
}

static int v1_parse(const uint8_t *buf, size_t len, struct pc_pp_info *out)
{
    size_t lim = len < PC_PP_V1_MAX ? len : PC_PP_V1_MAX;
    const uint8_t *cr = memchr(buf, '\r', lim);
    size_t at = cr ? (size_t)(cr - buf) : lim;
    /* Only printable ASCII before the CR: a stream that is no header fails early. */
    if (!printable(buf, V1_SIG_LEN, at))
        return PC_PP_E_V1_SYNTAX;
    if (!cr || at + 2 > PC_PP_V1_MAX)
        return len >= PC_PP_V1_MAX ? PC_PP_E_V1_LONG : 0;
    if (at + 1 == len)
        return 0; /* the LF is still to come */
    if (buf[at + 1] != '\n')
        return PC_PP_E_V1_SYNTAX;
    struct pc_pp_info info = {.version = 1};
    int r = v1_fields((const char *)buf + V1_SIG_LEN, at - V1_SIG_LEN, &info);
    if (r < 0)
        return r;
    *out = info;
    return (int)(at + 2);
}

/* ---- version 2 (§2.2) ---------------------------------------------------------------------- */

/* CRC32c (Castagnoli, reflected 0x82F63B78), bit by bit: a header is at most PC_PP_V2_MAX
 * bytes and a balancer rarely sends the TLV at all, so no table. */
static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void copy_text(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    size_t k = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < k; i++) /* logged and compared as text: no controls kept */
        dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
    dst[k] = '\0';
}

/* PP2_TYPE_SSL's value at V[0, N): client (1 byte), verify (4 bytes), then sub-TLVs. */
static int v2_ssl(const uint8_t *v, size_t n, struct pc_pp_info *out)
{
    if (n < 5)
        return PC_PP_E_V2_TLV;
    out->ssl = v[0] & PP2_CLIENT_SSL;
    out->ssl_verified = out->ssl && v[1] == 0 && v[2] == 0 && v[3] == 0 && v[4] == 0;
    for (size_t i = 5; i < n;) {
        if (n - i < 3)
            return PC_PP_E_V2_TLV;
        size_t l = (size_t)v[i + 1] << 8 | v[i + 2];
        if (l > n - i - 3)
            return PC_PP_E_V2_TLV;
        if (v[i] == PP2_SUBTYPE_SSL_VERSION)
            copy_text(out->ssl_version, sizeof out->ssl_version, v + i + 3, l);
        i += 3 + l;
    }
    return 0;
}

/* The TLVs at BUF[off, total): each type (1), length (2), value; unknown types are skipped. */
static int v2_tlvs(const uint8_t *buf, size_t off, size_t total, struct pc_pp_info *out)
{
    while (off < total) {
        if (total - off < 3)
            return PC_PP_E_V2_TLV;
        uint8_t type = buf[off];
        size_t l = (size_t)buf[off + 1] << 8 | buf[off + 2];
        const uint8_t *v = buf + off + 3;
        if (l > total - off - 3)
            return PC_PP_E_V2_TLV;
        if (type == PP2_TYPE_ALPN)
            copy_text(out->alpn, sizeof out->alpn, v, l);
        else if (type == PP2_TYPE_AUTHORITY)
            copy_text(out->authority, sizeof out->authority, v, l);
        else if (type == PP2_TYPE_SSL && v2_ssl(v, l, out) < 0)
            return PC_PP_E_V2_TLV;
        else if (type == PP2_TYPE_CRC32C) {
            /* §2.2.5: the checksum of the whole header with this field's value taken as 0. */
            if (l != 4)
                return PC_PP_E_V2_TLV;
            uint32_t want =
                (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
            static const uint8_t zero[4];
            size_t at = (size_t)(v - buf);
            uint32_t c = crc32c(0, buf, at);
            c = crc32c(c, zero, 4);
            c = crc32c(c, v + 4, total - at - 4);
            if (c != want)
                return PC_PP_E_V2_CRC;
        }
        off += 3 + l;
    }
    return 0;
}

static void v2_addr4(struct pc_addr *a, const uint8_t *ip, const uint8_t *port)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
    memset(a, 0, sizeof *a);
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, ip, 4);
    memcpy(&in->sin_port, port, 2); /* both in network order on the wire */
    a->len = sizeof *in;
}

static void v2_addr6(struct pc_addr *a, const uint8_t *ip, const uint8_t *port)
{
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
    memset(a, 0, sizeof *a);
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, ip, 16);
    memcpy(&in6->sin6_port, port, 2);
    a->len = sizeof *in6;
}

static int v2_parse(const uint8_t *buf, size_t len, struct pc_pp_info *out)
{
    if (len < 16)
        return 0;
    if (buf[12] >> 4 != 2)
        return PC_PP_E_V2_VERSION;
    unsigned cmd = buf[12] & 15u;
    if (cmd > 1)
        return PC_PP_E_V2_COMMAND;
    size_t total = 16 + ((size_t)buf[14] << 8 | buf[15]);
    if (total > PC_PP_V2_MAX)
        return PC_PP_E_V2_LONG;
    unsigned fam = buf[13];
    /* TCP over IPv4 (0x11), IPv6 (0x21), UNIX stream (0x31), UNSPEC (0x00); datagram
     * transports cannot describe a TCP connection. */
    size_t need = fam == 0x11 ? 12 : fam == 0x21 ? 36 : fam == 0x31 ? 216 : 0;
    if (fam != 0x00 && need == 0)
        return PC_PP_E_V2_FAMILY;
    if (total - 16 < need)
        return PC_PP_E_V2_SHORT;
    if (len < total)
        return 0;
    struct pc_pp_info info = {.version = 2, .local = true};
    /* §2.2: LOCAL ignores the address block (a health check of the balancer's own); so do
     * UNSPEC and UNIX, which name no address portico could use. */
    if (cmd == 1 && fam == 0x11) {
        v2_addr4(&info.src, buf + 16, buf + 24);
        v2_addr4(&info.dst, buf + 20, buf + 26);
        info.local = false;
    } else if (cmd == 1 && fam == 0x21) {
        v2_addr6(&info.src, buf + 16, buf + 48);
        v2_addr6(&info.dst, buf + 32, buf + 50);
        info.local = false;
    }
    int r = v2_tlvs(buf, 16 + need, total, &info);
    if (r < 0)
        return r;
    *out = info;
    return (int)total;
}

int pc_pp_parse(const uint8_t *buf, size_t len, struct pc_pp_info *out)
{
    size_t n = len < sizeof v2_sig ? len : sizeof v2_sig;
    if (n && memcmp(buf, v2_sig, n) == 0)
        return len < sizeof v2_sig ? 0 : v2_parse(buf, len, out);
    n = len < V1_SIG_LEN ? len : V1_SIG_LEN;
    if (n && memcmp(buf, v1_sig, n) == 0)
        return len < V1_SIG_LEN ? 0 : v1_parse(buf, len, out);
    return len ? PC_PP_E_SIGNATURE : 0;
}

const char *pc_pp_strerror(int err)
{
    switch (err) {
    case PC_PP_E_SIGNATURE:
        return "no PROXY signature";
    case PC_PP_E_V1_SYNTAX:
        return "bad v1 line";
    case PC_PP_E_V1_LONG:
        return "v1 line over 107 bytes";
    case PC_PP_E_V2_VERSION:
        return "bad v2 version";
    case PC_PP_E_V2_COMMAND:
        return "bad v2 command";
    case PC_PP_E_V2_FAMILY:
        return "v2 family other than TCP4, TCP6, UNIX, UNSPEC";
    case PC_PP_E_V2_LONG:
        return "v2 header over 1024 bytes";
    case PC_PP_E_V2_SHORT:
        return "v2 length too short for its addresses";
    case PC_PP_E_V2_TLV:
        return "bad v2 TLV";
    case PC_PP_E_V2_CRC:
        return "v2 CRC32C mismatch";
    default:
        return "error";
    }
}

/* fuzz_proxyproto.c — libFuzzer harness: the PROXY protocol header parser (pc_pp_parse and
 * pc_pp_sniff in src/proxy/proxyproto.c; HAProxy's "The PROXY protocol", versions 1 and 2).
 *
 * Input: the first bytes of a connection. Checks:
 *   - the parser reads nothing outside the input (each call gets a heap copy of exactly the
 *     prefix it is given, so ASan sees any over-read);
 *   - reading in pieces gives what reading at once gives: prefixes ask for more (0) until a
 *     verdict, and once there is one (a length or an error) every longer prefix gets the same.
 *     So a reader that consumes every byte of a 0 answer (src/proxy/clientaddr.c) never eats a
 *     byte of the client's stream, and never decides differently for a header split in reads;
 *   - a length is within the input and the bounds (107 bytes for v1, ending in CRLF;
 *     16 + the length field for v2, at most PC_PP_V2_MAX);
 *   - what is returned is sane: a v1 IPv4 source prints back as written, addresses of the
 *     families the header names, TLV strings NUL-terminated and printable;
 *   - pc_pp_sniff agrees: it never says "not a header" for bytes that parse as one. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "common.h"
#include "proxy/proxyproto.h"

static int parse_copy(const uint8_t *data, size_t n, struct pc_pp_info *info)
{
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, data, n);
    int r = pc_pp_parse(p, n, info);
    free(p);
    return r;
}

static void check_text(const char *s, size_t cap, const char *what)
{
    size_t n = strnlen(s, cap);
    FZ_CHECK(n < cap, "%s not NUL-terminated", what);
    for (size_t i = 0; i < n; i++)
        FZ_CHECK(s[i] >= 0x20 && s[i] < 0x7f, "%s has byte 0x%02x", what, (unsigned char)s[i]);
}

static void check_info(const uint8_t *data, int r, const struct pc_pp_info *in)
{
    FZ_CHECK(in->version == 1 || in->version == 2, "version %d", in->version);
    FZ_CHECK(in->version == 1 ? data[0] == 'P' : data[0] == '\r', "version and signature differ");
    if (in->version == 1) {
        FZ_CHECK(r <= PC_PP_V1_MAX, "v1 header of %d bytes", r);
        FZ_CHECK(data[r - 2] == '\r' && data[r - 1] == '\n', "v1 header does not end in CRLF");
        FZ_CHECK(in->alpn[0] == 0 && in->authority[0] == 0 && !in->ssl, "TLV data from v1");
    } else {
        FZ_CHECK(r == 16 + (data[14] << 8 | data[15]), "v2 length %d, field says %d", r,
                 16 + (data[14] << 8 | data[15]));
        FZ_CHECK(r <= PC_PP_V2_MAX, "v2 header of %d bytes", r);
    }
    check_text(in->alpn, sizeof in->alpn, "alpn");
    check_text(in->authority, sizeof in->authority, "authority");
    check_text(in->ssl_version, sizeof in->ssl_version, "ssl_version");
    FZ_CHECK(in->ssl || !in->ssl_verified, "verified without SSL");
    if (in->local)
        return;
    int fam = in->src.ss.ss_family;
    FZ_CHECK(fam == AF_INET || fam == AF_INET6, "source family %d", fam);
    FZ_CHECK(in->dst.ss.ss_family == fam, "source and destination families differ");
    if (in->version == 1 && fam == AF_INET) {
        /* "PROXY TCP4 " then the source as written: the parser took it exactly. */
        char txt[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&in->src.ss)->sin_addr, txt, sizeof txt);
        size_t tl = strlen(txt);
        FZ_CHECK(memcmp(data + 11, txt, tl) == 0 && data[11 + tl] == ' ',
                 "v1 source %s is not what the line says", txt);
    }
    if (in->version == 2)
        FZ_CHECK(data[13] == (fam == AF_INET ? 0x11 : 0x21), "v2 family byte 0x%02x for %d",
                 data[13], fam);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pc_pp_info whole;
    memset(&whole, 0, sizeof whole);
    int r = parse_copy(data, size, &whole);
    FZ_CHECK(r <= (int)size, "length %d over the input's %zu bytes", r, size);
    if (r > 0)
        check_info(data, r, &whole);

    int s = pc_pp_sniff(data, size);
    if (r > 0)
        FZ_CHECK(s == 1, "a header that parses, sniffed as %d", s);
    if (s == 0 && size > 0)
        FZ_CHECK(r == PC_PP_E_SIGNATURE, "sniffed as no header, parsed as %d", r);

    /* The verdict of every prefix, as a reader that gets the bytes in pieces sees it. */
    struct fz_rng rng = {fz_hash(data, size)};
    size_t k = 0;
    int seen = 0;
    while (k <= size) {
        struct pc_pp_info part;
        memset(&part, 0, sizeof part);
        int p = parse_copy(data, k, &part);
        if (seen == 0 && p != 0)
            seen = p;
        FZ_CHECK(p == (seen ? seen : 0), "prefix of %zu bytes: %d after %d", k, p, seen);
        if (p > 0)
            FZ_CHECK(part.version == whole.version && part.local == whole.local &&
                         part.ssl == whole.ssl && strcmp(part.alpn, whole.alpn) == 0 &&
                         strcmp(part.authority, whole.authority) == 0 &&
                         memcmp(&part.src, &whole.src, sizeof part.src) == 0,
                     "prefix of %zu bytes parsed differently", k);
        if (k == size)
            break;
        size_t step = 1 + fz_below(&rng, 24);
        k = k + step < size ? k + step : size;
    }
    FZ_CHECK(seen == r, "in pieces %d, at once %d", seen, r);
    return 0;
}

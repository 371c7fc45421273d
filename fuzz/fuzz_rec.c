/* fuzz_rec.c — libFuzzer harness: portico's TLS 1.3 record reader (src/tls/rec.c) for the
 * connections handed over from OpenSSL (docs/configuration.md, "Waiting connections").
 *
 * A forged record never passes the AEAD tag, so the harness seals what the input describes
 * with the connection's own keys, as a peer would, and feeds that stream to pc_rec_read:
 *   byte 0: the cipher suite; byte 1: our role (bit 0: server);
 *   then items TYPE LEN_HI LEN_LO CONTENT: TYPE < 0x80 is sealed as one record of that inner
 *   content type (any, with any content: alerts, KeyUpdate, tickets, junk); TYPE >= 0x80 puts
 *   CONTENT on the wire as it is (headers of any length, bad tags, plaintext records).
 * A KeyUpdate the harness sealed moves its own write key on, as a peer's would.
 * Checks:
 *   - the reader reads nothing outside its buffers (ASan), whatever room each read has
 *     (drawn from a PRNG seeded by the input);
 *   - what it delivers is a prefix of the sealed application data, in order, and all of it
 *     when the input holds only application data records of at most 16 KiB;
 *   - after an error it stays dead (reads and writes fail), and a write after the reads
 *     either fails or is whole (the KeyUpdate the peer asked for goes first). */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "common/buf.h"
#include "core/io.h"
#include "tls/rec-int.h"
#include "tls/rec.h"

static void keys(struct pc_rec *r, uint8_t suite, uint8_t rd, uint8_t wr)
{
    memset(r->rd.secret, rd, sizeof(r->rd.secret));
    memset(r->wr.secret, wr, sizeof(r->wr.secret));
    r->suite = suite;
    r->on = true;
    if (pc_rec_keys(suite, &r->rd) < 0 || pc_rec_keys(suite, &r->wr) < 0)
        fz_fail("key schedule failed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static uint8_t wire[1 << 18], expect[1 << 17], got[1 << 17];
    struct fz_rng rng = {fz_hash(data, size)};
    uint8_t suite = (uint8_t)(data[0] % 3 + 1);
    struct pc_rec me = {0}, peer = {0};
    keys(&me, suite, 0x11, 0x22);
    keys(&peer, suite, 0x22, 0x11);
    me.server = data[1] & 1;
    size_t wn = 0, en = 0, gn = 0;
    bool only_data = true;
    for (size_t i = 2; i + 3 <= size;) {
        uint8_t t = data[i];
        size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
        i += 3;
        if (len > size - i)
            len = size - i;
        const uint8_t *c = data + i;
        i += len;
        if (t >= 0x80) {
            memcpy(wire + wn, c, len);
            wn += len;
            only_data = false;
            continue;
        }
        if (len > 16384)
            len = 16384;
        ssize_t n = pc_rec_seal(&peer, t, c, len, wire + wn);
        FZ_CHECK(n == (ssize_t)(len + 22), "sealed %zd bytes for %zu", n, len);
        wn += (size_t)n;
        /* Type 0 is padding (RFC 8446 §5.4): the content's last non-zero byte is the type. */
        size_t clen = len;
        uint8_t et = t;
        if (t == 0) {
            while (clen > 0 && c[clen - 1] == 0)
                clen--;
            et = clen ? c[--clen] : 0;
        }
        if (et == 23) {
            memcpy(expect + en, c, clen);
            en += clen;
        } else {
            only_data = false;
        }
        if (et == 22 && clen == 5 && c[0] == 24 && c[1] == 0 && c[2] == 0 && c[3] == 1 && c[4] <= 1) {
            if (pc_rec_next_secret(suite, &peer.wr) < 0 || pc_rec_keys(suite, &peer.wr) < 0)
                fz_fail("peer key update failed");
            peer.wr.seq = 0;
        }
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    int sz = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    for (size_t off = 0; off < wn;) {
        ssize_t n = write(sv[1], wire + off, wn - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(sv[1], SHUT_WR);
    ssize_t r = 1;
    /* The peer has shut its side: the socket never blocks, so PC_IO_AGAIN (a read that took
     * only records without data) is followed by another read, as readiness would. */
    for (int k = 0; k < 100000 && r != 0 && r != PC_IO_ERR; k++) {
        size_t room = 1 + fz_below(&rng, 3) * 8000 + fz_below(&rng, 20000);
        struct pc_buf *b = pc_buf_get_cap(room); /* exactbuf.c: exactly ROOM bytes */
        r = pc_rec_read(sv[0], &me, b);
        FZ_CHECK(r == PC_IO_ERR || r == PC_IO_AGAIN || r == (ssize_t)pc_buf_len(b),
                 "read returned %zd with %zu bytes", r, pc_buf_len(b));
        if (r > 0) {
            FZ_CHECK(gn + (size_t)r <= en, "delivered more than was sealed");
            memcpy(got + gn, b->data, (size_t)r);
            gn += (size_t)r;
        }
        pc_buf_put(b);
    }
    FZ_CHECK(memcmp(got, expect, gn) == 0, "delivered bytes differ from the sealed ones");
    if (only_data)
        FZ_CHECK(gn == en && r == 0, "lost data: %zu of %zu, last %zd", gn, en, r);
    if (me.dead) {
        struct pc_buf *b = pc_buf_get_cap(100);
        FZ_CHECK(pc_rec_read(sv[0], &me, b) == PC_IO_ERR, "a dead connection read again");
        pc_buf_put(b);
    }
    ssize_t w = pc_rec_write(sv[0], &me, "abc", 3);
    FZ_CHECK(me.dead ? w == PC_IO_ERR : (w == 3 || w == PC_IO_ERR), "write gave %zd", w);
    pc_rec_close(sv[0], &me, true);
    pc_rec_close(sv[1], &peer, false);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* rec.c — TLS 1.3 record protection (RFC 8446 §5) for handed-over connections: AEAD sealing
 * and opening, the read and write paths, KeyUpdate, alerts. rec-track.c hands connections
 * over; docs/configuration.md ("Waiting connections") says when and why. */
#include "tls/rec.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "core/io.h"
#include "tls/rec-int.h"

#define REC_MAX_PLAIN  16384                 /* RFC 8446 §5.1 */
#define REC_MAX_CIPHER (REC_MAX_PLAIN + 256) /* §5.2 */
#define REC_TAG        16
#define REC_HDR        5

enum { CT_ALERT = 21, CT_HANDSHAKE = 22, CT_DATA = 23 };
enum {
    AL_CLOSE_NOTIFY = 0,
    AL_UNEXPECTED = 10,
    AL_BAD_MAC = 20,
    AL_OVERFLOW = 22,
    AL_DECODE = 50,
    AL_USER_CANCELED = 90
};

static const struct {
    const char *cipher, *md;
    size_t keylen;
} suites[] = {
    [PC_REC_AES128] = {"AES-128-GCM", "SHA256", 16},
    [PC_REC_AES256] = {"AES-256-GCM", "SHA384", 32},
    [PC_REC_CHACHA] = {"ChaCha20-Poly1305", "SHA256", 32},
};

/* Fetched once per process (explicit fetches spare OpenSSL 3 a lookup per use); the cipher
 * contexts are the process's too, one per suite and direction, rekeyed only when another
 * connection's key is needed (keyid). The data path runs on the worker's one thread. */
static EVP_CIPHER *ciphers[4];
static EVP_MD *mds[4];
static EVP_CIPHER_CTX *cx[4][2];
static uint64_t cx_keyid[4][2];
static uint64_t next_keyid = 1;

static size_t hashlen(uint8_t suite)
{
    return suite == PC_REC_AES256 ? 48 : 32;
}

/* HKDF-Expand-Label(secret, label, "", len) of RFC 8446 §7.1; every length used here is at
 * most the hash's, so HKDF-Expand (RFC 5869 §2.3) is one HMAC block. */
static int expand_label(uint8_t suite, const uint8_t *secret, const char *label, uint8_t *out,
                        size_t len)
{
    uint8_t info[2 + 1 + 6 + 16 + 1 + 1], md[EVP_MAX_MD_SIZE];
    size_t ll = strlen(label), n = 0;
    unsigned mdlen = 0;
    if (!mds[suite] && !(mds[suite] = EVP_MD_fetch(NULL, suites[suite].md, NULL)))
        return -1;
    info[n++] = (uint8_t)(len >> 8);
    info[n++] = (uint8_t)len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, ll);
    n += 6 + ll;
    info[n++] = 0; /* empty context */
    info[n++] = 1; /* HKDF-Expand's counter: T(1) */
    if (!HMAC(mds[suite], secret, (int)hashlen(suite), info, n, md, &mdlen) || mdlen < len)
        return -1;
    memcpy(out, md, len);
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}

int pc_rec_keys(uint8_t suite, struct pc_rec_dir *d)
{
    if (expand_label(suite, d->secret, "key", d->key, suites[suite].keylen) < 0 ||
        expand_label(suite, d->secret, "iv", d->iv, sizeof(d->iv)) < 0)
        return -1;
    d->keyid = next_keyid++;
    return 0;
}

int pc_rec_next_secret(uint8_t suite, struct pc_rec_dir *d)
{
    uint8_t next[48];
    size_t h = hashlen(suite);
    if (expand_label(suite, d->secret, "traffic upd", next, h) < 0)
        return -1;
    memcpy(d->secret, next, h);
    OPENSSL_cleanse(next, sizeof(next));
    return 0;
}

/* The context for D's next record, its nonce set (§5.3: iv XOR the sequence number). */
static EVP_CIPHER_CTX *dir_cx(uint8_t suite, struct pc_rec_dir *d, int enc)
{
    uint8_t nonce[12];
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
    if (!ciphers[suite] && !(ciphers[suite] = EVP_CIPHER_fetch(NULL, suites[suite].cipher, NULL)))
        return NULL;
    EVP_CIPHER_CTX **c = &cx[suite][enc];
    if (!*c && !(*c = EVP_CIPHER_CTX_new()))
        return NULL;
    int ok = cx_keyid[suite][enc] == d->keyid
                 ? EVP_CipherInit_ex(*c, NULL, NULL, NULL, nonce, enc)
                 : EVP_CipherInit_ex(*c, ciphers[suite], NULL, d->key, nonce, enc);
    cx_keyid[suite][enc] = ok == 1 ? d->keyid : 0;
    return ok == 1 ? *c : NULL;
}

ssize_t pc_rec_seal(struct pc_rec *r, uint8_t type, const uint8_t *p, size_t len, uint8_t *out)
{
    size_t ctlen = len + 1 + REC_TAG;
    int n;
    out[0] = CT_DATA;
    out[1] = out[2] = 3;
    out[3] = (uint8_t)(ctlen >> 8);
    out[4] = (uint8_t)ctlen;
    EVP_CIPHER_CTX *c = r->wr.seq == UINT64_MAX ? NULL : dir_cx(r->suite, &r->wr, 1);
    if (!c || EVP_EncryptUpdate(c, NULL, &n, out, REC_HDR) != 1 ||
        EVP_EncryptUpdate(c, out + REC_HDR, &n, p, (int)len) != 1 ||
        EVP_EncryptUpdate(c, out + REC_HDR + len, &n, &type, 1) != 1 ||
        EVP_EncryptFinal_ex(c, out + REC_HDR + len + 1, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, REC_TAG, out + REC_HDR + len + 1) != 1)
        return -1;
    r->wr.seq++;
    return (ssize_t)(REC_HDR + ctlen);
}

/* Opens the record H (header) + CT (CTLEN bytes) into DST (may be CT): its content type in
 * *TYPE and content length in *LEN. Returns 0, or the alert to send. */
static int open_rec(struct pc_rec *r, const uint8_t *h, uint8_t *ct, size_t ctlen, uint8_t *dst,
                    uint8_t *type, size_t *len)
{
    int n, m;
    if (ctlen <= REC_TAG || r->rd.seq == UINT64_MAX)
        return AL_BAD_MAC;
    EVP_CIPHER_CTX *c = dir_cx(r->suite, &r->rd, 0);
    if (!c || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, REC_TAG, ct + ctlen - REC_TAG) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, h, REC_HDR) != 1 ||
        EVP_DecryptUpdate(c, dst, &n, ct, (int)(ctlen - REC_TAG)) != 1 ||
        EVP_DecryptFinal_ex(c, dst + n, &m) != 1)
        return AL_BAD_MAC;
    r->rd.seq++;
    size_t i = ctlen - REC_TAG; /* §5.4: the content type is the last non-zero byte */
    while (i > 0 && dst[i - 1] == 0)
        i--;
    if (i == 0)
        return AL_UNEXPECTED;
    *type = dst[i - 1];
    *len = i - 1;
    return *len > REC_MAX_PLAIN ? AL_OVERFLOW : 0;
}

/* Sends what R->out holds: 1 all sent (or nothing was), 0 the socket is full, -1 error. */
static int send_out(int fd, struct pc_rec *r)
{
    while (r->out && pc_buf_len(r->out)) {
        ssize_t n = send(fd, r->out->data + r->out->start, pc_buf_len(r->out), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        r->out->start += (size_t)n;
    }
    pc_buf_put(r->out);
    r->out = NULL;
    return 1;
}

/* Appends one record to R->out (taking a buffer when it has none). */
static int queue(struct pc_rec *r, uint8_t type, const uint8_t *p, size_t len)
{
    if (!r->out && !(r->out = pc_buf_get_cap(PC_BUF_BULK)))
        return -1;
    if (pc_buf_room(r->out) < len + REC_HDR + 1 + REC_TAG)
        pc_buf_compact(r->out);
    if (pc_buf_room(r->out) < len + REC_HDR + 1 + REC_TAG)
        return -1;
    ssize_t n = pc_rec_seal(r, type, p, len, (uint8_t *)r->out->data + r->out->end);
    if (n < 0)
        return -1;
    r->out->end += (size_t)n;
    return 0;
}

/* Our KeyUpdate (§4.6.3), then the write key it announces. */
static int key_update(struct pc_rec *r)
{
    static const uint8_t msg[5] = {24, 0, 0, 1, 0}; /* update_not_requested */
    if (queue(r, CT_HANDSHAKE, msg, sizeof(msg)) < 0 || pc_rec_next_secret(r->suite, &r->wr) < 0 ||
        pc_rec_keys(r->suite, &r->wr) < 0)
        return -1;
    r->wr.seq = 0;
    r->ku_due = false;
    return 0;
}

/* A fatal protocol error: one alert if it can go at once, and the connection is dead. */
static ssize_t fail(int fd, struct pc_rec *r, int alert)
{
    if (!r->dead && !r->out) {
        uint8_t a[2] = {2, (uint8_t)alert}, rec[REC_HDR + 2 + 1 + REC_TAG];
        ssize_t n = pc_rec_seal(r, CT_ALERT, a, 2, rec);
        if (n > 0)
            (void)send(fd, rec, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT); /* best effort */
    }
    r->dead = true;
    errno = EPROTO;
    return PC_IO_ERR;
}

/* Post-handshake messages of one record (§4.6): tickets for a client (the pool has the one
 * OpenSSL read; later ones are dropped) and KeyUpdate. A message across records is refused. */
static int handshake(struct pc_rec *r, const uint8_t *p, size_t len)
{
    if (len == 0)
        return AL_UNEXPECTED;
    while (len) {
        if (len < 4)
            return AL_DECODE;
        size_t ml = ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
        if (ml > len - 4)
            return AL_DECODE;
        if (p[0] == 24) { /* KeyUpdate: the last message before the key changes */
            if (ml != 1 || p[4] > 1 || len != 5)
                return AL_DECODE;
            if (pc_rec_next_secret(r->suite, &r->rd) < 0 || pc_rec_keys(r->suite, &r->rd) < 0)
                return AL_BAD_MAC;
            r->rd.seq = 0;
            r->ku_due |= p[4] == 1;
        } else if (p[0] != 4 || r->server) {
            return AL_UNEXPECTED;
        }
        p += 4 + ml;
        len -= 4 + ml;
    }
    return 0;
}

/* Takes one whole record out of R->in, its content into B when it fits there (else it stays
 * in R->in as [pa, pz)). Returns 1 taken, 0 none whole, -1 end of stream, or -alert-2. */
static int take(struct pc_rec *r, struct pc_buf *b, size_t *got)
{
    struct pc_buf *in = r->in;
    if (!in || pc_buf_len(in) < REC_HDR)
        return 0;
    uint8_t *h = (uint8_t *)in->data + in->start;
    size_t ctlen = ((size_t)h[3] << 8) | h[4];
    if (h[0] != CT_DATA) /* §5: after the handshake every record is protected */
        return -AL_UNEXPECTED - 2;
    if (ctlen > REC_MAX_CIPHER)
        return -AL_OVERFLOW - 2;
    if (pc_buf_len(in) < REC_HDR + ctlen)
        return 0;
    uint8_t *ct = h + REC_HDR, type;
    bool direct = pc_buf_room(b) >= ctlen - REC_TAG;
    uint8_t *dst = direct ? (uint8_t *)b->data + b->end : ct;
    size_t len;
    int al = open_rec(r, h, ct, ctlen, dst, &type, &len);
    in->start += REC_HDR + ctlen;
    if (al)
        return -al - 2;
    switch (type) {
    case CT_DATA:
        if (direct) {
            b->end += len;
            *got += len;
        } else {
            r->pa = (uint32_t)(ct - (uint8_t *)in->data);
            r->pz = r->pa + (uint32_t)len;
        }
        return 1;
    case CT_ALERT:
        if (len != 2)
            return -AL_DECODE - 2;
        if (dst[1] == AL_USER_CANCELED)
            return 1;
        r->eof = true;
        if (dst[1] != AL_CLOSE_NOTIFY)
            r->dead = true; /* the peer's fatal alert: nothing to answer */
        return -1;
    case CT_HANDSHAKE:
        al = handshake(r, dst, len);
        return al ? -al - 2 : 1;
    default:
        return -AL_UNEXPECTED - 2;
    }
}

/* One recv into R->in. Returns bytes, 0 at the end, PC_IO_AGAIN or PC_IO_ERR. */
static ssize_t fill(int fd, struct pc_rec *r)
{
    if (!r->in && !(r->in = pc_buf_get_cap(PC_BUF_BULK))) {
        errno = ENOMEM;
        return PC_IO_ERR;
    }
    struct pc_buf *in = r->in;
    if (in->start == in->end)
        in->start = in->end = 0;
    else if (pc_buf_room(in) < REC_HDR + REC_MAX_CIPHER)
        pc_buf_compact(in); /* nothing decrypted waits in it: pa == pz */
    for (;;) {
        ssize_t n = recv(fd, in->data + in->end, pc_buf_room(in), 0);
        if (n > 0)
            in->end += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            n = PC_IO_AGAIN;
        else if (n < 0)
            n = PC_IO_ERR;
        return n;
    }
}

/* Gives R->in back when it holds nothing. */
static void tidy_in(struct pc_rec *r)
{
    if (r->in && r->pa == r->pz && r->in->start == r->in->end) {
        pc_buf_put(r->in);
        r->in = NULL;
        r->pa = r->pz = 0;
    }
}

ssize_t pc_rec_read(int fd, struct pc_rec *r, struct pc_buf *b)
{
    size_t got = 0;
    bool filled = false;
    for (;;) {
        if (r->dead) {
            errno = EPROTO;
            return got ? (ssize_t)got : PC_IO_ERR;
        }
        if (r->pz > r->pa) { /* a record decrypted before, delivered in parts */
            size_t k = r->pz - r->pa < pc_buf_room(b) ? r->pz - r->pa : pc_buf_room(b);
            memcpy(b->data + b->end, r->in->data + r->pa, k);
            b->end += k;
            r->pa += (uint32_t)k;
            got += k;
        }
        if (r->ku_due && !r->out && (key_update(r) < 0 || send_out(fd, r) < 0))
            return fail(fd, r, AL_UNEXPECTED);
        if (r->eof || pc_buf_room(b) == 0 || r->pz > r->pa) {
            tidy_in(r);
            return got ? (ssize_t)got : 0;
        }
        int t = take(r, b, &got);
        if (t == 1)
            continue;
        if (t == -1)
            continue; /* r->eof or r->dead now */
        if (t < -1)
            return fail(fd, r, -t - 2);
        if (got || filled) {
            tidy_in(r);
            return got ? (ssize_t)got : PC_IO_AGAIN;
        }
        ssize_t n = fill(fd, r);
        if (n <= 0) {
            if (n == 0)
                r->eof = true;
            tidy_in(r);
            return n;
        }
        filled = true;
    }
}

ssize_t pc_rec_write(int fd, struct pc_rec *r, const char *p, size_t len)
{
    if (r->dead) {
        errno = EPROTO;
        return PC_IO_ERR;
    }
    int s = send_out(fd, r); /* what an earlier call sealed goes first */
    if (s <= 0)
        return s == 0 ? PC_IO_AGAIN : PC_IO_ERR;
    if (r->out_plain) {
        size_t k = r->out_plain;
        r->out_plain = 0;
        return (ssize_t)k;
    }
    if (r->ku_due && key_update(r) < 0)
        return fail(fd, r, AL_UNEXPECTED);
    size_t k = 0;
    while (k < len) {
        if (!r->out && !(r->out = pc_buf_get_cap(PC_BUF_BULK)))
            break;
        size_t room = pc_buf_room(r->out);
        if (room < REC_HDR + 1 + REC_TAG + 1024)
            break;
        size_t n = len - k;
        if (n > REC_MAX_PLAIN)
            n = REC_MAX_PLAIN;
        if (n > room - REC_HDR - 1 - REC_TAG)
            n = room - REC_HDR - 1 - REC_TAG;
        if (queue(r, CT_DATA, (const uint8_t *)p + k, n) < 0)
            return fail(fd, r, AL_UNEXPECTED);
        k += n;
    }
    if (k == 0) {
        errno = ENOMEM;
        return PC_IO_ERR;
    }
    s = send_out(fd, r);
    if (s < 0)
        return PC_IO_ERR;
    if (s == 0) {
        r->out_plain = k;
        return PC_IO_AGAIN;
    }
    return (ssize_t)k;
}

bool pc_rec_pending(const struct pc_rec *r)
{
    return r->pz > r->pa || (r->in && pc_buf_len(r->in));
}

void pc_rec_close(int fd, struct pc_rec *r, bool notify)
{
    if (notify && r->on && !r->dead && !r->out) {
        static const uint8_t a[2] = {1, AL_CLOSE_NOTIFY};
        uint8_t rec[REC_HDR + 2 + 1 + REC_TAG];
        ssize_t n = pc_rec_seal(r, CT_ALERT, a, 2, rec);
        if (n > 0) /* best effort: the connection closes anyway */
            (void)send(fd, rec, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    pc_buf_put(r->in);
    pc_buf_put(r->out);
    OPENSSL_cleanse(r, sizeof(*r));
}

/* io.c — reads and vectored writes for the data path. */
#include "core/io.h"

#include "tls/rec.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* OpenSSL's read-ahead buffer while a body flows: four full records and their overhead. */
#define TLS_BULK_READ (4 * (16384 + 256))

/* Maps an SSL_read/SSL_write result to our convention. */
static ssize_t tls_result(SSL *ssl, int n)
{
    switch (SSL_get_error(ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return PC_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0)
            return 0; /* end of stream without close_notify */
        return PC_IO_ERR;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return PC_IO_ERR;
    }
}

/* Gives an empty buffer back: a connection with nothing buffered holds none. */
static ssize_t idle(struct pc_buf **bp, ssize_t r)
{
    if (r == PC_IO_AGAIN && *bp && pc_buf_len(*bp) == 0) {
        pc_buf_put(*bp);
        *bp = NULL;
    }
    return r;
}

static ssize_t io_read(int fd, struct pc_tlsconn *tc, struct pc_buf **bp, size_t cap);
static ssize_t tls_read(struct pc_tlsconn *tc, struct pc_buf *b);

ssize_t pc_io_read(int fd, struct pc_tlsconn *tc, struct pc_buf **bp)
{
    return idle(bp, io_read(fd, tc, bp, PC_BUF_SIZE));
}

ssize_t pc_io_read_bulk(int fd, struct pc_tlsconn *tc, struct pc_buf **bp)
{
    /* With TLS, OpenSSL's read-ahead buffer is sized for several records while a body flows
     * (the size takes effect when OpenSSL next allocates it, which SSL_MODE_RELEASE_BUFFERS
     * makes every burst), so that one read(2) fetches up to 64 KiB of records and io_read
     * decrypts them into one bulk buffer: a quarter of the syscalls of one record per read. */
    if (tc && tc->ssl)
        SSL_set_default_read_buffer_len(tc->ssl, TLS_BULK_READ);
    return idle(bp, io_read(fd, tc, bp, PC_BUF_BULK));
}

/* Decrypts into B: one record, then those already read ahead, while they fit. A read that
 * would need the socket again ends the batch. */
static ssize_t tls_read(struct pc_tlsconn *tc, struct pc_buf *b)
{
    SSL *ssl = tc->ssl;
    size_t got = 0;
    for (;;) {
        size_t room = pc_buf_room(b);
        errno = 0;
        int n = SSL_read(ssl, b->data + b->end, room > INT_MAX ? INT_MAX : (int)room);
        if (n <= 0) {
            if (got) {             /* the next call meets the same condition again */
                ERR_clear_error(); /* nothing left queued for another connection's SSL_get_error */
                return (ssize_t)got;
            }
            ssize_t r = tls_result(ssl, n);
            /* Nothing more to read now: give OpenSSL's record buffers back (SSL_MODE_RELEASE_
             * BUFFERS alone keeps the one a failed read just allocated). */
            if (r == PC_IO_AGAIN) {
                SSL_free_buffers(ssl);
                pc_rec_start(tc); /* quiet: portico may take the records over */
            }
            return r;
        }
        b->end += (size_t)n;
        got += (size_t)n;
        if (pc_buf_room(b) < 1024 || !SSL_has_pending(ssl))
            return (ssize_t)got;
    }
}

static ssize_t io_read(int fd, struct pc_tlsconn *tc, struct pc_buf **bp, size_t cap)
{
    struct pc_buf *b = *bp;
    if (!b) {
        b = *bp = pc_buf_get_cap(cap);
        if (!b) {
            errno = ENOMEM;
            return PC_IO_ERR;
        }
    }
    if (b->start == b->end) {
        b->start = b->end = 0;
        if (b->cap < cap) { /* a body follows a header block: switch to the bigger size */
            struct pc_buf *nb = pc_buf_get_cap(cap);
            if (nb) {
                pc_buf_put(b);
                b = *bp = nb;
            }
        }
    } else if (pc_buf_room(b) == 0)
        pc_buf_compact(b);
    size_t room = pc_buf_room(b);
    if (room == 0)
        return PC_IO_AGAIN; /* caller stops reading until it has consumed some */
    if (tc && tc->ssl)
        return tls_read(tc, b);
    if (tc && tc->rec.on)
        return pc_rec_read(fd, &tc->rec, b);
    for (;;) {
        ssize_t n = recv(fd, b->data + b->end, room, 0);
        if (n > 0) {
            b->end += (size_t)n;
            return n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return PC_IO_AGAIN;
        return PC_IO_ERR;
    }
}

/* One SSL_write (or its equivalent in tls/rec.c) of P. */
static ssize_t tls_write(int fd, struct pc_tlsconn *tc, const char *p, size_t len)
{
    if (!tc->ssl)
        return pc_rec_write(fd, &tc->rec, p, len);
    errno = 0;
    int w = SSL_write(tc->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
    tc->rec.wblocked = w <= 0; /* a record may wait inside OpenSSL: no handover then */
    return w > 0 ? w : tls_result(tc->ssl, w);
}

/* TLS: one record write per piece; a small raw piece joins the buffer first so that a short
 * response goes out as one record. */
static int tls_flush(int fd, struct pc_tlsconn *tc, struct pc_out *o, uint64_t *count)
{
    if (o->rawlen && o->ob && pc_buf_room(o->ob) >= o->rawlen && o->rawlen <= 4096) {
        memcpy(o->ob->data + o->ob->end, o->raw, o->rawlen);
        o->ob->end += o->rawlen;
        o->rawlen = 0;
    }
    while (pc_out_pending(o)) {
        size_t oblen = o->ob ? o->ob->end - o->ob->start : 0;
        const char *p = oblen ? o->ob->data + o->ob->start : o->raw;
        size_t len = oblen ? oblen : o->rawlen;
        ssize_t w = tls_write(fd, tc, p, len);
        if (w <= 0)
            return w == PC_IO_AGAIN ? 0 : PC_IO_ERR;
        if (count)
            *count += (uint64_t)w;
        if (oblen)
            o->ob->start += (size_t)w;
        else {
            o->raw += w;
            o->rawlen -= (size_t)w;
        }
    }
    pc_buf_put(o->ob);
    o->ob = NULL;
    o->raw = NULL;
    return 1;
}

int pc_io_flush(int fd, struct pc_tlsconn *tc, struct pc_out *o, uint64_t *count)
{
    if (tc && pc_tlsconn_on(tc))
        return tls_flush(fd, tc, o, count);
    while (pc_out_pending(o)) {
        struct iovec iov[2];
        int n = 0;
        size_t oblen = o->ob ? o->ob->end - o->ob->start : 0;
        if (oblen)
            iov[n++] = (struct iovec){o->ob->data + o->ob->start, oblen};
        if (o->rawlen)
            iov[n++] = (struct iovec){(void *)o->raw, o->rawlen};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return PC_IO_ERR;
        }
        if (count)
            *count += (uint64_t)w;
        size_t done = (size_t)w;
        if (oblen) {
            size_t k = done < oblen ? done : oblen;
            o->ob->start += k;
            done -= k;
        }
        o->raw += done;
        o->rawlen -= done;
    }
    pc_buf_put(o->ob);
    o->ob = NULL;
    o->raw = NULL;
    return 1;
}

bool pc_io_tls_pending(const struct pc_tlsconn *tc)
{
    return tc->ssl ? SSL_has_pending(tc->ssl) != 0 : tc->rec.on && pc_rec_pending(&tc->rec);
}

void pc_io_tls_close(int fd, struct pc_tlsconn *tc, bool notify)
{
    if (tc->ssl) {
        if (notify)
            SSL_shutdown(tc->ssl); /* never waits */
        else
            SSL_set_shutdown(tc->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(tc->ssl);
        tc->ssl = NULL;
        ERR_clear_error();
    }
    pc_rec_close(fd, &tc->rec, notify);
}

void pc_io_want(struct ev_loop *loop, ev_io *w, int events)
{
    if ((w->events & (EV_READ | EV_WRITE)) == events && (events == 0 || ev_is_active(w)))
        return;
    ev_io_stop(loop, w);
    if (events) {
        ev_io_modify(w, events);
        ev_io_start(loop, w);
    }
}

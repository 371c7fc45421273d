/* io.h — socket I/O of the data path: read into a buffer, write an output queue.
 *
 * One place for the syscalls of the hot path, so that TLS can slot in beside them. */
#ifndef PORTICO_IO_H
#define PORTICO_IO_H

#include <stddef.h>
#include <openssl/ssl.h>
#include <sys/types.h>

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/out.h"
#include "tls/rec-t.h"

enum { PC_IO_AGAIN = -1, PC_IO_ERR = -2 };

/* Reads into *BP (taking a buffer from the free list when it is NULL) as much as fits,
 * through TC's TLS when it has some (OpenSSL's or, once handed over, tls/rec.c's: a read
 * that finds nothing hands a quiet TLS 1.3 connection over); an empty buffer goes back to
 * the free list when nothing could be read. Returns bytes read (> 0), 0 at end of stream,
 * PC_IO_AGAIN, or PC_IO_ERR (errno set). With TLS, a read may leave decrypted bytes inside
 * OpenSSL or tls/rec.c: callers read until PC_IO_AGAIN before they wait for the socket. */
ssize_t pc_io_read(int fd, struct pc_tlsconn *tc, struct pc_buf **bp);
/* The same with a PC_BUF_BULK buffer (bodies, responses from a pool); an empty standard
 * buffer is swapped for one. With TLS, OpenSSL reads ahead up to four records per read(2)
 * from then on, and one call decrypts those that fit. */
ssize_t pc_io_read_bulk(int fd, struct pc_tlsconn *tc, struct pc_buf **bp);

/* Writes the queue O to FD (through TC's TLS when it has some). Returns 1 when all is written (the
 * queue's buffer has gone back to the free list), 0 when the socket is full, PC_IO_ERR on
 * error. Adds bytes written to *COUNT when COUNT is not NULL. */
int pc_io_flush(int fd, struct pc_tlsconn *tc, struct pc_out *o, uint64_t *count);

/* Whether decrypted or read-ahead bytes wait inside TC's TLS (the socket may stay quiet). */
bool pc_io_tls_pending(const struct pc_tlsconn *tc);

/* Ends TC's TLS: close_notify first when NOTIFY (never waits); TC is plain afterwards. */
void pc_io_tls_close(int fd, struct pc_tlsconn *tc, bool notify);

/* Switches the events a watcher waits for, touching libev only when they change. */
void pc_io_want(struct ev_loop *loop, ev_io *w, int events);

#endif

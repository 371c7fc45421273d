/* rec-t.h — a TLS 1.3 connection's record protection, kept by portico once OpenSSL has done
 * the handshake (docs/configuration.md, "Waiting connections"). */
#ifndef PORTICO_REC_T_H
#define PORTICO_REC_T_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

struct pc_buf;

/* One direction of a connection: its traffic secret and what RFC 8446 §5.3 derives from it. */
struct pc_rec_dir {
    uint8_t secret[48]; /* current application traffic secret (the next one: §7.2) */
    uint8_t key[32];
    uint8_t iv[12];
    uint64_t seq;   /* records protected with the current key */
    uint64_t keyid; /* tells the per-process cipher contexts which key they hold */
};

struct pc_rec {
    struct pc_rec_dir rd, wr;
    struct pc_buf *in;  /* records read but not yet delivered; NULL when none */
    struct pc_buf *out; /* records written but not all sent; NULL when none */
    size_t out_plain;   /* plaintext those records carry: reported once they are sent */
    uint32_t pa, pz;    /* a decrypted record not yet delivered: in->data[pa, pz) */
    uint8_t suite;      /* PC_REC_AES128, PC_REC_AES256, PC_REC_CHACHA; 0 unknown */
    uint8_t have;       /* key log seen: 1 read secret, 2 write secret */
    bool on;            /* the records are portico's: OpenSSL's connection is gone */
    bool server;        /* our side's role (which secret reads) */
    bool ticket;        /* client role: a NewSessionTicket was read (the pool keeps it) */
    bool data_read;     /* an application data record was read */
    bool odd;           /* something the tracker does not follow happened: never start */
    bool wblocked;      /* OpenSSL holds a record it could not send */
    bool ku_due;        /* the peer asked for our KeyUpdate (RFC 8446 §4.6.3) */
    bool eof;           /* close_notify or the peer's close was read */
    bool dead;          /* a protocol error: nothing more is read or written */
};

/* A connection's TLS: OpenSSL's object through the handshake and while data flows, then
 * portico's records (struct pc_rec) from the first quiet moment on. Plain when both are off. */
struct pc_tlsconn {
    SSL *ssl;
    char *hello_sni; /* the listener's: filled by the ClientHello callback, or NULL */
    struct pc_rec rec;
};

#endif

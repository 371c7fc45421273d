/* buf.h — I/O buffers from a per-process free list.
 *
 * A connection takes a buffer when it has data and gives it back when it idles, so ten
 * thousand idle long polls hold no buffer at all. Standard buffers are PC_BUF_SIZE bytes and
 * recycled; a larger one (a header block carrying a 64 KiB Kerberos token) is allocated to
 * size and freed on release. Data lives in data[start, end). */
#ifndef PORTICO_BUF_H
#define PORTICO_BUF_H

#include <stddef.h>

#define PC_BUF_SIZE  (16 * 1024)
#define PC_BUF_SMALL 2048
/* Reads from a pool's plain HTTP port: a whole 16 KiB response (head and body) or a large
 * part of a download in one recv and one send (see docs/performance.md). */
#define PC_BUF_BULK (64 * 1024)

struct pc_buf {
    struct pc_buf *next; /* free-list link */
    size_t cap;
    size_t start, end;
    char data[];
};

struct pc_buf *pc_buf_get(void); /* a standard buffer; NULL only when out of memory */
/* A buffer of at least NEED bytes: small, standard and bulk sizes come from their free lists,
 * others are allocated to size. */
struct pc_buf *pc_buf_get_cap(size_t need);
void pc_buf_put(struct pc_buf *b); /* NULL is fine */
/* Grows B (keeping its content) to at least CAP bytes; returns the new buffer or NULL
 * (B untouched) when out of memory. */
struct pc_buf *pc_buf_grow(struct pc_buf *b, size_t cap);
/* A copy of B's bytes to be kept a long time (a request head kept for a replay while a long
 * poll waits): in a small free-list buffer when they fit one (no allocation per request),
 * otherwise in a block of exactly their size rather than a 16 KiB one (freed when put back,
 * unless its size happens to be a standard one). */
struct pc_buf *pc_buf_clone_kept(const struct pc_buf *b);
/* Moves data[start, end) to the front so that free space is contiguous at the end. */
void pc_buf_compact(struct pc_buf *b);
void pc_buf_trim_freelist(size_t keep);

static inline size_t pc_buf_len(const struct pc_buf *b)
{
    return b->end - b->start;
}
static inline size_t pc_buf_room(const struct pc_buf *b)
{
    return b->cap - b->end;
}

#endif

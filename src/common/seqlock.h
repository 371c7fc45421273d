/* seqlock.h — one writer, many readers, over memory shared between processes (the OCSP
 * slots, the ACME challenge tables): a writer makes seq odd, writes, makes it even; a reader
 * copies and retries when seq was odd or moved meanwhile. A writer killed half-way leaves seq
 * odd: the next one starts from odd and ends even. Readers never wait: after a few tries
 * they go without (a writer is busy), which every caller can afford. */
#ifndef PORTICO_SEQLOCK_H
#define PORTICO_SEQLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PC_SEQ_TRIES 8

static inline void pc_seq_write_begin(uint32_t *seq)
{
    uint32_t v = __atomic_load_n(seq, __ATOMIC_RELAXED) | 1u;
    __atomic_store_n(seq, v, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void pc_seq_write_end(uint32_t *seq)
{
    uint32_t v = __atomic_load_n(seq, __ATOMIC_RELAXED);
    __atomic_store_n(seq, v + 1, __ATOMIC_RELEASE);
}

/* Copies N bytes at SRC (guarded by SEQ) into DST. true: DST is a stable copy; false: no
 * stable copy after PC_SEQ_TRIES tries (DST holds garbage). */
static inline bool pc_seq_read(const uint32_t *seq, void *dst, const void *src, size_t n)
{
    for (int tries = 0; tries < PC_SEQ_TRIES; tries++) {
        uint32_t a = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (a & 1u)
            continue;
        memcpy(dst, src, n);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(seq, __ATOMIC_RELAXED) == a)
            return true;
    }
    return false;
}

#endif

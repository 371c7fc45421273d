/* rec-int.h — what rec.c and rec-track.c share: the key schedule of RFC 8446 §7. */
#ifndef PORTICO_REC_INT_H
#define PORTICO_REC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tls/rec-t.h"

/* D's key and iv from its secret (§7.3); a new keyid. Returns 0 or -1. */
int pc_rec_keys(uint8_t suite, struct pc_rec_dir *d);
/* D's secret becomes the next one (§7.2, after a KeyUpdate). Returns 0 or -1. */
int pc_rec_next_secret(uint8_t suite, struct pc_rec_dir *d);
/* Seals LEN (at most 16384) bytes of content TYPE into one record at OUT, which has room for
 * LEN + 22 bytes, with R's write key. Returns the record's length, or -1. */
ssize_t pc_rec_seal(struct pc_rec *r, uint8_t type, const uint8_t *p, size_t len, uint8_t *out);

#endif

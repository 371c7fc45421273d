/* chunked.h — decoding chunked bodies (the state: chunked-t.h).
 *
 * portico frames Content-Length bodies itself and uses llhttp (strict mode) for chunked ones
 * only, with the checks llhttp 8.1 lacks: it checks the trailer section itself (llhttp ends it on a
 * bare LF, takes an empty name or a fold) and refuses malformed chunk extensions llhttp takes (a
 * '"' inside an unquoted value, an empty name or value, a ';' right after an unquoted value). See
 * fuzz/README.md. */

#ifndef PORTICO_CHUNKED_H
#define PORTICO_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>

#include "http/chunked-t.h"

/* Adds the chunk-extension checks to a module's llhttp settings. */
void pc_chunked_settings(llhttp_settings_t *st);
/* Puts C (initialised with llhttp_init and settings from pc_chunked_settings) at the start of
 * a chunked request or response body, trailers dropped (c->keep false, c->tr NULL: a section
 * kept from before must have been taken or released). Returns 0, or -1 if llhttp refuses
 * (never expected). */
int pc_chunked_begin(struct pc_chunked *c, bool request);
/* Gives back C's kept trailer section, if any. */
void pc_chunked_release(struct pc_chunked *c);
/* Feeds AT[0, LEN). HPE_OK: all consumed, more to come; HPE_PAUSED: the message is complete
 * after *USED bytes (the module's on_message_complete paused it); anything else is an error
 * at AT + *USED (HPE_USER: out of memory for a kept trailer section). on_body and
 * on_message_complete run inside, as llhttp calls them; with c->keep, c->tr holds the
 * trailer section (NULL when it is empty) by the time on_message_complete runs. */
enum llhttp_errno pc_chunked_feed(struct pc_chunked *c, const char *at, size_t len, size_t *used);

#endif

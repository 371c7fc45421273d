/* certwatch.h — the listener certificates and keys watched by the master
 * (docs/configuration.md, `certificate_watch`): certbot, win-acme output copied over or an
 * internal PKI replaces the files, and portico reloads by itself, with the same checks as
 * SIGHUP (a refused reload keeps the running configuration). */
#ifndef PORTICO_CERTWATCH_H
#define PORTICO_CERTWATCH_H

#include <stdbool.h>

#include "config/config-t.h"

/* How often the files are looked at, in seconds: a change is acted on once the files have
 * stayed the same for one period (a certificate and its key copied one after the other are
 * taken together, and a file being written is not read half-way). */
#define PC_CERTWATCH_PERIOD 2.0

/* Remembers what the certificate and key files of CFG are now (nothing when CFG says
 * certificate_watch = off). Called at start and after every reload, refused or not, so that
 * one change causes one reload. */
void pc_certwatch_arm(const struct pc_config *cfg);

/* At most once per period (NOW: a monotonic clock in seconds): whether a watched file changed
 * and has settled since pc_certwatch_arm. The change is logged with the file's name. */
bool pc_certwatch_due(double now);

/* Forgets everything (the master stops). */
void pc_certwatch_free(void);

#endif

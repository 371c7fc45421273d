/* ports.h — `portico ports`: the firewall tables (config/ports-tables.h) as Markdown, or an
 * nftables ruleset (ports-nft.c). */
#ifndef PORTICO_CLI_PORTS_H
#define PORTICO_CLI_PORTS_H

#include <stdio.h>

#include "cli/cli.h"
#include "config/ports-tables.h"

/* What `portico ports` prints, written to OUT. Returns -1 when out of memory. */
int pc_ports_write(const struct pc_config *cfg, const struct pc_ports_opts *opts, FILE *out);

#endif

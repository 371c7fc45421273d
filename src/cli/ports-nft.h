/* ports-nft.h — portico ports --format nft. */
#ifndef PORTICO_CLI_PORTS_NFT_H
#define PORTICO_CLI_PORTS_NFT_H

#include <stdio.h>

#include "cli/cli.h"
#include "config/flows.h"

/* Writes to OUT an nftables ruleset (table inet portico) that allows exactly FLOWS and the
 * external listeners of CFG, plus what OPTS adds. */
void pc_ports_nft(const struct pc_config *cfg, const struct pc_flows *flows,
                  const struct pc_ports_opts *opts, FILE *out);

#endif

/* probe.c — portico probe (placeholder until the port-summary issue). */
#include <stdio.h>

#include "cli/cli.h"

int pc_cmd_probe(const struct pc_config *cfg, const struct pc_tls *tls)
{
    (void)cfg;
    (void)tls;
    fputs("portico probe: not available in this version\n", stderr);
    return 2;
}

/* ports.c — portico ports (placeholder until the port-summary issue). */
#include <stdio.h>

#include "cli/cli.h"

int pc_cmd_ports(const struct pc_config *cfg, const struct pc_ports_opts *opts)
{
    (void)cfg;
    (void)opts;
    fputs("portico ports: not available in this version\n", stderr);
    return 2;
}

/* cli.h — the subcommands (README.md, "Command line") beside running the proxy. */
#ifndef PORTICO_CLI_H
#define PORTICO_CLI_H

#include "config/config-t.h"

struct pc_tls;

enum pc_ports_format { PC_PORTS_MARKDOWN, PC_PORTS_NFT };

struct pc_ports_opts {
    enum pc_ports_format format;
    bool allow_dns, allow_ntp, allow_ssh; /* nft: extra allowances so the admin is not locked out */
    bool allow_vrrp;                      /* nft: keepalived adverts (high availability) */
};

/* portico ports: prints the firewall requirements CFG implies (the two tables of Microsoft's port
 * summary, docs/firewall.md, or an nftables ruleset) on stdout; returns the exit status. */
int pc_cmd_ports(const struct pc_config *cfg, const struct pc_ports_opts *opts);

/* portico probe: checks every pool member from the internal address and prints a table of
 * OK/FAIL on stdout (progress on stderr); returns 0, or 1 if anything failed. */
int pc_cmd_probe(const struct pc_config *cfg, const struct pc_tls *tls);

/* portico import-arr FILE [-o OUT]: reads an IIS ARR applicationHost.config and writes a
 * commented portico.conf (docs/import-arr.md) to OUT or stdout; ARGV holds the ARGC arguments
 * after the subcommand's name. Returns the exit status (0, 1 on a bad file, 2 on bad usage). */
int pc_cmd_import_arr(int argc, char **argv);

/* portico signin list | clear NAME|ADDRESS: the sign-in locks of the running portico, through
 * its admin listener (docs/signin.md); OP is "list" or "clear" (TARGET: an account or a source
 * address). Returns 0, or 1 when the listener refused or cannot be reached. */
int pc_cmd_signin(const struct pc_config *cfg, const char *op, const char *target);

#endif

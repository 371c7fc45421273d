/* ports.c — portico ports: the two firewall tables of Microsoft's port summary (docs/firewall.md)
 * ("Firewall Details for Reverse Proxy Server: External Interface" and "... Internal Interface"),
 * filled in from the configuration with the real addresses, ports and names; or, with --format nft,
 * a ruleset (ports-nft.c).
 *
 * The output depends on nothing but the configuration (no time, no path), so that it can be
 * kept under version control next to the configuration and compared in golden tests. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "cli/ports-nft.h"
#include "cli/ports.h"

/* One cell of a Markdown table: what Markdown or HTML would take for markup is escaped, and
 * paragraphs become <br> (a table cell holds one line). */
static void md_cell(FILE *out, const char *text)
{
    for (const char *c = text; *c; c++) {
        switch (*c) {
        case '\n':
            fputs("<br>", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '|':
        case '\\':
        case '*':
        case '_':
        case '`':
            fputc('\\', out);
            fputc(*c, out);
            break;
        default:
            fputc(*c, out);
        }
    }
}

static void markdown(const struct pc_ports_tables *t, FILE *out)
{
    fputs("## Port and Protocol Details\n", out);
    for (int s = 0; s < 2; s++) {
        fprintf(out, "\n### %s\n\n|", t->side[s].title);
        for (int c = 0; c < PC_PORTS_NCOLS; c++)
            fprintf(out, " %s |", pc_ports_columns[c]);
        fputs("\n|", out);
        for (int c = 0; c < PC_PORTS_NCOLS; c++)
            fputs(" --- |", out);
        fputc('\n', out);
        for (size_t r = 0; r < t->side[s].nrows; r++) {
            fputc('|', out);
            for (int c = 0; c < PC_PORTS_NCOLS; c++) {
                fputc(' ', out);
                md_cell(out, t->side[s].rows[r].cell[c]);
                fputs(" |", out);
            }
            fputc('\n', out);
        }
    }
    if (t->admin_note) {
        fputc('\n', out);
        md_cell(out, t->admin_note);
        fputc('\n', out);
    }
}

int pc_ports_write(const struct pc_config *cfg, const struct pc_ports_opts *opts, FILE *out)
{
    if (opts->format == PC_PORTS_NFT) {
        struct pc_flows flows;
        if (pc_flows_build(cfg, &flows) < 0)
            return -1;
        pc_ports_nft(cfg, &flows, opts, out);
        pc_flows_free(&flows);
        return 0;
    }
    struct pc_ports_tables t;
    if (pc_ports_tables_build(cfg, &t) < 0)
        return -1;
    markdown(&t, out);
    pc_ports_tables_free(&t);
    return 0;
}

int pc_cmd_ports(const struct pc_config *cfg, const struct pc_ports_opts *opts)
{
    if (pc_ports_write(cfg, opts, stdout) < 0) {
        fputs("portico ports: out of memory\n", stderr);
        return 1;
    }
    /* A full disk or a closed pipe must not pass for a complete table or ruleset. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("portico ports: writing the output");
        return 1;
    }
    return 0;
}

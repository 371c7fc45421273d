/* ports-tables.h — the port summary's firewall tables (docs/firewall.md) as data, for whoever
 * renders them: `portico ports` (Markdown, cli/ports.c) and the status page (HTML,
 * admin/firewall.c). */
#ifndef PORTICO_CONFIG_PORTS_TABLES_H
#define PORTICO_CONFIG_PORTS_TABLES_H

#include "config/config-t.h"

enum { PC_PORTS_PROTO, PC_PORTS_SOURCE, PC_PORTS_DEST, PC_PORTS_NOTES, PC_PORTS_NCOLS };

/* The port summary's column titles. */
extern const char *const pc_ports_columns[PC_PORTS_NCOLS];

/* Cells are plain text (no markup: renderers escape), paragraphs separated by '\n'. */
struct pc_ports_row {
    char *cell[PC_PORTS_NCOLS];
};

struct pc_ports_table {
    const char *title; /* "Firewall Details for Reverse Proxy Server: External Interface" */
    struct pc_ports_row *rows;
    size_t nrows;
};

struct pc_ports_tables {
    struct pc_ports_table side[2]; /* [0] external, [1] internal */
    char *admin_note;              /* plain text, or NULL without an admin listener */
};

/* Computes the tables CFG implies. Returns -1 when out of memory (nothing to free then). */
int pc_ports_tables_build(const struct pc_config *cfg, struct pc_ports_tables *out);
void pc_ports_tables_free(struct pc_ports_tables *t);

#endif

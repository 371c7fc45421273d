/* firewall.c — the two firewall tables of Microsoft's port summary (docs/firewall.md) on the status
 * page, as this configuration implies them (the same data `portico ports` prints). */
#include "admin/admin.h"

#include "config/ports-tables.h"

static void cell(FILE *f, const char *s)
{
    pc_admin_html(f, s, true); /* cells separate paragraphs with newlines */
}

void pc_admin_firewall_html(FILE *f, const struct pc_config *cfg)
{
    struct pc_ports_tables t;
    if (pc_ports_tables_build(cfg, &t) < 0)
        return;
    for (int side = 0; side < 2; side++) {
        const struct pc_ports_table *tb = &t.side[side];
        fputs("<h2>", f);
        cell(f, tb->title);
        fputs("</h2><table class=\"fw\"><tr>", f);
        for (int c = 0; c < PC_PORTS_NCOLS; c++) {
            fputs("<th>", f);
            cell(f, pc_ports_columns[c]);
            fputs("</th>", f);
        }
        fputs("</tr>\n", f);
        for (size_t r = 0; r < tb->nrows; r++) {
            fputs("<tr>", f);
            for (int c = 0; c < PC_PORTS_NCOLS; c++) {
                fputs("<td>", f);
                cell(f, tb->rows[r].cell[c] ? tb->rows[r].cell[c] : "");
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    pc_ports_tables_free(&t);
}

/* firewall.c — the firewall tables on the status page (placeholder until `portico ports`
 * can render into a stream). */
#include "admin/admin.h"

void pc_admin_firewall_html(FILE *f)
{
    (void)f;
}

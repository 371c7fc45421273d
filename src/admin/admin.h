/* admin.h — the admin listener (metrics and status), served by worker 0. */
#ifndef PORTICO_ADMIN_H
#define PORTICO_ADMIN_H

#include <stdio.h>

/* Accepts and serves connections on the admin listening socket LFD. */
void pc_admin_accept(int lfd);

/* Writes the seed's two firewall tables as this configuration implies them, as HTML. */
void pc_admin_firewall_html(FILE *f);

#endif

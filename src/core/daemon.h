/* daemon.h — being a good service: systemd notifications and dropping privileges. */
#ifndef PORTICO_DAEMON_H
#define PORTICO_DAEMON_H

/* Sends STATE (e.g. "READY=1") to systemd when $NOTIFY_SOCKET is set; silent otherwise. */
void pc_notify(const char *state);

/* Becomes USER (its uid, gid and groups) keeping CAP_NET_BIND_SERVICE alone,
 * so that a reload can still bind ports below 1024. 0 on success, -1 (logged) on failure.
 * Does nothing when USER is NULL or the process is not root. */
int pc_drop_privileges(const char *user);

/* Drops every capability (workers need none). */
void pc_drop_all_caps(void);

#endif

/* daemon.h — being a good service: systemd notifications, dropping privileges, hardening. */
#ifndef PORTICO_DAEMON_H
#define PORTICO_DAEMON_H

/* Sends STATE (e.g. "READY=1") to systemd when $NOTIFY_SOCKET is set; silent otherwise. */
void pc_notify(const char *state);

/* Core dumps off (RLIMIT_CORE 0, soft and hard), the process not dumpable (no core, no
 * ptrace or /proc/PID/mem by the same user), PR_SET_NO_NEW_PRIVS. Already done before main()
 * in every portico process; the master and the workers call it again (pc_drop_privileges,
 * pc_drop_all_caps). 0 on success, -1 (logged) on failure. See docs/security.md. */
int pc_harden(void);

/* Hardens (pc_harden) then becomes USER (its uid, and its primary group as the only group:
 * supplementary groups are dropped) keeping CAP_NET_BIND_SERVICE alone, so that a reload can
 * still bind ports below 1024. 0 on success, -1 (logged) on failure. Does nothing when USER is
 * NULL or the process is not root. */
int pc_drop_privileges(const char *user);

/* Hardens again (pc_harden; a failure is logged only) and drops every capability (workers
 * need none). */
void pc_drop_all_caps(void);

#endif

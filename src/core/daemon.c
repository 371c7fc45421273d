/* daemon.c — systemd notifications (sd_notify protocol, without libsystemd), privilege
 * dropping (raw capset, without libcap) and process hardening (no core dumps, not dumpable,
 * no new privileges: docs/security.md). */
#include "core/daemon.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

void pc_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@'))
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
        pc_warn("sd_notify %s: %s", state, strerror(errno));
    close(fd);
}

static int set_caps(uint32_t mask)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    d[0].effective = d[0].permitted = mask;
    return (int)syscall(SYS_capset, &h, d);
}

/* The three settings, each checked; the first failure as a static string (errno kept). */
static const char *harden(void)
{
    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) < 0)
        return "setrlimit(RLIMIT_CORE, 0)";
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return "prctl(PR_SET_DUMPABLE, 0)";
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
        errno = EPERM;
        return "PR_GET_DUMPABLE";
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return "prctl(PR_SET_NO_NEW_PRIVS, 1)";
    return NULL;
}

/* Before main(): `portico -t`, the master and a reload read private keys (and the ticket
 * secret) into memory long before the master reaches pc_drop_privileges(), so a crash at any
 * point must already find core dumps off. Silent here (the log is not set up yet):
 * pc_harden() runs again in the master and in every worker and reports a failure. */
__attribute__((constructor)) static void harden_early(void)
{
    int saved = errno;
    (void)harden();
    errno = saved;
}

int pc_harden(void)
{
    const char *what = harden();
    if (what) {
        pc_err("hardening: %s: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

/* Takes UID and GID with GID as the only group, keeping the capabilities across setuid() for
 * set_caps(); then checks that no real, effective or saved id and no supplementary group is
 * left of root's or of USER's other groups. NULL, or the step that failed (errno set). */
static const char *become(uid_t uid, gid_t gid)
{
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return "prctl(PR_SET_KEEPCAPS, 1)";
    /* Not initgroups(): a supplementary group (ssl-cert, adm, a group of the keys of another
     * service) would let every worker read what that group may, and `portico -t` checks the
     * files with the primary group alone. setgroups() comes first: it needs root. */
    if (setgroups(1, &gid) < 0)
        return "setgroups";
    if (setgid(gid) < 0)
        return "setgid";
    if (setuid(uid) < 0)
        return "setuid";
    uid_t ru, eu, su;
    gid_t rg, eg, sg, groups[2];
    if (getresuid(&ru, &eu, &su) < 0)
        return "getresuid";
    if (getresgid(&rg, &eg, &sg) < 0)
        return "getresgid";
    int n = getgroups(2, groups);
    if (n < 0)
        return "getgroups";
    if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid || n != 1 ||
        groups[0] != gid) {
        errno = EPERM;
        return "the ids after the change";
    }
    return NULL;
}

int pc_drop_privileges(const char *user)
{
    /* The master comes here after binding, whether or not it changes user. */
    if (pc_harden() < 0)
        return -1;
    if (!user || geteuid() != 0)
        return 0;
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        pc_err("user %s: no such user%s%s", user, errno ? ": " : "", errno ? strerror(errno) : "");
        return -1;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    const char *what = become(uid, gid);
    if (what) {
        pc_err("dropping privileges to %s: %s: %s", user, what, strerror(errno));
        return -1;
    }
    if (set_caps(1u << CAP_NET_BIND_SERVICE) < 0) {
        pc_err("keeping CAP_NET_BIND_SERVICE: %s", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        pc_warn("PR_SET_KEEPCAPS: %s", strerror(errno));
    /* setuid() reset the dumpable flag to fs.suid_dumpable (2 would dump our memory as root). */
    if (pc_harden() < 0)
        return -1;
    pc_info("running as %s (uid %d, gid %d, no supplementary group) with CAP_NET_BIND_SERVICE only",
            user, (int)uid, (int)gid);
    return 0;
}

void pc_drop_all_caps(void)
{
    /* Inherited from the master through fork(); set again so that a worker never depends on
     * it (a failure is logged; the worker goes on with what the master set). */
    (void)pc_harden();
    if (geteuid() == 0)
        return; /* running as root on purpose: nothing to drop here */
    if (set_caps(0) < 0)
        pc_warn("dropping capabilities: %s", strerror(errno));
}

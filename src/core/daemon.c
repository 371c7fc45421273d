/* daemon.c — systemd notifications (sd_notify protocol, without libsystemd) and privilege
 * dropping (raw capset, without libcap). */
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

int pc_drop_privileges(const char *user)
{
    if (!user || geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        pc_err("user %s: no such user", user);
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || initgroups(pw->pw_name, pw->pw_gid) < 0 ||
        setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        pc_err("dropping privileges to %s: %s", user, strerror(errno));
        return -1;
    }
    if (set_caps(1u << CAP_NET_BIND_SERVICE) < 0) {
        pc_err("keeping CAP_NET_BIND_SERVICE: %s", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        pc_warn("PR_SET_KEEPCAPS: %s", strerror(errno));
    pc_info("running as %s (uid %d) with CAP_NET_BIND_SERVICE only", user, (int)pw->pw_uid);
    return 0;
}

void pc_drop_all_caps(void)
{
    if (geteuid() == 0)
        return; /* running as root on purpose: nothing to drop here */
    if (set_caps(0) < 0)
        pc_warn("dropping capabilities: %s", strerror(errno));
}

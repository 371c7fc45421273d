/* config-files.c — paths in the configuration and the files they name. */
#include "config/config-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *pc_cfg_abspath(const char *dir, const char *val)
{
    if (val[0] == '/')
        return pc_cfg_strdup(val);
    size_t n = strlen(dir);
    return pc_cfg_printf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", val);
}

bool pc_cfg_check_file(struct pc_cfg_loader *ld, int line, const char *key, const char *path)
{
    /* Opening, rather than access(), also catches what the permission bits do not show. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        pc_cfg_error(ld, line, "%s '%s': %s", key, path, strerror(errno));
        return false;
    }
    struct stat st;
    bool ok = true;
    if (fstat(fd, &st) < 0) {
        pc_cfg_error(ld, line, "%s '%s': %s", key, path, strerror(errno));
        ok = false;
    } else if (S_ISDIR(st.st_mode)) {
        pc_cfg_error(ld, line, "%s '%s': is a directory", key, path);
        ok = false;
    }
    if (close(fd) < 0 && ok) {
        pc_cfg_error(ld, line, "%s '%s': %s", key, path, strerror(errno));
        ok = false;
    }
    return ok;
}

bool pc_cfg_user_lookup(struct pc_cfg_loader *ld, int line, const char *name, struct pc_cfg_user *u)
{
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        pc_cfg_error(ld, line, "unknown user '%s'%s%s", name, errno ? ": " : "",
                     errno ? strerror(errno) : "");
        return false;
    }
    if (pw->pw_uid == 0)
        return false; /* root reads everything: nothing to check */
    /* Only what the checks need: the passwd entry is overwritten by the next lookup. */
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid; /* not its supplementary groups: the running portico drops them */
    snprintf(u->name, sizeof u->name, "%s", pw->pw_name);
    return true;
}

/* Whether the user U (not root), with its primary group alone, has the permission BITS (read
 * 4, search 1) on ST, from its owner, group and mode; ACLs are not looked at. */
static bool allowed(const struct stat *st, const struct pc_cfg_user *u, mode_t bits)
{
    if (st->st_uid == u->uid)
        return st->st_mode & (bits << 6);
    if (st->st_gid == u->gid)
        return st->st_mode & (bits << 3);
    return st->st_mode & bits;
}

void pc_cfg_check_user_file(struct pc_cfg_loader *ld, const struct pc_cfg_user *u, int line,
                            const char *key, const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) < 0)
        return; /* a missing file was reported already */
    if (!allowed(&st, u, 4)) {
        pc_cfg_error(ld, line, "%s '%s' is not readable by user '%s'", key, path, u->name);
        return;
    }
    /* The user must also be able to search every directory on the way (paths are absolute). */
    char *dir = pc_cfg_strdup(path);
    for (char *slash = strchr(dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        bool ok = stat(dir, &st) < 0 || allowed(&st, u, 1);
        if (!ok) {
            pc_cfg_error(ld, line, "%s '%s' is not readable by user '%s': no access to '%s'", key,
                         path, u->name, dir);
            break;
        }
        *slash = '/';
    }
    free(dir);
}

/* The absolute directory of PATH; relative paths in the file are taken from there. */
char *pc_cfg_config_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? pc_cfg_strndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : pc_cfg_strdup(".");
    char *abs = realpath(dir, NULL);
    if (abs) {
        free(dir);
        return abs;
    }
    if (dir[0] == '/')
        return dir;
    /* realpath failed (a directory we may not search): fall back to the working directory. */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return dir;
    char *s = pc_cfg_printf("%s/%s", cwd, dir);
    free(dir);
    return s;
}

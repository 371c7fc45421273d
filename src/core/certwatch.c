/* certwatch.c — the listener certificates and keys watched by the master (certwatch.h).
 *
 * A periodic stat() rather than inotify: the files are few, the master already wakes every
 * second, and a stat sees every way a file can be replaced (rename over it, copy into it, a
 * symlink moved, as certbot's live/ directory does) without watching directories. */
#include "core/certwatch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"

/* What a file is now: enough to tell that it was replaced or rewritten. */
struct sig {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct watched {
    char *path;
    struct sig armed; /* at the last pc_certwatch_arm */
    struct sig seen;  /* at the last look */
};

static struct watched *files;
static size_t nfiles;
static double next_look;

static struct sig sig_of(const char *path)
{
    struct stat st;
    struct sig g = {0};
    if (stat(path, &st) != 0) /* follows symlinks: certbot's live/ files are links */
        return g;
    g = (struct sig){true, st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
    return g;
}

static bool sig_eq(const struct sig *a, const struct sig *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Adds PATH once (a certificate and key may share a file). */
static void watch(const char *path)
{
    if (!path)
        return;
    for (size_t i = 0; i < nfiles; i++)
        if (strcmp(files[i].path, path) == 0)
            return;
    struct watched *n = realloc(files, (nfiles + 1) * sizeof(*n));
    char *p = strdup(path);
    if (!n || !p) {
        free(p);
        files = n ? n : files;
        pc_warn("certificate_watch: out of memory: %s is not watched", path);
        return;
    }
    files = n;
    files[nfiles].path = p;
    files[nfiles].armed = files[nfiles].seen = sig_of(path);
    nfiles++;
}

void pc_certwatch_free(void)
{
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].path);
    free(files);
    files = NULL;
    nfiles = 0;
}

void pc_certwatch_arm(const struct pc_config *cfg)
{
    pc_certwatch_free();
    for (size_t i = 0; i < cfg->ncerts; i++) {
        /* The files of `certificate = acme` are always watched: the ACME helper's new pair
         * takes effect through the reload this triggers (tls/acme.c). */
        if (!cfg->certificate_watch && !cfg->certs[i].acme)
            continue;
        watch(cfg->certs[i].cert);
        watch(cfg->certs[i].key);
    }
}

bool pc_certwatch_due(double now)
{
    if (nfiles == 0 || now < next_look)
        return false;
    next_look = now + PC_CERTWATCH_PERIOD;
    bool changed = false, settled = true;
    for (size_t i = 0; i < nfiles; i++) {
        struct watched *w = &files[i];
        struct sig now_sig = sig_of(w->path);
        if (!sig_eq(&now_sig, &w->seen))
            settled = false; /* still moving: look again next period */
        w->seen = now_sig;
        changed |= !sig_eq(&now_sig, &w->armed);
    }
    if (!changed || !settled)
        return false;
    for (size_t i = 0; i < nfiles; i++)
        if (!sig_eq(&files[i].seen, &files[i].armed))
            pc_info("certificate_watch: %s changed%s: reloading", files[i].path,
                    files[i].seen.exists ? "" : " (it is gone)");
    return true;
}

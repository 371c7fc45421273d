/* helpers.c — the master's helper processes (helpers.h; docs/certificates.md).
 *
 * One process that fetches the OCSP responses and one that orders the ACME certificates, so
 * that neither the workers nor the master's loop ever wait for a responder or a CA. Forked
 * after the privilege drop, each keeps nothing it does not need: no listening socket, no
 * capability, no listener private key, no ticket secret. */
#include "core/helpers.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "core/daemon.h"
#include "tls/acme.h"
#include "tls/ocsp.h"

enum { H_OCSP, H_ACME, NHELPERS };
static struct helper {
    const char *name;
    pid_t pid;         /* 0: none */
    time_t respawn_at; /* when to start it again after it died; 0: not due */
} helpers[NHELPERS] = {{"ocsp", 0, 0}, {"acme", 0, 0}};

static _Noreturn void helper_child(pid_t master, int which, const struct pc_config *cfg,
                                   struct pc_tls **tls, void (*close_inherited)(void))
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != master)
        _exit(1);
    close_inherited();
    pc_drop_all_caps();
    struct pc_ocsp_set *set = (*tls)->ocsp;
    (*tls)->ocsp = NULL;
    pc_tls_free(*tls); /* the keys are cleared as OpenSSL frees them */
    *tls = NULL;
    pc_tls_forget_secrets();
    /* SIGTERM and SIGINT stay blocked: each helper reads them (tls/fetch.c, a signalfd). */
    if (which == H_ACME) {
        pc_ocsp_set_free(set);
        pc_acme_helper_run(cfg);
    }
    pc_ocsp_helper_run(set);
}

/* Starts each helper that CFG's running contexts need and that is not running. */
void pc_helpers_start(const struct pc_config *cfg, struct pc_tls **tls,
                      void (*close_inherited)(void))
{
    for (int i = 0; i < NHELPERS; i++) {
        struct helper *h = &helpers[i];
        h->respawn_at = 0;
        bool wanted = *tls && (i == H_OCSP ? pc_ocsp_wanted((*tls)->ocsp) : pc_acme_wanted(cfg));
        if (h->pid || !wanted)
            continue;
        if (i == H_ACME)
            pc_acme_status_reset(cfg); /* no ACME helper runs: the only writer */
        pid_t master = getpid();
        pid_t pid = fork();
        if (pid < 0) {
            pc_err("%s: cannot start the helper: fork: %s; trying again in 10 s", h->name,
                   strerror(errno));
            h->respawn_at = time(NULL) + 10;
            continue;
        }
        if (pid == 0)
            helper_child(master, i, cfg, tls, close_inherited);
        h->pid = pid;
    }
}

/* Stops the helpers and waits for them, so that no slot ever has two writers (tls/ocsp-t.h,
 * tls/acme-t.h). SIGTERM ends one within milliseconds, even in the middle of a request (it
 * polls a signalfd); one that has not ended after HELPER_STOP_WAIT is killed, which is safe
 * too: files are written by rename and slots under a seqlock. */
#define HELPER_STOP_WAIT 2.0
static void helper_stop(struct helper *h)
{
    h->respawn_at = 0;
    if (!h->pid)
        return;
    if (kill(h->pid, SIGTERM) < 0)
        pc_warn("%s: stopping the helper pid %d: %s", h->name, (int)h->pid, strerror(errno));
    int status;
    for (int i = 0; i < (int)(HELPER_STOP_WAIT * 100); i++) {
        pid_t r = waitpid(h->pid, &status, WNOHANG);
        if (r == h->pid || (r < 0 && errno != EINTR)) {
            h->pid = 0;
            return;
        }
        struct timespec ten_ms = {0, 10 * 1000 * 1000};
        if (nanosleep(&ten_ms, NULL) < 0 && errno != EINTR)
            break; /* cannot wait: kill it now */
    }
    pc_warn("%s: the helper pid %d did not stop within %.0f s: killing it", h->name, (int)h->pid,
            HELPER_STOP_WAIT);
    if (kill(h->pid, SIGKILL) < 0)
        pc_warn("%s: killing the helper pid %d: %s", h->name, (int)h->pid, strerror(errno));
    while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
        ;
    h->pid = 0;
}

void pc_helpers_stop(void)
{
    for (int i = 0; i < NHELPERS; i++)
        helper_stop(&helpers[i]);
}

/* Who state_dir belongs to: `user`'s when running as root with one (then *CHOWN_IT). */
static void state_owner(const struct pc_config *cfg, bool *chown_it, uid_t *uid, gid_t *gid)
{
    *chown_it = false;
    *uid = 0;
    *gid = 0;
    if (geteuid() == 0 && cfg->user) {
        struct passwd *pw = getpwnam(cfg->user);
        if (pw) {
            *chown_it = true;
            *uid = pw->pw_uid;
            *gid = pw->pw_gid;
        }
    }
}

void pc_helpers_state_dir(const struct pc_config *cfg, const struct pc_tls *tls)
{
    bool chown_it;
    uid_t uid;
    gid_t gid;
    state_owner(cfg, &chown_it, &uid, &gid);
    (void)pc_ocsp_state_dir(tls->ocsp, chown_it, uid, gid);
}

void pc_helpers_prepare(const struct pc_config *cfg)
{
    bool chown_it;
    uid_t uid;
    gid_t gid;
    state_owner(cfg, &chown_it, &uid, &gid);
    (void)pc_acme_prepare(cfg, chown_it, uid, gid);
}

bool pc_helpers_reaped(pid_t pid, int status, bool stopping)
{
    for (int k = 0; k < NHELPERS; k++) {
        struct helper *h = &helpers[k];
        if (h->pid != pid)
            continue;
        h->pid = 0;
        if (!stopping) {
            pc_err("%s: the helper (pid %d) died (%s %d); restarting it in 10 s", h->name, (int)pid,
                   WIFSIGNALED(status) ? "signal" : "status",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            h->respawn_at = time(NULL) + 10;
        }
        return true;
    }
    return false;
}

bool pc_helpers_due(time_t now)
{
    for (int i = 0; i < NHELPERS; i++)
        if (helpers[i].respawn_at && helpers[i].respawn_at <= now)
            return true;
    return false;
}

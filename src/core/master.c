/* master.c — binds the listeners, runs the workers, and turns signals into actions.
 *
 * The master never touches a client connection. It loads the configuration (resolving member
 * names: the only place DNS happens), opens one SO_REUSEPORT socket per listening address and
 * worker slot, and forks the workers. A reload loads the new configuration first; if it has
 * errors they are logged and nothing changes. Otherwise new workers start on the same sockets
 * (matching ones are kept open, so no queued connection is lost) and the old workers stop
 * accepting and finish what they carry. A generation starts all or none: its workers wait
 * until every one of them is forked, and if one cannot be (fork failing with EAGAIN on a full
 * process table), the others are killed and reaped before they accept anything, the reload is
 * refused and the old generation keeps serving. Every child is tracked in procs[] from the
 * moment fork() returns until it is reaped. */
#include "core/master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin/history.h"
#include "admin/stats.h"
#include "common/log.h"
#include "common/net.h"
#include "config/config.h"
#include "core/certwatch.h"
#include "core/daemon.h"
#include "core/helpers.h"
#include "core/worker.h"
#include "tls/acme.h"
#include "tls/ocsp.h"
#include "tls/tls.h"

#define MAX_WORKERS 256
#define MAX_PROCS   (MAX_WORKERS * 4) /* the generations that may run at once, draining ones too */

struct msock {
    struct pc_addr addr; /* with port */
    enum pc_listener_kind kind;
    int slot;
    int fd;
    bool used;
};

struct wproc {
    pid_t pid;
    int slot;
    unsigned gen;
    time_t started;
    int stats_slot;
    int accepting; /* read end of its pipe: EOF once it no longer accepts; -1 once seen */
};

static struct msock *socks;
static size_t nsocks;
static struct wproc procs[MAX_PROCS];
static size_t nprocs;
static unsigned generation;            /* the generation serving: 1 at start, one more per reload */
static time_t respawn_at[MAX_WORKERS]; /* slots of the serving generation to restart; 0: none */
static struct pc_tls *tls;             /* contexts of the current configuration */

static bool addr_eq(const struct pc_addr *a, const struct pc_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static int open_listener(const struct pc_addr *a)
{
    char name[80];
    pc_net_endpoint_text(a, name, sizeof(name));
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        pc_err("listen %s: socket: %s", name, strerror(errno));
        return -1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        pc_err("listen %s: setsockopt: %s", name, strerror(errno));
        goto fail;
    }
    if (a->ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) {
        pc_err("listen %s: IPV6_V6ONLY: %s", name, strerror(errno));
        goto fail;
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
        pc_err("listen %s: bind: %s", name, strerror(errno));
        goto fail;
    }
    if (listen(fd, 4096) < 0) {
        pc_err("listen %s: %s", name, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Makes the socket set match CFG: keeps the sockets that still apply, opens the new ones.
 * Sockets no longer wanted are closed by close_unused() once the old workers are gone.
 * Returns -1 (and changes nothing that is in use) if a socket cannot be opened. */
static int reconcile_sockets(const struct pc_config *cfg)
{
    size_t want = 0;
    int ports[2] = {cfg->http_port, cfg->ncerts ? cfg->https_port : 0};
    enum pc_listener_kind kinds[2] = {PC_LISTEN_HTTP, PC_LISTEN_HTTPS};
    if (cfg->https_port && !cfg->ncerts)
        pc_warn("https_port %d: no certificate configured, HTTPS listener off", cfg->https_port);
    struct msock *ns = calloc(nsocks + cfg->nexternal * 2 * (size_t)cfg->workers + 2, sizeof(*ns));
    if (!ns)
        return -1;
    /* The flags change on the copy only: on failure socks[] still says what the running
     * workers use, which a worker restarted later must get. */
    if (nsocks)
        memcpy(ns, socks, nsocks * sizeof(*ns));
    for (size_t i = 0; i < nsocks; i++)
        ns[i].used = false;
    size_t n = nsocks;
    for (size_t e = 0; e < cfg->nexternal; e++) {
        for (int k = 0; k < 2; k++) {
            if (!ports[k])
                continue;
            struct pc_addr a = cfg->external[e];
            pc_net_set_port(&a, ports[k]);
            for (int slot = 0; slot < cfg->workers; slot++) {
                want++;
                size_t j;
                for (j = 0; j < n; j++)
                    if (ns[j].slot == slot && ns[j].kind == kinds[k] && addr_eq(&ns[j].addr, &a))
                        break;
                if (j < n) {
                    ns[j].used = true;
                    continue;
                }
                int fd = open_listener(&a);
                if (fd < 0) {
                    for (size_t x = nsocks; x < n; x++)
                        close(ns[x].fd);
                    free(ns);
                    return -1;
                }
                ns[n++] = (struct msock){a, kinds[k], slot, fd, true};
            }
        }
    }
    if (cfg->has_admin) {
        /* One admin socket, served by worker slot 0 (it sums every worker's metrics). */
        size_t j;
        for (j = 0; j < n; j++)
            if (ns[j].kind == PC_LISTEN_ADMIN && addr_eq(&ns[j].addr, &cfg->admin))
                break;
        if (j < n) {
            ns[j].used = true;
        } else {
            int fd = open_listener(&cfg->admin);
            if (fd < 0) {
                for (size_t x = nsocks; x < n; x++)
                    close(ns[x].fd);
                free(ns);
                return -1;
            }
            ns[n++] = (struct msock){cfg->admin, PC_LISTEN_ADMIN, 0, fd, true};
        }
    }
    free(socks);
    socks = ns;
    nsocks = n;
    if (want == 0)
        pc_warn("no listener is configured");
    return 0;
}

static void close_unused(void)
{
    size_t k = 0;
    for (size_t i = 0; i < nsocks; i++) {
        if (socks[i].used)
            socks[k++] = socks[i];
        else
            close(socks[i].fd);
    }
    nsocks = k;
}

/* Undoes reconcile_sockets() after a refused reload: the sockets from KEEP on were opened for
 * it and are closed (its workers were killed before they used them), and the ones before are
 * the running generation's, all in use (close_unused() ran after the last reload). */
static void rollback_sockets(size_t keep)
{
    for (size_t i = keep; i < nsocks; i++)
        close(socks[i].fd);
    nsocks = keep;
    for (size_t i = 0; i < nsocks; i++)
        socks[i].used = true;
}

/* The one place `workers` is bounded, for start-up and reload alike, and before
 * reconcile_sockets(): it opens one socket per listening address and worker slot, and a
 * socket of a slot with no worker would queue connections that nobody accepts. */
static void clamp_workers(struct pc_config *cfg)
{
    if (cfg->workers <= MAX_WORKERS)
        return;
    pc_warn("workers = %d: more than %d, starting %d worker processes", cfg->workers, MAX_WORKERS,
            MAX_WORKERS);
    cfg->workers = MAX_WORKERS;
}

/* In a child of start_workers(): waits until the whole generation is forked (EOF on GO, once
 * the master closes its end), so that a generation that cannot be completed is killed before
 * any of it has accepted a connection. Dies with the master meanwhile. */
static void wait_for_go(const int go[2], pid_t master)
{
    close(go[1]);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != master)
        _exit(1);
    char c;
    ssize_t r;
    while ((r = read(go[0], &c, 1)) < 0 && errno == EINTR)
        ;
    close(go[0]);
    if (r != 0 || getppid() != master)
        _exit(1); /* the master is gone, or GO is not what it should be */
}

/* In the child: keeps this slot's sockets, closes the rest and the other workers' pipes,
 * and runs the worker. */
static _Noreturn void worker_child(const struct pc_config *cfg, int slot, int stats_slot,
                                   int accept_fd, const int go[2], pid_t master)
{
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].accepting >= 0)
            close(procs[i].accepting);
    if (go)
        wait_for_go(go, master);
    pc_worker_accept_fd = accept_fd;
    pc_stats_attach(stats_slot, getpid());
    struct pc_listener *ls = calloc(nsocks + 1, sizeof(*ls));
    if (!ls) {
        pc_err("worker %d: out of memory", slot);
        _exit(1);
    }
    size_t n = 0;
    for (size_t i = 0; i < nsocks; i++) {
        if (socks[i].used && (socks[i].slot == slot))
            ls[n++] = (struct pc_listener){
                .fd = socks[i].fd, .kind = socks[i].kind, .addr = socks[i].addr};
        else
            close(socks[i].fd);
    }
    _exit(pc_worker_run(cfg, tls, ls, n, slot));
}

/* Forks the worker of SLOT as generation GEN and tracks it in procs[] (the caller makes
 * room) as soon as fork() returns. Its entry's `accepting` is the read end of a pipe whose
 * write end only the worker holds, closed when it stops accepting (a reload's SIGQUIT) or
 * exits. GO: see wait_for_go(); NULL to start at once. -1 with errno kept and *WHAT naming
 * the call that failed. */
static int spawn(const struct pc_config *cfg, int slot, unsigned gen, const int go[2],
                 const char **what)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        *what = "pipe";
        return -1;
    }
    int ss = pc_stats_reserve();
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        *what = "fork";
        pc_stats_release(ss);
        close(p[0]);
        close(p[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        worker_child(cfg, slot, ss, p[1], go, master);
    }
    close(p[1]);
    procs[nprocs++] = (struct wproc){pid, slot, gen, time(NULL), ss, p[0]};
    return 0;
}

/* Kills and reaps the workers from procs[FIRST] on: a generation that could not be completed,
 * still waiting for GO, so nothing it could have accepted is lost. */
static void kill_from(size_t first)
{
    while (nprocs > first) {
        struct wproc w = procs[--nprocs];
        if (kill(w.pid, SIGKILL) < 0)
            pc_err("killing worker pid %d: %s", (int)w.pid, strerror(errno));
        int status;
        while (waitpid(w.pid, &status, 0) < 0) {
            if (errno != EINTR) {
                pc_err("waiting for worker pid %d: %s", (int)w.pid, strerror(errno));
                break;
            }
        }
        close(w.accepting);
        pc_stats_release(w.stats_slot);
    }
}

/* Starts one worker per slot of CFG as generation GEN. All or none: if one cannot be started
 * (fork fails with EAGAIN when the process table or a pids limit is full), those already
 * forked are killed and reaped, and -1 comes back with the reason in WHY. */
static int start_workers(const struct pc_config *cfg, unsigned gen, char *why, size_t len)
{
    size_t first = nprocs;
    int go[2];
    if (nprocs + (size_t)cfg->workers > MAX_PROCS) {
        snprintf(why, len, "%zu worker processes still running, room for %zu more", nprocs,
                 MAX_PROCS - nprocs);
        return -1;
    }
    if (pipe2(go, O_CLOEXEC) < 0) {
        snprintf(why, len, "pipe: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int slot = 0; slot < cfg->workers && rc == 0; slot++) {
        const char *what = "";
        if (spawn(cfg, slot, gen, go, &what) < 0) {
            snprintf(why, len, "worker %d of %d: %s: %s", slot + 1, cfg->workers, what,
                     strerror(errno));
            kill_from(first);
            rc = -1;
        }
    }
    close(go[0]);
    close(go[1]); /* EOF: the workers forked go on */
    return rc;
}

static void signal_old(unsigned gen_below, int sig)
{
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].gen < gen_below && kill(procs[i].pid, sig) < 0)
            pc_warn("signal %d to worker pid %d: %s", sig, (int)procs[i].pid, strerror(errno));
}

/* Waits until every worker of a generation below GEN_BELOW has stopped accepting (closed its
 * listeners after SIGQUIT, or exited), for up to LIMIT seconds: only then is a connection that
 * arrives sure to reach a worker of the new generation. */
static void wait_stopped_accepting(unsigned gen_below, double limit)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pf[sizeof(procs) / sizeof(procs[0])];
        nfds_t n = 0;
        for (size_t i = 0; i < nprocs; i++)
            if (procs[i].gen < gen_below && procs[i].accepting >= 0)
                pf[n++] = (struct pollfd){.fd = procs[i].accepting, .events = POLLIN};
        if (n == 0)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = limit - ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9);
        if (left <= 0) {
            pc_warn("reload: %u old worker(s) still accepting after %.0f s", (unsigned)n, limit);
            return;
        }
        int r = poll(pf, n, (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) {
            pc_warn("reload: poll: %s", strerror(errno));
            return;
        }
        for (nfds_t k = 0; r > 0 && k < n; k++) {
            if (!pf[k].revents)
                continue;
            for (size_t i = 0; i < nprocs; i++) {
                if (procs[i].accepting == pf[k].fd) {
                    close(procs[i].accepting);
                    procs[i].accepting = -1;
                }
            }
        }
    }
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            pc_warn("raising the open-files limit: %s", strerror(errno));
    }
}

/* In a helper (core/helpers.c), right after fork: what it must not keep of the master's. */
static void close_inherited(void)
{
    for (size_t i = 0; i < nsocks; i++)
        close(socks[i].fd);
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].accepting >= 0)
            close(procs[i].accepting);
}

/* Loads the configuration again, logging its diagnostics; NULL if it has errors. */
static struct pc_config *load_next(const struct pc_config *cur)
{
    struct pc_diag diag = {0};
    pc_info("reloading %s", cur->path);
    struct pc_config *next = pc_config_load(cur->path, &diag);
    if (diag.text) {
        /* One log line per diagnostic. */
        char *save = NULL;
        for (char *l = strtok_r(diag.text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            pc_log(next ? PC_LOG_WARN : PC_LOG_ERR, "%s", l);
    }
    pc_diag_free(&diag);
    return next;
}

/* A refused reload: logged with WHY and counted; nothing of NEXT is kept. */
static struct pc_config *refuse(struct pc_config *cur, struct pc_config *next,
                                struct pc_tls *next_tls, const char *why)
{
    pc_err("reload refused: %s; the running one stays", why);
    if (pc_stats)
        pc_stats->reload_failures_total++;
    pc_tls_free(next_tls);
    pc_config_free(next);
    return cur;
}

/* The ticket secret is global and NEXT's was set for its workers: a refused reload puts the
 * running configuration's back, which a restarted worker gets. */
static void restore_ticket_secret(const struct pc_config *cur)
{
    if (pc_tls_ticket_secret(cur) < 0)
        pc_warn("reload: the running configuration's ticket secret could not be set again");
}

static struct pc_config *reload(struct pc_config *cur)
{
    if (pc_stats) {
        pc_stats->reloads_total++;
        pc_stats->last_reload_time = (double)time(NULL);
        pc_stats->last_reload_ok = 0;
    }
    struct pc_config *next = load_next(cur);
    if (!next)
        return refuse(cur, NULL, NULL, "the configuration has errors");
    clamp_workers(next); /* as at start-up, before any socket is opened for it */
    /* Certificates and keys are read again: a renewed certificate needs only a reload. */
    pc_helpers_prepare(next);
    struct pc_tls *next_tls = pc_tls_load(next, NULL);
    if (!next_tls || pc_tls_ticket_secret(next) < 0)
        return refuse(cur, next, next_tls, "TLS setup failed");
    size_t old_nsocks = nsocks;
    if (reconcile_sockets(next) < 0) {
        restore_ticket_secret(cur);
        return refuse(cur, next, next_tls, "cannot open the new listeners");
    }
    struct pc_tls *old_tls = tls;
    pc_helpers_stop();
    tls = next_tls; /* what the new workers inherit */
    pc_ocsp_publish(tls->ocsp);
    pc_helpers_state_dir(next, tls);
    char why[128], msg[192];
    if (start_workers(next, generation + 1, why, sizeof(why)) < 0) {
        /* The old generation was not told anything: it goes on as if no SIGHUP had come. */
        tls = old_tls;
        pc_ocsp_publish(tls->ocsp);
        pc_helpers_start(cur, &tls, close_inherited);
        rollback_sockets(old_nsocks);
        restore_ticket_secret(cur);
        snprintf(msg, sizeof(msg), "cannot start the new workers (%s)", why);
        return refuse(cur, next, next_tls, msg);
    }
    generation++;
    pc_helpers_start(next, &tls, close_inherited);
    memset(respawn_at, 0, sizeof(respawn_at)); /* every slot has a worker of the new one */
    signal_old(generation, SIGQUIT);
    /* Confirmed (log line, READY=1) only once no old worker can take a new connection. */
    wait_stopped_accepting(generation, 5.0);
    close_unused();
    pc_info("reload done: %d worker(s) on the new configuration", next->workers);
    if (pc_stats)
        pc_stats->last_reload_ok = 1;
    /* The old workers have their own copy (fork): the master may free its one. */
    pc_tls_free(old_tls);
    pc_config_free(cur);
    return next;
}

/* Reaps the children that ended; a worker of the serving generation that died is restarted
 * by respawn_due(), at once or, if it died within a second of starting (it would die again),
 * a second later. */
static void reap(bool stopping)
{
    pid_t pid;
    int status;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pc_helpers_reaped(pid, status, stopping))
            continue;
        size_t i = 0;
        while (i < nprocs && procs[i].pid != pid)
            i++;
        if (i == nprocs)
            continue; /* not a worker or the helper: the master forks nothing else */
        struct wproc w = procs[i];
        if (w.accepting >= 0)
            close(w.accepting);
        procs[i] = procs[--nprocs];
        pc_stats_release(w.stats_slot);
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!stopping && w.gen == generation) {
            pc_err("worker %d (pid %d) died (%s %d); restarting it", w.slot, (int)pid,
                   WIFSIGNALED(status) ? "signal" : "status",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            time_t now = time(NULL);
            respawn_at[w.slot] = now - w.started < 1 ? now + 1 : now;
        } else if (!clean) {
            pc_warn("worker pid %d ended abnormally", (int)pid);
        }
    }
}

/* Restarts the workers that are due; one that cannot be forked yet (EAGAIN) is tried again
 * a second later, so that no slot's sockets stay without a worker for good. */
static void respawn_due(const struct pc_config *cfg)
{
    time_t now = time(NULL);
    for (int slot = 0; slot < cfg->workers; slot++) {
        if (!respawn_at[slot] || respawn_at[slot] > now)
            continue;
        const char *what = "procs";
        errno = EAGAIN;
        if (nprocs < MAX_PROCS && spawn(cfg, slot, generation, NULL, &what) == 0) {
            respawn_at[slot] = 0;
            continue;
        }
        static struct pc_ratelimit rl;
        pc_log_limited(&rl, PC_LOG_ERR, "worker %d: cannot restart it: %s: %s; trying again", slot,
                       what, strerror(errno));
        respawn_at[slot] = now + 1;
    }
}

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Everything up to `portico: ready`: TLS, sockets, privileges, the first generation. */
static int start(struct pc_config *cfg)
{
    clamp_workers(cfg);
    if (pc_stats_create() < 0)
        pc_warn("no shared memory for metrics: %s", strerror(errno));
    else
        pc_log_hook = pc_stats_error;
    if (pc_history_create() < 0)
        pc_warn("no shared memory for the status page's graphs: %s", strerror(errno));
    /* Before any worker counts: every counter is zero, and this first sample primes the pools,
     * so that the traffic of the first interval is on the graphs (docs/monitoring.md). */
    pc_history_sample(cfg, wall_clock());
    if (pc_stats)
        pc_stats->last_reload_ok = 1;
    if (pc_ocsp_init() < 0)
        pc_warn("ocsp: no shared memory for OCSP responses: %s; nothing is stapled",
                strerror(errno));
    if (pc_acme_init() < 0)
        pc_warn("acme: no shared memory for the challenges: %s; nothing is ordered",
                strerror(errno));
    pc_helpers_prepare(cfg);
    tls = pc_tls_load(cfg, NULL);
    if (!tls || pc_tls_ticket_secret(cfg) < 0)
        return -1;
    pc_ocsp_publish(tls->ocsp); /* a cached response is stapled from the first handshake */
    pc_helpers_state_dir(cfg, tls);
    if (reconcile_sockets(cfg) < 0)
        return -1;
    /* Bound: nothing left that needs root but binding low ports on a later reload. */
    if (pc_drop_privileges(cfg->user) < 0)
        return -1;
    char why[128];
    if (start_workers(cfg, 1, why, sizeof(why)) < 0) {
        pc_err("cannot start the workers (%s)", why);
        return -1;
    }
    generation = 1;
    pc_info("%d worker(s) started", cfg->workers);
    pc_helpers_start(cfg, &tls, close_inherited);
    return 0;
}

static void begin_stop(const struct pc_config *cfg, struct timespec *deadline)
{
    pc_info("stopping: draining for up to %.0f s", cfg->drain_timeout);
    pc_notify("STOPPING=1");
    pc_helpers_stop();
    clock_gettime(CLOCK_MONOTONIC, deadline);
    deadline->tv_sec += (time_t)cfg->drain_timeout + 5;
    signal_old(generation + 1, SIGTERM);
    for (size_t i = 0; i < nsocks; i++)
        close(socks[i].fd);
    nsocks = 0;
}

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The status page's graphs (history.h): a sample when one is due at monotonic time *NEXT;
 * returns how long sigtimedwait() may wait, at most the 1 s tick, so that a sample is taken
 * on time (the tests shorten the interval below a second). A reload that blocked the loop
 * delays the next sample; samples missed are not made up for. */
static struct timespec history_tick(const struct pc_config *cfg, double *next)
{
    double now = monotonic(), interval = pc_history_interval();
    if (*next <= now) {
        pc_history_sample(cfg, wall_clock());
        *next += interval;
        if (*next <= now)
            *next = now + interval;
    }
    double wait = *next - now < 1 ? *next - now : 1;
    if (wait < 0.001)
        wait = 0.001;
    return (struct timespec){(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
}

int pc_master_run(struct pc_config *cfg)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGQUIT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (start(cfg) < 0)
        return 1;
    /* Armed before the readiness line: a file replaced right after it is seen as a change. */
    pc_certwatch_arm(cfg);
    /* The readiness line that scripts and tests wait for: every listener is bound. */
    fputs("portico: ready\n", stderr);
    fflush(stderr);
    char st[64];
    snprintf(st, sizeof(st), "READY=1\nMAINPID=%d", (int)getpid());
    pc_notify(st);

    bool stopping = false;
    struct timespec deadline = {0};
    double next_sample = monotonic() + pc_history_interval();
    for (;;) {
        struct timespec tick = stopping ? (struct timespec){1, 0} : history_tick(cfg, &next_sample);
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &tick);
        if (sig == SIGCHLD || sig < 0)
            reap(stopping);
        if (stopping && nprocs == 0)
            break;
        if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
            begin_stop(cfg, &deadline);
            stopping = true;
        } else if (!stopping && (sig == SIGHUP || pc_certwatch_due(monotonic()))) {
            pc_notify("RELOADING=1");
            cfg = reload(cfg);
            pc_certwatch_arm(cfg); /* the files as they are now, whatever the outcome */
            pc_notify("READY=1");
        } else if (sig == SIGUSR1) {
            signal_old(generation + 1, SIGUSR1);
        }
        if (!stopping) {
            respawn_due(cfg);
            if (pc_helpers_due(time(NULL)))
                pc_helpers_start(cfg, &tls, close_inherited);
            continue;
        }
        if (nprocs == 0)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec >= deadline.tv_sec) {
            pc_warn("workers still running after the drain time; killing them");
            signal_old(generation + 1, SIGKILL);
            deadline.tv_sec += 3600;
        }
    }
    pc_tls_free(tls);
    pc_config_free(cfg);
    pc_certwatch_free();
    free(socks);
    pc_info("stopped");
    return 0;
}

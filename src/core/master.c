/* master.c — binds the listeners, runs the workers, and turns signals into actions.
 *
 * The master never touches a client connection. It loads the configuration (resolving member
 * names: the only place DNS happens), opens one SO_REUSEPORT socket per listening address and
 * worker slot, and forks the workers. A reload loads the new configuration first; if it has
 * errors they are logged and nothing changes. Otherwise new workers start on the same sockets
 * (matching ones are kept open, so no queued connection is lost) and the old workers stop
 * accepting and finish what they carry. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin/stats.h"
#include "common/log.h"
#include "config/config.h"
#include "core/daemon.h"
#include "core/worker.h"
#include "tls/tls.h"

#define MAX_WORKERS 256

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
static struct wproc procs[MAX_WORKERS * 4];
static size_t nprocs;
static unsigned generation;
static struct pc_tls *tls; /* contexts of the current configuration */

static bool addr_eq(const struct pc_addr *a, const struct pc_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static void set_port(struct pc_addr *a, int port)
{
    if (a->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
}

static void addr_str(const struct pc_addr *a, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        port = ntohs(s->sin_port);
        snprintf(out, len, "%s:%d", ip, port);
    } else {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        port = ntohs(s->sin6_port);
        snprintf(out, len, "[%s]:%d", ip, port);
    }
}

static int open_listener(const struct pc_addr *a)
{
    char name[80];
    addr_str(a, name, sizeof(name));
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
    for (size_t i = 0; i < nsocks; i++)
        socks[i].used = false;
    if (nsocks)
        memcpy(ns, socks, nsocks * sizeof(*ns));
    size_t n = nsocks;
    for (size_t e = 0; e < cfg->nexternal; e++) {
        for (int k = 0; k < 2; k++) {
            if (!ports[k])
                continue;
            struct pc_addr a = cfg->external[e];
            set_port(&a, ports[k]);
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

/* Forks the worker of SLOT; *ACCEPTING gets the read end of the pipe whose write end only the
 * worker holds, closed when it stops accepting (a reload's SIGQUIT) or exits. */
static pid_t spawn(const struct pc_config *cfg, int slot, int stats_slot, int *accepting)
{
    int p[2];
    *accepting = -1;
    if (pipe2(p, O_CLOEXEC) < 0) {
        pc_err("pipe: %s", strerror(errno));
        pc_stats_release(stats_slot);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        pc_err("fork: %s", strerror(errno));
        pc_stats_release(stats_slot);
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        *accepting = p[0];
        return pid;
    }
    close(p[0]);
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].accepting >= 0)
            close(procs[i].accepting);
    pc_worker_accept_fd = p[1];
    pc_stats_attach(stats_slot, getpid());
    /* Child: keep this slot's sockets, close the rest. */
    struct pc_listener *ls = calloc(nsocks + 1, sizeof(*ls));
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

static int start_workers(const struct pc_config *cfg)
{
    generation++;
    for (int slot = 0; slot < cfg->workers; slot++) {
        int ss = pc_stats_reserve(), acc;
        pid_t pid = spawn(cfg, slot, ss, &acc);
        if (pid < 0)
            return -1;
        if (nprocs < sizeof(procs) / sizeof(procs[0]))
            procs[nprocs++] = (struct wproc){pid, slot, generation, time(NULL), ss, acc};
        else
            close(acc);
    }
    return 0;
}

static void signal_old(unsigned gen_below, int sig)
{
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].gen < gen_below)
            kill(procs[i].pid, sig);
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

static struct pc_config *reload(struct pc_config *cur)
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
    if (pc_stats) {
        pc_stats->reloads_total++;
        pc_stats->last_reload_time = (double)time(NULL);
        pc_stats->last_reload_ok = 0;
    }
    if (!next) {
        pc_err("reload refused: the configuration has errors; the running one stays");
        if (pc_stats)
            pc_stats->reload_failures_total++;
        return cur;
    }
    /* Certificates and keys are read again: a renewed certificate needs only a reload. */
    struct pc_tls *next_tls = pc_tls_load(next, NULL);
    if (!next_tls || pc_tls_ticket_secret(next) < 0) {
        pc_err("reload refused: TLS setup failed; the running one stays");
        if (pc_stats)
            pc_stats->reload_failures_total++;
        pc_tls_free(next_tls);
        pc_config_free(next);
        return cur;
    }
    if (reconcile_sockets(next) < 0) {
        pc_err("reload refused: cannot open the new listeners; the running one stays");
        if (pc_stats)
            pc_stats->reload_failures_total++;
        pc_tls_free(next_tls);
        pc_config_free(next);
        return cur;
    }
    struct pc_tls *old_tls = tls;
    tls = next_tls;
    if (next->workers > MAX_WORKERS)
        next->workers = MAX_WORKERS;
    unsigned old_gen = generation;
    if (start_workers(next) < 0) {
        pc_err("reload: cannot start new workers");
    }
    signal_old(old_gen + 1, SIGQUIT);
    /* Confirmed (log line, READY=1) only once no old worker can take a new connection. */
    wait_stopped_accepting(old_gen + 1, 5.0);
    close_unused();
    pc_info("reload done: %d worker(s) on the new configuration", next->workers);
    if (pc_stats)
        pc_stats->last_reload_ok = 1;
    /* The old workers have their own copy (fork): the master may free its one. */
    pc_tls_free(old_tls);
    pc_config_free(cur);
    return next;
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

    if (cfg->workers > MAX_WORKERS)
        cfg->workers = MAX_WORKERS;
    if (pc_stats_create() < 0)
        pc_warn("no shared memory for metrics: %s", strerror(errno));
    else
        pc_log_hook = pc_stats_error;
    if (pc_stats)
        pc_stats->last_reload_ok = 1;
    tls = pc_tls_load(cfg, NULL);
    if (!tls || pc_tls_ticket_secret(cfg) < 0)
        return 1;
    if (reconcile_sockets(cfg) < 0)
        return 1;
    /* Bound: nothing left that needs root but binding low ports on a later reload. */
    if (pc_drop_privileges(cfg->user) < 0)
        return 1;
    if (start_workers(cfg) < 0)
        return 1;
    pc_info("%d worker(s) started", cfg->workers);
    /* The readiness line that scripts and tests wait for: every listener is bound. */
    fputs("portico: ready\n", stderr);
    fflush(stderr);
    char st[64];
    snprintf(st, sizeof(st), "READY=1\nMAINPID=%d", (int)getpid());
    pc_notify(st);

    bool stopping = false;
    struct timespec deadline = {0};
    for (;;) {
        struct timespec tick = {1, 0};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &tick);
        if (sig == SIGCHLD || sig < 0) {
            pid_t pid;
            int status;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                for (size_t i = 0; i < nprocs; i++) {
                    if (procs[i].pid != pid)
                        continue;
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
                        /* A worker that dies at once would die again: pace the restarts. */
                        if (time(NULL) - w.started < 1)
                            sleep(1);
                        int ss = pc_stats_reserve(), acc;
                        pid_t np = spawn(cfg, w.slot, ss, &acc);
                        if (np > 0)
                            procs[nprocs++] =
                                (struct wproc){np, w.slot, generation, time(NULL), ss, acc};
                    } else if (!clean) {
                        pc_warn("worker pid %d ended abnormally", (int)pid);
                    }
                    break;
                }
            }
            if (stopping && nprocs == 0)
                break;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            if (!stopping) {
                pc_info("stopping: draining for up to %.0f s", cfg->drain_timeout);
                pc_notify("STOPPING=1");
                stopping = true;
                clock_gettime(CLOCK_MONOTONIC, &deadline);
                deadline.tv_sec += (time_t)cfg->drain_timeout + 5;
                signal_old(generation + 1, SIGTERM);
                for (size_t i = 0; i < nsocks; i++)
                    close(socks[i].fd);
                nsocks = 0;
            }
        } else if (sig == SIGHUP && !stopping) {
            pc_notify("RELOADING=1");
            cfg = reload(cfg);
            pc_notify("READY=1");
        } else if (sig == SIGUSR1) {
            signal_old(generation + 1, SIGUSR1);
        }
        if (stopping) {
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
    }
    pc_tls_free(tls);
    pc_config_free(cfg);
    free(socks);
    pc_info("stopped");
    return 0;
}

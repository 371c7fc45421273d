/* app.c — the proxy as the application a worker runs: what a worker's start, accept, drain
 * and log events mean for the data path (core/worker.h, struct pc_worker_app). */
#include "proxy/app.h"

#include "admin/metrics.h"
#include "common/log.h"
#include "proxy/balance.h"
#include "proxy/guard.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"

static int app_start(const struct pc_config *cfg, int id)
{
    if (pc_pool_init(cfg) < 0 || pc_balance_init(cfg, id) < 0) {
        pc_err("worker %d: out of memory", id);
        return -1;
    }
    if (pc_alog_open(cfg) < 0)
        pc_err("worker %d: serving without an access log", id); /* traffic matters more */
    pc_metrics_init(cfg, pc_w.loop);
    pc_guard_worker_init(cfg, pc_w.loop, id);
    pc_guard_admin_init(cfg, pc_w.loop);
    pc_session_init();
    pc_health_start();
    return 0;
}

/* Idle member connections and health checks end at once; sessions finish their transaction. */
static unsigned app_drain(void)
{
    pc_upstream_close_idle_all();
    pc_health_stop();
    pc_guard_drain();
    return pc_session_drain();
}

const struct pc_worker_app pc_proxy_app = {
    .start = app_start,
    .accept = pc_session_start,
    .drain = app_drain,
    .reopen_logs = pc_alog_reopen,
    .flush_logs = pc_alog_flush,
};

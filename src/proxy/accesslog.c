/* accesslog.c — one line per request (docs/logging.md) in combined, JSON or W3C extended format.
 *
 * Lines gather in a per-worker buffer written out before the loop blocks (or when it fills),
 * so a busy worker pays one write() per loop iteration, not per request. Each write holds
 * whole lines and the file is opened O_APPEND, so workers never split each other's lines. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "core/worker.h"
#include "proxy/clientaddr.h"
#include "proxy/proxy.h"

#define ALOG_BUF  32768
#define ALOG_LINE 2048

static int alog_fd = -1;
static bool alog_own; /* we opened it (not stdout) */
static char alog_buf[ALOG_BUF];
static size_t alog_len;
static enum pc_log_format alog_format;
static const char *alog_path;

static int open_path(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        pc_err("access log %s: %s", path, strerror(errno));
    return fd;
}

/* A W3C log starts with its directives; the lock keeps workers opening the same empty file
 * at once from writing them twice. */
static void w3c_header(int fd)
{
    static const char hdr[] =
        "#Software: portico\n#Version: 1.0\n"
        "#Fields: date time c-ip cs-host cs-method cs-uri-stem cs-uri-query sc-status "
        "sc-bytes time-taken s-pool s-member sc-upstream-status x-lb-ip\n";
    if (alog_format != PC_LOG_W3C || flock(fd, LOCK_EX) < 0)
        return;
    if (lseek(fd, 0, SEEK_END) == 0 && write(fd, hdr, sizeof(hdr) - 1) < 0)
        pc_err("access log %s: %s", alog_path, strerror(errno));
    flock(fd, LOCK_UN);
}

int pc_alog_open(const struct pc_config *cfg)
{
    alog_format = cfg->access_log_format;
    alog_path = cfg->access_log;
    if (!alog_path) {
        alog_fd = -1;
        return 0;
    }
    if (strcmp(alog_path, "stdout") == 0) {
        alog_fd = STDOUT_FILENO;
        alog_own = false;
        return 0;
    }
    alog_fd = open_path(alog_path);
    alog_own = true;
    if (alog_fd < 0)
        return -1;
    w3c_header(alog_fd);
    return 0;
}

void pc_alog_flush(void)
{
    size_t off = 0;
    while (off < alog_len && alog_fd >= 0) {
        ssize_t w = write(alog_fd, alog_buf + off, alog_len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            static struct pc_ratelimit rl;
            pc_log_limited(&rl, PC_LOG_ERR, "access log: %s", strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    alog_len = 0;
}

void pc_alog_reopen(void)
{
    pc_alog_flush();
    if (!alog_own || !alog_path)
        return;
    int fd = open_path(alog_path);
    if (fd < 0)
        return; /* keep writing to the old file rather than lose lines */
    close(alog_fd);
    alog_fd = fd;
    w3c_header(fd);
}

enum esc_mode {
    ESC_JSON,   /* inside a JSON string */
    ESC_TOKEN,  /* a space-separated field: spaces, quotes, controls become %XX */
    ESC_QUOTED, /* inside "...": quotes, backslashes and controls become \xXX (as nginx) */
};

/* Appends S[0, N) escaped for MODE, within ROOM bytes. */
static size_t esc(char *out, size_t room, const char *s, size_t n, enum esc_mode mode)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 7 < room; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ctl = c < 0x20 || c == 0x7f;
        switch (mode) {
        case ESC_JSON:
            if (c == '"' || c == '\\') {
                out[o++] = '\\';
                out[o++] = (char)c;
                continue;
            }
            if (ctl) {
                o += (size_t)snprintf(out + o, room - o, "\\u%04x", c);
                continue;
            }
            break;
        case ESC_TOKEN:
            if (ctl || c == ' ' || c == '"' || c >= 0x80) {
                out[o++] = '%';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
                continue;
            }
            break;
        case ESC_QUOTED:
            if (ctl || c == '"' || c == '\\' || c >= 0x80) {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
                continue;
            }
            break;
        }
        out[o++] = (char)c;
    }
    return o;
}

/* One access-log entry, gathered from the session, before a format writes it. */
struct alog_rec {
    const char *client, *lb; /* lb: the balancer the client came through, or NULL */
    const char *m, *h, *p, *ref, *ua;
    size_t ml, hl, pl, refl, ual;
    const char *pool, *member;
    char up[8]; /* the pool's status, "-" when none */
    int status;
    unsigned long long bytes;
    double dur;
    struct tm tm;
    const char *proto; /* "1.0", "1.1" or "2.0" */
};

static char *fmt_json(char *o, char *end, const struct alog_rec *r)
{
    const char *lb = r->lb;
    o += strftime(o, (size_t)(end - o), "{\"time\":\"%Y-%m-%dT%H:%M:%SZ\",\"client\":\"", &r->tm);
    o += snprintf(o, (size_t)(end - o), "%s\",\"lb\":%s%s%s,\"host\":\"", r->client, lb ? "\"" : "",
                  lb ? lb : "null", lb ? "\"" : "");
    o += esc(o, (size_t)(end - o) - 400, r->h, r->hl, ESC_JSON);
    o += snprintf(o, (size_t)(end - o), "\",\"method\":\"");
    o += esc(o, (size_t)(end - o) - 380, r->m, r->ml, ESC_JSON);
    o += snprintf(o, (size_t)(end - o), "\",\"path\":\"");
    o += esc(o, (size_t)(end - o) - 300, r->p, r->pl, ESC_JSON);
    o +=
        snprintf(o, (size_t)(end - o),
                 "\",\"status\":%d,\"bytes\":%llu,\"duration\":%.6f,\"pool\":\"%s\","
                 "\"member\":\"%s\",\"upstream_status\":%s}\n",
                 r->status, r->bytes, r->dur, r->pool, r->member, r->up[0] != '-' ? r->up : "null");
    return o;
}

static char *fmt_w3c(char *o, char *end, const struct alog_rec *r)
{
    const char *q = memchr(r->p, '?', r->pl);
    size_t stem = q ? (size_t)(q - r->p) : r->pl;
    o += strftime(o, (size_t)(end - o), "%Y-%m-%d %H:%M:%S ", &r->tm);
    o += snprintf(o, (size_t)(end - o), "%s ", r->client);
    o += esc(o, (size_t)(end - o) - 400, r->h, r->hl, ESC_TOKEN);
    *o++ = ' ';
    o += esc(o, (size_t)(end - o) - 380, r->m, r->ml, ESC_TOKEN);
    *o++ = ' ';
    o += esc(o, (size_t)(end - o) - 300, r->p, stem, ESC_TOKEN);
    *o++ = ' ';
    if (q && r->pl - stem > 1)
        o += esc(o, (size_t)(end - o) - 200, q + 1, r->pl - stem - 1, ESC_TOKEN);
    else
        *o++ = '-';
    o += snprintf(o, (size_t)(end - o), " %d %llu %llu %s %s %s %s\n", r->status, r->bytes,
                  (unsigned long long)(r->dur * 1000), r->pool, r->member, r->up,
                  r->lb ? r->lb : "-");
    return o;
}

static char *fmt_combined(char *o, char *end, const struct alog_rec *r)
{
    o += snprintf(o, (size_t)(end - o), "%s - - ", r->client);
    o += strftime(o, (size_t)(end - o), "[%d/%b/%Y:%H:%M:%S +0000] \"", &r->tm);
    o += esc(o, (size_t)(end - o) - 400, r->m, r->ml, ESC_TOKEN);
    *o++ = ' ';
    o += esc(o, (size_t)(end - o) - 300, r->p, r->pl, ESC_TOKEN);
    o += snprintf(o, (size_t)(end - o), " HTTP/%s\" %d %llu \"", r->proto, r->status, r->bytes);
    if (r->refl)
        o += esc(o, (size_t)(end - o) - 200, r->ref, r->refl, ESC_QUOTED);
    else
        *o++ = '-';
    o += snprintf(o, (size_t)(end - o), "\" \"");
    if (r->ual)
        o += esc(o, (size_t)(end - o) - 200, r->ua, r->ual, ESC_QUOTED);
    else
        *o++ = '-';
    o += snprintf(o, (size_t)(end - o), "\" host=");
    o += esc(o, (size_t)(end - o) - 200, r->h, r->hl, ESC_TOKEN);
    o += snprintf(o, (size_t)(end - o),
                  " pool=%s member=%s upstream_status=%s duration=%.3f lb=%s\n", r->pool, r->member,
                  r->up, r->dur, r->lb ? r->lb : "-");
    return o;
}

/* The entry of the transaction in progress on S. */
static void alog_gather(const struct pc_session *s, double now, struct alog_rec *r)
{
    const struct pc_txn *t = &s->t;
    r->client = s->peer_ip;
    r->lb = pc_client_lb(s);
    r->m = t->lg;
    r->ml = t->lg_method;
    r->h = t->lg + t->lg_method;
    r->hl = t->lg_host;
    r->p = r->h + t->lg_host;
    r->pl = t->lg_path;
    r->ref = r->p + t->lg_path;
    r->refl = t->lg_referer;
    r->ua = r->ref + t->lg_referer;
    r->ual = t->lg_ua;
    /* Fields a rejected request never had are logged as "-". */
    if (!r->hl)
        r->h = "-", r->hl = 1;
    if (!r->pl)
        r->p = "-", r->pl = 1;
    r->pool = r->member = "-";
    if (t->name) {
        r->pool = t->name->pool->name;
        if (t->member_idx >= 0)
            r->member = t->name->pool->members[t->member_idx].host;
    }
    if (t->up_status)
        snprintf(r->up, sizeof(r->up), "%d", t->up_status);
    else
        snprintf(r->up, sizeof(r->up), "-");
    r->status = t->status;
    r->bytes = (unsigned long long)t->bytes_out;
    r->dur = t->t_start > 0 ? now - t->t_start : 0;
    time_t secs = (time_t)now;
    gmtime_r(&secs, &r->tm);
    r->proto = t->h2 ? "2.0" : t->client_10 ? "1.0" : "1.1";
}

void pc_alog_request(const struct pc_session *s)
{
    if (alog_fd < 0)
        return;
    if (alog_len + ALOG_LINE > ALOG_BUF)
        pc_alog_flush();
    struct alog_rec r;
    alog_gather(s, ev_now(pc_w.loop), &r);
    char *o = alog_buf + alog_len, *end = alog_buf + alog_len + ALOG_LINE;
    switch (alog_format) {
    case PC_LOG_JSON:
        o = fmt_json(o, end, &r);
        break;
    case PC_LOG_W3C:
        o = fmt_w3c(o, end, &r);
        break;
    default:
        o = fmt_combined(o, end, &r);
        break;
    }
    alog_len = (size_t)(o - alog_buf);
}

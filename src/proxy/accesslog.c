/* accesslog.c — one line per request (SPEC §5) in combined, JSON or W3C extended format.
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

void pc_alog_request(const struct pc_session *s)
{
    if (alog_fd < 0)
        return;
    if (alog_len + ALOG_LINE > ALOG_BUF)
        pc_alog_flush();
    const struct pc_config *cfg = pc_w.cfg;
    double now = ev_now(pc_w.loop);
    double dur = s->t.t_start > 0 ? now - s->t.t_start : 0;
    const char *m = s->t.lg, *h = s->t.lg + s->t.lg_method, *p = h + s->t.lg_host;
    const char *ref = p + s->t.lg_path, *ua = ref + s->t.lg_referer;
    /* Fields a rejected request never had are logged as "-". */
    size_t ml = s->t.lg_method, hl = s->t.lg_host, pl = s->t.lg_path;
    if (!hl) {
        h = "-";
        hl = 1;
    }
    if (!pl) {
        p = "-";
        pl = 1;
    }
    const char *pool = "-", *member = "-";
    if (s->t.name) {
        pool = s->t.name->pool->name;
        if (s->t.member_idx >= 0)
            member = s->t.name->pool->members[s->t.member_idx].host;
    }
    char *o = alog_buf + alog_len, *end = alog_buf + alog_len + ALOG_LINE;
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    char up[8] = "-";
    if (s->t.up_status)
        snprintf(up, sizeof(up), "%d", s->t.up_status);
    /* The balancer the client came through (PROXY header or trusted X-Forwarded-For). */
    const char *lb = pc_client_lb(s);

    switch (alog_format) {
    case PC_LOG_JSON:
        o += strftime(o, (size_t)(end - o), "{\"time\":\"%Y-%m-%dT%H:%M:%SZ\",\"client\":\"", &tm);
        o += snprintf(o, (size_t)(end - o), "%s\",\"lb\":%s%s%s,\"host\":\"", s->peer_ip,
                      lb ? "\"" : "", lb ? lb : "null", lb ? "\"" : "");
        o += esc(o, (size_t)(end - o) - 400, h, hl, ESC_JSON);
        o += snprintf(o, (size_t)(end - o), "\",\"method\":\"");
        o += esc(o, (size_t)(end - o) - 380, m, ml, ESC_JSON);
        o += snprintf(o, (size_t)(end - o), "\",\"path\":\"");
        o += esc(o, (size_t)(end - o) - 300, p, pl, ESC_JSON);
        o += snprintf(o, (size_t)(end - o),
                      "\",\"status\":%d,\"bytes\":%llu,\"duration\":%.6f,\"pool\":\"%s\","
                      "\"member\":\"%s\",\"upstream_status\":%s}\n",
                      s->t.status, (unsigned long long)s->t.bytes_out, dur, pool, member,
                      s->t.up_status ? up : "null");
        break;
    case PC_LOG_W3C: {
        const char *q = memchr(p, '?', pl);
        size_t stem = q ? (size_t)(q - p) : pl;
        o += strftime(o, (size_t)(end - o), "%Y-%m-%d %H:%M:%S ", &tm);
        o += snprintf(o, (size_t)(end - o), "%s ", s->peer_ip);
        o += esc(o, (size_t)(end - o) - 400, h, hl, ESC_TOKEN);
        *o++ = ' ';
        o += esc(o, (size_t)(end - o) - 380, m, ml, ESC_TOKEN);
        *o++ = ' ';
        o += esc(o, (size_t)(end - o) - 300, p, stem, ESC_TOKEN);
        *o++ = ' ';
        if (q && pl - stem > 1)
            o += esc(o, (size_t)(end - o) - 200, q + 1, pl - stem - 1, ESC_TOKEN);
        else
            *o++ = '-';
        o += snprintf(o, (size_t)(end - o), " %d %llu %llu %s %s %s %s\n", s->t.status,
                      (unsigned long long)s->t.bytes_out, (unsigned long long)(dur * 1000), pool,
                      member, up, lb ? lb : "-");
        break;
    }
    default:
        o += snprintf(o, (size_t)(end - o), "%s - - ", s->peer_ip);
        o += strftime(o, (size_t)(end - o), "[%d/%b/%Y:%H:%M:%S +0000] \"", &tm);
        o += esc(o, (size_t)(end - o) - 400, m, ml, ESC_TOKEN);
        *o++ = ' ';
        o += esc(o, (size_t)(end - o) - 300, p, pl, ESC_TOKEN);
        o += snprintf(o, (size_t)(end - o), " HTTP/1.%d\" %d %llu \"", s->t.client_10 ? 0 : 1,
                      s->t.status, (unsigned long long)s->t.bytes_out);
        if (s->t.lg_referer)
            o += esc(o, (size_t)(end - o) - 200, ref, s->t.lg_referer, ESC_QUOTED);
        else
            *o++ = '-';
        o += snprintf(o, (size_t)(end - o), "\" \"");
        if (s->t.lg_ua)
            o += esc(o, (size_t)(end - o) - 200, ua, s->t.lg_ua, ESC_QUOTED);
        else
            *o++ = '-';
        o += snprintf(o, (size_t)(end - o), "\" host=");
        o += esc(o, (size_t)(end - o) - 200, h, hl, ESC_TOKEN);
        o += snprintf(o, (size_t)(end - o),
                      " pool=%s member=%s upstream_status=%s duration=%.3f lb=%s\n", pool, member,
                      up, dur, lb ? lb : "-");
        break;
    }
    alog_len = (size_t)(o - alog_buf);
    (void)cfg;
}

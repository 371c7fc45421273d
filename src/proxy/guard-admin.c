/* guard-admin.c — the sign-in defence on the admin listener (docs/signin.md, "Operations"):
 * the locks in force on the status page and in /status.json, GET /signin.json, and
 * POST /signin/clear?account=NAME or ?source=ADDRESS (from loopback only), which
 * `portico signin list|clear` use. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "common/log.h"
#include "common/net.h"
#include "common/pct.h"
#include "proxy/guard-int.h"

static const struct pc_config *cfg;
static struct ev_loop *loop;

struct list_ctx {
    FILE *f;
    int64_t now;
    bool html, sources, first;
};

static void one_lock(const struct pc_signin_lock *l, void *arg)
{
    struct list_ctx *c = arg;
    if (c->sources != (l->source != NULL))
        return;
    char src[64] = "every other source";
    if (l->source || l->familiar)
        pc_signin_source_text(l->source ? l->source : l->familiar, src, sizeof src);
    long left = (long)(l->until - c->now);
    if (c->html) {
        fputs("<tr><td>", c->f);
        if (!c->sources) {
            pc_admin_html(c->f, l->account, false);
            fputs("</td><td>", c->f);
        }
        pc_admin_html(c->f, src, false);
        fprintf(c->f, "</td><td>%ld s</td></tr>\n", left);
        return;
    }
    fputs(c->first ? "{" : ",{", c->f);
    c->first = false;
    if (!c->sources) {
        fputs("\"account\":", c->f);
        pc_admin_json_str(c->f, l->account);
        fputs(",", c->f);
    }
    fprintf(c->f, "\"source\":\"%s\",\"seconds_left\":%ld}", src, left);
}

static void list(FILE *f, bool html, bool sources)
{
    struct list_ctx c = {
        .f = f, .now = (int64_t)ev_now(loop), .html = html, .sources = sources, .first = true};
    pc_guard_lock();
    pc_signin_each_lock(pc_guard_table(), c.now, one_lock, &c);
    pc_guard_unlock();
}

static void locks_json(FILE *f)
{
    fputs("{\"accounts\":[", f);
    list(f, false, false);
    fputs("],\"sources\":[", f);
    list(f, false, true);
    fputs("]}", f);
}

static void section_json(FILE *f)
{
    fputs("\"signin\":", f);
    locks_json(f);
    fputs(",", f);
}

static void section_html(FILE *f)
{
    fputs("<h2>Sign-in defence: locked now</h2>\n<table id=\"signin-accounts\"><tr><th>Account"
          "</th><th>For sources</th><th>Time left</th></tr>\n",
          f);
    list(f, true, false);
    fputs("</table>\n<table id=\"signin-sources\"><tr><th>Source</th><th>Time left</th></tr>\n", f);
    list(f, true, true);
    fputs("</table>\n", f);
}

/* POST /signin/clear?account=NAME | ?source=ADDRESS. */
static int clear(const char *q, size_t ql, FILE *f)
{
    const char *eq = memchr(q, '=', ql);
    char val[PC_SIGNIN_NAME_MAX], key[PC_SIGNIN_NAME_MAX];
    long vl = eq ? pc_pct_decode(eq + 1, ql - (size_t)(eq + 1 - q),
                                 PC_PCT_PLUS | PC_PCT_U | PC_PCT_NOCTL, val, sizeof val)
                 : -1;
    size_t kl = eq ? (size_t)(eq - q) : 0;
    bool ok = false, known = false;
    if (vl > 0 && kl == 7 && strncmp(q, "account", 7) == 0) {
        bool qual = cfg->signin.account_key == PC_SIGNIN_KEY_DOMAIN;
        if (pc_signin_account(NULL, val, qual, key, sizeof key) > 0) {
            ok = true;
            pc_guard_lock();
            known = pc_signin_clear_account(pc_guard_table(), key);
            pc_guard_unlock();
        }
    } else if (vl > 0 && kl == 6 && strncmp(q, "source", 6) == 0) {
        struct pc_addr a = {0};
        struct sockaddr_in *v4 = (struct sockaddr_in *)&a.ss;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a.ss;
        if (inet_pton(AF_INET, val, &v4->sin_addr) == 1)
            v4->sin_family = AF_INET, a.len = sizeof *v4, ok = true;
        else if (inet_pton(AF_INET6, val, &v6->sin6_addr) == 1)
            v6->sin6_family = AF_INET6, a.len = sizeof *v6, ok = true;
        if (ok) {
            pc_guard_lock();
            known = pc_signin_clear_source(pc_guard_table(), &a);
            pc_guard_unlock();
        }
        snprintf(key, sizeof key, "%s", val);
    }
    if (!ok) {
        fputs("400 expected ?account=NAME or ?source=ADDRESS\n", f);
        return 400;
    }
    if (!known) {
        fprintf(f, "404 %s is not in the table\n", key);
        return 404;
    }
    pc_info("sign-in lockout cleared by the admin listener: %s %s", kl == 7 ? "account" : "source",
            key);
    fprintf(f, "cleared %s\n", key);
    return 200;
}

static int request(bool post, const char *path, size_t pl, const char *q, size_t ql, bool local,
                   FILE *f, const char **type)
{
    if (!post && pl == 12 && strncmp(path, "/signin.json", 12) == 0) {
        *type = "application/json";
        locks_json(f);
        fputc('\n', f);
        return 200;
    }
    if (pl != 13 || strncmp(path, "/signin/clear", 13) != 0)
        return 0;
    *type = "text/plain";
    if (!post) {
        fputs("405 POST only\n", f);
        return 405;
    }
    if (!local) {
        fputs("403 from loopback only\n", f);
        return 403;
    }
    return clear(q, ql, f);
}

static const struct pc_admin_section section = {
    .html = section_html, .json = section_json, .request = request};

void pc_guard_admin_init(const struct pc_config *c, struct ev_loop *l)
{
    if (!pc_guard_table())
        return; /* no table, no defence (logged at start) */
    cfg = c;
    loop = l;
    pc_admin_add_section(&section);
}

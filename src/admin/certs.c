/* certs.c — the listener certificates on /metrics, /status and /status.json (admin.h): names,
 * issuer, expiry and OCSP stapling state, read from the OCSP slots the master and the OCSP
 * helper write (tls/ocsp-t.h), and the ACME state of a `certificate = acme` pair from the
 * ACME helper's status (tls/acme-t.h; docs/certificates.md, docs/monitoring.md). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "tls/acme.h"
#include "tls/ocsp.h"

/* A Prometheus label value: quote and backslash escaped, control characters dropped (a CN may
 * hold anything). */
static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fputc('\\', f);
        if (c >= 0x20)
            fputc(c, f);
    }
}

static void acme_metrics(FILE *f);

static void labels(FILE *f, const struct pc_ocsp_info *in)
{
    fputs("{name=\"", f);
    esc(f, in->name);
    fprintf(f, "\",key=\"%s\"", in->key);
}

void pc_admin_certs_metrics(FILE *f)
{
    static const char *const fam[] = {
        "portico_certificate_expiry_timestamp_seconds gauge",
        "portico_certificate_ocsp_stapled gauge",
        "portico_certificate_ocsp_next_update_timestamp_seconds gauge",
        "portico_certificate_ocsp_last_fetch_timestamp_seconds gauge",
        "portico_certificate_ocsp_fetch_failures_total counter",
    };
    struct pc_ocsp_info in;
    for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
        bool typed = false;
        for (int i = 0; i < PC_OCSP_SLOTS; i++) {
            if (!pc_ocsp_info(i, &in))
                continue;
            if (!typed)
                fprintf(f, "# TYPE %s\n", fam[k]);
            typed = true;
            fprintf(f, "%.*s", (int)(strchr(fam[k], ' ') - fam[k]), fam[k]);
            labels(f, &in);
            switch (k) {
            case 0:
                fprintf(f, "} %lld\n", (long long)in.not_after);
                break;
            case 1:
                fprintf(f, "} %d\n", in.stapled ? 1 : 0);
                break;
            case 2:
                fprintf(f, "} %lld\n", (long long)(in.stapled ? in.next_update : 0));
                break;
            case 3: /* the result of the last attempt, or the state when there was none */
                fprintf(f, ",result=\"%s\"} %lld\n", pc_ocsp_state_str(in.state),
                        (long long)in.last_fetch);
                break;
            default:
                fprintf(f, "} %llu\n", (unsigned long long)in.failures_total);
            }
        }
    }
    acme_metrics(f);
}

/* docs/certificates.md#acme: each `certificate = acme` pair's last order and the next. */
static void acme_metrics(FILE *f)
{
    static const char *const fam[] = {
        "portico_acme_last_order_timestamp_seconds gauge",
        "portico_acme_next_order_timestamp_seconds gauge",
        "portico_acme_order_failures_total counter",
    };
    struct pc_acme_info in;
    for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
        bool typed = false;
        for (int i = 0; i < 2; i++) {
            if (!pc_acme_info(i, &in))
                continue;
            if (!typed)
                fprintf(f, "# TYPE %s\n", fam[k]);
            typed = true;
            fprintf(f, "%.*s{name=\"", (int)(strchr(fam[k], ' ') - fam[k]), fam[k]);
            esc(f, in.name);
            fprintf(f, "\",key=\"%s\"", in.key);
            if (k == 0)
                fprintf(f, ",result=\"%s\"} %lld\n",
                        !in.last_attempt ? "none"
                        : in.last_ok     ? "ok"
                                         : "error",
                        (long long)in.last_attempt);
            else if (k == 1)
                fprintf(f, "} %lld\n", (long long)in.next_attempt);
            else
                fprintf(f, "} %llu\n", (unsigned long long)in.failures_total);
        }
    }
}

static void utc(FILE *f, int64_t t)
{
    char buf[40];
    time_t tt = (time_t)t;
    struct tm tm;
    if (t > 0 && gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm))
        fputs(buf, f);
    else
        fputs("-", f);
}

/* The stapling column: what a client asking for the status gets, and why. */
static void stapling(FILE *f, const struct pc_ocsp_info *in)
{
    if (in->stapled) {
        fputs("<span class=\"up\">stapled</span> until ", f);
        utc(f, in->next_update);
        if (in->state != PC_OCSP_GOOD) {
            fprintf(f, " (last fetch: %s", pc_ocsp_state_str(in->state));
            if (in->detail[0]) {
                fputs(": ", f);
                pc_admin_html(f, in->detail, false);
            }
            fputc(')', f);
        }
        return;
    }
    fprintf(f, "<span class=\"%s\">not stapled</span> (%s",
            in->state == PC_OCSP_REVOKED || in->state == PC_OCSP_ERROR ? "down" : "none",
            pc_ocsp_state_str(in->state));
    if (in->detail[0] && in->state != PC_OCSP_REVOKED) {
        fputs(": ", f);
        pc_admin_html(f, in->detail, false);
    }
    fputc(')', f);
}

/* The `certificate = acme` pair certificate IN is (its key type, and the order's first name
 * among its names: the placeholder and every certificate the CA issues have the order's
 * names); false for a certificate given as files. */
static bool acme_of(const struct pc_ocsp_info *in, struct pc_acme_info *out)
{
    for (int i = 0; i < 2; i++) {
        if (!pc_acme_info(i, out) || strcmp(out->key, in->key) != 0)
            continue;
        size_t nl = strlen(out->name);
        for (const char *p = in->names; nl && (p = strstr(p, out->name)); p += nl)
            if ((p == in->names || p[-1] == ' ') && (p[nl] == ' ' || p[nl] == '\0'))
                return true;
    }
    return false;
}

/* The ACME column: the challenge type, the last order's result and time (since start), when
 * the helper orders next (the renewal, or the retry after a failure). */
static void acme_cell(FILE *f, const struct pc_ocsp_info *in)
{
    struct pc_acme_info a;
    if (!acme_of(in, &a)) {
        fputs("-", f);
        return;
    }
    fprintf(f, "%s; last order: ", a.challenge);
    if (!a.last_attempt) {
        fputs("<span class=\"none\">none</span> since start", f);
    } else {
        fprintf(f, "<span class=\"%s\">%s</span> ", a.last_ok ? "up" : "down",
                a.last_ok ? "ok" : "error");
        utc(f, a.last_attempt);
        if (!a.last_ok && a.detail[0]) {
            fputs(" (", f);
            pc_admin_html(f, a.detail, false);
            fputc(')', f);
        }
    }
    fputs("; next: ", f);
    utc(f, a.next_attempt);
}

void pc_admin_certs_html(FILE *f)
{
    struct pc_ocsp_info in;
    bool any = false;
    for (int i = 0; i < PC_OCSP_SLOTS; i++) {
        if (!pc_ocsp_info(i, &in))
            continue;
        if (!any)
            fputs("<h2>Certificates</h2><table id=\"certificates\" class=\"fw\"><tr><th>Names</th>"
                  "<th>Key</th><th>Issuer</th><th>Expires</th><th>OCSP stapling</th>"
                  "<th>Last fetch</th><th>ACME</th></tr>\n",
                  f);
        any = true;
        fputs("<tr><td>", f);
        pc_admin_html(f, in.names, false);
        fprintf(f, "</td><td>%s</td><td>", in.key);
        pc_admin_html(f, in.issuer, false);
        fputs("</td><td>", f);
        utc(f, in.not_after);
        fputs("</td><td class=\"stapling\">", f);
        stapling(f, &in);
        fputs("</td><td>", f);
        utc(f, in.last_fetch);
        fputs("</td><td class=\"acme\">", f);
        acme_cell(f, &in);
        fputs("</td></tr>\n", f);
    }
    if (any)
        fputs("</table>\n", f);
}

/* ,"acme":{...} for a `certificate = acme` pair, ,"acme":null for files given. */
static void acme_json(FILE *f, const struct pc_ocsp_info *in)
{
    struct pc_acme_info a;
    if (!acme_of(in, &a)) {
        fputs(",\"acme\":null", f);
        return;
    }
    fprintf(f,
            ",\"acme\":{\"challenge\":\"%s\",\"result\":\"%s\",\"last_order\":%lld,"
            "\"next_order\":%lld,\"failures\":%llu,\"detail\":",
            a.challenge,
            !a.last_attempt ? "none"
            : a.last_ok     ? "ok"
                            : "error",
            (long long)a.last_attempt, (long long)a.next_attempt,
            (unsigned long long)a.failures_total);
    pc_admin_json_str(f, a.detail);
    fputc('}', f);
}

void pc_admin_certs_json(FILE *f)
{
    struct pc_ocsp_info in;
    bool first = true;
    fputs("\"certificates\":[", f);
    for (int i = 0; i < PC_OCSP_SLOTS; i++) {
        if (!pc_ocsp_info(i, &in))
            continue;
        fputs(first ? "{\"names\":" : ",{\"names\":", f);
        first = false;
        pc_admin_json_str(f, in.names);
        fprintf(f, ",\"key\":\"%s\",\"issuer\":", in.key);
        pc_admin_json_str(f, in.issuer);
        fprintf(f,
                ",\"not_after\":%lld,\"ocsp\":\"%s\",\"stapled\":%s,\"next_update\":%lld,"
                "\"last_fetch\":%lld,\"detail\":",
                (long long)in.not_after, pc_ocsp_state_str(in.state), in.stapled ? "true" : "false",
                (long long)(in.stapled ? in.next_update : 0), (long long)in.last_fetch);
        pc_admin_json_str(f, in.detail);
        acme_json(f, &in);
        fputs("}", f);
    }
    fputs("],", f);
}

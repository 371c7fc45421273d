/* diag.c — collecting the diagnostics of a load and handing them over as "FILE:LINE: message". */
#include "config/config-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pc_cfg_error(struct pc_cfg_loader *ld, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pc_cfg_msgs_add(&ld->msgs, line, false, fmt, ap);
    va_end(ap);
}

void pc_cfg_warn(struct pc_cfg_loader *ld, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pc_cfg_msgs_add(&ld->msgs, line, true, fmt, ap);
    va_end(ap);
}

void pc_cfg_msgs_add(struct pc_cfg_msgs *ms, int line, bool warning, const char *fmt, va_list ap)
{
    char *text;
    if (vasprintf(&text, fmt, ap) < 0)
        text = pc_cfg_strdup("(out of memory formatting a message)");
    PC_CFG_RESERVE(ms->v, ms->n, ms->cap);
    ms->v[ms->n] = (struct pc_cfg_msg){line, (int)ms->n, warning, text};
    ms->n++;
}

static int msg_cmp(const void *a, const void *b)
{
    const struct pc_cfg_msg *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void diag_append(struct pc_diag *diag, const char *path, const struct pc_cfg_msg *m)
{
    char linebuf[16] = "";
    if (m->line > 0)
        snprintf(linebuf, sizeof linebuf, ":%d", m->line);
    char *s = pc_cfg_printf("%s%s: %s%s\n", path, linebuf, m->warning ? "warning: " : "", m->text);
    size_t n = strlen(s);
    diag->text = pc_cfg_reallocarray(diag->text, diag->len + n + 1, 1);
    memcpy(diag->text + diag->len, s, n + 1);
    diag->len += n;
    free(s);
}

int pc_cfg_msgs_flush(struct pc_cfg_msgs *ms, const char *path, struct pc_diag *diag)
{
    int nerrors = 0;
    if (ms->n > 1)
        qsort(ms->v, ms->n, sizeof *ms->v, msg_cmp);
    for (size_t i = 0; i < ms->n; i++) {
        struct pc_cfg_msg *m = &ms->v[i];
        if (!m->warning)
            nerrors++;
        if (diag) {
            diag_append(diag, path, m);
            if (m->warning)
                diag->nwarnings++;
            else
                diag->nerrors++;
        }
        free(m->text);
    }
    free(ms->v);
    *ms = (struct pc_cfg_msgs){0};
    return nerrors;
}

void pc_diag_free(struct pc_diag *diag)
{
    if (!diag)
        return;
    free(diag->text);
    *diag = (struct pc_diag){0};
}

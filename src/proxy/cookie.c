/* cookie.c — reading the MS-WSMAN cookie (see cookie.h). */
#include "proxy/cookie.h"

#include <string.h>

#include "common/pct.h"

/* The value of MS-WSMAN in one Cookie value V[0, N), as 8 hex digits: true and *ID. */
static bool in_value(const char *v, size_t n, uint32_t *id)
{
    static const char name[] = "MS-WSMAN=";
    const size_t nl = sizeof(name) - 1;
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == ';'))
            i++;
        size_t e = i;
        while (e < n && v[e] != ';')
            e++;
        if (e - i >= nl && memcmp(v + i, name, nl) == 0) {
            size_t vs = i + nl, ve = e;
            while (ve > vs && v[ve - 1] == ' ')
                ve--;
            long x = ve - vs == 8 ? pc_pct_hexnum(v + vs, 8) : -1;
            if (x < 0)
                return false;
            *id = (uint32_t)x;
            return true;
        }
        i = e + 1;
    }
    return false;
}

bool pc_cookie_wsman(const struct pc_head *h, uint32_t *id)
{
    for (unsigned i = 0; i < h->nfields; i++)
        if (h->f[i].kind == PC_HK_COOKIE &&
            in_value(h->base + h->f[i].value.off, h->f[i].value.len, id))
            return true;
    return false;
}

/* html.c — text escaped for the status page's HTML (admin.h). */
#include "admin/admin.h"

void pc_admin_html(FILE *f, const char *s, bool newline_br)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\n':
            if (newline_br) {
                fputs("<br>", f);
                break;
            }
            /* fall through */
        default:
            fputc(*s, f);
        }
    }
}

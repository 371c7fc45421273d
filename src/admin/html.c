/* html.c — text escaped for the status page's HTML and for its JSON (admin.h). */
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

void pc_admin_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&')
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

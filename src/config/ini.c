/* ini.c — see ini.h. */
#include "config/ini.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *skip_space(char *s)
{
    while (is_space(*s))
        s++;
    return s;
}

/* Cuts trailing whitespace in place. */
static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        s[--n] = '\0';
}

static bool is_comment_start(char c)
{
    return c == ';' || c == '#';
}

/* Cuts an inline comment: a ';' or '#' at the start of S or preceded by whitespace. A '#' or
 * ';' inside a word stays, so cipher strings and paths such as "a#b" survive. */
static void cut_comment(char *s)
{
    for (char *p = s; *p; p++) {
        if (is_comment_start(*p) && (p == s || is_space(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    rtrim(s);
}

static void parse_section(char *s, int line, const struct pc_ini_handlers *h, void *user)
{
    char *end = strchr(s, ']');
    if (!end) {
        h->error(user, line, "section header without ']'");
        return;
    }
    *end = '\0';
    char *rest = skip_space(end + 1);
    if (*rest && !is_comment_start(*rest)) {
        h->error(user, line, "unexpected text after section header");
        return;
    }
    char *type = skip_space(s + 1);
    rtrim(type);
    if (!*type) {
        h->error(user, line, "empty section header");
        return;
    }
    char *name = type;
    while (*name && !is_space(*name))
        name++;
    if (*name) {
        *name++ = '\0';
        name = skip_space(name);
        for (char *p = name; *p; p++) {
            if (is_space(*p)) {
                h->error(user, line, "section header with more than one name");
                return;
            }
        }
    } else {
        name = NULL;
    }
    h->section(user, line, type, name);
}

static void parse_pair(char *s, int line, const struct pc_ini_handlers *h, void *user)
{
    char *eq = strchr(s, '=');
    if (!eq) {
        h->error(user, line, "expected 'key = value'");
        return;
    }
    *eq = '\0';
    rtrim(s);
    if (!*s) {
        h->error(user, line, "missing key before '='");
        return;
    }
    for (char *p = s; *p; p++) {
        if (is_space(*p)) {
            h->error(user, line, "key with whitespace in it");
            return;
        }
    }
    char *value = skip_space(eq + 1);
    cut_comment(value);
    h->pair(user, line, s, value);
}

int pc_ini_parse(FILE *f, const struct pc_ini_handlers *h, void *user)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int line = 0;

    errno = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        line++;
        /* getline keeps NUL bytes, but every string below would stop at the first one. */
        if (strlen(buf) != (size_t)len) {
            h->error(user, line, "NUL byte in line");
            continue;
        }
        if (len > 0 && buf[len - 1] == '\n')
            buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '\r')
            buf[--len] = '\0';
        char *s = buf;
        if (line == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
            (unsigned char)s[2] == 0xBF)
            s += 3;
        s = skip_space(s);
        if (!*s || is_comment_start(*s))
            continue;
        if (*s == '[')
            parse_section(s, line, h, user);
        else
            parse_pair(s, line, h, user);
    }
    /* getline also returns -1 on ENOMEM without setting the error flag: only EOF is success. */
    int err = feof(f) && !ferror(f) ? 0 : (errno ? errno : EIO);
    free(buf);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

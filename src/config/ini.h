/* ini.h — a small INI reader for the configuration syntax of docs/configuration.md.
 *
 * Not libinih: Debian builds it with 200-byte lines, ';'-only inline comments and multiline
 * continuation, none of which fits that syntax. This reader has no line-length limit (getline),
 * takes ';' and '#' comments at the start of a line and after a value (when preceded by
 * whitespace), "[type]" and "[type name]" headers, "key = value" pairs, CRLF line ends and a
 * leading UTF-8 BOM. It does not interpret values: a value is the text after '=', with comments
 * and surrounding whitespace removed (possibly empty). */
#ifndef PORTICO_CONFIG_INI_H
#define PORTICO_CONFIG_INI_H

#include <stdio.h>

struct pc_ini_handlers {
    /* "[type]" (name NULL) or "[type name]". */
    void (*section)(void *user, int line, const char *type, const char *name);
    /* "key = value"; the strings live until the callback returns. */
    void (*pair)(void *user, int line, const char *key, const char *value);
    /* A line that is none of the above; msg says why. Parsing goes on with the next line. */
    void (*error)(void *user, int line, const char *msg);
};

/* Reads F to its end, calling the handlers line by line. Returns 0, or -1 with errno set when
 * reading fails (the handlers have then seen the lines read so far). */
int pc_ini_parse(FILE *f, const struct pc_ini_handlers *h, void *user);

#endif

/* importarr-doc.c — what every part of portico import-arr shares (importarr-t.h): the arena
 * that owns the strings of the result, the CHECK notes, and the small libxml2 helpers that
 * walk the document (elements only, attributes checked against what is known). */
#include <libxml/parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/importarr-t.h"

/* ---- the arena and the notes ------------------------------------------------------------ */

_Noreturn void pc_arr_out_of_memory(void)
{
    fputs("portico import-arr: out of memory\n", stderr);
    exit(1);
}

void *pc_arr_grow(void *v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return v;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = reallocarray(v, ncap, size);
    if (!p)
        pc_arr_out_of_memory();
    *cap = ncap;
    return p;
}

static void *keep(struct pc_arr_conf *c, void *p)
{
    if (!p)
        pc_arr_out_of_memory();
    c->arena = pc_arr_grow(c->arena, c->narena, &c->cap_arena, sizeof *c->arena);
    c->arena[c->narena++] = p;
    return p;
}

char *pc_arr_strdup(struct pc_arr_conf *c, const char *s)
{
    return keep(c, strdup(s));
}

static char *vprintf_kept(struct pc_arr_conf *c, const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        pc_arr_out_of_memory();
    return keep(c, s);
}

char *pc_arr_printf(struct pc_arr_conf *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vprintf_kept(c, fmt, ap);
    va_end(ap);
    return s;
}

void pc_arr_check(struct pc_arr_conf *c, int farm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vprintf_kept(c, fmt, ap);
    va_end(ap);
    c->notes = pc_arr_grow(c->notes, c->nnotes, &c->cap_notes, sizeof *c->notes);
    c->notes[c->nnotes++] = (struct pc_arr_note){.farm = farm, .text = s};
}

void pc_arr_conf_free(struct pc_arr_conf *c)
{
    for (size_t i = 0; i < c->narena; i++)
        free(c->arena[i]);
    free(c->arena);
    for (size_t i = 0; i < c->nfarms; i++)
        free(c->farms[i].servers);
    free(c->farms);
    free(c->names);
    free(c->notes);
    free(c->external);
}

/* ---- element access --------------------------------------------------------------------- */

bool pc_arr_is(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *element_from(xmlNode *n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

xmlNode *pc_arr_first(xmlNode *parent)
{
    return parent ? element_from(parent->children) : NULL;
}

xmlNode *pc_arr_next(xmlNode *n)
{
    return n ? element_from(n->next) : NULL;
}

xmlNode *pc_arr_child(xmlNode *parent, const char *name)
{
    for (xmlNode *n = pc_arr_first(parent); n; n = pc_arr_next(n))
        if (pc_arr_is(n, name))
            return n;
    return NULL;
}

const char *pc_arr_attr(struct pc_arr_conf *c, xmlNode *n, const char *name)
{
    /* No DTD is ever loaded (read_document refuses one), so no entity can expand here. */
    xmlChar *v = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
    if (!v)
        return NULL;
    char *s = pc_arr_strdup(c, (const char *)v);
    xmlFree(v);
    return s;
}

int pc_arr_line(const xmlNode *n)
{
    long l = n ? xmlGetLineNo(n) : 0;
    return l > 0 && l < INT32_MAX ? (int)l : 0;
}

int pc_arr_unknown_attrs(struct pc_arr_conf *c, int farm, xmlNode *n, const char *what,
                         const char *const *known)
{
    int count = 0;
    for (xmlAttr *a = n->properties; a; a = a->next) {
        size_t i = 0;
        while (known[i] && strcmp(known[i], (const char *)a->name) != 0)
            i++;
        if (known[i])
            continue;
        const char *v = pc_arr_attr(c, n, (const char *)a->name);
        pc_arr_check(c, farm, "line %d: %s %s=\"%s\" has no portico equivalent and is left out",
                     pc_arr_line(n), what, (const char *)a->name, v ? v : "");
        count++;
    }
    return count;
}

void pc_arr_bool(struct pc_arr_conf *c, int farm, xmlNode *n, const char *attr, bool *out)
{
    const char *v = pc_arr_attr(c, n, attr);
    if (!v)
        return;
    if (strcasecmp(v, "true") == 0)
        *out = true;
    else if (strcasecmp(v, "false") == 0)
        *out = false;
    else
        pc_arr_check(c, farm, "line %d: %s=\"%s\" is neither true nor false; read as %s",
                     pc_arr_line(n), attr, v, *out ? "true" : "false");
}

int pc_arr_farm_index(const struct pc_arr_conf *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nfarms; i++)
        if (strlen(c->farms[i].name) == len && strncasecmp(c->farms[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

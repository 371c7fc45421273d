/* importarr-t.h — what `portico import-arr` (docs/import-arr.md) reads out of an IIS
 * applicationHost.config, shared by its three files: importarr.c reads the document (farms,
 * site bindings, the server-wide proxy settings), importarr-rules.c turns the URL Rewrite global
 * rules into published names, importarr-emit.c groups the farms into pools and writes the
 * portico.conf. Nothing here is used outside src/cli/importarr*.c. */
#ifndef PORTICO_IMPORTARR_T_H
#define PORTICO_IMPORTARR_T_H

#include <libxml/tree.h>
#include <string.h>

#include "config/config.h"
#include <stdbool.h>
#include <stddef.h>

/* What port 80 does for a name: the first enabled rule that matches {HTTPS} off decides
 * (docs/import-arr.md, "Port 80"). UNSET: no rule handles the name over HTTP; TLS: a rule sends
 * it to the farm's HTTPS port, which portico cannot do (taken as a redirect). */
enum pc_arr_http { PC_ARR_HTTP_UNSET, PC_ARR_HTTP_FORWARD, PC_ARR_HTTP_REDIRECT, PC_ARR_HTTP_TLS };

struct pc_arr_server {
    const char *address; /* as written: a host name or an address */
    int http_port, https_port;
    int weight;
    bool enabled;
    int line;
};

struct pc_arr_farm {
    const char *name;
    int line;
    bool enabled;
    struct pc_arr_server *servers;
    size_t nservers, cap_servers;
    double timeout;           /* applicationRequestRouting/protocol timeout, seconds; 0: not set */
    const char *timeout_text; /* as written (hh:mm:ss) */
    bool cookie;              /* affinity useCookie="true" */
    bool source;              /* loadBalancing RequestHash on REMOTE_ADDR */
    double health_interval;   /* healthCheck interval when it has a url; 0 otherwise */
    bool routed;              /* some rule rewrites to it */
    int pool;                 /* the pool it went into (importarr-emit.c), -1: none */
};

struct pc_arr_name {
    const char *name; /* lower case; a wildcard is "*.suffix" */
    int farm;         /* where it goes on HTTPS, -1: nowhere */
    const char *rule; /* the rule that decided, and its line */
    int rule_line;
    enum pc_arr_http http;
    int http_farm; /* PC_ARR_HTTP_FORWARD: the farm the rule forwards to */
    const char *http_rule;
    int http_line;
};

/* A "# CHECK:" comment: something the admin must look at. FARM -1: for the whole file. */
struct pc_arr_note {
    int farm;
    const char *text;
};

struct pc_arr_conf {
    const char *path; /* FILE as given */
    const char *base; /* its last component, for the output's header */
    struct pc_arr_farm *farms;
    size_t nfarms, cap_farms;
    struct pc_arr_name *names;
    size_t nnames, cap_names;
    struct pc_arr_note *notes;
    size_t nnotes, cap_notes;
    size_t nrules; /* global rules read */

    /* The sites' bindings (system.applicationHost/sites): the external listeners. */
    bool have_sites;
    const char **external; /* specific addresses bound, in order */
    size_t nexternal, cap_external;
    bool external_any;         /* a binding on every address ('*') */
    int https_port, http_port; /* 0: no binding of that protocol; -1: several ports */
    int binding_line;

    /* Every string above lives in the arena: freed at once by pc_arr_conf_free. */
    void **arena;
    size_t narena, cap_arena;
};

/* importarr.c: the arena and the notes. */
char *pc_arr_strdup(struct pc_arr_conf *c, const char *s);
char *pc_arr_printf(struct pc_arr_conf *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pc_arr_check(struct pc_arr_conf *c, int farm, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void *pc_arr_grow(void *v, size_t n, size_t *cap, size_t size);
/* Out of memory: a message, exit status 1 (nothing half-written is kept). */
_Noreturn void pc_arr_out_of_memory(void);
void pc_arr_conf_free(struct pc_arr_conf *c);

/* importarr.c: element and attribute access on the parsed document. */
bool pc_arr_is(const xmlNode *n, const char *name);
xmlNode *pc_arr_first(xmlNode *parent);
xmlNode *pc_arr_next(xmlNode *n);
xmlNode *pc_arr_child(xmlNode *parent, const char *name);
const char *pc_arr_attr(struct pc_arr_conf *c, xmlNode *n, const char *name);
int pc_arr_line(const xmlNode *n);
/* Notes every attribute of N not in KNOWN (NULL-terminated) as a CHECK for FARM, and returns
 * their number. WHAT names the element in the note. */
int pc_arr_unknown_attrs(struct pc_arr_conf *c, int farm, xmlNode *n, const char *what,
                         const char *const *known);
/* "true"/"false" (any case) into *OUT; anything else is noted and leaves *OUT. */
void pc_arr_bool(struct pc_arr_conf *c, int farm, xmlNode *n, const char *attr, bool *out);
/* The farm named NAME (case-insensitive, as ARR compares them), or -1. */
int pc_arr_farm_index(const struct pc_arr_conf *c, const char *name, size_t len);

/* importarr-rules.c: the global rules (system.webServer/rewrite/globalRules) into c->names. */
void pc_arr_read_rules(struct pc_arr_conf *c, xmlNode *global_rules);
/* Whether S is a host name portico accepts (config.h, pc_cfg_valid_hostname). */
static inline bool pc_arr_valid_host(const char *s)
{
    return pc_cfg_valid_hostname(s, strlen(s));
}

/* importarr-emit.c: the portico.conf text for C (malloc'd; NULL when out of memory), and what
 * it holds. */
struct pc_arr_counts {
    size_t pools, names, checks;
};
char *pc_arr_emit(struct pc_arr_conf *c, struct pc_arr_counts *counts);

#endif

/* signin-soap.c — who a web ticket SOAP request signs in as (signin.h, docs/signin.md): the
 * WS-Security UsernameToken of POST /WebTicket/WebTicketService.svc/Auth.
 *
 * libxml2 reads the body (never a hand-written XML parser); no network, no entity
 * substitution, no DTD loading, and a document with a DTD is refused outright, so that
 * entity tricks cannot hide or multiply a user name. Only the Username element's text is
 * copied: the Password element is never looked at. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "proxy/signin.h"

/* The WS-Security 1.0 secext namespace (OASIS WSS SOAP Message Security 1.0, §4). */
static const char wsse_ns[] =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

static bool is_wsse(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, wsse_ns) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

/* The first UsernameToken in document order under N, depth-first. Deeper than 32 elements
 * (a SOAP envelope's token is at depth 3) sets *DEEP: the document is refused rather than
 * searched no further, so that nesting cannot hide a token. */
static const xmlNode *find_token(const xmlNode *n, int depth, bool *deep)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (depth >= 32) {
            *deep = true;
            return NULL;
        }
        if (is_wsse(n, "UsernameToken"))
            return n;
        const xmlNode *t = find_token(n->children, depth + 1, deep);
        if (t || *deep)
            return t;
    }
    return NULL;
}

int pc_signin_parse_soap(const char *body, size_t len, char *user, size_t cap)
{
    user[0] = '\0';
    if (len > (size_t)PC_SIGNIN_SOAP_MAX)
        return -1;
    xmlDoc *doc = xmlReadMemory(body, (int)len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return -1;
    int rc = 0;
    if (doc->intSubset || doc->extSubset) {
        rc = -1;
        goto out;
    }
    bool deep = false;
    const xmlNode *tok = find_token(xmlDocGetRootElement(doc), 0, &deep);
    if (deep) {
        rc = -1;
        goto out;
    }
    if (!tok)
        goto out; /* another kind of sign-in (Windows, certificate): no password here */
    rc = -1;
    for (const xmlNode *c = tok->children; c; c = c->next) {
        if (!is_wsse(c, "Username"))
            continue;
        xmlChar *text = xmlNodeGetContent(c);
        size_t n = text ? strlen((const char *)text) : 0;
        if (text && n < cap) {
            memcpy(user, text, n + 1);
            rc = 1;
        }
        xmlFree(text);
        break;
    }
out:
    xmlFreeDoc(doc);
    return rc;
}

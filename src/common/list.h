/* list.h — one intrusive doubly linked list (circular, with a head), as in the Linux kernel:
 * the sessions of a worker, a member's idle connections, a client's pinned connections and
 * the free lists. An element is in at most one list through a given link. */
#ifndef PORTICO_LIST_H
#define PORTICO_LIST_H

#include <stdbool.h>

#include "common/util.h"

struct pc_list {
    struct pc_list *next, *prev;
};

/* An empty list (or an element in none: pc_list_del leaves it so). */
static inline void pc_list_init(struct pc_list *h)
{
    h->next = h->prev = h;
}

static inline bool pc_list_empty(const struct pc_list *h)
{
    return h->next == h;
}

/* Puts E at the head of H (newest first). */
static inline void pc_list_push(struct pc_list *h, struct pc_list *e)
{
    e->next = h->next;
    e->prev = h;
    h->next->prev = e;
    h->next = e;
}

/* Takes E off whatever list it is in; harmless when it is in none. */
static inline void pc_list_del(struct pc_list *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    pc_list_init(e);
}

/* The first (newest) and last (oldest) elements of H, NULL when it is empty. */
static inline struct pc_list *pc_list_first(const struct pc_list *h)
{
    return pc_list_empty(h) ? NULL : h->next;
}

static inline struct pc_list *pc_list_last(const struct pc_list *h)
{
    return pc_list_empty(h) ? NULL : h->prev;
}

/* Takes the first element off H and returns it, NULL when H is empty (free lists). */
static inline struct pc_list *pc_list_pop(struct pc_list *h)
{
    struct pc_list *e = pc_list_first(h);
    if (e)
        pc_list_del(e);
    return e;
}

/* The struct of type TYPE whose link FIELD is E, or NULL for a NULL E (E is evaluated once). */
#define PC_LIST_ITEM(e, type, field)                                                               \
    ({                                                                                             \
        struct pc_list *pc_e_ = (e);                                                               \
        pc_e_ ? PC_CONTAINER_OF(pc_e_, type, field) : (type *)NULL;                                \
    })

/* Each element E of H, newest first; E may not be taken off inside (use a copy of next). */
#define PC_LIST_EACH(e, h) for (struct pc_list *e = (h)->next; e != (h); e = e->next)

#endif

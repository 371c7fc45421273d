/* signin.h — sign-in defence, the pure parts (issue 14, docs/signin.md): who a sign-in attempt
 * is for (account keys from NTLM names, the web-ticket form, Basic), and the lockout policy as a
 * clock-injected table in one caller-provided block of memory (no pointers inside, so that it
 * can live in shared memory). No I/O, no allocation. A password is never copied: the parsers
 * skip over it. Wired into the data path by guard.c. */
#ifndef PORTICO_SIGNIN_H
#define PORTICO_SIGNIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/net-t.h"

/* Bytes of a user name or account key, with the NUL. */
#define PC_SIGNIN_NAME_MAX 256

/* ---- account keys ---- */

/* The account key of a sign-in as USER (`alice`, `CONTOSO\alice`, `alice@contoso.com`) of
 * DOMAIN (the NTLM DomainName; NULL or "" when there is none) into OUT[0, CAP): the user name
 * alone (the part after `DOMAIN\` and before the last `@`), or with QUALIFIED `domain\user`
 * where the domain is the UPN suffix's first label if there is an `@`, else the `DOMAIN\` part,
 * else DOMAIN (none: the bare name). Leading and trailing spaces go, inner runs become one;
 * ASCII and Latin-1 letters are case-folded (docs/signin.md). Returns the length, or -1 when
 * there is no name, it is not UTF-8, has a control character, or does not fit. */
int pc_signin_account(const char *domain, const char *user, bool qualified, char *out, size_t cap);

/* ---- the web ticket form (POST /WebTicket/oauthtoken) ---- */

enum pc_signin_form_kind {
    PC_SIGNIN_FORM_NONE = 0,  /* no grant_type */
    PC_SIGNIN_FORM_PASSWORD,  /* grant_type=password: a password attempt for username */
    PC_SIGNIN_FORM_ANONYMOUS, /* grant_type=urn:microsoft.rtc:anonmeeting: never counted */
    PC_SIGNIN_FORM_OTHER,     /* another grant (windows, passive...): no password here */
    PC_SIGNIN_FORM_MALFORMED, /* a bad escape, a repeated field, an over-long username */
};

struct pc_signin_form {
    enum pc_signin_form_kind kind;
    bool has_username, has_password;
    char username[PC_SIGNIN_NAME_MAX]; /* decoded, "" when absent */
};

/* Parses an application/x-www-form-urlencoded BODY[0, LEN) (the whole body). */
enum pc_signin_form_kind pc_signin_parse_form(const char *body, size_t len,
                                              struct pc_signin_form *out);

/* ---- Basic (RFC 7617) ---- */

/* The user-id of the Authorization value V[0, N) into USER[0, CAP) (UTF-8; bytes that are not
 * UTF-8 are read as Latin-1). 1: Basic with a user-id (maybe ""); 0: not Basic; -1: Basic but
 * malformed (bad base64, no colon, a NUL or control byte, too long). The password is never
 * decoded. */
int pc_signin_parse_basic(const char *v, size_t n, char *user, size_t cap);

/* ---- the web ticket SOAP request (POST /WebTicket/WebTicketService.svc/Auth) ---- */

#define PC_SIGNIN_SOAP_MAX 16384 /* bytes of a body read whole */

/* The WS-Security UsernameToken's Username of the SOAP envelope BODY[0, LEN) into
 * USER[0, CAP) (UTF-8, as written; signin-soap.c). 1: a UsernameToken with its user name;
 * 0: well-formed but no UsernameToken (another kind of sign-in); -1: not well-formed XML, a
 * DTD, a UsernameToken without a readable Username, or too long. */
int pc_signin_parse_soap(const char *body, size_t len, char *user, size_t cap);

/* ---- the lockout policy ---- */

#define PC_SIGNIN_THRESHOLD_MAX 16 /* lockout_threshold at most */
#define PC_SIGNIN_SPRAY_MAX     32 /* spray_accounts at most */
#define PC_SIGNIN_FAMILIAR_MAX  4  /* familiar sources kept per account */

struct pc_signin_policy {
    unsigned threshold;      /* failures of an allowance within window that lock it (4) */
    unsigned window;         /* seconds (900) */
    unsigned duration;       /* seconds an allowance stays locked (900) */
    unsigned familiar_ttl;   /* seconds a success makes a source familiar (14 days) */
    unsigned spray_accounts; /* distinct accounts failed from one source within... (10) */
    unsigned spray_window;   /* ...seconds (600) */
    unsigned spray_duration; /* seconds the source is then refused (3600) */
    bool qualified;          /* domain-qualified keys (not used by the table itself) */
};

void pc_signin_policy_default(struct pc_signin_policy *p);

enum pc_signin_verdict {
    PC_SIGNIN_ALLOW = 0,
    PC_SIGNIN_REFUSE_ACCOUNT, /* the account's allowance for this source is locked */
    PC_SIGNIN_REFUSE_SOURCE,  /* the source sprayed */
};

struct pc_signin_table;

/* Bytes the table needs for ACCOUNTS accounts and SOURCES sources (each at least 1). */
size_t pc_signin_size(unsigned accounts, unsigned sources);
/* Lays a table out in MEM[0, SIZE) (8-byte aligned). SEED keys the hashes (take it random, the
 * same in every process sharing the table). NULL when SIZE is short or the policy is out of
 * range (threshold 1..16, spray_accounts 1..32, windows > 0). */
struct pc_signin_table *pc_signin_init(void *mem, size_t size, const struct pc_signin_policy *p,
                                       unsigned accounts, unsigned sources, uint32_t seed);

/* A new policy for T (a reload): entries keep what they counted. Out of range: ignored. */
void pc_signin_set_policy(struct pc_signin_table *t, const struct pc_signin_policy *p);

/* Before forwarding an attempt for ACCOUNT (an account key; NULL for Kerberos, which names
 * nobody) from SOURCE, at NOW (seconds, any monotonic origin). */
enum pc_signin_verdict pc_signin_check(struct pc_signin_table *t, int64_t now, const char *account,
                                       const struct pc_addr *source);
/* The member's verdict on an attempt that was forwarded (never for one that was refused). */
void pc_signin_result(struct pc_signin_table *t, int64_t now, const char *account,
                      const struct pc_addr *source, bool success);

struct pc_signin_stats {
    unsigned accounts, sources;               /* entries in use */
    unsigned accounts_locked, sources_locked; /* now (an account counts once per allowance) */
};
void pc_signin_stats(const struct pc_signin_table *t, int64_t now, struct pc_signin_stats *s);

/* A lock in force: an account's allowance (ACCOUNT; FAMILIAR the 16-byte key of the familiar
 * source whose allowance it is, NULL for every other source) or a SOURCE (its key), locked
 * until UNTIL. The pointers are valid during the call only. */
struct pc_signin_lock {
    const char *account;
    const uint8_t *familiar, *source;
    int64_t until;
};
typedef void pc_signin_lock_fn(const struct pc_signin_lock *l, void *arg);
/* Calls FN for every lock in force at NOW. */
void pc_signin_each_lock(const struct pc_signin_table *t, int64_t now, pc_signin_lock_fn *fn,
                         void *arg);
/* Calls FN for every lock that has run out at NOW, and marks it so (once per lock). */
void pc_signin_expire(struct pc_signin_table *t, int64_t now, pc_signin_lock_fn *fn, void *arg);
/* An administrator's pardon: ACCOUNT's failures and locks are forgotten (its familiar sources
 * stay familiar), or SOURCE's. False when the table does not know it. */
bool pc_signin_clear_account(struct pc_signin_table *t, const char *account);
bool pc_signin_clear_source(struct pc_signin_table *t, const struct pc_addr *source);

/* A 16-byte source key as text: the IPv4 address (mapped), else the IPv6 /64 it stands for. */
void pc_signin_source_text(const uint8_t k[16], char *buf, size_t size);

/* The 16-byte key of a source: an IPv4 address as ::ffff:a.b.c.d, an IPv6 one as its /64
 * (one host's privacy addresses share it; an attacker gets no fresh source per address). */
void pc_signin_source_key(const struct pc_addr *a, uint8_t key[16]);

#endif

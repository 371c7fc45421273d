/* fuzz_config.c — libFuzzer harness: the configuration loader (src/config, docs/configuration.md).
 *
 * Input: the text of a configuration file. It is written to portico.conf in a private
 * directory (made once per process, with the files a configuration names: public.pem,
 * public.key, ecdsa.pem, ecdsa.key, internal-ca.pem, owa-ca.pem, tickets.key, and a directory
 * certs/), then pc_config_load() reads it. Checks:
 *   - no crash, no leak (LeakSanitizer), whatever the text;
 *   - every diagnostic line is "FILE:LINE: message" or "FILE: message" (FILE = the path given),
 *     LINE within the file, lines sorted, counts equal to nerrors/nwarnings, warnings say so;
 *   - a configuration comes back exactly when there is no error, and then: every pool has
 *     members and published names, every published name routes to itself (a wildcard to a
 *     name under it), no name is left in http = auto, ports and timeouts are in range.
 *
 * The outside world is kept out (the link wraps these symbols, see fuzz.mk):
 *   - getaddrinfo/freeaddrinfo: no DNS. "localhost" gives 127.0.0.1 and ::1; names ending in
 *     .local, .lan or contoso.com give one address from 10.0.0.0/8 or 2001:db8::/32 derived from
 *     the name; anything else does not resolve (EAI_NONAME);
 *   - getpwnam/getgrouplist: no NSS. root (uid 0), portico, nobody and www-data (uid 999);
 *   - open: only files inside the private directory (no "..") are opened; any other path
 *     (/dev/..., /proc/...) is "No such file or directory", so the fuzzer never opens a device. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "config/config.h"

static char dir[256];
static char conf_path[300];
static size_t dir_len;

/* ---- wrapped libc functions ------------------------------------------------------------- */

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (dir_len && (strncmp(path, dir, dir_len) != 0 || path[dir_len] != '/' ||
                    strstr(path + dir_len, "/.."))) {
        errno = ENOENT;
        return -1;
    }
    return __real_open(path, flags, mode);
}

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    (void)service;
    (void)hints;
    size_t n = node ? strlen(node) : 0;
    bool local = n >= 9 && strcmp(node, "localhost") == 0;
    bool ours = (n > 6 && strcmp(node + n - 6, ".local") == 0) ||
                (n > 4 && strcmp(node + n - 4, ".lan") == 0) ||
                (n >= 11 && strcmp(node + n - 11, "contoso.com") == 0);
    if (!local && !ours)
        return EAI_NONAME;
    uint64_t h = fz_hash(node, n);
    struct addrinfo *head = NULL, **tail = &head;
    for (int k = 0; k < 2; k++) {
        bool v6 = local ? k == 1 : (h & 1);
        if (!local && k == 1)
            break;
        struct addrinfo *ai = calloc(1, sizeof *ai + sizeof(struct sockaddr_in6));
        struct sockaddr_storage *ss = (void *)(ai + 1);
        ai->ai_addr = (struct sockaddr *)ss;
        ai->ai_socktype = SOCK_STREAM;
        if (v6) {
            struct sockaddr_in6 *s6 = (void *)ss;
            s6->sin6_family = AF_INET6;
            if (local) {
                s6->sin6_addr = in6addr_loopback;
            } else {
                memcpy(&s6->sin6_addr, "\x20\x01\x0d\xb8", 4);
                memcpy((char *)&s6->sin6_addr + 8, &h, 8);
            }
            ai->ai_family = AF_INET6;
            ai->ai_addrlen = sizeof *s6;
        } else {
            struct sockaddr_in *s4 = (void *)ss;
            s4->sin_family = AF_INET;
            s4->sin_addr.s_addr =
                local ? htonl(0x7f000001) : htonl(0x0a000000 | (uint32_t)(h >> 40));
            ai->ai_family = AF_INET;
            ai->ai_addrlen = sizeof *s4;
        }
        *tail = ai;
        tail = &ai->ai_next;
    }
    *res = head;
    return 0;
}

void __wrap_freeaddrinfo(struct addrinfo *ai)
{
    while (ai) {
        struct addrinfo *next = ai->ai_next;
        free(ai);
        ai = next;
    }
}

struct passwd *__wrap_getpwnam(const char *name)
{
    static struct passwd pw;
    static char namebuf[64];
    static const char *const users[] = {"root", "portico", "nobody", "www-data"};
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        if (strcmp(name, users[i]) == 0) {
            snprintf(namebuf, sizeof namebuf, "%s", name);
            pw = (struct passwd){.pw_name = namebuf,
                                 .pw_passwd = "x",
                                 .pw_uid = i ? 999 : 0,
                                 .pw_gid = i ? 999 : 0,
                                 .pw_gecos = "",
                                 .pw_dir = "/",
                                 .pw_shell = "/bin/false"};
            return &pw;
        }
    }
    errno = 0;
    return NULL;
}

int __wrap_getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups)
{
    (void)user;
    if (*ngroups < 1) {
        *ngroups = 1;
        return -1;
    }
    groups[0] = group;
    *ngroups = 1;
    return 1;
}

/* ---- the private directory ---------------------------------------------------------------- */

static void put_file(const char *name, const char *text, mode_t mode)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = __real_open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) < 0 || close(fd) < 0) {
        perror(p);
        exit(2);
    }
}

static const char *const files[] = {"public.pem",      "public.key", "ecdsa.pem",  "ecdsa.key",
                                    "internal-ca.pem", "owa-ca.pem", "tickets.key"};

static void cleanup(void)
{
    char p[400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    unlink(conf_path);
    snprintf(p, sizeof p, "%s/certs", dir);
    rmdir(p);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/portico-fuzz-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        put_file(files[i], "-----BEGIN NOTHING-----\n-----END NOTHING-----\n", i % 2 ? 0600 : 0644);
    char p[400];
    snprintf(p, sizeof p, "%s/certs", dir);
    mkdir(p, 0755);
    snprintf(conf_path, sizeof conf_path, "%s/portico.conf", dir);
    dir_len = strlen(dir);
    atexit(cleanup);
    return 0;
}

/* ---- checks ------------------------------------------------------------------------------- */

static void check_diag(const struct pc_diag *d, size_t file_lines)
{
    if (!d->text) {
        FZ_CHECK(d->len == 0 && d->nerrors == 0 && d->nwarnings == 0, "diag: counts without text");
        return;
    }
    FZ_CHECK(strlen(d->text) == d->len, "diag: length %zu, text %zu", d->len, strlen(d->text));
    FZ_CHECK(d->len > 0 && d->text[d->len - 1] == '\n', "diag: not ended by a newline");
    size_t plen = strlen(conf_path);
    int errors = 0, warnings = 0;
    long last = -1;
    for (const char *l = d->text; *l;) {
        const char *nl = strchr(l, '\n');
        FZ_CHECK(strncmp(l, conf_path, plen) == 0 && l[plen] == ':',
                 "diag line not \"FILE:...\": %.*s", (int)(nl - l), l);
        const char *m = l + plen + 1;
        long line = 0;
        if (*m >= '0' && *m <= '9') {
            FZ_CHECK(*m != '0', "diag: line number with a leading zero: %.*s", (int)(nl - l), l);
            while (*m >= '0' && *m <= '9')
                line = line * 10 + (*m++ - '0');
            FZ_CHECK(*m == ':', "diag line not \"FILE:LINE: message\": %.*s", (int)(nl - l), l);
            m++;
            FZ_CHECK(line >= 1 && (size_t)line <= file_lines, "diag: line %ld of a %zu-line file",
                     line, file_lines);
        }
        FZ_CHECK(*m == ' ' && m + 1 < nl && m[1] != ' ', "diag line without \": message\": %.*s",
                 (int)(nl - l), l);
        FZ_CHECK(line >= last, "diag lines not sorted by line");
        last = line;
        if (strncmp(m + 1, "warning: ", 9) == 0)
            warnings++;
        else
            errors++;
        l = nl + 1;
    }
    FZ_CHECK(errors == d->nerrors && warnings == d->nwarnings,
             "diag: %d errors and %d warnings listed, counts say %d and %d", errors, warnings,
             d->nerrors, d->nwarnings);
}

static void check_config(const struct pc_config *c)
{
    FZ_CHECK(c->workers >= 1 && c->workers <= 4096, "workers %d", c->workers);
    FZ_CHECK(c->nexternal >= 1, "no external address");
    FZ_CHECK(c->max_connections >= 1, "max_connections %d", c->max_connections);
    FZ_CHECK(c->https_port >= 0 && c->https_port <= 65535 && c->http_port >= 0 &&
                 c->http_port <= 65535,
             "listener ports");
    double t[] = {c->timeout_connect,   c->timeout_handshake, c->timeout_header,
                  c->timeout_keepalive, c->timeout_idle,      c->drain_timeout};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        FZ_CHECK(t[i] > 0 && t[i] <= 366 * 86400.0, "timeout %zu = %g", i, t[i]);
    for (size_t i = 0; i < c->ncerts; i++)
        FZ_CHECK(c->certs[i].cert && c->certs[i].cert[0] == '/', "certificate path not absolute");
    size_t total = 0;
    for (size_t i = 0; i < c->npools; i++) {
        const struct pc_pool *p = &c->pools[i];
        FZ_CHECK(p->nmembers >= 1, "pool '%s' without members", p->name);
        FZ_CHECK(p->npublish >= 1, "pool '%s' without names", p->name);
        FZ_CHECK(p->https_port >= 1 && p->https_port <= 65535, "pool https_port %d", p->https_port);
        FZ_CHECK(!(p->http == PC_HTTP_FORWARD && p->http_port == 0), "forward without http_port");
        for (size_t j = 0; j < p->nmembers; j++) {
            const struct pc_member *m = &p->members[j];
            FZ_CHECK(m->https_port >= 1 && m->https_port <= 65535, "member port %d", m->https_port);
            FZ_CHECK(m->addr.ss.ss_family == AF_INET || m->addr.ss.ss_family == AF_INET6,
                     "member address family");
            for (size_t k = 0; k < j; k++)
                FZ_CHECK(p->members[k].id != m->id || p->members[k].https_port != m->https_port ||
                             memcmp(&p->members[k].addr, &m->addr, sizeof m->addr) != 0,
                         "member listed twice");
        }
        total += p->npublish;
    }
    FZ_CHECK(c->nnames <= total, "more names than published");
    for (size_t i = 0; i < c->nnames; i++) {
        const struct pc_name *nm = &c->names[i];
        FZ_CHECK(nm->http != PC_HTTP_AUTO, "name '%s' left in http = auto", nm->name);
        FZ_CHECK(nm->pool >= c->pools && nm->pool < c->pools + c->npools, "name's pool");
        size_t l = strlen(nm->name);
        if (nm->wildcard) {
            FZ_CHECK(l >= 2 && nm->name[0] == '.', "wildcard '%s' not stored as a suffix",
                     nm->name);
            char host[300];
            snprintf(host, sizeof host, "zz%s", nm->name);
            const struct pc_name *r = pc_config_route(c, host, strlen(host));
            FZ_CHECK(r, "'%s' under wildcard '*%s' does not route", host, nm->name);
            size_t rl = strlen(r->name);
            FZ_CHECK(r->wildcard
                         ? rl <= strlen(host) && strcmp(host + strlen(host) - rl, r->name) == 0
                         : strcmp(r->name, host) == 0,
                     "'%s' routes to '%s'", host, r->name);
        } else {
            FZ_CHECK(l >= 1 && nm->name[0] != '.', "exact name '%s'", nm->name);
            const struct pc_name *r = pc_config_route(c, nm->name, l);
            FZ_CHECK(r == nm, "published name '%s' does not route to itself", nm->name);
            /* Any case, a port and a trailing dot make no difference. */
            char host[300];
            snprintf(host, sizeof host, "%s.:443", nm->name);
            for (char *q = host; *q; q++)
                if (*q >= 'a' && *q <= 'z')
                    *q = (char)(*q - 'a' + 'A');
            FZ_CHECK(pc_config_route(c, host, strlen(host)) == nm, "'%s' does not route", host);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    int fd = __real_open(conf_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FZ_CHECK(fd >= 0, "cannot write %s", conf_path);
    FZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size, "short write");
    close(fd);
    size_t file_lines = 1;
    for (size_t i = 0; i < size; i++)
        file_lines += data[i] == '\n';

    struct pc_diag diag = {0};
    struct pc_config *cfg = pc_config_load(conf_path, &diag);
    check_diag(&diag, file_lines);
    FZ_CHECK((cfg != NULL) == (diag.nerrors == 0), "configuration %s with %d errors",
             cfg ? "returned" : "refused", diag.nerrors);
    if (cfg)
        check_config(cfg);
    pc_config_free(cfg);
    pc_diag_free(&diag);
    return 0;
}

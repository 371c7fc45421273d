/* main.c — the command line (README.md, `portico -h`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/master.h"
#include "core/worker.h"
#include "proxy/app.h"
#include "proxy/guard.h"
#include "tls/tls.h"

#define PORTICO_VERSION "0.1.0"

static void usage(FILE *f)
{
    fputs("usage: portico -c FILE            run in the foreground\n"
          "       portico -t -c FILE         check the configuration\n"
          "       portico ports -c FILE [--format markdown|nft] [--allow-dns] [--allow-ntp]\n"
          "                                  [--allow-ssh] [--allow-vrrp]\n"
          "       portico probe -c FILE\n"
          "       portico import-arr FILE [-o OUT]  convert an IIS ARR applicationHost.config\n"
          "       portico signin list -c FILE       sign-in lockouts in force\n"
          "       portico signin clear NAME|ADDRESS -c FILE  lift one\n"
          "       portico -v                 version\n",
          f);
}

/* The command line, once read. */
struct args {
    const char *conf;
    bool test;
    const char *cmd; /* "ports", "probe", "signin", or NULL to run (or check) */
    struct pc_ports_opts popts;
    const char *signin_op, *signin_target; /* portico signin list | clear TARGET */
};

/* Reads ARGV into *A. Returns -1 to go on, else the exit status (after -v, -h or an error). */
static int parse_args(int argc, char **argv, struct args *a)
{
    const char *conf = NULL;
    bool test = false;
    const char *cmd = NULL;
    struct pc_ports_opts popts = {PC_PORTS_MARKDOWN, false, false, false, false};
    int i = 1;
    const char *sop = NULL, *starget = NULL;
    if (argc > 1 && (strcmp(argv[1], "ports") == 0 || strcmp(argv[1], "probe") == 0))
        cmd = argv[i++];
    if (argc > 2 && strcmp(argv[1], "signin") == 0) {
        cmd = argv[i++];
        sop = argv[i++];
        if (strcmp(sop, "clear") == 0 && i < argc && argv[i][0] != '-')
            starget = argv[i++];
        if (strcmp(sop, "list") != 0 && !starget) {
            usage(stderr);
            return 2;
        }
    }
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            conf = argv[++i];
        } else if (strcmp(argv[i], "-t") == 0) {
            test = true;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("portico %s\n", PORTICO_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (cmd && strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            const char *f = argv[++i];
            if (strcmp(f, "markdown") == 0)
                popts.format = PC_PORTS_MARKDOWN;
            else if (strcmp(f, "nft") == 0)
                popts.format = PC_PORTS_NFT;
            else {
                fprintf(stderr, "portico: unknown format '%s' (markdown or nft)\n", f);
                return 2;
            }
        } else if (cmd && strcmp(argv[i], "--allow-dns") == 0) {
            popts.allow_dns = true;
        } else if (cmd && strcmp(argv[i], "--allow-ntp") == 0) {
            popts.allow_ntp = true;
        } else if (cmd && strcmp(argv[i], "--allow-ssh") == 0) {
            popts.allow_ssh = true;
        } else if (cmd && strcmp(argv[i], "--allow-vrrp") == 0) {
            popts.allow_vrrp = true;
        } else {
            fprintf(stderr, "portico: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!conf) {
        usage(stderr);
        return 2;
    }
    *a = (struct args){conf, test, cmd, popts, sop, starget};
    return -1;
}

/* portico ports and portico probe, with a configuration that loaded. */
static int run_tool(const char *cmd, struct pc_config *cfg, const struct args *a)
{
    const struct pc_ports_opts *popts = &a->popts;
    int rc;
    if (strcmp(cmd, "signin") == 0) {
        rc = pc_cmd_signin(cfg, a->signin_op, a->signin_target);
    } else if (strcmp(cmd, "ports") == 0) {
        rc = pc_cmd_ports(cfg, popts);
    } else {
        struct pc_tls *t = pc_tls_load(cfg, NULL);
        rc = t ? pc_cmd_probe(cfg, t) : 1;
        pc_tls_free(t);
    }
    pc_config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "import-arr") == 0)
        return pc_cmd_import_arr(argc - 2, argv + 2);
    struct args a;
    int st = parse_args(argc, argv, &a);
    if (st >= 0)
        return st;
    const char *conf = a.conf, *cmd = a.cmd;
    bool test = a.test;
    struct pc_diag diag = {0};
    struct pc_config *cfg = pc_config_load(conf, &diag);
    if (cmd && cfg) {
        if (diag.text)
            fputs(diag.text, stderr);
        pc_diag_free(&diag);
        return run_tool(cmd, cfg, &a);
    }
    if (test && cfg) {
        /* Load the certificates too: a key that does not match is a configuration error. */
        struct pc_tls *t = pc_tls_load(cfg, &diag);
        if (!t) {
            pc_config_free(cfg);
            cfg = NULL;
        }
        pc_tls_free(t);
    }
    if (diag.text)
        fputs(diag.text, stderr);
    pc_diag_free(&diag);
    if (test) {
        if (!cfg)
            return 1;
        fputs("configuration OK\n", stderr);
        pc_config_free(cfg);
        return 0;
    }
    if (!cfg)
        return 1;
    pc_worker_app = &pc_proxy_app; /* what the workers run */
    pc_guard_create(cfg);          /* shared by every worker, kept across reloads */
    return pc_master_run(cfg);
}

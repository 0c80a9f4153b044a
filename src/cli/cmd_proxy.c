/* SPDX-License-Identifier: MIT */
/*
 * cmd_proxy.c - `faultline proxy`: a TCP chaos proxy with Toxiproxy 2.x's HTTP control API.
 *
 * parse flags -> choose the seed -> load --config (the /populate body format; any error is a
 * one-line usage error, exit 2, before anything listens) -> start the API -> print the API
 * address and the seed on stdout -> run the loop until SIGINT/SIGTERM -> exit 0. The proxy
 * engine and the API live in src/proxy/; this file only wires them to the command line.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "err.h"
#include "log.h"
#include "prng.h"
#include "proxy.h"
#include "units.h"

static const char proxy_help[] =
    "usage: faultline proxy [options]\n"
    "\n"
    "Run a TCP chaos proxy controlled through Toxiproxy 2.x's HTTP API, so existing Toxiproxy\n"
    "clients work unchanged. Toxics: bandwidth, latency, limit_data, noop, reset_peer, slicer,\n"
    "slow_close, timeout. Runs until SIGINT or SIGTERM.\n"
    "\n"
    "      --host HOST     address of the control API (default 127.0.0.1)\n"
    "      --port PORT     port of the control API (default 8474; 0 picks a free port)\n"
    "      --config FILE   create proxies from FILE, a JSON array as POST /populate takes\n"
    "      --seed N        the seed for toxicity, jitter and slicer draws (default: fresh)\n"
    "  -q, --quiet         no notices\n"
    "  -v, --verbose       more detail\n"
    "\n"
    "The API address and the seed are printed on stdout. The API has no authentication:\n"
    "keep it on loopback.\n"
    "\n"
    "Where Toxiproxy is known to be wrong, this proxy differs: a half-close (shutdown) is\n"
    "passed on instead of closing both sides; attribute values that crash or hang Toxiproxy\n"
    "(bandwidth rate <= 0, slicer average_size 0, negative numbers) are refused with 400;\n"
    "reset_peer sends an RST on any connection it applies to, and never with toxicity 0.\n";

enum { OPT_HOST = 0x100, OPT_PORT, OPT_CONFIG, OPT_SEED };

static const struct option proxy_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"seed", required_argument, NULL, OPT_SEED},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static bool is_loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

int cmd_proxy(int argc, char **argv)
{
    const char *host = "127.0.0.1", *config = NULL;
    uint64_t port = 8474, seed = 0;
    bool seed_given = false;
    struct fl_err err = {""};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+qvh", proxy_options, NULL)) != -1) {
        switch (opt) {
        case OPT_HOST:
            if (!optarg[0])
                return fl_usage_error("--host must not be empty");
            host = optarg;
            break;
        case OPT_PORT:
            if (fl_parse_u64(optarg, &port, &err) < 0 || port > 65535)
                return fl_usage_error("--port '%s': expected a port number 0-65535", optarg);
            break;
        case OPT_CONFIG:
            config = optarg;
            break;
        case OPT_SEED:
            if (fl_parse_u64(optarg, &seed, &err) < 0)
                return fl_usage_error("--seed '%s': expected an unsigned integer", optarg);
            seed_given = true;
            break;
        case 'h':
            fl_print_help(proxy_help);
            return FL_EXIT_OK;
        case '?':
            return fl_usage_error("proxy: unknown or incomplete option '%s' (try 'faultline "
                                  "help proxy')", argv[optind - 1]);
        default:
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("proxy: unexpected option");
        }
    }
    if (optind < argc)
        return fl_usage_error("proxy: unexpected argument '%s'", argv[optind]);
    if (!seed_given)
        seed = fl_seed_from_entropy();
    if (!is_loopback(host))
        fl_warnf("the control API on %s is reachable beyond this machine and has no "
                 "authentication", host);

    /* A peer that vanishes makes the next write fail with EPIPE; libuv writes with write(2),
     * so without this the whole proxy would die of SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* Two descriptors per connection: take the hard limit, as Go programs (Toxiproxy) do. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct fl_server *srv = fl_server_new(seed);
    if (!srv) {
        fl_errorf("proxy: cannot create the event loop");
        return FL_EXIT_NORESOURCE;
    }
    if (config && fl_api_load_config(srv, config, &err) < 0) {
        fl_server_free(srv);
        return fl_usage_error("%s", err.msg);
    }
    int bound = 0;
    struct fl_api *api = fl_api_start(srv, host, (int)port, &bound, &err);
    if (!api) {
        fl_server_free(srv);
        fl_errorf("proxy: %s", err.msg);
        return FL_EXIT_NORESOURCE;
    }
    bool v6 = strchr(host, ':') != NULL;
    printf("faultline proxy: API listening on %s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "",
           bound);
    printf("faultline proxy: seed %" PRIu64 "\n", seed);
    fflush(stdout);
    int rc = fl_server_run(srv);
    fl_api_free(api);
    fl_server_free(srv);
    return rc == 0 ? FL_EXIT_OK : FL_EXIT_FAILED;
}

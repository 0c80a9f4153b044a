/* SPDX-License-Identifier: MIT */
/*
 * cmd_proxy.c - `faultline proxy`: a TCP chaos proxy with Toxiproxy 2.x's HTTP control API.
 *
 * parse flags -> choose the seed -> load --config (the /populate body format; any error is a
 * one-line usage error, exit 2, before anything listens) -> start the API -> print the API
 * address and the seed on stdout -> run the loop until SIGINT/SIGTERM -> exit 0. The proxy
 * engine and the API live in src/proxy/; this file only wires them to the command line.
 * `faultline proxy list|create|...` is the client instead (cmd_proxyctl.c): the first word
 * decides, since the server takes no positional argument.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "api.h"
#include "cli.h"
#include "err.h"
#include "log.h"
#include "prng.h"
#include "proxy.h"
#include "units.h"

static const char proxy_help[] =
    "usage: faultline proxy [serve] [options]\n"
    "       faultline proxy list|create|toggle|delete|inspect|toxic ... (a client; see below)\n"
    "\n"
    "Run a TCP chaos proxy controlled through Toxiproxy 2.x's HTTP API, so existing Toxiproxy\n"
    "clients work unchanged. Runs until SIGINT or SIGTERM.\n"
    "\n"
    "      --host HOST     address of the control API (default 127.0.0.1)\n"
    "      --port PORT     port of the control API (default 8474; 0 picks a free port)\n"
    "      --config FILE   create proxies from FILE, a JSON array as POST /populate takes; each\n"
    "                      proxy may also hold \"toxics\": [toxic bodies as POST .../toxics\n"
    "                      takes], created after the proxies (Toxiproxy ignores that key)\n"
    "      --seed N        the seed for toxicity, jitter and slicer draws (default: fresh)\n"
    "      --proxy-metrics    serve /metrics with toxiproxy_proxy_*_bytes_total\n"
    "      --runtime-metrics  serve /metrics with process_* and faultline_* metrics\n"
    "      --busy-poll DUR    after traffic, poll instead of sleeping for DUR (e.g. 200us):\n"
    "                         lower round-trip latency when client and server are on other\n"
    "                         CPUs, at the cost of a busy CPU while traffic flows\n"
    "  -q, --quiet         no notices\n"
    "  -v, --verbose       more detail\n"
    "\n"
    "The API address and the seed are printed on stdout. The API has no authentication:\n"
    "keep it on loopback.\n"
    "\n"
    "Where Toxiproxy is known to be wrong, this proxy differs: a half-close (shutdown) is\n"
    "passed on instead of closing both sides; attribute values that crash or hang Toxiproxy\n"
    "(bandwidth rate <= 0, slicer average_size 0, negative numbers) are refused with 400;\n"
    "reset_peer sends an RST on any connection it applies to, and never with toxicity 0.\n"
    "\n"
    "CLIENT (talks to a running proxy: --api HOST:PORT, $FAULTLINE_PROXY_API, 127.0.0.1:8474)\n"
    "  faultline proxy list\n"
    "  faultline proxy create NAME --listen ADDR --upstream ADDR\n"
    "  faultline proxy toggle NAME          enable a disabled proxy, disable an enabled one\n"
    "  faultline proxy delete NAME\n"
    "  faultline proxy inspect NAME\n"
    "  faultline proxy toxic add NAME --type T [--stream up|down] [--toxicity F] [--name N]\n"
    "                                 [-a KEY=VALUE]...\n"
    "  faultline proxy toxic update NAME TOXIC [-a KEY=VALUE]... [--toxicity F]\n"
    "  faultline proxy toxic remove NAME TOXIC\n"
    "  faultline proxy toxic stats NAME TOXIC   connections and bytes the toxic met so far\n"
    "                                          (faultline's own API: not on Toxiproxy)\n"
    "Each takes --json (print the API's JSON as is). An API error is one line, exit 1;\n"
    "an unreachable API exits 3.\n";

enum {
    OPT_HOST = 0x100,
    OPT_PORT,
    OPT_CONFIG,
    OPT_SEED,
    OPT_PROXY_METRICS,
    OPT_RUNTIME_METRICS,
    OPT_BUSY_POLL,
};

static const struct option proxy_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"seed", required_argument, NULL, OPT_SEED},
    {"proxy-metrics", no_argument, NULL, OPT_PROXY_METRICS},
    {"runtime-metrics", no_argument, NULL, OPT_RUNTIME_METRICS},
    {"busy-poll", required_argument, NULL, OPT_BUSY_POLL},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The toxic kinds this binary serves, from the registry itself (toxic.h). */
static void print_toxic_types(void)
{
    printf("\nTOXICS (-a KEY=VALUE attributes, all integers)\n");
    for (size_t i = 0; i < fl_toxic_count; i++) {
        const struct fl_toxic_ops *ops = fl_toxic_registry[i];
        printf("  %-14s", ops->type);
        for (int a = 0; a < ops->n_attrs; a++)
            printf(" %s", ops->attrs[a].name);
        printf("%s\n", ops->n_attrs ? "" : " (none)");
    }
}

static bool is_loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

/* The client half (cmd_proxyctl.c): NAME is one of its subcommands. */
bool fl_proxyctl_is_command(const char *name);
int fl_proxyctl(int argc, char **argv);

static int proxy_serve(int argc, char **argv);

/* `faultline proxy` alone or with options serves, as before the client existed; a first word
 * is either `serve` or a client subcommand, never a server argument (the server takes none),
 * so the two cannot be confused. */
int cmd_proxy(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return proxy_serve(argc, argv);
    if (!strcmp(argv[1], "serve"))
        return proxy_serve(argc - 1, argv + 1);
    if (fl_proxyctl_is_command(argv[1]))
        return fl_proxyctl(argc - 1, argv + 1);
    return fl_usage_error("proxy: unknown subcommand '%s' (expected serve, list, create, "
                          "toggle, delete, inspect or toxic)", argv[1]);
}

static int proxy_serve(int argc, char **argv)
{
    const char *host = "127.0.0.1", *config = NULL;
    uint64_t port = 8474, seed = 0;
    bool seed_given = false, proxy_metrics = false, runtime_metrics = false;
    int64_t busy_poll_ns = 0;
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
        case OPT_PROXY_METRICS:
            proxy_metrics = true;
            break;
        case OPT_BUSY_POLL:
            if (fl_parse_duration(optarg, false, &busy_poll_ns, &err) < 0 || busy_poll_ns < 0 ||
                busy_poll_ns > 100 * (int64_t)1000000)
                return fl_usage_error("--busy-poll: expected a duration up to 100ms like 200us, "
                                      "got '%s'", optarg);
            break;
        case OPT_RUNTIME_METRICS:
            runtime_metrics = true;
            break;
        case 'h':
            fl_print_help(proxy_help);
            print_toxic_types();
            return FL_EXIT_OK;
        case '?':
            return fl_usage_error("proxy: unknown or incomplete option '%s' (try 'faultline "
                                  "help proxy')", argv[optind - 1]);
        default:
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("proxy: unexpected option");
        }
    }
    if (optind < argc && fl_proxyctl_is_command(argv[optind]))
        return fl_usage_error("proxy: options go after the subcommand ('faultline proxy %s "
                              "[options]')", argv[optind]);
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
    if (busy_poll_ns)
        fl_server_set_busy_poll(srv, (uint64_t)busy_poll_ns);
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
    fl_api_set_metrics(api, proxy_metrics, runtime_metrics);
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

/* SPDX-License-Identifier: MIT */
/*
 * cmd_load.c - `faultline load`: drive HTTP or raw TCP requests at a fixed rate and
 * concurrency for a while, then print what happened (requests, achieved rate, errors by kind,
 * latency percentiles), or the `load` object of docs/results-format.md with --json.
 *
 * The flags become the same JSON spec an experiment's `load:` holds, checked and run by
 * src/run/load.c, so the command and experiments cannot disagree. SIGINT or SIGTERM ends the
 * run early and still prints the report.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "clock.h"
#include "cli.h"
#include "err.h"
#include "load.h"
#include "log.h"
#include "units.h"

#define MAX_DURATION_NS (24 * 3600 * FL_NS_PER_SEC)

static const char load_help[] =
    "usage: faultline load URL|HOST:PORT [options]\n"
    "\n"
    "Send requests at a fixed rate over a fixed number of keep-alive connections and report\n"
    "requests, the rate achieved, errors by kind and latency percentiles. URL (http://...)\n"
    "makes HTTP/1.1 requests; HOST:PORT sends raw TCP bytes (--send) and checks the reply.\n"
    "\n"
    "      --rate N          requests per second, scheduled open-loop (default 10; at most\n"
    "                        1000000); 0 = closed loop, as fast as the connections allow\n"
    "  -c, --concurrency N   connections (default 1; at most 10000)\n"
    "  -d, --duration D      how long to run (default 10s; at most 24h)\n"
    "      --timeout D       per request, from its scheduled time (default 1s)\n"
    "      --queue N         requests that may wait for a free connection (default 10000);\n"
    "                        beyond, they are dropped and counted as 'overload'\n"
    "  -X, --method M        HTTP method (default GET)\n"
    "  -H, --header 'K: V'   an HTTP header (repeatable)\n"
    "      --body S          the HTTP request body\n"
    "      --send S          TCP: the bytes to send per request (\\r \\n \\t \\\\ \\xHH "
    "understood)\n"
    "      --expect S        TCP: the reply must start with S (same escapes); without it any\n"
    "                        reply counts\n"
    "      --json            print the report as JSON\n"
    "  -q, --quiet           no notices\n"
    "\n"
    "Latency is measured from each request's scheduled time, so time spent waiting behind a\n"
    "slow server counts. Errors: refused, connect, timeout, reset, closed (before the response\n"
    "was complete), bad_response, http_5xx, http_429, mismatch (TCP), overload.\n"
    "Exit status: 0 when the load ran (whatever the errors), 2 on a usage error, 3 when the\n"
    "target cannot be resolved.\n";

enum { OPT_RATE = 0x100, OPT_TIMEOUT, OPT_QUEUE, OPT_BODY, OPT_SEND, OPT_EXPECT, OPT_JSON };

static const struct option load_options[] = {
    {"rate", required_argument, NULL, OPT_RATE},
    {"concurrency", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'd'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"method", required_argument, NULL, 'X'},
    {"header", required_argument, NULL, 'H'},
    {"body", required_argument, NULL, OPT_BODY},
    {"send", required_argument, NULL, OPT_SEND},
    {"expect", required_argument, NULL, OPT_EXPECT},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* C-style escapes, so binary and CRLF-terminated protocols can be typed; returns a JSON
 * string (it may hold NULs) or NULL on a bad escape. */
static json_t *unescape(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        char e = s[++i];
        if (e == 'r' || e == 'n' || e == 't' || e == '0' || e == '\\') {
            out[o++] = e == 'r' ? '\r' : e == 'n' ? '\n' : e == 't' ? '\t' : e == '0' ? 0 : '\\';
        } else if (e == 'x' && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            free(out);
            return NULL;
        }
    }
    json_t *j = json_stringn_nocheck(out, o);
    free(out);
    return j;
}

static int set_number(json_t *spec, const char *key, const char *flag, const char *v,
                      double max)
{
    char *end;
    double d = strtod(v, &end);
    if (!v[0] || *end || d < 0 || d > max || d != d)
        return fl_usage_error("%s '%s': expected a number from 0 to %g", flag, v, max);
    json_object_set_new(spec, key, json_real(d));
    return 0;
}

static void print_report(const json_t *r)
{
    json_t *lat = json_object_get(r, "latency_ms");
    double rate = json_number_value(json_object_get(r, "rate"));
    char d[32];
    printf("load %s %s: ", json_string_value(json_object_get(r, "kind")),
           json_string_value(json_object_get(r, "target")));
    if (rate > 0)
        printf("rate %g/s", rate);
    else
        printf("closed loop");
    printf(", concurrency %" JSON_INTEGER_FORMAT ", %s\n",
           json_integer_value(json_object_get(r, "concurrency")),
           fl_format_duration(json_integer_value(json_object_get(r, "duration_ms")) * 1000000,
                              d, sizeof(d)));
    json_int_t req = json_integer_value(json_object_get(r, "requests"));
    json_int_t errs = json_integer_value(json_object_get(r, "errors"));
    printf("requests  %" JSON_INTEGER_FORMAT " (%.1f/s achieved), ok %" JSON_INTEGER_FORMAT
           ", errors %" JSON_INTEGER_FORMAT " (%.2f%%)", req,
           json_number_value(json_object_get(r, "achieved_rate")),
           json_integer_value(json_object_get(r, "ok")), errs,
           req ? 100.0 * (double)errs / (double)req : 0.0);
    json_int_t unf = json_integer_value(json_object_get(r, "unfinished"));
    if (unf)
        printf(", %" JSON_INTEGER_FORMAT " unfinished at the end", unf);
    printf("\n");
    if (errs) {
        printf("errors   ");
        const char *k;
        json_t *v;
        const char *sep = " ";
        json_object_foreach(json_object_get(r, "errors_by_kind"), k, v) {
            if (json_integer_value(v)) {
                printf("%s%s %" JSON_INTEGER_FORMAT, sep, k, json_integer_value(v));
                sep = ", ";
            }
        }
        printf("\n");
    }
    if (json_is_null(json_object_get(lat, "p50"))) {
        printf("latency   no responses\n");
        return;
    }
    printf("latency   p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           json_number_value(json_object_get(lat, "p50")),
           json_number_value(json_object_get(lat, "p90")),
           json_number_value(json_object_get(lat, "p99")),
           json_number_value(json_object_get(lat, "max")));
}

static int load_run(json_t *spec, int64_t duration_ns, bool as_json)
{
    struct fl_err err = {""};
    if (fl_load_check(NULL, spec, &err) < 0)
        return fl_usage_error("%s", err.msg);
    /* Many connections need many descriptors: take the hard limit, as the proxy does. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Wait for the end or a signal with sigtimedwait: block them first (the load thread
     * inherits the mask and blocks everything anyway). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int64_t t0 = fl_mono_ns();
    struct fl_load *load;
    int rc = fl_load_start(spec, t0, &load, &err);
    if (rc < 0) {
        fl_errorf("%s", err.msg);
        return rc == -EINVAL ? FL_EXIT_USAGE : FL_EXIT_NORESOURCE;
    }
    struct timespec wait = {duration_ns / FL_NS_PER_SEC, duration_ns % FL_NS_PER_SEC};
    int sig = sigtimedwait(&set, NULL, &wait);
    if (sig > 0)
        fl_noticef("load: stopped early by %s", strsignal(sig));
    json_t *r = fl_load_stop(load);
    if (!r) {
        fl_errorf("load: out of memory for the report");
        return FL_EXIT_NORESOURCE;
    }
    if (as_json) {
        json_dumpf(r, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        printf("\n");
    } else {
        print_report(r);
    }
    json_decref(r);
    return FL_EXIT_OK;
}

int cmd_load(int argc, char **argv)
{
    json_t *spec = json_object(), *headers = json_object();
    int64_t duration_ns = 10 * FL_NS_PER_SEC;
    bool as_json = false;
    struct fl_err err = {""};
    int opt, rc = 0;
    const char *send = NULL, *expect = NULL;
    optind = 1;
    opterr = 0;
    while (!rc && (opt = getopt_long(argc, argv, "c:d:X:H:qvh", load_options, NULL)) != -1) {
        switch (opt) {
        case OPT_RATE:
            rc = set_number(spec, "rate", "--rate", optarg, 1000000);
            break;
        case 'c':
            rc = set_number(spec, "concurrency", "--concurrency", optarg, 10000);
            if (!rc && json_real_value(json_object_get(spec, "concurrency")) < 1)
                rc = fl_usage_error("--concurrency '%s': at least 1", optarg);
            break;
        case OPT_QUEUE:
            rc = set_number(spec, "queue", "--queue", optarg, 1000000);
            break;
        case 'd':
            if (fl_parse_duration(optarg, false, &duration_ns, &err) < 0 || duration_ns <= 0 ||
                duration_ns > MAX_DURATION_NS)
                rc = fl_usage_error("--duration '%s': expected a duration like 10s or 2m, "
                                    "above 0 and at most 24h", optarg);
            break;
        case OPT_TIMEOUT:
            json_object_set_new(spec, "timeout", json_string(optarg));
            break;
        case 'X':
            json_object_set_new(spec, "method", json_string(optarg));
            break;
        case 'H': {
            const char *colon = strchr(optarg, ':');
            if (!colon || colon == optarg) {
                rc = fl_usage_error("--header '%s': expected 'Name: value'", optarg);
                break;
            }
            char name[256];
            size_t nn = (size_t)(colon - optarg);
            if (nn >= sizeof(name)) {
                rc = fl_usage_error("--header: the name is longer than 255 bytes");
                break;
            }
            memcpy(name, optarg, nn);
            name[nn] = '\0';
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            json_object_set_new(headers, name, json_string(v));
            break;
        }
        case OPT_BODY:
            json_object_set_new(spec, "body", json_string(optarg));
            break;
        case OPT_SEND:
            send = optarg;
            break;
        case OPT_EXPECT:
            expect = optarg;
            break;
        case OPT_JSON:
            as_json = true;
            break;
        case 'h':
            fl_print_help(load_help);
            json_decref(spec);
            json_decref(headers);
            return FL_EXIT_OK;
        case '?':
            rc = fl_usage_error("load: unknown or incomplete option '%s' (try 'faultline help "
                                "load')", argv[optind - 1]);
            break;
        default:
            if (!fl_common_option(opt, optarg))
                rc = fl_usage_error("load: unexpected option");
        }
    }
    if (!rc && optind >= argc)
        rc = fl_usage_error("load: give a target: http://HOST:PORT/PATH or HOST:PORT");
    if (!rc && optind + 1 < argc)
        rc = fl_usage_error("load: unexpected argument '%s'", argv[optind + 1]);
    if (!rc) {
        const char *target = argv[optind];
        bool http = strstr(target, "://") != NULL;
        json_object_set_new(spec, http ? "http" : "tcp", json_string(target));
        if (json_object_size(headers))
            json_object_set(spec, "headers", headers);
        if (!http && !send)
            rc = fl_usage_error("load: a HOST:PORT target needs --send (the request bytes)");
        if (http && (send || expect))
            rc = fl_usage_error("load: --send and --expect are for HOST:PORT targets");
        const char *strs[2][2] = {{"send", send}, {"expect", expect}};
        for (int i = 0; i < 2 && !rc; i++) {
            if (!strs[i][1])
                continue;
            json_t *j = unescape(strs[i][1]);
            if (!j)
                rc = fl_usage_error("--%s '%s': bad escape (\\r \\n \\t \\0 \\\\ \\xHH)",
                                    strs[i][0], strs[i][1]);
            else
                json_object_set_new(spec, strs[i][0], j);
        }
        if (!json_object_get(spec, "rate") && !rc)
            json_object_set_new(spec, "rate", json_real(10));
    }
    json_decref(headers);
    if (!rc)
        rc = load_run(spec, duration_ns, as_json);
    json_decref(spec);
    return rc;
}

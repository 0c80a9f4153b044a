/* SPDX-License-Identifier: MIT */
/* metrics.c - figures from samples; the definitions are in metrics.h. */
#include "metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct event {
    int64_t t;
    double latency;
    unsigned probe;
    bool ok;
};

static int by_time(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->probe < y->probe ? -1 : x->probe > y->probe;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static bool in_fault(const json_t *faults, int64_t t, int64_t to_ms)
{
    size_t i;
    json_t *f;
    json_array_foreach(faults, i, f) {
        json_t *end = json_object_get(f, "end_ms");
        int64_t s = json_integer_value(json_object_get(f, "start_ms"));
        int64_t e = json_is_integer(end) ? json_integer_value(end) : to_ms;
        /* an instant fault (a kill) has no window to be available in */
        if (e > s && t >= s && t <= e)
            return true;
    }
    return false;
}

void fl_metrics_compute(json_t *exp, unsigned recovered_after, int64_t from_ms, int64_t to_ms,
                        int64_t failover_from_ms)
{
    json_t *series = json_object_get(exp, "series");
    json_t *faults = json_object_get(exp, "faults");
    json_t *load = json_object_get(exp, "load");
    size_t total = 0, i, j;
    json_t *s, *x;
    json_array_foreach(series, i, s)
        total += json_array_size(json_object_get(s, "samples"));
    struct event *ev = total ? calloc(total, sizeof(*ev)) : NULL;
    size_t n = 0;
    json_array_foreach(series, i, s) {
        json_array_foreach(json_object_get(s, "samples"), j, x) {
            int64_t t = json_integer_value(json_object_get(x, "t_ms"));
            if (!ev || t < from_ms || t > to_ms)
                continue;
            ev[n++] = (struct event){t, json_number_value(json_object_get(x, "latency_ms")),
                                     (unsigned)i, json_is_true(json_object_get(x, "ok"))};
        }
    }
    if (n)
        qsort(ev, n, sizeof(*ev), by_time);

    int64_t first_fault = -1, last_fault_end = -1;
    json_array_foreach(faults, i, x) {
        int64_t st = json_integer_value(json_object_get(x, "start_ms"));
        json_t *end = json_object_get(x, "end_ms");
        int64_t en = json_is_integer(end) ? json_integer_value(end) : to_ms;
        /* damage kept until rollback happened at once, as a crash does: recovery is the
         * system's own work from that moment */
        if (json_is_true(json_object_get(x, "persistent")))
            en = st;
        if (first_fault < 0 || st < first_fault)
            first_fault = st;
        if (en > last_fault_end)
            last_fault_end = en;
    }

    /* the service's state after each sample: good only if every probe's latest is good */
    size_t n_probes = json_array_size(series);
    bool *probe_ok = calloc(n_probes ? n_probes : 1, sizeof(bool));
    for (size_t p = 0; p < n_probes; p++)
        probe_ok[p] = true;
    size_t good = 0, in_f = 0, in_f_good = 0, bad_states = 0;
    ssize_t last_bad = -1;
    int64_t detect = -1, downtime = 0, bad_since = -1, failover_fail = -1, failover_ok = -1;
    for (size_t k = 0; k < n; k++) {
        probe_ok[ev[k].probe] = ev[k].ok;
        bool state = true;
        for (size_t p = 0; p < n_probes; p++)
            state = state && probe_ok[p];
        good += ev[k].ok;
        if (in_fault(faults, ev[k].t, to_ms)) {
            in_f++;
            in_f_good += ev[k].ok;
        }
        if (!ev[k].ok && first_fault >= 0 && ev[k].t >= first_fault && detect < 0)
            detect = ev[k].t - first_fault;
        if (!state) {
            bad_states++;
            last_bad = (ssize_t)k;
            if (bad_since < 0)
                bad_since = ev[k].t;
        } else if (bad_since >= 0) {
            downtime += ev[k].t - bad_since;
            bad_since = -1;
        }
        if (failover_from_ms >= 0 && ev[k].t >= failover_from_ms) {
            if (!state && failover_fail < 0)
                failover_fail = ev[k].t;
            else if (state && failover_fail >= 0 && failover_ok < 0)
                failover_ok = ev[k].t;
        }
    }
    if (bad_since >= 0)
        downtime += to_ms - bad_since;

    json_t *m = json_object();
    json_object_set_new(m, "availability", n ? json_real((double)good / (double)n) : json_null());
    json_object_set_new(m, "availability_during_faults",
                        in_f ? json_real((double)in_f_good / (double)in_f) : json_null());
    json_object_set_new(m, "samples", json_integer((json_int_t)n));
    json_object_set_new(m, "failed_samples", json_integer((json_int_t)(n - good)));
    json_object_set_new(m, "error_rate", json_is_object(load)
                                             ? json_copy(json_object_get(load, "error_rate"))
                                             : json_null());
    json_object_set_new(m, "time_to_detect_ms", detect >= 0 ? json_integer(detect) : json_null());
    json_t *ttr = json_null();
    if (bad_states > 0) {
        size_t after = n - (size_t)last_bad - 1;
        if (after < recovered_after || after == 0) {
            ttr = json_integer(-1); /* never recovered while observed */
        } else {
            int64_t back = ev[last_bad + 1].t;
            int64_t from = last_fault_end >= 0 ? last_fault_end : back;
            ttr = json_integer(back > from ? back - from : 0);
        }
    }
    json_object_set_new(m, "time_to_recover_ms", ttr);
    json_object_set_new(m, "recovered", json_boolean(!json_is_integer(ttr) ||
                                                     json_integer_value(ttr) >= 0));
    json_object_set_new(m, "downtime_ms", n ? json_integer(downtime) : json_null());
    json_object_set_new(m, "failover_ms", failover_fail >= 0 && failover_ok >= 0
                                              ? json_integer(failover_ok - failover_from_ms)
                                              : json_null());

    /* latency: the load generator's when there is load, else the probes' */
    json_t *ll = json_is_object(load) ? json_object_get(load, "latency_ms") : NULL;
    static const char *const pct_names[] = {"p50", "p90", "p99"};
    static const double pcts[] = {0.50, 0.90, 0.99};
    double *lat = n ? malloc(n * sizeof(double)) : NULL;
    for (size_t k = 0; lat && k < n; k++)
        lat[k] = ev[k].latency;
    if (lat)
        qsort(lat, n, sizeof(double), by_double);
    for (size_t p = 0; p < 3; p++) {
        char key[32];
        snprintf(key, sizeof(key), "latency_%s_ms", pct_names[p]);
        json_t *v = json_object_get(ll, pct_names[p]);
        if (v)
            json_object_set_new(m, key, json_copy(v));
        else
            json_object_set_new(m, key, n ? json_real(percentile(lat, n, pcts[p])) : json_null());
    }
    free(lat);
    free(probe_ok);
    free(ev);
    json_object_set_new(exp, "metrics", m);
}

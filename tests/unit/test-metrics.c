/* SPDX-License-Identifier: MIT */
/* test-metrics.c - availability, time to detect and recover, downtime, from samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* A probe sampled every step ms from 0 to end; failing when fail_from <= t < fail_to. */
static json_t *series(int step, int end, int fail_from, int fail_to)
{
    json_t *samples = json_array();
    for (int t = 0; t <= end; t += step)
        json_array_append_new(samples, json_pack("{s:i, s:b, s:f}", "t_ms", t, "ok",
                                                 !(t >= fail_from && t < fail_to),
                                                 "latency_ms", 1.0 + (t % 7)));
    return json_pack("{s:s, s:o}", "probe", "p", "samples", samples);
}

static json_t *experiment(json_t *series_list, int fault_start, int fault_end)
{
    json_t *faults = json_array();
    if (fault_start >= 0)
        json_array_append_new(faults, json_pack("{s:i, s:i}", "start_ms", fault_start,
                                                "end_ms", fault_end));
    return json_pack("{s:o, s:o, s:n}", "series", series_list, "faults", faults, "load");
}

static json_int_t metric_int(json_t *e, const char *k)
{
    return json_integer_value(json_object_get(json_object_get(e, "metrics"), k));
}

static double metric_real(json_t *e, const char *k)
{
    return json_number_value(json_object_get(json_object_get(e, "metrics"), k));
}

static void test_outage_is_measured(void **state)
{
    /* a 300 ms outage starting 100 ms into a 1 s fault window, sampled every 10 ms */
    json_t *e = experiment(json_pack("[o]", series(10, 5000, 1100, 1400)), 1000, 2000);
    fl_metrics_compute(e, 3, 0, 5000, -1);
    assert_int_equal(metric_int(e, "time_to_detect_ms"), 100);
    assert_int_equal(metric_int(e, "downtime_ms"), 300);
    /* recovered (at 1400) before the fault ended (2000): 0 */
    assert_int_equal(metric_int(e, "time_to_recover_ms"), 0);
    assert_int_equal(metric_int(e, "failed_samples"), 30);
    assert_true(metric_real(e, "availability") < 1.0);
    assert_true(metric_real(e, "availability_during_faults") > 0.69 &&
                metric_real(e, "availability_during_faults") < 0.71);
    json_decref(e);
}

static void test_recovery_after_the_fault(void **state)
{
    json_t *e = experiment(json_pack("[o]", series(100, 6000, 1100, 2500)), 1000, 2000);
    fl_metrics_compute(e, 3, 0, 6000, -1);
    assert_int_equal(metric_int(e, "time_to_detect_ms"), 100);
    assert_int_equal(metric_int(e, "time_to_recover_ms"), 500);
    assert_true(json_is_true(json_object_get(json_object_get(e, "metrics"), "recovered")));
    json_decref(e);
}

static void test_never_recovered_and_nothing_failed(void **state)
{
    json_t *e = experiment(json_pack("[o]", series(100, 3000, 1100, 99999)), 1000, 2000);
    fl_metrics_compute(e, 3, 0, 3000, -1);
    assert_int_equal(metric_int(e, "time_to_recover_ms"), -1);
    assert_true(json_is_false(json_object_get(json_object_get(e, "metrics"), "recovered")));
    json_decref(e);
    e = experiment(json_pack("[o]", series(100, 3000, -1, -1)), 1000, 2000);
    fl_metrics_compute(e, 3, 0, 3000, -1);
    assert_true(json_is_null(json_object_get(json_object_get(e, "metrics"),
                                             "time_to_recover_ms")));
    assert_true(json_is_null(json_object_get(json_object_get(e, "metrics"),
                                             "time_to_detect_ms")));
    assert_true(metric_real(e, "availability") == 1.0);
    json_decref(e);
}

static void test_two_probes_merge(void **state)
{
    /* one probe fails 1000..1500, the other 1400..2200: down from 1000 to 2200 */
    json_t *e = experiment(json_pack("[o, o]", series(100, 5000, 1000, 1500),
                                     series(100, 5000, 1400, 2200)),
                           900, 1200);
    fl_metrics_compute(e, 2, 0, 5000, -1);
    assert_int_equal(metric_int(e, "downtime_ms"), 1200);
    assert_int_equal(metric_int(e, "time_to_recover_ms"), 1000);
    json_decref(e);
}

static void test_failover(void **state)
{
    json_t *e = experiment(json_pack("[o]", series(50, 4000, 1200, 1750)), 1000, 3000);
    fl_metrics_compute(e, 3, 0, 4000, 1000);
    assert_int_equal(metric_int(e, "failover_ms"), 750);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outage_is_measured),
        cmocka_unit_test(test_recovery_after_the_fault),
        cmocka_unit_test(test_never_recovered_and_nothing_failed),
        cmocka_unit_test(test_two_probes_merge),
        cmocka_unit_test(test_failover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

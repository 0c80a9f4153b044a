/* SPDX-License-Identifier: MIT */
/* experiment.c - load, check and compile an experiment file; see experiment.h and
 * docs/experiments.md. */
#include "experiment.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "load.h"
#include "units.h"

struct ctx {
    struct fl_experiment *e;
    const struct fl_doc *doc;
    struct fl_err *err;
};

/* Refuse keys that are not in allowed (NULL-terminated); extra is a second list or NULL. */
static int check_keys(struct ctx *c, const json_t *obj, const char *what,
                      const char *const *allowed, const char *const *extra)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, key);
        for (const char *const *a = extra; a && *a && !ok; a++)
            ok = !strcmp(*a, key);
        if (ok)
            continue;
        char list[512] = "";
        for (const char *const *a = allowed; *a; a++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     a == allowed ? "" : ", ", *a);
        return fl_doc_error(c->doc, obj, key, c->err, "unknown key '%s' in %s (expected: %s)",
                            key, what, list);
    }
    return 0;
}

static int get_string(struct ctx *c, const json_t *obj, const char *key, bool required,
                      const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            return fl_doc_error(c->doc, obj, NULL, c->err, "'%s' is required here", key);
        return 0;
    }
    if (!json_is_string(v) || !*json_string_value(v))
        return fl_doc_error(c->doc, obj, key, c->err, "'%s' must be a non-empty string", key);
    *out = json_string_value(v);
    return 0;
}

static int get_bool(struct ctx *c, const json_t *obj, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return fl_doc_error(c->doc, obj, key, c->err, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* A duration: "250ms", "5s" (a bare number is refused: units make files readable). */
static int get_duration(struct ctx *c, const json_t *obj, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    struct fl_err e;
    if (!json_is_string(v) || fl_parse_duration(json_string_value(v), false, out, &e) < 0 ||
        *out < 0)
        return fl_doc_error(c->doc, obj, key, c->err,
                            "'%s' must be a duration like 200ms, 5s or 2m", key);
    return 0;
}

static int get_uint(struct ctx *c, const json_t *obj, const char *key, json_int_t max,
                    json_int_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return fl_doc_error(c->doc, obj, key, c->err, "'%s' must be an integer 0..%lld", key,
                            (long long)max);
    *out = json_integer_value(v);
    return 0;
}

/* ---- probes ---- */

static int parse_probe(struct ctx *c, const json_t *spec, struct fl_probe_inst *p,
                       bool continuous)
{
    memset(p, 0, sizeof(*p));
    const struct fl_probe_ops *ops = fl_probe_select(c->doc, spec, c->err);
    if (!ops)
        return -EINVAL;
    p->ops = ops;
    p->timeout_ns = 1000000000;
    int rc;
    if ((rc = get_duration(c, spec, "timeout", &p->timeout_ns)) < 0)
        return rc;
    if (p->timeout_ns <= 0)
        return fl_doc_error(c->doc, spec, "timeout", c->err, "'timeout' must be above 0");
    if ((rc = get_duration(c, spec, "every", &p->every_ns)) < 0)
        return rc;
    if (continuous && !json_object_get(spec, "every"))
        p->every_ns = 100000000; /* 10 Hz: fine enough for recovery times of a second */
    if (!continuous && json_object_get(spec, "every"))
        return fl_doc_error(c->doc, spec, "every", c->err,
                            "'every' is only for continuous probes (under 'probes:')");
    if (continuous && p->every_ns < 1000000)
        return fl_doc_error(c->doc, spec, "every", c->err,
                            "'every' must be at least 1ms (1000 samples a second)");
    const char *expect = NULL;
    if ((rc = get_string(c, spec, "expect", false, &expect)) < 0)
        return rc;
    if (expect && strcmp(expect, "ok") != 0 && strcmp(expect, "fail") != 0)
        return fl_doc_error(c->doc, spec, "expect", c->err, "'expect' must be ok or fail");
    p->expect_fail = expect && !strcmp(expect, "fail");
    if ((rc = ops->parse(c->doc, spec, &p->state, c->err)) < 0)
        return rc;
    const char *name = NULL;
    if ((rc = get_string(c, spec, "name", false, &name)) < 0)
        return rc;
    if (name)
        snprintf(p->name, sizeof(p->name), "%s", name);
    else if (ops->describe)
        ops->describe(p->state, p->name, sizeof(p->name));
    else
        snprintf(p->name, sizeof(p->name), "%s", ops->name);
    return 0;
}

static void free_probe(struct fl_probe_inst *p)
{
    if (p->ops && p->ops->free && p->state)
        p->ops->free(p->state);
    p->state = NULL;
}

static int parse_probe_list(struct ctx *c, const json_t *root, const char *key,
                            struct fl_probe_inst *out, size_t *n, bool continuous)
{
    json_t *list = json_object_get(root, key);
    if (!list)
        return 0;
    if (!json_is_array(list))
        return fl_doc_error(c->doc, root, key, c->err, "'%s' must be a list of probes", key);
    if (json_array_size(list) > FL_EXP_MAX_PROBES)
        return fl_doc_error(c->doc, root, key, c->err, "'%s' has more than %d probes", key,
                            FL_EXP_MAX_PROBES);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        int rc = parse_probe(c, v, &out[*n], continuous);
        if (rc < 0) {
            free_probe(&out[*n]); /* not counted yet, so the experiment would not free it */
            return rc;
        }
        (*n)++;
    }
    return 0;
}

/* ---- steps ---- */

static const char *const step_common[] = {"name", "for", "failover", "until", "may_not_fire",
                                          NULL};

static int parse_fault_step(struct ctx *c, const json_t *spec, struct fl_step *s)
{
    const char *kind = json_string_value(json_object_get(spec, "fault"));
    const struct fl_fault_ops *ops = kind ? fl_fault_find(kind) : NULL;
    if (!ops || !strcmp(kind, "preload")) {
        char list[256] = "";
        for (size_t i = 0; i < fl_fault_kind_count; i++)
            if (strcmp(fl_fault_kinds[i]->name, "preload") != 0)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         *list ? ", " : "", fl_fault_kinds[i]->name);
        return fl_doc_error(c->doc, spec, "fault", c->err,
                            "'fault' must be a fault kind (%s); preload rules go in "
                            "target.rules and 'rules' steps", list);
    }
    s->type = FL_STEP_FAULT;
    s->kind = ops->name;
    char why[256] = "";
    if (ops->supported && ops->supported(why, sizeof(why)) < 0 && !c->e->skip_reason[0])
        snprintf(c->e->skip_reason, sizeof(c->e->skip_reason), "fault kind %s: %s", kind, why);
    /* Everything but the step's own keys is the kind's params, exactly as the CLI builds
     * them; the kind checks them when it is applied. */
    s->params = json_deep_copy(spec);
    json_object_del(s->params, "fault");
    for (const char *const *k = step_common; *k; k++)
        json_object_del(s->params, *k);
    const char *target = json_string_value(json_object_get(spec, "path"));
    snprintf(s->label, sizeof(s->label), "%s%s%s", kind, target ? " " : "",
             target ? target : "");
    return 0;
}

static int parse_step(struct ctx *c, const json_t *spec, struct fl_step *s, bool in_pool);
static void free_step(struct fl_step *s);

static int parse_monkey(struct ctx *c, const json_t *spec, struct fl_step *s)
{
    /* - monkey: {pool: [steps], every: 2s, hold: 500ms}
     *   for: 30s */
    static const char *const keys[] = {"monkey", NULL};
    static const char *const mkeys[] = {"pool", "every", "hold", NULL};
    int rc = check_keys(c, spec, "a monkey step", keys, step_common);
    if (rc < 0)
        return rc;
    json_t *m = json_object_get(spec, "monkey");
    if (!json_is_object(m))
        return fl_doc_error(c->doc, spec, "monkey", c->err,
                            "'monkey' must be a mapping with pool, every and hold");
    if ((rc = check_keys(c, m, "monkey", mkeys, NULL)) < 0)
        return rc;
    s->type = FL_STEP_MONKEY;
    json_t *pool = json_object_get(m, "pool");
    if (!json_is_array(pool) || json_array_size(pool) == 0 || json_array_size(pool) > 32)
        return fl_doc_error(c->doc, m, "pool", c->err,
                            "'pool' must be a list of 1..32 fault or target steps");
    s->pool = calloc(json_array_size(pool), sizeof(*s->pool));
    if (!s->pool)
        return fl_err_set(c->err, ENOMEM, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(pool, i, v) {
        if ((rc = parse_step(c, v, &s->pool[i], true)) < 0) {
            free_step(&s->pool[i]);
            return rc;
        }
        s->n_pool++;
    }
    s->every_ns = 1000000000;
    s->hold_ns = 500000000;
    if ((rc = get_duration(c, m, "every", &s->every_ns)) < 0 ||
        (rc = get_duration(c, m, "hold", &s->hold_ns)) < 0)
        return rc;
    if (!json_object_get(spec, "for"))
        return fl_doc_error(c->doc, spec, NULL, c->err, "a monkey step needs 'for' (how long)");
    if (s->every_ns < 10000000)
        return fl_doc_error(c->doc, m, "every", c->err, "'every' must be at least 10ms");
    snprintf(s->label, sizeof(s->label), "monkey: %zu kinds of fault every ~%lldms", s->n_pool,
             (long long)(s->every_ns / 1000000));
    return 0;
}

static int parse_step(struct ctx *c, const json_t *spec, struct fl_step *s, bool in_pool)
{
    memset(s, 0, sizeof(*s));
    s->node = spec;
    static const char *const types[] = {"fault", "rules", "toxic", "pause", "wait", "target",
                                        "monkey", NULL};
    if (!json_is_object(spec))
        return fl_doc_error(c->doc, spec, NULL, c->err,
                            "a step must be a mapping with one of: fault, rules, toxic, pause, "
                            "wait, target, monkey");
    const char *type = NULL;
    for (const char *const *t = types; *t; t++) {
        if (!json_object_get(spec, *t))
            continue;
        if (type)
            return fl_doc_error(c->doc, spec, *t, c->err,
                                "a step does one thing: found both '%s' and '%s'", type, *t);
        type = *t;
    }
    if (!type)
        return fl_doc_error(c->doc, spec, NULL, c->err, "a step needs one of: fault, rules, "
                                                        "toxic, pause, wait, target, monkey");
    if (in_pool && strcmp(type, "fault") != 0 && strcmp(type, "target") != 0)
        return fl_doc_error(c->doc, spec, type, c->err,
                            "a monkey's pool holds fault and target steps, not '%s'", type);
    int rc;
    if ((rc = get_duration(c, spec, "for", &s->for_ns)) < 0 ||
        (rc = get_bool(c, spec, "failover", &s->failover)) < 0 ||
        (rc = get_bool(c, spec, "may_not_fire", &s->may_not_fire)) < 0)
        return rc;
    if (json_object_get(spec, "may_not_fire") &&
        (!strcmp(type, "pause") || !strcmp(type, "wait") ||
         (!strcmp(type, "rules") &&
          strcmp(json_string_value(json_object_get(spec, "rules")) ?: "", "on") != 0)))
        return fl_doc_error(c->doc, spec, "may_not_fire", c->err,
                            "'may_not_fire' is for steps that inject (fault, rules: on, toxic, "
                            "target, monkey)");
    const char *name = NULL, *until = NULL;
    if ((rc = get_string(c, spec, "name", false, &name)) < 0 ||
        (rc = get_string(c, spec, "until", false, &until)) < 0)
        return rc;
    if (until && (strcmp(until, "rollback") != 0 || strcmp(type, "fault") != 0))
        return fl_doc_error(c->doc, spec, "until", c->err,
                            "'until' is for fault steps and must be rollback (the default is "
                            "the end of the method)");
    if (until && json_object_get(spec, "for"))
        return fl_doc_error(c->doc, spec, "until", c->err, "give 'for' or 'until', not both");
    s->until_rollback = until != NULL;

    if (!strcmp(type, "fault")) {
        rc = parse_fault_step(c, spec, s);
    } else if (!strcmp(type, "rules")) {
        static const char *const keys[] = {"rules", "ids", NULL};
        if ((rc = check_keys(c, spec, "a rules step", keys, step_common)) < 0)
            return rc;
        const char *state = json_string_value(json_object_get(spec, "rules"));
        if (!state || (strcmp(state, "on") && strcmp(state, "off")))
            return fl_doc_error(c->doc, spec, "rules", c->err, "'rules' must be on or off");
        if (!c->e->rules)
            return fl_doc_error(c->doc, spec, "rules", c->err,
                                "a rules step needs preload rules in target.rules");
        s->type = FL_STEP_RULES;
        s->rules_on = !strcmp(state, "on");
        json_t *ids = json_object_get(spec, "ids");
        if (ids && !json_is_array(ids))
            return fl_doc_error(c->doc, spec, "ids", c->err,
                                "'ids' must be a list of rule ids or numbers");
        s->rule_ids = json_incref(ids);
        snprintf(s->label, sizeof(s->label), "rules %s", state);
    } else if (!strcmp(type, "toxic")) {
        static const char *const keys[] = {"toxic", NULL};
        if ((rc = check_keys(c, spec, "a toxic step", keys, step_common)) < 0)
            return rc;
        json_t *t = json_object_get(spec, "toxic");
        if (!json_is_object(t) || !json_is_string(json_object_get(t, "proxy")) ||
            !json_is_string(json_object_get(t, "type")))
            return fl_doc_error(c->doc, spec, "toxic", c->err,
                                "'toxic' must be a mapping with proxy, type and optionally "
                                "stream, toxicity, attributes");
        const char *proxy = json_string_value(json_object_get(t, "proxy"));
        bool known = false;
        size_t i;
        json_t *p;
        json_array_foreach(c->e->proxies, i, p)
            known = known || !strcmp(json_string_value(json_object_get(p, "name")) ?: "", proxy);
        if (!known)
            return fl_doc_error(c->doc, t, "proxy", c->err,
                                "no proxy named '%s' under 'proxies:'", proxy);
        s->type = FL_STEP_TOXIC;
        s->toxic = json_incref(t);
        snprintf(s->label, sizeof(s->label), "toxic %s on %s",
                 json_string_value(json_object_get(t, "type")), proxy);
    } else if (!strcmp(type, "pause")) {
        static const char *const keys[] = {"pause", NULL};
        if ((rc = check_keys(c, spec, "a pause step", keys, step_common)) < 0 ||
            (rc = get_duration(c, spec, "pause", &s->for_ns)) < 0)
            return rc;
        s->type = FL_STEP_PAUSE;
        snprintf(s->label, sizeof(s->label), "pause %s",
                 json_string_value(json_object_get(spec, "pause")));
    } else if (!strcmp(type, "wait")) {
        json_t *probe = json_object_get(spec, "wait");
        static const char *const keys[] = {"wait", "timeout", NULL};
        if ((rc = check_keys(c, spec, "a wait step", keys, step_common)) < 0)
            return rc;
        if ((rc = parse_probe(c, probe, &s->probe, false)) < 0)
            return rc;
        s->type = FL_STEP_WAIT;
        s->for_ns = 10 * (int64_t)1000000000;
        if ((rc = get_duration(c, spec, "timeout", &s->for_ns)) < 0)
            return rc;
        snprintf(s->label, sizeof(s->label), "wait until %s", s->probe.name);
    } else if (!strcmp(type, "target")) {
        static const char *const keys[] = {"target", "signal", NULL};
        if ((rc = check_keys(c, spec, "a target step", keys, step_common)) < 0)
            return rc;
        if (!c->e->has_target)
            return fl_doc_error(c->doc, spec, "target", c->err,
                                "a target step needs a 'target:' with a command");
        static const char *const actions[] = {"restart", "kill", "stop", "cont", NULL};
        const char *a = json_string_value(json_object_get(spec, "target"));
        for (const char *const *x = actions; a && *x; x++)
            if (!strcmp(a, *x))
                s->action = *x;
        if (!s->action)
            return fl_doc_error(c->doc, spec, "target", c->err,
                                "'target' must be restart, kill, stop or cont");
        if (c->e->oneshot && !strcmp(s->action, "restart"))
            return fl_doc_error(c->doc, spec, "target", c->err,
                                "a oneshot target is not restarted: its exit is the result");
        s->signal = !strcmp(s->action, "kill") ? SIGKILL : 0;
        const char *sig = NULL;
        if ((rc = get_string(c, spec, "signal", false, &sig)) < 0)
            return rc;
        struct fl_err e;
        if (sig && fl_parse_signal(sig, &s->signal, &e) < 0)
            return fl_doc_error(c->doc, spec, "signal", c->err, "%s", e.msg);
        s->type = FL_STEP_TARGET;
        snprintf(s->label, sizeof(s->label), "target %s%s%s", s->action, sig ? " " : "",
                 sig ? sig : "");
    } else {
        rc = parse_monkey(c, spec, s);
    }
    if (rc < 0)
        return rc;
    if (name)
        snprintf(s->label, sizeof(s->label), "%s", name);
    if (s->until_rollback) {
        size_t n = strlen(s->label);
        snprintf(s->label + n, sizeof(s->label) - n, " until rollback");
    }
    if (s->for_ns && s->type != FL_STEP_PAUSE && s->type != FL_STEP_WAIT) {
        char d[32];
        size_t n = strlen(s->label);
        snprintf(s->label + n, sizeof(s->label) - n, " for %s",
                 fl_format_duration(s->for_ns, d, sizeof(d)));
    }
    return 0;
}

static void free_step(struct fl_step *s)
{
    json_decref(s->params);
    json_decref(s->rule_ids);
    json_decref(s->toxic);
    free_probe(&s->probe);
    for (size_t i = 0; i < s->n_pool; i++)
        free_step(&s->pool[i]);
    free(s->pool);
}

/* ---- target ---- */

/* oneshot: true with exit: 0 (the default), a list of statuses, or any. A batch job ends by
 * itself: its exit is the result, and restarting it would be another run. */
static int parse_oneshot(struct ctx *c, const json_t *t)
{
    struct fl_experiment *e = c->e;
    int rc = get_bool(c, t, "oneshot", &e->oneshot);
    if (rc < 0)
        return rc;
    json_t *exit = json_object_get(t, "exit");
    if (exit && !e->oneshot)
        return fl_doc_error(c->doc, t, "exit", c->err,
                            "'exit' is for batch jobs: set oneshot: true (a service is expected "
                            "to keep running)");
    if (!e->oneshot)
        return 0;
    if (e->restart != FL_RESTART_NEVER)
        return fl_doc_error(c->doc, t, "restart", c->err,
                            "a oneshot target is not restarted: its exit is the result");
    const char *bad = "'exit' must be an exit status 0..255, a list of them, or any";
    if (!exit) {
        e->exit_codes[e->n_exit_codes++] = 0;
    } else if (json_is_string(exit) && !strcmp(json_string_value(exit), "any")) {
        e->exit_any = true;
    } else if (json_is_integer(exit) || json_is_array(exit)) {
        size_t n = json_is_array(exit) ? json_array_size(exit) : 1;
        if (n == 0 || n > sizeof(e->exit_codes) / sizeof(e->exit_codes[0]))
            return fl_doc_error(c->doc, t, "exit", c->err, "%s (1 to 16 of them)", bad);
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_is_array(exit) ? json_array_get(exit, i) : exit;
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)
                return fl_doc_error(c->doc, t, "exit", c->err, "%s", bad);
            e->exit_codes[e->n_exit_codes++] = (int)json_integer_value(v);
        }
    } else {
        return fl_doc_error(c->doc, t, "exit", c->err, "%s", bad);
    }
    return 0;
}

static int parse_target(struct ctx *c, const json_t *t)
{
    static const char *const keys[] = {"command", "shell", "env", "cwd", "fixtures", "ready",
                                       "ready_timeout", "restart", "rules", "rules_on",
                                       "rules_may_not_fire", "oneshot", "exit", "stop_signal",
                                       "stop_grace", NULL};
    struct fl_experiment *e = c->e;
    if (!json_is_object(t))
        return fl_doc_error(c->doc, t, NULL, c->err, "'target' must be a mapping");
    int rc = check_keys(c, t, "target", keys, NULL);
    if (rc < 0)
        return rc;
    e->has_target = true;
    json_t *cmd = json_object_get(t, "command");
    if ((rc = get_bool(c, t, "shell", &e->shell)) < 0)
        return rc;
    if (json_is_string(cmd) && *json_string_value(cmd)) {
        /* a string is one argv unless the user asked for a shell */
        e->argv = json_pack("[O]", cmd);
    } else if (json_is_array(cmd) && json_array_size(cmd) > 0) {
        size_t i;
        json_t *v;
        json_array_foreach(cmd, i, v)
            if (!json_is_string(v))
                return fl_doc_error(c->doc, t, "command", c->err,
                                    "'command' must be a list of strings");
        e->argv = json_incref(cmd);
    } else {
        return fl_doc_error(c->doc, t, "command", c->err,
                            "target needs 'command': a list like [./server, --port, '8080'] "
                            "(or a string with shell: true)");
    }
    if (e->shell && json_array_size(e->argv) != 1)
        return fl_doc_error(c->doc, t, "command", c->err,
                            "with shell: true, 'command' is one string for /bin/sh -c");
    json_t *env = json_object_get(t, "env");
    if (env) {
        const char *k;
        json_t *v;
        if (!json_is_object(env))
            return fl_doc_error(c->doc, t, "env", c->err, "'env' must be a mapping of strings");
        json_object_foreach(env, k, v)
            if (!json_is_string(v) && !json_is_integer(v))
                return fl_doc_error(c->doc, env, k, c->err,
                                    "env value '%s' must be a string", k);
        e->env = env;
    }
    if ((rc = get_string(c, t, "cwd", false, &e->cwd)) < 0)
        return rc;
    json_t *fx = json_object_get(t, "fixtures");
    if (fx) {
        size_t i;
        json_t *v;
        if (!json_is_array(fx))
            return fl_doc_error(c->doc, t, "fixtures", c->err,
                                "'fixtures' must be a list of paths (relative to the file)");
        json_array_foreach(fx, i, v)
            if (!json_is_string(v))
                return fl_doc_error(c->doc, t, "fixtures", c->err,
                                    "'fixtures' must be a list of paths");
        e->fixtures = fx;
    }
    json_t *ready = json_object_get(t, "ready");
    if (ready) {
        if ((rc = parse_probe(c, ready, &e->ready, false)) < 0)
            return rc;
        e->has_ready = true;
    }
    e->ready_timeout_ns = 10 * (int64_t)1000000000;
    if ((rc = get_duration(c, t, "ready_timeout", &e->ready_timeout_ns)) < 0)
        return rc;
    const char *restart = NULL;
    if ((rc = get_string(c, t, "restart", false, &restart)) < 0)
        return rc;
    if (!restart || !strcmp(restart, "never"))
        e->restart = FL_RESTART_NEVER;
    else if (!strcmp(restart, "on-failure"))
        e->restart = FL_RESTART_ON_FAILURE;
    else if (!strcmp(restart, "always"))
        e->restart = FL_RESTART_ALWAYS;
    else
        return fl_doc_error(c->doc, t, "restart", c->err,
                            "'restart' must be never, on-failure or always");
    json_t *rules = json_object_get(t, "rules");
    if (rules) {
        size_t i;
        json_t *v;
        if (!json_is_array(rules) || json_array_size(rules) == 0)
            return fl_doc_error(c->doc, t, "rules", c->err,
                                "'rules' must be a list of preload rules (faultline help "
                                "rules)");
        json_array_foreach(rules, i, v)
            if (!json_is_string(v))
                return fl_doc_error(c->doc, t, "rules", c->err, "each rule must be a string");
        e->rules = rules;
    }
    e->rules_start_on = false;
    if ((rc = get_bool(c, t, "rules_on", &e->rules_start_on)) < 0 ||
        (rc = get_bool(c, t, "rules_may_not_fire", &e->rules_may_not_fire)) < 0)
        return rc;
    if (json_object_get(t, "rules_may_not_fire") && !e->rules_start_on)
        return fl_doc_error(c->doc, t, "rules_may_not_fire", c->err,
                            "'rules_may_not_fire' is for rules on from the start (rules_on: "
                            "true); a rules step takes its own may_not_fire");
    if ((rc = parse_oneshot(c, t)) < 0)
        return rc;
    e->stop_signal = SIGTERM;
    const char *sig = NULL;
    if ((rc = get_string(c, t, "stop_signal", false, &sig)) < 0)
        return rc;
    struct fl_err pe;
    if (sig && fl_parse_signal(sig, &e->stop_signal, &pe) < 0)
        return fl_doc_error(c->doc, t, "stop_signal", c->err, "%s", pe.msg);
    e->stop_grace_ns = 5 * (int64_t)1000000000;
    return get_duration(c, t, "stop_grace", &e->stop_grace_ns);
}

/* ---- objectives ---- */

static const struct {
    const char *name;
    const char *unit; /* "" share (0..1), "ms" time */
} objective_names[] = {
    {"availability", ""},   {"availability_during_faults", ""}, {"error_rate", ""},
    {"latency_p50", "ms"},  {"latency_p90", "ms"},              {"latency_p99", "ms"},
    {"time_to_detect", "ms"}, {"time_to_recover", "ms"},        {"failover", "ms"},
};

static int parse_objectives(struct ctx *c, const json_t *obj)
{
    if (!json_is_object(obj))
        return fl_doc_error(c->doc, obj, NULL, c->err,
                            "'objectives' must be a mapping like availability: \">= 99%%\"");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        size_t k = 0, n = sizeof(objective_names) / sizeof(objective_names[0]);
        while (k < n && strcmp(objective_names[k].name, key) != 0)
            k++;
        if (k == n)
            return fl_doc_error(c->doc, obj, key, c->err,
                                "unknown objective '%s' (expected availability, "
                                "availability_during_faults, error_rate, latency_p50, "
                                "latency_p90, latency_p99, time_to_detect, time_to_recover, "
                                "failover)", key);
        if (c->e->n_objectives >= sizeof(c->e->objectives) / sizeof(c->e->objectives[0]))
            return fl_doc_error(c->doc, obj, key, c->err, "too many objectives");
        struct fl_objective *o = &c->e->objectives[c->e->n_objectives];
        const char *s = json_string_value(v);
        bool share = !*objective_names[k].unit;
        const char *example = share ? "\">= 99%\"" : "\"<= 2s\"";
        if (!s)
            return fl_doc_error(c->doc, obj, key, c->err,
                                "objective '%s' must be a comparison like %s", key, example);
        while (*s == ' ')
            s++;
        size_t oplen = (s[0] == '<' || s[0] == '>') ? (s[1] == '=' ? 2 : 1) : 0;
        if (!oplen)
            return fl_doc_error(c->doc, obj, key, c->err,
                                "objective '%s' must start with <=, >=, < or > (like %s)", key,
                                example);
        memcpy(o->op, s, oplen);
        o->op[oplen] = '\0';
        s += oplen;
        while (*s == ' ')
            s++;
        struct fl_err pe;
        if (share) {
            uint64_t ppm;
            bool pct;
            char *end;
            double d = strtod(s, &end);
            if (*s && *end == '\0' && d >= 0 && d <= 1) {
                o->threshold = d;
            } else if (fl_parse_size(s, true, &ppm, &pct, &pe) == 0 && pct) {
                o->threshold = (double)ppm / 1e6;
            } else {
                return fl_doc_error(c->doc, obj, key, c->err,
                                    "objective '%s' needs a share like 99%% or 0.99", key);
            }
        } else {
            int64_t ns;
            if (fl_parse_duration(s, false, &ns, &pe) < 0)
                return fl_doc_error(c->doc, obj, key, c->err,
                                    "objective '%s' needs a duration like 2s or 150ms", key);
            o->threshold = (double)ns / 1e6;
        }
        snprintf(o->name, sizeof(o->name), "%s", key);
        o->unit = objective_names[k].unit;
        c->e->n_objectives++;
    }
    return 0;
}

static int parse_leaks(struct ctx *c, const json_t *l)
{
    static const char *const keys[] = {"fds", "threads", "children", "rss", NULL};
    struct fl_experiment *e = c->e;
    e->leak_fds = e->leak_threads = e->leak_children = e->leak_rss = -1;
    if (!json_is_object(l))
        return fl_doc_error(c->doc, l, NULL, c->err,
                            "'leaks' must be a mapping of allowed growth: fds, threads, "
                            "children, rss");
    int rc = check_keys(c, l, "leaks", keys, NULL);
    json_int_t v;
    if (rc < 0)
        return rc;
    if (json_object_get(l, "fds") && (rc = get_uint(c, l, "fds", 1000000, &v)) == 0)
        e->leak_fds = v;
    if (!rc && json_object_get(l, "threads") && (rc = get_uint(c, l, "threads", 100000, &v)) == 0)
        e->leak_threads = v;
    if (!rc && json_object_get(l, "children") &&
        (rc = get_uint(c, l, "children", 100000, &v)) == 0)
        e->leak_children = v;
    if (rc < 0)
        return rc;
    json_t *rss = json_object_get(l, "rss");
    if (rss) {
        uint64_t bytes;
        bool pct;
        struct fl_err pe;
        if (json_is_integer(rss) && json_integer_value(rss) >= 0)
            e->leak_rss = json_integer_value(rss);
        else if (json_is_string(rss) &&
                 fl_parse_size(json_string_value(rss), false, &bytes, &pct, &pe) == 0)
            e->leak_rss = (int64_t)bytes;
        else
            return fl_doc_error(c->doc, l, "rss", c->err, "'rss' must be a size like 10MiB");
    }
    e->has_leaks = true;
    return 0;
}

/* ---- the whole file ---- */

/* An experiment with nothing that could turn its verdict into FAIL would PASS whatever the
 * system did: refuse it before anything runs. A wait step fails when its probe never holds. */
static int check_can_fail(struct ctx *c)
{
    const struct fl_experiment *e = c->e;
    bool waits = false;
    for (size_t i = 0; i < e->n_steps && !waits; i++)
        waits = e->steps[i].type == FL_STEP_WAIT;
    if (e->n_steady || e->n_continuous || e->n_verify || e->n_objectives || e->has_leaks ||
        (e->oneshot && !e->exit_any) || waits)
        return 0;
    return fl_doc_error(c->doc, c->doc->root, NULL, c->err,
                        "this experiment checks nothing, so it could never fail: add "
                        "steady_state, probes, verify, objectives, leaks, a wait step, or "
                        "target.oneshot with an exit status");
}

static int parse_root(struct ctx *c)
{
    static const char *const keys[] = {
        "title", "id", "category", "failure_mode", "expected", "tags", "expect", "reason",
        "seed", "timeout", "target", "proxies", "steady_state", "method", "probes",
        "recovered_after", "recover_within", "load", "verify", "leaks", "objectives", NULL};
    struct fl_experiment *e = c->e;
    const json_t *root = c->doc->root;
    if (!json_is_object(root))
        return fl_doc_error(c->doc, root, NULL, c->err,
                            "an experiment is a mapping (title:, target:, method: ...)");
    int rc;
    if ((rc = check_keys(c, root, "an experiment", keys, NULL)) < 0 ||
        (rc = get_string(c, root, "title", true, &e->title)) < 0 ||
        (rc = get_string(c, root, "category", false, &e->category)) < 0 ||
        (rc = get_string(c, root, "failure_mode", false, &e->failure_mode)) < 0 ||
        (rc = get_string(c, root, "expected", false, &e->expected)) < 0 ||
        (rc = get_string(c, root, "reason", false, &e->reason)) < 0)
        return rc;
    if (!e->category)
        e->category = "general";
    const char *id = NULL;
    if ((rc = get_string(c, root, "id", false, &id)) < 0)
        return rc;
    if (id) {
        snprintf(e->id, sizeof(e->id), "%s", id);
    } else {
        /* the file's name without its extension */
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", e->path);
        const char *base = basename(tmp);
        snprintf(e->id, sizeof(e->id), "%s", base);
        char *dot = strrchr(e->id, '.');
        if (dot && dot != e->id)
            *dot = '\0';
    }
    json_t *tags = json_object_get(root, "tags");
    if (tags) {
        size_t i;
        json_t *v;
        if (!json_is_array(tags))
            return fl_doc_error(c->doc, root, "tags", c->err, "'tags' must be a list of words");
        json_array_foreach(tags, i, v)
            if (!json_is_string(v))
                return fl_doc_error(c->doc, root, "tags", c->err, "each tag must be a string");
        e->tags = tags;
    }
    const char *expect = NULL;
    if ((rc = get_string(c, root, "expect", false, &expect)) < 0)
        return rc;
    if (expect && strcmp(expect, "pass") && strcmp(expect, "xfail"))
        return fl_doc_error(c->doc, root, "expect", c->err, "'expect' must be pass or xfail");
    e->expect_xfail = expect && !strcmp(expect, "xfail");
    if (e->expect_xfail && !e->reason)
        return fl_doc_error(c->doc, root, "expect", c->err,
                            "expect: xfail needs a 'reason' (an issue id, say) so the known gap "
                            "stays explained");
    json_t *seed = json_object_get(root, "seed");
    if (seed) {
        if (!json_is_integer(seed) || json_integer_value(seed) < 0)
            return fl_doc_error(c->doc, root, "seed", c->err,
                                "'seed' must be a non-negative integer");
        e->has_seed = true;
        e->seed = (uint64_t)json_integer_value(seed);
    }
    e->timeout_ns = 5 * 60 * (int64_t)1000000000;
    if ((rc = get_duration(c, root, "timeout", &e->timeout_ns)) < 0)
        return rc;

    json_t *proxies = json_object_get(root, "proxies");
    if (proxies) {
        size_t i;
        json_t *p;
        if (!json_is_array(proxies))
            return fl_doc_error(c->doc, root, "proxies", c->err,
                                "'proxies' must be a list of {name, listen, upstream}");
        json_array_foreach(proxies, i, p) {
            static const char *const pk[] = {"name", "listen", "upstream", NULL};
            const char *s;
            if (!json_is_object(p))
                return fl_doc_error(c->doc, p, NULL, c->err,
                                    "a proxy is a mapping with name, listen, upstream");
            if ((rc = check_keys(c, p, "a proxy", pk, NULL)) < 0 ||
                (rc = get_string(c, p, "name", true, &s)) < 0 ||
                (rc = get_string(c, p, "listen", true, &s)) < 0 ||
                (rc = get_string(c, p, "upstream", true, &s)) < 0)
                return rc;
        }
        e->proxies = proxies;
    }
    json_t *target = json_object_get(root, "target");
    if (target && (rc = parse_target(c, target)) < 0)
        return rc;

    if ((rc = parse_probe_list(c, root, "steady_state", e->steady, &e->n_steady, false)) < 0 ||
        (rc = parse_probe_list(c, root, "probes", e->continuous, &e->n_continuous, true)) < 0 ||
        (rc = parse_probe_list(c, root, "verify", e->verify, &e->n_verify, false)) < 0)
        return rc;
    json_int_t after = 3;
    if ((rc = get_uint(c, root, "recovered_after", 1000, &after)) < 0)
        return rc;
    if (after < 1)
        return fl_doc_error(c->doc, root, "recovered_after", c->err,
                            "'recovered_after' must be at least 1 sample");
    e->recovered_after = (unsigned)after;
    e->recover_within_ns = 10 * (int64_t)1000000000;
    if ((rc = get_duration(c, root, "recover_within", &e->recover_within_ns)) < 0)
        return rc;

    json_t *method = json_object_get(root, "method");
    if (!json_is_array(method))
        return fl_doc_error(c->doc, root, method ? "method" : NULL, c->err,
                            "'method' is required: a list of steps (fault, rules, toxic, "
                            "pause, wait, target, monkey)");
    if (json_array_size(method) > FL_EXP_MAX_STEPS)
        return fl_doc_error(c->doc, root, "method", c->err, "more than %d steps",
                            FL_EXP_MAX_STEPS);
    size_t i;
    json_t *v;
    json_array_foreach(method, i, v) {
        if ((rc = parse_step(c, v, &e->steps[i], false)) < 0) {
            free_step(&e->steps[i]);
            return rc;
        }
        e->n_steps++;
    }
    json_t *load = json_object_get(root, "load");
    if (load) {
        if ((rc = fl_load_check(c->doc, load, c->err)) < 0)
            return rc;
        e->load = load;
    }
    json_t *leaks = json_object_get(root, "leaks");
    if (leaks && (rc = parse_leaks(c, leaks)) < 0)
        return rc;
    if (leaks && !e->has_target)
        return fl_doc_error(c->doc, root, "leaks", c->err, "'leaks' needs a target to watch");
    if (leaks && e->oneshot)
        return fl_doc_error(c->doc, root, "leaks", c->err,
                            "'leaks' needs a target that keeps running, not a oneshot job");
    json_t *obj = json_object_get(root, "objectives");
    if (obj && (rc = parse_objectives(c, obj)) < 0)
        return rc;
    return check_can_fail(c);
}

static struct fl_experiment *new_experiment(const char *path)
{
    struct fl_experiment *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    snprintf(e->path, sizeof(e->path), "%s", path);
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", path);
    char abs[PATH_MAX];
    if (realpath(dirname(tmp), abs))
        snprintf(e->dir, sizeof(e->dir), "%s", abs);
    else
        snprintf(e->dir, sizeof(e->dir), ".");
    return e;
}

static int finish_load(struct fl_experiment *e, int rc, struct fl_experiment **out,
                       struct fl_err *err)
{
    if (rc < 0) {
        free(e);
        return rc;
    }
    struct ctx c = {e, &e->doc, err};
    rc = parse_root(&c);
    if (rc < 0) {
        fl_experiment_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int fl_experiment_load(const char *path, struct fl_experiment **out, struct fl_err *err)
{
    struct fl_experiment *e = new_experiment(path);
    if (!e)
        return fl_err_set(err, ENOMEM, "out of memory");
    return finish_load(e, fl_doc_load(&e->doc, path, err), out, err);
}

int fl_experiment_load_string(const char *name, const char *text, size_t len,
                              struct fl_experiment **out, struct fl_err *err)
{
    struct fl_experiment *e = new_experiment(name);
    if (!e)
        return fl_err_set(err, ENOMEM, "out of memory");
    return finish_load(e, fl_doc_load_string(&e->doc, name, text, len, err), out, err);
}

void fl_experiment_free(struct fl_experiment *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_steps; i++)
        free_step(&e->steps[i]);
    for (size_t i = 0; i < e->n_steady; i++)
        free_probe(&e->steady[i]);
    for (size_t i = 0; i < e->n_continuous; i++)
        free_probe(&e->continuous[i]);
    for (size_t i = 0; i < e->n_verify; i++)
        free_probe(&e->verify[i]);
    free_probe(&e->ready);
    json_decref(e->argv);
    fl_doc_free(&e->doc);
    free(e);
}

static void plan_probes(FILE *out, const char *title, const struct fl_probe_inst *p, size_t n)
{
    if (!n)
        return;
    fprintf(out, "  %s:\n", title);
    for (size_t i = 0; i < n; i++) {
        char every[32] = "";
        if (p[i].every_ns)
            fl_format_duration(p[i].every_ns, every, sizeof(every));
        fprintf(out, "    - %s%s%s%s\n", p[i].name, *every ? " every " : "", every,
                p[i].expect_fail ? " (expected to fail)" : "");
    }
}

void fl_experiment_print_plan(const struct fl_experiment *e, FILE *out)
{
    fprintf(out, "%s: %s [%s]%s%s\n", e->id, e->title, e->category,
            e->expect_xfail ? " xfail: " : "", e->expect_xfail ? e->reason : "");
    if (e->skip_reason[0])
        fprintf(out, "  would be SKIPPED: %s\n", e->skip_reason);
    if (e->has_target) {
        fprintf(out, "  start:");
        size_t i;
        json_t *v;
        json_array_foreach(e->argv, i, v)
            fprintf(out, " %s", json_string_value(v));
        fprintf(out, "%s in %s\n", e->shell ? " (via /bin/sh -c)" : "",
                e->cwd ? e->cwd : "a fresh temporary directory");
        if (e->rules)
            fprintf(out, "  preload rules: %zu (%s at start)\n", json_array_size(e->rules),
                    e->rules_start_on ? "on" : "off");
        if (e->has_ready)
            fprintf(out, "  ready when: %s\n", e->ready.name);
        if (e->oneshot && e->exit_any) {
            fprintf(out, "  oneshot: waits for the target to exit (any status)\n");
        } else if (e->oneshot) {
            fprintf(out, "  oneshot: waits for the target to exit with status");
            for (size_t k = 0; k < e->n_exit_codes; k++)
                fprintf(out, "%s%d", k ? ", " : " ", e->exit_codes[k]);
            fprintf(out, "\n");
        }
    }
    plan_probes(out, "steady state", e->steady, e->n_steady);
    plan_probes(out, "continuous probes", e->continuous, e->n_continuous);
    if (e->load)
        fprintf(out, "  load: %s\n", json_string_value(json_object_get(e->load, "http"))
                                         ?: json_string_value(json_object_get(e->load, "tcp"))
                                         ?: "?");
    fprintf(out, "  method:\n");
    for (size_t i = 0; i < e->n_steps; i++)
        fprintf(out, "    %zu. %s%s\n", i + 1, e->steps[i].label,
                e->steps[i].may_not_fire ? " (may not fire)" : "");
    plan_probes(out, "verify", e->verify, e->n_verify);
    for (size_t i = 0; i < e->n_objectives; i++) {
        const struct fl_objective *o = &e->objectives[i];
        if (*o->unit)
            fprintf(out, "  objective: %s %s %gms\n", o->name, o->op, o->threshold);
        else
            fprintf(out, "  objective: %s %s %g%%\n", o->name, o->op, o->threshold * 100);
    }
}

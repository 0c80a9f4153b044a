# SPDX-License-Identifier: MIT
"""Mutants of experiment files: the same experiment made unable to test anything, three ways.

  (a) missing-program: the target's command replaced by a program that does not exist;
  (b) rules-unmatchable: every rule that a step switches on gets a path, port or host that no
      call can have;
  (c) toxics-idle: every toxic step moved to a proxy of its own that nothing connects to.

A mutant must never PASS or XFAIL: faultline has to notice that the target never ran or that
the fault never happened (docs/results-format.md, "What a PASS means"). Steps marked
may_not_fire are left alone: for them "the fault did not happen" is allowed by the author.

A mutant is written as JSON next to nothing of the original: fixtures and cwd, which are
relative to the original file, become absolute, so the mutant runs from anywhere."""
import hashlib
import json
import pathlib
import socket

import yaml

MISSING = "faultline-mutant-missing-program"
NO_PATH = "/faultline-mutant-nonexistent/*"
NO_PORT = "1"  # tcpmux: nothing here listens on it or connects to it
NO_HOST = "faultline-mutant.invalid"

SOCKET_CALLS = {"connect", "accept", "accept4", "send", "sendto", "sendmsg", "recv",
                "recvfrom", "recvmsg", "socket", "shutdown"}
NO_SELECTOR_FAMILIES = ("mem", "malloc", "calloc", "realloc", "time", "clock")

KINDS = ("missing-program", "rules-unmatchable", "toxics-idle")


def load(path):
    text = pathlib.Path(path).read_text()
    return json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)


def experiment_files(paths):
    """The files `faultline run PATH...` would run (directories as cmd_run.c walks them)."""
    out = []
    for p in map(pathlib.Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if any(part.startswith(".") or part == "fixtures" for part in rel[:-1]):
                    continue
                if f.is_file() and not f.name.startswith(".") and \
                        f.suffix in (".yaml", ".yml", ".json"):
                    out.append(f)
        elif p.suffix in (".yaml", ".yml", ".json") and p.is_file():
            out.append(p)
    return out


def fingerprint(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def _segments(rule):
    return rule.split(":")


def unmatchable(rule):
    """The rule with a selector no call can meet, or None when the rule has no selector to
    change (allocation and clock rules apply to every call of their kind)."""
    seg = _segments(rule)
    where = seg[0].split(",")
    for key, value in (("path", NO_PATH), ("port", NO_PORT), ("peer", f"127.0.0.1:{NO_PORT}"),
                       ("host", NO_HOST)):
        for i, s in enumerate(seg[1:], 1):
            if s.startswith(key + "="):
                seg[i] = f"{key}={value}"
                return ":".join(seg)
    if all(w.startswith(NO_SELECTOR_FAMILIES) for w in where):
        return None
    if all(w == "dns" or w.startswith("getaddrinfo") for w in where):
        return ":".join([seg[0], f"host={NO_HOST}"] + seg[1:])
    if all(w.startswith("net.") or w in SOCKET_CALLS for w in where):
        return ":".join([seg[0], f"port={NO_PORT}"] + seg[1:])
    return ":".join([seg[0], f"path={NO_PATH}"] + seg[1:])


def _rule_id(rule, index):
    for s in _segments(rule)[1:]:
        if s.startswith("id="):
            return s[3:]
    return str(index + 1)


def _steps(doc):
    """Every step of the method, monkey pools included."""
    for step in doc.get("method") or []:
        if not isinstance(step, dict):
            continue
        yield step
        pool = (step.get("monkey") or {}).get("pool") if isinstance(step.get("monkey"),
                                                                    dict) else None
        for p in pool or []:
            if isinstance(p, dict):
                yield p


def _rules_switched_on(doc):
    """Indexes of the rules some step turns on without may_not_fire (or rules_on: true)."""
    target = doc.get("target") or {}
    rules = target.get("rules") or []
    on = set()
    if target.get("rules_on") and not target.get("rules_may_not_fire"):
        on.update(range(len(rules)))
    for step in _steps(doc):
        if step.get("rules") not in ("on", True) or step.get("may_not_fire"):
            continue
        ids = step.get("ids")
        for i, rule in enumerate(rules):
            if ids is None or _rule_id(rule, i) in [str(x) for x in ids]:
                on.add(i)
    return sorted(on)


def _absolute(doc, base):
    target = doc.get("target")
    if isinstance(target, dict):
        if isinstance(target.get("fixtures"), list):
            target["fixtures"] = [f if str(f).startswith("/") else str(base / f)
                                  for f in target["fixtures"]]
        if isinstance(target.get("cwd"), str) and not target["cwd"].startswith("/"):
            target["cwd"] = str(base / target["cwd"])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mutants(path):
    """[(kind, doc)] for the mutants that apply to the experiment at path."""
    path = pathlib.Path(path).resolve()
    original = load(path)
    if not isinstance(original, dict):
        return []
    base_id = original.get("id") or path.stem
    out = []

    def copy(kind):
        doc = json.loads(json.dumps(original))
        doc["id"] = f"{base_id}-mutant-{kind}"
        _absolute(doc, path.parent)
        return doc

    target = original.get("target")
    if isinstance(target, dict) and target.get("command"):
        doc = copy("missing-program")
        doc["target"]["command"] = MISSING if doc["target"].get("shell") else [MISSING]
        out.append(("missing-program", doc))

    on = _rules_switched_on(original)
    changed = []
    if on:
        doc = copy("rules-unmatchable")
        for i in on:
            new = unmatchable(doc["target"]["rules"][i])
            if new is not None:
                doc["target"]["rules"][i] = new
                changed.append(i)
        if changed:
            out.append(("rules-unmatchable", doc))

    toxic_steps = [s for s in _steps(original) if isinstance(s.get("toxic"), dict)
                   and not s.get("may_not_fire")]
    if toxic_steps:
        doc = copy("toxics-idle")
        proxies = doc.setdefault("proxies", [])
        upstream = proxies[0]["upstream"] if proxies else "127.0.0.1:1"
        proxies.append({"name": "faultline-mutant-idle", "listen": f"127.0.0.1:{_free_port()}",
                        "upstream": upstream})
        for step in _steps(doc):
            if isinstance(step.get("toxic"), dict) and not step.get("may_not_fire"):
                step["toxic"]["proxy"] = "faultline-mutant-idle"
        out.append(("toxics-idle", doc))
    return out


def write_mutants(path, into):
    """Write the mutants of path under into/; returns [(kind, file)]."""
    into = pathlib.Path(into)
    into.mkdir(parents=True, exist_ok=True)
    files = []
    for kind, doc in mutants(path):
        f = into / f"{doc['id']}.json"
        f.write_text(json.dumps(doc, indent=1))
        files.append((kind, f))
    return files


# How a mutant is expected to be caught: the reason faultline must give.
EXPECTED_REASON = {
    "missing-program": "the target would not start",
    "rules-unmatchable": "the fault never happened",
    "toxics-idle": "the fault never happened",
}


def how_caught(kind, verdict, why):
    """A short label for the table: the expected mechanism, or what caught it instead."""
    if verdict in ("PASS", "XFAIL", "XPASS"):
        return f"NOT CAUGHT ({verdict})"
    if why.startswith(EXPECTED_REASON[kind]):
        return f"{verdict}: {EXPECTED_REASON[kind]}"
    return f"{verdict}: other ({why[:60]})"

# SPDX-License-Identifier: MIT
"""The reports (JUnit, Markdown, HTML, JSON) and the history database, driven through
`faultline report render|record|history` with hand-written and generated results documents
(docs/results-format.md): every verdict, empty suites, unicode and HTML-special titles, huge
sample counts. JUnit is validated with xmllint against tests/schemas/junit.xsd; the HTML page is
opened in headless Chromium and its chart checked to render."""
import json
import os
import pathlib
import re
import shutil
import sqlite3
import stat
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
XSD = ROOT / "tests" / "schemas" / "junit.xsd"
EVIL = "<b>&amp; \"quoted\" 'x' | *star* _u_ `tick` [l](u) </script> ]]> ü漢字 🚀"

T0 = 1763900000000


NEVER = "never fired: rule 'fsync' (io.sync:path=*nomatch*:errno=EIO) matched no call while on"
INJECTED = "37 faults injected: rule 'fsync' failed 37 of 37 matching calls"


def fault(step=1, kind="rules", start_ms=1000, end_ms=2000, fired=None, effect=None,
          may_not_fire=None, **extra):
    """One faults[] entry; fired/effect/may_not_fire are left out when None, as a document
    written before they existed has them."""
    f = {"step": step, "kind": kind, "what": f"{kind} step {step}", "start_ms": start_ms,
         "end_ms": end_ms, "ok": True, "error": ""}
    for k, v in (("fired", fired), ("effect", effect), ("may_not_fire", may_not_fire)):
        if v is not None:
            f[k] = v
    f.update(extra)
    return f


def experiment(verdict, idx=0, category="storage", samples=80, title=None, fail_at=(30, 45),
               fired=None, effect=None, may_not_fire=None, **extra):
    """One experiment of the given verdict, with phases, a fault, one probe series and
    figures that agree with its verdict. fired/effect/may_not_fire go into its fault (left
    out when None: the document of an older faultline); faults=[fault(...)] replaces it."""
    every = 100
    ss = []
    for k in range(samples):
        bad = fail_at[0] <= k < fail_at[1] and verdict in ("FAIL", "XFAIL")
        ss.append({"t_ms": 330 + k * every, "ok": not bad,
                   "latency_ms": 1000.0 if bad else round(1.0 + (k % 7) * 0.3, 2),
                   "detail": "connection refused" if bad else ""})
    dur = 330 + samples * every + 500
    e = {
        "file": f"experiments/exp-{idx}.yaml",
        "id": f"exp-{idx}",
        "title": title or f"{verdict.title()} experiment {idx}",
        "category": category,
        "failure_mode": "power lost while the settings file is written",
        "expected_behaviour": "the service starts with the last good settings",
        "tags": [category],
        "expect": "xfail" if verdict in ("XFAIL", "XPASS") else "pass",
        "reason": "no fsync before rename yet" if verdict in ("XFAIL", "XPASS") else "",
        "verdict": verdict,
        "why": {
            "PASS": "",
            "FAIL": "objective time_to_recover <= 2s not met: 3.4s",
            "XFAIL": "objective time_to_recover <= 2s not met: 3.4s",
            "XPASS": "expected to fail, but every check held",
            "ERROR": "steady state did not hold before injection: GET /health: refused",
            "SKIP": "kind netem is not available: needs root",
        }[verdict],
        "seed": 1234,
        "started_ms": T0 + idx * 10000,
        "duration_ms": dur,
        "phases": [
            {"name": "start", "start_ms": 0, "end_ms": 310, "ok": True, "detail": ""},
            {"name": "steady_state", "start_ms": 310, "end_ms": 330, "ok": True, "detail": ""},
            {"name": "method", "start_ms": 330, "end_ms": dur - 500, "ok": True, "detail": ""},
            {"name": "verify", "start_ms": dur - 500, "end_ms": dur - 100,
             "ok": verdict not in ("FAIL", "XFAIL"), "detail": "integrity_check: malformed"},
            {"name": "rollback", "start_ms": dur - 100, "end_ms": dur, "ok": True,
             "detail": ""},
        ],
        "faults": [{"step": 1, "kind": "corrupt", "what": "corrupt state.json: truncate",
                    "start_ms": 330 + fail_at[0] * every, "end_ms": 330 + fail_at[1] * every,
                    "ok": verdict != "ERROR", "error": "" if verdict != "ERROR" else "EPERM"}],
        "series": [{"probe": "health", "kind": "http",
                    "what": "GET http://127.0.0.1:8080/health", "every_ms": every,
                    "samples": ss}],
        "metrics": {
            "availability": sum(s["ok"] for s in ss) / max(1, len(ss)),
            "availability_during_faults": 0.0 if verdict in ("FAIL", "XFAIL") else 1.0,
            "error_rate": None,
            "time_to_detect_ms": 120 if verdict in ("FAIL", "XFAIL") else None,
            "time_to_recover_ms": 3400 if verdict in ("FAIL", "XFAIL") else None,
            "failover_ms": None,
            "latency_p50_ms": 1.6, "latency_p90_ms": 2.5, "latency_p99_ms": 1000.0,
        },
        "objectives": [{"name": "time_to_recover", "op": "<=", "threshold": 2000,
                        "unit": "ms", "value": 3400 if verdict in ("FAIL", "XFAIL") else 0,
                        "met": verdict not in ("FAIL", "XFAIL")}],
        "checks": [{"phase": "verify", "probe": "db", "what": "sqlite state.db integrity_check",
                    "ok": verdict not in ("FAIL", "XFAIL"),
                    "detail": "" if verdict not in ("FAIL", "XFAIL") else "malformed"}],
        "leaks": {"fds": {"before": 7, "after": 7, "limit": 0, "ok": True}},
        "rollback": {"ok": True, "errors": []},
        "log": [f"{330 + fail_at[0] * every} ms: applied corrupt state.json (truncate)"],
    }
    for k, v in (("fired", fired), ("effect", effect), ("may_not_fire", may_not_fire)):
        if v is not None:
            e["faults"][0][k] = v
    if fired == 0 and not may_not_fire and verdict == "ERROR":
        e["faults"][0]["ok"], e["faults"][0]["error"] = True, ""
        e["why"] = "the fault never happened: step 1 corrupt took no effect"
    if verdict == "SKIP":
        e["phases"], e["series"], e["faults"], e["checks"] = [], [], [], []
        e["metrics"] = {k: None for k in e["metrics"]}
        e["duration_ms"] = 0
    e.update(extra)
    return e


def results(exps, strict=False, categories=None, seed=1234):
    counts = {v: 0 for v in ("pass", "fail", "xfail", "xpass", "error", "skip")}
    for e in exps:
        counts[e["verdict"].lower()] += 1
    doc = {
        "format": 1, "faultline": "0.1.0", "host": "testhost", "seed": seed,
        "started_ms": T0, "finished_ms": T0 + 42000, "strict": strict,
        "summary": {"total": len(exps), **counts},
        "experiments": exps,
    }
    if categories is not None:
        doc["categories"] = categories
    return doc


def fired_doc():
    """Windows that fired, one that never did, one allowed not to, and an experiment from an
    older faultline (no fired field) and one without faults: storage fired 2 of 3 windows,
    network 1 of 2 (the other allowed), process records nothing."""
    rules = [{"id": "fsync", "rule": "io.sync:path=*nomatch*:errno=EIO", "seen": 0,
              "injected": 0}]
    e0 = experiment("ERROR", 0, "storage", why="the fault never happened: step 2 rules took "
                    "no effect", faults=[
                        fault(1, "corrupt", 1000, 2000, fired=1, effect="corrupted state.json"),
                        fault(2, "rules", 3000, 3100, fired=0, effect=NEVER, rules=rules)])
    e1 = experiment("PASS", 1, "storage", faults=[fault(1, "rules", 2000, 6000, fired=37,
                                                        effect=INJECTED)])
    e2 = experiment("PASS", 2, "network", faults=[
        fault(1, "toxic", 1000, 3000, fired=3, effect="3 connections through the toxic, 12.0 KiB",
              connections=3, bytes=12288),
        fault(2, "toxic", 4000, 6000, fired=0, may_not_fire=True, effect=EVIL)])
    e3 = experiment("PASS", 3, "process")
    e4 = experiment("SKIP", 4, "process")
    return results([e0, e1, e2, e3, e4])


def every_verdict(**kw):
    vs = ["PASS", "FAIL", "XFAIL", "XPASS", "ERROR", "SKIP"]
    cats = ["storage", "storage", "network", "network", "storage", "process"]
    return results([experiment(v, i, cats[i]) for i, v in enumerate(vs)], **kw)


@pytest.fixture
def render(run, tmp_path):
    """render(doc, *formats) -> {format: text}; fails the test if faultline fails."""

    def _render(doc, *formats, expect_rc=0):
        src = tmp_path / "results.json"
        src.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        args = ["report", "render", src]
        outs = {}
        for f in formats:
            outs[f] = tmp_path / f"out.{f}"
            args += [f"--{f}", outs[f]]
        r = run(*args, timeout=120)
        assert r.returncode == expect_rc, r.stderr
        return {f: p.read_text(encoding="utf-8") for f, p in outs.items()}

    return _render


def xmllint_schema(path):
    if not shutil.which("xmllint"):
        pytest.skip("xmllint is not installed (apt-get install libxml2-utils)")
    return subprocess.run(["xmllint", "--noout", "--schema", str(XSD), str(path)],
                          capture_output=True, text=True)


# ---- command line ----


def test_usage_errors(run, tmp_path):
    r = run("report")
    assert r.returncode == 2 and "render" in r.stderr
    r = run("report", "render")
    assert r.returncode == 2 and "which results file" in r.stderr
    (tmp_path / "r.json").write_text(json.dumps(results([])))
    r = run("report", "render", "r.json")
    assert r.returncode == 2 and "nothing to render" in r.stderr
    r = run("report", "render", "r.json", "--pdf", "x")
    assert r.returncode == 2 and "--pdf" in r.stderr
    r = run("report", "render", "r.json", "--html")
    assert r.returncode == 2 and "--html" in r.stderr
    (tmp_path / "bad.json").write_text("{not json")
    r = run("report", "render", "bad.json", "--html", "x.html")
    assert r.returncode == 2 and "bad.json:1" in r.stderr
    r = run("report", "render", "missing.json", "--html", "x.html")
    assert r.returncode == 3
    (tmp_path / "arr.json").write_text("[1,2]")
    r = run("report", "render", "arr.json", "--html", "x.html")
    assert r.returncode == 2 and "not a results document" in r.stderr
    r = run("report", "history", "--limit", "0")
    assert r.returncode == 2 and "--limit" in r.stderr


def test_help_lists_every_registered_format(run):
    r = run("report", "--help")
    assert r.returncode == 0
    for f in ("html", "json", "junit", "markdown"):
        assert f"--{f}" in r.stdout


def test_stdout_and_equals_form(run, tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(every_verdict()))
    r = run("report", "render", "r.json", "--markdown=-")
    assert r.returncode == 0 and "# faultline scorecard" in r.stdout


# ---- json ----


def test_json_round_trips_every_sample(render):
    doc = every_verdict()
    out = render(doc, "json")["json"]
    assert json.loads(out) == doc
    assert out.startswith('{\n  "format": 1,\n  "faultline"')  # insertion order, indent 2
    # Rendering the rendered document gives the same bytes.
    again = render(json.loads(out), "json")["json"]
    assert again == out


# ---- junit ----


def junit(render, tmp_path, doc):
    text = render(doc, "junit")["junit"]
    r = xmllint_schema(tmp_path / "out.junit")
    assert r.returncode == 0, r.stderr + text[:2000]
    return ET.fromstring(text.encode("utf-8"))


def test_junit_maps_every_verdict(render, tmp_path):
    root = junit(render, tmp_path, every_verdict())
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"),
            root.get("skipped")) == ("6", "1", "1", "2")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["storage", "network", "process"]
    st = suites["storage"]
    assert (st.get("tests"), st.get("failures"), st.get("errors"), st.get("skipped")) == \
        ("3", "1", "1", "0")
    assert st.get("timestamp") == "2025-11-23T12:13:20" and st.get("hostname") == "testhost"
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["Pass experiment 0"].get("classname") == "storage"
    assert cases["Pass experiment 0"].get("file") == "experiments/exp-0.yaml"
    assert cases["Pass experiment 0"].find("failure") is None
    f = cases["Fail experiment 1"].find("failure")
    assert f.get("message") == "objective time_to_recover <= 2s not met: 3.4s"
    assert "integrity_check" in f.text
    assert cases["Error experiment 4"].find("error") is not None
    sk = cases["Xfail experiment 2"].find("skipped")
    assert sk.get("message") == "xfail: no fsync before rename yet"
    assert cases["Skip experiment 5"].find("skipped").get("message").startswith("kind netem")
    xp = cases["Xpass experiment 3"]
    assert xp.find("failure") is None and xp.find("skipped") is None
    props = {p.get("name"): p.get("value")
             for p in cases["Fail experiment 1"].find("properties")}
    assert props["seed"] == "1234" and props["time_to_recover_ms"] == "3400"
    assert props["availability"] == "0.8125" and props["verdict"] == "FAIL"
    assert "failover_ms" not in props  # null: not measured
    out = cases["Fail experiment 1"].find("system-out").text
    assert "probe health" in out and "80 samples, 65 ok, 15 failed" in out


def test_junit_strict_xpass_fails(render, tmp_path):
    root = junit(render, tmp_path, every_verdict(strict=True))
    assert root.get("failures") == "2"
    xp = [c for c in root.iter("testcase") if c.get("name") == "Xpass experiment 3"][0]
    assert "remove the xfail" in xp.find("failure").get("message")


def test_junit_empty_suite(render, tmp_path):
    root = junit(render, tmp_path, results([]))
    assert root.get("tests") == "0" and root.findall("testsuite") == []


def test_junit_escapes_titles(render, tmp_path):
    e = experiment("FAIL", 0, category="c<&>\"", title=EVIL, why=EVIL + "\x01\x7f")
    root = junit(render, tmp_path, results([e]))
    case = next(root.iter("testcase"))
    assert case.get("name") == EVIL and case.get("classname") == 'c<&>"'
    assert case.find("failure").get("message").startswith(EVIL)


def test_junit_reports_fired_faults(render, tmp_path):
    root = junit(render, tmp_path, fired_doc())
    cases = {c.get("name"): c for c in root.iter("testcase")}
    out = cases["Error experiment 0"].find("system-out").text
    assert "fault 1 corrupt: corrupt step 1 (1.00 s .. 2.00 s); fired 1: corrupted state.json\n" \
        in out
    assert "fault 2 rules: rules step 2 (3.00 s .. 3.10 s); never fired: rule 'fsync' " \
        "(io.sync:path=*nomatch*:errno=EIO) matched no call while on\n" in out
    assert "never fired: never fired" not in out
    # The ERROR's body, what a CI page shows when the test is opened, names the fault.
    body = cases["Error experiment 0"].find("error").text
    assert "\nfault 2 rules never fired: rule 'fsync'" in body and "fault 1" not in body
    out = cases["Pass experiment 1"].find("system-out").text
    assert "; fired 37: " + INJECTED + "\n" in out
    out = cases["Pass experiment 2"].find("system-out").text
    assert "; fired 3: 3 connections" in out and "; did not fire (allowed): " + EVIL in out
    assert "never fired" not in out
    # A document from before `fired` existed: the fault line as it always was.
    out = cases["Pass experiment 3"].find("system-out").text
    assert "fault 1 corrupt: corrupt state.json: truncate (3.33 s .. 4.83 s)\n" in out
    assert "fired" not in out


def test_junit_schema_rejects_wrong_documents(tmp_path):
    """The schema is not a rubber stamp."""
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="x" tests="one"><testcase/></testsuite>'
                   "</testsuites>")
    assert xmllint_schema(bad).returncode != 0


# ---- markdown ----


def test_markdown_scorecard(render):
    doc = every_verdict()
    doc["categories"] = [
        {"name": "storage", "scenarios": 3, "tested": 2, "protected": 1, "score": 0.5,
         "threshold": 0.9, "met": False},
        {"name": "network", "scenarios": 2, "tested": 2, "protected": 1, "score": 0.5},
        {"name": "process", "scenarios": 1, "tested": 0, "protected": 0, "score": None},
    ]
    md = render(doc, "markdown")["markdown"]
    assert "**6 experiments:** 1 passed, 1 failed, 1 errors, 1 expected failures" in md
    assert "| storage | 3 | 2 | 1 | 50.0% | 90.0% | **no** |" in md
    assert "| process | 1 | 0 | 0 | - | - | - |" in md
    gaps = md.split("## Gaps")[1].split("## Known gaps")[0]
    assert "FAIL **Fail experiment 1**" in gaps and "ERROR **Error experiment 4**" in gaps
    known = md.split("## Known gaps")[1].split("## Fixed")[0]
    assert "XFAIL **Xfail experiment 2**" in known and "no fsync before rename yet" in known
    assert "XPASS **Xpass experiment 3**" in md.split("## Fixed known gaps")[1]
    rec = md.split("## Recommendations")[1]
    assert "remove the xfail" in rec and "could not be carried out" in rec
    assert "category storage scores 50.0%, below its threshold of 90.0%" in rec


def test_markdown_computes_categories_when_missing(render):
    md = render(every_verdict(), "markdown")["markdown"]
    assert "| storage | 3 | 2 | 1 | 50.0% | - | - |" in md
    assert "| **all** | 6 | 4 | 2 | 50.0% | | |" in md


def test_markdown_recommendations_from_figures(render):
    e = experiment("PASS", 0)
    e["metrics"].update(time_to_recover_ms=12000, availability_during_faults=0.5,
                        error_rate=0.2)
    e["leaks"] = {"fds": {"before": 7, "after": 19, "limit": 0, "ok": False}}
    rec = render(results([e]), "markdown")["markdown"].split("## Recommendations")[1]
    assert "slow recovery (12.00 s" in rec
    assert "availability during faults was 50.0%" in rec
    assert "20.0% of load requests failed" in rec
    assert "leaks fds (7 before, 19 after)" in rec


def test_markdown_escapes_cells(render):
    e = experiment("FAIL", 0, category="a|b", title=EVIL, why="x|y\nz")
    md = render(results([e]), "markdown")["markdown"]
    row = [l for l in md.splitlines() if l.startswith("| a")][0]
    assert row.startswith("| a\\|b |") and row.count("|") - row.count("\\|") == 9
    assert "<b>" not in md and "\\<b\\>" in md and "x\\|y z" in md


def table_rows(md):
    """The scorecard's rows by category: {name: [cells]}."""
    card = md.split("## Scorecard")[1].split("## ")[0]
    return {cells[0]: cells[1:] for cells in
            ([c.strip() for c in line.strip("|").split(" | ")] for line in card.splitlines()
             if line.startswith("| ") and not line.startswith("| category"))}


def test_markdown_faults_fired_column(render):
    md = render(fired_doc(), "markdown")["markdown"]
    assert "| category | scenarios | tested | protected | score | threshold | met | " \
        "faults fired |" in md
    rows = table_rows(md)
    # Bold when a window never fired; one allowed not to fire is not flagged.
    assert rows["storage"][-1] == "**2/3**"
    assert rows["network"][-1] == "1/2"
    assert rows["process"][-1] == "-"  # an older experiment and one without faults
    assert rows["**all**"][-1] == "**3/5**"
    all_fired = results([experiment("PASS", 0, fired=4), experiment("PASS", 1, fired=1)])
    rows = table_rows(render(all_fired, "markdown")["markdown"])
    assert rows["storage"][-1] == "2/2" and rows["**all**"][-1] == "2/2"


def test_markdown_faults_section(render):
    md = render(fired_doc(), "markdown")["markdown"]
    assert md.index("## Scorecard") < md.index("## Faults") < md.index("## Gaps")
    sec = md.split("## Faults")[1].split("## Gaps")[0]
    lines = [l for l in sec.splitlines() if l.startswith("- ")]
    assert lines[0] == ("- **Error experiment 0** (`exp-0`): step 1 corrupt: fired 1; step 2 "
                        "rules: **never fired** (rule 'fsync' \\(io.sync:path=\\*nomatch\\*:"
                        "errno=EIO\\) matched no call while on)")
    assert lines[1] == "- **Pass experiment 1** (`exp-1`): step 1 rules: fired 37"
    assert lines[2].startswith("- **Pass experiment 2** (`exp-2`): step 1 toxic: fired 3; step 2 "
                               "toxic: did not fire (allowed) (\\<b\\>\\&amp;")
    assert "**never fired**" not in lines[2]
    # Not listed: the experiment without `fired` (an older faultline) and the one without faults.
    assert len(lines) == 3 and "exp-3" not in sec and "exp-4" not in sec
    assert "<b>" not in sec


def test_markdown_faults_section_caps_windows(render):
    fs = [fault(k, "kill", 1000 + k * 100, 1050 + k * 100, fired=k) for k in range(1, 12)]
    fs.append(fault(12, "rules", 3000, 3100, fired=0, effect=NEVER))
    md = render(results([experiment("ERROR", 0, faults=fs)]), "markdown")["markdown"]
    line = [l for l in md.split("## Faults")[1].splitlines() if l.startswith("- ")][0]
    assert line.count("step ") == 10 and "step 10 kill: fired 10;" in line
    assert "step 11" not in line and "**never fired**" not in line
    assert line.endswith("; and 2 more (1 never fired)")
    fs.append(fault(13, "toxic", 3000, 3100, fired=0, may_not_fire=True))
    md = render(results([experiment("ERROR", 0, faults=fs)]), "markdown")["markdown"]
    line = [l for l in md.split("## Faults")[1].splitlines() if l.startswith("- ")][0]
    assert line.endswith("; and 3 more (1 never fired, 1 did not fire (allowed))")
    assert table_rows(md)["storage"][-1] == "**11/13**"


def test_markdown_without_fired_faults(render):
    md = render(results([experiment("SKIP", 0)]), "markdown")["markdown"]
    assert "No faults were injected." in md.split("## Faults")[1].split("## Gaps")[0]
    # A document written before `fired` existed: nothing said to have fired or not.
    md = render(every_verdict(), "markdown")["markdown"]
    sec = md.split("## Faults")[1].split("## Gaps")[0]
    assert "do not record whether the faults took effect" in sec and "- " not in sec
    assert "No faults were injected." not in sec
    assert "never fired" not in md and "did not fire" not in md
    assert {cells[-1] for cells in table_rows(md).values()} == {"-"}


def test_markdown_empty_suite(render):
    md = render(results([]), "markdown")["markdown"]
    assert "**0 experiments:**" in md and "No experiments were run." in md


# ---- html ----


def test_html_self_contained_and_escaped(render):
    e = experiment("FAIL", 0, title=EVIL, category="<cat>")
    page = render(results([e, experiment("SKIP", 1)]), "html")["html"]
    assert page.startswith("<!DOCTYPE html>")
    low = page.lower()
    assert "<script" not in low and "http://" not in low.replace(
        "http://www.w3.org/2000/svg", "").replace("get http://127.0.0.1:8080/health", "")
    assert "src=" not in low and "@import" not in low
    assert "&lt;b&gt;&amp;amp; &quot;quoted&quot;" in page and "ü漢字 🚀" in page
    assert "&lt;cat&gt;" in page and "<cat>" not in page
    assert "prefers-color-scheme: dark" in page
    assert 'id="timeline-0"' in page and 'class="fw"' in page and 'class="mk-fail"' in page
    assert "<polyline" in page and "log scale" in page


def test_html_deterministic(render):
    doc = every_verdict()
    assert render(doc, "html")["html"] == render(doc, "html")["html"]


def test_html_huge_sample_counts_bounded(render, tmp_path):
    e = experiment("FAIL", 0, samples=200000, fail_at=(120000, 120003))
    out = render(results([e]), "html", "junit", "markdown")
    page = out["html"]
    assert len(page) < 400_000, len(page)
    assert "Downsampled: 200000 samples drawn as" in page
    # The three failed samples among 200000 still show as a red mark.
    assert 'class="mk-fail"' in page
    assert "200000 samples, 199997 ok, 3 failed" in out["junit"]


def test_html_empty_suite(render):
    page = render(results([]), "html")["html"]
    assert "No experiments were run." in page and "<svg" not in page


def fault_groups(section):
    """The timeline's fault windows of one experiment's section: [(class, inner text)]."""
    return re.findall(r'<g(?: class="([^"]*)")?><title>(fault .*?)</g>', section, re.S)


def sections(page):
    """{experiment index: its <section>}."""
    return {int(m.group(1)): m.group(2) for m in
            re.finditer(r'<section class="exp" id="exp-(\d+)">(.*?)</section>', page, re.S)}


def test_html_marks_unfired_windows(render):
    page = render(fired_doc(), "html")["html"]
    sec = sections(page)
    g = fault_groups(sec[0])
    assert [c for c, _ in g] == ["", "fault-unfired-never"]
    fired, never = g[0][1], g[1][1]
    # A window that fired keeps today's look, with the count and effect in its tooltip.
    assert 'class="fw"' in fired and 'class="fwl"' in fired and "-never" not in fired
    assert "\nfired 1 time: corrupted state.json</title>" in fired
    # One that never fired: unshaded, outlined, labelled, its effect in the tooltip.
    for cls in ("fw-never", "fwl-never", "fwe-never", "fwt-never"):
        assert f'class="{cls}"' in never
    assert 'class="fw"' not in never and ">rules: never fired</text>" in never
    assert "\nnever fired: rule &#39;fsync&#39; (io.sync:path=*nomatch*:errno=EIO) matched no " \
        "call while on" in never
    assert "\nrule fsync (io.sync:path=*nomatch*:errno=EIO): 0 injected of 0 seen" in never
    assert "Outlined in dashed red, unshaded: a fault that never fired" in sec[0]
    # The Faults table: the count, then the effect, never fired flagged.
    assert "<th>applied</th><th>fired</th>" in sec[0]
    assert '<td class="fired">1: corrupted state.json</td>' in sec[0]
    assert ('<td class="fired-never">0: <span class="met-no">never fired</span>: rule '
            "&#39;fsync&#39; (io.sync:path=*nomatch*:errno=EIO) matched no call while on</td>"
            in sec[0])
    assert "never fired: never fired" not in page
    # Allowed not to fire: the same look in grey, said so, the effect escaped.
    g = fault_groups(sec[2])
    assert [c for c, _ in g] == ["", "fault-unfired-allowed"]
    assert ">toxic: did not fire (allowed)</text>" in g[1][1] and 'class="fwl-allowed"' in g[1][1]
    assert "\n3 connections, 12288 bytes</title>" in g[0][1]
    assert "never fired" not in sec[2] and "Outlined in dashed grey" in sec[2]
    assert sec[2].count("&lt;b&gt;&amp;amp; &quot;quoted&quot;") == 2 and "<b>&amp;" not in page
    assert '<td class="fired-allowed">0: <span class="muted">did not fire (allowed)</span>' \
        in sec[2]
    # Everything fired: no unfired window, no note about one.
    assert "fault-unfired" not in sec[1] and "never fired" not in sec[1]
    assert "Outlined" not in sec[1] and '<td class="fired">37: 37 faults injected' in sec[1]
    # The scorecard's column, as in Markdown.
    assert "<th>met</th><th>faults fired</th>" in page
    assert '<span class="met-no">2/3</span>' in page and '<td class="n">1/2</td>' in page


def test_html_older_document_shows_nothing_about_firing(render):
    page = render(every_verdict(), "html")["html"]
    assert "fault-unfired" not in page and 'class="fwl-' not in page
    assert "never fired" not in page and "did not fire" not in page and "fired " not in page
    assert "<th>fired</th>" not in page and "faults fired" not in page
    assert "Outlined" not in page
    # An older experiment among newer ones: its own table has no fired column.
    sec = sections(render(fired_doc(), "html")["html"])
    assert "<th>fired</th>" not in sec[3] and [c for c, _ in fault_groups(sec[3])] == [""]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def chromium_run(args, tmp_path):
    home = tmp_path / "chromium-home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home))
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--disable-dev-shm-usage",
                           f"--user-data-dir={home}", *args],
                          capture_output=True, env=env, timeout=120)


def png_pixels(data):
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) to (w, h, rows of RGB tuples)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6)
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def test_html_chart_renders_in_chromium(render, tmp_path):
    chromium()
    doc = results([experiment("FAIL", 0)])
    render(doc, "html")
    page = tmp_path / "out.html"
    dom = chromium_run(["--dump-dom", page.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout.decode()
    assert 'id="timeline-0"' in text and "<polyline" in text and 'class="mk-fail"' in text
    shot = tmp_path / "shot.png"
    r = chromium_run(["--hide-scrollbars", "--window-size=1100,1400",
                      f"--screenshot={shot}", page.as_uri()], tmp_path)
    assert shot.exists(), r.stderr[-2000:]
    w, h, rows = png_pixels(shot.read_bytes())
    # The probe marks are drawn in saturated green (ok) and red (failed): both must appear,
    # which only happens if the SVG was laid out and painted with the page's CSS.
    green = red = 0
    for row in rows:
        for r_, g, b in row:
            if g > 100 and g > r_ + 50 and g > b + 40:
                green += 1
            elif r_ > 160 and r_ > g + 80 and r_ > b + 80:
                red += 1
    assert green > 200 and red > 50, (green, red)


def test_html_unfired_window_renders_in_chromium(render, tmp_path):
    """In the painted page a window that fired is shaded orange; one that never fired is not
    shaded at all but outlined in red: its edges are red lines down the whole chart."""
    chromium()

    def paint(doc, name):
        render(doc, "html")
        page = tmp_path / f"{name}.html"
        shutil.copy(tmp_path / "out.html", page)
        shot = tmp_path / f"{name}.png"
        r = chromium_run(["--hide-scrollbars", "--window-size=1100,2000",
                          f"--screenshot={shot}", page.as_uri()], tmp_path)
        assert shot.exists(), r.stderr[-2000:]
        w, _, rows = png_pixels(shot.read_bytes())
        orange, red_in_column = 0, [0] * w
        for row in rows:
            for x, (r_, g, b) in enumerate(row):
                if r_ > 200 and r_ - g > 60 and g - b > 40:
                    orange += 1
                elif r_ > 150 and r_ - g > 60 and r_ - b > 60 and abs(g - b) < 40:
                    red_in_column[x] += 1
        # Red text (a badge, "never fired" in the table) is short; a window's edge is tall.
        return orange, max(red_in_column)

    fired = paint(results([experiment("PASS", 0, fired=5, effect="hit 5 processes")]), "fired")
    never = paint(results([experiment("ERROR", 0, fired=0, effect=NEVER)]), "never")
    assert fired[0] > 1000 and never[0] < 50, (fired, never)
    assert never[1] > 100 and fired[1] < 40, (fired, never)


# ---- history ----


def record(run, db, doc, tmp_path, name="r.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    r = run("report", "record", p, "--db", db)
    assert r.returncode == 0, r.stderr


def test_history_records_and_shows_trend(run, tmp_path):
    db = tmp_path / "h" / "history.sqlite"
    for k, (v, avail, ttr) in enumerate([("FAIL", 0.81, 3400), ("FAIL", 0.9, 2500),
                                         ("PASS", 0.99, 900)]):
        e = experiment(v, 0, title="Settings <survive>")
        e["metrics"]["availability"] = avail
        e["metrics"]["time_to_recover_ms"] = ttr
        doc = results([e, experiment("SKIP", 1)], seed=100 + k)
        doc["started_ms"] = T0 + k * 3600_000
        record(run, db, doc, tmp_path)
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from runs").fetchone()[0] == 3
    assert con.execute("select count(*) from experiments").fetchone()[0] == 6
    assert con.execute("select seed from runs order by id").fetchall() == [(100,), (101,), (102,)]
    con.close()
    r = run("report", "history", "--db", db)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "exp-0" in out and "Settings <survive>" in out
    assert "FFP" in out
    assert "81.0%" in out and "99.0%" in out and "3.40 s" in out and "900 ms" in out
    r = run("report", "history", "--db", db, "--limit", "2")
    assert "FP" in r.stdout and "81.0%" not in r.stdout
    r = run("report", "history", "--db", db, "--html", tmp_path / "h.html")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "h.html").read_text()
    assert "Settings &lt;survive&gt;" in page and "<svg" in page and "<script" not in page


def test_history_default_db_in_state_dir(run, env, tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps(every_verdict()))
    assert run("report", "record", p).returncode == 0
    db = pathlib.Path(env["FAULTLINE_STATE_DIR"]) / "history.sqlite"
    assert db.exists()
    r = run("report", "history")
    assert r.returncode == 0 and "Fail experiment 1" in r.stdout


def test_history_empty_and_missing(run, tmp_path):
    r = run("report", "history", "--db", tmp_path / "new.sqlite")
    assert r.returncode == 0 and "no runs recorded" in r.stdout


def test_history_concurrent_records(faultline, env, tmp_path):
    db = tmp_path / "c.sqlite"
    p = tmp_path / "r.json"
    p.write_text(json.dumps(every_verdict()))
    procs = [subprocess.Popen([faultline, "report", "record", str(p), "--db", str(db)],
                              env=env, stderr=subprocess.PIPE) for _ in range(8)]
    for pr in procs:
        assert pr.wait(timeout=60) == 0, pr.stderr.read()
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from runs").fetchone()[0] == 8
    assert con.execute("select count(*) from experiments").fetchone()[0] == 48


def test_odd_documents_do_not_break_reports(render, tmp_path):
    """Fields of the wrong type, unknown verdicts, missing keys: every report still renders
    and the JUnit still validates (documents may come from other faultline versions)."""
    doc = {"experiments": [
        1, "x", {}, None,
        {"verdict": "WEIRD", "title": "odd", "series": "no", "metrics": [], "phases": [{}],
         "faults": [{"start_ms": 500}, {"fired": -1}, {"fired": "3"}, {"fired": True},
                    {"fired": 1e300}, {"fired": 0, "effect": 5, "rules": "no",
                                       "may_not_fire": "yes", "connections": "x"},
                    {"fired": 2.0, "rules": [1, {}, {"id": 5}], "bytes": -4}, 7],
         "objectives": [{}], "leaks": {"fds": {}},
         "log": [1, None, "line"]},
        {"verdict": "fail", "series": [{"samples": [{"t_ms": 5}, {}, {"ok": True,
                                                                     "latency_ms": -3}]}]},
    ], "categories": "nope", "seed": "abc"}
    out = render(doc, "junit", "markdown", "html", "json")
    assert xmllint_schema(tmp_path / "out.junit").returncode == 0
    assert "WEIRD" in out["html"] and "unknown verdict" in out["junit"]
    assert "| general |" in out["markdown"]
    # Only the two windows with a usable count say anything about firing.
    assert out["markdown"].count("never fired") == 1 and "| **1/2** |" in out["markdown"]


def test_report_run_twice_is_byte_identical(render):
    doc = every_verdict()
    first = render(doc, "junit", "markdown", "html")
    assert first == render(doc, "junit", "markdown", "html")

# SPDX-License-Identifier: MIT
"""The bundled demo suite (examples/demo/experiments against sensord) keeps its verdicts: the
careful service passes every scenario, the naive writer's torn-file gap stays a visible XFAIL,
and the reports it writes are complete."""
import json
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_demo_suite_verdicts_and_reports(run, tmp_path, build_dir):
    demo_bin = build_dir / "examples" / "demo"
    out = tmp_path / "results.json"
    html = tmp_path / "report.html"
    md = tmp_path / "scorecard.md"
    r = run("run", "--seed", "20261123", "--no-history", "--json", out, "--html", html,
            "--markdown", md, ROOT / "examples" / "demo" / "experiments", timeout=180,
            extra_env={"PATH": f"{demo_bin}:{os.environ['PATH']}"})
    doc = json.loads(out.read_text())
    verdicts = {e["id"]: e["verdict"] for e in doc["experiments"]}
    assert verdicts == {
        "network-latency": "PASS",
        "process-kill": "PASS",
        "storage-fsync-eio": "PASS",
        "storage-truncated": "PASS",
        "storage-truncated-naive": "XFAIL",
    }, [(e["id"], e["why"]) for e in doc["experiments"]]
    assert r.returncode == 0, r.stdout + r.stderr
    # every fault of every scenario took effect: none of these verdicts is vacuous
    for e in doc["experiments"]:
        assert e["faults"], e["id"]
        for f in e["faults"]:
            assert f["fired"] > 0 and not f.get("may_not_fire"), (e["id"], f)
    fsync = next(e for e in doc["experiments"] if e["id"] == "storage-fsync-eio")
    # the saves that failed are the fsyncs the rule failed (one each, give or take the
    # window's edges)
    injected = fsync["faults"][0]["rules"][0]["injected"]
    failed_saves = fsync["load"]["errors_by_kind"]["http_5xx"]
    assert injected > 0 and abs(injected - failed_saves) <= 2, (injected, failed_saves)
    assert "faults fired" in r.stdout and "never fired" not in r.stdout
    kill = next(e for e in doc["experiments"] if e["id"] == "process-kill")
    assert kill["restarts"] == 1 and kill["metrics"]["time_to_recover_ms"] <= 2000
    assert "<svg" in html.read_text()
    assert "storage" in md.read_text() and "naive writer" in md.read_text()


def test_demo_discovery_part_tells_the_writers_apart(run, tmp_path, build_dir):
    """Part 3 of the demo: `faultline sweep` on statekeeper, careful and naive, with the check
    the demo uses (a valid state holding the old count or the new). The careful writer must
    come out clean; the naive one must show its in-place rewrite (a kill mid-save leaves an
    empty file) and its unchecked write errors."""
    sk = str((build_dir / "examples" / "demo" / "statekeeper").resolve())
    template = tmp_path / "template"
    template.mkdir()
    (template / "state.json").write_text('{"count": 41}\n')
    check = (f"sh -c 'case $({sk} --check state.json) in \"valid count=41\"|\"valid count=42\") "
             f"exit 0;; *) {sk} --check state.json; exit 1;; esac'")
    found = {}
    for mode in ("careful", "naive"):
        out = tmp_path / f"{mode}.json"
        flag = ["--naive"] if mode == "naive" else []
        r = run("sweep", "-q", "--seed", "20261123", "--dir", template, "--check", check,
                "--json", out, "--", sk, *flag, "state.json", timeout=300)
        assert r.returncode in (0, 1), r.stderr
        doc = json.loads(out.read_text())
        assert doc["complete"] and doc["trials"] > 20
        found[mode] = {(f["kind"], f["effect"]) for f in doc["findings"]}
    assert found["careful"] == set(), found["careful"]
    assert ("check-failed-after-kill", "signal=SIGKILL") in found["naive"]
    assert any(k == "check-failed-silent" and e.startswith("errno=") for k, e in found["naive"])


def test_demo_power_loss_part_tells_the_writers_apart(run, tmp_path, build_dir):
    """Part 4 of the demo: `faultline crash` on statekeeper with the same check. The careful
    writer (temp, fsync, rename, directory fsync) must survive every state, under both models;
    the naive one (in place with stdio) must be caught rewriting in place."""
    sk = str((build_dir / "examples" / "demo" / "statekeeper").resolve())
    template = tmp_path / "template"
    template.mkdir()
    (template / "state.json").write_text('{"count": 41}\n')
    check = (f"sh -c 'case $({sk} --check state.json) in \"valid count=41\"|\"valid count=42\") "
             f"exit 0;; *) {sk} --check state.json; exit 1;; esac'")
    for model in ("posix", "ext4-ordered"):
        docs = {}
        for mode in ("careful", "naive"):
            out = tmp_path / f"{mode}-{model}.json"
            flag = ["--naive"] if mode == "naive" else []
            r = run("crash", "-q", "--model", model, "--dir", template, "--check", check,
                    "--json", out, "--", sk, *flag, "state.json", timeout=120)
            assert r.returncode == (1 if mode == "naive" else 0), r.stdout + r.stderr
            docs[mode] = json.loads(out.read_text())
        assert docs["careful"]["findings"] == [] and docs["careful"]["states_checked"] >= 3
        # the careful save really is fsync + rename + directory fsync, as recorded
        calls = " ".join(docs["careful"]["recorded_calls"])
        assert "rename(" in calls and 'fsync(directory' in calls, calls
        assert "in-place-rewrite" in {f["pattern"] for f in docs["naive"]["findings"]}

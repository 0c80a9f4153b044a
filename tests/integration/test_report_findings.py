# SPDX-License-Identifier: MIT
"""`faultline report render` on a sweep's findings document (`faultline sweep --json`): a real
sweep of a corpus program (tests/discovery/ledger-read-error-as-eof, whose buggy twin takes a
read error for the end of its ledger), cut short by --budget, under a program name made of
characters that mean something in HTML, XML, Markdown and the shell; the document rendered in
every format and checked against itself (every finding, its outcome, its repro line, its other
occurrences; the summary); the HTML parsed, the JUnit validated; a sweep of `true`, which has
nothing to break; and files that are neither a results document nor a sweep's findings."""
import json
import os
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from test_discovery_corpus import CASES, CORPUS, PY, substitute
from test_reports import xmllint_schema

CASE = "ledger-read-error-as-eof"
SEED = 20261207
BUDGET = 12  # of the 20-odd trials the plan has: the first findings, and a partial document
# the program's file name: markup in every format this document is rendered to
ODD_NAME = "led<b>&'\"`x|*_"


def faultline_env(tmp):
    e = dict(os.environ)
    e.update(FAULTLINE_STATE_DIR=str(tmp / "state"), NO_COLOR="1", LC_ALL="C")
    e.pop("LD_PRELOAD", None)
    e.pop("FAULTLINE_CTL", None)
    return e


def sweep(faultline, tmp, argv, *opts):
    """Run `faultline sweep -q --json` on argv in tmp: (document path, document, stdout)."""
    out = tmp / "sweep.json"
    r = subprocess.run([faultline, "sweep", "-q", "--json", str(out), "--seed", str(SEED),
                        "--timeout", "3s", *opts, "--", *argv], cwd=tmp, env=faultline_env(tmp),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), f"sweep exit {r.returncode}: {r.stderr}"
    return out, json.loads(out.read_text()), r.stdout


@pytest.fixture(scope="module")
def swept(faultline, tmp_path_factory):
    """One real sweep of the case's buggy program, shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("swept")
    case = CASES[CASE]
    exe = tmp / ODD_NAME
    r = subprocess.run(["cc", "-O1", "-g", "-Wall", "-o", str(exe), str(CORPUS / CASE / "buggy.c")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    subs = {"{case}": str(CORPUS / CASE), "{python}": PY}
    path, doc, stdout = sweep(faultline, tmp, [str(exe), *substitute(case["args"], subs)],
                              "-j", "1", "--budget", str(BUDGET),
                              "--setup", shlex.join(substitute(case["setup"], subs)),
                              "--check", shlex.join(substitute(case["check"], subs)))
    assert doc["findings"], f"the sweep found nothing in {BUDGET} trials: {stdout}"
    return path, doc, stdout


@pytest.fixture
def render(run, tmp_path):
    """render(document path, *formats) -> {format: text}; "text" is what render prints with
    no --FORMAT (the terminal view)."""

    def _render(src, *formats):
        got = {}
        outs = {f: tmp_path / f"out.{f}" for f in formats if f != "text"}
        if outs:
            args = ["report", "render", src]
            for f, p in outs.items():
                args += [f"--{f}", p]
            r = run(*args, timeout=60)
            assert r.returncode == 0, r.stderr
            got = {f: p.read_text(encoding="utf-8") for f, p in outs.items()}
        if "text" in formats:
            r = run("report", "render", src, timeout=60)
            assert r.returncode == 0, r.stderr
            got["text"] = r.stdout
        return got

    return _render


def html_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


class TagBalance(HTMLParser):
    """Every element that is not void is closed, in order; whatever is left over is an error."""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append((tag, self.getpos()))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> at {self.getpos()} closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(page, tmp_path):
    """The page is well-formed (html.parser, and xmllint --html when installed) and
    self-contained; returns its text."""
    p = TagBalance()
    p.feed(page)
    p.close()
    assert not p.errors and not p.stack, (p.errors, p.stack)
    low = page.lower()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in low and "src=" not in low
    if shutil.which("xmllint"):
        f = tmp_path / "page.html"
        f.write_text(page, encoding="utf-8")
        r = subprocess.run(["xmllint", "--html", "--noout", str(f)], capture_output=True,
                           text=True)
        # libxml2 parses HTML 4: the HTML5 elements the page uses are all it may object to
        errors = [l for l in r.stderr.splitlines() if "parser error" in l]
        assert all(re.search(r"Tag (section|details|summary) invalid", l) for l in errors), \
            r.stderr
    return "".join(p.text)


def md_code(s):
    """s as a CommonMark code span."""
    n = max((len(r) for r in re.findall(r"`+", s)), default=0) + 1
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return "`" * n + pad + s + pad + "`" * n


def md_fences(md):
    """The contents of the fenced code blocks of a Markdown text."""
    return [m.group(2) for m in re.finditer(r"^(`{3,})sh\n(.*?)\n\1$", md, re.S | re.M)]


# ---- a sweep with findings -----------------------------------------------------------------


def test_every_format_shows_every_finding(swept, render):
    path, doc, _ = swept
    out = render(path, "markdown", "html", "junit", "text")
    text_of_page = check_html(out["html"], path.parent)
    fences = md_fences(out["markdown"])
    for f in doc["findings"]:
        assert f["repro"] in out["text"] and f["repro"] in fences
        assert html_escape(f["repro"]) in out["html"] and f["repro"] in text_of_page
        assert f"{f['id']}  {f['kind']}: {f['call']} on {f['subject']}" in out["text"]
        assert f"### {f['id']}: {f['kind']}" in out["markdown"]
        assert f["site_hash"] in out["markdown"] and f["site_hash"] in text_of_page
        for also in f["also"]:
            for page in (out["text"], text_of_page):
                assert f"{also['occurrence']} ({also['rule']})" in page
    assert len(fences) == len(doc["findings"]) + len(doc["flaky"])
    # the replay result, for each
    assert out["markdown"].count("reproduced: the replay gave the same outcome") == \
        len(doc["findings"])
    assert any(f["also"] for f in doc["findings"]), "no finding with another occurrence"


def test_summary_says_what_ran(swept, render):
    path, doc, _ = swept
    out = render(path, "markdown", "html", "text")
    by_kind = {}
    for f in doc["findings"]:
        by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
    assert not doc["complete"] and doc["trials"] == BUDGET < doc["planned"]
    partial = f"(partial, {BUDGET} of {doc['planned']} planned trials)"
    assert out["text"].startswith(f"faultline sweep: {BUDGET} trials in ")
    assert f"seed {SEED} {partial}" in out["text"]
    # the command, quoted for a shell, in every format
    [cmd] = re.findall(r"^command: (.*)$", out["text"], re.M)
    assert shlex.split(cmd) == doc["command"]
    for kind, n in by_kind.items():
        assert f"{kind} {n}" in out["text"]
        assert f"| {kind} | {doc['outcomes'][kind]} | {n} |" in out["markdown"]
        assert f"{n} {kind}" in out["markdown"].split("\n\n")[1]
    assert f"Command {md_code(cmd)}, seed {SEED}, took " in out["markdown"]
    page = check_html(out["html"], path.parent)
    assert f"command {cmd} · seed {SEED} · took " in page and partial in page
    assert f"{len(doc['findings'])} finding" in page
    # the duration, as fl_fmt_ms writes it
    assert re.search(rf"seed {SEED}, took [0-9.]+ (ms|s)", out["markdown"])


def test_render_prints_what_the_sweep_printed(swept, render):
    """One renderer for the terminal: the sweep's own summary and `report render` agree."""
    path, _, stdout = swept
    assert render(path, "text")["text"] == stdout.lstrip("\n")


def test_html_escapes_what_the_document_says(swept, render):
    path, doc, _ = swept
    page = render(path, "html")["html"]
    check_html(page, path.parent)
    assert ODD_NAME not in page and html_escape(ODD_NAME) in page
    assert "led<b>" not in page and "led&lt;b&gt;&amp;&#39;&quot;`x|*_" in page


def test_markdown_keeps_the_repro_exact(swept, render):
    """The repro sits in a fenced block (a backtick in it cannot close the fence); the rest of
    the text is escaped, so the program's name cannot start markup."""
    path, doc, _ = swept
    md = render(path, "markdown")["markdown"]
    assert md_fences(md) == [f["repro"] for f in doc["findings"] + doc["flaky"]]
    # what is neither a fenced block nor a code span (in which nothing is markup) is escaped
    prose = re.sub(r"^(`{3,})sh\n.*?\n\1$", "", md, flags=re.S | re.M)
    prose = re.sub(r"(`+) .*? \1(?!`)|(`+)[^` ][^`]*?\2(?!`)", "", prose)
    assert "led<b>" not in prose and "led\\<b\\>\\&'\"\\`x\\|\\*\\_" in prose


def test_junit_has_a_failure_per_finding(swept, render, tmp_path):
    path, doc, _ = swept
    xml = render(path, "junit")["junit"]
    assert xmllint_schema(tmp_path / "out.junit").returncode == 0
    root = ET.fromstring(xml)
    n = len(doc["findings"])
    assert int(root.get("failures")) == n and int(root.get("errors")) == 0
    [suite] = root.findall("testsuite")
    assert int(suite.get("failures")) == n == len(suite.findall("testcase/failure"))
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert props["seed"] == str(SEED) and props["trials"] == str(BUDGET)
    assert shlex.split(props["command"]) == doc["command"]
    cases = {c.get("name").split(" ")[0]: c for c in suite.findall("testcase")}
    for f in doc["findings"]:
        c = cases[f["id"]]
        fail = c.find("failure")
        assert fail.get("type") == f["kind"] and c.get("classname") == f"sweep.{f['kind']}"
        assert f["repro"] in fail.text and f["check_output"].split("\n")[0] in fail.get("message")
        for also in f["also"]:
            assert also["rule"] in fail.text


def test_json_is_the_document_again(swept, render):
    path, doc, _ = swept
    assert json.loads(render(path, "json")["json"]) == doc


def test_flaky_findings_are_shown_but_do_not_fail(swept, render, tmp_path):
    """A replay that gives another outcome cannot be had on demand, so this document is the
    real one with its first finding moved to "flaky", as the sweep records one."""
    _, doc, _ = swept
    doc = json.loads(json.dumps(doc))
    f = doc["findings"].pop(0)
    f.pop("id")
    f["replay_kind"] = "handled"
    doc["flaky"].append(f)
    src = tmp_path / "flaky.json"
    src.write_text(json.dumps(doc))
    out = render(src, "markdown", "html", "junit", "text")
    assert "## Flaky" in out["markdown"] and "flaky: the replay gave handled" in out["markdown"]
    assert "1 flaky (a replay gave another outcome" in out["text"]
    assert f["repro"] in out["text"] and f["repro"] in md_fences(out["markdown"])
    check_html(out["html"], tmp_path)
    assert 'id="flaky-0"' in out["html"]
    assert xmllint_schema(tmp_path / "out.junit").returncode == 0
    root = ET.fromstring(out["junit"])
    assert int(root.get("failures")) == len(doc["findings"]) and int(root.get("skipped")) == 1
    [skipped] = root.findall("testsuite/testcase/skipped")
    assert "flaky: the replay gave handled" in skipped.get("message")


# ---- a sweep with nothing to find ----------------------------------------------------------


def test_a_sweep_of_true_is_a_clean_report(faultline, render, tmp_path):
    path, doc, stdout = sweep(faultline, tmp_path, ["true"])
    assert doc["findings"] == [] and doc["flaky"] == []
    out = render(path, "markdown", "html", "junit", "text")
    assert out["text"] == stdout.lstrip("\n") and "no finding" in out["text"]
    assert "None: every trial was ok or handled." in out["markdown"]
    assert "```" not in out["markdown"]
    assert "**0 findings**" in out["markdown"]
    page = check_html(out["html"], tmp_path)
    assert "None: every trial was ok or handled." in page and "<section" not in out["html"]
    assert xmllint_schema(tmp_path / "out.junit").returncode == 0
    root = ET.fromstring(out["junit"])
    assert root.get("tests") == "1" and root.get("failures") == "0" and root.get("errors") == "0"
    [case] = root.findall("testsuite/testcase")
    assert case.get("name") == "sweep" and case.find("failure") is None
    props = {p.get("name"): p.get("value") for p in case.findall("properties/property")}
    assert props == {"trials": str(doc["trials"])}
    assert f"{doc['trials']} trials, no finding" in case.find("system-out").text


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    '{"foo": 1}',
    '[1, 2]',
    '{"tool": "something else", "findings": []}',
    '{"experiments": {"a": 1}}',
])
def test_a_document_of_neither_kind_is_refused_in_one_line(run, tmp_path, text):
    (tmp_path / "odd.json").write_text(text)
    r = run("report", "render", "odd.json", "--html", "x.html")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "odd.json: not a results document or a sweep's findings" in r.stderr
    assert '"experiments" array' in r.stderr and '"tool": "faultline sweep"' in r.stderr
    assert not (tmp_path / "x.html").exists()


def test_malformed_json_names_the_file_and_the_place(run, tmp_path):
    (tmp_path / "cut.json").write_text('{"version": 1, "tool": "faultline sweep", "findings": [')
    r = run("report", "render", "cut.json", "--markdown", "-")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert re.search(r"cut\.json:1:\d+: ", r.stderr)


def test_a_sweep_has_no_history(run, swept, tmp_path):
    path, _, _ = swept
    r = run("report", "record", path, "--db", tmp_path / "h.sqlite")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "a sweep's findings, not a results document" in r.stderr
    assert not (tmp_path / "h.sqlite").exists()

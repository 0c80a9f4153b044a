# SPDX-License-Identifier: MIT
"""Bad input: one clear line on stderr, exit status 2 (usage), no usage text dumped, and nothing
started (the command would create a marker file; the journal stays empty)."""
import json
import re

import pytest

USAGE_WORDS = ("usage:", "commands:", "Exit status")


def one_line(stderr):
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {lines}"
    line = lines[0]
    for w in USAGE_WORDS:
        assert w not in line
    return line


def journal_empty(run):
    r = run("status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) == []


@pytest.fixture
def refused(run, victim, tmp_path):
    """refused(*inject_args) runs `faultline inject ARGS -- victim write MARKER 1` and checks
    that it was refused before anything started; returns the one stderr line."""

    def _refused(*args):
        marker = tmp_path / "marker"
        r = run("inject", *args, "--", victim, "write", marker, "1")
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert r.stdout == ""
        line = one_line(r.stderr)
        assert not marker.exists(), "the command was started"
        assert journal_empty(run)
        return line

    return _refused


# ---- one bad --rule -----------------------------------------------------------------------------

BAD_RULES = [
    # rule, column (None: any column), fragments the message must hold
    ("wrte:errno=EIO", 1, ["wrte", "did you mean 'write'"]),
    ("write:foo=1", 7, ["unknown key", "foo"]),
    ("write:errno=EFOO", 13, ["EFOO"]),
    ("write:delay=2", 13, ["unit"]),
    ("write:errno=EIO:drop", 17, ["impossible combination"]),
    ("fsync:short=50%", 7, ["short", "does not apply", "fsync"]),
    ("mem:path=x:errno=ENOMEM", 5, ["path", "does not apply", "mem"]),
    ("write:errno=EIO:nth=2:after=3", None, ["nth", "after"]),
]


@pytest.mark.parametrize("rule,col,fragments", BAD_RULES, ids=[b[0] for b in BAD_RULES])
def test_bad_rule_is_one_line_naming_rule_and_column(refused, rule, col, fragments):
    line = refused("-r", rule)
    assert f"'{rule}'" in line
    if col is None:
        assert re.search(r"\bcol \d+\b", line), line
    else:
        assert re.search(rf"\bcol {col}\b", line), line
    for f in fragments:
        assert f in line


def test_bad_rule_after_good_rules_names_the_bad_one(refused):
    line = refused("-r", "write:errno=EIO", "-r", "read:errno=EIO", "-r", "fsync:errno=EBOGUS")
    assert "'fsync:errno=EBOGUS'" in line
    assert re.search(r"\bcol 13\b", line)


def test_duplicate_id(refused):
    line = refused("-r", "write:errno=EIO:id=a", "-r", "read:errno=EIO:id=a")
    assert "'read:errno=EIO:id=a'" in line
    assert "'a'" in line
    assert re.search(r"\bcol \d+\b", line), line


def test_64_rules_are_refused(refused, inject, victim, tmp_path):
    args = []
    for i in range(1, 65):
        args += ["-r", f"write:path=*/nothing-{i}:errno=EIO"]
    line = refused(*args)
    assert "63" in line
    assert "'write:path=*/nothing-64:errno=EIO'" in line
    # 63 are fine
    r = inject([f"write:path=*/nothing-{i}:errno=EIO" for i in range(1, 64)],
               victim, "write", tmp_path / "ok", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["open 3", "write 1", "close 0"]


# ---- rules files --------------------------------------------------------------------------------


def test_rules_file_bad_line_names_file_line_and_column(refused, tmp_path):
    f = tmp_path / "rules.txt"
    f.write_text("# faults for the test\n\nread:errno=EBAR\nwrite:errno=EIO\n")
    line = refused("--rules", f)
    assert f"{f}:3:12:" in line, line
    assert "EBAR" in line


def test_rules_file_indented_bad_line(refused, tmp_path):
    f = tmp_path / "rules.txt"
    f.write_text("write:errno=EIO\n\n  read:errno=EBAR\n")
    line = refused("--rules", f)
    assert f"{f}:3:14:" in line, line


def test_rules_file_comments_and_blank_lines_are_fine(inject, victim, tmp_path):
    f = tmp_path / "rules.txt"
    f.write_text("# a comment\n\n   \n\t# indented comment\n"
                 "write:path=*/out:errno=ENOSPC   # trailing comment\n\n")
    r = inject([], victim, "write", tmp_path / "out", "4", opts=["--rules", f])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["open 3", "write -1 ENOSPC", "close 0"]
    assert r.stderr == ""


def test_missing_rules_file(refused, tmp_path):
    line = refused("--rules", tmp_path / "nosuch.rules")
    assert "nosuch.rules" in line


# ---- the command line itself --------------------------------------------------------------------


def test_no_command(run):
    r = run()
    assert r.returncode == 2
    one_line(r.stderr)
    assert r.stdout == ""


def test_unknown_command(run):
    r = run("nosuch")
    assert r.returncode == 2
    assert "nosuch" in one_line(r.stderr)
    assert r.stdout == ""


def test_inject_without_command(run):
    r = run("inject")
    assert r.returncode == 2
    one_line(r.stderr)
    r = run("inject", "-r", "write:errno=EIO")
    assert r.returncode == 2
    one_line(r.stderr)
    assert journal_empty(run)


def test_inject_unknown_option(run, victim, tmp_path):
    r = run("inject", "--nosuch", "--", victim, "write", tmp_path / "marker", "1")
    assert r.returncode == 2
    assert "--nosuch" in one_line(r.stderr)
    assert r.stdout == ""
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("opts", [["--timeout", "5"], ["--timeout", "0s"], ["--seed", "abc"],
                                  ["--kill-after", "x"]])
def test_inject_bad_option_values(refused, opts):
    refused("-r", "write:errno=EIO", *opts)


def test_help_rules_lists_every_family(run):
    r = run("help", "rules")
    assert r.returncode == 0
    families = ["io.open", "io.read", "io.write", "io.sync", "io.meta", "net.connect",
                "net.accept", "net.send", "net.recv", "dns", "mem", "time"]
    for fam in families:
        assert re.search(rf"^\s+{re.escape(fam)}\s", r.stdout, re.M), fam
    assert "63" in r.stdout


def test_version(run):
    r = run("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"faultline \d+\.\d+\.\d+\n", r.stdout)
    r2 = run("version")
    assert r2.returncode == 0
    assert r2.stdout == r.stdout


# ---- --ctl ----------------------------------------------------------------------------------------


def test_ctl_path_that_exists_is_refused_and_untouched(refused, tmp_path):
    existing = tmp_path / "precious"
    existing.write_text("do not touch\n")
    line = refused("-r", "write:errno=EIO", "--ctl", existing)
    assert "precious" in line
    assert existing.exists(), "inject removed a file it did not create"
    assert existing.read_text() == "do not touch\n"

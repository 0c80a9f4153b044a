# SPDX-License-Identifier: MIT
"""Shared fixtures for the integration tests: the real faultline binary, the victim programs,
and a private state directory per test, so tests never share a journal."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("FAULTLINE_BUILD", ROOT / "build"))


def _need(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run 'make build' first")
    return path


@pytest.fixture(scope="session")
def faultline() -> str:
    return str(_need(BUILD / "faultline"))


@pytest.fixture(scope="session")
def victim() -> str:
    return str(_need(BUILD / "tests" / "victims" / "victim"))


@pytest.fixture(scope="session")
def build_dir() -> pathlib.Path:
    return BUILD


@pytest.fixture
def env(tmp_path):
    """Environment for faultline: its own state dir, no colour, no inherited preload."""
    e = dict(os.environ)
    e["FAULTLINE_STATE_DIR"] = str(tmp_path / "state")
    e["NO_COLOR"] = "1"
    e.pop("LD_PRELOAD", None)
    e.pop("FAULTLINE_CTL", None)
    e["LC_ALL"] = "C"
    return e


@pytest.fixture
def run(faultline, env, tmp_path):
    """run(args..., timeout=30) -> CompletedProcess; runs `faultline ARGS` in tmp_path."""

    def _run(*args, timeout=30, input=None, cwd=None, extra_env=None):
        e = dict(env)
        if extra_env:
            e.update(extra_env)
        return subprocess.run(
            [faultline, *map(str, args)],
            cwd=cwd or tmp_path,
            env=e,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _run


@pytest.fixture
def inject(run):
    """inject(rules, *cmd, opts=[...]) -> CompletedProcess for faultline inject."""

    def _inject(rules, *cmd, opts=(), timeout=30, **kw):
        args = ["inject", "-q"]
        for r in rules:
            args += ["-r", r]
        args += list(opts)
        args += ["--", *cmd]
        return run(*args, timeout=timeout, **kw)

    return _inject


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


@pytest.fixture
def proxy(faultline, env):
    """A `faultline proxy` on an ephemeral port (tests/integration/proxyutil.py), stopped and
    checked to exit 0 after the test."""
    from proxyutil import Proxy

    p = Proxy(faultline, env=env)
    yield p
    assert p.stop() == 0


@pytest.fixture
def upstream():
    """A loopback echo server (proxyutil.Server) for the proxy tests to point proxies at."""
    from proxyutil import Server, echo

    s = Server(echo)
    yield s
    s.close()

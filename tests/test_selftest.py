"""``trance-finder --self-test``: passes end to end on a working install, fails loudly when a step breaks,
and never touches the user's folders."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trance_finder import selftest

ROOT = Path(__file__).resolve().parent.parent
STEP_LINE = re.compile(r"^\[(?P<tag> OK |FAIL|SKIP)\] (?P<title>.+?) — (?P<detail>.*) \((?P<secs>\d+\.\d) s\)$")


def step_lines(text: str) -> list[re.Match]:
    return [m for m in map(STEP_LINE.match, text.splitlines()) if m]


def user_dir_snapshot() -> dict[str, list[str]]:
    """Files under the (test-fixture) user folders: the self-test must leave them as they were."""
    out = {}
    for var in selftest.USER_DIR_VARS.values():
        folder = Path(os.environ[var])
        out[var] = sorted(str(p) for p in folder.rglob("*")) if folder.exists() else []
    return out


def test_step_line_format():
    ok = selftest.StepResult("train", "train + index", "OK", "9 tracks", 1.234)
    bad = selftest.StepResult("audio", "audio backend", "FAIL", "no PortAudio", 0.04)
    assert ok.line() == "[ OK ] train + index — 9 tracks (1.2 s)"
    assert bad.line() == "[FAIL] audio backend — no PortAudio (0.0 s)"
    assert all(step_lines(r.line()) for r in (ok, bad))


@pytest.mark.slow
def test_self_test_passes_in_process(tmp_path):
    env_before = {v: os.environ.get(v) for v in selftest.USER_DIR_VARS.values()}
    dirs_before = user_dir_snapshot()
    out = io.StringIO()
    code = selftest.run_self_test(stream=out, workdir=tmp_path)
    text = out.getvalue()
    lines = step_lines(text)
    assert code == 0, text
    assert [m["title"] for m in lines] == [s.title for s in selftest.STEPS], text
    assert all(m["tag"] == " OK " for m in lines), text
    assert "self-test passed" in text.splitlines()[-1]
    query = next(m for m in lines if m["title"] == "query")
    assert "itself first" in query["detail"]
    train = next(m for m in lines if m["title"] == "train + index")
    assert "12 tracks, 3 labels, 3 epochs" in train["detail"]  # the styles were really trained
    # the user folders were redirected into the temp folder, which is gone; the env is restored
    assert {v: os.environ.get(v) for v in selftest.USER_DIR_VARS.values()} == env_before
    assert user_dir_snapshot() == dirs_before
    assert list(tmp_path.iterdir()) == []


def test_injected_failure_fails_the_run_and_skips_dependents(tmp_path):
    out = io.StringIO()
    code = selftest.run_self_test(stream=out, fail="synth", workdir=tmp_path)
    text = out.getvalue()
    tags = {m["title"]: m["tag"] for m in step_lines(text)}
    assert code == 1, text
    assert tags["synthetic library"] == "FAIL"
    assert "injected failure" in text
    assert tags["train + index"] == tags["query"] == tags["main window"] == "SKIP"
    assert tags["numeric stack"] == tags["audio backend"] == " OK "  # independent steps still ran
    assert "self-test FAILED" in text.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_step_exception_becomes_a_fail_line(monkeypatch, tmp_path):
    def broken(ctx):
        raise OSError("PortAudio library not found")

    steps = tuple(selftest.Step(s.key, s.title, broken if s.key == "audio" else s.run, s.needs)
                  for s in selftest.STEPS if s.key in ("bundle", "folders", "audio"))
    monkeypatch.setattr(selftest, "STEPS", steps)
    out = io.StringIO()
    assert selftest.run_self_test(stream=out, workdir=tmp_path) == 1
    fail = [m for m in step_lines(out.getvalue()) if m["tag"] == "FAIL"]
    assert len(fail) == 1 and fail[0]["title"] == "audio backend"
    assert "OSError: PortAudio library not found" in fail[0]["detail"]


def test_cli_self_test_exits_non_zero_on_failure(tmp_path):
    """Through the real entry point (``python -m trance_finder --self-test``) in a fresh process."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", selftest.FAIL_ENV: "synth,audio",
           "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "trance_finder", "--self-test"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)
    lines = step_lines(proc.stdout)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(lines) == len(selftest.STEPS), proc.stdout
    assert {m["title"] for m in lines if m["tag"] == "FAIL"} == {"synthetic library", "audio backend"}
    assert "self-test FAILED" in proc.stdout

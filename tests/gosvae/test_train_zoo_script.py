"""``configs/train_zoo.sh``: order, skipping of trained entries, and first stages of two-stage recipes.

The script runs in a copy of the repository layout with a fake ``gosvae`` on ``PATH`` that only
records its arguments, so the test checks the script's decisions without training anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _config(name: str, out_dir: str, *, init_from: str | None = None) -> str:
    lines = ["task: teacher", f"name: {name}", "run:", f"  out_dir: {out_dir}"]
    if init_from:
        lines.insert(2, f"init_from: {init_from}")
    return "\n".join(lines) + "\n"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    (tmp_path / "configs" / "pilots").mkdir(parents=True)
    (tmp_path / "gosvae" / "zoo").mkdir(parents=True)
    shutil.copy(ROOT / "configs" / "train_zoo.sh", tmp_path / "configs" / "train_zoo.sh")
    (tmp_path / "configs" / "pilots" / "stage1.yaml").write_text(_config("stage-one", "runs/stage1"))
    (tmp_path / "configs" / "two_stage.yaml").write_text(_config("two-stage", "runs/two", init_from="runs/stage1"))
    (tmp_path / "configs" / "pilots" / "stage2.yaml").write_text(_config("stage-two", "runs/stage2", init_from="runs/stage1"))
    (tmp_path / "configs" / "three_stage.yaml").write_text(_config("three-stage", "runs/three", init_from="runs/stage2"))
    (tmp_path / "configs" / "single.yaml").write_text(_config("single", "runs/single"))
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # The fake records each call; python on PATH is the one running the tests (it has PyYAML).
    (fake_bin / "gosvae").write_text(f'#!/bin/bash\necho "$*" >> "{tmp_path}/calls.txt"\n')
    (fake_bin / "gosvae").chmod(0o755)
    (fake_bin / "python").symlink_to(sys.executable)
    return tmp_path


def _run(repo: Path, *stems: str) -> list[str]:
    env = {**os.environ, "PATH": f"{repo / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("THREADS", None)
    subprocess.run(["bash", str(repo / "configs" / "train_zoo.sh"), *stems], check=True, env=env, capture_output=True)
    calls = repo / "calls.txt"
    return calls.read_text().splitlines() if calls.is_file() else []


def test_first_stage_is_trained_before_the_config_that_starts_from_it(repo):
    calls = _run(repo, "two_stage", "single")
    assert calls == [
        "train configs/pilots/stage1.yaml",
        "train configs/two_stage.yaml --export-zoo",
        "train configs/single.yaml --export-zoo",
    ]


def test_stages_of_a_chain_are_trained_in_order(repo):
    assert _run(repo, "three_stage") == [
        "train configs/pilots/stage1.yaml",
        "train configs/pilots/stage2.yaml",
        "train configs/three_stage.yaml --export-zoo",
    ]
    (repo / "calls.txt").unlink()
    (repo / "runs" / "stage2").mkdir(parents=True)
    (repo / "runs" / "stage2" / "final.json").write_text("{}")
    assert _run(repo, "three_stage") == ["train configs/three_stage.yaml --export-zoo"]


def test_finished_first_stage_and_zoo_entries_are_skipped(repo):
    (repo / "runs" / "stage1").mkdir(parents=True)
    (repo / "runs" / "stage1" / "final.json").write_text("{}")
    (repo / "gosvae" / "zoo" / "single.json").write_text("{}")
    assert _run(repo, "two_stage", "single") == ["train configs/two_stage.yaml --export-zoo"]
    (repo / "gosvae" / "zoo" / "two-stage.json").write_text("{}")
    (repo / "calls.txt").unlink()
    assert _run(repo, "two_stage", "single") == []


def test_interrupted_runs_resume(repo):
    for folder in ("stage1", "two"):
        (repo / "runs" / folder).mkdir(parents=True)
        (repo / "runs" / folder / "checkpoint.pt").write_bytes(b"")
    assert _run(repo, "two_stage") == [
        "train configs/pilots/stage1.yaml --resume",
        "train configs/two_stage.yaml --export-zoo --resume",
    ]

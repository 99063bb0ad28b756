"""``simulate --device``: a device this machine cannot use is a one-line error before any work."""

from __future__ import annotations

import pytest
import torch

import simulation.session
from simulation.cli import main


@pytest.fixture
def no_session(monkeypatch):
    """Any attempt to run a session fails the test: the device must be refused first."""

    def refuse(**_: object) -> int:
        raise AssertionError("run_session was called")

    monkeypatch.setattr(simulation.session, "run_session", refuse)


def test_cuda_without_cuda_is_one_line_naming_the_option(monkeypatch, capsys, tmp_path, no_session):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # the scenario does not exist: the device is checked before the file is read
    code = main([str(tmp_path / "missing.yaml"), "--device", "cuda", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["error: --device: 'cuda' asked for, but this torch build sees no CUDA GPU "
                   "(torch.cuda.is_available() is False; use cpu)"]
    assert not (tmp_path / "out").exists()


def test_malformed_device_is_one_line(capsys, tmp_path, no_session):
    assert main([str(tmp_path / "missing.yaml"), "--device", "gpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: --device: expected 'cpu', 'cuda' or 'cuda:N', got 'gpu'"]


def test_missing_gpu_index_is_one_line(monkeypatch, capsys, tmp_path, no_session):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert main([str(tmp_path / "missing.yaml"), "--device", "cuda:3"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --device: 'cuda:3' asked for, but only 1 CUDA device(s) exist"]

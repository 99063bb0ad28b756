"""Fixtures shared by the scenario and ``simulate`` tests: the tiny test zoo.

A module opts in with ``pytestmark = pytest.mark.usefixtures("tiny_zoo_env")``; ``zoo_dir`` is the
folder (written once per session by :func:`simulation.testing.write_tiny_zoo`, read-only afterwards).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation.testing import write_tiny_zoo


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    write_tiny_zoo(folder)
    return folder


@pytest.fixture
def tiny_zoo_env(zoo_dir, monkeypatch):
    """``GOSVAE_ZOO_PATH`` points at the tiny zoo for the test."""
    monkeypatch.setenv("GOSVAE_ZOO_PATH", str(zoo_dir))

"""``simulate --executor ray``: a Ray head on 127.0.0.1 with 2 CPUs, the tiny scenario, a killed worker.

The Ray test starts its own head (``ray start --head --block`` on a free port, loopback only, no
dashboard, autoscaler monitor or log monitor, no telemetry, no auth token) and stops it by its process group at the end. It checks that
the Ray table equals the in-process table, that a worker killed in the middle of a point (it sends
itself SIGKILL: ``RayExecutor(kill_during=KEY)``) costs a retry
and nothing else (no lost point, no point written twice), and that ``--resume`` continues a Ray run.
Skipped when Ray is not installed (``pip install -e ".[ray]"``).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from simulation.cli import main
from simulation.results import TIME_COLUMNS
from simulation.session import run_session
from simulation.testing import TINY_CODECS, tiny_scenario

SNR = [-5, 1, 1.5, 30]
CODECS = [{"name": TINY_CODECS[0], "rows_per_slice": 2}, {"name": TINY_CODECS[1], "rows_per_slice": 1}]
#: Loopback only, no token (a throwaway head), no usage reports: for the head and for this process.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


pytestmark = pytest.mark.usefixtures("tiny_zoo_env")


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_scenario(codecs=CODECS, snr_db=SNR, num_images=3), sort_keys=False))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(handle)]


def test_without_ray_the_executor_is_one_line_naming_the_extra(scenario_file, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    assert main([str(scenario_file), "--executor", "ray"]) == 2
    assert capsys.readouterr().err == 'error: --executor ray: Ray is not installed; install the extra: pip install -e ".[ray]"\n'
    assert main([str(scenario_file), "--workers", "2"]) == 2
    assert capsys.readouterr().err == "error: --address and --workers need --executor ray\n"


@pytest.fixture(scope="module")
def ray_head(zoo_dir, tmp_path_factory):
    """A Ray head on 127.0.0.1 with 2 CPUs (its workers see the tiny zoo); yields its address."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in RAY_ENV.items():
            patch.setenv(name, value)  # before Ray is imported: it reads them then
        pytest.importorskip("ray")
        env = {**os.environ, "GOSVAE_ZOO_PATH": str(zoo_dir), "OMP_NUM_THREADS": "1"}
        folder = tmp_path_factory.mktemp("ray_head")
        for attempt in range(3):  # ray start gives its raylet 30 s to register: a loaded machine may need another try
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--port", str(port),
                       "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats",
                       "--no-monitor", "--include-log-monitor=false"]  # fewer processes to start
            log = folder / f"head{attempt}.log"
            with open(log, "w") as handle:
                head = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
            if _started(log, head):
                break
            _stop(head)
        else:
            pytest.fail(f"ray start --head failed 3 times; the last said: {log.read_text()[-2000:]}")
        try:
            yield f"127.0.0.1:{port}"
        finally:
            _stop(head)


def _started(log: Path, head: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Whether ``ray start`` says the runtime (GCS, raylet) is up within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and head.poll() is None:
        if "Ray runtime started" in log.read_text():
            return True
        time.sleep(0.5)
    return False


def _stop(head: subprocess.Popen) -> None:
    """Stop the head's process group (the head, its GCS and raylet): TERM, then KILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            return
        try:
            head.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.ray
def test_ray_sweep_equals_in_process_survives_a_killed_worker_and_resumes(ray_head, scenario_file, tmp_path, capsys):
    assert main([str(scenario_file), "--out", str(tmp_path / "inprocess")]) == 0
    reference = read_csv(tmp_path / "inprocess" / "results.csv")
    assert len(reference) == len(CODECS) * len(SNR)

    # 5 points on 2 workers; the worker running the 3rd point kills its own process (SIGKILL) in the middle of it
    dispatched: list[tuple[int | None, str]] = []
    killed = [reference[2]["key"]]
    out = tmp_path / "ray"
    capsys.readouterr()
    assert run_session(scenario_path=str(scenario_file), out=str(out), executor="ray", address=ray_head, max_points=5,
                       progress=True, executor_options={"kill_during": killed[0],
                                                        "on_dispatch": lambda _, pid, p: dispatched.append((pid, p.key))}) == 0
    stdout, stderr = capsys.readouterr()
    assert f"died during point {killed[0]}" in stdout and "the point runs again" in stdout
    assert "5/5" in stderr  # the progress bar counts the points finished on every worker
    rows = read_csv(out / "results.csv")
    assert [r["key"] for r in rows] == [r["key"] for r in reference[:5]]  # each point once, in point order
    assert rows == reference[:5]
    tries = [pid for pid, key in dispatched if key == killed[0]]
    assert len(tries) == 2 and len(dispatched) == 6  # the killed point ran twice, every other point once
    executor = json.loads((out / "manifest.json").read_text())["executor"]
    assert executor["name"] == "ray" and executor["workers"] == 2 and executor["worker_deaths"] == 1
    assert [r["key"] for r in executor["retries"]] == killed and executor["duplicates_dropped"] == 0
    counters = json.loads((out / "results.json").read_text())["counters"]
    assert counters["points"] == 5  # the killed try is not counted

    # the rest, through the command line, joining the same cluster
    assert main([str(scenario_file), "--out", str(out), "--resume", "--executor", "ray", "--address", ray_head]) == 0
    assert read_csv(out / "results.csv") == reference
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["points_done_before"] == 5 and manifest["counters"]["points"] == 3
    data = json.loads((out / "results.json").read_text())
    assert data["clean"] == json.loads((tmp_path / "inprocess" / "results.json").read_text())["clean"]

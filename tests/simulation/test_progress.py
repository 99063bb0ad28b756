"""Progress of ``simulate``: a tqdm bar on a terminal, one plain flushed line per point otherwise."""

from __future__ import annotations

import io
import re

import pytest
import yaml

from simulation.cli import main
from simulation.progress import format_duration, progress_line, track_points
from simulation.testing import tiny_scenario


class FakeClock:
    """Returns the given times one after the other."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


class FlushCountingStream(io.StringIO):
    """A non-terminal stream that records what was in it at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        super().flush()
        self.flushed.append(self.getvalue())


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def rows(*keys: str) -> list[dict[str, str]]:
    return [{"key": key} for key in keys]


def test_format_duration():
    assert format_duration(0) == "0:00:00"
    assert format_duration(3725.4) == "1:02:05"
    assert format_duration(float("nan")) == "?"


def test_progress_line_has_counts_elapsed_eta_and_key():
    line = progress_line(desc="awgn", done=3, total=12, elapsed=30.0, key="codec=a;snr_db=4")
    assert line == "awgn: point 3/12 done (25%), elapsed 0:00:30, ETA 0:01:30, codec=a;snr_db=4"


def test_not_a_terminal_gives_one_flushed_line_per_point():
    stream = FlushCountingStream()
    clock = FakeClock(100.0, 110.0, 130.0)  # start, then one reading per finished point
    seen = []
    for row in track_points(iter(rows("k=1", "k=2")), total=2, desc="s", stream=stream, clock=clock):
        seen.append((row["key"], stream.getvalue()))  # the line is out before the caller gets the row
    assert seen[0] == ("k=1", "s: point 1/2 done (50%), elapsed 0:00:10, ETA 0:00:10, k=1\n")
    assert stream.getvalue().splitlines() == [
        "s: point 1/2 done (50%), elapsed 0:00:10, ETA 0:00:10, k=1",
        "s: point 2/2 done (100%), elapsed 0:00:30, ETA 0:00:00, k=2",
    ]
    assert stream.flushed[:2] == [seen[0][1], stream.getvalue()]


def test_terminal_keeps_the_tqdm_bar():
    stream = TerminalStream()
    assert list(track_points(iter(rows("k=1", "k=2")), total=2, desc="s", stream=stream)) == rows("k=1", "k=2")
    text = stream.getvalue()
    assert "\r" in text and "2/2" in text and "point" in text and "done (" not in text


def test_disabled_reports_nothing():
    stream = io.StringIO()
    assert list(track_points(iter(rows("k=1")), total=1, desc="s", enabled=False, stream=stream)) == rows("k=1")
    assert stream.getvalue() == ""


@pytest.mark.usefixtures("tiny_zoo_env")
def test_simulate_with_stderr_redirected_reports_every_point(tmp_path, capsys):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(tiny_scenario(name="prog", num_images=1, snr_db=[-5, 30]), sort_keys=False))
    assert main([str(scenario), "--out", str(tmp_path / "out")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("prog: point")]
    assert len(lines) == 2
    pattern = r"prog: point {}/2 done \(\d+%\), elapsed \d+:\d\d:\d\d, ETA (\d+:\d\d:\d\d|\?), codec=\S+;snr_db={}"
    assert re.fullmatch(pattern.format(1, "-5"), lines[0]) and re.fullmatch(pattern.format(2, "30"), lines[1])

"""Where the points of a sweep run: in this process (the default) or on a Ray cluster.

An executor turns the unfinished points of a scenario into result rows; :func:`simulation.session.run_session`
writes each row the moment it comes back, whatever the executor. Every executor offers:

- ``prepare()``: load images, teacher and codecs and encode the images (once per process that runs points);
- ``summary()``: the run-wide sections of ``results.json`` (clean-channel scores, teacher on the originals,
  label space);
- ``run(points)``: yields one result row per point as each finishes (any order; each point exactly once);
- ``counters`` and ``stage_seconds``: the work done, as :class:`~simulation.runner.Runner` counts it;
- ``describe()``: what the manifest records about the executor (``None``: nothing);
- use as a context manager (``close()`` frees what it started).

:class:`InProcessExecutor` runs the points one after the other with one :class:`~simulation.runner.Runner`;
:class:`simulation.ray_executor.RayExecutor` spreads them over Ray actors.

Example
-------
>>> with make_executor("inprocess", loaded, runner_options={"reuse": True}) as executor:  # doctest: +SKIP
...     executor.prepare()
...     rows = list(executor.run(loaded.points))
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from gosvae.errors import UserError
from simulation.runner import RunCounters, Runner
from simulation.scenario import LoadedScenario
from simulation.sweep import SweepPoint

__all__ = ["EXECUTORS", "InProcessExecutor", "add_counters", "make_executor", "sort_results_csv"]

#: Names accepted by ``simulate --executor``.
EXECUTORS = ("inprocess", "ray")


class InProcessExecutor:
    """Runs every point in this process with one :class:`~simulation.runner.Runner`, in order.

    Parameters
    ----------
    runner : Runner
        The runner of the scenario (not yet prepared).
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def __enter__(self) -> "InProcessExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to free."""

    def prepare(self) -> None:
        self.runner.prepare()

    def summary(self) -> dict[str, Any]:
        return {"clean": self.runner.clean_summary(), "teacher_on_original": self.runner.teacher_reference(),
                "label_space": self.runner.label_space_text}

    def run(self, points: Sequence[SweepPoint]) -> Iterator[dict[str, Any]]:
        for point in points:
            yield self.runner.run_point(point)

    @property
    def counters(self) -> RunCounters:
        return self.runner.counters

    @property
    def stage_seconds(self) -> dict[str, float]:
        return self.runner.stage_seconds

    def describe(self) -> dict[str, Any] | None:
        return None  # the manifest of an in-process run stays as it always was


def make_executor(
    name: str,
    loaded: LoadedScenario,
    *,
    runner_options: Mapping[str, Any],
    address: str | None = None,
    workers: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """The executor called ``name`` (one of :data:`EXECUTORS`) for ``loaded``.

    ``runner_options`` are the keyword options of :class:`~simulation.runner.Runner` (``reuse``,
    ``device``, ``batch_size``, ``progress``); ``address`` and ``workers`` only apply to ``ray``;
    ``options`` are passed on to the executor class (tests: ``on_dispatch``).
    """
    if name == "inprocess":
        if address is not None or workers is not None:
            raise UserError("--address and --workers need --executor ray")
        return InProcessExecutor(Runner(loaded, **runner_options))
    if name == "ray":
        from simulation.ray_executor import RayExecutor  # imports ray itself only when it starts

        return RayExecutor(loaded, runner_options=runner_options, address=address, workers=workers, **dict(options or {}))
    raise UserError(f"--executor: unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")


def add_counters(total: RunCounters, part: RunCounters) -> None:
    """Add the work counted in ``part`` (one point on some worker) to ``total``, in place: every
    numeric field is summed, every dict field (``link_stages``) summed key by key."""
    for item in dataclasses.fields(part):
        value = getattr(part, item.name)
        if isinstance(value, dict):
            merged = getattr(total, item.name)
            for key, seconds in value.items():
                merged[key] = merged.get(key, 0.0) + seconds
        else:
            setattr(total, item.name, getattr(total, item.name) + value)


def sort_results_csv(path: Path) -> None:
    """Rewrite ``results.csv`` with its rows in point order (the ``point`` column), atomically.

    The rows keep their text exactly; only their order changes (an executor that finishes points
    out of order leaves the same file as an in-process run). Temporary file, fsync, rename.
    """
    path = Path(path)
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    if len(lines) < 3:
        return
    header = next(csv.reader([lines[0]]))
    column = header.index("point")
    body = sorted(lines[1:], key=lambda line: int(next(csv.reader([line]))[column]))
    if body == lines[1:]:
        return
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(lines[0] + "".join(body))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)

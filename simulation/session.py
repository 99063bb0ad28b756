"""One ``simulate`` session: validate, prepare, run the unfinished points, write every result file.

Order of work: the scenario is validated completely (nothing runs on a bad file); the output
folder is checked (a non-empty folder needs ``--resume``; on resume, its resolved scenario must
match); the runner loads and encodes everything; only then are the files of the folder written
and the points run, each row saved the moment its point ends.

Where the points run is the executor's business (:mod:`simulation.executors`): in this process by
default, or on a Ray cluster (``executor="ray"``, :mod:`simulation.ray_executor`), which hands the
rows back as its workers finish them; they are written the same way, and ``results.csv`` is put
back in point order at the end. Either way each finished point is reported by
:func:`simulation.progress.track_points` (a bar on a terminal, else a line per point on stderr).

Example
-------
>>> run_session(scenario_path="scenarios/awgn.yaml", out="runs/simulate/awgn", resume=False,
...             num_images=4)                                                   # doctest: +SKIP
0
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from gosvae.errors import UserError
from simulation.executors import make_executor, sort_results_csv
from simulation.plots import write_plots
from simulation.progress import track_points
from simulation.report import summary_table
from simulation.results import (
    MANIFEST_JSON,
    RESULTS_CSV,
    RESULTS_JSON,
    ResultsWriter,
    base_manifest,
    check_out_dir,
    check_resolved_scenario,
    now_iso,
    read_results_csv,
    result_columns,
    snr_definition_text,
)
from simulation.runner import DEFAULT_BATCH_SIZE
from simulation.scenario import LoadedScenario, load_scenario
from simulation.sweep import SweepPoint, resolve_link

__all__ = ["run_session"]


def snr_definitions(loaded: LoadedScenario) -> list[str]:
    """Every ``snr_definition`` used by the points (usually one)."""
    found = {resolve_link(loaded.scenario.link, p.overrides).snr_definition for p in loaded.points}
    return sorted(found)


def run_session(
    *,
    scenario_path: str,
    out: str | None = None,
    resume: bool = False,
    num_images: int | None = None,
    allow_large: bool = False,
    device: str = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    reuse: bool = True,
    max_points: int | None = None,
    argv: Sequence[str] = (),
    progress: bool | None = None,
    executor: str = "inprocess",
    address: str | None = None,
    workers: int | None = None,
    executor_options: Mapping[str, Any] | None = None,
) -> int:
    """Run (or continue) a scenario; returns the exit code (0). See :mod:`simulation.cli` for the options.

    ``allow_large`` lifts the cap on points x images (:mod:`simulation.scenario_checks`).
    ``max_points`` stops after that many newly finished points (as if the run were killed).
    ``executor`` (``inprocess`` or ``ray``), ``address`` and ``workers`` choose where the points run
    (:func:`simulation.executors.make_executor`; ``executor_options`` go to the executor class).
    """
    loaded = load_scenario(scenario_path, num_images=num_images, allow_large=allow_large)
    plan = _plan_session(loaded, out=out, resume=resume, max_points=max_points)
    _announce(plan)
    runner_options = {"reuse": reuse, "device": device, "batch_size": batch_size, "progress": progress}
    with _prepared_executor(plan, executor, runner_options, address=address, workers=workers,
                            options=executor_options) as runner:
        writer, manifest = _start_files(plan, runner, resume=resume, scenario_path=scenario_path, device=device,
                                        reuse=reuse, argv=argv)
        rows = _run_points(plan, runner, writer, progress=progress)
        plots = _finish_files(plan, runner, writer, manifest, rows)
        _print_report(plan, runner, rows, plots)
        return 0


@dataclass(frozen=True)
class _Plan:
    """What a session works on: the validated scenario, its output folder, the rows already there
    (on resume) and the points to run, with the values every later step shares."""

    loaded: LoadedScenario
    out_dir: Path
    resolved: dict[str, Any]
    columns: list[str]
    done: list[dict[str, Any]]
    todo: list[SweepPoint]
    definitions: list[str]  # snr_definitions(loaded), computed once

    @property
    def points(self) -> list[SweepPoint]:
        return self.loaded.points


def _plan_session(loaded: LoadedScenario, *, out: str | None, resume: bool, max_points: int | None) -> _Plan:
    """Check the output folder (a non-empty one needs ``resume``), read the rows a resumed run
    already has and choose the points to run (at most ``max_points``)."""
    out_dir = Path(out) if out else Path("runs") / "simulate" / loaded.scenario.name
    check_out_dir(out_dir, resume=resume)
    resolved = loaded.resolved()
    columns = result_columns(loaded.swept_paths)
    done = _done_rows(loaded, out_dir, resolved, columns) if resume else []
    done_keys = {r["key"] for r in done}
    todo = [p for p in loaded.points if p.key not in done_keys]
    if max_points is not None:
        todo = todo[:max_points]
    return _Plan(loaded, out_dir, resolved, columns, done, todo, snr_definitions(loaded))


def _done_rows(loaded: LoadedScenario, out_dir: Path, resolved: dict[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    """On resume, the rows of ``results.csv`` (typed like fresh rows), or none when the folder holds
    no resolved scenario yet; the folder's resolved scenario must match ``resolved``."""
    if not check_resolved_scenario(out_dir, resolved):
        return []
    done = read_results_csv(out_dir / RESULTS_CSV, columns)
    by_key = {p.key: p for p in loaded.points}
    for row in done:
        point = by_key.get(str(row["key"]))
        if point is None:
            raise UserError(f"--resume: {out_dir / RESULTS_CSV} has a row for point {row['key']!r}, which this scenario does not have")
        row.update(key=point.key, codec=point.codec, **dict(point.values))  # typed values, not CSV text
    return done


@contextmanager
def _prepared_executor(plan: _Plan, executor: str, runner_options: dict[str, Any], *, address: str | None,
                       workers: int | None, options: Mapping[str, Any] | None) -> Iterator[Any]:
    """Build the executor that runs the points (:func:`simulation.executors.make_executor`) and, when
    there are points to run, prepare it (models loaded, images encoded); closed on leaving."""
    with make_executor(executor, plan.loaded, runner_options=runner_options, address=address, workers=workers,
                       options=options) as runner:
        if plan.todo:
            runner.prepare()
        yield runner


def _announce(plan: _Plan) -> None:
    """Print the session's first line: points, codecs, images, points already done, output folder."""
    scenario, points, done = plan.loaded.scenario, plan.points, plan.done
    print(
        f"simulate {scenario.name}: {len(points)} points ({len(scenario.codecs)} codec(s) x "
        f"{len(points) // len(scenario.codecs)} settings), {scenario.dataset.num_images} images"
        + (f"; {len(done)} already done" if done else "") + f"; out {plan.out_dir}",
        flush=True,
    )


def _start_files(plan: _Plan, runner: Any, *, resume: bool, scenario_path: str, device: str, reuse: bool,
                 argv: Sequence[str]) -> tuple[ResultsWriter, dict[str, Any]]:
    """Write the resolved scenario and the session's first manifest; ``runner`` is a prepared executor
    (:mod:`simulation.executors`). Returns the writer and the manifest, finished by :func:`_finish_files`."""
    loaded, out_dir, done = plan.loaded, plan.out_dir, plan.done
    writer = ResultsWriter(out_dir, columns=plan.columns)
    writer.write_resolved_scenario(plan.resolved)
    manifest = base_manifest(
        scenario_file=str(scenario_path), seed=loaded.scenario.seed, snr_definitions=plan.definitions, resumed=bool(done), argv=argv
    )
    manifest["previous_sessions"] = _previous_sessions(out_dir / MANIFEST_JSON) if resume else []
    manifest.update(num_points=len(plan.points), points_done_before=len(done), out_dir=str(out_dir), device=device, reuse=reuse)
    if plan.todo and runner.describe() is not None:
        manifest["executor"] = runner.describe()
    writer.write_manifest(manifest)
    return writer, manifest


def _run_points(plan: _Plan, runner: Any, writer: ResultsWriter, *, progress: bool | None) -> list[dict[str, Any]]:
    """Run the points to run on ``runner`` with a progress report, saving each row (``results.csv`` and
    ``results.json``) the moment its point ends. Returns every row, old and new, in point order."""
    todo, out_dir = plan.todo, plan.out_dir
    rows = list(plan.done)
    extra = _json_extra(plan.loaded, runner.summary(), plan.definitions) if todo else None
    finished = runner.run(todo)
    for row in track_points(finished, total=len(todo), desc=plan.loaded.scenario.name, enabled=progress):
        writer.append(row)
        rows.append(row)
        writer.write_json(sorted(rows, key=lambda r: r["point"]), **extra, counters=runner.counters.to_dict())
    rows.sort(key=lambda r: r["point"])
    if todo:
        sort_results_csv(out_dir / RESULTS_CSV)  # rows of a Ray run arrive in any order
    if not todo and not (out_dir / RESULTS_JSON).is_file():
        writer.write_json(rows)
    return rows


def _finish_files(plan: _Plan, runner: Any, writer: ResultsWriter, manifest: dict[str, Any],
                  rows: list[dict[str, Any]]) -> list[Path]:
    """Write the plots of ``rows`` and the finished manifest (timings, counters, completeness).
    Returns the plot files."""
    definitions = plan.definitions
    snr_label = "Es/N0 (dB)" if definitions == ["esno"] else "Eb/N0 (dB)" if definitions == ["ebno"] else "SNR (dB)"
    plots = write_plots(rows, plan.out_dir / "plots", swept_paths=plan.loaded.swept_paths, snr_label=snr_label)
    manifest.update(
        finished=now_iso(),
        points_run=len(plan.todo),
        complete=len(rows) == len(plan.points),
        stage_seconds={k: round(v, 3) for k, v in runner.stage_seconds.items()},
        counters=runner.counters.to_dict(),
    )
    if "executor" in manifest:
        manifest["executor"] = runner.describe()
    writer.write_manifest(manifest)
    return plots


def _print_report(plan: _Plan, runner: Any, rows: list[dict[str, Any]], plots: Sequence[Any]) -> None:
    """Print the summary table, the decode counters and where the results are."""
    points, out_dir = plan.points, plan.out_dir
    if rows:
        print(summary_table(rows, swept_paths=plan.loaded.swept_paths))
    c = runner.counters
    if c.points:
        print(f"{c.points} point(s) run: {c.images_decoded} image decodes, {c.images_reused} reused from the clean channel "
              f"(about {c.saved_seconds_estimate:.1f} s saved)")
    status = "complete" if len(rows) == len(points) else f"{len(rows)}/{len(points)} points; continue with --resume"
    print(f"{status}. Results: {out_dir / RESULTS_CSV}, {RESULTS_JSON}, plots/ ({len(plots)} files); "
          + "; ".join(snr_definition_text(d) for d in plan.definitions))


def _json_extra(loaded: LoadedScenario, summary: Mapping[str, Any], definitions: Sequence[str]) -> dict[str, Any]:
    """The fields ``results.json`` carries besides its rows: scenario name, SNR definitions, the
    runner's clean-channel summary and the time of writing."""
    return {
        "scenario": loaded.scenario.name,
        "snr_db": {d: snr_definition_text(d) for d in definitions},
        "clean": summary["clean"],
        "teacher_on_original": summary["teacher_on_original"],
        "label_space": summary["label_space"],
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _previous_sessions(path: Path) -> list[dict[str, Any]]:
    """The ``previous_sessions`` of the folder's manifest plus that manifest's own session, or none."""
    if not path.is_file():
        return []
    try:
        previous = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    sessions = list(previous.get("previous_sessions", []))
    sessions.append({k: previous.get(k) for k in ("started", "finished", "command", "points_run")})
    return sessions

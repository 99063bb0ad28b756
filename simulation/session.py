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
from pathlib import Path
from typing import Any, Mapping, Sequence

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
    scenario = loaded.scenario
    out_dir = Path(out) if out else Path("runs") / "simulate" / scenario.name
    check_out_dir(out_dir, resume=resume)
    resolved = loaded.resolved()
    columns = result_columns(loaded.swept_paths)
    points = loaded.points
    done: list[dict[str, Any]] = []
    if resume and check_resolved_scenario(out_dir, resolved):
        done = read_results_csv(out_dir / RESULTS_CSV, columns)
        by_key = {p.key: p for p in points}
        for row in done:
            point = by_key.get(str(row["key"]))
            if point is None:
                raise UserError(f"--resume: {out_dir / RESULTS_CSV} has a row for point {row['key']!r}, which this scenario does not have")
            row.update(key=point.key, codec=point.codec, **dict(point.values))  # typed values, not CSV text
    done_keys = {r["key"] for r in done}
    todo = [p for p in points if p.key not in done_keys]
    if max_points is not None:
        todo = todo[:max_points]
    print(
        f"simulate {scenario.name}: {len(points)} points ({len(scenario.codecs)} codec(s) x "
        f"{len(points) // len(scenario.codecs)} settings), {scenario.dataset.num_images} images"
        + (f"; {len(done)} already done" if done else "") + f"; out {out_dir}",
        flush=True,
    )

    runner_options = {"reuse": reuse, "device": device, "batch_size": batch_size, "progress": progress}
    with make_executor(executor, loaded, runner_options=runner_options, address=address, workers=workers,
                       options=executor_options) as runner:
        if todo:
            runner.prepare()
        return _write_and_run(loaded, runner, out_dir=out_dir, resume=resume, resolved=resolved, columns=columns, done=done,
                              todo=todo, scenario_path=scenario_path, device=device, reuse=reuse, argv=argv, progress=progress)


def _write_and_run(loaded: LoadedScenario, runner: Any, *, out_dir: Path, resume: bool, resolved: dict[str, Any],
                   columns: list[str], done: list[dict[str, Any]], todo: list[SweepPoint], scenario_path: str, device: str,
                   reuse: bool, argv: Sequence[str], progress: bool | None) -> int:
    """Write the run's files and run ``todo`` on ``runner``, a prepared executor (:mod:`simulation.executors`)."""
    scenario, points = loaded.scenario, loaded.points
    writer = ResultsWriter(out_dir, columns=columns)
    writer.write_resolved_scenario(resolved)
    manifest = base_manifest(
        scenario_file=str(scenario_path), seed=scenario.seed, snr_definitions=snr_definitions(loaded), resumed=bool(done), argv=argv
    )
    manifest["previous_sessions"] = _previous_sessions(out_dir / MANIFEST_JSON) if resume else []
    manifest.update(num_points=len(points), points_done_before=len(done), out_dir=str(out_dir), device=device, reuse=reuse)
    if todo and runner.describe() is not None:
        manifest["executor"] = runner.describe()
    writer.write_manifest(manifest)

    rows = list(done)
    extra = _json_extra(loaded, runner.summary()) if todo else None
    finished = runner.run(todo)
    for row in track_points(finished, total=len(todo), desc=scenario.name, enabled=progress):
        writer.append(row)
        rows.append(row)
        writer.write_json(sorted(rows, key=lambda r: r["point"]), **extra, counters=runner.counters.to_dict())
    rows.sort(key=lambda r: r["point"])
    if todo:
        sort_results_csv(out_dir / RESULTS_CSV)  # rows of a Ray run arrive in any order
    if not todo and not (out_dir / RESULTS_JSON).is_file():
        writer.write_json(rows)

    definitions = snr_definitions(loaded)
    snr_label = "Es/N0 (dB)" if definitions == ["esno"] else "Eb/N0 (dB)" if definitions == ["ebno"] else "SNR (dB)"
    plots = write_plots(rows, out_dir / "plots", swept_paths=loaded.swept_paths, snr_label=snr_label)
    manifest.update(
        finished=now_iso(),
        points_run=len(todo),
        complete=len(rows) == len(points),
        stage_seconds={k: round(v, 3) for k, v in runner.stage_seconds.items()},
        counters=runner.counters.to_dict(),
    )
    if "executor" in manifest:
        manifest["executor"] = runner.describe()
    writer.write_manifest(manifest)

    if rows:
        print(summary_table(rows, swept_paths=loaded.swept_paths))
    c = runner.counters
    if c.points:
        print(f"{c.points} point(s) run: {c.images_decoded} image decodes, {c.images_reused} reused from the clean channel "
              f"(about {c.saved_seconds_estimate:.1f} s saved)")
    status = "complete" if len(rows) == len(points) else f"{len(rows)}/{len(points)} points; continue with --resume"
    print(f"{status}. Results: {out_dir / RESULTS_CSV}, {RESULTS_JSON}, plots/ ({len(plots)} files); "
          + "; ".join(snr_definition_text(d) for d in definitions))
    return 0


def _json_extra(loaded: LoadedScenario, summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "scenario": loaded.scenario.name,
        "snr_db": {d: snr_definition_text(d) for d in snr_definitions(loaded)},
        "clean": summary["clean"],
        "teacher_on_original": summary["teacher_on_original"],
        "label_space": summary["label_space"],
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _previous_sessions(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        previous = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    sessions = list(previous.get("previous_sessions", []))
    sessions.append({k: previous.get(k) for k in ("started", "finished", "command", "points_run")})
    return sessions

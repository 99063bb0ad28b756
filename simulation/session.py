"""One ``simulate`` session: validate, prepare, run the unfinished points, write every result file.

Order of work: the scenario is validated completely (nothing runs on a bad file); the output
folder is checked (a non-empty folder needs ``--resume``; on resume, its resolved scenario must
match, the teacher and every codec must have the weights the run had (``model_weights`` of its
manifest) and every row of ``results.csv`` the hash recorded when it was written); the runner
loads and encodes everything; only then are the files of the folder written and the points run,
each row saved the moment its point ends.

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

import hashlib
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from gosvae.errors import UserError
from gosvae.teachers.quantized import zoo_int8_calibration
from simulation.executors import make_executor, sort_results_csv
from simulation.plots import write_plots
from simulation.progress import track_points
from simulation.report import summary_table
from simulation.results import (
    MANIFEST_JSON,
    RESULTS_CSV,
    RESULTS_JSON,
    ROW_HASHES,
    ResultsWriter,
    base_manifest,
    check_out_dir,
    check_resolved_scenario,
    check_row_hashes,
    now_iso,
    read_result_rows,
    result_columns,
    snr_definition_text,
    write_row_hashes,
)
from simulation.receiver import teacher_precision_used
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
    plan = _plan_session(loaded, out=out, resume=resume, max_points=max_points, device=device)
    _announce(plan, device=device)
    # the precision chosen here (and recorded in the manifest) is the one every worker must use
    runner_options = {"reuse": reuse, "device": device, "batch_size": batch_size, "progress": progress,
                      "teacher_precision": plan.weights["teacher"]["precision"]}
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
    weights: dict[str, Any]  # model_weights(loaded): the manifest's ``model_weights``
    adopt_texts: list[str] | None = None  # on resuming a run without row hashes: the CSV text of ``done``

    @property
    def points(self) -> list[SweepPoint]:
        return self.loaded.points


def _plan_session(loaded: LoadedScenario, *, out: str | None, resume: bool, max_points: int | None,
                  device: str = "cpu") -> _Plan:
    """Check the output folder (a non-empty one needs ``resume``), read the rows a resumed run
    already has (checked: same scenario, same model weights, rows as written) and choose the
    points to run (at most ``max_points``)."""
    out_dir = Path(out) if out else Path("runs") / "simulate" / loaded.scenario.name
    check_out_dir(out_dir, resume=resume)
    resolved = loaded.resolved()
    columns = result_columns(loaded.swept_paths)
    weights = model_weights(loaded, device=device)
    done, adopt = _done_rows(loaded, out_dir, resolved, columns, weights) if resume else ([], None)
    done_keys = {r["key"] for r in done}
    todo = [p for p in loaded.points if p.key not in done_keys]
    if max_points is not None:
        todo = todo[:max_points]
    return _Plan(loaded, out_dir, resolved, columns, done, todo, snr_definitions(loaded), weights, adopt)


def _done_rows(loaded: LoadedScenario, out_dir: Path, resolved: dict[str, Any], columns: list[str],
               weights: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str] | None]:
    """On resume, the rows of ``results.csv`` (typed like fresh rows), or none when the folder holds
    no resolved scenario yet; the folder's resolved scenario must match ``resolved``, its manifest's
    ``model_weights`` must match ``weights`` and each row its recorded hash (one-line
    :class:`UserError` otherwise). Also returns, for a run made before hashes existed (a one-line
    note on stderr), the CSV text of the rows, whose hashes this session starts recording."""
    if not check_resolved_scenario(out_dir, resolved):
        return [], None
    previous = _read_manifest(out_dir / MANIFEST_JSON)
    hashed = "model_weights" in previous or "row_hashes" in previous
    if "model_weights" in previous:
        _check_weights(out_dir, previous["model_weights"], weights)
    done, texts = read_result_rows(out_dir / RESULTS_CSV, columns)
    by_key = {p.key: p for p in loaded.points}
    seen: set[str] = set()
    for number, row in enumerate(done, start=1):
        point = by_key.get(str(row["key"]))
        if point is None:
            raise UserError(f"--resume: {out_dir / RESULTS_CSV} has a row for point {row['key']!r}, which this scenario does not have")
        if point.key in seen:
            raise UserError(f"--resume: {out_dir / RESULTS_CSV}: row {number} repeats point {point.key!r}; "
                            "repair the file or use a new --out")
        seen.add(point.key)
    checked = check_row_hashes(out_dir, done, texts, required="row_hashes" in previous)
    for row in done:
        point = by_key[str(row["key"])]
        row.update(key=point.key, codec=point.codec, **dict(point.values))  # typed values, not CSV text
    if not hashed:
        print(f"note: --resume: {out_dir / MANIFEST_JSON} records no model weight hashes (a run from before they "
              "existed): its models and rows are taken as they are, and checked from now on", file=sys.stderr, flush=True)
    return done, (None if checked else texts)


def _read_manifest(path: Path) -> dict[str, Any]:
    """The folder's manifest as a dict; empty if it is missing or unreadable (as before hashes)."""
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) else {}


def model_weights(loaded: LoadedScenario, *, device: str = "cpu") -> dict[str, Any]:
    """What the manifest records about the models' weights (``model_weights``):
    ``{"teacher": {"model": SPEC, "sha256": HEX, "precision": P}, "codecs": {LABEL: {"model": SPEC, "sha256": HEX}}}``.

    A zoo entry's hash is its ``weights_sha256`` (the SHA-256 of its weights file, computed here for
    an entry written before hashes existed); a teacher folder (transformers checkpoint) hashes its
    weight files together; a codec without a model (jpeg, ...) is left out. ``precision`` is the
    precision the teacher runs in on ``device`` (:func:`~simulation.receiver.teacher_precision_used`);
    with int8, ``int8_calibration_sha256`` hashes the calibration it uses.
    """
    from gosvae.codecs import codec_class

    teacher = loaded.scenario.teacher
    precision, _ = teacher_precision_used(loaded.scenario.teacher_precision, device=device)
    found: dict[str, Any] = {"teacher": {"model": teacher, "sha256": _spec_sha256(teacher, kind="teacher"), "precision": precision},
                             "codecs": {}}
    if precision == "int8":
        calibration = json.dumps(zoo_int8_calibration(teacher).to_json()["qparams"], sort_keys=True)
        found["teacher"]["int8_calibration_sha256"] = hashlib.sha256(calibration.encode()).hexdigest()
    for codec in loaded.scenario.codecs:
        params = codec_class(codec.codec).Params(**codec.params)
        model = getattr(params, "model", None)
        if isinstance(model, str) and model:
            found["codecs"][codec.curve_label] = {"model": model, "sha256": _spec_sha256(model, kind="codec")}
    return found


def _spec_sha256(spec: str, *, kind: str) -> str:
    """SHA-256 of the weights of a zoo name / entry path (its ``weights_sha256``), or of a
    transformers checkpoint folder's weight files (``NAME SHA256`` lines, sorted, hashed)."""
    from gosvae.zoo import resolve_entry
    from gosvae.zoo.integrity import sha256_file

    folder = Path(spec).expanduser()
    if kind == "teacher" and folder.is_dir() and (folder / "config.json").is_file():
        files = sorted(p for pattern in ("*.safetensors", "*.bin") for p in folder.glob(pattern) if p.is_file())
        listing = "".join(f"{p.name} {sha256_file(p)}\n" for p in files)
        return hashlib.sha256(listing.encode("utf-8")).hexdigest()
    entry = resolve_entry(spec, kind=kind)
    if entry.weights_sha256 is not None:
        return entry.weights_sha256
    try:
        return sha256_file(entry.weights_path)
    except OSError as exc:
        raise UserError(f"zoo entry '{entry.name}': cannot read {entry.weights_path} ({exc.strerror or exc})") from None


def _check_weights(out_dir: Path, recorded: Any, current: dict[str, Any]) -> None:
    """One-line :class:`UserError` when a model of this session has other weights than the run in
    ``out_dir`` recorded (``recorded``: its manifest's ``model_weights``)."""
    recorded = recorded if isinstance(recorded, dict) else {}
    pairs = [("teacher", recorded.get("teacher"), current["teacher"])]
    codecs = recorded.get("codecs") if isinstance(recorded.get("codecs"), dict) else {}
    pairs += [(f"codec {label!r}", codecs.get(label), now) for label, now in current["codecs"].items()]
    for what, then, now in pairs:
        then_hash = then.get("sha256") if isinstance(then, dict) else None
        if isinstance(then_hash, str) and then_hash != now["sha256"]:
            raise UserError(f"--resume: {what} (model {now['model']}) has other weights than the run in {out_dir} "
                            f"(sha256 {now['sha256'][:8]}… vs {then_hash[:8]}…); use a new --out")
    then, now = recorded.get("teacher"), current["teacher"]
    if isinstance(then, dict) and isinstance(then.get("sha256"), str):  # runs from before precisions were recorded: float32
        for key, default in (("precision", "float32"), ("int8_calibration_sha256", None)):
            if then.get(key, default) != now.get(key, default):
                raise UserError(f"--resume: the teacher runs with {key} {now.get(key, default)} here, the run in {out_dir} "
                                f"had {str(then.get(key, default))[:16]}; resume on the same kind of machine or use a new --out")


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


def _announce(plan: _Plan, *, device: str = "cpu") -> None:
    """Print the session's first line: points, codecs, images, points already done, output folder;
    and a note on stderr when the teacher runs in another precision than the scenario asks."""
    scenario, points, done = plan.loaded.scenario, plan.points, plan.done
    _, note = teacher_precision_used(scenario.teacher_precision, device=device)
    if note is not None:
        print(f"note: {note}", file=sys.stderr, flush=True)
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
    manifest.update(model_weights=plan.weights, row_hashes=ROW_HASHES)
    if plan.adopt_texts is not None:
        write_row_hashes(out_dir, done, plan.adopt_texts)  # a run from before row hashes: recorded from now on
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

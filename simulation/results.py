"""Result files of a ``simulate`` run, written so that a killed run loses at most the point in flight.

Files in the output folder:

- ``results.csv``: one row per finished sweep point, appended (flush + fsync) as soon as the point
  ends; columns are :func:`result_columns` (the swept fields are columns of their own);
- ``results.json``: every row plus the clean-channel reference of each codec, rewritten
  atomically (temporary file + rename) after each point; NaN and infinities become ``null``;
- ``scenario.resolved.yaml``: the scenario with every default filled in and the sweep expanded;
  ``--resume`` refuses to continue a folder whose resolved scenario differs;
- ``manifest.json``: package versions, seed, command line, start and end times, the meaning of
  ``snr_db``, and the work counters of the run.

Example
-------
>>> writer = ResultsWriter(Path("runs/simulate/x"), columns=result_columns(["snr_db"]))  # doctest: +SKIP
>>> writer.append(row)                                                                 # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import yaml

from gosvae.errors import UserError

__all__ = [
    "ResultsWriter",
    "base_manifest",
    "now_iso",
    "TIME_COLUMNS",
    "check_resolved_scenario",
    "check_out_dir",
    "package_versions",
    "parse_cell",
    "read_results_csv",
    "result_columns",
    "snr_definition_text",
    "write_json_atomic",
]

TEXT_COLUMNS = {"key", "codec", "codec_type", "scheme", "codec_name", "source_coder", "codec_params", "channel", "label_space"}
#: ``codec`` is the curve label; the others come from ``Codec.describe()`` (simulation.runner.codec_identity):
#: ``codec_type`` the registry name, ``codec_name`` the model (or the codec name), ``source_coder``,
#: ``rows_per_slice`` and ``ratio`` where the codec describes them (empty / NaN otherwise), and
#: ``codec_params`` the whole description as compact JSON.
IDENTITY_COLUMNS = ["point", "key", "codec", "codec_type", "scheme", "codec_name", "source_coder", "rows_per_slice",
                    "ratio", "codec_params", "channel"]
METRIC_COLUMNS = [
    "num_images", "payload_bytes", "bpp", "packets_per_image", "channel_uses_per_image",
    "raw_ber", "ber", "packet_loss_rate", "packet_error_rate", "images_intact",
    "miou_gt", "miou_gt_ci_low", "miou_gt_ci_high", "miou_gt_image_mean", "miou_teacher", "pixel_accuracy",
    "mse", "psnr_db", "concealed_fraction", "decode_failure_rate", "miou_gt_clean", "miou_teacher_clean", "psnr_db_clean", "point_seed",
    "label_space",
]
#: ``label_space``: the classes mIoU and pixel accuracy were computed in, and how the teacher's
#: classes were brought there, e.g. ``camvid-11 (cityscapes-19 → camvid-11, cityscapes-19_to_camvid-11)``.
TIME_COLUMNS = ["link_seconds", "decode_seconds", "wall_seconds"]
"""Columns that measure time: they differ between runs, everything else is reproducible."""

RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
RESOLVED_YAML = "scenario.resolved.yaml"
MANIFEST_JSON = "manifest.json"


def result_columns(swept_paths: Sequence[str]) -> list[str]:
    """Columns of ``results.csv``: identity, the swept fields, the metrics, the timings."""
    return [*IDENTITY_COLUMNS, *swept_paths, *METRIC_COLUMNS, *TIME_COLUMNS]


def snr_definition_text(definition: str) -> str:
    """What ``snr_db`` means for a link's ``snr_definition``."""
    if definition == "esno":
        return ("snr_db is Es/N0 in dB: average symbol energy (1, unit-energy constellations) over N0, "
                "the noise variance per complex symbol; channel gains have E|h|^2 = 1")
    return ("snr_db is Eb/N0 in dB: energy per payload bit (CRC, padding, code redundancy and modulation "
            "padding counted as overhead) over N0, the noise variance per complex symbol")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the numbers."""
    versions = {"python": platform.python_version()}
    for name in ("torch", "sionna-no-rt", "numpy", "gosvae-sim", "pydantic", "constriction"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path.tmp``, fsync, then rename over ``path`` (readers never see half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(_json_safe(data), handle, indent=2, allow_nan=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def parse_cell(text: str) -> Any:
    """A CSV cell back to a value: int, float (``nan``, ``inf`` included), bool, or the text."""
    if text in ("True", "False", "true", "false"):
        return text in ("True", "true")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def check_out_dir(out: Path, *, resume: bool) -> None:
    """Without ``resume``, an existing non-empty folder is an error (one line)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if resume or not out.exists():
        return
    if any(out.iterdir()):
        raise UserError(f"--out {out}: folder exists and is not empty; add --resume to continue it or choose another --out")


def check_resolved_scenario(out: Path, resolved: dict[str, Any]) -> bool:
    """On resume: True if ``out`` holds a run of the same resolved scenario, False if it holds none.

    Raises a one-line :class:`UserError` naming the first differing field otherwise.
    """
    path = out / RESOLVED_YAML
    if not path.is_file():
        if (out / RESULTS_CSV).is_file():
            raise UserError(f"--resume: {out} has {RESULTS_CSV} but no {RESOLVED_YAML}; cannot check it belongs to this scenario")
        return False
    try:
        previous = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise UserError(f"--resume: {path} is not valid YAML") from None
    current = yaml.safe_load(yaml.safe_dump(resolved, sort_keys=False))
    difference = _first_difference(previous, current, "")
    if difference is not None:
        field, old, new = difference
        raise UserError(
            f"--resume: {out} holds a run of a different scenario ({field}: {old!r} there, {new!r} now); "
            "rerun without --resume into another --out"
        )
    return True


def _first_difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if a == b else (path or "(top level)", a, b)


def read_results_csv(path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Finished rows of an earlier run; drops (and cuts from the file) a last row cut short by a kill.

    Raises a one-line :class:`UserError` if the header differs from ``columns``.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return []
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    if header != list(columns):
        raise UserError(f"--resume: {path} has other columns than this scenario produces; rerun without --resume into another --out")
    rows, good_length = [], len(lines[0])
    for line in lines[1:]:
        cells = next(csv.reader([line]), [])
        if not line.endswith("\n") or len(cells) != len(columns):
            break  # a row cut short by a kill: dropped and rewritten
        rows.append({name: cell if name in TEXT_COLUMNS else parse_cell(cell) for name, cell in zip(columns, cells)})
        good_length += len(line)
    if good_length < len(text):
        with open(path, "r+") as handle:
            handle.truncate(len(text[:good_length].encode()))
    return rows


class ResultsWriter:
    """Appends rows to ``results.csv`` and keeps ``results.json`` in step.

    Parameters
    ----------
    out : Path
        Output folder (created if needed).
    columns : list[str]
        The CSV columns (:func:`result_columns`).
    """

    def __init__(self, out: Path, *, columns: Sequence[str]) -> None:
        self.out = Path(out)
        self.columns = list(columns)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
        self.csv_path = self.out / RESULTS_CSV

    def write_resolved_scenario(self, resolved: dict[str, Any]) -> None:
        text = "# The scenario as run: every default filled in, the sweep expanded (written by simulate)\n"
        (self.out / RESOLVED_YAML).write_text(text + yaml.safe_dump(resolved, sort_keys=False))

    def append(self, row: dict[str, Any]) -> None:
        """Append one row (header first in a new file), then flush and fsync."""
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise ValueError(f"result row lacks columns {missing}")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        new_file = not self.csv_path.is_file() or self.csv_path.stat().st_size == 0
        if new_file:
            writer.writerow(self.columns)
        writer.writerow([row[c] for c in self.columns])
        with open(self.csv_path, "a") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())

    def write_json(self, rows: Sequence[dict[str, Any]], **extra: Any) -> None:
        """Rewrite ``results.json`` atomically with ``rows`` and ``extra`` sections."""
        write_json_atomic(self.out / RESULTS_JSON, {**extra, "columns": self.columns, "rows": [dict(r) for r in rows]})

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.out / MANIFEST_JSON, manifest)


def base_manifest(
    *, scenario_file: str, seed: int, snr_definitions: Sequence[str], resumed: bool, argv: Sequence[str]
) -> dict[str, Any]:
    """The manifest fields known at the start of a run (``argv``: the command's arguments)."""
    return {
        "scenario_file": scenario_file,
        "seed": seed,
        "command": shlex.join(["simulate", *argv]),
        "python_executable": sys.executable,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "finished": None,
        "resumed": resumed,
        "versions": package_versions(),
        "platform": platform.platform(),
        "environment": {k: os.environ.get(k) for k in (
            "OMP_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GOSVAE_ZOO_PATH")},
        "snr_db": {d: snr_definition_text(d) for d in snr_definitions},
    }


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

"""Result files of a ``simulate`` run, written so that a killed run loses at most the point in flight.

Files in the output folder:

- ``results.csv``: one row per finished sweep point, appended (flush + fsync) as soon as the point
  ends; columns are :func:`result_columns` (the swept fields are columns of their own);
- ``results.json``: every row plus the clean-channel reference of each codec, rewritten
  atomically (temporary file + rename) after each point; NaN and infinities become ``null``;
- ``scenario.resolved.yaml``: the scenario with every default filled in and the sweep expanded;
  ``--resume`` refuses to continue a folder whose resolved scenario differs;
- ``results.csv.sha256``: one line ``SHA256 KEY`` per row of ``results.csv`` (the SHA-256 of the
  row's CSV text, :func:`row_hash`), appended and fsynced just before the row itself; ``--resume``
  refuses a row whose text no longer has its recorded hash (:func:`check_row_hashes`);
- ``manifest.json``: package versions, seed, command line, start and end times, the meaning of
  ``snr_db``, the work counters of the run, ``model_weights`` (the SHA-256 of the teacher's and of
  each codec's weights; ``--resume`` refuses other weights under the same names) and
  ``row_hashes`` (the name of the row-hash file).

Example
-------
>>> writer = ResultsWriter(Path("runs/simulate/x"), columns=result_columns(["snr_db"]))  # doctest: +SKIP
>>> writer.append(row)                                                                 # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
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
    "check_row_hashes",
    "read_result_rows",
    "row_hash",
    "write_row_hashes",
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
#: ``channel_uses_per_image``: REs sent per image, data symbols plus, over an OFDM channel, the pilot
#: REs of their slots (``LinkStats.channel_uses + LinkStats.pilot_uses``); guard and DC carriers
#: and the zero padding of the last slot are not counted.
#: ``label_space``: the classes mIoU and pixel accuracy were computed in, and how the teacher's
#: classes were brought there, e.g. ``camvid-11 (cityscapes-19 → camvid-11, cityscapes-19_to_camvid-11)``.
TIME_COLUMNS = ["link_seconds", "decode_seconds", "wall_seconds"]
"""Columns that measure time: they differ between runs, everything else is reproducible."""

RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
RESOLVED_YAML = "scenario.resolved.yaml"
MANIFEST_JSON = "manifest.json"
ROW_HASHES = "results.csv.sha256"
"""The row-hash file next to ``results.csv`` (see the module docstring)."""


def result_columns(swept_paths: Sequence[str]) -> list[str]:
    """Columns of ``results.csv``: identity, the swept fields, the metrics, the timings."""
    return [*IDENTITY_COLUMNS, *swept_paths, *METRIC_COLUMNS, *TIME_COLUMNS]


def snr_definition_text(definition: str) -> str:
    """What ``snr_db`` means for a link's ``snr_definition``."""
    if definition == "esno":
        return ("snr_db is Es/N0 in dB: average symbol energy (1, unit-energy constellations) over N0, "
                "the noise variance per complex symbol; channel gains have E|h|^2 = 1")
    return ("snr_db is Eb/N0 in dB: energy per payload bit (CRC, padding, code redundancy and modulation "
            "padding counted as overhead; over OFDM channels the pilot REs and the cyclic prefix too, as in "
            "Sionna's ebnodb2no with a resource grid) over N0, the noise variance per complex symbol")


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

    Raises a one-line :class:`UserError` if the header differs from ``columns`` or the file is not
    UTF-8 text or holds a malformed row (see :func:`read_result_rows`).
    """
    return read_result_rows(path, columns)[0]


def read_result_rows(path: Path, columns: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The finished rows of ``results.csv`` and the CSV text of each (its line without the newline).

    A last line cut short by a kill (no newline at its end) is dropped and cut from the file. A line
    that is not UTF-8, cannot be parsed as CSV, or has another number of cells than ``columns`` (a
    complete line, or one followed by others) is a one-line :class:`UserError` naming the file and
    the row (1 = the first row after the header), as is a header other than ``columns``.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return [], []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--resume: cannot read {path} ({exc.strerror or exc})") from None
    raw_lines = _split_lines(data)
    lines = []
    for number, raw in enumerate(raw_lines):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if number == len(raw_lines) - 1 and not raw.endswith(b"\n") and number > 0:
                break  # a last row cut short by a kill (in the middle of a character)
            where = f"row {number}" if number else "the header"
            raise UserError(f"--resume: {path}: {where} is not UTF-8 text (byte {exc.start} of the line: "
                            f"{raw[exc.start:exc.start + 1]!r}); repair the file or use a new --out") from None
    bad = next((i for i, line in enumerate(lines) if "\x00" in line), None)
    if bad is not None:
        raise UserError(f"--resume: {path}: {f'row {bad}' if bad else 'the header'} is malformed (a NUL byte); "
                        "repair the file or use a new --out")
    header = _csv_cells(path, lines[0], 0)
    if header != list(columns):
        raise UserError(f"--resume: {path} has other columns than this scenario produces; rerun without --resume into another --out")
    rows, texts, good_length = [], [], len(raw_lines[0])
    for number, line in enumerate(lines[1:], start=1):
        last = number == len(raw_lines) - 1
        if last and not line.endswith("\n"):
            break  # a row cut short by a kill: dropped and rewritten
        cells = _csv_cells(path, line, number)
        if len(cells) != len(columns):
            raise UserError(f"--resume: {path}: row {number} has {len(cells)} cells, the header {len(columns)}; "
                            "repair the file or use a new --out")
        rows.append({name: cell if name in TEXT_COLUMNS else parse_cell(cell) for name, cell in zip(columns, cells)})
        texts.append(line.rstrip("\n"))
        good_length += len(raw_lines[number])
    if good_length < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good_length)
    return rows, texts


def _split_lines(data: bytes) -> list[bytes]:
    """``data`` cut after each ``\\n`` (only there: ``results.csv`` is written with ``\\n`` line ends)."""
    parts = data.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _csv_cells(path: Path, line: str, number: int) -> list[str]:
    """The cells of one CSV line; a one-line :class:`UserError` naming the row if it is not CSV."""
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        where = f"row {number}" if number else "the header"
        raise UserError(f"--resume: {path}: {where} is not valid CSV ({exc}); repair the file or use a new --out") from None


def row_hash(text: str) -> str:
    """SHA-256 (hex) of a row's CSV text (its line in ``results.csv`` without the newline)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_row_hashes(path: Path) -> dict[str, set[str]] | None:
    """The recorded hashes of ``results.csv.sha256`` by point key (``None``: no such file). A last
    line cut short by a kill is ignored (its row was never written); any other malformed line is a
    one-line :class:`UserError`."""
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--resume: cannot read {path} ({exc.strerror or exc})") from None
    recorded: dict[str, set[str]] = {}
    raw_lines = _split_lines(data)
    for number, raw in enumerate(raw_lines, start=1):
        if number == len(raw_lines) and not raw.endswith(b"\n"):
            break
        try:
            digest, key = raw.decode("utf-8").rstrip("\n").split(" ", 1)
        except (UnicodeDecodeError, ValueError):
            digest, key = "", ""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not key:
            raise UserError(f"--resume: {path}: line {number} is not 'SHA256 KEY'; repair the file or use a new --out")
        recorded.setdefault(key, set()).add(digest)
    return recorded


def check_row_hashes(out: Path, rows: Sequence[dict[str, Any]], texts: Sequence[str], *, required: bool) -> bool:
    """On resume: every row of ``results.csv`` (``rows`` and their CSV ``texts``, as read by
    :func:`read_result_rows`) must have the hash recorded for its point in ``results.csv.sha256``.

    ``required``: the folder's manifest says rows are hashed (a run made before row hashes existed
    has no hash file; its rows are taken as they are). Returns True if the rows were checked,
    False if there was nothing to check them against. Raises a one-line :class:`UserError` naming
    the first row (and its point key) whose text differs from what was written, or that has no hash.
    """
    hashes_path = out / ROW_HASHES
    recorded = _read_row_hashes(hashes_path)
    if recorded is None and not required:
        return False
    recorded = recorded or {}
    for number, (row, text) in enumerate(zip(rows, texts), start=1):
        key = str(row["key"])
        known = recorded.get(key)
        if not known:
            raise UserError(f"--resume: {out / RESULTS_CSV} row {number} (point {key!r}) has no hash in {ROW_HASHES}, "
                            "so it cannot be checked; use a new --out")
        if row_hash(text) not in known:
            raise UserError(f"--resume: {out / RESULTS_CSV} row {number} (point {key!r}) was changed after it was "
                            f"written (its SHA-256 differs from the one in {ROW_HASHES}); use a new --out")
    return True


def write_row_hashes(out: Path, rows: Sequence[dict[str, Any]], texts: Sequence[str]) -> None:
    """Rewrite ``results.csv.sha256`` (atomically) with the hashes of ``rows`` (CSV ``texts``): how
    a resumed run made before row hashes existed starts recording them."""
    body = "".join(f"{row_hash(text)} {row['key']}\n" for row, text in zip(rows, texts))
    path = out / ROW_HASHES
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


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
        self.hashes_path = self.out / ROW_HASHES

    def write_resolved_scenario(self, resolved: dict[str, Any]) -> None:
        text = "# The scenario as run: every default filled in, the sweep expanded (written by simulate)\n"
        (self.out / RESOLVED_YAML).write_text(text + yaml.safe_dump(resolved, sort_keys=False))

    def append(self, row: dict[str, Any]) -> None:
        """Append one row (header first in a new file), then flush and fsync.

        The row's hash (:func:`row_hash`) goes to ``results.csv.sha256`` first (flushed and fsynced
        too), so every row written has its hash; a hash whose row a kill cut short is harmless.
        """
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise ValueError(f"result row lacks columns {missing}")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        new_file = not self.csv_path.is_file() or self.csv_path.stat().st_size == 0
        if new_file:
            writer.writerow(self.columns)
        start = buffer.tell()
        writer.writerow([row[c] for c in self.columns])
        text = buffer.getvalue()[start:].rstrip("\n")
        with open(self.hashes_path, "a", encoding="utf-8") as handle:
            handle.write(f"{row_hash(text)} {row['key']}\n")
            handle.flush()
            os.fsync(handle.fileno())
        with open(self.csv_path, "a", encoding="utf-8") as handle:
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

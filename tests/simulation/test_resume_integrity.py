"""``simulate --resume`` refuses to mix results: other model weights under the same name, rows of
``results.csv`` changed after they were written, a file that is not UTF-8 or malformed; a run made
before hashes existed still resumes (with a one-line note) and is checked from then on."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from simulation.cli import main
from simulation.results import ROW_HASHES, row_hash
from simulation.testing import TINY_CODECS, TINY_TEACHER, tiny_scenario

pytestmark = pytest.mark.usefixtures("tiny_zoo_env")

CODEC = TINY_CODECS[0]
LABEL = f"{CODEC}/range"
FIRST_KEY = f"codec={LABEL};snr_db=-5"


@pytest.fixture(scope="module")
def partial_run(tmp_path_factory, zoo_dir) -> tuple[Path, Path]:
    """A run of a 3-point tiny scenario stopped after 2 points: (scenario file, output folder)."""
    folder = tmp_path_factory.mktemp("partial")
    scenario = folder / "scenario.yaml"
    data = tiny_scenario(codecs=[{"name": CODEC, "rows_per_slice": 2}], snr_db=[-5, 30, 40], num_images=1)
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    out = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOSVAE_ZOO_PATH", str(zoo_dir))
        assert main([str(scenario), "--out", str(out), "--max-points", "2"]) == 0
    return scenario, out


@pytest.fixture
def run_copy(partial_run, tmp_path) -> tuple[Path, Path]:
    """A copy of the partial run's folder, for a test to change and resume."""
    scenario, out = partial_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return scenario, copy


def resume(scenario: Path, out: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(scenario), "--out", str(out), "--resume"])
    return code, capsys.readouterr().err


def test_manifest_records_weights_and_row_hashes(partial_run):
    from gosvae.zoo import get_entry

    _, out = partial_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["row_hashes"] == ROW_HASHES
    weights = manifest["model_weights"]
    assert weights["teacher"] == {"model": TINY_TEACHER, "sha256": get_entry(TINY_TEACHER).weights_sha256, "precision": "float32"}
    assert weights["codecs"] == {LABEL: {"model": CODEC, "sha256": get_entry(CODEC).weights_sha256}}
    rows = (out / "results.csv").read_text().splitlines()[1:]
    assert (out / ROW_HASHES).read_text().splitlines() == [
        f"{row_hash(text)} {next(csv.reader([text]))[1]}" for text in rows
    ]


def _reexport(zoo: Path, name: str) -> None:
    """Write ``name`` into ``zoo`` again, same metadata, other weights (as a retrained model would be)."""
    from gosvae.zoo import save_zoo_entry

    meta = json.loads((zoo / f"{name}.json").read_text())
    state = load_file(str(zoo / f"{name}.safetensors"))
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[key] = state[key] * 1.5 + 0.01
    save_zoo_entry(state_dict=state, metadata=meta, directory=zoo)


@pytest.mark.parametrize("name, what", [(CODEC, f"codec '{LABEL}'"), (TINY_TEACHER, "teacher")])
def test_resume_refuses_other_weights_under_the_same_name(run_copy, zoo_dir, tmp_path, monkeypatch, capsys, name, what):
    from gosvae.zoo import get_entry

    scenario, out = run_copy
    before = (out / "results.csv").read_bytes()
    old_hash = get_entry(name).weights_sha256
    zoo = tmp_path / "zoo"
    shutil.copytree(zoo_dir, zoo)
    _reexport(zoo, name)
    monkeypatch.setenv("GOSVAE_ZOO_PATH", str(zoo))
    new_hash = get_entry(name).weights_sha256
    assert new_hash != old_hash
    code, err = resume(scenario, out, capsys)
    assert code == 2
    assert err == (f"error: --resume: {what} (model {name}) has other weights than the run in {out} "
                   f"(sha256 {new_hash[:8]}… vs {old_hash[:8]}…); use a new --out\n")
    assert (out / "results.csv").read_bytes() == before  # no point ran


def _rewrite_row(path: Path, number: int, column: str, value: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    cells = next(csv.reader([lines[number]]))
    cells[header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    lines[number] = buffer.getvalue()
    path.write_text("".join(lines))


def test_resume_refuses_a_changed_metric(run_copy, capsys):
    scenario, out = run_copy
    _rewrite_row(out / "results.csv", 1, "miou_gt", "0.987654")
    code, err = resume(scenario, out, capsys)
    assert code == 2
    assert err == (f"error: --resume: {out / 'results.csv'} row 1 (point '{FIRST_KEY}') was changed after it was "
                   f"written (its SHA-256 differs from the one in {ROW_HASHES}); use a new --out\n")


def test_resume_refuses_a_row_without_hash(run_copy, capsys):
    scenario, out = run_copy
    hashes = out / ROW_HASHES
    hashes.write_text(hashes.read_text().splitlines(keepends=True)[1])  # the first row's hash is gone
    code, err = resume(scenario, out, capsys)
    assert code == 2
    assert err == (f"error: --resume: {out / 'results.csv'} row 1 (point '{FIRST_KEY}') has no hash in {ROW_HASHES}, "
                   "so it cannot be checked; use a new --out\n")


def test_resume_refuses_a_non_utf8_results_csv(run_copy, capsys):
    scenario, out = run_copy
    path = out / "results.csv"
    data = bytearray(path.read_bytes())
    row_start = data.index(b"\n") + 1
    position = data.index(b",", row_start) + 1
    data[position] = 0xFF
    path.write_bytes(bytes(data))
    code, err = resume(scenario, out, capsys)
    assert code == 2
    assert err == (f"error: --resume: {path}: row 1 is not UTF-8 text (byte {position - row_start} of the line: "
                   "b'\\xff'); repair the file or use a new --out\n")
    assert path.read_bytes() == bytes(data)  # nothing cut or rewritten


def test_resume_refuses_a_malformed_row(run_copy, capsys):
    scenario, out = run_copy
    path = out / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",", ";", 3)  # a complete line with fewer cells
    path.write_text("".join(lines))
    code, err = resume(scenario, out, capsys)
    assert code == 2
    assert err.startswith(f"error: --resume: {path}: row 1 has ") and err.endswith("; repair the file or use a new --out\n")
    assert err.count("\n") == 1


def test_old_manifest_without_hashes_resumes_and_is_checked_from_then_on(run_copy, capsys):
    scenario, out = run_copy
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["model_weights"], manifest["row_hashes"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / ROW_HASHES).unlink()
    code, err = resume(scenario, out, capsys)
    assert code == 0
    notes = [line for line in err.splitlines() if line.startswith("note: --resume:")]
    assert notes == [f"note: --resume: {out / 'manifest.json'} records no model weight hashes (a run from before they "
                     "existed): its models and rows are taken as they are, and checked from now on"]
    rows = (out / "results.csv").read_text().splitlines()[1:]
    assert len(rows) == 3
    assert [line.split(" ", 1)[0] for line in (out / ROW_HASHES).read_text().splitlines()] == [row_hash(r) for r in rows]
    assert "model_weights" in json.loads((out / "manifest.json").read_text())
    # the rows taken over are now checked like any other
    _rewrite_row(out / "results.csv", 1, "payload_bytes", "1")
    code, err = resume(scenario, out, capsys)
    assert code == 2 and f"row 1 (point '{FIRST_KEY}') was changed after it was written" in err

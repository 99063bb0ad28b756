"""``teacher_precision: int8`` in a scenario: checked before the run, recorded, resumed only alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import simulation.receiver as receiver_module
from gosvae.errors import ConfigError
from gosvae.teachers.quantized import int8_unavailable_reason
from simulation.cli import main
from simulation.receiver import teacher_precision_used
from simulation.scenario import validate_scenario
from simulation.testing import TINY_CODECS, tiny_scenario

pytestmark = [
    pytest.mark.usefixtures("tiny_zoo_env"),
    pytest.mark.skipif(int8_unavailable_reason() is not None, reason=str(int8_unavailable_reason())),
]


def _scenario(**fields) -> dict:
    return {**tiny_scenario(codecs=[{"name": TINY_CODECS[0], "rows_per_slice": 2}], snr_db=[-5, 30], num_images=2), **fields}


def test_int8_is_recorded_in_the_resolved_scenario_and_float32_is_left_out():
    assert validate_scenario(_scenario(teacher_precision="int8"), source="s.yaml").resolved()["teacher_precision"] == "int8"
    assert "teacher_precision" not in validate_scenario(_scenario(), source="s.yaml").resolved()
    assert "teacher_precision" not in validate_scenario(_scenario(teacher_precision="float32"), source="s.yaml").resolved()


@pytest.mark.parametrize(("fields", "start"), [
    ({"teacher_precision": "int4"}, "s.yaml: teacher_precision: "),
    ({"teacher_precision": "int8", "teacher": "urban-unet-l-cpu"},
     "s.yaml: teacher_precision: teacher 'urban-unet-l-cpu' has no int8 calibration in the zoo (teachers with one: "),
    ({"teacher_precision": "int8", "teacher": "FOLDER"},
     "s.yaml: teacher_precision: int8 needs a zoo teacher with an int8 calibration, not the folder "),
])
def test_an_impossible_precision_is_refused_before_the_run(fields, start, tmp_path):
    if fields.get("teacher") == "FOLDER":  # what a transformers checkpoint folder holds (not read by the check)
        for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
            (tmp_path / name).write_text("{}")
        fields = {**fields, "teacher": str(tmp_path)}
    with pytest.raises(ConfigError) as info:
        validate_scenario(_scenario(**fields), source="s.yaml")
    assert str(info.value).startswith(start) and "\n" not in str(info.value)


def test_int8_falls_back_to_float32_off_the_cpu_or_without_the_kernels(monkeypatch):
    assert teacher_precision_used("int8", device="cpu") == ("int8", None)
    assert teacher_precision_used("float32", device="cpu") == ("float32", None)
    used, note = teacher_precision_used("int8", device="cuda:0")
    assert used == "float32" and note == "teacher_precision: int8 runs on the CPU; the teacher runs in float32 on cuda:0"
    monkeypatch.setattr(receiver_module, "int8_unavailable_reason", lambda: "no engine here")
    assert teacher_precision_used("int8", device="cpu") == (
        "float32", "teacher_precision: int8 is unavailable (no engine here); the teacher runs in float32")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, zoo_dir) -> dict[str, Path]:
    """The tiny scenario run in float32 and in int8: {precision: output folder}."""
    folder = tmp_path_factory.mktemp("precision")
    outs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOSVAE_ZOO_PATH", str(zoo_dir))
        for precision in ("float32", "int8"):
            scenario = folder / f"{precision}.yaml"
            scenario.write_text(yaml.safe_dump(_scenario(teacher_precision=precision), sort_keys=False))
            outs[precision] = folder / precision
            assert main([str(scenario), "--out", str(outs[precision])]) == 0
    return outs


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["rows"]


def test_the_manifest_records_the_precision_and_the_calibration(runs):
    teacher32 = _manifest(runs["float32"])["model_weights"]["teacher"]
    teacher8 = _manifest(runs["int8"])["model_weights"]["teacher"]
    assert teacher32["precision"] == "float32" and "int8_calibration_sha256" not in teacher32
    assert teacher8["precision"] == "int8" and len(teacher8["int8_calibration_sha256"]) == 64
    assert teacher8["sha256"] == teacher32["sha256"]  # the same weights


def test_int8_scores_follow_float32(runs):
    rows32, rows8 = _rows(runs["float32"]), _rows(runs["int8"])
    assert [r["key"] for r in rows8] == [r["key"] for r in rows32]
    for a, b in zip(rows32, rows8):
        assert a["payload_bytes"] == b["payload_bytes"] and a["ber"] == b["ber"]  # the link is the same
        assert abs(a["miou_gt"] - b["miou_gt"]) < 0.05


def test_resuming_in_another_precision_is_refused(runs, tmp_path, monkeypatch, capsys):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(runs["int8"], out)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(_scenario(teacher_precision="int8"), sort_keys=False))
    assert main([str(scenario), "--out", str(out), "--resume"]) == 0  # same precision: nothing left to do
    monkeypatch.setattr(receiver_module, "int8_unavailable_reason", lambda: "no engine here")
    capsys.readouterr()
    assert main([str(scenario), "--out", str(out), "--resume"]) != 0
    err = capsys.readouterr().err
    assert "--resume: the teacher runs with precision float32 here, the run in" in err and "had int8" in err


def test_a_worker_that_cannot_run_the_runs_int8_teacher_stops(monkeypatch):
    from gosvae.errors import UserError
    from simulation.runner import Runner

    loaded = validate_scenario(_scenario(teacher_precision="int8"), source="s.yaml")
    assert Runner(loaded, teacher_precision="int8").int8_calibration() is not None
    assert Runner(loaded, teacher_precision="float32").int8_calibration() is None  # the run chose float32
    monkeypatch.setattr(receiver_module, "int8_unavailable_reason", lambda: "no engine here")
    assert Runner(loaded).int8_calibration() is None  # deciding alone: float32
    with pytest.raises(UserError, match=r"^this run's teacher runs in int8, which is not possible here \(teacher_precision: "
                                        r"int8 is unavailable \(no engine here\); the teacher runs in float32\)$"):
        Runner(loaded, teacher_precision="int8").int8_calibration()

"""``gosvae calibrate-int8``: calibrates a zoo teacher, measures it, writes the entry only when asked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from gosvae.cli import main
from gosvae.teachers import UrbanUNet, load_teacher
from gosvae.teachers.quantized import ZOO_FIELD, int8_unavailable_reason, zoo_int8_calibration
from gosvae.zoo import get_entry, save_zoo_entry
from gosvae.zoo.integrity import sha256_file

pytestmark = pytest.mark.skipif(int8_unavailable_reason() is not None, reason=str(int8_unavailable_reason()))

NAME = "tiny-calibration-teacher"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    """A zoo folder with one tiny urban-unet teacher 'trained' on synthetic-urban at 32x64, and one without data.train."""
    folder = tmp_path_factory.mktemp("zoo")
    torch.manual_seed(3)
    teacher = UrbanUNet(num_classes=19, widths=(4, 6, 8, 8), head_res_blocks=1, test_time_flip=True).freeze()
    common = {"kind": "teacher", "arch": "urban-unet", "arch_config": teacher.config, "config": "-", "command": "-", "steps": 0}
    train = {"train": {"name": "synthetic-urban", "split": "train", "root": None, "num_images": 4, "size": [32, 64], "seed": 0}}
    save_zoo_entry(state_dict=teacher.state_dict(), directory=folder, metadata={"name": NAME, "data": train, **common})
    save_zoo_entry(state_dict=teacher.state_dict(), directory=folder, metadata={"name": "no-data-teacher", "data": {}, **common})
    camvid = {"train": {"name": "camvid", "split": "train", "root": "${GOSVAE_TEST_UNSET_ROOT}", "size": [32, 64], "seed": 0}}
    save_zoo_entry(state_dict=teacher.state_dict(), directory=folder, metadata={"name": "root-teacher", "data": camvid, **common})
    return folder


@pytest.fixture
def zoo_copy(zoo, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "zoo"
    shutil.copytree(zoo, folder)
    monkeypatch.setenv("GOSVAE_ZOO_PATH", str(folder))
    return folder


def test_without_write_it_measures_and_leaves_the_entry_alone(zoo_copy, capsys):
    before = (zoo_copy / f"{NAME}.json").read_text()
    assert main(["calibrate-int8", NAME, "--num-images", "2", "--val-images", "2", "--threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{NAME}: int8 on 2 synthetic-urban/val scenes: mIoU ")
    assert " in float32 (" in out[0] and " of 4096 labels changed" in out[0]
    assert out[1] == "not written (add --write to store it in the zoo entry)"
    assert (zoo_copy / f"{NAME}.json").read_text() == before


def test_write_stores_a_loadable_calibration_and_keeps_the_weights(zoo_copy, capsys):
    weights = sha256_file(zoo_copy / f"{NAME}.safetensors")
    assert main(["calibrate-int8", NAME, "--num-images", "2", "--val-images", "2", "--write"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"written into {zoo_copy / (NAME + '.json')}"
    meta = json.loads((zoo_copy / f"{NAME}.json").read_text())
    assert meta["weights_sha256"] == weights == sha256_file(zoo_copy / f"{NAME}.safetensors")
    recorded = meta[ZOO_FIELD]
    assert recorded["data"] == {"dataset": "synthetic-urban/train", "num_images": 2, "size": [32, 64], "seed": 0, "first_images": True}
    quality = recorded["quality"]
    assert quality["num_images"] == 2 and quality["pixels"] == 2 * 32 * 64
    assert abs(quality["miou_int8"] - quality["miou_float32"] - quality["miou_change"]) < 2e-6
    calibration = zoo_int8_calibration(NAME)
    assert calibration.qparams and get_entry(NAME).weights_sha256 == weights
    assert load_teacher(NAME).num_classes == 19  # the entry still loads as a teacher
    capsys.readouterr()
    assert main(["zoo", "-v"]) == 0
    listing = capsys.readouterr().out
    expected = (f"    int8 calibration (teacher_precision: int8): mIoU {quality['miou_int8']:.4f} against "
                f"{quality['miou_float32']:.4f} in float32 on 2 synthetic-urban/val images")
    assert expected in listing.split(NAME, 1)[1].split("\n", 5)[4]


@pytest.mark.parametrize(("argv", "message"), [
    (["no-data-teacher"], "zoo entry no-data-teacher: data.train does not name the dataset it was trained on"),
    ([NAME, "--num-images", "0"], "--num-images: expected 1 to 10000, got 0"),
    (["nope"], "no model 'nope' in the zoo"),
    (["root-teacher"], "zoo entry root-teacher: data.train.root (or --root): environment variable GOSVAE_TEST_UNSET_ROOT is not set"),
])
def test_bad_requests_fail_in_one_line(zoo_copy, capsys, monkeypatch, argv, message):
    monkeypatch.delenv("GOSVAE_TEST_UNSET_ROOT", raising=False)
    assert main(["calibrate-int8", *argv]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err

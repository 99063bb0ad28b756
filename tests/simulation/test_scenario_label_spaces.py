"""A scenario whose teacher predicts another label space than the dataset's: mapping or refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gosvae.errors import ConfigError
from gosvae.teachers import UrbanUNet
from gosvae.zoo import save_zoo_entry
from simulation.scenario import validate_scenario
from simulation.testing import tiny_scenario, write_tiny_zoo


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    write_tiny_zoo(folder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        other = UrbanUNet(num_classes=3, widths=(4, 4, 8, 8), class_names=("thing", "stuff", "void-ish")).freeze()
    save_zoo_entry(
        state_dict=other.state_dict(), directory=folder,
        metadata={"name": "three-class-teacher", "kind": "teacher", "arch": "urban-unet", "arch_config": other.config,
                  "config": "-", "command": "-", "data": {}, "steps": 0, "quality": {}},
    )
    return folder


@pytest.fixture(autouse=True)
def _zoo_env(zoo_dir, monkeypatch):
    monkeypatch.setenv("GOSVAE_ZOO_PATH", str(zoo_dir))


def test_a_teacher_of_another_label_space_without_mapping_is_refused_before_the_run():
    data = {**tiny_scenario(), "teacher": "three-class-teacher"}
    with pytest.raises(ConfigError) as info:
        validate_scenario(data, source="s.yaml")
    message = str(info.value)
    assert message.startswith("s.yaml: teacher: the teacher predicts custom-3 classes but the dataset is labelled in cityscapes-19")
    assert "\n" not in message


def test_a_named_mapping_file_is_checked_at_load(tmp_path):
    mapping = tmp_path / "three_to_cityscapes.yaml"
    mapping.write_text("source: custom-3\ntarget: cityscapes-19\nclasses: {thing: car, stuff: road, void-ish: null}\n")
    data = {**tiny_scenario(), "teacher": "three-class-teacher", "label_mapping": str(mapping)}
    assert validate_scenario(data, source="s.yaml").scenario.label_mapping == str(mapping)
    mapping.write_text("source: custom-3\ntarget: cityscapes-19\nclasses: {thing: lorry, stuff: road, void-ish: null}\n")
    with pytest.raises(ConfigError, match=r"s.yaml: label_mapping: label mapping .*classes.thing: 'lorry' is not a cityscapes-19 class"):
        validate_scenario(data, source="s.yaml")


def test_a_dataset_root_setting_names_its_variable(monkeypatch):
    monkeypatch.delenv("GOSVAE_TEST_DATA", raising=False)
    data = {**tiny_scenario(), "dataset": {"name": "camvid", "split": "val", "num_images": 2, "size": [32, 64],
                                           "root": "${GOSVAE_TEST_DATA:-/nonexistent/camvid}"}}
    with pytest.raises(ConfigError, match=r"dataset.root: folder /nonexistent/camvid does not exist \(from the setting "
                                          r"\$\{GOSVAE_TEST_DATA:-/nonexistent/camvid\}"):
        validate_scenario(data, source="s.yaml")
    data["dataset"]["root"] = "${GOSVAE_TEST_DATA}"
    with pytest.raises(ConfigError, match="dataset.root: environment variable GOSVAE_TEST_DATA is not set"):
        validate_scenario(data, source="s.yaml")

"""Every committed training config validates, builds its model, and (for zoo entries) matches the
recipe its zoo entry records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gosvae.teachers import build_teacher
from gosvae.training.codec import CodecTrainingConfig
from gosvae.training.config import TeacherTrainingConfig
from gosvae.training.rl_asc import RLASCTrainingConfig
from gosvae.models import VQVAE
from gosvae.yaml_config import read_yaml, validate_model

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
ZOO = ROOT / "gosvae" / "zoo"


def test_there_are_configs():
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_validates_and_builds(path):
    data = read_yaml(path)
    if data["task"] == "teacher":
        config = validate_model(data, TeacherTrainingConfig, source=str(path))
        teacher = build_teacher(config.arch, config.arch_config)
        assert teacher.num_classes == config.arch_config["num_classes"]
    elif isinstance(data.get("model"), dict) and data["model"].get("arch") == "factorized-ae":  # Ballé 2017 baseline
        from gosvae.models.factorized_ae import FactorizedAE
        from gosvae.training.factorized_ae import FactorizedAETrainingConfig

        config = validate_model(data, FactorizedAETrainingConfig, source=str(path))
        FactorizedAE.from_config(config.model.model_dump())
    elif isinstance(data.get("model"), dict) and data["model"].get("arch") == "rl-asc":  # RL-ASC (Huang et al.)
        from gosvae.models.rl_asc import RLASC
        from gosvae.zoo import get_entry

        config = validate_model(data, RLASCTrainingConfig, source=str(path))
        num_classes = get_entry(config.teacher).arch_config["num_classes"]
        RLASC.from_config({**config.model.model_dump(exclude={"arch"}), "num_classes": num_classes})
        assert config.data.crop[0] % 8 == 0 and config.data.crop[1] % 8 == 0
        steps = config.stages.one + (config.stages.two if config.allocation == "agent" else 0) + config.stages.three
    else:
        config = validate_model(data, CodecTrainingConfig, source=str(path))
        VQVAE(**config.model)
    entry = ZOO / f"{config.name}.json"
    if entry.is_file():  # a trained entry: the committed recipe is the one that made it
        meta = json.loads(entry.read_text())
        assert meta["config"] == str(path.relative_to(ROOT))
        assert meta["steps"] == (steps if isinstance(config, RLASCTrainingConfig) else config.optim.steps)

"""Shared fixtures: a temporary zoo (searched first via GOSVAE_ZOO_PATH) with tiny random models."""

from __future__ import annotations

import pytest
import torch

from gosvae.models import VQVAE
from gosvae.teachers import UrbanUNet
from gosvae.zoo import save_zoo_entry

TINY_CODEC_CONFIG = {"arch": "shallow", "ratio": 4, "codebook_size": 16, "embedding_dim": 8,
                     "encoder_channels": [8, 8], "decoder_channels": [8, 8]}


@pytest.fixture()
def tiny_zoo(tmp_path, monkeypatch):
    """A zoo folder holding ``tiny-teacher`` (urban-unet, 19 classes) and ``tiny-codec`` (r=4, K=16)."""
    zoo = tmp_path / "zoo"
    monkeypatch.setenv("GOSVAE_ZOO_PATH", str(zoo))
    torch.manual_seed(0)
    teacher = UrbanUNet(num_classes=19, widths=(4, 4, 8, 8)).freeze()
    common = {"config": "-", "command": "-", "data": {}, "steps": 0}
    save_zoo_entry(state_dict=teacher.state_dict(), directory=zoo,
                   metadata={"name": "tiny-teacher", "kind": "teacher", "arch": "urban-unet",
                             "arch_config": teacher.config, **common})
    codec = VQVAE(**TINY_CODEC_CONFIG)
    codec.quantizer.set_index_prior(torch.arange(1, 17))  # non-uniform prior
    save_zoo_entry(state_dict=codec.state_dict(), directory=zoo,
                   metadata={"name": "tiny-codec", "kind": "codec", "arch": "vqvae", "scheme": "VQ-VAE",
                             "arch_config": codec.config, **common})
    return zoo


@pytest.fixture()
def tiny_teacher_training(tmp_path):
    """Factory of a 2-step ``task: teacher`` config dict (19 classes, 32x64 renders) under ``tmp_path``:
    ``tiny_teacher_training(loss={...}, num_train=2)``."""

    def build(*, loss: dict, num_train: int = 2) -> dict:
        return {
            "task": "teacher",
            "name": "tiny",
            "arch": "urban-unet",
            "arch_config": {"num_classes": 19, "widths": [4, 4, 8, 8]},
            "data": {
                "train": {"name": "synthetic-urban", "split": "train", "num_images": num_train, "size": [32, 64]},
                "val": {"name": "synthetic-urban", "split": "val", "num_images": 1, "size": [32, 64]},
                "cache_dir": str(tmp_path / "cache"),
            },
            "optim": {"steps": 2, "batch_size": 2, "lr": 0.01, "warmup_steps": 0, "schedule": "constant"},
            "loss": loss,
            "run": {"out_dir": str(tmp_path / "run"), "num_threads": 1, "checkpoint_every": 5},
        }

    return build

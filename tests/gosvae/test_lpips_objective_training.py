"""``objective: {name: lpips}`` / ``perceptual: lpips`` in ``gosvae train``: the LPIPS module is loaded
from ``$GOSVAE_VGG16_WEIGHTS`` and ``$GOSVAE_LPIPS_WEIGHTS`` (synthetic weight files here)."""

from __future__ import annotations

import pytest
import torch

from gosvae.errors import MissingWeightsError
from gosvae.objectives import build_objective, load_objective_lpips, uses_lpips
from gosvae.perceptual import LPIPS
from gosvae.perceptual.vgg16 import VGG16Trunk
from gosvae.training.codec import CodecTrainingConfig, train_codec

LPIPS_HEAD_CHANNELS = (64, 128, 256, 512, 512)  # relu1_2 ... relu5_3 of VGG16


@pytest.fixture
def lpips_env(tmp_path, monkeypatch) -> None:
    """Tiny-valued (float16, seeded) VGG16 and LPIPS head files, named by the two variables."""
    generator = torch.Generator().manual_seed(0)
    vgg = {key: (0.05 * torch.randn(shape, generator=generator)).half()
           for key, shape in VGG16Trunk().torchvision_state_dict_shapes().items()}
    heads = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=generator) for k, c in enumerate(LPIPS_HEAD_CHANNELS)}
    torch.save(vgg, tmp_path / "vgg16.pth")
    torch.save(heads, tmp_path / "vgg.pth")
    monkeypatch.setenv("GOSVAE_VGG16_WEIGHTS", str(tmp_path / "vgg16.pth"))
    monkeypatch.setenv("GOSVAE_LPIPS_WEIGHTS", str(tmp_path / "vgg.pth"))


@pytest.mark.parametrize(
    ("name", "perceptual", "weights", "expected"),
    [
        ("lpips", "teacher-features", None, True),
        ("gos", "lpips", None, True),
        ("gos", "lpips", {"perceptual": 0.0}, False),
        ("gos", "teacher-features", None, False),
        ("kld+perceptual", "lpips", {"perceptual": 2.0}, True),
        ("mse", "lpips", None, False),  # "mse" has no perceptual term
    ],
)
def test_uses_lpips(name, perceptual, weights, expected):
    assert uses_lpips(name, perceptual=perceptual, weights=weights) is expected


def test_lpips_module_is_loaded_from_the_environment(lpips_env):
    metric = load_objective_lpips("lpips")
    assert isinstance(metric, LPIPS)
    assert metric.lin0.model[1].weight.shape == (1, 64, 1, 1)  # the heads file was read
    assert load_objective_lpips("gos", perceptual="teacher-features") is None
    objective = build_objective("lpips", lpips=metric)
    assert objective.lpips is metric and set(objective.weights) == {"perceptual", "codebook", "commitment"}


def test_missing_variables_are_one_line_naming_them(monkeypatch):
    monkeypatch.delenv("GOSVAE_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("GOSVAE_LPIPS_WEIGHTS", "/nowhere/vgg.pth")
    with pytest.raises(MissingWeightsError, match=r"GOSVAE_VGG16_WEIGHTS is not set") as caught:
        load_objective_lpips("lpips")
    assert "\n" not in str(caught.value)
    assert load_objective_lpips("mse") is None  # nothing needed: the variables are not read


@pytest.mark.parametrize("objective", [{"name": "lpips"}, {"name": "kld+perceptual", "perceptual": "lpips"}])
def test_gosvae_train_with_an_lpips_objective(tmp_path, tiny_zoo, lpips_env, objective):
    config = CodecTrainingConfig.model_validate(
        {
            "task": "codec",
            "name": "tiny-lpips",
            "model": {"arch": "shallow", "ratio": 4, "codebook_size": 16, "embedding_dim": 8,
                      "encoder_channels": [8, 8], "decoder_channels": [8, 8]},
            "teacher": "tiny-teacher",
            "objective": objective,
            "data": {
                "train": {"name": "synthetic-urban", "split": "train", "num_images": 2, "size": [32, 64]},
                "val": {"name": "synthetic-urban", "split": "val", "num_images": 1, "size": [32, 64]},
                "crop": [32, 64],
                "cache_dir": str(tmp_path / "cache"),
            },
            "optim": {"steps": 2, "batch_size": 2, "lr": 0.01, "warmup_steps": 0, "schedule": "constant"},
            "run": {"out_dir": str(tmp_path / "run"), "num_threads": 1, "log_every": 1, "checkpoint_every": 10},
        }
    )
    train_codec(config, config_path="tiny.yaml", command="gosvae train tiny.yaml")
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    perceptual = [float(line.split(",")[header.index("perceptual")]) for line in log[1:]]
    assert len(perceptual) == 2 and all(value > 0 for value in perceptual)  # an LPIPS distance was trained on

"""VQ-GAN training: PatchGAN discriminator, hinge losses, the alternating step, checkpoint and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gosvae.models import VQVAE
from gosvae.models.patch_discriminator import PatchDiscriminator
from gosvae.objectives import build_objective
from gosvae.training.codec import CodecTrainingConfig, train_codec
from gosvae.training.gan import GanConfig, GanTraining, adaptive_weight, hinge_d_loss, hinge_g_loss
from gosvae.yaml_config import read_yaml, validate_model

ROOT = Path(__file__).resolve().parents[2]
TINY = {"arch": "shallow", "ratio": 4, "codebook_size": 16, "embedding_dim": 8, "encoder_channels": [8, 8], "decoder_channels": [8, 8]}


def test_hinge_losses_match_hand_values():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    # relu(1 - real) = [0, 0.5, 2] (mean 5/6); relu(1 + fake) = [0, 1, 2] (mean 1)
    assert float(hinge_d_loss(real, fake)) == pytest.approx(0.5 * (5 / 6 + 1))
    assert float(hinge_g_loss(fake)) == pytest.approx(1 / 3)
    assert float(hinge_d_loss(torch.full((4,), 1.5), torch.full((4,), -1.5))) == 0.0  # confident and right: no loss


def test_adaptive_weight_is_the_gradient_norm_ratio():
    w = torch.ones(2, 3, requires_grad=True)
    rec, g = (2.0 * w).sum(), (-0.5 * w).sum()
    norm = 6**0.5
    assert float(adaptive_weight(rec, g, w)) == pytest.approx(2 * norm / (0.5 * norm + 1e-4))


def test_patch_discriminator_scores_patches():
    disc = PatchDiscriminator(channels=8, layers=3)
    assert disc(torch.rand(2, 3, 64, 128)).shape == (2, 1, 6, 14)
    assert PatchDiscriminator(channels=8, layers=2)(torch.rand(1, 3, 32, 32)).shape == (1, 1, 6, 6)


def _step(model, gan, objective, optimizer, step, images):
    output = model(images)
    losses = gan.generator_losses(step, images, output, objective(images, output))
    optimizer.zero_grad(set_to_none=True)
    losses["total"].backward()
    optimizer.step()
    return losses, gan.discriminator_step(step, images, output.x_hat, optimizer)


def test_the_gan_step_updates_both_nets_and_waits_for_start_step():
    torch.manual_seed(0)
    model = VQVAE(**TINY)
    gan = GanTraining(GanConfig(weight=0.5, start_step=1, disc_channels=8, disc_layers=2, perceptual="none"), model=model)
    optimizer = torch.optim.AdamW([{"params": list(model.parameters())}, gan.param_group()], lr=1e-2)
    assert optimizer.param_groups[1]["betas"] == (0.5, 0.9) and optimizer.param_groups[1]["lr"] == 2e-4
    objective = build_objective("mse")
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    disc_before = {k: v.clone() for k, v in gan.discriminator.state_dict().items()}
    losses, d_row = _step(model, gan, objective, optimizer, 0, images)  # before start_step: no adversarial term
    assert "g_adv" not in losses and d_row == {}
    assert all(torch.equal(v, gan.discriminator.state_dict()[k]) for k, v in disc_before.items())
    gen_before = {k: v.clone() for k, v in model.state_dict().items()}
    losses, d_row = _step(model, gan, objective, optimizer, 1, images)
    assert {"g_adv", "adv_weight", "total", "mse"} <= set(losses) and set(d_row) == {"d_loss", "d_real", "d_fake"}
    assert float(losses["adv_weight"]) > 0
    assert any(not torch.equal(v, gen_before[k]) for k, v in model.state_dict().items() if k.startswith("decoder."))
    changed = [k for k, v in gan.discriminator.state_dict().items() if v.is_floating_point() and not torch.equal(v, disc_before[k])]
    assert any(k.endswith("weight") for k in changed)
    # the generator's loss leaves no gradient in the discriminator (it is frozen during that update)
    optimizer.zero_grad(set_to_none=True)
    output = model(images)
    gan.generator_losses(2, images, output, objective(images, output))["total"].backward()
    assert all(p.grad is None for p in gan.discriminator.parameters())
    assert all(p.grad is not None for p in model.decoder.parameters())


def _gan_config(tmp_path, *, name: str, steps: int, out: str) -> CodecTrainingConfig:
    return CodecTrainingConfig.model_validate({
        "task": "codec", "name": name, "model": TINY, "teacher": "tiny-teacher",
        "objective": {"name": "mse"}, "codebook": {"restart_dead_every": 0},
        "gan": {"weight": 0.1, "start_step": 1, "disc_channels": 8, "disc_layers": 2, "perceptual": "teacher-features"},
        "data": {"train": {"name": "synthetic-urban", "split": "train", "num_images": 4, "size": [32, 64]},
                 "val": {"name": "synthetic-urban", "split": "val", "num_images": 2, "size": [32, 64]},
                 "crop": [32, 64], "cache_dir": str(tmp_path / "cache")},
        "optim": {"steps": steps, "batch_size": 2, "lr": 0.01, "warmup_steps": 0, "schedule": "constant"},
        "run": {"out_dir": str(tmp_path / out), "num_threads": 1, "log_every": 1, "checkpoint_every": 2},
    })


def test_resume_reproduces_the_straight_run_discriminator_included(tmp_path, tiny_zoo):
    train_codec(_gan_config(tmp_path, name="g", steps=4, out="straight"), config_path="g.yaml", command="c")
    train_codec(_gan_config(tmp_path, name="g", steps=2, out="resumed"), config_path="g.yaml", command="c")
    train_codec(_gan_config(tmp_path, name="g", steps=4, out="resumed"), config_path="g.yaml", command="c", resume=True)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    assert any(k.startswith("discriminator.") for k in a["model"]) and any(k.startswith("encoder.") for k in a["model"])
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert len(a["optimizer"]["param_groups"]) == 2
    for index, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["optimizer"]["state"][index][name])), (index, name)
    log = (tmp_path / "straight" / "log.csv").read_text().splitlines()
    assert {"gan_perceptual", "g_adv", "d_loss"} <= set(log[0].split(","))
    # a GAN run folder is a valid init_from for a plain codec run: the discriminator keys are dropped
    model = VQVAE(**TINY)
    model.load_state_dict({k: v for k, v in a["model"].items() if not k.startswith("discriminator.")})


def test_committed_vq_gan_config_validates():
    path = ROOT / "configs" / "codecs" / "baselines" / "vq_gan_r4.yaml"
    config = validate_model(read_yaml(path), CodecTrainingConfig, source=str(path))
    VQVAE(**config.model)
    assert config.init_from == "vq-vae-r4" and config.gan is not None and config.gan.start_step > 0

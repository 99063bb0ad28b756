"""A tiny codec training run: the loss falls, the zoo entry is complete and the codec round-trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gosvae.codecs.vqvae import load_codec
from gosvae.training.codec import CodecTrainingConfig, train_codec
from gosvae.zoo import get_entry, half_precision_state, load_zoo_weights


def _config(tmp_path, *, name: str, objective: str, steps: int, init_from: str | None = None) -> CodecTrainingConfig:
    return CodecTrainingConfig.model_validate(
        {
            "task": "codec",
            "name": name,
            "model": {"arch": "shallow", "ratio": 4, "codebook_size": 16, "embedding_dim": 8,
                      "encoder_channels": [8, 8], "decoder_channels": [8, 8]},
            "init_from": init_from,
            "teacher": "tiny-teacher",
            "objective": {"name": objective},
            "codebook": {"restart_dead_every": 5},
            "data": {
                "train": {"name": "synthetic-urban", "split": "train", "num_images": 4, "size": [32, 64]},
                "val": {"name": "synthetic-urban", "split": "val", "num_images": 2, "size": [32, 64]},
                "crop": [32, 64],
                "cache_dir": str(tmp_path / "cache"),
            },
            "optim": {"steps": steps, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "schedule": "constant"},
            "run": {"out_dir": str(tmp_path / name), "num_threads": 1, "log_every": 5, "checkpoint_every": 10},
        }
    )


def test_tiny_vqvae_then_gos_finetune_lower_loss_export_and_round_trip(tmp_path, tiny_zoo):
    config = _config(tmp_path, name="tiny-vq", objective="mse", steps=30)
    row = train_codec(config, config_path="tiny.yaml", command="gosvae train tiny.yaml", export_zoo=True, zoo_dir=tiny_zoo)
    log = (tmp_path / "tiny-vq" / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    totals = [float(r.split(",")[header.index("total")]) for r in log[1:]]
    assert len(totals) == 6 and totals[-1] < 0.7 * totals[0]
    assert "perplexity" in header and "restarted_codes" in header

    entry = get_entry("tiny-vq")
    assert entry.kind == "codec" and entry.steps == 30 and entry.command == "gosvae train tiny.yaml"
    assert entry.quality["payload_kb"] == pytest.approx(row["payload_kb"])
    _, state = load_zoo_weights("tiny-vq")
    assert all(v.dtype != torch.float16 for v in state.values())
    # the prior stored with the model is the empirical index distribution (Laplace-smoothed)
    prior = state["quantizer.index_prior"]
    assert prior.dtype == torch.float64 and prior.sum().item() == pytest.approx(1.0)

    codec = load_codec("tiny-vq")
    images = torch.rand(2, 3, 32, 64)
    streams = codec.encode(images)
    decoded = codec.decode([s.packets for s in streams], image_size=(32, 64))
    assert decoded.images.shape == (2, 3, 32, 64) and decoded.concealed_fraction == [0.0, 0.0]
    indices = [d.indices for d in decoded.details]
    np.testing.assert_array_equal(np.stack(indices), codec.encode_indices(images).numpy())

    # GOS-VAE*: fine-tune the exported VQ-VAE with L_s through the tiny teacher
    star = _config(tmp_path, name="tiny-star", objective="gos", steps=10, init_from="tiny-vq")
    train_codec(star, config_path="star.yaml", command="c")
    log = (tmp_path / "tiny-star" / "log.csv").read_text().splitlines()
    assert {"js", "perceptual", "total"} <= set(log[0].split(","))


def test_half_precision_state_keeps_prior_and_integers():
    state = {"w": torch.randn(3), "quantizer.index_prior": torch.rand(4, dtype=torch.float64),
             "quantizer.usage_counts": torch.arange(4)}
    half = half_precision_state(state)
    assert half["w"].dtype == torch.float16
    torch.testing.assert_close(half["w"].float(), state["w"], atol=2e-3, rtol=1e-3)
    assert half["quantizer.index_prior"].dtype == torch.float64
    assert torch.equal(half["quantizer.usage_counts"], state["quantizer.usage_counts"])

"""Tests of gosvae.models: shapes for every ratio, sizes, encode/decode/forward agreement, config."""

from __future__ import annotations

import json

import pytest
import torch

from gosvae.errors import ConfigError, UserError
from gosvae.models import SUPPORTED_RATIOS, VQVAE, ResidualBlock


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _tiny(arch: str, ratio: int) -> VQVAE:
    stages = ratio.bit_length() - 1
    options = {"residual_channels": 4, "num_residual_blocks": 1} if arch == "residual" else {}
    return VQVAE(arch=arch, ratio=ratio, codebook_size=16, embedding_dim=4,
                 encoder_channels=[8] * stages, decoder_channels=[8] * stages, **options)


@pytest.mark.parametrize("arch", ["shallow", "residual"])
@pytest.mark.parametrize("ratio", SUPPORTED_RATIOS)
def test_shapes_ranges_and_encode_decode_agree_with_forward(arch: str, ratio: int) -> None:
    model = _tiny(arch, ratio).eval()
    x = torch.rand(2, 3, 32, 64)
    indices = model.encode(x)
    assert indices.shape == (2, 32 // ratio, 64 // ratio) and indices.dtype == torch.int64
    assert 0 <= int(indices.min()) and int(indices.max()) < 16
    with torch.no_grad():
        x_hat = model.decode(indices)
        out = model(x)
    assert x_hat.shape == x.shape and x_hat.dtype == torch.float32
    assert float(x_hat.min()) >= 0.0 and float(x_hat.max()) <= 1.0
    torch.testing.assert_close(out.indices, indices, rtol=0, atol=0)
    torch.testing.assert_close(out.x_hat, x_hat)
    assert out.codebook_loss.dim() == 0 and out.commitment_loss.dim() == 0
    assert 1.0 <= float(out.perplexity) <= 16.0


def test_default_shallow_model_has_the_papers_size_at_r4() -> None:
    model = VQVAE(arch="shallow", ratio=4, codebook_size=512)
    total = _count(model)
    assert abs(total - 0.70e6) <= 0.10 * 0.70e6, total
    assert total == _count(model.encoder) + _count(model.decoder) + 512 * 64  # codebook K x D
    # The transmitter half is light: under 6 % of the model.
    assert _count(model.encoder) < 0.06 * total


def test_default_residual_model_has_the_papers_size_at_r4() -> None:
    model = VQVAE(arch="residual", ratio=4)
    assert model.codebook_size == 12000
    total = _count(model)
    assert abs(total - 7.3e6) <= 0.10 * 7.3e6, total
    assert any(isinstance(m, ResidualBlock) for m in model.encoder.modules())
    assert any(isinstance(m, ResidualBlock) for m in model.decoder.modules())


def test_residual_block_adds_its_branch_to_the_input() -> None:
    block = ResidualBlock(6, hidden_channels=3)
    x = torch.randn(2, 6, 4, 5)
    torch.testing.assert_close(block(x), x + block.branch(x))
    with torch.no_grad():
        block.branch[-1].weight.zero_()
        block.branch[-1].bias.zero_()
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)


@pytest.mark.parametrize("arch", ["shallow", "residual"])
def test_config_is_json_and_rebuilds_the_same_model(arch: str) -> None:
    model = _tiny(arch, 4)
    config = json.loads(json.dumps(model.config))
    assert config == model.config and config["arch"] == arch and config["ratio"] == 4
    rebuilt = VQVAE.from_config(config)
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())  # same architecture: keys and shapes match
    x = torch.rand(1, 3, 16, 16)
    model.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt(x).x_hat, model(x).x_hat, rtol=0, atol=0)


def test_config_records_resolved_defaults() -> None:
    config = VQVAE(arch="residual", ratio=8, codebook_size=32, embedding_dim=8).config
    assert config["codebook_size"] == 32 and config["beta"] == 0.25
    assert len(config["encoder_channels"]) == 3 and len(config["decoder_channels"]) == 3
    assert {"residual_channels", "num_residual_blocks"} <= set(config)
    assert "residual_channels" not in _tiny("shallow", 2).config


def test_encode_leaves_usage_counts_alone_and_training_forward_counts() -> None:
    model = _tiny("shallow", 2)
    x = torch.rand(2, 3, 8, 8)
    model.train()
    model.encode(x)
    assert int(model.quantizer.usage_counts.sum()) == 0
    model(x)
    assert int(model.quantizer.usage_counts.sum()) == 2 * 4 * 4


def test_gradients_reach_encoder_decoder_and_codebook() -> None:
    model = _tiny("shallow", 2)
    x = torch.rand(2, 3, 8, 8)
    out = model(x)
    (((out.x_hat - x) ** 2).mean() + out.codebook_loss + out.commitment_loss).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), name


def test_user_errors() -> None:
    model = _tiny("shallow", 4)
    with pytest.raises(UserError, match=r"30x64 is not divisible by the compression ratio 4"):
        model.encode(torch.rand(1, 3, 30, 64))
    with pytest.raises(UserError, match=r"not divisible"):
        model(torch.rand(1, 3, 32, 66))
    with pytest.raises(UserError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 32, 64))
    with pytest.raises(UserError, match=r"compression ratio must be one of \[2, 4, 8, 16, 32\], got 3"):
        VQVAE(ratio=3)
    with pytest.raises(UserError, match=r"arch must be one of"):
        VQVAE(arch="transformer")
    with pytest.raises(UserError, match=r"'residual' only"):
        VQVAE(arch="shallow", num_residual_blocks=2)
    with pytest.raises(UserError, match=r"encoder_channels must list 2 positive widths"):
        VQVAE(ratio=4, encoder_channels=[8, 8, 8])
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['depth'\]"):
        VQVAE.from_config({**model.config, "depth": 3})

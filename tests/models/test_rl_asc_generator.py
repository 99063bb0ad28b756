"""RL-ASC generator (local + SPADE global + attention), SPADE, and the conditional multi-scale discriminator."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gosvae.errors import UserError
from gosvae.models.patch_discriminator import PatchDiscriminator
from gosvae.models.rl_asc_generator import (
    SPADE,
    GeneratorOutput,
    MultiScalePatchDiscriminator,
    RLASCGenerator,
    SpadeResBlock,
    labels_onehot,
)

N, K, W = 4, 5, 8  # concept channels, classes, width


def _inputs(batch: int = 2, h: int = 2, w: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, N, h, w, generator=g)
    labels = torch.randint(0, K, (batch, 8 * h, 8 * w), generator=g)
    return features, labels


def _generator(**kwargs) -> RLASCGenerator:
    torch.manual_seed(0)
    options = {"concept_channels": N, "num_classes": K, "width": W, "local_blocks": 2}
    return RLASCGenerator(**{**options, **kwargs})


def test_labels_onehot():
    labels = torch.tensor([[[0, 2], [1, 2]]])
    onehot = labels_onehot(labels, 3)
    assert onehot.shape == (1, 3, 2, 2) and onehot.dtype == torch.float32
    assert torch.equal(onehot.argmax(1), labels) and torch.equal(onehot.sum(1), torch.ones(1, 2, 2))
    with pytest.raises(UserError, match=r"labels must lie in \[0, 3\), got values from 0 to 255"):
        labels_onehot(torch.tensor([[[0, 255]]]), 3)
    with pytest.raises(UserError, match="integer"):
        labels_onehot(torch.zeros(1, 2, 2), 3)


@pytest.mark.parametrize("global_blocks", [1, 3, 4])
def test_generator_shapes_and_ranges(global_blocks):
    gen = _generator(global_blocks=global_blocks)
    features, labels = _inputs()
    out = gen(features, labels)
    assert isinstance(out, GeneratorOutput)
    for image in (out.image, out.local, out.global_image):
        assert image.shape == (2, 3, 16, 32) and image.dtype == torch.float32
        assert image.min() >= 0 and image.max() <= 1
    assert out.attention.shape == (2, 2, 16, 32) and out.attention.min() >= 0
    torch.testing.assert_close(out.attention.sum(1), torch.ones(2, 16, 32))
    mixed = out.attention[:, :1] * out.local + out.attention[:, 1:] * out.global_image
    torch.testing.assert_close(out.image, mixed)
    assert gen.config == {"concept_channels": N, "num_classes": K, "width": W, "local_blocks": 2, "global_blocks": global_blocks}


def test_global_widths_halve_down_to_width():
    gen = _generator(global_blocks=4)
    widths = [(b.conv_0.in_channels, b.conv_1.out_channels) for b in gen.spade_blocks]
    assert widths == [(4 * W, 4 * W), (4 * W, 2 * W), (2 * W, W), (W, W)]


def test_local_head_is_class_specific():
    gen = _generator().eval()
    features, labels = _inputs()
    c = 3
    with torch.no_grad():
        before = gen(features, labels).local
        gen.local_heads.weight[:, 3 * c : 3 * c + 3] += 0.5
        gen.local_heads.bias[3 * c : 3 * c + 3] += 0.5
        after = gen(features, labels).local
    changed = (after - before).abs().amax(dim=1) > 1e-6  # (B, H, W)
    assert torch.equal(changed, labels == c)


def test_spade_depends_on_labels():
    torch.manual_seed(0)
    spade = SPADE(6, label_channels=K, hidden=8)
    x = torch.randn(2, 6, 4, 8)
    _, labels = _inputs(h=1, w=2)  # 8x16 labels, resized to 4x8 inside
    other = (labels + 1) % K
    a = spade(x, labels_onehot(labels, K))
    b = spade(x, labels_onehot(other, K))
    assert a.shape == x.shape and not torch.allclose(a, b)


def test_spade_constant_labels_matches_the_formula():
    torch.manual_seed(0)
    spade = SPADE(6, label_channels=K, hidden=8)
    x = torch.randn(2, 6, 4, 8)
    onehot = labels_onehot(torch.full((2, 16, 32), 2), K)
    small = F.interpolate(onehot, size=(4, 8), mode="nearest")
    hidden = torch.relu(spade.mlp_shared[0](small))
    gamma, beta = spade.mlp_gamma(hidden), spade.mlp_beta(hidden)
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-5) * (1 + gamma) + beta
    torch.testing.assert_close(spade(x, onehot), expected, rtol=1e-4, atol=1e-5)
    assert spade.norm.weight is None and spade.norm.bias is None  # parameter-free norm


def test_spade_res_block_shortcut():
    torch.manual_seed(0)
    same, changed = SpadeResBlock(8, 8, label_channels=K, hidden=8), SpadeResBlock(8, 4, label_channels=K, hidden=8)
    assert not same.learned_shortcut and changed.learned_shortcut and changed.conv_s.bias is None
    onehot = labels_onehot(torch.randint(0, K, (1, 8, 8)), K)
    assert same(torch.randn(1, 8, 4, 4), onehot).shape == (1, 8, 4, 4)
    assert changed(torch.randn(1, 8, 4, 4), onehot).shape == (1, 4, 4, 4)


def test_gradients_reach_every_generator_parameter():
    gen = _generator()
    features, labels = _inputs()
    labels[0, 0, :K] = torch.arange(K)  # every class present, so every local head is used
    gen(features, labels).image.mean().backward()
    missing = [name for name, p in gen.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (torch.randn(2, N, 2), torch.zeros(2, 16, 32, dtype=torch.long), r"features must be \(B, 4, h, w\), got \(2, 4, 2\)"),
        (torch.randn(2, N + 1, 2, 4), torch.zeros(2, 16, 32, dtype=torch.long), r"features must be \(B, 4, h, w\)"),
        (torch.randn(2, N, 2, 4), torch.zeros(2, 16, 16, dtype=torch.long), r"labels must be \(B, 16, 32\) for features of side 2x4"),
        (torch.randn(2, N, 2, 4), torch.zeros(16, 32, dtype=torch.long), r"labels must be \(B, 16, 32\)"),
        (torch.randn(2, N, 2, 4), torch.zeros(3, 16, 32, dtype=torch.long), "differ in batch size: 2 and 3"),
        (torch.randn(2, N, 2, 4), torch.full((2, 16, 32), K), r"labels must lie in \[0, 5\)"),
        (torch.randn(2, N, 1, 1), torch.zeros(2, 8, 8, dtype=torch.long), "at least 2 spatial positions"),
    ],
)
def test_generator_rejects_bad_shapes(features, labels, message):
    with pytest.raises(UserError, match=message):
        _generator()(features, labels)


def test_generator_rejects_bad_options():
    with pytest.raises(UserError, match="global_blocks"):
        RLASCGenerator(concept_channels=N, num_classes=K, global_blocks=0)
    with pytest.raises(UserError, match="width"):
        RLASCGenerator(concept_channels=N, num_classes=K, width=0)


def test_multiscale_discriminator():
    torch.manual_seed(0)
    disc = MultiScalePatchDiscriminator(num_classes=K, channels=8, layers=2, scales=2)
    assert disc.config == {"num_classes": K, "channels": 8, "layers": 2, "scales": 2}
    assert all(d.in_channels == 3 + K for d in disc.discriminators)
    images, labels = torch.rand(2, 3, 32, 64), torch.randint(0, K, (2, 32, 64))
    maps = disc(images, labels)
    assert len(maps) == 2 and all(m.shape[:2] == (2, 1) for m in maps)
    assert maps[1].shape[-2] < maps[0].shape[-2] and maps[1].shape[-1] < maps[0].shape[-1]
    with pytest.raises(UserError, match=r"labels must be \(B, H, W\) = \(2, 32, 64\)"):
        disc(images, labels[:, :16])
    with pytest.raises(UserError, match=r"images must be \(B, 3, H, W\)"):
        disc(images[:, :1], labels)


def test_patch_discriminator_in_channels():
    default = PatchDiscriminator(channels=8, layers=2)
    wide = PatchDiscriminator(channels=8, layers=2, in_channels=3 + K)
    assert list(default.state_dict()) == list(wide.state_dict())
    assert list(default.state_dict())[0] == "net.0.weight" and default.state_dict()["net.0.weight"].shape[1] == 3
    assert wide.state_dict()["net.0.weight"].shape[1] == 3 + K
    assert default.config == {"channels": 8, "layers": 2}
    assert wide.config == {"channels": 8, "layers": 2, "in_channels": 3 + K}
    assert wide(torch.rand(1, 3 + K, 32, 32)).shape == default(torch.rand(1, 3, 32, 32)).shape
    with pytest.raises(UserError, match=r"images must be \(B, 8, H, W\), got \(1, 3, 32, 32\)"):
        wide(torch.rand(1, 3, 32, 32))
    with pytest.raises(UserError, match=r"images must be \(B, 3, H, W\)"):
        default(torch.rand(1, 4, 32, 32))

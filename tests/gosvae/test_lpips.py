"""Tests of gosvae.perceptual (LPIPS v0.1, VGG16 trunk) with synthetic, seeded weights.

The expected checkpoint layout is written here from torchvision's VGG16 definition and the LPIPS
reference repository, independently of the module under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from gosvae.errors import MissingWeightsError, UserError
from gosvae.perceptual import (
    LPIPS,
    LPIPS_VGG_WEIGHTS_URL,
    VGG16_WEIGHTS_URL,
    VGG16Trunk,
    load_lpips,
    lpips_weights_available,
    resolve_lpips_weight_paths,
)

# torchvision vgg16().features: conv layer index -> (in_channels, out_channels), all 3x3 with bias.
TORCHVISION_VGG16_CONVS = {
    0: (3, 64), 2: (64, 64),
    5: (64, 128), 7: (128, 128),
    10: (128, 256), 12: (256, 256), 14: (256, 256),
    17: (256, 512), 19: (512, 512), 21: (512, 512),
    24: (512, 512), 26: (512, 512), 28: (512, 512),
}
LPIPS_HEAD_CHANNELS = (64, 128, 256, 512, 512)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
# Zhang et al. 2018, reference ScalingLayer (applied to images in [-1, 1]).
SHIFT = np.array([-0.030, -0.088, -0.188]).reshape(1, 3, 1, 1)
SCALE = np.array([0.458, 0.448, 0.450]).reshape(1, 3, 1, 1)


def synthetic_vgg16_state_dict(seed: int, *, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """He-initialised VGG16 weights under torchvision's keys, plus (tiny) classifier keys to ignore."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, (c_in, c_out) in TORCHVISION_VGG16_CONVS.items():
        std = (2.0 / (9 * c_in)) ** 0.5
        state[f"features.{index}.weight"] = (torch.randn(c_out, c_in, 3, 3, generator=generator) * std).to(dtype)
        state[f"features.{index}.bias"] = (0.01 * torch.randn(c_out, generator=generator)).to(dtype)
    # Real classifier tensors are 100M+ values; their content is irrelevant since they must be ignored.
    state["classifier.0.weight"] = torch.zeros(4, 8)
    state["classifier.6.bias"] = torch.zeros(3)
    return state


def synthetic_heads(seed: int, *, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=generator).to(dtype)
        for k, c in enumerate(LPIPS_HEAD_CHANNELS)
    }


def build_metric(vgg_state: dict[str, torch.Tensor], heads: dict[str, torch.Tensor], *, dtype=torch.float32) -> LPIPS:
    metric = LPIPS().to(dtype)
    metric.trunk.load_torchvision_state_dict(vgg_state)
    metric.load_head_state_dict(heads)
    return metric


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    return synthetic_vgg16_state_dict(1)


@pytest.fixture(scope="module")
def heads() -> dict[str, torch.Tensor]:
    return synthetic_heads(2)


@pytest.fixture(scope="module")
def metric(vgg_state, heads) -> LPIPS:
    return build_metric(vgg_state, heads)


def images(seed: int, shape=(3, 3, 24, 24), dtype=torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


# ----------------------------------------------------------------------------------------------
# Independent numpy recomputation of the relu1_2 and relu2_2 terms of LPIPS.


def conv3x3_relu(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # (B, C, H, W, 3, 3)
    out = np.einsum("bchwij,ocij->bohw", windows, weight, optimize=True) + bias[None, :, None, None]
    return np.maximum(out, 0.0)


def max_pool_2x2(x: np.ndarray) -> np.ndarray:
    b, c, h, w = x.shape
    return x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(b, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def lpips_first_two_terms(x: np.ndarray, y: np.ndarray, vgg: dict, heads: dict) -> np.ndarray:
    """(B, 2): the relu1_2 and relu2_2 terms of Zhang et al.'s formula, from the raw weights."""

    def taps(image: np.ndarray) -> list[np.ndarray]:
        h = (2.0 * image - 1.0 - SHIFT) / SCALE
        h = conv3x3_relu(h, vgg["features.0.weight"], vgg["features.0.bias"])
        relu1_2 = conv3x3_relu(h, vgg["features.2.weight"], vgg["features.2.bias"])
        h = conv3x3_relu(max_pool_2x2(relu1_2), vgg["features.5.weight"], vgg["features.5.bias"])
        relu2_2 = conv3x3_relu(h, vgg["features.7.weight"], vgg["features.7.bias"])
        return [relu1_2, relu2_2]

    def unit(f: np.ndarray) -> np.ndarray:
        return f / (np.sqrt((f**2).sum(axis=1, keepdims=True)) + 1e-10)

    terms = []
    for k, (fx, fy) in enumerate(zip(taps(x), taps(y))):
        weighted = (unit(fx) - unit(fy)) ** 2 * heads[f"lin{k}.model.1.weight"].reshape(1, -1, 1, 1)
        terms.append(weighted.sum(axis=1).mean(axis=(1, 2)))
    return np.stack(terms, axis=1)


def test_first_terms_match_numpy_and_layers_add_up():
    vgg = synthetic_vgg16_state_dict(3, dtype=torch.float64)
    heads = synthetic_heads(4, dtype=torch.float64)
    metric = build_metric(vgg, heads, dtype=torch.float64)
    x, y = images(5, (2, 3, 16, 16), torch.float64), images(6, (2, 3, 16, 16), torch.float64)

    numpy_weights = {k: v.numpy() for k, v in {**vgg, **heads}.items()}
    expected = lpips_first_two_terms(x.numpy(), y.numpy(), numpy_weights, numpy_weights)
    per_layer = metric.layer_distances(x, y)
    np.testing.assert_allclose(per_layer[:, :2].numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(metric(x, y).numpy(), per_layer.sum(dim=1).numpy(), rtol=1e-12)
    assert (per_layer > 0).all()

    # With the three deepest heads set to zero the whole distance is the sum of the first two terms.
    first_two = {k: v if k.startswith(("lin0.", "lin1.")) else torch.zeros_like(v) for k, v in heads.items()}
    metric.load_head_state_dict(first_two)
    np.testing.assert_allclose(metric(x, y).numpy(), expected.sum(axis=1), rtol=1e-10)


# ----------------------------------------------------------------------------------------------
# Metric invariants and autograd.


def test_distance_to_itself_is_exactly_zero(metric):
    x = images(10)
    assert torch.equal(metric(x, x), torch.zeros(3))


def test_symmetric_and_non_negative(metric):
    x, y = images(11), images(12)
    d_xy, d_yx = metric(x, y), metric(y, x)
    assert torch.equal(d_xy, d_yx)
    assert (d_xy > 0).all()
    # a small perturbation is closer than an unrelated image
    near = (x + 0.01 * (images(13) - 0.5)).clamp(0, 1)
    assert (metric(x, near) < d_xy).all()


def test_output_shapes_and_dtype(metric):
    x, y = images(14, (2, 3, 16, 40)), images(15, (2, 3, 16, 40))
    distance, kept = metric(x, y), metric(x, y, keepdim=True)
    assert distance.shape == (2,) and distance.dtype == torch.float32
    assert kept.shape == (2, 1, 1, 1)
    assert torch.equal(kept.flatten(), distance)


def test_batch_entries_are_independent(metric):
    x, y = images(16, (2, 3, 16, 16)), images(17, (2, 3, 16, 16))
    batched = metric(x, y)
    single = torch.stack([metric(x[i : i + 1], y[i : i + 1])[0] for i in range(2)])
    np.testing.assert_allclose(batched.numpy(), single.numpy(), rtol=1e-5, atol=1e-7)


def test_gradient_flows_to_both_inputs_not_to_parameters(metric):
    x = images(18).requires_grad_(True)
    y = images(19).requires_grad_(True)
    metric(x, y).sum().backward()
    for grad in (x.grad, y.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in metric.parameters())


def test_all_zero_features_give_zero_distance_and_finite_gradient(heads):
    # Very negative biases make every VGG tap exactly zero: the eps of the unit normalisation must
    # turn 0/0 into 0 (no NaN in the value or in the gradient).
    vgg = synthetic_vgg16_state_dict(20)
    for index, (_, c_out) in TORCHVISION_VGG16_CONVS.items():
        vgg[f"features.{index}.bias"] = torch.full((c_out,), -1e4)
    metric = build_metric(vgg, heads)
    x = images(21).requires_grad_(True)
    d = metric(x, images(22))
    d.sum().backward()
    assert torch.equal(d, torch.zeros(3))
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_stays_frozen_in_eval_mode(metric):
    metric.train()
    assert not any(module.training for module in metric.modules())
    assert not any(p.requires_grad for p in metric.parameters())


def test_rejects_mismatched_or_too_small_images(metric):
    with pytest.raises(ValueError, match=r"same shape"):
        metric(images(0, (1, 3, 16, 16)), images(0, (1, 3, 16, 24)))
    with pytest.raises(ValueError, match=r"at least 16x16"):
        metric(images(0, (1, 3, 8, 32)), images(0, (1, 3, 8, 32)))


def test_trunk_taps_shapes():
    taps = VGG16Trunk()(torch.zeros(1, 3, 32, 48))
    assert [tuple(t.shape) for t in taps] == [
        (1, 64, 32, 48), (1, 128, 16, 24), (1, 256, 8, 12), (1, 512, 4, 6), (1, 512, 2, 3)
    ]


# ----------------------------------------------------------------------------------------------
# Loading checkpoints.


def test_loaded_values_are_those_of_the_files(vgg_state, heads, tmp_path):
    torch.save(vgg_state, tmp_path / "vgg16-397923af.pth")
    save_file(heads, str(tmp_path / "vgg.safetensors"))
    metric = load_lpips(vgg16_weights=tmp_path / "vgg16-397923af.pth", lpips_weights=tmp_path / "vgg.safetensors")

    state = metric.state_dict()
    for index in TORCHVISION_VGG16_CONVS:
        assert torch.equal(state[f"trunk.features.{index}.weight"], vgg_state[f"features.{index}.weight"])
        assert torch.equal(state[f"trunk.features.{index}.bias"], vgg_state[f"features.{index}.bias"])
    for key, value in heads.items():
        assert torch.equal(state[key], value)
    assert not any(key.startswith("classifier") for key in state)

    # The deepest layer's weights are used: changing them changes only the relu5_3 term.
    x, y = images(30), images(31)
    before = metric.layer_distances(x, y)
    other = dict(vgg_state, **{"features.28.weight": synthetic_vgg16_state_dict(32)["features.28.weight"]})
    metric.trunk.load_torchvision_state_dict(other)
    after = metric.layer_distances(x, y)
    assert torch.equal(before[:, :4], after[:, :4])
    assert not torch.allclose(before[:, 4], after[:, 4])


def test_missing_vgg_key_is_reported(heads, vgg_state, tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save({k: v for k, v in vgg_state.items() if k != "features.28.bias"}, path)
    torch.save(heads, tmp_path / "vgg.pth")
    with pytest.raises(UserError) as info:
        load_lpips(vgg16_weights=path, lpips_weights=tmp_path / "vgg.pth")
    message = str(info.value)
    assert str(path) in message and "'features.28.bias'" in message and "missing" in message
    assert "\n" not in message


def test_wrong_vgg_shape_and_foreign_key_are_reported(vgg_state):
    trunk = VGG16Trunk()
    wrong_shape = dict(vgg_state, **{"features.5.weight": torch.zeros(128, 64, 5, 5)})
    with pytest.raises(UserError, match=r"'features\.5\.weight' has shape \(128, 64, 5, 5\), expected \(128, 64, 3, 3"):
        trunk.load_torchvision_state_dict(wrong_shape, source="/w/vgg16.pth")
    # e.g. a vgg16_bn checkpoint: batch-norm keys do not belong to VGG16
    foreign = dict(vgg_state, **{"features.1.running_mean": torch.zeros(64)})
    with pytest.raises(UserError, match=r"^/w/vgg16\.pth: unexpected key 'features\.1\.running_mean'"):
        trunk.load_torchvision_state_dict(foreign, source="/w/vgg16.pth")


def test_head_file_errors_are_reported(heads):
    metric = LPIPS()
    extra = dict(heads, **{"lin5.model.1.weight": torch.zeros(1, 8, 1, 1)})  # e.g. squeeze.pth
    with pytest.raises(UserError, match=r"^/w/squeeze\.pth: unexpected key 'lin5\.model\.1\.weight'"):
        metric.load_head_state_dict(extra, source="/w/squeeze.pth")
    wrong_shape = r"'lin1\.model\.1\.weight' has shape \(1, 192, 1, 1\), expected \(1, 128, 1, 1\)"
    with pytest.raises(UserError, match=wrong_shape):
        metric.load_head_state_dict(dict(heads, **{"lin1.model.1.weight": torch.zeros(1, 192, 1, 1)}))
    missing = {k: v for k, v in heads.items() if k != "lin3.model.1.weight"}
    with pytest.raises(UserError, match=r"missing key 'lin3\.model\.1\.weight'"):
        metric.load_head_state_dict(missing)
    negative = dict(heads, **{"lin2.model.1.weight": -heads["lin2.model.1.weight"]})
    with pytest.raises(UserError, match=r"'lin2\.model\.1\.weight' has a negative or non-finite weight"):
        metric.load_head_state_dict(negative)
    not_finite = dict(heads, **{"lin4.model.1.weight": torch.full((1, 512, 1, 1), float("nan"))})
    with pytest.raises(UserError, match=r"'lin4\.model\.1\.weight' has a negative or non-finite weight"):
        metric.load_head_state_dict(not_finite)


@pytest.mark.parametrize("absent", ["vgg16", "lpips"])
def test_missing_file_names_path_and_url(absent, tmp_path):
    vgg_path, lpips_path = tmp_path / "vgg16-397923af.pth", tmp_path / "vgg.pth"
    if absent == "vgg16":
        present, missing_path, url = lpips_path, vgg_path, VGG16_WEIGHTS_URL
    else:
        present, missing_path, url = vgg_path, lpips_path, LPIPS_VGG_WEIGHTS_URL
    present.write_bytes(b"")  # never read: both files are checked before either is opened
    with pytest.raises(MissingWeightsError) as info:
        load_lpips(vgg16_weights=vgg_path, lpips_weights=lpips_path)
    message = str(info.value)
    assert f"{missing_path} not found" in message and url in message and "\n" not in message


def test_unreadable_file_is_a_user_error(heads, tmp_path):
    garbage = tmp_path / "vgg16.pth"
    garbage.write_bytes(b"this is not a checkpoint")
    torch.save(heads, tmp_path / "vgg.pth")
    with pytest.raises(UserError, match=rf"^{garbage}: cannot be read as a state dict") as info:
        load_lpips(vgg16_weights=garbage, lpips_weights=tmp_path / "vgg.pth")
    assert "\n" not in str(info.value)


def test_paths_from_environment(monkeypatch, tmp_path, heads):
    monkeypatch.delenv("GOSVAE_VGG16_WEIGHTS", raising=False)
    monkeypatch.delenv("GOSVAE_LPIPS_WEIGHTS", raising=False)
    with pytest.raises(MissingWeightsError, match=r"GOSVAE_VGG16_WEIGHTS is not set"):
        resolve_lpips_weight_paths()
    assert not lpips_weights_available()

    monkeypatch.setenv("GOSVAE_VGG16_WEIGHTS", str(tmp_path / "vgg16.pth"))
    monkeypatch.setenv("GOSVAE_LPIPS_WEIGHTS", str(tmp_path / "vgg.pth"))
    paths = resolve_lpips_weight_paths()
    assert (paths.vgg16_weights, paths.lpips_weights) == (tmp_path / "vgg16.pth", tmp_path / "vgg.pth")
    given = resolve_lpips_weight_paths(lpips_weights="/elsewhere/vgg.pth")
    assert given.lpips_weights.as_posix() == "/elsewhere/vgg.pth" and given.vgg16_weights == tmp_path / "vgg16.pth"
    assert not lpips_weights_available()  # set but absent

    (tmp_path / "vgg16.pth").write_bytes(b"")
    assert not lpips_weights_available()
    torch.save(heads, tmp_path / "vgg.pth")
    assert lpips_weights_available()

"""The channel contract for the built-in AWGN and Rayleigh models, and the channel registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from channels import AWGNChannel, ChannelModel, RayleighChannel, build_channel, channel_class, register_channel
from gosvae.errors import ConfigError, UserError

MODELS = {
    "awgn": lambda: AWGNChannel(),
    "rayleigh-fast": lambda: RayleighChannel(fading="fast"),
    "rayleigh-block": lambda: RayleighChannel(fading="block", coherence_symbols=7),
}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_shapes_and_dtypes_follow_the_input(name, dtype):
    x = torch.ones(3, 50, dtype=dtype)
    out = MODELS[name]()(x, no=0.1, generator=gen())
    assert out.y.shape == out.h.shape == (3, 50)
    assert out.y.dtype == out.h.dtype == dtype
    assert not out.no.is_complex() and out.no.dtype == x.real.dtype
    torch.broadcast_shapes(out.no.shape, out.y.shape)  # raises if not broadcastable


@pytest.mark.parametrize("name", MODELS)
def test_noise_on_a_zero_input_is_circular_gaussian_with_variance_no_per_symbol(name):
    variances = torch.tensor([0.05, 0.5, 2.0])
    samples = 100_000
    x = torch.zeros(3, samples, dtype=torch.complex64)
    y = MODELS[name]()(x, no=variances, generator=gen(1)).y.to(torch.complex128)
    for row, no in enumerate(variances.tolist()):
        re, im = y[row].real.numpy(), y[row].imag.numpy()
        # sample variance of n Gaussian values: relative std sqrt(2/n); allow 5 of them
        tolerance = 5 * np.sqrt(2 / samples)
        assert abs(re.var() / (no / 2) - 1) < tolerance
        assert abs(im.var() / (no / 2) - 1) < tolerance
        assert abs(re.mean()) < 5 * np.sqrt(no / 2 / samples)
        assert abs(np.corrcoef(re, im)[0, 1]) < 5 / np.sqrt(samples)
        assert stats.normaltest(re).pvalue > 1e-4


def test_awgn_gain_is_one_and_output_is_input_plus_noise():
    x = torch.polar(torch.ones(2, 1000), torch.rand(2, 1000, generator=gen(3)) * 6.28).to(torch.complex64)
    no = 0.2
    out = AWGNChannel()(x, no=no, generator=gen(4))
    assert torch.equal(out.h, torch.ones_like(x))
    noise_only = AWGNChannel()(torch.zeros_like(x), no=no, generator=gen(4)).y
    assert torch.allclose(out.y - x, noise_only, atol=1e-6)


@pytest.mark.parametrize("fading", ["fast", "block"])
def test_rayleigh_gain_has_unit_power_and_rayleigh_statistics(fading):
    params = {"fading": fading, "coherence_symbols": 1 if fading == "fast" else 4}
    out = RayleighChannel(**params)(torch.ones(4, 40_000, dtype=torch.complex64), no=0.0, generator=gen(5))
    h = out.h[:, :: params["coherence_symbols"]].reshape(-1).to(torch.complex128)  # one per block
    power = (h.abs() ** 2).numpy()
    assert abs(power.mean() - 1) < 5 / np.sqrt(power.size)  # Exp(1): std 1
    assert stats.kstest(power, "expon").pvalue > 1e-3  # |h|^2 ~ Exp(1)
    assert stats.kstest(np.angle(h.numpy()), "uniform", args=(-np.pi, 2 * np.pi)).pvalue > 1e-3
    assert torch.allclose(out.y, out.h)  # no noise: y = h * 1


def test_rayleigh_output_is_gain_times_input_plus_noise():
    x = torch.polar(torch.ones(2, 5000), torch.rand(2, 5000, generator=gen(6)) * 6.28).to(torch.complex64)
    no = 0.3
    out = RayleighChannel()(x, no=no, generator=gen(7))
    residual = (out.y - out.h * x).to(torch.complex128)
    assert abs(residual.abs().square().mean().item() / no - 1) < 5 * np.sqrt(1 / residual.numel())


def test_block_fading_holds_one_gain_per_run_of_coherence_symbols():
    run, length = 16, 100  # last run is 4 symbols
    h = RayleighChannel(fading="block", coherence_symbols=run)(
        torch.ones(3, length, dtype=torch.complex64), no=0.1, generator=gen(8)
    ).h
    for row in h:
        runs = torch.split(row, run)
        assert [len(r) for r in runs] == [16] * 6 + [4]
        assert all(torch.all(r == r[0]) for r in runs)
        starts = torch.stack([r[0] for r in runs])
        assert len(torch.unique(starts.real)) == len(runs)  # a new draw for every run
    assert not torch.equal(h[0], h[1])  # rows are independent


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_output_and_global_rng_untouched(name):
    model = MODELS[name]()
    x = torch.ones(2, 300, dtype=torch.complex64)
    state = torch.random.get_rng_state()
    first = model(x, no=0.5, generator=gen(9))
    second = model(x, no=0.5, generator=gen(9))
    other = model(x, no=0.5, generator=gen(10))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(first.y, second.y) and torch.equal(first.h, second.h)
    assert not torch.equal(first.y, other.y)


@pytest.mark.parametrize("no", [torch.tensor([0.1, 0.2]), torch.tensor([[0.1], [0.2]]), 0.3, torch.tensor(0.3)])
def test_noise_variance_forms_are_accepted_and_broadcast(no):
    out = AWGNChannel()(torch.zeros(2, 10, dtype=torch.complex64), no=no, generator=gen())
    expected = torch.as_tensor(no, dtype=torch.float32)
    expected = expected.unsqueeze(-1) if expected.dim() == 1 else expected
    assert torch.equal(torch.broadcast_to(out.no, (2, 10)), torch.broadcast_to(expected, (2, 10)))


def test_bad_inputs_are_rejected():
    channel = AWGNChannel()
    with pytest.raises(ValueError, match="complex"):
        channel(torch.ones(2, 10), no=0.1, generator=gen())
    with pytest.raises(ValueError, match="complex"):
        channel(torch.ones(10, dtype=torch.complex64), no=0.1, generator=gen())
    with pytest.raises(ValueError, match=">= 0"):
        channel(torch.ones(2, 10, dtype=torch.complex64), no=-1.0, generator=gen())
    with pytest.raises(ValueError, match="does not fit"):
        channel(torch.ones(2, 10, dtype=torch.complex64), no=torch.ones(3), generator=gen())


def test_registry_builds_models_by_name_with_validated_parameters():
    channel = build_channel("rayleigh", {"fading": "block", "coherence_symbols": 32})
    assert isinstance(channel, RayleighChannel) and channel.params.coherence_symbols == 32
    assert isinstance(build_channel("awgn"), AWGNChannel)
    assert channel_class("rayleigh").Params(fading="block").coherence_symbols == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"fading": "block", "coherence_symbols": 0}, "channel.params.coherence_symbols: must be >= 1, got 0"),
        ({"fading": "slow"}, "channel.params.fading: must be 'fast' or 'block', got 'slow'"),
        ({"coherence_symbols": 8}, "channel.params.coherence_symbols: only used with fading 'block'"),
        ({"doppler": 3}, "channel.params.doppler: unknown field"),
    ],
)
def test_bad_parameters_give_one_line_config_errors_naming_the_field(params, message):
    with pytest.raises(ConfigError) as info:
        build_channel("rayleigh", params)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_direct_construction_validates_too():
    with pytest.raises(ConfigError, match="RayleighChannel.coherence_symbols: must be >= 1, got -2"):
        RayleighChannel(fading="block", coherence_symbols=-2)


def test_unknown_name_lists_the_known_models():
    with pytest.raises(UserError, match=r"unknown channel model 'no-such-model' \(known: .*awgn.*rayleigh"):
        build_channel("no-such-model")


def test_registering_something_that_is_not_a_channel_model_fails_at_once():
    with pytest.raises(TypeError, match="subclass of channels.base.ChannelModel"):
        register_channel("not-a-model")(object)

    class BadParams(ChannelModel):
        Params = dict  # not a pydantic model

    with pytest.raises(TypeError, match="pydantic model"):
        register_channel("bad-params")(BadParams)

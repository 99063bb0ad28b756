"""The bernoulli-gaussian plugin: the simulator's conformance kit, the impulse statistics against
theory, the uncoded BER through the simulator's link, and the entry-point registration.

Run from this folder: ``python -m pytest tests`` (the entry-point tests need the package
installed, ``pip install -e .``, and are skipped otherwise).
"""

from __future__ import annotations

import math
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from channels import AWGNChannel
from channels.testing import check_channel_model
from gosvae_core.errors import ConfigError
from gosvae_impulsive_noise import BernoulliGaussianChannel

P, RATIO = 0.05, 100.0
BACKGROUND = 1 / (1 + P * RATIO)  # background variance for no = 1
INSTALLED = any(ep.name == "bernoulli-gaussian" for ep in entry_points(group="gosvae.channels"))
needs_install = pytest.mark.skipif(not INSTALLED, reason="not installed: pip install -e examples/channel-plugin")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("knows", [False, True])
def test_passes_the_simulator_conformance_kit(knows):
    # heavy-tailed noise: E|n|^4 / (E|n|^2)^2 = 28.4 instead of 2, so resolving the noise power to
    # 0.2 dB takes ~500k symbols instead of the kit's default 131k
    check_channel_model(lambda: BernoulliGaussianChannel(probability=P, impulse_ratio=RATIO,
                                                         receiver_knows_impulses=knows), batch=256, num_symbols=2048)


def test_impulse_positions_and_variances_follow_the_bernoulli_gaussian_model():
    channel = BernoulliGaussianChannel(probability=P, impulse_ratio=RATIO, receiver_knows_impulses=True)
    out = channel(torch.zeros(50, 4000, dtype=torch.complex128), no=1.0, generator=gen(1))
    variance = out.no.numpy()
    assert set(np.unique(variance).round(12)) == {round(BACKGROUND, 12), round(BACKGROUND * (1 + RATIO), 12)}
    hits = variance > BACKGROUND * 1.5
    assert abs(hits.mean() - P) < 5 * math.sqrt(P * (1 - P) / hits.size)
    # the positions are independent: hits of neighbouring symbols are uncorrelated
    assert abs(np.corrcoef(hits[:, 1:].ravel(), hits[:, :-1].ravel())[0, 1]) < 5 / math.sqrt(hits.size)
    # each symbol's noise is CN(0, its variance): |n|^2 / variance ~ Exp(1)
    assert stats.kstest((out.y.abs().square().numpy() / variance).ravel(), "expon").pvalue > 1e-3


def test_noise_is_the_mixture_with_the_requested_total_variance_and_heavy_tails():
    no = 0.3
    out = BernoulliGaussianChannel(probability=P, impulse_ratio=RATIO)(
        torch.zeros(50, 4000, dtype=torch.complex128), no=no, generator=gen(2))
    power = out.y.abs().square().numpy()
    s = no * BACKGROUND
    mixture_cdf = lambda t: 1 - (1 - P) * np.exp(-t / s) - P * np.exp(-t / (s * (1 + RATIO)))  # noqa: E731
    assert stats.kstest(power.ravel(), mixture_cdf).pvalue > 1e-3
    # E|n|^2 = no; E|n|^4 / no^2 = 2 (1 - p + p (1 + R)^2) / (1 + p R)^2 = 28.4 (2 for Gaussian noise)
    rows = power.mean(axis=1)
    assert abs(rows.mean() / no - 1) < 5 * rows.std() / math.sqrt(len(rows)) / no
    kurtosis = 2 * (1 - P + P * (1 + RATIO) ** 2) / (1 + P * RATIO) ** 2
    fourth = (power**2).mean(axis=1) / no**2
    assert abs(fourth.mean() - kurtosis) < 5 * fourth.std() / math.sqrt(len(fourth))
    assert float(out.no) == pytest.approx(no)  # the average receiver is told the average variance


@pytest.mark.parametrize("params", [{"probability": 0.0}, {"impulse_ratio": 0.0}])
def test_without_impulses_it_is_exactly_awgn(params):
    x = torch.polar(torch.ones(2, 500), torch.rand(2, 500, generator=gen(3)) * 6.28).to(torch.complex64)
    out = BernoulliGaussianChannel(**params)(x, no=0.4, generator=gen(4))
    assert torch.equal(out.y, AWGNChannel()(x, no=0.4, generator=gen(4)).y)


def uncoded_ber(esno_db: float) -> float:
    """Gray BPSK, no = 10^(-esno/10): Q(sqrt(2 / v)) averaged over v = s (prob 1-p) and s (1 + R) (prob p)."""
    s = 10 ** (-esno_db / 10) * BACKGROUND
    return (1 - P) * stats.norm.sf(math.sqrt(2 / s)) + P * stats.norm.sf(math.sqrt(2 / (s * (1 + RATIO))))


@pytest.mark.parametrize("esno_db", [0.0, 6.0, 12.0])
@pytest.mark.parametrize("knows", [False, True])
def test_uncoded_bpsk_ber_through_the_link_matches_the_mixture_formula(esno_db, knows):
    from simulation.link import Link, LinkConfig

    p = uncoded_ber(esno_db)
    num_bits = int(min(max(1500 / p, 2e5), 1.5e6)) // 64 * 64
    channel = BernoulliGaussianChannel(probability=P, impulse_ratio=RATIO, receiver_knows_impulses=knows)
    link = Link(LinkConfig(code="none", crc="none", modulation="bpsk", demapping="maxlog"), channel, device="cpu")
    rng = np.random.default_rng(int(esno_db))
    packets = [rng.bytes(4096) for _ in range(num_bits // 8 // 4096)] + [rng.bytes(num_bits // 8 % 4096)]
    _, link_stats = link.transmit(packets, snr_db=esno_db, generator=gen(int(esno_db) + 10))
    errors, bits = link_stats.raw_bit_errors, link_stats.coded_bits
    assert bits == num_bits
    assert abs(errors - bits * p) <= 4.5 * math.sqrt(bits * p * (1 - p)), (errors / bits, p)


def test_bad_parameters_give_one_line_errors_naming_the_field():
    with pytest.raises(ConfigError, match=r"^BernoulliGaussianChannel.probability: must be <= 1, got 1.5$"):
        BernoulliGaussianChannel(probability=1.5)
    with pytest.raises(ConfigError, match=r"^BernoulliGaussianChannel.impulse_ratio: must be >= 0, got -1"):
        BernoulliGaussianChannel(impulse_ratio=-1)


@needs_install
def test_installed_package_registers_the_model_through_the_entry_point():
    from channels import build_channel
    from channels.registry import CHANNELS

    entry = next(e for e in CHANNELS.entries() if e.name == "bernoulli-gaussian")
    assert entry.obj is BernoulliGaussianChannel and entry.origin == "plugin gosvae-impulsive-noise"
    assert entry.description.startswith("Impulsive (Bernoulli-Gaussian) noise")
    channel = build_channel("bernoulli-gaussian", {"probability": 0.05, "impulse_ratio": 100})
    assert isinstance(channel, BernoulliGaussianChannel)
    with pytest.raises(ConfigError, match=r"^channel.params.probability: must be <= 1, got 2"):
        build_channel("bernoulli-gaussian", {"probability": 2})


@needs_install
def test_the_example_scenario_validates():
    from simulation.scenario import load_scenario

    loaded = load_scenario(Path(__file__).parents[1] / "scenarios" / "impulsive.yaml", check_models=False)
    assert loaded.scenario.channel.model == "bernoulli-gaussian"
    assert [p.snr_db for p in loaded.points] == [0, 2, 4, 6, 8, 10, 12]

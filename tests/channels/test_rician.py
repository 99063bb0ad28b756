"""Rician flat fading: gain statistics against scipy's Rice distribution, its limits (K = 0 is
Rayleigh, large K is AWGN), and the uncoded BER through the real link against the integral of
the AWGN error probability over the Rice pdf.

BER points check ``|errors - N p| <= 4.5 sigma`` with sigma the binomial standard deviation
(inflated by sqrt(2) for QPSK, whose two bits share one gain), N chosen for >= ~1500 expected
errors, at BER between 1e-1 and 1e-3: about +-12 % (BPSK) to +-16 % (QPSK) of the BER. Measured
when this was written: an SNR off by 0.5 dB fails 12 of the 18 fast-fading points, and a K-factor
off by 30 % fails all 12 points with K > 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from channels import RayleighChannel, RicianChannel, build_channel
from gosvae.errors import ConfigError
from simulation.link import Link, LinkConfig

Z = 4.5


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rice(k_factor: float) -> stats.rv_continuous:
    """|h| for unit power: LOS amplitude nu = sqrt(K/(K+1)), scatter sigma^2 = 1/(2(K+1)) per dimension."""
    sigma = math.sqrt(1 / (2 * (k_factor + 1)))
    return stats.rice(math.sqrt(k_factor / (k_factor + 1)) / sigma, scale=sigma)


def rician_ber(modulation: str, esno: float, k_factor: float) -> float:
    """Average of the Gray BPSK/QPSK bit error probability Q(sqrt(g) |h|) over the Rice pdf of |h|."""
    g = 2 * esno if modulation == "bpsk" else esno
    amplitude = rice(k_factor)
    return integrate.quad(lambda r: stats.norm.sf(math.sqrt(g) * r) * amplitude.pdf(r), *support(k_factor),
                          points=[amplitude.mean()], limit=200)[0]


def support(k_factor: float) -> tuple[float, float]:
    """[0, nu + 40 sigma]: the Rice pdf beyond is below exp(-800)."""
    return 0.0, math.sqrt(k_factor / (k_factor + 1)) + 40 * math.sqrt(1 / (2 * (k_factor + 1)))


def run_uncoded(channel, modulation: str, snr_db: float, num_bits: int, *, seed: int):
    link = Link(LinkConfig(code="none", crc="none", modulation=modulation, demapping="maxlog"), channel, device="cpu")
    rng = np.random.default_rng(seed)
    packets = [rng.bytes(min(4096, num_bits // 8 - start)) for start in range(0, num_bits // 8, 4096)]
    _, link_stats = link.transmit(packets, snr_db=snr_db, generator=gen(seed))
    assert link_stats.coded_bits == num_bits // 8 * 8  # no code, no CRC: raw errors are the BER
    return link_stats


def bits_for(p: float) -> int:
    return int(min(max(1500 / p, 2e5), 1.5e6)) // 64 * 64


def test_theory_reduces_to_the_rayleigh_and_awgn_closed_forms():
    esno = 10 ** 1.2
    assert rician_ber("bpsk", esno, 0.0) == pytest.approx(0.5 * (1 - math.sqrt(esno / (1 + esno))), rel=1e-6)
    assert rician_ber("qpsk", esno, 0.0) == pytest.approx(0.5 * (1 - math.sqrt(esno / 2 / (1 + esno / 2))), rel=1e-6)
    awgn = stats.norm.sf(math.sqrt(2 * 10**0.4))  # large K -> AWGN (scipy's rice pdf overflows beyond K ~ 300)
    gaps = [rician_ber("bpsk", 10**0.4, k) / awgn - 1 for k in (10.0, 30.0, 100.0)]
    assert gaps[0] > gaps[1] > gaps[2] > 0 and gaps[2] < 0.1


@pytest.mark.parametrize("k_factor", [0.5, 3.0, 10.0])
@pytest.mark.parametrize("los_phase", ["random", "zero"])
def test_gain_amplitude_is_rice_distributed_with_unit_power(k_factor, los_phase):
    h = RicianChannel(k_factor=k_factor, los_phase=los_phase)(
        torch.ones(4, 20_000, dtype=torch.complex128), no=0.0, generator=gen(1)
    ).h.reshape(-1)
    power = h.abs().square().numpy()
    # E|h|^2 = 1; Var|h|^2 = (1 + 2K) / (1 + K)^2 for a unit-power Rician gain
    assert abs(power.mean() - 1) < 5 * math.sqrt((1 + 2 * k_factor) / (1 + k_factor) ** 2 / power.size)
    assert stats.kstest(h.abs().numpy(), rice(k_factor).cdf).pvalue > 1e-3
    mean = complex(h.mean())
    if los_phase == "zero":  # E h = sqrt(K / (K + 1)), the scatter has variance 1 / (K + 1)
        assert abs(mean - math.sqrt(k_factor / (k_factor + 1))) < 5 * math.sqrt(1 / (k_factor + 1) / h.numel())
    else:  # circular: zero mean, uniform phase
        assert abs(mean) < 5 / math.sqrt(h.numel())
        assert stats.kstest(np.angle(h.numpy()), "uniform", args=(-np.pi, 2 * np.pi)).pvalue > 1e-3


@pytest.mark.parametrize("fading", ["fast", "block"])
def test_k_zero_gives_exactly_the_rayleigh_output(fading):
    params = {"fading": fading, "coherence_symbols": 1 if fading == "fast" else 5}
    x = torch.polar(torch.ones(3, 64), torch.rand(3, 64, generator=gen(2)) * 6.28).to(torch.complex64)
    rician = RicianChannel(k_factor=0.0, **params)(x, no=0.2, generator=gen(3))
    rayleigh = RayleighChannel(**params)(x, no=0.2, generator=gen(3))
    assert torch.equal(rician.h, rayleigh.h) and torch.equal(rician.y, rayleigh.y)


def test_large_k_with_zero_phase_approaches_awgn():
    out = RicianChannel(k_factor=1e8, los_phase="zero")(torch.ones(2, 5000, dtype=torch.complex128), no=0.0,
                                                          generator=gen(4))
    assert float((out.h - 1).abs().max()) < 1e-3  # scatter amplitude 1e-4, 5000*2 draws


def test_block_fading_holds_one_gain_per_run_and_output_is_gain_times_input_plus_noise():
    x = torch.polar(torch.ones(2, 10), torch.rand(2, 10, generator=gen(5)) * 6.28).to(torch.complex64)
    channel = RicianChannel(k_factor=3.0, fading="block", coherence_symbols=4)
    out = channel(x, no=0.3, generator=gen(6))
    for row in out.h:
        assert [len(r) for r in torch.split(row, 4)] == [4, 4, 2]
        assert all(torch.all(r == r[0]) for r in torch.split(row, 4))
    noise = channel(torch.zeros_like(x), no=0.3, generator=gen(6)).y  # same draws, zero input
    assert torch.allclose(out.y, out.h * x + noise, atol=1e-6)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "channel.params.k_factor: required field is missing"),
        ({"k_factor": -1}, "channel.params.k_factor: must be >= 0, got -1"),
        ({"k_factor": float("nan")}, "channel.params.k_factor: must be a finite number"),
        ({"k_factor": 1, "los_phase": "fixed"}, "channel.params.los_phase: must be 'random' or 'zero', got 'fixed'"),
        ({"k_factor": 1, "coherence_symbols": 4}, "channel.params.coherence_symbols: only used with fading 'block'"),
        ({"k_factor": 1, "k_factor_db": 3}, "channel.params.k_factor_db: unknown field"),
    ],
)
def test_bad_parameters_give_one_line_config_errors(params, message):
    with pytest.raises(ConfigError) as info:
        build_channel("rician", params)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


BER_POINTS = [  # (K, modulation, Es/N0 dB): BER from ~1e-1 to ~1e-3 for each K
    (0.0, "bpsk", 4.0), (0.0, "bpsk", 14.0), (0.0, "bpsk", 24.0),
    (0.0, "qpsk", 6.0), (0.0, "qpsk", 16.0), (0.0, "qpsk", 26.0),
    (3.0, "bpsk", 2.0), (3.0, "bpsk", 10.0), (3.0, "bpsk", 17.0),
    (3.0, "qpsk", 4.0), (3.0, "qpsk", 12.0), (3.0, "qpsk", 20.0),
    (10.0, "bpsk", 1.0), (10.0, "bpsk", 5.0), (10.0, "bpsk", 9.5),
    (10.0, "qpsk", 3.0), (10.0, "qpsk", 8.0), (10.0, "qpsk", 12.0),
]


@pytest.mark.parametrize(("k_factor", "modulation", "snr_db"), BER_POINTS)
def test_uncoded_fast_fading_ber_through_the_link_matches_the_rice_integral(k_factor, modulation, snr_db):
    p = rician_ber(modulation, 10 ** (snr_db / 10), k_factor)
    assert 8e-4 < p < 1.2e-1
    num_bits = bits_for(p)
    link_stats = run_uncoded(RicianChannel(k_factor=k_factor), modulation, snr_db, num_bits,
                             seed=int(10 * snr_db + 1000 * k_factor) + len(modulation))
    inflation = 1.0 if modulation == "bpsk" else math.sqrt(2)  # QPSK: both bits share |h|, Var <= 2x
    sigma = inflation * math.sqrt(num_bits * p * (1 - p))
    errors = link_stats.raw_bit_errors
    assert abs(errors - num_bits * p) <= Z * sigma, (
        f"K={k_factor} {modulation} {snr_db} dB: BER {errors / num_bits:.4g}, theory {p:.4g} "
        f"(+-{Z * sigma / num_bits:.2g})"
    )


def test_uncoded_block_fading_ber_with_random_los_phase_matches_the_rice_integral():
    """QPSK, one gain per 4 symbols: per-block errors are Binomial(8, p(|h|)), so
    Var(total) = blocks * (8 (E p - E p^2) + 64 (E p^2 - (E p)^2)) with p(r) = Q(sqrt(Es/N0) r)."""
    k_factor, snr_db, run, bits_per_block = 3.0, 10.0, 4, 8
    esno, amplitude = 10 ** (snr_db / 10), rice(k_factor)
    p_of = lambda r: stats.norm.sf(math.sqrt(esno) * r)  # noqa: E731
    mean_p = integrate.quad(lambda r: p_of(r) * amplitude.pdf(r), *support(k_factor))[0]
    mean_p2 = integrate.quad(lambda r: p_of(r) ** 2 * amplitude.pdf(r), *support(k_factor))[0]
    assert mean_p == pytest.approx(rician_ber("qpsk", esno, k_factor), rel=1e-6)
    num_bits = 1_200_000
    channel = RicianChannel(k_factor=k_factor, fading="block", coherence_symbols=run, los_phase="random")
    errors = run_uncoded(channel, "qpsk", snr_db, num_bits, seed=77).raw_bit_errors
    blocks = num_bits / bits_per_block
    variance = blocks * (bits_per_block * (mean_p - mean_p2) + bits_per_block**2 * (mean_p2 - mean_p**2))
    assert abs(errors - num_bits * mean_p) <= Z * math.sqrt(variance)


def test_very_large_k_gives_the_awgn_ber_through_the_link():
    snr_db = 6.8
    p = float(stats.norm.sf(math.sqrt(2 * 10 ** (snr_db / 10))))
    num_bits = bits_for(p)
    errors = run_uncoded(RicianChannel(k_factor=1e6), "bpsk", snr_db, num_bits, seed=5).raw_bit_errors
    assert abs(errors - num_bits * p) <= Z * math.sqrt(num_bits * p * (1 - p))

"""Uncoded bit error rates of the link against closed forms (AWGN, Rayleigh fast and block fading).

Every point checks ``|errors - N p| <= 4.5 sigma`` with sigma the binomial standard deviation
(inflated where bits are not independent, see each test) and N chosen for >= ~1500 expected
errors: a 3 dB error in the SNR axis (noise variance per real dimension instead of per complex
symbol, bits per symbol taken as 1 for QPSK) fails every point, a 0.5 dB error fails the AWGN
points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.stats import norm

from channels import AWGNChannel, RayleighChannel
from simulation.link import Link, LinkConfig

Z = 4.5  # standard deviations allowed


def q(x: float) -> float:
    return float(norm.sf(x))


def awgn_ber(modulation: str, esno: float) -> float:
    """Exact Gray-mapped BER at Es/N0 = esno (linear), nearest-point detection."""
    if modulation == "bpsk":
        return q(math.sqrt(2 * esno))
    if modulation == "qpsk":
        return q(math.sqrt(esno))
    # 16-QAM: two Gray 4-PAM per dimension, amplitude a = 1/sqrt(10), a/sigma = sqrt(esno / 5)
    d = math.sqrt(esno / 5)
    return 0.25 * (3 * q(d) + 2 * q(3 * d) - q(5 * d))


def rayleigh_ber(modulation: str, esno: float) -> float:
    """Average BER over |h|^2 ~ Exp(1): closed forms for BPSK/QPSK, numerical integration otherwise."""
    if modulation in ("bpsk", "qpsk"):
        snr_per_bit = esno if modulation == "bpsk" else esno / 2
        return 0.5 * (1 - math.sqrt(snr_per_bit / (1 + snr_per_bit)))
    return integrate.quad(lambda t: awgn_ber(modulation, esno * t) * math.exp(-t), 0, np.inf, limit=200)[0]


def run_uncoded(channel, modulation: str, snr_db: float, num_bits: int, *, snr_definition="esno", crc="none",
                packet_bytes=4096):
    link = Link(
        LinkConfig(code="none", crc=crc, modulation=modulation, demapping="maxlog", snr_definition=snr_definition),
        channel,
        device="cpu",
    )
    rng = np.random.default_rng(int(snr_db * 10) + 7)
    total = num_bits // 8
    packets = [rng.bytes(min(packet_bytes, total - start)) for start in range(0, total, packet_bytes)]
    _, stats = link.transmit(packets, snr_db=snr_db, generator=torch.Generator().manual_seed(int(snr_db * 100)))
    return stats


def bits_for(p: float) -> int:
    return int(min(max(1500 / p, 2e5), 1.5e6)) // 64 * 64


def assert_binomial_close(errors: int, bits: int, p: float, *, inflation: float = 1.0) -> None:
    sigma = inflation * math.sqrt(bits * p * (1 - p))
    assert abs(errors - bits * p) <= Z * sigma, (
        f"measured BER {errors / bits:.4g}, theory {p:.4g} (tolerance {Z * sigma / bits:.2g})"
    )


# 16-QAM bits of one dimension share the noise sample: Var(b1 + b2) <= 2 (Var b1 + Var b2), so
# the binomial sigma is inflated by sqrt(2) for it (a bound, not an estimate).
INFLATION = {"bpsk": 1.0, "qpsk": 1.0, "16qam": math.sqrt(2)}


@pytest.mark.parametrize(
    ("modulation", "snr_db"),
    [("bpsk", 0.0), ("bpsk", 4.0), ("bpsk", 6.8), ("qpsk", 3.0), ("qpsk", 7.0), ("qpsk", 9.8),
     ("16qam", 9.0), ("16qam", 14.0), ("16qam", 16.5)],
)
def test_uncoded_awgn_ber_matches_the_q_function(modulation, snr_db):
    p = awgn_ber(modulation, 10 ** (snr_db / 10))
    stats = run_uncoded(AWGNChannel(), modulation, snr_db, bits_for(p))
    assert stats.coded_bits == stats.info_bits  # no code, no CRC: the raw BER is the BER
    assert_binomial_close(stats.raw_bit_errors, stats.coded_bits, p, inflation=INFLATION[modulation])


@pytest.mark.parametrize(
    ("modulation", "snr_db"),
    [("bpsk", 0.0), ("bpsk", 10.0), ("bpsk", 24.0), ("qpsk", 3.0), ("qpsk", 13.0), ("qpsk", 27.0),
     ("16qam", 8.0), ("16qam", 18.0), ("16qam", 30.0)],
)
def test_uncoded_rayleigh_fast_fading_ber_matches_theory(modulation, snr_db):
    p = rayleigh_ber(modulation, 10 ** (snr_db / 10))
    stats = run_uncoded(RayleighChannel(fading="fast"), modulation, snr_db, bits_for(p))
    # QPSK: the two bits of a symbol share |h|, so they are positively correlated: bound as 16-QAM
    inflation = {"bpsk": 1.0, "qpsk": math.sqrt(2), "16qam": 2.0}[modulation]
    assert_binomial_close(stats.raw_bit_errors, stats.coded_bits, p, inflation=inflation)


@pytest.mark.parametrize("snr_db", [5.0, 15.0])
def test_uncoded_rayleigh_block_fading_has_the_fast_fading_average_ber(snr_db):
    """QPSK with one gain per 4 symbols: per-block error counts are Binomial(8, p(t)) given the
    gain power t ~ Exp(1), so Var(total) = blocks * (8 (E p - E p^2) + 64 (E p^2 - (E p)^2))."""
    esno, run, bits_per_block = 10 ** (snr_db / 10), 4, 8
    p_of_t = lambda t: q(math.sqrt(esno * t))  # noqa: E731 - per-bit error given |h|^2 = t
    mean_p = integrate.quad(lambda t: p_of_t(t) * math.exp(-t), 0, np.inf)[0]
    mean_p2 = integrate.quad(lambda t: p_of_t(t) ** 2 * math.exp(-t), 0, np.inf)[0]
    assert mean_p == pytest.approx(rayleigh_ber("qpsk", esno), rel=1e-6)
    num_bits = 1_200_000
    stats = run_uncoded(RayleighChannel(fading="block", coherence_symbols=run), "qpsk", snr_db, num_bits)
    blocks = stats.coded_bits / bits_per_block
    variance = blocks * (bits_per_block * (mean_p - mean_p2) + bits_per_block**2 * (mean_p2 - mean_p**2))
    assert abs(stats.raw_bit_errors - stats.coded_bits * mean_p) <= Z * math.sqrt(variance)


@pytest.mark.parametrize(("modulation", "ebno_db"), [("bpsk", 4.0), ("qpsk", 4.0), ("qpsk", 6.8)])
def test_ebno_axis_gives_the_same_ber_for_bpsk_and_qpsk(modulation, ebno_db):
    p = q(math.sqrt(2 * 10 ** (ebno_db / 10)))  # Gray BPSK and QPSK: Q(sqrt(2 Eb/N0))
    stats = run_uncoded(AWGNChannel(), modulation, ebno_db, bits_for(p), snr_definition="ebno")
    assert_binomial_close(stats.raw_bit_errors, stats.coded_bits, p)


def test_ebno_counts_the_crc_as_overhead():
    """8-byte packets + CRC24: Eb = Es * 88 / 64 per payload bit, so BER = Q(sqrt(2 * 64/88 * Eb/N0))."""
    ebno_db = 5.0
    p = q(math.sqrt(2 * 64 / 88 * 10 ** (ebno_db / 10)))
    stats = run_uncoded(AWGNChannel(), "bpsk", ebno_db, bits_for(p), snr_definition="ebno", crc="CRC24A",
                        packet_bytes=8)
    assert stats.coded_bits == stats.payload_bits * 88 // 64
    assert_binomial_close(stats.raw_bit_errors, stats.coded_bits, p)

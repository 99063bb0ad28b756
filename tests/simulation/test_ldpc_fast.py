"""The fast 5G LDPC decoder against Sionna's (round trips, agreement, block error rates, early stop),
and the link's separable QAM demapper against Sionna's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.stats import binomtest
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Constellation, Demapper, Mapper

from gosvae.errors import ConfigError
from simulation.link import LinkConfig
from simulation.link.fec import LDPC5GCode
from simulation.link.ldpc_fast import (
    FastLDPC5GDecoder,
    FastLDPC5GEncoder,
    QuasiCyclicGraph,
    rate_matched_positions,
)
from simulation.link.modem import Modem, SeparableQamDemapper

pytestmark = pytest.mark.filterwarnings("ignore:Effective coderate")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def channel_llrs(encoder, bits, *, bits_per_symbol, channel, esno_db, seed):
    """LLRs of ``encoder(bits)`` after Gray QAM, AWGN or Rayleigh block fading (one gain per
    codeword, perfect CSI) and Sionna's APP demapper; independent of the link's code."""
    g = gen(seed)
    constellation = Constellation("qam", bits_per_symbol)
    x = Mapper(constellation=constellation)(encoder(bits))
    no = 10 ** (-esno_db / 10)
    noise = (no / 2) ** 0.5 * torch.complex(torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g))
    h = torch.ones(x.shape[0], 1, dtype=x.dtype)
    if channel == "rayleigh":
        h = torch.complex(torch.randn(x.shape[0], 1, generator=g), torch.randn(x.shape[0], 1, generator=g)) / 2**0.5
    power = h.abs() ** 2
    y = h * x + noise
    return Demapper("app", constellation=constellation)(y * h.conj() / power, (no / power).expand(x.shape).float())


# --- structure and noiseless round trips ------------------------------------------------------

CODES = [  # (k, n, bits_per_symbol): both base graphs, filler bits, tiny and largest blocks
    (12, 24, None), (19, 36, 2), (40, 200, 4), (100, 130, 2), (256, 512, None), (292, 600, 6),
    (1000, 1104, 6), (3824, 4800, 4), (3825, 7650, 2), (5000, 10000, 4), (8448, 9200, 8),
]


@pytest.mark.parametrize(("k", "n", "bits_per_symbol"), CODES)
def test_noiseless_round_trip_fast_encoder_and_graph_of_the_encoders_pcm(k, n, bits_per_symbol):
    encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
    decoder = FastLDPC5GDecoder(encoder)
    bits = torch.randint(0, 2, (5, k), generator=gen(k)).float()
    codewords = encoder(bits)
    assert torch.equal(FastLDPC5GEncoder(encoder)(bits), codewords)  # bit for bit Sionna's encoder
    decoded, iterations = decoder(4.0 * (2 * codewords - 1))  # LLR log P(1)/P(0): 1 -> positive
    assert torch.equal(decoded, bits)
    assert iterations.max() <= 3  # early stop
    graph = QuasiCyclicGraph.from_encoder(encoder, rate_matched_positions(encoder))
    rows, cols = graph.to_sparse().shape
    assert (graph.to_sparse() != sp.csr_matrix(encoder.pcm)[:rows, :cols]).nnz == 0
    assert cols >= rate_matched_positions(encoder).max() + 1  # every sent bit stays in the graph


def test_rate_matched_positions_follow_the_circular_buffer():
    encoder = LDPC5GEncoder(100, 300)  # base graph 2 with filler bits k .. k_ldpc - 1
    positions = rate_matched_positions(encoder)
    z, k, k_ldpc = encoder.z, encoder.k, encoder.k_ldpc
    systematic = np.arange(2 * z, k)  # first 2Z punctured, filler bits never sent
    parity = np.arange(k_ldpc, k_ldpc + 300 - len(systematic))
    assert positions.tolist() == systematic.tolist() + parity.tolist()


def test_bad_input_shape_and_options():
    encoder = LDPC5GEncoder(100, 200)
    with pytest.raises(ValueError, match=r"shape \(G, 200\)"):
        FastLDPC5GDecoder(encoder)(torch.zeros(3, 199))
    with pytest.raises(ValueError, match="schedule"):
        FastLDPC5GDecoder(encoder, schedule="random")
    with pytest.raises(ValueError, match="iterations"):
        FastLDPC5GDecoder(encoder, iterations=0)


# --- agreement with Sionna and early stop -----------------------------------------------------

def test_fast_and_sionna_agree_on_most_codewords_at_moderate_snr():
    encoder = LDPC5GEncoder(512, 1024, num_bits_per_symbol=2)
    bits = torch.randint(0, 2, (200, 512), generator=gen(1)).float()
    llr = channel_llrs(encoder, bits, bits_per_symbol=2, channel="awgn", esno_db=1.5, seed=2)
    fast, _ = FastLDPC5GDecoder(encoder)(llr)
    sionna = LDPC5GDecoder(encoder, num_iter=20)(llr)
    assert 5 <= int((sionna != bits).any(dim=1).sum()) <= 40  # a moderate SNR: some words fail
    assert (fast == sionna).all(dim=1).float().mean() >= 0.9


def test_early_stop_gives_the_bits_of_full_iterations_on_converged_words():
    encoder = LDPC5GEncoder(512, 1024, num_bits_per_symbol=4)
    bits = torch.randint(0, 2, (200, 512), generator=gen(3)).float()
    llr = channel_llrs(encoder, bits, bits_per_symbol=4, channel="awgn", esno_db=6.5, seed=4)
    stopped, used = FastLDPC5GDecoder(encoder, early_stop=True)(llr)
    full, used_full = FastLDPC5GDecoder(encoder, early_stop=False)(llr)
    converged = used < 20
    assert converged.float().mean() > 0.5 and (used_full == 20).all()
    assert torch.equal(stopped[converged], full[converged])
    assert torch.equal(stopped[converged], bits[converged])  # at this SNR converged means right
    assert used[converged].float().mean() < 15


def test_llrs_on_another_type_and_empty_batches():
    encoder = LDPC5GEncoder(100, 200)
    decoder = FastLDPC5GDecoder(encoder)
    bits = torch.randint(0, 2, (2, 100), generator=gen(5)).float()
    llr = (6.0 * (2 * encoder(bits) - 1)).double().numpy()
    assert torch.equal(decoder(llr)[0], bits)
    empty, iterations = decoder(torch.zeros(0, 200))
    assert empty.shape == (0, 100) and iterations.shape == (0,)


# --- block error rates: fast vs Sionna within overlapping 95 % intervals ----------------------

BLER_POINTS = [  # (bits_per_symbol, channel, Es/N0 dB): waterfall or outage region of k=512, n=1024
    *[(2, "awgn", snr) for snr in (1.0, 1.5, 1.75)],
    *[(4, "awgn", snr) for snr in (6.0, 6.5, 7.0)],
    *[(2, "rayleigh", snr) for snr in (4.0, 8.0, 12.0)],
    *[(4, "rayleigh", snr) for snr in (10.0, 14.0, 18.0)],
]


def wilson(errors: int, count: int) -> tuple[float, float]:
    interval = binomtest(errors, count).proportion_ci(confidence_level=0.95, method="wilson")
    return interval.low, interval.high


def block_errors(k, n, bits_per_symbol, channel, esno_db, count, seed):
    encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
    bits = torch.randint(0, 2, (count, k), generator=gen(seed)).float()
    llr = channel_llrs(encoder, bits, bits_per_symbol=bits_per_symbol, channel=channel, esno_db=esno_db,
                       seed=seed + 1)
    fast, _ = FastLDPC5GDecoder(encoder, iterations=20)(llr)
    sionna = torch.cat([LDPC5GDecoder(encoder, num_iter=20)(part) for part in torch.split(llr, 100)])
    return int((fast != bits).any(dim=1).sum()), int((sionna != bits).any(dim=1).sum())


@pytest.mark.parametrize(("bits_per_symbol", "channel", "esno_db"), BLER_POINTS)
def test_block_error_rates_match_sionna(bits_per_symbol, channel, esno_db):
    count = 100
    fast, sionna = block_errors(512, 1024, bits_per_symbol, channel, esno_db, count, seed=int(10 * esno_db))
    fast_low, fast_high = wilson(fast, count)
    sionna_low, sionna_high = wilson(sionna, count)
    assert fast_low <= sionna_high and sionna_low <= fast_high, (fast, sionna)


@pytest.mark.slow
@pytest.mark.parametrize(("bits_per_symbol", "channel", "esno_db"), BLER_POINTS)
def test_block_error_rates_match_sionna_large_counts(bits_per_symbol, channel, esno_db):
    count = 2000
    fast, sionna = block_errors(512, 1024, bits_per_symbol, channel, esno_db, count, seed=int(10 * esno_db) + 7)
    assert wilson(fast, count)[0] <= wilson(sionna, count)[1] and wilson(sionna, count)[0] <= wilson(fast, count)[1]


# --- settings and wiring ----------------------------------------------------------------------

def test_fast_decoder_is_the_default_and_sionna_stays_available():
    assert LinkConfig().ldpc.decoder == "fast" and LinkConfig().ldpc.bit_interleaver
    with pytest.raises(ConfigError, match="link.ldpc.decoder"):
        LinkConfig.from_mapping({"ldpc": {"decoder": "gpu"}})
    common = dict(rate=0.5, bits_per_symbol=2, max_block_size=None, max_codewords_per_call=7, device="cpu")
    bits = torch.randint(0, 2, (20, 300), generator=gen(6)).float()
    for decoder in ("fast", "sionna"):
        code = LDPC5GCode(settings=LinkConfig(ldpc={"decoder": decoder}).ldpc, **common)
        llr = 5.0 * (2 * code.encode(bits) - 1)
        llr[:, ::25] *= -1  # every 25th code bit wrong: both decoders correct it
        assert torch.equal(code.decode(llr, k=300).bits, bits)
        kind = type(code._coder(300, code.codeword_bits(300))[1]).__name__
        assert kind == {"fast": "FastLDPC5GDecoder", "sionna": "LDPC5GDecoder"}[decoder]


# --- the link's QAM demapper (the stage after decoding that costs most) ----------------------

@pytest.mark.parametrize("modulation", ["qpsk", "16qam", "64qam"])
@pytest.mark.parametrize("method", ["app", "maxlog"])
def test_separable_qam_demapper_gives_sionnas_llrs(modulation, method):
    modem = Modem(modulation=modulation, demapping=method, equalizer="zf", device="cpu")
    assert isinstance(modem._demapper, SeparableQamDemapper)
    g = gen(11)
    symbols = modem.map(torch.randint(0, 2, (modem.bits_per_symbol * 2000,), generator=g).float())
    no = 10 ** (-3 * torch.rand(symbols.shape, generator=g))  # Es/N0 0 .. 30 dB per symbol
    y = symbols + (no / 2).sqrt() * torch.complex(torch.randn(symbols.shape, generator=g),
                                                  torch.randn(symbols.shape, generator=g))
    ours = modem.demap(y, no)
    reference = Demapper(method, constellation=modem.constellation)(y, no).reshape(-1)
    assert torch.allclose(ours, reference, rtol=1e-4, atol=1e-3)

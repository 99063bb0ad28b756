"""The Sionna link: round trips, CRC, LDPC (early exit included), polar, segmentation, settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sionna.phy import config as sionna_config
from sionna.phy.fec.ldpc import LDPC5GEncoder

from channels import AWGNChannel, ChannelModel, ChannelOutput, RayleighChannel
from gosvae.errors import ConfigError
from simulation.link import Link, LinkConfig, LinkStats
from simulation.link.crc import PacketCRC
from simulation.link.fec import LDPC5GCode
from simulation.link.ldpc_early_exit import LDPC5GCodewordCheck
from simulation.link.modem import Modem
from simulation.link.segmentation import (
    bits_to_packets,
    grid_round_up,
    packets_to_bits,
    plan_blocks,
    ragged_indices,
)

pytestmark = pytest.mark.filterwarnings("ignore:5G Polar codes use an integrated CRC")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_packets(lengths, seed=0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.bytes(n) for n in lengths]


class SignFlipChannel(ChannelModel):
    """Noiseless channel that negates chosen symbols without telling the receiver (h = 1)."""

    def __init__(self, positions: list[int]) -> None:
        super().__init__()
        self.positions = positions

    def forward(self, x, *, no, generator) -> ChannelOutput:
        sign = torch.ones_like(x)
        sign[:, self.positions] = -1
        return ChannelOutput(y=x * sign, h=torch.ones_like(x), no=torch.tensor(1e-6))


class RecordingChannel(AWGNChannel):
    """AWGN that keeps the last symbols it was given."""

    def forward(self, x, *, no, generator) -> ChannelOutput:
        self.last_input = x.clone()
        return super().forward(x, no=no, generator=generator)


# --- round trips -----------------------------------------------------------------------------

LENGTHS = [0, 1, 2, 37, 300, 5000]


@pytest.mark.parametrize(
    "settings",
    [
        {"code": "none"},
        {"code": "ldpc", "rate": 0.5, "interleaver": "random"},
        {"code": "ldpc", "rate": 0.75, "block_size": 2000, "block_sizes_per_octave": None,
         "ldpc": {"early_exit": False, "iterations": 5}},
        {"code": "polar", "rate": 0.5, "polar": {"decoder": "SC"}},
    ],
)
def test_packets_of_any_length_round_trip_at_high_snr(settings):
    packets = random_packets(LENGTHS)
    link = Link(LinkConfig(modulation="16qam", **settings), AWGNChannel(), device="cpu")
    received, stats = link.transmit(packets, snr_db=30.0, generator=gen())
    assert received == packets
    assert stats.packets_sent == 6 and stats.packets_lost == stats.packets_undetected == 0
    assert stats.payload_bits == stats.payload_bits_delivered == 8 * sum(LENGTHS)
    assert stats.info_bits == stats.payload_bits + 24 * len(packets) and stats.info_bit_errors == 0
    assert stats.channel_uses * 4 >= stats.coded_bits >= stats.info_bits
    assert stats.ber == 0 and stats.packet_loss_rate == 0


def test_ldpc_blocks_respect_the_size_limit_and_the_rate():
    link = Link(LinkConfig(code="ldpc", rate=0.5, block_size=1000, modulation="qpsk"), AWGNChannel(), device="cpu")
    _, stats = link.transmit(random_packets([1000]), snr_db=20.0, generator=gen())
    assert stats.codewords == math.ceil((8000 + 24) / 1000)
    assert stats.coded_bits / stats.info_bits == pytest.approx(2.0, rel=0.07)  # grid padding <= 6.25 %


def test_ldpc_corrects_what_uncoded_transmission_loses():
    packets = random_packets([100] * 20, seed=1)
    snr_db = 4.0  # QPSK Es/N0 4 dB: raw BER = Q(sqrt(10^0.4)) = 5.7 %
    uncoded = Link(LinkConfig(code="none", modulation="qpsk"), AWGNChannel(), device="cpu")
    coded = Link(LinkConfig(code="ldpc", rate=0.5, modulation="qpsk"), AWGNChannel(), device="cpu")
    lost, uncoded_stats = uncoded.transmit(packets, snr_db=snr_db, generator=gen(2))
    received, coded_stats = coded.transmit(packets, snr_db=snr_db, generator=gen(2))
    assert lost == [None] * 20 and uncoded_stats.packet_loss_rate == 1.0
    assert received == packets and coded_stats.ber == 0.0
    assert coded_stats.raw_ber == pytest.approx(0.057, abs=0.006)  # the errors were there


def test_polar_scl_round_trip():
    packets = random_packets([1, 20, 60], seed=3)
    link = Link(LinkConfig(code="polar", rate=0.5, modulation="qpsk"), RayleighChannel(), device="cpu")
    received, stats = link.transmit(packets, snr_db=40.0, generator=gen())
    assert received == packets and stats.info_bit_errors == 0


def test_empty_call_and_bad_inputs():
    link = Link(LinkConfig(), AWGNChannel(), device="cpu")
    received, stats = link.transmit([], snr_db=10.0, generator=gen())
    assert received == [] and stats == LinkStats()
    with pytest.raises(TypeError, match=r"packets\[1\] must be bytes"):
        link.transmit([b"a", "b"], snr_db=10.0, generator=gen())
    with pytest.raises(TypeError, match="single bytes object"):
        link.transmit(b"abc", snr_db=10.0, generator=gen())
    with pytest.raises(TypeError, match="torch.Generator"):
        link.transmit([b"a"], snr_db=10.0, generator=0)


# --- CRC -------------------------------------------------------------------------------------

CRC_POLYNOMIALS = {  # TS 38.212 5.1, exponents of the generator polynomial
    "CRC24A": [24, 23, 18, 17, 14, 11, 10, 7, 6, 5, 4, 3, 1, 0],
    "CRC16": [16, 12, 5, 0],
    "CRC6": [6, 5, 0],
}


def reference_crc(bits: np.ndarray, exponents: list[int]) -> np.ndarray:
    """Remainder of bits(D) * D^L divided by g(D), by long division (independent of Sionna)."""
    degree = exponents[0]
    poly = np.zeros(degree + 1, dtype=np.uint8)
    poly[[degree - e for e in exponents]] = 1
    register = np.concatenate([bits.astype(np.uint8), np.zeros(degree, dtype=np.uint8)])
    for i in range(len(bits)):
        if register[i]:
            register[i : i + degree + 1] ^= poly
    return register[-degree:]


@pytest.mark.parametrize("name", CRC_POLYNOMIALS)
def test_packet_crc_matches_long_division_for_any_length(name):
    rng = np.random.default_rng(4)
    lengths = np.array([1, 8, 63, 64, 65, 200, 1000])
    bits = rng.integers(0, 2, lengths.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    crc = PacketCRC(name, device="cpu")
    parity = crc.parity(torch.as_tensor(bits).float(), starts=starts, lengths=lengths)
    for i, (start, length) in enumerate(zip(starts, lengths)):
        assert parity[i].numpy().astype(np.uint8).tolist() == reference_crc(bits[start : start + length],
                                                                             CRC_POLYNOMIALS[name]).tolist()
    assert crc.check(torch.as_tensor(bits).float(), parity, starts=starts, lengths=lengths).all()
    corrupted = torch.as_tensor(bits).float()
    corrupted[starts + lengths // 2] = 1 - corrupted[starts + lengths // 2]  # one flip per packet
    assert not crc.check(corrupted, parity, starts=starts, lengths=lengths).any()


@pytest.mark.parametrize("crc", ["CRC24A", "none"])
def test_crc_turns_a_corrupted_packet_into_none(crc):
    packets = random_packets([20, 20, 20], seed=5)
    flipped_bit = 8 * 20 + (24 if crc != "none" else 0) + 13  # bit 13 of packet 1 (BPSK: bit = symbol)
    link = Link(LinkConfig(code="none", crc=crc, modulation="bpsk"), SignFlipChannel([flipped_bit]), device="cpu")
    received, stats = link.transmit(packets, snr_db=60.0, generator=gen())
    assert received[0] == packets[0] and received[2] == packets[2]
    assert stats.raw_bit_errors == stats.info_bit_errors == 1
    if crc == "none":
        differing = np.unpackbits(np.frombuffer(received[1], np.uint8) ^ np.frombuffer(packets[1], np.uint8))
        assert np.flatnonzero(differing).tolist() == [13]
        assert stats.packets_lost == 0 and stats.packets_undetected == 1
    else:
        assert received[1] is None and stats.packets_lost == 1 and stats.packets_undetected == 0
    assert stats.packet_error_rate == pytest.approx(1 / 3)


# --- LDPC early exit -------------------------------------------------------------------------

@pytest.mark.parametrize(("k", "n"), [(256, 512), (1000, 1100), (40, 200), (4000, 6000)])
def test_codeword_check_accepts_codewords_recovers_punctured_bits_and_rejects_single_flips(k, n):
    encoder = LDPC5GEncoder(k, n)
    check = LDPC5GCodewordCheck(encoder)
    bits = torch.randint(0, 2, (4, k), generator=gen(6)).float()
    llr = 3.0 * (2 * encoder(bits) - 1)
    valid, info = check(llr)
    assert valid.all() and torch.equal(info, bits)  # includes the 2Z punctured systematic bits
    positions = torch.randperm(n, generator=gen(7))[:40]
    flipped = llr[:1].repeat(40, 1)
    flipped[torch.arange(40), positions] *= -1
    assert not check(flipped)[0].any()


@pytest.mark.parametrize("bits_per_symbol", [1, 4, 10])
@pytest.mark.parametrize("rate", [0.2, 1 / 3, 0.5, 0.925])
def test_ldpc_block_lengths_are_accepted_by_sionna_and_decodable(rate, bits_per_symbol):
    code = LDPC5GCode(rate=rate, bits_per_symbol=bits_per_symbol, max_block_size=None,
                      settings=LinkConfig().ldpc, max_codewords_per_call=8, device="cpu")
    for k in [12, 19, 24, 100, 3824] + ([3825] if rate >= 1 / 3 else []):
        n = code.codeword_bits(k)
        assert n % bits_per_symbol == 0 and n >= k + 3
        assert 1 / 5 <= k / n <= 948 / 1024 and (k <= 3824 or k / n >= 1 / 3)
        assert abs(k / n - rate) < max(0.05, 3 / n + bits_per_symbol / n)  # close to the asked rate
        LDPC5GCodewordCheck(LDPC5GEncoder(k, n))  # raises if the code cannot tell words apart


def test_early_exit_changes_nothing_in_the_decoded_bits():
    k, n, count = 256, 512, 120
    encoder = LDPC5GEncoder(k, n)
    bits = torch.randint(0, 2, (count, k), generator=gen(8)).float()
    symbols = 1 - 2 * encoder(bits)  # BPSK, Es/N0 = 6.8 dB: about half the codewords are error-free
    no = 10 ** (-6.8 / 10)
    received = symbols + math.sqrt(no / 2) * torch.randn(symbols.shape, generator=gen(9))
    llr = -4 * received / no  # log P(1)/P(0) of BPSK over real AWGN with variance no/2
    common = dict(rate=0.5, bits_per_symbol=1, max_block_size=None, max_codewords_per_call=50, device="cpu")
    # The early-exit check serves Sionna's decoder (the fast decoder stops early by itself).
    fast = LDPC5GCode(settings=LinkConfig(ldpc={"decoder": "sionna"}).ldpc, **common)
    full = LDPC5GCode(settings=LinkConfig(ldpc={"decoder": "sionna", "early_exit": False}).ldpc, **common)
    with_exit, without_exit = fast.decode(llr, k=k), full.decode(llr, k=k)
    assert 0 < with_exit.early_exits < count and without_exit.early_exits == 0
    assert torch.equal(with_exit.bits, without_exit.bits)
    assert (with_exit.bits == bits).all(dim=1).sum() > with_exit.early_exits  # BP corrected some


# --- reproducibility, interleaving, equalisation ---------------------------------------------

def test_same_seed_same_result_other_seed_other_result():
    config = LinkConfig(code="ldpc", rate=0.5, modulation="16qam", interleaver="random", ldpc={"iterations": 5})
    link = Link(config, RayleighChannel(fading="block", coherence_symbols=50), device="cpu")
    packets = random_packets([50] * 8, seed=10)
    torch_state, sionna_state = torch.random.get_rng_state(), sionna_config.torch_rng("cpu").get_state()
    first = link.transmit(packets, snr_db=14.0, generator=gen(11))
    again = link.transmit(packets, snr_db=14.0, generator=gen(11))
    other = link.transmit(packets, snr_db=14.0, generator=gen(12))
    assert torch.equal(torch.random.get_rng_state(), torch_state)  # only the given generator is used
    assert torch.equal(sionna_config.torch_rng("cpu").get_state(), sionna_state)
    assert first == again
    assert first[1].raw_bit_errors != other[1].raw_bit_errors


def test_interleaver_permutes_each_codeword_and_is_undone():
    packets = random_packets([200, 200], seed=13)
    plain, mixed = RecordingChannel(), RecordingChannel()
    settings = dict(code="ldpc", rate=0.5, modulation="bpsk")
    received_plain, _ = Link(LinkConfig(**settings), plain, device="cpu").transmit(packets, snr_db=30, generator=gen())
    received_mixed, _ = Link(LinkConfig(interleaver="random", **settings), mixed, device="cpu").transmit(
        packets, snr_db=30, generator=gen()
    )
    assert received_plain == received_mixed == packets
    assert not torch.equal(plain.last_input, mixed.last_input)
    n = plain.last_input.shape[1] // 2  # two equal codewords: same bits, other order, within each
    for cw in range(2):
        a, b = plain.last_input[0, cw * n : (cw + 1) * n].real, mixed.last_input[0, cw * n : (cw + 1) * n].real
        assert torch.equal(torch.sort(a).values, torch.sort(b).values)


def test_mmse_and_zero_forcing_coincide_for_scalar_channels():
    out = RayleighChannel()(torch.ones(1, 2000, dtype=torch.complex64), no=0.2, generator=gen(14))
    zf = Modem(modulation="qpsk", demapping="app", equalizer="zf", device="cpu").equalize(out)
    mmse = Modem(modulation="qpsk", demapping="app", equalizer="mmse", device="cpu").equalize(out)
    assert torch.allclose(zf[0], out.y / out.h, rtol=1e-4, atol=1e-5)
    assert torch.allclose(zf[1], 0.2 / out.h.abs() ** 2, rtol=1e-4)
    assert torch.allclose(mmse[0], zf[0], rtol=1e-3, atol=1e-4) and torch.allclose(mmse[1], zf[1], rtol=1e-3)


# --- SNR axis --------------------------------------------------------------------------------

def test_noise_variance_for_esno_and_ebno():
    esno = Link(LinkConfig(modulation="16qam"), AWGNChannel(), device="cpu")
    assert esno.noise_variance(7.0, payload_bits=100, channel_uses=60) == pytest.approx(10 ** -0.7)
    ebno = Link(LinkConfig(modulation="16qam", snr_definition="ebno"), AWGNChannel(), device="cpu")
    rate = 100 / (4 * 60)  # payload bits per coded bit on air
    assert ebno.noise_variance(7.0, payload_bits=100, channel_uses=60) == pytest.approx(1 / (10**0.7 * 4 * rate))
    with pytest.raises(ValueError, match="undefined"):
        ebno.noise_variance(7.0, payload_bits=0, channel_uses=10)


# --- segmentation ----------------------------------------------------------------------------

def test_block_plan_covers_every_packet_with_bounded_padding():
    payload = 8 * np.array([0, 1, 3, 100, 1055, 1056, 5000, 20000])
    layout = plan_blocks(payload, crc_bits=24, max_block=8448, min_block=12, steps_per_octave=16,
                         codeword_bits=lambda k: 2 * k + 1, bits_per_symbol=4)
    protected = payload + 24
    for packet, bits in enumerate(protected):
        blocks = np.flatnonzero(layout.block_packet == packet)
        k = layout.block_k[blocks]
        assert np.all(k == k[0]) and k[0] <= 8448 and len(blocks) == math.ceil(bits / 8448)
        assert bits <= k.sum() <= max(12, bits * (1 + 1 / 16) + len(blocks))
        assert layout.block_info_start[blocks[0]] == layout.packet_start[packet]
        assert np.all(np.diff(layout.block_info_start[blocks]) == k[0])  # contiguous
    assert np.all(layout.block_n == 2 * layout.block_k + 1)
    assert np.all(layout.block_air % 4 == 0) and np.all(layout.block_air - layout.block_n < 4)
    assert np.all(np.diff(layout.block_code_start) == layout.block_air[:-1])


def test_grid_rounding_against_brute_force():
    values = np.arange(1, 5000)
    rounded = grid_round_up(values, 8)
    grid = np.unique([math.ceil(2**e * (1 + j / 8)) for e in range(14) for j in range(9)])
    expected = grid[np.searchsorted(grid, values)]
    assert np.array_equal(rounded, expected)


def test_ragged_indices_and_bit_packing():
    starts, lengths = np.array([5, 0, 20]), np.array([3, 0, 2])
    assert ragged_indices(starts, lengths).tolist() == [5, 6, 7, 20, 21]
    packets = random_packets([0, 1, 7], seed=15)
    bits = packets_to_bits(packets)
    assert len(bits) == 64 and bits_to_packets(bits, np.array([0, 8, 56])) == packets


# --- settings and statistics -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ldpc": {"iterations": 0}}, "link.ldpc.iterations: must be >= 1, got 0"),
        ({"code": "ldpc", "rate": 0.97}, "link.rate: must be within [0.2, 0.925] for code 'ldpc', got 0.97"),
        ({"code": "none", "rate": 0.5}, "link.rate: must be 1 (or left out) without a channel code, got 0.5"),
        ({"code": "polar", "block_size": 1013}, "link.block_size: must be <= 539 for code 'polar' at rate 0.5"),
        ({"code": "ldpc", "rate": 0.25, "block_size": 5000}, "link.block_size: must be <= 3824 for code 'ldpc'"),
        ({"modulation": "8psk"}, "link.modulation: must be 'bpsk', 'qpsk', '16qam'"),
        ({"snr": "esno"}, "link.snr: unknown field"),
    ],
)
def test_bad_settings_give_one_line_config_errors(data, message):
    with pytest.raises(ConfigError) as info:
        LinkConfig.from_mapping(data)
    assert str(info.value).startswith(message)


def test_stats_add_up_and_give_rates():
    a = LinkStats(packets_sent=4, packets_lost=1, info_bits=100, info_bit_errors=3, coded_bits=200,
                  raw_bit_errors=20, channel_uses=100, payload_bits=80, payload_bits_delivered=60,
                  stage_seconds={"decoding": 1.0})
    b = LinkStats(packets_sent=6, packets_undetected=1, info_bits=300, info_bit_errors=1, coded_bits=600,
                  raw_bit_errors=20, channel_uses=300, payload_bits=240, payload_bits_delivered=200,
                  stage_seconds={"decoding": 2.0, "crc": 0.5})
    total = LinkStats.merge([a, b])
    assert total.packet_loss_rate == 0.1 and total.packet_error_rate == 0.2
    assert total.ber == 4 / 400 and total.raw_ber == 40 / 800
    assert total.goodput_bits_per_channel_use == 260 / 400
    assert total.stage_seconds == {"decoding": 3.0, "crc": 0.5}
    assert math.isnan(LinkStats().ber)
    assert total.to_dict()["packets_sent"] == 10 and "stage_seconds" not in total.to_dict()

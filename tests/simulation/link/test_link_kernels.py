"""Compiled link kernels against independent references: Sionna's CRC blocks and demapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.mapping import Demapper

from simulation.link.crc import PacketCRC
from simulation.link.modem import Modem
from simulation.link.qam_demapper import _NEGLIGIBLE, SeparableQamDemapper, _demap, _demap16, _exp_nonpositive


@pytest.mark.parametrize("name", ["CRC24A", "CRC24B", "CRC24C", "CRC16", "CRC11", "CRC6"])
def test_packet_crc_equals_sionnas_encoder_and_decoder(name):
    rng = np.random.default_rng(7)
    crc = PacketCRC(name, device="cpu")
    for k in (1, 7, 8, 24, 100, 6400):
        count = 5
        bits = rng.integers(0, 2, (count, k)).astype(np.float32)
        encoder = CRCEncoder(name, k=k)
        reference = encoder(torch.as_tensor(bits))[:, k:]
        starts, lengths = np.arange(count) * k, np.full(count, k)
        stream = torch.as_tensor(bits.reshape(-1))
        parity = crc.parity(stream, starts=starts, lengths=lengths)
        assert parity.dtype == torch.float32 and torch.equal(parity, reference.float())
        # decoder: intact words pass, a flipped payload bit or parity bit fails, as Sionna's CRCDecoder
        words = torch.cat([stream.reshape(count, k), parity], dim=1)
        flip_payload = words.clone()
        flip_payload[2, k // 2] = 1 - flip_payload[2, k // 2]
        flip_parity = words.clone()
        flip_parity[3, k + crc.length - 1] = 1 - flip_parity[3, k + crc.length - 1]
        for received in (words, flip_payload, flip_parity):
            ours = crc.check(received[:, :k].reshape(-1), received[:, k:], starts=starts, lengths=lengths)
            sionna = CRCDecoder(encoder)(received)[1].reshape(-1)
            assert torch.equal(ours, sionna)
        assert not crc.check(flip_payload[:, :k].reshape(-1), flip_payload[:, k:], starts=starts,
                             lengths=lengths)[2]


def test_packet_crc_reads_packets_in_place_in_any_order():
    crc = PacketCRC("CRC24A", device="cpu")
    rng = np.random.default_rng(1)
    bits = torch.as_tensor(rng.integers(0, 2, 500)).float()
    starts, lengths = np.array([300, 0, 120, 50]), np.array([200, 0, 31, 70])
    parity = crc.parity(bits, starts=starts, lengths=lengths)
    for i, (start, length) in enumerate(zip(starts, lengths)):
        alone = crc.parity(bits[start : start + length].clone(), starts=np.array([0]), lengths=np.array([length]))
        assert torch.equal(parity[i], alone[0])
    assert torch.equal(parity[1], torch.zeros(24))  # empty packet: zero register
    with pytest.raises(ValueError, match="outside"):
        crc.parity(bits, starts=np.array([450]), lengths=np.array([51]))
    assert crc.parity(bits, starts=np.zeros(0, int), lengths=np.zeros(0, int)).shape == (0, 24)


def test_exp_kernel_matches_numpy():
    import numba

    @numba.njit
    def evaluate(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = _exp_nonpositive(x[i])
        return out

    x = -np.concatenate([np.linspace(0.0, _NEGLIGIBLE, 400_001), np.random.default_rng(0).random(10_000) * _NEGLIGIBLE])
    assert np.max(np.abs(evaluate(x) / np.exp(x) - 1)) < 1e-14
    assert evaluate(np.array([0.0]))[0] == 1.0


@pytest.mark.parametrize("modulation", ["16qam", "64qam", "256qam"])
@pytest.mark.parametrize("method", ["app", "maxlog"])
def test_separable_demapper_matches_sionna_across_snr_and_fading(modulation, method):
    """Es/N0 from -5 to 45 dB per symbol and Rayleigh gains (equalised, as in the link)."""
    modem = Modem(modulation=modulation, demapping=method, equalizer="zf", device="cpu")
    assert isinstance(modem._demapper, SeparableQamDemapper)
    g = torch.Generator().manual_seed(3)
    count = 3000
    symbols = modem.map(torch.randint(0, 2, (modem.bits_per_symbol * count,), generator=g).float())
    no = 10 ** (-(5 * torch.rand(symbols.shape, generator=g) - 0.5))
    h = torch.complex(torch.randn(symbols.shape, generator=g), torch.randn(symbols.shape, generator=g)) / 2**0.5
    noise = (no / 2).sqrt() * torch.complex(torch.randn(symbols.shape, generator=g), torch.randn(symbols.shape, generator=g))
    power = h.abs() ** 2
    x_eq, no_eff = (h * symbols + noise) * h.conj() / power, no / power
    ours = modem.demap(x_eq, no_eff)
    reference = Demapper(method, constellation=modem.constellation)(x_eq, no_eff).reshape(-1)
    assert ours.dtype == torch.float32 and ours.shape == reference.shape
    assert torch.allclose(ours, reference, rtol=1e-5, atol=1e-3)
    # a noise variance of exactly zero, and the separable call on a (1, N) broadcast variance
    assert torch.isfinite(modem.demap(symbols, torch.zeros(symbols.shape))).all()
    assert torch.equal(modem.demap(x_eq, torch.full((1, 1), 0.1)), modem.demap(x_eq, torch.full(x_eq.shape, 0.1)))


@pytest.mark.parametrize("method", ["app", "maxlog"])
def test_16qam_register_kernel_equals_the_general_kernel_bit_for_bit(method):
    """The 16-QAM loop hard-codes the bit groups of the labels; the general loop reads them from the
    constellation. Same LLRs, bit for bit, from deep noise to none (and a variance of zero)."""
    from sionna.phy.mapping import Constellation

    demapper = SeparableQamDemapper(Constellation("qam", 4), method=method)
    rng = np.random.default_rng(11)
    count = 20_000
    y = (rng.normal(size=count) + 1j * rng.normal(size=count)).astype(np.complex64) * np.float32(0.8)
    no = (10.0 ** rng.uniform(-6, 1.5, count)).astype(np.float32)
    no[:10] = 0.0
    floor = float(np.finfo(np.float32).tiny)
    general, registers = np.empty((count, 4), np.float32), np.empty((count, 4), np.float32)
    _demap(y, no, demapper._levels, demapper._ones, demapper._zeros, demapper.maxlog, floor, general)
    _demap16(y, no, demapper._levels, demapper.maxlog, floor, registers)
    assert np.array_equal(general, registers)
    assert torch.equal(demapper(torch.as_tensor(y), torch.as_tensor(no)), torch.as_tensor(general.reshape(-1)))


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam", "64qam", "256qam", "1024qam"])
def test_mapper_equals_sionnas_mapper(modulation):
    from sionna.phy.mapping import Mapper

    modem = Modem(modulation=modulation, demapping="app", equalizer="zf", device="cpu")
    bits = torch.randint(0, 2, (modem.bits_per_symbol * 5000,), generator=torch.Generator().manual_seed(5)).float()
    ours = modem.map(bits)
    reference = Mapper(constellation=modem.constellation)(bits.reshape(1, -1))
    assert ours.dtype == reference.dtype and torch.equal(ours, reference)
    assert modem.map(bits[:0]).shape == (1, 0)
    with pytest.raises(ValueError, match="0 or 1"):
        modem.map(torch.full((modem.bits_per_symbol,), 2.0))


@pytest.mark.parametrize("starts", [[0, 10, 20], [5, 17, 29, 41], [3], [0, 10, 25], [0, 4, 8]])
def test_block_views_equal_index_gathers_and_scatters(starts):
    from simulation.link.segmentation import block_view
    from simulation.link.segmentation import ragged_copy

    starts, length = np.array(starts), 6
    stream = torch.arange(60, dtype=torch.float32)
    index = torch.as_tensor(starts[:, None] + np.arange(length))
    view = block_view(stream, starts, length)
    evenly = len(starts) == 1 or (np.all(np.diff(starts) == starts[1] - starts[0]) and starts[1] - starts[0] >= length)
    assert (view is not None) == bool(evenly)
    if view is not None:
        assert torch.equal(view, stream[index])
        view.copy_(-torch.ones(len(starts), length))
        expected = torch.arange(60, dtype=torch.float32)
        expected[index] = -1
        assert torch.equal(stream, expected)
    target = np.zeros(40, dtype=np.uint8)
    ragged_copy(np.arange(60, dtype=np.float32) % 2, starts, target, [0, 7, 14, 21][: len(starts)], np.full(len(starts), length))
    for i, s in enumerate(starts):
        assert target[7 * i : 7 * i + length].tolist() == (np.arange(s, s + length) % 2).tolist()
    with pytest.raises(ValueError, match="outside"):
        ragged_copy(np.zeros(5), [0], target, [38], [3])

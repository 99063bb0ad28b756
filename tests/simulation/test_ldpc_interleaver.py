"""The 3GPP rate-matching bit interleaver of the link's LDPC code, against Sionna's own chain."""

from __future__ import annotations

import pytest
import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Constellation, Demapper, Mapper

from channels import AWGNChannel
from simulation.link import Link, LinkConfig
from simulation.link.fec import LDPC5GCode
from simulation.link.ldpc_early_exit import LDPC5GCodewordCheck

pytestmark = pytest.mark.filterwarnings("ignore:Effective coderate")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ldpc_code(bits_per_symbol: int, **ldpc) -> LDPC5GCode:
    return LDPC5GCode(rate=0.5, bits_per_symbol=bits_per_symbol, max_block_size=None, max_codewords_per_call=64,
                      settings=LinkConfig(ldpc=ldpc).ldpc, device="cpu")


def ts38212_interleave(codewords: torch.Tensor, q_m: int) -> torch.Tensor:
    """TS 38.212 5.4.2.2: f[i + j Q_m] = e[i E / Q_m + j], written from the formula."""
    g, e = codewords.shape
    out = torch.empty_like(codewords)
    for j in range(e // q_m):
        for i in range(q_m):
            out[:, i + j * q_m] = codewords[:, i * (e // q_m) + j]
    return out


def awgn_llrs(codewords: torch.Tensor, bits_per_symbol: int, esno_db: float, seed: int) -> torch.Tensor:
    constellation = Constellation("qam", bits_per_symbol)
    x = Mapper(constellation=constellation)(codewords)
    no = 10 ** (-esno_db / 10)
    g = gen(seed)
    y = x + (no / 2) ** 0.5 * torch.complex(torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g))
    return Demapper("app", constellation=constellation)(y, torch.tensor(no))


@pytest.mark.parametrize(("k", "bits_per_symbol"), [(300, 2), (1000, 4), (4000, 6), (500, 8)])
def test_encoder_output_is_the_standard_interleaving_of_the_plain_codeword(k, bits_per_symbol):
    code = ldpc_code(bits_per_symbol)
    n = code.codeword_bits(k)
    bits = torch.randint(0, 2, (3, k), generator=gen(k)).float()
    on_air = code.encode(bits)
    plain = LDPC5GEncoder(k, n)(bits)
    assert torch.equal(on_air, ts38212_interleave(plain, bits_per_symbol))
    assert torch.equal(on_air, LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)(bits))
    assert torch.equal(ldpc_code(bits_per_symbol, bit_interleaver=False).encode(bits), plain)


@pytest.mark.parametrize("decoder", ["fast", "sionna"])
def test_decoded_bits_match_sionnas_interleaved_chain(decoder):
    k, m = 800, 4
    code = ldpc_code(m, decoder=decoder)
    n = code.codeword_bits(k)
    encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=m)
    bits = torch.randint(0, 2, (150, k), generator=gen(1)).float()
    llr = awgn_llrs(encoder(bits), m, esno_db=6.6, seed=2)
    reference = LDPC5GDecoder(encoder, num_iter=20)(llr)
    ours = code.decode(llr, k=k).bits
    assert 3 <= int((reference != bits).any(dim=1).sum()) <= 30  # a moderate SNR: some words fail
    agreement = (ours == reference).all(dim=1).float().mean()
    assert agreement == 1.0 if decoder == "sionna" else agreement >= 0.9


@pytest.mark.parametrize(("k", "n", "m"), [(256, 512, 2), (1000, 1104, 6), (40, 200, 4), (4000, 6000, 8)])
def test_early_exit_check_undoes_the_interleaver(k, n, m):
    encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=m)
    check = LDPC5GCodewordCheck(encoder)
    plain_check = LDPC5GCodewordCheck(LDPC5GEncoder(k, n))
    bits = torch.randint(0, 2, (4, k), generator=gen(5)).float()
    llr = 3.0 * (2 * encoder(bits) - 1)
    valid, info = check(llr)
    assert valid.all() and torch.equal(info, bits)
    flipped = llr[:1].repeat(30, 1)
    flipped[torch.arange(30), torch.randperm(n, generator=gen(6))[:30]] *= -1
    assert not check(flipped)[0].any()
    noisy = llr + 4.0 * torch.randn(llr.shape, generator=gen(7))
    deinterleaved = noisy[:, encoder.out_int_inv.long()]
    assert torch.equal(check(noisy)[0], plain_check(deinterleaved)[0])


def test_early_exit_with_the_interleaver_changes_nothing_in_sionnas_decoding():
    k, m = 512, 4
    code_with, code_without = ldpc_code(m, decoder="sionna"), ldpc_code(m, decoder="sionna", early_exit=False)
    bits = torch.randint(0, 2, (100, k), generator=gen(8)).float()
    llr = awgn_llrs(code_with.encode(bits), m, esno_db=16.0, seed=9)  # about 1 in 5 error-free
    with_exit, without_exit = code_with.decode(llr, k=k), code_without.decode(llr, k=k)
    assert 0 < with_exit.early_exits < 100 and torch.equal(with_exit.bits, without_exit.bits)


@pytest.mark.parametrize("decoder", ["fast", "sionna"])
def test_link_with_both_interleavers_round_trips(decoder):
    packets = [bytes(range(200)), bytes(37)]
    config = LinkConfig(modulation="16qam", interleaver="random", ldpc={"decoder": decoder})
    received, stats = Link(config, AWGNChannel(), device="cpu").transmit(packets, snr_db=25.0, generator=gen(0))
    assert received == packets and stats.info_bit_errors == 0

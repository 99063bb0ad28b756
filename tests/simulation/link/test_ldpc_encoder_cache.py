"""The cached 5G LDPC encoder is Sionna's encoder, bit for bit, and builds each lifted graph once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sionna.phy.fec.ldpc import LDPC5GEncoder

from simulation.link.ldpc_encoder_cache import CachedLDPC5GEncoder, is_shared_pcm
from simulation.link.ldpc_fast import FastLDPC5GDecoder, FastLDPC5GEncoder, QuasiCyclicGraph, rate_matched_positions

BUFFERS = ("_pcm_a_ind", "_pcm_b_inv_ind", "_pcm_c1_ind", "_pcm_c2_ind")


@pytest.mark.parametrize(
    ("k", "n", "bits_per_symbol"),
    [(40, 80, None), (300, 600, 4), (308, 1540, 2), (1000, 3000, 6), (4200, 8400, 4), (6424, 12848, 4), (8448, 9600, 8)],
)
def test_the_cached_encoder_is_sionnas_encoder(k, n, bits_per_symbol):
    cached = CachedLDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
    again = CachedLDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)  # from the cache this time
    reference = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
    bits = torch.randint(0, 2, (4, k), generator=torch.Generator().manual_seed(k)).float()
    for encoder in (cached, again):
        assert (encoder.z, encoder.k_ldpc, encoder.n_ldpc, encoder.k_filler) == (
            reference.z, reference.k_ldpc, reference.n_ldpc, reference.k_filler)
        assert (encoder.pcm != reference.pcm).nnz == 0
        for name in BUFFERS + (("_out_int", "_out_int_inv") if bits_per_symbol else ()):
            assert torch.equal(getattr(encoder, name), getattr(reference, name)), name
        assert torch.equal(encoder(bits), reference(bits))
    assert again.pcm is cached.pcm and is_shared_pcm(cached.pcm) and not is_shared_pcm(reference.pcm)


def test_lengths_of_one_lifting_share_the_graph_and_nothing_can_change_it():
    first = CachedLDPC5GEncoder(4200, 8400, num_bits_per_symbol=4)
    second = CachedLDPC5GEncoder(4208, 8420, num_bits_per_symbol=4)
    other = CachedLDPC5GEncoder(1000, 2000, num_bits_per_symbol=4)
    assert first.z == second.z and second.pcm is first.pcm
    assert other.z != first.z and other.pcm is not first.pcm
    with pytest.raises(ValueError, match="read-only"):
        first._bm[0, 0] = 1
    # k-dependent parts stay per encoder
    assert first.k_filler != second.k_filler and first.n != second.n


def test_the_fast_decoder_and_encoder_of_one_encoder_read_one_graph():
    encoder = CachedLDPC5GEncoder(2000, 4000, num_bits_per_symbol=4)
    decoder, fast_encoder = FastLDPC5GDecoder(encoder, iterations=5), FastLDPC5GEncoder(encoder)
    assert decoder._graph is QuasiCyclicGraph.from_encoder(encoder, rate_matched_positions(encoder).astype(np.int32))
    bits = torch.randint(0, 2, (3, 2000), generator=torch.Generator().manual_seed(1)).float()
    codewords = fast_encoder(bits)
    assert torch.equal(codewords, LDPC5GEncoder(2000, 4000, num_bits_per_symbol=4)(bits))
    decoded, iterations = decoder(20.0 * (2.0 * codewords - 1.0))  # noiseless LLRs, log P(1)/P(0)
    assert torch.equal(decoded.float(), bits) and int(iterations.max()) <= 1

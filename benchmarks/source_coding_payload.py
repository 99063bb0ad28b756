"""Payload of each index coder against the order-0 entropy of a synthetic skewed index map.

Prints, for the range, Huffman and fixed-length coders, the header and payload bits of the slice
packets, bits per index, the excess over the order-0 entropy of the map ("vs H0") and over the
ideal code length under the prior ("vs ideal"), and the encode/decode times. The map is drawn
i.i.d. from a Zipf law over ``K`` codebook words and coded with the prior the model would ship
(the generating law), so the range coder should sit at the cross-entropy
``-sum log2 prior[indices]``. The trained model's real index maps will be plugged in later.

Usage::

    python benchmarks/source_coding_payload.py [--height 64] [--width 128] [--codebook-size 512]
        [--zipf-exponent 1.1] [--rows-per-slice 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gosvae.source_coding import (
    decode_index_map,
    encode_index_map,
    ideal_code_length_bits,
    order0_entropy_bits,
    packet_bits,
)


def zipf_prior(num_symbols: int, *, exponent: float) -> np.ndarray:
    """``p_k ∝ (k + 1)^-exponent``, k = 0..K-1."""
    weights = 1.0 / np.arange(1, num_symbols + 1) ** exponent
    return weights / weights.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=64, help="index map rows H'")
    parser.add_argument("--width", type=int, default=128, help="index map columns W'")
    parser.add_argument("--codebook-size", type=int, default=512, help="K")
    parser.add_argument("--zipf-exponent", type=float, default=1.1)
    parser.add_argument("--rows-per-slice", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    prior = zipf_prior(args.codebook_size, exponent=args.zipf_exponent)
    rng = np.random.default_rng(args.seed)
    indices = rng.choice(args.codebook_size, size=(args.height, args.width), p=prior)
    count = indices.size
    entropy = order0_entropy_bits(indices)
    cross_entropy = ideal_code_length_bits(indices, prior=prior)
    print(f"map {args.height}x{args.width}, K={args.codebook_size}, Zipf exponent {args.zipf_exponent}, "
          f"{-(-args.height // args.rows_per_slice)} slices of {args.rows_per_slice} rows")
    print(f"order-0 entropy {entropy:,.0f} bits ({entropy / count:.3f} b/index); "
          f"ideal code length under the prior {cross_entropy:,.0f} bits ({cross_entropy / count:.3f} b/index)")
    print(f"{'coder':8} {'header b':>9} {'payload b':>10} {'b/index':>8} {'vs H0':>8} {'vs ideal':>9} "
          f"{'enc ms':>7} {'dec ms':>7}")
    for coder in ("range", "huffman", "fixed"):
        start = time.perf_counter()
        packets = encode_index_map(indices, prior=prior, coder=coder, rows_per_slice=args.rows_per_slice)
        encoded = time.perf_counter()
        decoded = decode_index_map(packets, shape=indices.shape, prior=prior)
        done = time.perf_counter()
        assert (decoded.indices == indices).all(), f"{coder}: round trip failed"
        bits = packet_bits(packets)
        print(f"{coder:8} {bits.header_bits:9,d} {bits.payload_bits:10,d} {bits.payload_bits / count:8.3f} "
              f"{100 * (bits.payload_bits / entropy - 1):+7.2f}% "
              f"{100 * (bits.payload_bits / cross_entropy - 1):+8.2f}% "
              f"{1e3 * (encoded - start):7.2f} {1e3 * (done - encoded):7.2f}")


if __name__ == "__main__":
    main()

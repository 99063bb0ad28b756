"""Payload of each index coder against the order-0 entropy: a trained model's val maps, or a synthetic one.

Prints, for the range, Huffman and fixed-length coders, the header and payload bits of the slice
packets, bits per index, the excess over the order-0 entropy of the map ("vs H0") and over the
ideal code length under the prior ("vs ideal"), and the encode/decode times. The map is drawn
i.i.d. from a Zipf law over ``K`` codebook words and coded with the prior the model would ship
(the generating law), so the range coder should sit at the cross-entropy
``-sum log2 prior[indices]``.

With ``--models``, the index maps are those of zoo codecs on the ``synthetic-urban`` val images,
coded with the prior each model ships (its training-set index distribution, shared by
transmitter and receiver). "vs H0" then compares with the order-0 entropy of the val indices
pooled over the split (the best static i.i.d. code for that split, known only in hindsight);
the per-image empirical entropy is also printed (lower, as it is fitted to each image).

Usage::

    python benchmarks/source_coding_payload.py [--height 64] [--width 128] [--codebook-size 512]
        [--zipf-exponent 1.1] [--rows-per-slice 8] [--seed 0]
    OMP_NUM_THREADS=1 python benchmarks/source_coding_payload.py --models gos-vae-star-r4 vq-vae-r4 \
        [--num-images 100] [--rows-per-slice 4]
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


def coder_rows(indices: list[np.ndarray], *, prior: np.ndarray, rows_per_slice: int, entropy: float) -> None:
    """Print one line per coder: header and payload bits summed over ``indices``, and vs ``entropy``."""
    count = sum(m.size for m in indices)
    cross_entropy = sum(ideal_code_length_bits(m, prior=prior) for m in indices)
    print(f"ideal code length under the prior {cross_entropy:,.0f} bits ({cross_entropy / count:.3f} b/index)")
    print(f"{'coder':8} {'header b':>10} {'payload b':>11} {'b/index':>8} {'vs H0':>8} {'vs ideal':>9} "
          f"{'enc ms':>7} {'dec ms':>7}")
    for coder in ("range", "huffman", "fixed"):
        header = payload = 0
        enc_s = dec_s = 0.0
        for index_map in indices:
            start = time.perf_counter()
            packets = encode_index_map(index_map, prior=prior, coder=coder, rows_per_slice=rows_per_slice)
            encoded = time.perf_counter()
            decoded = decode_index_map(packets, shape=index_map.shape, prior=prior)
            done = time.perf_counter()
            assert (decoded.indices == index_map).all(), f"{coder}: round trip failed"
            bits = packet_bits(packets)
            header += bits.header_bits
            payload += bits.payload_bits
            enc_s += encoded - start
            dec_s += done - encoded
        n = len(indices)
        print(f"{coder:8} {header:10,d} {payload:11,d} {payload / count:8.3f} "
              f"{100 * (payload / entropy - 1):+7.2f}% "
              f"{100 * (payload / cross_entropy - 1):+8.2f}% "
              f"{1e3 * enc_s / n:7.2f} {1e3 * dec_s / n:7.2f}")


def model_maps(name: str, *, num_images: int) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Index maps of zoo codec ``name`` on the first ``num_images`` val images, its prior and K."""
    import torch

    from gosvae.codec import load_codec
    from gosvae.datasets import build_dataset

    codec = load_codec(name)
    dataset = build_dataset(name="synthetic-urban", split="val", num_images=num_images, size=(256, 512))
    maps = []
    for start in range(0, num_images, 8):
        images = torch.stack([dataset[i][0] for i in range(start, min(start + 8, num_images))])
        maps.extend(codec.encode_indices(images).numpy())
    return maps, codec.prior, codec.codebook_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=64, help="index map rows H'")
    parser.add_argument("--width", type=int, default=128, help="index map columns W'")
    parser.add_argument("--codebook-size", type=int, default=512, help="K")
    parser.add_argument("--zipf-exponent", type=float, default=1.1)
    parser.add_argument("--rows-per-slice", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=None, help="zoo codecs: code their val index maps")
    parser.add_argument("--num-images", type=int, default=100, help="val images per model (with --models)")
    args = parser.parse_args()

    if args.models:
        for name in args.models:
            maps, prior, k = model_maps(name, num_images=args.num_images)
            pooled = order0_entropy_bits(np.stack(maps))
            per_image = sum(order0_entropy_bits(m) for m in maps)
            count = sum(m.size for m in maps)
            print(f"\n{name}: {len(maps)} val maps of {maps[0].shape[0]}x{maps[0].shape[1]}, K={k}, "
                  f"slices of {args.rows_per_slice} rows")
            print(f"order-0 entropy pooled over the split {pooled:,.0f} bits ({pooled / count:.3f} b/index); "
                  f"per image {per_image:,.0f} bits ({per_image / count:.3f} b/index)")
            coder_rows(maps, prior=prior, rows_per_slice=args.rows_per_slice, entropy=pooled)
        return

    prior = zipf_prior(args.codebook_size, exponent=args.zipf_exponent)
    rng = np.random.default_rng(args.seed)
    indices = rng.choice(args.codebook_size, size=(args.height, args.width), p=prior)
    count = indices.size
    entropy = order0_entropy_bits(indices)
    print(f"map {args.height}x{args.width}, K={args.codebook_size}, Zipf exponent {args.zipf_exponent}, "
          f"{-(-args.height // args.rows_per_slice)} slices of {args.rows_per_slice} rows")
    print(f"order-0 entropy {entropy:,.0f} bits ({entropy / count:.3f} b/index)")
    coder_rows([indices], prior=prior, rows_per_slice=args.rows_per_slice, entropy=entropy)

if __name__ == "__main__":
    main()

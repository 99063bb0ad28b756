"""Fast 5G LDPC decoder vs Sionna's: throughput on one thread, block error rates, link stages.

1. Both decoders get the same LLR batches (5G LDPC k=4096, n=8192 unless changed, 3GPP bit
   interleaver on, 20 iterations; Sionna: flooding boxplus-phi; fast: layered min-sum with
   early stop) at three Es/N0 points per modulation (QPSK, 16-QAM) on AWGN and on Rayleigh
   block fading (one gain per codeword, perfect CSI), APP demapping. Prints the block error
   rate of each with its 95 % Wilson interval, and information bits per CPU second of each
   (``time.process_time``: the CPU time of this single-threaded process, so the ratio holds on
   a loaded machine too), and the fast decoder without early stop (always 20 iterations).
2. ``Link.transmit`` with the default (fast) encoder and decoder: CPU seconds per stage and the
   ratio of the whole link to its decoding stage.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/ldpc_decoder.py [--quick] [--words N] [--link-only]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import binomtest
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Constellation, Demapper, Mapper

import simulation.link.link as link_module
from channels import RayleighChannel
from simulation.link import Link, LinkConfig
from simulation.link.ldpc_fast import FastLDPC5GDecoder

#: (bits per symbol, channel) -> Es/N0 points in dB, for k=4096, n=8192 (waterfall or outage)
POINTS: dict[tuple[int, str], tuple[float, ...]] = {
    (2, "awgn"): (0.9, 1.0, 1.1),
    (4, "awgn"): (6.2, 6.4, 6.6),
    (2, "rayleigh"): (4.0, 8.0, 12.0),
    (4, "rayleigh"): (10.0, 14.0, 18.0),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--words", type=int, default=1000, help="codewords per SNR point")
    parser.add_argument("--batch", type=int, default=100, help="codewords per decoder call (both)")
    parser.add_argument("--quick", action="store_true", help="200 codewords per point, one link repeat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--link-only", action="store_true", help="only the link's stage breakdown")
    args = parser.parse_args()
    if args.quick:
        args.words = min(args.words, 200)
    return args


def channel_llrs(encoder, bits_per_symbol, channel, esno_db, bits, generator) -> torch.Tensor:
    """(G, n) LLRs of ``encoder(bits)`` after Gray QAM, the channel and Sionna's APP demapper."""
    constellation = Constellation("qam", bits_per_symbol)
    x = Mapper(constellation=constellation)(encoder(bits))
    no = 10 ** (-esno_db / 10)
    noise = (no / 2) ** 0.5 * torch.complex(torch.randn(x.shape, generator=generator),
                                            torch.randn(x.shape, generator=generator))
    h = torch.ones(x.shape[0], 1, dtype=x.dtype)
    if channel == "rayleigh":
        h = torch.complex(torch.randn(x.shape[0], 1, generator=generator),
                          torch.randn(x.shape[0], 1, generator=generator)) / 2**0.5
    power = h.abs() ** 2
    y = h * x + noise
    return Demapper("app", constellation=constellation)(y * h.conj() / power, (no / power).expand(x.shape).float())


def wilson(errors: int, count: int) -> str:
    interval = binomtest(errors, count).proportion_ci(confidence_level=0.95, method="wilson")
    return f"{errors / count:.4f} [{interval.low:.4f}, {interval.high:.4f}]"


def timed(decode, llr: torch.Tensor, batch: int) -> tuple[torch.Tensor, float]:
    start = time.process_time()
    bits = torch.cat([decode(part) for part in torch.split(llr, batch)])
    return bits, time.process_time() - start


def decoder_comparison(args: argparse.Namespace) -> None:
    print(f"5G LDPC k={args.k} n={args.n}, 3GPP bit interleaver, 20 iterations, {args.words} codewords "
          f"per point, batch {args.batch}, torch threads {torch.get_num_threads()}; seconds are CPU seconds")
    print(f"{'modulation':<10} {'channel':<9} {'Es/N0':>5}  {'BLER Sionna [95 %]':<26} {'BLER fast [95 %]':<26}"
          f" {'fast it.':>8} {'Sionna kbit/s':>13} {'fast kbit/s':>11} {'ratio':>6}")
    totals = {"sionna": 0.0, "fast": 0.0, "fast20": 0.0, "bits": 0, "bits20": 0}
    generator = torch.Generator().manual_seed(args.seed)
    for (bits_per_symbol, channel), points in POINTS.items():
        encoder = LDPC5GEncoder(args.k, args.n, num_bits_per_symbol=bits_per_symbol)
        sionna = LDPC5GDecoder(encoder, num_iter=20)
        fast = FastLDPC5GDecoder(encoder, iterations=20)
        full = FastLDPC5GDecoder(encoder, iterations=20, early_stop=False)
        fast(torch.zeros(1, args.n))  # compile / load the kernel before timing
        for esno_db in points:
            bits = torch.randint(0, 2, (args.words, args.k), generator=generator).float()
            llr = channel_llrs(encoder, bits_per_symbol, channel, esno_db, bits, generator)
            sionna_bits, sionna_s = timed(sionna, llr, args.batch)
            iterations = []
            fast_bits, fast_s = timed(lambda part: _keep(fast(part), iterations), llr, args.batch)
            info = args.words * args.k
            totals.update(sionna=totals["sionna"] + sionna_s, fast=totals["fast"] + fast_s,
                          bits=totals["bits"] + info)
            if esno_db == points[0]:  # worst case: every codeword 20 iterations
                _, full_s = timed(lambda part: full(part)[0], llr, args.batch)
                totals.update(fast20=totals["fast20"] + full_s, bits20=totals["bits20"] + info)
            errors_s = int((sionna_bits != bits).any(dim=1).sum())
            errors_f = int((fast_bits != bits).any(dim=1).sum())
            name = {2: "QPSK", 4: "16-QAM"}[bits_per_symbol]
            print(f"{name:<10} {channel:<9} {esno_db:>5.1f}  {wilson(errors_s, args.words):<26} "
                  f"{wilson(errors_f, args.words):<26} {torch.cat(iterations).float().mean():>8.2f} "
                  f"{info / sionna_s / 1e3:>13.1f} {info / fast_s / 1e3:>11.1f} {sionna_s / fast_s:>6.1f}",
                  flush=True)
    sionna_rate = totals["bits"] / totals["sionna"]
    print(f"all points: Sionna {sionna_rate / 1e3:.1f} kbit/s, fast {totals['bits'] / totals['fast'] / 1e3:.1f} "
          f"kbit/s, ratio {totals['sionna'] / totals['fast']:.1f}; fast without early stop (20 iterations, "
          f"lowest SNR points) {totals['bits20'] / totals['fast20'] / 1e3:.1f} kbit/s, ratio "
          f"{totals['bits20'] / totals['fast20'] / sionna_rate:.1f}")


def _keep(result: tuple[torch.Tensor, torch.Tensor], iterations: list[torch.Tensor]) -> torch.Tensor:
    iterations.append(result[1])
    return result[0]


def link_stages(args: argparse.Namespace) -> None:
    """Stage CPU seconds of ``Link.transmit`` with the fast decoder."""
    link_module.STAGE_CLOCK = time.process_time  # CPU seconds of this (single-threaded) process
    rng = np.random.default_rng(args.seed)
    packets = [rng.bytes(800) for _ in range(64)]
    repeats = 1 if args.quick else 3
    print(f"\nLink.transmit, 64 packets x 800 B, CRC24A, LDPC rate 1/2 (fast decoder), Rayleigh block fading "
          f"(500 symbols), {repeats} repeat(s); CPU ms per stage")
    for modulation, snr_db in (("qpsk", 8.0), ("16qam", 14.0), ("16qam", 30.0)):
        config = LinkConfig(code="ldpc", rate=0.5, modulation=modulation, block_sizes_per_octave=None)
        link = Link(config, RayleighChannel(fading="block", coherence_symbols=500), device="cpu")
        link.transmit(packets, snr_db=snr_db, generator=torch.Generator().manual_seed(0))  # builds the coders
        seconds: dict[str, float] = {}
        for repeat in range(repeats):
            _, stats = link.transmit(packets, snr_db=snr_db, generator=torch.Generator().manual_seed(repeat + 1))
            for stage, value in stats.stage_seconds.items():
                seconds[stage] = seconds.get(stage, 0.0) + value / repeats
        total = sum(seconds.values())
        stages = "  ".join(f"{stage} {1e3 * value:.1f}" for stage, value in seconds.items())
        print(f"{modulation} {snr_db:g} dB: total {1e3 * total:.1f} ms, link / decoding "
              f"{total / seconds['decoding']:.2f}, packet loss {stats.packet_loss_rate:.3f} | {stages}")


def main() -> None:
    torch.set_num_threads(1)
    args = parse_args()
    if not args.link_only:
        decoder_comparison(args)
    link_stages(args)


if __name__ == "__main__":
    main()

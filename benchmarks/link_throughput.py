"""Throughput of the link against the same Sionna blocks called directly, and LDPC early exit.

Default batch: 64 packets x 800 bytes, CRC24A, 5G LDPC rate 1/2 (one code block per packet),
16-QAM, Rayleigh block fading, perfect-CSI ZF, APP demapping. Prints seconds per stage for
``Link.transmit`` and for a hand-wired chain of the same Sionna blocks on the same batch, then
the decoding time with and without early exit at a high SNR.

``--malloc-compare`` runs the benchmark twice in fresh processes, without and with the glibc
malloc settings that keep large freed blocks in the process (they must be set before start):
MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824

Usage::

    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/link_throughput.py [--malloc-compare]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from channels import RayleighChannel
from simulation.link import Link, LinkConfig, LinkStats

MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
    "MALLOC_TOP_PAD_": "1073741824",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=64)
    parser.add_argument("--bytes", type=int, default=800, help="bytes per packet")
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--modulation", default="16qam")
    parser.add_argument("--coherence-symbols", type=int, default=500)
    parser.add_argument("--iterations", type=int, default=20, help="LDPC decoder iterations")
    parser.add_argument("--snr-db", type=float, default=14.0, help="Es/N0 of the throughput comparison")
    parser.add_argument("--high-snr-db", type=float, nargs="+", default=[30.0, 40.0],
                        help="Es/N0 values of the early-exit comparison")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--malloc-compare", action="store_true", help="rerun in fresh processes, malloc env off/on")
    return parser.parse_args()


def link_config(args: argparse.Namespace, *, early_exit: bool) -> LinkConfig:
    return LinkConfig(
        crc="CRC24A",
        code="ldpc",
        rate=args.rate,
        modulation=args.modulation,
        block_sizes_per_octave=None,  # exact block length, the same k as the direct chain
        ldpc={"iterations": args.iterations, "early_exit": early_exit},
    )


def time_link(link: Link, packets: list[bytes], snr_db: float, repeats: int) -> tuple[float, LinkStats]:
    link.transmit(packets, snr_db=snr_db, generator=torch.Generator().manual_seed(0))  # builds the coders
    runs = []
    for repeat in range(repeats):
        start = time.perf_counter()
        _, stats = link.transmit(packets, snr_db=snr_db, generator=torch.Generator().manual_seed(repeat + 1))
        runs.append((time.perf_counter() - start, stats))
    return min(runs, key=lambda run: run[0])


def time_direct_chain(args: argparse.Namespace, packets: list[bytes], link: Link, repeats: int) -> dict[str, float]:
    """The same Sionna blocks wired by hand for this fixed batch (one code block per packet)."""
    bits = torch.as_tensor(np.unpackbits(np.frombuffer(b"".join(packets), np.uint8)).reshape(len(packets), -1)).float()
    crc_encoder = CRCEncoder("CRC24A", k=bits.shape[1], device="cpu")
    crc_decoder = CRCDecoder(crc_encoder, device="cpu")
    k = bits.shape[1] + crc_encoder.crc_length
    n = link.code.codeword_bits(k)
    encoder = LDPC5GEncoder(k, n, device="cpu")
    decoder = LDPC5GDecoder(encoder, num_iter=args.iterations, device="cpu")
    mapper, demapper = Mapper(constellation=link.modem.constellation), Demapper("app", constellation=link.modem.constellation)
    channel = RayleighChannel(fading="block", coherence_symbols=args.coherence_symbols)
    no = 10 ** (-args.snr_db / 10)
    best: dict[str, float] = {}
    for repeat in range(repeats + 1):  # the first run warms up
        seconds: dict[str, float] = {}
        start = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal start
            now = time.perf_counter()
            seconds[stage] = now - start
            start = now

        with_crc = crc_encoder(bits)
        lap("crc")
        codewords = encoder(with_crc)
        lap("encoding")
        symbols = mapper(codewords.reshape(1, -1))
        lap("mapping")
        out = channel(symbols, no=no, generator=torch.Generator().manual_seed(repeat))
        lap("channel")
        power = out.h.abs().square()
        x_eq, no_eff = out.y * out.h.conj() / power, out.no / power
        lap("equalization")
        llr = demapper(x_eq, no_eff).reshape(len(packets), n)
        lap("demapping")
        decoded = decoder(llr)
        lap("decoding")
        crc_decoder(decoded)
        lap("crc")
        if repeat and (not best or sum(seconds.values()) < sum(best.values())):
            best = seconds
    return best


def print_stages(title: str, seconds: dict[str, float], payload_bits: int) -> None:
    total = sum(seconds.values())
    stages = "  ".join(f"{stage} {1e3 * value:7.1f}" for stage, value in seconds.items())
    print(f"{title:<14} total {1e3 * total:8.1f} ms  {payload_bits / total / 1e6:6.3f} Mbit/s payload | ms: {stages}")


def run(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    packets = [rng.bytes(args.bytes) for _ in range(args.packets)]
    channel = RayleighChannel(fading="block", coherence_symbols=args.coherence_symbols)
    link = Link(link_config(args, early_exit=False), channel, device="cpu")
    print(
        f"{args.packets} packets x {args.bytes} B, CRC24A, LDPC rate {args.rate} ({args.iterations} it.), "
        f"{args.modulation}, Rayleigh block ({args.coherence_symbols} symbols); torch threads "
        f"{torch.get_num_threads()}; malloc env {'on' if all(k in os.environ for k in MALLOC_ENV) else 'off'}"
    )
    _, stats = time_link(link, packets, args.snr_db, args.repeats)
    payload = stats.payload_bits
    print_stages(f"link {args.snr_db:g} dB", stats.stage_seconds, payload)
    print_stages("direct Sionna", time_direct_chain(args, packets, link, args.repeats), payload)
    print(f"  link at {args.snr_db:g} dB: raw BER {stats.raw_ber:.3g}, BER {stats.ber:.3g}, "
          f"packet loss {stats.packet_loss_rate:.3g}")

    for snr_db in args.high_snr_db:
        for early_exit in (False, True):
            link = Link(link_config(args, early_exit=early_exit), channel, device="cpu")
            _, stats = time_link(link, packets, snr_db, args.repeats)
            print_stages(f"exit {'on ' if early_exit else 'off'} {snr_db:g}dB", stats.stage_seconds, payload)
            print(f"  early exits {stats.codewords_early_exit}/{stats.codewords}, "
                  f"packet loss {stats.packet_loss_rate:.3g}")


def main() -> None:
    args = parse_args()
    if not args.malloc_compare:
        run(args)
        return
    forwarded = [arg for arg in sys.argv[1:] if arg != "--malloc-compare"]
    base_env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV}
    for label, env in (("malloc env off", base_env), ("malloc env on", {**base_env, **MALLOC_ENV})):
        print(f"=== {label} ===", flush=True)
        subprocess.run([sys.executable, __file__, *forwarded], env=env, check=True)


if __name__ == "__main__":
    main()

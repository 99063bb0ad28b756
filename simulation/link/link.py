"""The link: packets in, packets (or None) out, through Sionna and a channel model.

Per packet: CRC -> code blocks -> channel code (any code of the :data:`~simulation.link.codes.CODES`
registry; the link never asks which) -> bit interleaving -> mapping -> [OFDM: framing on the
channel's resource grid] -> channel -> [OFDM: receiver, perfect CSI or LS estimation] ->
equalisation -> demapping (LLRs) -> deinterleaving -> decoding -> CRC check. All
packets of a call form one stream: every Sionna block runs once per distinct block length (or
once per chunk of ``max_codewords_per_call`` codewords), never once per packet, and the channel
model sees all symbols of the call as one row ``(1, N)`` in packet order, so block fading spans
packet boundaries as it would on air.

OFDM: when the channel model declares a resource grid
(:meth:`~channels.base.ChannelModel.resource_grid`), an :class:`~simulation.link.ofdm.OFDMFramer`
puts the ``N`` data symbols on slots of it (pilots, guards, DC, the last slot padded) and the
channel propagates the REs of those slots; the receiver of ``config.receiver``
(:mod:`simulation.link.estimation`) turns its output back into one scalar channel per data
symbol, which the modem equalises and demaps as for a flat channel. Pilot REs are counted in
``LinkStats.pilot_uses`` and, for Eb/N0, in the noise variance (:meth:`Link.noise_variance`).
Flat channels are untouched by all this.

Example
-------
>>> from channels import build_channel
>>> link = Link(LinkConfig(code="ldpc", rate=0.5, modulation="16qam"), build_channel("awgn"), device="cpu")
>>> received, stats = link.transmit([b"hello", bytes(1000)], snr_db=12.0, generator=torch.Generator().manual_seed(0))
>>> received[0], stats.packet_loss_rate
(b'hello', 0.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from sionna.phy import config as sionna_config
from sionna.phy.fec.interleaving import Deinterleaver, RandomInterleaver
from sionna.phy.utils import ebnodb2no

from channels.base import ChannelModel, ChannelOutput
from simulation.link.codes import build_code
from simulation.link.config import LinkConfig
from simulation.link.crc import PacketCRC
from simulation.link.estimation import LSReceiver, PerfectCSI, build_receiver
from simulation.link.modem import Modem
from simulation.link.ofdm import OFDMFramer
from simulation.link.segmentation import (
    BlockLayout, bits_to_packets, block_groups, block_view, packets_to_bits, piece_offsets, plan_blocks, ragged_copy,
    ragged_indices,
)  # fmt: skip
from simulation.link.stats import LinkStats

__all__ = ["Link", "STAGE_CLOCK"]

#: Clock of ``LinkStats.stage_seconds``: wall-clock seconds. A benchmark on a shared machine may
#: set ``simulation.link.link.STAGE_CLOCK = time.process_time`` to count this process's CPU only.
STAGE_CLOCK: Callable[[], float] = time.perf_counter


class Link:
    """A configured transmitter, channel and receiver.

    Parameters
    ----------
    config : LinkConfig
        CRC, code (a name of :data:`~simulation.link.codes.CODES`), interleaving, modulation,
        receiver, detection and SNR-axis settings.
    channel : ChannelModel
        Channel model (see :mod:`channels.base`); with a resource grid, the link frames the
        symbols on it and runs the receiver of ``config.receiver``.
    device : str | None
        Device of the computation; ``None`` uses Sionna's default (``sionna.phy.config.device``).

    Notes
    -----
    :meth:`transmit` runs the stages in order, each a method with one job: :meth:`_segment`
    (block layout), :meth:`_information_stream` and :meth:`_attach_crc`, :meth:`_encode`, the
    modem's mapping, :meth:`_propagate` (framing, channel model, OFDM receiver), :meth:`_detect`
    (equalisation and demapping), :meth:`_decode`, :meth:`_check_crc`, and :meth:`_count` (the statistics).
    Encoders, decoders and CRC blocks are built on first use for each block length and kept,
    so the first call with new packet sizes is slower than the next ones.
    """

    def __init__(self, config: LinkConfig, channel: ChannelModel, *, device: str | None = None) -> None:
        self.config = config
        self.channel = channel
        self.device = str(device) if device is not None else sionna_config.device
        self.code = build_code(config, device=self.device)
        self.crc = PacketCRC(config.crc, device=self.device)
        self.modem = Modem(
            modulation=config.modulation, demapping=config.demapping, equalizer=config.equalizer, device=self.device
        )
        self._interleaver: RandomInterleaver | None = None
        self._deinterleaver: Deinterleaver | None = None
        if config.interleaver == "random" and self.code.interleavable:
            self._interleaver = RandomInterleaver(
                seed=config.interleaver_seed, keep_batch_constant=True, keep_state=True, axis=-1, device=self.device
            )
            self._deinterleaver = Deinterleaver(self._interleaver)
        self._ofdm: dict[torch.dtype, tuple[OFDMFramer, PerfectCSI | LSReceiver] | None] = {}
        framing = self._framing(self.modem.constellation.cdtype)
        #: The cyclic prefix's share of an OFDM symbol's energy (0 without a resource grid).
        self.cp_overhead = framing[0].cp_overhead if framing is not None else 0.0
        if framing is None and config.receiver.channel_estimation != "perfect":
            raise ValueError(
                f"link.receiver.channel_estimation '{config.receiver.channel_estimation}' needs a channel with an "
                f"OFDM resource grid (tdl, cdl); {type(channel).__name__} has none"
            )

    def _framing(self, dtype: torch.dtype) -> tuple[OFDMFramer, PerfectCSI | LSReceiver] | None:
        """The framer and receiver for symbols of ``dtype`` (built once), or None for a flat channel."""
        if dtype not in self._ofdm:
            grid = self.channel.resource_grid(device=self.device, dtype=dtype)
            if grid is None:
                self._ofdm[dtype] = None
            else:
                framer = OFDMFramer(grid)
                self._ofdm[dtype] = (framer, build_receiver(self.config.receiver, framer))
        return self._ofdm[dtype]

    def transmit(
        self, packets: Sequence[bytes], *, snr_db: float, generator: torch.Generator
    ) -> tuple[list[bytes | None], LinkStats]:
        """Send ``packets`` through the link.

        Input
        -----
        packets : sequence of bytes
            Payloads of any lengths (empty ones included).
        snr_db : float
            Es/N0 or Eb/N0 in dB, as set by ``config.snr_definition``.
        generator : torch.Generator
            Source of all channel randomness; the same seed gives the same result.

        Output
        ------
        received : list[bytes | None]
            One entry per packet: its bytes, or ``None`` when the CRC failed. Without a CRC the
            decoded bytes are returned even when wrong (counted in ``packets_undetected``).
        stats : LinkStats
            Counts of this call (bits, errors, packets, channel and pilot uses, timings).
        """
        packets = _as_bytes_list(packets)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        seconds: dict[str, float] = {}
        timer = _StageTimer(seconds, synchronize=self.device.startswith("cuda"))

        with timer("segmentation"):
            layout = self._segment(packets)
            info = self._information_stream(packets, layout)
        with timer("crc"):
            self._attach_crc(info, layout)
        with timer("encoding"):
            coded = self._encode(info, layout)
        with timer("mapping"):
            symbols = self.modem.map(coded)
        llr = torch.zeros(0, device=self.device)
        framing = self._framing(symbols.dtype)
        pilot_uses = framing[0].pilot_uses(symbols.shape) if framing is not None else 0
        if symbols.shape[-1]:
            received = self._propagate(symbols, layout, snr_db=snr_db, generator=generator, pilot_uses=pilot_uses,
                                       timer=timer)
            llr = self._detect(received, timer)
        with timer("decoding"):
            decoded, early_exits = self._decode(llr, layout)
        with timer("crc"):
            crc_ok = self._check_crc(decoded, layout)
            received_packets = bits_to_packets(self._payload(decoded, layout), layout.payload_bits)
        stats = self._count(
            layout, info=info, coded=coded, llr=llr, decoded=decoded, crc_ok=crc_ok,
            channel_uses=symbols.shape[-1], pilot_uses=pilot_uses, early_exits=early_exits, seconds=seconds,
        )  # fmt: skip
        out = [payload if ok else None for payload, ok in zip(received_packets, crc_ok.tolist())]
        return out, stats

    def noise_variance(self, snr_db: float, *, payload_bits: int, channel_uses: int, pilot_uses: int = 0) -> float:
        """Noise variance per complex symbol (per RE) for ``snr_db`` under ``config.snr_definition``.

        Es/N0: ``10^(-snr_db/10)``: the energy of one symbol or RE (unit-energy constellations;
        pilots have unit energy too) over ``no``; pilots change nothing. Eb/N0: Sionna's
        ``ebnodb2no(snr_db, bits_per_symbol, coderate)`` with ``coderate = payload_bits /
        (bits_per_symbol * channel_uses)``, i.e. energy per payload bit with every overhead
        (CRC, padding, code redundancy) counted. Over an OFDM channel the energy of the
        ``pilot_uses`` pilot REs and of the cyclic prefix counts too, as in Sionna's
        ``ebnodb2no(..., resource_grid=...)``: the result is multiplied by ``(channel_uses +
        pilot_uses) / channel_uses * (1 + cyclic_prefix_length / fft_size)``. Guard and DC
        carriers and the zero padding of the last slot carry no energy and do not count. With
        whole slots this equals Sionna's value (whose pilot factor is per slot:
        ``num_ofdm_symbols * num_effective_subcarriers / num_data_symbols``); with a partly filled
        last slot its pilots count in full, since they are sent.
        """
        if self.config.snr_definition == "esno":
            return 10.0 ** (-float(snr_db) / 10.0)
        if payload_bits <= 0:
            raise ValueError("Eb/N0 is undefined for a call without payload bits")
        coderate = payload_bits / (self.modem.bits_per_symbol * channel_uses)
        no = float(ebnodb2no(float(snr_db), self.modem.bits_per_symbol, coderate, device="cpu"))
        if pilot_uses or self.cp_overhead:
            no *= (channel_uses + pilot_uses) / channel_uses * (1.0 + self.cp_overhead)
        return no

    def _segment(self, packets: list[bytes]) -> BlockLayout:
        """Where every packet, CRC and code block goes in the information and code streams."""
        return plan_blocks(
            np.array([8 * len(p) for p in packets], dtype=np.int64),
            crc_bits=self.crc.length,
            max_block=self.code.max_block_size,
            min_block=self.code.min_block_size,
            steps_per_octave=self.config.block_sizes_per_octave,
            codeword_bits=self.code.codeword_bits,
            bits_per_symbol=self.modem.bits_per_symbol,
        )

    def _information_stream(self, packets: list[bytes], layout: BlockLayout) -> torch.Tensor:
        """(info_length,) float 0/1: the packets' bits at their places, CRC and padding at zero."""
        info = torch.zeros(layout.info_length, dtype=torch.float32, device=self.device)
        self._put_payload(info, packets_to_bits(packets), layout)
        return info

    def _attach_crc(self, info: torch.Tensor, layout: BlockLayout) -> None:
        """Write each packet's CRC parity after its payload in ``info`` (one batched call)."""
        info[self._crc_index(layout)] = self.crc.parity(info, starts=layout.packet_start, lengths=layout.payload_bits)

    def _encode(self, info: torch.Tensor, layout: BlockLayout) -> torch.Tensor:
        """Information stream -> coded stream (modulation padding left at zero): one encoder call
        per block length (and chunk of ``max_codewords_per_call``), then the bit interleaver."""
        coded = torch.zeros(layout.code_length, dtype=torch.float32, device=self.device)
        for k, n, blocks in block_groups(layout):
            for rows in np.array_split(blocks, -(-len(blocks) // self.config.max_codewords_per_call)):
                codewords = self.code.encode(self._blocks(info, layout.block_info_start[rows], k))
                if self._interleaver is not None:
                    codewords = self._interleaver(codewords)
                self._put_blocks(coded, layout.block_code_start[rows], n, codewords.to(torch.float32))
        return coded

    def _propagate(
        self, symbols: torch.Tensor, layout: BlockLayout, *, snr_db: float, generator: torch.Generator,
        pilot_uses: int, timer: "_StageTimer",
    ) -> ChannelOutput:
        """(1, N) symbols through the channel model at the noise variance of ``snr_db``: the
        channel's output, or for an OFDM channel (framed, with ``pilot_uses`` pilot REs) the
        receiver's one scalar channel per data symbol; (1, N) in either case."""
        framing = self._framing(symbols.dtype)
        noise_variance = self.noise_variance(
            snr_db, payload_bits=int(layout.payload_bits.sum()), channel_uses=symbols.shape[-1], pilot_uses=pilot_uses
        )
        if framing is None:
            with timer("channel"):
                return self.channel(symbols, no=noise_variance, generator=generator)
        framer, receiver = framing
        with timer("channel"):
            received = self.channel(framer.frame(symbols), no=noise_variance, generator=generator)
        with timer("estimation"):
            return receiver(received, length=symbols.shape[-1])

    def _detect(self, received: ChannelOutput, timer: "_StageTimer") -> torch.Tensor:
        """Equalisation and demapping of the channel output: (M,) LLRs, ``log P(b=1)/P(b=0)``."""
        with timer("equalization"):
            x_eq, no_eff = self.modem.equalize(received)
        with timer("demapping"):
            return self.modem.demap(x_eq, no_eff)

    def _decode(self, llr: torch.Tensor, layout: BlockLayout) -> tuple[torch.Tensor, int]:
        """LLR stream -> decoded information stream (deinterleaver, then one decoder call per
        block length), and the number of codewords that needed no decoding iteration."""
        decoded = torch.zeros(layout.info_length, dtype=torch.float32, device=self.device)
        early_exits = 0
        for k, n, blocks in block_groups(layout):
            block_llr = self._blocks(llr, layout.block_code_start[blocks], n)
            if self._deinterleaver is not None:
                block_llr = self._deinterleaver(block_llr)
            result = self.code.decode(block_llr, k=k)
            self._put_blocks(decoded, layout.block_info_start[blocks], k, result.bits)
            early_exits += result.early_exits
        return decoded, early_exits

    def _check_crc(self, decoded: torch.Tensor, layout: BlockLayout) -> torch.Tensor:
        """(P,) bool on the CPU: whether each packet's decoded CRC matches its decoded payload."""
        return self.crc.check(
            decoded, decoded[self._crc_index(layout)], starts=layout.packet_start, lengths=layout.payload_bits
        ).cpu()

    def _count(
        self,
        layout: BlockLayout,
        *,
        info: torch.Tensor,
        coded: torch.Tensor,
        llr: torch.Tensor,
        decoded: torch.Tensor,
        crc_ok: torch.Tensor,
        channel_uses: int,
        pilot_uses: int,
        early_exits: int,
        seconds: dict[str, float],
    ) -> LinkStats:
        """The call's :class:`LinkStats`: raw errors of the LLRs against the code bits, errors of
        the decoded information bits per packet, and what the CRC let through."""
        sent_bits = self._index(ragged_indices(layout.block_code_start, layout.block_n))
        raw_errors = int((llr[sent_bits] > 0).ne(coded[sent_bits] > 0.5).sum())
        protected_at = self._index(ragged_indices(layout.packet_start, layout.protected_bits))
        wrong = decoded[protected_at].ne(info[protected_at]).cpu()
        packets = len(layout.payload_bits)
        packet_of_bit = torch.as_tensor(np.repeat(np.arange(packets), layout.protected_bits))
        errors_per_packet = torch.zeros(packets, dtype=torch.int64).index_add_(0, packet_of_bit, wrong.long())
        correct = errors_per_packet == 0
        return LinkStats(
            packets_sent=packets,
            packets_lost=int((~crc_ok).sum()),
            packets_undetected=int((crc_ok & ~correct).sum()),
            payload_bits=int(layout.payload_bits.sum()),
            payload_bits_delivered=int(layout.payload_bits[(crc_ok & correct).numpy()].sum()),
            info_bits=int(layout.protected_bits.sum()),
            info_bit_errors=int(errors_per_packet.sum()),
            coded_bits=int(layout.block_n.sum()),
            raw_bit_errors=raw_errors,
            channel_uses=channel_uses,
            pilot_uses=pilot_uses,
            codewords=len(layout.block_k),
            codewords_early_exit=early_exits,
            stage_seconds=seconds,
        )

    def _put_payload(self, info: torch.Tensor, bits: np.ndarray, layout: BlockLayout) -> None:
        """Write the packets' (sum payload_bits,) 0/1 ``bits`` into their places in ``info``."""
        if info.device.type == "cpu":
            ragged_copy(bits, piece_offsets(layout.payload_bits), info.numpy(), layout.packet_start, layout.payload_bits)
        else:
            payload_at = ragged_indices(layout.packet_start, layout.payload_bits)
            info[self._index(payload_at)] = torch.as_tensor(bits, device=info.device).float()

    def _payload(self, decoded: torch.Tensor, layout: BlockLayout) -> np.ndarray:
        """The packets' payload bits out of the decoded stream: (sum payload_bits,) uint8."""
        if decoded.device.type != "cpu":
            decoded = decoded.cpu()
        bits = np.empty(int(layout.payload_bits.sum()), dtype=np.uint8)
        ragged_copy(decoded.numpy(), layout.packet_start, bits, piece_offsets(layout.payload_bits), layout.payload_bits)
        return bits

    def _blocks(self, stream: torch.Tensor, starts: np.ndarray, length: int) -> torch.Tensor:
        """(G, length) values ``stream[starts[g] + j]``: a view where the blocks are evenly spaced
        (the usual case: blocks of one length back to back), else a gathered copy."""
        view = block_view(stream, starts, length)
        if view is None:
            return stream[self._block_index(starts, length)]
        return view.contiguous()

    def _put_blocks(self, stream: torch.Tensor, starts: np.ndarray, length: int, values: torch.Tensor) -> None:
        """``stream[starts[g] + j] = values[g, j]``."""
        view = block_view(stream, starts, length)
        if view is None:
            stream[self._block_index(starts, length)] = values
        else:
            view.copy_(values)

    def _index(self, positions: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(positions, dtype=torch.int64, device=self.device)

    def _block_index(self, starts: np.ndarray, length: int) -> torch.Tensor:
        """(G, length) positions ``starts[g] + j``."""
        return self._index(starts[:, None] + np.arange(length, dtype=np.int64))

    def _crc_index(self, layout: BlockLayout) -> torch.Tensor:
        """(P, crc_bits) positions of each packet's CRC in the information stream."""
        return self._block_index(layout.packet_start + layout.payload_bits, self.crc.length)


def _as_bytes_list(packets: Sequence[bytes]) -> list[bytes]:
    if isinstance(packets, (bytes, bytearray, memoryview)):
        raise TypeError("packets must be a sequence of bytes objects, got a single bytes object")
    out = []
    for index, packet in enumerate(packets):
        if not isinstance(packet, (bytes, bytearray, memoryview)):
            raise TypeError(f"packets[{index}] must be bytes, got {type(packet).__name__}")
        out.append(bytes(packet))
    return out


class _StageTimer:
    """Adds seconds of :data:`STAGE_CLOCK` per named stage into a dict."""

    def __init__(self, seconds: dict[str, float], *, synchronize: bool) -> None:
        self.seconds = seconds
        self.synchronize = synchronize

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = STAGE_CLOCK()
        try:
            yield
        finally:
            if self.synchronize:
                torch.cuda.synchronize()
            self.seconds[stage] = self.seconds.get(stage, 0.0) + STAGE_CLOCK() - start

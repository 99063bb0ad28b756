"""Counts of what a link call sent and got wrong, mergeable across calls.

Example
-------
>>> total = LinkStats.merge([stats_a, stats_b])      # doctest: +SKIP
>>> total.ber, total.packet_loss_rate                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Iterable

__all__ = ["LinkStats"]


@dataclass(frozen=True)
class LinkStats:
    """What went through the link and what arrived wrong.

    Attributes
    ----------
    packets_sent : int
        Packets given to :meth:`~simulation.link.Link.transmit`.
    packets_lost : int
        Packets returned as ``None`` (CRC failed).
    packets_undetected : int
        Packets returned with wrong content (CRC passed or no CRC).
    payload_bits : int
        Packet bits (8 per byte), without CRC.
    payload_bits_delivered : int
        Payload bits of the packets returned with correct content.
    info_bits : int
        Bits given to the channel code, payload plus CRC, block zero padding excluded; the
        denominator of :attr:`ber`.
    info_bit_errors : int
        Errors among ``info_bits`` after decoding (in lost packets too).
    coded_bits : int
        Code bits sent, modulation padding excluded; the denominator of :attr:`raw_ber`.
    raw_bit_errors : int
        Wrong hard decisions of the demapper LLRs (``llr > 0`` means 1) among ``coded_bits``.
    channel_uses : int
        Complex data symbols sent (one per data RE over an OFDM channel; the zero padding of the
        last slot is not counted).
    pilot_uses : int
        Pilot REs sent over an OFDM channel (every slot's, the last one's too); 0 for flat
        channels. Guard and DC carriers carry nothing and are not counted.
    codewords : int
        Code blocks sent.
    codewords_early_exit : int
        LDPC code blocks whose hard decisions were already a codeword (decoder skipped).
    stage_seconds : dict[str, float]
        Wall-clock seconds per stage of the link; not compared by ``==``.
    """

    packets_sent: int = 0
    packets_lost: int = 0
    packets_undetected: int = 0
    payload_bits: int = 0
    payload_bits_delivered: int = 0
    info_bits: int = 0
    info_bit_errors: int = 0
    coded_bits: int = 0
    raw_bit_errors: int = 0
    channel_uses: int = 0
    pilot_uses: int = 0
    codewords: int = 0
    codewords_early_exit: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def raw_ber(self) -> float:
        """Bit error rate before decoding; NaN when nothing was sent."""
        return _ratio(self.raw_bit_errors, self.coded_bits)

    @property
    def ber(self) -> float:
        """Bit error rate after decoding (payload and CRC bits); NaN when nothing was sent."""
        return _ratio(self.info_bit_errors, self.info_bits)

    @property
    def packet_loss_rate(self) -> float:
        """Fraction of packets returned as ``None``."""
        return _ratio(self.packets_lost, self.packets_sent)

    @property
    def packet_error_rate(self) -> float:
        """Fraction of packets not returned correctly (lost or undetected errors)."""
        return _ratio(self.packets_lost + self.packets_undetected, self.packets_sent)

    @property
    def goodput_bits_per_channel_use(self) -> float:
        """Correctly delivered payload bits per complex symbol sent, data and pilot REs counted."""
        return _ratio(self.payload_bits_delivered, self.channel_uses + self.pilot_uses)

    def __add__(self, other: "LinkStats") -> "LinkStats":
        if not isinstance(other, LinkStats):
            return NotImplemented
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "stage_seconds"}
        seconds = dict(self.stage_seconds)
        for stage, value in other.stage_seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + value
        return LinkStats(**counts, stage_seconds=seconds)

    @staticmethod
    def merge(stats: Iterable["LinkStats"]) -> "LinkStats":
        """Sum of several stats (e.g. of the calls of one sweep point)."""
        total = LinkStats()
        for item in stats:
            total = total + item
        return total

    def to_dict(self) -> dict[str, float | int]:
        """Counts and rates as a flat dict (for result tables), timings left out."""
        row: dict[str, float | int] = {k: v for k, v in asdict(self).items() if k != "stage_seconds"}
        for name in ("raw_ber", "ber", "packet_loss_rate", "packet_error_rate", "goodput_bits_per_channel_use"):
            row[name] = getattr(self, name)
        return row


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")

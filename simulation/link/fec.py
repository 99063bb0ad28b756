"""Channel codes of the link: none, 5G LDPC and 5G polar, batched over code blocks.

The built-in codes of the :data:`~simulation.link.codes.CODES` registry ("none", "ldpc",
"polar"), each a :class:`~simulation.link.codes.ChannelCode` that registers itself on import.
Every code maps ``(G, k)`` information bits to ``(G, n)`` code bits and ``(G, n)`` LLRs back to
``(G, k)`` hard bits, for any block length ``k`` within its limits; the Sionna encoder/decoder
pair of each ``(k, n)`` is built on first use and kept by the instance. ``n`` is
``ceil(k / rate)`` rounded up to whole symbols, kept within the code's rate limits (LDPC:
between 1/5, or 1/3 for k > 3824, and 948/1024, and at least 3 parity bits).

- ``Uncoded``: ``n = k``, hard decisions of the LLRs.
- ``LDPC5GCode``: Sionna ``LDPC5GEncoder`` (rate matching included; with ``bit_interleaver``,
  the 3GPP bit interleaver with ``Q_m = bits_per_symbol``) and, per ``decoder``, the compiled
  :class:`~simulation.link.ldpc_fast.FastLDPC5GDecoder` with the compiled
  :class:`~simulation.link.ldpc_fast.FastLDPC5GEncoder` (bit-for-bit Sionna's encoder output;
  CPU: tensors of another device are copied there and back), or Sionna's ``LDPC5GEncoder`` and
  ``LDPC5GDecoder``, the decoder in calls of at most ``max_codewords_per_call`` codewords; with ``early_exit``, codewords whose hard decisions
  already are codewords skip Sionna's decoder (:mod:`~simulation.link.ldpc_early_exit`). The
  fast decoder has its own per-codeword early stop instead, and counts as early exits the
  codewords whose hard decisions satisfied every check before its first iteration.
- ``Polar5GCode``: Sionna ``Polar5GEncoder``/``Polar5GDecoder`` (uplink variant: the code adds
  its own CRC11, so ``n >= k + 11``; 20 <= k <= 1013, n <= 1088).

LLRs follow Sionna: ``log P(b=1)/P(b=0)``.

Example
-------
>>> code = build_code(LinkConfig(code="ldpc", rate=0.5), device="cpu")
>>> code.codeword_bits(100)
200
>>> bits = torch.randint(0, 2, (4, 100)).float()
>>> decoded = code.decode(20.0 * (2 * code.encode(bits) - 1), k=100)    # fast decoder
>>> torch.equal(decoded.bits, bits)
True
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.fec.polar import Polar5GDecoder, Polar5GEncoder

from simulation.link.codes import ChannelCode, DecodeResult, build_code, register_code
from simulation.link.config import LdpcSettings, LinkConfig, PolarSettings
from simulation.link.ldpc_early_exit import EarlyExitUnsupported, LDPC5GCodewordCheck
from simulation.link.ldpc_encoder_cache import CachedLDPC5GEncoder
from simulation.link.ldpc_fast import FastLDPC5GDecoder, FastLDPC5GEncoder

__all__ = ["ChannelCode", "DecodeResult", "LDPC5GCode", "Polar5GCode", "Uncoded", "build_code"]

_LDPC_MAX_RATE = 948 / 1024  # TS 38.212 5.4.2.1
_LDPC_MIN_PARITY = 3
_LDPC_BG2_MAX_K = 3824  # above it, base graph 1, whose lowest rate is 1/3 (BG2's is 1/5)
_POLAR_CRC_BITS = 11

LDPC_MAX_BLOCK_SIZE = 8448  # 3GPP TS 38.212 base graph 1 (rates >= 1/3)
LDPC_LOW_RATE_MAX_BLOCK_SIZE = 3824  # below rate 1/3 only base graph 2 applies (Sionna's selection rule)
POLAR_MAX_BLOCK_SIZE = 1013  # Sionna's 5G polar code has no code-block segmentation
POLAR_MAX_CODEWORD = 1088  # ... so n <= 1088
MAX_BITS_PER_SYMBOL = 10  # rounding n up to whole symbols adds at most 9 bits

_LdpcDecoder = FastLDPC5GDecoder | LDPC5GDecoder


@register_code("none")
class Uncoded(ChannelCode):
    """No channel code: the information bits are sent as they are."""

    rate_limits = (1.0, 1.0)
    default_rate = 1.0
    min_block_size = 1
    interleavable = False

    @classmethod
    def check_rate(cls, rate: float) -> None:
        if rate != 1.0:
            raise ValueError("must be 1 (or left out) without a channel code")

    def codeword_bits(self, k: int) -> int:
        return k

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        return bits

    def decode(self, llr: torch.Tensor, *, k: int) -> DecodeResult:
        return DecodeResult((llr > 0).to(torch.float32))


class _SionnaCode(ChannelCode):
    """A code with its own ``link.<settings_field>`` section, decoded in chunks of at most
    ``link.max_codewords_per_call`` codewords (LDPC and polar)."""

    settings_field: str = ""

    @classmethod
    def config_options(cls, config: LinkConfig) -> dict[str, Any]:
        return {
            **super().config_options(config),
            "settings": getattr(config, cls.settings_field),
            "max_codewords_per_call": config.max_codewords_per_call,
        }


@register_code("ldpc")
class LDPC5GCode(_SionnaCode):
    """5G NR LDPC code with rate matching (Sionna), fast or Sionna decoder, early exit optional."""

    settings_field = "ldpc"
    rate_limits = (0.2, 0.925)
    min_block_size = 12  # Sionna's 5G LDPC needs k >= 12

    def __init__(
        self,
        *,
        rate: float,
        bits_per_symbol: int,
        max_block_size: int | None,
        settings: LdpcSettings,
        max_codewords_per_call: int,
        device: str,
    ) -> None:
        super().__init__(rate=rate, bits_per_symbol=bits_per_symbol, max_block_size=max_block_size, device=device)
        self.settings = settings
        self.max_codewords_per_call = max_codewords_per_call
        self._coders: dict[tuple[int, int], tuple[LDPC5GEncoder, _LdpcDecoder, LDPC5GCodewordCheck | None]] = {}
        self._fast_encoders: dict[tuple[int, int], FastLDPC5GEncoder | None] = {}

    @classmethod
    def largest_block(cls, rate: float) -> int | None:
        return LDPC_MAX_BLOCK_SIZE if rate >= 1 / 3 else LDPC_LOW_RATE_MAX_BLOCK_SIZE

    def codeword_bits(self, k: int) -> int:
        # At least 3 parity bits: with 1 or 2, rate matching of blocks of k <= 24 leaves the punctured
        # systematic bits undetermined, so some information words cannot be told apart.
        n = self._whole_symbols(max(math.ceil(k / self.rate - 1e-9), k + _LDPC_MIN_PARITY))
        lowest_rate_inverse = 3 if k > _LDPC_BG2_MAX_K else 5  # base graph 1: 1/3, base graph 2: 1/5
        if n > lowest_rate_inverse * k:  # rounding up went below the lowest rate: round down instead
            n = (lowest_rate_inverse * k // self.bits_per_symbol) * self.bits_per_symbol
        while k / n > _LDPC_MAX_RATE:
            n += self.bits_per_symbol
        return n

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        k = bits.shape[1]
        n = self.codeword_bits(k)
        encoder, _, _ = self._coder(k, n)
        fast = self._fast_encoders.get((k, n))
        return fast(bits) if fast is not None else encoder(bits)

    def decode(self, llr: torch.Tensor, *, k: int) -> DecodeResult:
        _, decoder, check = self._coder(k, llr.shape[1])
        if isinstance(decoder, FastLDPC5GDecoder):  # one call: its memory does not grow with the batch
            bits, iterations = decoder(llr)
            return DecodeResult(bits, int((iterations == 0).sum()))
        out = torch.empty(llr.shape[0], k, dtype=torch.float32, device=llr.device)
        pending = torch.arange(llr.shape[0], device=llr.device)
        early_exits = 0
        if check is not None:
            failing = []
            for rows in torch.split(pending, self.max_codewords_per_call):
                valid, info = check(llr[rows])
                out[rows[valid]] = info[valid]
                failing.append(rows[~valid])
                early_exits += int(valid.sum())
            pending = torch.cat(failing) if failing else pending
        for rows in torch.split(pending, self.max_codewords_per_call):
            if rows.numel():  # torch.split of an empty tensor yields one empty chunk
                out[rows] = decoder(llr[rows]).to(torch.float32)
        return DecodeResult(out, early_exits)

    def _coder(self, k: int, n: int) -> tuple[LDPC5GEncoder, _LdpcDecoder, LDPC5GCodewordCheck | None]:
        if (k, n) not in self._coders:
            bits_per_symbol = self.bits_per_symbol if self.settings.bit_interleaver else None
            with warnings.catch_warnings():  # rates just above 948/1024 are legal after rounding
                warnings.filterwarnings("ignore", message="Effective coderate", category=UserWarning)
                # Sionna's encoder with its graph construction cached per lifting (a new k per packet)
                encoder = CachedLDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, device=self.device)
            decoder: _LdpcDecoder
            if self.settings.decoder == "fast":
                decoder = FastLDPC5GDecoder(encoder, iterations=self.settings.iterations)
                try:  # the same code bits as Sionna's encoder (tested), an order of magnitude sooner
                    self._fast_encoders[(k, n)] = FastLDPC5GEncoder(encoder)
                except ValueError:
                    self._fast_encoders[(k, n)] = None
            else:
                decoder = LDPC5GDecoder(
                    encoder,
                    cn_update=self.settings.check_node_update,
                    num_iter=self.settings.iterations,
                    hard_out=True,
                    return_infobits=True,
                    device=self.device,
                )
            check = None
            # The fast decoder stops each codeword once its checks hold; the separate check costs
            # more than that decoding (measured: docs/ldpc-decoder.md), so it serves Sionna's only.
            if self.settings.early_exit and self.settings.decoder == "sionna":
                try:
                    check = LDPC5GCodewordCheck(encoder, device=self.device)
                except EarlyExitUnsupported as exc:
                    warnings.warn(f"LDPC early exit off for this block length: {exc}", RuntimeWarning, stacklevel=2)
            self._coders[(k, n)] = (encoder, decoder, check)
        return self._coders[(k, n)]


@register_code("polar")
class Polar5GCode(_SionnaCode):
    """5G NR polar code, uplink variant (Sionna), with SC, SCL or BP decoding."""

    settings_field = "polar"
    rate_limits = (0.05, 0.9)
    min_block_size = 20  # k >= 20 for the CRC11 variant; shorter blocks use an unimplemented one

    def __init__(
        self,
        *,
        rate: float,
        bits_per_symbol: int,
        max_block_size: int | None,
        settings: PolarSettings,
        max_codewords_per_call: int,
        device: str,
    ) -> None:
        super().__init__(rate=rate, bits_per_symbol=bits_per_symbol, max_block_size=max_block_size, device=device)
        self.settings = settings
        self.max_codewords_per_call = max_codewords_per_call
        self._coders: dict[tuple[int, int], tuple[Polar5GEncoder, Polar5GDecoder]] = {}

    @classmethod
    def largest_block(cls, rate: float) -> int | None:
        return min(POLAR_MAX_BLOCK_SIZE, int(rate * (POLAR_MAX_CODEWORD - MAX_BITS_PER_SYMBOL + 1)))

    def codeword_bits(self, k: int) -> int:
        return self._whole_symbols(max(math.ceil(k / self.rate - 1e-9), k + _POLAR_CRC_BITS, 18))

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        k = bits.shape[1]
        encoder, _ = self._coder(k, self.codeword_bits(k))
        return encoder(bits)

    def decode(self, llr: torch.Tensor, *, k: int) -> DecodeResult:
        _, decoder = self._coder(k, llr.shape[1])
        parts = [decoder(chunk) for chunk in torch.split(llr, self.max_codewords_per_call)]
        return DecodeResult(torch.cat(parts).to(torch.float32))

    def _coder(self, k: int, n: int) -> tuple[Polar5GEncoder, Polar5GDecoder]:
        if (k, n) not in self._coders:
            encoder = Polar5GEncoder(k, n, channel_type="uplink", device=self.device)
            decoder = Polar5GDecoder(
                encoder,
                dec_type=self.settings.decoder,
                list_size=self.settings.list_size,
                num_iter=self.settings.iterations,
                device=self.device,
            )
            self._coders[(k, n)] = (encoder, decoder)
        return self._coders[(k, n)]

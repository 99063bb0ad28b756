"""Settings of the link: CRC, channel code, interleaving, modulation, receiver, detection and SNR axis.

All fields have defaults; a scenario's ``link:`` section is validated with
:meth:`LinkConfig.from_mapping`, which reports a bad field as a one-line
:class:`~gosvae.errors.ConfigError` (``link.ldpc.iterations: must be >= 1, got 0``).

Fields
------
crc : "CRC24A" | "CRC24B" | "CRC24C" | "CRC16" | "CRC11" | "CRC6" | "none"
    CRC attached to every packet (3GPP TS 38.212 polynomials, Sionna ``CRCEncoder``).
code : "ldpc" | "polar" | "none"
    Channel code: 5G NR LDPC, 5G NR polar (uplink variant, with its own inner CRC11), or none.
rate : float | None
    Code rate k/n of each code block; ``None`` picks 0.5 for LDPC and polar and 1 for no code.
    LDPC accepts [0.2, 0.925]; polar [0.05, 0.9]; no code only 1.
block_size : int | None
    Largest number of information bits per code block; packets longer than that (with their CRC)
    are split into equal blocks. ``None`` picks the largest the code supports (LDPC: 8448, or
    3824 below rate 1/3 where only base graph 2 applies; polar: about ``min(1013, 1079 * rate)``).
block_sizes_per_octave : int | None
    Block lengths are rounded up to a grid with this many steps per octave (16: at most 6.25 %
    zero padding), so that packets of similar sizes share a few encoder/decoder pairs and go
    through Sionna together. ``None`` uses exact lengths (one encoder per distinct length).
modulation : "bpsk" | "qpsk" | "16qam" | "64qam" | "256qam" | "1024qam"
    Gray-labelled constellation with unit average energy (Sionna ``Constellation``; BPSK is
    Sionna's one-bit "pam", the others its "qam").
demapping : "app" | "maxlog"
    Sionna ``Demapper`` method.
equalizer : "zf" | "mmse"
    Perfect-CSI equalisation. For the per-symbol scalar channels of the channel contract the
    unbiased LMMSE estimate equals zero forcing (``x = y / h``, ``no_eff = no / |h|^2``); "mmse"
    computes it with Sionna's ``lmmse_equalizer`` and gives the same LLRs up to rounding.
receiver : ReceiverSettings
    The receiver of an OFDM channel (one that declares a resource grid: ``tdl``, ``cdl``);
    flat channels have no pilots and are always equalised with their true gain.
    ``channel_estimation`` ("perfect"): "perfect" gives the receiver the true frequency response
    at the data REs, then the link equalises with ``equalizer`` as for a flat channel; "ls"
    estimates it by least squares on the pilots, interpolates (``interpolation``: "nearest",
    "linear" (default), "linear_time_average") and equalises with Sionna's OFDM equaliser
    (``equalizer``: "lmmse" (default) or "zf"; for one antenna both give the same symbols and
    noise variances), with the exact error variance of the interpolated estimate
    (:mod:`simulation.link.estimation`). ``interpolation`` and ``equalizer`` are only used, and
    only accepted, with "ls". Scenario files that still give these three as channel parameters
    (``channel.params.channel_estimation``, their place before) are read with a deprecation
    warning.
interleaver : "none" | "random"
    Bit interleaving inside each codeword (Sionna ``RandomInterleaver`` seeded with
    ``interleaver_seed``), applied to the encoder's output, so for LDPC after the code's own
    3GPP bit interleaver (``ldpc.bit_interleaver``, on by default). No effect without a channel
    code (the bits are sent as they are).
interleaver_seed : int
    Seed of the interleaver's permutation (fixed, so runs are reproducible).
snr_definition : "esno" | "ebno"
    What ``snr_db`` means in :meth:`Link.transmit`. Es/N0: ``no = 10^(-snr_db/10)`` for the
    unit-energy constellations. Eb/N0: energy per packet (payload) bit, ``no =
    ebnodb2no(snr_db, bits_per_symbol, coderate)`` with ``coderate = payload bits /
    (bits_per_symbol * channel uses)`` of the call, so CRC, block padding, code redundancy and
    modulation padding all count as overhead. Over an OFDM channel the energy of the pilot REs
    and of the cyclic prefix counts too, as in Sionna's ``ebnodb2no(..., resource_grid=...)``:
    ``no`` is multiplied by ``(data REs + pilot REs) / data REs * (1 + cyclic_prefix_length /
    fft_size)`` (guard and DC carriers carry no energy and do not count); Es/N0 stays the energy
    of one RE (data or pilot, both unit energy) over ``no``.
ldpc : LdpcSettings
    ``decoder`` ("fast"): "fast" is the compiled CPU decoder of
    :mod:`~simulation.link.ldpc_fast` (layered normalized min-sum ``0.71 * min |x|``, stops
    each codeword once its checks hold; tens of times Sionna's throughput, the same block
    error rate within statistical error, ``docs/ldpc-decoder.md``); "sionna" is Sionna's
    ``LDPC5GDecoder`` (flooding, fixed iteration count, differentiable, runs on the link's
    device). ``iterations`` (20): the iteration cap of either. ``check_node_update``
    ("boxplus-phi"): Sionna's check-node function, used by the "sionna" decoder only.
    ``early_exit`` (True): codewords whose hard decisions already form a codeword skip Sionna's
    decoder, same output (the fast decoder's own early stop makes the check unnecessary there).
    ``bit_interleaver`` (True): the 3GPP rate-matching bit interleaver of TS 38.212 5.4.2.2
    with ``Q_m = bits_per_symbol`` (it puts the systematic bits on the strongest bit levels of
    the constellation; identity for BPSK). It is part of the code (encoder output, decoder
    input, both decoders); ``interleaver: random`` is applied on top of it, to the encoder's
    output.
polar : PolarSettings
    ``decoder`` ("SCL"), ``list_size`` (8), ``iterations`` (20, for "BP").
max_codewords_per_call : int
    Codewords per Sionna decoder call (bounds memory; 5G LDPC at k=4096 takes ~4 MB each).

Example
-------
>>> config = LinkConfig(code="ldpc", rate=0.5, modulation="16qam", interleaver="random")
>>> config.bits_per_symbol, config.code_rate
(4, 0.5)
>>> LinkConfig(receiver={"channel_estimation": "ls"}).receiver.equalizer      # OFDM receiver defaults
'lmmse'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, WithJsonSchema, field_validator

from channels.base import config_error_from_validation
from gosvae_core.errors import UserError
from simulation.link.codes import CODES, code_class

__all__ = ["BUILT_IN_CODES", "INTERPOLATIONS", "LdpcSettings", "LinkConfig", "MODULATIONS", "PolarSettings", "ReceiverSettings"]

#: modulation name -> (Sionna constellation type, bits per symbol)
MODULATIONS: dict[str, tuple[str, int]] = {
    "bpsk": ("pam", 1),
    "qpsk": ("qam", 2),
    "16qam": ("qam", 4),
    "64qam": ("qam", 6),
    "256qam": ("qam", 8),
    "1024qam": ("qam", 10),
}

#: The built-in channel codes (:mod:`simulation.link.fec`); plug-ins add more (``gosvae.codes``).
BUILT_IN_CODES = ("ldpc", "polar", "none")

#: ``code``: the name of a registered channel code; the schema lists the built-in ones.
CodeName = Annotated[str, WithJsonSchema({"enum": list(BUILT_IN_CODES), "type": "string"})]


class LdpcSettings(BaseModel):
    """5G LDPC code and decoder settings (see ``ldpc`` in the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decoder: Literal["fast", "sionna"] = "fast"
    iterations: int = Field(20, ge=1, le=1000)
    check_node_update: Literal["boxplus-phi", "boxplus", "minsum", "offset-minsum"] = "boxplus-phi"
    early_exit: bool = True
    bit_interleaver: bool = True


class PolarSettings(BaseModel):
    """5G polar decoder settings (Sionna ``Polar5GDecoder``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decoder: Literal["SC", "SCL", "BP"] = "SCL"
    list_size: int = Field(8, ge=1, le=64)
    iterations: int = Field(20, ge=1, le=1000)


#: ``receiver.interpolation`` names -> Sionna ``LSChannelEstimator(interpolation_type=...)``.
INTERPOLATIONS = {"nearest": "nn", "linear": "lin", "linear_time_average": "lin_time_avg"}


class ReceiverSettings(BaseModel):
    """OFDM receiver: channel estimation, interpolation, equaliser (see ``receiver`` in the module docstring).

    ``interpolation`` and ``equalizer`` only mean something with ``channel_estimation: ls``: they
    are rejected with "perfect", and left unset they resolve to their "ls" defaults, so
    ``model_dump()`` always shows what runs; e.g. ``ReceiverSettings(channel_estimation="ls").equalizer``
    is ``"lmmse"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel_estimation: Literal["perfect", "ls"] = Field(
        "perfect",
        description="perfect: the true frequency response at the data REs, then the link's `equalizer`; "
        "ls: least squares on the pilots, interpolation and Sionna's OFDM equaliser (needs a channel with a "
        "resource grid with pilots). Formerly channel.params.channel_estimation (still read, with a warning).",
    )
    interpolation: Literal["nearest", "linear", "linear_time_average"] | None = Field(
        None,
        validate_default=True,
        description="Interpolation of the LS estimates over the grid (Sionna LSChannelEstimator); ls only, "
        "default linear. Formerly channel.params.interpolation.",
    )
    equalizer: Literal["lmmse", "zf"] | None = Field(
        None,
        validate_default=True,
        description="Sionna OFDM equaliser after LS estimation (the same symbols and noise variances for one "
        "antenna); ls only, default lmmse. Formerly channel.params.equalizer.",
    )

    @field_validator("interpolation", "equalizer")
    @classmethod
    def _only_with_ls(cls, value: str | None, info: ValidationInfo) -> str | None:
        estimation = info.data.get("channel_estimation")
        if estimation == "ls":
            return value if value is not None else {"interpolation": "linear", "equalizer": "lmmse"}[info.field_name]
        if value is not None and estimation is not None:
            raise ValueError("only used with channel_estimation 'ls' (with perfect CSI the link equalises)")
        return value


class LinkConfig(BaseModel):
    """Validated link settings (see the module docstring for every field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    crc: Literal["CRC24A", "CRC24B", "CRC24C", "CRC16", "CRC11", "CRC6", "none"] = "CRC24A"
    code: CodeName = "ldpc"
    rate: float | None = None
    block_size: int | None = Field(None, ge=1)
    block_sizes_per_octave: int | None = Field(16, ge=1, le=1024)
    modulation: Literal["bpsk", "qpsk", "16qam", "64qam", "256qam", "1024qam"] = "qpsk"
    demapping: Literal["app", "maxlog"] = "app"
    equalizer: Literal["zf", "mmse"] = "zf"
    receiver: ReceiverSettings = ReceiverSettings()
    interleaver: Literal["none", "random"] = "none"
    interleaver_seed: int = Field(0, ge=0, le=2**31 - 1)
    snr_definition: Literal["esno", "ebno"] = "esno"
    ldpc: LdpcSettings = LdpcSettings()
    polar: PolarSettings = PolarSettings()
    max_codewords_per_call: int = Field(256, ge=1)

    @field_validator("code")
    @classmethod
    def _code_is_registered(cls, code: str) -> str:
        if code not in CODES:
            raise ValueError(f"must be a registered channel code ({', '.join(CODES.names())})")
        try:
            code_class(code)
        except UserError as exc:  # a plug-in that failed to load, or is not a ChannelCode
            raise ValueError(str(exc)) from None
        return code

    @field_validator("rate")
    @classmethod
    def _rate_fits_code(cls, rate: float | None, info: ValidationInfo) -> float | None:
        if rate is None or "code" not in info.data:
            return rate
        code_class(info.data["code"]).check_rate(rate)
        return rate

    @field_validator("block_size")
    @classmethod
    def _block_size_fits_code(cls, block_size: int | None, info: ValidationInfo) -> int | None:
        if block_size is None or "code" not in info.data or "rate" not in info.data:
            return block_size
        code = code_class(info.data["code"])
        rate = info.data["rate"] if info.data["rate"] is not None else code.default_rate
        code.check_block_size(block_size, rate=rate)
        return block_size

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, where: str = "link") -> "LinkConfig":
        """Validate a ``link:`` section; :class:`~gosvae.errors.ConfigError` names a bad field."""
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            raise config_error_from_validation(exc, where=where) from None

    @property
    def code_rate(self) -> float:
        """Rate of the channel code (the default of the code when ``rate`` is left out)."""
        return self.rate if self.rate is not None else code_class(self.code).default_rate

    @property
    def max_block_size(self) -> int | None:
        """Largest code block in information bits (``block_size`` or the code's limit); None: no limit."""
        if self.block_size is not None:
            return self.block_size
        return code_class(self.code).largest_block(self.code_rate)

    @property
    def constellation_type(self) -> str:
        """Sionna constellation type, "pam" or "qam"."""
        return MODULATIONS[self.modulation][0]

    @property
    def bits_per_symbol(self) -> int:
        """Bits carried by one constellation symbol."""
        return MODULATIONS[self.modulation][1]

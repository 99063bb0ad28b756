"""Parameters of the OFDM channel models ``tdl`` and ``cdl`` (one pydantic model for both).

Every field has a default, so ``build_channel("tdl")`` works; a scenario sets what it needs::

    channel:
      model: tdl
      params: {model: C, delay_spread_ns: 100, speed_kmh: 30, carrier_frequency_hz: 3.5e9,
               subcarrier_spacing_hz: 30e3, fft_size: 128}

The parameters describe the propagation and the air interface (the resource grid and its pilots);
the receiver (channel estimation, interpolation, equaliser) is the link's: ``link.receiver`` in a
scenario (:class:`simulation.link.config.ReceiverSettings`). The receiver fields that used to live
here (``channel_estimation``, ``interpolation``, ``equalizer``) are rejected with a message naming
their new place; scenario files that still write them are moved there by the scenario loader, with
a deprecation warning.

``pilot_ofdm_symbol_indices`` only means something with ``pilot_pattern: kronecker``; left unset
it resolves to its default of the active pattern, so ``model_dump()`` always shows what runs.

Example
-------
>>> OFDMParams(model="C", speed_kmh=[3, 30]).pilot_ofdm_symbol_indices
(2, 11)
>>> OFDMParams(channel_estimation="ls")          # doctest: +SKIP
ValidationError: channel_estimation: is a receiver setting now: write link.receiver.channel_estimation
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

__all__ = ["MOVED_TO_RECEIVER", "OFDMParams"]

#: NR numerologies: 15 kHz x 2^mu.
SUBCARRIER_SPACINGS_HZ = tuple(15e3 * 2**mu for mu in range(7))

#: Former parameters of these models that are receiver settings now (``link.receiver.<name>``).
MOVED_TO_RECEIVER = ("channel_estimation", "interpolation", "equalizer")


class OFDMParams(BaseModel):
    """Parameters of :class:`~channels.ofdm.TDLChannel` and :class:`~channels.ofdm.CDLChannel`.

    Parameters
    ----------
    model : "A" | "B" | "C" | "D" | "E"
        3GPP TR 38.901 profile (TDL Tables 7.7.2-1..5 / CDL Tables 7.7.1-1..5). A-C are NLOS,
        D and E have a line-of-sight (Rician) first path.
    delay_spread_ns : float
        RMS delay spread in ns that scales the normalised delays (TR 38.901 Table 7.7.3-1: 10 very
        short, 30 short, 100 nominal, 300 long, 1000 very long). 0 gives a flat channel.
    speed_kmh : float | [float, float]
        Terminal speed in km/h, or a [min, max] range sampled uniformly per slot.
    carrier_frequency_hz : float
        Carrier frequency in Hz (0.5 to 100 GHz, the validity range of TR 38.901); sets the
        Doppler spread with the speed.
    subcarrier_spacing_hz : float
        15 kHz x 2^mu, mu = 0..6 (15e3, 30e3, 60e3, ...).
    fft_size : int
        Subcarriers per OFDM symbol (guard and DC carriers included).
    num_ofdm_symbols : int
        OFDM symbols per slot; each slot is one resource grid.
    cyclic_prefix_length : int
        Cyclic prefix in samples; in this frequency-domain model it only lengthens the OFDM symbol
        (and so the channel's change between symbols). Inter-symbol interference is not modelled.
    num_guard_carriers : [int, int]
        Empty subcarriers at the lower and upper band edges.
    dc_null : bool
        Leave the DC subcarrier empty.
    pilot_pattern : "kronecker" | "none"
        Pilot OFDM symbols spanning all effective subcarriers, or no pilots (then the receiver
        needs perfect CSI).
    pilot_ofdm_symbol_indices : list[int]
        Indices of the pilot OFDM symbols in a slot (kronecker only; default [2, 11]).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["A", "B", "C", "D", "E"] = "A"
    delay_spread_ns: float = Field(100.0, ge=0.0, le=1e5)
    speed_kmh: float | tuple[float, float] = 3.0
    carrier_frequency_hz: float = Field(3.5e9, ge=0.5e9, le=100e9)
    subcarrier_spacing_hz: float = 30e3
    fft_size: int = Field(128, ge=1, le=8192)
    num_ofdm_symbols: int = Field(14, ge=1, le=1024)
    cyclic_prefix_length: int = Field(0, ge=0)
    num_guard_carriers: tuple[int, int] = (0, 0)
    dc_null: bool = False
    pilot_pattern: Literal["kronecker", "none"] = "kronecker"
    pilot_ofdm_symbol_indices: tuple[int, ...] | None = Field(None, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _receiver_fields_moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in MOVED_TO_RECEIVER:
                if name in data:
                    raise ValueError(f"{name}: is a receiver setting now: write link.receiver.{name}")
        return data

    @field_validator("speed_kmh")
    @classmethod
    def _speeds(cls, value: float | tuple[float, float]) -> float | tuple[float, float]:
        low, high = value if isinstance(value, tuple) else (value, value)
        if low < 0 or not low <= high:
            raise ValueError("must be a speed >= 0 or a range [min, max] with 0 <= min <= max")
        return value

    @field_validator("subcarrier_spacing_hz")
    @classmethod
    def _numerology(cls, value: float) -> float:
        if not any(abs(value - s) < 1e-6 for s in SUBCARRIER_SPACINGS_HZ):
            raise ValueError("must be 15 kHz x 2^mu: one of " + ", ".join(f"{s:g}" for s in SUBCARRIER_SPACINGS_HZ))
        return value

    @field_validator("cyclic_prefix_length")
    @classmethod
    def _cyclic_prefix(cls, value: int, info: ValidationInfo) -> int:
        fft_size = info.data.get("fft_size")
        if fft_size is not None and value > fft_size:
            raise ValueError(f"must be <= fft_size ({fft_size})")
        return value

    @field_validator("num_guard_carriers")
    @classmethod
    def _guards(cls, value: tuple[int, int], info: ValidationInfo) -> tuple[int, int]:
        fft_size = info.data.get("fft_size")
        if min(value) < 0 or (fft_size is not None and sum(value) >= fft_size):
            raise ValueError(f"must be two counts >= 0 leaving some of the fft_size ({fft_size}) subcarriers")
        return value

    @field_validator("pilot_ofdm_symbol_indices")
    @classmethod
    def _pilot_symbols(cls, value: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...]:
        if info.data.get("pilot_pattern") == "none":
            if value:  # an empty list is what model_dump() gives back for "none"
                raise ValueError("only used with pilot_pattern 'kronecker'")
            return ()
        num_symbols = info.data.get("num_ofdm_symbols")
        if value is None:
            if num_symbols is not None and num_symbols < 12:
                raise ValueError(f"must be given: the default [2, 11] needs num_ofdm_symbols >= 12, not {num_symbols}")
            value = (2, 11)
        if num_symbols is not None and not all(0 <= i < num_symbols for i in value):
            raise ValueError(f"must be OFDM symbol indices in [0, num_ofdm_symbols={num_symbols})")
        if not value or len(set(value)) != len(value):
            raise ValueError("must be a non-empty list of distinct indices")
        if num_symbols is not None and len(value) >= num_symbols:
            raise ValueError("must leave at least one OFDM symbol of the slot for data")
        return tuple(sorted(value))

    @property
    def speed_range_mps(self) -> tuple[float, float]:
        """(min, max) speed in m/s."""
        low, high = self.speed_kmh if isinstance(self.speed_kmh, tuple) else (self.speed_kmh, self.speed_kmh)
        return low / 3.6, high / 3.6

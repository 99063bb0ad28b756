"""Sionna building blocks of the OFDM channel models, with every random draw from the call's generator.

- :class:`CallGenerator` and the ``Seeded*`` subclasses: Sionna's ``TDL``, ``CDL`` and the CDL's
  ``ChannelCoefficientsGenerator`` take every random number through their ``torch_rng``
  property, which Sionna points at its process-global generator
  (``sionna.phy.config.torch_rng(device)``). The subclasses override that one property to return
  the generator lent for the current call (:meth:`CallGenerator.lend`), so a draw neither reads
  nor advances Sionna's or torch's global RNG, and a draw outside a call raises.
- :func:`build_resource_grid`: a Sionna ``ResourceGrid`` whose Kronecker pilots are a fixed
  QPSK sequence. (Sionna's ``KroneckerPilotPattern`` draws its pilots from the global RNG when it
  is built; pilots are known to both ends, so a fixed sequence changes nothing else.)
- :class:`OFDMBlocks`: the grid and the channel generator built for one device and precision.

The transmitter's framing (:class:`simulation.link.ofdm.OFDMFramer`) and the receiver
(:mod:`simulation.link.estimation`) are the link's; they take the grid from
:meth:`channels.ofdm.OFDMChannelModel.resource_grid`.

Example
-------
>>> blocks = OFDMBlocks(OFDMParams(model="C"), family="tdl", device="cpu", precision="single")
>>> h = blocks.frequency_response(4, generator=torch.Generator().manual_seed(0))
>>> h.shape                                   # (slots, num_ofdm_symbols, fft_size)
torch.Size([4, 14, 128])
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch
from sionna.phy.channel import GenerateOFDMChannel
from sionna.phy.channel.tr38901 import CDL, TDL, Antenna
from sionna.phy.channel.tr38901.channel_coefficients import ChannelCoefficientsGenerator
from sionna.phy.ofdm import PilotPattern, ResourceGrid

from channels.ofdm_params import OFDMParams

__all__ = ["CallGenerator", "OFDMBlocks", "SeededCDL", "SeededTDL", "build_resource_grid"]

#: Seed of the fixed QPSK pilot sequence (known to transmitter and receiver, not call randomness).
PILOT_SEED = 0x0FD11


class CallGenerator:
    """Holds the generator of the current call for the ``Seeded*`` Sionna models."""

    def __init__(self) -> None:
        self.generator: torch.Generator | None = None

    @contextmanager
    def lend(self, generator: torch.Generator) -> Iterator[None]:
        """Make ``generator`` the source of every draw inside the ``with`` block."""
        previous, self.generator = self.generator, generator
        try:
            yield
        finally:
            self.generator = previous

    def get(self) -> torch.Generator:
        if self.generator is None:
            raise RuntimeError("OFDM channel draws need a generator lent with CallGenerator.lend()")
        return self.generator


class SeededTDL(TDL):
    """Sionna ``TDL`` drawing from a :class:`CallGenerator` (same arguments, plus ``source``)."""

    def __init__(self, *args, source: CallGenerator, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._source = source

    @property
    def torch_rng(self) -> torch.Generator:
        return self._source.get()


class _SeededCoefficients(ChannelCoefficientsGenerator):
    def __init__(self, *args, source: CallGenerator, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._source = source

    @property
    def torch_rng(self) -> torch.Generator:
        return self._source.get()


class SeededCDL(CDL):
    """Sionna ``CDL`` drawing from a :class:`CallGenerator`, its ray-coefficient generator too."""

    def __init__(self, *args, source: CallGenerator, carrier_frequency: float, **kwargs) -> None:
        super().__init__(*args, carrier_frequency=carrier_frequency, **kwargs)
        self._source = source
        # Same construction as in CDL.__init__, with the seeded class (it draws the ray phases).
        self._cir_gen = _SeededCoefficients(
            carrier_frequency=carrier_frequency,
            tx_array=self._tx_array,
            rx_array=self._rx_array,
            subclustering=False,
            precision=self.precision,
            device=self.device,
            source=source,
        )

    @property
    def torch_rng(self) -> torch.Generator:
        return self._source.get()


def build_resource_grid(params: OFDMParams, *, precision: str, device: str) -> ResourceGrid:
    """One-transmitter, one-stream Sionna ``ResourceGrid`` of ``params``, pilots included.

    Output: a ``ResourceGrid`` whose pilot pattern is empty (``pilot_pattern: none``) or fills
    the OFDM symbols ``pilot_ofdm_symbol_indices`` on every effective subcarrier with a fixed
    unit-energy QPSK sequence.
    """
    grid = ResourceGrid(
        num_ofdm_symbols=params.num_ofdm_symbols,
        fft_size=params.fft_size,
        subcarrier_spacing=params.subcarrier_spacing_hz,
        cyclic_prefix_length=params.cyclic_prefix_length,
        num_guard_carriers=params.num_guard_carriers,
        dc_null=params.dc_null,
        pilot_pattern=None,
        precision=precision,
        device=device,
    )
    if params.pilot_pattern == "kronecker":
        symbols = list(params.pilot_ofdm_symbol_indices)
        mask = np.zeros((1, 1, params.num_ofdm_symbols, grid.num_effective_subcarriers), dtype=bool)
        mask[..., symbols, :] = True
        bits = torch.randint(0, 2, (2, int(mask.sum())), generator=torch.Generator().manual_seed(PILOT_SEED))
        pilots = torch.complex(1.0 - 2.0 * bits[0], 1.0 - 2.0 * bits[1]) / np.sqrt(2.0)
        grid.pilot_pattern = PilotPattern(mask, pilots.reshape(1, 1, -1), precision=precision, device=device)
    return grid


def build_cir_model(
    params: OFDMParams, *, family: Literal["tdl", "cdl"], source: CallGenerator, precision: str, device: str
) -> SeededTDL | SeededCDL:
    """The seeded Sionna TDL or CDL model of ``params`` (SISO; CDL with omni V-polarised antennas)."""
    min_speed, max_speed = params.speed_range_mps
    common = dict(
        delay_spread=params.delay_spread_ns * 1e-9,
        carrier_frequency=params.carrier_frequency_hz,
        min_speed=min_speed,
        max_speed=max_speed,
        precision=precision,
        device=device,
        source=source,
    )
    if family == "tdl":
        return SeededTDL(params.model, **common)
    antenna = Antenna(
        polarization="single",
        polarization_type="V",
        antenna_pattern="omni",
        carrier_frequency=params.carrier_frequency_hz,
        precision=precision,
        device=device,
    )
    return SeededCDL(params.model, ut_array=antenna, bs_array=antenna, direction="downlink", **common)


class OFDMBlocks:
    """Sionna blocks of one OFDM channel model for one device and precision.

    Parameters
    ----------
    params : OFDMParams
        The model's parameters.
    family : "tdl" | "cdl"
        Channel model family.
    device : str
        Device of the blocks, e.g. "cpu" or "cuda:0".
    precision : "single" | "double"
        Sionna precision (complex64 or complex128 tensors).
    """

    def __init__(self, params: OFDMParams, *, family: Literal["tdl", "cdl"], device: str, precision: str) -> None:
        self.source = CallGenerator()
        #: The Sionna ``ResourceGrid`` (pilots included) that the link frames the symbols on.
        self.grid = build_resource_grid(params, precision=precision, device=device)
        self.grid_shape = (params.num_ofdm_symbols, params.fft_size)
        #: The seeded Sionna TDL or CDL model (its ``mean_powers``, ``delays``, ... are Sionna's).
        self.cir_model = build_cir_model(params, family=family, source=self.source, precision=precision, device=device)
        self._generate = GenerateOFDMChannel(
            self.cir_model, self.grid, normalize_channel=False, precision=precision, device=device
        )

    def frequency_response(self, num_frames: int, *, generator: torch.Generator) -> torch.Tensor:
        """(num_frames, num_ofdm_symbols, fft_size) complex: independent channel draws, one per slot.

        ``generator`` must live on the blocks' device; it is the only source of randomness.
        """
        with self.source.lend(generator):
            h = self._generate(num_frames)
        return h[:, 0, 0, 0, 0]

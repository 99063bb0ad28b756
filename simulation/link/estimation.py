"""OFDM receivers: from the channel's received resource elements to one scalar channel per data symbol.

A receiver takes the :class:`~channels.base.ChannelOutput` of an OFDM channel model (REs of whole
slots, ``y = H x + n`` with the true ``H``; see :mod:`channels.ofdm`) and returns a
``ChannelOutput`` over the data symbols only, (B, N), which the link's modem equalises and
demaps as for a flat channel:

- :class:`PerfectCSI`: ``y`` the received data REs, ``h`` the true ``H`` there, ``no`` as given.
  Then ``y = h x + noise`` symbol by symbol, and the link equalises with ``h`` (``y / h``,
  ``no / |h|^2``). ``E|h|^2 = 1``.
- :class:`LSReceiver`: least-squares estimates on the pilots, interpolated over the grid (Sionna
  ``LSChannelEstimator``), then Sionna's OFDM ``LMMSEEqualizer`` or ``ZFEqualizer``. It returns
  ``y`` = the equalised symbols ``x_hat``, an unbiased estimate of ``x``; ``h`` = ones, since
  after equalisation the receiver treats ``x_hat`` as ``x`` plus noise; and ``no`` = the
  equaliser's effective noise variance per symbol (B, N), estimation error included. The link's
  equalisation with ``h = 1`` then changes nothing. With one antenna both equalisers give
  ``x_hat = y / h_hat`` and ``no_eff = (no + err_var) / |h_hat|^2`` (for a scalar channel the
  unbiased LMMSE estimate is the ZF one); the option is kept for symmetry with Sionna.
  ``err_var = no * sum w^2`` is the exact variance of the interpolated estimate (weights ``w`` of
  the interpolation); Sionna's own ``err_var`` (``no * sum w``) overstates it between pilots and
  understates it where it extrapolates, which would mis-scale the LLRs by up to 1.2 dB.
  Interpolation error from the channel's change in time is not counted (small at 30 km/h; with
  ``linear_time_average`` at 120 km/h ``|x_hat - x|^2 / no_eff`` averages 1.12 instead of 1).

Example
-------
>>> from channels import TDLChannel
>>> channel = TDLChannel(model="C", fft_size=24)
>>> framer = OFDMFramer(channel.resource_grid(device="cpu", dtype=torch.complex64))
>>> x = torch.ones(1, 1000, dtype=torch.complex64)
>>> out = channel(framer.frame(x), no=0.01, generator=torch.Generator().manual_seed(0))
>>> detected = LSReceiver(framer)(out, length=1000)
>>> detected.y.shape, detected.no.shape                  # x_hat and no_eff per data symbol
(torch.Size([1, 1000]), torch.Size([1, 1000]))
"""

from __future__ import annotations

import numpy as np
import torch
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, ZFEqualizer

from channels.base import ChannelOutput
from simulation.link.config import INTERPOLATIONS, ReceiverSettings
from simulation.link.ofdm import OFDMFramer

__all__ = ["LSReceiver", "PerfectCSI", "build_receiver"]

# Resource elements per LS processing chunk: about 80 MB of intermediates at complex64, and
# faster than larger chunks on CPU.
_RES_PER_CHUNK = 1 << 18


class PerfectCSI:
    """The true frequency response at the data REs (see the module docstring).

    Parameters
    ----------
    framer : OFDMFramer
        The framing the symbols were sent with.

    Input
    -----
    received : ChannelOutput
        The channel's output over the REs, (B, F * num_ofdm_symbols * fft_size); ``no`` of shape
        (), (B, 1) or per RE.
    length : int
        Data symbols per row, ``N``.

    Output
    ------
    ChannelOutput
        ``y``, ``h`` (B, N) complex at the data REs; ``no`` as given, or (B, N) if it was per RE.
    """

    def __init__(self, framer: OFDMFramer) -> None:
        self.framer = framer

    def __call__(self, received: ChannelOutput, *, length: int) -> ChannelOutput:
        no = received.no
        if no.dim() == 2 and no.shape[1] > 1:
            no = self.framer.data_of(no, length=length)
        return ChannelOutput(
            y=self.framer.data_of(received.y, length=length), h=self.framer.data_of(received.h, length=length), no=no
        )


class LSReceiver:
    """LS estimation on the pilots, interpolation, Sionna OFDM equalisation (see the module docstring).

    Parameters
    ----------
    framer : OFDMFramer
        The framing the symbols were sent with; its grid needs pilots.
    interpolation : "nearest" | "linear" | "linear_time_average"
        Interpolation of the LS estimates (Sionna ``LSChannelEstimator``).
    equalizer : "lmmse" | "zf"
        Sionna OFDM equaliser.

    Input
    -----
    received : ChannelOutput
        The channel's output over the REs, (B, F * num_ofdm_symbols * fft_size); one noise
        variance per row (shape (), (B,), (B, 1), or per RE but equal along each row).
    length : int
        Data symbols per row, ``N``.

    Output
    ------
    ChannelOutput
        ``y`` the equalised symbols ``x_hat`` (B, N), ``h`` ones (B, N), ``no`` the effective
        noise variance (B, N), real.
    """

    def __init__(self, framer: OFDMFramer, *, interpolation: str = "linear", equalizer: str = "lmmse") -> None:
        if framer.num_pilot_symbols == 0:
            raise ValueError("channel estimation 'ls' needs pilots: the resource grid has none")
        grid = framer.grid
        self.framer = framer
        self.estimator = LSChannelEstimator(
            grid, interpolation_type=INTERPOLATIONS[interpolation], precision=grid.precision, device=grid.device
        )
        equalizer_cls = LMMSEEqualizer if equalizer == "lmmse" else ZFEqualizer
        streams = StreamManagement(np.ones((1, 1), dtype=int), 1)
        self.equalizer = equalizer_cls(grid, streams, precision=grid.precision, device=grid.device)
        #: (num_ofdm_symbols, num_effective_subcarriers): estimation error variance per RE / ``no``.
        self.error_gain = self._interpolation_error_gain()

    def _interpolation_error_gain(self) -> torch.Tensor:
        """(num_ofdm_symbols, num_effective_subcarriers): LS estimation error variance per RE / ``no``.

        The estimate at an RE is a weighted sum ``sum_k w_k h_k`` of the LS estimates at the
        pilots, whose errors are independent with variance ``no`` (unit-modulus pilots), so its
        error variance is ``no * sum_k |w_k|^2``. Sionna's interpolators pass the error variances
        through the same weights (``no * sum_k w_k``), which overstates it between pilots and with
        time averaging, and understates it where linear interpolation extrapolates.

        The weights come from interpolating probes: LS estimates of 1 on one pilot OFDM symbol and
        0 elsewhere. One probe per pilot symbol suffices because every effective subcarrier of a
        pilot symbol is a pilot, so the interpolation never mixes subcarriers.
        """
        framer = self.framer
        pilot_index = framer.pilot_index
        pilots = framer.grid.pilot_pattern.pilots.reshape(-1)
        symbol_of_pilot = pilot_index // framer.grid_shape[1]
        symbols = torch.unique(symbol_of_pilot)
        probes = pilots.new_zeros(len(symbols), framer.res_per_slot)
        for row, symbol in enumerate(symbols):
            on = symbol_of_pilot == symbol
            probes[row, pilot_index[on]] = pilots[on]
        no = torch.ones((), dtype=pilots.real.dtype, device=probes.device)
        weights, _ = self.estimator(probes.reshape(len(symbols), 1, 1, *framer.grid_shape), no)
        return weights[:, 0, 0, 0, 0].abs().square().sum(dim=0)

    def __call__(self, received: ChannelOutput, *, length: int) -> ChannelOutput:
        framer = self.framer
        batch = received.y.shape[0]
        no = received.no
        if no.dim() == 1:
            no = no[:, None]
        if no.dim() == 2 and no.shape[1] > 1:
            if not bool((no == no[:, :1]).all()):
                raise ValueError("channel estimation 'ls' needs one noise variance per row (scalar, (B,) or (B, 1))")
            no = no[:, :1]
        grids = framer.grids(received.y)
        num_slots = grids.shape[0]
        slots_per_row = num_slots // max(batch, 1)
        no_slots = no.repeat_interleave(slots_per_row, dim=0) if no.dim() == 2 else no  # (num_slots, 1) or ()
        x_hat = grids.new_empty(num_slots, framer.num_data_symbols)
        no_eff = torch.empty(x_hat.shape, dtype=no.dtype, device=x_hat.device)
        step = max(1, _RES_PER_CHUNK // framer.res_per_slot)
        for start in range(0, num_slots, step):
            part = slice(start, min(start + step, num_slots))
            no_part = no_slots[part].reshape(-1) if no_slots.dim() else no_slots  # () or (count,)
            x_hat[part], no_eff[part] = self.estimate_and_equalize(grids[part], no_part)
        x_hat = x_hat.reshape(batch, -1)[:, :length]
        return ChannelOutput(y=x_hat, h=torch.ones_like(x_hat), no=no_eff.reshape(batch, -1)[:, :length])

    def estimate_and_equalize(self, y: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LS estimation on the pilots, interpolation, then Sionna OFDM equalisation of some slots.

        The equaliser is given the exact error variance of the interpolated LS estimates,
        ``no * error_gain`` (see :meth:`_interpolation_error_gain`), not Sionna's ``err_var``.

        Input: ``y`` (S, num_ofdm_symbols, fft_size) received grids; ``no`` real, () or (S,).
        Output: ``x_hat`` (S, num_data_symbols) complex and ``no_eff`` (S, num_data_symbols) real.
        """
        # Sionna's LMMSE equaliser whitens with no^(-1/2): no = 0 would give NaN. A floor of eps^4
        # (2e-28 in float32) changes nothing measurable and keeps the whitened channel finite.
        no = no.clamp_min(torch.finfo(no.dtype).eps ** 4)
        y = y[:, None, None]
        h_hat, _ = self.estimator(y, no)
        err_var = (no.reshape(-1, 1, 1, 1, 1, 1, 1) if no.dim() else no) * self.error_gain
        x_hat, no_eff = self.equalizer(y, h_hat, err_var, no)
        # LMMSE computes no_eff = 1/d - 1, which float32 cancellation can push a few 1e-7 below 0.
        return x_hat[:, 0, 0], no_eff[:, 0, 0].clamp_min(0.0)


def build_receiver(settings: ReceiverSettings, framer: OFDMFramer) -> PerfectCSI | LSReceiver:
    """The receiver of ``settings`` (:class:`~simulation.link.config.ReceiverSettings`) for ``framer``."""
    if settings.channel_estimation == "ls":
        return LSReceiver(framer, interpolation=settings.interpolation or "linear", equalizer=settings.equalizer or "lmmse")
    return PerfectCSI(framer)

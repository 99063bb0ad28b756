"""The conformance kit's test bench: inputs, calls and the resolved-tolerance comparison.

:class:`_Setup` holds one model on one (device, dtype) with the kit's options; each check takes it
and returns its figures, or raises :class:`_Failed` with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from channels.base import ChannelModel, ChannelOutput


class _Failed(Exception):
    """A check's finding (becomes a failed :class:`CheckResult`)."""


@dataclass
class _Setup:
    model: ChannelModel
    device: torch.device
    dtype: torch.dtype
    shape: tuple[int, int]  # (B, N) of the statistical checks
    snr_db_values: tuple[float, ...]
    tolerance_db: float
    power_tolerance_db: float
    power_batch: int
    perfect_csi: bool
    seed: int
    z: float

    @property
    def small(self) -> tuple[int, int]:
        return min(self.shape[0], 8), min(self.shape[1], 256)

    @property
    def real_dtype(self) -> torch.dtype:
        return torch.empty((), dtype=self.dtype).real.dtype

    def symbols(self, shape: tuple[int, int], offset: int = 0) -> torch.Tensor:
        """Random unit-energy QPSK symbols (|x| = 1) from the kit's own generator."""
        g = torch.Generator().manual_seed(10_000 + self.seed + offset)
        bits = torch.randint(0, 2, (*shape, 2), generator=g).to(torch.float64)
        x = torch.complex(1 - 2 * bits[..., 0], 1 - 2 * bits[..., 1]) / math.sqrt(2)
        return x.to(device=self.device, dtype=self.dtype)

    def run(self, x: torch.Tensor, no: float | torch.Tensor, offset: int = 0) -> ChannelOutput:
        out = self.model(x.clone(), no=no, generator=torch.Generator().manual_seed(self.seed + offset))
        if not isinstance(out, ChannelOutput):
            raise _Failed(f"forward returned {type(out).__name__}, not channels.base.ChannelOutput")
        return out

    def noise(self, no: float | torch.Tensor, offset: int = 0) -> tuple[torch.Tensor, ChannelOutput, torch.Tensor]:
        """Residual ``y - h x`` (complex128, CPU), the output and ``x`` of one full-size call."""
        x = self.symbols(self.shape, offset)
        out = self.run(x, no, offset)
        return (out.y - out.h * x).to(torch.complex128).cpu(), out, x

    def within(self, what: str, row_values: torch.Tensor, target: float, tolerance_db: float | None = None) -> str:
        """Mean of ``row_values`` (one independent value per row) within ``tolerance_db`` (default
        ``self.tolerance_db``) of ``target`` and resolved; returns the figures or raises ``_Failed``."""
        tolerance_db = self.tolerance_db if tolerance_db is None else tolerance_db
        values = row_values.double().cpu()
        mean = float(values.mean())
        se = float(values.std()) / math.sqrt(len(values)) if len(values) > 1 else math.inf
        if not mean > 0:
            raise _Failed(f"{what} = {mean:.4g}, expected {target:.4g}")
        error_db, se_db = 10 * math.log10(mean / target), 10 / math.log(10) * se / mean
        figures = f"{what} = {mean:.4g}, target {target:.4g} ({error_db:+.3f} dB, standard error {se_db:.3f} dB)"
        if self.z * se_db > tolerance_db:
            raise _Failed(f"{figures}: too noisy to resolve {tolerance_db} dB, use more symbols or rows")
        if abs(error_db) > tolerance_db:
            raise _Failed(f"{figures}: off by more than {tolerance_db} dB")
        return figures

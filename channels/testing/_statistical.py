"""Statistical checks of the conformance kit: unit channel power, noise calibration and the
independence of rows (see :mod:`channels.testing`)."""

from __future__ import annotations

import math

import torch

from channels.testing._setup import _Failed, _Setup


def _check_unit_power(s: _Setup) -> str:
    if not s.perfect_csi:
        return "skipped: the true gain is not observable with perfect_csi=False"
    power = s.run(s.symbols((s.power_batch, s.shape[1])), 0.1).h.to(torch.complex128).abs().square()
    return s.within("E|h|^2", power.mean(dim=1), 1.0, s.power_tolerance_db)


def _check_noise_calibration(s: _Setup) -> str:
    figures = []
    for k, snr_db in enumerate(s.snr_db_values):
        no = 10 ** (-snr_db / 10)
        n, out, x = s.noise(no, offset=k)
        power = n.abs().square()
        reported = torch.broadcast_to(out.no.double().cpu(), n.shape)
        text = s.within(f"E[|y - h x|^2 / returned no] at {snr_db:g} dB", (power / reported).mean(dim=1), 1.0)
        if s.perfect_csi:
            signal = float((out.h * x).to(torch.complex128).abs().square().mean())
            text = s.within(f"noise power at {snr_db:g} dB", power.mean(dim=1), no)
            text += f", measured SNR {10 * math.log10(signal / float(power.mean())):.2f} dB"
        pseudo = n.square().mean(dim=1) / power.mean()
        spread = float((pseudo - pseudo.mean()).abs().square().mean().sqrt()) / math.sqrt(len(pseudo))
        if abs(complex(pseudo.mean())) > s.z * spread + 1e-12:
            raise _Failed(f"noise at {snr_db:g} dB is not circular: E[n^2] / E|n|^2 = {complex(pseudo.mean()):.3g}")
        figures.append(text)
    values = torch.tensor([10 ** (-v / 10) for v in s.snr_db_values], dtype=torch.float64)
    per_row = values[torch.arange(s.shape[0]) % len(values)]
    n, out, _ = s.noise(per_row.to(device=s.device, dtype=s.real_dtype), offset=len(values))
    target = per_row[:, None] if s.perfect_csi else torch.broadcast_to(out.no.double().cpu(), n.shape)
    s.within("noise power / no with one no per row", (n.abs().square() / target).mean(dim=1), 1.0)
    if s.perfect_csi:
        x = s.symbols(s.shape)
        out = s.run(x, 0.0)
        gap = float((out.y - out.h * x).abs().max())
        if gap > 100 * torch.finfo(s.real_dtype).eps * max(1.0, float(out.h.abs().max())):
            raise _Failed(f"at no = 0, y differs from h x by up to {gap:.3g} (an estimated h needs perfect_csi=False)")
    return "; ".join(figures) + "; one no per row ok"


def _row_correlation(values: torch.Tensor, mean: torch.Tensor | None) -> tuple[complex, float]:
    """Mean correlation coefficient of adjacent rows, and its standard error.

    ``mean`` (None: zero mean) is a column mean estimated from an independent call: it removes a
    deterministic mean (a line-of-sight gain) but not a random component common to the rows, and
    adds a known bias 1/(B+1). Without it, values are reduced to their phase ``z / |z|`` first, so
    that heavy tails (noise after equalisation) cannot dominate.
    """
    centred = values - mean if mean is not None else values / values.abs().clamp_min(1e-300)
    unit = centred / centred.abs().square().sum(dim=1, keepdim=True).sqrt().clamp_min(1e-300)
    c = (unit[1:] * unit[:-1].conj()).sum(dim=1)
    spread = float((c - c.mean()).abs().square().mean().sqrt()) / math.sqrt(len(c))
    return complex(c.mean()) - (1 / (len(values) + 1) if mean is not None else 0.0), spread


def _check_independence(s: _Setup) -> str:
    if s.shape[0] < 8:
        raise _Failed("needs batch >= 8 to measure correlation across rows")
    n, out, _ = s.noise(1.0)
    quantities: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {"noise": (n, None)}
    if bool((out.h != out.h.reshape(-1)[0]).any()):  # a random (not constant) gain
        h = out.h.to(torch.complex128).cpu()
        h_other = s.noise(1.0, offset=1)[1].h.to(torch.complex128).cpu()
        quantities["h"] = (h, h_other.mean(dim=0, keepdim=True))
        quantities["|h|^2"] = (h.abs().square().to(torch.complex128),
                               h_other.abs().square().mean(dim=0, keepdim=True).to(torch.complex128))
    figures = []
    for name, (values, mean) in quantities.items():
        if len(torch.unique(torch.view_as_real(values).reshape(len(values), -1), dim=0)) < len(values):
            raise _Failed(f"some rows of {name} are identical")
        corr, spread = _row_correlation(values, mean)
        if abs(corr) > s.z * spread:
            raise _Failed(f"adjacent rows of {name} are correlated: {abs(corr):.3f} (standard error {spread:.3f})")
        figures.append(f"{name} {abs(corr):.3f}")
    return "row correlation " + ", ".join(figures)

"""Plots of a ``simulate`` run (matplotlib, Agg, no display needed), written to ``OUT/plots/``.

- ``miou_vs_snr.png``: mIoU against the ground truth versus SNR, one curve per codec / channel /
  other swept setting, with its 95 % band and a dashed horizontal line at the codec's clean-channel
  mIoU (same colour);
- ``miou_vs_payload.png``: mIoU versus payload (kB per image), one curve per SNR and setting through
  the codecs' payloads, each point with its 95 % error bar (a curve whose codecs share a payload is
  drawn as points only, no line), the clean-channel values dashed. When every point has the same payload (one
  codec, or codecs at one rate) the plot would show a single x: it is not drawn, and a note says so;
- ``ber_vs_snr.png``: raw (before decoding, dashed) and decoded (solid) bit error rates, log scale;
- ``packet_loss_vs_snr.png``: packet loss rate, log scale (dashed: packets lost or delivered
  wrong, drawn where they differ, i.e. without a CRC).

Zero rates cannot be drawn on a log axis; they are left out of those curves. Every curve of a plot
has its own colour and marker, for any number of curves (:mod:`simulation.plot_styles`).

Example
-------
>>> write_plots(rows, Path("runs/simulate/x/plots"), swept_paths=["snr_db", "link.modulation"])  # doctest: +SKIP
[PosixPath('runs/simulate/x/plots/miou_vs_snr.png'), ...]
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

from matplotlib.figure import Figure

from simulation.plot_styles import curve_styles
from simulation.sweep import format_value

__all__ = ["write_plots"]

SNR = "snr_db"


def _label(values: dict[str, Any]) -> str:
    parts = []
    for name, value in values.items():
        parts.append(str(value) if name in ("codec", "channel") else f"{name.split('.')[-1]}={format_value(value)}")
    return " | ".join(parts)


def _groups(rows: Sequence[dict[str, Any]], by: Sequence[str]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[name] for name in by)].append(row)
    return dict(groups)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _new_axes(title: str, xlabel: str, ylabel: str):
    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3, which="both")
    return figure, axes


def _finish(figure: Figure, axes, path: Path, *, legend: bool = True) -> Path:
    entries = len(axes.get_legend_handles_labels()[0]) if legend else 0
    if 0 < entries <= 12:
        axes.legend(fontsize="small", loc="best")
    elif entries > 12:  # many curves: beside the axes, in columns of at most 24, so none hides the data
        figure.set_figwidth(7.5 + 3.2 * math.ceil(entries / 24))
        axes.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), ncols=math.ceil(entries / 24))
    figure.savefig(path, dpi=120)
    return path


def write_plots(
    rows: Sequence[dict[str, Any]],
    folder: Path,
    *,
    swept_paths: Sequence[str],
    snr_label: str = "SNR (dB)",
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Draw the plots of the module docstring from result rows; returns the files written.

    ``log`` receives a one-line note for each plot left out (default: printed with the run's output).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not rows:
        return []
    others = [p for p in swept_paths if p != SNR and p != "channel.model"]
    curve_by = ["codec", "channel", *others]
    curves = sorted(_groups(rows, curve_by).items(), key=lambda item: _order(item[0]))
    styles = curve_styles(len(curves))
    written = []

    figure, axes = _new_axes("Task quality over the channel", snr_label, "mIoU vs ground truth")
    for style, (key, group) in zip(styles, curves):
        group = sorted(group, key=lambda r: r[SNR])
        snr = [r[SNR] for r in group]
        axes.plot(snr, [r["miou_gt"] for r in group], "-", marker=style.marker, color=style.color,
                  label=_label(dict(zip(curve_by, key))))
        low = [r["miou_gt_ci_low"] for r in group]
        high = [r["miou_gt_ci_high"] for r in group]
        if all(_finite(v) for v in low + high):
            axes.fill_between(snr, low, high, color=style.color, alpha=0.15, linewidth=0)
        if _finite(group[0]["miou_gt_clean"]):
            axes.axhline(group[0]["miou_gt_clean"], color=style.color, linestyle="--", linewidth=1)
    axes.plot([], [], "k--", linewidth=1, label="clean channel")
    written.append(_finish(figure, axes, folder / "miou_vs_snr.png"))

    payload = _miou_vs_payload(rows, folder / "miou_vs_payload.png", others=others, log=log)
    written += [payload] if payload is not None else []

    figure, axes = _new_axes("Bit error rate (solid: decoded, dashed: raw)", snr_label, "BER")
    axes.set_yscale("log")
    for style, (key, group) in zip(styles, curves):
        group = sorted(group, key=lambda r: r[SNR])
        for column, linestyle, suffix in (("ber", "-", ""), ("raw_ber", "--", " (raw)")):
            points = [(r[SNR], r[column]) for r in group if _finite(r[column]) and r[column] > 0]
            if points:
                axes.plot(*zip(*points), linestyle, marker=style.marker, fillstyle="full" if not suffix else "none",
                          color=style.color, label=_label(dict(zip(curve_by, key))) + suffix)
    written.append(_finish(figure, axes, folder / "ber_vs_snr.png"))

    figure, axes = _new_axes("Packet loss (solid; dashed: lost or delivered wrong)", snr_label, "packet loss rate")
    axes.set_yscale("log")
    for style, (key, group) in zip(styles, curves):
        group = sorted(group, key=lambda r: r[SNR])
        label = _label(dict(zip(curve_by, key)))
        for column, linestyle, suffix in (("packet_loss_rate", "-", ""), ("packet_error_rate", "--", " (errors)")):
            if column == "packet_error_rate" and all(r[column] == r["packet_loss_rate"] for r in group):
                continue  # with a CRC every damaged packet is lost: the same curve
            points = [(r[SNR], r[column]) for r in group if _finite(r[column]) and r[column] > 0]
            if points:
                axes.plot(*zip(*points), linestyle, marker=style.marker, fillstyle="full" if not suffix else "none",
                          color=style.color, label=label + suffix)
    written.append(_finish(figure, axes, folder / "packet_loss_vs_snr.png"))
    return written


def _miou_vs_payload(rows: Sequence[dict[str, Any]], path: Path, *, others: Sequence[str],
                     log: Callable[[str], None]) -> Path | None:
    """mIoU against payload, a curve per SNR and setting through the codecs' payloads; ``None``
    (and a note to ``log``) when every point has the same payload, which leaves no x axis to draw."""
    payloads = sorted({round(r["payload_bytes"], 3) for r in rows})
    if len(payloads) < 2:
        log(f"plots: {path.name} not drawn: every point has the same payload ({payloads[0] / 1e3:.3g} kB per image), "
            "so mIoU against payload is a single x; see miou_vs_snr.png")
        path.unlink(missing_ok=True)  # a plot of an earlier session in this folder would no longer match
        return None
    payload_by = [SNR, "channel", *others]
    groups = sorted(_groups(rows, payload_by).items(), key=lambda item: _order(item[0]))
    figure, axes = _new_axes("Task quality against payload (bars: 95% CI)", "payload per image (kB)", "mIoU vs ground truth")
    for style, (key, group) in zip(curve_styles(len(groups)), groups):
        group = sorted(group, key=lambda r: r["payload_bytes"])
        x = [r["payload_bytes"] / 1e3 for r in group]
        y = [r["miou_gt"] for r in group]
        bounds = [(r["miou_gt_ci_low"], r["miou_gt_ci_high"]) for r in group]
        yerr = None
        if all(_finite(low) and _finite(high) for low, high in bounds):
            yerr = [[max(0.0, m - low) for m, (low, _) in zip(y, bounds)], [max(0.0, high - m) for m, (_, high) in zip(y, bounds)]]
        line = "-" if _one_point_per_x(group) else "none"  # one payload, or codecs sharing one: points only
        axes.errorbar(x, y, yerr=yerr, linestyle=line, marker=style.marker, color=style.color, capsize=3,
                      label=_label({f"{SNR}": f"{format_value(key[0])} dB", **dict(zip(payload_by[1:], key[1:]))}))
    clean = sorted({(r["payload_bytes"], r["miou_gt_clean"]) for r in rows})
    line = "--" if _one_point_per_x([{"payload_bytes": p} for p, _ in clean]) else "none"
    axes.plot([p / 1e3 for p, _ in clean], [m for _, m in clean], linestyle=line, color="k", marker="s", label="clean channel")
    return _finish(figure, axes, path)


def _one_point_per_x(group: Sequence[dict[str, Any]]) -> bool:
    """Whether a payload curve has several points, all at different payloads (a line then makes sense)."""
    payloads = [round(r["payload_bytes"], 3) for r in group]
    return len(payloads) > 1 and len(set(payloads)) == len(payloads)


def _order(key: tuple) -> list[tuple[int, Any]]:
    """Sort key of a curve: numbers by value (2 dB before 10 dB), anything else by its text."""
    return [(0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else (1, 0, str(v))
            for v in key]

"""Plots of a ``simulate`` run (matplotlib, Agg, no display needed), written to ``OUT/plots/``.

- ``miou_vs_snr.png``: mIoU against the ground truth versus SNR, one curve per codec / channel /
  other swept setting, with its 95 % band and a dashed horizontal line at the codec's clean-channel
  mIoU (same colour);
- ``miou_vs_payload.png``: mIoU versus payload (kB per image), one curve per SNR and setting, the
  clean-channel values dashed;
- ``ber_vs_snr.png``: raw (before decoding, dashed) and decoded (solid) bit error rates, log scale;
- ``packet_loss_vs_snr.png``: packet loss rate, log scale (dashed: packets lost or delivered
  wrong, drawn where they differ, i.e. without a CRC).

Zero rates cannot be drawn on a log axis; they are left out of those curves.

Example
-------
>>> write_plots(rows, Path("runs/simulate/x/plots"), swept_paths=["snr_db", "link.modulation"])  # doctest: +SKIP
[PosixPath('runs/simulate/x/plots/miou_vs_snr.png'), ...]
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from matplotlib.figure import Figure

__all__ = ["write_plots"]

SNR = "snr_db"


def _label(values: dict[str, Any]) -> str:
    parts = []
    for name, value in values.items():
        parts.append(str(value) if name in ("codec", "channel") else f"{name.split('.')[-1]}={value}")
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
    if legend and axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small", loc="best")
    figure.savefig(path, dpi=120)
    return path


def write_plots(
    rows: Sequence[dict[str, Any]], folder: Path, *, swept_paths: Sequence[str], snr_label: str = "SNR (dB)"
) -> list[Path]:
    """Draw the four plots of the module docstring from result rows; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not rows:
        return []
    others = [p for p in swept_paths if p != SNR and p != "channel.model"]
    curve_by = ["codec", "channel", *others]
    curves = sorted(_groups(rows, curve_by).items(), key=lambda item: [str(v) for v in item[0]])
    colors = [f"C{i % 10}" for i in range(len(curves))]
    written = []

    figure, axes = _new_axes("Task quality over the channel", snr_label, "mIoU vs ground truth")
    for color, (key, group) in zip(colors, curves):
        group = sorted(group, key=lambda r: r[SNR])
        snr = [r[SNR] for r in group]
        axes.plot(snr, [r["miou_gt"] for r in group], "o-", color=color, label=_label(dict(zip(curve_by, key))))
        low = [r["miou_gt_ci_low"] for r in group]
        high = [r["miou_gt_ci_high"] for r in group]
        if all(_finite(v) for v in low + high):
            axes.fill_between(snr, low, high, color=color, alpha=0.15, linewidth=0)
        if _finite(group[0]["miou_gt_clean"]):
            axes.axhline(group[0]["miou_gt_clean"], color=color, linestyle="--", linewidth=1)
    axes.plot([], [], "k--", linewidth=1, label="clean channel")
    written.append(_finish(figure, axes, folder / "miou_vs_snr.png"))

    payload_by = [SNR, "channel", *others]
    figure, axes = _new_axes("Task quality against payload", "payload per image (kB)", "mIoU vs ground truth")
    for i, (key, group) in enumerate(sorted(_groups(rows, payload_by).items(), key=lambda item: [str(v) for v in item[0]])):
        group = sorted(group, key=lambda r: r["payload_bytes"])
        axes.plot([r["payload_bytes"] / 1e3 for r in group], [r["miou_gt"] for r in group], "o-",
                  color=f"C{i % 10}", label=_label({f"{SNR}": f"{key[0]} dB", **dict(zip(payload_by[1:], key[1:]))}))
    clean = sorted({(r["payload_bytes"], r["miou_gt_clean"]) for r in rows})
    axes.plot([p / 1e3 for p, _ in clean], [m for _, m in clean], "k--", marker="s", label="clean channel")
    written.append(_finish(figure, axes, folder / "miou_vs_payload.png"))

    figure, axes = _new_axes("Bit error rate (solid: decoded, dashed: raw)", snr_label, "BER")
    axes.set_yscale("log")
    for color, (key, group) in zip(colors, curves):
        group = sorted(group, key=lambda r: r[SNR])
        for column, style, suffix in (("ber", "o-", ""), ("raw_ber", "x--", " (raw)")):
            points = [(r[SNR], r[column]) for r in group if _finite(r[column]) and r[column] > 0]
            if points:
                axes.plot(*zip(*points), style, color=color, label=_label(dict(zip(curve_by, key))) + suffix)
    written.append(_finish(figure, axes, folder / "ber_vs_snr.png"))

    figure, axes = _new_axes("Packet loss (solid; dashed: lost or delivered wrong)", snr_label, "packet loss rate")
    axes.set_yscale("log")
    for color, (key, group) in zip(colors, curves):
        group = sorted(group, key=lambda r: r[SNR])
        label = _label(dict(zip(curve_by, key)))
        for column, style, suffix in (("packet_loss_rate", "o-", ""), ("packet_error_rate", "x--", " (errors)")):
            if column == "packet_error_rate" and all(r[column] == r["packet_loss_rate"] for r in group):
                continue  # with a CRC every damaged packet is lost: the same curve
            points = [(r[SNR], r[column]) for r in group if _finite(r[column]) and r[column] > 0]
            if points:
                axes.plot(*zip(*points), style, color=color, label=label + suffix)
    written.append(_finish(figure, axes, folder / "packet_loss_vs_snr.png"))
    return written
